/*
 * qmgr_sched.c - transports, destinations and delivery agents
 *
 * Recipients of active messages wait in entries (at most the transport's
 * destination recipient limit per entry), queued FIFO per destination
 * (transport + next hop, or transport + recipient when the recipient limit
 * is 1). A transport serves its destinations round-robin, each with a
 * concurrency window that starts at $initial_destination_concurrency,
 * grows by 1/window per success up to the destination concurrency limit
 * and shrinks by 1/window per failure; after
 * $default_destination_concurrency_failed_cohort_limit rounds of failures
 * the destination is dead for $transport_retry_time and its waiting mail
 * is deferred at once. A transport never has more agent connections than
 * its master.cf process limit.
 *
 * Agent connections are non-blocking and live in qmgr's event loop: the
 * agent greets, gets a request, streams one result per recipient and
 * "done" (lib/global/deliver.h); an idle connection is reused for the next
 * request and closed after AGENT_IDLE_MS, one whose "done" says last=1
 * (the agent's max_use) at once. A broken connection defers the
 * recipients it had not reported.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "attr.h"
#include "cfg.h"
#include "htab.h"
#include "log.h"
#include "mcf.h"
#include "mem.h"

#include "qmgr.h"

#define AGENT_IDLE_MS 10000  /* an idle agent connection is closed after this */
#define CONNECT_RETRY_MS 200 /* listen queue full: try again after this */

#define AG_GREETING 0
#define AG_IDLE 1
#define AG_BUSY 2

struct qmgr_transport;

struct qmgr_dest {
    char *key;
    char *nexthop;
    struct qmgr_transport *tr;
    double window;
    double failed; /* failed pseudo-cohorts since the last success */
    int active;
    long long dead_until; /* monotonic ms; 0 = alive */
    char *dead_reason;
    struct qmgr_entry *head, *tail;
    struct qmgr_dest *rnext, *rprev;
    int in_ring;
};

struct qmgr_agent {
    struct qmgr_transport *tr;
    int fd;
    int state;
    struct str in;
    struct str out;
    size_t out_off;
    struct attr_list msg;
    size_t msg_bytes;
    struct qmgr_entry *entry;
    unsigned char *got; /* per entry recipient: a final result arrived */
    unsigned long timer;
    struct qmgr_agent *next;          /* idle list */
    struct qmgr_agent *anext, *aprev; /* all agents */
};

struct qmgr_transport {
    char *name;
    int available; /* a private unix service in master.cf */
    int internal;  /* "error" or "discard" handled inside qmgr */
    int proc_limit, dest_limit, rcpt_limit, initial, cohort_limit;
    int conns, connecting;
    long long dead_until;
    char *dead_reason;
    struct htab *dests;
    struct qmgr_dest *ring;
    size_t waiting;
    struct qmgr_agent *idle;
    unsigned long timer;
    int dispatch_wanted;
    struct qmgr_transport *next;
};

static struct qmgr_transport *transports;
static struct qmgr_agent *agents; /* every connection, for shutdown */
static int shutting_down;
static int draining; /* no new deliveries: qmgr is about to exit */
static struct mcf master_cf;
static unsigned long dispatch_timer;
static size_t attr_limit, request_limit;

static void dispatch(struct qmgr_transport *tr);
static void agent_close(struct qmgr_agent *ag);

void qmgr_sched_init(void)
{
    struct cfg_diag diag;
    char *path = xasprintf("%s/master.cf", cfg_confdir(cfg_main));

    cfg_diag_init(&diag);
    mcf_init(&master_cf);
    if (mcf_load(path, &master_cf, &diag) < 0)
        log_fatal("open %s: %s", path, strerror(errno));
    cfg_diag_free(&diag);
    free(path);
    attr_limit = (size_t)cfg_size(cfg_main, P_ipc_attr_size_limit);
    request_limit = (size_t)cfg_size(cfg_main, P_ipc_request_size_limit);
}

