/*
 * mstore_copy.c - new messages in a mailbox: APPEND, COPY and MOVE
 *
 * A new message file is written (or hard-linked) under tmp/ of the target
 * Maildir without any lock, by the one Maildir writer (maildir.c: unique
 * name, ,S= and ,W= sizes, fsync), then, inside one exclusive index section,
 * each file is renamed into cur/ and gets the next UID, so that a concurrent
 * scan can never see the file before it has its UID; cur/ is fsynced before
 * the section ends, and the index is fsynced when UIDs were handed out
 * (mstore_index.c). A MOVE copies first, then
 * expunges the sources: a crash in between leaves a copy, never a loss.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"

#include "maildir.h"
#include "mstore_impl.h"
#include "mstore_uidlog.h"
#include "mstore_index.h"
#include "mstore_box.h"

struct mstore_append {
    struct mstore_box *b;   /* handle of the target (no view) */
    struct maildir_file *f; /* the message under tmp/ (maildir.c) */
};

/* ---- APPEND ------------------------------------------------------------------------ */

int mstore_append_begin(struct mstore *st, const char *name, struct mstore_append **out)
{
    struct mstore_append *a;
    struct mstore_box *b;
    int r = ms_box_handle(st, name, 0, &b);

    *out = NULL;
    if (r != MSTORE_OK)
        return r;
    a = xcalloc(1, sizeof(*a));
    a->b = b;
    if (maildir_create(b->path, MAILDIR_CRLF, &a->f) < 0) {
        log_warn("create a file in %s/tmp: %s", b->path, strerror(errno));
        ms_box_free(b);
        free(a);
        return MSTORE_ETEMP;
    }
    *out = a;
    return MSTORE_OK;
}

int mstore_append_write(struct mstore_append *a, const void *p, size_t n)
{
    return maildir_write(a->f, p, n) < 0 ? MSTORE_ETEMP : MSTORE_OK;
}

void mstore_append_abort(struct mstore_append *a)
{
    if (a == NULL)
        return;
    maildir_free(a->f);
    ms_box_free(a->b);
    free(a);
}

/* add_file - inside an exclusive section: rename tmp into cur/ with flags and
 * record it under the next UID; returns the UID or 0. The caller fsyncs cur/
 * (maildir_sync_dir) before the section ends. */
static uint32_t add_file(struct mstore_box *b, const char *tmp, const char *base, unsigned flags,
                         uint64_t kw, int64_t size, int64_t date, uint64_t modseq)
{
    struct mstore_msg m;
    struct str name = STR_INIT;

    if (b->hdr.uidnext >= 0xfffffff0u) {
        log_warn("mailbox %s: UIDs exhausted", b->path);
        return 0;
    }
    maildir_set_flags(base, flags & MSTORE_F_SYSTEM, &name);
    if (maildir_move(tmp, b->path, str_c(&name)) < 0) {
        log_warn("rename %s to %s/cur/%s: %s", tmp, b->path, str_c(&name), strerror(errno));
        str_free(&name);
        return 0;
    }
    memset(&m, 0, sizeof(m));
    m.uid = b->hdr.uidnext++;
    m.flags = (uint8_t)(flags & MSTORE_F_SYSTEM);
    m.dir = 1;
    m.keywords = kw;
    m.modseq = modseq;
    m.size = size;
    m.date = date;
    m.fname = str_steal(&name);
    if (ms_rec_put(b, &m) < 0) {
        log_warn("write mailbox index of %s", b->path);
        free(m.fname);
        return 0; /* the file stays: the next scan gives it a UID */
    }
    ms_uidlog_add(b, m.uid, m.fname);
    free(m.fname);
    ms_idx_want_fsync();
    return m.uid;
}

/* sync_cur - make the renames into cur/ durable before the index hands out their UIDs */
static int sync_cur(struct mstore_box *b)
{
    if (maildir_sync_dir(b->path, "cur") < 0) {
        log_warn("fsync %s/cur: %s", b->path, strerror(errno));
        return -1;
    }
    return 0;
}

