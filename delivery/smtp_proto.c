/*
 * smtp_proto.c - server replies and one mail transaction
 *
 * Replies (RFC 5321 4.2) are read line by line with hard limits: each line
 * at most $smtp_reply_line_length_limit bytes, at most
 * $smtp_reply_line_count_limit lines, the same three-digit code on every
 * line, each read within the stage's timeout. Anything else is a protocol
 * error that ends the session (its recipients stay pending for the next
 * server). The enhanced status code (RFC 3463) is taken from the reply when
 * it is given and fits the reply's class, else derived from the class.
 *
 * A transaction sends RSET first on a reused session, then MAIL FROM, the
 * RCPTs and DATA. With PIPELINING (RFC 2920) they go out in batches (MAIL
 * and the RCPTs in groups of PIPELINE_GROUP commands, DATA last in the
 * final group) and the replies are read in order, as Postfix's client
 * does; without it, one command at a time. Per recipient: 2xx accepted,
 * 5xx bounced at once, 4xx pending (tried at the next server, deferred
 * after the last). 421 or a broken connection ends the session.
 *
 * The content is the queue file's, sent with CRLF line ends (bare CR and
 * bare LF become CRLF, so no line end is ambiguous at the next hop),
 * leading dots doubled (RFC 5321 4.5.2), lines longer than
 * $smtp_line_length_limit broken (header lines folded with CRLF SP), and
 * CRLF.CRLF at the end.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"
#include "mem.h"
#include "addr.h"
#include "smtp_parse.h"
#include "smtp_text.h"

#include "smtp.h"

#define PIPELINE_GROUP 100 /* commands written before their replies are read */

void smtp_why_init(struct smtp_why *why)
{
    memset(why, 0, sizeof(*why));
    str_init(&why->text);
    str_init(&why->diag);
    str_init(&why->relay);
}

void smtp_why_free(struct smtp_why *why)
{
    str_free(&why->text);
    str_free(&why->diag);
    str_free(&why->relay);
}

void smtp_why_set(struct smtp_why *why, int status, const char *dsn, const char *fmt, ...)
{
    va_list ap;

    why->status = status;
    snprintf(why->dsn, sizeof(why->dsn), "%s", dsn);
    str_reset(&why->text);
    str_reset(&why->diag);
    str_reset(&why->relay);
    va_start(ap, fmt);
    str_vprintf(&why->text, fmt, ap);
    va_end(ap);
}

void smtp_reply_init(struct smtp_reply *r)
{
    memset(r, 0, sizeof(*r));
    str_init(&r->text);
    str_init(&r->last);
    strlist_init(&r->lines);
}

void smtp_reply_free(struct smtp_reply *r)
{
    str_free(&r->text);
    str_free(&r->last);
    strlist_free(&r->lines);
}

/* enhanced_code - an RFC 3463 code at the start of text fitting class c into out;
 * 1 when found */
static int enhanced_code(const char *text, int c, char *out, size_t outlen)
{
    const char *p = text;
    int parts = 0;

    if (*p != c || p[1] != '.')
        return 0;
    p += 2;
    for (parts = 1; parts < 3; parts++) {
        size_t n = 0;
        while (p[n] >= '0' && p[n] <= '9' && n < 4)
            n++;
        if (n == 0 || n > 3)
            return 0;
        p += n;
        if (parts == 1) {
            if (*p != '.')
                return 0;
            p++;
        }
    }
    if (*p != ' ' && *p != '\0')
        return 0;
    if ((size_t)(p - text) >= outlen)
        return 0;
    memcpy(out, text, (size_t)(p - text));
    out[p - text] = '\0';
    return 1;
}

/* io_failure - why for a broken read or write */
static void io_failure(struct smtp_why *why, const struct smtp_session *ss, int code,
                       const char *what)
{
    if (code == STREAM_TIMEOUT)
        smtp_why_set(why, DELIVER_DEFERRED, "4.4.2", "conversation with %s timed out while %s",
                     str_c(&ss->relay), what);
    else
        smtp_why_set(why, DELIVER_DEFERRED, "4.4.2", "lost connection with %s while %s",
                     str_c(&ss->relay), what);
}