/* transport_int - <transport>_<suffix>, else the default parameter */
static int transport_int(const char *tr, const char *suffix, enum cfg_int_param fallback)
{
    char *name = xasprintf("%s_%s", tr, suffix);
    const char *raw = cfg_raw(cfg_main, name);
    struct str v = STR_INIT, err = STR_INIT;
    unsigned long long x;
    int r = (int)cfg_int(cfg_main, fallback);

    if (raw && cfg_find_param(name)) {
        r = (int)cfg_int_name(cfg_main, name);
    } else if (raw) {
        if (cfg_expand(cfg_main, raw, &v, &err) == 0 &&
            parse_ulong(trim(v.s ? v.s : (char *)""), 100000, &x) == 0 && x > 0)
            r = (int)x;
        else
            log_warn("%s = %s: not a positive number; using $%s", name, raw, cfg_name(fallback));
    }
    free(name);
    str_free(&v);
    str_free(&err);
    return r;
}

/* transport_get - the transport named name (created on first use) */
static struct qmgr_transport *transport_get(const char *name)
{
    struct qmgr_transport *tr;
    struct mcf_service *svc;

    for (tr = transports; tr; tr = tr->next)
        if (strcmp(tr->name, name) == 0)
            return tr;
    tr = xcalloc(1, sizeof(*tr));
    tr->name = xstrdup(name);
    svc = mcf_find(&master_cf, name, MCF_UNIX);
    tr->available = svc != NULL && svc->private_;
    tr->internal = !tr->available && (strcmp(name, "error") == 0 || strcmp(name, "discard") == 0);
    tr->proc_limit = svc == NULL         ? 0
                     : svc->maxproc < 0  ? (int)cfg_int(cfg_main, P_default_process_limit)
                     : svc->maxproc == 0 ? 1000
                                         : svc->maxproc;
    tr->dest_limit = transport_int(name, "destination_concurrency_limit",
                                   P_default_destination_concurrency_limit);
    tr->rcpt_limit =
        transport_int(name, "destination_recipient_limit", P_default_destination_recipient_limit);
    tr->initial = (int)cfg_int(cfg_main, P_initial_destination_concurrency);
    tr->cohort_limit = transport_int(name, "destination_concurrency_failed_cohort_limit",
                                     P_default_destination_concurrency_failed_cohort_limit);
    tr->dests = htab_create(64);
    tr->next = transports;
    transports = tr;
    return tr;
}

/* ring_add - put a destination with waiting entries into the round-robin ring */
static void ring_add(struct qmgr_dest *d)
{
    struct qmgr_transport *tr = d->tr;

    if (d->in_ring)
        return;
    d->in_ring = 1;
    if (tr->ring == NULL) {
        d->rnext = d->rprev = d;
        tr->ring = d;
    } else { /* just before the current position: served last in this round */
        d->rnext = tr->ring;
        d->rprev = tr->ring->rprev;
        d->rprev->rnext = d;
        tr->ring->rprev = d;
    }
}

/* ring_del - take a destination out of the ring */
static void ring_del(struct qmgr_dest *d)
{
    struct qmgr_transport *tr = d->tr;

    if (!d->in_ring)
        return;
    d->in_ring = 0;
    if (d->rnext == d) {
        tr->ring = NULL;
    } else {
        d->rprev->rnext = d->rnext;
        d->rnext->rprev = d->rprev;
        if (tr->ring == d)
            tr->ring = d->rnext;
    }
    d->rnext = d->rprev = NULL;
}

/* dest_maybe_free - forget an unused destination (its window starts over next time) */
static void dest_maybe_free(struct qmgr_dest *d)
{
    if (d->head || d->active || d->dead_until > evloop_now_ms())
        return;
    ring_del(d);
    htab_del(d->tr->dests, d->key);
    free(d->key);
    free(d->nexthop);
    free(d->dead_reason);
    free(d);
}

/* entry_free - release an entry (the message is not touched) */
static void entry_free(struct qmgr_entry *e)
{
    free(e->idx);
    free(e);
}

