/*
 * test_mime.c - unit tests of the MIME parser (mime.c, mime_hdr.c, mime_addr.c) and charset.c
 *
 * Table-driven where the inputs are many; the RFC examples (RFC 2047 8,
 * RFC 2231, RFC 5322 appendix A) are used as they are printed there.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "charset.h"
#include "mem.h"
#include "mime.h"
#include "unit.h"

/* ---- regions and structure ---- */

static void test_single_part_regions(void **state)
{
    const char *lf = "Subject: x\nFrom: a@b\n\nline1\nline2\n";
    const char *crlf = "Subject: x\r\nFrom: a@b\r\n\r\nline1\r\nline2\r\n";
    struct mime_message *a = mime_parse(lf, strlen(lf), NULL);
    struct mime_message *b = mime_parse(crlf, strlen(crlf), NULL);

    assert_int_equal(a->root->hdr.size, 22);
    assert_int_equal(a->root->hdr.vsize, 25);
    assert_int_equal(b->root->hdr.size, 25);
    assert_int_equal(b->root->hdr.vsize, 25);
    assert_int_equal(a->root->hdr.lines, 3);
    assert_int_equal(a->root->body.off, 22);
    assert_int_equal(a->root->body.size, 12);
    assert_int_equal(a->root->body.vsize, 14);
    assert_int_equal(b->root->body.vsize, 14);
    assert_int_equal(a->root->body.lines, 2);
    assert_int_equal(b->root->body.lines, 2);
    assert_string_equal(a->root->type, "TEXT");
    assert_true(a->root->flags & MIME_PART_DEFAULT_TYPE);
    assert_true(a->root->flags & MIME_PART_MESSAGE);
    assert_int_equal(a->nparts, 1);
    mime_free(a);
    mime_free(b);
}

/* the header-only parse: the same header region and fields as the whole parse, no body */
static void test_open_fd_header(void **state)
{
    static const char *const cases[] = {
        "Subject: one\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b--\n",
        "Subject: crlf\r\nFrom: a@b\r\n\r\nbody\r\n\r\nmore\r\n",
        "Subject: no blank line\nX: y",
        "\nbody without header\n",
        "\r\nbody\r\n",
        "",
        "Subject: folded\n continued\n\n",
    };
    char *dir = unit_tmpdir();
    char *path = xasprintf("%s/msg", dir);
    struct str err = STR_INIT, v1 = STR_INIT, v2 = STR_INIT;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unit_write_file(path, cases[i]);
        int fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        struct mime_message *all = mime_open_fd(fd, NULL, &err);
        struct mime_message *hdr = mime_open_fd_header(fd, NULL, &err);
        close(fd);
        assert_non_null(all);
        assert_non_null(hdr);
        assert_int_equal(hdr->root->hdr.off, all->root->hdr.off);
        assert_int_equal(hdr->root->hdr.size, all->root->hdr.size);
        assert_int_equal(hdr->root->hdr.lines, all->root->hdr.lines);
        assert_int_equal(hdr->size, all->root->hdr.size);
        assert_int_equal(hdr->root->body.size, 0);
        assert_int_equal(hdr->map_size, strlen(cases[i]));
        int f1 = mime_header_get(all, all->root, "Subject", &v1);
        int f2 = mime_header_get(hdr, hdr->root, "Subject", &v2);
        assert_int_equal(f1, f2);
        assert_string_equal(str_c(&v1), str_c(&v2));
        mime_free(all);
        mime_free(hdr);
        str_reset(&v1);
        str_reset(&v2);
    }
    str_free(&v1);
    str_free(&v2);
    str_free(&err);
    unit_rmtree(dir);
    free(dir);
    free(path);
}

static void test_empty_and_headerless(void **state)
{
    struct mime_message *m = mime_parse("", 0, NULL);
    assert_int_equal(m->root->hdr.size, 0);
    assert_int_equal(m->root->body.size, 0);
    assert_true(m->root->flags & MIME_PART_NOBLANK);
    mime_free(m);

    m = mime_parse(NULL, 0, NULL);
    assert_int_equal(m->size, 0);
    mime_free(m);

    /* a body without any header: the blank line comes first */
    m = mime_parse("\nbody\n", 6, NULL);
    assert_int_equal(m->root->hdr.size, 1);
    assert_int_equal(m->root->body.size, 5);
    assert_int_equal(m->root->body.lines, 1);
    mime_free(m);

    /* the last line without a line end still counts as a line */
    m = mime_parse("A: b\n\nx\ny", 9, NULL);
    assert_int_equal(m->root->body.lines, 2);
    assert_int_equal(m->root->body.vsize, 4);
    mime_free(m);
}

