/* Kafka output (librdkafka): transactional exactly-once with the position kept in Kafka, or an
 * idempotent at-least-once producer. The model is described in docs/kafka.md. */
#ifndef DF_OUT_KAFKA_H
#define DF_OUT_KAFKA_H

#include "out.h"

#include <stdbool.h>
#include <stdint.h>

struct out_kafka_opts {
    char *brokers;                  /* required: host:port[,host:port…] */
    char *topic;                    /* required */
    bool *exactly_once;             /* NULL: default true */
    char *offsets_topic;            /* default "<topic>.offsets" (set by validate) */
    char *timeout;                  /* duration bounding each blocking call, default 30s */
    struct out_kv_list properties;  /* passed to librdkafka unchanged */
    /* Derived by validate. */
    int eo;
    int timeout_ms;
};

#endif
