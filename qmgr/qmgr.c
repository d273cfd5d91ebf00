/*
 * qmgr.c - the queue manager: start-up, triggers and queue scans
 *
 * One long-running event-loop process (master.cf: qmgr unix n - n 300 1
 * qmgr). It owns the queue: on start it takes up every file left in
 * active/ (crash recovery is a scan), then feeds the active queue from
 * incoming/ (trigger 'A' from smtpd, pickup and local) and from deferred/
 * (files whose mtime, the retry time, has come; every $queue_run_delay,
 * on master's wakeup 'W', and at once for a flush 'F', which also forgets
 * dead destinations). Both scans run in slices from the event loop,
 * alternating so that neither starves the other, and pause while the
 * active queue is at $qmgr_message_active_limit or
 * $qmgr_message_recipient_limit. A lost trigger only delays mail until
 * the next scan. At start, incomplete files in incoming/ whose writer died
 * are removed (qfile_remove_abandoned).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "mem.h"
#include "server.h"
#include "trigger.h"

#include "qmgr.h"

#define SCAN_SLICE 256       /* files looked at per event-loop turn and queue */
#define QMGR_DRAIN_MS 5000   /* at exit, wait this long for deliveries in progress */
#define RECOVER_RETRY_MS 500 /* a file in active/ locked by a busy agent is tried again */

struct evloop *qmgr_ev;
size_t qmgr_active_count, qmgr_active_rcpts;

struct scanner {
    const char *name;
    int hashed; /* deferred/: subdirectories 0..f */
    DIR *dir;
    int sub;           /* current subdirectory (hashed) */
    int busy;          /* a pass is in progress */
    int again;         /* another pass is wanted */
    int flush;         /* this pass takes every file, due or not */
    long files, taken; /* of this pass */
    long long start_ms;
};

static struct scanner incoming = {"incoming", 0, NULL, 0, 0, 0, 0, 0, 0, 0};
static struct scanner deferred = {"deferred", 1, NULL, 0, 0, 0, 0, 0, 0, 0};
static struct trigger_server *tsrv;
static unsigned long scan_timer, periodic_timer, recover_timer;
static struct strlist recover_later; /* files in active/ that a delivery agent holds */
static int flush_wanted, paused;

static void kick(void);

/* can_activate - room in the active queue */
static int can_activate(void)
{
    if (qmgr_active_count == 0)
        return 1;
    return qmgr_active_count < (size_t)cfg_int(cfg_main, P_qmgr_message_active_limit) &&
           qmgr_active_rcpts < (size_t)cfg_int(cfg_main, P_qmgr_message_recipient_limit);
}

/* scan_open - open the scanner's current directory; 0 when the pass is over */
static int scan_open(struct scanner *s)
{
    char path[64];

    while (s->dir == NULL) {
        if (s->hashed && s->sub >= 16)
            return 0;
        if (s->hashed)
            snprintf(path, sizeof(path), "%s/%x", s->name, s->sub);
        else
            snprintf(path, sizeof(path), "%s", s->name);
        s->dir = opendir(path);
        if (s->dir == NULL) {
            log_warn("open %s: %s", path, strerror(errno));
            if (!s->hashed)
                return 0;
            s->sub++;
        }
    }
    return 1;
}

