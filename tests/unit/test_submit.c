/*
 * test_submit.c - unit tests of submit.c (the petrel-drop client of sendmail and smtpd -S)
 *
 * A stand-in petrel-drop (a shell script in $command_directory) keeps its
 * arguments and the records it was given, prints a queue ID and exits with
 * the status the test chose, so that what the client writes is read back
 * with the real maildrop reader.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "cfg.h"
#include "maildrop.h"
#include "mem.h"
#include "submit.h"
#include "unit.h"

static const char fake[] = "#!/bin/sh\n"
                           "d=$(dirname \"$0\")\n"
                           "echo \"$@\" > \"$d/args\"\n"
                           "cat > \"$d/in\"\n"
                           "s=$(cat \"$d/status\")\n"
                           "[ \"$s\" = 0 ] && echo 0123ABCD\n"
                           "exit $s\n";

static char *dir;

/* setup - a command directory with the stand-in petrel-drop exiting with status */
static void setup(const char *status)
{
    struct cfg_diag d;
    char *path, *text;

    dir = unit_tmpdir();
    path = xasprintf("%s/petrel-drop", dir);
    unit_write_file(path, fake);
    assert_int_equal(chmod(path, 0755), 0);
    free(path);
    path = xasprintf("%s/status", dir);
    unit_write_file(path, status);
    free(path);
    text = xasprintf("command_directory = %s\n", dir);
    cfg_diag_init(&d);
    cfg_free(cfg_main);
    cfg_main = cfg_new("/nonexistent");
    cfg_parse_text(cfg_main, text, "main.cf", &d);
    assert_int_equal(d.errors, 0);
    cfg_diag_free(&d);
    free(text);
    signal(SIGPIPE, SIG_IGN);
}

static void teardown(void)
{
    unit_rmtree(dir);
    free(dir);
    cfg_free(cfg_main);
    cfg_main = NULL;
}

/* read_in - what the stand-in received, read with the maildrop reader; its return code,
 * -2 when it received nothing at all */
static int read_in(struct maildrop_env *env, struct str *content, struct str *err)
{
    static const struct maildrop_limits lim = {1000000, 10};
    struct maildrop_reader r;
    struct str chunk = STR_INIT;
    char *path = xasprintf("%s/in", dir);
    int fd = open(path, O_RDONLY), rc;

    free(path);
    if (fd < 0)
        return -2;
    maildrop_reader_init(&r, fd, &lim);
    rc = maildrop_read_envelope(&r, env, err);
    if (rc == 0)
        while ((rc = maildrop_read_content(&r, &chunk, err)) > 0)
            str_catn(content, chunk.s, chunk.len);
    close(fd);
    str_free(&chunk);
    return rc;
}

static struct submit *open_two(void)
{
    static const struct submit_env env = {"\"a b\"@example.org", "J. Doe", "e+x", "HDRS"};
    struct submit *s = submit_open("/etc/petrel-test", &env);

    submit_rcpt(s, "one@example.com", NULL, 0);
    submit_rcpt(s, "two@example.com", "rfc822;t@example.com", 6);
    return s;
}

/* a whole message: the envelope as given, content over several D records, the ID back */
static void test_queued(void **state)
{
    struct str id = STR_INIT, err = STR_INIT, content = STR_INIT, want = STR_INIT;
    struct maildrop_env env;
    struct submit *s;
    char *args, line[256] = "";
    FILE *f;

    (void)state;
    setup("0");
    s = open_two();
    assert_int_equal(submit_start(s, &err), 0);
    for (int i = 0; i < 2000; i++)
        str_printf(&want, "line %04d of a message longer than one D record of 64 KB.........\n", i);
    submit_write(s, want.s, 100);
    submit_write(s, want.s + 100, want.len - 100);
    assert_int_equal(submit_close(s, &id, &err), 0);
    assert_string_equal(str_c(&id), "0123ABCD");
    assert_int_equal(read_in(&env, &content, &err), 0);
    assert_string_equal(env.sender, "\"a b\"@example.org");
    assert_string_equal(maildrop_env_attr(&env, "fullname"), "J. Doe");
    assert_string_equal(maildrop_env_attr(&env, "envid"), "e+x");
    assert_string_equal(maildrop_env_attr(&env, "ret"), "HDRS");
    assert_int_equal(env.nrcpts, 2);
    assert_string_equal(env.rcpts[1].addr, "two@example.com");
    assert_string_equal(env.rcpts[1].orcpt, "rfc822;t@example.com");
    assert_int_equal(env.rcpts[1].notify, 6);
    assert_true(want.len > 65536 && content.len == want.len);
    assert_memory_equal(content.s, want.s, want.len);
    args = xasprintf("%s/args", dir);
    f = fopen(args, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    assert_string_equal(line, "-c /etc/petrel-test\n");
    free(args);
    maildrop_env_free(&env);
    str_free(&id);
    str_free(&err);
    str_free(&content);
    str_free(&want);
    teardown();
}

/* petrel-drop's refusal is its sysexits status */
static void test_refused(void **state)
{
    struct str id = STR_INIT, err = STR_INIT;
    struct submit *s;

    (void)state;
    setup("77");
    s = open_two();
    assert_int_equal(submit_start(s, &err), 0);
    submit_write(s, "x\n", 2);
    assert_int_equal(submit_close(s, &id, &err), EX_NOPERM);
    assert_non_null(strstr(str_c(&err), "exit status 77"));
    str_free(&id);
    str_free(&err);
    teardown();
}

/* given up after the start: the helper is stopped (SIGTERM) and never sees an end record */
static void test_abort_started(void **state)
{
    struct str err = STR_INIT, content = STR_INIT;
    struct maildrop_env env;
    struct submit *s;

    (void)state;
    setup("0");
    s = open_two();
    assert_int_equal(submit_start(s, &err), 0);
    submit_write(s, "partial\n", 8);
    submit_abort(s);
    memset(&env, 0, sizeof(env));
    assert_true(read_in(&env, &content, &err) < 0);
    maildrop_env_free(&env);
    str_free(&err);
    str_free(&content);
    teardown();
}

/* given up before the start: no process was run at all */
static void test_abort_unstarted(void **state)
{
    char *path;

    (void)state;
    setup("0");
    submit_abort(open_two());
    path = xasprintf("%s/in", dir);
    assert_int_equal(access(path, F_OK), -1);
    free(path);
    teardown();
}

/* a missing helper: EX_UNAVAILABLE from the child that could not exec it */
static void test_missing_helper(void **state)
{
    struct str id = STR_INIT, err = STR_INIT;
    struct submit *s;
    char *path;

    (void)state;
    setup("0");
    path = xasprintf("%s/petrel-drop", dir);
    assert_int_equal(unlink(path), 0);
    free(path);
    s = open_two();
    assert_int_equal(submit_start(s, &err), 0);
    assert_int_equal(submit_close(s, &id, &err), EX_UNAVAILABLE);
    str_free(&id);
    str_free(&err);
    teardown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queued),         cmocka_unit_test(test_refused),
        cmocka_unit_test(test_abort_started),  cmocka_unit_test(test_abort_unstarted),
        cmocka_unit_test(test_missing_helper),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
