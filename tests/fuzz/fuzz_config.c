/*
 * fuzz_config - libFuzzer target: main.cf and master.cf
 *
 * The input is parsed as main.cf text (with $name expansion, lists, sizes,
 * times and the typed checks of every known parameter, as `petrel check`
 * does) and as master.cf text (the service table with -o overrides).
 * Configuration is trusted less than it seems: `petrel check` runs it for
 * the admin, and a set-gid helper reads it as the invoking user.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "mcf.h"
#include "str.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 32768)
        return 0;
    char *text = fuzz_cstr(data, size);

    struct cfg *c = cfg_new("/nonexistent");
    struct cfg_diag d;
    cfg_diag_init(&d);
    cfg_parse_text(c, text, "main.cf", &d);
    struct str out = STR_INIT, err = STR_INIT;
    struct strlist names = STRLIST_INIT, list = STRLIST_INIT;
    /* a daemon only ever runs with a configuration that passed the check */
    if (cfg_check(c, &d) == 0) {
        cfg_expand(c, "$myhostname $mydomain ${myorigin} $(mydestination) $nosuch", &out, &err);
        cfg_names_set(c, &names);
        for (size_t i = 0; i < names.n; i++) {
            str_reset(&out);
            str_reset(&err);
            cfg_expand(c, cfg_raw(c, names.v[i]), &out, &err);
        }
        cfg_list(c, P_mydestination, &list);
        cfg_size(c, P_message_size_limit);
        cfg_time(c, P_smtpd_timeout);
    }
    cfg_diag_free(&d);

    struct mcf m;
    mcf_init(&m);
    cfg_diag_init(&d);
    mcf_parse_text(text, "master.cf", &m, &d);
    for (size_t i = 0; i < m.n; i++)
        mcf_apply_overrides(&m.svc[i], c);
    mcf_free(&m);
    cfg_diag_free(&d);

    long long v;
    int b;
    cfg_parse_time(text, 's', &v);
    cfg_parse_size(text, &v);
    cfg_parse_bool(text, &b);

    strlist_free(&names);
    strlist_free(&list);
    str_free(&out);
    str_free(&err);
    cfg_free(c);
    free(text);
    return 0;
}
