/*
 * imap_read.c - reading one complete IMAP command off a stream
 *
 * A literal is announced at the very end of a line ("{n}" or "{n+}"
 * before the CRLF, RFC 3501 4.3 and RFC 7888); nothing else in the
 * grammar can end a line that way, so the reader needs no more of the
 * grammar than that. Its data is read exactly (stream_read), then the
 * command goes on with the next line. Everything is bounded: the text by
 * text_max, the literals by literal_max (append_max for APPEND's message),
 * and input far over those limits is not even read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "imap_parse.h"
#include "mem.h"
#include "stream.h"

#define SPOOL_CHUNK 65536
#define TAIL_KEEP 32 /* bytes kept of a discarded line: enough for "{n+}" */

void imap_cmd_init(struct imap_cmd *c)
{
    memset(c, 0, sizeof(*c));
    str_init(&c->text);
}

/* imap_cmd_reset - drop c's literals (closing spooled ones) and text, keeping c's buffers */
static void imap_cmd_reset(struct imap_cmd *c)
{
    for (size_t i = 0; i < c->nlits; i++) {
        str_free(&c->lits[i].data);
        if (c->lits[i].fd >= 0)
            close(c->lits[i].fd);
    }
    c->nlits = 0;
    c->literal_bytes = 0;
    str_reset(&c->text);
}

void imap_cmd_free(struct imap_cmd *c)
{
    imap_cmd_reset(c);
    free(c->lits);
    str_free(&c->text);
    memset(c, 0, sizeof(*c));
}

/* literal_marker - whether a line (line end excluded) announces a literal */
static int literal_marker(const char *s, size_t n, uint64_t *size, int *nonsync)
{
    if (n < 3 || s[n - 1] != '}')
        return 0;
    size_t i = n - 1;
    *nonsync = s[i - 1] == '+';
    if (*nonsync)
        i--;
    size_t end = i;
    while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9')
        i--;
    if (i == end || i == 0 || s[i - 1] != '{' || end - i > 18)
        return 0;
    uint64_t v = 0;
    for (size_t k = i; k < end; k++)
        v = v * 10 + (uint64_t)(s[k] - '0');
    *size = v;
    return 1;
}

/* line_body - length of a line without its LF or CRLF */
static size_t line_body(const char *s, size_t n)
{
    if (n > 0 && s[n - 1] == '\n')
        n--;
    if (n > 0 && s[n - 1] == '\r')
        n--;
    return n;
}

static int map_stream_error(int r)
{
    if (r == STREAM_TIMEOUT)
        return IMAP_READ_TIMEOUT;
    if (r == STREAM_EOF)
        return IMAP_READ_EOF;
    return IMAP_READ_ERR;
}

/* is_append - whether the command read so far is APPEND (its message may be big) */
static int is_append(const struct imap_cmd *c)
{
    const char *s = str_c(&c->text);
    const char *sp = strchr(s, ' ');

    if (sp == NULL)
        return 0;
    return strncasecmp(sp + 1, "APPEND ", 7) == 0;
}

/* discard_bytes - read and drop n bytes */
static int discard_bytes(struct stream *s, uint64_t n)
{
    char buf[SPOOL_CHUNK];

    while (n > 0) {
        size_t want = n < sizeof(buf) ? (size_t)n : sizeof(buf);
        ssize_t r = stream_read(s, buf, want);
        if (r < 0)
            return map_stream_error((int)r);
        if ((size_t)r < want)
            return IMAP_READ_EOF;
        n -= (uint64_t)r;
    }
    return IMAP_READ_OK;
}

/* discard_line - read and drop the rest of a line (the part already read is in tail);
 * the last bytes stay in tail so a literal marker can be seen */
