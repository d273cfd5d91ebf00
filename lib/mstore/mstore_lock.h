/*
 * mstore_lock.h - petrel.lock byte-range locks (mstore_lock.c); internal to the mail store
 */
#ifndef PETREL_MSTORE_LOCK_H
#define PETREL_MSTORE_LOCK_H

/* ms_lock - lock byte range (MS_LOCK_*) of fd: type F_RDLCK, F_WRLCK or F_UNLCK; wait or
 * fail at once; 0 or -1 with errno */
int ms_lock(int fd, int range, int type, int wait);
/* ms_unlock - release byte range of fd */
int ms_unlock(int fd, int range);
/* ms_open_lockfile - open (creating) dir/petrel.lock; -1 logged */
int ms_open_lockfile(const char *dir);

#endif
