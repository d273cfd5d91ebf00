/*
 * sendmail_verify.c - sendmail -bv: how each address would be delivered
 *
 * Nothing is queued. Each recipient goes through the same steps as in
 * qmgr (lib/global/resolve.c): the canonical form,
 * virtual_alias_maps expansion, then transport_maps and the domain
 * classes, and the transport is looked up in master.cf as qmgr does. For
 * the local delivery agent the last step of local(8) and virtual(8) is
 * checked too: an alias or a Unix user, a virtual mailbox. One line per
 * final address on standard output:
 *
 *   ADDR: deliverable via TRANSPORT[NEXTHOP] to TARGET (detail)
 *   ADDR: undeliverable: reason
 *   ADDR: deferred: reason
 *
 * Tables are opened with the invoking user's rights; one that cannot be
 * read is a temporary failure. Exit status: 0 all deliverable, EX_NOUSER
 * when one is not, else EX_TEMPFAIL when one cannot be decided now.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "addr.h"
#include "cfg.h"
#include "map.h"
#include "mcf.h"
#include "mem.h"
#include "resolve.h"
#include "smtp_parse.h"

#include "sendmail.h"

#define V_OK 0
#define V_DEFER 1
#define V_BOUNCE 2

struct verify {
    struct mcf master;
    struct maps *aliases;
    struct maps *vmailbox;
    int worst;
};

/* note - one result line; keeps the worst outcome */
static void note(struct verify *v, const char *addr, int outcome, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void note(struct verify *v, const char *addr, int outcome, const char *fmt, ...)
{
    va_list ap;

    printf("%s: %s", addr,
           outcome == V_OK      ? "deliverable"
           : outcome == V_DEFER ? "deferred: "
                                : "undeliverable: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    if (outcome > v->worst)
        v->worst = outcome;
}

/* lookup - a key in a table list: 1 found, 0 not, -1 failure */
static int lookup(struct maps *ms, const char *key, struct str *value)
{
    int r;

    if (ms == NULL)
        return -1;
    r = maps_lookup(ms, key, value);
    return r == MAP_FOUND ? 1 : r == MAP_NOTFOUND ? 0 : -1;
}

/* local_detail - an alias or a Unix user for the local agent; the outcome */
static int local_detail(struct verify *v, const char *target, struct str *detail)
{
    struct str local = STR_INIT, domain = STR_INIT, value = STR_INIT;
    int rc = V_OK, r;

    addr_split(target, &local, &domain);
    str_lower(&local);
    r = lookup(v->aliases, local.s, &value);
    if (r < 0) {
        str_cpy(detail, "alias_maps lookup failure");
        rc = V_DEFER;
    } else if (r > 0) {
        str_printf(detail, "alias: %s", value.s);
    } else {
        addr_strip_extension(&local, NULL);
        struct passwd *pw = getpwnam(local.s);
        if (pw)
            str_printf(detail, "local user %s", pw->pw_name);
        else {
            str_printf(detail, "unknown user: \"%s\"", local.s);
            rc = V_BOUNCE;
        }
    }
    str_free(&local);
    str_free(&domain);
    str_free(&value);
    return rc;
}

/* virtual_detail - a virtual mailbox for the local agent; the outcome */
static int virtual_detail(struct verify *v, const char *target, struct str *detail)
{
    struct str local = STR_INIT, domain = STR_INIT, value = STR_INIT, key = STR_INIT;
    int rc = V_BOUNCE, r;

    addr_split(target, &local, &domain);
    str_printf(&key, "%s@%s", local.s, domain.s);
    r = lookup(v->vmailbox, key.s, &value);
    if (r == 0) {
        addr_strip_extension(&local, NULL);
        str_reset(&key);
        str_printf(&key, "%s@%s", local.s, domain.s);
        r = lookup(v->vmailbox, key.s, &value);
    }
    if (r == 0) {
        str_reset(&key);
        str_printf(&key, "@%s", domain.s);
        r = lookup(v->vmailbox, key.s, &value);
    }
    if (r < 0) {
        str_cpy(detail, "virtual_mailbox_maps lookup failure");
        rc = V_DEFER;
    } else if (r > 0) {
        str_printf(detail, "virtual mailbox %s", value.s);
        rc = V_OK;
    } else {
        str_printf(detail, "unknown virtual mailbox: %s", target);
    }
    str_free(&local);
    str_free(&domain);
    str_free(&value);
    str_free(&key);
    return rc;
}

/* verify_target - one address after expansion */
static void verify_target(struct verify *v, const char *addr, const char *target)
{
    struct resolve_route rt;
    struct str reason = STR_INIT, detail = STR_INIT, local = STR_INIT, domain = STR_INIT;
    struct mcf_service *svc;
    int outcome = V_OK;

    resolve_route_init(&rt);
    if (resolve_route(target, &rt, &reason) < 0) {
        note(v, addr, V_DEFER, "%s", reason.s);
        goto out;
    }
    svc = mcf_find(&v->master, rt.transport.s, MCF_UNIX);
    if (svc == NULL || !svc->private_) {
        if (strcmp(rt.transport.s, "error") == 0)
            note(v, addr, V_BOUNCE, "%s", rt.nexthop.len ? rt.nexthop.s : "mail is rejected");
        else if (strcmp(rt.transport.s, "discard") == 0)
            note(v, addr, V_OK, " (discarded)");
        else
            note(v, addr, V_DEFER,
                 "mail transport unavailable: no private unix service \"%s\" "
                 "in master.cf",
                 rt.transport.s);
        goto out;
    }
    if (svc->argv.n && strcmp(svc->argv.v[0], "local") == 0) {
        addr_split(target, &local, &domain);
        outcome = addr_domain_class(domain.s) == ADDR_VIRTUAL ? virtual_detail(v, target, &detail)
                                                              : local_detail(v, target, &detail);
    }
    if (outcome == V_OK)
        note(v, addr, V_OK, " via %s[%s] to %s%s%s%s", rt.transport.s, rt.nexthop.s, target,
             detail.len ? " (" : "", detail.s ? detail.s : "", detail.len ? ")" : "");
    else
        note(v, addr, outcome, "%s", detail.s);
out:
    resolve_route_free(&rt);
    str_free(&reason);
    str_free(&detail);
    str_free(&local);
    str_free(&domain);
}

int sendmail_verify(const struct sm_opts *o, const struct sm_rcpts *r)
{
    struct verify v;
    struct cfg_diag diag;
    struct str err = STR_INIT, canon = STR_INIT, reason = STR_INIT, internal = STR_INIT;
    char *path = xasprintf("%s/master.cf", o->confdir);

    memset(&v, 0, sizeof(v));
    cfg_diag_init(&diag);
    mcf_init(&v.master);
    if (mcf_load(path, &v.master, &diag) < 0)
        fprintf(stderr, "sendmail: warning: %s: %s\n", path, strerror(errno));
    cfg_diag_free(&diag);
    free(path);
    resolve_init();
    v.aliases = maps_open_param(P_alias_maps, &err);
    v.vmailbox = maps_open_param(P_virtual_mailbox_maps, &err);
    for (size_t i = 0; i < r->n; i++) {
        struct smtp_path p;
        struct strlist targets = STRLIST_INIT;
        struct str text = STR_INIT;
        const char *t, *why;
        smtp_path_init(&p);
        str_printf(&text, "<%s>", r->v[i].addr);
        t = text.s;
        smtp_parse_path(&t, SMTP_PATH_UTF8_OK, &p, &why);
        str_cpy(&internal, p.addr.s);
        smtp_path_free(&p);
        str_free(&text);
        resolve_canon(internal.s, &canon);
        str_reset(&reason);
        int e = resolve_expand(canon.s, &targets, &reason);
        if (e == -1)
            note(&v, r->v[i].addr, V_DEFER, "%s", reason.s);
        else if (e == -2)
            note(&v, r->v[i].addr, V_BOUNCE, "%s", reason.s);
        else
            for (size_t k = 0; k < targets.n; k++)
                verify_target(&v, r->v[i].addr, targets.v[k]);
        strlist_free(&targets);
    }
    fflush(stdout);
    resolve_free();
    if (v.aliases)
        maps_close(v.aliases);
    if (v.vmailbox)
        maps_close(v.vmailbox);
    mcf_free(&v.master);
    str_free(&err);
    str_free(&canon);
    str_free(&reason);
    str_free(&internal);
    return v.worst == V_BOUNCE ? EX_NOUSER : v.worst == V_DEFER ? EX_TEMPFAIL : 0;
}
