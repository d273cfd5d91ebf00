/*
 * test_rec.c - unit tests of rec.c (the record framing under queue and maildrop files)
 *
 * The reader at every limit of every segment, in both of its modes (a file read in place,
 * a pipe), the payload codecs, and the inputs on which the queue-file reader and the
 * maildrop reader used to disagree before both went through rec.c: each is now refused
 * by both, by the stricter of the two old rules.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maildrop.h"
#include "mem.h"
#include "qfile.h"
#include "rec.h"
#include "unit.h"

static char *dir;

static int setup(void **state)
{
    (void)state;
    dir = unit_tmpdir();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unit_rmtree(dir);
    free(dir);
    return 0;
}

/* raw - one record, encoded by hand (not by rec_put, which is under test) */
static void raw(struct str *out, int type, const void *data, size_t len)
{
    unsigned char h[5] = {(unsigned char)type, (unsigned char)(len >> 24),
                          (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                          (unsigned char)len};
    str_catn(out, h, 5);
    str_catn(out, data, len);
}

/* file_fd - a file holding in, open for reading, its offset at 0 */
static int file_fd(const struct str *in)
{
    char *path = xasprintf("%s/f", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, in->s, in->len), (ssize_t)in->len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    unlink(path);
    free(path);
    return fd;
}

/* pipe_fd - a pipe that yields in and then the end of input (in fits the pipe's buffer,
 * or is written by a child) */
static int pipe_fd(const struct str *in)
{
    int fds[2];

    assert_int_equal(pipe(fds), 0);
    if (in->len < 60000) {
        assert_int_equal(write(fds[1], in->s, in->len), (ssize_t)in->len);
    } else if (fork() == 0) {
        close(fds[0]);
        for (size_t off = 0; off < in->len;) {
            ssize_t n = write(fds[1], in->s + off, in->len - off);
            if (n <= 0)
                _exit(1);
            off += (size_t)n;
        }
        _exit(0);
    }
    close(fds[1]);
    return fds[0];
}

/* read_one - the first record of in through seg, read in place or from a pipe */
static int read_one(const struct str *in, int in_place, const struct rec_seg *seg, int *type,
                    struct str *payload, struct str *err)
{
    struct rec_reader rd;
    int fd = in_place ? file_fd(in) : pipe_fd(in);
    int r;

    rec_reader_init(&rd, fd, in_place, 0);
    str_reset(err);
    r = rec_read(&rd, seg, type, payload, err);
    close(fd);
    return r;
}

/* every type of every segment: a payload at its type's limit is read, one byte more is
 * refused before the payload is read; a type the segment does not list is unexpected */
static void test_limits(void **state)
{
    const struct rec_seg *segs[] = {&rec_queue_envelope, &rec_drop_envelope, &rec_content};
    struct str in = STR_INIT, payload = STR_INIT, err = STR_INIT;
    char *big = xmalloc(REC_MAX + 1);
    int type;

    (void)state;
    memset(big, 'x', REC_MAX + 1);
    for (size_t s = 0; s < sizeof(segs) / sizeof(segs[0]); s++) {
        for (const struct rec_limit *l = segs[s]->types; l->type; l++) {
            for (int in_place = 0; in_place <= 1; in_place++) {
                str_reset(&in);
                raw(&in, l->type, big, l->max);
                assert_int_equal(read_one(&in, in_place, segs[s], &type, &payload, &err), REC_OK);
                assert_int_equal(type, l->type);
                assert_int_equal(payload.len, l->max);
                assert_int_equal(payload.s[payload.len], '\0');
                str_reset(&in);
                raw(&in, l->type, big, 0);
                in.s[4] = (char)(l->max + 1); /* the header claims one byte more... */
                in.s[3] = (char)((l->max + 1) >> 8);
                in.s[2] = (char)((l->max + 1) >> 16);
                in.s[1] = (char)((l->max + 1) >> 24); /* ...than the input even has */
                assert_int_equal(read_one(&in, in_place, segs[s], &type, &payload, &err), REC_ERR);
                assert_non_null(strstr(str_c(&err), "exceeds the limit"));
            }
        }
    }
    /* the limits themselves */
    assert_int_equal(rec_seg_max(&rec_queue_envelope, QREC_SENDER), REC_MAX);
    assert_int_equal(rec_seg_max(&rec_drop_envelope, QREC_SENDER), 4096);
    assert_int_equal(MAILDROP_ENV_RECORD_MAX, 4096);
    assert_int_equal(rec_seg_max(&rec_queue_envelope, QREC_SIZE), 20);
    assert_int_equal(rec_seg_max(&rec_drop_envelope, QREC_TIME), REC_SHORT_MAX);
    assert_int_equal(rec_seg_max(&rec_content, QREC_DATA), REC_MAX);
    assert_int_equal(rec_seg_max(&rec_content, QREC_END), 0);
    assert_int_equal(rec_seg_max(&rec_queue_envelope, QREC_MESSAGE), 0);
    assert_int_equal(rec_seg_max(&rec_drop_envelope, QREC_RCPT_DONE), -1);
    assert_int_equal(rec_seg_max(&rec_drop_envelope, QREC_SIZE), -1);
    assert_int_equal(rec_seg_max(&rec_content, QREC_SENDER), -1);
    /* a type the segment does not take: refused on its header alone */
    str_reset(&in);
    raw(&in, QREC_DATA, "abc", 3);
    assert_int_equal(read_one(&in, 1, &rec_queue_envelope, &type, &payload, &err), REC_UNEXPECTED);
    assert_string_equal(str_c(&err), "unexpected record type 0x44 in the envelope");
    str_reset(&in);
    raw(&in, QREC_RCPT_DONE, "a\0\0000", 5);
    assert_int_equal(read_one(&in, 0, &rec_drop_envelope, &type, &payload, &err), REC_UNEXPECTED);
    assert_int_equal(type, QREC_RCPT_DONE);
    free(big);
    str_free(&in);
    str_free(&payload);
    str_free(&err);
}

/* the end of input: clean where a record starts, truncated anywhere else */
static void test_truncation(void **state)
{
    struct str in = STR_INIT, payload = STR_INIT, err = STR_INIT;
    int type;

    (void)state;
    for (int in_place = 0; in_place <= 1; in_place++) {
        str_reset(&in);
        assert_int_equal(read_one(&in, in_place, &rec_content, &type, &payload, &err), REC_EOF);
        raw(&in, QREC_DATA, "hello", 5);
        for (size_t cut = 1; cut < in.len; cut++) {
            struct str part = STR_INIT;
            str_catn(&part, in.s, cut);
            assert_int_equal(read_one(&part, in_place, &rec_content, &type, &payload, &err),
                             REC_ERR);
            assert_non_null(strstr(str_c(&err), cut < REC_HDR ? "truncated record header"
                                                              : "truncated record at offset 0"));
            str_free(&part);
        }
    }
    str_free(&in);
    str_free(&payload);
    str_free(&err);
}

/* records in a row, small and larger than the reader's buffer, across its boundary; a file
 * is read with pread (its descriptor's offset stays), a pipe to its end */
static void test_sequence(void **state)
{
    struct str in = STR_INIT, payload = STR_INIT, err = STR_INIT;
    size_t sizes[] = {
        0, 1, REC_READ_BUF - 2 * REC_HDR, 3, REC_READ_BUF, REC_READ_BUF + 1, 65536, REC_MAX, 7};
    size_t n = sizeof(sizes) / sizeof(sizes[0]);
    char *data = xmalloc(REC_MAX);
    int type;

    (void)state;
    for (size_t i = 0; i < REC_MAX; i++)
        data[i] = (char)(i * 7 + 1);
    for (size_t i = 0; i < n; i++)
        rec_put(&in, QREC_DATA, data, sizes[i]);
    rec_put(&in, QREC_END, "", 0);
    for (int in_place = 0; in_place <= 1; in_place++) {
        struct rec_reader rd;
        int fd = in_place ? file_fd(&in) : pipe_fd(&in);
        off_t expect = 0;
        if (in_place)
            assert_int_equal(lseek(fd, 3, SEEK_SET), 3);
        rec_reader_init(&rd, fd, in_place, 0);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(rd.offset, expect);
            assert_int_equal(rec_read(&rd, &rec_content, &type, &payload, &err), REC_OK);
            assert_int_equal(type, QREC_DATA);
            assert_int_equal(payload.len, sizes[i]);
            assert_memory_equal(payload.s, data, sizes[i]);
            expect += REC_HDR + (off_t)sizes[i];
        }
        assert_int_equal(rec_read(&rd, &rec_content, &type, &payload, &err), REC_OK);
        assert_int_equal(type, QREC_END);
        assert_int_equal(rec_at_end(&rd, &err), 1);
        assert_int_equal(rec_read(&rd, &rec_content, &type, &payload, &err), REC_EOF);
        if (in_place)
            assert_int_equal(lseek(fd, 0, SEEK_CUR), 3);
        close(fd);
    }
    /* something after the last record */
    str_cat(&in, "x");
    for (int in_place = 0; in_place <= 1; in_place++) {
        struct rec_reader rd;
        int fd = in_place ? file_fd(&in) : pipe_fd(&in);
        /* in place from the end record's offset; a pipe from its start */
        rec_reader_init(&rd, fd, in_place, in_place ? (off_t)in.len - 1 - REC_HDR : 0);
        for (size_t i = 0; !in_place && i < n; i++)
            assert_int_equal(rec_read(&rd, &rec_content, &type, &payload, &err), REC_OK);
        assert_int_equal(rec_read(&rd, &rec_content, &type, &payload, &err), REC_OK);
        assert_int_equal(type, QREC_END);
        assert_int_equal(rec_at_end(&rd, &err), 0);
        close(fd);
    }
    free(data);
    str_free(&in);
    str_free(&payload);
    str_free(&err);
}

