/*
 * cmd_any.c - commands valid in every state: CAPABILITY, NOOP, LOGOUT (RFC 3501 6.1), ID
 *
 * ID (RFC 2971) answers with the server's name and version and logs what
 * the client says about itself, bounded as RFC 2971 3.3 asks (at most 30
 * field-value pairs, fields up to 30 bytes, values up to 1024).
 */
#include <string.h>
#include <strings.h>

#include "imap_write.h"
#include "log.h"

#include "imapd.h"

#define ID_MAX_PAIRS 30
#define ID_MAX_FIELD 30
#define ID_MAX_VALUE 1024
#define ID_LOG_VALUE 64 /* bytes of each value that go to the log */

void cmd_capability(struct session *s)
{
    struct str caps = STR_INIT;

    if (imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
        return;
    }
    imapd_capability(s, &caps);
    imapd_untagged(s, "CAPABILITY %s", str_c(&caps));
    imapd_ok(s, NULL, "Capability completed.");
    str_free(&caps);
}

void cmd_noop(struct session *s)
{
    if (imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
        return;
    }
    imapd_ok(s, NULL, "NOOP completed.");
}

void cmd_logout(struct session *s)
{
    if (imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
        return;
    }
    /* RFC 3501 6.1.3: the BYE comes before the tagged OK */
    imapd_bye(s, "logout", "Logging out");
    imapd_ok(s, NULL, "Logout completed.");
}

/* id_params - "(" string SP nstring *(SP string SP nstring) ")" / NIL, into a log line */
static int id_params(struct session *s, struct str *logline)
{
    struct str field = STR_INIT, value = STR_INIT, safe = STR_INIT;
    int nil, r = -1, pairs = 0;

    if (imap_peek(&s->p) != '(') {
        r = imap_p_nstring(&s->p, &value, &nil) == 0 && nil
                ? 0
                : imap_perror(&s->p, "expected a list or NIL");
        goto out;
    }
    s->p.pos++;
    for (;;) {
        if (imap_p_string(&s->p, &field) < 0 || imap_p_sp(&s->p) < 0 ||
            imap_p_nstring(&s->p, &value, &nil) < 0)
            goto out;
        if (++pairs > ID_MAX_PAIRS || field.len > ID_MAX_FIELD || value.len > ID_MAX_VALUE) {
            imap_perror(&s->p, "ID list over the limits of RFC 2971");
            goto out;
        }
        if (pairs <= 8) { /* enough for a log line */
            str_printf(logline, "%s%s=", logline->len ? ", " : "",
                       safe_text(&safe, field.s, field.len));
            str_cat(logline, nil ? "NIL"
                                 : safe_text(&safe, value.s,
                                             value.len < ID_LOG_VALUE ? value.len : ID_LOG_VALUE));
        }
        if (imap_peek(&s->p) == ')') {
            s->p.pos++;
            r = 0;
            goto out;
        }
        if (imap_p_sp(&s->p) < 0)
            goto out;
    }
out:
    str_free(&field);
    str_free(&value);
    str_free(&safe);
    return r;
}

void cmd_id(struct session *s)
{
    struct str logline = STR_INIT, resp = STR_INIT;

    if (imap_p_sp(&s->p) < 0 || id_params(s, &logline) < 0 || imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
        str_free(&logline);
        return;
    }
    if (logline.len)
        log_info("id from [%s]: %s", s->conn->addr, str_c(&logline));
    str_cat(&resp, "(\"name\" \"Petrel\" \"version\" ");
    imap_append_cstring(&resp, imapd_cfg.version);
    str_catc(&resp, ')');
    imapd_untagged(s, "ID %s", str_c(&resp));
    imapd_ok(s, NULL, "ID completed.");
    str_free(&logline);
    str_free(&resp);
}
