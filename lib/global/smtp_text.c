/*
 * smtp_text.c - SMTP text forms shared by the server and the client
 *
 * xtext per RFC 3461 4 (upper-case hex after '+'). The quoting of local
 * parts for SMTP paths is addr_external() in addr.c. See smtp_text.h.
 */

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
