/*
 * base64.c - strict base64 (RFC 4648) for SASL and MIME
 */
#include "base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_encode(const void *in, size_t n, struct str *out)
{
    const unsigned char *p = in;
    size_t i;

    str_reserve(out, (n + 2) / 3 * 4);
    for (i = 0; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        char q[4] = {alphabet[v >> 18], alphabet[(v >> 12) & 63], alphabet[(v >> 6) & 63],
                     alphabet[v & 63]};
        str_catn(out, q, 4);
    }
    if (n - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        char q[4] = {alphabet[v >> 18], alphabet[(v >> 12) & 63], '=', '='};
        str_catn(out, q, 4);
    } else if (n - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        char q[4] = {alphabet[v >> 18], alphabet[(v >> 12) & 63], alphabet[(v >> 6) & 63], '='};
        str_catn(out, q, 4);
    }
}

/* value - the 6-bit value of a base64 character, or -1 */
static int value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int base64_decode(const char *in, size_t n, struct str *out)
{
    const unsigned char *p = (const unsigned char *)in;

    if (n % 4 != 0)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            if (p[i + j] == '=' && i + 4 == n && j >= 2) {
                v[j] = 0;
                pad++;
            } else if (pad || (v[j] = value(p[i + j])) < 0) {
                return -1;
            }
        }
        unsigned bits =
            (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        /* canonical: the bits under the padding must be zero */
        if ((pad == 1 && (bits & 0xff)) || (pad == 2 && (bits & 0xffff)))
            return -1;
        str_catc(out, (int)(bits >> 16));
        if (pad < 2)
            str_catc(out, (int)((bits >> 8) & 0xff));
        if (pad < 1)
            str_catc(out, (int)(bits & 0xff));
    }
    return 0;
}

int base64_decode_mime(const char *in, size_t n, struct str *out)
{
    unsigned bits = 0;
    int count = 0;

    for (size_t i = 0; i < n; i++) {
        int v;
        if (in[i] == '=')
            break;
        if ((v = value((unsigned char)in[i])) < 0)
            continue;
        bits = bits << 6 | (unsigned)v;
        if (++count == 4) {
            str_catc(out, (int)(bits >> 16));
            str_catc(out, (int)((bits >> 8) & 0xff));
            str_catc(out, (int)(bits & 0xff));
            bits = 0;
            count = 0;
        }
    }
    if (count == 2)
        str_catc(out, (int)(bits >> 4));
    else if (count == 3) {
        str_catc(out, (int)(bits >> 10));
        str_catc(out, (int)((bits >> 2) & 0xff));
    }
    return 0;
}
