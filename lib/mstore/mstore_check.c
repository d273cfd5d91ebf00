/*
 * mstore_check.c - trust in petrel.index and petrel.cache before Berkeley DB reads them
 *
 * Berkeley DB trusts its files: a damaged one (truncated, a zero-filled block
 * after a crash, a flipped bit on a page it does not checksum, a file of
 * another format or version) can make it read past its buffers or panic.
 * So a file is handed to it only when it is the one a Petrel writer left
 * behind, or once DB->verify has checked its whole structure and every page
 * checksum.
 *
 * Every section that opened a file for writing records the file's identity
 * (device, inode, size, mtime, ctime) in petrel.lock after closing it; an
 * opener compares stat() of the file with that record (the healthy case: one
 * stat and one pread). On a mismatch (a file changed by anything but a
 * Petrel writer, an older Petrel, a writer that died half-way) the file is
 * verified, and the record made when it passes. A database error inside a
 * section clears the record, so that the next opener verifies again. A file
 * that fails is moved aside as NAME.corrupt.<time> for the admin to look at.
 *
 * Called inside the file's locked section (mstore_index.c, mstore_cache.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"

#include "mstore_impl.h"
#include "mstore_check.h"

#define IDENT_SIZE 48

static const char *const file_names[] = {MS_INDEX_FILE, MS_CACHE_FILE};
static const int ident_offs[] = {MS_IDENT_INDEX_OFF, MS_IDENT_CACHE_OFF};

static struct str verify_message = STR_INIT;

/* verify_errcall - keep Berkeley DB's complaint for the warning */
static void verify_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
    (void)env;
    (void)pfx;
    if (verify_message.len == 0)
        str_cpy(&verify_message, msg);
}

static char *file_path(const struct mstore_box *b, int which)
{
    return xasprintf("%s/%s", b->path, file_names[which]);
}

/* ident_make - the bytes that identify one state of a file */
static void ident_make(const struct stat *st, unsigned char *p)
{
    ms_put64(p, (uint64_t)st->st_dev);
    ms_put64(p + 8, (uint64_t)st->st_ino);
    ms_put64(p + 16, (uint64_t)st->st_size);
    ms_put64(p + 24, (uint64_t)st->st_mtim.tv_sec);
    ms_put32(p + 32, (uint32_t)st->st_mtim.tv_nsec);
    ms_put64(p + 36, (uint64_t)st->st_ctim.tv_sec);
    ms_put32(p + 44, (uint32_t)st->st_ctim.tv_nsec);
}

static void ident_write(struct mstore_box *b, int which, const unsigned char *p)
{
    if (pwrite(b->lockfd, p, IDENT_SIZE, ident_offs[which]) != IDENT_SIZE)
        log_warn("write mailbox lock file of %s: %s", b->path, strerror(errno));
}

/* ---- our own look at the pages, before Berkeley DB's ------------------------------- *
 *
 * DB->verify itself trusts page types and item offsets (a page claiming to be of
 * a type a btree never has makes it free a pointer it never allocated), so the
 * file's layout is checked first, as Berkeley DB 5.3 writes a btree with page
 * checksums (dbinc/db_page.h): a meta page, then pages whose header names their
 * own number, of btree, overflow or free type, each with a valid checksum, and
 * on btree pages item offsets and lengths that stay inside the page. */

#define PG_HDR 26          /* LSN, pgno, prev, next, entries, hf_offset, level, type */
#define PG_SUM_OFF 28      /* the checksum of a page (PG_CHKSUM: 2 unused bytes, then 4) */
#define PG_OVERHEAD 32     /* header and checksum: where the item offsets begin */
#define META_SIZE 512      /* the meta page's checksummed part (DBMETASIZE) */
#define META_SUM_OFF 492   /* its checksum (BTMETA chksum) */
#define BT_MAGIC 0x053162u /* btree magic, version 9 (Berkeley DB 4.8 to 5.3) */
#define BT_VERSION 9
#define T_INVALID 0 /* a free page */
#define T_IBTREE 3
#define T_LBTREE 5
#define T_OVERFLOW 7
#define T_BTREEMETA 9
#define META_CHKSUM 0x01 /* metaflags: pages carry checksums */
#define B_KEYDATA 1
#define B_DUPLICATE 2
#define B_OVERFLOW 3
#define BOVERFLOW_SIZE 12
#define BINTERNAL_SIZE 12

