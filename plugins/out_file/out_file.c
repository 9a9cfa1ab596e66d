/*
 * File output: one event per line, appended. Exactly-once across crashes comes from the
 * checkpoint: commit() fsyncs and reports the file's length, the core records it with the
 * journal position in the same checkpoint, and open() cuts anything past that length (written
 * after the last commit point, so it will be written again).
 *
 * path "-" writes to standard output (demos, pipes): no truncation or fsync there, so that
 * destination is at-least-once.
 */
#include "out_file.h"

#include "fsutil.h"
#include "log.h"
#include "out.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BATCH_BUFFER_BYTES (1u << 20)

struct out_file {
    char *name;
    const struct out_file_opts *opts;
    int fd;
    int is_stdout;
    uint64_t committed_len;  /* durable and recorded (or about to be) in the checkpoint */
    uint64_t written_len;    /* written, maybe not yet durable */
    char *buf;
    size_t buf_len;
};

static const cyaml_schema_field_t out_file_fields[] = {
    CYAML_FIELD_STRING_PTR("path", CYAML_FLAG_POINTER, struct out_file_opts, path, 1,
                           CYAML_UNLIMITED),
    CYAML_FIELD_END,
};

static int out_file_validate(void *opts, struct df_err *err)
{
    struct out_file_opts *o = opts;
    if (o->path == NULL || o->path[0] == '\0')
        return df_err_set(err, DF_ECONFIG, "path: must name a file");
    return DF_OK;
}

