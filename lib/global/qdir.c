/*
 * qdir.c - the queue directory layout (ARCHITECTURE.md 2)
 *
 * When the system runs as an ordinary user (development, tests) every
 * directory belongs to that user; the modes stay the same.
 *
 * qdir_create runs as root (master, petrel-super -s) on directories whose
 * parents mail_owner may own (deferred/0..f): each directory is opened
 * relative to its parent's descriptor with O_NOFOLLOW and fixed with
 * fchown/fchmod on that descriptor, so a directory swapped for a symbolic
 * link is refused, never followed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "htab.h"
#include "log.h"
#include "proc.h"
#include "qdir.h"

const struct qdir qdir_table[] = {
    {"maildrop", QDIR_OWNER_MAIL, 1, 01730, 0}, {"incoming", QDIR_OWNER_MAIL, 0, 0700, 0},
    {"active", QDIR_OWNER_MAIL, 0, 0700, 0},    {"deferred", QDIR_OWNER_MAIL, 0, 0700, 1},
    {"hold", QDIR_OWNER_MAIL, 0, 0700, 0},      {"corrupt", QDIR_OWNER_MAIL, 0, 0700, 0},
    {"defer", QDIR_OWNER_MAIL, 0, 0700, 1},     {"bounce", QDIR_OWNER_MAIL, 0, 0700, 0},
    {"private", QDIR_OWNER_MAIL, 0, 0700, 0},   {"public", QDIR_OWNER_MAIL, 1, 0710, 0},
    {"pid", QDIR_OWNER_ROOT, 0, 0755, 0},       {NULL, 0, 0, 0, 0},
};

int qdir_ids(const struct cfg *c, struct qdir_ids *ids, struct str *err)
{
    if (geteuid() != 0) {
        ids->root_uid = ids->mail_uid = geteuid();
        ids->root_gid = ids->mail_gid = ids->drop_gid = getegid();
        return 0;
    }
    ids->root_uid = 0;
    ids->root_gid = 0;
    if (proc_user(cfg_str(c, P_mail_owner), &ids->mail_uid, &ids->mail_gid) < 0) {
        str_printf(err, "mail_owner %s: no such user (create it, e.g. useradd --system %s)",
                   cfg_str(c, P_mail_owner), cfg_str(c, P_mail_owner));
        return -1;
    }
    if (ids->mail_uid == 0) {
        str_printf(err, "mail_owner %s has uid 0: it must be an unprivileged user",
                   cfg_str(c, P_mail_owner));
        return -1;
    }
    if (proc_group(cfg_str(c, P_setgid_group), &ids->drop_gid) < 0) {
        str_printf(err, "setgid_group %s: no such group (create it, e.g. groupadd --system %s)",
                   cfg_str(c, P_setgid_group), cfg_str(c, P_setgid_group));
        return -1;
    }
    if (ids->drop_gid == 0) {
        str_printf(err, "setgid_group %s has gid 0: it must be an unprivileged group",
                   cfg_str(c, P_setgid_group));
        return -1;
    }
    return 0;
}

/* want - owner, group and mode a directory should have */
static void want(const struct qdir *d, const struct qdir_ids *ids, uid_t *u, gid_t *g)
{
    *u = d->owner == QDIR_OWNER_ROOT ? ids->root_uid : ids->mail_uid;
    *g = d->drop_group ? ids->drop_gid
                       : (d->owner == QDIR_OWNER_ROOT ? ids->root_gid : ids->mail_gid);
}

/* make_dir - directory name under pfd (path: its name for messages): mkdirat when
 * missing, open it with O_NOFOLLOW, then enforce owner and mode on that descriptor; the
 * open descriptor, or -1 with err */
static int make_dir(int pfd, const char *name, const char *path, uid_t u, gid_t g, mode_t mode,
                    struct str *err)
{
    struct stat st;
    int fd;

