/*
 * map.c - lookup tables behind one "type:name" API
 *
 * The dispatch table below is where a new backend (lmdb, cdb, SQL, LDAP)
 * plugs in; no daemon changes. This file also holds the simple in-memory
 * types (static:, inline:) and the table lists.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "linereader.h"
#include "log.h"
#include "map.h"
#include "map_impl.h"
#include "mem.h"

/* static: every key maps to the name */
static int static_open(struct map *m, struct str *err)
{
    (void)err;
    m->data = xstrdup(m->name);
    return 0;
}

static int static_lookup(struct map *m, const char *key, struct str *value)
{
    (void)key;
    str_cpy(value, m->data);
    return MAP_FOUND;
}

static void free_data(struct map *m)
{
    free(m->data);
}

/* inline:{ key=value, key = value, ... } (a value may be {braced, with commas}) */
static int inline_open(struct map *m, struct str *err)
{
    struct htab *h = htab_create(16);
    const char *p = m->name;
    size_t n = strlen(p);

    if (n < 2 || p[0] != '{' || p[n - 1] != '}') {
        str_printf(err, "inline table must be written inline:{ key=value, ... }");
        htab_free(h, free);
        return -1;
    }
    struct str item = STR_INIT;
    for (size_t i = 1; i < n; i++) {
        int level = 0;
        str_reset(&item);
        for (; i < n - 1; i++) {
            if (p[i] == '{')
                level++;
            else if (p[i] == '}')
                level--;
            else if (p[i] == ',' && level == 0)
                break;
            str_catc(&item, p[i]);
        }
        char *t = trim(item.s ? item.s : (char *)"");
        if (*t == '\0')
            continue;
        char *eq = strchr(t, '=');
        if (eq == NULL) {
            str_printf(err, "inline table entry '%s' has no '='", t);
            str_free(&item);
            htab_free(h, free);
            return -1;
        }
        *eq = '\0';
        char *k = lowercase(trim(t));
        char *v = trim(eq + 1);
        size_t vl = strlen(v);
        if (vl >= 2 && v[0] == '{' && v[vl - 1] == '}') {
            v[vl - 1] = '\0';
            v = trim(v + 1);
        }
        free(htab_put(h, k, xstrdup(v)));
    }
    str_free(&item);
    m->data = h;
    return 0;
}

static int inline_lookup(struct map *m, const char *key, struct str *value)
{
    const char *v = htab_get(m->data, key);

    if (v == NULL)
        return MAP_NOTFOUND;
    str_cpy(value, v);
    return MAP_FOUND;
}

static void inline_close(struct map *m)
{
    htab_free(m->data, free);
}

static const struct map_ops map_types[] = {
    {"hash", MAP_OPS_FOLD, map_db_open, map_db_lookup, map_db_close, map_db_owner},
    {"btree", MAP_OPS_FOLD, map_db_open, map_db_lookup, map_db_close, map_db_owner},
    {"static", 0, static_open, static_lookup, free_data, NULL},
    {"inline", MAP_OPS_FOLD, inline_open, inline_lookup, inline_close, NULL},
    {"regexp", 0, map_regexp_open, map_regexp_lookup, map_regexp_close, map_regexp_owner},
    {"unix", MAP_OPS_FOLD, map_unix_open, map_unix_lookup, map_unix_close, NULL},
    {NULL, 0, NULL, NULL, NULL, NULL},
};

int map_type_is_db(const char *type)
{
    return strcmp(type, "hash") == 0 || strcmp(type, "btree") == 0;
}

/* find_type - the operations of spec's type; NULL with err for a bad or unknown type */
static const struct map_ops *find_type(const char *spec, struct str *err)
{
    const char *colon = strchr(spec, ':');
    const struct map_ops *ops;

    if (colon == NULL || colon == spec) {
        str_printf(err, "bad table '%s': expected type:name", spec);
        return NULL;
    }
    for (ops = map_types; ops->type; ops++)
        if (strlen(ops->type) == (size_t)(colon - spec) &&
            strncmp(ops->type, spec, (size_t)(colon - spec)) == 0)
            return ops;
    str_printf(err,
               "unsupported table type in '%s' (use hash, btree, static, inline, "
               "regexp or unix)",
               spec);
    return NULL;
}

int map_spec_check(const char *spec, struct str *err)
{
    return find_type(spec, err) ? 0 : -1;
}

struct map *map_open(const char *spec, struct str *err)
{
    const char *colon = strchr(spec, ':');
    const struct map_ops *ops = find_type(spec, err);
    struct map *m;

    if (ops == NULL)
        return NULL;
    m = xcalloc(1, sizeof(*m));
    m->ops = ops;
    m->spec = xstrdup(spec);
    m->name = xstrdup(colon + 1);
    str_init(&m->error);
    if (ops->open(m, err) < 0) {
        free(m->spec);
        free(m->name);
        free(m);
        return NULL;
    }
    return m;
}

int map_lookup(struct map *m, const char *key, struct str *value)
{
    str_reset(&m->error);
    if (m->ops->flags & MAP_OPS_FOLD) {
        char *k = lowercase(xstrdup(key));
        int r = m->ops->lookup(m, k, value);
        free(k);
        return r;
    }
    return m->ops->lookup(m, key, value);
}

void map_close(struct map *m)
{
    if (m == NULL)
        return;
    m->ops->close(m);
    free(m->spec);
    free(m->name);
    str_free(&m->error);
    free(m);
}

const char *map_spec(const struct map *m)
{
    return m->spec;
}

const char *map_error_text(const struct map *m)
{
    return str_c(&m->error);
}

struct maps {
    struct map **v;
    size_t n;
    struct map *failed;
    struct map *found; /* the table that answered the last MAP_FOUND */
};

