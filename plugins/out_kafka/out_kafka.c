/*
 * Kafka output. Each event becomes one record: key = incident id (an incident's events stay
 * in one partition, in order), value = the rendered event, headers type / event_id / tenant.
 *
 * exactly_once: true (default) — a transactional producer, position kept in Kafka; see
 * out_kafka_txn.c and out_kafka_pos.c.
 * exactly_once: false — an idempotent producer (acks=all, librdkafka retries internally); a
 * batch counts as delivered only when every delivery report of it came back successful, else
 * the core offers it again: at-least-once, duplicates only after a failure.
 *
 * librdkafka's own threads do the network work; everything here runs on the core's thread,
 * and every blocking call is bounded by the output's `timeout`.
 */
#include "out_kafka_int.h"

#include "log.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_MS 100

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Delivery reports, served by rd_kafka_poll()/flush() on our thread. Reports of an earlier
 * batch (one that timed out and was offered again) carry an older generation and are not
 * counted for the current one. */
static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct out_kafka *k = opaque;
    uint64_t gen = (uint64_t) (uintptr_t) m->_private;

    (void) rk;
    if (gen == 0 || gen != k->gen)
        return;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        k->dr_ok++;
        return;
    }
    if (k->dr_failed++ == 0)
        snprintf(k->dr_err, sizeof(k->dr_err), "%s", rd_kafka_err2str(m->err));
}

int out_kafka_producer_new(struct out_kafka *k, struct df_err *err)
{
    rd_kafka_conf_t *conf = out_kafka_conf(k->opts, OUT_KAFKA_PRODUCER,
                                           k->opts->eo ? k->txn_id : NULL, err);
    char errstr[512];

    if (conf == NULL)
        return DF_ECONFIG;
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (k->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return df_err_set(err, DF_ECONFIG, "output %s: librdkafka: %s", k->name, errstr);
    }
    return DF_OK;
}

void out_kafka_producer_free(struct out_kafka *k)
{
    if (k->rk == NULL)
        return;
    /* Whatever is still queued belongs to a batch that was not reported delivered; it will be
     * offered again, so it is dropped here rather than waited for. */
    (void) rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_destroy(k->rk);
    k->rk = NULL;
}

static const char *type_name(enum evt_type t)
{
    return t == EVT_INCIDENT ? "incident" : "alert";
}

rd_kafka_resp_err_t out_kafka_produce(struct out_kafka *k, const struct out_record *r)
{
    int64_t deadline = now_ms() + k->opts->timeout_ms;
    rd_kafka_resp_err_t e;

    for (;;) {
        e = rd_kafka_producev(
            k->rk, RD_KAFKA_V_TOPIC(k->opts->topic),
            RD_KAFKA_V_KEY(r->incident_id, strlen(r->incident_id)),
            RD_KAFKA_V_VALUE((void *) (uintptr_t) r->line, r->line_len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADER("type", type_name(r->type), -1),
            RD_KAFKA_V_HEADER("event_id", r->event_id, -1),
            RD_KAFKA_V_HEADER("tenant", r->tenant, -1),
            RD_KAFKA_V_OPAQUE((void *) (uintptr_t) k->gen), RD_KAFKA_V_END);
        /* The local queue is full (a large batch to a slow broker): let librdkafka drain it. */
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || now_ms() >= deadline)
            return e;
        rd_kafka_poll(k->rk, POLL_MS);
    }
}

/* ---- exactly_once: false ---- */

