/*
 * test_maildrop.c - unit tests of maildrop.c (the maildrop file format, read as hostile input)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maildrop.h"
#include "mem.h"
#include "unit.h"

static const struct maildrop_limits lim = {1000, 3};

/* good - a valid file: envelope, two content chunks, end record */
static void good(struct str *out)
{
    maildrop_put(out, QREC_VERSION, MAILDROP_MAGIC, strlen(MAILDROP_MAGIC));
    maildrop_put(out, QREC_TIME, "1700000000.000001", 17);
    maildrop_put(out, QREC_SENDER, "user", 4);
    maildrop_put(out, QREC_ATTR, "fullname=J. Doe", 15);
    maildrop_put(out, QREC_ATTR, "ret=HDRS", 8);
    maildrop_put_rcpt(out, "a@example.com", "", 0);
    maildrop_put_rcpt(out, "\"b c\"@example.com", "rfc822;b@example.com", 6);
    maildrop_put(out, QREC_MESSAGE, "", 0);
    maildrop_put(out, QREC_DATA, "Subject: x\n\n", 12);
    maildrop_put(out, QREC_DATA, "body\n", 5);
    maildrop_put(out, QREC_END, "", 0);
}

/* parse - feed bytes through a pipe to the reader: 0 good, -1 with the reason in err */
static int parse(const struct str *in, struct maildrop_env *env, struct str *content,
                 struct str *err)
{
    int fds[2];
    struct maildrop_reader r;
    struct str chunk = STR_INIT;
    int rc;

    assert_int_equal(pipe(fds), 0);
    assert_true(in->len < 60000); /* fits the pipe buffer */
    assert_int_equal(write(fds[1], in->s, in->len), (ssize_t)in->len);
    close(fds[1]);
    maildrop_reader_init(&r, fds[0], &lim);
    rc = maildrop_read_envelope(&r, env, err);
    if (rc == 0)
        while ((rc = maildrop_read_content(&r, &chunk, err)) > 0)
            str_catn(content, chunk.s, chunk.len);
    close(fds[0]);
    str_free(&chunk);
    return rc;
}

static void test_good(void **state)
{
    struct str in = STR_INIT, content = STR_INIT, err = STR_INIT;
    struct maildrop_env env;

    (void)state;
    good(&in);
    assert_int_equal(parse(&in, &env, &content, &err), 0);
    assert_string_equal(env.sender, "user");
    assert_int_equal(env.sec, 1700000000);
    assert_int_equal(env.nrcpts, 2);
    assert_string_equal(env.rcpts[1].addr, "\"b c\"@example.com");
    assert_string_equal(env.rcpts[1].orcpt, "rfc822;b@example.com");
    assert_int_equal(env.rcpts[1].notify, 6);
    assert_string_equal(maildrop_env_attr(&env, "fullname"), "J. Doe");
    assert_string_equal(maildrop_env_attr(&env, "ret"), "HDRS");
    assert_null(maildrop_env_attr(&env, "envid"));
    assert_string_equal(str_c(&content), "Subject: x\n\nbody\n");
    maildrop_env_free(&env);
    str_free(&in);
    str_free(&content);
    str_free(&err);
}

/* mutate - a good file changed by fn must be refused with a reason containing why */
static void refused(void (*fn)(struct str *), const char *why)
{
    struct str in = STR_INIT, content = STR_INIT, err = STR_INIT;
    struct maildrop_env env;

    fn(&in);
    assert_int_equal(parse(&in, &env, &content, &err), -1);
    if (strstr(str_c(&err), why) == NULL)
        fail_msg("expected '%s' in '%s'", why, str_c(&err));
    maildrop_env_free(&env);
    str_free(&in);
    str_free(&content);
    str_free(&err);
}