static int discard_line(struct stream *s, struct str *tail, size_t far)
{
    size_t total = tail->len;
    struct str chunk = STR_INIT;
    int r;

    for (;;) {
        /* never wait for more than it takes to see that the line is far too long */
        size_t want = far >= total ? far - total + 1 : 1;
        str_reset(&chunk);
        r = stream_getline_part(s, &chunk, want < SPOOL_CHUNK ? want : SPOOL_CHUNK);
        if (r < 0) {
            str_free(&chunk);
            return map_stream_error(r);
        }
        total += chunk.len;
        str_catn(tail, chunk.s, chunk.len);
        if (tail->len > TAIL_KEEP) {
            memmove(tail->s, tail->s + tail->len - TAIL_KEEP, TAIL_KEEP);
            str_truncate(tail, TAIL_KEEP);
        }
        if (total > far) {
            str_free(&chunk);
            return IMAP_READ_FATAL;
        }
        if (r == 1)
            break;
        if (chunk.len == 0) {
            str_free(&chunk);
            return IMAP_READ_EOF;
        }
    }
    str_free(&chunk);
    return IMAP_READ_OK;
}

/* discard_rest - drop the rest of a rejected command: lines and the data of
 * non-synchronizing literals (a synchronizing one is never invited, so the
 * command ends there) */
static int discard_rest(struct stream *s, struct str *line, size_t far_text, uint64_t far_lit)
{
    for (;;) {
        uint64_t size;
        int nonsync;
        size_t n = line_body(line->s, line->len);
        if (!literal_marker(line->s, n, &size, &nonsync) || !nonsync)
            return IMAP_READ_OK;
        if (size > far_lit)
            return IMAP_READ_FATAL;
        int r = discard_bytes(s, size);
        if (r != IMAP_READ_OK)
            return r;
        str_reset(line);
        r = discard_line(s, line, far_text);
        if (r != IMAP_READ_OK)
            return r;
    }
}

