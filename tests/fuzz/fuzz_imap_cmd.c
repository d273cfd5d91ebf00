/*
 * fuzz_imap_cmd.c - libFuzzer target: the IMAP command reader and grammar
 *
 * The input is what a client sends. It goes through imap_read_command
 * (over a socket pair, with small limits so that the too-long and
 * far-too-long paths are reached), and each command read is run through
 * every grammar rule that a command handler uses, from the start of its
 * arguments. Modified UTF-7 is checked to round-trip. Build and run: see
 * tests/fuzz/README.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "imap_parse.h"
#include "stream.h"

/* args_start - the position after "tag SP command SP", or 0 */
static size_t args_start(const struct imap_cmd *c)
{
    const char *s = str_c(&c->text);
    const char *a = strchr(s, ' ');
    const char *b = a ? strchr(a + 1, ' ') : NULL;
    return b ? (size_t)(b + 1 - s) : 0;
}

static void grammar(const struct imap_cmd *c)
{
    size_t start = args_start(c);
    for (int rule = 0; rule < 10; rule++) {
        struct imap_parser p;
        struct str s = STR_INIT;
        imap_parser_init(&p, c, 6);
        if (rule == 0) {
            imap_p_tag(&p, &s);
        } else {
            p.pos = start;
        }
        switch (rule) {
        case 1: {
            /* FETCH / STORE / COPY shape: sequence-set SP arguments */
            struct imap_seqset set;
            struct imap_fetch f;
            imap_seqset_init(&set);
            imap_fetch_init(&f);
            if (imap_p_seqset(&p, &set) == 0 && imap_p_sp(&p) == 0 &&
                imap_p_fetch_atts(&p, &f) == 0)
                for (size_t i = 0; i < f.nbodies; i++)
                    imap_section_name(&f.bodies[i].section, &s);
            imap_fetch_free(&f);
            imap_seqset_free(&set);
            break;
        }
        case 2: {
            struct imap_skey *k = NULL;
            imap_p_search(&p, &k);
            imap_skey_free(k);
            break;
        }
        case 3: {
            struct imap_store st;
            imap_p_store(&p, &st);
            imap_store_free(&st);
            break;
        }
        case 4: {
            struct imap_seqset set;
            imap_seqset_init(&set);
            if (imap_p_seqset(&p, &set) == 0) {
                imap_seqset_resolve(&set, 1000);
                imap_seqset_format(&set, &s);
                imap_seqset_contains(&set, 500);
            }
            imap_seqset_free(&set);
            break;
        }
        case 5: {
            struct imap_flags fl;
            imap_flags_init(&fl);
            imap_p_flag_list(&p, &fl);
            imap_flags_free(&fl);
            break;
        }
        case 6: {
            time_t t;
            int tz;
            long days;
            if (imap_p_date_time(&p, &t, &tz) == 0)
                imap_format_date_time(t, tz, &s);
            p.pos = start;
            p.error = 0;
            imap_p_date(&p, &days);
            break;
        }
        case 7: {
            /* a valid wire name decodes; the UTF-8 re-encodes to a name that decodes the same */
            struct str utf8 = STR_INIT, enc = STR_INIT, back = STR_INIT;
            if (imap_p_mailbox(&p, &s) == 0) {
                if (imap_utf7_decode(str_c(&s), s.len, &utf8) != 0 ||
                    imap_utf7_encode(str_c(&utf8), utf8.len, &enc) != 0 ||
                    imap_utf7_decode(str_c(&enc), enc.len, &back) != 0 || back.len != utf8.len ||
                    memcmp(str_c(&back), str_c(&utf8), utf8.len) != 0)
                    abort();
            }
            str_free(&utf8);
            str_free(&enc);
            str_free(&back);
            break;
        }
        case 8: {
            int nil;
            uint32_t n;
            imap_p_nstring(&p, &s, &nil);
            p.pos = start;
            imap_p_list_mailbox(&p, &s);
            p.pos = start;
            imap_p_number(&p, &n);
            break;
        }
        case 9: {
            const struct imap_literal *lit;
            imap_p_astring(&p, &s);
            imap_p_literal_ref(&p, &lit);
            imap_p_end(&p);
            break;
        }
        }
        str_free(&s);
        imap_parser_free(&p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct imap_limits lim = {256, 128, 512, 64, NULL, 6};
    int fds[2];
    struct imap_cmd c;
    struct str reason = STR_INIT;

    if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
        return 0;
    if (write(fds[1], data, size) != (ssize_t)size)
        abort();
    shutdown(fds[1], SHUT_WR);
    struct stream *s = stream_new(fds[0], fds[0], 1);
    imap_cmd_init(&c);
    for (int i = 0; i < 100; i++) {
        int r = imap_read_command(s, &lim, &c, &reason);
        if (r < 0)
            break;
        if (r == IMAP_READ_OK)
            grammar(&c);
    }
    imap_cmd_free(&c);
    str_free(&reason);
    stream_free(s, 1);
    close(fds[1]);
    return 0;
}
