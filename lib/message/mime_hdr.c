/*
 * mime_hdr.c - MIME header values: tokens, parameters, encoded words, decoding
 *
 * Content-Type and Content-Disposition values (RFC 2045 5.1, RFC 2183)
 * with their parameters merged per RFC 2231 (continuations, charset and
 * language), RFC 2047 encoded words, and the transfer decodings of RFC
 * 2045 6.7-6.8. Everything is lenient in what it accepts (unquoted values
 * with spaces, encoded words in quoted strings, bad escapes) because mail
 * in the wild is, and never reads outside its input.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "charset.h"
#include "mem.h"
#include "mime.h"
#include "mime_impl.h"

#define RFC2231_MAX_SECTION 999

/* is_tspecial - RFC 2045 5.1 tspecials */
static int is_tspecial(unsigned char c)
{
    return strchr("()<>@,;:\\\"/[]?=", c) != NULL && c != '\0';
}

/* is_token_char - RFC 2045 token characters (8-bit bytes tolerated) */
static int is_token_char(unsigned char c)
{
    return c > 32 && c != 127 && !is_tspecial(c);
}

size_t mime_skip_cfws(const char *v, size_t n, size_t pos)
{
    while (pos < n) {
        if (v[pos] == ' ' || v[pos] == '\t' || v[pos] == '\r' || v[pos] == '\n') {
            pos++;
        } else if (v[pos] == '(') {
            int depth = 0;
            while (pos < n) {
                if (v[pos] == '\\' && pos + 1 < n) {
                    pos += 2;
                    continue;
                }
                if (v[pos] == '(')
                    depth++;
                else if (v[pos] == ')' && --depth == 0) {
                    pos++;
                    break;
                }
                pos++;
            }
        } else {
            break;
        }
    }
    return pos;
}

size_t mime_token(const char *v, size_t n, size_t *pos, const char **tok)
{
    size_t p = mime_skip_cfws(v, n, *pos);
    size_t start = p;

    while (p < n && is_token_char((unsigned char)v[p]))
        p++;
    *tok = v + start;
    *pos = p;
    return p - start;
}

/* quoted - read a quoted-string at v[*pos] == '"' into out (unescaped) */
static void quoted(const char *v, size_t n, size_t *pos, struct str *out)
{
    size_t p = *pos + 1;

    while (p < n && v[p] != '"') {
        if (v[p] == '\\' && p + 1 < n)
            p++;
        if (v[p] != '\r' && v[p] != '\n')
            str_catc(out, v[p]);
        p++;
    }
    *pos = p < n ? p + 1 : p;
}

struct rawparam {
    const char *name; /* in the pool */
    size_t base_len;  /* length of the name without the RFC 2231 suffix */
    int section;      /* -1: none */
    int extended;     /* ends in '*' */
    const char *value;
};

/* split_2231 - recognise "name*", "name*N" and "name*N*" */
static void split_2231(struct rawparam *rp)
{
    size_t len = strlen(rp->name);
    const char *star = memchr(rp->name, '*', len);

    rp->base_len = len;
    rp->section = -1;
    rp->extended = 0;
    if (star == NULL || star == rp->name)
        return;
    const char *q = star + 1;
    if (*q == '\0') {
        rp->base_len = (size_t)(star - rp->name);
        rp->extended = 1;
        return;
    }
    int sec = 0, digits = 0;
    while (*q >= '0' && *q <= '9' && digits < 4) {
        sec = sec * 10 + (*q++ - '0');
        digits++;
    }
    if (digits == 0 || sec > RFC2231_MAX_SECTION || (digits > 1 && star[1] == '0'))
        return;
    if (*q == '*' && q[1] == '\0')
        rp->extended = 1;
    else if (*q != '\0')
        return;
    rp->base_len = (size_t)(star - rp->name);
    rp->section = sec;
}

/* pct_encode - append text in RFC 2231 extended form (attribute-char kept) */
static void pct_encode(const char *s, struct str *out)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c > 32 && c < 127 && !is_tspecial(c) && c != '*' && c != '\'' && c != '%')
            str_catc(out, c);
        else
            str_printf(out, "%%%02X", c);
    }
}

static int cmp_section(const void *a, const void *b)
{
    const struct rawparam *x = *(const struct rawparam *const *)a;
    const struct rawparam *y = *(const struct rawparam *const *)b;
    return x->section - y->section;
}

