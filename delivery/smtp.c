/*
 * smtp.c - the SMTP client: remote delivery (the smtp transport)
 *
 * A single-connection server under master (master.cf: smtp unix - - n - -
 * smtp), running as mail_owner. It speaks lib/global/deliver.h with qmgr:
 * greeting, then delivery requests in turn on the same connection, one
 * result per recipient, "done". Each request names a next hop
 * (smtp_addr.c turns it into server addresses) and recipients of one
 * message, which is read from the queue file itself.
 *
 * Per request: a cached session to the same next hop is tried first
 * (smtp_connection_cache_time_limit; it starts with RSET), then the
 * addresses in order: connect and handshake (smtp_session.c), one
 * transaction (smtp_proto.c). Recipients answered 2xx are sent, 5xx
 * bounced; 4xx and session failures leave them pending for the next
 * server, up to $smtp_mx_session_limit sessions; whatever is still
 * pending at the end is deferred with the last reason. dest=fail tells
 * qmgr the destination itself failed (DNS trouble, no server reachable),
 * so that it backs off the whole destination.
 *
 * Checks before any transaction: a message that needs SMTPUTF8 (UTF-8 in
 * the envelope, or an SMTPUTF8 submission) to a server without it bounces
 * with 5.6.7 (RFC 6531 3.7.5); one larger than the server's SIZE bounces
 * with 5.3.4 without sending it (RFC 1870). Content a server cannot take
 * is converted first (lib/message/mime_conv.c): 8-bit content for a server
 * without 8BITMIME becomes quoted-printable or base64 (RFC 6152 3), and the
 * binary parts of BINARYMIME mail become base64 (RFC 3030 3: this client
 * does not send BDAT); what cannot be converted (8-bit headers), and
 * anything that needs it when $disable_mime_output_conversion is set,
 * bounces with 5.6.3 before MAIL FROM.
 *
 * Every recipient's fate is logged in the Postfix form (deliver_log) with
 * relay=host[ip]:port and the server's reply. After a session took the
 * recipients with a DSN-capable server (RFC 3461), NOTIFY and ORCPT went
 * along, and the result says dsn_passed so that qmgr sends no success
 * notice of its own; to a server without DSN the action is "relayed".
 * A recipient the server took is marked done in the queue file (with its
 * success notice entry, when one is due) before its result goes to qmgr
 * (lib/global/deliver.h), right after the 250 to the end of DATA.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "mem.h"
#include "mime.h"
#include "server.h"

#include "smtp.h"

#define CACHE_MAX 4 /* cached sessions per agent process (each to some next hop) */

static struct smtp_session *cache[CACHE_MAX];

/* ------------------------------------------------------------ the session cache */

/* cache_alive - a cached session the server has not closed or written to meanwhile */
static int cache_alive(struct smtp_session *ss)
{
    return stream_error(ss->s) == STREAM_OK && stream_pending(ss->s) == 0 &&
           stream_wait_input(ss->s, 0) == 0;
}

/* cache_take - a usable cached session for dest at level, or NULL */
static struct smtp_session *cache_take(const char *dest, int level)
{
    long long reuse_ms = cfg_time(cfg_main, P_smtp_connection_reuse_time_limit) * 1000;

    for (int i = 0; i < CACHE_MAX; i++) {
        struct smtp_session *ss = cache[i];
        if (ss == NULL || strcmp(ss->dest, dest) != 0 || ss->tls_level != level)
            continue;
        cache[i] = NULL;
        if (cache_alive(ss) && smtp_now_ms() - ss->born_ms < reuse_ms)
            return ss;
        smtp_session_close(ss, cache_alive(ss));
    }
    return NULL;
}

