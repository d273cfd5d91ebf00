/*
 * test_imap_body.c - unit tests of imap_body.c and imap_write.c
 *
 * The corpus under tests/mime/ holds tricky messages, each NAME.eml with
 * NAME.expected: RFC822.SIZE, ENVELOPE, BODYSTRUCTURE and BODY[section]
 * values written from the rules of RFC 3501 (CRLF shown as <CRLF>). Each
 * message is checked as stored and with its line ends converted (LF to
 * CRLF and back): every IMAP view must come out byte for byte the same.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imap_body.h"
#include "imap_parse.h"
#include "imap_write.h"
#include "mem.h"
#include "mime.h"
#include "unit.h"

#ifndef MIME_CORPUS_DIR
#error MIME_CORPUS_DIR must name tests/mime
#endif

static void str_write(void *ctx, const void *p, size_t n)
{
    str_catn(ctx, p, n);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct str s = STR_INIT;
    char buf[4096];
    size_t n;

    if (f == NULL)
        fail_msg("cannot open %s", path);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        str_catn(&s, buf, n);
    fclose(f);
    *len = s.len;
    return str_steal(&s);
}

/* shown - the text with CRLF as <CRLF> */
static void shown(const char *p, size_t n, struct str *out)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n') {
            str_cat(out, "<CRLF>");
            i++;
        } else {
            str_catc(out, p[i]);
        }
    }
}

/* to_crlf / to_lf - the message with the other line-end convention */
static char *to_crlf(const char *p, size_t n, size_t *len)
{
    struct str s = STR_INIT;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
            str_catc(&s, '\r');
        str_catc(&s, p[i]);
    }
    *len = s.len;
    return str_steal(&s);
}

static char *to_lf(const char *p, size_t n, size_t *len)
{
    struct str s = STR_INIT;
    for (size_t i = 0; i < n; i++)
        if (!(p[i] == '\r' && i + 1 < n && p[i + 1] == '\n'))
            str_catc(&s, p[i]);
    *len = s.len;
    return str_steal(&s);
}

/* section_of - parse "[spec]" with the real FETCH section parser */
static int section_of(const char *spec, size_t n, struct imap_section *s)
{
    struct imap_cmd cmd;
    struct imap_parser p;
    int r;

    imap_cmd_init(&cmd);
    str_catc(&cmd.text, '[');
    str_catn(&cmd.text, spec, n);
    str_cat(&cmd.text, "]\r\n");
    imap_parser_init(&p, &cmd, 0);
    imap_section_init(s);
    r = imap_p_section(&p, s);
    if (r == 0)
        r = imap_p_end(&p);
    imap_parser_free(&p);
    imap_cmd_free(&cmd);
    return r;
}

/* check_line - one line of an .expected file against the parsed message */
static void check_line(const char *name, const char *variant, const struct mime_message *m,
                       const char *line)
{
    struct str got = STR_INIT, raw = STR_INIT;
    const char *sp = strchr(line, ' ');
    const char *want = sp + 1;
    char key[32];

    if (strncmp(line, "BODY[", 5) == 0) {
        const char *end = strstr(line, "] ");
        struct imap_section s;
        struct imap_body_data d;
        assert_non_null(end);
        if (section_of(line + 5, (size_t)(end - line - 5), &s) < 0)
            fail_msg("%s: bad section in %s", name, line);
        if (imap_section_get(m, &s, &d) < 0)
            str_cat(&raw, "NIL");
        else
            imap_body_write(m, &d, 0, 0, 0, str_write, &raw);
        imap_body_data_free(&d);
        imap_section_free(&s);
        want = end + 2;
        snprintf(key, sizeof(key), "BODY[...]");
    } else {
        snprintf(key, sizeof(key), "%.*s", (int)(sp - line), line);
        if (strcmp(key, "RFC822.SIZE") == 0)
            str_printf(&raw, "%zu", imap_message_size(m));
        else if (strcmp(key, "ENVELOPE") == 0)
            imap_envelope(m, m->root, &raw);
        else if (strcmp(key, "BODYSTRUCTURE") == 0)
            imap_bodystructure(m, m->root, 1, &raw);
        else if (strcmp(key, "BODY") == 0)
            imap_bodystructure(m, m->root, 0, &raw);
        else
            fail_msg("%s: unknown line %s", name, line);
    }
    shown(raw.s ? raw.s : "", raw.len, &got);
    if (strcmp(str_c(&got), want) != 0)
        fail_msg("%s (%s): %s\n  want %s\n  got  %s", name, variant, key, want, str_c(&got));
    str_free(&got);
    str_free(&raw);
}

