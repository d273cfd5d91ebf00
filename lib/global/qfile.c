/*
 * qfile.c - queue files: IDs, the record format, writing and reading
 *
 * The writer buffers records (rec_put) and writes them in large blocks;
 * only commit forces them to disk (one fsync per message). The reader is
 * strict: it takes records through the one record reader (lib/global/rec.h),
 * which accepts each record type only in its segment and bounds every
 * length, checks the order of the records here, and reports the first
 * problem as the reason the file is corrupt.
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
#include "rec.h"

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
    qfile_put(w, QREC_SIZE, "000000000000000 0000", REC_SIZE_LEN);
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
    if (w->error.len)
        return -1;
    if (len > REC_MAX) {
        str_printf(&w->error, "record too large (%zu bytes)", len);
        return -1;
    }
    rec_put(&w->out, type, data, len);
    if (w->out.len >= WBUF_MAX)
        return flush_out(w);
    return 0;
}

/* put_payload - a record whose payload was encoded into p (freed) */
static int put_payload(struct qfile_writer *w, int type, struct str *p)
{
    int r = qfile_put(w, type, p->s, p->len);

    str_free(p);
    return r;
}

int qfile_put_time(struct qfile_writer *w, long long sec, long usec)
{
    struct str p = STR_INIT;

    rec_time_encode(&p, sec, usec);
    return put_payload(w, QREC_TIME, &p);
}

int qfile_put_sender(struct qfile_writer *w, const char *sender)
{
    return qfile_put(w, QREC_SENDER, sender, strlen(sender));
}

int qfile_put_attr(struct qfile_writer *w, const char *name, const char *value)
{
    struct str p = STR_INIT;

    rec_attr_encode(&p, name, value);
    return put_payload(w, QREC_ATTR, &p);
}