/* cache_put - keep a healthy session for the next request (or close it) */
static void cache_put(struct smtp_session *ss)
{
    long long limit = cfg_time(cfg_main, P_smtp_connection_cache_time_limit);
    long long reuse_ms = cfg_time(cfg_main, P_smtp_connection_reuse_time_limit) * 1000;
    int slot = -1;

    if (limit == 0 || smtp_now_ms() - ss->born_ms >= reuse_ms || server_stopping()) {
        smtp_session_close(ss, 1);
        return;
    }
    for (int i = 0; i < CACHE_MAX && (slot < 0 || cache[slot] != NULL); i++)
        if (slot < 0 || cache[i] == NULL || cache[i]->idle_since_ms < cache[slot]->idle_since_ms)
            slot = i; /* an empty slot, else the one idle longest */
    smtp_session_close(cache[slot], 1);
    ss->idle_since_ms = smtp_now_ms();
    cache[slot] = ss;
}

/* cache_expire - close sessions idle for longer than the cache time; the time in ms until
 * the next one expires, -1 when the cache is empty */
static long long cache_expire(int all)
{
    long long limit = cfg_time(cfg_main, P_smtp_connection_cache_time_limit) * 1000;
    long long now = smtp_now_ms(), next = -1;

    for (int i = 0; i < CACHE_MAX; i++) {
        struct smtp_session *ss = cache[i];
        if (ss == NULL)
            continue;
        long long left = ss->idle_since_ms + limit - now;
        if (all || left <= 0 || !cache_alive(ss)) {
            smtp_session_close(ss, cache_alive(ss));
            cache[i] = NULL;
        } else if (next < 0 || left < next) {
            next = left;
        }
    }
    return next;
}

/* ------------------------------------------------------------ results */

/* report - send and log the result of every newly settled recipient */
static int report(struct stream *qs, struct smtp_msg *m, int dsn_server, int all_pending)
{
    int rc = STREAM_OK;

    for (size_t i = 0; i < m->req->nrcpts && rc == STREAM_OK; i++) {
        struct smtp_rcpt *rc_ = &m->rcpts[i];
        const struct deliver_rcpt *dr = &m->req->rcpts[i];
        struct deliver_result r;
        struct str mta = STR_INIT;

        if (rc_->state == SMTP_R_PENDING && all_pending) {
            rc_->state = SMTP_R_DONE;
            rc_->status = DELIVER_DEFERRED;
            if (rc_->reason.len == 0) {
                snprintf(rc_->dsn, sizeof(rc_->dsn), "4.4.0");
                str_cpy(&rc_->reason, "no server could be tried");
            }
        } else if (rc_->state != SMTP_R_DONE || rc_->reported) {
            continue;
        }
        rc_->reported = 1;
        memset(&r, 0, sizeof(r));
        r.rcpt = i;
        r.status = rc_->status;
        r.dsn = rc_->dsn;
        if (!deliver_dsn_valid(r.dsn, r.status)) /* never pass on a code of the wrong class */
            snprintf(rc_->dsn, sizeof(rc_->dsn), "%d.0.0",
                     r.status == DELIVER_SENT       ? 2
                     : r.status == DELIVER_DEFERRED ? 4
                                                    : 5);
        r.reason = str_c(&rc_->reason);
        r.relay = rc_->relay.len ? rc_->relay.s : NULL;
        r.diag = rc_->diag.len ? rc_->diag.s : NULL;
        if (rc_->relay.len) {
            str_printf(&mta, "dns; %.*s", (int)strcspn(rc_->relay.s, "["), rc_->relay.s);
            r.remote_mta = mta.s;
        }
        if (r.status == DELIVER_SENT) {
            r.action = "relayed";
            r.dsn_passed = dsn_server;
        }
        if (rc_->before) {
            r.marked = 1; /* (no status line: the first delivery logged one) */
        } else {
            size_t nlogged;
            deliver_log(m->req, dr->addr, dr->orig, r.relay, m->conn_us, r.dsn,
                        deliver_status_name(r.status), r.reason);
            /* final in the queue file before qmgr hears of it (lib/global/deliver.h); logged
             * first, as local logs each target as it is delivered (and Postfix's sent()) */
            if (r.status == DELIVER_SENT)
                r.marked = deliver_mark_sent(m->qfd, &m->env, m->req, &r, NULL, 0, &nlogged) == 0;
        }
        rc = deliver_result_send(qs, &r);
        str_free(&mta);
    }
    return rc;
}

