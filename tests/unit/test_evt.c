/*
 * Unit tests for the event module: ids (src/evt.c), JSON rendering (src/evt_json.c) and CEF
 * rendering (src/evt_cef.c), plus the golden files under tests/data/{cef,json}.
 *
 * Golden files: tests/data/<fmt>/NNN.in.json holds one incident object; the expected file has
 * one line per event (the incident event, then one per alert, tenant "contoso"). Set
 * DF_GOLDEN_UPDATE=1 to rewrite the expected files from the current code — then review the
 * diff line by line: the files are the contract, not a snapshot.
 */
#include "common.h"
#include "evt.h"
#include "evt_int.h"
#include "ts.h"
#include "unit.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#ifndef DF_SOURCE_DIR
#define DF_SOURCE_DIR "."
#endif

#define TENANT       "contoso"
#define DOCS_FIXTURE DF_SOURCE_DIR "/tests/data/fixtures/list-incidents-docs-example.json"

/* --- helpers ----------------------------------------------------------------------------- */

static yajl_val parse(const char *text)
{
    char err[256];
    yajl_val v = yajl_tree_parse(text, err, sizeof(err));
    if (v == NULL)
        (void) fprintf(stderr, "yajl: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    return v;
}

static yajl_val parse_file(const char *path)
{
    char *text = unit_read_file(path, NULL);
    yajl_val v;

    if (text == NULL)
        (void) fprintf(stderr, "cannot read %s\n", path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    v = parse(text);
    free(text);
    return v;
}

static yajl_val member(yajl_val obj, const char *key)
{
    return evt_get(obj, key);
}

static yajl_val docs_incident(yajl_val root, size_t i)
{
    yajl_val list = member(root, "value");
    CU_ASSERT_FATAL(YAJL_IS_ARRAY(list) && list->u.array.len > i);
    return list->u.array.values[i];
}

static yajl_val first_alert(yajl_val incident)
{
    yajl_val alerts = member(incident, "alerts");
    CU_ASSERT_FATAL(YAJL_IS_ARRAY(alerts) && alerts->u.array.len > 0);
    return alerts->u.array.values[0];
}

static void event_id_of(yajl_val incident, yajl_val alert, char id[EVT_ID_HEX])
{
    if (alert == NULL)
        evt_id(TENANT, EVT_INCIDENT, evt_incident_id(incident),
               evt_scalar(member(incident, "lastUpdateTime")), id);
    else
        evt_id(TENANT, EVT_ALERT, evt_scalar(member(alert, "alertId")),
               evt_scalar(member(alert, "lastUpdatedTime")), id);
}

/* Renders one event into a fresh string (caller frees); NULL on failure, rc in *rcp. */
static char *render(enum evt_format fmt, yajl_val incident, yajl_val alert, struct evt_stats *st,
                    int *rcp)
{
    struct dbuf out;
    char id[EVT_ID_HEX];
    int rc;

    dbuf_init(&out, 1 << 20);
    event_id_of(incident, alert, id);
    rc = evt_render(fmt, TENANT, id, incident, alert, &out, st);
    if (rcp != NULL)
        *rcp = rc;
    if (rc != DF_OK) {
        dbuf_free(&out);
        return NULL;
    }
    return out.p != NULL ? dbuf_take(&out) : strdup("");
}

/* Structural equality of two yajl trees: same types, same member order, same number text. */
static int tree_equal(yajl_val a, yajl_val b) /* NOLINT(misc-no-recursion) */
{
    if (a == NULL || b == NULL)
        return a == b;
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case yajl_t_string:
        return strcmp(a->u.string, b->u.string) == 0;
    case yajl_t_number:
        return strcmp(a->u.number.r, b->u.number.r) == 0;
    case yajl_t_object:
        if (a->u.object.len != b->u.object.len)
            return 0;
        for (size_t i = 0; i < a->u.object.len; i++) {
            if (strcmp(a->u.object.keys[i], b->u.object.keys[i]) != 0 ||
                !tree_equal(a->u.object.values[i], b->u.object.values[i]))
                return 0;
        }
        return 1;
    case yajl_t_array:
        if (a->u.array.len != b->u.array.len)
            return 0;
        for (size_t i = 0; i < a->u.array.len; i++) {
            if (!tree_equal(a->u.array.values[i], b->u.array.values[i]))
                return 0;
        }
        return 1;
    default:
        return 1;
    }
}

/* --- a strict CEF decoder, for checking what a consumer would read ------------------------ */

#define CEF_MAX_PAIRS 64

struct cef_event {
    char *hdr[7]; /* decoded header fields */
    size_t npairs;
    char *key[CEF_MAX_PAIRS];
    char *val[CEF_MAX_PAIRS]; /* decoded values */
};

static void cef_event_free(struct cef_event *e)
{
    for (size_t i = 0; i < 7; i++)
        free(e->hdr[i]);
    for (size_t i = 0; i < e->npairs; i++) {
        free(e->key[i]);
        free(e->val[i]);
    }
    memset(e, 0, sizeof(*e));
}

/*
 * Decodes one line the way a strict parser does (formats.md §1.3, §1.8): header escapes `\\`
 * and `\|` only; value escapes `\\`, `\=`, `\n`, `\r` only; an unescaped `=` ends a key; keys
 * are [A-Za-z0-9]+ preceded by one space (none for the first). Also enforces the product's own
 * rules: no raw CR/LF, no trailing space after any value, no empty value. Returns 0 when the
 * line is valid.
 */
static int cef_decode(const char *line, struct cef_event *e)
{
    const char *p = line;
    char *buf;
    size_t n;

    memset(e, 0, sizeof(*e));
    if (strchr(line, '\n') != NULL || strchr(line, '\r') != NULL)
        return -1;
    if (strncmp(p, "CEF:", 4) != 0)
        return -1;
    p += 4;
    for (int f = 0; f < 7; f++) {
        buf = malloc(strlen(p) + 1);
        n = 0;
        while (*p != '\0' && *p != '|') {
            if (*p == '\\') {
                if (p[1] != '\\' && p[1] != '|') {
                    free(buf);
                    return -1;
                }
                p++;
            }
            buf[n++] = *p++;
        }
        buf[n] = '\0';
        e->hdr[f] = buf;
        if (*p != '|')
            return -1;
        p++;
    }
    /* extension: find each unescaped '=' */
    while (*p != '\0') {
        const char *k = p, *v;
        if (e->npairs > 0) {
            if (*p != ' ')
                return -1;
            k = ++p;
        }
        while (isalnum((unsigned char) *p))
            p++;
        if (p == k || *p != '=' || e->npairs == CEF_MAX_PAIRS)
            return -1;
        e->key[e->npairs] = strndup(k, (size_t) (p - k));
        v = ++p;
        /* the value runs to the space before the next `key=`, or to the end */
        buf = malloc(strlen(v) + 1);
        n = 0;
        for (;;) {
            if (*p == '\0')
                break;
            if (*p == ' ') {
                const char *q = p + 1;
                while (isalnum((unsigned char) *q))
                    q++;
                if (q > p + 1 && *q == '=')
                    break;
            }
            if (*p == '=') {
                free(buf);
                free(e->key[e->npairs]);
                return -1; /* unescaped '=' inside a value */
            }
            if (*p == '\\') {
                char c = p[1];
                if (c == '\\' || c == '=')
                    buf[n++] = c;
                else if (c == 'n')
                    buf[n++] = '\n';
                else if (c == 'r')
                    buf[n++] = '\r';
                else {
                    free(buf);
                    free(e->key[e->npairs]);
                    return -1;
                }
                p += 2;
                continue;
            }
            buf[n++] = *p++;
        }
        buf[n] = '\0';
        e->val[e->npairs++] = buf;
        if (n == 0 || p[-1] == ' ')
            return -1; /* empty value, or a trailing space a parser would trim */
    }
    return 0;
}

static const char *cef_get(const struct cef_event *e, const char *key)
{
    for (size_t i = 0; i < e->npairs; i++) {
        if (strcmp(e->key[i], key) == 0)
            return e->val[i];
    }
    return NULL;
}

/* Keys the product may emit: all from the CEF dictionary (formats.md §1.5). */
static int cef_key_allowed(const char *k)
{
    static const char *const keys[] = {
        "externalId", "rt",       "start",  "end",      "cat",         "msg",
        "cs1",        "cs1Label", "cs2",    "cs2Label", "cs3",         "cs3Label",
        "cs4",        "cs4Label", "cs5",    "cs5Label", "cs6",         "cs6Label",
        "cn1",        "cn1Label", "cn2",    "cn2Label", "flexString1", "flexString1Label",
        "dhost",      "duser",    "dntdom", "dst",      "request",     "fname",
        "filePath",   "fileHash",
    };
    for (size_t i = 0; i < DF_ARRAY_LEN(keys); i++) {
        if (strcmp(keys[i], k) == 0)
            return 1;
    }
    return 0;
}

/* Decodes a line and checks every structural rule; returns 0 if all hold. */
static int cef_check_line(const char *line, struct cef_event *e)
{
    int rc = cef_decode(line, e);

    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0) {
        (void) fprintf(stderr, "undecodable CEF: %s\n", line);
        return rc;
    }
    CU_ASSERT_STRING_EQUAL(e->hdr[0], "0");
    CU_ASSERT_STRING_EQUAL(e->hdr[1], "Microsoft");
    CU_ASSERT_STRING_EQUAL(e->hdr[2], "Microsoft 365 Defender");
    CU_ASSERT_STRING_EQUAL(e->hdr[3], "1.0");
    for (size_t i = 0; i < e->npairs; i++) {
        CU_ASSERT(cef_key_allowed(e->key[i]));
        for (size_t j = i + 1; j < e->npairs; j++)
            CU_ASSERT(strcmp(e->key[i], e->key[j]) != 0);
    }
    CU_ASSERT(line[strlen(line) - 1] != ' ');
    return 0;
}

