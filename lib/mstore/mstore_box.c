/*
 * mstore_box.c - an open mailbox: the view, sync, flags and expunge
 *
 * A view is an array of messages in ascending UID order; sequence number
 * n is element n-1. It changes only in mstore_box_sync() (which merges a
 * fresh read of the index: vanished UIDs leave, new UIDs are appended,
 * changed modseqs are reported) and through the session's own STORE,
 * EXPUNGE and MOVE, whose effects are applied to the view at once so that
 * a later sync does not report them again.
 *
 * \Recent: the index header holds the first UID that no session has
 * taken; a view opened with MSTORE_RECENT takes every UID from there up to
 * UIDNEXT at each sync, under the exclusive lock, so exactly one session
 * sees each message as \Recent.
 *
 * Also the per-message side of the API: sizes, dates, opening files, the
 * cache by sequence number. Called by APPEND/COPY (mstore_copy.c), the
 * folder operations (mstore.c) and the servers; calls only what lies below
 * it: the index, the cache, the UID log, names, locks, file checks, maildir.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"

#include "maildir.h"
#include "mstore_impl.h"
#include "mstore_lock.h"
#include "mstore_check.h"
#include "mstore_uidlog.h"
#include "mstore_name.h"
#include "mstore_cache.h"
#include "mstore_index.h"
#include "mstore_box.h"

const char *mstore_strerror(int code)
{
    switch (code) {
    case MSTORE_OK:
        return "success";
    case MSTORE_ETEMP:
        return "temporary mail store failure";
    case MSTORE_ENOTFOUND:
        return "no such mailbox";
    case MSTORE_EEXISTS:
        return "mailbox already exists";
    case MSTORE_EBADNAME:
        return "invalid mailbox name";
    case MSTORE_EINUSE:
        return "mailbox in use by another session";
    case MSTORE_EEXPUNGED:
        return "message was expunged";
    case MSTORE_ENOSELECT:
        return "not a selectable mailbox";
    case MSTORE_ELIMIT:
        return "limit exceeded";
    case MSTORE_EHASCHILDREN:
        return "mailbox has children";
    case MSTORE_EINBOX:
        return "not allowed on INBOX";
    case MSTORE_ERDONLY:
        return "mailbox is read-only";
    default:
        return "unknown mail store error";
    }
}

/* ---- handles --------------------------------------------------------------- */

int ms_box_handle(struct mstore *st, const char *name, int flags, struct mstore_box **out)
{
    struct str norm = STR_INIT, path = STR_INIT, cur = STR_INIT;
    struct stat sb;
    struct mstore_box *b;
    int r;

    *out = NULL;
    if (!mstore_name_ok(name, &norm)) {
        str_free(&norm);
        return MSTORE_EBADNAME;
    }
    ms_box_path(st, str_c(&norm), &path);
    str_printf(&cur, "%s/cur", str_c(&path));
    if (stat(str_c(&cur), &sb) < 0 || !S_ISDIR(sb.st_mode)) {
        int missing = errno == ENOENT || errno == ENOTDIR;
        if (stat(str_c(&cur), &sb) == 0) /* exists, but not a directory */
            missing = 1;
        if (missing)
            r = ms_has_children(st, str_c(&norm)) ? MSTORE_ENOSELECT : MSTORE_ENOTFOUND;
        else {
            log_warn("stat %s: %s", str_c(&cur), strerror(errno));
            r = MSTORE_ETEMP;
        }
        str_free(&norm);
        str_free(&path);
        str_free(&cur);
        return r;
    }
    str_free(&cur);
    ms_idx_init();
    b = xcalloc(1, sizeof(*b));
    b->st = st;
    b->name = str_steal(&norm);
    b->path = str_steal(&path);
    b->flags = flags;
    b->watchfd = -1;
    b->msgdir[0] = b->msgdir[1] = -1;
    if ((b->lockfd = ms_open_lockfile(b->path)) < 0) {
        ms_box_free(b);
        return MSTORE_ETEMP;
    }
    *out = b;
    return MSTORE_OK;
}

void ms_box_free(struct mstore_box *b)
{
    if (b == NULL)
        return;
    ms_cache_release(b);
    ms_msgdirs_close(b);
    for (size_t i = 0; i < b->nputs; i++)
        free(b->puts[i].data);
    free(b->puts);
    free(b->put_slots);
    if (b->lockfd >= 0)
        close(b->lockfd); /* drops every lock of this descriptor */
    if (b->watchfd >= 0)
        close(b->watchfd);
    ms_recs_free(b->msgs, b->count);
    strlist_free(&b->keywords);
    str_free(&b->uidlog);
    free(b->name);
    free(b->path);
    free(b);
}

void ms_msg_path(const struct mstore_box *b, int dir, const char *fname, struct str *out)
{
    str_reset(out);
    str_printf(out, "%s/%s/%s", b->path, dir ? "cur" : "new", fname);
}

/* ---- applying a fresh read of the index to the view ------------------------------- */

static void push_u32(uint32_t **v, size_t *n, uint32_t x)
{
    if ((*n & (*n + 1)) == 0 || *n == 0)
        *v = xreallocarray(*v, *n * 2 + 2, sizeof(uint32_t));
    (*v)[(*n)++] = x;
}

