/*
 * cmd_auth.c - the not-authenticated state: STARTTLS, AUTHENTICATE PLAIN, LOGIN
 *
 * RFC 3501 6.2. Passwords are checked against mailbox_passwd_maps
 * (lib/global/auth.h), the table SMTP AUTH and POP3 use too. A password is taken
 * only over TLS or from plaintext_auth_networks (RFC 3501 6.2.3,
 * LOGINDISABLED); each failure is answered after imapd_login_failure_delay,
 * and the imapd_login_failure_limit-th ends the connection. STARTTLS
 * discards anything the client pipelined after it (RFC 3501 6.2.1, RFC
 * 2595 3.1): lib/util/stream.c does that at the switch.
 */
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth.h"
#include "base64.h"
#include "log.h"
#include "stream.h"
#include "tls.h"

#include "imapd.h"

#define USER_MAX 255

/* wipe - clear a secret before its buffer is freed */
static void wipe(struct str *secret)
{
    if (secret->s)
        explicit_bzero(secret->s, secret->len);
}

void cmd_starttls(struct session *s)
{
    struct str err = STR_INIT, desc = STR_INIT;

    if (imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
        return;
    }
    if (imapd_cfg.tls == NULL) {
        imapd_bad(s, NULL, "TLS is not available on this server.");
        return;
    }
    if (s->tls) {
        imapd_bad(s, NULL, "TLS is already active.");
        return;
    }
    imapd_ok(s, NULL, "Begin TLS negotiation now.");
    if (imapd_flush(s) != STREAM_OK) {
        s->state = IMAPD_LOGOUT;
        return;
    }
    long r = stream_starttls(s->s, imapd_cfg.tls, 1, NULL, &err);
    if (r < 0) {
        log_info("STARTTLS handshake failed from [%s]: %s", s->conn->addr, str_c(&err));
        s->state = IMAPD_LOGOUT;
        s->end_reason = "TLS handshake failed";
    } else {
        if (r > 0)
            log_info("discarded %ld bytes sent by [%s] after STARTTLS before the handshake", r,
                     s->conn->addr);
        s->tls = 1;
        tls_describe(stream_ssl(s->s), &desc);
        log_info("STARTTLS from [%s]: %s", s->conn->addr, str_c(&desc));
    }
    str_free(&err);
    str_free(&desc);
}

/* log_login - "login: user=<x>, method=PLAIN, rip=..., lip=..., TLS" (the popd form) */
static void log_login(struct session *s, const char *what, const char *user, const char *method)
{
    log_info("%s: user=<%s>, method=%s, rip=%s, lip=%s%s", what, user, method, s->conn->addr,
             s->conn->laddr, s->tls ? ", TLS" : "");
}

/* fail_login - a failed attempt: delayed, counted, the last one ends the session */
static void fail_login(struct session *s, const char *user, const char *method, const char *code,
                       const char *text)
{
    log_login(s, "authentication failed", user, method);
    s->auth_failures++;
    if (imapd_cfg.auth_failure_delay > 0) {
        imapd_flush(s);
        sleep((unsigned)imapd_cfg.auth_failure_delay);
    }
    imapd_no(s, code, "%s", text);
    if (s->auth_failures >= imapd_cfg.auth_failure_limit)
        imapd_bye(s, "too many authentication failures",
                  "Too many invalid authentication attempts.");
}

/* valid_user - a user name we are willing to look up */
static int valid_user(const struct str *user)
{
    if (user->len == 0 || user->len > USER_MAX)
        return 0;
    for (size_t i = 0; i < user->len; i++)
        if ((unsigned char)user->s[i] < 32 || user->s[i] == 127)
            return 0;
    return 1;
}

/* finish_login - check the password and enter the authenticated state */
static void finish_login(struct session *s, const struct str *user, const struct str *pass,
                         const char *method)
{
    struct str safe = STR_INIT, caps = STR_INIT;
    const char *shown = safe_text(&safe, str_c(user), user->len);

    if (!valid_user(user) || memchr(str_c(pass), '\0', pass->len) != NULL) {
        fail_login(s, shown, method, "AUTHENTICATIONFAILED", "Authentication failed.");
        str_free(&safe);
        return;
    }
    switch (auth_verify(imapd_cfg.passwd, str_c(user), str_c(pass))) {
    case AUTH_OK:
        str_cpyn(&s->user, user->s, user->len);
        str_lower(&s->user);
        if (imapd_store_open(s) < 0) {
            str_reset(&s->user);
            break;
        }
        s->state = IMAPD_AUTH;
        imapd_set_timeout(s);
        log_login(s, "login", str_c(&s->user), method);
        imapd_capability(s, &caps);
        imapd_ok(s, NULL, "[CAPABILITY %s] Logged in.", str_c(&caps));
        break;
    case AUTH_TEMPFAIL:
        log_warn("mailbox_passwd_maps lookup failed for user=<%s>: %s", shown,
                 maps_error_text(imapd_cfg.passwd));
        imapd_no(s, "UNAVAILABLE", "Temporary authentication failure, try again later.");
        break;
    default:
        fail_login(s, shown, method, "AUTHENTICATIONFAILED", "Authentication failed.");
        break;
    }
    str_free(&safe);
    str_free(&caps);
}

