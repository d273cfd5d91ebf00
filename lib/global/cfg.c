/*
 * cfg.c - main.cf: typed parameter registry, parser, expansion, getters
 *
 * Parsing follows Postfix's main.cf rules: a logical line starts in column
 * one, a line that starts with white space continues it, '#' as the first
 * non-blank character makes a comment line, "name = value" with the value
 * trimmed; a later setting of the same name wins (with a warning).
 * Settings are kept as unexpanded text; expansion happens on read.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "fileio.h"
#include "htab.h"
#include "linereader.h"
#include "log.h"
#include "mem.h"

#define EXPAND_DEPTH_LIMIT 100

struct setting {
    char *value;
    char *file; /* origin: file name or "-o" source */
    int line;
    int from_file; /* 1 when it came from main.cf itself */
};

struct cfg {
    char *confdir;
    struct htab *settings; /* name -> struct setting */
    struct strlist order;  /* names in main.cf order, for petrel-conf -n */
    struct htab *cache;    /* name -> expanded value */
    struct strlist stale;  /* expansions replaced by later settings, freed with the cfg */
    struct str text;       /* main.cf as read by cfg_load/cfg_load_text */
};

struct cfg *cfg_main;

static struct htab *registry; /* name -> const struct cfg_param * */

static void put_setting(struct cfg *c, const char *name, const char *value, const char *file,
                        int line, int from_file);

void cfg_diag_init(struct cfg_diag *d)
{
    strlist_init(&d->lines);
    d->errors = d->warnings = 0;
}

void cfg_diag_free(struct cfg_diag *d)
{
    strlist_free(&d->lines);
}

void cfg_diag_add(struct cfg_diag *d, int is_error, const char *file, int line, const char *fmt,
                  ...)
{
    struct str s = STR_INIT;
    va_list ap;

    if (d == NULL)
        return;
    if (file && line > 0)
        str_printf(&s, "%s:%d: ", file, line);
    else if (file)
        str_printf(&s, "%s: ", file);
    if (!is_error)
        str_cat(&s, "warning: ");
    va_start(ap, fmt);
    str_vprintf(&s, fmt, ap);
    va_end(ap);
    strlist_add(&d->lines, str_c(&s));
    str_free(&s);
    if (is_error)
        d->errors++;
    else
        d->warnings++;
}

/* build_registry - index every table once; a duplicate name is a bug */
static void build_registry(void)
{
    if (registry)
        return;
    registry = htab_create(512);
    for (const struct cfg_table *t = cfg_tables; t->owner; t++)
        for (const struct cfg_param *p = t->params; p->name; p++)
            if (htab_put(registry, p->name, (void *)p) != NULL)
                log_panic("parameter %s declared twice (table %s)", p->name, t->owner);
}

const struct cfg_param *cfg_find_param(const char *name)
{
    build_registry();
    return htab_get(registry, name);
}

/* dyn_hostname - the system host name as an FQDN */
static const char *dyn_hostname(void)
{
    static char host[256];
    struct addrinfo hints, *ai = NULL;

    if (host[0])
        return host;
    if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    if (strchr(host, '.') == NULL) {
        memset(&hints, 0, sizeof(hints));
        hints.ai_flags = AI_CANONNAME;
        if (getaddrinfo(host, NULL, &hints, &ai) == 0 && ai && ai->ai_canonname &&
            strchr(ai->ai_canonname, '.'))
            snprintf(host, sizeof(host), "%s", ai->ai_canonname);
        if (ai)
            freeaddrinfo(ai);
    }
    if (strchr(host, '.') == NULL) {
        size_t n = strlen(host);
        snprintf(host + n, sizeof(host) - n, ".localdomain");
    }
    lowercase(host);
    return host;
}

/* dyn_domain - the host name minus its first label */
static const char *dyn_domain(void)
{
    const char *h = dyn_hostname();
    const char *dot = strchr(h, '.');
    return dot && dot[1] ? dot + 1 : "localdomain";
}

const char *cfg_default(const char *name)
{
    const struct cfg_param *p = cfg_find_param(name);

    if (p == NULL)
        return NULL;
    if (p->flags & CFG_F_DYNAMIC) {
        if (p == &cfg_params[P_myhostname])
            return dyn_hostname();
        if (p == &cfg_params[P_mydomain])
            return dyn_domain();
        log_panic("no dynamic default for %s", name);
    }
    return p->defval;
}

