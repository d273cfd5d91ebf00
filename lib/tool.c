/*
 * tool.c - shared start-up of the administrative commands
 */
#include <errno.h>
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

/* root_owned_safe - path is owned by root and not writable by group or others */
static int root_owned_safe(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && st.st_uid == 0 && (st.st_mode & 022) == 0;
}

int tool_confdir_trusted(const char *confdir, struct str *why)
{
    struct strlist alt = STRLIST_INIT;
    struct cfg_diag diag;
    struct cfg *def;
    int ok = 0;

    if (getuid() == 0 || getegid() == getgid() || strcmp(confdir, PETREL_CONFIG_DIR) == 0)
        return 1;
    def = cfg_new(PETREL_CONFIG_DIR);
    cfg_diag_init(&diag);
    if (cfg_load(def, &diag) == 0 && cfg_check(def, &diag) == 0) {
        cfg_list(def, "alternate_config_directories", &alt);
        ok = strlist_find(&alt, confdir, 0) >= 0;
    }
    cfg_diag_free(&diag);
    cfg_free(def);
    strlist_free(&alt);
    if (!ok) {
        char *main_cf = xasprintf("%s/main.cf", confdir);
        ok = root_owned_safe(confdir) && root_owned_safe(main_cf);
        free(main_cf);
    }
    if (!ok)
        str_printf(why, "configuration directory %s is not trusted: it is not listed in "
                   "alternate_config_directories of %s/main.cf, and it or its main.cf is not "
                   "owned by root or is writable by group or others", confdir,
                   PETREL_CONFIG_DIR);
    return ok;
}

int tool_is_admin(void)
{
    uid_t uid;
    gid_t gid;

    if (getuid() == 0)
        return 1;
    return proc_user(cfg_str(cfg_main, "mail_owner"), &uid, &gid) == 0 && uid == getuid();
}

int tool_user_allowed(const char *param, uid_t uid, struct str *why)
{
    struct passwd *pw = getpwuid(uid);
    struct strlist l = STRLIST_INIT;
    struct str value = STR_INIT, err = STR_INIT;
    char name[64];
    uid_t mail_uid;
    gid_t mail_gid;
    int ok = 0;

    if (uid == 0 || (proc_user(cfg_str(cfg_main, "mail_owner"), &mail_uid, &mail_gid) == 0 &&
                     mail_uid == uid))
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
            log_warn("%s: %s", param, str_c(&err));
            str_reset(&err);
            continue;
        }
        int r = map_lookup(m, *name ? name : "-", &value);
        if (r == MAP_ERROR)
            log_warn("%s: %s: %s", param, l.v[i], map_error_text(m));
        ok = r == MAP_FOUND;
        map_close(m);
    }
    if (!ok)
        str_printf(why, "user %s(%ld) is not listed in %s", *name ? name : "unknown", (long)uid,
                   param);
    strlist_free(&l);
    str_free(&value);
    str_free(&err);
    return ok;
}
