#include "run.h"

#include "api.h"
#include "ckpt.h"
#include "coll.h"
#include "fsutil.h"
#include "jrnl.h"
#include "log.h"
#include "out.h"
#include "ts.h"
#include "vidx.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define BATCH_MAX_EVENTS 2000
#define BATCH_MAX_BYTES ((size_t) 8 << 20)
#define OUTPUT_BACKOFF_MAX_S 60
#define TENANT_BACKOFF_MAX_S 300
#define ONCE_OUTPUT_ATTEMPTS 5
#define ONCE_POLL_ATTEMPTS 5

struct run;

struct run_output {
    const struct cfg_output *cfg;
    void *ctx;
    struct ckpt_output *ck;
    struct out_state st;
    struct jrnl_reader *reader;
    int64_t retry_at_ms;
    int backoff_s;
    int failures;
    int disabled;
};

/* A tenant is collected by its own thread, so a slow or failing tenant (retries, backoff, a
 * throttled application) never holds back the others, and outputs never hold back collection. */
struct run_tenant {
    struct run *run;
    struct coll_tenant ct;
    struct coll coll;
    pthread_t thread;
    int thread_started;
    int64_t due_ms;
    int backoff_s;
    /* Read by the main thread: under run.lock. */
    int caught_up;          /* one complete poll since start */
    int failed;             /* last poll failed */
    int failures;           /* consecutive failed polls */
    int permanent;          /* last failure cannot heal by retrying (credentials, 4xx) */
};

/*
 * Threads: one per tenant collects; the main thread delivers to the outputs and writes the
 * checkpoint after each delivered batch. run.lock guards the journal's writer side, every
 * version index, the checkpoint struct and the tenants' status; it is never held during an API
 * call or an output write. Readers read committed journal bytes without it.
 */