/* settle_entry - finish an entry: defer recipients without a result, update the message */
static void settle_entry(struct qmgr_entry *e, const unsigned char *got, const char *relay,
                         const char *reason)
{
    struct qmgr_msg *m = e->msg;

    for (size_t i = 0; i < e->n; i++)
        if (got == NULL || !got[i])
            qmgr_msg_defer(m, e->idx[i], relay, "4.3.0", reason);
    entry_free(e);
    qmgr_msg_entry_done(m);
}

/* dest_kill - mark a destination dead and defer everything waiting for it */
static void dest_kill(struct qmgr_dest *d, const char *reason)
{
    struct str why = STR_INIT;
    struct qmgr_entry *e;

    d->dead_until = evloop_now_ms() + cfg_time(cfg_main, P_transport_retry_time) * 1000;
    free(d->dead_reason);
    d->dead_reason = xstrdup(reason);
    log_warn("%s destination %s: marked dead for %llds: %s", d->tr->name, d->nexthop,
             cfg_time(cfg_main, P_transport_retry_time), reason);
    str_printf(&why, "delivery temporarily suspended: %s", reason);
    ring_del(d);
    while ((e = d->head) != NULL) {
        d->head = e->next;
        d->tr->waiting--;
        settle_entry(e, NULL, "none", why.s);
    }
    d->tail = NULL;
    str_free(&why);
}

/* transport_kill - a transport cannot be reached: defer all its waiting mail */
static void transport_kill(struct qmgr_transport *tr, const char *reason)
{
    struct htab_iter it;
    const char *key;
    void *v;
    struct str why = STR_INIT;

    tr->dead_until = evloop_now_ms() + cfg_time(cfg_main, P_transport_retry_time) * 1000;
    free(tr->dead_reason);
    tr->dead_reason = xstrdup(reason);
    log_warn("transport %s: %s; deferring its mail for %llds", tr->name, reason,
             cfg_time(cfg_main, P_transport_retry_time));
    str_printf(&why, "delivery temporarily suspended: %s", reason);
    /* collect first: settling may free destinations */
    struct qmgr_entry *all = NULL, **tail = &all;
    htab_iter_init(&it);
    while (htab_next(tr->dests, &it, &key, &v)) {
        struct qmgr_dest *d = v;
        if (d->head) {
            *tail = d->head;
            tail = &d->tail->next;
            d->head = d->tail = NULL;
        }
    }
    while (tr->ring)
        ring_del(tr->ring);
    tr->waiting = 0;
    while (all) {
        struct qmgr_entry *e = all;
        all = e->next;
        struct qmgr_dest *d = e->dest;
        settle_entry(e, NULL, "none", why.s);
        dest_maybe_free(d);
    }
    str_free(&why);
}

/* on_dispatch - deferred dispatch of every transport that asked for it */
static void on_dispatch(void *ctx)
{
    (void)ctx;
    dispatch_timer = 0;
    for (struct qmgr_transport *tr = transports; tr; tr = tr->next)
        if (tr->dispatch_wanted) {
            tr->dispatch_wanted = 0;
            dispatch(tr);
        }
}

/* want_dispatch - run dispatch for tr from the event loop soon */
static void want_dispatch(struct qmgr_transport *tr)
{
    tr->dispatch_wanted = 1;
    if (dispatch_timer == 0)
        dispatch_timer = evloop_timer(qmgr_ev, 0, on_dispatch, NULL);
}

