/* The Kafka output against librdkafka's mock cluster in this process: options and their
 * check-config messages, the position record, a transactional cycle with the position read
 * back on reopen, abortable and fenced commits, and the idempotent producer across a broker
 * outage. (End-to-end runs with the real binary: tests/integration/test_kafka*.py.) */
#include "../../unit/unit.h"

#include "cfg.h"
#include "log.h"
#include "out.h"
#include "out_kafka/out_kafka_int.h"

#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TENANT                                              \
    "tenants:\n"                                            \
    "  - name: contoso\n"                                   \
    "    tenant_id: 00000000-0000-0000-0000-000000000000\n" \
    "    client_id: 11111111-1111-1111-1111-111111111111\n" \
    "    client_secret: s3cret\n"

/* Kafka protocol API keys used below (rdkafka_protocol.h is not installed). */
#define API_ADD_PARTITIONS_TO_TXN 24
#define API_END_TXN 26

static char *tmp;
static rd_kafka_t *host;
static rd_kafka_mock_cluster_t *mc;
static const char *brokers;

static int init_suite(void)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256], dir[4200];

    log_set_level(LOG_WARN);
    tmp = unit_tmpdir();
    if (tmp == NULL)
        return 1;
    snprintf(dir, sizeof(dir), "%s/state", tmp);
    if (mkdir(dir, 0750) != 0)
        return 1;
    (void) rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (host == NULL)
        return 1;
    mc = rd_kafka_mock_cluster_new(host, 1);
    if (mc == NULL)
        return 1;
    brokers = rd_kafka_mock_cluster_bootstraps(mc);
    return 0;
}

static int clean_suite(void)
{
    if (mc != NULL)
        rd_kafka_mock_cluster_destroy(mc);
    if (host != NULL)
        rd_kafka_destroy(host);
    unit_rmtree(tmp);
    free(tmp);
    return 0;
}

/* Loads a configuration whose only output is `outputs_yaml`; NULL (and err) when invalid. */
static struct cfg *load(const char *outputs_yaml, struct df_err *err)
{
    char path[4200], *text;
    struct cfg *cfg = NULL;
    size_t n = strlen(outputs_yaml) + 8192;
    FILE *f;

    text = malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    snprintf(text, n, TENANT "state:\n  dir: %s/state\noutputs:\n%s", tmp, outputs_yaml);
    snprintf(path, sizeof(path), "%s/config.yaml", tmp);
    f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
    free(text);
    if (cfg_load(path, &cfg, err) != DF_OK)
        return NULL;
    return cfg;
}

/* An output named "pipe" on the mock cluster, topic t; extra: more YAML lines of the entry. */
static struct cfg *load_output(const char *topic, const char *extra)
{
    char yaml[2048];
    struct df_err err = {0};
    struct cfg *cfg;

    snprintf(yaml, sizeof(yaml),
             "  - name: pipe\n    type: kafka\n    brokers: %s\n    topic: %s\n"
             "    timeout: 3s\n%s",
             brokers, topic, extra);
    cfg = load(yaml, &err);
    if (cfg == NULL)
        fprintf(stderr, "\n%s\n", err.msg);
    return cfg;
}

static int problem(const char *entry_lines, const char *expect)
{
    struct df_err err = {0};
    char yaml[2048];
    struct cfg *cfg;

    snprintf(yaml, sizeof(yaml), "  - name: pipe\n    type: kafka\n%s", entry_lines);
    cfg = load(yaml, &err);
    if (cfg != NULL) {
        cfg_free(cfg);
        fprintf(stderr, "\naccepted, expected: %s\n", expect);
        return 0;
    }
    if (strstr(err.msg, expect) == NULL) {
        fprintf(stderr, "\nexpected '%s' in:\n%s\n", expect, err.msg);
        return 0;
    }
    return 1;
}

