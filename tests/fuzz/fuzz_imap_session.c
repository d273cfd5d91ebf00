/*
 * fuzz_imap_session - libFuzzer target: imapd's real command handlers
 *
 * The input is what a client sends on a connection. The target runs
 * imapd's own read-and-dispatch loop (imapd.c is included to reach its
 * static dispatcher; every cmd_*.c links as it is) over a small virtual
 * mail store made afresh for each input: INBOX with three messages of the
 * MIME corpus and one folder. When the first byte is odd the session
 * starts authenticated as the store's user (as after LOGIN, without the
 * cost of a password hash per input); otherwise it starts at the greeting
 * and LOGIN/AUTHENTICATE are fuzzed too. Replies go to /dev/null; a
 * crash, a sanitizer report or a hang is a finding.
 *
 * fuzz-sources: imapd/imapd_box.c imapd/cmd_any.c imapd/cmd_auth.c imapd/cmd_session.c imapd/cmd_mailbox.c imapd/cmd_selected.c imapd/cmd_fetch.c imapd/cmd_search.c
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* the daemon's main and its switch to the store's owner are not wanted here */
#define main imapd_program_main
#define mstore_become_owner fuzz_stay_who_we_are
#include "../../imapd/imapd.c"
#undef main

void fuzz_stay_who_we_are(const char *prog)
{
    (void)prog;
}

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

/* fresh_store - the user's Maildir as it was, whatever the last input did */
static void fresh_store(void)
{
    static const char *const dirs[] = {"u", "u/new", "u/cur", "u/tmp", "u/.Folder",
                                       "u/.Folder/new", "u/.Folder/cur", "u/.Folder/tmp"};
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

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(base, sizeof(base), "/tmp/petrel-fuzz-imap-%d", (int)getpid());
    if (mkdir(base, 0700) < 0)
        abort();
    atexit(remove_base);
    cfg_main = cfg_new("/nonexistent");
    cfg_set(cfg_main, "virtual_mailbox_base", base, "fuzz");
    cfg_set(cfg_main, "virtual_mailbox_maps", "inline:{ u@example.test=u/ }", "fuzz");
    /* a SHA-512 hash of "pw" with the fewest rounds ($$ is a '$' in main.cf): LOGIN
     * u@example.test pw works */
    cfg_set(cfg_main, "mailbox_passwd_maps",
            "inline:{ u@example.test=$$6$$rounds=1000$$salt$$d7eV9s8slZkQfSpeUNlCmopaL.Tpt4XY61764a"
            "INp2KRzpE5Z1iZ0R2WyFPpdxHBQpj2PwPDM2H3NdKLRu/Ax/ }",
            "fuzz");
    cfg_set(cfg_main, "imapd_login_failure_delay", "0", "fuzz");
    log_set_dests(LOG_DEST_STDERR);
    pre_init(0, NULL);
    post_init();
    log_set_dests(0); /* set-up errors were shown; per-input warnings would only slow it */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fds[2];
    if (size < 1 || size > 65536 || socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
        return 0;
    int big = 1 << 20;
    setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    if (write(fds[1], data + 1, size - 1) != (ssize_t)(size - 1))
        abort();
    shutdown(fds[1], SHUT_WR);
    fresh_store();

    struct server_conn conn;
    memset(&conn, 0, sizeof(conn));
    conn.fd = fds[0];
    conn.wfd = open("/dev/null", O_WRONLY);
    snprintf(conn.addr, sizeof(conn.addr), "192.0.2.1");
    conn.is_inet = 1;

    struct session s;
    struct str reason = STR_INIT;
    memset(&s, 0, sizeof(s));
    s.conn = &conn;
    s.state = IMAPD_NOTAUTH;
    s.trusted_net = 1;
    s.s = stream_new(conn.fd, conn.wfd, 1);
    imap_cmd_init(&s.cmd);
    imap_parser_init(&s.p, &s.cmd, imapd_cfg.lim.depth_max);
    if (data[0] & 1) {
        str_cpy(&s.user, "u@example.test");
        if (imapd_store_open(&s) < 0)
            abort();
        s.state = IMAPD_AUTH;
    }
    for (int n = 0; s.state != IMAPD_LOGOUT && n < 200; n++) {
        imapd_flush(&s);
        int r = imap_read_command(s.s, &imapd_cfg.lim, &s.cmd, &reason);
        if (r == IMAP_READ_OK)
            dispatch(&s);
        else
            read_error(&s, r, &reason);
    }
    imapd_flush(&s);
    imapd_store_close(&s);
    imap_parser_free(&s.p);
    imap_cmd_free(&s.cmd);
    stream_free(s.s, 0);
    str_free(&s.user);
    str_free(&s.tag);
    str_free(&reason);
    close(fds[0]);
    close(fds[1]);
    close(conn.wfd);
    return 0;
}
