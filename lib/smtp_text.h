/*
 * smtp_text.h - SMTP text forms shared by the server and the client
 *
 * Pure functions: RFC 3461 xtext (ENVID, ORCPT) and the quoting of an
 * internal-form local part for an SMTP path. smtpd decodes what clients
 * send; the smtp client encodes what it passes on.
 */
#ifndef PETREL_SMTP_TEXT_H
#define PETREL_SMTP_TEXT_H

#include <stddef.h>

#include "str.h"

/* smtp_xtext_decode - RFC 3461 4 xtext to bytes (appended); -1 when malformed */
int smtp_xtext_decode(const char *in, struct str *out);
/* smtp_xtext_encode - bytes to xtext (appended) */
void smtp_xtext_encode(const char *in, size_t n, struct str *out);
/* smtp_quote_local - external form of an internal local part: quoted when it is not a
 * dot-atom (RFC 5321 4.1.2), appended to out */
void smtp_quote_local(const char *local, struct str *out);
/* smtp_quote_addr - an internal-form address (split at the last '@') in its external
 * form, local part quoted as needed; "" stays "" (the null sender) */
void smtp_quote_addr(const char *addr, struct str *out);

#endif
