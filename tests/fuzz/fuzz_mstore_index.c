/*
 * fuzz_mstore_index.c - libFuzzer target: a mailbox opened over a damaged index or cache
 *
 * A small Maildir (four messages, one keyword, cached blobs) is made once in a
 * temporary directory and its petrel.index and petrel.cache are kept as the
 * healthy copies. Each input replaces one of the two files: the first byte
 * chooses which (bit 0 clear: the index, set: the cache; bit 2 with bit 0
 * clear: petrel.uids, the index removed) and whether every page gets a valid
 * checksum first (bit 1: so that damage past the checksums is tried too), the
 * rest is the file. The
 * mailbox is then opened, every message's flags, size and cached blobs are
 * read, a flag is stored and the view closed, through the mstore API as
 * imapd and popd use it. Whatever the file holds, no crash or sanitizer
 * report, every message is still listed after the open in ascending UIDs
 * below UIDNEXT, and with petrel.uids intact under its UIDs and UIDVALIDITY. Build and run: see
 * tests/fuzz/README.
 *
 * PETREL_FUZZ_SEEDS=DIR: write the healthy files (with their selector byte)
 * into DIR as seeds, then run as usual.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "mstore.h"

#define NMSG 4

static char root[64];
static struct str good_index = STR_INIT, good_cache = STR_INIT, good_lock = STR_INIT;
static struct str good_uids = STR_INIT;
static uint32_t good_uidvalidity;

static void die(const char *what)
{
    perror(what);
    abort();
}

static void slurp(const char *name, struct str *out)
{
    char buf[65536];
    char *p = xasprintf("%s/%s", root, name);
    int fd = open(p, O_RDONLY);
    ssize_t n;

    if (fd < 0)
        die(p);
    str_reset(out);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        str_catn(out, buf, (size_t)n);
    close(fd);
    free(p);
}

static void spill(const char *dir, const char *name, const void *data, size_t n)
{
    char *p = xasprintf("%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (fd < 0 || write(fd, data, n) != (ssize_t)n)
        die(p);
    close(fd);
    free(p);
}

/* tidy - remove what a rebuild leaves beside the Maildir (files moved aside) */
static void tidy(void)
{
    DIR *d = opendir(root);
    struct dirent *e;

    if (d == NULL)
        die(root);
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".corrupt"))
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 ? -1 : 0;
}

