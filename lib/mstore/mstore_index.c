/*
 * mstore_index.c - the per-mailbox index: locked sections, Berkeley DB records, directory scans
 *
 * The index of a Maildir is petrel.index, a Berkeley DB btree opened
 * without an environment and with page checksums (DB_CHKSUM). Every access
 * happens inside a locked section: an open-file-description lock on byte
 * MS_LOCK_INDEX of petrel.lock (shared to read, exclusive to write), the
 * database opened at the start of the section and closed at its end, so no
 * process ever reads pages cached from before another's write. A writer
 * bumps the change stamp in petrel.lock before unlocking; a reader whose
 * stamp and directory mtimes are unchanged need not open the index at all.
 *
 * The index only mirrors the directories for what they hold (which files
 * exist, their flags): a scan of new/ and cur/ reconciles the two whenever
 * a directory's mtime differs from the one recorded at the last scan, or
 * that one was too recent to prove that nothing changed in the same clock
 * tick. A lost or damaged index is rebuilt from the directories; the UIDs
 * and UIDVALIDITY come back from petrel.uids (mstore_uidlog.c), keywords are
 * lost, and without that file a new, greater UIDVALIDITY is chosen. The file
 * is checked before Berkeley DB opens it (mstore_check.c).
 *
 * Writes are not fsynced, except when UIDs were handed out (so that no UID
 * is ever reused under the same UIDVALIDITY after a crash).
 *
 * Called by the views (mstore_box.c) and by APPEND/COPY (mstore_copy.c);
 * calls only what lies below it: file names (maildir.c), the locks, the file
 * checks, the UID log and the cache (reset when the index starts over).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "htab.h"
#include "log.h"
#include "mem.h"

#include "maildir.h"
#include "mstore_impl.h"
#include "mstore_lock.h"
#include "mstore_check.h"
#include "mstore_uidlog.h"
#include "mstore_cache.h"
#include "mstore_index.h"

static int want_fsync; /* this section handed out UIDs: let Berkeley DB fsync */

/* ms_fsync - Berkeley DB's fsync: only when the section needs durability */
static int ms_fsync(int fd)
{
    return want_fsync ? fdatasync(fd) : 0;
}

static struct str db_message = STR_INIT;

/* db_errcall - keep Berkeley DB's last message for our own log line */
static void db_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
    (void)env;
    (void)pfx;
    str_cpy(&db_message, msg);
}

/* ---- the change stamp and backups in petrel.lock ----------------------------------- */

static uint64_t read_stamp(int fd)
{
    unsigned char b[8];

    if (pread(fd, b, 8, MS_STAMP_OFF) != 8)
        return 0;
    return ms_get64(b);
}

static void write_stamp(int fd, uint64_t v)
{
    unsigned char b[8];

    ms_put64(b, v);
    if (pwrite(fd, b, 8, MS_STAMP_OFF) != 8)
        log_warn("write mailbox lock file: %s", strerror(errno));
}

static uint32_t read_backup_uidv(int fd)
{
    unsigned char b[4];

    if (pread(fd, b, 4, MS_UIDV_OFF) != 4)
        return 0;
    return ms_get32(b);
}

static uint32_t read_backup_u32(int fd, off_t off)
{
    unsigned char b[4];

    return pread(fd, b, 4, off) == 4 ? ms_get32(b) : 0;
}

static uint64_t read_backup_u64(int fd, off_t off)
{
    unsigned char b[8];

    return pread(fd, b, 8, off) == 8 ? ms_get64(b) : 0;
}

static void write_backup_uidv(int fd, uint32_t v)
{
    unsigned char b[4];

    ms_put32(b, v);
    if (pwrite(fd, b, 4, MS_UIDV_OFF) != 4)
        log_warn("write mailbox lock file: %s", strerror(errno));
}

/* ---- header and records ---------------------------------------------------- */

#define HDR_SIZE 53
#define REC_FIXED 34

static void hdr_encode(const struct ms_hdr *h, unsigned char *p)
{
    ms_put32(p, h->version);
    ms_put32(p + 4, h->uidvalidity);
    ms_put32(p + 8, h->uidnext);
    ms_put32(p + 12, h->recent_floor);
    ms_put64(p + 16, h->highestmodseq);
    ms_put64(p + 24, (uint64_t)h->new_sec);
    ms_put64(p + 32, (uint64_t)h->cur_sec);
    ms_put32(p + 40, (uint32_t)h->new_nsec);
    ms_put32(p + 44, (uint32_t)h->cur_nsec);
    p[52] = h->trusted;
}

static int hdr_decode(struct ms_hdr *h, const unsigned char *p, size_t n)
{
    if (n != HDR_SIZE)
        return -1;
    h->version = ms_get32(p);
    h->uidvalidity = ms_get32(p + 4);
    h->uidnext = ms_get32(p + 8);
    h->recent_floor = ms_get32(p + 12);
    h->highestmodseq = ms_get64(p + 16);
    h->new_sec = (int64_t)ms_get64(p + 24);
    h->cur_sec = (int64_t)ms_get64(p + 32);
    h->new_nsec = (int32_t)ms_get32(p + 40);
    h->cur_nsec = (int32_t)ms_get32(p + 44);
    h->trusted = p[52];
    if (h->version != MS_INDEX_VERSION || h->uidvalidity == 0 || h->uidnext == 0 ||
        h->recent_floor > h->uidnext)
        return -1;
    return 0;
}

