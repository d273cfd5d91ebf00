/*
 * imapd.c - the IMAP4rev1 server (RFC 3501): connection, command loop, responses
 *
 * One connection per process at a time (lib/global/server.h). The loop reads a
 * whole command (lib/imap/imap_parse.h enforces the size limits and asks for
 * literals), finds it in the command table by name and checks that the
 * session's state allows it, then runs its handler. Responses are
 * buffered and flushed when no further pipelined input is waiting, so a
 * pipelining client gets its answers in one write and in command order.
 * Errors follow RFC 3501 7.1: BAD for what the server cannot parse or may
 * not run now, NO for what failed, BYE when the connection is ending
 * (autologout, limits, LOGOUT).
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cfg.h"
#include "connlimit.h"
#include "log.h"
#include "map.h"
#include "mem.h"
#include "mstore.h"
#include "netmatch.h"
#include "server.h"
#include "stream.h"
#include "tls.h"

#include "imapd.h"

struct imapd_config imapd_cfg;

struct command {
    const char *name;
    unsigned states; /* IMAPD_* in which it is valid */
    int uid_ok;      /* may follow UID (RFC 3501 6.4.8) */
    void (*run)(struct session *s);
};

/* RFC 3501 6 and the extensions, with the states each is valid in */
static const struct command commands[] = {
    {"CAPABILITY", IMAPD_ANY, 0, cmd_capability},
    {"NOOP", IMAPD_ANY, 0, cmd_noop},
    {"LOGOUT", IMAPD_ANY, 0, cmd_logout},
    {"ID", IMAPD_ANY, 0, cmd_id},
    {"STARTTLS", IMAPD_NOTAUTH, 0, cmd_starttls},
    {"AUTHENTICATE", IMAPD_NOTAUTH, 0, cmd_authenticate},
    {"LOGIN", IMAPD_NOTAUTH, 0, cmd_login},
    {"ENABLE", IMAPD_AUTH, 0, cmd_enable},
    {"NAMESPACE", IMAPD_AUTH | IMAPD_SELECTED, 0, cmd_namespace},
    {"IDLE", IMAPD_AUTH | IMAPD_SELECTED, 0, cmd_idle},
    {"SELECT", IMAPD_AUTH | IMAPD_SELECTED, 0, cmd_select},
    {"EXAMINE", IMAPD_AUTH | IMAPD_SELECTED, 0, cmd_select},
    {"CREATE", IMAPD_AUTH | IMAPD_SELECTED, 0, cmd_create},
    {"DELETE", IMAPD_AUTH | IMAPD_SELECTED, 0, cmd_delete},
    {"RENAME", IMAPD_AUTH | IMAPD_SELECTED, 0, cmd_rename},
    {"SUBSCRIBE", IMAPD_AUTH | IMAPD_SELECTED, 0, cmd_subscribe},
    {"UNSUBSCRIBE", IMAPD_AUTH | IMAPD_SELECTED, 0, cmd_subscribe},
    {"LIST", IMAPD_AUTH | IMAPD_SELECTED, 0, cmd_list},
    {"LSUB", IMAPD_AUTH | IMAPD_SELECTED, 0, cmd_list},
    {"STATUS", IMAPD_AUTH | IMAPD_SELECTED, 0, cmd_status},
    {"APPEND", IMAPD_AUTH | IMAPD_SELECTED, 0, cmd_append},
    {"CHECK", IMAPD_SELECTED, 0, cmd_check},
    {"CLOSE", IMAPD_SELECTED, 0, cmd_close},
    {"UNSELECT", IMAPD_SELECTED, 0, cmd_close},
    {"EXPUNGE", IMAPD_SELECTED, 1, cmd_expunge},
    {"SEARCH", IMAPD_SELECTED, 1, cmd_search},
    {"FETCH", IMAPD_SELECTED, 1, cmd_fetch},
    {"STORE", IMAPD_SELECTED, 1, cmd_store},
    {"COPY", IMAPD_SELECTED, 1, cmd_copy},
    {"MOVE", IMAPD_SELECTED, 1, cmd_copy},
    {NULL, 0, 0, NULL},
};

/* responses --------------------------------------------------------------- */

