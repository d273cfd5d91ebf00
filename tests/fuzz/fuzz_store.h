/*
 * fuzz_store.h - a small virtual mail store for the session targets
 *
 * fuzz_store_init() makes a scratch virtual_mailbox_base for this process
 * (removed at exit) and configures cfg_main for one mailbox user,
 * u@example.test with password "pw" (a SHA-512 crypt hash with the fewest
 * rounds, so that a LOGIN costs little). fuzz_store_fresh() puts the
 * user's Maildir back as it was (INBOX with three messages, one folder),
 * whatever the last input did to it. fuzz_client() is the client's side of
 * a connection: a socketpair holding the input. Included by fuzz_imap_session.c and
 * fuzz_pop_session.c after the daemon's own sources.
 */
#ifndef PETREL_FUZZ_STORE_H
#define PETREL_FUZZ_STORE_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"

static char base[256];

static const char *const msgs[] = {
    "From: A <a@example.test>\r\nTo: b@example.test\r\nSubject: one\r\n"
    "Date: Mon, 7 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@x>\r\n\r\nhello\r\n",
    "From: =?utf-8?q?J=C3=B6rg?= <j@example.test>\r\nSubject: two\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain; "
    "charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9\r\n--XX\r\n"
    "Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--XX--\r\n",
    "Subject: three\nX-Bare: lf only\n\nbody with bare LF\n.\n",
};

/* rm_tree - remove a directory tree below dirfd (no fork: an ASan process is big) */
static void rm_tree(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (fd >= 0) {
        DIR *d = fdopendir(fd);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL)
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
                unlinkat(fd, e->d_name, 0) < 0)
                rm_tree(fd, e->d_name);
        if (d)
            closedir(d);
        else
            close(fd);
    }
    unlinkat(dirfd, name, AT_REMOVEDIR);
}

/* fuzz_store_fresh - the user's Maildir as it was, whatever the last input did */
static void fuzz_store_fresh(void)
{
    static const char *const dirs[] = {
        "u",         "u/new",         "u/cur",         "u/tmp",
        "u/.Folder", "u/.Folder/new", "u/.Folder/cur", "u/.Folder/tmp"};
    char path[600];
    int b = open(base, O_RDONLY | O_DIRECTORY);
    if (b < 0)
        abort();
    rm_tree(b, "u");
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        if (mkdirat(b, dirs[i], 0700) < 0)
            abort();
    close(b);
    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        snprintf(path, sizeof(path), "%s/u/%s/%zu.fuzz.test", base, i == 2 ? "new" : "cur", i);
        FILE *f = fopen(path, "w");
        if (f == NULL || fputs(msgs[i], f) < 0 || fclose(f) != 0)
            abort();
    }
}

/* remove_base - at exit, the scratch store goes */
static void remove_base(void)
{
    rm_tree(AT_FDCWD, base);
}

/* fuzz_store_init - the scratch store and the configuration that points at it */
static void fuzz_store_init(const char *prog)
{
    /* on tmpfs where there is one: the store fsyncs, which a disk makes slow */
    struct stat st;
    const char *top = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(base, sizeof(base), "%s/petrel-fuzz-%s-%d", top, prog, (int)getpid());
    if (mkdir(base, 0700) < 0)
        abort();
    atexit(remove_base);
    cfg_main = cfg_new("/nonexistent");
    cfg_set(cfg_main, cfg_name(P_virtual_mailbox_base), base, "fuzz");
    cfg_set(cfg_main, cfg_name(P_virtual_mailbox_maps), "inline:{ u@example.test=u/ }", "fuzz");
    /* $$ is a '$' in main.cf */
    cfg_set(cfg_main, cfg_name(P_mailbox_passwd_maps),
            "inline:{ u@example.test=$$6$$rounds=1000$$salt$$d7eV9s8slZkQfSpeUNlCmopaL.Tpt4XY61764a"
            "INp2KRzpE5Z1iZ0R2WyFPpdxHBQpj2PwPDM2H3NdKLRu/Ax/ }",
            "fuzz");
}

/* fuzz_client - what a client sends: a socketpair whose end fds[0] reads prefix (may be
 * NULL), then n bytes of data, then EOF; 0, or -1 when no socketpair could be had */
static int fuzz_client(int fds[2], const char *prefix, const uint8_t *data, size_t n)
{
    int big = 1 << 20;
    size_t plen = prefix ? strlen(prefix) : 0;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
        return -1;
    setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    if ((plen && write(fds[1], prefix, plen) != (ssize_t)plen) ||
        write(fds[1], data, n) != (ssize_t)n)
        abort();
    shutdown(fds[1], SHUT_WR);
    return 0;
}

#endif
