/*
 * mime_conv.c - downgrade of a message's content for a next hop (RFC 6152 3, RFC 3030 3)
 *
 * mime_downgrade() walks the part tree of lib/message/mime.c and writes a copy of
 * the message in which no body part needs more than the next hop takes:
 *
 *   MIME_CONV_7BIT (a server without 8BITMIME, RFC 6152 3): a leaf part
 *   with 8-bit bytes becomes quoted-printable when it is text (its line
 *   structure kept, RFC 2045 6.7) and base64 otherwise, or when it holds
 *   NULs or is binary; its Content-Transfer-Encoding field is replaced.
 *   Headers cannot be converted: a header with an 8-bit byte makes the
 *   conversion fail (the caller bounces with 5.6.3).
 *
 *   MIME_CONV_8BIT (a server with 8BITMIME but without BINARYMIME and
 *   CHUNKING, RFC 3030 3): only binary content is encoded, as base64 of
 *   its exact bytes - a part labelled binary that has NULs, bare CR or LF
 *   or lines longer than 998 bytes, and any part with NULs; a binary label
 *   on plain lines becomes 8bit (or 7bit).
 *
 * Multiparts are followed part by part and message/rfc822 parts into the
 * encapsulated message; a container labelled 8bit or binary is relabelled
 * once its contents are converted (RFC 2045 6.4). Preamble and epilogue
 * belong to no part (RFC 2046 5.1.1): their NULs, and their 8-bit bytes
 * in 7-bit mode, become '?'. A top-level message that gets an encoding gets MIME-Version
 * too. What needs no change is copied byte for byte; a message in which
 * nothing needs a change is not copied at all (MIME_CONV_NONE). A part
 * already in quoted-printable or base64 that has 8-bit bytes, and a
 * message beyond the parser's depth or part limits, cannot be converted.
 */
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "mime.h"

#define LINE_MAX_8BIT 998 /* RFC 5321 4.5.3.1.6, without CRLF */
#define QP_LINE 76        /* RFC 2045 6.7 (5) */
#define B64_LINE 76

struct conv {
    const struct mime_message *m;
    const char *d;
    int mode;
    int changed;
    struct str *out;
    struct str *why;
};

/* what a region holds */
struct scan {
    int has8, nul, bare, longline;
};

/* scan - the bytes of a region that matter for the transport */
static void scan(const char *p, size_t n, struct scan *s)
{
    size_t col = 0;

    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x80)
            s->has8 = 1;
        else if (c == 0)
            s->nul = 1;
        if (c == '\n') {
            if (i == 0 || p[i - 1] != '\r')
                s->bare = 1;
            col = 0;
            continue;
        }
        if (c == '\r' && (i + 1 >= n || p[i + 1] != '\n'))
            s->bare = 1;
        if (c != '\r' && ++col > LINE_MAX_8BIT)
            s->longline = 1;
    }
}

/* copy_safe - bytes outside any part (preamble, epilogue, delimiters): NULs, and 8-bit
 * bytes in 7-bit mode, become '?' */
static void copy_safe(struct conv *c, size_t off, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)c->d[off + i];
        if (ch == 0 || (c->mode == MIME_CONV_7BIT && ch >= 0x80)) {
            str_catc(c->out, '?');
            c->changed = 1;
        } else {
            str_catc(c->out, (char)ch);
        }
    }
}

/* header_out - p's header with its Content-Transfer-Encoding fields replaced by one saying
 * enc (NULL: the header unchanged); mime_version: add MIME-Version when it is missing */
