/*
 * addr.c - mail addresses: splitting, extensions, the class of a domain
 *
 * The internal form (doc/internals.md) keeps a quoted local part unquoted, so
 * "a@b"@example.test is a@b@example.test; the domain starts after the last '@'.
 * That is only unambiguous while no domain holds an '@', so the SMTP parser
 * refuses an address literal with '@' in it, and addr_split() reports an address
 * whose tail is not a whole domain (a literal that was split in two) so that
 * no program routes it. Every program finds the domain with addr_domain_at().
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "cfg.h"
#include "map.h"
#include "mem.h"

const char *addr_domain_at(const char *addr)
{
    return strrchr(addr, '@');
}

int addr_internal_ok(const char *addr)
{
    const char *at = addr_domain_at(addr), *d, *close;
    size_t n;

    if (at == NULL)
        return 1; /* a bare local part */
    d = at + 1;
    n = strlen(d);
    if (strpbrk(d, "[]") == NULL)
        return 1;
    /* one whole literal: "[" no brackets "]" (RFC 5321 4.1.3 dcontent excludes them) */
    close = strchr(d, ']');
    return n >= 3 && d[0] == '[' && close == d + n - 1 && strchr(d + 1, '[') == NULL;
}

int addr_split(const char *addr, struct str *local, struct str *domain)
{
    const char *at = addr_domain_at(addr);

    if (at == NULL) {
        str_cpy(local, addr);
        str_reset(domain);
        return 0;
    }
    str_cpyn(local, addr, (size_t)(at - addr));
    str_cpy(domain, at + 1);
    str_lower(domain);
    return addr_internal_ok(addr) ? 0 : -1;
}

void addr_strip_extension(struct str *local, struct str *ext)
{
    const char *delims = cfg_str(cfg_main, P_recipient_delimiter);
    size_t n;

    if (ext)
        str_reset(ext);
    if (*delims == '\0' || local->len == 0)
        return;
    n = strcspn(local->s, delims);
    /* "+foo" alone or a local part that starts with the delimiter keeps it */
    if (n == 0 || n >= local->len)
        return;
    if (ext)
        str_cpy(ext, local->s + n + 1);
    str_truncate(local, n);
}

/* is_atext - RFC 5322 atext, ASCII part */
static int is_atext(int c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

void addr_quote_local(const char *local, struct str *out)
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

void addr_external(const char *addr, struct str *out)
{
    const char *at = addr_domain_at(addr);
    struct str local = STR_INIT;

    if (*addr == '\0')
        return;
    str_cpyn(&local, addr, at ? (size_t)(at - addr) : strlen(addr));
    addr_quote_local(str_c(&local), out);
    if (at)
        str_cat(out, at);
    str_free(&local);
}

/* match_entry - one list entry against a folded domain: 1, 0 or ADDR_TEMPFAIL */
static int match_entry(const char *entry, const char *domain)
{
    if (strchr(entry, ':') && entry[0] != '[') {
        struct str err = STR_INIT, v = STR_INIT;
        struct map *m = map_open(entry, &err);
        int r = m ? map_lookup(m, domain, &v) : MAP_ERROR;
        map_close(m);
        str_free(&err);
        str_free(&v);
        return r == MAP_ERROR ? ADDR_TEMPFAIL : r == MAP_FOUND;
    }
    if (entry[0] == '.') {
        size_t dl = strlen(domain), el = strlen(entry);
        return dl > el && strcasecmp(domain + dl - el, entry) == 0;
    }
    return strcasecmp(entry, domain) == 0;
}

/* addr_in_domain_list - whether domain matches a list parameter; ADDR_TEMPFAIL on
 * a table failure */
static int addr_in_domain_list(enum cfg_list_param param, const char *domain)
{
    struct strlist l = STRLIST_INIT;
    int r = 0;

    cfg_list(cfg_main, param, &l);
    for (size_t i = 0; i < l.n && r == 0; i++)
        r = match_entry(l.v[i], domain);
    strlist_free(&l);
    return r;
}

int addr_is_our_literal(const char *domain)
{
    size_t n = strlen(domain);
    char text[128];
    unsigned char want[16];
    int family;
    struct ifaddrs *ifa, *p;
    int found = 0;

    if (n < 3 || domain[0] != '[' || domain[n - 1] != ']' || n - 2 >= sizeof(text))
        return 0;
    memcpy(text, domain + 1, n - 2);
    text[n - 2] = '\0';
    if (strncasecmp(text, "ipv6:", 5) == 0) {
        family = AF_INET6;
        memmove(text, text + 5, strlen(text + 5) + 1);
    } else {
        family = AF_INET;
    }
    if (inet_pton(family, text, want) != 1)
        return 0;
    if (getifaddrs(&ifa) < 0)
        return 0;
    for (p = ifa; p && !found; p = p->ifa_next) {
        if (p->ifa_addr == NULL || p->ifa_addr->sa_family != family)
            continue;
        if (family == AF_INET)
            found = memcmp(&((struct sockaddr_in *)p->ifa_addr)->sin_addr, want, 4) == 0;
        else
            found = memcmp(&((struct sockaddr_in6 *)p->ifa_addr)->sin6_addr, want, 16) == 0;
    }
    freeifaddrs(ifa);
    return found;
}

int addr_domain_class(const char *domain)
{
    char *d = lowercase(xstrdup(domain));
    int r;

    /* a trailing dot names the same domain */
    size_t n = strlen(d);
    if (n > 1 && d[n - 1] == '.')
        d[n - 1] = '\0';
    if (strcmp(d, "localhost") == 0 || addr_is_our_literal(d))
        r = ADDR_LOCAL;
    else if ((r = addr_in_domain_list(P_mydestination, d)) != 0)
        r = r < 0 ? ADDR_TEMPFAIL : ADDR_LOCAL;
    else if ((r = addr_in_domain_list(P_virtual_mailbox_domains, d)) != 0)
        r = r < 0 ? ADDR_TEMPFAIL : ADDR_VIRTUAL;
    else if ((r = addr_in_domain_list(P_relay_domains, d)) != 0)
        r = r < 0 ? ADDR_TEMPFAIL : ADDR_RELAY;
    free(d);
    return r;
}
