/*
 * qmgr_dsn.c - delivery status notifications (RFC 3464, RFC 3461, RFC 6522)
 *
 * A notification is a new queue file written into incoming/ (commit order
 * of lib/global/qfile.h, one fsync) with the null sender, from
 * MAILER-DAEMON@$myhostname: multipart/report; report-type=delivery-status
 * with a human-readable part, a message/delivery-status part and the
 * original message (message/rfc822) or only its headers
 * (text/rfc822-headers) per RET and $bounce_size_limit. Kinds: failure
 * (bounced or expired recipients), delay (delay_warning_time), success
 * (NOTIFY=SUCCESS). NOTIFY=NEVER/SUCCESS/DELAY/FAILURE select what is
 * reported (RFC 3461 4.1).
 *
 * Never a bounce of a bounce: a failure of null-sender mail goes once to
 * $2bounce_notice_recipient as a postmaster notice, whose envelope sender
 * is $double_bounce_sender@$myorigin; a failure of such a notice is
 * dropped with a log line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "cfg.h"
#include "log.h"
#include "mem.h"
#include "smtp_parse.h"

#include "qmgr.h"

#define DSN_FIELD_MAX 900 /* keep generated header lines under RFC 5322's 998 */

#define KIND_FAILURE 0
#define KIND_DELAY 1
#define KIND_SUCCESS 2
#define KIND_2BOUNCE 3

void qmgr_rfc822_date(long long t, struct str *out)
{
    char buf[64];
    time_t tt = (time_t)t;
    struct tm tm;

    localtime_r(&tt, &tm);
    strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S %z", &tm);
    str_cat(out, buf);
}

/* clean - a value fit for one header field and for a reader's terminal, bounded:
 * printable() of lib/util/str.h (controls, C1 controls and malformed UTF-8 become '?') */
static void clean(struct str *out, const char *v)
{
    size_t n = strlen(v), start = out->len;

    str_catn(out, v, n < DSN_FIELD_MAX ? n : DSN_FIELD_MAX);
    printable(out->s + start, out->len - start);
}

/* clean_addr - clean() of an internal address in its external (quoted) form */
static void clean_addr(struct str *out, const char *addr)
{
    struct str ext = STR_INIT;

    addr_external(addr, &ext);
    clean(out, str_c(&ext));
    str_free(&ext);
}

/* crlf - append text converting bare LF to CRLF */
static void crlf(struct str *out, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '\n')
            str_catc(out, '\r');
        str_catc(out, *p);
    }
}

/* double_bounce_addr - $double_bounce_sender@$myorigin */
static void double_bounce_addr(struct str *out)
{
    str_printf(out, "%s@%s", cfg_str(cfg_main, P_double_bounce_sender),
               cfg_str(cfg_main, P_myorigin));
}

/* span_text - a duration in words ("3 hour(s)", "5 minute(s)", "20 second(s)") */
static void span_text(struct str *o, long long secs)
{
    if (secs >= 2 * 86400)
        str_printf(o, "%lld day(s)", secs / 86400);
    else if (secs >= 3600)
        str_printf(o, "%lld hour(s)", secs / 3600);
    else if (secs >= 60)
        str_printf(o, "%lld minute(s)", secs / 60);
    else
        str_printf(o, "%lld second(s)", secs < 0 ? 0 : secs);
}

