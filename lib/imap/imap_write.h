/*
 * imap_write.h - IMAP output: strings in the form the grammar allows
 *
 * RFC 3501 9: a string goes out as a quoted string when every byte is a
 * 7-bit TEXT-CHAR (no CR, LF or NUL), otherwise as a literal {n}; an
 * astring goes out as an atom when it is one (and cannot be mistaken for
 * NIL); an nstring is NIL for an absent value. IMAP4rev1 cannot carry NUL
 * even in a literal (CHAR8), so a NUL goes out as 0x80, as Dovecot does.
 */
#ifndef PETREL_IMAP_WRITE_H
#define PETREL_IMAP_WRITE_H

#include <stddef.h>

#include "str.h"

/* imap_is_atom - whether n bytes form an atom (RFC 3501 9: 1*ATOM-CHAR) */
int imap_is_atom(const char *s, size_t n);
/* imap_is_quotable - whether n bytes can go out as a quoted string */
int imap_is_quotable(const char *s, size_t n);
/* imap_append_quoted - "..." with \ and " escaped (the caller checked imap_is_quotable) */
void imap_append_quoted(struct str *out, const char *s, size_t n);
/* imap_append_literal - {n} CRLF and the bytes (NUL as 0x80) */
void imap_append_literal(struct str *out, const char *s, size_t n);
/* imap_append_string - quoted string when possible, else literal */
void imap_append_string(struct str *out, const char *s, size_t n);
/* imap_append_nstring - NIL for s == NULL, else a string */
void imap_append_nstring(struct str *out, const char *s, size_t n);
/* imap_append_cstring / imap_append_cnstring - the same for C strings */
void imap_append_cstring(struct str *out, const char *s);
void imap_append_cnstring(struct str *out, const char *s);
/* imap_append_astring - atom when possible (never the atom NIL), else a string */
void imap_append_astring(struct str *out, const char *s, size_t n);

#endif
