/*
 * test_qadmin.c - unit tests of qadmin.c (petrel-super's requests to qmgr, both
 * ends)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mem.h"
#include "proc.h"
#include "qadmin.h"
#include "sock.h"
#include "unit.h"

#define ID1 "00000001000000A"
#define ID2 "6553F1A20A3B1C"

/* request parsing: the text as it arrives, the op or -1, the IDs (space
 * separated) or the start of the error */
static const struct {
    const char *in;
    int op;
    const char *want;
} requests[] = {
    {"request=hold\nqueue_id=" ID1 "\n\n", QADMIN_HOLD, ID1},
    {"request=delete\nqueue_id=" ID1 "\nqueue_id=" ID2 "\n\n", QADMIN_DELETE, ID1 " " ID2},
    {"request=requeue\n\n", QADMIN_REQUEUE, ""},
    {"queue_id=" ID1 "\nrequest=hold\n\n", QADMIN_HOLD, ID1}, /* any order */
    {"request=release\nqueue_id=" ID1 "\n\n", -1, "unknown request"},
    {"queue_id=" ID1 "\n\n", -1, "unknown request"},
    {"request=hold\nqueue_id=../../etc/passwd\n\n", -1, "bad queue ID"},
    {"request=hold\nqueue_id=\n\n", -1, "bad queue ID"},
    {"request=hold\nqueue_id=" ID1 "\nsize=1\n\n", -1, "unknown attribute size"},
    {"request=hold\nnoequalsign\n\n", -1, "malformed request"},
    {"\n", -1, "unknown request"},
};

static void test_parse_request(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
        struct strlist ids = STRLIST_INIT;
        struct str err = STR_INIT, got = STR_INIT;
        const char *in = requests[i].in;
        size_t end = qadmin_request_end(in, strlen(in));
        assert_int_equal(end, strlen(in));
        int op = qadmin_parse_request(in, end, &ids, &err);
        if (op != requests[i].op)
            fail_msg("request %zu: op %d, want %d (%s)", i, op, requests[i].op, str_c(&err));
        if (op < 0) {
            assert_true(strncmp(str_c(&err), requests[i].want, strlen(requests[i].want)) == 0);
        } else {
            for (size_t k = 0; k < ids.n; k++)
                str_printf(&got, "%s%s", k ? " " : "", ids.v[k]);
            assert_string_equal(str_c(&got), requests[i].want);
        }
        strlist_free(&ids);
        str_free(&err);
        str_free(&got);
    }
}

static void test_request_end(void **state)
{
    const char *r = "request=hold\nqueue_id=" ID1 "\n\nmore";

    (void)state;
    assert_int_equal(qadmin_request_end("", 0), 0);
    assert_int_equal(qadmin_request_end("request=hold\n", 13), 0);
    assert_int_equal(qadmin_request_end("request=hold\nqueue_id=", 22), 0);
    assert_int_equal(qadmin_request_end(r, strlen(r)), strlen(r) - 4);
}

static void test_too_many_ids(void **state)
{
    struct str in = STR_INIT, err = STR_INIT;
    struct strlist ids = STRLIST_INIT;

    (void)state;
    str_cat(&in, "request=delete\n");
    for (int i = 0; i <= QADMIN_BATCH_MAX; i++)
        str_printf(&in, "queue_id=%014X\n", i + 1);
    str_cat(&in, "\n");
    assert_int_equal(qadmin_parse_request(in.s, in.len, &ids, &err), -1);
    assert_string_equal(str_c(&err), "too many queue IDs");
    strlist_free(&ids);
    str_free(&in);
    str_free(&err);
}

/* answer - an answer list from "name=value" pairs */
static void answer(struct attr_list *ans, const char *const *pairs)
{
    attr_reset(ans);
    for (; *pairs; pairs += 2)
        attr_add(ans, pairs[0], pairs[1]);
}

