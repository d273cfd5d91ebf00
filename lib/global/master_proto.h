/*
 * master_proto.h - the contract between master and the daemons it starts
 *
 * A child is exec'ed as: PROGRAM -c CONFDIR -n SERVICE -t inet|unix -s N
 * [-u] [-o name=value]... [-v]... [ARGS...], with
 *   fd 3: the status pipe (write end), shared by the service's children;
 *   fd 4: the liveness pipe (read end): EOF means master is gone;
 *   fd 5: main.cf as master read and validated it (a sealed memfd, read
 *         with pread): children parse these bytes, never the file on disk,
 *         so a main.cf edited without a reload cannot break new children;
 *   fd 6: the stress pipe (read end) of the service: readable while every process of an
 *         inet service is busy at its process limit (master writes one byte when that
 *         starts and reads it back when it ends; children only poll it);
 *   fd 7 .. 7+N-1: the service's listening sockets.
 * -u asks the child to drop to mail_owner (master.cf unpriv=y) when root.
 * A child reports "ready" once it has finished its start-up and is about to
 * serve, then each busy/idle transition, each as one struct master_status
 * (smaller than PIPE_BUF, so writes from many children never interleave).
 * Only a child that exits before "ready" counts as a start-up failure.
 */
#ifndef PETREL_MASTER_PROTO_H
#define PETREL_MASTER_PROTO_H

#include <sys/types.h>

#define MASTER_STATUS_FD 3
#define MASTER_LIVE_FD 4
#define MASTER_CONFIG_FD 5
#define MASTER_STRESS_FD 6
#define MASTER_LISTEN_FD 7

/* the exit status of a child that could not start and answered clients with a
 * temporary error meanwhile (lib/global/server.c): not a start-up failure that throttles */
#define MASTER_EXIT_UNAVAILABLE 75

#define MASTER_STAT_IDLE 0
#define MASTER_STAT_BUSY 1
#define MASTER_STAT_READY 2

struct master_status {
    pid_t pid;
    int status;
};

#endif
