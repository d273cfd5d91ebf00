/*
 * imap_parse.h - IMAP command input: reading whole commands, then their grammar
 *
 * Reading (imap_read_command) and parsing are separate steps. The reader
 * takes one complete command off the stream: its text lines plus the data
 * of every literal (RFC 3501 4.3, 7.5: "+" continuation before each
 * synchronizing literal {n}; RFC 7888 {n+} literals arrive without one),
 * enforcing the limits: command text over text_max or a literal over its
 * maximum is rejected with BAD (the input is consumed so the next command
 * starts clean, and a synchronizing literal is never invited); input more
 * than IMAP_FAR_FACTOR times over a limit is not read at all: the caller
 * says BYE and closes. Large literals (APPEND) spool to an unlinked file
 * instead of memory.
 *
 * The parser (struct imap_parser) is a cursor over a read command with one
 * function per grammar rule of RFC 3501 section 9, each returning 0 or -1
 * with the first error's reason kept for the BAD response. Higher rules
 * build what the command handlers need: sequence sets, flag lists, dates,
 * SEARCH keys (a tree), FETCH attributes and STORE arguments.
 */
#ifndef PETREL_IMAP_PARSE_H
#define PETREL_IMAP_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "imap_body.h"
#include "str.h"

struct stream;

#define IMAP_FAR_FACTOR 4 /* input this many times over a limit ends the session */

struct imap_limits {
    size_t text_max;       /* command text, literals excluded */
    size_t literal_max;    /* all literals of one command, APPEND's message excluded */
    size_t append_max;     /* the message literal of APPEND */
    size_t spool_min;      /* literals at least this big go to a spool file */
    const char *spool_dir; /* where (NULL: $TMPDIR or /tmp) */
    unsigned depth_max;    /* nesting of parenthesised lists and SEARCH keys */
};

struct imap_literal {
    size_t at; /* offset in text just after the "{n}\r\n" that announced it */
    size_t size;
    struct str data; /* the bytes, unless spooled */
    int fd;          /* >= 0: spooled to this unlinked file (positioned at 0) */
};

struct imap_cmd {
    struct str text; /* the command's lines, CRLF included, literal data excluded */
    struct imap_literal *lits;
    size_t nlits, cap;
    size_t literal_bytes; /* total size of the literals */
};

/* results of imap_read_command */
#define IMAP_READ_OK 0
#define IMAP_READ_BAD 1      /* rejected, input consumed: answer "tag BAD reason" */
#define IMAP_READ_TOOBIG 2   /* APPEND literal over append_max: "tag NO [TOOBIG] reason" */
#define IMAP_READ_FATAL (-1) /* far over a limit: BYE and close */
#define IMAP_READ_EOF (-2)
#define IMAP_READ_TIMEOUT (-3)
#define IMAP_READ_ERR (-4)

void imap_cmd_init(struct imap_cmd *c);
void imap_cmd_free(struct imap_cmd *c);
/* imap_read_command - read one command; reason says why for BAD/TOOBIG/FATAL */
int imap_read_command(struct stream *s, const struct imap_limits *lim, struct imap_cmd *c,
                      struct str *reason);
/* imap_cmd_tag - the tag at the start of a (possibly rejected) command, or "*" when it has
 * none that could be echoed */
void imap_cmd_tag(const struct imap_cmd *c, struct str *tag);

/* the cursor --------------------------------------------------------------- */

#define IMAP_PERR_SYNTAX 1     /* BAD */
#define IMAP_PERR_BADCHARSET 2 /* NO [BADCHARSET (UTF-8 US-ASCII)] */

struct imap_parser {
    const struct imap_cmd *cmd;
    size_t pos;
    size_t lit; /* index of the next literal */
    unsigned depth, depth_max;
    int error; /* IMAP_PERR_*, 0 while none */
    struct str reason;
};

