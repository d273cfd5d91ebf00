/*
 * smtpd_conn.c - concurrent connections per client (smtpd_client_connection_count_limit)
 *
 * The smtpd processes of all services share one small table in
 * $queue_directory/private/smtpd.clients: one slot per busy process with
 * its pid, service and client address, updated under flock(2). A slot
 * whose process is gone (killed, crashed) counts as free, so the table
 * heals itself without a cleanup daemon. Clients matching
 * smtpd_client_event_limit_exceptions (default $mynetworks) never touch
 * it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"

#include "smtpd.h"

#define CONN_FILE "private/smtpd.clients"
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

void conn_init(void)
{
    if (smtpd_cf.conn_limit <= 0)
        return;
    conn_fd = open(CONN_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (conn_fd < 0)
        log_warn("open %s: %s: connection count limits are not enforced", CONN_FILE,
                 strerror(errno));
}

/* alive - whether a slot's process still exists */
static int alive(pid_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

int conn_enter(const char *service, const char *addr, int *count)
{
    struct slot me, *v = NULL;
    struct stat st;
    size_t n = 0, free_slot = (size_t)-1;
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
    if (fstat(conn_fd, &st) == 0 && st.st_size > 0) {
        n = (size_t)st.st_size / sizeof(struct slot);
        if (n > CONN_SLOTS_MAX)
            n = CONN_SLOTS_MAX;
        v = xcalloc(n ? n : 1, sizeof(struct slot));
        ssize_t got = pread(conn_fd, v, n * sizeof(struct slot), 0);
        n = got > 0 ? (size_t)got / sizeof(struct slot) : 0;
    }
    for (size_t i = 0; i < n; i++) {
        int live = v[i].pid == me.pid || alive(v[i].pid);
        if (!live || v[i].pid == me.pid) {
            if (free_slot == (size_t)-1)
                free_slot = i;
            continue;
        }
        if (v[i].family == me.family && memcmp(v[i].addr, me.addr, 16) == 0 &&
            strcmp(v[i].service, me.service) == 0)
            (*count)++;
    }
    (*count)++; /* this one */
    if (*count > smtpd_cf.conn_limit) {
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

void conn_leave(void)
{
    struct slot empty;

    if (conn_fd < 0 || my_slot < 0)
        return;
    memset(&empty, 0, sizeof(empty));
    if (flock(conn_fd, LOCK_EX) == 0) {
        if (pwrite(conn_fd, &empty, sizeof(empty), my_slot) != (ssize_t)sizeof(empty))
            log_warn("clear slot in %s: %s", CONN_FILE, strerror(errno));
        flock(conn_fd, LOCK_UN);
    }
    my_slot = -1;
}
