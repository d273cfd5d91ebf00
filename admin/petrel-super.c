/*
 * petrel-super.c - delete, hold, release and requeue messages; check the queue
 * (postsuper-like)
 *
 * petrel-super [-c config_dir] [-v] [-s] [-d ID|ALL|-] [-h ID|ALL|-] [-H
 * ID|ALL|-]
 *              [-r ID|ALL|-] [queue ...]
 *
 * For root and mail_owner only; root runs -s as root (it fixes owners, with
 * descriptors only: petrel-super_repair.c), then everything else as
 * mail_owner. Options may repeat; they run in the order
 * -s, -d, -h, -H, -r, as Postfix's postsuper does. "-" reads queue IDs
 * from standard input, one per line; ALL means every message of the
 * queues named (default: -d and -r every queue, -h incoming, active and
 * deferred, -H hold).
 *
 * Safe while the system runs (doc/internals.md, "Queue administration"):
 * a file in incoming/, deferred/ or hold/ is moved or removed here with
 * one rename(2) or unlink(2), which is atomic against qmgr taking it into
 * active/ (whoever is second gets ENOENT; we then look for the message
 * where it went). A file in active/ belongs to qmgr: it is asked over
 * private/qadmin (lib/global/qadmin.h) and applies the request once the
 * deliveries in progress are over. When qmgr does not run, petrel-super
 * takes qmgr's lock (private/qmgr.lock), so that none starts meanwhile,
 * and changes active/ itself. A message that moves between queues while
 * it is looked for is looked for again (QUEUE_ROUNDS times).
 *
 * Each change is logged (syslog or maillog_file) as "ID: removed",
 * "placed on hold", "released from hold", "requeued"; a summary goes to
 * standard error. Exit status: 0 success (a message not found is a
 * warning: it may have been delivered meanwhile); 1 an error; 2 usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "evloop.h"
#include "htab.h"
#include "log.h"
#include "mem.h"
#include "proc.h"
#include "qadmin.h"
#include "qdir.h"
#include "qfile.h"
#include "str.h"
#include "tool.h"
#include "trigger.h"

#include "petrel-super.h"

#define QUEUE_ROUNDS 4
#define QMGR_WAIT_MS 10000
#define QADMIN_TIMEOUT 30
#define STDIN_ID_MAX 100000 /* IDs read from standard input with "-" */

enum { OP_DELETE, OP_HOLD, OP_RELEASE, OP_REQUEUE, OP_COUNT };

/* queues, as bits */
#define Q_INCOMING 1
#define Q_ACTIVE 2
#define Q_DEFERRED 4
#define Q_HOLD 8
#define Q_ALL 15

static const char *const op_flag = "dhHr";
static const char *const op_qadmin[] = {"delete", "hold", "", "requeue"};
static const char *const op_done[] = {"Deleted", "Placed on hold", "Released from hold",
                                      "Requeued"};
static const unsigned op_default_queues[] = {Q_ALL, Q_INCOMING | Q_ACTIVE | Q_DEFERRED, Q_HOLD,
                                             Q_ALL};

static const char usage_text[] =
    "[-c config_dir] [-v] [-s] [-d ID|ALL|-] [-h ID|ALL|-] [-H ID|ALL|-] [-r ID|ALL|-] [queue ...]";

/* the state of coordination with qmgr */
static int offline; /* no qmgr: we hold its lock and may change active/ */
static int lock_fd = -1;
static uid_t mail_uid;
static gid_t mail_gid;
static int verbose;
static int trigger_new, trigger_wakeup;

