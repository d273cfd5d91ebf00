/*
 * test_connlimit.c - unit tests of connlimit.c (connections per client address)
 *
 * Other processes are forked children that take a slot and wait; the table
 * lives in private/t.clients under a temporary directory.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "connlimit.h"
#include "unit.h"

static char *dir;

struct child {
    pid_t pid;
};

/* enter_in_child - a child process enters (service, addr) and keeps its slot; its result */
static int enter_in_child(const char *service, const char *addr, int limit, int *count,
                          struct child *c)
{
    int res[2], out[2];

    assert_int_equal(pipe(res), 0);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        close(res[0]);
        out[0] = connlimit_enter(service, addr, limit, &out[1]);
        if (write(res[1], out, sizeof(out)) != (ssize_t)sizeof(out))
            _exit(1);
        for (;;)
            pause(); /* holding the slot until killed */
    }
    close(res[1]);
    assert_int_equal(read(res[0], out, sizeof(out)), (ssize_t)sizeof(out));
    close(res[0]);
    *count = out[1];
    return out[0];
}

/* end_child - end a child (as a crash would: its slot is not cleared) and reap it */
static void end_child(struct child *c)
{
    kill(c->pid, SIGKILL);
    waitpid(c->pid, NULL, 0);
}

/* the table is refused when it is a link: nothing is enforced then */
static void test_refuses_symlink(void **state)
{
    int count = -1;

    (void)state;
    assert_int_equal(symlink("/etc/passwd", "private/link.clients"), 0);
    assert_int_equal(connlimit_open("link"), -1);
    assert_int_equal(connlimit_enter("svc", "192.0.2.1", 1, &count), 0);
    assert_int_equal(count, 0);
}

static void test_limit_per_address_and_service(void **state)
{
    struct child a, b, c, d, e;
    int count = 0;

    (void)state;
    assert_int_equal(connlimit_open("t"), 0);
    assert_int_equal(connlimit_enter("svc", "192.0.2.1", 2, &count), 0);
    assert_int_equal(count, 1);
    /* a second process from the same address: at the limit */
    assert_int_equal(enter_in_child("svc", "192.0.2.1", 2, &count, &a), 0);
    assert_int_equal(count, 2);
    /* a third: one over */
    assert_int_equal(enter_in_child("svc", "192.0.2.1", 2, &count, &b), -1);
    assert_int_equal(count, 3);
    end_child(&b);
    /* other addresses and other services are counted apart; IPv6 too */
    assert_int_equal(enter_in_child("svc", "192.0.2.2", 2, &count, &c), 0);
    assert_int_equal(count, 1);
    assert_int_equal(enter_in_child("svc2", "192.0.2.1", 2, &count, &d), 0);
    assert_int_equal(count, 1);
    end_child(&d);
    assert_int_equal(enter_in_child("svc", "2001:db8::1", 1, &count, &d), 0);
    assert_int_equal(count, 1);
    /* a process that is gone no longer counts (no leave: as after a crash) */
    end_child(&a);
    assert_int_equal(enter_in_child("svc", "192.0.2.1", 2, &count, &e), 0);
    assert_int_equal(count, 2);
    end_child(&e);
    /* leave frees this process's place */
    connlimit_leave();
    assert_int_equal(enter_in_child("svc", "192.0.2.1", 1, &count, &e), 0);
    assert_int_equal(count, 1);
    end_child(&e);
    end_child(&c);
    end_child(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refuses_symlink),
        cmocka_unit_test(test_limit_per_address_and_service),
    };
    int r;

    dir = unit_tmpdir();
    if (chdir(dir) < 0 || mkdir("private", 0700) < 0)
        return 1;
    r = cmocka_run_group_tests(tests, NULL, NULL);
    if (chdir("/") == 0)
        unit_rmtree(dir);
    free(dir);
    return r;
}
