/*
 * test_map.c - unit tests of the lookup tables (map.c, map_db.c, map_regexp.c)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "map.h"
#include "mem.h"
#include "unit.h"

static void build(const char *type, const char *path, const char *text, int format)
{
    struct map_entries es = {NULL, 0, 0};
    struct strlist w = STRLIST_INIT;
    struct str err = STR_INIT;
    int errors = 0;
    char *db = xasprintf("%s.db", path);

    unit_write_file(path, text);
    map_parse_text(text, path, format, 1, &es, &w, &errors);
    assert_int_equal(map_db_build(type, db, &es, path, &err), 0);
    map_entries_free(&es);
    strlist_free(&w);
    str_free(&err);
    free(db);
}

static void test_db_tables(void **state)
{
    char *dir = unit_tmpdir();
    char *path = xasprintf("%s/access", dir);
    char *spec = xasprintf("hash:%s", path);
    struct str err = STR_INIT, v = STR_INIT;

    /* before the table exists, a lookup is a temporary failure, never "not found" */
    struct map *m = map_open(spec, &err);
    assert_non_null(m);
    assert_int_equal(map_lookup(m, "x", &v), MAP_ERROR);
    assert_non_null(strstr(map_error_text(m), "access.db"));

    build("hash", path,
          "# comment\nUser@Example.COM  OK\nspam.example REJECT no thanks\n"
          "multi first\n  second line\n",
          MAP_TEXT_POSTMAP);
    assert_int_equal(map_lookup(m, "user@example.com", &v), MAP_FOUND);
    assert_string_equal(str_c(&v), "OK");
    assert_int_equal(map_lookup(m, "USER@EXAMPLE.COM", &v), MAP_FOUND);
    assert_int_equal(map_lookup(m, "spam.example", &v), MAP_FOUND);
    assert_string_equal(str_c(&v), "REJECT no thanks");
    assert_int_equal(map_lookup(m, "multi", &v), MAP_FOUND);
    assert_string_equal(str_c(&v), "first second line");
    assert_int_equal(map_lookup(m, "absent", &v), MAP_NOTFOUND);

    /* a rebuilt table is noticed by an open handle */
    build("hash", path, "new.example OK\n", MAP_TEXT_POSTMAP);
    assert_int_equal(map_lookup(m, "spam.example", &v), MAP_NOTFOUND);
    assert_int_equal(map_lookup(m, "new.example", &v), MAP_FOUND);
    map_close(m);

    free(spec);
    spec = xasprintf("btree:%s", path);
    build("btree", path, "k1 v1\nk2 v2\n", MAP_TEXT_POSTMAP);
    m = map_open(spec, &err);
    assert_int_equal(map_lookup(m, "K2", &v), MAP_FOUND);
    assert_string_equal(str_c(&v), "v2");
    map_close(m);

    /* a relative path is a configuration error */
    assert_null(map_open("hash:relative/path", &err));
    assert_null(map_open("nosuchtype:/x", &err));
    assert_null(map_open("noseparator", &err));
    str_free(&err);
    str_free(&v);
    unit_rmtree(dir);
    free(spec);
    free(path);
    free(dir);
}

static void test_text_formats(void **state)
{
    struct map_entries es = {NULL, 0, 0};
    struct strlist w = STRLIST_INIT;
    int errors = 0;

    map_parse_text("postmaster: root\nroot: admin@example.com,\n  other@example.com\n"
                   "\"quoted name\": x\nbroken line\nPostmaster: dup\n",
                   "aliases", MAP_TEXT_ALIASES, 1, &es, &w, &errors);
    assert_int_equal(es.n, 3);
    assert_string_equal(es.e[0].key, "postmaster");
    assert_string_equal(es.e[1].value, "admin@example.com, other@example.com");
    assert_string_equal(es.e[2].key, "quoted name");
    assert_int_equal(errors, 1);
    assert_int_equal(w.n, 2);
    assert_non_null(strstr(w.v[0], "aliases:5: missing ':'"));
    assert_non_null(strstr(w.v[1], "aliases:6: warning: duplicate entry \"postmaster\""));
    map_entries_free(&es);
    strlist_free(&w);
}

/* test_text_orphan_continuation - postmap(1): "A logical line starts with non-whitespace
 * text": an indented first line is reported, not taken as an entry (as main.cf and master.cf) */
static void test_text_orphan_continuation(void **state)
{
    struct map_entries es = {NULL, 0, 0};
    struct strlist w = STRLIST_INIT;
    int errors = 0;

    map_parse_text("# head\n  indented value\nkey value\n  more\n", "access", MAP_TEXT_POSTMAP, 1,
                   &es, &w, &errors);
    assert_int_equal(es.n, 1);
    assert_string_equal(es.e[0].key, "key");
    assert_string_equal(es.e[0].value, "value more");
    assert_int_equal(errors, 1);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.v[0], "access:2: continuation line without a preceding line");
    map_entries_free(&es);
    strlist_free(&w);
}

