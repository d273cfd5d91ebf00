/*
 * fuzz_smtp_reply - libFuzzer target: what a next-hop SMTP server answers
 *
 * The input is everything a remote server sends after the greeting: it is
 * read as the reply to EHLO (the smtp client's reply reader with its line
 * length and count limits, then the EHLO keyword parser: SIZE, AUTH
 * mechanisms, ...; a 5xx falls back to HELO), then as further replies as
 * a mail transaction reads them. The client's side talks to a socketpair
 * whose other end holds the input. Invariants: a reply has a code of
 * 200-599 and an enhanced code of the reply's class.
 *
 * The target includes delivery/smtp_session.c to reach its static EHLO
 * parser; the other client files link as they are.
 *
 * fuzz-sources: delivery/smtp_proto.c delivery/smtp_addr.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../delivery/smtp_session.c"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cfg_main = cfg_new("/nonexistent");
    cfg_set(cfg_main, cfg_name(P_smtp_helo_timeout), "1s", "fuzz");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fds[2];
    if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
        return 0;
    int big = 1 << 20;
    setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    if (write(fds[1], data, size) != (ssize_t)size)
        abort();
    shutdown(fds[1], SHUT_WR);

    struct smtp_session ss;
    memset(&ss, 0, sizeof(ss));
    ss.s = stream_new(fds[0], fds[0], 1);
    str_init(&ss.relay);
    str_cpy(&ss.relay, "fuzz.test[192.0.2.1]:25");
    struct smtp_why why;
    smtp_why_init(&why);
    if (helo(&ss, &why) == 0) {
        struct smtp_reply r;
        smtp_reply_init(&r);
        for (int i = 0; i < 8; i++) {
            if (smtp_read_reply(&ss, &r, "MAIL FROM command", &why) < 0)
                break;
            if (r.code < 200 || r.code > 599 || r.dsn[0] != '0' + r.code / 100)
                abort();
        }
        smtp_reply_free(&r);
    }
    smtp_why_free(&why);
    str_free(&ss.relay);
    stream_free(ss.s, 0);
    close(fds[0]);
    close(fds[1]);
    return 0;
}
