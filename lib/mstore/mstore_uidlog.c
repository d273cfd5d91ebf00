/*
 * mstore_uidlog.c - petrel.uids: a second copy of the UIDs, for rebuilding a lost index
 *
 * What only the index knows is lost with it; of that, the UIDs matter most
 * (a new UIDVALIDITY makes every IMAP client fetch the mailbox again and
 * every POP3 client that leaves mail on the server download it twice). So
 * each UID handed out is also appended to petrel.uids, a text file beside
 * the index: a header line "petrel-uids 1 UIDVALIDITY HASH", a line "next
 * UIDNEXT HASH" (as it was when the file was written), then one line
 * "UID BASE HASH" per UID in ascending order, BASE the Maildir base name
 * (the file name before ':', which flag changes leave alone) and HASH 8 hex
 * digits of FNV-1a over the rest of the line, so that a damaged line is
 * skipped rather than believed. Lines of expunged messages stay until the
 * file is rewritten from the index (when it grew to more than three times
 * what the live messages need).
 *
 * The lines of a section are appended before the index is closed, and made
 * durable first when the index is (UIDs handed out): an index that knows a
 * UID implies a log that has it. A log that is missing or belongs to
 * another UIDVALIDITY is rewritten from the index by the next sync, and a
 * failed append removes the file: the log is complete or absent, never
 * silently short, since a rebuild keeps the UIDVALIDITY only from a log
 * (mstore_index.c, ms_idx_create).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "htab.h"
#include "log.h"
#include "mem.h"

#include "mstore_impl.h"
#include "mstore_uidlog.h"

#define UIDLOG_MAX (64u << 20) /* a longer file is not read: rebuilt with a new UIDVALIDITY */
#define UIDLOG_SLACK 65536     /* rewritten past this size and three times the live lines */

static char *uidlog_path(const struct mstore_box *b)
{
    return xasprintf("%s/" MS_UIDLOG_FILE, b->path);
}

static uint32_t line_hash(const char *p, size_t n)
{
    return (uint32_t)hash_bytes(p, n);
}

/* add_line - "TEXT HASH\n" */
static void add_line(struct str *out, const char *text)
{
    str_printf(out, "%s %08x\n", text, line_hash(text, strlen(text)));
}

static void add_entry(struct str *out, uint32_t uid, const char *fname)
{
    const char *c = strchr(fname, ':');
    char *t = xasprintf("%u %.*s", uid, (int)(c ? (size_t)(c - fname) : strlen(fname)), fname);

    add_line(out, t);
    free(t);
}

/* ms_uidlog_add - note a UID handed out in this section (written by ms_uidlog_flush) */
void ms_uidlog_add(struct mstore_box *b, uint32_t uid, const char *fname)
{
    add_entry(&b->uidlog, uid, fname);
}

/* ms_uidlog_flush - append the section's lines (exclusive section, before the index is
 * closed); sync: make them durable first, as the index will be */
void ms_uidlog_flush(struct mstore_box *b, int sync)
{
    char *path;
    int fd, ok;

    if (b->uidlog.len == 0)
        return;
    path = uidlog_path(b);
    fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) { /* none: the next sync writes the whole log from the index */
        if (errno != ENOENT)
            log_warn("open %s: %s", path, strerror(errno));
        str_reset(&b->uidlog);
        free(path);
        return;
    }
    ok = write(fd, b->uidlog.s, b->uidlog.len) == (ssize_t)b->uidlog.len &&
         (!sync || fdatasync(fd) == 0);
    if (close(fd) < 0)
        ok = 0;
    if (!ok) { /* never leave a log that lacks a UID the index has */
        log_warn("write %s: %s; removed, rewritten at the next sync", path, strerror(errno));
        unlink(path);
    }
    str_reset(&b->uidlog);
    free(path);
}

/* ms_uidlog_write - replace the log with one that lists recs[0..n) under the header's
 * UIDVALIDITY (temporary file, fsync, rename); the section's pending lines are dropped
 * (recs has them) */
