/*
 * test_addr.c - unit tests of addr.c
 */
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "cfg.h"
#include "mem.h"
#include "unit.h"

static void load(const char *text)
{
    struct cfg_diag d;

    cfg_free(cfg_main);
    cfg_main = cfg_new("/nonexistent");
    cfg_diag_init(&d);
    cfg_parse_text(cfg_main, text, "main.cf", &d);
    cfg_diag_free(&d);
}

static void test_split_and_extension(void **state)
{
    struct str l = STR_INIT, d = STR_INIT, e = STR_INIT;

    load("recipient_delimiter = +\n");
    addr_split("Joe+Lists@Example.COM", &l, &d);
    assert_string_equal(str_c(&l), "Joe+Lists");
    assert_string_equal(str_c(&d), "example.com");
    addr_strip_extension(&l, &e);
    assert_string_equal(str_c(&l), "Joe");
    assert_string_equal(str_c(&e), "Lists");
    addr_split("\"a@b\"@example.com", &l, &d);
    assert_string_equal(str_c(&l), "\"a@b\"");
    addr_split("postmaster", &l, &d);
    assert_string_equal(str_c(&l), "postmaster");
    assert_string_equal(str_c(&d), "");
    str_cpy(&l, "+start");
    addr_strip_extension(&l, &e);
    assert_string_equal(str_c(&l), "+start");
    load("recipient_delimiter = +-\n");
    str_cpy(&l, "joe-x");
    addr_strip_extension(&l, &e);
    assert_string_equal(str_c(&l), "joe");
    load("recipient_delimiter =\n");
    str_cpy(&l, "joe+x");
    addr_strip_extension(&l, &e);
    assert_string_equal(str_c(&l), "joe+x");
    str_free(&l);
    str_free(&d);
    str_free(&e);
}

static void test_domain_class(void **state)
{
    load("myhostname = mail.example.com\nmydomain = example.com\n"
         "mydestination = $myhostname, localhost.$mydomain, .local.example\n"
         "virtual_mailbox_domains = v1.example, inline:{ v2.example=1 }\n"
         "relay_domains = relay.example\n");
    assert_int_equal(addr_domain_class("mail.example.com"), ADDR_LOCAL);
    assert_int_equal(addr_domain_class("MAIL.Example.Com."), ADDR_LOCAL);
    assert_int_equal(addr_domain_class("localhost"), ADDR_LOCAL);
    assert_int_equal(addr_domain_class("a.b.local.example"), ADDR_LOCAL);
    assert_int_equal(addr_domain_class("local.example"), ADDR_OTHER);
    assert_int_equal(addr_domain_class("[127.0.0.1]"), ADDR_LOCAL);
    assert_int_equal(addr_domain_class("[192.0.2.99]"), ADDR_OTHER);
    assert_int_equal(addr_domain_class("v1.example"), ADDR_VIRTUAL);
    assert_int_equal(addr_domain_class("V2.example"), ADDR_VIRTUAL);
    assert_int_equal(addr_domain_class("relay.example"), ADDR_RELAY);
    assert_int_equal(addr_domain_class("other.example"), ADDR_OTHER);
    assert_int_equal(addr_domain_class("example.com"), ADDR_OTHER);
    load("virtual_mailbox_domains = hash:/nonexistent/domains\n");
    assert_int_equal(addr_domain_class("v1.example"), ADDR_TEMPFAIL);
    cfg_free(cfg_main);
    cfg_main = NULL;
}

/* the external form of internal addresses (RFC 5321 4.1.2) */
static void test_quote(void **state)
{
    struct str out = STR_INIT;

    addr_quote_local("john.doe", &out);
    assert_string_equal(out.s, "john.doe");
    str_reset(&out);
    addr_quote_local("John Doe", &out);
    assert_string_equal(out.s, "\"John Doe\"");
    str_reset(&out);
    addr_quote_local("user@other", &out);
    assert_string_equal(out.s, "\"user@other\"");
    str_reset(&out);
    addr_quote_local("a\"b", &out);
    assert_string_equal(out.s, "\"a\\\"b\"");
    str_reset(&out);
    addr_quote_local("j\xc3\xb6rg", &out);
    assert_string_equal(out.s, "j\xc3\xb6rg");
    str_reset(&out);
    addr_quote_local("a..b", &out);
    assert_string_equal(out.s, "\"a..b\"");
    str_reset(&out);
    addr_external("john doe@example.com", &out);
    assert_string_equal(out.s, "\"john doe\"@example.com");
    str_reset(&out);
    addr_external("user@other@ourdomain", &out);
    assert_string_equal(out.s, "\"user@other\"@ourdomain");
    str_reset(&out);
    addr_external("postmaster", &out);
    assert_string_equal(out.s, "postmaster");
    str_reset(&out);
    addr_external("", &out);
    assert_string_equal(str_c(&out), "");
    str_free(&out);
}

