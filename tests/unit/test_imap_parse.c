/*
 * test_imap_parse.c - unit tests of imap_read.c, imap_parse.c and imap_grammar.c
 *
 * The reader is driven through a socket pair (input written in advance,
 * continuation requests read back); the grammar rules are table-driven
 * with the examples of RFC 3501.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "imap_parse.h"
#include "mem.h"
#include "stream.h"
#include "unit.h"

/* ---- the reader ---- */

struct pipe {
    int fds[2];
    struct stream *s;
};

/* pipe_open - a stream whose peer has already sent input (then half-closed) */
static void pipe_open(struct pipe *p, const char *input, size_t n)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fds), 0);
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(p->fds[1], input + off, n - off);
        assert_true(w > 0);
        off += (size_t)w;
    }
    shutdown(p->fds[1], SHUT_WR);
    p->s = stream_new(p->fds[0], p->fds[0], 5);
}

/* pipe_output - what the reader sent back (continuation requests) */
static void pipe_output(struct pipe *p, struct str *out)
{
    char buf[256];
    ssize_t r;

    stream_flush(p->s);
    shutdown(p->fds[0], SHUT_WR);
    while ((r = read(p->fds[1], buf, sizeof(buf))) > 0)
        str_catn(out, buf, (size_t)r);
}

static void pipe_close(struct pipe *p)
{
    stream_free(p->s, 1);
    close(p->fds[1]);
}

static const struct imap_limits lim = {100, 50, 1000, 0, NULL, 8};

static void test_read_simple_and_literals(void **state)
{
    static const char in[] = "a1 NOOP\r\n"
                             "a2 LOGIN {3}\r\nfoo {4+}\r\nb\0r!\r\n"
                             "a3 X\n";
    struct pipe p;
    struct imap_cmd c;
    struct str reason = STR_INIT, out = STR_INIT;

    pipe_open(&p, in, sizeof(in) - 1);
    imap_cmd_init(&c);
    assert_int_equal(imap_read_command(p.s, &lim, &c, &reason), IMAP_READ_OK);
    assert_string_equal(str_c(&c.text), "a1 NOOP\r\n");
    assert_int_equal(c.nlits, 0);
    assert_int_equal(imap_read_command(p.s, &lim, &c, &reason), IMAP_READ_OK);
    assert_string_equal(str_c(&c.text), "a2 LOGIN {3}\r\n {4+}\r\n\r\n");
    assert_int_equal(c.nlits, 2);
    assert_int_equal(c.lits[0].size, 3);
    assert_memory_equal(c.lits[0].data.s, "foo", 3);
    assert_int_equal(c.lits[0].at, 14);
    assert_memory_equal(c.lits[1].data.s, "b\0r!", 4);
    assert_int_equal(imap_read_command(p.s, &lim, &c, &reason), IMAP_READ_OK);
    assert_string_equal(str_c(&c.text), "a3 X\n");
    assert_int_equal(imap_read_command(p.s, &lim, &c, &reason), IMAP_READ_EOF);
    pipe_output(&p, &out);
    assert_string_equal(str_c(&out), "+ OK\r\n"); /* only for the synchronizing literal */
    imap_cmd_free(&c);
    pipe_close(&p);
    str_free(&reason);
    str_free(&out);
}

/* read_all - the results of reading every command of an input */
static void read_all(const char *in, size_t n, const struct imap_limits *l, struct str *results,
                     struct str *out)
{
    struct pipe p;
    struct imap_cmd c;
    struct str reason = STR_INIT;
    int r;

    pipe_open(&p, in, n);
    imap_cmd_init(&c);
    do {
        r = imap_read_command(p.s, l, &c, &reason);
        str_printf(results, "%d", r);
        if (r == IMAP_READ_OK) {
            struct str tag = STR_INIT;
            imap_cmd_tag(&c, &tag);
            str_printf(results, ":%s", str_c(&tag));
            str_free(&tag);
        }
        if (r == IMAP_READ_BAD || r == IMAP_READ_TOOBIG || r == IMAP_READ_FATAL)
            str_printf(results, "(%s)", str_c(&reason));
        str_catc(results, ' ');
    } while (r >= 0);
    pipe_output(&p, out);
    imap_cmd_free(&c);
    pipe_close(&p);
    str_free(&reason);
}

