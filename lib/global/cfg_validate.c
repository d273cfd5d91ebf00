/*
 * cfg_validate.c - everything a daemon would die on, checked before it starts
 *
 * One validation path for `petrel check`, master's start and reload, and
 * every daemon's own start-up: cfg_check() (syntax, types, bounds), then
 * what only shows when a daemon uses a value: the type of every lookup
 * table (*_maps, tables in mynetworks, check_*_access arguments), the
 * names in smtpd_*_restrictions (against smtpd_restrict.h, the list that
 * smtpd evaluates), and Postfix filter settings Petrel does not implement
 * (a migrated configuration must not silently lose its spam filtering).
 * Each problem is one "file:line: message" error, with the line of the
 * setting (or of the master.cf -o override) that caused it.
 * A configuration that passes here cannot make a daemon exit at start.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"
#include "cfg_validate.h"
#include "map.h"
#include "mcf.h"
#include "mem.h"
#include "smtpd_restrict.h"

/* Postfix content filters that Petrel does not run (yet): setting one is an error
 * until a program declares the parameter, so that mail never passes unfiltered by
 * surprise */
static const char *const unsupported_filters[] = {
    "smtpd_milters",        "non_smtpd_milters", "content_filter",
    "smtpd_proxy_filter",   "header_checks",     "mime_header_checks",
    "nested_header_checks", "body_checks",       NULL,
};

/* string parameters with a fixed set of values (the daemon that reads one dies on
 * anything else); "" means the empty value is accepted */
static const struct {
    enum cfg_str_param param;
    const char *values[6];
} enum_params[] = {
    {P_smtpd_tls_security_level, {"", "none", "may", "encrypt", NULL}},
    {P_smtpd_forbid_bare_newline, {"reject", "normalize", "yes", NULL}},
};

/* implicit TLS without a certificate: the daemon cannot serve at all */
static const struct {
    const char *program;
    enum cfg_bool_param wrapper;
    enum cfg_str_param cert;
} tls_needs_cert[] = {
    {"popd", P_popd_tls_wrappermode, P_popd_tls_cert_file},
    {"imapd", P_imapd_tls_wrappermode, P_imapd_tls_cert_file},
};

/* add - one error about parameter name, at the line that set it */
static void add(const struct cfg *c, struct cfg_diag *d, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add(const struct cfg *c, struct cfg_diag *d, const char *name, const char *fmt, ...)
{
    int line = 0;
    const char *file = cfg_origin(c, name, &line);
    struct str msg = STR_INIT;
    va_list ap;

    va_start(ap, fmt);
    str_vprintf(&msg, fmt, ap);
    va_end(ap);
    cfg_diag_add(d, 1, file ? file : "default", line, "%s: %s", name, str_c(&msg));
    str_free(&msg);
}

/* check_table - one "type:name" of parameter name */
static void check_table(const struct cfg *c, struct cfg_diag *d, const char *name, const char *spec)
{
    struct str err = STR_INIT;

    if (map_spec_check(spec, &err) < 0)
        add(c, d, name, "%s", str_c(&err));
    str_free(&err);
}

/* is_network - "1.2.3.0/24", "1.2.3.4", "[::1]/128", "::1" (as smtpd's parse_net) */
static int is_network(const char *item)
{
    unsigned char a[16];
    char buf[128];
    const char *slash = strrchr(item, '/');
    size_t n = slash ? (size_t)(slash - item) : strlen(item);
    int bits;

    if (n >= sizeof(buf))
        return 0;
    memcpy(buf, item, n);
    buf[n] = '\0';
    if (buf[0] == '[' && n > 2 && buf[n - 1] == ']') {
        memmove(buf, buf + 1, n - 2);
        buf[n - 2] = '\0';
    }
    if (inet_pton(AF_INET, buf, a) == 1)
        bits = 32;
    else if (inet_pton(AF_INET6, buf, a) == 1)
        bits = 128;
    else
        return 0;
    if (slash) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || b < 0 || b > bits)
            return 0;
    }
    return 1;
}

/* check_networks - mynetworks: each item a network or a supported table */
static void check_networks(const struct cfg *c, struct cfg_diag *d, enum cfg_list_param name)
{
    struct strlist l = STRLIST_INIT;

    cfg_list(c, name, &l);
    for (size_t i = 0; i < l.n; i++) {
        if (is_network(l.v[i]))
            continue;
        if (strchr(l.v[i], ':') && l.v[i][0] != '[')
            check_table(c, d, cfg_name(name), l.v[i]);
        else
            add(c, d, cfg_name(name), "bad network '%s' (use address/prefix or type:table)",
                l.v[i]);
    }
    strlist_free(&l);
}

/* check_tables - every *_maps parameter and mynetworks */
static void check_tables(const struct cfg *c, struct cfg_diag *d)
{
    for (const struct cfg_table *t = cfg_tables; t->owner; t++) {
        for (const struct cfg_param *p = t->params; p->name; p++) {
            size_t n = strlen(p->name);
            int maps = n > 5 && strcmp(p->name + n - 5, "_maps") == 0;
            struct strlist l = STRLIST_INIT;

            if (p->type != CFG_LIST || !maps)
                continue;
            cfg_list_name(c, p->name, &l);
            for (size_t i = 0; i < l.n; i++)
                check_table(c, d, p->name, l.v[i]);
            strlist_free(&l);
        }
    }
    check_networks(c, d, P_mynetworks);
}

