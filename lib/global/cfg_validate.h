/*
 * cfg_validate.h - everything a daemon would die on, checked before it starts
 *
 * cfg_validate() is the one check of a configuration: `petrel check`,
 * master (start and reload) and every daemon call it, so that what passes
 * `petrel check` cannot stop a service. It runs cfg_check() and then checks
 * table types, smtpd restriction names and unsupported filter settings.
 */
#ifndef PETREL_CFG_VALIDATE_H
#define PETREL_CFG_VALIDATE_H

#include "cfg.h"
#include "mcf.h"

/* cfg_validate - all checks of main.cf (plus overrides already set in c); error count */
int cfg_validate(struct cfg *c, struct cfg_diag *diag);
/* cfg_validate_services - the same checks for each master.cf service with -o overrides,
 * on c's main.cf text; reports only problems at the service's master.cf line */
int cfg_validate_services(const struct cfg *c, const struct mcf *m, struct cfg_diag *diag);

#endif
