/*
 * server.c - the skeleton of a daemon started by master
 *
 * Accepting is herd-free: every idle child of a service waits on the same
 * listening sockets with EPOLLEXCLUSIVE, so the kernel wakes one of them
 * per connection; a loser of a race sees EAGAIN and waits again.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "master_proto.h"
#include "mem.h"
#include "proc.h"
#include "server.h"

static const char *service_name = "-";
static int stopping;
static struct evloop *server_ev;
static int status_ok = 1;
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

struct evloop *server_event_loop(void)
{
    return server_ev;
}

void server_set_busy(int busy)
{
    struct master_status st;

    if (!status_ok)
        return;
    st.pid = getpid();
    st.status = busy ? MASTER_STAT_BUSY : MASTER_STAT_IDLE;
    if (write(MASTER_STATUS_FD, &st, sizeof(st)) != (ssize_t)sizeof(st)) {
        status_ok = 0;
        stopping = 1; /* master is gone */
    }
}

/* load_config - main.cf plus the -o overrides; fatal on errors */
static void load_config(const char *confdir, struct strlist *onames, struct strlist *ovalues)
{
    struct cfg_diag diag;

    cfg_diag_init(&diag);
    cfg_main = cfg_new(confdir);
    if (cfg_load(cfg_main, &diag) < 0)
        log_fatal("open %s/main.cf: %s", confdir, strerror(errno));
    for (size_t i = 0; i < onames->n; i++)
        cfg_set(cfg_main, onames->v[i], ovalues->v[i], "-o");
    cfg_check(cfg_main, &diag);
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
    const char *file = cfg_str(cfg_main, "maillog_file");

    log_set_syslog_name(cfg_str(cfg_main, "syslog_name"));
    if (*file) {
        if (log_set_file(file) < 0)
            log_fatal("open maillog_file %s: %s", file, strerror(errno));
        log_set_dests(LOG_DEST_FILE);
    } else {
        log_set_dests(LOG_DEST_SYSLOG | (standalone && isatty(2) ? LOG_DEST_STDERR : 0));
    }
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
    int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

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
    long long max_use = cfg_int(cfg_main, "max_use");
    long long max_idle = cfg_time(cfg_main, "max_idle");
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
        case 'c': confdir = optarg; break;
        case 'n': service_name = optarg; break;
        case 't': break;
        case 's': nsock = atoi(optarg); break;
        case 'u': unpriv = 1; break;
        case 'o': {
            const char *eq = strchr(optarg, '=');
            if (eq == NULL)
                log_fatal("bad -o option: %s", optarg);
            strlist_addn(&onames, optarg, (size_t)(eq - optarg));
            strlist_add(&ovalues, eq + 1);
            break;
        }
        case 'v': verbose++; break;
        case 'S': standalone = 1; break;
        default: log_fatal("usage: %s [-c confdir] [-S] [-o name=value] [-v]", def->program);
        }
    }
    signal(SIGPIPE, SIG_IGN);
    /* catch reload requests before the configuration is read, so that none
     * is lost between reading it and serving */
    standalone_mode = standalone;
    if (!standalone)
        sig_catch(SIGHUP, 1);
    load_config(confdir, &onames, &ovalues);
    strlist_free(&onames);
    strlist_free(&ovalues);
    setup_logging(standalone);
    log_set_verbose(verbose);
    if (!standalone && nsock <= 0)
        log_fatal("no listening socket: this program is started by master (or use -S)");
    if (def->pre_init)
        def->pre_init(argc - optind, argv + optind);
    if (unpriv && geteuid() == 0)
        proc_drop_to_user(cfg_str(cfg_main, "mail_owner"));
    if (!standalone && chdir(cfg_str(cfg_main, "queue_directory")) < 0)
        log_fatal("chdir %s: %s", cfg_str(cfg_main, "queue_directory"), strerror(errno));
    if (def->post_init)
        def->post_init();

    if (standalone) {
        struct server_conn conn;
        memset(&conn, 0, sizeof(conn));
        conn.fd = 0;
        conn.wfd = 1;
        def->serve(&conn);
        return 0;
    }
    server_ev = evloop_new();
    /* a single-connection server dies at once on SIGTERM (master's stop), as in
     * Postfix: nothing is acknowledged before it is durable, so nothing is lost */
    if (def->event_loop)
        sig_catch(SIGTERM, 1);
    else
        sig_default(SIGTERM);
    evloop_watch(server_ev, sig_fd(), EV_READ, on_signal, def->event_loop ? server_ev : NULL);
    evloop_watch(server_ev, MASTER_LIVE_FD, EV_READ, on_master_gone,
                 def->event_loop ? server_ev : NULL);
    if (def->event_loop) {
        int *fds = xcalloc((size_t)nsock, sizeof(int));
        for (int i = 0; i < nsock; i++)
            fds[i] = MASTER_LISTEN_FD + i;
        def->run(server_ev, fds, nsock);
        free(fds);
        if (!stopping)
            evloop_run(server_ev);
        if (def->on_exit)
            def->on_exit();
    } else {
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
