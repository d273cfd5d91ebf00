/*
 * sendmail_smtp.c - sendmail -bs: an SMTP session on standard input and output
 *
 * What MUAs and scripts that speak SMTP to "sendmail -bs" expect (RFC 5321
 * with PIPELINING, SIZE, 8BITMIME, DSN, SMTPUTF8, ENHANCEDSTATUSCODES): the
 * replies of smtpd, but the mail is a local submission by the invoking
 * user, like any other sendmail message: each DATA becomes one maildrop
 * file through petrel-drop (sendmail_submit.c), and 250 is said only once
 * that file is durable. There is no relay control (the user may send
 * anywhere, as with sendmail -bm) and no authentication. A line with a
 * single dot ends DATA (CRLF or a bare LF: the channel is local); dots are
 * unstuffed (RFC 5321 4.5.2). Limits: smtpd_line_length_limit per command,
 * message_size_limit, submit_recipient_limit, smtpd_timeout per read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "cfg.h"
#include "mem.h"
#include "qfile.h"
#include "smtp_parse.h"
#include "stream.h"

#include "sendmail.h"

#define DATA_PIECE 65536

struct session {
    struct stream *s;
    struct sm_opts o; /* per transaction: sender, envid, ret */
    const struct sm_opts *defaults;
    struct sm_rcpts rcpts;
    struct str sender;
    struct str envid;
    int in_mail;
    int quit;
    unsigned long long size_limit;
    size_t rcpt_limit;
};

