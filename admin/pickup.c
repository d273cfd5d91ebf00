/*
 * pickup.c - move locally submitted mail from maildrop/ into incoming/
 *
 * An event-loop daemon (master.cf: pickup unix n - n 60 1 pickup) that
 * runs as mail_owner. It scans maildrop/ at start, on every trigger on
 * public/pickup (petrel-drop after each submission, master's wake-up
 * every 60 seconds), in slices so that triggers are never starved.
 *
 * A maildrop file is written by an unprivileged user (lib/global/maildrop.h) and
 * read here as hostile input: it must be a regular file with one link,
 * within the size limits, with a valid record structure, a whitelisted
 * attribute set, and sender and recipient addresses of valid syntax. The
 * owner of the file is the submitter (its uid goes into the Received:
 * header and the log). A good file becomes a queue file in incoming/
 * named by the same queue ID, written with the usual commit order: the
 * envelope (addresses in internal form, unqualified ones with
 * @$myorigin), our Received: header, the content with CRLF line ends and
 * the missing Date:, Message-Id: and From: added (pickup_content.c), end
 * record, mode 0700, fsync, rename from incoming/.rw.ID. Only then is qmgr
 * poked and the maildrop file removed (a crash in between delivers the
 * message twice, never zero times). A malformed file is moved to corrupt/
 * with a log line, never deleted. Names starting with '.' are files still
 * being written by petrel-drop and are left alone, except that a .tmp.*
 * file unchanged for stale_queue_file_time (its petrel-drop was killed) is
 * removed with a log line at the next scan (every trigger, and master's
 * wake-up every 60 seconds).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "cfg.h"
#include "htab.h"
#include "log.h"
#include "maildrop.h"
#include "mem.h"
#include "qfile.h"
#include "server.h"
#include "smtp_parse.h"
#include "trigger.h"

#include "pickup.h"

#define SCAN_SLICE 32            /* files per event-loop turn */
#define FULLNAME_MAX 256         /* bytes of a full name for From: */
#define ENVELOPE_SLACK (1 << 20) /* file bytes beyond the content limit */

static struct evloop *ev;
static struct trigger_server *tsrv;
static DIR *scan_dir;
static unsigned long scan_timer;
static int scan_again, qmgr_warned;
static struct htab *stuck; /* files that could be neither taken nor moved: not retried */

static void kick(void);

/* qualify - the internal form of an external address; -1 on bad syntax (why set) */
static int qualify(const char *ext, int null_ok, struct str *out, int *utf8, const char **why)
{
    struct smtp_path p;
    struct str text = STR_INIT;
    const char *t;
    int r;

    smtp_path_init(&p);
    str_printf(&text, "<%s>", ext);
    t = text.s;
    r = smtp_parse_path(&t, SMTP_PATH_UTF8_OK | (null_ok ? SMTP_PATH_NULL_OK : 0), &p, why);
    if (r == SMTP_PATH_OK && *t != '\0') {
        *why = "junk after the address";
        r = SMTP_PATH_SYNTAX;
    }
    if (r == SMTP_PATH_OK) {
        str_cpy(out, str_c(&p.addr));
        if (!p.is_null && p.domain.len == 0)
            str_printf(out, "@%s", cfg_str(cfg_main, P_myorigin));
        if (p.utf8)
            *utf8 = 1;
    }
    smtp_path_free(&p);
    str_free(&text);
    return r == SMTP_PATH_OK ? 0 : -1;
}

/* check_attrs - values of the whitelisted attributes; -1 with why */
static int check_attrs(const struct maildrop_env *env, const char **why)
{
    const char *fullname = maildrop_env_attr(env, "fullname");
    const char *envid = maildrop_env_attr(env, "envid");
    const char *ret = maildrop_env_attr(env, "ret");

    if (fullname && strlen(fullname) > FULLNAME_MAX) {
        *why = "full name too long";
        return -1;
    }
    /* the rules of the ESMTP parameters (RFC 3461 4.3, 4.4), as smtpd applies them */
    if (envid && !smtp_envid_valid(envid)) {
        *why = "bad envelope ID";
        return -1;
    }
    if (ret && smtp_parse_ret(ret) < 0) {
        *why = "bad RET value";
        return -1;
    }
    return 0;
}

