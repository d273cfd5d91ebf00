/*
 * maildrop.h - the format of locally submitted mail in maildrop/
 *
 * sendmail writes a message as a stream of records (the queue file's
 * record form, lib/global/rec.h: one type byte, a 4-byte big-endian length,
 * the payload; each type's limit in rec_drop_envelope and rec_content)
 * into the set-gid helper petrel-drop, which checks the
 * structure and limits, stores it in maildrop/ under a temporary name and
 * renames it to its final name once complete and fsync'ed. pickup turns it
 * into a queue file in incoming/. Layout:
 *
 *   V "PETRELDROP1"        version (always first)
 *   T "<sec>.<usec>"       submission time (informational)
 *   S sender               RFC 5321 mailbox as given, without <> ("" = the null
 *                          sender); unqualified allowed (pickup adds @$myorigin)
 *   A "name=value"         attributes: fullname, envid, ret (MAILDROP_ATTRS)
 *   R recipient            address NUL orcpt NUL notify (QNOTIFY_ bits, decimal)
 *   M ""                   end of envelope
 *   D bytes                the message as submitted (LF or CRLF lines), in chunks
 *   X ""                   end of file: nothing may follow
 *
 * Everything in a maildrop file comes from an unprivileged user: the
 * reader enforces the record order, a whitelist of types and attribute
 * names, printable envelope values, and the limits it is given; addresses
 * are checked for syntax by pickup (they stay external text here).
 */
#ifndef PETREL_MAILDROP_H
#define PETREL_MAILDROP_H

#include <stddef.h>
#include <stdint.h>

#include "qfile.h"
#include "rec.h"
#include "str.h"

#define MAILDROP_MAGIC "PETRELDROP1"
#define MAILDROP_ATTRS "fullname", "envid", "ret"
#define MAILDROP_ENV_RECORD_MAX REC_DROP_TEXT_MAX /* an envelope text record (rec.h) */
#define MAILDROP_ATTR_MAX 16                      /* attribute records */

/* maildrop_put - append one record to out (rec_put) */
void maildrop_put(struct str *out, int type, const void *data, size_t len);
/* maildrop_put_rcpt - an R record */
void maildrop_put_rcpt(struct str *out, const char *addr, const char *orcpt, int notify);

struct maildrop_rcpt {
    char *addr;
    char *orcpt; /* "" when none */
    int notify;  /* QNOTIFY_ bits, 0 = default */
};

struct maildrop_env {
    long long sec; /* submission time from the T record (0 when absent) */
    long usec;
    char *sender;
    struct rec_attr *attrs;
    size_t nattrs;
    struct maildrop_rcpt *rcpts;
    size_t nrcpts;
};

struct maildrop_limits {
    uint64_t content_max; /* bytes of content (message_size_limit) */
    size_t rcpt_max;      /* recipients */
};

/* a sequential reader over a file or a pipe */
struct maildrop_reader {
    struct rec_reader rd; /* read(2) front to back */
    uint64_t content;     /* content bytes returned so far */
    int state;            /* 0 envelope, 1 content, 2 done */
    struct maildrop_limits lim;
};

void maildrop_reader_init(struct maildrop_reader *r, int fd, const struct maildrop_limits *lim);
/* maildrop_read_envelope - everything up to the M record: 0 ok, -1 malformed, truncated
 * or over a limit (err says why; read errors too) */
int maildrop_read_envelope(struct maildrop_reader *r, struct maildrop_env *env, struct str *err);
/* maildrop_read_content - the next content chunk into out (replacing it): 1 a chunk, 0 the
 * end record was read and nothing follows it, -1 malformed or truncated (err set) */
int maildrop_read_content(struct maildrop_reader *r, struct str *out, struct str *err);
void maildrop_env_free(struct maildrop_env *env);
/* maildrop_env_attr - an attribute's value or NULL */
const char *maildrop_env_attr(const struct maildrop_env *env, const char *name);
/* maildrop_printable - text fit for an envelope value: no control bytes, valid UTF-8 */
int maildrop_printable(const char *s, size_t n);

#endif