static void rec_key(unsigned char *k, uint32_t uid)
{
    k[0] = 'U';
    ms_put32be(k + 1, uid);
}

static void rec_encode(const struct mstore_msg *m, struct str *out)
{
    unsigned char p[REC_FIXED];

    ms_put64(p, m->modseq);
    ms_put64(p + 8, (uint64_t)m->size);
    ms_put64(p + 16, (uint64_t)m->date);
    ms_put64(p + 24, m->keywords);
    p[32] = m->flags & MSTORE_F_SYSTEM;
    p[33] = m->dir;
    str_cpyn(out, p, REC_FIXED);
    str_cat(out, m->fname);
}

static int rec_decode(struct mstore_msg *m, uint32_t uid, const unsigned char *p, size_t n)
{
    if (n <= REC_FIXED || n > REC_FIXED + 4096 || memchr(p + REC_FIXED, '\0', n - REC_FIXED) ||
        memchr(p + REC_FIXED, '/', n - REC_FIXED) || p[33] > 1)
        return -1;
    memset(m, 0, sizeof(*m));
    m->uid = uid;
    m->modseq = ms_get64(p);
    m->size = (int64_t)ms_get64(p + 8);
    m->date = (int64_t)ms_get64(p + 16);
    m->keywords = ms_get64(p + 24);
    m->flags = p[32] & MSTORE_F_SYSTEM;
    m->dir = p[33];
    m->fname = xstrndup((const char *)p + REC_FIXED, n - REC_FIXED);
    return 0;
}

/* ---- sections -------------------------------------------------------------------- */

static int db_put(DB *db, const void *k, size_t kn, const void *v, size_t vn)
{
    DBT key, val;
    int r;

    memset(&key, 0, sizeof(key));
    memset(&val, 0, sizeof(val));
    key.data = (void *)k;
    key.size = (u_int32_t)kn;
    val.data = (void *)v;
    val.size = (u_int32_t)vn;
    r = db->put(db, NULL, &key, &val, 0);
    return r == 0 ? 0 : -1;
}

/* db_get - 1 found, 0 not found, -1 error */
static int db_get(DB *db, const void *k, size_t kn, struct str *out)
{
    DBT key, val;
    int r;

    memset(&key, 0, sizeof(key));
    memset(&val, 0, sizeof(val));
    key.data = (void *)k;
    key.size = (u_int32_t)kn;
    r = db->get(db, NULL, &key, &val, 0);
    if (r == DB_NOTFOUND)
        return 0;
    if (r != 0)
        return -1;
    str_cpyn(out, val.data, val.size);
    return 1;
}

static int db_del(DB *db, const void *k, size_t kn)
{
    DBT key;
    int r;

    memset(&key, 0, sizeof(key));
    key.data = (void *)k;
    key.size = (u_int32_t)kn;
    r = db->del(db, NULL, &key, 0);
    return r == 0 || r == DB_NOTFOUND ? 0 : -1;
}

/* idx_dbopen - open petrel.index: 0 ok, 1 missing, -1 unusable */
static int idx_dbopen(struct mstore_box *b, int write)
{
    char *path;
    int r = ms_file_check(b, MS_FILE_INDEX);

    if (r < 0 || (r == 1 && !write)) /* damaged (logged) or missing */
        return r;
    path = xasprintf("%s/" MS_INDEX_FILE, b->path);
    if ((r = db_create(&b->db, NULL, 0)) != 0) {
        log_warn("db_create: %s", db_strerror(r));
        b->db = NULL;
        free(path);
        return -1;
    }
    b->db->set_errcall(b->db, db_errcall);
    b->db->set_flags(b->db, DB_CHKSUM);
    r = b->db->open(b->db, NULL, path, NULL, DB_BTREE, write ? DB_CREATE : DB_RDONLY, 0600);
    if (r != 0) {
        ms_db_close(b->db);
        b->db = NULL;
        if (r == ENOENT || !write) { /* a shared section retries exclusively, and logs then */
            str_reset(&db_message);
            free(path);
            return r == ENOENT ? 1 : -1;
        }
        log_warn("open mailbox index %s: %s%s%s", path, db_strerror(r), db_message.len ? ": " : "",
                 str_c(&db_message));
        str_reset(&db_message);
        free(path);
        return -1;
    }
    free(path);
    b->db_write = write;
    return 0;
}

/* idx_dbclose - close the index; a writer records the file's identity, and an error
 * (Berkeley DB found a damaged page) makes the next opener verify the file */
static void idx_dbclose(struct mstore_box *b)
{
    ms_uidlog_flush(b, want_fsync); /* before the index: a UID it has, the log has */
    if (b->db) {
        if (ms_db_close(b->db) < 0) {
            log_warn("close mailbox index of %s: %s", b->path,
                     db_message.len ? str_c(&db_message) : "error");
            ms_file_distrust(b, MS_FILE_INDEX);
        } else if (b->db_write) {
            ms_file_trust(b, MS_FILE_INDEX);
        }
        str_reset(&db_message);
        b->db = NULL;
    }
    want_fsync = 0;
}

