/*
 * fuzz_pop_session - libFuzzer target: popd's real command handlers
 *
 * The input is what a client sends on a connection; popd's own serve()
 * runs it from the greeting (popd.c is included to reach it; popd_maildrop.c
 * links as it is) over a small mail store made afresh for each input
 * (fuzz_store.h). When the first byte is odd, "USER u@example.test" and
 * "PASS pw" go first, so that the TRANSACTION state (STAT, LIST, UIDL,
 * RETR, TOP, DELE, RSET, QUIT and its UPDATE) is fuzzed from the start.
 * Replies go to /dev/null; a crash, a sanitizer report or a hang is a
 * finding.
 *
 * fuzz-sources: popd/popd_maildrop.c
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* the daemon's main and its switch to the store's owner are not wanted here */
#define main popd_program_main
#define mstore_become_owner fuzz_stay_who_we_are
#include "../../popd/popd.c"
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
    fuzz_store_init("pop");
    cfg_set(cfg_main, cfg_name(P_popd_login_failure_delay), "0", "fuzz");
    log_set_dests(LOG_DEST_STDERR);
    pre_init(0, NULL);
    post_init();
    log_set_dests(0); /* set-up errors were shown; per-input warnings would only slow it */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char login[] = "USER u@example.test\r\nPASS pw\r\n";
    int fds[2];
    if (size < 1 || size > 65536 ||
        fuzz_client(fds, (data[0] & 1) ? login : NULL, data + 1, size - 1) < 0)
        return 0;
    fuzz_store_fresh();

    struct server_conn conn;
    memset(&conn, 0, sizeof(conn));
    conn.fd = fds[0];
    conn.wfd = open("/dev/null", O_WRONLY);
    serve(&conn);
    close(fds[0]);
    close(fds[1]);
    close(conn.wfd);
    return 0;
}
