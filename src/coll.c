#include "coll.h"

#include "log.h"
#include "ts.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_SIZE 100
/* Aim below a full page: a window whose answer fills the page must be split and asked again,
 * which costs a call, so the target leaves room for the density to vary between windows. */
#define TARGET_PER_CALL 80
#define MAX_WIDTH (30LL * 86400 * TS_TICKS_PER_SEC)
#define RETENTION (180LL * 86400 * TS_TICKS_PER_SEC)
#define MAX_EVENT_BYTES ((size_t) 32 << 20)

int coll_init(struct coll *c, const struct cfg *cfg, struct jrnl *j)
{
    memset(c, 0, sizeof(*c));
    c->cfg = cfg;
    c->jrnl = j;
    dbuf_init(&c->json, MAX_EVENT_BYTES);
    dbuf_init(&c->cef, MAX_EVENT_BYTES);
    c->renderer = evt_renderer_new();
    return c->renderer ? DF_OK : DF_ENOMEM;
}

void coll_free(struct coll *c)
{
    evt_renderer_free(c->renderer);
    c->renderer = NULL;
    dbuf_free(&c->json);
    dbuf_free(&c->cef);
}

static const char *str_member(yajl_val obj, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(obj, path, yajl_t_string);
    return v ? YAJL_GET_STRING(v) : NULL;
}

static int emit(struct coll *c, struct coll_tenant *t, enum evt_type type, const char *id,
                const char *version, const char *incident_id, yajl_val incident, yajl_val alert,
                struct df_err *err)
{
    struct jrnl_entry e;
    int rc;

    evt_id(t->cfg->name, type, id, version, e.event_id);
    dbuf_reset(&c->json);
    dbuf_reset(&c->cef);
    (void) incident; /* bound to c->renderer by process_incident() */
    rc = evt_renderer_render(c->renderer, EVT_JSON, e.event_id, alert, &c->json, &c->stats);
    if (rc == DF_OK)
        rc = evt_renderer_render(c->renderer, EVT_CEF, e.event_id, alert, &c->cef, &c->stats);
    if (rc == DF_ENOMEM) {
        /* Only an event above MAX_EVENT_BYTES gets here; no receiver would take it. */
        log_error("collector", "event too large, not forwarded tenant=%s type=%s id=%s "
                  "event_id=%s", t->cfg->name, type == EVT_INCIDENT ? "incident" : "alert", id,
                  e.event_id);
        c->skipped++;
        return DF_OK;
    }
    if (rc != DF_OK)
        return df_err_set(err, rc, "rendering %s %s failed",
                          type == EVT_INCIDENT ? "incident" : "alert", id);
    e.type = type;
    e.tenant = t->cfg->name;
    e.tenant_len = strlen(t->cfg->name);
    e.incident_id = incident_id;
    e.incident_id_len = strlen(incident_id);
    e.json = c->json.p;
    e.json_len = c->json.len;
    e.cef = c->cef.p;
    e.cef_len = c->cef.len;
    rc = jrnl_append(c->jrnl, &e, err);
    if (rc == DF_OK) {
        if (type == EVT_INCIDENT)
            t->ck->incidents++;
        else
            t->ck->alerts++;
    }
    return rc;
}

/* Emits what is new in one incident version: the incident event, then its new alerts. */
static int process_incident(struct coll *c, struct coll_tenant *t, yajl_val inc,
                            struct df_err *err)
{
    const char *alerts_path[] = {"alerts", NULL};
    const char *iid = evt_incident_id(inc);
    const char *lut = str_member(inc, "lastUpdateTime");
    int64_t ticks, seen;
    yajl_val alerts;
    int rc;

