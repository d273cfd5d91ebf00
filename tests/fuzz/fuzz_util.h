/*
 * fuzz_util.h - small helpers shared by the libFuzzer targets
 *
 * fuzz_fd() gives the input as a file descriptor (a memfd, rewound) for the
 * readers that take one: queue files, maildrop files, IPC streams.
 * fuzz_cstr() gives it as a NUL-terminated string (stopping at the first
 * NUL, as the C-string APIs would). fuzz_split() cuts the input at the
 * first NUL or newline into two strings, for two-argument functions.
 * Header-only: each target is one translation unit.
 */
#ifndef PETREL_FUZZ_UTIL_H
#define PETREL_FUZZ_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* fuzz_fd - a memfd holding data, positioned at 0; the caller closes it */
static inline int fuzz_fd(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz", 0);
    if (fd < 0)
        abort();
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0)
            abort();
        off += (size_t)n;
    }
    if (lseek(fd, 0, SEEK_SET) != 0)
        abort();
    return fd;
}

/* fuzz_cstr - a malloc'ed copy of data, NUL-terminated */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* fuzz_split - two malloc'ed strings: before and after the first '\n' or NUL */
static inline void fuzz_split(const uint8_t *data, size_t size, char **a, char **b)
{
    size_t i = 0;
    while (i < size && data[i] != '\n' && data[i] != '\0')
        i++;
    *a = fuzz_cstr(data, i);
    *b = i < size ? fuzz_cstr(data + i + 1, size - i - 1) : fuzz_cstr(data, 0);
}

#endif
