/*
 * smtp.h - the SMTP client's shared declarations (delivery/smtp*.c)
 *
 * smtp.c         the agent: delivery requests, the recipient ledger, the session cache
 * smtp_addr.c    next hops, MX and address lookups, the loop to ourselves
 * smtp_session.c connecting and the session handshake: greeting, EHLO/HELO,
 *                STARTTLS and the TLS policy, AUTH
 * smtp_proto.c   replies and one mail transaction: MAIL, RCPT, DATA (pipelined
 *                when offered), the content with dot-stuffing
 */
#ifndef PETREL_SMTP_H
#define PETREL_SMTP_H

#include <sys/socket.h>

#include "deliver.h"
#include "qfile.h"
#include "sock.h"
#include "str.h"
#include "stream.h"

/* server features from the EHLO reply */
#define SMTP_F_ESMTP 0x001
#define SMTP_F_PIPELINING 0x002
#define SMTP_F_SIZE 0x004
#define SMTP_F_8BITMIME 0x008
#define SMTP_F_SMTPUTF8 0x010
#define SMTP_F_DSN 0x020
#define SMTP_F_STARTTLS 0x040
#define SMTP_F_AUTH_PLAIN 0x080
#define SMTP_F_AUTH_LOGIN 0x100
#define SMTP_F_AUTH 0x200 /* AUTH offered (any mechanism) */

/* TLS levels */
#define SMTP_TLS_NONE 0
#define SMTP_TLS_MAY 1
#define SMTP_TLS_ENCRYPT 2
#define SMTP_TLS_VERIFY 3

/* a next hop as routed by qmgr: "domain", "host:port", "[host]", "[host]:port" */
struct smtp_nexthop {
    char *host; /* domain or host name, or an IP address (brackets removed) */
    int port;
    int mx; /* look up MX records (no brackets) */
};

/* one server address to try */
struct smtp_addr {
    char *host; /* the server's name (MX host or next hop); the address for literals */
    unsigned pref;
    struct sockaddr_storage sa;
    socklen_t salen;
    char ip[SOCK_ADDR_MAX];
    int port;
};

struct smtp_addr_list {
    struct smtp_addr *v;
    size_t n;
};

/* the outcome of a step that affects the whole session or request */
struct smtp_why {
    int status; /* DELIVER_DEFERRED or DELIVER_BOUNCED */
    char dsn[16];
    struct str
        text; /* reason, e.g. "host x[1.2.3.4] said: 451 ... (in reply to MAIL FROM command)" */
    struct str diag;  /* RFC 3464 Diagnostic-Code ("smtp; 451 ...") or "" */
    struct str relay; /* the server involved ("host[ip]:port"), "" before a connection */
};

/* an open session with a server */
struct smtp_session {
    struct stream *s;
    char *dest; /* the cache key: next hop as routed */
    char *host; /* server host name */
    char ip[SOCK_ADDR_MAX];
    int port;
    struct str relay;                 /* "host[ip]:port" for logs */
    int features;                     /* SMTP_F_ */
    unsigned long long size_limit;    /* SIZE announced (0: none) */
    int tls;                          /* TLS active */
    int tls_level;                    /* the level the session was set up with */
    long long born_ms, idle_since_ms; /* monotonic */
    int transactions;
};

/* one mail transaction: what to send and what became of each recipient */
#define SMTP_R_PENDING 0  /* not settled: try (again) at the next server */
#define SMTP_R_ACCEPTED 1 /* RCPT accepted in the current transaction */
#define SMTP_R_DONE 2     /* a final result was reported */

struct smtp_rcpt {
    int state;
    int reported; /* the result went to qmgr */
    int before;   /* its record was marked done before the request: not sent again */
    int status;   /* the last outcome (DELIVER_) */
    char dsn[16];
    struct str reason;
    struct str diag;
    struct str relay;
};

