/*
 * maildir.h - the one Maildir writer: unique names, ,S=/,W= sizes, the durable tmp -> new move
 *
 * Every program that puts a message file into a Maildir goes through here:
 * local delivery (delivery/local_mailbox.c) and the mail store's APPEND,
 * COPY and MOVE (mstore_copy.c). This module owns the file-name format:
 *
 *   base   "<sec>.M<usec>P<pid>Q<n>.<host>"  (maildir_unique: time, process,
 *          per-process sequence, host: unique across processes and machines,
 *          as the Maildir specification asks), or "<sec>.M<usec><key>.<host>"
 *          for a caller whose key is unique on this host by itself
 *          (maildir_keyed: local's delivery key, the same for every attempt)
 *   sizes  ",S=<octets on disk>,W=<octets with CRLF line ends>" (Dovecot's form;
 *          W is the RFC822.SIZE and POP3 LIST size that imapd and popd take
 *          from the name without reading the file)
 *   info   ":2,<flags>" (the letters D F R S T, in ASCII order)
 *
 * <host> is the system's host name (gethostname(2)) with '/' as "\057" and
 * ':' as "\072" for every writer: the uniqueness of a name rests on the
 * machine, and main.cf's $myhostname may be shared by several machines that
 * deliver into one store.
 *
 * A message is written under tmp/ (O_EXCL, no link followed), fsync'ed and
 * closed (maildir_finish); then either delivered into new/ with a durable
 * link and an fsync of new/ (maildir_deliver), or renamed by the mail store
 * into cur/ under its index lock (maildir_move) followed by one fsync of
 * cur/ (maildir_sync_dir) before the index hands out the UIDs.
 * Uses nothing of the mail store but the flag bits of mstore.h.
 */
#ifndef PETREL_MAILDIR_H
#define PETREL_MAILDIR_H

#include <stddef.h>
#include <stdint.h>

#include "str.h"

/* ---- names ------------------------------------------------------------------------ */

/* maildir_unique - a new unique base name "<sec>.M<usec>P<pid>Q<n>.<host>" */
void maildir_unique(struct str *out);
/* maildir_keyed - "<sec>.M<usec><key>.<host>" (key: letters and digits the caller
 * guarantees unique on this host for that time) */
void maildir_keyed(struct str *out, long long sec, long usec, const char *key);
/* maildir_sized - base ",S=<size>,W=<vsize>" (each left out when negative) */
void maildir_sized(struct str *out, const char *base, int64_t size, int64_t vsize);
/* maildir_base_len - the length of a file name without its ":2,..." info part */
size_t maildir_base_len(const char *fname);
/* maildir_name_vsize - the ",W=n" size that a name carries, or -1 */
int64_t maildir_name_vsize(const char *fname);
/* maildir_info_flags - the MSTORE_F_ system flags of a name's ":2," info part */
unsigned maildir_info_flags(const char *fname);
/* maildir_set_flags - the name of a file with new system flags: base ":2," and the flag
 * letters, keeping letters we do not know, in ASCII order */
void maildir_set_flags(const char *old, unsigned flags, struct str *out);
/* maildir_vsize - the size of n stored bytes at p once every bare LF is CRLF (what
 * RFC822.SIZE counts); prev is the byte before p ('\0' at the start of the file) */
uint64_t maildir_vsize(const void *p, size_t n, int prev);

/* ---- writing a message -------------------------------------------------------------- */

#define MAILDIR_CRLF 1 /* the input has CRLF line ends (IMAP APPEND): CRLF is stored as LF */

struct maildir_file;

/* maildir_create - a new file under dir/tmp/ (dir: the Maildir, with or without a final
 * '/') with a unique name, mode 0600; -1 with errno (*out is then NULL) */
int maildir_create(const char *dir, int flags, struct maildir_file **out);
/* maildir_write - add message bytes; 0, or -1 with errno (the first error sticks) */
int maildir_write(struct maildir_file *f, const void *p, size_t n);
/* maildir_finish - write out, fsync and close the file; 0, or -1 with errno */
int maildir_finish(struct maildir_file *f);
/* the file under tmp/, its base name, the bytes stored (S=) and their CRLF size (W=) */
const char *maildir_tmp_path(const struct maildir_file *f);
const char *maildir_base(const struct maildir_file *f);
uint64_t maildir_size(const struct maildir_file *f);
uint64_t maildir_crlf_size(const struct maildir_file *f);
/* maildir_name - the final name: base (NULL: the tmp/ file's own) with ,S= and ,W= */
void maildir_name(const struct maildir_file *f, const char *base, struct str *out);
/* maildir_deliver - after maildir_finish: link the file into new/ as maildir_name(base),
 * remove it from tmp/, fsync new/. 0 delivered, 1 the name was there already (an earlier
 * attempt of the same keyed delivery), -1 with errno and maildir_failed() */
int maildir_deliver(struct maildir_file *f, const char *base);
/* maildir_failed - what failed last ("link maildir file to", "fsync") and on which path */
const char *maildir_failed(const struct maildir_file *f, const char **path);
/* maildir_keep - the caller takes over the file under tmp/ (it moved it, or will):
 * maildir_free leaves it alone */
void maildir_keep(struct maildir_file *f);
/* maildir_free - close and free; a file still under tmp/ is removed */
void maildir_free(struct maildir_file *f);

/* ---- moves of the mail store ------------------------------------------------------------ */

/* maildir_move - rename the file at tmp (under dir/tmp/) to dir/cur/name; -1 with errno.
 * The caller makes it durable with maildir_sync_dir(dir, "cur") */
int maildir_move(const char *tmp, const char *dir, const char *name);
/* maildir_sync_dir - fsync dir/sub (sub NULL: dir itself) so that its entries survive a
 * crash; -1 with errno */
int maildir_sync_dir(const char *dir, const char *sub);

#endif
