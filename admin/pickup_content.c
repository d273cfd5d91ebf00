/*
 * pickup_content.c - the content of a local submission, as it goes into the queue file
 *
 * Local mail arrives with LF line ends (or CRLF, or a mix); the queue
 * holds CRLF lines (lib/global/qfile.h), so every bare LF becomes CRLF (a CRLF
 * split between two input chunks stays one CRLF). In the header section
 * the filter notes Date:, Message-Id: and From:, and adds the missing
 * ones at its end, as Postfix's cleanup does for local mail: Date: now,
 * Message-Id: <stamp.QUEUEID@$myhostname>, From: the sender (with the
 * full name). The header section ends at the empty line, at a line that
 * is no header field (RFC 5322 2.2; a blank line is then added after the
 * new headers, so that the line stays in the body), or at a line longer
 * than header_size_limit. Memory stays bounded by that limit.
 */
#include <string.h>
#include <strings.h>
#include <time.h>

#include "pickup.h"

#define MSGID_LOG_MAX 250

void pickup_date(long long t, struct str *out)
{
    struct tm tm;
    time_t tt = (time_t)t;
    char buf[128];

    localtime_r(&tt, &tm);
    strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S %z (%Z)", &tm);
    str_cat(out, buf);
}

void pickup_content_init(struct pickup_content *pc, struct qfile_writer *w, const char *queue_id,
                         const char *myhostname, const char *from_header, size_t header_limit)
{
    memset(pc, 0, sizeof(*pc));
    pc->w = w;
    pc->queue_id = queue_id;
    pc->myhostname = myhostname;
    pc->from_header = from_header;
    pc->header_limit = header_limit;
    pc->in_header = 1;
    str_init(&pc->line);
    str_init(&pc->msgid);
}

void pickup_content_free(struct pickup_content *pc)
{
    str_free(&pc->line);
    str_free(&pc->msgid);
}

/* put - bytes to the queue file as they are */
static void put(struct pickup_content *pc, const char *p, size_t n)
{
    if (n == 0)
        return;
    qfile_write(pc->w, p, n);
    pc->last_cr = p[n - 1] == '\r';
    pc->last_nl = p[n - 1] == '\n';
}

/* put_crlf - bytes with every bare LF written as CRLF */
static void put_crlf(struct pickup_content *pc, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        if (nl == NULL) {
            put(pc, p, n);
            return;
        }
        size_t k = (size_t)(nl - p);
        int cr = k > 0 ? p[k - 1] == '\r' : pc->last_cr;
        put(pc, p, k);
        put(pc, cr ? "\n" : "\r\n", cr ? 1 : 2);
        p += k + 1;
        n -= k + 1;
    }
}

/* header_name_len - length of "Name" when a line starts a header field "Name:" */
static size_t header_name_len(const char *p, size_t n)
{
    size_t i = 0;

    while (i < n && p[i] >= 33 && p[i] <= 126 && p[i] != ':')
        i++;
    return i > 0 && i < n && p[i] == ':' ? i : 0;
}

/* note_header - remember Date:, From:, Message-Id: */
static void note_header(struct pickup_content *pc, const char *p, size_t n, size_t name_len)
{
    if (name_len == 4 && strncasecmp(p, "Date", 4) == 0)
        pc->seen_date = 1;
    else if (name_len == 4 && strncasecmp(p, "From", 4) == 0)
        pc->seen_from = 1;
    else if (name_len == 10 && strncasecmp(p, "Message-ID", 10) == 0 && !pc->seen_msgid) {
        const char *v = p + name_len + 1, *end = p + n;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        str_cpyn(&pc->msgid, v,
                 (size_t)(end - v) > MSGID_LOG_MAX ? MSGID_LOG_MAX : (size_t)(end - v));
        pc->seen_msgid = 1;
    }
}

/* add_missing - the headers the message lacks; whether any was added */
static int add_missing(struct pickup_content *pc)
{
    struct str h = STR_INIT;
    time_t now = time(NULL);
    int added;

    if (!pc->seen_date) {
        str_cat(&h, "Date: ");
        pickup_date(now, &h);
        str_cat(&h, "\r\n");
    }
    if (!pc->seen_msgid) {
        struct tm tm;
        char stamp[32];
        gmtime_r(&now, &tm);
        strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
        str_printf(&h, "Message-Id: <%s.%s@%s>\r\n", stamp, pc->queue_id, pc->myhostname);
    }
    if (!pc->seen_from)
        str_printf(&h, "From: %s\r\n", pc->from_header);
    pc->seen_date = pc->seen_msgid = pc->seen_from = 1;
    added = h.len > 0;
    put(pc, h.s, h.len);
    str_free(&h);
    return added;
}

/* header_line - one complete line (with its LF) of the header section */
static void header_line(struct pickup_content *pc, const char *p, size_t n)
{
    size_t len = n;

    if (len && p[len - 1] == '\n')
        len--;
    if (len && p[len - 1] == '\r')
        len--;
    if (len == 0) { /* the empty line: the body follows */
        add_missing(pc);
        put(pc, "\r\n", 2);
        pc->in_header = 0;
        return;
    }
    size_t name_len = header_name_len(p, len);
    if ((p[0] == ' ' || p[0] == '\t') && pc->have_header) {
        /* a folded continuation line */
    } else if (name_len) {
        pc->have_header = 1;
        note_header(pc, p, len, name_len);
    } else {
        /* no header field: the body starts here (RFC 5322 2.1) */
        if (add_missing(pc))
            put(pc, "\r\n", 2);
        pc->in_header = 0;
    }
    put_crlf(pc, p, len);
    put(pc, "\r\n", 2);
}

void pickup_content_feed(struct pickup_content *pc, const char *p, size_t n)
{
    while (n > 0 && pc->in_header) {
        const char *nl = memchr(p, '\n', n);
        size_t len = nl ? (size_t)(nl - p) + 1 : n;
        if (pc->line.len + len > pc->header_limit) {
            /* too long for a header: what is left is body */
            add_missing(pc);
            pc->in_header = 0;
            put_crlf(pc, pc->line.s, pc->line.len);
            str_reset(&pc->line);
            break;
        }
        str_catn(&pc->line, p, len);
        p += len;
        n -= len;
        if (nl) {
            header_line(pc, pc->line.s, pc->line.len);
            str_reset(&pc->line);
        }
    }
    if (n > 0)
        put_crlf(pc, p, n);
}

void pickup_content_end(struct pickup_content *pc)
{
    if (pc->in_header && pc->line.len) {
        str_catc(&pc->line, '\n');
        header_line(pc, pc->line.s, pc->line.len);
        str_reset(&pc->line);
    }
    if (pc->in_header) {
        add_missing(pc);
        return;
    }
    /* the content always ends with CRLF, as SMTP content does */
    if (!pc->last_nl)
        put(pc, pc->last_cr ? "\n" : "\r\n", pc->last_cr ? 1 : 2);
}