    if (iid == NULL || lut == NULL || ts_parse(lut, strlen(lut), &ticks) != DF_OK) {
        log_warn("collector", "incident without a usable incidentId or lastUpdateTime skipped "
                 "tenant=%s incidentId=%s lastUpdateTime=%s", t->cfg->name,
                 iid ? iid : "-", lut ? lut : "-");
        c->skipped++;
        return DF_OK;
    }
    if (vidx_get(t->vidx, VIDX_INCIDENT, iid, strlen(iid), &seen) && seen >= ticks)
        return DF_OK;
    rc = evt_renderer_bind(c->renderer, t->cfg->name, inc);
    if (rc != DF_OK)
        return df_err_set(err, rc, "cannot render incident %s", iid);
    rc = emit(c, t, EVT_INCIDENT, iid, lut, iid, inc, NULL, err);
    if (rc != DF_OK)
        return rc;
    alerts = yajl_tree_get(inc, alerts_path, yajl_t_array);
    for (size_t i = 0; alerts != NULL && i < alerts->u.array.len; i++) {
        yajl_val al = alerts->u.array.values[i];
        const char *aid = YAJL_IS_OBJECT(al) ? str_member(al, "alertId") : NULL;
        const char *alut = aid ? str_member(al, "lastUpdatedTime") : NULL;
        int64_t aticks = 0;

        if (aid == NULL || aid[0] == '\0') {
            log_warn("collector", "alert without alertId skipped tenant=%s incidentId=%s",
                     t->cfg->name, iid);
            c->skipped++;
            continue;
        }
        /* An alert without a parsable lastUpdatedTime counts as version 0: emitted once. */
        if (alut == NULL || ts_parse(alut, strlen(alut), &aticks) != DF_OK) {
            alut = "";
            aticks = 0;
        }
        if (c->cfg->collector.alerts == CFG_ALERTS_CHANGED &&
            vidx_get(t->vidx, VIDX_ALERT, aid, strlen(aid), &seen) && seen >= aticks)
            continue;
        rc = emit(c, t, EVT_ALERT, aid, alut, iid, inc, al, err);
        if (rc == DF_OK)
            rc = vidx_put(t->vidx, VIDX_ALERT, aid, strlen(aid), aticks, err);
        if (rc != DF_OK)
            return rc;
    }
    return vidx_put(t->vidx, VIDX_INCIDENT, iid, strlen(iid), ticks, err);
}

static int process_page(struct coll *c, struct coll_tenant *t, yajl_val value,
                        struct df_err *err)
{
    /* The API lists newest first; emitting oldest first keeps a SIEM's timeline natural. */
    for (size_t i = value->u.array.len; i-- > 0;) {
        yajl_val inc = value->u.array.values[i];
        int rc;
        if (!YAJL_IS_OBJECT(inc)) {
            c->skipped++;
            continue;
        }
        rc = process_incident(c, t, inc, err);
        if (rc != DF_OK)
            return rc;
    }
    return DF_OK;
}

/* One list call; *value is the answer's "value" array, owned by *root. */
static int list(struct coll_tenant *t, const char *filter, int skip, yajl_val *root,
                yajl_val *value, struct df_err *err)
{
    const char *value_path[] = {"value", NULL};
    int rc = api_list_incidents(t->api, filter, PAGE_SIZE, skip, root, err);

    if (rc != DF_OK)
        return rc;
    t->calls++;
    *value = yajl_tree_get(*root, value_path, yajl_t_array);
    if (*value == NULL) {
        yajl_tree_free(*root);
        *root = NULL;
        return df_err_set(err, DF_ERETRY, "tenant %s: list answer has no \"value\" array",
                          t->cfg->name);
    }
    return DF_OK;
}

static void range_filter(char *out, size_t n, const char *field, int64_t from, int64_t to)
{
    char a[TS_FMT_MAX], b[TS_FMT_MAX];
    ts_format7(from, a);
    ts_format7(to, b);
    snprintf(out, n, "%s ge %s and %s lt %s", field, a, field, b);
}

/*
 * One lastUpdateTime tick holds more incidents than a page: split on createdTime (never later
 * than lastUpdateTime, so [0, tick + 1) covers them all). Where even one createdTime tick is
 * full, page with $skip as a last resort: an incident updated between two of those pages leaves
 * the result set and can shift one neighbour past the page boundary; the next poll re-reads
 * this range (position − lag) and the version index absorbs the repeats, so such a neighbour is
 * late, not lost, as long as the tick is younger than `lag`.
 */
