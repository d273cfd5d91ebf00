/*
 * deliver.c - the delivery protocol between qmgr and delivery agents
 *
 * Both sides of lib/global/deliver.h: encoding and strict decoding of requests
 * and results, the agent's greeting/result/done messages and the status
 * log line every agent writes. Everything received is bounded and
 * checked; a malformed message is an error for the caller to handle, never
 * a crash.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "cfg.h"
#include "deliver.h"
#include "dsnlog.h"
#include "log.h"
#include "mem.h"
#include "qfile.h"

void deliver_request_init(struct deliver_request *req)
{
    memset(req, 0, sizeof(*req));
}

void deliver_request_free(struct deliver_request *req)
{
    free(req->queue_id);
    free(req->queue_file);
    free(req->transport);
    free(req->nexthop);
    free(req->sender);
    free(req->envid);
    free(req->ret);
    for (size_t i = 0; i < req->nrcpts; i++) {
        free(req->rcpts[i].addr);
        free(req->rcpts[i].orig);
        free(req->rcpts[i].orcpt);
    }
    free(req->rcpts);
    deliver_request_init(req);
}

void deliver_rcpt_add(struct deliver_request *req, const char *addr, const char *orig,
                      const char *orcpt, int notify, long long offset)
{
    struct deliver_rcpt *r;

    req->rcpts = xgrow(req->rcpts, req->nrcpts, sizeof(*req->rcpts));
    r = &req->rcpts[req->nrcpts++];
    r->addr = xstrdup(addr ? addr : "");
    r->orig = xstrdup(orig ? orig : "");
    r->orcpt = xstrdup(orcpt ? orcpt : "");
    r->notify = notify;
    r->offset = offset;
}

/* add_str - an attribute, NULL sent as "" */
static void add_str(struct attr_list *l, const char *name, const char *v)
{
    attr_add(l, name, v ? v : "");
}

void deliver_request_encode(const struct deliver_request *req, struct str *out)
{
    struct attr_list l = ATTR_LIST_INIT;

    attr_add(&l, "request", "deliver");
    add_str(&l, "queue_id", req->queue_id);
    add_str(&l, "queue_file", req->queue_file);
    add_str(&l, "transport", req->transport);
    add_str(&l, "nexthop", req->nexthop);
    add_str(&l, "sender", req->sender);
    add_str(&l, "envid", req->envid);
    add_str(&l, "ret", req->ret);
    attr_add_int(&l, "arrival", req->arrival_us);
    attr_add_int(&l, "active", req->active_us);
    attr_add_int(&l, "sent", req->sent_us);
    attr_add_int(&l, "size", (long long)req->size);
    attr_add_int(&l, "rcpt_count", (long long)req->nrcpts);
    for (size_t i = 0; i < req->nrcpts; i++) {
        const struct deliver_rcpt *r = &req->rcpts[i];
        attr_add(&l, "rcpt", r->addr);
        if (r->orig[0])
            attr_add(&l, "orig_rcpt", r->orig);
        if (r->orcpt[0])
            attr_add(&l, "orcpt", r->orcpt);
        if (r->notify)
            attr_add_int(&l, "notify", r->notify);
        attr_add_int(&l, "offset", r->offset);
    }
    attr_encode(&l, out);
    attr_free(&l);
}

/* parse_ll - strict decimal (optionally negative) within [min, max] */
static int parse_ll(const char *v, long long min, long long max, long long *out)
{
    char *end;
    long long x;

    if (v == NULL || *v == '\0' || isspace((unsigned char)*v))
        return -1;
    x = strtoll(v, &end, 10);
    if (*end != '\0' || x < min || x > max)
        return -1;
    *out = x;
    return 0;
}

/* has_nul - whether an attribute value holds a NUL byte (never valid here) */
static int has_nul(const struct attr_item *it)
{
    return memchr(it->value, '\0', it->vlen) != NULL;
}