/* human_part - the text/plain part */
static void human_part(struct str *o, int kind, const struct qmgr_msg *m, struct dsnlog_entry **e,
                       size_t n)
{
    const char *host = cfg_str(cfg_main, P_myhostname);

    str_printf(o, "This is the mail system at host %s.\n\n", host);
    switch (kind) {
    case KIND_FAILURE:
        str_cat(o, "I'm sorry to have to inform you that your message could not\n"
                   "be delivered to one or more recipients. It's attached below.\n\n"
                   "For further assistance, please send mail to postmaster.\n\n"
                   "If you do so, please include this problem report. You can\n"
                   "delete your own text from the attached returned message.\n\n");
        break;
    case KIND_2BOUNCE:
        str_printf(o,
                   "A delivery status notification (queue ID %s) could not be\n"
                   "delivered. Its report and headers are attached. It will not be\n"
                   "returned again.\n\n",
                   m->id);
        break;
    case KIND_DELAY: {
        long long age = time(NULL) - m->env.arrival_sec;
        long long life = cfg_time(cfg_main, P_maximal_queue_lifetime);
        str_cat(o, "####################################################################\n"
                   "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n"
                   "####################################################################\n\n");
        str_cat(o, "Your message could not be delivered for ");
        span_text(o, age);
        str_cat(o, ".\nIt will be retried until it is ");
        span_text(o, life);
        str_cat(o, " old.\n\n");
        break;
    }
    default:
        str_cat(o, "Your message was successfully delivered to the destination(s)\n"
                   "listed below. If the message was delivered to mailbox you will\n"
                   "receive no further notifications. Otherwise you may still receive\n"
                   "notifications of mail delivery errors from other systems.\n\n");
    }
    str_cat(o, "                   The mail system\n\n");
    for (size_t i = 0; i < n; i++) {
        str_cat(o, "<");
        clean_addr(o, e[i]->rcpt);
        str_cat(o, ">");
        if (e[i]->orig[0] && strcasecmp(e[i]->orig, e[i]->rcpt) != 0) {
            str_cat(o, " (expanded from <");
            clean_addr(o, e[i]->orig);
            str_cat(o, ">)");
        }
        str_cat(o, ": ");
        clean(o, e[i]->reason);
        str_cat(o, "\n\n");
    }
}

/* status_part - the message/delivery-status part (RFC 3464 2.2, 2.3) */
static void status_part(struct str *o, int kind, const struct qmgr_msg *m, struct dsnlog_entry **e,
                        size_t n)
{
    const char *envid = NULL;

    for (size_t i = 0; i < m->env.nattrs; i++)
        if (strcasecmp(m->env.attrs[i].name, "envid") == 0 ||
            strcasecmp(m->env.attrs[i].name, "dsn_envid") == 0)
            envid = m->env.attrs[i].value;
    str_printf(o, "Reporting-MTA: dns; %s\n", cfg_str(cfg_main, P_myhostname));
    str_printf(o, "X-Petrel-Queue-ID: %s\n", m->id);
    str_cat(o, "X-Petrel-Sender: rfc822; ");
    clean_addr(o, m->env.sender);
    str_cat(o, "\nArrival-Date: ");
    qmgr_rfc822_date(m->env.arrival_sec, o);
    str_cat(o, "\n");
    if (envid && *envid) {
        str_cat(o, "Original-Envelope-Id: ");
        clean(o, envid);
        str_cat(o, "\n");
    }
    for (size_t i = 0; i < n; i++) {
        str_cat(o, "\nFinal-Recipient: rfc822; ");
        clean_addr(o, e[i]->rcpt);
        str_cat(o, "\n");
        if (e[i]->orcpt[0] && strchr(e[i]->orcpt, ';')) {
            str_cat(o, "Original-Recipient: ");
            clean(o, e[i]->orcpt);
            str_cat(o, "\n");
        }
        str_printf(o, "Action: %s\n", kind == KIND_DELAY ? "delayed" : e[i]->action);
        str_cat(o, "Status: ");
        clean(o, e[i]->dsn);
        str_cat(o, "\n");
        if (e[i]->remote_mta[0]) {
            str_cat(o, "Remote-MTA: ");
            clean(o, e[i]->remote_mta);
            str_cat(o, "\n");
        }
        str_cat(o, "Diagnostic-Code: ");
        if (e[i]->diag[0]) {
            clean(o, e[i]->diag);
        } else {
            str_cat(o, "X-Petrel; ");
            clean(o, e[i]->reason);
        }
        str_cat(o, "\n");
        if (kind == KIND_DELAY) {
            long long life = cfg_time(cfg_main, P_maximal_queue_lifetime);
            str_cat(o, "Will-Retry-Until: ");
            qmgr_rfc822_date(m->env.arrival_sec + life, o);
            str_cat(o, "\n");
        }
    }
}

/* header_end - length of the header section (up to and including its last line), -1
 * when the empty line that ends it is not in buf yet */
static long header_end(const struct str *b)
{
    if (b->len >= 2 && b->s[0] == '\r' && b->s[1] == '\n')
        return 0;
    for (size_t i = 0; i + 1 < b->len; i++) {
        if (b->s[i] != '\n')
            continue;
        if (b->s[i + 1] == '\n' || (b->s[i + 1] == '\r' && i + 2 < b->len && b->s[i + 2] == '\n'))
            return (long)i + 1;
    }
    return -1;
}

