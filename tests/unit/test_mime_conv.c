/*
 * test_mime_conv.c - unit tests of mime_conv.c (downgrade for a next hop, RFC 6152, RFC 3030)
 *
 * Each converted message is parsed again and every leaf part decoded: the decoded bytes
 * must equal those of the original part, the structure must be the same, and the output
 * must fit the mode (7-bit: no byte over 127, no NUL, lines of at most 998).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "mime.h"
#include "unit.h"

/* leaves - the leaf parts of a tree in order */
static void leaves(const struct mime_part *p, const struct mime_part **out, size_t *n)
{
    if (p->children) {
        for (const struct mime_part *k = p->children; k; k = k->next)
            leaves(k, out, n);
        return;
    }
    assert_true(*n < 32);
    out[(*n)++] = p;
}

/* check_7bit - what a server without 8BITMIME may get */
static void check_7bit(const struct str *s)
{
    size_t col = 0;

    for (size_t i = 0; i < s->len; i++) {
        unsigned char c = (unsigned char)s->s[i];
        assert_true(c > 0 && c < 128);
        col = c == '\n' ? 0 : col + 1;
        assert_true(col <= 1000);
    }
}

/* same_content - orig and conv have the same leaves with the same decoded bytes */
static void same_content(const char *orig, size_t olen, const struct str *conv)
{
    struct mime_message *a = mime_parse(orig, olen, NULL),
                        *b = mime_parse(conv->s, conv->len, NULL);
    const struct mime_part *la[32], *lb[32];
    size_t na = 0, nb = 0;
    struct str da = STR_INIT, db = STR_INIT;

    leaves(a->root, la, &na);
    leaves(b->root, lb, &nb);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        str_reset(&da);
        str_reset(&db);
        mime_part_decode(a, la[i], &da);
        mime_part_decode(b, lb[i], &db);
        assert_int_equal(da.len, db.len);
        assert_memory_equal(da.s, db.s, da.len);
        assert_string_equal(la[i]->type, lb[i]->type);
        assert_string_equal(la[i]->subtype, lb[i]->subtype);
    }
    str_free(&da);
    str_free(&db);
    mime_free(a);
    mime_free(b);
}

static void test_nothing_to_do(void **state)
{
    const char *msg = "Subject: plain\r\n\r\nhello\r\n";
    struct str out = STR_INIT, why = STR_INIT;

    (void)state;
    assert_int_equal(mime_downgrade(msg, strlen(msg), MIME_CONV_7BIT, &out, &why), MIME_CONV_NONE);
    assert_int_equal(out.len, 0);
    /* 8-bit text goes to an 8BITMIME server as it is */
    const char *eight = "Subject: x\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
                        "Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xe9\r\n";
    assert_int_equal(mime_downgrade(eight, strlen(eight), MIME_CONV_8BIT, &out, &why),
                     MIME_CONV_NONE);
    str_free(&out);
    str_free(&why);
}

static void test_8bit_text_to_quoted_printable(void **state)
{
    const char *msg =
        "Subject: x\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=iso-8859-1\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        "caf\xe9 = cr\xe8me  \r\n"
        "\t.leading dot and a tab\r\n"
        "a long line: "
        "\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9"
        "\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9 and some text after it\r\n"
        "bare\rcr and a last line without an end \xe9";
    struct str out = STR_INIT, why = STR_INIT;

    (void)state;
    assert_int_equal(mime_downgrade(msg, strlen(msg), MIME_CONV_7BIT, &out, &why), MIME_CONV_DONE);
    check_7bit(&out);
    assert_non_null(strstr(out.s, "\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"));
    assert_null(strstr(out.s, "8bit"));
    assert_non_null(strstr(out.s, "caf=E9 =3D cr=E8me =20\r\n"));
    assert_non_null(strstr(out.s, "bare=0Dcr"));
    /* no encoded line longer than 76 (RFC 2045 6.7 (5)) */
    const char *body = strstr(out.s, "\r\n\r\n") + 4;
    for (const char *l = body; *l;) {
        const char *e = strstr(l, "\r\n");
        size_t n = e ? (size_t)(e - l) : strlen(l);
        assert_true(n <= 76);
        l += n + (e ? 2 : 0);
    }
    same_content(msg, strlen(msg), &out);
    str_free(&out);
    str_free(&why);
}

