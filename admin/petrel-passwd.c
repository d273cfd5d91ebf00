/*
 * petrel-passwd.c - manage mailbox users and their password hashes
 *
 * petrel-passwd [-c dir] [-t type:file] add user@domain
 * petrel-passwd [-c dir] [-t type:file] passwd user@domain
 * petrel-passwd [-c dir] [-t type:file] del user@domain
 * petrel-passwd [-c dir] [-t type:file] list
 *
 * The table is the first hash: or btree: table of mailbox_passwd_maps (or
 * -t): a text file of "user@domain hash" lines plus its .db, which SMTP
 * AUTH, POP3 and IMAP read through lib/global/auth.h. Hashes are yescrypt
 * (auth_hash). The password comes from the terminal (asked twice, not
 * echoed) or, when stdin is not a terminal, from the first line of stdin.
 *
 * Every change is atomic and serialised: under a lock file, the new text
 * is written to a temporary file, fsync'ed and renamed into place, then
 * the .db is rebuilt the same way (map_db_build), so a daemon sees either
 * the old or the new table, never half of one. The text file keeps its
 * owner and mode (comments and order are kept too); a new one is created
 * mode 0640, owner root, group the mail store's (virtual_gid_maps, when it
 * is static: popd and imapd run with that group) or else mail_owner's, so
 * that nobody else can read it; smtpd reads it when mail_owner is a member
 * of that group (usermod -aG). The .db gets the text file's owner and mode.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "addr.h"
#include "auth.h"
#include "cfg.h"
#include "fileio.h"
#include "linereader.h"
#include "map.h"
#include "mstore.h"
#include "mem.h"
#include "proc.h"
#include "str.h"
#include "tool.h"

#define PASSWORD_MAX 1024
#define USER_MAX 320

static const char usage_text[] = "[-c config_dir] [-t type:file] add|passwd|del user@domain\n"
                                 "       petrel-passwd [-c config_dir] [-t type:file] list";

/* help - the --help text */
static _Noreturn void help(void)
{
    printf("usage: petrel-passwd %s\n\n"
           "Manage the mailbox users of mailbox_passwd_maps (SMTP AUTH, POP3, IMAP).\n\n"
           "  add user@domain     create a user (password asked twice, or read from stdin)\n"
           "  passwd user@domain  change a user's password\n"
           "  del user@domain     remove a user\n"
           "  list                print the users, one per line\n\n"
           "  -c dir        configuration directory (default %s, or $MAIL_CONFIG)\n"
           "  -t type:file  the table to edit (default: the first hash: or btree: table of\n"
           "                mailbox_passwd_maps)\n"
           "  --help        this text\n\n"
           "The text file and its .db are replaced atomically. Exit status 0 on success,\n"
           "1 on error, 2 on a usage error.\n",
           usage_text, PETREL_CONFIG_DIR);
    exit(0);
}

/* read_text - a whole file; 0 ok, -1 missing (ENOENT), fatal otherwise */
static int read_text(const char *path, struct str *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        if (errno == ENOENT)
            return -1;
        tool_die("open %s: %s", path, strerror(errno));
    }
    if (fileio_read_fd(fd, SIZE_MAX, out) < 0)
        tool_die("read %s: %s", path, strerror(errno));
    close(fd);
    return 0;
}

/* find_table - the type and file to edit */
static void find_table(const char *opt, char **type, char **file)
{
    struct strlist l = STRLIST_INIT;
    const char *spec = opt;

    if (spec == NULL) {
        cfg_list(cfg_main, P_mailbox_passwd_maps, &l);
        for (size_t i = 0; i < l.n && spec == NULL; i++) {
            const char *colon = strchr(l.v[i], ':');
            if (colon && (strncmp(l.v[i], "hash:", 5) == 0 || strncmp(l.v[i], "btree:", 6) == 0))
                spec = l.v[i];
        }
        if (spec == NULL)
            tool_die("mailbox_passwd_maps has no hash: or btree: table to edit (use -t)");
    }
    const char *colon = strchr(spec, ':');
    if (colon == NULL || colon[1] != '/')
        tool_die("bad table '%s': expected hash:/path or btree:/path", spec);
    *type = xstrndup(spec, (size_t)(colon - spec));
    *file = xstrdup(colon + 1);
    if (!map_type_is_db(*type))
        tool_die("table type %s cannot be edited (use hash or btree)", *type);
    strlist_free(&l);
}

/* valid_user - "local@domain" without white space, control characters or ':' */
static void valid_user(char *user)
{
    const char *at = addr_domain_at(user);

    if (strlen(user) > USER_MAX || at == NULL || at == user || at[1] == '\0' || user[0] == '#' ||
        !addr_internal_ok(user))
        tool_die("bad user name '%s': expected user@domain", user);
    for (char *p = user; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 127 || *p == ':')
            tool_die("bad user name '%s': no white space, control characters or ':'", user);
        *p = (char)tolower((unsigned char)*p);
    }
}

