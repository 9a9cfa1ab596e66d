/*
 * exactly_once: the transactional producer.
 *
 * One journal batch = one Kafka transaction: write() begins it and produces the batch's
 * records, commit() adds the position record (out_kafka_pos.c) and commits. The core moves
 * its checkpoint only after commit() returned OK, and a new producer session always starts
 * by reading the committed position back, so every outcome is safe:
 *  - commit succeeded: Kafka and (soon) the checkpoint agree; a crash before the checkpoint
 *    write is repaired at the next start, where Kafka's position wins;
 *  - abortable error (librdkafka: txn_requires_abort): abort, RETRY; the same batch is redone;
 *  - retriable commit error (e.g. a timeout while the broker is away): the outcome is unknown,
 *    so commit_transaction() is called again before anything else (librdkafka's rule);
 *  - fatal error, fencing included (another producer with our transactional.id called
 *    init_transactions): this producer instance is finished and is destroyed; the next
 *    attempt creates a new one, whose init_transactions() fences the other or aborts what
 *    was left open, and whose position read-back tells what was committed.
 * Records the position read back says are delivered are skipped, never produced twice.
 * Nothing is produced outside a transaction (librdkafka refuses it anyway).
 */
#include "out_kafka_int.h"

#include "ident.h"
#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Ends this producer instance: librdkafka allows no further use after a fatal error. */
static void teardown(struct out_kafka *k)
{
    out_kafka_producer_free(k);
    k->initialized = 0;
    k->have_pos = 0;
    k->txn_open = 0;
    k->committing = 0;
}

/* Discards a producer that hit a fatal error (fencing included): librdkafka allows no further
 * use of it. The next attempt starts a new instance, which resumes from Kafka's position. */
static void discard(struct out_kafka *k, rd_kafka_resp_err_t code, const char *msg)
{
    if (code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
        code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH)
        log_error(OUT_KAFKA_LOG, "producer fenced: another producer took over "
                  "transactional.id=%s (a second forwarder with a copy of this state "
                  "directory?); this instance is discarded, a new one resumes from the "
                  "position committed in Kafka output=%s error=\"%s\"", k->txn_id, k->name, msg);
    else
        log_error(OUT_KAFKA_LOG, "fatal producer error; a new producer resumes from the "
                  "position committed in Kafka output=%s error=\"%s\"", k->name, msg);
    teardown(k);
}

/* Aborts the open transaction; when even that fails the state is unknown, and a new
 * producer's init_transactions() is what aborts it for sure. */
static void abort_txn(struct out_kafka *k, const char *what, const char *why)
{
    rd_kafka_error_t *ae;

    log_warn(OUT_KAFKA_LOG, "transaction aborted, the batch will be redone output=%s "
             "during=\"%s\" error=\"%s\"", k->name, what, why);
    ae = rd_kafka_abort_transaction(k->rk, k->opts->timeout_ms);
    k->txn_open = 0;
    k->committing = 0;
    /* An abortable error means the commit did not happen (librdkafka reports a commit that
     * succeeded on the broker after a local failure as fatal instead). */
    if (k->ceiling_known && k->ceiling > k->committed_pos)
        k->ceiling = k->committed_pos;
    if (ae != NULL && rd_kafka_error_is_fatal(ae)) {
        discard(k, rd_kafka_error_code(ae), rd_kafka_error_string(ae));
        rd_kafka_error_destroy(ae);
    } else if (ae != NULL) {
        log_warn(OUT_KAFKA_LOG, "abort failed; the producer will be recreated output=%s "
                 "error=\"%s\"", k->name, rd_kafka_error_string(ae));
        rd_kafka_error_destroy(ae);
        teardown(k);
    }
}

/*
 * Maps a transactional API error to a verdict, as librdkafka documents the classes: fatal →
 * new producer; requires abort → abort; retriable → the same call again later (state kept).
 * Takes ownership of e. Always RETRY: none of these makes the batch itself impossible.
 */
static enum out_verdict txn_error(struct out_kafka *k, rd_kafka_error_t *e, const char *what,
                                  struct df_err *err)
{
    df_err_set(err, DF_ERETRY, "output %s: %s: %s", k->name, what, rd_kafka_error_string(e));
    if (rd_kafka_error_is_fatal(e)) {
        discard(k, rd_kafka_error_code(e), rd_kafka_error_string(e));
    } else if (rd_kafka_error_txn_requires_abort(e)) {
        abort_txn(k, what, rd_kafka_error_string(e));
    } else if (!rd_kafka_error_is_retriable(e)) {
        /* Neither class: a state error; start over from a clean instance rather than guess. */
        log_error(OUT_KAFKA_LOG, "unexpected transaction error; the producer will be "
                  "recreated output=%s during=\"%s\" error=\"%s\"", k->name, what,
                  rd_kafka_error_string(e));
        teardown(k);
    }
    rd_kafka_error_destroy(e);
    return OUT_RETRY;
}

/* The open transaction cannot complete (a produce call or a delivery failed): either the
 * producer itself is finished (fenced, …) or the transaction is aborted. */