static void reply(struct session *ss, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reply(struct session *ss, const char *fmt, ...)
{
    va_list ap;
    struct str line = STR_INIT;

    va_start(ap, fmt);
    str_vprintf(&line, fmt, ap);
    va_end(ap);
    str_cat(&line, "\r\n");
    stream_write(ss->s, line.s, line.len);
    /* PIPELINING (RFC 2920 3.2): replies may wait while more commands are already here */
    if (stream_pending(ss->s) == 0)
        stream_flush(ss->s);
    str_free(&line);
}

/* reset - forget the transaction */
static void reset(struct session *ss)
{
    sm_rcpts_free(&ss->rcpts);
    str_reset(&ss->sender);
    str_reset(&ss->envid);
    ss->o = *ss->defaults;
    ss->in_mail = 0;
}

/* parse_path - "FROM:<addr> params" or "TO:<addr> params"; the external address */
static int parse_path(struct session *ss, const char *args, const char *prefix, int null_ok,
                      struct str *addr, struct smtp_params *params)
{
    struct smtp_path p;
    const char *t = args, *why = NULL;
    size_t n = strlen(prefix);

    if (strncasecmp(t, prefix, n) != 0) {
        reply(ss, "501 5.5.4 Syntax: %s<address>", prefix);
        return -1;
    }
    t += n;
    smtp_path_init(&p);
    if (smtp_parse_path(&t, SMTP_PATH_UTF8_OK | (null_ok ? SMTP_PATH_NULL_OK : 0), &p, &why) !=
        SMTP_PATH_OK) {
        reply(ss, "501 5.1.%d Bad address syntax: %s", null_ok ? 7 : 3, why ? why : "");
        smtp_path_free(&p);
        return -1;
    }
    str_cpy(addr, p.is_null ? "" : p.raw.s);
    smtp_path_free(&p);
    if (smtp_parse_params(t, params, &why) < 0) {
        reply(ss, "501 5.5.4 Bad parameters: %s", why ? why : "");
        return -1;
    }
    return 0;
}

static void cmd_mail(struct session *ss, const char *args)
{
    struct smtp_params params;
    int rc = 0;

    memset(&params, 0, sizeof(params));
    if (ss->in_mail) {
        reply(ss, "503 5.5.1 Error: nested MAIL command");
        return;
    }
    if (parse_path(ss, args, "FROM:", 1, &ss->sender, &params) < 0)
        goto out;
    for (size_t i = 0; i < params.n && rc == 0; i++) {
        const char *k = params.v[i].key, *v = params.v[i].value;
        unsigned long long size;
        if (strcasecmp(k, "SIZE") == 0 && v && parse_ulong(v, 1ULL << 62, &size) == 0) {
            if (size > ss->size_limit) {
                reply(ss, "552 5.3.4 Message size exceeds fixed limit");
                rc = -1;
            }
        } else if (strcasecmp(k, "BODY") == 0 && v &&
                   (strcasecmp(v, "7BIT") == 0 || strcasecmp(v, "8BITMIME") == 0)) {
        } else if (strcasecmp(k, "SMTPUTF8") == 0 && v == NULL) {
        } else if (strcasecmp(k, "RET") == 0 && v &&
                   (strcasecmp(v, "FULL") == 0 || strcasecmp(v, "HDRS") == 0)) {
            ss->o.ret = strcasecmp(v, "FULL") == 0 ? "FULL" : "HDRS";
        } else if (strcasecmp(k, "ENVID") == 0 && v) {
            str_reset(&ss->envid);
            if (smtp_xtext_decode(v, &ss->envid) < 0 || ss->envid.len == 0 ||
                ss->envid.len > 100) {
                reply(ss, "501 5.5.4 Bad ENVID parameter");
                rc = -1;
            }
            for (size_t c = 0; rc == 0 && c < ss->envid.len; c++)
                if (ss->envid.s[c] < 33 || ss->envid.s[c] > 126) {
                    reply(ss, "501 5.5.4 Bad ENVID parameter");
                    rc = -1;
                }
            ss->o.envid = ss->envid.s;
        } else {
            reply(ss, "555 5.5.4 Unsupported option: %s", k);
            rc = -1;
        }
    }
    if (rc == 0) {
        ss->in_mail = 1;
        ss->o.sender = ss->sender.s;
        reply(ss, "250 2.1.0 Ok");
    } else {
        reset(ss);
    }
out:
    smtp_params_free(&params);
}

/* parse_notify - NOTIFY=NEVER | SUCCESS,FAILURE,DELAY */
static int parse_notify(const char *v)
{
    struct strlist l = STRLIST_INIT;
    int bits = 0;

    strlist_split(&l, v, ",");
    for (size_t i = 0; i < l.n && bits >= 0; i++) {
        if (strcasecmp(l.v[i], "NEVER") == 0 && l.n == 1)
            bits = QNOTIFY_NEVER;
        else if (strcasecmp(l.v[i], "SUCCESS") == 0)
            bits |= QNOTIFY_SUCCESS;
        else if (strcasecmp(l.v[i], "FAILURE") == 0)
            bits |= QNOTIFY_FAILURE;
        else if (strcasecmp(l.v[i], "DELAY") == 0)
            bits |= QNOTIFY_DELAY;
        else
            bits = -1;
    }
    if (l.n == 0)
        bits = -1;
    strlist_free(&l);
    return bits;
}

static void cmd_rcpt(struct session *ss, const char *args)
{
    struct smtp_params params;
    struct str addr = STR_INIT, orcpt = STR_INIT;
    int notify = ss->defaults->notify;

    memset(&params, 0, sizeof(params));
    if (!ss->in_mail) {
        reply(ss, "503 5.5.1 Error: need MAIL command");
        return;
    }
    if (parse_path(ss, args, "TO:", 0, &addr, &params) < 0)
        goto out;
    for (size_t i = 0; i < params.n; i++) {
        const char *k = params.v[i].key, *v = params.v[i].value;
        if (strcasecmp(k, "NOTIFY") == 0 && v && (notify = parse_notify(v)) >= 0)
            continue;
        if (strcasecmp(k, "ORCPT") == 0 && v && strchr(v, ';')) {
            str_reset(&orcpt);
            if (smtp_xtext_decode(strchr(v, ';') + 1, &orcpt) == 0 && orcpt.len <= 500 &&
                !memchr(orcpt.s, '\0', orcpt.len)) {
                struct str full = STR_INIT;
                str_printf(&full, "%.*s;%s", (int)(strchr(v, ';') - v), v, orcpt.s);
                str_cpy(&orcpt, full.s);
                str_free(&full);
                continue;
            }
        }
        reply(ss, "555 5.5.4 Unsupported or malformed option: %s", k);
        goto out;
    }
    if (ss->rcpts.n >= ss->rcpt_limit) {
        reply(ss, "452 4.5.3 Error: too many recipients");
        goto out;
    }
    sm_rcpts_add(&ss->rcpts, addr.s, orcpt.s, notify);
    reply(ss, "250 2.1.5 Ok");
out:
    smtp_params_free(&params);
    str_free(&addr);
    str_free(&orcpt);
}

/* read_content - DATA up to the dot line into sub; 0 ok, 1 too big, -1 input lost */
static int read_content(struct session *ss, struct submission *sub)
{
    struct str piece = STR_INIT;
    unsigned long long size = 0;
    int line_start = 1, too_big = 0, r;

    for (;;) {
        str_reset(&piece);
        r = stream_getline_part(ss->s, &piece, DATA_PIECE);
        if (r < 0)
            break;
        const char *p = piece.s;
        size_t n = piece.len;
        if (line_start && r == 1 && ((n == 3 && memcmp(p, ".\r\n", 3) == 0) ||
                                     (n == 2 && memcmp(p, ".\n", 2) == 0))) {
            r = 0;
            break;
        }
        if (line_start && n > 0 && p[0] == '.')
            p++, n--; /* RFC 5321 4.5.2 transparency */
        line_start = r == 1;
        size += n;
        if (size > ss->size_limit)
            too_big = 1;
        if (!too_big)
            submission_write(sub, p, n);
    }
    str_free(&piece);
    if (r < 0)
        return -1;
    return too_big;
}

static void cmd_data(struct session *ss, const char *args)
{
    struct submission *sub;
    struct str err = STR_INIT, id = STR_INIT;
    int r, rc;

    if (*args) {
        reply(ss, "501 5.5.4 Syntax: DATA");
        return;
    }
    if (!ss->in_mail) {
        reply(ss, "503 5.5.1 Error: need MAIL command");
        return;
    }
    if (ss->rcpts.n == 0) {
        reply(ss, "554 5.5.1 Error: no valid recipients");
        return;
    }
    sub = submission_open(&ss->o, &ss->rcpts, &err);
    if (sub == NULL) {
        reply(ss, "451 4.3.0 Error: %s", err.s);
        reset(ss);
        str_free(&err);
        return;
    }
    reply(ss, "354 End data with <CR><LF>.<CR><LF>");
    stream_flush(ss->s);
    r = read_content(ss, sub);
    if (r != 0) {
        submission_abort(sub);
        if (r > 0)
            reply(ss, "552 5.3.4 Error: message file too big");
        else
            ss->quit = 1;
    } else if ((rc = submission_close(sub, &id, &err)) != 0) {
        fprintf(stderr, "sendmail: %s\n", err.s);
        if (rc == EX_NOPERM)
            reply(ss, "550 5.7.1 Error: not allowed to submit mail");
        else if (rc == EX_DATAERR)
            reply(ss, "554 5.6.0 Error: the message could not be queued");
        else
            reply(ss, "451 4.3.0 Error: queue file write error");
    } else {
        reply(ss, "250 2.0.0 Ok: queued as %s", id.s);
    }
    reset(ss);
    str_free(&err);
    str_free(&id);
}

/* command - one command line */
static void command(struct session *ss, char *line)
{
    char *args = line;

    while (*args && *args != ' ')
        args++;
    if (*args)
        *args++ = '\0';
    while (*args == ' ')
        args++;
    if (strcasecmp(line, "EHLO") == 0) {
        reset(ss);
        reply(ss, "250-%s", cfg_str(cfg_main, "myhostname"));
        reply(ss, "250-PIPELINING");
        reply(ss, "250-SIZE %llu", ss->size_limit);
        reply(ss, "250-8BITMIME");
        reply(ss, "250-DSN");
        reply(ss, "250-SMTPUTF8");
        reply(ss, "250 ENHANCEDSTATUSCODES");
    } else if (strcasecmp(line, "HELO") == 0) {
        reset(ss);
        reply(ss, "250 %s", cfg_str(cfg_main, "myhostname"));
    } else if (strcasecmp(line, "MAIL") == 0) {
        cmd_mail(ss, args);
    } else if (strcasecmp(line, "RCPT") == 0) {
        cmd_rcpt(ss, args);
    } else if (strcasecmp(line, "DATA") == 0) {
        cmd_data(ss, args);
    } else if (strcasecmp(line, "RSET") == 0) {
        reset(ss);
        reply(ss, "250 2.0.0 Ok");
    } else if (strcasecmp(line, "NOOP") == 0) {
        reply(ss, "250 2.0.0 Ok");
    } else if (strcasecmp(line, "VRFY") == 0) {
        reply(ss, "252 2.0.0 Send some mail, I'll try my best");
    } else if (strcasecmp(line, "QUIT") == 0) {
        reply(ss, "221 2.0.0 Bye");
        ss->quit = 1;
    } else {
        reply(ss, "502 5.5.2 Error: command not recognized");
    }
}

int sendmail_smtp(const struct sm_opts *o)
{
    struct session ss;
    struct str line = STR_INIT;
    size_t limit = (size_t)cfg_int(cfg_main, "smtpd_line_length_limit");

    memset(&ss, 0, sizeof(ss));
    ss.defaults = o;
    ss.o = *o;
    ss.s = stream_new(0, 1, (int)cfg_time(cfg_main, "smtpd_timeout"));
    ss.size_limit = (unsigned long long)cfg_size(cfg_main, "message_size_limit");
    ss.rcpt_limit = (size_t)cfg_int(cfg_main, "submit_recipient_limit");
    reply(&ss, "220 %s ESMTP %s", cfg_str(cfg_main, "myhostname"), cfg_str(cfg_main, "mail_name"));
    stream_flush(ss.s);
    while (!ss.quit) {
        str_reset(&line);
        int r = stream_getline(ss.s, &line, limit);
        if (r == STREAM_TOOLONG) {
            reply(&ss, "500 5.5.0 Error: line too long");
            continue;
        }
        if (r != STREAM_OK)
            break;
        str_chomp(&line);
        if (memchr(line.s, '\0', line.len)) {
            reply(&ss, "500 5.5.2 Error: bad syntax");
            continue;
        }
        command(&ss, line.s);
    }
    stream_flush(ss.s);
    reset(&ss);
    stream_free(ss.s, 0);
    str_free(&line);
    str_free(&ss.sender);
    str_free(&ss.envid);
    return 0;
}
