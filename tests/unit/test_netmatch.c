/*
 * test_netmatch.c - unit tests of netmatch.c
 */
#include <stdlib.h>

#include "cfg.h"
#include "netmatch.h"
#include "unit.h"

static void test_patterns(void **state)
{
    static const struct {
        const char *pattern, *addr;
        int want;
    } t[] = {
        {"127.0.0.0/8", "127.0.0.1", 1},
        {"127.0.0.0/8", "128.0.0.1", 0},
        {"192.0.2.1", "192.0.2.1", 1},
        {"192.0.2.1", "192.0.2.2", 0},
        {"192.0.2.0/25", "192.0.2.127", 1},
        {"192.0.2.0/25", "192.0.2.128", 0},
        {"0.0.0.0/0", "203.0.113.9", 1},
        {"0.0.0.0/0", "::1", 0},
        {"[::1]/128", "::1", 1},
        {"[::1]/128", "::2", 0},
        {"::1", "::1", 1},
        {"2001:db8::/32", "2001:db8:ffff::1", 1},
        {"2001:db8::/32", "2001:db9::1", 0},
        {"[2001:db8::]/33", "2001:db8:8000::1", 0},
        {"127.0.0.0/8", "::ffff:127.0.0.1", 1},
        {"127.0.0.0/8", "garbage", 0},
        {"127.0.0.0/33", "127.0.0.1", -1},
        {"127.0.0.0/x", "127.0.0.1", -1},
        {"mail.example.com", "127.0.0.1", -1},
        {"hash:/etc/x", "127.0.0.1", -1},
        {"[::1]/129", "::1", -1},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (netmatch(t[i].pattern, t[i].addr) != t[i].want)
            fail_msg("netmatch(%s, %s) != %d", t[i].pattern, t[i].addr, t[i].want);
    }
}

static void test_param(void **state)
{
    struct cfg_diag d;
    struct str err = STR_INIT;

    cfg_main = cfg_new("/nonexistent");
    cfg_diag_init(&d);
    cfg_parse_text(cfg_main, "mynetworks = 10.0.0.0/8, [::1]/128 192.0.2.7\n", "main.cf", &d);
    assert_true(netmatch_param(P_mynetworks, "10.1.2.3"));
    assert_true(netmatch_param(P_mynetworks, "::1"));
    assert_true(netmatch_param(P_mynetworks, "192.0.2.7"));
    assert_false(netmatch_param(P_mynetworks, "192.0.2.8"));
    assert_int_equal(netmatch_check(P_mynetworks, &err), 0);
    cfg_set(cfg_main, cfg_name(P_mynetworks), "10.0.0.0/8 host.example", "test");
    assert_int_equal(netmatch_check(P_mynetworks, &err), -1);
    str_free(&err);
    cfg_diag_free(&d);
    cfg_free(cfg_main);
    cfg_main = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_patterns),
                                       cmocka_unit_test(test_param)};
    return cmocka_run_group_tests_name("netmatch", tests, NULL, NULL);
}