/* test_regexp_reader - a regexp: table follows the same line rules as the other sources: an
 * indented first line is no rule, and a file with a NUL byte is refused (temporary failure),
 * not cut short at the NUL */
static void test_regexp_reader(void **state)
{
    char *dir = unit_tmpdir();
    char *path = xasprintf("%s/re", dir);
    char *spec = xasprintf("regexp:%s", path);
    struct str err = STR_INIT, v = STR_INIT;

    unit_write_file(path, "  /^orphan$/ bad\n/^a$/\n  # comment\n  continued\n");
    struct map *m = map_open(spec, &err);
    assert_non_null(m);
    assert_int_equal(map_lookup(m, "orphan", &v), MAP_NOTFOUND);
    assert_int_equal(map_lookup(m, "a", &v), MAP_FOUND);
    assert_string_equal(str_c(&v), "continued");
    map_close(m);

    static const char nul[] = "/^b$/ ok\n\0/^c$/ hidden\n";
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(nul, 1, sizeof(nul) - 1, f), sizeof(nul) - 1);
    fclose(f);
    m = map_open(spec, &err);
    assert_non_null(m);
    assert_int_equal(map_lookup(m, "b", &v), MAP_ERROR);
    assert_non_null(strstr(map_error_text(m), "file contains a NUL byte"));
    map_close(m);
    str_free(&err);
    str_free(&v);
    unit_rmtree(dir);
    free(spec);
    free(path);
    free(dir);
}

static void test_simple_tables(void **state)
{
    struct str err = STR_INIT, v = STR_INIT;
    struct map *m = map_open("static:5000", &err);

    assert_int_equal(map_lookup(m, "anything", &v), MAP_FOUND);
    assert_string_equal(str_c(&v), "5000");
    map_close(m);
    m = map_open("inline:{ a@x=1, B@X = two words, c={x, y} }", &err);
    assert_non_null(m);
    assert_int_equal(map_lookup(m, "b@x", &v), MAP_FOUND);
    assert_string_equal(str_c(&v), "two words");
    assert_int_equal(map_lookup(m, "C", &v), MAP_FOUND);
    assert_string_equal(str_c(&v), "x, y");
    assert_int_equal(map_lookup(m, "d", &v), MAP_NOTFOUND);
    map_close(m);
    assert_null(map_open("inline:a=1", &err));
    assert_null(map_open("inline:{ noequals }", &err));
    str_free(&err);
    str_free(&v);
}

static void test_regexp(void **state)
{
    char *dir = unit_tmpdir();
    char *path = xasprintf("%s/re", dir);
    char *spec = xasprintf("regexp:%s", path);
    struct str err = STR_INIT, v = STR_INIT;

    unit_write_file(path, "# comment\n/^(.*)@old\\.example$/ $1@new.example\n"
                          "/^CaseSensitive$/i exact\n"
                          "/unclosed\n"
                          "!/\\.example$/ outside\n"
                          "%a\\%b% pct-delimited\n"
                          "/^x/ ${1}never$$\n");
    struct map *m = map_open(spec, &err);
    assert_non_null(m);
    assert_int_equal(map_lookup(m, "Joe@OLD.example", &v), MAP_FOUND);
    assert_string_equal(str_c(&v), "Joe@new.example");
    assert_int_equal(map_lookup(m, "CaseSensitive", &v), MAP_FOUND);
    assert_string_equal(str_c(&v), "exact");
    /* the i flag made this pattern case-sensitive: the negated rule answers */
    assert_int_equal(map_lookup(m, "casesensitive", &v), MAP_FOUND);
    assert_string_equal(str_c(&v), "outside");
    assert_int_equal(map_lookup(m, "somewhere.org", &v), MAP_FOUND);
    assert_string_equal(str_c(&v), "outside");
    assert_int_equal(map_lookup(m, "a%b.example", &v), MAP_FOUND);
    assert_string_equal(str_c(&v), "pct-delimited");
    assert_int_equal(map_lookup(m, "x.example", &v), MAP_FOUND);
    assert_string_equal(str_c(&v), "never$");
    assert_int_equal(map_lookup(m, "y.example", &v), MAP_NOTFOUND);
    unlink(path);
    assert_int_equal(map_lookup(m, "y.example", &v), MAP_ERROR);
    map_close(m);
    str_free(&err);
    str_free(&v);
    unit_rmtree(dir);
    free(spec);
    free(path);
    free(dir);
}

/* test_regexp_costly - patterns that would make regcomp() build a huge automaton are
 * skipped like other bad lines (found by fuzz_regexp_map: "a++++..." took 2 GB) */
