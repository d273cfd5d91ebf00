/*
 * mem.h - checked allocation
 *
 * Every allocation in Petrel goes through these wrappers. They never return
 * NULL: when memory is exhausted the process logs a fatal error and exits,
 * which is always safe because the queue on disk is the truth.
 */
#ifndef PETREL_MEM_H
#define PETREL_MEM_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* xreallocarray - resize an array of nmemb elements, checking for overflow */
void *xreallocarray(void *p, size_t nmemb, size_t size);
/* xgrow - array p of n elements (allocated only by xgrow, or NULL with n == 0) with room
 * for element n: the capacity is kept implicitly at the next power of two (at least 4),
 * so that n appends copy O(n) elements, not O(n^2) as growing by one does */
void *xgrow(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
/* xasprintf - allocate a formatted string */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
