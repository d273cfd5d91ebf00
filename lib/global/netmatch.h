/*
 * netmatch.h - client addresses against network lists (mynetworks style)
 *
 * Patterns are an address ("192.0.2.1", "[2001:db8::1]") or a network in
 * CIDR form ("127.0.0.0/8", "[::1]/128", "2001:db8::/32"); brackets
 * around IPv6 addresses are optional. An IPv4-mapped IPv6 client address
 * matches IPv4 patterns. Other entries (host names, lookup tables) are not
 * supported here and never match; netmatch_check() reports them.
 */
#ifndef PETREL_NETMATCH_H
#define PETREL_NETMATCH_H

#include "cfg.h"
#include "str.h"

/* netmatch - 1 when addr (text) lies in pattern, 0 when not, -1 for a bad pattern */
int netmatch(const char *pattern, const char *addr);
/* netmatch_param - whether addr matches any entry of a list parameter of cfg_main */
int netmatch_param(enum cfg_list_param param, const char *addr);
/* netmatch_check - -1 with a reason in err when an entry of the list parameter is
 * not a valid pattern */
int netmatch_check(enum cfg_list_param param, struct str *err);

#endif
