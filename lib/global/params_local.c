/*
 * params_local.c - parameters of local
 *
 * Listed in cfg_registry.c; see cfg.h for the table format. Names
 * and defaults follow Postfix local(8) and virtual(8) where the meaning is
 * the same. forward_path is expanded by local itself at delivery time
 * ($home, $user, $extension, ...), so its value is read unexpanded.
 */
#include "cfg.h"

const struct cfg_param local_params[] = {
    {"home_mailbox", CFG_STR, "Maildir/", 0, 0, 0,
     "The mailbox of a local user, relative to the home directory: a Maildir when it ends "
     "in '/', else an mbox file; empty: an mbox file in $mail_spool_directory."},
    {"mail_spool_directory", CFG_STR, "/var/mail", 0, 0, 0,
     "The directory of mbox files named after local users, used when $home_mailbox is empty "
     "(a trailing '/' makes them Maildirs)."},
    {"mailbox_size_limit", CFG_SIZE, "51200000", 0, 1LL << 50, 0,
     "The largest a local mbox file may grow, or a single Maildir message may be, in bytes "
     "(0: no limit); over the limit the message bounces with 5.2.2."},
    {"virtual_mailbox_limit", CFG_SIZE, "51200000", 0, 1LL << 50, 0,
     "The same limit for virtual mailboxes (0: no limit)."},
    {"virtual_minimum_uid", CFG_INT, "100", 1, 2147483647, 0,
     "The smallest uid that virtual_uid_maps may give a virtual mailbox."},
    {"allow_mail_to_commands", CFG_LIST, "alias, forward", 0, 0, 0,
     "Where |command destinations are allowed: alias (alias_maps), forward (.forward files), "
     "include (:include: files)."},
    {"allow_mail_to_files", CFG_LIST, "alias, forward", 0, 0, 0,
     "Where /file destinations are allowed: alias, forward, include."},
    {"forward_path", CFG_LIST, "$home/.forward${recipient_delimiter}${extension}, $home/.forward",
     0, 0, 0,
     "The .forward files of a local user, tried in order; $home, $user, $extension, "
     "$recipient_delimiter, $local, $domain are the recipient's."},
    {"command_time_limit", CFG_TIME, "1000s", 1, 86400, 0,
     "How long a |command delivery may run before it is killed and the delivery deferred."},
    {"local_command_shell", CFG_STR, "/bin/sh", 0, 0, 0,
     "The shell that runs |command deliveries (as shell -c command)."},
    {"mailbox_delivery_lock", CFG_LIST, "fcntl, dotlock", 0, 0, 0,
     "How mbox files are locked during delivery: fcntl and/or dotlock (file.lock)."},
    {"deliver_lock_attempts", CFG_INT, "20", 1, 1000, 0,
     "How many times to try to lock an mbox file before the delivery is deferred."},
    {"deliver_lock_delay", CFG_TIME, "1s", 1, 3600, 0, "The time between mbox lock attempts."},
    {"stale_lock_time", CFG_TIME, "500s", 1, 86400, 0,
     "A dotlock file older than this is considered stale and removed."},
    {"prepend_delivered_header", CFG_LIST, "command, file, forward", 0, 0, 0,
     "Besides mailboxes, where a Delivered-To: header is added: command, file, forward."},
    {"hopcount_limit", CFG_INT, "50", 1, 10000, 0,
     "Mail with more Received: headers than this bounces as a loop (5.4.6)."},
    {"owner_request_special", CFG_BOOL, "yes", 0, 0, 0,
     "Whether an owner-name alias becomes the envelope sender (the error address) of mail "
     "expanded through alias name."},
    {"duplicate_filter_limit", CFG_INT, "1000", 1, 1000000, 0,
     "The most expansion targets of one recipient remembered to suppress duplicates, and the "
     "most targets one recipient may expand to."},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};
