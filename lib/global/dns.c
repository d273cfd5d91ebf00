/*
 * dns.c - DNS lookups through libresolv: MX, A, AAAA and TXT records
 *
 * One res_state per resolver, set up by res_ninit and then, when the
 * caller names its own servers, given those servers directly: IPv4
 * servers go into nsaddr_list (their port is honoured by res_send),
 * IPv6 servers into the extended table _u._ext.nsaddrs with nsaddr_list's
 * family set to 0, which is how glibc itself stores them (resolv.h says
 * the extended table belongs to the library: its entries are malloc'ed
 * here and freed by res_nclose). RES_NORELOAD keeps glibc from replacing
 * them when /etc/resolv.conf changes. See dns.h for the contract.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "mem.h"

#define ANSWER_MAX 65536 /* the largest DNS message */

struct dns_resolver {
    struct __res_state res;
    unsigned char *answer;
};

int dns_parse_server(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
    struct str host = STR_INIT;
    const char *port = NULL;
    unsigned long long p = 53;
    int rc = -1;

    memset(ss, 0, sizeof(*ss));
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':'))
            goto out;
        str_cpyn(&host, text + 1, (size_t)(close - text - 1));
        port = close[1] == ':' ? close + 2 : NULL;
    } else if (strchr(text, ':') != strrchr(text, ':')) {
        str_cpy(&host, text); /* a bare IPv6 address */
    } else {
        const char *colon = strchr(text, ':');
        str_cpyn(&host, text, colon ? (size_t)(colon - text) : strlen(text));
        port = colon ? colon + 1 : NULL;
    }
    if (port && (parse_ulong(port, 65535, &p) < 0 || p == 0))
        goto out;
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, str_c(&host), &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((unsigned short)p);
        *len = sizeof(*sin);
        rc = 0;
    } else if (inet_pton(AF_INET6, str_c(&host), &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((unsigned short)p);
        *len = sizeof(*sin6);
        rc = 0;
    }
out:
    str_free(&host);
    return rc;
}

/* set_servers - replace the name servers of res_ninit by ours */
static void set_servers(res_state st, const struct sockaddr_storage *ss, size_t n)
{
    for (int i = 0; i < st->nscount && i < MAXNS; i++) {
        free(st->_u._ext.nsaddrs[i]);
        st->_u._ext.nsaddrs[i] = NULL;
    }
    for (size_t i = 0; i < n; i++) {
        st->_u._ext.nssocks[i] = -1;
        if (ss[i].ss_family == AF_INET) {
            memcpy(&st->nsaddr_list[i], &ss[i], sizeof(struct sockaddr_in));
        } else {
            memset(&st->nsaddr_list[i], 0, sizeof(st->nsaddr_list[i]));
            st->_u._ext.nsaddrs[i] = xmemdup(&ss[i], sizeof(struct sockaddr_in6));
        }
    }
    st->nscount = (int)n;
    st->_u._ext.nscount = 0; /* res_send rebuilds its copy */
}

struct dns_resolver *dns_open(const struct strlist *servers, int timeout, int attempts,
                              struct str *err)
{
    struct sockaddr_storage ss[DNS_SERVERS_MAX];
    size_t n = servers ? servers->n : 0;
    struct dns_resolver *r;

    if (n > DNS_SERVERS_MAX) {
        str_printf(err, "more than %d DNS servers", DNS_SERVERS_MAX);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        socklen_t len;
        if (dns_parse_server(servers->v[i], &ss[i], &len) < 0) {
            str_printf(err, "bad DNS server \"%s\" (want ip, ip:port or [ipv6]:port)",
                       servers->v[i]);
            return NULL;
        }
    }
    r = xcalloc(1, sizeof(*r));
    if (res_ninit(&r->res) < 0) {
        str_cat(err, "cannot initialise the resolver");
        free(r);
        return NULL;
    }
    r->res.options &= ~(unsigned long)(RES_DNSRCH | RES_DEFNAMES);
#ifdef RES_NORELOAD
    if (n)
        r->res.options |= RES_NORELOAD;
#endif
    if (n)
        set_servers(&r->res, ss, n);
    if (timeout > 0)
        r->res.retrans = timeout;
    if (attempts > 0)
        r->res.retry = attempts;
    r->answer = xmalloc(ANSWER_MAX);
    return r;
}

void dns_close(struct dns_resolver *r)
{
    if (r == NULL)
        return;
    res_nclose(&r->res);
    free(r->answer);
    free(r);
}

