/*
 * mstore_cache.c - cached blobs per message (ENVELOPE, BODYSTRUCTURE, ...)
 *
 * petrel.cache is a Berkeley DB btree beside the index: key "V" holds the
 * UIDVALIDITY the entries belong to and the layout's version, key field
 * byte + UID (4 bytes big-endian) holds a blob: the entries of one field
 * lie together in UID order, so that a FETCH of one field for many
 * messages reads only that field's pages, in order. A message's content never changes, so an entry
 * never goes stale while its UID lives; entries of expunged UIDs are removed with them. The cache
 * is only an optimisation: a corrupt or foreign file is simply replaced, and every failure reads as
 * "not cached".
 *
 * Readers hold a shared lock on byte MS_LOCK_CACHE of petrel.lock from the
 * first get until the next flush, so that a command fetching many messages
 * opens the file once; puts are buffered and written in one exclusive
 * section (never while holding the shared lock: two upgrading readers
 * would deadlock). A get looks in the buffered puts first, through a hash
 * of (UID, field), so that a FETCH of many messages stays linear.
 *
 * Keyed by UID only: the views (mstore_box.c) map sequence numbers for the
 * public mstore_cache_get/put; the index resets the file when it starts
 * over. Calls only the locks and the file checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"

#include "mstore_impl.h"
#include "mstore_lock.h"
#include "mstore_check.h"
#include "mstore_cache.h"

#define PUTS_FLUSH_BYTES (4u << 20)

static char *cache_path(const char *dir)
{
    return xasprintf("%s/" MS_CACHE_FILE, dir);
}

void ms_cache_reset(const char *dir)
{
    char *p = cache_path(dir);
    unlink(p);
    free(p);
}

static struct str cache_message = STR_INIT;

/* cache_errcall - keep Berkeley DB's last message for our own log line */
static void cache_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
    (void)env;
    (void)pfx;
    str_cpy(&cache_message, msg);
}

/* cache_dbopen - one attempt at opening the file; r gets Berkeley DB's result */
static DB *cache_dbopen(const char *path, int mode, int *r)
{
    DB *db;

    if ((*r = db_create(&db, NULL, 0)) != 0)
        return NULL;
    db->set_errcall(db, cache_errcall);
    db->set_flags(db, DB_CHKSUM);
    *r = db->open(db, NULL, path, NULL, DB_BTREE,
                  mode == 2   ? DB_CREATE
                  : mode == 1 ? 0
                              : DB_RDONLY,
                  0600);
    if (*r != 0) {
        ms_db_close(db);
        return NULL;
    }
    return db;
}

/* cache_open - open the cache inside its lock (mode 0 read, 1 write, 2 write and
 * create); NULL when missing or unusable. A damaged file is not opened; a writer
 * moves it aside (and mode 2 starts a new one). */
static DB *cache_open(struct mstore_box *b, int mode)
{
    char *p;
    DB *db;
    int r = ms_file_check(b, MS_FILE_CACHE);

    if (r < 0 && mode > 0)
        ms_file_set_aside(b, MS_FILE_CACHE);
    if ((r < 0 && mode == 0) || (r != 0 && mode == 1))
        return NULL;
    p = cache_path(b->path);
    str_reset(&cache_message);
    db = cache_dbopen(p, mode, &r);
    if (db == NULL && r != ENOENT) {
        log_warn("open mailbox cache %s: %s%s%s", p, db_strerror(r), cache_message.len ? ": " : "",
                 str_c(&cache_message));
        if (mode > 0) { /* sound as a file but not our btree: replace it */
            ms_file_set_aside(b, MS_FILE_CACHE);
            if (mode == 2)
                db = cache_dbopen(p, mode, &r);
        }
    }
    free(p);
    return db;
}

/* cache_close - close a handle; a writer's close records the file's identity, a failure
 * (a damaged page) makes the next opener verify the file */
static int cache_close(struct mstore_box *b, DB *db, int wrote)
{
    if (ms_db_close(db) < 0) {
        log_warn("close mailbox cache of %s: %s", b->path,
                 cache_message.len ? str_c(&cache_message) : "error");
        ms_file_distrust(b, MS_FILE_CACHE);
        return -1;
    }
    if (wrote)
        ms_file_trust(b, MS_FILE_CACHE);
    return 0;
}

