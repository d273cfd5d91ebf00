/*
 * qmgr_message.c - one message in the active queue, from activation to its exit
 *
 * Activation: the file is moved into active/ (rename), its envelope read
 * (never the content), expired mail bounced, recipients rewritten and
 * routed, and every recipient queued for a transport or settled at once.
 * When virtual alias expansion changes the recipient list (one-to-many,
 * duplicates), the file is rewritten once: a new file with the expanded
 * recipients (the original address kept as dsn_orig, ORCPT and NOTIFY
 * copied, attribute qmgr_expanded=1) is written, fsync'ed and renamed
 * over the old one, so that each expanded recipient has its own record to
 * mark done. The queue ID stays the same.
 *
 * Results: sent -> the record is marked done in place, unless the agent
 * did so itself (marked=1, lib/global/deliver.h: then it also wrote the bounce/ID
 * entries the recipient needs, and qmgr only notes the recipient done);
 * bounced -> an entry in bounce/ID (fsync'ed) first, then marked done;
 * deferred -> an entry in defer/H/ID. When the last entry of the message is settled, the
 * bounce log turns into notifications (qmgr_dsn.c), and the file is
 * removed (all recipients done) or moved to deferred/H/ID with the next
 * attempt time as its mtime. A crash anywhere leaves the file in active/
 * or deferred/, to be taken up again: at worst a recipient gets a message
 * twice, never zero times. A file that a delivery agent holds locked (an
 * agent of a qmgr that died, still delivering) is not taken up until the
 * agent is done with it: its marks then say what is left to do.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "mem.h"
#include "qdir.h"

#include "qmgr.h"

#define QMGR_RCPT_HARD_MAX QFILE_RCPT_MAX /* recipients read from one queue file */

static struct qmgr_msg *active_list;

/* env_attr_ci - an envelope attribute by any of two names, case-insensitive */
static const char *env_attr_ci(const struct qfile_env *env, const char *a, const char *b)
{
    for (size_t i = 0; i < env->nattrs; i++)
        if (strcasecmp(env->attrs[i].name, a) == 0 || (b && strcasecmp(env->attrs[i].name, b) == 0))
            return env->attrs[i].value;
    return NULL;
}

/* msg_envid / msg_ret - RFC 3461 ENVID and RET of the message */
static const char *msg_envid(const struct qmgr_msg *m)
{
    const char *v = env_attr_ci(&m->env, "envid", "dsn_envid");
    return v ? v : "";
}

static const char *msg_ret(const struct qmgr_msg *m)
{
    const char *v = env_attr_ci(&m->env, "ret", "dsn_ret");
    return v ? v : "";
}

/* rcpt_orig - the address as received, for orig_to= and DSNs */
static const char *rcpt_orig(const struct qmgr_msg *m, size_t i)
{
    const struct qfile_rcpt *rec = &m->env.rcpts[m->rcpts[i].rec];
    return rec->dsn_orig[0] ? rec->dsn_orig : rec->addr;
}

/* log_status - a status line for a recipient decided by qmgr itself */
static void log_status(struct qmgr_msg *m, size_t i, const char *relay, const char *dsn,
                       const char *status, const char *reason)
{
    struct deliver_request req;
    long long now = deliver_now_us();

    deliver_request_init(&req);
    req.queue_id = m->id;
    req.arrival_us = m->env.arrival_sec * 1000000 + m->env.arrival_usec;
    req.active_us = m->active_us;
    req.sent_us = req.recv_us = now;
    deliver_log(&req, m->rcpts[i].addr, rcpt_orig(m, i), relay, 0, dsn, status, reason);
}

