/*
 * htab.h - hash table from C string keys to pointers
 *
 * Keys are copied; values are the caller's. Case-sensitive: fold keys
 * before use where a table is case-insensitive. Iteration order is
 * unspecified; do not insert or delete while iterating.
 */
#ifndef PETREL_HTAB_H
#define PETREL_HTAB_H

#include <stddef.h>

struct htab;

struct htab_iter {
    size_t bucket;
    void *node;
};

struct htab *htab_create(size_t hint);
/* htab_free - free the table; free_value (may be NULL) is called on each value */
void htab_free(struct htab *h, void (*free_value)(void *));
void *htab_get(const struct htab *h, const char *key);
/* htab_put - insert or replace; returns the old value or NULL */
void *htab_put(struct htab *h, const char *key, void *value);
/* htab_del - remove; returns the removed value or NULL */
void *htab_del(struct htab *h, const char *key);
size_t htab_count(const struct htab *h);
void htab_iter_init(struct htab_iter *it);
/* htab_next - next entry; 0 at the end */
int htab_next(const struct htab *h, struct htab_iter *it, const char **key, void **value);
/* hash_bytes - FNV-1a 64-bit hash */
unsigned long long hash_bytes(const void *p, size_t n);

#endif
