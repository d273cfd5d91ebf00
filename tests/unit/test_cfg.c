/*
 * test_cfg.c - unit tests of cfg.c (main.cf parsing, expansion, types, editing)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "mem.h"
#include "unit.h"

static struct cfg *parse(const char *text, struct cfg_diag *d)
{
    struct cfg *c = cfg_new("/nonexistent");
    cfg_diag_init(d);
    cfg_parse_text(c, text, "main.cf", d);
    return c;
}

/* has_line - whether a diagnostic line contains text */
static int has_line(const struct cfg_diag *d, const char *text)
{
    for (size_t i = 0; i < d->lines.n; i++)
        if (strstr(d->lines.v[i], text))
            return 1;
    return 0;
}

static void test_parse_rules(void **state)
{
    struct cfg_diag d;
    struct cfg *c = parse("# comment\n"
                          "myhostname = mail.example.com\n"
                          "mydestination = a,\n"
                          "    b,\n"
                          "  # a comment inside does not break continuation\n"
                          "    c\n"
                          "\n"
                          "mail_name=Test   \n",
                          &d);
    assert_int_equal(d.errors, 0);
    assert_string_equal(cfg_str(c, P_myhostname), "mail.example.com");
    assert_string_equal(cfg_value(c, P_mydestination), "a, b, c");
    assert_string_equal(cfg_str(c, P_mail_name), "Test");
    struct strlist l = STRLIST_INIT;
    cfg_list(c, P_mydestination, &l);
    assert_int_equal(l.n, 3);
    strlist_free(&l);
    int line;
    assert_string_equal(cfg_origin(c, cfg_name(P_mail_name), &line), "main.cf");
    assert_int_equal(line, 8);
    cfg_free(c);
    cfg_diag_free(&d);
}

static void test_parse_errors(void **state)
{
    struct cfg_diag d;
    struct cfg *c = parse("  leading continuation\nno equals sign\nbad-name = x\n"
                          "mail_name = a\nmail_name = b\n",
                          &d);
    assert_int_equal(d.errors, 3);
    assert_true(has_line(&d, "main.cf:1: continuation line"));
    assert_true(has_line(&d, "main.cf:2: missing '='"));
    assert_true(has_line(&d, "main.cf:3: bad parameter name"));
    assert_true(has_line(&d, "main.cf:5: warning: mail_name: overriding earlier entry"));
    assert_string_equal(cfg_str(c, P_mail_name), "b");
    cfg_free(c);
    cfg_diag_free(&d);
}

static void test_expansion(void **state)
{
    struct cfg_diag d;
    struct cfg *c = parse("myhostname = host.example.org\n"
                          "mydomain = example.org\n"
                          "empty =\n"
                          "a = ${myhostname?yes}/${empty?no}/${empty:fallback}/${mydomain:x}\n"
                          "b = $(mydomain) $$literal $mydomain.\n"
                          "loop1 = $loop2\nloop2 = $loop1\n",
                          &d);
    struct str out = STR_INIT, err = STR_INIT;

    assert_string_equal(cfg_str(c, P_myorigin), "host.example.org");
    assert_string_equal(cfg_value(c, P_mydestination),
                        "host.example.org, localhost.example.org, localhost");
    assert_int_equal(cfg_expand(c, "$a", &out, &err), 0);
    assert_string_equal(str_c(&out), "yes//fallback/");
    str_reset(&out);
    assert_int_equal(cfg_expand(c, "$b", &out, &err), 0);
    assert_string_equal(str_c(&out), "example.org $literal example.org.");
    str_reset(&out);
    assert_int_equal(cfg_expand(c, "$loop1", &out, &err), -1);
    assert_non_null(strstr(str_c(&err), "recursion"));
    str_reset(&err);
    assert_int_equal(cfg_expand(c, "${unterminated", &out, &err), -1);
    str_reset(&err);
    assert_int_equal(cfg_expand(c, "cost $ 5", &out, &err), -1);
    str_free(&out);
    str_free(&err);
    cfg_free(c);
    cfg_diag_free(&d);
}

static void test_list_split(void **state)
{
    struct strlist l = STRLIST_INIT;

    cfg_split_list("a, b\tinline:{ x=1, y={2, 3} } ,c,, static:{one two}", &l);
    assert_int_equal(l.n, 5);
    assert_string_equal(l.v[2], "inline:{ x=1, y={2, 3} }");
    assert_string_equal(l.v[3], "c");
    assert_string_equal(l.v[4], "static:{one two}");
    strlist_free(&l);
}

