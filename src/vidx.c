#include "vidx.h"

#include "dbuf.h"
#include "fsutil.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ID_LEN 4096

struct slot {
    uint64_t hash;      /* 0 marks an empty slot */
    char *key;          /* kind byte followed by the id, NUL-terminated */
    uint32_t key_len;
    int64_t ticks;
};

struct vidx {
    char *dir;
    char *tenant;
    uint32_t gen;
    int fd;
    uint64_t len;       /* bytes written to the log (committed once synced) */
    uint64_t lines;     /* lines in the log, superseded ones included */
    struct slot *slots;
    size_t cap;         /* power of two */
    size_t count;
    struct dbuf wbuf;
};

/* FNV-1a: ids are short and this runs once per alert per page; 0 is reserved for "empty". */
static uint64_t hash_key(char kind, const char *id, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    h = (h ^ (unsigned char) kind) * 1099511628211ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char) id[i]) * 1099511628211ULL;
    return h ? h : 1;
}

static struct slot *find(const struct vidx *v, uint64_t h, char kind, const char *id, size_t len)
{
    size_t mask = v->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct slot *s = &v->slots[i];
        if (s->hash == 0)
            return s;
        if (s->hash == h && s->key_len == len + 1 && s->key[0] == kind &&
            memcmp(s->key + 1, id, len) == 0)
            return s;
    }
}

static int grow(struct vidx *v)
{
    size_t ncap = v->cap ? v->cap * 2 : 1024;
    struct slot *old = v->slots, *ns = calloc(ncap, sizeof(*ns));
    size_t ocap = v->cap;

    if (ns == NULL)
        return DF_ENOMEM;
    v->slots = ns;
    v->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].hash == 0)
            continue;
        size_t mask = ncap - 1, j = old[i].hash & mask;
        while (ns[j].hash != 0)
            j = (j + 1) & mask;
        ns[j] = old[i];
    }
    free(old);
    return DF_OK;
}

/* Sets the in-memory entry, without logging it. */
static int set(struct vidx *v, char kind, const char *id, size_t len, int64_t ticks)
{
    uint64_t h = hash_key(kind, id, len);
    struct slot *s;

    if ((v->count + 1) * 4 > v->cap * 3 && grow(v) != DF_OK)
        return DF_ENOMEM;
    s = find(v, h, kind, id, len);
    if (s->hash == 0) {
        s->key = malloc(len + 2);
        if (s->key == NULL)
            return DF_ENOMEM;
        s->key[0] = kind;
        memcpy(s->key + 1, id, len);
        s->key[len + 1] = '\0';
        s->key_len = (uint32_t) len + 1;
        s->hash = h;
        v->count++;
    }
    s->ticks = ticks;
    return DF_OK;
}

int vidx_get(const struct vidx *v, enum vidx_kind kind, const char *id, size_t len,
             int64_t *ticks)
{
    struct slot *s;
    if (v->cap == 0)
        return 0;
    s = find(v, hash_key((char) kind, id, len), (char) kind, id, len);
    if (s->hash == 0)
        return 0;
    *ticks = s->ticks;
    return 1;
}

/* Log line: "<kind> <ticks> <id length>:<id>\n". The length prefix keeps any id byte safe. */
static int log_line(struct dbuf *b, char kind, const char *id, size_t len, int64_t ticks)
{
    int rc = dbuf_printf(b, "%c %" PRId64 " %zu:", kind, ticks, len);
    if (rc == DF_OK)
        rc = dbuf_append(b, id, len);
    if (rc == DF_OK)
        rc = dbuf_putc(b, '\n');
    return rc;
}

int vidx_put(struct vidx *v, enum vidx_kind kind, const char *id, size_t len, int64_t ticks,
             struct df_err *err)
{
    if (len == 0 || len > MAX_ID_LEN)
        return df_err_set(err, DF_EINVAL, "id of %zu bytes cannot be indexed", len);
    if (set(v, (char) kind, id, len, ticks) != DF_OK ||
        log_line(&v->wbuf, (char) kind, id, len, ticks) != DF_OK)
        return df_err_set(err, DF_ENOMEM, "out of memory in the version index");
    v->lines++;
    return DF_OK;
}

static char *log_path(const struct vidx *v, uint32_t gen)
{
    char name[300];
    snprintf(name, sizeof(name), "vidx-%s-%" PRIu32 ".log", v->tenant, gen);
    return fs_join(v->dir, name);
}

