/*
 * log.h - logging in the Postfix manner
 *
 * One line per event: "petrel/PROG[PID]: text". Destinations: stderr
 * (foreground, tools), syslog facility mail (production) and/or a plain file
 * (maillog_file, handy for containers and tests). Bytes that are not
 * printable (printable() in str.h: controls, C1 controls, malformed UTF-8) are
 * shown as '?', so network input can neither forge log lines nor reach the
 * terminal of an admin who reads the log.
 *
 * Tiers (STYLE.md): log_warn for recoverable trouble, log_fatal when the
 * environment is broken (exit 1; master restarts the process), log_panic
 * for a broken invariant (abort with a core dump).
 */
#ifndef PETREL_LOG_H
#define PETREL_LOG_H

#include <stdarg.h>

#define LOG_DEST_STDERR 1
#define LOG_DEST_SYSLOG 2
#define LOG_DEST_FILE 4

/* log_init - set the program name ("smtpd" -> "petrel/smtpd") and destinations */
void log_init(const char *prog, int dests);
/* log_set_file - (re)open a maillog file and add LOG_DEST_FILE; -1 on error. The last
 * component is not followed when it is a symbolic link (O_NOFOLLOW), and the file must be
 * a regular file with one link (EINVAL otherwise); "/dev/stdout" and "/dev/stderr" name
 * the process's own output. */
int log_set_file(const char *path);
/* log_set_dests - replace the destination mask */
void log_set_dests(int dests);
int log_get_dests(void);
/* log_set_syslog_name - change the syslog ident prefix ("petrel") */
void log_set_syslog_name(const char *name);
void log_set_verbose(int level);
int log_verbose(void);
/* log_on_fatal - a cleanup run once before log_fatal exits */
void log_on_fatal(void (*fn)(void));

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void log_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
