/*
 * test_maildir.c - unit tests of the one Maildir writer (lib/mstore/maildir.c)
 *
 * The name format (unique and keyed bases, the host part from the system's
 * host name), the ,S= and ,W= sizes for LF and CRLF input (split across
 * writes at every awkward place), and the durable moves: fsync(2) is
 * wrapped at link time (-Wl,--wrap=fsync) so that the test sees which
 * files and directories were synced, in which order.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maildir.h"
#include "mem.h"
#include "mstore.h"
#include "str.h"
#include "unit.h"

/* ---- fsync, watched ------------------------------------------------------------------- */

int __real_fsync(int fd);
int __wrap_fsync(int fd);

static char synced[16][PATH_MAX]; /* what fsync was called on, in order */
static int nsynced;

int __wrap_fsync(int fd)
{
    char link[64];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    if (nsynced < 16 && (n = readlink(link, synced[nsynced], PATH_MAX - 1)) > 0) {
        synced[nsynced][n] = '\0';
        nsynced++;
    }
    return __real_fsync(fd);
}

/* ---- helpers ------------------------------------------------------------------------- */

/* new_maildir - a fresh Maildir (tmp, new, cur); its real path, as /proc shows it */
static char *new_maildir(void)
{
    char *d = unit_tmpdir(), *r, *p;
    static const char *subs[] = {"tmp", "new", "cur"};

    for (int i = 0; i < 3; i++) {
        p = xasprintf("%s/%s", d, subs[i]);
        assert_int_equal(mkdir(p, 0700), 0);
        free(p);
    }
    r = realpath(d, NULL);
    assert_non_null(r);
    free(d);
    return r;
}

/* only_file - the one file name in dir/sub (fails unless there is exactly one) */
static char *only_file(const char *dir, const char *sub)
{
    char *p = xasprintf("%s/%s", dir, sub), *name = NULL;
    DIR *d = opendir(p);
    struct dirent *e;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        assert_null(name);
        name = xstrdup(e->d_name);
    }
    closedir(d);
    free(p);
    assert_non_null(name);
    return name;
}

static int nfiles(const char *dir, const char *sub)
{
    char *p = xasprintf("%s/%s", dir, sub);
    DIR *d = opendir(p);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    free(p);
    return n;
}

static void read_all(const char *path, struct str *out)
{
    char buf[4096];
    int fd = open(path, O_RDONLY);
    ssize_t n;

    assert_true(fd >= 0);
    str_reset(out);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        str_catn(out, buf, (size_t)n);
    close(fd);
}

/* host - the host part every writer uses: gethostname with '/' and ':' escaped */
static void host(struct str *out)
{
    char h[256];

    assert_int_equal(gethostname(h, sizeof(h)), 0);
    str_reset(out);
    for (const char *p = h; *p; p++)
        str_cat(out, *p == '/' ? "\\057" : *p == ':' ? "\\072" : (char[]){*p, 0});
}

static void assert_matches(const char *re, const char *s)
{
    regex_t rx;

    assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
    if (regexec(&rx, s, 0, NULL, 0) != 0)
        fail_msg("\"%s\" does not match %s", s, re);
    regfree(&rx);
}

/* ---- names --------------------------------------------------------------------------- */

static void test_unique_name(void **state)
{
    struct str a = STR_INIT, b = STR_INIT, h = STR_INIT, re = STR_INIT;

    (void)state;
    host(&h);
    maildir_unique(&a);
    maildir_unique(&b);
    str_printf(&re, "^[0-9]{10,}\\.M[0-9]{6}P%ldQ[0-9]+\\.", (long)getpid());
    assert_matches(str_c(&re), str_c(&a));
    assert_string_equal(str_c(&a) + a.len - h.len, str_c(&h)); /* the system's host name */
    assert_string_not_equal(str_c(&a), str_c(&b));             /* the sequence tells them apart */
    str_free(&a);
    str_free(&b);
    str_free(&h);
    str_free(&re);
}