/* --- event ids ------------------------------------------------------------------------------ */

/* Expected values computed independently, e.g.
 * printf 'contoso\nincident\n924565\n2020-09-06T14:46:57.29Z' | sha256sum | cut -c1-32 */
static void test_id_vectors(void)
{
    char id[EVT_ID_HEX];
    char tenant[1200];

    evt_id("contoso", EVT_INCIDENT, "924565", "2020-09-06T14:46:57.29Z", id);
    CU_ASSERT_STRING_EQUAL(id, "a36b36dde76fb6161151b4726b463163");
    evt_id("contoso", EVT_INCIDENT, "924521", "2020-09-06T12:18:03.81Z", id);
    CU_ASSERT_STRING_EQUAL(id, "07f904b3bae3de7051b4458630bbb2ad");
    evt_id("contoso", EVT_ALERT, "caD70CFEE2-1F54-32DB-9988-3A868A1EBFAC",
           "2020-09-06T14:46:57.2433333Z", id);
    CU_ASSERT_STRING_EQUAL(id, "7599e6068e5322578bc40fc38def60cd");
    evt_id("contoso", EVT_ALERT, "da637349914833441527_393341063", "2020-09-06T12:18:04.2566667Z",
           id);
    CU_ASSERT_STRING_EQUAL(id, "315b1e565584e185ec984e1e61c249f3");
    /* every input is part of the id */
    evt_id("fabrikam", EVT_INCIDENT, "924565", "2020-09-06T14:46:57.29Z", id);
    CU_ASSERT_STRING_EQUAL(id, "10041b35edf65a09d3defcc491fab708");
    evt_id("contoso", EVT_ALERT, "924565", "2020-09-06T14:46:57.29Z", id);
    CU_ASSERT_STRING_EQUAL(id, "49314896c28860b290b9b37fe2676517");
    /* the raw version string, not the instant: more digits, another id */
    evt_id("contoso", EVT_INCIDENT, "924565", "2020-09-06T14:46:57.2900000Z", id);
    CU_ASSERT_STRING_EQUAL(id, "e3d7f4939f0f105eaec08372d123e6e0");
    /* NULL inputs hash as empty strings */
    evt_id(NULL, EVT_ALERT, NULL, NULL, id);
    CU_ASSERT_STRING_EQUAL(id, "61834e914315aa0bdd58b3aeec300ff4");
    /* 1024 bytes hashed in one call, 1025 and more streamed: same function either way */
    memset(tenant, 'x', sizeof(tenant));
    tenant[1011] = '\0';
    evt_id(tenant, EVT_INCIDENT, "1", "v", id);
    CU_ASSERT_STRING_EQUAL(id, "3f635bd42f1cb746f696c72d7d5924b7");
    tenant[1011] = 'x';
    tenant[1012] = '\0';
    evt_id(tenant, EVT_INCIDENT, "1", "v", id);
    CU_ASSERT_STRING_EQUAL(id, "1f4e1efbf736441a3e0d79ad5053154f");
    tenant[1012] = 'x';
    tenant[1100] = '\0';
    evt_id(tenant, EVT_INCIDENT, "1", "v", id);
    CU_ASSERT_STRING_EQUAL(id, "f7e2f3ff7cb8220317e4c63bfa3e3a01");
}

static void test_incident_id(void)
{
    yajl_val v = parse("[{\"incidentId\":924565},{\"incidentId\":\"abc\"},{\"incidentId\":null},"
                       "{\"incidentId\":true},{\"incidentId\":{}},{},"
                       "{\"incidentId\":92233720368547758070},[1]]");
    yajl_val *a = v->u.array.values;

    CU_ASSERT_STRING_EQUAL(evt_incident_id(a[0]), "924565");
    CU_ASSERT_STRING_EQUAL(evt_incident_id(a[1]), "abc");
    CU_ASSERT_PTR_NULL(evt_incident_id(a[2]));
    CU_ASSERT_PTR_NULL(evt_incident_id(a[3]));
    CU_ASSERT_PTR_NULL(evt_incident_id(a[4]));
    CU_ASSERT_PTR_NULL(evt_incident_id(a[5]));
    /* beyond 64 bits: the original text, not a clamped value */
    CU_ASSERT_STRING_EQUAL(evt_incident_id(a[6]), "92233720368547758070");
    CU_ASSERT_PTR_NULL(evt_incident_id(a[7]));
    CU_ASSERT_PTR_NULL(evt_incident_id(NULL));
    yajl_tree_free(v);
}

/* --- JSON ------------------------------------------------------------------------------------ */

static void check_json_incident_ctx(yajl_val ctx, yajl_val incident)
{
    size_t j = 0;
    yajl_val alerts = member(incident, "alerts");
    size_t count = YAJL_IS_ARRAY(alerts) ? alerts->u.array.len : 0;

    CU_ASSERT_FATAL(YAJL_IS_OBJECT(ctx));
    CU_ASSERT_PTR_NULL(member(ctx, "alerts"));
    /* every other member, in received order, unchanged, then alertCount */
    for (size_t i = 0; i < incident->u.object.len; i++) {
        if (strcmp(incident->u.object.keys[i], "alerts") == 0)
            continue;
        CU_ASSERT_FATAL(j < ctx->u.object.len);
        CU_ASSERT_STRING_EQUAL(ctx->u.object.keys[j], incident->u.object.keys[i]);
        CU_ASSERT(tree_equal(ctx->u.object.values[j], incident->u.object.values[i]));
        j++;
    }
    CU_ASSERT_EQUAL_FATAL(ctx->u.object.len, j + 1);
    CU_ASSERT_STRING_EQUAL(ctx->u.object.keys[j], "alertCount");
    CU_ASSERT(YAJL_IS_INTEGER(ctx->u.object.values[j]));
    CU_ASSERT_EQUAL(YAJL_GET_INTEGER(ctx->u.object.values[j]), (long long) count);
}