static _Noreturn void help(void)
{
    printf("usage: petrel-super %s\n\n"
           "Change messages in the mail queue (root or mail_owner only).\n\n"
           "  -d ID   delete a message (ALL: every message; -: IDs from standard input)\n"
           "  -h ID   put a message on hold (qmgr leaves it alone)\n"
           "  -H ID   release a message from hold\n"
           "  -r ID   requeue a message: its recipients are rewritten and routed "
           "again\n"
           "  -s      check and repair queue file names, modes and misplaced "
           "files; remove\n"
           "          incomplete files older than $stale_queue_file_time\n"
           "  queue   limit ALL (and IDs) to these queues: incoming active deferred hold\n"
           "  -c dir  configuration directory (default %s, or $MAIL_CONFIG)\n"
           "  -v      report each message on standard error too\n"
           "  --help  this text\n\n"
           "Safe while the system runs: messages in the active queue are changed by qmgr\n"
           "once their deliveries in progress are over.\n"
           "Exit status: 0 success; 1 error; 2 usage.\n",
           usage_text, PETREL_CONFIG_DIR);
    exit(0);
}

/* note - one change: the mail log (and standard error with -v) */
static void note(const char *id, const char *what)
{
    log_info("%s: %s", id, what);
    if (verbose)
        fprintf(stderr, "petrel-super: %s: %s\n", id, what);
}

/* coordinate - find out whether qmgr runs; when not, hold its lock */
static void coordinate(void)
{
    struct str err = STR_INIT;
    int r = qadmin_lock(mail_uid, mail_gid, &lock_fd, &err);

    if (r < 0)
        tool_die("%s", err.s);
    offline = r == 1;
    str_free(&err);
}

/* ask_qmgr - a batch for messages in active/; results per ID; 0 ok */
static int ask_qmgr(int op, char **ids, size_t n, int *results)
{
    struct str err = STR_INIT;
    long long deadline = evloop_now_ms() + QMGR_WAIT_MS;

    for (;;) {
        str_reset(&err);
        int r = qadmin_request(op_qadmin[op], ids, n, results, QADMIN_TIMEOUT, &err);
        if (r == 0)
            break;
        if (r == -2)
            tool_die("%s", err.s);
        /* qmgr is starting, or just stopped: look again */
        coordinate();
        if (offline) {
            str_free(&err);
            return -1;
        }
        if (evloop_now_ms() > deadline)
            tool_die("qmgr holds the queue but does not answer: %s", err.s);
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    str_free(&err);
    return 0;
}

/* path_of - where message id would be in queue q */
static void path_of(unsigned q, const char *id, struct str *out)
{
    str_reset(out);
    switch (q) {
    case Q_INCOMING:
        str_printf(out, "incoming/%s", id);
        break;
    case Q_ACTIVE:
        str_printf(out, "active/%s", id);
        break;
    case Q_DEFERRED:
        str_printf(out, "deferred/%c/%s", qdir_hash(id), id);
        break;
    default:
        str_printf(out, "hold/%s", id);
        break;
    }
}

/* incomplete - a file still being written (mode 0600: smtpd or pickup at work)
 */
static int incomplete(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0 && (st.st_mode & 0777) != 0700;
}

/* remove_logs - defer/H/ID, and bounce/ID when asked */
static void remove_logs(const char *id, int bounce_too)
{
    struct str p = STR_INIT;

    str_printf(&p, "defer/%c/%s", qdir_hash(id), id);
    if (unlink(p.s) < 0 && errno != ENOENT)
        fprintf(stderr, "petrel-super: warning: remove %s: %s\n", p.s, strerror(errno));
    if (bounce_too) {
        str_reset(&p);
        str_printf(&p, "bounce/%s", id);
        if (unlink(p.s) < 0 && errno != ENOENT)
            fprintf(stderr, "petrel-super: warning: remove %s: %s\n", p.s, strerror(errno));
    }
    str_free(&p);
}

/* move - rename without replacing; 0 ok, -1 errno set */
static int move(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno == EINVAL)
        return rename(from, to);
    return -1;
}

#define R_DONE 0
#define R_NOTFOUND 1
#define R_ACTIVE 2 /* in active/ and qmgr runs: ask it */
#define R_SKIP 3   /* still being received, or nothing to do */

