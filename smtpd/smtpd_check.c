/*
 * smtpd_check.c - access policy: restriction lists and recipient validation
 *
 * Evaluated at RCPT time, as Postfix does with smtpd_delay_reject = yes:
 * smtpd_client_restrictions, smtpd_helo_restrictions,
 * smtpd_sender_restrictions, smtpd_relay_restrictions and
 * smtpd_recipient_restrictions, in that order. In each list the first
 * restriction that decides ends the list: "permit" ends only that list,
 * a rejection ends the command. After the lists, a recipient in one of
 * our domains must be known (smtpd_reject_unlisted_recipient), so that
 * nothing is accepted that would later bounce (no backscatter).
 *
 * A lookup table that fails gives 451 4.3.0, never "unknown": the client
 * retries instead of losing mail. Reply texts and codes are Postfix's, so
 * that log tools and admins recognise them.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addr.h"
#include "cfg.h"
#include "log.h"
#include "map.h"
#include "mem.h"
#include "smtpd_restrict.h"

#include "smtpd.h"

/* networks ---------------------------------------------------------------- */

struct net {
    int family; /* AF_INET, AF_INET6, or 0 for a table */
    unsigned char addr[16];
    int bits;
    struct map *table;
};

struct netlist {
    char *param;
    struct net *v;
    size_t n;
};

static struct netlist *netlists;
static size_t nnetlists;

/* parse_net - "1.2.3.0/24", "1.2.3.4", "[::1]/128", "::1", or type:table; -1 if bad */
static int parse_net(const char *text, struct net *out)
{
    char buf[128];
    const char *slash;
    size_t n;

    memset(out, 0, sizeof(*out));
    if (strchr(text, ':') && text[0] != '[' && strchr(text, '/') == NULL &&
        inet_pton(AF_INET6, text, out->addr) != 1) {
        struct str err = STR_INIT;
        out->table = map_open(text, &err);
        str_free(&err);
        return out->table ? 0 : -1;
    }
    slash = strrchr(text, '/');
    n = slash ? (size_t)(slash - text) : strlen(text);
    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, text, n);
    buf[n] = '\0';
    if (buf[0] == '[' && n > 2 && buf[n - 1] == ']') {
        memmove(buf, buf + 1, n - 2);
        buf[n - 2] = '\0';
    }
    if (inet_pton(AF_INET, buf, out->addr) == 1)
        out->family = AF_INET, out->bits = 32;
    else if (inet_pton(AF_INET6, buf, out->addr) == 1)
        out->family = AF_INET6, out->bits = 128;
    else
        return -1;
    if (slash) {
        unsigned long long b;
        if (parse_ulong(slash + 1, (unsigned long long)out->bits, &b) < 0)
            return -1;
        out->bits = (int)b;
    }
    return 0;
}