static void test_nul_and_bare_cr(void **state)
{
    static const char msg[] = "Subject: a\0b\r\nX: \r\r\n\r\nbo\0dy\rmore\n";
    struct mime_message *m = mime_parse(msg, sizeof(msg) - 1, NULL);
    struct str v = STR_INIT;

    assert_int_equal(m->root->body.size, 11);
    assert_int_equal(m->root->body.vsize, 12);
    assert_int_equal(m->root->body.lines, 1);
    assert_true(mime_header_get(m, m->root, "subject", &v));
    assert_string_equal(str_c(&v), "ab"); /* NULs dropped from header values */
    mime_free(m);
    str_free(&v);
}

static void str_write(void *ctx, const void *p, size_t n)
{
    str_catn(ctx, p, n);
}

/* mime_vsize against a byte-at-a-time count: LF-only input (the counted fast path, every
 * length and start offset around its 16-byte steps and 255-step rounds), CRs anywhere */
static size_t vsize_slow(const char *p, size_t n)
{
    size_t v = n;
    for (size_t i = 0; i < n; i++)
        v += p[i] == '\n' && (i == 0 || p[i - 1] != '\r');
    return v;
}

static void test_vsize(void **state)
{
    size_t cap = 16 * 255 * 2 + 100;
    char *buf = malloc(cap);
    unsigned seed = 7;

    for (int with_cr = 0; with_cr < 2; with_cr++) {
        for (size_t i = 0; i < cap; i++) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = (seed >> 16) % 23;
            buf[i] = r == 0 ? '\n' : r == 1 && with_cr ? '\r' : r == 2 ? '\0' : (char)(0x20 + r);
        }
        buf[cap - 1] = '\n';
        for (size_t off = 0; off < 17; off += 5)
            for (size_t n = 0; off + n <= cap; n += n < 300 ? 1 : 61)
                assert_int_equal(mime_vsize(buf + off, n), vsize_slow(buf + off, n));
    }
    memset(buf, '\n', cap); /* every byte counts: no byte counter may wrap */
    assert_int_equal(mime_vsize(buf, cap), 2 * cap);
    free(buf);
    (void)state;
}

static void test_write_crlf(void **state)
{
    struct str out = STR_INIT;
    static const char in[] = "a\nb\r\nc\0d\n";

    assert_int_equal(mime_vsize(in, sizeof(in) - 1), 11);
    struct {
        size_t skip, max;
        const char *want;
        size_t wlen;
    } cases[] = {
        {0, 100,
         "a\r\nb\r\nc\x80"
         "d\r\n",
         11},
        {1, 100,
         "\r\nb\r\nc\x80"
         "d\r\n",
         10},
        {2, 3, "\nb\r", 3},
        {10, 5, "\n", 1},
        {11, 5, "", 0},
        {0, 0, "", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        str_reset(&out);
        mime_write_crlf(in, sizeof(in) - 1, cases[i].skip, cases[i].max, str_write, &out);
        assert_int_equal(out.len, cases[i].wlen);
        assert_memory_equal(str_c(&out), cases[i].want, cases[i].wlen);
    }
    /* long input across the writer's internal buffer: lines, one line longer than the
     * buffer, CRLF lines, NULs; every window of it equals the same slice of the whole */
    struct str big = STR_INIT, want = STR_INIT;
    for (int i = 0; i < 3000; i++) {
        str_printf(&big, "line %d %s%s", i, i % 7 ? "" : "\r", i % 11 ? "\n" : "");
        str_printf(&want, "line %d %s", i, i % 11 ? "\r\n" : i % 7 ? "" : "\r");
        if (i == 1500) {
            for (int k = 0; k < 70000; k++) {
                str_catc(&big, k % 5000 ? 'x' : '\0');
                str_catc(&want, k % 5000 ? 'x' : (char)0x80);
            }
        }
    }
    assert_int_equal(mime_vsize(big.s, big.len), want.len);
    static const size_t windows[][2] = {
        {0, (size_t)-1}, {1, 100}, {32760, 40000}, {70000, 5}, {100000, 1000000}};
    for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
        size_t skip = windows[i][0], max = windows[i][1];
        size_t wl = skip >= want.len ? 0 : want.len - skip < max ? want.len - skip : max;
        str_reset(&out);
        mime_write_crlf(big.s, big.len, skip, max, str_write, &out);
        assert_int_equal(out.len, wl);
        assert_memory_equal(str_c(&out), want.s + skip, wl);
    }
    str_free(&big);
    str_free(&want);
    str_free(&out);
}

