/*
 * test_mstore.c - unit tests of the mail store (mstore*.c)
 *
 * Messages are "delivered" the way local delivery does it: a file written
 * straight into new/ (tmp + rename). Two views of one mailbox in the same
 * process stand for two sessions: the locks are per open file description,
 * so they behave as in two processes.
 */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <db.h>

#include "cfg.h"
#include "mem.h"
#include "mime.h"
#include "mstore.h"
#include "unit.h"

static int serial;

/* deliver - a message file in new/ of dir, as local delivery writes it */
static void deliver(const char *dir, const char *text)
{
    char *name = xasprintf("%d.M%06dP%d.test", 1700000000 + serial, serial, (int)getpid());
    char *tmp = xasprintf("%s/tmp/%s", dir, name);
    char *dst = xasprintf("%s/new/%s", dir, name);

    serial++;
    unit_write_file(tmp, text);
    assert_int_equal(rename(tmp, dst), 0);
    free(tmp);
    free(dst);
    free(name);
}

static int count_files(const char *dir, const char *sub)
{
    char *p = xasprintf("%s/%s", dir, sub);
    DIR *d = opendir(p);
    struct dirent *e;
    int n = 0;

    free(p);
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static struct mstore *open_store(const char *root)
{
    struct mstore *st;
    struct str err = STR_INIT;

    assert_int_equal(mstore_open(root, MSTORE_CREATE, &st, &err), MSTORE_OK);
    str_free(&err);
    return st;
}

static char *read_all(struct mstore_box *b, uint32_t seq, int crlf)
{
    struct str out = STR_INIT;
    char buf[7]; /* tiny on purpose: conversion across chunk boundaries */
    int fd;
    ssize_t n;

    assert_int_equal(mstore_msg_open(b, seq, &fd), MSTORE_OK);
    if (crlf) {
        struct mstore_crlf *r = xmalloc(sizeof(*r));
        mstore_crlf_init(r, fd);
        while ((n = mstore_crlf_read(r, buf, sizeof(buf))) > 0)
            str_catn(&out, buf, (size_t)n);
        free(r);
    } else {
        while ((n = read(fd, buf, sizeof(buf))) > 0)
            str_catn(&out, buf, (size_t)n);
    }
    close(fd);
    return str_steal(&out);
}

static void test_new_user_and_inbox(void **state)
{
    char *root0 = unit_tmpdir();
    char *root = xasprintf("%s/example.test/joe", root0);
    struct mstore *st = open_store(root);
    struct mstore_folders f;
    struct mstore_box *b;
    char uidl[MSTORE_UIDL_MAX], uidl2[MSTORE_UIDL_MAX];
    uint64_t size;
    char *text;

    /* a new user gets INBOX and the special-use folders, subscribed */
    assert_int_equal(mstore_list(st, &f), MSTORE_OK);
    assert_int_equal(f.n, 6);
    assert_string_equal(f.v[0].name, "INBOX");
    assert_string_equal(f.v[1].name, "Archive");
    assert_true(f.v[1].attrs & MSTORE_A_ARCHIVE);
    assert_true(f.v[1].attrs & MSTORE_A_SUBSCRIBED);
    assert_true(f.v[1].attrs & MSTORE_A_HASNOCHILDREN);
    assert_string_equal(f.v[5].name, "Trash");
    assert_true(f.v[5].attrs & MSTORE_A_TRASH);
    mstore_folders_free(&f);

    deliver(root, "Subject: one\n\nline\n.dot\n");
    deliver(root, "Subject: two\r\n\r\nalready crlf\r\n");
    deliver(root, "Subject: three\n\nbare\rcr\n");
    assert_int_equal(mstore_box_open(st, "inbox", 0, &b), MSTORE_OK);
    assert_string_equal(mstore_box_name(b), "INBOX");
    assert_int_equal(mstore_box_count(b), 3);
    assert_int_equal(mstore_msg(b, 1)->uid, 1);
    assert_int_equal(mstore_msg(b, 3)->uid, 3);
    assert_int_equal(mstore_box_uidnext(b), 4);
    assert_int_equal(mstore_seq(b, 2), 2);
    assert_int_equal(mstore_seq(b, 9), 0);
    assert_int_equal(mstore_seq_ge(b, 9), 4);
    /* RFC822.SIZE counts CRLF line ends */
    assert_int_equal(mstore_msg_size(b, 1, &size), MSTORE_OK);
    assert_int_equal(size, strlen("Subject: one\r\n\r\nline\r\n.dot\r\n"));
    /* through a descriptor: opened for the caller when not given, read without moving
     * the offset of one given, untouched when the size is known */
    int fd = -1;
    assert_int_equal(mstore_msg_size_fd(b, 2, &fd, &size), MSTORE_OK);
    assert_int_equal(size, strlen("Subject: two\r\n\r\nalready crlf\r\n"));
    assert_true(fd >= 0);
    char head[9];
    assert_int_equal(read(fd, head, 8), 8);
    head[8] = '\0';
    assert_string_equal(head, "Subject:");
    close(fd);
    fd = -1;
    assert_int_equal(mstore_msg_size_fd(b, 2, &fd, &size), MSTORE_OK);
    assert_int_equal(fd, -1);
    assert_int_equal(size, strlen("Subject: two\r\n\r\nalready crlf\r\n"));
    assert_int_equal(mstore_msg_open(b, 3, &fd), MSTORE_OK);
    assert_int_equal(read(fd, head, 3), 3);
    int given = fd;
    assert_int_equal(mstore_msg_size_fd(b, 3, &fd, &size), MSTORE_OK);
    assert_int_equal(fd, given);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 3);
    close(fd);
    assert_int_equal(size, strlen("Subject: three\r\n\r\nbare\rcr\r\n"));
    assert_int_equal(mstore_msg_size(b, 3, &size), MSTORE_OK);
    assert_int_equal(size, strlen("Subject: three\r\n\r\nbare\rcr\r\n"));
    text = read_all(b, 1, 1);
    assert_string_equal(text, "Subject: one\r\n\r\nline\r\n.dot\r\n");
    free(text);
    text = read_all(b, 2, 1);
    assert_string_equal(text, "Subject: two\r\n\r\nalready crlf\r\n");
    free(text);
    mstore_uidl(b, 2, uidl);
    assert_int_equal(strlen(uidl), 16);
    mstore_box_close(b);

    /* the same UIDs and UIDL in the next session, sizes from the index */
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    assert_int_equal(mstore_box_count(b), 3);
    assert_true(mstore_msg(b, 1)->size > 0);
    mstore_uidl(b, 2, uidl2);
    assert_string_equal(uidl, uidl2);
    mstore_box_close(b);

    mstore_close(st);
    unit_rmtree(root0);
    free(root);
    free(root0);
}

static void test_flags_and_two_sessions(void **state)
{
    char *root = unit_tmpdir();
    struct mstore *st = open_store(root);
    struct mstore_box *a, *b;
    struct mstore_changes ch;
    struct mstore_store_result res;
    uint32_t seqs[] = {2};
    const char *kws[] = {"$Forwarded", "Work"};
    char uidl[MSTORE_UIDL_MAX], uidl2[MSTORE_UIDL_MAX];
    size_t nkw;

    for (int i = 0; i < 5; i++)
        deliver(root, "Subject: x\n\nbody\n");
    assert_int_equal(mstore_box_open(st, "INBOX", MSTORE_RECENT, &a), MSTORE_OK);
    assert_int_equal(mstore_box_open(st, "INBOX", MSTORE_RECENT, &b), MSTORE_OK);
    /* \Recent went to the first session only */
    assert_int_equal(mstore_box_recent(a), 5);
    assert_int_equal(mstore_box_recent(b), 0);
    assert_true(mstore_msg(a, 1)->flags & MSTORE_F_RECENT);
    mstore_uidl(a, 2, uidl);

    /* a sets \Seen and keywords on message 2: the file moves to cur/ with :2,S */
    assert_int_equal(mstore_store(a, seqs, 1, MSTORE_STORE_ADD, MSTORE_F_SEEN, kws, 2, 0, &res),
                     MSTORE_OK);
    assert_int_equal(res.nchanged, 1);
    assert_int_equal(res.changed[0], 2);
    mstore_store_result_free(&res);
    assert_true(strstr(mstore_msg(a, 2)->fname, ":2,S") != NULL);
    assert_int_equal(mstore_msg(a, 2)->keywords, 3);
    assert_int_equal(count_files(root, "cur"), 1);
    assert_int_equal(count_files(root, "new"), 4);
    /* the same flags again change nothing */
    assert_int_equal(mstore_store(a, seqs, 1, MSTORE_STORE_ADD, MSTORE_F_SEEN, NULL, 0, 0, &res),
                     MSTORE_OK);
    assert_int_equal(res.nchanged, 0);
    mstore_store_result_free(&res);

    /* b learns of it: FETCH FLAGS for 2, new keywords, same UIDL */
    assert_int_equal(mstore_box_sync(b, 0, &ch), MSTORE_OK);
    assert_int_equal(ch.nexpunged, 0);
    assert_int_equal(ch.nchanged, 1);
    assert_int_equal(ch.changed[0], 2);
    assert_true(ch.keywords_changed);
    assert_false(ch.new_messages);
    mstore_changes_free(&ch);
    assert_true(mstore_msg(b, 2)->flags & MSTORE_F_SEEN);
    assert_string_equal(mstore_box_keywords(b, &nkw)[1], "Work");
    assert_int_equal(nkw, 2);
    mstore_uidl(b, 2, uidl2);
    assert_string_equal(uidl, uidl2);
    /* a's own change is not reported back to a */
    assert_int_equal(mstore_box_sync(a, 0, &ch), MSTORE_OK);
    assert_int_equal(ch.nchanged, 0);
    mstore_changes_free(&ch);

    /* -FLAGS and FLAGS */
    assert_int_equal(mstore_store(b, seqs, 1, MSTORE_STORE_SET, MSTORE_F_FLAGGED | MSTORE_F_DRAFT,
                                  NULL, 0, 0, NULL),
                     MSTORE_OK);
    assert_true(strstr(mstore_msg(b, 2)->fname, ":2,DF") != NULL);
    assert_int_equal(mstore_msg(b, 2)->keywords, 0);
    /* UNCHANGEDSINCE (CONDSTORE) refuses a message changed since */
    assert_int_equal(mstore_store(a, seqs, 1, MSTORE_STORE_ADD, MSTORE_F_ANSWERED, NULL, 0,
                                  mstore_msg(a, 2)->modseq, &res),
                     MSTORE_OK);
    assert_int_equal(res.nmodified, 1);
    mstore_store_result_free(&res);
    assert_true(mstore_box_highestmodseq(b) > 1);

    /* a program renaming a file by itself (a mail reader on the Maildir) is noticed */
    {
        char *from = xasprintf("%s/cur/%s", root, mstore_msg(b, 2)->fname);
        char *to = xstrdup(from);
        strcpy(strstr(to, ":2,") + 3, "S");
        assert_int_equal(rename(from, to), 0);
        assert_int_equal(mstore_box_sync(a, MSTORE_SYNC_FORCE, &ch), MSTORE_OK);
        assert_int_equal(ch.nchanged, 1);
        assert_int_equal(mstore_msg(a, 2)->flags & MSTORE_F_SYSTEM, MSTORE_F_SEEN);
        mstore_changes_free(&ch);
        free(from);
        free(to);
    }
    mstore_box_close(a);
    mstore_box_close(b);
    mstore_close(st);
    unit_rmtree(root);
    free(root);
}