/* read_line - one line from fd without its newline; -1 at EOF with nothing read */
static int read_line(int fd, struct str *out)
{
    char c;
    ssize_t n;

    str_reset(out);
    while ((n = read(fd, &c, 1)) == 1 && c != '\n') {
        if (out->len >= PASSWORD_MAX)
            tool_die("password too long (more than %d bytes)", PASSWORD_MAX);
        str_catc(out, c);
    }
    if (out->len && out->s[out->len - 1] == '\r')
        str_truncate(out, out->len - 1);
    return n <= 0 && out->len == 0 ? -1 : 0;
}

/* prompt - read a password from the terminal without echo */
static void prompt(const char *text, struct str *out)
{
    struct termios old, quiet;

    fputs(text, stderr);
    fflush(stderr);
    if (tcgetattr(0, &old) < 0)
        tool_die("tcgetattr: %s", strerror(errno));
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(0, TCSAFLUSH, &quiet);
    int r = read_line(0, out);
    tcsetattr(0, TCSAFLUSH, &old);
    fputc('\n', stderr);
    if (r < 0)
        tool_die("no password given");
}

/* get_password - twice from a terminal, else the first line of stdin */
static void get_password(struct str *pw)
{
    struct str again = STR_INIT;

    if (isatty(0)) {
        prompt("New password: ", pw);
        prompt("Retype new password: ", &again);
        if (pw->len != again.len || memcmp(str_c(pw), str_c(&again), pw->len) != 0)
            tool_die("the passwords do not match");
        explicit_bzero(again.s ? again.s : (char *)"", again.len);
        str_free(&again);
    } else if (read_line(0, pw) < 0) {
        tool_die("no password on standard input");
    }
    if (pw->len == 0)
        tool_die("empty password refused");
    if (memchr(pw->s, '\0', pw->len))
        tool_die("a password must not contain NUL bytes");
}

/* line_key - the key of a logical line start (NULL for comments, blank and continuation lines) */
static char *line_key(const char *line, size_t n)
{
    size_t k;

    if (linereader_kind(line, n) != LINEREADER_START)
        return NULL;
    k = strcspn(line, " \t\n");
    if (k > n)
        k = n;
    return lowercase(xstrndup(line, k));
}

/* edit - copy text to out, dropping the entry for user (with its continuation lines) and
 * appending user's new entry when hash is not NULL; returns whether user was present */
static int edit(const char *text, const char *user, const char *hash, struct str *out)
{
    int found = 0, skipping = 0;

    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *key = line_key(p, n);
        int kind = linereader_kind(p, n);
        if (key)
            skipping = strcmp(key, user) == 0;
        /* comment and blank lines inside an entry do not end it (map_parse_text reads past
         * them) and are kept; its continuation lines go with it */
        if (skipping && kind != LINEREADER_IGNORED) {
            if (key && !found && hash)
                str_printf(out, "%s %s\n", user, hash); /* keep the user's place in the file */
            found = 1;
        } else {
            str_catn(out, p, n);
            str_catc(out, '\n');
        }
        free(key);
        p += n + (nl ? 1 : 0);
    }
    if (!found && hash)
        str_printf(out, "%s %s\n", user, hash);
    return found;
}

/* list_users - print the keys */
static void list_users(const char *text)
{
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *key = line_key(p, n);
        if (key)
            printf("%s\n", key);
        free(key);
        p += n + (nl ? 1 : 0);
    }
}

/* new_file_group - the group of a new password file (see the file comment) */
static gid_t new_file_group(void)
{
    struct str err = STR_INIT;
    uid_t uid = 0, vuid;
    gid_t gid = 0, vgid;

    if (mstore_vmail_ids(&vuid, &vgid, &err) == 0)
        gid = vgid;
    else if (proc_user(cfg_str(cfg_main, P_mail_owner), &uid, &gid) < 0)
        gid = getegid();
    str_free(&err);
    return gid;
}

/* install_text - write text to a temporary file like the old one (or 0640, root and
 * the readers' group), fsync, rename over path */
static void install_text(const char *path, const struct str *text)
{
    char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    struct stat st;
    int have_old = stat(path, &st) == 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    size_t off = 0;

    if (fd < 0)
        tool_die("create %s: %s", tmp, strerror(errno));
    while (off < text->len) {
        ssize_t n = write(fd, text->s + off, text->len - off);
        if (n < 0) {
            unlink(tmp);
            tool_die("write %s: %s", tmp, strerror(errno));
        }
        off += (size_t)n;
    }
    if (have_old) {
        if ((geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) < 0) ||
            fchmod(fd, st.st_mode & 07777) < 0) {
            unlink(tmp);
            tool_die("set owner/mode of %s: %s", tmp, strerror(errno));
        }
    } else {
        if (geteuid() == 0 && fchown(fd, geteuid(), new_file_group()) < 0) {
            unlink(tmp);
            tool_die("chown %s: %s", tmp, strerror(errno));
        }
        fchmod(fd, 0640);
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        unlink(tmp);
        tool_die("fsync %s: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) < 0) {
        unlink(tmp);
        tool_die("rename %s to %s: %s", tmp, path, strerror(errno));
    }
    char *dircopy = xstrdup(path);
    fileio_fsync_dir(dirname(dircopy));
    free(dircopy);
    free(tmp);
}

