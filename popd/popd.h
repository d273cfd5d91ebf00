/*
 * popd.h - the POP3 server: one session's state, shared by popd's files
 *
 * popd.c runs the AUTHORIZATION state (RFC 1939 4, CAPA, STLS, USER/PASS,
 * APOP, AUTH PLAIN) and the process set-up; popd_maildrop.c runs the
 * TRANSACTION and UPDATE states over a mailbox view of the mail store.
 */
#ifndef PETREL_POPD_H
#define PETREL_POPD_H

#include <stdint.h>

#include "mstore.h"
#include "server.h"
#include "str.h"
#include "stream.h"

struct popd_msg {
    uint32_t seq;  /* in the store's view */
    uint64_t size; /* octets as RETR sends them (before byte-stuffing) */
    uint8_t deleted;
    uint8_t retrieved;
};

struct popd {
    struct server_conn *conn;
    struct stream *s;
    int tls;
    struct str user;   /* USER argument, then the authenticated user */
    struct str method; /* USER, APOP, PLAIN */
    struct str apop_stamp;
    int errors;
    int failures;
    /* TRANSACTION */
    struct mstore *st;
    struct mstore_box *box;
    struct popd_msg *msgs;
    uint32_t count;
    uint64_t retr_count, retr_bytes, top_count, top_bytes;
};

/* popd_reply - one status line: "+OK text" or "-ERR text" (flushed when no input waits) */
void popd_reply(struct popd *p, int ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* popd_bad - -ERR for a bad command; counts toward popd_error_limit; 0 when the limit is hit */
int popd_bad(struct popd *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* popd_split - strip CRLF and cut a command line into at most max words separated
 * by single spaces; the count, -1 for a syntax error, -2 for control characters */
int popd_split(struct str *line, char **argv, int max);
/* popd_capa - the CAPA response for the current state */
void popd_capa(struct popd *p, int transaction);
/* popd_flush_if_idle - flush output unless more pipelined input is waiting */
void popd_flush_if_idle(struct popd *p);

/* popd_maildrop_open - open the user's maildrop after a successful login;
 * the -ERR reply is sent here on failure (returns -1, state unchanged) */
int popd_maildrop_open(struct popd *p);
/* popd_transaction - run TRANSACTION until QUIT (then UPDATE) or the connection ends */
void popd_transaction(struct popd *p);
void popd_maildrop_close(struct popd *p);

#endif
