/*
 * dns.h - DNS lookups through libresolv: MX, A, AAAA and TXT records
 *
 * A resolver (struct dns_resolver) wraps one res_state: the name servers
 * of /etc/resolv.conf, or an explicit list of "host:port" servers (IPv4
 * and IPv6, any port), which is how an admin points Petrel at a dedicated
 * resolver and how the tests use a dnsmasq on a loopback port. Queries are
 * sent for the name as given (no search list); answers are parsed with
 * ns_initparse/ns_parserr and only records of the requested type and class
 * IN are kept, so a CNAME chain in the answer is followed implicitly.
 *
 * Every answer is untrusted input: names are checked (letters, digits,
 * '-', '_' and '.' only; at most 253 bytes), record data lengths must fit
 * their type, and at most DNS_RR_MAX records are kept.
 *
 * Results: DNS_OK (records found), DNS_NOTFOUND (NXDOMAIN: the name does
 * not exist), DNS_NODATA (the name exists without records of the type),
 * DNS_TEMPFAIL (SERVFAIL, REFUSED, timeouts, unreachable servers: try
 * later), DNS_FAIL (the name cannot be queried at all, e.g. malformed).
 * why gets a short text for logs and bounces.
 */
#ifndef PETREL_DNS_H
#define PETREL_DNS_H

#include <stddef.h>
#include <sys/socket.h>

#include "str.h"

#define DNS_OK 0
#define DNS_NOTFOUND 1
#define DNS_NODATA 2
#define DNS_TEMPFAIL 3
#define DNS_FAIL 4

#define DNS_RR_MAX 100    /* records kept from one answer */
#define DNS_NAME_MAX 253  /* presentation form without the final dot */
#define DNS_SERVERS_MAX 3 /* MAXNS of resolv.h */

#define DNS_T_A 1
#define DNS_T_MX 15
#define DNS_T_TXT 16
#define DNS_T_AAAA 28

struct dns_resolver;

/* one record of an answer */
struct dns_rr {
    int type; /* DNS_T_ */
    unsigned ttl;
    unsigned pref;          /* MX preference */
    char *name;             /* MX exchange ("" for the null MX "."), TXT text; NULL otherwise */
    unsigned char addr[16]; /* A (4 bytes) or AAAA (16 bytes) */
};

struct dns_rr_list {
    struct dns_rr *v;
    size_t n;
};

/* dns_open - a resolver; servers: NULL or empty for /etc/resolv.conf, else at most
 * DNS_SERVERS_MAX entries "ip", "ip:port", "[ipv6]:port" or "ipv6"; timeout: seconds per
 * try (0 = the system's), attempts: tries per server (0 = the system's). NULL with err
 * on a bad server entry or when libresolv cannot be initialised. */
struct dns_resolver *dns_open(const struct strlist *servers, int timeout, int attempts,
                              struct str *err);
void dns_close(struct dns_resolver *r);

/* dns_parse_server - one server entry into a socket address (port 53 by default);
 * -1 when it is not a numeric address with an optional port */
int dns_parse_server(const char *text, struct sockaddr_storage *ss, socklen_t *len);

/* dns_query - the records of type for name (DNS_ results; out is replaced) */
int dns_query(struct dns_resolver *r, const char *name, int type, struct dns_rr_list *out,
              struct str *why);

/* dns_parse_answer - the records of type in a reply message (DNS_OK or DNS_NODATA when
 * there are none, DNS_TEMPFAIL when the message is malformed); used by dns_query and
 * by the unit tests on crafted messages */
int dns_parse_answer(const unsigned char *msg, size_t len, int type, struct dns_rr_list *out,
                     struct str *why);

/* dns_mx_sort - MX records by preference, equal preferences in random order
 * (RFC 5321 5.1) when randomize is set, else in answer order */
void dns_mx_sort(struct dns_rr_list *l, int randomize);

/* dns_valid_name - a host name fit to query (LDH labels, '_' tolerated, 1..253 bytes,
 * an optional final dot) */
int dns_valid_name(const char *name);

void dns_rr_list_free(struct dns_rr_list *l);

#endif