int mstore_append_commit(struct mstore_append *a, unsigned flags, const char *const *keywords,
                         size_t nkeywords, time_t date, uint32_t *uidvalidity, uint32_t *uid)
{
    struct mstore_box *b = a->b;
    struct timespec nt, ct, times[2];
    struct str base = STR_INIT;
    uint64_t kw = 0;
    int r = MSTORE_OK;

    *uid = *uidvalidity = 0;
    if (maildir_finish(a->f) < 0) {
        log_warn("write %s: %s", maildir_tmp_path(a->f), strerror(errno));
        mstore_append_abort(a);
        return MSTORE_ETEMP;
    }
    if (date <= 0)
        date = time(NULL);
    times[0].tv_sec = times[1].tv_sec = date;
    times[0].tv_nsec = times[1].tv_nsec = 0;
    utimensat(AT_FDCWD, maildir_tmp_path(a->f), times, 0);
    maildir_name(a->f, NULL, &base);
    if (ms_idx_begin(b, 1) < 0) {
        str_free(&base);
        mstore_append_abort(a);
        return MSTORE_ETEMP;
    }
    if (ms_dir_mtimes(b, &nt, &ct) < 0)
        memset(&ct, 0, sizeof(ct));
    if (nkeywords)
        r = ms_kw_mask(b, keywords, nkeywords, &kw);
    if (r == MSTORE_OK) {
        uint64_t modseq = b->hdr.highestmodseq + 1;
        *uid = add_file(b, maildir_tmp_path(a->f), str_c(&base), flags, kw,
                        (int64_t)maildir_crlf_size(a->f), (int64_t)date, modseq);
        if (*uid)
            maildir_keep(a->f); /* in cur/: nothing to remove from tmp/ */
        if (*uid && sync_cur(b) < 0)
            r = MSTORE_ETEMP; /* recorded all the same: at worst the client appends twice */
        if (*uid) {
            b->hdr.highestmodseq = modseq;
            ms_note_cur_change(b, &ct);
            if (ms_hdr_put(b) < 0)
                log_warn("write mailbox index of %s", b->path);
            *uidvalidity = b->hdr.uidvalidity;
        } else {
            r = MSTORE_ETEMP;
        }
    }
    ms_idx_end(b, *uid != 0);
    str_free(&base);
    mstore_append_abort(a);
    return r;
}

/* ---- COPY and MOVE ------------------------------------------------------------------------- */

struct copy_item {
    uint32_t src_uid;
    unsigned flags;
    struct strlist kw;
    int64_t size, date;
    struct str tmp;
    struct str base;
};

/* copy_file - copy src byte for byte under dir/tmp/ through the writer (when a hard link
 * is impossible); the item gets the file and its name with sizes; -1 with errno */
static int copy_file(struct copy_item *it, const char *src, const char *dir)
{
    char buf[65536];
    struct maildir_file *f;
    int in = open(src, O_RDONLY | O_CLOEXEC), e;
    ssize_t n = 0;

    if (in < 0)
        return -1;
    if (maildir_create(dir, 0, &f) < 0) {
        e = errno;
        close(in);
        errno = e;
        return -1;
    }
    while ((n = read(in, buf, sizeof(buf))) > 0 && maildir_write(f, buf, (size_t)n) == 0)
        ;
    e = errno;
    close(in);
    if (n != 0 || maildir_finish(f) < 0) {
        if (n == 0)
            e = errno;
        maildir_free(f);
        errno = e;
        return -1;
    }
    str_cpy(&it->tmp, maildir_tmp_path(f));
    maildir_name(f, NULL, &it->base);
    if (it->size < 0)
        it->size = (int64_t)maildir_crlf_size(f);
    maildir_keep(f);
    maildir_free(f);
    return 0;
}

/* place - hard-link (or copy) src under dir/tmp/ with a unique name and its sizes;
 * -1 with errno (ENOENT: the source vanished meanwhile) */
static int place(struct copy_item *it, const char *src, const char *dir)
{
    struct str base = STR_INIT;
    struct stat st;

    maildir_unique(&base);
    str_printf(&it->tmp, "%s/tmp/%s", dir, str_c(&base));
    if (link(src, str_c(&it->tmp)) == 0) {
        maildir_sized(&it->base, str_c(&base),
                      stat(str_c(&it->tmp), &st) == 0 ? (int64_t)st.st_size : -1, it->size);
        str_free(&base);
        return 0;
    }
    str_free(&base);
    str_reset(&it->tmp);
    return copy_file(it, src, dir);
}

/* snapshot - the current file, flags and keywords of the messages to copy */
static int snapshot(struct mstore_box *b, const uint32_t *seqs, size_t n, struct copy_item *items,
                    size_t *nitems, struct strlist *paths)
{
    struct str path = STR_INIT;

    *nitems = 0;
    if (ms_idx_begin(b, 0) < 0)
        return MSTORE_ETEMP;
    for (size_t i = 0; i < n; i++) {
        const struct mstore_msg *m = mstore_msg(b, seqs[i]);
        struct mstore_msg rec;
        struct copy_item *it;
        int r;
        if (m == NULL || m->expunged)
            continue;
        r = ms_rec_get(b, m->uid, &rec);
        if (r < 0) {
            ms_idx_end(b, 0);
            str_free(&path);
            return MSTORE_ETEMP;
        }
        if (r == 0)
            continue;
        it = &items[(*nitems)++];
        memset(it, 0, sizeof(*it));
        it->src_uid = rec.uid;
        it->flags = rec.flags;
        it->size = rec.size >= 0 ? rec.size : m->size;
        it->date = rec.date >= 0 ? rec.date : m->date;
        for (size_t k = 0; k < b->keywords.n && k < 64; k++)
            if (rec.keywords & (1ULL << k))
                strlist_add(&it->kw, b->keywords.v[k]);
        ms_msg_path(b, rec.dir, rec.fname, &path);
        strlist_add(paths, str_c(&path));
        free(rec.fname);
    }
    ms_idx_end(b, 0);
    str_free(&path);
    return MSTORE_OK;
}

