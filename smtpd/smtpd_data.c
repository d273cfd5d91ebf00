/*
 * smtpd_data.c - message content (DATA, BDAT) and the queue file
 *
 * The queue file is created in incoming/ when the first recipient is
 * accepted (mode 0600: incomplete, ignored by qmgr), receives the envelope
 * as the transaction goes on, then our Received: header and the content
 * exactly as the client sent it: CRLF line ends, dot-unstuffed for DATA
 * (RFC 5321 4.5.2), the exact bytes for BDAT (RFC 3030). Only after the
 * end record, fchmod 0700 and fsync (qfile_commit) is qmgr poked and the
 * 250 sent, so a 250 always means "durable", and a connection or process
 * lost before it leaves nothing qmgr would take.
 *
 * DATA ends only at CRLF "." CRLF. A bare LF or bare CR in DATA is
 * rejected after the end of the message (smtpd_forbid_bare_newline =
 * reject), or a bare LF is stored as CRLF (normalize); in neither mode
 * can "LF . LF" or "CR . CR" end a message, which is what SMTP smuggling
 * needs. Content is streamed to the file in pieces; memory stays bounded
 * whatever the client sends.
 *
 * In stand-alone mode (smtpd -S, sendmail -bs) the same content goes to a
 * maildrop file through petrel-drop instead (smtpd_standalone.c), without
 * our Received: header (pickup adds its own, naming the submitting user);
 * there "." LF also ends DATA, as it ends sendmail's input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "cfg.h"
#include "log.h"
#include "mem.h"
#include "qfile.h"
#include "trigger.h"

#include "smtpd.h"

#define PIECE_MAX 65536   /* bytes read from the stream at a time */
#define MSGID_LOG_MAX 250 /* Message-ID text kept for the log line */

struct content {
    int bdat;       /* BDAT: exact bytes, no dot-stuffing, no line checks */
    int line_start; /* the next byte starts a line */
    int prev_crlf;  /* the last complete line ended with CRLF (end-of-data detection) */
    int pending_cr; /* the last piece ended with CR in the middle of a line */
    int bare_lf;
    int bare_cr;
    int in_header;   /* still in the header section */
    int have_header; /* a header line was seen (continuations attach to it) */
    size_t hdr_len;  /* length of the current header, continuation lines included */
    int hdr_too_big;
    int seen_date, seen_msgid, seen_from;
    int add_missing;  /* add Date:, Message-Id:, From: when missing */
    int last_nl;      /* the content so far ends with a newline */
    uint64_t size;    /* bytes received (after dot-unstuffing) */
    uint64_t chunked; /* BDAT bytes received so far (for the chunk replies) */
    int too_big;
    int write_error;
    struct str msgid;
    struct str hline; /* BDAT: a header line split between chunks, kept until its end */
};

static int trigger_warned;

/* rfc5322_date - "Tue, 21 Nov 2026 23:39:00 +0000 (UTC)" */
static void rfc5322_date(time_t t, struct str *out)
{
    struct tm tm;
    char buf[128];

    localtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S %z (%Z)", &tm);
    str_cat(out, buf);
}

/* put_attr - one envelope attribute (values never hold NUL, CR or LF) */
static void put_attr(struct qfile_writer *w, const char *name, const char *value)
{
    if (value && *value)
        qfile_put_attr(w, name, value);
}

