/*
 * mstore_impl.h - private parts of the mail store shared by its source files
 *
 * mstore.c (users, folders, subscriptions), mstore_box.c (the index, views,
 * sync, flag changes, expunge, copy, append) and mstore_cache.c (blobs)
 * include this; nothing else does.
 */
#ifndef PETREL_MSTORE_IMPL_H
#define PETREL_MSTORE_IMPL_H

#include <db.h>
#include <stdint.h>
#include <sys/stat.h>

#include "mstore.h"

/* files in each Maildir (see doc/internals.md) */
#define MS_INDEX_FILE "petrel.index"
#define MS_CACHE_FILE "petrel.cache"
#define MS_LOCK_FILE "petrel.lock"
#define MS_SUBS_FILE "subscriptions"
#define MS_UIDLOG_FILE "petrel.uids"

/* byte ranges locked in petrel.lock (F_OFD_SETLK*) */
#define MS_LOCK_INDEX 0   /* index: shared to read, exclusive to write */
#define MS_LOCK_SESSION 1 /* exclusive session (POP3 maildrop) */
#define MS_LOCK_CACHE 2   /* cache file */
#define MS_LOCK_TREE 3    /* root only: folder tree and subscriptions */

/* petrel.lock content: change stamp (8 bytes LE) at 0, backup UIDVALIDITY (4 bytes LE) at 8,
 * backup UIDNEXT (4) at 12, last login time at 16, backup HIGHESTMODSEQ (8) at 24, the
 * identities of the index and cache files as their last writer left them (48 bytes each,
 * mstore_check.c) at 32 and 80 */
#define MS_STAMP_OFF 0
#define MS_UIDV_OFF 8
#define MS_UIDNEXT_OFF 12
#define MS_MODSEQ_OFF 24
#define MS_LOGIN_OFF 16 /* last POP3 login time (8 bytes LE) */
#define MS_IDENT_INDEX_OFF 32
#define MS_IDENT_CACHE_OFF 80

/* the files whose trust mstore_check.c keeps */
#define MS_FILE_INDEX 0
#define MS_FILE_CACHE 1

#define MS_INDEX_VERSION 1
#define MS_XLOG_MAX 20000  /* expunge log entries kept at most ... */
#define MS_XLOG_KEEP 15000 /* ... and after pruning */

/* what a box holds on a lock byte (F_RDLCK is 0, so not that) */
#define MS_HELD_SHARED 1
#define MS_HELD_EXCL 2

struct mstore {
    char *root;
};

/* the index header ("H") */
struct ms_hdr {
    uint32_t version;
    uint32_t uidvalidity;
    uint32_t uidnext;
    uint32_t recent_floor; /* first UID no session has taken as \Recent */
    uint64_t highestmodseq;
    int64_t new_sec, cur_sec; /* directory mtimes at the last scan */
    int32_t new_nsec, cur_nsec;
    uint8_t trusted; /* those mtimes are old enough to prove nothing changed since */
};

struct ms_cache_put {
    uint32_t uid;
    int field;
    void *data;
    size_t len;
};

struct mstore_box {
    struct mstore *st;
    char *name;
    char *path;
    int flags;
    int lockfd;
    int lock_index; /* 0 or MS_HELD_* on MS_LOCK_INDEX */
    int lock_cache;
    int session;
    int watchfd; /* inotify, -1 until mstore_box_watch */
    int msgdir[2]; /* O_PATH descriptors of new/ and cur/ for opening messages, -1: not
                    * open; held from the first open of a message to the next flush */
    DB *db;      /* open only inside a locked section */
    int db_write; /* db was opened for writing: its identity is recorded at the close */
    DB *cache;   /* open while lock_cache is held */
    struct ms_hdr hdr;
    uint64_t stamp;
    struct timespec new_mt, cur_mt;
    int mt_trusted;
    int loaded;
    uint32_t view_uidvalidity;
    struct mstore_msg *msgs;
    uint32_t count, cap;
    uint32_t nrecent;
    struct strlist keywords;
    size_t kw_reported; /* keywords the session has been told about */
    int dirty;          /* some message has a size/date to write back */
    struct ms_cache_put *puts;
    size_t nputs, capputs, putbytes;
    size_t *put_slots; /* hash of (uid, field) -> index + 1 in puts, 0: empty */
    size_t nput_slots; /* 2 * capputs, a power of two */
    struct str uidlog; /* lines for petrel.uids from this section (mstore_uidlog.c) */
    int uidlog_checked; /* this view made sure the log exists for its UIDVALIDITY */
};

/* petrel.uids as read back */
struct ms_uidlog {
    uint32_t uidvalidity;
    uint32_t next; /* UIDNEXT when the file was last written whole */
    uint32_t *uids; /* ascending */
    char **bases;
    uint32_t n, cap;
};