static void test_expunge_and_new_mail(void **state)
{
    char *root = unit_tmpdir();
    struct mstore *st = open_store(root);
    struct mstore_box *a, *b;
    struct mstore_changes ch;
    uint32_t del[] = {2, 4};
    uint32_t uid5[] = {5};

    for (int i = 0; i < 5; i++)
        deliver(root, "Subject: x\n\nbody\n");
    assert_int_equal(mstore_box_open(st, "INBOX", MSTORE_RECENT, &a), MSTORE_OK);
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    assert_int_equal(mstore_store(a, del, 2, MSTORE_STORE_ADD, MSTORE_F_DELETED, NULL, 0, 0, NULL),
                     MSTORE_OK);
    /* UID EXPUNGE of a UID without \Deleted does nothing */
    assert_int_equal(mstore_expunge(a, uid5, 1, &ch), MSTORE_OK);
    assert_int_equal(ch.nexpunged, 0);
    mstore_changes_free(&ch);
    assert_int_equal(mstore_expunge(a, NULL, 0, &ch), MSTORE_OK);
    assert_int_equal(ch.nexpunged, 2);
    assert_int_equal(ch.expunged[0], 2);
    assert_int_equal(ch.expunged[1], 3); /* 4, renumbered after 2 went */
    assert_int_equal(ch.exists, 3);
    mstore_changes_free(&ch);
    assert_int_equal(mstore_box_count(a), 3);
    assert_int_equal(count_files(root, "new") + count_files(root, "cur"), 3);

    /* during a FETCH, b keeps the vanished messages; a full sync reports them */
    assert_int_equal(mstore_box_sync(b, MSTORE_SYNC_NO_EXPUNGE, &ch), MSTORE_OK);
    assert_int_equal(ch.nexpunged, 0);
    assert_int_equal(mstore_box_count(b), 5);
    assert_true(mstore_msg(b, 2)->expunged);
    mstore_changes_free(&ch);
    {
        int fd;
        assert_int_equal(mstore_msg_open(b, 2, &fd), MSTORE_EEXPUNGED);
    }
    assert_int_equal(mstore_box_sync(b, 0, &ch), MSTORE_OK);
    assert_int_equal(ch.nexpunged, 2);
    assert_int_equal(ch.expunged[0], 2);
    assert_int_equal(ch.expunged[1], 3);
    assert_int_equal(mstore_box_count(b), 3);
    assert_int_equal(mstore_msg(b, 3)->uid, 5);
    mstore_changes_free(&ch);

    /* new mail: both see it, \Recent only for the session that holds it; the
     * watch descriptor (IDLE) wakes up */
    {
        int wfd = mstore_box_watch(b);
        struct pollfd pfd;
        assert_true(wfd >= 0);
        pfd.fd = wfd;
        pfd.events = POLLIN;
        assert_int_equal(poll(&pfd, 1, 0), 0);
        deliver(root, "Subject: new\n\nhi\n");
        assert_int_equal(poll(&pfd, 1, 1000), 1);
        mstore_box_watch_drain(b);
        assert_int_equal(poll(&pfd, 1, 0), 0);
    }
    assert_int_equal(mstore_box_sync(b, 0, &ch), MSTORE_OK);
    assert_true(ch.new_messages);
    assert_int_equal(ch.exists, 4);
    assert_int_equal(ch.recent, 0);
    assert_int_equal(mstore_msg(b, 4)->uid, 6);
    mstore_changes_free(&ch);
    assert_int_equal(mstore_box_sync(a, 0, &ch), MSTORE_OK);
    assert_true(ch.new_messages);
    assert_int_equal(ch.recent, 4);
    assert_true(mstore_msg(a, 4)->flags & MSTORE_F_RECENT);
    mstore_changes_free(&ch);

    /* POP3-style removal whatever the flags; it wakes the other session's watch */
    {
        uint32_t uids[] = {6, 1};
        struct pollfd pfd;
        pfd.fd = mstore_box_watch(a);
        pfd.events = POLLIN;
        mstore_box_watch_drain(a);
        assert_int_equal(mstore_expunge_uids(b, uids, 2, &ch), MSTORE_OK);
        assert_int_equal(poll(&pfd, 1, 1000), 1);
        assert_int_equal(ch.nexpunged, 2);
        assert_int_equal(ch.expunged[0], 1);
        assert_int_equal(ch.expunged[1], 3);
        mstore_changes_free(&ch);
    }
    assert_int_equal(mstore_box_sync(a, 0, &ch), MSTORE_OK);
    assert_int_equal(ch.nexpunged, 2);
    assert_int_equal(ch.exists, 2);
    mstore_changes_free(&ch);

    mstore_box_close(a);
    mstore_box_close(b);
    mstore_close(st);
    unit_rmtree(root);
    free(root);
}

static void test_status_and_session_lock(void **state)
{
    char *root = unit_tmpdir();
    struct mstore *st = open_store(root);
    struct mstore_box *a, *b;
    struct mstore_status s;

    for (int i = 0; i < 3; i++)
        deliver(root, "Subject: x\n\nbody\n");
    assert_int_equal(mstore_status(st, "INBOX", &s), MSTORE_OK);
    assert_int_equal(s.messages, 3);
    assert_int_equal(s.recent, 3);
    assert_int_equal(s.unseen, 3);
    assert_int_equal(s.uidnext, 4);
    assert_true(s.uidvalidity > 0);
    assert_int_equal(mstore_status(st, "Nope", &s), MSTORE_ENOTFOUND);

    assert_int_equal(mstore_box_open(st, "INBOX", 0, &a), MSTORE_OK);
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    assert_int_equal(mstore_box_lock_session(a), MSTORE_OK);
    assert_int_equal(mstore_box_lock_session(b), MSTORE_EINUSE);
    mstore_box_close(a);
    assert_int_equal(mstore_box_lock_session(b), MSTORE_OK);
    mstore_box_close(b);
    /* EXAMINE (read-only) refuses changes */
    assert_int_equal(mstore_box_open(st, "INBOX", MSTORE_RDONLY | MSTORE_RECENT, &a), MSTORE_OK);
    assert_int_equal(mstore_box_recent(a), 0);
    {
        uint32_t one = 1;
        assert_int_equal(
            mstore_store(a, &one, 1, MSTORE_STORE_ADD, MSTORE_F_SEEN, NULL, 0, 0, NULL),
            MSTORE_ERDONLY);
        assert_int_equal(mstore_expunge(a, NULL, 0, NULL), MSTORE_ERDONLY);
    }
    mstore_box_close(a);
    mstore_close(st);
    unit_rmtree(root);
    free(root);
}

/* A lost index is rebuilt from the Maildir: with petrel.uids, every file keeps its UID
 * and the UIDVALIDITY stays (the cache too), flags come from the names, new files get
 * UIDs above every UID handed out before; without it, a greater UIDVALIDITY. */
