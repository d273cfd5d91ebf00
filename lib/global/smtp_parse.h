/*
 * smtp_parse.h - syntax of SMTP commands: paths, ESMTP parameters, domains
 *
 * Pure functions (no I/O, no configuration) so that the unit tests can
 * drive them with the RFCs' examples. Addresses come out in the internal
 * form every Petrel program uses: a quoted local part is unquoted
 * ("a b"@x -> a b@x), a source route is dropped, and the domain is split
 * off at the last '@'.
 */
#ifndef PETREL_SMTP_PARSE_H
#define PETREL_SMTP_PARSE_H

#include <stddef.h>

#include "smtp_text.h" /* xtext and quoting, shared with the smtp client */
#include "str.h"

/* RFC 5321 4.5.3.1 size limits */
#define SMTP_LOCAL_MAX 64
#define SMTP_DOMAIN_MAX 255
#define SMTP_PATH_MAX 256

/* smtp_parse_path results */
#define SMTP_PATH_OK 0
#define SMTP_PATH_SYNTAX (-1)  /* malformed */
#define SMTP_PATH_TOOLONG (-2) /* a length limit of RFC 5321 4.5.3.1 */
#define SMTP_PATH_UTF8 (-3)    /* non-ASCII without SMTPUTF8 (RFC 6531 3.4) */

/* smtp_parse_path flags */
#define SMTP_PATH_NULL_OK 1 /* "<>" allowed (MAIL FROM) */
#define SMTP_PATH_STRICT 2  /* RFC 5321 exactly: brackets, no space, domain required */
#define SMTP_PATH_UTF8_OK 4 /* SMTPUTF8 was given: UTF-8 in local part and domain */

struct smtp_path {
    struct str addr;   /* internal form: local@domain, local, or "" for <> */
    struct str local;  /* unquoted local part */
    struct str domain; /* domain without a trailing dot, case kept; "" when none */
    struct str raw;    /* the mailbox as sent (quotes kept), source route removed */
    int is_null;       /* <> */
    int source_route;  /* an "@a,@b:" route was given (and dropped) */
    int utf8;          /* non-ASCII bytes in the address */
    int unqualified;   /* sent without a domain (smtpd appended $myorigin) */
};

void smtp_path_init(struct smtp_path *p);
void smtp_path_free(struct smtp_path *p);
void smtp_path_reset(struct smtp_path *p);

/* smtp_parse_path - parse the path at *text (leading spaces allowed); on SMTP_PATH_OK *text
 * points after it. why gets a short reason on failure. */
int smtp_parse_path(const char **text, int flags, struct smtp_path *out, const char **why);

/* ESMTP parameters (RFC 5321 4.1.2 Mail-parameters / Rcpt-parameters) */
#define SMTP_PARAMS_MAX 16

struct smtp_param {
    char *key;   /* as sent */
    char *value; /* NULL when there was no '=' */
};

struct smtp_params {
    struct smtp_param v[SMTP_PARAMS_MAX];
    size_t n;
};

/* smtp_parse_params - split "KEY[=VALUE] ..." (RFC 5321 esmtp-param); -1 on bad syntax,
 * too many parameters or a duplicate keyword */
int smtp_parse_params(const char *text, struct smtp_params *out, const char **why);
void smtp_params_free(struct smtp_params *p);

/*
 * The values of the ESMTP parameters, one parser each. smtpd calls them on what a client
 * sent; sendmail (-N, -R, -V) and pickup (a maildrop file's envelope) call the same ones, so
 * that a value is good or bad alike on every way into the queue.
 */

/* smtp_parse_size - RFC 1870 6 size-value (1*20DIGIT); -1 when malformed */
int smtp_parse_size(const char *v, unsigned long long *out);

/* BODY= (RFC 6152 2, RFC 3030 3) */
#define SMTP_BODY_NONE 0
#define SMTP_BODY_7BIT 1
#define SMTP_BODY_8BITMIME 2
#define SMTP_BODY_BINARYMIME 3
/* smtp_parse_body - "7BIT", "8BITMIME" or "BINARYMIME" (any case) as SMTP_BODY_; -1 otherwise
 * (whether BINARYMIME was offered is the caller's business) */
int smtp_parse_body(const char *v);

/* RET= (RFC 3461 4.3) */
#define SMTP_RET_NONE 0
#define SMTP_RET_FULL 1
#define SMTP_RET_HDRS 2
/* smtp_parse_ret - "FULL" or "HDRS" (any case) as SMTP_RET_; -1 otherwise */
int smtp_parse_ret(const char *v);
/* smtp_ret_name - "FULL", "HDRS", or "" for SMTP_RET_NONE */
const char *smtp_ret_name(int ret);

/* smtp_parse_notify - RFC 3461 4.1 notify-esmtp-value: "NEVER" alone, or a comma-separated
 * list of SUCCESS, FAILURE, DELAY (any case, no empty item, no white space); the QNOTIFY_
 * bits of qfile.h, or -1 */
int smtp_parse_notify(const char *v);
/* smtp_format_notify - QNOTIFY_ bits as that value ("NEVER", "SUCCESS,DELAY"), appended;
 * nothing for 0 */
void smtp_format_notify(int bits, struct str *out);

/* smtp_parse_envid - RFC 3461 4.4 ENVID value: xtext of at most 100 characters that decodes
 * to 1 or more printable US-ASCII characters (graphic or space); the decoded form replaces
 * out. -1 when malformed (out then undefined) */
int smtp_parse_envid(const char *v, struct str *out);
/* smtp_envid_valid - an envelope ID given decoded (sendmail -V, a maildrop file, a queue
 * file) that smtp_parse_envid would have accepted in its xtext form */
int smtp_envid_valid(const char *decoded);

/* smtp_parse_orcpt - RFC 3461 4.2 ORCPT value: addr-type ";" xtext, at most 500 characters,
 * decoding to well-formed UTF-8 without control characters; "addr-type;decoded" replaces
 * out. -1 when malformed (out then undefined) */
int smtp_parse_orcpt(const char *v, struct str *out);
/* smtp_orcpt_valid - an original recipient given decoded ("rfc822;user@example.com", as a
 * maildrop file holds it) that smtp_parse_orcpt would have accepted in its xtext form */
int smtp_orcpt_valid(const char *decoded);
/* smtp_format_orcpt - a decoded original recipient as its ORCPT value ("rfc822;a b@x" ->
 * "rfc822;a+20b@x"), appended; nothing without a ';' */
void smtp_format_orcpt(const char *decoded, struct str *out);

/* smtp_valid_domain - RFC 5321 Domain (LDH labels; UTF-8 labels when utf8_ok) or
 * address-literal; '_' is tolerated in labels as real mail systems send it */
int smtp_valid_domain(const char *d, size_t n, int utf8_ok);
/* smtp_valid_address_literal - "[1.2.3.4]", "[IPv6:...]" or a General-address-literal */
int smtp_valid_address_literal(const char *d, size_t n);
/* smtp_utf8_valid - well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF) */
int smtp_utf8_valid(const char *s, size_t n);

#endif