void qmgr_sched_add(struct qmgr_msg *m, const struct resolve_route *rt, size_t ri)
{
    struct qmgr_transport *tr = transport_get(rt->transport.s);
    struct qmgr_dest *d;
    struct qmgr_entry *e;
    struct str key = STR_INIT, why = STR_INIT;
    long long now = evloop_now_ms();

    if (tr->internal && strcmp(tr->name, "error") == 0) {
        /* "error:5.7.1 text" carries its own status code, as in Postfix */
        const char *text = rt->nexthop.len ? rt->nexthop.s : "mail is rejected";
        const char *sp = strchr(text, ' ');
        char code[16] = "5.0.0";
        if (sp && (size_t)(sp - text) < sizeof(code)) {
            memcpy(code, text, (size_t)(sp - text));
            code[sp - text] = '\0';
            if (deliver_dsn_valid(code, DELIVER_BOUNCED))
                text = sp + 1;
            else
                snprintf(code, sizeof(code), "5.0.0");
        }
        qmgr_msg_bounce(m, ri, code, text, "bounced");
        return;
    }
    if (tr->internal) {
        qmgr_msg_bounce(m, ri, "2.0.0", "discarded", "sent");
        return;
    }
    if (!tr->available) {
        str_printf(&why,
                   "mail transport unavailable: no private unix service \"%s\" in "
                   "master.cf",
                   tr->name);
        qmgr_msg_defer(m, ri, "none", "4.3.5", why.s);
        str_free(&why);
        return;
    }
    if (tr->dead_until > now) {
        str_printf(&why, "delivery temporarily suspended: %s", tr->dead_reason);
        qmgr_msg_defer(m, ri, "none", "4.4.1", why.s);
        str_free(&why);
        return;
    }
    str_cpy(&key, tr->rcpt_limit == 1 ? rt->addr.s : rt->nexthop.s);
    str_lower(&key);
    d = htab_get(tr->dests, key.s);
    if (d && d->dead_until && d->dead_until <= now) {
        d->dead_until = 0; /* its retry time is over: try again, carefully */
        d->window = 1;
        d->failed = 0;
    }
    if (d && d->dead_until > now) {
        str_printf(&why, "delivery temporarily suspended: %s", d->dead_reason);
        qmgr_msg_defer(m, ri, "none", "4.4.1", why.s);
        str_free(&why);
        str_free(&key);
        return;
    }
    if (d == NULL) {
        d = xcalloc(1, sizeof(*d));
        d->key = xstrdup(key.s);
        d->nexthop = xstrdup(rt->nexthop.s);
        d->tr = tr;
        d->window = tr->initial < tr->dest_limit ? tr->initial : tr->dest_limit;
        htab_put(tr->dests, d->key, d);
    }
    str_free(&key);
    e = d->tail;
    if (e == NULL || e->msg != m || e->n >= (size_t)tr->rcpt_limit) {
        e = xcalloc(1, sizeof(*e));
        e->msg = m;
        e->dest = d;
        if (d->tail)
            d->tail->next = e;
        else
            d->head = e;
        d->tail = e;
        m->pending++;
        tr->waiting++;
    }
    e->idx = xreallocarray(e->idx, e->n + 1, sizeof(*e->idx));
    e->idx[e->n++] = ri;
    ring_add(d);
    want_dispatch(tr);
}

/* next_dest - the next destination (round-robin) that may take another delivery */
static struct qmgr_dest *next_dest(struct qmgr_transport *tr)
{
    struct qmgr_dest *d = tr->ring, *start = d;

    if (d == NULL)
        return NULL;
    do {
        if (d->head && d->active < (int)d->window) {
            tr->ring = d->rnext;
            return d;
        }
        d = d->rnext;
    } while (d != start);
    return NULL;
}

/* ready_count - how many deliveries could start now (at most cap) */
static int ready_count(struct qmgr_transport *tr, int cap)
{
    struct qmgr_dest *d = tr->ring, *start = d;
    int n = 0;

    if (d == NULL)
        return 0;
    do {
        if (d->head) {
            int room = (int)d->window - d->active;
            int have = 0;
            for (struct qmgr_entry *e = d->head; e && have < room; e = e->next)
                have++;
            n += have;
        }
        d = d->rnext;
    } while (d != start && n < cap);
    return n < cap ? n : cap;
}

/* agent_timeout - no greeting, or no result in time */
static void agent_timeout(void *ctx)
{
    struct qmgr_agent *ag = ctx;
    struct qmgr_transport *tr = ag->tr;

    ag->timer = 0;
    if (ag->state == AG_GREETING) {
        log_warn("transport %s: no greeting from the delivery agent within %llds", tr->name,
                 cfg_time(cfg_main, P_qmgr_ipc_timeout));
        agent_close(ag);
        transport_kill(tr, "delivery agent is not responding");
        return;
    }
    if (ag->state == AG_BUSY)
        log_warn("transport %s: delivery agent timed out after %llds", tr->name,
                 cfg_time(cfg_main, P_ipc_timeout));
    agent_close(ag);
    want_dispatch(tr);
}

