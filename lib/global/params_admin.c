/*
 * params_admin.c - parameters of the submission and queue administration commands
 *
 * Listed in cfg_registry.c; see cfg.h for the table format.
 */
#include "cfg.h"

const struct cfg_param admin_params[] = {
    {"alternate_config_directories", CFG_LIST, "", 0, 0, 0,
     "Configuration directories besides the default one that the set-gid commands "
     "(petrel-drop, petrel-queue) accept from an ordinary user with -c or MAIL_CONFIG. "
     "Read from the default main.cf only. A directory owned by root, with a main.cf owned "
     "by root, neither writable by group or others nor a symbolic link, is accepted too "
     "(judged and read through descriptors, so it cannot be swapped meanwhile)."},
    {"authorized_submit_users", CFG_LIST, "static:anyone", 0, 0, 0,
     "Local users allowed to submit mail with sendmail: static:anyone, user names, or "
     "lookup tables keyed by user name. root and mail_owner are always allowed."},
    {"authorized_mailq_users", CFG_LIST, "static:anyone", 0, 0, 0,
     "Local users allowed to list the queue (mailq, petrel-queue -p and -j); same form as "
     "authorized_submit_users."},
    {"authorized_flush_users", CFG_LIST, "static:anyone", 0, 0, 0,
     "Local users allowed to flush the queue (petrel-queue -f, -s, -i; sendmail -q); same "
     "form as authorized_submit_users."},
    {"alias_database", CFG_LIST, "hash:$config_directory/aliases", 0, 0, 0,
     "The alias tables that newaliases (sendmail -bi) rebuilds from their text files."},
    {"submit_recipient_limit", CFG_INT, "1000", 1, 1000000, 0,
     "The most recipients of one locally submitted message (sendmail, maildrop files)."},
    {"stale_queue_file_time", CFG_TIME, "6h", 600, 30 * 86400, 0,
     "petrel-super -s removes incomplete files (a writer killed before its commit: mail "
     "never acknowledged) from incoming/ and maildrop/ once they are this old; pickup removes "
     "maildrop/.tmp.* files of a killed sendmail once unchanged for this long (a sendmail "
     "reading a terminal may write rarely), with a log line each."},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};
