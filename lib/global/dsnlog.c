/*
 * dsnlog.c - per-message logs of recipient outcomes: defer/ and bounce/
 *
 * An entry is written with one write(2) on an O_APPEND descriptor, so
 * concurrent appends never interleave and a crash leaves at most one
 * incomplete entry at the end, which readers skip.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attr.h"
#include "dsnlog.h"
#include "mem.h"
#include "qdir.h"

void dsnlog_path(struct str *out, const char *kind, const char *id)
{
    str_reset(out);
    if (strcmp(kind, "defer") == 0)
        str_printf(out, "defer/%c/%s", qdir_hash(id), id);
    else
        str_printf(out, "%s/%s", kind, id);
}

void dsnlog_entry_set(struct dsnlog_entry *e, const char *rcpt, const char *orig, const char *orcpt,
                      int notify, long long offset, const char *dsn, const char *action,
                      const char *reason)
{
    memset(e, 0, sizeof(*e));
    e->rcpt = xstrdup(rcpt ? rcpt : "");
    e->orig = xstrdup(orig ? orig : "");
    e->orcpt = xstrdup(orcpt ? orcpt : "");
    e->notify = notify;
    e->offset = offset;
    e->dsn = xstrdup(dsn ? dsn : "");
    e->action = xstrdup(action ? action : "");
    e->reason = xstrdup(reason ? reason : "");
    e->remote_mta = xstrdup("");
    e->diag = xstrdup("");
    e->dsn_to = xstrdup("");
}

void dsnlog_entry_free(struct dsnlog_entry *e)
{
    free(e->rcpt);
    free(e->orig);
    free(e->orcpt);
    free(e->dsn);
    free(e->action);
    free(e->reason);
    free(e->remote_mta);
    free(e->diag);
    free(e->dsn_to);
    memset(e, 0, sizeof(*e));
}

int dsnlog_append(const char *path, const struct dsnlog_entry *e, int sync, struct str *err)
{
    struct attr_list l = ATTR_LIST_INIT;
    struct str out = STR_INIT;
    int fd, rc = -1;
    ssize_t n;

    attr_add(&l, "rcpt", e->rcpt);
    attr_add(&l, "orig_rcpt", e->orig ? e->orig : "");
    attr_add(&l, "orcpt", e->orcpt ? e->orcpt : "");
    attr_add_int(&l, "notify", e->notify);
    attr_add_int(&l, "offset", e->offset);
    attr_add(&l, "dsn", e->dsn);
    attr_add(&l, "action", e->action);
    attr_add(&l, "reason", e->reason ? e->reason : "");
    attr_add(&l, "remote_mta", e->remote_mta ? e->remote_mta : "");
    attr_add(&l, "diag", e->diag ? e->diag : "");
    attr_add(&l, "dsn_to", e->dsn_to ? e->dsn_to : "");
    attr_add_int(&l, "time", e->time ? e->time : (long long)time(NULL));
    attr_encode(&l, &out);
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        str_printf(err, "open %s: %s", path, strerror(errno));
        goto out;
    }
    n = write(fd, out.s, out.len);
    if (n != (ssize_t)out.len) {
        str_printf(err, "write %s: %s", path, n < 0 ? strerror(errno) : "short write");
        /* take a partial entry back out so that later entries stay readable */
        if (n > 0) {
            struct stat st;
            if (fstat(fd, &st) == 0 && ftruncate(fd, st.st_size - n) < 0)
                str_cat(err, " (and cannot truncate)");
        }
        close(fd);
        goto out;
    }
    if (sync && fsync(fd) < 0) {
        str_printf(err, "fsync %s: %s", path, strerror(errno));
        close(fd);
        goto out;
    }
    close(fd);
    rc = 0;
out:
    attr_free(&l);
    str_free(&out);
    return rc;
}

/* dup_attr - a copy of an attribute value, "" when missing */
static char *dup_attr(const struct attr_list *l, const char *name)
{
    const char *v = attr_get(l, name);
    return xstrdup(v ? v : "");
}

/* add_entry - convert one decoded message into an entry; skipped when it lacks rcpt */
static void add_entry(struct dsnlog *log, const struct attr_list *l)
{
    struct dsnlog_entry *e;
    long long v;

    if (attr_get(l, "rcpt") == NULL || attr_get(l, "dsn") == NULL)
        return;
    if (log->n == log->cap) {
        log->cap = log->cap ? log->cap * 2 : 8;
        log->e = xreallocarray(log->e, log->cap, sizeof(*log->e));
    }
    e = &log->e[log->n++];
    e->rcpt = dup_attr(l, "rcpt");
    e->orig = dup_attr(l, "orig_rcpt");
    e->orcpt = dup_attr(l, "orcpt");
    e->notify = attr_get_int(l, "notify", &v) == 0 && v >= 0 && v <= 15 ? (int)v : 0;
    e->offset = attr_get_int(l, "offset", &v) == 0 ? v : -1;
    e->dsn = dup_attr(l, "dsn");
    e->action = dup_attr(l, "action");
    e->reason = dup_attr(l, "reason");
    e->remote_mta = dup_attr(l, "remote_mta");
    e->diag = dup_attr(l, "diag");
    e->dsn_to = dup_attr(l, "dsn_to");
    e->time = attr_get_int(l, "time", &v) == 0 ? v : 0;
}

int dsnlog_read(const char *path, struct dsnlog *out, struct str *err)
{
    struct attr_list l = ATTR_LIST_INIT;
    struct str buf = STR_INIT;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    size_t want, pos = 0;

    memset(out, 0, sizeof(*out));
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        str_printf(err, "open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        str_printf(err, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    want = st.st_size > DSNLOG_MAX_BYTES ? DSNLOG_MAX_BYTES : (size_t)st.st_size;
    str_reserve(&buf, want);
    while (buf.len < want) {
        ssize_t n = read(fd, buf.s + buf.len, want - buf.len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            str_printf(err, "read %s: %s", path, strerror(errno));
            close(fd);
            str_free(&buf);
            return -1;
        }
        if (n == 0)
            break;
        buf.len += (size_t)n;
    }
    close(fd);
    while (pos < buf.len) {
        char *nl = memchr(buf.s + pos, '\n', buf.len - pos);
        if (nl == NULL)
            break; /* incomplete last entry */
        size_t len = (size_t)(nl - (buf.s + pos));
        if (len == 0) {
            add_entry(out, &l);
            attr_reset(&l);
        } else if (attr_decode_line(&l, buf.s + pos, len) < 0) {
            attr_reset(&l); /* skip a damaged entry */
        }
        pos += len + 1;
    }
    attr_free(&l);
    str_free(&buf);
    return 0;
}

const struct dsnlog_entry *dsnlog_last(const struct dsnlog *log, long long offset, const char *rcpt)
{
    for (size_t i = log->n; i-- > 0;) {
        const struct dsnlog_entry *e = &log->e[i];
        if (offset >= 0 ? e->offset == offset : strcmp(e->rcpt, rcpt) == 0)
            return e;
    }
    return NULL;
}

void dsnlog_free(struct dsnlog *log)
{
    for (size_t i = 0; i < log->n; i++)
        dsnlog_entry_free(&log->e[i]);
    free(log->e);
    memset(log, 0, sizeof(*log));
}