static void check_message(const char *name, const char *variant, const char *data, size_t len,
                          const char *expected)
{
    struct mime_message *m = mime_parse(data, len, NULL);
    char *copy = xstrdup(expected), *save = NULL;

    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (line[0] != '#' && line[0] != '\0')
            check_line(name, variant, m, line);
    free(copy);
    mime_free(m);
}

/* check_header_only - a file parsed only to the end of its header (as FETCH ENVELOPE and SEARCH
 * do) gives the same ENVELOPE and search summary as the whole message parsed */
static void check_header_only(const char *path)
{
    struct str err = STR_INIT, env[2] = {STR_INIT, STR_INIT}, sum[2] = {STR_INIT, STR_INIT};

    for (int i = 0; i < 2; i++) {
        int fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        struct mime_message *m =
            i ? mime_open_fd_header(fd, NULL, &err) : mime_open_fd(fd, NULL, &err);
        close(fd);
        assert_non_null(m);
        imap_envelope(m, m->root, &env[i]);
        imap_search_summary(m, &sum[i]);
        mime_free(m);
    }
    if (strcmp(str_c(&env[0]), str_c(&env[1])) != 0)
        fail_msg("%s: ENVELOPE %s, header only %s", path, str_c(&env[0]), str_c(&env[1]));
    assert_int_equal(sum[0].len, sum[1].len);
    assert_memory_equal(sum[0].s, sum[1].s, sum[0].len);
    for (int i = 0; i < 2; i++) {
        str_free(&env[i]);
        str_free(&sum[i]);
    }
    str_free(&err);
}

static void test_corpus(void **state)
{
    DIR *d = opendir(MIME_CORPUS_DIR);
    struct dirent *e;
    int count = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (nl < 10 || strcmp(e->d_name + nl - 9, ".expected") != 0)
            continue;
        char *base = xstrndup(e->d_name, nl - 9);
        char *epath = xasprintf("%s/%s", MIME_CORPUS_DIR, e->d_name);
        char *mpath = xasprintf("%s/%s.eml", MIME_CORPUS_DIR, base);
        size_t elen, mlen, clen, llen;
        char *expected = slurp(epath, &elen);
        char *msg = slurp(mpath, &mlen);
        char *crlf = to_crlf(msg, mlen, &clen);
        char *lf = to_lf(msg, mlen, &llen);
        check_message(base, "as stored", msg, mlen, expected);
        check_message(base, "CRLF", crlf, clen, expected);
        check_message(base, "LF", lf, llen, expected);
        check_header_only(mpath);
        count++;
        free(base), free(epath), free(mpath), free(expected), free(msg), free(crlf), free(lf);
    }
    closedir(d);
    assert_true(count >= 12);
}

/* parse_text - a message from a C string */
static struct mime_message *parse_text(const char *s)
{
    return mime_parse(s, strlen(s), NULL);
}

static void test_partial(void **state)
{
    const char *msg = "Subject: p\n\n0123456789\nabc\n";
    struct mime_message *m = parse_text(msg);
    struct imap_section s;
    struct imap_body_data d;
    static const struct {
        uint32_t start, len;
        const char *want;
    } cases[] = {
        {0, 3, "{3}\r\nSub"},  {12, 4, "{4}\r\n\r\n01"},
        {13, 2, "{2}\r\n\n0"}, {24, 100, "{7}\r\n\r\nabc\r\n"},
        {31, 1, "\"\""},       {1000, 10, "\"\""},
        {30, 1, "{1}\r\n\n"},
    };

    imap_section_init(&s);
    assert_int_equal(imap_section_get(m, &s, &d), 0);
    assert_int_equal(d.vsize, 31);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct str out = STR_INIT;
        imap_body_write(m, &d, 1, cases[i].start, cases[i].len, str_write, &out);
        if (strcmp(str_c(&out), cases[i].want) != 0)
            fail_msg("case %zu: %s", i, str_c(&out));
        str_free(&out);
    }
    imap_body_data_free(&d);
    /* a partial of a built HEADER.FIELDS */
    assert_int_equal(section_of("HEADER.FIELDS (SUBJECT)", 23, &s), 0);
    assert_int_equal(imap_section_get(m, &s, &d), 0);
    struct str out = STR_INIT;
    imap_body_write(m, &d, 1, 9, 3, str_write, &out);
    assert_string_equal(str_c(&out), "{3}\r\np\r\n");
    str_free(&out);
    imap_body_data_free(&d);
    imap_section_free(&s);
    mime_free(m);
}

