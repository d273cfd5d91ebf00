/*
 * connlimit.c - concurrent connections per client address (connlimit.h)
 *
 * The table behind smtpd_client_connection_count_limit,
 * popd_client_connection_count_limit and imapd_client_connection_count_limit:
 * an array of fixed 64-byte slots in private/PROGRAM.clients, read whole and
 * updated in place under an exclusive flock. A slot is free when its pid is
 * 0, is this process, or names a process that no longer exists.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connlimit.h"
#include "log.h"
#include "mem.h"

#define CONN_SLOTS_MAX 65536

struct slot {
    int32_t pid;
    uint8_t family;
    uint8_t pad[3];
    uint8_t addr[16];
    char service[40];
};

static int conn_fd = -1;
static off_t my_slot = -1;
static char conn_file[64];

int connlimit_open(const char *program)
{
    struct stat st;

    if (conn_fd >= 0)
        return 0;
    snprintf(conn_file, sizeof(conn_file), "private/%s.clients", program);
    conn_fd = open(conn_file, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (conn_fd < 0) {
        log_warn("open %s: %s: connection count limits are not enforced", conn_file,
                 strerror(errno));
        return -1;
    }
    /* root may open it: only a file of its own, not one someone else put there */
    if (fstat(conn_fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
        st.st_uid != geteuid()) {
        log_warn("%s: not a regular file of uid %ld with one link: connection count limits "
                 "are not enforced",
                 conn_file, (long)geteuid());
        close(conn_fd);
        conn_fd = -1;
        return -1;
    }
    return 0;
}

/* alive - whether a slot's process still exists */
static int alive(pid_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* read_slots - the whole table (under the lock); *n slots */
static struct slot *read_slots(size_t *n)
{
    struct stat st;
    struct slot *v;
    ssize_t got;

    *n = 0;
    if (fstat(conn_fd, &st) < 0 || st.st_size <= 0)
        return NULL;
    *n = (size_t)st.st_size / sizeof(struct slot);
    if (*n > CONN_SLOTS_MAX)
        *n = CONN_SLOTS_MAX;
    v = xcalloc(*n ? *n : 1, sizeof(struct slot));
    got = pread(conn_fd, v, *n * sizeof(struct slot), 0);
    *n = got > 0 ? (size_t)got / sizeof(struct slot) : 0;
    return v;
}

int connlimit_enter(const char *service, const char *addr, int limit, int *count)
{
    struct slot me, *v;
    size_t n, free_slot = (size_t)-1;
    int r = 0;

    *count = 0;
    if (conn_fd < 0)
        return 0;
    memset(&me, 0, sizeof(me));
    me.pid = (int32_t)getpid();
    me.family = strchr(addr, ':') ? 6 : 4;
    if (inet_pton(me.family == 6 ? AF_INET6 : AF_INET, addr, me.addr) != 1)
        return 0;
    strncpy(me.service, service, sizeof(me.service) - 1);
    if (flock(conn_fd, LOCK_EX) < 0)
        return 0;
    v = read_slots(&n);
    for (size_t i = 0; i < n; i++) {
        if (v[i].pid == me.pid || !alive(v[i].pid)) {
            if (free_slot == (size_t)-1)
                free_slot = i;
            continue;
        }
        if (v[i].family == me.family && memcmp(v[i].addr, me.addr, 16) == 0 &&
            strncmp(v[i].service, me.service, sizeof(me.service)) == 0)
            (*count)++;
    }
    (*count)++; /* this one */
    if (*count > limit) {
        r = -1;
    } else {
        if (free_slot == (size_t)-1)
            free_slot = n;
        my_slot = (off_t)(free_slot * sizeof(struct slot));
        if (pwrite(conn_fd, &me, sizeof(me), my_slot) != (ssize_t)sizeof(me))
            my_slot = -1;
    }
    flock(conn_fd, LOCK_UN);
    free(v);
    return r;
}

void connlimit_leave(void)
{
    struct slot empty;

    if (conn_fd < 0 || my_slot < 0)
        return;
    memset(&empty, 0, sizeof(empty));
    if (flock(conn_fd, LOCK_EX) == 0) {
        if (pwrite(conn_fd, &empty, sizeof(empty), my_slot) != (ssize_t)sizeof(empty))
            log_warn("clear slot in %s: %s", conn_file, strerror(errno));
        flock(conn_fd, LOCK_UN);
    }
    my_slot = -1;
}