static void test_multipart_boundaries(void **state)
{
    /* RFC 2046 5.1.1: transport padding after a delimiter, the CRLF before a
     * delimiter belongs to it, preamble and epilogue belong to no part */
    const char *msg = "Content-Type: multipart/mixed; boundary=\"simple boundary\"\n"
                      "\n"
                      "This is the preamble.\n"
                      "--simple boundary  \n"
                      "\n"
                      "plain text no line end\n"
                      "--simple boundary\n"
                      "Content-type: text/plain; charset=us-ascii\n"
                      "\n"
                      "with line end\n"
                      "\n"
                      "--simple boundary--\n"
                      "--simple boundary\n"
                      "epilogue\n";
    struct mime_message *m = mime_parse(msg, strlen(msg), NULL);
    const struct mime_part *r = m->root;

    assert_true(r->flags & MIME_PART_MULTIPART);
    assert_int_equal(r->nchildren, 2);
    const struct mime_part *a = r->children, *b = a->next;
    assert_int_equal(a->body.size, 22);
    assert_memory_equal(msg + a->body.off, "plain text no line end", 22);
    assert_int_equal(b->body.size, 14); /* "with line end\n": the next one is the delimiter's */
    assert_int_equal(b->body.vsize, 15);
    assert_int_equal(b->body.lines, 1);
    assert_false(r->flags & MIME_PART_NO_END);
    mime_free(m);
}

static void test_boundary_prefix_and_outer(void **state)
{
    /* an inner boundary that extends the outer one; the inner close delimiter
     * is missing and the outer delimiter ends the inner multipart */
    const char *msg = "Content-Type: multipart/mixed; boundary=ab\n\n"
                      "--ab\n"
                      "Content-Type: multipart/alternative; boundary=abc\n\n"
                      "--abc\n\none\n"
                      "--abcd\n" /* not a delimiter of either */
                      "--abc\n\ntwo\n"
                      "--ab\n\nthree\n"
                      "--ab--\n";
    struct mime_message *m = mime_parse(msg, strlen(msg), NULL);
    const struct mime_part *r = m->root;

    assert_int_equal(r->nchildren, 2);
    const struct mime_part *alt = r->children;
    assert_int_equal(alt->nchildren, 2);
    assert_true(alt->flags & MIME_PART_NO_END);
    assert_int_equal(alt->children->body.size, 10);
    assert_memory_equal(msg + alt->children->body.off, "one\n--abcd", 10);
    assert_memory_equal(msg + alt->children->next->body.off, "two", 3);
    assert_int_equal(alt->children->next->body.size, 3);
    assert_memory_equal(msg + alt->next->body.off, "three", 5);
    mime_free(m);
}

static void test_header_runs_into_boundary(void **state)
{
    const char *msg = "Content-Type: multipart/mixed; boundary=b\n\n"
                      "--b\n"
                      "Content-Type: text/plain\n"
                      "--b\n"
                      "Content-Type: text/html\n\n"
                      "--b--\n";
    struct mime_message *m = mime_parse(msg, strlen(msg), NULL);
    const struct mime_part *a = m->root->children;

    assert_int_equal(m->root->nchildren, 2);
    assert_true(a->flags & MIME_PART_NOBLANK);
    assert_int_equal(a->body.size, 0);
    assert_string_equal(a->subtype, "plain");
    assert_string_equal(a->next->subtype, "html");
    assert_int_equal(a->next->body.size, 0); /* the line end was the header's blank line */
    mime_free(m);
}

/* nest - a message nested depth times (alternating multipart and message/rfc822) */
static char *nest(int depth)
{
    struct str s = STR_INIT;
    for (int i = 0; i < depth; i++) {
        if (i % 2 == 0)
            str_printf(&s, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i);
        else
            str_cat(&s, "Content-Type: message/rfc822\n\n");
    }
    str_cat(&s, "Content-Type: text/plain\n\ndeepest\n");
    for (int i = depth - 1; i >= 0; i--)
        if (i % 2 == 0)
            str_printf(&s, "--b%d--\n", i);
    return str_steal(&s);
}

