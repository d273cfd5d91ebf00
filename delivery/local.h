/*
 * local.h - the local delivery agent's shared declarations
 *
 * Rooms: local.c (the agent loop, one request, one recipient: aliases,
 * .forward, users, virtual mailboxes), local_mailbox.c (Maildir and mbox
 * writers), local_command.c (|command deliveries), local_forward.c
 * (resubmission of forwarded addresses into incoming/), local_priv.c
 * (identity switching).
 */
#ifndef PETREL_LOCAL_H
#define PETREL_LOCAL_H

#include <sys/types.h>

#include "deliver.h"
#include "qfile.h"
#include "str.h"
#include "stream.h"

/* one delivery request */
struct local_req {
    struct deliver_request *req;
    int qfd;                     /* the queue file */
    struct qfile_env env;        /* its envelope */
    struct strlist delivered_to; /* Delivered-To: values in the message (lower case) */
    int received;                /* number of Received: headers */
    long long rcpt_offset;       /* the recipient record being delivered (Maildir names) */
};

/* the outcome of one delivery attempt (a target) */
struct local_status {
    int status; /* DELIVER_ */
    char dsn[16];
    struct str reason;
};

/* an identity to deliver as */
struct local_priv {
    uid_t uid;
    gid_t gid;
    const char *user;  /* for USER/LOGNAME */
    const char *home;  /* "" when none */
    const char *shell; /* "" when none */
};

/* what to write in front of the message */
#define LC_FROM_LINE 1  /* mbox "From " line */
#define LC_QUOTE_FROM 2 /* ">From " escaping (mbox) */
#define LC_DELIVERED_TO 4
#define LC_BLANK_LINE 8 /* an empty line after the message (mbox) */

/* local.c */
void local_status_set(struct local_status *st, int status, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* local_priv.c */
/* local_become - switch effective ids to p (no-op when not running as root) */
int local_become(const struct local_priv *p);
/* local_become_mail_owner - switch effective ids to mail_owner for work in the queue
 * (no-op when not running as root); -1 with err. local_unbecome() goes back. */
int local_become_mail_owner(struct str *err);
/* local_unbecome - back to root */
void local_unbecome(void);
/* local_is_root - the agent runs as root (and switches identities) */
int local_is_root(void);

/* local_mailbox.c */
/* local_copy - write the message (with prefix lines per flags) to fd, or through the
 * Maildir writer mf when not NULL; the size written into *written; -1 with errno on a
 * write error, -2 when limit (if > 0) was exceeded */
struct maildir_file;
int local_copy(struct local_req *lr, int fd, struct maildir_file *mf, const char *rcpt, int flags,
               long long limit, long long *written);
/* local_maildir - deliver into the Maildir dir (ending in '/') as the current identity */
void local_maildir(struct local_req *lr, const char *dir, const char *rcpt, long long limit,
                   struct local_status *st);
/* local_mbox - append to an mbox file with locking; create_priv (or NULL) creates a missing
 * file as root for that owner (spool directories); dotlock per $mailbox_delivery_lock */
void local_mbox(struct local_req *lr, const char *path, const char *rcpt, long long limit,
                const struct local_priv *owner, int in_spool, int flags, struct local_status *st);

/* local_command.c */
/* local_command - run cmd as p; rcpt, its local part, user (local part without
 * extension), extension and domain go into the environment */
void local_command(struct local_req *lr, const char *cmd, const struct local_priv *p,
                   const char *rcpt, const char *local, const char *user, const char *ext,
                   const char *domain, struct local_status *st);

/* local_forward.c */
/* local_forward - write one new queue file for addrs (sender, orcpt/notify of request
 * recipient i); its queue ID into newid */
int local_forward(struct local_req *lr, size_t i, const char *sender, const struct strlist *addrs,
                  struct str *newid, struct str *err);

#endif