static void test_regexp_costly(void **state)
{
    char *dir = unit_tmpdir();
    char *path = xasprintf("%s/re", dir);
    char *spec = xasprintf("regexp:%s", path);
    struct str err = STR_INIT, v = STR_INIT;

    unit_write_file(path, "/^a++++++++++++++++++++++++$/ stacked\n"
                          "/^b*{2}$/ stacked-bound\n"
                          "/^((c{100}){100})$/ nested\n"
                          "/^d{5000}$/ huge\n"
                          "/^(e{10}){10}$/ fine\n"
                          "/^[+*]+\\+?$/ literal\n"
                          "/^f{2,3}g?$/ bounds\n");
    struct map *m = map_open(spec, &err);
    assert_non_null(m);
    assert_int_equal(map_lookup(m, "aaa", &v), MAP_NOTFOUND);
    assert_int_equal(map_lookup(m, "bb", &v), MAP_NOTFOUND);
    assert_int_equal(map_lookup(m, "dddd", &v), MAP_NOTFOUND);
    assert_int_equal(map_lookup(m,
                                "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
                                "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
                                &v),
                     MAP_FOUND);
    assert_string_equal(str_c(&v), "fine");
    assert_int_equal(map_lookup(m, "+*+", &v), MAP_FOUND);
    assert_string_equal(str_c(&v), "literal");
    assert_int_equal(map_lookup(m, "fffg", &v), MAP_FOUND);
    assert_string_equal(str_c(&v), "bounds");
    map_close(m);
    str_free(&err);
    str_free(&v);
    unit_rmtree(dir);
    free(spec);
    free(path);
    free(dir);
}

static void test_maps_list(void **state)
{
    struct strlist specs = STRLIST_INIT;
    struct str err = STR_INIT, v = STR_INIT;

    strlist_add(&specs, "inline:{a=1}");
    strlist_add(&specs, "hash:/nonexistent/table");
    strlist_add(&specs, "static:fallback");
    struct maps *ms = maps_open(&specs, &err);
    assert_non_null(ms);
    assert_int_equal(maps_count(ms), 3);
    assert_int_equal(maps_lookup(ms, "a", &v), MAP_FOUND);
    assert_string_equal(str_c(&v), "1");
    /* the failing table stops the search: never fall through to a later answer */
    assert_int_equal(maps_lookup(ms, "b", &v), MAP_ERROR);
    assert_non_null(strstr(maps_error_text(ms), "/nonexistent/table.db"));
    maps_close(ms);
    strlist_free(&specs);
    str_free(&err);
    str_free(&v);
}

/* test_owner - who a table belongs to: the file its data was read through, by fstat */
static void test_owner(void **state)
{
    char *dir = unit_tmpdir();
    char *path = xasprintf("%s/aliases", dir), *db = xasprintf("%s.db", path);
    char *rx = xasprintf("%s/rx", dir), *spec = xasprintf("regexp:%s", rx);
    struct strlist specs = STRLIST_INIT;
    struct str err = STR_INIT, v = STR_INIT;
    uid_t u = 0;
    gid_t g = 0;
    uid_t want = geteuid() == 0 ? 4242 : geteuid();

    (void)state;
    strlist_add(&specs, "inline:{a=1}");
    strlist_adopt(&specs, xasprintf("hash:%s", path));
    build("hash", path, "b 2\n", MAP_TEXT_POSTMAP);
    if (geteuid() == 0)
        assert_int_equal(chown(db, want, 4343), 0);
    struct maps *ms = maps_open(&specs, &err);
    assert_non_null(ms);
    assert_int_equal(maps_found_owner(ms, &u, &g), -1); /* nothing found yet */
    assert_int_equal(maps_lookup(ms, "a", &v), MAP_FOUND);
    assert_int_equal(maps_found_owner(ms, &u, &g), -1); /* inline: not a file */
    assert_int_equal(maps_lookup(ms, "b", &v), MAP_FOUND);
    assert_int_equal(maps_found_owner(ms, &u, &g), 0);
    assert_int_equal(u, want);
    assert_int_equal(maps_lookup(ms, "absent", &v), MAP_NOTFOUND);
    assert_int_equal(maps_found_owner(ms, &u, &g), -1);
    maps_close(ms);

    struct map *m = map_open(spec, &err);
    assert_non_null(m);
    assert_int_equal(map_owner(m, &u, &g), -1); /* not read yet */
    unit_write_file(rx, "/x/ OK\n");
    assert_int_equal(map_lookup(m, "x", &v), MAP_FOUND);
    assert_int_equal(map_owner(m, &u, &g), 0);
    assert_int_equal(u, geteuid());
    map_close(m);
    strlist_free(&specs);
    str_free(&err);
    str_free(&v);
    unit_rmtree(dir);
    free(spec);
    free(rx);
    free(db);
    free(path);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_db_tables),     cmocka_unit_test(test_text_formats),
        cmocka_unit_test(test_simple_tables), cmocka_unit_test(test_regexp),
        cmocka_unit_test(test_regexp_costly), cmocka_unit_test(test_maps_list),
        cmocka_unit_test(test_owner),         cmocka_unit_test(test_text_orphan_continuation),
        cmocka_unit_test(test_regexp_reader),
    };
    return cmocka_run_group_tests_name("map", tests, NULL, NULL);
}
