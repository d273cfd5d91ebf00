/*
 * fuzz_addr - libFuzzer target: address forms and RFC 5322 address lists
 *
 * The input is taken three ways: as an internal-form address (addr_split,
 * addr_strip_extension, addr_external, addr_quote_local), as the value of
 * an address header (mime_parse_addresses, which ENVELOPE and SEARCH use)
 * and as a Date: value (mime_parse_date). Invariants: splitting and joining
 * give back the bytes, external form is never shorter than the local part,
 * every parsed address has a mailbox unless it marks a group end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "cfg.h"
#include "mime.h"
#include "str.h"

#include "fuzz_util.h"

/* LLVMFuzzerInitialize - the built-in configuration (recipient_delimiter and the like) */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cfg_main = cfg_new("/nonexistent");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    char *s = fuzz_cstr(data, size);

    struct str local = STR_INIT, domain = STR_INIT, ext = STR_INIT, ext_form = STR_INIT;
    struct str quoted = STR_INIT;
    addr_split(s, &local, &domain);
    if (local.len + domain.len > strlen(s))
        abort();
    addr_external(s, &ext_form);
    addr_quote_local(str_c(&local), &quoted);
    if (quoted.len < local.len)
        abort();
    addr_strip_extension(&local, &ext);

    struct mime_addrlist l;
    memset(&l, 0, sizeof(l));
    mime_parse_addresses((const char *)data, size, &l);
    for (size_t i = 0; i < l.n; i++)
        if (l.v[i].host != NULL && l.v[i].mailbox == NULL)
            abort();
    mime_addrlist_free(&l);

    time_t t;
    int tz;
    mime_parse_date((const char *)data, size, &t, &tz);

    str_free(&local);
    str_free(&domain);
    str_free(&ext);
    str_free(&ext_form);
    str_free(&quoted);
    free(s);
    return 0;
}
