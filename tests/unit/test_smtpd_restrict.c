/*
 * test_smtpd_restrict.c - unit tests of smtpd_restrict.c (the names of smtpd's restrictions)
 *
 * The table is the one list of names: every entry must be found by its name in any case and
 * sit at its own id (smtpd indexes its handlers by id), only the check_*_access ones take a
 * table, and the config check (cfg_validate) must accept exactly these names.
 */
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "cfg_validate.h"
#include "smtpd_restrict.h"
#include "str.h"
#include "unit.h"

static void test_table(void **state)
{
    (void)state;
    for (int id = 0; id < SR_COUNT; id++) {
        const char *name = smtpd_restrict_name(id);
        const struct smtpd_restrict *sr = smtpd_restrict_find(name);
        assert_non_null(sr);
        assert_int_equal(sr->id, id);
        assert_string_equal(sr->name, name);
        /* a table argument exactly for check_*_access */
        assert_int_equal((sr->flags & SR_TAKES_TABLE) != 0, strncmp(name, "check_", 6) == 0);
    }
    assert_int_equal(smtpd_restrict_find("Reject_Unauth_Destination")->id,
                     SR_REJECT_UNAUTH_DESTINATION);
    assert_int_equal(smtpd_restrict_find("PERMIT")->id, SR_PERMIT);
    assert_null(smtpd_restrict_find("check_policy_service"));
    assert_null(smtpd_restrict_find("permit_"));
    assert_null(smtpd_restrict_find(""));
    assert_string_equal(cfg_name(smtpd_restrict_lists[SR_LIST_CLIENT]),
                        "smtpd_client_restrictions");
    assert_string_equal(cfg_name(smtpd_restrict_lists[SR_LIST_RECIPIENT]),
                        "smtpd_recipient_restrictions");
}

/* validate - errors of main.cf text */
static int validate(const char *text)
{
    struct cfg *c = cfg_new("/etc/petrel");
    struct cfg_diag d;
    int errors;

    cfg_diag_init(&d);
    cfg_load_text(c, text, strlen(text), &d);
    errors = cfg_validate(c, &d);
    cfg_diag_free(&d);
    cfg_free(c);
    return errors;
}

/* every name smtpd evaluates passes the config check, in every list; nothing else does */
static void test_validation_uses_the_table(void **state)
{
    struct str text = STR_INIT;

    (void)state;
    for (int l = 0; l < SR_LIST_COUNT; l++) {
        for (int id = 0; id < SR_COUNT; id++) {
            const struct smtpd_restrict *sr = smtpd_restrict_find(smtpd_restrict_name(id));
            str_reset(&text);
            str_printf(&text, "%s = %s%s\n", cfg_name(smtpd_restrict_lists[l]), sr->name,
                       (sr->flags & SR_TAKES_TABLE) ? " static:OK" : "");
            if (validate(text.s) != 0)
                fail_msg("refused: %s", text.s);
        }
        str_reset(&text);
        str_printf(&text, "%s = permit_mynetworks, reject_everything\n",
                   cfg_name(smtpd_restrict_lists[l]));
        assert_int_equal(validate(text.s), 1);
    }
    str_free(&text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_validation_uses_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