/* ms_hdr_put - write the header; UIDNEXT and HIGHESTMODSEQ also go to petrel.lock, for a
 * rebuild that keeps the UIDVALIDITY (ms_idx_create) */
int ms_hdr_put(struct mstore_box *b)
{
    unsigned char p[HDR_SIZE], n[4], m[8];

    hdr_encode(&b->hdr, p);
    ms_put32(n, b->hdr.uidnext);
    ms_put64(m, b->hdr.highestmodseq);
    if (pwrite(b->lockfd, n, 4, MS_UIDNEXT_OFF) != 4 || pwrite(b->lockfd, m, 8, MS_MODSEQ_OFF) != 8)
        log_warn("write mailbox lock file of %s: %s", b->path, strerror(errno));
    return db_put(b->db, "H", 1, p, HDR_SIZE);
}

/* idx_read_hdr - 0 ok, 1 missing, -1 corrupt */
static int idx_read_hdr(struct mstore_box *b)
{
    struct str v = STR_INIT;
    int r = db_get(b->db, "H", 1, &v);

    if (r == 1)
        r = hdr_decode(&b->hdr, (const unsigned char *)v.s, v.len) == 0 ? 0 : -1;
    else
        r = r == 0 ? 1 : -1;
    str_free(&v);
    return r;
}

int ms_rec_get(struct mstore_box *b, uint32_t uid, struct mstore_msg *m)
{
    unsigned char k[5];
    struct str v = STR_INIT;
    int r;

    rec_key(k, uid);
    r = db_get(b->db, k, 5, &v);
    if (r == 1 && rec_decode(m, uid, (const unsigned char *)v.s, v.len) < 0)
        r = -1;
    str_free(&v);
    return r;
}

int ms_rec_put(struct mstore_box *b, const struct mstore_msg *m)
{
    unsigned char k[5];
    struct str v = STR_INIT;
    int r;

    rec_key(k, m->uid);
    rec_encode(m, &v);
    r = db_put(b->db, k, 5, v.s, v.len);
    str_free(&v);
    return r;
}

int ms_recc_open(struct mstore_box *b, struct ms_rec_cursor *rc)
{
    rc->uid = 0;
    if (b->db->cursor(b->db, NULL, &rc->c, 0) != 0) {
        rc->c = NULL;
        return -1;
    }
    return 0;
}

/* ms_recc_get - like ms_rec_get; DB_NEXT first when the cursor is on a
 * smaller UID (a STORE over a range visits its records in order) */
int ms_recc_get(struct ms_rec_cursor *rc, uint32_t uid, struct mstore_msg *m)
{
    unsigned char k[5];
    DBT key, val;
    int r = DB_NOTFOUND;

    memset(&key, 0, sizeof(key));
    memset(&val, 0, sizeof(val));
    if (rc->uid && rc->uid < uid) {
        r = rc->c->get(rc->c, &key, &val, DB_NEXT);
        if (r == 0 && !(key.size == 5 && ((unsigned char *)key.data)[0] == 'U' &&
                        ms_get32be((const unsigned char *)key.data + 1) == uid))
            r = DB_NOTFOUND; /* not the one: search for it */
        else if (r != 0 && r != DB_NOTFOUND)
            goto fail;
    }
    if (r == DB_NOTFOUND) {
        rec_key(k, uid);
        memset(&key, 0, sizeof(key));
        memset(&val, 0, sizeof(val));
        key.data = k;
        key.size = 5;
        r = rc->c->get(rc->c, &key, &val, DB_SET);
        if (r == DB_NOTFOUND) {
            rc->uid = 0;
            return 0;
        }
        if (r != 0)
            goto fail;
    }
    rc->uid = uid;
    if (rec_decode(m, uid, val.data, val.size) < 0)
        goto fail;
    return 1;
fail:
    rc->uid = 0;
    return -1;
}

/* ms_recc_put - rewrite the record of the last successful ms_recc_get */
int ms_recc_put(struct ms_rec_cursor *rc, const struct mstore_msg *m)
{
    struct str v = STR_INIT;
    DBT key, val;
    int r;

    if (rc->uid != m->uid)
        log_panic("ms_recc_put: cursor on UID %u, record of %u", rc->uid, m->uid);
    rec_encode(m, &v);
    memset(&key, 0, sizeof(key));
    memset(&val, 0, sizeof(val));
    val.data = v.s;
    val.size = (u_int32_t)v.len;
    r = rc->c->put(rc->c, &key, &val, DB_CURRENT);
    str_free(&v);
    if (r != 0)
        rc->uid = 0;
    return r == 0 ? 0 : -1;
}

void ms_recc_close(struct ms_rec_cursor *rc)
{
    if (rc->c)
        rc->c->close(rc->c);
    rc->c = NULL;
    rc->uid = 0;
}