static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* page_sum - Berkeley DB's checksum of a page without a key (__ham_func4 over the
 * bytes, the checksum field counted as zero) */
static uint32_t page_sum(const unsigned char *p, size_t n, size_t sum_off)
{
    uint32_t h = 0;

    for (size_t i = 0; i < n; i++)
        h = (h << 5) + h + (i >= sum_off && i < sum_off + 4 ? 0 : p[i]);
    return h;
}

/* item_ok - item k of btree page p (n bytes, npages in the file) lies inside the page */
static int item_ok(const unsigned char *p, size_t n, uint32_t npages, uint16_t off, int internal)
{
    size_t hdr = internal ? BINTERNAL_SIZE : 3, len;
    int type;

    if (off < PG_OVERHEAD || (size_t)off + hdr > n)
        return 0;
    if (internal && ms_get32(p + off + 4) >= npages) /* the child page */
        return 0;
    len = get16(p + off);
    type = p[off + 2] & 0x7f;
    if (type == B_KEYDATA)
        return (size_t)off + hdr + len <= n;
    if (type != B_OVERFLOW && type != B_DUPLICATE)
        return 0;
    if (internal) {
        off += BINTERNAL_SIZE;
        if ((size_t)off + BOVERFLOW_SIZE > n)
            return 0;
    } else if ((size_t)off + BOVERFLOW_SIZE > n) {
        return 0;
    }
    return ms_get32(p + off + 4) < npages; /* the first page of the overflow chain */
}

/* page_ok - page pgno of a file of npages pages of n bytes */
static int page_ok(const unsigned char *p, size_t n, uint32_t pgno, uint32_t npages)
{
    uint16_t entries = get16(p + 20), hf = get16(p + 22);
    int type = p[25];

    if (ms_get32(p + 8) != pgno || ms_get32(p + 12) >= npages || ms_get32(p + 16) >= npages ||
        ms_get32(p + PG_SUM_OFF) != page_sum(p, n, PG_SUM_OFF))
        return 0;
    switch (type) {
    case T_INVALID:
        return 1;
    case T_OVERFLOW:
        return hf <= n - PG_OVERHEAD;
    case T_IBTREE:
    case T_LBTREE:
        if (PG_OVERHEAD + 2 * (size_t)entries > hf || hf > n)
            return 0;
        for (uint16_t k = 0; k < entries; k++) {
            uint16_t off = get16(p + PG_OVERHEAD + 2 * k);
            if (off < hf || !item_ok(p, n, npages, off, type == T_IBTREE))
                return 0;
        }
        return 1;
    default:
        return 0;
    }
}

/* file_layout_ok - the pages of the file behind fd, as described above */
static int file_layout_ok(int fd, off_t size, struct str *why)
{
    unsigned char meta[META_SIZE], *page;
    uint32_t pagesize, npages;
    int ok = 1;

    if (size < META_SIZE || pread(fd, meta, META_SIZE, 0) != META_SIZE) {
        str_cpy(why, "shorter than a meta page");
        return 0;
    }
    pagesize = ms_get32(meta + 20);
    if (ms_get32(meta + 12) != BT_MAGIC || ms_get32(meta + 16) != BT_VERSION ||
        meta[25] != T_BTREEMETA || meta[24] != 0 || !(meta[26] & META_CHKSUM) ||
        ms_get32(meta + 8) != 0) {
        str_cpy(why, "not a Berkeley DB 5 btree with page checksums");
        return 0;
    }
    if (pagesize < 512 || pagesize > 65536 || (pagesize & (pagesize - 1)) != 0 ||
        size % pagesize != 0 || (uint64_t)size / pagesize > UINT32_MAX ||
        ms_get32(meta + 32) != (uint64_t)size / pagesize - 1) {
        str_cpy(why, "its size does not match its page count (truncated?)");
        return 0;
    }
    if (ms_get32(meta + META_SUM_OFF) != page_sum(meta, META_SIZE, META_SUM_OFF)) {
        str_cpy(why, "meta page checksum error");
        return 0;
    }
    npages = (uint32_t)(size / pagesize);
    page = xmalloc(pagesize);
    for (uint32_t pg = 1; pg < npages && ok; pg++) {
        if (pread(fd, page, pagesize, (off_t)pg * pagesize) != (ssize_t)pagesize ||
            !page_ok(page, pagesize, pg, npages)) {
            str_printf(why, "page %u is damaged", pg);
            ok = 0;
        }
    }
    free(page);
    return ok;
}

