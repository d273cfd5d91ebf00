/*
 * petrel-conf.c - show and edit the configuration (postconf-like)
 *
 * petrel-conf [-c dir] [-n|-d] [-h] [-x] [name ...]   parameters
 * petrel-conf [-c dir] -e name=value ...              edit main.cf in place
 * petrel-conf [-c dir] -M [service ...]               master.cf services
 * petrel-conf --man | --markdown                      petrel.conf(5) / reference
 *
 * The parameter list, defaults and descriptions come from the parameter
 * tables (cfg_registry.c), the same ones every daemon uses, so this
 * output and the documentation generated from it cannot drift.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"
#include "mcf.h"
#include "mem.h"
#include "str.h"
#include "tool.h"

static const char usage_text[] = "[-c config_dir] [-n | -d] [-h] [-x] [name ...]\n"
                                 "       petrel-conf [-c config_dir] -e name=value ...\n"
                                 "       petrel-conf [-c config_dir] -M [service ...]\n"
                                 "       petrel-conf --man | --markdown";

static _Noreturn void help(void)
{
    printf("usage: petrel-conf %s\n\n"
           "Show Petrel's main.cf parameters, edit main.cf, or show master.cf.\n\n"
           "  -c dir     configuration directory (default %s, or $MAIL_CONFIG)\n"
           "  -n         only parameters set in main.cf\n"
           "  -d         built-in defaults instead of the configured values\n"
           "  -h         values only, without \"name = \"\n"
           "  -x         expand $name references in values\n"
           "  -e         set name=value pairs in main.cf (comments kept; atomic replace)\n"
           "  -M         show master.cf services, one per line\n"
           "  --man      print the petrel.conf(5) manual page\n"
           "  --markdown print the parameter reference in Markdown\n"
           "  --help     this text\n\n"
           "Exit status: 0 on success, 1 on errors (unknown names, unreadable files).\n",
           usage_text, PETREL_CONFIG_DIR);
    exit(0);
}

/* cmp_param - sort parameters by name */
static int cmp_param(const void *a, const void *b)
{
    const struct cfg_param *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* all_params - every registered parameter, sorted */
static const struct cfg_param **all_params(size_t *n)
{
    const struct cfg_param **v = NULL;
    size_t count = 0;

    for (const struct cfg_table *t = cfg_tables; t->owner; t++)
        for (const struct cfg_param *p = t->params; p->name; p++) {
            v = xreallocarray(v, count + 1, sizeof(*v));
            v[count++] = p;
        }
    qsort(v, count, sizeof(*v), cmp_param);
    *n = count;
    return v;
}

/* cmp_str - sort C strings */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *owner_of(const char *name)
{
    for (const struct cfg_table *t = cfg_tables; t->owner; t++)
        for (const struct cfg_param *p = t->params; p->name; p++)
            if (strcmp(p->name, name) == 0)
                return t->owner;
    return "?";
}

static int show_one(const char *name, int defaults, int values_only, int expand)
{
    const char *v;
    struct str out = STR_INIT, err = STR_INIT;

    if (cfg_find_param(name) == NULL && !cfg_is_set(cfg_main, name)) {
        fprintf(stderr, "petrel-conf: warning: %s: unknown parameter\n", name);
        return 1;
    }
    v = defaults ? cfg_default(name) : cfg_raw(cfg_main, name);
    if (v == NULL)
        v = "";
    if (expand && cfg_expand(cfg_main, v, &out, &err) == 0)
        v = str_c(&out);
    if (values_only)
        printf("%s\n", v);
    else
        printf("%s =%s%s\n", name, *v ? " " : "", v);
    str_free(&out);
    str_free(&err);
    return 0;
}

/* roff - escape text for troff */
static void roff(const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", stdout);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", stdout);
        else if (*s == '-')
            fputs("\\-", stdout);
        else
            putchar(*s);
    }
}

static const char *type_name(enum cfg_type t)
{
    switch (t) {
    case CFG_BOOL:
        return "yes/no";
    case CFG_INT:
        return "integer";
    case CFG_TIME:
        return "time (s, m, h, d, w)";
    case CFG_SIZE:
        return "size in bytes";
    case CFG_LIST:
        return "list";
    default:
        return "text";
    }
}