/* merge_2231 - join the sections of the parameter whose first section is raw[i] */
static void merge_2231(struct mime_pool *pool, struct rawparam *raw, size_t nraw, size_t i,
                       struct mime_param *out)
{
    struct rawparam **sec = xcalloc(nraw, sizeof(*sec));
    size_t ns = 0;
    int ext = 0;

    for (size_t j = i; j < nraw; j++) {
        if (raw[j].section < 0 || raw[j].base_len != raw[i].base_len ||
            strncasecmp(raw[j].name, raw[i].name, raw[i].base_len) != 0)
            continue;
        int dup = 0;
        for (size_t k = 0; k < ns; k++)
            dup |= sec[k]->section == raw[j].section;
        if (dup) {
            raw[j].section = -2; /* a repeated section: the first one counts */
            continue;
        }
        sec[ns++] = &raw[j];
        ext |= raw[j].extended;
    }
    qsort(sec, ns, sizeof(*sec), cmp_section);
    struct str v = STR_INIT;
    if (ext && !(ns > 0 && sec[0]->section == 0 && sec[0]->extended))
        str_cat(&v, "''"); /* no charset given: RFC 2231 4 allows it empty */
    for (size_t k = 0; k < ns; k++) {
        if (!ext || sec[k]->extended)
            str_cat(&v, sec[k]->value);
        else
            pct_encode(sec[k]->value, &v);
        sec[k]->section = -2;
    }
    struct str name = STR_INIT;
    str_catn(&name, raw[i].name, raw[i].base_len);
    if (ext)
        str_catc(&name, '*');
    out->name = mime_pool_strndup(pool, name.s, name.len);
    out->value = mime_pool_strndup(pool, str_c(&v), v.len);
    str_free(&name);
    str_free(&v);
    free(sec);
}

/* param_value - read one parameter value at *pos (quoted-string, token or, leniently,
 * anything up to the next ';') */
static void param_value(const char *v, size_t n, size_t *pos, struct str *out)
{
    size_t p = mime_skip_cfws(v, n, *pos);

    if (p < n && v[p] == '"') {
        quoted(v, n, &p, out);
        *pos = p;
        return;
    }
    /* a token, then only comments: the token ("us-ascii (Plain text)") */
    const char *tok;
    size_t q = p, tl = mime_token(v, n, &q, &tok);
    size_t after = mime_skip_cfws(v, n, q);
    if (tl > 0 && (after == n || v[after] == ';')) {
        str_catn(out, tok, tl);
        *pos = after;
        return;
    }
    size_t start = p;
    while (p < n && v[p] != ';')
        p++;
    size_t end = p;
    while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
        end--;
    str_catn(out, v + start, end - start);
    *pos = p;
}

void mime_parse_params(struct mime_pool *pool, const char *v, size_t n, size_t pos,
                       struct mime_param **params, unsigned *nparams)
{
    struct rawparam raw[MIME_MAX_PARAMS];
    size_t nraw = 0;
    struct str val = STR_INIT;

    while (pos < n && nraw < MIME_MAX_PARAMS) {
        pos = mime_skip_cfws(v, n, pos);
        if (pos >= n)
            break;
        if (v[pos] != ';') {
            /* junk between parameters: resynchronise at the next ';' */
            while (pos < n && v[pos] != ';')
                pos++;
            continue;
        }
        pos = mime_skip_cfws(v, n, pos + 1);
        size_t start = pos;
        while (pos < n && v[pos] != '=' && v[pos] != ';' && v[pos] != ' ' && v[pos] != '\t' &&
               v[pos] != '(')
            pos++;
        size_t nlen = pos - start;
        pos = mime_skip_cfws(v, n, pos);
        if (nlen == 0 || pos >= n || v[pos] != '=')
            continue;
        pos++;
        str_reset(&val);
        param_value(v, n, &pos, &val);
        raw[nraw].name = mime_pool_strndup(pool, v + start, nlen);
        raw[nraw].value = mime_pool_strndup(pool, str_c(&val), val.len);
        split_2231(&raw[nraw]);
        nraw++;
    }
    str_free(&val);

    *params = nraw ? mime_pool_alloc(pool, nraw * sizeof(struct mime_param)) : NULL;
    *nparams = 0;
    for (size_t i = 0; i < nraw; i++) {
        if (raw[i].section == -2)
            continue;
        struct mime_param *out = &(*params)[(*nparams)++];
        if (raw[i].section >= 0) {
            merge_2231(pool, raw, nraw, i, out);
        } else {
            out->name = raw[i].name;
            out->value = raw[i].value;
        }
    }
}

