/*
 * mstore_cache.h - petrel.cache, blobs by UID (mstore_cache.c); internal to the mail store
 *
 * The views (mstore_box.c) map sequence numbers to UIDs for the public
 * mstore_cache_get/put; the index resets the file when it starts over.
 */
#ifndef PETREL_MSTORE_CACHE_H
#define PETREL_MSTORE_CACHE_H

#include "mstore_impl.h"

/* ms_cache_get - the blob of (uid, field): 1 found (in out), 0 not cached */
int ms_cache_get(struct mstore_box *b, uint32_t uid, int field, struct str *out);
/* ms_cache_put - buffer a blob, written by ms_cache_write */
void ms_cache_put(struct mstore_box *b, uint32_t uid, int field, const void *p, size_t n);
void ms_cache_release(struct mstore_box *b);
int ms_cache_write(struct mstore_box *b);
void ms_cache_drop_uids(struct mstore_box *b, const uint32_t *uids, size_t n);
void ms_cache_reset(const char *dir);

#endif
