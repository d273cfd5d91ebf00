/*
 * dsnlog.h - per-message logs of recipient outcomes: defer/ and bounce/
 *
 * qmgr appends one entry per deferred recipient to defer/H/ID (H =
 * qdir_hash) and one per bounced recipient, or per recipient that asked
 * for a success notice (RFC 3461 NOTIFY=SUCCESS), to bounce/ID. DSNs are
 * built from these logs and the admin's queue listing shows the last
 * deferral reason from them.
 *
 * Format: each entry is one attr.h message (name=value lines, %XX
 * escapes, an empty line) written with a single append; a reader ignores
 * an incomplete last entry (a crash in the middle of a write) and bounds
 * everything it reads (the files live in the queue and are treated as
 * untrusted). Names: rcpt, orig_rcpt, orcpt, notify, offset, dsn, action
 * (RFC 3464 2.3.3: failed, delayed, delivered, relayed, expanded),
 * reason, remote_mta, diag, dsn_to, time.
 */
#ifndef PETREL_DSNLOG_H
#define PETREL_DSNLOG_H

#include <stddef.h>

#include "str.h"

#define DSNLOG_MAX_BYTES (64 << 20) /* a larger log is read only up to this */

struct dsnlog_entry {
    char *rcpt;       /* final recipient */
    char *orig;       /* recipient as received ("" = rcpt) */
    char *orcpt;      /* RFC 3461 ORCPT ("" = none) */
    int notify;       /* QNOTIFY_ bits */
    long long offset; /* of the recipient record (-1: an expansion member) */
    char *dsn;        /* enhanced status code */
    char *action;     /* RFC 3464 action */
    char *reason;
    char *remote_mta; /* "" = none */
    char *diag;       /* "" = none */
    char *dsn_to;     /* "" = the sender */
    long long time;   /* seconds since the epoch */
};

struct dsnlog {
    struct dsnlog_entry *e;
    size_t n, cap;
};

/* dsnlog_path - "defer/H/ID" (kind "defer") or "bounce/ID" (kind "bounce") into out */
void dsnlog_path(struct str *out, const char *kind, const char *id);
/* dsnlog_append - append one entry (file mode 0600), fsync when sync; -1 with err */
int dsnlog_append(const char *path, const struct dsnlog_entry *e, int sync, struct str *err);
/* dsnlog_read - all entries of path (a missing file has none); -1 with err on I/O errors */
int dsnlog_read(const char *path, struct dsnlog *out, struct str *err);
/* dsnlog_last - the last entry for a recipient record offset (or address when offset < 0) */
const struct dsnlog_entry *dsnlog_last(const struct dsnlog *log, long long offset,
                                       const char *rcpt);
void dsnlog_free(struct dsnlog *log);
/* dsnlog_entry_set - fill e with copies (NULL = ""); free with dsnlog_entry_free */
void dsnlog_entry_set(struct dsnlog_entry *e, const char *rcpt, const char *orig, const char *orcpt,
                      int notify, long long offset, const char *dsn, const char *action,
                      const char *reason);
void dsnlog_entry_free(struct dsnlog_entry *e);

#endif
