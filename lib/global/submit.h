/*
 * submit.h - hand one locally submitted message to the set-gid helper petrel-drop
 *
 * The one client side of the maildrop path (lib/global/maildrop.h): sendmail
 * (-bm, -t) and smtpd in stand-alone mode (sendmail -bs) build a message
 * with these calls, and $command_directory/petrel-drop, run with a pipe on
 * its standard input and one on its standard output, checks it and stores it
 * in maildrop/ as the invoking user. Nothing here needs or gains privilege.
 *
 * Order: submit_open (the sender and attributes), submit_rcpt for each
 * recipient, submit_start (runs petrel-drop, ends the envelope), any number
 * of submit_write, then submit_close (the end record; 0 only once the file
 * is durable) or submit_abort (petrel-drop removes its temporary file).
 * Until submit_start the envelope is only buffered, so a transaction given
 * up before its content costs no process.
 */
#ifndef PETREL_SUBMIT_H
#define PETREL_SUBMIT_H

#include <stddef.h>

#include "str.h"

struct submit_env {
    const char *sender;   /* external form (quoted local part kept), "" = the null sender */
    const char *fullname; /* for a From: header pickup adds; NULL when unknown */
    const char *envid;    /* RFC 3461 ENVID (decoded), NULL when none */
    const char *ret;      /* "FULL", "HDRS" or NULL */
};

struct submit;

/* submit_open - a new submission for the configuration in confdir (passed to petrel-drop) */
struct submit *submit_open(const char *confdir, const struct submit_env *env);
/* submit_rcpt - one recipient in external form; orcpt "type;decoded" or NULL; QNOTIFY_ bits */
void submit_rcpt(struct submit *s, const char *addr, const char *orcpt, int notify);
/* submit_start - run petrel-drop and send it the envelope; -1 with err (s stays valid:
 * submit_abort it) */
int submit_start(struct submit *s, struct str *err);
/* submit_write - message content (LF or CRLF lines), sent in D records of at most 64 KB */
void submit_write(struct submit *s, const void *p, size_t n);
/* submit_close - the end record; wait for petrel-drop: 0 with the queue ID in id, else a
 * sysexits.h status with err set. Frees s. */
int submit_close(struct submit *s, struct str *id, struct str *err);
/* submit_abort - give up (before or after submit_start): nothing is queued. Frees s. */
void submit_abort(struct submit *s);

#endif
