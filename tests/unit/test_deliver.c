/*
 * test_deliver.c - unit tests of deliver.c (the qmgr <-> agent protocol)
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attr.h"
#include "cfg.h"
#include "deliver.h"
#include "dsnlog.h"
#include "mem.h"
#include "qfile.h"
#include "unit.h"

/* decode - encode req, split into lines, decode into out */
static int roundtrip(const struct deliver_request *req, struct deliver_request *out,
                     struct str *err)
{
    struct str wire = STR_INIT;
    struct attr_list l = ATTR_LIST_INIT;
    size_t pos = 0;
    int r;

    deliver_request_encode(req, &wire);
    while (pos < wire.len) {
        char *nl = memchr(wire.s + pos, '\n', wire.len - pos);
        size_t len = (size_t)(nl - (wire.s + pos));
        if (len)
            assert_int_equal(attr_decode_line(&l, wire.s + pos, len), 0);
        pos += len + 1;
    }
    r = deliver_request_decode(&l, out, err);
    attr_free(&l);
    str_free(&wire);
    return r;
}

static void test_request_roundtrip(void **state)
{
    struct deliver_request req, out;
    struct str err = STR_INIT;

    (void)state;
    deliver_request_init(&req);
    deliver_request_init(&out);
    req.queue_id = strdup("6921A3F2000C81234");
    req.queue_file = strdup("active/6921A3F2000C81234");
    req.transport = strdup("local");
    req.nexthop = strdup("example.test");
    req.sender = strdup("");
    req.envid = strdup("env\n1");
    req.ret = strdup("HDRS");
    req.arrival_us = 1700000000123456LL;
    req.active_us = req.arrival_us + 5;
    req.sent_us = req.arrival_us + 9;
    req.size = 1234;
    deliver_rcpt_add(&req, "a@example.test", "A@Example.test", "rfc822;a@example.test", 6, 77);
    deliver_rcpt_add(&req, "b@example.test", NULL, NULL, 0, 120);
    assert_int_equal(roundtrip(&req, &out, &err), 0);
    assert_string_equal(out.queue_id, req.queue_id);
    assert_string_equal(out.sender, "");
    assert_string_equal(out.envid, "env\n1");
    assert_int_equal(out.arrival_us, req.arrival_us);
    assert_int_equal(out.size, 1234);
    assert_int_equal(out.nrcpts, 2);
    assert_string_equal(out.rcpts[0].orig, "A@Example.test");
    assert_string_equal(out.rcpts[0].orcpt, "rfc822;a@example.test");
    assert_int_equal(out.rcpts[0].notify, 6);
    assert_int_equal(out.rcpts[0].offset, 77);
    assert_string_equal(out.rcpts[1].orig, "");
    assert_int_equal(out.rcpts[1].offset, 120);
    deliver_request_free(&req);
    deliver_request_free(&out);
    str_free(&err);
}

/* bad_request - a hand-written request that must be refused */
static void expect_bad(const char *const *lines)
{
    struct attr_list l = ATTR_LIST_INIT;
    struct deliver_request out;
    struct str err = STR_INIT;

    deliver_request_init(&out);
    for (; *lines; lines++)
        assert_int_equal(attr_decode_line(&l, *lines, strlen(*lines)), 0);
    assert_int_equal(deliver_request_decode(&l, &out, &err), -1);
    assert_true(err.len > 0);
    attr_free(&l);
    str_free(&err);
}

static void test_request_rejects(void **state)
{
    static const char *no_count[] = {"request=deliver",
                                     "queue_id=6921A3F2000C81234",
                                     "queue_file=active/x",
                                     "transport=local",
                                     "sender=",
                                     "rcpt=a@b",
                                     NULL};
    static const char *too_many[] = {"request=deliver",
                                     "queue_id=6921A3F2000C81234",
                                     "queue_file=active/x",
                                     "transport=local",
                                     "sender=",
                                     "rcpt_count=1",
                                     "rcpt=a@b",
                                     "rcpt=c@d",
                                     NULL};
    static const char *bad_id[] = {
        "request=deliver", "queue_id=../../etc", "queue_file=x", "transport=local",
        "sender=",         "rcpt_count=1",       "rcpt=a@b",     NULL};
    static const char *orphan[] = {"request=deliver", "offset=1", NULL};
    static const char *bad_notify[] = {"request=deliver",
                                       "queue_id=6921A3F2000C81234",
                                       "queue_file=x",
                                       "transport=local",
                                       "sender=",
                                       "rcpt_count=1",
                                       "rcpt=a@b",
                                       "notify=99",
                                       NULL};
    static const char *nul[] = {"request=deliver", "queue_id=6921A3F2000C81234",
                                "queue_file=x",    "transport=local",
                                "sender=a%00b",    "rcpt_count=1",
                                "rcpt=a@b",        NULL};
    (void)state;
    expect_bad(no_count);
    expect_bad(too_many);
    expect_bad(bad_id);
    expect_bad(orphan);
    expect_bad(bad_notify);
    expect_bad(nul);
}

