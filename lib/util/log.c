/*
 * log.c - logging in the Postfix manner
 *
 * Each message is formatted once, sanitized centrally (printable() in str.c:
 * control bytes, C1 controls and malformed UTF-8 become '?'),
 * and written with a single write(2) per destination so that lines from
 * many processes appending to one maillog_file never interleave. syslog
 * uses facility LOG_MAIL and ident "petrel/PROG".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "str.h"

static char log_prog[64] = "petrel";
static char log_ident[96] = "petrel";
static char log_syslog_name[32] = "petrel";
static char log_host[64] = "localhost";
static int log_dests = LOG_DEST_STDERR;
static int log_fd = -1;
static int log_level;
static int log_syslog_open;
static void (*log_fatal_hook)(void);

/* set_ident - recompute "petrel/prog" */
static void set_ident(void)
{
    snprintf(log_ident, sizeof(log_ident), "%s/%s", log_syslog_name, log_prog);
    if (log_syslog_open) {
        closelog();
        log_syslog_open = 0;
    }
}

void log_init(const char *prog, int dests)
{
    const char *slash = strrchr(prog, '/');

    snprintf(log_prog, sizeof(log_prog), "%s", slash ? slash + 1 : prog);
    set_ident();
    log_dests = dests;
    if (gethostname(log_host, sizeof(log_host) - 1) != 0)
        snprintf(log_host, sizeof(log_host), "localhost");
    log_host[sizeof(log_host) - 1] = '\0';
    char *dot = strchr(log_host, '.');
    if (dot)
        *dot = '\0';
}

int log_set_file(const char *path)
{
    struct stat st;
    /* the container idiom: the log goes to the process's own output */
    int std = strcmp(path, "/dev/stdout") == 0 ? 1 : strcmp(path, "/dev/stderr") == 0 ? 2 : -1;
    int fd;

    if (std > 0)
        fd = fcntl(std, F_DUPFD_CLOEXEC, 3);
    else
        fd = open(path,
                  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK,
                  0640);
    if (fd < 0)
        return -1;
    /* root opens it: never through a link a user planted, never a FIFO or a device,
     * never a file that is also linked elsewhere */
    if (std < 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    if (log_fd >= 0)
        close(log_fd);
    log_fd = fd;
    log_dests |= LOG_DEST_FILE;
    return 0;
}

void log_set_dests(int dests)
{
    log_dests = dests;
}

int log_get_dests(void)
{
    return log_dests;
}

void log_set_syslog_name(const char *name)
{
    snprintf(log_syslog_name, sizeof(log_syslog_name), "%s", name);
    set_ident();
}

void log_set_verbose(int level)
{
    log_level = level;
}

int log_verbose(void)
{
    return log_level;
}

void log_on_fatal(void (*fn)(void))
{
    log_fatal_hook = fn;
}

/* write_all - write a whole buffer, retrying on EINTR/short writes */
static void write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        buf += w;
        n -= (size_t)w;
    }
}

/* log_vmsg - format one message and send it to every destination */
static void log_vmsg(int prio, const char *tag, const char *fmt, va_list ap)
{
    char msg[4096];
    char line[4400];
    int saved_errno = errno;
    int n;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    printable(msg, strlen(msg));
    if (log_dests & LOG_DEST_STDERR) {
        n = snprintf(line, sizeof(line), "%s[%ld]: %s%s\n", log_ident, (long)getpid(), tag, msg);
        write_all(2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    }
    if ((log_dests & LOG_DEST_FILE) && log_fd >= 0) {
        struct timespec ts;
        struct tm tm;
        char when[32];

        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        strftime(when, sizeof(when), "%b %e %H:%M:%S", &tm);
        n = snprintf(line, sizeof(line), "%s.%06ld %s %s[%ld]: %s%s\n", when, ts.tv_nsec / 1000,
                     log_host, log_ident, (long)getpid(), tag, msg);
        write_all(log_fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    }
    if (log_dests & LOG_DEST_SYSLOG) {
        if (!log_syslog_open) {
            openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
            log_syslog_open = 1;
        }
        syslog(prio, "%s%s", tag, msg);
    }
    errno = saved_errno;
}

void log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_INFO, "", fmt, ap);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_WARNING, "warning: ", fmt, ap);
    va_end(ap);
}

void log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_ERR, "error: ", fmt, ap);
    va_end(ap);
}

void log_debug(const char *fmt, ...)
{
    va_list ap;
    if (log_level <= 0)
        return;
    va_start(ap, fmt);
    log_vmsg(LOG_DEBUG, "debug: ", fmt, ap);
    va_end(ap);
}

void log_fatal(const char *fmt, ...)
{
    va_list ap;
    void (*hook)(void) = log_fatal_hook;

    va_start(ap, fmt);
    log_vmsg(LOG_CRIT, "fatal: ", fmt, ap);
    va_end(ap);
    log_fatal_hook = NULL;
    if (hook)
        hook();
    exit(1);
}

void log_panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_CRIT, "panic: ", fmt, ap);
    va_end(ap);
    abort();
}
