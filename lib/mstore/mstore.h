/*
 * mstore.h - the virtual mail store: Maildir++ folders with a per-mailbox index
 *
 * One user's store is a Maildir (INBOX) under virtual_mailbox_base, with
 * Maildir++ folders as ".Name" sub-Maildirs beside tmp/ new/ cur/. The
 * IMAP hierarchy separator is MSTORE_SEP ('.'): folder "Lists.petrel" is
 * the directory ".Lists.petrel". Names are given and returned in the IMAP
 * wire form (modified UTF-7, RFC 3501 5.1.3), which is also the on-disk
 * form, as Courier and Dovecot keep it; "INBOX" is case-insensitive.
 *
 * Each mailbox has an index (Berkeley DB, petrel.index) with a persistent
 * UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ and, per UID, the file name, the
 * RFC822.SIZE (octets with CRLF line ends, exactly what POP3 RETR and IMAP
 * BODY[] send), the internal date, the system flags (also kept in the
 * Maildir info suffix ":2,DFRST"), keywords and a modseq; and a cache
 * (petrel.cache) of opaque blobs (ENVELOPE, BODYSTRUCTURE) that imapd
 * fills. Local delivery only writes tmp/ and links into new/ (through the
 * store's Maildir writer, maildir.h); the store
 * finds new files by scanning new/ and cur/ when their mtimes change.
 * doc/internals.md ("Mail store") documents the on-disk format.
 *
 * Sessions: an open mailbox (struct mstore_box) is a view with sequence
 * numbers 1..count mapped to ascending UIDs. The view changes only when
 * its owner calls mstore_box_sync() (or through its own STORE, EXPUNGE,
 * MOVE), so imapd decides when untagged EXISTS/EXPUNGE/FETCH go out (RFC
 * 3501 7.4.1). Several processes may have the same mailbox open; all
 * index access is serialised by open-file-description locks (fcntl
 * F_OFD_SETLK) on petrel.lock, which the kernel drops when a process dies.
 *
 * UIDs never change for a message while UIDVALIDITY stays; a missing or
 * corrupt index is rebuilt from the directories and petrel.uids (a second
 * copy of the UIDs), keeping UIDVALIDITY and UIDs; only without that copy is
 * a new (greater) UIDVALIDITY chosen. POP3 UIDL is derived from UIDVALIDITY and
 * the UID (mstore_uidl), so it survives flag changes and new/ -> cur/.
 *
 * Inside, the files call one way, bottom up (lib/mstore/ORDER, checked by
 * scripts/check-layers.sh; the table is in mstore_impl.h): maildir (message
 * files, also local delivery's writer) <- lock, check, uidlog, name <- cache
 * <- index <- box (the views) <- copy (APPEND, COPY, MOVE) <- mstore.c
 * (users, the store, folder operations).
 *
 * Errors: functions return MSTORE_OK (0) or a negative MSTORE_E* code;
 * MSTORE_ETEMP is a temporary failure already logged (answer NO/-ERR
 * [SYS/TEMP]). Not thread-safe; one process may open several mailboxes.
 */
#ifndef PETREL_MSTORE_H
#define PETREL_MSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "str.h"

#define MSTORE_SEP '.'         /* IMAP hierarchy separator (Maildir++) */
#define MSTORE_NAME_MAX 200    /* longest mailbox name, in bytes */
#define MSTORE_KEYWORDS_MAX 64 /* keywords per mailbox (PERMANENTFLAGS \* until full) */