static enum out_verdict txn_failed(struct out_kafka *k, const char *what, const char *why,
                                   struct df_err *err)
{
    char msg[512];
    rd_kafka_resp_err_t fe = rd_kafka_fatal_error(k->rk, msg, sizeof(msg));

    df_err_set(err, DF_ERETRY, "output %s: %s: %s", k->name, what, why);
    if (fe != RD_KAFKA_RESP_ERR_NO_ERROR)
        discard(k, fe, msg);
    else
        abort_txn(k, what, why);
    return OUT_RETRY;
}

/* Producer, init_transactions() and the position read back: a session ready for batches. */
static enum out_verdict ready(struct out_kafka *k, struct df_err *err)
{
    rd_kafka_error_t *e;
    uint64_t pos = 0;
    int found = 0, rc;

    if (k->rk == NULL) {
        rc = out_kafka_producer_new(k, err);
        if (rc != DF_OK)
            return OUT_ERROR;
    }
    if (!k->initialized) {
        e = rd_kafka_init_transactions(k->rk, k->opts->timeout_ms);
        if (e != NULL)
            return txn_error(k, e, "init_transactions", err);
        k->initialized = 1;
        k->have_pos = 0;
    }
    if (!k->have_pos) {
        rc = out_kafka_pos_read(k, &found, &pos, err);
        if (rc == DF_ECONFIG)
            return OUT_ERROR;
        if (rc != DF_OK)
            return OUT_RETRY;
        if (found && k->ceiling_known && pos > k->ceiling) {
            /* This process knows every transaction it tried since the last read: a higher
             * position belongs to an aborted one, visible only where the broker writes no
             * transaction markers (librdkafka's mock cluster) or reads are not committed. */
            log_warn(OUT_KAFKA_LOG, "position in Kafka is beyond every commit this process "
                     "attempted (an aborted record read back?); using the last possible one "
                     "output=%s kafka_pos=%" PRIu64 " used=%" PRIu64, k->name, pos, k->ceiling);
            pos = k->ceiling;
        }
        if (found && pos < k->floor_pos)
            /* Only a lost offsets topic (or records removed from it) can do this. Going back
             * would need journal data that may be gone, and would duplicate what the
             * checkpoint knows was committed. */
            log_warn(OUT_KAFKA_LOG, "position in Kafka is behind the checkpoint; keeping the "
                     "checkpoint's output=%s kafka_pos=%" PRIu64 " checkpoint_pos=%" PRIu64,
                     k->name, pos, k->floor_pos);
        k->committed_pos = found && pos > k->floor_pos ? pos : k->floor_pos;
        k->have_pos = 1;
        log_info(OUT_KAFKA_LOG, "transactional producer ready output=%s transactional_id=%s "
                 "position=%" PRIu64 " from=%s", k->name, k->txn_id, k->committed_pos,
                 found && pos >= k->floor_pos ? "kafka" : "checkpoint");
    }
    return OUT_OK;
}

static void committed(struct out_kafka *k)
{
    k->committed_pos = k->txn_pos;
    k->ceiling = k->txn_pos;
    k->ceiling_known = 1;
    if (k->floor_pos < k->txn_pos)
        k->floor_pos = k->txn_pos;
    k->txn_open = 0;
    k->committing = 0;
}

int out_kafka_txn_open(struct out_kafka *k, struct out_state *state, struct df_err *err)
{
    char id[IDENT_LEN + 1];
    struct df_err e2 = {0};
    int rc, n;

    rc = ident_get(state->state_dir, id, err);
    if (rc != DF_OK)
        return rc;
    /* Stable across restarts (state identity) and unique per output; also our position key. */
    n = snprintf(k->txn_id, sizeof(k->txn_id), "defender-forwarder-%s-%s", id, k->name);
    if (n < 0 || (size_t) n >= sizeof(k->txn_id))
        return df_err_set(err, DF_ECONFIG, "output %s: name too long for a transactional.id",
                          k->name);
    k->floor_pos = state->journal_pos;
    rc = out_kafka_producer_new(k, err);
    if (rc != DF_OK)
        return rc;
    /* Learn the position now so the checkpoint catches up at once; if Kafka cannot be reached
     * yet, write() does this before its first batch (this output waits, the others do not). */
    switch (ready(k, &e2)) {
    case OUT_OK:
        state->journal_pos = k->committed_pos;
        break;
    case OUT_ERROR:
        return df_err_set(err, DF_ECONFIG, "%s", e2.msg);
    default:
        log_warn(OUT_KAFKA_LOG, "Kafka not reachable at start; the position is read before "
                 "the first batch output=%s error=\"%s\"", k->name, e2.msg);
        break;
    }
    return DF_OK;
}

enum out_verdict out_kafka_txn_write(struct out_kafka *k, const struct out_batch *batch,
                                     struct df_err *err)
{
    rd_kafka_error_t *e;
    enum out_verdict v = ready(k, err);
    size_t skipped = 0;

