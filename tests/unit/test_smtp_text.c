/*
 * test_smtp_text.c - unit tests of smtp_text.c (xtext, quoting of local parts)
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

static void test_quote_local(void **state)
{
    static const char *cases[][2] = {
        {"john.doe", "john.doe"},
        {"John Doe", "\"John Doe\""},
        {"user@other", "\"user@other\""},
        {"a\"b", "\"a\\\"b\""},
        {"a\\b", "\"a\\\\b\""},
        {".lead", "\".lead\""},
        {"trail.", "\"trail.\""},
        {"two..dots", "\"two..dots\""},
        {"", "\"\""},
        {"j\xc3\xb6rg", "j\xc3\xb6rg"}, /* UTF-8 is atext under SMTPUTF8 */
        {"!#$%&'*+-/=?^_`{|}~", "!#$%&'*+-/=?^_`{|}~"},
    };
    struct str out = STR_INIT;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        str_reset(&out);
        smtp_quote_local(cases[i][0], &out);
        assert_string_equal(str_c(&out), cases[i][1]);
    }
    str_free(&out);
}

static void test_quote_addr(void **state)
{
    static const char *cases[][2] = {
        {"", ""},
        {"user@example.com", "user@example.com"},
        {"john doe@example.com", "\"john doe\"@example.com"},
        {"user@other@example.com", "\"user@other\"@example.com"}, /* last '@' splits */
        {"postmaster", "postmaster"},
    };
    struct str out = STR_INIT;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        str_reset(&out);
        smtp_quote_addr(cases[i][0], &out);
        assert_string_equal(str_c(&out), cases[i][1]);
    }
    str_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xtext),
        cmocka_unit_test(test_quote_local),
        cmocka_unit_test(test_quote_addr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