static void test_json_docs_fixture(void)
{
    yajl_val root = parse_file(DOCS_FIXTURE);

    for (size_t i = 0; i < 3; i++) {
        yajl_val inc = docs_incident(root, i), back, alert = first_alert(inc);
        char id[EVT_ID_HEX];
        char *line;
        int rc;

        /* incident event */
        line = render(EVT_JSON, inc, NULL, NULL, &rc);
        CU_ASSERT_EQUAL_FATAL(rc, DF_OK);
        CU_ASSERT_PTR_NULL(strchr(line, '\n'));
        CU_ASSERT_PTR_NULL(strstr(line, "\": ")); /* compact */
        back = parse(line);
        CU_ASSERT_EQUAL(back->u.object.len, 4);
        CU_ASSERT_STRING_EQUAL(back->u.object.keys[0], "type");
        CU_ASSERT_STRING_EQUAL(back->u.object.keys[1], "event_id");
        CU_ASSERT_STRING_EQUAL(back->u.object.keys[2], "tenant");
        CU_ASSERT_STRING_EQUAL(back->u.object.keys[3], "incident");
        CU_ASSERT_STRING_EQUAL(evt_scalar(member(back, "type")), "incident");
        event_id_of(inc, NULL, id);
        CU_ASSERT_STRING_EQUAL(evt_scalar(member(back, "event_id")), id);
        CU_ASSERT_STRING_EQUAL(evt_scalar(member(back, "tenant")), TENANT);
        check_json_incident_ctx(member(back, "incident"), inc);
        /* numbers and nulls as received */
        CU_ASSERT(YAJL_IS_NUMBER(member(member(back, "incident"), "incidentId")));
        CU_ASSERT(YAJL_IS_NULL(member(member(back, "incident"), "redirectIncidentId")));
        yajl_tree_free(back);
        free(line);

        /* alert event */
        line = render(EVT_JSON, inc, alert, NULL, &rc);
        CU_ASSERT_EQUAL_FATAL(rc, DF_OK);
        back = parse(line);
        CU_ASSERT_EQUAL(back->u.object.len, 5);
        CU_ASSERT_STRING_EQUAL(back->u.object.keys[4], "alert");
        CU_ASSERT_STRING_EQUAL(evt_scalar(member(back, "type")), "alert");
        event_id_of(inc, alert, id);
        CU_ASSERT_STRING_EQUAL(evt_scalar(member(back, "event_id")), id);
        check_json_incident_ctx(member(back, "incident"), inc);
        CU_ASSERT(tree_equal(member(back, "alert"), alert));
        yajl_tree_free(back);
        free(line);
    }
    yajl_tree_free(root);
}

static void test_json_exact(void)
{
    /* number text, escapes, nesting and nulls survive byte for byte */
    yajl_val inc =
        parse("{\"incidentId\":7,\"lastUpdateTime\":\"2024-01-01T00:00:00Z\",\"n\":[1.50,1E+2,-0,"
              "12345678901234567890123,0.0000001e-10],\"s\":\"q\\\"b\\\\s\\/ "
              "\\u0001\\t\\u00e9\\ud83d\\ude00\","
              "\"o\":{\"a\":{},\"b\":[],\"c\":[null,true,false]},\"alerts\":[{\"alertId\":\"x\","
              "\"lastUpdatedTime\":\"2024-01-01T00:00:00.1Z\",\"v\":1.0}],\"z\":null}");
    char *line;
    int rc;

    line = render(EVT_JSON, inc, NULL, NULL, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, DF_OK);
    CU_ASSERT_STRING_EQUAL(
        line, "{\"type\":\"incident\",\"event_id\":\"d806124ba0a41b99fd37efe1db8e9207\","
              "\"tenant\":\"contoso\",\"incident\":{\"incidentId\":7,\"lastUpdateTime\":"
              "\"2024-01-01T00:00:00Z\",\"n\":[1.50,1E+2,-0,12345678901234567890123,"
              "0.0000001e-10],\"s\":\"q\\\"b\\\\s/ \\u0001\\t\xC3\xA9\xF0\x9F\x98\x80\",\"o\":{"
              "\"a\":{},\"b\":[],\"c\":[null,true,false]},\"z\":null,\"alertCount\":1}}");
    free(line);
    line = render(EVT_JSON, inc, first_alert(inc), NULL, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, DF_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(line, ",\"alert\":{\"alertId\":\"x\",\"lastUpdatedTime\":"
                                        "\"2024-01-01T00:00:00.1Z\",\"v\":1.0}}"));
    free(line);
    yajl_tree_free(inc);
}

static void test_json_alert_count(void)
{
    static const struct {
        const char *json;
        const char *tail;
    } cases[] = {
        {"{\"incidentId\":1,\"lastUpdateTime\":\"2024-01-01T00:00:00Z\"}", ",\"alertCount\":0}}"},
        {"{\"incidentId\":1,\"lastUpdateTime\":\"2024-01-01T00:00:00Z\",\"alerts\":null}",
         ",\"alertCount\":0}}"},
        {"{\"incidentId\":1,\"lastUpdateTime\":\"2024-01-01T00:00:00Z\",\"alerts\":{}}",
         ",\"alertCount\":0}}"},
        {"{\"incidentId\":1,\"lastUpdateTime\":\"2024-01-01T00:00:00Z\",\"alerts\":[]}",
         ",\"alertCount\":0}}"},
        {"{\"incidentId\":1,\"lastUpdateTime\":\"2024-01-01T00:00:00Z\",\"alerts\":[1,2,3]}",
         ",\"alertCount\":3}}"},
        /* the API's own alertCount (none today) is kept, not duplicated */
        {"{\"incidentId\":1,\"alertCount\":9,\"lastUpdateTime\":\"2024-01-01T00:00:00Z\"}",
         "{\"incidentId\":1,\"alertCount\":9,\"lastUpdateTime\":\"2024-01-01T00:00:00Z\"}}"},
    };

    for (size_t i = 0; i < DF_ARRAY_LEN(cases); i++) {
        yajl_val inc = parse(cases[i].json);
        int rc;
        char *line = render(EVT_JSON, inc, NULL, NULL, &rc);
        size_t n = strlen(cases[i].tail);
        CU_ASSERT_EQUAL_FATAL(rc, DF_OK);
        CU_ASSERT(strlen(line) > n && strcmp(line + strlen(line) - n, cases[i].tail) == 0);
        free(line);
        yajl_tree_free(inc);
    }
}

static void test_json_value(void)
{
    yajl_val v = parse("{\"a\":[1.50,null,true],\"b\":{\"c\":\"x\\\"y\"},\"e\":[]}");
    struct dbuf out;

    dbuf_init(&out, 1 << 16);
    CU_ASSERT_EQUAL(evt_json_value(v, 0, &out), DF_OK);
    CU_ASSERT_STRING_EQUAL(out.p, "{\"a\":[1.50,null,true],\"b\":{\"c\":\"x\\\"y\"},\"e\":[]}");
    dbuf_reset(&out);
    CU_ASSERT_EQUAL(evt_json_value(v, 1, &out), DF_OK);
    CU_ASSERT_STRING_EQUAL(out.p,
                           "{\n  \"a\": [\n    1.50,\n    null,\n    true\n  ],\n  \"b\": {\n"
                           "    \"c\": \"x\\\"y\"\n  },\n  \"e\": [\n\n  ]\n}");
    CU_ASSERT_EQUAL(evt_json_value(v->u.object.values[0], 0, &out), DF_OK); /* appends */
    CU_ASSERT_PTR_NOT_NULL(strstr(out.p, "}[1.50,null,true]"));
    CU_ASSERT_EQUAL(evt_json_value(NULL, 0, &out), DF_EINVAL);
    dbuf_free(&out);
    /* over the cap: nothing appended */
    dbuf_init(&out, 10);
    CU_ASSERT_EQUAL(dbuf_puts(&out, "pre"), DF_OK);
    CU_ASSERT_EQUAL(evt_json_value(v, 0, &out), DF_ENOMEM);
    CU_ASSERT_STRING_EQUAL(out.p, "pre");
    dbuf_free(&out);
    yajl_tree_free(v);
}

/* Redirected incident (SPEC §3 rule 6): an incident event like any other, no alert events. */
static void test_redirected(void)
{
    yajl_val inc = parse(
        "{\"incidentId\":1005,\"redirectIncidentId\":1004,\"incidentName\":\"Merged\","
        "\"createdTime\":\"2024-05-01T10:00:00Z\",\"lastUpdateTime\":\"2024-05-02T08:30:00Z\","
        "\"status\":\"Redirected\",\"severity\":\"Medium\",\"tags\":[],\"alerts\":[]}");
    struct cef_event e;
    char *line;
    int rc;

    line = render(EVT_JSON, inc, NULL, NULL, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, DF_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(line, "\"redirectIncidentId\":1004,"));
    CU_ASSERT_PTR_NOT_NULL(strstr(line, "\"status\":\"Redirected\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(line, ",\"alertCount\":0}}"));
    CU_ASSERT_PTR_NULL(strstr(line, "alerts"));
    free(line);

    line = render(EVT_CEF, inc, NULL, NULL, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, DF_OK);
    if (cef_check_line(line, &e) == 0) {
        CU_ASSERT_STRING_EQUAL(e.hdr[4], "incident");
        CU_ASSERT_STRING_EQUAL(e.hdr[5], "Merged");
        CU_ASSERT_STRING_EQUAL(cef_get(&e, "cs1"), "Redirected");
        CU_ASSERT_STRING_EQUAL(cef_get(&e, "cn1"), "0");
        CU_ASSERT_STRING_EQUAL(cef_get(&e, "cn2"), "1004");
        CU_ASSERT_STRING_EQUAL(cef_get(&e, "cn2Label"), "redirectIncidentId");
        CU_ASSERT_PTR_NULL(cef_get(&e, "cs4")); /* no tags: value omitted, label kept */
        CU_ASSERT_STRING_EQUAL(cef_get(&e, "cs4Label"), "tags");
    }
    cef_event_free(&e);
    free(line);
    yajl_tree_free(inc);
}

