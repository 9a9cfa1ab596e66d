#include "jrnl.h"

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
#include <zlib.h>

#define SEG_NAME_LEN 24 /* 20 digits + ".seg" */
#define WRITE_BUFFER_FLUSH (1u << 20)

struct segment {
    uint64_t start;
    uint64_t size;
};

struct jrnl {
    char *dir;
    struct segment *segs;   /* sorted, contiguous; the last one is being appended to */
    size_t n_segs;
    int fd;                 /* last segment, O_APPEND */
    uint64_t seg_bytes;
    struct dbuf wbuf;       /* appended, not yet written */
    int unsynced;           /* written but not fsynced */
    int dir_dirty;          /* a segment was created or deleted */
};

struct jrnl_reader {
    char *dir;
    int fd;
    uint64_t seg_start;
    uint64_t pos;           /* next record */
    char *buf;              /* bytes [buf_off, buf_off + buf_len) of the segment */
    size_t buf_alloc;
    uint64_t buf_off;
    size_t buf_len;
};

static void seg_name(char out[SEG_NAME_LEN + 1], uint64_t start)
{
    snprintf(out, SEG_NAME_LEN + 1, "%020" PRIu64 ".seg", start);
}

static int seg_cmp(const void *a, const void *b)
{
    const struct segment *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static int scan_segments(struct jrnl *j, struct df_err *err)
{
    DIR *d = opendir(j->dir);
    struct dirent *de;
    size_t alloc = 0;

    if (d == NULL)
        return df_err_set(err, DF_EIO, "open journal directory %s: %s", j->dir,
                          strerror(errno));
    while ((de = readdir(d)) != NULL) {
        char *end;
        struct stat st;
        uint64_t start;

        if (strlen(de->d_name) != SEG_NAME_LEN || strcmp(de->d_name + 20, ".seg") != 0)
            continue;
        start = strtoull(de->d_name, &end, 10);
        if (end != de->d_name + 20)
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, 0) != 0) {
            closedir(d);
            return df_err_set(err, DF_EIO, "stat %s/%s: %s", j->dir, de->d_name,
                              strerror(errno));
        }
        if (j->n_segs == alloc) {
            size_t na = alloc ? alloc * 2 : 16;
            struct segment *p = realloc(j->segs, na * sizeof(*p));
            if (p == NULL) {
                closedir(d);
                return df_err_set(err, DF_ENOMEM, "out of memory");
            }
            j->segs = p;
            alloc = na;
        }
        j->segs[j->n_segs].start = start;
        j->segs[j->n_segs].size = (uint64_t) st.st_size;
        j->n_segs++;
    }
    closedir(d);
    if (j->n_segs > 0)
        qsort(j->segs, j->n_segs, sizeof(*j->segs), seg_cmp);
    return DF_OK;
}

static int remove_segment(struct jrnl *j, uint64_t start, struct df_err *err)
{
    char name[SEG_NAME_LEN + 1];
    char *path;
    int rc = DF_OK;

    seg_name(name, start);
    path = fs_join(j->dir, name);
    if (path == NULL)
        return df_err_set(err, DF_ENOMEM, "out of memory");
    if (unlink(path) != 0 && errno != ENOENT)
        rc = df_err_set(err, DF_EIO, "remove %s: %s", path, strerror(errno));
    free(path);
    j->dir_dirty = 1;
    return rc;
}

static int open_segment_fd(struct jrnl *j, uint64_t start, int create, struct df_err *err)
{
    char name[SEG_NAME_LEN + 1];
    char *path;
    int flags = O_WRONLY | O_APPEND | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);

    seg_name(name, start);
    path = fs_join(j->dir, name);
    if (path == NULL)
        return df_err_set(err, DF_ENOMEM, "out of memory");
    j->fd = open(path, flags, 0640);
    if (j->fd < 0) {
        int e = errno;
        free(path);
        return df_err_set(err, DF_EIO, "open journal segment %s/%s: %s", j->dir, name,
                          strerror(e));
    }
    free(path);
    if (create)
        j->dir_dirty = 1;
    return DF_OK;
}

/*
 * Recovery is "truncate to the committed length": everything past the checkpoint's journal end
 * was written after the last commit point and will be produced again by the collector, whose
 * version index was rolled back the same way.
 */