/* dsn_entry - append to bounce/ID (fsync'ed); -1 when it cannot be recorded */
static int dsn_entry(struct qmgr_msg *m, size_t i, const char *action,
                     const struct deliver_result *r)
{
    const struct qfile_rcpt *rec = &m->env.rcpts[m->rcpts[i].rec];
    struct dsnlog_entry e;
    struct str path = STR_INIT, err = STR_INIT;
    int rc;

    dsnlog_entry_set(&e, r->target ? r->target : m->rcpts[i].addr,
                     r->target ? m->rcpts[i].addr : rcpt_orig(m, i), rec->orcpt, rec->notify,
                     r->target ? -1 : (long long)rec->offset, r->dsn, action, r->reason);
    if (r->remote_mta) {
        free(e.remote_mta);
        e.remote_mta = xstrdup(r->remote_mta);
    }
    if (r->diag) {
        free(e.diag);
        e.diag = xstrdup(r->diag);
    }
    if (r->dsn_to) {
        free(e.dsn_to);
        e.dsn_to = xstrdup(r->dsn_to);
    }
    dsnlog_path(&path, "bounce", m->id);
    rc = dsnlog_append(path.s, &e, 1, &err);
    if (rc < 0)
        log_warn("%s: cannot record the outcome for %s: %s", m->id, e.rcpt, str_c(&err));
    else
        m->bounce_log = 1;
    dsnlog_entry_free(&e);
    str_free(&path);
    str_free(&err);
    return rc;
}

int qmgr_msg_open(struct qmgr_msg *m, int flags)
{
    if (m->fd >= 0)
        return dup(m->fd);
    return open(m->path, flags | O_CLOEXEC | O_NOFOLLOW);
}

/* mark_done - settle a recipient for good in the file. When it was the last one the
 * file is about to be removed, and a crash before that costs only a duplicate. */
static void mark_done(struct qmgr_msg *m, size_t i)
{
    const struct qfile_rcpt *rec = &m->env.rcpts[m->rcpts[i].rec];
    int fd, last = 1;

    m->rcpts[i].state = QR_DONE;
    for (size_t k = 0; k < m->nrcpts && last; k++)
        last = m->rcpts[k].state == QR_DONE;
    if (last && m->fd < 0 && !m->bounce_log)
        return;
    fd = qmgr_msg_open(m, O_WRONLY);
    if (fd < 0 || qfile_mark_done(fd, rec->offset) < 0)
        log_warn("%s: cannot mark recipient %s done: %s", m->id, m->rcpts[i].addr, strerror(errno));
    if (fd >= 0)
        close(fd);
}

/* note_defer - record a deferral in memory and in defer/H/ID */
static void note_defer(struct qmgr_msg *m, size_t i, const char *dsn, const char *reason)
{
    const struct qfile_rcpt *rec = &m->env.rcpts[m->rcpts[i].rec];
    struct qmgr_rcpt *r = &m->rcpts[i];
    struct dsnlog_entry e;
    struct str path = STR_INIT, err = STR_INIT;

    if (r->state != QR_DEFER)
        m->ndeferred++;
    r->state = QR_DEFER;
    free(r->reason);
    r->reason = xstrdup(reason ? reason : "");
    snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
    dsnlog_entry_set(&e, r->addr, rcpt_orig(m, i), rec->orcpt, rec->notify, (long long)rec->offset,
                     dsn, "delayed", reason);
    dsnlog_path(&path, "defer", m->id);
    if (dsnlog_append(path.s, &e, 0, &err) < 0)
        log_warn("%s: %s", m->id, str_c(&err));
    dsnlog_entry_free(&e);
    str_free(&path);
    str_free(&err);
}

void qmgr_msg_result(struct qmgr_msg *m, size_t i, const struct deliver_result *r)
{
    const struct qfile_rcpt *rec = &m->env.rcpts[m->rcpts[i].rec];

    if (m->rcpts[i].state == QR_DONE)
        return;
    if (r->status == DELIVER_SENT && r->marked) {
        /* the agent made it final (and wrote any bounce/ID entries) before it replied */
        m->rcpts[i].state = QR_DONE;
        m->agent_marked = 1;
        return;
    }
    switch (r->status) {
    case DELIVER_SENT:
        if ((rec->notify & QNOTIFY_SUCCESS) && !r->dsn_passed)
            dsn_entry(m, i, r->action ? r->action : "delivered", r);
        mark_done(m, i);
        break;
    case DELIVER_BOUNCED:
        if (dsn_entry(m, i, "failed", r) < 0) {
            note_defer(m, i, "4.3.0", "cannot record a permanent failure; will try again");
            break;
        }
        mark_done(m, i);
        break;
    default:
        note_defer(m, i, r->dsn, r->reason);
        break;
    }
}

