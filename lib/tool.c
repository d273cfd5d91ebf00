/*
 * tool.c - shared start-up of the administrative commands
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"
#include "tool.h"

static const char *tool_prog = "petrel";

void tool_init(const char *prog)
{
    const char *slash = strrchr(prog, '/');

    tool_prog = slash ? slash + 1 : prog;
    log_init(tool_prog, LOG_DEST_STDERR);
}

const char *tool_confdir(const char *opt)
{
    const char *env = getenv("MAIL_CONFIG");

    if (opt && *opt)
        return opt;
    if (env && *env)
        return env;
    return PETREL_CONFIG_DIR;
}

void tool_die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: fatal: ", tool_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

void tool_usage(const char *usage)
{
    fprintf(stderr, "usage: %s %s\n(try %s --help)\n", tool_prog, usage, tool_prog);
    exit(2);
}

void tool_load(const char *confdir, int optional, int tolerant)
{
    struct cfg_diag diag;

    cfg_diag_init(&diag);
    cfg_main = cfg_new(confdir);
    if (cfg_load(cfg_main, &diag) < 0 && !(optional && errno == ENOENT))
        tool_die("cannot read %s/main.cf: %s", confdir, strerror(errno));
    cfg_check(cfg_main, &diag);
    if (diag.errors && !tolerant) {
        for (size_t i = 0; i < diag.lines.n; i++)
            fprintf(stderr, "%s\n", diag.lines.v[i]);
        tool_die("%d error(s) in %s/main.cf", diag.errors, confdir);
    }
    cfg_diag_free(&diag);
}
