/*
 * deliver.h - the delivery protocol between qmgr and delivery agents
 *
 * qmgr hands recipients to a delivery agent (local, virtual, smtp, ...)
 * over a UNIX stream socket private/<transport> served by master; every
 * message is an attr.h message (name=value lines, empty line). Bodies
 * never pass through qmgr: the agent reads the content from the queue
 * file itself (lib/global/qfile.h, from the envelope's content offset on).
 *
 * One connection, one agent process, any number of requests in turn:
 *
 *   agent -> qmgr  greeting   status=ready, protocol=petrel-deliver-1
 *   qmgr -> agent  request    request=deliver and the fields below; each
 *                             rcpt= starts a recipient and the recipient
 *                             attributes after it (up to the next rcpt=)
 *                             belong to it
 *   agent -> qmgr  results    one message per recipient, in any order, as
 *                             soon as its fate is known: rcpt=<index>,
 *                             status=sent|deferred|bounced, dsn=X.Y.Z, ...
 *   agent -> qmgr  done       status=done, dest=ok|fail; the agent is ready
 *                             for the next request on the same connection,
 *                             unless last=1: it closes the connection now
 *                             (its max_use), so qmgr must send nothing more
 *
 * Request fields: queue_id, queue_file ("active/ID", relative to
 * queue_directory; agents accept nothing else), transport, nexthop, sender
 * ("" = the null sender), envid and ret (RFC 3461, "" when absent),
 * arrival, active and sent (microseconds since the epoch: message arrival,
 * entry into active/, this request), size (content bytes) and, per
 * recipient: rcpt (the address to deliver to, after rewriting), orig_rcpt
 * (the address as received when it differs), orcpt (RFC 3461 ORCPT
 * "type;address"), notify (QNOTIFY_ bits of qfile.h), offset (of the
 * recipient record in the queue file; qmgr's handle, agents just echo it
 * in logs).
 *
 * Result fields: rcpt (index into the request's recipients), status, dsn
 * (RFC 3463 enhanced status code: 2.x.x for sent, 4.x.x for deferred,
 * 5.x.x for bounced), reason (text for logs and DSNs), and optionally
 * action ("delivered", "relayed", "expanded": RFC 3464 2.3.3 Action for a
 * sent recipient), relay (what to log as relay=, e.g. "local" or
 * "mx.example.com[192.0.2.1]:25"), diag (RFC 3464 Diagnostic-Code, e.g.
 * "smtp; 550 5.1.1 unknown"), remote_mta (RFC 3464 Remote-MTA, e.g.
 * "dns; mx.example.com"), dsn_passed=1 (sent only: the next hop accepted the
 * recipient's DSN request, RFC 3461 4.2, so it sends any success notice and qmgr
 * sends none), marked=1 (sent only: the agent itself made the delivery final in the
 * queue file, see below). A result with target=<text> is an extra DSN
 * entry (only with status=bounced): one member of an expansion of the
 * recipient (alias, .forward) failed; dsn_to names where that DSN goes
 * (an owner- alias) instead of the sender. Extra entries never settle the
 * recipient: every recipient needs exactly one result without target.
 *
 * Rules: the agent logs each final status itself in the Postfix form
 * (deliver_log), because it knows relay and timings; qmgr logs only what
 * it decides without an agent. A recipient for which no result arrived
 * before done, or before the connection broke, is deferred by qmgr
 * ("better twice than lost"): agents report a recipient only once its
 * delivery is durable. dest=fail says the next hop itself is failing
 * (connection refused, ...): qmgr then backs off the whole destination.
 * Per-recipient trouble (mailbox full) is dest=ok.
 *
 * Marking (ARCHITECTURE.md 2, as Postfix's agents do): right after the mailbox fsync or
 * the remote 250 and before it replies, an agent marks a delivered recipient done in the
 * queue file itself (deliver_mark_sent: first the entries that bounce/ID needs for it -
 * the success notice of NOTIFY=SUCCESS, the failed members of an expansion - fsync'ed,
 * then the one-byte rewrite of the recipient record) and says marked=1; it then sends no
 * extra entries for that recipient. A qmgr that dies before it reads the result can then
 * not deliver the recipient again: the only window left is the one between the delivery
 * and the mark (RFC 1047). An agent that cannot mark reports as before and qmgr records
 * the result. Deferred and bounced recipients are always recorded by qmgr. While it works
 * on a request the agent holds a shared lock (flock) on the queue file
 * (deliver_queue_open), and qmgr does not take up a file that is locked, so that a
 * restarted qmgr never hands a recipient to a second agent while the first, whose qmgr
 * died, is still delivering it; a recipient whose record is already done when the request
 * arrives is reported sent and marked without a delivery.
 *
 * Timeouts: the agent sends its greeting at once; qmgr waits for it at
 * most $qmgr_ipc_timeout and for a request's results at most
 * $ipc_timeout; an idle agent waits for the next request at most
 * $max_idle. Every message is read with the $ipc_attr_size_limit and
 * $ipc_request_size_limit bounds; both sides treat the other as untrusted.
 */