static void header_out(struct conv *c, const struct mime_part *p, const char *enc, int mime_version)
{
    const struct mime_region *h = &p->hdr;
    size_t pos = 0, from = h->off, end = h->off + h->size, blank = end;
    struct mime_field f;
    int have_version = 0;

    if (enc == NULL) {
        str_catn(c->out, c->d + h->off, h->size);
        return;
    }
    if (!(p->flags & MIME_PART_NOBLANK) && h->size > 0 && c->d[end - 1] == '\n')
        blank = end - (h->size >= 2 && c->d[end - 2] == '\r' ? 2 : 1);
    while (mime_field_next(c->d, h, &pos, &f)) {
        if (f.name_len == 12 && strncasecmp(f.name, "MIME-Version", 12) == 0)
            have_version = 1;
        if (f.name_len != 25 || strncasecmp(f.name, "Content-Transfer-Encoding", 25) != 0)
            continue;
        str_catn(c->out, c->d + from, f.off - from);
        from = f.off + f.size;
    }
    if (from < blank)
        str_catn(c->out, c->d + from, blank - from);
    if (mime_version && !have_version)
        str_cat(c->out, "MIME-Version: 1.0\r\n");
    str_printf(c->out, "Content-Transfer-Encoding: %s\r\n", enc);
    if (blank < end)
        str_catn(c->out, c->d + blank, end - blank);
    else
        str_cat(c->out, "\r\n");
    c->changed = 1;
}

/* qp_out - RFC 2045 6.7 quoted-printable of a text body: its line ends (CRLF or LF) stay
 * hard line breaks, everything else that is not printable ASCII is =XX, white space at a
 * line end too, and no encoded line is longer than 76 */
static void qp_out(struct conv *c, const char *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '\n' || (ch == '\r' && i + 1 < n && p[i + 1] == '\n')) {
            if (ch == '\r')
                i++;
            str_cat(c->out, "\r\n");
            col = 0;
            continue;
        }
        int at_eol =
            i + 1 >= n || p[i + 1] == '\n' || (p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n');
        int literal =
            (ch >= 33 && ch <= 126 && ch != '=') || ((ch == ' ' || ch == '\t') && !at_eol);
        size_t w = literal ? 1 : 3;
        /* a soft line break ("=" CRLF) keeps room for itself */
        if (col + w > QP_LINE - 1 && !(at_eol && col + w <= QP_LINE)) {
            str_cat(c->out, "=\r\n");
            col = 0;
        }
        if (literal) {
            str_catc(c->out, (char)ch);
        } else {
            str_catc(c->out, '=');
            str_catc(c->out, hex[ch >> 4]);
            str_catc(c->out, hex[ch & 15]);
        }
        col += w;
    }
}

/* b64_out - base64 of a body's exact bytes in lines of 76 (RFC 2045 6.8) */
static void b64_out(struct conv *c, const char *p, size_t n)
{
    struct str enc = STR_INIT;

    base64_encode(p, n, &enc);
    for (size_t i = 0; i < enc.len; i += B64_LINE) {
        if (i)
            str_cat(c->out, "\r\n");
        str_catn(c->out, enc.s + i, enc.len - i < B64_LINE ? enc.len - i : B64_LINE);
    }
    str_free(&enc);
}

/* is_text - a text part, or one without a usable Content-Type (text/plain by default) */
static int is_text(const struct mime_part *p)
{
    return (p->flags & MIME_PART_DEFAULT_TYPE) || mime_is_type(p, "text", NULL);
}

/* container_enc - the new label of a multipart or message/rfc822 part, NULL: unchanged */
static const char *container_enc(const struct conv *c, const struct mime_part *p)
{
    if (p->enc == MIME_ENC_BINARY)
        return c->mode == MIME_CONV_7BIT ? "7bit" : "8bit";
    if (p->enc == MIME_ENC_8BIT && c->mode == MIME_CONV_7BIT)
        return "7bit";
    return NULL;
}

static int conv_part(struct conv *c, const struct mime_part *p);