int data_open_queue_file(struct session *ss, struct str *reply_line)
{
    struct str err = STR_INIT, l = STR_INIT;
    struct timeval tv;
    char num[32];
    static const char *const bodies[] = {"", "7BIT", "8BITMIME", "BINARYMIME"};

    if (smtpd_cf.standalone)
        return drop_open(ss, reply_line);
    ss->qf = qfile_create("incoming", &err);
    if (ss->qf == NULL) {
        log_warn("cannot create a queue file: %s", str_c(&err));
        str_cpy(reply_line, "451 4.3.0 Error: queue file write error");
        str_free(&err);
        return -1;
    }
    str_cpy(&ss->queue_id, qfile_writer_id(ss->qf));
    gettimeofday(&tv, NULL);
    qfile_put_time(ss->qf, (long long)tv.tv_sec, (long)tv.tv_usec);
    qfile_put_sender(ss->qf, str_c(&ss->sender.addr));
    put_attr(ss->qf, "client_name", ss->name);
    put_attr(ss->qf, "client_address", ss->addr);
    snprintf(num, sizeof(num), "%d", ss->port);
    if (ss->port)
        put_attr(ss->qf, "client_port", num);
    put_attr(ss->qf, "helo", str_c(&ss->helo));
    put_attr(ss->qf, "protocol", proto_name(ss));
    put_attr(ss->qf, "sasl_method", ss->sasl_method);
    put_attr(ss->qf, "sasl_username", ss->sasl_username);
    put_attr(ss->qf, "tls", str_c(&ss->tls_info));
    put_attr(ss->qf, "body", bodies[ss->body]);
    if (ss->smtputf8)
        put_attr(ss->qf, "smtputf8", "1");
    put_attr(ss->qf, "ret", smtp_ret_name(ss->ret));
    put_attr(ss->qf, "envid", str_c(&ss->envid));
    str_printf(&l, "%s: client=%s", ss->queue_id.s, ss->namaddr);
    if (ss->sasl_username)
        str_printf(&l, ", sasl_method=%s, sasl_username=%s", ss->sasl_method, ss->sasl_username);
    log_info("%s", l.s);
    str_free(&l);
    str_free(&err);
    return 0;
}

int data_opened(const struct session *ss)
{
    return ss->qf != NULL || ss->drop != NULL;
}

void data_add_rcpt(struct session *ss, const struct smtp_path *rcpt, const char *orcpt, int notify)
{
    struct str key = STR_INIT;

    /* the same recipient twice is delivered once (as Postfix's cleanup does) */
    str_printf(&key, "%s\001%s\001%d", str_c(&rcpt->addr), orcpt ? orcpt : "", notify);
    if (ss->rcpt_seen == NULL)
        ss->rcpt_seen = htab_create(16);
    if (htab_get(ss->rcpt_seen, key.s) == NULL) {
        htab_put(ss->rcpt_seen, key.s, ss);
        if (ss->drop)
            drop_rcpt(ss, rcpt, orcpt, notify);
        else
            qfile_put_rcpt(ss->qf, str_c(&rcpt->addr), orcpt, notify, NULL);
    }
    str_free(&key);
}

void data_abort(struct session *ss)
{
    if (ss->content) {
        str_free(&ss->content->msgid);
        str_free(&ss->content->hline);
        free(ss->content);
        ss->content = NULL;
    }
    if (ss->qf) {
        qfile_writer_free(ss->qf); /* unlinks the incomplete file */
        ss->qf = NULL;
    }
    drop_abort(ss);
}

/* received_header - RFC 5321 4.4 trace header, first in the stored content */
static void received_header(struct session *ss, struct str *h)
{
    const char *helo = str_c(&ss->helo);

    if (ss->helo_seen)
        str_printf(h, "Received: from %s (%s [%s])\r\n", helo, ss->name, ss->addr);
    else
        str_printf(h, "Received: from [%s] (%s [%s])\r\n", ss->addr, ss->name, ss->addr);
    if (ss->tls && smtpd_cf.tls_received)
        str_printf(h, "\t(using %s)\r\n", str_c(&ss->tls_info));
    if (ss->sasl_username && smtpd_cf.sasl_header)
        str_printf(h, "\t(Authenticated sender: %s)\r\n", ss->sasl_username);
    str_printf(h, "\tby %s (%s) with %s id %s", smtpd_cf.myhostname, cfg_str(cfg_main, P_mail_name),
               proto_name(ss), str_c(&ss->queue_id));
    if (ss->nrcpt == 1)
        str_printf(h, "\r\n\tfor <%s>; ", str_c(&ss->first_rcpt.raw));
    else
        str_cat(h, ";\r\n\t");
    rfc5322_date(time(NULL), h);
    str_cat(h, "\r\n");
}