void cmd_login(struct session *s)
{
    struct str user = STR_INIT, pass = STR_INIT;

    if (imap_p_sp(&s->p) < 0 || imap_p_astring(&s->p, &user) < 0 || imap_p_sp(&s->p) < 0 ||
        imap_p_astring(&s->p, &pass) < 0 || imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
    } else if (!imapd_plaintext_ok(s)) {
        /* RFC 3501 6.2.3; RFC 5530 PRIVACYREQUIRED */
        imapd_no(s, "PRIVACYREQUIRED", "Plaintext authentication is disallowed without TLS.");
    } else {
        finish_login(s, &user, &pass, "PLAIN");
    }
    str_free(&user);
    wipe(&pass);
    str_free(&pass);
}

/* sasl_response - the client's base64 response line (RFC 3501 6.2.2); 1 when it
 * cancelled with "*", -1 on a broken connection or line */
static int sasl_response(struct session *s, struct str *line)
{
    stream_puts(s->s, "+ \r\n");
    if (imapd_flush(s) != STREAM_OK)
        return -1;
    int r = stream_getline(s->s, line, imapd_cfg.lim.text_max);
    if (r == STREAM_TOOLONG)
        return -2;
    if (r != STREAM_OK)
        return -1;
    str_chomp(line);
    return line->len == 1 && line->s[0] == '*';
}

void cmd_authenticate(struct session *s)
{
    struct str mech = STR_INIT, resp = STR_INIT, msg = STR_INIT;
    struct str authz = STR_INIT, authc = STR_INIT, pass = STR_INIT;
    int have_ir = 0;

    /* authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")] (RFC 4959) */
    if (imap_p_sp(&s->p) < 0 || imap_p_atom(&s->p, &mech) < 0 ||
        (imap_peek(&s->p) == ' ' && (imap_p_sp(&s->p) < 0 || imap_p_atom(&s->p, &resp) < 0)) ||
        imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
        goto out;
    }
    have_ir = resp.len > 0;
    if (strcasecmp(str_c(&mech), "PLAIN") != 0) {
        imapd_no(s, NULL, "Unsupported authentication mechanism.");
        goto out;
    }
    if (!imapd_plaintext_ok(s)) {
        imapd_no(s, "PRIVACYREQUIRED", "Plaintext authentication is disallowed without TLS.");
        goto out;
    }
    if (!have_ir) {
        int r = sasl_response(s, &resp);
        if (r == 1) {
            imapd_bad(s, NULL, "Authentication cancelled.");
            goto out;
        }
        if (r == -2) {
            imapd_bad(s, NULL, "Authentication response too long.");
            goto out;
        }
        if (r < 0) {
            s->state = IMAPD_LOGOUT;
            s->end_reason = "connection lost during AUTHENTICATE";
            goto out;
        }
    }
    /* "=" is an empty initial response (RFC 4959 3) */
    if (!(resp.len == 1 && resp.s[0] == '=') && base64_decode(resp.s, resp.len, &msg) < 0) {
        imapd_bad(s, NULL, "Invalid base64 data in the authentication response.");
        goto out;
    }
    if (auth_plain_decode(&msg, &authz, &authc, &pass) < 0) {
        fail_login(s, "", "PLAIN", "AUTHENTICATIONFAILED", "Authentication failed.");
        goto out;
    }
    /* no proxy authorization: the identity, if given, must be the user's own */
    if (authz.len && (authz.len != authc.len || strncasecmp(authz.s, authc.s, authc.len) != 0)) {
        struct str safe = STR_INIT;
        fail_login(s, safe_text(&safe, authc.s, authc.len), "PLAIN", "AUTHORIZATIONFAILED",
                   "Authorization identity not allowed.");
        str_free(&safe);
        goto out;
    }
    finish_login(s, &authc, &pass, "PLAIN");
out:
    wipe(&resp);
    wipe(&msg);
    wipe(&pass);
    str_free(&mech);
    str_free(&resp);
    str_free(&msg);
    str_free(&authz);
    str_free(&authc);
    str_free(&pass);
}
