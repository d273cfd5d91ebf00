/*
 * maildrop.c - the format of locally submitted mail in maildrop/
 *
 * Writers (sendmail, petrel-drop) append records to a buffer; readers
 * (petrel-drop on its input pipe, pickup on a maildrop file, petrel-cat)
 * go through the records once, front to back, with read(2), so that the
 * same code serves a pipe and a file. The reader never trusts a length
 * before checking it against the limit of the record's type.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maildrop.h"
#include "mem.h"

static const char *const allowed_attrs[] = {MAILDROP_ATTRS, NULL};

void maildrop_put(struct str *out, int type, const void *data, size_t len)
{
    unsigned char hdr[QFILE_HDR];

    hdr[0] = (unsigned char)type;
    hdr[1] = (unsigned char)(len >> 24);
    hdr[2] = (unsigned char)(len >> 16);
    hdr[3] = (unsigned char)(len >> 8);
    hdr[4] = (unsigned char)len;
    str_catn(out, hdr, sizeof(hdr));
    if (len)
        str_catn(out, data, len);
}

void maildrop_put_rcpt(struct str *out, const char *addr, const char *orcpt, int notify)
{
    struct str p = STR_INIT;
    char num[16];

    str_cat(&p, addr);
    str_catc(&p, '\0');
    str_cat(&p, orcpt ? orcpt : "");
    str_catc(&p, '\0');
    snprintf(num, sizeof(num), "%d", notify);
    str_cat(&p, num);
    maildrop_put(out, QREC_RCPT, p.s, p.len);
    str_free(&p);
}

void maildrop_reader_init(struct maildrop_reader *r, int fd, const struct maildrop_limits *lim)
{
    memset(r, 0, sizeof(*r));
    r->fd = fd;
    r->lim = *lim;
}

/* fill - read more input into the buffer; bytes added, 0 at EOF, -1 on error */
static ssize_t fill(struct maildrop_reader *r)
{
    ssize_t n;

    if (r->start == r->end)
        r->start = r->end = 0;
    if (r->end == sizeof(r->buf)) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    do
        n = read(r->fd, r->buf + r->end, sizeof(r->buf) - r->end);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        r->end += (size_t)n;
    return n;
}

/* take - n bytes into dst (NULL: append to out); bytes taken (short at EOF), -1 on error */
static ssize_t take(struct maildrop_reader *r, void *dst, struct str *out, size_t n)
{
    size_t got = 0;

    while (got < n) {
        if (r->start == r->end) {
            ssize_t f = fill(r);
            if (f < 0)
                return -1;
            if (f == 0)
                break;
        }
        size_t k = r->end - r->start;
        if (k > n - got)
            k = n - got;
        if (dst)
            memcpy((char *)dst + got, r->buf + r->start, k);
        else
            str_catn(out, r->buf + r->start, k);
        r->start += k;
        got += k;
    }
    r->offset += got;
    return (ssize_t)got;
}

/* read_record - the next record; 1 ok, 0 clean end of input, -1 error (err set) */
static int read_record(struct maildrop_reader *r, int *type, struct str *payload, size_t max,
                       struct str *err)
{
    unsigned char hdr[QFILE_HDR];
    uint64_t at = r->offset;
    ssize_t n = take(r, hdr, NULL, sizeof(hdr));
    uint32_t len;

    if (n < 0) {
        str_printf(err, "read error: %s", strerror(errno));
        return -1;
    }
    if (n == 0)
        return 0;
    if (n != QFILE_HDR) {
        str_printf(err, "truncated record header at offset %llu", (unsigned long long)at);
        return -1;
    }
    len = ((uint32_t)hdr[1] << 24) | ((uint32_t)hdr[2] << 16) | ((uint32_t)hdr[3] << 8) | hdr[4];
    if (len > max) {
        str_printf(err, "record type 0x%02x of %u bytes at offset %llu exceeds the limit of %zu",
                   hdr[0], len, (unsigned long long)at, max);
        return -1;
    }
    str_reset(payload);
    if (len) {
        str_reserve(payload, len);
        n = take(r, NULL, payload, len);
        if (n < 0) {
            str_printf(err, "read error: %s", strerror(errno));
            return -1;
        }
        if (n != (ssize_t)len) {
            str_printf(err, "truncated record at offset %llu", (unsigned long long)at);
            return -1;
        }
    }
    *type = hdr[0];
    return 1;
}

