/*
 * Defender timestamps: UTC, 0-7 fractional digits, trailing zeros trimmed (reference/api.md
 * §3.6). Kept as integer 100 ns ticks since the Unix epoch; never compared as strings.
 */
#ifndef DF_TS_H
#define DF_TS_H

#include <stddef.h>
#include <stdint.h>

#define TS_TICKS_PER_SEC 10000000LL
#define TS_FMT_MAX 40

/* Parses "YYYY-MM-DDThh:mm:ss[.f{1,7}]Z" exactly (len bytes, no NUL needed). Returns 0 or
 * DF_EPARSE (more than 7 digits, missing Z, out-of-range fields, trailing bytes). */
int ts_parse(const char *s, size_t len, int64_t *ticks);
/* Writes "YYYY-MM-DDThh:mm:ss.fffffffZ" (always 7 digits, for $filter); returns length. */
size_t ts_format7(int64_t ticks, char out[TS_FMT_MAX]);
/* Writes the API's own trimmed form (0-7 digits, trailing zeros removed); returns length. */
size_t ts_format_trimmed(int64_t ticks, char out[TS_FMT_MAX]);
/* Milliseconds since the epoch (floor), as CEF wants. */
int64_t ts_to_ms(int64_t ticks);
/* Parses durations "30s", "5m", "2h", "7d" (positive integer + unit) into seconds. */
int ts_parse_duration(const char *s, int64_t *seconds);
/* Parses sizes "1024", "64KiB", "10MiB", "1GiB" into bytes. */
int ts_parse_size(const char *s, uint64_t *bytes);
/* Parses an HTTP Date header (IMF-fixdate, RFC 7231) into seconds since the epoch. */
int ts_parse_http_date(const char *s, int64_t *epoch_s);
/* Host clock as ticks. */
int64_t ts_now_ticks(void);

#endif
