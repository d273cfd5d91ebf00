/*
 * smtpd.c - the SMTP server: connections, the command loop, envelope commands
 *
 * One process serves one connection at a time from master's pool (no
 * process hop per message): it greets, reads commands, answers them in
 * the order of RFC 5321 4.1 and writes each accepted message itself into
 * incoming/ (smtpd_data.c), so the 250 after DATA means "on disk". Replies
 * are buffered and flushed only when the client's input is drained, which
 * is what RFC 2920 PIPELINING asks of a server; every other read and write
 * has the smtpd_timeout deadline (a whole DATA transfer one deadline with
 * smtpd_per_request_deadline, stretched by smtpd_min_data_rate; all of them
 * smtpd_stress_timeout while master says the service is overloaded). Every
 * 4xx/5xx reply counts as an error:
 * past smtpd_soft_error_limit replies are delayed, at
 * smtpd_hard_error_limit the connection is closed with 421.
 *
 * Policy (who may relay, which recipients exist) lives in smtpd_check.c,
 * message content in smtpd_data.c, AUTH in smtpd_sasl.c. With -S (sendmail
 * -bs) one session runs on standard input and output as the invoking user,
 * a trusted local submission stored through petrel-drop (smtpd_standalone.c).
 */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "connlimit.h"
#include "log.h"
#include "mem.h"
#include "server.h"
#include "str.h"
#include "stream.h"
#include "tls.h"

#include "smtpd.h"

struct smtpd_conf smtpd_cf;
SSL_CTX *smtpd_tls_ctx;
static struct strlist forbidden_cmds;
static struct strlist discard_ehlo;

/* the commands, in the order of the disconnect line's statistics */
enum {
    C_EHLO,
    C_HELO,
    C_STARTTLS,
    C_AUTH,
    C_MAIL,
    C_RCPT,
    C_DATA,
    C_BDAT,
    C_RSET,
    C_NOOP,
    C_VRFY,
    C_HELP,
    C_QUIT,
    C_UNIMPL,
    C_UNKNOWN,
    C_COUNT
};

static const char *const stat_names[C_COUNT] = {
    "ehlo", "helo", "starttls", "auth", "mail", "rcpt",          "data",    "bdat",
    "rset", "noop", "vrfy",     "help", "quit", "unimplemented", "unknown",
};

/* reply_text - queue one reply line; errors are counted and, past the soft limit, delayed */
void reply_text(struct session *ss, const char *text)
{
    int code = atoi(text);

    ss->last_code = code;
    if (code >= 400) {
        ss->errors++;
        if (ss->errors > smtpd_cf.soft_error_limit && smtpd_cf.error_sleep > 0 && !ss->quit) {
            stream_flush(ss->s);
            sleep((unsigned)smtpd_cf.error_sleep);
        }
    }
    stream_puts(ss->s, text);
    stream_write(ss->s, "\r\n", 2);
}

void reply(struct session *ss, const char *fmt, ...)
{
    struct str line = STR_INIT;
    va_list ap;

    va_start(ap, fmt);
    str_vprintf(&line, fmt, ap);
    va_end(ap);
    reply_text(ss, str_c(&line));
    str_free(&line);
}

const char *proto_name(const struct session *ss)
{
    static const char *const names[2][2][2] = {
        {{"ESMTP", "ESMTPA"}, {"ESMTPS", "ESMTPSA"}},
        {{"UTF8SMTP", "UTF8SMTPA"}, {"UTF8SMTPS", "UTF8SMTPSA"}},
    };

    if (!ss->esmtp)
        return "SMTP";
    return names[ss->smtputf8 != 0][ss->tls != 0][ss->sasl_username != NULL];
}

void transaction_reset(struct session *ss)
{
    data_abort(ss);
    ss->in_mail = 0;
    smtp_path_reset(&ss->sender);
    smtp_path_reset(&ss->first_rcpt);
    ss->size_declared = 0;
    ss->body = SMTP_BODY_NONE;
    ss->smtputf8 = 0;
    ss->ret = SMTP_RET_NONE;
    str_reset(&ss->envid);
    ss->nrcpt = 0;
    if (ss->rcpt_seen) {
        htab_free(ss->rcpt_seen, NULL);
        ss->rcpt_seen = NULL;
    }
    str_reset(&ss->queue_id);
    ss->bdat_active = ss->bdat_failed = 0;
}

void log_reject(struct session *ss, const char *cmd, const char *reply_line, const char *rcpt)
{
    struct str line = STR_INIT;

    str_printf(&line, "%s: reject: %s from %s: %s; from=<%s>",
               ss->queue_id.len ? ss->queue_id.s : "NOQUEUE", cmd, ss->namaddr, reply_line,
               ss->in_mail ? str_c(&ss->sender.raw) : "");
    if (rcpt)
        str_printf(&line, " to=<%s>", rcpt);
    str_printf(&line, " proto=%s", proto_name(ss));
    if (ss->helo_seen)
        str_printf(&line, " helo=<%s>", str_c(&ss->helo));
    log_info("%s", str_c(&line));
    str_free(&line);
}

/* client_name - the verified host name of the peer: PTR, then a forward lookup that must
 * give the address back (as Postfix does); "unknown" otherwise */
