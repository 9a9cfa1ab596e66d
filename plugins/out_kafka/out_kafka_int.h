/* Shared between the Kafka output's files: options and librdkafka configuration
 * (out_kafka_conf.c), the position record and its read-back (out_kafka_pos.c), the
 * transactional producer (out_kafka_txn.c) and the plugin itself (out_kafka.c). */
#ifndef DF_OUT_KAFKA_INT_H
#define DF_OUT_KAFKA_INT_H

#include "out_kafka.h"

#include "common.h"
#include "out.h"

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#define OUT_KAFKA_LOG "out_kafka"
#define OUT_KAFKA_TXN_ID_MAX 320

struct out_kafka {
    char *name;
    const struct out_kafka_opts *opts;
    char txn_id[OUT_KAFKA_TXN_ID_MAX];  /* also the key of our position records */
    rd_kafka_t *rk;                     /* NULL until created, and after a fatal error */

    /* exactly_once: see out_kafka_txn.c for the state machine. */
    int initialized;        /* init_transactions() succeeded on rk */
    int have_pos;           /* committed_pos was read back from Kafka for this rk */
    int txn_open;           /* begin_transaction() called, not yet committed or aborted */
    int committing;         /* commit_transaction() failed retriably: it must be called again */
    int topic_checked;      /* offsets topic creation attempted once */
    uint64_t floor_pos;     /* known delivered: the core's position at open, then each commit */
    uint64_t committed_pos; /* delivered according to Kafka (and floor_pos) */
    uint64_t txn_pos;       /* records up to here are produced in the open transaction */
    int ceiling_known;      /* 0 until this process commits: an earlier one may have gone on */
    uint64_t ceiling;       /* highest position this process may have committed */

    /* Delivery reports of the current batch (matched by generation). */
    uint64_t gen;
    size_t dr_ok, dr_failed;
    char dr_err[256];
};

enum out_kafka_role { OUT_KAFKA_PRODUCER, OUT_KAFKA_READER };

/* out_kafka_conf.c */
extern const cyaml_schema_field_t out_kafka_fields[];
extern const struct out_map_option out_kafka_maps[];
int out_kafka_validate(void *opts, struct df_err *err);
/* A librdkafka configuration for role: our defaults, then `properties:`, then what we must
 * own (bootstrap.servers, transactional.id, the reader's isolation). txn_id may be NULL
 * (idempotent producer). NULL with err set on failure. */
rd_kafka_conf_t *out_kafka_conf(const struct out_kafka_opts *o, enum out_kafka_role role,
                                const char *txn_id, struct df_err *err);
/* librdkafka's log, into ours (called from librdkafka's threads: log_msg is one write). */
void out_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);
/* Client-level errors (served by poll on our thread): fatal ones as errors, the rest quieter. */
void out_kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque);

/* out_kafka_pos.c */
/* The position record's value: {"journal_pos":N,"output":"NAME"}. Returns its length or 0. */
size_t out_kafka_pos_encode(char *buf, size_t size, uint64_t pos, const char *output);
/* DF_OK with *pos, or DF_EPARSE. */
int out_kafka_pos_parse(const void *value, size_t len, uint64_t *pos);
/* Creates the offsets topic (compacted, one partition) when it is missing; best effort. */
void out_kafka_offsets_topic_ensure(struct out_kafka *k);
/* Reads the highest position committed under k->txn_id with a read_committed consumer.
 * DF_OK with *found 0 (none yet) or 1 and *pos; DF_ERETRY with err when Kafka cannot say. */
int out_kafka_pos_read(struct out_kafka *k, int *found, uint64_t *pos, struct df_err *err);

/* out_kafka_txn.c */
int out_kafka_txn_open(struct out_kafka *k, struct out_state *state, struct df_err *err);
enum out_verdict out_kafka_txn_write(struct out_kafka *k, const struct out_batch *batch,
                                     struct df_err *err);
enum out_verdict out_kafka_txn_commit(struct out_kafka *k, struct df_err *err);
void out_kafka_txn_close(struct out_kafka *k);

/* out_kafka.c: shared by both producers */
/* Creates k->rk (not connected yet). DF_ECONFIG when librdkafka refuses the configuration. */
int out_kafka_producer_new(struct out_kafka *k, struct df_err *err);
void out_kafka_producer_free(struct out_kafka *k);
/* Produces one journal record (key, headers, value) to the data topic; waits while the local
 * queue is full. RD_KAFKA_RESP_ERR_NO_ERROR or librdkafka's error. */
rd_kafka_resp_err_t out_kafka_produce(struct out_kafka *k, const struct out_record *r);

#endif
