#include "coll.h"

#include "log.h"
#include "ts.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_SIZE 100
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
    if (rc == DF_EINVAL) {
        /* Refused before anything was written: larger than a journal record may be. */
        log_error("collector", "event too large for the journal, not forwarded tenant=%s "
                  "event_id=%s: %s", t->cfg->name, e.event_id, err->msg);
        c->skipped++;
        return DF_OK;
    }
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

static void lock(struct coll *c)
{
    if (c->lock != NULL)
        pthread_mutex_lock(c->lock);
}

static void unlock(struct coll *c)
{
    if (c->lock != NULL)
        pthread_mutex_unlock(c->lock);
}

/* Under c->lock: the journal, the checkpoint and the counters are shared between tenants. */
static int process_page_locked(struct coll *c, struct coll_tenant *t, yajl_val value,
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

static int process_page(struct coll *c, struct coll_tenant *t, yajl_val value,
                        struct df_err *err)
{
    int rc;
    lock(c);
    rc = process_page_locked(c, t, value, err);
    /* Journal or index may now hold part of the page: only a restart from the last commit
     * point can make memory and disk agree again. */
    if (rc != DF_OK)
        c->state_failed = 1;
    unlock(c);
    return rc;
}

/* Records how far the walk down the window got and commits, as one step under the lock. */
static int commit_progress(struct coll *c, struct coll_tenant *t, int64_t next_end,
                           struct df_err *err)
{
    int rc;
    lock(c);
    t->ck->window_next_end = next_end;
    rc = c->commit(c->arg, err);
    if (rc != DF_OK)
        c->state_failed = 1;
    unlock(c);
    return rc;
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

void coll_range_filter(char *out, size_t n, const char *field, int64_t from, int64_t to)
{
    char a[TS_FMT_MAX], b[TS_FMT_MAX];
    ts_format7(from, a);
    ts_format7(to, b);
    snprintf(out, n, "%s ge %s and %s lt %s", field, a, field, b);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

/*
 * Where to split a full createdTime range: the median createdTime of the page, taken as a sample
 * of the range, gives two halves of about equal count; the midpoint when the sample is useless.
 */
int64_t coll_created_split(yajl_val value, int64_t lo, int64_t hi)
{
    int64_t t[PAGE_SIZE], mid = lo + (hi - lo) / 2;
    size_t n = 0;

    for (size_t i = 0; i < value->u.array.len && n < PAGE_SIZE; i++) {
        const char *s = str_member(value->u.array.values[i], "createdTime");
        if (s != NULL && ts_parse(s, strlen(s), &t[n]) == DF_OK)
            n++;
    }
    if (n > 0) {
        qsort(t, n, sizeof(t[0]), cmp_i64);
        if (t[n / 2] > lo && t[n / 2] < hi)
            mid = t[n / 2];
    }
    return mid;
}

/*
 * Incidents of one lastUpdateTime tick with createdTime in [lo, hi). Their order in an answer is
 * undocumented, so full ranges are split (never trusted to be ordered). Where even one
 * createdTime tick is full, $skip paging is the last resort: an incident updated between two
 * of those pages leaves the result set and can shift one neighbour past a page boundary; the
 * next poll re-reads this range (position − lag) and the version index absorbs the repeats, so
 * such a neighbour is late, not lost, as long as the tick is younger than `lag`.
 */
static int collect_created(struct coll *c, struct coll_tenant *t, int64_t tick, int64_t lo,
                           int64_t hi, struct df_err *err)
{
    char f1[160], f2[160], filter[340];
    yajl_val root = NULL, value;
    int rc;

    coll_range_filter(f1, sizeof(f1), "lastUpdateTime", tick, tick + 1);
    coll_range_filter(f2, sizeof(f2), "createdTime", lo, hi);
    snprintf(filter, sizeof(filter), "%s and %s", f1, f2);
    rc = list(t, filter, 0, &root, &value, err);
    if (rc != DF_OK)
        return rc;
    if (value->u.array.len >= PAGE_SIZE && hi - lo > 1) {
        int64_t mid = coll_created_split(value, lo, hi);
        yajl_tree_free(root);
        rc = collect_created(c, t, tick, mid, hi, err);
        return rc == DF_OK ? collect_created(c, t, tick, lo, mid, err) : rc;
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
    return rc;
}

/* More incidents share one lastUpdateTime tick than a page holds: split them on createdTime,
 * which is never later than lastUpdateTime, nor older than the API's retention. */
static int collect_tick(struct coll *c, struct coll_tenant *t, int64_t tick, struct df_err *err)
{
    log_info("collector", "more than %d incidents share one lastUpdateTime, splitting on "
             "createdTime tenant=%s tick=%" PRId64, PAGE_SIZE, t->cfg->name, tick);
    return collect_created(c, t, tick, tick - 2 * RETENTION, tick + 1, err);
}

/* The tick of an incident's lastUpdateTime, or -1. */
static int64_t incident_tick(yajl_val inc)
{
    const char *lut = str_member(inc, "lastUpdateTime");
    int64_t t;
    return lut != NULL && ts_parse(lut, strlen(lut), &t) == DF_OK ? t : -1;
}

/*
 * Whether a full page proves that it holds every incident of [*min, hi): the API lists newest
 * first (reference/api.md §3.4), so a page that is really in non-increasing lastUpdateTime
 * order holds the 100 newest of the window, i.e. all of those above its smallest timestamp.
 * The order is documented but seen in one capture only, so it is checked on every page rather
 * than trusted: a page out of order (or with a timestamp outside the window) falls back to
 * halving, which needs no ordering at all. A page of 100 incidents in the expected order by
 * accident, when the API orders by something else, is not a realistic risk.
 */
int coll_page_covers_top(yajl_val value, int64_t a, int64_t hi, int64_t *min)
{
    int64_t prev = INT64_MAX;
    for (size_t i = 0; i < value->u.array.len; i++) {
        int64_t t = incident_tick(value->u.array.values[i]);
        if (t < a || t >= hi || t > prev)
            return 0;
        prev = t;
    }
    *min = prev;
    return 1;
}

/*
 * Collects every incident of [a, hi), walking down from hi. A short page ends it. A full page in
 * the documented order covers [min + 1, hi) completely, so the rest is [a, min + 1): the tick at
 * the page's edge is read again (the version index absorbs the repeats). This is how the window
 * adapts to the density: its upper end follows exactly what each page covered, so a backfill of
 * N incidents costs about ceil(N/100) + 1 calls, whatever their distribution in time, while
 * every answer still fits in one page. Progress is saved after every page (the tenant's pending
 * window in the checkpoint), so a restart resumes the walk instead of starting it again.
 */
static int collect_window(struct coll *c, struct coll_tenant *t, int64_t a, int64_t hi,
                          struct df_err *err)
{
    int rc = DF_OK;

    while (a < hi) {
        char filter[160];
        yajl_val root = NULL, value;
        int64_t min;

        if (c->stop != NULL && *c->stop)
            return DF_ESTOP;
        /* Checked before every page: one window can be a whole backfill. The walk resumes
         * from the saved progress once the outputs have caught up. */
        if (c->paused != NULL && c->paused(c->arg))
            return DF_EFULL;
        coll_range_filter(filter, sizeof(filter), "lastUpdateTime", a, hi);
        rc = list(t, filter, 0, &root, &value, err);
        if (rc != DF_OK)
            return rc;
        if (value->u.array.len < PAGE_SIZE) {
            rc = process_page(c, t, value, err);
            yajl_tree_free(root);
            return rc;
        }
        if (!coll_page_covers_top(value, a, hi, &min)) {
            int64_t mid = a + (hi - a) / 2;
            yajl_tree_free(root);
            if (!t->unordered_logged)
                log_warn("collector", "a full page was not newest-first; splitting windows in "
                         "halves instead tenant=%s", t->cfg->name);
            t->unordered_logged = 1;
            if (hi - a == 1)
                return collect_tick(c, t, a, err);
            rc = collect_window(c, t, mid, hi, err);
            if (rc == DF_OK)
                rc = collect_window(c, t, a, mid, err);
            return rc;
        }
        rc = process_page(c, t, value, err);
        yajl_tree_free(root);
        if (rc != DF_OK)
            return rc;
        if (min == hi - 1) {
            /* The whole page shares the window's last tick. */
            rc = collect_tick(c, t, min, err);
            if (rc != DF_OK)
                return rc;
            hi = min;
        } else {
            hi = min + 1;
        }
        rc = commit_progress(c, t, hi, err);
        if (rc != DF_OK)
            return rc;
    }
    return DF_OK;
}

int coll_poll(struct coll *c, struct coll_tenant *t, struct df_err *err)
{
    const struct cfg *cfg = c->cfg;
    struct ckpt_tenant *ck = t->ck;
    int64_t now = api_server_now_ticks(t->api);
    int rc;

    if (c->paused != NULL && c->paused(c->arg))
        return DF_EFULL;
    lock(c);
    if (!ck->has_window) {
        int64_t a;
        if (!ck->has_position)
            a = cfg->collector.start_from_absolute
                    ? cfg->collector.start_from_ticks
                    : now - cfg->collector.start_from_s * TS_TICKS_PER_SEC;
        else
            a = ck->position - cfg->collector.lag_s * TS_TICKS_PER_SEC;
        if (a < now - RETENTION)
            a = now - RETENTION;
        if (a >= now) {
            unlock(c);
            return DF_OK;
        }
        ck->has_window = 1;
        ck->window_start = a;
        ck->window_next_end = now;
        ck->window_end = now;
    }
    int64_t start = ck->window_start, next_end = ck->window_next_end;
    unlock(c);
    /*
     * One window per poll, from (position − lag) to the server's now. The position moves to its
     * end only once all of it is collected, so the position always means "everything updated
     * before it was collected".
     */
    rc = collect_window(c, t, start, next_end, err);
    if (rc != DF_OK)
        return rc;
    /* Built from the server's clock, never the host's (rule 7). */
    int64_t server_now = api_server_now_ticks(t->api);
    lock(c);
    int64_t pos = ck->window_end < server_now ? ck->window_end : server_now;
    if (!ck->has_position || pos > ck->position) {
        ck->position = pos;
        ck->has_position = 1;
    }
    ck->has_window = 0;
    rc = c->commit(c->arg, err);
    if (rc != DF_OK)
        c->state_failed = 1;
    unlock(c);
    return rc;
}
