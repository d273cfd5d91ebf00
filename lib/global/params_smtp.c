/*
 * params_smtp.c - parameters of smtp, the SMTP client (remote delivery)
 *
 * Listed in cfg_registry.c; see cfg.h for the table format. Names
 * and defaults follow Postfix smtp(8) where the meaning is the same;
 * smtp_dns_servers, smtp_dns_timeout, smtp_dns_attempts and the two
 * smtp_reply_* limits are Petrel's own. relayhost, transport_maps and the
 * destination limits belong to qmgr, which does the routing.
 */
#include "cfg.h"

const struct cfg_param smtp_params[] = {
    {"smtp_tcp_port", CFG_INT, "25", 1, 65535, 0,
     "The TCP port of remote SMTP servers found by MX or address lookup, and of a next hop "
     "without an explicit :port."},
    {"smtp_helo_name", CFG_STR, "$myhostname", 0, 0, 0,
     "The host name sent in EHLO and HELO."},
    {"smtp_dns_servers", CFG_LIST, "", 0, 0, 0,
     "The DNS servers to ask instead of those of /etc/resolv.conf: up to three of ip, "
     "ip:port or [ipv6]:port (port 53 by default), e.g. a dedicated resolver."},
    {"smtp_dns_timeout", CFG_TIME, "5s", 1, 60, 0,
     "How long to wait for one DNS server's answer before asking again or the next one."},
    {"smtp_dns_attempts", CFG_INT, "2", 1, 5, 0,
     "How many times each DNS server is asked before a lookup fails temporarily."},
    {"smtp_mx_address_limit", CFG_INT, "5", 0, 1000, 0,
     "The most IP addresses tried for one delivery, over all MX hosts (0: no limit)."},
    {"smtp_mx_session_limit", CFG_INT, "2", 0, 1000, 0,
     "The most SMTP sessions (past the greeting and EHLO) tried for one delivery before "
     "the remaining recipients are deferred (0: no limit)."},
    {"smtp_connect_timeout", CFG_TIME, "30s", 1, 3600, 0,
     "How long a TCP connection to a remote server may take."},
    {"smtp_helo_timeout", CFG_TIME, "300s", 1, 3600, 0,
     "How long to wait for the greeting and for replies to EHLO, HELO and AUTH."},
    {"smtp_starttls_timeout", CFG_TIME, "300s", 1, 3600, 0,
     "How long the STARTTLS command and the TLS handshake may take."},
    {"smtp_mail_timeout", CFG_TIME, "300s", 1, 3600, 0,
     "How long to wait for the reply to MAIL FROM (and to RSET before a reused session)."},
    {"smtp_rcpt_timeout", CFG_TIME, "300s", 1, 3600, 0,
     "How long to wait for the reply to each RCPT TO."},
    {"smtp_data_init_timeout", CFG_TIME, "120s", 1, 3600, 0,
     "How long to wait for the reply to DATA."},
    {"smtp_data_xfer_timeout", CFG_TIME, "180s", 1, 3600, 0,
     "How long each write of the message content may be blocked."},
    {"smtp_data_done_timeout", CFG_TIME, "600s", 1, 3600, 0,
     "How long to wait for the reply to the final '.' of the content."},
    {"smtp_quit_timeout", CFG_TIME, "300s", 1, 3600, 0,
     "How long to wait for the reply to QUIT (the answer does not matter)."},
    {"smtp_reply_line_length_limit", CFG_INT, "2048", 512, 65536, 0,
     "The longest reply line accepted from a server, in bytes; a longer one is a protocol "
     "error (the server is treated as broken and the next one is tried)."},
    {"smtp_reply_line_count_limit", CFG_INT, "100", 1, 10000, 0,
     "The most lines of one multi-line reply; a longer reply is a protocol error."},
    {"smtp_line_length_limit", CFG_INT, "998", 0, 1000000, 0,
     "The longest content line sent (RFC 5321 4.5.3.1.6); longer header lines are folded "
     "with CRLF and a space, longer body lines broken with CRLF (0: no limit)."},
    {"disable_mime_output_conversion", CFG_BOOL, "no", 0, 0, 0,
     "yes: never convert content for a server. 8-bit mail for a server without 8BITMIME, "
     "and BINARYMIME mail with binary parts (this client sends no BDAT), then bounce with "
     "5.6.3 instead of going out as quoted-printable or base64 (RFC 6152 3, RFC 3030 3); "
     "Postfix would send them unchanged."},
    {"smtp_connection_cache_time_limit", CFG_TIME, "2s", 0, 3600, 0,
     "How long a session stays open after a delivery, waiting for the next delivery to the "
     "same destination (0: close at once); reused sessions start with RSET."},
    {"smtp_connection_reuse_time_limit", CFG_TIME, "300s", 1, 86400, 0,
     "How long a session may be reused in total before it is closed."},
    {"smtp_tls_security_level", CFG_STR, "may", 0, 0, 0,
     "TLS for outgoing mail: none; may (STARTTLS when offered, plaintext when not or when "
     "the handshake fails); encrypt (TLS required, certificate not checked); verify (TLS "
     "required, the certificate must chain to smtp_tls_CAfile/CApath and name the host)."},
    {"smtp_tls_CAfile", CFG_STR, "", 0, 0, 0,
     "A file of trusted CA certificates (PEM) for the verify level; with neither this nor "
     "smtp_tls_CApath the system's default CA store is used."},
    {"smtp_tls_CApath", CFG_STR, "", 0, 0, 0,
     "A directory of trusted CA certificates (OpenSSL c_rehash form)."},
    {"smtp_tls_policy_maps", CFG_LIST, "", 0, 0, 0,
     "Lookup tables of per-destination TLS levels: the key is the next hop as routed "
     "(domain, [host]:port, host:port), then its parent domains as .parent; the value a level "
     "(none, may, encrypt, verify)."},
    {"smtp_sasl_auth_enable", CFG_BOOL, "no", 0, 0, 0,
     "Authenticate to servers that offer AUTH when smtp_sasl_password_maps has credentials "
     "for them (PLAIN or LOGIN, over TLS only)."},
    {"smtp_sasl_password_maps", CFG_LIST, "", 0, 0, 0,
     "Lookup tables of credentials as 'user:password', keyed by the next hop as routed "
     "([host]:port, domain), then by the server's host name; opened before smtp drops "
     "privileges, so the table may belong to root."},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};