struct cfg *cfg_new(const char *confdir)
{
    struct cfg *c = xcalloc(1, sizeof(*c));

    build_registry();
    c->confdir = xstrdup(confdir);
    c->settings = htab_create(128);
    c->cache = htab_create(128);
    strlist_init(&c->order);
    strlist_init(&c->stale);
    str_init(&c->text);
    /* as in Postfix, $config_directory names the directory actually in use */
    put_setting(c, cfg_name(P_config_directory), confdir, "-c", 0, 0);
    return c;
}

static void free_setting(void *p)
{
    struct setting *s = p;
    free(s->value);
    free(s->file);
    free(s);
}

void cfg_free(struct cfg *c)
{
    if (c == NULL)
        return;
    htab_free(c->settings, free_setting);
    htab_free(c->cache, free);
    strlist_free(&c->order);
    strlist_free(&c->stale);
    str_free(&c->text);
    free(c->confdir);
    free(c);
}

const char *cfg_confdir(const struct cfg *c)
{
    return c->confdir;
}

/* put_setting - store name=value with its origin */
static void put_setting(struct cfg *c, const char *name, const char *value, const char *file,
                        int line, int from_file)
{
    struct setting *s = xcalloc(1, sizeof(*s));
    struct setting *old;
    struct htab_iter it;
    void *v;

    /* any cached expansion may depend on this name: retire them all, keeping
     * the memory alive because callers may still hold returned pointers */
    htab_iter_init(&it);
    while (htab_next(c->cache, &it, NULL, &v))
        strlist_adopt(&c->stale, v);
    htab_free(c->cache, NULL);
    c->cache = htab_create(128);

    s->value = xstrdup(value);
    s->file = xstrdup(file ? file : "");
    s->line = line;
    s->from_file = from_file;
    old = htab_put(c->settings, name, s);
    if (old) {
        if (from_file && !old->from_file)
            s->from_file = 0;
        free_setting(old);
    } else if (from_file) {
        strlist_add(&c->order, name);
    }
}

/* valid_name - parameter names are letters, digits and '_' */
static int valid_name(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return 0;
    return 1;
}

/* parse_logical - handle one logical line "name = value" */
static void parse_logical(struct cfg *c, char *text, const char *file, int line,
                          struct cfg_diag *diag)
{
    char *eq = strchr(text, '=');
    char *name, *value;

    if (eq == NULL) {
        cfg_diag_add(diag, 1, file, line, "missing '=' after parameter name");
        return;
    }
    *eq = '\0';
    name = trim(text);
    value = trim(eq + 1);
    if (!valid_name(name, strlen(name))) {
        cfg_diag_add(diag, 1, file, line, "bad parameter name '%s'", name);
        return;
    }
    struct setting *old = htab_get(c->settings, name);
    if (old && old->from_file)
        cfg_diag_add(diag, 0, file, line, "%s: overriding earlier entry at line %d", name,
                     old->line);
    put_setting(c, name, value, file, line, 1);
}

void cfg_parse_text(struct cfg *c, const char *text, const char *file, struct cfg_diag *diag)
{
    struct str logical = STR_INIT;
    struct linereader r;
    int line, kind;

    linereader_init(&r, text);
    while ((kind = linereader_next(&r, &logical, &line)) != LINEREADER_END) {
        if (kind == LINEREADER_ORPHAN)
            cfg_diag_add(diag, 1, file, line, "continuation line without a preceding line");
        else
            parse_logical(c, logical.s, file, line, diag);
    }
    str_free(&logical);
}

int cfg_load(struct cfg *c, struct cfg_diag *diag)
{
    struct str path = STR_INIT;
    int fd;

    str_printf(&path, "%s/main.cf", c->confdir);
    fd = open(str_c(&path), O_RDONLY | O_CLOEXEC);
    str_free(&path);
    if (fd < 0)
        return -1;
    cfg_load_fd(c, fd, diag);
    return 0;
}

void cfg_load_fd(struct cfg *c, int fd, struct cfg_diag *diag)
{
    struct str path = STR_INIT, text = STR_INIT;

    str_printf(&path, "%s/main.cf", c->confdir);
    if (fileio_read_fd(fd, CFG_TEXT_LIMIT, &text) < 0)
        cfg_diag_add(diag, 1, str_c(&path), 0, "%s",
                     errno == EFBIG ? "file too large" : strerror(errno));
    else
        cfg_load_text(c, text.s ? text.s : "", text.len, diag);
    close(fd);
    str_free(&text);
    str_free(&path);
}

