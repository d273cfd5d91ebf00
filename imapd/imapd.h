/*
 * imapd.h - what the files of imapd share: the session, responses, commands
 *
 * imapd.c owns the connection: greeting, the command loop (read a whole
 * command, dispatch it by name and state), the response helpers and the
 * configuration read at start-up. Each cmd_*.c file holds one group of
 * commands (RFC 3501 6.1 any state, 6.2 not authenticated, ...); a handler
 * gets the session with the parser just after "tag SP name", parses its
 * own arguments to the end of the command, acts, and answers with exactly
 * one tagged response (imapd_ok/no/bad) after any untagged ones.
 */
#ifndef PETREL_IMAPD_H
#define PETREL_IMAPD_H

#include <openssl/ssl.h>

#include "imap_parse.h"
#include "map.h"
#include "mime.h"
#include "mstore.h"
#include "server.h"
#include "str.h"

/* the hierarchy separator of mailbox names (NAMESPACE, LIST): the store's (Maildir++
 * folders are ".a.b" directories) */
#define IMAPD_SEPARATOR "."

/* session states (RFC 3501 3), as bits so that a command can name several */
#define IMAPD_NOTAUTH 0x1
#define IMAPD_AUTH 0x2
#define IMAPD_SELECTED 0x4
#define IMAPD_LOGOUT 0x8
#define IMAPD_ANY (IMAPD_NOTAUTH | IMAPD_AUTH | IMAPD_SELECTED)

/* the configuration, read once at start-up */
struct imapd_config {
    SSL_CTX *tls;        /* NULL: no TLS configured */
    int wrappermode;     /* implicit TLS */
    struct maps *passwd; /* mailbox_passwd_maps */
    struct imap_limits lim;
    struct mime_limits mime;
    long long login_timeout, autologout_timeout, idle_notify, idle_check;
    int conn_limit; /* imapd_client_connection_count_limit */
    long long auth_failure_delay;
    long long auth_failure_limit, bad_command_limit;
    long long search_key_limit, search_cpu_limit; /* keys; seconds of CPU time */
    const char *banner;
    const char *version;
};

extern struct imapd_config imapd_cfg;

struct session {
    struct server_conn *conn;
    struct stream *s;
    unsigned state;  /* IMAPD_* */
    int tls;         /* TLS is active */
    int trusted_net; /* the client may send passwords without TLS */
    struct str user; /* after authentication */
    unsigned auth_failures;
    unsigned bad_commands;
    const char *end_reason; /* for the disconnect log line */
    /* after authentication */
    struct mstore *store;
    struct mstore_box *box; /* the selected mailbox (IMAPD_SELECTED) */
    int readonly;           /* selected with EXAMINE */
    size_t nkeywords;       /* keywords announced in FLAGS so far */
    int in_sync;            /* imapd_sync is writing untagged updates */
    int eof_probed;         /* imapd_client_gone wrote after the client's FIN */
    /* the command being run */
    struct imap_cmd cmd;
    struct imap_parser p;
    struct str tag;
    const char *name; /* canonical upper-case command name */
    int uid;          /* the command came with the UID prefix */
};