int qfile_put_rcpt(struct qfile_writer *w, const char *addr, const char *orcpt, int notify,
                   const char *dsn_orig)
{
    struct rec_rcpt rc = {addr, orcpt, notify, dsn_orig};
    struct str p = STR_INIT;

    rec_rcpt_encode(&p, &rc, REC_RCPT_QUEUE);
    return put_payload(w, QREC_RCPT, &p);
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
    if (w->error.len == 0 &&
        pwrite(w->fd, z, REC_SIZE_LEN, w->size_offset + REC_HDR) != REC_SIZE_LEN)
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

/* the envelope reader's state: which once-only records were seen */
struct env_state {
    int version, sender, time;
    size_t max_rcpts;
};

/* add_rcpt - a recipient record at offset at (type R or r) */
static int add_rcpt(struct qfile_env *env, const struct env_state *st, int type,
                    const struct str *p, off_t at, struct str *err)
{
    struct rec_rcpt f;
    struct qfile_rcpt *rc;

    if (env->nrcpts >= st->max_rcpts) {
        str_printf(err, "more than %zu recipients", st->max_rcpts);
        return -1;
    }
    if (rec_rcpt_decode(p, REC_RCPT_QUEUE, &f) < 0) {
        str_cat(err, "bad recipient record");
        return -1;
    }
    env->rcpts = xgrow(env->rcpts, env->nrcpts, sizeof(*env->rcpts));
    rc = &env->rcpts[env->nrcpts++];
    rc->addr = xstrdup(f.addr);
    rc->orcpt = xstrdup(f.orcpt);
    rc->notify = f.notify;
    rc->dsn_orig = xstrdup(f.dsn_orig);
    rc->offset = at;
    rc->done = type == QREC_RCPT_DONE;
    return 0;
}

/* envelope_record - one record of the envelope at offset at: 0 more follow, 1 it ended
 * the envelope, -1 corrupt (err) */
static int envelope_record(struct qfile_env *env, struct env_state *st, int type,
                           const struct str *p, off_t at, struct str *err)
{
    switch (type) {
    case QREC_VERSION:
        if (st->version || p->len != strlen(QFILE_MAGIC) || memcmp(p->s, QFILE_MAGIC, p->len)) {
            str_cat(err, "unsupported queue file version");
            return -1;
        }
        st->version = 1;
        return 0;
    case QREC_SIZE: {
        unsigned long long size;
        unsigned flags;
        char extra;
        if (env->size_offset >= 0 || p->len != REC_SIZE_LEN ||
            sscanf(p->s, "%15llu %4x%c", &size, &flags, &extra) != 2) {
            str_cat(err, "bad size record");
            return -1;
        }
        env->size_offset = at;
        env->content_size = size;
        env->flags = (int)flags;
        return 0;
    }
    case QREC_TIME:
        if (st->time || rec_time_decode(p, &env->arrival_sec, &env->arrival_usec) < 0) {
            str_cat(err, "bad arrival time record");
            return -1;
        }
        st->time = 1;
        return 0;
    case QREC_SENDER:
        if (st->sender || memchr(p->s, '\0', p->len)) {
            str_cat(err, "bad sender record");
            return -1;
        }
        env->sender = xstrdup(p->s);
        st->sender = 1;
        return 0;
    case QREC_ATTR: {
        long n = rec_attr_decode(p);
        if (n < 0) {
            str_cat(err, "bad attribute record");
            return -1;
        }
        rec_attr_add(&env->attrs, &env->nattrs, p->s, (size_t)n, p->s + n + 1);
        return 0;
    }
    case QREC_RCPT:
    case QREC_RCPT_DONE:
        return add_rcpt(env, st, type, p, at, err);
    case QREC_MESSAGE:
        if (!st->sender || !st->time || env->size_offset < 0) {
            str_cat(err, "envelope incomplete");
            return -1;
        }
        return 1;
    default: /* not in rec_queue_envelope */
        log_panic("queue file envelope record type 0x%02x", type);
    }
}

int qfile_read_envelope(int fd, struct qfile_env *env, size_t max_rcpts, struct str *err)
{
    struct env_state st = {0, 0, 0, max_rcpts};
    struct str p = STR_INIT;
    struct rec_reader rd;
    int type, r, rc = -1;

    memset(env, 0, sizeof(*env));
    env->size_offset = -1;
    rec_reader_init(&rd, fd, 1, 0);
    for (;;) {
        off_t at = rd.offset;
        size_t mark = err->len;
        r = rec_read(&rd, &rec_queue_envelope, &type, &p, err);
        if (r == REC_EOF) {
            str_cat(err, "missing end of envelope");
            break;
        }
        if (!st.version && (r == REC_UNEXPECTED || (r == REC_OK && type != QREC_VERSION))) {
            str_truncate(err, mark);
            str_cat(err, "not a queue file (no version record)");
            break;
        }
        if (r != REC_OK || (r = envelope_record(env, &st, type, &p, at, err)) < 0)
            break;
        if (r == 1) {
            env->content_offset = rd.offset;
            rc = 0;
            break;
        }
    }
    str_free(&p);
    if (rc < 0)
        qfile_env_free(env);
    return rc;
}

void qfile_env_free(struct qfile_env *env)
{
    free(env->sender);
    rec_attrs_free(env->attrs, env->nattrs);
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
    return rec_attr_find(env->attrs, env->nattrs, name);
}

void qfile_content_init(struct qfile_content *c, int fd, const struct qfile_env *env)
{
    rec_reader_init(&c->rd, fd, 1, env->content_offset);
    c->done = 0;
    c->total = 0;
}

int qfile_content_next(struct qfile_content *c, struct str *out, struct str *err)
{
    int type, r;

    if (c->done)
        return 0;
    r = rec_read(&c->rd, &rec_content, &type, out, err);
    if (r == REC_EOF) {
        str_cat(err, "missing end record");
        return -1;
    }
    if (r != REC_OK)
        return -1;
    if (type == QREC_END) {
        if ((r = rec_at_end(&c->rd, err)) <= 0) {
            if (r == 0)
                str_cat(err, "data after the end record");
            return -1;
        }
        c->done = 1;
        str_reset(out);
        return 0;
    }
    c->total += out->len;
    return 1;
}

int qfile_copy_content(struct qfile_writer *w, int fd, const struct qfile_env *env, struct str *err)
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
    return pwrite(fd, z, REC_SIZE_LEN, env->size_offset + REC_HDR) == REC_SIZE_LEN ? 0 : -1;
}

int qfile_is_complete(int fd)
{
    struct stat st;
    unsigned char tail[REC_HDR];

    if (fstat(fd, &st) < 0 || (st.st_mode & 0777) != 0700 || st.st_size < REC_HDR)
        return 0;
    if (pread(fd, tail, REC_HDR, st.st_size - REC_HDR) != REC_HDR)
        return 0;
    return tail[0] == QREC_END && rec_length(tail) == 0;
}
