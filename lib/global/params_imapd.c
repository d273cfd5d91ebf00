/*
 * params_imapd.c - parameters of imapd (and of the MIME parser it brought)
 *
 * Listed in cfg_registry.c; see cfg.h for the table format. Names
 * follow Postfix (smtpd_tls_cert_file, smtpd_tls_wrappermode) and Dovecot
 * (imap_max_line_length) where the meaning is the same, and popd for the login
 * and error limits (popd_login_failure_limit, ...), so that both servers read alike.
 */
#include "cfg.h"

const struct cfg_param imapd_params[] = {
    {"imapd_banner", CFG_STR, "$mail_name ready.", 0, 0, 0,
     "The text of the IMAP greeting after \"* OK [CAPABILITY ...]\"."},
    {"imapd_tls_cert_file", CFG_STR, "", 0, 0, 0,
     "PEM file with the server certificate chain for STARTTLS and implicit TLS. Empty: no "
     "TLS (STARTTLS is not offered)."},
    {"imapd_tls_key_file", CFG_STR, "$imapd_tls_cert_file", 0, 0, 0,
     "PEM file with the private key of imapd_tls_cert_file."},
    {"imapd_tls_ciphers", CFG_STR, "", 0, 0, 0,
     "OpenSSL cipher list for TLS 1.2 (empty: Petrel's modern default)."},
    {"imapd_tls_wrappermode", CFG_BOOL, "no", 0, 0, 0,
     "Implicit TLS (port 993, RFC 8314): the TLS handshake comes before the greeting. Set "
     "with -o in master.cf for the imaps service."},
    {"imapd_login_failure_delay", CFG_TIME, "2s", 0, 60, 0,
     "Delay before answering a failed login, against password guessing."},
    {"imapd_login_failure_limit", CFG_INT, "3", 1, 1000, 0,
     "Failed logins in one connection: the one that reaches this number is answered NO, "
     "then BYE."},
    {"imapd_error_limit", CFG_INT, "20", 1, 100000, 0,
     "Invalid commands (answered BAD) in one connection: the one that reaches this number is "
     "followed by BYE."},
    {"imapd_command_size_limit", CFG_SIZE, "65536", 1024, 1LL << 28, 0,
     "Largest command text (literals excluded). A longer command is answered BAD; one more "
     "than four times as long ends the connection."},
    {"imapd_literal_size_limit", CFG_SIZE, "65536", 0, 1LL << 30, 0,
     "Largest total size of the literals of one command other than APPEND's message (which "
     "message_size_limit bounds). Over it: BAD; four times over: BYE."},
    {"imapd_literal_spool_threshold", CFG_SIZE, "1m", 1024, 1LL << 40, 0,
     "Literals at least this big are kept in an unlinked temporary file, not in memory."},
    {"imapd_nesting_limit", CFG_INT, "32", 2, 1000, 0,
     "Deepest nesting of parenthesised lists and SEARCH keys in a command."},
    {"imapd_search_key_limit", CFG_INT, "1000", 1, 1000000, 0,
     "Search keys in one SEARCH command (each key, NOT, OR and parenthesised list counts "
     "one). More: NO [LIMIT], and the session goes on."},
    {"imapd_search_cpu_limit", CFG_TIME, "60s", 1, 86400, 0,
     "CPU time one SEARCH command may use (BODY and TEXT keys read every message). More: "
     "the search stops with NO [LIMIT], and the session goes on."},
    {"imapd_login_timeout", CFG_TIME, "30s", 1, 3600, 0,
     "Time allowed without input before authentication (the TLS handshake of IMAPS "
     "included); then BYE. Short, so that idle unauthenticated connections cannot hold "
     "every imapd process; imapd_autologout_timeout applies after login."},
    {"imapd_client_connection_count_limit", CFG_INT, "20", 0, 100000, 0,
     "The most simultaneous connections one client address may have to one imapd service "
     "(0: no limit); one more gets \"* BYE [UNAVAILABLE]\" in place of the greeting (on an "
     "IMAPS service the connection is closed before the TLS handshake)."},
    {"imapd_client_event_limit_exceptions", CFG_LIST, "$mynetworks", 0, 0, 0,
     "Client networks (CIDR) exempt from imapd_client_connection_count_limit."},
    {"imapd_autologout_timeout", CFG_TIME, "30m", 1800, 86400, 0,
     "Time allowed without input after authentication, IDLE included; then BYE "
     "(RFC 3501 5.4: at least 30 minutes)."},
    {"imapd_idle_notify_interval", CFG_TIME, "2m", 1, 3600, 0,
     "During IDLE, send \"* OK Still here\" this often (keeps NAT and firewall state)."},
    {"imapd_idle_check_interval", CFG_TIME, "1s", 1, 600, 0,
     "During IDLE without inotify, look for new mail and changes by other sessions this "
     "often (a look costs one read and two stats). With inotify, changes wake IDLE at once."},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};
