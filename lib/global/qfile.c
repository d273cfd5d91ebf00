/*
 * qfile.c - queue files: IDs, the record format, writing and reading
 *
 * The writer buffers records and writes them in large blocks; only commit
 * forces them to disk (one fsync per message). The reader is strict: it
 * accepts each record type only in its segment, bounds every length, and
 * reports the first problem as the reason the file is corrupt.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "qfile.h"

#define WBUF_MAX 65536

struct qfile_writer {
    int fd;
    char id[QFILE_ID_MAX];
    char *path;
    struct str out;   /* records not yet written */
    struct str chunk; /* content not yet in a D record */
    off_t written;    /* bytes already written to the file */
    off_t size_offset;
    uint64_t content;
    int in_content;
    int committed;
    struct str error;
};

/* be32 - encode a length */
static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int qfile_valid_id(const char *name)
{
    size_t n = strlen(name);

    if (n < 14 || n >= QFILE_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'A' && name[i] <= 'F')))
            return 0;
    return 1;
}

/* flush_out - write the buffered records */
static int flush_out(struct qfile_writer *w)
{
    size_t off = 0;

    while (off < w->out.len) {
        ssize_t n = write(w->fd, w->out.s + off, w->out.len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            str_printf(&w->error, "write %s: %s", w->path, strerror(errno));
            return -1;
        }
        off += (size_t)n;
    }
    w->written += (off_t)w->out.len;
    str_reset(&w->out);
    return 0;
}

/* writer_new - a writer on fd with the first two records buffered */
static struct qfile_writer *writer_new(int fd, const char *id, char *path)
{
    struct qfile_writer *w = xcalloc(1, sizeof(*w));

    snprintf(w->id, sizeof(w->id), "%s", id);
    w->path = path;
    w->fd = fd;
    str_init(&w->out);
    str_init(&w->chunk);
    str_init(&w->error);
    qfile_put(w, QREC_VERSION, QFILE_MAGIC, strlen(QFILE_MAGIC));
    w->size_offset = (off_t)w->out.len;
    qfile_put(w, QREC_SIZE, "000000000000000 0000", 20);
    return w;
}

struct qfile_writer *qfile_create(const char *dir, struct str *err)
{
    static unsigned counter;
    struct timeval tv;
    struct stat st;
    char id[QFILE_ID_MAX];
    char *tmp, *path;
    int fd;

    gettimeofday(&tv, NULL);
    tmp = xasprintf("%s/.tmp.%ld.%u.%ld", dir, (long)getpid(), counter++, (long)tv.tv_usec);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        str_printf(err, "create file in %s: %s", dir, strerror(errno));
        free(tmp);
        return NULL;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) { /* held until commit or death (qfile.h) */
        str_printf(err, "lock %s: %s", tmp, strerror(errno));
        goto bad;
    }
    if (fstat(fd, &st) < 0) {
        str_printf(err, "fstat %s: %s", tmp, strerror(errno));
        goto bad;
    }
    snprintf(id, sizeof(id), "%08llX%05lX%llX", (unsigned long long)tv.tv_sec,
             (unsigned long)tv.tv_usec, (unsigned long long)st.st_ino);
    path = xasprintf("%s/%s", dir, id);
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0 &&
        (errno != EINVAL || rename(tmp, path) < 0)) {
        str_printf(err, "rename %s to %s: %s", tmp, path, strerror(errno));
        free(path);
        goto bad;
    }
    free(tmp);
    return writer_new(fd, id, path);
bad:
    unlink(tmp);
    close(fd);
    free(tmp);
    return NULL;
}

struct qfile_writer *qfile_create_as(const char *dir, const char *id, struct str *err)
{
    char *tmp = xasprintf("%s/.rw.%s", dir, id);
    int fd;

    unlink(tmp); /* a leftover of an interrupted rewrite */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        str_printf(err, "create %s: %s", tmp, strerror(errno));
        free(tmp);
        return NULL;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) { /* held until commit or death (qfile.h) */
        str_printf(err, "lock %s: %s", tmp, strerror(errno));
        unlink(tmp);
        close(fd);
        free(tmp);
        return NULL;
    }
    return writer_new(fd, id, tmp);
}