/* ms_rec_del - remove a record and note the expunge in the log ("X" modseq uid) */
int ms_rec_del(struct mstore_box *b, uint32_t uid, uint64_t modseq)
{
    unsigned char k[5], x[13];

    rec_key(k, uid);
    x[0] = 'X';
    ms_put32be(x + 1, (uint32_t)(modseq >> 32));
    ms_put32be(x + 5, (uint32_t)modseq);
    ms_put32be(x + 9, uid);
    if (db_del(b->db, k, 5) < 0)
        return -1;
    return db_put(b->db, x, 13, "", 0);
}

/* ms_xlog_prune - keep the expunge log bounded (exclusive section): past
 * MS_XLOG_MAX entries the oldest go, and "Y" records the highest modseq
 * whose expunges are no longer listed (QRESYNC must then fall back) */
void ms_xlog_prune(struct mstore_box *b)
{
    DBC *c = NULL;
    DBT key, val;
    unsigned char start[1] = {'X'};
    size_t n = 0;
    int r, flag = DB_SET_RANGE;

    if ((b->hdr.highestmodseq & 63) != 0 || b->db->cursor(b->db, NULL, &c, 0) != 0)
        return;
    memset(&key, 0, sizeof(key));
    memset(&val, 0, sizeof(val));
    key.data = start;
    key.size = 1;
    while ((r = c->get(c, &key, &val, (u_int32_t)flag)) == 0 &&
           ((const unsigned char *)key.data)[0] == 'X') {
        flag = DB_NEXT;
        n++;
    }
    if (n > MS_XLOG_MAX) {
        size_t drop = n - MS_XLOG_KEEP;
        uint64_t floor = 0;
        flag = DB_SET_RANGE;
        key.data = start;
        key.size = 1;
        while (drop > 0 && c->get(c, &key, &val, (u_int32_t)flag) == 0 && key.size == 13) {
            const unsigned char *k = key.data;
            flag = DB_NEXT;
            if (k[0] != 'X')
                break;
            floor = (uint64_t)ms_get32be(k + 1) << 32 | ms_get32be(k + 5);
            c->del(c, 0);
            drop--;
        }
        if (floor) {
            unsigned char v[8];
            ms_put64(v, floor);
            db_put(b->db, "Y", 1, v, 8);
        }
    }
    c->close(c);
}

void ms_recs_free(struct mstore_msg *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        free(v[i].fname);
    free(v);
}

/* idx_read_all - every record, ascending UIDs; -1 on a database error */
static int idx_read_all(struct mstore_box *b, struct mstore_msg **out, uint32_t *nout)
{
    DBC *c = NULL;
    DBT key, val;
    unsigned char start[1] = {'U'};
    struct mstore_msg *v = NULL;
    uint32_t n = 0, cap = 0;
    int r, flag = DB_SET_RANGE;

    if ((r = b->db->cursor(b->db, NULL, &c, 0)) != 0)
        return -1;
    memset(&key, 0, sizeof(key));
    memset(&val, 0, sizeof(val));
    key.data = start;
    key.size = 1;
    while ((r = c->get(c, &key, &val, (u_int32_t)flag)) == 0) {
        const unsigned char *k = key.data;
        flag = DB_NEXT;
        if (key.size < 1 || k[0] != 'U')
            break;
        if (key.size != 5)
            goto corrupt;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            v = xreallocarray(v, cap, sizeof(*v));
        }
        if (rec_decode(&v[n], ms_get32be(k + 1), val.data, val.size) < 0)
            goto corrupt;
        if (n > 0 && v[n].uid <= v[n - 1].uid) {
            free(v[n].fname);
            goto corrupt;
        }
        n++;
    }
    if (r != 0 && r != DB_NOTFOUND)
        goto corrupt;
    c->close(c);
    *out = v;
    *nout = n;
    return 0;
corrupt:
    c->close(c);
    ms_recs_free(v, n);
    return -1;
}

int ms_kw_read(struct mstore_box *b)
{
    struct str v = STR_INIT;
    int r = db_get(b->db, "K", 1, &v);

    strlist_free(&b->keywords);
    if (r == 1) {
        for (size_t i = 0; i < v.len;) {
            size_t l = strnlen(v.s + i, v.len - i);
            if (l > 0 && b->keywords.n < MSTORE_KEYWORDS_MAX)
                strlist_addn(&b->keywords, v.s + i, l);
            i += l + 1;
        }
    }
    str_free(&v);
    return r < 0 ? -1 : 0;
}

int ms_kw_write(struct mstore_box *b)
{
    struct str v = STR_INIT;
    int r;

    for (size_t i = 0; i < b->keywords.n; i++)
        str_catn(&v, b->keywords.v[i], strlen(b->keywords.v[i]) + 1);
    r = db_put(b->db, "K", 1, v.s ? v.s : "", v.len);
    str_free(&v);
    return r;
}

/* ms_idx_lock - take the index lock (shared or exclusive) */
int ms_idx_lock(struct mstore_box *b, int excl)
{
    if (ms_lock(b->lockfd, MS_LOCK_INDEX, excl ? F_WRLCK : F_RDLCK, 1) < 0) {
        log_warn("lock mailbox %s: %s", b->path, strerror(errno));
        return -1;
    }
    b->lock_index = excl ? MS_HELD_EXCL : MS_HELD_SHARED;
    return 0;
}

