/*
 * rec.c - records: the framing under queue files and maildrop files
 *
 * The writer appends records to a buffer that its caller writes out. The reader takes
 * the input through a small buffer, and a payload larger than the buffer straight into
 * its place, so that one code path serves a queue file read in place (qmgr, the agents:
 * pread, so that a descriptor shared with a writer keeps its offset) and the pipe
 * petrel-drop reads from sendmail. The segment tables below are the one list of which
 * record types each part of each file accepts and how long each may be.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "rec.h"

/* the envelope of a queue file: written by Petrel's own daemons, its text records as
 * long as an SMTP line may be (smtpd_line_length_limit goes up to REC_MAX) */
const struct rec_seg rec_queue_envelope = {
    "envelope",
    {{QREC_VERSION, REC_SHORT_MAX},
     {QREC_SIZE, REC_SIZE_LEN},
     {QREC_TIME, REC_SHORT_MAX},
     {QREC_SENDER, REC_MAX},
     {QREC_ATTR, REC_MAX},
     {QREC_RCPT, REC_MAX},
     {QREC_RCPT_DONE, REC_MAX},
     {QREC_MESSAGE, 0},
     {0, 0}},
};

/* the envelope of a maildrop file: any local user's input, text records short */
const struct rec_seg rec_drop_envelope = {
    "envelope",
    {{QREC_VERSION, REC_SHORT_MAX},
     {QREC_TIME, REC_SHORT_MAX},
     {QREC_SENDER, REC_DROP_TEXT_MAX},
     {QREC_ATTR, REC_DROP_TEXT_MAX},
     {QREC_RCPT, REC_DROP_TEXT_MAX},
     {QREC_MESSAGE, 0},
     {0, 0}},
};

/* the content of either: chunks, then the end record */
const struct rec_seg rec_content = {
    "content",
    {{QREC_DATA, REC_MAX}, {QREC_END, 0}, {0, 0}},
};

void rec_header(unsigned char hdr[REC_HDR], int type, uint32_t len)
{
    hdr[0] = (unsigned char)type;
    hdr[1] = (unsigned char)(len >> 24);
    hdr[2] = (unsigned char)(len >> 16);
    hdr[3] = (unsigned char)(len >> 8);
    hdr[4] = (unsigned char)len;
}

uint32_t rec_length(const unsigned char hdr[REC_HDR])
{
    return ((uint32_t)hdr[1] << 24) | ((uint32_t)hdr[2] << 16) | ((uint32_t)hdr[3] << 8) | hdr[4];
}

void rec_put(struct str *out, int type, const void *data, size_t len)
{
    unsigned char hdr[REC_HDR];

    if (len > UINT32_MAX)
        log_panic("rec_put: a record of %zu bytes", len);
    rec_header(hdr, type, (uint32_t)len);
    str_catn(out, hdr, REC_HDR);
    if (len)
        str_catn(out, data, len);
}

long rec_seg_max(const struct rec_seg *seg, int type)
{
    for (const struct rec_limit *l = seg->types; l->type; l++)
        if (l->type == type)
            return (long)l->max;
    return -1;
}

void rec_reader_init(struct rec_reader *r, int fd, int in_place, off_t offset)
{
    r->fd = fd;
    r->in_place = in_place;
    r->offset = offset;
    r->start = r->end = 0;
}

/* input - read up to n bytes at the reader's offset (the buffer is empty) */
static ssize_t input(struct rec_reader *r, void *dst, size_t n)
{
    ssize_t got;

    do
        got = r->in_place ? pread(r->fd, dst, n, r->offset) : read(r->fd, dst, n);
    while (got < 0 && errno == EINTR);
    return got;
}

/* take - n bytes of input into dst; bytes taken (short at the end of input), -1 on error */
static ssize_t take(struct rec_reader *r, char *dst, size_t n)
{
    size_t got = 0;

    while (got < n) {
        if (r->start == r->end) {
            r->start = r->end = 0;
            if (n - got >= sizeof(r->buf)) { /* a large payload goes straight into place */
                ssize_t k = input(r, dst + got, n - got);
                if (k < 0)
                    return -1;
                if (k == 0)
                    break;
                got += (size_t)k;
                r->offset += k;
                continue;
            }
            ssize_t k = input(r, r->buf, sizeof(r->buf));
            if (k < 0)
                return -1;
            if (k == 0)
                break;
            r->end = (size_t)k;
        }
        size_t k = r->end - r->start;
        if (k > n - got)
            k = n - got;
        memcpy(dst + got, r->buf + r->start, k);
        r->start += k;
        r->offset += (off_t)k;
        got += k;
    }
    return (ssize_t)got;
}

int rec_read(struct rec_reader *r, const struct rec_seg *seg, int *type, struct str *payload,
             struct str *err)
{
    unsigned char hdr[REC_HDR];
    long long at = (long long)r->offset;
    ssize_t n = take(r, (char *)hdr, REC_HDR);
    long max;
    uint32_t len;

