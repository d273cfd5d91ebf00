/*
 * mime.h - the RFC 5322 / MIME message parser of the whole system
 *
 * mime_parse() turns a message held in memory (a buffer or an mmap'ed
 * file; mime_open_file does the mapping) into a tree of parts. It never
 * fails and never copies the message: whatever the input (missing or wrong
 * boundaries, bad encodings, 8-bit headers, NULs, bare LF or CRLF line
 * ends, no header at all), the result is a well-formed tree whose regions
 * lie inside the buffer, and the same input always gives the same tree.
 *
 * The tree follows the numbering of IMAP (RFC 3501 6.4.5):
 *   - a message node (the root, or the encapsulated message of a
 *     message/rfc822 part) has an RFC 5322 header and a body;
 *   - a multipart node's children are its body parts (RFC 2046 5.1; the
 *     line end before a boundary line belongs to the boundary; preamble
 *     and epilogue belong to no part);
 *   - a message/rfc822 node has exactly one child, the encapsulated
 *     message (which spans the node's whole body);
 *   - nesting deeper than the depth limit, and parts beyond the part
 *     limit, are not split further (their bytes stay inside the enclosing
 *     part), so a hostile message costs bounded time and memory.
 *
 * Every region (header, body) has its offset and size in the buffer, its
 * size with every bare LF counted as CRLF ("virtual" size: what IMAP
 * reports, RFC 3501 2.3.4), and its number of lines. mime_write_crlf()
 * produces those virtual bytes.
 *
 * Header values here are raw: unfolded (RFC 5322 2.2.3) but not decoded.
 * mime_decode_header() applies RFC 2047; parameters are merged per RFC
 * 2231 (continuations joined; an extended value stays in its
 * charset'language'%XX form under the name "name*", as IMAP clients expect
 * in BODYSTRUCTURE) and mime_param_decoded() gives the UTF-8 value.
 */
#ifndef PETREL_MIME_H
#define PETREL_MIME_H

#include <stddef.h>
#include <time.h>

#include "str.h"

#define MIME_DEFAULT_DEPTH 50   /* nesting of multiparts and messages */
#define MIME_DEFAULT_PARTS 5000 /* parts per message */
#define MIME_MAX_PARAMS 64      /* parameters kept per Content-Type/-Disposition */

struct mime_limits {
    unsigned max_depth; /* 0: MIME_DEFAULT_DEPTH */
    unsigned max_parts; /* 0: MIME_DEFAULT_PARTS */
};

enum mime_enc {
    MIME_ENC_7BIT,
    MIME_ENC_8BIT,
    MIME_ENC_BINARY,
    MIME_ENC_QP,
    MIME_ENC_BASE64,
    MIME_ENC_OTHER /* unknown or x-token: the body is not decoded */
};

struct mime_region {
    size_t off;   /* offset in the message */
    size_t size;  /* bytes in the message */
    size_t vsize; /* bytes with every bare LF counted as CRLF */
    size_t lines; /* LFs, plus one for a last line without LF */
};

struct mime_param {
    const char *name;  /* as written, RFC 2231 section suffix removed ("title*" when extended) */
    const char *value; /* unquoted; sections joined */
};

#define MIME_PART_MULTIPART 0x01    /* children are body parts */
#define MIME_PART_RFC822 0x02       /* message/rfc822: the one child is the message */
#define MIME_PART_MESSAGE 0x04      /* this node is a message (root or encapsulated) */
#define MIME_PART_NOBLANK 0x08      /* the header ended without a blank line */
#define MIME_PART_DEFAULT_TYPE 0x10 /* no (usable) Content-Type: type is the default */
#define MIME_PART_BAD_BOUNDARY 0x20 /* multipart without a usable boundary */
#define MIME_PART_NO_END 0x40       /* multipart whose close delimiter never came */

struct mime_part {
    struct mime_part *parent, *next, *children;
    struct mime_part *last_child; /* (for building the tree) */
    unsigned nchildren;
    unsigned depth; /* root: 0 */
    unsigned flags;
    struct mime_region hdr;     /* header, blank line included */
    struct mime_region body;    /* for a multipart: preamble .. epilogue */
    const char *type, *subtype; /* never NULL */
    struct mime_param *params;
    unsigned nparams;
    const char *id, *description, *encoding, *md5, *language, *location; /* NULL: absent */
    const char *disposition;                                             /* NULL: absent */
    struct mime_param *dparams;
    unsigned ndparams;
    enum mime_enc enc;
};

#define MIME_MSG_LIMITED 0x01 /* depth or part limit reached */

struct mime_message {
    const char *data;
    size_t size;
    struct mime_part *root;
    unsigned nparts;
    unsigned flags;
    struct mime_pool *pool;
    void *map; /* the file's bytes: read (map_heap) or mmap'ed by mime_open_fd/_file */
    size_t map_size;
    int map_heap;
};

/* mime_parse - parse size bytes at data (not copied: data must outlive the result);
 * lim may be NULL for the defaults. Never fails. */
struct mime_message *mime_parse(const void *data, size_t size, const struct mime_limits *lim);
/* files of up to this size are read into memory by mime_open_*, bigger ones mapped */
#define MIME_READ_MAX (128u << 10)

/* mime_open_file - read or map a message file and parse it; NULL with err on I/O errors */
struct mime_message *mime_open_file(const char *path, const struct mime_limits *lim,
                                    struct str *err);
/* mime_open_fd - the same for an open descriptor (not closed) */
struct mime_message *mime_open_fd(int fd, const struct mime_limits *lim, struct str *err);
/* mime_open_fd_header - parse only the top-level header (up to and including its
 * blank line): the root's body is empty and m->size is the header's size; the body is
 * never parsed, and the pages of a mapped one are never touched (m->map still holds the
 * whole file). For callers that look at header fields only. */
