/*
 * proc.h - process helpers: privilege drop, pid file, descriptors, daemonizing
 *
 * proc_drop_privs() is the one way a Petrel process gives up root: setgid,
 * initgroups, setuid, then a check that root cannot be regained. A failure
 * there is fatal, never ignored.
 */
#ifndef PETREL_PROC_H
#define PETREL_PROC_H

#include <sys/types.h>

#include "str.h"

/* proc_user - uid/gid/home of a user name; -1 when unknown */
int proc_user(const char *name, uid_t *uid, gid_t *gid);
/* proc_group - gid of a group name; -1 when unknown */
int proc_group(const char *name, gid_t *gid);
/* proc_drop_privs - become uid/gid (with name's supplementary groups); fatal on failure */
void proc_drop_privs(const char *name, uid_t uid, gid_t gid);
/* proc_drop_to_user - look up name and drop to it; fatal when unknown or root */
void proc_drop_to_user(const char *name);
/* proc_pidfile_lock - create/lock a pid file and write our pid; returns its fd or -1 */
int proc_pidfile_lock(const char *path, struct str *err);
/* proc_pidfile_owner - pid holding the lock on path, 0 if none, -1 on error */
pid_t proc_pidfile_owner(const char *path);
void proc_cloexec(int fd, int on);
void proc_nonblock(int fd, int on);
/* proc_close_from - close every descriptor >= lowfd */
void proc_close_from(int lowfd);
/* proc_daemonize - fork into the background, new session, stdio on /dev/null */
void proc_daemonize(void);

/* self-pipe signal delivery, for event loops */
/* sig_init - create the pipe; returns its read end */
int sig_init(void);
/* sig_catch - route signo to the pipe (SA_RESTART unless interrupt is set) */
void sig_catch(int signo, int interrupt);
/* sig_next - the next caught signal, or 0 */
int sig_next(void);
int sig_fd(void);
void sig_default(int signo);

#endif