static void test_read_limits(void **state)
{
    char big[1200];
    memset(big, 'x', sizeof(big));
    struct {
        const char *in;
        const char *results, *out;
    } cases[] = {
        /* a line over text_max (100): BAD, the next command is intact */
        {"a {L150}\r\nb NOOP\r\n", "1(command line too long) 0:b -2 ", ""},
        /* far over (4 x 100): BYE */
        {"a {L500}\r\nb NOOP\r\n", "-1(command line far too long) ", ""},
        /* a synchronizing literal over literal_max (50) is never invited */
        {"a LOGIN {51}\r\nb NOOP\r\n", "1(literal too big (51 bytes, at most 50)) 0:b -2 ", ""},
        /* a non-synchronizing one is read and dropped, with the rest of its command */
        {"a LOGIN {60+}\r\n{D60} {3+}\r\nabc\r\nb NOOP\r\n",
         "1(literal too big (60 bytes, at most 50)) 0:b -2 ", ""},
        {"a LOGIN {201+}\r\n{D201}\r\nb NOOP\r\n", "-1(literal far too big) ", ""},
        /* literal_max counts every literal of a command */
        {"a LOGIN {30}\r\n{D30} {30}\r\n", "1(literal too big (30 bytes, at most 20)) -2 ",
         "+ OK\r\n"},
        /* APPEND's message has its own limit, answered NO [TOOBIG] */
        {"a APPEND INBOX {900}\r\n{D900}\r\n", "0:a -2 ", "+ OK\r\n"},
        {"a APPEND INBOX {1001}\r\nb NOOP\r\n",
         "2(message too big (1001 bytes, at most 1000)) 0:b -2 ", ""},
        /* an overlong line that ends with a non-synchronizing literal */
        {"a {L150} {5+}\r\n{D5}\r\nb NOOP\r\n", "1(command line too long) 0:b -2 ", ""},
        /* the peer leaves in the middle of a command or a literal */
        {"a NOOP", "-2 ", ""},
        {"a LOGIN {10}\r\nabc", "-2 ", "+ OK\r\n"},
        {"", "-2 ", ""},
        /* a literal marker needs digits and braces */
        {"a X {}\r\nb {+}\r\nc {1a}\r\n", "0:a 0:b 0:c -2 ", ""},
        {"+bad NOOP\r\n(x\r\n", "0:* 0:* -2 ", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct str in = STR_INIT, results = STR_INIT, out = STR_INIT;
        /* {Ln}: n bytes of line; {Dn}: n bytes of literal data */
        for (const char *s = cases[i].in; *s; s++) {
            if ((s[0] == '{' && (s[1] == 'L' || s[1] == 'D'))) {
                int n = atoi(s + 2);
                str_catn(&in, big, (size_t)n);
                s = strchr(s, '}');
            } else {
                str_catc(&in, *s);
            }
        }
        read_all(in.s, in.len, &lim, &results, &out);
        if (strcmp(str_c(&results), cases[i].results) != 0 ||
            strcmp(str_c(&out), cases[i].out) != 0)
            fail_msg("case %zu: results %s output %s", i, str_c(&results), str_c(&out));
        str_free(&in);
        str_free(&results);
        str_free(&out);
    }
}

static void test_read_spool(void **state)
{
    static const char in[] = "a APPEND INBOX {20}\r\n0123456789abcdefghij\r\n";
    struct imap_limits l = lim;
    struct pipe p;
    struct imap_cmd c;
    struct str reason = STR_INIT;
    struct imap_parser ps;
    const struct imap_literal *lit;
    char buf[32];

    l.spool_min = 10;
    pipe_open(&p, in, sizeof(in) - 1);
    imap_cmd_init(&c);
    assert_int_equal(imap_read_command(p.s, &l, &c, &reason), IMAP_READ_OK);
    assert_int_equal(c.nlits, 1);
    assert_true(c.lits[0].fd >= 0);
    assert_int_equal(read(c.lits[0].fd, buf, sizeof(buf)), 20);
    assert_memory_equal(buf, "0123456789abcdefghij", 20);
    /* the parser hands a spooled literal out only by reference */
    imap_parser_init(&ps, &c, 0);
    ps.pos = strlen("a APPEND INBOX ");
    struct str s = STR_INIT;
    assert_int_equal(imap_p_string(&ps, &s), -1);
    imap_parser_free(&ps);
    imap_parser_init(&ps, &c, 0);
    ps.pos = strlen("a APPEND INBOX ");
    assert_int_equal(imap_p_literal_ref(&ps, &lit), 0);
    assert_int_equal(lit->size, 20);
    assert_int_equal(imap_p_end(&ps), 0);
    imap_parser_free(&ps);
    str_free(&s);
    imap_cmd_free(&c);
    pipe_close(&p);
    str_free(&reason);
}

/* ---- the cursor ---- */

/* cmd_from - a command from text where "{n}\r\n" is followed by the literal's data,
 * split as the reader would */
static void cmd_from_n(struct imap_cmd *c, const char *text, size_t n)
{
    struct pipe p;
    struct str reason = STR_INIT;
    struct imap_limits l = {4096, 4096, 4096, 0, NULL, 8};

    pipe_open(&p, text, n);
    imap_cmd_init(c);
    assert_int_equal(imap_read_command(p.s, &l, c, &reason), IMAP_READ_OK);
    pipe_close(&p);
    str_free(&reason);
}

static void cmd_from(struct imap_cmd *c, const char *text);

static void test_cursor_rules(void **state)
{
    struct imap_cmd c;
    struct imap_parser p;
    struct str s = STR_INIT;
    int nil;
    uint32_t n;
    uint64_t n64;

    cmd_from(&c, "T1.x] atom \"q \\\"u\\\\ote\" {5}\r\nli te NIL \"\" 4294967295 4294967296 "
                 "0 01 9223372036854775807 ]br]\r\n");
    imap_parser_init(&p, &c, 0);
    assert_int_equal(imap_p_tag(&p, &s), 0);
    assert_string_equal(str_c(&s), "T1.x]");
    assert_int_equal(imap_p_sp(&p), 0);
    assert_int_equal(imap_p_atom(&p, &s), 0);
    assert_string_equal(str_c(&s), "atom");
    assert_int_equal(imap_p_sp(&p), 0);
    assert_int_equal(imap_p_astring(&p, &s), 0);
    assert_string_equal(str_c(&s), "q \"u\\ote");
    assert_int_equal(imap_p_sp(&p), 0);
    assert_int_equal(imap_p_astring(&p, &s), 0);
    assert_string_equal(str_c(&s), "li te");
    assert_int_equal(imap_p_sp(&p), 0);
    assert_int_equal(imap_p_nstring(&p, &s, &nil), 0);
    assert_true(nil);
    assert_int_equal(imap_p_sp(&p), 0);
    assert_int_equal(imap_p_nstring(&p, &s, &nil), 0);
    assert_false(nil);
    assert_string_equal(str_c(&s), "");
    assert_int_equal(imap_p_sp(&p), 0);
    assert_int_equal(imap_p_number(&p, &n), 0);
    assert_int_equal(n, 4294967295u);
    assert_int_equal(imap_p_sp(&p), 0);
    assert_int_equal(imap_p_number(&p, &n), -1);
    assert_string_equal(str_c(&p.reason), "number too big");
    imap_parser_free(&p);

    imap_parser_init(&p, &c, 0);
    p.pos = (size_t)(strstr(c.text.s, " 0 01") - c.text.s) + 1;
    assert_int_equal(imap_p_nz_number(&p, &n), -1);
    p.error = 0;
    assert_int_equal(imap_p_number(&p, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(imap_p_sp(&p), 0);
    assert_int_equal(imap_p_number(&p, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(imap_p_sp(&p), 0);
    assert_int_equal(imap_p_number64(&p, &n64), 0);
    assert_true(n64 == UINT64_C(9223372036854775807));
    assert_int_equal(imap_p_sp(&p), 0);
    assert_int_equal(imap_p_atom(&p, &s), -1); /* ']' is no ATOM-CHAR */
    p.error = 0;
    assert_int_equal(imap_p_astring(&p, &s), 0);
    assert_string_equal(str_c(&s), "]br]");
    assert_true(imap_at_end(&p));
    assert_int_equal(imap_p_end(&p), 0);
    assert_int_equal(imap_peek(&p), -1);
    imap_parser_free(&p);
    imap_cmd_free(&c);

    static const char *bad_strings[] = {"\"unterminated\r\n", "\"bad \\x escape\"\r\n", "(list\r\n",
                                        "{3}\r\n"};
    for (size_t i = 0; i < sizeof(bad_strings) / sizeof(bad_strings[0]); i++) {
        imap_cmd_init(&c);
        str_cpy(&c.text, bad_strings[i]);
        imap_parser_init(&p, &c, 0);
        assert_int_equal(imap_p_astring(&p, &s), -1);
        assert_int_equal(p.error, IMAP_PERR_SYNTAX);
        imap_parser_free(&p);
        imap_cmd_free(&c);
    }
    cmd_from_n(&c, "x {3}\r\na\0b\r\n", 12);
    imap_parser_init(&p, &c, 0);
    p.pos = 2;
    assert_int_equal(imap_p_string(&p, &s), -1);
    assert_string_equal(str_c(&p.reason), "NUL in a literal");
    imap_parser_free(&p);
    imap_cmd_free(&c);
    cmd_from(&c, "+x\r\n");
    imap_parser_init(&p, &c, 0);
    assert_int_equal(imap_p_tag(&p, &s), -1);
    imap_parser_free(&p);
    imap_cmd_free(&c);
    str_free(&s);
}

static void cmd_from(struct imap_cmd *c, const char *text)
{
    cmd_from_n(c, text, strlen(text));
}

/* ---- modified UTF-7 (RFC 3501 5.1.3) ---- */

static void test_utf7(void **state)
{
    static const struct {
        const char *utf7, *utf8;
    } pairs[] = {
        {"~peter/mail/&U,BTFw-/&ZeVnLIqe-",
         "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"},
        {"&Jjo-!", "\xe2\x98\xba!"},
        {"Entw&APw-rfe", "Entw\xc3\xbc"
                         "rfe"},
        {"A&-B", "A&B"},
        {"&2D3cAA-", "\xf0\x9f\x90\x80"}, /* a surrogate pair */
        {"", ""},
        {"plain", "plain"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        struct str a = STR_INIT, b = STR_INIT;
        assert_int_equal(imap_utf7_decode(pairs[i].utf7, strlen(pairs[i].utf7), &a), 0);
        assert_string_equal(str_c(&a), pairs[i].utf8);
        assert_int_equal(imap_utf7_encode(pairs[i].utf8, strlen(pairs[i].utf8), &b), 0);
        assert_string_equal(str_c(&b), pairs[i].utf7);
        str_free(&a);
        str_free(&b);
    }
    static const char *bad[] = {"&Jjo",  "&AGEAYgBj-", "&U,B-", "&2D0-", "&3AA-",
                                "a\x80", "&Jjo!-",     "tab\t", "&-&",   "&AA-"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct str a = STR_INIT;
        if (imap_utf7_decode(bad[i], strlen(bad[i]), &a) == 0)
            fail_msg("accepted %s", bad[i]);
        str_free(&a);
    }
    struct str b = STR_INIT;
    assert_int_equal(imap_utf7_encode("bad\xff", 4, &b), -1);
    str_free(&b);
}

static void test_mailbox(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"inbox", "INBOX"},     {"\"InBoX\"", "INBOX"}, {"INBOX.Sent", "INBOX.Sent"},
        {"inbox.x", "inbox.x"}, {"&Jjo-", "&Jjo-"},     {"{2}\r\nab", "ab"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct imap_cmd c;
        struct imap_parser p;
        struct str s = STR_INIT, text = STR_INIT;
        str_printf(&text, "%s\r\n", cases[i].in);
        cmd_from(&c, str_c(&text));
        imap_parser_init(&p, &c, 0);
        assert_int_equal(imap_p_mailbox(&p, &s), 0);
        assert_string_equal(str_c(&s), cases[i].out);
        assert_int_equal(imap_p_end(&p), 0);
        imap_parser_free(&p);
        imap_cmd_free(&c);
        str_free(&s);
        str_free(&text);
    }
    struct imap_cmd c;
    struct imap_parser p;
    struct str s = STR_INIT;
    cmd_from(&c, "&bad\r\n");
    imap_parser_init(&p, &c, 0);
    assert_int_equal(imap_p_mailbox(&p, &s), -1);
    imap_parser_free(&p);
    imap_cmd_free(&c);
    cmd_from(&c, "%/*]x\r\n");
    imap_parser_init(&p, &c, 0);
    assert_int_equal(imap_p_list_mailbox(&p, &s), 0);
    assert_string_equal(str_c(&s), "%/*]x");
    imap_parser_free(&p);
    imap_cmd_free(&c);
    str_free(&s);
}

/* ---- sequence sets ---- */

static void test_seqset(void **state)
{
    static const struct {
        const char *in;
        uint32_t max;
        const char *out;
    } cases[] = {
        {"1", 10, "1"},
        {"1:*", 10, "1:10"},
        {"*", 10, "10"},
        {"*:4", 10, "4:10"},
        {"5:3,1,2,9:8,10", 10, "1:5,8:10"},
        {"2,4:7,9,12:*", 15, "2,4:7,9,12:15"},
        {"*:20", 15, "15:20"},
        {"4294967294:*", 3, "3:4294967294"},
        {"1:*", 0, "0:1"},
        /* the normaliser: overlapping, adjacent, descending, duplicated ranges */
        {"1:5,3:8", 10, "1:8"},
        {"8:3,1:5", 10, "1:8"},
        {"1:3,4:6,8,9", 10, "1:6,8:9"},
        {"5:2", 10, "2:5"},
        {"7,5:2,3", 10, "2:5,7"},
        {"1:*,1:*,1:*,*,*:1", 10, "1:10"},
        {"*,*", 10, "10"},
        {"3,2,1", 10, "1:3"},
        {"10,1:2,6:7,4", 10, "1:2,4,6:7,10"},
        /* the largest number (RFC 3501 9: nz-number is 32 bits), with no overflow */
        {"4294967295", 10, "4294967295"},
        {"1:4294967295", 10, "1:4294967295"},
        {"4294967295:1", 10, "1:4294967295"},
        {"4294967294,4294967295", 10, "4294967294:4294967295"},
        {"4294967295,1:*", 4294967295u, "1:4294967295"},
        {"4294967295:*,2", 10, "2,10:4294967295"},
        {"4294967295:*", 4294967295u, "4294967295"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct imap_cmd c;
        struct imap_parser p;
        struct imap_seqset set;
        struct str text = STR_INIT, out = STR_INIT;
        str_printf(&text, "%s\r\n", cases[i].in);
        imap_cmd_init(&c);
        str_cpy(&c.text, str_c(&text));
        imap_parser_init(&p, &c, 0);
        imap_seqset_init(&set);
        assert_int_equal(imap_p_seqset(&p, &set), 0);
        assert_int_equal(imap_p_end(&p), 0);
        imap_seqset_resolve(&set, cases[i].max);
        imap_seqset_format(&set, &out);
        if (strcmp(str_c(&out), cases[i].out) != 0)
            fail_msg("case %zu: %s", i, str_c(&out));
        imap_seqset_free(&set);
        imap_parser_free(&p);
        imap_cmd_free(&c);
        str_free(&text);
        str_free(&out);
    }
    static const char *bad[] = {"",     "0",          "1:0",  "a",  "1,", ",1",
                                "1::2", "4294967296", "1:2x", "01", "-1", "1:*:2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct imap_cmd c;
        struct imap_parser p;
        struct imap_seqset set;
        imap_cmd_init(&c);
        str_printf(&c.text, "%s\r\n", bad[i]);
        imap_parser_init(&p, &c, 0);
        imap_seqset_init(&set);
        if (imap_p_seqset(&p, &set) == 0 && imap_p_end(&p) == 0)
            fail_msg("accepted %s", bad[i]);
        imap_seqset_free(&set);
        imap_parser_free(&p);
        imap_cmd_free(&c);
    }
    /* the largest number of the ranges without "*": what a set of message numbers may not
     * exceed */
    static const struct {
        const char *in;
        uint32_t max;
    } most[] = {{"*", 0},
                {"1:*", 0},
                {"*:4", 0},
                {"3,*,7:*", 3},
                {"9:2,5:*", 9},
                {"4294967295", 4294967295u},
                {"2,*:4294967295", 2},
                {"4294967295:1", 4294967295u}};
    for (size_t i = 0; i < sizeof(most) / sizeof(most[0]); i++) {
        struct imap_cmd c;
        struct imap_parser p;
        struct imap_seqset set;
        imap_cmd_init(&c);
        str_printf(&c.text, "%s\r\n", most[i].in);
        imap_parser_init(&p, &c, 0);
        imap_seqset_init(&set);
        assert_int_equal(imap_p_seqset(&p, &set), 0);
        if (imap_seqset_max_number(&set) != most[i].max)
            fail_msg("%s: %u", most[i].in, imap_seqset_max_number(&set));
        imap_seqset_free(&set);
        imap_parser_free(&p);
        imap_cmd_free(&c);
    }
    {
        /* 16,000 copies of "1:*" (the command-length attack): one range, whatever max */
        struct imap_cmd c;
        struct imap_parser p;
        struct imap_seqset set;
        imap_cmd_init(&c);
        for (int i = 0; i < 16000; i++)
            str_cat(&c.text, i ? ",1:*" : "1:*");
        str_cat(&c.text, "\r\n");
        imap_parser_init(&p, &c, 0);
        imap_seqset_init(&set);
        assert_int_equal(imap_p_seqset(&p, &set), 0);
        assert_int_equal(set.n, 16000);
        imap_seqset_resolve(&set, 20000);
        assert_int_equal(set.n, 1);
        assert_int_equal(set.v[0].lo, 1);
        assert_int_equal(set.v[0].hi, 20000);
        imap_seqset_free(&set);
        imap_parser_free(&p);
        imap_cmd_free(&c);
    }
    struct imap_seqset set;
    imap_seqset_init(&set);
    struct imap_cmd c;
    struct imap_parser p;
    imap_cmd_init(&c);
    str_cpy(&c.text, "3:5,9,20:30\r\n");
    imap_parser_init(&p, &c, 0);
    assert_int_equal(imap_p_seqset(&p, &set), 0);
    imap_seqset_resolve(&set, 100);
    static const uint32_t in[] = {3, 4, 5, 9, 20, 25, 30}, out[] = {1, 2, 6, 8, 10, 19, 31, 100};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
        assert_true(imap_seqset_contains(&set, in[i]));
    for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++)
        assert_false(imap_seqset_contains(&set, out[i]));
    imap_seqset_free(&set);
    imap_parser_free(&p);
    imap_cmd_free(&c);
}

/* ---- flags and STORE ---- */

static void test_flags_and_store(void **state)
{
    static const struct {
        const char *in;
        int mode, silent;
        const char *flags;
    } cases[] = {
        {"FLAGS (\\Seen)", IMAP_STORE_REPLACE, 0, "\\Seen"},
        {"+FLAGS.SILENT (\\Deleted \\seen $Junk)", IMAP_STORE_ADD, 1, "\\Deleted \\Seen $Junk"},
        {"-flags \\Answered \\Draft", IMAP_STORE_REMOVE, 0, "\\Answered \\Draft"},
        {"FLAGS ()", IMAP_STORE_REPLACE, 0, ""},
        {"+FLAGS (kw KW Kw \\Flagged)", IMAP_STORE_ADD, 0, "\\Flagged kw"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct imap_cmd c;
        struct imap_parser p;
        struct imap_store st;
        struct str out = STR_INIT;
        imap_cmd_init(&c);
        str_printf(&c.text, "%s\r\n", cases[i].in);
        imap_parser_init(&p, &c, 0);
        assert_int_equal(imap_p_store(&p, &st), 0);
        assert_int_equal(imap_p_end(&p), 0);
        assert_int_equal(st.mode, cases[i].mode);
        assert_int_equal(st.silent, cases[i].silent);
        imap_flags_format(st.flags.sys, &st.flags.keywords, &out);
        assert_string_equal(str_c(&out), cases[i].flags);
        imap_store_free(&st);
        imap_parser_free(&p);
        imap_cmd_free(&c);
        str_free(&out);
    }
    static const char *bad[] = {
        "FLAGS",         "FLAGS (\\Recent)", "FLAGS (\\Bogus)", "XFLAGS (a)",      "FLAGS (a",
        "FLAGS (\"q\")", "*FLAGS (a)",       "FLAGS (a  b)",    "FLAGS.NOISY (a)", "FLAGS (\\*)"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct imap_cmd c;
        struct imap_parser p;
        struct imap_store st;
        imap_cmd_init(&c);
        str_printf(&c.text, "%s\r\n", bad[i]);
        imap_parser_init(&p, &c, 0);
        if (imap_p_store(&p, &st) == 0 && imap_p_end(&p) == 0)
            fail_msg("accepted %s", bad[i]);
        imap_store_free(&st);
        imap_parser_free(&p);
        imap_cmd_free(&c);
    }
}

/* ---- dates ---- */

static void test_dates(void **state)
{
    static const struct {
        const char *in;
        long days;
    } dates[] = {{"1-Feb-1994", 8797},
                 {"\"01-feb-1994\"", 8797},
                 {"29-Feb-2000", 11016},
                 {"31-Dec-1969", -1}};
    for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
        struct imap_cmd c;
        struct imap_parser p;
        long d;
        imap_cmd_init(&c);
        str_printf(&c.text, "%s\r\n", dates[i].in);
        imap_parser_init(&p, &c, 0);
        assert_int_equal(imap_p_date(&p, &d), 0);
        assert_int_equal(imap_p_end(&p), 0);
        assert_int_equal(d, dates[i].days);
        imap_parser_free(&p);
        imap_cmd_free(&c);
    }
    static const char *bad_dates[] = {"29-Feb-1900",  "1-Foo-2000", "1-Feb-94",    "123-Feb-1994",
                                      "\"1-Feb-1994", "0-Jan-2000", "32-Jan-2000", "1 Feb 1994"};
    for (size_t i = 0; i < sizeof(bad_dates) / sizeof(bad_dates[0]); i++) {
        struct imap_cmd c;
        struct imap_parser p;
        long d;
        imap_cmd_init(&c);
        str_printf(&c.text, "%s\r\n", bad_dates[i]);
        imap_parser_init(&p, &c, 0);
        if (imap_p_date(&p, &d) == 0 && imap_p_end(&p) == 0)
            fail_msg("accepted %s", bad_dates[i]);
        imap_parser_free(&p);
        imap_cmd_free(&c);
    }
    static const struct {
        const char *in;
        long long t;
        int tz;
        const char *out;
    } dt[] = {
        {"\"17-Jul-1996 02:44:25 -0700\"", 837596665, -420, "17-Jul-1996 02:44:25 -0700"},
        {"\" 7-Feb-1994 21:52:25 -0800\"", 760686745, -480, "07-Feb-1994 21:52:25 -0800"},
        {"\"7-Feb-1994 21:52:25 +0000\"", 760657945, 0, "07-Feb-1994 21:52:25 +0000"},
        {"\"01-Jan-2000 00:00:00 +0530\"", 946665000, 330, "01-Jan-2000 00:00:00 +0530"},
    };
    for (size_t i = 0; i < sizeof(dt) / sizeof(dt[0]); i++) {
        struct imap_cmd c;
        struct imap_parser p;
        time_t t;
        int tz;
        struct str out = STR_INIT;
        imap_cmd_init(&c);
        str_printf(&c.text, "%s\r\n", dt[i].in);
        imap_parser_init(&p, &c, 0);
        assert_int_equal(imap_p_date_time(&p, &t, &tz), 0);
        assert_int_equal(imap_p_end(&p), 0);
        assert_int_equal((long long)t, dt[i].t);
        assert_int_equal(tz, dt[i].tz);
        imap_format_date_time(t, tz, &out);
        assert_string_equal(str_c(&out), dt[i].out);
        imap_parser_free(&p);
        imap_cmd_free(&c);
        str_free(&out);
    }
    /* the formatting against snprintf over the years 1970-2100 and zones -12:59..+14:45 */
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (long long t = 0; t < 4102444800ll; t += 7654321) {
        for (int tz = -779; tz <= 885; tz += 83) {
            struct str out = STR_INIT;
            struct tm tm;
            time_t local = (time_t)t + tz * 60;
            char want[40];
            int a = tz < 0 ? -tz : tz;
            gmtime_r(&local, &tm);
            snprintf(want, sizeof(want), "%02d-%s-%04d %02d:%02d:%02d %c%02d%02d", tm.tm_mday,
                     mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     tz < 0 ? '-' : '+', a / 60, a % 60);
            str_cat(&out, "x");
            imap_format_date_time((time_t)t, tz, &out);
            assert_string_equal(str_c(&out) + 1, want);
            str_free(&out);
        }
    }
    static const char *bad_dt[] = {"17-Jul-1996 02:44:25 -0700",     "\"17-Jul-1996 02:44 -0700\"",
                                   "\"17-Jul-1996 24:00:00 -0700\"", "\"17-Jul-1996 02:44:25\"",
                                   "\"17-Jul-1996 02:44:25 0700\"",  "\"17-Jul-1996 02:44:25 -07\"",
                                   "\"17-Jul-1996 02:44:25 -0760\""};
    for (size_t i = 0; i < sizeof(bad_dt) / sizeof(bad_dt[0]); i++) {
        struct imap_cmd c;
        struct imap_parser p;
        time_t t;
        int tz;
        imap_cmd_init(&c);
        str_printf(&c.text, "%s\r\n", bad_dt[i]);
        imap_parser_init(&p, &c, 0);
        if (imap_p_date_time(&p, &t, &tz) == 0 && imap_p_end(&p) == 0)
            fail_msg("accepted %s", bad_dt[i]);
        imap_parser_free(&p);
        imap_cmd_free(&c);
    }
}

/* ---- FETCH ---- */

/* fetch_str - the parse of FETCH attributes, shown as items and sections */
static int fetch_str(const char *in, struct str *out)
{
    struct imap_cmd c;
    struct imap_parser p;
    struct imap_fetch f;
    int r;

    imap_cmd_init(&c);
    str_printf(&c.text, "%s\r\n", in);
    imap_parser_init(&p, &c, 0);
    imap_fetch_init(&f);
    r = imap_p_fetch_atts(&p, &f);
    if (r == 0)
        r = imap_p_end(&p);
    if (r == 0) {
        str_printf(out, "%03x", f.items);
        for (size_t i = 0; i < f.nbodies; i++) {
            str_printf(out, " %s[", f.bodies[i].peek ? "PEEK" : "BODY");
            imap_section_name(&f.bodies[i].section, out);
            str_catc(out, ']');
            if (f.bodies[i].partial)
                str_printf(out, "<%u.%u>", f.bodies[i].start, f.bodies[i].length);
        }
        str_printf(out, " seen=%d", imap_fetch_sets_seen(&f));
    }
    imap_fetch_free(&f);
    imap_parser_free(&p);
    imap_cmd_free(&c);
    return r;
}

static void test_fetch_atts(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"ALL", "00f seen=0"},
        {"fast", "007 seen=0"},
        {"FULL", "01f seen=0"},
        {"FLAGS", "001 seen=0"},
        {"(UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date "
         "Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type "
         "Reply-To)])",
         "045 PEEK[HEADER.FIELDS (FROM TO CC BCC SUBJECT DATE MESSAGE-ID PRIORITY X-PRIORITY "
         "REFERENCES NEWSGROUPS IN-REPLY-TO CONTENT-TYPE REPLY-TO)] seen=0"},
        {"(BODY[] BODY.PEEK[1.2.MIME]<0.100> body[text]<5.1>)",
         "000 BODY[] PEEK[1.2.MIME]<0.100> BODY[TEXT]<5.1> seen=1"},
        {"(ENVELOPE BODYSTRUCTURE BODY INTERNALDATE)", "03a seen=0"},
        {"RFC822", "080 seen=1"},
        {"(RFC822.HEADER RFC822.TEXT)", "300 seen=1"},
        {"BODY[4.2.HEADER.FIELDS.NOT (\"X-A\" {3}\r\nX-B)]",
         "000 BODY[4.2.HEADER.FIELDS.NOT (X-A X-B)] seen=1"},
        {"(uid)", "040 seen=0"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct str out = STR_INIT;
        /* literals need the reader: build the command through it */
        if (strchr(cases[i].in, '{')) {
            struct imap_cmd c;
            struct imap_parser p;
            struct imap_fetch f;
            struct str text = STR_INIT;
            str_printf(&text, "%s\r\n", cases[i].in);
            cmd_from(&c, str_c(&text));
            imap_parser_init(&p, &c, 0);
            imap_fetch_init(&f);
            assert_int_equal(imap_p_fetch_atts(&p, &f), 0);
            assert_int_equal(imap_p_end(&p), 0);
            str_printf(&out, "%03x", f.items);
            for (size_t k = 0; k < f.nbodies; k++) {
                str_printf(&out, " %s[", f.bodies[k].peek ? "PEEK" : "BODY");
                imap_section_name(&f.bodies[k].section, &out);
                str_catc(&out, ']');
            }
            str_printf(&out, " seen=%d", imap_fetch_sets_seen(&f));
            imap_fetch_free(&f);
            imap_parser_free(&p);
            imap_cmd_free(&c);
            str_free(&text);
        } else {
            assert_int_equal(fetch_str(cases[i].in, &out), 0);
        }
        if (strcmp(str_c(&out), cases[i].out) != 0)
            fail_msg("case %zu: %s", i, str_c(&out));
        str_free(&out);
    }
    static const char *bad[] = {"",
                                "()",
                                "(ALL)",
                                "(FLAGS ALL)",
                                "BODY.PEEK",
                                "BODY[",
                                "BODY[]<0>",
                                "BODY[]<0.0>",
                                "BODY[]<a.1>",
                                "RFC822.SIZEX",
                                "(FLAGS",
                                "(FLAGS  UID)",
                                "FLAGS UID",
                                "BODY[1.MIME",
                                "XYZZY",
                                "BODY[HEADER.FIELDS]",
                                "BINARY[1]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct str out = STR_INIT;
        if (fetch_str(bad[i], &out) == 0)
            fail_msg("accepted %s", bad[i]);
        str_free(&out);
    }
    /* at most IMAP_FETCH_MAX_BODIES sections */
    struct str many = STR_INIT, out = STR_INIT;
    str_cat(&many, "(");
    for (int i = 0; i <= IMAP_FETCH_MAX_BODIES; i++)
        str_printf(&many, "%sBODY[%d]", i ? " " : "", i + 1);
    str_cat(&many, ")");
    assert_int_equal(fetch_str(str_c(&many), &out), -1);
    str_free(&many);
    str_free(&out);
}

/* ---- SEARCH ---- */

static void skey_show(const struct imap_skey *k, struct str *out)
{
    if (k->type == IMAP_SK_AND) {
        str_catc(out, '(');
        for (size_t i = 0; i < k->nkids; i++) {
            if (i)
                str_catc(out, ' ');
            skey_show(k->kids[i], out);
        }
        str_catc(out, ')');
        return;
    }
    str_cat(out, imap_skey_name(k->type));
    if (k->field)
        str_printf(out, " %s", k->field);
    if (k->value.len || k->type == IMAP_SK_SUBJECT)
        str_printf(out, " \"%s\"", k->folded.len ? str_c(&k->folded) : str_c(&k->value));
    if (k->type == IMAP_SK_BEFORE || k->type == IMAP_SK_ON || k->type == IMAP_SK_SINCE ||
        k->type == IMAP_SK_SENTBEFORE || k->type == IMAP_SK_SENTON || k->type == IMAP_SK_SENTSINCE)
        str_printf(out, " %ld", k->days);
    if (k->type == IMAP_SK_LARGER || k->type == IMAP_SK_SMALLER)
        str_printf(out, " %llu", (unsigned long long)k->number);
    if (k->type == IMAP_SK_UID || k->type == IMAP_SK_SEQSET) {
        str_catc(out, ' ');
        for (size_t i = 0; i < k->set.n; i++)
            str_printf(out, "%s%u:%u", i ? "," : "", k->set.v[i].lo, k->set.v[i].hi);
    }
    for (size_t i = 0; i < k->nkids; i++) {
        str_catc(out, ' ');
        skey_show(k->kids[i], out);
    }
}

static int search_str(const char *in, struct str *out, int *error)
{
    struct imap_cmd c;
    struct imap_parser p;
    struct imap_skey *k = NULL;
    struct str text = STR_INIT;
    int r;

    str_printf(&text, "%s\r\n", in);
    cmd_from(&c, str_c(&text));
    imap_parser_init(&p, &c, 4);
    r = imap_p_search(&p, &k);
    *error = p.error;
    if (r == 0)
        skey_show(k, out);
    imap_skey_free(k);
    imap_parser_free(&p);
    imap_cmd_free(&c);
    str_free(&text);
    return r;
}

static void test_search(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        /* RFC 3501 6.4.4 examples */
        {"FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"", "(FLAGGED SINCE 8797 NOT FROM \"smith\")"},
        {"TEXT \"string not in mailbox\"", "(TEXT \"string not in mailbox\")"},
        {"CHARSET UTF-8 TEXT {4}\r\nXY\xc3\x89", "(TEXT \"xy\xc3\xa9\")"},
        {"charset us-ascii ALL", "(ALL)"},
        {"OR (SEEN FLAGGED) UNSEEN", "(OR (SEEN FLAGGED) UNSEEN)"},
        {"1:3,5 UID 2:* NOT 4", "(sequence-set 1:3,5:5 UID 2:4294967295 NOT sequence-set 4:4)"},
        {"HEADER X-Mailer \"\" KEYWORD $Junk UNKEYWORD foo",
         "(HEADER X-Mailer KEYWORD \"$Junk\" UNKEYWORD \"foo\")"},
        {"LARGER 1000 SMALLER 9999999999", "(LARGER 1000 SMALLER 9999999999)"},
        {"BEFORE 1-Jan-2000 ON 2-Jan-2000 SENTBEFORE 3-Jan-2000 SENTON 4-Jan-2000 SENTSINCE "
         "5-Jan-2000",
         "(BEFORE 10957 ON 10958 SENTBEFORE 10959 SENTON 10960 SENTSINCE 10961)"},
        {"ANSWERED DELETED DRAFT NEW OLD RECENT SEEN UNANSWERED UNDELETED UNDRAFT UNFLAGGED "
         "UNSEEN",
         "(ANSWERED DELETED DRAFT NEW OLD RECENT SEEN UNANSWERED UNDELETED UNDRAFT UNFLAGGED "
         "UNSEEN)"},
        {"BCC a CC b BODY c SUBJECT \"\" TO e",
         "(BCC \"a\" CC \"b\" BODY \"c\" SUBJECT \"\" TO \"e\")"},
        {"(((ALL)))", "((((ALL))))"},
        {"CHARSET", "(ALL)"}, /* never reached: CHARSET alone is not a key */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct str out = STR_INIT;
        int err;
        if (i == sizeof(cases) / sizeof(cases[0]) - 1) {
            assert_int_equal(search_str(cases[i].in, &out, &err), -1);
            assert_int_equal(err, IMAP_PERR_SYNTAX);
        } else {
            if (search_str(cases[i].in, &out, &err) != 0)
                fail_msg("case %zu rejected", i);
            if (strcmp(str_c(&out), cases[i].out) != 0)
                fail_msg("case %zu: %s", i, str_c(&out));
        }
        str_free(&out);
    }
    static const char *bad[] = {"",
                                "FOO",
                                "FROM",
                                "SINCE 1994",
                                "OR SEEN",
                                "NOT",
                                "(SEEN",
                                "SEEN)",
                                "( )",
                                "LARGER -1",
                                "UID x",
                                "SEEN  UNSEEN",
                                "((((((ALL))))))",
                                "NOT NOT NOT NOT NOT ALL",
                                "HEADER \"a\"",
                                "KEYWORD \\Seen"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct str out = STR_INIT;
        int err;
        if (search_str(bad[i], &out, &err) == 0)
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(err, IMAP_PERR_SYNTAX);
        str_free(&out);
    }
    struct str out = STR_INIT;
    int err;
    assert_int_equal(search_str("CHARSET ISO-8859-1 TEXT x", &out, &err), -1);
    assert_int_equal(err, IMAP_PERR_BADCHARSET);
    str_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_simple_and_literals),
        cmocka_unit_test(test_read_limits),
        cmocka_unit_test(test_read_spool),
        cmocka_unit_test(test_cursor_rules),
        cmocka_unit_test(test_utf7),
        cmocka_unit_test(test_mailbox),
        cmocka_unit_test(test_seqset),
        cmocka_unit_test(test_flags_and_store),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_fetch_atts),
        cmocka_unit_test(test_search),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