/* the value of key "V": UIDVALIDITY (u32) and the layout's version (u32; version 1, keys
 * UID + field, had no version and a 4-byte value) */
#define CACHE_VERSION 2

static void cache_stamp(unsigned char *v, uint32_t uidvalidity)
{
    ms_put32(v, uidvalidity);
    ms_put32(v + 4, CACHE_VERSION);
}

/* cache_valid - whether the file belongs to the current UIDVALIDITY and layout */
static int cache_valid(DB *db, uint32_t uidvalidity)
{
    DBT k, v;
    unsigned char want[8];

    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    k.data = "V";
    k.size = 1;
    cache_stamp(want, uidvalidity);
    return db->get(db, NULL, &k, &v, 0) == 0 && v.size == 8 && memcmp(v.data, want, 8) == 0;
}

void ms_cache_release(struct mstore_box *b)
{
    if (b->cache) {
        cache_close(b, b->cache, 0);
        b->cache = NULL;
    }
    if (b->lock_cache) {
        ms_unlock(b->lockfd, MS_LOCK_CACHE);
        b->lock_cache = 0;
    }
}

/* put_slot - the slot of (uid, field) in the puts' hash (open addressing, linear
 * probing): the one that holds its latest put, or the empty one where it goes */
static size_t *put_slot(struct mstore_box *b, uint32_t uid, int field)
{
    uint64_t h = ((uint64_t)uid << 8 | (unsigned char)field) * 0x9e3779b97f4a7c15ull;
    size_t mask = b->nput_slots - 1;
    size_t i = (size_t)(h >> (64 - __builtin_ctzll(b->nput_slots))); /* the best-mixed bits */

    while (b->put_slots[i] != 0) {
        const struct ms_cache_put *e = &b->puts[b->put_slots[i] - 1];
        if (e->uid == uid && e->field == field)
            return &b->put_slots[i];
        i = (i + 1) & mask;
    }
    return &b->put_slots[i];
}

/* grow_puts - room for one more put; the hash is rebuilt at twice the capacity */
static void grow_puts(struct mstore_box *b)
{
    if (b->nputs < b->capputs)
        return;
    b->capputs = b->capputs ? b->capputs * 2 : 64;
    b->puts = xreallocarray(b->puts, b->capputs, sizeof(*b->puts));
    free(b->put_slots);
    b->nput_slots = b->capputs * 2;
    b->put_slots = xcalloc(b->nput_slots, sizeof(*b->put_slots));
    for (size_t i = 0; i < b->nputs; i++) /* in order: a later put of a key wins */
        *put_slot(b, b->puts[i].uid, b->puts[i].field) = i + 1;
}

static void cache_key(unsigned char *k, uint32_t uid, int field)
{
    k[0] = (unsigned char)field;
    ms_put32be(k + 1, uid);
}

int ms_cache_get(struct mstore_box *b, uint32_t uid, int field, struct str *out)
{
    unsigned char key[5];
    DBT k, v;
    int r;

    if (b->nputs) {
        size_t at = *put_slot(b, uid, field);
        if (at) {
            str_cpyn(out, b->puts[at - 1].data, b->puts[at - 1].len);
            return 1;
        }
    }
    if (!b->lock_cache) {
        if (ms_lock(b->lockfd, MS_LOCK_CACHE, F_RDLCK, 1) < 0)
            return 0;
        b->lock_cache = MS_HELD_SHARED;
        b->cache = cache_open(b, 0);
        if (b->cache && !cache_valid(b->cache, b->hdr.uidvalidity)) {
            cache_close(b, b->cache, 0);
            b->cache = NULL;
        }
    }
    if (b->cache == NULL)
        return 0;
    cache_key(key, uid, field);
    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    k.data = key;
    k.size = 5;
    r = b->cache->get(b->cache, NULL, &k, &v, 0);
    if (r != 0) {
        if (r != DB_NOTFOUND)
            log_warn("read mailbox cache of %s: %s", b->path, db_strerror(r));
        return 0;
    }
    str_cpyn(out, v.data, v.size);
    return 1;
}

void ms_cache_put(struct mstore_box *b, uint32_t uid, int field, const void *p, size_t n)
{
    struct ms_cache_put *e;

    grow_puts(b);
    e = &b->puts[b->nputs];
    e->uid = uid;
    e->field = field;
    e->data = xmemdup(p, n ? n : 1);
    e->len = n;
    *put_slot(b, uid, field) = ++b->nputs;
    b->putbytes += n;
    if (b->putbytes >= PUTS_FLUSH_BYTES)
        ms_cache_write(b);
}