int deliver_request_decode(const struct attr_list *l, struct deliver_request *req, struct str *err)
{
    long long count = -1, v;
    struct deliver_rcpt *cur = NULL;
    char **slot;

    deliver_request_free(req);
    if (l->n == 0 || strcmp(l->items[0].name, "request") != 0 ||
        strcmp(l->items[0].value, "deliver") != 0) {
        str_cat(err, "not a delivery request");
        return -1;
    }
    for (size_t i = 1; i < l->n; i++) {
        const struct attr_item *it = &l->items[i];
        const char *n = it->name;
        if (has_nul(it)) {
            str_printf(err, "attribute %s holds a NUL byte", n);
            goto bad;
        }
        slot = NULL;
        if (strcmp(n, "rcpt") == 0) {
            if (count < 0 || req->nrcpts >= (size_t)count) {
                str_cat(err, "more recipients than rcpt_count");
                goto bad;
            }
            if (it->value[0] == '\0') {
                str_cat(err, "empty recipient address");
                goto bad;
            }
            deliver_rcpt_add(req, it->value, "", "", 0, -1);
            cur = &req->rcpts[req->nrcpts - 1];
            continue;
        }
        if (strcmp(n, "orig_rcpt") == 0 || strcmp(n, "orcpt") == 0 || strcmp(n, "notify") == 0 ||
            strcmp(n, "offset") == 0) {
            if (cur == NULL) {
                str_printf(err, "%s before any rcpt", n);
                goto bad;
            }
            if (n[0] == 'o' && n[1] == 'r' && n[2] == 'i') {
                free(cur->orig);
                cur->orig = xstrdup(it->value);
            } else if (strcmp(n, "orcpt") == 0) {
                free(cur->orcpt);
                cur->orcpt = xstrdup(it->value);
            } else if (strcmp(n, "notify") == 0) {
                if (parse_ll(it->value, 0, 15, &v) < 0) {
                    str_cat(err, "bad notify value");
                    goto bad;
                }
                cur->notify = (int)v;
            } else {
                if (parse_ll(it->value, 0, 1LL << 50, &v) < 0) {
                    str_cat(err, "bad offset value");
                    goto bad;
                }
                cur->offset = v;
            }
            continue;
        }
        if (strcmp(n, "queue_id") == 0)
            slot = &req->queue_id;
        else if (strcmp(n, "queue_file") == 0)
            slot = &req->queue_file;
        else if (strcmp(n, "transport") == 0)
            slot = &req->transport;
        else if (strcmp(n, "nexthop") == 0)
            slot = &req->nexthop;
        else if (strcmp(n, "sender") == 0)
            slot = &req->sender;
        else if (strcmp(n, "envid") == 0)
            slot = &req->envid;
        else if (strcmp(n, "ret") == 0)
            slot = &req->ret;
        if (slot) {
            free(*slot);
            *slot = xstrdup(it->value);
            continue;
        }
        long long *num = NULL;
        long long max = 1LL << 62;
        if (strcmp(n, "arrival") == 0)
            num = &req->arrival_us;
        else if (strcmp(n, "active") == 0)
            num = &req->active_us;
        else if (strcmp(n, "sent") == 0)
            num = &req->sent_us;
        if (num) {
            if (parse_ll(it->value, 0, max, num) < 0) {
                str_printf(err, "bad %s value", n);
                goto bad;
            }
            continue;
        }
        if (strcmp(n, "size") == 0) {
            if (parse_ll(it->value, 0, max, &v) < 0) {
                str_cat(err, "bad size value");
                goto bad;
            }
            req->size = (unsigned long long)v;
        } else if (strcmp(n, "rcpt_count") == 0) {
            if (count >= 0 || parse_ll(it->value, 1, DELIVER_RCPT_MAX, &count) < 0) {
                str_cat(err, "bad rcpt_count");
                goto bad;
            }
        }
        /* unknown attributes are ignored: newer qmgr, older agent */
    }
    if (req->queue_id == NULL || !qfile_valid_id(req->queue_id) || req->queue_file == NULL ||
        req->sender == NULL || req->transport == NULL) {
        str_cat(err, "request lacks queue_id, queue_file, transport or sender");
        goto bad;
    }
    if (count < 0 || req->nrcpts != (size_t)count) {
        str_cat(err, "recipient count mismatch");
        goto bad;
    }
    if (req->nexthop == NULL)
        req->nexthop = xstrdup("");
    if (req->envid == NULL)
        req->envid = xstrdup("");
    if (req->ret == NULL)
        req->ret = xstrdup("");
    return 0;
bad:
    deliver_request_free(req);
    return -1;
}

int deliver_agent_hello(struct stream *s)
{
    struct attr_list l = ATTR_LIST_INIT;
    int r;

    attr_add(&l, "status", "ready");
    attr_add(&l, "protocol", DELIVER_PROTOCOL);
    r = attr_write(s, &l);
    attr_free(&l);
    return r;
}

