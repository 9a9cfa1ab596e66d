/*
 * Options of the Kafka output and the librdkafka configurations built from them.
 *
 * `properties:` is handed to librdkafka as written, between our defaults (so a user can tune
 * timeouts, batching or compression) and the few keys we must own (bootstrap.servers from
 * `brokers`, transactional.id from the state identity, the position reader's isolation).
 * check-config tries every property on a scratch configuration, so a misspelt
 * `security.protocl` is reported with its line instead of at the first start.
 */
#include "out_kafka_int.h"

#include "log.h"
#include "ts.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEF_TIMEOUT_S 30
#define MAX_TIMEOUT_S (15 * 60)  /* the broker's default transaction.max.timeout.ms */
#define TOPIC_MAX 249            /* Kafka's own limit */
#define OFFSETS_SUFFIX ".offsets"

const cyaml_schema_field_t out_kafka_fields[] = {
    CYAML_FIELD_STRING_PTR("brokers", CYAML_FLAG_POINTER, struct out_kafka_opts, brokers, 1,
                           CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("topic", CYAML_FLAG_POINTER, struct out_kafka_opts, topic, 1,
                           CYAML_UNLIMITED),
    CYAML_FIELD_BOOL_PTR("exactly_once", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
                         struct out_kafka_opts, exactly_once),
    CYAML_FIELD_STRING_PTR("offsets_topic", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
                           struct out_kafka_opts, offsets_topic, 1, CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("timeout", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
                           struct out_kafka_opts, timeout, 1, CYAML_UNLIMITED),
    CYAML_FIELD_END,
};

const struct out_map_option out_kafka_maps[] = {
    {"properties", offsetof(struct out_kafka_opts, properties)},
    {NULL, 0},
};

/* Keys librdkafka must get from us: setting them by hand would break the exactly-once model
 * or contradict another key. */
static const char *const owned[][2] = {
    {"bootstrap.servers", "set by `brokers`"},
    {"metadata.broker.list", "set by `brokers`"},
    {"transactional.id", "derived from the state directory's identity and the output name"},
};

/* [A-Za-z0-9._-]{1,249}, not "." or "..": what a Kafka broker accepts as a topic name. */
static int valid_topic(const char *t)
{
    size_t n = strlen(t);

    if (n == 0 || n > TOPIC_MAX || strcmp(t, ".") == 0 || strcmp(t, "..") == 0)
        return 0;
    for (; *t; t++)
        if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9') ||
              *t == '.' || *t == '_' || *t == '-'))
            return 0;
    return 1;
}

static int set(rd_kafka_conf_t *c, const char *key, const char *value, const char *name,
               struct df_err *err)
{
    char errstr[512];

    if (rd_kafka_conf_set(c, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        return df_err_set(err, DF_ECONFIG, "%s: %s", name, errstr);
    return DF_OK;
}

static int set_int(rd_kafka_conf_t *c, const char *key, long long v, struct df_err *err)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", v);
    return set(c, key, buf, key, err);
}

/* transaction.timeout.ms: above message.timeout.ms (librdkafka requires it), and at least the
 * broker-side default of a minute, so a slow commit is not aborted under our feet. */
static long long txn_timeout_ms(const struct out_kafka_opts *o)
{
    long long t = 2LL * o->timeout_ms;
    return t < 60000 ? 60000 : t;
}

rd_kafka_conf_t *out_kafka_conf(const struct out_kafka_opts *o, enum out_kafka_role role,
                                const char *txn_id, struct df_err *err)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char name[300];
    int rc;