/* the header codec */
static void test_header(void **state)
{
    unsigned char h[REC_HDR];
    struct str out = STR_INIT;

    (void)state;
    rec_header(h, QREC_DATA, 0x01020304);
    assert_int_equal(h[0], 'D');
    assert_int_equal(rec_length(h), 0x01020304);
    rec_header(h, QREC_END, 0);
    assert_int_equal(rec_length(h), 0);
    rec_header(h, QREC_END, UINT32_MAX);
    assert_int_equal(rec_length(h), UINT32_MAX);
    rec_put(&out, QREC_SENDER, "ab", 2);
    assert_int_equal(out.len, 7);
    assert_memory_equal(out.s, "S\0\0\0\2ab", 7);
    str_free(&out);
}

/* the time and attribute codecs */
static void test_time_attr(void **state)
{
    struct str p = STR_INIT;
    long long sec;
    long usec;

    (void)state;
    rec_time_encode(&p, 1700000000, 42);
    assert_string_equal(p.s, "1700000000.000042");
    assert_int_equal(rec_time_decode(&p, &sec, &usec), 0);
    assert_int_equal(sec, 1700000000);
    assert_int_equal(usec, 42);
    const char *bad[] = {"",          "1700000000", "1700000000.", "-1.000000",
                         "17.-00001", "17.0000001", "17.5x",       "x.5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        str_cpy(&p, bad[i]);
        if (rec_time_decode(&p, &sec, &usec) != -1)
            fail_msg("time '%s' accepted", bad[i]);
    }
    rec_attr_encode(&p, "envid", "a=b");
    assert_string_equal(p.s, "envid=a=b");
    assert_int_equal(rec_attr_decode(&p), 5);
    str_cpy(&p, "=x");
    assert_int_equal(rec_attr_decode(&p), -1);
    str_cpy(&p, "novalue");
    assert_int_equal(rec_attr_decode(&p), -1);
    str_cpyn(&p, "a=b\0c", 5);
    assert_int_equal(rec_attr_decode(&p), -1);
    str_cpy(&p, "a=");
    assert_int_equal(rec_attr_decode(&p), 1);
    str_free(&p);
}

