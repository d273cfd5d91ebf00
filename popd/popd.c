/*
 * popd.c - the POP3 server: process set-up and the AUTHORIZATION state
 *
 * One connection per process at a time (server.h). popd starts as root
 * (master.cf unpriv=n) so that it can read its TLS key, then becomes the
 * virtual mailbox owner (virtual_uid_maps/virtual_gid_maps, one static:
 * uid and gid) before it reads a byte from the network; it never serves a
 * session as root. Started by an ordinary user, it runs as that user.
 *
 * AUTHORIZATION (RFC 1939 4, RFC 2449, RFC 2595, RFC 5034): CAPA, STLS,
 * USER/PASS, APOP (only when enabled), AUTH PLAIN, QUIT. Passwords are
 * accepted without TLS only from plaintext_auth_networks. Failed logins
 * are delayed, logged and limited per connection; unknown users and
 * wrong passwords get the same reply.
 */
#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "base64.h"
#include "cfg.h"
#include "connlimit.h"
#include "log.h"
#include "map.h"
#include "mem.h"
#include "netmatch.h"
#include "tls.h"

#include "popd.h"

static SSL_CTX *tls_ctx;
static struct maps *passwd_maps;
static struct maps *apop_maps;

/* ---- replies ---------------------------------------------------------------- */

void popd_flush_if_idle(struct popd *p)
{
    if (stream_pending(p->s) == 0)
        stream_flush(p->s);
}

void popd_reply(struct popd *p, int ok, const char *fmt, ...)
{
    va_list ap;
    struct str line = STR_INIT;

    str_cat(&line, ok ? "+OK" : "-ERR");
    if (fmt && *fmt) {
        str_catc(&line, ' ');
        va_start(ap, fmt);
        str_vprintf(&line, fmt, ap);
        va_end(ap);
    }
    if (line.len > 510) /* RFC 2449 4: a status line is at most 512 octets */
        str_truncate(&line, 510);
    str_cat(&line, "\r\n");
    stream_write(p->s, line.s, line.len);
    str_free(&line);
    popd_flush_if_idle(p);
}

int popd_bad(struct popd *p, const char *fmt, ...)
{
    va_list ap;
    struct str text = STR_INIT;

    va_start(ap, fmt);
    str_vprintf(&text, fmt, ap);
    va_end(ap);
    if (++p->errors >= cfg_int(cfg_main, P_popd_error_limit)) {
        popd_reply(p, 0, "%s; too many errors, closing connection", str_c(&text));
        stream_flush(p->s);
        log_info("too many errors: user=<%s>, rip=%s", str_c(&p->user), p->conn->addr);
        str_free(&text);
        return 0;
    }
    popd_reply(p, 0, "%s", str_c(&text));
    str_free(&text);
    return 1;
}

static int plaintext_allowed(const struct popd *p)
{
    if (p->tls || !p->conn->is_inet)
        return 1;
    return netmatch_param(P_plaintext_auth_networks, p->conn->addr);
}

void popd_capa(struct popd *p, int transaction)
{
    long long delay = cfg_time(cfg_main, P_popd_login_delay);
    int plain = !transaction && plaintext_allowed(p);

    stream_puts(p->s, "+OK Capability list follows\r\nTOP\r\n");
    if (plain)
        stream_puts(p->s, "USER\r\n");
    stream_puts(p->s, "UIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nEXPIRE NEVER\r\n");
    if (delay > 0)
        stream_printf(p->s, "LOGIN-DELAY %lld\r\n", delay);
    if (plain)
        stream_puts(p->s, "SASL PLAIN\r\n");
    if (!transaction && tls_ctx && !p->tls)
        stream_puts(p->s, "STLS\r\n");
    stream_puts(p->s, "IMPLEMENTATION Petrel\r\n.\r\n");
    popd_flush_if_idle(p);
}

/* ---- logins ------------------------------------------------------------------- */

static void log_login(struct popd *p, const char *what)
{
    log_info("%s: user=<%s>, method=%s, rip=%s, lip=%s%s", what, str_c(&p->user), str_c(&p->method),
             p->conn->addr[0] ? p->conn->addr : "local",
             p->conn->laddr[0] ? p->conn->laddr : "local", p->tls ? ", TLS" : "");
}