    if (c == NULL) {
        df_err_set(err, DF_ENOMEM, "out of memory");
        return NULL;
    }
    rc = set(c, "client.id", "defender-forwarder", "client.id", err);
    if (rc == DF_OK)
        rc = set(c, "bootstrap.servers", o->brokers, "brokers", err);
    if (rc == DF_OK && role == OUT_KAFKA_PRODUCER) {
        /* Bounded by our timeout so a dead broker fails a batch (RETRY) instead of holding
         * the whole forwarder for librdkafka's default five minutes. */
        rc = set_int(c, "message.timeout.ms", o->timeout_ms, err);
        if (rc == DF_OK && txn_id != NULL)
            rc = set_int(c, "transaction.timeout.ms", txn_timeout_ms(o), err);
        if (rc == DF_OK && txn_id == NULL)
            rc = set(c, "enable.idempotence", "true", "enable.idempotence", err);
        if (rc == DF_OK && txn_id == NULL)
            rc = set(c, "acks", "all", "acks", err);
    }
    for (size_t i = 0; rc == DF_OK && i < o->properties.n; i++) {
        const struct out_kv *kv = &o->properties.v[i];
        snprintf(name, sizeof(name), "properties.%s", kv->key);
        rc = set(c, kv->key, kv->value, name, err);
    }
    if (rc == DF_OK && role == OUT_KAFKA_PRODUCER && txn_id != NULL)
        rc = set(c, "transactional.id", txn_id, "transactional.id", err);
    if (rc == DF_OK && role == OUT_KAFKA_READER) {
        /* The reader must not see aborted positions, nor commit offsets anywhere: it only
         * assigns partitions (group.id is required by the consumer API, never joined). */
        rc = set(c, "isolation.level", "read_committed", "isolation.level", err);
        if (rc == DF_OK)
            rc = set(c, "enable.partition.eof", "true", "enable.partition.eof", err);
        if (rc == DF_OK)
            rc = set(c, "enable.auto.commit", "false", "enable.auto.commit", err);
        if (rc == DF_OK)
            rc = set(c, "enable.auto.offset.store", "false", "enable.auto.offset.store", err);
        if (rc == DF_OK)
            rc = set(c, "group.id", "defender-forwarder-position-reader", "group.id", err);
    }
    if (rc != DF_OK) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(c, out_kafka_log_cb);
    rd_kafka_conf_set_error_cb(c, out_kafka_error_cb);
    return c;
}

static long long conf_ms(rd_kafka_conf_t *c, const char *key)
{
    char buf[64];
    size_t size = sizeof(buf);

    if (rd_kafka_conf_get(c, key, buf, &size) != RD_KAFKA_CONF_OK)
        return -1;
    return strtoll(buf, NULL, 10);
}

static int check_properties(struct out_kafka_opts *o, struct df_err *err)
{
    rd_kafka_conf_t *c;
    int rc = DF_OK;

    for (size_t i = 0; i < o->properties.n; i++) {
        const struct out_kv *kv = &o->properties.v[i];
        for (size_t j = 0; j < DF_ARRAY_LEN(owned); j++)
            if (strcmp(kv->key, owned[j][0]) == 0)
                return df_err_set(err, DF_ECONFIG, "properties.%s: not allowed here: %s",
                                  kv->key, owned[j][1]);
        if (o->eo && strcmp(kv->key, "enable.idempotence") == 0 &&
            strcmp(kv->value, "true") != 0)
            return df_err_set(err, DF_ECONFIG, "properties.%s: exactly_once needs the "
                              "idempotent producer (or set exactly_once: false)", kv->key);
    }
    /* A scratch configuration names unknown keys and bad values now, not at the first start. */
    c = out_kafka_conf(o, OUT_KAFKA_PRODUCER, o->eo ? "check-config" : NULL, err);
    if (c == NULL)
        return DF_ECONFIG;
    if (o->eo) {
        long long mt = conf_ms(c, "message.timeout.ms"), tt = conf_ms(c, "transaction.timeout.ms");
        if (mt > 0 && tt > 0 && mt >= tt)
            rc = df_err_set(err, DF_ECONFIG, "properties: message.timeout.ms (%lld) must be "
                            "lower than transaction.timeout.ms (%lld)", mt, tt);
    }
    rd_kafka_conf_destroy(c);
    return rc;
}

