/*
 * smtpd_standalone.c - stand-alone mode (smtpd -S, run by sendmail -bs): local submission
 *
 * As Postfix's sendmail -bs runs "smtpd -S", Petrel's sendmail -bs execs
 * this server without master: one session on standard input and output, as
 * the invoking user, who never gains privilege here. The client is that
 * local user (localhost[127.0.0.1]) and is trusted as Postfix trusts it in
 * this mode: no client, HELO, sender, relay or recipient restrictions, no
 * recipient validation (VRFY says 252), no TLS and no AUTH offered, bare LF
 * line ends accepted (the channel is a local pipe, nothing is relayed
 * through it). Everything else -- the grammar, PIPELINING, CHUNKING, DSN,
 * SMTPUTF8, the line, size, header and recipient limits, the error limits --
 * is the daemon's own code.
 *
 * The mail goes where every other local submission goes: instead of a queue
 * file in incoming/ (which the user may not write), each message becomes a
 * maildrop file through the set-gid helper petrel-drop (lib/global/submit.h),
 * so the trust boundary is the one of sendmail -bm, and pickup attributes
 * the message to the submitting uid (its Received: header, the From: it
 * adds with the full name from $NAME, which sendmail sets from -F or the
 * GECOS field). The 250 after DATA or BDAT LAST comes once petrel-drop has
 * made the file durable, with the ID pickup keeps. smtpd's own Received:
 * header and missing-header additions are left to pickup, so the content
 * petrel-drop counts against message_size_limit is exactly what smtpd
 * counted.
 *
 * Called by smtpd.c (settings, at start-up) and smtpd_data.c (the store).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "maildrop.h"
#include "mem.h"
#include "submit.h"

#include "smtpd.h"

#define FULLNAME_MAX 256 /* pickup moves a maildrop file with a longer one to corrupt/ */

static char *fullname; /* $NAME, when fit for the envelope */

/* set - one override of parameter p (any P_<name>), shown as coming from stand-alone mode
 * in messages */
static void set(int p, const char *value)
{
    cfg_set(cfg_main, cfg_name(p), value, "smtpd -S");
}

void standalone_settings(void)
{
    struct str v = STR_INIT;
    const char *name = getenv("NAME");
    long long rcpt = cfg_int(cfg_main, P_smtpd_recipient_limit);
    long long submit = cfg_int(cfg_main, P_submit_recipient_limit);

    smtpd_cf.standalone = 1;
    set(P_smtpd_tls_security_level, "none");
    set(P_smtpd_tls_wrappermode, "no");
    set(P_smtpd_sasl_auth_enable, "no");
    set(P_smtpd_sasl_auth_required, "no");
    set(P_smtpd_client_connection_count_limit, "0");
    set(P_smtpd_forbid_bare_newline, "normalize");
    /* pickup adds Date:, Message-Id: and From: (with the full name) */
    set(P_always_add_missing_headers, "no");
    set(P_local_header_rewrite_clients, "");
    /* petrel-drop refuses more than submit_recipient_limit: say 452 at RCPT instead */
    if (submit < rcpt) {
        str_printf(&v, "%lld", submit);
        set(P_smtpd_recipient_limit, v.s);
    }
    /* pickup writes local mail with CRLF line ends: binary content would not survive */
    str_cpy(&v, cfg_value(cfg_main, P_smtpd_discard_ehlo_keywords));
    str_cat(&v, " BINARYMIME");
    set(P_smtpd_discard_ehlo_keywords, v.s);
    str_free(&v);
    if (name && *name && strlen(name) <= FULLNAME_MAX && maildrop_printable(name, strlen(name)))
        fullname = xstrdup(name);
}

int drop_open(struct session *ss, struct str *reply_line)
{
    static const char *const rets[] = {NULL, "FULL", "HDRS"};
    struct submit_env env;

    (void)reply_line; /* nothing can fail before petrel-drop runs */
    env.sender = ss->sender.is_null ? "" : str_c(&ss->sender.raw);
    env.fullname = fullname;
    env.envid = ss->envid.len ? ss->envid.s : NULL;
    env.ret = rets[ss->ret];
    ss->drop = submit_open(cfg_confdir(cfg_main), &env);
    log_info("NOQUEUE: client=%s, uid=%ld", ss->namaddr, (long)getuid());
    return 0;
}

void drop_rcpt(struct session *ss, const struct smtp_path *rcpt, const char *orcpt, int notify)
{
    /* the external form: pickup parses it again and qualifies it as smtpd does */
    submit_rcpt(ss->drop, str_c(&rcpt->raw), orcpt, notify);
}

int drop_begin(struct session *ss)
{
    struct str err = STR_INIT;
    int rc = submit_start(ss->drop, &err);

    if (rc < 0)
        log_warn("cannot run petrel-drop: %s", str_c(&err));
    str_free(&err);
    return rc;
}

void drop_write(struct session *ss, const char *p, size_t n)
{
    submit_write(ss->drop, p, n);
}

const char *drop_commit(struct session *ss)
{
    struct str id = STR_INIT, err = STR_INIT;
    const char *refuse = NULL;
    int rc = submit_close(ss->drop, &id, &err);

    ss->drop = NULL;
    if (rc == 0) {
        str_cpy(&ss->queue_id, str_c(&id));
    } else {
        log_warn("%s", str_c(&err));
        if (rc == EX_NOPERM)
            refuse = "550 5.7.1 Error: not allowed to submit mail";
        else if (rc == EX_DATAERR)
            refuse = "554 5.6.0 Error: the message could not be queued";
        else
            refuse = "451 4.3.0 Error: queue file write error";
    }
    str_free(&id);
    str_free(&err);
    return refuse;
}

void drop_abort(struct session *ss)
{
    if (ss->drop)
        submit_abort(ss->drop);
    ss->drop = NULL;
}