static void test_rebuild(void **state)
{
    char *root = unit_tmpdir();
    char *idx = xasprintf("%s/petrel.index", root);
    char *uids = xasprintf("%s/petrel.uids", root);
    struct mstore *st = open_store(root);
    struct mstore_box *b;
    struct mstore_changes ch;
    uint32_t uidv, one = 1, gone[] = {2, 5}, want[8], nwant = 0, next;
    struct str v = STR_INIT;

    for (int i = 0; i < 6; i++)
        deliver(root, "Subject: x\n\nbody\n");
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    uidv = mstore_box_uidvalidity(b);
    assert_int_equal(mstore_store(b, &one, 1, MSTORE_STORE_ADD, MSTORE_F_FLAGGED, NULL, 0, 0, NULL),
                     MSTORE_OK);
    assert_int_equal(mstore_expunge_uids(b, gone, 2, NULL), MSTORE_OK);
    mstore_cache_put(b, 1, MSTORE_CACHE_ENVELOPE, "(env)", 5);
    mstore_box_close(b);
    /* an APPEND's UID, then a delivery seen by a scan */
    {
        struct mstore_append *a;
        uint32_t av, au;
        assert_int_equal(mstore_append_begin(st, "INBOX", &a), MSTORE_OK);
        assert_int_equal(mstore_append_write(a, "Subject: a\r\n\r\nx\r\n", 17), MSTORE_OK);
        assert_int_equal(mstore_append_commit(a, MSTORE_F_SEEN, NULL, 0, 0, &av, &au), MSTORE_OK);
        assert_int_equal(au, 7);
    }
    deliver(root, "Subject: z\n\nbody\n");
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    for (uint32_t s = 1; s <= mstore_box_count(b); s++)
        want[nwant++] = mstore_msg(b, s)->uid;
    assert_int_equal(nwant, 6); /* 1 3 4 6 7 8 */
    next = mstore_box_uidnext(b);
    mstore_box_close(b);

    /* a missing index: the same UIDs, UIDVALIDITY and cache, flags from the file names */
    unlink(idx);
    deliver(root, "Subject: new\n\nbody\n");
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    assert_int_equal(mstore_box_uidvalidity(b), uidv);
    assert_int_equal(mstore_box_count(b), 7);
    for (uint32_t i = 0; i < nwant; i++)
        assert_int_equal(mstore_msg(b, i + 1)->uid, want[i]);
    assert_int_equal(mstore_msg(b, 7)->uid, next); /* the new file: above every UID */
    assert_int_equal(mstore_msg(b, 1)->flags, MSTORE_F_FLAGGED);
    assert_int_equal(mstore_msg(b, 5)->flags & MSTORE_F_SEEN, MSTORE_F_SEEN);
    assert_int_equal(mstore_cache_get(b, 1, MSTORE_CACHE_ENVELOPE, &v), 1);
    assert_string_equal(str_c(&v), "(env)");
    mstore_box_close(b);

    /* no petrel.uids either: a greater UIDVALIDITY, and the cache of the old UIDs is gone */
    unlink(idx);
    unlink(uids);
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    assert_int_equal(mstore_box_count(b), 7);
    assert_true(mstore_box_uidvalidity(b) > uidv);
    assert_int_equal(mstore_msg(b, 1)->flags, MSTORE_F_FLAGGED);
    assert_int_equal(mstore_cache_get(b, 1, MSTORE_CACHE_ENVELOPE, &v), 0);
    uidv = mstore_box_uidvalidity(b);
    mstore_box_close(b);

    /* a damaged index, replaced under an open view: the view keeps its UIDs */
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    one = mstore_msg(b, 3)->uid;
    unit_write_file(idx, "this is not a Berkeley DB file, not at all, really not.........");
    deliver(root, "Subject: y\n\nbody\n");
    assert_int_equal(mstore_box_sync(b, 0, &ch), MSTORE_OK);
    assert_false(ch.uidvalidity_changed);
    assert_int_equal(ch.exists, 8);
    assert_int_equal(ch.nexpunged, 0);
    assert_int_equal(mstore_box_uidvalidity(b), uidv);
    assert_int_equal(mstore_msg(b, 3)->uid, one);
    mstore_changes_free(&ch);
    mstore_box_close(b);

    str_free(&v);
    mstore_close(st);
    unit_rmtree(root);
    free(root);
    free(idx);
    free(uids);
}

/* count_entries - lines of a file that start with a digit (petrel.uids entries), and the
 * file's size; -1: no file */
static long count_entries(const char *path, off_t *size)
{
    FILE *f = fopen(path, "r");
    char line[512];
    long n = 0;
    struct stat st;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (line[0] >= '1' && line[0] <= '9')
            n++;
    fstat(fileno(f), &st);
    *size = st.st_size;
    fclose(f);
    return n;
}

/* edit_file - replace the first occurrence of from by to in the file at path */
static void edit_file(const char *path, const char *from, const char *to)
{
    struct str all = STR_INIT, out = STR_INIT;
    char buf[65536];
    int fd = open(path, O_RDONLY);
    ssize_t n;
    char *at;

    assert_true(fd >= 0);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        str_catn(&all, buf, (size_t)n);
    close(fd);
    at = strstr(str_c(&all), from);
    assert_non_null(at);
    str_catn(&out, all.s, (size_t)(at - all.s));
    str_cat(&out, to);
    str_cat(&out, at + strlen(from));
    unit_write_file(path, str_c(&out));
    str_free(&all);
    str_free(&out);
}

/* petrel.uids: written for a mailbox that has none (an index of an older Petrel) and
 * for one of another UIDVALIDITY; a damaged line or a torn last line is not believed
 * (those files get new UIDs above every UID handed out); rewritten when expunged lines
 * are most of it. */
static void test_uidlog(void **state)
{
    enum { MANY = 2000 };
    char *root = unit_tmpdir();
    char *idx = xasprintf("%s/petrel.index", root), *uids = xasprintf("%s/petrel.uids", root);
    struct mstore *st = open_store(root);
    struct mstore_box *b;
    off_t size;
    uint32_t uidv, next;
    char base2[128];

    for (int i = 0; i < 5; i++)
        deliver(root, "Subject: x\n\nbody\n");
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    uidv = mstore_box_uidvalidity(b);
    next = mstore_box_uidnext(b);
    snprintf(base2, sizeof(base2), "2 %s ", mstore_msg(b, 2)->fname);
    mstore_box_close(b);
    assert_int_equal(count_entries(uids, &size), 5);

    /* none (an older Petrel's mailbox): the next sync writes it from the index */
    unlink(uids);
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    mstore_box_close(b);
    assert_int_equal(count_entries(uids, &size), 5);
    /* another UIDVALIDITY's: rewritten too */
    {
        FILE *f = fopen(uids, "w");
        fprintf(f, "petrel-uids 1 %u %08x\n", uidv + 5, 0u);
        fclose(f);
    }
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    mstore_box_close(b);
    assert_int_equal(count_entries(uids, &size), 5);

    /* UID 2's line damaged, UID 5's torn: those two get new UIDs, the others keep theirs */
    base2[2] ^= 1;
    {
        char orig[128];
        snprintf(orig, sizeof(orig), "%s", base2);
        orig[2] ^= 1;
        edit_file(uids, orig, base2);
    }
    assert_int_equal(truncate(uids, size - 4), 0);
    unlink(idx);
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    assert_int_equal(mstore_box_uidvalidity(b), uidv);
    assert_int_equal(mstore_box_count(b), 5);
    assert_int_equal(mstore_msg(b, 1)->uid, 1);
    assert_int_equal(mstore_msg(b, 2)->uid, 3);
    assert_int_equal(mstore_msg(b, 3)->uid, 4);
    assert_int_equal(mstore_msg(b, 4)->uid, next);
    assert_int_equal(mstore_msg(b, 5)->uid, next + 1);
    mstore_box_close(b);

    /* expunged lines pile up until they are most of the file, then it is rewritten */
    for (int i = 0; i < MANY; i++) /* past 64 KiB of lines */
        deliver(root, "Subject: x\n\nbody\n");
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    {
        uint32_t n = mstore_box_count(b), *all = xcalloc(n, sizeof(uint32_t));
        for (uint32_t i = 0; i + 10 < n; i++)
            all[i] = mstore_msg(b, i + 1)->uid;
        assert_int_equal(mstore_expunge_uids(b, all, n - 10, NULL), MSTORE_OK);
        free(all);
    }
    assert_true(count_entries(uids, &size) > 1000);
    deliver(root, "Subject: x\n\nbody\n");
    assert_int_equal(mstore_box_sync(b, 0, NULL), MSTORE_OK);
    mstore_box_close(b);
    assert_int_equal(count_entries(uids, &size), 11);
    unlink(idx); /* and it still gives the UIDs back, with UIDNEXT above the gone ones */
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    assert_int_equal(mstore_box_uidvalidity(b), uidv);
    assert_int_equal(mstore_box_count(b), 11);
    assert_int_equal(mstore_msg(b, 11)->uid, next + 2 + MANY);
    assert_int_equal(mstore_box_uidnext(b), next + 2 + MANY + 1);
    mstore_box_close(b);

    mstore_close(st);
    unit_rmtree(root);
    free(root);
    free(idx);
    free(uids);
    (void)state;
}

/* ---- damaged index and cache files ---- */

enum damage { D_TRUNCATE, D_ZERO, D_FLIP, D_BYTES, D_ITEMS, D_HASHDB, D_PLAIN_BTREE, D_TEXT };

struct damage_case {
    const char *what;
    enum damage how;
    long arg;   /* truncation length (negative: from the end), zeroed range start, or seed */
    int unused; /* may hit bytes Berkeley DB never reads (the meta page past its first
                   512 bytes): the file may then rightly be kept */
};

static const struct damage_case damage_cases[] = {
    {"truncated to 0", D_TRUNCATE, 0, 0},
    {"truncated to 100", D_TRUNCATE, 100, 0},
    {"truncated to 512", D_TRUNCATE, 512, 0},
    {"truncated to a page", D_TRUNCATE, 4096, 0},
    {"truncated mid-page", D_TRUNCATE, 6000, 0},
    {"one byte short", D_TRUNCATE, -1, 0},
    {"zero-filled", D_ZERO, -1, 0},
    {"second page zeroed", D_ZERO, 4096, 0},
    {"last page zeroed", D_ZERO, -4096, 0},
    {"a bit flipped (seed 1)", D_FLIP, 1, 1},
    {"a bit flipped (seed 2)", D_FLIP, 2, 1},
    {"a bit flipped (seed 3)", D_FLIP, 3, 1},
    {"a bit flipped (seed 4)", D_FLIP, 4, 1},
    {"a bit flipped in the meta page", D_FLIP, -26, 0}, /* the checksum flag */
    {"random bytes (seed 5)", D_BYTES, 5, 1},
    {"random bytes (seed 6)", D_BYTES, 6, 1},
    {"random bytes (seed 7)", D_BYTES, 7, 1},
    {"checksums off, item lengths past the page", D_ITEMS, 0, 0},
    {"a hash database", D_HASHDB, 0, 0},
    {"a btree without checksums, another version", D_PLAIN_BTREE, 0, 0},
    {"a text file", D_TEXT, 0, 0},
};

