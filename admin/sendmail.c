/*
 * sendmail.c - the sendmail-compatible command: submit, list, rebuild aliases
 *
 * sendmail [options] [--] [recipient ...]   read a message, queue it (-bm)
 * mailq      = sendmail -bp                  list the queue (petrel-queue -p)
 * newaliases = sendmail -bi                  rebuild $alias_database
 *
 * The behaviour follows Postfix's sendmail(1): -t takes recipients from
 * To:, Cc: and Bcc: (or from the Resent- ones when present) in addition
 * to the arguments; Bcc: and Resent-Bcc: never reach the queue; a line
 * with a single dot ends the message unless -i (-oi); a leading mbox
 * "From " line is dropped; -f, -F (else $NAME, else the GECOS name), -N,
 * -R, -V set the envelope; -bs runs the SMTP server, smtpd, in stand-alone
 * mode on standard input and output (Postfix's smtpd -S), as the invoking
 * user, with -F (else $NAME, else the GECOS name) as $NAME for its From:;
 * -bv reports how each address would be delivered; -q, -qR, -qI flush;
 * -C or MAIL_CONFIG select the configuration; historic options (-oem,
 * -odb, -odi, -oQ..., -m, -n, -G, -U, ...) are accepted and ignored.
 *
 * The message goes into maildrop/ through the set-gid helper petrel-drop
 * (lib/global/submit.h), as the invoking user; the exit status is 0 only
 * once the file is durable. Exit status (sysexits.h): EX_USAGE bad
 * options or no recipient, EX_DATAERR a message over a limit, EX_NOUSER a
 * malformed address (or, for -bv, an undeliverable one), EX_NOPERM not
 * allowed, EX_TEMPFAIL the queue cannot be written, EX_CONFIG a bad
 * configuration.
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "map.h"
#include "mem.h"
#include "smtp_parse.h"
#include "str.h"
#include "stream.h"
#include "submit.h"
#include "tool.h"

#include "sendmail.h"

#define PIECE 65536

static const char *prog = "sendmail";

static _Noreturn void help(void)
{
    printf("usage: sendmail [options] [--] [recipient ...]\n"
           "       mailq | sendmail -bp        newaliases | sendmail -bi\n\n"
           "Submit a message read from standard input (the sendmail interface).\n\n"
           "  -t            also take recipients from To:, Cc:, Bcc: (Bcc: is removed)\n"
           "  -f sender     envelope sender (-f '<>' for the null sender)\n"
           "  -F name       full name for a From: header added when the message has none\n"
           "  -i, -oi       a line with a single dot does not end the message\n"
           "  -N dsn        delivery notifications: never, or success,delay,failure\n"
           "  -R full|hdrs  what a notification returns of the message\n"
           "  -V envid      envelope ID for notifications\n"
           "  -v            more output\n"
           "  -C dir        configuration directory (or a main.cf in it); also $MAIL_CONFIG\n"
           "  -bm           submit (the default)\n"
           "  -bs           an SMTP session on standard input and output\n"
           "  -bp           list the queue (mailq)\n"
           "  -bi, -I       rebuild the alias tables (newaliases)\n"
           "  -bv           report how each recipient would be delivered; send nothing\n"
           "  -q, -qRsite, -qIid   deliver deferred mail now (all, one site, one message)\n"
           "  --            end of options\n"
           "  --help        this text\n\n"
           "Ignored for compatibility: -oem -odb -odi -oQ... -B type -h n -L label -m -n -G -U\n"
           "-O option -X file -e x -p proto -A x -c.\n\n"
           "Exit status: 0 queued; 64 usage or no recipient; 65 message too big;\n"
           "67 malformed (or, with -bv, undeliverable) address; 75 the queue cannot be\n"
           "written; 77 not allowed; 78 configuration error.\n");
    exit(0);
}

/* die - one error line and a sysexits status */
static _Noreturn __attribute__((format(printf, 2, 3))) void die(int status, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: fatal: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(status);
}

