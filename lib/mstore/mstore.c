/*
 * mstore.c - the virtual mail store: users, Maildir++ folders, subscriptions
 *
 * A user's store is the Maildir named by virtual_mailbox_maps under
 * virtual_mailbox_base. Folder "A.B" is the sub-Maildir ".A.B" of it (the
 * Maildir++ layout), marked by an empty "maildirfolder" file. A parent
 * level without its own directory is a \Noselect name. Folder-tree changes
 * (CREATE, DELETE, RENAME) and the subscriptions file are serialised by a
 * lock on byte MS_LOCK_TREE of the root's petrel.lock. See mstore.h.
 *
 * The top of the store: STATUS and RENAME INBOX go through the views
 * (mstore_box.c) and MOVE (mstore_copy.c); the naming rules and the
 * name-to-directory mapping are mstore_name.c's. Nothing in the store calls
 * back into this file.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "htab.h"
#include "log.h"
#include "map.h"
#include "mem.h"
#include "proc.h"

#include "maildir.h"
#include "mstore_impl.h"
#include "mstore_lock.h"
#include "mstore_name.h"

/* ---- users ----------------------------------------------------------------------- */

int mstore_user_path(const char *user, struct str *path, struct str *err)
{
    static struct maps *vmaps;
    const char *base = cfg_str(cfg_main, P_virtual_mailbox_base);
    struct str v = STR_INIT;
    int r;

    if (vmaps == NULL && (vmaps = maps_open_param(P_virtual_mailbox_maps, err)) == NULL)
        return MSTORE_ETEMP;
    r = maps_lookup(vmaps, user, &v);
    if (r == MAP_NOTFOUND) {
        str_free(&v);
        return MSTORE_ENOTFOUND;
    }
    if (r == MAP_ERROR) {
        str_printf(err, "virtual_mailbox_maps: %s", maps_error_text(vmaps));
        str_free(&v);
        return MSTORE_ETEMP;
    }
    r = MSTORE_OK;
    if (base[0] != '/' || v.len < 2 || v.s[0] == '/' || v.s[v.len - 1] != '/' ||
        strstr(v.s, "..") || strstr(v.s, "//") || strcspn(v.s, "\t\r\n :") != v.len) {
        str_printf(err,
                   "bad virtual mailbox path '%s' for %s (must be relative to "
                   "virtual_mailbox_base '%s' and end in '/')",
                   str_c(&v), user, base);
        r = MSTORE_ETEMP;
    } else {
        str_reset(path);
        str_printf(path, "%s/%.*s", base, (int)(v.len - 1), v.s);
    }
    str_free(&v);
    return r;
}

/* static_id - the value of a list parameter that must be one static: table */
static int static_id(enum cfg_list_param param, int is_group, unsigned long *id, struct str *err)
{
    struct strlist l = STRLIST_INIT;
    const char *v;
    unsigned long long n;
    int rc = -1;

    cfg_list(cfg_main, param, &l);
    if (l.n != 1 || strncmp(l.v[0], "static:", 7) != 0 || l.v[0][7] == '\0') {
        str_printf(err, "%s must be one static: table (e.g. static:5000)", cfg_name(param));
        goto out;
    }
    v = l.v[0] + 7;
    if (parse_ulong(v, 0x7fffffffULL, &n) == 0) {
        *id = (unsigned long)n;
        rc = 0;
    } else if (!is_group) {
        struct passwd *pw = getpwnam(v);
        if (pw) {
            *id = pw->pw_uid;
            rc = 0;
        }
    } else {
        struct group *gr = getgrnam(v);
        if (gr) {
            *id = gr->gr_gid;
            rc = 0;
        }
    }
    if (rc < 0)
        str_printf(err, "%s: unknown %s '%s'", cfg_name(param), is_group ? "group" : "user", v);
    else if (*id == 0) {
        str_printf(err, "%s: the mail store must not be owned by root", cfg_name(param));
        rc = -1;
    }
out:
    strlist_free(&l);
    return rc;
}

