/*
 * unit_util.c - helpers shared by the unit tests
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"
#include "unit.h"

char *unit_tmpdir(void)
{
    char *t = xstrdup("/tmp/petrel-unit-XXXXXX");
    if (mkdtemp(t) == NULL)
        abort();
    return t;
}

void unit_rmtree(const char *dir)
{
    char *cmd = xasprintf("rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "rm -rf %s failed\n", dir);
    free(cmd);
}

void unit_write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        abort();
    close(fd);
}