static void test_invalid_input(void)
{
    yajl_val v = parse(
        "[{\"lastUpdateTime\":\"2024-01-01T00:00:00Z\"}," /* 0: no incidentId */
        "{\"incidentId\":1},"                             /* 1: no lastUpdateTime */
        "{\"incidentId\":1,\"lastUpdateTime\":5},"        /* 2: version not a string */
        "[],"                                             /* 3: not an object */
        "{\"incidentId\":1,\"lastUpdateTime\":\"2024-01-01T00:00:00Z\"}," /* 4: valid */
        "{\"lastUpdatedTime\":\"2024-01-01T00:00:00Z\"},"                 /* 5: alert without id */
        "{\"alertId\":\"a\"}," /* 6: alert without version */
        "\"alert\","           /* 7: alert not an object */
        "{\"alertId\":17,\"lastUpdatedTime\":\"2024-01-01T00:00:00Z\"}]"); /* 8: numeric id: ok */
    yajl_val *a = v->u.array.values;
    struct evt_stats st = {0, 0};
    struct dbuf out;
    const char *id = "0123456789abcdef0123456789abcdef";

    dbuf_init(&out, 4096);
    CU_ASSERT_EQUAL(dbuf_puts(&out, "keep"), DF_OK);
    for (int f = EVT_JSON; f <= EVT_CEF; f++) {
        for (int i = 0; i < 4; i++)
            CU_ASSERT_EQUAL(evt_render(f, TENANT, id, a[i], NULL, &out, &st), DF_EINVAL);
        for (int i = 5; i < 8; i++)
            CU_ASSERT_EQUAL(evt_render(f, TENANT, id, a[4], a[i], &out, &st), DF_EINVAL);
        CU_ASSERT_EQUAL(evt_render(f, TENANT, NULL, a[4], NULL, &out, &st), DF_EINVAL);
        CU_ASSERT_EQUAL(evt_render(f, TENANT, id, NULL, NULL, &out, &st), DF_EINVAL);
        CU_ASSERT_STRING_EQUAL(out.p, "keep");
        CU_ASSERT_EQUAL(evt_render(f, TENANT, id, a[4], a[8], &out, &st), DF_OK);
        dbuf_reset(&out);
        CU_ASSERT_EQUAL(dbuf_puts(&out, "keep"), DF_OK);
    }
    CU_ASSERT_EQUAL(evt_render((enum evt_format) 7, TENANT, id, a[4], NULL, &out, &st), DF_EINVAL);
    CU_ASSERT_STRING_EQUAL(out.p, "keep");
    CU_ASSERT_EQUAL(st.truncated_fields, 0);
    CU_ASSERT_EQUAL(st.replaced_chars, 0);
    dbuf_free(&out);
    yajl_tree_free(v);
}

/* An event that does not fit the output's cap fails whole: nothing appended, nothing counted. */
static void test_buffer_cap(void)
{
    yajl_val root = parse_file(DF_SOURCE_DIR "/tests/data/cef/004.in.json");
    yajl_val alert = first_alert(root);
    const char *id = "0123456789abcdef0123456789abcdef";

    for (int f = EVT_JSON; f <= EVT_CEF; f++) {
        for (int with_alert = 0; with_alert < 2; with_alert++) {
            yajl_val al = with_alert ? alert : NULL;
            struct evt_stats st = {0, 0}, st2 = {0, 0};
            struct dbuf big, out;
            size_t need;
            dbuf_init(&big, 1 << 20);
            CU_ASSERT_EQUAL_FATAL(evt_render(f, TENANT, id, root, al, &big, &st), DF_OK);
            need = big.len;
            /* exactly enough room (after a 3-byte prefix) */
            dbuf_init(&out, need + 3);
            CU_ASSERT_EQUAL(dbuf_puts(&out, "pre"), DF_OK);
            CU_ASSERT_EQUAL(evt_render(f, TENANT, id, root, al, &out, &st2), DF_OK);
            CU_ASSERT_EQUAL(out.len, need + 3);
            CU_ASSERT_EQUAL(memcmp(out.p + 3, big.p, need), 0);
            CU_ASSERT_EQUAL(st2.replaced_chars, st.replaced_chars);
            dbuf_free(&out);
            /* one byte short, and much shorter */
            for (size_t cap = need + 2; cap > 3; cap = cap > 64 ? cap / 2 : cap - 1) {
                struct evt_stats st3 = {0, 0};
                dbuf_init(&out, cap);
                CU_ASSERT_EQUAL(dbuf_puts(&out, "pre"), DF_OK);
                CU_ASSERT_EQUAL(evt_render(f, TENANT, id, root, al, &out, &st3), DF_ENOMEM);
                CU_ASSERT_STRING_EQUAL(out.p, "pre");
                CU_ASSERT_EQUAL(st3.replaced_chars, 0);
                CU_ASSERT_EQUAL(st3.truncated_fields, 0);
                dbuf_free(&out);
            }
            dbuf_free(&big);
        }
    }
    yajl_tree_free(root);
}

/* yajl_gen refuses nesting past its depth limit: a clean DF_EINVAL, never a partial line. */
static void test_json_deep_nesting(void)
{
    char text[2048];
    size_t n = 0;
    yajl_val inc;
    int rc;
    char *line;

    n += (size_t) sprintf(text,
                          "{\"incidentId\":1,\"lastUpdateTime\":\"2024-01-01T00:00:00Z\",\"d\":");
    for (int i = 0; i < 200; i++)
        text[n++] = '[';
    for (int i = 0; i < 200; i++)
        text[n++] = ']';
    text[n++] = '}';
    text[n] = '\0';
    inc = parse(text);
    line = render(EVT_JSON, inc, NULL, NULL, &rc);
    CU_ASSERT_EQUAL(rc, DF_EINVAL);
    CU_ASSERT_PTR_NULL(line);
    /* the CEF mapping never looks that deep */
    line = render(EVT_CEF, inc, NULL, NULL, &rc);
    CU_ASSERT_EQUAL(rc, DF_OK);
    free(line);
    yajl_tree_free(inc);
}

/* The reusable renderer gives the same bytes as the one-shot call, across incidents. */
static void test_renderer_reuse(void)
{
    yajl_val root = parse_file(DOCS_FIXTURE);
    struct evt_renderer *r = evt_renderer_new();
    struct dbuf out;
    struct evt_stats st = {0, 0};

    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    dbuf_init(&out, 1 << 20);
    CU_ASSERT_EQUAL(evt_renderer_render(r, EVT_JSON, "x", NULL, &out, &st), DF_EINVAL);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < 3; i++) {
            yajl_val inc = docs_incident(root, i), alerts = member(inc, "alerts");
            CU_ASSERT_EQUAL_FATAL(evt_renderer_bind(r, TENANT, inc), DF_OK);
            for (size_t j = 0; j <= alerts->u.array.len; j++) {
                yajl_val al = j == 0 ? NULL : alerts->u.array.values[j - 1];
                for (int f = EVT_JSON; f <= EVT_CEF; f++) {
                    char id[EVT_ID_HEX];
                    char *want = render(f, inc, al, NULL, NULL);
                    event_id_of(inc, al, id);
                    dbuf_reset(&out);
                    CU_ASSERT_EQUAL(evt_renderer_render(r, f, id, al, &out, &st), DF_OK);
                    CU_ASSERT_PTR_NOT_NULL(want);
                    CU_ASSERT_PTR_NOT_NULL(out.p);
                    if (want != NULL && out.p != NULL)
                        CU_ASSERT_STRING_EQUAL(out.p, want);
                    free(want);
                }
            }
        }
    }
    /* a failed bind leaves the renderer unbound */
    CU_ASSERT_EQUAL(evt_renderer_bind(r, TENANT, member(root, "value")), DF_EINVAL);
    CU_ASSERT_EQUAL(evt_renderer_render(r, EVT_CEF, "x", NULL, &out, &st), DF_EINVAL);
    dbuf_free(&out);
    evt_renderer_free(r);
    evt_renderer_free(NULL);
    yajl_tree_free(root);
}

