/*
 * smtp_session.c - connecting to a server and the session handshake
 *
 * smtp_session_open() connects (within $smtp_connect_timeout), reads the
 * greeting, says EHLO (HELO when EHLO is refused with 5xx, RFC 5321
 * 4.1.4), starts TLS per the destination's level (RFC 3207: STARTTLS,
 * the handshake, EHLO again, everything learned before is forgotten) and
 * authenticates to servers we hold credentials for (RFC 4954, PLAIN or
 * LOGIN, only inside TLS). Any failure is a session failure: a greeting
 * other than 220 (5xx included: another server may take the mail, as
 * Postfix's smtp_skip_5xx_greeting), 421, a refused EHLO and HELO, TLS
 * required but unavailable, a certificate that does not verify, AUTH
 * refused. Each is deferred with the server's words, and the caller tries
 * the next address.
 *
 * TLS levels (Postfix's smtp_tls_security_level): none; may (opportunistic:
 * a server that does not offer STARTTLS or refuses it gets plaintext, and a
 * failed handshake is retried once in plaintext); encrypt (TLS or nothing,
 * any certificate); verify (the chain must verify against
 * $smtp_tls_CAfile/$smtp_tls_CApath and the certificate must name the
 * server host: the MX host name, or the next hop's host, or its address
 * for [ip]). $smtp_tls_policy_maps gives a level per next hop.
 */
#include <arpa/inet.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base64.h"
#include "cfg.h"
#include "log.h"
#include "map.h"
#include "mem.h"
#include "tls.h"

#include "smtp.h"

static SSL_CTX *tls_ctx;
static struct maps *policy_maps, *password_maps;

long long smtp_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* tls_level_parse - a level name; -1 when unknown */
static int tls_level_parse(const char *v)
{
    static const char *names[] = {"none", "may", "encrypt", "verify"};

    for (int i = 0; i < 4; i++)
        if (strcasecmp(v, names[i]) == 0)
            return i;
    return -1;
}

void smtp_session_init(void)
{
    struct str err = STR_INIT;
    const char *ca = cfg_str(cfg_main, P_smtp_tls_CAfile),
               *cap = cfg_str(cfg_main, P_smtp_tls_CApath);

    if (tls_level_parse(cfg_str(cfg_main, P_smtp_tls_security_level)) < 0)
        log_fatal("smtp_tls_security_level = %s: want none, may, encrypt or verify",
                  cfg_str(cfg_main, P_smtp_tls_security_level));
    tls_ctx = tls_client_ctx(ca, cap, TLS_DEFAULT_CIPHERS, &err);
    if (tls_ctx == NULL)
        log_fatal("smtp TLS: %s", str_c(&err));
    if (!*ca && !*cap)
        SSL_CTX_set_default_verify_paths(tls_ctx);
    policy_maps = maps_open_param(P_smtp_tls_policy_maps, &err);
    if (policy_maps == NULL)
        log_fatal("smtp_tls_policy_maps: %s", str_c(&err));
    password_maps = maps_open_param(P_smtp_sasl_password_maps, &err);
    if (password_maps == NULL)
        log_fatal("smtp_sasl_password_maps: %s", str_c(&err));
    str_free(&err);
}

void smtp_session_cleanup(void)
{
    maps_close(policy_maps);
    maps_close(password_maps);
    SSL_CTX_free(tls_ctx);
    policy_maps = password_maps = NULL;
    tls_ctx = NULL;
}

