/*
 * resolve.h - address rewriting and routing: canonical form, virtual alias
 * expansion, transport and next hop
 *
 * Used by qmgr for every recipient and by sendmail -bv to show what qmgr
 * would do. resolve_init() opens the tables named by main.cf.
 */
#ifndef PETREL_RESOLVE_H
#define PETREL_RESOLVE_H

#include "str.h"

struct resolve_route {
    struct str transport;
    struct str nexthop;
    struct str addr; /* the address to deliver to */
};
/* resolve_init - open the tables (fatal on a bad specification) */
void resolve_init(void);
void resolve_free(void);
/* resolve_canon - a bare local part gets @$myorigin; the domain is folded to lower case */
void resolve_canon(const char *addr, struct str *out);
/* resolve_expand - virtual_alias_maps expansion of a canonical address into out (a list
 * of canonical addresses): 0 ok, -1 temporary failure (reason set), -2 permanent
 * (expansion limits; reason set) */
int resolve_expand(const char *addr, struct strlist *out, struct str *reason);
/* resolve_route - transport and next hop of a canonical address: 0 ok, -1 temporary
 * failure, -2 an address that addr_split() cannot split unambiguously (reason set) */
int resolve_route(const char *addr, struct resolve_route *rt, struct str *reason);
void resolve_route_init(struct resolve_route *rt);
void resolve_route_free(struct resolve_route *rt);

#endif