static void drop_puts(struct mstore_box *b)
{
    for (size_t i = 0; i < b->nputs; i++)
        free(b->puts[i].data);
    b->nputs = 0;
    b->putbytes = 0;
    if (b->put_slots)
        memset(b->put_slots, 0, b->nput_slots * sizeof(*b->put_slots));
}

/* ms_cache_write - write the buffered entries; -1 when the cache is unusable
 * (the entries are dropped either way: they can be computed again) */
int ms_cache_write(struct mstore_box *b)
{
    DB *db;
    int rc = 0;

    ms_cache_release(b);
    if (b->nputs == 0)
        return 0;
    if (ms_lock(b->lockfd, MS_LOCK_CACHE, F_WRLCK, 1) < 0) {
        drop_puts(b);
        return -1;
    }
    db = cache_open(b, 2);
    if (db && !cache_valid(db, b->hdr.uidvalidity)) {
        /* a new file, or one for an older UIDVALIDITY, or damaged: start over */
        unsigned char v[8];
        DBT k, d;
        cache_close(b, db, 0);
        ms_cache_reset(b->path);
        db = cache_open(b, 2);
        if (db) {
            memset(&k, 0, sizeof(k));
            memset(&d, 0, sizeof(d));
            cache_stamp(v, b->hdr.uidvalidity);
            k.data = "V";
            k.size = 1;
            d.data = v;
            d.size = 8;
            if (db->put(db, NULL, &k, &d, 0) != 0) {
                cache_close(b, db, 0);
                db = NULL;
            }
        }
    }
    for (size_t i = 0; db && i < b->nputs; i++) {
        unsigned char key[5];
        DBT k, d;
        int r;
        cache_key(key, b->puts[i].uid, b->puts[i].field);
        memset(&k, 0, sizeof(k));
        memset(&d, 0, sizeof(d));
        k.data = key;
        k.size = 5;
        d.data = b->puts[i].data;
        d.size = (u_int32_t)b->puts[i].len;
        if ((r = db->put(db, NULL, &k, &d, 0)) != 0) {
            log_warn("write mailbox cache of %s: %s", b->path, db_strerror(r));
            rc = -1;
            break;
        }
    }
    if (db == NULL || cache_close(b, db, 1) < 0)
        rc = -1;
    ms_unlock(b->lockfd, MS_LOCK_CACHE);
    drop_puts(b);
    return rc;
}

void ms_cache_drop_uids(struct mstore_box *b, const uint32_t *uids, size_t n)
{
    DB *db;
    DBC *c;

    ms_cache_release(b);
    for (size_t i = b->nputs; i-- > 0;)
        for (size_t j = 0; j < n; j++)
            if (b->puts[i].uid == uids[j]) {
                b->puts[i].uid = 0; /* UID 0 never exists: the entry is dead */
                break;
            }
    if (ms_lock(b->lockfd, MS_LOCK_CACHE, F_WRLCK, 1) < 0)
        return;
    if ((db = cache_open(b, 1)) != NULL && db->cursor(db, NULL, &c, 0) == 0) {
        /* each field there is (the first key at or after (field, 0)), then its entries */
        for (int field = 1; field <= 0xff; field++) {
            unsigned char key[5];
            DBT k, v;
            int r;
            cache_key(key, 0, field);
            memset(&k, 0, sizeof(k));
            memset(&v, 0, sizeof(v));
            k.data = key;
            k.size = 5;
            r = c->get(c, &k, &v, DB_SET_RANGE);
            while (r == 0 && k.size != 5) /* "V" */
                r = c->get(c, &k, &v, DB_NEXT);
            if (r != 0)
                break;
            field = ((const unsigned char *)k.data)[0];
            for (size_t i = 0; i < n; i++) {
                cache_key(key, uids[i], field);
                memset(&k, 0, sizeof(k));
                memset(&v, 0, sizeof(v));
                k.data = key;
                k.size = 5;
                if (c->get(c, &k, &v, DB_SET) == 0)
                    c->del(c, 0);
            }
        }
        c->close(c);
    }
    if (db)
        cache_close(b, db, 1);
    ms_unlock(b->lockfd, MS_LOCK_CACHE);
}
