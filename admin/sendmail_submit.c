/*
 * sendmail_submit.c - addresses, and the pipe into the set-gid helper petrel-drop
 *
 * Addresses given to sendmail (arguments, -f, To:/Cc:/Bcc: with -t) are
 * RFC 5322 address lists: "Name <user@example.com>, other (comment)" and
 * groups work as well as a bare addr-spec. Each addr-spec is checked with
 * the RFC 5321 syntax rules that pickup applies (lib/global/smtp_parse.c) and
 * kept in that external form (quotes kept) for the maildrop file, so that
 * a typo is reported at once with EX_NOUSER rather than found in corrupt/.
 *
 * A submission runs $command_directory/petrel-drop with a pipe on its
 * standard input (the records) and one on its standard output (the queue
 * ID it prints once the file is durable). Content goes out in D records
 * of at most 64 KB; when sendmail stops early (a limit, an error), closing
 * the pipe without the end record makes petrel-drop remove its file.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "cfg.h"
#include "maildrop.h"
#include "mem.h"
#include "smtp_parse.h"

#include "sendmail.h"

#define CHUNK 65536

struct submission {
    pid_t pid;
    int in;  /* petrel-drop's standard input */
    int out; /* its standard output */
    int failed;
    struct str buf;   /* records not yet written */
    struct str chunk; /* content not yet in a D record */
};

/* external - the external form of an addr-spec (RFC 5321 syntax, quotes kept); -1 when
 * malformed */
static int external(const char *spec, size_t n, struct str *out)
{
    struct smtp_path p;
    struct str text = STR_INIT;
    const char *t, *why;
    int r;

    str_reset(out);
    smtp_path_init(&p);
    str_cat(&text, "<");
    str_catn(&text, spec, n);
    str_cat(&text, ">");
    t = text.s;
    r = smtp_parse_path(&t, SMTP_PATH_UTF8_OK, &p, &why);
    if (r == SMTP_PATH_OK && *t != '\0')
        r = SMTP_PATH_SYNTAX;
    if (r == SMTP_PATH_OK)
        str_cpy(out, p.raw.s);
    smtp_path_free(&p);
    str_free(&text);
    return r == SMTP_PATH_OK && maildrop_printable(out->s, out->len) ? 0 : -1;
}

/* element - one element of an address list (comments already removed): "addr-spec" or
 * "phrase <addr-spec>"; its external form; -1 when malformed, 0 when empty, 1 ok */
static int element(const char *p, size_t n, struct str *out)
{
    const char *lt = NULL, *gt = NULL;
    int quote = 0;

    while (n > 0 && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\' && quote && i + 1 < n)
            i++;
        else if (p[i] == '"')
            quote = !quote;
        else if (!quote && p[i] == '<' && lt == NULL)
            lt = p + i;
        else if (!quote && p[i] == '>' && lt && gt == NULL)
            gt = p + i;
    }
    if (lt) { /* name-addr: the angle-addr must end the element */
        if (gt == NULL || gt != p + n - 1)
            return -1;
        p = lt + 1;
        n = (size_t)(gt - lt - 1);
    }
    return external(p, n, out) < 0 ? -1 : 1;
}
void sm_rcpts_add(struct sm_rcpts *l, const char *addr, const char *orcpt, int notify)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].addr, addr) == 0 && strcmp(l->v[i].orcpt, orcpt ? orcpt : "") == 0 &&
            l->v[i].notify == notify)
            return;
    l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
    l->v[l->n].addr = xstrdup(addr);
    l->v[l->n].orcpt = xstrdup(orcpt ? orcpt : "");
    l->v[l->n].notify = notify;
    l->n++;
}

void sm_rcpts_free(struct sm_rcpts *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].addr);
        free(l->v[i].orcpt);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int sm_parse_list(const char *text, size_t n, int notify, struct sm_rcpts *out, struct str *bad)
{
    struct str cur = STR_INIT, ext = STR_INIT;
    int quote = 0, comment = 0, angle = 0, rc = 0;

    /* split at top-level commas (and group ':' / ';'), dropping comments (RFC 5322 3.4) */
    for (size_t i = 0; i <= n && rc == 0; i++) {
        char c = i < n ? text[i] : ',';
        if (comment) {
            if (c == '\\' && i + 1 < n)
                i++;
            else if (c == '(')
                comment++;
            else if (c == ')')
                comment--;
            continue;
        }
        if (quote) {
            str_catc(&cur, c);
            if (c == '\\' && i + 1 < n)
                str_catc(&cur, text[++i]);
            else if (c == '"')
                quote = 0;
            continue;
        }
        if (c == '(') {
            comment = 1;
        } else if (c == '"') {
            quote = 1;
            str_catc(&cur, c);
        } else if (c == ':' && !angle) {
            str_reset(&cur); /* a group's display name */
        } else if ((c == ',' || c == ';') && !angle) {
            int r = element(cur.s ? cur.s : "", cur.len, &ext);
            if (r < 0) {
                str_catn(bad, cur.s, cur.len);
                rc = -1;
            } else if (r > 0) {
                sm_rcpts_add(out, ext.s, NULL, notify);
            }
            str_reset(&cur);
        } else {
            if (c == '<')
                angle = 1;
            else if (c == '>')
                angle = 0;
            str_catc(&cur, c == '\r' || c == '\n' ? ' ' : c);
        }
    }
    if (rc == 0 && (quote || comment || angle)) {
        str_catn(bad, text, n);
        rc = -1;
    }
    str_free(&cur);
    str_free(&ext);
    return rc;
}