static void test_body_nonextensible(void **state)
{
    const char *msg = "Content-Type: multipart/mixed; boundary=x\n\n--x\n"
                      "Content-Type: text/plain; charset=utf-8\nContent-Disposition: inline\n\nhi\n"
                      "--x\nContent-Type: message/rfc822\n\nSubject: in\n\nbody\n--x--\n";
    struct mime_message *m = parse_text(msg);
    struct str out = STR_INIT;

    imap_bodystructure(m, m->root, 0, &out);
    assert_string_equal(str_c(&out),
                        "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 2 1)"
                        "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 19 "
                        "(NIL \"in\" NIL NIL NIL NIL NIL NIL NIL NIL) "
                        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 4 1) 3) "
                        "\"mixed\")");
    str_free(&out);
    mime_free(m);
}

static void test_limited_message_keeps_syntax(void **state)
{
    /* a message/rfc822 below the depth limit still has envelope, body and lines */
    const char *msg = "Content-Type: message/rfc822\n\nContent-Type: message/rfc822\n\n"
                      "Subject: deepest\n\nx\n";
    struct mime_limits lim = {1, 0};
    struct mime_message *m = mime_parse(msg, strlen(msg), &lim);
    struct str out = STR_INIT;

    imap_bodystructure(m, m->root, 1, &out);
    assert_string_equal(
        str_c(&out),
        "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 55 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) "
        "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 23 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) "
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL) 3 "
        "NIL NIL NIL NIL) 5 NIL NIL NIL NIL)");
    str_free(&out);
    mime_free(m);
}

static void test_section_names(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", ""},
        {"1.2.3", "1.2.3"},
        {"HEADER", "HEADER"},
        {"2.text", "2.TEXT"},
        {"1.MIME", "1.MIME"},
        {"header.fields (from \"To\" {2}", NULL}, /* a literal needs its data: refused here */
        {"HEADER.FIELDS.NOT (X-A Received)", "HEADER.FIELDS.NOT (X-A RECEIVED)"},
        {"4.2.HEADER.FIELDS (\"Subject\")", "4.2.HEADER.FIELDS (SUBJECT)"},
    };
    static const char *bad[] = {"MIME",
                                "0",
                                "1.",
                                "1.0",
                                "1..2",
                                "1HEADER",
                                "HEADER.FIELDS",
                                "HEADER.FIELDS ()",
                                "HEADER.FIELDS (A:B)",
                                "TEXTX",
                                "1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24.25."
                                "26.27.28.29.30.31.32.33.34.35.36.37.38.39.40.41.42.43.44.45.46.47."
                                "48.49.50.51.52.53.54.55.56.57.58.59.60.61.62.63.64.65"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct imap_section s;
        struct str out = STR_INIT;
        int r = section_of(cases[i].in, strlen(cases[i].in), &s);
        if (cases[i].out == NULL) {
            assert_int_equal(r, -1);
        } else {
            assert_int_equal(r, 0);
            imap_section_name(&s, &out);
            assert_string_equal(str_c(&out), cases[i].out);
        }
        str_free(&out);
        imap_section_free(&s);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct imap_section s;
        if (section_of(bad[i], strlen(bad[i]), &s) == 0)
            fail_msg("accepted %s", bad[i]);
        imap_section_free(&s);
    }
}

