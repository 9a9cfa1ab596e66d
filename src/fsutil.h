/* Small file-system helpers shared by the journal, index, checkpoint and file output. */
#ifndef DF_FSUTIL_H
#define DF_FSUTIL_H

#include "common.h"

#include <stddef.h>

/* Writes all n bytes (retrying on EINTR and short writes). Returns 0 or DF_EIO (errno kept). */
int fs_write_all(int fd, const void *buf, size_t n);
/* fsync of a directory, so a created, renamed or deleted entry survives a crash. */
int fs_sync_dir(const char *dir, struct df_err *err);
/* mkdir -p with mode 0750 for the last component. */
int fs_mkdirs(const char *path, struct df_err *err);
/* Replaces path atomically with data: write temp, fsync, rename, fsync the directory. */
int fs_replace_file(const char *dir, const char *name, const void *data, size_t n,
                    struct df_err *err);
/* malloc'd "dir/name"; NULL when out of memory. */
char *fs_join(const char *dir, const char *name);

#endif
