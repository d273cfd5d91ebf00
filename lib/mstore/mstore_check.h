/*
 * mstore_check.h - trust in the index and cache files (mstore_check.c); internal to the store
 */
#ifndef PETREL_MSTORE_CHECK_H
#define PETREL_MSTORE_CHECK_H

#include <db.h>

#include "mstore_impl.h"

/* the files whose trust mstore_check.c keeps */
#define MS_FILE_INDEX 0
#define MS_FILE_CACHE 1

int ms_file_check(struct mstore_box *b, int which);
void ms_file_trust(struct mstore_box *b, int which);
void ms_file_distrust(struct mstore_box *b, int which);
void ms_file_set_aside(struct mstore_box *b, int which);
int ms_db_verify(const char *path, struct str *why);
int ms_db_close(DB *db);

#endif