static int collect_tick(struct coll *c, struct coll_tenant *t, int64_t tick, struct df_err *err)
{
    char f1[160], f2[160], filter[340];
    int64_t a = 0, end = tick + 1, width = end;
    int rc = DF_OK;

    range_filter(f1, sizeof(f1), "lastUpdateTime", tick, tick + 1);
    log_info("collector", "more than %d incidents share one lastUpdateTime, splitting on "
             "createdTime tenant=%s tick=%" PRId64, PAGE_SIZE, t->cfg->name, tick);
    while (a < end) {
        int64_t b = end - a > width ? a + width : end;
        yajl_val root = NULL, value;

        range_filter(f2, sizeof(f2), "createdTime", a, b);
        snprintf(filter, sizeof(filter), "%s and %s", f1, f2);
        rc = list(t, filter, 0, &root, &value, err);
        if (rc != DF_OK)
            return rc;
        if (value->u.array.len >= PAGE_SIZE && b - a > 1) {
            yajl_tree_free(root);
            width = (b - a) / 2;
            continue;
        }
        rc = process_page(c, t, value, err);
        for (int skip = PAGE_SIZE; rc == DF_OK && value->u.array.len >= PAGE_SIZE;
             skip += PAGE_SIZE) {
            yajl_tree_free(root);
            root = NULL;
            rc = list(t, filter, skip, &root, &value, err);
            if (rc == DF_OK)
                rc = process_page(c, t, value, err);
        }
        yajl_tree_free(root);
        if (rc != DF_OK)
            return rc;
        a = b;
        width = width * 2 < end ? width * 2 : end;
    }
    return DF_OK;
}

static int64_t adapt_width(int64_t width, size_t n)
{
    /* Scale to the observed density, but at most 8x up at a time: a quiet stretch says little
     * about the next one, and overshooting into a busy hour costs a split. */
    int64_t w = n > 0 ? (int64_t) ((double) width * TARGET_PER_CALL / (double) n) : width * 8;
    if (w > width * 8)
        w = width * 8;
    if (w > MAX_WIDTH)
        w = MAX_WIDTH;
    return w < TS_TICKS_PER_SEC ? TS_TICKS_PER_SEC : w;
}

int coll_poll(struct coll *c, struct coll_tenant *t, struct df_err *err)
{
    const struct cfg *cfg = c->cfg;
    int64_t now = api_server_now_ticks(t->api);
    int64_t a, end = now;
    int rc;

    if (!t->ck->has_position)
        a = cfg->collector.start_from_absolute
                ? cfg->collector.start_from_ticks
                : now - cfg->collector.start_from_s * TS_TICKS_PER_SEC;
    else
        a = t->ck->position - cfg->collector.lag_s * TS_TICKS_PER_SEC;
    if (a < now - RETENTION)
        a = now - RETENTION;
    if (t->width <= 0)
        t->width = end - a;
    while (a < end) {
        int64_t b = end - a > t->width ? a + t->width : end;
        char filter[160];
        yajl_val root = NULL, value;
        size_t n;

        if (c->stop != NULL && *c->stop)
            return DF_ESTOP;
        if (c->paused != NULL && c->paused(c->arg))
            return DF_EFULL;
        range_filter(filter, sizeof(filter), "lastUpdateTime", a, b);
        rc = list(t, filter, 0, &root, &value, err);
        if (rc != DF_OK)
            return rc;
        n = value->u.array.len;
        if (n >= PAGE_SIZE && b - a > 1) {
            /* A full page may hide more: ask again for half the window. */
            yajl_tree_free(root);
            t->width = (b - a) / 2;
            continue;
        }
        if (n >= PAGE_SIZE)
            rc = collect_tick(c, t, a, err);
        else
            rc = process_page(c, t, value, err);
        yajl_tree_free(root);
        if (rc != DF_OK)
            return rc;
        /* The position is built from the server's clock, never the host's (rule 7). */
        int64_t server_now = api_server_now_ticks(t->api);
        int64_t pos = b < server_now ? b : server_now;
        if (!t->ck->has_position || pos > t->ck->position) {
            t->ck->position = pos;
            t->ck->has_position = 1;
        }
        rc = c->commit(c->arg, err);
        if (rc != DF_OK)
            return rc;
        if (b - a == t->width || n > 0)
            t->width = adapt_width(b - a, n);
        a = b;
    }
    return DF_OK;
}