static void m_empty(struct str *o)
{
    (void)o;
}
static void m_magic(struct str *o)
{
    maildrop_put(o, QREC_VERSION, "PETREL1", 7);
}
static void m_truncated(struct str *o)
{
    good(o);
    str_truncate(o, o->len - 3);
}
static void m_no_end(struct str *o)
{
    good(o);
    str_truncate(o, o->len - QFILE_HDR);
}
static void m_trailing(struct str *o)
{
    good(o);
    str_cat(o, "x");
}
static void m_attr(struct str *o)
{
    maildrop_put(o, QREC_VERSION, MAILDROP_MAGIC, strlen(MAILDROP_MAGIC));
    maildrop_put(o, QREC_SENDER, "", 0);
    maildrop_put(o, QREC_ATTR, "client_address=1.2.3.4", 22);
}
static void m_ctrl(struct str *o)
{
    maildrop_put(o, QREC_VERSION, MAILDROP_MAGIC, strlen(MAILDROP_MAGIC));
    maildrop_put(o, QREC_SENDER, "a\r\nb", 4);
}
static void m_rcpts(struct str *o)
{
    maildrop_put(o, QREC_VERSION, MAILDROP_MAGIC, strlen(MAILDROP_MAGIC));
    maildrop_put(o, QREC_SENDER, "", 0);
    for (int i = 0; i < 4; i++)
        maildrop_put_rcpt(o, "a@b", "", 0);
}
static void m_norcpt(struct str *o)
{
    maildrop_put(o, QREC_VERSION, MAILDROP_MAGIC, strlen(MAILDROP_MAGIC));
    maildrop_put(o, QREC_SENDER, "", 0);
    maildrop_put(o, QREC_MESSAGE, "", 0);
}
static void m_big_record(struct str *o)
{
    char *big = xcalloc(1, MAILDROP_ENV_RECORD_MAX + 1);
    memset(big, 'a', MAILDROP_ENV_RECORD_MAX + 1);
    maildrop_put(o, QREC_VERSION, MAILDROP_MAGIC, strlen(MAILDROP_MAGIC));
    maildrop_put(o, QREC_SENDER, big, MAILDROP_ENV_RECORD_MAX + 1);
    free(big);
}
static void m_big_content(struct str *o)
{
    char *big = xcalloc(1, 1001);
    maildrop_put(o, QREC_VERSION, MAILDROP_MAGIC, strlen(MAILDROP_MAGIC));
    maildrop_put(o, QREC_SENDER, "", 0);
    maildrop_put_rcpt(o, "a@b", "", 0);
    maildrop_put(o, QREC_MESSAGE, "", 0);
    maildrop_put(o, QREC_DATA, big, 1001);
    maildrop_put(o, QREC_END, "", 0);
    free(big);
}
static void m_bad_notify(struct str *o)
{
    maildrop_put(o, QREC_VERSION, MAILDROP_MAGIC, strlen(MAILDROP_MAGIC));
    maildrop_put(o, QREC_SENDER, "", 0);
    maildrop_put_rcpt(o, "a@b", "", 3); /* NEVER with FAILURE */
}
static void m_type(struct str *o)
{
    maildrop_put(o, QREC_VERSION, MAILDROP_MAGIC, strlen(MAILDROP_MAGIC));
    maildrop_put(o, QREC_SENDER, "", 0);
    maildrop_put(o, QREC_RCPT_DONE, "a@b\0\0000", 7);
}
static void m_bad_utf8(struct str *o)
{
    maildrop_put(o, QREC_VERSION, MAILDROP_MAGIC, strlen(MAILDROP_MAGIC));
    maildrop_put(o, QREC_SENDER, "\xc3(", 2);
}

static void test_refused(void **state)
{
    (void)state;
    refused(m_empty, "empty file");
    refused(m_magic, "not a maildrop file");
    refused(m_truncated, "truncated");
    refused(m_no_end, "missing end record");
    refused(m_trailing, "data after the end record");
    refused(m_attr, "not allowed");
    refused(m_ctrl, "sender");
    refused(m_rcpts, "more than 3 recipients");
    refused(m_norcpt, "no recipient");
    refused(m_big_record, "exceeds the limit");
    refused(m_big_content, "content exceeds 1000 bytes");
    refused(m_bad_notify, "malformed recipient");
    refused(m_type, "unexpected record type 0x72");
    refused(m_bad_utf8, "sender");
}

static void test_printable(void **state)
{
    (void)state;
    assert_true(maildrop_printable("J\xc3\xa9r\xc3\xb4me", 8));
    assert_false(maildrop_printable("a\tb", 3));
    assert_false(maildrop_printable("\xed\xa0\x80", 3)); /* a surrogate */
    assert_false(maildrop_printable("\xc0\xaf", 2));     /* overlong */
    assert_false(maildrop_printable("\xe2\x82", 2));     /* cut short */
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_good), cmocka_unit_test(test_refused),
                                       cmocka_unit_test(test_printable)};
    return cmocka_run_group_tests_name("maildrop", tests, NULL, NULL);
}