static void print_man(void)
{
    size_t n;
    const struct cfg_param **v = all_params(&n);

    printf(".TH PETREL.CONF 5 \"\" \"Petrel %s\" \"File Formats\"\n", PACKAGE_VERSION);
    puts(".SH NAME\npetrel.conf \\- Petrel main.cf configuration parameters");
    puts(".SH DESCRIPTION\nThe file \\fImain.cf\\fR in the configuration directory holds "
         "\\fIname = value\\fR settings. A line that starts with white space continues the "
         "previous one; a line whose first non-blank character is \\fB#\\fR is a comment. "
         "A value may refer to other parameters as \\fB$name\\fR, \\fB${name}\\fR or "
         "\\fB$(name)\\fR; \\fB${name?text}\\fR gives text when name is not empty, "
         "\\fB${name:text}\\fR when it is empty, and \\fB$$\\fR is a dollar sign. "
         "Time values take the units s, m, h, d and w; a bare number uses the unit of the "
         "default. Sizes are bytes, optionally followed by k, m or g. Lists are separated "
         "by commas and/or white space. Use \\fBpetrel-conf\\fR(1) to show and edit "
         "values; master.cf may override a parameter for one service with \\fB\\-o "
         "name=value\\fR.");
    puts(".SH PARAMETERS");
    for (size_t i = 0; i < n; i++) {
        const char *d = cfg_default(v[i]->name);
        printf(".TP\n.B ");
        roff(v[i]->name);
        printf(" (%s", type_name(v[i]->type));
        if (v[i]->min || v[i]->max)
            printf(", %lld..%lld", v[i]->min, v[i]->max);
        printf("; used by %s)\n", owner_of(v[i]->name));
        printf("Default: ");
        if (v[i]->flags & CFG_F_DYNAMIC)
            printf("computed at run time (here: ");
        printf("\\fB");
        roff(*d ? d : "(empty)");
        printf("\\fR%s\n.br\n", (v[i]->flags & CFG_F_DYNAMIC) ? ")" : "");
        roff(v[i]->doc);
        putchar('\n');
    }
    puts(".SH SEE ALSO\npetrel(8), petrel-conf(1), petrel-map(1), master(8)");
    free(v);
}

static void print_markdown(void)
{
    size_t n;
    const struct cfg_param **v = all_params(&n);

    puts("# Petrel main.cf parameters\n");
    puts("Generated by `petrel-conf --markdown` from the parameter tables that every "
         "program uses; do not edit by hand.\n");
    puts("| parameter | type | default | used by | meaning |\n|---|---|---|---|---|");
    for (size_t i = 0; i < n; i++) {
        const char *d = (v[i]->flags & CFG_F_DYNAMIC)     ? "(computed)"
                        : (v[i]->flags & CFG_F_BUILDPATH) ? "(set by configure)"
                                                          : cfg_default(v[i]->name);
        printf("| `%s` | %s | `%s` | %s | %s |\n", v[i]->name, type_name(v[i]->type), d,
               owner_of(v[i]->name), v[i]->doc);
    }
    free(v);
}

/* show_master - print master.cf entries normalized */
static int show_master(const char *confdir, char **names, int n)
{
    struct mcf m;
    struct cfg_diag diag;
    char *path = xasprintf("%s/master.cf", confdir);
    int rc = 0;

    cfg_diag_init(&diag);
    mcf_init(&m);
    if (mcf_load(path, &m, &diag) < 0)
        tool_die("cannot read %s: %s", path, strerror(errno));
    for (size_t i = 0; i < diag.lines.n; i++)
        fprintf(stderr, "%s\n", diag.lines.v[i]);
    if (diag.errors)
        rc = 1;
    for (size_t i = 0; i < m.n; i++) {
        struct mcf_service *s = &m.svc[i];
        int want = n == 0;
        for (int j = 0; j < n; j++)
            if (strcmp(names[j], s->name) == 0)
                want = 1;
        if (!want)
            continue;
        char wake[16] = "-", maxp[16] = "-";
        if (s->wakeup)
            snprintf(wake, sizeof(wake), "%d%s", s->wakeup, s->wakeup_if_used ? "?" : "");
        if (s->maxproc >= 0)
            snprintf(maxp, sizeof(maxp), "%d", s->maxproc);
        printf("%-12s %-5s %-7s %-7s %-7s %-7s %-7s %s", s->name,
               s->type == MCF_INET ? "inet" : "unix", s->private_ ? "y" : "n",
               s->unpriv ? "y" : "n", s->chroot ? "y" : "n", wake, maxp, s->argv.v[0]);
        for (size_t k = 0; k < s->opt_names.n; k++)
            printf(" -o %s=%s", s->opt_names.v[k], s->opt_values.v[k]);
        for (size_t k = 1; k < s->argv.n; k++)
            printf(" %s", s->argv.v[k]);
        putchar('\n');
    }
    mcf_free(&m);
    cfg_diag_free(&diag);
    free(path);
    return rc;
}

