/*
 * local_mailbox.c - Maildir and mbox delivery
 *
 * Maildir (the Maildir specification, as also served by popd and imapd),
 * through the one Maildir writer of the mail store (lib/mstore/maildir.h),
 * which owns the name format and the sizes: a file with a unique name is
 * created in tmp/ with O_EXCL, written and fsync'ed, then linked into new/
 * as "<key>,S=<size>,W=<size with CRLF line ends>" (imapd and popd take
 * RFC822.SIZE from W without reading the file) and removed from tmp/; new/
 * is fsync'ed so the name survives a crash before the delivery is
 * reported. The key names the delivery rather than the attempt:
 * "<arrival sec>.M<arrival usec>Q<queue ID>R<recipient record offset>.<host>",
 * the same for every attempt of one recipient of one message, so that an
 * attempt after an agent that was killed between the link and the mark
 * of the recipient (lib/global/deliver.h) finds the name taken and delivers
 * nothing again (as long as no reader moved the file to cur/ meanwhile).
 * Nothing else in the
 * Maildir is touched (readers keep their index files and cur/ there;
 * Maildir++ .Folder subdirectories are left alone). Missing directories
 * are created (mode 0700) and their parents fsync'ed.
 *
 * mbox: opened without following links, refused unless a regular file
 * with one link owned by the recipient, locked (fcntl and/or dotlock per
 * $mailbox_delivery_lock, with $deliver_lock_attempts and stale dotlock
 * removal), appended with a "From " line, ">From " escaping and a final
 * empty line, fsync'ed; on any error the file is truncated back to its
 * old size. Stored files use LF line ends.
 *
 * Both run with the recipient's effective uid/gid (local_become), so every
 * path component is traversed with the recipient's rights and a symlink in
 * their Maildir or home gives them nothing they could not reach anyway.
 * Root acts only in a spool directory the recipient cannot write: it
 * creates the mbox with O_CREAT|O_EXCL|O_NOFOLLOW and gives that
 * descriptor away with fchown, and makes or removes the dotlock; nothing
 * is ever chmod'ed or chown'ed by name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "cfg.h"
#include "fileio.h"
#include "log.h"
#include "maildir.h"
#include "mem.h"

#include "local.h"

#define OUT_CHUNK 65536

struct writer {
    int fd;
    struct maildir_file *mf; /* when not NULL, the output instead of fd */
    struct str buf;
    long long total;
    long long limit;
    int err; /* errno of a failed write, or -2 over the limit */
};