/* responses --------------------------------------------------------------- */
/* imapd_untagged - "* text" */
void imapd_untagged(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* imapd_ok / imapd_no / imapd_bad - the tagged response; code (without brackets) may be NULL */
void imapd_ok(struct session *s, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void imapd_no(struct session *s, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void imapd_bad(struct session *s, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* imapd_bad_syntax - BAD with the parser's reason (or NO [BADCHARSET ...]) */
void imapd_bad_syntax(struct session *s);
/* imapd_bye - "* BYE text", and the session ends after this command */
void imapd_bye(struct session *s, const char *reason, const char *text);
/* imapd_capability - the capability list for the session's state */
void imapd_capability(const struct session *s, struct str *out);
/* imapd_flush - send what is buffered */
int imapd_flush(struct session *s);
/* imapd_client_gone - whether the client has closed the connection, for a long command to
 * stop working for nobody; cheap (one poll). After the client's FIN the first call sends an
 * untagged OK and says no: a client that only half-closed reads it, a closed socket resets,
 * which the next call sees */
int imapd_client_gone(struct session *s);
/* imapd_plaintext_ok - whether a password may be sent now */
int imapd_plaintext_ok(const struct session *s);
/* imapd_set_timeout - the inactivity timeout of the current state */
void imapd_set_timeout(struct session *s);
/* imapd_sync - untagged updates of the selected mailbox (RFC 3501 7.3.1, 7.4.1):
 * EXISTS/RECENT, FLAGS, FETCH (FLAGS) of other sessions' changes and, when
 * allow_expunge, EXPUNGE (never during FETCH, STORE and SEARCH) */
void imapd_sync(struct session *s, int allow_expunge);

/* imapd_box.c: what the mailbox commands share -------------------------------- */
/* imapd_store_open - open the user's mail store after login; 0, or -1 (answered NO) */
int imapd_store_open(struct session *s);
/* imapd_store_close - close the selected mailbox and the store */
void imapd_store_close(struct session *s);
/* imapd_unselect - close the selected mailbox: back to the authenticated state */
void imapd_unselect(struct session *s);
/* imapd_check_name - normalise a mailbox name and check it for the store; 0, or -1
 * (answered NO) */
int imapd_check_name(struct session *s, struct str *name);
/* imapd_store_no - answer NO for a failed store operation (what names the object) */
void imapd_store_no(struct session *s, int r, const char *what);
/* imapd_msg_flags - the flag list of a message, without parentheses */
void imapd_msg_flags(const struct session *s, const struct mstore_msg *m, struct str *out);
/* imapd_send_flags - "* FLAGS (...)" and "* OK [PERMANENTFLAGS (...)]" */
void imapd_send_flags(struct session *s);
/* imapd_seqs - the sequence numbers a set names (UIDs when uid), ascending; -1 (and
 * *bad set) when a message number is beyond the mailbox */
int imapd_seqs(struct session *s, struct imap_seqset *set, int uid, uint32_t **out, size_t *n);
/* imapd_zone - the local time zone offset (minutes east of UTC) at time t */
int imapd_zone(time_t t);
/* imapd_flags_bits - IMAP flag bits as store bits (they are the same bits) */
#define imapd_flags_bits(f) ((f)&MSTORE_F_SYSTEM)

/* commands (one group per file) ------------------------------------------- */
/* cmd_any.c: RFC 3501 6.1 and RFC 2971 */
void cmd_capability(struct session *s);
void cmd_noop(struct session *s);
void cmd_logout(struct session *s);
void cmd_id(struct session *s);
/* cmd_auth.c: RFC 3501 6.2, RFC 4959 */
void cmd_starttls(struct session *s);
void cmd_login(struct session *s);
void cmd_authenticate(struct session *s);
/* cmd_session.c: RFC 5161, RFC 2342, RFC 2177 */
void cmd_enable(struct session *s);
void cmd_namespace(struct session *s);
void cmd_idle(struct session *s);
/* cmd_mailbox.c: RFC 3501 6.3, RFC 4315 APPENDUID */
void cmd_select(struct session *s);
void cmd_create(struct session *s);
void cmd_delete(struct session *s);
void cmd_rename(struct session *s);
void cmd_subscribe(struct session *s);
void cmd_list(struct session *s);
void cmd_status(struct session *s);
void cmd_append(struct session *s);
/* cmd_selected.c: RFC 3501 6.4, RFC 3691, RFC 4315, RFC 6851 */
void cmd_check(struct session *s);
void cmd_close(struct session *s);
void cmd_expunge(struct session *s);
void cmd_copy(struct session *s);
/* cmd_fetch.c: RFC 3501 6.4.5, 6.4.6 */
void cmd_fetch(struct session *s);
void cmd_store(struct session *s);
/* cmd_search.c: RFC 3501 6.4.4 */
void cmd_search(struct session *s);

#endif