int deliver_request_read(struct stream *s, int idle, struct deliver_request *req, struct str *err)
{
    struct attr_list l = ATTR_LIST_INIT;
    int r;

    r = stream_wait_input(s, idle * 1000);
    if (r == 0)
        return STREAM_TIMEOUT;
    if (r < 0)
        return STREAM_ERR;
    r = attr_read(s, &l, (size_t)cfg_size(cfg_main, P_ipc_attr_size_limit),
                  (size_t)cfg_size(cfg_main, P_ipc_request_size_limit), err);
    if (r == STREAM_OK && deliver_request_decode(&l, req, err) < 0)
        r = STREAM_ERR;
    if (r == STREAM_OK)
        req->recv_us = deliver_now_us();
    attr_free(&l);
    return r;
}

int deliver_result_send(struct stream *s, const struct deliver_result *r)
{
    struct attr_list l = ATTR_LIST_INIT;
    int rc;

    attr_add_int(&l, "rcpt", (long long)r->rcpt);
    attr_add(&l, "status", deliver_status_name(r->status));
    attr_add(&l, "dsn", r->dsn ? r->dsn : "");
    attr_add(&l, "reason", r->reason ? r->reason : "");
    if (r->action)
        attr_add(&l, "action", r->action);
    if (r->relay)
        attr_add(&l, "relay", r->relay);
    if (r->diag)
        attr_add(&l, "diag", r->diag);
    if (r->remote_mta)
        attr_add(&l, "remote_mta", r->remote_mta);
    if (r->target)
        attr_add(&l, "target", r->target);
    if (r->dsn_to)
        attr_add(&l, "dsn_to", r->dsn_to);
    if (r->dsn_passed)
        attr_add(&l, "dsn_passed", "1");
    if (r->marked && r->status == DELIVER_SENT)
        attr_add(&l, "marked", "1");
    rc = attr_write(s, &l);
    attr_free(&l);
    return rc;
}

int deliver_done(struct stream *s, int dest_failed, int last)
{
    struct attr_list l = ATTR_LIST_INIT;
    int r;

    attr_add(&l, "status", "done");
    attr_add(&l, "dest", dest_failed ? "fail" : "ok");
    if (last)
        attr_add(&l, "last", "1");
    r = attr_write(s, &l);
    attr_free(&l);
    return r;
}

