/*
 * attr.c - the internal request/response protocol (ARCHITECTURE.md 3)
 *
 * Untrusted on both sides: the reader bounds each line and the total,
 * rejects malformed names and bad escapes, and never interprets values.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attr.h"
#include "mem.h"

void attr_init(struct attr_list *l)
{
    l->items = NULL;
    l->n = l->cap = 0;
}

void attr_reset(struct attr_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].name);
        free(l->items[i].value);
    }
    l->n = 0;
}

void attr_free(struct attr_list *l)
{
    attr_reset(l);
    free(l->items);
    attr_init(l);
}

void attr_addn(struct attr_list *l, const char *name, const void *value, size_t vlen)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->items = xreallocarray(l->items, l->cap, sizeof(*l->items));
    }
    struct attr_item *it = &l->items[l->n++];
    it->name = xstrdup(name);
    it->value = xmalloc(vlen + 1);
    memcpy(it->value, value, vlen);
    it->value[vlen] = '\0';
    it->vlen = vlen;
}

void attr_add(struct attr_list *l, const char *name, const char *value)
{
    attr_addn(l, name, value, strlen(value));
}

void attr_addf(struct attr_list *l, const char *name, const char *fmt, ...)
{
    struct str s = STR_INIT;
    va_list ap;

    va_start(ap, fmt);
    str_vprintf(&s, fmt, ap);
    va_end(ap);
    attr_addn(l, name, str_c(&s), s.len);
    str_free(&s);
}

void attr_add_int(struct attr_list *l, const char *name, long long v)
{
    attr_addf(l, name, "%lld", v);
}

const char *attr_get(const struct attr_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i].name, name) == 0)
            return l->items[i].value;
    return NULL;
}

int attr_get_int(const struct attr_list *l, const char *name, long long *out)
{
    const char *v = attr_get(l, name);
    char *end;
    long long x;

    if (v == NULL || *v == '\0')
        return -1;
    x = strtoll(v, &end, 10);
    if (*end != '\0')
        return -1;
    *out = x;
    return 0;
}

/* needs_escape - bytes sent as %XX */
static int needs_escape(unsigned char c)
{
    return c == '%' || c < 0x20 || c == 0x7f;
}

void attr_encode(const struct attr_list *l, struct str *out)
{
    static const char hex[] = "0123456789ABCDEF";

    for (size_t i = 0; i < l->n; i++) {
        const unsigned char *v = (const unsigned char *)l->items[i].value;
        str_cat(out, l->items[i].name);
        str_catc(out, '=');
        for (size_t j = 0; j < l->items[i].vlen; j++) {
            if (needs_escape(v[j])) {
                char e[3] = {'%', hex[v[j] >> 4], hex[v[j] & 15]};
                str_catn(out, e, 3);
            } else {
                str_catc(out, (char)v[j]);
            }
        }
        str_catc(out, '\n');
    }
    str_catc(out, '\n');
}

/* hexval - value of a hex digit or -1 */
static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int attr_decode_line(struct attr_list *l, const char *line, size_t len)
{
    const char *eq = memchr(line, '=', len);
    struct str name = STR_INIT, val = STR_INIT;
    int rc = -1;

    if (eq == NULL || eq == line)
        return -1;
    for (const char *p = line; p < eq; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
            return -1;
    str_catn(&name, line, (size_t)(eq - line));
    for (const char *p = eq + 1; p < line + len; p++) {
        if (*p == '%') {
            int h, lo;
            if (p + 2 >= line + len || (h = hexval((unsigned char)p[1])) < 0 ||
                (lo = hexval((unsigned char)p[2])) < 0)
                goto out;
            str_catc(&val, h * 16 + lo);
            p += 2;
        } else if ((unsigned char)*p < 0x20) {
            goto out;
        } else {
            str_catc(&val, *p);
        }
    }
    attr_addn(l, str_c(&name), str_c(&val), val.len);
    rc = 0;
out:
    str_free(&name);
    str_free(&val);
    return rc;
}

int attr_write(struct stream *s, const struct attr_list *l)
{
    struct str out = STR_INIT;
    int r;

    attr_encode(l, &out);
    r = stream_write(s, out.s, out.len);
    if (r == STREAM_OK)
        r = stream_flush(s);
    str_free(&out);
    return r;
}

int attr_read(struct stream *s, struct attr_list *l, size_t attr_limit, size_t total_limit,
              struct str *err)
{
    struct str line = STR_INIT;
    size_t total = 0;
    int r;

    attr_reset(l);
    for (;;) {
        /* an escaped value may take three bytes per byte, plus name and '=' */
        r = stream_getline(s, &line, attr_limit * 3 + 256);
        if (r == STREAM_EOF && l->n > 0) {
            str_cat(err, "unexpected end of request");
            r = STREAM_ERR;
            break;
        }
        if (r == STREAM_TOOLONG) {
            str_printf(err, "attribute longer than %zu bytes", attr_limit);
            r = STREAM_ERR;
            break;
        }
        if (r != STREAM_OK) {
            if (r != STREAM_EOF)
                str_cat(err, stream_strerror(r));
            break;
        }
        if (line.len == 0 || line.s[line.len - 1] != '\n') {
            str_cat(err, "unexpected end of request");
            r = STREAM_ERR;
            break;
        }
        str_chomp(&line);
        if (line.len == 0)
            break;
        total += line.len;
        if (total > total_limit) {
            str_printf(err, "request larger than %zu bytes", total_limit);
            r = STREAM_ERR;
            break;
        }
        if (attr_decode_line(l, line.s, line.len) < 0) {
            str_cat(err, "malformed attribute");
            r = STREAM_ERR;
            break;
        }
        if (l->items[l->n - 1].vlen > attr_limit) {
            str_printf(err, "attribute longer than %zu bytes", attr_limit);
            r = STREAM_ERR;
            break;
        }
    }
    str_free(&line);
    return r;
}