/* another_db - replace path with a Berkeley DB file Petrel did not write */
static void another_db(const char *path, DBTYPE type)
{
    unsigned char hdr[53] = {2}; /* an index header of version 2 */
    DB *db;
    DBT k, v;

    unlink(path);
    assert_int_equal(db_create(&db, NULL, 0), 0);
    assert_int_equal(db->open(db, NULL, path, NULL, type, DB_CREATE, 0600), 0);
    for (int i = 0; i < 3; i++) {
        const char *key = i == 0 ? "H" : i == 1 ? "V" : "U\0\0\0\1";
        memset(&k, 0, sizeof(k));
        memset(&v, 0, sizeof(v));
        k.data = (void *)key;
        k.size = i == 2 ? 5 : 1;
        v.data = hdr;
        v.size = sizeof(hdr);
        assert_int_equal(db->put(db, NULL, &k, &v, 0), 0);
    }
    db->close(db, 0);
}

/* damage - apply one damage case to the file at path, later than its last write (as
 * damage comes: in the same clock tick, the file would look as its writer left it) */
static void damage(const char *path, const struct damage_case *c)
{
    int fd = open(path, O_RDWR);
    struct stat st;
    struct timespec now;
    unsigned char buf[4096];

    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    do {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        clock_gettime(CLOCK_REALTIME_COARSE, &now);
    } while (now.tv_sec * 1000000000LL + now.tv_nsec <
             st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec + 20000000LL);
    assert_true(st.st_size >= 3 * 4096); /* the cases assume a few pages */
    srandom((unsigned)c->arg);
    switch (c->how) {
    case D_TRUNCATE:
        assert_int_equal(ftruncate(fd, c->arg >= 0 ? c->arg : st.st_size + c->arg), 0);
        break;
    case D_ZERO: {
        off_t from = c->arg == -1 ? 0 : c->arg >= 0 ? c->arg : st.st_size + c->arg;
        off_t to = c->arg == -1 ? st.st_size : from + 4096;
        memset(buf, 0, sizeof(buf));
        for (off_t o = from; o < to; o += 4096)
            assert_int_equal(pwrite(fd, buf, 4096, o), 4096);
        break;
    }
    case D_FLIP: {
        off_t at = c->arg < 0 ? -c->arg : random() % st.st_size;
        assert_int_equal(pread(fd, buf, 1, at), 1);
        buf[0] ^= (unsigned char)(1u << (c->arg < 0 ? 0 : random() % 8));
        assert_int_equal(pwrite(fd, buf, 1, at), 1);
        break;
    }
    case D_BYTES:
        for (int i = 0; i < 8; i++) {
            off_t at = random() % (st.st_size - 16);
            for (int j = 0; j < 16; j++)
                buf[j] = (unsigned char)random();
            assert_int_equal(pwrite(fd, buf, 16, at), 16);
        }
        break;
    case D_ITEMS: /* the meta page's checksum flag cleared, then on every leaf page
                     (Berkeley DB's type 5) the first item's length made huge */
        assert_int_equal(pread(fd, buf, 1, 26), 1);
        buf[0] &= (unsigned char)~1;
        assert_int_equal(pwrite(fd, buf, 1, 26), 1);
        for (off_t o = 4096; o + 4096 <= st.st_size; o += 4096) {
            assert_int_equal(pread(fd, buf, 4096, o), 4096);
            if (buf[25] != 5 || (buf[20] | buf[21]) == 0)
                continue;
            unsigned off = buf[32] | buf[33] << 8;
            if (off + 2 > 4096)
                continue;
            buf[off] = 0xf0;
            buf[off + 1] = 0xff;
            assert_int_equal(pwrite(fd, buf, 4096, o), 4096);
        }
        break;
    case D_HASHDB:
        another_db(path, DB_HASH);
        break;
    case D_PLAIN_BTREE:
        another_db(path, DB_BTREE);
        break;
    case D_TEXT:
        unit_write_file(path, "this is not a Berkeley DB file\n");
        break;
    }
    close(fd);
}

/* count_corrupt - files moved aside as petrel.FILE.corrupt.<time> */
static int count_corrupt(const char *dir, const char *file)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char *pfx = xasprintf("%s.corrupt.", file);
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, pfx, strlen(pfx)) == 0)
            n++;
    closedir(d);
    free(pfx);
    return n;
}

/* A damaged petrel.index or petrel.cache (truncated, zero-filled, bit-flipped, random
 * bytes, another format or version) is found before Berkeley DB reads it: the mailbox
 * opens with every message under its UID and the UIDVALIDITY, the cache reads as "not
 * cached" or right, a damaged index is moved aside, and a second open finds healthy
 * files. Run under AddressSanitizer too: the
 * old code read past Berkeley DB's buffers here. */
static void test_damaged_files(void **state)
{
    enum { N = 120 };
    static const char *const files[] = {"petrel.index", "petrel.cache"};
    char big[12000];

    memset(big, 'x', sizeof(big));
    for (size_t f = 0; f < 2; f++)
        for (size_t i = 0; i < sizeof(damage_cases) / sizeof(damage_cases[0]); i++) {
            const struct damage_case *c = &damage_cases[i];
            char *root = unit_tmpdir();
            char *path = xasprintf("%s/%s", root, files[f]);
            struct mstore *st = open_store(root);
            struct mstore_box *b;
            struct str v = STR_INIT;
            uint32_t one = 1, uidv;

            for (int k = 0; k < N; k++)
                deliver(root, "Subject: x\n\nbody\n");
            assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
            uidv = mstore_box_uidvalidity(b);
            for (uint32_t seq = 1; seq <= N; seq++)
                mstore_cache_put(b, seq, MSTORE_CACHE_ENVELOPE, big, seq == 7 ? sizeof(big) : 100);
            mstore_box_close(b);
            print_message("%s %s\n", files[f], c->what);
            damage(path, c);

            assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
            assert_int_equal(mstore_box_count(b), N);
            assert_int_equal(mstore_box_uidvalidity(b), uidv); /* petrel.uids has them */
            for (uint32_t seq = 1; seq <= N; seq++) {
                int r = mstore_cache_get(b, seq, MSTORE_CACHE_ENVELOPE, &v);
                assert_int_equal(mstore_msg(b, seq)->uid, seq);
                assert_true(r == 0 || r == 1);
                if (r == 1)
                    assert_int_equal(v.len, seq == 7 ? sizeof(big) : 100);
            }
            assert_int_equal(
                mstore_store(b, &one, 1, MSTORE_STORE_ADD, MSTORE_F_SEEN, NULL, 0, 0, NULL),
                MSTORE_OK);
            mstore_cache_put(b, 2, MSTORE_CACHE_BODY, "(body)", 6);
            mstore_box_close(b);
            if (!c->unused)
                assert_int_equal(count_corrupt(root, files[f]), 1);
            /* the second open: healthy files, the flag and the new cache entry kept */
            assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
            assert_int_equal(mstore_box_count(b), N);
            assert_int_equal(mstore_msg(b, 1)->flags & MSTORE_F_SEEN, MSTORE_F_SEEN);
            assert_int_equal(mstore_cache_get(b, 2, MSTORE_CACHE_BODY, &v), 1);
            mstore_box_close(b);
            assert_true(count_corrupt(root, files[f]) <= 1);

            str_free(&v);
            mstore_close(st);
            unit_rmtree(root);
            free(root);
            free(path);
        }
    (void)state;
}

static void test_cache(void **state)
{
    char *root = unit_tmpdir();
    struct mstore *st = open_store(root);
    struct mstore_box *b;
    struct str v = STR_INIT;

    deliver(root, "Subject: x\n\nbody\n");
    deliver(root, "Subject: y\n\nbody\n");
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    assert_int_equal(mstore_cache_get(b, 1, MSTORE_CACHE_ENVELOPE, &v), 0);
    mstore_cache_put(b, 1, MSTORE_CACHE_ENVELOPE, "(NIL \"x\")", 9);
    mstore_cache_put(b, 2, MSTORE_CACHE_BODYSTRUCTURE, "(\"text\")", 8);
    assert_int_equal(mstore_cache_get(b, 1, MSTORE_CACHE_ENVELOPE, &v), 1); /* buffered */
    assert_string_equal(str_c(&v), "(NIL \"x\")");
    assert_int_equal(mstore_box_flush(b), MSTORE_OK);
    mstore_box_close(b);
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    assert_int_equal(mstore_cache_get(b, 2, MSTORE_CACHE_BODYSTRUCTURE, &v), 1);
    assert_string_equal(str_c(&v), "(\"text\")");
    assert_int_equal(mstore_cache_get(b, 2, MSTORE_CACHE_ENVELOPE, &v), 0);
    assert_int_equal(mstore_cache_get(b, 9, MSTORE_CACHE_ENVELOPE, &v), MSTORE_EEXPUNGED);
    mstore_box_close(b);
    str_free(&v);
    mstore_close(st);
    unit_rmtree(root);
    free(root);
}

/* An EXPUNGE drops the cache entries of every field of the expunged UIDs and keeps the
 * others'; a file in the old layout (UID + field keys, a 4-byte "V") is not used, and
 * the next write replaces it. */
