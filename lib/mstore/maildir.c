/*
 * maildir.c - the one Maildir writer: unique names, ,S=/,W= sizes, the durable tmp -> new move
 *
 * See maildir.h for the name format and who calls what. The bottom of the
 * mail store: it knows files and names, nothing of indexes or views, and
 * is also linked into local delivery. The W= count here is the same rule
 * as the mail store's count of a file without W= (mstore_box.c) and as the
 * CRLF reader that POP3 RETR and IMAP BODY[] send through: a LF without a
 * CR before it is two octets.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "fileio.h"
#include "mem.h"
#include "mime.h"
#include "mstore.h"

#include "maildir.h"

#define WBUF 65536
#define CREATE_TRIES 8 /* O_EXCL collisions are not expected; a few new names then give up */

struct maildir_file {
    char *dir; /* the Maildir, without a final '/' */
    struct str base;
    struct str tmp;
    int fd;
    int flags;
    int pending_cr; /* MAILDIR_CRLF: a CR held until the next byte shows whether LF follows */
    int last;       /* the last byte stored, '\0' before the first */
    int err;        /* errno of the first failure */
    uint64_t size, vsize;
    size_t wlen;
    char *wbuf;
    const char *fail_what;
    struct str fail_path;
};

/* host_part - the system's host name with '/' and ':' escaped, once per process */
static const char *host_part(void)
{
    static char host[1100];
    char h[256];
    size_t k = 0;

    if (host[0])
        return host;
    if (gethostname(h, sizeof(h)) < 0 || h[0] == '\0')
        strcpy(h, "localhost");
    h[sizeof(h) - 1] = '\0';
    for (const char *p = h; *p && k + 5 < sizeof(host); p++) {
        if (*p == '/')
            k += (size_t)snprintf(host + k, sizeof(host) - k, "\\057");
        else if (*p == ':')
            k += (size_t)snprintf(host + k, sizeof(host) - k, "\\072");
        else
            host[k++] = *p;
    }
    host[k] = '\0';
    return host;
}