static void test_quote_local_table(void **state)
{
    static const char *cases[][2] = {
        {"john.doe", "john.doe"},
        {"John Doe", "\"John Doe\""},
        {"user@other", "\"user@other\""},
        {"a\"b", "\"a\\\"b\""},
        {"a\\b", "\"a\\\\b\""},
        {".lead", "\".lead\""},
        {"trail.", "\"trail.\""},
        {"two..dots", "\"two..dots\""},
        {"", "\"\""},
        {"j\xc3\xb6rg", "j\xc3\xb6rg"}, /* UTF-8 is atext under SMTPUTF8 */
        {"!#$%&'*+-/=?^_`{|}~", "!#$%&'*+-/=?^_`{|}~"},
    };
    struct str out = STR_INIT;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        str_reset(&out);
        addr_quote_local(cases[i][0], &out);
        assert_string_equal(str_c(&out), cases[i][1]);
    }
    str_free(&out);
}

static void test_external_table(void **state)
{
    static const char *cases[][2] = {
        {"", ""},
        {"user@example.com", "user@example.com"},
        {"john doe@example.com", "\"john doe\"@example.com"},
        {"user@other@example.com", "\"user@other\"@example.com"}, /* last '@' splits */
        {"postmaster", "postmaster"},
    };
    struct str out = STR_INIT;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        str_reset(&out);
        addr_external(cases[i][0], &out);
        assert_string_equal(str_c(&out), cases[i][1]);
    }
    str_free(&out);
}

/* the one splitter: where the domain begins, and which internal addresses cannot be
 * split unambiguously (an address literal with '@' inside, issue #13 item 5) */
static void test_split_table(void **state)
{
    static const struct {
        const char *addr, *local, *domain;
        int rc;
    } cases[] = {
        {"user@example.com", "user", "example.com", 0},
        {"User@EXAMPLE.com", "User", "example.com", 0},
        {"a@b@example.test", "a@b", "example.test", 0}, /* "a@b"@example.test */
        {"postmaster", "postmaster", "", 0},
        {"", "", "", 0},
        {"user@[192.0.2.1]", "user", "[192.0.2.1]", 0},
        {"user@[IPv6:2001:db8::1]", "user", "[ipv6:2001:db8::1]", 0},
        {"user@[x-tag:abc]", "user", "[x-tag:abc]", 0},
        {"x@[1.2.3.4]@example.com", "x@[1.2.3.4]", "example.com", 0}, /* quoted local */
        {"a@[x:@[192.0.2.1]", "a@[x:", "[192.0.2.1]", 0},             /* quoted local */
        /* a literal that held '@': never routed to the tail */
        {"a@[x:@victim.example]", "a@[x:", "victim.example]", -1},
        {"a@[x:@[192.0.2.1]]", "a@[x:", "[192.0.2.1]]", -1},
        {"a@[x:@y@victim.example]", "a@[x:@y", "victim.example]", -1},
        {"a@vic[tim.example", "a", "vic[tim.example", -1},
        {"a@[]", "a", "[]", -1},
        {"a@[[1.2.3.4]", "a", "[[1.2.3.4]", -1},
    };
    struct str l = STR_INIT, d = STR_INIT;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = addr_split(cases[i].addr, &l, &d);
        assert_string_equal(str_c(&l), cases[i].local);
        assert_string_equal(str_c(&d), cases[i].domain);
        assert_int_equal(rc, cases[i].rc);
        assert_int_equal(addr_internal_ok(cases[i].addr), cases[i].rc == 0);
        const char *at = addr_domain_at(cases[i].addr);
        if (*cases[i].domain == '\0')
            assert_null(at);
        else
            assert_int_equal(at - cases[i].addr, strlen(cases[i].local));
    }
    str_free(&l);
    str_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_split_and_extension),
                                       cmocka_unit_test(test_domain_class),
                                       cmocka_unit_test(test_quote),
                                       cmocka_unit_test(test_quote_local_table),
                                       cmocka_unit_test(test_external_table),
                                       cmocka_unit_test(test_split_table)};
    return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
