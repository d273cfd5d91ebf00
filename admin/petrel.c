/*
 * petrel.c - control the mail system: start, stop, reload, status, check, flush
 *
 * start checks and repairs the queue (petrel-super -s), runs master (which
 * binds its listeners before it detaches, so bind errors reach this
 * terminal) and waits until master holds its pid file;
 * stop and reload signal master; status reports whether master runs, its
 * pid, and the processes of each master.cf service (from /proc); check
 * validates main.cf, master.cf, the programs and the queue directory and
 * prints "file:line: message" lines; flush asks qmgr to retry deferred
 * mail now. Exit status: 0 success; 1 failure or "not running"; 2 usage.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "cfg_validate.h"
#include "htab.h"
#include "mcf.h"
#include "mem.h"
#include "proc.h"
#include "qdir.h"
#include "str.h"
#include "tool.h"
#include "trigger.h"

static const char usage_text[] = "[-c config_dir] [-v] start|stop|reload|status|check|flush";
static const char *confdir;
static int verbose;

static _Noreturn void help(void)
{
    printf("usage: petrel %s\n\n"
           "Control the Petrel mail system.\n\n"
           "  start    check the configuration and start master (in the background)\n"
           "  stop     stop master and every Petrel process\n"
           "  reload   re-read main.cf and master.cf without refusing connections\n"
           "  status   say whether the system runs; its pid and processes per service\n"
           "  check    validate main.cf, master.cf, programs and the queue directory\n"
           "  flush    attempt delivery of all deferred mail now\n\n"
           "  -c dir   configuration directory (default %s, or $MAIL_CONFIG)\n"
           "  -v       more output\n"
           "  --help   this text\n\n"
           "Exit status: 0 success; 1 failure, errors found, or not running; 2 usage.\n",
           usage_text, PETREL_CONFIG_DIR);
    exit(0);
}

static char *pid_path(void)
{
    return xasprintf("%s/pid/master.pid", cfg_str(cfg_main, P_queue_directory));
}

static pid_t running(void)
{
    char *p = pid_path();
    pid_t pid = proc_pidfile_owner(p);
    free(p);
    return pid > 0 ? pid : 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* check_all - every static check; prints problems; returns the error count */
static int check_all(int with_queue)
{
    struct cfg_diag diag;
    struct mcf m;
    char *mpath = xasprintf("%s/master.cf", confdir);
    int errors;

    cfg_diag_init(&diag);
    cfg_free(cfg_main);
    cfg_main = cfg_new(confdir);
    if (cfg_load(cfg_main, &diag) < 0)
        cfg_diag_add(&diag, 1, confdir, 0, "cannot read main.cf: %s", strerror(errno));
    cfg_validate(cfg_main, &diag);
    mcf_init(&m);
    if (mcf_load(mpath, &m, &diag) < 0)
        cfg_diag_add(&diag, 1, mpath, 0, "cannot read: %s", strerror(errno));
    else if (diag.errors == 0)
        cfg_validate_services(cfg_main, &m, &diag);
    if (diag.errors == 0) {
        const char *dd = cfg_str(cfg_main, P_daemon_directory);
        for (size_t i = 0; i < m.n; i++) {
            char *prog = xasprintf("%s/%s", dd, m.svc[i].argv.v[0]);
            if (access(prog, X_OK) < 0)
                cfg_diag_add(&diag, 1, m.svc[i].file, m.svc[i].line, "program %s: %s", prog,
                             strerror(errno));
            free(prog);
        }
        struct qdir_ids ids;
        struct str err = STR_INIT;
        if (qdir_ids(cfg_main, &ids, &err) < 0) {
            cfg_diag_add(&diag, 1, NULL, 0, "%s", str_c(&err));
        } else if (with_queue) {
            struct strlist problems = STRLIST_INIT;
            struct stat st;
            if (stat(cfg_str(cfg_main, P_queue_directory), &st) == 0)
                qdir_check(cfg_str(cfg_main, P_queue_directory), &ids, &problems);
            for (size_t i = 0; i < problems.n; i++)
                cfg_diag_add(&diag, 1, NULL, 0, "%s", problems.v[i]);
            strlist_free(&problems);
        }
        str_free(&err);
    }
    for (size_t i = 0; i < diag.lines.n; i++)
        fprintf(stderr, "%s\n", diag.lines.v[i]);
    errors = diag.errors;
    cfg_diag_free(&diag);
    mcf_free(&m);
    free(mpath);
    return errors;
}

