/*
 * test_linereader.c - unit tests of linereader.c, the one reader of logical lines for
 * main.cf, master.cf and table sources (postconf(5), master(5), postmap(1))
 */
#include <stdlib.h>
#include <string.h>

#include "linereader.h"
#include "mem.h"
#include "unit.h"

/* read_all - every logical line of text as "LINE:KIND:text|", to compare in one string */
static char *read_all(const char *text)
{
    struct linereader r;
    struct str out = STR_INIT, all = STR_INIT;
    int line, kind;

    linereader_init(&r, text);
    while ((kind = linereader_next(&r, &out, &line)) != LINEREADER_END)
        str_printf(&all, "%d:%s:%s|", line, kind == LINEREADER_ORPHAN ? "orphan" : "line",
                   str_c(&out));
    str_free(&out);
    return str_steal(&all);
}

static const struct {
    const char *text;
    const char *want;
} cases[] = {
    {"", ""},
    {"\n\n   \n\t\n", ""},
    {"a = 1\nb = 2", "1:line:a = 1|2:line:b = 2|"},
    /* continuation: leading white space becomes one space, trailing text is kept */
    {"a = 1,\n   2,\n\t3\n", "1:line:a = 1, 2, 3|"},
    /* comment and blank lines inside a continuation neither end nor continue it */
    {"a = 1\n# note\n\n  # indented note\n  2\nb\n", "1:line:a = 1 2|6:line:b|"},
    /* a comment is '#' as the first non-blank byte only */
    {"a = x#y\n  #z\n  w # v\n", "1:line:a = x#y w # v|"},
    /* an indented line before any logical line starts none (each one is reported) */
    {"  x\n\ty\nz\n  w\n", "1:orphan:x|2:orphan:y|3:line:z w|"},
    {"# c\n\n  x = 1\n", "3:orphan:x = 1|"},
    /* CRLF: '\r' is white space, so a CR-only line is blank and CRLF text keeps its CR */
    {"a = 1\r\n\r\n  2\r\n", "1:line:a = 1\r 2\r|"},
    /* no newline at the end */
    {"a\n  b", "1:line:a b|"},
    /* line numbers count every physical line */
    {"#1\n#2\n\nfour\n  five\n#6\nseven\n", "4:line:four five|7:line:seven|"},
};

static void test_table(void **state)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = read_all(cases[i].text);
        assert_string_equal(got, cases[i].want);
        free(got);
    }
}

/* test_long_line - no line length limit (postconf(5) has none): a 1 MB value arrives whole */
static void test_long_line(void **state)
{
    size_t n = 1024 * 1024;
    char *text = xmalloc(n + 16);
    struct linereader r;
    struct str out = STR_INIT;
    int line;

    memcpy(text, "k = ", 4);
    memset(text + 4, 'v', n);
    strcpy(text + 4 + n, "\n  end\n");
    linereader_init(&r, text);
    assert_int_equal(linereader_next(&r, &out, &line), LINEREADER_LINE);
    assert_int_equal(line, 1);
    assert_int_equal(out.len, 4 + n + 4);
    assert_string_equal(str_c(&out) + 4 + n, " end");
    assert_int_equal(linereader_next(&r, &out, &line), LINEREADER_END);
    str_free(&out);
    free(text);
}

/* test_kind - the editors' view of one physical line agrees with the reader's */
static void test_kind(void **state)
{
    assert_int_equal(linereader_kind("", 0), LINEREADER_IGNORED);
    assert_int_equal(linereader_kind(" \t\r", 3), LINEREADER_IGNORED);
    assert_int_equal(linereader_kind("# x", 3), LINEREADER_IGNORED);
    assert_int_equal(linereader_kind("   # x", 6), LINEREADER_IGNORED);
    assert_int_equal(linereader_kind("a = b", 5), LINEREADER_START);
    assert_int_equal(linereader_kind("  b", 3), LINEREADER_CONT);
    assert_int_equal(linereader_kind("\tb#", 3), LINEREADER_CONT);
    /* only len bytes count */
    assert_int_equal(linereader_kind("  x", 2), LINEREADER_IGNORED);
}

static void test_has_nul(void **state)
{
    assert_false(linereader_has_nul("", 0));
    assert_false(linereader_has_nul("a\nb", 3));
    assert_true(linereader_has_nul("a\0b", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_kind),
        cmocka_unit_test(test_has_nul),
    };
    return cmocka_run_group_tests_name("linereader", tests, NULL, NULL);
}