/* view_apply - merge records (ascending UIDs, consumed) into the view;
 * UIDs in [claim_lo, claim_hi) are this session's \Recent */
static void view_apply(struct mstore_box *b, struct mstore_msg *recs, uint32_t n, int sflags,
                       uint32_t claim_lo, uint32_t claim_hi, struct mstore_changes *ch)
{
    struct mstore_msg *nv = xcalloc((size_t)b->count + n + 1, sizeof(*nv));
    uint32_t i = 0, j = 0, k = 0, removed = 0;
    uint32_t last = b->count ? b->msgs[b->count - 1].uid : 0;
    uint32_t *chg = NULL;
    size_t nchg = 0;

    while (i < b->count || j < n) {
        if (i < b->count && (j >= n || b->msgs[i].uid < recs[j].uid)) {
            struct mstore_msg *m = &b->msgs[i++];
            if (sflags & MSTORE_SYNC_NO_EXPUNGE) {
                m->expunged = 1;
                nv[k++] = *m;
            } else {
                if (ch)
                    push_u32(&ch->expunged, &ch->nexpunged, i - removed);
                removed++;
                free(m->fname);
            }
        } else if (i < b->count && b->msgs[i].uid == recs[j].uid) {
            struct mstore_msg *m = &b->msgs[i++], *r = &recs[j++];
            if (!(sflags & MSTORE_SYNC_NO_EXPUNGE))
                m->expunged = 0; /* its record lives: a vanished file came back */
            if (!m->expunged && (r->modseq != m->modseq || r->keywords != m->keywords ||
                                 r->flags != (m->flags & MSTORE_F_SYSTEM))) {
                m->flags = (uint8_t)(r->flags | (m->flags & MSTORE_F_RECENT));
                m->keywords = r->keywords;
                m->modseq = r->modseq;
                push_u32(&chg, &nchg, k + 1);
            }
            free(m->fname);
            m->fname = r->fname;
            m->dir = r->dir;
            if (m->size < 0)
                m->size = r->size;
            if (m->date < 0)
                m->date = r->date;
            nv[k++] = *m;
        } else {
            struct mstore_msg *r = &recs[j++];
            if (r->uid <= last) { /* never seen and below our last: cannot be shown */
                free(r->fname);
                continue;
            }
            if (r->uid >= claim_lo && r->uid < claim_hi)
                r->flags |= MSTORE_F_RECENT;
            nv[k++] = *r;
        }
    }
    free(recs);
    free(b->msgs);
    b->msgs = nv;
    b->count = k;
    b->cap = k + 1;
    b->nrecent = 0;
    for (uint32_t x = 0; x < k; x++)
        if (nv[x].flags & MSTORE_F_RECENT)
            b->nrecent++;
    if (ch) {
        ch->changed = chg;
        ch->nchanged = nchg;
        ch->exists = k;
        ch->recent = b->nrecent;
        ch->new_messages = k > 0 && nv[k - 1].uid > last;
    } else {
        free(chg);
    }
}

/* writeback - store sizes and dates computed by this view (exclusive section) */
static void writeback(struct mstore_box *b)
{
    for (uint32_t i = 0; i < b->count; i++) {
        struct mstore_msg *m = &b->msgs[i], rec;
        if (!m->dirty)
            continue;
        m->dirty = 0;
        if (m->expunged || ms_rec_get(b, m->uid, &rec) != 1)
            continue;
        if (rec.size < 0 || rec.date < 0) {
            if (rec.size < 0)
                rec.size = m->size;
            if (rec.date < 0)
                rec.date = m->date;
            ms_rec_put(b, &rec);
        }
        free(rec.fname);
    }
    b->dirty = 0;
}