static void client_name(int fd, const char *addr, char *name, size_t len)
{
    struct sockaddr_storage sa;
    socklen_t salen = sizeof(sa);
    struct addrinfo hints, *res, *ai;
    char host[NI_MAXHOST], text[SOCK_ADDR_MAX];
    int ok = 0;

    snprintf(name, len, "unknown");
    if (!smtpd_cf.peername_lookup || getpeername(fd, (struct sockaddr *)&sa, &salen) < 0)
        return;
    if (getnameinfo((struct sockaddr *)&sa, salen, host, sizeof(host), NULL, 0, NI_NAMEREQD) != 0)
        return;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST;
    if (getaddrinfo(host, NULL, &hints, &res) == 0) { /* a numeric "name" is no name */
        freeaddrinfo(res);
        return;
    }
    hints.ai_flags = 0;
    if (getaddrinfo(host, NULL, &hints, &res) != 0)
        return;
    for (ai = res; ai && !ok; ai = ai->ai_next) {
        sock_addr_text(ai->ai_addr, text, sizeof(text), NULL);
        ok = strcmp(text, addr) == 0;
    }
    freeaddrinfo(res);
    if (ok)
        snprintf(name, len, "%s", host);
}

/* ehlo_keyword - whether a keyword is announced (smtpd_discard_ehlo_keywords) */
static int ehlo_keyword(const char *kw)
{
    return strlist_find(&discard_ehlo, kw, 1) < 0;
}

/* helo_arg - the single argument of HELO/EHLO: printable ASCII, one word; NULL if bad */
static const char *helo_arg(const char *args)
{
    while (*args == ' ')
        args++;
    if (*args == '\0')
        return NULL;
    for (const char *p = args; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 127) {
            /* trailing white space is tolerated, anything after it is not */
            if (*p == ' ' && p[strspn(p, " ")] == '\0')
                break;
            return NULL;
        }
    return args;
}

