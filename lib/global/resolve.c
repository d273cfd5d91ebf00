/*
 * resolve.c - address rewriting and routing (qmgr; sendmail -bv shows the result)
 *
 * Three steps, in the order of Postfix's cleanup and trivial-rewrite:
 * canonical form (a bare local part gets @$myorigin, the domain is folded
 * to lower case), virtual_alias_maps expansion (one-to-many, recursive,
 * catch-all @domain, unmatched extensions propagated; postmaster@ our
 * domains that no table lists goes to $postmaster_recipient), then routing: a
 * transport_maps match, else the class of the domain (lib/global/addr.h) picks
 * local_transport, virtual_transport, relay_transport or
 * default_transport, with $relayhost as the next hop of remote mail. A
 * table that fails is a temporary failure, never "not found".
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "cfg.h"
#include "log.h"
#include "map.h"
#include "mem.h"
#include "resolve.h"

static struct maps *virtual_alias;
static struct maps *transport_maps;
static struct maps *virtual_mailbox;

void resolve_init(void)
{
    struct str err = STR_INIT;

    virtual_alias = maps_open_param(P_virtual_alias_maps, &err);
    if (virtual_alias == NULL)
        log_fatal("virtual_alias_maps: %s", str_c(&err));
    transport_maps = maps_open_param(P_transport_maps, &err);
    if (transport_maps == NULL)
        log_fatal("transport_maps: %s", str_c(&err));
    virtual_mailbox = maps_open_param(P_virtual_mailbox_maps, &err);
    if (virtual_mailbox == NULL)
        log_fatal("virtual_mailbox_maps: %s", str_c(&err));
    str_free(&err);
}

void resolve_free(void)
{
    maps_close(virtual_alias);
    maps_close(transport_maps);
    maps_close(virtual_mailbox);
    virtual_alias = transport_maps = virtual_mailbox = NULL;
}

void resolve_route_init(struct resolve_route *rt)
{
    str_init(&rt->transport);
    str_init(&rt->nexthop);
    str_init(&rt->addr);
}

void resolve_route_free(struct resolve_route *rt)
{
    str_free(&rt->transport);
    str_free(&rt->nexthop);
    str_free(&rt->addr);
}

void resolve_canon(const char *addr, struct str *out)
{
    size_t n = strlen(addr);
    const char *at;

    /* tolerate <...> and an RFC 5321 4.1.2 source route "@a,@b:user@d" */
    if (n >= 2 && addr[0] == '<' && addr[n - 1] == '>') {
        addr++;
        n -= 2;
    }
    if (n > 0 && addr[0] == '@') {
        const char *colon = memchr(addr, ':', n);
        if (colon) {
            n -= (size_t)(colon + 1 - addr);
            addr = colon + 1;
        }
    }
    str_cpyn(out, addr, n);
    at = addr_domain_at(out->s);
    if (at == NULL) {
        str_catc(out, '@');
        str_cat(out, cfg_str(cfg_main, P_myorigin));
        at = addr_domain_at(out->s);
    }
    for (char *p = (char *)at + 1; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    if (out->len > 1 && out->s[out->len - 1] == '.' && out->s[out->len - 2] != '@')
        str_truncate(out, out->len - 1);
}

/* va_lookup - one virtual_alias_maps lookup; MAP_FOUND fills value */
static int va_lookup(const char *key, struct str *value)
{
    return maps_lookup(virtual_alias, key, value);
}

/* with_extension - add +ext to the local part of each result lacking one */
static void with_extension(struct strlist *res, const char *ext)
{
    const char *delim = cfg_str(cfg_main, P_recipient_delimiter);

    for (size_t i = 0; i < res->n; i++) {
        const char *a = res->v[i], *at = addr_domain_at(a);
        size_t ll = at ? (size_t)(at - a) : strlen(a);
        if (memchr(a, delim[0], ll) != NULL)
            continue;
        char *n = xasprintf("%.*s%c%s%s", (int)ll, a, delim[0], ext, at ? at : "");
        free(res->v[i]);
        res->v[i] = n;
    }
}

/* va_find - the virtual alias results for addr (Postfix virtual(5) key order):
 * MAP_FOUND (res filled), MAP_NOTFOUND, MAP_ERROR */
