/*
 * mstore_impl.h - the mail store's private types: no functions, only what its files share
 *
 * The mail store (lib/mstore) is a stack of files, each with one job and
 * its own internal header; a file includes and calls only the files below
 * it (lib/mstore/ORDER, checked by scripts/check-layers.sh), bottom up:
 *
 *   mstore.h        the public API and its types (no code)
 *   maildir         message files: names, ,S=/,W= sizes, the writer (also local's)
 *   mstore_impl.h   these shared types and the on-disk constants
 *   mstore_lock     petrel.lock byte-range locks
 *   mstore_check    trust in the index and cache files
 *   mstore_uidlog   petrel.uids, the second copy of the UIDs
 *   mstore_name     mailbox names, LIST patterns, name -> directory
 *   mstore_cache    petrel.cache blobs by UID
 *   mstore_index    petrel.index records, locked sections, directory scans
 *   mstore_box      an open mailbox: the view, sync, flags, expunge, size, cache by seq
 *   mstore_copy     new messages: APPEND, COPY, MOVE
 *   mstore          users, the store, folder operations (LIST, CREATE, RENAME, STATUS ...)
 *
 * Every file of the store includes this; nothing outside it does.
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
    int watchfd;   /* inotify, -1 until mstore_box_watch */
    int msgdir[2]; /* O_PATH descriptors of new/ and cur/ for opening messages, -1: not
                    * open; held from the first open of a message to the next flush */
    DB *db;        /* open only inside a locked section */
    int db_write;  /* db was opened for writing: its identity is recorded at the close */
    DB *cache;     /* open while lock_cache is held */
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
    size_t *put_slots;  /* hash of (uid, field) -> index + 1 in puts, 0: empty */
    size_t nput_slots;  /* 2 * capputs, a power of two */
    struct str uidlog;  /* lines for petrel.uids from this section (mstore_uidlog.c) */
    int uidlog_checked; /* this view made sure the log exists for its UIDVALIDITY */
};

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