/* result codes */
#define MSTORE_OK 0
#define MSTORE_ETEMP (-1)        /* I/O or index trouble, logged: temporary failure */
#define MSTORE_ENOTFOUND (-2)    /* no such mailbox (APPEND/COPY: [TRYCREATE]) or user */
#define MSTORE_EEXISTS (-3)      /* CREATE / RENAME target exists */
#define MSTORE_EBADNAME (-4)     /* invalid mailbox name */
#define MSTORE_EINUSE (-5)       /* session lock held by another session ([IN-USE]) */
#define MSTORE_EEXPUNGED (-6)    /* the message was expunged by another session */
#define MSTORE_ENOSELECT (-7)    /* the name is a \Noselect parent, not a mailbox */
#define MSTORE_ELIMIT (-8)       /* too many keywords, or a message too large */
#define MSTORE_EHASCHILDREN (-9) /* DELETE of a \Noselect name that has children */
#define MSTORE_EINBOX (-10)      /* the operation is not allowed on INBOX (DELETE) */
#define MSTORE_ERDONLY (-11)     /* the mailbox was opened MSTORE_RDONLY (EXAMINE) */

/* mstore_strerror - short English text for a result code */
const char *mstore_strerror(int code);

/* system flags: the Maildir info letters are D F R S T */
#define MSTORE_F_ANSWERED 0x01 /* R */
#define MSTORE_F_FLAGGED 0x02  /* F */
#define MSTORE_F_DELETED 0x04  /* T */
#define MSTORE_F_SEEN 0x08     /* S */
#define MSTORE_F_DRAFT 0x10    /* D */
#define MSTORE_F_SYSTEM 0x1f   /* the five permanent system flags */
#define MSTORE_F_RECENT 0x20   /* \Recent: this session's view only, never stored */

/* ---- users and stores ------------------------------------------------ */

/* mstore_user_path - the absolute Maildir path of user@domain: virtual_mailbox_base
 * + the virtual_mailbox_maps value (a relative path ending in '/'; "..",
 * absolute paths and empty values are rejected as configuration errors).
 * MSTORE_OK, MSTORE_ENOTFOUND (no such mailbox user) or MSTORE_ETEMP (table
 * failure or bad value, reason in err). */
int mstore_user_path(const char *user, struct str *path, struct str *err);

/* mstore_vmail_ids - the single uid/gid that owns the virtual mail store:
 * virtual_uid_maps and virtual_gid_maps must each be one static: table (a
 * number or a user/group name). -1 with err otherwise, or for root. */
int mstore_vmail_ids(uid_t *uid, gid_t *gid, struct str *err);

/* mstore_become_owner - for the servers of the mail store (popd, imapd): as root,
 * become the mail store owner (mstore_vmail_ids) or exit when there is none, so
 * that no session is served as root; as another user, go on as that user with a
 * warning when it is not the owner. prog names the server in the fatal message. */
void mstore_become_owner(const char *prog);

struct mstore;

#define MSTORE_CREATE                                              \
    1 /* create the INBOX Maildir when missing, and for a new user \
         (no subscriptions file yet) the special-use folders */

/* mstore_open - the store rooted at maildir (absolute path of INBOX);
 * MSTORE_ENOTFOUND when it does not exist (without MSTORE_CREATE) */
int mstore_open(const char *maildir, int flags, struct mstore **out, struct str *err);
void mstore_close(struct mstore *st);

/* ---- folders ----------------------------------------------------------- */

/* mailbox attributes (LIST, RFC 3501 7.2.2, RFC 3348, RFC 6154) */
#define MSTORE_A_NOSELECT 0x001
#define MSTORE_A_HASCHILDREN 0x002
#define MSTORE_A_HASNOCHILDREN 0x004
#define MSTORE_A_SUBSCRIBED 0x008
#define MSTORE_A_NONEXISTENT 0x010 /* only from mstore_list_subscribed: a stale subscription */
#define MSTORE_A_DRAFTS 0x100
#define MSTORE_A_SENT 0x200
#define MSTORE_A_TRASH 0x400
#define MSTORE_A_JUNK 0x800
#define MSTORE_A_ARCHIVE 0x1000
#define MSTORE_A_SPECIAL 0x1f00

struct mstore_folder {
    char *name; /* wire form; "INBOX" first */
    int attrs;  /* MSTORE_A_* */
};