/* gecos_name - the full name of the invoking user ($NAME, else the GECOS name), or NULL */
static char *gecos_name(const struct passwd *pw)
{
    const char *env = getenv("NAME");
    struct str out = STR_INIT;

    if (env && *env)
        return xstrdup(env);
    if (pw == NULL || pw->pw_gecos == NULL)
        return NULL;
    for (const char *p = pw->pw_gecos; *p && *p != ','; p++) {
        if (*p != '&') {
            str_catc(&out, *p);
            continue;
        }
        /* '&' stands for the login name, capitalized (the BSD GECOS convention) */
        size_t at = out.len;
        str_cat(&out, pw->pw_name);
        if (out.len > at && out.s[at] >= 'a' && out.s[at] <= 'z')
            out.s[at] = (char)(out.s[at] - 'a' + 'A');
    }
    if (out.len == 0) {
        str_free(&out);
        return NULL;
    }
    return str_steal(&out);
}

/* load_config - main.cf of confdir; errors are EX_CONFIG */
static void load_config(const char *confdir)
{
    struct cfg_diag diag;

    cfg_diag_init(&diag);
    cfg_main = cfg_new(confdir);
    if (cfg_load(cfg_main, &diag) < 0)
        die(EX_CONFIG, "cannot read %s/main.cf: %s", confdir, strerror(errno));
    if (cfg_check(cfg_main, &diag) > 0) {
        for (size_t i = 0; i < diag.lines.n; i++)
            fprintf(stderr, "%s\n", diag.lines.v[i]);
        die(EX_CONFIG, "%d error(s) in %s/main.cf", diag.errors, confdir);
    }
    cfg_diag_free(&diag);
}

/* run_tool - exec another Petrel command from $command_directory */
static _Noreturn void run_tool(const char *name, const char *confdir, const char *a1,
                               const char *a2)
{
    char *path = xasprintf("%s/%s", cfg_str(cfg_main, P_command_directory), name);

    fflush(stdout);
    execl(path, name, "-c", confdir, a1, a2, (char *)NULL);
    die(EX_UNAVAILABLE, "exec %s: %s", path, strerror(errno));
}

/* newaliases - rebuild every hash: or btree: table of $alias_database */
static int newaliases(int verbose)
{
    struct strlist l = STRLIST_INIT;
    int rc = 0;

    cfg_list(cfg_main, P_alias_database, &l);
    for (size_t i = 0; i < l.n; i++) {
        const char *colon = strchr(l.v[i], ':');
        struct str text = STR_INIT, err = STR_INIT;
        struct map_entries es = {NULL, 0, 0};
        struct strlist warnings = STRLIST_INIT;
        int errors = 0;
        if (colon == NULL)
            die(EX_CONFIG, "alias_database: bad table '%s': expected type:file", l.v[i]);
        char *type = xstrndup(l.v[i], (size_t)(colon - l.v[i]));
        const char *file = colon + 1;
        if (!map_type_is_db(type))
            die(EX_CONFIG, "alias_database: cannot build a %s: table", type);
        FILE *f = fopen(file, "r");
        if (f == NULL)
            die(EX_NOINPUT, "open %s: %s", file, strerror(errno));
        char buf[8192];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
            str_catn(&text, buf, n);
        fclose(f);
        if (memchr(str_c(&text), '\0', text.len))
            die(EX_DATAERR, "%s: file contains a NUL byte", file);
        map_parse_text(str_c(&text), file, MAP_TEXT_ALIASES, 1, &es, &warnings, &errors);
        for (size_t k = 0; k < warnings.n; k++)
            fprintf(stderr, "%s: %s\n", prog, warnings.v[k]);
        char *dbpath = xasprintf("%s.db", file);
        if (map_db_build(type, dbpath, &es, file, &err) < 0)
            die(EX_CANTCREAT, "%s", str_c(&err));
        if (verbose)
            fprintf(stderr, "%s: %s: %zu aliases\n", prog, dbpath, es.n);
        rc |= errors ? EX_DATAERR : 0;
        free(dbpath);
        free(type);
        map_entries_free(&es);
        strlist_free(&warnings);
        str_free(&text);
        str_free(&err);
    }
    strlist_free(&l);
    return rc;
}

