/*
 * fuzz_netmatch - libFuzzer target: network patterns (mynetworks, access lists)
 *
 * The input is "pattern NEWLINE address": the pattern is matched against
 * the address and a few fixed ones, IPv4 and IPv6. netmatch answers 1, 0
 * or -1 (bad pattern); a pattern judged bad for one address is bad for
 * every address.
 */
#include <stdint.h>
#include <stdlib.h>

#include "netmatch.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *pattern, *addr;
    fuzz_split(data, size, &pattern, &addr);
    static const char *const fixed[] = {"127.0.0.1", "10.1.2.3", "::1", "2001:db8::7",
                                        "::ffff:192.0.2.1"};
    int r = netmatch(pattern, addr);
    if (r < -1 || r > 1)
        abort();
    int bad = netmatch(pattern, fixed[0]) < 0;
    for (size_t i = 1; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if ((netmatch(pattern, fixed[i]) < 0) != bad)
            abort();
    free(pattern);
    free(addr);
    return 0;
}
