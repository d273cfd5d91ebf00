/*
 * stream.c - buffered I/O on descriptors with deadlines and optional TLS
 *
 * The descriptors are put into non-blocking mode; each operation computes
 * a deadline and polls for the direction the transport needs (TLS may
 * need to write while reading and the other way round). SIGPIPE must be
 * ignored by the program; a broken peer shows as STREAM_ERR.
 */
#include <errno.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "mem.h"
#include "proc.h"
#include "stream.h"
#include "tls.h"

#define RBUF_SIZE 16384
#define WBUF_FLUSH 65536

struct stream {
    int rfd, wfd;
    int timeout;
    int err;
    int stress_fd;            /* readable: the server is overloaded (-1: none) */
    int stress_timeout;       /* the timeout that applies then, in seconds */
    int stressed;             /* stress_fd was readable during this operation */
    long long op_start;       /* start of the current operation (ms) */
    long long req_deadline;   /* deadline of a request of many operations (0: none) */
    int min_rate;             /* bytes/s that push req_deadline back (0: none) */
    long long rate_credit_ms; /* fractions carried between reads */
    SSL *ssl;
    char *rbuf;
    size_t rpos, rlen;
    struct str wbuf;
    uint64_t in, out;
};

struct stream *stream_new(int rfd, int wfd, int timeout)
{
    struct stream *s = xcalloc(1, sizeof(*s));

    s->rfd = rfd;
    s->wfd = wfd;
    s->timeout = timeout;
    s->stress_fd = -1;
    s->rbuf = xmalloc(RBUF_SIZE);
    proc_nonblock(rfd, 1);
    if (wfd != rfd)
        proc_nonblock(wfd, 1);
    return s;
}

void stream_free(struct stream *s, int close_fds)
{
    if (s == NULL)
        return;
    if (s->ssl) {
        if (s->err == STREAM_OK)
            SSL_shutdown(s->ssl);
        SSL_free(s->ssl);
    }
    if (close_fds) {
        close(s->rfd);
        if (s->wfd != s->rfd)
            close(s->wfd);
    }
    free(s->rbuf);
    str_free(&s->wbuf);
    free(s);
}

void stream_set_timeout(struct stream *s, int timeout)
{
    s->timeout = timeout;
}

int stream_rfd(const struct stream *s)
{
    return s->rfd;
}

int stream_error(const struct stream *s)
{
    return s->err;
}

const char *stream_strerror(int code)
{
    switch (code) {
    case STREAM_OK:
        return "no error";
    case STREAM_EOF:
        return "lost connection";
    case STREAM_TIMEOUT:
        return "timeout";
    case STREAM_TOOLONG:
        return "line too long";
    default:
        return "I/O error";
    }
}

SSL *stream_ssl(const struct stream *s)
{
    return s->ssl;
}

uint64_t stream_bytes_in(const struct stream *s)
{
    return s->in;
}

uint64_t stream_bytes_out(const struct stream *s)
{
    return s->out;
}

/* stress_seen - whether the stress descriptor is readable now */
static int stress_seen(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP)) != 0;
}

/* cap - the earlier of a deadline and a limit (0 means none for both) */
static long long cap(long long until, long long limit)
{
    return limit && (until == 0 || limit < until) ? limit : until;
}

/* deadline - absolute ms for a new operation (0: none): the stream timeout from now, never
 * past a request deadline. Whether the server is overloaded is learnt only when the
 * operation has to wait (await), so that an operation served from the buffer or by an
 * immediate read costs no system call more. */
static long long deadline(struct stream *s)
{
    long long now = evloop_now_ms();

    s->op_start = now;
    s->stressed = 0;
    return cap(s->timeout > 0 ? now + (long long)s->timeout * 1000 : 0, s->req_deadline);
}

/* await - wait until fd is ready for events or the deadline passes; with a stream, the
 * stress descriptor is watched too, and once it is readable the operation's deadline
 * shrinks to the stress timeout from its start; a request deadline applies as well */