/* the recipient codec: both forms round-trip; malformed payloads are refused */
static void test_rcpt(void **state)
{
    struct rec_rcpt in = {"a@example.com", "rfc822;A@example.com", QNOTIFY_SUCCESS | QNOTIFY_DELAY,
                          "alias@example.com"};
    struct rec_rcpt out;
    struct str p = STR_INIT;

    (void)state;
    rec_rcpt_encode(&p, &in, REC_RCPT_QUEUE);
    assert_int_equal(p.len, 13 + 1 + 20 + 1 + 2 + 1 + 17);
    assert_int_equal(rec_rcpt_decode(&p, REC_RCPT_QUEUE, &out), 0);
    assert_string_equal(out.addr, in.addr);
    assert_string_equal(out.orcpt, in.orcpt);
    assert_int_equal(out.notify, in.notify);
    assert_string_equal(out.dsn_orig, in.dsn_orig);
    assert_int_equal(rec_rcpt_decode(&p, REC_RCPT_DROP, &out), -1); /* one field too many */
    rec_rcpt_encode(&p, &in, REC_RCPT_DROP);
    assert_int_equal(rec_rcpt_decode(&p, REC_RCPT_DROP, &out), 0);
    assert_string_equal(out.dsn_orig, "");
    assert_int_equal(rec_rcpt_decode(&p, REC_RCPT_QUEUE, &out), -1); /* one field missing */
    in.orcpt = NULL;
    in.dsn_orig = NULL;
    rec_rcpt_encode(&p, &in, REC_RCPT_QUEUE);
    assert_memory_equal(p.s, "a@example.com\0\00010\0", p.len);

    /* the notify field: decimal digits of QNOTIFY_ bits (NEVER with others is the
     * maildrop reader's own refusal, RFC 3461 4.1: queue files keep what qmgr wrote) */
    static const struct {
        const char *p;
        size_t len;
        int ok;
    } cases[] = {
        {"a\000\0000\000", 5, 1},      {"a\000\00015\000", 6, 1},  {"a\000\0001\000", 5, 1},
        {"a\000\0003\000", 5, 1},      {"a\000\00014\000", 6, 1},  {"a\000\00016\000", 6, 0},
        {"a\000\000\000", 4, 0}, /* an empty notify field */
        {"a\000\000+2\000", 6, 0},     {"a\000\000 2\000", 6, 0},  {"a\000\0002x\000", 6, 0},
        {"a\000\000-0\000", 6, 0},     {"a\000\000002\000", 7, 1}, {"a\000\000999\000", 7, 0},
        {"\000\0000\000", 4, 0},       /* an empty address */
        {"a\000\0000", 4, 0},          /* three fields */
        {"a\000\0000\000x\000", 7, 0}, /* five */
        {"a\000b\0000\000c", 7, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        str_cpyn(&p, cases[i].p, cases[i].len);
        if ((rec_rcpt_decode(&p, REC_RCPT_QUEUE, &out) == 0) != cases[i].ok)
            fail_msg("case %zu: expected %s", i, cases[i].ok ? "ok" : "refused");
    }
    str_free(&p);
}

/* where the two readers disagreed ------------------------------------------------- */

/* queue_file - a committed-looking queue file: envelope with recipient payload rcpt (len n)
 * and time t, content "hi", end record, then tail (may be NULL); its descriptor */
static int queue_file(const char *rcpt, size_t n, const char *t, const char *tail, size_t tn)
{
    struct str f = STR_INIT;
    int fd;

    raw(&f, 'V', "PETREL1", 7);
    raw(&f, 'Z', "000000000000002 0000", 20);
    raw(&f, 'T', t, strlen(t));
    raw(&f, 'S', "s@example.com", 13);
    raw(&f, 'R', rcpt, n);
    raw(&f, 'M', "", 0);
    raw(&f, 'D', "hi", 2);
    raw(&f, 'X', "", 0);
    if (tail)
        str_catn(&f, tail, tn);
    fd = file_fd(&f);
    assert_int_equal(fchmod(fd, 0700), 0);
    str_free(&f);
    return fd;
}

/* queue_read - envelope and content of fd: 0 or -1 with err */
static int queue_read(int fd, struct str *err)
{
    struct qfile_env env;
    struct qfile_content c;
    struct str chunk = STR_INIT;
    int r;

    str_reset(err);
    r = qfile_read_envelope(fd, &env, 10, err);
    if (r == 0) {
        qfile_content_init(&c, fd, &env);
        while ((r = qfile_content_next(&c, &chunk, err)) == 1)
            ;
        qfile_env_free(&env);
    }
    str_free(&chunk);
    close(fd);
    return r;
}

/* drop_read - a maildrop file with recipient payload rcpt, time t and tail: 0 or -1 */
static int drop_read(const char *rcpt, size_t n, const char *t, const char *tail, size_t tn,
                     struct str *err)
{
    struct maildrop_limits lim = {1000, 10};
    struct maildrop_reader *r = xmalloc(sizeof(*r));
    struct maildrop_env env;
    struct str f = STR_INIT, chunk = STR_INIT;
    int fd, rc;

    raw(&f, 'V', "PETRELDROP1", 11);
    raw(&f, 'T', t, strlen(t));
    raw(&f, 'S', "s", 1);
    raw(&f, 'R', rcpt, n);
    raw(&f, 'M', "", 0);
    raw(&f, 'D', "hi", 2);
    raw(&f, 'X', "", 0);
    if (tail)
        str_catn(&f, tail, tn);
    fd = file_fd(&f);
    maildrop_reader_init(r, fd, &lim);
    str_reset(err);
    rc = maildrop_read_envelope(r, &env, err);
    if (rc == 0) {
        while ((rc = maildrop_read_content(r, &chunk, err)) == 1)
            ;
        maildrop_env_free(&env);
    }
    close(fd);
    free(r);
    str_free(&f);
    str_free(&chunk);
    return rc;
}

/* the same input to both readers: both accept it or both refuse it (with why) */
static void both(const char *qrcpt, size_t qn, const char *drcpt, size_t dn, const char *t,
                 const char *tail, size_t tn, int ok, const char *why)
{
    struct str err = STR_INIT;

    if ((queue_read(queue_file(qrcpt, qn, t, tail, tn), &err) == 0) != ok ||
        (!ok && strstr(str_c(&err), why) == NULL))
        fail_msg("queue file: expected %s (%s), got '%s'", ok ? "ok" : "refused", why, str_c(&err));
    if ((drop_read(drcpt, dn, t, tail, tn, &err) == 0) != ok ||
        (!ok && strstr(str_c(&err), why) == NULL))
        fail_msg("maildrop file: expected %s (%s), got '%s'", ok ? "ok" : "refused", why,
                 str_c(&err));
    str_free(&err);
}

#define TIME_OK "1700000000.000001"

static void test_readers_agree(void **state)
{
    (void)state;
    /* the baseline: both accept */
    both("a@b\000\0006\000", 7, "a@b\000\0006", 6, TIME_OK, NULL, 0, 1, NULL);
    /* an empty NOTIFY field: the queue-file reader took it as 0 */
    both("a@b\000\000\000", 6, "a@b\000\000", 5, TIME_OK, NULL, 0, 0, "recipient record");
    /* a negative microsecond count: the queue-file reader took it */
    both("a@b\000\0000\000", 7, "a@b\000\0000", 6, "1700000000.-00001", NULL, 0, 0, "time record");
    /* bytes after the end record (another end record, so that the queue file still ends
     * with one): the queue-file reader stopped at the first */
    both("a@b\000\0000\000", 7, "a@b\000\0000", 6, TIME_OK, "X\000\000\000\000", 5, 0,
         "data after the end record");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits),        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_sequence),      cmocka_unit_test(test_header),
        cmocka_unit_test(test_time_attr),     cmocka_unit_test(test_rcpt),
        cmocka_unit_test(test_readers_agree),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
