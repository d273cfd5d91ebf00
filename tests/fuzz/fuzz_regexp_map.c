/*
 * fuzz_regexp_map - libFuzzer target: regexp: lookup tables
 *
 * The input is a whole regexp table file (Postfix syntax: /pattern/flags
 * result, if/endif blocks, $1 substitutions); it is opened as
 * regexp:/proc/self/fd/N and asked for a few keys. A table that fails to
 * open must say why; a lookup answers found, not found or a table error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "map.h"
#include "str.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    int fd = fuzz_fd(data, size);
    char spec[64];
    snprintf(spec, sizeof(spec), "regexp:/proc/self/fd/%d", fd);
    struct str err = STR_INIT, value = STR_INIT;
    struct map *m = map_open(spec, &err);
    if (m == NULL) {
        if (err.len == 0)
            abort();
    } else {
        static const char *const keys[] = {"user@example.com",
                                           "",
                                           "a",
                                           "MAILER-DAEMON",
                                           "x@[127.0.0.1]",
                                           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"};
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            str_reset(&value);
            map_lookup(m, keys[i], &value);
        }
        map_close(m);
    }
    str_free(&err);
    str_free(&value);
    close(fd);
    return 0;
}
