/*
 * popd_maildrop.c - the POP3 TRANSACTION and UPDATE states (RFC 1939 5, 6)
 *
 * The maildrop is the user's INBOX in the mail store, locked for the
 * session with the store's session lock (a second POP3 login gets
 * [IN-USE]; IMAP sessions are not locked out). The message list is fixed
 * at login: mail delivered later appears in the next session. Nothing
 * changes in the store before QUIT: DELE only marks, and UPDATE then
 * marks retrieved messages \Seen (which moves them from new/ to cur/, as a
 * mail reader does) and removes the deleted ones. A session that ends any
 * other way changes nothing.
 *
 * Messages are converted to CRLF lines (see struct pop_out: bare CR and NUL
 * never go out raw) and byte-stuffed in one pass while streaming from the
 * file, so a message of any size needs only a fixed buffer.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "mem.h"

#include "popd.h"

int popd_maildrop_open(struct popd *p)
{
    struct str path = STR_INIT, err = STR_INIT;
    long long delay = cfg_time(cfg_main, P_popd_login_delay);
    time_t now = time(NULL), prev;
    int r;

    r = mstore_user_path(str_c(&p->user), &path, &err);
    if (r == MSTORE_ENOTFOUND) {
        log_warn("user=<%s> has a password but no mailbox in virtual_mailbox_maps",
                 str_c(&p->user));
        popd_reply(p, 0, "[SYS/PERM] No mailbox for this user");
        goto fail;
    }
    if (r == MSTORE_OK)
        r = mstore_open(str_c(&path), MSTORE_CREATE, &p->st, &err);
    if (r == MSTORE_OK)
        r = mstore_box_open(p->st, "INBOX", 0, &p->box);
    if (r != MSTORE_OK) {
        if (err.len)
            log_warn("user=<%s>: %s", str_c(&p->user), str_c(&err));
        popd_reply(p, 0, "[SYS/TEMP] Mailbox unavailable, try again later");
        goto fail;
    }
    if ((r = mstore_box_lock_session(p->box)) != MSTORE_OK) {
        log_info("maildrop in use: user=<%s>, rip=%s", str_c(&p->user), p->conn->addr);
        popd_reply(p, 0,
                   r == MSTORE_EINUSE ? "[IN-USE] Mailbox is locked by another POP3 session"
                                      : "[SYS/TEMP] Mailbox unavailable, try again later");
        goto fail;
    }
    prev = mstore_box_login_stamp(p->box, now, 0);
    if (delay > 0 && prev > 0 && now >= prev && now - prev < delay) {
        popd_reply(p, 0, "[LOGIN-DELAY] Minimum time between logins is %lld seconds", delay);
        goto fail;
    }
    mstore_box_login_stamp(p->box, now, 1);
    /* the view as of now, under the session lock: an UPDATE just finished is seen */
    if (mstore_box_sync(p->box, 0, NULL) != MSTORE_OK) {
        popd_reply(p, 0, "[SYS/TEMP] Mailbox unavailable, try again later");
        goto fail;
    }
    p->count = 0;
    p->msgs = xcalloc((size_t)mstore_box_count(p->box) + 1, sizeof(*p->msgs));
    for (uint32_t seq = 1; seq <= mstore_box_count(p->box); seq++) {
        uint64_t size;
        r = mstore_msg_size(p->box, seq, &size);
        if (r == MSTORE_EEXPUNGED)
            continue; /* gone since the scan (another session's expunge) */
        if (r != MSTORE_OK) {
            popd_reply(p, 0, "[SYS/TEMP] Mailbox unavailable, try again later");
            goto fail;
        }
        p->msgs[p->count].seq = seq;
        p->msgs[p->count].size = size;
        p->count++;
    }
    mstore_box_flush(p->box); /* sizes computed now are kept for the next session */
    {
        uint64_t total = 0;
        for (uint32_t i = 0; i < p->count; i++)
            total += p->msgs[i].size;
        popd_reply(p, 1, "Logged in, %u message%s (%llu octets)", p->count,
                   p->count == 1 ? "" : "s", (unsigned long long)total);
    }
    str_free(&path);
    str_free(&err);
    return 0;