int maildrop_printable(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;

    while (p < end) {
        unsigned c = *p;
        size_t k;
        unsigned cp;
        if (c < 0x20 || c == 0x7f)
            return 0;
        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            k = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            k = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            k = 3, cp = c & 0x07;
        else
            return 0;
        if ((size_t)(end - p) <= k)
            return 0;
        for (size_t i = 1; i <= k; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        p += k + 1;
    }
    return 1;
}

/* parse_rcpt - "address NUL orcpt NUL notify" */
static int parse_rcpt(const struct str *p, struct maildrop_rcpt *rc)
{
    const char *a = p->s, *end = p->s + p->len;
    const char *o = memchr(a, '\0', p->len);
    const char *nf;
    char *e;
    long notify;

    if (o == NULL || ++o > end || (nf = memchr(o, '\0', (size_t)(end - o))) == NULL)
        return -1;
    nf++;
    if (nf >= end || memchr(nf, '\0', (size_t)(end - nf)) != NULL)
        return -1;
    if (o - a - 1 == 0 || !maildrop_printable(a, (size_t)(o - a - 1)) ||
        !maildrop_printable(o, (size_t)(nf - o - 1)))
        return -1;
    errno = 0;
    notify = strtol(nf, &e, 10);
    if (*e != '\0' || e == nf || notify < 0 || notify > 15 ||
        ((notify & QNOTIFY_NEVER) && notify != QNOTIFY_NEVER))
        return -1;
    rc->addr = xstrdup(a);
    rc->orcpt = xstrdup(o);
    rc->notify = (int)notify;
    return 0;
}

/* parse_attr - a whitelisted "name=value" */
static int parse_attr(struct maildrop_env *env, const struct str *p, struct str *err)
{
    const char *eq = memchr(p->s, '=', p->len);
    size_t i;

    if (eq == NULL || !maildrop_printable(p->s, p->len)) {
        str_cat(err, "malformed attribute record");
        return -1;
    }
    for (i = 0; allowed_attrs[i]; i++)
        if (strlen(allowed_attrs[i]) == (size_t)(eq - p->s) &&
            memcmp(allowed_attrs[i], p->s, (size_t)(eq - p->s)) == 0)
            break;
    if (allowed_attrs[i] == NULL || maildrop_env_attr(env, allowed_attrs[i])) {
        str_printf(err, "attribute '%.*s' not allowed", (int)(eq - p->s > 64 ? 64 : eq - p->s),
                   p->s);
        return -1;
    }
    env->attrs = xreallocarray(env->attrs, env->nattrs + 1, sizeof(*env->attrs));
    env->attrs[env->nattrs].name = xstrdup(allowed_attrs[i]);
    env->attrs[env->nattrs].value = xstrdup(eq + 1);
    env->nattrs++;
    return 0;
}

/* parse_time - "<sec>.<usec>" */
static int parse_time(struct maildrop_env *env, const struct str *p)
{
    long long sec;
    long usec;
    char extra;

    if (sscanf(p->s, "%lld.%6ld%c", &sec, &usec, &extra) != 2 || sec < 0 || usec < 0)
        return -1;
    env->sec = sec;
    env->usec = usec;
    return 0;
}

int maildrop_read_envelope(struct maildrop_reader *r, struct maildrop_env *env, struct str *err)
{
    struct str p = STR_INIT;
    int type, rc = -1, seen_time = 0, n;

    memset(env, 0, sizeof(*env));
    for (int first = 1;; first = 0) {
        n = read_record(r, &type, &p, MAILDROP_ENV_RECORD_MAX, err);
        if (n == 0)
            str_cat(err, first ? "empty file" : "missing end of envelope");
        if (n <= 0)
            goto out;
        if (first && (type != QREC_VERSION || p.len != strlen(MAILDROP_MAGIC) ||
                      memcmp(p.s, MAILDROP_MAGIC, p.len) != 0)) {
            str_cat(err, "not a maildrop file (bad version record)");
            goto out;
        }
        switch (type) {
        case QREC_VERSION:
            if (!first)
                goto unexpected;
            break;
        case QREC_TIME:
            if (seen_time++ || parse_time(env, &p) < 0) {
                str_cat(err, "malformed time record");
                goto out;
            }
            break;
        case QREC_SENDER:
            if (env->sender || !maildrop_printable(p.s, p.len)) {
                str_cat(err, "malformed or repeated sender record");
                goto out;
            }
            env->sender = xstrdup(p.s);
            break;
        case QREC_ATTR:
            if (env->nattrs >= MAILDROP_ATTR_MAX) {
                str_cat(err, "too many attribute records");
                goto out;
            }
            if (parse_attr(env, &p, err) < 0)
                goto out;
            break;
        case QREC_RCPT: {
            struct maildrop_rcpt rc1;
            if (env->nrcpts >= r->lim.rcpt_max) {
                str_printf(err, "more than %zu recipients", r->lim.rcpt_max);
                goto out;
            }
            if (parse_rcpt(&p, &rc1) < 0) {
                str_cat(err, "malformed recipient record");
                goto out;
            }
            env->rcpts = xreallocarray(env->rcpts, env->nrcpts + 1, sizeof(*env->rcpts));
            env->rcpts[env->nrcpts++] = rc1;
            break;
        }
        case QREC_MESSAGE:
            if (p.len != 0 || env->sender == NULL || env->nrcpts == 0) {
                str_cat(err, env->sender == NULL ? "no sender record" : "no recipient record");
                goto out;
            }
            r->state = 1;
            rc = 0;
            goto out;
        default:
            goto unexpected;
        }
    }
unexpected:
    str_printf(err, "unexpected record type 0x%02x in the envelope", type);
out:
    str_free(&p);
    if (rc < 0)
        maildrop_env_free(env);
    return rc;
}

int maildrop_read_content(struct maildrop_reader *r, struct str *out, struct str *err)
{
    int type, n;
    char extra;

    if (r->state != 1) {
        str_cat(err, r->state == 0 ? "content read before the envelope" : "read past the end");
        return -1;
    }
    n = read_record(r, &type, out, QFILE_RECORD_MAX, err);
    if (n == 0)
        str_cat(err, "missing end record (truncated file)");
    if (n <= 0)
        return -1;
    if (type == QREC_END) {
        if (out->len != 0) {
            str_cat(err, "malformed end record");
            return -1;
        }
        if (take(r, &extra, NULL, 1) != 0) {
            str_cat(err, "data after the end record");
            return -1;
        }
        r->state = 2;
        return 0;
    }
    if (type != QREC_DATA) {
        str_printf(err, "unexpected record type 0x%02x in the content", type);
        return -1;
    }
    r->content += out->len;
    if (r->content > r->lim.content_max) {
        str_printf(err, "content exceeds %llu bytes", (unsigned long long)r->lim.content_max);
        return -1;
    }
    return 1;
}

void maildrop_env_free(struct maildrop_env *env)
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
    }
    free(env->rcpts);
    memset(env, 0, sizeof(*env));
}

const char *maildrop_env_attr(const struct maildrop_env *env, const char *name)
{
    for (size_t i = 0; i < env->nattrs; i++)
        if (strcmp(env->attrs[i].name, name) == 0)
            return env->attrs[i].value;
    return NULL;
}