/* the message from standard input ------------------------------------------ */

struct reader {
    struct stream *s;
    const struct sm_opts *o;
    struct sm_rcpts normal;   /* -t: To/Cc/Bcc recipients */
    struct sm_rcpts resent;   /* -t: Resent-To/Cc/Bcc recipients */
    int resent_seen;          /* a Resent-To/Cc/Bcc field was there */
    struct str header;        /* the header section as it will be queued */
    struct str field;         /* the field being read (with its continuation lines) */
    struct str first_body;    /* the line that ended the header section */
    unsigned long long size;  /* bytes that will be queued */
    unsigned long long limit; /* message_size_limit */
    size_t header_limit;      /* header_size_limit */
    int ended;                /* the input ended (EOF or the dot line) */
    int body_line_start;      /* first_body ends a line */
};

/* is_dot - a line with a single dot (the historic end of input) */
static int is_dot(const struct str *line, int complete)
{
    return complete && ((line->len == 2 && memcmp(line->s, ".\n", 2) == 0) ||
                        (line->len == 3 && memcmp(line->s, ".\r\n", 3) == 0));
}

/* field_name_is - the field in f is called name */
static int field_name_is(const struct str *f, const char *name)
{
    size_t n = strlen(name);

    return f->len > n && strncasecmp(f->s, name, n) == 0 &&
           (f->s[n] == ':' || f->s[n] == ' ' || f->s[n] == '\t');
}

/* end_field - decide on the field just read: keep it, drop it (Bcc), take recipients */
static void end_field(struct reader *r)
{
    static const char *const normal[] = {"To", "Cc", "Bcc", NULL};
    static const char *const resent[] = {"Resent-To", "Resent-Cc", "Resent-Bcc", NULL};
    struct str value = STR_INIT, bad = STR_INIT;
    int drop = field_name_is(&r->field, "Bcc") || field_name_is(&r->field, "Resent-Bcc");

    if (r->field.len == 0)
        return;
    if (r->field.len > r->header_limit)
        die(EX_DATAERR, "message header too big (over header_size_limit = %zu bytes)",
            r->header_limit);
    for (int set = 0; set < 2 && r->o->extract; set++) {
        const char *const *names = set ? resent : normal;
        for (int i = 0; names[i]; i++) {
            if (!field_name_is(&r->field, names[i]))
                continue;
            r->resent_seen |= set;
            const char *v = (const char *)memchr(r->field.s, ':', r->field.len) + 1;
            for (const char *p = v; p < r->field.s + r->field.len; p++)
                if (*p != '\r' && *p != '\n')
                    str_catc(&value, *p);
            if (sm_parse_list(value.s, value.len, r->o->notify, set ? &r->resent : &r->normal,
                              &bad) < 0)
                die(EX_NOUSER, "malformed address in %s: %s", names[i], bad.s);
        }
    }
    if (!drop) {
        str_catn(&r->header, r->field.s, r->field.len);
        r->size += r->field.len;
    }
    str_reset(&r->field);
    str_free(&value);
    str_free(&bad);
}

/* header_name_len - "Name:" at the start of a line */
static size_t header_name_len(const char *p, size_t n)
{
    size_t i = 0;

    while (i < n && p[i] >= 33 && p[i] <= 126 && p[i] != ':')
        i++;
    return i > 0 && i < n && p[i] == ':' ? i : 0;
}

