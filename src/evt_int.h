/*
 * Internals shared by evt.c (ids, dispatch), evt_json.c and evt_cef.c. Not part of the event
 * API; unit tests and fuzz harnesses include it to reach the CEF escaping primitives.
 */
#ifndef DF_EVT_INT_H
#define DF_EVT_INT_H

#include "dbuf.h"
#include "evt.h"

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

/* yajl_gen print callback target. yajl prints token by token (a quote, a key, a colon...), so
 * the pieces are staged in a small fixed array and reach the caller's capped buffer in a few
 * large appends; this halves the cost of rendering compared with one dbuf_append per piece.
 * The callback cannot fail, so the first dbuf failure is latched in rc. */
struct json_sink {
    struct dbuf *out;
    int rc;
    size_t n;
    char buf[4096];
};

struct evt_renderer {
    yajl_gen gen; /* created on first JSON use, reused for every later event */
    struct json_sink sink;
    const char *tenant; /* bound by evt_renderer_bind(); owned by the caller */
    yajl_val incident;  /* idem */
    size_t alert_count;
    /* `,"tenant":"…","incident":{…,"alertCount":N}`: the part every JSON event of the bound
     * incident shares, rendered on the first JSON event and then copied. */
    struct dbuf json_ctx;
    int json_ctx_ready;
    struct dbuf scratch; /* CEF: joined arrays (tags, mitreTechniques) */
};

/* Looks key up in an object (first match); NULL if obj is not an object or has no such key. */
yajl_val evt_get(yajl_val obj, const char *key);
/* Text of a scalar: a string, a number's original text, "true"/"false"; NULL otherwise
 * (null, object, array, missing). */
const char *evt_scalar(yajl_val v);

int json_render(struct evt_renderer *r, const char *event_id, yajl_val alert, struct dbuf *out);
int cef_render(struct evt_renderer *r, const char *event_id, yajl_val alert, struct dbuf *out,
               struct evt_stats *stats);

/*
 * CEF escaping primitives. Both repair the text first (invalid UTF-8 bytes become U+FFFD; C0
 * controls, DEL, C1 controls and U+2028/U+2029 become a space; in header fields CR and LF
 * become a space too), cut it to `limit` bytes on a UTF-8 character boundary (before
 * escaping, so no escape sequence is cut; counted once in stats->truncated_fields), then
 * escape it for its position. Every repaired or removed character is counted in
 * stats->replaced_chars. stats may be NULL.
 */

/* Header field: `\` -> `\\`, `|` -> `\|`. Returns 0 or DF_ENOMEM. */
int cef_header_field(struct dbuf *out, const char *s, size_t len, size_t limit,
                     struct evt_stats *stats);

/* Extension being written: pairs are separated by one space, the first has none. */
struct cef_ext {
    struct dbuf *out;
    size_t start; /* out->len where the extension begins */
    struct evt_stats *stats;
};

void cef_ext_begin(struct cef_ext *x, struct dbuf *out, struct evt_stats *stats);
/*
 * Appends `key=value` with the value escaped (`\` -> `\\`, `=` -> `\=`, LF -> `\n`,
 * CR -> `\r`; `|` stays literal). Trailing spaces are removed (parsers trim them from the last
 * value only, so keeping them would make values decode differently by position; each removed
 * space is counted in replaced_chars). A value that ends up empty is omitted with its key.
 * s may be NULL (omitted). Returns 0 or DF_ENOMEM.
 */
int cef_ext_add(struct cef_ext *x, const char *key, const char *s, size_t len, size_t limit);

#endif
