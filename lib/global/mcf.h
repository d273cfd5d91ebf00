/*
 * mcf.h - master.cf: the Postfix service table
 *
 * Columns: service type private unpriv chroot wakeup maxproc command+args.
 * '-' selects a column's default (private y, unpriv y, chroot n, wakeup 0,
 * maxproc $default_process_limit). Lines starting with white space continue
 * the previous entry; '#' starts a comment line. In the command, "-o
 * name=value" (or "-oname=value") sets a per-service main.cf override and
 * "-v" raises verbosity; everything else is passed to the program.
 * An inet service is "port", "host:port" or "[v6addr]:port" (port may be a
 * name from /etc/services); a unix service is a socket name under private/
 * (private=y) or public/ (private=n).
 */
#ifndef PETREL_MCF_H
#define PETREL_MCF_H

#include "cfg.h"
#include "str.h"

#define MCF_INET 1
#define MCF_UNIX 2

struct mcf_service {
    char *name; /* the first column as written */
    int type;   /* MCF_INET or MCF_UNIX */
    int private_;
    int unpriv;
    int chroot;
    int wakeup;         /* seconds, 0 = none */
    int wakeup_if_used; /* "N?" form */
    int maxproc;        /* -1 = $default_process_limit, 0 = no limit */
    int verbose;
    struct strlist argv;       /* program name and its arguments (without -o/-v) */
    struct strlist opt_names;  /* -o names */
    struct strlist opt_values; /* -o values */
    char *host;                /* inet: NULL when only a port was given */
    int port;                  /* inet: numeric port */
    char *file;
    int line;
};

struct mcf {
    struct mcf_service *svc;
    size_t n;
};

void mcf_init(struct mcf *m);
void mcf_free(struct mcf *m);
/* mcf_load - parse a master.cf file; -1 when it cannot be read */
int mcf_load(const char *path, struct mcf *m, struct cfg_diag *diag);
void mcf_parse_text(const char *text, const char *file, struct mcf *m, struct cfg_diag *diag);
/* mcf_find - a service by name and type, or NULL */
struct mcf_service *mcf_find(struct mcf *m, const char *name, int type);
/* mcf_apply_overrides - copy a service's -o settings into a configuration */
void mcf_apply_overrides(const struct mcf_service *s, struct cfg *c);
/* mcf_same_listener - whether two services listen on the same endpoint */
int mcf_same_listener(const struct mcf_service *a, const struct mcf_service *b);

#endif
