/*
 * test_evloop.c - unit tests of evloop.c and the trigger server
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evloop.h"
#include "mem.h"
#include "proc.h"
#include "sock.h"
#include "trigger.h"
#include "unit.h"

static char order[16];
static int norder;
static struct evloop *ev;
static unsigned long cancel_me;

static void mark(void *ctx)
{
    order[norder++] = *(const char *)ctx;
    if (*(const char *)ctx == 'a')
        evloop_cancel(ev, cancel_me); /* cancelling from inside a callback */
    if (norder >= 3)
        evloop_stop(ev);
}

static void test_timers(void **state)
{
    static const char a = 'a', b = 'b', c = 'c', d = 'd';
    long long start = evloop_now_ms();

    ev = evloop_new();
    norder = 0;
    evloop_timer(ev, 60, mark, (void *)&c);
    evloop_timer(ev, 10, mark, (void *)&a);
    cancel_me = evloop_timer(ev, 30, mark, (void *)&d);
    evloop_timer(ev, 20, mark, (void *)&b);
    evloop_timer(ev, 0, mark, (void *)&b);
    evloop_run(ev);
    assert_memory_equal(order, "bab", 3);
    evloop_run(ev);
    assert_int_equal(norder, 4);
    assert_int_equal(order[3], 'c');
    assert_true(evloop_now_ms() - start >= 55);
    evloop_free(ev);
}

static int got_read;

static void on_read(int fd, int events, void *ctx)
{
    char buf[16];
    got_read += (int)read(fd, buf, sizeof(buf));
    evloop_unwatch(ev, fd);
}

static void test_fd_watch(void **state)
{
    int sp[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    ev = evloop_new();
    got_read = 0;
    evloop_watch(ev, sp[0], EV_READ, on_read, NULL);
    evloop_run_once(ev, 20);
    assert_int_equal(got_read, 0);
    assert_int_equal(write(sp[1], "xyz", 3), 3);
    evloop_run_once(ev, 1000);
    assert_int_equal(got_read, 3);
    evloop_run_once(ev, 10); /* unwatched: nothing more */
    evloop_free(ev);
    close(sp[0]);
    close(sp[1]);
}

static char trig[16];
static int ntrig;

static void on_trigger(int byte, void *ctx)
{
    trig[ntrig++] = (char)byte;
    if (ntrig == 3)
        evloop_stop(ev);
}

static void test_trigger(void **state)
{
    char *dir = unit_tmpdir();
    char *path = xasprintf("%s/sock", dir);
    struct str err = STR_INIT;
    int lfd = sock_listen_unix(path, 16, &err);

    assert_true(lfd >= 0);
    ev = evloop_new();
    ntrig = 0;
    struct trigger_server *ts = trigger_server(ev, lfd, on_trigger, NULL);
    assert_int_equal(trigger_send(path, "A", 1, &err), 0);
    assert_int_equal(trigger_send(path, "FW", 1, &err), 0);
    evloop_run(ev);
    assert_memory_equal(trig, "AFW", 3);
    for (int i = 0; i < 5; i++) /* let the server see the clients' EOFs */
        evloop_run_once(ev, 20);
    trigger_server_free(ts);
    assert_int_equal(trigger_send("/nonexistent/sock", "A", 1, &err), -1);
    assert_non_null(strstr(str_c(&err), "/nonexistent/sock"));
    evloop_free(ev);
    close(lfd);
    unit_rmtree(dir);
    str_free(&err);
    free(path);
    free(dir);
}

static void count_cb(void *ctx)
{
    (*(int *)ctx)++;
}

/* a timer that sifts up the heap must still be cancelled by the id it was given */
static void test_timer_ids(void **state)
{
    struct evloop *loop = evloop_new();
    int fired[8] = {0};
    unsigned long ids[8];

    (void)state;
    /* later deadlines first, so that each new timer moves up the heap */
    for (int i = 0; i < 8; i++)
        ids[i] = evloop_timer(loop, 100000 - i * 10000, count_cb, &fired[i]);
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < i; k++)
            assert_true(ids[i] != ids[k]);
    evloop_cancel(loop, ids[7]); /* the earliest one */
    evloop_cancel(loop, ids[0]); /* the latest one */
    /* an immediate timer runs; cancelled ones never do, the rest still wait */
    int now = 0;
    unsigned long imm = evloop_timer(loop, 0, count_cb, &now);
    evloop_cancel(loop, ids[3]);
    assert_true(imm != 0);
    evloop_run_once(loop, 0);
    assert_int_equal(now, 1);
    for (int i = 0; i < 8; i++)
        assert_int_equal(fired[i], 0);
    /* cancelling the right ones leaves exactly the others pending: cancel all of them */
    for (int i = 1; i < 7; i++)
        if (i != 3)
            evloop_cancel(loop, ids[i]);
    int guard = 0;
    evloop_timer(loop, 1, count_cb, &guard);
    while (guard == 0)
        evloop_run_once(loop, 50);
    for (int i = 0; i < 8; i++)
        assert_int_equal(fired[i], 0);
    evloop_free(loop);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timers), cmocka_unit_test(test_fd_watch),
        cmocka_unit_test(test_trigger), cmocka_unit_test(test_timer_ids)};
    return cmocka_run_group_tests_name("evloop", tests, NULL, NULL);
}