/* --- CEF escaping primitives ------------------------------------------------------------------ */

/* Header-escapes s (len bytes) with limit; checks the result and the counters. */
static void hdr_case(const char *s, size_t len, size_t limit, const char *want, uint64_t trunc,
                     uint64_t repl)
{
    struct dbuf out;
    struct evt_stats st = {0, 0};

    dbuf_init(&out, 1 << 16);
    CU_ASSERT_EQUAL(cef_header_field(&out, s, len, limit, &st), DF_OK);
    CU_ASSERT_STRING_EQUAL(out.p != NULL ? out.p : "", want);
    CU_ASSERT_EQUAL(st.truncated_fields, trunc);
    CU_ASSERT_EQUAL(st.replaced_chars, repl);
    dbuf_free(&out);
}

/* Adds one extension pair "k" after a first pair "a=1"; want is what follows "a=1", or "" when
 * the pair must be omitted. */
static void val_case(const char *s, size_t len, size_t limit, const char *want, uint64_t trunc,
                     uint64_t repl)
{
    struct dbuf out;
    struct cef_ext x;
    struct evt_stats st = {0, 0};

    dbuf_init(&out, 1 << 16);
    CU_ASSERT_EQUAL(dbuf_puts(&out, "|"), DF_OK);
    cef_ext_begin(&x, &out, &st);
    CU_ASSERT_EQUAL(cef_ext_add(&x, "a", "1", 1, 10), DF_OK);
    CU_ASSERT_EQUAL(cef_ext_add(&x, "k", s, len, limit), DF_OK);
    CU_ASSERT_STRING_EQUAL(out.p + 4, want);
    CU_ASSERT_EQUAL(st.truncated_fields, trunc);
    CU_ASSERT_EQUAL(st.replaced_chars, repl);
    dbuf_free(&out);
}

#define HDR(s, limit, want, trunc, repl) hdr_case(s, sizeof(s) - 1, limit, want, trunc, repl)
#define VAL(s, limit, want, trunc, repl) val_case(s, sizeof(s) - 1, limit, want, trunc, repl)

static void test_cef_header_escaping(void)
{
    HDR("plain text", 100, "plain text", 0, 0);
    HDR("a|b", 100, "a\\|b", 0, 0);
    HDR("a\\b", 100, "a\\\\b", 0, 0);
    HDR("a=b", 100, "a=b", 0, 0); /* '=' is literal in the header */
    HDR("|\\|", 100, "\\|\\\\\\|", 0, 0);
    HDR("l1\r\nl2\nl3\r", 100, "l1  l2 l3 ", 0, 4); /* CR/LF never raw: spaces */
    HDR("t\tab", 100, "t ab", 0, 1);
    HDR("c\x01\x1f\x7f!", 100, "c   !", 0, 3);
    HDR("bad\xff\xc0\xafok", 100, "bad\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDok", 0, 3);
    HDR("trailing  ", 100, "trailing  ", 0, 0); /* headers are delimited: spaces kept */
    HDR("", 100, "", 0, 0);
    /* limits: exactly at the cap, one over, escape at the last byte, multibyte at the cut */
    HDR("abcd", 4, "abcd", 0, 0);
    HDR("abcde", 4, "abcd", 1, 0);
    HDR("abc|", 4, "abc\\|", 0, 0);
    HDR("abc|x", 4, "abc\\|", 1, 0);
    HDR("ab\xE2\x82\xAC", 4, "ab", 1, 0); /* euro sign would end at byte 5 */
    HDR("ab\xE2\x82\xAC", 5, "ab\xE2\x82\xAC", 0, 0);
    /* NUL inside an explicit length is a control character too */
    hdr_case("a\0b", 3, 10, "a b", 0, 1);
    hdr_case(NULL, 0, 10, "", 0, 0);
}

static void test_cef_value_escaping(void)
{
    VAL("plain text", 100, " k=plain text", 0, 0);
    VAL("a=b", 100, " k=a\\=b", 0, 0);
    VAL("a\\b", 100, " k=a\\\\b", 0, 0);
    VAL("p|ipe", 100, " k=p|ipe", 0, 0); /* pipes are not escaped in values */
    VAL("l1\nl2\r\nl3", 100, " k=l1\\nl2\\r\\nl3", 0, 0);
    VAL("t\tab", 100, " k=t ab", 0, 1); /* lognorm rejects \t; a space is safe */
    VAL("c\x01\x1b[0m\x7f!", 100, " k=c  [0m !", 0, 3);
    VAL("a =b = c", 100, " k=a \\=b \\= c", 0, 0); /* formats.md 1.8 */
    VAL("C:\\Users\\x", 100, " k=C:\\\\Users\\\\x", 0, 0);
    VAL("x key=y", 100, " k=x key\\=y", 0, 0); /* cannot start a fake key */
    /* trailing spaces go (and count); leading and inner ones stay */
    VAL("  lead  inner  ", 100, " k=  lead  inner", 0, 2);
    VAL("end\t\x01 ", 100, " k=end", 0, 3);
    VAL("line\n", 100, " k=line\\n", 0, 0); /* an escaped LF is not a trailing space */
    /* empty after repair: the key is omitted */
    VAL("", 100, "", 0, 0);
    VAL("   ", 100, "", 0, 3);
    VAL("\t\x01", 100, "", 0, 2);
    val_case(NULL, 5, 100, "", 0, 0);
    /* invalid UTF-8: each bad byte becomes U+FFFD */
    VAL("\x80", 100, " k=\xEF\xBF\xBD", 0, 1);                 /* lone continuation */
    VAL("\xC0\xAF", 100, " k=\xEF\xBF\xBD\xEF\xBF\xBD", 0, 2); /* overlong '/' */
    VAL("\xED\xA0\x80", 100, " k=\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 0, 3); /* surrogate */
    VAL("\xF4\x90\x80\x80", 100, " k=\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 0,
        4);                                                        /* past U+10FFFF */
    VAL("ok\xE2\x82", 100, " k=ok\xEF\xBF\xBD\xEF\xBF\xBD", 0, 2); /* cut sequence at the end */
    VAL("\xF5x", 100, " k=\xEF\xBF\xBDx", 0, 1);
    VAL("\xC3\xA9\xF0\x9F\x98\x80\xEF\xBF\xBF", 100, " k=\xC3\xA9\xF0\x9F\x98\x80\xEF\xBF\xBF", 0,
        0); /* valid 2-, 4-, 3-byte */
    /* Unicode line breaks and C1 controls: spaces, like C0 controls; U+00A0 and U+202F stay */
    VAL("a\xC2\x85"
        "b\xE2\x80\xA8"
        "c\xE2\x80\xA9"
        "d\xC2\x80\xC2\x9F"
        "e\xC2\xA0\xE2\x80\xAF",
        100, " k=a b c d  e\xC2\xA0\xE2\x80\xAF", 0, 5);
    VAL("end\xE2\x80\xA8", 100, " k=end", 0, 1); /* trailing: trimmed */
    HDR("a\xC2\x85"
        "b\xE2\x80\xA9",
        100, "a b ", 0, 2);
}

static void test_cef_value_limits(void)
{
    /* length == cap: untouched */
    VAL("abcd", 4, " k=abcd", 0, 0);
    /* cap + 1: cut, counted once */
    VAL("abcde", 4, " k=abcd", 1, 0);
    VAL("abcdefghij", 4, " k=abcd", 1, 0);
    /* escape at the last byte: the cap counts raw bytes, the escape is never split */
    VAL("abc=", 4, " k=abc\\=", 0, 0);
    VAL("abc\\", 4, " k=abc\\\\", 0, 0);
    VAL("abc\n", 4, " k=abc\\n", 0, 0);
    VAL("abc=x", 4, " k=abc\\=", 1, 0);
    VAL("abcd=", 4, " k=abcd", 1, 0);
    /* multibyte character at the cut point: never split */
    VAL("ab\xC3\xA9", 3, " k=ab", 1, 0);
    VAL("ab\xC3\xA9", 4, " k=ab\xC3\xA9", 0, 0);
    VAL("ab\xE2\x82\xAC", 4, " k=ab", 1, 0);
    VAL("ab\xF0\x9F\x98\x80", 5, " k=ab", 1, 0);
    VAL("ab\xF0\x9F\x98\x80", 6, " k=ab\xF0\x9F\x98\x80", 0, 0);
    /* a break character counts as the one-byte space it becomes */
    VAL("abc\xE2\x80\xA8"
        "d",
        5, " k=abc d", 0, 1);
    /* U+FFFD takes three bytes of the budget */
    VAL("ab\xFF", 4, " k=ab", 1, 0);
    VAL("ab\xFF", 5, " k=ab\xEF\xBF\xBD", 0, 1);
    /* a cut that leaves a trailing space: trimmed too */
    VAL("abc def", 4, " k=abc", 1, 1);
    VAL("    x", 3, "", 1, 3);
}

/* A capped buffer that fills up mid-value: the primitives leave it and the counters as they
 * were. */
static void test_cef_primitives_full(void)
{
    struct dbuf out;
    struct cef_ext x;
    struct evt_stats st = {0, 0};
    const char *v = "a=b\x01 long value that does not fit                         ";

    dbuf_init(&out, 9);
    CU_ASSERT_EQUAL(dbuf_puts(&out, "pre"), DF_OK);
    cef_ext_begin(&x, &out, &st);
    CU_ASSERT_EQUAL(cef_ext_add(&x, "k", v, strlen(v), 20), DF_ENOMEM);
    CU_ASSERT_STRING_EQUAL(out.p, "pre");
    CU_ASSERT_EQUAL(cef_header_field(&out, v, strlen(v), 20, &st), DF_ENOMEM);
    CU_ASSERT_STRING_EQUAL(out.p, "pre");
    CU_ASSERT_EQUAL(st.truncated_fields, 0);
    CU_ASSERT_EQUAL(st.replaced_chars, 0);
    CU_ASSERT_EQUAL(cef_ext_add(&x, "k", "a=b", 3, 20), DF_OK); /* "k=a\\=b" fits exactly */
    CU_ASSERT_STRING_EQUAL(out.p, "prek=a\\=b");
    CU_ASSERT_EQUAL(cef_ext_add(&x, "k", "c", 1, 20), DF_ENOMEM);
    CU_ASSERT_STRING_EQUAL(out.p, "prek=a\\=b");
    dbuf_free(&out);
}

/* Valid UTF-8 without controls (other than the LF/CR a value may carry decoded). */
static int clean_utf8(const unsigned char *s, size_t n, int allow_crlf)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k;
        if (c < 0x80) {
            if ((c < 0x20 && !(allow_crlf && (c == '\n' || c == '\r'))) || c == 0x7F)
                return 0;
            i++;
            continue;
        }
        k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        if (k == 0 || c > 0xF4 || i + k > n)
            return 0;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
        }
        if (k == 2 && c == 0xC2 && s[i + 1] <= 0x9F)
            return 0; /* C1 control */
        i += k;
    }
    return 1;
}