static int recover(struct jrnl *j, uint64_t committed_end, struct df_err *err)
{
    int rc;
    size_t keep = 0;

    for (size_t i = 0; i < j->n_segs; i++) {
        struct segment *s = &j->segs[i];
        if (i > 0 && s->start != j->segs[i - 1].start + j->segs[i - 1].size &&
            s->start <= committed_end)
            return df_err_set(err, DF_ECORRUPT,
                              "journal %s: segment %020" PRIu64 ".seg does not follow the one "
                              "before it (gap or overlap); the journal was modified by hand",
                              j->dir, s->start);
    }
    for (size_t i = 0; i < j->n_segs; i++) {
        struct segment *s = &j->segs[i];
        /* A segment starting at the committed end holds only uncommitted data, unless it is
         * the first one (an empty journal after a release). */
        if (s->start > committed_end || (s->start == committed_end && i > 0)) {
            rc = remove_segment(j, s->start, err);
            if (rc != DF_OK)
                return rc;
            continue;
        }
        keep = i + 1;
    }
    j->n_segs = keep;
    if (j->n_segs == 0) {
        if (committed_end != 0)
            log_warn("journal",
                     "journal is empty but the checkpoint says it ended at %" PRIu64
                     "; starting a new segment there dir=%s",
                     committed_end, j->dir);
        j->segs = j->segs ? j->segs : malloc(sizeof(*j->segs));
        if (j->segs == NULL)
            return df_err_set(err, DF_ENOMEM, "out of memory");
        j->segs[0].start = committed_end;
        j->segs[0].size = 0;
        j->n_segs = 1;
        return open_segment_fd(j, committed_end, 1, err);
    }
    struct segment *last = &j->segs[j->n_segs - 1];
    if (last->start + last->size < committed_end)
        return df_err_set(err, DF_ECORRUPT,
                          "journal %s ends at %" PRIu64 " but the checkpoint says %" PRIu64
                          " bytes were committed: committed events are missing (disk "
                          "corruption or files removed by hand)",
                          j->dir, last->start + last->size, committed_end);
    rc = open_segment_fd(j, last->start, 0, err);
    if (rc != DF_OK)
        return rc;
    if (last->start + last->size > committed_end) {
        uint64_t cut = last->start + last->size - committed_end;
        if (ftruncate(j->fd, (off_t) (committed_end - last->start)) != 0 || fsync(j->fd) != 0)
            return df_err_set(err, DF_EIO, "truncate journal segment: %s", strerror(errno));
        log_info("journal", "discarded uncommitted journal tail bytes=%" PRIu64, cut);
        last->size = committed_end - last->start;
    }
    return DF_OK;
}

int jrnl_open(struct jrnl **out, const char *dir, uint64_t committed_end, uint64_t segment_bytes,
              struct df_err *err)
{
    int rc;
    struct jrnl *j = calloc(1, sizeof(*j));

    if (j == NULL)
        return df_err_set(err, DF_ENOMEM, "out of memory");
    j->fd = -1;
    j->seg_bytes = segment_bytes ? segment_bytes : 64u << 20;
    dbuf_init(&j->wbuf, (size_t) JRNL_MAX_RECORD + WRITE_BUFFER_FLUSH);
    j->dir = strdup(dir);
    if (j->dir == NULL) {
        rc = df_err_set(err, DF_ENOMEM, "out of memory");
        goto out;
    }
    rc = fs_mkdirs(dir, err);
    if (rc != DF_OK)
        goto out;
    rc = scan_segments(j, err);
    if (rc != DF_OK)
        goto out;
    rc = recover(j, committed_end, err);
    if (rc != DF_OK)
        goto out;
    if (j->dir_dirty) {
        rc = fs_sync_dir(j->dir, err);
        if (rc != DF_OK)
            goto out;
        j->dir_dirty = 0;
    }
    *out = j;
    return DF_OK;
out:
    jrnl_close(j);
    return rc;
}

void jrnl_close(struct jrnl *j)
{
    if (j == NULL)
        return;
    if (j->fd >= 0)
        close(j->fd);
    dbuf_free(&j->wbuf);
    free(j->segs);
    free(j->dir);
    free(j);
}

uint64_t jrnl_end(const struct jrnl *j)
{
    const struct segment *last = &j->segs[j->n_segs - 1];
    return last->start + last->size + j->wbuf.len;
}

uint64_t jrnl_start(const struct jrnl *j)
{
    return j->segs[0].start;
}

