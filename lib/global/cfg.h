/*
 * cfg.h - main.cf: typed parameter registry, parser, expansion, getters
 *
 * Every parameter of every Petrel program is declared once, in a table owned
 * by its program: lib/global/params_<owner>.def, one line per parameter,
 *
 *     P(smtpd_timeout, TIME, "300s", 1, 3600, 0, "Time limit for ...")
 *
 * (name, type, default text, min, max, flags, one or two sentences of
 * documentation), every table listed in cfg_params.def. These X-macro
 * tables are the single source of everything else, built by the C
 * preprocessor, so nothing can drift apart:
 *   - cfg_registry.c expands them into struct cfg_param entries
 *     (cfg_params[], cfg_tables[]): parsing, validation, `petrel-conf -d`,
 *     `petrel-conf --markdown` (doc/parameters.md) and the checks of
 *     main.cf and master.cf -o overrides all read that registry;
 *   - cfg_params.h expands them into one enum per type: P_<name> is a
 *     constant of enum cfg_<type>_param (cfg_time_param, cfg_str_param, ...).
 * Code names a parameter by that constant: cfg_time(cfg_main,
 * P_smtpd_timeout) returns seconds as long long, cfg_str(..., P_myhostname)
 * a string, and so on (cfg_value gives the text of any type); a function
 * that takes a parameter takes the typed enum too
 * (maps_open_param(P_alias_maps, &err)). A misspelt name is an
 * undeclared identifier, and a parameter of another type is an enum
 * conversion, which this header makes an error in every file that includes
 * it, so both fail the build (scripts/check-typed-params.sh proves it).
 * cfg_name(P_x) is the name as text, for messages and the by-name calls.
 *
 * Names known only at run time (petrel-conf NAME, master.cf -o overrides,
 * $name expansion, <transport>_destination_concurrency_limit) go through
 * the registry by string: cfg_find_param, cfg_raw, cfg_is_set, cfg_origin,
 * cfg_set, cfg_default and the by-name getters cfg_<type>_name, which check
 * the type when the program runs.
 *
 * A struct cfg holds the settings read from one main.cf plus per-service
 * `-o name=value` overrides. Values are kept as text and expanded on read
 * ($name, ${name}, $(name), ${name?text}, ${name:text}, $$), with a
 * recursion limit. Time values take the units s, m, h, d, w; a bare number
 * uses the unit of the parameter's default, as in Postfix. Sizes are bytes
 * with optional k/m/g (1024-based) suffixes.
 *
 * cfg_check() validates everything once at start-up and reports
 * "file:line: message" lines; after a successful check the typed getters
 * cannot fail (a failure there is a bug: log_panic).
 */
#ifndef PETREL_CFG_H
#define PETREL_CFG_H

#include "cfg_params.h"
#include "str.h"

/* a parameter of one type given where another is wanted does not compile (see above) */
#pragma GCC diagnostic error "-Wenum-conversion"
/* nor does a string given where a parameter id is wanted */
#pragma GCC diagnostic error "-Wint-conversion"

enum cfg_type { CFG_STR, CFG_BOOL, CFG_INT, CFG_TIME, CFG_SIZE, CFG_LIST };

#define CFG_F_DYNAMIC 1   /* default computed at run time (host name, ...) */
#define CFG_F_BUILDPATH 2 /* default set by configure (installation paths) */

struct cfg_param {
    const char *name;
    enum cfg_type type;
    const char *defval; /* text, may contain $name; NULL with CFG_F_DYNAMIC */
    long long min;      /* min == max == 0: no bound */
    long long max;
    int flags;
    const char *doc; /* one or two sentences for petrel.conf(5) */
};

struct cfg_table {
    const char *owner;              /* "common", "master", "smtpd", ... */
    const struct cfg_param *params; /* ends with a NULL name */
};

/* the registry of all tables, ending with a NULL owner (cfg_registry.c) */
extern const struct cfg_table cfg_tables[];
/* every parameter, indexed by enum cfg_id; each table ends with a NULL name */
extern const struct cfg_param cfg_params[];

struct cfg;

/* diagnostics collected by cfg_load/cfg_check */
struct cfg_diag {
    struct strlist lines; /* "file:line: message" */
    int errors;
    int warnings;
};

void cfg_diag_init(struct cfg_diag *d);
void cfg_diag_free(struct cfg_diag *d);
void cfg_diag_add(struct cfg_diag *d, int is_error, const char *file, int line, const char *fmt,
                  ...) __attribute__((format(printf, 5, 6)));

