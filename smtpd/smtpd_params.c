/*
 * smtpd_params.c - parameters of smtpd
 *
 * Listed in lib/cfg_registry.c; see lib/cfg.h for the table format.
 */
#include "cfg.h"

const struct cfg_param smtpd_params[] = {
    {NULL, 0, NULL, 0, 0, 0, NULL},
};
