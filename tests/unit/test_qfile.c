/*
 * test_qfile.c - unit tests of qfile.c (queue file format)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"
#include "qfile.h"
#include "unit.h"

static char *dir;

static int setup(void **state)
{
    dir = unit_tmpdir();
    return 0;
}

static int teardown(void **state)
{
    unit_rmtree(dir);
    free(dir);
    return 0;
}

/* make - a committed file with two recipients and content of n bytes */
static char *make(size_t n, char **idp)
{
    struct str err = STR_INIT;
    struct qfile_writer *w = qfile_create(dir, &err);
    char *content = xmalloc(n);

    assert_non_null(w);
    for (size_t i = 0; i < n; i++)
        content[i] = (char)('a' + i % 26);
    assert_int_equal(qfile_put_time(w, 1700000000, 123456), 0);
    assert_int_equal(qfile_put_sender(w, "sender@example.com"), 0);
    assert_int_equal(qfile_put_attr(w, "client_address", "192.0.2.1"), 0);
    assert_int_equal(qfile_put_rcpt(w, "a@example.com", "rfc822;A@Example.com",
                                    QNOTIFY_SUCCESS | QNOTIFY_FAILURE, NULL),
                     0);
    assert_int_equal(qfile_put_rcpt(w, "b@example.com", NULL, 0, "alias@example.com"), 0);
    assert_int_equal(qfile_begin_content(w), 0);
    /* written in odd pieces to cross chunk boundaries */
    for (size_t off = 0; off < n; off += 777)
        assert_int_equal(qfile_write(w, content + off, n - off < 777 ? n - off : 777), 0);
    assert_int_equal(qfile_content_size(w), n);
    assert_true(qfile_valid_id(qfile_writer_id(w)));
    char *path = xstrdup(qfile_writer_path(w));
    if (idp)
        *idp = xstrdup(qfile_writer_id(w));
    /* before commit the file is visible but incomplete */
    int fd = open(path, O_RDONLY);
    assert_false(qfile_is_complete(fd));
    close(fd);
    assert_int_equal(qfile_commit(w, &err), 0);
    qfile_writer_free(w);
    free(content);
    str_free(&err);
    return path;
}

static void test_roundtrip(void **state)
{
    char *id;
    char *path = make(200000, &id);
    struct qfile_env env;
    struct str err = STR_INIT, chunk = STR_INIT;
    struct stat st;
    int fd = open(path, O_RDWR);

    assert_true(strstr(path, id) != NULL);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_true(qfile_is_complete(fd));
    assert_int_equal(qfile_read_envelope(fd, &env, 100, &err), 0);
    assert_int_equal(env.arrival_sec, 1700000000);
    assert_int_equal(env.arrival_usec, 123456);
    assert_string_equal(env.sender, "sender@example.com");
    assert_string_equal(qfile_env_attr(&env, "client_address"), "192.0.2.1");
    assert_null(qfile_env_attr(&env, "nope"));
    assert_int_equal(env.content_size, 200000);
    assert_int_equal(env.nrcpts, 2);
    assert_string_equal(env.rcpts[0].orcpt, "rfc822;A@Example.com");
    assert_int_equal(env.rcpts[0].notify, QNOTIFY_SUCCESS | QNOTIFY_FAILURE);
    assert_string_equal(env.rcpts[1].dsn_orig, "alias@example.com");
    assert_false(env.rcpts[1].done);

    struct qfile_content c;
    size_t total = 0;
    int r;
    qfile_content_init(&c, fd, &env);
    while ((r = qfile_content_next(&c, &chunk, &err)) == 1) {
        assert_true(chunk.len <= QFILE_CHUNK);
        for (size_t i = 0; i < chunk.len; i++)
            assert_int_equal(chunk.s[i], 'a' + (total + i) % 26);
        total += chunk.len;
    }
    assert_int_equal(r, 0);
    assert_int_equal(total, 200000);

    /* mark a recipient done and set a flag in place */
    assert_int_equal(qfile_mark_done(fd, env.rcpts[1].offset), 0);
    assert_int_equal(qfile_set_flags(fd, &env, QFILE_F_DELAY_WARNED), 0);
    qfile_env_free(&env);
    assert_int_equal(qfile_read_envelope(fd, &env, 100, &err), 0);
    assert_false(env.rcpts[0].done);
    assert_true(env.rcpts[1].done);
    assert_int_equal(env.flags, QFILE_F_DELAY_WARNED);
    assert_int_equal(env.content_size, 200000);
    qfile_env_free(&env);
    /* the recipient limit is enforced */
    assert_int_equal(qfile_read_envelope(fd, &env, 1, &err), -1);
    assert_non_null(strstr(str_c(&err), "more than 1 recipients"));
    close(fd);
    str_free(&err);
    str_free(&chunk);
    free(path);
    free(id);
}