int smtp_read_reply(struct smtp_session *ss, struct smtp_reply *r, const char *stage,
                    struct smtp_why *why)
{
    size_t limit = (size_t)cfg_int(cfg_main, P_smtp_reply_line_length_limit);
    long long max_lines = cfg_int(cfg_main, P_smtp_reply_line_count_limit);
    struct str line = STR_INIT, what = STR_INIT;
    int rc = -1, code = 0;

    r->code = 0;
    str_reset(&r->text);
    str_reset(&r->last);
    strlist_free(&r->lines);
    str_printf(&what, "receiving the reply to the %s", stage);
    for (long long n = 0;; n++) {
        int g = stream_getline(ss->s, &line, limit + 2); /* the limit excludes CRLF */
        if (g == STREAM_OK && str_chomp(&line) == 0)
            g = STREAM_EOF; /* a last line cut short: the connection ended */
        if (g == STREAM_OK && line.len > limit)
            g = STREAM_TOOLONG;
        if (g == STREAM_TOOLONG || (g == STREAM_OK && n >= max_lines)) {
            smtp_why_set(why, DELIVER_DEFERRED, "4.5.0",
                         "protocol error with %s: %s (in reply to %s)", str_c(&ss->relay),
                         g == STREAM_TOOLONG ? "reply line too long" : "too many reply lines",
                         stage);
            goto out;
        }
        if (g != STREAM_OK) {
            io_failure(why, ss, g, what.s);
            goto out;
        }
        const char *l = str_c(&line);
        if (line.len < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '9' || l[2] < '0' ||
            l[2] > '9' || (line.len > 3 && l[3] != ' ' && l[3] != '-') ||
            (code && atoi(l) != code) || memchr(l, '\0', line.len)) {
            struct str safe = STR_INIT;
            smtp_why_set(why, DELIVER_DEFERRED, "4.5.0",
                         "protocol error with %s: malformed reply \"%s\" (in reply to %s)",
                         str_c(&ss->relay), safe_text(&safe, l, line.len > 80 ? 80 : line.len),
                         stage);
            str_free(&safe);
            goto out;
        }
        code = atoi(l);
        /* the text goes on to the log, defer/ logs, mailq and DSNs: kept printable() from
         * here on, so that a server cannot reach an admin's terminal (issue #13) */
        printable(line.s, line.len);
        if (r->text.len)
            str_catc(&r->text, ' ');
        str_catn(&r->text, l, line.len);
        strlist_add(&r->lines, line.len > 4 ? l + 4 : "");
        if (line.len <= 3 || l[3] == ' ') {
            str_cpy(&r->last, line.len > 4 ? l + 4 : "");
            break;
        }
    }
    r->code = code;
    if (!enhanced_code(r->last.s, '0' + code / 100, r->dsn, sizeof(r->dsn)))
        snprintf(r->dsn, sizeof(r->dsn), "%d.0.0", code / 100);
    rc = 0;
out:
    str_free(&line);
    str_free(&what);
    return rc;
}

int smtp_cmd(struct smtp_session *ss, int timeout, struct smtp_reply *r, const char *stage,
             struct smtp_why *why, const char *fmt, ...)
{
    va_list ap;
    struct str cmd = STR_INIT, what = STR_INIT;
    int w;

    va_start(ap, fmt);
    str_vprintf(&cmd, fmt, ap);
    va_end(ap);
    str_cat(&cmd, "\r\n");
    stream_set_timeout(ss->s, timeout);
    w = stream_write(ss->s, cmd.s, cmd.len);
    if (w == STREAM_OK)
        w = stream_flush(ss->s);
    str_free(&cmd);
    if (w != STREAM_OK) {
        str_printf(&what, "sending the %s", stage);
        io_failure(why, ss, w, what.s);
        str_free(&what);
        return -1;
    }
    return smtp_read_reply(ss, r, stage, why);
}

void smtp_why_reply(struct smtp_why *why, const struct smtp_session *ss, const struct smtp_reply *r,
                    const char *stage)
{
    const char *dsn = r->dsn;
    char soft[16];

    if (r->code < 400) {
        /* a success where a failure belongs, or the reverse: the server is confused */
        snprintf(soft, sizeof(soft), "4.5.0");
        dsn = soft;
    }
    smtp_why_set(why, r->code >= 500 ? DELIVER_BOUNCED : DELIVER_DEFERRED, dsn,
                 "host %s said: %s (in reply to %s)", str_c(&ss->relay), str_c(&r->text), stage);
    str_printf(&why->diag, "smtp; %s", str_c(&r->text));
}

