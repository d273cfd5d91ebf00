/*
 * master_service.c - services of master.cf: listeners, pools, status, throttling
 *
 * Pool rule: keep min_idle idle processes (inet services) and min_procs
 * running processes (services with a wakeup timer), and when no process
 * of the current generation is idle, watch the listeners and start one
 * more per pending connection, never exceeding maxproc processes of any
 * generation.
 *
 * Throttling: only a process that exits abnormally before it reported
 * "ready" (master_proto.h) is a start-up failure; a process killed by
 * SIGKILL or SIGTERM from outside is not. After a start-up failure,
 * spawning pauses for a second; when service_throttle_failures of them
 * come in a row and no ready process of the service is left, master stops
 * spawning for service_throttle_time. Processes that work keep accepting
 * from the listeners either way: a throttle only stops new processes.
 *
 * Stress (Postfix's overload mode): while every process of an inet service
 * is busy and the service is at its process limit, a byte waits in the
 * service's stress pipe; its children poll the pipe and shorten their time
 * limits (smtpd_stress_timeout, stress_login_timeout). The byte is taken
 * back once the service has had a free process for STRESS_HOLD_MS, so that
 * one finished session does not end stress only for the next to begin it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "htab.h"
#include "log.h"
#include "master_proto.h"
#include "mem.h"
#include "proc.h"
#include "qdir.h"
#include "sock.h"
#include "trigger.h"

#include "master.h"

struct child {
    pid_t pid;
    struct service *svc;
    int gen;
    int busy;
    int ready;
};

#define STRESS_HOLD_MS 5000

static struct htab *children;
static char **child_env;

static void on_status(int fd, int events, void *ctx);
static void on_demand(int fd, int events, void *ctx);
static void on_wakeup(void *ctx);

/* pid_key - the children table key of a pid */
static const char *pid_key(pid_t pid, char *buf, size_t len)
{
    snprintf(buf, len, "%ld", (long)pid);
    return buf;
}

void mcf_service_copy(struct mcf_service *dst, const struct mcf_service *src)
{
    *dst = *src;
    dst->name = xstrdup(src->name);
    dst->host = src->host ? xstrdup(src->host) : NULL;
    dst->file = src->file ? xstrdup(src->file) : NULL;
    strlist_init(&dst->argv);
    strlist_init(&dst->opt_names);
    strlist_init(&dst->opt_values);
    for (size_t i = 0; i < src->argv.n; i++)
        strlist_add(&dst->argv, src->argv.v[i]);
    for (size_t i = 0; i < src->opt_names.n; i++) {
        strlist_add(&dst->opt_names, src->opt_names.v[i]);
        strlist_add(&dst->opt_values, src->opt_values.v[i]);
    }
}

void mcf_service_free(struct mcf_service *s)
{
    free(s->name);
    free(s->host);
    free(s->file);
    strlist_free(&s->argv);
    strlist_free(&s->opt_names);
    strlist_free(&s->opt_values);
}

/* build_env - the environment children get, per import_environment */
static void build_env(void)
{
    struct strlist l = STRLIST_INIT, env = STRLIST_INIT;

    if (child_env) {
        for (char **e = child_env; *e; e++)
            free(*e);
        free(child_env);
    }
    cfg_list(cfg_main, P_import_environment, &l);
    for (size_t i = 0; i < l.n; i++) {
        if (strchr(l.v[i], '=')) {
            strlist_add(&env, l.v[i]);
        } else if (getenv(l.v[i])) {
            char *e = xasprintf("%s=%s", l.v[i], getenv(l.v[i]));
            strlist_adopt(&env, e);
        }
    }
    child_env = env.v ? env.v : xcalloc(1, sizeof(char *));
    strlist_free(&l);
}

