/*
 * fileio.h - whole-file reads and directory syncs
 *
 * Owns the two loops every program wrote for itself: reading a descriptor
 * to its end into a string (bounded, EINTR-safe, a read error is an error,
 * never a short file), and making a directory entry change (create, rename,
 * link) durable by fsync of the directory. Any program or layer may use it.
 */
#ifndef PETREL_FILEIO_H
#define PETREL_FILEIO_H

#include <stddef.h>

#include "str.h"

/* fileio_read_fd - append all of fd (up to end of file) to out: 0, or -1 with errno set
 * (EFBIG: more than limit bytes; out then holds what was read). fd stays open. */
int fileio_read_fd(int fd, size_t limit, struct str *out);

/* fileio_read - open path (O_RDONLY | O_CLOEXEC | extra_flags, e.g. O_NOFOLLOW) and
 * append its contents to out as fileio_read_fd does: 0, or -1 with errno set */
int fileio_read(const char *path, int extra_flags, size_t limit, struct str *out);

/* fileio_fsync_dir - fsync the directory at path, so that entries created, renamed or
 * linked in it survive a crash: 0, or -1 with errno set */
int fileio_fsync_dir(const char *path);

#endif
