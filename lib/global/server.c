/*
 * server.c - the skeleton of a daemon started by master
 *
 * Accepting is herd-free: every idle child of a service waits on the same
 * listening sockets with EPOLLEXCLUSIVE, so the kernel wakes one of them
 * per connection; a loser of a race sees EAGAIN and waits again.
 *
 * Overload: master keeps a byte in the service's stress pipe while all of
 * its processes are busy (master_proto.h); servers hand server_stress_fd()
 * to their client streams (stream_set_stress), which then shorten their
 * deadlines, also those of reads already waiting.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "cfg_validate.h"
#include "log.h"
#include "master_proto.h"
#include "mem.h"
#include "proc.h"
#include "server.h"

static const char *service_name = "-";
static int stopping;
static struct evloop *server_ev;
static int status_ok = 1;
static int stress_fd = -1;
static int standalone_mode;

const char *server_service(void)
{
    return service_name;
}

int server_standalone(void)
{
    return standalone_mode;
}

int server_stopping(void)
{
    return stopping;
}

int server_stress_fd(void)
{
    return stress_fd;
}

/* report - one status message to master; a failed write means master is gone */
static void report(int status)
{
    struct master_status st;

    if (!status_ok)
        return;
    st.pid = getpid();
    st.status = status;
    if (write(MASTER_STATUS_FD, &st, sizeof(st)) != (ssize_t)sizeof(st)) {
        status_ok = 0;
        stopping = 1; /* master is gone */
    }
}

void server_set_busy(int busy)
{
    report(busy ? MASTER_STAT_BUSY : MASTER_STAT_IDLE);
}

/* watch_master - die with master: SIGTERM when it exits, even in the middle of a session.
 * The kernel clears this setting when the effective uid or gid changes, so it is set
 * again after every connection; a master that died before it was set is seen as a
 * readable (EOF) liveness pipe. Children must not keep master's listeners after its
 * death: a new master could not bind them. */
static void watch_master(void)
{
    struct pollfd p = {MASTER_LIVE_FD, POLLIN, 0};

    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
        log_warn("prctl PR_SET_PDEATHSIG: %s", strerror(errno));
    if (poll(&p, 1, 0) > 0) {
        stopping = 1;
        raise(SIGTERM);
    }
}

/* early_logging - the configuration has errors: still say why in the mail log, not
 * only on a stderr that master sends nowhere (raw values: expansion may be broken) */
static void early_logging(void)
{
    const char *file = cfg_raw(cfg_main, cfg_name(P_maillog_file));

    if (file && *file && strchr(file, '$') == NULL && log_set_file(file) == 0)
        log_set_dests(LOG_DEST_FILE | LOG_DEST_STDERR);
    else
        log_set_dests(LOG_DEST_SYSLOG | LOG_DEST_STDERR);
}