static void test_replies(void **state)
{
    struct attr_list l = ATTR_LIST_INIT;
    struct deliver_result r;
    struct str err = STR_INIT;
    int failed = -1, last = -1;
    int sp[2];

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    struct stream *w = stream_new(sp[0], sp[0], 5), *rd = stream_new(sp[1], sp[1], 5);
    /* marked=1 counts only with sent */
    struct deliver_result out = {
        1, DELIVER_BOUNCED, "5.1.1", "unknown user", NULL, "local", NULL, NULL, NULL, NULL, 0, 1};
    struct deliver_result passed = {
        0,    DELIVER_SENT, "2.0.0", "250 ok", "relayed", "mx[192.0.2.1]:25",
        NULL, NULL,         NULL,    NULL,     1,         1};
    assert_int_equal(deliver_agent_hello(w), STREAM_OK);
    assert_int_equal(deliver_result_send(w, &out), STREAM_OK);
    assert_int_equal(deliver_result_send(w, &passed), STREAM_OK);
    assert_int_equal(deliver_done(w, 1, 0), STREAM_OK);
    assert_int_equal(deliver_done(w, 0, 1), STREAM_OK);
    assert_int_equal(attr_read(rd, &l, 1024, 8192, &err), STREAM_OK);
    assert_int_equal(deliver_hello_check(&l, &err), 0);
    assert_int_equal(attr_read(rd, &l, 1024, 8192, &err), STREAM_OK);
    assert_int_equal(deliver_reply_parse(&l, 2, &r, &failed, &last, &err), 1);
    assert_int_equal(r.rcpt, 1);
    assert_int_equal(r.status, DELIVER_BOUNCED);
    assert_string_equal(r.dsn, "5.1.1");
    assert_string_equal(r.reason, "unknown user");
    assert_int_equal(r.dsn_passed, 0);
    assert_int_equal(r.marked, 0);
    /* the index must be in range */
    assert_int_equal(deliver_reply_parse(&l, 1, &r, &failed, &last, &err), -1);
    assert_int_equal(attr_read(rd, &l, 1024, 8192, &err), STREAM_OK);
    assert_int_equal(deliver_reply_parse(&l, 2, &r, &failed, &last, &err), 1);
    assert_int_equal(r.status, DELIVER_SENT);
    assert_string_equal(r.action, "relayed");
    assert_int_equal(r.dsn_passed, 1);
    assert_int_equal(r.marked, 1);
    assert_int_equal(attr_read(rd, &l, 1024, 8192, &err), STREAM_OK);
    assert_int_equal(deliver_reply_parse(&l, 2, &r, &failed, &last, &err), 0);
    assert_int_equal(failed, 1);
    assert_int_equal(last, 0);
    /* the agent's last request on this connection */
    assert_int_equal(attr_read(rd, &l, 1024, 8192, &err), STREAM_OK);
    assert_int_equal(deliver_reply_parse(&l, 2, &r, &failed, &last, &err), 0);
    assert_int_equal(failed, 0);
    assert_int_equal(last, 1);
    /* a dsn code that does not fit the status */
    attr_reset(&l);
    attr_add(&l, "rcpt", "0");
    attr_add(&l, "status", "sent");
    attr_add(&l, "dsn", "5.0.0");
    assert_int_equal(deliver_reply_parse(&l, 1, &r, &failed, &last, &err), -1);
    stream_free(w, 1);
    stream_free(rd, 1);
    attr_free(&l);
    str_free(&err);
}

/* test_mark_sent - an agent's mark: bounce/ID entries first, then the record's type byte;
 * a stale offset marks nothing */