/* service_params - per-service values: main.cf plus the service's -o overrides */
static void service_params(struct service *s)
{
    struct cfg *c = cfg_new(master_confdir);
    struct cfg_diag d;
    long long limit;
    size_t len;
    const char *text = cfg_text(cfg_main, &len);

    /* the text master validated, never the file on disk: it may have changed */
    cfg_diag_init(&d);
    cfg_load_text(c, text, len, &d);
    mcf_apply_overrides(&s->def, c);
    limit = s->def.maxproc < 0 ? cfg_int(c, P_default_process_limit) : s->def.maxproc;
    s->maxproc = limit == 0 ? INT_MAX : (int)limit;
    s->min_idle = s->def.type == MCF_INET ? (int)cfg_int(c, P_default_process_min_idle) : 0;
    if (s->min_idle > s->maxproc)
        s->min_idle = s->maxproc;
    s->min_procs = s->def.wakeup > 0 ? 1 : 0;
    free(s->path);
    s->path = xasprintf("%s/%s", cfg_str(c, P_daemon_directory), s->def.argv.v[0]);
    cfg_diag_free(&d);
    cfg_free(c);
}

/* unix_path - the socket path of a unix service */
static char *unix_path(const struct mcf_service *d)
{
    return xasprintf("%s/%s/%s", cfg_str(cfg_main, P_queue_directory),
                     d->private_ ? "private" : "public", d->name);
}

/* inet_listeners - bind per the service's host or inet_interfaces/inet_protocols */
static int inet_listeners(struct service *s, struct str *err)
{
    struct strlist ifs = STRLIST_INIT, protos = STRLIST_INIT, addrs = STRLIST_INIT;
    int v4 = 0, v6 = 0, family, rc = -1;

    cfg_list(cfg_main, P_inet_protocols, &protos);
    for (size_t i = 0; i < protos.n; i++) {
        if (strcmp(protos.v[i], "all") == 0)
            v4 = v6 = 1;
        else if (strcmp(protos.v[i], "ipv4") == 0)
            v4 = 1;
        else if (strcmp(protos.v[i], "ipv6") == 0)
            v6 = 1;
    }
    if (!v4 && !v6)
        v4 = 1;
    family = v4 && v6 ? AF_UNSPEC : v4 ? AF_INET : AF_INET6;
    if (s->def.host) {
        strlist_add(&addrs, s->def.host);
    } else {
        cfg_list(cfg_main, P_inet_interfaces, &ifs);
        for (size_t i = 0; i < ifs.n; i++) {
            if (strcmp(ifs.v[i], "all") == 0) {
                strlist_add(&addrs, "");
            } else if (strcmp(ifs.v[i], "loopback-only") == 0) {
                if (v4)
                    strlist_add(&addrs, "127.0.0.1");
                if (v6)
                    strlist_add(&addrs, "::1");
            } else {
                strlist_add(&addrs, ifs.v[i]);
            }
        }
        if (addrs.n == 0)
            strlist_add(&addrs, "");
    }
    s->listen_fds = xcalloc(addrs.n, sizeof(int));
    for (size_t i = 0; i < addrs.n; i++) {
        const char *h = addrs.v[i];
        if (h[0] == '[') {
            /* [addr] form in inet_interfaces */
            char *copy = xstrdup(h + 1);
            char *close = strchr(copy, ']');
            if (close)
                *close = '\0';
            int fd = sock_listen_inet(copy, s->def.port, AF_UNSPEC, 1024, err);
            free(copy);
            if (fd < 0)
                goto out;
            s->listen_fds[s->nlisten++] = fd;
            continue;
        }
        int fd = sock_listen_inet(*h ? h : NULL, s->def.port, *h ? AF_UNSPEC : family, 1024, err);
        if (fd < 0)
            goto out;
        s->listen_fds[s->nlisten++] = fd;
    }
    rc = 0;
out:
    strlist_free(&ifs);
    strlist_free(&protos);
    strlist_free(&addrs);
    return rc;
}

/* Sockets a program serves besides its own service's, bound by master so that they
 * stay open while the program restarts (a reload): handed over after the service's
 * own listener, in this order. */
static const struct {
    const char *program;
    const char *path; /* relative to the queue directory */
} extra_sockets[] = {
    {"qmgr", "public/showq"},
};

/* extra_socket - the extra socket of a service's program, or NULL */
static const char *extra_socket(const struct mcf_service *d)
{
    for (size_t i = 0; i < sizeof(extra_sockets) / sizeof(extra_sockets[0]); i++)
        if (d->type == MCF_UNIX && strcmp(d->argv.v[0], extra_sockets[i].program) == 0)
            return extra_sockets[i].path;
    return NULL;
}

/* bind_unix - a UNIX listener at path, owned by mail_owner; -1 with err. private/ and
 * public/ are mail_owner's directories, so root binds there as mail_owner (effective
 * ids) with the mode set at bind: no chown or chmod by path, which would follow a link
 * that mail_owner planted meanwhile */