/* a multipart with text, binary, 7-bit and an encapsulated message with an 8-bit part */
static const char multi[] = "From: a@example.test\r\n"
                            "Subject: parts\r\n"
                            "MIME-Version: 1.0\r\n"
                            "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
                            "Content-Transfer-Encoding: binary\r\n"
                            "\r\n"
                            "preamble\r\n"
                            "--outer\r\n"
                            "Content-Type: text/plain; charset=utf-8\r\n"
                            "Content-Transfer-Encoding: 8bit\r\n"
                            "\r\n"
                            "gr\xc3\xbc\xc3\x9f dich\r\n"
                            "--outer\r\n"
                            "Content-Type: application/octet-stream\r\n"
                            "Content-Transfer-Encoding: binary\r\n"
                            "\r\n"
                            "\x00\x01\x02\xff\n\r\x80 binary\r\n\x00"
                            "\r\n--outer\r\n"
                            "Content-Type: text/plain\r\n"
                            "\r\n"
                            "seven bit\r\n"
                            "--outer\r\n"
                            "Content-Type: message/rfc822\r\n"
                            "Content-Transfer-Encoding: 8bit\r\n"
                            "\r\n"
                            "Subject: inner\r\n"
                            "MIME-Version: 1.0\r\n"
                            "Content-Type: text/plain; charset=iso-8859-1\r\n"
                            "Content-Transfer-Encoding: 8bit\r\n"
                            "\r\n"
                            "d\xe9j\xe0 vu\r\n"
                            "--outer--\r\n"
                            "epilogue\r\n";

static void test_multipart_7bit(void **state)
{
    struct str out = STR_INIT, why = STR_INIT;

    (void)state;
    assert_int_equal(mime_downgrade(multi, sizeof(multi) - 1, MIME_CONV_7BIT, &out, &why),
                     MIME_CONV_DONE);
    check_7bit(&out);
    same_content(multi, sizeof(multi) - 1, &out);
    /* the text parts are quoted-printable, the binary one base64, containers 7bit */
    struct mime_message *m = mime_parse(out.s, out.len, NULL);
    const struct mime_part *l[32];
    size_t n = 0;
    leaves(m->root, l, &n);
    assert_int_equal(n, 4);
    assert_int_equal(l[0]->enc, MIME_ENC_QP);
    assert_int_equal(l[1]->enc, MIME_ENC_BASE64);
    assert_int_equal(l[2]->enc, MIME_ENC_7BIT);
    assert_int_equal(l[3]->enc, MIME_ENC_QP);
    assert_int_equal(m->root->enc, MIME_ENC_7BIT);
    assert_int_equal(l[3]->parent->parent->enc, MIME_ENC_7BIT); /* the message/rfc822 part */
    assert_non_null(strstr(out.s, "\r\npreamble\r\n--outer\r\n"));
    assert_non_null(strstr(out.s, "--outer--\r\nepilogue\r\n"));
    mime_free(m);
    str_free(&out);
    str_free(&why);
}

static void test_multipart_8bit_mode_only_binary(void **state)
{
    struct str out = STR_INIT, why = STR_INIT;

    (void)state;
    assert_int_equal(mime_downgrade(multi, sizeof(multi) - 1, MIME_CONV_8BIT, &out, &why),
                     MIME_CONV_DONE);
    for (size_t i = 0; i < out.len; i++)
        assert_true(out.s[i] != '\0');
    same_content(multi, sizeof(multi) - 1, &out);
    struct mime_message *m = mime_parse(out.s, out.len, NULL);
    const struct mime_part *l[32];
    size_t n = 0;
    leaves(m->root, l, &n);
    assert_int_equal(l[0]->enc, MIME_ENC_8BIT);
    assert_int_equal(l[1]->enc, MIME_ENC_BASE64);
    assert_int_equal(l[3]->enc, MIME_ENC_8BIT);
    assert_int_equal(m->root->enc, MIME_ENC_8BIT); /* binary -> 8bit */
    /* the 8-bit text went through byte for byte */
    assert_non_null(memmem(out.s, out.len, "gr\xc3\xbc\xc3\x9f dich\r\n", 12));
    mime_free(m);
    str_free(&out);
    str_free(&why);
}