static void test_depth_limit(void **state)
{
    char *msg = nest(200);
    struct mime_limits lim = {10, 0};
    struct mime_message *m = mime_parse(msg, strlen(msg), &lim);
    const struct mime_part *p = m->root;
    unsigned depth = 0;

    while (p->children) {
        p = p->children;
        depth++;
    }
    assert_int_equal(depth, 10);
    assert_true(m->flags & MIME_MSG_LIMITED);
    /* the part at the limit keeps everything below it, up to its parent's delimiter */
    assert_true(p->body.size > 0);
    mime_free(m);

    m = mime_parse(msg, strlen(msg), NULL); /* the default limit holds too */
    assert_true(m->flags & MIME_MSG_LIMITED);
    mime_free(m);
    free(msg);

    msg = nest(6);
    m = mime_parse(msg, strlen(msg), NULL);
    assert_false(m->flags & MIME_MSG_LIMITED);
    assert_int_equal(m->nparts, 7);
    mime_free(m);
    free(msg);
}

static void test_part_limit(void **state)
{
    struct str s = STR_INIT;
    str_cat(&s, "Content-Type: multipart/mixed; boundary=x\n\n");
    for (int i = 0; i < 50; i++)
        str_printf(&s, "--x\n\npart %d\n", i);
    str_cat(&s, "--x--\nepilogue\n");
    struct mime_limits lim = {0, 10};
    struct mime_message *m = mime_parse(s.s, s.len, &lim);

    assert_int_equal(m->nparts, 10);
    assert_int_equal(m->root->nchildren, 9);
    assert_true(m->flags & MIME_MSG_LIMITED);
    /* numbering of the parts that exist is unchanged */
    const struct mime_part *c = m->root->children;
    for (int i = 0; i < 9; i++, c = c->next) {
        char want[16];
        snprintf(want, sizeof(want), "part %d", i);
        assert_memory_equal(s.s + c->body.off, want, strlen(want));
    }
    assert_int_equal(m->root->body.off + m->root->body.size, s.len);
    mime_free(m);
    str_free(&s);
}

static void test_garbage_never_crashes(void **state)
{
    /* a deterministic pseudo-random soup of MIME-ish fragments */
    static const char *frags[] = {"--a\n",
                                  "--a--\n",
                                  "\n",
                                  "\r\n",
                                  "Content-Type: multipart/mixed; boundary=a\n",
                                  "Content-Type: message/rfc822\n",
                                  "x: y\n",
                                  "\0",
                                  "=?utf-8?q?x?=",
                                  " folded\n",
                                  "--b\n",
                                  "Content-Type: multipart/digest; boundary=b\n",
                                  "\r",
                                  "body text\n"};
    unsigned seed = 12345;
    for (int round = 0; round < 300; round++) {
        struct str s = STR_INIT;
        int n = 1 + (int)(seed % 60);
        for (int i = 0; i < n; i++) {
            seed = seed * 1103515245 + 12345;
            const char *f = frags[(seed >> 16) % (sizeof(frags) / sizeof(frags[0]))];
            str_catn(&s, f, *f ? strlen(f) : 1);
        }
        struct mime_message *m = mime_parse(s.s, s.len, NULL);
        /* every region lies inside the message and sizes add up */
        assert_int_equal(m->root->hdr.size + m->root->body.size, s.len);
        mime_free(m);
        str_free(&s);
    }
}

/* ---- header fields ---- */

static void test_fields_and_unfolding(void **state)
{
    const char *msg = "Subject: This\n is a test\n\t folded\nX-Empty:\nBad line\n"
                      " stray\nName With Space: v\nKey : obs\n\n";
    struct mime_message *m = mime_parse(msg, strlen(msg), NULL);
    struct str v = STR_INIT;
    struct mime_field f;
    size_t pos = 0;
    const char *names[] = {"Subject", "X-Empty", "Key"};
    int i = 0;

    while (mime_field_next(m->data, &m->root->hdr, &pos, &f)) {
        assert_true(i < 3);
        assert_int_equal(f.name_len, strlen(names[i]));
        assert_memory_equal(f.name, names[i], f.name_len);
        i++;
    }
    assert_int_equal(i, 3);
    assert_true(mime_header_get(m, m->root, "SUBJECT", &v));
    assert_string_equal(str_c(&v), "This is a test\t folded");
    str_reset(&v);
    assert_true(mime_header_get(m, m->root, "x-empty", &v));
    assert_string_equal(str_c(&v), "");
    str_reset(&v);
    assert_true(mime_header_get(m, m->root, "key", &v));
    assert_string_equal(str_c(&v), "obs");
    assert_false(mime_header_get(m, m->root, "Bad line", &v));
    mime_free(m);
    str_free(&v);
}