/* read_header - the header section; the line after it (if any) goes to first_body */
static void read_header(struct reader *r)
{
    struct str line = STR_INIT;
    int first = 1;

    for (;;) {
        str_reset(&line);
        int c = stream_getline_part(r->s, &line, r->header_limit + 2);
        if (c < 0) { /* end of input */
            r->ended = 1;
            break;
        }
        if (!r->o->ignore_dot && is_dot(&line, c == 1)) {
            r->ended = 1;
            break;
        }
        if (first && c == 1 && line.len >= 5 && memcmp(line.s, "From ", 5) == 0) {
            first = 0; /* an mbox separator, not a header field */
            continue;
        }
        first = 0;
        int blank = c == 1 && (line.len == 1 || (line.len == 2 && line.s[0] == '\r'));
        int cont = (line.s[0] == ' ' || line.s[0] == '\t') && r->field.len > 0;
        if (c == 1 && !blank && (cont || header_name_len(line.s, line.len))) {
            if (!cont)
                end_field(r);
            str_catn(&r->field, line.s, line.len);
            if (r->field.len > r->header_limit)
                end_field(r); /* dies */
            continue;
        }
        /* the empty line, a line that is no header field, or one too long for one */
        end_field(r);
        str_cpyn(&r->first_body, line.s, line.len);
        r->body_line_start = c == 1;
        break;
    }
    end_field(r);
    str_free(&line);
}

/* copy_body - the rest of the input into the submission */
static void copy_body(struct reader *r, struct submit *sub)
{
    struct str piece = STR_INIT;
    int line_start = r->body_line_start;

    if (r->first_body.len) {
        submit_write(sub, r->first_body.s, r->first_body.len);
        r->size += r->first_body.len;
    }
    while (!r->ended) {
        str_reset(&piece);
        int c = stream_getline_part(r->s, &piece, PIECE);
        if (c < 0)
            break;
        if (line_start && !r->o->ignore_dot && is_dot(&piece, c == 1))
            break;
        line_start = c == 1;
        r->size += piece.len;
        if (r->size > r->limit) {
            submit_abort(sub);
            die(EX_DATAERR, "message file too big (over message_size_limit = %llu bytes)",
                r->limit);
        }
        submit_write(sub, piece.s, piece.len);
    }
    str_free(&piece);
}

/* open_submission - petrel-drop started with the whole envelope; dies when it cannot be */
static struct submit *open_submission(const struct sm_opts *o, const struct sm_rcpts *rcpts)
{
    struct submit_env env = {o->sender, o->fullname, o->envid, o->ret};
    struct submit *sub = submit_open(o->confdir, &env);
    struct str err = STR_INIT;

    for (size_t i = 0; i < rcpts->n; i++)
        submit_rcpt(sub, rcpts->v[i].addr, rcpts->v[i].orcpt, rcpts->v[i].notify);
    if (submit_start(sub, &err) < 0) {
        submit_abort(sub);
        die(EX_OSERR, "%s", str_c(&err));
    }
    str_free(&err);
    return sub;
}

/* submit - -bm: read the message, queue it */
static int submit(struct sm_opts *o, struct sm_rcpts *rcpts)
{
    struct reader r;
    struct str id = STR_INIT, err = STR_INIT;
    struct submit *sub;
    int rc;

    memset(&r, 0, sizeof(r));
    r.o = o;
    r.limit = (unsigned long long)cfg_size(cfg_main, P_message_size_limit);
    r.header_limit = (size_t)cfg_size(cfg_main, P_header_size_limit);
    r.s = stream_new(0, -1, 0);
    read_header(&r);
    /* RFC 5322 3.6.6: a resent message goes to the Resent- recipients only */
    const struct sm_rcpts *extracted = r.resent_seen ? &r.resent : &r.normal;
    for (size_t i = 0; i < extracted->n; i++)
        sm_rcpts_add(rcpts, extracted->v[i].addr, NULL, extracted->v[i].notify);
    if (rcpts->n == 0)
        die(EX_USAGE, o->extract ? "no recipient addresses found in message header"
                                 : "no recipients specified");
    if (rcpts->n > (size_t)cfg_int(cfg_main, P_submit_recipient_limit))
        die(EX_USAGE, "too many recipients (over submit_recipient_limit = %lld)",
            cfg_int(cfg_main, P_submit_recipient_limit));
    if (r.size > r.limit)
        die(EX_DATAERR, "message file too big (over message_size_limit = %llu bytes)", r.limit);
    sub = open_submission(o, rcpts);
    submit_write(sub, r.header.s, r.header.len);
    copy_body(&r, sub);
    rc = submit_close(sub, &id, &err);
    if (rc)
        die(rc, "%s", str_c(&err));
    if (o->verbose)
        fprintf(stderr, "%s: queued as %s\n", prog, id.s);
    stream_free(r.s, 0);
    str_free(&r.header);
    str_free(&r.field);
    str_free(&r.first_body);
    sm_rcpts_free(&r.resent);
    sm_rcpts_free(&r.normal);
    str_free(&id);
    str_free(&err);
    return 0;
}

