/*
 * cidr.h - matching client addresses against network lists (mynetworks)
 *
 * A network is "192.0.2.0/24", "192.0.2.1", "[2001:db8::]/32",
 * "2001:db8::/32" or "[::1]" (the Postfix mynetworks forms). Addresses are
 * compared as binary; an IPv4 address never matches an IPv6 network (sock.h
 * already shows IPv4-mapped peers as IPv4).
 */
#ifndef PETREL_CIDR_H
#define PETREL_CIDR_H

#include "str.h"

/* cidr_match - 1 when addr lies in network spec, 0 when not, -1 when spec is not a network */
int cidr_match(const char *spec, const char *addr);
/* cidr_match_list - 1 when addr lies in any network of the list; entries that are not
 * networks are skipped (cidr_check reports them) */
int cidr_match_list(const struct strlist *specs, const char *addr);
/* cidr_check - -1 with err naming the first entry that is not a network */
int cidr_check(const struct strlist *specs, struct str *err);

#endif