/* ms_idx_open - open the index inside a locked section and read its header
 * and keywords. An exclusive section creates a missing index and replaces a
 * corrupt one. 0 ok, 1 (shared section) missing or corrupt: retry with an
 * exclusive section, -1 failure (logged). */
int ms_idx_open(struct mstore_box *b)
{
    int excl = b->lock_index == MS_HELD_EXCL;
    int r = idx_dbopen(b, excl);

    if (r == 0) {
        r = idx_read_hdr(b);
        if (r == 0 && ms_kw_read(b) < 0)
            r = -1;
        if (r != 0) {
            ms_db_close(b->db);
            b->db = NULL;
            if (r < 0 && excl)
                log_warn("mailbox index %s/" MS_INDEX_FILE " is corrupt", b->path);
        }
    }
    if (r == 0)
        return 0;
    if (!excl)
        return 1;
    return ms_idx_create(b, r < 0) < 0 ? -1 : 0;
}

/* ms_idx_begin - ms_idx_lock + ms_idx_open, retrying exclusively when needed;
 * 0 ok, -1 failure (nothing held) */
int ms_idx_begin(struct mstore_box *b, int excl)
{
    int r;

    if (ms_idx_lock(b, excl) < 0)
        return -1;
    r = ms_idx_open(b);
    if (r == 1) {
        ms_idx_end(b, 0);
        return ms_idx_begin(b, 1);
    }
    if (r < 0) {
        ms_idx_end(b, 0);
        return -1;
    }
    return 0;
}

/* ms_idx_end - close the index and unlock; bump: the section changed something
 * that other views must see. Returns the stamp as left. */
uint64_t ms_idx_end(struct mstore_box *b, int bump)
{
    uint64_t old = 0;

    if (b->lock_index)
        old = read_stamp(b->lockfd);
    if (bump && b->lock_index == MS_HELD_EXCL) {
        write_stamp(b->lockfd, old + 1);
        if (b->stamp == old)
            b->stamp = old + 1; /* our view already holds our own change */
        old++;
    }
    idx_dbclose(b);
    if (b->lock_index) {
        ms_unlock(b->lockfd, MS_LOCK_INDEX);
        b->lock_index = 0;
    }
    return old;
}

void ms_idx_want_fsync(void)
{
    want_fsync = 1;
}

/* ---- directory scan ------------------------------------------------------------------ */

struct scan_ent {
    char *fname;
    size_t baselen;
    uint8_t dir;
    uint8_t used;
};

struct scan {
    struct scan_ent *v;
    size_t n, cap;
    size_t *slots; /* open addressing by base name: index + 1, 0 = empty */
    size_t nslots;
};

static size_t base_hash(const char *s, size_t n)
{
    return (size_t)hash_bytes(s, n);
}

/* scan_dir - add the file names of one directory; -1 when it cannot be read */
static int scan_dir(struct scan *sc, const char *path, uint8_t dir)
{
    DIR *d = opendir(path);
    struct dirent *e;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strchr(e->d_name, '/'))
            continue;
        if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN && e->d_type != DT_LNK)
            continue;
        if (sc->n == sc->cap) {
            sc->cap = sc->cap ? sc->cap * 2 : 256;
            sc->v = xreallocarray(sc->v, sc->cap, sizeof(*sc->v));
        }
        sc->v[sc->n].fname = xstrdup(e->d_name);
        sc->v[sc->n].baselen = maildir_base_len(e->d_name);
        sc->v[sc->n].dir = dir;
        sc->v[sc->n].used = 0;
        sc->n++;
    }
    closedir(d);
    return 0;
}

/* scan_index - hash the entries by base name; a base in both new/ and cur/
 * (a move interrupted or seen half-way) keeps the cur/ one */
static void scan_index(struct scan *sc)
{
    sc->nslots = 16;
    while (sc->nslots < sc->n * 2)
        sc->nslots *= 2;
    sc->slots = xcalloc(sc->nslots, sizeof(size_t));
    for (size_t i = 0; i < sc->n; i++) {
        struct scan_ent *e = &sc->v[i];
        size_t h = base_hash(e->fname, e->baselen) & (sc->nslots - 1);
        while (sc->slots[h]) {
            struct scan_ent *o = &sc->v[sc->slots[h] - 1];
            if (o->baselen == e->baselen && memcmp(o->fname, e->fname, e->baselen) == 0)
                break;
            h = (h + 1) & (sc->nslots - 1);
        }
        if (sc->slots[h] == 0)
            sc->slots[h] = i + 1;
        else if (e->dir == 1 && sc->v[sc->slots[h] - 1].dir == 0) {
            sc->v[sc->slots[h] - 1].used = 1; /* superseded */
            sc->slots[h] = i + 1;
        } else {
            e->used = 1; /* duplicate: ignored */
        }
    }
}

