/*
 * qmgr_showq.c - the queue listing service on public/showq (lib/global/showq.h)
 *
 * master binds public/showq for the qmgr service and hands it over as the
 * service's second listener, so that the socket stays open across a reload
 * or a qmgr restart (a connection waits in the backlog, never refused);
 * qmgr binds it itself only when started without it. One short-lived child per
 * connection, so that a walk of a large queue never stalls the event
 * loop. The child answers from the disk (showq_scan), or turns a flush or
 * deliver request into a trigger on public/qmgr, then exits; SIGCHLD is
 * ignored so children are reaped by the kernel.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "attr.h"
#include "cfg.h"
#include "log.h"
#include "mem.h"
#include "proc.h"
#include "qdir.h"
#include "showq.h"
#include "sock.h"
#include "stream.h"
#include "trigger.h"

#include "qmgr.h"

#define SHOWQ_TIMEOUT 60
#define SHOWQ_ACCEPT_BATCH 16

static int showq_fd = -1;

/* send_entry - one listing entry to the client */
static int send_entry(const struct showq_entry *e, void *ctx)
{
    struct attr_list l = ATTR_LIST_INIT;
    int r;

    showq_entry_encode(e, &l);
    r = attr_write(ctx, &l);
    attr_free(&l);
    return r == STREAM_OK ? 0 : -1;
}

/* answer - a one-message answer */
static void answer(struct stream *s, const char *status, const char *reason)
{
    struct attr_list l = ATTR_LIST_INIT;

    attr_add(&l, "status", status);
    if (reason)
        attr_add(&l, "reason", reason);
    attr_write(s, &l);
    attr_free(&l);
}

/* deliver_now - make one deferred message due now */
static int deliver_now(const char *id)
{
    char *path = xasprintf("deferred/%c/%s", qdir_hash(id), id);
    int r = utimes(path, NULL);

    free(path);
    return r;
}

/* serve_child - the forked child: one request, one answer */
static void serve_child(int fd)
{
    struct stream *s = stream_new(fd, fd, SHOWQ_TIMEOUT);
    struct attr_list req = ATTR_LIST_INIT;
    struct str err = STR_INIT;
    const char *what, *id;

    if (attr_read(s, &req, 4096, 16384, &err) != STREAM_OK)
        goto out;
    what = attr_get(&req, "request");
    id = attr_get(&req, "queue_id");
    if (id && !qfile_valid_id(id)) {
        answer(s, "error", "bad queue ID");
    } else if (what && strcmp(what, "list") == 0) {
        struct attr_list end = ATTR_LIST_INIT;
        showq_scan(".", id, send_entry, s, &err);
        attr_add(&end, "end", "1");
        attr_write(s, &end);
        attr_free(&end);
    } else if (what && strcmp(what, "flush") == 0) {
        str_reset(&err);
        if (trigger_send("public/qmgr", "F", SHOWQ_TIMEOUT, &err) < 0)
            answer(s, "error", str_c(&err));
        else
            answer(s, "ok", NULL);
    } else if (what && strcmp(what, "deliver") == 0 && id) {
        if (deliver_now(id) < 0) {
            answer(s, errno == ENOENT ? "notfound" : "error", strerror(errno));
        } else {
            trigger_send("public/qmgr", "W", SHOWQ_TIMEOUT, &err);
            answer(s, "ok", NULL);
        }
    } else if (what && strcmp(what, "flush_site") == 0 && attr_get(&req, "site")) {
        struct attr_list ok = ATTR_LIST_INIT;
        attr_add(&ok, "status", "ok");
        attr_add_int(&ok, "count", showq_site_due(".", attr_get(&req, "site")));
        trigger_send("public/qmgr", "W", SHOWQ_TIMEOUT, &err);
        attr_write(s, &ok);
        attr_free(&ok);
    } else {
        answer(s, "error", "unknown request");
    }
out:
    stream_free(s, 1);
    attr_free(&req);
    str_free(&err);
}

/* on_accept - fork a child per connection */
static void on_accept(int lfd, int events, void *ctx)
{
    (void)events;
    (void)ctx;
    /* a bounded batch: under a flood of clients the loop must still see its signals
     * (a reload) and triggers */
    for (int n = 0; n < SHOWQ_ACCEPT_BATCH; n++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        pid_t pid;
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                log_warn("showq accept: %s", strerror(errno));
            return;
        }
        pid = fork();
        if (pid == 0) {
            sig_default(SIGTERM);
            sig_default(SIGHUP);
            alarm(SHOWQ_TIMEOUT * 2);
            proc_nonblock(fd, 0);
            serve_child(fd);
            _exit(0);
        }
        if (pid < 0)
            log_warn("showq: fork: %s", strerror(errno));
        close(fd);
    }
}

void qmgr_showq_init(struct evloop *ev, int fd)
{
    struct str err = STR_INIT;

    signal(SIGCHLD, SIG_IGN);
    /* 0666: access is controlled by the public/ directory */
    showq_fd = fd >= 0 ? fd : sock_listen_unix_mode(SHOWQ_SOCKET, 64, 0666, &err);
    if (showq_fd < 0) {
        log_warn("showq service unavailable: %s", str_c(&err));
        str_free(&err);
        return;
    }
    proc_cloexec(showq_fd, 1);
    proc_nonblock(showq_fd, 1);
    evloop_watch(ev, showq_fd, EV_READ, on_accept, NULL);
    str_free(&err);
}

void qmgr_showq_free(void)
{
    if (showq_fd >= 0) {
        evloop_unwatch(qmgr_ev, showq_fd);
        close(showq_fd);
        showq_fd = -1;
    }
}
