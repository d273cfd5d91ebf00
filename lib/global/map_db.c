/*
 * map_db.c - hash: and btree: tables in Berkeley DB 5.3 files
 *
 * "hash:/etc/petrel/aliases" reads /etc/petrel/aliases.db. Files are
 * opened read-only without a database environment: writers never update
 * a file in place but build a new one and rename it over the old, so
 * readers need no locks. Each lookup compares the file's identity (device,
 * inode, modification time) with the open handle's and reopens when the
 * file was replaced. The identity kept (and the owner that map_owner()
 * reports, e.g. who a local(8) alias runs as) is fstat of the descriptor
 * Berkeley DB reads through, never the earlier stat() of the path.
 */
#include <db.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "map_impl.h"
#include "mem.h"

struct dbmap {
    DB *db;
    char *path;
    DBTYPE type;
    struct stat st;
};

/* db_errcall - route Berkeley DB's own messages to our log */
static void db_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
    (void)env;
    (void)pfx;
    log_warn("berkeley db: %s", msg);
}

static DBTYPE db_type(const char *type)
{
    return strcmp(type, "btree") == 0 ? DB_BTREE : DB_HASH;
}

int map_db_open(struct map *m, struct str *err)
{
    struct dbmap *d = xcalloc(1, sizeof(*d));

    if (m->name[0] != '/') {
        str_printf(err, "table %s: the file name must be absolute", m->spec);
        free(d);
        return -1;
    }
    d->path = xasprintf("%s.db", m->name);
    d->type = db_type(m->ops->type);
    m->data = d;
    return 0; /* the file itself is opened at the first lookup */
}

/* db_reopen - (re)open the file when it is new or was replaced; -1 on failure */
static int db_reopen(struct map *m, struct dbmap *d)
{
    struct stat st;
    int r, fd;

    if (stat(d->path, &st) < 0) {
        str_printf(&m->error, "open database %s: %s", d->path, strerror(errno));
        goto fail;
    }
    if (d->db && st.st_ino == d->st.st_ino && st.st_dev == d->st.st_dev &&
        st.st_mtim.tv_sec == d->st.st_mtim.tv_sec && st.st_mtim.tv_nsec == d->st.st_mtim.tv_nsec)
        return 0;
    if (d->db) {
        d->db->close(d->db, 0);
        d->db = NULL;
    }
    if ((r = db_create(&d->db, NULL, 0)) != 0) {
        str_printf(&m->error, "db_create: %s", db_strerror(r));
        d->db = NULL;
        goto fail;
    }
    d->db->set_errcall(d->db, db_errcall);
    if ((r = d->db->open(d->db, NULL, d->path, NULL, d->type, DB_RDONLY, 0)) != 0) {
        str_printf(&m->error, "open database %s: %s", d->path, db_strerror(r));
        d->db->close(d->db, 0);
        d->db = NULL;
        goto fail;
    }
    /* the file just opened, which may not be the one stat() saw */
    if ((r = d->db->fd(d->db, &fd)) != 0 || fstat(fd, &d->st) < 0) {
        str_printf(&m->error, "open database %s: %s", d->path,
                   r ? db_strerror(r) : strerror(errno));
        d->db->close(d->db, 0);
        d->db = NULL;
        goto fail;
    }
    return 0;
fail:
    return -1;
}

int map_db_lookup(struct map *m, const char *key, struct str *value)
{
    struct dbmap *d = m->data;
    DBT k, v;
    int r;

    if (db_reopen(m, d) < 0) {
        log_warn("%s is unavailable: %s", m->spec, str_c(&m->error));
        return MAP_ERROR;
    }
    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    k.data = (void *)key;
    k.size = (u_int32_t)strlen(key);
    r = d->db->get(d->db, NULL, &k, &v, 0);
    if (r == DB_NOTFOUND)
        return MAP_NOTFOUND;
    if (r != 0) {
        str_printf(&m->error, "lookup in %s: %s", d->path, db_strerror(r));
        log_warn("%s", str_c(&m->error));
        return MAP_ERROR;
    }
    str_cpyn(value, v.data, v.size);
    return MAP_FOUND;
}

int map_db_owner(const struct map *m, uid_t *uid, gid_t *gid)
{
    const struct dbmap *d = m->data;

    if (d->db == NULL)
        return -1;
    *uid = d->st.st_uid;
    *gid = d->st.st_gid;
    return 0;
}

