/*
 * qmgr_admin.c - the administrator's requests for messages in the active queue
 *
 * petrel-super moves and removes queue files itself, except files in
 * active/ while qmgr runs: qmgr has them in memory and deliveries may be
 * in progress. For those it asks here, on private/qadmin (lib/global/qadmin.h;
 * root and mail_owner only). A request marks each named message that qmgr
 * holds (delete beats hold and requeue; otherwise the last one counts)
 * and takes its waiting recipients off the destination queues
 * (qmgr_sched_cancel); the deliveries already handed to an agent finish
 * and their results are recorded as usual. When the message's last entry
 * is settled, qmgr_admin_finish applies the request instead of removing
 * or deferring the file: delete removes it and its logs (no
 * notifications), hold moves it to hold/, requeue moves it to incoming/
 * (deferred/, due now, when a bounce log waits) so that it is rewritten
 * and routed again. A message whose recipients were all delivered in the
 * meantime is simply removed, as it would have been. So no delivery is
 * lost or repeated because of a request.
 *
 * qmgr also holds an exclusive flock on private/qmgr.lock for its
 * lifetime (taken before it looks at active/), so that petrel-super can
 * tell when no qmgr runs and may change active/ itself without one
 * starting meanwhile. A pending request lives in memory only: when qmgr
 * stops, the requests are applied after the deliveries in progress were
 * given their time (qmgr_msg_shutdown); a crash forgets them, and the
 * message is delivered as if they had not been made.
 *
 * The socket is served inside the event loop with non-blocking reads and
 * a deadline; each connection carries one request of at most
 * QADMIN_BATCH_MAX IDs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "attr.h"
#include "dsnlog.h"
#include "htab.h"
#include "log.h"
#include "mem.h"
#include "proc.h"
#include "qadmin.h"
#include "qdir.h"
#include "sock.h"

#include "qmgr.h"

#define ADMIN_CONN_MAX 8
#define ADMIN_READ_MS 10000
#define ADMIN_WRITE_S 5

struct admin_conn {
    int fd;
    struct str in;
    unsigned long timer;
    struct admin_conn *next;
};

static int listen_fd = -1, lock_fd = -1;
static struct admin_conn *conns;
static int nconns;

/* conn_close - forget a connection */
static void conn_close(struct admin_conn *c)
{
    struct admin_conn **pp;

    for (pp = &conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    evloop_unwatch(qmgr_ev, c->fd);
    evloop_cancel(qmgr_ev, c->timer);
    close(c->fd);
    str_free(&c->in);
    free(c);
    nconns--;
}

/* on_timeout - a client that does not finish its request in time */
static void on_timeout(void *ctx)
{
    struct admin_conn *c = ctx;

    c->timer = 0;
    log_warn("qadmin: request timeout");
    conn_close(c);
}

/* handle - apply a request (op: QA_) for ids; the answer */
static void handle(int op, const struct strlist *ids, struct attr_list *ans)
{
    struct htab *idx = htab_create(64);
    int *found = xcalloc(ids->n ? ids->n : 1, sizeof(*found));

    for (size_t i = 0; i < ids->n; i++)
        htab_put(idx, ids->v[i], (void *)(i + 1)); /* index + 1 */
    for (struct qmgr_msg *m = qmgr_msg_first(); m; m = m->next) {
        size_t i = (size_t)htab_get(idx, m->id);
        if (i == 0)
            continue;
        found[i - 1] = 1;
        if (m->admin != QA_DELETE) /* delete beats the others; else the last one counts */
            m->admin = op;
    }
    for (size_t i = 0; i < ids->n; i++) {
        /* a repeated ID: every copy is answered as the first one was */
        size_t first = (size_t)htab_get(idx, ids->v[i]) - 1;
        attr_add(ans, "queue_id", ids->v[i]);
        attr_add(ans, "result", found[first] ? "ok" : "notfound");
    }
    attr_add(ans, "end", "1");
    free(found);
    htab_free(idx, NULL);
    /* last: this may finish (and free) messages whose entries were all waiting */
    qmgr_sched_cancel();
}

/* answer - write the answer (a short blocking write: the client is waiting for
 * it) */
static void answer(struct admin_conn *c, const struct attr_list *ans)
{
    struct str out = STR_INIT;
    struct timeval tv = {ADMIN_WRITE_S, 0};
    size_t off = 0;

    attr_encode(ans, &out);
    proc_nonblock(c->fd, 0);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    while (off < out.len) {
        ssize_t w = send(c->fd, out.s + off, out.len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    str_free(&out);
}

/* on_read - request bytes; once complete, handle and answer */
static void on_read(int fd, int events, void *ctx)
{
    struct admin_conn *c = ctx;
    struct attr_list ans = ATTR_LIST_INIT;
    struct strlist ids = STRLIST_INIT;
    struct str err = STR_INIT;
    char buf[8192];
    size_t end;
    ssize_t n;
    int op;

    (void)fd;
    (void)events;
    n = read(c->fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0 || c->in.len + (size_t)n > QADMIN_REQUEST_MAX) {
        if (n > 0)
            log_warn("qadmin: request too large");
        conn_close(c);
        return;
    }
    str_catn(&c->in, buf, (size_t)n);
    if ((end = qadmin_request_end(c->in.s, c->in.len)) == 0)
        return;
    op = qadmin_parse_request(c->in.s, end, &ids, &err);
    if (op < 0) {
        log_warn("qadmin: %s", str_c(&err));
        attr_add(&ans, "status", "error");
        attr_add(&ans, "reason", str_c(&err));
    } else {
        handle(op, &ids, &ans);
    }
    answer(c, &ans);
    attr_free(&ans);
    strlist_free(&ids);
    str_free(&err);
    conn_close(c);
}

/* on_accept - a new client (at most ADMIN_CONN_MAX at once) */
static void on_accept(int lfd, int events, void *ctx)
{
    (void)events;
    (void)ctx;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                log_warn("qadmin accept: %s", strerror(errno));
            return;
        }
        if (nconns >= ADMIN_CONN_MAX) {
            close(fd);
            continue;
        }
        struct admin_conn *c = xcalloc(1, sizeof(*c));
        c->fd = fd;
        str_init(&c->in);
        c->next = conns;
        conns = c;
        nconns++;
        c->timer = evloop_timer(qmgr_ev, ADMIN_READ_MS, on_timeout, c);
        evloop_watch(qmgr_ev, fd, EV_READ, on_read, c);
    }
}

void qmgr_admin_init(struct evloop *ev)
{
    struct str err = STR_INIT;

    lock_fd = open(QADMIN_LOCK, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (lock_fd < 0)
        log_fatal("open %s: %s", QADMIN_LOCK, strerror(errno));
    if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
        log_info("waiting for %s (petrel-super is working on the queue)", QADMIN_LOCK);
        if (flock(lock_fd, LOCK_EX) < 0)
            log_fatal("lock %s: %s", QADMIN_LOCK, strerror(errno));
    }
    listen_fd = sock_listen_unix_mode(QADMIN_SOCKET, 16, 0600, &err);
    if (listen_fd < 0) {
        log_warn("queue administration requests unavailable: %s", str_c(&err));
        str_free(&err);
        return;
    }
    proc_cloexec(listen_fd, 1);
    proc_nonblock(listen_fd, 1);
    evloop_watch(ev, listen_fd, EV_READ, on_accept, NULL);
    str_free(&err);
}

void qmgr_admin_free(void)
{
    while (conns)
        conn_close(conns);
    if (listen_fd >= 0) {
        evloop_unwatch(qmgr_ev, listen_fd);
        close(listen_fd);
        listen_fd = -1;
    }
    /* the lock stays until the process exits: active/ is still ours until then */
}

/* unlink_logs - defer/H/ID (and bounce/ID when asked) */
static void unlink_logs(const char *id, int bounce_too)
{
    struct str path = STR_INIT;

    dsnlog_path(&path, "defer", id);
    if (unlink(path.s) < 0 && errno != ENOENT)
        log_warn("remove %s: %s", path.s, strerror(errno));
    if (bounce_too) {
        str_reset(&path);
        dsnlog_path(&path, "bounce", id);
        if (unlink(path.s) < 0 && errno != ENOENT)
            log_warn("remove %s: %s", path.s, strerror(errno));
    }
    str_free(&path);
}

int qmgr_admin_finish(struct qmgr_msg *m, int all_done)
{
    struct str to = STR_INIT;
    int rc = 1;

    if (all_done && !m->bounce_log)
        return 0; /* delivered meanwhile (even when a delete was asked): removed as usual */
    if (m->admin == QA_DELETE) {
        if (unlink(m->path) < 0 && errno != ENOENT)
            log_warn("%s: remove %s: %s", m->id, m->path, strerror(errno));
        unlink_logs(m->id, 1);
        log_info("%s: removed (petrel-super)", m->id);
        return 1;
    }
    if (m->admin == QA_HOLD) {
        str_printf(&to, "hold/%s", m->id);
    } else if (m->bounce_log) {
        str_printf(&to, "deferred/%c/%s", qdir_hash(m->id), m->id);
        if (utimes(m->path, NULL) < 0)
            log_warn("%s: set retry time: %s", m->id, strerror(errno));
    } else {
        str_printf(&to, "incoming/%s", m->id);
    }
    if (m->admin == QA_REQUEUE)
        unlink_logs(m->id, 0);
    if (rename(m->path, to.s) < 0) {
        log_warn("%s: move to %s: %s", m->id, to.s, strerror(errno));
        rc = 0;
    } else if (m->admin == QA_HOLD) {
        log_info("%s: placed on hold (petrel-super)", m->id);
    } else {
        log_info("%s: requeued (petrel-super)", m->id);
        qmgr_kick_incoming();
    }
    str_free(&to);
    return rc;
}
