/*
 * test_str.c - unit tests of str.c (dynamic strings, lists, helpers)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "str.h"
#include "unit.h"

static void test_str_basic(void **state)
{
    struct str s = STR_INIT;

    assert_string_equal(str_c(&s), "");
    str_cat(&s, "hello");
    str_catc(&s, ' ');
    str_printf(&s, "%d-%s", 42, "x");
    assert_string_equal(str_c(&s), "hello 42-x");
    assert_int_equal(s.len, 10);
    str_truncate(&s, 5);
    assert_string_equal(s.s, "hello");
    str_catn(&s, "a\0b", 3);
    assert_int_equal(s.len, 8);
    assert_memory_equal(s.s + 5, "a\0b", 3);
    str_cpy(&s, "ABC");
    str_lower(&s);
    assert_string_equal(s.s, "abc");
    char *p = str_steal(&s);
    assert_string_equal(p, "abc");
    assert_null(s.s);
    free(p);
    str_free(&s);
}

/* str_printf formats once into the room there is and again when the result is longer:
 * results around the room's size come out whole, appended, terminated */
static void test_printf_lengths(void **state)
{
    char want[1200];

    for (size_t n = 0; n < 1100; n += (n < 140 ? 1 : 97)) {
        for (size_t pre = 0; pre < 70; pre += 23) {
            struct str s = STR_INIT;
            char *arg = malloc(n + 1);
            memset(arg, 'x', n);
            arg[n] = '\0';
            for (size_t i = 0; i < pre; i++)
                str_catc(&s, 'p');
            str_printf(&s, "<%s|%zu>", arg, n);
            int w = snprintf(
                want, sizeof(want), "%.*s<%s|%zu>", (int)pre,
                "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp", arg, n);
            assert_int_equal(s.len, (size_t)w);
            assert_string_equal(s.s, want);
            assert_true(s.cap > s.len);
            free(arg);
            str_free(&s);
        }
    }
    (void)state;
}

static void test_catu(void **state)
{
    static const unsigned long long v[] = {
        0, 1, 9, 10, 99, 100, 4294967295ull, 4294967296ull, 18446744073709551615ull};
    char want[32];

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct str s = STR_INIT;
        str_cat(&s, "n=");
        str_catu(&s, v[i]);
        snprintf(want, sizeof(want), "n=%llu", v[i]);
        assert_string_equal(str_c(&s), want);
        assert_int_equal(s.len, strlen(want));
        str_free(&s);
    }
    (void)state;
}

static void test_reserve_terminates(void **state)
{
    struct str s = STR_INIT;
    str_reserve(&s, 100);
    assert_non_null(s.s);
    assert_string_equal(s.s, "");
    str_free(&s);
}

static void test_str_growth(void **state)
{
    struct str s = STR_INIT;
    for (int i = 0; i < 100000; i++)
        str_catc(&s, 'a' + i % 26);
    assert_int_equal(s.len, 100000);
    assert_int_equal(s.s[100000], '\0');
    assert_int_equal(s.s[26], 'a');
    str_free(&s);
}

static void test_chomp(void **state)
{
    struct str s = STR_INIT;
    str_cpy(&s, "line\r\n");
    assert_int_equal(str_chomp(&s), 2);
    assert_string_equal(s.s, "line");
    str_cpy(&s, "line\n");
    assert_int_equal(str_chomp(&s), 1);
    str_cpy(&s, "line\r");
    assert_int_equal(str_chomp(&s), 0);
    assert_string_equal(s.s, "line\r");
    str_free(&s);
}

static void test_strlist(void **state)
{
    struct strlist l = STRLIST_INIT;
    struct str j = STR_INIT;

    strlist_split(&l, " a, b,,c\t d ", ", \t");
    assert_int_equal(l.n, 4);
    assert_string_equal(l.v[0], "a");
    assert_string_equal(l.v[3], "d");
    assert_null(l.v[4]);
    assert_int_equal(strlist_find(&l, "C", 1), 2);
    assert_int_equal(strlist_find(&l, "C", 0), -1);
    strlist_join(&l, "|", &j);
    assert_string_equal(j.s, "a|b|c|d");
    strlist_free(&l);
    str_free(&j);
}

