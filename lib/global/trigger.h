/*
 * trigger.h - one-byte wake-up requests over UNIX sockets
 *
 * A trigger is a connection that carries a few bytes, each one a request
 * ('A' new mail, 'F' flush, 'W' wakeup, ...), then closes. A lost trigger
 * costs only a delay: servers also run periodic scans.
 */
#ifndef PETREL_TRIGGER_H
#define PETREL_TRIGGER_H

#include "evloop.h"
#include "str.h"

/* request bytes understood by qmgr (public/qmgr) */
#define TRIGGER_NEW_MAIL 'A' /* new files in incoming/ */
#define TRIGGER_FLUSH 'F'    /* retry deferred mail now */
#define TRIGGER_WAKEUP 'W'   /* periodic wakeup from master */

/* trigger_send - connect to the socket at path and send the bytes; -1 with err */
int trigger_send(const char *path, const char *bytes, int timeout, struct str *err);

typedef void (*trigger_cb)(int byte, void *ctx);

struct trigger_server;

/* trigger_server - accept trigger connections on listen_fd inside ev, calling
 * cb for each byte received (at most 64 per connection; idle ones dropped after 10s) */
struct trigger_server *trigger_server(struct evloop *ev, int listen_fd, trigger_cb cb, void *ctx);
/* trigger_server_free - stop accepting (connections in progress finish on their own) */
void trigger_server_free(struct trigger_server *srv);

#endif
