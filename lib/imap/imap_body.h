/*
 * imap_body.h - IMAP views of a parsed message: ENVELOPE, BODYSTRUCTURE, sections
 *
 * Built on mime.h. ENVELOPE and BODYSTRUCTURE come out in the exact
 * syntax of RFC 3501 7.4.2 and 9 (nstrings as quoted strings or literals,
 * NIL for absent fields, groups as RFC 3501 describes them), ready to be
 * stored in an index and sent as they are. Every size and line count is
 * the CRLF ("virtual") one, so RFC822.SIZE, the BODYSTRUCTURE sizes and
 * the literals of BODY[...] agree byte for byte on a message stored with
 * bare LF line ends.
 *
 * Sections (RFC 3501 6.4.5): part numbers descend into multiparts and
 * into the message of a message/rfc822 part; part 1 of a non-multipart
 * message is its body. HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT and TEXT
 * apply to the whole message or to a message/rfc822 part; MIME needs a
 * part number. imap_section_get locates the bytes (a region of the
 * message, or a built header subset), imap_body_write sends them with an
 * optional <start.length> window.
 */
#ifndef PETREL_IMAP_BODY_H
#define PETREL_IMAP_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "mime.h"
#include "str.h"

#define IMAP_SECTION_MAX_PARTS 64 /* numbers in one section spec */

/* imap_envelope - the ENVELOPE of a message node (m->root or a message/rfc822 child) */
void imap_envelope(const struct mime_message *m, const struct mime_part *msg, struct str *out);
/* imap_bodystructure - BODYSTRUCTURE (extended = 1) or BODY (0) of a part */
void imap_bodystructure(const struct mime_message *m, const struct mime_part *p, int extended,
                        struct str *out);
/* imap_message_size - RFC822.SIZE: the whole message with CRLF line ends */
size_t imap_message_size(const struct mime_message *m);

enum imap_sect_text {
    IMAP_SECT_NONE, /* the whole message, or the part's body */
    IMAP_SECT_HEADER,
    IMAP_SECT_HEADER_FIELDS,
    IMAP_SECT_HEADER_FIELDS_NOT,
    IMAP_SECT_TEXT,
    IMAP_SECT_MIME
};

struct imap_section {
    unsigned parts[IMAP_SECTION_MAX_PARTS];
    unsigned nparts;
    enum imap_sect_text text;
    struct strlist fields; /* HEADER.FIELDS[.NOT] names, as the client gave them */
};

void imap_section_init(struct imap_section *s);
void imap_section_free(struct imap_section *s);
/* imap_section_name - the section spec as it goes in a FETCH response: "1.2.HEADER.FIELDS
 * (FROM TO)" (field names as astrings, upper case as Dovecot and most servers) */
void imap_section_name(const struct imap_section *s, struct str *out);

struct imap_body_data {
    int built; /* 0: the bytes are region off/size of the message */
    size_t off, size;
    size_t vsize;   /* octets in CRLF form */
    struct str buf; /* built: the bytes, already in CRLF form */
};

/* imap_section_get - locate a section; 0, or -1 when the message has no such part (or the
 * part is not a message/rfc822 for HEADER/TEXT) */
int imap_section_get(const struct mime_message *m, const struct imap_section *s,
                     struct imap_body_data *out);
void imap_body_data_free(struct imap_body_data *d);

/* imap_body_write - the value of BODY[...]: a literal of the bytes (CRLF form, NUL as 0x80),
 * restricted to [start, start+length) when partial; "" when nothing is left */
void imap_body_write(const struct mime_message *m, const struct imap_body_data *d, int partial,
                     uint64_t start, uint64_t length,
                     void (*write)(void *ctx, const void *p, size_t n), void *ctx);

/* SEARCH text helpers (RFC 3501 6.4.4): the key is folded once with imap_search_fold; the
 * header fields are RFC 2047-decoded, the bodies transfer-decoded and converted to UTF-8 */
