/*
 * smtp_text.h - SMTP text forms shared by the server and the client
 *
 * Pure functions: RFC 3461 xtext (ENVID, ORCPT). smtpd decodes what
 * clients send; the smtp client encodes what it passes on. The external
 * (quoted) form of addresses is addr_external() in addr.h.
 */
#ifndef PETREL_SMTP_TEXT_H
#define PETREL_SMTP_TEXT_H

#include <stddef.h>

#include "str.h"

/* smtp_xtext_decode - RFC 3461 4 xtext to bytes (appended); -1 when malformed */
int smtp_xtext_decode(const char *in, struct str *out);
/* smtp_xtext_encode - bytes to xtext (appended) */
void smtp_xtext_encode(const char *in, size_t n, struct str *out);
#endif