static void test_write_strings(void **state)
{
    static const struct {
        const char *in;
        size_t n;
        const char *astring, *nstring;
    } cases[] = {
        {"INBOX", 5, "INBOX", "\"INBOX\""},
        {"", 0, "\"\"", "\"\""},
        {"NIL", 3, "\"NIL\"", "\"NIL\""},
        {"a b", 3, "\"a b\"", "\"a b\""},
        {"a\"b\\c", 5, "\"a\\\"b\\\\c\"", "\"a\\\"b\\\\c\""},
        {"x]", 2, "\"x]\"", "\"x]\""},
        {"caf\xc3\xa9", 5, "{5}\r\ncaf\xc3\xa9", "{5}\r\ncaf\xc3\xa9"},
        {"two\r\nlines", 10, "{10}\r\ntwo\r\nlines", "{10}\r\ntwo\r\nlines"},
        {"n\0l", 3, "{3}\r\nn\x80l", "{3}\r\nn\x80l"},
        {"%*", 2, "\"%*\"", "\"%*\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct str a = STR_INIT, n = STR_INIT;
        imap_append_astring(&a, cases[i].in, cases[i].n);
        imap_append_nstring(&n, cases[i].in, cases[i].n);
        assert_string_equal(str_c(&a), cases[i].astring);
        assert_string_equal(str_c(&n), cases[i].nstring);
        str_free(&a);
        str_free(&n);
    }
    struct str s = STR_INIT;
    imap_append_cnstring(&s, NULL);
    assert_string_equal(str_c(&s), "NIL");
    str_free(&s);
}

static void test_search_helpers(void **state)
{
    const char *msg =
        "From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.com>\n"
        "Subject: =?UTF-8?B?w4l0w6kgMjAyNQ==?=\n"
        "X-Tag: Special\n"
        "Content-Type: multipart/mixed; boundary=s\n\n"
        "--s\nContent-Type: text/plain; charset=iso-8859-1\n"
        "Content-Transfer-Encoding: quoted-printable\n\nGr=FC=DFe aus K=F6ln, soft=\n-broken\n"
        "--s\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
        "c2VjcmV0IGJpbmFyeQ==\n"
        "--s\nContent-Type: message/rfc822\n\nSubject: Inner Topic\n\n"
        "=?utf-8?q?not_decoded_in_a_body?= hidden words\n"
        "--s--\n";
    struct mime_message *m = parse_text(msg);
    static const struct {
        char kind; /* h: header field, b: body, t: text */
        const char *field, *key;
        int want;
    } cases[] = {
        {'h', "from", "ANDRÉ", 1},
        {'h', "from", "andre@example", 1},
        {'h', "subject", "été", 1},
        {'h', "subject", "ÉTÉ 2025", 1},
        {'h', "subject", "summer", 0},
        {'h', "x-tag", "", 1},
        {'h', "x-missing", "", 0},
        {'h', "to", "x", 0},
        {'b', NULL, "GRÜSSE", 0}, /* folding is not normalisation: ß stays ß */
        {'b', NULL, "grüße aus köln", 1},
        {'b', NULL, "soft-broken", 1},
        {'b', NULL, "secret binary", 0}, /* not a text part */
        {'b', NULL, "inner topic", 1},   /* the header of an attached message */
        {'b', NULL, "hidden WORDS", 1},
        {'b', NULL, "andré", 0}, /* the top header is not body */
        {'b', NULL, "", 1},
        {'t', NULL, "andré", 1},
        {'t', NULL, "köln", 1},
        {'t', NULL, "x-tag: special", 1},
        {'t', NULL, "nowhere", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct str key = STR_INIT;
        int got;
        imap_search_fold(cases[i].key, strlen(cases[i].key), &key);
        if (cases[i].kind == 'h')
            got = imap_search_header(m, cases[i].field, &key);
        else if (cases[i].kind == 'b')
            got = imap_search_body(m, &key);
        else
            got = imap_search_text(m, &key);
        if (got != cases[i].want)
            fail_msg("case %zu (%c %s)", i, cases[i].kind, cases[i].key);
        str_free(&key);
    }
    /* one document answers every key alike, and decodes the header and the body once each
     * however many keys ask (issue #13: SEARCH with thousands of BODY keys) */
    struct imap_search_doc doc;
    imap_search_doc_init(&doc);
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            struct str key = STR_INIT;
            int got;
            imap_search_fold(cases[i].key, strlen(cases[i].key), &key);
            if (cases[i].kind == 'h')
                got = imap_search_doc_header(m, &doc, cases[i].field, &key);
            else if (cases[i].kind == 'b')
                got = imap_search_doc_body(m, &doc, &key);
            else
                got = imap_search_doc_text(m, &doc, &key);
            if (got != cases[i].want)
                fail_msg("doc case %zu (%c %s)", i, cases[i].kind, cases[i].key);
            str_free(&key);
        }
    }
    assert_int_equal(doc.builds, 2);
    /* a key matches within one piece, never across two (the end of one text part and the
     * start of the next, a field and the next) */
    struct str key = STR_INIT;
    imap_search_fold("-broken secret", 14, &key);
    assert_false(imap_search_doc_body(m, &doc, &key));
    str_reset(&key);
    imap_search_fold("special content-type", 20, &key);
    assert_false(imap_search_doc_text(m, &doc, &key));
    str_free(&key);
    /* reset: the next message, the same buffers */
    imap_search_doc_reset(&doc);
    struct mime_message *m2 = parse_text("Subject: other\n\nquokka\n");
    imap_search_fold("QUOKKA", 6, &key);
    assert_true(imap_search_doc_body(m2, &doc, &key));
    str_reset(&key);
    imap_search_fold("köln", strlen("köln"), &key);
    assert_false(imap_search_doc_text(m2, &doc, &key));
    assert_int_equal(doc.builds, 4);
    str_free(&key);
    imap_search_doc_free(&doc);
    mime_free(m2);
    mime_free(m);
}