/* ---- RFC 2047 ---- */

static void test_rfc2047(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        /* RFC 2047 section 8 */
        {"(=?ISO-8859-1?Q?a?=)", "(a)"},
        {"(=?ISO-8859-1?Q?a?= b)", "(a b)"},
        {"(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)"},
        {"(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(ab)"},
        {"(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", "(ab)"},
        {"(=?ISO-8859-1?Q?a_b?=)", "(a b)"},
        {"(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)"},
        {"=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=", "Keld J\xc3\xb8rn Simonsen"},
        {"=?ISO-8859-1?Q?Andr=E9?= Pirard", "Andr\xc3\xa9 Pirard"},
        {"=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?= "
         "=?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
         "If you can read this you understand the example."},
        /* RFC 2231 5: language in an encoded word */
        {"=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore"},
        /* a multi-byte character split over two words of the same charset */
        {"=?UTF-8?B?4oKs?= =?UTF-8?Q?=E2=82?= =?UTF-8?Q?=AC?=", "\xe2\x82\xac\xe2\x82\xac"},
        /* lower-case encoding letters, unknown charsets, broken words */
        {"=?utf-8?q?caf=C3=A9?=", "caf\xc3\xa9"},
        {"=?x-unknown?Q?abc?=", "abc"},
        {"=?utf-8?X?abc?=", "=?utf-8?X?abc?="},
        {"=?utf-8?Q?no end", "=?utf-8?Q?no end"},
        {"=?utf-8?Q?a b?=", "=?utf-8?Q?a b?="},
        {"a =?utf-8?Q?b?= c", "a b c"},
        /* raw 8-bit: UTF-8 kept, anything else read as Windows-1252 */
        {"caf\xc3\xa9", "caf\xc3\xa9"},
        {"caf\xe9 \x80", "caf\xc3\xa9 \xe2\x82\xac"},
        /* a NUL decoded from a word is dropped */
        {"=?utf-8?Q?a=00b?=", "ab"},
        /* ISO-2022-JP: stateful, through iconv */
        {"=?ISO-2022-JP?B?GyRCJEYkOSRIGyhC?=", "\xe3\x81\xa6\xe3\x81\x99\xe3\x81\xa8"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct str out = STR_INIT;
        mime_decode_header(cases[i].in, strlen(cases[i].in), &out);
        if (strcmp(str_c(&out), cases[i].out) != 0)
            fail_msg("case %zu: %s -> %s", i, cases[i].in, str_c(&out));
        str_free(&out);
    }
}

/* ---- Content-Type and RFC 2231 ---- */