fail:
    popd_maildrop_close(p);
    str_free(&path);
    str_free(&err);
    return -1;
}

void popd_maildrop_close(struct popd *p)
{
    mstore_box_close(p->box);
    mstore_close(p->st);
    free(p->msgs);
    p->box = NULL;
    p->st = NULL;
    p->msgs = NULL;
    p->count = 0;
}

/* ---- TRANSACTION ------------------------------------------------------------------ */

/* msgnum - parse a message number: 1..count, not deleted; NULL after an -ERR */
static struct popd_msg *msgnum(struct popd *p, const char *arg, int *keep)
{
    unsigned long long n;

    *keep = 1;
    if (parse_ulong(arg, 0xffffffffULL, &n) < 0 || arg[0] == '+') {
        *keep = popd_bad(p, "Invalid message number");
        return NULL;
    }
    if (n < 1 || n > p->count) {
        popd_reply(p, 0, "No such message, only %u in maildrop", p->count);
        return NULL;
    }
    if (p->msgs[n - 1].deleted) {
        popd_reply(p, 0, "Message %llu already deleted", n);
        return NULL;
    }
    return &p->msgs[n - 1];
}

static void totals(const struct popd *p, uint32_t *n, uint64_t *size)
{
    *n = 0;
    *size = 0;
    for (uint32_t i = 0; i < p->count; i++)
        if (!p->msgs[i].deleted) {
            (*n)++;
            *size += p->msgs[i].size;
        }
}

/* The message as POP3 sends it (RFC 1939 3, 11), made in one pass over the stored bytes:
 * LF and CRLF end a line and go out as CRLF; a CR not followed by LF is no line end
 * (RFC 5322 2.3) and goes out as one space, so that a client that ends lines at CR cannot
 * be shown a forged "." or status line; a NUL goes out as 0x80 (as imapd's FETCH does).
 * Each replacement is one octet for one octet and each bare LF is counted as two, so what
 * is sent before byte-stuffing is exactly the store's size (RFC822.SIZE), which LIST,
 * STAT and "+OK n octets" report. A line that starts with "." gets another one. */
struct pop_out {
    struct stream *s;
    size_t len;      /* staged in buf */
    uint64_t sent;   /* message octets sent (byte-stuffing not counted) */
    long long lines; /* TOP: body lines still to send; -1 for RETR */
    int bol;         /* the next byte starts a line */
    int empty;       /* the current line is empty so far */
    int in_header;   /* TOP: still in the header */
    int cr;          /* the last input byte was a CR not yet sent */
    char buf[32768];
};