/* begin_content - end the envelope, write the Received: header, set up the content state */
static int begin_content(struct session *ss, int bdat)
{
    struct str h = STR_INIT;
    struct content *cs = xcalloc(1, sizeof(*cs));

    cs->bdat = bdat;
    cs->line_start = 1;
    cs->prev_crlf = bdat ? 1 : ss->last_cmd_crlf;
    cs->in_header = 1;
    cs->last_nl = 1;
    cs->add_missing = smtpd_cf.always_add_headers || check_rewrite_clients(ss);
    str_init(&cs->msgid);
    ss->content = cs;
    if (ss->drop) {
        if (drop_begin(ss) < 0)
            cs->write_error = 1;
        return 0;
    }
    qfile_begin_content(ss->qf);
    received_header(ss, &h);
    if (qfile_write(ss->qf, h.s, h.len) < 0)
        cs->write_error = 1;
    str_free(&h);
    return 0;
}

/* header_name_len - length of "Name" when a line starts a header field "Name:" (RFC 5322 2.2) */
static size_t header_name_len(const char *p, size_t n)
{
    size_t i = 0;

    while (i < n && p[i] >= 33 && p[i] <= 126 && p[i] != ':')
        i++;
    return i > 0 && i < n && p[i] == ':' ? i : 0;
}

/* store - append content bytes to the queue file (unless the message is already refused) */
static void store(struct session *ss, const char *p, size_t n)
{
    struct content *cs = ss->content;

    if (n == 0 || cs->too_big || cs->write_error)
        return;
    if (!cs->bdat && ss->bare_mode == BARE_REJECT && (cs->bare_lf || cs->bare_cr))
        return; /* the message will be refused: stop writing */
    if (ss->drop)
        drop_write(ss, p, n);
    else if (qfile_write(ss->qf, p, n) < 0)
        cs->write_error = 1;
}

/* add_missing_headers - Date:, Message-Id:, From: for local submissions (Postfix cleanup) */
static void add_missing_headers(struct session *ss)
{
    struct content *cs = ss->content;
    struct str h = STR_INIT;
    time_t now = time(NULL);

    if (!cs->add_missing)
        return;
    if (!cs->last_nl)
        str_cat(&h, "\r\n");
    if (!cs->seen_date) {
        str_cat(&h, "Date: ");
        rfc5322_date(now, &h);
        str_cat(&h, "\r\n");
    }
    if (!cs->seen_msgid) {
        struct tm tm;
        char stamp[32];
        gmtime_r(&now, &tm);
        strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
        str_printf(&h, "Message-Id: <%s.%s@%s>\r\n", stamp, str_c(&ss->queue_id),
                   smtpd_cf.myhostname);
    }
    if (!cs->seen_from)
        str_printf(&h, "From: %s\r\n", ss->sender.is_null ? "MAILER-DAEMON" : ss->sender.raw.s);
    if (h.len) {
        store(ss, h.s, h.len);
        cs->last_nl = 1;
    }
    str_free(&h);
}

/* note_header - remember which of the headers we care about a new field is */
static void note_header(struct content *cs, const char *p, size_t n, size_t name_len)
{
    if (name_len == 4 && strncasecmp(p, "Date", 4) == 0)
        cs->seen_date = 1;
    else if (name_len == 4 && strncasecmp(p, "From", 4) == 0)
        cs->seen_from = 1;
    else if (name_len == 10 && strncasecmp(p, "Message-ID", 10) == 0 && !cs->seen_msgid) {
        const char *v = p + name_len + 1, *end = p + n;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
            end--;
        str_cpyn(&cs->msgid, v,
                 (size_t)(end - v) > MSGID_LOG_MAX ? MSGID_LOG_MAX : (size_t)(end - v));
        cs->seen_msgid = 1;
    }
}

/* piece - one piece of a line (the whole line unless it is very long): header tracking,
 * size accounting, storing */
