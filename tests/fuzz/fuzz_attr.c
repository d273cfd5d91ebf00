/*
 * fuzz_attr - libFuzzer target: the attribute IPC between Petrel's processes
 *
 * Every internal request and reply (delivery requests, showq, qadmin, the
 * authentication service) is a list of name=value lines ending with an
 * empty line (lib/global/attr.h). The input is a byte stream from a peer: read
 * message after message within limits, then each one is encoded again and
 * decoded line by line to the same attributes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attr.h"
#include "str.h"
#include "stream.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    int fd = fuzz_fd(data, size);
    struct stream *s = stream_new(fd, -1, 5);
    struct attr_list l, again;
    struct str err = STR_INIT, enc = STR_INIT;
    attr_init(&l);
    attr_init(&again);
    for (int msgs = 0; msgs < 64; msgs++) {
        attr_reset(&l);
        str_reset(&err);
        if (attr_read(s, &l, 100, 16384, &err) != STREAM_OK)
            break;
        str_reset(&enc);
        attr_encode(&l, &enc);
        /* the encoding is lines; decoding each gives back the list */
        attr_reset(&again);
        const char *p = str_c(&enc), *end = p + enc.len;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
            if (n > 0 && attr_decode_line(&again, p, n) != 0)
                abort();
            p += n + 1;
        }
        if (again.n != l.n)
            abort();
        for (size_t i = 0; i < l.n; i++)
            if (strcmp(again.items[i].name, l.items[i].name) != 0 ||
                again.items[i].vlen != l.items[i].vlen ||
                memcmp(again.items[i].value, l.items[i].value, l.items[i].vlen) != 0)
                abort();
        attr_get(&l, "status");
        long long v;
        attr_get_int(&l, "size", &v);
    }
    attr_free(&l);
    attr_free(&again);
    str_free(&err);
    str_free(&enc);
    stream_free(s, 0);
    close(fd);
    return 0;
}
