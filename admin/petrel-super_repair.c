/*
 * petrel-super_repair.c - petrel-super -s: check and repair the queue directory
 *
 * Run by `petrel start` before master, and by the admin at any time. In
 * the queue directory (the working directory):
 *   - the directories of lib/qdir.c with their owners and modes (qdir_create);
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

/* move_noreplace - rename without replacing; 0 ok */
static int move_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    return errno == EINVAL ? rename(from, to) : -1;
}

/* to_corrupt - what does not belong goes to corrupt/ (never deleted) */
static void to_corrupt(struct repair *r, const char *path, const char *name, const char *why)
{
    struct str to = STR_INIT;

    for (int i = 0; i < 100; i++) {
        str_reset(&to);
        if (i)
            str_printf(&to, "corrupt/%s.%d", name, i);
        else
            str_printf(&to, "corrupt/%s", name);
        if (move_noreplace(path, to.s) == 0) {
            fix(r, "%s: %s; moved to %s", path, why, to.s);
            str_free(&to);
            return;
        }
        if (errno != EEXIST)
            break;
    }
    trouble(r, "%s: %s; cannot move it to corrupt/: %s", path, why, strerror(errno));
    str_free(&to);
}

/* has_end - the file ends with the end record (whatever its mode) */
static int has_end(const char *path)
{
    unsigned char tail[QFILE_HDR];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), ok = 0;

    if (fd < 0)
        return 0;
    if (fstat(fd, &st) == 0 && st.st_size >= QFILE_HDR &&
        pread(fd, tail, QFILE_HDR, st.st_size - QFILE_HDR) == QFILE_HDR)
        ok = tail[0] == QREC_END && tail[1] == 0 && tail[2] == 0 && tail[3] == 0 && tail[4] == 0;
    close(fd);
    return ok;
}

/* check_file - one queue file (a regular file with a queue ID name) in queue q
 */
static void check_file(struct repair *r, const char *q, const char *path, const char *name,
                       const struct stat *st)
{
    int complete_mode = (st->st_mode & 0777) == 0700;

    if (st->st_uid != r->uid || st->st_gid != r->gid) {
        if (lchown(path, r->uid, r->gid) == 0)
            fix(r, "%s: owner set to mail_owner", path);
        else
            trouble(r, "%s: wrong owner, cannot change it: %s", path, strerror(errno));
    }
    if (!complete_mode) {
        if (strcmp(q, "incoming") == 0 && (st->st_mode & 0777) == 0600) {
            if (st->st_mtime < r->stale) {
                if (unlink(path) == 0)
                    fix(r,
                        "%s: removed a stale incomplete file (a writer died before its commit; "
                        "never acknowledged)",
                        path);
                else
                    trouble(r, "remove %s: %s", path, strerror(errno));
            }
            return; /* a file being written */
        }
        if (has_end(path)) {
            if (chmod(path, 0700) == 0)
                fix(r, "%s: mode set to 0700", path);
            else
                trouble(r, "chmod %s: %s", path, strerror(errno));
        } else {
            to_corrupt(r, path, name, "incomplete queue file");
            return;
        }
    }
}

/* check_duplicates - a queue ID must be unique in the whole queue (a restored
 * backup may repeat one): a second file with the same name gets a new ID (time
 * + inode, lib/qfile.h) */
static void check_duplicates(struct repair *r)
{
    static const char *const queues[] = {"incoming", "active", "hold", "deferred"};
    struct htab *seen = htab_create(256);
    struct str dir = STR_INIT, path = STR_INIT, to = STR_INIT;

    for (int q = 0; q < 4; q++) {
        for (int sub = 0; sub < (q == 3 ? 16 : 1); sub++) {
            DIR *d;
            struct dirent *de;
            str_reset(&dir);
            if (q == 3)
                str_printf(&dir, "deferred/%x", sub);
            else
                str_cat(&dir, queues[q]);
            if ((d = opendir(dir.s)) == NULL)
                continue;
            while ((de = readdir(d)) != NULL) {
                struct timeval tv;
                struct stat st;
                if (!qfile_valid_id(de->d_name))
                    continue;
                if (htab_get(seen, de->d_name) == NULL) {
                    htab_put(seen, de->d_name, seen);
                    continue;
                }
                str_reset(&path);
                str_printf(&path, "%s/%s", dir.s, de->d_name);
                if (lstat(path.s, &st) < 0)
                    continue;
                gettimeofday(&tv, NULL);
                str_reset(&to);
                if (q == 3) {
                    char id[QFILE_ID_MAX];
                    snprintf(id, sizeof(id), "%08llX%05lX%llX", (unsigned long long)tv.tv_sec,
                             (unsigned long)tv.tv_usec, (unsigned long long)st.st_ino);
                    str_printf(&to, "deferred/%c/%s", qdir_hash(id), id);
                } else {
                    str_printf(&to, "%s/%08llX%05lX%llX", queues[q], (unsigned long long)tv.tv_sec,
                               (unsigned long)tv.tv_usec, (unsigned long long)st.st_ino);
                }
                if (move_noreplace(path.s, to.s) == 0)
                    fix(r, "%s: the queue ID is used twice; renamed to %s", path.s, to.s);
                else
                    trouble(r, "%s: the queue ID is used twice; rename to %s: %s", path.s, to.s,
                            strerror(errno));
            }
            closedir(d);
        }
    }
    htab_free(seen, NULL);
    str_free(&dir);
    str_free(&path);
    str_free(&to);
}