/* remove_root - at exit, the scratch Maildir goes */
static void remove_root(void)
{
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* make_box - the Maildir with its healthy index and cache */
static void make_box(void)
{
    static const char *const kw[] = {"$Label1"};
    struct mstore *st;
    struct mstore_box *b;
    struct str err = STR_INIT;
    unsigned char lock[16] = {0};
    uint32_t one = 1;

    strcpy(root, "/tmp/fuzz-mstore-XXXXXX");
    if (mkdtemp(root) == NULL)
        die("mkdtemp");
    atexit(remove_root);
    if (mstore_open(root, MSTORE_CREATE, &st, &err) != MSTORE_OK)
        die("mstore_open");
    /* a fixed UIDVALIDITY (the backup in petrel.lock, + 1), so that seeds stay valid */
    lock[8] = 0x00, lock[9] = 0x94, lock[10] = 0x35, lock[11] = 0x77; /* 2000000000 */
    spill(root, "petrel.lock", lock, sizeof(lock));
    for (int i = 0; i < NMSG; i++) {
        char name[64], text[64];
        snprintf(name, sizeof(name), "new/%d.M%dP1.fuzz%s", 1700000000 + i, i,
                 i == 2 ? ",W=30" : "");
        snprintf(text, sizeof(text), "Subject: %d\n\nbody %d\n", i, i);
        spill(root, name, text, strlen(text));
    }
    if (mstore_box_open(st, "INBOX", 0, &b) != MSTORE_OK || mstore_box_count(b) != NMSG)
        die("mstore_box_open");
    mstore_store(b, &one, 1, MSTORE_STORE_ADD, MSTORE_F_SEEN, kw, 1, 0, NULL);
    for (uint32_t seq = 1; seq <= NMSG; seq++) {
        mstore_cache_put(b, seq, MSTORE_CACHE_ENVELOPE, "(NIL \"s\" NIL NIL)", 18);
        mstore_cache_put(b, seq, MSTORE_CACHE_BODYSTRUCTURE, "(\"text\" \"plain\")", 17);
    }
    good_uidvalidity = mstore_box_uidvalidity(b);
    mstore_box_close(b);
    mstore_close(st);
    slurp("petrel.uids", &good_uids);
    slurp("petrel.index", &good_index);
    slurp("petrel.cache", &good_cache);
    slurp("petrel.lock", &good_lock);
    str_free(&err);
}

static void write_seeds(const char *dir)
{
    struct str s = STR_INIT;

    str_catc(&s, 0);
    str_catn(&s, good_index.s, good_index.len);
    spill(dir, "index-healthy", s.s, s.len);
    str_reset(&s);
    str_catc(&s, 1);
    str_catn(&s, good_cache.s, good_cache.len);
    spill(dir, "cache-healthy", s.s, s.len);
    str_reset(&s);
    str_catc(&s, 4);
    str_catn(&s, good_uids.s, good_uids.len);
    spill(dir, "uids-healthy", s.s, s.len);
    str_free(&s);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *seeds = getenv("PETREL_FUZZ_SEEDS");

    (void)argc;
    (void)argv;
    log_init("fuzz", 0); /* warnings about damaged files are expected: not shown */
    make_box();
    if (seeds)
        write_seeds(seeds);
    return 0;
}

/* fix_sums - give every page of a 4096-byte-page file a valid checksum, as
 * Berkeley DB computes it, so that inputs get past the checksums to the layout
 * checks and Berkeley DB's own code */
static void fix_sums(unsigned char *p, size_t n)
{
    for (size_t off = 0; off + 512 <= n; off += 4096) {
        size_t len = off == 0 ? 512 : 4096, at = off == 0 ? 492 : 28;
        uint32_t h = 0;
        if (off + len > n)
            break;
        for (size_t i = 0; i < len; i++)
            h = (h << 5) + h + (i >= at && i < at + 4 ? 0 : p[off + i]);
        for (int i = 0; i < 4; i++)
            p[off + at + i] = (unsigned char)(h >> (8 * i));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mstore *st;
    struct mstore_box *b;
    struct str err = STR_INIT, v = STR_INIT;
    uint32_t one = 1;
    int cache = size > 0 && (data[0] & 1), sums = size > 0 && (data[0] & 2);
    int uids = size > 0 && (data[0] & 4) && !cache;
    unsigned char *copy;

    if (size > 0) {
        data++;
        size--;
    }
    copy = xmalloc(size + 1);
    memcpy(copy, data, size);
    if (sums)
        fix_sums(copy, size);
    data = copy;
    tidy();
    spill(root, "petrel.lock", good_lock.s, good_lock.len);
    spill(root, "petrel.uids", uids ? (const char *)data : good_uids.s,
          uids ? size : good_uids.len);
    spill(root, "petrel.index", cache || uids ? good_index.s : (const char *)data,
          cache || uids ? good_index.len : size);
    if (uids) { /* the index lost: rebuilt from the fuzzed petrel.uids */
        char *p = xasprintf("%s/petrel.index", root);
        unlink(p);
        free(p);
    }
    spill(root, "petrel.cache", cache ? (const char *)data : good_cache.s,
          cache ? size : good_cache.len);
    if (mstore_open(root, 0, &st, &err) != MSTORE_OK)
        abort();
    if (mstore_box_open(st, "INBOX", 0, &b) != MSTORE_OK)
        abort(); /* a damaged index is rebuilt, never a failure */
    if (mstore_box_count(b) != NMSG)
        abort(); /* never lost mail */
    for (uint32_t seq = 1; seq < NMSG; seq++)
        if (mstore_msg(b, seq)->uid >= mstore_msg(b, seq + 1)->uid)
            abort();
    if (mstore_box_uidnext(b) <= mstore_msg(b, NMSG)->uid)
        abort();
    /* damage is found and the UIDs come back from petrel.uids (with checksums fixed,
     * the input may be a sound index that says something else) */
    if (!uids && !sums &&
        (mstore_box_uidvalidity(b) != good_uidvalidity || mstore_msg(b, NMSG)->uid != NMSG))
        abort();
    for (uint32_t seq = 1; seq <= NMSG; seq++) {
        uint64_t n;
        const struct mstore_msg *m = mstore_msg(b, seq);
        if (m == NULL || mstore_msg_size(b, seq, &n) != MSTORE_OK)
            abort();
        mstore_cache_get(b, seq, MSTORE_CACHE_ENVELOPE, &v);
        mstore_cache_get(b, seq, MSTORE_CACHE_BODYSTRUCTURE, &v);
    }
    mstore_store(b, &one, 1, MSTORE_STORE_ADD, MSTORE_F_FLAGGED, NULL, 0, 0, NULL);
    mstore_cache_put(b, 2, MSTORE_CACHE_BODY, "(\"text\")", 8);
    mstore_box_close(b);
    mstore_close(st);
    str_free(&err);
    str_free(&v);
    free(copy);
    return 0;
}