struct maps *maps_open(const struct strlist *specs, struct str *err)
{
    struct maps *ms = xcalloc(1, sizeof(*ms));

    ms->v = xcalloc(specs->n ? specs->n : 1, sizeof(struct map *));
    for (size_t i = 0; i < specs->n; i++) {
        if ((ms->v[i] = map_open(specs->v[i], err)) == NULL) {
            maps_close(ms);
            return NULL;
        }
        ms->n++;
    }
    return ms;
}

struct maps *maps_open_param(enum cfg_list_param param, struct str *err)
{
    struct strlist l = STRLIST_INIT;
    struct maps *ms;

    cfg_list(cfg_main, param, &l);
    ms = maps_open(&l, err);
    if (ms == NULL) {
        struct str e = STR_INIT;
        str_printf(&e, "%s: %s", cfg_name(param), str_c(err));
        str_cpy(err, str_c(&e));
        str_free(&e);
    }
    strlist_free(&l);
    return ms;
}

int maps_lookup(struct maps *ms, const char *key, struct str *value)
{
    ms->failed = NULL;
    ms->found = NULL;
    for (size_t i = 0; i < ms->n; i++) {
        int r = map_lookup(ms->v[i], key, value);
        if (r == MAP_FOUND) {
            ms->found = ms->v[i];
            return r;
        }
        if (r == MAP_ERROR) {
            ms->failed = ms->v[i];
            return r;
        }
    }
    return MAP_NOTFOUND;
}

size_t maps_count(const struct maps *ms)
{
    return ms->n;
}

int map_owner(const struct map *m, uid_t *uid, gid_t *gid)
{
    return m->ops->owner ? m->ops->owner(m, uid, gid) : -1;
}

int maps_found_owner(const struct maps *ms, uid_t *uid, gid_t *gid)
{
    return ms->found ? map_owner(ms->found, uid, gid) : -1;
}

const char *maps_error_text(const struct maps *ms)
{
    return ms->failed ? map_error_text(ms->failed) : "";
}

void maps_close(struct maps *ms)
{
    if (ms == NULL)
        return;
    for (size_t i = 0; i < ms->n; i++)
        map_close(ms->v[i]);
    free(ms->v);
    free(ms);
}

void map_entries_free(struct map_entries *es)
{
    for (size_t i = 0; i < es->n; i++) {
        free(es->e[i].key);
        free(es->e[i].value);
    }
    free(es->e);
    es->e = NULL;
    es->n = es->cap = 0;
}

/* add_entry - append unless the key is a duplicate (warned, first kept) */
static void add_entry(struct map_entries *es, struct htab *seen, const char *key, const char *value,
                      const char *file, int line, struct strlist *warnings)
{
    struct str w = STR_INIT;
    void *prev = htab_get(seen, key);

    if (prev) {
        str_printf(&w, "%s:%d: warning: duplicate entry \"%s\" ignored (first at line %d)", file,
                   line, key, (int)(long)prev);
        strlist_add(warnings, str_c(&w));
        str_free(&w);
        return;
    }
    htab_put(seen, key, (void *)(long)line);
    if (es->n == es->cap) {
        es->cap = es->cap ? es->cap * 2 : 64;
        es->e = xreallocarray(es->e, es->cap, sizeof(*es->e));
    }
    es->e[es->n].key = xstrdup(key);
    es->e[es->n].value = xstrdup(value);
    es->e[es->n].line = line;
    es->n++;
}

/* parse_one - split a logical line into key and value per format */
static void parse_one(char *text, const char *file, int line, int format, int fold,
                      struct map_entries *out, struct htab *seen, struct strlist *warnings,
                      int *errors)
{
    struct str w = STR_INIT;
    char *key = text, *value;

    if (format == MAP_TEXT_ALIASES) {
        char *colon;
        if (*key == '"') {
            char *q = strchr(key + 1, '"');
            colon = q ? strchr(q, ':') : NULL;
        } else {
            colon = strchr(key, ':');
        }
        if (colon == NULL) {
            str_printf(&w, "%s:%d: missing ':' after alias name", file, line);
            goto bad;
        }
        *colon = '\0';
        value = trim(colon + 1);
        key = trim(key);
        size_t kl = strlen(key);
        if (kl >= 2 && key[0] == '"' && key[kl - 1] == '"') {
            key[kl - 1] = '\0';
            key++;
        }
    } else {
        size_t kl = strcspn(key, " \t");
        value = key + kl;
        if (*value)
            *value++ = '\0';
        value = trim(value);
    }
    if (*key == '\0') {
        str_printf(&w, "%s:%d: empty key", file, line);
        goto bad;
    }
    if (fold)
        lowercase(key);
    add_entry(out, seen, key, value, file, line, warnings);
    return;
bad:
    strlist_add(warnings, str_c(&w));
    str_free(&w);
    (*errors)++;
}

void map_parse_text(const char *text, const char *file, int format, int fold,
                    struct map_entries *out, struct strlist *warnings, int *errors)
{
    struct str logical = STR_INIT, w = STR_INIT;
    struct htab *seen = htab_create(256);
    struct linereader r;
    int line, kind;

    linereader_init(&r, text);
    while ((kind = linereader_next(&r, &logical, &line)) != LINEREADER_END) {
        if (kind == LINEREADER_ORPHAN) {
            /* postmap(1): a logical line starts with non-whitespace text */
            str_reset(&w);
            str_printf(&w, "%s:%d: continuation line without a preceding line", file, line);
            strlist_add(warnings, str_c(&w));
            (*errors)++;
        } else {
            parse_one(logical.s, file, line, format, fold, out, seen, warnings, errors);
        }
    }
    str_free(&w);
    str_free(&logical);
    htab_free(seen, NULL);
}