static int flush_buffer(struct jrnl *j, struct df_err *err)
{
    if (j->wbuf.len == 0)
        return DF_OK;
    if (fs_write_all(j->fd, j->wbuf.p, j->wbuf.len) != DF_OK) {
        int e = errno;
        /* Cut a partial write away so the segment ends on a record boundary again. */
        if (ftruncate(j->fd, (off_t) j->segs[j->n_segs - 1].size) != 0)
            log_error("journal", "could not cut a partial write: %s", strerror(errno));
        dbuf_reset(&j->wbuf);
        return df_err_set(err, DF_EIO, "write journal %s: %s",
                          j->dir, strerror(e));
    }
    j->segs[j->n_segs - 1].size += j->wbuf.len;
    dbuf_reset(&j->wbuf);
    j->unsynced = 1;
    return DF_OK;
}

static int start_segment(struct jrnl *j, struct df_err *err)
{
    int rc;
    uint64_t start = jrnl_end(j);
    struct segment *p;

    rc = flush_buffer(j, err);
    if (rc != DF_OK)
        return rc;
    /* The old segment is never written again: make it durable before letting it go. */
    if (j->unsynced && fsync(j->fd) != 0)
        return df_err_set(err, DF_EIO, "fsync journal: %s", strerror(errno));
    j->unsynced = 0;
    p = realloc(j->segs, (j->n_segs + 1) * sizeof(*p));
    if (p == NULL)
        return df_err_set(err, DF_ENOMEM, "out of memory");
    j->segs = p;
    close(j->fd);
    j->fd = -1;
    rc = open_segment_fd(j, start, 1, err);
    if (rc != DF_OK)
        return rc;
    j->segs[j->n_segs].start = start;
    j->segs[j->n_segs].size = 0;
    j->n_segs++;
    return DF_OK;
}

static void put_u16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) v;
    p[1] = (unsigned char) (v >> 8);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    put_u16(p, v & 0xffff);
    put_u16(p + 2, v >> 16);
}

static uint32_t get_u16(const unsigned char *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8;
}

static uint32_t get_u32(const unsigned char *p)
{
    return get_u16(p) | get_u16(p + 2) << 16;
}

int jrnl_append(struct jrnl *j, const struct jrnl_entry *e, struct df_err *err)
{
    size_t payload = 1 + 32 + 2 + e->tenant_len + 2 + e->incident_id_len + 4 + e->json_len + 4 +
                     e->cef_len;
    size_t at;
    unsigned char *p;
    int rc;

    if (e->tenant_len > 0xffff || e->incident_id_len > 0xffff || payload > JRNL_MAX_RECORD)
        return df_err_set(err, DF_EINVAL, "event %s too large for the journal (%zu bytes)",
                          e->event_id, payload);
    if (j->segs[j->n_segs - 1].size + j->wbuf.len >= j->seg_bytes) {
        rc = start_segment(j, err);
        if (rc != DF_OK)
            return rc;
    }
    at = j->wbuf.len;
    /* Reserve the whole record, then fill it in place. */
    rc = dbuf_append(&j->wbuf, NULL, 0);
    if (rc == DF_OK && JRNL_HEADER_BYTES + payload > j->wbuf.max - j->wbuf.len)
        rc = DF_ENOMEM;
    if (rc == DF_OK) {
        static const char zeros[256];
        size_t left = JRNL_HEADER_BYTES + payload;
        while (rc == DF_OK && left > 0) {
            size_t n = left < sizeof(zeros) ? left : sizeof(zeros);
            rc = dbuf_append(&j->wbuf, zeros, n);
            left -= n;
        }
    }
    if (rc != DF_OK) {
        j->wbuf.len = at;
        return df_err_set(err, DF_ENOMEM, "out of memory buffering the journal");
    }
    p = (unsigned char *) j->wbuf.p + at + JRNL_HEADER_BYTES;
    *p++ = (unsigned char) e->type;
    memcpy(p, e->event_id, 32);
    p += 32;
    put_u16(p, (uint32_t) e->tenant_len);
    memcpy(p + 2, e->tenant, e->tenant_len);
    p += 2 + e->tenant_len;
    put_u16(p, (uint32_t) e->incident_id_len);
    if (e->incident_id_len)
        memcpy(p + 2, e->incident_id, e->incident_id_len);
    p += 2 + e->incident_id_len;
    put_u32(p, (uint32_t) e->json_len);
    memcpy(p + 4, e->json, e->json_len);
    p += 4 + e->json_len;
    put_u32(p, (uint32_t) e->cef_len);
    if (e->cef_len)
        memcpy(p + 4, e->cef, e->cef_len);
    p = (unsigned char *) j->wbuf.p + at;
    put_u32(p, (uint32_t) payload);
    put_u32(p + 4, (uint32_t) crc32(0L, p + JRNL_HEADER_BYTES, (uInt) payload));
    if (j->wbuf.len >= WRITE_BUFFER_FLUSH)
        return flush_buffer(j, err);
    return DF_OK;
}