/* w_flush - write the buffer out */
static void w_flush(struct writer *w)
{
    size_t off = 0;

    if (w->mf && w->err == 0 && maildir_write(w->mf, w->buf.s, w->buf.len) < 0)
        w->err = errno ? errno : EIO;
    while (w->mf == NULL && w->err == 0 && off < w->buf.len) {
        ssize_t n = write(w->fd, w->buf.s + off, w->buf.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            w->err = errno ? errno : EIO;
        else
            off += (size_t)n;
    }
    str_reset(&w->buf);
}

/* w_put - buffer bytes, enforcing the limit */
static void w_put(struct writer *w, const char *p, size_t n)
{
    if (w->err)
        return;
    w->total += (long long)n;
    if (w->limit > 0 && w->total > w->limit) {
        w->err = -2;
        return;
    }
    str_catn(&w->buf, p, n);
    if (w->buf.len >= OUT_CHUNK)
        w_flush(w);
}

/* header_text - an address for a header line: control bytes (line breaks) become '?' */
static void header_text(struct str *out, const char *v)
{
    for (; *v; v++)
        str_catc(out, (unsigned char)*v < 0x20 || *v == 0x7f ? '?' : *v);
}

/* header_addr - header_text of an internal address in its external form */
static void header_addr(struct str *out, const char *addr)
{
    struct str ext = STR_INIT;

    addr_external(addr, &ext);
    header_text(out, str_c(&ext));
    str_free(&ext);
}

int local_copy(struct local_req *lr, int fd, struct maildir_file *mf, const char *rcpt, int flags,
               long long limit, long long *written)
{
    const struct deliver_request *req = lr->req;
    struct writer w = {fd, mf, STR_INIT, 0, limit, 0};
    struct qfile_content c;
    struct str chunk = STR_INIT, err = STR_INIT, hdr = STR_INIT;
    static const char from_[] = "From ";
    char held[8];
    size_t nheld = 0;
    int bol = 1, cr = 0, last = '\n', r = 0;

    if (flags & LC_FROM_LINE) {
        time_t now = time(NULL);
        char date[64];
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
        str_cat(&hdr, "From ");
        header_addr(&hdr, req->sender[0] ? req->sender : "MAILER-DAEMON");
        str_printf(&hdr, "  %s\n", date);
    }
    str_cat(&hdr, "Return-Path: <");
    header_addr(&hdr, req->sender);
    str_cat(&hdr, ">\n");
    if (flags & LC_DELIVERED_TO) {
        str_cat(&hdr, "Delivered-To: ");
        header_text(&hdr, rcpt);
        str_cat(&hdr, "\n");
    }
    w_put(&w, hdr.s, hdr.len);
    qfile_content_init(&c, lr->qfd, &lr->env);
    while (w.err == 0 && (r = qfile_content_next(&c, &chunk, &err)) > 0) {
        for (size_t i = 0; i < chunk.len && w.err == 0;) {
            char ch = chunk.s[i];
            if (cr) { /* CRLF becomes LF; a lone CR stays */
                cr = 0;
                if (ch != '\n') {
                    w_put(&w, "\r", 1);
                    bol = 0;
                }
            }
            if (ch == '\r') {
                cr = 1;
                i++;
                continue;
            }
            if (bol && (flags & LC_QUOTE_FROM)) { /* a line start: "From " becomes ">From " */
                if (ch == from_[nheld]) {
                    held[nheld++] = ch;
                    i++;
                    if (nheld == 5) {
                        w_put(&w, ">From ", 6);
                        nheld = 0;
                        bol = 0;
                        last = ' ';
                    }
                    continue;
                }
                if (nheld) {
                    w_put(&w, held, nheld);
                    nheld = 0;
                }
            }
            /* the rest of the line in one piece, up to and including its LF */
            size_t j = i;
            while (j < chunk.len && chunk.s[j] != '\r' && chunk.s[j] != '\n')
                j++;
            if (j < chunk.len && chunk.s[j] == '\n')
                j++;
            if (j == i) /* a CR is next: handled on the next turn */
                continue;
            w_put(&w, chunk.s + i, j - i);
            last = chunk.s[j - 1];
            bol = last == '\n';
            i = j;
        }
    }
    if (nheld) {
        w_put(&w, held, nheld);
        last = held[nheld - 1];
    }
    if (cr) {
        w_put(&w, "\r", 1);
        last = '\r';
    }
    if (last != '\n')
        w_put(&w, "\n", 1);
    if (flags & LC_BLANK_LINE)
        w_put(&w, "\n", 1);
    if (w.err == 0)
        w_flush(&w);
    *written = w.total;
    str_free(&w.buf);
    str_free(&chunk);
    str_free(&hdr);
    if (r < 0 && w.err == 0) {
        log_warn("%s: cannot read the queue file: %s", req->queue_id, str_c(&err));
        str_free(&err);
        errno = EIO;
        return -1;
    }
    str_free(&err);
    if (w.err == -2)
        return -2;
    if (w.err) {
        errno = w.err;
        return -1;
    }
    return 0;
}

/* fail_errno - a deferral for a system error, with a line for the admin */
static void fail_errno(struct local_req *lr, struct local_status *st, int e, const char *what,
                       const char *path)
{
    const char *dsn = e == ENOSPC ? "4.3.1" : e == EDQUOT ? "4.2.2" : "4.2.0";

    log_warn("%s: %s %s: %s", lr->req->queue_id, what, path, strerror(e));
    local_status_set(st, DELIVER_DEFERRED, dsn, "cannot %s %s: %s", what, path, strerror(e));
}

/* make_dirs - create path and its missing parents (0700), fsync'ing each parent */
static int make_dirs(const char *path)
{
    char *p = xstrdup(path);
    int rc = 0;

    for (char *s = p + 1; rc == 0; s++) {
        char save = *s;
        if (*s != '/' && *s != '\0')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) == 0) {
            char *slash = strrchr(p, '/');
            if (slash && slash != p) {
                *slash = '\0';
                fileio_fsync_dir(p);
                *slash = '/';
            }
        } else if (errno != EEXIST) {
            rc = -1;
        }
        *s = save;
        if (save == '\0')
            break;
        while (s[1] == '/')
            s++;
    }
    free(p);
    return rc;
}

/* delivery_key - the base name of this delivery (arrival time, queue ID, recipient record),
 * the same for each attempt; NULL (a unique name) when the request has none */
static const char *delivery_key(struct str *out, const struct local_req *lr)
{
    struct str key = STR_INIT;

    if (lr->rcpt_offset <= 0 || !qfile_valid_id(lr->req->queue_id))
        return NULL;
    str_printf(&key, "Q%sR%lld", lr->req->queue_id, lr->rcpt_offset);
    maildir_keyed(out, lr->env.arrival_sec, lr->env.arrival_usec, str_c(&key));
    str_free(&key);
    return str_c(out);
}

