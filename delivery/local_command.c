/*
 * local_command.c - delivery to |command destinations
 *
 * The command runs as $local_command_shell -c command in a child that has
 * dropped real and effective ids to the given identity for good (never
 * root), in its own process group, with Postfix local(8)'s environment
 * (SENDER, RECIPIENT, LOCAL (the local part), USER and LOGNAME (the local
 * part without extension), EXTENSION, DOMAIN, HOME and SHELL (of the
 * identity the command runs as), PATH) and the message on standard input
 * ("From " line, Return-Path:, Delivered-To:). Its output is kept (first
 * part only) for the bounce text. $command_time_limit bounds the whole
 * run: on expiry the process group is killed and the delivery deferred.
 * Exit status per sysexits.h: 0 sent, EX_TEMPFAIL and signals deferred,
 * others bounced.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "evloop.h"
#include "log.h"
#include "mem.h"

#include "local.h"

#define OUTPUT_KEEP 1024

/* child - set up and exec the command; never returns */
static _Noreturn void child(int in, int out, const char *cmd, const struct local_priv *p,
                            char **envp)
{
    const char *shell = cfg_str(cfg_main, P_local_command_shell);

    setsid();
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
        _exit(75);
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    if (local_is_root()) {
        if (setgid(p->gid) < 0 || setgroups(1, &p->gid) < 0 || setuid(p->uid) < 0 ||
            getuid() == 0 || geteuid() == 0)
            _exit(75);
    }
    if (chdir(p->home && *p->home ? p->home : "/") < 0 && chdir("/") < 0)
        _exit(75);
    signal(SIGPIPE, SIG_DFL);
    execle(shell, shell, "-c", cmd, (char *)NULL, envp);
    _exit(75);
}

/* env_add - "NAME=value" */
static void env_add(struct strlist *env, const char *name, const char *value)
{
    strlist_adopt(env, xasprintf("%s=%s", name, value ? value : ""));
}