static void piece(struct session *ss, const char *p, size_t n, int starts, int ends)
{
    struct content *cs = ss->content;

    if (cs->in_header) {
        if (!starts) {
            cs->hdr_len += n;
        } else if ((p[0] == ' ' || p[0] == '\t') && cs->have_header) {
            cs->hdr_len += n; /* a folded continuation line */
        } else if (ends && ((n == 2 && p[0] == '\r' && p[1] == '\n') || (n == 1 && p[0] == '\n'))) {
            add_missing_headers(ss); /* the empty line between header and body */
            cs->in_header = 0;
        } else {
            size_t nl = header_name_len(p, n);
            if (nl) {
                cs->have_header = 1;
                cs->hdr_len = n;
                note_header(cs, p, n, nl);
            } else {
                /* a line that is no header field starts the body (RFC 5322 2.1) */
                int added = cs->add_missing && !(cs->seen_date && cs->seen_msgid && cs->seen_from);
                add_missing_headers(ss);
                if (added)
                    store(ss, "\r\n", 2);
                cs->in_header = 0;
            }
        }
        if (cs->in_header && cs->hdr_len > smtpd_cf.header_limit)
            cs->hdr_too_big = 1;
    }
    cs->size += n;
    if (smtpd_cf.size_limit && cs->size > smtpd_cf.size_limit)
        cs->too_big = 1;
    store(ss, p, n);
    if (n)
        cs->last_nl = p[n - 1] == '\n';
}

/* feed_bytes - BDAT content: split into lines for the header tracking. Chunk boundaries
 * fall anywhere, so in the header section a partial line is held back (at most
 * header_size_limit bytes) until its end shows whether it is a header field. */
static void feed_bytes(struct session *ss, const char *p, size_t n)
{
    struct content *cs = ss->content;

    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t len = nl ? (size_t)(nl - p) + 1 : n;
        if (cs->in_header && (cs->hline.len || !nl) &&
            cs->hline.len + len <= smtpd_cf.header_limit) {
            str_catn(&cs->hline, p, len);
            if (nl) {
                piece(ss, cs->hline.s, cs->hline.len, 1, 1);
                str_reset(&cs->hline);
                cs->line_start = 1;
            }
        } else {
            if (cs->hline.len) { /* too long to hold back: pass on what we have */
                piece(ss, cs->hline.s, cs->hline.len, 1, 0);
                str_reset(&cs->hline);
                cs->line_start = 0;
            }
            piece(ss, p, len, cs->line_start, nl != NULL);
            cs->line_start = nl != NULL;
        }
        p += len;
        n -= len;
    }
}

/* feed_end - BDAT LAST: a held-back last line goes out as it is */
static void feed_end(struct session *ss)
{
    struct content *cs = ss->content;

    if (cs->hline.len) {
        piece(ss, cs->hline.s, cs->hline.len, 1, 0);
        str_reset(&cs->hline);
    }
}

/* read_data - DATA content up to CRLF.CRLF; 0 at the end, a STREAM_ code when the connection
 * failed */
static int read_data(struct session *ss)
{
    struct content *cs = ss->content;
    struct str buf = STR_INIT;
    int r;

    for (;;) {
        str_reset(&buf);
        r = stream_getline_part(ss->s, &buf, PIECE_MAX);
        if (r < 0)
            break;
        int complete = r == 1, starts = cs->line_start, crlf = 0;
        const char *p = buf.s;
        size_t n = buf.len;
        if (starts && n > 0 && p[0] == '.') {
            int crlf_dot = complete && n == 3 && p[1] == '\r' && p[2] == '\n';
            int lf_dot = complete && n == 2 && p[1] == '\n';
            if ((crlf_dot && cs->prev_crlf) || (smtpd_cf.standalone && (crlf_dot || lf_dot))) {
                r = 0;
                break;
            }
            p++, n--; /* RFC 5321 4.5.2 transparency */
        }
        if (complete) {
            crlf = (n >= 2 && p[n - 2] == '\r') || (n == 1 && cs->pending_cr);
            if (!crlf)
                cs->bare_lf = 1;
        }
        if (cs->pending_cr && !(n > 0 && p[0] == '\n'))
            cs->bare_cr = 1;
        for (const char *cr = memchr(p, '\r', n); cr && !cs->bare_cr;
             cr = memchr(cr + 1, '\r', (size_t)(p + n - cr - 1)))
            if (cr + 1 < p + n && cr[1] != '\n')
                cs->bare_cr = 1;
        cs->pending_cr = n > 0 && p[n - 1] == '\r';
        if (complete && !crlf && ss->bare_mode == BARE_NORMALIZE) {
            piece(ss, p, n - 1, starts, 0);
            piece(ss, "\r\n", 2, 0, 1);
        } else {
            piece(ss, p, n, starts, complete);
        }
        cs->line_start = complete;
        if (complete)
            cs->prev_crlf = crlf;
    }
    str_free(&buf);
    return r;
}

