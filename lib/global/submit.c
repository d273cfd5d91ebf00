/*
 * submit.c - hand one locally submitted message to the set-gid helper petrel-drop
 *
 * Records are built with maildrop_put() (the maildrop format, maildrop.h)
 * and written down a pipe into $command_directory/petrel-drop -c confdir;
 * the queue ID comes back on a second pipe once the file is durable, and
 * petrel-drop's exit status (sysexits.h) says why when it is not. Content
 * goes out in D records of at most 64 KB. Closing the pipe without the end
 * record (the caller dying) makes petrel-drop remove its temporary file: a
 * half-written message is never picked up; submit_abort also sends it
 * SIGTERM, so that a deliberate abort is not reported as a truncated input. The caller
 * must ignore SIGPIPE (a petrel-drop that refused early shows in its status).
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
#include "submit.h"

#define CHUNK 65536
#define ID_MAX 128 /* bytes of petrel-drop's answer kept */

struct submit {
    char *confdir;
    pid_t pid;        /* petrel-drop, 0 before submit_start */
    int in;           /* its standard input */
    int out;          /* its standard output */
    int failed;       /* a write failed: petrel-drop is gone, its status tells why */
    struct str buf;   /* records not yet written */
    struct str chunk; /* content not yet in a D record */
};

/* put_attr - one A record "name=value" when value is set */
static void put_attr(struct submit *s, const char *name, const char *value)
{
    if (value && *value) {
        char *a = xasprintf("%s=%s", name, value);
        maildrop_put(&s->buf, QREC_ATTR, a, strlen(a));
        free(a);
    }
}

struct submit *submit_open(const char *confdir, const struct submit_env *env)
{
    struct submit *s = xcalloc(1, sizeof(*s));
    struct timeval tv;
    char t[64];

    s->confdir = xstrdup(confdir);
    s->in = s->out = -1;
    str_init(&s->buf);
    str_init(&s->chunk);
    gettimeofday(&tv, NULL);
    maildrop_put(&s->buf, QREC_VERSION, MAILDROP_MAGIC, strlen(MAILDROP_MAGIC));
    snprintf(t, sizeof(t), "%lld.%06ld", (long long)tv.tv_sec, (long)tv.tv_usec);
    maildrop_put(&s->buf, QREC_TIME, t, strlen(t));
    maildrop_put(&s->buf, QREC_SENDER, env->sender, strlen(env->sender));
    put_attr(s, "fullname", env->fullname);
    put_attr(s, "envid", env->envid);
    put_attr(s, "ret", env->ret);
    return s;
}

void submit_rcpt(struct submit *s, const char *addr, const char *orcpt, int notify)
{
    maildrop_put_rcpt(&s->buf, addr, orcpt, notify);
}

/* drain - write the buffered records to petrel-drop */
static void drain(struct submit *s)
{
    size_t off = 0;

    while (!s->failed && off < s->buf.len) {
        ssize_t n = write(s->in, s->buf.s + off, s->buf.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            s->failed = 1;
        else
            off += (size_t)n;
    }
    str_reset(&s->buf);
}

/* spawn - run petrel-drop with two pipes; -1 with err */
static int spawn(struct submit *s, struct str *err)
{
    int in[2], out[2];
    char *path = xasprintf("%s/petrel-drop", cfg_str(cfg_main, P_command_directory));

    if (pipe2(in, O_CLOEXEC) < 0) {
        str_printf(err, "pipe: %s", strerror(errno));
        free(path);
        return -1;
    }
    if (pipe2(out, O_CLOEXEC) < 0) {
        str_printf(err, "pipe: %s", strerror(errno));
        close(in[0]);
        close(in[1]);
        free(path);
        return -1;
    }
    s->pid = fork();
    if (s->pid < 0) {
        str_printf(err, "fork: %s", strerror(errno));
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        s->pid = 0;
        free(path);
        return -1;
    }
    if (s->pid == 0) {
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
            _exit(EX_OSERR);
        signal(SIGPIPE, SIG_DFL);
        execl(path, "petrel-drop", "-c", s->confdir, (char *)NULL);
        fprintf(stderr, "fatal: exec %s: %s\n", path, strerror(errno));
        _exit(EX_UNAVAILABLE);
    }
    close(in[0]);
    close(out[1]);
    s->in = in[1];
    s->out = out[0];
    free(path);
    return 0;
}

int submit_start(struct submit *s, struct str *err)
{
    if (spawn(s, err) < 0)
        return -1;
    maildrop_put(&s->buf, QREC_MESSAGE, "", 0);
    drain(s);
    return 0;
}

void submit_write(struct submit *s, const void *p, size_t n)
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
            maildrop_put(&s->buf, QREC_DATA, s->chunk.s, s->chunk.len);
            str_reset(&s->chunk);
            drain(s);
        }
    }
}

/* release - free everything but the child */
static void release(struct submit *s)
{
    str_free(&s->buf);
    str_free(&s->chunk);
    free(s->confdir);
    free(s);
}

/* finish - close the pipes, collect the ID and the exit status; a sysexits status */
static int finish(struct submit *s, struct str *id, struct str *err)
{
    char buf[256];
    ssize_t n;
    int status = 0, rc;

    close(s->in);
    str_reset(id);
    while ((n = read(s->out, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
        if (n > 0 && id->len < ID_MAX)
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
    release(s);
    return rc;
}

int submit_close(struct submit *s, struct str *id, struct str *err)
{
    if (s->pid == 0) {
        str_cpy(err, "the message could not be queued (petrel-drop was not started)");
        release(s);
        return EX_SOFTWARE;
    }
    if (s->chunk.len)
        maildrop_put(&s->buf, QREC_DATA, s->chunk.s, s->chunk.len);
    maildrop_put(&s->buf, QREC_END, "", 0);
    drain(s);
    return finish(s, id, err);
}

void submit_abort(struct submit *s)
{
    struct str id = STR_INIT, err = STR_INIT;

    if (s->pid == 0) {
        release(s);
        return;
    }
    /* petrel-drop removes its temporary file and exits quietly on SIGTERM; the closed pipe
     * alone would make it report a truncated input */
    kill(s->pid, SIGTERM);
    str_reset(&s->buf);
    finish(s, &id, &err);
    str_free(&id);
    str_free(&err);
}
