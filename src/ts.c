/*
 * Timestamps, durations, sizes and HTTP dates.
 *
 * Defender timestamps are .NET round-trip values with trailing fractional zeros removed
 * (reference/api.md §3.6): 0 to 7 digits of a 100 ns tick. They are parsed to an exact integer
 * tick count and never rounded, because the collector's position and the version index compare
 * them numerically (SPEC §3 rules 2 and 4). The calendar maths is Howard Hinnant's
 * days_from_civil / civil_from_days (proleptic Gregorian, any year), so nothing here depends on
 * timegm(), the TZ variable or the C library's time_t range.
 */
#include "ts.h"

#include "common.h"

#include <string.h>
#include <time.h>

#define SECS_PER_DAY  86400LL
#define TICKS_PER_DAY (SECS_PER_DAY * TS_TICKS_PER_SEC)

/* Days since 1970-01-01 of a proleptic Gregorian date; m in 1..12, d in 1..31. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;                                   /* [0, 399] */
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

/* Inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int) (doy - (153 * mp + 2) / 5 + 1);
    *m = (int) (mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads exactly n decimal digits at s; -1 if any is not a digit. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Ticks of a validated civil date and time. Years are four digits (0000-9999), so the result
 * stays far inside int64 (year 9999 is about 2.5e17 ticks, year 0 about -6.2e17). */
static int64_t civil_ticks(int64_t y, int mo, int d, int h, int mi, int s)
{
    int64_t secs = days_from_civil(y, mo, d) * SECS_PER_DAY + h * 3600LL + mi * 60LL + s;
    return secs * TS_TICKS_PER_SEC;
}

static int valid_civil(int64_t y, int mo, int d, int h, int mi, int s)
{
    /* No leap second: .NET DateTime cannot represent :60, so the API never sends it. */
    return mo >= 1 && mo <= 12 && d >= 1 && d <= days_in_month(y, mo) && h >= 0 && h <= 23 &&
           mi >= 0 && mi <= 59 && s >= 0 && s <= 59;
}

int ts_parse(const char *s, size_t len, int64_t *ticks)
{
    int y, mo, d, h, mi, sec;
    int64_t frac = 0;
    size_t i;

    /* "YYYY-MM-DDThh:mm:ss" is 19 bytes, then an optional fraction, then "Z". */
    if (s == NULL || len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':')
        return DF_EPARSE;
    y = digits(s, 4);
    mo = digits(s + 5, 2);
    d = digits(s + 8, 2);
    h = digits(s + 11, 2);
    mi = digits(s + 14, 2);
    sec = digits(s + 17, 2);
    if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || sec < 0 ||
        !valid_civil(y, mo, d, h, mi, sec))
        return DF_EPARSE;
    i = 19;
    if (s[i] == '.') {
        int n = 0;
        i++;
        while (i < len && is_digit(s[i])) {
            if (++n > 7) /* finer than a tick: would have to round, so refuse */
                return DF_EPARSE;
            frac = frac * 10 + (s[i] - '0');
            i++;
        }
        if (n == 0)
            return DF_EPARSE;
        for (; n < 7; n++)
            frac *= 10;
    }
    if (i + 1 != len || s[i] != 'Z')
        return DF_EPARSE;
    *ticks = civil_ticks(y, mo, d, h, mi, sec) + frac;
    return DF_OK;
}

/* Floor division and modulo, so that instants before 1970 format and convert correctly. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b) /* b > 0; no intermediate overflow */
{
    int64_t r = a % b;
    return r < 0 ? r + b : r;
}

/* Writes v as exactly n digits (v >= 0, fits). */
static void put_digits(char *out, int64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        out[i] = (char) ('0' + v % 10);
        v /= 10;
    }
}

/* Formats "YYYY-MM-DDThh:mm:ss" and returns its length; years outside 0-9999 (never produced
 * by ts_parse) get a sign and as many digits as needed, so no input is undefined. */
