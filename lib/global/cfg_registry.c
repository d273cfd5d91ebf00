/*
 * cfg_registry.c - the list of every program's parameter table
 *
 * Each program has its table in params_<program>.c beside this file (the
 * mail-system layer, so that no daemon source is part of a library); listing it here makes
 * its names known to every program (so main.cf can be checked anywhere)
 * and to petrel-conf and petrel.conf(5).
 */
#include "cfg.h"

extern const struct cfg_param cfg_common_params[];
extern const struct cfg_param master_params[];
extern const struct cfg_param smtpd_params[];
extern const struct cfg_param qmgr_params[];
extern const struct cfg_param local_params[];
extern const struct cfg_param smtp_params[];
extern const struct cfg_param popd_params[];
extern const struct cfg_param imapd_params[];
extern const struct cfg_param admin_params[];

const struct cfg_table cfg_tables[] = {
    {"common", cfg_common_params},
    {"master", master_params},
    {"smtpd", smtpd_params},
    {"qmgr", qmgr_params},
    {"local", local_params},
    {"smtp", smtp_params},
    {"popd", popd_params},
    {"imapd", imapd_params},
    {"admin", admin_params},
    {NULL, NULL},
};
