/*
 * map.h - lookup tables behind one "type:name" API
 *
 * Types: hash: and btree: (Berkeley DB files name.db built by petrel-map),
 * static:value, inline:{ key=value, ... }, regexp:/file (Postfix regexp
 * table form: "/pattern/flags result" and "!/pattern/ result"),
 * unix:passwd.byname (local accounts, lib/global/map_unix.c).
 *
 * A lookup answers MAP_FOUND, MAP_NOTFOUND or MAP_ERROR. MAP_ERROR means
 * "temporary failure" (a missing or unreadable table, a database error)
 * and callers must defer (4xx), never treat it as "not found". Opening
 * never fails for a table that is merely unavailable: the error shows at
 * lookup time, so a daemon keeps running and recovers once the table is
 * rebuilt. Keys are folded to lower case (as Postfix does) except in
 * regexp tables, which match case-insensitively unless a pattern's 'i'
 * flag says otherwise. A Berkeley DB file that is replaced (petrel-map
 * renames a new one into place) is noticed and reopened on the next
 * lookup.
 */
#ifndef PETREL_MAP_H
#define PETREL_MAP_H

#include <sys/types.h>

#include "cfg.h"
#include "str.h"

#define MAP_FOUND 0
#define MAP_NOTFOUND 1
#define MAP_ERROR (-1)

struct map;

/* map_open - parse "type:name"; NULL with err only for a bad specification */
struct map *map_open(const char *spec, struct str *err);
/* map_spec_check - whether "type:name" names a type this build supports; -1 with err */
int map_spec_check(const char *spec, struct str *err);
/* map_lookup - look key up; the value (when found) replaces the contents of value */
int map_lookup(struct map *m, const char *key, struct str *value);
void map_close(struct map *m);
const char *map_spec(const struct map *m);
/* map_error_text - why the last lookup failed */
const char *map_error_text(const struct map *m);
/* map_owner - the owner of the file the table's data was read from (hash, btree, regexp),
 * taken by fstat of the descriptor it was read through, never by a second lookup of the
 * path; -1 for tables that are not a file or not opened yet */
int map_owner(const struct map *m, uid_t *uid, gid_t *gid);

/* a list of tables searched in order (alias_maps, virtual_mailbox_maps, ...) */
struct maps;

/* maps_open - open every "type:name" of the list; NULL with err on a bad one */
struct maps *maps_open(const struct strlist *specs, struct str *err);
/* maps_open_param - open the tables named by a list parameter of cfg_main */
struct maps *maps_open_param(enum cfg_list_param param, struct str *err);
/* maps_lookup - first table that has key; MAP_ERROR as soon as one fails first */
int maps_lookup(struct maps *ms, const char *key, struct str *value);
/* maps_found_owner - map_owner of the table that answered the last MAP_FOUND of
 * maps_lookup (who an alias runs as: local(8)); -1 when none or not a file */
int maps_found_owner(const struct maps *ms, uid_t *uid, gid_t *gid);
/* maps_count - number of tables (0: the parameter was empty) */
size_t maps_count(const struct maps *ms);
void maps_close(struct maps *ms);
/* maps_error_text - the failing table's reason after MAP_ERROR */
const char *maps_error_text(const struct maps *ms);

/* text sources of hash/btree tables */
#define MAP_TEXT_POSTMAP 0 /* "key value" (postmap(1)) */
#define MAP_TEXT_ALIASES 1 /* "name: value, value" (aliases(5)) */

struct map_entry {
    char *key;
    char *value;
    int line;
};

struct map_entries {
    struct map_entry *e;
    size_t n, cap;
};

/* map_parse_text - parse a source file's text; problems go to diag lines
 * "file:line: ..." (duplicates are warned and the first one kept) */
void map_parse_text(const char *text, const char *file, int format, int fold,
                    struct map_entries *out, struct strlist *warnings, int *errors);
void map_entries_free(struct map_entries *es);
/* map_db_build - write entries into dbpath atomically (temp file + fsync + rename);
 * the new file gets the owner and mode of like_path (the source text) when it exists,
 * before it becomes visible */
int map_db_build(const char *type, const char *dbpath, const struct map_entries *es,
                 const char *like_path, struct str *err);
/* map_db_dump - call fn for each key/value of a Berkeley DB table */
int map_db_dump(const char *type, const char *dbpath,
                void (*fn)(const char *key, const char *value, void *ctx), void *ctx,
                struct str *err);
/* map_type_is_db - hash or btree */
int map_type_is_db(const char *type);

#endif
