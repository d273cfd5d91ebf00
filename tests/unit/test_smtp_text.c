/*
 * test_smtp_text.c - unit tests of smtp_text.c (xtext)
 */
#include <stdlib.h>
#include <string.h>

#include "smtp_text.h"
#include "unit.h"

static void test_xtext(void **state)
{
    struct str out = STR_INIT;

    (void)state;
    /* RFC 3461 4 */
    assert_int_equal(smtp_xtext_decode("rfc822+3Bjoe+2Bsmith@example.com", &out), 0);
    assert_string_equal(out.s, "rfc822;joe+smith@example.com");
    str_reset(&out);
    assert_int_equal(smtp_xtext_decode("a+3d", &out), -1); /* upper-case hex only */
    str_reset(&out);
    assert_int_equal(smtp_xtext_decode("a+4", &out), -1);
    str_reset(&out);
    assert_int_equal(smtp_xtext_decode("a=b", &out), -1);
    str_reset(&out);
    assert_int_equal(smtp_xtext_decode("a b", &out), -1);
    str_reset(&out);
    smtp_xtext_encode("a+b=c d", 7, &out);
    assert_string_equal(out.s, "a+2Bb+3Dc+20d");
    str_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xtext),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
