/*
 * test_mcf.c - unit tests of mcf.c (master.cf)
 */
#include <string.h>

#include "mcf.h"
#include "unit.h"

static int has_line(const struct cfg_diag *d, const char *text)
{
    for (size_t i = 0; i < d->lines.n; i++)
        if (strstr(d->lines.v[i], text))
            return 1;
    return 0;
}

static void test_mcf_good(void **state)
{
    struct mcf m;
    struct cfg_diag d;

    mcf_init(&m);
    cfg_diag_init(&d);
    mcf_parse_text("# service type private unpriv chroot wakeup maxproc command\n"
                   "smtp      inet  n       -       n       -       -       smtpd\n"
                   "submission inet n       -       -       -       -       smtpd\n"
                   "  -o syslog_name=petrel/submission\n"
                   "  -omax_use=5 -v\n"
                   "127.0.0.1:2525 inet n - n - 10 smtpd\n"
                   "[::1]:2526 inet n - n - 0 smtpd extra arg\n"
                   "qmgr      unix  n       -       n       300?    1       qmgr\n"
                   "local     unix  -       n       n       -       -       local\n",
                   "master.cf", &m, &d);
    assert_int_equal(d.errors, 0);
    assert_int_equal(m.n, 6);
    assert_int_equal(m.svc[0].type, MCF_INET);
    assert_int_equal(m.svc[0].port, 25);
    assert_null(m.svc[0].host);
    assert_int_equal(m.svc[0].maxproc, -1);
    assert_int_equal(m.svc[0].unpriv, 1);
    assert_int_equal(m.svc[1].port, 587);
    assert_int_equal(m.svc[1].opt_names.n, 2);
    assert_string_equal(m.svc[1].opt_values.v[0], "petrel/submission");
    assert_string_equal(m.svc[1].opt_names.v[1], "max_use");
    assert_int_equal(m.svc[1].verbose, 1);
    assert_int_equal(m.svc[1].line, 3);
    assert_string_equal(m.svc[2].host, "127.0.0.1");
    assert_int_equal(m.svc[2].port, 2525);
    assert_int_equal(m.svc[2].maxproc, 10);
    assert_string_equal(m.svc[3].host, "::1");
    assert_int_equal(m.svc[3].argv.n, 3);
    assert_int_equal(m.svc[4].wakeup, 300);
    assert_int_equal(m.svc[4].wakeup_if_used, 1);
    assert_int_equal(m.svc[4].private_, 0);
    assert_int_equal(m.svc[5].private_, 1);
    assert_int_equal(m.svc[5].unpriv, 0);
    assert_non_null(mcf_find(&m, "qmgr", MCF_UNIX));
    assert_null(mcf_find(&m, "qmgr", MCF_INET));
    mcf_free(&m);
    cfg_diag_free(&d);
}

static void test_mcf_errors(void **state)
{
    struct mcf m;
    struct cfg_diag d;

    mcf_init(&m);
    cfg_diag_init(&d);
    mcf_parse_text("smtp inet n - n - - smtpd\n"
                   "smtp inet n - n - - smtpd\n"
                   "short inet n -\n"
                   "x fifo n - n - - pickup\n"
                   "99999 inet n - n - - smtpd\n"
                   "y unix n maybe n - - y\n"
                   "z unix n - n - lots z\n"
                   "w unix n - n - - /bin/sh\n"
                   "v unix n - n - - v -o\n"
                   "u unix n - y - - u\n"
                   "2600 inet n - n 60 - t\n",
                   "master.cf", &m, &d);
    assert_int_equal(m.n, 1);
    assert_true(has_line(&d, "master.cf:2: duplicate service smtp/inet"));
    assert_true(has_line(&d, "master.cf:3: expected at least 8 fields"));
    assert_true(has_line(&d, "master.cf:4: unsupported service type 'fifo'"));
    assert_true(has_line(&d, "master.cf:5: bad inet service '99999'"));
    assert_true(has_line(&d, "master.cf:6: private, unpriv and chroot"));
    assert_true(has_line(&d, "master.cf:7: bad process limit"));
    assert_true(has_line(&d, "master.cf:8: command '/bin/sh' must be a program name"));
    assert_true(has_line(&d, "master.cf:9: -o without name=value"));
    assert_true(has_line(&d, "master.cf:10: chroot is not supported"));
    assert_true(has_line(&d, "master.cf:11: wakeup is only for unix services"));
    assert_int_equal(d.errors, 10);
    mcf_free(&m);
    cfg_diag_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_mcf_good),
                                       cmocka_unit_test(test_mcf_errors)};
    return cmocka_run_group_tests_name("mcf", tests, NULL, NULL);
}