struct run {
    const struct cfg *cfg;
    const struct run_options *opts;
    pthread_mutex_t lock;
    df_flag halt;                   /* tells the tenant threads to stop */
    /* Under lock: durable state failed to write (disk full, I/O error). From then on no
     * checkpoint may be written, since memory is ahead of the disk; the process exits and a
     * restart resumes from the last checkpoint, exactly as after a crash. */
    int poisoned;
    struct df_err poison;
    struct ckpt ck;
    struct jrnl *jrnl;
    struct run_tenant *tenants;
    struct run_output *outputs;
    int lock_fd;
    int full_logged;
    struct dbuf batch;
    struct out_record *recs;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int stopping(const struct run *r)
{
    return r->halt || (r->opts->stop != NULL && *r->opts->stop);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t) (ms / 1000), (long) (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Under r->lock. */
static void poison(struct run *r, const struct df_err *err)
{
    if (!r->poisoned)
        log_error("main", "writing state failed; stopping without a new checkpoint so that a "
                  "restart resumes from the last one (nothing is lost) error=\"%s\"", err->msg);
    r->poisoned = 1;
    r->poison = *err;
    r->halt = 1;
}

/* Under r->lock. Journal, version indexes and then the checkpoint: the rename of the checkpoint
 * is the commit point, so everything it refers to must be durable before it. */
static int commit_all(struct run *r, struct df_err *err)
{
    int rc;

    if (r->poisoned)
        return df_err_set(err, DF_EIO, "%s", r->poison.msg);
    rc = jrnl_sync(r->jrnl, err);
    for (size_t i = 0; rc == DF_OK && i < r->cfg->n_tenants; i++) {
        struct coll_tenant *t = &r->tenants[i].ct;
        if (t->vidx == NULL)
            continue;
        rc = vidx_sync(t->vidx, err);
        t->ck->vidx_len = vidx_len(t->vidx);
        t->ck->vidx_gen = vidx_gen(t->vidx);
    }
    if (rc != DF_OK) {
        poison(r, err);
        return rc;
    }
    r->ck.journal_end = jrnl_end(r->jrnl);
    rc = ckpt_write(r->cfg->state.dir, &r->ck, err);
    if (rc != DF_OK)
        poison(r, err);
    return rc;
}

static void output_backoff(struct run_output *o, const struct df_err *err)
{
    o->failures++;
    o->backoff_s = o->backoff_s ? o->backoff_s * 2 : 1;
    if (o->backoff_s > OUTPUT_BACKOFF_MAX_S)
        o->backoff_s = OUTPUT_BACKOFF_MAX_S;
    o->retry_at_ms = now_ms() + o->backoff_s * 1000LL;
    log_warn("output", "destination not available, will retry output=%s retry_in=%ds "
             "error=\"%s\"", o->cfg->name, o->backoff_s, err->msg);
    /* The batch is offered again from the last delivered position. */
    jrnl_reader_close(o->reader);
    o->reader = NULL;
}

/* Reads one batch for o, up to limit, into r->batch/r->recs. Returns the number of records or
 * DF_E*. Main thread only. */
static int read_batch(struct run *r, struct run_output *o, uint64_t limit, uint64_t *end_pos,
                      struct df_err *err)
{
    struct jrnl_entry e;
    size_t n = 0;
    uint64_t next = o->ck->journal_pos;
    int rc;

    dbuf_reset(&r->batch);
    if (o->reader == NULL) {
        pthread_mutex_lock(&r->lock);
        rc = jrnl_reader_open(&o->reader, r->jrnl, o->ck->journal_pos, err);
        pthread_mutex_unlock(&r->lock);
        if (rc != DF_OK)
            return rc;
    }
    while (n < BATCH_MAX_EVENTS && r->batch.len < BATCH_MAX_BYTES) {
        const char *line;
        size_t len;
        struct out_record *rec = &r->recs[n];

        rc = jrnl_read(o->reader, limit, &e, &next, err);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
        line = o->cfg->format == EVT_CEF ? e.cef : e.json;
        len = o->cfg->format == EVT_CEF ? e.cef_len : e.json_len;
        /* Entries point into the reader's buffer: copy what the batch needs (offsets now,
         * pointers once the buffer stops moving). */
        rec->pos = next;
        rec->type = e.type;
        rec->line_len = len;
        rec->line = (const char *) (uintptr_t) r->batch.len;
        if (dbuf_append(&r->batch, line, len) != DF_OK ||
            dbuf_append(&r->batch, e.event_id, EVT_ID_HEX) != DF_OK ||
            dbuf_append(&r->batch, e.tenant, e.tenant_len) != DF_OK ||
            dbuf_putc(&r->batch, '\0') != DF_OK ||
            dbuf_append(&r->batch, e.incident_id, e.incident_id_len) != DF_OK ||
            dbuf_putc(&r->batch, '\0') != DF_OK)
            return df_err_set(err, DF_ENOMEM, "out of memory building a batch");
        n++;
    }
    for (size_t i = 0; i < n; i++) {
        struct out_record *rec = &r->recs[i];
        size_t off = (size_t) (uintptr_t) rec->line;
        rec->line = r->batch.p + off;
        rec->event_id = rec->line + rec->line_len;
        rec->tenant = rec->event_id + EVT_ID_HEX;
        rec->incident_id = rec->tenant + strlen(rec->tenant) + 1;
    }
    *end_pos = next;
    return (int) n;
}

/* Delivers what o has not delivered yet, batch by batch, each batch ending in a commit and a
 * checkpoint. Main thread only. */
static int deliver_output(struct run *r, struct run_output *o, struct df_err *fatal)
{
    struct df_err err = {0};
    uint64_t limit;

    if (o->disabled || now_ms() < o->retry_at_ms)
        return DF_OK;
    pthread_mutex_lock(&r->lock);
    limit = r->ck.journal_end;
    pthread_mutex_unlock(&r->lock);
    while (o->ck->journal_pos < limit && !stopping(r)) {
        struct out_batch batch;
        uint64_t end_pos = o->ck->journal_pos;
        enum out_verdict v;
        int rc, n = read_batch(r, o, limit, &end_pos, &err);

        if (n < 0)
            return df_err_set(fatal, n, "output %s: %s", o->cfg->name, err.msg);
        if (n == 0)
            break;
        batch.recs = r->recs;
        batch.n = (size_t) n;
        batch.end_pos = end_pos;
        v = o->cfg->plugin->write(o->ctx, &batch, &err);
        if (v == OUT_OK)
            v = o->cfg->plugin->commit(o->ctx, &o->st, &err);
        if (v == OUT_RETRY) {
            output_backoff(o, &err);
            return DF_OK;
        }
        if (v == OUT_ERROR) {
            log_error("output", "output failed permanently and is stopped; its position is "
                      "kept, restart to retry output=%s error=\"%s\"", o->cfg->name, err.msg);
            o->disabled = 1;
            return DF_OK;
        }
        if (o->failures > 0)
            log_info("output", "destination is back output=%s", o->cfg->name);
        o->failures = 0;
        o->backoff_s = 0;
        pthread_mutex_lock(&r->lock);
        if (r->poisoned) {
            rc = df_err_set(fatal, DF_EIO, "%s", r->poison.msg);
        } else {
            o->ck->journal_pos = end_pos;
            o->ck->committed_len = o->st.committed_len;
            o->ck->delivered += (uint64_t) n;
            rc = ckpt_write(r->cfg->state.dir, &r->ck, fatal);
            if (rc != DF_OK)
                poison(r, fatal);
        }
        pthread_mutex_unlock(&r->lock);
        if (rc != DF_OK)
            return rc;
    }
    return DF_OK;
}

static int deliver_all(struct run *r, struct df_err *err)
{
    uint64_t min_pos = UINT64_MAX;
    int rc;

    for (size_t i = 0; i < r->cfg->n_outputs; i++) {
        rc = deliver_output(r, &r->outputs[i], err);
        if (rc != DF_OK)
            return rc;
        if (r->outputs[i].ck->journal_pos < min_pos)
            min_pos = r->outputs[i].ck->journal_pos;
    }
    pthread_mutex_lock(&r->lock);
    rc = jrnl_release(r->jrnl, min_pos, err);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* Under r->lock. */
static uint64_t backlog(const struct run *r)
{
    uint64_t min_pos = r->ck.journal_end;
    for (size_t i = 0; i < r->cfg->n_outputs; i++)
        if (r->outputs[i].ck->journal_pos < min_pos)
            min_pos = r->outputs[i].ck->journal_pos;
    return jrnl_end(r->jrnl) - min_pos;
}

/* Called by a collector with r->lock held. */
static int coll_commit(void *arg, struct df_err *err)
{
    return commit_all(arg, err);
}

static int coll_paused(void *arg)
{
    struct run *r = arg;
    uint64_t bytes;
    int full;

    pthread_mutex_lock(&r->lock);
    bytes = backlog(r);
    full = bytes >= r->cfg->state.max_journal_bytes;
    if (full && !r->full_logged)
        log_warn("collector", "journal full, collection paused until outputs catch up "
                 "backlog_bytes=%" PRIu64 " max_journal_bytes=%" PRIu64, bytes,
                 r->cfg->state.max_journal_bytes);
    r->full_logged = full;
    pthread_mutex_unlock(&r->lock);
    return full;
}

static int lock_state_dir(struct run *r, struct df_err *err)
{
    char *path = fs_join(r->cfg->state.dir, "lock");
    if (path == NULL)
        return df_err_set(err, DF_ENOMEM, "out of memory");
    r->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    free(path);
    if (r->lock_fd < 0)
        return df_err_set(err, DF_EIO, "state.dir %s: cannot create lock file: %s",
                          r->cfg->state.dir, strerror(errno));
    if (flock(r->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return df_err_set(err, DF_EIO, "state.dir %s is in use by another defender-forwarder "
                          "process (%s)", r->cfg->state.dir, strerror(errno));
    return DF_OK;
}

static int open_tenants(struct run *r, struct df_err *err)
{
    int rc;
    /* Create every entry first: adding one may move the others. */
    for (size_t i = 0; i < r->cfg->n_tenants; i++)
        if (ckpt_tenant(&r->ck, r->cfg->tenants[i].name) == NULL)
            return df_err_set(err, DF_ENOMEM, "out of memory");
    for (size_t i = 0; i < r->cfg->n_tenants; i++) {
        const struct cfg_tenant *tc = &r->cfg->tenants[i];
        struct coll_tenant *t = &r->tenants[i].ct;
        struct api_config ac = {
            .tenant = tc->name,
            .tenant_id = tc->tenant_id,
            .client_id = tc->client_id,
            .client_secret = tc->client_secret,
            .api_url = tc->api_url,
            .token_url = tc->token_url,
            .scope = tc->scope,
            .ca_file = r->cfg->collector.ca_file,
            .proxy = r->cfg->collector.proxy,
            .timeout_s = r->cfg->collector.http_timeout_s,
            .per_minute = r->cfg->collector.per_minute,
            .per_hour = r->cfg->collector.per_hour,
            .stop = &r->halt,
        };

        /* The Graph flavour (reference/api.md §16) has other field names and paging. */
        if (strcmp(tc->api, "defender") != 0)
            return df_err_set(err, DF_ECONFIG, "tenant %s: api: %s is not supported by this "
                              "build yet; use api: defender", tc->name, tc->api);
        t->cfg = tc;
        t->ck = ckpt_tenant(&r->ck, tc->name);
        if (t->ck == NULL)
            return df_err_set(err, DF_ENOMEM, "out of memory");
        rc = vidx_open(&t->vidx, r->cfg->state.dir, tc->name, t->ck->vidx_gen, t->ck->vidx_len,
                       err);
        if (rc == DF_OK)
            rc = vidx_drop_old(t->vidx, err);
        if (rc == DF_OK)
            rc = api_client_new(&t->api, &ac, err);
        if (rc != DF_OK)
            return rc;
    }
    return DF_OK;
}

/* Rewrites indexes whose logs are mostly superseded; prunes versions past the retention. */
/* Under r->lock (or before the threads start). Rewrites a tenant's index when its log is
 * mostly superseded lines, dropping versions past the API's 180-day retention. */
static int compact_index(struct run *r, struct coll_tenant *t, struct df_err *err)
{
    int64_t horizon = (t->ck->has_position ? t->ck->position : ts_now_ticks()) -
                      180LL * 86400 * TS_TICKS_PER_SEC;
    int rc;

    if (!vidx_wants_compaction(t->vidx))
        return DF_OK;
    rc = vidx_compact(t->vidx, horizon, err);
    if (rc == DF_OK)
        rc = commit_all(r, err);
    if (rc == DF_OK)
        rc = vidx_drop_old(t->vidx, err);
    return rc;
}

static int compact_indexes(struct run *r, struct df_err *err)
{
    for (size_t i = 0; i < r->cfg->n_tenants; i++) {
        int rc = compact_index(r, &r->tenants[i].ct, err);
        if (rc != DF_OK)
            return rc;
    }
    return DF_OK;
}

static int open_output(struct run *r, struct run_output *o, const struct cfg_output *oc,
                       int known, struct df_err *err)
{
    int rc;

    o->cfg = oc;
    o->ck = ckpt_output(&r->ck, oc->name);
    if (o->ck == NULL)
        return df_err_set(err, DF_ENOMEM, "out of memory");
    o->st.known = known;
    o->st.committed_len = known ? o->ck->committed_len : 0;
    if (!known) {
        /* A new output starts with what the journal still holds. */
        o->ck->journal_pos = jrnl_start(r->jrnl);
        log_info("output", "new output starts at the oldest journal position output=%s "
                 "position=%" PRIu64, oc->name, o->ck->journal_pos);
    } else if (o->ck->journal_pos < jrnl_start(r->jrnl)) {
        return df_err_set(err, DF_ECORRUPT,
                          "output %s still needs journal position %" PRIu64
                          " but the journal starts at %" PRIu64 " (segments removed?)",
                          oc->name, o->ck->journal_pos, jrnl_start(r->jrnl));
    }
    o->st.journal_pos = o->ck->journal_pos;
    o->st.state_dir = r->cfg->state.dir;
    rc = oc->plugin->open(&o->ctx, oc->name, oc->opts, &o->st, err);
    if (rc != DF_OK)
        return rc;
    o->ck->journal_pos = o->st.journal_pos;
    o->ck->committed_len = o->st.committed_len;
    return DF_OK;
}

static int open_outputs(struct run *r, struct df_err *err)
{
    char *known = calloc(r->cfg->n_outputs + 1, 1);
    int rc = DF_OK;

    if (known == NULL)
        return df_err_set(err, DF_ENOMEM, "out of memory");
    /* Create every entry first: adding one may move the others. */
    for (size_t i = 0; i < r->cfg->n_outputs; i++) {
        known[i] = ckpt_find_output(&r->ck, r->cfg->outputs[i].name) != NULL;
        if (ckpt_output(&r->ck, r->cfg->outputs[i].name) == NULL) {
            free(known);
            return df_err_set(err, DF_ENOMEM, "out of memory");
        }
    }
    for (size_t i = 0; rc == DF_OK && i < r->cfg->n_outputs; i++)
        rc = open_output(r, &r->outputs[i], &r->cfg->outputs[i], known[i], err);
    free(known);
    return rc;
}

static int start(struct run *r, struct df_err *err)
{
    int rc;
    char *jdir = NULL;
    uint64_t seg = r->cfg->state.max_journal_bytes / 8;

    rc = fs_mkdirs(r->cfg->state.dir, err);
    if (rc != DF_OK)
        return rc;
    rc = lock_state_dir(r, err);
    if (rc != DF_OK)
        return rc;
    rc = ckpt_load(r->cfg->state.dir, &r->ck, err);
    if (rc != DF_OK)
        return rc;
    jdir = fs_join(r->cfg->state.dir, "journal");
    if (jdir == NULL)
        return df_err_set(err, DF_ENOMEM, "out of memory");
    /* Segments small enough that delivered data is freed early, large enough to keep the
     * directory short. */
    if (seg < (1u << 20))
        seg = 1u << 20;
    if (seg > (64u << 20))
        seg = 64u << 20;
    rc = jrnl_open(&r->jrnl, jdir, r->ck.journal_end, seg, err);
    free(jdir);
    if (rc != DF_OK)
        return rc;
    r->tenants = calloc(r->cfg->n_tenants, sizeof(*r->tenants));
    r->outputs = calloc(r->cfg->n_outputs, sizeof(*r->outputs));
    r->recs = calloc(BATCH_MAX_EVENTS, sizeof(*r->recs));
    if (r->tenants == NULL || r->outputs == NULL || r->recs == NULL)
        return df_err_set(err, DF_ENOMEM, "out of memory");
    rc = open_tenants(r, err);
    if (rc == DF_OK)
        rc = open_outputs(r, err);
    if (rc == DF_OK)
        rc = commit_all(r, err);
    if (rc == DF_OK)
        rc = compact_indexes(r, err);
    for (size_t i = 0; rc == DF_OK && i < r->cfg->n_tenants; i++) {
        struct run_tenant *t = &r->tenants[i];
        t->run = r;
        if (coll_init(&t->coll, r->cfg, r->jrnl) != DF_OK)
            rc = df_err_set(err, DF_ENOMEM, "out of memory");
        t->coll.commit = coll_commit;
        t->coll.paused = coll_paused;
        t->coll.arg = r;
        t->coll.lock = &r->lock;
        t->coll.stop = &r->halt;
    }
    return rc;
}

static void stop_all(struct run *r)
{
    r->halt = 1;
    for (size_t i = 0; r->tenants != NULL && i < r->cfg->n_tenants; i++)
        if (r->tenants[i].thread_started)
            pthread_join(r->tenants[i].thread, NULL);
    for (size_t i = 0; r->outputs != NULL && i < r->cfg->n_outputs; i++) {
        struct run_output *o = &r->outputs[i];
        jrnl_reader_close(o->reader);
        if (o->ctx != NULL)
            o->cfg->plugin->close(o->ctx);
    }
    for (size_t i = 0; r->tenants != NULL && i < r->cfg->n_tenants; i++) {
        vidx_close(r->tenants[i].ct.vidx);
        api_client_free(r->tenants[i].ct.api);
        coll_free(&r->tenants[i].coll);
    }
    jrnl_close(r->jrnl);
    ckpt_free(&r->ck);
    free(r->tenants);
    free(r->outputs);
    free(r->recs);
    dbuf_free(&r->batch);
    if (r->lock_fd >= 0)
        close(r->lock_fd);
    pthread_mutex_destroy(&r->lock);
}

static void poll_tenant(struct run *r, struct run_tenant *t)
{
    struct df_err err = {0};
    int rc = coll_poll(&t->coll, &t->ct, &err);
    int64_t now = now_ms();

    if (t->coll.state_failed) {
        pthread_mutex_lock(&r->lock);
        poison(r, &err);
        pthread_mutex_unlock(&r->lock);
        return;
    }
    if (rc == DF_ESTOP)
        return;
    if (rc == DF_EFULL) {
        t->due_ms = now + 1000;
        return;
    }
    pthread_mutex_lock(&r->lock);
    if (rc == DF_OK) {
        if (t->failed)
            log_info("collector", "tenant recovered tenant=%s", t->ct.cfg->name);
        t->failed = 0;
        t->failures = 0;
        t->caught_up = 1;
        t->backoff_s = 0;
        t->due_ms = now + r->cfg->collector.poll_interval_s * 1000;
        /* Months of updates append to the index log; keep it proportional to what is live. */
        if (compact_index(r, &t->ct, &err) != DF_OK)
            poison(r, &err);
    } else {
        t->failed = 1;
        t->failures++;
        t->permanent = rc == DF_EAUTH || rc == DF_EHTTP || rc == DF_ECORRUPT || rc == DF_EIO;
        t->backoff_s = t->backoff_s ? t->backoff_s * 2 : 5;
        if (t->backoff_s > TENANT_BACKOFF_MAX_S)
            t->backoff_s = TENANT_BACKOFF_MAX_S;
        t->due_ms = now + t->backoff_s * 1000LL;
        log_error("collector", "poll failed; position kept, retrying tenant=%s retry_in=%ds "
                  "error=\"%s\"", t->ct.cfg->name, t->backoff_s, err.msg);
    }
    pthread_mutex_unlock(&r->lock);
}

static int once_gives_up(const struct run_tenant *t)
{
    return t->failed && (t->permanent || t->failures >= ONCE_POLL_ATTEMPTS);
}

static void *tenant_main(void *arg)
{
    struct run_tenant *t = arg;
    struct run *r = t->run;

    while (!stopping(r)) {
        if (now_ms() < t->due_ms) {
            sleep_ms(50);
            continue;
        }
        poll_tenant(r, t);
        /* --once: one complete poll is all; transient failures are retried a few times. */
        if (r->opts->once && (t->caught_up || once_gives_up(t)))
            break;
    }
    return NULL;
}

static void reopen_outputs(struct run *r)
{
    for (size_t i = 0; i < r->cfg->n_outputs; i++) {
        struct run_output *o = &r->outputs[i];
        struct df_err err = {0};
        if (o->cfg->plugin->reopen == NULL)
            continue;
        if (o->cfg->plugin->reopen(o->ctx, &err) != DF_OK ||
            o->cfg->plugin->commit(o->ctx, &o->st, &err) != OUT_OK) {
            log_error("output", "reopen failed output=%s error=\"%s\"", o->cfg->name, err.msg);
            continue;
        }
        pthread_mutex_lock(&r->lock);
        o->ck->committed_len = o->st.committed_len;
        pthread_mutex_unlock(&r->lock);
        log_info("output", "reopened output=%s", o->cfg->name);
    }
}

/* --once, under r->lock: 1 while work remains; then 0 when every tenant caught up and every
 * output delivered, negative when a tenant or an output gave up (after the others finished, so
 * one bad tenant does not cut the others' delivery short). */
static int once_status(const struct run *r)
{
    int gave_up = 0;
    for (size_t i = 0; i < r->cfg->n_tenants; i++) {
        const struct run_tenant *t = &r->tenants[i];
        if (once_gives_up(t))
            gave_up = DF_ERETRY;
        else if (!t->caught_up)
            return 1;
    }
    for (size_t i = 0; i < r->cfg->n_outputs; i++) {
        const struct run_output *o = &r->outputs[i];
        if (o->disabled || o->failures >= ONCE_OUTPUT_ATTEMPTS)
            gave_up = DF_EIO;
        else if (o->ck->journal_pos < r->ck.journal_end)
            return 1;
    }
    return gave_up;
}

static int start_threads(struct run *r, struct df_err *err)
{
    for (size_t i = 0; i < r->cfg->n_tenants; i++) {
        struct run_tenant *t = &r->tenants[i];
        int e = pthread_create(&t->thread, NULL, tenant_main, t);
        if (e != 0)
            return df_err_set(err, DF_ENOMEM, "cannot start a collector thread: %s",
                              strerror(e));
        t->thread_started = 1;
    }
    return DF_OK;
}

int run_forwarder(const struct cfg *cfg, const struct run_options *opts)
{
    struct run r;
    struct df_err err = {0};
    int rc;

    memset(&r, 0, sizeof(r));
    r.cfg = cfg;
    r.opts = opts;
    r.lock_fd = -1;
    pthread_mutex_init(&r.lock, NULL);
    dbuf_init(&r.batch, BATCH_MAX_BYTES + JRNL_MAX_RECORD + 4096);
    rc = start(&r, &err);
    if (rc == DF_OK) {
        log_info("main", "started tenants=%zu outputs=%zu state_dir=%s journal_end=%" PRIu64
                 " once=%d", cfg->n_tenants, cfg->n_outputs, cfg->state.dir, r.ck.journal_end,
                 opts->once);
        rc = deliver_all(&r, &err);
    }
    if (rc == DF_OK)
        rc = start_threads(&r, &err);
    while (rc == DF_OK && !stopping(&r)) {
        pthread_mutex_lock(&r.lock);
        if (r.poisoned)
            rc = df_err_set(&err, DF_EIO, "%s", r.poison.msg);
        pthread_mutex_unlock(&r.lock);
        if (rc != DF_OK)
            break;
        rc = deliver_all(&r, &err);
        if (rc != DF_OK)
            break;
        if (opts->once) {
            pthread_mutex_lock(&r.lock);
            int st = once_status(&r);
            pthread_mutex_unlock(&r.lock);
            if (st <= 0) {
                if (st < 0) {
                    rc = st;
                    df_err_set(&err, st, "--once could not finish: a tenant poll or an output "
                               "failed (see above)");
                }
                break;
            }
        }
        if (opts->reopen && *opts->reopen) {
            *opts->reopen = 0;
            reopen_outputs(&r);
        }
        sleep_ms(50);
    }
    /* Stop the collectors first: their last committed page is in the checkpoint. */
    r.halt = 1;
    for (size_t i = 0; r.tenants != NULL && i < cfg->n_tenants; i++)
        if (r.tenants[i].thread_started) {
            pthread_join(r.tenants[i].thread, NULL);
            r.tenants[i].thread_started = 0;
        }
    if (rc == DF_OK && r.poisoned)
        rc = df_err_set(&err, DF_EIO, "%s", r.poison.msg);
    if (rc == DF_OK) {
        uint64_t skipped = 0, truncated = 0, replaced = 0;
        pthread_mutex_lock(&r.lock);
        rc = commit_all(&r, &err);
        pthread_mutex_unlock(&r.lock);
        for (size_t i = 0; i < cfg->n_tenants; i++) {
            skipped += r.tenants[i].coll.skipped;
            truncated += r.tenants[i].coll.stats.truncated_fields;
            replaced += r.tenants[i].coll.stats.replaced_chars;
        }
        log_info("main", "stopped journal_end=%" PRIu64 " skipped=%" PRIu64
                 " cef_truncated_fields=%" PRIu64 " cef_replaced_chars=%" PRIu64,
                 r.ck.journal_end, skipped, truncated, replaced);
    }
    if (rc != DF_OK)
        log_error("main", "%s", err.msg);
    stop_all(&r);
    return rc;
}

int run_state_show(const struct cfg *cfg, struct df_err *err)
{
    struct ckpt ck;
    struct dbuf b;
    int rc = ckpt_load(cfg->state.dir, &ck, err);

    if (rc != DF_OK)
        return rc;
    dbuf_init(&b, (size_t) 64 << 20);
    rc = ckpt_to_json(&ck, 1, &b);
    if (rc == DF_OK) {
        fwrite(b.p, 1, b.len, stdout);
        if (b.len == 0 || b.p[b.len - 1] != '\n')
            fputc('\n', stdout);
    } else {
        df_err_set(err, rc, "cannot serialise the checkpoint");
    }
    dbuf_free(&b);
    ckpt_free(&ck);
    return rc;
}
