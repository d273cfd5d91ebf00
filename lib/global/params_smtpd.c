/*
 * params_smtpd.c - parameters of smtpd
 *
 * Listed in cfg_registry.c; see cfg.h for the table format. Names
 * and defaults are Postfix's where the meaning is the same; where Petrel
 * is stricter by default (smtpd_tls_auth_only, smtpd_forbid_bare_newline,
 * disable_vrfy_command) the text says so.
 */
#include "cfg.h"

const struct cfg_param smtpd_params[] = {
    {"smtpd_banner", CFG_STR, "$myhostname ESMTP $mail_name", 0, 0, 0,
     "The text after \"220\" in the SMTP greeting. RFC 5321 wants the host name first."},
    {"smtpd_timeout", CFG_TIME, "300s", 1, 3600, 0,
     "Time limit for reading one command or piece of message content from an SMTP client, "
     "and for sending it a reply; after it the client gets 421 4.4.2 and is disconnected."},
    {"smtpd_per_request_deadline", CFG_BOOL, "yes", 0, 0, 0,
     "With yes, a whole DATA transfer (and each BDAT chunk) must arrive within "
     "$smtpd_timeout, pushed back by the time $smtpd_min_data_rate allows for the bytes "
     "received, so that a client sending a line now and then cannot hold a process; with no "
     "each content line has its own $smtpd_timeout. A command line always has one deadline."},
    {"smtpd_min_data_rate", CFG_INT, "500", 0, 1000000000, 0,
     "The slowest DATA/BDAT transfer in bytes per second that smtpd_per_request_deadline "
     "tolerates: each N bytes received add N / this many seconds to the deadline (0: none)."},
    {"smtpd_stress_timeout", CFG_TIME, "10s", 1, 3600, 0,
     "$smtpd_timeout while the service is overloaded (every process busy at its limit; "
     "master logs the start and end of this stress mode), also for reads already waiting: "
     "Postfix's smtpd_timeout = ${stress?{10}:{300}}."},
    {"smtpd_line_length_limit", CFG_INT, "2048", 512, 1048576, 0,
     "The longest SMTP command line accepted, CRLF not counted (RFC 5321 allows 512 plus "
     "extensions); a longer one gets 500 5.5.2."},
    {"smtpd_recipient_limit", CFG_INT, "1000", 1, 1000000, 0,
     "The most recipients accepted in one message; more get 452 4.5.3 (RFC 5321 4.5.3.1.10)."},
    {"smtpd_hard_error_limit", CFG_INT, "20", 1, 10000, 0,
     "After this many error replies (4xx/5xx) without a message accepted, the client gets 421 "
     "4.7.0 and is disconnected."},
    {"smtpd_soft_error_limit", CFG_INT, "10", 1, 10000, 0,
     "After this many error replies without a message accepted, every further error reply is "
     "delayed by $smtpd_error_sleep_time."},
    {"smtpd_error_sleep_time", CFG_TIME, "1s", 0, 300, 0,
     "The delay before each error reply once a client has made more than "
     "$smtpd_soft_error_limit errors."},
    {"smtpd_junk_command_limit", CFG_INT, "100", 1, 100000, 0,
     "NOOP, RSET, VRFY, HELP and EXPN commands beyond this many in one connection count as "
     "errors."},
    {"smtpd_client_connection_count_limit", CFG_INT, "50", 0, 100000, 0,
     "The most simultaneous connections one client address may have to one smtpd service "
     "(0: no limit); more get 421 4.7.0."},
    {"smtpd_client_event_limit_exceptions", CFG_LIST, "$mynetworks", 0, 0, 0,
     "Client networks (CIDR or tables) exempt from smtpd_client_connection_count_limit."},
    {"header_size_limit", CFG_SIZE, "102400", 1024, 1LL << 30, 0,
     "The largest single message header (with its continuation lines) accepted; a message "
     "with a larger one gets 552 5.3.4."},
    {"smtpd_client_restrictions", CFG_LIST, "", 0, 0, 0,
     "Restrictions on the client host, evaluated at RCPT TO time (as Postfix does with "
     "smtpd_delay_reject = yes)."},
    {"smtpd_helo_restrictions", CFG_LIST, "", 0, 0, 0,
     "Restrictions on the HELO/EHLO name, evaluated at RCPT TO time."},
    {"smtpd_sender_restrictions", CFG_LIST, "", 0, 0, 0,
     "Restrictions on the MAIL FROM address, evaluated at RCPT TO time."},
    {"smtpd_relay_restrictions", CFG_LIST,
     "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination", 0, 0, 0,
     "Relay control, evaluated for each RCPT TO before smtpd_recipient_restrictions: by "
     "default only mynetworks and authenticated clients may send outside our domains."},
    {"smtpd_recipient_restrictions", CFG_LIST, "", 0, 0, 0,
     "Restrictions on each RCPT TO address (spam policy), after smtpd_relay_restrictions."},
    {"smtpd_reject_unlisted_recipient", CFG_BOOL, "yes", 0, 0, 0,
     "Reject (550 5.1.1) a recipient in one of our domains that no alias, local user or "
     "virtual table knows, at RCPT TO time instead of bouncing it later."},
    {"smtpd_reject_unlisted_sender", CFG_BOOL, "no", 0, 0, 0,
     "Reject a MAIL FROM address in one of our domains that no table knows."},
    {"local_recipient_maps", CFG_LIST, "unix:passwd.byname $alias_maps", 0, 0, 0,
     "Tables of the users of the mydestination domains (looked up by local part, with and "
     "without its extension); empty accepts every local part."},
    {"relay_recipient_maps", CFG_LIST, "", 0, 0, 0,
     "Tables of the valid recipients in relay_domains (user@domain or @domain); empty "
     "accepts every recipient there."},
    {"smtpd_sender_login_maps", CFG_LIST, "", 0, 0, 0,
     "Tables from a MAIL FROM address (or @domain) to the AUTH user names allowed to use it, "
     "for reject_sender_login_mismatch and its variants."},
    {"unknown_local_recipient_reject_code", CFG_INT, "550", 400, 599, 0,
     "The reply code for an unknown recipient in a local or virtual domain (450 while "
     "testing a new table)."},
    {"unknown_address_reject_code", CFG_INT, "450", 400, 599, 0,
     "The reply code of reject_unknown_sender_domain and reject_unknown_recipient_domain when "
     "the domain has no MX and no address record."},
    {"smtpd_helo_required", CFG_BOOL, "no", 0, 0, 0,
     "Require HELO or EHLO before MAIL FROM (503 5.5.1 otherwise)."},
    {"disable_vrfy_command", CFG_BOOL, "yes", 0, 0, 0,
     "Answer VRFY with 252 2.0.0 without saying whether the address exists (Petrel's "
     "default; Postfix's is no). With no, VRFY checks the address like RCPT TO."},
    {"smtpd_peername_lookup", CFG_BOOL, "yes", 0, 0, 0,
     "Look up the client's host name (PTR, confirmed by a forward lookup); otherwise every "
     "client is \"unknown\"."},
    {"smtpd_forbid_bare_newline", CFG_STR, "reject", 0, 0, 0,
     "What to do with a bare LF or CR in DATA (and a command ending in bare LF): 'reject' "
     "(550 5.5.2 after the message, Petrel's default) or 'normalize' (store a bare LF as CRLF). "
     "In both modes only CRLF.CRLF ends DATA, which defeats SMTP smuggling."},
    {"smtpd_forbid_bare_newline_exclusions", CFG_LIST, "$mynetworks", 0, 0, 0,
     "Clients for which smtpd_forbid_bare_newline = reject acts as normalize."},
    {"smtpd_forbidden_commands", CFG_LIST, "CONNECT GET POST", 0, 0, 0,
     "Commands that close the connection at once (HTTP and proxy requests sent to the SMTP "
     "port)."},
    {"smtpd_discard_ehlo_keywords", CFG_LIST, "", 0, 0, 0,
     "EHLO keywords not to announce, and whose MAIL parameters are then refused "
     "(e.g. CHUNKING, PIPELINING, DSN, SMTPUTF8)."},
    {"strict_rfc821_envelopes", CFG_BOOL, "no", 0, 0, 0,
     "Require RFC 5321 syntax exactly in MAIL FROM and RCPT TO: angle brackets, no space "
     "after the colon, a domain (except for postmaster)."},
    {"smtputf8_enable", CFG_BOOL, "yes", 0, 0, 0,
     "Announce SMTPUTF8 (RFC 6531) and accept UTF-8 addresses in transactions that declare "
     "it."},
    {"smtpd_tls_security_level", CFG_STR, "none", 0, 0, 0,
     "TLS in the SMTP server: 'none', 'may' (offer STARTTLS) or 'encrypt' (require it before "
     "MAIL and AUTH: 530 5.7.0)."},
    {"smtpd_tls_cert_file", CFG_STR, "", 0, 0, 0,
     "The server certificate (PEM, with the chain after it) for STARTTLS and wrapper mode."},
    {"smtpd_tls_key_file", CFG_STR, "$smtpd_tls_cert_file", 0, 0, 0,
     "The private key of the server certificate (PEM; read as root before privileges are "
     "dropped)."},
    {"smtpd_tls_wrappermode", CFG_BOOL, "no", 0, 0, 0,
     "TLS from the first byte instead of STARTTLS: the submissions service on port 465 "
     "(RFC 8314)."},
    {"smtpd_tls_auth_only", CFG_BOOL, "yes", 0, 0, 0,
     "Offer and accept AUTH only over TLS (Petrel's default; Postfix's is no), so that "
     "passwords never cross the network in clear text."},
    {"smtpd_tls_received_header", CFG_BOOL, "yes", 0, 0, 0,
     "Show the TLS protocol and cipher in the Received: header."},
    {"smtpd_sasl_auth_enable", CFG_BOOL, "yes", 0, 0, 0,
     "Offer SMTP AUTH (PLAIN, LOGIN) against mailbox_passwd_maps."},
    {"smtpd_sasl_auth_required", CFG_BOOL, "no", 0, 0, 0,
     "Refuse MAIL FROM with 530 5.7.0 until the client has authenticated (set by the "
     "submission services in master.cf)."},
    {"smtpd_sasl_authenticated_header", CFG_BOOL, "no", 0, 0, 0,
     "Show the authenticated user name in the Received: header."},
    {"smtpd_sasl_failure_limit", CFG_INT, "3", 1, 1000, 0,
     "After this many failed AUTH attempts in one connection the client gets 421 4.7.0 and "
     "is disconnected."},
    {"smtpd_sasl_failure_delay", CFG_TIME, "2s", 0, 60, 0,
     "The delay before the reply to a failed AUTH attempt (slows down password guessing)."},
    {"local_header_rewrite_clients", CFG_LIST, "permit_mynetworks, permit_sasl_authenticated",
     0, 0, 0,
     "Clients whose messages get a Date:, Message-Id: and From: header when one is missing: "
     "permit_mynetworks, permit_sasl_authenticated, permit_inet_interfaces, static:all."},
    {"always_add_missing_headers", CFG_BOOL, "no", 0, 0, 0,
     "Add missing Date:, Message-Id: and From: headers to mail from every client."},
    {"queue_minfree", CFG_SIZE, "0", 0, 1LL << 50, 0,
     "Free space the queue file system must keep: MAIL FROM gets 452 4.3.1 while less than "
     "max($queue_minfree, 1.5 x $message_size_limit) is free, or when the declared SIZE "
     "(times 1.5) plus $queue_minfree does not fit (as Postfix)."},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};