int sm_parse_sender(const char *text, struct str *out)
{
    struct sm_rcpts l = {NULL, 0};
    struct str bad = STR_INIT;
    int rc = -1;

    str_reset(out);
    if (*text == '\0' || strcmp(text, "<>") == 0)
        return 0;
    if (sm_parse_list(text, strlen(text), 0, &l, &bad) == 0 && l.n == 1) {
        str_cpy(out, l.v[0].addr);
        rc = 0;
    }
    sm_rcpts_free(&l);
    str_free(&bad);
    return rc;
}

/* put - append a record to the output buffer */
static void put(struct submission *s, int type, const void *p, size_t n)
{
    maildrop_put(&s->buf, type, p, n);
}

/* drain - write the output buffer to petrel-drop */
static void drain(struct submission *s)
{
    size_t off = 0;

    while (!s->failed && off < s->buf.len) {
        ssize_t n = write(s->in, s->buf.s + off, s->buf.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            s->failed = 1; /* petrel-drop is gone: its status tells why */
        else
            off += (size_t)n;
    }
    str_reset(&s->buf);
}

/* spawn - run petrel-drop with two pipes; -1 with err */
static int spawn(struct submission *s, const struct sm_opts *o, struct str *err)
{
    int in[2], out[2];
    char *path = xasprintf("%s/petrel-drop", cfg_str(cfg_main, "command_directory"));

    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
        str_printf(err, "pipe: %s", strerror(errno));
        free(path);
        return -1;
    }
    s->pid = fork();
    if (s->pid < 0) {
        str_printf(err, "fork: %s", strerror(errno));
        free(path);
        return -1;
    }
    if (s->pid == 0) {
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
            _exit(EX_OSERR);
        signal(SIGPIPE, SIG_DFL);
        execl(path, "petrel-drop", "-c", o->confdir, (char *)NULL);
        fprintf(stderr, "sendmail: fatal: exec %s: %s\n", path, strerror(errno));
        _exit(EX_UNAVAILABLE);
    }
    close(in[0]);
    close(out[1]);
    s->in = in[1];
    s->out = out[0];
    free(path);
    return 0;
}

struct submission *submission_open(const struct sm_opts *o, const struct sm_rcpts *r,
                                   struct str *err)
{
    struct submission *s = xcalloc(1, sizeof(*s));
    struct timeval tv;
    char t[64];

    str_init(&s->buf);
    str_init(&s->chunk);
    if (spawn(s, o, err) < 0) {
        free(s);
        return NULL;
    }
    gettimeofday(&tv, NULL);
    put(s, QREC_VERSION, MAILDROP_MAGIC, strlen(MAILDROP_MAGIC));
    snprintf(t, sizeof(t), "%lld.%06ld", (long long)tv.tv_sec, (long)tv.tv_usec);
    put(s, QREC_TIME, t, strlen(t));
    put(s, QREC_SENDER, o->sender, strlen(o->sender));
    if (o->fullname && *o->fullname) {
        char *a = xasprintf("fullname=%s", o->fullname);
        put(s, QREC_ATTR, a, strlen(a));
        free(a);
    }
    if (o->envid) {
        char *a = xasprintf("envid=%s", o->envid);
        put(s, QREC_ATTR, a, strlen(a));
        free(a);
    }
    if (o->ret) {
        char *a = xasprintf("ret=%s", o->ret);
        put(s, QREC_ATTR, a, strlen(a));
        free(a);
    }
    for (size_t i = 0; i < r->n; i++)
        maildrop_put_rcpt(&s->buf, r->v[i].addr, r->v[i].orcpt, r->v[i].notify);
    put(s, QREC_MESSAGE, "", 0);
    drain(s);
    return s;
}

void submission_write(struct submission *s, const void *p, size_t n)
{
    const char *c = p;

    while (n > 0) {
        size_t k = CHUNK - s->chunk.len;
        if (k > n)
            k = n;
        str_catn(&s->chunk, c, k);
        c += k;
        n -= k;
        if (s->chunk.len == CHUNK) {
            put(s, QREC_DATA, s->chunk.s, s->chunk.len);
            str_reset(&s->chunk);
            drain(s);
        }
    }
}

/* finish - close the pipes, collect the ID and the exit status */
static int finish(struct submission *s, struct str *id, struct str *err)
{
    char buf[256];
    ssize_t n;
    int status, rc;

    close(s->in);
    str_reset(id);
    while ((n = read(s->out, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
        if (n > 0 && id->len < 128)
            str_catn(id, buf, (size_t)n);
    close(s->out);
    str_chomp(id);
    while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && id->len > 0)
        rc = 0;
    else if (WIFEXITED(status) && WEXITSTATUS(status) >= EX__BASE &&
             WEXITSTATUS(status) <= EX__MAX && WEXITSTATUS(status) != EX_OK)
        rc = WEXITSTATUS(status);
    else
        rc = EX_TEMPFAIL;
    if (rc)
        str_printf(err, "the message could not be queued (petrel-drop %s %d)",
                   WIFEXITED(status) ? "exit status" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    str_free(&s->buf);
    str_free(&s->chunk);
    free(s);
    return rc;
}

int submission_close(struct submission *s, struct str *id, struct str *err)
{
    if (s->chunk.len)
        put(s, QREC_DATA, s->chunk.s, s->chunk.len);
    put(s, QREC_END, "", 0);
    drain(s);
    return finish(s, id, err);
}

void submission_abort(struct submission *s)
{
    struct str id = STR_INIT, err = STR_INIT;

    str_reset(&s->buf);
    finish(s, &id, &err);
    str_free(&id);
    str_free(&err);
}
