/*
 * pickup.h - the pickup daemon's shared declarations
 *
 * Rooms: pickup.c (the daemon: scans of maildrop/, one file at a time,
 * validation of the envelope, the queue file) and pickup_content.c (the
 * content filter: CRLF line ends, missing Date:, Message-Id:, From:).
 */
#ifndef PETREL_PICKUP_H
#define PETREL_PICKUP_H

#include <stddef.h>

#include "qfile.h"
#include "str.h"

/* the content filter writes the message into a queue file as it arrives */
struct pickup_content {
    struct qfile_writer *w;
    const char *queue_id;
    const char *myhostname;
    const char *from_header; /* the From: value to add when none (sender, full name) */
    size_t header_limit;     /* a header line longer than this ends the header section */
    int in_header;
    int have_header; /* a header field was seen (continuation lines attach to it) */
    int seen_date, seen_msgid, seen_from;
    int last_cr;      /* the last byte written was a CR (a CRLF split between chunks) */
    int last_nl;      /* the last byte written was a LF */
    struct str line;  /* the header line being collected */
    struct str msgid; /* the Message-Id for the log */
};

/* pickup_content_init - a filter writing into w */
void pickup_content_init(struct pickup_content *pc, struct qfile_writer *w, const char *queue_id,
                         const char *myhostname, const char *from_header, size_t header_limit);
/* pickup_content_feed - n more bytes of the message as submitted */
void pickup_content_feed(struct pickup_content *pc, const char *p, size_t n);
/* pickup_content_end - the end of the message: a last line without newline, headers
 * still missing */
void pickup_content_end(struct pickup_content *pc);
void pickup_content_free(struct pickup_content *pc);
/* pickup_date - an RFC 5322 date of t appended to out */
void pickup_date(long long t, struct str *out);

#endif
