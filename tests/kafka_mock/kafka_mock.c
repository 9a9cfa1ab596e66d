/*
 * librdkafka's mock cluster as a separate process, for the Kafka integration tests
 * (reference: formats.md §4.1). The first line on stdout is the bootstrap address list; then
 * one command per line on stdin, each answered by one line, "ok" or "error: …":
 *
 *   err API ERROR [ERROR…]   the next requests of API (name or number) fail with these errors
 *                            (Kafka error names as librdkafka spells them, or numbers), in order
 *   clear API                drops errors still pending for API
 *   down ID|all, up ID|all   takes brokers off the network and back (connections refused)
 *   rtt ID|all MS            delays every answer of the broker(s)
 *   create TOPIC PARTITIONS  creates a topic (topics are otherwise auto-created, 4 partitions)
 *   quit                     (or end of input, or SIGTERM/SIGINT) stops the cluster
 *
 * The mock writes no transaction markers: aborted records stay visible (formats.md §4.3). Nor
 * does it fence an older producer when a new one with the same transactional.id initialises:
 * fencing is injected as an error (err EndTxn PRODUCER_FENCED).
 */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ERRORS 64

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void) sig;
    stop = 1;
}

/* Kafka protocol API keys (rdkafka_protocol.h is not installed). */
static const struct {
    const char *name;
    int16_t key;
} apis[] = {
    {"Produce", 0},          {"Fetch", 1},           {"ListOffsets", 2},
    {"Metadata", 3},         {"OffsetCommit", 8},    {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},      {"Heartbeat", 12},
    {"SyncGroup", 14},       {"ApiVersion", 18},     {"CreateTopics", 19},
    {"InitProducerId", 22},  {"AddPartitionsToTxn", 24}, {"AddOffsetsToTxn", 25},
    {"EndTxn", 26},          {"TxnOffsetCommit", 28},
};

static int parse_api(const char *s, int16_t *key)
{
    char *end;
    long v;

    for (size_t i = 0; i < sizeof(apis) / sizeof(apis[0]); i++) {
        if (strcasecmp(s, apis[i].name) == 0) {
            *key = apis[i].key;
            return 0;
        }
    }
    v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0 || v > 100)
        return -1;
    *key = (int16_t) v;
    return 0;
}

static int parse_err(const char *s, rd_kafka_resp_err_t *out)
{
    const struct rd_kafka_err_desc *d;
    size_t n;
    char *end;
    long v;

    rd_kafka_get_err_descs(&d, &n);
    for (size_t i = 0; i < n; i++) {
        if (d[i].name != NULL && strcasecmp(d[i].name, s) == 0) {
            *out = d[i].code;
            return 0;
        }
    }
    v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0')
        return -1;
    *out = (rd_kafka_resp_err_t) v;
    return 0;
}

/* Applies fn to broker id, or to every broker for "all". */
static int each_broker(rd_kafka_mock_cluster_t *mc, int n, const char *which,
                       rd_kafka_resp_err_t (*fn)(rd_kafka_mock_cluster_t *, int32_t))
{
    if (strcmp(which, "all") == 0) {
        for (int i = 1; i <= n; i++)
            if (fn(mc, i) != RD_KAFKA_RESP_ERR_NO_ERROR)
                return -1;
        return 0;
    }
    return fn(mc, (int32_t) atoi(which)) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}

static int command(rd_kafka_mock_cluster_t *mc, int n_brokers, char *line, char *msg,
                   size_t size)
{
    char *argv[MAX_ERRORS + 3];
    int argc = 0;
    int16_t api;

    for (char *tok = strtok(line, " \t\r\n"); tok != NULL && argc < (int) (sizeof(argv) /
                                                                         sizeof(argv[0]));
         tok = strtok(NULL, " \t\r\n"))
        argv[argc++] = tok;
    if (argc == 0)
        return snprintf(msg, size, "empty command"), -1;
    if (strcmp(argv[0], "err") == 0 && argc >= 3) {
        rd_kafka_resp_err_t errs[MAX_ERRORS];
        if (parse_api(argv[1], &api) != 0)
            return snprintf(msg, size, "unknown API %s", argv[1]), -1;
        for (int i = 2; i < argc; i++)
            if (parse_err(argv[i], &errs[i - 2]) != 0)
                return snprintf(msg, size, "unknown error %s", argv[i]), -1;
        rd_kafka_mock_push_request_errors_array(mc, api, (size_t) (argc - 2), errs);
        return 0;
    }
    if (strcmp(argv[0], "clear") == 0 && argc == 2) {
        if (parse_api(argv[1], &api) != 0)
            return snprintf(msg, size, "unknown API %s", argv[1]), -1;
        rd_kafka_mock_clear_request_errors(mc, api);
        return 0;
    }
    if (strcmp(argv[0], "down") == 0 && argc == 2)
        return each_broker(mc, n_brokers, argv[1], rd_kafka_mock_broker_set_down) == 0
                   ? 0
                   : (snprintf(msg, size, "no broker %s", argv[1]), -1);
    if (strcmp(argv[0], "up") == 0 && argc == 2)
        return each_broker(mc, n_brokers, argv[1], rd_kafka_mock_broker_set_up) == 0
                   ? 0
                   : (snprintf(msg, size, "no broker %s", argv[1]), -1);
    if (strcmp(argv[0], "rtt") == 0 && argc == 3) {
        int ms = atoi(argv[2]);
        for (int i = 1; i <= n_brokers; i++)
            if ((strcmp(argv[1], "all") == 0 || atoi(argv[1]) == i) &&
                rd_kafka_mock_broker_set_rtt(mc, i, ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
                return snprintf(msg, size, "rtt failed"), -1;
        return 0;
    }
    if (strcmp(argv[0], "create") == 0 && argc == 3) {
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, argv[1], atoi(argv[2]), 1);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
            return snprintf(msg, size, "%s", rd_kafka_err2str(e)), -1;
        return 0;
    }
    return snprintf(msg, size, "unknown command %s", argv[0]), -1;
}

int main(int argc, char **argv)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_mock_cluster_t *mc;
    struct sigaction sa;
    char errstr[512], line[4096];
    rd_kafka_t *rk;
    int n_brokers = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) {
            n_brokers = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--brokers N]\n", argv[0]);
            return 2;
        }
    }
    if (n_brokers < 1)
        n_brokers = 1;
    /* The hosting client talks to nobody: without bootstrap servers it only warns about that
     * (level 4), which log_level 3 keeps quiet. */
    if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    mc = rd_kafka_mock_cluster_new(rk, n_brokers);
    if (mc == NULL) {
        fprintf(stderr, "cannot create the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;  /* no SA_RESTART: a signal interrupts the read below */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    while (!stop && fgets(line, sizeof(line), stdin) != NULL) {
        char msg[512] = "";
        if (strncmp(line, "quit", 4) == 0)
            break;
        if (command(mc, n_brokers, line, msg, sizeof(msg)) == 0)
            printf("ok\n");
        else
            printf("error: %s\n", msg);
        fflush(stdout);
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