static int va_find(const char *addr, struct strlist *res)
{
    struct str local = STR_INIT, domain = STR_INIT, base = STR_INIT, ext = STR_INIT;
    struct str key = STR_INIT, val = STR_INIT;
    int r, has_ext, local_domain;

    if (addr_split(addr, &local, &domain) < 0) {
        str_free(&local);
        str_free(&domain);
        return MAP_NOTFOUND; /* resolve_route bounces it */
    }
    str_cpy(&base, local.s ? local.s : "");
    addr_strip_extension(&base, &ext);
    has_ext = ext.len > 0;
    /* user+ext@domain, user@domain */
    str_printf(&key, "%s@%s", str_c(&local), str_c(&domain));
    r = va_lookup(key.s, &val);
    if (r == MAP_NOTFOUND && has_ext) {
        str_reset(&key);
        str_printf(&key, "%s@%s", str_c(&base), str_c(&domain));
        if ((r = va_lookup(key.s, &val)) == MAP_FOUND) {
            cfg_split_list(val.s, res);
            with_extension(res, ext.s);
            goto out;
        }
    }
    /* user+ext, user: only for our own domains */
    if (r == MAP_NOTFOUND) {
        int cls = addr_domain_class(domain.s);
        if (cls == ADDR_TEMPFAIL) {
            r = MAP_ERROR;
            goto out;
        }
        local_domain =
            cls == ADDR_LOCAL || strcasecmp(domain.s, cfg_str(cfg_main, P_myorigin)) == 0;
        if (local_domain) {
            r = va_lookup(str_c(&local), &val);
            if (r == MAP_NOTFOUND && has_ext && (r = va_lookup(str_c(&base), &val)) == MAP_FOUND) {
                cfg_split_list(val.s, res);
                with_extension(res, ext.s);
                goto out;
            }
        }
    }
    /* @domain catch-all: "@other" keeps the local part */
    if (r == MAP_NOTFOUND) {
        str_reset(&key);
        str_printf(&key, "@%s", str_c(&domain));
        if ((r = va_lookup(key.s, &val)) == MAP_FOUND) {
            cfg_split_list(val.s, res);
            for (size_t i = 0; i < res->n; i++)
                if (res->v[i][0] == '@') {
                    char *n = xasprintf("%s%s", str_c(&local), res->v[i]);
                    free(res->v[i]);
                    res->v[i] = n;
                }
            goto out;
        }
    }
    if (r == MAP_FOUND)
        cfg_split_list(val.s, res);
out:
    str_free(&local);
    str_free(&domain);
    str_free(&base);
    str_free(&ext);
    str_free(&key);
    str_free(&val);
    return r;
}

/* add_unique - append addr to out unless present (case-insensitive) */
static void add_unique(struct strlist *out, const char *addr)
{
    for (size_t i = 0; i < out->n; i++)
        if (strcasecmp(out->v[i], addr) == 0)
            return;
    strlist_add(out, addr);
}

/* expand_rec - depth-first expansion; path holds the addresses being expanded */
static int expand_rec(const char *addr, struct strlist *path, struct strlist *out,
                      struct str *reason)
{
    struct strlist res = STRLIST_INIT;
    struct str c = STR_INIT;
    int r, rc = 0;

    if ((long long)path->n > cfg_int(cfg_main, P_virtual_alias_recursion_limit)) {
        str_printf(reason, "virtual alias recursion limit exceeded for %s", addr);
        return -2;
    }
    r = va_find(addr, &res);
    if (r == MAP_ERROR) {
        str_printf(reason, "virtual_alias_maps lookup failure: %s", maps_error_text(virtual_alias));
        strlist_free(&res);
        return -1;
    }
    if (r == MAP_NOTFOUND || res.n == 0) {
        add_unique(out, addr);
        strlist_free(&res);
        return 0;
    }
    strlist_add(path, addr);
    for (size_t i = 0; i < res.n && rc == 0; i++) {
        resolve_canon(res.v[i], &c);
        if (strcasecmp(c.s, addr) == 0 || strlist_find(path, c.s, 1) >= 0)
            add_unique(out, c.s); /* self-reference or loop: deliver as is */
        else
            rc = expand_rec(c.s, path, out, reason);
        if (rc == 0 && (long long)out->n > cfg_int(cfg_main, P_virtual_alias_expansion_limit)) {
            str_printf(reason, "virtual alias expansion limit exceeded for %s", addr);
            rc = -2;
        }
    }
    free(path->v[--path->n]);
    path->v[path->n] = NULL;
    str_free(&c);
    strlist_free(&res);
    return rc;
}

/* postmaster_route - RFC 5321 4.5.1: postmaster@ one of our local or virtual domains, in any
 * case, that virtual_alias_maps did not rewrite and (virtual domain) virtual_mailbox_maps
 * does not list goes to $postmaster_recipient: 1 with out set, 0 as is, -1 table failure */
static int postmaster_route(const char *addr, struct str *out, struct str *reason)
{
    const char *at = addr_domain_at(addr);
    struct str key = STR_INIT, val = STR_INIT;
    int cls, r;

    if (at == NULL || at - addr != 10 || strncasecmp(addr, "postmaster", 10) != 0)
        return 0;
    cls = addr_domain_class(at + 1);
    if (cls == ADDR_TEMPFAIL) {
        str_printf(reason, "domain lists lookup failure for %s", addr);
        return -1;
    }
    if (cls != ADDR_LOCAL && cls != ADDR_VIRTUAL)
        return 0;
    if (cls == ADDR_VIRTUAL) {
        str_printf(&key, "postmaster%s", at);
        r = maps_lookup(virtual_mailbox, key.s, &val);
        str_free(&key);
        str_free(&val);
        if (r == MAP_ERROR) {
            str_printf(reason, "virtual_mailbox_maps lookup failure: %s",
                       maps_error_text(virtual_mailbox));
            return -1;
        }
        if (r == MAP_FOUND)
            return 0;
    }
    resolve_canon(cfg_str(cfg_main, P_postmaster_recipient), out);
    return strcasecmp(out->s, addr) != 0;
}