/* check_restrictions - smtpd_*_restrictions: known names, check_* with a valid table */
static void check_restrictions(const struct cfg *c, struct cfg_diag *d)
{
    for (int r = 0; r < SR_LIST_COUNT; r++) {
        const char *list = cfg_name(smtpd_restrict_lists[r]);
        struct strlist l = STRLIST_INIT;

        cfg_list(c, smtpd_restrict_lists[r], &l);
        for (size_t i = 0; i < l.n; i++) {
            const struct smtpd_restrict *sr = smtpd_restrict_find(l.v[i]);
            if (sr == NULL) {
                add(c, d, list, "unknown restriction '%s'", l.v[i]);
            } else if (sr->flags & SR_TAKES_TABLE) {
                if (i + 1 >= l.n)
                    add(c, d, list, "%s needs a table argument", l.v[i]);
                else
                    check_table(c, d, list, l.v[++i]);
            }
        }
        strlist_free(&l);
    }
}

/* check_unsupported - Postfix filter settings that would be ignored */
static void check_unsupported(const struct cfg *c, struct cfg_diag *d)
{
    for (int i = 0; unsupported_filters[i]; i++) {
        const char *name = unsupported_filters[i];
        const char *raw;

        if (cfg_find_param(name) || !cfg_is_set(c, name))
            continue;
        raw = cfg_raw(c, name);
        while (*raw == ' ' || *raw == '\t')
            raw++;
        if (*raw)
            add(c, d, name, "%s",
                "not supported yet: Petrel runs no milters or content filters, so mail would "
                "pass unfiltered; remove the setting (an empty value is accepted)");
    }
}

/* check_values - enumerated values, and settings that only work together (for program,
 * or for any program when NULL) */
static void check_values(const struct cfg *c, struct cfg_diag *d, const char *program)
{
    for (size_t i = 0; i < sizeof(enum_params) / sizeof(enum_params[0]); i++) {
        const char *v;
        int ok = 0;

        v = cfg_str(c, enum_params[i].param);
        for (int j = 0; enum_params[i].values[j]; j++)
            ok |= strcasecmp(v, enum_params[i].values[j]) == 0;
        if (!ok)
            add(c, d, cfg_name(enum_params[i].param), "unknown value '%s'", v);
    }
    for (size_t i = 0; i < sizeof(tls_needs_cert) / sizeof(tls_needs_cert[0]); i++)
        if ((program == NULL || strcmp(program, tls_needs_cert[i].program) == 0) &&
            cfg_bool(c, tls_needs_cert[i].wrapper) && *cfg_str(c, tls_needs_cert[i].cert) == '\0')
            add(c, d, cfg_name(tls_needs_cert[i].wrapper), "yes needs %s",
                cfg_name(tls_needs_cert[i].cert));
}

/* validate - every check; program limits program-specific ones (NULL: all programs) */
static int validate(struct cfg *c, struct cfg_diag *diag, const char *program)
{
    int before = diag->errors;

    if (cfg_check(c, diag) > 0)
        return diag->errors - before; /* values that do not parse: nothing more to say */
    check_tables(c, diag);
    check_restrictions(c, diag);
    check_unsupported(c, diag);
    check_values(c, diag, program);
    return diag->errors - before;
}

int cfg_validate(struct cfg *c, struct cfg_diag *diag)
{
    return validate(c, diag, NULL);
}

int cfg_validate_services(const struct cfg *c, const struct mcf *m, struct cfg_diag *diag)
{
    int before = diag->errors;
    size_t len;
    const char *text = cfg_text(c, &len);

    for (size_t i = 0; i < m->n; i++) {
        const struct mcf_service *s = &m->svc[i];
        struct cfg *sc;
        struct cfg_diag sd;
        struct str origin = STR_INIT;

        if (s->opt_names.n == 0)
            continue;
        /* only what the overrides cause: main.cf's own problems are reported once */
        str_printf(&origin, "%s:%d: ", s->file ? s->file : "master.cf", s->line);
        sc = cfg_new(cfg_confdir(c));
        cfg_diag_init(&sd);
        cfg_load_text(sc, text, len, &sd);
        mcf_apply_overrides(s, sc);
        validate(sc, &sd, s->argv.n ? s->argv.v[0] : NULL);
        for (size_t j = 0; j < sd.lines.n; j++) {
            const char *l = sd.lines.v[j];
            if (strncmp(l, str_c(&origin), origin.len) != 0)
                continue;
            strlist_add(&diag->lines, l);
            if (strncmp(l + origin.len, "warning: ", 9) == 0)
                diag->warnings++;
            else
                diag->errors++;
        }
        cfg_diag_free(&sd);
        cfg_free(sc);
        str_free(&origin);
    }
    return diag->errors - before;
}
