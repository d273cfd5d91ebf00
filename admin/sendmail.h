/*
 * sendmail.h - the sendmail command's shared declarations
 *
 * Rooms: sendmail.c (options, modes, reading a message from standard
 * input and handing it to petrel-drop through lib/global/submit.h; -bs
 * runs smtpd in stand-alone mode), sendmail_submit.c (addresses),
 * sendmail_verify.c (-bv: how each address would be delivered).
 */
#ifndef PETREL_SENDMAIL_H
#define PETREL_SENDMAIL_H

#include <stddef.h>

#include "str.h"

struct sm_opts {
    const char *confdir;
    const char *sender;   /* envelope sender in external form ("" = <>) */
    const char *fullname; /* for a From: header pickup adds; NULL when unknown */
    const char *envid;    /* -V */
    const char *ret;      /* -R: "FULL", "HDRS" or NULL */
    int notify;           /* -N: QNOTIFY_ bits, 0 = not given */
    int extract;          /* -t */
    int ignore_dot;       /* -i, -oi */
    int verbose;          /* -v */
};

struct sm_rcpt {
    char *addr;  /* external form: quoted local part @ domain (or unqualified) */
    char *orcpt; /* "" when none */
    int notify;
};

struct sm_rcpts {
    struct sm_rcpt *v;
    size_t n;
};

/* sendmail_submit.c */
/* sm_parse_list - the addresses of an RFC 5322 address list (a command-line argument or a
 * header value) appended to out in external form; -1 when one is malformed (bad gets it) */
int sm_parse_list(const char *text, size_t n, int notify, struct sm_rcpts *out, struct str *bad);
/* sm_parse_sender - one address for -f ("" and "<>" are the null sender); -1 if malformed */
int sm_parse_sender(const char *text, struct str *out);
/* sm_rcpts_add - one recipient in external form (duplicates are dropped) */
void sm_rcpts_add(struct sm_rcpts *l, const char *addr, const char *orcpt, int notify);
void sm_rcpts_free(struct sm_rcpts *l);

/* sendmail_verify.c */
/* sendmail_verify - report how each recipient would be delivered; the exit status */
int sendmail_verify(const struct sm_opts *o, const struct sm_rcpts *r);

#endif