static struct scan_ent *scan_find(struct scan *sc, const char *fname)
{
    size_t bl = maildir_base_len(fname);
    size_t h = base_hash(fname, bl) & (sc->nslots - 1);

    while (sc->slots[h]) {
        struct scan_ent *e = &sc->v[sc->slots[h] - 1];
        if (e->baselen == bl && memcmp(e->fname, fname, bl) == 0)
            return e;
        h = (h + 1) & (sc->nslots - 1);
    }
    return NULL;
}

static void scan_free(struct scan *sc)
{
    for (size_t i = 0; i < sc->n; i++)
        free(sc->v[i].fname);
    free(sc->v);
    free(sc->slots);
}

/* name_cmp - delivery order of Maildir names: the leading time numerically */
static int name_cmp(const void *a, const void *b)
{
    const struct scan_ent *x = *(struct scan_ent *const *)a, *y = *(struct scan_ent *const *)b;
    char *ex, *ey;
    unsigned long long nx = strtoull(x->fname, &ex, 10), ny = strtoull(y->fname, &ey, 10);

    if (ex != x->fname && ey != y->fname && nx != ny)
        return nx < ny ? -1 : 1;
    return strcmp(x->fname, y->fname);
}

static int stat_mtime(const char *dir, const char *sub, struct timespec *ts)
{
    char *p = xasprintf("%s/%s", dir, sub);
    struct stat st;
    int r = stat(p, &st);

    free(p);
    if (r < 0)
        return -1;
    *ts = st.st_mtim;
    return 0;
}

/* ms_dir_mtimes - mtimes of new/ and cur/; -1 when the Maildir is gone */
int ms_dir_mtimes(struct mstore_box *b, struct timespec *nt, struct timespec *ct)
{
    if (stat_mtime(b->path, "new", nt) < 0 || stat_mtime(b->path, "cur", ct) < 0)
        return -1;
    return 0;
}

static int ts_eq(const struct timespec *a, int64_t sec, int32_t nsec)
{
    return a->tv_sec == sec && a->tv_nsec == nsec;
}

/* ms_scan_needed - whether the directories may hold changes the index lacks */
int ms_scan_needed(const struct ms_hdr *h, const struct timespec *nt, const struct timespec *ct)
{
    return !h->trusted || !ts_eq(nt, h->new_sec, h->new_nsec) ||
           !ts_eq(ct, h->cur_sec, h->cur_nsec);
}

/* mtime_old - whether a directory mtime m read at t0 (taken just before) can prove
 * "unchanged" later: file times come from the kernel's coarse clock, so a change in the
 * same tick as m, after our scan, would leave the mtime as it is. Once the clock was
 * past m by more than two ticks when the scan began, every later change gets a later
 * time. A tick is at most 10 ms (HZ >= 100): 100 ms is the margin. An mtime of whole
 * seconds may come from a file system that keeps no more: two seconds there. */
static int mtime_old(const struct timespec *m, const struct timespec *t0)
{
    int64_t ns = ((int64_t)t0->tv_sec - m->tv_sec) * 1000000000 + (t0->tv_nsec - m->tv_nsec);
    return ns >= (m->tv_nsec == 0 ? 2000000000 : 100000000);
}

/* mtimes_trustworthy - both directories' mtimes can prove "unchanged" */
static int mtimes_trustworthy(const struct timespec *nt, const struct timespec *ct,
                              const struct timespec *t0)
{
    return mtime_old(nt, t0) && mtime_old(ct, t0);
}

static void rec_from_ent(struct mstore_msg *m, const struct scan_ent *e)
{
    free(m->fname);
    m->fname = xstrdup(e->fname);
    m->dir = e->dir;
}

/* ms_scan - reconcile the index (records recs[0..*n), exclusive section) with
 * new/ and cur/: vanished files are expunged, renamed ones updated (their
 * flags taken from the name), new ones get UIDs in delivery order. recs is
 * updated in place. Returns 1 when the index changed, 0 if not, -1 on error. */
