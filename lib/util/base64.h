/*
 * base64.h - strict base64 (RFC 4648) for SASL and MIME
 *
 * The decoder rejects anything that is not canonical base64 (bad
 * characters, bad padding); SASL (RFC 4954, RFC 5034, RFC 3501) requires
 * that strictness. MIME bodies, which allow line breaks and junk, use
 * base64_decode_mime.
 */
#ifndef PETREL_BASE64_H
#define PETREL_BASE64_H

#include <stddef.h>

#include "str.h"

/* base64_encode - append the encoding of n bytes to out */
void base64_encode(const void *in, size_t n, struct str *out);
/* base64_decode - append the decoded bytes to out; -1 when in is not valid base64 */
int base64_decode(const char *in, size_t n, struct str *out);
/* base64_decode_mime - lenient decoding: skips white space and invalid characters,
 * stops at '=' (RFC 2045 6.8); returns 0 */
int base64_decode_mime(const char *in, size_t n, struct str *out);

#endif
