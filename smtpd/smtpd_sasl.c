/*
 * smtpd_sasl.c - SMTP AUTH (RFC 4954) with PLAIN (RFC 4616) and LOGIN
 *
 * Credentials are checked against mailbox_passwd_maps (lib/global/auth.h), the
 * table that POP3 and IMAP use too. AUTH is offered only over TLS unless
 * smtpd_tls_auth_only = no. A failed attempt is answered after
 * smtpd_sasl_failure_delay and counted; at smtpd_sasl_failure_limit the
 * connection is closed with 421 4.7.0. A table that cannot be read is a
 * temporary failure (454), never a wrong password. Passwords are wiped
 * from memory after use and never logged.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth.h"
#include "base64.h"
#include "cfg.h"
#include "log.h"
#include "map.h"
#include "mem.h"

#include "smtpd.h"

#define SASL_NAME_MAX 256

static struct maps *passwd_maps;

void sasl_init(void)
{
    struct str err = STR_INIT;

    if (!smtpd_cf.sasl_enable)
        return;
    passwd_maps = maps_open_param(P_mailbox_passwd_maps, &err);
    if (passwd_maps == NULL)
        log_fatal("%s", str_c(&err));
    if (maps_count(passwd_maps) == 0) {
        maps_close(passwd_maps);
        passwd_maps = NULL;
    }
    str_free(&err);
}

int sasl_offered(const struct session *ss)
{
    return passwd_maps != NULL && (ss->tls || !smtpd_cf.tls_auth_only);
}

const char *sasl_mechanisms(void)
{
    return "PLAIN LOGIN";
}

/* wipe - clear and free a string that held a secret */
static void wipe(struct str *s)
{
    if (s->s)
        explicit_bzero(s->s, s->cap);
    str_free(s);
}

/* challenge - send "334 text", read the client's response line; 0 ok, 1 line too long,
 * -1 connection lost */
static int challenge(struct session *ss, const char *text, struct str *resp)
{
    int r;

    reply(ss, "334 %s", text);
    if (stream_flush(ss->s) != STREAM_OK)
        r = STREAM_ERR;
    else
        r = stream_getline(ss->s, resp, smtpd_cf.line_limit + 2);
    if (r == STREAM_TOOLONG)
        return 1;
    if (r != STREAM_OK || resp->len == 0 || resp->s[resp->len - 1] != '\n') {
        if (r == STREAM_TIMEOUT) {
            log_info("timeout after AUTH from %s", ss->namaddr);
            ss->quit = 1;
            reply(ss, "421 4.4.2 %s Error: timeout exceeded", smtpd_cf.myhostname);
        } else {
            log_info("lost connection after AUTH from %s", ss->namaddr);
        }
        ss->quit = 1;
        return -1;
    }
    str_chomp(resp);
    return 0;
}

/* decode - a base64 client response ("=" is empty, "*" cancels); 0 ok, 1 cancelled, -1 bad */
static int decode(const struct str *in, struct str *out)
{
    str_reset(out);
    if (in->len == 1 && in->s[0] == '*')
        return 1;
    if (in->len == 1 && in->s[0] == '=')
        return 0;
    return base64_decode(in->s, in->len, out) < 0 ? -1 : 0;
}

/* name_ok - a user name fit for logs and headers: printable ASCII or UTF-8, no spaces */
static int name_ok(const struct str *n)
{
    if (n->len == 0 || n->len > SASL_NAME_MAX || !smtp_utf8_valid(n->s, n->len))
        return 0;
    for (size_t i = 0; i < n->len; i++)
        if ((unsigned char)n->s[i] <= ' ' || n->s[i] == 127)
            return 0;
    return 1;
}

/* get_response - initial response or a challenge round, decoded; 0 ok, else replied/lost */
static int get_response(struct session *ss, const char *initial, const char *prompt,
                        struct str *out)
{
    struct str line = STR_INIT;
    int r;

    if (initial) {
        str_cpy(&line, initial);
    } else if ((r = challenge(ss, prompt, &line)) != 0) {
        if (r > 0) /* RFC 4954 6 */
            reply(ss, "500 5.5.6 Authentication Exchange line is too long");
        wipe(&line);
        return -1;
    }
    r = decode(&line, out);
    wipe(&line);
    if (r == 1) {
        reply(ss, "501 5.0.0 Authentication aborted");
        return -1;
    }
    if (r < 0) {
        reply(ss, "501 5.5.2 Cannot decode response");
        return -1;
    }
    return 0;
}