    if (n < 0) {
        str_printf(err, "read error at offset %lld: %s", at, strerror(errno));
        return REC_ERR;
    }
    if (n == 0)
        return REC_EOF;
    if (n != REC_HDR) {
        str_printf(err, "truncated record header at offset %lld", at);
        return REC_ERR;
    }
    *type = hdr[0];
    len = rec_length(hdr);
    max = rec_seg_max(seg, hdr[0]);
    if (max < 0) {
        str_printf(err, "unexpected record type 0x%02x in the %s", hdr[0], seg->name);
        return REC_UNEXPECTED;
    }
    if (len > (unsigned long)max) {
        str_printf(err, "record type 0x%02x of %u bytes at offset %lld exceeds the limit of %ld",
                   hdr[0], len, at, max);
        return REC_ERR;
    }
    str_reset(payload);
    str_reserve(payload, len);
    n = len ? take(r, payload->s, len) : 0;
    if (n < 0) {
        str_printf(err, "read error at offset %lld: %s", at, strerror(errno));
        return REC_ERR;
    }
    if (n != (ssize_t)len) {
        str_printf(err, "truncated record at offset %lld", at);
        return REC_ERR;
    }
    payload->len = len;
    payload->s[len] = '\0';
    return REC_OK;
}

int rec_at_end(struct rec_reader *r, struct str *err)
{
    char c;
    ssize_t n = take(r, &c, 1);

    if (n < 0) {
        str_printf(err, "read error at offset %lld: %s", (long long)r->offset, strerror(errno));
        return -1;
    }
    return n == 0;
}

void rec_time_encode(struct str *out, long long sec, long usec)
{
    str_reset(out);
    str_printf(out, "%lld.%06ld", sec, usec);
}

int rec_time_decode(const struct str *p, long long *sec, long *usec)
{
    char extra;

    if (sscanf(p->s, "%lld.%6ld%c", sec, usec, &extra) != 2 || *sec < 0 || *usec < 0)
        return -1;
    return 0;
}

void rec_attr_encode(struct str *out, const char *name, const char *value)
{
    str_reset(out);
    str_printf(out, "%s=%s", name, value);
}

long rec_attr_decode(const struct str *p)
{
    const char *eq = memchr(p->s, '=', p->len);

    if (eq == NULL || eq == p->s || memchr(p->s, '\0', p->len))
        return -1;
    return (long)(eq - p->s);
}

void rec_attr_add(struct rec_attr **attrs, size_t *n, const char *name, size_t namelen,
                  const char *value)
{
    *attrs = xgrow(*attrs, *n, sizeof(**attrs));
    (*attrs)[*n].name = xstrndup(name, namelen);
    (*attrs)[*n].value = xstrdup(value);
    (*n)++;
}

const char *rec_attr_find(const struct rec_attr *attrs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(attrs[i].name, name) == 0)
            return attrs[i].value;
    return NULL;
}

void rec_attrs_free(struct rec_attr *attrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(attrs[i].name);
        free(attrs[i].value);
    }
    free(attrs);
}

void rec_rcpt_encode(struct str *out, const struct rec_rcpt *rc, int fields)
{
    str_reset(out);
    str_cat(out, rc->addr);
    str_catc(out, '\0');
    str_cat(out, rc->orcpt ? rc->orcpt : "");
    str_catc(out, '\0');
    str_catu(out, (unsigned long long)(unsigned)rc->notify);
    if (fields == REC_RCPT_QUEUE) {
        str_catc(out, '\0');
        str_cat(out, rc->dsn_orig ? rc->dsn_orig : "");
    }
}

/* notify_decode - decimal digits of a set of QNOTIFY_ bits */
static int notify_decode(const char *s, int *notify)
{
    unsigned v = 0;

    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (unsigned)(*s - '0');
        if (v > (QNOTIFY_NEVER | QNOTIFY_SUCCESS | QNOTIFY_FAILURE | QNOTIFY_DELAY))
            return -1;
    }
    *notify = (int)v;
    return 0;
}

int rec_rcpt_decode(const struct str *p, int fields, struct rec_rcpt *rc)
{
    const char *f[REC_RCPT_QUEUE];
    int n = 0;

    if (fields != REC_RCPT_DROP && fields != REC_RCPT_QUEUE)
        log_panic("rec_rcpt_decode: %d fields", fields);
    f[n++] = p->s;
    for (size_t i = 0; i < p->len; i++) {
        if (p->s[i] != '\0')
            continue;
        if (n == fields)
            return -1;
        f[n++] = p->s + i + 1;
    }
    if (n != fields || f[0][0] == '\0' || notify_decode(f[2], &rc->notify) < 0)
        return -1;
    rc->addr = f[0];
    rc->orcpt = f[1];
    rc->dsn_orig = fields == REC_RCPT_QUEUE ? f[3] : "";
    return 0;
}
