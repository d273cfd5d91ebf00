/*
 * mstore_lock.c - petrel.lock: the byte-range locks of a mailbox
 *
 * Every mailbox directory has a petrel.lock whose bytes are locked with
 * open-file-description locks (F_OFD_SETLK*, dropped by the kernel when a
 * process dies): MS_LOCK_INDEX (shared to read the index, exclusive to
 * write it), MS_LOCK_SESSION (a POP3 maildrop), MS_LOCK_CACHE and, in the
 * root only, MS_LOCK_TREE (folder tree and subscriptions); the layout of
 * its content is in mstore_impl.h. The bottom of the store's locking:
 * called by the cache, the index, the views and the folder operations;
 * calls nothing else of the store.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"

#include "mstore_impl.h"
#include "mstore_lock.h"

/* ms_lock - lock byte range of fd (type F_RDLCK, F_WRLCK or F_UNLCK), waiting or not */
int ms_lock(int fd, int range, int type, int wait)
{
    struct flock fl;

    memset(&fl, 0, sizeof(fl));
    fl.l_type = (short)type;
    fl.l_whence = SEEK_SET;
    fl.l_start = range;
    fl.l_len = 1;
    while (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return 0;
}

int ms_unlock(int fd, int range)
{
    return ms_lock(fd, range, F_UNLCK, 0);
}

int ms_open_lockfile(const char *dir)
{
    char *path = xasprintf("%s/" MS_LOCK_FILE, dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0)
        log_warn("open %s: %s", path, strerror(errno));
    free(path);
    return fd;
}
