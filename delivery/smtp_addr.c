/*
 * smtp_addr.c - next hops, MX and address lookups, the loop to ourselves
 *
 * A next hop as routed by qmgr is "domain" or "host:port" (MX lookup, then
 * the hosts' addresses; no MX record means the implicit MX, the domain's
 * own addresses, RFC 5321 5.1) or "[host]" / "[host]:port" / "[ip]" (no MX
 * lookup). The port is the one given, else $smtp_tcp_port. MX hosts are
 * tried by preference, equal preferences in random order; the addresses
 * of one host in random order, A and AAAA per $inet_protocols; at most
 * $smtp_mx_address_limit addresses in all.
 *
 * Mail must never loop to ourselves: an MX host named $myhostname or with
 * one of our addresses ($inet_interfaces, or every interface address when
 * that is "all") ends the list before its preference; when that is the
 * best MX the mail bounces with 5.4.6 (Postfix's "mail for X loops back to
 * myself"), when only better MX hosts without address are left it is
 * deferred (4.4.4). A [host] next hop that is ourselves bounces the same
 * way. As in Postfix this holds for the default port ($smtp_tcp_port)
 * only: a next hop with another port is another service, such as a
 * content filter on this host. Lookups go through lib/global/dns.h with
 * $smtp_dns_servers.
 *
 * Outcomes: NXDOMAIN for the domain bounces (5.1.2), a null MX (RFC 7505)
 * bounces (5.1.10), hosts without any address bounce (5.4.4), DNS
 * trouble defers (4.4.3).
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"
#include "dns.h"
#include "log.h"
#include "mem.h"

#include "smtp.h"

static struct dns_resolver *resolver;
static struct sockaddr_storage *ours;
static size_t nours;
static int want_v4, want_v6;

/* add_our - remember one of our addresses */
static void add_our(const struct sockaddr *sa)
{
    ours = xreallocarray(ours, nours + 1, sizeof(*ours));
    memset(&ours[nours], 0, sizeof(ours[nours]));
    memcpy(&ours[nours++], sa,
           sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
}

/* add_our_text - an inet_interfaces entry that is a numeric address ([] allowed) */
static void add_our_text(const char *text)
{
    struct sockaddr_storage ss;
    socklen_t len;
    struct str t = STR_INIT;
    size_t n = strlen(text);

    if (n >= 2 && text[0] == '[' && text[n - 1] == ']')
        str_cpyn(&t, text + 1, n - 2);
    else
        str_cpy(&t, text);
    if (dns_parse_server(t.s, &ss, &len) == 0 && strchr(t.s, ']') == NULL)
        add_our((struct sockaddr *)&ss);
    str_free(&t);
}

/* our_addresses - the addresses of $inet_interfaces */
static void our_addresses(void)
{
    struct strlist ifs = STRLIST_INIT;
    int all = 0;

    cfg_list(cfg_main, P_inet_interfaces, &ifs);
    for (size_t i = 0; i < ifs.n; i++) {
        if (strcasecmp(ifs.v[i], "all") == 0)
            all = 1;
        else if (strcasecmp(ifs.v[i], "loopback-only") == 0) {
            add_our_text("127.0.0.1");
            add_our_text("::1");
        } else
            add_our_text(ifs.v[i]);
    }
    if (all || ifs.n == 0) {
        struct ifaddrs *ifa;
        if (getifaddrs(&ifa) == 0) {
            for (struct ifaddrs *p = ifa; p; p = p->ifa_next)
                if (p->ifa_addr &&
                    (p->ifa_addr->sa_family == AF_INET || p->ifa_addr->sa_family == AF_INET6))
                    add_our(p->ifa_addr);
            freeifaddrs(ifa);
        } else {
            log_warn("getifaddrs: cannot list our interface addresses for loop detection");
        }
    }
    strlist_free(&ifs);
}

void smtp_addr_init(void)
{
    struct strlist servers = STRLIST_INIT, protos = STRLIST_INIT;
    struct str err = STR_INIT;

    cfg_list(cfg_main, P_smtp_dns_servers, &servers);
    resolver = dns_open(&servers, (int)cfg_time(cfg_main, P_smtp_dns_timeout),
                        (int)cfg_int(cfg_main, P_smtp_dns_attempts), &err);
    if (resolver == NULL)
        log_fatal("smtp_dns_servers: %s", str_c(&err));
    cfg_list(cfg_main, P_inet_protocols, &protos);
    for (size_t i = 0; i < protos.n; i++) {
        if (strcasecmp(protos.v[i], "all") == 0)
            want_v4 = want_v6 = 1;
        else if (strcasecmp(protos.v[i], "ipv4") == 0)
            want_v4 = 1;
        else if (strcasecmp(protos.v[i], "ipv6") == 0)
            want_v6 = 1;
    }
    if (!want_v4 && !want_v6)
        want_v4 = 1;
    our_addresses();
    strlist_free(&servers);
    strlist_free(&protos);
    str_free(&err);
}

void smtp_addr_free(void)
{
    dns_close(resolver);
    resolver = NULL;
    free(ours);
    ours = NULL;
    nours = 0;
}

int smtp_is_our_addr(const struct sockaddr *sa)
{
    for (size_t i = 0; i < nours; i++) {
        const struct sockaddr *o = (const struct sockaddr *)&ours[i];
        if (o->sa_family != sa->sa_family)
            continue;
        if (sa->sa_family == AF_INET && memcmp(&((const struct sockaddr_in *)o)->sin_addr,
                                               &((const struct sockaddr_in *)sa)->sin_addr, 4) == 0)
            return 1;
        if (sa->sa_family == AF_INET6 &&
            memcmp(&((const struct sockaddr_in6 *)o)->sin6_addr,
                   &((const struct sockaddr_in6 *)sa)->sin6_addr, 16) == 0)
            return 1;
    }
    return 0;
}

int smtp_nexthop_parse(const char *text, int default_port, struct smtp_nexthop *out)
{
    struct str host = STR_INIT;
    const char *rest;
    unsigned long long port = (unsigned long long)default_port;

    memset(out, 0, sizeof(*out));
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL)
            goto bad;
        str_cpyn(&host, text + 1, (size_t)(close - text - 1));
        if (has_prefix_ci(host.s ? host.s : "", "ipv6:"))
            str_cpy(&host, host.s + 5);
        rest = close + 1;
    } else {
        const char *colon = strchr(text, ':');
        str_cpyn(&host, text, colon ? (size_t)(colon - text) : strlen(text));
        rest = colon ? colon : "";
        out->mx = 1;
    }
    if (*rest == ':') {
        if (parse_ulong(rest + 1, 65535, &port) < 0 || port == 0)
            goto bad;
    } else if (*rest) {
        goto bad;
    }
    if (host.len == 0)
        goto bad;
    if (!dns_valid_name(host.s)) {
        struct in6_addr a6;
        struct in_addr a4;
        if (out->mx ||
            (inet_pton(AF_INET, host.s, &a4) != 1 && inet_pton(AF_INET6, host.s, &a6) != 1))
            goto bad;
    }
    if (host.s[host.len - 1] == '.')
        str_truncate(&host, host.len - 1);
    out->host = str_steal(&host);
    out->port = (int)port;
    return 0;
