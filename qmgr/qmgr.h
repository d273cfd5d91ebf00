/*
 * qmgr.h - the queue manager's shared declarations
 *
 * Rooms: qmgr.c (start-up, triggers, queue scans), qmgr_message.c (one
 * active message: activation, expansion, results, completion),
 * qmgr_sched.c
 * (transports, destinations, delivery agents), qmgr_dsn.c (notifications),
 * qmgr_showq.c (the queue listing service), qmgr_admin.c (the administrator's
 * requests for active messages).
 */
#ifndef PETREL_QMGR_H
#define PETREL_QMGR_H

#include <stddef.h>

#include "deliver.h"
#include "dsnlog.h"
#include "evloop.h"
#include "qadmin.h"
#include "qfile.h"
#include "resolve.h"
#include "str.h"

/* where an activated file came from */
#define QM_FROM_INCOMING 0
#define QM_FROM_DEFERRED 1
#define QM_FROM_ACTIVE 2 /* recovery after a restart */

/* the administrator's requests (qmgr_admin.c, lib/global/qadmin.h) */
#define QA_NONE 0
#define QA_REQUEUE QADMIN_REQUEUE
#define QA_HOLD QADMIN_HOLD
#define QA_DELETE QADMIN_DELETE

/* recipient states within one pass */
#define QR_WAIT 0  /* not settled yet */
#define QR_DONE 1  /* sent or bounced: marked done in the file */
#define QR_DEFER 2 /* deferred in this pass */

struct qmgr_msg;
struct qmgr_dest;

struct qmgr_rcpt {
    char *addr;   /* resolved address to deliver to */
    size_t rec;   /* index into msg->env.rcpts */
    int state;    /* QR_ */
    char *reason; /* last deferral reason in this pass */
    char dsn[16]; /* and its status code */
};

struct qmgr_msg {
    char id[QFILE_ID_MAX];
    char *path; /* active/ID */
    int fd;     /* open only during activation (-1 otherwise) */
    struct qfile_env env;
    struct qmgr_rcpt *rcpts;
    size_t nrcpts;
    size_t pending;    /* entries waiting or in flight */
    size_t ndeferred;  /* recipients deferred in this pass */
    int bounce_log;    /* bounce/ID has entries to report */
    int bounce_failed; /* bounce/ID could not be written: keep the file */
    int agent_marked;  /* an agent marked a recipient itself: it may have written bounce/ID */
    long long active_us;
    int from;  /* QM_FROM_ */
    int admin; /* QA_: a request of the administrator waiting for the end of the pass */
    struct qmgr_msg *prev, *next;
};

/* one delivery request's worth of recipients of one message for one destination */
struct qmgr_entry {
    struct qmgr_msg *msg;
    struct qmgr_dest *dest;
    size_t *idx; /* indices into msg->rcpts */
    size_t n;
    struct qmgr_entry *next;
};

/* qmgr.c */
extern struct evloop *qmgr_ev;
extern size_t qmgr_active_count, qmgr_active_rcpts;
/* qmgr_kick_incoming - scan incoming/ soon (new DSNs are there) */
void qmgr_kick_incoming(void);
/* qmgr_message_gone - a message left the active queue: maybe take more */
void qmgr_message_gone(void);

/* qmgr_message.c */
/* qmgr_activate - take the file at path (incoming/ID, deferred/H/ID, active/ID) into the
 * active queue: 1 taken, 0 not ready (incomplete, or locked by a delivery agent still at
 * work on it: lib/global/deliver.h), -1 failed (left in place) */
int qmgr_activate(const char *path, const char *id, int from);
/* qmgr_msg_open - a new descriptor for the message's file (the caller closes it) */
int qmgr_msg_open(struct qmgr_msg *m, int flags);
/* qmgr_msg_result - a final result for msg->rcpts[i] from an agent */
void qmgr_msg_result(struct qmgr_msg *m, size_t i, const struct deliver_result *r);
/* qmgr_msg_extra - an extra DSN entry (expansion member) for msg->rcpts[i] */
void qmgr_msg_extra(struct qmgr_msg *m, size_t i, const struct deliver_result *r);
/* qmgr_msg_defer - defer msg->rcpts[i] without an agent (qmgr logs the status line) */
void qmgr_msg_defer(struct qmgr_msg *m, size_t i, const char *relay, const char *dsn,
                    const char *reason);
/* qmgr_msg_bounce - bounce msg->rcpts[i] without an agent */
void qmgr_msg_bounce(struct qmgr_msg *m, size_t i, const char *dsn, const char *reason,
                     const char *status_word);
/* qmgr_msg_entry_done - one entry of m finished (all its recipients settled) */
void qmgr_msg_entry_done(struct qmgr_msg *m);
/* qmgr_msg_request - fill a delivery request for an entry */
void qmgr_msg_request(const struct qmgr_entry *e, struct deliver_request *req);
/* qmgr_msg_shutdown - release every active message (exit) */
void qmgr_msg_shutdown(void);
/* qmgr_msg_first - the first message of the active queue (then follow ->next) */
struct qmgr_msg *qmgr_msg_first(void);

/* qmgr_sched.c */
/* qmgr_sched_init - read master.cf for the transports and their process limits */
void qmgr_sched_init(void);
void qmgr_sched_free(void);
/* qmgr_sched_add - queue recipient m->rcpts[rcpt_idx] for rt's transport and next hop
 * (or settle it at once: unavailable transport, dead destination, error/discard) */
void qmgr_sched_add(struct qmgr_msg *m, const struct resolve_route *rt, size_t rcpt_idx);
/* qmgr_sched_drain - start no more deliveries; how many are still in progress */
int qmgr_sched_drain(void);
/* qmgr_sched_revive - forget dead transports and destinations (flush) */
void qmgr_sched_revive(void);
/* qmgr_sched_cancel - take the waiting entries of messages with an administrator's request
 * off their destinations (their recipients stay undone); may finish such messages */
void qmgr_sched_cancel(void);

/* qmgr_dsn.c */
/* qmgr_dsn_flush - send the notifications that bounce/ID calls for: 0 done (bounce log
 * removed), -1 failed (keep the message and the log) */
int qmgr_dsn_flush(struct qmgr_msg *m);
/* qmgr_dsn_delay - send a delay notification for the recipients deferred in this pass */
int qmgr_dsn_delay(struct qmgr_msg *m);
/* qmgr_rfc822_date - an RFC 5322 date of t into out */
void qmgr_rfc822_date(long long t, struct str *out);

/* qmgr_admin.c */
/* qmgr_admin_init - take private/qmgr.lock, serve private/qadmin from the event loop */
void qmgr_admin_init(struct evloop *ev);
void qmgr_admin_free(void);
/* qmgr_admin_finish - the pass of a message with a request (m->admin) is over: apply it;
 * 1 when that took care of the file, 0 when the usual end (remove or defer) applies */
int qmgr_admin_finish(struct qmgr_msg *m, int all_done);

/* qmgr_showq.c */
/* qmgr_showq_init - serve public/showq from the event loop on fd (master's listener), or
 * on a socket of its own when fd is -1 */
void qmgr_showq_init(struct evloop *ev, int fd);
void qmgr_showq_free(void);

#endif