int jrnl_sync(struct jrnl *j, struct df_err *err)
{
    int rc = flush_buffer(j, err);
    if (rc != DF_OK)
        return rc;
    if (j->unsynced) {
        if (fsync(j->fd) != 0)
            return df_err_set(err, DF_EIO, "fsync journal %s: %s", j->dir, strerror(errno));
        j->unsynced = 0;
    }
    if (j->dir_dirty) {
        rc = fs_sync_dir(j->dir, err);
        if (rc != DF_OK)
            return rc;
        j->dir_dirty = 0;
    }
    return DF_OK;
}

int jrnl_release(struct jrnl *j, uint64_t pos, struct df_err *err)
{
    size_t drop = 0;
    int rc;

    /* Never the last segment: it is the one being appended to. */
    while (drop + 1 < j->n_segs && j->segs[drop].start + j->segs[drop].size <= pos) {
        rc = remove_segment(j, j->segs[drop].start, err);
        if (rc != DF_OK)
            return rc;
        drop++;
    }
    if (drop == 0)
        return DF_OK;
    memmove(j->segs, j->segs + drop, (j->n_segs - drop) * sizeof(*j->segs));
    j->n_segs -= drop;
    return DF_OK;
}

/* ---- reader ---- */

static int reader_open_segment(struct jrnl_reader *r, uint64_t start, struct df_err *err)
{
    char name[SEG_NAME_LEN + 1];
    char *path;

    seg_name(name, start);
    path = fs_join(r->dir, name);
    if (path == NULL)
        return df_err_set(err, DF_ENOMEM, "out of memory");
    if (r->fd >= 0)
        close(r->fd);
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (r->fd < 0) {
        if (errno == ENOENT)
            return DF_ENOTFOUND;
        return df_err_set(err, DF_EIO, "open journal segment %s: %s", name, strerror(errno));
    }
    r->seg_start = start;
    r->buf_off = 0;
    r->buf_len = 0;
    return DF_OK;
}

int jrnl_reader_open(struct jrnl_reader **out, const struct jrnl *j, uint64_t pos,
                     struct df_err *err)
{
    struct jrnl_reader *r = calloc(1, sizeof(*r));
    int rc;
    size_t i;

    if (r == NULL)
        return df_err_set(err, DF_ENOMEM, "out of memory");
    r->fd = -1;
    r->dir = strdup(j->dir);
    if (r->dir == NULL) {
        free(r);
        return df_err_set(err, DF_ENOMEM, "out of memory");
    }
    if (pos < jrnl_start(j) || pos > jrnl_end(j)) {
        rc = df_err_set(err, DF_ECORRUPT,
                        "journal position %" PRIu64 " is outside the journal [%" PRIu64
                        ", %" PRIu64 "]",
                        pos, jrnl_start(j), jrnl_end(j));
        goto fail;
    }
    for (i = j->n_segs; i-- > 0;)
        if (j->segs[i].start <= pos)
            break;
    rc = reader_open_segment(r, j->segs[i].start, err);
    if (rc != DF_OK) {
        if (rc == DF_ENOTFOUND)
            rc = df_err_set(err, DF_ECORRUPT, "journal segment for position %" PRIu64
                            " is missing", pos);
        goto fail;
    }
    r->pos = pos;
    *out = r;
    return DF_OK;
fail:
    jrnl_reader_close(r);
    return rc;
}

void jrnl_reader_close(struct jrnl_reader *r)
{
    if (r == NULL)
        return;
    if (r->fd >= 0)
        close(r->fd);
    free(r->buf);
    free(r->dir);
    free(r);
}

uint64_t jrnl_reader_pos(const struct jrnl_reader *r)
{
    return r->pos;
}