struct mstore_folders {
    struct mstore_folder *v;
    size_t n, cap;
};

/* mstore_list - every mailbox (INBOX first, then the others sorted bytewise),
 * plus implied \Noselect parents of nested folders, with \HasChildren /
 * \HasNoChildren, \Subscribed and the special-use attributes */
int mstore_list(struct mstore *st, struct mstore_folders *out);
/* mstore_list_subscribed - the subscribed names, with the attributes of the
 * mailbox or MSTORE_A_NONEXISTENT (LSUB) */
int mstore_list_subscribed(struct mstore *st, struct mstore_folders *out);
void mstore_folders_free(struct mstore_folders *f);
/* mstore_match - IMAP LIST pattern match: '*' matches anything, '%' anything
 * but the separator (RFC 3501 6.3.8); "INBOX" matches case-insensitively */
int mstore_match(const char *pattern, const char *name);
/* mstore_name_ok - whether name is a valid mailbox name (bytes 0x20-0x7e except
 * '/', '\\', '*', '%', no empty hierarchy level, at most MSTORE_NAME_MAX);
 * the normalised name (INBOX in upper case) goes to out when not NULL */
int mstore_name_ok(const char *name, struct str *out);
/* mstore_special_use - the MSTORE_A_ special-use bit of a top-level name
 * (Drafts, Sent, Trash, Junk, Archive), else 0 */
int mstore_special_use(const char *name);

/* mstore_create - CREATE: the folder and any missing superior names */
int mstore_create(struct mstore *st, const char *name);
/* mstore_delete - DELETE: removes the folder and its messages; a folder with
 * children becomes a \Noselect parent; INBOX -> MSTORE_EINBOX */
int mstore_delete(struct mstore *st, const char *name);
/* mstore_rename - RENAME with all inferior names; renaming INBOX moves its
 * messages (flags and keywords kept, new UIDs) into the new folder and leaves
 * INBOX empty with its UIDVALIDITY */
int mstore_rename(struct mstore *st, const char *from, const char *to);
/* mstore_subscribe - SUBSCRIBE (on=1) / UNSUBSCRIBE (on=0); the name need not exist */
int mstore_subscribe(struct mstore *st, const char *name, int on);

struct mstore_status {
    uint32_t messages;
    uint32_t recent; /* not yet claimed by any session */
    uint32_t uidnext;
    uint32_t uidvalidity;
    uint32_t unseen;
    uint64_t highestmodseq;
};

/* mstore_status - STATUS data (syncs with new mail, claims no \Recent) */
int mstore_status(struct mstore *st, const char *name, struct mstore_status *out);

/* ---- an open mailbox (a view) ------------------------------------------- */

struct mstore_box;

#define MSTORE_RDONLY 1 /* EXAMINE, POP3 of a read-only store: no flag changes */
#define MSTORE_RECENT 2 /* SELECT: this session takes \Recent for new messages */

/* mstore_box_open - open and sync a mailbox; MSTORE_ENOTFOUND, MSTORE_ENOSELECT */
int mstore_box_open(struct mstore *st, const char *name, int flags, struct mstore_box **out);
/* mstore_box_close - writes back buffered cache entries and sizes, frees the view */
void mstore_box_close(struct mstore_box *b);
const char *mstore_box_name(const struct mstore_box *b);

/* mstore_box_lock_session - take the mailbox's exclusive session lock (POP3
 * maildrop lock, RFC 1939 8); MSTORE_EINUSE when another session holds it.
 * Held until mstore_box_close; dropped by the kernel if the process dies. */
int mstore_box_lock_session(struct mstore_box *b);

/* mstore_box_login_stamp - the time of the previous login recorded for this
 * mailbox (0: none); record: note now as the latest (RFC 2449 LOGIN-DELAY) */
time_t mstore_box_login_stamp(struct mstore_box *b, time_t now, int record);