int out_kafka_validate(void *opts, struct df_err *err)
{
    struct out_kafka_opts *o = opts;
    int64_t s = DEF_TIMEOUT_S;

    if (o->brokers == NULL || o->brokers[0] == '\0')
        return df_err_set(err, DF_ECONFIG, "brokers: must name at least one host:port");
    if (o->topic == NULL || !valid_topic(o->topic))
        return df_err_set(err, DF_ECONFIG, "topic: bad topic name '%.64s' (letters, digits, "
                          "'.', '_' and '-', at most %d)", o->topic ? o->topic : "", TOPIC_MAX);
    o->eo = o->exactly_once == NULL || *o->exactly_once;
    if (o->timeout != NULL &&
        (ts_parse_duration(o->timeout, &s) != DF_OK || s < 1 || s > MAX_TIMEOUT_S))
        return df_err_set(err, DF_ECONFIG, "timeout: bad duration '%.64s' (1s to 15m, e.g. 30s)",
                          o->timeout);
    o->timeout_ms = (int) (s * 1000);
    if (o->offsets_topic == NULL) {
        size_t n = strlen(o->topic);
        /* Freed with the other options: cyaml_free() releases every string of the schema. */
        o->offsets_topic = malloc(n + sizeof(OFFSETS_SUFFIX));
        if (o->offsets_topic == NULL)
            return df_err_set(err, DF_ENOMEM, "out of memory");
        memcpy(o->offsets_topic, o->topic, n);
        memcpy(o->offsets_topic + n, OFFSETS_SUFFIX, sizeof(OFFSETS_SUFFIX));
    }
    if (!valid_topic(o->offsets_topic))
        return df_err_set(err, DF_ECONFIG, "offsets_topic: bad topic name '%.64s'",
                          o->offsets_topic);
    if (strcmp(o->offsets_topic, o->topic) == 0)
        return df_err_set(err, DF_ECONFIG, "offsets_topic: must differ from topic");
    return check_properties(o, err);
}

void out_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const struct out_kafka *k = rd_kafka_opaque(rk);
    const char *name = k != NULL ? k->name : "-";
    enum log_level l = level <= 3 ? LOG_ERROR : level == 4 ? LOG_WARN : level <= 6 ? LOG_INFO
                                                                                   : LOG_DEBUG;

    /* The position reader gets the producer's properties too; librdkafka warns about each
     * producer-only one, which says nothing useful about this consumer. */
    if (rd_kafka_type(rk) == RD_KAFKA_CONSUMER && strcmp(fac, "CONFWARN") == 0)
        l = LOG_DEBUG;
    /* A failed connection attempt is retried by librdkafka; whether it costs a batch is
     * reported by the core ("destination not available"). */
    if (l == LOG_ERROR && strcmp(fac, "FAIL") == 0)
        l = LOG_WARN;
    log_msg(l, OUT_KAFKA_LOG, "librdkafka: %s output=%s facility=%s client=%s", buf, name, fac,
            rd_kafka_type(rk) == RD_KAFKA_CONSUMER ? "position-reader" : "producer");
}

void out_kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    const struct out_kafka *k = opaque;
    const char *name = k != NULL ? k->name : "-";

    (void) rk;
    /* Without this callback librdkafka logs each of these a second time, at error level. */
    if (err == RD_KAFKA_RESP_ERR__FATAL)
        log_error(OUT_KAFKA_LOG, "librdkafka: fatal: %s output=%s", reason, name);
    else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        log_warn(OUT_KAFKA_LOG, "librdkafka: %s output=%s", reason, name);
    else
        log_debug(OUT_KAFKA_LOG, "librdkafka: %s output=%s error=%s", reason, name,
                  rd_kafka_err2name((rd_kafka_resp_err_t) err));
}
