/*
 * str.h - dynamic strings, string lists and small string helpers
 *
 * A struct str owns a heap buffer with an explicit length; s is always
 * NUL-terminated after any str_ call (so it can be handed to C APIs) but may
 * also contain NUL bytes in the middle. Data from the network, queue files
 * and maps lives in these, never in fixed-size arrays.
 */
#ifndef PETREL_STR_H
#define PETREL_STR_H

#include <stdarg.h>
#include <stddef.h>

struct str {
    char *s;
    size_t len;
    size_t cap;
};

#define STR_INIT   \
    {              \
        NULL, 0, 0 \
    }

void str_init(struct str *sp);
void str_free(struct str *sp);
/* str_reset - make empty, keeping the buffer */
void str_reset(struct str *sp);
/* str_reserve - make room for extra more bytes (plus the terminator) */
void str_reserve(struct str *sp, size_t extra);
void str_catn(struct str *sp, const void *p, size_t n);
void str_cat(struct str *sp, const char *s);
void str_catc(struct str *sp, int c);
/* str_catu - v in decimal */
void str_catu(struct str *sp, unsigned long long v);
void str_cpy(struct str *sp, const char *s);
void str_cpyn(struct str *sp, const void *p, size_t n);
/* str_printf - append formatted text */
void str_printf(struct str *sp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void str_vprintf(struct str *sp, const char *fmt, va_list ap);
void str_truncate(struct str *sp, size_t len);
/* str_c - the text, never NULL */
const char *str_c(const struct str *sp);
/* str_steal - take ownership of the buffer (never NULL); sp becomes empty */
char *str_steal(struct str *sp);
/* str_lower - fold ASCII letters to lower case in place */
void str_lower(struct str *sp);
/* str_chomp - remove one trailing LF or CRLF; returns what was removed (0, 1 or 2) */
int str_chomp(struct str *sp);

/* a NULL-terminated vector of owned C strings */
struct strlist {
    char **v;
    size_t n;
    size_t cap;
};

#define STRLIST_INIT \
    {                \
        NULL, 0, 0   \
    }

void strlist_init(struct strlist *l);
void strlist_free(struct strlist *l);
void strlist_add(struct strlist *l, const char *s);
void strlist_addn(struct strlist *l, const char *s, size_t n);
/* strlist_adopt - append s itself (heap-allocated); the list now owns it */
void strlist_adopt(struct strlist *l, char *s);
/* strlist_split - append the tokens of text separated by any byte of delims */
void strlist_split(struct strlist *l, const char *text, const char *delims);
/* strlist_find - index of s (case-insensitive when nocase), or -1 */
long strlist_find(const struct strlist *l, const char *s, int nocase);
/* strlist_join - joined text, separated by sep, appended to out */
void strlist_join(const struct strlist *l, const char *sep, struct str *out);

/* lowercase - fold ASCII to lower case in place; returns s */
char *lowercase(char *s);
/* trim - strip leading and trailing white space in place; returns the start */
char *trim(char *s);
/* has_prefix_ci - whether s begins with prefix, ASCII case-insensitively */
int has_prefix_ci(const char *s, const char *prefix);
/* printable - in place, every byte of s[0..n) that is not part of a printable character
 * becomes '?': C0 controls, DEL, malformed or overlong UTF-8, surrogates and the C1
 * controls U+0080..U+009F (which some terminals obey as ESC would); well-formed UTF-8
 * stays. The one rule for bytes from outside on their way to a log line, a terminal
 * or a human-readable report (Postfix's printable()); returns s */
char *printable(char *s, size_t n);
/* safe_text - copy text into out with printable() applied (for logs and terminals) */
const char *safe_text(struct str *out, const char *s, size_t n);
/* mystrtok - split off the next token of *bufp at delims, like strsep but skipping empties */
char *mystrtok(char **bufp, const char *delims);
/* parse_ulong - strict decimal parse of the whole string; 0 ok, -1 bad/overflow */
int parse_ulong(const char *s, unsigned long long max, unsigned long long *out);

#endif
