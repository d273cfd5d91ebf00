/*
 * master.h - the supervisor's internal interfaces
 *
 * master.c owns start-up, signals, reload and stop; master_service.c owns
 * the services of master.cf: their listeners, process pools, status pipes,
 * wakeup timers and throttling.
 */
#ifndef PETREL_MASTER_H
#define PETREL_MASTER_H

#include <sys/types.h>

#include "cfg.h"
#include "evloop.h"
#include "mcf.h"

struct service {
    struct mcf_service def; /* owned copy of the master.cf entry */
    char *path;             /* program path */
    int *listen_fds;
    int nlisten;
    int status_rd, status_wr;
    int stress_rd, stress_wr; /* the stress pipe (master_proto.h) */
    int stress;               /* a byte is in the stress pipe */
    long long busy_ms;        /* when every process was last seen busy at the limit */
    unsigned long stress_timer;
    int maxproc;          /* INT_MAX when unlimited */
    int min_idle;         /* idle processes kept ready */
    int min_procs;        /* processes kept running (wakeup services) */
    int total;            /* current-generation children */
    int idle;             /* current-generation idle children */
    int ready;            /* current-generation children that reported ready */
    int startup_failures; /* children in a row that exited before ready */
    int paused;           /* spawning paused after a start-up failure */
    unsigned long pause_timer;
    int children; /* all children, any generation */
    int generation;
    int throttled;
    unsigned long throttle_timer;
    unsigned long wakeup_timer;
    int watching;
    int removed;
    struct service *next;
};

/* global state shared by the two files */
extern struct evloop *master_ev;
extern struct service *master_services;
extern const char *master_confdir;
extern int master_live_rd;   /* read end handed to children */
extern int master_config_fd; /* sealed memfd with the validated main.cf text */
extern int master_stopping;

/* master_service.c */
struct service *service_create(const struct mcf_service *def, struct str *err);
void service_adjust(struct service *s);
void service_reap(pid_t pid, int status);
void service_remove(struct service *s);
void service_update(struct service *s, const struct mcf_service *def);
void service_close_listeners(struct service *s);
void service_signal_all(int sig);
int service_child_count(void);
void mcf_service_copy(struct mcf_service *dst, const struct mcf_service *src);
void mcf_service_free(struct mcf_service *s);

#endif