int mstore_vmail_ids(uid_t *uid, gid_t *gid, struct str *err)
{
    unsigned long u, g;

    if (static_id(P_virtual_uid_maps, 0, &u, err) < 0 ||
        static_id(P_virtual_gid_maps, 1, &g, err) < 0)
        return -1;
    *uid = (uid_t)u;
    *gid = (gid_t)g;
    return 0;
}

void mstore_become_owner(const char *prog)
{
    struct str err = STR_INIT;
    uid_t uid;
    gid_t gid;

    if (mstore_vmail_ids(&uid, &gid, &err) < 0) {
        if (geteuid() == 0)
            log_fatal("%s will not serve as root: %s", prog, str_c(&err));
        log_warn("%s; serving as uid %ld", str_c(&err), (long)geteuid());
    } else if (geteuid() == 0) {
        proc_drop_privs(NULL, uid, gid);
    } else if (geteuid() != uid) {
        log_warn("running as uid %ld, not as the mail store owner %ld (virtual_uid_maps): "
                 "mailboxes may be unreadable",
                 (long)geteuid(), (long)uid);
    }
    str_free(&err);
}

/* ---- directories ---------------------------------------------------------------------- */

static int ms_make_maildir(const char *path, int folder)
{
    static const char *subs[] = {"tmp", "new", "cur"};
    char *p;

    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return -1;
    for (int i = 0; i < 3; i++) {
        p = xasprintf("%s/%s", path, subs[i]);
        if (mkdir(p, 0700) < 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        free(p);
    }
    if (folder) {
        int fd;
        p = xasprintf("%s/maildirfolder", path);
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        free(p);
        if (fd < 0)
            return -1;
        close(fd);
    }
    return 0;
}

/* mkdir_parents - create the directories above path (mode 0700) */
static int mkdir_parents(const char *path)
{
    char *p = xstrdup(path);

    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *s = '/';
    }
    free(p);
    return 0;
}

static int ms_tree_lock(const struct mstore *st, int *fd)
{
    *fd = ms_open_lockfile(st->root);
    if (*fd < 0)
        return -1;
    if (ms_lock(*fd, MS_LOCK_TREE, F_WRLCK, 1) < 0) {
        log_warn("lock %s: %s", st->root, strerror(errno));
        close(*fd);
        *fd = -1;
        return -1;
    }
    return 0;
}

static void ms_tree_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}

/* ---- subscriptions --------------------------------------------------------------------- */

static int read_subs(const struct mstore *st, struct strlist *out)
{
    char *p = xasprintf("%s/" MS_SUBS_FILE, st->root);
    FILE *f = fopen(p, "re");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    free(p);
    if (f == NULL)
        return errno == ENOENT ? 0 : -1;
    while ((n = getline(&line, &cap, f)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n > 0 && strlist_find(out, line, 0) < 0 && mstore_name_ok(line, NULL))
            strlist_add(out, line);
    }
    free(line);
    fclose(f);
    return 0;
}

static int write_subs(const struct mstore *st, const struct strlist *l)
{
    char *p = xasprintf("%s/" MS_SUBS_FILE, st->root);
    char *tmp = xasprintf("%s.tmp", p);
    FILE *f = fopen(tmp, "we");
    int rc = 0;

    if (f == NULL)
        rc = -1;
    else {
        for (size_t i = 0; i < l->n; i++)
            fprintf(f, "%s\n", l->v[i]);
        if (fflush(f) != 0 || fsync(fileno(f)) < 0)
            rc = -1;
        if (fclose(f) != 0)
            rc = -1;
        if (rc == 0 && rename(tmp, p) < 0)
            rc = -1;
    }
    if (rc < 0) {
        log_warn("write %s: %s", p, strerror(errno));
        unlink(tmp);
    }
    free(p);
    free(tmp);
    return rc;
}

