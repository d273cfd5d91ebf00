/*
 * qfile.h - queue files: IDs, the record format, writing and reading
 *
 * A queue file is a sequence of records (lib/global/rec.h: one type byte, a
 * 4-byte big-endian payload length, the payload; the limit of each type,
 * the reader and the payload codecs are there). Layout:
 *
 *   envelope:  V "PETREL1"            version (always first)
 *              Z "<size 15> <flags 4>" fixed width, updated in place
 *              T "<sec>.<usec>"       arrival time
 *              S sender               ("" is the null sender <>)
 *              A "name=value"         envelope attributes (client, helo, ...)
 *              R/r recipient          address NUL orcpt NUL notify NUL dsn-orig
 *                                     ('r' = done: the type byte is overwritten)
 *              M ""                   end of envelope, start of content
 *   content:   D bytes                the message as received (CRLF lines,
 *                                     our Received: header first), in chunks
 *   end:       X ""                   the file is complete
 *
 * Each segment accepts only its own record types (rec_queue_envelope,
 * rec_content); anything else, a length over its type's limit, bytes after
 * the end record or a missing end record makes the file corrupt. Queue files come
 * from other processes (maildrop/ is written by any local user), so every
 * reader treats them as untrusted.
 *
 * Commit order (ARCHITECTURE.md 2): write all (mode 0600 = incomplete),
 * end record, fchmod 0700 (complete), fsync, then tell qmgr, then 250.
 * A file that is not mode 0700 or lacks the end record is not taken.
 * Every writer holds an exclusive flock(2) on its file from the moment it
 * creates it (under its temporary name) until it commits or dies, so that
 * an incomplete file nobody holds locked is provably abandoned
 * (qfile_remove_abandoned).
 *
 * Queue IDs are 13 upper-case hex digits of arrival time (seconds and
 * microseconds, so IDs sort by time) followed by the file's inode number
 * in upper-case hex: unique while the file exists anywhere in the queue
 * (renames keep the inode), safe in file names.
 */
#ifndef PETREL_QFILE_H
#define PETREL_QFILE_H

#include <stdint.h>
#include <sys/types.h>

#include "rec.h"
#include "str.h"

#define QFILE_MAGIC "PETREL1"
#define QFILE_HDR REC_HDR /* type + length (rec.h) */
#define QFILE_ID_MAX 40
#define QFILE_RECORD_MAX REC_MAX /* largest record (rec.h) */
#define QFILE_CHUNK 65536        /* content chunk size written */
#define QFILE_RCPT_MAX 1000000   /* recipients qmgr and the agents read from one file */

/* flags in the Z record */
#define QFILE_F_DELAY_WARNED 0x0001 /* a delay DSN was sent */

struct qfile_writer;

/* qfile_create - a new incomplete file (mode 0600) in dir, named by its queue ID */
struct qfile_writer *qfile_create(const char *dir, struct str *err);
/* qfile_create_as - a rewrite of queue file ID: a new incomplete file dir/.rw.ID (readers
 * skip names starting with '.'); after qfile_commit the caller renames
 * qfile_writer_path() over dir/ID, which keeps the queue ID */
struct qfile_writer *qfile_create_as(const char *dir, const char *id, struct str *err);
const char *qfile_writer_id(const struct qfile_writer *w);
/* qfile_writer_path - dir/ID (dir/.rw.ID for qfile_create_as) */
const char *qfile_writer_path(const struct qfile_writer *w);
int qfile_put(struct qfile_writer *w, int type, const void *data, size_t len);
int qfile_put_time(struct qfile_writer *w, long long sec, long usec);
int qfile_put_sender(struct qfile_writer *w, const char *sender);
int qfile_put_attr(struct qfile_writer *w, const char *name, const char *value);
/* qfile_put_rcpt - a recipient; orcpt ("rfc822;x@y") and dsn_orig may be NULL; notify: QNOTIFY_
 * bits */