int vidx_sync(struct vidx *v, struct df_err *err)
{
    if (v->wbuf.len == 0)
        return DF_OK;
    if (fs_write_all(v->fd, v->wbuf.p, v->wbuf.len) != DF_OK) {
        int e = errno;
        if (ftruncate(v->fd, (off_t) v->len) != 0)
            log_error("vidx", "could not cut a partial write: %s", strerror(errno));
        return df_err_set(err, DF_EIO, "write version index of %s: %s", v->tenant, strerror(e));
    }
    if (fsync(v->fd) != 0)
        return df_err_set(err, DF_EIO, "fsync version index of %s: %s", v->tenant,
                          strerror(errno));
    v->len += v->wbuf.len;
    dbuf_reset(&v->wbuf);
    return DF_OK;
}

static int parse_log(struct vidx *v, const char *data, size_t n, struct df_err *err)
{
    size_t i = 0;
    while (i < n) {
        char kind = data[i];
        char *end;
        int64_t ticks;
        unsigned long long len;

        if ((kind != 'I' && kind != 'A') || i + 2 >= n || data[i + 1] != ' ')
            goto bad;
        errno = 0;
        ticks = strtoll(data + i + 2, &end, 10);
        if (errno != 0 || *end != ' ' || end >= data + n)
            goto bad;
        len = strtoull(end + 1, &end, 10);
        if (errno != 0 || end >= data + n || *end != ':' || len == 0 || len > MAX_ID_LEN ||
            (size_t) (data + n - end - 1) < len + 1 || end[1 + len] != '\n')
            goto bad;
        if (set(v, kind, end + 1, (size_t) len, ticks) != DF_OK)
            return df_err_set(err, DF_ENOMEM, "out of memory loading the version index");
        v->lines++;
        i = (size_t) (end + 2 + len - data);
    }
    return DF_OK;
bad:
    return df_err_set(err, DF_ECORRUPT,
                      "version index of tenant %s is corrupt at byte %zu (below the committed "
                      "length): remove the state directory to re-collect from start_from",
                      v->tenant, i);
}

int vidx_open(struct vidx **out, const char *dir, const char *tenant, uint32_t gen,
              uint64_t committed_len, struct df_err *err)
{
    struct vidx *v = calloc(1, sizeof(*v));
    char *path = NULL, *data = NULL;
    struct stat st;
    int rc;

    if (v == NULL)
        return df_err_set(err, DF_ENOMEM, "out of memory");
    v->fd = -1;
    v->gen = gen;
    dbuf_init(&v->wbuf, (size_t) 1 << 30);
    v->dir = strdup(dir);
    v->tenant = strdup(tenant);
    if (v->dir == NULL || v->tenant == NULL || (path = log_path(v, gen)) == NULL) {
        rc = df_err_set(err, DF_ENOMEM, "out of memory");
        goto fail;
    }
    v->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (v->fd < 0 || fstat(v->fd, &st) != 0) {
        rc = df_err_set(err, DF_EIO, "open %s: %s", path, strerror(errno));
        goto fail;
    }
    if ((uint64_t) st.st_size < committed_len) {
        rc = df_err_set(err, DF_ECORRUPT,
                        "%s has %lld bytes but the checkpoint says %" PRIu64
                        " were committed: the version index was truncated or replaced",
                        path, (long long) st.st_size, committed_len);
        goto fail;
    }
    if ((uint64_t) st.st_size > committed_len) {
        /* Written after the last commit point: cut, like the journal. */
        if (ftruncate(v->fd, (off_t) committed_len) != 0 || fsync(v->fd) != 0) {
            rc = df_err_set(err, DF_EIO, "truncate %s: %s", path, strerror(errno));
            goto fail;
        }
    }
    if (committed_len > 0) {
        /* One byte more for a NUL: parse_log reads numbers with strtoll/strtoull, which stop
         * only at a non-digit, so a log ending inside a number must not run off the buffer. */
        data = malloc(committed_len + 1);
        if (data == NULL) {
            rc = df_err_set(err, DF_ENOMEM, "out of memory loading %s", path);
            goto fail;
        }
        for (size_t got = 0; got < committed_len;) {
            ssize_t r = pread(v->fd, data + got, committed_len - got, (off_t) got);
            if (r <= 0) {
                rc = df_err_set(err, DF_EIO, "read %s: %s", path,
                                r == 0 ? "unexpected end" : strerror(errno));
                goto fail;
            }
            got += (size_t) r;
        }
        data[committed_len] = '\0';
        rc = parse_log(v, data, committed_len, err);
        if (rc != DF_OK)
            goto fail;
    }
    if (v->cap == 0 && grow(v) != DF_OK) {
        rc = df_err_set(err, DF_ENOMEM, "out of memory");
        goto fail;
    }
    v->len = committed_len;
    free(data);
    free(path);
    *out = v;
    return DF_OK;
fail:
    free(data);
    free(path);
    vidx_close(v);
    return rc;
}

