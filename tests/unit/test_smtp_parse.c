/*
 * test_smtp_parse.c - unit tests of lib/global/smtp_parse.c (paths, parameters, domains)
 *
 * Table driven, with the examples of RFC 5321 4.1.2, RFC 3461 4 and RFC 6531 and the relay
 * tricks that must never parse into an address that would be relayed. The values of the
 * ESMTP parameters have one parser each, shared by smtpd, sendmail (-N -R -V) and pickup:
 * what is refused here is refused on every way into the queue.
 */
#include <stdlib.h>
#include <string.h>

#include "qfile.h"
#include "smtp_parse.h"
#include "unit.h"

struct path_case {
    const char *in;
    int flags;
    int result;
    const char *addr;   /* internal form */
    const char *domain; /* NULL: don't check */
    const char *rest;   /* what follows the path */
};

static const struct path_case path_cases[] = {
    /* RFC 5321 4.1.2 forms */
    {"<user@example.com>", 0, SMTP_PATH_OK, "user@example.com", "example.com", ""},
    {"<>", SMTP_PATH_NULL_OK, SMTP_PATH_OK, "", "", ""},
    {"<>", 0, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<Postmaster>", SMTP_PATH_STRICT, SMTP_PATH_OK, "Postmaster", "", ""},
    {"<joe>", SMTP_PATH_STRICT, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<joe>", 0, SMTP_PATH_OK, "joe", "", ""},
    {"<@hosta.int,@jkl.org:userc@d.bar.org>", 0, SMTP_PATH_OK, "userc@d.bar.org", "d.bar.org", ""},
    {"<@ourdomain:user@other>", 0, SMTP_PATH_OK, "user@other", "other", ""},
    {"<\"John Doe\"@example.com> SIZE=100", 0, SMTP_PATH_OK, "John Doe@example.com", NULL,
     " SIZE=100"},
    {"<\"a\\\"b\\\\c\"@example.com>", 0, SMTP_PATH_OK, "a\"b\\c@example.com", NULL, ""},
    {"<\"user@other\"@ourdomain>", 0, SMTP_PATH_OK, "user@other@ourdomain", "ourdomain", ""},
    {"<user%other@ourdomain>", 0, SMTP_PATH_OK, "user%other@ourdomain", "ourdomain", ""},
    {"<other!user@ourdomain>", 0, SMTP_PATH_OK, "other!user@ourdomain", "ourdomain", ""},
    {"<user@other@ourdomain>", 0, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<user@[192.0.2.1]>", 0, SMTP_PATH_OK, "user@[192.0.2.1]", "[192.0.2.1]", ""},
    {"<user@[IPv6:2001:db8::1]>", 0, SMTP_PATH_OK, "user@[IPv6:2001:db8::1]", NULL, ""},
    {"<user@[300.1.1.1]>", 0, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<user@[x-tag:stuff]>", 0, SMTP_PATH_OK, "user@[x-tag:stuff]", NULL, ""},
    /* an '@' inside an address literal would split the internal form twice (issue #13) */
    {"<a@[x:@victim.example]>", 0, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<a@[x:@victim.example]>", SMTP_PATH_NULL_OK, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<a@[x-tag:a@b]>", SMTP_PATH_STRICT, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<\"a@b\"@example.test>", 0, SMTP_PATH_OK, "a@b@example.test", "example.test", ""},
    {"<\"a@[x:\"@[192.0.2.1]>", 0, SMTP_PATH_OK, "a@[x:@[192.0.2.1]", "[192.0.2.1]", ""},
    {"<user@ourdomain.>", 0, SMTP_PATH_OK, "user@ourdomain", "ourdomain", ""},
    {"<user@ourdomain.>", SMTP_PATH_STRICT, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<user@ourdomain..>", 0, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<USER@OurDomain.COM>", 0, SMTP_PATH_OK, "USER@OurDomain.COM", "OurDomain.COM", ""},
    /* lenient forms (strict_rfc821_envelopes = no) and their strict refusal */
    {" <user@example.com>", 0, SMTP_PATH_OK, "user@example.com", NULL, ""},
    {" <user@example.com>", SMTP_PATH_STRICT, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"user@example.com SIZE=1", 0, SMTP_PATH_OK, "user@example.com", NULL, " SIZE=1"},
    {"user@example.com", SMTP_PATH_STRICT, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<john..doe@example.com>", 0, SMTP_PATH_OK, "john..doe@example.com", NULL, ""},
    {"<john..doe@example.com>", SMTP_PATH_STRICT, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<.john@example.com>", SMTP_PATH_STRICT, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    /* malformed */
    {"<user@example.com", 0, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<user example@x.com>", 0, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<user@-bad.com>", 0, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<user@bad-.com>", 0, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<user@bad..com>", 0, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<user@exa mple.com>", 0, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<user@>", 0, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<@example.com>", 0, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<\"\"@example.com>", 0, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<\"unterminated@example.com>", 0, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<\"ctl\001\"@example.com>", 0, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<us(er)@example.com>", 0, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<user@example.com>>", 0, SMTP_PATH_OK, "user@example.com", NULL, ">"},
    /* RFC 6531: UTF-8 only with SMTPUTF8 */
    {"<j\xc3\xb6rg@b\xc3\xbc"
     "cher.example>",
     0, SMTP_PATH_UTF8, NULL, NULL, NULL},
    {"<j\xc3\xb6rg@b\xc3\xbc"
     "cher.example>",
     SMTP_PATH_UTF8_OK, SMTP_PATH_OK,
     "j\xc3\xb6rg@b\xc3\xbc"
     "cher.example",
     NULL, ""},
    {"<j\xc3rg@example.com>", SMTP_PATH_UTF8_OK, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
    {"<\xed\xa0\x80@example.com>", SMTP_PATH_UTF8_OK, SMTP_PATH_SYNTAX, NULL, NULL, NULL},
};

static void test_paths(void **state)
{
    struct smtp_path p;

    (void)state;
    smtp_path_init(&p);
    for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
        const struct path_case *c = &path_cases[i];
        const char *t = c->in, *why = "";
        int r = smtp_parse_path(&t, c->flags, &p, &why);
        if (r != c->result)
            fail_msg("case %zu \"%s\": result %d, expected %d (%s)", i, c->in, r, c->result, why);
        if (r != SMTP_PATH_OK)
            continue;
        assert_string_equal(str_c(&p.addr), c->addr);
        if (c->domain)
            assert_string_equal(str_c(&p.domain), c->domain);
        assert_string_equal(t, c->rest);
    }
    smtp_path_free(&p);
}

/* RFC 5321 4.5.3.1: local part 64, domain 255, path 256 octets; each at and over its limit */
static void test_path_limits(void **state)
{
    struct smtp_path p;
    struct str in = STR_INIT, label = STR_INIT;
    const char *t, *why;

    (void)state;
    smtp_path_init(&p);
    str_cpy(&in, "<");
    for (int i = 0; i < 64; i++)
        str_catc(&in, 'a');
    str_cat(&in, "@example.com>");
    t = in.s;
    assert_int_equal(smtp_parse_path(&t, 0, &p, &why), SMTP_PATH_OK);
    str_cpy(&in, "<a");
    for (int i = 0; i < 64; i++)
        str_catc(&in, 'a');
    str_cat(&in, "@example.com>");
    t = in.s;
    assert_int_equal(smtp_parse_path(&t, 0, &p, &why), SMTP_PATH_TOOLONG);

    /* a path of exactly 256 octets with brackets: "<" 64 "@" domain ">" */
    str_cpy(&in, "<");
    for (int i = 0; i < 64; i++)
        str_catc(&in, 'u');
    str_catc(&in, '@');
    while (in.len < 255 - 4)
        str_cat(&in, in.len % 60 == 0 ? "." : "d");
    while (in.len < 255)
        str_catc(&in, 'x');
    str_catc(&in, '>');
    assert_int_equal(in.len, 256);
    t = in.s;
    assert_int_equal(smtp_parse_path(&t, 0, &p, &why), SMTP_PATH_OK);
    str_truncate(&in, 255);
    str_cat(&in, "y>");
    t = in.s;
    assert_int_equal(smtp_parse_path(&t, 0, &p, &why), SMTP_PATH_TOOLONG);

    /* a label of 63 is fine, 64 is not */
    str_cpy(&label, "");
    for (int i = 0; i < 63; i++)
        str_catc(&label, 'l');
    assert_true(smtp_valid_domain(label.s, label.len, 0));
    str_catc(&label, 'l');
    assert_false(smtp_valid_domain(label.s, label.len, 0));
    smtp_path_free(&p);
    str_free(&in);
    str_free(&label);
}

static void test_params(void **state)
{
    struct smtp_params ps;
    const char *why;

    (void)state;
    assert_int_equal(smtp_parse_params(" SIZE=1000 BODY=8BITMIME SMTPUTF8", &ps, &why), 0);
    assert_int_equal(ps.n, 3);
    assert_string_equal(ps.v[0].key, "SIZE");
    assert_string_equal(ps.v[0].value, "1000");
    assert_string_equal(ps.v[1].value, "8BITMIME");
    assert_null(ps.v[2].value);
    smtp_params_free(&ps);
    assert_int_equal(smtp_parse_params("", &ps, &why), 0);
    assert_int_equal(ps.n, 0);
    assert_int_equal(smtp_parse_params(" ENVID=QQ314159 RET=HDRS", &ps, &why), 0);
    smtp_params_free(&ps);
    /* malformed: duplicate keyword, empty value, '=' in value, control, bad keyword */
    assert_int_equal(smtp_parse_params(" SIZE=1 size=2", &ps, &why), -1);
    assert_string_equal(why, "duplicate parameter");
    assert_int_equal(smtp_parse_params(" SIZE=", &ps, &why), -1);
    assert_int_equal(smtp_parse_params(" A=b=c", &ps, &why), -1);
    assert_int_equal(smtp_parse_params(" A=b\001", &ps, &why), -1);
    assert_int_equal(smtp_parse_params(" -A=b", &ps, &why), -1);
    assert_int_equal(smtp_parse_params(" A_B=c", &ps, &why), -1);
    assert_int_equal(smtp_parse_params(" A B C D E F G H I J K L M N O P Q", &ps, &why), -1);
    assert_string_equal(why, "too many parameters");
}

/* RFC 3461 4.1 NOTIFY: "NEVER" alone or 1#(SUCCESS / FAILURE / DELAY), any case */
static const struct {
    const char *in;
    int bits; /* -1: syntax error (smtpd 501 5.5.4, sendmail -N exit 64) */
} notify_cases[] = {
    {"NEVER", QNOTIFY_NEVER},
    {"never", QNOTIFY_NEVER},
    {"SUCCESS", QNOTIFY_SUCCESS},
    {"SUCCESS,FAILURE", QNOTIFY_SUCCESS | QNOTIFY_FAILURE},
    {"success,delay,Failure", QNOTIFY_SUCCESS | QNOTIFY_DELAY | QNOTIFY_FAILURE},
    {"DELAY,DELAY", QNOTIFY_DELAY},
    /* null elements: RFC 822 2.7's # rule permits them and they do not count; smtpd
     * refused these and sendmail -N took them (issue #14): the RFC decides */
    {"SUCCESS,,FAILURE", QNOTIFY_SUCCESS | QNOTIFY_FAILURE},
    {"SUCCESS,", QNOTIFY_SUCCESS},
    {",SUCCESS", QNOTIFY_SUCCESS},
    {",,delay,,", QNOTIFY_DELAY},
    /* but one element at least (1#) */
    {",", -1},
    {",,", -1},
    {"", -1},
    {"NEVER,", -1},
    {",NEVER", -1},
    /* white space is no part of an esmtp-value (RFC 5321 4.1.2); sendmail -N took it */
    {"SUCCESS, FAILURE", -1},
    {"SUCCESS FAILURE", -1},
    {" SUCCESS", -1},
    /* NEVER MUST appear by itself */
    {"NEVER,SUCCESS", -1},
    {"SUCCESS,NEVER", -1},
    {"NEVER,NEVER", -1},
    {"SOMETIMES", -1},
    {"SUCCESSFUL", -1},
    {"SUCC", -1},
};

static void test_notify(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(notify_cases) / sizeof(notify_cases[0]); i++) {
        int got = smtp_parse_notify(notify_cases[i].in);
        if (got != notify_cases[i].bits)
            fail_msg("NOTIFY=%s: got %d, want %d", notify_cases[i].in, got, notify_cases[i].bits);
    }
    assert_int_equal(smtp_parse_notify(NULL), -1); /* NOTIFY without '=' */
}

/* what the smtp client sends (and petrel-cat shows) parses back to the same bits */
static void test_notify_format(void **state)
{
    struct str out = STR_INIT;

    (void)state;
    for (int bits = 1; bits < 16; bits++) {
        str_reset(&out);
        smtp_format_notify(bits, &out);
        assert_int_equal(smtp_parse_notify(out.s), (bits & QNOTIFY_NEVER) ? QNOTIFY_NEVER : bits);
    }
    str_reset(&out);
    smtp_format_notify(QNOTIFY_DELAY | QNOTIFY_SUCCESS | QNOTIFY_FAILURE, &out);
    assert_string_equal(out.s, "SUCCESS,FAILURE,DELAY");
    str_reset(&out);
    smtp_format_notify(0, &out);
    assert_int_equal(out.len, 0);
    str_free(&out);
}

static void test_ret_body_size(void **state)
{
    unsigned long long n = 0;

    (void)state;
    /* RFC 3461 4.3 */
    assert_int_equal(smtp_parse_ret("FULL"), SMTP_RET_FULL);
    assert_int_equal(smtp_parse_ret("hdrs"), SMTP_RET_HDRS);
    assert_int_equal(smtp_parse_ret("BODY"), -1);
    assert_int_equal(smtp_parse_ret(""), -1);
    assert_int_equal(smtp_parse_ret(NULL), -1);
    assert_string_equal(smtp_ret_name(SMTP_RET_FULL), "FULL");
    assert_string_equal(smtp_ret_name(SMTP_RET_HDRS), "HDRS");
    assert_string_equal(smtp_ret_name(SMTP_RET_NONE), "");
    /* RFC 6152 2, RFC 3030 3 */
    assert_int_equal(smtp_parse_body("7bit"), SMTP_BODY_7BIT);
    assert_int_equal(smtp_parse_body("8BITMIME"), SMTP_BODY_8BITMIME);
    assert_int_equal(smtp_parse_body("BinaryMIME"), SMTP_BODY_BINARYMIME);
    assert_int_equal(smtp_parse_body("8BIT"), -1);
    assert_int_equal(smtp_parse_body(NULL), -1);
    /* RFC 1870 6 */
    assert_int_equal(smtp_parse_size("1000", &n), 0);
    assert_int_equal(n, 1000);
    assert_int_equal(smtp_parse_size("0", &n), 0);
    assert_int_equal(smtp_parse_size("-1", &n), -1);
    assert_int_equal(smtp_parse_size("1k", &n), -1);
    assert_int_equal(smtp_parse_size("", &n), -1);
    assert_int_equal(smtp_parse_size(NULL, &n), -1);
    assert_int_equal(smtp_parse_size("99999999999999999999", &n), -1);
}

static void test_envid(void **state)
{
    struct str out = STR_INIT, big = STR_INIT;

    (void)state;
    /* RFC 3461 4.4: xtext, up to 100 characters, printable US-ASCII (graphic and space) */
    assert_int_equal(smtp_parse_envid("QQ+2B314159", &out), 0);
    assert_string_equal(out.s, "QQ+314159");
    assert_int_equal(smtp_parse_envid("a+20b", &out), 0);
    assert_string_equal(out.s, "a b");
    assert_int_equal(smtp_parse_envid("a+2", &out), -1);
    assert_int_equal(smtp_parse_envid("a+09b", &out), -1);   /* a control character */
    assert_int_equal(smtp_parse_envid("a+C3+A9", &out), -1); /* not US-ASCII */
    assert_int_equal(smtp_parse_envid("", &out), -1);
    assert_int_equal(smtp_parse_envid(NULL, &out), -1);
    for (int i = 0; i < 100; i++)
        str_catc(&big, 'x');
    assert_int_equal(smtp_parse_envid(big.s, &out), 0);
    str_catc(&big, 'x');
    assert_int_equal(smtp_parse_envid(big.s, &out), -1);
    /* the same rule for a value given decoded (sendmail -V, a maildrop file): the limit
     * counts the xtext that goes on the wire */
    assert_true(smtp_envid_valid("env-1"));
    assert_true(smtp_envid_valid("a b"));
    assert_true(smtp_envid_valid("QQ+314159"));
    assert_false(smtp_envid_valid(""));
    assert_false(smtp_envid_valid("a\tb"));
    assert_false(smtp_envid_valid("caf\xc3\xa9"));
    big.s[100] = '\0', big.len = 100;
    assert_true(smtp_envid_valid(big.s));
    big.s[0] = '+'; /* "+2B" makes it 102 characters */
    assert_false(smtp_envid_valid(big.s));
    str_free(&out);
    str_free(&big);
}

static void test_orcpt(void **state)
{
    struct str out = STR_INIT, big = STR_INIT;

    (void)state;
    /* RFC 3461 4.2: addr-type ";" xtext, up to 500 characters; kept decoded */
    assert_int_equal(smtp_parse_orcpt("rfc822;o+40example.test", &out), 0);
    assert_string_equal(out.s, "rfc822;o@example.test");
    assert_int_equal(smtp_parse_orcpt("utf-8;b+C3+BCcher@example.test", &out), 0);
    assert_string_equal(out.s, "utf-8;b\xc3\xbc"
                               "cher@example.test");
    assert_int_equal(smtp_parse_orcpt("rfc822", &out), -1);
    assert_int_equal(smtp_parse_orcpt(";a@b", &out), -1);
    assert_int_equal(smtp_parse_orcpt("rfc822;", &out), -1);
    assert_int_equal(smtp_parse_orcpt("rfc_822;a@b", &out), -1);
    assert_int_equal(smtp_parse_orcpt("rfc822;a+00b", &out), -1); /* NUL */
    assert_int_equal(smtp_parse_orcpt("rfc822;a+0Ab", &out), -1); /* control */
    assert_int_equal(smtp_parse_orcpt("rfc822;a+C3b", &out), -1); /* broken UTF-8 */
    assert_int_equal(smtp_parse_orcpt(NULL, &out), -1);
    str_cat(&big, "rfc822;");
    while (big.len < 500)
        str_catc(&big, 'x');
    assert_int_equal(smtp_parse_orcpt(big.s, &out), 0);
    str_catc(&big, 'x');
    assert_int_equal(smtp_parse_orcpt(big.s, &out), -1);
    /* decoded, as a maildrop file holds it */
    assert_true(smtp_orcpt_valid("rfc822;o@example.test"));
    assert_true(smtp_orcpt_valid("rfc822;a b@example.test"));
    assert_false(smtp_orcpt_valid("rfc822"));
    assert_false(smtp_orcpt_valid("rfc822;"));
    assert_false(smtp_orcpt_valid("rfc822;a\nb"));
    assert_false(smtp_orcpt_valid("x y;a@b"));
    str_reset(&out);
    smtp_format_orcpt("rfc822;a b+c@example.test", &out);
    assert_string_equal(out.s, "rfc822;a+20b+2Bc@example.test");
    str_free(&out);
    str_free(&big);
}

static void test_domains(void **state)
{
    (void)state;
    assert_true(smtp_valid_domain("example.com", 11, 0));
    assert_true(smtp_valid_domain("a_b.example.com", 15, 0));
    assert_true(smtp_valid_domain("[127.0.0.1]", 11, 0));
    assert_false(smtp_valid_domain("[127.0.0.1", 10, 0));
    assert_false(smtp_valid_domain(".example.com", 12, 0));
    assert_false(smtp_valid_domain("b\xc3\xbc"
                                   "cher.example",
                                   13, 0));
    assert_true(smtp_valid_domain("b\xc3\xbc"
                                  "cher.example",
                                  13, 1));
    assert_true(smtp_utf8_valid("\xf0\x9f\x98\x80", 4));
    assert_false(smtp_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(smtp_utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),         cmocka_unit_test(test_path_limits),
        cmocka_unit_test(test_params),        cmocka_unit_test(test_notify),
        cmocka_unit_test(test_notify_format), cmocka_unit_test(test_ret_body_size),
        cmocka_unit_test(test_envid),         cmocka_unit_test(test_orcpt),
        cmocka_unit_test(test_domains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