void local_maildir(struct local_req *lr, const char *dir, const char *rcpt, long long limit,
                   struct local_status *st)
{
    struct str key = STR_INIT, sub = STR_INIT;
    struct maildir_file *mf;
    struct stat sb;
    long long size = 0;
    const char *what, *path;
    int r;

    str_printf(&sub, "%snew", dir);
    if (stat(sub.s, &sb) < 0) {
        static const char *subs[] = {"tmp", "new", "cur"};
        for (int i = 0; i < 3; i++) {
            str_reset(&sub);
            str_printf(&sub, "%s%s", dir, subs[i]);
            if (make_dirs(sub.s) < 0) {
                fail_errno(lr, st, errno, "create maildir", sub.s);
                goto out;
            }
        }
        fileio_fsync_dir(dir);
    }
    if (maildir_create(dir, 0, &mf) < 0) {
        str_reset(&sub);
        str_printf(&sub, "%stmp", dir);
        fail_errno(lr, st, errno, "create maildir file in", sub.s);
        goto out;
    }
    r = local_copy(lr, -1, mf, rcpt, LC_DELIVERED_TO, limit, &size);
    if (r == 0 && maildir_finish(mf) < 0)
        r = -1;
    if (r < 0) {
        if (r == -2)
            local_status_set(st, DELIVER_BOUNCED, "5.2.2",
                             "message is larger than the mailbox size limit (%lld bytes)", limit);
        else
            fail_errno(lr, st, errno, "write maildir file", maildir_tmp_path(mf));
        maildir_free(mf);
        goto out;
    }
    r = maildir_deliver(mf, delivery_key(&key, lr));
    if (r < 0) {
        what = maildir_failed(mf, &path);
        fail_errno(lr, st, errno, what, path);
    } else if (r == 1) {
        local_status_set(st, DELIVER_SENT, "2.0.0",
                         "delivered to maildir (by an earlier "
                         "attempt: the file was there)");
    } else {
        local_status_set(st, DELIVER_SENT, "2.0.0", "delivered to maildir");
    }
    maildir_free(mf);
out:
    str_free(&key);
    str_free(&sub);
}

/* lock_fcntl - an exclusive fcntl lock with retries; 0 or -1 */
static int lock_fcntl(int fd)
{
    long long tries = cfg_int(cfg_main, P_deliver_lock_attempts);
    long long delay = cfg_time(cfg_main, P_deliver_lock_delay);
    struct flock fl;

    for (long long i = 0; i < tries; i++) {
        memset(&fl, 0, sizeof(fl));
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        if (fcntl(fd, F_SETLK, &fl) == 0)
            return 0;
        if (errno != EAGAIN && errno != EACCES && errno != EINTR)
            return -1;
        if (i + 1 < tries)
            sleep((unsigned)delay);
    }
    errno = EAGAIN;
    return -1;
}

