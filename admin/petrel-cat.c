/*
 * petrel-cat.c - show a queue file readably (postcat-like)
 *
 * petrel-cat [-c config_dir] [-e] [-h] [-b] [-o] [-q] file|queue_id ...
 *
 * Prints the envelope records (version, size and flags, arrival time,
 * sender, attributes, recipients with their original recipient, NOTIFY
 * and done state) and the content (CRLF shown as LF; any other control
 * byte but TAB, a bare CR included, shown as \xNN so that a message cannot
 * drive the admin's terminal or forge lines) of queue files
 * (lib/global/qfile.h) and maildrop files (lib/global/maildrop.h), for the admin
 * debugging a stuck or corrupt message. With -q the arguments are queue
 * IDs, looked up in incoming, active, deferred, hold, corrupt and
 * maildrop. -e, -h, -b limit the output to the envelope, the header, the
 * body; -o shows each record's offset. A damaged file is shown up to the
 * damage, then "*** ERROR ... ***". Reading the queue needs root or
 * mail_owner (the queue's own permissions decide).
 *
 * Exit status: 0 success; 1 a file could not be read or is damaged; 2 usage.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "fileio.h"
#include "maildrop.h"
#include "mem.h"
#include "qdir.h"
#include "qfile.h"
#include "rec.h"
#include "smtp_parse.h"
#include "str.h"
#include "tool.h"

#define SHOW_ENV 1
#define SHOW_HEADER 2
#define SHOW_BODY 4
#define CAT_FILE_MAX ((size_t)1 << 30) /* files are read whole: bigger ones are refused */

static const char usage_text[] = "[-c config_dir] [-e] [-h] [-b] [-o] [-q] file|queue_id ...";

static int show = 0, offsets = 0;

static _Noreturn void help(void)
{
    printf("usage: petrel-cat %s\n\n"
           "Show queue files (or maildrop files): envelope records and content.\n\n"
           "  -q       the arguments are queue IDs (looked up in every queue)\n"
           "  -e       show the envelope only\n"
           "  -h       show the message header only\n"
           "  -b       show the message body only\n"
           "  -o       show the offset of each envelope record\n"
           "  -c dir   configuration directory (default %s, or $MAIL_CONFIG)\n"
           "  --help   this text\n\n"
           "Exit status: 0 success; 1 a file cannot be read or is damaged; 2 "
           "usage.\n",
           usage_text, PETREL_CONFIG_DIR);
    exit(0);
}

/* find - the path of a queue ID in the queue directory, or NULL */
static char *find(const char *id)
{
    const char *qd = cfg_str(cfg_main, P_queue_directory);
    const char *dirs[] = {"incoming", "active", "deferred", "hold", "corrupt", "maildrop"};

    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char *p = strcmp(dirs[i], "deferred") == 0
                      ? xasprintf("%s/deferred/%c/%s", qd, qdir_hash(id), id)
                      : xasprintf("%s/%s/%s", qd, dirs[i], id);
        if (access(p, F_OK) == 0)
            return p;
        free(p);
    }
    return NULL;
}

/* notify_text - NOTIFY bits as words, in lower case (as sendmail -N takes them) */
static void notify_text(int bits, struct str *out)
{
    if (bits == 0) {
        str_cat(out, "default");
        return;
    }
    smtp_format_notify(bits, out);
    for (size_t i = 0; i < out->len; i++)
        out->s[i] = (char)tolower((unsigned char)out->s[i]);
}

/* shown - an envelope value with every byte that printable() (lib/util/str.h) would not show
 * (controls, C1 controls, malformed UTF-8) as \xNN, so the exact bytes stay visible */
static const char *shown(const char *p, size_t n, struct str *out)
{
    struct str judged = STR_INIT;

    safe_text(&judged, p, n);
    str_reset(out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (judged.s[i] != p[i])
            str_printf(out, "\\x%02X", c);
        else
            str_catc(out, (char)c);
    }
    str_free(&judged);
    return str_c(out);
}

