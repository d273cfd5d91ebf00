/*
 * local_forward.c - resubmission of forwarded addresses (aliases, .forward)
 *
 * Addresses that an alias or .forward expands to and that local does not
 * deliver itself (other domains, virtual mailboxes) go back to qmgr as a
 * new queue file in incoming/, written as mail_owner with the commit
 * order of lib/global/qfile.h (one fsync) before the original recipient is
 * reported sent, then qmgr is poked. Each new recipient keeps the
 * original's ORCPT and NOTIFY and names the original recipient as its
 * dsn_orig; the content gets a Delivered-To: header for loop detection.
 */
#include <errno.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "qdir.h"
#include "trigger.h"

#include "local.h"

int local_forward(struct local_req *lr, size_t i, const char *sender, const struct strlist *addrs,
                  struct str *newid, struct str *err)
{
    const struct deliver_request *req = lr->req;
    const struct deliver_rcpt *rc = &req->rcpts[i];
    struct qfile_writer *w;
    struct timeval tv;
    struct str hdr = STR_INIT, terr = STR_INIT;
    struct strlist prep = STRLIST_INIT;
    int rc_ = -1, switched = 0;

    if (local_become_mail_owner(err) < 0)
        return -1;
    switched = 1;
    w = qfile_create("incoming", err);
    if (w == NULL)
        goto out;
    gettimeofday(&tv, NULL);
    qfile_put_time(w, tv.tv_sec, tv.tv_usec);
    qfile_put_sender(w, sender);
    if (strcmp(sender, req->sender) == 0) { /* the same transaction: keep its DSN envelope */
        if (req->envid[0])
            qfile_put_attr(w, "envid", req->envid);
        if (req->ret[0])
            qfile_put_attr(w, "ret", req->ret);
    }
    for (const char **a = (const char *[]){"body", "smtputf8", NULL}; *a; a++)
        if (qfile_env_attr(&lr->env, *a)) /* the content and addresses stay what they were */
            qfile_put_attr(w, *a, qfile_env_attr(&lr->env, *a));
    qfile_put_attr(w, "forwarded_by", req->queue_id);
    for (size_t k = 0; k < addrs->n; k++)
        qfile_put_rcpt(w, addrs->v[k], rc->orcpt, rc->notify, rc->orig[0] ? rc->orig : rc->addr);
    qfile_begin_content(w);
    cfg_list(cfg_main, P_prepend_delivered_header, &prep);
    if (strlist_find(&prep, "forward", 1) >= 0) {
        str_cat(&hdr, "Delivered-To: ");
        for (const char *a = rc->addr; *a; a++) /* no line breaks into the header */
            str_catc(&hdr, (unsigned char)*a < 0x20 || *a == 0x7f ? '?' : *a);
        str_cat(&hdr, "\r\n");
        qfile_write(w, hdr.s, hdr.len);
    }
    if (qfile_copy_content(w, lr->qfd, &lr->env, err) < 0 || qfile_commit(w, err) < 0) {
        qfile_writer_free(w);
        goto out;
    }
    str_cpy(newid, qfile_writer_id(w));
    qfile_writer_free(w);
    rc_ = 0;
    if (trigger_send("public/qmgr", "A", 5, &terr) < 0)
        log_warn("%s: cannot notify qmgr of %s: %s", req->queue_id, newid->s, str_c(&terr));
out:
    if (switched)
        local_unbecome();
    str_free(&hdr);
    str_free(&terr);
    strlist_free(&prep);
    return rc_;
}
