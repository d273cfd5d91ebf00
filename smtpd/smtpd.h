/*
 * smtpd.h - the SMTP server's session state, shared by the smtpd_*.c files
 *
 * One struct session lives for one client connection. The files split the
 * work the way the protocol does: smtpd.c (connection, command loop,
 * envelope commands), smtpd_check.c (restrictions and recipient
 * validation), smtpd_data.c (DATA/BDAT and the queue file), smtpd_sasl.c
 * (AUTH), smtpd_standalone.c (smtpd -S for sendmail -bs: its settings and
 * the maildrop store), lib/global/smtp_parse.c (syntax); connections per client are counted by
 * lib/util/connlimit.c, shared with popd and imapd.
 */
#ifndef PETREL_SMTPD_H
#define PETREL_SMTPD_H

#include <stdint.h>

#include "cfg.h"
#include "htab.h"
#include "qfile.h"
#include "sock.h"
#include "str.h"
#include "stream.h"

#include "smtp_parse.h"

/* smtpd_forbid_bare_newline modes */
#define BARE_REJECT 0
#define BARE_NORMALIZE 1

/* TLS levels (smtpd_tls_security_level) */
#define TLS_LEVEL_NONE 0
#define TLS_LEVEL_MAY 1
#define TLS_LEVEL_ENCRYPT 2

/* main.cf settings read once at start-up */
struct smtpd_conf {
    const char *myhostname;
    const char *myorigin;
    const char *banner;
    int timeout;
    int per_request_deadline;
    int min_data_rate;
    int stress_timeout;
    size_t line_limit;
    size_t recipient_limit;
    int hard_error_limit;
    int soft_error_limit;
    int error_sleep;
    int junk_limit;
    unsigned long long size_limit; /* 0: none */
    size_t header_limit;
    int helo_required;
    int vrfy_disabled;
    int strict;
    int smtputf8;
    int tls_level;
    int wrappermode;
    int tls_auth_only;
    int tls_received;
    int sasl_enable;
    int auth_required;
    int sasl_header;
    int sasl_failure_limit;
    int sasl_failure_delay;
    int conn_limit;
    int peername_lookup;
    unsigned long long queue_minfree;
    int always_add_headers;
    int bare_mode;
    int standalone; /* smtpd -S: local submission (smtpd_standalone.c) */
};

extern struct smtpd_conf smtpd_cf;
extern SSL_CTX *smtpd_tls_ctx;

struct content;
struct submit;

struct session {
    struct stream *s;
    /* the client */
    char addr[SOCK_ADDR_MAX];
    char name[1025];    /* verified host name or "unknown" */
    char namaddr[1100]; /* name[addr] for logs and replies */
    int port;
    int in_mynetworks;
    int bare_mode;       /* BARE_ for this client */
    int rewrite_headers; /* local_header_rewrite_clients matched (after AUTH, re-evaluated) */
    /* protocol state */
    struct str helo;
    int esmtp;
    int helo_seen;
    int tls;             /* TLS is active */
    struct str tls_info; /* "TLSv1.3 with cipher ..." */
    char *sasl_method;   /* set after a successful AUTH */
    char *sasl_username;
    int auth_failures;
    int errors;        /* error replies since the last accepted message */
    int junk;          /* NOOP/RSET/VRFY/HELP count */
    const char *where; /* last command, for "lost connection after X" */
    int last_cmd_crlf; /* the last command line ended in CRLF */
    int quit;          /* close the connection after this reply */
    int last_code;     /* code of the last reply, for the command statistics */
    /* transaction (MAIL ... end of DATA/BDAT LAST) */
    int in_mail;
    struct smtp_path sender;
    long long size_declared;
    int body;
    int smtputf8;
    int ret;
    struct str envid;
    size_t nrcpt; /* accepted recipients */
    struct smtp_path first_rcpt;
    struct htab *rcpt_seen;
    struct qfile_writer *qf;
    struct submit *drop; /* stand-alone mode: the maildrop file instead of qf */
    struct str queue_id;
    int bdat_active;         /* BDAT chunks are arriving */
    int bdat_failed;         /* a chunk was rejected: the rest of the transaction is refused */
    struct content *content; /* content state while DATA/BDAT is in progress */
    /* statistics for the disconnect line */
    unsigned cmd_total[32];
    unsigned cmd_ok[32];
};

/* smtpd.c */
/* reply - send one reply line ("250 2.1.0 Ok"); 4xx/5xx replies count as errors */
void reply(struct session *ss, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* reply_text - the same for ready text */
void reply_text(struct session *ss, const char *text);
/* proto_name - ESMTP, ESMTPS, ESMTPA, ESMTPSA, SMTP, UTF8SMTPS, ... (RFC 3848, RFC 6531) */
const char *proto_name(const struct session *ss);
/* transaction_reset - forget MAIL/RCPT/DATA state (RSET, EHLO, end of message) */
void transaction_reset(struct session *ss);
/* log_reject - "QUEUEID|NOQUEUE: reject: CMD from host[ip]: reply; from=<> to=<> proto= helo=<>" */
void log_reject(struct session *ss, const char *cmd, const char *reply_line, const char *rcpt);

/* smtpd_check.c */
void check_init(void);
/* check_client_list - whether addr matches a list parameter of networks (CIDR) and tables */
int check_client_list(enum cfg_list_param param, const char *addr);
/* check_rcpt - relay and recipient restrictions plus recipient validation;
 * 0 accept, else the reply line in out */
int check_rcpt(struct session *ss, const struct smtp_path *rcpt, struct str *out);
/* check_verify - recipient validation only (VRFY); 0 known, else the reply line */
int check_verify(struct session *ss, const struct smtp_path *rcpt, struct str *out);
/* check_rewrite_clients - local_header_rewrite_clients for this session */
int check_rewrite_clients(struct session *ss);

/* smtpd_data.c */
/* data_open_queue_file - create the queue file for the transaction (first valid RCPT) */
int data_open_queue_file(struct session *ss, struct str *reply_line);
void data_add_rcpt(struct session *ss, const struct smtp_path *rcpt, const char *orcpt, int notify);
void cmd_data(struct session *ss, const char *args);
void cmd_bdat(struct session *ss, const char *args);
void data_abort(struct session *ss);

/* data_opened - the transaction has its queue file (or maildrop submission) */
int data_opened(const struct session *ss);

/* smtpd_standalone.c */
/* standalone_settings - smtpd -S: the main.cf overrides of local submission (no TLS, no
 * AUTH, bare LF accepted, pickup adds the headers, ...); before anything reads them */
void standalone_settings(void);
/* drop_open - the maildrop submission for the transaction (instead of data_open_queue_file) */
int drop_open(struct session *ss, struct str *reply_line);
void drop_rcpt(struct session *ss, const struct smtp_path *rcpt, const char *orcpt, int notify);
/* drop_begin - run petrel-drop with the envelope; -1 when it cannot be run */
int drop_begin(struct session *ss);
void drop_write(struct session *ss, const char *p, size_t n);
/* drop_commit - the end of the message; NULL once durable (ss->queue_id set), else the
 * reply that refuses it */
const char *drop_commit(struct session *ss);
/* drop_abort - give up the submission, if any */
void drop_abort(struct session *ss);

/* smtpd_sasl.c */
void sasl_init(void);
/* sasl_offered - AUTH is advertised and accepted in this state */
int sasl_offered(const struct session *ss);
const char *sasl_mechanisms(void);
void cmd_auth(struct session *ss, const char *args);

#endif
