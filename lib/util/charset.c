/*
 * charset.c - character sets: conversion to UTF-8, validation, case folding
 *
 * Conversion goes through glibc's iconv. Opening a converter loads a gconv
 * module, which is slow next to converting a header, so the last few
 * converters are kept open (a SEARCH over a mailbox meets the same handful
 * of charsets over and over).
 */
#include <errno.h>
#include <iconv.h>
#include <locale.h>
#include <string.h>
#include <strings.h>
#include <wctype.h>

#include "charset.h"
#include "mem.h"

#define CACHE_SLOTS 6
#define CHARSET_NAME_MAX 64

static struct {
    char name[CHARSET_NAME_MAX];
    iconv_t cd;
    unsigned long used;
} cache[CACHE_SLOTS];
static unsigned long cache_clock;

/* Windows-1252 0x80..0x9F (0 = undefined, shown as U+FFFD) */
static const unsigned short cp1252_high[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

void utf8_encode_one(unsigned cp, struct str *out)
{
    char b[4];

    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;
    if (cp < 0x80) {
        str_catc(out, (int)cp);
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | cp >> 6);
        b[1] = (char)(0x80 | (cp & 0x3F));
        str_catn(out, b, 2);
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | cp >> 12);
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        str_catn(out, b, 3);
    } else {
        b[0] = (char)(0xF0 | cp >> 18);
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        str_catn(out, b, 4);
    }
}

size_t utf8_decode_one(const unsigned char *p, size_t n, unsigned *cp)
{
    size_t len;
    unsigned v, min;

    if (n == 0)
        return 0;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    } else if ((p[0] & 0xE0) == 0xC0) {
        len = 2, v = p[0] & 0x1F, min = 0x80;
    } else if ((p[0] & 0xF0) == 0xE0) {
        len = 3, v = p[0] & 0x0F, min = 0x800;
    } else if ((p[0] & 0xF8) == 0xF0) {
        len = 4, v = p[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

int utf8_valid(const void *p, size_t n)
{
    const unsigned char *s = p;
    unsigned cp;

    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_decode_one(s + i, n - i, &cp);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

/* cp1252_append - one byte of Windows-1252 as UTF-8 */
static void cp1252_append(unsigned char c, struct str *out)
{
    if (c < 0x80)
        str_catc(out, c);
    else if (c < 0xA0)
        utf8_encode_one(cp1252_high[c - 0x80] ? cp1252_high[c - 0x80] : 0xFFFD, out);
    else
        utf8_encode_one(c, out);
}

void utf8_repair(const void *p, size_t n, struct str *out)
{
    const unsigned char *s = p;
    unsigned cp;

    str_reserve(out, n);
    for (size_t i = 0; i < n;) {
        size_t run = i;
        while (run < n && s[run] < 0x80)
            run++;
        if (run > i) {
            str_catn(out, s + i, run - i);
            i = run;
            continue;
        }
        size_t k = utf8_decode_one(s + i, n - i, &cp);
        if (k) {
            str_catn(out, s + i, k);
            i += k;
        } else {
            cp1252_append(s[i], out);
            i++;
        }
    }
}

/* is_utf8_alias - charsets read by the validate-or-repair path */
static int is_utf8_alias(const char *cs)
{
    static const char *names[] = {"utf-8",          "utf8",       "us-ascii",       "ascii",
                                  "unknown-8bit",   "x-unknown",  "x-user-defined", "default",
                                  "ansi_x3.4-1968", "iso-8859-1", "iso8859-1",      "iso_8859-1",
                                  "latin1",         "l1",         "windows-1252",   "cp1252"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(cs, names[i]) == 0)
            return 1;
    return 0;
}

/* cache_get - an open converter from charset to UTF-8, or (iconv_t)-1 */
static iconv_t cache_get(const char *cs)
{
    size_t victim = 0;

    if (strlen(cs) >= CHARSET_NAME_MAX)
        return (iconv_t)-1;
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        if (cache[i].name[0] && strcasecmp(cache[i].name, cs) == 0) {
            cache[i].used = ++cache_clock;
            iconv(cache[i].cd, NULL, NULL, NULL, NULL);
            return cache[i].cd;
        }
        if (cache[i].used < cache[victim].used)
            victim = i;
    }
    iconv_t cd = iconv_open("UTF-8", cs);
    if (cd == (iconv_t)-1)
        return cd;
    if (cache[victim].name[0])
        iconv_close(cache[victim].cd);
    strcpy(cache[victim].name, cs);
    cache[victim].cd = cd;
    cache[victim].used = ++cache_clock;
    return cd;
}

int charset_known(const char *charset)
{
    if (charset == NULL || *charset == '\0' || is_utf8_alias(charset))
        return 1;
    return cache_get(charset) != (iconv_t)-1;
}

/* convert - run iconv over the whole input, replacing invalid sequences by U+FFFD */
static void convert(iconv_t cd, const char *in, size_t n, struct str *out)
{
    char *ip = (char *)in;
    size_t ileft = n;

    while (ileft > 0) {
        str_reserve(out, ileft * 2 + 16);
        char *op = out->s + out->len;
        size_t oleft = out->cap - out->len - 1;
        size_t r = iconv(cd, &ip, &ileft, &op, &oleft);
        out->len = (size_t)(op - out->s);
        out->s[out->len] = '\0';
        if (r != (size_t)-1)
            break;
        int e = errno;
        if (e == E2BIG)
            continue;
        /* EILSEQ or EINVAL (truncated at the end): one replacement character */
        utf8_encode_one(0xFFFD, out);
        iconv(cd, NULL, NULL, NULL, NULL);
        if (e == EINVAL && ileft < 8) {
            ileft = 0;
            break;
        }
        ip++;
        ileft--;
    }
    /* flush any shift state (ISO-2022-JP) */
    str_reserve(out, 16);
    char *op = out->s + out->len;
    size_t oleft = out->cap - out->len - 1;
    iconv(cd, NULL, NULL, &op, &oleft);
    out->len = (size_t)(op - out->s);
    out->s[out->len] = '\0';
}

int charset_to_utf8(const char *charset, const void *in, size_t n, struct str *out)
{
    if (charset == NULL || *charset == '\0' || is_utf8_alias(charset)) {
        utf8_repair(in, n, out);
        return 0;
    }
    iconv_t cd = cache_get(charset);
    if (cd == (iconv_t)-1) {
        utf8_repair(in, n, out);
        return -1;
    }
    size_t start = out->len;
    convert(cd, in, n, out);
    /* a converter to UTF-8 produces UTF-8; make sure of it anyway */
    if (!utf8_valid(out->s + start, out->len - start)) {
        struct str tmp = STR_INIT;
        utf8_repair(out->s + start, out->len - start, &tmp);
        str_truncate(out, start);
        str_catn(out, tmp.s, tmp.len);
        str_free(&tmp);
    }
    return 0;
}

void utf8_fold(const void *p, size_t n, struct str *out)
{
    static locale_t loc;
    static int tried;
    const unsigned char *s = p;
    unsigned cp;

    if (!tried) {
        tried = 1;
        loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    }
    str_reserve(out, n);
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80) {
            unsigned char c = s[i++];
            str_catc(out, c >= 'A' && c <= 'Z' ? c + 32 : c);
            continue;
        }
        size_t k = utf8_decode_one(s + i, n - i, &cp);
        if (k == 0) {
            str_catc(out, s[i++]);
            continue;
        }
        i += k;
        if (loc != (locale_t)0)
            cp = (unsigned)towlower_l((wint_t)cp, loc);
        utf8_encode_one(cp, out);
    }
}
