/*
 * mcf.c - master.cf: the Postfix service table
 *
 * A tolerant reader of the Postfix format that reports every problem as
 * "file:line: message" and keeps going, so `petrel check` shows all
 * errors at once. Entries with errors are dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "linereader.h"
#include "log.h"
#include "mcf.h"
#include "mem.h"

void mcf_init(struct mcf *m)
{
    m->svc = NULL;
    m->n = 0;
}

static void svc_free(struct mcf_service *s)
{
    free(s->name);
    strlist_free(&s->argv);
    strlist_free(&s->opt_names);
    strlist_free(&s->opt_values);
    free(s->host);
    free(s->file);
}

void mcf_free(struct mcf *m)
{
    for (size_t i = 0; i < m->n; i++)
        svc_free(&m->svc[i]);
    free(m->svc);
    mcf_init(m);
}

/* mcf_port - resolve a port number or /etc/services name; -1 if unknown */
static int mcf_port(const char *s)
{
    static const struct {
        const char *name;
        int port;
    } known[] = {
        {"smtp", 25},   {"submission", 587}, {"submissions", 465}, {"smtps", 465}, {"pop3", 110},
        {"pop3s", 995}, {"imap", 143},       {"imap2", 143},       {"imaps", 993},
    };
    unsigned long long v;
    struct servent *se;

    if (parse_ulong(s, 65535, &v) == 0)
        return v > 0 ? (int)v : -1;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(known[i].name, s) == 0)
            return known[i].port;
    if ((se = getservbyname(s, "tcp")) != NULL)
        return ntohs((unsigned short)se->s_port);
    return -1;
}

