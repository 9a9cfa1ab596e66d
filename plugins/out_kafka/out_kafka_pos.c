/*
 * The output's journal position, kept in Kafka (KIP-618, as Kafka Connect's exactly-once
 * source connectors do): every transaction that carries events also carries one record
 * key = transactional.id, value = {"journal_pos":N,"output":"NAME"} to the offsets topic, so
 * the position commits if and only if the events do. On each new producer session the
 * position is read back with a read_committed consumer; what Kafka says wins over the local
 * checkpoint, which may be one batch behind after a crash between the Kafka commit and the
 * checkpoint write.
 *
 * The highest position under our key is taken, over every partition: positions only grow,
 * so this stays right even if someone adds partitions to the offsets topic (which moves our
 * key to another partition). Offsets are never used for arithmetic: real brokers spend
 * offsets on transaction markers.
 */
#include "out_kafka_int.h"

#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_tree.h>

#define POS_VALUE_MAX 1024
#define POLL_MS 100
#define CREATE_WAIT_MS 10000

size_t out_kafka_pos_encode(char *buf, size_t size, uint64_t pos, const char *output)
{
    /* Output names are [A-Za-z0-9_.-]+ (checked by the loader): nothing to escape. */
    int n = snprintf(buf, size, "{\"journal_pos\":%" PRIu64 ",\"output\":\"%s\"}", pos, output);
    return n < 0 || (size_t) n >= size ? 0 : (size_t) n;
}