/* failed - a rejected login: log, delay, count; 0 when the connection must close */
static int failed(struct popd *p, const char *why)
{
    long long delay = cfg_time(cfg_main, P_popd_login_failure_delay);

    log_login(p, "auth failed");
    if (delay > 0) {
        stream_flush(p->s);
        sleep((unsigned)delay);
    }
    str_reset(&p->user);
    if (++p->failures >= cfg_int(cfg_main, P_popd_login_failure_limit)) {
        popd_reply(p, 0, "[AUTH] %s; too many failures, closing connection", why);
        stream_flush(p->s);
        return 0;
    }
    popd_reply(p, 0, "[AUTH] %s", why);
    return 1;
}

/* logged_in - credentials accepted: open the maildrop; 1 when TRANSACTION begins */
static int logged_in(struct popd *p)
{
    str_lower(&p->user);
    if (popd_maildrop_open(p) < 0) {
        str_reset(&p->user);
        return 0;
    }
    log_login(p, "login");
    stream_set_stress(p->s, -1, 0); /* the stress limit is for clients not logged in */
    return 1;
}

/* check_password - USER/PASS and AUTH PLAIN; 1 logged in, 0 not, -1 close */
static int check_password(struct popd *p, const char *user, const char *pass)
{
    int r;

    str_cpy(&p->user, user);
    if (*user == '\0' || strlen(user) > 255)
        return failed(p, "Authentication failed") ? 0 : -1;
    r = auth_verify(passwd_maps, user, pass);
    if (r == AUTH_TEMPFAIL) {
        log_warn("mailbox_passwd_maps: %s", maps_error_text(passwd_maps));
        popd_reply(p, 0, "[SYS/TEMP] Authentication temporarily unavailable, try again later");
        str_reset(&p->user);
        return 0;
    }
    if (r != AUTH_OK)
        return failed(p, "Authentication failed") ? 0 : -1;
    return logged_in(p);
}