struct smtp_msg {
    const struct deliver_request *req;
    int qfd;
    struct qfile_env env;
    int need_smtputf8;
    int eightbit;       /* BODY=8BITMIME (or BINARYMIME) declared */
    int binary;         /* BODY=BINARYMIME declared */
    struct str content; /* the content, read once when a conversion has to be tried */
    int have_content;
    struct str conv[2]; /* mime_downgrade for MIME_CONV_7BIT / _8BIT */
    int conv_state[2];  /* 0 not tried, else 1 + the result of mime_downgrade */
    struct str conv_why[2];
    const struct str *send;  /* what this transaction sends instead of the queue file (NULL) */
    struct smtp_rcpt *rcpts; /* parallel to req->rcpts */
    long long conn_us;       /* connection set-up time of the delivering session */
};

/* smtp_msg_size - the size of what goes out: the converted content, or the queued one */
static inline unsigned long long smtp_msg_size(const struct smtp_msg *m)
{
    return m->send ? (unsigned long long)m->send->len : (unsigned long long)m->env.content_size;
}

/* smtp_addr.c */
int smtp_nexthop_parse(const char *text, int default_port, struct smtp_nexthop *out);
void smtp_nexthop_free(struct smtp_nexthop *nh);
void smtp_addr_init(void);
void smtp_addr_free(void);
/* smtp_resolve - the addresses to try for a next hop, best first, loops to ourselves
 * removed; -1 with why set (bounce or defer) when there is none */
int smtp_resolve(const struct smtp_nexthop *nh, struct smtp_addr_list *out, struct smtp_why *why);
void smtp_addr_list_free(struct smtp_addr_list *l);
/* smtp_is_our_addr - whether a socket address is one of ours (inet_interfaces) */
int smtp_is_our_addr(const struct sockaddr *sa);

/* smtp_session.c */
long long smtp_now_ms(void); /* monotonic */
void smtp_session_init(void);
void smtp_session_cleanup(void);
/* smtp_tls_level_for - the TLS level of a next hop (smtp_tls_policy_maps, else the
 * default); -1 with why set when the table fails or names a bad level */
int smtp_tls_level_for(const char *dest, const struct smtp_nexthop *nh, struct smtp_why *why);
/* smtp_session_open - connect and complete the handshake (greeting, EHLO/HELO, STARTTLS,
 * EHLO, AUTH); NULL with why set. *handshook is set once the greeting and EHLO
 * succeeded (a session for smtp_mx_session_limit). */
struct smtp_session *smtp_session_open(const char *dest, const struct smtp_addr *a, int tls_level,
                                       struct smtp_why *why, int *handshook);
/* smtp_session_close - QUIT (when the session is healthy) and free */
void smtp_session_close(struct smtp_session *ss, int quit);

/* smtp_proto.c */
struct smtp_reply {
    int code;             /* 0: none (connection problem) */
    struct str text;      /* all lines joined with " ", codes included (for logs) */
    struct str last;      /* the last line without code */
    struct strlist lines; /* every line without its code */
    char dsn[16];         /* the enhanced status code given, or one derived from the code */
};

void smtp_reply_init(struct smtp_reply *r);
void smtp_reply_free(struct smtp_reply *r);
/* smtp_read_reply - one (multi-line) reply within the stream's timeout; 0 ok, -1 with why
 * (lost connection, timeout, malformed or too long) */
int smtp_read_reply(struct smtp_session *ss, struct smtp_reply *r, const char *stage,
                    struct smtp_why *why);
/* smtp_cmd - send one command line (CRLF appended), flush, read its reply */
int smtp_cmd(struct smtp_session *ss, int timeout, struct smtp_reply *r, const char *stage,
             struct smtp_why *why, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* smtp_why_reply - why = "host H said: REPLY (in reply to STAGE)" with the reply's class */
void smtp_why_reply(struct smtp_why *why, const struct smtp_session *ss, const struct smtp_reply *r,
                    const char *stage);
void smtp_why_set(struct smtp_why *why, int status, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void smtp_why_init(struct smtp_why *why);
void smtp_why_free(struct smtp_why *why);
/* smtp_transaction - deliver msg's pending recipients over ss. Returns 0 when the
 * session is still usable, -1 when it broke (why set: recipients still pending). */
int smtp_transaction(struct smtp_session *ss, struct smtp_msg *msg, struct smtp_why *why);

#endif