static int cmp_seq(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int mstore_copy(struct mstore_box *b, const uint32_t *seqs, size_t n, const char *dest, int move,
                struct mstore_copy_result *res, struct mstore_changes *ch)
{
    struct mstore_box *d;
    struct copy_item *items;
    struct strlist paths = STRLIST_INIT;
    uint32_t *sorted;
    size_t nitems = 0, ndone = 0;
    struct timespec nt, ct;
    int r;

    if (res)
        memset(res, 0, sizeof(*res));
    if (ch)
        memset(ch, 0, sizeof(*ch));
    if (move && (b->flags & MSTORE_RDONLY))
        return MSTORE_ERDONLY;
    if ((r = ms_box_handle(b->st, dest, 0, &d)) != MSTORE_OK)
        return r;
    sorted = xcalloc(n + 1, sizeof(uint32_t));
    memcpy(sorted, seqs, n * sizeof(uint32_t));
    qsort(sorted, n, sizeof(uint32_t), cmp_seq);
    items = xcalloc(n + 1, sizeof(*items));
    if ((r = snapshot(b, sorted, n, items, &nitems, &paths)) != MSTORE_OK)
        goto out;
    /* hard-link (or copy) every file into the target's tmp/, without locks */
    for (size_t i = 0; i < nitems; i++) {
        struct copy_item *it = &items[i];
        if (place(it, paths.v[i], d->path) < 0) {
            if (errno != ENOENT) {
                log_warn("copy %s to %s/tmp: %s", paths.v[i], d->path, strerror(errno));
                r = MSTORE_ETEMP;
                goto out;
            }
            str_reset(&it->tmp); /* vanished meanwhile: skipped */
        }
    }
    if (ms_idx_begin(d, 1) < 0) {
        r = MSTORE_ETEMP;
        goto out;
    }
    if (ms_dir_mtimes(d, &nt, &ct) < 0)
        memset(&ct, 0, sizeof(ct));
    if (res) {
        res->uidvalidity = d->hdr.uidvalidity;
        res->src_uids = xcalloc(nitems + 1, sizeof(uint32_t));
        res->dst_uids = xcalloc(nitems + 1, sizeof(uint32_t));
    }
    {
        uint64_t modseq = d->hdr.highestmodseq + 1;
        for (size_t i = 0; i < nitems; i++) {
            struct copy_item *it = &items[i];
            uint64_t kw = 0;
            uint32_t uid;
            if (it->tmp.len == 0)
                continue;
            if (it->kw.n && ms_kw_mask(d, (const char *const *)it->kw.v, it->kw.n, &kw) != 0)
                kw = 0; /* the target's keyword table is full: the flags still go */
            uid = add_file(d, str_c(&it->tmp), str_c(&it->base), it->flags, kw, it->size, it->date,
                           modseq);
            if (uid == 0) {
                r = MSTORE_ETEMP;
                break;
            }
            str_reset(&it->tmp);
            if (res) {
                res->src_uids[res->n] = it->src_uid;
                res->dst_uids[res->n++] = uid;
            }
            sorted[ndone++] = it->src_uid; /* reused: the source UIDs done */
        }
        if (ndone && sync_cur(d) < 0)
            r = MSTORE_ETEMP; /* recorded all the same: at worst the client copies twice */
        if (ndone) {
            d->hdr.highestmodseq = modseq;
            ms_note_cur_change(d, &ct);
            if (ms_hdr_put(d) < 0)
                log_warn("write mailbox index of %s", d->path);
        }
    }
    ms_idx_end(d, ndone > 0);
    if (r == MSTORE_OK && move && ndone)
        r = mstore_expunge_uids(b, sorted, ndone, ch);
out:
    for (size_t i = 0; i < nitems; i++) {
        if (items[i].tmp.len)
            unlink(str_c(&items[i].tmp));
        str_free(&items[i].tmp);
        str_free(&items[i].base);
        strlist_free(&items[i].kw);
    }
    free(items);
    free(sorted);
    strlist_free(&paths);
    ms_box_free(d);
    return r;
}

void mstore_copy_result_free(struct mstore_copy_result *r)
{
    if (r == NULL)
        return;
    free(r->src_uids);
    free(r->dst_uids);
    memset(r, 0, sizeof(*r));
}
