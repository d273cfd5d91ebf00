/*
 * imapd_params.c - parameters of imapd
 *
 * Listed in lib/cfg_registry.c; see lib/cfg.h for the table format.
 */
#include "cfg.h"

const struct cfg_param imapd_params[] = {
    {NULL, 0, NULL, 0, 0, 0, NULL},
};