static int await(struct stream *s, int fd, short events, long long until)
{
    struct pollfd p[2];
    int r;

    for (;;) {
        int wait = -1, n = 1;
        if (s) {
            if (s->stressed && s->stress_timeout > 0)
                until = cap(until, s->op_start + (long long)s->stress_timeout * 1000);
            until = cap(until, s->req_deadline);
        }
        if (until) {
            long long left = until - evloop_now_ms();
            if (left <= 0)
                return STREAM_TIMEOUT;
            wait = left > 0x7fffffff ? 0x7fffffff : (int)left;
        }
        p[0].fd = fd;
        p[0].events = events;
        p[0].revents = 0;
        if (s && s->stress_fd >= 0 && !s->stressed) {
            p[1].fd = s->stress_fd;
            p[1].events = POLLIN;
            p[1].revents = 0;
            n = 2;
        }
        r = poll(p, (nfds_t)n, wait);
        if (r > 0 && n == 2 && p[1].revents) /* the stress signal: recompute the deadline */
            s->stressed = 1;
        if (r > 0 && p[0].revents)
            return STREAM_OK;
        if (r > 0)
            continue;
        if (r == 0)
            return STREAM_TIMEOUT;
        if (errno != EINTR)
            return STREAM_ERR;
    }
}

void stream_set_stress(struct stream *s, int fd, int stress_timeout)
{
    s->stress_fd = fd;
    s->stress_timeout = stress_timeout;
    s->stressed = 0;
}

int stream_stressed(const struct stream *s)
{
    return s->stress_fd >= 0 && stress_seen(s->stress_fd);
}

void stream_start_deadline(struct stream *s, int timeout, int min_rate)
{
    long long now = evloop_now_ms();

    if (s->stress_fd >= 0 && s->stress_timeout > 0 && stress_seen(s->stress_fd) &&
        (timeout <= 0 || s->stress_timeout < timeout))
        timeout = s->stress_timeout;
    s->req_deadline = timeout > 0 ? now + (long long)timeout * 1000 : 0;
    s->min_rate = min_rate;
    s->rate_credit_ms = 0;
}

void stream_stop_deadline(struct stream *s)
{
    s->req_deadline = 0;
    s->min_rate = 0;
}

/* rate_credit - n more bytes arrived: push the request deadline back by n / min_rate s */
static void rate_credit(struct stream *s, size_t n)
{
    if (s->req_deadline == 0 || s->min_rate <= 0)
        return;
    s->rate_credit_ms += (long long)n * 1000;
    s->req_deadline += s->rate_credit_ms / s->min_rate;
    s->rate_credit_ms %= s->min_rate;
}

/* ssl_wait - after an SSL call returned ret, wait for what it wants; STREAM_OK to retry */
static int ssl_wait(struct stream *s, int ret, long long until)
{
    int e = SSL_get_error(s->ssl, ret);

    switch (e) {
    case SSL_ERROR_WANT_READ:
        return await(s, s->rfd, POLLIN, until);
    case SSL_ERROR_WANT_WRITE:
        return await(s, s->wfd, POLLOUT, until);
    case SSL_ERROR_ZERO_RETURN:
        return STREAM_EOF;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        return ret == 0 || errno == 0 ? STREAM_EOF : STREAM_ERR;
    default:
        ERR_clear_error();
        return STREAM_ERR;
    }
}

/* fill - read more input into the buffer; STREAM_OK when something arrived */
static int fill(struct stream *s, long long until)
{
    if (s->err)
        return s->err;
    if (s->rpos == s->rlen)
        s->rpos = s->rlen = 0;
    else if (s->rpos > 0 && s->rlen == RBUF_SIZE) {
        memmove(s->rbuf, s->rbuf + s->rpos, s->rlen - s->rpos);
        s->rlen -= s->rpos;
        s->rpos = 0;
    }
    if (s->rlen == RBUF_SIZE)
        log_panic("stream fill: buffer full");
    for (;;) {
        int r;
        if (s->ssl) {
            int n = SSL_read(s->ssl, s->rbuf + s->rlen, (int)(RBUF_SIZE - s->rlen));
            if (n > 0) {
                s->rlen += (size_t)n;
                s->in += (uint64_t)n;
                rate_credit(s, (size_t)n);
                return STREAM_OK;
            }
            r = ssl_wait(s, n, until);
        } else {
            ssize_t n = read(s->rfd, s->rbuf + s->rlen, RBUF_SIZE - s->rlen);
            if (n > 0) {
                s->rlen += (size_t)n;
                s->in += (uint64_t)n;
                rate_credit(s, (size_t)n);
                return STREAM_OK;
            }
            if (n == 0)
                r = STREAM_EOF;
            else if (errno == EAGAIN || errno == EINTR)
                r = await(s, s->rfd, POLLIN, until);
            else
                r = STREAM_ERR;
        }
        if (r != STREAM_OK) {
            if (r != STREAM_TIMEOUT)
                s->err = r;
            return r;
        }
    }
}