/* scan_slice - look at up to n files; 1 when the pass is over */
static int scan_slice(struct scanner *s, int n)
{
    time_t now = time(NULL);
    char path[512];
    struct dirent *de;

    while (n > 0) {
        if (!can_activate()) {
            paused = 1;
            return 0;
        }
        if (!scan_open(s))
            return 1;
        de = readdir(s->dir);
        if (de == NULL) {
            closedir(s->dir);
            s->dir = NULL;
            if (!s->hashed)
                return 1;
            s->sub++;
            continue;
        }
        if (!qfile_valid_id(de->d_name))
            continue;
        n--;
        s->files++;
        if (s->hashed) {
            struct stat st;
            snprintf(path, sizeof(path), "%s/%x/%s", s->name, s->sub, de->d_name);
            if (fstatat(dirfd(s->dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                (!s->flush && st.st_mtime > now))
                continue;
            s->taken += qmgr_activate(path, de->d_name, QM_FROM_DEFERRED) > 0;
        } else {
            struct stat st;
            /* a file still being written (mode 0600) is not even opened */
            if (fstatat(dirfd(s->dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                (st.st_mode & 0777) != 0700)
                continue;
            snprintf(path, sizeof(path), "%s/%s", s->name, de->d_name);
            s->taken += qmgr_activate(path, de->d_name, QM_FROM_INCOMING) > 0;
        }
    }
    return 0;
}

/* scan_step - one slice of a scanner, starting a pass when one is wanted; whether
 * there is more to do */
static int scan_step(struct scanner *s)
{
    if (!s->busy) {
        if (!s->again)
            return 0;
        s->again = 0;
        s->busy = 1;
        s->sub = 0;
        s->files = s->taken = 0;
        s->start_ms = evloop_now_ms();
        if (s == &deferred) {
            s->flush = flush_wanted;
            flush_wanted = 0;
        }
    }
    if (scan_slice(s, SCAN_SLICE)) {
        s->busy = 0;
        if (s->hashed || log_verbose() > 1)
            log_debug("%s queue scan: %ld files, %ld taken, %.3fs", s->name, s->files, s->taken,
                      (double)(evloop_now_ms() - s->start_ms) / 1000);
        return s->again;
    }
    return 1;
}

/* on_scan - run the scanners from the event loop */
static void on_scan(void *ctx)
{
    int more;

    (void)ctx;
    scan_timer = 0;
    paused = 0;
    more = scan_step(&incoming);
    more |= scan_step(&deferred);
    if (more && !paused)
        kick();
}

/* kick - run the scanners soon from the event loop */
static void kick(void)
{
    if (scan_timer == 0 && !server_stopping())
        scan_timer = evloop_timer(qmgr_ev, 0, on_scan, NULL);
}

void qmgr_kick_incoming(void)
{
    incoming.again = 1;
    kick();
}

void qmgr_message_gone(void)
{
    if (paused && can_activate()) {
        paused = 0;
        kick();
    }
}

/* on_periodic - the deferred queue scan every $queue_run_delay */
static void on_periodic(void *ctx)
{
    (void)ctx;
    periodic_timer =
        evloop_timer(qmgr_ev, cfg_time(cfg_main, P_queue_run_delay) * 1000, on_periodic, NULL);
    deferred.again = 1;
    incoming.again = 1;
    kick();
}

/* on_trigger - one request byte on public/qmgr */
static void on_trigger(int byte, void *ctx)
{
    (void)ctx;
    switch (byte) {
    case TRIGGER_NEW_MAIL:
        incoming.again = 1;
        break;
    case TRIGGER_FLUSH:
        flush_wanted = 1;
        qmgr_sched_revive();
        deferred.again = 1;
        incoming.again = 1;
        break;
    case TRIGGER_WAKEUP:
        deferred.again = 1;
        incoming.again = 1;
        break;
    default:
        return; /* unknown requests are ignored, as in Postfix */
    }
    kick();
}

/* recover_some - take up the files of active/ in names; those that a delivery agent of the
 * earlier qmgr still holds (lib/global/deliver.h) stay in recover_later, tried again soon */
static void recover_some(struct strlist *names)
{
    struct strlist busy = STRLIST_INIT;

    for (size_t i = 0; i < names->n; i++) {
        char *path = xasprintf("active/%s", names->v[i]);
        if (qmgr_activate(path, names->v[i], QM_FROM_ACTIVE) == 0)
            strlist_add(&busy, names->v[i]);
        free(path);
    }
    strlist_free(&recover_later);
    recover_later = busy;
}

/* on_recover_retry - the files of active/ that were busy at the start */
static void on_recover_retry(void *ctx)
{
    struct strlist names = recover_later;

    (void)ctx;
    recover_timer = 0;
    strlist_init(&recover_later);
    recover_some(&names);
    strlist_free(&names);
    if (recover_later.n && !server_stopping())
        recover_timer = evloop_timer(qmgr_ev, RECOVER_RETRY_MS, on_recover_retry, NULL);
}

/* recover - take up everything left in active/ by an earlier qmgr */
static void recover(void)
{
    DIR *d = opendir("active");
    struct dirent *de;
    struct strlist names = STRLIST_INIT;

    if (d == NULL)
        log_fatal("open active/: %s", strerror(errno));
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, ".rw.", 4) == 0) { /* an interrupted rewrite */
            if (unlinkat(dirfd(d), de->d_name, 0) < 0)
                log_warn("remove active/%s: %s", de->d_name, strerror(errno));
        } else if (qfile_valid_id(de->d_name)) {
            strlist_add(&names, de->d_name);
        }
    }
    closedir(d);
    if (names.n)
        log_info("recovering %zu message(s) from the active queue", names.n);
    recover_some(&names);
    strlist_free(&names);
    for (size_t i = 0; i < recover_later.n; i++)
        log_info("%s: a delivery agent is still at work on it; taken up later", recover_later.v[i]);
    if (recover_later.n)
        recover_timer = evloop_timer(qmgr_ev, RECOVER_RETRY_MS, on_recover_retry, NULL);
}

/* sweep_incoming - remove the incomplete files of writers that died (an smtpd or pickup
 * killed before its commit, so never acknowledged): at start, not stale_queue_file_time
 * later. A file a live writer holds locked is never touched (qfile_remove_abandoned). */
static void sweep_incoming(void)
{
    DIR *d = opendir("incoming");
    struct dirent *de;
    long temps = 0;

    if (d == NULL) {
        log_warn("open incoming/: %s", strerror(errno));
        return;
    }
    while ((de = readdir(d)) != NULL) {
        int id = qfile_valid_id(de->d_name);
        if (!id && strncmp(de->d_name, ".tmp.", 5) != 0 && strncmp(de->d_name, ".rw.", 4) != 0)
            continue;
        int r = qfile_remove_abandoned(dirfd(d), de->d_name);
        if (r < 0)
            log_warn("incoming/%s: %s", id ? de->d_name : "(temporary file)", strerror(errno));
        else if (r > 0 && id)
            log_info("%s: removed from incoming/: incomplete, its writer is gone", de->d_name);
        else if (r > 0)
            temps++;
    }
    closedir(d);
    if (temps)
        log_info("removed %ld abandoned temporary file(s) from incoming/", temps);
}

/* pre_init - nothing to do while still root: qmgr needs no privileged files */
static void pre_init(int argc, char **argv)
{
    (void)argc;
    (void)argv;
}

/* post_init - open the tables and read master.cf (as mail_owner, in the queue) */
static void post_init(void)
{
    resolve_init();
    qmgr_sched_init();
}

/* run - serve the triggers and showq, recover active/, start the scans */
static void run(struct evloop *ev, const int *fds, int nfds)
{
    if (nfds < 1)
        log_fatal("qmgr needs its trigger socket");
    qmgr_ev = ev;
    server_set_busy(1);  /* a long-running service: a later crash is not a startup failure */
    qmgr_admin_init(ev); /* first: it takes the lock that keeps petrel-super out of active/ */
    tsrv = trigger_server(ev, fds[0], on_trigger, NULL);
    qmgr_showq_init(ev, nfds > 1 ? fds[1] : -1);
    recover();
    sweep_incoming();
    incoming.again = deferred.again = 1;
    periodic_timer =
        evloop_timer(ev, cfg_time(cfg_main, P_queue_run_delay) * 1000, on_periodic, NULL);
    kick();
}

/* on_exit_cb - collect the results of deliveries in progress (a reload would otherwise
 * deliver them again), then release everything; the queue on disk stays the truth */
static void on_exit_cb(void)
{
    long long end = evloop_now_ms() + QMGR_DRAIN_MS;

    while (qmgr_sched_drain() > 0 && evloop_now_ms() < end)
        evloop_run_once(qmgr_ev, 100);
    if (tsrv)
        trigger_server_free(tsrv);
    qmgr_showq_free();
    qmgr_admin_free();
    evloop_cancel(qmgr_ev, scan_timer);
    evloop_cancel(qmgr_ev, periodic_timer);
    evloop_cancel(qmgr_ev, recover_timer);
    strlist_free(&recover_later);
    if (incoming.dir)
        closedir(incoming.dir);
    if (deferred.dir)
        closedir(deferred.dir);
    qmgr_sched_free();
    qmgr_msg_shutdown();
    resolve_free();
}

int main(int argc, char **argv)
{
    static const struct server_def def = {
        .program = "qmgr",
        .event_loop = 1,
        .pre_init = pre_init,
        .post_init = post_init,
        .run = run,
        .on_exit = on_exit_cb,
    };

    return server_main(argc, argv, &def);
}
