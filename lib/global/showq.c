/*
 * showq.c - the queue listing for the admin tools (public/showq, served by qmgr)
 *
 * showq_scan reads envelopes only (never content) and bounds everything
 * it reads; files that vanish or are still being written are skipped, as
 * the queue changes under the walk. The client functions speak the
 * protocol of showq.h with a deadline on every exchange.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "addr.h"
#include "dsnlog.h"
#include "mem.h"
#include "qdir.h"
#include "showq.h"
#include "sock.h"
#include "stream.h"

#define SHOWQ_RCPT_MAX 100000
#define SHOWQ_ATTR_LIMIT 65536
#define SHOWQ_MSG_LIMIT (64 << 20)

void showq_entry_free(struct showq_entry *e)
{
    free(e->sender);
    for (size_t i = 0; i < e->nrcpts; i++) {
        free(e->rcpts[i].addr);
        free(e->rcpts[i].reason);
    }
    free(e->rcpts);
    memset(e, 0, sizeof(*e));
}

/* add_rcpt - append a recipient (copies) */
static void add_rcpt(struct showq_entry *e, const char *addr, const char *reason)
{
    e->rcpts = xgrow(e->rcpts, e->nrcpts, sizeof(*e->rcpts));
    e->rcpts[e->nrcpts].addr = xstrdup(addr);
    e->rcpts[e->nrcpts].reason = xstrdup(reason ? reason : "");
    e->nrcpts++;
}

/* scan_file - one queue file into an entry; 0 ok, -1 skip it */
static int scan_file(const char *queue_dir, const char *qname, const char *path, const char *id,
                     struct showq_entry *e)
{
    struct qfile_env env;
    struct dsnlog log;
    struct str err = STR_INIT, lp = STR_INIT;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0)
        return -1;
    if (!qfile_is_complete(fd) || fstat(fd, &st) < 0 ||
        qfile_read_envelope(fd, &env, SHOWQ_RCPT_MAX, &err) < 0) {
        close(fd);
        str_free(&err);
        return -1;
    }
    close(fd);
    memset(e, 0, sizeof(*e));
    snprintf(e->id, sizeof(e->id), "%.*s", (int)sizeof(e->id) - 1, id);
    snprintf(e->queue, sizeof(e->queue), "%s", qname);
    e->size = env.content_size;
    e->arrival = env.arrival_sec;
    e->next_attempt = strcmp(qname, "deferred") == 0 ? (long long)st.st_mtime : 0;
    e->sender = xstrdup(env.sender);
    memset(&log, 0, sizeof(log));
    str_printf(&lp, "%s/defer/%c/%s", queue_dir, qdir_hash(id), id);
    if (strcmp(qname, "incoming") != 0)
        dsnlog_read(lp.s, &log, &err);
    for (size_t i = 0; i < env.nrcpts; i++) {
        const struct dsnlog_entry *last;
        if (env.rcpts[i].done)
            continue;
        last = dsnlog_last(&log, (long long)env.rcpts[i].offset, NULL);
        add_rcpt(e, env.rcpts[i].addr, last ? last->reason : "");
    }
    dsnlog_free(&log);
    qfile_env_free(&env);
    str_free(&err);
    str_free(&lp);
    return 0;
}

/* scan_dir - every queue file of one directory; -1 when the callback stopped */
static int scan_dir(const char *queue_dir, const char *qname, const char *dir, const char *only_id,
                    showq_cb cb, void *ctx)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int rc = 0;

    if (d == NULL)
        return 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        struct showq_entry e;
        char *path;
        if (!qfile_valid_id(de->d_name) || (only_id && strcmp(de->d_name, only_id) != 0))
            continue;
        path = xasprintf("%s/%s", dir, de->d_name);
        if (scan_file(queue_dir, qname, path, de->d_name, &e) == 0) {
            if (cb(&e, ctx) < 0)
                rc = -1;
            showq_entry_free(&e);
        }
        free(path);
    }
    closedir(d);
    return rc;
}

