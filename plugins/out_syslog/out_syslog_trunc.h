/*
 * Fitting an oversized event into a syslog message without splitting it (docs/syslog.md,
 * "Size cap and truncation"). The cut is made at a field boundary and marked, so the receiver
 * gets one well-formed CEF or JSON event that says it was shortened.
 */
#ifndef DF_OUT_SYSLOG_TRUNC_H
#define DF_OUT_SYSLOG_TRUNC_H

#include "common.h"
#include "dbuf.h"

#include <stddef.h>
#include <yajl/yajl_tree.h>

/* Appended to every value that was shortened. */
#define OUT_SYSLOG_MARK     "[truncated]"
#define OUT_SYSLOG_MARK_LEN (sizeof(OUT_SYSLOG_MARK) - 1)

/*
 * Appends to out a version of the CEF line (len > budget) of at most budget bytes:
 *  1. `msg` is shortened and ends in the marker (`msg=[truncated]` is added when the event
 *     has no msg, so every cut event says so);
 *  2. whole extension pairs are dropped from the end, except the identity keys externalId,
 *     rt, cs6/cs6Label (event id) and flexString1/flexString1Label (tenant), and msg;
 *  3. the Name header field is shortened;
 *  4. a line that still does not fit, or that is not CEF, is cut hard and ends in the marker.
 * No cut ever splits an escape sequence or a UTF-8 character. budget must be at least
 * OUT_SYSLOG_MARK_LEN. Returns 0 or DF_ENOMEM (out's cap).
 */
int out_syslog_trunc_cef(const char *line, size_t len, size_t budget, struct dbuf *out);

/*
 * Appends to out a rendering of the JSON event root of at most budget bytes, changing root:
 *  1. the longest string values inside `incident` and `alert` are shortened (never below 64
 *     bytes, never an id or a version timestamp) and end in the marker;
 *  2. then the largest arrays and objects inside `incident` and `alert` are emptied;
 *  3. then members of `incident` (the context, for an alert event) and then of `alert`,
 *     other than their ids, versions, severity and status, are removed, last first.
 * The result is valid JSON with the event's top-level keys. Returns 0, DF_EFULL when even
 * step 3 cannot reach budget (out then holds the smallest form found), DF_EINVAL (root is not
 * an event object) or DF_ENOMEM.
 */
int out_syslog_trunc_json(yajl_val root, size_t budget, struct dbuf *out);

/* Largest n <= len such that s[0..n) ends neither inside a UTF-8 character nor between a
 * backslash and the character it escapes (for CEF text; esc = 0 for plain text). */
size_t out_syslog_safe_cut(const char *s, size_t len, size_t n, int esc);

#endif
