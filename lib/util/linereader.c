/*
 * linereader.c - logical lines of Postfix-style text files
 *
 * Splits a text into logical lines by the rule postconf(5), master(5) and
 * postmap(1) share (see linereader.h); knows nothing of what the lines
 * mean. Callers: cfg_parse_text, mcf_parse_text, map_parse_text and the
 * regexp: table loader, which each turn a logical line into settings,
 * services or table entries and report problems as "file:line: message"
 * with the line number given here; the editors of such files (petrel-conf
 * -e, petrel-passwd) classify their physical lines with linereader_kind so
 * that they agree with the reader on where an entry ends.
 */
#include <ctype.h>
#include <string.h>

#include "linereader.h"

void linereader_init(struct linereader *r, const char *text)
{
    r->p = text;
    r->lineno = 0;
}

/* physical - the next physical line: start, length, first non-blank byte; 0 at the end */
static int physical(const struct linereader *r, const char **start, size_t *len, const char **text)
{
    const char *p = r->p, *q;
    const char *nl;

    if (*p == '\0')
        return 0;
    nl = strchr(p, '\n');
    *len = nl ? (size_t)(nl - p) : strlen(p);
    for (q = p; q < p + *len && isspace((unsigned char)*q); q++)
        ;
    *start = p;
    *text = q;
    return 1;
}

/* advance - step past the physical line of length len */
static void advance(struct linereader *r, size_t len)
{
    r->p += len;
    if (*r->p == '\n')
        r->p++;
    r->lineno++;
}

/* ignored - blank, white space only, or a comment (postconf(5)) */
static int ignored(const char *start, size_t len, const char *text)
{
    return text == start + len || *text == '#';
}

int linereader_kind(const char *line, size_t len)
{
    const char *q = line;

    while (q < line + len && isspace((unsigned char)*q))
        q++;
    if (ignored(line, len, q))
        return LINEREADER_IGNORED;
    return q == line ? LINEREADER_START : LINEREADER_CONT;
}

int linereader_next(struct linereader *r, struct str *out, int *line)
{
    const char *start, *text;
    size_t len;

    /* the first line that is not ignored starts a logical line, or is an orphan */
    for (;;) {
        if (!physical(r, &start, &len, &text))
            return LINEREADER_END;
        advance(r, len);
        if (!ignored(start, len, text))
            break;
    }
    *line = r->lineno;
    str_cpyn(out, text, (size_t)(start + len - text));
    if (text != start)
        return LINEREADER_ORPHAN;
    /* continuation lines, with ignored lines between them */
    while (physical(r, &start, &len, &text)) {
        if (!ignored(start, len, text)) {
            if (text == start)
                break;
            str_catc(out, ' ');
            str_catn(out, text, (size_t)(start + len - text));
        }
        advance(r, len);
    }
    return LINEREADER_LINE;
}

int linereader_has_nul(const char *text, size_t len)
{
    return len > 0 && memchr(text, '\0', len) != NULL;
}