/* from_header - the From: value for the sender: "Full Name <addr>", quoted as needed */
static void from_header(const char *sender, const char *fullname, struct str *out)
{
    struct str addr = STR_INIT;

    if (*sender == '\0') {
        str_cat(out, "MAILER-DAEMON");
        return;
    }
    addr_external(sender, &addr);
    if (fullname && *fullname) {
        int plain = 1;
        for (const char *p = fullname; *p && plain; p++)
            if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                  (*p >= '0' && *p <= '9') || strchr(" !#$%&'*+-/=?^_`{|}~", *p) ||
                  (unsigned char)*p >= 0x80))
                plain = 0;
        if (plain) {
            str_printf(out, "%s <%s>", fullname, addr.s);
        } else {
            str_catc(out, '"');
            for (const char *p = fullname; *p; p++) {
                if (*p == '"' || *p == '\\')
                    str_catc(out, '\\');
                str_catc(out, *p);
            }
            str_printf(out, "\" <%s>", addr.s);
        }
    } else {
        str_cat(out, addr.s);
    }
    str_free(&addr);
}

/* move_corrupt - a malformed file goes to corrupt/ (never deleted) */
static void move_corrupt(int dfd, const char *name, long uid, const char *why)
{
    char to[512];

    snprintf(to, sizeof(to), "../corrupt/%s", name);
    for (int i = 1; i < 100; i++) {
        if (renameat2(dfd, name, dfd, to, RENAME_NOREPLACE) == 0) {
            log_warn("%s: malformed maildrop file from uid %ld (%s); moved to corrupt/", name, uid,
                     why);
            return;
        }
        if (errno != EEXIST)
            break;
        snprintf(to, sizeof(to), "../corrupt/%s.%d", name, i);
    }
    log_warn("%s: malformed maildrop file from uid %ld (%s); cannot move it to corrupt/: %s", name,
             uid, why, strerror(errno));
    htab_put(stuck, name, stuck);
}

struct job {
    const char *name;
    int fd;
    struct stat st;
    struct maildrop_reader rd;
    struct maildrop_env env;
    struct str sender;
    struct str *rcpts; /* internal forms of env.rcpts (nrcpts of them allocated) */
    size_t nrcpts;
    int utf8;
};

/* validate - the envelope of an open maildrop file; NULL or the reason it is malformed */
static const char *validate(struct job *j, struct str *err)
{
    struct maildrop_limits lim;
    const char *why = NULL;

    lim.content_max = (uint64_t)cfg_size(cfg_main, P_message_size_limit);
    lim.rcpt_max = (size_t)cfg_int(cfg_main, P_submit_recipient_limit);
    if (!S_ISREG(j->st.st_mode))
        return "not a regular file";
    if (j->st.st_nlink != 1)
        return "more than one link";
    if ((uint64_t)j->st.st_size > lim.content_max * 2 + ENVELOPE_SLACK)
        return "file too large";
    maildrop_reader_init(&j->rd, j->fd, &lim);
    if (maildrop_read_envelope(&j->rd, &j->env, err) < 0)
        return str_c(err);
    if (check_attrs(&j->env, &why) < 0)
        return why;
    if (qualify(j->env.sender, 1, &j->sender, &j->utf8, &why) < 0)
        return "bad sender address syntax";
    j->rcpts = xcalloc(j->env.nrcpts, sizeof(*j->rcpts));
    j->nrcpts = j->env.nrcpts;
    for (size_t i = 0; i < j->env.nrcpts; i++) {
        const char *o = j->env.rcpts[i].orcpt;
        if (qualify(j->env.rcpts[i].addr, 0, &j->rcpts[i], &j->utf8, &why) < 0)
            return "bad recipient address syntax";
        if (*o && !smtp_orcpt_valid(o)) /* RFC 3461 4.2, as smtpd */
            return "bad original recipient";
    }
    return NULL;
}

/* write_envelope - the queue file's envelope from a valid job */
static void write_envelope(struct job *j, struct qfile_writer *w)
{
    struct timeval tv;
    struct htab *seen = htab_create(16);
    struct str key = STR_INIT;
    char num[32];
    const char *v;

    gettimeofday(&tv, NULL);
    qfile_put_time(w, (long long)tv.tv_sec, (long)tv.tv_usec);
    qfile_put_sender(w, j->sender.s);
    snprintf(num, sizeof(num), "%ld", (long)j->st.st_uid);
    qfile_put_attr(w, "uid", num);
    if ((v = maildrop_env_attr(&j->env, "ret")) != NULL)
        qfile_put_attr(w, "ret", smtp_ret_name(smtp_parse_ret(v)));
    if ((v = maildrop_env_attr(&j->env, "envid")) != NULL)
        qfile_put_attr(w, "envid", v);
    if (j->utf8)
        qfile_put_attr(w, "smtputf8", "1");
    for (size_t i = 0; i < j->env.nrcpts; i++) {
        const struct maildrop_rcpt *r = &j->env.rcpts[i];
        str_reset(&key);
        str_printf(&key, "%s\001%s\001%d", j->rcpts[i].s, r->orcpt, r->notify);
        if (htab_get(seen, key.s))
            continue;
        htab_put(seen, key.s, seen);
        qfile_put_rcpt(w, j->rcpts[i].s, *r->orcpt ? r->orcpt : NULL, r->notify, NULL);
    }
    htab_free(seen, NULL);
    str_free(&key);
}