void map_db_close(struct map *m)
{
    struct dbmap *d = m->data;

    if (d->db)
        d->db->close(d->db, 0);
    free(d->path);
    free(d);
}

/* fsync_path - flush a file to disk */
static int fsync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    int r;

    if (fd < 0)
        return -1;
    r = fsync(fd);
    close(fd);
    return r;
}

int map_db_build(const char *type, const char *dbpath, const struct map_entries *es,
                 const char *like_path, struct str *err)
{
    struct stat like;
    char *tmp = xasprintf("%s.tmp.%ld", dbpath, (long)getpid());
    char *dircopy = xstrdup(dbpath);
    DB *db = NULL;
    int r, rc = -1;

    unlink(tmp);
    if ((r = db_create(&db, NULL, 0)) != 0) {
        str_printf(err, "db_create: %s", db_strerror(r));
        goto out;
    }
    db->set_errcall(db, db_errcall);
    if ((r = db->open(db, NULL, tmp, NULL, db_type(type), DB_CREATE | DB_EXCL, 0600)) != 0) {
        str_printf(err, "create %s: %s", tmp, db_strerror(r));
        db->close(db, 0);
        goto out;
    }
    for (size_t i = 0; i < es->n; i++) {
        DBT k, v;
        memset(&k, 0, sizeof(k));
        memset(&v, 0, sizeof(v));
        k.data = es->e[i].key;
        k.size = (u_int32_t)strlen(es->e[i].key);
        v.data = es->e[i].value;
        v.size = (u_int32_t)strlen(es->e[i].value);
        if ((r = db->put(db, NULL, &k, &v, DB_NOOVERWRITE)) != 0 && r != DB_KEYEXIST) {
            str_printf(err, "write %s: %s", tmp, db_strerror(r));
            db->close(db, 0);
            unlink(tmp);
            goto out;
        }
    }
    if ((r = db->close(db, 0)) != 0) {
        str_printf(err, "close %s: %s", tmp, db_strerror(r));
        unlink(tmp);
        goto out;
    }
    if (like_path && stat(like_path, &like) == 0) {
        if ((geteuid() == 0 && chown(tmp, like.st_uid, like.st_gid) < 0) ||
            chmod(tmp, like.st_mode & 0777) < 0) {
            str_printf(err, "set owner/mode of %s: %s", tmp, strerror(errno));
            unlink(tmp);
            goto out;
        }
    } else if (chmod(tmp, 0644) < 0) {
        str_printf(err, "chmod %s: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (fsync_path(tmp, O_RDONLY) < 0) {
        str_printf(err, "fsync %s: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, dbpath) < 0) {
        str_printf(err, "rename %s to %s: %s", tmp, dbpath, strerror(errno));
        unlink(tmp);
        goto out;
    }
    fileio_fsync_dir(dirname(dircopy));
    rc = 0;
out:
    free(tmp);
    free(dircopy);
    return rc;
}

int map_db_dump(const char *type, const char *dbpath,
                void (*fn)(const char *key, const char *value, void *ctx), void *ctx,
                struct str *err)
{
    DB *db = NULL;
    DBC *cur = NULL;
    DBT k, v;
    int r;
    struct str ks = STR_INIT, vs = STR_INIT;

    if ((r = db_create(&db, NULL, 0)) != 0) {
        str_printf(err, "db_create: %s", db_strerror(r));
        return -1;
    }
    db->set_errcall(db, db_errcall);
    if ((r = db->open(db, NULL, dbpath, NULL, db_type(type), DB_RDONLY, 0)) != 0) {
        str_printf(err, "open database %s: %s", dbpath, db_strerror(r));
        db->close(db, 0);
        return -1;
    }
    if ((r = db->cursor(db, NULL, &cur, 0)) != 0) {
        str_printf(err, "cursor %s: %s", dbpath, db_strerror(r));
        db->close(db, 0);
        return -1;
    }
    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    while ((r = cur->get(cur, &k, &v, DB_NEXT)) == 0) {
        str_cpyn(&ks, k.data, k.size);
        str_cpyn(&vs, v.data, v.size);
        fn(str_c(&ks), str_c(&vs), ctx);
    }
    cur->close(cur);
    db->close(db, 0);
    str_free(&ks);
    str_free(&vs);
    if (r != DB_NOTFOUND) {
        str_printf(err, "read %s: %s", dbpath, db_strerror(r));
        return -1;
    }
    return 0;
}