/* settle_all - every pending recipient gets the outcome why (final or not) */
static void settle_all(struct smtp_msg *m, const struct smtp_why *why, int final)
{
    for (size_t i = 0; i < m->req->nrcpts; i++) {
        struct smtp_rcpt *rc = &m->rcpts[i];
        if (rc->state != SMTP_R_PENDING)
            continue;
        rc->status = why->status;
        snprintf(rc->dsn, sizeof(rc->dsn), "%s", why->dsn);
        str_cpy(&rc->reason, str_c(&why->text));
        str_cpy(&rc->diag, str_c(&why->diag));
        str_cpy(&rc->relay, str_c(&why->relay));
        if (final)
            rc->state = SMTP_R_DONE;
    }
}

/* pending_count - recipients without a final result */
static size_t pending_count(const struct smtp_msg *m)
{
    size_t n = 0;

    for (size_t i = 0; i < m->req->nrcpts; i++)
        n += m->rcpts[i].state == SMTP_R_PENDING;
    return n;
}

/* ------------------------------------------------------------ one request */

/* read_content - the whole content into m->content (once); -1 with err */
static int read_content(struct smtp_msg *m, struct str *err)
{
    struct qfile_content qc;
    struct str chunk = STR_INIT;
    int r;

    if (m->have_content)
        return 0;
    str_reset(&m->content);
    qfile_content_init(&qc, m->qfd, &m->env);
    while ((r = qfile_content_next(&qc, &chunk, err)) > 0)
        str_catn(&m->content, chunk.s, chunk.len);
    str_free(&chunk);
    if (r < 0)
        return -1;
    m->have_content = 1;
    return 0;
}

/* downgrade - what this server may get (RFC 6152 3: no 8-bit content to a server without
 * 8BITMIME; RFC 3030 3: no binary content without BINARYMIME and CHUNKING, which this client
 * never uses): 0 with m->send set to the converted content or NULL (the content as queued),
 * -1 with why (5.6.3 bounce, or 4.3.0 when the queue file cannot be read) */
static int downgrade(struct smtp_session *ss, struct smtp_msg *m, struct smtp_why *why)
{
    int mode = ss->features & SMTP_F_8BITMIME ? MIME_CONV_8BIT : MIME_CONV_7BIT;
    struct str err = STR_INIT;

    m->send = NULL;
    if (mode == MIME_CONV_8BIT && !m->binary)
        return 0;
    if (read_content(m, &err) < 0) {
        log_warn("%s: %s", m->req->queue_id, str_c(&err));
        smtp_why_set(why, DELIVER_DEFERRED, "4.3.0", "cannot read the queue file: %s", str_c(&err));
        str_free(&err);
        return -1;
    }
    str_free(&err);
    if (m->conv_state[mode] == 0)
        m->conv_state[mode] = 1 + mime_downgrade(m->content.s, m->content.len, mode, &m->conv[mode],
                                                 &m->conv_why[mode]);
    if (m->conv_state[mode] == 1 + MIME_CONV_NONE)
        return 0;
    struct str text = STR_INIT;
    str_printf(&text, "%s content, but host %s does not announce %s support",
               mode == MIME_CONV_8BIT ? "binary" : "8-bit", str_c(&ss->relay),
               mode == MIME_CONV_8BIT ? "BINARYMIME and CHUNKING" : "8BITMIME");
    if (m->conv_state[mode] == 0) /* -1 + 1 */
        smtp_why_set(why, DELIVER_BOUNCED, "5.6.3",
                     "message has %s, and it cannot be "
                     "converted: %s",
                     text.s, str_c(&m->conv_why[mode]));
    else if (cfg_bool(cfg_main, P_disable_mime_output_conversion))
        smtp_why_set(why, DELIVER_BOUNCED, "5.6.3",
                     "message has %s (and "
                     "disable_mime_output_conversion = yes)",
                     text.s);
    else
        m->send = &m->conv[mode];
    str_free(&text);
    return m->send ? 0 : -1;
}

