/*
 * linereader.h - logical lines of Postfix-style text files
 *
 * One reader for every file that follows the rule of postconf(5), master(5)
 * and postmap(1): "A logical line starts with non-whitespace text. A line
 * that starts with whitespace continues a logical line." Empty and
 * whitespace-only lines, and lines whose first non-whitespace character is
 * '#', are ignored, also between a logical line and its continuations.
 * Used by main.cf (cfg.c), master.cf (mcf.c) and the text sources of lookup
 * tables (map.c, map_regexp.c). The caller owns the text, which must stay
 * valid while it is read and holds no NUL byte before its end (callers
 * reject such files first: see linereader_has_nul). Lines may be of any
 * length; a '\r' before '\n' is white space like any other.
 */
#ifndef PETREL_LINEREADER_H
#define PETREL_LINEREADER_H

#include <stddef.h>

#include "str.h"

struct linereader {
    const char *p; /* the next physical line */
    int lineno;    /* the number of the last physical line read */
};

enum {
    LINEREADER_END = 0,    /* no more lines */
    LINEREADER_LINE = 1,   /* a logical line */
    LINEREADER_ORPHAN = 2, /* an indented line with no logical line before it */
};

/* linereader_init - read text (NUL-terminated) from its first line */
void linereader_init(struct linereader *r, const char *text);

/*
 * linereader_next - the next logical line in out: its first physical line,
 * then each continuation line with its leading white space replaced by one
 * space; *line is the number of its first physical line. An indented line
 * before the first logical line of the text starts none: it comes back
 * alone (leading white space removed) as LINEREADER_ORPHAN, for the caller
 * to report as an error at *line.
 */
int linereader_next(struct linereader *r, struct str *out, int *line);

/* the kinds of a physical line, for the editors that rewrite such files line by line */
enum {
    LINEREADER_IGNORED = 0, /* empty, white space only, or a comment: never ends an entry */
    LINEREADER_START = 1,   /* starts a logical line */
    LINEREADER_CONT = 2,    /* continues the logical line before it */
};

/* linereader_kind - the kind of the physical line of len bytes at line (without its '\n') */
int linereader_kind(const char *line, size_t len);

/* linereader_has_nul - whether len bytes of text hold a NUL byte (such a file is refused) */
int linereader_has_nul(const char *text, size_t len);

#endif