/* cmd_helo_common - HELO and EHLO (RFC 5321 4.1.1.1); EHLO lists the extensions */
static void cmd_helo_common(struct session *ss, const char *args, int esmtp)
{
    const char *arg = helo_arg(args);
    struct str r = STR_INIT;

    if (arg == NULL) {
        reply(ss, "501 5.5.4 Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
        return;
    }
    transaction_reset(ss); /* RFC 5321 4.1.4: like RSET */
    str_cpyn(&ss->helo, arg, strcspn(arg, " "));
    ss->helo_seen = 1;
    ss->esmtp = esmtp;
    if (!esmtp) {
        reply(ss, "250 %s", smtpd_cf.myhostname);
        return;
    }
    str_printf(&r, "250-%s\r\n", smtpd_cf.myhostname);
    if (ehlo_keyword("PIPELINING"))
        str_cat(&r, "250-PIPELINING\r\n");
    if (ehlo_keyword("SIZE")) {
        if (smtpd_cf.size_limit)
            str_printf(&r, "250-SIZE %llu\r\n", smtpd_cf.size_limit);
        else
            str_cat(&r, "250-SIZE\r\n");
    }
    if (!smtpd_cf.vrfy_disabled && ehlo_keyword("VRFY"))
        str_cat(&r, "250-VRFY\r\n");
    if (!ss->tls && smtpd_cf.tls_level != TLS_LEVEL_NONE && smtpd_tls_ctx &&
        ehlo_keyword("STARTTLS"))
        str_cat(&r, "250-STARTTLS\r\n");
    if (sasl_offered(ss) && ehlo_keyword("AUTH"))
        str_printf(&r, "250-AUTH %s\r\n", sasl_mechanisms());
    if (ehlo_keyword("ENHANCEDSTATUSCODES"))
        str_cat(&r, "250-ENHANCEDSTATUSCODES\r\n");
    if (ehlo_keyword("8BITMIME"))
        str_cat(&r, "250-8BITMIME\r\n");
    if (ehlo_keyword("DSN"))
        str_cat(&r, "250-DSN\r\n");
    if (smtpd_cf.smtputf8 && ehlo_keyword("SMTPUTF8"))
        str_cat(&r, "250-SMTPUTF8\r\n");
    if (ehlo_keyword("CHUNKING") && ehlo_keyword("BINARYMIME"))
        str_cat(&r, "250-BINARYMIME\r\n");
    if (ehlo_keyword("CHUNKING"))
        str_cat(&r, "250-CHUNKING\r\n");
    /* the last line has a space after the code */
    r.s[r.len - 2] = '\0';
    r.len -= 2;
    char *last = strrchr(r.s, '\n');
    last = last ? last + 1 : r.s;
    last[3] = ' ';
    reply_text(ss, r.s);
    str_free(&r);
}

static void cmd_ehlo(struct session *ss, const char *args)
{
    cmd_helo_common(ss, args, 1);
}

static void cmd_helo(struct session *ss, const char *args)
{
    cmd_helo_common(ss, args, 0);
}

/* need_tls - smtpd_tls_security_level = encrypt: no MAIL, AUTH, ... before STARTTLS (530) */
static int need_tls(struct session *ss)
{
    if (smtpd_cf.tls_level == TLS_LEVEL_ENCRYPT && !ss->tls) {
        reply(ss, "530 5.7.0 Must issue a STARTTLS command first");
        return -1;
    }
    return 0;
}

/* mail_param - one MAIL FROM parameter (RFC 1870, 6152, 3030, 6531, 3461, 4954); 0 ok */
static int mail_param(struct session *ss, const struct smtp_param *p)
{
    const char *k = p->key, *v = p->value;
    unsigned long long n;
    struct str dec = STR_INIT;
    int r = 0, body, ret;

    if (strcasecmp(k, "SIZE") == 0 && ehlo_keyword("SIZE")) {
        if (smtp_parse_size(v, &n) < 0)
            reply(ss, "501 5.5.4 Bad message size syntax"), r = -1;
        else
            ss->size_declared = (long long)n;
    } else if (strcasecmp(k, "BODY") == 0 && ehlo_keyword("8BITMIME")) {
        body = smtp_parse_body(v);
        if (body == SMTP_BODY_BINARYMIME &&
            !(ehlo_keyword("CHUNKING") && ehlo_keyword("BINARYMIME")))
            body = -1;
        if (body < 0)
            reply(ss, "501 5.5.4 Unsupported BODY parameter value"), r = -1;
        else
            ss->body = body;
    } else if (strcasecmp(k, "SMTPUTF8") == 0 && smtpd_cf.smtputf8 && ehlo_keyword("SMTPUTF8")) {
        if (v != NULL) /* RFC 6531 3.4: the parameter has no value */
            reply(ss, "501 5.5.4 Syntax: SMTPUTF8 takes no value"), r = -1;
        else
            ss->smtputf8 = 1;
    } else if (strcasecmp(k, "RET") == 0 && ehlo_keyword("DSN")) {
        if ((ret = smtp_parse_ret(v)) < 0)
            reply(ss, "501 5.5.4 Bad RET parameter syntax"), r = -1;
        else
            ss->ret = ret;
    } else if (strcasecmp(k, "ENVID") == 0 && ehlo_keyword("DSN")) {
        if (smtp_parse_envid(v, &dec) < 0)
            reply(ss, "501 5.5.4 Bad ENVID parameter syntax"), r = -1;
        else
            str_cpy(&ss->envid, dec.s);
    } else if (strcasecmp(k, "AUTH") == 0 && sasl_offered(ss)) {
        /* RFC 4954 5: accepted and not trusted; the authenticated identity is what counts */
        if (v == NULL || (strcmp(v, "<>") != 0 && smtp_xtext_decode(v, &dec) < 0))
            reply(ss, "501 5.5.4 Bad AUTH parameter syntax"), r = -1;
    } else {
        reply(ss, "555 5.5.4 Unsupported option: %s", k);
        r = -1;
    }
    str_free(&dec);
    return r;
}

/* free_space_ok - the queue file system has room for a message (Postfix smtpd_check_queue):
 * at least max(queue_minfree, 1.5 * message_size_limit) free, and a declared SIZE fits
 * 1.5 times above queue_minfree (RFC 1870 6.1: 452 when storage is short for now) */
static int free_space_ok(unsigned long long size)
{
    unsigned long long need = smtpd_cf.queue_minfree, avail;
    unsigned long long lim = smtpd_cf.size_limit + smtpd_cf.size_limit / 2;
    struct statvfs sv;

    if (lim > need)
        need = lim;
    if (size && smtpd_cf.queue_minfree + size + size / 2 > need)
        need = smtpd_cf.queue_minfree + size + size / 2;
    if (need == 0)
        return 1;
    if (statvfs("incoming", &sv) < 0)
        return 1; /* unknown: the write will tell */
    avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
    if (avail >= need)
        return 1;
    log_warn("not enough free space in the queue file system: %llu bytes < %llu needed", avail,
             need);
    return 0;
}

/* qualify - append @$myorigin to an address without domain (Postfix append_at_myorigin) */
static void qualify(struct smtp_path *p)
{
    if (p->is_null || p->domain.len)
        return;
    p->unqualified = 1;
    str_cpy(&p->domain, smtpd_cf.myorigin);
    str_catc(&p->addr, '@');
    str_cat(&p->addr, smtpd_cf.myorigin);
}

/* cmd_mail - MAIL FROM (RFC 5321 4.1.1.2) with the ESMTP parameters; policy waits for RCPT */
static void cmd_mail(struct session *ss, const char *args)
{
    struct smtp_params params;
    const char *p = args, *why = "";
    int r;

    if (!ss->helo_seen && smtpd_cf.helo_required) {
        reply(ss, "503 5.5.1 Error: send HELO/EHLO first");
        return;
    }
    if (smtpd_cf.auth_required && ss->sasl_username == NULL) {
        reply(ss, "530 5.7.0 Authentication required");
        return;
    }
    if (ss->in_mail) {
        reply(ss, "503 5.5.1 Error: nested MAIL command");
        return;
    }
    if (!has_prefix_ci(args, "FROM:")) {
        reply(ss, "501 5.5.4 Syntax: MAIL FROM:<address>");
        return;
    }
    p += 5;
    r = smtp_parse_path(&p,
                        SMTP_PATH_NULL_OK | (smtpd_cf.strict ? SMTP_PATH_STRICT : 0) |
                            (smtpd_cf.smtputf8 ? SMTP_PATH_UTF8_OK : 0),
                        &ss->sender, &why);
    if (r == SMTP_PATH_UTF8) {
        reply(ss, "553 5.6.7 Must declare SMTPUTF8 to send unicode address");
        return;
    }
    if (r != SMTP_PATH_OK || (*p != '\0' && *p != ' ')) {
        reply(ss, "501 5.1.7 Bad sender address syntax%s%s", r == SMTP_PATH_TOOLONG ? ": " : "",
              r == SMTP_PATH_TOOLONG ? why : "");
        return;
    }
    if (smtp_parse_params(p, &params, &why) < 0) {
        reply(ss, "501 5.5.4 Error: %s", why);
        return;
    }
    ss->size_declared = 0;
    ss->body = SMTP_BODY_NONE;
    ss->smtputf8 = 0;
    ss->ret = SMTP_RET_NONE;
    str_reset(&ss->envid);
    for (size_t i = 0; i < params.n; i++) {
        if (!ss->esmtp) { /* no extensions after HELO (RFC 5321 3.2) */
            reply(ss, "555 5.5.4 Unsupported option: %s", params.v[i].key);
            r = -1;
            break;
        }
        if ((r = mail_param(ss, &params.v[i])) < 0)
            break;
    }
    smtp_params_free(&params);
    if (r < 0)
        return;
    if (ss->sender.utf8 && !ss->smtputf8) {
        reply(ss, "553 5.6.7 Must declare SMTPUTF8 to send unicode address");
        return;
    }
    if (smtpd_cf.size_limit && (unsigned long long)ss->size_declared > smtpd_cf.size_limit) {
        reply(ss, "552 5.3.4 Message size exceeds fixed limit");
        log_reject(ss, "MAIL", "552 5.3.4 Message size exceeds fixed limit", NULL);
        return;
    }
    if (!free_space_ok((unsigned long long)ss->size_declared)) {
        reply(ss, "452 4.3.1 Insufficient system storage");
        log_reject(ss, "MAIL", "452 4.3.1 Insufficient system storage", NULL);
        return;
    }
    qualify(&ss->sender);
    ss->in_mail = 1;
    reply(ss, "250 2.1.0 Ok");
}

/* rcpt_param - NOTIFY and ORCPT (RFC 3461 4.1, 4.2); 0 ok */
static int rcpt_param(struct session *ss, const struct smtp_param *p, int *notify,
                      struct str *orcpt)
{
    if (strcasecmp(p->key, "NOTIFY") == 0 && ehlo_keyword("DSN")) {
        if ((*notify = smtp_parse_notify(p->value)) < 0) {
            reply(ss, "501 5.5.4 Bad NOTIFY parameter syntax");
            return -1;
        }
        return 0;
    }
    if (strcasecmp(p->key, "ORCPT") == 0 && ehlo_keyword("DSN")) {
        if (smtp_parse_orcpt(p->value, orcpt) < 0) { /* stored decoded */
            reply(ss, "501 5.5.4 Bad ORCPT parameter syntax");
            return -1;
        }
        return 0;
    }
    reply(ss, "555 5.5.4 Unsupported option: %s", p->key);
    return -1;
}

/* cmd_rcpt - RCPT TO (RFC 5321 4.1.1.3): syntax, limits, policy, then into the queue file */
static void cmd_rcpt(struct session *ss, const char *args)
{
    struct smtp_path rcpt;
    struct smtp_params params;
    struct str orcpt = STR_INIT, out = STR_INIT;
    const char *p = args, *why = "";
    int notify = 0, r;

    if (!ss->in_mail) {
        reply(ss, "503 5.5.1 Error: need MAIL command");
        return;
    }
    if (ss->bdat_active) {
        reply(ss, "503 5.5.1 Error: RCPT after BDAT");
        return;
    }
    if (!has_prefix_ci(args, "TO:")) {
        reply(ss, "501 5.5.4 Syntax: RCPT TO:<address>");
        return;
    }
    p += 3;
    smtp_path_init(&rcpt);
    r = smtp_parse_path(
        &p, (smtpd_cf.strict ? SMTP_PATH_STRICT : 0) | (ss->smtputf8 ? SMTP_PATH_UTF8_OK : 0),
        &rcpt, &why);
    if (r == SMTP_PATH_UTF8) {
        reply(ss, "553 5.6.7 Must declare SMTPUTF8 to send unicode address");
        goto out;
    }
    if (r != SMTP_PATH_OK || (*p != '\0' && *p != ' ')) {
        reply(ss, "501 5.1.3 Bad recipient address syntax%s%s", r == SMTP_PATH_TOOLONG ? ": " : "",
              r == SMTP_PATH_TOOLONG ? why : "");
        goto out;
    }
    if (smtp_parse_params(p, &params, &why) < 0) {
        reply(ss, "501 5.5.4 Error: %s", why);
        goto out;
    }
    r = 0;
    for (size_t i = 0; i < params.n && r == 0; i++) {
        if (!ss->esmtp) {
            reply(ss, "555 5.5.4 Unsupported option: %s", params.v[i].key);
            r = -1;
        } else {
            r = rcpt_param(ss, &params.v[i], &notify, &orcpt);
        }
    }
    smtp_params_free(&params);
    if (r < 0)
        goto out;
    if (ss->nrcpt >= smtpd_cf.recipient_limit) {
        reply(ss, "452 4.5.3 Error: too many recipients");
        goto out;
    }
    qualify(&rcpt);
    if (!smtpd_cf.standalone && check_rcpt(ss, &rcpt, &out) != 0) {
        reply_text(ss, str_c(&out));
        log_reject(ss, "RCPT", str_c(&out), str_c(&rcpt.raw));
        goto out;
    }
    if (!data_opened(ss) && data_open_queue_file(ss, &out) < 0) {
        reply_text(ss, str_c(&out));
        goto out;
    }
    data_add_rcpt(ss, &rcpt, orcpt.len ? orcpt.s : NULL, notify);
    if (ss->nrcpt++ == 0) {
        str_cpy(&ss->first_rcpt.raw, str_c(&rcpt.raw));
        str_cpy(&ss->first_rcpt.addr, str_c(&rcpt.addr));
    }
    reply(ss, "250 2.1.5 Ok");
out:
    smtp_path_free(&rcpt);
    str_free(&orcpt);
    str_free(&out);
}

/* cmd_rset - RSET (RFC 5321 4.1.1.5) */
static void cmd_rset(struct session *ss, const char *args)
{
    if (*args) {
        reply(ss, "501 5.5.4 Syntax: RSET");
        return;
    }
    transaction_reset(ss);
    reply(ss, "250 2.0.0 Ok");
}

/* cmd_noop - NOOP (RFC 5321 4.1.1.9) */
static void cmd_noop(struct session *ss, const char *args)
{
    (void)args; /* RFC 5321 4.1.1.9: a parameter is allowed and ignored */
    reply(ss, "250 2.0.0 Ok");
}

/* cmd_quit - QUIT (RFC 5321 4.1.1.10): 221, then the connection closes */
static void cmd_quit(struct session *ss, const char *args)
{
    if (*args) {
        reply(ss, "501 5.5.4 Syntax: QUIT");
        return;
    }
    ss->quit = 1;
    reply(ss, "221 2.0.0 Bye");
}

/* cmd_help - HELP (RFC 5321 4.1.1.8) */
static void cmd_help(struct session *ss, const char *args)
{
    (void)args;
    reply(ss, "214 2.0.0 Commands: AUTH BDAT DATA EHLO HELO HELP MAIL NOOP QUIT RCPT RSET "
              "STARTTLS VRFY");
}

/* cmd_vrfy - RFC 5321 3.5.3: 252 unless disable_vrfy_command = no */
static void cmd_vrfy(struct session *ss, const char *args)
{
    struct smtp_path a;
    struct str out = STR_INIT;
    const char *p = args, *why;

    if (*args == '\0') {
        reply(ss, "501 5.5.4 Syntax: VRFY address");
        return;
    }
    if (smtpd_cf.vrfy_disabled) {
        reply(ss, "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery");
        return;
    }
    smtp_path_init(&a);
    if (smtp_parse_path(&p, SMTP_PATH_UTF8_OK, &a, &why) != SMTP_PATH_OK || *p) {
        reply(ss, "501 5.1.3 Bad recipient address syntax");
    } else {
        qualify(&a);
        if (!smtpd_cf.standalone && check_verify(ss, &a, &out) != 0)
            reply_text(ss, str_c(&out));
        else
            reply(ss, "252 2.0.0 <%s>", str_c(&a.raw));
    }
    smtp_path_free(&a);
    str_free(&out);
}

/* tls_start - the TLS handshake (after STARTTLS or at connect in wrapper mode) */
static int tls_start(struct session *ss)
{
    struct str err = STR_INIT;
    long discarded = stream_starttls(ss->s, smtpd_tls_ctx, 1, NULL, &err);

    if (discarded < 0) {
        log_info("SSL_accept error from %s: %s", ss->namaddr, str_c(&err));
        str_free(&err);
        return -1;
    }
    if (discarded > 0)
        log_info("%s: discarded %ld bytes sent before the TLS handshake", ss->namaddr, discarded);
    str_reset(&ss->tls_info);
    tls_describe(stream_ssl(ss->s), &ss->tls_info);
    ss->tls = 1;
    log_info("Anonymous TLS connection established from %s: %s", ss->namaddr, str_c(&ss->tls_info));
    str_free(&err);
    return 0;
}

/* cmd_starttls - RFC 3207 */
static void cmd_starttls(struct session *ss, const char *args)
{
    if (*args) {
        reply(ss, "501 5.5.4 Syntax: STARTTLS");
        return;
    }
    if (ss->tls) {
        reply(ss, "554 5.5.1 Error: TLS already active");
        return;
    }
    if (smtpd_cf.tls_level == TLS_LEVEL_NONE) {
        reply(ss, "502 5.5.1 Error: command not implemented");
        return;
    }
    if (smtpd_tls_ctx == NULL) {
        reply(ss, "454 4.7.0 TLS not available due to local problem");
        return;
    }
    if (ss->in_mail) {
        reply(ss, "503 5.5.1 Error: MAIL transaction in progress");
        return;
    }
    reply(ss, "220 2.0.0 Ready to start TLS");
    if (tls_start(ss) < 0) {
        ss->quit = 1;
        return;
    }
    /* RFC 3207 4.2: forget everything learned before the handshake */
    transaction_reset(ss);
    str_reset(&ss->helo);
    ss->helo_seen = ss->esmtp = 0;
    free(ss->sasl_method);
    free(ss->sasl_username);
    ss->sasl_method = ss->sasl_username = NULL;
    ss->last_code = 220;
}

/* cmd_unimplemented - known commands we do not offer (EXPN, ETRN, TURN, ...): 502 */
static void cmd_unimplemented(struct session *ss, const char *args)
{
    (void)args;
    reply(ss, "502 5.5.1 Error: command not implemented");
}

struct command {
    const char *name;
    void (*fn)(struct session *ss, const char *args);
    int stat;
    int junk;     /* counts toward smtpd_junk_command_limit */
    int tls_gate; /* refused before STARTTLS when smtpd_tls_security_level = encrypt */
};

static const struct command commands[] = {
    {"EHLO", cmd_ehlo, C_EHLO, 0, 0},
    {"HELO", cmd_helo, C_HELO, 0, 0},
    {"MAIL", cmd_mail, C_MAIL, 0, 1},
    {"RCPT", cmd_rcpt, C_RCPT, 0, 1},
    {"DATA", cmd_data, C_DATA, 0, 1},
    {"BDAT", cmd_bdat, C_BDAT, 0, 0}, /* must read its chunk whatever the answer */
    {"RSET", cmd_rset, C_RSET, 1, 0},
    {"NOOP", cmd_noop, C_NOOP, 1, 0},
    {"QUIT", cmd_quit, C_QUIT, 0, 0},
    {"VRFY", cmd_vrfy, C_VRFY, 1, 1},
    {"HELP", cmd_help, C_HELP, 1, 0},
    {"STARTTLS", cmd_starttls, C_STARTTLS, 0, 0},
    {"AUTH", cmd_auth, C_AUTH, 0, 1},
    {"EXPN", cmd_unimplemented, C_UNIMPL, 1, 0},
    {"ETRN", cmd_unimplemented, C_UNIMPL, 0, 0},
    {"TURN", cmd_unimplemented, C_UNIMPL, 0, 0},
    {"ATRN", cmd_unimplemented, C_UNIMPL, 0, 0},
    {"SEND", cmd_unimplemented, C_UNIMPL, 0, 0},
    {"SOML", cmd_unimplemented, C_UNIMPL, 0, 0},
    {"SAML", cmd_unimplemented, C_UNIMPL, 0, 0},
    {"VERB", cmd_unimplemented, C_UNIMPL, 0, 0},
    {NULL, NULL, 0, 0, 0},
};

/* dispatch - run one command line (CRLF removed); the verb is case-insensitive */
static void dispatch(struct session *ss, char *line)
{
    size_t vlen = strcspn(line, " ");
    const char *args = line[vlen] ? line + vlen + 1 : "";
    const struct command *c;
    char verb[16];

    for (c = commands; c->name; c++)
        if (strlen(c->name) == vlen && strncasecmp(c->name, line, vlen) == 0)
            break;
    ss->last_code = 0;
    if (c->name == NULL) {
        snprintf(verb, sizeof(verb), "%.*s", (int)(vlen < 15 ? vlen : 15), line);
        if (vlen > 0 && strlist_find(&forbidden_cmds, verb, 1) >= 0) {
            struct str safe = STR_INIT;
            log_warn("non-SMTP command from %s: %s", ss->namaddr,
                     safe_text(&safe, line, strlen(line) > 100 ? 100 : strlen(line)));
            str_free(&safe);
            ss->quit = 1;
            reply(ss, "221 2.7.0 Error: I can break rules, too. Goodbye.");
            ss->cmd_total[C_UNKNOWN]++;
            return;
        }
        ss->where = "UNKNOWN";
        ss->cmd_total[C_UNKNOWN]++;
        reply(ss, "500 5.5.2 Error: command not recognized");
        return;
    }
    ss->where = c->name;
    ss->cmd_total[c->stat]++;
    if (c->junk && ++ss->junk > smtpd_cf.junk_limit)
        ss->errors++; /* too many junk commands count as errors (Postfix) */
    while (*args == ' ')
        args++;
    if (c->tls_gate && need_tls(ss) < 0)
        return;
    c->fn(ss, args);
    if (ss->last_code > 0 && ss->last_code < 400)
        ss->cmd_ok[c->stat]++;
}

/* command_loop - read and run commands until QUIT, an error limit, EOF or timeout */
static void command_loop(struct session *ss)
{
    struct str line = STR_INIT;
    size_t limit = smtpd_cf.line_limit;

    for (;;) {
        if (ss->errors >= smtpd_cf.hard_error_limit) {
            log_info("too many errors after %s from %s", ss->where, ss->namaddr);
            ss->quit = 1;
            reply(ss, "421 4.7.0 %s Error: too many errors", smtpd_cf.myhostname);
            break;
        }
        /* RFC 2920 3.1: flush only when no further command is waiting */
        if (stream_pending(ss->s) == 0 && stream_flush(ss->s) != STREAM_OK) {
            log_info("lost connection after %s from %s", ss->where, ss->namaddr);
            break;
        }
        int r = stream_getline(ss->s, &line, limit + 2);
        if (r == STREAM_TIMEOUT) {
            log_info("timeout after %s from %s%s", ss->where, ss->namaddr,
                     stream_stressed(ss->s) ? " (stress)" : "");
            ss->quit = 1;
            reply(ss, "421 4.4.2 %s Error: timeout exceeded", smtpd_cf.myhostname);
            break;
        }
        if (r == STREAM_EOF || r == STREAM_ERR ||
            (r == STREAM_OK && (line.len == 0 || line.s[line.len - 1] != '\n'))) {
            log_info("lost connection after %s from %s", ss->where, ss->namaddr);
            break;
        }
        int crlf = r == STREAM_OK && line.len >= 2 && line.s[line.len - 2] == '\r';
        str_chomp(&line);
        if (r == STREAM_TOOLONG || line.len > limit) {
            ss->cmd_total[C_UNKNOWN]++;
            reply(ss, "500 5.5.2 Error: line too long");
            continue;
        }
        if (!crlf && ss->bare_mode == BARE_REJECT) {
            ss->cmd_total[C_UNKNOWN]++;
            reply(ss, "500 5.5.2 Error: bare <LF> received");
            continue;
        }
        if (memchr(line.s, '\0', line.len) != NULL) {
            ss->cmd_total[C_UNKNOWN]++;
            reply(ss, "500 5.5.2 Error: bad syntax");
            continue;
        }
        ss->last_cmd_crlf = crlf;
        dispatch(ss, line.s);
        if (ss->quit || stream_error(ss->s) != STREAM_OK)
            break;
    }
    stream_flush(ss->s);
    str_free(&line);
}

/* log_disconnect - "disconnect from host[ip] ehlo=1 mail=1 ... commands=N" (Postfix 3.x) */
static void log_disconnect(struct session *ss)
{
    struct str l = STR_INIT;
    unsigned ok = 0, total = 0;

    str_printf(&l, "disconnect from %s", ss->namaddr);
    for (int i = C_EHLO; i < C_COUNT; i++) {
        if (ss->cmd_total[i] == 0)
            continue;
        if (ss->cmd_ok[i] == ss->cmd_total[i])
            str_printf(&l, " %s=%u", stat_names[i], ss->cmd_total[i]);
        else
            str_printf(&l, " %s=%u/%u", stat_names[i], ss->cmd_ok[i], ss->cmd_total[i]);
        ok += ss->cmd_ok[i];
        total += ss->cmd_total[i];
    }
    if (ok == total)
        str_printf(&l, " commands=%u", total);
    else
        str_printf(&l, " commands=%u/%u", ok, total);
    log_info("%s", str_c(&l));
    str_free(&l);
}

/* session_free - release everything a session holds (an unfinished queue file is removed) */
static void session_free(struct session *ss)
{
    transaction_reset(ss);
    smtp_path_free(&ss->sender);
    smtp_path_free(&ss->first_rcpt);
    str_free(&ss->envid);
    str_free(&ss->queue_id);
    str_free(&ss->helo);
    str_free(&ss->tls_info);
    free(ss->sasl_method);
    free(ss->sasl_username);
}

/* serve - one client connection: identify, count, (TLS,) greet, run commands, log */
static void serve(struct server_conn *c)
{
    struct session ss;
    int entered = 0, count = 0;

    memset(&ss, 0, sizeof(ss));
    ss.s = stream_new(c->fd, c->wfd, smtpd_cf.timeout);
    stream_set_stress(ss.s, server_stress_fd(), smtpd_cf.stress_timeout);
    ss.where = "CONNECT";
    if (c->is_inet) {
        snprintf(ss.addr, sizeof(ss.addr), "%s", c->addr);
        client_name(c->fd, ss.addr, ss.name, sizeof(ss.name));
    } else {
        /* a local submission (UNIX socket or -S on stdin) */
        snprintf(ss.addr, sizeof(ss.addr), "127.0.0.1");
        snprintf(ss.name, sizeof(ss.name), "localhost");
    }
    ss.port = c->port;
    snprintf(ss.namaddr, sizeof(ss.namaddr), "%s[%s]", ss.name, ss.addr);
    log_info("connect from %s", ss.namaddr);
    /* stand-alone: the local user, trusted as Postfix's sendmail -bs trusts it */
    ss.in_mynetworks = smtpd_cf.standalone || check_client_list(P_mynetworks, ss.addr);
    ss.bare_mode = smtpd_cf.bare_mode;
    if (ss.bare_mode == BARE_REJECT &&
        check_client_list(P_smtpd_forbid_bare_newline_exclusions, ss.addr))
        ss.bare_mode = BARE_NORMALIZE;
    if (smtpd_cf.conn_limit > 0 &&
        !check_client_list(P_smtpd_client_event_limit_exceptions, ss.addr)) {
        if (connlimit_enter(server_service(), ss.addr, smtpd_cf.conn_limit, &count) < 0) {
            log_warn("Connection concurrency limit exceeded: %d from %s for service %s", count,
                     ss.namaddr, server_service());
            ss.quit = 1;
            reply(&ss, "421 4.7.0 %s Error: too many connections from %s", smtpd_cf.myhostname,
                  ss.addr);
            stream_flush(ss.s);
            goto done;
        }
        entered = 1;
    }
    if (smtpd_cf.wrappermode) {
        if (smtpd_tls_ctx == NULL) {
            log_warn("%s: TLS wrapper mode without a usable certificate: closing", ss.namaddr);
            goto done;
        }
        if (tls_start(&ss) < 0)
            goto done;
    }
    reply(&ss, "220 %s", smtpd_cf.banner);
    command_loop(&ss);
done:
    log_disconnect(&ss);
    if (entered)
        connlimit_leave();
    session_free(&ss);
    stream_free(ss.s, 0);
}

/* tls_level - parse smtpd_tls_security_level */
static int tls_level(const char *v)
{
    if (*v == '\0' || strcasecmp(v, "none") == 0)
        return TLS_LEVEL_NONE;
    if (strcasecmp(v, "may") == 0)
        return TLS_LEVEL_MAY;
    if (strcasecmp(v, "encrypt") == 0)
        return TLS_LEVEL_ENCRYPT;
    log_fatal("smtpd_tls_security_level: unknown level '%s' (use none, may or encrypt)", v);
}

/* pre_init - still root: read the TLS key (often readable by root only) */
static void pre_init(int argc, char **argv)
{
    const char *cert = cfg_str(cfg_main, P_smtpd_tls_cert_file);
    const char *key = cfg_str(cfg_main, P_smtpd_tls_key_file);
    struct str err = STR_INIT;

    (void)argc;
    (void)argv;
    if (server_standalone())
        standalone_settings();
    smtpd_cf.tls_level = tls_level(cfg_str(cfg_main, P_smtpd_tls_security_level));
    smtpd_cf.wrappermode = cfg_bool(cfg_main, P_smtpd_tls_wrappermode);
    if (smtpd_cf.tls_level != TLS_LEVEL_NONE || smtpd_cf.wrappermode) {
        tls_init();
        if (*cert == '\0') {
            log_warn("TLS is enabled but smtpd_tls_cert_file is empty: TLS is not available");
        } else if ((smtpd_tls_ctx = tls_server_ctx(cert, *key ? key : cert, NULL, &err)) == NULL) {
            log_warn("cannot load the TLS certificate: %s: TLS is not available", str_c(&err));
        }
    }
    str_free(&err);
}

/* bare_mode - smtpd_forbid_bare_newline */
static int bare_mode(const char *v)
{
    if (strcasecmp(v, "reject") == 0)
        return BARE_REJECT;
    if (strcasecmp(v, "normalize") == 0 || strcasecmp(v, "yes") == 0)
        return BARE_NORMALIZE;
    log_fatal("smtpd_forbid_bare_newline: unknown value '%s' (use reject or normalize)", v);
}

/* post_init - as mail_owner in the queue directory: settings, tables, shared files */
static void post_init(void)
{
    const struct cfg *c = cfg_main;

    /* stand-alone: petrel-drop finds the queue itself */
    if (!smtpd_cf.standalone && chdir(cfg_str(c, P_queue_directory)) < 0)
        log_fatal("chdir %s: %s", cfg_str(c, P_queue_directory), strerror(errno));
    smtpd_cf.myhostname = cfg_str(c, P_myhostname);
    smtpd_cf.myorigin = cfg_str(c, P_myorigin);
    smtpd_cf.banner = cfg_str(c, P_smtpd_banner);
    smtpd_cf.timeout = (int)cfg_time(c, P_smtpd_timeout);
    smtpd_cf.per_request_deadline = cfg_bool(c, P_smtpd_per_request_deadline);
    smtpd_cf.min_data_rate = (int)cfg_int(c, P_smtpd_min_data_rate);
    smtpd_cf.stress_timeout = (int)cfg_time(c, P_smtpd_stress_timeout);
    smtpd_cf.line_limit = (size_t)cfg_int(c, P_smtpd_line_length_limit);
    smtpd_cf.recipient_limit = (size_t)cfg_int(c, P_smtpd_recipient_limit);
    smtpd_cf.hard_error_limit = (int)cfg_int(c, P_smtpd_hard_error_limit);
    smtpd_cf.soft_error_limit = (int)cfg_int(c, P_smtpd_soft_error_limit);
    smtpd_cf.error_sleep = (int)cfg_time(c, P_smtpd_error_sleep_time);
    smtpd_cf.junk_limit = (int)cfg_int(c, P_smtpd_junk_command_limit);
    smtpd_cf.size_limit = (unsigned long long)cfg_size(c, P_message_size_limit);
    smtpd_cf.header_limit = (size_t)cfg_size(c, P_header_size_limit);
    smtpd_cf.helo_required = cfg_bool(c, P_smtpd_helo_required);
    smtpd_cf.vrfy_disabled = cfg_bool(c, P_disable_vrfy_command);
    smtpd_cf.strict = cfg_bool(c, P_strict_rfc821_envelopes);
    smtpd_cf.smtputf8 = cfg_bool(c, P_smtputf8_enable);
    smtpd_cf.tls_auth_only = cfg_bool(c, P_smtpd_tls_auth_only);
    smtpd_cf.tls_received = cfg_bool(c, P_smtpd_tls_received_header);
    smtpd_cf.sasl_enable = cfg_bool(c, P_smtpd_sasl_auth_enable);
    smtpd_cf.auth_required = cfg_bool(c, P_smtpd_sasl_auth_required);
    smtpd_cf.sasl_header = cfg_bool(c, P_smtpd_sasl_authenticated_header);
    smtpd_cf.sasl_failure_limit = (int)cfg_int(c, P_smtpd_sasl_failure_limit);
    smtpd_cf.sasl_failure_delay = (int)cfg_time(c, P_smtpd_sasl_failure_delay);
    smtpd_cf.conn_limit = (int)cfg_int(c, P_smtpd_client_connection_count_limit);
    smtpd_cf.peername_lookup = cfg_bool(c, P_smtpd_peername_lookup);
    smtpd_cf.queue_minfree = (unsigned long long)cfg_size(c, P_queue_minfree);
    smtpd_cf.always_add_headers = cfg_bool(c, P_always_add_missing_headers);
    smtpd_cf.bare_mode = bare_mode(cfg_str(c, P_smtpd_forbid_bare_newline));
    if (smtpd_cf.soft_error_limit > smtpd_cf.hard_error_limit)
        smtpd_cf.soft_error_limit = smtpd_cf.hard_error_limit;
    cfg_list(c, P_smtpd_forbidden_commands, &forbidden_cmds);
    cfg_list(c, P_smtpd_discard_ehlo_keywords, &discard_ehlo);
    if (smtpd_cf.wrappermode && smtpd_tls_ctx == NULL)
        log_warn("smtpd_tls_wrappermode = yes without a usable certificate: every connection "
                 "will be closed");
    if (!smtpd_cf.standalone) /* no restrictions: no tables the user may not read */
        check_init();
    sasl_init();
    if (smtpd_cf.conn_limit > 0 && !server_standalone())
        connlimit_open("smtpd");
}

int main(int argc, char **argv)
{
    /* RFC 5321 3.8: 421 when the service is not available */
    struct server_def def = {"smtpd", 0, pre_init, post_init, serve, NULL, NULL, "421 4.3.0"};

    return server_main(argc, argv, &def);
}
