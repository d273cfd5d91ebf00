/*
 * tool.h - shared start-up of the administrative commands
 *
 * Commands find their configuration directory the Postfix way: -c DIR,
 * else $MAIL_CONFIG, else the compiled-in default. They log to stderr
 * (and to syslog/maillog_file once the configuration is read, like
 * Postfix's commands) and exit 1 with one clear line on error.
 */
#ifndef PETREL_TOOL_H
#define PETREL_TOOL_H

#include <sys/types.h>

#include "cfg.h"
#include "str.h"

/* tool_init - program name for messages */
void tool_init(const char *prog);
/* tool_confdir - -c value, else $MAIL_CONFIG, else the default */
const char *tool_confdir(const char *opt);
/* tool_load - read DIR/main.cf into cfg_main; errors are fatal unless tolerant
 * (then they are printed); a missing main.cf is fatal unless optional */
void tool_load(const char *confdir, int optional, int tolerant);
/* tool_die - print "prog: fatal: message" and exit 1 */
_Noreturn void tool_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* tool_usage_error - print a usage hint and exit 2 */
_Noreturn void tool_usage(const char *usage);

/* tool_load_trusted - tool_load() for a set-gid program on behalf of its real user:
 * any confdir for root or when no privilege was gained; else the default directory,
 * one listed in alternate_config_directories of the default main.cf, or a directory
 * owned by root whose main.cf is owned by root, neither writable by group or others.
 * That last case is judged without following a symbolic link and without a race:
 * the directory is opened (O_NOFOLLOW) and fstat'ed, main.cf opened relative to it
 * (O_NOFOLLOW) and fstat'ed, and the configuration read from that very descriptor.
 * -1 with why set when not trusted (nothing loaded). */
int tool_load_trusted(const char *confdir, struct str *why);
/* tool_user_allowed - whether the user uid passes the list parameter param
 * (authorized_*_users: static:anyone, user names, tables keyed by user name);
 * root and mail_owner always pass. 0 with why set when not. */
int tool_user_allowed(enum cfg_list_param param, uid_t uid, struct str *why);
/* tool_is_admin - the real user is root or mail_owner */
int tool_is_admin(void);

#endif
