/*
 * petrel-super_repair.c - petrel-super -s: check and repair the queue directory
 *
 * Runs as root over directories that mail_owner can change, so it never
 * follows a path: each queue directory is opened component by component
 * with O_NOFOLLOW, entries are judged by fstatat(AT_SYMLINK_NOFOLLOW),
 * files are changed through a descriptor opened with O_NOFOLLOW and checked
 * by fstat (the same inode, one link) with fchown/fchmod, and moves and
 * removals are renameat/unlinkat relative to the directories' descriptors.
 *
 * Run by `petrel start` before master, and by the admin at any time. In
 * the queue directory (the working directory):
 *   - the directories of lib/global/qdir.c with their owners and modes (qdir_create);
 *   - a queue ID used by two files (a queue restored from a backup) is given
 *     anew to the second one (checked only while no qmgr moves files);
 *   - a deferred file or a defer log in the wrong hashed subdirectory (or at
 * the top of deferred/ or defer/) is moved where it belongs;
 *   - a queue file not owned by mail_owner, or complete (end record) with a
 * mode other than 0700, is fixed;
 *   - an incomplete file in incoming/ (mode 0600: smtpd or pickup killed before
 *     its commit, so never acknowledged) older than stale_queue_file_time is
 *     removed, as are temporary files (.tmp.*, .rw.*) of that age;
 *   - anything else that does not belong (a name that is no queue ID, a
 * symlink, a directory, an incomplete file outside incoming/) goes to corrupt/,
 * and so does a queue directory that is not one (deferred/3 replaced by a
 * symbolic link goes to corrupt/deferred.3 and is made anew),
 * never deleted. active/ is left alone while qmgr runs (its files are qmgr's);
 * maildrop/ is only cleaned of stale temporary files (pickup judges the rest).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "htab.h"
#include "log.h"
#include "mem.h"
#include "qdir.h"
#include "qfile.h"
#include "rec.h"
#include "str.h"

#include "petrel-super.h"

struct repair {
    uid_t uid;
    gid_t gid;
    int verbose;
    int fixed, left;
    time_t stale; /* files last changed before this are stale */
};

/* vreport - a repair done (the mail log, and standard error with -v) or a problem that
 * could not be fixed (warning in both), counted */
static void vreport(struct repair *r, int fixed, const char *fmt, va_list ap)
{
    struct str line = STR_INIT;

    str_vprintf(&line, fmt, ap);
    printable(line.s, line.len); /* names in the queue are mail_owner's choice */
    if (fixed) {
        log_info("%s", line.s);
        if (r->verbose)
            fprintf(stderr, "petrel-super: %s\n", line.s);
        r->fixed++;
    } else {
        log_warn("%s", line.s);
        fprintf(stderr, "petrel-super: warning: %s\n", line.s);
        r->left++;
    }
    str_free(&line);
}