/* direct_one - op on the file of id in queue q; R_ */
static int direct_one(int op, unsigned q, const char *id)
{
    struct str path = STR_INIT, to = STR_INIT;
    int rc = R_NOTFOUND;

    path_of(q, id, &path);
    if (q == Q_ACTIVE && !offline) {
        rc = faccessat(AT_FDCWD, path.s, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ? R_ACTIVE : R_NOTFOUND;
        goto out;
    }
    if (q == Q_INCOMING && incomplete(path.s)) {
        if (op != OP_RELEASE)
            fprintf(stderr, "petrel-super: warning: %s: still being received; left alone\n", id);
        rc = R_SKIP;
        goto out;
    }
    switch (op) {
    case OP_DELETE:
        if (unlink(path.s) == 0) {
            remove_logs(id, 1);
            note(id, "removed");
            rc = R_DONE;
        }
        break;
    case OP_HOLD:
        if (q == Q_HOLD) {
            rc = faccessat(AT_FDCWD, path.s, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ? R_SKIP : R_NOTFOUND;
            break;
        }
        path_of(Q_HOLD, id, &to);
        if (move(path.s, to.s) == 0) {
            note(id, "placed on hold");
            rc = R_DONE;
        }
        break;
    case OP_RELEASE:
        path_of(Q_DEFERRED, id, &to);
        /* due now: the retry time of a deferred message is its mtime */
        if (utimes(path.s, NULL) == 0 && move(path.s, to.s) == 0) {
            note(id, "released from hold");
            trigger_wakeup = 1;
            rc = R_DONE;
        }
        break;
    case OP_REQUEUE: {
        struct stat st;
        str_printf(&to, "bounce/%s", id);
        int bounce_log = stat(to.s, &st) == 0;
        if (q == Q_INCOMING) {
            rc = faccessat(AT_FDCWD, path.s, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ? R_SKIP : R_NOTFOUND;
            break;
        }
        path_of(bounce_log ? Q_DEFERRED : Q_INCOMING, id, &to);
        if (faccessat(AT_FDCWD, path.s, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
            break;
        remove_logs(id, 0);
        if ((!bounce_log || utimes(path.s, NULL) == 0) && move(path.s, to.s) == 0) {
            note(id, "requeued");
            trigger_new = trigger_wakeup = 1;
            rc = R_DONE;
        }
        break;
    }
    }
    if (rc == R_NOTFOUND && errno != ENOENT && errno != 0)
        fprintf(stderr, "petrel-super: warning: %s: %s\n", path.s, strerror(errno));
out:
    str_free(&path);
    str_free(&to);
    return rc;
}

/* try_direct - look for id in the queues of qmask, in the order a message moves
 */
static int try_direct(int op, unsigned qmask, const char *id)
{
    static const unsigned order[] = {Q_INCOMING, Q_DEFERRED, Q_HOLD, Q_ACTIVE};

    for (int i = 0; i < 4; i++) {
        if (!(qmask & order[i]))
            continue;
        errno = 0;
        int r = direct_one(op, order[i], id);
        if (r != R_NOTFOUND)
            return r;
    }
    return R_NOTFOUND;
}

/* run_op - op on every ID; the number of messages changed (or handed to qmgr)
 */
static long run_op(int op, unsigned qmask, struct strlist *ids, int explicit)
{
    struct strlist todo = STRLIST_INIT, again = STRLIST_INIT, active = STRLIST_INIT;
    long done = 0;

    for (size_t i = 0; i < ids->n; i++)
        strlist_add(&todo, ids->v[i]);
    for (int round = 0; round < QUEUE_ROUNDS && todo.n; round++) {
        if (round) {
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
        for (size_t i = 0; i < todo.n; i++) {
            int r = try_direct(op, qmask, todo.v[i]);
            if (r == R_DONE)
                done++;
            else if (r == R_ACTIVE)
                strlist_add(&active, todo.v[i]);
            else if (r == R_NOTFOUND)
                strlist_add(&again, todo.v[i]);
        }
        for (size_t i = 0; i < active.n; i += QADMIN_BATCH_MAX) {
            size_t n = active.n - i < QADMIN_BATCH_MAX ? active.n - i : QADMIN_BATCH_MAX;
            int *res = xcalloc(n, sizeof(int));
            if (ask_qmgr(op, active.v + i, n, res) < 0) {
                /* qmgr went away: we hold its lock now and do it ourselves next round
                 */
                for (size_t k = 0; k < n; k++)
                    strlist_add(&again, active.v[i + k]);
            } else {
                for (size_t k = 0; k < n; k++) {
                    if (res[k] == QADMIN_OK) {
                        done++;
                        if (verbose)
                            fprintf(stderr,
                                    "petrel-super: %s: %s by qmgr when its deliveries in progress "
                                    "are over\n",
                                    active.v[i + k],
                                    op == OP_DELETE ? "removed"
                                    : op == OP_HOLD ? "held"
                                                    : "requeued");
                    } else {
                        strlist_add(&again, active.v[i + k]);
                    }
                }
            }
            free(res);
        }
        strlist_free(&todo);
        todo = again;
        strlist_init(&again);
        strlist_free(&active);
    }
    if (explicit)
        for (size_t i = 0; i < todo.n; i++)
            fprintf(stderr, "petrel-super: warning: %s: no such message%s\n", todo.v[i],
                    qmask == Q_ALL ? "" : " in the queues named");
    strlist_free(&todo);
    return done;
}

/* list_queue - the IDs of queue q appended to out (no duplicates) */
static void list_queue(unsigned q, struct strlist *out, struct htab *seen)
{
    const char *names[] = {NULL, "incoming", "active", NULL, "deferred", NULL, NULL, NULL, "hold"};
    struct str dir = STR_INIT;

    for (int h = 0; h < (q == Q_DEFERRED ? 16 : 1); h++) {
        DIR *d;
        struct dirent *de;
        str_reset(&dir);
        if (q == Q_DEFERRED)
            str_printf(&dir, "deferred/%x", h);
        else
            str_cat(&dir, names[q]);
        if ((d = opendir(dir.s)) == NULL) {
            if (errno != ENOENT)
                tool_die("open %s: %s", dir.s, strerror(errno));
            continue;
        }
        while ((de = readdir(d)) != NULL)
            if (qfile_valid_id(de->d_name) && !htab_get(seen, de->d_name)) {
                htab_put(seen, de->d_name, seen);
                strlist_add(out, de->d_name);
            }
        closedir(d);
    }
    str_free(&dir);
}

/* read_ids - "-": queue IDs from standard input, one per line */
static void read_ids(struct strlist *out)
{
    char line[256];

    while (fgets(line, sizeof(line), stdin)) {
        char *id = trim(line);
        if (*id == '\0')
            continue;
        if (!qfile_valid_id(id))
            tool_die("invalid queue ID on standard input: \"%.64s\"", id);
        if (out->n >= STDIN_ID_MAX)
            tool_die("more than %d queue IDs on standard input", STDIN_ID_MAX);
        strlist_add(out, id);
    }
}

/* setup_logging - per-message lines go to the mail log only */
static void setup_logging(void)
{
    const char *file = cfg_str(cfg_main, P_maillog_file);

    log_set_syslog_name(cfg_str(cfg_main, P_syslog_name));
    if (*file && log_set_file(file) == 0)
        log_set_dests(LOG_DEST_FILE);
    else
        log_set_dests(LOG_DEST_SYSLOG);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'H' + 256},
                                             {NULL, 0, NULL, 0}};
    struct strlist args[OP_COUNT];
    const char *copt = NULL;
    unsigned qmask = 0;
    struct strlist stdin_ids = STRLIST_INIT;
    int c, repair = 0, any = 0, problems = 0, stdin_used = 0;

    for (int i = 0; i < OP_COUNT; i++)
        strlist_init(&args[i]);
    tool_init("petrel-super");
    while ((c = getopt_long(argc, argv, "c:d:h:H:r:sv", longopts, NULL)) != -1) {
        const char *f = c > 0 && c < 256 ? strchr(op_flag, c) : NULL;
        if (f) {
            strlist_add(&args[f - op_flag], optarg);
            any = 1;
            continue;
        }
        switch (c) {
        case 'c':
            copt = optarg;
            break;
        case 's':
            repair = 1;
            break;
        case 'v':
            verbose++;
            break;
        case 'H' + 256:
            help();
        default:
            tool_usage(usage_text);
        }
    }
    for (int i = optind; i < argc; i++) {
        static const char *const qn[] = {"incoming", "active", "deferred", "hold"};
        int k = 0;
        while (k < 4 && strcmp(argv[i], qn[k]) != 0)
            k++;
        if (k == 4)
            tool_usage(usage_text);
        qmask |= 1u << k;
    }
    if (!any && !repair)
        tool_usage(usage_text);
    /* every argument is checked before anything changes; "-" reads standard input
     * once */
    for (int op = 0; op < OP_COUNT; op++)
        for (size_t i = 0; i < args[op].n; i++) {
            const char *a = args[op].v[i];
            if (strcmp(a, "-") == 0) {
                if (stdin_used++)
                    tool_die("\"-\" (queue IDs from standard input) may be given only once");
                read_ids(&stdin_ids);
            } else if (strcmp(a, "ALL") != 0 && !qfile_valid_id(a)) {
                tool_die("invalid queue ID: \"%.64s\"", a);
            }
        }
    tool_load(tool_confdir(copt), 0, 0);
    if (proc_user(cfg_str(cfg_main, P_mail_owner), &mail_uid, &mail_gid) < 0 && geteuid() == 0)
        tool_die("mail_owner %s: no such user", cfg_str(cfg_main, P_mail_owner));
    if (!tool_is_admin())
        tool_die("permission denied: run petrel-super as root or as mail_owner (%s)",
                 cfg_str(cfg_main, P_mail_owner));
    if (chdir(cfg_str(cfg_main, P_queue_directory)) < 0)
        tool_die("chdir %s: %s", cfg_str(cfg_main, P_queue_directory), strerror(errno));
    setup_logging();
    umask(077);
    coordinate();
    if (repair)
        problems = super_repair(!offline, mail_uid, mail_gid, verbose);
    /* the rest renames and removes mail_owner's files in mail_owner's directories: done
     * as mail_owner, so that no path it could swap is ever followed by root (the lock,
     * the log file and the config are open already) */
    if (geteuid() == 0 && any)
        proc_drop_privs(cfg_str(cfg_main, P_mail_owner), mail_uid, mail_gid);
    for (int op = 0; op < OP_COUNT; op++) {
        struct strlist ids = STRLIST_INIT;
        struct htab *seen = htab_create(64);
        unsigned mask = qmask ? qmask : op_default_queues[op];
        int explicit = 0;
        if (op == OP_RELEASE)
            mask &= Q_HOLD; /* only held messages are released */
        for (size_t i = 0; i < args[op].n; i++) {
            const char *a = args[op].v[i];
            if (strcmp(a, "ALL") == 0) {
                for (unsigned q = 1; q <= Q_HOLD; q <<= 1)
                    if (mask & q)
                        list_queue(q, &ids, seen);
            } else if (strcmp(a, "-") == 0) {
                for (size_t k = 0; k < stdin_ids.n; k++)
                    strlist_add(&ids, stdin_ids.v[k]);
                explicit = 1;
            } else {
                strlist_add(&ids, a);
                explicit = 1;
            }
        }
        if (args[op].n) {
            long n = run_op(op, mask, &ids, explicit);
            if (n > 0)
                fprintf(stderr, "petrel-super: %s: %ld message%s\n", op_done[op], n,
                        n == 1 ? "" : "s");
        }
        strlist_free(&ids);
        htab_free(seen, NULL);
        strlist_free(&args[op]);
    }
    if (!offline && (trigger_new || trigger_wakeup)) {
        struct str err = STR_INIT;
        trigger_send("public/qmgr", trigger_new ? "AW" : "W", 5, &err);
        str_free(&err);
    }
    strlist_free(&stdin_ids);
    if (lock_fd >= 0)
        close(lock_fd);
    return problems ? 1 : 0;
}