int mstore_subscribe(struct mstore *st, const char *name, int on)
{
    struct strlist l = STRLIST_INIT;
    struct str norm = STR_INIT;
    long k;
    int fd, r = MSTORE_OK;

    if (!mstore_name_ok(name, &norm)) {
        str_free(&norm);
        return MSTORE_EBADNAME;
    }
    if (ms_tree_lock(st, &fd) < 0) {
        str_free(&norm);
        return MSTORE_ETEMP;
    }
    if (read_subs(st, &l) < 0)
        r = MSTORE_ETEMP;
    else {
        k = strlist_find(&l, str_c(&norm), 0);
        if (on && k < 0) {
            strlist_add(&l, str_c(&norm));
            r = write_subs(st, &l) < 0 ? MSTORE_ETEMP : MSTORE_OK;
        } else if (!on && k >= 0) {
            free(l.v[k]);
            memmove(&l.v[k], &l.v[k + 1], (l.n - (size_t)k) * sizeof(char *));
            l.n--;
            r = write_subs(st, &l) < 0 ? MSTORE_ETEMP : MSTORE_OK;
        }
    }
    ms_tree_unlock(fd);
    strlist_free(&l);
    str_free(&norm);
    return r;
}

/* ---- opening a store --------------------------------------------------------------------- */

/* new_user - first use of a store: the special-use folders, subscribed */
static void new_user(struct mstore *st)
{
    struct strlist subs = STRLIST_INIT;
    struct str path = STR_INIT;
    char *sp = xasprintf("%s/" MS_SUBS_FILE, st->root);
    int fd;

    if (ms_tree_lock(st, &fd) < 0) {
        free(sp);
        return;
    }
    if (access(sp, F_OK) < 0) {
        strlist_add(&subs, "INBOX");
        const char *name;
        for (size_t i = 0; (name = ms_special_name(i)) != NULL; i++) {
            ms_box_path(st, name, &path);
            if (ms_make_maildir(str_c(&path), 1) < 0)
                log_warn("create %s: %s", str_c(&path), strerror(errno));
            strlist_add(&subs, name);
        }
        write_subs(st, &subs);
    }
    ms_tree_unlock(fd);
    strlist_free(&subs);
    str_free(&path);
    free(sp);
}

int mstore_open(const char *maildir, int flags, struct mstore **out, struct str *err)
{
    struct mstore *st;
    char *cur = xasprintf("%s/cur", maildir);
    char *subs;

    *out = NULL;
    if (!ms_is_dir(cur)) {
        if (!(flags & MSTORE_CREATE)) {
            free(cur);
            return MSTORE_ENOTFOUND;
        }
        if (mkdir_parents(maildir) < 0 || ms_make_maildir(maildir, 0) < 0) {
            str_printf(err, "create Maildir %s: %s", maildir, strerror(errno));
            free(cur);
            return MSTORE_ETEMP;
        }
    }
    free(cur);
    st = xcalloc(1, sizeof(*st));
    st->root = xstrdup(maildir);
    if (flags & MSTORE_CREATE) {
        subs = xasprintf("%s/" MS_SUBS_FILE, maildir);
        if (access(subs, F_OK) < 0)
            new_user(st);
        free(subs);
    }
    *out = st;
    return MSTORE_OK;
}

void mstore_close(struct mstore *st)
{
    if (st == NULL)
        return;
    free(st->root);
    free(st);
}

/* ---- LIST and LSUB -------------------------------------------------------------------------- */

static int cmp_folder(const void *a, const void *b)
{
    const struct mstore_folder *x = a, *y = b;
    if (strcmp(x->name, "INBOX") == 0)
        return -1;
    if (strcmp(y->name, "INBOX") == 0)
        return 1;
    return strcmp(x->name, y->name);
}

static void folders_add(struct mstore_folders *f, const char *name, int attrs)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 16;
        f->v = xreallocarray(f->v, f->cap, sizeof(*f->v));
    }
    f->v[f->n].name = xstrdup(name);
    f->v[f->n].attrs = attrs;
    f->n++;
}