static void test_types(void **state)
{
    long long v;
    int b;

    assert_int_equal(cfg_parse_time("90", 's', &v), 0);
    assert_int_equal(v, 90);
    assert_int_equal(cfg_parse_time("2", 'd', &v), 0);
    assert_int_equal(v, 2 * 86400);
    assert_int_equal(cfg_parse_time("3h", 'd', &v), 0);
    assert_int_equal(v, 3 * 3600);
    assert_int_equal(cfg_parse_time("1w", 's', &v), 0);
    assert_int_equal(v, 604800);
    assert_int_equal(cfg_parse_time("5x", 's', &v), -1);
    assert_int_equal(cfg_parse_time("5ss", 's', &v), -1);
    assert_int_equal(cfg_parse_time("", 's', &v), -1);
    assert_int_equal(cfg_parse_size("10m", &v), 0);
    assert_int_equal(v, 10 * 1024 * 1024);
    assert_int_equal(cfg_parse_size("123", &v), 0);
    assert_int_equal(v, 123);
    assert_int_equal(cfg_parse_size("-1", &v), -1);
    assert_int_equal(cfg_parse_bool("YES", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(cfg_parse_bool("maybe", &b), -1);
}

static void test_check_and_getters(void **state)
{
    struct cfg_diag d;
    struct cfg *c = parse("max_idle = 5m\nmax_use = 7\nmessage_size_limit = 2k\n"
                          "unknown_thing = 1\n",
                          &d);
    assert_int_equal(cfg_check(c, &d), 0);
    assert_true(has_line(&d, "main.cf:4: warning: unknown parameter name unknown_thing"));
    assert_int_equal(cfg_time(c, P_max_idle), 300);
    assert_int_equal(cfg_int(c, P_max_use), 7);
    assert_int_equal(cfg_size(c, P_message_size_limit), 2048);
    /* an override replaces the value and the cached expansion */
    cfg_set(c, cfg_name(P_max_use), "9", "master.cf:3");
    assert_int_equal(cfg_int(c, P_max_use), 9);
    cfg_free(c);
    cfg_diag_free(&d);

    c = parse("max_use = 0\nmax_idle = soon\nmail_owner = ${nope\n", &d);
    assert_int_equal(cfg_check(c, &d), 3);
    assert_true(has_line(&d, "main.cf:1: max_use = 0: value out of range (allowed 1..1000000)"));
    assert_true(has_line(&d, "main.cf:2: max_idle = soon: bad time value"));
    assert_true(has_line(&d, "main.cf:3: mail_owner"));
    cfg_free(c);
    cfg_diag_free(&d);
}

static void test_registry(void **state)
{
    /* every default of every table must pass its own check */
    struct cfg_diag d;
    struct cfg *c = parse("", &d);
    assert_int_equal(cfg_check(c, &d), 0);
    assert_int_equal(d.warnings, 0);
    for (const struct cfg_table *t = cfg_tables; t->owner; t++)
        for (const struct cfg_param *p = t->params; p->name; p++) {
            assert_non_null(p->doc);
            assert_true(strlen(p->doc) > 10);
            assert_ptr_equal(cfg_find_param(p->name), p);
        }
    cfg_free(c);
    cfg_diag_free(&d);
}

static void test_edit_file(void **state)
{
    char *dir = unit_tmpdir();
    char *path = xasprintf("%s/main.cf", dir);
    struct strlist names = STRLIST_INIT, values = STRLIST_INIT;
    struct str err = STR_INIT;

    unit_write_file(path, "# top comment\nmyhostname = old\n    continued\n# keep\n"
                          "mail_name = X\n");
    strlist_add(&names, "myhostname");
    strlist_add(&values, "new.example");
    strlist_add(&names, "relay_domains");
    strlist_add(&values, "a.example");
    assert_int_equal(cfg_edit_file(path, &names, &values, &err), 0);
    struct cfg *c = cfg_new(dir);
    struct cfg_diag d;
    cfg_diag_init(&d);
    assert_int_equal(cfg_load(c, &d), 0);
    assert_string_equal(cfg_str(c, P_myhostname), "new.example");
    assert_string_equal(cfg_value(c, P_relay_domains), "a.example");
    assert_string_equal(cfg_str(c, P_mail_name), "X");
    FILE *f = fopen(path, "r");
    char buf[512];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_string_equal(buf, "# top comment\nmyhostname = new.example\n# keep\nmail_name = X\n"
                             "relay_domains = a.example\n");
    cfg_free(c);
    cfg_diag_free(&d);
    strlist_free(&names);
    strlist_free(&values);
    unit_rmtree(dir);
    free(path);
    free(dir);
}

/* test_edit_comment_inside - a comment or blank line inside the replaced entry does not end
 * it (the reader joins the lines around it): its later continuation lines go too, instead of
 * continuing the new setting */
static void test_edit_comment_inside(void **state)
{
    char *dir = unit_tmpdir();
    char *path = xasprintf("%s/main.cf", dir);
    struct strlist names = STRLIST_INIT, values = STRLIST_INIT;
    struct str err = STR_INIT;
    char buf[512];

    unit_write_file(path, "mynetworks = 10.0.0.0/8,\n# second half\n\n    192.168.0.0/16\n"
                          "mail_name = X\n");
    strlist_add(&names, "mynetworks");
    strlist_add(&values, "127.0.0.0/8");
    assert_int_equal(cfg_edit_file(path, &names, &values, &err), 0);
    FILE *f = fopen(path, "r");
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_string_equal(buf, "mynetworks = 127.0.0.0/8\n# second half\n\nmail_name = X\n");
    strlist_free(&names);
    strlist_free(&values);
    str_free(&err);
    unit_rmtree(dir);
    free(path);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_rules),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_expansion),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_list_split),
        cmocka_unit_test(test_check_and_getters),
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_edit_file),
        cmocka_unit_test(test_edit_comment_inside),
    };
    return cmocka_run_group_tests_name("cfg", tests, NULL, NULL);
}