/* yes_no - parse a y/n/- column */
static int yes_no(const char *s, int dflt, int *out)
{
    if (strcmp(s, "-") == 0)
        *out = dflt;
    else if (strcmp(s, "y") == 0)
        *out = 1;
    else if (strcmp(s, "n") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

/* parse_endpoint - split an inet service name into host and port */
static int parse_endpoint(struct mcf_service *s, const char *name)
{
    const char *colon = strrchr(name, ':');
    const char *portstr = name;

    if (name[0] == '[') {
        const char *close = strchr(name, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        s->host = xstrndup(name + 1, (size_t)(close - name - 1));
        portstr = close + 2;
    } else if (colon) {
        if (colon == name)
            return -1;
        s->host = xstrndup(name, (size_t)(colon - name));
        portstr = colon + 1;
        if (strcmp(s->host, "*") == 0) {
            free(s->host);
            s->host = NULL;
        }
    }
    s->port = mcf_port(portstr);
    return s->port > 0 ? 0 : -1;
}

/* parse_command - split the command field into argv and -o overrides */
static int parse_command(struct mcf_service *s, char **words, size_t nwords, const char *file,
                         int line, struct cfg_diag *diag)
{
    for (size_t i = 0; i < nwords; i++) {
        const char *w = words[i];
        const char *opt = NULL;

        if (s->argv.n > 0 && strcmp(w, "-o") == 0) {
            if (i + 1 >= nwords) {
                cfg_diag_add(diag, 1, file, line, "-o without name=value");
                return -1;
            }
            opt = words[++i];
        } else if (s->argv.n > 0 && strncmp(w, "-o", 2) == 0) {
            opt = w + 2;
        } else if (s->argv.n > 0 && strcmp(w, "-v") == 0) {
            s->verbose++;
            continue;
        }
        if (opt) {
            const char *eq = strchr(opt, '=');
            if (eq == NULL || eq == opt) {
                cfg_diag_add(diag, 1, file, line, "bad -o option '%s' (expected name=value)", opt);
                return -1;
            }
            strlist_addn(&s->opt_names, opt, (size_t)(eq - opt));
            strlist_add(&s->opt_values, eq + 1);
            if (cfg_find_param(s->opt_names.v[s->opt_names.n - 1]) == NULL)
                cfg_diag_add(diag, 0, file, line, "unknown parameter name %s in -o",
                             s->opt_names.v[s->opt_names.n - 1]);
            continue;
        }
        strlist_add(&s->argv, w);
    }
    if (s->argv.n == 0) {
        cfg_diag_add(diag, 1, file, line, "missing command");
        return -1;
    }
    if (strchr(s->argv.v[0], '/') != NULL) {
        cfg_diag_add(diag, 1, file, line,
                     "command '%s' must be a program name in "
                     "$daemon_directory, not a path",
                     s->argv.v[0]);
        return -1;
    }
    return 0;
}

/* parse_entry - one logical line */
static void parse_entry(struct mcf *m, char *text, const char *file, int line,
                        struct cfg_diag *diag)
{
    struct strlist w = STRLIST_INIT;
    struct mcf_service s;
    unsigned long long v;

    memset(&s, 0, sizeof(s));
    strlist_split(&w, text, " \t\r");
    if (w.n < 8) {
        cfg_diag_add(diag, 1, file, line, "expected at least 8 fields, found %zu", w.n);
        goto bad;
    }
    s.name = xstrdup(w.v[0]);
    if (strcmp(w.v[1], "inet") == 0) {
        s.type = MCF_INET;
        if (parse_endpoint(&s, w.v[0]) < 0) {
            cfg_diag_add(diag, 1, file, line,
                         "bad inet service '%s' (expected port, "
                         "host:port or [address]:port)",
                         w.v[0]);
            goto bad;
        }
    } else if (strcmp(w.v[1], "unix") == 0) {
        s.type = MCF_UNIX;
        if (strchr(w.v[0], '/') || strcmp(w.v[0], "master") == 0 || w.v[0][0] == '.') {
            cfg_diag_add(diag, 1, file, line, "bad unix service name '%s'", w.v[0]);
            goto bad;
        }
    } else {
        cfg_diag_add(diag, 1, file, line, "unsupported service type '%s' (use inet or unix)",
                     w.v[1]);
        goto bad;
    }
    if (yes_no(w.v[2], 1, &s.private_) < 0 || yes_no(w.v[3], 1, &s.unpriv) < 0 ||
        yes_no(w.v[4], 0, &s.chroot) < 0) {
        cfg_diag_add(diag, 1, file, line, "private, unpriv and chroot must be y, n or -");
        goto bad;
    }
    if (s.type == MCF_INET && s.private_ && strcmp(w.v[2], "y") == 0) {
        cfg_diag_add(diag, 1, file, line, "an inet service cannot be private");
        goto bad;
    }
    if (s.chroot) {
        cfg_diag_add(diag, 1, file, line, "chroot is not supported: use n or -");
        goto bad;
    }
    if (strcmp(w.v[5], "-") != 0) {
        char *wk = w.v[5];
        size_t n = strlen(wk);
        if (n > 1 && wk[n - 1] == '?') {
            s.wakeup_if_used = 1;
            wk[n - 1] = '\0';
        }
        if (parse_ulong(wk, 86400, &v) < 0) {
            cfg_diag_add(diag, 1, file, line, "bad wakeup time '%s'", w.v[5]);
            goto bad;
        }
        s.wakeup = (int)v;
        if (s.wakeup && s.type != MCF_UNIX) {
            cfg_diag_add(diag, 1, file, line, "wakeup is only for unix services");
            goto bad;
        }
    }
    if (strcmp(w.v[6], "-") == 0) {
        s.maxproc = -1;
    } else if (parse_ulong(w.v[6], 100000, &v) < 0) {
        cfg_diag_add(diag, 1, file, line, "bad process limit '%s'", w.v[6]);
        goto bad;
    } else {
        s.maxproc = (int)v;
    }
    if (parse_command(&s, w.v + 7, w.n - 7, file, line, diag) < 0)
        goto bad;
    if (mcf_find(m, s.name, s.type)) {
        cfg_diag_add(diag, 1, file, line, "duplicate service %s/%s", s.name, w.v[1]);
        goto bad;
    }
    for (size_t i = 0; i < m->n && s.type == MCF_INET; i++)
        if (mcf_same_listener(&m->svc[i], &s)) {
            cfg_diag_add(diag, 1, file, line, "service %s listens where %s (line %d) does", s.name,
                         m->svc[i].name, m->svc[i].line);
            goto bad;
        }
    s.file = xstrdup(file);
    s.line = line;
    m->svc = xreallocarray(m->svc, m->n + 1, sizeof(s));
    m->svc[m->n++] = s;
    strlist_free(&w);
    return;
bad:
    svc_free(&s);
    strlist_free(&w);
}

void mcf_parse_text(const char *text, const char *file, struct mcf *m, struct cfg_diag *diag)
{
    struct str logical = STR_INIT;
    struct linereader r;
    int line, kind;

    linereader_init(&r, text);
    while ((kind = linereader_next(&r, &logical, &line)) != LINEREADER_END) {
        if (kind == LINEREADER_ORPHAN)
            cfg_diag_add(diag, 1, file, line, "continuation line without a service");
        else
            parse_entry(m, logical.s, file, line, diag);
    }
    str_free(&logical);
}

int mcf_load(const char *path, struct mcf *m, struct cfg_diag *diag)
{
    struct str text = STR_INIT;
    int r = fileio_read(path, 0, CFG_TEXT_LIMIT, &text);

    if (r < 0 && errno != EFBIG) {
        str_free(&text);
        return -1;
    }
    if (r < 0)
        cfg_diag_add(diag, 1, path, 0, "file too large");
    else if (linereader_has_nul(str_c(&text), text.len))
        cfg_diag_add(diag, 1, path, 0, "file contains a NUL byte");
    else
        mcf_parse_text(str_c(&text), path, m, diag);
    str_free(&text);
    return 0;
}

struct mcf_service *mcf_find(struct mcf *m, const char *name, int type)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->svc[i].type == type && strcmp(m->svc[i].name, name) == 0)
            return &m->svc[i];
    return NULL;
}

void mcf_apply_overrides(const struct mcf_service *s, struct cfg *c)
{
    struct str origin = STR_INIT;

    str_printf(&origin, "%s:%d", s->file ? s->file : "master.cf", s->line);
    for (size_t i = 0; i < s->opt_names.n; i++)
        cfg_set(c, s->opt_names.v[i], s->opt_values.v[i], str_c(&origin));
    str_free(&origin);
}

int mcf_same_listener(const struct mcf_service *a, const struct mcf_service *b)
{
    if (a->type != b->type)
        return 0;
    if (a->type == MCF_UNIX)
        return a->private_ == b->private_ && strcmp(a->name, b->name) == 0;
    if (a->port != b->port)
        return 0;
    if (a->host == NULL || b->host == NULL)
        return a->host == b->host;
    return strcmp(a->host, b->host) == 0;
}
