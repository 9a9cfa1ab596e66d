/*
 * dfbench: the processing benchmark's driver. Reads raw API list pages and runs the forwarder's
 * own hot path on them — yajl_tree_parse, then per incident evt_renderer_bind and per event
 * evt_id + evt_renderer_render — writing the events to standard output (the benchmark points
 * it at /dev/null). One thread, the same code the collector runs (src/evt*.c, linked from
 * dfcore), without the network, the version index and the journal, which the end-to-end runs
 * measure.
 *
 *   dfbench [--format json|cef|both|parse] [--tenant NAME] [--single] FILE
 *
 * FILE holds one page ({"value":[…]}) per line, as bench/gen_pages.py writes them; --single
 * reads it as one document instead (a pretty-printed fixture). --format parse only parses and
 * frees: the tree parser's own cost, the floor of everything above it.
 *
 * Prints one JSON line of counts and timings to stderr. Exit 0; 1 when the input cannot be read
 * or parsed, an event cannot be rendered, or no event came out (so a smoke test can fail).
 */
#include "common.h"
#include "dbuf.h"
#include "evt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#define FLUSH_BYTES ((size_t) 1 << 20)
#define OUT_CAP ((size_t) 256 << 20)

enum mode { MODE_JSON, MODE_CEF, MODE_BOTH, MODE_PARSE };

struct counts {
    uint64_t pages, incidents, alerts, events, in_bytes, out_bytes;
    struct evt_stats repairs;
};

struct bench {
    enum mode mode;
    const char *tenant;
    struct evt_renderer *r;
    struct dbuf out;
    struct counts n;
};