static void test_parse_answer(void **state)
{
    static char *ids[] = {ID1, ID2};
    static const char *const good[] = {"queue_id", ID1,        "result", "ok", "queue_id", ID2,
                                       "result",   "notfound", "end",    "1",  NULL};
    static const char *const swapped[] = {"queue_id", ID2,  "result", "ok", "queue_id", ID1,
                                          "result",   "ok", "end",    "1",  NULL};
    static const char *const short_[] = {"queue_id", ID1, "result", "ok", "end", "1", NULL};
    static const char *const no_end[] = {"queue_id", ID1,      "result", "ok", "queue_id",
                                         ID2,        "result", "ok",     NULL};
    static const char *const odd[] = {"queue_id", ID1,  "result", "maybe", "queue_id", ID2,
                                      "result",   "ok", "end",    "1",     NULL};
    static const char *const error[] = {"status", "error", "reason", "bad queue ID", NULL};
    struct attr_list ans = ATTR_LIST_INIT;
    struct str err = STR_INIT;
    int res[2] = {-1, -1};

    (void)state;
    answer(&ans, good);
    assert_int_equal(qadmin_parse_answer(&ans, ids, 2, res, &err), 0);
    assert_int_equal(res[0], QADMIN_OK);
    assert_int_equal(res[1], QADMIN_NOTFOUND);
    const char *const *bad[] = {swapped, short_, no_end, odd};
    for (size_t i = 0; i < 4; i++) {
        str_reset(&err);
        answer(&ans, bad[i]);
        assert_int_equal(qadmin_parse_answer(&ans, ids, 2, res, &err), -2);
        assert_string_equal(str_c(&err), "malformed answer from qmgr");
    }
    str_reset(&err);
    answer(&ans, error);
    assert_int_equal(qadmin_parse_answer(&ans, ids, 2, res, &err), -2);
    assert_string_equal(str_c(&err), "qmgr: bad queue ID");
    attr_free(&ans);
    str_free(&err);
}

/* serve_once - a fake qmgr: read one request, answer each ID ok, exit */
static void serve_once(int lfd)
{
    char buf[4096];
    size_t len = 0, end;
    struct strlist ids = STRLIST_INIT;
    struct attr_list ans = ATTR_LIST_INIT;
    struct str err = STR_INIT, out = STR_INIT;
    int fd;

    proc_nonblock(lfd, 0); /* sock_listen_unix made it non-blocking for an event loop */
    fd = accept(lfd, NULL, NULL);

    while ((end = qadmin_request_end(buf, len)) == 0) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        if (n <= 0)
            _exit(1);
        len += (size_t)n;
    }
    if (qadmin_parse_request(buf, end, &ids, &err) != QADMIN_HOLD)
        _exit(2);
    for (size_t i = 0; i < ids.n; i++) {
        attr_add(&ans, "queue_id", ids.v[i]);
        attr_add(&ans, "result", i == 0 ? "ok" : "notfound");
    }
    attr_add(&ans, "end", "1");
    attr_encode(&ans, &out);
    if (write(fd, out.s, out.len) != (ssize_t)out.len)
        _exit(3);
    _exit(0);
}

static void test_round_trip_and_lock(void **state)
{
    char *dir = unit_tmpdir(), cwd[4096];
    static char *ids[] = {ID1, ID2};
    struct str err = STR_INIT;
    int res[2] = {-1, -1}, status, lfd, fd, fd2;
    pid_t pid;

    (void)state;
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(mkdir("private", 0700), 0);
    /* nobody listens: -1 */
    assert_int_equal(qadmin_request("hold", ids, 2, res, 2, &err), -1);
    str_reset(&err);
    lfd = sock_listen_unix(QADMIN_SOCKET, 4, &err);
    assert_true(lfd >= 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        serve_once(lfd);
    if (qadmin_request("hold", ids, 2, res, 5, &err) != 0)
        fail_msg("round trip: %s", str_c(&err));
    assert_int_equal(res[0], QADMIN_OK);
    assert_int_equal(res[1], QADMIN_NOTFOUND);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(lfd);
    /* the lock: free, then held by someone else */
    assert_int_equal(qadmin_lock(getuid(), getgid(), &fd, &err), 1);
    assert_int_equal(qadmin_lock(getuid(), getgid(), &fd2, &err), 0);
    assert_int_equal(fd2, -1);
    close(fd);
    assert_int_equal(qadmin_lock(getuid(), getgid(), &fd2, &err), 1);
    close(fd2);
    assert_int_equal(chdir(cwd), 0);
    unit_rmtree(dir);
    free(dir);
    str_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_request), cmocka_unit_test(test_request_end),
        cmocka_unit_test(test_too_many_ids), cmocka_unit_test(test_parse_answer),
        cmocka_unit_test(test_round_trip_and_lock)};
    return cmocka_run_group_tests_name("qadmin", tests, NULL, NULL);
}