/* precheck - message requirements this server cannot meet: 5.6.7, 5.6.3 and 5.3.4 bounces;
 * the content converted for it when it must be */
static int precheck(struct smtp_session *ss, struct smtp_msg *m)
{
    struct smtp_why why;
    int rc = 0;

    smtp_why_init(&why);
    if (m->need_smtputf8 && !(ss->features & SMTP_F_SMTPUTF8)) {
        smtp_why_set(&why, DELIVER_BOUNCED, "5.6.7",
                     "SMTPUTF8 is required, but was not offered by host %s", str_c(&ss->relay));
        rc = -1;
    } else if (downgrade(ss, m, &why) < 0) {
        rc = -1;
    } else if (ss->size_limit > 0 && smtp_msg_size(m) > ss->size_limit) {
        smtp_why_set(&why, DELIVER_BOUNCED, "5.3.4",
                     "message size %llu exceeds size limit %llu of server %s",
                     (unsigned long long)smtp_msg_size(m), ss->size_limit, str_c(&ss->relay));
        rc = -1;
    }
    if (rc < 0) {
        str_cpy(&why.relay, str_c(&ss->relay));
        settle_all(m, &why, 1);
    }
    smtp_why_free(&why);
    return rc;
}

/* use_session - one transaction over ss; the session goes back to the cache or is closed.
 * Returns -1 when the agent's own connection to qmgr broke. */
static int use_session(struct stream *qs, struct smtp_session *ss, struct smtp_msg *m,
                       struct smtp_why *why)
{
    int dsn_server = (ss->features & SMTP_F_DSN) != 0, r = 0;

    if (precheck(ss, m) == 0)
        r = smtp_transaction(ss, m, why);
    /* the results first: a recipient the server took is marked done right after its 250 */
    int rc = report(qs, m, dsn_server, 0) == STREAM_OK ? 0 : -1;
    if (r < 0)
        smtp_session_close(ss, 0);
    else
        cache_put(ss);
    return rc;
}

/* message_flags - what the message needs from a server, from its envelope */
static void message_flags(struct smtp_msg *m)
{
    const char *v = qfile_env_attr(&m->env, "smtputf8"), *body;
    int utf8 = v && strcmp(v, "1") == 0;

    for (const unsigned char *p = (const unsigned char *)m->req->sender; *p && !utf8; p++)
        utf8 = *p >= 0x80;
    for (size_t i = 0; i < m->req->nrcpts && !utf8; i++)
        for (const unsigned char *p = (const unsigned char *)m->req->rcpts[i].addr; *p; p++)
            utf8 |= *p >= 0x80;
    m->need_smtputf8 = utf8;
    body = qfile_env_attr(&m->env, "body");
    m->binary = body && strcasecmp(body, "BINARYMIME") == 0;
    m->eightbit = m->binary || (body && strcasecmp(body, "8BITMIME") == 0);
}

/* try_servers - the addresses of the next hop in turn, until no recipient is pending;
 * returns -1 when qmgr's connection broke, else 0 with *dest_failed */