static void test_cache_expunge_and_layout(void **state)
{
    static const int fields[] = {MSTORE_CACHE_ENVELOPE, MSTORE_CACHE_BODYSTRUCTURE,
                                 MSTORE_CACHE_BODY, MSTORE_CACHE_SEARCH};
    char *root = unit_tmpdir();
    struct mstore *st = open_store(root);
    struct mstore_box *b;
    struct str v = STR_INIT;
    uint32_t gone[] = {2, 5, 6};

    for (int i = 0; i < 7; i++)
        deliver(root, "Subject: x\n\nbody\n");
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    for (uint32_t seq = 1; seq <= 7; seq++)
        for (size_t f = 0; f < 4; f++) {
            char e[16];
            snprintf(e, sizeof(e), "%c%u", fields[f], seq);
            mstore_cache_put(b, seq, fields[f], e, strlen(e));
        }
    assert_int_equal(mstore_box_flush(b), MSTORE_OK);
    assert_int_equal(mstore_expunge_uids(b, gone, 3, NULL), MSTORE_OK);
    mstore_box_close(b);
    /* UIDs are never reused, so a stale entry could not be found through the store: the
     * file itself must hold the entries of UIDs 1, 3, 4 and 7 only */
    char *path = xasprintf("%s/petrel.cache", root);
    DB *db;
    DBC *c;
    DBT k, d;
    int n = 0;
    assert_int_equal(db_create(&db, NULL, 0), 0);
    assert_int_equal(db->open(db, NULL, path, NULL, DB_BTREE, DB_RDONLY, 0), 0);
    assert_int_equal(db->cursor(db, NULL, &c, 0), 0);
    memset(&k, 0, sizeof(k));
    memset(&d, 0, sizeof(d));
    while (c->get(c, &k, &d, DB_NEXT) == 0) {
        if (k.size == 1)
            continue; /* "V" */
        assert_int_equal(k.size, 5);
        const unsigned char *kp = k.data;
        uint32_t uid = (uint32_t)kp[1] << 24 | (uint32_t)kp[2] << 16 | kp[3] << 8 | kp[4];
        char want[16];
        snprintf(want, sizeof(want), "%c%u", kp[0], uid);
        assert_true(uid != 2 && uid != 5 && uid != 6);
        assert_int_equal(d.size, strlen(want));
        assert_memory_equal(d.data, want, d.size);
        n++;
    }
    assert_int_equal(n, 4 * 4);
    c->close(c);
    /* the old layout's "V": the UIDVALIDITY alone */
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    assert_int_equal(mstore_cache_get(b, 1, MSTORE_CACHE_ENVELOPE, &v), 1);
    assert_string_equal(str_c(&v), "E1");
    unsigned char old[4];
    mstore_box_close(b);
    db->close(db, 0);
    assert_int_equal(db_create(&db, NULL, 0), 0);
    assert_int_equal(db->open(db, NULL, path, NULL, DB_BTREE, 0, 0), 0);
    memset(&k, 0, sizeof(k));
    memset(&d, 0, sizeof(d));
    k.data = "V";
    k.size = 1;
    assert_int_equal(db->get(db, NULL, &k, &d, 0), 0);
    memcpy(old, d.data, 4); /* the first four bytes as the old layout had them */
    d.data = old;
    d.size = 4;
    assert_int_equal(db->put(db, NULL, &k, &d, 0), 0);
    db->close(db, 0);
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    assert_int_equal(mstore_cache_get(b, 1, MSTORE_CACHE_ENVELOPE, &v), 0);
    mstore_cache_put(b, 2, MSTORE_CACHE_BODY, "new", 3);
    assert_int_equal(mstore_box_flush(b), MSTORE_OK);
    assert_int_equal(mstore_cache_get(b, 2, MSTORE_CACHE_BODY, &v), 1);
    assert_string_equal(str_c(&v), "new");
    assert_int_equal(mstore_cache_get(b, 1, MSTORE_CACHE_ENVELOPE, &v), 0); /* replaced */
    mstore_box_close(b);
    free(path);
    str_free(&v);
    mstore_close(st);
    unit_rmtree(root);
    free(root);
    (void)state;
}

/* crlf_size_slow - the size of n bytes with CRLF line ends, a byte at a time */
static uint64_t crlf_size_slow(const char *p, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++)
        v += (p[i] == '\n' && (i == 0 || p[i - 1] != '\r')) ? 2 : 1;
    return v;
}

/* check_sizes - RFC822.SIZE of n bytes at p, read through a descriptor and counted over
 * the header parse's mapping, equals the slow count and the size of BODY[] */
static void check_sizes(const char *p, size_t n)
{
    char *root = unit_tmpdir();
    struct mstore *st = open_store(root);
    struct mstore_box *b;
    struct str err = STR_INIT;
    uint64_t want = crlf_size_slow(p, n), size = 0;
    int fd = -1;

    for (int i = 0; i < 2; i++) {
        char *path = xasprintf("%s/new/%d.M%dP1.test", root, 1700000000 + i, i);
        int w = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_true(w >= 0);
        assert_int_equal(write(w, p, n), (ssize_t)n);
        struct timespec mt[2] = {{1600000000 + i, 0}, {1600000000 + i, 0}};
        assert_int_equal(futimens(w, mt), 0);
        close(w);
        free(path);
    }
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    time_t date;
    assert_int_equal(mstore_msg_date(b, 1, &date), MSTORE_OK); /* INTERNALDATE by name */
    assert_int_equal((long long)date, 1600000000);
    assert_int_equal(mstore_msg_size_fd(b, 1, &fd, &size), MSTORE_OK);
    assert_int_equal(size, want);
    close(fd);
    assert_int_equal(mstore_msg_open(b, 2, &fd), MSTORE_OK);
    assert_int_equal(mstore_msg_date_fd(b, 2, fd, &date), MSTORE_OK); /* and by descriptor */
    assert_int_equal((long long)date, 1600000001);
    struct mime_message *m = mime_open_fd_header(fd, NULL, &err);
    assert_non_null(m);
    assert_int_equal(m->map_size, n);
    assert_int_equal(mstore_msg_size_map(b, 2, m->map, m->map_size, &size), MSTORE_OK);
    assert_int_equal(size, want);
    mime_free(m);
    close(fd);
    assert_int_equal(mime_vsize(p, n), want); /* the octets FETCH BODY[] sends */
    /* known now: the mapping is not looked at again */
    assert_int_equal(mstore_msg_size_map(b, 2, "", 0, &size), MSTORE_OK);
    assert_int_equal(size, want);
    mstore_box_close(b);
    mstore_close(st);
    str_free(&err);
    unit_rmtree(root);
    free(root);
}

static void test_size_forms(void **state)
{
    static const char *const texts[] = {
        "",
        "\n",
        "\r",
        "\r\n",
        "\n\n",
        "\r\r\n\n",
        "Subject: a\n\nno final newline",
        "Subject: b\r\n\r\ncrlf\r\n",
        "Subject: c\n\nbare\rcr\n\r",
        "\nstarts with LF\n",
        "Subject: d\r\n\nmixed\r\nends\n\r\n",
    };
    DIR *d;
    struct dirent *e;
    int seen = 0;

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        check_sizes(texts[i], strlen(texts[i]));
    /* a CR and its LF on the two sides of the 64 KiB read boundary, and a bare LF there */
    for (size_t at = 65534; at <= 65536; at++) {
        char *big = xmalloc(140000);
        memset(big, 'x', 140000);
        memcpy(big, "Subject: big\n\n", 15);
        big[at - 1] = '\r';
        big[at] = '\n';
        big[at + 5000] = '\n';
        check_sizes(big, 140000);
        free(big);
    }
    assert_non_null(d = opendir(MIME_CORPUS_DIR));
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".eml") != 0)
            continue;
        char *path = xasprintf("%s/%s", MIME_CORPUS_DIR, e->d_name);
        struct str text = STR_INIT;
        char buf[4096];
        ssize_t n;
        int fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        while ((n = read(fd, buf, sizeof(buf))) > 0)
            str_catn(&text, buf, (size_t)n);
        close(fd);
        check_sizes(text.s ? text.s : "", text.len);
        str_free(&text);
        free(path);
        seen++;
    }
    closedir(d);
    assert_true(seen >= 10);
}