/* spool_open - an unlinked temporary file for a big literal */
static int spool_open(const char *dir)
{
    if (dir == NULL || *dir == '\0')
        dir = getenv("TMPDIR");
    if (dir == NULL || *dir == '\0')
        dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    char *path = xasprintf("%s/petrel-literal.XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    free(path);
    return fd;
}

/* read_literal - the n bytes of an accepted literal, into memory or a spool file */
static int read_literal(struct stream *s, const struct imap_limits *lim, struct imap_cmd *c,
                        size_t n, struct str *reason)
{
    if (c->nlits == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 4;
        c->lits = xreallocarray(c->lits, c->cap, sizeof(*c->lits));
    }
    struct imap_literal *lit = &c->lits[c->nlits++];
    memset(lit, 0, sizeof(*lit));
    str_init(&lit->data);
    lit->fd = -1;
    lit->at = c->text.len;
    lit->size = n;
    c->literal_bytes += n;
    if (lim->spool_min == 0 || n < lim->spool_min) {
        str_reserve(&lit->data, n);
        ssize_t r = n ? stream_read(s, lit->data.s, n) : 0;
        if (r < 0)
            return map_stream_error((int)r);
        if ((size_t)r < n)
            return IMAP_READ_EOF;
        lit->data.len = n;
        lit->data.s[n] = '\0';
        return IMAP_READ_OK;
    }
    lit->fd = spool_open(lim->spool_dir);
    if (lit->fd < 0) {
        str_printf(reason, "cannot spool the literal: %s", strerror(errno));
        return IMAP_READ_ERR;
    }
    char *buf = xmalloc(SPOOL_CHUNK);
    size_t left = n;
    int rc = IMAP_READ_OK;
    while (left > 0 && rc == IMAP_READ_OK) {
        size_t want = left < SPOOL_CHUNK ? left : SPOOL_CHUNK;
        ssize_t r = stream_read(s, buf, want);
        if (r < 0) {
            rc = map_stream_error((int)r);
        } else if ((size_t)r < want) {
            rc = IMAP_READ_EOF;
        } else if (write(lit->fd, buf, want) != (ssize_t)want) {
            str_printf(reason, "cannot spool the literal: %s", strerror(errno));
            rc = IMAP_READ_ERR;
        }
        left -= want;
    }
    free(buf);
    if (rc == IMAP_READ_OK && lseek(lit->fd, 0, SEEK_SET) < 0)
        rc = IMAP_READ_ERR;
    return rc;
}

int imap_read_command(struct stream *s, const struct imap_limits *lim, struct imap_cmd *c,
                      struct str *reason)
{
    size_t far_text = lim->text_max * IMAP_FAR_FACTOR;
    int r;

    imap_cmd_reset(c);
    str_reset(reason);
    for (;;) {
        size_t start = c->text.len;
        size_t room = lim->text_max > start ? lim->text_max - start : 0;
        r = room ? stream_getline_part(s, &c->text, room) : 0;
        if (r < 0) {
            if (r == STREAM_EOF && c->text.len > 0)
                return IMAP_READ_EOF; /* the peer went away mid-command */
            return map_stream_error(r);
        }
        if (r == 0 && c->text.len - start < room)
            return IMAP_READ_EOF;
        if (r == 0) {
            /* RFC 3501 does not bound a line; we do (imapd_command_size_limit) */
            struct str tail = STR_INIT;
            str_catn(&tail, c->text.s + start, c->text.len - start);
            r = discard_line(s, &tail, far_text); /* the text keeps the tag for the answer */
            if (r == IMAP_READ_OK)
                r = discard_rest(s, &tail, far_text, (uint64_t)lim->literal_max * IMAP_FAR_FACTOR);
            str_free(&tail);
            if (r == IMAP_READ_FATAL)
                str_cpy(reason, "command line far too long");
            else if (r == IMAP_READ_OK)
                str_cpy(reason, "command line too long");
            return r == IMAP_READ_OK ? IMAP_READ_BAD : r;
        }
        uint64_t size;
        int nonsync;
        size_t n = line_body(c->text.s + start, c->text.len - start);
        if (!literal_marker(c->text.s + start, n, &size, &nonsync))
            return IMAP_READ_OK;
        int append = is_append(c);
        uint64_t max =
            lim->literal_max > c->literal_bytes ? lim->literal_max - c->literal_bytes : 0;
        if (append) {
            /* APPEND: the message may be any of its literals (the mailbox name can be one
             * too); all of them together stay within append_max + literal_max */
            uint64_t total = (uint64_t)lim->append_max + lim->literal_max;
            max = total > c->literal_bytes ? total - c->literal_bytes : 0;
            if (max > lim->append_max)
                max = lim->append_max;
        }
        if (size > max) {
            uint64_t far =
                (append ? lim->append_max : lim->literal_max) * (uint64_t)IMAP_FAR_FACTOR;
            if (nonsync && size > far) {
                str_cpy(reason, "literal far too big");
                return IMAP_READ_FATAL;
            }
            struct str tail = STR_INIT;
            str_catn(&tail, c->text.s + start, c->text.len - start);
            r = discard_rest(s, &tail, far_text, far);
            str_free(&tail);
            if (r != IMAP_READ_OK) {
                str_cpy(reason, "literal far too big");
                return r;
            }
            str_printf(reason, "%s too big (%llu bytes, at most %llu)",
                       append ? "message" : "literal", (unsigned long long)size,
                       (unsigned long long)max);
            return append ? IMAP_READ_TOOBIG : IMAP_READ_BAD;
        }
        if (!nonsync) {
            /* RFC 3501 7.5: the client waits for this before sending the data */
            stream_puts(s, "+ OK\r\n");
            if (stream_flush(s) != STREAM_OK)
                return IMAP_READ_ERR;
        }
        r = read_literal(s, lim, c, (size_t)size, reason);
        if (r != IMAP_READ_OK)
            return r;
    }
}

void imap_cmd_tag(const struct imap_cmd *c, struct str *tag)
{
    const char *s = str_c(&c->text);
    size_t n = 0;

    str_reset(tag);
    while (s[n] && s[n] != ' ' && s[n] != '\r' && s[n] != '\n' && n < 64) {
        unsigned char ch = (unsigned char)s[n];
        /* tag = 1*<any ASTRING-CHAR except "+"> */
        if (ch <= 32 || ch >= 127 || strchr("(){%*\"\\+", ch) != NULL)
            break;
        n++;
    }
    if (n == 0 || (s[n] != ' ' && s[n] != '\r' && s[n] != '\n' && s[n] != '\0'))
        str_cpy(tag, "*");
    else
        str_cpyn(tag, s, n);
}