static int ts_same(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* box_sync - see mstore_box_sync */
static int box_sync(struct mstore_box *b, int sflags, struct mstore_changes *ch)
{
    struct timespec nt, ct;
    struct mstore_msg *recs = NULL;
    uint32_t n = 0, claim_lo = 0, claim_hi = 0;
    int excl = 0, changed, scan, r;
    uint64_t stamp;

    if (ch)
        memset(ch, 0, sizeof(*ch));
again:
    if (ms_idx_lock(b, excl) < 0)
        return MSTORE_ETEMP;
    if (ms_dir_mtimes(b, &nt, &ct) < 0) {
        /* the Maildir was deleted or renamed under us: everything is gone */
        ms_idx_end(b, 0);
        view_apply(b, NULL, 0, sflags, 0, 0, ch);
        return MSTORE_OK;
    }
    stamp = ms_read_stamp(b);
    if (b->loaded && !(sflags & MSTORE_SYNC_FORCE) && stamp == b->stamp && b->mt_trusted &&
        ts_same(&nt, &b->new_mt) && ts_same(&ct, &b->cur_mt)) {
        if (excl && b->dirty)
            writeback(b);
        ms_idx_end(b, 0);
        if (ch) {
            ch->exists = b->count;
            ch->recent = b->nrecent;
        }
        return MSTORE_OK;
    }
    r = ms_idx_open(b);
    if (r == 1) {
        ms_idx_end(b, 0);
        excl = 1;
        goto again;
    }
    if (r < 0)
        goto fail;
    if (ms_idx_load(b, &recs, &n) < 0) {
        if (!excl) {
            ms_idx_end(b, 0);
            excl = 1;
            goto again;
        }
        ms_db_close(b->db);
        b->db = NULL;
        recs = NULL;
        n = 0;
        if (ms_idx_create(b, 1) < 0 || ms_idx_load(b, &recs, &n) < 0)
            goto fail;
    }
    scan = (sflags & MSTORE_SYNC_FORCE) || ms_scan_needed(&b->hdr, &nt, &ct);
    if (!excl && (scan || ((b->flags & MSTORE_RECENT) && b->hdr.recent_floor < b->hdr.uidnext) ||
                  b->dirty)) {
        ms_recs_free(recs, n);
        recs = NULL;
        ms_idx_end(b, 0);
        excl = 1;
        goto again;
    }
    changed = 0;
    if (scan) {
        if ((r = ms_scan(b, &recs, &n)) < 0) {
            ms_recs_free(recs, n);
            goto fail;
        }
        changed |= r;
    }
    if ((b->flags & MSTORE_RECENT) && b->hdr.recent_floor < b->hdr.uidnext) {
        claim_lo = b->hdr.recent_floor;
        claim_hi = b->hdr.uidnext;
        b->hdr.recent_floor = b->hdr.uidnext;
        if (ms_hdr_put(b) < 0)
            log_warn("write mailbox index of %s", b->path);
        changed = 1;
    }
    if (excl && b->dirty)
        writeback(b);
    ms_uidlog_maintain(b, recs, n, excl);
    b->new_mt.tv_sec = b->hdr.new_sec;
    b->new_mt.tv_nsec = b->hdr.new_nsec;
    b->cur_mt.tv_sec = b->hdr.cur_sec;
    b->cur_mt.tv_nsec = b->hdr.cur_nsec;
    b->mt_trusted = b->hdr.trusted;
    b->stamp = ms_idx_end(b, changed);
    if (b->loaded && b->view_uidvalidity != b->hdr.uidvalidity) {
        /* the index was rebuilt: the old view means nothing any more */
        ms_recs_free(b->msgs, b->count);
        b->msgs = NULL;
        b->count = b->cap = 0;
        if (ch)
            ch->uidvalidity_changed = 1;
    }
    b->view_uidvalidity = b->hdr.uidvalidity;
    b->loaded = 1;
    view_apply(b, recs, n, sflags, claim_lo, claim_hi, ch);
    if (ch && b->keywords.n != b->kw_reported)
        ch->keywords_changed = 1;
    b->kw_reported = b->keywords.n;
    if (b->nputs)
        ms_cache_write(b);
    return MSTORE_OK;
fail:
    ms_idx_end(b, 0);
    return MSTORE_ETEMP;
}

/* clean_tmp - remove files left in tmp/ for more than 36 hours by a writer that
 * died (the Maildir rule); a live writer's file is always recent */
static void clean_tmp(struct mstore_box *b)
{
    char *p = xasprintf("%s/tmp", b->path);
    DIR *d = opendir(p);
    struct dirent *e;
    struct stat st;
    time_t old = time(NULL) - 36 * 3600;

    if (d != NULL) {
        while ((e = readdir(d)) != NULL)
            if (e->d_name[0] != '.' &&
                fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISREG(st.st_mode) && st.st_mtime < old && st.st_atime < old)
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    free(p);
}

/* ---- public: open, close, sync ----------------------------------------------------- */

int mstore_box_open(struct mstore *st, const char *name, int flags, struct mstore_box **out)
{
    struct mstore_box *b;
    int r = ms_box_handle(st, name, flags, &b);

    *out = NULL;
    if (r != MSTORE_OK)
        return r;
    if (flags & MSTORE_RDONLY)
        b->flags &= ~MSTORE_RECENT;
    else
        clean_tmp(b);
    if ((r = box_sync(b, 0, NULL)) != MSTORE_OK) {
        ms_box_free(b);
        return r;
    }
    *out = b;
    return MSTORE_OK;
}

void mstore_box_close(struct mstore_box *b)
{
    if (b == NULL)
        return;
    mstore_box_flush(b);
    ms_box_free(b);
}

const char *mstore_box_name(const struct mstore_box *b)
{
    return b->name;
}

int mstore_box_sync(struct mstore_box *b, int flags, struct mstore_changes *ch)
{
    return box_sync(b, flags, ch);
}

int mstore_box_flush(struct mstore_box *b)
{
    int r = MSTORE_OK;

    if (b->dirty) {
        if (ms_idx_begin(b, 1) == 0) {
            writeback(b);
            ms_idx_end(b, 0);
        } else {
            r = MSTORE_ETEMP;
        }
    }
    if (b->nputs && ms_cache_write(b) < 0)
        r = MSTORE_ETEMP;
    ms_cache_release(b);
    ms_msgdirs_close(b);
    return r;
}

void mstore_changes_free(struct mstore_changes *c)
{
    if (c == NULL)
        return;
    free(c->expunged);
    free(c->changed);
    memset(c, 0, sizeof(*c));
}

int mstore_box_lock_session(struct mstore_box *b)
{
    if (b->session)
        return MSTORE_OK;
    if (ms_lock(b->lockfd, MS_LOCK_SESSION, F_WRLCK, 0) < 0) {
        if (errno == EAGAIN || errno == EACCES)
            return MSTORE_EINUSE;
        log_warn("lock mailbox %s: %s", b->path, strerror(errno));
        return MSTORE_ETEMP;
    }
    b->session = 1;
    return MSTORE_OK;
}

int mstore_box_watch(struct mstore_box *b)
{
    static const char *subs[] = {"new", "cur"};
    struct str p = STR_INIT;

    if (b->watchfd >= 0)
        return b->watchfd;
    if ((b->watchfd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        str_reset(&p);
        str_printf(&p, "%s/%s", b->path, subs[i]);
        if (inotify_add_watch(b->watchfd, str_c(&p),
                              IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE) < 0)
            goto fail;
    }
    str_reset(&p);
    str_printf(&p, "%s/" MS_LOCK_FILE, b->path);
    if (inotify_add_watch(b->watchfd, str_c(&p), IN_MODIFY) < 0) /* the change stamp */
        goto fail;
    str_free(&p);
    return b->watchfd;
fail:
    log_warn("inotify on %s: %s", b->path, strerror(errno));
    close(b->watchfd);
    b->watchfd = -1;
    str_free(&p);
    return -1;
}

void mstore_box_watch_drain(struct mstore_box *b)
{
    char buf[4096];

    if (b->watchfd >= 0)
        while (read(b->watchfd, buf, sizeof(buf)) > 0)
            ;
}

time_t mstore_box_login_stamp(struct mstore_box *b, time_t now, int record)
{
    unsigned char buf[8];
    time_t prev = 0;

    if (pread(b->lockfd, buf, 8, MS_LOGIN_OFF) == 8)
        prev = (time_t)ms_get64(buf);
    if (record) {
        ms_put64(buf, (uint64_t)now);
        if (pwrite(b->lockfd, buf, 8, MS_LOGIN_OFF) != 8)
            log_warn("write %s/" MS_LOCK_FILE ": %s", b->path, strerror(errno));
    }
    return prev;
}

/* ---- the view ------------------------------------------------------------------------- */

uint32_t mstore_box_count(const struct mstore_box *b)
{
    return b->count;
}

uint32_t mstore_box_uidvalidity(const struct mstore_box *b)
{
    return b->hdr.uidvalidity;
}

uint32_t mstore_box_uidnext(const struct mstore_box *b)
{
    uint32_t last = b->count ? b->msgs[b->count - 1].uid + 1 : 1;
    return b->hdr.uidnext > last ? b->hdr.uidnext : last;
}

uint64_t mstore_box_highestmodseq(const struct mstore_box *b)
{
    return b->hdr.highestmodseq;
}

uint32_t mstore_box_recent(const struct mstore_box *b)
{
    return b->nrecent;
}

uint32_t mstore_box_first_unseen(const struct mstore_box *b)
{
    for (uint32_t i = 0; i < b->count; i++)
        if (!(b->msgs[i].flags & MSTORE_F_SEEN))
            return i + 1;
    return 0;
}

const char *const *mstore_box_keywords(const struct mstore_box *b, size_t *n)
{
    *n = b->keywords.n;
    return (const char *const *)b->keywords.v;
}

const struct mstore_msg *mstore_msg(const struct mstore_box *b, uint32_t seq)
{
    if (seq < 1 || seq > b->count)
        return NULL;
    return &b->msgs[seq - 1];
}

uint32_t mstore_seq_ge(const struct mstore_box *b, uint32_t uid)
{
    uint32_t lo = 0, hi = b->count;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (b->msgs[mid].uid < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo + 1;
}

uint32_t mstore_seq(const struct mstore_box *b, uint32_t uid)
{
    uint32_t s = mstore_seq_ge(b, uid);
    return s <= b->count && b->msgs[s - 1].uid == uid ? s : 0;
}

void mstore_uidl(const struct mstore_box *b, uint32_t seq, char out[MSTORE_UIDL_MAX])
{
    const struct mstore_msg *m = mstore_msg(b, seq);
    snprintf(out, MSTORE_UIDL_MAX, "%08x%08x", b->hdr.uidvalidity, m ? m->uid : 0);
}

/* resolve - the file of m moved or vanished: look at its current record */
static int resolve(struct mstore_box *b, struct mstore_msg *m)
{
    struct mstore_msg rec;
    int r;

    if (ms_idx_begin(b, 0) < 0)
        return MSTORE_ETEMP;
    r = ms_rec_get(b, m->uid, &rec);
    ms_idx_end(b, 0);
    if (r < 0)
        return MSTORE_ETEMP;
    if (r == 0) {
        m->expunged = 1;
        return MSTORE_EEXPUNGED;
    }
    if (rec.dir == m->dir && strcmp(rec.fname, m->fname) == 0) {
        free(rec.fname);
        return MSTORE_EEXPUNGED; /* renamed by another program: the next sync finds it */
    }
    free(m->fname);
    m->fname = rec.fname;
    m->dir = rec.dir;
    return MSTORE_OK;
}

void ms_msgdirs_close(struct mstore_box *b)
{
    for (int d = 0; d < 2; d++) {
        if (b->msgdir[d] >= 0)
            close(b->msgdir[d]);
        b->msgdir[d] = -1;
    }
}

/* msgdir - the descriptor of new/ (dir 0) or cur/ (1), opened on first use; -1 with errno */
static int msgdir(struct mstore_box *b, int dir)
{
    if (b->msgdir[dir] < 0) {
        struct str p = STR_INIT;
        str_printf(&p, "%s/%s", b->path, dir ? "cur" : "new");
        b->msgdir[dir] = open(str_c(&p), O_PATH | O_DIRECTORY | O_CLOEXEC);
        str_free(&p);
    }
    return b->msgdir[dir];
}

int mstore_msg_open(struct mstore_box *b, uint32_t seq, int *fd)
{
    struct mstore_msg *m;
    int r = MSTORE_OK;

    *fd = -1;
    if (seq < 1 || seq > b->count)
        return MSTORE_EEXPUNGED;
    m = &b->msgs[seq - 1];
    if (m->expunged)
        return MSTORE_EEXPUNGED;
    for (int tries = 0; tries < 3; tries++) {
        /* by name in a descriptor of its directory: one lookup instead of the whole path's */
        int dfd = msgdir(b, m->dir ? 1 : 0);
        if (dfd >= 0 && (*fd = openat(dfd, m->fname, O_RDONLY | O_CLOEXEC)) >= 0)
            break;
        if (errno != ENOENT) {
            log_warn("open %s/%s/%s: %s", b->path, m->dir ? "cur" : "new", m->fname,
                     strerror(errno));
            r = MSTORE_ETEMP;
            break;
        }
        if ((r = resolve(b, m)) != MSTORE_OK)
            break;
    }
    if (*fd < 0 && r == MSTORE_OK)
        r = MSTORE_EEXPUNGED;
    return r;
}

int mstore_msg_size(struct mstore_box *b, uint32_t seq, uint64_t *size)
{
    int fd = -1, r = mstore_msg_size_fd(b, seq, &fd, size);

    if (fd >= 0)
        close(fd);
    return r;
}

/* size_learned - keep a size just counted, for the index to store */
static void size_learned(struct mstore_box *b, struct mstore_msg *m, uint64_t n)
{
    m->size = (int64_t)n;
    m->dirty = 1;
    b->dirty = 1;
}

int mstore_msg_size_fd(struct mstore_box *b, uint32_t seq, int *fd, uint64_t *size)
{
    struct mstore_msg *m;
    char buf[65536];
    uint64_t n = 0;
    off_t off = 0;
    int r, last = '\0';
    ssize_t got;

    if (seq < 1 || seq > b->count)
        return MSTORE_EEXPUNGED;
    m = &b->msgs[seq - 1];
    if (m->size >= 0) {
        *size = (uint64_t)m->size;
        return MSTORE_OK;
    }
    if (*fd < 0 && (r = mstore_msg_open(b, seq, fd)) != MSTORE_OK)
        return r;
    while ((got = pread(*fd, buf, sizeof(buf), off)) > 0) {
        n += maildir_vsize(buf, (size_t)got, last);
        off += got;
        last = buf[got - 1];
    }
    if (got < 0) {
        log_warn("read message %u of %s: %s", m->uid, b->path, strerror(errno));
        return MSTORE_ETEMP;
    }
    size_learned(b, m, n);
    *size = n;
    return MSTORE_OK;
}

int mstore_msg_size_map(struct mstore_box *b, uint32_t seq, const void *map, size_t len,
                        uint64_t *size)
{
    struct mstore_msg *m;

    if (seq < 1 || seq > b->count)
        return MSTORE_EEXPUNGED;
    m = &b->msgs[seq - 1];
    if (m->size < 0)
        size_learned(b, m, len > 0 ? maildir_vsize(map, len, '\0') : 0);
    *size = (uint64_t)m->size;
    return MSTORE_OK;
}

/* date_learned - keep an INTERNALDATE just read (the file's mtime), for the index to store */
static void date_learned(struct mstore_box *b, struct mstore_msg *m, const struct stat *st,
                         time_t *date)
{
    m->date = st->st_mtim.tv_sec;
    m->dirty = 1;
    b->dirty = 1;
    *date = (time_t)m->date;
}

int mstore_msg_date(struct mstore_box *b, uint32_t seq, time_t *date)
{
    return mstore_msg_date_fd(b, seq, -1, date);
}

int mstore_msg_date_fd(struct mstore_box *b, uint32_t seq, int fd, time_t *date)
{
    struct mstore_msg *m;
    struct str path = STR_INIT;
    struct stat st;

    if (seq < 1 || seq > b->count)
        return MSTORE_EEXPUNGED;
    m = &b->msgs[seq - 1];
    if (m->date >= 0) {
        *date = (time_t)m->date;
        return MSTORE_OK;
    }
    if (fd >= 0) {
        if (fstat(fd, &st) < 0) {
            log_warn("fstat message %u of %s: %s", m->uid, b->path, strerror(errno));
            return MSTORE_ETEMP;
        }
        date_learned(b, m, &st, date);
        return MSTORE_OK;
    }
    for (int tries = 0;; tries++) {
        int r;
        if (m->expunged)
            return MSTORE_EEXPUNGED;
        ms_msg_path(b, m->dir, m->fname, &path);
        if (stat(str_c(&path), &st) == 0)
            break;
        if (errno != ENOENT || tries == 2) {
            str_free(&path);
            return errno == ENOENT ? MSTORE_EEXPUNGED : MSTORE_ETEMP;
        }
        if ((r = resolve(b, m)) != MSTORE_OK) {
            str_free(&path);
            return r;
        }
    }
    str_free(&path);
    date_learned(b, m, &st, date);
    return MSTORE_OK;
}

void mstore_crlf_init(struct mstore_crlf *r, int fd)
{
    r->fd = fd;
    r->last_cr = 0;
    r->pos = r->len = 0;
}

ssize_t mstore_crlf_read(struct mstore_crlf *r, char *out, size_t n)
{
    size_t k = 0;

    if (n < 2)
        return -1;
    while (k + 1 < n) {
        if (r->pos == r->len) {
            ssize_t got;
            if (k > 0)
                break; /* return what we have rather than block */
            do
                got = read(r->fd, r->buf, sizeof(r->buf));
            while (got < 0 && errno == EINTR);
            if (got < 0)
                return -1;
            if (got == 0)
                break;
            r->pos = 0;
            r->len = (size_t)got;
        }
        /* copy up to the next LF in one go */
        {
            size_t avail = r->len - r->pos, room = n - k - 1;
            size_t take = avail < room ? avail : room;
            const char *src = r->buf + r->pos;
            const char *nl = memchr(src, '\n', take);
            size_t seg = nl ? (size_t)(nl - src) : take;
            memcpy(out + k, src, seg);
            k += seg;
            r->pos += seg;
            if (seg > 0)
                r->last_cr = src[seg - 1] == '\r';
            if (nl) {
                if (!r->last_cr)
                    out[k++] = '\r';
                out[k++] = '\n';
                r->pos++;
                r->last_cr = 0;
            }
        }
    }
    return (ssize_t)k;
}

/* ---- flags ------------------------------------------------------------------------ */

/* ms_kw_mask - the bits of keyword names, creating new ones (exclusive section,
 * b->keywords freshly read); MSTORE_ELIMIT when the table is full */
int ms_kw_mask(struct mstore_box *b, const char *const *names, size_t n, uint64_t *mask)
{
    int added = 0;

    *mask = 0;
    for (size_t i = 0; i < n; i++) {
        long k = strlist_find(&b->keywords, names[i], 1);
        if (k < 0) {
            if (b->keywords.n >= MSTORE_KEYWORDS_MAX)
                return MSTORE_ELIMIT;
            strlist_add(&b->keywords, names[i]);
            k = (long)b->keywords.n - 1;
            added = 1;
        }
        *mask |= 1ULL << k;
    }
    if (added && ms_kw_write(b) < 0)
        return MSTORE_ETEMP;
    return MSTORE_OK;
}

static unsigned apply_op(unsigned old, int op, unsigned bits)
{
    switch (op) {
    case MSTORE_STORE_ADD:
        return old | bits;
    case MSTORE_STORE_REMOVE:
        return old & ~bits;
    default:
        return bits;
    }
}

static uint64_t apply_op64(uint64_t old, int op, uint64_t bits)
{
    switch (op) {
    case MSTORE_STORE_ADD:
        return old | bits;
    case MSTORE_STORE_REMOVE:
        return old & ~bits;
    default:
        return bits;
    }
}

/* open_msg_dirs - descriptors of new/ and cur/ for renameat (one path lookup
 * per STORE, not two per message); a missing one is -1: its files are gone */
static int open_msg_dirs(struct mstore_box *b, int dirfd[2])
{
    static const char *const sub[2] = {"new", "cur"};

    for (int d = 0; d < 2; d++) {
        char *p = xasprintf("%s/%s", b->path, sub[d]);
        dirfd[d] = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dirfd[d] < 0 && errno != ENOENT) {
            log_warn("open %s: %s", p, strerror(errno));
            free(p);
            if (d == 1)
                close(dirfd[0]);
            return -1;
        }
        free(p);
    }
    return 0;
}

/* store_one - change one message (exclusive section); 1 changed, 0 unchanged,
 * MSTORE_EEXPUNGED, or 2 for an UNCHANGEDSINCE failure */
static int store_one(struct mstore_box *b, struct ms_rec_cursor *rc, const int dirfd[2],
                     struct mstore_msg *m, int op, unsigned flags, uint64_t kw,
                     uint64_t unchangedsince, uint64_t modseq)
{
    struct mstore_msg rec;
    struct str name = STR_INIT;
    unsigned nf;
    uint64_t nk;
    int r = ms_recc_get(rc, m->uid, &rec);

    if (r != 1)
        return r == 0 ? MSTORE_EEXPUNGED : MSTORE_ETEMP;
    if (unchangedsince && rec.modseq > unchangedsince) {
        free(rec.fname);
        return 2;
    }
    nf = apply_op(rec.flags, op, flags & MSTORE_F_SYSTEM) & MSTORE_F_SYSTEM;
    nk = apply_op64(rec.keywords, op, kw);
    if (nf == rec.flags && nk == rec.keywords) {
        free(rec.fname);
        return 0;
    }
    if (nf != rec.flags) {
        maildir_set_flags(rec.fname, nf, &name);
        int from = dirfd[rec.dir ? 1 : 0];
        if (from < 0 || dirfd[1] < 0 || renameat(from, rec.fname, dirfd[1], str_c(&name)) < 0) {
            int e = from < 0 || dirfd[1] < 0 ? ENOENT : errno; /* a directory gone: the file too */
            str_free(&name);
            free(rec.fname);
            if (e == ENOENT)
                return MSTORE_EEXPUNGED; /* the next scan settles it */
            log_warn("rename message file in %s: %s", b->path, strerror(e));
            return MSTORE_ETEMP;
        }
        free(rec.fname);
        rec.fname = str_steal(&name);
        rec.dir = 1;
    }
    rec.flags = (uint8_t)nf;
    rec.keywords = nk;
    rec.modseq = modseq;
    r = ms_recc_put(rc, &rec);
    free(m->fname);
    m->fname = rec.fname;
    m->dir = rec.dir;
    m->flags = (uint8_t)(nf | (m->flags & MSTORE_F_RECENT));
    m->keywords = nk;
    m->modseq = modseq;
    str_free(&name);
    return r < 0 ? MSTORE_ETEMP : 1;
}

int mstore_store(struct mstore_box *b, const uint32_t *seqs, size_t n, int op, unsigned flags,
                 const char *const *keywords, size_t nkeywords, uint64_t unchangedsince,
                 struct mstore_store_result *res)
{
    struct timespec nt, ct;
    uint64_t kw = 0, modseq;
    int any = 0, r = MSTORE_OK, dirfd[2];
    struct ms_rec_cursor rc;

    if (res)
        memset(res, 0, sizeof(*res));
    if (b->flags & MSTORE_RDONLY)
        return MSTORE_ERDONLY;
    if (ms_idx_begin(b, 1) < 0)
        return MSTORE_ETEMP;
    if (ms_dir_mtimes(b, &nt, &ct) < 0)
        memset(&ct, 0, sizeof(ct));
    if (nkeywords && (r = ms_kw_mask(b, keywords, nkeywords, &kw)) != MSTORE_OK) {
        ms_idx_end(b, 0);
        return r;
    }
    modseq = b->hdr.highestmodseq + 1;
    if (open_msg_dirs(b, dirfd) < 0) {
        ms_idx_end(b, 0);
        return MSTORE_ETEMP;
    }
    if (ms_recc_open(b, &rc) < 0) {
        for (int d = 0; d < 2; d++)
            if (dirfd[d] >= 0)
                close(dirfd[d]);
        ms_idx_end(b, 0);
        return MSTORE_ETEMP;
    }
    for (size_t i = 0; i < n; i++) {
        struct mstore_msg *m;
        int x;
        if (seqs[i] < 1 || seqs[i] > b->count)
            continue;
        m = &b->msgs[seqs[i] - 1];
        x = m->expunged ? MSTORE_EEXPUNGED
                        : store_one(b, &rc, dirfd, m, op, flags, kw, unchangedsince, modseq);
        if (x == MSTORE_EEXPUNGED) {
            m->expunged = 1;
            if (res)
                push_u32(&res->vanished, &res->nvanished, seqs[i]);
        } else if (x == 2) {
            if (res)
                push_u32(&res->modified, &res->nmodified, seqs[i]);
        } else if (x == 1) {
            any = 1;
            if (res)
                push_u32(&res->changed, &res->nchanged, seqs[i]);
        } else if (x < 0) {
            r = x;
            break;
        }
    }
    ms_recc_close(&rc);
    if (any) {
        b->hdr.highestmodseq = modseq;
        ms_note_cur_change(b, &ct);
        if (ms_hdr_put(b) < 0)
            r = MSTORE_ETEMP;
    }
    ms_idx_end(b, any);
    for (int d = 0; d < 2; d++)
        if (dirfd[d] >= 0)
            close(dirfd[d]);
    return r;
}

void mstore_store_result_free(struct mstore_store_result *r)
{
    if (r == NULL)
        return;
    free(r->changed);
    free(r->modified);
    free(r->vanished);
    memset(r, 0, sizeof(*r));
}

/* ---- expunge ------------------------------------------------------------------------- */

/* ms_changes_expunged - remove UIDs gone[0..n) (ascending) from the view and
 * report their numbers in the order to send them */
void ms_changes_expunged(struct mstore_box *b, const uint32_t *gone, size_t n,
                         struct mstore_changes *ch)
{
    uint32_t k = 0, removed = 0;
    size_t g = 0;

    for (uint32_t i = 0; i < b->count; i++) {
        struct mstore_msg *m = &b->msgs[i];
        while (g < n && gone[g] < m->uid)
            g++;
        if (g < n && gone[g] == m->uid) {
            if (ch)
                push_u32(&ch->expunged, &ch->nexpunged, i + 1 - removed);
            removed++;
            if (m->flags & MSTORE_F_RECENT)
                b->nrecent--;
            free(m->fname);
            continue;
        }
        b->msgs[k++] = *m;
    }
    b->count = k;
    if (ch) {
        ch->exists = b->count;
        ch->recent = b->nrecent;
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* expunge - remove candidates (view UIDs, ascending); only_deleted: those with \Deleted */
static int expunge(struct mstore_box *b, uint32_t *cand, size_t n, int only_deleted,
                   struct mstore_changes *ch)
{
    struct str path = STR_INIT;
    uint32_t *gone = xcalloc(n + 1, sizeof(uint32_t));
    size_t ngone = 0;
    uint64_t modseq;
    int r = MSTORE_OK;

    if (ch)
        memset(ch, 0, sizeof(*ch));
    if (b->flags & MSTORE_RDONLY) {
        free(gone);
        return MSTORE_ERDONLY;
    }
    if (ms_idx_begin(b, 1) < 0) {
        free(gone);
        return MSTORE_ETEMP;
    }
    modseq = b->hdr.highestmodseq + 1;
    for (size_t i = 0; i < n; i++) {
        struct mstore_msg rec;
        int x = ms_rec_get(b, cand[i], &rec);
        if (x < 0) {
            r = MSTORE_ETEMP;
            break;
        }
        if (x == 0) { /* already expunged by another session: leaves our view now */
            gone[ngone++] = cand[i];
            continue;
        }
        if (!only_deleted || (rec.flags & MSTORE_F_DELETED)) {
            ms_msg_path(b, rec.dir, rec.fname, &path);
            if (unlink(str_c(&path)) < 0 && errno != ENOENT) {
                log_warn("unlink %s: %s", str_c(&path), strerror(errno));
                free(rec.fname);
                r = MSTORE_ETEMP;
                break;
            }
            if (ms_rec_del(b, cand[i], modseq) < 0) {
                free(rec.fname);
                r = MSTORE_ETEMP;
                break;
            }
            gone[ngone++] = cand[i];
        }
        free(rec.fname);
    }
    if (ngone > 0) {
        b->hdr.highestmodseq = modseq;
        ms_xlog_prune(b);
        if (ms_hdr_put(b) < 0)
            r = MSTORE_ETEMP;
    }
    ms_idx_end(b, ngone > 0);
    if (ngone > 0)
        ms_cache_drop_uids(b, gone, ngone);
    ms_changes_expunged(b, gone, ngone, ch);
    free(gone);
    str_free(&path);
    return r;
}

int mstore_expunge(struct mstore_box *b, const uint32_t *uids, size_t n, struct mstore_changes *ch)
{
    uint32_t *cand = xcalloc((size_t)b->count + 1, sizeof(uint32_t));
    uint32_t *want = NULL;
    size_t k = 0;
    int r;

    if (uids) {
        want = xcalloc(n + 1, sizeof(uint32_t));
        memcpy(want, uids, n * sizeof(uint32_t));
        qsort(want, n, sizeof(uint32_t), cmp_u32);
    }
    /* every message of the view is a candidate: the index, not a possibly stale
     * view, says which ones have \Deleted */
    for (uint32_t i = 0; i < b->count; i++) {
        uint32_t uid = b->msgs[i].uid;
        if (want && !bsearch(&uid, want, n, sizeof(uint32_t), cmp_u32))
            continue;
        cand[k++] = uid;
    }
    r = expunge(b, cand, k, 1, ch);
    free(cand);
    free(want);
    return r;
}

int mstore_expunge_uids(struct mstore_box *b, const uint32_t *uids, size_t n,
                        struct mstore_changes *ch)
{
    uint32_t *cand = xcalloc(n + 1, sizeof(uint32_t));
    size_t k = 0;
    int r;

    memcpy(cand, uids, n * sizeof(uint32_t));
    qsort(cand, n, sizeof(uint32_t), cmp_u32);
    for (size_t i = 0; i < n; i++)
        if ((k == 0 || cand[k - 1] != cand[i]) && mstore_seq(b, cand[i]))
            cand[k++] = cand[i];
    r = expunge(b, cand, k, 0, ch);
    free(cand);
    return r;
}

/* ---- the cache, by sequence number ------------------------------------------------------------
 */

int mstore_cache_get(struct mstore_box *b, uint32_t seq, int field, struct str *out)
{
    const struct mstore_msg *m = mstore_msg(b, seq);

    if (m == NULL || m->expunged)
        return MSTORE_EEXPUNGED;
    return ms_cache_get(b, m->uid, field, out);
}

void mstore_cache_put(struct mstore_box *b, uint32_t seq, int field, const void *p, size_t n)
{
    const struct mstore_msg *m = mstore_msg(b, seq);

    if (m != NULL && !m->expunged)
        ms_cache_put(b, m->uid, field, p, n);
}