/* received_header - our trace header for a local submission */
static void received_header(struct job *j, const char *id, struct str *h)
{
    str_printf(h, "Received: by %s (%s, from userid %ld)\r\n\tid %s; ",
               cfg_str(cfg_main, P_myhostname), cfg_str(cfg_main, P_mail_name), (long)j->st.st_uid,
               id);
    pickup_date(time(NULL), h);
    str_cat(h, "\r\n");
}

/* write_queue_file - the queue file incoming/ID; 0 done, -1 malformed content (why set),
 * -2 the queue could not be written */
static int write_queue_file(struct job *j, struct str *why)
{
    struct str err = STR_INIT, chunk = STR_INIT, h = STR_INIT, from = STR_INIT;
    struct pickup_content pc;
    struct qfile_writer *w;
    char *path = xasprintf("incoming/%s", j->name);
    int rc = -2, r;

    /* the file keeps the maildrop name (a queue ID unique in the queue file system) */
    if (faccessat(AT_FDCWD, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        w = qfile_create("incoming", &err);
    else
        w = qfile_create_as("incoming", j->name, &err);
    if (w == NULL) {
        log_warn("%s: cannot create a queue file: %s", j->name, str_c(&err));
        goto out;
    }
    write_envelope(j, w);
    qfile_begin_content(w);
    received_header(j, qfile_writer_id(w), &h);
    qfile_write(w, h.s, h.len);
    from_header(j->sender.s, maildrop_env_attr(&j->env, "fullname"), &from);
    pickup_content_init(&pc, w, qfile_writer_id(w), cfg_str(cfg_main, P_myhostname), from.s,
                        (size_t)cfg_size(cfg_main, P_header_size_limit));
    while ((r = maildrop_read_content(&j->rd, &chunk, &err)) > 0)
        pickup_content_feed(&pc, chunk.s, chunk.len);
    pickup_content_end(&pc);
    if (r < 0) {
        str_cpy(why, str_c(&err));
        qfile_writer_free(w);
        pickup_content_free(&pc);
        rc = -1;
        goto out;
    }
    str_reset(&err);
    if (qfile_commit(w, &err) < 0) {
        log_warn("%s: cannot write the queue file: %s", j->name, str_c(&err));
        qfile_writer_free(w);
        pickup_content_free(&pc);
        goto out;
    }
    if (strstr(qfile_writer_path(w), "/.rw.") &&
        renameat2(AT_FDCWD, qfile_writer_path(w), AT_FDCWD, path, RENAME_NOREPLACE) < 0 &&
        (errno != EINVAL || rename(qfile_writer_path(w), path) < 0)) {
        log_warn("%s: rename %s: %s", j->name, qfile_writer_path(w), strerror(errno));
        unlink(qfile_writer_path(w));
        qfile_writer_free(w);
        pickup_content_free(&pc);
        goto out;
    }
    struct passwd *pw = getpwuid(j->st.st_uid);
    log_info("%s: uid=%ld%s%s from=<%s>", qfile_writer_id(w), (long)j->st.st_uid,
             pw ? " user=" : "", pw ? pw->pw_name : "", j->sender.s);
    if (pc.msgid.len)
        log_info("%s: message-id=%s", qfile_writer_id(w), pc.msgid.s);
    qfile_writer_free(w);
    pickup_content_free(&pc);
    rc = 0;
out:
    free(path);
    str_free(&err);
    str_free(&chunk);
    str_free(&h);
    str_free(&from);
    return rc;
}

/* notify_qmgr - new mail in incoming/; a lost trigger only delays it */
static void notify_qmgr(void)
{
    struct str err = STR_INIT;

    if (trigger_send("public/qmgr", "A", 1, &err) < 0 && !qmgr_warned) {
        log_warn("cannot notify qmgr (%s): new mail waits in incoming/ for its next scan",
                 str_c(&err));
        qmgr_warned = 1;
    }
    str_free(&err);
}

/* take - one maildrop file; -1 when the queue cannot be written (stop this scan) */
static int take(int dfd, const char *name)
{
    struct job j;
    struct str err = STR_INIT, why = STR_INIT;
    const char *bad;
    int rc = 0;

    memset(&j, 0, sizeof(j));
    str_init(&j.sender);
    j.name = name;
    j.fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (j.fd < 0) {
        if (errno != ENOENT) {
            struct stat st;
            long uid = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? (long)st.st_uid : -1;
            str_printf(&why, "open: %s", strerror(errno));
            move_corrupt(dfd, name, uid, why.s);
        }
        goto out;
    }
    if (fstat(j.fd, &j.st) < 0) {
        log_warn("%s: fstat: %s", name, strerror(errno));
        goto out;
    }
    if ((bad = validate(&j, &err)) != NULL) {
        move_corrupt(dfd, name, (long)j.st.st_uid, bad);
        goto out;
    }
    int r = write_queue_file(&j, &why);
    if (r == -1) {
        move_corrupt(dfd, name, (long)j.st.st_uid, why.s);
    } else if (r == -2) {
        rc = -1;
    } else {
        notify_qmgr();
        if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
            log_warn("%s: remove maildrop/%s: %s (it may be delivered twice)", name, name,
                     strerror(errno));
    }
out:
    if (j.fd >= 0)
        close(j.fd);
    for (size_t i = 0; i < j.nrcpts; i++)
        str_free(&j.rcpts[i]);
    free(j.rcpts);
    maildrop_env_free(&j.env);
    str_free(&j.sender);
    str_free(&err);
    str_free(&why);
    return rc;
}

/* stale_temp - remove a maildrop/.tmp.* file that petrel-drop left when it was killed
 * (a killed sendmail) once it has not changed for stale_queue_file_time: mail never
 * acknowledged, invisible to mailq. One log line each, with the submitter's uid. The
 * directory is ours (sticky, so we may remove others' files in it); the name is never
 * followed. */
static void stale_temp(int dfd, const char *name)
{
    time_t now = time(NULL), limit = now - (time_t)cfg_time(cfg_main, P_stale_queue_file_time);
    struct stat st;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_mtime >= limit)
        return;
    if (unlinkat(dfd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) == 0)
        log_info("maildrop/%s: removed a stale temporary file (uid=%ld, size=%lld, unchanged "
                 "for %llds): its writer died before the submission was complete",
                 name, (long)st.st_uid, (long long)st.st_size, (long long)(now - st.st_mtime));
    else if (errno != ENOENT)
        log_warn("remove maildrop/%s: %s", name, strerror(errno));
}

/* scan_slice - look at up to n entries of maildrop/; 1 when the pass is over */
static int scan_slice(int n)
{
    struct dirent *de;

    if (scan_dir == NULL && (scan_dir = opendir("maildrop")) == NULL) {
        log_warn("open maildrop/: %s", strerror(errno));
        return 1;
    }
    while (n-- > 0) {
        if ((de = readdir(scan_dir)) == NULL) {
            closedir(scan_dir);
            scan_dir = NULL;
            return 1;
        }
        if (strncmp(de->d_name, ".tmp.", 5) == 0) {
            stale_temp(dirfd(scan_dir), de->d_name);
            continue;
        }
        if (de->d_name[0] == '.' || htab_get(stuck, de->d_name))
            continue;
        if (!qfile_valid_id(de->d_name)) {
            struct stat st;
            long uid = fstatat(dirfd(scan_dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0
                           ? (long)st.st_uid
                           : -1;
            move_corrupt(dirfd(scan_dir), de->d_name, uid, "not a queue ID file name");
            continue;
        }
        if (take(dirfd(scan_dir), de->d_name) < 0) {
            closedir(scan_dir);
            scan_dir = NULL;
            return 1;
        }
    }
    return 0;
}

/* on_scan - one slice from the event loop */
static void on_scan(void *ctx)
{
    (void)ctx;
    scan_timer = 0;
    if (server_stopping())
        return;
    if (scan_slice(SCAN_SLICE)) {
        if (!scan_again)
            return;
        scan_again = 0;
    }
    kick();
}

/* kick - run (or continue) a scan soon */
static void kick(void)
{
    if (scan_timer == 0)
        scan_timer = evloop_timer(ev, 0, on_scan, NULL);
}

/* on_trigger - any request byte on public/pickup means "look again" */
static void on_trigger(int byte, void *ctx)
{
    (void)byte;
    (void)ctx;
    if (scan_dir)
        scan_again = 1;
    kick();
}

static void run(struct evloop *loop, const int *fds, int nfds)
{
    if (nfds < 1)
        log_fatal("pickup needs its trigger socket");
    ev = loop;
    stuck = htab_create(16);
    server_set_busy(1); /* a long-running service */
    tsrv = trigger_server(ev, fds[0], on_trigger, NULL);
    kick();
}

static void on_exit_cb(void)
{
    if (tsrv)
        trigger_server_free(tsrv);
    if (scan_timer)
        evloop_cancel(ev, scan_timer);
    if (scan_dir)
        closedir(scan_dir);
    htab_free(stuck, NULL);
}

int main(int argc, char **argv)
{
    static const struct server_def def = {
        .program = "pickup",
        .event_loop = 1,
        .run = run,
        .on_exit = on_exit_cb,
    };

    return server_main(argc, argv, &def);
}