int dns_valid_name(const char *name)
{
    size_t n = strlen(name), label = 0;

    if (n > 0 && name[n - 1] == '.')
        n--;
    if (n == 0 || n > DNS_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_') {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0;
}

void dns_rr_list_free(struct dns_rr_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* dns_strerror - "Host not found", ... for a DNS_ code */
static const char *dns_strerror(int code)
{
    switch (code) {
    case DNS_OK:
        return "success";
    case DNS_NOTFOUND:
        return "Host not found";
    case DNS_NODATA:
        return "Host found but no data record of requested type";
    case DNS_TEMPFAIL:
        return "Host not found, try again";
    default:
        return "Non-recoverable error";
    }
}

/* type_name - for messages */
static const char *type_name(int type)
{
    return type == DNS_T_A      ? "A"
           : type == DNS_T_AAAA ? "AAAA"
           : type == DNS_T_MX   ? "MX"
           : type == DNS_T_TXT  ? "TXT"
                                : "?";
}

/* rr_decode - one record of the wanted type into out; 0 ok, -1 malformed or unusable */
static int rr_decode(ns_msg *msg, ns_rr *rr, int type, struct dns_rr *out)
{
    const unsigned char *rd = ns_rr_rdata(*rr);
    size_t len = ns_rr_rdlen(*rr);
    char name[NS_MAXDNAME];

    memset(out, 0, sizeof(*out));
    out->type = type;
    out->ttl = ns_rr_ttl(*rr);
    switch (type) {
    case DNS_T_A:
    case DNS_T_AAAA:
        if (len != (type == DNS_T_A ? 4u : 16u))
            return -1;
        memcpy(out->addr, rd, len);
        return 0;
    case DNS_T_MX:
        if (len < 3 ||
            ns_name_uncompress(ns_msg_base(*msg), ns_msg_end(*msg), rd + 2, name, sizeof(name)) < 0)
            return -1;
        out->pref = ns_get16(rd);
        if (strcmp(name, ".") == 0 || name[0] == '\0')
            name[0] = '\0'; /* RFC 7505 null MX */
        else if (!dns_valid_name(name))
            return -1;
        out->name = xstrdup(name);
        return 0;
    case DNS_T_TXT: {
        struct str t = STR_INIT;
        for (size_t i = 0; i < len;) {
            size_t sl = rd[i];
            if (i + 1 + sl > len) {
                str_free(&t);
                return -1;
            }
            str_catn(&t, rd + i + 1, sl);
            i += 1 + sl;
        }
        out->name = str_steal(&t);
        return 0;
    }
    default:
        return -1;
    }
}

int dns_parse_answer(const unsigned char *msg, size_t len, int type, struct dns_rr_list *out,
                     struct str *why)
{
    ns_msg m;
    ns_rr rr;
    int count;

    dns_rr_list_free(out);
    if (len > ANSWER_MAX || ns_initparse(msg, (int)len, &m) < 0) {
        str_cpy(why, "malformed DNS reply");
        return DNS_TEMPFAIL;
    }
    count = ns_msg_count(m, ns_s_an);
    for (int i = 0; i < count && out->n < DNS_RR_MAX; i++) {
        if (ns_parserr(&m, ns_s_an, i, &rr) < 0) {
            dns_rr_list_free(out);
            str_cpy(why, "malformed DNS reply");
            return DNS_TEMPFAIL;
        }
        if ((int)ns_rr_type(rr) != type || ns_rr_class(rr) != ns_c_in)
            continue;
        if (out->v == NULL)
            out->v = xcalloc(DNS_RR_MAX, sizeof(*out->v));
        if (rr_decode(&m, &rr, type, &out->v[out->n]) == 0)
            out->n++;
    }
    return out->n ? DNS_OK : DNS_NODATA;
}

int dns_query(struct dns_resolver *r, const char *name, int type, struct dns_rr_list *out,
              struct str *why)
{
    int n, code;

    dns_rr_list_free(out);
    str_reset(why);
    if (!dns_valid_name(name)) {
        str_printf(why, "Name service error for name=%.100s type=%s: malformed name", name,
                   type_name(type));
        return DNS_FAIL;
    }
    errno = 0;
    n = res_nquery(&r->res, name, ns_c_in, type, r->answer, ANSWER_MAX);
    if (n < 0) {
        switch (r->res.res_h_errno) {
        case HOST_NOT_FOUND:
            code = DNS_NOTFOUND;
            break;
        case NO_DATA:
            code = DNS_NODATA;
            break;
        default:
            code = DNS_TEMPFAIL; /* TRY_AGAIN, NO_RECOVERY (REFUSED...), NETDB_INTERNAL */
            break;
        }
        str_printf(why, "Name service error for name=%s type=%s: %s", name, type_name(type),
                   dns_strerror(code));
        return code;
    }
    if (n > ANSWER_MAX) {
        str_printf(why, "Name service error for name=%s type=%s: reply too large", name,
                   type_name(type));
        return DNS_TEMPFAIL;
    }
    code = dns_parse_answer(r->answer, (size_t)n, type, out, why);
    if (code == DNS_NODATA)
        str_printf(why, "Name service error for name=%s type=%s: %s", name, type_name(type),
                   dns_strerror(code));
    return code;
}

/* mx_cmp - by preference */
static int mx_cmp(const void *a, const void *b)
{
    const struct dns_rr *x = a, *y = b;

    return x->pref < y->pref ? -1 : x->pref > y->pref;
}

void dns_mx_sort(struct dns_rr_list *l, int randomize)
{
    if (l->n < 2)
        return;
    if (randomize) {
        /* shuffle, then sort stably by preference: equal preferences stay shuffled */
        for (size_t i = l->n - 1; i > 0; i--) {
            size_t j = (size_t)random() % (i + 1);
            struct dns_rr t = l->v[i];
            l->v[i] = l->v[j];
            l->v[j] = t;
        }
    }
    /* insertion sort: stable, and MX lists are short */
    for (size_t i = 1; i < l->n; i++) {
        struct dns_rr t = l->v[i];
        size_t j = i;
        while (j > 0 && mx_cmp(&l->v[j - 1], &t) > 0) {
            l->v[j] = l->v[j - 1];
            j--;
        }
        l->v[j] = t;
    }
}
