/*
 * netmatch.c - client addresses against network lists (mynetworks style)
 *
 * Both sides are parsed with inet_pton into 16-byte form (IPv4 as
 * IPv4-mapped IPv6), so one prefix comparison serves both families.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "netmatch.h"

/* parse_addr - text (optionally in brackets) to 16 bytes; bits is 32 or 128 */
static int parse_addr(const char *text, size_t n, unsigned char out[16], int *bits)
{
    char buf[64];
    struct in_addr a4;

    if (n >= 2 && text[0] == '[' && text[n - 1] == ']') {
        text++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, text, n);
    buf[n] = '\0';
    if (strncasecmp(buf, "ipv6:", 5) == 0)
        memmove(buf, buf + 5, strlen(buf + 5) + 1);
    if (inet_pton(AF_INET, buf, &a4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        *bits = 32;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, out) == 1) {
        *bits = 128;
        /* an IPv4-mapped address is an IPv4 address */
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(out, mapped, 12) == 0)
            *bits = 32;
        return 0;
    }
    return -1;
}

int netmatch(const char *pattern, const char *addr)
{
    unsigned char p[16], a[16];
    const char *slash = strrchr(pattern, '/');
    size_t n = slash ? (size_t)(slash - pattern) : strlen(pattern);
    int pbits, abits, prefix;

    if (parse_addr(pattern, n, p, &pbits) < 0)
        return -1;
    prefix = pbits;
    if (slash) {
        char *end;
        long v = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end != '\0' || v < 0 || v > pbits)
            return -1;
        prefix = (int)v;
    }
    if (parse_addr(addr, strlen(addr), a, &abits) < 0 || abits != pbits)
        return 0;
    prefix += 128 - pbits; /* IPv4 prefixes count after the 96 mapped bits */
    for (int i = 0; i < 16 && prefix > 0; i++, prefix -= 8) {
        unsigned char mask = prefix >= 8 ? 0xff : (unsigned char)(0xff << (8 - prefix));
        if ((p[i] & mask) != (a[i] & mask))
            return 0;
    }
    return 1;
}

int netmatch_param(enum cfg_list_param param, const char *addr)
{
    struct strlist l = STRLIST_INIT;
    int hit = 0;

    cfg_list(cfg_main, param, &l);
    for (size_t i = 0; i < l.n && !hit; i++)
        hit = netmatch(l.v[i], addr) == 1;
    strlist_free(&l);
    return hit;
}

int netmatch_check(enum cfg_list_param param, struct str *err)
{
    struct strlist l = STRLIST_INIT;
    int rc = 0;

    cfg_list(cfg_main, param, &l);
    for (size_t i = 0; i < l.n && rc == 0; i++)
        if (netmatch(l.v[i], "127.0.0.1") < 0) {
            str_printf(err,
                       "%s: '%s' is not an address or CIDR network (host names and "
                       "tables are not supported here)",
                       cfg_name(param), l.v[i]);
            rc = -1;
        }
    strlist_free(&l);
    return rc;
}