void imap_search_fold(const char *key, size_t n, struct str *folded);
/* imap_search_header - a field named name (NULL: any field) of the message header whose value
 * contains the key; an empty key matches when the field exists */
int imap_search_header(const struct mime_message *m, const char *name, const struct str *key);
/* imap_search_body - the key occurs in the decoded text of a text part (or in the header of an
 * attached message) */
int imap_search_body(const struct mime_message *m, const struct str *key);
/* imap_search_text - header or body */
int imap_search_text(const struct mime_message *m, const struct str *key);

/* The search document of one message: what BODY, TEXT and HEADER keys look in, decoded,
 * converted to UTF-8 and folded once however many keys ask (a SEARCH with thousands of
 * BODY keys decodes each message once), in pieces: each field of the top-level header as
 * "name: value" (TEXT, HEADER), and for BODY the text of each text part and each header
 * field of an attached message. A key matches within one piece, never across two. Made
 * on demand, the header and the body apart; reset between messages, which keeps the
 * buffers. */
struct imap_search_piece {
    size_t start, value, end; /* offsets in the text: the piece, a field's value, the end */
    const char *name;         /* a field's name in the message's data (NULL: a body text) */
    size_t name_len;
};

struct imap_search_pieces {
    struct str text;
    struct imap_search_piece *v;
    size_t n, cap;
    int made;
};

struct imap_search_doc {
    struct imap_search_pieces header, body;
    struct str scratch, scratch2;
    unsigned builds; /* how often a header or a body was decoded, for tests */
};

void imap_search_doc_init(struct imap_search_doc *d);
/* imap_search_doc_reset - forget the message (the next one uses the same buffers) */
void imap_search_doc_reset(struct imap_search_doc *d);
void imap_search_doc_free(struct imap_search_doc *d);
/* imap_search_doc_header, _body, _text - imap_search_header, _body, _text of the message the
 * document is about (m must be the same message until the next reset) */
int imap_search_doc_header(const struct mime_message *m, struct imap_search_doc *d,
                           const char *name, const struct str *key);
int imap_search_doc_body(const struct mime_message *m, struct imap_search_doc *d,
                         const struct str *key);
int imap_search_doc_text(const struct mime_message *m, struct imap_search_doc *d,
                         const struct str *key);
/* imap_search_doc_size - the bytes the document holds now (what a key may scan) */
#define imap_search_doc_size(d) ((d)->header.text.len + (d)->body.text.len)

/* imap_sent_day - the day of the Date: field in its own zone, as days since 1970-01-01
 * (RFC 3501 6.4.4 SENTBEFORE/SENTON/SENTSINCE: "disregarding time and timezone");
 * -1 when the message has no usable Date */
int imap_sent_day(const struct mime_message *m, long *days);

/* The search summary: what SUBJECT, FROM, TO, CC, BCC (and HEADER of those names) and
 * SENTBEFORE/SENTON/SENTSINCE compare, made once from a parsed header and kept in the
 * store's cache (MSTORE_CACHE_SEARCH) so that a search need not open the file. It keeps every
 * field of those names (not only the first, as ENVELOPE does), unfolded, RFC 2047-decoded and
 * folded exactly as imap_search_header compares it, and the day imap_sent_day gives, so both
 * ways answer alike. An opaque byte string: a version byte, then entries. */
#define IMAP_SUMMARY_VERSION '1'
/* imap_search_summary - append the summary of the message's top-level header */
void imap_search_summary(const struct mime_message *m, struct str *out);
/* imap_search_summary_covers - whether the summary answers for header field name */
int imap_search_summary_covers(const char *name);
/* imap_search_summary_header - imap_search_header's answer (1/0) from a summary; -1 when the
 * summary does not cover field name or is not one this code made */
int imap_search_summary_header(const char *p, size_t n, const char *name, const struct str *key);
/* imap_search_summary_day - imap_sent_day's answer from a summary: 0 (days set) or -1 (no
 * usable Date); -2 when the summary is not one this code made */
int imap_search_summary_day(const char *p, size_t n, long *days);

#endif
