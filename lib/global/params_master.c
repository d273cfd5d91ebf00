/*
 * params_master.c - parameters of the master supervisor
 *
 * Pool sizes, throttling and shutdown timing. Per-service values may be
 * changed with -o in master.cf where noted.
 */
#include "cfg.h"

const struct cfg_param master_params[] = {
    {"default_process_limit", CFG_INT, "100", 1, 100000, 0,
     "The maximal number of processes of a service when master.cf says '-'."},
    {"default_process_min_idle", CFG_INT, "1", 0, 1000, 0,
     "How many idle processes master keeps ready for each inet service (never more than its "
     "maxproc); a per-service value may be set with -o."},
    {"service_throttle_time", CFG_TIME, "60s", 1, 86400, 0,
     "How long master waits before starting a service again whose processes keep failing "
     "before they are ready (see service_throttle_failures)."},
    {"service_throttle_failures", CFG_INT, "3", 1, 1000, 0,
     "How many processes of a service in a row must fail before they are ready to serve, "
     "with no process of that service ready, before master throttles the service. A "
     "process killed by SIGKILL or SIGTERM, or one that fails while others serve, never "
     "throttles it."},
    {"master_stop_timeout", CFG_TIME, "10s", 1, 3600, 0,
     "How long master waits for its children to end after SIGTERM before it kills them."},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};
