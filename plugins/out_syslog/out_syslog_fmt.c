/*
 * Syslog message building (formats.md §2). Everything here is pure: no clock, no socket, no
 * global state, so the unit tests pin exact bytes.
 */
#include "evt_int.h"
#include "out_syslog_fmt.h"

#include "ts.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const facility_names[24] = {
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog",   "lpr",     "news",
    "uucp",   "cron",   "authpriv", "ftp",    "ntp",    "security", "console", "clock",
    "local0", "local1", "local2",   "local3", "local4", "local5",   "local6",  "local7",
};

int out_syslog_facility_parse(const char *s)
{
    char *end;
    long n;

    if (s == NULL || s[0] == '\0')
        return -1;
    for (int i = 0; i < 24; i++)
        if (strcasecmp(s, facility_names[i]) == 0)
            return i;
    /* RFC 5424 calls 13 and 14 "log audit" and "log alert"; accept the usual spellings. */
    if (strcasecmp(s, "audit") == 0)
        return 13;
    if (strcasecmp(s, "alert") == 0)
        return 14;
    if (s[0] < '0' || s[0] > '9')
        return -1;
    n = strtol(s, &end, 10);
    if (*end != '\0' || n < 0 || n > 23 || (s[0] == '0' && s[1] != '\0'))
        return -1;
    return (int) n;
}

/*
 * One step per CEF band (formats.md §1.2: 0-3 Low, 4-6 Medium, 7-8 High, 9-10 Very-High),
 * never emerg/alert: those mean "the system is unusable" to every syslog router, and a
 * Defender alert is about some other machine. 0 is UnSpecified, not "low": notice keeps it
 * visible. The product itself only emits 0, 1, 3, 5 and 8.
 */
int out_syslog_severity_from_cef(int cef)
{
    if (cef < 0 || cef == 0)
        return OUT_SYSLOG_SEV_NOTICE;
    if (cef <= 2)
        return OUT_SYSLOG_SEV_INFO;
    if (cef == 3)
        return OUT_SYSLOG_SEV_NOTICE;
    if (cef <= 6)
        return OUT_SYSLOG_SEV_WARNING;
    if (cef <= 8)
        return OUT_SYSLOG_SEV_ERR;
    return OUT_SYSLOG_SEV_CRIT;
}

int out_syslog_cef_severity_of_name(const char *s, size_t len)
{
    static const struct {
        const char *name;
        int cef;
    } names[] = {
        {"UnSpecified", 0}, {"Informational", 1}, {"Low", 3},        {"Medium", 5},
        {"High", 8},        {"Unknown", 0},       {"Very-High", 10},
    };
    for (size_t i = 0; i < DF_ARRAY_LEN(names); i++)
        if (strlen(names[i].name) == len && strncasecmp(s, names[i].name, len) == 0)
            return names[i].cef;
    return -1;
}

static void info_defaults(struct out_syslog_info *info)
{
    info->severity = out_syslog_severity_from_cef(-1);
    info->ticks = -1;
}

/* Severity field text: an integer 0-10 or one of the CEF words. */
static int cef_severity_field(const char *s, size_t len)
{
    int n = 0;

    if (len == 0)
        return -1;
    if (len <= 2 && s[0] >= '0' && s[0] <= '9') {
        for (size_t i = 0; i < len; i++) {
            if (s[i] < '0' || s[i] > '9')
                return -1;
            n = n * 10 + (s[i] - '0');
        }
        return n <= 10 ? n : -1;
    }
    return out_syslog_cef_severity_of_name(s, len);
}

int out_syslog_cef_info(const char *line, size_t len, struct out_syslog_info *info)
{
    size_t pipes = 0, sev_start = 0, i = 0;

    info_defaults(info);
    /* Header fields escape `\` and `|`, so a pipe after an odd backslash is text. */
    for (; i < len && pipes < 7; i++) {
        if (line[i] == '\\') {
            i++;
            continue;
        }
        if (line[i] == '|') {
            pipes++;
            if (pipes == 6)
                sev_start = i + 1;
            else if (pipes == 7)
                info->severity = out_syslog_severity_from_cef(
                    cef_severity_field(line + sev_start, i - sev_start));
        }
    }
    if (pipes < 7)
        return DF_EPARSE;
    /* `rt=` as a key: keys follow the 7th pipe or a space, and `=` inside values is always
     * escaped, so an unescaped "rt=" at such a place cannot be value text. */
    for (size_t k = i; k + 3 < len; k++) {
        if (line[k] == '\\') {
            k++;
            continue;
        }
        if ((k == i || line[k - 1] == ' ') && memcmp(line + k, "rt=", 3) == 0) {
            int64_t ms = 0;
            size_t d = k + 3, start = d;
            while (d < len && line[d] >= '0' && line[d] <= '9' && d - start < 15)
                ms = ms * 10 + (line[d++] - '0');
            if (d > start && (d == len || line[d] == ' '))
                info->ticks = ms * (TS_TICKS_PER_SEC / 1000);
            break;
        }
    }
    return DF_OK;
}