static int bind_unix(const char *path, struct str *err)
{
    struct qdir_ids ids;
    struct str e = STR_INIT;
    gid_t saved_gid = getegid();
    int as_mail = geteuid() == 0 && qdir_ids(cfg_main, &ids, &e) == 0;
    int fd;

    if (as_mail && (setegid(ids.mail_gid) < 0 || seteuid(ids.mail_uid) < 0))
        log_fatal("cannot take mail_owner's identity to bind %s: %s", path, strerror(errno));
    fd = sock_listen_unix_mode(path, 1024, 0666, err); /* access is controlled by the directory */
    if (as_mail && (seteuid(0) < 0 || setegid(saved_gid) < 0))
        log_panic("cannot return to root after binding %s: %s", path, strerror(errno));
    str_free(&e);
    return fd;
}

/* unix_listener - bind the service's socket under private/ or public/ (and its extra one) */
static int unix_listener(struct service *s, struct str *err)
{
    char *path = unix_path(&s->def);
    const char *extra = extra_socket(&s->def);
    int fd = bind_unix(path, err);

    free(path);
    if (fd < 0)
        return -1;
    s->listen_fds = xcalloc(2, sizeof(int));
    s->listen_fds[s->nlisten++] = fd;
    if (extra) {
        char *xpath = xasprintf("%s/%s", cfg_str(cfg_main, P_queue_directory), extra);
        fd = bind_unix(xpath, err);
        free(xpath);
        if (fd < 0)
            return -1;
        s->listen_fds[s->nlisten++] = fd;
    }
    return 0;
}

struct service *service_create(const struct mcf_service *def, struct str *err)
{
    struct service *s = xcalloc(1, sizeof(*s));
    int p[2];

    if (children == NULL)
        children = htab_create(256);
    build_env();
    mcf_service_copy(&s->def, def);
    service_params(s);
    if ((def->type == MCF_INET ? inet_listeners(s, err) : unix_listener(s, err)) < 0) {
        service_close_listeners(s);
        mcf_service_free(&s->def);
        free(s->path);
        free(s);
        return NULL;
    }
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
        log_fatal("pipe: %s", strerror(errno));
    s->status_rd = p[0];
    s->status_wr = p[1];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
        log_fatal("pipe: %s", strerror(errno));
    s->stress_rd = p[0];
    s->stress_wr = p[1];
    evloop_watch(master_ev, s->status_rd, EV_READ, on_status, s);
    if (s->def.wakeup > 0)
        s->wakeup_timer = evloop_timer(master_ev, (long long)s->def.wakeup * 1000, on_wakeup, s);
    s->next = master_services;
    master_services = s;
    return s;
}

void service_close_listeners(struct service *s)
{
    for (int i = 0; i < s->nlisten; i++) {
        if (s->watching)
            evloop_unwatch(master_ev, s->listen_fds[i]);
        close(s->listen_fds[i]);
    }
    s->watching = 0;
    free(s->listen_fds);
    s->listen_fds = NULL;
    s->nlisten = 0;
}