const char *qfile_writer_id(const struct qfile_writer *w)
{
    return w->id;
}

const char *qfile_writer_path(const struct qfile_writer *w)
{
    return w->path;
}

const char *qfile_error(const struct qfile_writer *w)
{
    return str_c(&w->error);
}

int qfile_put(struct qfile_writer *w, int type, const void *data, size_t len)
{
    unsigned char hdr[QFILE_HDR];

    if (w->error.len)
        return -1;
    if (len > QFILE_RECORD_MAX) {
        str_printf(&w->error, "record too large (%zu bytes)", len);
        return -1;
    }
    hdr[0] = (unsigned char)type;
    be32(hdr + 1, (uint32_t)len);
    str_catn(&w->out, hdr, QFILE_HDR);
    str_catn(&w->out, data, len);
    if (w->out.len >= WBUF_MAX)
        return flush_out(w);
    return 0;
}

int qfile_put_time(struct qfile_writer *w, long long sec, long usec)
{
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%lld.%06ld", sec, usec);
    return qfile_put(w, QREC_TIME, buf, (size_t)n);
}

int qfile_put_sender(struct qfile_writer *w, const char *sender)
{
    return qfile_put(w, QREC_SENDER, sender, strlen(sender));
}

int qfile_put_attr(struct qfile_writer *w, const char *name, const char *value)
{
    struct str s = STR_INIT;
    int r;

    str_printf(&s, "%s=%s", name, value);
    r = qfile_put(w, QREC_ATTR, s.s, s.len);
    str_free(&s);
    return r;
}

int qfile_put_rcpt(struct qfile_writer *w, const char *addr, const char *orcpt, int notify,
                   const char *dsn_orig)
{
    struct str s = STR_INIT;
    char nb[16];
    int r;

    snprintf(nb, sizeof(nb), "%d", notify);
    str_cat(&s, addr);
    str_catc(&s, '\0');
    str_cat(&s, orcpt ? orcpt : "");
    str_catc(&s, '\0');
    str_cat(&s, nb);
    str_catc(&s, '\0');
    str_cat(&s, dsn_orig ? dsn_orig : "");
    r = qfile_put(w, QREC_RCPT, s.s, s.len);
    str_free(&s);
    return r;
}

int qfile_begin_content(struct qfile_writer *w)
{
    w->in_content = 1;
    return qfile_put(w, QREC_MESSAGE, "", 0);
}

int qfile_write(struct qfile_writer *w, const void *data, size_t len)
{
    const char *p = data;

    if (!w->in_content)
        log_panic("qfile_write before qfile_begin_content");
    w->content += len;
    while (len > 0) {
        size_t room = QFILE_CHUNK - w->chunk.len;
        size_t take = len < room ? len : room;
        str_catn(&w->chunk, p, take);
        p += take;
        len -= take;
        if (w->chunk.len == QFILE_CHUNK) {
            if (qfile_put(w, QREC_DATA, w->chunk.s, w->chunk.len) < 0)
                return -1;
            str_reset(&w->chunk);
        }
    }
    return w->error.len ? -1 : 0;
}

uint64_t qfile_content_size(const struct qfile_writer *w)
{
    return w->content;
}

int qfile_commit(struct qfile_writer *w, struct str *err)
{
    char z[32];

    if (!w->in_content)
        qfile_begin_content(w);
    if (w->chunk.len)
        qfile_put(w, QREC_DATA, w->chunk.s, w->chunk.len);
    str_reset(&w->chunk);
    qfile_put(w, QREC_END, "", 0);
    if (w->error.len == 0)
        flush_out(w);
    snprintf(z, sizeof(z), "%015llu %04x", (unsigned long long)w->content, 0);
    if (w->error.len == 0 && pwrite(w->fd, z, 20, w->size_offset + QFILE_HDR) != 20)
        str_printf(&w->error, "write %s: %s", w->path, strerror(errno));
    if (w->error.len == 0 && fchmod(w->fd, 0700) < 0)
        str_printf(&w->error, "chmod %s: %s", w->path, strerror(errno));
    if (w->error.len == 0 && fsync(w->fd) < 0)
        str_printf(&w->error, "fsync %s: %s", w->path, strerror(errno));
    if (w->error.len) {
        str_cat(err, str_c(&w->error));
        return -1;
    }
    close(w->fd);
    w->fd = -1;
    w->committed = 1;
    return 0;
}