void qmgr_msg_extra(struct qmgr_msg *m, size_t i, const struct deliver_result *r)
{
    dsn_entry(m, i, "failed", r);
}

void qmgr_msg_defer(struct qmgr_msg *m, size_t i, const char *relay, const char *dsn,
                    const char *reason)
{
    log_status(m, i, relay, dsn, "deferred", reason);
    note_defer(m, i, dsn, reason);
}

void qmgr_msg_bounce(struct qmgr_msg *m, size_t i, const char *dsn, const char *reason,
                     const char *status_word)
{
    struct deliver_result r;

    memset(&r, 0, sizeof(r));
    r.status = dsn[0] == '2' ? DELIVER_SENT : DELIVER_BOUNCED;
    r.dsn = dsn;
    r.reason = reason;
    log_status(m, i, "none", dsn, status_word, reason);
    qmgr_msg_result(m, i, &r);
}

void qmgr_msg_request(const struct qmgr_entry *e, struct deliver_request *req)
{
    const struct qmgr_msg *m = e->msg;

    req->queue_id = xstrdup(m->id);
    req->queue_file = xstrdup(m->path);
    req->sender = xstrdup(m->env.sender);
    req->envid = xstrdup(msg_envid(m));
    req->ret = xstrdup(msg_ret(m));
    req->arrival_us = m->env.arrival_sec * 1000000 + m->env.arrival_usec;
    req->active_us = m->active_us;
    req->sent_us = deliver_now_us();
    req->size = m->env.content_size;
    for (size_t k = 0; k < e->n; k++) {
        const struct qmgr_rcpt *r = &m->rcpts[e->idx[k]];
        const struct qfile_rcpt *rec = &m->env.rcpts[r->rec];
        const char *orig = rcpt_orig(m, e->idx[k]);
        deliver_rcpt_add(req, r->addr, strcasecmp(orig, r->addr) ? orig : "", rec->orcpt,
                         rec->notify, (long long)rec->offset);
    }
}

/* msg_free - release memory and the descriptor */
static void msg_free(struct qmgr_msg *m)
{
    if (m->fd >= 0)
        close(m->fd);
    for (size_t i = 0; i < m->nrcpts; i++) {
        free(m->rcpts[i].addr);
        free(m->rcpts[i].reason);
    }
    free(m->rcpts);
    qfile_env_free(&m->env);
    free(m->path);
    free(m);
}

/* unlink_log - remove defer/H/ID or bounce/ID (a missing one is fine) */
static void unlink_log(const char *kind, const char *id)
{
    struct str path = STR_INIT;

    dsnlog_path(&path, kind, id);
    if (unlink(path.s) < 0 && errno != ENOENT)
        log_warn("remove %s: %s", path.s, strerror(errno));
    str_free(&path);
}

