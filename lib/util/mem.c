/*
 * mem.c - checked allocation
 *
 * Thin wrappers over malloc(3) and friends that never return NULL and that
 * refuse size computations which would overflow. Out of memory is an
 * environment failure: log_fatal, the process exits, master restarts it.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"

/* oom - report allocation failure; never returns */
static void oom(size_t n)
{
    log_fatal("out of memory allocating %zu bytes", n);
}

/* xmalloc - malloc that never returns NULL (a zero size still gives a pointer) */
void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

/* xcalloc - zeroed allocation with overflow check */
void *xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (p == NULL)
        oom(nmemb * size);
    return p;
}

/* xrealloc - realloc that never returns NULL */
void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    return q;
}

void *xgrow(void *p, size_t n, size_t size)
{
    if (n < 4)
        return n == 0 ? xreallocarray(p, 4, size) : p;
    if ((n & (n - 1)) != 0) /* not a power of two: below the capacity */
        return p;
    if (n > SIZE_MAX / 2)
        log_fatal("array of %zu elements: too large", n);
    return xreallocarray(p, 2 * n, size);
}

/* xreallocarray - realloc of nmemb * size bytes with overflow check */
void *xreallocarray(void *p, size_t nmemb, size_t size)
{
    if (size != 0 && nmemb > SIZE_MAX / size)
        log_panic("xreallocarray: size overflow (%zu x %zu)", nmemb, size);
    return xrealloc(p, nmemb * size);
}

/* xstrdup - duplicate a C string */
char *xstrdup(const char *s)
{
    return xmemdup(s, strlen(s) + 1);
}

/* xstrndup - duplicate at most n bytes of a string, always terminated */
char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* xmemdup - duplicate a block of memory */
void *xmemdup(const void *p, size_t n)
{
    void *q = xmalloc(n);
    if (n)
        memcpy(q, p, n);
    return q;
}

/* xasprintf - allocate a formatted string */
char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *p;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    return p;
}
