/*
 * petrel-drop.c - the set-gid helper that puts a local submission into maildrop/
 *
 * petrel-drop [-c config_dir] < records
 *
 * Installed set-gid to $setgid_group, the only group that may write into
 * maildrop/ (mode 1730) and reach public/. It reads one message in the
 * maildrop record format (lib/global/maildrop.h) from standard input, as
 * sendmail writes it, checks the structure and the limits
 * (message_size_limit, submit_recipient_limit), and writes it to
 * maildrop/.tmp.PID.USEC (mode 0600), which pickup does not take (it only
 * removes one that has not changed for stale_queue_file_time). Only a
 * complete input (the end record, then end of input) is fsync'ed, made
 * mode 0444 and renamed to its final name, which is a queue ID (time +
 * inode, as in lib/global/qfile.h) that pickup keeps; the name is printed on
 * standard output, pickup is poked, and the exit status is 0. Anything
 * else removes the temporary file: a half-written message is never picked
 * up. The file belongs to the submitting user: pickup takes that as the
 * submitter's identity.
 *
 * Being set-gid, it trusts nothing from the caller: the configuration
 * directory must pass tool_load_trusted(), the user must pass
 * authorized_submit_users, the standard descriptors are made sane, and
 * no program is run. Exit status (sysexits.h): 0 queued; EX_USAGE bad
 * arguments; EX_DATAERR malformed or oversized input; EX_NOPERM not
 * allowed; EX_CONFIG bad configuration; EX_TEMPFAIL the queue cannot be
 * written.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sysexits.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "maildrop.h"
#include "mem.h"
#include "rec.h"
#include "str.h"
#include "tool.h"
#include "trigger.h"

#define WRITE_CHUNK 65536

static char tmp_path[128]; /* the temporary file, removed on any failure */

static const char usage_text[] = "[-c config_dir] < message-records";

static _Noreturn void help(void)
{
    printf("usage: petrel-drop %s\n\n"
           "Store one locally submitted message (in the maildrop record format, as sendmail\n"
           "writes it on standard input) in the maildrop queue; print its queue ID.\n"
           "This is the set-gid helper of sendmail(1); run sendmail instead.\n\n"
           "  -c dir   configuration directory (default %s, or $MAIL_CONFIG)\n"
           "  --help   this text\n\n"
           "Exit status: 0 queued; 64 usage; 65 malformed input; 77 not allowed;\n"
           "78 bad configuration; 75 the queue cannot be written.\n",
           usage_text, PETREL_CONFIG_DIR);
    exit(0);
}