uint32_t mstore_box_count(const struct mstore_box *b);
uint32_t mstore_box_uidvalidity(const struct mstore_box *b);
uint32_t mstore_box_uidnext(const struct mstore_box *b);
uint64_t mstore_box_highestmodseq(const struct mstore_box *b);
/* mstore_box_recent - messages of the view with \Recent (this session's) */
uint32_t mstore_box_recent(const struct mstore_box *b);
/* mstore_box_first_unseen - sequence number of the first message without \Seen, 0 if none */
uint32_t mstore_box_first_unseen(const struct mstore_box *b);
/* mstore_box_keywords - the mailbox's keyword names; bit i of a message's
 * keywords is names[i] */
const char *const *mstore_box_keywords(const struct mstore_box *b, size_t *n);

/* one message of the view (read-only for callers) */
struct mstore_msg {
    uint32_t uid;
    uint8_t flags;     /* MSTORE_F_* including this session's \Recent */
    uint8_t expunged;  /* vanished, kept in the view until a full sync reports it */
    uint8_t dir;       /* private: 0 new/, 1 cur/ */
    uint8_t dirty;     /* private: size/date to write back */
    uint64_t keywords; /* bit i = keyword i */
    uint64_t modseq;
    int64_t size; /* private: use mstore_msg_size() (-1: not yet known) */
    int64_t date; /* private: use mstore_msg_date() (-1: not yet known) */
    char *fname;  /* private: file name in new/ or cur/ */
};

/* mstore_msg - message seq (1..count) of the view; NULL when out of range */
const struct mstore_msg *mstore_msg(const struct mstore_box *b, uint32_t seq);
/* mstore_seq - sequence number of uid, 0 when not in the view */
uint32_t mstore_seq(const struct mstore_box *b, uint32_t uid);
/* mstore_seq_ge - sequence number of the first message with UID >= uid,
 * count+1 when none (for UID ranges) */
uint32_t mstore_seq_ge(const struct mstore_box *b, uint32_t uid);

/* mstore_msg_size - RFC822.SIZE: octets with CRLF line ends (computed once,
 * then kept in the index); MSTORE_EEXPUNGED when the file is gone */
int mstore_msg_size(struct mstore_box *b, uint32_t seq, uint64_t *size);
/* mstore_msg_size_fd - the same, reading the file through *fd when the size is not yet
 * known: an open descriptor of the message (from mstore_msg_open; read with pread, its
 * offset is left alone) or -1, and then the file is opened into *fd for the caller to
 * use further and close; *fd stays -1 when the size was known */
int mstore_msg_size_fd(struct mstore_box *b, uint32_t seq, int *fd, uint64_t *size);
/* mstore_msg_size_map - the same, counting over the caller's copy of the whole file
 * (len bytes at map, as mime_open_fd reads or maps it) when the size is not yet known: no
 * second read of a file that is parsed anyway */
int mstore_msg_size_map(struct mstore_box *b, uint32_t seq, const void *map, size_t len,
                        uint64_t *size);
/* mstore_msg_date - INTERNALDATE (the file's mtime; APPEND sets it) */
int mstore_msg_date(struct mstore_box *b, uint32_t seq, time_t *date);
/* mstore_msg_date_fd - the same from fd, the message's open file (mstore_msg_open), when
 * not yet known: no lookup by name; by name when fd is -1 */
int mstore_msg_date_fd(struct mstore_box *b, uint32_t seq, int fd, time_t *date);
/* mstore_msg_open - open the message file read-only (content as stored, LF or
 * CRLF line ends); the caller closes fd. MSTORE_EEXPUNGED when gone. */
int mstore_msg_open(struct mstore_box *b, uint32_t seq, int *fd);

#define MSTORE_UIDL_MAX 24
/* mstore_uidl - POP3 unique-id of a message: 16 hex digits, UIDVALIDITY then UID */
void mstore_uidl(const struct mstore_box *b, uint32_t seq, char out[MSTORE_UIDL_MAX]);

