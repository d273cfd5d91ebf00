/*
 * charset.h - character sets: conversion to UTF-8, validation, case folding
 *
 * Everything inside Petrel that compares or shows text from a message
 * (SEARCH, bounces, logs) works in UTF-8. charset_to_utf8 converts from any
 * charset glibc's iconv knows; bytes that are invalid in their charset
 * become U+FFFD, so the output is always valid UTF-8 and a broken message
 * never stops a search. Text labelled US-ASCII or UTF-8 (or not labelled
 * at all) that is not valid UTF-8 is read as Windows-1252, the charset
 * such "8-bit junk" nearly always is in practice.
 *
 * utf8_fold folds text for case-insensitive matching (Unicode simple
 * lower-case mapping of the C.UTF-8 locale), independent of the process
 * locale.
 */
#ifndef PETREL_CHARSET_H
#define PETREL_CHARSET_H

#include <stddef.h>

#include "str.h"

/* charset_to_utf8 - append n bytes of text in charset (NULL or "" = unlabelled) to out
 * as UTF-8; returns 0, or -1 when the charset is unknown (the bytes are then
 * converted as unlabelled text) */
int charset_to_utf8(const char *charset, const void *in, size_t n, struct str *out);
/* charset_known - whether a charset name can be converted */
int charset_known(const char *charset);
/* utf8_valid - whether n bytes are well-formed UTF-8 (no overlongs, no surrogates) */
int utf8_valid(const void *p, size_t n);
/* utf8_repair - append p to out, keeping valid UTF-8 and reading anything else as
 * Windows-1252 */
void utf8_repair(const void *p, size_t n, struct str *out);
/* utf8_fold - append the case-folded form of UTF-8 text (invalid bytes pass through) */
void utf8_fold(const void *p, size_t n, struct str *out);
/* utf8_decode_one - decode one code point at p (n bytes available); returns its length
 * (1..4) with *cp set, or 0 for an invalid sequence */
size_t utf8_decode_one(const unsigned char *p, size_t n, unsigned *cp);
/* utf8_encode_one - append code point cp to out */
void utf8_encode_one(unsigned cp, struct str *out);

#endif