/* ------------------------------------------------------------------ transaction */

#define K_RSET 0
#define K_MAIL 1
#define K_RCPT 2
#define K_DATA 3

struct xact {
    struct smtp_session *ss;
    struct smtp_msg *msg;
    struct smtp_why *why;
    int kinds[PIPELINE_GROUP + 3];
    size_t rcpt_of[PIPELINE_GROUP + 3];
    size_t nq;
    int mail_read, mail_ok;
    size_t naccepted;
    int broken;     /* the session is unusable */
    int data_reply; /* the DATA reply was read: its code */
    struct smtp_reply reply;
};

static const char *stage_name(int kind)
{
    return kind == K_RSET   ? "RSET command"
           : kind == K_MAIL ? "MAIL FROM command"
           : kind == K_RCPT ? "RCPT TO command"
                            : "DATA command";
}

/* rcpt_note - the latest outcome of recipient i (final: settled, else pending) */
static void rcpt_note(struct smtp_msg *msg, size_t i, const struct smtp_why *why, int final,
                      const struct smtp_session *ss)
{
    struct smtp_rcpt *rc = &msg->rcpts[i];

    rc->status = why->status;
    snprintf(rc->dsn, sizeof(rc->dsn), "%s", why->dsn);
    str_cpy(&rc->reason, str_c(&why->text));
    str_cpy(&rc->diag, str_c(&why->diag));
    str_cpy(&rc->relay, ss ? str_c(&ss->relay) : "");
    rc->state = final ? SMTP_R_DONE : SMTP_R_PENDING;
}

/* fail_accepted - a reply or failure that applies to every accepted recipient */
static void fail_accepted(struct xact *x, const struct smtp_why *why)
{
    for (size_t i = 0; i < x->msg->req->nrcpts; i++)
        if (x->msg->rcpts[i].state == SMTP_R_ACCEPTED)
            rcpt_note(x->msg, i, why, why->status == DELIVER_BOUNCED, x->ss);
    x->naccepted = 0;
}

/* queue_cmd - write one command of the batch */
static int queue_cmd(struct xact *x, int kind, size_t rcpt, const char *line)
{
    x->kinds[x->nq] = kind;
    x->rcpt_of[x->nq++] = rcpt;
    if (stream_puts(x->ss->s, line) != STREAM_OK || stream_puts(x->ss->s, "\r\n") != STREAM_OK)
        return -1;
    return 0;
}

/* session_broken - the session failed: accepted recipients become pending again with why */
static void session_broken(struct xact *x)
{
    x->broken = 1;
    for (size_t i = 0; i < x->msg->req->nrcpts; i++)
        if (x->msg->rcpts[i].state == SMTP_R_ACCEPTED || x->msg->rcpts[i].state == SMTP_R_PENDING)
            rcpt_note(x->msg, i, x->why, 0, x->ss);
}

/* timeout_for - the stage timeout of a command's reply */
static int timeout_for(int kind)
{
    enum cfg_time_param p = kind == K_RSET || kind == K_MAIL ? P_smtp_mail_timeout
                            : kind == K_RCPT                 ? P_smtp_rcpt_timeout
                                                             : P_smtp_data_init_timeout;
    return (int)cfg_time(cfg_main, p);
}

