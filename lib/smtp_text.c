/*
 * smtp_text.c - SMTP text forms shared by the server and the client
 *
 * xtext per RFC 3461 4 (upper-case hex after '+'), and quoting of local
 * parts per RFC 5321 4.1.2 (a Local-part is a Dot-string or a
 * Quoted-string). Addresses in queue files are in the internal form
 * (doc/internals.md): the local part unquoted, the domain after the last
 * '@'. See smtp_text.h.
 */
#include <ctype.h>
#include <string.h>

#include "smtp_text.h"

/* hexval - value of an upper-case hex digit, -1 otherwise */
static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* is_atext - RFC 5322 atext (ASCII part) */
static int is_atext(int c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

int smtp_xtext_decode(const char *in, struct str *out)
{
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (*p == '+') {
            int h = hexval(p[1]), l = h < 0 ? -1 : hexval(p[2]);
            if (h < 0 || l < 0)
                return -1;
            str_catc(out, h * 16 + l);
            p += 2;
        } else if (*p >= 33 && *p <= 126 && *p != '=') {
            str_catc(out, *p);
        } else {
            return -1;
        }
    }
    return 0;
}

void smtp_xtext_encode(const char *in, size_t n, struct str *out)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 33 && c <= 126 && c != '+' && c != '=')
            str_catc(out, c);
        else
            str_printf(out, "+%02X", c);
    }
}

void smtp_quote_local(const char *local, struct str *out)
{
    size_t n = strlen(local);
    int atom = n > 0 && local[0] != '.' && local[n - 1] != '.';

    for (size_t i = 0; atom && i < n; i++) {
        unsigned char c = (unsigned char)local[i];
        if (c == '.' ? local[i + 1] == '.' : !(is_atext(c) || c >= 0x80))
            atom = 0;
    }
    if (atom) {
        str_cat(out, local);
        return;
    }
    str_catc(out, '"');
    for (size_t i = 0; i < n; i++) {
        if (local[i] == '"' || local[i] == '\\')
            str_catc(out, '\\');
        str_catc(out, local[i]);
    }
    str_catc(out, '"');
}

void smtp_quote_addr(const char *addr, struct str *out)
{
    const char *at = strrchr(addr, '@');
    struct str local = STR_INIT;

    if (*addr == '\0')
        return;
    str_cpyn(&local, addr, at ? (size_t)(at - addr) : strlen(addr));
    smtp_quote_local(local.s, out);
    if (at)
        str_cat(out, at);
    str_free(&local);
}
