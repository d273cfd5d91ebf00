/*
 * local_priv.c - identity switching for the local delivery agent
 *
 * local runs as root (master.cf unpriv=n) and performs every delivery
 * with the effective uid/gid (and only group) of the recipient, as
 * Postfix local(8) does: files it creates belong to the recipient and the
 * kernel checks the recipient's permissions. The real uid stays root, so
 * the recipient can neither signal nor trace the process. The queue is
 * touched as mail_owner (local_become_mail_owner): the queue file opened
 * for reading and marking, bounce/ID entries, resubmitted files. Commands run
 * in a child that drops real and effective ids for good (local_command.c).
 * Started by an ordinary user (tests, development) nothing changes.
 */
#include <errno.h>
#include <grp.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "qdir.h"

#include "local.h"

static int started_as_root = -1;

int local_is_root(void)
{
    if (started_as_root < 0)
        started_as_root = getuid() == 0;
    return started_as_root;
}

int local_become(const struct local_priv *p)
{
    if (!local_is_root())
        return 0;
    if (p->uid == 0)
        log_panic("refusing to deliver as root");
    if (setgroups(1, &p->gid) < 0 || setegid(p->gid) < 0 || seteuid(p->uid) < 0) {
        log_warn("cannot switch to uid %ld gid %ld: %s", (long)p->uid, (long)p->gid,
                 strerror(errno));
        local_unbecome();
        return -1;
    }
    return 0;
}

void local_unbecome(void)
{
    if (!local_is_root())
        return;
    if (seteuid(0) < 0 || setegid(0) < 0 || setgroups(0, NULL) < 0)
        log_fatal("cannot return to root: %s", strerror(errno));
}

int local_become_mail_owner(struct str *err)
{
    static struct qdir_ids ids;
    static int have_ids;

    if (!local_is_root())
        return 0;
    /* looked up once per process: this runs between a delivery and its mark */
    if (!have_ids && qdir_ids(cfg_main, &ids, err) < 0)
        return -1;
    have_ids = 1;
    if (setgroups(1, &ids.mail_gid) < 0 || setegid(ids.mail_gid) < 0 || seteuid(ids.mail_uid) < 0) {
        str_printf(err, "cannot become mail_owner: %s", strerror(errno));
        local_unbecome();
        return -1;
    }
    return 0;
}