int qfile_remove_abandoned(int dfd, const char *name)
{
    struct stat st, again;
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), r = 0;

    if (fd < 0)
        return errno == ENOENT || errno == ELOOP ? 0 : -1;
    if (fstat(fd, &st) < 0) {
        r = -1;
    } else if (S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600 &&
               time(NULL) - st.st_mtime >= QFILE_ABANDONED_AGE &&
               flock(fd, LOCK_EX | LOCK_NB) == 0) {
        /* no writer: remove it, provided the name still means this very file */
        if (fstatat(dfd, name, &again, AT_SYMLINK_NOFOLLOW) == 0 && again.st_ino == st.st_ino &&
            again.st_dev == st.st_dev)
            r = unlinkat(dfd, name, 0) == 0 ? 1 : -1;
    }
    close(fd);
    return r;
}

void qfile_abort(struct qfile_writer *w)
{
    if (w->fd >= 0) {
        unlink(w->path);
        close(w->fd);
        w->fd = -1;
    }
}

void qfile_writer_free(struct qfile_writer *w)
{
    if (w == NULL)
        return;
    if (!w->committed)
        qfile_abort(w);
    str_free(&w->out);
    str_free(&w->chunk);
    str_free(&w->error);
    free(w->path);
    free(w);
}

/* reading ---------------------------------------------------------------- */

/* a small read-ahead window for the envelope, which is many short records */
struct rbuf {
    off_t start;
    size_t len;
    char data[8192];
};

/* rb_read - n bytes at off, through the window when it can hold them */
static ssize_t rb_read(int fd, struct rbuf *rb, void *buf, size_t n, off_t off)
{
    if (rb == NULL || n > sizeof(rb->data))
        return pread(fd, buf, n, off);
    if (off < rb->start || off + (off_t)n > rb->start + (off_t)rb->len) {
        ssize_t got = pread(fd, rb->data, sizeof(rb->data), off);
        if (got < 0)
            return -1;
        rb->start = off;
        rb->len = (size_t)got;
    }
    size_t avail = (size_t)(rb->start + (off_t)rb->len - off);
    if (n > avail)
        n = avail;
    memcpy(buf, rb->data + (off - rb->start), n);
    return (ssize_t)n;
}

/* read_record - the record at *pos; 1 ok, 0 clean EOF, -1 error */
static int read_record(int fd, struct rbuf *rb, off_t *pos, int *type, struct str *payload,
                       struct str *err)
{
    unsigned char hdr[QFILE_HDR];
    ssize_t n = rb_read(fd, rb, hdr, QFILE_HDR, *pos);
    uint32_t len;

    if (n == 0)
        return 0;
    if (n != QFILE_HDR) {
        str_printf(err, "truncated record header at offset %lld", (long long)*pos);
        return -1;
    }
    len = get_be32(hdr + 1);
    if (len > QFILE_RECORD_MAX) {
        str_printf(err, "record of %u bytes at offset %lld exceeds the limit", len,
                   (long long)*pos);
        return -1;
    }
    str_reset(payload);
    str_reserve(payload, len);
    n = len ? rb_read(fd, rb, payload->s, len, *pos + QFILE_HDR) : 0;
    if (n != (ssize_t)len) {
        str_printf(err, "truncated record at offset %lld", (long long)*pos);
        return -1;
    }
    payload->len = len;
    payload->s[len] = '\0';
    *type = hdr[0];
    *pos += QFILE_HDR + (off_t)len;
    return 1;
}