static void test_content_type(void **state)
{
    static const struct {
        const char *in, *type, *subtype, *params; /* params: "name=value;" ... */
    } cases[] = {
        {"text/plain", "text", "plain", ""},
        {"TEXT/PLAIN; charset=us-ascii (Plain text)", "TEXT", "PLAIN", "charset=us-ascii;"},
        {"text/plain; charset=\"us-ascii\"", "text", "plain", "charset=us-ascii;"},
        {" (comment) text / html ; a=1;b=\"2;3\" ; c = 4", "text", "html", "a=1;b=2;3;c=4;"},
        {"application/octet-stream; name=my file.pdf", "application", "octet-stream",
         "name=my file.pdf;"},
        {"text/plain; charset=\"a\\\"b\"", "text", "plain", "charset=a\"b;"},
        {"text/plain;; junk ; x=y", "text", "plain", "x=y;"},
        /* RFC 2231 examples */
        {"message/external-body; access-type=URL;\r\n URL*0=\"ftp://\";\r\n"
         " URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"",
         "message", "external-body",
         "access-type=URL;URL=ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar;"},
        {"application/x-stuff;\r\n title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A",
         "application", "x-stuff", "title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A;"},
        /* sections out of order and repeated */
        {"a/b; n*1=B; n*0=A; n*1=X; n*2=C", "a", "b", "n=ABC;"},
        /* an extended section after a plain first one */
        {"a/b; n*0=A; n*1*=%41", "a", "b", "n*=''A%41;"},
        /* not RFC 2231 forms: kept as they are */
        {"a/b; n*x=1; *=2; n*01=3", "a", "b", "n*x=1;*=2;n*01=3;"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mime_pool *pool = mime_pool_new();
        const char *t, *s;
        struct mime_param *pv;
        unsigned np;
        assert_int_equal(
            mime_content_type(pool, cases[i].in, strlen(cases[i].in), &t, &s, &pv, &np), 0);
        assert_string_equal(t, cases[i].type);
        assert_string_equal(s, cases[i].subtype);
        struct str got = STR_INIT;
        for (unsigned k = 0; k < np; k++)
            str_printf(&got, "%s=%s;", pv[k].name, pv[k].value);
        if (strcmp(str_c(&got), cases[i].params) != 0)
            fail_msg("case %zu: %s", i, str_c(&got));
        str_free(&got);
        mime_pool_free(pool);
    }
    static const char *bad[] = {"", "text", "text/", "/plain", "(just a comment)"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct mime_pool *pool = mime_pool_new();
        const char *t, *s;
        struct mime_param *pv;
        unsigned np;
        assert_int_equal(mime_content_type(pool, bad[i], strlen(bad[i]), &t, &s, &pv, &np), -1);
        mime_pool_free(pool);
    }
}

static void test_param_decoded(void **state)
{
    static const struct {
        const char *in, *name, *out;
    } cases[] = {
        {"a/b; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A", "title",
         "This is ***fun***"},
        {"a/b; title*0*=us-ascii'en'This%20is%20even%20more%20; "
         "title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2=\"isn't it!\"",
         "title", "This is even more ***fun*** isn't it!"},
        {"a/b; filename*=UTF-8''%E2%82%AC%20rates.txt", "filename", "\xe2\x82\xac rates.txt"},
        {"a/b; filename*=iso-8859-1''caf%E9", "filename", "caf\xc3\xa9"},
        {"a/b; filename=\"=?UTF-8?B?4oKs?=.txt\"", "filename", "\xe2\x82\xac.txt"},
        {"a/b; filename=plain.txt; filename*=utf-8''better.txt", "filename", "better.txt"},
        {"a/b; name*=noquotes%41", "name", "noquotesA"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mime_pool *pool = mime_pool_new();
        const char *t, *s;
        struct mime_param *pv;
        unsigned np;
        struct str out = STR_INIT;
        assert_int_equal(
            mime_content_type(pool, cases[i].in, strlen(cases[i].in), &t, &s, &pv, &np), 0);
        assert_true(mime_param_decoded(pv, np, cases[i].name, &out));
        if (strcmp(str_c(&out), cases[i].out) != 0)
            fail_msg("case %zu: %s", i, str_c(&out));
        str_free(&out);
        assert_false(mime_param_decoded(pv, np, "absent", &out));
        mime_pool_free(pool);
    }
}

/* ---- transfer decoding ---- */

static void test_quoted_printable(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"Gr=FC=DFe", "Gr\xfc\xdf"
                      "e"},
        {"soft=\r\nbreak", "softbreak"},
        {"soft=  \nbreak", "softbreak"},
        {"trailing   \r\nspace\t\n", "trailing\r\nspace\n"},
        {"bad =ZZ escape =4", "bad =ZZ escape =4"},
        {"lower =c3=a9", "lower \xc3\xa9"},
        {"end=", "end"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct str out = STR_INIT;
        mime_decode_qp(cases[i].in, strlen(cases[i].in), &out);
        assert_string_equal(str_c(&out), cases[i].out);
        str_free(&out);
    }
}

static void test_part_text(void **state)
{
    const char *msg = "Content-Type: multipart/mixed; boundary=z\n\n"
                      "--z\nContent-Type: text/plain; charset=iso-8859-1\n"
                      "Content-Transfer-Encoding: quoted-printable\n\nK=F6ln\n"
                      "--z\nContent-Type: text/plain; charset=utf-8\n"
                      "Content-Transfer-Encoding: base64\n\nw6l0w6k=\n"
                      "--z\nContent-Type: text/plain; charset=koi8-r\n\n\xf0\xd2\xc9\xd7\xc5\xd4\n"
                      "--z--\n";
    struct mime_message *m = mime_parse(msg, strlen(msg), NULL);
    const struct mime_part *p = m->root->children;
    const char *want[] = {"K\xc3\xb6ln", "\xc3\xa9t\xc3\xa9",
                          "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"};

    for (int i = 0; i < 3; i++, p = p->next) {
        struct str out = STR_INIT;
        mime_part_text(m, p, &out);
        assert_string_equal(str_c(&out), want[i]);
        str_free(&out);
    }
    mime_free(m);
}

static void test_charset(void **state)
{
    struct str out = STR_INIT;

    assert_true(charset_known("utf-8"));
    assert_true(charset_known("ISO-8859-15"));
    assert_true(charset_known(NULL));
    assert_false(charset_known("x-no-such-charset"));
    assert_int_equal(charset_to_utf8("x-no-such-charset", "a\xe9", 2, &out), -1);
    assert_string_equal(str_c(&out), "a\xc3\xa9");
    str_reset(&out);
    /* invalid input in a real charset becomes U+FFFD */
    charset_to_utf8("shift_jis", "\x82", 1, &out);
    assert_string_equal(str_c(&out), "\xef\xbf\xbd");
    str_reset(&out);
    assert_true(utf8_valid("\xc3\xa9", 2));
    assert_false(utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    utf8_fold("\xc3\x89T\xc3\x89 \xd0\x9f\xd0\xa0\xd0\x98", 13, &out);
    assert_string_equal(str_c(&out), "\xc3\xa9t\xc3\xa9 \xd0\xbf\xd1\x80\xd0\xb8");
    str_free(&out);
}

/* ---- addresses (RFC 5322 appendix A) ---- */

static void addr_str(const char *in, struct str *out)
{
    struct mime_addrlist l = {NULL, 0, 0};

    mime_parse_addresses(in, strlen(in), &l);
    for (size_t i = 0; i < l.n; i++)
        str_printf(out, "[%s|%s|%s|%s]", l.v[i].name ? l.v[i].name : "NIL",
                   l.v[i].route ? l.v[i].route : "NIL", l.v[i].mailbox ? l.v[i].mailbox : "NIL",
                   l.v[i].host ? l.v[i].host : "NIL");
    mime_addrlist_free(&l);
}

static void test_addresses(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"John Doe <jdoe@machine.example>", "[John Doe|NIL|jdoe|machine.example]"},
        {"\"Mary Smith: Personal Account\" <smith@home.example>",
         "[Mary Smith: Personal Account|NIL|smith|home.example]"},
        {"Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
         "[Mary Smith|NIL|mary|x.test][NIL|NIL|jdoe|example.org][Who?|NIL|one|y.test]"},
        {"<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>",
         "[NIL|NIL|boss|nil.test][Giant; \"Big\" Box|NIL|sysservices|example.net]"},
        {"A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
         "[NIL|NIL|A Group|NIL][Ed Jones|NIL|c|a.test][NIL|NIL|joe|where.test]"
         "[John|NIL|jdoe|one.test][NIL|NIL|NIL|NIL]"},
        {"Undisclosed recipients:;", "[NIL|NIL|Undisclosed recipients|NIL][NIL|NIL|NIL|NIL]"},
        /* A.6.1 obsolete phrase, A.6.3 obsolete white space and comments */
        {"Joe Q. Public <john.q.public@example.com>",
         "[Joe Q. Public|NIL|john.q.public|example.com]"},
        {"John Doe <jdoe@machine(comment).  example>", "[John Doe|NIL|jdoe|machine.example]"},
        {"Mary Smith\r\n  \r\n          <mary@example.net>", "[Mary Smith|NIL|mary|example.net]"},
        {"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
         "[Pete|NIL|pete|silly.test]"},
        /* A.6.1 obsolete list elements */
        {"Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example",
         "[Mary Smith|@node.test|mary|example.net][NIL|NIL|jdoe|test.example]"},
        {"<@a.test,@b.test:x@c.test>", "[NIL|@a.test,@b.test|x|c.test]"},
        /* comments as names, missing parts, quoted local parts, domain literals */
        {"joe@example.org (Joe Q. Public)", "[Joe Q. Public|NIL|joe|example.org]"},
        {"root", "[NIL|NIL|root|MISSING_DOMAIN]"},
        {"<@example.org>", "[NIL|NIL|MISSING_MAILBOX|example.org]"},
        {"\"john doe\"@example.org", "[NIL|NIL|john doe|example.org]"},
        {"x@[192.0.2.1]", "[NIL|NIL|x|[192.0.2.1]]"},
        {"=?utf-8?q?Ren=C3=A9?= <r@x.test>", "[=?utf-8?q?Ren=C3=A9?=|NIL|r|x.test]"},
        /* junk is skipped up to the next comma */
        {">>> , a@b.test", "[NIL|NIL|a|b.test]"},
        {"a@b.test <c@d.test>", "[NIL|NIL|a|b.test][NIL|NIL|c|d.test]"},
        {"", ""},
        {" , ,", ""},
        /* a group never closed, a nested group start */
        {"G: a@b.test", "[NIL|NIL|G|NIL][NIL|NIL|a|b.test][NIL|NIL|NIL|NIL]"},
        {"G: H: a@b.test;", "[NIL|NIL|G|NIL][NIL|NIL|H|MISSING_DOMAIN][NIL|NIL|NIL|NIL]"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct str out = STR_INIT;
        addr_str(cases[i].in, &out);
        if (strcmp(str_c(&out), cases[i].out) != 0)
            fail_msg("case %zu: %s -> %s", i, cases[i].in, str_c(&out));
        str_free(&out);
    }
}

/* ---- dates ---- */

static void test_dates(void **state)
{
    static const struct {
        const char *in;
        long long t;
        int tz;
    } cases[] = {
        {"Fri, 21 Nov 1997 09:55:06 -0600", 880127706, -360},
        {"21 Nov 1997 09:55:06 -0600", 880127706, -360},
        {"Fri, 21 Nov 97 09:55:06 GMT", 880106106, 0},
        {"Thu,\r\n 13\r\n   Feb\r\n     1969\r\n 23:32\r\n  -0330 (Newfoundland Time)", -27723480,
         -210},
        {"Wed, 17 Jul 1996 02:44:25 -0700 (PDT)", 837596665, -420},
        {"17 Jul 1996 02:44:25 PDT", 837596665, -420},
        {"Fri, 21 Nov 1997 15:55:06 Z", 880127706, 0},
        {"Fri, 21 Nov 1997 15:55:06", 880127706, 0},
        {"Fri, 21-Nov-1997 15:55:06 +0000", 880127706, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        time_t t;
        int tz;
        if (mime_parse_date(cases[i].in, strlen(cases[i].in), &t, &tz) != 0)
            fail_msg("case %zu: not parsed", i);
        assert_int_equal((long long)t, cases[i].t);
        assert_int_equal(tz, cases[i].tz);
    }
    static const char *bad[] = {
        "",           "yesterday",        "32 Jan 2000 00:00", "1 Foo 2000 00:00",
        "1 Jan 2000", "1 Jan 2000 25:00", "Mon, 1 Jan"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        time_t t;
        int tz;
        assert_int_equal(mime_parse_date(bad[i], strlen(bad[i]), &t, &tz), -1);
    }
}

static void test_open_file(void **state)
{
    char *dir = unit_tmpdir();
    char *path = xasprintf("%s/msg", dir);
    struct str err = STR_INIT;

    unit_write_file(path, "Subject: file\n\nbody\n");
    struct mime_message *m = mime_open_file(path, NULL, &err);
    assert_non_null(m);
    assert_int_equal(m->root->body.size, 5);
    mime_free(m);
    unit_write_file(path, "");
    m = mime_open_file(path, NULL, &err);
    assert_non_null(m);
    assert_int_equal(m->size, 0);
    mime_free(m);
    assert_null(mime_open_file("/nonexistent/x", NULL, &err));
    assert_true(err.len > 0);
    str_free(&err);
    unit_rmtree(dir);
    free(dir);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_part_regions),
        cmocka_unit_test(test_empty_and_headerless),
        cmocka_unit_test(test_nul_and_bare_cr),
        cmocka_unit_test(test_vsize),
        cmocka_unit_test(test_write_crlf),
        cmocka_unit_test(test_multipart_boundaries),
        cmocka_unit_test(test_boundary_prefix_and_outer),
        cmocka_unit_test(test_header_runs_into_boundary),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_part_limit),
        cmocka_unit_test(test_garbage_never_crashes),
        cmocka_unit_test(test_fields_and_unfolding),
        cmocka_unit_test(test_rfc2047),
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_param_decoded),
        cmocka_unit_test(test_quoted_printable),
        cmocka_unit_test(test_part_text),
        cmocka_unit_test(test_charset),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_open_file),
        cmocka_unit_test(test_open_fd_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