static void test_keyed_and_sized_names(void **state)
{
    struct str n = STR_INIT, h = STR_INIT, want = STR_INIT;

    (void)state;
    host(&h);
    maildir_keyed(&n, 1700000000, 42, "Q4AbCdR117");
    str_printf(&want, "1700000000.M000042Q4AbCdR117.%s", str_c(&h));
    assert_string_equal(str_c(&n), str_c(&want));
    maildir_sized(&n, "1.M2P3Q4.h", 10, 12);
    assert_string_equal(str_c(&n), "1.M2P3Q4.h,S=10,W=12");
    maildir_sized(&n, "1.M2P3Q4.h", 10, -1);
    assert_string_equal(str_c(&n), "1.M2P3Q4.h,S=10");
    maildir_sized(&n, "1.M2P3Q4.h", -1, 12);
    assert_string_equal(str_c(&n), "1.M2P3Q4.h,W=12");
    assert_int_equal(maildir_name_vsize("1.M2P3Q4.h,S=10,W=12:2,S"), 12);
    assert_int_equal(maildir_name_vsize("1.M2P3Q4.h,S=10,W=12"), 12);
    assert_int_equal(maildir_name_vsize("1.M2P3Q4.h,S=10"), -1);
    assert_int_equal(maildir_name_vsize("1.M2P3Q4.h:2,W=12"), -1); /* in the info: not a size */
    assert_int_equal(maildir_base_len("abc:2,S"), 3);
    assert_int_equal(maildir_info_flags("x:2,FSTa"),
                     MSTORE_F_FLAGGED | MSTORE_F_SEEN | MSTORE_F_DELETED);
    maildir_set_flags("x,W=3:2,aS", MSTORE_F_DRAFT | MSTORE_F_ANSWERED, &n);
    assert_string_equal(str_c(&n), "x,W=3:2,DRa");
    str_free(&n);
    str_free(&h);
    str_free(&want);
}

/* ---- sizes --------------------------------------------------------------------------- */

/* write_pieces - write text through a new writer, split after each offset in cuts (ascending,
 * 0-terminated), finish it; the stored bytes and sizes are checked by the caller */
static struct maildir_file *write_pieces(const char *dir, int flags, const char *text,
                                         const size_t *cuts)
{
    struct maildir_file *f;
    size_t at = 0, n = strlen(text);

    assert_int_equal(maildir_create(dir, flags, &f), 0);
    for (; *cuts; cuts++) {
        assert_int_equal(maildir_write(f, text + at, *cuts - at), 0);
        at = *cuts;
    }
    assert_int_equal(maildir_write(f, text + at, n - at), 0);
    assert_int_equal(maildir_finish(f), 0);
    return f;
}

struct size_case {
    int flags;
    const char *in;
    size_t cuts[4];
    const char *stored;
    uint64_t w; /* RFC822.SIZE: the stored bytes with every bare LF as CRLF */
};