/* mstore_index.c: locks, the index database, directory scans */
void ms_idx_init(void);
int ms_lock(int fd, int range, int type, int wait);
int ms_unlock(int fd, int range);
int ms_open_lockfile(const char *dir);
int ms_idx_lock(struct mstore_box *b, int excl);
int ms_idx_open(struct mstore_box *b);
int ms_idx_begin(struct mstore_box *b, int excl);
uint64_t ms_idx_end(struct mstore_box *b, int bump);
int ms_idx_create(struct mstore_box *b, int corrupt);
int ms_idx_load(struct mstore_box *b, struct mstore_msg **recs, uint32_t *n);
void ms_idx_want_fsync(void);
uint64_t ms_read_stamp(struct mstore_box *b);
int ms_hdr_put(struct mstore_box *b);
int ms_rec_get(struct mstore_box *b, uint32_t uid, struct mstore_msg *m);
int ms_rec_put(struct mstore_box *b, const struct mstore_msg *m);
int ms_rec_del(struct mstore_box *b, uint32_t uid, uint64_t modseq);

/* a walk over records in ascending UIDs (one exclusive section): a get
 * steps to the next record when that is the one asked for, and a put
 * rewrites the record of the last get in place (no second search) */
struct ms_rec_cursor {
    DBC *c;
    uint32_t uid; /* of the record under the cursor; 0 when not on one */
};
int ms_recc_open(struct mstore_box *b, struct ms_rec_cursor *rc);
int ms_recc_get(struct ms_rec_cursor *rc, uint32_t uid, struct mstore_msg *m);
int ms_recc_put(struct ms_rec_cursor *rc, const struct mstore_msg *m);
void ms_recc_close(struct ms_rec_cursor *rc);
void ms_recs_free(struct mstore_msg *v, uint32_t n);
void ms_xlog_prune(struct mstore_box *b);
int ms_kw_read(struct mstore_box *b);
int ms_kw_write(struct mstore_box *b);
int ms_dir_mtimes(struct mstore_box *b, struct timespec *nt, struct timespec *ct);
int ms_scan_needed(const struct ms_hdr *h, const struct timespec *nt, const struct timespec *ct);
int ms_scan(struct mstore_box *b, struct mstore_msg **recs, uint32_t *n);
void ms_note_cur_change(struct mstore_box *b, const struct timespec *before);

/* mstore_box.c: views */
int ms_box_handle(struct mstore *st, const char *name, int flags, struct mstore_box **out);
void ms_box_free(struct mstore_box *b);
void ms_msg_path(const struct mstore_box *b, int dir, const char *fname, struct str *out);
void ms_msgdirs_close(struct mstore_box *b);
int ms_kw_mask(struct mstore_box *b, const char *const *names, size_t n, uint64_t *mask);
void ms_changes_expunged(struct mstore_box *b, const uint32_t *gone, size_t n,
                         struct mstore_changes *ch);

/* mstore.c: folders */
int ms_box_path(const struct mstore *st, const char *name, struct str *path);
int ms_has_children(const struct mstore *st, const char *name);
int ms_make_maildir(const char *path, int folder);
int ms_tree_lock(const struct mstore *st, int *fd);
void ms_tree_unlock(int fd);

/* mstore_check.c: trust in the index and cache files */
int ms_file_check(struct mstore_box *b, int which);
void ms_file_trust(struct mstore_box *b, int which);
void ms_file_distrust(struct mstore_box *b, int which);
void ms_file_set_aside(struct mstore_box *b, int which);
int ms_db_verify(const char *path, struct str *why);
int ms_db_close(DB *db);

/* mstore_uidlog.c: the second copy of the UIDs */
void ms_uidlog_add(struct mstore_box *b, uint32_t uid, const char *fname);
void ms_uidlog_flush(struct mstore_box *b, int sync);
int ms_uidlog_write(struct mstore_box *b, const struct mstore_msg *recs, uint32_t n);
int ms_uidlog_read(struct mstore_box *b, struct ms_uidlog *l);
void ms_uidlog_free(struct ms_uidlog *l);
void ms_uidlog_maintain(struct mstore_box *b, const struct mstore_msg *recs, uint32_t n, int excl);

/* mstore_cache.c */
void ms_cache_release(struct mstore_box *b);
int ms_cache_write(struct mstore_box *b);
void ms_cache_drop_uids(struct mstore_box *b, const uint32_t *uids, size_t n);
void ms_cache_reset(const char *dir);

/* little-endian and big-endian helpers for records */
static inline void ms_put32be(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static inline uint32_t ms_get32be(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void ms_put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t ms_get32(const unsigned char *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static inline void ms_put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t ms_get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

#endif