void imapd_untagged(struct session *s, const char *fmt, ...)
{
    va_list ap;
    struct str line = STR_INIT;

    str_cat(&line, "* ");
    va_start(ap, fmt);
    str_vprintf(&line, fmt, ap);
    va_end(ap);
    str_cat(&line, "\r\n");
    stream_write(s->s, line.s, line.len);
    str_free(&line);
}

/* tagged - "tag STATUS [code] text", after the mailbox's untagged updates (RFC 3501
 * 7.4.1: no EXPUNGE while answering FETCH, STORE or SEARCH) */
static void tagged(struct session *s, const char *status, const char *code, const char *fmt,
                   va_list ap)
{
    struct str line = STR_INIT;

    if (s->box && s->state == IMAPD_SELECTED) {
        int quiet = s->name && (strcmp(s->name, "FETCH") == 0 || strcmp(s->name, "STORE") == 0 ||
                                strcmp(s->name, "SEARCH") == 0);
        imapd_sync(s, !quiet);
    }

    str_printf(&line, "%s %s ", s->tag.len ? str_c(&s->tag) : "*", status);
    if (code)
        str_printf(&line, "[%s] ", code);
    str_vprintf(&line, fmt, ap);
    str_cat(&line, "\r\n");
    stream_write(s->s, line.s, line.len);
    str_free(&line);
}

void imapd_ok(struct session *s, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tagged(s, "OK", code, fmt, ap);
    va_end(ap);
}

void imapd_no(struct session *s, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tagged(s, "NO", code, fmt, ap);
    va_end(ap);
}

void imapd_bad(struct session *s, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tagged(s, "BAD", code, fmt, ap);
    va_end(ap);
    if (++s->bad_commands >= imapd_cfg.bad_command_limit && s->state != IMAPD_LOGOUT)
        imapd_bye(s, "too many bad commands", "Too many invalid IMAP commands.");
}

void imapd_bad_syntax(struct session *s)
{
    if (s->p.error == IMAP_PERR_BADCHARSET)
        imapd_no(s, "BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset.");
    else
        imapd_bad(s, NULL, "Error in IMAP command %s: %s.", s->name ? s->name : "",
                  s->p.reason.len ? str_c(&s->p.reason) : "syntax error");
}

void imapd_bye(struct session *s, const char *reason, const char *text)
{
    imapd_untagged(s, "BYE %s", text);
    s->state = IMAPD_LOGOUT;
    if (s->end_reason == NULL)
        s->end_reason = reason;
}

int imapd_flush(struct session *s)
{
    return stream_flush(s->s);
}

int imapd_client_gone(struct session *s)
{
    struct pollfd pfd = {.fd = stream_rfd(s->s), .events = POLLRDHUP};

    /* input that is merely waiting (pipelining) is not a sign */
    if (poll(&pfd, 1, 0) <= 0)
        return 0;
    if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))
        return 1;
    if ((pfd.revents & POLLRDHUP) && !s->eof_probed) {
        /* a FIN: the client has closed, or has only finished sending (a half-close, as
         * "nc -N" does) and still reads. A write tells them apart: a closed socket answers
         * it with a reset, seen at the next look (RFC 3501 7.1.1: an untagged OK may come at
         * any time) */
        s->eof_probed = 1;
        imapd_untagged(s, "OK Still working.");
        if (imapd_flush(s) != STREAM_OK)
            return 1;
    }
    return 0;
}

int imapd_plaintext_ok(const struct session *s)
{
    return s->tls || s->trusted_net;
}

void imapd_set_timeout(struct session *s)
{
    long long t =
        s->state == IMAPD_NOTAUTH ? imapd_cfg.login_timeout : imapd_cfg.autologout_timeout;
    stream_set_timeout(s->s, (int)t);
    /* before login, an overloaded service (master's stress signal) cuts clients sooner */
    stream_set_stress(s->s, s->state == IMAPD_NOTAUTH ? server_stress_fd() : -1,
                      (int)cfg_time(cfg_main, P_stress_login_timeout));
}