int ms_scan(struct mstore_box *b, struct mstore_msg **recs, uint32_t *n)
{
    struct scan sc;
    struct timespec t0, nt, ct;
    struct mstore_msg *v = *recs;
    uint32_t out = 0;
    uint64_t modseq = b->hdr.highestmodseq + 1;
    int changed = 0, used_modseq = 0;
    char *pn, *pc;
    int rn, rc;

    memset(&sc, 0, sizeof(sc));
    clock_gettime(CLOCK_REALTIME, &t0); /* before the mtimes: see mtime_old */
    if (ms_dir_mtimes(b, &nt, &ct) < 0) {
        log_warn("mailbox %s: new/ or cur/ is missing", b->path);
        return -1;
    }
    pn = xasprintf("%s/new", b->path);
    pc = xasprintf("%s/cur", b->path);
    rn = scan_dir(&sc, pn, 0); /* new/ first: a file moving to cur/ meanwhile is seen twice */
    rc = scan_dir(&sc, pc, 1);
    free(pn);
    free(pc);
    if (rn < 0 || rc < 0) {
        log_warn("scan mailbox %s: %s", b->path, strerror(errno));
        scan_free(&sc);
        return -1;
    }
    scan_index(&sc);
    for (uint32_t i = 0; i < *n; i++) {
        struct mstore_msg *m = &v[i];
        struct scan_ent *e = scan_find(&sc, m->fname);
        if (e == NULL) {
            if (ms_rec_del(b, m->uid, modseq) < 0)
                goto dberr;
            used_modseq = changed = 1;
            free(m->fname);
            continue;
        }
        e->used = 1;
        if (e->dir != m->dir || strcmp(e->fname, m->fname) != 0) {
            unsigned f = maildir_info_flags(e->fname);
            rec_from_ent(m, e);
            if (f != m->flags) {
                m->flags = (uint8_t)f;
                m->modseq = modseq;
                used_modseq = 1;
            }
            if (ms_rec_put(b, m) < 0)
                goto dberr;
            changed = 1;
        }
        v[out++] = *m;
    }
    *n = out;
    /* new files, in delivery order */
    {
        struct scan_ent **nw = xcalloc(sc.n + 1, sizeof(*nw));
        size_t k = 0;
        for (size_t i = 0; i < sc.n; i++)
            if (!sc.v[i].used)
                nw[k++] = &sc.v[i];
        qsort(nw, k, sizeof(*nw), name_cmp);
        if (k > 0 && (uint64_t)b->hdr.uidnext + k >= 0xfffffff0u) {
            log_warn("mailbox %s: UIDs exhausted", b->path);
            free(nw);
            goto fail;
        }
        v = xreallocarray(v, *n + k + 1, sizeof(*v));
        for (size_t i = 0; i < k; i++) {
            struct mstore_msg *m = &v[*n];
            memset(m, 0, sizeof(*m));
            m->uid = b->hdr.uidnext++;
            m->fname = xstrdup(nw[i]->fname);
            ms_uidlog_add(b, m->uid, m->fname);
            m->dir = nw[i]->dir;
            m->flags = (uint8_t)maildir_info_flags(m->fname);
            m->modseq = modseq;
            m->size = maildir_name_vsize(m->fname);
            m->date = -1;
            (*n)++;
            if (ms_rec_put(b, m) < 0) {
                free(nw);
                *recs = v;
                goto dberr;
            }
        }
        if (k > 0) {
            used_modseq = changed = 1;
            want_fsync = 1;
        }
        free(nw);
        *recs = v;
    }
    if (used_modseq)
        b->hdr.highestmodseq = modseq;
    if (changed)
        ms_xlog_prune(b);
    b->hdr.new_sec = nt.tv_sec;
    b->hdr.new_nsec = (int32_t)nt.tv_nsec;
    b->hdr.cur_sec = ct.tv_sec;
    b->hdr.cur_nsec = (int32_t)ct.tv_nsec;
    b->hdr.trusted = (uint8_t)mtimes_trustworthy(&nt, &ct, &t0);
    if (ms_hdr_put(b) < 0)
        goto dberr;
    scan_free(&sc);
    return changed;
dberr:
    log_warn("write mailbox index of %s: %s", b->path, str_c(&db_message));
fail:
    scan_free(&sc);
    return -1;
}

/* recover_uids - put the records of the files that petrel.uids names into the new index
 * (exclusive section, header set up): each file keeps its UID; flags come from the
 * names, sizes from ",W=", keywords are lost, every record gets the new HIGHESTMODSEQ.
 * Returns how many files kept their UID, -1 on a database error. */
static int recover_uids(struct mstore_box *b, const struct ms_uidlog *l)
{
    struct scan sc;
    char *pn = xasprintf("%s/new", b->path), *pc = xasprintf("%s/cur", b->path);
    uint32_t *uid_of;
    int kept = 0, rn, rc;

    memset(&sc, 0, sizeof(sc));
    rn = scan_dir(&sc, pn, 0);
    rc = scan_dir(&sc, pc, 1);
    free(pn);
    free(pc);
    if (rn < 0 || rc < 0) {
        scan_free(&sc);
        return 0; /* the scan that follows reports it */
    }
    scan_index(&sc);
    uid_of = xcalloc(sc.n + 1, sizeof(*uid_of));
    for (uint32_t i = 0; i < l->n; i++) { /* a base logged twice: the later UID stands */
        struct scan_ent *e = scan_find(&sc, l->bases[i]);
        if (e != NULL && !e->used && e->baselen == strlen(l->bases[i]))
            uid_of[e - sc.v] = l->uids[i];
    }
    for (uint32_t i = 0; i < l->n; i++) { /* in UID order */
        struct scan_ent *e = scan_find(&sc, l->bases[i]);
        struct mstore_msg m;
        if (e == NULL || uid_of[e - sc.v] != l->uids[i])
            continue;
        memset(&m, 0, sizeof(m));
        m.uid = l->uids[i];
        m.fname = e->fname;
        m.dir = e->dir;
        m.flags = (uint8_t)maildir_info_flags(e->fname);
        m.modseq = b->hdr.highestmodseq;
        m.size = maildir_name_vsize(e->fname);
        m.date = -1;
        if (ms_rec_put(b, &m) < 0) {
            kept = -1;
            break;
        }
        kept++;
    }
    free(uid_of);
    scan_free(&sc);
    return kept;
}

