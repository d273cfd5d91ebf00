/*
 * test_cfg_validate.c - unit tests of cfg_validate.c (what a daemon would die on)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "cfg_validate.h"
#include "mcf.h"
#include "mem.h"
#include "unit.h"

/* validate - errors of main.cf text; the diagnostic lines go to d */
static int validate(const char *text, struct cfg_diag *d)
{
    struct cfg *c = cfg_new("/etc/petrel");
    int errors;

    cfg_diag_init(d);
    cfg_load_text(c, text, strlen(text), d);
    errors = cfg_validate(c, d);
    cfg_free(c);
    return errors;
}

static int has_line(const struct cfg_diag *d, const char *text)
{
    for (size_t i = 0; i < d->lines.n; i++)
        if (strstr(d->lines.v[i], text))
            return 1;
    return 0;
}

static const struct {
    const char *text;
    const char *error; /* NULL: valid */
} cases[] = {
    {"alias_maps = hash:/etc/aliases, static:x, inline:{a=b}, regexp:/x, unix:passwd.byname\n",
     NULL},
    {"alias_maps = mysql:/etc/petrel/a.cf\n",
     "/etc/petrel/main.cf:1: alias_maps: unsupported table type in 'mysql:/etc/petrel/a.cf'"},
    {"# c\nvirtual_mailbox_maps =\n  proxy:hash:/x\n",
     "main.cf:2: virtual_mailbox_maps: unsupported table type in 'proxy:hash:/x'"},
    {"transport_maps = nocolon\n", "transport_maps: bad table 'nocolon'"},
    {"mynetworks = 127.0.0.0/8 [::1]/128 ::1 192.0.2.1 hash:/etc/nets\n", NULL},
    {"mynetworks = cidr:/etc/nets\n", "mynetworks: unsupported table type in 'cidr:/etc/nets'"},
    {"mynetworks = 10.0.0.0/33\n", "mynetworks: bad network '10.0.0.0/33'"},
    {"mynetworks = localhost\n", "mynetworks: bad network 'localhost'"},
    {"smtpd_recipient_restrictions = permit_mynetworks, Reject_Unauth_Destination\n", NULL},
    {"smtpd_recipient_restrictions = permit_mynetworks, check_policy_service unix:x\n",
     "smtpd_recipient_restrictions: unknown restriction 'check_policy_service'"},
    {"smtpd_client_restrictions = check_client_access cidr:/etc/c\n",
     "smtpd_client_restrictions: unsupported table type in 'cidr:/etc/c'"},
    {"smtpd_helo_restrictions = check_helo_access\n",
     "smtpd_helo_restrictions: check_helo_access needs a table argument"},
    {"smtpd_milters = inet:127.0.0.1:8891\n", "smtpd_milters: not supported yet"},
    {"non_smtpd_milters = $smtpd_milters\nsmtpd_milters = inet:x:1\n",
     "main.cf:1: non_smtpd_milters: not supported yet"},
    {"content_filter = amavis:[127.0.0.1]:10024\n", "content_filter: not supported yet"},
    {"header_checks = regexp:/etc/petrel/header_checks\n", "header_checks: not supported yet"},
    {"smtpd_milters =\ncontent_filter =\n", NULL},
    {"smtpd_tls_security_level = dane\n", "smtpd_tls_security_level: unknown value 'dane'"},
    {"smtpd_tls_security_level = MAY\n", NULL},
    {"smtpd_forbid_bare_newline = maybe\n", "smtpd_forbid_bare_newline: unknown value"},
    {"imapd_tls_wrappermode = yes\n", "imapd_tls_wrappermode: yes needs imapd_tls_cert_file"},
    {"popd_tls_wrappermode = yes\npopd_tls_cert_file = /etc/cert.pem\n", NULL},
};

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cfg_diag d;
        int errors = validate(cases[i].text, &d);
        if (cases[i].error == NULL) {
            if (errors != 0)
                fail_msg("case %zu: unexpected %s", i, d.lines.n ? d.lines.v[0] : "?");
        } else if (errors == 0 || !has_line(&d, cases[i].error)) {
            fail_msg("case %zu: no error '%s' (%d errors)", i, cases[i].error, errors);
        }
        cfg_diag_free(&d);
    }
}

/* -o overrides are checked per service and reported at their master.cf line, once */
static void test_services(void **state)
{
    const char *main_cf = "smtpd_milters = inet:x:1\n";
    const char *master_cf = "smtp inet n - n - - smtpd\n"
                            "submission inet n - n - - smtpd\n"
                            "  -o content_filter=\n"
                            "  -o smtpd_client_restrictions=bogus\n"
                            "relay unix - - n - - smtp -o transport_maps=ldap:/x\n"
                            "995 inet n n n - - popd -o popd_tls_wrappermode=yes\n"
                            "2525 inet n - n - - smtpd -o popd_tls_wrappermode=yes\n";
    struct cfg *c = cfg_new("/etc/petrel");
    struct cfg_diag d;
    struct mcf m;

    (void)state;
    cfg_diag_init(&d);
    cfg_load_text(c, main_cf, strlen(main_cf), &d);
    mcf_init(&m);
    mcf_parse_text(master_cf, "/etc/petrel/master.cf", &m, &d);
    assert_int_equal(d.errors, 0);
    assert_int_equal(cfg_validate_services(c, &m, &d), 3);
    /* a program-specific check only for that program's services */
    assert_true(has_line(&d, "/etc/petrel/master.cf:6: popd_tls_wrappermode: yes needs"));
    assert_false(has_line(&d, "master.cf:7:"));
    assert_true(has_line(&d, "/etc/petrel/master.cf:2: smtpd_client_restrictions: unknown "
                             "restriction 'bogus'"));
    assert_true(has_line(&d, "/etc/petrel/master.cf:5: transport_maps: unsupported table type"));
    /* main.cf's own problem is not repeated for each service */
    assert_false(has_line(&d, "smtpd_milters"));
    mcf_free(&m);
    cfg_diag_free(&d);
    cfg_free(c);
}

/* the text a cfg was loaded from is kept, byte for byte (master hands it to children) */
static void test_text_kept(void **state)
{
    const char *text = "# x\nmax_use = 7\n";
    struct cfg *c = cfg_new("/etc/petrel");
    struct cfg_diag d;
    size_t len;

    (void)state;
    cfg_diag_init(&d);
    cfg_load_text(c, text, strlen(text), &d);
    assert_string_equal(cfg_text(c, &len), text);
    assert_int_equal(len, strlen(text));
    assert_int_equal(cfg_int(c, P_max_use), 7);
    cfg_diag_free(&d);
    cfg_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_services),
        cmocka_unit_test(test_text_kept),
    };
    return cmocka_run_group_tests_name("cfg_validate", tests, NULL, NULL);
}