/* out_put - stage n bytes for the client */
static void out_put(struct pop_out *o, const char *p, size_t n)
{
    if (o->len + n > sizeof(o->buf)) {
        stream_write(o->s, o->buf, o->len);
        o->len = 0;
        if (n > sizeof(o->buf)) {
            stream_write(o->s, p, n);
            return;
        }
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

/* out_eol - a line end: CRLF; 1 when TOP has sent all it was asked for */
static int out_eol(struct pop_out *o)
{
    out_put(o, "\r\n", 2);
    o->sent += 2;
    if (o->in_header && o->empty)
        o->in_header = 0; /* the empty line ends the header */
    o->bol = o->empty = 1;
    return o->lines >= 0 && !o->in_header && o->lines-- == 0;
}

/* out_chunk - convert n stored bytes; 1 when TOP is done, else 0 */
static int out_chunk(struct pop_out *o, const char *p, size_t n)
{
    static const char sp = ' ', nul = (char)0x80;
    const char *end = p + n;
    /* stored mail rarely holds a CR that is no line end, or a NUL: then a line is one memchr */
    int plain = memchr(p, '\0', n) == NULL && memchr(p, '\r', n) == NULL;

    while (p < end) {
        const char *q = p;
        if (o->cr) {
            o->cr = 0;
            if (*p == '\n') {
                if (out_eol(o))
                    return 1;
                p++;
                continue;
            }
            out_put(o, &sp, 1);
            o->sent++;
            o->bol = o->empty = 0;
        }
        if (o->bol && *p == '.')
            out_put(o, ".", 1);
        if (plain) {
            q = memchr(p, '\n', (size_t)(end - p));
            if (q == NULL)
                q = end;
        } else {
            while (q < end && *q != '\n' && *q != '\r' && *q != '\0')
                q++;
        }
        if (q > p) {
            out_put(o, p, (size_t)(q - p));
            o->sent += (uint64_t)(q - p);
            o->bol = o->empty = 0;
        }
        if (q == end)
            break;
        p = q + 1;
        if (*q == '\n') {
            if (out_eol(o))
                return 1;
        } else if (*q == '\r') {
            o->cr = 1;
        } else {
            out_put(o, &nul, 1);
            o->sent++;
            o->bol = o->empty = 0;
        }
    }
    return 0;
}

/* send_message - the message (lines < 0) or its header and that many body lines,
 * converted as above and ended by ".". 0 ok, -1 the connection must close (a read
 * error half-way), 1 the message vanished before anything was sent. */
static int send_message(struct popd *p, struct popd_msg *m, long long lines, uint64_t *sent)
{
    struct pop_out *o;
    char buf[65536];
    int fd, r, done = 0;
    ssize_t n = 0;

    *sent = 0;
    r = mstore_msg_open(p->box, m->seq, &fd);
    if (r != MSTORE_OK) {
        popd_reply(p, 0, "%sMessage is no longer available",
                   r == MSTORE_EEXPUNGED ? "" : "[SYS/TEMP] ");
        return 1;
    }
    /* the status line goes out with the first part of the message, not alone */
    if (lines < 0)
        stream_printf(p->s, "+OK %llu octets\r\n", (unsigned long long)m->size);
    else
        stream_puts(p->s, "+OK Top of message follows\r\n");
    o = xmalloc(sizeof(*o));
    memset(o, 0, offsetof(struct pop_out, buf));
    o->s = p->s;
    o->lines = lines;
    o->bol = o->empty = 1;
    o->in_header = lines >= 0;
    while (!done) {
        do
            n = read(fd, buf, sizeof(buf));
        while (n < 0 && errno == EINTR);
        if (n <= 0)
            break;
        done = out_chunk(o, buf, (size_t)n);
    }
    close(fd);
    if (n < 0) {
        log_warn("read message of user=<%s>: %s", str_c(&p->user), strerror(errno));
        free(o);
        return -1;
    }
    if (!done && o->cr) { /* a CR at the very end is no line end either */
        out_put(o, " ", 1);
        o->sent++;
        o->bol = 0;
    }
    if (!o->bol)
        out_put(o, "\r\n", 2); /* the last line had no line end: not part of the size */
    out_put(o, ".\r\n", 3);
    stream_write(p->s, o->buf, o->len);
    *sent = o->sent;
    free(o);
    popd_flush_if_idle(p);
    return stream_error(p->s) == STREAM_OK ? 0 : -1;
}

static void list_one(struct popd *p, uint32_t i, int uidl)
{
    if (uidl) {
        char id[MSTORE_UIDL_MAX];
        mstore_uidl(p->box, p->msgs[i].seq, id);
        stream_printf(p->s, "%u %s\r\n", i + 1, id);
    } else {
        stream_printf(p->s, "%u %llu\r\n", i + 1, (unsigned long long)p->msgs[i].size);
    }
}

/* list - LIST and UIDL, with or without an argument */
static int list(struct popd *p, int argc, char **argv, int uidl)
{
    uint32_t n;
    uint64_t size;
    int keep;

    if (argc == 2) {
        struct popd_msg *m = msgnum(p, argv[1], &keep);
        if (m) {
            uint32_t i = (uint32_t)(m - p->msgs);
            if (uidl) {
                char id[MSTORE_UIDL_MAX];
                mstore_uidl(p->box, m->seq, id);
                popd_reply(p, 1, "%u %s", i + 1, id);
            } else {
                popd_reply(p, 1, "%u %llu", i + 1, (unsigned long long)m->size);
            }
        }
        return keep;
    }
    totals(p, &n, &size);
    if (uidl)
        stream_puts(p->s, "+OK Unique-ID listing follows\r\n");
    else
        stream_printf(p->s, "+OK %u message%s (%llu octets)\r\n", n, n == 1 ? "" : "s",
                      (unsigned long long)size);
    for (uint32_t i = 0; i < p->count; i++)
        if (!p->msgs[i].deleted)
            list_one(p, i, uidl);
    stream_puts(p->s, ".\r\n");
    popd_flush_if_idle(p);
    return 1;
}

/* update - RFC 1939 6: \Seen for what was retrieved, then remove what was deleted */
static int update(struct popd *p, uint32_t *ndel)
{
    uint32_t *seqs = xcalloc((size_t)p->count + 1, sizeof(uint32_t));
    uint32_t *uids = xcalloc((size_t)p->count + 1, sizeof(uint32_t));
    size_t nseen = 0, nuids = 0;
    int r = MSTORE_OK, r2 = MSTORE_OK;

    for (uint32_t i = 0; i < p->count; i++) {
        const struct mstore_msg *m = mstore_msg(p->box, p->msgs[i].seq);
        if (m == NULL)
            continue;
        if (p->msgs[i].deleted)
            uids[nuids++] = m->uid;
        else if (p->msgs[i].retrieved && !(m->flags & MSTORE_F_SEEN))
            seqs[nseen++] = p->msgs[i].seq;
    }
    if (nseen)
        r = mstore_store(p->box, seqs, nseen, MSTORE_STORE_ADD, MSTORE_F_SEEN, NULL, 0, 0, NULL);
    if (nuids)
        r2 = mstore_expunge_uids(p->box, uids, nuids, NULL);
    *ndel = (uint32_t)nuids;
    free(seqs);
    free(uids);
    if (r != MSTORE_OK)
        log_warn("user=<%s>: could not mark retrieved messages seen: %s", str_c(&p->user),
                 mstore_strerror(r));
    return r2;
}

/* transaction - one command; 1 continue, 0 close, -1 QUIT done */
static int transaction(struct popd *p, char **argv, int argc)
{
    const char *cmd = argv[0];
    int keep = 1;
    uint32_t n;
    uint64_t size, sent;

    if (strcasecmp(cmd, "STAT") == 0 && argc == 1) {
        totals(p, &n, &size);
        popd_reply(p, 1, "%u %llu", n, (unsigned long long)size);
    } else if (strcasecmp(cmd, "LIST") == 0 && argc <= 2) {
        keep = list(p, argc, argv, 0);
    } else if (strcasecmp(cmd, "UIDL") == 0 && argc <= 2) {
        keep = list(p, argc, argv, 1);
    } else if (strcasecmp(cmd, "RETR") == 0 && argc == 2) {
        struct popd_msg *m = msgnum(p, argv[1], &keep);
        if (m) {
            int r = send_message(p, m, -1, &sent);
            if (r < 0)
                return 0;
            if (r == 0) {
                m->retrieved = 1;
                p->retr_count++;
                p->retr_bytes += sent;
            }
        }
    } else if (strcasecmp(cmd, "TOP") == 0 && argc == 3) {
        unsigned long long lines;
        struct popd_msg *m;
        if (parse_ulong(argv[2], 0x7fffffffffffffffULL, &lines) < 0 || argv[2][0] == '+')
            return popd_bad(p, "Invalid number of lines");
        if ((m = msgnum(p, argv[1], &keep)) != NULL) {
            int r = send_message(p, m, (long long)lines, &sent);
            if (r < 0)
                return 0;
            if (r == 0) {
                p->top_count++;
                p->top_bytes += sent;
            }
        }
    } else if (strcasecmp(cmd, "DELE") == 0 && argc == 2) {
        struct popd_msg *m = msgnum(p, argv[1], &keep);
        if (m) {
            m->deleted = 1;
            popd_reply(p, 1, "Message %s deleted", argv[1]);
        }
    } else if (strcasecmp(cmd, "RSET") == 0 && argc == 1) {
        for (uint32_t i = 0; i < p->count; i++)
            p->msgs[i].deleted = 0;
        totals(p, &n, &size);
        popd_reply(p, 1, "Maildrop has %u message%s (%llu octets)", n, n == 1 ? "" : "s",
                   (unsigned long long)size);
    } else if (strcasecmp(cmd, "NOOP") == 0 && argc == 1) {
        stream_puts(p->s, "+OK\r\n");
        popd_flush_if_idle(p);
    } else if (strcasecmp(cmd, "CAPA") == 0 && argc == 1) {
        popd_capa(p, 1);
    } else if (strcasecmp(cmd, "QUIT") == 0 && argc == 1) {
        uint32_t ndel = 0, total = p->count;
        int r;
        totals(p, &n, &size);
        r = update(p, &ndel);
        /* the maildrop lock goes before the reply: a client that logs in again at
         * once must not find its own previous session still holding it */
        popd_maildrop_close(p);
        if (r != MSTORE_OK)
            popd_reply(p, 0, "[SYS/TEMP] Some deleted messages were not removed");
        else
            popd_reply(p, 1, "Logging out, %u message%s deleted", ndel, ndel == 1 ? "" : "s");
        stream_flush(p->s);
        log_info("logout: user=<%s>, top=%llu/%llu, retr=%llu/%llu, del=%u/%u, size=%llu",
                 str_c(&p->user), (unsigned long long)p->top_count,
                 (unsigned long long)p->top_bytes, (unsigned long long)p->retr_count,
                 (unsigned long long)p->retr_bytes, ndel, total, (unsigned long long)size);
        return -1;
    } else {
        static const char *known[] = {"STAT", "LIST", "UIDL", "RETR", "TOP", "DELE",
                                      "RSET", "NOOP", "CAPA", "QUIT", NULL};
        for (int i = 0; known[i]; i++)
            if (strcasecmp(cmd, known[i]) == 0)
                return popd_bad(p, "Syntax error in %s", known[i]);
        if (strcasecmp(cmd, "USER") == 0 || strcasecmp(cmd, "PASS") == 0 ||
            strcasecmp(cmd, "APOP") == 0 || strcasecmp(cmd, "AUTH") == 0 ||
            strcasecmp(cmd, "STLS") == 0)
            return popd_bad(p, "Already logged in");
        return popd_bad(p, "Unknown command");
    }
    return keep;
}

void popd_transaction(struct popd *p)
{
    struct str line = STR_INIT;
    size_t limit = (size_t)cfg_size(cfg_main, P_popd_command_line_limit);
    char *argv[4];
    int r, argc;

    for (;;) {
        r = stream_getline(p->s, &line, limit);
        if (r == STREAM_TOOLONG) {
            if (!popd_bad(p, "Command line too long"))
                break;
            continue;
        }
        if (r != STREAM_OK) {
            /* RFC 1939 3: no QUIT, no UPDATE (autologout, a dropped connection) */
            log_info("%s without QUIT: user=<%s>, retr=%llu/%llu, nothing deleted",
                     r == STREAM_TIMEOUT ? "autologout" : "disconnect", str_c(&p->user),
                     (unsigned long long)p->retr_count, (unsigned long long)p->retr_bytes);
            break;
        }
        argc = popd_split(&line, argv, 3);
        if (argc < 0) {
            if (!popd_bad(p, argc == -2 ? "Invalid characters in command" : "Syntax error"))
                break;
            continue;
        }
        r = transaction(p, argv, argc);
        if (r <= 0)
            break;
    }
    stream_flush(p->s);
    str_free(&line);
}