/* defer_message - back to deferred/ with the next attempt time as mtime */
static void defer_message(struct qmgr_msg *m)
{
    long long now = time(NULL), age = now - m->env.arrival_sec;
    long long lo = cfg_time(cfg_main, P_minimal_backoff_time);
    long long hi = cfg_time(cfg_main, P_maximal_backoff_time);
    long long warn = cfg_time(cfg_main, P_delay_warning_time);
    long long delay = age < lo ? lo : age > hi ? hi : age;
    struct timespec ts[2];
    struct str to = STR_INIT;

    if (hi < lo)
        delay = lo;
    if (m->ndeferred && warn > 0 && age >= warn && m->env.sender[0] &&
        !(m->env.flags & QFILE_F_DELAY_WARNED) && qmgr_dsn_delay(m) == 0) {
        int fd = qmgr_msg_open(m, O_WRONLY);
        m->env.flags |= QFILE_F_DELAY_WARNED;
        if (fd < 0 || qfile_set_flags(fd, &m->env, m->env.flags) < 0)
            log_warn("%s: cannot update the queue file flags: %s", m->id, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    struct timespec exact;
    clock_gettime(CLOCK_REALTIME, &exact);
    ts[0] = exact;
    /* whole seconds, rounded up: never earlier than the back-off asks */
    ts[1].tv_sec = exact.tv_sec + delay + (exact.tv_nsec > 0);
    ts[1].tv_nsec = 0;
    if (utimensat(AT_FDCWD, m->path, ts, AT_SYMLINK_NOFOLLOW) < 0)
        log_warn("%s: set retry time: %s", m->id, strerror(errno));
    str_printf(&to, "deferred/%c/%s", qdir_hash(m->id), m->id);
    if (rename(m->path, to.s) < 0)
        log_warn("%s: move to %s: %s (it stays in active/ until the next start)", m->id, to.s,
                 strerror(errno));
    str_free(&to);
}

/* msg_finish - the message's pass is over: notify, then remove or defer it */
static void msg_finish(struct qmgr_msg *m)
{
    int all_done = 1;

    for (size_t i = 0; i < m->nrcpts; i++)
        if (m->rcpts[i].state != QR_DONE)
            all_done = 0;
    if (m->agent_marked && !m->bounce_log) { /* entries an agent wrote (lib/global/deliver.h) */
        struct str lp = STR_INIT;
        struct stat st;
        dsnlog_path(&lp, "bounce", m->id);
        m->bounce_log = stat(lp.s, &st) == 0 && st.st_size > 0;
        str_free(&lp);
    }
    if (m->bounce_log && m->admin != QA_DELETE && qmgr_dsn_flush(m) == 0)
        m->bounce_log = 0;
    if (m->admin != QA_NONE && qmgr_admin_finish(m, all_done)) {
        /* the administrator's request took the file (qmgr_admin.c) */
    } else if (all_done && !m->bounce_log) {
        if (m->from != QM_FROM_INCOMING)
            unlink_log("defer", m->id);
        if (unlink(m->path) < 0)
            log_warn("%s: remove %s: %s", m->id, m->path, strerror(errno));
        else
            log_info("%s: removed", m->id);
    } else {
        defer_message(m);
    }
    if (m->prev)
        m->prev->next = m->next;
    else
        active_list = m->next;
    if (m->next)
        m->next->prev = m->prev;
    qmgr_active_count--;
    qmgr_active_rcpts -= m->nrcpts;
    msg_free(m);
    qmgr_message_gone();
}

void qmgr_msg_entry_done(struct qmgr_msg *m)
{
    if (m->pending == 0)
        log_panic("%s: entry count underflow", m->id);
    if (--m->pending == 0)
        msg_finish(m);
}

/* move_corrupt - a file that cannot be parsed goes to corrupt/, never deleted */
static void move_corrupt(const char *path, const char *id, const char *why)
{
    char *to = xasprintf("corrupt/%s", id);

    if (rename(path, to) < 0)
        log_warn("%s: corrupt queue file (%s); cannot move it to corrupt/: %s", id, why,
                 strerror(errno));
    else
        log_warn("%s: corrupt queue file (%s); moved to corrupt/", id, why);
    free(to);
}

/* expire - the message is past its lifetime: return what is left to the sender */
static void expire(struct qmgr_msg *m, const struct dsnlog *deferlog)
{
    long long life =
        cfg_time(cfg_main, m->env.sender[0] ? P_maximal_queue_lifetime : P_bounce_queue_lifetime);
    struct str why = STR_INIT;

    for (size_t i = 0; i < m->nrcpts; i++) {
        const struct qfile_rcpt *rec = &m->env.rcpts[m->rcpts[i].rec];
        const struct dsnlog_entry *last = dsnlog_last(deferlog, (long long)rec->offset, NULL);
        struct deliver_result r;
        str_reset(&why);
        if (last && last->reason[0])
            str_printf(&why, "%s", last->reason);
        else
            str_printf(&why, "message could not be delivered for %s",
                       life >= 86400 && life % 86400 == 0 ? "days" : "too long");
        memset(&r, 0, sizeof(r));
        r.status = DELIVER_BOUNCED;
        r.dsn = last && last->dsn[0] == '4' ? last->dsn : "4.4.7";
        r.reason = why.s;
        if (last && last->remote_mta[0])
            r.remote_mta = last->remote_mta;
        if (last && last->diag[0])
            r.diag = last->diag;
        log_status(m, i, "none", r.dsn, "expired, returned to sender", why.s);
        if (dsn_entry(m, i, "failed", &r) < 0)
            note_defer(m, i, r.dsn, why.s);
        else
            mark_done(m, i);
    }
    str_free(&why);
}

/* write_rewrite - the expanded copy of the file; 0 ok (renamed over the original) */
static int write_rewrite(struct qmgr_msg *m, struct strlist *exp, struct str *err)
{
    struct qfile_writer *w = qfile_create_as("active", m->id, err);
    struct strlist seen = STRLIST_INIT;
    int rc = -1;

    if (w == NULL)
        return -1;
    qfile_put_time(w, m->env.arrival_sec, m->env.arrival_usec);
    qfile_put_sender(w, m->env.sender);
    for (size_t i = 0; i < m->env.nattrs; i++)
        if (strcmp(m->env.attrs[i].name, "qmgr_expanded") != 0)
            qfile_put_attr(w, m->env.attrs[i].name, m->env.attrs[i].value);
    qfile_put_attr(w, "qmgr_expanded", "1");
    for (size_t i = 0; i < m->env.nrcpts; i++) {
        const struct qfile_rcpt *rec = &m->env.rcpts[i];
        if (rec->done)
            continue;
        for (size_t k = 0; k < exp[i].n; k++) {
            if (strlist_find(&seen, exp[i].v[k], 1) >= 0)
                continue;
            strlist_add(&seen, exp[i].v[k]);
            qfile_put_rcpt(w, exp[i].v[k], rec->orcpt, rec->notify,
                           rec->dsn_orig[0] ? rec->dsn_orig : rec->addr);
        }
    }
    qfile_begin_content(w);
    if (qfile_copy_content(w, m->fd, &m->env, err) == 0 && qfile_commit(w, err) == 0) {
        if (rename(qfile_writer_path(w), m->path) < 0)
            str_printf(err, "rename %s: %s", qfile_writer_path(w), strerror(errno));
        else
            rc = 0;
    } else if (err->len == 0) {
        str_cat(err, qfile_error(w));
    }
    if (rc < 0)
        unlink(qfile_writer_path(w));
    qfile_writer_free(w);
    strlist_free(&seen);
    return rc;
}

/* reload - re-read the envelope of the (rewritten) file at m->path */
static int reload(struct qmgr_msg *m, struct str *err)
{
    int flags = m->env.flags;
    int fd = open(m->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0) {
        str_printf(err, "open %s: %s", m->path, strerror(errno));
        return -1;
    }
    close(m->fd);
    m->fd = fd;
    qfile_env_free(&m->env);
    if (qfile_read_envelope(fd, &m->env, QMGR_RCPT_HARD_MAX, err) < 0)
        return -1;
    if (flags && qfile_set_flags(fd, &m->env, flags) == 0)
        m->env.flags = flags;
    return 0;
}

/* build_rcpts - one qmgr_rcpt per recipient record not yet done */
static void build_rcpts(struct qmgr_msg *m)
{
    struct str c = STR_INIT;

    for (size_t i = 0; i < m->nrcpts; i++) {
        free(m->rcpts[i].addr);
        free(m->rcpts[i].reason);
    }
    free(m->rcpts);
    m->rcpts = NULL;
    m->nrcpts = 0;
    for (size_t i = 0; i < m->env.nrcpts; i++)
        if (!m->env.rcpts[i].done)
            m->nrcpts++;
    m->rcpts = xcalloc(m->nrcpts ? m->nrcpts : 1, sizeof(*m->rcpts));
    for (size_t i = 0, k = 0; i < m->env.nrcpts; i++) {
        if (m->env.rcpts[i].done)
            continue;
        resolve_canon(m->env.rcpts[i].addr, &c);
        m->rcpts[k].addr = xstrdup(c.s);
        m->rcpts[k].rec = i;
        k++;
    }
    str_free(&c);
}

/* expand - virtual alias expansion; rewrites the file when the recipients change.
 * -1: the message could not be rewritten (everything was deferred) */
static int expand(struct qmgr_msg *m)
{
    struct strlist *exp;
    struct str reason = STR_INIT, tempfail = STR_INIT, err = STR_INIT;
    int changed = 0, rc = 0;
    unsigned char *failed;

    if (env_attr_ci(&m->env, "qmgr_expanded", NULL))
        return 0;
    size_t nexp = m->env.nrcpts; /* the rewrite below changes m->env */
    exp = xcalloc(nexp ? nexp : 1, sizeof(*exp));
    failed = xcalloc(m->nrcpts ? m->nrcpts : 1, 1);
    for (size_t i = 0; i < m->nrcpts; i++) {
        size_t rec = m->rcpts[i].rec;
        int r;
        str_reset(&reason);
        r = resolve_expand(m->rcpts[i].addr, &exp[rec], &reason);
        if (r == -1) {
            failed[i] = 1;
            if (tempfail.len == 0)
                str_cpy(&tempfail, reason.s);
            continue;
        }
        if (r == -2) { /* expansion limits: a permanent failure (Postfix: 5.4.6 loop) */
            qmgr_msg_bounce(m, i, "5.4.6", reason.s, "bounced");
            if (m->rcpts[i].state == QR_DONE)
                m->env.rcpts[rec].done = 1;
            continue;
        }
        if (exp[rec].n != 1 || strcmp(exp[rec].v[0], m->rcpts[i].addr) != 0)
            changed = 1;
        for (size_t k = 0; !changed && k < i; k++)
            if (strcasecmp(m->rcpts[k].addr, m->rcpts[i].addr) == 0)
                changed = 1; /* a duplicate recipient */
    }
    if (changed && tempfail.len) {
        for (size_t i = 0; i < m->nrcpts; i++)
            if (m->rcpts[i].state == QR_WAIT)
                qmgr_msg_defer(m, i, "none", "4.3.0", tempfail.s);
        rc = -1;
    } else if (changed) {
        if (write_rewrite(m, exp, &err) < 0 || reload(m, &err) < 0) {
            log_warn("%s: cannot rewrite the queue file: %s", m->id, str_c(&err));
            for (size_t i = 0; i < m->nrcpts; i++)
                if (m->rcpts[i].state == QR_WAIT)
                    qmgr_msg_defer(m, i, "none", "4.3.0", "cannot rewrite the queue file");
            rc = -1;
        } else {
            size_t before = m->nrcpts;
            build_rcpts(m);
            qmgr_active_rcpts += m->nrcpts - before;
        }
    } else if (tempfail.len) {
        for (size_t i = 0; i < m->nrcpts; i++)
            if (failed[i])
                qmgr_msg_defer(m, i, "none", "4.3.0", tempfail.s);
    }
    free(failed);
    for (size_t i = 0; i < nexp; i++)
        strlist_free(&exp[i]);
    free(exp);
    str_free(&reason);
    str_free(&tempfail);
    str_free(&err);
    return rc;
}

/* route_all - queue every waiting recipient for its transport */
static void route_all(struct qmgr_msg *m)
{
    struct resolve_route rt;
    struct str reason = STR_INIT;
    int r;

    resolve_route_init(&rt);
    for (size_t i = 0; i < m->nrcpts; i++) {
        if (m->rcpts[i].state != QR_WAIT)
            continue;
        str_reset(&reason);
        r = resolve_route(m->rcpts[i].addr, &rt, &reason);
        if (r == -2) {
            qmgr_msg_bounce(m, i, "5.1.3", reason.s, "bounced");
            if (m->rcpts[i].state == QR_DONE)
                m->env.rcpts[m->rcpts[i].rec].done = 1;
        } else if (r < 0)
            qmgr_msg_defer(m, i, "none", "4.3.0", reason.s);
        else
            qmgr_sched_add(m, &rt, i);
    }
    resolve_route_free(&rt);
    str_free(&reason);
}

int qmgr_activate(const char *path, const char *id, int from)
{
    struct str err = STR_INIT;
    struct dsnlog deferlog;
    struct qmgr_msg *m;
    struct stat st;
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0) {
        if (errno != ENOENT)
            log_warn("open %s: %s", path, strerror(errno));
        return -1;
    }
    /* an agent still at work on it (its qmgr died) holds a shared lock: later */
    if (from != QM_FROM_INCOMING && flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK)
            log_warn("lock %s: %s", path, strerror(errno));
        close(fd);
        return 0;
    }
    if (!qfile_is_complete(fd)) {
        close(fd);
        if (from == QM_FROM_INCOMING)
            return 0; /* still being written */
        move_corrupt(path, id, "incomplete file");
        return -1;
    }
    m = xcalloc(1, sizeof(*m));
    snprintf(m->id, sizeof(m->id), "%s", id);
    m->path = xasprintf("active/%s", id);
    m->fd = fd;
    m->from = from;
    m->active_us = deliver_now_us();
    if (from != QM_FROM_ACTIVE && rename(path, m->path) < 0) {
        log_warn("%s: move %s to active/: %s", id, path, strerror(errno));
        msg_free(m);
        return -1;
    }
    if (qfile_read_envelope(fd, &m->env, QMGR_RCPT_HARD_MAX, &err) < 0) {
        move_corrupt(m->path, id, str_c(&err));
        msg_free(m);
        str_free(&err);
        return -1;
    }
    str_free(&err);
    build_rcpts(m);
    m->next = active_list;
    if (active_list)
        active_list->prev = m;
    active_list = m;
    qmgr_active_count++;
    qmgr_active_rcpts += m->nrcpts;
    log_info("%s: from=<%s>, size=%llu, nrcpt=%zu (queue active)", id, m->env.sender,
             (unsigned long long)m->env.content_size, m->nrcpts);
    memset(&deferlog, 0, sizeof(deferlog));
    if (from != QM_FROM_INCOMING) {
        struct str lp = STR_INIT;
        dsnlog_path(&lp, "defer", id);
        if (dsnlog_read(lp.s, &deferlog, &err) < 0)
            log_warn("%s: %s", id, str_c(&err));
        if (unlink(lp.s) < 0 && errno != ENOENT)
            log_warn("remove %s: %s", lp.s, strerror(errno));
        str_reset(&lp);
        dsnlog_path(&lp, "bounce", id);
        m->bounce_log = stat(lp.s, &st) == 0 && st.st_size > 0;
        str_free(&lp);
    }
    long long life =
        cfg_time(cfg_main, m->env.sender[0] ? P_maximal_queue_lifetime : P_bounce_queue_lifetime);
    if (from != QM_FROM_INCOMING && time(NULL) - m->env.arrival_sec >= life)
        expire(m, &deferlog);
    else if (expand(m) == 0)
        route_all(m);
    dsnlog_free(&deferlog);
    str_free(&err);
    /* no descriptor stays open for waiting mail: 20,000 active messages must not
     * need 20,000 descriptors; results reopen the file when they need it */
    close(m->fd);
    m->fd = -1;
    m->pending++; /* hold the message while it is being queued */
    qmgr_msg_entry_done(m);
    return 1;
}

void qmgr_msg_shutdown(void)
{
    while (active_list) {
        struct qmgr_msg *m = active_list;
        active_list = m->next;
        if (m->admin != QA_NONE) /* the deliveries in progress had their time */
            qmgr_admin_finish(m, 0);
        msg_free(m);
    }
    qmgr_active_count = qmgr_active_rcpts = 0;
}

struct qmgr_msg *qmgr_msg_first(void)
{
    return active_list;
}