/* the search summary answers every covered key exactly as the header itself does */
static void test_search_summary(void **state)
{
    static const char *const msgs[] = {
        "From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.com>\n"
        "Subject: =?UTF-8?B?w4l0w6kgMjAyNQ==?= report\n"
        "To: Team: alice@example.com, \"Bob (B) Smith\" <bob@example.org>;,\n"
        " carol@example.net (Carol in comment)\n"
        "Cc: undisclosed-recipients:;\n"
        "Date: Mon, 2 Jan 2006 23:30:00 -0800\n\n"
        "body with report in it\n",
        /* two Subject fields, two To fields, an empty Bcc, no Date */
        "Subject: first\nSubject: =?utf-8?q?Zw=C3=A9ite_Betreff?=\n"
        "To: x@example.com\nTO: \"Y\" <y@example.com>\nBcc:\n"
        "X-Other: report\n\nhello\n",
        /* a Date that does not parse, folded Subject, no From */
        "Date: someday\nSubject: a folded\n\tline\n\nx\n",
        "\n",
    };
    static const char *const fields[] = {"Subject", "From", "To", "Cc", "Bcc", "subject", "TO"};
    static const char *const keys[] = {
        "",
        "report",
        "ÉTÉ",
        "andré",
        "andre@example.com",
        "team:",
        "bob (b)",
        "in comment",
        ";",
        "second",
        "first",
        "zwéite betreff",
        "y@",
        "x@",
        "a folded\tline",
        "a folded line",
        "undisclosed",
        "carol",
        "nothing here",
    };
    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        struct mime_message *m = parse_text(msgs[i]);
        struct str sum = STR_INIT;
        long d1 = 0, d2 = 0;
        imap_search_summary(m, &sum);
        for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
            assert_true(imap_search_summary_covers(fields[f]));
            for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
                struct str key = STR_INIT;
                imap_search_fold(keys[k], strlen(keys[k]), &key);
                int want = imap_search_header(m, fields[f], &key);
                int got = imap_search_summary_header(sum.s, sum.len, fields[f], &key);
                if (got != want)
                    fail_msg("message %zu, %s \"%s\": summary %d, header %d", i, fields[f], keys[k],
                             got, want);
                str_free(&key);
            }
        }
        int want = imap_sent_day(m, &d1);
        assert_int_equal(imap_search_summary_day(sum.s, sum.len, &d2), want);
        if (want == 0)
            assert_int_equal(d1, d2);
        str_free(&sum);
        mime_free(m);
    }
    /* the Date's own day (2006-01-02 in -0800), not the UTC one */
    struct mime_message *m = parse_text(msgs[0]);
    struct str sum = STR_INIT, key = STR_INIT;
    long day = 0;
    imap_search_summary(m, &sum);
    assert_int_equal(imap_search_summary_day(sum.s, sum.len, &day), 0);
    assert_int_equal(day, 13150);
    /* fields it does not cover, and summaries it did not make */
    imap_search_fold("x", 1, &key);
    assert_false(imap_search_summary_covers("X-Other"));
    assert_int_equal(imap_search_summary_header(sum.s, sum.len, "X-Other", &key), -1);
    assert_int_equal(imap_search_summary_header("2s1:x", 5, "Subject", &key), -1);
    assert_int_equal(imap_search_summary_header("1s9:x", 5, "Subject", &key), -1);
    assert_int_equal(imap_search_summary_header("1s:x", 4, "Subject", &key), -1);
    assert_int_equal(imap_search_summary_header("", 0, "Subject", &key), -1);
    assert_int_equal(imap_search_summary_day("1d2:1x", 6, &day), -2);
    assert_int_equal(imap_search_summary_day("1s1:x", 5, &day), -1);
    str_free(&key);
    str_free(&sum);
    mime_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_partial),
        cmocka_unit_test(test_body_nonextensible),
        cmocka_unit_test(test_limited_message_keeps_syntax),
        cmocka_unit_test(test_section_names),
        cmocka_unit_test(test_write_strings),
        cmocka_unit_test(test_search_helpers),
        cmocka_unit_test(test_search_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