int ms_uidlog_write(struct mstore_box *b, const struct mstore_msg *recs, uint32_t n)
{
    struct str out = STR_INIT;
    char *path = uidlog_path(b), *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
    char hdr[64];
    int fd, ok;

    snprintf(hdr, sizeof(hdr), "petrel-uids 1 %u", b->hdr.uidvalidity);
    add_line(&out, hdr);
    snprintf(hdr, sizeof(hdr), "next %u", b->hdr.uidnext); /* UIDs of gone lines stay used */
    add_line(&out, hdr);
    for (uint32_t i = 0; i < n; i++)
        if (!recs[i].expunged)
            add_entry(&out, recs[i].uid, recs[i].fname);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    ok = fd >= 0 && write(fd, out.s, out.len) == (ssize_t)out.len && fdatasync(fd) == 0;
    if (fd >= 0 && close(fd) < 0)
        ok = 0;
    if (ok && rename(tmp, path) < 0)
        ok = 0;
    if (!ok) {
        log_warn("write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    str_reset(&b->uidlog);
    str_free(&out);
    free(tmp);
    free(path);
    return ok ? 0 : -1;
}

/* check_line - strip and check the hash of one line; the text before it, or NULL */
static char *check_line(char *line)
{
    char *sp = strrchr(line, ' ');
    char *end;
    unsigned long h;

    if (sp == NULL || strlen(sp + 1) != 8)
        return NULL;
    errno = 0;
    h = strtoul(sp + 1, &end, 16);
    if (*end != '\0' || errno != 0 || h != line_hash(line, (size_t)(sp - line)))
        return NULL;
    *sp = '\0';
    return line;
}

/* parse_entry - "UID BASE": a UID above last and a base name that could be a file's */
static int parse_entry(char *text, uint32_t last, uint32_t *uid, char **base)
{
    char *end;
    unsigned long v;

    if (text[0] < '1' || text[0] > '9')
        return -1;
    errno = 0;
    v = strtoul(text, &end, 10);
    if (errno != 0 || *end != ' ' || v <= last || v >= 0xfffffff0ul || end[1] == '\0' ||
        end[1] == '.' || strchr(end + 1, '/') || strchr(end + 1, ':') || strchr(end + 1, ' '))
        return -1;
    *uid = (uint32_t)v;
    *base = end + 1;
    return 0;
}

/* ms_uidlog_read - the log's UIDVALIDITY and entries (damaged lines skipped); -1 when
 * there is no usable log (missing, too long, no valid header) */
int ms_uidlog_read(struct mstore_box *b, struct ms_uidlog *l)
{
    char *path = uidlog_path(b);
    struct str all = STR_INIT;
    char buf[65536], *p, *nl, *t;
    struct stat st;
    ssize_t got;
    uint32_t last = 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), r = -1;

    memset(l, 0, sizeof(*l));
    free(path);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > UIDLOG_MAX) {
        close(fd);
        return -1;
    }
    while ((got = read(fd, buf, sizeof(buf))) > 0 && all.len < UIDLOG_MAX)
        str_catn(&all, buf, (size_t)got);
    close(fd);
    for (p = all.s; p && p < all.s + all.len; p = nl + 1) {
        if ((nl = memchr(p, '\n', all.len - (size_t)(p - all.s))) == NULL)
            break; /* a torn last line */
        *nl = '\0';
        if (memchr(p, '\0', (size_t)(nl - p)) || (t = check_line(p)) == NULL)
            continue;
        if (r < 0) {
            unsigned long v;
            char *end;
            if (strncmp(t, "petrel-uids 1 ", 14) != 0)
                break; /* the header must come first */
            errno = 0;
            v = strtoul(t + 14, &end, 10);
            if (*end != '\0' || errno != 0 || v == 0 || v > UINT32_MAX)
                break;
            l->uidvalidity = (uint32_t)v;
            r = 0;
            continue;
        }
        uint32_t uid;
        char *base;
        if (strncmp(t, "next ", 5) == 0) {
            unsigned long v = strtoul(t + 5, NULL, 10);
            if (v > l->next && v < 0xfffffff0ul)
                l->next = (uint32_t)v;
            continue;
        }
        if (parse_entry(t, last, &uid, &base) < 0)
            continue;
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 256;
            l->uids = xreallocarray(l->uids, l->cap, sizeof(*l->uids));
            l->bases = xreallocarray(l->bases, l->cap, sizeof(*l->bases));
        }
        l->uids[l->n] = uid;
        l->bases[l->n++] = xstrdup(base);
        last = uid;
    }
    str_free(&all);
    if (r < 0)
        ms_uidlog_free(l);
    return r;
}

void ms_uidlog_free(struct ms_uidlog *l)
{
    for (uint32_t i = 0; i < l->n; i++)
        free(l->bases[i]);
    free(l->uids);
    free(l->bases);
    memset(l, 0, sizeof(*l));
}

/* ms_uidlog_maintain - after a sync read every record (recs[0..n)): the first time for
 * this view, a missing log or one of another UIDVALIDITY is written from them; in an
 * exclusive section, one grown past its slack is rewritten */
void ms_uidlog_maintain(struct mstore_box *b, const struct mstore_msg *recs, uint32_t n, int excl)
{
    char *path;
    struct stat st;
    size_t live = 64;
    int rewrite = 0;

    if (b->uidlog_checked && !excl)
        return;
    path = uidlog_path(b);
    if (stat(path, &st) < 0) {
        rewrite = 1;
    } else if (!b->uidlog_checked) {
        char head[64];
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        ssize_t got = fd >= 0 ? read(fd, head, sizeof(head) - 1) : -1;
        char want[40];
        if (fd >= 0)
            close(fd);
        snprintf(want, sizeof(want), "petrel-uids 1 %u ", b->hdr.uidvalidity);
        rewrite = got < (ssize_t)strlen(want) || memcmp(head, want, strlen(want)) != 0;
    }
    if (!rewrite && excl && (uint64_t)st.st_size > UIDLOG_SLACK) {
        for (uint32_t i = 0; i < n; i++)
            live += strlen(recs[i].fname) + 20;
        rewrite = (uint64_t)st.st_size > 3 * (uint64_t)live;
    }
    free(path);
    if (rewrite)
        ms_uidlog_write(b, recs, n);
    b->uidlog_checked = 1;
}
