/*
 * test_dsnlog.c - unit tests of dsnlog.c (defer/ and bounce/ logs)
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsnlog.h"
#include "mem.h"
#include "unit.h"

static void test_append_read(void **state)
{
    char *dir = unit_tmpdir();
    char *path = NULL;
    struct dsnlog_entry e;
    struct dsnlog log;
    struct str err = STR_INIT;

    (void)state;
    path = xasprintf("%s/log", dir);
    assert_int_equal(dsnlog_read(path, &log, &err), 0); /* missing: empty */
    assert_int_equal(log.n, 0);
    dsnlog_entry_set(&e, "a@x", "A@X", "rfc822;a@x", 4, 100, "4.2.2", "delayed",
                     "mailbox full\r\nsecond line");
    assert_int_equal(dsnlog_append(path, &e, 1, &err), 0);
    dsnlog_entry_free(&e);
    dsnlog_entry_set(&e, "a@x", "", "", 0, 100, "4.4.1", "delayed", "connection refused");
    assert_int_equal(dsnlog_append(path, &e, 0, &err), 0);
    dsnlog_entry_free(&e);
    /* a torn write at the end is ignored */
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(write(fd, "rcpt=b@x\ndsn=5", 14) == 14);
    close(fd);
    assert_int_equal(dsnlog_read(path, &log, &err), 0);
    assert_int_equal(log.n, 2);
    assert_string_equal(log.e[0].reason, "mailbox full\r\nsecond line");
    assert_string_equal(log.e[0].orcpt, "rfc822;a@x");
    assert_int_equal(log.e[0].notify, 4);
    const struct dsnlog_entry *last = dsnlog_last(&log, 100, NULL);
    assert_non_null(last);
    assert_string_equal(last->dsn, "4.4.1");
    assert_null(dsnlog_last(&log, 5, NULL));
    assert_non_null(dsnlog_last(&log, -1, "a@x"));
    dsnlog_free(&log);
    free(path);
    unit_rmtree(dir);
    free(dir);
    str_free(&err);
}

static void test_paths(void **state)
{
    struct str p = STR_INIT;

    (void)state;
    dsnlog_path(&p, "defer", "6921A3F2000C81234");
    assert_int_equal(strncmp(p.s, "defer/", 6), 0);
    assert_int_equal(p.s[7], '/');
    dsnlog_path(&p, "bounce", "6921A3F2000C81234");
    assert_string_equal(p.s, "bounce/6921A3F2000C81234");
    str_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_read),
        cmocka_unit_test(test_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