static int try_servers(struct stream *qs, struct smtp_msg *m, const struct smtp_nexthop *nh,
                       int level, int *dest_failed)
{
    struct smtp_addr_list al = {NULL, 0};
    struct smtp_why why;
    long long session_limit = cfg_int(cfg_main, P_smtp_mx_session_limit), sessions = 0;
    int any_session = 0, rc = 0;

    smtp_why_init(&why);
    if (smtp_resolve(nh, &al, &why) < 0) {
        settle_all(m, &why, why.status == DELIVER_BOUNCED);
        *dest_failed = why.status != DELIVER_BOUNCED;
        goto out;
    }
    for (size_t i = 0; i < al.n && pending_count(m) > 0; i++) {
        int handshook = 0;
        long long t0 = deliver_now_us();
        struct smtp_session *ss =
            smtp_session_open(m->req->nexthop, &al.v[i], level, &why, &handshook);
        sessions += handshook;
        if (ss == NULL) {
            log_info("%s: %s", m->req->queue_id, str_c(&why.text));
            settle_all(m, &why, 0);
        } else {
            any_session = 1;
            m->conn_us = deliver_now_us() - t0;
            if (use_session(qs, ss, m, &why) < 0) {
                rc = -1;
                goto out;
            }
        }
        if (session_limit > 0 && sessions >= session_limit)
            break;
    }
    *dest_failed = !any_session;
out:
    smtp_addr_list_free(&al);
    smtp_why_free(&why);
    return rc;
}

/* deliver - one request: cached session, else the servers of the next hop */
static int deliver(struct stream *qs, struct smtp_msg *m, int *dest_failed)
{
    struct smtp_nexthop nh;
    struct smtp_why why;
    struct smtp_session *ss;
    int level, rc = 0;

    smtp_why_init(&why);
    if (smtp_nexthop_parse(m->req->nexthop, (int)cfg_int(cfg_main, P_smtp_tcp_port), &nh) < 0) {
        log_warn("%s: bad next hop \"%s\" (want domain, host:port or [host]:port)",
                 m->req->queue_id, m->req->nexthop);
        smtp_why_set(&why, DELIVER_DEFERRED, "4.3.5", "bad next hop: %s", m->req->nexthop);
        settle_all(m, &why, 1);
        *dest_failed = 1;
        goto out;
    }
    if ((level = smtp_tls_level_for(m->req->nexthop, &nh, &why)) < 0) {
        settle_all(m, &why, 1);
        *dest_failed = 1;
        goto out;
    }
    if ((ss = cache_take(m->req->nexthop, level)) != NULL) {
        m->conn_us = 0;
        if (use_session(qs, ss, m, &why) < 0) {
            rc = -1;
            goto out;
        }
    }
    if (pending_count(m) > 0 && try_servers(qs, m, &nh, level, dest_failed) < 0)
        rc = -1;
out:
    smtp_nexthop_free(&nh);
    smtp_why_free(&why);
    return rc;
}

/* fail_all - every recipient deferred (the queue file cannot be used) */
static int fail_all(struct stream *qs, struct smtp_msg *m, const char *reason)
{
    struct smtp_why why;
    int rc;

    smtp_why_init(&why);
    smtp_why_set(&why, DELIVER_DEFERRED, "4.3.0", "%s", reason);
    settle_all(m, &why, 1);
    rc = report(qs, m, 0, 1);
    smtp_why_free(&why);
    return rc;
}

/* handle_request - one delivery request, its results but not "done"; STREAM_OK unless
 * qmgr's connection broke, *dest_failed when the next hop itself failed */
