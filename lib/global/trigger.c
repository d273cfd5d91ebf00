/*
 * trigger.c - one-byte wake-up requests over UNIX sockets
 *
 * The server side lives in the program's event loop: the listening socket
 * is non-blocking and accepts until EAGAIN; each connection is read
 * without blocking and closed at EOF, after 64 bytes or after 10 seconds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "proc.h"
#include "sock.h"
#include "trigger.h"

#define TRIGGER_MAX_BYTES 64
#define TRIGGER_IDLE_MS 10000

int trigger_send(const char *path, const char *bytes, int timeout, struct str *err)
{
    int fd = sock_connect_unix(path, timeout, err);
    size_t n = strlen(bytes);

    if (fd < 0)
        return -1;
    /* MSG_NOSIGNAL: a server that just died must not kill a tool with SIGPIPE */
    if (send(fd, bytes, n, MSG_NOSIGNAL) != (ssize_t)n) {
        str_printf(err, "write to %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

struct trigger_server {
    struct evloop *ev;
    trigger_cb cb;
    void *ctx;
    int fd;
};

struct tconn {
    struct trigger_server *srv;
    int fd;
    int count;
    unsigned long timer;
};

static void tconn_close(struct tconn *c)
{
    evloop_unwatch(c->srv->ev, c->fd);
    evloop_cancel(c->srv->ev, c->timer);
    close(c->fd);
    free(c);
}

static void tconn_timeout(void *ctx)
{
    struct tconn *c = ctx;
    c->timer = 0;
    tconn_close(c);
}

static void tconn_read(int fd, int events, void *ctx)
{
    struct tconn *c = ctx;
    char buf[TRIGGER_MAX_BYTES];
    ssize_t n = read(fd, buf, sizeof(buf));

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        tconn_close(c);
        return;
    }
    for (ssize_t i = 0; i < n && c->count < TRIGGER_MAX_BYTES; i++, c->count++)
        c->srv->cb((unsigned char)buf[i], c->srv->ctx);
    if (c->count >= TRIGGER_MAX_BYTES)
        tconn_close(c);
}

static void tserver_accept(int lfd, int events, void *ctx)
{
    struct trigger_server *srv = ctx;

    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                log_warn("trigger accept: %s", strerror(errno));
            return;
        }
        struct tconn *c = xcalloc(1, sizeof(*c));
        c->srv = srv;
        c->fd = fd;
        c->timer = evloop_timer(srv->ev, TRIGGER_IDLE_MS, tconn_timeout, c);
        evloop_watch(srv->ev, fd, EV_READ, tconn_read, c);
    }
}

struct trigger_server *trigger_server(struct evloop *ev, int listen_fd, trigger_cb cb, void *ctx)
{
    struct trigger_server *srv = xcalloc(1, sizeof(*srv));

    srv->ev = ev;
    srv->cb = cb;
    srv->ctx = ctx;
    srv->fd = listen_fd;
    proc_nonblock(listen_fd, 1);
    evloop_watch(ev, listen_fd, EV_READ, tserver_accept, srv);
    return srv;
}

void trigger_server_free(struct trigger_server *srv)
{
    evloop_unwatch(srv->ev, srv->fd);
    free(srv);
}