int showq_scan(const char *queue_dir, const char *only_id, showq_cb cb, void *ctx, struct str *err)
{
    static const char *queues[] = {"incoming", "active", "deferred", "hold", NULL};
    struct str dir = STR_INIT;
    int rc = 0;

    if (access(queue_dir, X_OK) < 0) {
        str_printf(err, "%s: %s", queue_dir, strerror(errno));
        return -1;
    }
    for (int q = 0; queues[q] && rc == 0; q++) {
        if (strcmp(queues[q], "deferred") == 0) {
            for (int h = 0; h < 16 && rc == 0; h++) {
                str_reset(&dir);
                str_printf(&dir, "%s/deferred/%x", queue_dir, h);
                if (only_id && qdir_hash(only_id) != "0123456789abcdef"[h])
                    continue;
                rc = scan_dir(queue_dir, "deferred", dir.s, only_id, cb, ctx);
            }
            continue;
        }
        str_reset(&dir);
        str_printf(&dir, "%s/%s", queue_dir, queues[q]);
        rc = scan_dir(queue_dir, queues[q], dir.s, only_id, cb, ctx);
    }
    str_free(&dir);
    return 0;
}

void showq_entry_encode(const struct showq_entry *e, struct attr_list *l)
{
    attr_add(l, "queue_id", e->id);
    attr_add(l, "queue", e->queue);
    attr_add_int(l, "size", (long long)e->size);
    attr_add_int(l, "arrival", e->arrival);
    attr_add_int(l, "next_attempt", e->next_attempt);
    attr_add(l, "sender", e->sender ? e->sender : "");
    for (size_t i = 0; i < e->nrcpts; i++) {
        attr_add(l, "rcpt", e->rcpts[i].addr);
        attr_add(l, "reason", e->rcpts[i].reason);
    }
}

int showq_entry_decode(const struct attr_list *l, struct showq_entry *e, struct str *err)
{
    const char *id = attr_get(l, "queue_id"), *q = attr_get(l, "queue");
    long long v;

    memset(e, 0, sizeof(*e));
    if (id == NULL || !qfile_valid_id(id) || q == NULL || strlen(q) >= sizeof(e->queue)) {
        str_cat(err, "bad queue listing entry");
        return -1;
    }
    snprintf(e->id, sizeof(e->id), "%.*s", (int)sizeof(e->id) - 1, id);
    snprintf(e->queue, sizeof(e->queue), "%s", q);
    e->size = attr_get_int(l, "size", &v) == 0 && v >= 0 ? (unsigned long long)v : 0;
    e->arrival = attr_get_int(l, "arrival", &v) == 0 ? v : 0;
    e->next_attempt = attr_get_int(l, "next_attempt", &v) == 0 ? v : 0;
    e->sender = xstrdup(attr_get(l, "sender") ? attr_get(l, "sender") : "");
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->items[i].name, "rcpt") == 0)
            add_rcpt(e, l->items[i].value, "");
        else if (strcmp(l->items[i].name, "reason") == 0 && e->nrcpts > 0) {
            free(e->rcpts[e->nrcpts - 1].reason);
            e->rcpts[e->nrcpts - 1].reason = xstrdup(l->items[i].value);
        }
    }
    return 0;
}

/* request - connect to public/showq and send one request; the stream or NULL */
static struct stream *request(const char *queue_dir, struct attr_list *req, int timeout,
                              struct str *err)
{
    char *path = xasprintf("%s/%s", queue_dir, SHOWQ_SOCKET);
    int fd = sock_connect_unix(path, timeout, err);
    struct stream *s;

    free(path);
    if (fd < 0)
        return NULL;
    s = stream_new(fd, fd, timeout);
    if (attr_write(s, req) != STREAM_OK) {
        str_cat(err, "cannot send the request to qmgr");
        stream_free(s, 1);
        return NULL;
    }
    return s;
}

int showq_list(const char *queue_dir, const char *only_id, int timeout, showq_cb cb, void *ctx,
               struct str *err)
{
    struct attr_list req = ATTR_LIST_INIT, ans = ATTR_LIST_INIT;
    struct stream *s;
    int rc = -1, stop = 0;