#ifndef PETREL_DELIVER_H
#define PETREL_DELIVER_H

#include <stddef.h>

#include "attr.h"
#include "qfile.h"
#include "str.h"
#include "stream.h"

#define DELIVER_PROTOCOL "petrel-deliver-1"

#define DELIVER_SENT 0
#define DELIVER_DEFERRED 1
#define DELIVER_BOUNCED 2

#define DELIVER_RCPT_MAX 100000 /* recipients in one request */

struct deliver_rcpt {
    char *addr;       /* address to deliver to */
    char *orig;       /* address as received ("" = same as addr) */
    char *orcpt;      /* RFC 3461 ORCPT, "type;address" ("" = none) */
    int notify;       /* QNOTIFY_ bits, 0 = default */
    long long offset; /* of the recipient record in the queue file */
};

struct deliver_request {
    char *queue_id;
    char *queue_file; /* "active/ID" */
    char *transport;
    char *nexthop;
    char *sender; /* "" = null sender */
    char *envid;  /* "" = none */
    char *ret;    /* "FULL", "HDRS" or "" */
    long long arrival_us, active_us, sent_us;
    long long recv_us; /* agent side: when the request was read */
    unsigned long long size;
    struct deliver_rcpt *rcpts;
    size_t nrcpts;
};

struct deliver_result {
    size_t rcpt;
    int status;             /* DELIVER_ */
    const char *dsn;        /* "2.0.0" */
    const char *reason;     /* human-readable text */
    const char *action;     /* NULL: by status */
    const char *relay;      /* NULL: none */
    const char *diag;       /* NULL: none */
    const char *remote_mta; /* NULL: none */
    const char *target;     /* NULL, or an extra DSN entry for this expansion member */
    const char *dsn_to;     /* NULL: the sender */
    int dsn_passed;         /* sent to a DSN-capable next hop: no success notice here */
    int marked;             /* sent: the agent marked the record done (deliver_mark_sent) */
};

/* deliver_request_init - empty request */
void deliver_request_init(struct deliver_request *req);
void deliver_request_free(struct deliver_request *req);
/* deliver_rcpt_add - append a recipient (strings copied; NULL = "") */
void deliver_rcpt_add(struct deliver_request *req, const char *addr, const char *orig,
                      const char *orcpt, int notify, long long offset);
/* deliver_request_encode - the wire form of a request, appended to out */
void deliver_request_encode(const struct deliver_request *req, struct str *out);
/* deliver_request_decode - fill req from a received message; -1 with err when malformed */
int deliver_request_decode(const struct attr_list *l, struct deliver_request *req, struct str *err);

/* agent side ------------------------------------------------------------ */

/* deliver_agent_hello - send the greeting */
int deliver_agent_hello(struct stream *s);
/* deliver_request_read - wait for the next request (at most idle seconds for its
 * first byte): STREAM_OK, STREAM_EOF (qmgr closed), STREAM_TIMEOUT, or an error with
 * err set. req is replaced. */