/* write_message - the message into a temporary file (so the command may read at its pace) */
static int spool_message(struct local_req *lr, const char *rcpt, int flags)
{
    char path[] = "/tmp/petrel-local.XXXXXX";
    long long size;
    int fd;

    fd = mkstemp(path);
    if (fd < 0)
        return -1;
    unlink(path);
    if (local_copy(lr, fd, NULL, rcpt, flags, 0, &size) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* sysexit_status - the delivery status for a command's exit code */
static void sysexit_status(int code, const char *cmd, const char *out, struct local_status *st)
{
    static const struct {
        int code;
        int status;
        const char *dsn;
    } t[] = {{64, DELIVER_BOUNCED, "5.3.0"},  {65, DELIVER_BOUNCED, "5.6.0"},
             {66, DELIVER_BOUNCED, "5.3.0"},  {67, DELIVER_BOUNCED, "5.1.1"},
             {68, DELIVER_BOUNCED, "5.1.2"},  {69, DELIVER_BOUNCED, "5.3.0"},
             {70, DELIVER_BOUNCED, "5.3.0"},  {71, DELIVER_DEFERRED, "4.3.0"},
             {72, DELIVER_BOUNCED, "5.3.0"},  {73, DELIVER_BOUNCED, "5.3.0"},
             {74, DELIVER_DEFERRED, "4.3.0"}, {75, DELIVER_DEFERRED, "4.3.0"},
             {76, DELIVER_BOUNCED, "5.3.0"},  {77, DELIVER_BOUNCED, "5.7.0"},
             {78, DELIVER_DEFERRED, "4.3.5"}};
    int status = DELIVER_BOUNCED;
    const char *dsn = "5.3.0";

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (t[i].code == code) {
            status = t[i].status;
            dsn = t[i].dsn;
        }
    local_status_set(st, status, dsn, "command %s failed with status %d%s%s", cmd, code,
                     *out ? ": " : "", out);
}

void local_command(struct local_req *lr, const char *cmd, const struct local_priv *p,
                   const char *rcpt, const char *local, const char *user, const char *ext,
                   const char *domain, struct local_status *st)
{
    struct strlist env = STRLIST_INIT;
    struct strlist prep = STRLIST_INIT;
    struct str out = STR_INIT;
    int outp[2] = {-1, -1}, in = -1, status = 0, flags = LC_FROM_LINE;
    long long deadline = evloop_now_ms() + cfg_time(cfg_main, P_command_time_limit) * 1000;
    pid_t pid, w;

    cfg_list(cfg_main, P_prepend_delivered_header, &prep);
    if (strlist_find(&prep, "command", 1) >= 0)
        flags |= LC_DELIVERED_TO;
    strlist_free(&prep);
    in = spool_message(lr, rcpt, flags);
    if (in < 0 || pipe2(outp, O_CLOEXEC) < 0) {
        local_status_set(st, DELIVER_DEFERRED, "4.3.0", "cannot prepare command delivery: %s",
                         strerror(errno));
        goto out;
    }
    env_add(&env, "PATH", "/usr/bin:/bin");
    env_add(&env, "SHELL", p->shell && *p->shell ? p->shell : "/bin/sh");
    env_add(&env, "HOME", p->home && *p->home ? p->home : "/");
    env_add(&env, "USER", user);
    env_add(&env, "LOGNAME", user);
    env_add(&env, "SENDER", lr->req->sender);
    env_add(&env, "RECIPIENT", rcpt);
    env_add(&env, "LOCAL", local);
    env_add(&env, "DOMAIN", domain);
    env_add(&env, "EXTENSION", ext);
    env_add(&env, "LANG", "C");
    pid = fork();
    if (pid < 0) {
        local_status_set(st, DELIVER_DEFERRED, "4.3.0", "cannot fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0)
        child(in, outp[1], cmd, p, env.v);
    close(outp[1]);
    outp[1] = -1;
    /* collect output until EOF or the deadline */
    for (;;) {
        struct pollfd pf = {outp[0], POLLIN, 0};
        long long left = deadline - evloop_now_ms();
        char buf[4096];
        if (left <= 0)
            break;
        int r = poll(&pf, 1, (int)(left > 1000 ? 1000 : left));
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            continue;
        ssize_t n = read(outp[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (out.len < OUTPUT_KEEP)
            str_catn(&out, buf,
                     (size_t)n < OUTPUT_KEEP - out.len ? (size_t)n : OUTPUT_KEEP - out.len);
    }
    while ((w = waitpid(pid, &status, WNOHANG)) == 0 && evloop_now_ms() < deadline)
        usleep(10000);
    if (w == 0) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        log_warn("%s: command %s exceeded the time limit of %llds", lr->req->queue_id, cmd,
                 cfg_time(cfg_main, P_command_time_limit));
        local_status_set(st, DELIVER_DEFERRED, "4.3.0", "command %s: time limit exceeded", cmd);
        goto out;
    }
    for (size_t i = 0; i < out.len; i++) /* one line of text for logs and bounces */
        if ((unsigned char)out.s[i] < 0x20 || out.s[i] == 0x7f)
            out.s[i] = ' ';
    while (out.len && out.s[out.len - 1] == ' ')
        str_truncate(&out, out.len - 1);
    if (WIFSIGNALED(status))
        local_status_set(st, DELIVER_DEFERRED, "4.3.0", "command %s died with signal %d", cmd,
                         WTERMSIG(status));
    else if (WEXITSTATUS(status) == 0)
        local_status_set(st, DELIVER_SENT, "2.0.0", "delivered to command: %s", cmd);
    else
        sysexit_status(WEXITSTATUS(status), cmd, str_c(&out), st);
out:
    if (in >= 0)
        close(in);
    if (outp[0] >= 0)
        close(outp[0]);
    if (outp[1] >= 0)
        close(outp[1]);
    strlist_free(&env);
    str_free(&out);
}
