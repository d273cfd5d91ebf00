/*
 * qinject.c - test-only: write complete queue files into incoming/ and poke qmgr
 *
 * Stands in for smtpd in the end-to-end tests and benchmarks of qmgr and
 * local until real SMTP submission is on the same branch. It follows the
 * commit order of lib/global/qfile.h exactly as smtpd does: sender, envelope
 * attributes (ret, envid), recipients with ORCPT/NOTIFY, then the content
 * from standard input (LF turned into CRLF) behind our Received: header,
 * commit (fsync), then the 'A' trigger on public/qmgr. Run as root it
 * becomes mail_owner first, so the files belong to the queue's owner.
 *
 *   qinject [-c confdir] -f sender [-r FULL|HDRS] [-e envid] [-A name=value]
 *           [-n NOTIFY] [-O orcpt] -t rcpt ... [-m count] [-q incoming|deferred]
 *           [-D seconds] [-N]
 *
 * -n and -O apply to the next -t. -m writes count messages (each with an
 * X-Qinject-Seq header). -q deferred writes straight into deferred/H/ with
 * the retry time -D seconds from now (benchmarks of large queues). -N
 * skips the trigger. Prints each queue ID on a line.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "mem.h"
#include "proc.h"
#include "qdir.h"
#include "qfile.h"
#include "smtp_parse.h"
#include "str.h"
#include "tool.h"
#include "trigger.h"

struct rcpt {
    char *addr, *orcpt;
    int notify;
};

/* read_stdin - the whole message, LF line ends turned into CRLF */
static void read_stdin(struct str *out)
{
    char buf[65536];
    size_t n;
    int prev = 0;

    while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
        for (size_t i = 0; i < n; i++) {
            if (buf[i] == '\n' && prev != '\r')
                str_catc(out, '\r');
            str_catc(out, buf[i]);
            prev = (unsigned char)buf[i];
        }
    if (out->len && out->s[out->len - 1] != '\n')
        str_cat(out, "\r\n");
}

int main(int argc, char **argv)
{
    const char *confdir = NULL, *sender = NULL, *ret = NULL, *envid = NULL;
    const char *queue = "incoming", *pend_orcpt = NULL;
    struct strlist attrs = STRLIST_INIT;
    struct rcpt *rcpts = NULL;
    size_t nrcpts = 0;
    long count = 1, defer_secs = 0;
    int pend_notify = 0, trigger = 1, multi = 0, c;
    struct str content = STR_INIT, err = STR_INIT;

    tool_init("qinject");
    signal(SIGPIPE, SIG_IGN); /* as smtpd: a qmgr killed mid-trigger costs only the trigger */
    while ((c = getopt(argc, argv, "c:f:r:e:A:n:O:t:m:q:D:N")) != -1) {
        switch (c) {
        case 'c':
            confdir = optarg;
            break;
        case 'f':
            sender = optarg;
            break;
        case 'r':
            ret = optarg;
            break;
        case 'e':
            envid = optarg;
            break;
        case 'A':
            strlist_add(&attrs, optarg);
            break;
        case 'n':
            if ((pend_notify = smtp_parse_notify(optarg)) < 0)
                tool_die("bad NOTIFY value: %s", optarg);
            break;
        case 'O':
            pend_orcpt = optarg;
            break;
        case 't':
            rcpts = xreallocarray(rcpts, nrcpts + 1, sizeof(*rcpts));
            rcpts[nrcpts].addr = optarg;
            rcpts[nrcpts].orcpt = (char *)pend_orcpt;
            rcpts[nrcpts].notify = pend_notify;
            nrcpts++;
            pend_orcpt = NULL;
            pend_notify = 0;
            break;
        case 'm':
            count = atol(optarg);
            multi = 1;
            break;
        case 'q':
            queue = optarg;
            break;
        case 'D':
            defer_secs = atol(optarg);
            break;
        case 'N':
            trigger = 0;
            break;
        default:
            tool_usage("-f sender [-n notify] [-O orcpt] -t rcpt ... < message");
        }
    }
    if (sender == NULL || nrcpts == 0 || count < 1)
        tool_usage("-f sender [-n notify] [-O orcpt] -t rcpt ... < message");
    if (strcmp(queue, "incoming") != 0 && strcmp(queue, "deferred") != 0)
        tool_die("-q: incoming or deferred");
    confdir = tool_confdir(confdir);
    tool_load(confdir, 0, 0);
    read_stdin(&content);
    if (geteuid() == 0)
        proc_drop_to_user(cfg_str(cfg_main, P_mail_owner));
    if (chdir(cfg_str(cfg_main, P_queue_directory)) < 0)
        tool_die("chdir %s: %s", cfg_str(cfg_main, P_queue_directory), strerror(errno));
    for (long k = 0; k < count; k++) {
        struct qfile_writer *w = qfile_create("incoming", &err);
        struct timeval tv;
        struct str hdr = STR_INIT;
        char date[64];
        time_t now;
        struct tm tm;

        if (w == NULL)
            tool_die("%s", str_c(&err));
        gettimeofday(&tv, NULL);
        now = tv.tv_sec;
        localtime_r(&now, &tm);
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
        qfile_put_time(w, tv.tv_sec, tv.tv_usec);
        qfile_put_sender(w, sender);
        if (ret)
            qfile_put_attr(w, "ret", ret);
        if (envid)
            qfile_put_attr(w, "envid", envid);
        qfile_put_attr(w, "protocol", "qinject");
        for (size_t i = 0; i < attrs.n; i++) {
            char *eq = strchr(attrs.v[i], '=');
            if (eq == NULL)
                tool_die("-A name=value");
            *eq = '\0';
            qfile_put_attr(w, attrs.v[i], eq + 1);
            *eq = '=';
        }
        for (size_t i = 0; i < nrcpts; i++)
            qfile_put_rcpt(w, rcpts[i].addr, rcpts[i].orcpt, rcpts[i].notify, NULL);
        qfile_begin_content(w);
        str_printf(&hdr,
                   "Received: from localhost by %s (Petrel qinject)\r\n\twith local id %s\r\n"
                   "\tfor <%s>; %s\r\n",
                   cfg_str(cfg_main, P_myhostname), qfile_writer_id(w), rcpts[0].addr, date);
        if (multi)
            str_printf(&hdr, "X-Qinject-Seq: %ld\r\n", k);
        qfile_write(w, hdr.s, hdr.len);
        qfile_write(w, content.s, content.len);
        if (qfile_commit(w, &err) < 0)
            tool_die("%s", str_c(&err));
        if (strcmp(queue, "deferred") == 0) {
            char *to =
                xasprintf("deferred/%c/%s", qdir_hash(qfile_writer_id(w)), qfile_writer_id(w));
            struct timeval tvs[2] = {{now, 0}, {now + defer_secs, 0}};
            if (utimes(qfile_writer_path(w), tvs) < 0 || rename(qfile_writer_path(w), to) < 0)
                tool_die("move to %s: %s", to, strerror(errno));
            free(to);
        }
        printf("%s\n", qfile_writer_id(w));
        if (trigger && strcmp(queue, "incoming") == 0 &&
            trigger_send("public/qmgr", "A", 5, &err) < 0) {
            fprintf(stderr, "qinject: warning: %s\n", str_c(&err));
            str_reset(&err);
        }
        qfile_writer_free(w);
        str_free(&hdr);
    }
    fflush(stdout);
    free(rcpts);
    strlist_free(&attrs);
    str_free(&content);
    str_free(&err);
    return 0;
}