/* parse_rcpt - split a recipient payload */
static int parse_rcpt(const struct str *p, struct qfile_rcpt *r)
{
    const char *f[4];
    const char *s = p->s, *end = p->s + p->len;
    int n = 0;

    f[n++] = s;
    for (const char *q = s; q < end && n < 4; q++)
        if (*q == '\0')
            f[n++] = q + 1;
    if (n != 4 || memchr(f[3], 0, (size_t)(end - f[3])))
        return -1;
    char *e;
    long notify = strtol(f[2], &e, 10);
    if (*e != '\0' || notify < 0 || notify > 15)
        return -1;
    r->addr = xstrdup(f[0]);
    r->orcpt = xstrdup(f[1]);
    r->notify = (int)notify;
    r->dsn_orig = xstrndup(f[3], (size_t)(end - f[3]));
    return 0;
}

int qfile_read_envelope(int fd, struct qfile_env *env, size_t max_rcpts, struct str *err)
{
    struct str p = STR_INIT;
    struct rbuf rb;
    off_t pos = 0, at;
    int type, r, seen_version = 0, seen_sender = 0, seen_time = 0, rc = -1;

    memset(env, 0, sizeof(*env));
    rb.start = 0;
    rb.len = 0;
    env->size_offset = -1;
    for (;;) {
        at = pos;
        r = read_record(fd, &rb, &pos, &type, &p, err);
        if (r == 0) {
            str_cat(err, "missing end of envelope");
            goto out;
        }
        if (r < 0)
            goto out;
        if (!seen_version && type != QREC_VERSION) {
            str_cat(err, "not a queue file (no version record)");
            goto out;
        }
        switch (type) {
        case QREC_VERSION:
            if (seen_version || strcmp(p.s, QFILE_MAGIC) != 0 || p.len != strlen(QFILE_MAGIC)) {
                str_cat(err, "unsupported queue file version");
                goto out;
            }
            seen_version = 1;
            break;
        case QREC_SIZE: {
            unsigned long long size;
            unsigned flags;
            char extra;
            if (env->size_offset >= 0 || p.len != 20 ||
                sscanf(p.s, "%15llu %4x%c", &size, &flags, &extra) != 2) {
                str_cat(err, "bad size record");
                goto out;
            }
            env->size_offset = at;
            env->content_size = size;
            env->flags = (int)flags;
            break;
        }
        case QREC_TIME: {
            long long sec;
            long usec;
            char extra;
            if (seen_time || sscanf(p.s, "%lld.%6ld%c", &sec, &usec, &extra) != 2 || sec < 0) {
                str_cat(err, "bad arrival time record");
                goto out;
            }
            env->arrival_sec = sec;
            env->arrival_usec = usec;
            seen_time = 1;
            break;
        }
        case QREC_SENDER:
            if (seen_sender || memchr(p.s, '\0', p.len)) {
                str_cat(err, "bad sender record");
                goto out;
            }
            env->sender = xstrdup(p.s);
            seen_sender = 1;
            break;
        case QREC_ATTR: {
            char *eq = memchr(p.s, '=', p.len);
            if (eq == NULL || eq == p.s || memchr(p.s, '\0', p.len)) {
                str_cat(err, "bad attribute record");
                goto out;
            }
            env->attrs = xreallocarray(env->attrs, env->nattrs + 1, sizeof(*env->attrs));
            env->attrs[env->nattrs].name = xstrndup(p.s, (size_t)(eq - p.s));
            env->attrs[env->nattrs].value = xstrdup(eq + 1);
            env->nattrs++;
            break;
        }
        case QREC_RCPT:
        case QREC_RCPT_DONE: {
            struct qfile_rcpt rc1;
            memset(&rc1, 0, sizeof(rc1));
            if (env->nrcpts >= max_rcpts) {
                str_printf(err, "more than %zu recipients", max_rcpts);
                goto out;
            }
            if (parse_rcpt(&p, &rc1) < 0 || rc1.addr[0] == '\0') {
                free(rc1.addr);
                free(rc1.orcpt);
                free(rc1.dsn_orig);
                str_cat(err, "bad recipient record");
                goto out;
            }
            rc1.offset = at;
            rc1.done = type == QREC_RCPT_DONE;
            env->rcpts = xreallocarray(env->rcpts, env->nrcpts + 1, sizeof(*env->rcpts));
            env->rcpts[env->nrcpts++] = rc1;
            break;
        }
        case QREC_MESSAGE:
            if (p.len != 0 || !seen_sender || !seen_time || env->size_offset < 0) {
                str_cat(err, "envelope incomplete");
                goto out;
            }
            env->content_offset = pos;
            rc = 0;
            goto out;
        default:
            str_printf(err, "unexpected record type 0x%02x in the envelope", type);
            goto out;
        }
    }
out:
    str_free(&p);
    if (rc < 0)
        qfile_env_free(env);
    return rc;
}

