/*
 * test_qrewrite.c - unit tests of the queue-file rewrite helpers (qfile_create_as,
 * qfile_copy_content, the envelope read window) and of the showq wire form
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"
#include "qfile.h"
#include "showq.h"
#include "unit.h"

/* write_file - a committed queue file with nr recipients and n content bytes */
static char *write_file(const char *dir, size_t nr, size_t n, struct str *id)
{
    struct str err = STR_INIT;
    struct qfile_writer *w = qfile_create(dir, &err);
    char *path;

    assert_non_null(w);
    qfile_put_time(w, 1700000000, 5);
    qfile_put_sender(w, "s@x");
    qfile_put_attr(w, "ret", "HDRS");
    for (size_t i = 0; i < nr; i++) {
        char a[64];
        snprintf(a, sizeof(a), "user%zu@example.test", i);
        qfile_put_rcpt(w, a, i % 2 ? "rfc822;orig@x" : NULL, (int)(i % 16), NULL);
    }
    qfile_begin_content(w);
    for (size_t i = 0; i < n; i++)
        qfile_write(w, "abcdefghij" + i % 10, 1);
    assert_int_equal(qfile_commit(w, &err), 0);
    str_cpy(id, qfile_writer_id(w));
    path = xstrdup(qfile_writer_path(w));
    qfile_writer_free(w);
    str_free(&err);
    return path;
}

static void test_rewrite_keeps_id_and_content(void **state)
{
    char *dir = unit_tmpdir();
    struct str id = STR_INIT, err = STR_INIT, chunk = STR_INIT, all = STR_INIT;
    /* many recipients: the envelope is larger than the 8 KiB read window */
    char *path = write_file(dir, 400, 150000, &id);
    struct qfile_env env, env2;
    struct qfile_content c;
    int fd = open(path, O_RDONLY);

    (void)state;
    assert_int_equal(qfile_read_envelope(fd, &env, 1000, &err), 0);
    assert_int_equal(env.nrcpts, 400);
    assert_string_equal(env.rcpts[399].addr, "user399@example.test");
    assert_string_equal(env.rcpts[1].orcpt, "rfc822;orig@x");
    assert_int_equal(env.rcpts[15].notify, 15);
    /* a rewrite with two recipients, renamed over the original */
    struct qfile_writer *w = qfile_create_as(dir, id.s, &err);
    assert_non_null(w);
    assert_non_null(strstr(qfile_writer_path(w), "/.rw."));
    assert_string_equal(qfile_writer_id(w), id.s);
    qfile_put_time(w, env.arrival_sec, env.arrival_usec);
    qfile_put_sender(w, env.sender);
    qfile_put_rcpt(w, "a@b", NULL, 0, "user0@example.test");
    qfile_put_rcpt(w, "c@d", NULL, 0, "user0@example.test");
    qfile_begin_content(w);
    assert_int_equal(qfile_copy_content(w, fd, &env, &err), 0);
    assert_int_equal(qfile_commit(w, &err), 0);
    assert_int_equal(rename(qfile_writer_path(w), path), 0);
    qfile_writer_free(w);
    close(fd);
    fd = open(path, O_RDONLY);
    assert_true(qfile_is_complete(fd));
    assert_int_equal(qfile_read_envelope(fd, &env2, 1000, &err), 0);
    assert_int_equal(env2.nrcpts, 2);
    assert_string_equal(env2.rcpts[1].dsn_orig, "user0@example.test");
    assert_int_equal(env2.content_size, 150000);
    qfile_content_init(&c, fd, &env2);
    while (qfile_content_next(&c, &chunk, &err) > 0)
        str_catn(&all, chunk.s, chunk.len);
    assert_int_equal(all.len, 150000);
    assert_int_equal(all.s[149999], "abcdefghij"[149999 % 10]);
    close(fd);
    qfile_env_free(&env);
    qfile_env_free(&env2);
    free(path);
    str_free(&id);
    str_free(&err);
    str_free(&chunk);
    str_free(&all);
    unit_rmtree(dir);
    free(dir);
}

static void test_showq_wire(void **state)
{
    struct showq_entry e, d;
    struct attr_list l = ATTR_LIST_INIT;
    struct str err = STR_INIT;

    (void)state;
    memset(&e, 0, sizeof(e));
    snprintf(e.id, sizeof(e.id), "6921A3F2000C81234");
    snprintf(e.queue, sizeof(e.queue), "deferred");
    e.size = 1234;
    e.arrival = 1700000000;
    e.next_attempt = 1700000300;
    e.sender = xstrdup("");
    e.rcpts = xcalloc(2, sizeof(*e.rcpts));
    e.rcpts[0].addr = xstrdup("a@b");
    e.rcpts[0].reason = xstrdup("connect to b: refused\nsecond line");
    e.rcpts[1].addr = xstrdup("c@d");
    e.rcpts[1].reason = xstrdup("");
    e.nrcpts = 2;
    showq_entry_encode(&e, &l);
    assert_int_equal(showq_entry_decode(&l, &d, &err), 0);
    assert_string_equal(d.id, e.id);
    assert_string_equal(d.queue, "deferred");
    assert_int_equal(d.size, 1234);
    assert_int_equal(d.next_attempt, 1700000300);
    assert_string_equal(d.sender, "");
    assert_int_equal(d.nrcpts, 2);
    assert_string_equal(d.rcpts[0].reason, "connect to b: refused\nsecond line");
    assert_string_equal(d.rcpts[1].addr, "c@d");
    showq_entry_free(&d);
    /* a bad queue ID is refused */
    attr_reset(&l);
    attr_add(&l, "queue_id", "../../x");
    attr_add(&l, "queue", "active");
    assert_int_equal(showq_entry_decode(&l, &d, &err), -1);
    showq_entry_free(&e);
    attr_free(&l);
    str_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rewrite_keeps_id_and_content),
        cmocka_unit_test(test_showq_wire),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
