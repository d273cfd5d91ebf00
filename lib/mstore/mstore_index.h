/*
 * mstore_index.h - petrel.index: locked sections, records, directory scans (mstore_index.c)
 *
 * Internal to the mail store; called by the views (mstore_box.c) and by
 * APPEND/COPY (mstore_copy.c).
 */
#ifndef PETREL_MSTORE_INDEX_H
#define PETREL_MSTORE_INDEX_H

#include <db.h>
#include <time.h>

#include "mstore_impl.h"

#define MS_INDEX_VERSION 1
#define MS_XLOG_MAX 20000  /* expunge log entries kept at most ... */
#define MS_XLOG_KEEP 15000 /* ... and after pruning */

void ms_idx_init(void);
int ms_idx_lock(struct mstore_box *b, int excl);
int ms_idx_open(struct mstore_box *b);
int ms_idx_begin(struct mstore_box *b, int excl);
uint64_t ms_idx_end(struct mstore_box *b, int bump);
int ms_idx_create(struct mstore_box *b, int corrupt);
int ms_idx_load(struct mstore_box *b, struct mstore_msg **recs, uint32_t *n);
void ms_idx_want_fsync(void);
uint64_t ms_read_stamp(struct mstore_box *b);
int ms_hdr_put(struct mstore_box *b);
int ms_rec_get(struct mstore_box *b, uint32_t uid, struct mstore_msg *m);
int ms_rec_put(struct mstore_box *b, const struct mstore_msg *m);
int ms_rec_del(struct mstore_box *b, uint32_t uid, uint64_t modseq);

/* a walk over records in ascending UIDs (one exclusive section): a get
 * steps to the next record when that is the one asked for, and a put
 * rewrites the record of the last get in place (no second search) */
struct ms_rec_cursor {
    DBC *c;
    uint32_t uid; /* of the record under the cursor; 0 when not on one */
};
int ms_recc_open(struct mstore_box *b, struct ms_rec_cursor *rc);
int ms_recc_get(struct ms_rec_cursor *rc, uint32_t uid, struct mstore_msg *m);
int ms_recc_put(struct ms_rec_cursor *rc, const struct mstore_msg *m);
void ms_recc_close(struct ms_rec_cursor *rc);
void ms_recs_free(struct mstore_msg *v, uint32_t n);
void ms_xlog_prune(struct mstore_box *b);
int ms_kw_read(struct mstore_box *b);
int ms_kw_write(struct mstore_box *b);
int ms_dir_mtimes(struct mstore_box *b, struct timespec *nt, struct timespec *ct);
int ms_scan_needed(const struct ms_hdr *h, const struct timespec *nt, const struct timespec *ct);
int ms_scan(struct mstore_box *b, struct mstore_msg **recs, uint32_t *n);
void ms_note_cur_change(struct mstore_box *b, const struct timespec *before);

#endif
