/*
 * evloop.c - epoll event loop with timers
 *
 * Watches are kept in an array indexed by descriptor. Timers live in a
 * binary min-heap keyed by deadline; cancel finds the entry (O(n), timers
 * are few per process) and removes it, so it is safe from inside callbacks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "mem.h"

struct watch {
    ev_fd_cb cb;
    void *ctx;
    int events;
    int active;
};

struct timer {
    long long when;
    unsigned long id;
    ev_timer_cb cb;
    void *ctx;
};

struct evloop {
    int epfd;
    struct watch *w;
    size_t nw;
    struct timer *heap;
    size_t nheap, capheap;
    unsigned long next_id;
    int stop;
};

long long evloop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct evloop *evloop_new(void)
{
    struct evloop *ev = xcalloc(1, sizeof(*ev));

    ev->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (ev->epfd < 0)
        log_fatal("epoll_create1: %s", strerror(errno));
    ev->next_id = 1;
    return ev;
}

void evloop_free(struct evloop *ev)
{
    if (ev == NULL)
        return;
    close(ev->epfd);
    free(ev->w);
    free(ev->heap);
    free(ev);
}

/* epoll_mask - translate EV_ bits */
static unsigned int epoll_mask(int events)
{
    unsigned int m = 0;
    if (events & EV_READ)
        m |= (events & EV_EXCLUSIVE) ? EPOLLIN : EPOLLIN | EPOLLRDHUP;
    if (events & EV_WRITE)
        m |= EPOLLOUT;
    if (events & EV_EXCLUSIVE)
        m |= EPOLLEXCLUSIVE;
    return m;
}

void evloop_watch(struct evloop *ev, int fd, int events, ev_fd_cb cb, void *ctx)
{
    struct epoll_event e;
    int op;

    if (fd < 0)
        log_panic("evloop_watch: bad descriptor %d", fd);
    if ((size_t)fd >= ev->nw) {
        size_t n = ev->nw ? ev->nw : 64;
        while (n <= (size_t)fd)
            n *= 2;
        ev->w = xreallocarray(ev->w, n, sizeof(*ev->w));
        memset(ev->w + ev->nw, 0, (n - ev->nw) * sizeof(*ev->w));
        ev->nw = n;
    }
    memset(&e, 0, sizeof(e));
    e.events = epoll_mask(events);
    e.data.fd = fd;
    op = ev->w[fd].active ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    /* EPOLLEXCLUSIVE cannot be modified: re-add */
    if (op == EPOLL_CTL_MOD && ((events | ev->w[fd].events) & EV_EXCLUSIVE)) {
        epoll_ctl(ev->epfd, EPOLL_CTL_DEL, fd, NULL);
        op = EPOLL_CTL_ADD;
    }
    if (epoll_ctl(ev->epfd, op, fd, &e) < 0)
        log_panic("epoll_ctl(%d): %s", fd, strerror(errno));
    ev->w[fd].cb = cb;
    ev->w[fd].ctx = ctx;
    ev->w[fd].events = events;
    ev->w[fd].active = 1;
}

void evloop_unwatch(struct evloop *ev, int fd)
{
    if (fd < 0 || (size_t)fd >= ev->nw || !ev->w[fd].active)
        return;
    epoll_ctl(ev->epfd, EPOLL_CTL_DEL, fd, NULL);
    ev->w[fd].active = 0;
    ev->w[fd].cb = NULL;
}

/* heap helpers */
static void heap_swap(struct timer *a, struct timer *b)
{
    struct timer t = *a;
    *a = *b;
    *b = t;
}

static int timer_before(const struct timer *a, const struct timer *b)
{
    return a->when < b->when || (a->when == b->when && a->id < b->id);
}

static void heap_up(struct evloop *ev, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!timer_before(&ev->heap[i], &ev->heap[p]))
            break;
        heap_swap(&ev->heap[i], &ev->heap[p]);
        i = p;
    }
}

static void heap_down(struct evloop *ev, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < ev->nheap && timer_before(&ev->heap[l], &ev->heap[m]))
            m = l;
        if (r < ev->nheap && timer_before(&ev->heap[r], &ev->heap[m]))
            m = r;
        if (m == i)
            break;
        heap_swap(&ev->heap[i], &ev->heap[m]);
        i = m;
    }
}

static void heap_pop(struct evloop *ev)
{
    ev->heap[0] = ev->heap[--ev->nheap];
    if (ev->nheap)
        heap_down(ev, 0);
}

unsigned long evloop_timer(struct evloop *ev, long long ms, ev_timer_cb cb, void *ctx)
{
    if (ev->nheap == ev->capheap) {
        ev->capheap = ev->capheap ? ev->capheap * 2 : 16;
        ev->heap = xreallocarray(ev->heap, ev->capheap, sizeof(*ev->heap));
    }
    struct timer *t = &ev->heap[ev->nheap];
    unsigned long id = ev->next_id++;
    t->when = evloop_now_ms() + (ms > 0 ? ms : 0);
    t->id = id;
    t->cb = cb;
    t->ctx = ctx;
    ev->nheap++;
    heap_up(ev, ev->nheap - 1); /* t may now hold another timer: return the saved id */
    return id;
}

void evloop_cancel(struct evloop *ev, unsigned long id)
{
    if (id == 0)
        return;
    for (size_t i = 0; i < ev->nheap; i++) {
        if (ev->heap[i].id == id) {
            /* remove directly: move the last element here and restore order */
            ev->heap[i] = ev->heap[--ev->nheap];
            if (i < ev->nheap) {
                heap_down(ev, i);
                heap_up(ev, i);
            }
            return;
        }
    }
}

void evloop_run_once(struct evloop *ev, long long max_wait_ms)
{
    struct epoll_event events[64];
    long long now = evloop_now_ms();
    long long wait = max_wait_ms;
    int n;

    if (ev->nheap) {
        long long until = ev->heap[0].when - now;
        if (until < 0)
            until = 0;
        if (wait < 0 || until < wait)
            wait = until;
    }
    n = epoll_wait(ev->epfd, events, 64, wait > 0x7fffffff ? 0x7fffffff : (int)wait);
    if (n < 0 && errno != EINTR)
        log_fatal("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
        int fd = events[i].data.fd;
        int got = 0;
        if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            got |= EV_READ;
        if (events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            got |= EV_WRITE;
        if ((size_t)fd < ev->nw && ev->w[fd].active && ev->w[fd].cb) {
            got &= ev->w[fd].events | ((events[i].events & (EPOLLHUP | EPOLLERR)) ? EV_READ : 0);
            if (got)
                ev->w[fd].cb(fd, got, ev->w[fd].ctx);
        }
    }
    now = evloop_now_ms();
    while (ev->nheap && ev->heap[0].when <= now) {
        struct timer t = ev->heap[0];
        heap_pop(ev);
        t.cb(t.ctx);
    }
}

void evloop_run(struct evloop *ev)
{
    ev->stop = 0;
    while (!ev->stop)
        evloop_run_once(ev, -1);
}

void evloop_stop(struct evloop *ev)
{
    ev->stop = 1;
}