bad:
    str_free(&host);
    return -1;
}

void smtp_nexthop_free(struct smtp_nexthop *nh)
{
    free(nh->host);
    nh->host = NULL;
}

void smtp_addr_list_free(struct smtp_addr_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].host);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* addr_add - append one address of host */
static void addr_add(struct smtp_addr_list *l, const char *host, unsigned pref, int family,
                     const unsigned char *a, int port)
{
    struct smtp_addr *x;

    l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
    x = &l->v[l->n++];
    memset(x, 0, sizeof(*x));
    x->host = xstrdup(host);
    x->pref = pref;
    x->port = port;
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&x->sa;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((unsigned short)port);
        memcpy(&sin->sin_addr, a, 4);
        x->salen = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&x->sa;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((unsigned short)port);
        memcpy(&sin6->sin6_addr, a, 16);
        x->salen = sizeof(*sin6);
    }
    sock_addr_text((struct sockaddr *)&x->sa, x->ip, sizeof(x->ip), NULL);
}

/* host_addrs - the A/AAAA addresses of one host appended to l (in random order);
 * DNS_OK when some were added, else the worst lookup result with why */
static int host_addrs(const char *host, unsigned pref, int port, struct smtp_addr_list *l,
                      struct str *why)
{
    struct dns_rr_list rr = {NULL, 0};
    struct str w = STR_INIT;
    int types[2], ntypes = 0, result = DNS_NOTFOUND;
    size_t first = l->n;