/* run_smtpd - -bs: the SMTP server itself in stand-alone mode (smtpd -S) on our standard
 * input and output, as the invoking user; the full name travels as $NAME */
static _Noreturn void run_smtpd(const struct sm_opts *o)
{
    char *path = xasprintf("%s/smtpd", cfg_str(cfg_main, P_daemon_directory));

    if (o->fullname && *o->fullname)
        setenv("NAME", o->fullname, 1);
    else
        unsetenv("NAME");
    fflush(stdout);
    execl(path, "smtpd", "-S", "-c", o->confdir, o->verbose ? "-v" : (char *)NULL, (char *)NULL);
    die(EX_UNAVAILABLE, "exec %s: %s", path, strerror(errno));
}

/* confdir_of - -C names the directory, or a main.cf inside it (Postfix) */
static const char *confdir_of(const char *arg)
{
    struct stat st;

    if (arg && stat(arg, &st) == 0 && !S_ISDIR(st.st_mode)) {
        char *d = xstrdup(arg), *slash = strrchr(d, '/');
        if (slash == NULL)
            return ".";
        if (slash == d)
            slash[1] = '\0';
        else
            *slash = '\0';
        return d;
    }
    return arg;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'H'}, {NULL, 0, NULL, 0}};
    struct sm_opts o;
    struct sm_rcpts rcpts = {NULL, 0};
    const char *copt = NULL, *fopt = NULL, *qopt = NULL, *base;
    char mode = 'm';
    int c, ret, want_queue = 0;
    struct str sender = STR_INIT, bad = STR_INIT, why = STR_INIT;

    memset(&o, 0, sizeof(o));
    base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    if (strcmp(base, "mailq") == 0)
        mode = 'p', prog = "mailq";
    else if (strcmp(base, "newaliases") == 0)
        mode = 'i', prog = "newaliases";
    tool_init(prog);
    signal(SIGPIPE, SIG_IGN);
    while ((c = getopt_long(argc, argv, "+A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:q::r:tvx",
                            longopts, NULL)) != -1) {
        switch (c) {
        case 'C':
            copt = optarg;
            break;
        case 'F':
            o.fullname = optarg;
            break;
        case 'I':
            mode = 'i';
            break;
        case 'N': /* the values of the ESMTP parameters NOTIFY, RET and ENVID (RFC 3461) */
            if ((o.notify = smtp_parse_notify(optarg)) < 0)
                die(EX_USAGE,
                    "-N %s: use never, or a comma-separated list of success, delay, "
                    "failure",
                    optarg);
            break;
        case 'R':
            if ((ret = smtp_parse_ret(optarg)) < 0)
                die(EX_USAGE, "-R %s: use full or hdrs", optarg);
            o.ret = smtp_ret_name(ret);
            break;
        case 'V':
            if (!smtp_envid_valid(optarg))
                die(EX_USAGE, "-V: the envelope ID must be 1 to 100 printable ASCII characters "
                              "(counted as xtext)");
            o.envid = optarg;
            break;
        case 'b':
            if (strchr("msipvdD", optarg[0]) == NULL || optarg[1] != '\0')
                die(EX_USAGE, "-b%s: unsupported mode", optarg);
            if (optarg[0] == 'd' || optarg[0] == 'D')
                die(EX_USAGE, "-b%s: daemon mode is not supported (use petrel start)", optarg);
            mode = optarg[0];
            break;
        case 'f':
        case 'r':
            fopt = optarg;
            break;
        case 'i':
            o.ignore_dot = 1;
            break;
        case 'o':
            if (strcmp(optarg, "i") == 0)
                o.ignore_dot = 1;
            break; /* -oem, -odb, -odi, -oQ..., -oA...: historic, ignored */
        case 'q':
            want_queue = 1;
            qopt = optarg;
            break;
        case 't':
            o.extract = 1;
            break;
        case 'v':
            o.verbose++;
            break;
        case 'H':
            help();
        case 'A':
        case 'B':
        case 'G':
        case 'L':
        case 'O':
        case 'U':
        case 'X':
        case 'c':
        case 'e':
        case 'h':
        case 'm':
        case 'n':
        case 'p':
        case 'x':
            break; /* accepted and ignored, as Postfix does */
        default:
            fprintf(stderr, "usage: %s [options] [--] [recipient ...]\n(try %s --help)\n", prog,
                    prog);
            exit(EX_USAGE);
        }
    }
    o.confdir = tool_confdir(confdir_of(copt));
    load_config(o.confdir);
    if (want_queue) {
        if (qopt == NULL || *qopt == '\0')
            run_tool("petrel-queue", o.confdir, "-f", NULL);
        if (qopt[0] == 'R' && qopt[1])
            run_tool("petrel-queue", o.confdir, "-s", qopt + 1);
        if (qopt[0] == 'I' && qopt[1])
            run_tool("petrel-queue", o.confdir, "-i", qopt + 1);
        return 0; /* -q<interval>: a queue run daemon; qmgr does that */
    }
    switch (mode) {
    case 'p':
        run_tool("petrel-queue", o.confdir, "-p", NULL);
    case 'i':
        return newaliases(o.verbose);
    case 's':
    case 'm':
    case 'v':
        break;
    }

    struct passwd *pw = getpwuid(getuid());
    char *fullname = NULL;
    int rc;
    if (fopt) {
        if (sm_parse_sender(fopt, &sender) < 0)
            die(EX_USAGE, "-f %s: malformed sender address", fopt);
    } else {
        if (pw == NULL)
            die(EX_NOUSER, "no login name for user ID %ld", (long)getuid());
        if (sm_parse_sender(pw->pw_name, &sender) < 0)
            die(EX_NOUSER, "login name %s is no valid address", pw->pw_name);
    }
    o.sender = str_c(&sender);
    if (o.fullname == NULL)
        o.fullname = fullname = gecos_name(pw);
    if (mode != 'v' && !tool_user_allowed(P_authorized_submit_users, getuid(), &why))
        die(EX_NOPERM, "%s: not allowed to submit mail", str_c(&why));
    if (mode == 's') {
        if (optind != argc)
            die(EX_USAGE, "-bs takes no recipient arguments");
        run_smtpd(&o);
    } else {
        for (int i = optind; i < argc; i++)
            if (sm_parse_list(argv[i], strlen(argv[i]), o.notify, &rcpts, &bad) < 0)
                die(EX_NOUSER, "malformed recipient address: %s", bad.s);
        if (mode == 'v' && rcpts.n == 0)
            die(EX_USAGE, "-bv: no recipients specified");
        rc = mode == 'v' ? sendmail_verify(&o, &rcpts) : submit(&o, &rcpts);
    }
    sm_rcpts_free(&rcpts);
    str_free(&sender);
    str_free(&bad);
    str_free(&why);
    free(fullname);
    return rc;
}
