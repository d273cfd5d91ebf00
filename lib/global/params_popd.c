/*
 * params_popd.c - parameters of popd
 *
 * Listed in cfg_registry.c; see cfg.h for the table format.
 * plaintext_auth_networks is meant for imapd too (one policy for both).
 */
#include "cfg.h"

const struct cfg_param popd_params[] = {
    {"popd_banner", CFG_STR, "$myhostname POP3 server ready", 0, 0, 0,
     "The text after +OK in the POP3 greeting."},
    {"popd_tls_cert_file", CFG_STR, "", 0, 0, 0,
     "PEM file with the POP3 server certificate (and chain). Empty: no STLS and no POP3S. "
     "Read as root before popd gives up its privileges."},
    {"popd_tls_key_file", CFG_STR, "$popd_tls_cert_file", 0, 0, 0,
     "PEM file with the private key of $popd_tls_cert_file."},
    {"popd_tls_ciphers", CFG_STR, "", 0, 0, 0,
     "OpenSSL cipher list for TLS 1.2 (empty: Petrel's built-in modern list)."},
    {"popd_tls_wrappermode", CFG_BOOL, "no", 0, 0, 0,
     "Implicit TLS from the first byte (POP3S, port 995): set with -o in master.cf."},
    {"plaintext_auth_networks", CFG_LIST, "$mynetworks", 0, 0, 0,
     "Client networks (CIDR) allowed to send a password without TLS (POP3 USER/PASS and "
     "AUTH PLAIN, IMAP LOGIN and AUTHENTICATE PLAIN). Others must use STLS/STARTTLS or the "
     "implicit TLS port first. Set to \"0.0.0.0/0 [::]/0\" to allow everyone, empty to "
     "allow no one."},
    {"popd_apop_enable", CFG_BOOL, "no", 0, 0, 0,
     "Offer APOP (RFC 1939 7). APOP needs each user's secret in recoverable form, so it "
     "works only for users listed in $popd_apop_secret_maps; the crypt(3) hashes of "
     "$mailbox_passwd_maps cannot serve it."},
    {"popd_apop_secret_maps", CFG_LIST, "", 0, 0, 0,
     "Lookup tables from user@domain to the plain-text APOP secret. Keep them readable by "
     "the virtual mailbox user only."},
    {"popd_timeout", CFG_TIME, "10m", 1, 86400, 0,
     "Idle time after which a POP3 session is closed without UPDATE (RFC 1939 autologout: "
     "at least 10 minutes is what clients may rely on)."},
    {"popd_login_timeout", CFG_TIME, "30s", 1, 3600, 0,
     "Time allowed without input before a login succeeds (the TLS handshake of POP3S "
     "included); then the connection is closed. After login popd_timeout applies. Short, "
     "so that idle unauthenticated connections cannot hold every popd process."},
    {"popd_client_connection_count_limit", CFG_INT, "10", 0, 100000, 0,
     "The most simultaneous connections one client address may have to one popd service "
     "(0: no limit); one more gets \"-ERR [SYS/TEMP]\" in place of the greeting (on a "
     "POP3S service the connection is closed before the TLS handshake)."},
    {"popd_client_event_limit_exceptions", CFG_LIST, "$mynetworks", 0, 0, 0,
     "Client networks (CIDR) exempt from popd_client_connection_count_limit."},
    {"popd_command_line_limit", CFG_SIZE, "512", 255, 65536, 0,
     "The longest POP3 command line accepted, CRLF included (RFC 2449 requires 255)."},
    {"popd_sasl_line_limit", CFG_SIZE, "4096", 255, 1048576, 0,
     "The longest SASL response line (after \"+ \") accepted in POP3 AUTH."},
    {"popd_error_limit", CFG_INT, "10", 1, 1000, 0,
     "Invalid or unknown commands accepted in one POP3 session before it is closed."},
    {"popd_login_failure_limit", CFG_INT, "3", 1, 100, 0,
     "Failed logins accepted in one POP3 session; the next one closes the connection."},
    {"popd_login_failure_delay", CFG_TIME, "2s", 0, 60, 0,
     "Delay before the reply to a failed login."},
    {"popd_login_delay", CFG_TIME, "0s", 0, 86400, 0,
     "Minimum time between two logins of the same user (RFC 2449 LOGIN-DELAY, advertised "
     "in CAPA when not 0); an earlier login gets -ERR [LOGIN-DELAY]."},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};
