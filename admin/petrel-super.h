/*
 * petrel-super.h - declarations shared by petrel-super's rooms
 *
 * Rooms: petrel-super.c (options, delete / hold / release / requeue in
 * coordination with qmgr), petrel-super_repair.c (-s: check and repair the
 * queue).
 */
#ifndef PETREL_SUPER_H
#define PETREL_SUPER_H

#include <sys/types.h>

/* super_repair - -s: fix the queue directory (cwd); the number of problems left */
int super_repair(int qmgr_running, uid_t mail_uid, gid_t mail_gid, int verbose);

#endif