/* Pseudo-random bytes biased towards the interesting ones: every output must decode with the
 * strict decoder, stay valid UTF-8 within its limit, and carry no raw CR/LF (formats.md §5.5's
 * fuzz invariants, replayed deterministically on every run). */
static void test_cef_random(void)
{
    static const unsigned char pool[] = {'a',  ' ',  '=',  '|',  '\\', '\n', '\r', '\t', 0x01,
                                         0x7F, 0x80, 0xC2, 0x85, 0xC3, 0xA9, 0xE2, 0x80, 0xA8,
                                         0xAC, 0xF0, 0x9F, 0x98, 0xFF, 'k',  '0'};
    uint32_t seed = 12345;
    unsigned char in[64];

    for (int iter = 0; iter < 20000; iter++) {
        size_t len, limit;
        struct dbuf out;
        struct cef_ext x;
        struct cef_event e;
        char line[600];
        int rc;

        seed = seed * 1103515245u + 12345u;
        len = (seed >> 16) % sizeof(in);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            in[i] =
                (seed >> 24) & 1 ? pool[(seed >> 16) % sizeof(pool)] : (unsigned char) (seed >> 8);
        }
        seed = seed * 1103515245u + 12345u;
        limit = (seed >> 16) % 70;

        dbuf_init(&out, 4096);
        CU_ASSERT_EQUAL_FATAL(dbuf_puts(&out, "CEF:0|Microsoft|Microsoft 365 Defender|1.0|"), 0);
        CU_ASSERT_EQUAL_FATAL(cef_header_field(&out, (const char *) in, len, limit, NULL), 0);
        CU_ASSERT_EQUAL_FATAL(dbuf_puts(&out, "|n|0|"), 0);
        cef_ext_begin(&x, &out, NULL);
        CU_ASSERT_EQUAL_FATAL(cef_ext_add(&x, "msg", (const char *) in, len, limit), 0);
        CU_ASSERT_EQUAL_FATAL(cef_ext_add(&x, "cs1", "end", 3, 10), 0);
        CU_ASSERT_FATAL(out.len < sizeof(line));
        memcpy(line, out.p, out.len + 1);
        rc = cef_decode(line, &e);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        CU_ASSERT(strlen(e.hdr[4]) <= limit);
        CU_ASSERT(clean_utf8((const unsigned char *) e.hdr[4], strlen(e.hdr[4]), 0));
        CU_ASSERT(e.npairs == 1 || e.npairs == 2);
        if (e.npairs == 2) {
            CU_ASSERT_STRING_EQUAL(e.key[0], "msg");
            CU_ASSERT(strlen(e.val[0]) <= limit);
            CU_ASSERT(clean_utf8((const unsigned char *) e.val[0], strlen(e.val[0]), 1));
        }
        CU_ASSERT_STRING_EQUAL(e.val[e.npairs - 1], "end");
        cef_event_free(&e);
        dbuf_free(&out);
    }
}

/* --- CEF mapping --------------------------------------------------------------------------------
 */