/* check_queue - petrel-super -s before master starts (a missing queue is master's job) */
static void check_queue(void)
{
    struct stat st;
    char self[4096];
    ssize_t n;
    pid_t pid;
    int status;
    char *path = xasprintf("%s/petrel-super", cfg_str(cfg_main, P_command_directory));

    if (stat(cfg_str(cfg_main, P_queue_directory), &st) < 0) {
        free(path);
        return;
    }
    if (access(path, X_OK) < 0 && (n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
        /* a build tree or a moved installation: the petrel-super next to this program */
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            free(path);
            path = xasprintf("%s/petrel-super", self);
        }
    }
    if (access(path, X_OK) < 0) {
        fprintf(stderr, "petrel: warning: %s: %s: the queue is not checked\n", path,
                strerror(errno));
        free(path);
        return;
    }
    pid = fork();
    if (pid == 0) {
        execl(path, "petrel-super", "-c", confdir, "-s", (char *)NULL);
        fprintf(stderr, "petrel: warning: exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "petrel: warning: the queue check left problems (see above and the mail "
                        "log)\n");
    free(path);
}

static int do_start(void)
{
    pid_t pid, mpid;
    int status;

    if (check_all(0) > 0)
        tool_die("the configuration has errors: not started");
    if ((mpid = running()) > 0)
        tool_die("the mail system is already running (pid %ld)", (long)mpid);
    check_queue();
    char *master = xasprintf("%s/master", cfg_str(cfg_main, P_daemon_directory));
    pid = fork();
    if (pid < 0)
        tool_die("fork: %s", strerror(errno));
    if (pid == 0) {
        execl(master, "master", "-c", confdir, (char *)NULL);
        fprintf(stderr, "petrel: fatal: exec %s: %s\n", master, strerror(errno));
        _exit(127);
    }
    free(master);
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        tool_die("master did not start (see the messages above and the mail log)");
    for (int i = 0; i < 100; i++) {
        if ((mpid = running()) > 0) {
            printf("petrel: the mail system is running (pid %ld)\n", (long)mpid);
            return 0;
        }
        sleep_ms(100);
    }
    tool_die("master did not take its pid file within 10 seconds");
}

static int do_stop(void)
{
    pid_t pid = running();
    long long wait_s = cfg_time(cfg_main, P_master_stop_timeout) + 10;

    if (pid == 0)
        tool_die("the mail system is not running");
    if (kill(pid, SIGTERM) < 0)
        tool_die("kill %ld: %s", (long)pid, strerror(errno));
    for (long long i = 0; i < wait_s * 10; i++) {
        if (running() == 0) {
            printf("petrel: stopped\n");
            return 0;
        }
        sleep_ms(100);
    }
    tool_die("master (pid %ld) did not stop within %lld seconds", (long)pid, wait_s);
}

static int do_reload(void)
{
    pid_t pid = running();

    if (check_all(0) > 0)
        tool_die("the configuration has errors: not reloaded");
    if (pid == 0)
        tool_die("the mail system is not running");
    if (kill(pid, SIGHUP) < 0)
        tool_die("kill %ld: %s", (long)pid, strerror(errno));
    printf("petrel: reloading (pid %ld)\n", (long)pid);
    return 0;
}

/* child_service - "-n NAME -t TYPE" of a child of master, from /proc */
static int child_service(const char *pid, pid_t master, char *out, size_t len)
{
    char path[300], buf[4096];
    int fd;
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%s/stat", pid);
    if ((fd = open(path, O_RDONLY)) < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    long ppid;
    char state;
    if (rp == NULL || sscanf(rp + 1, " %c %ld", &state, &ppid) != 2 || ppid != master)
        return -1;
    snprintf(path, sizeof(path), "/proc/%s/cmdline", pid);
    if ((fd = open(path, O_RDONLY)) < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    const char *name = NULL, *type = NULL;
    for (char *p = buf; p < buf + n; p += strlen(p) + 1) {
        char *next = p + strlen(p) + 1;
        if (next >= buf + n)
            break;
        if (strcmp(p, "-n") == 0)
            name = next;
        else if (strcmp(p, "-t") == 0)
            type = next;
    }
    if (name == NULL || type == NULL)
        return -1;
    snprintf(out, len, "%s/%s", name, type);
    return 0;
}

static int do_status(void)
{
    pid_t pid = running();
    struct htab *counts;
    struct mcf m;
    struct cfg_diag diag;
    DIR *d;
    struct dirent *e;

    if (pid == 0) {
        printf("petrel: the mail system is not running\n");
        return 1;
    }
    printf("petrel: the mail system is running (pid %ld)\n", (long)pid);
    counts = htab_create(32);
    if ((d = opendir("/proc")) != NULL) {
        char key[512];
        while ((e = readdir(d)) != NULL) {
            if (!isdigit((unsigned char)e->d_name[0]))
                continue;
            if (child_service(e->d_name, pid, key, sizeof(key)) == 0)
                htab_put(counts, key, (void *)((long)htab_get(counts, key) + 1));
        }
        closedir(d);
    }
    cfg_diag_init(&diag);
    mcf_init(&m);
    char *mpath = xasprintf("%s/master.cf", confdir);
    mcf_load(mpath, &m, &diag);
    printf("%-24s %-5s %s\n", "service", "type", "processes");
    for (size_t i = 0; i < m.n; i++) {
        char key[512];
        const char *type = m.svc[i].type == MCF_INET ? "inet" : "unix";
        snprintf(key, sizeof(key), "%s/%s", m.svc[i].name, type);
        printf("%-24s %-5s %ld\n", m.svc[i].name, type, (long)htab_get(counts, key));
    }
    free(mpath);
    mcf_free(&m);
    cfg_diag_free(&diag);
    htab_free(counts, NULL);
    return 0;
}

static int do_flush(void)
{
    struct str err = STR_INIT;
    char *path = xasprintf("%s/public/qmgr", cfg_str(cfg_main, P_queue_directory));

    if (running() == 0)
        tool_die("the mail system is not running");
    int r = trigger_send(path, "F", 10, &err);
    free(path);
    if (r < 0)
        tool_die("cannot reach the queue manager: %s", str_c(&err));
    if (verbose)
        printf("petrel: flush requested\n");
    str_free(&err);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'H'}, {NULL, 0, NULL, 0}};
    const char *copt = NULL;
    int c;

    tool_init(argv[0]);
    while ((c = getopt_long(argc, argv, "c:v", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            copt = optarg;
            break;
        case 'v':
            verbose = 1;
            break;
        case 'H':
            help();
        default:
            tool_usage(usage_text);
        }
    }
    if (optind + 1 != argc)
        tool_usage(usage_text);
    confdir = tool_confdir(copt);
    const char *cmd = argv[optind];
    if (strcmp(cmd, "check") == 0) {
        int errors = check_all(1);
        if (verbose || errors)
            printf("petrel: %d error(s)\n", errors);
        return errors ? 1 : 0;
    }
    if (strcmp(cmd, "start") == 0)
        return do_start();
    tool_load(confdir, 0, 1);
    if (strcmp(cmd, "stop") == 0)
        return do_stop();
    if (strcmp(cmd, "reload") == 0)
        return do_reload();
    if (strcmp(cmd, "status") == 0)
        return do_status();
    if (strcmp(cmd, "flush") == 0)
        return do_flush();
    tool_usage(usage_text);
}
