/*
 * petrel-queue.c - list and flush the mail queue (postqueue-like)
 *
 * petrel-queue [-c config_dir] [-v] -p | -j | -f | -s site | -i queue_id
 *
 * Installed set-gid to $setgid_group so that any local user can reach
 * qmgr's public/showq, as mailq traditionally allows: -p and -j are
 * subject to authorized_mailq_users, -f, -s and -i to
 * authorized_flush_users (root and mail_owner always pass). A non-default
 * configuration directory must pass tool_load_trusted().
 *
 * -p prints the sendmail-style listing of Postfix's mailq (long queue ID
 * layout): the queue ID with '*' for a message in the active queue and '!'
 * for a held one, the size, the arrival time, the sender, then each
 * recipient not yet delivered, after a "(reason)" line whenever the last
 * deferral reason changes; "-- N Kbytes in M Requests." at the end. -j
 * prints one JSON object per message with the field names of Postfix's
 * postqueue -j (queue_name, queue_id, arrival_time, message_size,
 * forced_expire, sender, recipients: [{address, delay_reason}]). When qmgr
 * does not answer, root and mail_owner get the listing from the queue
 * directories directly (with a warning); others get an error.
 *
 * Exit status: 0 success; 1 an error (one line on standard error); 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "charset.h"
#include "log.h"
#include "mem.h"
#include "qfile.h"
#include "showq.h"
#include "str.h"
#include "tool.h"

#define SHOWQ_TIMEOUT 60

static const char usage_text[] = "[-c config_dir] [-v] -p | -j | -f | -s site | -i queue_id";

static _Noreturn void help(void)
{
    printf("usage: petrel-queue %s\n\n"
           "List the mail queue or ask for delivery now.\n\n"
           "  -p       list the queue as mailq does (* active, ! on hold)\n"
           "  -j       list the queue as JSON, one object per message (postqueue -j fields)\n"
           "  -f       attempt delivery of all deferred mail now\n"
           "  -s site  attempt delivery of the deferred mail for one domain now\n"
           "  -i id    attempt delivery of one deferred message now\n"
           "  -c dir   configuration directory (default %s, or $MAIL_CONFIG)\n"
           "  -v       more output\n"
           "  --help   this text\n\n"
           "Exit status: 0 success; 1 error; 2 usage.\n",
           usage_text, PETREL_CONFIG_DIR);
    exit(0);
}

struct listing {
    int json;
    unsigned long count;
    unsigned long long bytes;
};

/* json_quote - a JSON string (RFC 8259) of text, exact but safe on a terminal: controls,
 * DEL and the C1 controls U+0080..U+009F as \uXXXX escapes; invalid UTF-8 bytes become '?' */
static void json_quote(const char *text, struct str *out)
{
    const unsigned char *p = (const unsigned char *)text;

    str_catc(out, '"');
    while (*p) {
        unsigned char c = *p;
        if (c >= 0x80) {
            unsigned cp;
            size_t k = utf8_decode_one(p, strnlen((const char *)p, 4), &cp);
            if (k && cp <= 0x9f) {
                str_printf(out, "\\u%04X", cp); /* a C1 control */
            } else if (k) {
                str_catn(out, (const char *)p, k);
            } else {
                str_catc(out, '?');
                k = 1;
            }
            p += k;
            continue;
        }
        switch (c) {
        case '"':
            str_cat(out, "\\\"");
            break;
        case '\\':
            str_cat(out, "\\\\");
            break;
        case '\b':
            str_cat(out, "\\b");
            break;
        case '\f':
            str_cat(out, "\\f");
            break;
        case '\n':
            str_cat(out, "\\n");
            break;
        case '\r':
            str_cat(out, "\\r");
            break;
        case '\t':
            str_cat(out, "\\t");
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                str_printf(out, "\\u%04X", c);
            else
                str_catc(out, (char)c);
        }
        p++;
    }
    str_catc(out, '"');
}

/* print_json - one message as a JSON object on one line */
static void print_json(const struct showq_entry *e)
{
    struct str o = STR_INIT;

    str_cat(&o, "{\"queue_name\": ");
    json_quote(e->queue, &o);
    str_cat(&o, ", \"queue_id\": ");
    json_quote(e->id, &o);
    str_printf(&o,
               ", \"arrival_time\": %lld, \"message_size\": %llu, \"forced_expire\": false, "
               "\"sender\": ",
               e->arrival, e->size);
    json_quote(e->sender, &o);
    str_cat(&o, ", \"recipients\": [");
    for (size_t i = 0; i < e->nrcpts; i++) {
        str_cat(&o, i ? ", {\"address\": " : "{\"address\": ");
        json_quote(e->rcpts[i].addr, &o);
        if (e->rcpts[i].reason[0]) {
            str_cat(&o, ", \"delay_reason\": ");
            json_quote(e->rcpts[i].reason, &o);
        }
        str_catc(&o, '}');
    }
    str_cat(&o, "]}\n");
    fwrite(o.s, 1, o.len, stdout);
    str_free(&o);
}

