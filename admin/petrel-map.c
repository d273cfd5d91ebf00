/*
 * petrel-map.c - build and query lookup tables (postmap-like)
 *
 * petrel-map [-c dir] [-a] [-v] type:file ...   build file.db from file
 * petrel-map [-c dir] -q key type:name ...      look key up (any table type)
 * petrel-map [-c dir] -s type:file              dump a hash/btree table
 *
 * Source format: "key value" lines (or "name: value, ..." with -a, the
 * aliases(5) format), '#' comments, continuation lines starting with white
 * space; keys are folded to lower case. Duplicate keys are warned about
 * and the first one kept. The .db file is written under a temporary name,
 * flushed and renamed into place, so daemons never see half a table; it
 * gets the source file's owner and mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "fileio.h"
#include "linereader.h"
#include "map.h"
#include "mem.h"
#include "str.h"
#include "tool.h"

static const char usage_text[] = "[-c config_dir] [-a] [-v] type:file ...\n"
                                 "       petrel-map [-c config_dir] -q key type:name ...\n"
                                 "       petrel-map [-c config_dir] -s type:file";

static _Noreturn void help(void)
{
    printf("usage: petrel-map %s\n\n"
           "Build Berkeley DB lookup tables from text files, or query any table.\n\n"
           "  -c dir   configuration directory (default %s, or $MAIL_CONFIG)\n"
           "  -a       the source is in aliases(5) format (name: value, value)\n"
           "  -q key   look key up in the tables, print the first value found\n"
           "  -s       print every key and value of a hash: or btree: table\n"
           "  -v       report what was done\n"
           "  --help   this text\n\n"
           "Table types: hash, btree (built from text), static, inline, regexp.\n"
           "Exit status: 0 success (or key found); 1 error or key not found;\n"
           "2 temporary failure of a table during -q.\n",
           usage_text, PETREL_CONFIG_DIR);
    exit(0);
}

/* split_spec - type and file of a "type:file" argument */
static void split_spec(const char *spec, char **type, char **file)
{
    const char *colon = strchr(spec, ':');

    if (colon == NULL || colon == spec)
        tool_die("bad table '%s': expected type:file", spec);
    *type = xstrndup(spec, (size_t)(colon - spec));
    *file = xstrdup(colon + 1);
}

static int build(const char *spec, int aliases, int verbose)
{
    char *type, *file;
    struct str text = STR_INIT, err = STR_INIT;
    struct map_entries es = {NULL, 0, 0};
    struct strlist warnings = STRLIST_INIT;
    int errors = 0;

    split_spec(spec, &type, &file);
    if (!map_type_is_db(type))
        tool_die("cannot build a %s: table (only hash and btree are built from files)", type);
    if (fileio_read(file, 0, SIZE_MAX, &text) < 0)
        tool_die("open %s: %s", file, strerror(errno));
    if (linereader_has_nul(str_c(&text), text.len))
        tool_die("%s: file contains a NUL byte", file);
    map_parse_text(str_c(&text), file, aliases ? MAP_TEXT_ALIASES : MAP_TEXT_POSTMAP, 1, &es,
                   &warnings, &errors);
    for (size_t i = 0; i < warnings.n; i++)
        fprintf(stderr, "petrel-map: %s\n", warnings.v[i]);
    char *dbpath = xasprintf("%s.db", file);
    if (map_db_build(type, dbpath, &es, file, &err) < 0)
        tool_die("%s", str_c(&err));
    if (verbose)
        fprintf(stderr, "petrel-map: %s: %zu entries\n", dbpath, es.n);
    free(dbpath);
    map_entries_free(&es);
    strlist_free(&warnings);
    str_free(&text);
    free(type);
    free(file);
    return errors ? 1 : 0;
}

static int query(const char *key, char **specs, int n)
{
    struct str value = STR_INIT, err = STR_INIT, spec = STR_INIT;
    int rc = 1;

    for (int i = 0; i < n; i++) {
        str_reset(&spec);
        if (cfg_expand(cfg_main, specs[i], &spec, &err) < 0)
            tool_die("%s: %s", specs[i], str_c(&err));
        struct map *m = map_open(str_c(&spec), &err);
        if (m == NULL)
            tool_die("%s", str_c(&err));
        int r = map_lookup(m, key, &value);
        if (r == MAP_ERROR)
            fprintf(stderr, "petrel-map: %s: temporary failure: %s\n", specs[i], map_error_text(m));
        else if (r == MAP_FOUND)
            printf("%s\n", str_c(&value));
        map_close(m);
        if (r != MAP_NOTFOUND) {
            rc = r == MAP_FOUND ? 0 : 2;
            break;
        }
    }
    str_free(&value);
    str_free(&err);
    str_free(&spec);
    return rc;
}

static void dump_one(const char *key, const char *value, void *ctx)
{
    (void)ctx;
    printf("%s\t%s\n", key, value);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'H'}, {NULL, 0, NULL, 0}};
    const char *copt = NULL, *key = NULL;
    int aliases = 0, dump = 0, verbose = 0, c, rc = 0;

    tool_init(argv[0]);
    while ((c = getopt_long(argc, argv, "c:aq:sv", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            copt = optarg;
            break;
        case 'a':
            aliases = 1;
            break;
        case 'q':
            key = optarg;
            break;
        case 's':
            dump = 1;
            break;
        case 'v':
            verbose = 1;
            break;
        case 'H':
            help();
        default:
            tool_usage(usage_text);
        }
    }
    if (optind == argc || (key && dump))
        tool_usage(usage_text);
    /* the configuration is read for $name expansion in table names */
    tool_load(tool_confdir(copt), 1, 1);
    if (key)
        return query(key, argv + optind, argc - optind);
    for (int i = optind; i < argc; i++) {
        struct str spec = STR_INIT, err = STR_INIT;
        if (cfg_expand(cfg_main, argv[i], &spec, &err) < 0)
            tool_die("%s: %s", argv[i], str_c(&err));
        if (dump) {
            char *type, *file;
            split_spec(str_c(&spec), &type, &file);
            if (!map_type_is_db(type))
                tool_die("-s works on hash: and btree: tables only");
            char *dbpath = xasprintf("%s.db", file);
            if (map_db_dump(type, dbpath, dump_one, NULL, &err) < 0)
                tool_die("%s", str_c(&err));
            free(dbpath);
            free(type);
            free(file);
        } else {
            rc |= build(str_c(&spec), aliases, verbose);
        }
        str_free(&spec);
        str_free(&err);
    }
    return rc;
}