/* trigger_qmgr - tell qmgr about new mail; without qmgr the file waits in incoming/ */
static void trigger_qmgr(void)
{
    struct str err = STR_INIT;

    if (trigger_send("public/qmgr", "A", 1, &err) < 0 && !trigger_warned) {
        log_warn("cannot notify qmgr (%s): new mail waits in incoming/ for its next scan",
                 str_c(&err));
        trigger_warned = 1;
    }
    str_free(&err);
}

/* finish - end of the message: refuse it, or commit the file, poke qmgr and say 250 */
static void finish(struct session *ss, const char *cmd)
{
    struct content *cs = ss->content;
    struct str err = STR_INIT;
    const char *refuse = NULL;

    if (cs->in_header)
        add_missing_headers(ss);
    if (!cs->bdat && ss->bare_mode == BARE_REJECT && cs->bare_lf)
        refuse = "550 5.5.2 Error: bare <LF> received";
    else if (!cs->bdat && ss->bare_mode == BARE_REJECT && cs->bare_cr)
        refuse = "550 5.5.2 Error: bare <CR> received";
    else if (cs->too_big)
        refuse = "552 5.3.4 Error: message file too big";
    else if (cs->hdr_too_big)
        refuse = "552 5.3.4 Error: message header too big";
    else if (cs->write_error) {
        if (ss->qf)
            log_warn("%s: write queue file: %s", str_c(&ss->queue_id), qfile_error(ss->qf));
        refuse = "451 4.3.0 Error: queue file write error";
    }
    if (refuse == NULL && ss->drop) {
        refuse = drop_commit(ss);
    } else if (refuse == NULL && qfile_commit(ss->qf, &err) < 0) {
        log_warn("%s: commit queue file: %s", str_c(&ss->queue_id), str_c(&err));
        refuse = "451 4.3.0 Error: queue file write error";
    }
    if (refuse) {
        reply_text(ss, refuse);
        log_reject(ss, cmd, refuse, NULL);
    } else {
        if (ss->qf)
            trigger_qmgr(); /* (a maildrop file: petrel-drop has poked pickup) */
        if (cs->msgid.len)
            log_info("%s: message-id=%s", str_c(&ss->queue_id), str_c(&cs->msgid));
        reply(ss, "250 2.0.0 Ok: queued as %s", str_c(&ss->queue_id));
        ss->errors = 0;
        qfile_writer_free(ss->qf);
        ss->qf = NULL;
    }
    str_free(&err);
    transaction_reset(ss);
}

/* lost - the connection broke or timed out in the middle of content */
static void lost(struct session *ss, int r, const char *cmd)
{
    unsigned long long got = ss->content ? (unsigned long long)ss->content->size : 0;

    if (r == STREAM_TIMEOUT) {
        log_info("timeout after %s (%llu bytes) from %s", cmd, got, ss->namaddr);
        ss->quit = 1;
        reply(ss, "421 4.4.2 %s Error: timeout exceeded", smtpd_cf.myhostname);
    } else {
        log_info("lost connection after %s (%llu bytes) from %s", cmd, got, ss->namaddr);
    }
    ss->quit = 1;
    transaction_reset(ss);
}

void cmd_data(struct session *ss, const char *args)
{
    int r;

    if (*args) {
        reply(ss, "501 5.5.4 Syntax: DATA");
        return;
    }
    if (!ss->in_mail) {
        reply(ss, "503 5.5.1 Error: need MAIL command");
        return;
    }
    if (ss->bdat_active) {
        reply(ss, "503 5.5.1 Error: DATA after BDAT");
        return;
    }
    if (ss->nrcpt == 0) {
        reply(ss, "554 5.5.1 Error: no valid recipients");
        return;
    }
    if (ss->body == SMTP_BODY_BINARYMIME) { /* RFC 3030 3 */
        reply(ss, "503 5.5.1 Error: BODY=BINARYMIME requires BDAT");
        return;
    }
    begin_content(ss, 0);
    reply(ss, "354 End data with <CR><LF>.<CR><LF>");
    if (stream_flush(ss->s) != STREAM_OK) {
        lost(ss, STREAM_ERR, "DATA");
        return;
    }
    if (smtpd_cf.per_request_deadline)
        stream_start_deadline(ss->s, smtpd_cf.timeout, smtpd_cf.min_data_rate);
    r = read_data(ss);
    stream_stop_deadline(ss->s);
    if (r != 0) {
        lost(ss, r, "DATA");
        return;
    }
    finish(ss, "END-OF-MESSAGE");
}

