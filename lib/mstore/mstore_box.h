/*
 * mstore_box.h - the internal side of an open mailbox (mstore_box.c)
 *
 * A handle without a view (ms_box_handle) for APPEND and COPY targets, and
 * the helpers mstore_copy.c shares with the views. The public side is mstore.h.
 */
#ifndef PETREL_MSTORE_BOX_H
#define PETREL_MSTORE_BOX_H

#include "mstore_impl.h"

int ms_box_handle(struct mstore *st, const char *name, int flags, struct mstore_box **out);
void ms_box_free(struct mstore_box *b);
void ms_msg_path(const struct mstore_box *b, int dir, const char *fname, struct str *out);
void ms_msgdirs_close(struct mstore_box *b);
int ms_kw_mask(struct mstore_box *b, const char *const *names, size_t n, uint64_t *mask);
void ms_changes_expunged(struct mstore_box *b, const uint32_t *gone, size_t n,
                         struct mstore_changes *ch);

#endif
