/*
 * map_unix.c - the unix:passwd.byname table: local Unix accounts
 *
 * The key is a user name, the value the account's passwd(5) line. Used by
 * local_recipient_maps (smtpd rejects unknown local users at RCPT time, as
 * Postfix does). The lookup goes through NSS (getpwnam_r), so whatever the
 * system uses for accounts works; an NSS failure is a temporary error,
 * "no such user" is not found.
 */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "map_impl.h"
#include "mem.h"

int map_unix_open(struct map *m, struct str *err)
{
    if (strcmp(m->name, "passwd.byname") != 0) {
        str_printf(err, "unsupported unix table '%s' (use unix:passwd.byname)", m->name);
        return -1;
    }
    return 0;
}

int map_unix_lookup(struct map *m, const char *key, struct str *value)
{
    struct passwd pw, *res = NULL;
    long sz = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t bufsz = sz > 0 ? (size_t)sz : 16384;
    char *buf;
    int r;

    if (*key == '\0' || strchr(key, '/') != NULL)
        return MAP_NOTFOUND;
    for (;;) {
        buf = xmalloc(bufsz);
        r = getpwnam_r(key, &pw, buf, bufsz, &res);
        if (r != ERANGE || bufsz >= (1 << 20))
            break;
        free(buf);
        bufsz *= 4;
    }
    if (res != NULL) {
        str_reset(value);
        str_printf(value, "%s:x:%ld:%ld:%s:%s:%s", pw.pw_name, (long)pw.pw_uid, (long)pw.pw_gid,
                   pw.pw_gecos ? pw.pw_gecos : "", pw.pw_dir ? pw.pw_dir : "",
                   pw.pw_shell ? pw.pw_shell : "");
        free(buf);
        return MAP_FOUND;
    }
    free(buf);
    /* getpwnam_r(3): 0, ENOENT, ESRCH, EBADF or EPERM all mean "no such user" */
    if (r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM)
        return MAP_NOTFOUND;
    str_printf(&m->error, "getpwnam %s: %s", key, strerror(r));
    return MAP_ERROR;
}

void map_unix_close(struct map *m)
{
    (void)m;
}