/* skip_chunk - read and drop n bytes (a refused BDAT still carries its data); 0 ok */
static int skip_chunk(struct session *ss, unsigned long long n)
{
    char buf[8192];

    while (n > 0) {
        ssize_t got = stream_read_some(ss->s, buf, n < sizeof(buf) ? (size_t)n : sizeof(buf));
        if (got < 0)
            return (int)got;
        n -= (unsigned long long)got;
    }
    return 0;
}

/* cmd_bdat - RFC 3030: "BDAT size [LAST]"; the chunk follows the command line at once */
void cmd_bdat(struct session *ss, const char *args)
{
    unsigned long long n;
    char num[32];
    size_t dl = strspn(args, "0123456789");
    const char *rest = args + dl;
    const char *refuse = NULL;
    int last, r;

    while (*rest == ' ')
        rest++;
    last = strcasecmp(rest, "LAST") == 0;
    if (dl == 0 || dl >= sizeof(num) || (args[dl] != ' ' && args[dl] != '\0') || (*rest && !last)) {
        /* the size is unknown, so the chunk cannot be skipped: the stream is lost */
        log_info("malformed BDAT from %s: closing", ss->namaddr);
        ss->quit = 1;
        reply(ss, "501 5.5.4 Syntax: BDAT count [LAST]");
        transaction_reset(ss);
        return;
    }
    memcpy(num, args, dl);
    num[dl] = '\0';
    if (parse_ulong(num, 1ULL << 40, &n) < 0) {
        log_info("BDAT size out of range from %s: closing", ss->namaddr);
        ss->quit = 1;
        reply(ss, "552 5.3.4 Error: message file too big");
        transaction_reset(ss);
        return;
    }
    if (!ss->in_mail)
        refuse = "503 5.5.1 Error: need MAIL command";
    else if (ss->nrcpt == 0)
        refuse = "554 5.5.1 Error: no valid recipients";
    else if (ss->bdat_failed)
        refuse = "503 5.5.1 Error: the transaction failed; send RSET";
    if (smtpd_cf.per_request_deadline) /* each chunk is one request */
        stream_start_deadline(ss->s, smtpd_cf.timeout, smtpd_cf.min_data_rate);
    if (refuse) {
        r = skip_chunk(ss, n);
        stream_stop_deadline(ss->s);
        if (r < 0) {
            lost(ss, r, "BDAT");
            return;
        }
        reply_text(ss, refuse);
        return;
    }
    if (!ss->bdat_active) {
        begin_content(ss, 1);
        ss->bdat_active = 1;
    }
    while (n > 0) {
        char buf[PIECE_MAX];
        ssize_t got = stream_read_some(ss->s, buf, n < sizeof(buf) ? (size_t)n : sizeof(buf));
        if (got < 0) {
            stream_stop_deadline(ss->s);
            lost(ss, (int)got, "BDAT");
            return;
        }
        feed_bytes(ss, buf, (size_t)got);
        ss->content->chunked += (uint64_t)got;
        n -= (unsigned long long)got;
    }
    stream_stop_deadline(ss->s);
    if (last) {
        feed_end(ss);
        finish(ss, "END-OF-MESSAGE");
        return;
    }
    if (ss->content->too_big || ss->content->write_error) {
        const char *e = ss->content->too_big ? "552 5.3.4 Error: message file too big"
                                             : "451 4.3.0 Error: queue file write error";
        reply_text(ss, e);
        log_reject(ss, "BDAT", e, NULL);
        data_abort(ss);
        ss->bdat_failed = 1;
        return;
    }
    reply(ss, "250 2.0.0 Ok: %llu bytes", (unsigned long long)ss->content->chunked);
}