/* conv_leaf - a part with a body of its own */
static int conv_leaf(struct conv *c, const struct mime_part *p, int top)
{
    const char *body = c->d + p->body.off;
    size_t n = p->body.size;
    struct scan s;

    scan(body, n, &s);
    if (p->enc == MIME_ENC_QP || p->enc == MIME_ENC_BASE64 || p->enc == MIME_ENC_OTHER) {
        if (s.nul || (s.has8 && c->mode == MIME_CONV_7BIT)) {
            str_printf(c->why, "a part labelled \"%s\" holds %s", p->encoding ? p->encoding : "",
                       s.nul ? "NUL bytes" : "8-bit bytes");
            return -1;
        }
        header_out(c, p, NULL, 0);
        str_catn(c->out, body, n);
        return 0;
    }
    int binary = s.nul || (p->enc == MIME_ENC_BINARY && (s.bare || s.longline));
    const char *enc = NULL;
    if (binary || (c->mode == MIME_CONV_7BIT && s.has8 && !is_text(p)))
        enc = "base64";
    else if (c->mode == MIME_CONV_7BIT && s.has8)
        enc = "quoted-printable";
    else if (p->enc == MIME_ENC_BINARY || (p->enc == MIME_ENC_8BIT && c->mode == MIME_CONV_7BIT))
        enc = s.has8 ? "8bit" : "7bit";
    header_out(c, p, enc, top);
    if (enc && strcmp(enc, "base64") == 0)
        b64_out(c, body, n);
    else if (enc && strcmp(enc, "quoted-printable") == 0)
        qp_out(c, body, n);
    else
        str_catn(c->out, body, n);
    return 0;
}

/* conv_part - one node of the tree, header and body */
static int conv_part(struct conv *c, const struct mime_part *p)
{
    int top = p->parent == NULL;

    struct scan s;
    scan(c->d + p->hdr.off, p->hdr.size, &s);
    if (s.nul || (s.has8 && c->mode == MIME_CONV_7BIT)) {
        str_printf(c->why, "a %s holds %s",
                   p->flags & MIME_PART_MESSAGE ? "header" : "MIME part header",
                   s.nul ? "NUL bytes" : "8-bit bytes, which cannot be converted");
        return -1;
    }
    if ((p->flags & MIME_PART_MULTIPART) && p->children) {
        size_t at = p->body.off, end = p->body.off + p->body.size;
        header_out(c, p, container_enc(c, p), 0);
        /* (regions of a damaged message may touch: the bytes go out in order, once) */
        for (const struct mime_part *k = p->children; k; k = k->next) {
            if (k->hdr.off > at)
                copy_safe(c, at, k->hdr.off - at);
            if (conv_part(c, k) < 0)
                return -1;
            if (k->body.off + k->body.size > at)
                at = k->body.off + k->body.size;
        }
        if (end > at)
            copy_safe(c, at, end - at);
        return 0;
    }
    if ((p->flags & MIME_PART_RFC822) && p->children) {
        header_out(c, p, container_enc(c, p), 0);
        return conv_part(c, p->children);
    }
    return conv_leaf(c, p, top);
}

int mime_downgrade(const char *data, size_t size, int mode, struct str *out, struct str *why)
{
    struct mime_message *m = mime_parse(data, size, NULL);
    struct conv c = {m, data, mode, 0, out, why};
    size_t start = out->len;
    int rc;

    if (m->flags & MIME_MSG_LIMITED) {
        struct scan s;
        scan(data, size, &s);
        if (s.nul || s.has8) {
            str_cat(why, "the MIME structure is nested too deeply to be converted");
            mime_free(m);
            return -1;
        }
    }
    rc = conv_part(&c, m->root);
    if (rc == 0 && m->root->hdr.size + m->root->body.size < size) /* bytes after the root */
        copy_safe(&c, m->root->hdr.size + m->root->body.size,
                  size - m->root->hdr.size - m->root->body.size);
    mime_free(m);
    if (rc < 0 || !c.changed) {
        str_truncate(out, start);
        return rc < 0 ? -1 : MIME_CONV_NONE;
    }
    return MIME_CONV_DONE;
}
