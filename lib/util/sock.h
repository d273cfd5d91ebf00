/*
 * sock.h - socket helpers: listeners, connects with deadlines, peer names
 *
 * IPv4-mapped IPv6 peers (::ffff:a.b.c.d) are reported as plain IPv4 so
 * that policy (mynetworks, logs) sees one form of each address.
 */
#ifndef PETREL_SOCK_H
#define PETREL_SOCK_H

#include <sys/socket.h>
#include <sys/types.h>

#include "str.h"

#define SOCK_ADDR_MAX 64 /* room for an IPv6 text address with scope */

/* sock_listen_unix - bind a UNIX stream socket at path (replacing a stale one) with
 * mode 0666 less the umask */
int sock_listen_unix(const char *path, int backlog, struct str *err);
/* sock_listen_unix_mode - the same with the socket created in mode (the umask is set
 * around bind): no chmod by path afterwards, which would follow a link planted meanwhile */
int sock_listen_unix_mode(const char *path, int backlog, mode_t mode, struct str *err);
/* sock_listen_inet - bind host (NULL/"" = any) and port; family AF_INET, AF_INET6 or AF_UNSPEC
 * (AF_UNSPEC with no host: one dual-stack IPv6 socket, else IPv4) */
int sock_listen_inet(const char *host, int port, int family, int backlog, struct str *err);
/* sock_connect_unix - connect to a UNIX socket, waiting at most timeout seconds */
int sock_connect_unix(const char *path, int timeout, struct str *err);
/* sock_connect_addr - connect to a sockaddr with a timeout (seconds) */
int sock_connect_addr(const struct sockaddr *sa, socklen_t len, int timeout, struct str *err);
/* sock_addr_text - text form and port of a socket address (v4-mapped shown as v4) */
void sock_addr_text(const struct sockaddr *sa, char *buf, size_t len, int *port);
/* sock_peer - the peer address of a connected socket; "" and 0 for UNIX sockets */
void sock_peer(int fd, char *buf, size_t len, int *port);
/* sock_local - the local address of a connected socket */
void sock_local(int fd, char *buf, size_t len, int *port);

#endif
