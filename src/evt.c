/*
 * Events: stable ids, the renderer lifecycle and the format dispatch. The formats themselves
 * live in evt_json.c and evt_cef.c.
 */
#include "evt.h"

#include "common.h"
#include "evt_int.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* Ids are computed for every event, so the common case hashes from a stack buffer with one
 * EVP_Digest call; only absurdly long inputs take the streaming path (which allocates). */
#define ID_STACK_BUF 1024

static int digest_stream(const char *parts[], const size_t lens[], size_t n, unsigned char *md)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned int mdlen = 0;
    int ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;

    for (size_t i = 0; ok && i < n; i++)
        ok = EVP_DigestUpdate(c, parts[i], lens[i]) == 1;
    ok = ok && EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen == 32;
    EVP_MD_CTX_free(c);
    return ok;
}

void evt_id(const char *tenant, enum evt_type type, const char *id, const char *version,
            char out[EVT_ID_HEX])
{
    static const char hex[] = "0123456789abcdef";
    const char *parts[7];
    size_t lens[7], total = 0;
    unsigned char md[EVP_MAX_MD_SIZE];
    int ok;

    parts[0] = tenant ? tenant : "";
    parts[1] = "\n";
    parts[2] = type == EVT_INCIDENT ? "incident" : "alert";
    parts[3] = "\n";
    parts[4] = id ? id : "";
    parts[5] = "\n";
    parts[6] = version ? version : "";
    for (size_t i = 0; i < 7; i++) {
        lens[i] = strlen(parts[i]);
        total += lens[i];
    }
    if (total <= ID_STACK_BUF) {
        char buf[ID_STACK_BUF];
        unsigned int mdlen = 0;
        size_t off = 0;
        for (size_t i = 0; i < 7; i++) {
            memcpy(buf + off, parts[i], lens[i]);
            off += lens[i];
        }
        ok = EVP_Digest(buf, total, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32;
    } else {
        ok = digest_stream(parts, lens, 7, md);
    }
    /* SHA-256 only fails when OpenSSL cannot allocate. An empty id cannot be mistaken for a
     * real one (and fails the caller's 32-digit check) where a constant would collide. */
    if (NEVER(!ok)) {
        out[0] = '\0';
        return;
    }
    for (size_t i = 0; i < 16; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[32] = '\0';
}

yajl_val evt_get(yajl_val obj, const char *key)
{
    if (!YAJL_IS_OBJECT(obj))
        return NULL;
    for (size_t i = 0; i < obj->u.object.len; i++) {
        if (strcmp(obj->u.object.keys[i], key) == 0)
            return obj->u.object.values[i];
    }
    return NULL;
}

const char *evt_scalar(yajl_val v)
{
    if (v == NULL)
        return NULL;
    switch (v->type) {
    case yajl_t_string:
        return v->u.string;
    case yajl_t_number:
        return v->u.number.r;
    case yajl_t_true:
        return "true";
    case yajl_t_false:
        return "false";
    default:
        return NULL;
    }
}

const char *evt_incident_id(yajl_val incident)
{
    yajl_val v = evt_get(incident, "incidentId");

    if (YAJL_IS_NUMBER(v))
        return v->u.number.r;
    if (YAJL_IS_STRING(v))
        return v->u.string;
    return NULL;
}

/* An alert event needs what its event id is made of: alertId (a string in every sample; a
 * number is accepted like incidentId) and the raw lastUpdatedTime. */
static int alert_has_identity(yajl_val alert)
{
    yajl_val id = evt_get(alert, "alertId");

    return YAJL_IS_OBJECT(alert) && (YAJL_IS_STRING(id) || YAJL_IS_NUMBER(id)) &&
           YAJL_IS_STRING(evt_get(alert, "lastUpdatedTime"));
}

struct evt_renderer *evt_renderer_new(void)
{
    struct evt_renderer *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    /* The cached context is capped again by each output buffer when copied; this cap only
     * stops a runaway. The scratch buffer holds one joined CEF array, cut to 1023 bytes later
     * anyway, so its cap bounds memory, not output. */
    dbuf_init(&r->json_ctx, (size_t) 1 << 30);
    dbuf_init(&r->scratch, (size_t) 1 << 20);
    return r;
}

void evt_renderer_free(struct evt_renderer *r)
{
    if (r == NULL)
        return;
    if (r->gen != NULL)
        yajl_gen_free(r->gen);
    dbuf_free(&r->json_ctx);
    dbuf_free(&r->scratch);
    free(r);
}

int evt_renderer_bind(struct evt_renderer *r, const char *tenant, yajl_val incident)
{
    yajl_val alerts;

    r->incident = NULL;
    r->tenant = NULL;
    r->json_ctx_ready = 0;
    if (!YAJL_IS_OBJECT(incident) || evt_incident_id(incident) == NULL ||
        !YAJL_IS_STRING(evt_get(incident, "lastUpdateTime")))
        return DF_EINVAL;
    alerts = evt_get(incident, "alerts");
    r->alert_count = YAJL_IS_ARRAY(alerts) ? alerts->u.array.len : 0;
    r->tenant = tenant != NULL ? tenant : "";
    r->incident = incident;
    return DF_OK;
}

int evt_renderer_render(struct evt_renderer *r, enum evt_format fmt, const char *event_id,
                        yajl_val alert, struct dbuf *out, struct evt_stats *stats)
{
    struct evt_stats local = {0, 0};
    size_t mark = out->len;
    int rc;

    if (r->incident == NULL || event_id == NULL)
        return DF_EINVAL;
    if (alert != NULL && !alert_has_identity(alert))
        return DF_EINVAL;
    switch (fmt) {
    case EVT_JSON:
        rc = json_render(r, event_id, alert, out);
        break;
    case EVT_CEF:
        rc = cef_render(r, event_id, alert, out, &local);
        break;
    default:
        rc = DF_EINVAL;
        break;
    }
    if (rc != DF_OK) {
        /* All or nothing: a failed event leaves no partial line and no counts behind. */
        if (out->p != NULL) {
            out->len = mark;
            out->p[mark] = '\0';
        }
        return rc;
    }
    if (stats != NULL) {
        stats->truncated_fields += local.truncated_fields;
        stats->replaced_chars += local.replaced_chars;
    }
    return DF_OK;
}

int evt_render(enum evt_format fmt, const char *tenant, const char *event_id, yajl_val incident,
               yajl_val alert, struct dbuf *out, struct evt_stats *stats)
{
    /* One-shot form: a renderer on the stack, so nothing is cached between calls. */
    struct evt_renderer r;
    int rc;

    memset(&r, 0, sizeof(r));
    dbuf_init(&r.json_ctx, (size_t) 1 << 30);
    dbuf_init(&r.scratch, (size_t) 1 << 20);
    rc = evt_renderer_bind(&r, tenant, incident);
    if (rc == DF_OK)
        rc = evt_renderer_render(&r, fmt, event_id, alert, out, stats);
    if (r.gen != NULL)
        yajl_gen_free(r.gen);
    dbuf_free(&r.json_ctx);
    dbuf_free(&r.scratch);
    return rc;
}
