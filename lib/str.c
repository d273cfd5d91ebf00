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

const char *safe_text(struct str *out, const char *s, size_t n)
{
    str_reset(out);
    str_reserve(out, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out->s[out->len++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    out->s[out->len] = '\0';
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
