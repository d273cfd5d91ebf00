/*
 * master.c - the Petrel supervisor
 *
 * Reads main.cf and master.cf, creates the queue directories, binds every
 * service's listeners (before daemonizing, so `petrel start` sees bind
 * errors), then supervises the process pools (master_service.c). SIGHUP
 * reloads: changed services get new children, unchanged listeners stay
 * open so no connection is refused, removed services stop. SIGTERM stops:
 * every child is ended (killed after master_stop_timeout) before master
 * exits. Run as root, children of unpriv services drop to mail_owner; run
 * as an ordinary user, everything runs as that user.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cfg.h"
#include "cfg_validate.h"
#include "log.h"
#include "mcf.h"
#include "mem.h"
#include "proc.h"
#include "qdir.h"

#include "master.h"

struct evloop *master_ev;
struct service *master_services;
const char *master_confdir;
int master_live_rd = -1;
int master_config_fd = -1;
int master_stopping;

static int foreground;
static char *pid_path;
static int pid_fd = -1;

static void usage(void)
{
    fprintf(stderr,
            "usage: master [-c config_dir] [-f] [-v]\n"
            "  -c dir  configuration directory (default %s, or $MAIL_CONFIG)\n"
            "  -f      stay in the foreground (containers, systemd Type=simple)\n"
            "  -v      verbose logging\n",
            PETREL_CONFIG_DIR);
    exit(2);
}

/* read_config - main.cf and master.cf into new objects; prints problems; -1 on errors */
static int read_config(struct cfg **cp, struct mcf *m)
{
    struct cfg_diag diag;
    struct cfg *c = cfg_new(master_confdir);
    char *mpath = xasprintf("%s/master.cf", master_confdir);
    int rc = 0;

    cfg_diag_init(&diag);
    if (cfg_load(c, &diag) < 0)
        cfg_diag_add(&diag, 1, master_confdir, 0, "cannot read main.cf: %s", strerror(errno));
    cfg_validate(c, &diag);
    mcf_init(m);
    if (mcf_load(mpath, m, &diag) < 0)
        cfg_diag_add(&diag, 1, mpath, 0, "cannot read: %s", strerror(errno));
    else if (diag.errors == 0)
        cfg_validate_services(c, m, &diag);
    for (size_t i = 0; i < diag.lines.n; i++)
        log_warn("%s", diag.lines.v[i]);
    if (diag.errors) {
        log_error("%d error(s) in the configuration", diag.errors);
        cfg_free(c);
        mcf_free(m);
        rc = -1;
    } else {
        *cp = c;
    }
    cfg_diag_free(&diag);
    free(mpath);
    return rc;
}

/* publish_config - the validated main.cf text into a sealed memfd for new children */
static void publish_config(void)
{
    size_t len;
    const char *text = cfg_text(cfg_main, &len);
    int fd = memfd_create("petrel-main.cf", MFD_CLOEXEC | MFD_ALLOW_SEALING);

    if (fd < 0)
        log_fatal("memfd_create: %s", strerror(errno));
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            log_fatal("write main.cf snapshot: %s", n < 0 ? strerror(errno) : "short write");
        done += (size_t)n;
    }
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
        log_fatal("seal main.cf snapshot: %s", strerror(errno));
    if (master_config_fd >= 0)
        close(master_config_fd); /* children started before keep their own copy */
    master_config_fd = fd;
}

/* setup_logging - stderr in the foreground, then maillog_file or syslog */
static void setup_logging(void)
{
    const char *file = cfg_str(cfg_main, P_maillog_file);
    int dests = foreground ? LOG_DEST_STDERR : 0;

    log_set_syslog_name(cfg_str(cfg_main, P_syslog_name));
    if (*file) {
        if (log_set_file(file) < 0)
            log_warn("open maillog_file %s: %s", file, strerror(errno));
        else
            dests |= LOG_DEST_FILE;
        /* in the foreground with a maillog_file, stderr would duplicate it */
        if (dests & LOG_DEST_FILE)
            dests &= ~LOG_DEST_STDERR;
    } else {
        dests |= LOG_DEST_SYSLOG;
    }
    log_set_dests(dests);
}

/* start_services - create every service of m; fatal when one cannot listen */
static void start_services(struct mcf *m, int fatal)
{
    for (size_t i = 0; i < m->n; i++) {
        struct str err = STR_INIT;
        if (service_create(&m->svc[i], &err) == NULL) {
            if (fatal)
                log_fatal("%s:%d: service %s: %s", m->svc[i].file, m->svc[i].line, m->svc[i].name,
                          str_c(&err));
            log_error("%s:%d: service %s: %s", m->svc[i].file, m->svc[i].line, m->svc[i].name,
                      str_c(&err));
        }
        str_free(&err);
    }
}