static void test_options(void)
{
    struct cfg *cfg = load_output("events", "");
    const struct out_kafka_opts *o;

    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    o = cfg->outputs[0].opts;
    CU_ASSERT_EQUAL(o->eo, 1);
    CU_ASSERT_STRING_EQUAL(o->offsets_topic, "events.offsets");
    CU_ASSERT_EQUAL(o->timeout_ms, 3000);
    CU_ASSERT_EQUAL(o->properties.n, 0);
    cfg_free(cfg);

    cfg = load_output("events", "    exactly_once: false\n    offsets_topic: pos\n"
                                "    properties: { compression.codec: lz4, linger.ms: 20 }\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    o = cfg->outputs[0].opts;
    CU_ASSERT_EQUAL(o->eo, 0);
    CU_ASSERT_STRING_EQUAL(o->offsets_topic, "pos");
    CU_ASSERT_EQUAL(o->properties.n, 2);
    cfg_free(cfg);

    CU_ASSERT(problem("    topic: t\n", "outputs[0].brokers: missing required key"));
    CU_ASSERT(problem("    brokers: b:1\n    topic: bad topic\n", "bad topic name"));
    CU_ASSERT(problem("    brokers: b:1\n    topic: t\n    offsets_topic: t\n",
                      "offsets_topic: must differ from topic"));
    CU_ASSERT(problem("    brokers: b:1\n    topic: t\n    exactly_once: maybe\n",
                      "exactly_once: expected true or false"));
    CU_ASSERT(problem("    brokers: b:1\n    topic: t\n    timeout: forever\n", "bad duration"));
    CU_ASSERT(problem("    brokers: b:1\n    topic: t\n    colour: red\n",
                      "colour: unknown key for output type 'kafka'"));
    /* Line 15: the misspelt property itself, found although its key contains dots. */
    CU_ASSERT(problem("    brokers: b:1\n    topic: t\n    properties:\n      linger.ms: 5\n"
                      "      security.protocl: SSL\n",
                      ":15: outputs[0].properties.security.protocl: No such configuration "
                      "property"));
    CU_ASSERT(problem("    brokers: b:1\n    topic: t\n    properties:\n"
                      "      compression.codec: zip\n",
                      "outputs[0].properties.compression.codec: Invalid value"));
    CU_ASSERT(problem("    brokers: b:1\n    topic: t\n    properties:\n"
                      "      transactional.id: mine\n",
                      "properties.transactional.id: not allowed here"));
    CU_ASSERT(problem("    brokers: b:1\n    topic: t\n    properties:\n"
                      "      bootstrap.servers: x:1\n",
                      "properties.bootstrap.servers: not allowed here"));
    CU_ASSERT(problem("    brokers: b:1\n    topic: t\n    properties:\n"
                      "      enable.idempotence: \"false\"\n",
                      "exactly_once needs the idempotent producer"));
    CU_ASSERT(problem("    brokers: b:1\n    topic: t\n    properties:\n"
                      "      message.timeout.ms: 120000\n",
                      "must be lower than transaction.timeout.ms"));
}

static void test_position_record(void)
{
    char buf[128];
    uint64_t pos = 0;
    size_t n = out_kafka_pos_encode(buf, sizeof(buf), 18446744073709551ULL, "pipe");

    CU_ASSERT(n > 0);
    CU_ASSERT_STRING_EQUAL(buf, "{\"journal_pos\":18446744073709551,\"output\":\"pipe\"}");
    CU_ASSERT_EQUAL(out_kafka_pos_parse(buf, n, &pos), DF_OK);
    CU_ASSERT_EQUAL(pos, 18446744073709551ULL);
    CU_ASSERT_EQUAL(out_kafka_pos_encode(buf, 10, 1, "pipe"), 0);
    CU_ASSERT_EQUAL(out_kafka_pos_parse("{\"journal_pos\":-1}", 18, &pos), DF_EPARSE);
    CU_ASSERT_EQUAL(out_kafka_pos_parse("{\"journal_pos\":1.5}", 19, &pos), DF_EPARSE);
    CU_ASSERT_EQUAL(out_kafka_pos_parse("{\"pos\":1}", 9, &pos), DF_EPARSE);
    CU_ASSERT_EQUAL(out_kafka_pos_parse("{\"journal_pos\":", 15, &pos), DF_EPARSE);
    CU_ASSERT_EQUAL(out_kafka_pos_parse("", 0, &pos), DF_EPARSE);
    CU_ASSERT_EQUAL(out_kafka_pos_parse(NULL, 3, &pos), DF_EPARSE);
}

/* ---- producing against the mock ---- */

struct batch {
    struct out_record recs[8];
    char ids[8][33];
    struct out_batch b;
};

/* Records ending at journal positions first, first+10, …: n of them. */
static void make_batch(struct batch *b, uint64_t first, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct out_record *r = &b->recs[i];
        snprintf(b->ids[i], sizeof(b->ids[i]), "%032zx", (size_t) first + i * 10);
        r->pos = first + i * 10;
        r->type = i == 0 ? EVT_INCIDENT : EVT_ALERT;
        r->event_id = b->ids[i];
        r->tenant = "contoso";
        r->incident_id = "1001";
        r->line = "{\"type\":\"x\"}";
        r->line_len = strlen(r->line);
    }
    b->b.recs = b->recs;
    b->b.n = n;
    b->b.end_pos = b->recs[n - 1].pos;
}

