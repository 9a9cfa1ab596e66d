#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return DF_EIO;
        }
        p += w;
        n -= (size_t) w;
    }
    return DF_OK;
}

int fs_sync_dir(const char *dir, struct df_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return df_err_set(err, DF_EIO, "open directory %s: %s", dir, strerror(errno));
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return df_err_set(err, DF_EIO, "fsync directory %s: %s", dir, strerror(e));
    }
    if (close(fd) != 0)
        return df_err_set(err, DF_EIO, "close directory %s: %s", dir, strerror(errno));
    return DF_OK;
}

int fs_mkdirs(const char *path, struct df_err *err)
{
    char buf[4096];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof(buf))
        return df_err_set(err, DF_EINVAL, "bad directory path '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0750) != 0 && errno != EEXIST)
            return df_err_set(err, DF_EIO, "create directory %s: %s", buf, strerror(errno));
        buf[i] = saved;
    }
    return DF_OK;
}

char *fs_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (p == NULL)
        return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

int fs_replace_file(const char *dir, const char *name, const void *data, size_t n,
                    struct df_err *err)
{
    int rc = DF_ENOMEM, fd = -1;
    char *path = fs_join(dir, name);
    char *tmp = NULL;

    if (path == NULL)
        goto out;
    tmp = malloc(strlen(path) + 5);
    if (tmp == NULL)
        goto out;
    sprintf(tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        rc = df_err_set(err, DF_EIO, "create %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (fs_write_all(fd, data, n) != DF_OK) {
        rc = df_err_set(err, DF_EIO, "write %s: %s", tmp, strerror(errno));
        goto out;
    }
    /* fsync before rename: otherwise a crash can leave the new name pointing at empty data. */
    if (fsync(fd) != 0) {
        rc = df_err_set(err, DF_EIO, "fsync %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = df_err_set(err, DF_EIO, "close %s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    /* The rename is the commit point; the directory fsync makes it durable. */
    if (rename(tmp, path) != 0) {
        rc = df_err_set(err, DF_EIO, "rename %s to %s: %s", tmp, path, strerror(errno));
        goto out;
    }
    rc = fs_sync_dir(dir, err);
out:
    if (fd >= 0)
        close(fd);
    free(tmp);
    free(path);
    return rc;
}