/* envelope_record - one envelope record in words */
static void envelope_record(int type, const struct str *p, uint64_t at)
{
    struct str t = STR_INIT, v = STR_INIT;

    if (!(show & SHOW_ENV))
        return;
    if (offsets)
        printf("%llu: ", (unsigned long long)at);
    switch (type) {
    case QREC_VERSION:
        printf("version: %s\n", shown(p->s, p->len, &t));
        break;
    case QREC_SIZE: {
        unsigned long long size = 0;
        unsigned flags = 0;
        sscanf(p->s, "%15llu %4x", &size, &flags);
        printf("message_size: %llu\nflags: 0x%04x%s\n", size, flags,
               flags & QFILE_F_DELAY_WARNED ? " (delay warning sent)" : "");
        break;
    }
    case QREC_TIME: {
        time_t sec = (time_t)strtoll(p->s, NULL, 10);
        char when[64];
        struct tm tm;
        localtime_r(&sec, &tm);
        strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Y", &tm);
        printf("message_arrival_time: %s (%s)\n", when, shown(p->s, p->len, &t));
        break;
    }
    case QREC_SENDER:
        printf("sender: %s\n", p->len ? shown(p->s, p->len, &t) : "<>");
        break;
    case QREC_ATTR:
        printf("named_attribute: %s\n", shown(p->s, p->len, &t));
        break;
    case QREC_RCPT:
    case QREC_RCPT_DONE: {
        const char *f[4] = {p->s, "", "0", ""};
        int n = 1;
        for (size_t i = 0; i < p->len && n < 4; i++)
            if (p->s[i] == '\0')
                f[n++] = p->s + i + 1;
        printf("%s: %s\n", type == QREC_RCPT ? "recipient" : "done_recipient",
               shown(f[0], strlen(f[0]), &t));
        if (*f[1])
            printf("original_recipient: %s\n", shown(f[1], strlen(f[1]), &t));
        notify_text(atoi(f[2]), &v);
        if (atoi(f[2]))
            printf("notify_flags: %s\n", v.s);
        if (n > 3 && *f[3])
            printf("dsn_original_recipient: %s\n", shown(f[3], strlen(f[3]), &t));
        break;
    }
    default:
        printf("record type 0x%02x: %s\n", type, shown(p->s, p->len, &t));
    }
    str_free(&t);
    str_free(&v);
}

/* content - message bytes: the header or the body as asked, CRLF shown as LF (a CR at the
 * end of one record may pair with the LF that starts the next) */
struct content_state {
    int in_body;
    int line_start;
    int last_cr;
};

/* content_char - one byte of the content, CRLF already folded to LF; other control bytes
 * (ESC, a bare CR, NUL, ...) as \xNN, as shown() does for the envelope */
static void content_char(struct content_state *cs, char c)
{
    if (!cs->in_body && cs->line_start && c == '\n') {
        cs->in_body = 1; /* the empty line ends the header */
        if ((show & SHOW_HEADER) && (show & SHOW_BODY))
            putchar('\n');
        return;
    }
    if (cs->in_body ? (show & SHOW_BODY) : (show & SHOW_HEADER)) {
        unsigned char u = (unsigned char)c;
        if ((u < 0x20 && c != '\n' && c != '\t') || u == 0x7f)
            printf("\\x%02X", u);
        else
            putchar(c);
    }
    cs->line_start = c == '\n';
}

static void content(struct content_state *cs, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (cs->last_cr) {
            cs->last_cr = 0;
            if (p[i] != '\n')
                content_char(cs, '\r'); /* a bare CR: shown escaped */
        }
        if (p[i] == '\r')
            cs->last_cr = 1;
        else
            content_char(cs, p[i]);
    }
}

