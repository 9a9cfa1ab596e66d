/*
 * Events (SPEC §4): one `incident` event per incident version plus its `alert` events,
 * rendered as a JSON line or a CEF line. Inputs are yajl trees as parsed from the API; the
 * renderers never drop, rename or reformat API fields (numbers keep their original text).
 */
#ifndef DF_EVT_H
#define DF_EVT_H

#include "dbuf.h"

#include <stdint.h>
#include <yajl/yajl_tree.h>

#define EVT_ID_HEX 33 /* 32 hex digits + NUL */

enum evt_type { EVT_INCIDENT = 'I', EVT_ALERT = 'A' };
enum evt_format { EVT_JSON, EVT_CEF };

/* Counters of lossy-but-legal repairs made while rendering (CEF truncation, control chars). */
struct evt_stats {
    uint64_t truncated_fields;
    uint64_t replaced_chars;
};

/* event_id = hex of the first 16 bytes of SHA-256(tenant "\n" type "\n" id "\n" version),
 * type being "incident" or "alert". */
void evt_id(const char *tenant, enum evt_type type, const char *id, const char *version,
            char out[EVT_ID_HEX]);

/* The incident id as text: the JSON number's original text (incidentId is a 64-bit number;
 * a string is accepted too). Returns NULL when missing or of another type. */
const char *evt_incident_id(yajl_val incident);

/*
 * Appends one event, without a trailing newline, to out.
 * incident: the incident object as received (its "alerts" member is left out of the event's
 * "incident" context and replaced by "alertCount"). alert: NULL for the incident event, else
 * one element of incident.alerts. event_id: from evt_id().
 * Returns 0, DF_EINVAL (incident or alert lacks its id/version) or DF_ENOMEM (out's cap).
 * On failure out is left as it was. JSON nested deeper than yajl_gen's limit (about 127
 * levels; API objects use 4) also gives DF_EINVAL rather than a partial event.
 */
int evt_render(enum evt_format fmt, const char *tenant, const char *event_id, yajl_val incident,
               yajl_val alert, struct dbuf *out, struct evt_stats *stats);

/*
 * Appends any JSON value as JSON, numbers in their original text, without a trailing newline:
 * compact, or indented by two spaces when pretty is set (for the CLI's `incidents` commands).
 * Returns 0, DF_ENOMEM (out's cap; out is then left as it was) or DF_EINVAL (v is NULL or
 * nested deeper than yajl_gen allows).
 */
int evt_json_value(yajl_val v, int pretty, struct dbuf *out);

/*
 * Reusable renderer for the hot path. evt_render() above is the one-shot form of the same
 * code; a renderer additionally keeps its yajl generator across events and renders the JSON
 * incident context once per incident instead of once per event, so an incident with N alerts
 * serialises its own fields once. One renderer per thread.
 *
 *     struct evt_renderer *r = evt_renderer_new();
 *     evt_renderer_bind(r, tenant, incident);              // once per incident version
 *     evt_renderer_render(r, fmt, id, NULL, out, stats);   // incident event
 *     evt_renderer_render(r, fmt, id, alert, out, stats);  // each alert event
 *     evt_renderer_free(r);
 *
 * tenant and incident are borrowed: they must stay valid and unchanged until the next bind.
 */
struct evt_renderer;

struct evt_renderer *evt_renderer_new(void); /* NULL when out of memory */
void evt_renderer_free(struct evt_renderer *r);
/* Returns 0, or DF_EINVAL when incident is not an object or lacks incidentId/lastUpdateTime
 * (the renderer is then unbound). */
int evt_renderer_bind(struct evt_renderer *r, const char *tenant, yajl_val incident);
/* Same contract as evt_render() for the bound incident; DF_EINVAL when nothing is bound. */
int evt_renderer_render(struct evt_renderer *r, enum evt_format fmt, const char *event_id,
                        yajl_val alert, struct dbuf *out, struct evt_stats *stats);

#endif
