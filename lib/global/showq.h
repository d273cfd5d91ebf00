/*
 * showq.h - the queue listing for the admin tools (public/showq, served by qmgr)
 *
 * The listing is built from the queue directories themselves (the disk is
 * the truth): incoming/, active/, deferred/ (hashed) and hold/, one entry
 * per complete queue file with its queue ID, queue name, content size,
 * arrival time, next attempt time (deferred mail: the file's mtime),
 * sender, and each recipient not yet done with the last deferral reason
 * from defer/H/ID ("" when none).
 *
 * Protocol on public/showq (attr.h messages; the socket is reachable by
 * the setgid_group tools): the client sends one request and reads the
 * answer, then the server closes.
 *   request=list [queue_id=ID]  -> one message per entry: queue_id, queue,
 *                                  size, arrival, next_attempt, sender, then
 *                                  per recipient rcpt=ADDR followed by
 *                                  reason=TEXT; finally end=1, count=N
 *   request=flush               -> status=ok; qmgr retries all deferred mail now
 *   request=deliver queue_id=ID -> status=ok or status=notfound; that deferred
 *                                  message is due now and qmgr is woken
 *   request=flush_site site=DOMAIN -> status=ok, count=N; the deferred messages with a
 *                                  recipient in DOMAIN (or [address]) are due now
 * Errors: status=error, reason=TEXT.
 */
#ifndef PETREL_SHOWQ_H
#define PETREL_SHOWQ_H

#include "attr.h"
#include "qfile.h"
#include "str.h"

#define SHOWQ_SOCKET "public/showq"

struct showq_rcpt {
    char *addr;
    char *reason; /* last deferral reason, "" when none */
};

struct showq_entry {
    char id[QFILE_ID_MAX];
    char queue[16];          /* incoming, active, deferred, hold */
    unsigned long long size; /* content bytes */
    long long arrival;       /* seconds since the epoch */
    long long next_attempt;  /* deferred: the retry time (mtime); else 0 */
    char *sender;            /* "" = null sender */
    struct showq_rcpt *rcpts;
    size_t nrcpts;
};

/* a callback per entry; a negative return stops the walk */
typedef int (*showq_cb)(const struct showq_entry *e, void *ctx);

/* showq_scan - walk the queue under queue_dir directly (needs read access to it: mail_owner
 * or root); only_id (or NULL) limits it to one message; -1 with err on a fatal error */
int showq_scan(const char *queue_dir, const char *only_id, showq_cb cb, void *ctx, struct str *err);
/* showq_list - the same listing, asked of qmgr over public/showq */
int showq_list(const char *queue_dir, const char *only_id, int timeout, showq_cb cb, void *ctx,
               struct str *err);
/* showq_flush - ask qmgr to retry all deferred mail now */
int showq_flush(const char *queue_dir, int timeout, struct str *err);
/* showq_deliver - ask qmgr to retry one deferred message now: 0 ok, 1 not found, -1 error */
int showq_deliver(const char *queue_dir, const char *id, int timeout, struct str *err);
/* showq_flush_site - ask qmgr to retry the deferred mail for one domain now; -1 error */
int showq_flush_site(const char *queue_dir, const char *site, int timeout, struct str *err);
/* showq_site_due - make due now every deferred message under queue_dir with a recipient
 * not yet done in site (compared without case); how many */
long showq_site_due(const char *queue_dir, const char *site);

/* wire form of an entry */
void showq_entry_encode(const struct showq_entry *e, struct attr_list *l);
int showq_entry_decode(const struct attr_list *l, struct showq_entry *e, struct str *err);
void showq_entry_free(struct showq_entry *e);

#endif
