/*
 * qadmin.h - queue administration requests to qmgr (private/qadmin)
 *
 * petrel-super changes queue files itself (atomic renames and unlinks)
 * except those qmgr holds in its active queue: for those it asks qmgr,
 * which applies the request once the deliveries in progress for the
 * message are over (lib/global/qadmin.c, qmgr/qmgr_admin.c, doc/internals.md).
 *
 * Protocol (attr.h messages) on private/qadmin, reachable by root and
 * mail_owner only: the client sends one request and reads one answer.
 *   request=hold|delete|requeue, queue_id=ID (1..QADMIN_BATCH_MAX times)
 *     -> for each ID in order: queue_id=ID, result=ok|notfound; then end=1
 *        ok: qmgr holds the message and will apply the request (at once, or
 * when the deliveries in progress finish); notfound: not in qmgr's active queue
 *   anything else -> status=error, reason=TEXT
 *
 * qmgr holds an exclusive flock on private/qmgr.lock for its lifetime.
 * A client that gets that lock knows that no qmgr runs, and none can start
 * until it lets go: it may then change active/ itself.
 */
#ifndef PETREL_QADMIN_H
#define PETREL_QADMIN_H

#include <stddef.h>
#include <sys/types.h>

#include "attr.h"
#include "str.h"

#define QADMIN_SOCKET "private/qadmin"
#define QADMIN_LOCK "private/qmgr.lock"
#define QADMIN_BATCH_MAX 1000
#define QADMIN_REQUEST_MAX (QADMIN_BATCH_MAX * 64 + 1024)

#define QADMIN_OK 0
#define QADMIN_NOTFOUND 1

/* the requests, in order of precedence (a message asked twice keeps the
 * stronger one) */
#define QADMIN_REQUEUE 1
#define QADMIN_HOLD 2
#define QADMIN_DELETE 3

/* qadmin_request - ask qmgr (the working directory is the queue) to apply op to
 * n IDs (n <= QADMIN_BATCH_MAX); results[i] gets QADMIN_OK or QADMIN_NOTFOUND.
 * 0 answered; -1 qmgr cannot be reached; -2 a bad or missing answer (err set
 * either way) */
int qadmin_request(const char *op, char *const *ids, size_t n, int *results, int timeout,
                   struct str *err);
/* qadmin_parse_answer - check qmgr's answer to a request for the n IDs (the
 * pairs queue_id, result in the order asked, then end): results[i] as above; 0
 * good, -2 bad (err set) */
int qadmin_parse_answer(const struct attr_list *ans, char *const *ids, size_t n, int *results,
                        struct str *err);
/* qadmin_request_end - the length of a complete request at the start of buf (up
 * to and with its empty line), 0 while incomplete */
size_t qadmin_request_end(const char *buf, size_t len);
/* qadmin_parse_request - decode one complete request (buf, len from
 * qadmin_request_end): QADMIN_REQUEUE, _HOLD or _DELETE with the IDs appended
 * to ids; -1 bad (err set, ids may hold some) */
int qadmin_parse_request(const char *buf, size_t len, struct strlist *ids, struct str *err);
/* qadmin_lock - try qmgr's lock (created owned by uid:gid when missing): 1
 * taken (*fd holds it: no qmgr runs), 0 qmgr holds it, -1 error */
int qadmin_lock(uid_t uid, gid_t gid, int *fd, struct str *err);

#endif