void imapd_capability(const struct session *s, struct str *out)
{
    str_cat(out, "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE");
    if (s->state == IMAPD_NOTAUTH) {
        if (imapd_cfg.tls && !s->tls)
            str_cat(out, " STARTTLS");
        /* RFC 3501 6.2.3, 7.2.1: no password without TLS unless the network is trusted */
        str_cat(out, imapd_plaintext_ok(s) ? " AUTH=PLAIN" : " LOGINDISABLED");
    } else {
        str_cat(out, " NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN SPECIAL-USE");
    }
}

/* the command loop ---------------------------------------------------------- */

static void upper(struct str *name)
{
    for (size_t i = 0; i < name->len; i++)
        if (name->s[i] >= 'a' && name->s[i] <= 'z')
            name->s[i] = (char)(name->s[i] - 32);
}

static const struct command *find_command(const char *name)
{
    for (const struct command *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

/* dispatch - parse "tag SP command" and run the command */
static void dispatch(struct session *s)
{
    struct str name = STR_INIT;
    const struct command *c;

    imap_parser_free(&s->p);
    imap_parser_init(&s->p, &s->cmd, imapd_cfg.lim.depth_max);
    s->name = NULL;
    s->uid = 0;
    str_reset(&s->tag);
    if (imap_p_tag(&s->p, &s->tag) < 0) {
        str_reset(&s->tag);
        imapd_bad(s, NULL, "Error in IMAP command: %s.", str_c(&s->p.reason));
        goto done;
    }
    if (imap_p_sp(&s->p) < 0 || imap_p_atom(&s->p, &name) < 0) {
        imapd_bad(s, NULL, "Error in IMAP command: missing or invalid command name.");
        goto done;
    }
    upper(&name);
    if (strcmp(str_c(&name), "UID") != 0) {
        c = find_command(str_c(&name));
    } else {
        /* RFC 3501 6.4.8: UID FETCH/SEARCH/STORE/COPY (and EXPUNGE, MOVE) */
        struct str sub = STR_INIT;
        c = NULL;
        if (imap_p_sp(&s->p) == 0 && imap_p_atom(&s->p, &sub) == 0) {
            upper(&sub);
            c = find_command(str_c(&sub));
            if (c && !c->uid_ok)
                c = NULL;
        }
        str_free(&sub);
        if (c == NULL) {
            imapd_bad(s, NULL, "Error in IMAP command UID: unknown UID command.");
            goto done;
        }
        s->uid = 1;
    }
    if (c == NULL) {
        imapd_bad(s, NULL, "Error in IMAP command: unknown command.");
        goto done;
    }
    s->name = c->name;
    if (!(c->states & s->state)) {
        const char *why = s->state == IMAPD_NOTAUTH     ? "authentication is required first"
                          : c->states == IMAPD_NOTAUTH  ? "already authenticated"
                          : c->states == IMAPD_SELECTED ? "no mailbox is selected"
                                                        : "not valid in this state";
        imapd_bad(s, NULL, "Error in IMAP command %s: %s.", c->name, why);
        goto done;
    }
    if (c->run == NULL) {
        imapd_no(s, "UNAVAILABLE", "%s is not available on this server yet.", c->name);
        goto done;
    }
    c->run(s);
done:
    str_free(&name);
}

/* read_error - a command that could not be read */
static void read_error(struct session *s, int r, const struct str *reason)
{
    imap_cmd_tag(&s->cmd, &s->tag);
    if (strcmp(str_c(&s->tag), "*") == 0)
        str_reset(&s->tag);
    switch (r) {
    case IMAP_READ_BAD:
        imapd_bad(s, NULL, "%s.", str_c(reason));
        break;
    case IMAP_READ_TOOBIG:
        imapd_no(s, "TOOBIG", "%s.", str_c(reason));
        break;
    case IMAP_READ_FATAL:
        log_warn("%s from [%s]: closing", str_c(reason), s->conn->addr);
        imapd_bye(s, "input over the limits", "Input far over the limits.");
        break;
    case IMAP_READ_TIMEOUT:
        imapd_bye(s, "timeout", "Autologout; idle for too long.");
        break;
    case IMAP_READ_EOF:
        s->state = IMAPD_LOGOUT;
        s->end_reason = "connection closed by client";
        break;
    default:
        s->state = IMAPD_LOGOUT;
        s->end_reason = stream_strerror(stream_error(s->s));
        break;
    }
}

/* start_tls - implicit TLS (RFC 8314): the handshake before anything else */
static int start_tls(struct session *s)
{
    struct str err = STR_INIT, desc = STR_INIT;

    if (imapd_cfg.tls == NULL) {
        log_warn("imapd_tls_wrappermode is set but imapd_tls_cert_file is empty");
        return -1;
    }
    if (stream_starttls(s->s, imapd_cfg.tls, 1, NULL, &err) < 0) {
        log_info("TLS handshake failed from [%s]: %s", s->conn->addr, str_c(&err));
        str_free(&err);
        return -1;
    }
    s->tls = 1;
    tls_describe(stream_ssl(s->s), &desc);
    log_info("TLS from [%s]: %s", s->conn->addr, str_c(&desc));
    str_free(&desc);
    str_free(&err);
    return 0;
}

/* too_many - imapd_client_connection_count_limit (lib/util/connlimit.h): 1 when this connection is
 * one too many and was answered; else 0, with *entered set when a slot was taken */
static int too_many(struct session *s, int *entered)
{
    struct str addr = STR_INIT;
    int count;

    *entered = 0;
    if (imapd_cfg.conn_limit <= 0 || !s->conn->is_inet ||
        netmatch_param(P_imapd_client_event_limit_exceptions, s->conn->addr) == 1)
        return 0;
    if (connlimit_enter(server_service(), s->conn->addr, imapd_cfg.conn_limit, &count) == 0) {
        *entered = 1;
        return 0;
    }
    log_warn("Connection concurrency limit exceeded: %d from [%s] for service %s", count,
             safe_text(&addr, s->conn->addr, strlen(s->conn->addr)), server_service());
    str_free(&addr);
    /* RFC 5530 3 UNAVAILABLE in the BYE greeting (RFC 3501 7.1.5). Not on an IMAPS port: no
     * TLS handshake (the time of a process) is spent on a connection refused anyway. */
    if (!imapd_cfg.wrappermode)
        imapd_untagged(s, "BYE [UNAVAILABLE] Too many connections from your address, try later");
    s->end_reason = "too many connections";
    s->state = IMAPD_LOGOUT;
    return 1;
}

static void serve(struct server_conn *conn)
{
    struct session s;
    struct str reason = STR_INIT, caps = STR_INIT;
    int entered = 0;

    memset(&s, 0, sizeof(s));
    s.conn = conn;
    s.state = IMAPD_NOTAUTH;
    server_conn_nodelay(conn);
    s.s = stream_new(conn->fd, conn->wfd, (int)imapd_cfg.login_timeout);
    imapd_set_timeout(&s);
    s.trusted_net = !conn->is_inet || netmatch_param(P_plaintext_auth_networks, conn->addr) == 1;
    imap_cmd_init(&s.cmd);
    imap_parser_init(&s.p, &s.cmd, imapd_cfg.lim.depth_max);
    log_info("connect from [%s]", conn->addr);
    if (too_many(&s, &entered)) {
        /* refused: no greeting */
    } else if (imapd_cfg.wrappermode && start_tls(&s) < 0) {
        s.end_reason = "TLS handshake failed";
        s.state = IMAPD_LOGOUT;
    } else {
        imapd_capability(&s, &caps);
        imapd_untagged(&s, "OK [CAPABILITY %s] %s", str_c(&caps), imapd_cfg.banner);
    }
    while (s.state != IMAPD_LOGOUT) {
        if (stream_pending(s.s) == 0 && imapd_flush(&s) != STREAM_OK)
            break;
        int r = imap_read_command(s.s, &imapd_cfg.lim, &s.cmd, &reason);
        if (r == IMAP_READ_OK)
            dispatch(&s);
        else
            read_error(&s, r, &reason);
    }
    imapd_flush(&s);
    log_info("disconnect from [%s]: user=<%s>, in=%llu, out=%llu, reason=%s", conn->addr,
             str_c(&s.user), (unsigned long long)stream_bytes_in(s.s),
             (unsigned long long)stream_bytes_out(s.s),
             s.end_reason ? s.end_reason : "connection error");
    imapd_store_close(&s);
    imap_parser_free(&s.p);
    imap_cmd_free(&s.cmd);
    stream_free(s.s, 0);
    str_free(&s.user);
    str_free(&s.tag);
    str_free(&reason);
    str_free(&caps);
    if (entered)
        connlimit_leave();
}

/* start-up ----------------------------------------------------------------- */

/* pre_init - still root: the TLS key and the password table */
static void pre_init(int argc, char **argv)
{
    struct str err = STR_INIT;
    const char *cert = cfg_str(cfg_main, P_imapd_tls_cert_file);

    if (*cert) {
        tls_init();
        imapd_cfg.tls = tls_server_ctx(cert, cfg_str(cfg_main, P_imapd_tls_key_file),
                                       cfg_str(cfg_main, P_imapd_tls_ciphers), &err);
        if (imapd_cfg.tls == NULL)
            log_fatal("TLS: %s", str_c(&err));
    } else if (cfg_bool(cfg_main, P_imapd_tls_wrappermode))
        log_fatal("imapd_tls_wrappermode = yes needs imapd_tls_cert_file");
    if (netmatch_check(P_plaintext_auth_networks, &err) < 0 ||
        netmatch_check(P_imapd_client_event_limit_exceptions, &err) < 0)
        log_fatal("%s", str_c(&err));
    imapd_cfg.passwd = maps_open_param(P_mailbox_passwd_maps, &err);
    if (imapd_cfg.passwd == NULL)
        log_fatal("mailbox_passwd_maps: %s", str_c(&err));
    str_free(&err);
}

static void post_init(void)
{
    struct str err = STR_INIT;
    struct imap_limits *lim = &imapd_cfg.lim;

    /* the table of connections per client is in private/ (mail_owner's): still root here */
    imapd_cfg.conn_limit = (int)cfg_int(cfg_main, P_imapd_client_connection_count_limit);
    if (imapd_cfg.conn_limit > 0 && !server_standalone())
        connlimit_open("imapd");
    mstore_become_owner("imapd");
    imapd_cfg.wrappermode = cfg_bool(cfg_main, P_imapd_tls_wrappermode);
    lim->text_max = (size_t)cfg_size(cfg_main, P_imapd_command_size_limit);
    lim->literal_max = (size_t)cfg_size(cfg_main, P_imapd_literal_size_limit);
    lim->append_max = (size_t)cfg_size(cfg_main, P_message_size_limit);
    lim->spool_min = (size_t)cfg_size(cfg_main, P_imapd_literal_spool_threshold);
    lim->spool_dir = NULL;
    lim->depth_max = (unsigned)cfg_int(cfg_main, P_imapd_nesting_limit);
    imapd_cfg.login_timeout = cfg_time(cfg_main, P_imapd_login_timeout);
    imapd_cfg.autologout_timeout = cfg_time(cfg_main, P_imapd_autologout_timeout);
    imapd_cfg.idle_notify = cfg_time(cfg_main, P_imapd_idle_notify_interval);
    imapd_cfg.idle_check = cfg_time(cfg_main, P_imapd_idle_check_interval);
    imapd_cfg.mime.max_depth = (unsigned)cfg_int(cfg_main, P_mime_nesting_limit);
    imapd_cfg.mime.max_parts = (unsigned)cfg_int(cfg_main, P_mime_part_limit);
    imapd_cfg.auth_failure_delay = cfg_time(cfg_main, P_imapd_login_failure_delay);
    imapd_cfg.auth_failure_limit = cfg_int(cfg_main, P_imapd_login_failure_limit);
    imapd_cfg.bad_command_limit = cfg_int(cfg_main, P_imapd_error_limit);
    imapd_cfg.search_key_limit = cfg_int(cfg_main, P_imapd_search_key_limit);
    imapd_cfg.search_cpu_limit = cfg_time(cfg_main, P_imapd_search_cpu_limit);
    imapd_cfg.banner = cfg_str(cfg_main, P_imapd_banner);
    imapd_cfg.version = cfg_str(cfg_main, P_mail_version);
    str_free(&err);
}

int main(int argc, char **argv)
{
    static const struct server_def def = {
        .program = "imapd",
        .pre_init = pre_init,
        .post_init = post_init,
        .serve = serve,
        .unavailable = "* BYE [UNAVAILABLE]", /* RFC 9051 7.1: UNAVAILABLE */
    };
    return server_main(argc, argv, &def);
}