struct mime_message *mime_open_fd_header(int fd, const struct mime_limits *lim, struct str *err);
void mime_free(struct mime_message *m);

/* mime_is_text - text/... (case-insensitive) */
int mime_is_type(const struct mime_part *p, const char *type, const char *subtype);

/* header fields --------------------------------------------------------- */
struct mime_field {
    const char *name;
    size_t name_len;
    const char *value; /* raw: after the colon, through the last continuation line */
    size_t value_len;  /* line end of the last line excluded */
    size_t off, size;  /* the whole field, final line end included */
};

/* mime_field_next - iterate over the fields of a header region: *pos starts at
 * 0; returns 1 with f filled, 0 at the end. Lines that are not fields are skipped. */
int mime_field_next(const char *data, const struct mime_region *hdr, size_t *pos,
                    struct mime_field *f);
/* mime_header_get - the unfolded, trimmed value of the first field named name
 * in p's header; 1 when found */
int mime_header_get(const struct mime_message *m, const struct mime_part *p, const char *name,
                    struct str *out);
/* mime_unfold - unfold a raw value (RFC 5322 2.2.3), trim white space, drop NULs */
void mime_unfold(const char *v, size_t n, struct str *out);

/* decoding --------------------------------------------------------------- */
/* mime_decode_qp - quoted-printable (RFC 2045 6.7), lenient: a bad escape is kept as is */
void mime_decode_qp(const char *in, size_t n, struct str *out);
/* mime_part_decode - p's body with its transfer encoding removed */
void mime_part_decode(const struct mime_message *m, const struct mime_part *p, struct str *out);
/* mime_part_text - p's body decoded and converted to UTF-8 from its charset */
void mime_part_text(const struct mime_message *m, const struct mime_part *p, struct str *out);
/* mime_decode_header - RFC 2047 encoded words of a raw or unfolded value to UTF-8;
 * the rest of the text is read as UTF-8 (repaired when it is not) */
void mime_decode_header(const char *v, size_t n, struct str *out);

/* parameters (RFC 2045 5.1, RFC 2231) ----------------------------------- */
/* mime_param_get - the value of the parameter named name (case-insensitive), or NULL */
const char *mime_param_get(const struct mime_param *v, unsigned n, const char *name);
/* mime_param_decoded - the UTF-8 value of a parameter: RFC 2231 "name*" preferred,
 * RFC 2047 words in a plain value decoded too; 1 when present */
int mime_param_decoded(const struct mime_param *v, unsigned n, const char *name, struct str *out);
/* mime_content_type - parse a Content-Type value into type, subtype and parameters;
 * -1 when it is unusable. A fresh pool holds the strings (mime_pool_free). */
struct mime_pool *mime_pool_new(void);
void mime_pool_free(struct mime_pool *pool);
int mime_content_type(struct mime_pool *pool, const char *v, size_t n, const char **type,
                      const char **subtype, struct mime_param **params, unsigned *nparams);

/* addresses (RFC 5322 3.4 with the obsolete forms of 4.4) ----------------- */
struct mime_addr {
    char *name;    /* display name, raw (encoded words kept); NULL when none */
    char *route;   /* obsolete source route "@a,@b"; NULL when none */
    char *mailbox; /* local part, unquoted; group name for a group start; NULL at group end */
    char *host;    /* domain; NULL for group start and end */
};

struct mime_addrlist {
    struct mime_addr *v;
    size_t n, cap;
};

/* mime_parse_addresses - parse an address list; missing parts become
 * "MISSING_MAILBOX" / "MISSING_DOMAIN" so that host NIL only ever marks a group */
void mime_parse_addresses(const char *v, size_t n, struct mime_addrlist *out);
void mime_addrlist_free(struct mime_addrlist *l);

/* dates ------------------------------------------------------------------ */
/* mime_parse_date - RFC 5322 3.3 date-time (lenient, obsolete forms and zone names);
 * the UTC time and the zone offset in minutes; -1 when unusable */
int mime_parse_date(const char *s, size_t n, time_t *t, int *tz_minutes);

/* virtual (CRLF) form ---------------------------------------------------- */
/* mime_vsize - size of n bytes once every bare LF is CRLF */
size_t mime_vsize(const char *p, size_t n);
/* mime_write_crlf - append the virtual form of n bytes: bare LF -> CRLF and NUL ->
 * 0x80 (IMAP cannot carry NUL), starting skip bytes into that form and stopping
 * after at most max bytes of it */
void mime_write_crlf(const char *p, size_t n, size_t skip, size_t max,
                     void (*write)(void *ctx, const void *p, size_t n), void *ctx);

/* downgrade for a next hop (mime_conv.c) -------------------------------- */
#define MIME_CONV_7BIT 0 /* mode: a server without 8BITMIME (RFC 6152 3) */
#define MIME_CONV_8BIT 1 /* mode: a server with 8BITMIME, without BINARYMIME (RFC 3030 3) */
#define MIME_CONV_NONE 0 /* result: nothing needs a change (out untouched) */
#define MIME_CONV_DONE 1 /* result: the converted message was appended to out */
/* mime_downgrade - the message at data with every body part the next hop cannot take
 * re-encoded (7-bit mode: 8-bit text as quoted-printable, other 8-bit or binary content as
 * base64; 8-bit mode: binary content as base64), Content-Transfer-Encoding fields
 * rewritten, multiparts and message/rfc822 parts followed. MIME_CONV_NONE,
 * MIME_CONV_DONE, or -1 with why when it cannot be done (an 8-bit header in 7-bit mode,
 * 8-bit bytes in an encoded part, the parser's limits) */
int mime_downgrade(const char *data, size_t size, int mode, struct str *out, struct str *why);

#endif