void mstore_folders_free(struct mstore_folders *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].name);
    free(f->v);
    memset(f, 0, sizeof(*f));
}

int mstore_list(struct mstore *st, struct mstore_folders *out)
{
    struct strlist dirs = STRLIST_INIT, subs = STRLIST_INIT;
    struct htab *seen = htab_create(64);
    static int present = 1, implied = 2;

    memset(out, 0, sizeof(*out));
    if (ms_folder_dirs(st, &dirs) < 0) {
        htab_free(seen, NULL);
        return MSTORE_ETEMP;
    }
    read_subs(st, &subs);
    htab_put(seen, "INBOX", &present);
    for (size_t i = 0; i < dirs.n; i++)
        htab_put(seen, dirs.v[i], &present);
    /* implied parents of nested names */
    for (size_t i = 0; i < dirs.n; i++) {
        char *p = xstrdup(dirs.v[i]);
        for (char *s = strrchr(p, MSTORE_SEP); s; s = strrchr(p, MSTORE_SEP)) {
            *s = '\0';
            if (htab_get(seen, p) == NULL)
                htab_put(seen, p, &implied);
        }
        free(p);
    }
    {
        struct htab_iter it;
        const char *k;
        void *v;
        htab_iter_init(&it);
        while (htab_next(seen, &it, &k, &v))
            folders_add(out, k, v == &implied ? MSTORE_A_NOSELECT : 0);
    }
    qsort(out->v, out->n, sizeof(*out->v), cmp_folder);
    for (size_t i = 0; i < out->n; i++) {
        struct mstore_folder *f = &out->v[i];
        size_t n = strlen(f->name);
        int kids = 0;
        /* children sort right after their parent only for some names: look at all */
        for (size_t j = 0; j < out->n && !kids; j++)
            kids = strncmp(out->v[j].name, f->name, n) == 0 && out->v[j].name[n] == MSTORE_SEP;
        f->attrs |= kids ? MSTORE_A_HASCHILDREN : MSTORE_A_HASNOCHILDREN;
        if (strlist_find(&subs, f->name, 0) >= 0)
            f->attrs |= MSTORE_A_SUBSCRIBED;
        if (!(f->attrs & MSTORE_A_NOSELECT))
            f->attrs |= mstore_special_use(f->name);
    }
    htab_free(seen, NULL);
    strlist_free(&dirs);
    strlist_free(&subs);
    return MSTORE_OK;
}

int mstore_list_subscribed(struct mstore *st, struct mstore_folders *out)
{
    struct mstore_folders all;
    struct strlist subs = STRLIST_INIT;
    int r;

    memset(out, 0, sizeof(*out));
    if ((r = mstore_list(st, &all)) != MSTORE_OK)
        return r;
    if (read_subs(st, &subs) < 0) {
        mstore_folders_free(&all);
        return MSTORE_ETEMP;
    }
    for (size_t i = 0; i < subs.n; i++) {
        int attrs = MSTORE_A_NONEXISTENT | MSTORE_A_SUBSCRIBED;
        for (size_t j = 0; j < all.n; j++)
            if (strcmp(all.v[j].name, subs.v[i]) == 0) {
                attrs = all.v[j].attrs;
                break;
            }
        folders_add(out, subs.v[i], attrs);
    }
    qsort(out->v, out->n, sizeof(*out->v), cmp_folder);
    mstore_folders_free(&all);
    strlist_free(&subs);
    return MSTORE_OK;
}

/* ---- CREATE, DELETE, RENAME
 * ---------------------------------------------------------------------- */