    if (v != OUT_OK)
        return v;
    if (k->committing) {
        /* The last commit's outcome is unknown: librdkafka wants commit_transaction() again. */
        e = rd_kafka_commit_transaction(k->rk, k->opts->timeout_ms);
        if (e != NULL) {
            v = txn_error(k, e, "commit_transaction (again)", err);
            /* Still pending, or a new producer is needed; after an abort the batch is redone
             * in a new transaction right away. */
            if (k->committing || k->rk == NULL)
                return v;
        } else {
            log_info(OUT_KAFKA_LOG, "pending commit completed output=%s position=%" PRIu64,
                     k->name, k->txn_pos);
            committed(k);
        }
    }
    if (NEVER(k->txn_open)) {
        e = rd_kafka_abort_transaction(k->rk, k->opts->timeout_ms);
        k->txn_open = 0;
        if (e != NULL)
            return txn_error(k, e, "abort_transaction", err);
    }
    for (size_t i = 0; i < batch->n; i++) {
        const struct out_record *r = &batch->recs[i];
        rd_kafka_resp_err_t pe;

        if (r->pos <= k->committed_pos) {
            skipped++;
            continue;   /* already in Kafka: committed by an earlier session */
        }
        if (!k->txn_open) {
            e = rd_kafka_begin_transaction(k->rk);
            if (e != NULL)
                return txn_error(k, e, "begin_transaction", err);
            k->txn_open = 1;
            k->txn_pos = k->committed_pos;
            k->gen++;
            k->dr_ok = 0;
            k->dr_failed = 0;
            k->dr_err[0] = '\0';
        }
        pe = out_kafka_produce(k, r);
        if (pe == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
            e = rd_kafka_abort_transaction(k->rk, k->opts->timeout_ms);
            k->txn_open = 0;
            if (e != NULL)
                rd_kafka_error_destroy(e);
            df_err_set(err, DF_EINVAL, "output %s: event %s is larger than message.max.bytes "
                       "(raise it under properties, and the topic's max.message.bytes)",
                       k->name, r->event_id);
            return OUT_ERROR;
        }
        if (pe != RD_KAFKA_RESP_ERR_NO_ERROR)
            return txn_failed(k, "produce", rd_kafka_err2str(pe), err);
        k->txn_pos = r->pos;
    }
    if (skipped > 0)
        log_info(OUT_KAFKA_LOG, "skipped events already committed in Kafka output=%s "
                 "events=%zu position=%" PRIu64, k->name, skipped, k->committed_pos);
    return OUT_OK;
}

enum out_verdict out_kafka_txn_commit(struct out_kafka *k, struct df_err *err)
{
    char value[512];
    size_t len;
    rd_kafka_resp_err_t pe;
    rd_kafka_error_t *e;

    if (!k->txn_open)
        return OUT_OK;  /* nothing was produced: every record was already in Kafka */
    /* The events first, then their position: commit_transaction() would flush both anyway,
     * but this way no position record is ever written ahead of its events. A real broker
     * does not need that (both commit or neither), a broker that shows aborted records (the
     * mock cluster) does: there a visible position still means its events are visible. */
    if (rd_kafka_flush(k->rk, k->opts->timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return txn_failed(k, "flush", "events not delivered within the timeout", err);
    if (k->dr_failed > 0)
        return txn_failed(k, "delivery", k->dr_err, err);
    len = out_kafka_pos_encode(value, sizeof(value), k->txn_pos, k->name);
    if (ALWAYS(len > 0)) {
        pe = rd_kafka_producev(k->rk, RD_KAFKA_V_TOPIC(k->opts->offsets_topic),
                               RD_KAFKA_V_KEY(k->txn_id, strlen(k->txn_id)),
                               RD_KAFKA_V_VALUE(value, len),
                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                               RD_KAFKA_V_OPAQUE(NULL), RD_KAFKA_V_END);
        if (pe != RD_KAFKA_RESP_ERR_NO_ERROR)
            return txn_failed(k, "produce position", rd_kafka_err2str(pe), err);
    }
    /* From here until an answer says otherwise, this position may be committed. */
    k->ceiling = k->txn_pos;
    k->ceiling_known = 1;
    e = rd_kafka_commit_transaction(k->rk, k->opts->timeout_ms);
    if (e == NULL) {
        committed(k);
        return OUT_OK;
    }
    if (rd_kafka_error_is_retriable(e) && !rd_kafka_error_txn_requires_abort(e) &&
        !rd_kafka_error_is_fatal(e)) {
        k->committing = 1;
        log_warn(OUT_KAFKA_LOG, "commit did not complete; it is retried before the next batch "
                 "output=%s error=\"%s\"", k->name, rd_kafka_error_string(e));
    }
    return txn_error(k, e, "commit_transaction", err);
}

void out_kafka_txn_close(struct out_kafka *k)
{
    rd_kafka_error_t *e;

    if (k->rk != NULL && k->txn_open && !k->committing) {
        /* Not committed, so not in the checkpoint either: the next start redoes it. */
        e = rd_kafka_abort_transaction(k->rk, k->opts->timeout_ms);
        if (e != NULL)
            rd_kafka_error_destroy(e);
    }
    teardown(k);
}