static int open_path(struct out_file *f, struct df_err *err)
{
    struct stat st;
    char *copy;
    int created;

    if (f->is_stdout) {
        f->fd = STDOUT_FILENO;
        return DF_OK;
    }
    created = access(f->opts->path, F_OK) != 0;
    f->fd = open(f->opts->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (f->fd < 0 || fstat(f->fd, &st) != 0)
        return df_err_set(err, DF_EIO, "output %s: open %s: %s", f->name, f->opts->path,
                          strerror(errno));
    f->written_len = (uint64_t) st.st_size;
    if (created) {
        /* A new directory entry must survive a crash as surely as the data in it. */
        copy = strdup(f->opts->path);
        if (copy == NULL)
            return df_err_set(err, DF_ENOMEM, "out of memory");
        int rc = fs_sync_dir(dirname(copy), err);
        free(copy);
        return rc;
    }
    return DF_OK;
}

static int out_file_open(void **ctx, const char *output_name, const void *opts,
                         struct out_state *state, struct df_err *err)
{
    struct out_file *f = calloc(1, sizeof(*f));
    int rc;

    if (f == NULL || (f->name = strdup(output_name)) == NULL ||
        (f->buf = malloc(BATCH_BUFFER_BYTES)) == NULL) {
        rc = df_err_set(err, DF_ENOMEM, "out of memory");
        goto fail;
    }
    f->fd = -1;
    f->opts = opts;
    f->is_stdout = strcmp(f->opts->path, "-") == 0;
    rc = open_path(f, err);
    if (rc != DF_OK)
        goto fail;
    if (!f->is_stdout && state->known) {
        if (f->written_len > state->committed_len) {
            if (ftruncate(f->fd, (off_t) state->committed_len) != 0 || fsync(f->fd) != 0) {
                rc = df_err_set(err, DF_EIO, "output %s: truncate %s: %s", f->name,
                                f->opts->path, strerror(errno));
                goto fail;
            }
            log_info("out_file", "cut uncommitted tail output=%s path=%s bytes=%" PRIu64,
                     f->name, f->opts->path, f->written_len - state->committed_len);
            f->written_len = state->committed_len;
        } else if (f->written_len < state->committed_len) {
            /* Rotated or truncated by someone else: nothing to recover, carry on appending. */
            log_warn("out_file",
                     "file is shorter than committed (rotated or truncated externally?) "
                     "output=%s path=%s size=%" PRIu64 " committed=%" PRIu64,
                     f->name, f->opts->path, f->written_len, state->committed_len);
        }
    }
    f->committed_len = f->written_len;
    state->committed_len = f->committed_len;
    *ctx = f;
    return DF_OK;
fail:
    if (f != NULL) {
        if (f->fd >= 0 && !f->is_stdout)
            close(f->fd);
        free(f->buf);
        free(f->name);
        free(f);
    }
    return rc;
}

static enum out_verdict flush_buf(struct out_file *f, struct df_err *err)
{
    if (f->buf_len == 0)
        return OUT_OK;
    if (fs_write_all(f->fd, f->buf, f->buf_len) != DF_OK) {
        int e = errno;
        /* Leave the file ending at the last commit so a retried batch is not doubled. */
        if (!f->is_stdout && ftruncate(f->fd, (off_t) f->committed_len) != 0)
            log_error("out_file", "could not cut a partial write output=%s: %s", f->name,
                      strerror(errno));
        f->written_len = f->committed_len;
        f->buf_len = 0;
        df_err_set(err, DF_EIO, "output %s: write %s: %s", f->name, f->opts->path, strerror(e));
        return OUT_RETRY;
    }
    f->written_len += f->buf_len;
    f->buf_len = 0;
    return OUT_OK;
}

static enum out_verdict out_file_write(void *ctx, const struct out_batch *batch,
                                       struct df_err *err)
{
    struct out_file *f = ctx;
    enum out_verdict v;

    for (size_t i = 0; i < batch->n; i++) {
        const struct out_record *r = &batch->recs[i];
        if (f->buf_len + r->line_len + 1 > BATCH_BUFFER_BYTES) {
            v = flush_buf(f, err);
            if (v != OUT_OK)
                return v;
        }
        if (r->line_len + 1 > BATCH_BUFFER_BYTES) {
            /* One oversized event: written straight from the record. */
            if (fs_write_all(f->fd, r->line, r->line_len) != DF_OK ||
                fs_write_all(f->fd, "\n", 1) != DF_OK) {
                f->buf_len = 0;
                if (!f->is_stdout && ftruncate(f->fd, (off_t) f->committed_len) != 0)
                    log_error("out_file", "could not cut a partial write output=%s", f->name);
                f->written_len = f->committed_len;
                df_err_set(err, DF_EIO, "output %s: write %s: %s", f->name, f->opts->path,
                           strerror(errno));
                return OUT_RETRY;
            }
            f->written_len += r->line_len + 1;
            continue;
        }
        memcpy(f->buf + f->buf_len, r->line, r->line_len);
        f->buf[f->buf_len + r->line_len] = '\n';
        f->buf_len += r->line_len + 1;
    }
    return flush_buf(f, err);
}

static enum out_verdict out_file_commit(void *ctx, struct out_state *state, struct df_err *err)
{
    struct out_file *f = ctx;

    if (!f->is_stdout && fsync(f->fd) != 0) {
        df_err_set(err, DF_EIO, "output %s: fsync %s: %s", f->name, f->opts->path,
                   strerror(errno));
        return OUT_RETRY;
    }
    f->committed_len = f->written_len;
    state->committed_len = f->committed_len;
    return OUT_OK;
}

static int out_file_reopen(void *ctx, struct df_err *err)
{
    struct out_file *f = ctx;
    int rc;

    if (f->is_stdout)
        return DF_OK;
    if (fsync(f->fd) != 0 || close(f->fd) != 0)
        log_warn("out_file", "closing rotated file output=%s: %s", f->name, strerror(errno));
    f->fd = -1;
    rc = open_path(f, err);
    f->committed_len = f->written_len;
    return rc;
}

static void out_file_close(void *ctx)
{
    struct out_file *f = ctx;
    if (f == NULL)
        return;
    if (f->fd >= 0 && !f->is_stdout)
        close(f->fd);
    free(f->buf);
    free(f->name);
    free(f);
}

const struct out_plugin out_file_plugin = {
    .name = "file",
    .api_version = OUT_API_VERSION,
    .options = out_file_fields,
    .opts_size = sizeof(struct out_file_opts),
    .validate = out_file_validate,
    .open = out_file_open,
    .write = out_file_write,
    .commit = out_file_commit,
    .reopen = out_file_reopen,
    .close = out_file_close,
};