/* original_part - the returned message or its headers, copied from the queue file */
static int original_part(struct qfile_writer *w, const struct qmgr_msg *m, int full,
                         long long limit, struct str *err)
{
    struct qfile_content c;
    struct str chunk = STR_INIT, body = STR_INIT;
    int r, eightbit = 0;

    /* read what will be returned: all of it, or the header section (bounded) */
    int fd = qmgr_msg_open((struct qmgr_msg *)m, O_RDONLY);
    if (fd < 0) {
        str_printf(err, "open %s: %s", m->path, strerror(errno));
        return -1;
    }
    qfile_content_init(&c, fd, &m->env);
    while ((r = qfile_content_next(&c, &chunk, err)) > 0) {
        str_catn(&body, chunk.s, chunk.len);
        if (!full) {
            long end = header_end(&body);
            if (end >= 0) {
                str_truncate(&body, (size_t)end);
                break;
            }
        }
        if ((long long)body.len > limit) {
            str_truncate(&body, (size_t)limit);
            break;
        }
    }
    str_free(&chunk);
    close(fd);
    if (r < 0) {
        str_free(&body);
        return -1;
    }
    for (size_t i = 0; i < body.len && !eightbit; i++)
        eightbit = (unsigned char)body.s[i] >= 0x80;
    struct str h = STR_INIT;
    str_printf(&h, "Content-Description: %s\r\nContent-Type: %s\r\n%s\r\n",
               full ? "Undelivered Message" : "Message Headers",
               full ? "message/rfc822" : "text/rfc822-headers",
               eightbit ? "Content-Transfer-Encoding: 8bit\r\n" : "");
    qfile_write(w, h.s, h.len);
    qfile_write(w, body.s, body.len);
    if (body.len && body.s[body.len - 1] != '\n')
        qfile_write(w, "\r\n", 2);
    str_free(&h);
    str_free(&body);
    return 0;
}

/* is_8bit - whether a string has bytes outside ASCII */
static int is_8bit(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v >= 0x80)
            return 1;
    return 0;
}

/* needs_smtputf8 - whether a notification carries UTF-8 addresses (RFC 6531 3.7.5):
 * its recipient, the reported ones, or an SMTPUTF8 original in its headers */
static int needs_smtputf8(struct qmgr_msg *m, const char *rcpt, struct dsnlog_entry **e, size_t n)
{
    if (is_8bit(rcpt) || is_8bit(m->env.sender) || qfile_env_attr(&m->env, "smtputf8"))
        return 1;
    for (size_t i = 0; i < n; i++)
        if (is_8bit(e[i]->rcpt) || is_8bit(e[i]->orig))
            return 1;
    return 0;
}

