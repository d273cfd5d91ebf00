/*
 * mstore_name.h - mailbox names and where they live (mstore_name.c); internal to the store
 *
 * mstore_name_ok, mstore_match and mstore_special_use, the public part, are in mstore.h.
 */
#ifndef PETREL_MSTORE_NAME_H
#define PETREL_MSTORE_NAME_H

#include "mstore_impl.h"

/* ms_is_inbox - whether name is INBOX (case-insensitive) */
int ms_is_inbox(const char *name);
/* ms_special_name - the i-th special-use folder name (Drafts, Sent, ...), NULL past the end */
const char *ms_special_name(size_t i);
/* ms_box_path - the directory of mailbox name (a valid, normalised name) */
int ms_box_path(const struct mstore *st, const char *name, struct str *path);
/* ms_is_dir - whether path is a directory */
int ms_is_dir(const char *path);
/* ms_folder_dirs - the folder names present as directories in the root */
int ms_folder_dirs(const struct mstore *st, struct strlist *out);
/* ms_has_children - whether some folder directory lies below name */
int ms_has_children(const struct mstore *st, const char *name);

#endif