/* edit_main_cf - petrel-conf -e name=value ... */
static int edit_main_cf(const char *confdir, int n, char **args)
{
    struct strlist names = STRLIST_INIT, values = STRLIST_INIT;
    struct str err = STR_INIT;
    char *path;
    int rc = 0;

    if (n == 0)
        tool_usage(usage_text);
    for (int i = 0; i < n; i++) {
        const char *eq = strchr(args[i], '=');
        if (eq == NULL || eq == args[i])
            tool_die("bad argument '%s': expected name=value", args[i]);
        char *nm = xstrndup(args[i], (size_t)(eq - args[i]));
        char *v = xstrdup(eq + 1);
        strlist_add(&names, trim(nm));
        strlist_add(&values, trim(v));
        free(nm);
        free(v);
        if (cfg_find_param(names.v[names.n - 1]) == NULL)
            fprintf(stderr, "petrel-conf: warning: %s: unknown parameter\n", names.v[names.n - 1]);
    }
    path = xasprintf("%s/main.cf", confdir);
    if (cfg_edit_file(path, &names, &values, &err) < 0) {
        fprintf(stderr, "petrel-conf: fatal: %s\n", str_c(&err));
        rc = 1;
    }
    free(path);
    str_free(&err);
    strlist_free(&names);
    strlist_free(&values);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'H'},
                                             {"man", no_argument, NULL, 'm'},
                                             {"markdown", no_argument, NULL, 'k'},
                                             {NULL, 0, NULL, 0}};
    const char *copt = NULL;
    int only_set = 0, defaults = 0, values_only = 0, expand = 0, edit = 0, master = 0, c;
    int rc = 0;

    tool_init(argv[0]);
    while ((c = getopt_long(argc, argv, "c:ndhxeM", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            copt = optarg;
            break;
        case 'n':
            only_set = 1;
            break;
        case 'd':
            defaults = 1;
            break;
        case 'h':
            values_only = 1;
            break;
        case 'x':
            expand = 1;
            break;
        case 'e':
            edit = 1;
            break;
        case 'M':
            master = 1;
            break;
        case 'H':
            help();
        case 'm':
            print_man();
            return 0;
        case 'k':
            print_markdown();
            return 0;
        default:
            tool_usage(usage_text);
        }
    }
    const char *confdir = tool_confdir(copt);
    if (only_set && defaults)
        tool_usage(usage_text);
    if (master)
        return show_master(confdir, argv + optind, argc - optind);
    if (edit)
        return edit_main_cf(confdir, argc - optind, argv + optind);
    tool_load(confdir, defaults, 1);
    if (optind < argc) {
        for (int i = optind; i < argc; i++)
            rc |= show_one(argv[i], defaults, values_only, expand);
        return rc;
    }
    if (only_set) {
        struct strlist names = STRLIST_INIT;
        cfg_names_set(cfg_main, &names);
        qsort(names.v, names.n, sizeof(char *), cmp_str);
        for (size_t i = 0; i < names.n; i++)
            show_one(names.v[i], 0, values_only, expand);
        strlist_free(&names);
        return 0;
    }
    size_t n;
    const struct cfg_param **v = all_params(&n);
    for (size_t i = 0; i < n; i++)
        show_one(v[i]->name, defaults, values_only, expand);
    free(v);
    return rc;
}