void qfile_env_free(struct qfile_env *env)
{
    free(env->sender);
    for (size_t i = 0; i < env->nattrs; i++) {
        free(env->attrs[i].name);
        free(env->attrs[i].value);
    }
    free(env->attrs);
    for (size_t i = 0; i < env->nrcpts; i++) {
        free(env->rcpts[i].addr);
        free(env->rcpts[i].orcpt);
        free(env->rcpts[i].dsn_orig);
    }
    free(env->rcpts);
    memset(env, 0, sizeof(*env));
}

const char *qfile_env_attr(const struct qfile_env *env, const char *name)
{
    for (size_t i = 0; i < env->nattrs; i++)
        if (strcmp(env->attrs[i].name, name) == 0)
            return env->attrs[i].value;
    return NULL;
}

void qfile_content_init(struct qfile_content *c, int fd, const struct qfile_env *env)
{
    c->fd = fd;
    c->pos = env->content_offset;
    c->done = 0;
    c->total = 0;
}

int qfile_content_next(struct qfile_content *c, struct str *out, struct str *err)
{
    int type, r;

    if (c->done)
        return 0;
    r = read_record(c->fd, NULL, &c->pos, &type, out, err);
    if (r == 0) {
        str_cat(err, "missing end record");
        return -1;
    }
    if (r < 0)
        return -1;
    if (type == QREC_END) {
        if (out->len != 0) {
            str_cat(err, "bad end record");
            return -1;
        }
        c->done = 1;
        str_reset(out);
        return 0;
    }
    if (type != QREC_DATA) {
        str_printf(err, "unexpected record type 0x%02x in the content", type);
        return -1;
    }
    c->total += out->len;
    return 1;
}

int qfile_copy_content(struct qfile_writer *w, int fd, const struct qfile_env *env,
                       struct str *err)
{
    struct qfile_content c;
    struct str chunk = STR_INIT;
    int r;

    qfile_content_init(&c, fd, env);
    while ((r = qfile_content_next(&c, &chunk, err)) > 0)
        if (qfile_write(w, chunk.s, chunk.len) < 0) {
            str_cat(err, qfile_error(w));
            r = -1;
            break;
        }
    str_free(&chunk);
    return r < 0 ? -1 : 0;
}

int qfile_mark_done(int fd, off_t offset)
{
    char t = QREC_RCPT_DONE;
    return pwrite(fd, &t, 1, offset) == 1 ? 0 : -1;
}

int qfile_set_flags(int fd, const struct qfile_env *env, int flags)
{
    char z[32];

    snprintf(z, sizeof(z), "%015llu %04x", (unsigned long long)env->content_size,
             (unsigned)flags & 0xffff);
    return pwrite(fd, z, 20, env->size_offset + QFILE_HDR) == 20 ? 0 : -1;
}

int qfile_is_complete(int fd)
{
    struct stat st;
    unsigned char tail[QFILE_HDR];

    if (fstat(fd, &st) < 0 || (st.st_mode & 0777) != 0700 || st.st_size < QFILE_HDR)
        return 0;
    if (pread(fd, tail, QFILE_HDR, st.st_size - QFILE_HDR) != QFILE_HDR)
        return 0;
    return tail[0] == QREC_END && get_be32(tail + 1) == 0;
}