static enum out_verdict idem_write(struct out_kafka *k, const struct out_batch *batch,
                                   struct df_err *err)
{
    char msg[512];
    size_t produced = 0;
    int64_t deadline;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (k->rk == NULL && out_kafka_producer_new(k, err) != DF_OK)
        return OUT_ERROR;
    k->gen++;
    k->dr_ok = 0;
    k->dr_failed = 0;
    k->dr_err[0] = '\0';
    for (size_t i = 0; i < batch->n; i++) {
        e = out_kafka_produce(k, &batch->recs[i]);
        if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
            df_err_set(err, DF_EINVAL, "output %s: event %s is larger than message.max.bytes "
                       "(raise it under properties, and the topic's max.message.bytes)",
                       k->name, batch->recs[i].event_id);
            return OUT_ERROR;
        }
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        produced++;
    }
    /* Every produced record gets exactly one report within message.timeout.ms (our timeout
     * unless properties change it); a little slack covers the report's own trip. */
    deadline = now_ms() + k->opts->timeout_ms + 5000;
    while (k->dr_ok + k->dr_failed < produced && now_ms() < deadline)
        rd_kafka_poll(k->rk, POLL_MS);
    if (rd_kafka_fatal_error(k->rk, msg, sizeof(msg)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_error(OUT_KAFKA_LOG, "fatal producer error; a new producer redoes the batch "
                  "output=%s error=\"%s\"", k->name, msg);
        out_kafka_producer_free(k);
        df_err_set(err, DF_ERETRY, "output %s: %s", k->name, msg);
        return OUT_RETRY;
    }
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        df_err_set(err, DF_ERETRY, "output %s: produce: %s", k->name, rd_kafka_err2str(e));
        return OUT_RETRY;
    }
    if (k->dr_failed > 0) {
        df_err_set(err, DF_ERETRY, "output %s: %zu of %zu events not delivered: %s", k->name,
                   k->dr_failed, produced, k->dr_err);
        return OUT_RETRY;
    }
    if (k->dr_ok < produced) {
        df_err_set(err, DF_ERETRY, "output %s: %zu of %zu events without a delivery report "
                   "after %d ms", k->name, produced - k->dr_ok, produced, k->opts->timeout_ms);
        return OUT_RETRY;
    }
    return OUT_OK;
}

/* ---- the plugin ---- */

static int out_kafka_open(void **ctx, const char *output_name, const void *opts,
                          struct out_state *state, struct df_err *err)
{
    struct out_kafka *k = calloc(1, sizeof(*k));
    int rc;

    if (k == NULL || (k->name = strdup(output_name)) == NULL) {
        rc = df_err_set(err, DF_ENOMEM, "out of memory");
        goto fail;
    }
    k->opts = opts;
    if (k->opts->eo)
        rc = out_kafka_txn_open(k, state, err);
    else
        rc = out_kafka_producer_new(k, err);
    if (rc != DF_OK)
        goto fail;
    log_info(OUT_KAFKA_LOG, "opened output=%s topic=%s exactly_once=%s position=%" PRIu64,
             k->name, k->opts->topic, k->opts->eo ? "true" : "false", state->journal_pos);
    *ctx = k;
    return DF_OK;
fail:
    if (k != NULL) {
        out_kafka_producer_free(k);
        free(k->name);
        free(k);
    }
    return rc;
}

static enum out_verdict out_kafka_write(void *ctx, const struct out_batch *batch,
                                        struct df_err *err)
{
    struct out_kafka *k = ctx;
    return k->opts->eo ? out_kafka_txn_write(k, batch, err) : idem_write(k, batch, err);
}

static enum out_verdict out_kafka_commit(void *ctx, struct out_state *state, struct df_err *err)
{
    struct out_kafka *k = ctx;
    (void) state;
    return k->opts->eo ? out_kafka_txn_commit(k, err) : OUT_OK;
}

static void out_kafka_close(void *ctx)
{
    struct out_kafka *k = ctx;

    if (k == NULL)
        return;
    if (k->opts->eo) {
        out_kafka_txn_close(k);
    } else if (k->rk != NULL) {
        /* Every batch was flushed before it was reported delivered: nothing of value waits. */
        (void) rd_kafka_flush(k->rk, 1000);
        out_kafka_producer_free(k);
    }
    free(k->name);
    free(k);
}

const struct out_plugin out_kafka_plugin = {
    .name = "kafka",
    .api_version = OUT_API_VERSION,
    .options = out_kafka_fields,
    .opts_size = sizeof(struct out_kafka_opts),
    .maps = out_kafka_maps,
    .validate = out_kafka_validate,
    .open = out_kafka_open,
    .write = out_kafka_write,
    .commit = out_kafka_commit,
    .reopen = NULL,
    .close = out_kafka_close,
};