/* idle_remove - take ag out of its transport's idle list */
static void idle_remove(struct qmgr_agent *ag)
{
    for (struct qmgr_agent **pp = &ag->tr->idle; *pp; pp = &(*pp)->next)
        if (*pp == ag) {
            *pp = ag->next;
            break;
        }
    ag->next = NULL;
}

/* agent_close - drop a connection; a busy one's unreported recipients are deferred */
static void agent_close(struct qmgr_agent *ag)
{
    struct qmgr_transport *tr = ag->tr;
    struct qmgr_entry *e = ag->entry;

    evloop_unwatch(qmgr_ev, ag->fd);
    evloop_cancel(qmgr_ev, ag->timer);
    close(ag->fd);
    if (ag->state == AG_IDLE)
        idle_remove(ag);
    if (ag->state == AG_GREETING)
        tr->connecting--;
    tr->conns--;
    if (ag->aprev)
        ag->aprev->anext = ag->anext;
    else
        agents = ag->anext;
    if (ag->anext)
        ag->anext->aprev = ag->aprev;
    if (e && shutting_down) {
        entry_free(e);
    } else if (e) {
        struct qmgr_dest *d = e->dest;
        struct str why = STR_INIT;
        str_printf(&why, "lost connection with the %s delivery agent", tr->name);
        d->active--;
        d->window = d->window - 1 / d->window < 1 ? 1 : d->window - 1 / d->window;
        settle_entry(e, ag->got, "none", why.s);
        str_free(&why);
        dest_maybe_free(d);
    }
    str_free(&ag->in);
    str_free(&ag->out);
    attr_free(&ag->msg);
    free(ag->got);
    free(ag);
}

/* agent_idle - ready for the next request */
static void agent_idle(struct qmgr_agent *ag)
{
    evloop_cancel(qmgr_ev, ag->timer);
    ag->state = AG_IDLE;
    ag->next = ag->tr->idle;
    ag->tr->idle = ag;
    ag->timer = evloop_timer(qmgr_ev, AGENT_IDLE_MS, agent_timeout, ag);
}

/* feedback - destination concurrency after a finished delivery */
static void feedback(struct qmgr_dest *d, int failed, const char *reason)
{
    struct qmgr_transport *tr = d->tr;

    if (!failed) {
        d->failed = 0;
        d->window += 1 / d->window;
        if (d->window > tr->dest_limit)
            d->window = tr->dest_limit;
        return;
    }
    d->failed += 1 / d->window;
    d->window -= 1 / d->window;
    if (d->window < 1)
        d->window = 1;
    if (d->failed >= tr->cohort_limit - 1e-9)
        dest_kill(d, reason);
}

/* entry_finished - the agent said done */
static void entry_finished(struct qmgr_agent *ag, int dest_failed)
{
    struct qmgr_entry *e = ag->entry;
    struct qmgr_dest *d = e->dest;
    const char *reason = NULL;
    struct str why = STR_INIT;

    ag->entry = NULL;
    d->active--;
    if (dest_failed) {
        /* the reason of the first deferred recipient describes the destination */
        for (size_t i = 0; i < e->n && reason == NULL; i++)
            if (e->msg->rcpts[e->idx[i]].state == QR_DEFER)
                reason = e->msg->rcpts[e->idx[i]].reason;
        str_cpy(&why, reason ? reason : "destination is not responding");
    }
    settle_entry(e, ag->got, "none", "delivery agent did not report this recipient");
    free(ag->got);
    ag->got = NULL;
    feedback(d, dest_failed, why.s ? why.s : "");
    dest_maybe_free(d);
    str_free(&why);
}

/* agent_message - one complete message from the agent; 0 go on, 1 the agent is done and
 * leaves (last=1), -1 a protocol error */