int stream_getline(struct stream *s, struct str *line, size_t limit)
{
    long long until = deadline(s);
    int toolong = 0;

    str_reset(line);
    for (;;) {
        char *start = s->rbuf + s->rpos;
        size_t avail = s->rlen - s->rpos;
        char *nl = memchr(start, '\n', avail);
        size_t take = nl ? (size_t)(nl - start) + 1 : avail;

        if (!toolong) {
            size_t room = limit > line->len ? limit - line->len : 0;
            if (take > room) {
                str_catn(line, start, room);
                toolong = 1;
            } else {
                str_catn(line, start, take);
            }
        }
        s->rpos += take;
        if (nl)
            return toolong ? STREAM_TOOLONG : STREAM_OK;
        int r = fill(s, until);
        if (r == STREAM_EOF && line->len > 0)
            return toolong ? STREAM_TOOLONG : STREAM_OK;
        if (r != STREAM_OK)
            return r;
    }
}

int stream_getline_part(struct stream *s, struct str *out, size_t limit)
{
    long long until = deadline(s);
    size_t got = 0;

    for (;;) {
        char *start = s->rbuf + s->rpos;
        size_t avail = s->rlen - s->rpos;
        size_t room = limit - got;
        size_t scan = avail < room ? avail : room;
        char *nl = memchr(start, '\n', scan);
        size_t take = nl ? (size_t)(nl - start) + 1 : scan;

        str_catn(out, start, take);
        s->rpos += take;
        got += take;
        if (nl)
            return 1;
        if (got >= limit)
            return 0;
        int r = fill(s, until);
        if (r == STREAM_EOF && got > 0)
            return 0;
        if (r != STREAM_OK)
            return r;
    }
}

ssize_t stream_read_some(struct stream *s, void *buf, size_t n)
{
    if (n == 0)
        return 0;
    if (s->rpos == s->rlen) {
        int r = fill(s, deadline(s));
        if (r != STREAM_OK)
            return r;
    }
    size_t avail = s->rlen - s->rpos;
    size_t take = avail < n ? avail : n;
    memcpy(buf, s->rbuf + s->rpos, take);
    s->rpos += take;
    return (ssize_t)take;
}

ssize_t stream_read(struct stream *s, void *buf, size_t n)
{
    long long until = deadline(s);
    size_t got = 0;

    while (got < n) {
        if (s->rpos == s->rlen) {
            int r = fill(s, until);
            if (r == STREAM_EOF && got > 0)
                return (ssize_t)got;
            if (r != STREAM_OK)
                return r;
        }
        size_t avail = s->rlen - s->rpos;
        size_t take = avail < n - got ? avail : n - got;
        memcpy((char *)buf + got, s->rbuf + s->rpos, take);
        s->rpos += take;
        got += take;
    }
    return (ssize_t)got;
}

size_t stream_pending(struct stream *s)
{
    size_t n = s->rlen - s->rpos;
    if (s->ssl)
        n += (size_t)SSL_pending(s->ssl);
    return n;
}

int stream_wait_input(struct stream *s, int timeout_ms)
{
    if (stream_pending(s))
        return 1;
    if (s->err)
        return s->err;
    if (timeout_ms == 0) {
        /* a look without waiting (await treats a deadline of now as already passed) */
        struct pollfd p = {s->rfd, POLLIN, 0};
        int n = poll(&p, 1, 0);
        return n > 0 ? 1 : n == 0 || errno == EINTR ? 0 : STREAM_ERR;
    }
    int r = await(NULL, s->rfd, POLLIN, timeout_ms >= 0 ? evloop_now_ms() + timeout_ms : 0);
    if (r == STREAM_OK)
        return 1;
    return r == STREAM_TIMEOUT ? 0 : r;
}