/* print_entry - one message in the mailq layout */
static void print_entry(const struct showq_entry *e)
{
    struct str id = STR_INIT, s1 = STR_INIT, s2 = STR_INIT;
    const char *prev = "";
    time_t t = (time_t)e->arrival;
    struct tm tm;
    char when[64];

    localtime_r(&t, &tm);
    strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm);
    str_cat(&id, e->id);
    if (strcmp(e->queue, "active") == 0)
        str_catc(&id, '*');
    else if (strcmp(e->queue, "hold") == 0)
        str_catc(&id, '!');
    /* addresses and reasons come from outside (a remote server's reply): printable() */
    printf("%-17s %8llu %19.19s %s\n", safe_text(&s1, id.s, id.len), e->size, when,
           e->sender[0] ? safe_text(&s2, e->sender, strlen(e->sender)) : "MAILER-DAEMON");
    for (size_t i = 0; i < e->nrcpts; i++) {
        const char *why = e->rcpts[i].reason;
        if (strcmp(prev, why) != 0) {
            const char *show = *why ? safe_text(&s1, why, strlen(why)) : "reason unavailable";
            int pad = 76 - (int)strlen(show);
            printf("%*s(%s)\n", pad > 0 ? pad : 0, "", show);
            prev = why;
        }
        printf("%-17s %8s %-19s %s\n", "", "", "",
               safe_text(&s2, e->rcpts[i].addr, strlen(e->rcpts[i].addr)));
    }
    str_free(&id);
    str_free(&s1);
    str_free(&s2);
}

/* on_entry - the listing callback */
static int on_entry(const struct showq_entry *e, void *ctx)
{
    struct listing *l = ctx;

    if (l->json) {
        print_json(e);
    } else {
        if (l->count == 0)
            printf("%-17s %8s %-19s %s\n", "----Queue ID-----", "--Size--", "---Arrival Time----",
                   "--Sender/Recipient------");
        else
            putchar('\n');
        print_entry(e);
    }
    l->count++;
    l->bytes += e->size;
    return ferror(stdout) ? -1 : 0;
}

/* list - -p or -j */
static int list(int json)
{
    struct listing l = {json, 0, 0};
    struct str err = STR_INIT, why = STR_INIT;
    const char *qd = cfg_str(cfg_main, P_queue_directory);

    if (!tool_user_allowed(P_authorized_mailq_users, getuid(), &why))
        tool_die("%s: not allowed to view the mail queue", why.s);
    if (showq_list(qd, NULL, SHOWQ_TIMEOUT, on_entry, &l, &err) < 0) {
        if (l.count > 0)
            tool_die("the queue listing broke off: %s", err.s);
        if (!tool_is_admin())
            tool_die("queue report unavailable: the mail system is down (%s)", err.s);
        fprintf(stderr,
                "petrel-queue: warning: the mail system is down (%s): reading the queue "
                "directly\n",
                err.s);
        str_reset(&err);
        if (showq_scan(qd, NULL, on_entry, &l, &err) < 0)
            tool_die("%s", err.s);
    }
    if (!json) {
        if (l.count == 0)
            printf("Mail queue is empty\n");
        else
            printf("\n-- %llu Kbytes in %lu Request%s.\n", l.bytes / 1024, l.count,
                   l.count == 1 ? "" : "s");
    }
    if (fflush(stdout) != 0)
        tool_die("write error: %s", strerror(errno));
    str_free(&err);
    str_free(&why);
    return 0;
}

/* valid_site - a domain name or an address literal */
static int valid_site(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 255)
        return 0;
    if (s[0] == '[')
        return s[n - 1] == ']' && strspn(s + 1, "0123456789abcdefABCDEF.:Iv6") == n - 2;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.' || s[i] == '_'))
            return 0;
    return s[0] != '.' && s[n - 1] != '.' && strstr(s, "..") == NULL;
}

/* flush - -f, -s site, -i id */
static int flush(int what, const char *arg, int verbose)
{
    struct str err = STR_INIT, why = STR_INIT;
    const char *qd = cfg_str(cfg_main, P_queue_directory);
    int r;

    if (!tool_user_allowed(P_authorized_flush_users, getuid(), &why))
        tool_die("%s: not allowed to flush the mail queue", why.s);
    switch (what) {
    case 'f':
        if (showq_flush(qd, SHOWQ_TIMEOUT, &err) < 0)
            tool_die("cannot flush the mail queue: the mail system is down? (%s)", err.s);
        break;
    case 's':
        if (!valid_site(arg))
            tool_die("invalid site: \"%s\"", arg);
        if (showq_flush_site(qd, arg, SHOWQ_TIMEOUT, &err) < 0)
            tool_die("cannot flush mail for %s: the mail system is down? (%s)", arg, err.s);
        break;
    case 'i':
        if (!qfile_valid_id(arg))
            tool_die("invalid queue ID: \"%s\"", arg);
        r = showq_deliver(qd, arg, SHOWQ_TIMEOUT, &err);
        if (r < 0)
            tool_die("cannot flush %s: the mail system is down? (%s)", arg, err.s);
        if (r > 0)
            tool_die("%s: no such message in the deferred queue", arg);
        break;
    }
    if (verbose)
        fprintf(stderr, "petrel-queue: flush requested\n");
    str_free(&err);
    str_free(&why);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'H'}, {NULL, 0, NULL, 0}};
    const char *copt = NULL, *arg = NULL, *confdir;
    struct str why = STR_INIT;
    struct stat st;
    int c, mode = 0, verbose = 0;

    for (int fd = 0; fd < 3; fd++) /* set-gid: descriptors 0-2 must be open */
        if (fstat(fd, &st) < 0 && open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
            return 1;
    tool_init("petrel-queue");
    while ((c = getopt_long(argc, argv, "c:pjfs:i:v", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            copt = optarg;
            break;
        case 'p':
        case 'j':
        case 'f':
        case 's':
        case 'i':
            if (mode)
                tool_usage(usage_text);
            mode = c;
            arg = optarg;
            break;
        case 'v':
            verbose++;
            break;
        case 'H':
            help();
        default:
            tool_usage(usage_text);
        }
    }
    if (mode == 0 || optind != argc)
        tool_usage(usage_text);
    confdir = tool_confdir(copt);
    if (tool_load_trusted(confdir, &why) < 0)
        tool_die("%s", why.s);
    if (mode == 'p' || mode == 'j')
        return list(mode == 'j');
    return flush(mode, arg, verbose);
}