/* reading a message with CRLF line ends: the octets that RFC822.SIZE counts */
struct mstore_crlf {
    int fd;
    int last_cr; /* the previous input byte was CR */
    size_t pos, len;
    char buf[32768];
};
/* mstore_crlf_init - read fd from its current offset */
void mstore_crlf_init(struct mstore_crlf *r, int fd);
/* mstore_crlf_read - next chunk of at most n converted bytes (a bare LF
 * becomes CRLF); 0 at the end, -1 on a read error (errno) */
ssize_t mstore_crlf_read(struct mstore_crlf *r, char *out, size_t n);

/* ---- changes ----------------------------------------------------------------- */

/* what changed since the view was last synced, relative to the old view */
struct mstore_changes {
    uint32_t *expunged; /* sequence numbers to send as "n EXPUNGE", in this order */
    size_t nexpunged;
    uint32_t *changed; /* sequence numbers (in the new view) whose flags or keywords
                          another session changed: send FETCH (FLAGS) */
    size_t nchanged;
    uint32_t exists;         /* messages in the new view */
    uint32_t recent;         /* \Recent messages in the new view */
    int new_messages;        /* exists grew: send EXISTS (and RECENT) */
    int keywords_changed;    /* the keyword list grew: send FLAGS and PERMANENTFLAGS */
    int uidvalidity_changed; /* the index was lost and rebuilt: the view starts over
                                with new UIDs; an IMAP session must end (BYE) */
};

void mstore_changes_free(struct mstore_changes *c);

#define MSTORE_SYNC_NO_EXPUNGE                                                      \
    1                       /* keep vanished messages in the view (marked expunged) \
                               during FETCH, STORE, SEARCH (RFC 3501 7.4.1) */
#define MSTORE_SYNC_FORCE 2 /* rescan the directories even if the mtimes look unchanged */

/* mstore_box_sync - bring the view up to date: new mail, flag changes and
 * expunges by other sessions (and by other programs renaming or removing
 * files); cheap when nothing changed (one pread and two stats). Also writes
 * back buffered cache entries and sizes. ch may be NULL. */
int mstore_box_sync(struct mstore_box *b, int flags, struct mstore_changes *ch);

/* mstore_box_watch - a descriptor that becomes readable when the mailbox may have
 * changed (a file arrived, moved or vanished in new/ or cur/, or another session
 * wrote the index): for IDLE, poll it, then mstore_box_watch_drain() and
 * mstore_box_sync(). -1 when not available (then poll sync every few seconds).
 * Owned by the box; closed by mstore_box_close. */
int mstore_box_watch(struct mstore_box *b);
void mstore_box_watch_drain(struct mstore_box *b);

/* ---- changing messages --------------------------------------------------------- */

#define MSTORE_STORE_SET 0    /* FLAGS */
#define MSTORE_STORE_ADD 1    /* +FLAGS */
#define MSTORE_STORE_REMOVE 2 /* -FLAGS */

struct mstore_store_result {
    uint32_t *changed; /* sequence numbers whose flags or keywords changed */
    size_t nchanged;
    uint32_t *modified; /* UNCHANGEDSINCE failed (RFC 7162 [MODIFIED]) */
    size_t nmodified;
    uint32_t *vanished; /* expunged meanwhile: left unchanged */
    size_t nvanished;
};

void mstore_store_result_free(struct mstore_store_result *r);

/* mstore_store - STORE flags (MSTORE_F_SYSTEM bits; \Recent is ignored) and
 * keywords (created on first use; MSTORE_ELIMIT past MSTORE_KEYWORDS_MAX) on
 * messages seqs[0..n) of the view. The operation applies to the current
 * state of each message (another session's change is not undone). Each
 * changed message gets the mailbox's new modseq. unchangedsince: 0 = none,
 * else only messages whose modseq <= it are changed (CONDSTORE). res may be NULL. */
int mstore_store(struct mstore_box *b, const uint32_t *seqs, size_t n, int op, unsigned flags,
                 const char *const *keywords, size_t nkeywords, uint64_t unchangedsince,
                 struct mstore_store_result *res);