long long deliver_now_us(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

void deliver_format_delay(struct str *out, double x)
{
    char buf[64];
    char *p;

    /* two significant digits, at most two decimals, as Postfix logs delays */
    if (x >= 9.95)
        snprintf(buf, sizeof(buf), "%.0f", x);
    else if (x >= 0.995)
        snprintf(buf, sizeof(buf), "%.1f", x);
    else
        snprintf(buf, sizeof(buf), "%.2f", x);
    if (strchr(buf, '.')) {
        p = buf + strlen(buf);
        while (p[-1] == '0')
            *--p = '\0';
        if (p[-1] == '.')
            p[-1] = '\0';
    }
    str_cat(out, buf);
}

/* span - seconds between two microsecond times, never negative */
static double span(long long from, long long to)
{
    return to > from && from > 0 ? (double)(to - from) / 1e6 : 0;
}

void deliver_log(const struct deliver_request *req, const char *to, const char *orig,
                 const char *relay, long long conn_us, const char *dsn, const char *status,
                 const char *reason)
{
    struct str line = STR_INIT;
    long long now = deliver_now_us();
    long long recv = req->recv_us ? req->recv_us : now;

    str_printf(&line, "%s: to=<%s>", req->queue_id, to);
    if (orig && orig[0] && strcasecmp(orig, to) != 0)
        str_printf(&line, ", orig_to=<%s>", orig);
    str_printf(&line, ", relay=%s, delay=", relay && relay[0] ? relay : "none");
    deliver_format_delay(&line, span(req->arrival_us, now));
    str_cat(&line, ", delays=");
    deliver_format_delay(&line, span(req->arrival_us, req->active_us));
    str_catc(&line, '/');
    deliver_format_delay(&line, span(req->active_us, req->sent_us));
    str_catc(&line, '/');
    deliver_format_delay(&line, conn_us > 0 ? (double)conn_us / 1e6 : 0);
    str_catc(&line, '/');
    deliver_format_delay(&line, span(recv + (conn_us > 0 ? conn_us : 0), now));
    str_printf(&line, ", dsn=%s, status=%s (%s)", dsn, status, reason ? reason : "");
    log_info("%s", line.s);
    str_free(&line);
}

int deliver_report(struct stream *s, const struct deliver_request *req,
                   const struct deliver_result *r)
{
    const struct deliver_rcpt *rc = &req->rcpts[r->rcpt];

    deliver_log(req, rc->addr, rc->orig, r->relay, 0, r->dsn, deliver_status_name(r->status),
                r->reason);
    return deliver_result_send(s, r);
}

int deliver_queue_open(const char *queue_id, struct str *err)
{
    int dfd, fd;
    struct stat st;

    /* the queue directory belongs to mail_owner: neither active/ nor the file may be a
     * symlink (a root agent follows no path a less privileged user can change) */
    if (!qfile_valid_id(queue_id)) {
        str_printf(err, "bad queue ID in the delivery request");
        return -1;
    }
    dfd = open("active", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        str_printf(err, "open active/%s: %s (active/)", queue_id, strerror(errno));
        return -1;
    }
    fd = openat(dfd, queue_id, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        str_printf(err, "open active/%s: %s", queue_id, strerror(errno));
    close(dfd);
    if (fd < 0)
        return -1;
    /* judged by the descriptor: one regular file with one name */
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
        str_printf(err, "active/%s: not a queue file", queue_id);
        close(fd);
        return -1;
    }
    /* qmgr holds an exclusive lock only while it takes the file up (a moment) */
    while (flock(fd, LOCK_SH) < 0) {
        if (errno == EINTR)
            continue;
        str_printf(err, "lock active/%s: %s", queue_id, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int deliver_queue_load(const struct deliver_request *req, struct qfile_env *env, const char **why)
{
    struct str want = STR_INIT, err = STR_INIT;
    int fd = -1;

    memset(env, 0, sizeof(*env));
    str_printf(&want, "active/%s", req->queue_id);
    if (strcmp(req->queue_file, want.s) != 0) {
        log_warn("%s: refusing queue file %s", req->queue_id, req->queue_file);
        *why = "bad queue file name in the delivery request";
    } else if ((fd = deliver_queue_open(req->queue_id, &err)) < 0 ||
               qfile_read_envelope(fd, env, QFILE_RCPT_MAX, &err) < 0) {
        log_warn("%s: %s", req->queue_id, str_c(&err));
        *why = "cannot read the queue file";
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    str_free(&want);
    str_free(&err);
    return fd;
}

const struct qfile_rcpt *deliver_rcpt_record(const struct qfile_env *env,
                                             const struct deliver_request *req, size_t i)
{
    if (i >= req->nrcpts)
        return NULL;
    for (size_t k = 0; k < env->nrcpts; k++)
        if ((long long)env->rcpts[k].offset == req->rcpts[i].offset)
            return &env->rcpts[k];
    return NULL;
}

/* log_entry - one entry of bounce/ID for request recipient i (fsync'ed); target: an
 * expansion member (offset -1) */
static int log_entry(const struct deliver_request *req, const struct deliver_rcpt *rc,
                     const struct deliver_result *r, const char *action, struct str *err)
{
    struct dsnlog_entry e;
    struct str path = STR_INIT;
    const char *orig = rc->orig[0] ? rc->orig : rc->addr;
    int ret;

    dsnlog_entry_set(&e, r->target ? r->target : rc->addr, r->target ? rc->addr : orig, rc->orcpt,
                     rc->notify, r->target ? -1 : rc->offset, r->dsn, action, r->reason);
    free(e.remote_mta);
    e.remote_mta = xstrdup(r->remote_mta ? r->remote_mta : "");
    free(e.diag);
    e.diag = xstrdup(r->diag ? r->diag : "");
    free(e.dsn_to);
    e.dsn_to = xstrdup(r->dsn_to ? r->dsn_to : "");
    dsnlog_path(&path, "bounce", req->queue_id);
    ret = dsnlog_append(path.s, &e, 1, err);
    dsnlog_entry_free(&e);
    str_free(&path);
    return ret;
}

int deliver_mark_sent(int fd, const struct qfile_env *env, const struct deliver_request *req,
                      const struct deliver_result *r, const struct deliver_result *extras,
                      size_t nextras, size_t *nlogged)
{
    const struct qfile_rcpt *rec = deliver_rcpt_record(env, req, r->rcpt);
    const struct deliver_rcpt *rc;
    struct str err = STR_INIT;
    int ret = -1;

    *nlogged = 0;
    if (fd < 0 || r->status != DELIVER_SENT || rec == NULL)
        return -1; /* qmgr records it (a stale offset is its business) */
    rc = &req->rcpts[r->rcpt];
    for (; *nlogged < nextras; (*nlogged)++)
        if (log_entry(req, rc, &extras[*nlogged], "failed", &err) < 0)
            goto out;
    if ((rc->notify & QNOTIFY_SUCCESS) && !r->dsn_passed &&
        log_entry(req, rc, r, r->action ? r->action : "delivered", &err) < 0)
        goto out;
    if (qfile_mark_done(fd, rec->offset) < 0) {
        str_printf(&err, "mark recipient done in %s: %s", req->queue_file, strerror(errno));
        goto out;
    }
    ret = 0;
out:
    if (ret < 0)
        log_warn("%s: %s (qmgr records the delivery to %s instead)", req->queue_id, str_c(&err),
                 rc->addr);
    str_free(&err);
    return ret;
}

int deliver_hello_check(const struct attr_list *l, struct str *err)
{
    const char *st = attr_get(l, "status"), *proto = attr_get(l, "protocol");

    if (st == NULL || strcmp(st, "ready") != 0 || proto == NULL ||
        strcmp(proto, DELIVER_PROTOCOL) != 0) {
        str_cat(err, "bad greeting from delivery agent");
        return -1;
    }
    return 0;
}

const char *deliver_status_name(int status)
{
    switch (status) {
    case DELIVER_SENT:
        return "sent";
    case DELIVER_DEFERRED:
        return "deferred";
    case DELIVER_BOUNCED:
        return "bounced";
    default:
        return "?";
    }
}

int deliver_dsn_valid(const char *dsn, int status)
{
    int want = status == DELIVER_SENT ? '2' : status == DELIVER_DEFERRED ? '4' : '5';
    const char *p = dsn;
    int parts = 0;

    if (dsn == NULL || dsn[0] != want || dsn[1] != '.')
        return 0;
    p = dsn + 2;
    for (parts = 0; parts < 2; parts++) {
        int digits = 0;
        while (isdigit((unsigned char)*p) && digits < 3) {
            p++;
            digits++;
        }
        if (digits == 0)
            return 0;
        if (parts == 0 && *p++ != '.')
            return 0;
    }
    return *p == '\0';
}

int deliver_reply_parse(const struct attr_list *l, size_t nrcpts, struct deliver_result *r,
                        int *dest_failed, int *last, struct str *err)
{
    const char *st = attr_get(l, "status"), *v;
    long long idx;

    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < l->n; i++)
        if (has_nul(&l->items[i])) {
            str_cat(err, "NUL byte in a reply");
            return -1;
        }
    if (st == NULL) {
        str_cat(err, "reply without status");
        return -1;
    }
    if (strcmp(st, "done") == 0) {
        v = attr_get(l, "dest");
        *dest_failed = v && strcmp(v, "fail") == 0;
        v = attr_get(l, "last");
        *last = v && strcmp(v, "1") == 0;
        return 0;
    }
    if (strcmp(st, "sent") == 0)
        r->status = DELIVER_SENT;
    else if (strcmp(st, "deferred") == 0)
        r->status = DELIVER_DEFERRED;
    else if (strcmp(st, "bounced") == 0)
        r->status = DELIVER_BOUNCED;
    else {
        str_cat(err, "unknown status in a reply");
        return -1;
    }
    if (parse_ll(attr_get(l, "rcpt"), 0, (long long)nrcpts - 1, &idx) < 0) {
        str_cat(err, "bad recipient index in a reply");
        return -1;
    }
    r->rcpt = (size_t)idx;
    r->dsn = attr_get(l, "dsn");
    if (!deliver_dsn_valid(r->dsn, r->status)) {
        str_printf(err, "bad dsn code for status %s", st);
        return -1;
    }
    r->reason = attr_get(l, "reason");
    if (r->reason == NULL)
        r->reason = "";
    r->action = attr_get(l, "action");
    if (r->action && strcmp(r->action, "delivered") != 0 && strcmp(r->action, "relayed") != 0 &&
        strcmp(r->action, "expanded") != 0) {
        str_cat(err, "bad action in a reply");
        return -1;
    }
    r->relay = attr_get(l, "relay");
    r->diag = attr_get(l, "diag");
    r->remote_mta = attr_get(l, "remote_mta");
    r->target = attr_get(l, "target");
    r->dsn_to = attr_get(l, "dsn_to");
    v = attr_get(l, "dsn_passed");
    r->dsn_passed = r->status == DELIVER_SENT && v && strcmp(v, "1") == 0;
    v = attr_get(l, "marked");
    r->marked = r->status == DELIVER_SENT && v && strcmp(v, "1") == 0;
    if (r->target && r->status != DELIVER_BOUNCED) {
        str_cat(err, "an expansion entry must be bounced");
        return -1;
    }
    return 1;
}