int mime_content_type(struct mime_pool *pool, const char *v, size_t n, const char **type,
                      const char **subtype, struct mime_param **params, unsigned *nparams)
{
    size_t pos = 0;
    const char *t, *s;
    size_t tl = mime_token(v, n, &pos, &t);

    pos = mime_skip_cfws(v, n, pos);
    if (tl == 0 || pos >= n || v[pos] != '/')
        return -1;
    pos++;
    size_t sl = mime_token(v, n, &pos, &s);
    if (sl == 0)
        return -1;
    *type = mime_pool_strndup(pool, t, tl);
    *subtype = mime_pool_strndup(pool, s, sl);
    mime_parse_params(pool, v, n, pos, params, nparams);
    return 0;
}

const char *mime_param_get(const struct mime_param *v, unsigned n, const char *name)
{
    for (unsigned i = 0; i < n; i++)
        if (strcasecmp(v[i].name, name) == 0)
            return v[i].value;
    return NULL;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* decode_2231 - an extended value "charset'language'%XX..." to UTF-8 */
static void decode_2231(const char *v, struct str *out)
{
    const char *q1 = strchr(v, '\'');
    const char *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
    struct str cs = STR_INIT, bytes = STR_INIT;

    if (q2 == NULL) {
        q2 = v - 1; /* no charset part: the whole value is text */
    } else {
        str_catn(&cs, v, (size_t)(q1 - v));
    }
    for (const char *p = q2 + 1; *p; p++) {
        if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            str_catc(&bytes, hexval(p[1]) << 4 | hexval(p[2]));
            p += 2;
        } else {
            str_catc(&bytes, *p);
        }
    }
    charset_to_utf8(str_c(&cs), bytes.s ? bytes.s : "", bytes.len, out);
    str_free(&cs);
    str_free(&bytes);
}

int mime_param_decoded(const struct mime_param *v, unsigned n, const char *name, struct str *out)
{
    for (unsigned i = 0; i < n; i++) {
        size_t len = strlen(v[i].name);
        if (len == strlen(name) + 1 && v[i].name[len - 1] == '*' &&
            strncasecmp(v[i].name, name, len - 1) == 0) {
            decode_2231(v[i].value, out);
            return 1;
        }
    }
    const char *plain = mime_param_get(v, n, name);
    if (plain == NULL)
        return 0;
    mime_decode_header(plain, strlen(plain), out);
    return 1;
}

/* RFC 2047 ------------------------------------------------------------------ */

struct eword {
    const char *charset; /* not terminated */
    size_t charset_len;
    char enc; /* 'B' or 'Q' */
    const char *text;
    size_t text_len;
    size_t len; /* of the whole word */
};

/* eword_at - recognise "=?charset?E?text?=" at p */
static int eword_at(const char *p, size_t n, struct eword *w)
{
    if (n < 8 || p[0] != '=' || p[1] != '?')
        return 0;
    size_t i = 2;
    while (i < n && p[i] != '?' && (unsigned char)p[i] > 32 && p[i] != '(' && i < 80)
        i++;
    if (i >= n || p[i] != '?' || i == 2)
        return 0;
    w->charset = p + 2;
    w->charset_len = i - 2;
    /* RFC 2231 5: charset*language */
    const char *star = memchr(w->charset, '*', w->charset_len);
    if (star)
        w->charset_len = (size_t)(star - w->charset);
    if (i + 3 >= n || p[i + 2] != '?')
        return 0;
    w->enc = (char)(p[i + 1] & ~0x20);
    if (w->enc != 'B' && w->enc != 'Q')
        return 0;
    size_t t = i + 3, j = t;
    while (j + 1 < n && !(p[j] == '?' && p[j + 1] == '=')) {
        if (p[j] == ' ' || p[j] == '\t' || p[j] == '\r' || p[j] == '\n')
            return 0;
        j++;
    }
    if (j + 1 >= n)
        return 0;
    w->text = p + t;
    w->text_len = j - t;
    w->len = j + 2;
    return 1;
}

/* eword_bytes - append the decoded bytes of an encoded word */
static void eword_bytes(const struct eword *w, struct str *out)
{
    if (w->enc == 'B') {
        base64_decode_mime(w->text, w->text_len, out);
        return;
    }
    for (size_t i = 0; i < w->text_len; i++) {
        char c = w->text[i];
        if (c == '_') {
            str_catc(out, ' ');
        } else if (c == '=' && i + 2 < w->text_len && hexval(w->text[i + 1]) >= 0 &&
                   hexval(w->text[i + 2]) >= 0) {
            str_catc(out, hexval(w->text[i + 1]) << 4 | hexval(w->text[i + 2]));
            i += 2;
        } else {
            str_catc(out, c);
        }
    }
}