static void test_mark_sent(void **state)
{
    char dir[] = "/tmp/test_deliver.XXXXXX", cwd[4096];
    struct str err = STR_INIT, path = STR_INIT;
    struct deliver_request req;
    struct qfile_env env;
    struct dsnlog log;
    size_t nlogged = 9;
    int fd;

    (void)state;
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(mkdir("active", 0700), 0);
    assert_int_equal(mkdir("bounce", 0700), 0);
    struct qfile_writer *w = qfile_create("active", &err);
    assert_non_null(w);
    qfile_put_time(w, 1, 0);
    qfile_put_sender(w, "s@example.test");
    qfile_put_rcpt(w, "a@example.test", NULL, 0, NULL);
    qfile_put_rcpt(w, "b@example.test", "rfc822;B@example.test", QNOTIFY_SUCCESS, NULL);
    qfile_begin_content(w);
    qfile_write(w, "x\r\n", 3);
    assert_int_equal(qfile_commit(w, &err), 0);
    str_printf(&path, "active/%s", qfile_writer_id(w));
    deliver_request_init(&req);
    req.queue_id = xstrdup(qfile_writer_id(w));
    req.queue_file = xstrdup(path.s);
    qfile_writer_free(w);
    fd = deliver_queue_open(req.queue_id, &err);
    assert_true(fd >= 0);
    assert_int_equal(qfile_read_envelope(fd, &env, 10, &err), 0);
    deliver_rcpt_add(&req, "a@example.test", "", "", 0, (long long)env.rcpts[0].offset);
    deliver_rcpt_add(&req, "b@example.test", "", "rfc822;B@example.test", QNOTIFY_SUCCESS,
                     (long long)env.rcpts[1].offset);
    deliver_rcpt_add(&req, "c@example.test", "", "", 0, 3); /* no record there */
    assert_ptr_equal(deliver_rcpt_record(&env, &req, 1), &env.rcpts[1]);
    assert_null(deliver_rcpt_record(&env, &req, 2));
    /* the extra entry and the success notice go to bounce/ID, then the mark */
    struct deliver_result r = {1,    DELIVER_SENT, "2.0.0", "ok", "expanded", "local",
                               NULL, NULL,         NULL,    NULL, 0,          0};
    struct deliver_result x = {1,
                               DELIVER_BOUNCED,
                               "5.1.1",
                               "no such user",
                               NULL,
                               "local",
                               NULL,
                               NULL,
                               "member@example.test",
                               NULL,
                               0,
                               0};
    assert_int_equal(deliver_mark_sent(fd, &env, &req, &r, &x, 1, &nlogged), 0);
    assert_int_equal(nlogged, 1);
    r.rcpt = 0; /* no notice wanted: only the mark */
    assert_int_equal(deliver_mark_sent(fd, &env, &req, &r, NULL, 0, &nlogged), 0);
    r.rcpt = 2;
    assert_int_equal(deliver_mark_sent(fd, &env, &req, &r, NULL, 0, &nlogged), -1);
    r.rcpt = 1;
    r.status = DELIVER_DEFERRED; /* only deliveries are marked by agents */
    assert_int_equal(deliver_mark_sent(fd, &env, &req, &r, NULL, 0, &nlogged), -1);
    qfile_env_free(&env);
    assert_int_equal(qfile_read_envelope(fd, &env, 10, &err), 0);
    assert_int_equal(env.rcpts[0].done, 1);
    assert_int_equal(env.rcpts[1].done, 1);
    str_reset(&path);
    dsnlog_path(&path, "bounce", req.queue_id);
    assert_int_equal(dsnlog_read(path.s, &log, &err), 0);
    assert_int_equal(log.n, 2);
    assert_string_equal(log.e[0].rcpt, "member@example.test");
    assert_string_equal(log.e[0].action, "failed");
    assert_int_equal(log.e[0].offset, -1);
    assert_string_equal(log.e[1].rcpt, "b@example.test");
    assert_string_equal(log.e[1].action, "expanded");
    assert_string_equal(log.e[1].orcpt, "rfc822;B@example.test");
    assert_int_equal(log.e[1].offset, (long long)env.rcpts[1].offset);
    /* the agent's shared lock keeps a queue manager's exclusive one out */
    int fd2 = open(req.queue_file, O_RDWR);
    assert_true(fd2 >= 0);
    assert_int_equal(flock(fd2, LOCK_EX | LOCK_NB), -1);
    close(fd);
    assert_int_equal(flock(fd2, LOCK_EX | LOCK_NB), 0);
    close(fd2);
    dsnlog_free(&log);
    qfile_env_free(&env);
    unlink(path.s);
    unlink(req.queue_file);
    rmdir("bounce");
    rmdir("active");
    assert_int_equal(chdir(cwd), 0);
    rmdir(dir);
    deliver_request_free(&req);
    str_free(&err);
    str_free(&path);
}

/* load_request - a request naming queue file queue_file for queue ID id */
static void load_request(struct deliver_request *req, const char *id, const char *queue_file)
{
    deliver_request_init(req);
    req->queue_id = xstrdup(id);
    req->queue_file = xstrdup(queue_file);
}

/* test_queue_load - an agent's start on a request (local and smtp alike): only active/ID,
 * no symlink, one link; a file of more recipients than one request may carry is read (qmgr
 * reads up to QFILE_RCPT_MAX; the smtp agent used to stop at DELIVER_RCPT_MAX) */
