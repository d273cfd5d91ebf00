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

/* imap_append_nstring - NIL for s == NULL, else a string */
void imap_append_nstring(struct str *out, const char *s, size_t n);
/* imap_append_cstring / imap_append_cnstring - the same for C strings */
void imap_append_cstring(struct str *out, const char *s);
void imap_append_cnstring(struct str *out, const char *s);
/* imap_append_astring - atom when possible (never the atom NIL), else a string */
void imap_append_astring(struct str *out, const char *s, size_t n);

#endif