    if (want_v6)
        types[ntypes++] = DNS_T_AAAA;
    if (want_v4)
        types[ntypes++] = DNS_T_A;
    for (int t = 0; t < ntypes; t++) {
        int r = dns_query(resolver, host, types[t], &rr, &w);
        if (r == DNS_OK) {
            for (size_t i = 0; i < rr.n; i++)
                addr_add(l, host, pref, types[t] == DNS_T_A ? AF_INET : AF_INET6, rr.v[i].addr,
                         port);
        } else if (r == DNS_TEMPFAIL || result != DNS_TEMPFAIL) {
            /* keep the most telling failure: a temporary one, else the last */
            result = r;
            str_cpy(why, str_c(&w));
        }
    }
    for (size_t i = l->n; i > first + 1; i--) {
        size_t j = first + (size_t)random() % (i - first);
        struct smtp_addr tmp = l->v[i - 1];
        l->v[i - 1] = l->v[j];
        l->v[j] = tmp;
    }
    dns_rr_list_free(&rr);
    str_free(&w);
    return l->n > first ? DNS_OK : result;
}

/* truncate_from - drop the addresses from index i on */
static void truncate_from(struct smtp_addr_list *l, size_t i)
{
    while (l->n > i)
        free(l->v[--l->n].host);
}

/* literal - the address of "[ip]" */
static int literal(const struct smtp_nexthop *nh, struct smtp_addr_list *out)
{
    unsigned char a[16];

    if (inet_pton(AF_INET, nh->host, a) == 1)
        addr_add(out, nh->host, 0, AF_INET, a, nh->port);
    else if (inet_pton(AF_INET6, nh->host, a) == 1)
        addr_add(out, nh->host, 0, AF_INET6, a, nh->port);
    else
        return -1;
    return 0;
}

/* self_cut - the index of the first address that is ours or of an MX host named
 * $myhostname, with every address of equal or worse preference; l->n when none */
static size_t self_cut(const struct smtp_addr_list *l)
{
    const char *me = cfg_str(cfg_main, P_myhostname);

    for (size_t i = 0; i < l->n; i++) {
        if (strcasecmp(l->v[i].host, me) == 0 ||
            smtp_is_our_addr((const struct sockaddr *)&l->v[i].sa)) {
            while (i > 0 && l->v[i - 1].pref == l->v[i].pref)
                i--;
            return i;
        }
    }
    return l->n;
}

/* loop_check - whether to look for ourselves: only at the default port (Postfix looks only
 * at port 25), since another port is another service, e.g. a content filter on this host */
static int loop_check(const struct smtp_nexthop *nh)
{
    return nh->port == (int)cfg_int(cfg_main, P_smtp_tcp_port);
}

/* mx_addrs - addresses of the MX hosts in rr (sorted), up to limit */
static int mx_addrs(const struct smtp_nexthop *nh, struct dns_rr_list *rr,
                    struct smtp_addr_list *out, struct smtp_why *why)
{
    long long limit = cfg_int(cfg_main, P_smtp_mx_address_limit);
    const char *me = cfg_str(cfg_main, P_myhostname);
    struct str w = STR_INIT;
    int tempfail = 0;
    unsigned best_pref = rr->n ? rr->v[0].pref : 0;
    size_t cut;