int qfile_put_rcpt(struct qfile_writer *w, const char *addr, const char *orcpt, int notify,
                   const char *dsn_orig);
/* qfile_begin_content - end the envelope */
int qfile_begin_content(struct qfile_writer *w);
/* qfile_write - append message content (buffered into D records) */
int qfile_write(struct qfile_writer *w, const void *data, size_t len);
uint64_t qfile_content_size(const struct qfile_writer *w);
/* qfile_commit - end record, size record, fchmod 0700, fsync; the file is then durable */
int qfile_commit(struct qfile_writer *w, struct str *err);
/* qfile_remove_abandoned - remove dir entry name (relative to dfd) when it is an incomplete
 * file (a regular file of mode 0600, never committed) whose writer is gone: nobody holds
 * its lock, and it is older than QFILE_ABANDONED_AGE seconds (covering the instant between
 * a writer's create and its flock). 1 removed, 0 kept, -1 with errno on failure */
#define QFILE_ABANDONED_AGE 60
int qfile_remove_abandoned(int dfd, const char *name);
/* qfile_abort - remove the incomplete file */
void qfile_abort(struct qfile_writer *w);
/* qfile_writer_free - release a committed (or aborted) writer */
void qfile_writer_free(struct qfile_writer *w);
/* qfile_error - the writer's sticky error text ("" when none) */
const char *qfile_error(const struct qfile_writer *w);

struct qfile_rcpt {
    char *addr;
    char *orcpt;    /* "" when none */
    char *dsn_orig; /* original address before rewriting ("" when none) */
    int notify;     /* QNOTIFY_ bits, 0 = default */
    off_t offset;   /* of the record's type byte, for qfile_mark_done */
    int done;
};

struct qfile_env {
    char id[QFILE_ID_MAX];
    long long arrival_sec;
    long arrival_usec;
    char *sender;
    struct rec_attr *attrs;
    size_t nattrs;
    struct qfile_rcpt *rcpts;
    size_t nrcpts;
    uint64_t content_size;
    int flags;            /* QFILE_F_ */
    off_t size_offset;    /* of the Z record's type byte */
    off_t content_offset; /* of the first record after M */
};

/* qfile_read_envelope - parse the envelope of an open file (from offset 0, with pread).
 * 0 ok; -1 corrupt (err says why). Limits: max_rcpts recipients, each record type's
 * (rec_queue_envelope). */
int qfile_read_envelope(int fd, struct qfile_env *env, size_t max_rcpts, struct str *err);
void qfile_env_free(struct qfile_env *env);
/* qfile_env_attr - an envelope attribute's value, or NULL */
const char *qfile_env_attr(const struct qfile_env *env, const char *name);

/* content reading: call qfile_content_next from env->content_offset on */
struct qfile_content {
    struct rec_reader rd;
    int done;
    uint64_t total;
};

void qfile_content_init(struct qfile_content *c, int fd, const struct qfile_env *env);
/* qfile_content_next - the next chunk into out (replacing it): 1 chunk, 0 at the end
 * record (nothing may follow it), -1 corrupt or truncated (err set) */
int qfile_content_next(struct qfile_content *c, struct str *out, struct str *err);

/* qfile_copy_content - append the whole content of the open queue file fd (whose envelope
 * is env) to w; -1 with err when the source is corrupt or the writer failed */
int qfile_copy_content(struct qfile_writer *w, int fd, const struct qfile_env *env,
                       struct str *err);

/* qfile_mark_done - mark the recipient record at offset done (one-byte pwrite) */
int qfile_mark_done(int fd, off_t offset);
/* qfile_set_flags - update the Z record's flags in place */
int qfile_set_flags(int fd, const struct qfile_env *env, int flags);
/* qfile_is_complete - mode 0700 and an end record at the end of the file */
int qfile_is_complete(int fd);
/* qfile_valid_id - whether name has the form of a queue ID */
int qfile_valid_id(const char *name);

#endif