static char *cef_of(const char *incident_json, int alert_index, struct cef_event *e)
{
    yajl_val inc = parse(incident_json), al = NULL;
    char *line;
    int rc;

    if (alert_index >= 0)
        al = member(inc, "alerts")->u.array.values[alert_index];
    line = render(EVT_CEF, inc, al, NULL, &rc);
    CU_ASSERT_EQUAL(rc, DF_OK);
    yajl_tree_free(inc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(line);
    CU_ASSERT_FATAL(cef_check_line(line, e) == 0);
    return line;
}

static void test_cef_severity(void)
{
    static const struct {
        const char *sev;
        const char *want;
    } cases[] = {
        {"\"UnSpecified\"", "0"},
        {"\"Informational\"", "1"},
        {"\"Low\"", "3"},
        {"\"Medium\"", "5"},
        {"\"High\"", "8"},
        {"\"high\"", "8"},
        {"\"Critical\"", "0"},
        {"\"\"", "0"},
        {"null", "0"},
        {"5", "0"},
    };
    char json[256];

    for (size_t i = 0; i < DF_ARRAY_LEN(cases); i++) {
        struct cef_event e;
        char *line;
        (void) snprintf(
            json, sizeof(json),
            "{\"incidentId\":1,\"lastUpdateTime\":\"2024-01-01T00:00:00Z\",\"severity\":%s,"
            "\"alerts\":[{\"alertId\":\"a\",\"lastUpdatedTime\":\"2024-01-01T00:00:00Z\","
            "\"severity\":%s}]}",
            cases[i].sev, cases[i].sev);
        for (int al = -1; al <= 0; al++) {
            line = cef_of(json, al, &e);
            CU_ASSERT_STRING_EQUAL(e.hdr[6], cases[i].want);
            cef_event_free(&e);
            free(line);
        }
    }
    /* missing severity */
    {
        struct cef_event e;
        char *line =
            cef_of("{\"incidentId\":1,\"lastUpdateTime\":\"2024-01-01T00:00:00Z\"}", -1, &e);
        CU_ASSERT_STRING_EQUAL(e.hdr[6], "0");
        cef_event_free(&e);
        free(line);
    }
}

/* Only the identity present: every optional key is left out, labels stay. */
static void test_cef_minimal(void)
{
    struct cef_event e;
    const char *inc = "{\"incidentId\":5,\"lastUpdateTime\":\"2024-01-01T00:00:00Z\","
                      "\"alerts\":[{\"alertId\":\"al-5\",\"lastUpdatedTime\":\"bogus\"}]}";
    char *line;

    line = cef_of(inc, -1, &e);
    CU_ASSERT_STRING_EQUAL(
        line, "CEF:0|Microsoft|Microsoft 365 Defender|1.0|incident||0|externalId=5 "
              "rt=1704067200000 cat=Incident cs1Label=status cs2Label=classification "
              "cs3Label=determination cs4Label=tags cs5Label=assignedTo cn1=1 "
              "cn1Label=alertCount cn2Label=redirectIncidentId flexString1=contoso "
              "flexString1Label=tenant cs6=0bb8affd611989be7a526e60ad7202fd cs6Label=eventId");
    cef_event_free(&e);
    free(line);

    /* an unparsable timestamp is left out; the parent's id fills cn1 */
    line = cef_of(inc, 0, &e);
    CU_ASSERT_STRING_EQUAL(
        line, "CEF:0|Microsoft|Microsoft 365 Defender|1.0|alert||0|externalId=al-5 "
              "cs1Label=status cs2Label=classification cs3Label=determination "
              "cs4Label=detectionSource cs5Label=mitreTechniques cn1=5 cn1Label=incidentId "
              "flexString1=contoso flexString1Label=tenant cs6=d389564e78f73a7ebb26bf259e6be1d2 "
              "cs6Label=eventId");
    cef_event_free(&e);
    free(line);
}

/* The docs fixture decoded: values a consumer reads back equal the API's. */
static void test_cef_docs_fixture(void)
{
    yajl_val root = parse_file(DOCS_FIXTURE);
    yajl_val inc = docs_incident(root, 1), al = first_alert(inc);
    struct cef_event e;
    char id[EVT_ID_HEX];
    char *line;
    int rc;

    line = render(EVT_CEF, inc, al, NULL, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, DF_OK);
    CU_ASSERT_FATAL(cef_check_line(line, &e) == 0);
    event_id_of(inc, al, id);
    CU_ASSERT_STRING_EQUAL(e.hdr[4], "alert"); /* no detectorId in the docs example */
    CU_ASSERT_STRING_EQUAL(e.hdr[5], "'Mimikatz' hacktool was detected");
    CU_ASSERT_STRING_EQUAL(e.hdr[6], "3");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "externalId"), "da637349914833441527_393341063");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "rt"), "1599394684256");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "start"), "1599394507727");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "end"), "1599394507727");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "cat"), "Malware");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "msg"), evt_scalar(member(al, "description")));
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "cs1"), "New");
    CU_ASSERT_PTR_NULL(cef_get(&e, "cs2")); /* null classification */
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "cs2Label"), "classification");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "cs4"), "WindowsDefenderAv");
    CU_ASSERT_PTR_NULL(cef_get(&e, "cs5")); /* mitreTechniques [] */
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "cn1"), "924521");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "dhost"), "user5cx.middleeast.corp.contoso.com");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "fname"), "Detector.UnitTests.dll");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "filePath"),
                           "C:\\Agent\\_work\\_temp\\Deploy_SYSTEM 2020-09-06 12_14_54\\Out");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "fileHash"), "5de839186691aa96ee2ca6d74f0a38fb8d1bd6dd");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "flexString1"), TENANT);
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "cs6"), id);
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "cs6Label"), "eventId");
    CU_ASSERT_PTR_NULL(cef_get(&e, "duser"));
    cef_event_free(&e);
    free(line);

    /* incident 924565: CEF timestamps are ms, floored */
    inc = docs_incident(root, 0);
    line = render(EVT_CEF, inc, NULL, NULL, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, DF_OK);
    CU_ASSERT_FATAL(cef_check_line(line, &e) == 0);
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "externalId"), "924565");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "rt"), "1599403617290");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "start"), "1599403617073");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "cat"), "Incident");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "cs6"), "a36b36dde76fb6161151b4726b463163");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "cn1"), "1");
    cef_event_free(&e);
    free(line);

    /* its alert: user and IP entities */
    line = render(EVT_CEF, inc, first_alert(inc), NULL, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, DF_OK);
    CU_ASSERT_FATAL(cef_check_line(line, &e) == 0);
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "duser"), "testUser2");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "dntdom"), "europe.corp.contoso");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "dst"), "62.216.203.204");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "cs6"), "7599e6068e5322578bc40fc38def60cd");
    cef_event_free(&e);
    free(line);
    yajl_tree_free(root);
}

/* Hostile text decodes back to exactly the repaired source text. */
static void test_cef_hostile_roundtrip(void)
{
    yajl_val inc = parse_file(DF_SOURCE_DIR "/tests/data/cef/004.in.json");
    yajl_val al = first_alert(inc);
    struct evt_stats st = {0, 0};
    struct cef_event e;
    char *line;
    int rc;

    line = render(EVT_CEF, inc, NULL, &st, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, DF_OK);
    CU_ASSERT_FATAL(cef_check_line(line, &e) == 0);
    CU_ASSERT_STRING_EQUAL(e.hdr[5], "Pipe | back\\slash = equals  CRLF tab  ctl  del end ");
    CU_ASSERT_STRING_EQUAL(e.hdr[6], "8");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "cs4"), "a=b,c\\d,pipe|tag,new\nline,  padded");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "cs5"), "soc=analyst\\one@contoso.com");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "start"), "1714564800123");
    /* name: CR, LF, tab, 0x01, 0x7f = 5; tags: the trailing "  " = 2 */
    CU_ASSERT_EQUAL(st.replaced_chars, 7);
    CU_ASSERT_EQUAL(st.truncated_fields, 0);
    cef_event_free(&e);
    free(line);

    memset(&st, 0, sizeof(st));
    line = render(EVT_CEF, inc, al, &st, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, DF_OK);
    CU_ASSERT_FATAL(cef_check_line(line, &e) == 0);
    CU_ASSERT_STRING_EQUAL(e.hdr[4], "det|ector\\id=1");
    CU_ASSERT_STRING_EQUAL(e.hdr[5], "Title with | pipe, \\ backslash, = equals and newline");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "msg"), "Line1 a=b c\\d p|q\r\nLine2 tab stx us  del\n\n"
                                               "Last line with trailing spaces");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "cs5"), "T1059,T1059.001,T1566");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "dhost"), "host=1|a\\b");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "duser"), "admin=root");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "dntdom"), "CORP\\EU");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "dst"), "2001:db8::1");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "request"), "https://evil.example/p?a=1&b=2|x\\y");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "fname"), "mal ware=.exe");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "filePath"), "C:\\Users\\Public\\mal ware=.exe");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "fileHash"),
                           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "end"), "1714564770500");
    /* title LF = 1; msg: tab, 0x02, 0x1f, 0x7f, 3 trailing spaces = 7 */
    CU_ASSERT_EQUAL(st.replaced_chars, 8);
    cef_event_free(&e);
    free(line);
    yajl_tree_free(inc);
}

/* The mapping's choices for sparse and odd data (see docs/cef-mapping.md). */
static void test_cef_sparse(void)
{
    yajl_val inc = parse_file(DF_SOURCE_DIR "/tests/data/cef/007.in.json");
    yajl_val alerts = member(inc, "alerts");
    struct cef_event e;
    char *line;
    int rc;

    /* incidentId "abc-7": a string id passes to externalId */
    line = render(EVT_CEF, inc, NULL, NULL, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, DF_OK);
    CU_ASSERT_FATAL(cef_check_line(line, &e) == 0);
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "externalId"), "abc-7");
    CU_ASSERT_PTR_NULL(cef_get(&e, "start")); /* "not a timestamp" */
    CU_ASSERT_PTR_NULL(cef_get(&e, "cs4"));   /* tags not an array */
    CU_ASSERT_STRING_EQUAL(e.hdr[5], "");     /* incidentName null */
    CU_ASSERT_STRING_EQUAL(e.hdr[6], "0");    /* "Critical" is not a Defender severity */
    cef_event_free(&e);
    free(line);

    line = render(EVT_CEF, inc, alerts->u.array.values[1], NULL, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, DF_OK);
    CU_ASSERT_FATAL(cef_check_line(line, &e) == 0);
    CU_ASSERT_STRING_EQUAL(e.hdr[4], "alert"); /* empty detectorId */
    CU_ASSERT_STRING_EQUAL(e.hdr[6], "8");
    CU_ASSERT_PTR_NULL(cef_get(&e, "cn1"));   /* 99999999999999999999 is no long */
    CU_ASSERT_PTR_NULL(cef_get(&e, "start")); /* month 13 */
    CU_ASSERT_PTR_NULL(cef_get(&e, "end"));   /* 8 fractional digits */
    CU_ASSERT_PTR_NULL(cef_get(&e, "msg"));   /* blanks only */
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "cat"), "42");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "cs1"), "true");
    CU_ASSERT_PTR_NULL(cef_get(&e, "cs2")); /* object */
    CU_ASSERT_PTR_NULL(cef_get(&e, "cs3")); /* array */
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "cs5"), "T1003,7");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "dhost"), "second-device.contoso.com");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "duser"), "late.user@contoso.com");
    CU_ASSERT_PTR_NULL(cef_get(&e, "dntdom"));
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "dst"), "10.0.0.7");      /* 999.1.1.1 is no address */
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "fname"), "dropper.dll"); /* File entity first */
    CU_ASSERT_PTR_NULL(cef_get(&e, "filePath"));
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "fileHash"), "1111222233334444555566667777888899990000");
    cef_event_free(&e);
    free(line);

    line = render(EVT_CEF, inc, alerts->u.array.values[2], NULL, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, DF_OK);
    CU_ASSERT_FATAL(cef_check_line(line, &e) == 0);
    CU_ASSERT_STRING_EQUAL(e.hdr[4], "d3f4ult-det3ct0r");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "duser"), "shared@contoso.com"); /* mailbox fallback */
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "request"), "http://phish.example/login");
    CU_ASSERT_STRING_EQUAL(cef_get(&e, "cn1"), "1007");
    cef_event_free(&e);
    free(line);
    yajl_tree_free(inc);
}

