/*
 * mime_impl.h - what the files of the MIME module share (internal to lib/)
 *
 * A pool holds the strings and parts of one parsed message so that
 * freeing a message is one walk over a few large blocks.
 */
#ifndef PETREL_MIME_IMPL_H
#define PETREL_MIME_IMPL_H

#include <stddef.h>

#include "mime.h"

/* mime_pool_alloc - zeroed memory from the pool, never NULL */
void *mime_pool_alloc(struct mime_pool *pool, size_t n);
/* mime_pool_strndup - a NUL-terminated copy in the pool */
char *mime_pool_strndup(struct mime_pool *pool, const char *s, size_t n);
/* mime_parse_params - parse "; a=b; c*0=d" parameters (RFC 2045 5.1, RFC 2231 3-4)
 * starting at *pos in v, merging RFC 2231 sections */
void mime_parse_params(struct mime_pool *pool, const char *v, size_t n, size_t pos,
                       struct mime_param **params, unsigned *nparams);
/* mime_token - skip CFWS and read an RFC 2045 token at *pos; its length (0 when none) */
size_t mime_token(const char *v, size_t n, size_t *pos, const char **tok);
/* mime_skip_cfws - skip white space and (nested) comments */
size_t mime_skip_cfws(const char *v, size_t n, size_t pos);

#endif