void imap_parser_init(struct imap_parser *p, const struct imap_cmd *cmd, unsigned depth_max);
void imap_parser_free(struct imap_parser *p);
/* imap_perror - record an error (the first one wins); returns -1 */
int imap_perror(struct imap_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* imap_peek - the next byte, or -1 at the end of the command (before its CRLF) */
int imap_peek(const struct imap_parser *p);
/* imap_at_end - the whole command has been consumed (only the final CRLF left) */
int imap_at_end(const struct imap_parser *p);
/* imap_p_end - require the end of the command */
int imap_p_end(struct imap_parser *p);
/* imap_p_sp - exactly one space */
int imap_p_sp(struct imap_parser *p);
/* imap_p_char - the byte c */
int imap_p_char(struct imap_parser *p, int c);
/* imap_p_tag - tag = 1*<any ASTRING-CHAR except "+"> */
int imap_p_tag(struct imap_parser *p, struct str *out);
/* imap_p_atom - 1*ATOM-CHAR */
int imap_p_atom(struct imap_parser *p, struct str *out);
/* imap_p_string - quoted string or literal */
int imap_p_string(struct imap_parser *p, struct str *out);
/* imap_p_astring - 1*ASTRING-CHAR / string */
int imap_p_astring(struct imap_parser *p, struct str *out);
/* imap_p_nstring - string or NIL (*is_nil set) */
int imap_p_nstring(struct imap_parser *p, struct str *out, int *is_nil);
/* imap_p_number - number (RFC 3501: 32 bits); imap_p_nz_number - and not 0 */
int imap_p_number(struct imap_parser *p, uint32_t *out);
int imap_p_nz_number(struct imap_parser *p, uint32_t *out);
/* imap_p_number64 - number up to 2^63-1 (RFC 9051 number64) */
int imap_p_number64(struct imap_parser *p, uint64_t *out);
/* imap_p_literal_ref - a literal (not a quoted string) at the cursor: its entry, for a
 * caller that takes spooled data (APPEND) */
int imap_p_literal_ref(struct imap_parser *p, const struct imap_literal **lit);
/* imap_p_mailbox - mailbox (astring) in its wire form, which is also the store's: valid
 * modified UTF-7 (checked, not decoded); "INBOX" in any case is INBOX */
int imap_p_mailbox(struct imap_parser *p, struct str *out);
/* imap_p_list_mailbox - list-mailbox (atom with % * ] or string), checked the same way */
int imap_p_list_mailbox(struct imap_parser *p, struct str *out);

/* modified UTF-7 (RFC 3501 5.1.3) ------------------------------------------ */
/* imap_utf7_decode - mailbox name as sent to UTF-8; -1 when it is not valid modified UTF-7 */
int imap_utf7_decode(const char *in, size_t n, struct str *out);
/* imap_utf7_encode - UTF-8 mailbox name to modified UTF-7; -1 when the input is not UTF-8 */
int imap_utf7_encode(const char *in, size_t n, struct str *out);

/* sequence sets (RFC 3501 9 sequence-set) ------------------------------------ */
#define IMAP_STAR UINT32_MAX /* "*": the largest number in use */

#define IMAP_RANGE_STAR_LO 0x1 /* before resolving: lo was "*" */
#define IMAP_RANGE_STAR_HI 0x2 /* before resolving: hi was "*" */

struct imap_range {
    uint32_t lo, hi; /* lo <= hi once resolved */
    unsigned star;   /* IMAP_RANGE_STAR_*: which ends were "*" (0 once resolved) */
};

struct imap_seqset {
    struct imap_range *v;
    size_t n, cap;
};

void imap_seqset_init(struct imap_seqset *s);
void imap_seqset_free(struct imap_seqset *s);
/* imap_p_seqset - sequence-set, "*" kept as IMAP_STAR with its IMAP_RANGE_STAR_* bit (the
 * number 4294967295 is a number like any other, RFC 3501 9 nz-number) */
int imap_p_seqset(struct imap_parser *p, struct imap_seqset *out);
/* imap_seqset_max_number - the largest number of the ranges of an unresolved set that have no
 * "*" (0 when none): a message number past the end is an error, but a range to or from "*"
 * ends at the last message whatever its other end (RFC 3501 9 seq-range) */
uint32_t imap_seqset_max_number(const struct imap_seqset *s);
/* imap_seqset_resolve - replace "*" by max, order each range, sort and merge: the result
 * is ascending, disjoint and non-adjacent, at most as many ranges as given, whatever the
 * overlaps (O(n log n) in ranges, independent of the numbers they span) */
void imap_seqset_resolve(struct imap_seqset *s, uint32_t max);
/* imap_seqset_contains - after resolving */
int imap_seqset_contains(const struct imap_seqset *s, uint32_t n);
/* imap_seqset_format - "1:3,7" */
void imap_seqset_format(const struct imap_seqset *s, struct str *out);

/* flags ------------------------------------------------------------------- */
#define IMAP_FLAG_ANSWERED 0x01
#define IMAP_FLAG_FLAGGED 0x02
#define IMAP_FLAG_DELETED 0x04
#define IMAP_FLAG_SEEN 0x08
#define IMAP_FLAG_DRAFT 0x10
#define IMAP_FLAG_RECENT 0x20 /* never stored by a client */

struct imap_flags {
    unsigned sys;            /* IMAP_FLAG_* */
    struct strlist keywords; /* as given, duplicates removed (case-insensitively) */
};

void imap_flags_init(struct imap_flags *f);
void imap_flags_free(struct imap_flags *f);
/* imap_p_flag_list - "(" [flag *(SP flag)] ")"; \Recent is refused (RFC 3501 2.3.2) */
int imap_p_flag_list(struct imap_parser *p, struct imap_flags *out);
/* imap_flags_format - "\Seen \Deleted kw" (no parentheses) */
void imap_flags_format(unsigned sys, const struct strlist *keywords, struct str *out);

/* dates ------------------------------------------------------------------- */
/* imap_p_date - date (RFC 3501 9): d-Mon-yyyy, optionally quoted; days since 1970-01-01 */
int imap_p_date(struct imap_parser *p, long *days);
/* imap_p_date_time - date-time "dd-Mon-yyyy hh:mm:ss +zzzz" (APPEND) */
int imap_p_date_time(struct imap_parser *p, time_t *t, int *tz_minutes);
/* imap_format_date_time - the INTERNALDATE form of t in the zone tz_minutes east of UTC */
void imap_format_date_time(time_t t, int tz_minutes, struct str *out);

/* STORE -------------------------------------------------------------------- */
#define IMAP_STORE_REPLACE 0
#define IMAP_STORE_ADD 1
#define IMAP_STORE_REMOVE 2

struct imap_store {
    int mode; /* IMAP_STORE_* */
    int silent;
    struct imap_flags flags;
};

/* imap_p_store - store-att-flags: ["+"/"-"] "FLAGS" [".SILENT"] SP (flag-list / flag *(SP flag)) */
int imap_p_store(struct imap_parser *p, struct imap_store *out);
void imap_store_free(struct imap_store *s);

/* FETCH -------------------------------------------------------------------- */
#define IMAP_FETCH_FLAGS 0x001
#define IMAP_FETCH_INTERNALDATE 0x002
#define IMAP_FETCH_RFC822_SIZE 0x004
#define IMAP_FETCH_ENVELOPE 0x008
#define IMAP_FETCH_BODY 0x010 /* BODY without section: the non-extensible BODYSTRUCTURE */
#define IMAP_FETCH_BODYSTRUCTURE 0x020
#define IMAP_FETCH_UID 0x040
#define IMAP_FETCH_RFC822 0x080        /* = BODY[] and sets \Seen */
#define IMAP_FETCH_RFC822_HEADER 0x100 /* = BODY.PEEK[HEADER] */
#define IMAP_FETCH_RFC822_TEXT 0x200   /* = BODY[TEXT] and sets \Seen */

#define IMAP_FETCH_MAX_BODIES 64

struct imap_fetch_body {
    struct imap_section section;
    int peek;
    int partial;
    uint32_t start, length;
};

struct imap_fetch {
    unsigned items; /* IMAP_FETCH_* */
    struct imap_fetch_body *bodies;
    size_t nbodies;
};

void imap_fetch_init(struct imap_fetch *f);
void imap_fetch_free(struct imap_fetch *f);
/* imap_p_fetch_atts - "ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")" */
int imap_p_fetch_atts(struct imap_parser *p, struct imap_fetch *out);
/* imap_p_section - section: "[" [section-spec] "]" */
int imap_p_section(struct imap_parser *p, struct imap_section *out);
/* imap_fetch_sets_seen - whether the request marks messages \Seen (a non-PEEK body) */
int imap_fetch_sets_seen(const struct imap_fetch *f);

/* SEARCH ------------------------------------------------------------------- */
enum imap_skey_type {
    IMAP_SK_AND, /* a parenthesised list, and the top level */
    IMAP_SK_ALL,
    IMAP_SK_ANSWERED,
    IMAP_SK_BCC,
    IMAP_SK_BEFORE,
    IMAP_SK_BODY,
    IMAP_SK_CC,
    IMAP_SK_DELETED,
    IMAP_SK_DRAFT,
    IMAP_SK_FLAGGED,
    IMAP_SK_FROM,
    IMAP_SK_HEADER,
    IMAP_SK_KEYWORD,
    IMAP_SK_LARGER,
    IMAP_SK_NEW,
    IMAP_SK_NOT,
    IMAP_SK_OLD,
    IMAP_SK_ON,
    IMAP_SK_OR,
    IMAP_SK_RECENT,
    IMAP_SK_SEEN,
    IMAP_SK_SENTBEFORE,
    IMAP_SK_SENTON,
    IMAP_SK_SENTSINCE,
    IMAP_SK_SINCE,
    IMAP_SK_SMALLER,
    IMAP_SK_SUBJECT,
    IMAP_SK_TEXT,
    IMAP_SK_TO,
    IMAP_SK_UID,
    IMAP_SK_UNANSWERED,
    IMAP_SK_UNDELETED,
    IMAP_SK_UNDRAFT,
    IMAP_SK_UNFLAGGED,
    IMAP_SK_UNKEYWORD,
    IMAP_SK_UNSEEN,
    IMAP_SK_SEQSET /* a sequence set of message numbers */
};

struct imap_skey {
    enum imap_skey_type type;
    struct imap_skey **kids; /* AND: the list; NOT: one; OR: two */
    size_t nkids;
    char *field;            /* HEADER: the field name */
    struct str value;       /* string keys: as given (UTF-8) */
    struct str folded;      /* string keys: case-folded for matching */
    long days;              /* date keys: days since 1970-01-01 */
    uint64_t number;        /* LARGER, SMALLER */
    struct imap_seqset set; /* UID, SEQSET */
};

/* imap_p_search - [CHARSET SP astring SP] search-key *(SP search-key) up to the end of
 * the command; an unknown charset fails with IMAP_PERR_BADCHARSET */
int imap_p_search(struct imap_parser *p, struct imap_skey **out);
void imap_skey_free(struct imap_skey *k);
/* imap_skey_name - the keyword of a key type ("SENTBEFORE") */
const char *imap_skey_name(enum imap_skey_type t);

#endif