static int agent_message(struct qmgr_agent *ag)
{
    struct str err = STR_INIT;
    struct deliver_result r;
    int dest_failed = 0, last = 0, rc;

    if (ag->state == AG_GREETING) {
        if (deliver_hello_check(&ag->msg, &err) < 0) {
            log_warn("transport %s: %s", ag->tr->name, str_c(&err));
            str_free(&err);
            return -1;
        }
        ag->tr->connecting--;
        agent_idle(ag);
        return 0;
    }
    if (ag->state != AG_BUSY) {
        log_warn("transport %s: unexpected message from an idle delivery agent", ag->tr->name);
        return -1;
    }
    rc = deliver_reply_parse(&ag->msg, ag->entry->n, &r, &dest_failed, &last, &err);
    if (rc < 0) {
        log_warn("%s: transport %s: bad reply from the delivery agent: %s", ag->entry->msg->id,
                 ag->tr->name, str_c(&err));
        str_free(&err);
        return -1;
    }
    str_free(&err);
    if (rc == 0) {
        entry_finished(ag, dest_failed);
        if (last) /* never hand it another request: it is closing the connection */
            return 1;
        agent_idle(ag);
        return 0;
    }
    if (r.target) {
        qmgr_msg_extra(ag->entry->msg, ag->entry->idx[r.rcpt], &r);
        return 0;
    }
    if (ag->got[r.rcpt]) {
        log_warn("%s: transport %s: second result for recipient %zu ignored", ag->entry->msg->id,
                 ag->tr->name, r.rcpt);
        return 0;
    }
    ag->got[r.rcpt] = 1;
    qmgr_msg_result(ag->entry->msg, ag->entry->idx[r.rcpt], &r);
    return 0;
}

/* agent_input - parse complete lines of the input buffer; as agent_message */
static int agent_input(struct qmgr_agent *ag)
{
    size_t pos = 0;
    int rc = 0;

    while (rc == 0 && pos < ag->in.len) {
        char *nl = memchr(ag->in.s + pos, '\n', ag->in.len - pos);
        if (nl == NULL)
            break;
        size_t len = (size_t)(nl - (ag->in.s + pos));
        if (len == 0) {
            if (ag->msg.n > 0)
                rc = agent_message(ag);
            attr_reset(&ag->msg);
            ag->msg_bytes = 0;
        } else {
            ag->msg_bytes += len;
            if (len > attr_limit * 3 + 256 || ag->msg_bytes > request_limit ||
                attr_decode_line(&ag->msg, ag->in.s + pos, len) < 0) {
                log_warn("transport %s: malformed or oversized reply", ag->tr->name);
                rc = -1;
            }
        }
        pos += len + 1;
    }
    if (pos > 0) {
        memmove(ag->in.s, ag->in.s + pos, ag->in.len - pos);
        str_truncate(&ag->in, ag->in.len - pos);
    }
    if (ag->in.len > attr_limit * 3 + 256) {
        log_warn("transport %s: overlong reply line", ag->tr->name);
        rc = -1;
    }
    return rc;
}

static void agent_event(int fd, int events, void *ctx);

/* agent_flush - write what is pending; 0 done or waiting, -1 broken */
static int agent_flush(struct qmgr_agent *ag)
{
    while (ag->out_off < ag->out.len) {
        ssize_t n = write(ag->fd, ag->out.s + ag->out_off, ag->out.len - ag->out_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            evloop_watch(qmgr_ev, ag->fd, EV_READ | EV_WRITE, agent_event, ag);
            return 0;
        }
        if (n < 0)
            return -1;
        ag->out_off += (size_t)n;
    }
    str_reset(&ag->out);
    ag->out_off = 0;
    evloop_watch(qmgr_ev, ag->fd, EV_READ, agent_event, ag);
    return 0;
}