static double seconds(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int flush_out(struct bench *b, int force)
{
    size_t off = 0;

    if (b->out.len < FLUSH_BYTES && !force)
        return DF_OK;
    while (off < b->out.len) {
        ssize_t w = write(STDOUT_FILENO, b->out.p + off, b->out.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return DF_EIO;
        off += (size_t) w;
    }
    b->n.out_bytes += b->out.len;
    dbuf_reset(&b->out);
    return DF_OK;
}

static const char *str_member(yajl_val obj, const char *key)
{
    yajl_val v = NULL;

    for (size_t i = 0; YAJL_IS_OBJECT(obj) && i < obj->u.object.len; i++)
        if (strcmp(obj->u.object.keys[i], key) == 0)
            v = obj->u.object.values[i];
    if (YAJL_IS_STRING(v))
        return v->u.string;
    if (YAJL_IS_NUMBER(v))
        return v->u.number.r;
    return NULL;
}

/* One event in the selected format(s), each followed by a newline as the outputs write it. */
static int render(struct bench *b, enum evt_type type, const char *id, const char *version,
                  yajl_val alert)
{
    char event_id[EVT_ID_HEX];
    int rc = DF_OK;

    evt_id(b->tenant, type, id, version, event_id);
    if (b->mode == MODE_JSON || b->mode == MODE_BOTH) {
        rc = evt_renderer_render(b->r, EVT_JSON, event_id, alert, &b->out, &b->n.repairs);
        if (rc == DF_OK)
            rc = dbuf_putc(&b->out, '\n');
    }
    if (rc == DF_OK && (b->mode == MODE_CEF || b->mode == MODE_BOTH)) {
        rc = evt_renderer_render(b->r, EVT_CEF, event_id, alert, &b->out, &b->n.repairs);
        if (rc == DF_OK)
            rc = dbuf_putc(&b->out, '\n');
    }
    if (rc == DF_OK)
        b->n.events++;
    return rc;
}

/* Every incident and alert of one page becomes an event, oldest first as the collector does. */
static int process_page(struct bench *b, yajl_val root)
{
    const char *value_path[] = {"value", NULL};
    const char *alerts_path[] = {"alerts", NULL};
    yajl_val value = yajl_tree_get(root, value_path, yajl_t_array);
    int rc;

    if (value == NULL)
        return DF_EPARSE;
    b->n.pages++;
    for (size_t i = value->u.array.len; i-- > 0;) {
        yajl_val inc = value->u.array.values[i];
        const char *iid = evt_incident_id(inc);
        const char *lut = str_member(inc, "lastUpdateTime");
        yajl_val alerts = yajl_tree_get(inc, alerts_path, yajl_t_array);

        if (iid == NULL || lut == NULL || evt_renderer_bind(b->r, b->tenant, inc) != DF_OK)
            return DF_EINVAL;
        b->n.incidents++;
        rc = render(b, EVT_INCIDENT, iid, lut, NULL);
        for (size_t k = 0; rc == DF_OK && alerts != NULL && k < alerts->u.array.len; k++) {
            yajl_val al = alerts->u.array.values[k];
            const char *aid = str_member(al, "alertId");
            const char *alut = str_member(al, "lastUpdatedTime");
            b->n.alerts++;
            rc = render(b, EVT_ALERT, aid ? aid : "", alut ? alut : "", al);
        }
        if (rc == DF_OK)
            rc = flush_out(b, 0);
        if (rc != DF_OK)
            return rc;
    }
    return DF_OK;
}

static int process_doc(struct bench *b, const char *text)
{
    char errbuf[512];
    yajl_val root = yajl_tree_parse(text, errbuf, sizeof(errbuf));
    int rc = DF_OK;

    if (root == NULL) {
        (void) fprintf(stderr, "dfbench: parse error: %s\n", errbuf);
        return DF_EPARSE;
    }
    if (b->mode != MODE_PARSE)
        rc = process_page(b, root);
    else
        b->n.pages++;
    yajl_tree_free(root);
    if (rc != DF_OK && rc != DF_EPARSE)
        (void) fprintf(stderr, "dfbench: rendering failed: %s\n", df_strerror(rc));
    return rc;
}

/* The whole file as one NUL-terminated document (--single). */
static char *read_file(FILE *f, size_t *len)
{
    struct stat st;
    char *buf;

    if (fstat(fileno(f), &st) != 0)
        return NULL;
    buf = malloc((size_t) st.st_size + 1);
    if (buf == NULL || fread(buf, 1, (size_t) st.st_size, f) != (size_t) st.st_size) {
        free(buf);
        return NULL;
    }
    buf[st.st_size] = '\0';
    *len = (size_t) st.st_size;
    return buf;
}

static int usage(void)
{
    (void) fprintf(stderr, "usage: dfbench [--format json|cef|both|parse] [--tenant NAME] "
                           "[--single] FILE\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct bench b = {.mode = MODE_JSON, .tenant = "contoso"};
    const char *path = NULL;
    FILE *in = NULL;
    char *text = NULL;
    size_t len = 0, cap = 0;
    int single = 0, rc = DF_OK;
    double wall0, cpu0;
    struct rusage ru;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
            const char *f = argv[++i];
            if (strcmp(f, "json") == 0)
                b.mode = MODE_JSON;
            else if (strcmp(f, "cef") == 0)
                b.mode = MODE_CEF;
            else if (strcmp(f, "both") == 0)
                b.mode = MODE_BOTH;
            else if (strcmp(f, "parse") == 0)
                b.mode = MODE_PARSE;
            else
                return usage();
        } else if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc) {
            b.tenant = argv[++i];
        } else if (strcmp(argv[i], "--single") == 0) {
            single = 1;
        } else if (argv[i][0] != '-' && path == NULL) {
            path = argv[i];
        } else {
            return usage();
        }
    }
    if (path == NULL)
        return usage();
    in = fopen(path, "rb");
    if (in == NULL) {
        (void) fprintf(stderr, "dfbench: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    b.r = evt_renderer_new();
    dbuf_init(&b.out, OUT_CAP);
    if (b.r == NULL) {
        rc = DF_ENOMEM;
        goto out;
    }
    wall0 = seconds(CLOCK_MONOTONIC);
    cpu0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
    if (single) {
        text = read_file(in, &len);
        rc = text == NULL ? DF_EIO : process_doc(&b, text);
        b.n.in_bytes = len;
    } else {
        /* One page per line into one reused buffer, as the collector reuses its HTTP body
         * buffer: the input is not held in memory all at once. */
        ssize_t n;
        while (rc == DF_OK && (n = getline(&text, &cap, in)) > 0) {
            b.n.in_bytes += (uint64_t) n;
            if (text[n - 1] == '\n')
                text[--n] = '\0';
            if (n > 0)
                rc = process_doc(&b, text);
        }
        if (rc == DF_OK && ferror(in))
            rc = DF_EIO;
    }
    if (rc == DF_OK)
        rc = flush_out(&b, 1);
    getrusage(RUSAGE_SELF, &ru);
    (void) fprintf(stderr,
                   "{\"pages\":%" PRIu64 ",\"incidents\":%" PRIu64 ",\"alerts\":%" PRIu64
                   ",\"events\":%" PRIu64 ",\"in_bytes\":%" PRIu64 ",\"out_bytes\":%" PRIu64
                   ",\"cpu_s\":%.4f,\"wall_s\":%.4f,\"maxrss_kb\":%ld"
                   ",\"cef_truncated_fields\":%" PRIu64 ",\"cef_replaced_chars\":%" PRIu64 "}\n",
                   b.n.pages, b.n.incidents, b.n.alerts, b.n.events, b.n.in_bytes,
                   b.n.out_bytes, seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0,
                   seconds(CLOCK_MONOTONIC) - wall0, ru.ru_maxrss, b.n.repairs.truncated_fields,
                   b.n.repairs.replaced_chars);
    if (rc == DF_OK && b.n.pages == 0)
        rc = DF_EPARSE;
    if (rc == DF_OK && b.mode != MODE_PARSE && b.n.events == 0)
        rc = DF_EINVAL;
out:
    evt_renderer_free(b.r);
    dbuf_free(&b.out);
    free(text);
    fclose(in);
    if (rc != DF_OK)
        (void) fprintf(stderr, "dfbench: failed: %s\n", df_strerror(rc));
    return rc == DF_OK ? 0 : 1;
}
