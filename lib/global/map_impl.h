/*
 * map_impl.h - what a lookup-table backend implements (internal to lib/)
 *
 * A backend provides open/lookup/close; map.c dispatches by type name.
 * lookup returns MAP_FOUND (value set), MAP_NOTFOUND or MAP_ERROR (with
 * m->error explaining why; a temporary failure).
 */
#ifndef PETREL_MAP_IMPL_H
#define PETREL_MAP_IMPL_H

#include <sys/types.h>

#include "htab.h"
#include "map.h"
#include "str.h"

#define MAP_OPS_FOLD 1 /* keys are folded to lower case before lookup */

struct map;

struct map_ops {
    const char *type;
    int flags;
    int (*open)(struct map *m, struct str *err);
    int (*lookup)(struct map *m, const char *key, struct str *value);
    void (*close)(struct map *m);
    /* owner - the owner of the file the table's data was last read from, by fstat of
     * that very descriptor; -1 when there is none (NULL: never a file) */
    int (*owner)(const struct map *m, uid_t *uid, gid_t *gid);
};

struct map {
    const struct map_ops *ops;
    char *spec; /* type:name as given */
    char *name; /* the part after "type:" */
    void *data; /* backend state */
    struct str error;
};

int map_db_open(struct map *m, struct str *err);
int map_db_lookup(struct map *m, const char *key, struct str *value);
void map_db_close(struct map *m);
int map_db_owner(const struct map *m, uid_t *uid, gid_t *gid);
int map_regexp_open(struct map *m, struct str *err);
int map_regexp_lookup(struct map *m, const char *key, struct str *value);
void map_regexp_close(struct map *m);
int map_regexp_owner(const struct map *m, uid_t *uid, gid_t *gid);
int map_unix_open(struct map *m, struct str *err);
int map_unix_lookup(struct map *m, const char *key, struct str *value);
void map_unix_close(struct map *m);

#endif