/* the configuration every daemon reads (set by the program's start-up code) */
extern struct cfg *cfg_main;

/* cfg_new - empty configuration for config directory confdir ($config_directory) */
struct cfg *cfg_new(const char *confdir);
void cfg_free(struct cfg *c);
const char *cfg_confdir(const struct cfg *c);
/* cfg_load - read confdir/main.cf; -1 when it cannot be read (errno set) */
int cfg_load(struct cfg *c, struct cfg_diag *diag);
/* cfg_load_text - parse text as confdir/main.cf (messages name that file) and keep it */
void cfg_load_text(struct cfg *c, const char *text, size_t len, struct cfg_diag *diag);
/* cfg_text - the main.cf text kept by cfg_load/cfg_load_text ("" when none) */
const char *cfg_text(const struct cfg *c, size_t *len);
/* the largest main.cf accepted */
#define CFG_TEXT_LIMIT (16 * 1024 * 1024)
/* cfg_load_fd - read main.cf from an open descriptor (closed here): for a caller that
 * opened and judged the file itself (tool_load_trusted) */
void cfg_load_fd(struct cfg *c, int fd, struct cfg_diag *diag);
/* cfg_parse_text - parse main.cf text (file names the origin in messages) */
void cfg_parse_text(struct cfg *c, const char *text, const char *file, struct cfg_diag *diag);
/* cfg_set - override a value (-o name=value); origin shows in messages */
void cfg_set(struct cfg *c, const char *name, const char *value, const char *origin);
/* cfg_check - validate every setting and every default; returns the error count */
int cfg_check(struct cfg *c, struct cfg_diag *diag);

/* cfg_find_param - the registry entry for name, or NULL */
const struct cfg_param *cfg_find_param(const char *name);
/* cfg_default - the default text of a registered parameter (dynamic ones computed) */
const char *cfg_default(const char *name);
/* cfg_is_set - explicitly set in main.cf or by an override */
int cfg_is_set(const struct cfg *c, const char *name);
/* cfg_raw - the unexpanded value (setting or default), NULL if unknown */
const char *cfg_raw(const struct cfg *c, const char *name);
/* cfg_origin - where a setting came from ("main.cf:12"), NULL for defaults */
const char *cfg_origin(const struct cfg *c, const char *name, int *line);
/* cfg_expand - expand $names in text into out; -1 on recursion/syntax error */
int cfg_expand(const struct cfg *c, const char *text, struct str *out, struct str *err);
/* cfg_names_set - names set in main.cf, in file order */
void cfg_names_set(const struct cfg *c, struct strlist *out);

/* typed getters of expanded values: the parameter is a P_<name> of its type */
const char *cfg_str(const struct cfg *c, enum cfg_str_param p);
int cfg_bool(const struct cfg *c, enum cfg_bool_param p);
long long cfg_int(const struct cfg *c, enum cfg_int_param p);
long long cfg_time(const struct cfg *c, enum cfg_time_param p); /* seconds */
long long cfg_size(const struct cfg *c, enum cfg_size_param p); /* bytes */
/* cfg_list - append the items of a list parameter (comma and/or space separated;
 * a {...} group is one item) */
void cfg_list(const struct cfg *c, enum cfg_list_param p, struct strlist *out);
/* cfg_name - the name of a parameter: any P_<name> */
const char *cfg_name(int p);
/* cfg_value - the expanded text of a parameter of any type: any P_<name> */
const char *cfg_value(const struct cfg *c, int p);

/* the same by a name known only at run time: a registered parameter of that type
 * (log_panic otherwise); cfg_str_name also takes a name that is only set */
const char *cfg_str_name(const struct cfg *c, const char *name);
int cfg_bool_name(const struct cfg *c, const char *name);
long long cfg_int_name(const struct cfg *c, const char *name);
long long cfg_time_name(const struct cfg *c, const char *name);
long long cfg_size_name(const struct cfg *c, const char *name);
void cfg_list_name(const struct cfg *c, const char *name, struct strlist *out);

/* cfg_split_list - the same splitting for any text */
void cfg_split_list(const char *text, struct strlist *out);

/* value parsers, shared with master.cf and the tools */
int cfg_parse_bool(const char *s, int *out);
int cfg_parse_time(const char *s, char default_unit, long long *out);
int cfg_parse_size(const char *s, long long *out);

/* cfg_edit_file - set name=value pairs in a main.cf in place (comments kept; temp + rename) */
int cfg_edit_file(const char *path, const struct strlist *names, const struct strlist *values,
                  struct str *err);

#endif