static size_t format_seconds(int64_t ticks, char *out, int64_t *frac)
{
    int64_t days = floor_div(ticks, TICKS_PER_DAY);
    int64_t rem = floor_mod(ticks, TICKS_PER_DAY); /* [0, TICKS_PER_DAY) */
    int64_t secs = rem / TS_TICKS_PER_SEC, y;
    int m, d;
    size_t n = 0;

    *frac = rem % TS_TICKS_PER_SEC;
    civil_from_days(days, &y, &m, &d);
    if (y < 0) {
        out[n++] = '-';
        y = -y;
    }
    if (y > 9999) {
        int nd = 0;
        for (int64_t t = y; t > 0; t /= 10)
            nd++;
        put_digits(out + n, y, nd);
        n += (size_t) nd;
    } else {
        put_digits(out + n, y, 4);
        n += 4;
    }
    out[n++] = '-';
    put_digits(out + n, m, 2);
    n += 2;
    out[n++] = '-';
    put_digits(out + n, d, 2);
    n += 2;
    out[n++] = 'T';
    put_digits(out + n, secs / 3600, 2);
    n += 2;
    out[n++] = ':';
    put_digits(out + n, secs / 60 % 60, 2);
    n += 2;
    out[n++] = ':';
    put_digits(out + n, secs % 60, 2);
    n += 2;
    return n;
}

size_t ts_format7(int64_t ticks, char out[TS_FMT_MAX])
{
    int64_t frac;
    size_t n = format_seconds(ticks, out, &frac);

    out[n++] = '.';
    put_digits(out + n, frac, 7);
    n += 7;
    out[n++] = 'Z';
    out[n] = '\0';
    return n;
}

size_t ts_format_trimmed(int64_t ticks, char out[TS_FMT_MAX])
{
    int64_t frac;
    size_t n = format_seconds(ticks, out, &frac);

    if (frac != 0) {
        int nd = 7;
        while (frac % 10 == 0) {
            frac /= 10;
            nd--;
        }
        out[n++] = '.';
        put_digits(out + n, frac, nd);
        n += (size_t) nd;
    }
    out[n++] = 'Z';
    out[n] = '\0';
    return n;
}

int64_t ts_to_ms(int64_t ticks)
{
    return floor_div(ticks, TS_TICKS_PER_SEC / 1000);
}

/* Reads a non-empty run of decimal digits into *v, failing on overflow past max. Returns the
 * number of bytes consumed, 0 on failure. */
static size_t read_uint(const char *s, uint64_t max, uint64_t *v)
{
    size_t i = 0;
    uint64_t acc = 0;

    while (is_digit(s[i])) {
        unsigned dgt = (unsigned) (s[i] - '0');
        if (acc > (max - dgt) / 10)
            return 0;
        acc = acc * 10 + dgt;
        i++;
    }
    if (i == 0)
        return 0;
    *v = acc;
    return i;
}

int ts_parse_duration(const char *s, int64_t *seconds)
{
    uint64_t n, mult;
    size_t i;

    if (s == NULL)
        return DF_EPARSE;
    i = read_uint(s, (uint64_t) INT64_MAX, &n);
    if (i == 0 || n == 0 || s[i] == '\0' || s[i + 1] != '\0')
        return DF_EPARSE;
    switch (s[i]) {
    case 's':
        mult = 1;
        break;
    case 'm':
        mult = 60;
        break;
    case 'h':
        mult = 3600;
        break;
    case 'd':
        mult = 86400;
        break;
    default:
        return DF_EPARSE;
    }
    if (n > (uint64_t) INT64_MAX / mult)
        return DF_EPARSE;
    *seconds = (int64_t) (n * mult);
    return DF_OK;
}

int ts_parse_size(const char *s, uint64_t *bytes)
{
    static const struct {
        const char *unit;
        unsigned shift;
    } units[] = {{"", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}};
    uint64_t n;
    size_t i;

    if (s == NULL)
        return DF_EPARSE;
    i = read_uint(s, UINT64_MAX, &n);
    if (i == 0)
        return DF_EPARSE;
    for (size_t u = 0; u < DF_ARRAY_LEN(units); u++) {
        if (strcmp(s + i, units[u].unit) == 0) {
            if (n > UINT64_MAX >> units[u].shift)
                return DF_EPARSE;
            *bytes = n << units[u].shift;
            return DF_OK;
        }
    }
    return DF_EPARSE;
}

/* Index 0-11 of a three-letter English month name, -1 if none. */
static int month_index(const char *s)
{
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int i = 0; i < 12; i++) {
        if (memcmp(s, names + (size_t) 3 * (size_t) i, 3) == 0)
            return i;
    }
    return -1;
}

