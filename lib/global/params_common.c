/*
 * params_common.c - parameters shared by several Petrel programs
 *
 * Names follow Postfix wherever the meaning is the same. Installation paths
 * come from configure (PETREL_*_DIR). A program's own parameters live in
 * own table (params_<program>.c beside this file); all tables are listed in
 * cfg_registry.c.
 */
#include "cfg.h"

#ifndef PETREL_CONFIG_DIR
#define PETREL_CONFIG_DIR "/etc/petrel"
#endif
#ifndef PETREL_QUEUE_DIR
#define PETREL_QUEUE_DIR "/var/spool/petrel"
#endif
#ifndef PETREL_DAEMON_DIR
#define PETREL_DAEMON_DIR "/usr/libexec/petrel"
#endif
#ifndef PETREL_COMMAND_DIR
#define PETREL_COMMAND_DIR "/usr/sbin"
#endif
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

const struct cfg_param cfg_common_params[] = {
    {"config_directory", CFG_STR, PETREL_CONFIG_DIR, 0, 0, CFG_F_BUILDPATH,
     "The directory with main.cf and master.cf: $sysconfdir/petrel (/etc/petrel in a default "
     "build). Use -c or MAIL_CONFIG to select another."},
    {"queue_directory", CFG_STR, PETREL_QUEUE_DIR, 0, 0, CFG_F_BUILDPATH,
     "The root of the mail queue: maildrop, incoming, active, deferred, hold, corrupt, "
     "defer, bounce, private, public and pid ($localstatedir/spool/petrel, "
     "/var/spool/petrel in a default build)."},
    {"daemon_directory", CFG_STR, PETREL_DAEMON_DIR, 0, 0, CFG_F_BUILDPATH,
     "The directory with the daemon programs that master starts ($libexecdir/petrel)."},
    {"command_directory", CFG_STR, PETREL_COMMAND_DIR, 0, 0, CFG_F_BUILDPATH,
     "The directory with the administrative commands ($sbindir)."},
    {"mail_owner", CFG_STR, "petrel", 0, 0, 0,
     "The unprivileged user that owns the queue and runs the daemons. Must not be root and "
     "must not own any other files."},
    {"setgid_group", CFG_STR, "petreldrop", 0, 0, 0,
     "The group of the set-gid submission helper and of the maildrop and public "
     "directories."},
    {"default_privs", CFG_STR, "nobody", 0, 0, 0,
     "The user that runs external commands and file deliveries for aliases when no owner "
     "applies. Never root."},
    {"mail_name", CFG_STR, "Petrel", 0, 0, 0, "The mail system name shown in the SMTP banner."},
    {"mail_version", CFG_STR, PACKAGE_VERSION, 0, 0, 0, "The version of the mail system."},
    {"myhostname", CFG_STR, NULL, 0, 0, CFG_F_DYNAMIC,
     "The fully-qualified host name of this mail system (default: the system's)."},
    {"mydomain", CFG_STR, NULL, 0, 0, CFG_F_DYNAMIC,
     "The internet domain of this mail system (default: $myhostname minus its first "
     "label)."},
    {"myorigin", CFG_STR, "$myhostname", 0, 0, 0,
     "The domain appended to unqualified addresses in locally submitted mail."},
    {"mydestination", CFG_LIST, "$myhostname, localhost.$mydomain, localhost", 0, 0, 0,
     "The domains delivered by the local transport (Unix users and aliases)."},
    {"mynetworks", CFG_LIST, "127.0.0.0/8 [::1]/128", 0, 0, 0,
     "Trusted client networks (CIDR), allowed to relay by permit_mynetworks. The default "
     "trusts only the loopback addresses."},
    {"inet_interfaces", CFG_LIST, "all", 0, 0, 0,
     "The addresses inet services listen on when master.cf names only a port: 'all', "
     "'loopback-only' or a list of addresses."},
    {"inet_protocols", CFG_LIST, "all", 0, 0, 0,
     "The IP versions to use: 'all', 'ipv4', 'ipv6' or 'ipv4, ipv6'."},
    {"relay_domains", CFG_LIST, "", 0, 0, 0,
     "Domains this host relays mail to (besides its own) from any client."},
    {"recipient_delimiter", CFG_STR, "+", 0, 0, 0,
     "The separator between a user name and an address extension (user+ext). Empty "
     "disables extensions."},
    {"stress_login_timeout", CFG_TIME, "10s", 1, 3600, 0,
     "While a POP3 or IMAP service is overloaded (every process busy at its limit: master's "
     "stress mode), the longest a client that has not logged in yet may take over each "
     "command, also one it is sending already."},
    {"message_size_limit", CFG_SIZE, "10485760", 0, 1LL << 40, 0,
     "The largest message accepted, in bytes, envelope and headers included."},
    {"alias_maps", CFG_LIST, "hash:$config_directory/aliases", 0, 0, 0,
     "Lookup tables with the aliases of local recipients (aliases(5) format)."},
    {"virtual_alias_maps", CFG_LIST, "", 0, 0, 0,
     "Lookup tables that rewrite recipient addresses (user@domain, user or @domain keys) to "
     "one or more other addresses."},
    {"virtual_mailbox_domains", CFG_LIST, "", 0, 0, 0,
     "Domains whose users have virtual mailboxes (no Unix account)."},
    {"virtual_mailbox_maps", CFG_LIST, "", 0, 0, 0,
     "Lookup tables from user@domain to a Maildir path (ending in /) relative to "
     "$virtual_mailbox_base."},
    {"virtual_mailbox_base", CFG_STR, "/var/mail/vhosts", 0, 0, 0,
     "The directory under which virtual mailboxes live (the store popd and imapd serve)."},
    {"virtual_uid_maps", CFG_LIST, "", 0, 0, 0,
     "Lookup tables giving the uid that owns a virtual mailbox (e.g. static:5000)."},
    {"virtual_gid_maps", CFG_LIST, "", 0, 0, 0,
     "Lookup tables giving the gid that owns a virtual mailbox (e.g. static:5000)."},
    {"mailbox_passwd_maps", CFG_LIST, "hash:$config_directory/passwd", 0, 0, 0,
     "Lookup tables of mailbox users (user@domain) and their password hashes (yescrypt or "
     "SHA-512 crypt), used by SMTP AUTH, POP3 and IMAP; managed by petrel-passwd."},
    {"syslog_name", CFG_STR, "petrel", 0, 0, 0,
     "The prefix of every log line's program name (petrel/smtpd)."},
    {"maillog_file", CFG_STR, "", 0, 0, 0,
     "Write log lines to this file instead of syslog (empty: syslog, facility mail)."},
    {"import_environment", CFG_LIST,
     "MAIL_CONFIG MAIL_DEBUG TZ LANG=C ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS", 0, 0, 0,
     "Environment variables that master passes to its children (NAME or NAME=value); all "
     "others are removed."},
    {"ipc_timeout", CFG_TIME, "3600s", 1, 86400, 0,
     "Time limit for one read or write on an internal communication channel."},
    {"ipc_attr_size_limit", CFG_SIZE, "65536", 64, 1LL << 30, 0,
     "The largest attribute (name or value) accepted in an internal request."},
    {"ipc_request_size_limit", CFG_SIZE, "4194304", 1024, 1LL << 31, 0,
     "The largest internal request accepted, all attributes together."},
    {"max_use", CFG_INT, "100", 1, 1000000, 0,
     "The number of connections a pooled daemon serves before it exits (and master starts a "
     "fresh one)."},
    {"max_idle", CFG_TIME, "100s", 1, 86400, 0,
     "How long a pooled daemon waits for a connection before it exits."},
    {"mime_nesting_limit", CFG_INT, "50", 1, 1000, 0,
     "Deepest nesting of multiparts and attached messages that the MIME parser splits; "
     "anything deeper stays one opaque part."},
    {"mime_part_limit", CFG_INT, "5000", 1, 1000000, 0,
     "Most MIME parts the parser splits one message into."},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};