int smtp_tls_level_for(const char *dest, const struct smtp_nexthop *nh, struct smtp_why *why)
{
    struct str v = STR_INIT, key = STR_INIT;
    int r = MAP_NOTFOUND, level;

    if (maps_count(policy_maps)) {
        r = maps_lookup(policy_maps, dest, &v);
        if (r == MAP_NOTFOUND && nh->mx) /* parent domains as .parent */
            for (const char *p = strchr(nh->host, '.'); p && r == MAP_NOTFOUND;
                 p = strchr(p + 1, '.'))
                r = maps_lookup(policy_maps, p, &v);
    }
    if (r == MAP_ERROR) {
        smtp_why_set(why, DELIVER_DEFERRED, "4.3.0", "smtp_tls_policy_maps lookup failure: %s",
                     maps_error_text(policy_maps));
        level = -1;
    } else if (r == MAP_FOUND) {
        /* the first word is the level; Postfix's further attributes are not supported */
        char *w = trim(v.s);
        w[strcspn(w, " \t,")] = '\0';
        level = tls_level_parse(w);
        if (level < 0) {
            log_warn("smtp_tls_policy_maps: %s: unsupported TLS level \"%s\"", dest, w);
            smtp_why_set(why, DELIVER_DEFERRED, "4.7.5", "invalid TLS policy for %s", dest);
        }
    } else {
        level = tls_level_parse(cfg_str(cfg_main, P_smtp_tls_security_level));
    }
    str_free(&v);
    str_free(&key);
    return level;
}

/* ehlo_features - the extensions of an EHLO reply (RFC 5321 4.1.1.1) */
static void ehlo_features(struct smtp_session *ss, const struct smtp_reply *r)
{
    ss->features = SMTP_F_ESMTP;
    ss->size_limit = 0;
    for (size_t i = 1; i < r->lines.n; i++) {
        char *l = xstrdup(r->lines.v[i]), *arg = l + strcspn(l, " =");
        if (*arg)
            *arg++ = '\0';
        if (strcasecmp(l, "PIPELINING") == 0)
            ss->features |= SMTP_F_PIPELINING;
        else if (strcasecmp(l, "SIZE") == 0) {
            unsigned long long n;
            ss->features |= SMTP_F_SIZE;
            if (parse_ulong(trim(arg), 1ULL << 62, &n) == 0)
                ss->size_limit = n;
        } else if (strcasecmp(l, "8BITMIME") == 0)
            ss->features |= SMTP_F_8BITMIME;
        else if (strcasecmp(l, "SMTPUTF8") == 0)
            ss->features |= SMTP_F_SMTPUTF8;
        else if (strcasecmp(l, "DSN") == 0)
            ss->features |= SMTP_F_DSN;
        else if (strcasecmp(l, "STARTTLS") == 0)
            ss->features |= SMTP_F_STARTTLS;
        else if (strcasecmp(l, "AUTH") == 0) {
            ss->features |= SMTP_F_AUTH;
            for (char *m = arg, *tok; (tok = mystrtok(&m, " ")) != NULL;) {
                if (strcasecmp(tok, "PLAIN") == 0)
                    ss->features |= SMTP_F_AUTH_PLAIN;
                else if (strcasecmp(tok, "LOGIN") == 0)
                    ss->features |= SMTP_F_AUTH_LOGIN;
            }
        }
        free(l);
    }
}

/* soft - a session failure is never final: make why a deferral */
static void soft(struct smtp_why *why)
{
    why->status = DELIVER_DEFERRED;
    why->dsn[0] = '4';
}

/* helo - EHLO, or HELO when EHLO is refused with 5xx */
static int helo(struct smtp_session *ss, struct smtp_why *why)
{
    struct smtp_reply r;
    int timeout = (int)cfg_time(cfg_main, P_smtp_helo_timeout);
    const char *name = cfg_str(cfg_main, P_smtp_helo_name);
    int rc = -1;

    smtp_reply_init(&r);
    if (smtp_cmd(ss, timeout, &r, "EHLO command", why, "EHLO %s", name) < 0)
        goto out;
    if (r.code / 100 == 2) {
        ehlo_features(ss, &r);
        rc = 0;
        goto out;
    }
    if (r.code / 100 != 5) {
        smtp_why_reply(why, ss, &r, "EHLO command");
        goto out;
    }
    ss->features = 0;
    if (smtp_cmd(ss, timeout, &r, "HELO command", why, "HELO %s", name) < 0)
        goto out;
    if (r.code / 100 != 2) {
        smtp_why_reply(why, ss, &r, "HELO command");
        goto out;
    }
    rc = 0;
out:
    if (rc < 0)
        soft(why);
    smtp_reply_free(&r);
    return rc;
}