static void test_append_copy_move(void **state)
{
    char *root = unit_tmpdir();
    struct mstore *st = open_store(root);
    struct mstore_append *ap;
    struct mstore_box *b, *t;
    struct mstore_copy_result cr;
    struct mstore_changes ch;
    const char *kws[] = {"Work"};
    uint32_t uidv, uid, seqs[] = {2, 1};
    uint64_t size;
    time_t date;
    char *text;

    assert_int_equal(mstore_append_begin(st, "Nope", &ap), MSTORE_ENOTFOUND);
    assert_int_equal(mstore_append_begin(st, "Sent", &ap), MSTORE_OK);
    assert_int_equal(mstore_append_write(ap, "Subject: a\r", 11), MSTORE_OK);
    assert_int_equal(mstore_append_write(ap, "\n\r\nbody\r\n", 9), MSTORE_OK);
    assert_int_equal(mstore_append_commit(ap, MSTORE_F_SEEN, kws, 1, 1000000000, &uidv, &uid),
                     MSTORE_OK);
    assert_int_equal(uid, 1);
    assert_true(uidv > 0);
    assert_int_equal(mstore_append_begin(st, "Sent", &ap), MSTORE_OK);
    assert_int_equal(mstore_append_write(ap, "Subject: b\r\n\r\nx\r\n", 17), MSTORE_OK);
    assert_int_equal(mstore_append_commit(ap, 0, NULL, 0, 0, &uidv, &uid), MSTORE_OK);
    assert_int_equal(uid, 2);
    assert_int_equal(mstore_append_begin(st, "Sent", &ap), MSTORE_OK);
    mstore_append_abort(ap);
    assert_int_equal(count_files(root, ".Sent/tmp"), 0);
    /* a file a dead writer left in tmp/ two days ago goes at the next open; a fresh one stays */
    {
        char *stale = xasprintf("%s/.Sent/tmp/stale", root);
        char *fresh = xasprintf("%s/.Sent/tmp/fresh", root);
        struct timespec ts[2];
        unit_write_file(stale, "x");
        unit_write_file(fresh, "x");
        ts[0].tv_sec = ts[1].tv_sec = time(NULL) - 48 * 3600;
        ts[0].tv_nsec = ts[1].tv_nsec = 0;
        assert_int_equal(utimensat(AT_FDCWD, stale, ts, 0), 0);
        assert_int_equal(mstore_box_open(st, "Sent", 0, &b), MSTORE_OK);
        mstore_box_close(b);
        assert_int_equal(access(stale, F_OK), -1);
        assert_int_equal(access(fresh, F_OK), 0);
        unlink(fresh);
        free(stale);
        free(fresh);
    }

    assert_int_equal(mstore_box_open(st, "Sent", 0, &b), MSTORE_OK);
    assert_int_equal(mstore_box_count(b), 2);
    assert_int_equal(mstore_msg(b, 1)->flags, MSTORE_F_SEEN);
    assert_int_equal(mstore_msg(b, 1)->keywords, 1);
    assert_int_equal(mstore_msg_size(b, 1, &size), MSTORE_OK);
    assert_int_equal(size, 20); /* "Subject: a\r\n\r\nbody\r\n" */
    assert_int_equal(mstore_msg_date(b, 1, &date), MSTORE_OK);
    assert_int_equal(date, 1000000000);
    text = read_all(b, 1, 0);
    assert_string_equal(text, "Subject: a\n\nbody\n"); /* stored Maildir style */
    free(text);

    /* COPY keeps flags and keywords and reports COPYUID data in ascending source order */
    assert_int_equal(mstore_copy(b, seqs, 2, "Archive", 0, &cr, NULL), MSTORE_OK);
    assert_int_equal(cr.n, 2);
    assert_int_equal(cr.src_uids[0], 1);
    assert_int_equal(cr.dst_uids[0], 1);
    assert_int_equal(cr.dst_uids[1], 2);
    mstore_copy_result_free(&cr);
    assert_int_equal(mstore_copy(b, seqs, 1, "Nope", 0, &cr, NULL), MSTORE_ENOTFOUND);
    assert_int_equal(mstore_box_open(st, "Archive", 0, &t), MSTORE_OK);
    assert_int_equal(mstore_box_count(t), 2);
    assert_int_equal(mstore_msg(t, 1)->flags, MSTORE_F_SEEN);
    {
        size_t n;
        assert_int_equal(mstore_msg(t, 1)->keywords, 1);
        assert_string_equal(mstore_box_keywords(t, &n)[0], "Work");
    }
    text = read_all(t, 1, 1);
    assert_string_equal(text, "Subject: a\r\n\r\nbody\r\n");
    free(text);
    mstore_box_close(t);

    /* MOVE: copied, then gone from the source */
    assert_int_equal(mstore_copy(b, seqs + 1, 1, "Trash", 1, &cr, &ch), MSTORE_OK);
    assert_int_equal(cr.n, 1);
    assert_int_equal(ch.nexpunged, 1);
    assert_int_equal(ch.expunged[0], 1);
    assert_int_equal(mstore_box_count(b), 1);
    mstore_copy_result_free(&cr);
    mstore_changes_free(&ch);
    mstore_box_close(b);
    assert_int_equal(count_files(root, ".Trash/cur"), 1);
    assert_int_equal(count_files(root, ".Sent/cur"), 1);

    mstore_close(st);
    unit_rmtree(root);
    free(root);
}

static int has(const struct mstore_folders *f, const char *name, int attrs)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].name, name) == 0)
            return (f->v[i].attrs & attrs) == attrs;
    return 0;
}

static void test_folders(void **state)
{
    char *root = unit_tmpdir();
    struct mstore *st = open_store(root);
    struct mstore_folders f;
    struct mstore_box *b;
    struct str n = STR_INIT;

    assert_true(mstore_name_ok("Lists.petrel", NULL));
    assert_true(mstore_name_ok("inbox.sub", &n));
    assert_string_equal(str_c(&n), "INBOX.sub");
    assert_false(mstore_name_ok("", NULL));
    assert_false(mstore_name_ok(".x", NULL));
    assert_false(mstore_name_ok("x.", NULL));
    assert_false(mstore_name_ok("a..b", NULL));
    assert_false(mstore_name_ok("a/b", NULL));
    assert_false(mstore_name_ok("a*", NULL));
    assert_false(mstore_name_ok("tab\there", NULL));
    str_free(&n);
    assert_true(mstore_match("*", "a.b.c"));
    assert_true(mstore_match("%", "Trash"));
    assert_false(mstore_match("%", "a.b"));
    assert_true(mstore_match("a.%", "a.b"));
    assert_true(mstore_match("a*c", "a.b.c"));
    assert_true(mstore_match("inbox", "INBOX"));
    assert_false(mstore_match("a%", "a.b"));
    assert_true(mstore_match("inbox.*", "INBOX.sub"));
    assert_true(mstore_match("In%", "INBOX"));
    assert_false(mstore_match("in%", "Inbound"));
    assert_true(mstore_match("%.%", "a.b"));
    assert_true(mstore_match("%%*%", "a.b"));
    assert_true(mstore_match("", "") && !mstore_match("", "a"));
    assert_false(mstore_match("Tras", "Trash"));
    {
        /* a hostile pattern stays cheap */
        char pat[4001], name[201];
        for (int i = 0; i < 4000; i++)
            pat[i] = i % 2 ? '*' : 'a';
        pat[4000] = '\0';
        memset(name, 'a', 200);
        name[200] = '\0';
        assert_false(mstore_match(pat, name));
        memcpy(pat, "*a*a*a*a*a*a*a*a*a*a*a*a*a*b", 29);
        assert_false(mstore_match(pat, name));
    }

    assert_int_equal(mstore_create(st, "Lists.petrel.dev"), MSTORE_OK);
    assert_int_equal(mstore_create(st, "Lists.petrel"), MSTORE_EEXISTS);
    assert_int_equal(mstore_create(st, "INBOX"), MSTORE_EEXISTS);
    assert_int_equal(mstore_create(st, "bad/name"), MSTORE_EBADNAME);
    assert_int_equal(mstore_list(st, &f), MSTORE_OK);
    assert_true(has(&f, "Lists", MSTORE_A_HASCHILDREN));
    assert_true(has(&f, "Lists.petrel.dev", MSTORE_A_HASNOCHILDREN));
    mstore_folders_free(&f);

    /* DELETE of a parent leaves a \Noselect name; deleting that is refused */
    assert_int_equal(mstore_delete(st, "Lists"), MSTORE_OK);
    assert_int_equal(mstore_list(st, &f), MSTORE_OK);
    assert_true(has(&f, "Lists", MSTORE_A_NOSELECT | MSTORE_A_HASCHILDREN));
    mstore_folders_free(&f);
    assert_int_equal(mstore_delete(st, "Lists"), MSTORE_EHASCHILDREN);
    assert_int_equal(mstore_box_open(st, "Lists", 0, &b), MSTORE_ENOSELECT);
    assert_int_equal(mstore_delete(st, "INBOX"), MSTORE_EINBOX);
    assert_int_equal(mstore_delete(st, "Nope"), MSTORE_ENOTFOUND);

    /* RENAME moves the inferior names along */
    assert_int_equal(mstore_rename(st, "Lists", "Groups.old"), MSTORE_OK);
    assert_int_equal(mstore_list(st, &f), MSTORE_OK);
    assert_true(has(&f, "Groups.old.petrel.dev", 0));
    assert_false(has(&f, "Lists.petrel", 0));
    mstore_folders_free(&f);
    assert_int_equal(mstore_rename(st, "Groups", "Groups.x"), MSTORE_EBADNAME);
    assert_int_equal(mstore_rename(st, "Nope", "Other"), MSTORE_ENOTFOUND);
    assert_int_equal(mstore_rename(st, "Sent", "Trash"), MSTORE_EEXISTS);

    /* RENAME INBOX: the messages move, INBOX stays, empty, with its UIDVALIDITY */
    deliver(root, "Subject: a\n\nx\n");
    deliver(root, "Subject: b\n\nx\n");
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    {
        uint32_t uidv = mstore_box_uidvalidity(b);
        mstore_box_close(b);
        assert_int_equal(mstore_rename(st, "INBOX", "Old"), MSTORE_OK);
        assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
        assert_int_equal(mstore_box_count(b), 0);
        assert_int_equal(mstore_box_uidvalidity(b), uidv);
        assert_int_equal(mstore_box_uidnext(b), 3);
        mstore_box_close(b);
    }
    assert_int_equal(mstore_box_open(st, "Old", 0, &b), MSTORE_OK);
    assert_int_equal(mstore_box_count(b), 2);
    mstore_box_close(b);

    /* subscriptions: names need not exist; LSUB marks them */
    assert_int_equal(mstore_subscribe(st, "Ghost", 1), MSTORE_OK);
    assert_int_equal(mstore_subscribe(st, "Trash", 0), MSTORE_OK);
    assert_int_equal(mstore_list_subscribed(st, &f), MSTORE_OK);
    assert_true(has(&f, "Ghost", MSTORE_A_NONEXISTENT));
    assert_true(has(&f, "INBOX", MSTORE_A_SUBSCRIBED));
    assert_false(has(&f, "Trash", 0));
    mstore_folders_free(&f);

    mstore_close(st);
    unit_rmtree(root);
    free(root);
}

