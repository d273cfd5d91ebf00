/*
 * tool.c - shared start-up of the administrative commands
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "map.h"
#include "mem.h"
#include "proc.h"
#include "tool.h"

static const char *tool_prog = "petrel";

#ifdef PETREL_SANITIZERS
/* __lsan_is_turned_off - LeakSanitizer's hook: it cannot stop the threads of a set-gid
 * program run by an ordinary user (ptrace is refused), so its check is skipped there;
 * AddressSanitizer and UBSan still run */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
    return getegid() != getgid();
}
#endif

void tool_init(const char *prog)
{
    const char *slash = strrchr(prog, '/');

    tool_prog = slash ? slash + 1 : prog;
    log_init(tool_prog, LOG_DEST_STDERR);
}

const char *tool_confdir(const char *opt)
{
    const char *env = getenv("MAIL_CONFIG");

    const char *dir = opt && *opt ? opt : env && *env ? env : PETREL_CONFIG_DIR;

    /* as in Postfix: the daemons run in the queue directory, where a relative
     * name means something else */
    if (dir[0] != '/')
        tool_die("-c requires absolute pathname: %s", dir);
    return dir;
}

void tool_die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: fatal: ", tool_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

void tool_usage(const char *usage)
{
    fprintf(stderr, "usage: %s %s\n(try %s --help)\n", tool_prog, usage, tool_prog);
    exit(2);
}

void tool_load(const char *confdir, int optional, int tolerant)
{
    struct cfg_diag diag;

    cfg_diag_init(&diag);
    cfg_main = cfg_new(confdir);
    if (cfg_load(cfg_main, &diag) < 0 && !(optional && errno == ENOENT))
        tool_die("cannot read %s/main.cf: %s", confdir, strerror(errno));
    cfg_check(cfg_main, &diag);
    if (diag.errors && !tolerant) {
        for (size_t i = 0; i < diag.lines.n; i++)
            fprintf(stderr, "%s\n", diag.lines.v[i]);
        tool_die("%d error(s) in %s/main.cf", diag.errors, confdir);
    }
    cfg_diag_free(&diag);
}

/* root_owned_safe - an open file owned by root and not writable by group or others */
static int root_owned_safe(int fd, int want_dir)
{
    struct stat st;

    return fstat(fd, &st) == 0 && st.st_uid == 0 && (st.st_mode & 022) == 0 &&
           (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
}

/* listed_alternate - confdir is in alternate_config_directories of the default main.cf */
static int listed_alternate(const char *confdir)
{
    struct strlist alt = STRLIST_INIT;
    struct cfg_diag diag;
    struct cfg *def = cfg_new(PETREL_CONFIG_DIR);
    int ok = 0;

    cfg_diag_init(&diag);
    if (cfg_load(def, &diag) == 0 && cfg_check(def, &diag) == 0) {
        cfg_list(def, P_alternate_config_directories, &alt);
        ok = strlist_find(&alt, confdir, 0) >= 0;
    }
    cfg_diag_free(&diag);
    cfg_free(def);
    strlist_free(&alt);
    return ok;
}

/* open_root_owned_main_cf - confdir/main.cf opened without following a symbolic link
 * (neither confdir's last component nor main.cf), both judged by fstat; -1 when not so */
static int open_root_owned_main_cf(const char *confdir)
{
    int dfd = open(confdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), fd = -1;

    if (dfd < 0)
        return -1;
    if (root_owned_safe(dfd, 1)) {
        fd = openat(dfd, "main.cf", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd >= 0 && !root_owned_safe(fd, 0)) {
            close(fd);
            fd = -1;
        }
    }
    close(dfd);
    return fd;
}

int tool_load_trusted(const char *confdir, struct str *why)
{
    struct cfg_diag diag;
    int fd;

    if (getuid() == 0 || getegid() == getgid() || strcmp(confdir, PETREL_CONFIG_DIR) == 0 ||
        listed_alternate(confdir)) {
        tool_load(confdir, 0, 0);
        return 0;
    }
    if ((fd = open_root_owned_main_cf(confdir)) < 0) {
        str_printf(why,
                   "configuration directory %s is not trusted: it is not listed in "
                   "alternate_config_directories of %s/main.cf, and it or its main.cf is not "
                   "owned by root, is writable by group or others, or is a symbolic link",
                   confdir, PETREL_CONFIG_DIR);
        return -1;
    }
    cfg_diag_init(&diag);
    cfg_main = cfg_new(confdir);
    cfg_load_fd(cfg_main, fd, &diag);
    cfg_check(cfg_main, &diag);
    if (diag.errors) {
        for (size_t i = 0; i < diag.lines.n; i++)
            fprintf(stderr, "%s\n", diag.lines.v[i]);
        tool_die("%d error(s) in %s/main.cf", diag.errors, confdir);
    }
    cfg_diag_free(&diag);
    return 0;
}

int tool_is_admin(void)
{
    uid_t uid;
    gid_t gid;

    if (getuid() == 0)
        return 1;
    return proc_user(cfg_str(cfg_main, P_mail_owner), &uid, &gid) == 0 && uid == getuid();
}

int tool_user_allowed(enum cfg_list_param param, uid_t uid, struct str *why)
{
    struct passwd *pw = getpwuid(uid);
    struct strlist l = STRLIST_INIT;
    struct str value = STR_INIT, err = STR_INIT;
    char name[64];
    uid_t mail_uid;
    gid_t mail_gid;
    int ok = 0;

    if (uid == 0 ||
        (proc_user(cfg_str(cfg_main, P_mail_owner), &mail_uid, &mail_gid) == 0 && mail_uid == uid))
        return 1;
    snprintf(name, sizeof(name), "%s", pw ? pw->pw_name : "");
    cfg_list(cfg_main, param, &l);
    for (size_t i = 0; i < l.n && !ok; i++) {
        if (strchr(l.v[i], ':') == NULL) {
            ok = *name && strcmp(l.v[i], name) == 0;
            continue;
        }
        struct map *m = map_open(l.v[i], &err);
        if (m == NULL) {
            log_warn("%s: %s", cfg_name(param), str_c(&err));
            str_reset(&err);
            continue;
        }
        int r = map_lookup(m, *name ? name : "-", &value);
        if (r == MAP_ERROR)
            log_warn("%s: %s: %s", cfg_name(param), l.v[i], map_error_text(m));
        ok = r == MAP_FOUND;
        map_close(m);
    }
    if (!ok)
        str_printf(why, "user %s(%ld) is not listed in %s", *name ? name : "unknown", (long)uid,
                   cfg_name(param));
    strlist_free(&l);
    str_free(&value);
    str_free(&err);
    return ok;
}
