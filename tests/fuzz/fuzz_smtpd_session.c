/*
 * fuzz_smtpd_session - libFuzzer target: smtpd's command loop and handlers
 *
 * The input is what a client sends on a connection; smtpd's own serve()
 * runs it from the greeting (smtpd.c is included to reach it; the other
 * smtpd files link as they are): EHLO/HELO, MAIL FROM and RCPT TO with
 * their ESMTP parameters and the restrictions, AUTH PLAIN/LOGIN against a
 * one-user table, DATA and BDAT into a scratch queue directory, RSET,
 * VRFY, NOOP, unknown and pipelined commands. When the first byte is odd
 * the client is a local one (mynetworks, may relay), otherwise an Internet
 * address. Replies go to /dev/null; a crash, a sanitizer report or a hang
 * is a finding. Accepted messages are removed after each input.
 *
 * fuzz-sources: smtpd/smtpd_check.c smtpd/smtpd_data.c smtpd/smtpd_sasl.c
 * smtpd/smtpd_standalone.c
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define main smtpd_program_main
#include "../../smtpd/smtpd.c"
#undef main

#include "fuzz_store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_store_init("smtpd");
    cfg_set(cfg_main, cfg_name(P_queue_directory), base, "fuzz");
    cfg_set(cfg_main, cfg_name(P_myhostname), "mx.example.test", "fuzz");
    cfg_set(cfg_main, cfg_name(P_mydestination), "example.test, localhost", "fuzz");
    cfg_set(cfg_main, cfg_name(P_virtual_mailbox_domains), "virt.test", "fuzz");
    cfg_set(cfg_main, cfg_name(P_mynetworks), "127.0.0.0/8", "fuzz");
    cfg_set(cfg_main, cfg_name(P_smtpd_error_sleep_time), "0", "fuzz");
    cfg_set(cfg_main, cfg_name(P_smtpd_peername_lookup), "no", "fuzz");
    cfg_set(cfg_main, cfg_name(P_smtpd_sasl_auth_enable), "yes", "fuzz");
    cfg_set(cfg_main, cfg_name(P_message_size_limit), "65536", "fuzz");
    cfg_set(cfg_main, cfg_name(P_queue_minfree), "0", "fuzz");
    char path[600];
    snprintf(path, sizeof(path), "%s/incoming", base);
    if (mkdir(path, 0700) < 0)
        abort();
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

    struct server_conn conn;
    memset(&conn, 0, sizeof(conn));
    conn.fd = fds[0];
    conn.wfd = open("/dev/null", O_WRONLY);
    if (!(data[0] & 1)) {
        conn.is_inet = 1;
        snprintf(conn.addr, sizeof(conn.addr), "192.0.2.1");
        conn.port = 25;
    }
    serve(&conn);
    close(fds[0]);
    close(fds[1]);
    close(conn.wfd);
    /* what was accepted goes, so that the queue does not grow */
    int b = open(base, O_RDONLY | O_DIRECTORY);
    if (b < 0)
        abort();
    rm_tree(b, "incoming");
    if (mkdirat(b, "incoming", 0700) < 0)
        abort();
    close(b);
    return 0;
}