/* net_match - whether a binary address is inside a network */
static int net_match(const struct net *net, int family, const unsigned char *a)
{
    int full = net->bits / 8, rest = net->bits % 8;

    if (net->family != family)
        return 0;
    if (memcmp(net->addr, a, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (net->addr[full] & mask) == (a[full] & mask);
}

/* netlist_get - the parsed networks of a list parameter (parsed once per process) */
static struct netlist *netlist_get(enum cfg_list_param param)
{
    struct strlist items = STRLIST_INIT;
    struct netlist *nl;

    for (size_t i = 0; i < nnetlists; i++)
        if (strcmp(netlists[i].param, cfg_name(param)) == 0)
            return &netlists[i];
    netlists = xreallocarray(netlists, nnetlists + 1, sizeof(*netlists));
    nl = &netlists[nnetlists++];
    memset(nl, 0, sizeof(*nl));
    nl->param = xstrdup(cfg_name(param));
    cfg_list(cfg_main, param, &items);
    nl->v = xcalloc(items.n ? items.n : 1, sizeof(struct net));
    for (size_t i = 0; i < items.n; i++) {
        if (parse_net(items.v[i], &nl->v[nl->n]) < 0)
            log_warn("%s: ignoring bad network or table '%s'", cfg_name(param), items.v[i]);
        else
            nl->n++;
    }
    strlist_free(&items);
    return nl;
}

int check_client_list(enum cfg_list_param param, const char *addr)
{
    struct netlist *nl = netlist_get(param);
    unsigned char a[16];
    int family = strchr(addr, ':') ? AF_INET6 : AF_INET;

    if (inet_pton(family, addr, a) != 1)
        return 0;
    for (size_t i = 0; i < nl->n; i++) {
        if (nl->v[i].table) {
            struct str v = STR_INIT;
            int r = map_lookup(nl->v[i].table, addr, &v);
            str_free(&v);
            if (r == MAP_FOUND)
                return 1;
            if (r == MAP_ERROR)
                log_warn("%s: %s: lookup of %s failed: %s", cfg_name(param),
                         map_spec(nl->v[i].table), addr, map_error_text(nl->v[i].table));
        } else if (net_match(&nl->v[i], family, a)) {
            return 1;
        }
    }
    return 0;
}

/* restriction lists -------------------------------------------------------- */

#define R_DUNNO 0
#define R_PERMIT 1
#define R_REJECT 2

/* the stages, in evaluation order: smtpd_restrict_lists[] names their parameters */
static struct strlist lists[SR_LIST_COUNT];

/* tables used by check_*_access, opened on first use and kept */
static struct map **access_maps;
static size_t naccess_maps;

/* recipient validation tables */
static struct maps *local_rcpt_maps, *valias_maps, *vmailbox_maps, *relay_rcpt_maps;
static struct maps *sender_login_maps;
static int local_rcpt_configured;
static int reject_unlisted_rcpt, reject_unlisted_sender;
static int unknown_local_code, unknown_addr_code;

struct rctx {
    struct session *ss;
    const struct smtp_path *rcpt; /* NULL outside RCPT */
    struct str *out;              /* the reply line on R_REJECT */
    int list;                     /* SR_LIST_ */
};

/* get_access_map - open (once) the table named by a check_*_access argument */
static struct map *get_access_map(const char *spec)
{
    struct str err = STR_INIT;
    struct map *m;

    for (size_t i = 0; i < naccess_maps; i++)
        if (strcmp(map_spec(access_maps[i]), spec) == 0)
            return access_maps[i];
    if ((m = map_open(spec, &err)) == NULL) {
        log_warn("bad access table %s: %s", spec, str_c(&err));
        str_free(&err);
        return NULL;
    }
    str_free(&err);
    access_maps = xreallocarray(access_maps, naccess_maps + 1, sizeof(*access_maps));
    access_maps[naccess_maps++] = m;
    return m;
}

/* open_maps - a list parameter of tables; a bad specification is fatal (config error) */
static struct maps *open_maps(enum cfg_list_param param)
{
    struct str err = STR_INIT;
    struct maps *ms = maps_open_param(param, &err);

    if (ms == NULL)
        log_fatal("%s", str_c(&err));
    str_free(&err);
    return ms;
}

static void check_bound(void);

void check_init(void)
{
    check_bound();
    for (int l = 0; l < SR_LIST_COUNT; l++) {
        const char *param = cfg_name(smtpd_restrict_lists[l]);
        cfg_list(cfg_main, smtpd_restrict_lists[l], &lists[l]);
        for (size_t i = 0; i < lists[l].n; i++) {
            const char *t = lists[l].v[i];
            const struct smtpd_restrict *sr = smtpd_restrict_find(t);
            if (sr == NULL) {
                log_warn("%s: unknown restriction '%s': such requests get 451 4.3.5", param, t);
            } else if (sr->flags & SR_TAKES_TABLE) {
                if (i + 1 >= lists[l].n)
                    log_warn("%s: %s needs a table argument", param, t);
                else
                    get_access_map(lists[l].v[++i]);
            }
        }
    }
    local_rcpt_maps = open_maps(P_local_recipient_maps);
    local_rcpt_configured = maps_count(local_rcpt_maps) > 0;
    valias_maps = open_maps(P_virtual_alias_maps);
    vmailbox_maps = open_maps(P_virtual_mailbox_maps);
    relay_rcpt_maps = open_maps(P_relay_recipient_maps);
    sender_login_maps = open_maps(P_smtpd_sender_login_maps);
    reject_unlisted_rcpt = cfg_bool(cfg_main, P_smtpd_reject_unlisted_recipient);
    reject_unlisted_sender = cfg_bool(cfg_main, P_smtpd_reject_unlisted_sender);
    unknown_local_code = (int)cfg_int(cfg_main, P_unknown_local_recipient_reject_code);
    unknown_addr_code = (int)cfg_int(cfg_main, P_unknown_address_reject_code);
    netlist_get(P_mynetworks);
}

/* set_reply - "CODE X.Y.Z <subject>: What rejected: text" with the class of the code */
static void set_reply(struct str *out, int code, const char *dsn, const char *subject,
                      const char *what, const char *text)
{
    str_reset(out);
    str_printf(out, "%d %c%s <%s>: %s%s%s", code, code >= 500 ? '5' : '4', dsn + 1, subject,
               what ? what : "", what ? " rejected: " : "", text);
}

/* tempfail - a lookup table failed */
static int tempfail(struct rctx *c, const char *subject, const char *why)
{
    if (why && *why)
        log_warn("%s: lookup failure for <%s>: %s", c->ss->namaddr, subject, why);
    set_reply(c->out, 451, "4.3.0", subject, NULL, "Temporary lookup failure");
    return R_REJECT;
}

static int eval_list(struct rctx *c, char **v, size_t n, int depth);

/* access_action - interpret an access table result (Postfix access(5) actions) */
static int access_action(struct rctx *c, const char *value, const char *subject, const char *what,
                         int depth)
{
    char *copy = xstrdup(value), *t = trim(copy);
    size_t wl = strcspn(t, " \t");
    const char *text = t[wl] ? trim(t + wl) : "";
    int r = R_DUNNO;

    if (wl == 0 || (wl == 5 && strncasecmp(t, "DUNNO", 5) == 0)) {
        r = R_DUNNO;
    } else if ((wl == 2 && strncasecmp(t, "OK", 2) == 0) || strspn(t, "0123456789") == wl) {
        r = wl == 3 && (t[0] == '4' || t[0] == '5') ? -1 : R_PERMIT;
    } else if (wl == 6 && strncasecmp(t, "REJECT", 6) == 0) {
        set_reply(c->out, 554, "5.7.1", subject, what, *text ? text : "Access denied");
        r = R_REJECT;
    } else if (wl == 5 && strncasecmp(t, "DEFER", 5) == 0) {
        set_reply(c->out, 450, "4.7.1", subject, what, *text ? text : "Access denied");
        r = R_REJECT;
    } else {
        struct strlist sub = STRLIST_INIT;
        cfg_split_list(t, &sub);
        if (depth >= 3) {
            log_warn("access table result nested too deeply: %s", t);
            set_reply(c->out, 451, "4.3.5", subject, NULL, "Server configuration error");
            r = R_REJECT;
        } else {
            r = eval_list(c, sub.v, sub.n, depth + 1);
        }
        strlist_free(&sub);
    }
    if (r == -1) { /* "4NN text" / "5NN text", with an optional enhanced code */
        int code = atoi(t);
        char dsn[16];
        snprintf(dsn, sizeof(dsn), "%c.7.1", t[0]);
        if (isdigit((unsigned char)text[0]) && text[1] == '.' && text[0] == t[0]) {
            size_t dl = strcspn(text, " ");
            if (dl < sizeof(dsn)) {
                snprintf(dsn, sizeof(dsn), "%.*s", (int)dl, text);
                text = trim((char *)text + dl);
            }
        }
        set_reply(c->out, code, dsn, subject, what, *text ? text : "Access denied");
        r = R_REJECT;
    }
    free(copy);
    return r;
}

/* lookup_keys - look each key up in turn; the first hit decides */
static int lookup_keys(struct rctx *c, const char *spec, const struct strlist *keys,
                       const char *subject, const char *what, int depth)
{
    struct map *m = get_access_map(spec);
    struct str v = STR_INIT;
    int r = R_DUNNO;

    if (m == NULL) {
        set_reply(c->out, 451, "4.3.5", subject, NULL, "Server configuration error");
        return R_REJECT;
    }
    for (size_t i = 0; i < keys->n; i++) {
        int lr = map_lookup(m, keys->v[i], &v);
        if (lr == MAP_ERROR) {
            r = tempfail(c, subject, map_error_text(m));
            break;
        }
        if (lr == MAP_FOUND) {
            r = access_action(c, str_c(&v), subject, what, depth);
            break;
        }
    }
    str_free(&v);
    return r;
}

/* add_domain_keys - domain and its parent domains */
static void add_domain_keys(struct strlist *keys, const char *domain)
{
    const char *d = domain;

    if (*d == '\0' || *d == '[')
        return;
    while (d) {
        strlist_add(keys, d);
        d = strchr(d, '.');
        if (d)
            d++;
    }
}

/* address_keys - user@domain, domain, parents, user@ (Postfix access(5) order) */
static void address_keys(struct strlist *keys, const struct smtp_path *a)
{
    struct str k = STR_INIT;

    if (a->is_null) {
        strlist_add(keys, "<>");
        return;
    }
    strlist_add(keys, str_c(&a->addr));
    add_domain_keys(keys, str_c(&a->domain));
    str_printf(&k, "%s@", str_c(&a->local));
    strlist_add(keys, str_c(&k));
    str_free(&k);
}

/* client_keys - host name and its parents, then the address and its IPv4 prefixes */
static void client_keys(struct strlist *keys, const struct session *ss)
{
    char buf[SOCK_ADDR_MAX], *dot;

    if (strcmp(ss->name, "unknown") != 0)
        add_domain_keys(keys, ss->name);
    strlist_add(keys, ss->addr);
    if (strchr(ss->addr, ':') == NULL) {
        snprintf(buf, sizeof(buf), "%s", ss->addr);
        while ((dot = strrchr(buf, '.')) != NULL) {
            *dot = '\0';
            strlist_add(keys, buf);
        }
    }
}

/* domain_exists - an MX, or an address record (RFC 5321 5.1): 1, 0 (no such domain), -1 */
static int domain_exists(const char *domain)
{
    unsigned char answer[4096];
    struct addrinfo hints, *res;
    int n, r;

    if (*domain == '[')
        return 1;
    for (const char *p = domain; *p; p++)
        if ((unsigned char)*p >= 0x80)
            return 1; /* U-labels are not looked up (no IDNA here) */
    n = res_query(domain, ns_c_in, ns_t_mx, answer, sizeof(answer));
    if (n > 0) {
        ns_msg msg;
        ns_rr rr;
        int count = 0, null_mx = 0;
        if (ns_initparse(answer, n, &msg) == 0) {
            for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
                if (ns_parserr(&msg, ns_s_an, i, &rr) == 0 && ns_rr_type(rr) == ns_t_mx) {
                    count++;
                    /* RFC 7505 null MX: preference 0 and the root as exchange */
                    if (ns_rr_rdlen(rr) == 3 && ns_rr_rdata(rr)[2] == 0)
                        null_mx = 1;
                }
            }
        }
        if (count > 0)
            return null_mx && count == 1 ? 0 : 1;
    } else if (h_errno == HOST_NOT_FOUND) {
        return 0;
    } else if (h_errno != NO_DATA) {
        return -1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    r = getaddrinfo(domain, NULL, &hints, &res);
    if (r == 0) {
        freeaddrinfo(res);
        return 1;
    }
    return r == EAI_NONAME || r == EAI_NODATA ? 0 : -1;
}

/* reject_unknown_domain - RFC 5321 5.1 resolvability of a domain not our own */
static int reject_unknown_domain(struct rctx *c, const struct smtp_path *a, const char *what,
                                 const char *dsn_detail)
{
    int cls, e;
    char dsn[8];

    if (a == NULL || a->is_null || a->domain.len == 0)
        return R_DUNNO;
    cls = addr_domain_class(str_c(&a->domain));
    if (cls == ADDR_TEMPFAIL)
        return tempfail(c, str_c(&a->raw), "domain class");
    if (cls != ADDR_OTHER)
        return R_DUNNO;
    e = domain_exists(str_c(&a->domain));
    if (e == 1)
        return R_DUNNO;
    snprintf(dsn, sizeof(dsn), "x.1.%s", dsn_detail);
    if (e == 0)
        set_reply(c->out, unknown_addr_code, dsn, str_c(&a->raw), what, "Domain not found");
    else
        set_reply(c->out, 450, dsn, str_c(&a->raw), what, "Domain not found");
    return R_REJECT;
}

/* non_fqdn - an address without a domain with a dot in it */
static int non_fqdn(const struct smtp_path *a)
{
    const char *d = str_c(&a->domain);
    return !a->is_null && (a->unqualified || (*d != '[' && strchr(d, '.') == NULL));
}

/* lookup_local - local part, with and without its extension, in a list of tables */
static int lookup_local(struct maps *ms, const char *local, const char *domain, int at_domain,
                        struct str *why)
{
    struct str l = STR_INIT, key = STR_INIT, v = STR_INIT;
    int r = MAP_NOTFOUND;

    str_cpy(&l, local);
    for (int pass = 0; pass < 2 && r == MAP_NOTFOUND; pass++) {
        if (pass == 1) {
            size_t before = l.len;
            addr_strip_extension(&l, NULL);
            if (l.len == before)
                break;
        }
        str_cpy(&key, l.s);
        if (at_domain) {
            str_catc(&key, '@');
            str_cat(&key, domain);
        }
        r = maps_lookup(ms, key.s, &v);
    }
    if (r == MAP_NOTFOUND && at_domain) { /* catch-all @domain */
        str_reset(&key);
        str_printf(&key, "@%s", domain);
        r = maps_lookup(ms, key.s, &v);
    }
    if (r == MAP_ERROR)
        str_cpy(why, maps_error_text(ms));
    str_free(&l);
    str_free(&key);
    str_free(&v);
    return r;
}

/* validate - whether an address in one of our domains exists (Postfix's
 * local_recipient_maps, virtual_mailbox_maps, virtual_alias_maps, relay_recipient_maps);
 * R_DUNNO when known or not ours */
static int validate(struct rctx *c, const struct smtp_path *a, const char *what, int dsn_x)
{
    struct str domain = STR_INIT, why = STR_INIT;
    const char *local = str_c(&a->local), *table = NULL;
    int cls, r = MAP_NOTFOUND, code = 550;
    char dsn[8];

    if (a->is_null)
        return R_DUNNO;
    str_cpy(&domain, str_c(&a->domain));
    str_lower(&domain);
    cls = addr_domain_class(domain.s);
    if (cls == ADDR_TEMPFAIL) {
        r = MAP_ERROR;
        str_cpy(&why, "domain lists");
    } else if (cls == ADDR_OTHER) {
        r = MAP_FOUND;
    } else if ((cls == ADDR_LOCAL || cls == ADDR_VIRTUAL) && strcasecmp(local, "postmaster") == 0) {
        r = MAP_FOUND; /* RFC 5321 4.5.1; qmgr routes it (postmaster_recipient) */
    } else if (cls != ADDR_RELAY) {
        r = lookup_local(valias_maps, local, domain.s, 1, &why);
        if (r == MAP_NOTFOUND && cls == ADDR_LOCAL)
            r = lookup_local(valias_maps, local, domain.s, 0, &why);
    }
    if (r == MAP_NOTFOUND && cls == ADDR_LOCAL) {
        table = "local recipient table";
        code = unknown_local_code;
        r = local_rcpt_configured ? lookup_local(local_rcpt_maps, local, domain.s, 0, &why)
                                  : MAP_FOUND;
    } else if (r == MAP_NOTFOUND && cls == ADDR_VIRTUAL) {
        table = "virtual mailbox table";
        r = lookup_local(vmailbox_maps, local, domain.s, 1, &why);
    } else if (r == MAP_NOTFOUND && cls == ADDR_RELAY) {
        table = "relay recipient table";
        r = maps_count(relay_rcpt_maps) ? lookup_local(relay_rcpt_maps, local, domain.s, 1, &why)
                                        : MAP_FOUND;
    }
    str_free(&domain);
    if (r == MAP_ERROR) {
        int t = tempfail(c, str_c(&a->raw), str_c(&why));
        str_free(&why);
        return t;
    }
    str_free(&why);
    if (r == MAP_FOUND)
        return R_DUNNO;
    snprintf(dsn, sizeof(dsn), "x.1.%d", dsn_x);
    struct str text = STR_INIT;
    str_printf(&text, "User unknown in %s", table);
    set_reply(c->out, code, dsn, str_c(&a->raw), what, str_c(&text));
    str_free(&text);
    return R_REJECT;
}

/* sender_login_mismatch - smtpd_sender_login_maps: the owners of a MAIL FROM address
 * (address, then @domain) against the AUTH identity. which: 3 both cases, 2 authenticated
 * clients only, 1 unauthenticated clients only */
static int sender_login_mismatch(struct rctx *c, int which)
{
    struct session *ss = c->ss;
    struct str key = STR_INIT, owners = STR_INIT, text = STR_INIT;
    struct strlist l = STRLIST_INIT;
    const char *user = ss->sasl_username;
    int r, owned = 0;

    if (!ss->in_mail || ss->sender.is_null || (user && !(which & 2)) || (!user && !(which & 1)))
        return R_DUNNO;
    r = maps_lookup(sender_login_maps, str_c(&ss->sender.addr), &owners);
    if (r == MAP_NOTFOUND) {
        str_printf(&key, "@%s", str_c(&ss->sender.domain));
        r = maps_lookup(sender_login_maps, key.s, &owners);
    }
    if (r == MAP_ERROR) {
        r = tempfail(c, str_c(&ss->sender.raw), maps_error_text(sender_login_maps));
        goto out;
    }
    if (r == MAP_FOUND) {
        cfg_split_list(str_c(&owners), &l);
        owned = user && strlist_find(&l, user, 1) >= 0;
    }
    r = R_DUNNO;
    if (user && !owned) {
        str_printf(&text, "not owned by user %s", user);
        set_reply(c->out, 553, "5.7.1", str_c(&ss->sender.raw), "Sender address", text.s);
        r = R_REJECT;
    } else if (!user && l.n > 0) {
        set_reply(c->out, 553, "5.7.1", str_c(&ss->sender.raw), "Sender address", "not logged in");
        r = R_REJECT;
    }
out:
    str_free(&key);
    str_free(&owners);
    str_free(&text);
    strlist_free(&l);
    return r;
}

/* list_subject - what a plain reject in a list names */
static void list_subject(struct rctx *c, const char **subject, const char **what)
{
    switch (c->list) {
    case SR_LIST_CLIENT:
        *subject = c->ss->namaddr, *what = "Client host";
        break;
    case SR_LIST_HELO:
        *subject = str_c(&c->ss->helo), *what = "Helo command";
        break;
    case SR_LIST_SENDER:
        *subject = str_c(&c->ss->sender.raw), *what = "Sender address";
        break;
    default:
        *subject = c->rcpt ? str_c(&c->rcpt->raw) : "", *what = "Recipient address";
        break;
    }
}

/* The handlers, one per restriction of smtpd_restrict.h (bound by id in handlers[] below).
 * Each returns R_DUNNO, R_PERMIT or R_REJECT (with c->out set); table is the type:table
 * argument of an SR_TAKES_TABLE restriction, else NULL. */

static int r_permit(struct rctx *c, const char *table, int depth)
{
    (void)c, (void)table, (void)depth;
    return R_PERMIT;
}

static int r_dunno(struct rctx *c, const char *table, int depth)
{
    (void)c, (void)table, (void)depth;
    return R_DUNNO;
}

/* deny - a plain reject (554) or defer (450) naming what the list is about */
static int deny(struct rctx *c, int code)
{
    const char *subject, *what;

    list_subject(c, &subject, &what);
    set_reply(c->out, code, "5.7.1", subject, what, "Access denied");
    return R_REJECT;
}

static int r_reject(struct rctx *c, const char *table, int depth)
{
    (void)table, (void)depth;
    return deny(c, 554);
}

static int r_defer(struct rctx *c, const char *table, int depth)
{
    (void)table, (void)depth;
    return deny(c, 450);
}

static int r_permit_mynetworks(struct rctx *c, const char *table, int depth)
{
    (void)table, (void)depth;
    return c->ss->in_mynetworks ? R_PERMIT : R_DUNNO;
}

static int r_permit_sasl_authenticated(struct rctx *c, const char *table, int depth)
{
    (void)table, (void)depth;
    return c->ss->sasl_username ? R_PERMIT : R_DUNNO;
}

/* auth_destination - the recipient's domain is ours or relayed for (permit_auth_destination
 * when code is 0); otherwise code ("Relay access denied"), the others' way */
static int auth_destination(struct rctx *c, int code)
{
    int cls;

    if (c->rcpt == NULL)
        return R_DUNNO;
    cls = addr_domain_class(str_c(&c->rcpt->domain));
    if (cls == ADDR_TEMPFAIL)
        return tempfail(c, str_c(&c->rcpt->raw), "domain lists");
    if (code == 0)
        return cls != ADDR_OTHER ? R_PERMIT : R_DUNNO;
    if (cls != ADDR_OTHER)
        return R_DUNNO;
    set_reply(c->out, code, "5.7.1", str_c(&c->rcpt->raw), NULL, "Relay access denied");
    return R_REJECT;
}

static int r_reject_unauth_destination(struct rctx *c, const char *table, int depth)
{
    (void)table, (void)depth;
    return auth_destination(c, 554);
}

static int r_defer_unauth_destination(struct rctx *c, const char *table, int depth)
{
    (void)table, (void)depth;
    return auth_destination(c, 454);
}

static int r_permit_auth_destination(struct rctx *c, const char *table, int depth)
{
    (void)table, (void)depth;
    return auth_destination(c, 0);
}

static int r_reject_unknown_recipient_domain(struct rctx *c, const char *table, int depth)
{
    (void)table, (void)depth;
    return reject_unknown_domain(c, c->rcpt, "Recipient address", "2");
}

static int r_reject_unknown_sender_domain(struct rctx *c, const char *table, int depth)
{
    (void)table, (void)depth;
    return c->ss->in_mail ? reject_unknown_domain(c, &c->ss->sender, "Sender address", "8")
                          : R_DUNNO;
}

/* need_fqdn - 504 for an address without a fully-qualified domain */
static int need_fqdn(struct rctx *c, const struct smtp_path *a, const char *what)
{
    if (a == NULL || !non_fqdn(a))
        return R_DUNNO;
    set_reply(c->out, 504, "5.5.2", str_c(&a->raw), what, "need fully-qualified address");
    return R_REJECT;
}

static int r_reject_non_fqdn_sender(struct rctx *c, const char *table, int depth)
{
    (void)table, (void)depth;
    return need_fqdn(c, c->ss->in_mail ? &c->ss->sender : NULL, "Sender address");
}

static int r_reject_non_fqdn_recipient(struct rctx *c, const char *table, int depth)
{
    (void)table, (void)depth;
    return need_fqdn(c, c->rcpt, "Recipient address");
}

static int r_reject_non_fqdn_helo_hostname(struct rctx *c, const char *table, int depth)
{
    const char *h = str_c(&c->ss->helo);

    (void)table, (void)depth;
    if (!c->ss->helo_seen || h[0] == '[' || (strchr(h, '.') != NULL && h[strlen(h) - 1] != '.'))
        return R_DUNNO;
    set_reply(c->out, 504, "5.5.2", h, "Helo command", "need fully-qualified hostname");
    return R_REJECT;
}

static int r_reject_invalid_helo_hostname(struct rctx *c, const char *table, int depth)
{
    const char *h = str_c(&c->ss->helo);

    (void)table, (void)depth;
    if (!c->ss->helo_seen || smtp_valid_domain(h, strlen(h), 0))
        return R_DUNNO;
    set_reply(c->out, 501, "5.5.2", h, "Helo command", "Invalid name");
    return R_REJECT;
}

static int r_reject_unauth_pipelining(struct rctx *c, const char *table, int depth)
{
    const char *subject, *what;

    (void)table, (void)depth;
    /* commands sent ahead of time by a client that did not see PIPELINING (RFC 2920) */
    if (c->ss->esmtp || stream_pending(c->ss->s) == 0)
        return R_DUNNO;
    list_subject(c, &subject, &what);
    set_reply(c->out, 503, "5.5.0", subject, what, "Improper use of SMTP command pipelining");
    return R_REJECT;
}

static int r_reject_sender_login_mismatch(struct rctx *c, const char *table, int depth)
{
    (void)table, (void)depth;
    return sender_login_mismatch(c, 3);
}

static int r_reject_authenticated_sender_login_mismatch(struct rctx *c, const char *table,
                                                        int depth)
{
    (void)table, (void)depth;
    return sender_login_mismatch(c, 2);
}

static int r_reject_unauthenticated_sender_login_mismatch(struct rctx *c, const char *table,
                                                          int depth)
{
    (void)table, (void)depth;
    return sender_login_mismatch(c, 1);
}

static int r_reject_unlisted_recipient(struct rctx *c, const char *table, int depth)
{
    (void)table, (void)depth;
    return c->rcpt ? validate(c, c->rcpt, "Recipient address", 1) : R_DUNNO;
}

static int r_reject_unlisted_sender(struct rctx *c, const char *table, int depth)
{
    (void)table, (void)depth;
    return c->ss->in_mail ? validate(c, &c->ss->sender, "Sender address", 0) : R_DUNNO;
}

/* access_keys - look up keys (freed here) in table as check_*_access does */
static int access_keys(struct rctx *c, const char *table, struct strlist *keys, const char *subject,
                       const char *what, int depth)
{
    int r = lookup_keys(c, table, keys, subject, what, depth);

    strlist_free(keys);
    return r;
}

static int r_check_client_access(struct rctx *c, const char *table, int depth)
{
    struct strlist keys = STRLIST_INIT;

    client_keys(&keys, c->ss);
    return access_keys(c, table, &keys, c->ss->namaddr, "Client host", depth);
}

static int r_check_helo_access(struct rctx *c, const char *table, int depth)
{
    struct strlist keys = STRLIST_INIT;
    const char *h = str_c(&c->ss->helo);

    if (!c->ss->helo_seen)
        return R_DUNNO;
    add_domain_keys(&keys, h);
    if (keys.n == 0)
        strlist_add(&keys, h);
    return access_keys(c, table, &keys, h, "Helo command", depth);
}

static int r_check_sender_access(struct rctx *c, const char *table, int depth)
{
    struct strlist keys = STRLIST_INIT;
    const struct smtp_path *a = &c->ss->sender;

    if (!c->ss->in_mail)
        return R_DUNNO;
    address_keys(&keys, a);
    return access_keys(c, table, &keys, a->is_null ? "" : a->raw.s, "Sender address", depth);
}

static int r_check_recipient_access(struct rctx *c, const char *table, int depth)
{
    struct strlist keys = STRLIST_INIT;

    if (c->rcpt == NULL)
        return R_DUNNO;
    address_keys(&keys, c->rcpt);
    return access_keys(c, table, &keys, str_c(&c->rcpt->raw), "Recipient address", depth);
}

/* handlers - the function of each restriction; the names are in lib/global/smtpd_restrict.c */
static int (*const handlers[SR_COUNT])(struct rctx *, const char *, int) = {
    [SR_PERMIT] = r_permit,
    [SR_DUNNO] = r_dunno,
    [SR_REJECT] = r_reject,
    [SR_DEFER] = r_defer,
    [SR_PERMIT_MYNETWORKS] = r_permit_mynetworks,
    [SR_PERMIT_SASL_AUTHENTICATED] = r_permit_sasl_authenticated,
    [SR_REJECT_UNAUTH_DESTINATION] = r_reject_unauth_destination,
    [SR_DEFER_UNAUTH_DESTINATION] = r_defer_unauth_destination,
    [SR_PERMIT_AUTH_DESTINATION] = r_permit_auth_destination,
    [SR_REJECT_UNKNOWN_RECIPIENT_DOMAIN] = r_reject_unknown_recipient_domain,
    [SR_REJECT_UNKNOWN_SENDER_DOMAIN] = r_reject_unknown_sender_domain,
    [SR_REJECT_NON_FQDN_SENDER] = r_reject_non_fqdn_sender,
    [SR_REJECT_NON_FQDN_RECIPIENT] = r_reject_non_fqdn_recipient,
    [SR_REJECT_NON_FQDN_HELO_HOSTNAME] = r_reject_non_fqdn_helo_hostname,
    [SR_REJECT_INVALID_HELO_HOSTNAME] = r_reject_invalid_helo_hostname,
    [SR_REJECT_UNAUTH_PIPELINING] = r_reject_unauth_pipelining,
    [SR_REJECT_SENDER_LOGIN_MISMATCH] = r_reject_sender_login_mismatch,
    [SR_REJECT_AUTHENTICATED_SENDER_LOGIN_MISMATCH] = r_reject_authenticated_sender_login_mismatch,
    [SR_REJECT_UNAUTHENTICATED_SENDER_LOGIN_MISMATCH] =
        r_reject_unauthenticated_sender_login_mismatch,
    [SR_REJECT_UNLISTED_RECIPIENT] = r_reject_unlisted_recipient,
    [SR_REJECT_UNLISTED_SENDER] = r_reject_unlisted_sender,
    [SR_CHECK_CLIENT_ACCESS] = r_check_client_access,
    [SR_CHECK_HELO_ACCESS] = r_check_helo_access,
    [SR_CHECK_SENDER_ACCESS] = r_check_sender_access,
    [SR_CHECK_RECIPIENT_ACCESS] = r_check_recipient_access,
};

/* check_bound - every restriction that config validation accepts has a handler here */
static void check_bound(void)
{
    for (int id = 0; id < SR_COUNT; id++)
        if (handlers[id] == NULL)
            log_panic("restriction %s has no handler", smtpd_restrict_name(id));
}

/* config_error - 451 4.3.5 for a list smtpd cannot evaluate (the admin must fix main.cf) */
static int config_error(struct rctx *c)
{
    const char *subject, *what;

    list_subject(c, &subject, &what);
    set_reply(c->out, 451, "4.3.5", subject, NULL, "Server configuration error");
    return R_REJECT;
}

/* eval_one - one restriction (and its table argument); *i moves past what it used */
static int eval_one(struct rctx *c, char **v, size_t n, size_t *i, int depth)
{
    const struct smtpd_restrict *sr = smtpd_restrict_find(v[*i]);
    const char *table = NULL;

    if (sr == NULL) {
        log_warn("%s: unknown restriction '%s'", cfg_name(smtpd_restrict_lists[c->list]), v[*i]);
        return config_error(c);
    }
    if (sr->flags & SR_TAKES_TABLE) {
        if (*i + 1 >= n)
            return config_error(c);
        table = v[++*i];
    }
    return handlers[sr->id](c, table, depth);
}

/* eval_list - the first restriction of a list that decides (R_PERMIT, R_REJECT), else R_DUNNO */
static int eval_list(struct rctx *c, char **v, size_t n, int depth)
{
    for (size_t i = 0; i < n; i++) {
        int r = eval_one(c, v, n, &i, depth);
        if (r != R_DUNNO)
            return r;
    }
    return R_DUNNO;
}

int check_rcpt(struct session *ss, const struct smtp_path *rcpt, struct str *out)
{
    struct rctx c = {ss, rcpt, out, 0};

    for (c.list = 0; c.list < SR_LIST_COUNT; c.list++)
        if (eval_list(&c, lists[c.list].v, lists[c.list].n, 0) == R_REJECT)
            return -1;
    if (reject_unlisted_sender && validate(&c, &ss->sender, "Sender address", 0) == R_REJECT)
        return -1;
    if (reject_unlisted_rcpt && validate(&c, rcpt, "Recipient address", 1) == R_REJECT)
        return -1;
    return 0;
}

int check_verify(struct session *ss, const struct smtp_path *rcpt, struct str *out)
{
    struct rctx c = {ss, rcpt, out, SR_LIST_RECIPIENT};

    return validate(&c, rcpt, "Recipient address", 1) == R_REJECT ? -1 : 0;
}

int check_rewrite_clients(struct session *ss)
{
    struct strlist l = STRLIST_INIT;
    int r = 0;

    cfg_list(cfg_main, P_local_header_rewrite_clients, &l);
    for (size_t i = 0; i < l.n && !r; i++) {
        const char *t = l.v[i];
        if (strcasecmp(t, "permit_mynetworks") == 0)
            r = ss->in_mynetworks;
        else if (strcasecmp(t, "permit_sasl_authenticated") == 0)
            r = ss->sasl_username != NULL;
        else if (strcasecmp(t, "permit_inet_interfaces") == 0) {
            char lit[SOCK_ADDR_MAX + 8];
            snprintf(lit, sizeof(lit), strchr(ss->addr, ':') ? "[IPv6:%s]" : "[%s]", ss->addr);
            r = addr_is_our_literal(lit);
        } else if (strcasecmp(t, "static:all") == 0)
            r = 1;
    }
    strlist_free(&l);
    return r;
}
