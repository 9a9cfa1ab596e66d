/*
 * Event rendering (src/evt.h) on arbitrary JSON. The input is parsed with yajl_tree_parse as
 * the collector does; any value goes through evt_json_value (compact and pretty), and an
 * object is rendered as an incident, JSON and CEF, without and with each of its alerts.
 *
 * Checked: evt_json_value output parses back and re-renders to the same bytes; evt_render
 * and a reused evt_renderer agree byte for byte (the cached incident context must not leak
 * between events); a JSON event parses back as an object with the right type, event_id,
 * tenant and incident context; a CEF event is one line of valid UTF-8 with seven well-escaped
 * header fields and a well-formed extension; an event that does not fit its buffer fails with
 * DF_ENOMEM and leaves the buffer as it was.
 */
#include "common.h"
#include "dbuf.h"
#include "evt.h"
#include "fuzz_util.h"

#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#define TENANT     "contoso"
#define EVENT_ID   "0123456789abcdef0123456789abcdef"
#define CEF_PREFIX "CEF:0|Microsoft|Microsoft 365 Defender|1.0|"
#define OUT_CAP    (4u << 20)
#define MAX_ALERTS 64 /* bounds the time per input; the rest add nothing new */

static yajl_val parse(const char *s)
{
    char ebuf[128];
    return yajl_tree_parse(s, ebuf, sizeof(ebuf));
}

static void check_json_value(yajl_val v)
{
    struct dbuf a, b, p;
    yajl_val back;
    int rc;

    dbuf_init(&a, OUT_CAP);
    dbuf_init(&b, OUT_CAP);
    dbuf_init(&p, OUT_CAP);
    rc = evt_json_value(v, 0, &a);
    if (rc != DF_OK) {
        FUZZ_CHECK(rc == DF_EINVAL && a.len == 0); /* nested deeper than yajl_gen allows */
        goto out;
    }
    back = parse(a.p);
    FUZZ_CHECK(back != NULL);
    FUZZ_CHECK(evt_json_value(back, 0, &b) == DF_OK && b.len == a.len &&
               memcmp(a.p, b.p, a.len) == 0);
    yajl_tree_free(back);
    FUZZ_CHECK(evt_json_value(v, 1, &p) == DF_OK);
    back = parse(p.p);
    FUZZ_CHECK(back != NULL);
    dbuf_reset(&b);
    FUZZ_CHECK(evt_json_value(back, 0, &b) == DF_OK && b.len == a.len &&
               memcmp(a.p, b.p, a.len) == 0);
    yajl_tree_free(back);
out:
    dbuf_free(&a);
    dbuf_free(&b);
    dbuf_free(&p);
}

static yajl_val member(yajl_val obj, const char *key)
{
    const char *path[] = {key, NULL};
    return yajl_tree_get(obj, path, yajl_t_any);
}

static int string_is(yajl_val v, const char *s)
{
    return YAJL_IS_STRING(v) && strcmp(v->u.string, s) == 0;
}

static void check_json_event(const char *line, int is_alert)
{
    yajl_val ev = parse(line), inc;

    FUZZ_CHECK(YAJL_IS_OBJECT(ev));
    FUZZ_CHECK(string_is(member(ev, "type"), is_alert ? "alert" : "incident"));
    FUZZ_CHECK(string_is(member(ev, "event_id"), EVENT_ID));
    FUZZ_CHECK(string_is(member(ev, "tenant"), TENANT));
    inc = member(ev, "incident");
    FUZZ_CHECK(YAJL_IS_OBJECT(inc));
    FUZZ_CHECK(member(inc, "alerts") == NULL);
    FUZZ_CHECK(member(inc, "alertCount") != NULL);
    FUZZ_CHECK(YAJL_IS_OBJECT(member(ev, "alert")) == is_alert);
    yajl_tree_free(ev);
}

/* The end of the header field starting at i: its unescaped '|', or n. */
static size_t field_end(const char *s, size_t n, size_t i)
{
    for (; i < n && s[i] != '|'; i++) {
        if (s[i] == '\\')
            i++;
    }
    return i < n ? i : n;
}

