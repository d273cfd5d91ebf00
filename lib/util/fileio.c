/*
 * fileio.c - whole-file reads and directory syncs (see fileio.h)
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "fileio.h"

int fileio_read_fd(int fd, size_t limit, struct str *out)
{
    char buf[65536];
    size_t got = 0;

    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if ((size_t)n > limit - got) {
            str_catn(out, buf, limit - got);
            errno = EFBIG;
            return -1;
        }
        got += (size_t)n;
        str_catn(out, buf, (size_t)n);
    }
}

int fileio_read(const char *path, int extra_flags, size_t limit, struct str *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | extra_flags);
    int r, e;

    if (fd < 0)
        return -1;
    r = fileio_read_fd(fd, limit, out);
    e = errno;
    close(fd);
    errno = e;
    return r;
}

int fileio_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r, e;

    if (fd < 0)
        return -1;
    r = fsync(fd);
    e = errno;
    close(fd);
    errno = e;
    return r;
}
