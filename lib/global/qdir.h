/*
 * qdir.h - the queue directory layout (ARCHITECTURE.md 2)
 *
 * One table of subdirectories with their owners and modes, used by master
 * to create them and by `petrel check` and `petrel-super -s` to verify
 * them. deferred/ and defer/ have one level of hashed subdirectories
 * (0..f) chosen by qdir_hash().
 */
#ifndef PETREL_QDIR_H
#define PETREL_QDIR_H

#include <sys/types.h>

#include "cfg.h"
#include "str.h"

#define QDIR_OWNER_ROOT 0 /* root (or the invoking user) */
#define QDIR_OWNER_MAIL 1 /* mail_owner */

struct qdir {
    const char *name;
    int owner;      /* QDIR_OWNER_* */
    int drop_group; /* group is setgid_group instead of mail_owner's */
    mode_t mode;
    int hashed; /* has 0..f subdirectories */
};

extern const struct qdir qdir_table[];

/* identities used for the queue: filled from main.cf */
struct qdir_ids {
    uid_t root_uid, mail_uid;
    gid_t root_gid, mail_gid, drop_gid;
};

/* qdir_ids - resolve mail_owner/setgid_group (or the invoking user when not root) */
int qdir_ids(const struct cfg *c, struct qdir_ids *ids, struct str *err);
/* qdir_create - create missing directories and fix owners/modes; -1 with err */
int qdir_create(const char *queue_dir, const struct qdir_ids *ids, struct str *err);
/* qdir_check - report wrong or missing directories as lines in problems; count */
int qdir_check(const char *queue_dir, const struct qdir_ids *ids, struct strlist *problems);
/* qdir_hash - the hashed subdirectory ("0".."f") of a queue ID */
char qdir_hash(const char *queue_id);

#endif
