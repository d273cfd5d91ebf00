/*
 * test_proc.c - unit tests of proc.c (pid file, signals, descriptors) and qdir.c
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mem.h"
#include "proc.h"
#include "qdir.h"
#include "unit.h"

static void test_pidfile(void **state)
{
    char *dir = unit_tmpdir();
    char *path = xasprintf("%s/master.pid", dir);
    struct str err = STR_INIT;
    int pipefd[2];
    char c;

    assert_int_equal(proc_pidfile_owner(path), 0);
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = proc_pidfile_lock(path, &err);
        if (write(pipefd[1], fd >= 0 ? "y" : "n", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    assert_int_equal(read(pipefd[0], &c, 1), 1);
    assert_int_equal(c, 'y');
    assert_int_equal(proc_pidfile_owner(path), pid);
    /* a second instance is refused and told who holds the lock */
    assert_int_equal(proc_pidfile_lock(path, &err), -1);
    assert_non_null(strstr(str_c(&err), "already running"));
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    /* the lock dies with the process, even though the file remains */
    assert_int_equal(proc_pidfile_owner(path), 0);
    int fd = proc_pidfile_lock(path, &err);
    assert_true(fd >= 0);
    close(fd);
    unit_rmtree(dir);
    str_free(&err);
    free(path);
    free(dir);
}

static void test_signals(void **state)
{
    sig_init();
    sig_catch(SIGUSR1, 0);
    sig_catch(SIGUSR2, 0);
    assert_int_equal(sig_next(), 0);
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2);
    assert_int_equal(sig_next(), SIGUSR1);
    assert_int_equal(sig_next(), SIGUSR2);
    assert_int_equal(sig_next(), 0);
}

static void test_qdir(void **state)
{
    char *dir = unit_tmpdir();
    char *q = xasprintf("%s/spool/petrel", dir);
    struct qdir_ids ids;
    struct strlist problems = STRLIST_INIT;
    struct stat st;

    ids.root_uid = ids.mail_uid = getuid();
    ids.root_gid = ids.mail_gid = ids.drop_gid = getgid();
    assert_int_equal(qdir_check(q, &ids, &problems), 1);
    strlist_free(&problems);
    struct str err = STR_INIT;
    assert_int_equal(qdir_create(q, &ids, &err), 0);
    assert_int_equal(qdir_check(q, &ids, &problems), 0);
    char *p = xasprintf("%s/maildrop", q);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 01730);
    chmod(p, 0777);
    free(p);
    p = xasprintf("%s/deferred/a", q);
    assert_int_equal(stat(p, &st), 0);
    rmdir(p);
    assert_int_equal(qdir_check(q, &ids, &problems), 2);
    assert_non_null(strstr(problems.v[0], "maildrop: owner"));
    assert_non_null(strstr(problems.v[1], "deferred/a: missing directory"));
    /* creating again repairs both */
    assert_int_equal(qdir_create(q, &ids, &err), 0);
    strlist_free(&problems);
    assert_int_equal(qdir_check(q, &ids, &problems), 0);
    /* the hash spreads IDs over all 16 subdirectories */
    int seen[16] = {0}, distinct = 0;
    for (int i = 0; i < 1000; i++) {
        char id[32];
        snprintf(id, sizeof(id), "6A1B2C3D4E5F%04X", i);
        char h = qdir_hash(id);
        int k = h <= '9' ? h - '0' : h - 'a' + 10;
        if (!seen[k]++)
            distinct++;
    }
    assert_int_equal(distinct, 16);
    unit_rmtree(dir);
    str_free(&err);
    free(p);
    free(q);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_pidfile),
                                       cmocka_unit_test(test_signals), cmocka_unit_test(test_qdir)};
    return cmocka_run_group_tests_name("proc", tests, NULL, NULL);
}
