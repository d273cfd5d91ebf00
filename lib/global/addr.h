/*
 * addr.h - mail addresses: splitting, extensions, the class of a domain
 *
 * Shared by smtpd (recipient validation), qmgr (routing), local delivery
 * and the submission tools, so that all of them agree on which domains
 * are ours. Domain lists (mydestination, virtual_mailbox_domains,
 * relay_domains) hold names, ".parent" entries matching every subdomain,
 * and type:name lookup tables; matching ignores case. A table that fails
 * makes the answer ADDR_TEMPFAIL, never "not ours".
 *
 * Addresses inside Petrel are in internal form (doc/internals.md: a quoted
 * local part unquoted); addr_external() gives them back in the form that
 * SMTP and message headers need.
 */
#ifndef PETREL_ADDR_H
#define PETREL_ADDR_H

#include "str.h"

#define ADDR_TEMPFAIL (-1)
#define ADDR_OTHER 0   /* not ours: relay only for trusted clients */
#define ADDR_LOCAL 1   /* mydestination, localhost, [our address] */
#define ADDR_VIRTUAL 2 /* virtual_mailbox_domains */
#define ADDR_RELAY 3   /* relay_domains */

/* addr_domain_at - the '@' that begins the domain of an internal address, or NULL.
 * This is the one place that decides where a domain begins: the last '@', because a
 * local part may hold '@' (it was quoted) and a domain never does (every entry point
 * refuses an address literal with '@' in it, RFC 5321 4.1.3 notwithstanding). */
const char *addr_domain_at(const char *addr);
/* addr_internal_ok - whether an internal address splits unambiguously: the text after
 * addr_domain_at() holds no '[' or ']' except as one whole "[...]" address literal. An
 * address literal with an '@' inside ("a@[x:@victim.example]") fails: its last '@' would
 * give the domain "victim.example]". */
int addr_internal_ok(const char *addr);
/* addr_split - local part and domain at addr_domain_at() (domain folded to lower
 * case; "" when there is no '@'); 0, or -1 when !addr_internal_ok(addr) (local and
 * domain are filled all the same, and no caller may route on them) */
int addr_split(const char *addr, struct str *local, struct str *domain);
/* addr_strip_extension - remove "+ext" (per recipient_delimiter) from a local
 * part; the extension (without delimiter) goes to ext when not NULL */
void addr_strip_extension(struct str *local, struct str *ext);
/* addr_quote_local - append the external form of an internal local part: as it is
 * when it is a dot-atom (8-bit bytes count as atext, RFC 6531), else a quoted
 * string (RFC 5321 4.1.2) */
void addr_quote_local(const char *local, struct str *out);
/* addr_external - append the external form of an internal address (the local
 * part before addr_domain_at() quoted as needed, the domain as it is; "" stays "") */
void addr_external(const char *addr, struct str *out);
/* addr_domain_class - which class of ours a domain belongs to (ADDR_*) */
int addr_domain_class(const char *domain);
/* addr_is_our_literal - "[192.0.2.1]" / "[IPv6:...]" naming one of our interface addresses */
int addr_is_our_literal(const char *domain);

#endif
