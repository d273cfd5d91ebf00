/*
 * test_cidr.c - unit tests of cidr.c (network lists such as mynetworks)
 */
#include <string.h>

#include "cidr.h"
#include "unit.h"

static void test_match(void **state)
{
    static const struct {
        const char *net, *addr;
        int want;
    } cases[] = {
        {"127.0.0.0/8", "127.0.0.1", 1},     {"127.0.0.0/8", "128.0.0.1", 0},
        {"192.0.2.1", "192.0.2.1", 1},       {"192.0.2.1", "192.0.2.2", 0},
        {"192.0.2.0/25", "192.0.2.127", 1},  {"192.0.2.0/25", "192.0.2.128", 0},
        {"0.0.0.0/0", "203.0.113.9", 1},     {"[::1]/128", "::1", 1},
        {"[::1]", "::1", 1},                 {"2001:db8::/32", "2001:db8:ffff::1", 1},
        {"[2001:db8::]/33", "2001:db8:8000::1", 0}, {"::/0", "127.0.0.1", 0},
        {"127.0.0.0/8", "::ffff:127.0.0.1", 0}, {"127.0.0.0/8", "", 0},
        {"10.0.0.0/8", "not an address", 0},
        {"10.0.0.0/33", "10.0.0.1", -1},     {"10.0.0.0/", "10.0.0.1", -1},
        {"example.com", "10.0.0.1", -1},     {"[10.0.0.1", "10.0.0.1", -1},
        {"hash:/etc/x", "10.0.0.1", -1},     {"", "10.0.0.1", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (cidr_match(cases[i].net, cases[i].addr) != cases[i].want)
            fail_msg("case %zu: %s %s", i, cases[i].net, cases[i].addr);
}

static void test_lists(void **state)
{
    struct strlist l = STRLIST_INIT;
    struct str err = STR_INIT;

    strlist_add(&l, "127.0.0.0/8");
    strlist_add(&l, "[::1]/128");
    assert_int_equal(cidr_check(&l, &err), 0);
    assert_true(cidr_match_list(&l, "127.1.2.3"));
    assert_true(cidr_match_list(&l, "::1"));
    assert_false(cidr_match_list(&l, "192.0.2.1"));
    strlist_add(&l, "bogus");
    assert_int_equal(cidr_check(&l, &err), -1);
    assert_string_equal(str_c(&err), "not a network address: bogus");
    strlist_free(&l);
    str_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