static void test_queue_load(void **state)
{
    char dir[] = "/tmp/test_deliver.XXXXXX", cwd[4096];
    struct str err = STR_INIT, a = STR_INIT, path = STR_INIT;
    struct deliver_request req;
    struct qfile_env env;
    const char *why = NULL;
    char *id;
    int fd;

    (void)state;
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(mkdir("active", 0700), 0);
    struct qfile_writer *w = qfile_create("active", &err);
    assert_non_null(w);
    qfile_put_time(w, 1, 0);
    qfile_put_sender(w, "s@example.test");
    for (size_t i = 0; i <= DELIVER_RCPT_MAX; i++) {
        str_reset(&a);
        str_printf(&a, "r%zu@example.test", i);
        qfile_put_rcpt(w, a.s, NULL, 0, NULL);
    }
    assert_int_equal(qfile_commit(w, &err), 0);
    id = xstrdup(qfile_writer_id(w));
    qfile_writer_free(w);
    str_printf(&path, "active/%s", id);

    load_request(&req, id, path.s);
    fd = deliver_queue_load(&req, &env, &why);
    assert_true(fd >= 0);
    assert_int_equal(env.nrcpts, DELIVER_RCPT_MAX + 1);
    assert_string_equal(env.rcpts[DELIVER_RCPT_MAX].addr, "r100000@example.test");
    /* share-locked: a queue manager's exclusive lock waits */
    int fd2 = open(path.s, O_RDONLY);
    assert_int_equal(flock(fd2, LOCK_EX | LOCK_NB), -1);
    close(fd2);
    close(fd);
    qfile_env_free(&env);
    deliver_request_free(&req);

    /* any other name, even one that leads to the same file */
    str_reset(&a);
    str_printf(&a, "active/../active/%s", id);
    load_request(&req, id, a.s);
    assert_int_equal(deliver_queue_load(&req, &env, &why), -1);
    assert_string_equal(why, "bad queue file name in the delivery request");
    assert_int_equal(env.nrcpts, 0);
    deliver_request_free(&req);
    /* a symlink, a second link, a missing file */
    assert_int_equal(rename(path.s, "f"), 0);
    assert_int_equal(symlink("../f", path.s), 0);
    load_request(&req, id, path.s);
    why = NULL;
    assert_int_equal(deliver_queue_load(&req, &env, &why), -1);
    assert_string_equal(why, "cannot read the queue file");
    assert_int_equal(unlink(path.s), 0);
    assert_int_equal(link("f", path.s), 0);
    why = NULL;
    assert_int_equal(deliver_queue_load(&req, &env, &why), -1);
    assert_string_equal(why, "cannot read the queue file");
    assert_int_equal(unlink(path.s), 0);
    why = NULL;
    assert_int_equal(deliver_queue_load(&req, &env, &why), -1);
    assert_string_equal(why, "cannot read the queue file");
    deliver_request_free(&req);
    /* a corrupt file */
    assert_int_equal(rename("f", path.s), 0);
    fd = open(path.s, O_WRONLY);
    assert_int_equal(pwrite(fd, "Q", 1, 0), 1);
    close(fd);
    load_request(&req, id, path.s);
    why = NULL;
    assert_int_equal(deliver_queue_load(&req, &env, &why), -1);
    assert_string_equal(why, "cannot read the queue file");
    deliver_request_free(&req);

    unlink(path.s);
    rmdir("active");
    assert_int_equal(chdir(cwd), 0);
    rmdir(dir);
    free(id);
    str_free(&err);
    str_free(&a);
    str_free(&path);
}

static void test_dsn_valid(void **state)
{
    (void)state;
    assert_true(deliver_dsn_valid("2.0.0", DELIVER_SENT));
    assert_true(deliver_dsn_valid("4.4.1", DELIVER_DEFERRED));
    assert_true(deliver_dsn_valid("5.123.456", DELIVER_BOUNCED));
    assert_false(deliver_dsn_valid("5.1", DELIVER_BOUNCED));
    assert_false(deliver_dsn_valid("5.1.1 ", DELIVER_BOUNCED));
    assert_false(deliver_dsn_valid("4.1.1", DELIVER_BOUNCED));
    assert_false(deliver_dsn_valid("5.1234.1", DELIVER_BOUNCED));
    assert_false(deliver_dsn_valid(NULL, DELIVER_SENT));
}

static void test_delay_format(void **state)
{
    static const struct {
        double v;
        const char *want;
    } t[] = {{0, "0"},     {0.004, "0"},    {0.038, "0.04"}, {0.05, "0.05"},
             {0.1, "0.1"}, {0.123, "0.12"}, {0.999, "1"},    {1.26, "1.3"},
             {2.0, "2"},   {12.3, "12"},    {389.4, "389"}};
    (void)state;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct str s = STR_INIT;
        deliver_format_delay(&s, t[i].v);
        assert_string_equal(s.s, t[i].want);
        str_free(&s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_roundtrip), cmocka_unit_test(test_request_rejects),
        cmocka_unit_test(test_replies),           cmocka_unit_test(test_dsn_valid),
        cmocka_unit_test(test_mark_sent),         cmocka_unit_test(test_queue_load),
        cmocka_unit_test(test_delay_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