    attr_add(&req, "request", "list");
    if (only_id)
        attr_add(&req, "queue_id", only_id);
    if ((s = request(queue_dir, &req, timeout, err)) == NULL)
        goto out;
    for (;;) {
        struct showq_entry e;
        if (attr_read(s, &ans, SHOWQ_ATTR_LIMIT, SHOWQ_MSG_LIMIT, err) != STREAM_OK) {
            if (err->len == 0)
                str_cat(err, "unexpected end of the queue listing");
            break;
        }
        if (attr_get(&ans, "end")) {
            rc = 0;
            break;
        }
        if (attr_get(&ans, "status")) {
            str_printf(err, "qmgr: %s",
                       attr_get(&ans, "reason") ? attr_get(&ans, "reason") : "error");
            break;
        }
        if (showq_entry_decode(&ans, &e, err) < 0)
            break;
        if (!stop && cb(&e, ctx) < 0)
            stop = 1;
        showq_entry_free(&e);
    }
    stream_free(s, 1);
out:
    attr_free(&req);
    attr_free(&ans);
    return rc;
}

/* simple - a request answered by one status message: 0 ok, 1 notfound, -1 error */
static int simple(const char *queue_dir, struct attr_list *req, int timeout, struct str *err)
{
    struct attr_list ans = ATTR_LIST_INIT;
    struct stream *s = request(queue_dir, req, timeout, err);
    const char *st;
    int rc = -1;

    if (s == NULL)
        return -1;
    if (attr_read(s, &ans, SHOWQ_ATTR_LIMIT, SHOWQ_ATTR_LIMIT, err) == STREAM_OK &&
        (st = attr_get(&ans, "status")) != NULL) {
        if (strcmp(st, "ok") == 0)
            rc = 0;
        else if (strcmp(st, "notfound") == 0)
            rc = 1;
        else
            str_printf(err, "qmgr: %s",
                       attr_get(&ans, "reason") ? attr_get(&ans, "reason") : "error");
    } else if (err->len == 0) {
        str_cat(err, "no answer from qmgr");
    }
    stream_free(s, 1);
    attr_free(&ans);
    return rc;
}

int showq_flush(const char *queue_dir, int timeout, struct str *err)
{
    struct attr_list req = ATTR_LIST_INIT;
    int rc;

    attr_add(&req, "request", "flush");
    rc = simple(queue_dir, &req, timeout, err);
    attr_free(&req);
    return rc;
}

int showq_deliver(const char *queue_dir, const char *id, int timeout, struct str *err)
{
    struct attr_list req = ATTR_LIST_INIT;
    int rc;

    attr_add(&req, "request", "deliver");
    attr_add(&req, "queue_id", id);
    rc = simple(queue_dir, &req, timeout, err);
    attr_free(&req);
    return rc;
}

int showq_flush_site(const char *queue_dir, const char *site, int timeout, struct str *err)
{
    struct attr_list req = ATTR_LIST_INIT;
    int rc;

    attr_add(&req, "request", "flush_site");
    attr_add(&req, "site", site);
    rc = simple(queue_dir, &req, timeout, err);
    attr_free(&req);
    return rc;
}

/* for_site - whether a queue file has a recipient not yet done in site */
static int for_site(const char *path, const char *site)
{
    struct qfile_env env;
    struct str err = STR_INIT;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), hit = 0;

    if (fd < 0)
        return 0;
    if (qfile_read_envelope(fd, &env, SHOWQ_RCPT_MAX, &err) == 0) {
        for (size_t i = 0; i < env.nrcpts && !hit; i++) {
            const char *at = addr_domain_at(env.rcpts[i].addr);
            hit = !env.rcpts[i].done && at && addr_internal_ok(env.rcpts[i].addr) &&
                  strcasecmp(at + 1, site) == 0;
        }
        qfile_env_free(&env);
    }
    close(fd);
    str_free(&err);
    return hit;
}

long showq_site_due(const char *queue_dir, const char *site)
{
    struct str path = STR_INIT;
    long n = 0;

    for (int h = 0; h < 16; h++) {
        DIR *d;
        struct dirent *de;
        str_reset(&path);
        str_printf(&path, "%s/deferred/%x", queue_dir, h);
        if ((d = opendir(path.s)) == NULL)
            continue;
        while ((de = readdir(d)) != NULL) {
            if (!qfile_valid_id(de->d_name))
                continue;
            str_reset(&path);
            str_printf(&path, "%s/deferred/%x/%s", queue_dir, h, de->d_name);
            if (for_site(path.s, site) && utimes(path.s, NULL) == 0)
                n++;
        }
        closedir(d);
    }
    str_free(&path);
    return n;
}