/* dotlock_try - create path.lock once; 0, or -1 with errno (EEXIST: held) */
static int dotlock_try(const char *lock, int as_root_too)
{
    int fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

    if (fd < 0 && errno == EACCES && as_root_too && local_is_root()) {
        uid_t eu = geteuid();
        gid_t eg = getegid();
        if (seteuid(0) == 0) { /* spool directories are writable by root only */
            fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
            int e = errno;
            if (setegid(eg) < 0 || seteuid(eu) < 0)
                log_fatal("cannot return to uid %ld: %s", (long)eu, strerror(errno));
            errno = e;
        }
    }
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

/* dotlock - path.lock with retries and stale-lock removal; 0 or -1 */
static int dotlock(const char *lock, int in_spool)
{
    long long tries = cfg_int(cfg_main, P_deliver_lock_attempts);
    long long delay = cfg_time(cfg_main, P_deliver_lock_delay);
    long long stale = cfg_time(cfg_main, P_stale_lock_time);
    struct stat sb;

    for (long long i = 0; i < tries; i++) {
        if (dotlock_try(lock, in_spool) == 0)
            return 0;
        if (errno != EEXIST)
            return -1;
        if (stat(lock, &sb) == 0 && time(NULL) - sb.st_mtime > stale) {
            log_warn("removing stale lock file %s", lock);
            unlink(lock);
            continue;
        }
        if (i + 1 < tries)
            sleep((unsigned)delay);
    }
    errno = EAGAIN;
    return -1;
}

/* dotunlock - remove our dotlock (as root when it was made as root) */
static void dotunlock(const char *lock)
{
    if (unlink(lock) < 0 && errno == EACCES && local_is_root()) {
        uid_t eu = geteuid();
        gid_t eg = getegid();
        if (seteuid(0) == 0) {
            unlink(lock);
            if (setegid(eg) < 0 || seteuid(eu) < 0)
                log_fatal("cannot return to uid %ld: %s", (long)eu, strerror(errno));
        }
    }
}

/* how an mbox (or /file destination) is opened: never through a final symlink, never
 * waiting (a FIFO without a reader fails with ENXIO instead of hanging the agent), never
 * becoming a controlling terminal; the caller judges the descriptor by fstat */
#define MBOX_OPEN (O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)

/* open_mbox - open or create the mbox file; -1 with errno */
static int open_mbox(const char *path, const struct local_priv *owner, int in_spool)
{
    int fd = open(path, MBOX_OPEN);

    if (fd >= 0 || errno != ENOENT)
        return fd;
    fd = open(path, MBOX_OPEN | O_CREAT | O_EXCL, 0600);
    if (fd >= 0 || errno != EACCES || !in_spool || !local_is_root() || owner == NULL)
        return fd;
    /* a spool directory writable by root only: create as root, then give it away */
    uid_t eu = geteuid();
    gid_t eg = getegid();
    if (seteuid(0) < 0)
        return -1;
    fd = open(path, MBOX_OPEN | O_CREAT | O_EXCL, 0600);
    int e = errno;
    if (fd >= 0 && fchown(fd, owner->uid, owner->gid) < 0) {
        e = errno;
        close(fd);
        unlink(path);
        fd = -1;
    }
    if (setegid(eg) < 0 || seteuid(eu) < 0)
        log_fatal("cannot return to uid %ld: %s", (long)eu, strerror(errno));
    errno = e;
    return fd;
}

void local_mbox(struct local_req *lr, const char *path, const char *rcpt, long long limit,
                const struct local_priv *owner, int in_spool, int flags, struct local_status *st)
{
    struct strlist locks = STRLIST_INIT;
    struct str lock = STR_INIT;
    struct stat sb;
    long long size = 0;
    int fd, r, use_dot = 0, use_fcntl = 0, dotted = 0;

    cfg_list(cfg_main, P_mailbox_delivery_lock, &locks);
    use_dot = strlist_find(&locks, "dotlock", 1) >= 0;
    use_fcntl = strlist_find(&locks, "fcntl", 1) >= 0;
    strlist_free(&locks);
    fd = open_mbox(path, owner, in_spool);
    if (fd < 0) {
        fail_errno(lr, st, errno, "open mailbox", path);
        return;
    }
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_nlink != 1 ||
        (local_is_root() && owner && sb.st_uid != owner->uid)) {
        log_warn("%s: mailbox %s is not a regular file with one link owned by the recipient",
                 lr->req->queue_id, path);
        local_status_set(st, DELIVER_DEFERRED, "4.2.0", "mailbox %s: bad file type or owner", path);
        close(fd);
        return;
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
        fail_errno(lr, st, errno, "open mailbox", path);
        close(fd);
        return;
    }
    str_printf(&lock, "%s.lock", path);
    if (use_dot) {
        if (dotlock(lock.s, in_spool) < 0) {
            fail_errno(lr, st, errno, "lock mailbox (dotlock)", path);
            goto out;
        }
        dotted = 1;
    }
    if (use_fcntl && lock_fcntl(fd) < 0) {
        fail_errno(lr, st, errno, "lock mailbox (fcntl)", path);
        goto out;
    }
    if (fstat(fd, &sb) < 0) {
        fail_errno(lr, st, errno, "stat mailbox", path);
        goto out;
    }
    r = local_copy(lr, fd, NULL, rcpt, flags,
                   limit > 0 ? (limit > sb.st_size ? limit - sb.st_size : 1) : 0, &size);
    if (r == 0 && fsync(fd) < 0)
        r = -1;
    if (r < 0) {
        int e = errno;
        if (ftruncate(fd, sb.st_size) < 0)
            log_warn("%s: cannot truncate %s back to %lld bytes: %s", lr->req->queue_id, path,
                     (long long)sb.st_size, strerror(errno));
        if (r == -2)
            local_status_set(st, DELIVER_BOUNCED, "5.2.2",
                             "cannot update mailbox %s: mailbox size limit (%lld bytes) exceeded",
                             path, limit);
        else
            fail_errno(lr, st, e, "write mailbox", path);
        goto out;
    }
    local_status_set(st, DELIVER_SENT, "2.0.0", "%s",
                     (flags & LC_FROM_LINE) && owner ? "delivered to mailbox" : "delivered");
out:
    close(fd); /* releases the fcntl lock */
    if (dotted)
        dotunlock(lock.s);
    str_free(&lock);
}