/* ms_idx_create - a new index (old one missing or corrupt), the caller scans next. When
 * petrel.uids holds the UIDs of the current UIDVALIDITY, they are kept (and the cache
 * with them); otherwise the UIDVALIDITY is a new one, greater than any used before for
 * this Maildir. */
int ms_idx_create(struct mstore_box *b, int corrupt)
{
    char *path = xasprintf("%s/" MS_INDEX_FILE, b->path);
    uint32_t old = read_backup_uidv(b->lockfd), now = (uint32_t)time(NULL);
    uint32_t old_next = read_backup_u32(b->lockfd, MS_UIDNEXT_OFF);
    uint64_t old_modseq = read_backup_u64(b->lockfd, MS_MODSEQ_OFF);
    struct ms_uidlog l;
    int r, kept = 0, keep;

    keep = ms_uidlog_read(b, &l) == 0 && (old == 0 || l.uidvalidity == old);
    if (corrupt)
        ms_file_set_aside(b, MS_FILE_INDEX);
    else
        unlink(path);
    if (!keep)
        ms_cache_reset(b->path); /* its entries belong to the old UIDs */
    free(path);
    if ((r = idx_dbopen(b, 1)) != 0) {
        ms_uidlog_free(&l);
        return -1;
    }
    memset(&b->hdr, 0, sizeof(b->hdr));
    b->hdr.version = MS_INDEX_VERSION;
    b->hdr.uidvalidity = keep ? l.uidvalidity : now > old ? now : old + 1;
    b->hdr.uidnext = 1;
    b->hdr.highestmodseq = 1;
    if (keep) { /* no UID handed out before may come again, no modseq go back */
        if (l.n > 0 && l.uids[l.n - 1] >= b->hdr.uidnext)
            b->hdr.uidnext = l.uids[l.n - 1] + 1;
        if (l.next > b->hdr.uidnext)
            b->hdr.uidnext = l.next;
        if (old_next > b->hdr.uidnext && old_next < 0xfffffff0u)
            b->hdr.uidnext = old_next;
        b->hdr.highestmodseq = (old_modseq < (1ULL << 62) ? old_modseq : 0) + 2;
    }
    b->hdr.recent_floor = b->hdr.uidnext;
    if (!keep)
        b->hdr.recent_floor = 1;
    strlist_free(&b->keywords);
    if (ms_hdr_put(b) < 0 || ms_kw_write(b) < 0 || (keep && (kept = recover_uids(b, &l)) < 0)) {
        log_warn("write mailbox index of %s: %s", b->path, str_c(&db_message));
        ms_uidlog_free(&l);
        return -1;
    }
    if (keep) { /* QRESYNC: the expunges before this point are not listed */
        unsigned char v[8];
        ms_put64(v, b->hdr.highestmodseq);
        db_put(b->db, "Y", 1, v, 8);
    } else {
        ms_uidlog_write(b, NULL, 0); /* the scan that follows appends every file */
    }
    write_backup_uidv(b->lockfd, b->hdr.uidvalidity);
    want_fsync = 1;
    if (keep)
        log_warn("mailbox %s: index %s, rebuilt from the Maildir and " MS_UIDLOG_FILE
                 ": UIDVALIDITY %u kept, %d messages kept their UIDs",
                 b->path, corrupt ? "was damaged" : "was missing", b->hdr.uidvalidity, kept);
    else if (old)
        log_warn("mailbox %s: index %s, new UIDVALIDITY %u", b->path,
                 corrupt ? "was damaged" : "was missing", b->hdr.uidvalidity);
    ms_uidlog_free(&l);
    return 0;
}

/* ms_idx_load - read every record (inside a section); -1 when corrupt */
int ms_idx_load(struct mstore_box *b, struct mstore_msg **recs, uint32_t *n)
{
    if (idx_read_all(b, recs, n) < 0) {
        log_warn("mailbox index %s/" MS_INDEX_FILE " is corrupt (records)", b->path);
        return -1;
    }
    return 0;
}

uint64_t ms_read_stamp(struct mstore_box *b)
{
    return read_stamp(b->lockfd);
}

/* ms_note_cur_change - after our own renames inside cur/ (exclusive section):
 * when the recorded scan state was current, it stays current */
void ms_note_cur_change(struct mstore_box *b, const struct timespec *before)
{
    struct timespec now;

    if (!b->hdr.trusted || !ts_eq(before, b->hdr.cur_sec, b->hdr.cur_nsec))
        return;
    if (stat_mtime(b->path, "cur", &now) < 0)
        return;
    b->hdr.cur_sec = now.tv_sec;
    b->hdr.cur_nsec = (int32_t)now.tv_nsec;
    if (ts_eq(before, b->cur_mt.tv_sec, (int32_t)b->cur_mt.tv_nsec))
        b->cur_mt = now;
}

/* ms_idx_init - once per process: our fsync policy for Berkeley DB */
void ms_idx_init(void)
{
    static int done;

    if (!done) {
        db_env_set_func_fsync(ms_fsync);
        done = 1;
    }
}