/* spawn - start one child of s */
static int spawn(struct service *s)
{
    struct strlist argv = STRLIST_INIT;
    char buf[32];
    pid_t pid;

    strlist_add(&argv, s->def.argv.v[0]);
    strlist_add(&argv, "-c");
    strlist_add(&argv, master_confdir);
    strlist_add(&argv, "-n");
    strlist_add(&argv, s->def.name);
    strlist_add(&argv, "-t");
    strlist_add(&argv, s->def.type == MCF_INET ? "inet" : "unix");
    snprintf(buf, sizeof(buf), "%d", s->nlisten);
    strlist_add(&argv, "-s");
    strlist_add(&argv, buf);
    if (s->def.unpriv)
        strlist_add(&argv, "-u");
    for (size_t i = 0; i < s->def.opt_names.n; i++) {
        char *o = xasprintf("%s=%s", s->def.opt_names.v[i], s->def.opt_values.v[i]);
        strlist_add(&argv, "-o");
        strlist_adopt(&argv, o);
    }
    for (int i = 0; i < s->def.verbose; i++)
        strlist_add(&argv, "-v");
    strlist_add(&argv, "--");
    for (size_t i = 1; i < s->def.argv.n; i++)
        strlist_add(&argv, s->def.argv.v[i]);

    /* Until the child has replaced master's handlers it must not run them: they
     * write into master's own signal pipe. Block everything across fork. */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid = fork();
    if (pid < 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        log_warn("fork: %s", strerror(errno));
        strlist_free(&argv);
        return -1;
    }
    if (pid == 0) {
        int high[64 + 4], n = 0; /* status, liveness, config, stress, listeners */
        sigset_t none;
        /* children start with default signal handling, except that a reload
         * signal before the daemon is ready is ignored (it would kill it); one
         * that reports "ready" after a reload gets SIGHUP again then, since its
         * main.cf and arguments are those of its fork */
        for (int sig = 1; sig < NSIG; sig++)
            if (sig != SIGKILL && sig != SIGSTOP)
                signal(sig, sig == SIGHUP ? SIG_IGN : SIG_DFL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* move every descriptor out of the way first, then into place */
        high[n++] = fcntl(s->status_wr, F_DUPFD_CLOEXEC, 100);
        high[n++] = fcntl(master_live_rd, F_DUPFD_CLOEXEC, 100);
        high[n++] = fcntl(master_config_fd, F_DUPFD_CLOEXEC, 100);
        high[n++] = fcntl(s->stress_rd, F_DUPFD_CLOEXEC, 100);
        for (int i = 0; i < s->nlisten && i < 64; i++)
            high[n++] = fcntl(s->listen_fds[i], F_DUPFD_CLOEXEC, 100);
        for (int i = 0; i < n; i++) {
            if (high[i] < 0 || dup2(high[i], MASTER_STATUS_FD + i) < 0)
                _exit(126);
            proc_cloexec(MASTER_STATUS_FD + i, 0);
        }
        proc_nonblock(MASTER_STATUS_FD, 0);
        proc_nonblock(MASTER_STRESS_FD, 0);
        proc_close_from(MASTER_STATUS_FD + n);
        execve(s->path, argv.v, child_env);
        log_error("exec %s: %s", s->path, strerror(errno));
        _exit(127);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    strlist_free(&argv);
    struct child *c = xcalloc(1, sizeof(*c));
    c->pid = pid;
    c->svc = s;
    c->gen = s->generation;
    htab_put(children, pid_key(pid, buf, sizeof(buf)), c);
    s->total++;
    s->idle++;
    s->children++;
    return 0;
}

/* watch - start or stop spawning on demand */
static void watch(struct service *s, int on)
{
    if (s->watching == on)
        return;
    for (int i = 0; i < s->nlisten; i++) {
        if (on)
            evloop_watch(master_ev, s->listen_fds[i], EV_READ, on_demand, s);
        else
            evloop_unwatch(master_ev, s->listen_fds[i]);
    }
    s->watching = on;
}

static void stress_check(struct service *s);

/* on_stress_timer - the hold time after the last all-busy moment has passed */
static void on_stress_timer(void *ctx)
{
    struct service *s = ctx;

    s->stress_timer = 0;
    stress_check(s);
}

/* stress_set - put the byte into the stress pipe or take it back, and say so */
static void stress_set(struct service *s, int on)
{
    char b = 'S';
    const char *type = s->def.type == MCF_INET ? "inet" : "unix";

    if (s->stress == on)
        return;
    if (on ? write(s->stress_wr, &b, 1) != 1 : read(s->stress_rd, &b, 1) != 1) {
        log_warn("%s/%s: stress pipe: %s", s->def.name, type, strerror(errno));
        return;
    }
    s->stress = on;
    if (on)
        log_warn("%s/%s: all %d processes are busy: stress mode, shorter time limits for "
                 "clients",
                 s->def.name, type, s->maxproc);
    else
        log_info("%s/%s: end of stress mode", s->def.name, type);
}

/* stress_check - stress while every process of an inet service is busy at the limit */
static void stress_check(struct service *s)
{
    long long now = evloop_now_ms();

    if (s->def.type != MCF_INET || s->removed)
        return;
    if (s->idle == 0 && s->children >= s->maxproc && !master_stopping) {
        s->busy_ms = now;
        stress_set(s, 1);
    } else if (s->stress && now - s->busy_ms >= STRESS_HOLD_MS) {
        stress_set(s, 0);
    } else if (s->stress && s->stress_timer == 0) {
        s->stress_timer =
            evloop_timer(master_ev, s->busy_ms + STRESS_HOLD_MS - now, on_stress_timer, s);
    }
}

void service_adjust(struct service *s)
{
    stress_check(s);
    if (s->removed || s->throttled || s->paused || master_stopping) {
        watch(s, 0);
        return;
    }
    while ((s->total < s->min_procs || s->idle < s->min_idle) && s->children < s->maxproc)
        if (spawn(s) < 0)
            break;
    watch(s, s->idle == 0 && s->children < s->maxproc);
}

static void on_demand(int fd, int events, void *ctx)
{
    struct service *s = ctx;

    if (s->idle == 0 && s->children < s->maxproc && !s->throttled && !s->paused)
        spawn(s);
    service_adjust(s);
}

static void on_status(int fd, int events, void *ctx)
{
    struct service *s = ctx;
    struct master_status st;
    char key[32];

    while (read(fd, &st, sizeof(st)) == (ssize_t)sizeof(st)) {
        struct child *c = htab_get(children, pid_key(st.pid, key, sizeof(key)));
        if (c == NULL || c->svc != s)
            continue;
        if (!c->ready && (st.status == MASTER_STAT_READY || st.status == MASTER_STAT_BUSY)) {
            /* a process that started properly: the service's start-up works */
            c->ready = 1;
            s->startup_failures = 0;
            if (c->gen == s->generation)
                s->ready++;
            else
                kill(c->pid, SIGHUP); /* started before a reload, which it ignored while
                                       * starting: it has the old main.cf and arguments */
        }
        if (st.status == MASTER_STAT_BUSY && !c->busy) {
            c->busy = 1;
            if (c->gen == s->generation)
                s->idle--;
        } else if (st.status == MASTER_STAT_IDLE && c->busy) {
            c->busy = 0;
            if (c->gen == s->generation)
                s->idle++;
        }
    }
    service_adjust(s);
}

static void on_unthrottle(void *ctx)
{
    struct service *s = ctx;

    s->throttle_timer = 0;
    s->throttled = 0;
    log_info("%s/%s: resuming service", s->def.name, s->def.type == MCF_INET ? "inet" : "unix");
    service_adjust(s);
}

static void on_wakeup(void *ctx)
{
    struct service *s = ctx;
    struct str err = STR_INIT;

    s->wakeup_timer = evloop_timer(master_ev, (long long)s->def.wakeup * 1000, on_wakeup, s);
    if (s->throttled || s->removed || s->def.type != MCF_UNIX)
        return;
    char *path = unix_path(&s->def);
    if (trigger_send(path, "W", 1, &err) < 0)
        log_warn("%s: wakeup %s", s->def.name, str_c(&err));
    free(path);
    str_free(&err);
}

/* free_service - unlink and release a removed service with no children left */
static void free_service(struct service *s)
{
    struct service **pp;

    for (pp = &master_services; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    evloop_unwatch(master_ev, s->status_rd);
    close(s->status_rd);
    close(s->status_wr);
    evloop_cancel(master_ev, s->stress_timer);
    close(s->stress_rd);
    close(s->stress_wr);
    mcf_service_free(&s->def);
    free(s->path);
    free(s);
}

static void on_unpause(void *ctx)
{
    struct service *s = ctx;

    s->pause_timer = 0;
    s->paused = 0;
    service_adjust(s);
}

/* startup_failed - a child of the current generation exited before it was ready */
static void startup_failed(struct service *s)
{
    long long limit = cfg_int(cfg_main, P_service_throttle_failures);

    s->startup_failures++;
    if (s->startup_failures >= limit && s->ready == 0 && !s->throttled) {
        long long t = cfg_time(cfg_main, P_service_throttle_time);
        log_warn("%s/%s: bad command startup (%d processes in a row failed before they were "
                 "ready, none is serving) -- throttling for %llds",
                 s->def.name, s->def.type == MCF_INET ? "inet" : "unix", s->startup_failures, t);
        s->throttled = 1;
        s->throttle_timer = evloop_timer(master_ev, t * 1000, on_unthrottle, s);
    } else if (!s->paused && !s->throttled) {
        /* no tight respawn loop while other processes keep serving */
        s->paused = 1;
        s->pause_timer = evloop_timer(master_ev, 1000, on_unpause, s);
    }
}

/* killed_from_outside - ended by a signal that someone sent, not by a fault of its own */
static int killed_from_outside(int status)
{
    return WIFSIGNALED(status) && (WTERMSIG(status) == SIGKILL || WTERMSIG(status) == SIGTERM);
}

void service_reap(pid_t pid, int status)
{
    char key[32];
    struct child *c = htab_del(children, pid_key(pid, key, sizeof(key)));
    struct service *s;
    int abnormal;

    if (c == NULL)
        return;
    s = c->svc;
    s->children--;
    if (c->gen == s->generation) {
        s->total--;
        if (!c->busy)
            s->idle--;
        if (c->ready)
            s->ready--;
    }
    abnormal = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
    if (abnormal &&
        !(master_stopping || s->removed ||
          (c->gen != s->generation && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM))) {
        if (WIFSIGNALED(status))
            log_warn("process %s pid %ld killed by signal %d", s->path, (long)pid,
                     WTERMSIG(status));
        else
            log_warn("process %s pid %ld exit status %d", s->path, (long)pid, WEXITSTATUS(status));
        /* a child that answered clients with a temporary error for the throttle time
         * was no tight loop: the next attempt starts at once */
        if (!c->ready && c->gen == s->generation && !killed_from_outside(status) &&
            !(WIFEXITED(status) && WEXITSTATUS(status) == MASTER_EXIT_UNAVAILABLE))
            startup_failed(s);
    }
    free(c);
    if (s->removed) {
        if (s->children == 0)
            free_service(s);
        return;
    }
    service_adjust(s);
}

/* signal_service - send sig to the children of s (of older generations only when old) */
static void signal_service(struct service *s, int sig, int old_only)
{
    struct htab_iter it;
    void *v;

    if (children == NULL)
        return;
    htab_iter_init(&it);
    while (htab_next(children, &it, NULL, &v)) {
        struct child *c = v;
        if (c->svc == s && (!old_only || c->gen != s->generation))
            kill(c->pid, sig);
    }
}

void service_remove(struct service *s)
{
    s->removed = 1;
    watch(s, 0);
    service_close_listeners(s);
    if (s->def.type == MCF_UNIX) {
        char *path = unix_path(&s->def);
        unlink(path);
        free(path);
        if (extra_socket(&s->def)) {
            path = xasprintf("%s/%s", cfg_str(cfg_main, P_queue_directory), extra_socket(&s->def));
            unlink(path);
            free(path);
        }
    }
    evloop_cancel(master_ev, s->wakeup_timer);
    evloop_cancel(master_ev, s->throttle_timer);
    evloop_cancel(master_ev, s->pause_timer);
    s->wakeup_timer = s->throttle_timer = s->pause_timer = 0;
    signal_service(s, SIGTERM, 0);
    if (s->children == 0)
        free_service(s);
}

void service_update(struct service *s, const struct mcf_service *def)
{
    int old_wakeup = s->def.wakeup;

    mcf_service_free(&s->def);
    mcf_service_copy(&s->def, def);
    build_env();
    service_params(s);
    s->generation++;
    s->total = 0;
    s->idle = 0;
    s->ready = 0;
    s->startup_failures = 0;
    /* a reload also ends throttling: the admin may have fixed the cause */
    if (s->throttled) {
        evloop_cancel(master_ev, s->throttle_timer);
        s->throttle_timer = 0;
        s->throttled = 0;
    }
    if (s->paused) {
        evloop_cancel(master_ev, s->pause_timer);
        s->pause_timer = 0;
        s->paused = 0;
    }
    if (old_wakeup != s->def.wakeup) {
        evloop_cancel(master_ev, s->wakeup_timer);
        s->wakeup_timer = 0;
        if (s->def.wakeup > 0)
            s->wakeup_timer =
                evloop_timer(master_ev, (long long)s->def.wakeup * 1000, on_wakeup, s);
    }
    signal_service(s, SIGHUP, 1);
    watch(s, 0);
}

void service_signal_all(int sig)
{
    for (struct service *s = master_services; s; s = s->next)
        signal_service(s, sig, 0);
}

int service_child_count(void)
{
    return children ? (int)htab_count(children) : 0;
}