/* die - one error line, remove the temporary file, exit with a sysexits status */
static _Noreturn __attribute__((format(printf, 2, 3))) void die(int status, const char *fmt, ...)
{
    va_list ap;

    if (tmp_path[0])
        unlink(tmp_path);
    fprintf(stderr, "petrel-drop: fatal: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(status);
}

/* on_signal - the caller gave up: leave nothing behind */
static void on_signal(int sig)
{
    (void)sig;
    if (tmp_path[0])
        unlink(tmp_path);
    _exit(EX_TEMPFAIL);
}

/* sane_fds - descriptors 0-2 open (a set-gid program must not write into a file
 * that happens to get descriptor 2) */
static void sane_fds(void)
{
    struct stat st;

    for (int fd = 0; fd < 3; fd++)
        if (fstat(fd, &st) < 0 && open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
            _exit(EX_OSERR);
}

/* out_flush - write the buffered records to fd */
static void out_flush(int fd, struct str *out)
{
    size_t off = 0;

    while (off < out->len) {
        ssize_t n = write(fd, out->s + off, out->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die(EX_TEMPFAIL, "write %s: %s", tmp_path, strerror(errno));
        off += (size_t)n;
    }
    str_reset(out);
}

/* copy_envelope - the checked envelope, re-encoded */
static void copy_envelope(const struct maildrop_env *env, struct str *out)
{
    struct timeval tv;
    struct str p = STR_INIT;

    gettimeofday(&tv, NULL);
    rec_put(out, QREC_VERSION, MAILDROP_MAGIC, strlen(MAILDROP_MAGIC));
    rec_time_encode(&p, (long long)tv.tv_sec, (long)tv.tv_usec);
    rec_put(out, QREC_TIME, p.s, p.len);
    rec_put(out, QREC_SENDER, env->sender, strlen(env->sender));
    for (size_t i = 0; i < env->nattrs; i++) {
        rec_attr_encode(&p, env->attrs[i].name, env->attrs[i].value);
        rec_put(out, QREC_ATTR, p.s, p.len);
    }
    for (size_t i = 0; i < env->nrcpts; i++)
        maildrop_put_rcpt(out, env->rcpts[i].addr, env->rcpts[i].orcpt, env->rcpts[i].notify);
    rec_put(out, QREC_MESSAGE, "", 0);
    str_free(&p);
}

/* finish - fsync, mode 0444, rename to the queue ID; the ID */
static char *finish(int fd)
{
    struct stat st;
    struct timeval tv;
    char *id, *path;

    if (fsync(fd) < 0 || fchmod(fd, 0444) < 0 || fstat(fd, &st) < 0)
        die(EX_TEMPFAIL, "%s: %s", tmp_path, strerror(errno));
    gettimeofday(&tv, NULL);
    id = xasprintf("%08llX%05lX%llX", (unsigned long long)tv.tv_sec, (unsigned long)tv.tv_usec,
                   (unsigned long long)st.st_ino);
    path = xasprintf("maildrop/%s", id);
    if (renameat2(AT_FDCWD, tmp_path, AT_FDCWD, path, RENAME_NOREPLACE) < 0 &&
        (errno != EINVAL || rename(tmp_path, path) < 0))
        die(EX_TEMPFAIL, "rename %s to %s: %s", tmp_path, path, strerror(errno));
    tmp_path[0] = '\0';
    /* the rename is metadata of the same journal: a second fsync commits it (maildrop/
     * itself cannot be opened for an fsync: the group may not read it) */
    if (fsync(fd) < 0) {
        int e = errno;
        unlink(path);
        die(EX_TEMPFAIL, "fsync %s: %s", path, strerror(e));
    }
    free(path);
    return id;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'H'}, {NULL, 0, NULL, 0}};
    const char *copt = NULL, *confdir;
    struct maildrop_limits lim;
    struct maildrop_reader rd;
    struct maildrop_env env;
    struct str err = STR_INIT, out = STR_INIT, chunk = STR_INIT;
    struct timeval tv;
    int c, fd, r;
    char *id;

    sane_fds();
    umask(077);
    tool_init("petrel-drop");
    while ((c = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            copt = optarg;
            break;
        case 'H':
            help();
        default:
            fprintf(stderr, "usage: petrel-drop %s\n", usage_text);
            exit(EX_USAGE);
        }
    }
    if (optind != argc) {
        fprintf(stderr, "usage: petrel-drop %s\n", usage_text);
        exit(EX_USAGE);
    }
    confdir = tool_confdir(copt);
    if (tool_load_trusted(confdir, &err) < 0)
        die(EX_NOPERM, "%s", str_c(&err));
    if (!tool_user_allowed(P_authorized_submit_users, getuid(), &err))
        die(EX_NOPERM, "%s: not allowed to submit mail", str_c(&err));
    if (chdir(cfg_str(cfg_main, P_queue_directory)) < 0)
        die(EX_TEMPFAIL, "chdir %s: %s", cfg_str(cfg_main, P_queue_directory), strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGQUIT, on_signal);

    lim.content_max = (uint64_t)cfg_size(cfg_main, P_message_size_limit);
    lim.rcpt_max = (size_t)cfg_int(cfg_main, P_submit_recipient_limit);
    maildrop_reader_init(&rd, 0, &lim);
    if (maildrop_read_envelope(&rd, &env, &err) < 0)
        die(EX_DATAERR, "malformed input: %s", str_c(&err));

    gettimeofday(&tv, NULL);
    snprintf(tmp_path, sizeof(tmp_path), "maildrop/.tmp.%ld.%06ld", (long)getpid(),
             (long)tv.tv_usec);
    fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        tmp_path[0] = '\0';
        die(EX_TEMPFAIL, "create a file in %s/maildrop: %s", cfg_str(cfg_main, P_queue_directory),
            strerror(e));
    }
    copy_envelope(&env, &out);
    maildrop_env_free(&env);
    while ((r = maildrop_read_content(&rd, &chunk, &err)) > 0) {
        rec_put(&out, QREC_DATA, chunk.s, chunk.len);
        if (out.len >= WRITE_CHUNK)
            out_flush(fd, &out);
    }
    if (r < 0)
        die(EX_DATAERR, "malformed input: %s", str_c(&err));
    rec_put(&out, QREC_END, "", 0);
    out_flush(fd, &out);
    id = finish(fd);
    close(fd);
    printf("%s\n", id);
    fflush(stdout);
    str_reset(&err);
    if (trigger_send("public/pickup", "W", (int)cfg_time(cfg_main, P_ipc_timeout), &err) < 0)
        fprintf(stderr,
                "petrel-drop: warning: cannot notify pickup (%s): the message waits in "
                "the maildrop queue for its next scan\n",
                str_c(&err));
    free(id);
    str_free(&err);
    str_free(&out);
    str_free(&chunk);
    return 0;
}