/* Makes bytes [off, off + n) of the current segment available in r->buf. Returns 1 when they
 * are, 0 when the segment is shorter, negative on error. */
static int reader_fill(struct jrnl_reader *r, uint64_t off, size_t n, struct df_err *err)
{
    size_t want;

    if (off >= r->buf_off && off + n <= r->buf_off + r->buf_len)
        return 1;
    want = n > (1u << 20) ? n : (1u << 20);
    if (want > r->buf_alloc) {
        char *p = realloc(r->buf, want);
        if (p == NULL)
            return df_err_set(err, DF_ENOMEM, "out of memory reading the journal");
        r->buf = p;
        r->buf_alloc = want;
    }
    r->buf_off = off;
    r->buf_len = 0;
    while (r->buf_len < r->buf_alloc) {
        ssize_t got = pread(r->fd, r->buf + r->buf_len, r->buf_alloc - r->buf_len,
                            (off_t) (off + r->buf_len));
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return df_err_set(err, DF_EIO, "read journal: %s", strerror(errno));
        }
        if (got == 0)
            break;
        r->buf_len += (size_t) got;
    }
    return r->buf_len >= n;
}

static int field(const unsigned char **p, const unsigned char *end, size_t width,
                 const char **s, size_t *len)
{
    size_t n;
    if ((size_t) (end - *p) < width)
        return 0;
    n = width == 2 ? get_u16(*p) : get_u32(*p);
    *p += width;
    if ((size_t) (end - *p) < n)
        return 0;
    *s = (const char *) *p;
    *len = n;
    *p += n;
    return 1;
}

int jrnl_read(struct jrnl_reader *r, uint64_t limit, struct jrnl_entry *e, uint64_t *next_pos,
              struct df_err *err)
{
    uint64_t off;
    uint32_t len, crc;
    const unsigned char *p, *end;
    int rc;

    if (r->pos + JRNL_HEADER_BYTES > limit)
        return 0;
    off = r->pos - r->seg_start;
    rc = reader_fill(r, off, JRNL_HEADER_BYTES, err);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        /* End of this segment: the next one starts exactly here. */
        if (r->buf_len != 0)
            return df_err_set(err, DF_ECORRUPT,
                              "journal segment %020" PRIu64 ".seg ends inside a record",
                              r->seg_start);
        rc = reader_open_segment(r, r->pos, err);
        if (rc == DF_ENOTFOUND)
            return df_err_set(err, DF_ECORRUPT, "journal segment %020" PRIu64 ".seg is missing",
                              r->pos);
        if (rc != DF_OK)
            return rc;
        return jrnl_read(r, limit, e, next_pos, err);
    }
    p = (const unsigned char *) r->buf + (off - r->buf_off);
    len = get_u32(p);
    crc = get_u32(p + 4);
    if (len > JRNL_MAX_RECORD || len < 1 + 32 + 12)
        return df_err_set(err, DF_ECORRUPT, "journal record at %" PRIu64 " has a bad length %u",
                          r->pos, len);
    if (r->pos + JRNL_HEADER_BYTES + len > limit)
        return 0;
    rc = reader_fill(r, off, JRNL_HEADER_BYTES + len, err);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return df_err_set(err, DF_ECORRUPT, "journal record at %" PRIu64 " is cut short",
                          r->pos);
    p = (const unsigned char *) r->buf + (off - r->buf_off) + JRNL_HEADER_BYTES;
    if ((uint32_t) crc32(0L, p, len) != crc)
        return df_err_set(err, DF_ECORRUPT, "journal record at %" PRIu64 " fails its checksum",
                          r->pos);
    end = p + len;
    e->type = (enum evt_type) * p++;
    memcpy(e->event_id, p, 32);
    e->event_id[32] = '\0';
    p += 32;
    if (!field(&p, end, 2, &e->tenant, &e->tenant_len) ||
        !field(&p, end, 2, &e->incident_id, &e->incident_id_len) ||
        !field(&p, end, 4, &e->json, &e->json_len) || !field(&p, end, 4, &e->cef, &e->cef_len) ||
        p != end)
        return df_err_set(err, DF_ECORRUPT, "journal record at %" PRIu64 " is malformed",
                          r->pos);
    if (e->cef_len == 0)
        e->cef = NULL;
    r->pos += JRNL_HEADER_BYTES + len;
    *next_pos = r->pos;
    return 1;
}