int deliver_request_read(struct stream *s, int idle, struct deliver_request *req, struct str *err);
/* deliver_result_send - send one result */
int deliver_result_send(struct stream *s, const struct deliver_result *r);
/* deliver_done - end of the results of one request; last: the agent closes the
 * connection after it (qmgr sends no further request) */
int deliver_done(struct stream *s, int dest_failed, int last);
/* deliver_log - the status line of one recipient, Postfix style:
 * "ID: to=<to>, orig_to=<orig>, relay=R, delay=D, delays=a/b/c/d, dsn=X, status=S (reason)".
 * conn_us is the connection set-up part (c) of the delivery; status is the word
 * after status= ("sent", "deferred", "bounced", "expired, returned to sender"). */
void deliver_log(const struct deliver_request *req, const char *to, const char *orig,
                 const char *relay, long long conn_us, const char *dsn, const char *status,
                 const char *reason);
/* deliver_report - log and send the final result of one recipient */
int deliver_report(struct stream *s, const struct deliver_request *req,
                   const struct deliver_result *r);

/* deliver_queue_open - active/ID (the request's queue_file, already checked to be that),
 * opened relative to active/ without following a symlink, read-write for
 * deliver_mark_sent, a regular file with one link, share-locked for the length of the
 * request (closing it releases the lock); -1 with err */
int deliver_queue_open(const char *queue_id, struct str *err);
/* deliver_queue_load - an agent's start on request req: its queue_file must be "active/"
 * and its queue ID (agents accept no other), opened by deliver_queue_open (as the calling
 * identity) and its envelope read into env (at most QFILE_RCPT_MAX recipients, as qmgr
 * reads it). The descriptor, share-locked (the caller closes it and frees env); or -1 with
 * the trouble logged, env empty and *why the reason to report for every recipient */
int deliver_queue_load(const struct deliver_request *req, struct qfile_env *env, const char **why);
/* deliver_rcpt_record - the envelope record of request recipient i (found by its offset),
 * or NULL when the offset names no recipient record */
const struct qfile_rcpt *deliver_rcpt_record(const struct qfile_env *env,
                                             const struct deliver_request *req, size_t i);
/* deliver_mark_sent - make the successful delivery r of request recipient r->rcpt final in
 * the queue file fd (read-write, envelope env) before it is reported: the success notice
 * entry (NOTIFY=SUCCESS without dsn_passed) and the extra entries (failed expansion
 * members) appended to bounce/ID and fsync'ed, then the recipient record marked done.
 * 0: marked (report r with marked=1 and without the extras); -1: nothing marked (report
 * as before: qmgr records it); *nlogged says how many extras are already in bounce/ID */
int deliver_mark_sent(int fd, const struct qfile_env *env, const struct deliver_request *req,
                      const struct deliver_result *r, const struct deliver_result *extras,
                      size_t nextras, size_t *nlogged);

/* qmgr side ------------------------------------------------------------- */

/* deliver_hello_check - whether a greeting is acceptable; -1 with err */
int deliver_hello_check(const struct attr_list *l, struct str *err);
/* deliver_reply_parse - one agent message after a request: 1 a result (r points into
 * l), 0 done (*dest_failed and *last set), -1 malformed (err) */
int deliver_reply_parse(const struct attr_list *l, size_t nrcpts, struct deliver_result *r,
                        int *dest_failed, int *last, struct str *err);

/* helpers --------------------------------------------------------------- */

/* deliver_status_name - "sent", "deferred", "bounced" */
const char *deliver_status_name(int status);
/* deliver_dsn_valid - whether text is an RFC 3463 code class.subject.detail
 * whose class fits status (2 sent, 4 deferred, 5 bounced) */
int deliver_dsn_valid(const char *dsn, int status);
/* deliver_now_us - wall clock in microseconds */
long long deliver_now_us(void);
/* deliver_format_delay - Postfix's compact delay form ("0.12", "1.5", "389") */
void deliver_format_delay(struct str *out, double seconds);

#endif
