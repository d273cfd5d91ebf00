/*
 * connlimit.h - concurrent connections per client address, shared by all
 * processes of one program (smtpd, popd, imapd)
 *
 * Each program keeps one small table, $queue_directory/private/PROGRAM.clients:
 * one slot per busy process with its pid, its service (master.cf name) and
 * its client address, updated under flock(2). A slot whose process is gone
 * counts as free, so the table heals itself after a crash without a cleanup
 * daemon. A process serves one connection at a time (server.h), so it holds
 * at most one slot.
 */
#ifndef PETREL_CONNLIMIT_H
#define PETREL_CONNLIMIT_H

/* connlimit_open - open (create) private/PROGRAM.clients in the current directory (the
 * queue directory), before privileges are given up; 0 ok, -1 (logged) when the table
 * cannot be used: limits are then not enforced. Opened once, without following a link,
 * and judged by fstat: a regular file with one link, owned by the calling user. */
int connlimit_open(const char *program);
/* connlimit_enter - count this connection from addr (numeric) on service; 0 admitted (the
 * process's slot now holds it), -1 refused: one more than limit. *count is the number of
 * connections of addr to service, this one included. Without a table: 0, *count 0. */
int connlimit_enter(const char *service, const char *addr, int limit, int *count);
/* connlimit_leave - free this process's slot (the connection ended) */
void connlimit_leave(void);

#endif