void cfg_load_text(struct cfg *c, const char *text, size_t len, struct cfg_diag *diag)
{
    struct str path = STR_INIT;

    str_printf(&path, "%s/main.cf", c->confdir);
    str_cpyn(&c->text, text, len);
    if (linereader_has_nul(str_c(&c->text), c->text.len))
        cfg_diag_add(diag, 1, str_c(&path), 0, "file contains a NUL byte");
    else
        cfg_parse_text(c, str_c(&c->text), str_c(&path), diag);
    str_free(&path);
}

const char *cfg_text(const struct cfg *c, size_t *len)
{
    *len = c->text.len;
    return str_c(&c->text);
}

void cfg_set(struct cfg *c, const char *name, const char *value, const char *origin)
{
    put_setting(c, name, value, origin ? origin : "-o", 0, 0);
}

int cfg_is_set(const struct cfg *c, const char *name)
{
    return htab_get(c->settings, name) != NULL;
}

const char *cfg_raw(const struct cfg *c, const char *name)
{
    struct setting *s = htab_get(c->settings, name);
    return s ? s->value : cfg_default(name);
}

const char *cfg_origin(const struct cfg *c, const char *name, int *line)
{
    struct setting *s = htab_get(c->settings, name);

    if (s == NULL)
        return NULL;
    if (line)
        *line = s->line;
    return s->file;
}

void cfg_names_set(const struct cfg *c, struct strlist *out)
{
    for (size_t i = 0; i < c->order.n; i++)
        strlist_add(out, c->order.v[i]);
}

static int expand(const struct cfg *c, const char *text, struct str *out, int depth,
                  struct str *err);

/* expand_ref - expand one $reference starting after the '$'; returns chars consumed or -1 */
static long expand_ref(const struct cfg *c, const char *p, struct str *out, int depth,
                       struct str *err)
{
    const char *start = p;
    char close = 0, op = 0;
    const char *name;
    size_t nlen;
    struct str cond = STR_INIT, val = STR_INIT;
    long rc = -1;

    if (*p == '{' || *p == '(') {
        close = *p == '{' ? '}' : ')';
        p++;
    }
    name = p;
    while (isalnum((unsigned char)*p) || *p == '_')
        p++;
    nlen = (size_t)(p - name);
    if (nlen == 0) {
        if (err)
            str_printf(err, "bad '$' reference (use $$ for a literal '$')");
        return -1;
    }
    if (close) {
        if (*p == '?' || *p == ':') {
            int level = 1;
            op = *p++;
            while (*p) {
                if (*p == '{' || *p == '(')
                    level++;
                else if ((*p == '}' || *p == ')') && --level == 0)
                    break;
                str_catc(&cond, *p++);
            }
        }
        if (*p != close) {
            if (err)
                str_printf(err, "missing '%c' in parameter reference", close);
            goto out;
        }
        p++;
    }
    char *key = xstrndup(name, nlen);
    const char *raw = cfg_raw(c, key);
    free(key);
    if (raw && expand(c, raw, &val, depth + 1, err) < 0)
        goto out;
    if (op == '?') {
        if (val.len && expand(c, str_c(&cond), out, depth + 1, err) < 0)
            goto out;
    } else if (op == ':') {
        if (val.len == 0 && expand(c, str_c(&cond), out, depth + 1, err) < 0)
            goto out;
    } else {
        str_catn(out, str_c(&val), val.len);
    }
    rc = (long)(p - start);
out:
    str_free(&cond);
    str_free(&val);
    return rc;
}

static int expand(const struct cfg *c, const char *text, struct str *out, int depth,
                  struct str *err)
{
    if (depth > EXPAND_DEPTH_LIMIT) {
        if (err && err->len == 0)
            str_printf(err, "parameter expansion recursion limit (%d) exceeded",
                       EXPAND_DEPTH_LIMIT);
        return -1;
    }
    for (const char *p = text; *p;) {
        if (*p != '$') {
            const char *d = strchr(p, '$');
            size_t n = d ? (size_t)(d - p) : strlen(p);
            str_catn(out, p, n);
            p += n;
            continue;
        }
        p++;
        if (*p == '$') {
            str_catc(out, '$');
            p++;
            continue;
        }
        long used = expand_ref(c, p, out, depth, err);
        if (used < 0)
            return -1;
        p += used;
    }
    return 0;
}