/* agent_event - the connection is readable or writable */
static void agent_event(int fd, int events, void *ctx)
{
    struct qmgr_agent *ag = ctx;
    struct qmgr_transport *tr = ag->tr;
    char buf[16384];

    if (events & EV_WRITE) {
        if (agent_flush(ag) < 0) {
            agent_close(ag);
            want_dispatch(tr);
            return;
        }
    }
    if (!(events & EV_READ))
        return;
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        if (ag->state == AG_BUSY)
            log_warn("%s: transport %s: delivery agent went away (%s)", ag->entry->msg->id,
                     tr->name, n < 0 ? strerror(errno) : "connection closed");
        else if (ag->state == AG_GREETING)
            log_warn("transport %s: delivery agent closed before greeting", tr->name);
        agent_close(ag);
        want_dispatch(tr);
        return;
    }
    str_catn(&ag->in, buf, (size_t)n);
    int was = ag->state;
    if (agent_input(ag) != 0) {
        agent_close(ag);
        want_dispatch(tr);
        return;
    }
    if (ag->state == AG_IDLE && was != AG_IDLE) {
        evloop_watch(qmgr_ev, ag->fd, EV_READ, agent_event, ag);
        want_dispatch(tr);
    }
}

/* agent_connect - open one more connection to the transport: 0 started, 1 try again
 * later (the listen queue is full), -1 the transport is unavailable */
static int agent_connect(struct qmgr_transport *tr)
{
    struct sockaddr_un sun;
    struct qmgr_agent *ag;
    int fd;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "private/%s", tr->name) >=
        sizeof(sun.sun_path)) {
        transport_kill(tr, "transport name too long");
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_warn("socket: %s", strerror(errno));
        return 1;
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        if (e == EAGAIN) /* listen queue full: the agents are busy */
            return 1;
        struct str why = STR_INIT;
        str_printf(&why, "mail transport unavailable: connect to private/%s: %s", tr->name,
                   strerror(e));
        transport_kill(tr, why.s);
        str_free(&why);
        return -1;
    }
    ag = xcalloc(1, sizeof(*ag));
    ag->tr = tr;
    ag->fd = fd;
    ag->state = AG_GREETING;
    tr->conns++;
    tr->connecting++;
    ag->anext = agents;
    if (agents)
        agents->aprev = ag;
    agents = ag;
    ag->timer =
        evloop_timer(qmgr_ev, cfg_time(cfg_main, P_qmgr_ipc_timeout) * 1000, agent_timeout, ag);
    evloop_watch(qmgr_ev, fd, EV_READ, agent_event, ag);
    return 0;
}

/* agent_send - hand an entry to an idle agent */
static void agent_send(struct qmgr_agent *ag, struct qmgr_entry *e)
{
    struct deliver_request req;

    evloop_cancel(qmgr_ev, ag->timer);
    ag->state = AG_BUSY;
    ag->entry = e;
    ag->got = xcalloc(e->n, 1);
    deliver_request_init(&req);
    qmgr_msg_request(e, &req);
    req.transport = xstrdup(ag->tr->name);
    req.nexthop = xstrdup(e->dest->nexthop);
    str_reset(&ag->out);
    ag->out_off = 0;
    deliver_request_encode(&req, &ag->out);
    deliver_request_free(&req);
    ag->timer = evloop_timer(qmgr_ev, cfg_time(cfg_main, P_ipc_timeout) * 1000, agent_timeout, ag);
    if (agent_flush(ag) < 0) {
        struct qmgr_transport *tr = ag->tr;
        agent_close(ag);
        want_dispatch(tr);
    }
}

/* on_retry - a delayed dispatch (after a full listen queue or a dead time) */
static void on_retry(void *ctx)
{
    struct qmgr_transport *tr = ctx;

    tr->timer = 0;
    dispatch(tr);
}

/* dispatch - give waiting entries to idle agents, round-robin over destinations, and
 * open connections for the rest within the process limit */