void vidx_close(struct vidx *v)
{
    if (v == NULL)
        return;
    if (v->fd >= 0)
        close(v->fd);
    for (size_t i = 0; i < v->cap; i++)
        free(v->slots[i].key);
    free(v->slots);
    dbuf_free(&v->wbuf);
    free(v->dir);
    free(v->tenant);
    free(v);
}

uint64_t vidx_len(const struct vidx *v)
{
    return v->len;
}

uint32_t vidx_gen(const struct vidx *v)
{
    return v->gen;
}

size_t vidx_count(const struct vidx *v)
{
    return v->count;
}

int vidx_wants_compaction(const struct vidx *v)
{
    /* Every incident update appends a line; rewriting costs O(live entries), so wait until at
     * least half of the log is superseded. */
    return v->lines > 2 * v->count + 100000;
}

int vidx_compact(struct vidx *v, int64_t prune_before, struct df_err *err)
{
    struct dbuf b;
    char *path = NULL;
    int fd = -1, rc;
    uint64_t lines = 0;
    size_t pruned = 0;

    rc = vidx_sync(v, err);
    if (rc != DF_OK)
        return rc;
    dbuf_init(&b, (size_t) 4 << 30);
    for (size_t i = 0; i < v->cap; i++) {
        struct slot *s = &v->slots[i];
        if (s->hash == 0)
            continue;
        if (s->ticks < prune_before) {
            pruned++;
            continue;
        }
        if (log_line(&b, s->key[0], s->key + 1, s->key_len - 1, s->ticks) != DF_OK) {
            rc = df_err_set(err, DF_ENOMEM, "out of memory compacting the version index");
            goto out;
        }
        lines++;
    }
    path = log_path(v, v->gen + 1);
    if (path == NULL) {
        rc = df_err_set(err, DF_ENOMEM, "out of memory");
        goto out;
    }
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0 || fs_write_all(fd, b.p, b.len) != DF_OK || fsync(fd) != 0) {
        rc = df_err_set(err, DF_EIO, "write %s: %s", path, strerror(errno));
        goto out;
    }
    rc = fs_sync_dir(v->dir, err);
    if (rc != DF_OK)
        goto out;
    /* Rebuild the table without the pruned entries. */
    if (pruned > 0) {
        for (size_t i = 0; i < v->cap; i++) {
            struct slot *s = &v->slots[i];
            if (s->hash != 0 && s->ticks < prune_before) {
                free(s->key);
                s->key = NULL;
                s->hash = 0;
                v->count--;
            }
        }
        /* Re-insert everything so probe chains stay intact after the deletions. */
        struct slot *old = v->slots;
        size_t ocap = v->cap;
        v->slots = calloc(ocap, sizeof(*v->slots));
        if (v->slots == NULL) {
            v->slots = old;
            rc = df_err_set(err, DF_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < ocap; i++) {
            if (old[i].hash == 0)
                continue;
            size_t mask = ocap - 1, j = old[i].hash & mask;
            while (v->slots[j].hash != 0)
                j = (j + 1) & mask;
            v->slots[j] = old[i];
        }
        free(old);
    }
    close(v->fd);
    v->fd = fd;
    fd = -1;
    v->gen++;
    v->len = b.len;
    v->lines = lines;
    log_info("vidx", "compacted version index tenant=%s entries=%zu pruned=%zu generation=%" PRIu32,
             v->tenant, v->count, pruned, v->gen);
    rc = DF_OK;
out:
    if (fd >= 0)
        close(fd);
    free(path);
    dbuf_free(&b);
    return rc;
}

int vidx_drop_old(struct vidx *v, struct df_err *err)
{
    char prefix[300];
    DIR *d;
    struct dirent *de;
    size_t plen;
    int rc = DF_OK;

    snprintf(prefix, sizeof(prefix), "vidx-%s-", v->tenant);
    plen = strlen(prefix);
    d = opendir(v->dir);
    if (d == NULL)
        return df_err_set(err, DF_EIO, "open %s: %s", v->dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        char *end;
        unsigned long g;
        if (strncmp(de->d_name, prefix, plen) != 0)
            continue;
        g = strtoul(de->d_name + plen, &end, 10);
        if (strcmp(end, ".log") != 0 || g == v->gen)
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) != 0 && errno != ENOENT) {
            rc = df_err_set(err, DF_EIO, "remove %s/%s: %s", v->dir, de->d_name,
                            strerror(errno));
            break;
        }
    }
    closedir(d);
    return rc;
}