int resolve_expand(const char *addr, struct strlist *out, struct str *reason)
{
    struct strlist path = STRLIST_INIT, first = STRLIST_INIT;
    struct str pm = STR_INIT;
    int rc = 0;

    if (maps_count(virtual_alias) == 0)
        strlist_add(&first, addr);
    else
        rc = expand_rec(addr, &path, &first, reason);
    for (size_t i = 0; i < first.n && rc == 0; i++) {
        int r = postmaster_route(first.v[i], &pm, reason);
        if (r < 0)
            rc = -1;
        else if (r == 0)
            add_unique(out, first.v[i]);
        else if (maps_count(virtual_alias) == 0)
            add_unique(out, pm.s);
        else /* the postmaster's address may be an alias itself, once */
            rc = expand_rec(pm.s, &path, out, reason);
    }
    strlist_free(&path);
    strlist_free(&first);
    str_free(&pm);
    return rc;
}

/* split_route - "transport:nexthop" into its parts (either may be empty) */
static void split_route(const char *v, struct str *tr, struct str *nh)
{
    const char *colon = strchr(v, ':');

    str_reset(tr);
    str_reset(nh);
    if (colon == NULL) {
        str_cpy(tr, v);
        return;
    }
    str_cpyn(tr, v, (size_t)(colon - v));
    str_cpy(nh, colon + 1);
}

/* transport_lookup - transport_maps by address, domain, .parents, '*' */
static int transport_lookup(const char *addr, const char *domain, struct str *val)
{
    struct str local = STR_INIT, dom = STR_INIT, key = STR_INIT;
    int r;

    if (maps_count(transport_maps) == 0)
        return MAP_NOTFOUND;
    r = maps_lookup(transport_maps, addr, val);
    if (r == MAP_NOTFOUND) {
        addr_split(addr, &local, &dom);
        addr_strip_extension(&local, NULL);
        str_printf(&key, "%s@%s", str_c(&local), domain);
        if (strcasecmp(key.s, addr) != 0)
            r = maps_lookup(transport_maps, key.s, val);
    }
    if (r == MAP_NOTFOUND)
        r = maps_lookup(transport_maps, domain, val);
    for (const char *p = strchr(domain, '.'); r == MAP_NOTFOUND && p; p = strchr(p + 1, '.'))
        r = maps_lookup(transport_maps, p, val);
    if (r == MAP_NOTFOUND)
        r = maps_lookup(transport_maps, "*", val);
    str_free(&local);
    str_free(&dom);
    str_free(&key);
    return r;
}

int resolve_route(const char *addr, struct resolve_route *rt, struct str *reason)
{
    struct str local = STR_INIT, domain = STR_INIT, val = STR_INIT;
    struct str mtr = STR_INIT, mnh = STR_INIT;
    const char *relayhost = cfg_str(cfg_main, P_relayhost);
    enum cfg_str_param param;
    int cls, r, rc = -1;

    str_cpy(&rt->addr, addr);
    if (addr_split(addr, &local, &domain) < 0) {
        /* a domain that is not whole (an address literal with '@' inside): never route
         * on its tail */
        str_cpy(reason, "bad address syntax");
        rc = -2;
        goto out;
    }
    r = transport_lookup(addr, str_c(&domain), &val);
    if (r == MAP_ERROR) {
        str_printf(reason, "transport_maps lookup failure: %s", maps_error_text(transport_maps));
        goto out;
    }
    if (r == MAP_FOUND)
        split_route(trim(val.s), &mtr, &mnh);
    cls = addr_domain_class(str_c(&domain));
    if (cls == ADDR_TEMPFAIL) {
        str_printf(reason, "domain table lookup failure for %s", str_c(&domain));
        goto out;
    }
    param = cls == ADDR_LOCAL     ? P_local_transport
            : cls == ADDR_VIRTUAL ? P_virtual_transport
            : cls == ADDR_RELAY   ? P_relay_transport
                                  : P_default_transport;
    split_route(cfg_str(cfg_main, param), &rt->transport, &rt->nexthop);
    if (rt->nexthop.len == 0) {
        if ((cls == ADDR_RELAY || cls == ADDR_OTHER) && *relayhost)
            str_cpy(&rt->nexthop, relayhost);
        else
            str_cpy(&rt->nexthop, str_c(&domain));
    }
    if (mtr.len) {
        str_cpy(&rt->transport, mtr.s);
        if (mnh.len == 0)
            str_cpy(&rt->nexthop, str_c(&domain));
    }
    if (mnh.len)
        str_cpy(&rt->nexthop, mnh.s);
    rc = 0;
out:
    str_free(&local);
    str_free(&domain);
    str_free(&val);
    str_free(&mtr);
    str_free(&mnh);
    return rc;
}
