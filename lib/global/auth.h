/*
 * auth.h - mailbox passwords: hashing, verification, SASL PLAIN
 *
 * Users and hashes live in mailbox_passwd_maps (keys user@domain, values
 * crypt(3) hashes: yescrypt "$y$" by default, SHA-512 "$6$" accepted),
 * shared by SMTP AUTH, POP3 and IMAP and managed by petrel-passwd.
 * Verification takes the same time whether the user exists or not, and an
 * unavailable table is a temporary failure, never a rejection.
 */
#ifndef PETREL_AUTH_H
#define PETREL_AUTH_H

#include "map.h"
#include "str.h"

#define AUTH_OK 0
#define AUTH_FAIL 1     /* unknown user or wrong password: the same answer */
#define AUTH_TEMPFAIL 2 /* table unavailable: try again later */

/* auth_hash - a new yescrypt hash of password (fresh random salt); -1 with err */
int auth_hash(const char *password, struct str *out, struct str *err);
/* auth_check_hash - whether password matches a crypt(3) hash (constant-time compare) */
int auth_check_hash(const char *hash, const char *password);
/* auth_verify - check user/password against the tables */
int auth_verify(struct maps *passwd, const char *user, const char *password);
/* auth_plain_decode - split a decoded SASL PLAIN message (RFC 4616)
 * "authzid NUL authcid NUL passwd"; -1 when malformed */
int auth_plain_decode(const struct str *msg, struct str *authzid, struct str *authcid,
                      struct str *passwd);

#endif