/* ms_db_verify - whether the file at path is a sound btree: its pages as Berkeley DB
 * writes them (checked here first), then DB->verify (structure, key order); the
 * reason goes to why */
int ms_db_verify(const char *path, struct str *why)
{
    struct stat st;
    DB *db;
    int r, fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0) {
        str_printf(why, "open: %s", strerror(errno));
        return -1;
    }
    r = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && file_layout_ok(fd, st.st_size, why);
    if (!r && why->len == 0)
        str_cpy(why, "not a regular file");
    close(fd);
    if (!r)
        return -1;
    if ((r = db_create(&db, NULL, 0)) != 0) {
        str_cpy(why, db_strerror(r));
        return -1;
    }
    str_reset(&verify_message);
    db->set_errcall(db, verify_errcall);
    r = db->verify(db, path, NULL, NULL, 0); /* frees the handle */
    if (r == 0)
        return 0;
    str_cpy(why, verify_message.len ? str_c(&verify_message) : db_strerror(r));
    return -1;
}

/* ms_file_check - whether the index or cache file (MS_FILE_*) may be opened: 0 yes (a
 * writer's record matches, or it was verified just now), 1 missing, -1 damaged (the
 * reason logged). Inside the file's locked section. */
int ms_file_check(struct mstore_box *b, int which)
{
    char *path = file_path(b, which);
    unsigned char have[IDENT_SIZE], want[IDENT_SIZE];
    struct str why = STR_INIT;
    struct stat st;
    int r = 0;

    if (stat(path, &st) < 0) {
        r = errno == ENOENT ? 1 : -1;
        if (r < 0)
            str_printf(&why, "stat: %s", strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        str_cpy(&why, "not a regular file");
        r = -1;
    } else {
        ident_make(&st, want);
        if (pread(b->lockfd, have, IDENT_SIZE, ident_offs[which]) == IDENT_SIZE &&
            memcmp(have, want, IDENT_SIZE) == 0) {
            free(path);
            return 0;
        }
        if (st.st_size == 0) {
            str_cpy(&why, "empty file");
            r = -1;
        } else if (ms_db_verify(path, &why) < 0) {
            r = -1;
        } else {
            ident_write(b, which, want); /* verified: this state of the file is sound */
        }
    }
    if (r < 0)
        log_warn("mailbox %s: %s is damaged: %s", b->path, file_names[which], str_c(&why));
    str_free(&why);
    free(path);
    return r;
}

/* ms_file_trust - a writer closed the file: record its identity */
void ms_file_trust(struct mstore_box *b, int which)
{
    char *path = file_path(b, which);
    unsigned char p[IDENT_SIZE];
    struct stat st;

    if (stat(path, &st) == 0) {
        ident_make(&st, p);
        ident_write(b, which, p);
    } else {
        ms_file_distrust(b, which);
    }
    free(path);
}

/* ms_file_distrust - a database error: the next opener verifies the file */
void ms_file_distrust(struct mstore_box *b, int which)
{
    unsigned char p[IDENT_SIZE];

    memset(p, 0, sizeof(p));
    ident_write(b, which, p);
}

/* ms_file_set_aside - move a damaged file out of the way (NAME.corrupt.<time>) */
void ms_file_set_aside(struct mstore_box *b, int which)
{
    char *path = file_path(b, which);
    char *bad = xasprintf("%s.corrupt.%lld", path, (long long)time(NULL));

    if (rename(path, bad) == 0)
        log_warn("mailbox %s: damaged %s moved aside to %s", b->path, file_names[which], bad);
    else if (errno != ENOENT)
        log_warn("rename %s: %s", path, strerror(errno));
    ms_file_distrust(b, which);
    free(bad);
    free(path);
}

/* ms_db_close - close a handle, also one whose private environment Berkeley DB declared
 * panicked (a checksum error: its close would fail and leave the handle's memory
 * behind); -1 when the close failed or the handle had panicked */
int ms_db_close(DB *db)
{
    DB_ENV *env = db->get_env(db);
    u_int32_t f = 0;
    int panicked = 0;

    if (env != NULL && env->get_flags(env, &f) == 0 && (f & DB_PANIC_ENVIRONMENT)) {
        panicked = 1;
        env->set_flags(env, DB_NOPANIC, 1);
    }
    return db->close(db, 0) == 0 && !panicked ? 0 : -1;
}