static int handle_request(struct stream *qs, const struct deliver_request *req, int *dest_failed)
{
    struct smtp_msg m;
    const char *why;
    int rc = STREAM_OK;

    *dest_failed = 0;
    memset(&m, 0, sizeof(m));
    m.req = req;
    m.rcpts = xcalloc(req->nrcpts ? req->nrcpts : 1, sizeof(*m.rcpts));
    if ((m.qfd = deliver_queue_load(req, &m.env, &why)) < 0) {
        rc = fail_all(qs, &m, why);
        goto out;
    }
    for (size_t i = 0; i < req->nrcpts; i++) {
        const struct qfile_rcpt *rec = deliver_rcpt_record(&m.env, req, i);
        if (rec && rec->done) {
            /* delivered by an agent whose result never reached qmgr (lib/global/deliver.h) */
            log_info("%s: to=<%s>: delivered before (the record is marked done); not again",
                     req->queue_id, req->rcpts[i].addr);
            m.rcpts[i].state = SMTP_R_DONE;
            m.rcpts[i].status = DELIVER_SENT;
            m.rcpts[i].before = 1;
            snprintf(m.rcpts[i].dsn, sizeof(m.rcpts[i].dsn), "2.0.0");
            str_cpy(&m.rcpts[i].reason, "delivered before");
        }
    }
    message_flags(&m);
    if (deliver(qs, &m, dest_failed) < 0) {
        rc = STREAM_ERR;
        goto out;
    }
    rc = report(qs, &m, 0, 1);
out:
    if (m.qfd >= 0)
        close(m.qfd);
    qfile_env_free(&m.env);
    str_free(&m.content);
    for (int k = 0; k < 2; k++) {
        str_free(&m.conv[k]);
        str_free(&m.conv_why[k]);
    }
    for (size_t i = 0; i < req->nrcpts; i++) {
        str_free(&m.rcpts[i].reason);
        str_free(&m.rcpts[i].diag);
        str_free(&m.rcpts[i].relay);
    }
    free(m.rcpts);
    return rc;
}

/* wait_request - wait for qmgr's next request, closing cached sessions as they expire;
 * 1 when input is ready, 0 idle too long or stopping, -1 on a broken connection */
static int wait_request(struct stream *qs)
{
    long long idle_ms = cfg_time(cfg_main, P_max_idle) * 1000;
    long long start = smtp_now_ms();

    for (;;) {
        long long left = idle_ms - (smtp_now_ms() - start), next = cache_expire(0);
        int r;
        if (left <= 0 || server_stopping())
            return 0;
        if (next >= 0 && next < left)
            left = next + 1;
        r = stream_wait_input(qs, left > 1000 * 1000 ? 1000 * 1000 : (int)left);
        if (r != 0)
            return r > 0 ? 1 : -1;
    }
}

/* serve - one qmgr connection: requests in turn until qmgr closes or we are idle */
static void serve(struct server_conn *conn)
{
    struct stream *qs = stream_new(conn->fd, conn->wfd, (int)cfg_time(cfg_main, P_ipc_timeout));
    struct deliver_request req;
    struct str err = STR_INIT;
    long long max = cfg_int(cfg_main, P_max_use);
    int dest_failed;

    deliver_request_init(&req);
    if (deliver_agent_hello(qs) != STREAM_OK)
        goto out;
    for (long long n = 0; n < max && !server_stopping(); n++) {
        str_reset(&err);
        if (wait_request(qs) <= 0)
            break;
        int r = deliver_request_read(qs, 0, &req, &err);
        if (r != STREAM_OK) {
            if (r != STREAM_EOF && r != STREAM_TIMEOUT)
                log_warn("bad delivery request: %s", str_c(&err));
            break;
        }
        if (handle_request(qs, &req, &dest_failed) != STREAM_OK)
            break;
        int last = n + 1 >= max || server_stopping();
        if (deliver_done(qs, dest_failed, last) != STREAM_OK || last)
            break;
        deliver_request_free(&req);
    }
out:
    cache_expire(1);
    deliver_request_free(&req);
    stream_free(qs, 0);
    str_free(&err);
}

/* pre_init - as root: the TLS context (CA files) and the tables */
static void pre_init(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    smtp_session_init();
}

/* post_init - DNS resolver, our addresses */
static void post_init(void)
{
    srandom((unsigned)(time(NULL) ^ getpid()));
    smtp_addr_init();
}

int main(int argc, char **argv)
{
    static const struct server_def def = {
        .program = "smtp",
        .pre_init = pre_init,
        .post_init = post_init,
        .serve = serve,
    };
    int r = server_main(argc, argv, &def);

    smtp_addr_free();
    smtp_session_cleanup();
    return r;
}