int cfg_expand(const struct cfg *c, const char *text, struct str *out, struct str *err)
{
    return expand(c, text, out, 0, err);
}

/* expanded - the expanded value of a parameter, cached per configuration */
static const char *expanded(const struct cfg *c, const char *name)
{
    struct str out = STR_INIT, err = STR_INIT;
    const char *raw;
    char *v = htab_get(c->cache, name);

    if (v)
        return v;
    if ((raw = cfg_raw(c, name)) == NULL)
        log_panic("cfg: unknown parameter %s requested", name);
    if (expand(c, raw, &out, 0, &err) < 0)
        log_fatal("parameter %s: %s", name, str_c(&err));
    str_free(&err);
    v = str_steal(&out);
    htab_put(c->cache, name, v);
    return v;
}

/* param_of - the registry entry of a typed id; an id that is none is a bug */
static const struct cfg_param *param_of(int id)
{
    if (id < 0 || id >= CFG_ID_COUNT || cfg_params[id].name == NULL)
        log_panic("cfg: no parameter has id %d", id);
    return &cfg_params[id];
}

const char *cfg_name(int p)
{
    return param_of(p)->name;
}

const char *cfg_value(const struct cfg *c, int p)
{
    return expanded(c, param_of(p)->name);
}

const char *cfg_str_name(const struct cfg *c, const char *name)
{
    return expanded(c, name);
}

const char *cfg_str(const struct cfg *c, enum cfg_str_param p)
{
    return expanded(c, param_of((int)p)->name);
}

