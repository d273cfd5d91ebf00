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

#endif
