/*
 * str.c - dynamic strings, string lists and small string helpers
 *
 * Growth is geometric; every operation keeps the buffer NUL-terminated so
 * str_c() can be passed to C library calls. Size arithmetic is checked: an
 * overflow is a bug (log_panic), exhaustion is fatal (mem.c).
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "mem.h"
#include "str.h"

void str_init(struct str *sp)
{
    sp->s = NULL;
    sp->len = 0;
    sp->cap = 0;
}

void str_free(struct str *sp)
{
    free(sp->s);
    str_init(sp);
}

void str_reset(struct str *sp)
{
    sp->len = 0;
    if (sp->s)
        sp->s[0] = '\0';
}

/* str_reserve - make room for extra more bytes plus a terminator */
void str_reserve(struct str *sp, size_t extra)
{
    size_t need;

    if (extra > SIZE_MAX - sp->len - 1)
        log_panic("str_reserve: size overflow");
    need = sp->len + extra + 1;
    if (need <= sp->cap)
        return;
    size_t cap = sp->cap ? sp->cap : 32;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    sp->s = xrealloc(sp->s, cap);
    sp->cap = cap;
    sp->s[sp->len] = '\0';
}

void str_catn(struct str *sp, const void *p, size_t n)
{
    str_reserve(sp, n);
    if (n)
        memcpy(sp->s + sp->len, p, n);
    sp->len += n;
    sp->s[sp->len] = '\0';
}

void str_cat(struct str *sp, const char *s)
{
    str_catn(sp, s, strlen(s));
}

void str_catc(struct str *sp, int c)
{
    if (sp->len + 2 > sp->cap) /* the byte and the NUL */
        str_reserve(sp, 1);
    sp->s[sp->len++] = (char)c;
    sp->s[sp->len] = '\0';
}

void str_catu(struct str *sp, unsigned long long v)
{
    char buf[24], *p = buf + sizeof(buf);

    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    str_catn(sp, p, (size_t)(buf + sizeof(buf) - p));
}

void str_cpy(struct str *sp, const char *s)
{
    str_reset(sp);
    str_cat(sp, s);
}

void str_cpyn(struct str *sp, const void *p, size_t n)
{
    str_reset(sp);
    str_catn(sp, p, n);
}

void str_vprintf(struct str *sp, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;

    /* one formatting pass when the result fits the room there is (at least 64 bytes),
     * a second one only for a longer result */
    str_reserve(sp, 64);
    va_copy(ap2, ap);
    n = vsnprintf(sp->s + sp->len, sp->cap - sp->len, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        log_panic("str_vprintf: bad format '%s'", fmt);
    if ((size_t)n >= sp->cap - sp->len) {
        str_reserve(sp, (size_t)n);
        vsnprintf(sp->s + sp->len, (size_t)n + 1, fmt, ap);
    }
    sp->len += (size_t)n;
}

void str_printf(struct str *sp, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    str_vprintf(sp, fmt, ap);
    va_end(ap);
}

void str_truncate(struct str *sp, size_t len)
{
    if (len < sp->len) {
        sp->len = len;
        sp->s[len] = '\0';
    }
}

const char *str_c(const struct str *sp)
{
    return sp->s ? sp->s : "";
}

char *str_steal(struct str *sp)
{
    char *p = sp->s ? sp->s : xstrdup("");
    str_init(sp);
    return p;
}

void str_lower(struct str *sp)
{
    for (size_t i = 0; i < sp->len; i++)
        sp->s[i] = (char)tolower((unsigned char)sp->s[i]);
}

int str_chomp(struct str *sp)
{
    if (sp->len == 0 || sp->s[sp->len - 1] != '\n')
        return 0;
    if (sp->len >= 2 && sp->s[sp->len - 2] == '\r') {
        str_truncate(sp, sp->len - 2);
        return 2;
    }
    str_truncate(sp, sp->len - 1);
    return 1;
}

void strlist_init(struct strlist *l)
{
    l->v = NULL;
    l->n = 0;
    l->cap = 0;
}

void strlist_free(struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    strlist_init(l);
}

void strlist_adopt(struct strlist *l, char *s)
{
    if (l->n + 2 > l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = xreallocarray(l->v, l->cap, sizeof(char *));
    }
    l->v[l->n++] = s;
    l->v[l->n] = NULL;
}

void strlist_addn(struct strlist *l, const char *s, size_t n)
{
    strlist_adopt(l, xstrndup(s, n));
}

void strlist_add(struct strlist *l, const char *s)
{
    strlist_addn(l, s, strlen(s));
}

void strlist_split(struct strlist *l, const char *text, const char *delims)
{
    const char *p = text;

    while (*p) {
        p += strspn(p, delims);
        if (*p == '\0')
            break;
        size_t n = strcspn(p, delims);
        strlist_addn(l, p, n);
        p += n;
    }
}

long strlist_find(const struct strlist *l, const char *s, int nocase)
{
    for (size_t i = 0; i < l->n; i++)
        if ((nocase ? strcasecmp(l->v[i], s) : strcmp(l->v[i], s)) == 0)
            return (long)i;
    return -1;
}

void strlist_join(const struct strlist *l, const char *sep, struct str *out)
{
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            str_cat(out, sep);
        str_cat(out, l->v[i]);
    }
}

char *lowercase(char *s)
{
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}

char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

int has_prefix_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* utf8_char_len - length of the well-formed UTF-8 character of 2..4 bytes at p (at most
 * n bytes), 0 when malformed; *cp gets its code point */
static size_t utf8_char_len(const unsigned char *p, size_t n, unsigned *cp)
{
    unsigned c = p[0];
    size_t k;

    if (c >= 0xc2 && c <= 0xdf)
        k = 2, *cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        k = 3, *cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        k = 4, *cp = c & 0x07;
    else
        return 0;
    if (k > n)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (p[i] & 0x3f);
    }
    if ((k == 3 && (*cp < 0x800 || (*cp >= 0xd800 && *cp <= 0xdfff))) ||
        (k == 4 && (*cp < 0x10000 || *cp > 0x10ffff)))
        return 0;
    return k;
}

char *printable(char *s, size_t n)
{
    unsigned char *p = (unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        unsigned cp = 0;
        size_t k;
        if (p[i] < 0x80) {
            if (p[i] < 0x20 || p[i] == 0x7f)
                p[i] = '?';
            i++;
        } else if ((k = utf8_char_len(p + i, n - i, &cp)) == 0 || cp < 0xa0) {
            p[i++] = '?'; /* the bytes after it are judged on their own */
        } else {
            i += k;
        }
    }
    return s;
}

const char *safe_text(struct str *out, const char *s, size_t n)
{
    str_reset(out);
    str_catn(out, s, n);
    printable(out->s, out->len);
    return out->s;
}

char *mystrtok(char **bufp, const char *delims)
{
    char *start = *bufp + strspn(*bufp, delims);
    char *end;

    if (*start == '\0') {
        *bufp = start;
        return NULL;
    }
    end = start + strcspn(start, delims);
    if (*end)
        *end++ = '\0';
    *bufp = end;
    return start;
}

int parse_ulong(const char *s, unsigned long long max, unsigned long long *out)
{
    unsigned long long v = 0;

    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}
