/*
 * cfg_registry.c - the list of every program's parameter table
 *
 * Each program owns its table in its own directory; listing it here makes
 * its names known to every program (so main.cf can be checked anywhere)
 * and to petrel-conf and petrel.conf(5).
 */
#include "cfg.h"

extern const struct cfg_param cfg_common_params[];
extern const struct cfg_param master_params[];

const struct cfg_table cfg_tables[] = {
    {"common", cfg_common_params},
    {"master", master_params},
    {NULL, NULL},
};