/* write_dsn - one notification to rcpt; the new queue ID into newid */
static int write_dsn(struct qmgr_msg *m, int kind, const char *rcpt, struct dsnlog_entry **e,
                     size_t n, struct str *newid)
{
    static const char *subjects[] = {
        "Undelivered Mail Returned to Sender", "Delayed Mail (still being retried)",
        "Successful Mail Delivery Report", "Postmaster Copy: Undelivered Mail"};
    const char *host = cfg_str(cfg_main, P_myhostname);
    struct str err = STR_INIT, o = STR_INIT, text = STR_INIT, sender = STR_INIT;
    struct qfile_writer *w = qfile_create("incoming", &err);
    const char *ret = NULL, *body = qfile_env_attr(&m->env, "body");
    long long limit = cfg_size(cfg_main, P_bounce_size_limit);
    int full, rc = -1;
    struct timespec ts;

    if (w == NULL) {
        log_warn("%s: cannot create a notification: %s", m->id, str_c(&err));
        str_free(&err);
        return -1;
    }
    for (size_t i = 0; i < m->env.nattrs; i++)
        if (strcasecmp(m->env.attrs[i].name, "ret") == 0 ||
            strcasecmp(m->env.attrs[i].name, "dsn_ret") == 0)
            ret = m->env.attrs[i].value;
    full = kind == KIND_FAILURE && smtp_parse_ret(ret) != SMTP_RET_HDRS &&
           (long long)m->env.content_size <= limit;
    clock_gettime(CLOCK_REALTIME, &ts);
    qfile_put_time(w, ts.tv_sec, ts.tv_nsec / 1000);
    if (kind == KIND_2BOUNCE)
        double_bounce_addr(&sender);
    qfile_put_sender(w, str_c(&sender));
    qfile_put_attr(w, "dsn_kind",
                   kind == KIND_FAILURE   ? "failure"
                   : kind == KIND_DELAY   ? "delay"
                   : kind == KIND_SUCCESS ? "success"
                                          : "2bounce");
    qfile_put_attr(w, "dsn_for", m->id);
    if (needs_smtputf8(m, rcpt, e, n)) /* the next hop must announce SMTPUTF8 */
        qfile_put_attr(w, "smtputf8", "1");
    if (body && strcasecmp(body, "8BITMIME") == 0) /* the returned original stays 8-bit */
        qfile_put_attr(w, "body", "8BITMIME");
    qfile_put_rcpt(w, rcpt, NULL, QNOTIFY_NEVER, NULL);
    qfile_begin_content(w);
    /* headers */
    str_printf(&o, "Received: by %s (%s) id %s; ", host, cfg_str(cfg_main, P_mail_name),
               qfile_writer_id(w));
    qmgr_rfc822_date(ts.tv_sec, &o);
    str_printf(&o, "\r\nDate: ");
    qmgr_rfc822_date(ts.tv_sec, &o);
    str_printf(&o, "\r\nFrom: MAILER-DAEMON@%s (Mail Delivery System)\r\n", host);
    str_printf(&o, "Subject: %s\r\nTo: ", subjects[kind]);
    clean_addr(&o, rcpt);
    str_printf(&o,
               "\r\nAuto-Submitted: auto-replied\r\n"
               "Message-Id: <%s@%s>\r\nMIME-Version: 1.0\r\n"
               "Content-Type: multipart/report; report-type=delivery-status;\r\n"
               "\tboundary=\"%s/%s\"\r\n"
               "Content-Transfer-Encoding: 8bit\r\n\r\n"
               "This is a MIME-encapsulated message.\r\n\r\n",
               qfile_writer_id(w), host, qfile_writer_id(w), host);
    str_printf(&o,
               "--%s/%s\r\nContent-Description: Notification\r\n"
               "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
               qfile_writer_id(w), host);
    human_part(&text, kind, m, e, n);
    crlf(&o, text.s);
    str_reset(&text);
    str_printf(&o,
               "--%s/%s\r\nContent-Description: Delivery report\r\n"
               "Content-Type: message/delivery-status\r\n\r\n",
               qfile_writer_id(w), host);
    status_part(&text, kind, m, e, n);
    crlf(&o, text.s);
    str_printf(&o, "\r\n--%s/%s\r\n", qfile_writer_id(w), host);
    qfile_write(w, o.s, o.len);
    if (original_part(w, m, full, limit, &err) == 0) {
        str_reset(&o);
        str_printf(&o, "\r\n--%s/%s--\r\n", qfile_writer_id(w), host);
        qfile_write(w, o.s, o.len);
        if (qfile_commit(w, &err) == 0) {
            str_cpy(newid, qfile_writer_id(w));
            rc = 0;
        }
    }
    if (rc < 0)
        log_warn("%s: cannot write a notification: %s%s", m->id, str_c(&err), qfile_error(w));
    qfile_writer_free(w);
    str_free(&err);
    str_free(&o);
    str_free(&text);
    str_free(&sender);
    return rc;
}

/* wants - whether an entry is to be reported under NOTIFY (RFC 3461 4.1) */
static int wants(const struct dsnlog_entry *e)
{
    int failed = strcmp(e->action, "failed") == 0;

    if (e->notify & QNOTIFY_NEVER)
        return 0;
    if (failed)
        return e->notify == 0 || (e->notify & QNOTIFY_FAILURE);
    return (e->notify & QNOTIFY_SUCCESS) != 0;
}

/* send_group - notifications for the entries going to one address */
static int send_group(struct qmgr_msg *m, const char *to, struct dsnlog_entry **e, size_t n,
                      int kind)
{
    struct str newid = STR_INIT;
    int rc = write_dsn(m, kind, to, e, n, &newid);

    if (rc == 0) {
        log_info("%s: %s notification: %s", m->id,
                 kind == KIND_FAILURE   ? "sender non-delivery"
                 : kind == KIND_DELAY   ? "sender delay"
                 : kind == KIND_SUCCESS ? "sender delivery status"
                                        : "postmaster non-delivery",
                 newid.s);
        qmgr_kick_incoming();
    }
    str_free(&newid);
    return rc;
}