/* one_reply - read and apply the reply to queued command k; -1 when the session broke */
static int one_reply(struct xact *x, size_t k)
{
    int kind = x->kinds[k];
    struct smtp_reply *r = &x->reply;
    struct smtp_why w;

    stream_set_timeout(x->ss->s, timeout_for(kind));
    if (smtp_read_reply(x->ss, r, stage_name(kind), x->why) < 0) {
        session_broken(x);
        return -1;
    }
    smtp_why_init(&w);
    if (r->code == 421) {
        smtp_why_reply(x->why, x->ss, r, stage_name(kind));
        x->why->status = DELIVER_DEFERRED;
        x->why->dsn[0] = '4';
        session_broken(x);
        smtp_why_free(&w);
        return -1;
    }
    switch (kind) {
    case K_RSET:
        if (r->code / 100 != 2) {
            smtp_why_reply(x->why, x->ss, r, stage_name(kind));
            x->why->status = DELIVER_DEFERRED;
            x->why->dsn[0] = '4';
            session_broken(x);
            smtp_why_free(&w);
            return -1;
        }
        break;
    case K_MAIL:
        x->mail_read = 1;
        x->mail_ok = r->code / 100 == 2;
        if (!x->mail_ok) {
            smtp_why_reply(&w, x->ss, r, stage_name(kind));
            for (size_t i = 0; i < x->msg->req->nrcpts; i++)
                if (x->msg->rcpts[i].state == SMTP_R_PENDING)
                    rcpt_note(x->msg, i, &w, w.status == DELIVER_BOUNCED, x->ss);
        }
        break;
    case K_RCPT:
        if (!x->mail_ok)
            break;
        if (r->code / 100 == 2) {
            x->msg->rcpts[x->rcpt_of[k]].state = SMTP_R_ACCEPTED;
            x->naccepted++;
        } else {
            smtp_why_reply(&w, x->ss, r, stage_name(kind));
            rcpt_note(x->msg, x->rcpt_of[k], &w, w.status == DELIVER_BOUNCED, x->ss);
        }
        break;
    default:
        x->data_reply = r->code;
        if (r->code != 354 && x->naccepted > 0) {
            smtp_why_reply(&w, x->ss, r, stage_name(kind));
            fail_accepted(x, &w);
        }
        break;
    }
    smtp_why_free(&w);
    return 0;
}

/* flush_batch - send the queued commands and apply their replies in order */
static int flush_batch(struct xact *x)
{
    int w;

    stream_set_timeout(x->ss->s, timeout_for(x->kinds[0]));
    if ((w = stream_flush(x->ss->s)) != STREAM_OK) {
        io_failure(x->why, x->ss, w, "sending commands");
        session_broken(x);
        return -1;
    }
    for (size_t k = 0; k < x->nq; k++)
        if (one_reply(x, k) < 0)
            return -1;
    x->nq = 0;
    return 0;
}

/* mail_from - the MAIL FROM command with its parameters (RFC 1870, 6152, 6531, 3461) */
static void mail_from(struct xact *x, struct str *cmd)
{
    const struct smtp_msg *m = x->msg;
    int f = x->ss->features;

    str_cpy(cmd, "MAIL FROM:<");
    addr_external(m->req->sender, cmd);
    str_catc(cmd, '>');
    if (f & SMTP_F_SIZE)
        str_printf(cmd, " SIZE=%llu", smtp_msg_size(m));
    if ((f & SMTP_F_8BITMIME) && m->eightbit)
        str_cat(cmd, " BODY=8BITMIME");
    if ((f & SMTP_F_SMTPUTF8) && m->need_smtputf8)
        str_cat(cmd, " SMTPUTF8");
    if (f & SMTP_F_DSN) {
        if (m->req->ret[0])
            str_printf(cmd, " RET=%s", m->req->ret);
        if (m->req->envid[0]) {
            str_cat(cmd, " ENVID=");
            smtp_xtext_encode(m->req->envid, strlen(m->req->envid), cmd);
        }
    }
}

/* rcpt_to - the RCPT TO command of recipient i, with NOTIFY and ORCPT for DSN servers */
static void rcpt_to(struct xact *x, size_t i, struct str *cmd)
{
    const struct deliver_rcpt *rc = &x->msg->req->rcpts[i];

    str_cpy(cmd, "RCPT TO:<");
    addr_external(rc->addr, cmd);
    str_catc(cmd, '>');
    if (!(x->ss->features & SMTP_F_DSN))
        return;
    if (rc->notify) {
        str_cat(cmd, " NOTIFY=");
        smtp_format_notify(rc->notify, cmd);
    }
    const char *semi = strchr(rc->orcpt, ';');
    if (semi && semi > rc->orcpt) {
        str_cat(cmd, " ORCPT=");
        smtp_format_orcpt(rc->orcpt, cmd);
    } else if (rc->orig[0]) {
        /* RFC 3461 4.2: the original recipient as received */
        struct str q = STR_INIT;
        addr_external(rc->orig, &q);
        str_cat(cmd, " ORCPT=rfc822;");
        smtp_xtext_encode(q.s, q.len, cmd);
        str_free(&q);
    }
}

/* content_writer state */
struct cw {
    struct str out;
    int bol, cr, in_header;
    size_t linelen, limit;
};

