/*
 * cfg.h - main.cf: typed parameter registry, parser, expansion, getters
 *
 * Every parameter of every Petrel program is declared once in a typed table
 * (struct cfg_param) owned by its program and listed in cfg_tables[]
 * (cfg_registry.c). That table is the single source for parsing,
 * validation, `petrel-conf -d` and the petrel.conf(5) page.
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

#include "str.h"

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
    const char *owner; /* "common", "master", "smtpd", ... */
    const struct cfg_param *params; /* ends with a NULL name */
};

/* the registry of all tables, ending with a NULL owner (cfg_registry.c) */
extern const struct cfg_table cfg_tables[];

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

/* typed getters of expanded values */
const char *cfg_str(const struct cfg *c, const char *name);
int cfg_bool(const struct cfg *c, const char *name);
long long cfg_int(const struct cfg *c, const char *name);
long long cfg_time(const struct cfg *c, const char *name); /* seconds */
long long cfg_size(const struct cfg *c, const char *name); /* bytes */
/* cfg_list - append the items of a list parameter (comma and/or space separated;
 * a {...} group is one item) */
void cfg_list(const struct cfg *c, const char *name, struct strlist *out);
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