/* corrupt_at - copy of a good file with bytes replaced at offset, or truncated */
static int expect_corrupt(const char *path, long offset, const char *bytes, size_t n, long trunc,
                          const char *why)
{
    struct str err = STR_INIT, chunk = STR_INIT;
    struct qfile_env env;
    int fd = open(path, O_RDWR);
    int r;

    if (bytes)
        assert_int_equal(pwrite(fd, bytes, n, offset), (ssize_t)n);
    if (trunc >= 0)
        assert_int_equal(ftruncate(fd, trunc), 0);
    r = qfile_read_envelope(fd, &env, 100, &err);
    if (r == 0) {
        struct qfile_content c;
        qfile_content_init(&c, fd, &env);
        while ((r = qfile_content_next(&c, &chunk, &err)) == 1)
            ;
        qfile_env_free(&env);
    }
    close(fd);
    if (r != -1 || strstr(str_c(&err), why) == NULL)
        fail_msg("expected failure '%s', got %d '%s'", why, r, str_c(&err));
    str_free(&err);
    str_free(&chunk);
    return 0;
}

static void test_corrupt_files(void **state)
{
    char *p;

    p = make(10, NULL);
    expect_corrupt(p, 0, "Q", 1, -1, "not a queue file");
    free(p);
    p = make(10, NULL);
    expect_corrupt(p, 5, "PETREL2", 7, -1, "unsupported queue file version");
    free(p);
    p = make(100, NULL);
    struct stat st;
    stat(p, &st);
    expect_corrupt(p, 0, NULL, 0, st.st_size - 5, "missing end record");
    free(p);
    p = make(100, NULL);
    expect_corrupt(p, 0, NULL, 0, st.st_size - 20, "truncated record");
    free(p);
    p = make(10, NULL);
    /* the first record after the size record: change its type to D (content type) */
    expect_corrupt(p, 12 + 25, "D", 1, -1, "unexpected record type 0x44 in the envelope");
    free(p);
    p = make(10, NULL);
    expect_corrupt(p, 12 + 26, "\x7f\xff\xff\xff", 4, -1, "exceeds the limit");
    free(p);
}

static void test_ids(void **state)
{
    assert_true(qfile_valid_id("65F1A2B3C0001E240"));
    assert_false(qfile_valid_id("65f1a2b3c0001e240"));
    assert_false(qfile_valid_id("../../etc/passwd"));
    assert_false(qfile_valid_id("ABC"));
    assert_false(qfile_valid_id(".tmp.1234.0.5"));
    /* IDs made in a row sort by time */
    char *a, *b;
    char *pa = make(1, &a), *pb = make(1, &b);
    assert_true(strncmp(a, b, 13) <= 0);
    free(a);
    free(b);
    free(pa);
    free(pb);
}

/* age - set a file's times back by an hour */
static void age(const char *path)
{
    struct timespec ts[2];

    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= 3600;
    ts[1] = ts[0];
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* an incomplete file is removed only when its writer is gone and it is old enough;
 * a committed one never */
static void test_remove_abandoned(void **state)
{
    struct str err = STR_INIT;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    char *live_id, *done_id, *dead_id = NULL;
    int pipefd[2];
    char buf[QFILE_ID_MAX] = "";

    assert_true(dfd >= 0);
    /* a live writer: locked, so kept even when old */
    struct qfile_writer *w = qfile_create(dir, &err);
    assert_non_null(w);
    live_id = xstrdup(qfile_writer_id(w));
    age(qfile_writer_path(w));
    assert_int_equal(qfile_remove_abandoned(dfd, live_id), 0);
    /* a writer that died without committing: removed once old, not before */
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        struct qfile_writer *cw = qfile_create(dir, &err);
        if (cw == NULL || write(pipefd[1], qfile_writer_id(cw), strlen(qfile_writer_id(cw))) < 0)
            _exit(1);
        _exit(0); /* dies with the file incomplete */
    }
    assert_true(pid > 0);
    close(pipefd[1]);
    assert_true(read(pipefd[0], buf, sizeof(buf) - 1) > 0);
    close(pipefd[0]);
    waitpid(pid, NULL, 0);
    dead_id = xstrdup(buf);
    assert_int_equal(qfile_remove_abandoned(dfd, dead_id), 0); /* too young */
    char *dead_path = xasprintf("%s/%s", dir, dead_id);
    age(dead_path);
    assert_int_equal(qfile_remove_abandoned(dfd, dead_id), 1);
    assert_int_equal(access(dead_path, F_OK), -1);
    /* committed: never */
    free(make(10, &done_id));
    char *done_path = xasprintf("%s/%s", dir, done_id);
    age(done_path);
    assert_int_equal(qfile_remove_abandoned(dfd, done_id), 0);
    assert_int_equal(access(done_path, F_OK), 0);
    /* the live writer still commits */
    assert_int_equal(qfile_commit(w, &err), 0);
    qfile_writer_free(w);
    close(dfd);
    str_free(&err);
    free(live_id), free(done_id), free(dead_id), free(dead_path), free(done_path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_abandoned, setup, teardown),
    };
    return cmocka_run_group_tests_name("qfile", tests, NULL, NULL);
}
