/*
 * proc.c - process helpers: privilege drop, pid file, descriptors, daemonizing
 *
 * Signals are turned into bytes on a non-blocking self-pipe so that event
 * loops handle them synchronously; the handler itself only writes one
 * byte (async-signal-safe) and preserves errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"

int proc_user(const char *name, uid_t *uid, gid_t *gid)
{
    struct passwd *pw = getpwnam(name);

    if (pw == NULL)
        return -1;
    if (uid)
        *uid = pw->pw_uid;
    if (gid)
        *gid = pw->pw_gid;
    return 0;
}

int proc_group(const char *name, gid_t *gid)
{
    struct group *gr = getgrnam(name);

    if (gr == NULL)
        return -1;
    *gid = gr->gr_gid;
    return 0;
}

void proc_drop_privs(const char *name, uid_t uid, gid_t gid)
{
    if (geteuid() != 0) {
        if (getuid() == uid && geteuid() == uid)
            return;
        log_fatal("cannot change identity to %s: not running as root", name);
    }
    if (setgid(gid) != 0)
        log_fatal("setgid(%ld): %s", (long)gid, strerror(errno));
    if (name ? initgroups(name, gid) != 0 : setgroups(1, &gid) != 0)
        log_fatal("initgroups(%s): %s", name ? name : "-", strerror(errno));
    if (setuid(uid) != 0)
        log_fatal("setuid(%ld): %s", (long)uid, strerror(errno));
    /* the check that it cannot be undone */
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
        log_panic("privilege drop to %s can be undone", name ? name : "?");
    if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid)
        log_panic("privilege drop to %s did not take effect", name ? name : "?");
}

void proc_drop_to_user(const char *name)
{
    uid_t uid;
    gid_t gid;

    if (proc_user(name, &uid, &gid) < 0)
        log_fatal("unknown user: %s", name);
    if (uid == 0)
        log_fatal("user %s has uid 0: refusing to run as root", name);
    proc_drop_privs(name, uid, gid);
}

int proc_pidfile_lock(const char *path, struct str *err)
{
    struct flock fl;
    char buf[32];
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    int n;

    if (fd < 0) {
        str_printf(err, "open %s: %s", path, strerror(errno));
        return -1;
    }
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_SETLK, &fl) < 0) {
        pid_t other = proc_pidfile_owner(path);
        str_printf(err, "%s is locked by process %ld: already running", path, (long)other);
        close(fd);
        return -1;
    }
    n = snprintf(buf, sizeof(buf), "%10ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
        str_printf(err, "write %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

pid_t proc_pidfile_owner(const char *path)
{
    struct flock fl;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    /* F_GETLK needs a descriptor open for writing for write locks on some
     * systems; Linux answers for read-only descriptors too */
    if (fcntl(fd, F_GETLK, &fl) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return fl.l_type == F_UNLCK ? 0 : fl.l_pid;
}

void proc_cloexec(int fd, int on)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0)
        fcntl(fd, F_SETFD, on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC);
}

void proc_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

void proc_close_from(int lowfd)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, lowfd, ~0U, 0) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = lowfd; fd < max; fd++)
        close(fd);
}

void proc_daemonize(void)
{
    pid_t pid = fork();
    int fd;

    if (pid < 0)
        log_fatal("fork: %s", strerror(errno));
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        log_fatal("setsid: %s", strerror(errno));
    if ((fd = open("/dev/null", O_RDWR)) >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
}

static int sig_pipe[2] = {-1, -1};

/* sig_handler - async-signal-safe: one byte into the self-pipe */
static void sig_handler(int signo)
{
    int saved = errno;
    unsigned char b = (unsigned char)signo;
    ssize_t unused = write(sig_pipe[1], &b, 1);
    (void)unused;
    errno = saved;
}

int sig_init(void)
{
    if (sig_pipe[0] >= 0)
        return sig_pipe[0];
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        log_fatal("pipe: %s", strerror(errno));
    return sig_pipe[0];
}

int sig_fd(void)
{
    return sig_pipe[0];
}

void sig_catch(int signo, int interrupt)
{
    struct sigaction sa;

    sig_init();
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = sig_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = interrupt ? 0 : SA_RESTART;
    if (sigaction(signo, &sa, NULL) < 0)
        log_fatal("sigaction(%d): %s", signo, strerror(errno));
}

int sig_next(void)
{
    unsigned char b;

    if (sig_pipe[0] < 0)
        return 0;
    return read(sig_pipe[0], &b, 1) == 1 ? b : 0;
}

void sig_default(int signo)
{
    signal(signo, SIG_DFL);
}