static void load(const char *text)
{
    struct cfg_diag d;

    cfg_free(cfg_main);
    cfg_main = cfg_new("/nonexistent");
    cfg_diag_init(&d);
    cfg_parse_text(cfg_main, text, "main.cf", &d);
    cfg_diag_free(&d);
}

static void test_users(void **state)
{
    struct str path = STR_INIT, err = STR_INIT;
    uid_t uid;
    gid_t gid;

    load("virtual_mailbox_base = /var/mail/vhosts\n"
         "virtual_mailbox_maps = inline:{ joe@example.test=example.test/joe/, "
         "bad@example.test=../etc/, abs@example.test=/etc/ }\n"
         "virtual_uid_maps = static:5000\nvirtual_gid_maps = static:5001\n");
    assert_int_equal(mstore_user_path("Joe@Example.test", &path, &err), MSTORE_OK);
    assert_string_equal(str_c(&path), "/var/mail/vhosts/example.test/joe");
    assert_int_equal(mstore_user_path("nobody@example.test", &path, &err), MSTORE_ENOTFOUND);
    assert_int_equal(mstore_user_path("bad@example.test", &path, &err), MSTORE_ETEMP);
    assert_int_equal(mstore_user_path("abs@example.test", &path, &err), MSTORE_ETEMP);
    assert_int_equal(mstore_vmail_ids(&uid, &gid, &err), 0);
    assert_int_equal(uid, 5000);
    assert_int_equal(gid, 5001);
    load("virtual_uid_maps = hash:/etc/x\nvirtual_gid_maps = static:5001\n");
    assert_int_equal(mstore_vmail_ids(&uid, &gid, &err), -1);
    load("virtual_uid_maps = static:0\nvirtual_gid_maps = static:0\n");
    assert_int_equal(mstore_vmail_ids(&uid, &gid, &err), -1);
    str_free(&path);
    str_free(&err);
    cfg_free(cfg_main);
    cfg_main = NULL;
}

static void test_many_messages(void **state)
{
    char *root = unit_tmpdir();
    struct mstore *st = open_store(root);
    struct mstore_box *b;
    struct mstore_changes ch;

    for (int i = 0; i < 2000; i++)
        deliver(root, "Subject: x\n\nbody\n");
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    assert_int_equal(mstore_box_count(b), 2000);
    for (uint32_t i = 1; i <= 2000; i++)
        assert_int_equal(mstore_msg(b, i)->uid, i);
    /* delivery order: the leading time stamp numerically */
    assert_true(strncmp(mstore_msg(b, 1)->fname, "1700000000.", 11) > -1);
    assert_int_equal(mstore_box_sync(b, MSTORE_SYNC_FORCE, &ch), MSTORE_OK);
    assert_int_equal(ch.nchanged + ch.nexpunged, 0);
    mstore_changes_free(&ch);
    /* many buffered cache entries (the hash of the buffer grows), one put twice: gets see
     * the latest of each, before and after the write-back */
    struct str v = STR_INIT;
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = 1; i <= 2000 && pass == 0; i++) {
            char e[32], s[32];
            snprintf(e, sizeof(e), "(env %u)", i);
            snprintf(s, sizeof(s), "1s%u", i);
            mstore_cache_put(b, i, MSTORE_CACHE_ENVELOPE, e, strlen(e));
            mstore_cache_put(b, i, MSTORE_CACHE_SEARCH, s, strlen(s));
            if (i == 1000)
                mstore_cache_put(b, 7, MSTORE_CACHE_ENVELOPE, "(again)", 7);
        }
        for (uint32_t i = 1; i <= 2000; i++) {
            char want[32];
            snprintf(want, sizeof(want), i == 7 ? "(again)" : "(env %u)", i);
            assert_int_equal(mstore_cache_get(b, i, MSTORE_CACHE_ENVELOPE, &v), 1);
            assert_string_equal(str_c(&v), want);
            snprintf(want, sizeof(want), "1s%u", i);
            assert_int_equal(mstore_cache_get(b, i, MSTORE_CACHE_SEARCH, &v), 1);
            assert_string_equal(str_c(&v), want);
            assert_int_equal(mstore_cache_get(b, i, MSTORE_CACHE_BODY, &v), 0);
        }
        assert_int_equal(mstore_box_flush(b), MSTORE_OK);
    }
    str_free(&v);
    mstore_box_close(b);
    mstore_close(st);
    unit_rmtree(root);
    free(root);
}

/* check_walked - flags of a view after test_store_walk: \Seen on UIDs 1..600,
 * \Flagged also on 1, 4, 5 and 600, nothing on the later delivery */
static void check_walked(struct mstore_box *v)
{
    assert_int_equal(mstore_box_count(v), 598);
    for (uint32_t i = 1; i <= mstore_box_count(v); i++) {
        const struct mstore_msg *m = mstore_msg(v, i);
        unsigned want = m->uid > 600 ? 0
                        : m->uid == 1 || m->uid == 4 || m->uid == 5 || m->uid == 600
                            ? MSTORE_F_SEEN | MSTORE_F_FLAGGED
                            : MSTORE_F_SEEN;
        assert_int_equal(m->flags & MSTORE_F_SYSTEM, want);
        assert_int_equal(m->keywords, m->uid > 600 ? 0 : 1);
        assert_int_equal(m->dir, m->uid > 600 ? 0 : 1);
    }
}

/* a STORE over many messages walks the index records in order: gaps left by
 * another session's EXPUNGE, a record the view does not know yet, and a set
 * in descending order all come out right, for the storing session, another
 * one and a fresh open */
static void test_store_walk(void **state)
{
    char *root = unit_tmpdir();
    struct mstore *st = open_store(root);
    struct mstore_box *a, *b, *c;
    struct mstore_changes ch;
    struct mstore_store_result res;
    uint32_t all[600], del[] = {10, 11, 300}, desc[] = {600, 5, 4, 1};
    const char *kws[] = {"Work"};

    for (int i = 0; i < 600; i++)
        deliver(root, "Subject: x\n\nbody\n");
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &a), MSTORE_OK);
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    assert_int_equal(mstore_store(b, del, 3, MSTORE_STORE_ADD, MSTORE_F_DELETED, NULL, 0, 0, NULL),
                     MSTORE_OK);
    assert_int_equal(mstore_expunge(b, NULL, 0, &ch), MSTORE_OK);
    assert_int_equal(ch.nexpunged, 3);
    mstore_changes_free(&ch);
    deliver(root, "Subject: later\n\nbody\n");
    assert_int_equal(mstore_box_sync(b, MSTORE_SYNC_FORCE, &ch), MSTORE_OK);
    assert_int_equal(ch.exists, 598);
    mstore_changes_free(&ch);

    /* a has not synced: its view still holds the three expunged messages */
    for (uint32_t i = 0; i < 600; i++)
        all[i] = i + 1;
    assert_int_equal(mstore_store(a, all, 600, MSTORE_STORE_ADD, MSTORE_F_SEEN, kws, 1, 0, &res),
                     MSTORE_OK);
    assert_int_equal(res.nchanged, 597);
    assert_int_equal(res.nvanished, 3);
    assert_int_equal(res.vanished[0], 10);
    assert_int_equal(res.vanished[1], 11);
    assert_int_equal(res.vanished[2], 300);
    mstore_store_result_free(&res);
    assert_int_equal(mstore_store(a, desc, 4, MSTORE_STORE_ADD, MSTORE_F_FLAGGED, NULL, 0, 0, &res),
                     MSTORE_OK);
    assert_int_equal(res.nchanged, 4);
    mstore_store_result_free(&res);
    /* the same again changes nothing */
    assert_int_equal(mstore_store(a, all, 600, MSTORE_STORE_ADD, MSTORE_F_SEEN, NULL, 0, 0, &res),
                     MSTORE_OK);
    assert_int_equal(res.nchanged, 0);
    mstore_store_result_free(&res);
    assert_int_equal(count_files(root, "cur"), 597);
    assert_int_equal(count_files(root, "new"), 1);

    assert_int_equal(mstore_box_sync(a, 0, &ch), MSTORE_OK);
    mstore_changes_free(&ch);
    check_walked(a);
    assert_int_equal(mstore_box_sync(b, 0, &ch), MSTORE_OK);
    assert_int_equal(ch.nchanged, 597);
    mstore_changes_free(&ch);
    check_walked(b);
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &c), MSTORE_OK);
    check_walked(c);
    mstore_box_close(a);
    mstore_box_close(b);
    mstore_box_close(c);
    mstore_close(st);
    unit_rmtree(root);
    free(root);
}

/* age_dirs - make new/ and cur/ look untouched for an hour (trusted mtimes) */
static void age_dirs(const char *root)
{
    static const char *subs[] = {"new", "cur"};
    struct timespec t[2];

    t[0].tv_sec = t[1].tv_sec = time(NULL) - 3600;
    t[0].tv_nsec = t[1].tv_nsec = 0;
    for (int i = 0; i < 2; i++) {
        char *p = xasprintf("%s/%s", root, subs[i]);
        assert_int_equal(utimensat(AT_FDCWD, p, t, 0), 0);
        free(p);
    }
}

/* set_dir_times - new/ and cur/ modified at t */
static void set_dir_times(const char *root, const struct timespec *t)
{
    static const char *subs[] = {"new", "cur"};
    struct timespec tt[2] = {*t, *t};

    for (int i = 0; i < 2; i++) {
        char *p = xasprintf("%s/%s", root, subs[i]);
        assert_int_equal(utimensat(AT_FDCWD, p, tt, 0), 0);
        free(p);
    }
}