/* check_dir - every entry of one directory of queue q (sub: the hash digit or
 * -1) */
static void check_dir(struct repair *r, const char *q, int sub, int temp_only)
{
    struct str dir = STR_INIT, path = STR_INIT;
    DIR *d;
    struct dirent *de;

    if (sub >= 0)
        str_printf(&dir, "%s/%x", q, sub);
    else
        str_cat(&dir, q);
    if ((d = opendir(dir.s)) == NULL) {
        if (errno != ENOENT)
            trouble(r, "open %s: %s", dir.s, strerror(errno));
        str_free(&dir);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        str_reset(&path);
        str_printf(&path, "%s/%s", dir.s, name);
        if (lstat(path.s, &st) < 0)
            continue; /* gone meanwhile */
        if (name[0] == '.') {
            if ((strncmp(name, ".tmp.", 5) == 0 || strncmp(name, ".rw.", 4) == 0) &&
                S_ISREG(st.st_mode) && st.st_mtime < r->stale) {
                if (unlink(path.s) == 0)
                    fix(r, "%s: removed a stale temporary file", path.s);
                else
                    trouble(r, "remove %s: %s", path.s, strerror(errno));
            }
            continue;
        }
        if (temp_only)
            continue;
        if (sub < 0 && strcmp(q, "deferred") == 0 && S_ISDIR(st.st_mode) && strlen(name) == 1 &&
            strchr("0123456789abcdef", name[0]))
            continue; /* a hash subdirectory */
        if (!qfile_valid_id(name) || !S_ISREG(st.st_mode)) {
            to_corrupt(r, path.s, name,
                       !S_ISREG(st.st_mode) ? "not a regular file" : "not a queue ID name");
            continue;
        }
        if (strcmp(q, "deferred") == 0 && (sub < 0 || "0123456789abcdef"[sub] != qdir_hash(name))) {
            struct str to = STR_INIT;
            str_printf(&to, "deferred/%c/%s", qdir_hash(name), name);
            if (move_noreplace(path.s, to.s) == 0) {
                fix(r, "%s: moved to %s", path.s, to.s);
                str_reset(&path);
                str_cat(&path, to.s);
            } else {
                trouble(r, "%s: in the wrong place; rename to %s: %s", path.s, to.s,
                        strerror(errno));
            }
            str_free(&to);
        }
        check_file(r, q, path.s, name, &st);
    }
    closedir(d);
    str_free(&dir);
    str_free(&path);
}

/* check_logs - defer/ logs in the right hashed subdirectory */
static void check_logs(struct repair *r)
{
    struct str dir = STR_INIT, path = STR_INIT, to = STR_INIT;

    for (int sub = -1; sub < 16; sub++) {
        DIR *d;
        struct dirent *de;
        str_reset(&dir);
        if (sub < 0)
            str_cat(&dir, "defer");
        else
            str_printf(&dir, "defer/%x", sub);
        if ((d = opendir(dir.s)) == NULL)
            continue;
        while ((de = readdir(d)) != NULL) {
            if (!qfile_valid_id(de->d_name) ||
                (sub >= 0 && "0123456789abcdef"[sub] == qdir_hash(de->d_name)))
                continue;
            str_reset(&path);
            str_reset(&to);
            str_printf(&path, "%s/%s", dir.s, de->d_name);
            str_printf(&to, "defer/%c/%s", qdir_hash(de->d_name), de->d_name);
            if (move_noreplace(path.s, to.s) == 0)
                fix(r, "%s: moved to %s", path.s, to.s);
            else
                trouble(r, "%s: in the wrong place; rename to %s: %s", path.s, to.s,
                        strerror(errno));
        }
        closedir(d);
    }
    str_free(&dir);
    str_free(&path);
    str_free(&to);
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
    r.stale = time(NULL) - (time_t)cfg_time(cfg_main, "stale_queue_file_time");
    if (qdir_ids(cfg_main, &ids, &err) < 0 ||
        qdir_create(cfg_str(cfg_main, "queue_directory"), &ids, &err) < 0)
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
