/*
 * mstore_uidlog.h - petrel.uids, the second copy of the UIDs (mstore_uidlog.c); internal
 */
#ifndef PETREL_MSTORE_UIDLOG_H
#define PETREL_MSTORE_UIDLOG_H

#include "mstore_impl.h"

/* petrel.uids as read back */
struct ms_uidlog {
    uint32_t uidvalidity;
    uint32_t next;  /* UIDNEXT when the file was last written whole */
    uint32_t *uids; /* ascending */
    char **bases;
    uint32_t n, cap;
};

void ms_uidlog_add(struct mstore_box *b, uint32_t uid, const char *fname);
void ms_uidlog_flush(struct mstore_box *b, int sync);
int ms_uidlog_write(struct mstore_box *b, const struct mstore_msg *recs, uint32_t n);
int ms_uidlog_read(struct mstore_box *b, struct ms_uidlog *l);
void ms_uidlog_free(struct ms_uidlog *l);
void ms_uidlog_maintain(struct mstore_box *b, const struct mstore_msg *recs, uint32_t n, int excl);

#endif