    if (mkdirat(pfd, name, mode & 0777) < 0 && errno != EEXIST) {
        str_printf(err, "mkdir %s: %s", path, strerror(errno));
        return -1;
    }
    fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
        str_printf(err, "%s is not a directory%s", path,
                   errno == ELOOP || errno == ENOTDIR ? " (a symbolic link is not followed)" : "");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if ((st.st_uid != u || st.st_gid != g) && fchown(fd, u, g) < 0) {
        str_printf(err, "chown %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if ((st.st_mode & 07777) != mode && fchmod(fd, mode) < 0) {
        str_printf(err, "chmod %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int qdir_create(const char *queue_dir, const struct qdir_ids *ids, struct str *err)
{
    char path[4096], sub[4];
    struct stat st;
    int qfd, rc = 0;

    if (stat(queue_dir, &st) < 0) {
        /* create the queue directory and any missing parents */
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s", queue_dir);
        for (char *p = tmp + 1; *p; p++) {
            if (*p != '/')
                continue;
            *p = '\0';
            if (mkdir(tmp, 0755) < 0 && errno != EEXIST) {
                str_printf(err, "mkdir %s: %s", tmp, strerror(errno));
                return -1;
            }
            *p = '/';
        }
        if ((qfd = make_dir(AT_FDCWD, queue_dir, queue_dir, ids->root_uid, ids->root_gid, 0755,
                            err)) < 0)
            return -1;
        close(qfd);
    }
    /* the queue directory itself is the admin's path (it may be a symlink); below it
     * nothing is followed */
    if ((qfd = open(queue_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        str_printf(err, "open %s: %s", queue_dir, strerror(errno));
        return -1;
    }
    for (const struct qdir *d = qdir_table; d->name && rc == 0; d++) {
        uid_t u;
        gid_t g;
        int dfd;
        want(d, ids, &u, &g);
        snprintf(path, sizeof(path), "%s/%s", queue_dir, d->name);
        if ((dfd = make_dir(qfd, d->name, path, u, g, d->mode, err)) < 0) {
            rc = -1;
            break;
        }
        for (int h = 0; d->hashed && h < 16 && rc == 0; h++) {
            int hfd;
            snprintf(sub, sizeof(sub), "%x", h);
            snprintf(path, sizeof(path), "%s/%s/%x", queue_dir, d->name, h);
            if ((hfd = make_dir(dfd, sub, path, u, g, d->mode, err)) < 0)
                rc = -1;
            else
                close(hfd);
        }
        close(dfd);
    }
    close(qfd);
    return rc;
}

int qdir_check(const char *queue_dir, const struct qdir_ids *ids, struct strlist *problems)
{
    char path[4096], line[4400];
    struct stat st;
    int n = 0;

    if (stat(queue_dir, &st) < 0) {
        snprintf(line, sizeof(line), "%s: queue directory missing (%s); master creates it",
                 queue_dir, strerror(errno));
        strlist_add(problems, line);
        return 1;
    }
    if (st.st_uid != ids->root_uid || (st.st_mode & 0022)) {
        snprintf(line, sizeof(line),
                 "%s: must be owned by uid %ld and not group/world "
                 "writable",
                 queue_dir, (long)ids->root_uid);
        strlist_add(problems, line);
        n++;
    }
    for (const struct qdir *d = qdir_table; d->name; d++) {
        uid_t u;
        gid_t g;
        want(d, ids, &u, &g);
        for (int h = -1; h < (d->hashed ? 16 : 0); h++) {
            if (h < 0)
                snprintf(path, sizeof(path), "%s/%s", queue_dir, d->name);
            else
                snprintf(path, sizeof(path), "%s/%s/%x", queue_dir, d->name, h);
            if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
                snprintf(line, sizeof(line), "%s: missing directory", path);
            } else if (st.st_uid != u || st.st_gid != g || (st.st_mode & 07777) != d->mode) {
                snprintf(line, sizeof(line),
                         "%s: owner %ld:%ld mode %04o, expected %ld:%ld mode %04o", path,
                         (long)st.st_uid, (long)st.st_gid, (unsigned)(st.st_mode & 07777), (long)u,
                         (long)g, (unsigned)d->mode);
            } else {
                continue;
            }
            strlist_add(problems, line);
            n++;
        }
    }
    return n;
}

char qdir_hash(const char *queue_id)
{
    return "0123456789abcdef"[hash_bytes(queue_id, strlen(queue_id)) & 15];
}