/* cat_file - show one file; 0 ok, -1 damaged or unreadable */
static int cat_file(const char *path)
{
    struct str data = STR_INIT, p = STR_INIT;
    struct content_state cs = {0, 1, 0};
    size_t pos = 0;
    int in_content = 0, rc = -1, maildrop = 0;

    if (fileio_read(path, O_NOFOLLOW, CAT_FILE_MAX, &data) < 0) {
        fprintf(stderr, "petrel-cat: %s: %s\n", path, strerror(errno));
        str_free(&data);
        return -1;
    }
    maildrop = data.len > QFILE_HDR + strlen(MAILDROP_MAGIC) &&
               memcmp(data.s + QFILE_HDR, MAILDROP_MAGIC, strlen(MAILDROP_MAGIC)) == 0;
    if (show & SHOW_ENV)
        printf("*** ENVELOPE RECORDS %s%s ***\n", path, maildrop ? " (maildrop file)" : "");
    while (pos < data.len) {
        const unsigned char *h = (const unsigned char *)data.s + pos;
        uint32_t len;
        if (data.len - pos < QFILE_HDR) {
            printf("*** ERROR: truncated record header at offset %zu ***\n", pos);
            goto out;
        }
        len = rec_length(h);
        if (len > QFILE_RECORD_MAX || len > data.len - pos - QFILE_HDR) {
            printf("*** ERROR: bad record length %u at offset %zu ***\n", len, pos);
            goto out;
        }
        str_cpyn(&p, data.s + pos + QFILE_HDR, len);
        if (h[0] == QREC_MESSAGE && !in_content) {
            in_content = 1;
            if (show & (SHOW_HEADER | SHOW_BODY))
                printf("*** MESSAGE CONTENTS %s ***\n", path);
        } else if (h[0] == QREC_DATA && in_content) {
            content(&cs, p.s, p.len);
        } else if (h[0] == QREC_END && in_content) {
            if (cs.last_cr)
                content_char(&cs, '\r');
            if (pos + QFILE_HDR + len != data.len) {
                printf("*** ERROR: data after the end record ***\n");
                goto out;
            }
            printf("*** MESSAGE FILE END %s ***\n", path);
            rc = 0;
            goto out;
        } else if (!in_content) {
            envelope_record(h[0], &p, pos);
        } else {
            printf("*** ERROR: record type 0x%02x in the content at offset %zu ***\n", h[0], pos);
            goto out;
        }
        pos += QFILE_HDR + len;
    }
    printf("*** ERROR: no end record (an incomplete or truncated file) ***\n");
out:
    str_free(&data);
    str_free(&p);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'H'}, {NULL, 0, NULL, 0}};
    const char *copt = NULL;
    int c, by_id = 0, rc = 0;

    tool_init("petrel-cat");
    while ((c = getopt_long(argc, argv, "c:ehboq", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            copt = optarg;
            break;
        case 'e':
            show |= SHOW_ENV;
            break;
        case 'h':
            show |= SHOW_HEADER;
            break;
        case 'b':
            show |= SHOW_BODY;
            break;
        case 'o':
            offsets = 1;
            break;
        case 'q':
            by_id = 1;
            break;
        case 'H':
            help();
        default:
            tool_usage(usage_text);
        }
    }
    if (optind == argc)
        tool_usage(usage_text);
    if (show == 0)
        show = SHOW_ENV | SHOW_HEADER | SHOW_BODY;
    if (by_id)
        tool_load(tool_confdir(copt), 0, 0);
    for (int i = optind; i < argc; i++) {
        char *path = NULL;
        if (by_id) {
            if (!qfile_valid_id(argv[i])) {
                fprintf(stderr, "petrel-cat: invalid queue ID: \"%.64s\"\n", argv[i]);
                rc = 1;
                continue;
            }
            if ((path = find(argv[i])) == NULL) {
                fprintf(stderr, "petrel-cat: %s: no such message in the queue\n", argv[i]);
                rc = 1;
                continue;
            }
        }
        if (cat_file(path ? path : argv[i]) < 0)
            rc = 1;
        free(path);
    }
    fflush(stdout);
    return rc;
}