static int is_wkday(const char *s)
{
    static const char names[] = "MonTueWedThuFriSatSun";
    for (int i = 0; i < 7; i++) {
        if (memcmp(s, names + (size_t) 3 * (size_t) i, 3) == 0)
            return 1;
    }
    return 0;
}

/* "hh:mm:ss" at s. */
static int read_hms(const char *s, int *h, int *mi, int *sec)
{
    if (s[2] != ':' || s[5] != ':')
        return -1;
    *h = digits(s, 2);
    *mi = digits(s + 3, 2);
    *sec = digits(s + 6, 2);
    return (*h < 0 || *mi < 0 || *sec < 0) ? -1 : 0;
}

int ts_parse_http_date(const char *s, int64_t *epoch_s)
{
    /* RFC 7231 §7.1.1.1: senders use IMF-fixdate, recipients must also accept the obsolete
     * RFC 850 and asctime forms. Surrounding whitespace (a header value not yet trimmed) is
     * tolerated; the weekday name is checked for shape, not for consistency with the date. */
    char buf[64];
    size_t len;
    int y, mo, d, h, mi, sec;
    const char *p;

    if (s == NULL)
        return DF_EPARSE;
    while (*s == ' ' || *s == '\t')
        s++;
    len = strlen(s);
    while (len > 0 &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
        len--;
    if (len < 24 || len >= sizeof(buf))
        return DF_EPARSE;
    memcpy(buf, s, len);
    buf[len] = '\0';
    p = buf;

    if (len == 29 && p[3] == ',') {
        /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
        if (!is_wkday(p) || p[4] != ' ' || p[7] != ' ' || p[11] != ' ' || p[16] != ' ' ||
            p[25] != ' ' || memcmp(p + 26, "GMT", 3) != 0)
            return DF_EPARSE;
        d = digits(p + 5, 2);
        mo = month_index(p + 8) + 1;
        y = digits(p + 12, 4);
        if (read_hms(p + 17, &h, &mi, &sec) != 0)
            return DF_EPARSE;
    } else if (len == 24 && p[3] == ' ') {
        /* asctime: "Sun Nov  6 08:49:37 1994" (day padded with a space) */
        if (!is_wkday(p) || p[7] != ' ' || p[10] != ' ' || p[19] != ' ')
            return DF_EPARSE;
        mo = month_index(p + 4) + 1;
        d = p[8] == ' ' ? digits(p + 9, 1) : digits(p + 8, 2);
        y = digits(p + 20, 4);
        if (read_hms(p + 11, &h, &mi, &sec) != 0)
            return DF_EPARSE;
    } else {
        /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
        static const char *const days[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                           "Friday", "Saturday", "Sunday"};
        size_t wl = 0;
        for (size_t i = 0; i < DF_ARRAY_LEN(days); i++) {
            size_t l = strlen(days[i]);
            if (strncmp(p, days[i], l) == 0 && p[l] == ',') {
                wl = l;
                break;
            }
        }
        if (wl == 0 || len != wl + 24)
            return DF_EPARSE;
        p += wl + 1;
        if (p[0] != ' ' || p[3] != '-' || p[7] != '-' || p[10] != ' ' || p[19] != ' ' ||
            memcmp(p + 20, "GMT", 3) != 0)
            return DF_EPARSE;
        d = digits(p + 1, 2);
        mo = month_index(p + 4) + 1;
        y = digits(p + 8, 2);
        /* Two-digit years: 70-99 are 19xx, 00-69 are 20xx (a fixed pivot keeps parsing
         * independent of the host clock; nobody sends this form for dates before 1970). */
        if (y >= 0)
            y += y >= 70 ? 1900 : 2000;
        if (read_hms(p + 11, &h, &mi, &sec) != 0)
            return DF_EPARSE;
    }
    if (d < 0 || mo < 1 || y < 0)
        return DF_EPARSE;
    /* HTTP allows a leap second (:60); read it as :59 (one second early at worst). */
    if (sec == 60)
        sec = 59;
    if (!valid_civil(y, mo, d, h, mi, sec))
        return DF_EPARSE;
    *epoch_s = days_from_civil(y, mo, d) * SECS_PER_DAY + h * 3600LL + mi * 60LL + sec;
    return DF_OK;
}

int64_t ts_now_ticks(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0; /* cannot fail with CLOCK_REALTIME and a valid pointer */
    return (int64_t) ts.tv_sec * TS_TICKS_PER_SEC + ts.tv_nsec / 100;
}
