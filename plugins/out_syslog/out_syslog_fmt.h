/*
 * Syslog message building, free of I/O so unit tests drive it byte for byte: PRI, RFC 5424 and
 * RFC 3164 headers, structured-data escaping, octet-counting and newline framing, and the
 * facts the header needs from an already rendered event (its severity and time).
 */
#ifndef DF_OUT_SYSLOG_FMT_H
#define DF_OUT_SYSLOG_FMT_H

#include "dbuf.h"
#include "evt.h"
#include "out_syslog.h"

#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

/* Syslog severities (RFC 5424 §6.2.1). */
enum {
    OUT_SYSLOG_SEV_CRIT = 2,
    OUT_SYSLOG_SEV_ERR = 3,
    OUT_SYSLOG_SEV_WARNING = 4,
    OUT_SYSLOG_SEV_NOTICE = 5,
    OUT_SYSLOG_SEV_INFO = 6,
};

/* "kern" … "local7" or "0" … "23" → 0-23; -1 when unknown. */
int out_syslog_facility_parse(const char *s);

/* CEF severity 0-10 (or -1, unknown) → syslog severity; see docs/syslog.md for the table. */
int out_syslog_severity_from_cef(int cef);
/* CEF severity of a Defender severity name (UnSpecified 0 … High 8, SPEC §4) or of a CEF
 * severity word (Unknown, Low, Medium, High, Very-High); -1 when neither. Case-insensitive. */
int out_syslog_cef_severity_of_name(const char *s, size_t len);

/* What the header needs to know about one event. */
struct out_syslog_info {
    int severity;  /* syslog severity 0-7 */
    int64_t ticks; /* event time, 100 ns ticks since the epoch; -1 when unknown */
};

/* From a CEF line: severity from the 7th header field, time from the `rt` key. Returns 0, or
 * DF_EPARSE when the line has fewer than seven header fields (info then gets the defaults). */
int out_syslog_cef_info(const char *line, size_t len, struct out_syslog_info *info);
/* From a parsed JSON event: severity and lastUpdateTime of the incident (incident events) or
 * severity and lastUpdatedTime of the alert (alert events). Missing pieces get the defaults. */
void out_syslog_json_info(yajl_val root, enum evt_type type, struct out_syslog_info *info);

/* The fixed part of every header, prepared once per output. Strings are borrowed. */
struct out_syslog_hdr {
    enum out_syslog_protocol protocol;
    int facility;
    const char *hostname; /* printable ASCII, see out_syslog_sanitize() */
    const char *app_name;
    const char *procid;
    const char *sd_id;
};

/* The per-message part. */
struct out_syslog_msg {
    enum evt_type type;
    int severity;
    int64_t ticks; /* event time; must be >= 0 (callers fall back to now) */
    const char *event_id;
    const char *tenant;
    const char *incident_id;
    uint64_t truncated_from; /* 0, or the payload's length before it was cut */
};

/*
 * Appends the header of one message including the space before the payload:
 * RFC 5424 `<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD-ID eventId="…" tenant="…"
 * incidentId="…"( truncated="N")] ` or RFC 3164 `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: `.
 * Returns 0 or DF_ENOMEM (out's cap; out may then hold part of the header).
 */
int out_syslog_header(const struct out_syslog_hdr *h, const struct out_syslog_msg *m,
                      struct dbuf *out);

/* RFC 5424 PARAM-VALUE escaping: `"`, `\` and `]` get a backslash, nothing else changes. */
int out_syslog_sd_escape(const char *s, size_t len, struct dbuf *out);

/* RFC 5424 TIMESTAMP `YYYY-MM-DDThh:mm:ss.ffffffZ` (6 digits, the RFC's maximum; the 7th
 * Defender digit is dropped). out must hold 32 bytes; returns the length. */
size_t out_syslog_ts5424(int64_t ticks, char *out);
/* RFC 3164 TIMESTAMP `Mmm dd hh:mm:ss` in UTC, day padded with a space. out: 16 bytes. */
size_t out_syslog_ts3164(int64_t ticks, char *out);

/* Copies s into out (size >= 2) keeping only printable ASCII (33-126, others become '_'),
 * at most size-1 bytes; an empty result becomes "-" (RFC 5424's NILVALUE). */
void out_syslog_sanitize(const char *s, char *out, size_t size);

/* Appends one frame: `LEN SP MSG` (octet counting, RFC 5425/6587 §3.4.1) or `MSG LF`. */
int out_syslog_frame(enum out_syslog_framing framing, const char *msg, size_t len,
                     struct dbuf *out);

#endif