/* reload - SIGHUP: new configuration, keep unchanged listeners */
static void reload(void)
{
    struct cfg *c = NULL;
    struct mcf m;
    struct service *s, *next;

    log_info("reload -- version %s, configuration %s", PACKAGE_VERSION, master_confdir);
    if (read_config(&c, &m) < 0) {
        log_error("reload failed: the configuration has errors; keeping the old one");
        return;
    }
    cfg_free(cfg_main);
    cfg_main = c;
    publish_config();
    setup_logging();
    /* services gone or moved to another endpoint stop */
    for (s = master_services; s; s = next) {
        next = s->next;
        if (s->removed)
            continue;
        struct mcf_service *n = mcf_find(&m, s->def.name, s->def.type);
        if (n == NULL || !mcf_same_listener(n, &s->def))
            service_remove(s);
    }
    for (size_t i = 0; i < m.n; i++) {
        struct service *found = NULL;
        for (s = master_services; s; s = s->next)
            if (!s->removed && s->def.type == m.svc[i].type &&
                strcmp(s->def.name, m.svc[i].name) == 0)
                found = s;
        if (found) {
            service_update(found, &m.svc[i]);
        } else {
            struct str err = STR_INIT;
            if (service_create(&m.svc[i], &err) == NULL)
                log_error("%s:%d: service %s: %s", m.svc[i].file, m.svc[i].line, m.svc[i].name,
                          str_c(&err));
            str_free(&err);
        }
    }
    for (s = master_services; s; s = s->next)
        service_adjust(s);
    mcf_free(&m);
}

/* reap - collect every exited child */
static void reap(void)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        service_reap(pid, status);
}

/* stop - SIGTERM: end every child, then exit */
static _Noreturn void stop(int sig)
{
    long long limit = cfg_time(cfg_main, P_master_stop_timeout) * 1000;
    long long start = evloop_now_ms();

    log_info("terminating on signal %d", sig);
    master_stopping = 1;
    for (struct service *s = master_services; s; s = s->next)
        service_close_listeners(s);
    service_signal_all(SIGTERM);
    while (service_child_count() > 0) {
        long long left = limit - (evloop_now_ms() - start);
        if (left <= 0) {
            log_warn("%d process(es) still running after %llds: killing them",
                     service_child_count(), limit / 1000);
            service_signal_all(SIGKILL);
            while (service_child_count() > 0) {
                int status;
                pid_t pid = waitpid(-1, &status, 0);
                if (pid < 0)
                    break;
                service_reap(pid, status);
            }
            break;
        }
        evloop_run_once(master_ev, left < 200 ? left : 200);
        reap();
    }
    if (pid_fd >= 0) {
        unlink(pid_path);
        close(pid_fd);
    }
    exit(0);
}

static void on_signal(int fd, int events, void *ctx)
{
    int sig;

    while ((sig = sig_next()) != 0) {
        switch (sig) {
        case SIGCHLD:
            reap();
            break;
        case SIGHUP:
            reload();
            break;
        case SIGTERM:
        case SIGINT:
            stop(sig);
        }
    }
}

/* check_identity - root needs a proper mail_owner; others run as themselves */
static void check_identity(void)
{
    struct qdir_ids ids;
    struct str err = STR_INIT;

    if (qdir_ids(cfg_main, &ids, &err) < 0)
        log_fatal("%s", str_c(&err));
    if (geteuid() != 0) {
        struct passwd *pw = getpwuid(geteuid());
        log_info("running as %s (uid %ld), not root: every daemon runs as this user, "
                 "no privilege changes",
                 pw ? pw->pw_name : "?", (long)geteuid());
    }
    if (qdir_create(cfg_str(cfg_main, P_queue_directory), &ids, &err) < 0)
        log_fatal("queue directory: %s", str_c(&err));
    str_free(&err);
}

int main(int argc, char **argv)
{
    struct mcf m;
    struct str err = STR_INIT;
    int c, verbose = 0;
    int live[2];

    log_init("master", LOG_DEST_STDERR);
    master_confdir = getenv("MAIL_CONFIG");
    if (master_confdir == NULL || *master_confdir == '\0')
        master_confdir = PETREL_CONFIG_DIR;
    while ((c = getopt(argc, argv, "c:fvh")) != -1) {
        switch (c) {
        case 'c':
            master_confdir = optarg;
            break;
        case 'f':
            foreground = 1;
            break;
        case 'v':
            verbose++;
            break;
        default:
            usage();
        }
    }
    if (optind != argc)
        usage();
    /* as in Postfix: children run in the queue directory, where a relative name
     * means another directory */
    if (master_confdir[0] != '/')
        log_fatal("-c requires absolute pathname: %s", master_confdir);
    log_set_verbose(verbose);
    umask(022);
    if (read_config(&cfg_main, &m) < 0)
        exit(1);
    check_identity();
    pid_path = xasprintf("%s/pid/master.pid", cfg_str(cfg_main, P_queue_directory));
    if (proc_pidfile_owner(pid_path) > 0)
        log_fatal("the mail system is already running (pid %ld, %s)",
                  (long)proc_pidfile_owner(pid_path), pid_path);
    signal(SIGPIPE, SIG_IGN);
    if (pipe2(live, O_CLOEXEC) < 0)
        log_fatal("pipe: %s", strerror(errno));
    master_live_rd = live[0]; /* live[1] stays open, unwritten, until master exits */
    master_ev = evloop_new();
    publish_config();
    start_services(&m, 1);
    mcf_free(&m);
    if (!foreground)
        proc_daemonize();
    setup_logging();
    if ((pid_fd = proc_pidfile_lock(pid_path, &err)) < 0)
        log_fatal("%s", str_c(&err));
    sig_catch(SIGCHLD, 0);
    sig_catch(SIGHUP, 0);
    sig_catch(SIGTERM, 0);
    sig_catch(SIGINT, 0);
    evloop_watch(master_ev, sig_fd(), EV_READ, on_signal, NULL);
    log_info("daemon started -- version %s, configuration %s", PACKAGE_VERSION, master_confdir);
    for (struct service *s = master_services; s; s = s->next)
        service_adjust(s);
    evloop_run(master_ev);
    return 0;
}
