/*
 * evloop.h - epoll event loop with timers
 *
 * One loop per process. File descriptor callbacks are level-triggered;
 * timers are one-shot (re-arm from the callback for periodic work).
 * Callbacks may add, change or remove any watch or timer, including their
 * own.
 */
#ifndef PETREL_EVLOOP_H
#define PETREL_EVLOOP_H

#define EV_READ 1
#define EV_WRITE 2
#define EV_EXCLUSIVE 4 /* EPOLLEXCLUSIVE: wake one of the processes sharing the fd */

struct evloop;

typedef void (*ev_fd_cb)(int fd, int events, void *ctx);
typedef void (*ev_timer_cb)(void *ctx);

struct evloop *evloop_new(void);
void evloop_free(struct evloop *ev);
/* evloop_watch - watch fd for events (EV_READ|EV_WRITE); replaces an earlier watch */
void evloop_watch(struct evloop *ev, int fd, int events, ev_fd_cb cb, void *ctx);
void evloop_unwatch(struct evloop *ev, int fd);
/* evloop_timer - call cb after ms milliseconds; returns a non-zero id */
unsigned long evloop_timer(struct evloop *ev, long long ms, ev_timer_cb cb, void *ctx);
void evloop_cancel(struct evloop *ev, unsigned long id);
/* evloop_run_once - wait at most max_wait_ms (-1: until an event) and dispatch */
void evloop_run_once(struct evloop *ev, long long max_wait_ms);
/* evloop_run - dispatch until evloop_stop */
void evloop_run(struct evloop *ev);
void evloop_stop(struct evloop *ev);
/* evloop_now_ms - monotonic milliseconds */
long long evloop_now_ms(void);

#endif
