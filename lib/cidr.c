/*
 * cidr.c - matching client addresses against network lists (mynetworks)
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "mem.h"

struct net {
    int family;
    unsigned char addr[16];
    int bits;
};

/* parse_net - "addr", "addr/bits", "[addr]" or "[addr]/bits" */
static int parse_net(const char *spec, struct net *n)
{
    char buf[80];
    const char *slash = strrchr(spec, '/');
    size_t alen = slash ? (size_t)(slash - spec) : strlen(spec);

    if (alen == 0 || alen >= sizeof(buf))
        return -1;
    memcpy(buf, spec, alen);
    buf[alen] = '\0';
    char *a = buf;
    if (a[0] == '[') {
        if (a[alen - 1] != ']')
            return -1;
        a[alen - 1] = '\0';
        a++;
    }
    if (inet_pton(AF_INET, a, n->addr) == 1)
        n->family = AF_INET;
    else if (inet_pton(AF_INET6, a, n->addr) == 1)
        n->family = AF_INET6;
    else
        return -1;
    int max = n->family == AF_INET ? 32 : 128;
    n->bits = max;
    if (slash) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || b < 0 || b > max)
            return -1;
        n->bits = (int)b;
    }
    return 0;
}

int cidr_match(const char *spec, const char *addr)
{
    struct net net, a;

    if (parse_net(spec, &net) < 0)
        return -1;
    if (parse_net(addr, &a) < 0 || a.family != net.family)
        return 0;
    int full = net.bits / 8, rest = net.bits % 8;
    if (memcmp(net.addr, a.addr, (size_t)full) != 0)
        return 0;
    if (rest) {
        unsigned char mask = (unsigned char)(0xFF << (8 - rest));
        if ((net.addr[full] & mask) != (a.addr[full] & mask))
            return 0;
    }
    return 1;
}

int cidr_match_list(const struct strlist *specs, const char *addr)
{
    for (size_t i = 0; i < specs->n; i++)
        if (cidr_match(specs->v[i], addr) == 1)
            return 1;
    return 0;
}

int cidr_check(const struct strlist *specs, struct str *err)
{
    struct net n;

    for (size_t i = 0; i < specs->n; i++) {
        if (parse_net(specs->v[i], &n) < 0) {
            str_printf(err, "not a network address: %s", specs->v[i]);
            return -1;
        }
    }
    return 0;
}
