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
 * fuzz-sources: imapd/imapd_box.c imapd/cmd_any.c imapd/cmd_auth.c imapd/cmd_session.c
 * imapd/cmd_mailbox.c imapd/cmd_selected.c imapd/cmd_fetch.c imapd/cmd_search.c
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

#include "fuzz_store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_store_init("imap");
    cfg_set(cfg_main, cfg_name(P_imapd_login_failure_delay), "0", "fuzz");
    log_set_dests(LOG_DEST_STDERR);
    pre_init(0, NULL);
    post_init();
    log_set_dests(0); /* set-up errors were shown; per-input warnings would only slow it */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fds[2];
    if (size < 1 || size > 65536 || fuzz_client(fds, NULL, data + 1, size - 1) < 0)
        return 0;
    fuzz_store_fresh();

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