static void test_helpers(void **state)
{
    char buf[] = "  Mixed Case \t\n";
    unsigned long long v;
    struct str out = STR_INIT;

    assert_string_equal(lowercase(trim(buf)), "mixed case");
    assert_true(has_prefix_ci("MAIL FROM:<x>", "mail from:"));
    assert_false(has_prefix_ci("MAIL", "mail from:"));
    assert_int_equal(parse_ulong("12345", 99999, &v), 0);
    assert_int_equal(v, 12345);
    assert_int_equal(parse_ulong("100000", 99999, &v), -1);
    assert_int_equal(parse_ulong("", 10, &v), -1);
    assert_int_equal(parse_ulong("1x", 10, &v), -1);
    assert_int_equal(parse_ulong("18446744073709551616", ~0ULL, &v), -1);
    assert_string_equal(safe_text(&out, "a\r\nb\x01", 5), "a??b?");
    str_free(&out);

    char text[] = ",,one,two";
    char *p = text;
    assert_string_equal(mystrtok(&p, ","), "one");
    assert_string_equal(mystrtok(&p, ","), "two");
    assert_null(mystrtok(&p, ","));
}

/* printable: the one escaping rule for logs and terminals (issue #13 item 6) */
static void test_printable_table(void **state)
{
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        {"plain text", 10, "plain text"},
        {"esc\x1b[31mred", 11, "esc?[31mred"},
        {"bel\a cr\r lf\n tab\t", 17, "bel? cr? lf? tab?"},
        {"del\x7f", 4, "del?"},
        {"nul\0x", 5, "nul?x"},
        {"J\xc3\xb6rg", 5, "J\xc3\xb6rg"}, /* UTF-8 stays */
        {"\xe2\x82\xac \xf0\x9f\x98\x80", 8, "\xe2\x82\xac \xf0\x9f\x98\x80"},
        {"c1 \xc2\x9b"
         "2J",
         7, "c1 ??2J"},                      /* U+009B CSI */
        {"\xc2\xa0nbsp", 6, "\xc2\xa0nbsp"}, /* U+00A0 is printable */
        {"raw \x9b"
         "2J",
         7, "raw ?2J"},                          /* a lone C1 byte */
        {"latin1 \xe9t\xe9", 10, "latin1 ?t?"},  /* not UTF-8 */
        {"over \xc0\xaf", 7, "over ??"},         /* overlong */
        {"sur \xed\xa0\x80", 7, "sur ???"},      /* surrogate */
        {"cut \xe2\x82", 6, "cut ??"},           /* truncated */
        {"big \xf4\x90\x80\x80", 8, "big ????"}, /* past U+10FFFF */
    };
    struct str out = STR_INIT;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_string_equal(safe_text(&out, cases[i].in, cases[i].n), cases[i].out);
        assert_int_equal(out.len, cases[i].n);
    }
    str_free(&out);
}

/* xgrow (mem.h): every index written after the call is inside the allocation (ASan
 * checks it) and the values survive each move; appends are not O(n^2) copies */
static void test_xgrow(void **state)
{
    (void)state;
    size_t *v = NULL, n = 0;

    for (; n < 100000; n++) {
        v = xgrow(v, n, sizeof(*v));
        v[n] = n * 7;
    }
    for (size_t i = 0; i < n; i++)
        if (v[i] != i * 7)
            fail_msg("element %zu", i);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_printable_table),
        cmocka_unit_test(test_str_basic),
        cmocka_unit_test(test_printf_lengths),
        cmocka_unit_test(test_catu),
        cmocka_unit_test(test_str_growth),
        cmocka_unit_test(test_xgrow),
        cmocka_unit_test(test_reserve_terminates),
        cmocka_unit_test(test_chomp),
        cmocka_unit_test(test_strlist),
        cmocka_unit_test(test_helpers),
    };
    return cmocka_run_group_tests_name("str", tests, NULL, NULL);
}
