/*
 * cmd_session.c - session-wide commands after login: ENABLE, NAMESPACE, IDLE
 *
 * ENABLE (RFC 5161) enables nothing yet (no extension that needs it is
 * offered) and says so with an empty ENABLED response. NAMESPACE (RFC
 * 2342): one personal namespace, no shared or other users' ones. IDLE
 * (RFC 2177): the client waits for "DONE" while the server sends mailbox
 * updates as they happen (woken by the store's inotify watch) and a
 * keep-alive "* OK Still here" now and then; the autologout timer (RFC
 * 3501 5.4) keeps running during IDLE.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <strings.h>

#include "evloop.h"
#include "log.h"
#include "mstore.h"
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

/* idle_wait - wait for client input (1), a change of the mailbox (2), or timeout_ms (0);
 * -1 when the connection broke */
static int idle_wait(struct session *s, int watch, long long timeout_ms)
{
    if (stream_pending(s->s))
        return 1;
    if (watch < 0) {
        int w = stream_wait_input(s->s, (int)timeout_ms);
        return w < 0 ? -1 : w;
    }
    struct pollfd pfd[2] = {{stream_rfd(s->s), POLLIN, 0}, {watch, POLLIN, 0}};
    int r = poll(pfd, 2, (int)timeout_ms);
    if (r < 0)
        return errno == EINTR ? 0 : -1;
    if (pfd[0].revents)
        return 1; /* input, or the peer went away: the read that follows tells */
    return pfd[1].revents ? 2 : 0;
}

void cmd_idle(struct session *s)
{
    long long idle_ms = imapd_cfg.autologout_timeout * 1000;
    long long notify_ms = imapd_cfg.idle_notify * 1000;
    long long check_ms = imapd_cfg.idle_check * 1000;
    long long start = evloop_now_ms(), last_notify = start, last_check = start;
    /* the store's inotify watch wakes us for deliveries and other sessions' changes;
     * without it, the mailbox is looked at every imapd_idle_check_interval */
    int watch = s->box ? mstore_box_watch(s->box) : -1;

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
        if (s->box && watch < 0 && last_check + check_ms - now < wait)
            wait = last_check + check_ms - now;
        if (wait > start + idle_ms - now)
            wait = start + idle_ms - now;
        int w = idle_wait(s, watch, wait > 0 ? wait : 0);
        if (w < 0) {
            s->state = IMAPD_LOGOUT;
            s->end_reason = "connection lost during IDLE";
            return;
        }
        if (w == 0 || w == 2) {
            now = evloop_now_ms();
            if (w == 2)
                mstore_box_watch_drain(s->box);
            /* RFC 2177: updates as they happen (and a look now and then regardless) */
            if (s->box &&
                (w == 2 || now - last_check >= check_ms || now - last_notify >= notify_ms)) {
                imapd_sync(s, 1);
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