/* fix - one repair done */
static void fix(struct repair *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fix(struct repair *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(r, 1, fmt, ap);
    va_end(ap);
}

/* trouble - a problem that could not be fixed */
static void trouble(struct repair *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void trouble(struct repair *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(r, 0, fmt, ap);
    va_end(ap);
}

/* open_qdir - a directory of the queue (relative to the queue directory, the cwd), each
 * component opened with O_NOFOLLOW: a directory mail_owner swapped for a symbolic link is
 * never followed by root; -1 with errno (ELOOP or ENOTDIR for a symlink) */
static int open_qdir(const char *rel)
{
    char buf[64];
    char *p = buf, *slash;
    int fd = AT_FDCWD, next;

    snprintf(buf, sizeof(buf), "%s", rel);
    for (;;) {
        if ((slash = strchr(p, '/')) != NULL)
            *slash = '\0';
        next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd != AT_FDCWD) {
            int saved = errno;
            close(fd);
            errno = saved;
        }
        if (next < 0 || slash == NULL)
            return next;
        fd = next;
        p = slash + 1;
    }
}

/* dir_error - the reason a queue directory could not be opened */
static const char *dir_error(int err)
{
    return err == ELOOP || err == ENOTDIR ? "not a directory (a symbolic link is not followed)"
                                          : strerror(err);
}

/* move_noreplace - renameat without replacing; 0 ok */
static int move_noreplace(int fromfd, const char *from, int tofd, const char *to)
{
    if (renameat2(fromfd, from, tofd, to, RENAME_NOREPLACE) == 0)
        return 0;
    return errno == EINVAL ? renameat(fromfd, from, tofd, to) : -1;
}

/* to_corrupt - what does not belong goes to corrupt/ (never deleted) as corrupt/as: the
 * entry name of directory dfd is renamed, so a symbolic link moves as a link, never
 * followed */
static void to_corrupt(struct repair *r, int dfd, const char *path, const char *name,
                       const char *as, const char *why)
{
    struct str to = STR_INIT;
    int cfd = open_qdir("corrupt");

    for (int i = 0; i < 100 && cfd >= 0; i++) {
        str_reset(&to);
        if (i)
            str_printf(&to, "%s.%d", as, i);
        else
            str_cat(&to, as);
        if (move_noreplace(dfd, name, cfd, to.s) == 0) {
            fix(r, "%s: %s; moved to corrupt/%s", path, why, to.s);
            close(cfd);
            str_free(&to);
            return;
        }
        if (errno != EEXIST)
            break;
    }
    trouble(r, "%s: %s; cannot move it to corrupt/: %s", path, why, strerror(errno));
    if (cfd >= 0)
        close(cfd);
    str_free(&to);
}

/* has_end - the open file ends with the end record (whatever its mode) */
static int has_end(int fd, const struct stat *st)
{
    unsigned char tail[QFILE_HDR];

    return st->st_size >= QFILE_HDR &&
           pread(fd, tail, QFILE_HDR, st->st_size - QFILE_HDR) == QFILE_HDR &&
           tail[0] == QREC_END && rec_length(tail) == 0;
}

/* open_entry - the regular file name of dfd that lstat saw as st, opened with O_NOFOLLOW
 * and checked by fstat (same file, one link: root changes nothing that is also linked
 * elsewhere); -1 after a report */
static int open_entry(struct repair *r, int dfd, const char *path, const char *name,
                      const struct stat *st)
{
    struct stat fst;
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

    if (fd < 0) {
        if (errno != ENOENT)
            trouble(r, "open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode) || fst.st_ino != st->st_ino ||
        fst.st_dev != st->st_dev) {
        trouble(r, "%s: replaced while being checked; left alone", path);
        close(fd);
        return -1;
    }
    if (fst.st_nlink != 1) {
        trouble(r, "%s: has %lu links; left alone", path, (unsigned long)fst.st_nlink);
        close(fd);
        return -1;
    }
    return fd;
}

/* check_file - one queue file (a regular file with a queue ID name) of queue q in directory
 * dfd: owner and mode fixed through a descriptor, never by path */
static void check_file(struct repair *r, const char *q, int dfd, const char *path, const char *name,
                       const struct stat *st)
{
    int complete_mode = (st->st_mode & 0777) == 0700;
    int owner_ok = st->st_uid == r->uid && st->st_gid == r->gid;
    int fd;

    if (owner_ok && complete_mode)
        return;
    if ((fd = open_entry(r, dfd, path, name, st)) < 0)
        return;
    if (!owner_ok) {
        if (fchown(fd, r->uid, r->gid) == 0)
            fix(r, "%s: owner set to mail_owner", path);
        else
            trouble(r, "%s: wrong owner, cannot change it: %s", path, strerror(errno));
    }
    if (!complete_mode) {
        if (strcmp(q, "incoming") == 0 && (st->st_mode & 0777) == 0600) {
            if (st->st_mtime < r->stale) {
                if (unlinkat(dfd, name, 0) == 0)
                    fix(r,
                        "%s: removed a stale incomplete file (a writer died before its commit; "
                        "never acknowledged)",
                        path);
                else
                    trouble(r, "remove %s: %s", path, strerror(errno));
            }
        } else if (has_end(fd, st)) {
            if (fchmod(fd, 0700) == 0)
                fix(r, "%s: mode set to 0700", path);
            else
                trouble(r, "chmod %s: %s", path, strerror(errno));
        } else {
            to_corrupt(r, dfd, path, name, name, "incomplete queue file");
        }
    }
    close(fd);
}

/* rename_dup - a second file with a used queue ID (entry name of dfd, lstat st) gets a new
 * ID (time + inode, lib/global/qfile.h) in the same queue */
static void rename_dup(struct repair *r, int q_deferred, const char *queue, int dfd,
                       const char *path, const char *name, const struct stat *st)
{
    struct timeval tv;
    char id[QFILE_ID_MAX], to_dir[32];
    struct str to = STR_INIT;
    int tofd;

    gettimeofday(&tv, NULL);
    snprintf(id, sizeof(id), "%08llX%05lX%llX", (unsigned long long)tv.tv_sec,
             (unsigned long)tv.tv_usec, (unsigned long long)st->st_ino);
    if (q_deferred)
        snprintf(to_dir, sizeof(to_dir), "deferred/%c", qdir_hash(id));
    else
        snprintf(to_dir, sizeof(to_dir), "%s", queue);
    str_printf(&to, "%s/%s", to_dir, id);
    if ((tofd = open_qdir(to_dir)) < 0)
        trouble(r, "%s: the queue ID is used twice; open %s: %s", path, to_dir, dir_error(errno));
    else if (move_noreplace(dfd, name, tofd, id) == 0)
        fix(r, "%s: the queue ID is used twice; renamed to %s", path, to.s);
    else
        trouble(r, "%s: the queue ID is used twice; rename to %s: %s", path, to.s, strerror(errno));
    if (tofd >= 0)
        close(tofd);
    str_free(&to);
}

/* check_duplicates - a queue ID must be unique in the whole queue (a restored
 * backup may repeat one): a second file with the same name gets a new ID */
static void check_duplicates(struct repair *r)
{
    static const char *const queues[] = {"incoming", "active", "hold", "deferred"};
    struct htab *seen = htab_create(256);
    struct str dir = STR_INIT, path = STR_INIT;

    for (int q = 0; q < 4; q++) {
        for (int sub = 0; sub < (q == 3 ? 16 : 1); sub++) {
            DIR *d;
            struct dirent *de;
            int dfd;
            str_reset(&dir);
            if (q == 3)
                str_printf(&dir, "deferred/%x", sub);
            else
                str_cat(&dir, queues[q]);
            if ((dfd = open_qdir(dir.s)) < 0)
                continue;
            if ((d = fdopendir(dfd)) == NULL) {
                close(dfd);
                continue;
            }
            while ((de = readdir(d)) != NULL) {
                struct stat st;
                if (!qfile_valid_id(de->d_name))
                    continue;
                if (htab_get(seen, de->d_name) == NULL) {
                    htab_put(seen, de->d_name, seen);
                    continue;
                }
                str_reset(&path);
                str_printf(&path, "%s/%s", dir.s, de->d_name);
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                    continue;
                rename_dup(r, q == 3, queues[q], dirfd(d), path.s, de->d_name, &st);
            }
            closedir(d);
        }
    }
    htab_free(seen, NULL);
    str_free(&dir);
    str_free(&path);
}

/* check_entry - one entry name of directory dfd (dir) of queue q (sub: the hash digit or
 * -1) */
static void check_entry(struct repair *r, const char *q, int sub, int temp_only, int dfd,
                        const char *dir, const char *name)
{
    struct str path = STR_INIT;
    struct stat st;

    str_printf(&path, "%s/%s", dir, name);
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        goto out; /* gone meanwhile */
    if (name[0] == '.') {
        if ((strncmp(name, ".tmp.", 5) == 0 || strncmp(name, ".rw.", 4) == 0) &&
            S_ISREG(st.st_mode) && st.st_mtime < r->stale) {
            if (unlinkat(dfd, name, 0) == 0)
                fix(r, "%s: removed a stale temporary file", path.s);
            else
                trouble(r, "remove %s: %s", path.s, strerror(errno));
        }
        goto out;
    }
    if (temp_only)
        goto out;
    if (sub < 0 && strcmp(q, "deferred") == 0 && S_ISDIR(st.st_mode) && strlen(name) == 1 &&
        strchr("0123456789abcdef", name[0]))
        goto out; /* a hash subdirectory */
    if (!qfile_valid_id(name) || !S_ISREG(st.st_mode)) {
        to_corrupt(r, dfd, path.s, name, name,
                   S_ISLNK(st.st_mode)    ? "a symbolic link (not followed)"
                   : !S_ISREG(st.st_mode) ? "not a regular file"
                                          : "not a queue ID name");
        goto out;
    }
    if (strcmp(q, "deferred") == 0 && (sub < 0 || "0123456789abcdef"[sub] != qdir_hash(name))) {
        char to_dir[16];
        int tofd;
        snprintf(to_dir, sizeof(to_dir), "deferred/%c", qdir_hash(name));
        if ((tofd = open_qdir(to_dir)) < 0) {
            trouble(r, "%s: in the wrong place; open %s: %s", path.s, to_dir, dir_error(errno));
        } else if (move_noreplace(dfd, name, tofd, name) == 0) {
            fix(r, "%s: moved to %s/%s", path.s, to_dir, name);
            str_reset(&path);
            str_printf(&path, "%s/%s", to_dir, name);
            check_file(r, q, tofd, path.s, name, &st);
        } else {
            trouble(r, "%s: in the wrong place; rename to %s/%s: %s", path.s, to_dir, name,
                    strerror(errno));
        }
        if (tofd >= 0)
            close(tofd);
        goto out;
    }
    check_file(r, q, dfd, path.s, name, &st);
out:
    str_free(&path);
}

/* check_dir - every entry of one directory of queue q (sub: the hash digit or -1), read
 * through a descriptor opened without following symbolic links */
static void check_dir(struct repair *r, const char *q, int sub, int temp_only)
{
    struct str dir = STR_INIT;
    DIR *d;
    struct dirent *de;
    int dfd;

    if (sub >= 0)
        str_printf(&dir, "%s/%x", q, sub);
    else
        str_cat(&dir, q);
    if ((dfd = open_qdir(dir.s)) < 0 || (d = fdopendir(dfd)) == NULL) {
        if (errno != ENOENT)
            trouble(r, "open %s: %s", dir.s, dir_error(errno));
        if (dfd >= 0)
            close(dfd);
        str_free(&dir);
        return;
    }
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            check_entry(r, q, sub, temp_only, dirfd(d), dir.s, de->d_name);
    closedir(d);
    str_free(&dir);
}

/* check_logs - defer/ logs in the right hashed subdirectory */
static void check_logs(struct repair *r)
{
    struct str dir = STR_INIT, path = STR_INIT;

    for (int sub = -1; sub < 16; sub++) {
        DIR *d;
        struct dirent *de;
        int dfd;
        str_reset(&dir);
        if (sub < 0)
            str_cat(&dir, "defer");
        else
            str_printf(&dir, "defer/%x", sub);
        if ((dfd = open_qdir(dir.s)) < 0)
            continue;
        if ((d = fdopendir(dfd)) == NULL) {
            close(dfd);
            continue;
        }
        while ((de = readdir(d)) != NULL) {
            char to_dir[16];
            int tofd;
            if (!qfile_valid_id(de->d_name) ||
                (sub >= 0 && "0123456789abcdef"[sub] == qdir_hash(de->d_name)))
                continue;
            str_reset(&path);
            str_printf(&path, "%s/%s", dir.s, de->d_name);
            snprintf(to_dir, sizeof(to_dir), "defer/%c", qdir_hash(de->d_name));
            if ((tofd = open_qdir(to_dir)) < 0)
                trouble(r, "%s: in the wrong place; open %s: %s", path.s, to_dir, dir_error(errno));
            else if (move_noreplace(dirfd(d), de->d_name, tofd, de->d_name) == 0)
                fix(r, "%s: moved to %s/%s", path.s, to_dir, de->d_name);
            else
                trouble(r, "%s: in the wrong place; rename to %s/%s: %s", path.s, to_dir,
                        de->d_name, strerror(errno));
            if (tofd >= 0)
                close(tofd);
        }
        closedir(d);
    }
    str_free(&dir);
    str_free(&path);
}

/* check_tree - a queue directory (or hashed subdirectory) that is not a directory, e.g.
 * one that mail_owner replaced by a symbolic link, goes to corrupt/ (as the link itself)
 * so that qdir_create makes it anew */
static void check_tree(struct repair *r)
{
    struct str path = STR_INIT, alias = STR_INIT;
    struct stat st;

    for (const struct qdir *d = qdir_table; d->name; d++) {
        int dfd;
        if (fstatat(AT_FDCWD, d->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
            /* corrupt/ itself replaced: nowhere to move it; qdir_create reports it */
            if (strcmp(d->name, "corrupt") != 0)
                to_corrupt(r, AT_FDCWD, d->name, d->name, d->name, "not a directory");
            continue;
        }
        if (!d->hashed || (dfd = open_qdir(d->name)) < 0)
            continue;
        for (int h = 0; h < 16; h++) {
            char sub[4];
            snprintf(sub, sizeof(sub), "%x", h);
            if (fstatat(dfd, sub, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode))
                continue;
            str_reset(&path);
            str_reset(&alias);
            str_printf(&path, "%s/%s", d->name, sub);
            str_printf(&alias, "%s.%s", d->name, sub);
            to_corrupt(r, dfd, path.s, sub, alias.s,
                       S_ISLNK(st.st_mode) ? "a symbolic link instead of a directory (not followed)"
                                           : "not a directory");
        }
        close(dfd);
    }
    str_free(&path);
    str_free(&alias);
}

int super_repair(int qmgr_running, uid_t mail_uid, gid_t mail_gid, int verbose)
{
    struct repair r;
    struct qdir_ids ids;
    struct str err = STR_INIT;

    memset(&r, 0, sizeof(r));
    r.uid = geteuid() == 0 ? mail_uid : geteuid();
    r.gid = geteuid() == 0 ? mail_gid : getegid();
    r.verbose = verbose;
    r.stale = time(NULL) - (time_t)cfg_time(cfg_main, P_stale_queue_file_time);
    check_tree(&r);
    if (qdir_ids(cfg_main, &ids, &err) < 0 ||
        qdir_create(cfg_str(cfg_main, P_queue_directory), &ids, &err) < 0)
        trouble(&r, "queue directories: %s", err.s);
    check_dir(&r, "maildrop", -1, 1);
    check_dir(&r, "incoming", -1, 0);
    if (!qmgr_running)
        check_dir(&r, "active", -1, 0);
    check_dir(&r, "deferred", -1, 0);
    for (int h = 0; h < 16; h++)
        check_dir(&r, "deferred", h, 0);
    check_dir(&r, "hold", -1, 0);
    check_logs(&r);
    if (!qmgr_running) /* while qmgr runs, a file moving during the walk would
                          look doubled */
        check_duplicates(&r);
    if (r.fixed || r.left)
        fprintf(stderr, "petrel-super: queue check: %d problem%s fixed, %d left\n", r.fixed,
                r.fixed == 1 ? "" : "s", r.left);
    str_free(&err);
    return r.left;
}