    for (size_t i = 0; i < rr->n && (limit == 0 || (long long)out->n < limit); i++) {
        if (rr->v[i].name[0] == '\0')
            continue; /* a null MX among others is ignored */
        if (strcasecmp(rr->v[i].name, me) == 0) {
            /* no need to look up our own name: everything from here on is cut below */
            addr_add(out, rr->v[i].name, rr->v[i].pref, AF_INET, (const unsigned char *)"\0\0\0",
                     nh->port);
            break;
        }
        int r = host_addrs(rr->v[i].name, rr->v[i].pref, nh->port, out, &w);
        if (r == DNS_TEMPFAIL)
            tempfail = 1;
    }
    if (limit > 0 && (long long)out->n > limit)
        truncate_from(out, (size_t)limit);
    cut = loop_check(nh) ? self_cut(out) : out->n;
    if (cut == 0 && out->n > 0) {
        if (out->v[0].pref == best_pref)
            smtp_why_set(why, DELIVER_BOUNCED, "5.4.6", "mail for %s loops back to myself",
                         nh->host);
        else /* the better MX hosts have no address: they may have one later */
            smtp_why_set(why, DELIVER_DEFERRED, "4.4.4", "unable to find primary relay for %s",
                         nh->host);
        truncate_from(out, 0);
        str_free(&w);
        return -1;
    }
    truncate_from(out, cut);
    if (out->n == 0) {
        if (tempfail)
            smtp_why_set(why, DELIVER_DEFERRED, "4.4.3", "Host or domain name not found. %s",
                         str_c(&w));
        else
            smtp_why_set(why, DELIVER_BOUNCED, "5.4.4", "Host or domain name not found. %s",
                         str_c(&w));
        str_free(&w);
        return -1;
    }
    str_free(&w);
    return 0;
}

/* host_only - the addresses of a host without MX lookup ([host] or the implicit MX) */
static int host_only(const struct smtp_nexthop *nh, struct smtp_addr_list *out,
                     struct smtp_why *why)
{
    long long limit = cfg_int(cfg_main, P_smtp_mx_address_limit);
    struct str w = STR_INIT;
    int r;

    if (!nh->mx && literal(nh, out) == 0) {
        r = DNS_OK;
    } else if ((r = host_addrs(nh->host, 0, nh->port, out, &w)) != DNS_OK) {
        if (r == DNS_TEMPFAIL)
            smtp_why_set(why, DELIVER_DEFERRED, "4.4.3", "Host or domain name not found. %s",
                         str_c(&w));
        else
            smtp_why_set(why, DELIVER_BOUNCED, nh->mx ? "5.1.2" : "5.4.4",
                         "Host or domain name not found. %s", str_c(&w));
        str_free(&w);
        return -1;
    }
    str_free(&w);
    if (limit > 0 && (long long)out->n > limit)
        truncate_from(out, (size_t)limit);
    if (loop_check(nh) && self_cut(out) < out->n) {
        smtp_why_set(why, DELIVER_BOUNCED, "5.4.6", "mail for %s loops back to myself", nh->host);
        truncate_from(out, 0);
        return -1;
    }
    return 0;
}

int smtp_resolve(const struct smtp_nexthop *nh, struct smtp_addr_list *out, struct smtp_why *why)
{
    struct dns_rr_list rr = {NULL, 0};
    struct str w = STR_INIT;
    int r, rc = -1;

    smtp_addr_list_free(out);
    if (!nh->mx)
        return host_only(nh, out, why);
    r = dns_query(resolver, nh->host, DNS_T_MX, &rr, &w);
    switch (r) {
    case DNS_OK:
        if (rr.n == 1 && rr.v[0].name[0] == '\0') {
            /* RFC 7505 3: a null MX - the domain accepts no mail */
            smtp_why_set(why, DELIVER_BOUNCED, "5.1.10", "Domain %s does not accept mail (nullMX)",
                         nh->host);
            break;
        }
        dns_mx_sort(&rr, 1);
        rc = mx_addrs(nh, &rr, out, why);
        break;
    case DNS_NODATA:
        rc = host_only(nh, out, why); /* the implicit MX (RFC 5321 5.1) */
        break;
    case DNS_TEMPFAIL:
        smtp_why_set(why, DELIVER_DEFERRED, "4.4.3", "Host or domain name not found. %s",
                     str_c(&w));
        break;
    default:
        smtp_why_set(why, DELIVER_BOUNCED, "5.1.2", "Host or domain name not found. %s", str_c(&w));
        break;
    }
    dns_rr_list_free(&rr);
    str_free(&w);
    return rc;
}
