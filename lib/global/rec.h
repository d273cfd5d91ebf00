/*
 * rec.h - records: the framing under queue files and maildrop files
 *
 * Both file formats (lib/global/qfile.h, lib/global/maildrop.h) are a sequence of records:
 * one type byte, a 4-byte big-endian payload length, the payload. This module is the one
 * home of that framing: the record types, the largest payload of each type in each segment
 * of each format, the writer of a record, the one reader of records (a file read in place
 * with pread, or a pipe read front to back), and the codecs of the payloads both formats
 * share (arrival time, attribute, recipient). It knows nothing of the order of records in
 * a file: qfile.c and maildrop.c, its only callers besides the admin tools that show or
 * repair files, enforce that.
 *
 * Every reader treats a file as untrusted input (maildrop/ is written by any local user
 * through the set-gid petrel-drop): a record's type is checked against its segment's list
 * and its length against that type's limit before a byte of its payload is read, and a
 * decoder accepts only what the writers here produce.
 */
#ifndef PETREL_REC_H
#define PETREL_REC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "str.h"

/* record types; which segment of which format accepts each is in rec.c */
#define QREC_VERSION 'V'   /* the format's magic, always first */
#define QREC_SIZE 'Z'      /* queue files: "<size 15> <flags 4>", updated in place */
#define QREC_TIME 'T'      /* "<sec>.<usec>" */
#define QREC_SENDER 'S'    /* the envelope sender ("" = the null sender) */
#define QREC_ATTR 'A'      /* "name=value" */
#define QREC_RCPT 'R'      /* a recipient (rec_rcpt_encode) */
#define QREC_RCPT_DONE 'r' /* queue files: a recipient marked done in place */
#define QREC_MESSAGE 'M'   /* end of the envelope (empty) */
#define QREC_DATA 'D'      /* a chunk of content */
#define QREC_END 'X'       /* end of the file (empty) */

#define REC_HDR 5              /* type + length */
#define REC_MAX (1 << 20)      /* largest payload of any record a writer or reader allows */
#define REC_SHORT_MAX 64       /* V, T: short fixed-form records */
#define REC_SIZE_LEN 20        /* Z: "%015llu %04x" */
#define REC_DROP_TEXT_MAX 4096 /* S, A, R of a maildrop file (any local user's input) */

/* NOTIFY bits of a recipient (RFC 3461 4.1) */
#define QNOTIFY_NEVER 1
#define QNOTIFY_SUCCESS 2
#define QNOTIFY_FAILURE 4
#define QNOTIFY_DELAY 8

/* rec_put - append one record to out */
void rec_put(struct str *out, int type, const void *data, size_t len);
/* rec_header - encode a record header */
void rec_header(unsigned char hdr[REC_HDR], int type, uint32_t len);
/* rec_length - the payload length of an encoded header */
uint32_t rec_length(const unsigned char hdr[REC_HDR]);

/* the record types one segment of a file accepts, each with its largest payload */
struct rec_limit {
    int type;
    uint32_t max;
};

#define REC_SEG_TYPES 10
struct rec_seg {
    const char *name;                          /* "envelope", "content": for messages */
    struct rec_limit types[REC_SEG_TYPES + 1]; /* ends with type 0 */
};

extern const struct rec_seg rec_queue_envelope; /* V Z T S A R r M */
extern const struct rec_seg rec_drop_envelope;  /* V T S A R M */
extern const struct rec_seg rec_content;        /* D X (both formats) */

/* rec_seg_max - the largest payload of type in seg; -1 when seg does not accept it */
long rec_seg_max(const struct rec_seg *seg, int type);

/* a reader over a file read in place (pread from an offset on, the descriptor's own offset
 * untouched) or a pipe (read front to back); buffered, one record at a time */
#define REC_READ_BUF 8192
struct rec_reader {
    int fd;
    int in_place;      /* 1: pread from offset; 0: read(2) */
    off_t offset;      /* of the next byte not yet taken: the next record's type byte */
    size_t start, end; /* buf[start..end) holds the input from offset on */
    char buf[REC_READ_BUF];
};

#define REC_OK 1
#define REC_EOF 0         /* the input ended where a record would start */
#define REC_ERR -1        /* truncated, over its type's limit, or a read error */
#define REC_UNEXPECTED -2 /* a type the segment does not accept (its payload is not read) */

void rec_reader_init(struct rec_reader *r, int fd, int in_place, off_t offset);
/* rec_read - the next record of segment seg: *type and payload (replaced, NUL-terminated).
 * REC_OK, REC_EOF, or REC_ERR and REC_UNEXPECTED with err saying why */
int rec_read(struct rec_reader *r, const struct rec_seg *seg, int *type, struct str *payload,
             struct str *err);
/* rec_at_end - whether the input ends here: 1 it does, 0 more follows, -1 read error (err) */
int rec_at_end(struct rec_reader *r, struct str *err);

/* the arrival time record T: "<sec>.<usec>" */
/* rec_time_encode - the payload into out (replacing it) */
void rec_time_encode(struct str *out, long long sec, long usec);
/* rec_time_decode - 0 and the time, or -1: malformed, negative */
int rec_time_decode(const struct str *p, long long *sec, long *usec);

/* the attribute record A: "name=value" */
/* rec_attr_encode - the payload into out (replacing it) */
void rec_attr_encode(struct str *out, const char *name, const char *value);
/* rec_attr_decode - the length of the name (the value starts after it and '='), or -1:
 * no '=', an empty name, or a NUL byte */
long rec_attr_decode(const struct str *p);

/* the attributes of a read envelope, in file order */
struct rec_attr {
    char *name;
    char *value;
};
/* rec_attr_add - append a copy of name (namelen bytes) and value to *attrs (*n of them) */
void rec_attr_add(struct rec_attr **attrs, size_t *n, const char *name, size_t namelen,
                  const char *value);
/* rec_attr_find - the value of the first attribute called name, or NULL */
const char *rec_attr_find(const struct rec_attr *attrs, size_t n, const char *name);
void rec_attrs_free(struct rec_attr *attrs, size_t n);

/* the recipient record R (r: done): address NUL orcpt NUL notify [NUL dsn_orig] */
#define REC_RCPT_DROP 3  /* fields of a maildrop file's recipient */
#define REC_RCPT_QUEUE 4 /* fields of a queue file's recipient: dsn_orig too */
struct rec_rcpt {
    const char *addr;     /* never "" */
    const char *orcpt;    /* RFC 3461 ORCPT "type;address", "" when none */
    int notify;           /* QNOTIFY_ bits, 0 = default */
    const char *dsn_orig; /* the address before rewriting, "" when none (queue files) */
};

/* rec_rcpt_encode - the payload of rc with fields fields into out (replacing it); NULL
 * strings are written as "" */
void rec_rcpt_encode(struct str *out, const struct rec_rcpt *rc, int fields);
/* rec_rcpt_decode - split payload p (NUL-terminated after p->len, as rec_read leaves it)
 * of exactly fields fields; rc's strings point into p. 0 ok, -1 malformed: a field
 * missing or extra, an empty address, notify not decimal digits of QNOTIFY_ bits */
int rec_rcpt_decode(const struct str *p, int fields, struct rec_rcpt *rc);

#endif