int mstore_create(struct mstore *st, const char *name)
{
    struct str norm = STR_INIT, path = STR_INIT;
    int fd, r = MSTORE_OK;

    if (!mstore_name_ok(name, &norm)) {
        str_free(&norm);
        return MSTORE_EBADNAME;
    }
    if (ms_is_inbox(str_c(&norm))) {
        str_free(&norm);
        return MSTORE_EEXISTS;
    }
    if (ms_tree_lock(st, &fd) < 0) {
        str_free(&norm);
        return MSTORE_ETEMP;
    }
    ms_box_path(st, str_c(&norm), &path);
    if (ms_is_dir(str_c(&path))) {
        r = MSTORE_EEXISTS;
    } else {
        /* superior names first (RFC 3501 6.3.3), then the name itself */
        for (char *s = norm.s;; s++) {
            if (*s == MSTORE_SEP || *s == '\0') {
                char save = *s;
                *s = '\0';
                if (!ms_is_inbox(norm.s)) {
                    ms_box_path(st, norm.s, &path);
                    if (ms_make_maildir(str_c(&path), 1) < 0) {
                        log_warn("create %s: %s", str_c(&path), strerror(errno));
                        r = MSTORE_ETEMP;
                    }
                }
                *s = save;
                if (save == '\0' || r != MSTORE_OK)
                    break;
            }
        }
    }
    ms_tree_unlock(fd);
    str_free(&norm);
    str_free(&path);
    return r;
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (type == FTW_DP)
        return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
    return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int mstore_delete(struct mstore *st, const char *name)
{
    struct str norm = STR_INIT, path = STR_INIT, gone = STR_INIT, uniq = STR_INIT;
    int fd, r = MSTORE_OK;

    if (!mstore_name_ok(name, &norm)) {
        str_free(&norm);
        return MSTORE_EBADNAME;
    }
    if (ms_is_inbox(str_c(&norm))) {
        str_free(&norm);
        return MSTORE_EINBOX;
    }
    if (ms_tree_lock(st, &fd) < 0) {
        str_free(&norm);
        return MSTORE_ETEMP;
    }
    ms_box_path(st, str_c(&norm), &path);
    if (!ms_is_dir(str_c(&path))) {
        r = ms_has_children(st, str_c(&norm)) ? MSTORE_EHASCHILDREN : MSTORE_ENOTFOUND;
    } else {
        /* out of the namespace at once (atomic), then removed at leisure */
        maildir_unique(&uniq);
        str_printf(&gone, "%s/petrel-deleted.%s", st->root, str_c(&uniq));
        if (rename(str_c(&path), str_c(&gone)) < 0) {
            log_warn("rename %s: %s", str_c(&path), strerror(errno));
            r = MSTORE_ETEMP;
        } else if (nftw(str_c(&gone), rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0) {
            log_warn("remove %s: %s", str_c(&gone), strerror(errno));
        }
    }
    ms_tree_unlock(fd);
    str_free(&norm);
    str_free(&path);
    str_free(&gone);
    str_free(&uniq);
    return r;
}

/* rename_inbox - RFC 3501 6.3.5: move INBOX's messages into a new folder */
static int rename_inbox(struct mstore *st, const char *to)
{
    struct mstore_box *b;
    uint32_t *seqs;
    int r;

    if ((r = mstore_create(st, to)) != MSTORE_OK)
        return r;
    if ((r = mstore_box_open(st, "INBOX", 0, &b)) != MSTORE_OK)
        return r;
    seqs = xcalloc((size_t)mstore_box_count(b) + 1, sizeof(uint32_t));
    for (uint32_t i = 0; i < mstore_box_count(b); i++)
        seqs[i] = i + 1;
    r = mstore_copy(b, seqs, mstore_box_count(b), to, 1, NULL, NULL);
    free(seqs);
    mstore_box_close(b);
    return r;
}

int mstore_rename(struct mstore *st, const char *from, const char *to)
{
    struct str f = STR_INIT, t = STR_INIT, a = STR_INIT, b = STR_INIT;
    struct strlist dirs = STRLIST_INIT, moves = STRLIST_INIT;
    size_t fl;
    int fd = -1, r = MSTORE_OK;

    if (!mstore_name_ok(from, &f) || !mstore_name_ok(to, &t)) {
        r = MSTORE_EBADNAME;
        goto out;
    }
    if (ms_is_inbox(str_c(&t))) {
        r = MSTORE_EEXISTS;
        goto out;
    }
    if (ms_is_inbox(str_c(&f))) {
        r = rename_inbox(st, str_c(&t));
        goto out;
    }
    fl = f.len;
    if (strncmp(t.s, f.s, fl) == 0 && (t.s[fl] == '\0' || t.s[fl] == MSTORE_SEP)) {
        r = t.s[fl] == '\0' ? MSTORE_EEXISTS : MSTORE_EBADNAME; /* into itself */
        goto out;
    }
    if (ms_tree_lock(st, &fd) < 0) {
        r = MSTORE_ETEMP;
        goto out;
    }
    if (ms_folder_dirs(st, &dirs) < 0) {
        r = MSTORE_ETEMP;
        goto out;
    }
    for (size_t i = 0; i < dirs.n; i++)
        if (strncmp(dirs.v[i], f.s, fl) == 0 &&
            (dirs.v[i][fl] == '\0' || dirs.v[i][fl] == MSTORE_SEP))
            strlist_add(&moves, dirs.v[i]);
    if (moves.n == 0) {
        r = MSTORE_ENOTFOUND;
        goto out;
    }
    for (size_t i = 0; i < moves.n && r == MSTORE_OK; i++) {
        str_reset(&a);
        str_printf(&a, "%s%s", t.s, moves.v[i] + fl);
        if (!mstore_name_ok(str_c(&a), NULL))
            r = MSTORE_EBADNAME;
        else if (strlist_find(&dirs, str_c(&a), 0) >= 0)
            r = MSTORE_EEXISTS;
    }
    if (r != MSTORE_OK)
        goto out;
    /* superior names of the new name, as CREATE makes them */
    for (char *s = strchr(t.s, MSTORE_SEP); s; s = strchr(s + 1, MSTORE_SEP)) {
        *s = '\0';
        if (!ms_is_inbox(t.s)) {
            ms_box_path(st, t.s, &a);
            ms_make_maildir(str_c(&a), 1);
        }
        *s = MSTORE_SEP;
    }
    for (size_t i = 0; i < moves.n; i++) {
        str_reset(&a);
        str_printf(&a, "%s%s", t.s, moves.v[i] + fl);
        ms_box_path(st, moves.v[i], &b);
        {
            struct str dst = STR_INIT;
            ms_box_path(st, str_c(&a), &dst);
            if (rename(str_c(&b), str_c(&dst)) < 0) {
                log_warn("rename %s to %s: %s", str_c(&b), str_c(&dst), strerror(errno));
                r = MSTORE_ETEMP;
            }
            str_free(&dst);
        }
        if (r != MSTORE_OK)
            break;
    }
out:
    ms_tree_unlock(fd);
    strlist_free(&dirs);
    strlist_free(&moves);
    str_free(&f);
    str_free(&t);
    str_free(&a);
    str_free(&b);
    return r;
}

/* ---- STATUS ------------------------------------------------------------------------------------
 */

int mstore_status(struct mstore *st, const char *name, struct mstore_status *out)
{
    struct mstore_box *b;
    int r = mstore_box_open(st, name, MSTORE_RDONLY, &b);

    memset(out, 0, sizeof(*out));
    if (r != MSTORE_OK)
        return r;
    out->messages = b->count;
    out->uidnext = mstore_box_uidnext(b);
    out->uidvalidity = b->hdr.uidvalidity;
    out->highestmodseq = b->hdr.highestmodseq;
    for (uint32_t i = 0; i < b->count; i++) {
        if (!(b->msgs[i].flags & MSTORE_F_SEEN))
            out->unseen++;
        if (b->msgs[i].uid >= b->hdr.recent_floor)
            out->recent++;
    }
    mstore_box_close(b);
    return MSTORE_OK;
}
