/*
 * cfg_registry.c - the registry: every program's parameter table, expanded once
 *
 * Each program declares its parameters in params_<owner>.def beside this
 * file (the mail-system layer, so that no daemon source is part of a
 * library), as P(name, TYPE, default, min, max, flags, doc) lines; every
 * table is listed in cfg_params.def. Expanded here into one array,
 * cfg_params[], indexed by enum cfg_id (cfg_params.h): each table's
 * parameters followed by an entry with a NULL name, so that cfg_tables[]
 * can point into it with the table layout cfg.h describes. Listing a table
 * makes its names known to every program (so main.cf can be checked
 * anywhere), to petrel-conf and to petrel.conf(5).
 */
#include "cfg.h"

/* installation paths: configure passes them; these are for a bare compiler run */
#ifndef PETREL_CONFIG_DIR
#define PETREL_CONFIG_DIR "/etc/petrel"
#endif
#ifndef PETREL_QUEUE_DIR
#define PETREL_QUEUE_DIR "/var/spool/petrel"
#endif
#ifndef PETREL_DAEMON_DIR
#define PETREL_DAEMON_DIR "/usr/libexec/petrel"
#endif
#ifndef PETREL_COMMAND_DIR
#define PETREL_COMMAND_DIR "/usr/sbin"
#endif
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

const struct cfg_param cfg_params[CFG_ID_COUNT] = {
#define CFG_TABLE(o)
#define CFG_TABLE_END(o) [CFG_ID_END_##o] = {NULL, 0, NULL, 0, 0, 0, NULL},
#define P(name, type, defval, min, max, flags, doc) \
    [CFG_ID_##name] = {#name, CFG_##type, defval, min, max, flags, doc},
#include "cfg_params.def"
#undef P
#undef CFG_TABLE
#undef CFG_TABLE_END
};

const struct cfg_table cfg_tables[] = {
#define CFG_TABLE(o) {#o, &cfg_params[CFG_ID_BEGIN_##o]},
#define CFG_TABLE_END(o)
#define P(name, type, ...)
#include "cfg_params.def"
#undef P
#undef CFG_TABLE
#undef CFG_TABLE_END
    {NULL, NULL},
};
