/*
 * test_fileio.c - unit tests of fileio.c (whole-file reads, directory syncs)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "mem.h"
#include "unit.h"

/* make_file - a file of n bytes 'a'..'z' repeating; its path (free it) */
static char *make_file(const char *dir, const char *name, size_t n)
{
    char *path = xasprintf("%s/%s", dir, name);
    char *text = xmalloc(n + 1);

    for (size_t i = 0; i < n; i++)
        text[i] = (char)('a' + i % 26);
    text[n] = '\0';
    unit_write_file(path, text);
    free(text);
    return path;
}

/* more than one read buffer: every byte arrives, in order */
static void test_read_whole(void **state)
{
    (void)state;
    char *dir = unit_tmpdir();
    size_t n = 200000;
    char *path = make_file(dir, "big", n);
    struct str out = STR_INIT;

    str_cat(&out, "x"); /* appends */
    assert_int_equal(fileio_read(path, O_NOFOLLOW, n, &out), 0);
    assert_int_equal(out.len, n + 1);
    assert_int_equal(out.s[0], 'x');
    for (size_t i = 0; i < n; i++)
        if (out.s[i + 1] != (char)('a' + i % 26))
            fail_msg("byte %zu", i);
    str_free(&out);
    free(path);
    unit_rmtree(dir);
    free(dir);
}

/* the limit: exactly limit bytes is fine, one more is EFBIG */
static void test_limit(void **state)
{
    (void)state;
    char *dir = unit_tmpdir();
    char *path = make_file(dir, "f", 70000);
    struct str out = STR_INIT;

    assert_int_equal(fileio_read(path, 0, 70000, &out), 0);
    assert_int_equal(out.len, 70000);
    str_reset(&out);
    errno = 0;
    assert_int_equal(fileio_read(path, 0, 69999, &out), -1);
    assert_int_equal(errno, EFBIG);
    assert_true(out.len <= 69999);
    str_reset(&out);
    assert_int_equal(fileio_read(path, 0, 0, &out), -1);
    assert_int_equal(errno, EFBIG);
    str_free(&out);
    free(path);
    unit_rmtree(dir);
    free(dir);
}

/* errors are errors, not short files: a directory, a missing file, a symlink with
 * O_NOFOLLOW */
static void test_errors(void **state)
{
    (void)state;
    char *dir = unit_tmpdir();
    char *path = make_file(dir, "f", 10);
    char *link = xasprintf("%s/l", dir);
    char *missing = xasprintf("%s/none", dir);
    struct str out = STR_INIT;
    int fd;

    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(fileio_read(link, O_NOFOLLOW, 100, &out), -1);
    assert_int_equal(errno, ELOOP);
    assert_int_equal(fileio_read(link, 0, 100, &out), 0);
    assert_int_equal(out.len, 10);
    assert_int_equal(fileio_read(missing, 0, 100, &out), -1);
    assert_int_equal(errno, ENOENT);
    fd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    assert_int_equal(fileio_read_fd(fd, 100, &out), -1);
    assert_int_equal(errno, EISDIR);
    close(fd);
    assert_int_equal(out.len, 10);
    str_free(&out);
    free(path);
    free(link);
    free(missing);
    unit_rmtree(dir);
    free(dir);
}

static void test_fsync_dir(void **state)
{
    (void)state;
    char *dir = unit_tmpdir();
    char *path = make_file(dir, "f", 1);
    char *missing = xasprintf("%s/none", dir);

    assert_int_equal(fileio_fsync_dir(dir), 0);
    assert_int_equal(fileio_fsync_dir(missing), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(fileio_fsync_dir(path), -1); /* a file is no directory */
    assert_int_equal(errno, ENOTDIR);
    free(path);
    free(missing);
    unit_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_whole),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_fsync_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