/* write_raw - write n bytes to the transport before the deadline */
static int write_raw(struct stream *s, const char *p, size_t n, long long until)
{
    while (n > 0) {
        int r;
        if (s->ssl) {
            int w = SSL_write(s->ssl, p, n > 0x40000000 ? 0x40000000 : (int)n);
            if (w > 0) {
                p += w;
                n -= (size_t)w;
                s->out += (uint64_t)w;
                continue;
            }
            r = ssl_wait(s, w, until);
        } else {
            ssize_t w = write(s->wfd, p, n);
            if (w > 0) {
                p += w;
                n -= (size_t)w;
                s->out += (uint64_t)w;
                continue;
            }
            if (w < 0 && (errno == EAGAIN || errno == EINTR))
                r = await(s, s->wfd, POLLOUT, until);
            else
                r = STREAM_ERR;
        }
        if (r != STREAM_OK) {
            s->err = r == STREAM_EOF ? STREAM_ERR : r;
            return s->err;
        }
    }
    return STREAM_OK;
}

int stream_flush(struct stream *s)
{
    int r;

    if (s->err)
        return s->err;
    if (s->wbuf.len == 0)
        return STREAM_OK;
    r = write_raw(s, s->wbuf.s, s->wbuf.len, deadline(s));
    str_reset(&s->wbuf);
    return r;
}

size_t stream_unflushed(const struct stream *s)
{
    return s->wbuf.len;
}

int stream_write(struct stream *s, const void *p, size_t n)
{
    if (s->err)
        return s->err;
    if (n >= WBUF_FLUSH) {
        int r = stream_flush(s);
        if (r != STREAM_OK)
            return r;
        return write_raw(s, p, n, deadline(s));
    }
    str_catn(&s->wbuf, p, n);
    if (s->wbuf.len >= WBUF_FLUSH)
        return stream_flush(s);
    return STREAM_OK;
}

int stream_puts(struct stream *s, const char *text)
{
    return stream_write(s, text, strlen(text));
}

int stream_printf(struct stream *s, const char *fmt, ...)
{
    va_list ap;

    if (s->err)
        return s->err;
    va_start(ap, fmt);
    str_vprintf(&s->wbuf, fmt, ap);
    va_end(ap);
    if (s->wbuf.len >= WBUF_FLUSH)
        return stream_flush(s);
    return STREAM_OK;
}

long stream_starttls(struct stream *s, SSL_CTX *ctx, int server, const char *sni, struct str *err)
{
    long long until = deadline(s);
    long discarded = (long)(s->rlen - s->rpos);
    int r;

    if (s->ssl) {
        str_cat(err, "TLS already active");
        return STREAM_ERR;
    }
    if ((r = stream_flush(s)) != STREAM_OK) {
        str_cat(err, stream_strerror(r));
        return r;
    }
    s->rpos = s->rlen = 0;
    if ((s->ssl = SSL_new(ctx)) == NULL) {
        tls_errors(err);
        s->err = STREAM_ERR;
        return STREAM_ERR;
    }
    if (s->rfd == s->wfd)
        SSL_set_fd(s->ssl, s->rfd);
    else {
        SSL_set_rfd(s->ssl, s->rfd);
        SSL_set_wfd(s->ssl, s->wfd);
    }
    if (server)
        SSL_set_accept_state(s->ssl);
    else {
        SSL_set_connect_state(s->ssl);
        if (sni && *sni)
            SSL_set_tlsext_host_name(s->ssl, sni);
    }
    for (;;) {
        int ret = SSL_do_handshake(s->ssl);
        if (ret == 1)
            return discarded;
        int e = SSL_get_error(s->ssl, ret);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            str_cat(err, "TLS handshake failed");
            if (e == SSL_ERROR_SSL) {
                str_cat(err, ": ");
                tls_errors(err);
            } else if (e == SSL_ERROR_SYSCALL) {
                str_cat(err, ": lost connection");
                ERR_clear_error();
            }
            s->err = STREAM_ERR;
            return STREAM_ERR;
        }
        r = ssl_wait(s, ret, until);
        if (r != STREAM_OK) {
            str_cat(err, r == STREAM_TIMEOUT ? "TLS handshake timeout" : "TLS handshake failed");
            s->err = r;
            return r;
        }
    }
}