/* parse_or_die - parse the new text for the .db; any error stops before anything changes */
static void parse_or_die(const char *path, const struct str *text, struct map_entries *es)
{
    struct strlist warnings = STRLIST_INIT;
    int errors = 0;

    map_parse_text(str_c(text), path, MAP_TEXT_POSTMAP, 1, es, &warnings, &errors);
    for (size_t i = 0; i < warnings.n; i++)
        fprintf(stderr, "petrel-passwd: %s\n", warnings.v[i]);
    strlist_free(&warnings);
    if (errors)
        tool_die("%s: %d error(s); nothing changed", path, errors);
}

int main(int argc, char **argv)
{
    const char *confdir = NULL, *table = NULL, *cmd, *user_arg = NULL;
    char *type, *file, *lockpath, *dbpath, *user = NULL;
    struct str text = STR_INIT, out = STR_INIT, pw = STR_INIT, hash = STR_INIT, err = STR_INIT;
    struct map_entries es = {NULL, 0, 0};
    int c, lockfd, found;

    tool_init("petrel-passwd");
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0)
            help();
    while ((c = getopt(argc, argv, "c:t:")) != -1) {
        switch (c) {
        case 'c':
            confdir = optarg;
            break;
        case 't':
            table = optarg;
            break;
        default:
            tool_usage(usage_text);
        }
    }
    if (optind >= argc)
        tool_usage(usage_text);
    cmd = argv[optind];
    if (strcmp(cmd, "list") == 0) {
        if (argc - optind != 1)
            tool_usage(usage_text);
    } else if (strcmp(cmd, "add") == 0 || strcmp(cmd, "passwd") == 0 || strcmp(cmd, "del") == 0) {
        if (argc - optind != 2)
            tool_usage(usage_text);
        user_arg = argv[optind + 1];
    } else {
        tool_usage(usage_text);
    }
    tool_load(tool_confdir(confdir), 1, 0);
    find_table(table, &type, &file);
    if (user_arg) {
        user = xstrdup(user_arg);
        valid_user(user);
    }
    lockpath = xasprintf("%s.lock", file);
    dbpath = xasprintf("%s.db", file);
    if (strcmp(cmd, "list") == 0) {
        if (read_text(file, &text) < 0)
            tool_die("%s: no such file", file);
        list_users(str_c(&text));
        lockfd = -1;
        goto done;
    }
    if ((lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
        tool_die("open %s: %s", lockpath, strerror(errno));
    if (flock(lockfd, LOCK_EX) < 0)
        tool_die("lock %s: %s", lockpath, strerror(errno));
    if (read_text(file, &text) < 0 && strcmp(cmd, "add") != 0)
        tool_die("%s: no such file", file);
    if (strcmp(cmd, "del") == 0) {
        found = edit(str_c(&text), user, NULL, &out);
        if (!found)
            tool_die("%s: no such user", user);
    } else {
        struct str probe = STR_INIT;
        found = edit(str_c(&text), user, NULL, &probe);
        str_free(&probe);
        if (found && strcmp(cmd, "add") == 0)
            tool_die("%s already exists (use petrel-passwd passwd to change its password)", user);
        if (!found && strcmp(cmd, "passwd") == 0)
            tool_die("%s: no such user (use petrel-passwd add)", user);
        get_password(&pw);
        if (auth_hash(pw.s, &hash, &err) < 0)
            tool_die("cannot hash the password: %s", str_c(&err));
        explicit_bzero(pw.s, pw.len);
        edit(str_c(&text), user, hash.s, &out);
    }
    parse_or_die(file, &out, &es);
    install_text(file, &out);
    if (map_db_build(type, dbpath, &es, file, &err) < 0)
        tool_die("%s: %s", dbpath, str_c(&err));
    printf("petrel-passwd: %s %s\n",
           strcmp(cmd, "add") == 0   ? "added"
           : strcmp(cmd, "del") == 0 ? "removed"
                                     : "changed",
           user);
done:
    map_entries_free(&es);
    if (lockfd >= 0)
        close(lockfd);
    str_free(&text);
    str_free(&out);
    str_free(&pw);
    str_free(&hash);
    str_free(&err);
    free(type);
    free(file);
    free(lockpath);
    free(dbpath);
    free(user);
    return 0;
}
