/*
 * test_log.c - unit tests of log.c (format, tiers, sanitizing)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "unit.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = xcalloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_log_file_format(void **state)
{
    char *dir = unit_tmpdir();
    char *path = xasprintf("%s/maillog", dir);
    char expect[256];

    log_init("/usr/libexec/petrel/smtpd", 0);
    assert_int_equal(log_set_file(path), 0);
    assert_int_equal(log_get_dests(), LOG_DEST_FILE);
    log_info("%s: client=%s", "ABC123", "host[192.0.2.1]");
    log_warn("evil input: %s", "line1\r\nfake: line2\x1b[0m");
    log_debug("not shown at verbosity 0");
    log_set_verbose(1);
    log_debug("shown");
    char *text = slurp(path);
    snprintf(expect, sizeof(expect), " petrel/smtpd[%ld]: ABC123: client=host[192.0.2.1]\n",
             (long)getpid());
    assert_non_null(strstr(text, expect));
    snprintf(expect, sizeof(expect),
             " petrel/smtpd[%ld]: warning: evil input: line1??fake: line2?[0m\n", (long)getpid());
    assert_non_null(strstr(text, expect));
    assert_null(strstr(text, "not shown"));
    assert_non_null(strstr(text, "debug: shown"));
    /* every message is exactly one line */
    int lines = 0;
    for (char *p = text; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 3);
    log_set_verbose(0);
    free(text);
    unit_rmtree(dir);
    free(path);
    free(dir);
}

/* maillog_file is opened by root in a directory others may write: no link, no FIFO */
static void test_log_file_no_follow(void **state)
{
    char *dir = unit_tmpdir();
    char *path = xasprintf("%s/maillog", dir), *target = xasprintf("%s/target", dir);
    char *fifo = xasprintf("%s/fifo", dir), *hard = xasprintf("%s/hard", dir);
    FILE *f = fopen(target, "w");

    (void)state;
    fputs("precious\n", f);
    fclose(f);
    assert_int_equal(symlink(target, path), 0);
    log_init("tester", 0);
    assert_int_equal(log_set_file(path), -1);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(log_set_file(fifo), -1);
    assert_int_equal(link(target, hard), 0);
    assert_int_equal(log_set_file(hard), -1);
    char *text = slurp(target);
    assert_string_equal(text, "precious\n");
    free(text);
    log_set_dests(0);
    unit_rmtree(dir);
    free(path);
    free(target);
    free(fifo);
    free(hard);
    free(dir);
}

static int hook_ran;
static void hook(void)
{
    hook_ran = 1;
    fprintf(stderr, "hook ran\n");
}

static void test_log_fatal_exits(void **state)
{
    int pipefd[2], status;
    char buf[512] = "";

    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 2);
        log_init("tester", LOG_DEST_STDERR);
        log_on_fatal(hook);
        log_fatal("cannot open %s", "/queue");
    }
    close(pipefd[1]);
    ssize_t n = read(pipefd[0], buf, sizeof(buf) - 1);
    assert_true(n > 0);
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    assert_non_null(strstr(buf, "petrel/tester["));
    assert_non_null(strstr(buf, "]: fatal: cannot open /queue\n"));
    close(pipefd[0]);
    (void)hook_ran;
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_log_file_format),
                                       cmocka_unit_test(test_log_file_no_follow),
                                       cmocka_unit_test(test_log_fatal_exits)};
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