void maildir_unique(struct str *out)
{
    static unsigned counter;
    struct timeval tv;

    gettimeofday(&tv, NULL);
    str_reset(out);
    str_printf(out, "%lld.M%06ldP%ldQ%u.%s", (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(),
               ++counter, host_part());
}

void maildir_keyed(struct str *out, long long sec, long usec, const char *key)
{
    str_reset(out);
    str_printf(out, "%lld.M%06ld%s.%s", sec, usec, key, host_part());
}

void maildir_sized(struct str *out, const char *base, int64_t size, int64_t vsize)
{
    str_cpy(out, base);
    if (size >= 0)
        str_printf(out, ",S=%lld", (long long)size);
    if (vsize >= 0)
        str_printf(out, ",W=%lld", (long long)vsize);
}

size_t maildir_base_len(const char *fname)
{
    const char *c = strchr(fname, ':');
    return c ? (size_t)(c - fname) : strlen(fname);
}

int64_t maildir_name_vsize(const char *fname)
{
    size_t bl = maildir_base_len(fname);
    const char *p = fname;

    while ((p = strstr(p, ",W=")) != NULL && (size_t)(p - fname) < bl) {
        char *end;
        unsigned long long v;
        p += 3;
        errno = 0;
        v = strtoull(p, &end, 10);
        if (end != p && errno == 0 && (*end == ',' || *end == ':' || *end == '\0') &&
            v < (1ULL << 50))
            return (int64_t)v;
    }
    return -1;
}

unsigned maildir_info_flags(const char *fname)
{
    const char *c = strchr(fname, ':');
    unsigned f = 0;

    if (c == NULL || strncmp(c, ":2,", 3) != 0)
        return 0;
    for (c += 3; *c; c++) {
        switch (*c) {
        case 'D':
            f |= MSTORE_F_DRAFT;
            break;
        case 'F':
            f |= MSTORE_F_FLAGGED;
            break;
        case 'R':
            f |= MSTORE_F_ANSWERED;
            break;
        case 'S':
            f |= MSTORE_F_SEEN;
            break;
        case 'T':
            f |= MSTORE_F_DELETED;
            break;
        default:
            break;
        }
    }
    return f;
}

void maildir_set_flags(const char *old, unsigned flags, struct str *out)
{
    const char *c = strchr(old, ':');
    char have[128] = {0};

    str_reset(out);
    str_catn(out, old, c ? (size_t)(c - old) : strlen(old));
    str_cat(out, ":2,");
    if (c && strncmp(c, ":2,", 3) == 0)
        for (c += 3; *c; c++)
            if ((unsigned char)*c > 32 && (unsigned char)*c < 127 && !strchr("DFRST,", *c))
                have[(unsigned char)*c] = 1;
    have['D'] = (flags & MSTORE_F_DRAFT) != 0;
    have['F'] = (flags & MSTORE_F_FLAGGED) != 0;
    have['R'] = (flags & MSTORE_F_ANSWERED) != 0;
    have['S'] = (flags & MSTORE_F_SEEN) != 0;
    have['T'] = (flags & MSTORE_F_DELETED) != 0;
    for (int i = 33; i < 127; i++)
        if (have[i])
            str_catc(out, i);
}

uint64_t maildir_vsize(const void *p, size_t n, int prev)
{
    const char *s = p;

    if (n == 0)
        return 0;
    return mime_vsize(s, n) - (s[0] == '\n' && prev == '\r');
}

/* ---- writing ------------------------------------------------------------------------- */

int maildir_create(const char *dir, int flags, struct maildir_file **out)
{
    struct maildir_file *f = xcalloc(1, sizeof(*f));
    size_t dl = strlen(dir);
    int e = 0;

    *out = NULL;
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    f->dir = xstrndup(dir, dl);
    f->flags = flags;
    f->fd = -1;
    for (int i = 0; i < CREATE_TRIES && f->fd < 0; i++) {
        maildir_unique(&f->base);
        str_reset(&f->tmp);
        str_printf(&f->tmp, "%s/tmp/%s", f->dir, str_c(&f->base));
        f->fd = open(str_c(&f->tmp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        e = errno;
        if (f->fd < 0 && e != EEXIST)
            break;
    }
    if (f->fd < 0) {
        str_reset(&f->tmp); /* not ours: nothing to remove */
        maildir_free(f);
        errno = e;
        return -1;
    }
    f->wbuf = xmalloc(WBUF);
    *out = f;
    return 0;
}

/* write_all - write n bytes to the file unless an error is already kept */
static void write_all(struct maildir_file *f, const char *p, size_t n)
{
    size_t off = 0;

    while (f->err == 0 && off < n) {
        ssize_t w = write(f->fd, p + off, n - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            f->err = errno ? errno : EIO;
            break;
        }
        off += (size_t)w;
    }
}

/* flush - write the buffer out */
static void flush(struct maildir_file *f)
{
    write_all(f, f->wbuf, f->wlen);
    f->wlen = 0;
}

/* store - buffer n bytes as they go to disk, counting S= and W= */
static void store(struct maildir_file *f, const char *p, size_t n)
{
    if (n == 0)
        return;
    f->size += n;
    f->vsize += maildir_vsize(p, n, f->last);
    f->last = (unsigned char)p[n - 1];
    if (f->wlen == 0 && n >= WBUF) { /* a caller that buffers itself: no second copy */
        write_all(f, p, n);
        return;
    }
    while (n > 0) {
        size_t k = WBUF - f->wlen < n ? WBUF - f->wlen : n;
        memcpy(f->wbuf + f->wlen, p, k);
        f->wlen += k;
        p += k;
        n -= k;
        if (f->wlen == WBUF)
            flush(f);
    }
}

/* store_crlf - MAILDIR_CRLF: CRLF becomes LF; a CR without LF after it stays */
static void store_crlf(struct maildir_file *f, const char *p, size_t n)
{
    const char *e = p + n;

    while (p < e) {
        const char *cr;
        if (f->pending_cr) {
            f->pending_cr = 0;
            if (*p != '\n')
                store(f, "\r", 1);
        }
        cr = memchr(p, '\r', (size_t)(e - p));
        if (cr == NULL) {
            store(f, p, (size_t)(e - p));
            break;
        }
        store(f, p, (size_t)(cr - p));
        f->pending_cr = 1;
        p = cr + 1;
    }
}

int maildir_write(struct maildir_file *f, const void *p, size_t n)
{
    if (f->flags & MAILDIR_CRLF)
        store_crlf(f, p, n);
    else
        store(f, p, n);
    if (f->err) {
        errno = f->err;
        return -1;
    }
    return 0;
}

int maildir_finish(struct maildir_file *f)
{
    if (f->pending_cr) {
        f->pending_cr = 0;
        store(f, "\r", 1);
    }
    flush(f);
    if (f->err == 0 && fsync(f->fd) < 0)
        f->err = errno;
    if (close(f->fd) < 0 && f->err == 0)
        f->err = errno;
    f->fd = -1;
    if (f->err) {
        errno = f->err;
        return -1;
    }
    return 0;
}

const char *maildir_tmp_path(const struct maildir_file *f)
{
    return str_c(&f->tmp);
}

const char *maildir_base(const struct maildir_file *f)
{
    return str_c(&f->base);
}

uint64_t maildir_size(const struct maildir_file *f)
{
    return f->size;
}

uint64_t maildir_crlf_size(const struct maildir_file *f)
{
    return f->vsize;
}

void maildir_name(const struct maildir_file *f, const char *base, struct str *out)
{
    maildir_sized(out, base ? base : str_c(&f->base), (int64_t)f->size, (int64_t)f->vsize);
}

/* failed - note the step that failed, keeping errno */
static int failed(struct maildir_file *f, const char *what, const char *path)
{
    int e = errno;

    f->fail_what = what;
    str_cpy(&f->fail_path, path);
    errno = e;
    return -1;
}

int maildir_deliver(struct maildir_file *f, const char *base)
{
    struct str name = STR_INIT, to = STR_INIT, dir = STR_INIT;
    int before = 0, r, e;

    maildir_name(f, base, &name);
    str_printf(&to, "%s/new/%s", f->dir, str_c(&name));
    str_printf(&dir, "%s/new", f->dir);
    if (link(str_c(&f->tmp), str_c(&to)) < 0) {
        if (errno == EEXIST) {
            before = 1; /* an earlier attempt of this delivery linked it */
        } else if (rename(str_c(&f->tmp), str_c(&to)) < 0) {
            r = failed(f, "link maildir file to", str_c(&to));
            goto out;
        }
    }
    unlink(str_c(&f->tmp));
    str_reset(&f->tmp);
    if (maildir_sync_dir(str_c(&dir), NULL) < 0) {
        r = failed(f, "fsync", str_c(&dir));
        if (!before) {
            e = errno;
            unlink(str_c(&to));
            errno = e;
        }
        goto out;
    }
    r = before;
out:
    e = errno;
    str_free(&name);
    str_free(&to);
    str_free(&dir);
    errno = e;
    return r;
}

const char *maildir_failed(const struct maildir_file *f, const char **path)
{
    *path = str_c(&f->fail_path);
    return f->fail_what ? f->fail_what : "write maildir file";
}

void maildir_keep(struct maildir_file *f)
{
    str_reset(&f->tmp);
}

void maildir_free(struct maildir_file *f)
{
    if (f == NULL)
        return;
    if (f->fd >= 0)
        close(f->fd);
    if (f->tmp.len)
        unlink(str_c(&f->tmp));
    str_free(&f->tmp);
    str_free(&f->base);
    str_free(&f->fail_path);
    free(f->wbuf);
    free(f->dir);
    free(f);
}

/* ---- moves -------------------------------------------------------------------------------- */

int maildir_move(const char *tmp, const char *dir, const char *name)
{
    char *to = xasprintf("%s/cur/%s", dir, name);
    int r = rename(tmp, to);
    int e = errno;

    free(to);
    errno = e;
    return r;
}

int maildir_sync_dir(const char *dir, const char *sub)
{
    char *p = sub ? xasprintf("%s/%s", dir, sub) : xstrdup(dir);
    int r = fileio_fsync_dir(p), e;

    e = errno;
    free(p);
    errno = e;
    return r;
}