/* --- golden files ----------------------------------------------------------------------------- */

/* Renders every event of one incident, one line each, with the reusable renderer. */
static int render_all(enum evt_format fmt, yajl_val inc, struct dbuf *out, struct evt_stats *st)
{
    struct evt_renderer *r = evt_renderer_new();
    yajl_val alerts = member(inc, "alerts");
    size_t n = YAJL_IS_ARRAY(alerts) ? alerts->u.array.len : 0;
    char id[EVT_ID_HEX];
    int rc;

    if (r == NULL)
        return DF_ENOMEM;
    rc = evt_renderer_bind(r, TENANT, inc);
    for (size_t j = 0; rc == DF_OK && j <= n; j++) {
        yajl_val al = j == 0 ? NULL : alerts->u.array.values[j - 1];
        event_id_of(inc, al, id);
        rc = evt_renderer_render(r, fmt, id, al, out, st);
        if (rc == DF_OK)
            rc = dbuf_putc(out, '\n');
    }
    evt_renderer_free(r);
    return rc;
}

static void run_golden(enum evt_format fmt, const char *dir, const char *ext)
{
    const char *update = getenv("DF_GOLDEN_UPDATE");
    char in_path[1024], exp_path[1024];
    int count = 0;

    for (int i = 1; i < 1000; i++) {
        struct dbuf out;
        struct evt_stats st = {0, 0};
        yajl_val inc;
        char *in_text, *want;
        size_t want_len = 0;

        (void) snprintf(in_path, sizeof(in_path), "%s/tests/data/%s/%03d.in.json", DF_SOURCE_DIR,
                        dir, i);
        (void) snprintf(exp_path, sizeof(exp_path), "%s/tests/data/%s/%03d.expected.%s",
                        DF_SOURCE_DIR, dir, i, ext);
        in_text = unit_read_file(in_path, NULL);
        if (in_text == NULL)
            break;
        count++;
        inc = parse(in_text);
        free(in_text);
        dbuf_init(&out, 1 << 22);
        CU_ASSERT_EQUAL_FATAL(render_all(fmt, inc, &out, &st), DF_OK);
        if (update != NULL && strcmp(update, "1") == 0) {
            FILE *f = fopen(exp_path, "wb");
            CU_ASSERT_PTR_NOT_NULL_FATAL(f);
            CU_ASSERT_EQUAL(fwrite(out.p, 1, out.len, f), out.len);
            CU_ASSERT_EQUAL(fclose(f), 0);
        }
        want = unit_read_file(exp_path, &want_len);
        if (want == NULL)
            (void) fprintf(stderr, "missing golden file %s\n", exp_path);
        CU_ASSERT_PTR_NOT_NULL(want);
        if (want != NULL) {
            int same = want_len == out.len && memcmp(want, out.p, out.len) == 0;
            CU_ASSERT(same);
            if (!same)
                (void) fprintf(stderr, "golden mismatch: %s\n", exp_path);
        }
        /* each CEF line also passes the strict decoder */
        if (fmt == EVT_CEF) {
            char *line = out.p, *nl;
            while ((nl = strchr(line, '\n')) != NULL) {
                struct cef_event e;
                *nl = '\0';
                if (cef_check_line(line, &e) == 0)
                    cef_event_free(&e);
                line = nl + 1;
            }
        } else {
            char *line = out.p, *nl;
            while ((nl = strchr(line, '\n')) != NULL) {
                yajl_val back;
                *nl = '\0';
                back = parse(line);
                yajl_tree_free(back);
                line = nl + 1;
            }
        }
        free(want);
        dbuf_free(&out);
        yajl_tree_free(inc);
    }
    CU_ASSERT(count >= 3);
}

static void test_golden_cef(void)
{
    run_golden(EVT_CEF, "cef", "cef");
}

/* The limits file counts what it cuts: incident name; alert B's externalId, title, msg and
 * signature; the msg of C, D and E = 8 cuts; C's two spaces left at the cut = 2 removals. */
static void test_golden_counters(void)
{
    yajl_val inc = parse_file(DF_SOURCE_DIR "/tests/data/cef/006.in.json");
    struct evt_stats st = {0, 0};
    struct dbuf out;

    dbuf_init(&out, 1 << 20);
    CU_ASSERT_EQUAL(render_all(EVT_CEF, inc, &out, &st), DF_OK);
    CU_ASSERT_EQUAL(st.truncated_fields, 8);
    CU_ASSERT_EQUAL(st.replaced_chars, 2);
    /* JSON passes everything through: nothing to count */
    memset(&st, 0, sizeof(st));
    dbuf_reset(&out);
    CU_ASSERT_EQUAL(render_all(EVT_JSON, inc, &out, &st), DF_OK);
    CU_ASSERT_EQUAL(st.truncated_fields, 0);
    CU_ASSERT_EQUAL(st.replaced_chars, 0);
    dbuf_free(&out);
    yajl_tree_free(inc);
}

static void test_golden_json(void)
{
    run_golden(EVT_JSON, "json", "json");
}

void unit_register(void)
{
    CU_pSuite s = CU_add_suite("evt", NULL, NULL);

    CU_add_test(s, "event id: known vectors", test_id_vectors);
    CU_add_test(s, "incident id text", test_incident_id);
    CU_add_test(s, "json: docs fixture, parsed back", test_json_docs_fixture);
    CU_add_test(s, "json: exact bytes, numbers and escapes", test_json_exact);
    CU_add_test(s, "json: alertCount", test_json_alert_count);
    CU_add_test(s, "json: nesting past yajl_gen's limit", test_json_deep_nesting);
    CU_add_test(s, "json: any value, compact and pretty", test_json_value);
    CU_add_test(s, "redirected incident without alerts", test_redirected);
    CU_add_test(s, "invalid input leaves output untouched", test_invalid_input);
    CU_add_test(s, "output cap: all or nothing", test_buffer_cap);
    CU_add_test(s, "renderer reuse equals one-shot", test_renderer_reuse);
    CU_add_test(s, "cef: header escaping", test_cef_header_escaping);
    CU_add_test(s, "cef: value escaping and UTF-8 repair", test_cef_value_escaping);
    CU_add_test(s, "cef: value limits and cut points", test_cef_value_limits);
    CU_add_test(s, "cef: random bytes keep every invariant", test_cef_random);
    CU_add_test(s, "cef: primitives on a full buffer", test_cef_primitives_full);
    CU_add_test(s, "cef: severity mapping", test_cef_severity);
    CU_add_test(s, "cef: minimal incident and alert", test_cef_minimal);
    CU_add_test(s, "cef: docs fixture decoded", test_cef_docs_fixture);
    CU_add_test(s, "cef: hostile text round trip", test_cef_hostile_roundtrip);
    CU_add_test(s, "cef: sparse and odd data", test_cef_sparse);
    CU_add_test(s, "golden: tests/data/cef", test_golden_cef);
    CU_add_test(s, "golden: tests/data/json", test_golden_json);
    CU_add_test(s, "golden: CEF repair counters", test_golden_counters);
}
