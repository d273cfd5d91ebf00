/*
 * imap_write.c - IMAP output: strings in the form the grammar allows
 */
#include <string.h>
#include <strings.h>

#include "imap_write.h"

/* is_atom_char - RFC 3501 9 ATOM-CHAR: CHAR except atom-specials */
static int is_atom_char(unsigned char c)
{
    return c > 32 && c < 127 && strchr("(){%*\"\\]", c) == NULL;
}

/* imap_is_atom - whether n bytes form an atom (RFC 3501 9: 1*ATOM-CHAR) */
static int imap_is_atom(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_atom_char((unsigned char)s[i]))
            return 0;
    return 1;
}

/* imap_is_quotable - whether n bytes can go out as a quoted string */
static int imap_is_quotable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0 || c == '\r' || c == '\n' || c >= 128)
            return 0;
    }
    return 1;
}

/* imap_append_quoted - "..." with \ and " escaped (the caller checked imap_is_quotable) */
static void imap_append_quoted(struct str *out, const char *s, size_t n)
{
    size_t run = 0; /* start of the bytes not yet copied */

    str_reserve(out, n + 2);
    str_catc(out, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            str_catn(out, s + run, i - run);
            str_catc(out, '\\');
            run = i;
        }
    }
    str_catn(out, s + run, n - run);
    str_catc(out, '"');
}

/* imap_append_literal - {n} CRLF and the bytes (NUL as 0x80) */
static void imap_append_literal(struct str *out, const char *s, size_t n)
{
    str_printf(out, "{%zu}\r\n", n);
    size_t start = out->len;
    str_catn(out, s, n);
    for (size_t i = start; i < out->len; i++)
        if (out->s[i] == '\0')
            out->s[i] = (char)0x80;
}

/* imap_append_string - quoted string when possible, else literal */
static void imap_append_string(struct str *out, const char *s, size_t n)
{
    if (imap_is_quotable(s, n))
        imap_append_quoted(out, s, n);
    else
        imap_append_literal(out, s, n);
}

void imap_append_nstring(struct str *out, const char *s, size_t n)
{
    if (s == NULL)
        str_cat(out, "NIL");
    else
        imap_append_string(out, s, n);
}

void imap_append_cstring(struct str *out, const char *s)
{
    imap_append_string(out, s, strlen(s));
}

void imap_append_cnstring(struct str *out, const char *s)
{
    imap_append_nstring(out, s, s ? strlen(s) : 0);
}

void imap_append_astring(struct str *out, const char *s, size_t n)
{
    /* ASTRING-CHAR also allows ']', which an atom here never needs */
    if (imap_is_atom(s, n) && !(n == 3 && strncasecmp(s, "NIL", 3) == 0))
        str_catn(out, s, n);
    else
        imap_append_string(out, s, n);
}