static void hex_md5(const char *a, const char *b, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_MD *md5 = EVP_MD_fetch(NULL, "MD5", NULL);

    if (c == NULL || md5 == NULL || !EVP_DigestInit_ex(c, md5, NULL) ||
        !EVP_DigestUpdate(c, a, strlen(a)) || !EVP_DigestUpdate(c, b, strlen(b)) ||
        !EVP_DigestFinal_ex(c, md, &n) || n != 16)
        log_fatal("MD5 is not available from OpenSSL");
    for (unsigned i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(c);
    EVP_MD_free(md5);
}

/* apop - RFC 1939 7: MD5 of the greeting's time stamp and the shared secret */
static int apop(struct popd *p, const char *user, const char *digest)
{
    struct str secret = STR_INIT, given = STR_INIT;
    char want[33];
    int r = MAP_NOTFOUND;

    str_cpy(&p->user, user);
    if (apop_maps)
        r = maps_lookup(apop_maps, user, &secret);
    if (r == MAP_ERROR) {
        log_warn("popd_apop_secret_maps: %s", maps_error_text(apop_maps));
        popd_reply(p, 0, "[SYS/TEMP] Authentication temporarily unavailable, try again later");
        str_free(&secret);
        str_reset(&p->user);
        return 0;
    }
    /* the same work whether the user exists or not */
    hex_md5(str_c(&p->apop_stamp), r == MAP_FOUND ? str_c(&secret) : "\001no such user", want);
    str_cpy(&given, digest);
    str_lower(&given);
    r = r == MAP_FOUND && given.len == 32 && CRYPTO_memcmp(given.s, want, 32) == 0;
    str_free(&secret);
    str_free(&given);
    if (!r)
        return failed(p, "Authentication failed") ? 0 : -1;
    return logged_in(p);
}

/* auth_plain - RFC 5034 AUTH with the PLAIN mechanism (RFC 4616) */
static int auth_plain(struct popd *p, const char *initial)
{
    struct str resp = STR_INIT, dec = STR_INIT, authz = STR_INIT, authc = STR_INIT, pass = STR_INIT;
    int r;

    if (initial == NULL) {
        stream_puts(p->s, "+ \r\n");
        stream_flush(p->s);
        r = stream_getline(p->s, &resp, (size_t)cfg_size(cfg_main, P_popd_sasl_line_limit));
        if (r == STREAM_TOOLONG) {
            r = popd_bad(p, "Authentication line too long") ? 0 : -1;
            goto out;
        }
        if (r != STREAM_OK) {
            r = -1;
            goto out;
        }
        str_chomp(&resp);
    } else {
        str_cpy(&resp, initial);
    }
    if (strcmp(str_c(&resp), "*") == 0) {
        popd_reply(p, 0, "Authentication cancelled");
        r = 0;
        goto out;
    }
    if (strcmp(str_c(&resp), "=") != 0 && base64_decode(resp.s, resp.len, &dec) < 0) {
        r = popd_bad(p, "Invalid base64 data") ? 0 : -1;
        goto out;
    }
    if (auth_plain_decode(&dec, &authz, &authc, &pass) < 0 || memchr(authc.s, '\0', authc.len) ||
        (authz.len && strcasecmp(str_c(&authz), str_c(&authc)) != 0)) {
        str_cpy(&p->user, str_c(&authc));
        r = failed(p, "Authentication failed") ? 0 : -1;
        goto out;
    }
    r = check_password(p, str_c(&authc), str_c(&pass));
out:
    explicit_bzero(dec.s ? dec.s : "", dec.len);
    explicit_bzero(pass.s ? pass.s : "", pass.len);
    str_free(&resp);
    str_free(&dec);
    str_free(&authz);
    str_free(&authc);
    str_free(&pass);
    return r;
}

/* stls - RFC 2595 4; 1 continue, -1 close */
static int stls(struct popd *p)
{
    struct str err = STR_INIT;
    long r;

    popd_reply(p, 1, "Begin TLS negotiation now");
    stream_flush(p->s);
    r = stream_starttls(p->s, tls_ctx, 1, NULL, &err);
    if (r < 0) {
        log_info("STLS failed: rip=%s: %s", p->conn->addr, str_c(&err));
        str_free(&err);
        return -1;
    }
    p->tls = 1;
    str_reset(&p->user); /* RFC 2595 4: start over in AUTHORIZATION */
    str_free(&err);
    return 1;
}

/* ---- the AUTHORIZATION state ---------------------------------------------------- */

int popd_split(struct str *line, char **argv, int max)
{
    int n = 0;
    char *s;

    str_chomp(line);
    for (size_t i = 0; i < line->len; i++)
        if ((unsigned char)line->s[i] < 0x20 || line->s[i] == 0x7f)
            return -2;
    s = line->s ? line->s : (char *)"";
    for (;;) {
        char *sp = strchr(s, ' ');
        if (n == max)
            return -1;
        argv[n++] = s;
        if (sp == NULL)
            break;
        *sp = '\0';
        s = sp + 1;
        if (*s == '\0' || *s == ' ')
            return -1; /* RFC 1939 3: arguments are separated by a single space */
    }
    return argv[0][0] == '\0' ? -1 : n;
}

/* authorization - one command in AUTHORIZATION; 1 stay, 2 logged in, -1 close */
static int authorization(struct popd *p, struct str *line)
{
    char *argv[4];
    char *cmd;
    int argc;
    const char *rest;

    /* PASS takes the rest of the line: a password may hold spaces */
    if (has_prefix_ci(str_c(line), "PASS ")) {
        struct str tmp = STR_INIT;
        str_cpyn(&tmp, line->s, line->len);
        argc = popd_split(&tmp, argv, 1); /* only to check the characters */
        explicit_bzero(tmp.s, tmp.len);
        str_free(&tmp);
        if (argc == -2)
            return popd_bad(p, "Invalid characters in command") ? 1 : -1;
        str_chomp(line);
        rest = str_c(line) + 5;
        if (p->user.len == 0 || !plaintext_allowed(p))
            return popd_bad(p, p->user.len
                                   ? "[AUTH] Plaintext authentication disallowed without TLS"
                                   : "No user name given: USER first")
                       ? 1
                       : -1;
        str_cpy(&p->method, "USER");
        {
            struct str u = STR_INIT;
            int r;
            str_cpy(&u, str_c(&p->user));
            r = check_password(p, str_c(&u), rest);
            str_free(&u);
            explicit_bzero(line->s, line->len);
            return r < 0 ? -1 : r ? 2 : 1;
        }
    }
    argc = popd_split(line, argv, 3);
    if (argc == -2)
        return popd_bad(p, "Invalid characters in command") ? 1 : -1;
    if (argc < 0)
        return popd_bad(p, "Syntax error") ? 1 : -1;
    cmd = argv[0];
    if (strcasecmp(cmd, "CAPA") == 0 && argc == 1) {
        popd_capa(p, 0);
        return 1;
    }
    if (strcasecmp(cmd, "QUIT") == 0 && argc == 1) {
        popd_reply(p, 1, "Bye");
        stream_flush(p->s);
        return -1;
    }
    if (strcasecmp(cmd, "STLS") == 0 && argc == 1) {
        if (tls_ctx == NULL)
            return popd_bad(p, "STLS is not available") ? 1 : -1;
        if (p->tls)
            return popd_bad(p, "TLS is already active") ? 1 : -1;
        return stls(p);
    }
    if (strcasecmp(cmd, "USER") == 0 && argc == 2) {
        if (!plaintext_allowed(p))
            return popd_bad(p, "[AUTH] Plaintext authentication disallowed without TLS") ? 1 : -1;
        if (strlen(argv[1]) > 255)
            return popd_bad(p, "User name too long") ? 1 : -1;
        str_cpy(&p->user, argv[1]);
        popd_reply(p, 1, "Send your password");
        return 1;
    }
    if (strcasecmp(cmd, "APOP") == 0 && argc == 3) {
        int r;
        if (!cfg_bool(cfg_main, P_popd_apop_enable))
            return popd_bad(p, "APOP is not available") ? 1 : -1;
        str_cpy(&p->method, "APOP");
        r = apop(p, argv[1], argv[2]);
        return r < 0 ? -1 : r ? 2 : 1;
    }
    if (strcasecmp(cmd, "AUTH") == 0 && argc <= 3) {
        int r;
        if (argc == 1) { /* the list of mechanisms (RFC 1734 practice) */
            stream_puts(p->s, "+OK Mechanisms follow\r\n");
            if (plaintext_allowed(p))
                stream_puts(p->s, "PLAIN\r\n");
            stream_puts(p->s, ".\r\n");
            popd_flush_if_idle(p);
            return 1;
        }
        if (strcasecmp(argv[1], "PLAIN") != 0)
            return popd_bad(p, "Unsupported authentication mechanism") ? 1 : -1;
        if (!plaintext_allowed(p))
            return popd_bad(p, "[AUTH] Plaintext authentication disallowed without TLS") ? 1 : -1;
        str_cpy(&p->method, "PLAIN");
        r = auth_plain(p, argc == 3 ? argv[2] : NULL);
        return r < 0 ? -1 : r ? 2 : 1;
    }
    if (strcasecmp(cmd, "PASS") == 0)
        return popd_bad(p, "Syntax error") ? 1 : -1;
    {
        static const char *later[] = {"STAT", "LIST", "RETR", "DELE", "NOOP",
                                      "RSET", "TOP",  "UIDL", NULL};
        for (int i = 0; later[i]; i++)
            if (strcasecmp(cmd, later[i]) == 0)
                return popd_bad(p, "Not logged in") ? 1 : -1;
    }
    return popd_bad(p, "Unknown command") ? 1 : -1;
}

/* apop_stamp - a unique greeting time stamp "<pid.time.random@host>" */
static void apop_stamp(struct str *out)
{
    unsigned char rnd[8];
    unsigned long long r = 0;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        log_fatal("RAND_bytes failed");
    for (int i = 0; i < 8; i++)
        r = r << 8 | rnd[i];
    str_reset(out);
    str_printf(out, "<%ld.%lld.%016llx@%s>", (long)getpid(), (long long)time(NULL), r,
               cfg_str(cfg_main, P_myhostname));
}

/* too_many - popd_client_connection_count_limit (lib/util/connlimit.h): 1 when this connection is
 * one too many and was answered; else 0, with *entered set when a slot was taken */
static int too_many(struct popd *p, int *entered)
{
    int limit = (int)cfg_int(cfg_main, P_popd_client_connection_count_limit), count;
    struct str addr = STR_INIT;

    *entered = 0;
    if (limit <= 0 || !p->conn->is_inet ||
        netmatch_param(P_popd_client_event_limit_exceptions, p->conn->addr) == 1)
        return 0;
    if (connlimit_enter(server_service(), p->conn->addr, limit, &count) == 0) {
        *entered = 1;
        return 0;
    }
    log_warn("Connection concurrency limit exceeded: %d from [%s] for service %s", count,
             safe_text(&addr, p->conn->addr, strlen(p->conn->addr)), server_service());
    str_free(&addr);
    /* RFC 2449 8.1.2 SYS/TEMP: a passing problem, try later. Not on a POP3S port: no
     * TLS handshake (the time of a process) is spent on a connection refused anyway. */
    if (!cfg_bool(cfg_main, P_popd_tls_wrappermode)) {
        popd_reply(p, 0, "[SYS/TEMP] Too many connections from your address, try later");
        stream_flush(p->s);
    }
    return 1;
}

static void serve(struct server_conn *c)
{
    struct popd p;
    struct str line = STR_INIT;
    size_t limit = (size_t)cfg_size(cfg_main, P_popd_command_line_limit);
    int r, entered;

    memset(&p, 0, sizeof(p));
    p.conn = c;
    server_conn_nodelay(c);
    /* the short pre-login timeout until a login succeeds (popd_timeout after it) */
    p.s = stream_new(c->fd, c->wfd, (int)cfg_time(cfg_main, P_popd_login_timeout));
    stream_set_stress(p.s, server_stress_fd(), (int)cfg_time(cfg_main, P_stress_login_timeout));
    if (too_many(&p, &entered)) {
        stream_free(p.s, 0);
        return;
    }
    if (cfg_bool(cfg_main, P_popd_tls_wrappermode)) {
        struct str err = STR_INIT;
        if (tls_ctx == NULL || stream_starttls(p.s, tls_ctx, 1, NULL, &err) < 0) {
            log_info("TLS handshake failed: rip=%s: %s", c->addr,
                     tls_ctx ? str_c(&err) : "no popd_tls_cert_file");
            str_free(&err);
            stream_free(p.s, 0);
            if (entered)
                connlimit_leave();
            return;
        }
        str_free(&err);
        p.tls = 1;
    }
    log_info("connect from %s", c->addr[0] ? c->addr : "local");
    if (cfg_bool(cfg_main, P_popd_apop_enable)) {
        apop_stamp(&p.apop_stamp);
        popd_reply(&p, 1, "%s %s", cfg_str(cfg_main, P_popd_banner), str_c(&p.apop_stamp));
    } else {
        popd_reply(&p, 1, "%s", cfg_str(cfg_main, P_popd_banner));
    }
    stream_flush(p.s);
    for (;;) {
        r = stream_getline(p.s, &line, limit);
        if (r == STREAM_TOOLONG) {
            if (!popd_bad(&p, "Command line too long"))
                break;
            continue;
        }
        if (r != STREAM_OK)
            break; /* EOF, error or autologout: nothing to UPDATE in this state */
        r = authorization(&p, &line);
        if (r < 0)
            break;
        if (r == 2) {
            stream_set_timeout(p.s, (int)cfg_time(cfg_main, P_popd_timeout));
            popd_transaction(&p);
            break;
        }
    }
    if (r == STREAM_TIMEOUT)
        log_info("timeout: user=<%s>, rip=%s", str_c(&p.user), c->addr);
    popd_maildrop_close(&p);
    stream_flush(p.s);
    log_info("disconnect from %s", c->addr[0] ? c->addr : "local");
    explicit_bzero(line.s ? line.s : "", line.len);
    str_free(&line);
    str_free(&p.user);
    str_free(&p.method);
    str_free(&p.apop_stamp);
    stream_free(p.s, 0);
    if (entered)
        connlimit_leave();
}

/* pre_init - as root: the TLS key and the tables */
static void pre_init(int argc, char **argv)
{
    const char *cert = cfg_str(cfg_main, P_popd_tls_cert_file);
    struct str err = STR_INIT;

    (void)argc;
    (void)argv;
    if (*cert) {
        const char *ciphers = cfg_str(cfg_main, P_popd_tls_ciphers);
        tls_init();
        tls_ctx = tls_server_ctx(cert, cfg_str(cfg_main, P_popd_tls_key_file),
                                 *ciphers ? ciphers : TLS_DEFAULT_CIPHERS, &err);
        if (tls_ctx == NULL)
            log_fatal("TLS: %s", str_c(&err));
    } else if (cfg_bool(cfg_main, P_popd_tls_wrappermode)) {
        log_fatal("popd_tls_wrappermode = yes needs popd_tls_cert_file");
    }
    if (netmatch_check(P_plaintext_auth_networks, &err) < 0 ||
        netmatch_check(P_popd_client_event_limit_exceptions, &err) < 0)
        log_fatal("%s", str_c(&err));
    if ((passwd_maps = maps_open_param(P_mailbox_passwd_maps, &err)) == NULL)
        log_fatal("mailbox_passwd_maps: %s", str_c(&err));
    if (cfg_bool(cfg_main, P_popd_apop_enable) &&
        (apop_maps = maps_open_param(P_popd_apop_secret_maps, &err)) == NULL)
        log_fatal("popd_apop_secret_maps: %s", str_c(&err));
    str_free(&err);
}

/* post_init - open the table of connections per client (still root: private/ is
 * mail_owner's), then become the owner of the virtual mail store */
static void post_init(void)
{
    if (cfg_int(cfg_main, P_popd_client_connection_count_limit) > 0 && !server_standalone())
        connlimit_open("popd");
    mstore_become_owner("popd");
}

int main(int argc, char **argv)
{
    static const struct server_def def = {
        .program = "popd",
        .pre_init = pre_init,
        .post_init = post_init,
        .serve = serve,
        .unavailable = "-ERR [SYS/TEMP]", /* RFC 3206 4: a temporary system problem */
    };
    return server_main(argc, argv, &def);
}