/* name_is_ip - whether host is an IP address (a [literal] next hop) */
static int name_is_ip(const char *host)
{
    unsigned char a[16];

    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* tls_check - the certificate trust: 2 verified (chain and name), 1 trusted chain, 0 neither */
static int tls_check(struct smtp_session *ss)
{
    SSL *ssl = stream_ssl(ss->s);
    X509 *cert = SSL_get1_peer_certificate(ssl);
    int trust = 0;

    if (cert == NULL)
        return 0;
    if (SSL_get_verify_result(ssl) == X509_V_OK) {
        trust = 1;
        if (name_is_ip(ss->host) ? X509_check_ip_asc(cert, ss->host, 0) == 1
                                 : X509_check_host(cert, ss->host, 0, 0, NULL) == 1)
            trust = 2;
    }
    X509_free(cert);
    return trust;
}

/* starttls - RFC 3207; 0 TLS is up (or skipped under "may"), -1 session failure with why
 * (why->status set; *retry_plain when a plaintext retry makes sense) */
static int starttls(struct smtp_session *ss, int level, struct smtp_why *why, int *retry_plain)
{
    struct smtp_reply r;
    struct str err = STR_INIT, desc = STR_INIT;
    int timeout = (int)cfg_time(cfg_main, P_smtp_starttls_timeout), rc = -1, trust;
    static const char *trust_name[] = {"Untrusted", "Trusted", "Verified"};

    smtp_reply_init(&r);
    if (!(ss->features & SMTP_F_STARTTLS)) {
        if (level == SMTP_TLS_MAY) {
            rc = 0;
            goto out;
        }
        smtp_why_set(why, DELIVER_DEFERRED, "4.7.4",
                     "TLS is required, but was not offered by host %s", str_c(&ss->relay));
        goto out;
    }
    if (smtp_cmd(ss, timeout, &r, "STARTTLS command", why, "STARTTLS") < 0)
        goto out;
    if (r.code != 220) {
        if (level == SMTP_TLS_MAY) {
            rc = 0; /* RFC 3207 4: go on without TLS */
            goto out;
        }
        smtp_why_set(why, DELIVER_DEFERRED, "4.7.4",
                     "TLS is required, but host %s refused to start TLS: %s", str_c(&ss->relay),
                     str_c(&r.text));
        goto out;
    }
    stream_set_timeout(ss->s, timeout);
    if (stream_starttls(ss->s, tls_ctx, 0, name_is_ip(ss->host) ? NULL : ss->host, &err) < 0) {
        smtp_why_set(why, DELIVER_DEFERRED, "4.7.5",
                     "Cannot start TLS: handshake failure with %s: %s", str_c(&ss->relay),
                     str_c(&err));
        *retry_plain = level == SMTP_TLS_MAY;
        goto out;
    }
    ss->tls = 1;
    trust = tls_check(ss);
    tls_describe(stream_ssl(ss->s), &desc);
    log_info("%s TLS connection established to %s: %s", trust_name[trust], str_c(&ss->relay),
             desc.s);
    if (level == SMTP_TLS_VERIFY && trust < 2) {
        smtp_why_set(why, DELIVER_DEFERRED, "4.7.5", "Server certificate not verified: host %s: %s",
                     str_c(&ss->relay),
                     trust == 1 ? "the certificate does not name the host"
                                : "the certificate chain is not trusted");
        goto out;
    }
    if (helo(ss, why) < 0)
        goto out;
    rc = 0;
out:
    smtp_reply_free(&r);
    str_free(&err);
    str_free(&desc);
    return rc;
}

/* credentials - user and password for this server from smtp_sasl_password_maps:
 * 1 found, 0 none, -1 table failure (why set) */
static int credentials(struct smtp_session *ss, struct str *user, struct str *pass,
                       struct smtp_why *why)
{
    struct str v = STR_INIT;
    int r = maps_lookup(password_maps, ss->dest, &v), rc = 0;

    if (r == MAP_NOTFOUND)
        r = maps_lookup(password_maps, ss->host, &v);
    if (r == MAP_ERROR) {
        smtp_why_set(why, DELIVER_DEFERRED, "4.3.0", "smtp_sasl_password_maps lookup failure: %s",
                     maps_error_text(password_maps));
        rc = -1;
    } else if (r == MAP_FOUND) {
        char *t = trim(v.s), *colon = strchr(t, ':');
        if (colon == NULL) {
            log_warn("smtp_sasl_password_maps: %s: value is not user:password", ss->dest);
        } else {
            str_cpyn(user, t, (size_t)(colon - t));
            str_cpy(pass, colon + 1);
            rc = 1;
        }
    }
    str_free(&v);
    return rc;
}

/* auth - RFC 4954 AUTH PLAIN (RFC 4616) or LOGIN, when we hold credentials */
static int auth(struct smtp_session *ss, struct smtp_why *why)
{
    struct str user = STR_INIT, pass = STR_INIT, b = STR_INIT, raw = STR_INIT;
    struct smtp_reply r;
    int timeout = (int)cfg_time(cfg_main, P_smtp_helo_timeout), rc = -1, c;

    smtp_reply_init(&r);
    if (!cfg_bool(cfg_main, P_smtp_sasl_auth_enable) || !(ss->features & SMTP_F_AUTH) ||
        (c = credentials(ss, &user, &pass, why)) == 0) {
        rc = 0;
        goto out;
    }
    if (c < 0)
        goto out;
    if (!ss->tls) {
        smtp_why_set(why, DELIVER_DEFERRED, "4.7.0",
                     "SASL authentication failed: cannot authenticate to server %s without TLS",
                     str_c(&ss->relay));
        goto out;
    }
    if (ss->features & SMTP_F_AUTH_PLAIN) {
        str_catc(&raw, '\0');
        str_catn(&raw, user.s, user.len);
        str_catc(&raw, '\0');
        str_catn(&raw, pass.s, pass.len);
        base64_encode(raw.s, raw.len, &b);
        if (smtp_cmd(ss, timeout, &r, "AUTH command", why, "AUTH PLAIN %s", b.s) < 0)
            goto out;
    } else if (ss->features & SMTP_F_AUTH_LOGIN) {
        if (smtp_cmd(ss, timeout, &r, "AUTH command", why, "AUTH LOGIN") < 0)
            goto out;
        if (r.code == 334) {
            base64_encode(user.s, user.len, &b);
            if (smtp_cmd(ss, timeout, &r, "AUTH command", why, "%s", b.s) < 0)
                goto out;
        }
        if (r.code == 334) {
            str_reset(&b);
            base64_encode(pass.s, pass.len, &b);
            if (smtp_cmd(ss, timeout, &r, "AUTH command", why, "%s", b.s) < 0)
                goto out;
        }
    } else {
        smtp_why_set(why, DELIVER_DEFERRED, "4.7.0",
                     "SASL authentication failed: no mechanism in common with server %s "
                     "(PLAIN and LOGIN are supported)",
                     str_c(&ss->relay));
        goto out;
    }
    if (r.code != 235) {
        smtp_why_set(why, DELIVER_DEFERRED, "4.7.0",
                     "SASL authentication failed; server %s said: %s", str_c(&ss->relay),
                     str_c(&r.text));
        goto out;
    }
    rc = 0;
out:
    if (pass.s)
        memset(pass.s, 0, pass.len);
    if (raw.s)
        memset(raw.s, 0, raw.len);
    str_free(&user);
    str_free(&pass);
    str_free(&b);
    str_free(&raw);
    smtp_reply_free(&r);
    return rc;
}

/* session_new - the session object of a fresh connection */
static struct smtp_session *session_new(const char *dest, const struct smtp_addr *a, int fd,
                                        int level)
{
    struct smtp_session *ss = xcalloc(1, sizeof(*ss));

    ss->s = stream_new(fd, fd, (int)cfg_time(cfg_main, P_smtp_helo_timeout));
    ss->dest = xstrdup(dest);
    ss->host = xstrdup(a->host);
    memcpy(ss->ip, a->ip, sizeof(ss->ip));
    ss->port = a->port;
    str_init(&ss->relay);
    str_printf(&ss->relay, "%s[%s]:%d", a->host, a->ip, a->port);
    ss->tls_level = level;
    ss->born_ms = ss->idle_since_ms = smtp_now_ms();
    return ss;
}

/* open_once - one connection attempt at one TLS level */
static struct smtp_session *open_once(const char *dest, const struct smtp_addr *a, int level,
                                      struct smtp_why *why, int *handshook, int *retry_plain)
{
    struct str err = STR_INIT;
    struct smtp_reply r;
    struct smtp_session *ss = NULL;
    int fd;

    fd = sock_connect_addr((const struct sockaddr *)&a->sa, a->salen,
                           (int)cfg_time(cfg_main, P_smtp_connect_timeout), &err);
    if (fd < 0) {
        smtp_why_set(why, DELIVER_DEFERRED, "4.4.1", "connect to %s[%s]:%d: %s", a->host, a->ip,
                     a->port, str_c(&err));
        str_free(&err);
        return NULL;
    }
    str_free(&err);
    ss = session_new(dest, a, fd, level);
    smtp_reply_init(&r);
    if (smtp_read_reply(ss, &r, "initial greeting", why) < 0)
        goto bad;
    if (r.code != 220) {
        smtp_why_set(why, DELIVER_DEFERRED, r.code >= 500 ? "4.0.0" : r.dsn,
                     "host %s refused to talk to me: %s", str_c(&ss->relay), str_c(&r.text));
        soft(why);
        goto bad;
    }
    if (helo(ss, why) < 0)
        goto bad;
    *handshook = 1;
    if (level > SMTP_TLS_NONE && starttls(ss, level, why, retry_plain) < 0)
        goto bad;
    if (auth(ss, why) < 0)
        goto bad;
    smtp_reply_free(&r);
    return ss;
bad:
    soft(why);
    str_cpy(&why->relay, str_c(&ss->relay));
    smtp_reply_free(&r);
    smtp_session_close(ss, stream_error(ss->s) == STREAM_OK);
    return NULL;
}

struct smtp_session *smtp_session_open(const char *dest, const struct smtp_addr *a, int tls_level,
                                       struct smtp_why *why, int *handshook)
{
    int retry_plain = 0;
    struct smtp_session *ss = open_once(dest, a, tls_level, why, handshook, &retry_plain);

    if (ss == NULL && retry_plain) {
        log_info("%s: TLS is not required: trying again without TLS", a->host);
        ss = open_once(dest, a, SMTP_TLS_NONE, why, handshook, &retry_plain);
        if (ss)
            ss->tls_level = tls_level; /* cached for the destination's level all the same */
    }
    return ss;
}

void smtp_session_close(struct smtp_session *ss, int quit)
{
    if (ss == NULL)
        return;
    if (quit && stream_error(ss->s) == STREAM_OK) {
        struct smtp_reply r;
        struct smtp_why w;
        smtp_reply_init(&r);
        smtp_why_init(&w);
        /* the reply does not matter; wait briefly so the server sees an orderly end */
        smtp_cmd(ss, (int)cfg_time(cfg_main, P_smtp_quit_timeout), &r, "QUIT command", &w, "QUIT");
        smtp_reply_free(&r);
        smtp_why_free(&w);
    }
    stream_free(ss->s, 1);
    free(ss->dest);
    free(ss->host);
    str_free(&ss->relay);
    free(ss);
}