/* Records in topic (all partitions; the mock counts aborted ones too). */
static int64_t records(const char *topic)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt;
    char errstr[256];
    int64_t total = 0;
    rd_kafka_t *rk;

    (void) rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof(errstr));
    (void) rd_kafka_conf_set(conf, "group.id", "test", errstr, sizeof(errstr));
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    CU_ASSERT_PTR_NOT_NULL_FATAL(rk);
    rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1) {
        for (int i = 0; i < md->topics[0].partition_cnt; i++) {
            int64_t lo = 0, hi = 0;
            if (rd_kafka_query_watermark_offsets(rk, topic, md->topics[0].partitions[i].id, &lo,
                                                 &hi, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
                total += hi - lo;
        }
    }
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return total;
}

struct opened {
    struct cfg *cfg;
    const struct out_plugin *p;
    void *ctx;
    struct out_state st;
};

static int open_out(struct opened *o, const char *topic, const char *extra, uint64_t pos)
{
    struct df_err err = {0};
    char dir[4200];
    int rc;

    memset(o, 0, sizeof(*o));
    o->cfg = load_output(topic, extra);
    if (o->cfg == NULL)
        return DF_ECONFIG;
    snprintf(dir, sizeof(dir), "%s/state", tmp);
    o->p = o->cfg->outputs[0].plugin;
    o->st.known = pos > 0;
    o->st.journal_pos = pos;
    o->st.state_dir = strdup(dir);
    rc = o->p->open(&o->ctx, "pipe", o->cfg->outputs[0].opts, &o->st, &err);
    if (rc != DF_OK)
        fprintf(stderr, "\nopen: %s\n", err.msg);
    return rc;
}

static void close_out(struct opened *o)
{
    if (o->ctx != NULL)
        o->p->close(o->ctx);
    free((char *) o->st.state_dir);
    cfg_free(o->cfg);
}

static enum out_verdict deliver(struct opened *o, const struct batch *b)
{
    struct df_err err = {0};
    enum out_verdict v = o->p->write(o->ctx, &b->b, &err);

    if (v == OUT_OK)
        v = o->p->commit(o->ctx, &o->st, &err);
    if (v != OUT_OK)
        fprintf(stderr, "\n  (verdict %d: %s)\n", (int) v, err.msg);
    return v;
}

static void test_transactions(void)
{
    struct opened o;
    struct batch b;

    rd_kafka_mock_topic_create(mc, "txn", 2, 1);
    rd_kafka_mock_topic_create(mc, "txn.offsets", 1, 1);
    CU_ASSERT_EQUAL_FATAL(open_out(&o, "txn", "", 0), DF_OK);
    CU_ASSERT_EQUAL(o.st.journal_pos, 0);
    make_batch(&b, 10, 3);
    CU_ASSERT_EQUAL(deliver(&o, &b), OUT_OK);
    CU_ASSERT_EQUAL(records("txn"), 3);
    CU_ASSERT_EQUAL(records("txn.offsets"), 1);
    close_out(&o);

    /* A checkpoint one batch behind Kafka (a crash between the two): Kafka's position wins,
     * and the batch offered again is not produced twice. */
    CU_ASSERT_EQUAL_FATAL(open_out(&o, "txn", "", 0), DF_OK);
    CU_ASSERT_EQUAL(o.st.journal_pos, 30);
    CU_ASSERT_EQUAL(deliver(&o, &b), OUT_OK);
    CU_ASSERT_EQUAL(records("txn"), 3);
    make_batch(&b, 40, 2);
    CU_ASSERT_EQUAL(deliver(&o, &b), OUT_OK);
    CU_ASSERT_EQUAL(records("txn"), 5);
    CU_ASSERT_EQUAL(records("txn.offsets"), 2);

    /* Abortable: the partition cannot join the transaction; aborted, then redone. */
    rd_kafka_mock_push_request_errors(mc, API_ADD_PARTITIONS_TO_TXN, 1,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    make_batch(&b, 60, 2);
    CU_ASSERT_EQUAL(deliver(&o, &b), OUT_RETRY);
    CU_ASSERT_EQUAL(deliver(&o, &b), OUT_OK);
    CU_ASSERT_EQUAL(records("txn"), 7);

    /* Fenced at commit: the producer is discarded; the next attempt starts a new one, which
     * reads the position back (the mock shows the fenced transaction's records and position,
     * since it writes no markers, so nothing is redone here). */
    rd_kafka_mock_push_request_errors(mc, API_END_TXN, 1, RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
    make_batch(&b, 80, 2);
    CU_ASSERT_EQUAL(deliver(&o, &b), OUT_RETRY);
    CU_ASSERT_PTR_NULL(((struct out_kafka *) o.ctx)->rk);
    CU_ASSERT_EQUAL(deliver(&o, &b), OUT_OK);
    CU_ASSERT_EQUAL(records("txn"), 9);
    CU_ASSERT_EQUAL(((struct out_kafka *) o.ctx)->committed_pos, 90);
    close_out(&o);

    CU_ASSERT_EQUAL_FATAL(open_out(&o, "txn", "", 30), DF_OK);
    CU_ASSERT_EQUAL(o.st.journal_pos, 90);
    close_out(&o);
}

static void test_idempotent_outage(void)
{
    struct opened o;
    struct batch b;

    rd_kafka_mock_topic_create(mc, "plain", 2, 1);
    CU_ASSERT_EQUAL_FATAL(open_out(&o, "plain", "    exactly_once: false\n", 0), DF_OK);
    make_batch(&b, 10, 4);
    CU_ASSERT_EQUAL(deliver(&o, &b), OUT_OK);
    CU_ASSERT_EQUAL(records("plain"), 4);

    /* No broker: the batch is not reported delivered within the timeout, so it is RETRY. */
    rd_kafka_mock_broker_set_down(mc, 1);
    make_batch(&b, 50, 3);
    CU_ASSERT_EQUAL(deliver(&o, &b), OUT_RETRY);
    rd_kafka_mock_broker_set_up(mc, 1);
    /* As the core would: offered again until librdkafka has reconnected (its own backoff). */
    enum out_verdict v = OUT_RETRY;
    for (int i = 0; i < 5 && v == OUT_RETRY; i++)
        v = deliver(&o, &b);
    CU_ASSERT_EQUAL(v, OUT_OK);
    CU_ASSERT(records("plain") >= 7);
    CU_ASSERT_EQUAL(records("plain.offsets"), 0);
    close_out(&o);
}

void unit_register(void)
{
    CU_pSuite s = CU_add_suite("out_kafka", init_suite, clean_suite);

    CU_add_test(s, "options", test_options);
    CU_add_test(s, "position record", test_position_record);
    CU_add_test(s, "transactions", test_transactions);
    CU_add_test(s, "idempotent producer, outage", test_idempotent_outage);
}
