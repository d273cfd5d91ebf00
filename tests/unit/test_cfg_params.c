/*
 * test_cfg_params.c - unit tests of the typed parameter ids (cfg_params.h, cfg_registry.c)
 *
 * The registry and the typed ids are expanded from the same params_*.def
 * tables; these tests check that they agree (every id names its own entry,
 * of its own type, in its own table), that the by-name registry calls and
 * the by-name getters see what the typed getters see (-o overrides, $name
 * expansion), and that a type mismatch of an id that was cast panics at run
 * time. That a misspelt or wrong-typed id does not compile is
 * scripts/check-typed-params.sh's job.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cfg.h"
#include "mem.h"
#include "unit.h"

/* test_registry_matches_ids - cfg_params[id] is the entry of that name, in table order */
static void test_registry_matches_ids(void **state)
{
    size_t named = 0, tables = 0;

    (void)state;
    for (int id = 0; id < CFG_ID_COUNT; id++) {
        if (cfg_params[id].name == NULL)
            continue;
        named++;
        assert_ptr_equal(cfg_find_param(cfg_params[id].name), &cfg_params[id]);
        assert_string_equal(cfg_name(id), cfg_params[id].name);
    }
    for (const struct cfg_table *t = cfg_tables; t->owner; t++) {
        size_t n = 0;
        for (const struct cfg_param *p = t->params; p->name; p++)
            n++;
        named -= n;
        tables++;
    }
    assert_int_equal(named, 0); /* every entry is in exactly one table */
    assert_int_equal(tables, 9);
    assert_string_equal(cfg_tables[0].owner, "common");
    assert_string_equal(cfg_tables[0].params[0].name, "config_directory");
    assert_string_equal(cfg_tables[2].owner, "smtpd");
}

/* test_typed_ids - each P_ constant is its entry, of the type of its enum */
static void test_typed_ids(void **state)
{
    (void)state;
    assert_string_equal(cfg_name(P_smtpd_timeout), "smtpd_timeout");
    assert_int_equal(cfg_params[P_smtpd_timeout].type, CFG_TIME);
    assert_int_equal(cfg_params[P_smtpd_banner].type, CFG_STR);
    assert_int_equal(cfg_params[P_smtpd_tls_auth_only].type, CFG_BOOL);
    assert_int_equal(cfg_params[P_smtpd_recipient_limit].type, CFG_INT);
    assert_int_equal(cfg_params[P_message_size_limit].type, CFG_SIZE);
    assert_int_equal(cfg_params[P_mynetworks].type, CFG_LIST);
    assert_string_equal(cfg_name(P_authorized_flush_users), "authorized_flush_users");
    assert_string_equal(cfg_params[P_smtpd_timeout].defval, "300s");
}

/* test_typed_and_by_name - the typed getters, the by-name getters and the registry
 * calls see one value: defaults, main.cf, -o overrides, $name expansion */
static void test_typed_and_by_name(void **state)
{
    struct cfg_diag d;
    struct cfg *c = cfg_new("/nonexistent");
    struct strlist a = STRLIST_INIT, b = STRLIST_INIT;

    (void)state;
    cfg_diag_init(&d);
    cfg_parse_text(c,
                   "myhostname = mx.example.org\n"
                   "smtpd_banner = $myhostname says hi\n"
                   "smtpd_timeout = 2m\n"
                   "mynetworks = 10.0.0.0/8, $myhostname\n",
                   "main.cf", &d);
    assert_int_equal(d.errors, 0);
    assert_int_equal(cfg_time(c, P_smtpd_timeout), 120);
    assert_int_equal(cfg_time_name(c, "smtpd_timeout"), 120);
    assert_string_equal(cfg_str(c, P_smtpd_banner), "mx.example.org says hi");
    assert_string_equal(cfg_str_name(c, "smtpd_banner"), "mx.example.org says hi");
    assert_string_equal(cfg_raw(c, cfg_name(P_smtpd_banner)), "$myhostname says hi");
    assert_true(cfg_is_set(c, cfg_name(P_smtpd_banner)));
    assert_false(cfg_is_set(c, cfg_name(P_smtpd_recipient_limit)));
    assert_int_equal(cfg_int(c, P_smtpd_recipient_limit), 1000);
    assert_int_equal(cfg_int_name(c, "smtpd_recipient_limit"), 1000);
    assert_int_equal(cfg_size(c, P_message_size_limit), cfg_size_name(c, "message_size_limit"));
    assert_int_equal(cfg_bool(c, P_smtpd_tls_auth_only), cfg_bool_name(c, "smtpd_tls_auth_only"));
    cfg_list(c, P_mynetworks, &a);
    cfg_list_name(c, "mynetworks", &b);
    assert_int_equal(a.n, 2);
    assert_int_equal(b.n, 2);
    assert_string_equal(a.v[1], "mx.example.org");
    assert_string_equal(b.v[1], "mx.example.org");
    assert_string_equal(cfg_value(c, P_smtpd_timeout), "2m");
    /* a master.cf -o override names the parameter at run time */
    const char *override = "smtpd_timeout";
    cfg_set(c, override, "7s", "master.cf:3");
    assert_int_equal(cfg_time(c, P_smtpd_timeout), 7);
    /* a name only set (no table declares it) is text by name */
    cfg_set(c, "my_custom_name", "x", "master.cf:4");
    assert_string_equal(cfg_str_name(c, "my_custom_name"), "x");
    strlist_free(&a);
    strlist_free(&b);
    cfg_free(c);
    cfg_diag_free(&d);
}

/* dies - whether f(c) ends the process with SIGABRT (log_panic) */
static int dies(void (*f)(struct cfg *), struct cfg *c)
{
    int status;
    pid_t pid = fork();

    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0)
            dup2(fd, 2);
        f(c);
        _exit(0);
    }
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void cast_wrong_type(struct cfg *c)
{
    (void)cfg_time(c, (enum cfg_time_param)P_smtpd_banner);
}

static void by_name_wrong_type(struct cfg *c)
{
    (void)cfg_time_name(c, "smtpd_banner");
}

static void by_name_unknown(struct cfg *c)
{
    (void)cfg_int_name(c, "no_such_parameter");
}

static void no_such_id(struct cfg *c)
{
    (void)c;
    (void)cfg_name(CFG_ID_END_common);
}

/* test_run_time_mismatch_panics - what the compiler cannot see is checked when it runs */
static void test_run_time_mismatch_panics(void **state)
{
    struct cfg *c = cfg_new("/nonexistent");

    (void)state;
    assert_true(dies(cast_wrong_type, c));
    assert_true(dies(by_name_wrong_type, c));
    assert_true(dies(by_name_unknown, c));
    assert_true(dies(no_such_id, c));
    cfg_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_matches_ids),
        cmocka_unit_test(test_typed_ids),
        cmocka_unit_test(test_typed_and_by_name),
        cmocka_unit_test(test_run_time_mismatch_panics),
    };
    return cmocka_run_group_tests_name("cfg_params", tests, NULL, NULL);
}