static void test_cannot_convert(void **state)
{
    static const struct {
        const char *msg;
        int mode;
        const char *why;
    } t[] = {
        {"Subject: caf\xc3\xa9\r\n\r\nbody \xe9\r\n", MIME_CONV_7BIT, "header holds 8-bit"},
        {"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
         "Content-Type: text/plain; name=\"f\xe9.txt\"\r\n\r\n\xe9\r\n--b--\r\n",
         MIME_CONV_7BIT, "MIME part header"},
        {"Subject: x\r\nContent-Transfer-Encoding: base64\r\n\r\nYWJj\xe9\r\n", MIME_CONV_7BIT,
         "labelled \"base64\""},
    };
    struct str out = STR_INIT, why = STR_INIT;
    /* found by fuzz_mime: a NUL in a part header went to an 8BITMIME server */
    static const char nul_hdr[] = "Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n"
                                  "\r\n--b\r\nContent-Type: text/plain; a=\0\r\n\r\nx\r\n"
                                  "--b--\r\n";

    (void)state;
    assert_int_equal(mime_downgrade(nul_hdr, sizeof(nul_hdr) - 1, MIME_CONV_8BIT, &out, &why), -1);
    assert_non_null(strstr(why.s, "MIME part header holds NUL bytes"));
    /* found by fuzz_mime: a part header without its blank line before an outer boundary
     * ends a byte after its parent's body; the copy after it must not run backwards */
    static const char overlap[] = "Subject: b\nContent-Type: multipart/mixed; boundary=O\n\n"
                                  "--O\nContent-Type: multipart/alternative; boundary=I\n\n"
                                  "--I\nContent-Type: text/plain\n\nhello\n--I\n"
                                  "Content-Type: text/x\n--O\nContent-Type: text/plain\n\n"
                                  "bye \xe9\n--O--\n";
    str_reset(&why);
    assert_int_equal(mime_downgrade(overlap, sizeof(overlap) - 1, MIME_CONV_7BIT, &out, &why),
                     MIME_CONV_DONE);
    check_7bit(&out);
    assert_non_null(strstr(out.s, "\nbye =E9"));
    str_reset(&out);
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        str_reset(&why);
        assert_int_equal(mime_downgrade(t[i].msg, strlen(t[i].msg), t[i].mode, &out, &why), -1);
        assert_non_null(strstr(why.s, t[i].why));
        assert_int_equal(out.len, 0);
    }
    /* an 8-bit header is fine for an 8BITMIME server */
    assert_int_equal(mime_downgrade(t[0].msg, strlen(t[0].msg), MIME_CONV_8BIT, &out, &why),
                     MIME_CONV_NONE);
    str_free(&out);
    str_free(&why);
}

static void test_plain_message_gets_mime_headers(void **state)
{
    const char *msg = "Subject: old style\r\n\r\nna\xefve\r\n";
    struct str out = STR_INIT, why = STR_INIT;

    (void)state;
    assert_int_equal(mime_downgrade(msg, strlen(msg), MIME_CONV_7BIT, &out, &why), MIME_CONV_DONE);
    assert_string_equal(out.s, "Subject: old style\r\nMIME-Version: 1.0\r\n"
                               "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                               "na=EFve\r\n");
    /* NULs in a body never go out, even to an 8BITMIME server */
    const char nul[] = "Subject: n\r\n\r\na\0b\r\n";
    str_reset(&out);
    assert_int_equal(mime_downgrade(nul, sizeof(nul) - 1, MIME_CONV_8BIT, &out, &why),
                     MIME_CONV_DONE);
    assert_non_null(strstr(out.s, "Content-Transfer-Encoding: base64\r\n\r\nYQBiDQo="));
    same_content(nul, sizeof(nul) - 1, &out);
    str_free(&out);
    str_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_to_do),
        cmocka_unit_test(test_8bit_text_to_quoted_printable),
        cmocka_unit_test(test_multipart_7bit),
        cmocka_unit_test(test_multipart_8bit_mode_only_binary),
        cmocka_unit_test(test_cannot_convert),
        cmocka_unit_test(test_plain_message_gets_mime_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