int qmgr_dsn_flush(struct qmgr_msg *m)
{
    struct dsnlog log;
    struct str path = STR_INIT, err = STR_INIT, dbl = STR_INIT;
    struct dsnlog_entry **sel;
    int rc = 0;
    int is_2bounce;

    dsnlog_path(&path, "bounce", m->id);
    if (dsnlog_read(path.s, &log, &err) < 0) {
        log_warn("%s: %s", m->id, str_c(&err));
        str_free(&path);
        str_free(&err);
        return -1;
    }
    double_bounce_addr(&dbl);
    is_2bounce = strcasecmp(m->env.sender, dbl.s) == 0;
    sel = xcalloc(log.n ? log.n : 1, sizeof(*sel));
    /* one notification per destination address (the sender or an owner- alias) */
    for (size_t i = 0; i < log.n && rc == 0; i++) {
        const char *to = log.e[i].dsn_to[0] ? log.e[i].dsn_to : m->env.sender;
        size_t n = 0;
        int any_failed = 0, seen = 0;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcasecmp(log.e[k].dsn_to[0] ? log.e[k].dsn_to : m->env.sender, to) == 0;
        if (seen)
            continue;
        for (size_t k = i; k < log.n; k++) {
            const char *tk = log.e[k].dsn_to[0] ? log.e[k].dsn_to : m->env.sender;
            if (strcasecmp(tk, to) != 0)
                continue;
            if (*to == '\0' || is_2bounce) { /* null sender: failures only, no NOTIFY */
                if (strcmp(log.e[k].action, "failed") != 0)
                    continue;
            } else if (!wants(&log.e[k])) {
                continue;
            }
            any_failed |= strcmp(log.e[k].action, "failed") == 0;
            sel[n++] = &log.e[k];
        }
        if (n == 0)
            continue;
        if (is_2bounce && strcasecmp(to, m->env.sender) == 0) {
            for (size_t k = 0; k < n; k++)
                log_info("%s: double bounce to <%s> dropped: %s", m->id, sel[k]->rcpt,
                         sel[k]->reason);
            continue;
        }
        if (*to == '\0')
            rc = send_group(m, cfg_str(cfg_main, P_2bounce_notice_recipient), sel, n, KIND_2BOUNCE);
        else
            rc = send_group(m, to, sel, n, any_failed ? KIND_FAILURE : KIND_SUCCESS);
    }
    free(sel);
    dsnlog_free(&log);
    if (rc == 0 && unlink(path.s) < 0)
        log_warn("remove %s: %s", path.s, strerror(errno));
    str_free(&path);
    str_free(&err);
    str_free(&dbl);
    return rc;
}

int qmgr_dsn_delay(struct qmgr_msg *m)
{
    struct dsnlog_entry *ents, **sel;
    size_t n = 0;
    int rc = 0;

    ents = xcalloc(m->nrcpts ? m->nrcpts : 1, sizeof(*ents));
    sel = xcalloc(m->nrcpts ? m->nrcpts : 1, sizeof(*sel));
    for (size_t i = 0; i < m->nrcpts; i++) {
        const struct qmgr_rcpt *r = &m->rcpts[i];
        const struct qfile_rcpt *rec = &m->env.rcpts[r->rec];
        if (r->state != QR_DEFER || (rec->notify & QNOTIFY_NEVER) ||
            (rec->notify && !(rec->notify & QNOTIFY_DELAY)))
            continue;
        dsnlog_entry_set(&ents[n], r->addr, rec->dsn_orig[0] ? rec->dsn_orig : rec->addr,
                         rec->orcpt, rec->notify, (long long)rec->offset, r->dsn, "delayed",
                         r->reason);
        sel[n] = &ents[n];
        n++;
    }
    if (n > 0)
        rc = send_group(m, m->env.sender, sel, n, KIND_DELAY);
    for (size_t i = 0; i < n; i++)
        dsnlog_entry_free(&ents[i]);
    free(ents);
    free(sel);
    return rc;
}
