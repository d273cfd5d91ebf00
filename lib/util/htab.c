/*
 * htab.c - hash table from C string keys to pointers
 *
 * Separate chaining with FNV-1a hashing; the bucket array doubles when the
 * load factor passes 1, so lookups stay O(1) for the queue manager's
 * hundreds of thousands of entries.
 */
#include <stdlib.h>
#include <string.h>

#include "htab.h"
#include "mem.h"

struct node {
    struct node *next;
    unsigned long long hash;
    void *value;
    char key[];
};

struct htab {
    struct node **buckets;
    size_t nbuckets;
    size_t count;
};

unsigned long long hash_bytes(const void *p, size_t n)
{
    const unsigned char *c = p;
    unsigned long long h = 1469598103934665603ULL;

    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= 1099511628211ULL;
    }
    return h;
}

struct htab *htab_create(size_t hint)
{
    struct htab *h = xcalloc(1, sizeof(*h));
    size_t n = 16;

    while (n < hint)
        n *= 2;
    h->buckets = xcalloc(n, sizeof(struct node *));
    h->nbuckets = n;
    return h;
}

void htab_free(struct htab *h, void (*free_value)(void *))
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->nbuckets; i++) {
        struct node *n = h->buckets[i], *next;
        for (; n; n = next) {
            next = n->next;
            if (free_value)
                free_value(n->value);
            free(n);
        }
    }
    free(h->buckets);
    free(h);
}

/* find - the link that points at key's node (or at the NULL ending its chain) */
static struct node **find(const struct htab *h, const char *key, unsigned long long hv)
{
    struct node **np = &h->buckets[hv & (h->nbuckets - 1)];

    for (; *np; np = &(*np)->next)
        if ((*np)->hash == hv && strcmp((*np)->key, key) == 0)
            break;
    return np;
}

/* grow - double the bucket array */
static void grow(struct htab *h)
{
    size_t nb = h->nbuckets * 2;
    struct node **b = xcalloc(nb, sizeof(struct node *));

    for (size_t i = 0; i < h->nbuckets; i++) {
        struct node *n = h->buckets[i], *next;
        for (; n; n = next) {
            next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
        }
    }
    free(h->buckets);
    h->buckets = b;
    h->nbuckets = nb;
}

void *htab_get(const struct htab *h, const char *key)
{
    struct node **np = find(h, key, hash_bytes(key, strlen(key)));
    return *np ? (*np)->value : NULL;
}

void *htab_put(struct htab *h, const char *key, void *value)
{
    size_t klen = strlen(key);
    unsigned long long hv = hash_bytes(key, klen);
    struct node **np = find(h, key, hv);

    if (*np) {
        void *old = (*np)->value;
        (*np)->value = value;
        return old;
    }
    struct node *n = xmalloc(sizeof(*n) + klen + 1);
    memcpy(n->key, key, klen + 1);
    n->hash = hv;
    n->value = value;
    n->next = NULL;
    *np = n;
    if (++h->count > h->nbuckets)
        grow(h);
    return NULL;
}

void *htab_del(struct htab *h, const char *key)
{
    struct node **np = find(h, key, hash_bytes(key, strlen(key)));
    struct node *n = *np;
    void *v;

    if (n == NULL)
        return NULL;
    *np = n->next;
    v = n->value;
    free(n);
    h->count--;
    return v;
}

size_t htab_count(const struct htab *h)
{
    return h->count;
}

void htab_iter_init(struct htab_iter *it)
{
    it->bucket = 0;
    it->node = NULL;
}

int htab_next(const struct htab *h, struct htab_iter *it, const char **key, void **value)
{
    struct node *n = it->node ? ((struct node *)it->node)->next : NULL;

    while (n == NULL && it->bucket < h->nbuckets)
        n = h->buckets[it->bucket++];
    it->node = n;
    if (n == NULL)
        return 0;
    if (key)
        *key = n->key;
    if (value)
        *value = n->value;
    return 1;
}
