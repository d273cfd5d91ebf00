/*
 * maildrop.c - the format of locally submitted mail in maildrop/
 *
 * Writers (sendmail, petrel-drop) append records to a buffer; readers
 * (petrel-drop on its input pipe, pickup on a maildrop file) go through the
 * records once, front to back, with the one record reader of
 * lib/global/rec.h in its read(2) mode, so that the same code serves a pipe
 * and a file. The record reader checks each type against rec_drop_envelope
 * or rec_content and its length against that type's limit before it reads
 * the payload; this file checks the order of the records, the attribute
 * whitelist and that every envelope value is printable.
 */
#include <stdlib.h>
#include <string.h>

#include "charset.h"
#include "maildrop.h"
#include "mem.h"
#include "rec.h"

static const char *const allowed_attrs[] = {MAILDROP_ATTRS, NULL};

void maildrop_put(struct str *out, int type, const void *data, size_t len)
{
    rec_put(out, type, data, len);
}

void maildrop_put_rcpt(struct str *out, const char *addr, const char *orcpt, int notify)
{
    struct rec_rcpt rc = {addr, orcpt, notify, NULL};
    struct str p = STR_INIT;

    rec_rcpt_encode(&p, &rc, REC_RCPT_DROP);
    rec_put(out, QREC_RCPT, p.s, p.len);
    str_free(&p);
}

void maildrop_reader_init(struct maildrop_reader *r, int fd, const struct maildrop_limits *lim)
{
    memset(r, 0, sizeof(*r));
    rec_reader_init(&r->rd, fd, 0, 0);
    r->lim = *lim;
}

int maildrop_printable(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    unsigned cp;

    while (p < end) {
        size_t k = 1;
        if (*p < 0x20 || *p == 0x7f)
            return 0;
        if (*p >= 0x80 && (k = utf8_decode_one(p, (size_t)(end - p), &cp)) == 0)
            return 0;
        p += k;
    }
    return 1;
}

/* parse_rcpt - a recipient record (rec_rcpt_decode) whose address and orcpt are printable
 * and whose NOTIFY has NEVER only alone (RFC 3461 4.1, as smtpd takes it at RCPT) */
static int parse_rcpt(const struct str *p, struct maildrop_rcpt *rc)
{
    struct rec_rcpt f;

    if (rec_rcpt_decode(p, REC_RCPT_DROP, &f) < 0 || !maildrop_printable(f.addr, strlen(f.addr)) ||
        !maildrop_printable(f.orcpt, strlen(f.orcpt)) ||
        ((f.notify & QNOTIFY_NEVER) && f.notify != QNOTIFY_NEVER))
        return -1;
    rc->addr = xstrdup(f.addr);
    rc->orcpt = xstrdup(f.orcpt);
    rc->notify = f.notify;
    return 0;
}

/* parse_attr - a whitelisted "name=value" */
static int parse_attr(struct maildrop_env *env, const struct str *p, struct str *err)
{
    long n = rec_attr_decode(p);
    size_t i;

    if (n < 0 || !maildrop_printable(p->s, p->len)) {
        str_cat(err, "malformed attribute record");
        return -1;
    }
    for (i = 0; allowed_attrs[i]; i++)
        if (strlen(allowed_attrs[i]) == (size_t)n && memcmp(allowed_attrs[i], p->s, (size_t)n) == 0)
            break;
    if (allowed_attrs[i] == NULL || maildrop_env_attr(env, allowed_attrs[i])) {
        str_printf(err, "attribute '%.*s' not allowed", (int)(n > 64 ? 64 : n), p->s);
        return -1;
    }
    rec_attr_add(&env->attrs, &env->nattrs, p->s, (size_t)n, p->s + n + 1);
    return 0;
}

int maildrop_read_envelope(struct maildrop_reader *r, struct maildrop_env *env, struct str *err)
{
    struct str p = STR_INIT;
    int type, rc = -1, seen_time = 0, n;

    memset(env, 0, sizeof(*env));
    for (int first = 1;; first = 0) {
        size_t mark = err->len;
        n = rec_read(&r->rd, &rec_drop_envelope, &type, &p, err);
        if (n == REC_EOF)
            str_cat(err, first ? "empty file" : "missing end of envelope");
        if (first && (n == REC_UNEXPECTED ||
                      (n == REC_OK && (type != QREC_VERSION || p.len != strlen(MAILDROP_MAGIC) ||
                                       memcmp(p.s, MAILDROP_MAGIC, p.len) != 0)))) {
            str_truncate(err, mark);
            str_cat(err, "not a maildrop file (bad version record)");
            goto out;
        }
        if (n != REC_OK)
            goto out;
        switch (type) {
        case QREC_VERSION:
            if (!first)
                goto unexpected;
            break;
        case QREC_TIME:
            if (seen_time++ || rec_time_decode(&p, &env->sec, &env->usec) < 0) {
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
            env->rcpts = xgrow(env->rcpts, env->nrcpts, sizeof(*env->rcpts));
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

    if (r->state != 1) {
        str_cat(err, r->state == 0 ? "content read before the envelope" : "read past the end");
        return -1;
    }
    n = rec_read(&r->rd, &rec_content, &type, out, err);
    if (n == REC_EOF)
        str_cat(err, "missing end record (truncated file)");
    if (n != REC_OK)
        return -1;
    if (type == QREC_END) {
        if ((n = rec_at_end(&r->rd, err)) <= 0) {
            if (n == 0)
                str_cat(err, "data after the end record");
            return -1;
        }
        r->state = 2;
        str_reset(out);
        return 0;
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
    rec_attrs_free(env->attrs, env->nattrs);
    for (size_t i = 0; i < env->nrcpts; i++) {
        free(env->rcpts[i].addr);
        free(env->rcpts[i].orcpt);
    }
    free(env->rcpts);
    memset(env, 0, sizeof(*env));
}

const char *maildrop_env_attr(const struct maildrop_env *env, const char *name)
{
    return rec_attr_find(env->attrs, env->nattrs, name);
}