/* auth_failed - count, delay and answer a failed attempt */
static void auth_failed(struct session *ss, const char *mech, const char *user)
{
    ss->auth_failures++;
    log_warn("%s: SASL %s authentication failed: authentication failure%s%s", ss->namaddr, mech,
             user ? ", sasl_username=" : "", user ? user : "");
    stream_flush(ss->s);
    if (smtpd_cf.sasl_failure_delay > 0)
        sleep((unsigned)smtpd_cf.sasl_failure_delay);
    if (ss->auth_failures >= smtpd_cf.sasl_failure_limit) {
        log_info("too many failed authentication attempts from %s", ss->namaddr);
        ss->quit = 1;
        reply(ss, "421 4.7.0 %s Error: too many failed authentication attempts",
              smtpd_cf.myhostname);
        return;
    }
    reply(ss, "535 5.7.8 Error: authentication failed: authentication failure");
}

void cmd_auth(struct session *ss, const char *args)
{
    struct str mech = STR_INIT, user = STR_INIT, pass = STR_INIT, msg = STR_INIT;
    struct str authz = STR_INIT;
    const char *initial = NULL, *sp;
    int plain, r;

    if (!sasl_offered(ss)) {
        if (passwd_maps != NULL && !ss->tls)
            reply(ss, "538 5.7.11 Encryption required for requested authentication mechanism");
        else
            reply(ss, "503 5.5.1 Error: authentication not enabled");
        return;
    }
    if (!ss->esmtp) {
        reply(ss, "503 5.5.1 Error: send EHLO first");
        return;
    }
    if (ss->sasl_username) {
        reply(ss, "503 5.5.1 Error: already authenticated");
        return;
    }
    if (ss->in_mail) {
        reply(ss, "503 5.5.1 Error: MAIL transaction in progress");
        return;
    }
    sp = strchr(args, ' ');
    str_cpyn(&mech, args, sp ? (size_t)(sp - args) : strlen(args));
    if (sp) {
        initial = sp + 1;
        if (*initial == '\0' || strchr(initial, ' ')) {
            reply(ss, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
            goto out;
        }
    }
    if (mech.len == 0) {
        reply(ss, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
        goto out;
    }
    for (size_t i = 0; i < mech.len; i++) /* mechanism names are case-insensitive */
        mech.s[i] = (char)toupper((unsigned char)mech.s[i]);
    plain = strcmp(mech.s, "PLAIN") == 0;
    if (!plain && strcmp(mech.s, "LOGIN") != 0) {
        reply(ss, "504 5.5.4 Unrecognized authentication type");
        goto out;
    }
    if (plain) {
        /* RFC 4616: [authzid] NUL authcid NUL passwd; an empty challenge asks for it */
        if (get_response(ss, initial, "", &msg) < 0)
            goto out;
        if (auth_plain_decode(&msg, &authz, &user, &pass) < 0 ||
            (authz.len && strcasecmp(authz.s, str_c(&user)) != 0)) {
            auth_failed(ss, mech.s, NULL);
            goto out;
        }
    } else {
        if (get_response(ss, initial, "VXNlcm5hbWU6", &user) < 0 ||
            get_response(ss, NULL, "UGFzc3dvcmQ6", &pass) < 0)
            goto out;
    }
    if (!name_ok(&user) || pass.len == 0 || memchr(pass.s, '\0', pass.len)) {
        auth_failed(ss, mech.s, NULL);
        goto out;
    }
    str_lower(&user);
    r = auth_verify(passwd_maps, user.s, pass.s);
    if (r == AUTH_OK) {
        ss->sasl_method = xstrdup(mech.s);
        ss->sasl_username = xstrdup(user.s);
        reply(ss, "235 2.7.0 Authentication successful");
    } else if (r == AUTH_TEMPFAIL) {
        log_warn("%s: SASL %s authentication: password table unavailable: %s", ss->namaddr, mech.s,
                 maps_error_text(passwd_maps));
        reply(ss, "454 4.7.0 Temporary authentication failure");
    } else {
        auth_failed(ss, mech.s, user.s);
    }
out:
    str_free(&mech);
    str_free(&user);
    str_free(&authz);
    wipe(&pass);
    wipe(&msg);
}