/* flush_words - convert the pending bytes of same-charset words to UTF-8 */
static void flush_words(struct str *cs, struct str *bytes, struct str *out)
{
    if (bytes->len > 0 || cs->len > 0) {
        struct str tmp = STR_INIT;
        charset_to_utf8(str_c(cs), bytes->s ? bytes->s : "", bytes->len, &tmp);
        for (size_t i = 0; i < tmp.len; i++)
            if (tmp.s[i] != '\0')
                str_catc(out, tmp.s[i]);
        str_free(&tmp);
    }
    str_reset(cs);
    str_reset(bytes);
}

void mime_decode_header(const char *v, size_t n, struct str *out)
{
    struct str cs = STR_INIT, bytes = STR_INIT;
    struct eword w;
    size_t i = 0, plain = 0;
    int pending = 0; /* an encoded word was just decoded */

    while (i < n) {
        if (v[i] == '=' && eword_at(v + i, n - i, &w)) {
            /* text since the last word; white space between two words is dropped
             * (RFC 2047 6.2) */
            int only_ws = 1;
            for (size_t k = plain; k < i; k++)
                if (v[k] != ' ' && v[k] != '\t' && v[k] != '\r' && v[k] != '\n')
                    only_ws = 0;
            if (!(pending && only_ws)) {
                flush_words(&cs, &bytes, out);
                utf8_repair(v + plain, i - plain, out);
            }
            if (cs.len != w.charset_len || strncasecmp(cs.s ? cs.s : "", w.charset, w.charset_len))
                flush_words(&cs, &bytes, out);
            if (cs.len == 0)
                str_catn(&cs, w.charset, w.charset_len);
            eword_bytes(&w, &bytes);
            pending = 1;
            i += w.len;
            plain = i;
            continue;
        }
        i++;
    }
    flush_words(&cs, &bytes, out);
    utf8_repair(v + plain, n - plain, out);
    str_free(&cs);
    str_free(&bytes);
}

/* transfer decodings ---------------------------------------------------------- */

void mime_decode_qp(const char *in, size_t n, struct str *out)
{
    str_reserve(out, n);
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '=') {
            if (i + 2 < n && hexval(in[i + 1]) >= 0 && hexval(in[i + 2]) >= 0) {
                str_catc(out, hexval(in[i + 1]) << 4 | hexval(in[i + 2]));
                i += 2;
                continue;
            }
            /* a soft line break: '=', optional transport padding, line end */
            size_t j = i + 1;
            while (j < n && (in[j] == ' ' || in[j] == '\t'))
                j++;
            if (j < n && in[j] == '\r' && j + 1 < n && in[j + 1] == '\n') {
                i = j + 1;
                continue;
            }
            if (j < n && in[j] == '\n') {
                i = j;
                continue;
            }
            if (j == n) {
                i = n;
                continue;
            }
            str_catc(out, '='); /* a bad escape: kept as it is */
            continue;
        }
        if (c == ' ' || c == '\t') {
            /* RFC 2045 6.7 (3): white space at the end of a line was added in transport */
            size_t j = i;
            while (j < n && (in[j] == ' ' || in[j] == '\t'))
                j++;
            if (j == n || in[j] == '\n' || (in[j] == '\r' && j + 1 < n && in[j + 1] == '\n')) {
                i = j - 1;
                continue;
            }
        }
        str_catc(out, c);
    }
}

void mime_part_decode(const struct mime_message *m, const struct mime_part *p, struct str *out)
{
    const char *body = m->data + p->body.off;

    switch (p->enc) {
    case MIME_ENC_QP:
        mime_decode_qp(body, p->body.size, out);
        break;
    case MIME_ENC_BASE64:
        base64_decode_mime(body, p->body.size, out);
        break;
    default:
        str_catn(out, body, p->body.size);
        break;
    }
}

void mime_part_text(const struct mime_message *m, const struct mime_part *p, struct str *out)
{
    struct str raw = STR_INIT;
    struct str cs = STR_INIT;

    mime_part_decode(m, p, &raw);
    mime_param_decoded(p->params, p->nparams, "charset", &cs);
    charset_to_utf8(str_c(&cs), raw.s ? raw.s : "", raw.len, out);
    str_free(&raw);
    str_free(&cs);
}