/* A change in the same clock tick as the directories' last one leaves their mtimes as
 * they were. A sync finds it anyway when the scan before it began less than 100 ms after
 * that mtime (2 s for an mtime of whole seconds, which may come from a file system that
 * keeps no more); after a scan that began later, unchanged mtimes are trusted. Each case
 * scans, removes a file behind the store's back, puts the mtimes back and syncs. */
static void test_mtime_trust(void **state)
{
    static const struct {
        int64_t off_ms; /* the mtimes against now: a scan right away sees them this old */
        int whole;      /* whole seconds (off_ms rounded down to a second) */
        int trusted;
    } cases[] = {{300, 0, 0}, {0, 0, 0}, {-400, 0, 1}, {0, 1, 0}, {-3000, 1, 1}};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *root = unit_tmpdir();
        struct mstore *st = open_store(root);
        struct mstore_box *b;
        struct mstore_changes ch;
        struct timespec t;
        DIR *d;
        struct dirent *e;

        deliver(root, "Subject: a\n\none\n");
        deliver(root, "Subject: b\n\ntwo\n");
        clock_gettime(CLOCK_REALTIME, &t);
        if (cases[i].whole) {
            t.tv_sec += cases[i].off_ms / 1000;
            t.tv_nsec = 0;
        } else {
            int64_t ns = (int64_t)t.tv_sec * 1000000000 + t.tv_nsec + cases[i].off_ms * 1000000;
            t.tv_sec = (time_t)(ns / 1000000000);
            t.tv_nsec = (long)(ns % 1000000000);
            if (t.tv_nsec == 0)
                t.tv_nsec = 1;
        }
        set_dir_times(root, &t);
        assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
        assert_int_equal(mstore_box_count(b), 2);
        char *nd = xasprintf("%s/new", root);
        assert_non_null(d = opendir(nd));
        while ((e = readdir(d)) != NULL && e->d_name[0] == '.')
            ;
        assert_non_null(e);
        char *f = xasprintf("%s/%s", nd, e->d_name);
        assert_int_equal(unlink(f), 0);
        closedir(d);
        set_dir_times(root, &t);
        assert_int_equal(mstore_box_sync(b, 0, &ch), MSTORE_OK);
        if (ch.nexpunged != (cases[i].trusted ? 0u : 1u))
            fail_msg("case %zu: %zu expunged, trusted %d", i, ch.nexpunged, cases[i].trusted);
        mstore_changes_free(&ch);
        /* a forced sync always looks */
        assert_int_equal(mstore_box_sync(b, MSTORE_SYNC_FORCE, &ch), MSTORE_OK);
        assert_int_equal(mstore_box_count(b), 1);
        mstore_changes_free(&ch);
        mstore_box_close(b);
        mstore_close(st);
        free(f);
        free(nd);
        unit_rmtree(root);
        free(root);
    }
    (void)state;
}

static void test_processes_and_shared_locks(void **state)
{
    char *root = unit_tmpdir();
    struct mstore *st = open_store(root);
    struct mstore_box *a, *b;
    struct mstore_changes ch;
    int status;
    pid_t pid;

    for (int i = 0; i < 3; i++)
        deliver(root, "Subject: x\n\nbody\n");
    age_dirs(root);
    /* the first open scans; the second reads the index under a shared lock */
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &a), MSTORE_OK);
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    assert_int_equal(mstore_box_count(b), 3);
    /* nothing changed: nothing reported */
    assert_int_equal(mstore_box_sync(a, 0, &ch), MSTORE_OK);
    assert_int_equal(ch.nchanged + ch.nexpunged + (size_t)ch.new_messages, 0);
    mstore_changes_free(&ch);
    /* another process changes flags and expunges while both views are open */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct mstore *cst;
        struct mstore_box *c;
        struct str err = STR_INIT;
        uint32_t one = 1, three = 3;
        int ok = mstore_open(root, 0, &cst, &err) == MSTORE_OK &&
                 mstore_box_open(cst, "INBOX", 0, &c) == MSTORE_OK &&
                 mstore_store(c, &one, 1, MSTORE_STORE_ADD, MSTORE_F_SEEN, NULL, 0, 0, NULL) ==
                     MSTORE_OK &&
                 mstore_expunge_uids(c, &three, 1, NULL) == MSTORE_OK;
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(mstore_box_sync(b, 0, &ch), MSTORE_OK);
    assert_int_equal(ch.nchanged, 1);
    assert_int_equal(ch.nexpunged, 1);
    assert_int_equal(ch.expunged[0], 3);
    mstore_changes_free(&ch);
    assert_int_equal(mstore_box_sync(a, 0, &ch), MSTORE_OK);
    assert_int_equal(ch.nchanged, 1);
    assert_int_equal(ch.nexpunged, 1);
    mstore_changes_free(&ch);
    /* a child holding the session lock blocks it; its death releases it */
    {
        int p[2];
        char c = 0;
        assert_int_equal(pipe(p), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            struct mstore *cst;
            struct mstore_box *cb;
            struct str err = STR_INIT;
            if (mstore_open(root, 0, &cst, &err) != MSTORE_OK ||
                mstore_box_open(cst, "INBOX", 0, &cb) != MSTORE_OK ||
                mstore_box_lock_session(cb) != MSTORE_OK)
                _exit(1);
            if (write(p[1], "L", 1) != 1)
                _exit(1);
            pause();
            _exit(0);
        }
        assert_int_equal(read(p[0], &c, 1), 1);
        close(p[0]);
        close(p[1]);
    }
    assert_int_equal(mstore_box_lock_session(a), MSTORE_EINUSE);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    assert_int_equal(mstore_box_lock_session(a), MSTORE_OK);
    mstore_box_close(a);
    mstore_box_close(b);
    mstore_close(st);
    unit_rmtree(root);
    free(root);
}

/* stress_child - random syncs, flag changes and expunges on one mailbox */
static int stress_child(const char *root, int seed)
{
    struct mstore *st;
    struct mstore_box *b;
    struct mstore_changes ch;
    struct str err = STR_INIT;
    unsigned r = (unsigned)seed;

    if (mstore_open(root, 0, &st, &err) != MSTORE_OK ||
        mstore_box_open(st, "INBOX", seed == 1 ? MSTORE_RECENT : 0, &b) != MSTORE_OK)
        return 1;
    for (int i = 0; i < 150; i++) {
        uint32_t n = mstore_box_count(b), seq;
        r = r * 1103515245 + 12345;
        seq = n ? 1 + (r >> 8) % n : 0;
        if (seq && (r & 3) == 0) {
            if (mstore_store(b, &seq, 1, MSTORE_STORE_ADD, MSTORE_F_DELETED | MSTORE_F_SEEN, NULL,
                             0, 0, NULL) != MSTORE_OK)
                return 2;
        } else if (seq && (r & 3) == 1) {
            if (mstore_expunge(b, NULL, 0, &ch) != MSTORE_OK)
                return 3;
            mstore_changes_free(&ch);
        } else {
            if (mstore_box_sync(b, 0, &ch) != MSTORE_OK)
                return 4;
            mstore_changes_free(&ch);
        }
        for (uint32_t k = 1; k < mstore_box_count(b); k++)
            if (mstore_msg(b, k)->uid >= mstore_msg(b, k + 1)->uid)
                return 5;
    }
    mstore_box_close(b);
    mstore_close(st);
    return 0;
}

static void test_concurrent_sessions_and_delivery(void **state)
{
    char *root = unit_tmpdir();
    struct mstore *st = open_store(root);
    struct mstore_box *b;
    pid_t kids[3];
    int status, files;

    for (int i = 0; i < 50; i++)
        deliver(root, "Subject: x\n\nbody\n");
    for (int k = 0; k < 3; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            if (k == 0) { /* local delivery meanwhile */
                for (int i = 0; i < 150; i++) {
                    deliver(root, "Subject: late\n\nbody\n");
                    usleep(500);
                }
                _exit(0);
            }
            _exit(stress_child(root, k));
        }
    }
    for (int k = 0; k < 3; k++) {
        assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("child %d ended with status %d", k, status);
    }
    /* the index and the directories agree, UIDs ascend, nothing was lost twice */
    files = count_files(root, "new") + count_files(root, "cur");
    assert_int_equal(mstore_box_open(st, "INBOX", 0, &b), MSTORE_OK);
    assert_int_equal(mstore_box_count(b), files);
    assert_true(mstore_box_uidnext(b) == 201);
    for (uint32_t k = 1; k < mstore_box_count(b); k++)
        assert_true(mstore_msg(b, k)->uid < mstore_msg(b, k + 1)->uid);
    mstore_box_close(b);
    mstore_close(st);
    unit_rmtree(root);
    free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_user_and_inbox),
        cmocka_unit_test(test_flags_and_two_sessions),
        cmocka_unit_test(test_expunge_and_new_mail),
        cmocka_unit_test(test_status_and_session_lock),
        cmocka_unit_test(test_rebuild),
        cmocka_unit_test(test_uidlog),
        cmocka_unit_test(test_damaged_files),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_cache_expunge_and_layout),
        cmocka_unit_test(test_size_forms),
        cmocka_unit_test(test_append_copy_move),
        cmocka_unit_test(test_folders),
        cmocka_unit_test(test_users),
        cmocka_unit_test(test_many_messages),
        cmocka_unit_test(test_store_walk),
        cmocka_unit_test(test_mtime_trust),
        cmocka_unit_test(test_processes_and_shared_locks),
        cmocka_unit_test(test_concurrent_sessions_and_delivery),
    };
    return cmocka_run_group_tests_name("mstore", tests, NULL, NULL);
}