int cfg_parse_bool(const char *s, int *out)
{
    if (strcasecmp(s, "yes") == 0 || strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0)
        *out = 1;
    else if (strcasecmp(s, "no") == 0 || strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

int cfg_parse_time(const char *s, char default_unit, long long *out)
{
    unsigned long long v;
    char num[32];
    size_t n = strspn(s, "0123456789");
    char unit = s[n] ? s[n] : default_unit;
    long long mult;

    if (n == 0 || n >= sizeof(num) || (s[n] && s[n + 1]))
        return -1;
    memcpy(num, s, n);
    num[n] = '\0';
    switch (tolower((unsigned char)unit)) {
    case 's':
        mult = 1;
        break;
    case 'm':
        mult = 60;
        break;
    case 'h':
        mult = 3600;
        break;
    case 'd':
        mult = 86400;
        break;
    case 'w':
        mult = 7 * 86400;
        break;
    default:
        return -1;
    }
    if (parse_ulong(num, (unsigned long long)(LLONG_MAX / mult), &v) < 0)
        return -1;
    *out = (long long)v * mult;
    return 0;
}

int cfg_parse_size(const char *s, long long *out)
{
    unsigned long long v;
    char num[32];
    size_t n = strspn(s, "0123456789");
    long long mult = 1;

    if (n == 0 || n >= sizeof(num) || (s[n] && s[n + 1]))
        return -1;
    switch (tolower((unsigned char)s[n])) {
    case '\0':
        break;
    case 'k':
        mult = 1024;
        break;
    case 'm':
        mult = 1024 * 1024;
        break;
    case 'g':
        mult = 1024LL * 1024 * 1024;
        break;
    default:
        return -1;
    }
    memcpy(num, s, n);
    num[n] = '\0';
    if (parse_ulong(num, (unsigned long long)(LLONG_MAX / mult), &v) < 0)
        return -1;
    *out = (long long)v * mult;
    return 0;
}

/* time_unit - the default unit of a time parameter: its default's suffix */
static char time_unit(const struct cfg_param *p)
{
    size_t n = p->defval ? strlen(p->defval) : 0;
    return n && isalpha((unsigned char)p->defval[n - 1]) ? p->defval[n - 1] : 's';
}

/* check_value - validate an expanded value against its type; NULL or a reason */
static const char *check_value(const struct cfg_param *p, const char *v, long long *num)
{
    int b;

    *num = 0;
    switch (p->type) {
    case CFG_STR:
    case CFG_LIST:
        return NULL;
    case CFG_BOOL:
        return cfg_parse_bool(v, &b) < 0 ? "bad boolean value (use yes or no)" : NULL;
    case CFG_INT: {
        unsigned long long u;
        const char *d = v[0] == '-' ? v + 1 : v;
        if (parse_ulong(d, LLONG_MAX, &u) < 0)
            return "bad integer value";
        *num = v[0] == '-' ? -(long long)u : (long long)u;
        break;
    }
    case CFG_TIME:
        if (cfg_parse_time(v, time_unit(p), num) < 0)
            return "bad time value (a number with an optional unit s, m, h, d or w)";
        break;
    case CFG_SIZE:
        if (cfg_parse_size(v, num) < 0)
            return "bad size value (bytes, optionally with k, m or g)";
        break;
    }
    if ((p->min || p->max) && (*num < p->min || *num > p->max))
        return "value out of range";
    return NULL;
}

/* typed - fetch, expand and convert a parameter of the given type */
static long long typed(const struct cfg *c, const struct cfg_param *p, const char *name,
                       enum cfg_type type)
{
    const char *v;
    const char *why;
    long long num;

    if (p == NULL || p->type != type)
        log_panic("cfg: parameter %s requested with the wrong type", p ? p->name : name);
    v = expanded(c, p->name);
    if ((why = check_value(p, v, &num)) != NULL)
        log_fatal("parameter %s = %s: %s", p->name, v, why);
    if (type == CFG_BOOL) {
        int b = 0;
        cfg_parse_bool(v, &b);
        return b;
    }
    return num;
}

/* by_id, by_name - typed() of a typed id, of a name known at run time */
#define by_id(c, p, type) typed(c, param_of((int)(p)), NULL, type)
#define by_name(c, name, type) typed(c, cfg_find_param(name), name, type)

int cfg_bool(const struct cfg *c, enum cfg_bool_param p)
{
    return (int)by_id(c, p, CFG_BOOL);
}

long long cfg_int(const struct cfg *c, enum cfg_int_param p)
{
    return by_id(c, p, CFG_INT);
}

long long cfg_time(const struct cfg *c, enum cfg_time_param p)
{
    return by_id(c, p, CFG_TIME);
}

long long cfg_size(const struct cfg *c, enum cfg_size_param p)
{
    return by_id(c, p, CFG_SIZE);
}

void cfg_list(const struct cfg *c, enum cfg_list_param p, struct strlist *out)
{
    cfg_split_list(expanded(c, cfg_name((int)p)), out);
}

int cfg_bool_name(const struct cfg *c, const char *name)
{
    return (int)by_name(c, name, CFG_BOOL);
}

long long cfg_int_name(const struct cfg *c, const char *name)
{
    return by_name(c, name, CFG_INT);
}

long long cfg_time_name(const struct cfg *c, const char *name)
{
    return by_name(c, name, CFG_TIME);
}

long long cfg_size_name(const struct cfg *c, const char *name)
{
    return by_name(c, name, CFG_SIZE);
}

void cfg_list_name(const struct cfg *c, const char *name, struct strlist *out)
{
    cfg_split_list(cfg_str_name(c, name), out);
}

void cfg_split_list(const char *text, struct strlist *out)
{
    const char *p = text;

    /* separators inside { } do not split: "inline:{ a=1, b=2 }" is one item */
    while (*p) {
        const char *start;
        int level = 0;
        p += strspn(p, ", \t\r\n");
        if (*p == '\0')
            break;
        start = p;
        for (; *p; p++) {
            if (*p == '{')
                level++;
            else if (*p == '}' && level > 0)
                level--;
            else if (level == 0 && strchr(", \t\r\n", *p))
                break;
        }
        strlist_addn(out, start, (size_t)(p - start));
    }
}

int cfg_check(struct cfg *c, struct cfg_diag *diag)
{
    int before = diag->errors;
    struct htab_iter it;
    const char *name;
    void *val;

    for (const struct cfg_table *t = cfg_tables; t->owner; t++) {
        for (const struct cfg_param *p = t->params; p->name; p++) {
            struct str out = STR_INIT, err = STR_INIT;
            int line = 0;
            const char *file = cfg_origin(c, p->name, &line);
            const char *why;
            long long num;

            if (expand(c, cfg_raw(c, p->name), &out, 0, &err) < 0) {
                cfg_diag_add(diag, 1, file ? file : "default", line, "%s: %s", p->name,
                             str_c(&err));
            } else if ((why = check_value(p, str_c(&out), &num)) != NULL) {
                if (p->min || p->max)
                    cfg_diag_add(diag, 1, file ? file : "default", line,
                                 "%s = %s: %s (allowed %lld..%lld)", p->name, str_c(&out), why,
                                 p->min, p->max);
                else
                    cfg_diag_add(diag, 1, file ? file : "default", line, "%s = %s: %s", p->name,
                                 str_c(&out), why);
            }
            str_free(&out);
            str_free(&err);
        }
    }
    htab_iter_init(&it);
    while (htab_next(c->settings, &it, &name, &val)) {
        struct setting *s = val;
        if (cfg_find_param(name) == NULL && s->from_file)
            cfg_diag_add(diag, 0, s->file, s->line, "unknown parameter name %s", name);
        else if (cfg_find_param(name) == NULL)
            cfg_diag_add(diag, 0, s->file, s->line, "unknown parameter name %s in override", name);
    }
    return diag->errors - before;
}

/* line_name - the parameter a main.cf line sets, or NULL (comments, continuations) */
static int line_sets(const char *line, size_t n, const char *name)
{
    size_t len = strlen(name);
    if (n == 0 || isspace((unsigned char)line[0]) || line[0] == '#')
        return 0;
    if (n < len || strncmp(line, name, len) != 0)
        return 0;
    const char *p = line + len;
    while (p < line + n && (*p == ' ' || *p == '\t'))
        p++;
    return p < line + n && *p == '=';
}

/* drop_continuation - skip the continuation lines of a replaced entry from p on, copying the
 * comment and blank lines among them to out (they do not end the entry, as cfg_parse_text
 * reads it); the start of the next entry */
static const char *drop_continuation(const char *p, struct str *out)
{
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        int kind = linereader_kind(p, len);
        if (kind == LINEREADER_START)
            break;
        if (kind == LINEREADER_IGNORED) {
            str_catn(out, p, len);
            str_catc(out, '\n');
        }
        p += len + (nl ? 1 : 0);
    }
    return p;
}

int cfg_edit_file(const char *path, const struct strlist *names, const struct strlist *values,
                  struct str *err)
{
    struct str text = STR_INIT, out = STR_INIT, tmp = STR_INIT;
    char *done = xcalloc(names->n ? names->n : 1, 1);
    int fd, rc = -1;
    struct stat st;
    mode_t mode = 0644;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (fstat(fd, &st) == 0)
            mode = st.st_mode & 07777;
        if (fileio_read_fd(fd, CFG_TEXT_LIMIT, &text) < 0) {
            str_printf(err, "read %s: %s", path,
                       errno == EFBIG ? "file too large" : strerror(errno));
            close(fd);
            goto out;
        }
        close(fd);
    } else if (errno != ENOENT) {
        str_printf(err, "open %s: %s", path, strerror(errno));
        goto out;
    }
    for (const char *p = str_c(&text); *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        long hit = -1;
        for (size_t i = 0; i < names->n; i++)
            if (line_sets(p, len, names->v[i]))
                hit = (long)i;
        const char *next = p + len + (nl ? 1 : 0);
        if (hit >= 0) {
            if (!done[hit]) {
                str_printf(&out, "%s = %s\n", names->v[hit], values->v[hit]);
                done[hit] = 1;
            }
            next = drop_continuation(next, &out);
        } else {
            str_catn(&out, p, len);
            str_catc(&out, '\n');
        }
        p = next;
    }
    for (size_t i = 0; i < names->n; i++)
        if (!done[i])
            str_printf(&out, "%s = %s\n", names->v[i], values->v[i]);
    str_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
    fd = open(str_c(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        str_printf(err, "create %s: %s", str_c(&tmp), strerror(errno));
        goto out;
    }
    if (write(fd, str_c(&out), out.len) != (ssize_t)out.len || fsync(fd) != 0) {
        str_printf(err, "write %s: %s", str_c(&tmp), strerror(errno));
        close(fd);
        unlink(str_c(&tmp));
        goto out;
    }
    close(fd);
    if (rename(str_c(&tmp), path) != 0) {
        str_printf(err, "rename %s: %s", str_c(&tmp), strerror(errno));
        unlink(str_c(&tmp));
        goto out;
    }
    rc = 0;
out:
    free(done);
    str_free(&text);
    str_free(&out);
    str_free(&tmp);
    return rc;
}