/* read_master_config - the main.cf text master validated (fd MASTER_CONFIG_FD); -1 if none */
static int read_master_config(struct str *text)
{
    char buf[8192];
    struct stat st;
    off_t off = 0;
    ssize_t n;

    if (fstat(MASTER_CONFIG_FD, &st) < 0 || !S_ISREG(st.st_mode))
        return -1;
    /* pread: the descriptor's offset is shared with every other child */
    while ((n = pread(MASTER_CONFIG_FD, buf, sizeof(buf), off)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            log_fatal("read the configuration from master: %s", strerror(errno));
        str_catn(text, buf, (size_t)n);
        off += n;
        if (text->len > CFG_TEXT_LIMIT)
            log_fatal("the configuration from master is too large");
    }
    close(MASTER_CONFIG_FD);
    return 0;
}

/* load_config - main.cf (as master validated it, else from disk) plus the -o overrides;
 * fatal on errors */
static void load_config(const char *confdir, int from_master, struct strlist *onames,
                        struct strlist *ovalues)
{
    struct cfg_diag diag;
    struct str text = STR_INIT;

    cfg_diag_init(&diag);
    cfg_main = cfg_new(confdir);
    if (from_master && read_master_config(&text) == 0)
        cfg_load_text(cfg_main, str_c(&text), text.len, &diag);
    else if (cfg_load(cfg_main, &diag) < 0)
        log_fatal("open %s/main.cf: %s", confdir, strerror(errno));
    str_free(&text);
    for (size_t i = 0; i < onames->n; i++)
        cfg_set(cfg_main, onames->v[i], ovalues->v[i], "-o");
    cfg_validate(cfg_main, &diag);
    if (diag.errors)
        early_logging();
    for (size_t i = 0; i < diag.lines.n; i++)
        if (diag.errors)
            log_error("%s", diag.lines.v[i]);
    if (diag.errors)
        log_fatal("%d error(s) in the configuration", diag.errors);
    cfg_diag_free(&diag);
}

/* setup_logging - syslog or maillog_file, per main.cf */
static void setup_logging(int standalone)
{
    const char *file = cfg_str(cfg_main, P_maillog_file);

    log_set_syslog_name(cfg_str(cfg_main, P_syslog_name));
    if (standalone && strcmp(file, "/dev/stdout") == 0)
        file = ""; /* -S: standard output is the session itself */
    if (*file && log_set_file(file) == 0) {
        log_set_dests(LOG_DEST_FILE);
    } else if (*file && !standalone) {
        log_fatal("open maillog_file %s: %s", file, strerror(errno));
    } else {
        /* -S runs as whoever invoked it (sendmail -bs), who may not write the mail log */
        log_set_dests(LOG_DEST_SYSLOG | (standalone && isatty(2) ? LOG_DEST_STDERR : 0));
    }
}

static const struct server_def *startup_def;
static int startup_nsock, startup_unpriv;

/* unavailable_mode - start-up failed (log_fatal hook): answer clients with a temporary
 * error instead of leaving them in the listen queue, until service_throttle_time has
 * passed, a reload or stop is asked, or master is gone */
static void unavailable_mode(void)
{
    long long end = evloop_now_ms() + cfg_time(cfg_main, P_service_throttle_time) * 1000;
    struct pollfd p[2 + 64];
    struct str line = STR_INIT;
    int n = 0, sig;

    if (startup_unpriv && geteuid() == 0)
        proc_drop_to_user(cfg_str(cfg_main, P_mail_owner));
    str_printf(&line,
               "%s %s Service not available: the server cannot start (see the mail "
               "log), try again later\r\n",
               startup_def->unavailable, cfg_str(cfg_main, P_myhostname));
    p[n++] = (struct pollfd){MASTER_LIVE_FD, POLLIN, 0};
    p[n++] = (struct pollfd){sig_fd(), POLLIN, 0};
    for (int i = 0; i < startup_nsock && i < 64; i++)
        p[n++] = (struct pollfd){MASTER_LISTEN_FD + i, POLLIN, 0};
    log_warn("answering clients with \"%s\" for %llds", startup_def->unavailable,
             cfg_time(cfg_main, P_service_throttle_time));
    for (long long left; (left = end - evloop_now_ms()) > 0;) {
        if (poll(p, (nfds_t)n, (int)(left > 1000 ? 1000 : left)) < 0)
            continue;
        if (p[0].revents)
            break; /* master is gone */
        if (p[1].revents) {
            while ((sig = sig_next()) != 0)
                if (sig == SIGHUP || sig == SIGTERM)
                    end = 0;
        }
        for (int i = 2; i < n; i++) {
            int fd;
            if (!p[i].revents || (fd = accept4(p[i].fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
                continue;
            if (send(fd, line.s, line.len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
                log_debug("send: %s", strerror(errno));
            shutdown(fd, SHUT_WR);
            close(fd);
        }
    }
    str_free(&line);
    exit(MASTER_EXIT_UNAVAILABLE);
}

/* on_signal - single-connection servers: note the request, wake the wait */
static void on_signal(int fd, int events, void *ctx)
{
    int sig;

    while ((sig = sig_next()) != 0)
        if (sig == SIGHUP || sig == SIGTERM)
            stopping = 1;
    if (stopping && server_ev && ctx)
        evloop_stop(server_ev);
}

/* on_master_gone - the liveness pipe reached EOF */
static void on_master_gone(int fd, int events, void *ctx)
{
    stopping = 1;
    evloop_unwatch(server_ev, fd);
    if (ctx)
        evloop_stop(server_ev);
}

static int accepted_fd = -1;

static void on_listen(int fd, int events, void *ctx)
{
    int sig, cfd;

    /* a reload or stop asked while the last client was served may wait beside the
     * listener in this same round: then this process, of the old configuration, takes
     * no one more (the new generation will) */
    while ((sig = sig_next()) != 0)
        if (sig == SIGHUP || sig == SIGTERM)
            stopping = 1;
    if (stopping)
        return;
    cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    if (cfd < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            log_warn("accept: %s", strerror(errno));
        return;
    }
    accepted_fd = cfd;
}

/* serve_loop - single-connection server: accept, serve, report, repeat */
static void serve_loop(const struct server_def *def, int nfds)
{
    long long max_use = cfg_int(cfg_main, P_max_use);
    long long max_idle = cfg_time(cfg_main, P_max_idle);
    long long used = 0;

    for (int i = 0; i < nfds; i++)
        evloop_watch(server_ev, MASTER_LISTEN_FD + i, EV_READ | EV_EXCLUSIVE, on_listen, NULL);
    while (!stopping && used < max_use) {
        long long start = evloop_now_ms();
        accepted_fd = -1;
        while (accepted_fd < 0 && !stopping) {
            long long left = max_idle * 1000 - (evloop_now_ms() - start);
            if (left <= 0)
                return;
            evloop_run_once(server_ev, left);
        }
        if (accepted_fd < 0)
            return;
        struct server_conn c;
        memset(&c, 0, sizeof(c));
        c.fd = c.wfd = accepted_fd;
        sock_peer(c.fd, c.addr, sizeof(c.addr), &c.port);
        sock_local(c.fd, c.laddr, sizeof(c.laddr), &c.lport);
        c.is_inet = c.addr[0] != '\0';
        server_set_busy(1);
        def->serve(&c);
        close(c.fd);
        used++;
        watch_master();
        server_set_busy(0);
    }
}

int server_main(int argc, char **argv, const struct server_def *def)
{
    const char *confdir = getenv("MAIL_CONFIG");
    struct strlist onames = STRLIST_INIT, ovalues = STRLIST_INIT;
    int unpriv = 0, nsock = 0, standalone = 0, verbose = 0, c;

    log_init(def->program, LOG_DEST_STDERR);
    if (confdir == NULL || *confdir == '\0')
        confdir = PETREL_CONFIG_DIR;
    opterr = 0;
    while ((c = getopt(argc, argv, "+c:n:t:s:uo:vS")) != -1) {
        switch (c) {
        case 'c':
            confdir = optarg;
            break;
        case 'n':
            service_name = optarg;
            break;
        case 't':
            break;
        case 's':
            nsock = atoi(optarg);
            break;
        case 'u':
            unpriv = 1;
            break;
        case 'o': {
            const char *eq = strchr(optarg, '=');
            if (eq == NULL)
                log_fatal("bad -o option: %s", optarg);
            strlist_addn(&onames, optarg, (size_t)(eq - optarg));
            strlist_add(&ovalues, eq + 1);
            break;
        }
        case 'v':
            verbose++;
            break;
        case 'S':
            standalone = 1;
            break;
        default:
            log_fatal("usage: %s [-c confdir] [-S] [-o name=value] [-v]", def->program);
        }
    }
    signal(SIGPIPE, SIG_IGN);
    /* catch reload requests before the configuration is read, so that none
     * is lost between reading it and serving */
    standalone_mode = standalone;
    if (!standalone)
        sig_catch(SIGHUP, 1);
    if (confdir[0] != '/')
        log_fatal("-c requires absolute pathname: %s", confdir);
    load_config(confdir, !standalone && nsock > 0, &onames, &ovalues);
    strlist_free(&onames);
    strlist_free(&ovalues);
    setup_logging(standalone);
    log_set_verbose(verbose);
    if (!standalone && nsock <= 0)
        log_fatal("no listening socket: this program is started by master (or use -S)");
    if (!standalone && nsock > 0 && !def->event_loop && def->unavailable) {
        startup_def = def;
        startup_nsock = nsock;
        startup_unpriv = unpriv;
        log_on_fatal(unavailable_mode);
    }
    if (def->pre_init)
        def->pre_init(argc - optind, argv + optind);
    if (unpriv && geteuid() == 0)
        proc_drop_to_user(cfg_str(cfg_main, P_mail_owner));
    if (!standalone && chdir(cfg_str(cfg_main, P_queue_directory)) < 0)
        log_fatal("chdir %s: %s", cfg_str(cfg_main, P_queue_directory), strerror(errno));
    if (def->post_init)
        def->post_init();
    log_on_fatal(NULL); /* started: from now on a fatal error just ends this process */

    if (standalone) {
        struct server_conn conn;
        memset(&conn, 0, sizeof(conn));
        conn.fd = 0;
        conn.wfd = 1;
        def->serve(&conn);
        return 0;
    }
    server_ev = evloop_new();
    stress_fd = MASTER_STRESS_FD;
    /* a single-connection server dies at once on SIGTERM (master's stop), as in
     * Postfix: nothing is acknowledged before it is durable, so nothing is lost */
    if (def->event_loop)
        sig_catch(SIGTERM, 1);
    else
        sig_default(SIGTERM);
    evloop_watch(server_ev, sig_fd(), EV_READ, on_signal, def->event_loop ? server_ev : NULL);
    evloop_watch(server_ev, MASTER_LIVE_FD, EV_READ, on_master_gone,
                 def->event_loop ? server_ev : NULL);
    watch_master();
    if (def->event_loop) {
        int *fds = xcalloc((size_t)nsock, sizeof(int));
        for (int i = 0; i < nsock; i++)
            fds[i] = MASTER_LISTEN_FD + i;
        def->run(server_ev, fds, nsock);
        free(fds);
        report(MASTER_STAT_READY);
        if (!stopping)
            evloop_run(server_ev);
        if (def->on_exit)
            def->on_exit();
    } else {
        report(MASTER_STAT_READY);
        serve_loop(def, nsock);
    }
    return 0;
}

void server_conn_nodelay(const struct server_conn *c)
{
    int one = 1;

    if (c->is_inet && setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
        log_warn("TCP_NODELAY: %s", strerror(errno));
}