static void check_cef_event(const char *s, size_t n)
{
    size_t plen = strlen(CEF_PREFIX), i, e;

    fuzz_check_cef_text(s, n); /* one line: no CR, LF or other line break anywhere */
    FUZZ_CHECK(n > plen && memcmp(s, CEF_PREFIX, plen) == 0);
    i = plen;
    for (int f = 0; f < 2; f++) { /* signature, name */
        e = field_end(s, n, i);
        FUZZ_CHECK(e < n && fuzz_check_cef_header(s + i, e - i) <= 1023);
        i = e + 1;
    }
    FUZZ_CHECK(n - i >= 2 && strchr("01358", s[i]) != NULL && s[i + 1] == '|');
    i += 2;
    fuzz_check_cef_extension(s + i, n - i, 1023);
}

static void render(struct evt_renderer *r, int bound, enum evt_format fmt, yajl_val inc,
                   yajl_val alert)
{
    static const char prev[] = "previous event\n";
    struct evt_stats s1 = {0, 0}, s2 = {0, 0};
    struct dbuf a, b;
    size_t mark = sizeof(prev) - 1;
    int rc1, rc2;

    dbuf_init(&a, OUT_CAP);
    dbuf_init(&b, OUT_CAP);
    FUZZ_CHECK(dbuf_puts(&a, prev) == DF_OK && dbuf_puts(&b, prev) == DF_OK);
    rc1 = evt_render(fmt, TENANT, EVENT_ID, inc, alert, &a, &s1);
    rc2 = bound ? evt_renderer_render(r, fmt, EVENT_ID, alert, &b, &s2) : DF_EINVAL;
    FUZZ_CHECK(rc1 == rc2 && a.len == b.len && memcmp(a.p, b.p, a.len) == 0);
    FUZZ_CHECK(s1.truncated_fields == s2.truncated_fields &&
               s1.replaced_chars == s2.replaced_chars);
    if (rc1 != DF_OK) {
        FUZZ_CHECK((rc1 == DF_EINVAL || rc1 == DF_ENOMEM) && a.len == mark);
        FUZZ_CHECK(s1.truncated_fields == 0 && s1.replaced_chars == 0);
        goto out;
    }
    FUZZ_CHECK(a.len > mark);
    if (fmt == EVT_JSON)
        check_json_event(a.p + mark, alert != NULL);
    else
        check_cef_event(a.p + mark, a.len - mark);

    /* One byte short of the event: all or nothing. */
    dbuf_free(&b);
    dbuf_init(&b, a.len - 1);
    FUZZ_CHECK(dbuf_puts(&b, prev) == DF_OK);
    memset(&s2, 0, sizeof(s2));
    FUZZ_CHECK(evt_render(fmt, TENANT, EVENT_ID, inc, alert, &b, &s2) == DF_ENOMEM);
    FUZZ_CHECK(b.len == mark && memcmp(b.p, prev, mark + 1) == 0);
    FUZZ_CHECK(s2.truncated_fields == 0 && s2.replaced_chars == 0);
out:
    dbuf_free(&a);
    dbuf_free(&b);
}

static void render_incident(yajl_val inc)
{
    struct evt_renderer *r = evt_renderer_new();
    yajl_val alerts = member(inc, "alerts"); /* the first "alerts", as evt_get() reads it */
    size_t n = YAJL_IS_ARRAY(alerts) ? alerts->u.array.len : 0;
    int bound;

    FUZZ_CHECK(r != NULL);
    bound = evt_renderer_bind(r, TENANT, inc) == DF_OK;
    if (n > MAX_ALERTS)
        n = MAX_ALERTS;
    /* JSON first, then CEF, through the same renderer: the cached JSON context must not
     * leak into CEF events or change between alerts. */
    for (int fmt = 0; fmt < 2; fmt++) {
        enum evt_format f = fmt == 0 ? EVT_JSON : EVT_CEF;
        render(r, bound, f, inc, NULL);
        for (size_t i = 0; i < n; i++)
            render(r, bound, f, inc, alerts->u.array.values[i]);
    }
    evt_renderer_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *z = malloc(size + 1);
    yajl_val root;

    FUZZ_CHECK(z != NULL);
    memcpy(z, data, size);
    z[size] = '\0';
    root = parse(z);
    free(z);
    if (root == NULL)
        return 0;
    check_json_value(root);
    if (YAJL_IS_OBJECT(root))
        render_incident(root);
    yajl_tree_free(root);
    return 0;
}