/* cw_eol - end of a line */
static void cw_eol(struct cw *c)
{
    str_catn(&c->out, "\r\n", 2);
    if (c->linelen == 0)
        c->in_header = 0;
    c->bol = 1;
    c->linelen = 0;
}

/* cw_text - a run of bytes without CR or LF, with line breaks at the limit */
static void cw_text(struct cw *c, const char *p, size_t n)
{
    while (n > 0) {
        if (c->limit && c->linelen >= c->limit) {
            str_catn(&c->out, c->in_header ? "\r\n " : "\r\n", c->in_header ? 3 : 2);
            c->linelen = c->in_header ? 1 : 0;
            c->bol = !c->in_header;
        }
        if (c->bol && p[0] == '.')
            str_catc(&c->out, '.'); /* RFC 5321 4.5.2 */
        c->bol = 0;
        size_t take = c->limit ? c->limit - c->linelen : n;
        if (take > n)
            take = n;
        str_catn(&c->out, p, take);
        c->linelen += take;
        p += take;
        n -= take;
    }
}

/* cw_chunk - convert one chunk of content */
static void cw_chunk(struct cw *c, const char *p, size_t n)
{
    size_t i = 0;

    while (i < n) {
        if (c->cr) {
            c->cr = 0;
            cw_eol(c);
            if (p[i] == '\n') {
                i++;
                continue;
            }
        }
        if (p[i] == '\r') {
            c->cr = 1;
            i++;
            continue;
        }
        if (p[i] == '\n') {
            cw_eol(c);
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && p[j] != '\r' && p[j] != '\n')
            j++;
        cw_text(c, p + i, j - i);
        i = j;
    }
}

/* send_content - the message content and the final dot */
static int send_content(struct xact *x)
{
    struct qfile_content qc;
    struct str chunk = STR_INIT, err = STR_INIT;
    struct cw c;
    int r, rc = -1, w = STREAM_OK;

    memset(&c, 0, sizeof(c));
    str_init(&c.out);
    c.bol = c.in_header = 1;
    c.limit = (size_t)cfg_int(cfg_main, P_smtp_line_length_limit);
    stream_set_timeout(x->ss->s, (int)cfg_time(cfg_main, P_smtp_data_xfer_timeout));
    qfile_content_init(&qc, x->msg->qfd, &x->msg->env);
    if (x->msg->send) { /* converted for this server (smtp.c downgrade) */
        const struct str *b = x->msg->send;
        for (size_t off = 0; off < b->len && w == STREAM_OK; off += QFILE_CHUNK) {
            str_reset(&c.out);
            cw_chunk(&c, b->s + off, b->len - off < QFILE_CHUNK ? b->len - off : QFILE_CHUNK);
            w = stream_write(x->ss->s, c.out.s, c.out.len);
        }
        r = 0;
    } else {
        while ((r = qfile_content_next(&qc, &chunk, &err)) > 0 && w == STREAM_OK) {
            str_reset(&c.out);
            cw_chunk(&c, chunk.s, chunk.len);
            w = stream_write(x->ss->s, c.out.s, c.out.len);
        }
    }
    if (r < 0) {
        /* the queue file is damaged: nothing can be sent, and the session is mid-DATA */
        log_warn("%s: %s", x->msg->req->queue_id, str_c(&err));
        smtp_why_set(x->why, DELIVER_DEFERRED, "4.3.0", "cannot read the queue file: %s",
                     str_c(&err));
        for (size_t i = 0; i < x->msg->req->nrcpts; i++)
            if (x->msg->rcpts[i].state == SMTP_R_ACCEPTED)
                rcpt_note(x->msg, i, x->why, 1, x->ss);
        x->broken = 1;
        goto out;
    }
    str_reset(&c.out);
    if (c.cr || !c.bol)
        str_catn(&c.out, "\r\n", 2);
    str_catn(&c.out, ".\r\n", 3);
    if (w == STREAM_OK)
        w = stream_write(x->ss->s, c.out.s, c.out.len);
    if (w == STREAM_OK)
        w = stream_flush(x->ss->s);
    if (w != STREAM_OK) {
        io_failure(x->why, x->ss, w, "sending message body");
        session_broken(x);
        goto out;
    }
    rc = 0;
out:
    str_free(&c.out);
    str_free(&chunk);
    str_free(&err);
    return rc;
}