static void test_sizes(void **state)
{
    static const struct size_case cases[] = {
        /* LF input, stored as it is */
        {0, "Subject: a\n\nbody\n", {0}, "Subject: a\n\nbody\n", 20},
        {0, "a\nbb\n\nc", {1, 2, 0}, "a\nbb\n\nc", 10},
        /* a CR at the end of one write, its LF at the start of the next: one CRLF */
        {0, "x\r\ny\n", {2, 0}, "x\r\ny\n", 6},
        /* CRLF input for the store (IMAP APPEND): CRLF becomes LF, a lone CR stays */
        {MAILDIR_CRLF, "Subject: a\r\n\r\nbody\r\n", {0}, "Subject: a\n\nbody\n", 20},
        {MAILDIR_CRLF, "a\r\nb\r\n", {2, 3, 0}, "a\nb\n", 6},
        {MAILDIR_CRLF, "bare\rCR\r\n", {5, 0}, "bare\rCR\n", 9},
        {MAILDIR_CRLF, "\r\r\nend\r", {1, 2, 0}, "\r\nend\r", 6},
        {MAILDIR_CRLF, "lf only\n", {0}, "lf only\n", 9},
        /* CRLF input as it is (what local stores for a lone CR before CRLF) */
        {0, "a\r\nb\r\n", {0}, "a\r\nb\r\n", 6},
    };
    struct str got = STR_INIT, name = STR_INIT, want = STR_INIT;
    char *dir = new_maildir();

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct size_case *c = &cases[i];
        struct maildir_file *f = write_pieces(dir, c->flags, c->in, c->cuts);
        read_all(maildir_tmp_path(f), &got);
        if (got.len != strlen(c->stored) || memcmp(got.s, c->stored, got.len) != 0)
            fail_msg("case %zu: stored bytes differ", i);
        assert_int_equal(maildir_size(f), strlen(c->stored));
        assert_int_equal(maildir_crlf_size(f), c->w);
        assert_int_equal(maildir_vsize(c->stored, strlen(c->stored), '\0'), c->w);
        maildir_name(f, NULL, &name);
        str_reset(&want);
        str_printf(&want, "%s,S=%zu,W=%llu", maildir_base(f), strlen(c->stored),
                   (unsigned long long)c->w);
        assert_string_equal(str_c(&name), str_c(&want));
        maildir_free(f); /* removes the file from tmp/ */
        assert_int_equal(nfiles(dir, "tmp"), 0);
    }
    unit_rmtree(dir);
    free(dir);
    str_free(&got);
    str_free(&name);
    str_free(&want);
}

/* ref_vsize - a byte-at-a-time count of the CRLF size */
static uint64_t ref_vsize(const char *p, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++)
        v += (p[i] == '\n' && (i == 0 || p[i - 1] != '\r')) ? 2 : 1;
    return v;
}

/* large writes: through the buffer, straight to the file, and a CRLF pair split at the seams */
static void test_large_writes(void **state)
{
    size_t n = 300000, cuts[][3] = {{0, 0, 0}, {10, 150000, 0}, {65535, 65537, 200001}};
    char *in = xmalloc(n), *dir = new_maildir();
    struct str got = STR_INIT;

    (void)state;
    for (size_t i = 0; i < n; i++) /* lines of LF and CRLF, a CR or LF at every seam above */
        in[i] = i % 7 == 6 ? '\n' : i % 7 == 5 && i % 2 ? '\r' : (char)('a' + i % 26);
    in[9] = in[149999] = in[65534] = in[65536] = in[200000] = '\r';
    in[10] = in[150000] = in[65535] = in[65537] = in[200001] = '\n';
    for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
        struct maildir_file *f;
        size_t at = 0;
        assert_int_equal(maildir_create(dir, 0, &f), 0);
        for (size_t k = 0; k < 3 && cuts[c][k]; k++) {
            assert_int_equal(maildir_write(f, in + at, cuts[c][k] - at), 0);
            at = cuts[c][k];
        }
        assert_int_equal(maildir_write(f, in + at, n - at), 0);
        assert_int_equal(maildir_finish(f), 0);
        read_all(maildir_tmp_path(f), &got);
        assert_int_equal(got.len, n);
        assert_memory_equal(got.s, in, n);
        assert_int_equal(maildir_size(f), n);
        assert_int_equal(maildir_crlf_size(f), ref_vsize(in, n));
        maildir_free(f);
    }
    unit_rmtree(dir);
    free(dir);
    free(in);
    str_free(&got);
}

/* ---- durable moves ------------------------------------------------------------------- */