int out_kafka_pos_parse(const void *value, size_t len, uint64_t *pos)
{
    static const char *path[] = {"journal_pos", NULL};
    char text[POS_VALUE_MAX + 1];
    yajl_val root, v;
    int rc = DF_EPARSE;

    if (value == NULL || len == 0 || len > POS_VALUE_MAX)
        return DF_EPARSE;
    memcpy(text, value, len);
    text[len] = '\0';
    root = yajl_tree_parse(text, NULL, 0);
    v = root != NULL ? yajl_tree_get(root, path, yajl_t_number) : NULL;
    if (v != NULL && YAJL_IS_INTEGER(v) && YAJL_GET_INTEGER(v) >= 0) {
        *pos = (uint64_t) YAJL_GET_INTEGER(v);
        rc = DF_OK;
    }
    yajl_tree_free(root);
    return rc;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(int64_t deadline)
{
    int64_t r = deadline - now_ms();
    return r < 0 ? 0 : (int) r;
}

void out_kafka_offsets_topic_ensure(struct out_kafka *k)
{
    const struct out_kafka_opts *o = k->opts;
    rd_kafka_NewTopic_t *nt = NULL;
    rd_kafka_AdminOptions_t *ao = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    const char *why = "no answer";
    char errstr[256];
    /* Only a first start gets here; a cluster without an admin API (librdkafka's mock has no
     * controller) should not hold it up for long. */
    int wait_ms = o->timeout_ms < CREATE_WAIT_MS ? o->timeout_ms : CREATE_WAIT_MS;

    /* One partition and compaction: the topic holds one live record per output, forever.
     * Replication -1 takes the broker's default (brokers from Kafka 2.4 on). */
    nt = rd_kafka_NewTopic_new(o->offsets_topic, 1, -1, errstr, sizeof(errstr));
    if (nt == NULL || rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact") != 0) {
        why = nt == NULL ? errstr : "cannot set cleanup.policy";
        goto out;
    }
    ao = rd_kafka_AdminOptions_new(k->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    q = rd_kafka_queue_new(k->rk);
    if (ao == NULL || q == NULL) {
        why = "out of memory";
        goto out;
    }
    (void) rd_kafka_AdminOptions_set_request_timeout(ao, wait_ms, errstr, sizeof(errstr));
    rd_kafka_CreateTopics(k->rk, &nt, 1, ao, q);
    ev = rd_kafka_queue_poll(q, wait_ms + 1000);
    if (ev == NULL)
        goto out;
    e = rd_kafka_event_error(ev);
    why = rd_kafka_event_error_string(ev);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t cnt = 0;
        const rd_kafka_topic_result_t **tr =
            res != NULL ? rd_kafka_CreateTopics_result_topics(res, &cnt) : NULL;
        if (cnt > 0) {
            e = rd_kafka_topic_result_error(tr[0]);
            why = rd_kafka_topic_result_error_string(tr[0]);
        }
    }
out:
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        log_info(OUT_KAFKA_LOG, "created the offsets topic (compacted) output=%s topic=%s",
                 k->name, o->offsets_topic);
    else if (e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        log_warn(OUT_KAFKA_LOG, "could not create the offsets topic; it is created on first use "
                 "if the brokers allow it, but then without compaction: create it with "
                 "cleanup.policy=compact output=%s topic=%s error=\"%s\"", k->name,
                 o->offsets_topic, why != NULL ? why : rd_kafka_err2str(e));
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    if (q != NULL)
        rd_kafka_queue_destroy(q);
    if (ao != NULL)
        rd_kafka_AdminOptions_destroy(ao);
    if (nt != NULL)
        rd_kafka_NewTopic_destroy(nt);
}

struct part {
    int32_t id;
    int64_t end;    /* high watermark when we started: read until here */
    int done;
};

/* Partitions of the offsets topic and where each ends. *n 0 when the topic does not exist. */
static int list_parts(rd_kafka_t *rk, const char *topic, int64_t deadline, struct part **out,
                      size_t *n, struct df_err *err)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    struct part *p = NULL;
    rd_kafka_resp_err_t e;
    int rc = DF_ERETRY;

    *out = NULL;
    *n = 0;
    if (rkt == NULL)
        return df_err_set(err, DF_ENOMEM, "out of memory");
    e = rd_kafka_metadata(rk, 0, rkt, &md, remaining_ms(deadline));
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        df_err_set(err, DF_ERETRY, "metadata of %s: %s", topic, rd_kafka_err2str(e));
        goto out;
    }
    if (md->topic_cnt < 1 || md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        rc = DF_OK;     /* no topic: nothing was ever committed */
        goto out;
    }
    if (md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR || md->topics[0].partition_cnt < 1) {
        df_err_set(err, DF_ERETRY, "metadata of %s: %s", topic,
                   rd_kafka_err2str(md->topics[0].err));
        goto out;
    }
    p = calloc((size_t) md->topics[0].partition_cnt, sizeof(*p));
    if (p == NULL) {
        rc = df_err_set(err, DF_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < md->topics[0].partition_cnt; i++) {
        int64_t lo = 0, hi = 0;
        p[i].id = md->topics[0].partitions[i].id;
        e = rd_kafka_query_watermark_offsets(rk, topic, p[i].id, &lo, &hi,
                                             remaining_ms(deadline));
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            df_err_set(err, DF_ERETRY, "end offset of %s [%" PRId32 "]: %s", topic, p[i].id,
                       rd_kafka_err2str(e));
            goto out;
        }
        p[i].end = hi;
        p[i].done = hi <= lo;
    }
    *n = (size_t) md->topics[0].partition_cnt;
    *out = p;
    p = NULL;
    rc = DF_OK;
out:
    free(p);
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

static struct part *find_part(struct part *p, size_t n, int32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (p[i].id == id)
            return &p[i];
    return NULL;
}

static size_t parts_left(const struct part *p, size_t n)
{
    size_t left = 0;
    for (size_t i = 0; i < n; i++)
        left += !p[i].done;
    return left;
}

/* Consumes every partition from its start to its end, keeping the highest position under our
 * key. The end is the high watermark seen before reading: a read_committed consumer stops at
 * the last stable offset, which reaches it once open transactions of other producers end
 * (ours were ended by init_transactions()). */
static int scan(struct out_kafka *k, rd_kafka_t *rk, struct part *p, size_t n, int64_t deadline,
                int *found, uint64_t *pos, struct df_err *err)
{
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new((int) n);
    size_t keylen = strlen(k->txn_id), records = 0;
    rd_kafka_resp_err_t e;
    int rc = DF_OK;

    if (tl == NULL)
        return df_err_set(err, DF_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (!p[i].done)
            rd_kafka_topic_partition_list_add(tl, k->opts->offsets_topic, p[i].id)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
    e = rd_kafka_assign(rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return df_err_set(err, DF_ERETRY, "assign %s: %s", k->opts->offsets_topic,
                          rd_kafka_err2str(e));
    while (parts_left(p, n) > 0) {
        rd_kafka_message_t *m;
        struct part *pt;
        uint64_t v;

        if (remaining_ms(deadline) == 0) {
            rc = df_err_set(err, DF_ERETRY, "reading %s did not reach its end within the "
                            "timeout (a transaction of another producer still open?)",
                            k->opts->offsets_topic);
            break;
        }
        m = rd_kafka_consumer_poll(rk, POLL_MS);
        if (m == NULL)
            continue;
        pt = m->rkt != NULL ? find_part(p, n, m->partition) : NULL;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (pt != NULL && m->offset >= pt->end)
                pt->done = 1;
        } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            /* Consumer errors are informational (librdkafka retries); the deadline decides. */
            log_debug(OUT_KAFKA_LOG, "position reader: %s output=%s", rd_kafka_message_errstr(m),
                      k->name);
        } else {
            records++;
            if (m->key_len == keylen && memcmp(m->key, k->txn_id, keylen) == 0) {
                if (out_kafka_pos_parse(m->payload, m->len, &v) != DF_OK)
                    log_warn(OUT_KAFKA_LOG, "ignoring an unreadable position record output=%s "
                             "topic=%s partition=%" PRId32 " offset=%" PRId64, k->name,
                             k->opts->offsets_topic, m->partition, m->offset);
                else if (!*found || v > *pos) {
                    *pos = v;
                    *found = 1;
                }
            }
            if (pt != NULL && m->offset + 1 >= pt->end)
                pt->done = 1;
        }
        rd_kafka_message_destroy(m);
    }
    log_debug(OUT_KAFKA_LOG, "position reader done output=%s records=%zu", k->name, records);
    return rc;
}

int out_kafka_pos_read(struct out_kafka *k, int *found, uint64_t *pos, struct df_err *err)
{
    int64_t deadline = now_ms() + k->opts->timeout_ms;
    rd_kafka_conf_t *conf = out_kafka_conf(k->opts, OUT_KAFKA_READER, NULL, err);
    rd_kafka_t *rk = NULL;
    struct part *p = NULL;
    size_t n = 0;
    char errstr[512];
    int rc;

    *found = 0;
    *pos = 0;
    if (conf == NULL)
        return DF_ECONFIG;
    rd_kafka_conf_set_opaque(conf, k);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return df_err_set(err, DF_ECONFIG, "output %s: position reader: %s", k->name, errstr);
    }
    /* A fresh topic may not have a leader for a moment: ask again until the deadline. */
    for (;;) {
        rc = list_parts(rk, k->opts->offsets_topic, deadline, &p, &n, err);
        if (rc != DF_ERETRY || remaining_ms(deadline) < 2 * POLL_MS)
            break;
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (rc == DF_OK && n > 0)
        rc = scan(k, rk, p, n, deadline, found, pos, err);
    if (rc == DF_OK && n == 0 && !k->topic_checked && k->rk != NULL) {
        /* Nothing committed yet, and no topic: make it compacted before the first use. */
        out_kafka_offsets_topic_ensure(k);
        k->topic_checked = 1;
    }
    free(p);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