/* end_of_data - the reply to the final dot settles the accepted recipients */
static int end_of_data(struct xact *x)
{
    struct smtp_reply *r = &x->reply;
    struct smtp_why w;
    const char *stage = "end of DATA command";

    stream_set_timeout(x->ss->s, (int)cfg_time(cfg_main, P_smtp_data_done_timeout));
    if (smtp_read_reply(x->ss, r, stage, x->why) < 0) {
        str_cat(&x->why->text, " -- message may be sent more than once");
        session_broken(x);
        return -1;
    }
    smtp_why_init(&w);
    if (r->code / 100 == 2) {
        smtp_why_set(&w, DELIVER_SENT, r->dsn, "%s", str_c(&r->text));
        str_printf(&w.diag, "smtp; %s", str_c(&r->text));
        for (size_t i = 0; i < x->msg->req->nrcpts; i++)
            if (x->msg->rcpts[i].state == SMTP_R_ACCEPTED)
                rcpt_note(x->msg, i, &w, 1, x->ss);
    } else {
        smtp_why_reply(&w, x->ss, r, stage);
        fail_accepted(x, &w);
    }
    smtp_why_free(&w);
    if (r->code == 421) {
        x->broken = 1;
        return -1;
    }
    return 0;
}

/* empty_data - DATA was accepted although no recipient was: send an empty message end */
static int empty_data(struct xact *x)
{
    struct smtp_why w;
    int rc;

    smtp_why_init(&w);
    rc = smtp_cmd(x->ss, (int)cfg_time(cfg_main, P_smtp_data_done_timeout), &x->reply,
                  "end of DATA command", &w, ".");
    smtp_why_free(&w);
    if (rc < 0)
        x->broken = 1;
    return rc;
}

int smtp_transaction(struct smtp_session *ss, struct smtp_msg *msg, struct smtp_why *why)
{
    struct xact x;
    struct str cmd = STR_INIT;
    int pipelining = (ss->features & SMTP_F_PIPELINING) != 0;
    int rc = -1;
    size_t i;

    memset(&x, 0, sizeof(x));
    x.ss = ss;
    x.msg = msg;
    x.why = why;
    smtp_reply_init(&x.reply);
    if (ss->transactions++ > 0 && queue_cmd(&x, K_RSET, 0, "RSET") < 0)
        goto broken_write;
    if (!pipelining && x.nq && flush_batch(&x) < 0)
        goto out;
    mail_from(&x, &cmd);
    if (queue_cmd(&x, K_MAIL, 0, cmd.s) < 0)
        goto broken_write;
    if (!pipelining && flush_batch(&x) < 0)
        goto out;
    for (i = 0; i < msg->req->nrcpts && !(x.mail_read && !x.mail_ok); i++) {
        if (msg->rcpts[i].state != SMTP_R_PENDING)
            continue;
        rcpt_to(&x, i, &cmd);
        if (queue_cmd(&x, K_RCPT, i, cmd.s) < 0)
            goto broken_write;
        if ((!pipelining || x.nq >= PIPELINE_GROUP) && flush_batch(&x) < 0)
            goto out;
    }
    /* DATA goes with unread replies (PIPELINING), else only when a recipient was accepted */
    if (!(x.mail_read && !x.mail_ok) && (x.nq > 0 || x.naccepted > 0) &&
        queue_cmd(&x, K_DATA, 0, "DATA") < 0)
        goto broken_write;
    if (x.nq && flush_batch(&x) < 0)
        goto out;
    if (x.data_reply == 354) {
        if (x.naccepted == 0) {
            if (empty_data(&x) < 0)
                goto out;
        } else if (send_content(&x) < 0 || end_of_data(&x) < 0) {
            goto out;
        }
    }
    rc = 0;
    goto out;
broken_write:
    io_failure(why, ss, stream_error(ss->s), "sending commands");
    session_broken(&x);
out:
    /* recipients still marked accepted had no final answer: pending again */
    for (i = 0; i < msg->req->nrcpts; i++)
        if (msg->rcpts[i].state == SMTP_R_ACCEPTED)
            msg->rcpts[i].state = SMTP_R_PENDING;
    smtp_reply_free(&x.reply);
    str_free(&cmd);
    return x.broken ? -1 : rc;
}