void out_syslog_json_info(yajl_val root, enum evt_type type, struct out_syslog_info *info)
{
    yajl_val obj = evt_get(root, type == EVT_ALERT ? "alert" : "incident");
    yajl_val sev = evt_get(obj, "severity");
    yajl_val t = evt_get(obj, type == EVT_ALERT ? "lastUpdatedTime" : "lastUpdateTime");
    int64_t ticks;

    info_defaults(info);
    if (sev != NULL && sev->type == yajl_t_string)
        info->severity = out_syslog_severity_from_cef(
            out_syslog_cef_severity_of_name(sev->u.string, strlen(sev->u.string)));
    if (t != NULL && t->type == yajl_t_string &&
        ts_parse(t->u.string, strlen(t->u.string), &ticks) == DF_OK && ticks >= 0)
        info->ticks = ticks;
}

static void split_ticks(int64_t ticks, struct tm *tm, long *frac_ticks)
{
    time_t secs = (time_t) (ticks / TS_TICKS_PER_SEC);
    *frac_ticks = (long) (ticks % TS_TICKS_PER_SEC);
    gmtime_r(&secs, tm);
}

size_t out_syslog_ts5424(int64_t ticks, char *out)
{
    struct tm tm;
    long frac;
    int n;

    split_ticks(ticks, &tm, &frac);
    n = snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac / 10);
    return n > 0 && n < 32 ? (size_t) n : 0;
}

size_t out_syslog_ts3164(int64_t ticks, char *out)
{
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    long frac;
    int n;

    split_ticks(ticks, &tm, &frac);
    n = snprintf(out, 16, "%s %2d %02d:%02d:%02d", months[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
    return n > 0 && n < 16 ? (size_t) n : 0;
}

void out_syslog_sanitize(const char *s, char *out, size_t size)
{
    size_t n = 0;

    for (; s != NULL && s[n] != '\0' && n + 1 < size; n++)
        out[n] = (s[n] >= 33 && s[n] <= 126) ? s[n] : '_';
    if (n == 0 && size >= 2)
        out[n++] = '-';
    out[n] = '\0';
}

int out_syslog_sd_escape(const char *s, size_t len, struct dbuf *out)
{
    size_t start = 0;
    int rc = DF_OK;

    for (size_t i = 0; i < len && rc == DF_OK; i++) {
        if (s[i] != '"' && s[i] != '\\' && s[i] != ']')
            continue;
        rc = dbuf_append(out, s + start, i - start);
        if (rc == DF_OK)
            rc = dbuf_putc(out, '\\');
        start = i;
    }
    return rc == DF_OK ? dbuf_append(out, s + start, len - start) : rc;
}

static int sd_param(struct dbuf *out, const char *name, const char *value)
{
    int rc = dbuf_printf(out, " %s=\"", name);
    if (rc == DF_OK)
        rc = out_syslog_sd_escape(value, strlen(value), out);
    return rc == DF_OK ? dbuf_putc(out, '"') : rc;
}

int out_syslog_header(const struct out_syslog_hdr *h, const struct out_syslog_msg *m,
                      struct dbuf *out)
{
    int pri = h->facility * 8 + m->severity;
    char ts[32];
    int rc;

    if (h->protocol == OUT_SYSLOG_RFC3164) {
        out_syslog_ts3164(m->ticks, ts);
        return dbuf_printf(out, "<%d>%s %s %s[%s]: ", pri, ts, h->hostname, h->app_name, h->procid);
    }
    out_syslog_ts5424(m->ticks, ts);
    rc = dbuf_printf(out, "<%d>1 %s %s %s %s %s [%s", pri, ts, h->hostname, h->app_name, h->procid,
                     m->type == EVT_ALERT ? "alert" : "incident", h->sd_id);
    if (rc == DF_OK)
        rc = sd_param(out, "eventId", m->event_id);
    if (rc == DF_OK && m->tenant != NULL)
        rc = sd_param(out, "tenant", m->tenant);
    if (rc == DF_OK && m->incident_id != NULL && m->incident_id[0] != '\0')
        rc = sd_param(out, "incidentId", m->incident_id);
    if (rc == DF_OK && m->truncated_from > 0)
        rc = dbuf_printf(out, " truncated=\"%" PRIu64 "\"", m->truncated_from);
    return rc == DF_OK ? dbuf_puts(out, "] ") : rc;
}

int out_syslog_frame(enum out_syslog_framing framing, const char *msg, size_t len, struct dbuf *out)
{
    int rc;

    if (framing == OUT_SYSLOG_NEWLINE) {
        /* Callers never pass a raw LF (CEF and JSON escape it, header fields are printable
         * ASCII); one would split the event in two at the receiver. */
        if (NEVER(memchr(msg, '\n', len) != NULL))
            return DF_EINVAL;
        rc = dbuf_append(out, msg, len);
        return rc == DF_OK ? dbuf_putc(out, '\n') : rc;
    }
    rc = dbuf_printf(out, "%zu ", len);
    return rc == DF_OK ? dbuf_append(out, msg, len) : rc;
}