static void test_deliver_fsyncs_file_then_new(void **state)
{
    static const size_t none[] = {0};
    struct str want = STR_INIT, key = STR_INIT, tmp = STR_INIT;
    char *dir = new_maildir(), *name, *newdir = xasprintf("%s/new", dir);
    struct maildir_file *f;

    (void)state;
    nsynced = 0;
    f = write_pieces(dir, 0, "Subject: x\n\nhello\n", none);
    str_cpy(&tmp, maildir_tmp_path(f));
    assert_int_equal(nsynced, 1); /* the file, before anything can see it */
    assert_string_equal(synced[0], str_c(&tmp));
    maildir_keyed(&key, 1700000000, 7, "QABCR9");
    assert_int_equal(maildir_deliver(f, str_c(&key)), 0);
    assert_int_equal(nsynced, 2); /* then new/, after the link */
    assert_string_equal(synced[1], newdir);
    name = only_file(dir, "new");
    str_printf(&want, "%s,S=18,W=21", str_c(&key));
    assert_string_equal(name, str_c(&want));
    assert_int_equal(nfiles(dir, "tmp"), 0);
    assert_int_equal(access(str_c(&tmp), F_OK), -1);
    maildir_free(f);
    free(name);

    /* the same delivery again (an attempt after a crash before the mark): found, one file */
    f = write_pieces(dir, 0, "Subject: x\n\nhello\n", none);
    assert_int_equal(maildir_deliver(f, str_c(&key)), 1);
    maildir_free(f);
    assert_int_equal(nfiles(dir, "new"), 1);
    assert_int_equal(nfiles(dir, "tmp"), 0);

    /* a unique name (no key): the tmp/ file's own base */
    f = write_pieces(dir, 0, "x\n", none);
    str_reset(&want);
    str_printf(&want, "%s/new/%s,S=2,W=3", dir, maildir_base(f));
    assert_int_equal(maildir_deliver(f, NULL), 0);
    assert_int_equal(access(str_c(&want), F_OK), 0);
    maildir_free(f);

    unit_rmtree(dir);
    free(dir);
    free(newdir);
    str_free(&want);
    str_free(&key);
    str_free(&tmp);
}

static void test_deliver_failure_names_the_step(void **state)
{
    static const size_t none[] = {0};
    char *dir = new_maildir(), *newdir = xasprintf("%s/new", dir);
    struct maildir_file *f = write_pieces(dir, 0, "x\n", none);
    const char *what, *path;

    (void)state;
    assert_int_equal(rmdir(newdir), 0); /* no new/: neither link nor rename can work */
    assert_int_equal(maildir_deliver(f, NULL), -1);
    what = maildir_failed(f, &path);
    assert_string_equal(what, "link maildir file to");
    assert_non_null(strstr(path, "/new/"));
    maildir_free(f); /* and the file left in tmp/ goes */
    assert_int_equal(nfiles(dir, "tmp"), 0);
    unit_rmtree(dir);
    free(dir);
    free(newdir);
}

static void test_move_into_cur_and_sync(void **state)
{
    static const size_t none[] = {0};
    struct str name = STR_INIT, flagged = STR_INIT;
    char *dir = new_maildir(), *cur = xasprintf("%s/cur", dir), *got;
    struct maildir_file *f = write_pieces(dir, MAILDIR_CRLF, "a\r\n", none);

    (void)state;
    maildir_name(f, NULL, &name);
    maildir_set_flags(str_c(&name), MSTORE_F_SEEN, &flagged);
    assert_int_equal(maildir_move(maildir_tmp_path(f), dir, str_c(&flagged)), 0);
    maildir_keep(f);
    maildir_free(f);
    nsynced = 0;
    assert_int_equal(maildir_sync_dir(dir, "cur"), 0);
    assert_int_equal(nsynced, 1);
    assert_string_equal(synced[0], cur);
    got = only_file(dir, "cur");
    assert_string_equal(got, str_c(&flagged));
    assert_non_null(strstr(got, ",S=2,W=3:2,S"));
    unit_rmtree(dir);
    free(dir);
    free(cur);
    free(got);
    str_free(&name);
    str_free(&flagged);
}

static void test_create_fails_without_tmp(void **state)
{
    struct maildir_file *f = (struct maildir_file *)1;
    char *dir = unit_tmpdir();

    (void)state;
    assert_int_equal(maildir_create(dir, 0, &f), -1);
    assert_null(f);
    unit_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unique_name),
        cmocka_unit_test(test_keyed_and_sized_names),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_large_writes),
        cmocka_unit_test(test_deliver_fsyncs_file_then_new),
        cmocka_unit_test(test_deliver_failure_names_the_step),
        cmocka_unit_test(test_move_into_cur_and_sync),
        cmocka_unit_test(test_create_fails_without_tmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
