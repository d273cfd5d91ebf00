/*
 * server.h - the skeleton of a daemon started by master
 *
 * server_main() parses master's arguments (master_proto.h), loads main.cf
 * with the service's -o overrides, checks it, sets up logging, calls
 * pre_init (still root when started as root: open key files, maps), drops
 * to mail_owner for unpriv services, chdirs to the queue directory, calls
 * post_init, then serves:
 *   single-connection servers (smtpd, popd, local, ...): one connection at a
 *     time accepted from the shared listeners, reporting busy/idle to master;
 *     exit after max_use connections, max_idle seconds idle, on SIGHUP (after
 *     the current connection: master reloaded), or when master goes away;
 *   event-loop servers (qmgr, pickup): run() registers the listeners in the
 *     loop; the skeleton stops the loop on SIGTERM/SIGHUP or master's exit.
 * A single-connection server with an `unavailable` reply that fails during its
 * start-up (log_fatal: a table, a key file or the queue directory it cannot
 * open) does not leave its clients waiting: for service_throttle_time it
 * answers every connection with that reply, then exits with
 * MASTER_EXIT_UNAVAILABLE so that master starts a new attempt.
 * With -S, a single-connection server serves one session on stdin/stdout
 * without master, as whoever ran it (smtpd -S for sendmail -bs): main.cf is
 * read from disk, and a maillog_file that user may not write (or
 * /dev/stdout, the session's own channel) gives way to syslog.
 */
#ifndef PETREL_SERVER_H
#define PETREL_SERVER_H

#include "evloop.h"
#include "sock.h"

struct server_conn {
    int fd;                   /* read side */
    int wfd;                  /* write side (== fd for sockets) */
    char addr[SOCK_ADDR_MAX]; /* client address, "" for UNIX sockets */
    int port;
    char laddr[SOCK_ADDR_MAX]; /* local address */
    int lport;
    int is_inet;
};

struct server_def {
    const char *program;
    int event_loop; /* 1: run() owns the listeners inside an event loop */
    void (*pre_init)(int argc, char **argv);
    void (*post_init)(void);
    void (*serve)(struct server_conn *c);
    void (*run)(struct evloop *ev, const int *listen_fds, int nfds);
    void (*on_exit)(void); /* event-loop servers: cleanup before exit */
    /* single-connection servers: the start of the line that clients get while the
     * server cannot start ("421 4.3.0" for SMTP); NULL: none */
    const char *unavailable;
};

int server_main(int argc, char **argv, const struct server_def *def);
/* server_conn_nodelay - TCP_NODELAY on an inet connection, for servers whose replies
 * go out as whole buffered responses (POP3, IMAP): Nagle would only hold back the end
 * of a response (often its tagged status line) until the client's delayed ACK */
void server_conn_nodelay(const struct server_conn *c);
/* server_service - the master.cf service name ("smtp", "127.0.0.1:2525", ...) */
const char *server_service(void);
/* server_standalone - serving one session on stdin/stdout (-S): no master, no queue
 * directory (per-client tables such as lib/util/connlimit.h do not apply) */
int server_standalone(void);
/* server_stopping - SIGHUP/SIGTERM seen or master gone: finish up and exit */
int server_stopping(void);
/* server_stress_fd - readable while master says that every process of this service is
 * busy (stress, as in Postfix); -1 without master (-S). Poll it, never read it. */
int server_stress_fd(void);
/* server_set_busy - event-loop servers may report busy/idle themselves */
void server_set_busy(int busy);

#endif
