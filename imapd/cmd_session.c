/*
 * cmd_session.c - session-wide commands after login: ENABLE, NAMESPACE, IDLE
 *
 * ENABLE (RFC 5161) enables nothing yet (no extension that needs it is
 * offered) and says so with an empty ENABLED response. NAMESPACE (RFC
 * 2342): one personal namespace, no shared or other users' ones. IDLE
 * (RFC 2177): the client waits for "DONE" while the server sends mailbox
 * updates as they happen and a keep-alive "* OK Still here" now and then;
 * the autologout timer (RFC 3501 5.4) keeps running during IDLE.
 */
#include <string.h>
#include <strings.h>

#include "evloop.h"
#include "log.h"
#include "stream.h"

#include "imapd.h"

void cmd_enable(struct session *s)
{
    struct str cap = STR_INIT;

    /* enable = "ENABLE" 1*(SP capability) */
    do {
        if (imap_p_sp(&s->p) < 0 || imap_p_atom(&s->p, &cap) < 0) {
            imapd_bad_syntax(s);
            str_free(&cap);
            return;
        }
    } while (!imap_at_end(&s->p));
    str_free(&cap);
    imapd_untagged(s, "ENABLED");
    imapd_ok(s, NULL, "ENABLE completed.");
}

void cmd_namespace(struct session *s)
{
    if (imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
        return;
    }
    imapd_untagged(s, "NAMESPACE ((\"\" \"%s\")) NIL NIL", IMAPD_SEPARATOR);
    imapd_ok(s, NULL, "NAMESPACE completed.");
}

/* idle_done - read the line that ends IDLE; 1 for DONE, 0 for anything else, -1 on error */
static int idle_done(struct session *s)
{
    struct str line = STR_INIT;
    int r = stream_getline(s->s, &line, 64);

    if (r == STREAM_OK) {
        str_chomp(&line);
        r = strcasecmp(str_c(&line), "DONE") == 0;
    } else {
        r = r == STREAM_TOOLONG ? 0 : -1;
    }
    str_free(&line);
    return r;
}

void cmd_idle(struct session *s)
{
    long long idle_ms = imapd_cfg.autologout_timeout * 1000;
    long long notify_ms = imapd_cfg.idle_notify * 1000;
    long long check_ms = imapd_cfg.idle_check * 1000;
    long long start = evloop_now_ms(), last_notify = start, last_check = start;

    if (imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
        return;
    }
    stream_puts(s->s, "+ idling\r\n");
    imapd_sync(s, 1);
    if (imapd_flush(s) != STREAM_OK) {
        s->state = IMAPD_LOGOUT;
        return;
    }
    while (s->state != IMAPD_LOGOUT) {
        long long now = evloop_now_ms();
        if (now - start >= idle_ms) {
            imapd_bye(s, "timeout", "Autologout; idle for too long.");
            return;
        }
        long long wait = last_notify + notify_ms - now;
        if (s->box && last_check + check_ms - now < wait)
            wait = last_check + check_ms - now;
        if (wait > start + idle_ms - now)
            wait = start + idle_ms - now;
        int w = stream_wait_input(s->s, wait > 0 ? (int)wait : 0);
        if (w < 0) {
            s->state = IMAPD_LOGOUT;
            s->end_reason = "connection lost during IDLE";
            return;
        }
        if (w == 0) {
            now = evloop_now_ms();
            if (s->box && now - last_check >= check_ms) {
                imapd_sync(s, 1); /* RFC 2177: updates as they happen */
                last_check = now;
            }
            if (now - last_notify >= notify_ms) {
                imapd_untagged(s, "OK Still here");
                last_notify = now;
            }
            if (imapd_flush(s) != STREAM_OK) {
                s->state = IMAPD_LOGOUT;
                return;
            }
            continue;
        }
        int d = idle_done(s);
        if (d < 0) {
            s->state = IMAPD_LOGOUT;
            s->end_reason = "connection lost during IDLE";
        } else if (d == 1) {
            imapd_ok(s, NULL, "Idle completed.");
        } else {
            imapd_bad(s, NULL, "Expected DONE to end IDLE.");
        }
        return;
    }
}