static void dispatch(struct qmgr_transport *tr)
{
    long long now = evloop_now_ms();

    if (tr->dead_until > now || draining)
        return;
    while (tr->waiting > 0) {
        struct qmgr_agent *ag = tr->idle;
        struct qmgr_dest *d;
        struct qmgr_entry *e;

        if (ag == NULL) {
            int room = tr->proc_limit - tr->conns;
            int want = ready_count(tr, room > 0 ? room : 0) - tr->connecting;
            while (want-- > 0) {
                int r = agent_connect(tr);
                if (r < 0)
                    return;
                if (r > 0) {
                    if (tr->timer == 0)
                        tr->timer = evloop_timer(qmgr_ev, CONNECT_RETRY_MS, on_retry, tr);
                    break;
                }
            }
            return;
        }
        if ((d = next_dest(tr)) == NULL)
            return;
        tr->idle = ag->next;
        ag->next = NULL;
        e = d->head;
        d->head = e->next;
        if (d->head == NULL) {
            d->tail = NULL;
            ring_del(d);
        }
        e->next = NULL;
        tr->waiting--;
        d->active++;
        agent_send(ag, e);
    }
}

int qmgr_sched_drain(void)
{
    int busy = 0;

    draining = 1;
    for (struct qmgr_agent *ag = agents; ag; ag = ag->anext)
        busy += ag->state == AG_BUSY;
    return busy;
}

void qmgr_sched_revive(void)
{
    for (struct qmgr_transport *tr = transports; tr; tr = tr->next) {
        struct htab_iter it;
        const char *key;
        void *v;
        tr->dead_until = 0;
        htab_iter_init(&it);
        while (htab_next(tr->dests, &it, &key, &v)) {
            struct qmgr_dest *d = v;
            if (d->dead_until) {
                d->dead_until = 1; /* expired: revived on the next add */
            }
        }
    }
}

void qmgr_sched_cancel(void)
{
    struct qmgr_entry *all = NULL, **tail = &all;
    struct qmgr_dest **touched = NULL;
    size_t ntouched = 0;

    /* collect first: settling may finish messages */
    for (struct qmgr_transport *tr = transports; tr; tr = tr->next) {
        struct htab_iter it;
        const char *key;
        void *v;
        htab_iter_init(&it);
        while (htab_next(tr->dests, &it, &key, &v)) {
            struct qmgr_dest *d = v;
            struct qmgr_entry **pp = &d->head, *prev = NULL;
            int hit = 0;
            while (*pp) {
                struct qmgr_entry *e = *pp;
                if (e->msg->admin == QA_NONE) {
                    prev = e;
                    pp = &e->next;
                    continue;
                }
                *pp = e->next;
                e->next = NULL;
                *tail = e;
                tail = &e->next;
                tr->waiting--;
                hit = 1;
            }
            d->tail = prev;
            if (hit) {
                if (d->head == NULL)
                    ring_del(d);
                touched = xreallocarray(touched, ntouched + 1, sizeof(*touched));
                touched[ntouched++] = d;
            }
        }
    }
    while (all) {
        struct qmgr_entry *e = all;
        struct qmgr_msg *m = e->msg;
        all = e->next;
        entry_free(e);
        qmgr_msg_entry_done(m);
    }
    for (size_t i = 0; i < ntouched; i++)
        dest_maybe_free(touched[i]);
    free(touched);
}

void qmgr_sched_free(void)
{
    struct qmgr_transport *tr;

    shutting_down = 1;
    while (agents)
        agent_close(agents);
    while ((tr = transports) != NULL) {
        struct htab_iter it;
        const char *key;
        void *v;
        transports = tr->next;
        htab_iter_init(&it);
        while (htab_next(tr->dests, &it, &key, &v)) {
            struct qmgr_dest *d = v;
            while (d->head) {
                struct qmgr_entry *e = d->head;
                d->head = e->next;
                entry_free(e);
            }
            free(d->key);
            free(d->nexthop);
            free(d->dead_reason);
            free(d);
        }
        htab_free(tr->dests, NULL);
        evloop_cancel(qmgr_ev, tr->timer);
        free(tr->name);
        free(tr->dead_reason);
        free(tr);
    }
    if (dispatch_timer)
        evloop_cancel(qmgr_ev, dispatch_timer);
    dispatch_timer = 0;
    mcf_free(&master_cf);
}