/* mstore_expunge - EXPUNGE (uids NULL: every \Deleted message) or UID EXPUNGE
 * (only those of uids[0..n) that have \Deleted, RFC 4315). The flag is checked
 * against the current state. The expunged messages leave the view; their
 * numbers go to ch->expunged in the order to send them (ch may be NULL). */
int mstore_expunge(struct mstore_box *b, const uint32_t *uids, size_t n, struct mstore_changes *ch);

/* mstore_expunge_uids - remove messages uids[0..n) whatever their flags (POP3
 * UPDATE state); same reporting as mstore_expunge */
int mstore_expunge_uids(struct mstore_box *b, const uint32_t *uids, size_t n,
                        struct mstore_changes *ch);

struct mstore_copy_result {
    uint32_t uidvalidity; /* of the destination */
    uint32_t *src_uids;   /* copied, ascending */
    uint32_t *dst_uids;   /* their new UIDs, same order (COPYUID, RFC 4315) */
    size_t n;
};

void mstore_copy_result_free(struct mstore_copy_result *r);

/* mstore_copy - COPY (move=0) or MOVE (move=1, RFC 6851) messages seqs[0..n)
 * to mailbox dest with their flags and keywords (files are hard-linked when
 * possible); MSTORE_ENOTFOUND when dest does not exist ([TRYCREATE]). A
 * message that vanished is skipped. MOVE expunges the sources and reports
 * them in ch like mstore_expunge. res and ch may be NULL. */
int mstore_copy(struct mstore_box *b, const uint32_t *seqs, size_t n, const char *dest, int move,
                struct mstore_copy_result *res, struct mstore_changes *ch);

/* ---- APPEND ---------------------------------------------------------------------- */

struct mstore_append;

/* mstore_append_begin - start a new message in mailbox name (ENOTFOUND: [TRYCREATE]) */
int mstore_append_begin(struct mstore *st, const char *name, struct mstore_append **out);
/* mstore_append_write - add message bytes (CRLF is stored as LF, Maildir style) */
int mstore_append_write(struct mstore_append *a, const void *p, size_t n);
/* mstore_append_commit - make the message durable (fsync) and visible with
 * flags, keywords and internal date (0: now); returns UIDVALIDITY and UID for
 * APPENDUID (RFC 4315). Frees a. */
int mstore_append_commit(struct mstore_append *a, unsigned flags, const char *const *keywords,
                         size_t nkeywords, time_t date, uint32_t *uidvalidity, uint32_t *uid);
/* mstore_append_abort - discard the message; frees a */
void mstore_append_abort(struct mstore_append *a);

/* ---- the cache of parsed data ------------------------------------------------------- */

#define MSTORE_CACHE_ENVELOPE 'E'
#define MSTORE_CACHE_BODYSTRUCTURE 'B' /* with extension data */
#define MSTORE_CACHE_BODY 'b'          /* BODY (no extension data) */
#define MSTORE_CACHE_SEARCH 'S'        /* the search summary of lib/imap/imap_body.h */
#define MSTORE_CACHE_MAX 16            /* fields are bytes 'A'..'Z', 'a'..'z'; 16 in use at most */

/* mstore_cache_get - a cached blob of message seq: 1 found (in out), 0 not cached,
 * MSTORE_EEXPUNGED / MSTORE_ETEMP */
int mstore_cache_get(struct mstore_box *b, uint32_t seq, int field, struct str *out);
/* mstore_cache_put - remember a blob (the content of a message never changes);
 * buffered and written by mstore_box_flush/sync/close */
void mstore_cache_put(struct mstore_box *b, uint32_t seq, int field, const void *p, size_t n);
/* mstore_box_flush - write back buffered cache entries and sizes (call after each
 * command that fetched); also releases the cache's read lock */
int mstore_box_flush(struct mstore_box *b);

#endif
