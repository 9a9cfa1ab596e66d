/*
 * Timestamps, durations, sizes and HTTP dates (src/ts.c). The whole input goes to every
 * parser; whatever parses must survive a round trip through the matching formatter:
 *   ts_parse -> ts_format7 / ts_format_trimmed -> ts_parse gives the same ticks, and the
 *   trimmed form is the input itself when the input was already trimmed;
 *   the first 8 bytes as ticks -> ts_format7 -> ts_parse, for every year ts_parse accepts;
 *   durations, sizes and HTTP dates re-rendered canonically parse to the same value.
 */
#include "common.h"
#include "fuzz_util.h"
#include "ts.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z in ticks: the range ts_parse can produce. */
#define MIN_TICKS (-719528LL * 86400 * TS_TICKS_PER_SEC)
#define END_TICKS (2932897LL * 86400 * TS_TICKS_PER_SEC)

static void check_ticks(int64_t ticks)
{
    char a[TS_FMT_MAX], b[TS_FMT_MAX];
    size_t na = ts_format7(ticks, a), nb = ts_format_trimmed(ticks, b);
    int64_t back, ms = ts_to_ms(ticks);

    FUZZ_CHECK(na < TS_FMT_MAX && nb < TS_FMT_MAX && strlen(a) == na && strlen(b) == nb);
    /* floor, also before 1970 (written so that no step can overflow near INT64_MIN) */
    FUZZ_CHECK(ms == ticks / 10000 - (ticks % 10000 < 0));
    if (ticks < MIN_TICKS || ticks >= END_TICKS)
        return;
    FUZZ_CHECK(ts_parse(a, na, &back) == DF_OK && back == ticks);
    FUZZ_CHECK(ts_parse(b, nb, &back) == DF_OK && back == ticks);
}

/* True when s is in the API's trimmed form: no fraction, or one not ending in '0'. */
static int is_trimmed(const char *s, size_t len)
{
    return len < 21 || s[19] != '.' || s[len - 2] != '0';
}

static void check_http_date(int64_t epoch)
{
    static const char *const wd[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char ts[TS_FMT_MAX], buf[64];
    int64_t days = epoch >= 0 ? epoch / 86400 : -((-epoch + 86399) / 86400), back;
    int y, m, d, h, mi, s;

    /* Reuse ts_format7 for the civil date: "YYYY-MM-DDThh:mm:ss..." */
    FUZZ_CHECK(epoch >= MIN_TICKS / TS_TICKS_PER_SEC && epoch < END_TICKS / TS_TICKS_PER_SEC);
    ts_format7(epoch * TS_TICKS_PER_SEC, ts);
    FUZZ_CHECK(sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &m, &d, &h, &mi, &s) == 6);
    (void) snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                    wd[((days % 7) + 7) % 7], d, mon[m - 1], y, h, mi, s);
    FUZZ_CHECK(ts_parse_http_date(buf, &back) == DF_OK && back == epoch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *) data;
    char *z, num[48];
    int64_t ticks, secs, back;
    uint64_t bytes, bback;

    if (ts_parse(s, size, &ticks) == DF_OK) {
        char t[TS_FMT_MAX];
        size_t n = ts_format_trimmed(ticks, t);
        check_ticks(ticks);
        FUZZ_CHECK(!is_trimmed(s, size) || (n == size && memcmp(t, s, n) == 0));
    }
    if (size >= 8) {
        uint64_t u = 0;
        for (int i = 0; i < 8; i++)
            u = (u << 8) | data[i];
        check_ticks((int64_t) u);
        /* and once inside the parseable range, where the round trip is checked */
        check_ticks(MIN_TICKS + (int64_t) (u % (uint64_t) (END_TICKS - MIN_TICKS)));
    }

    /* The other parsers take C strings: an embedded NUL simply ends the text. */
    z = malloc(size + 1);
    FUZZ_CHECK(z != NULL);
    memcpy(z, data, size);
    z[size] = '\0';
    if (ts_parse_duration(z, &secs) == DF_OK) {
        FUZZ_CHECK(secs > 0);
        (void) snprintf(num, sizeof(num), "%" PRId64 "s", secs);
        FUZZ_CHECK(ts_parse_duration(num, &back) == DF_OK && back == secs);
    }
    if (ts_parse_size(z, &bytes) == DF_OK) {
        (void) snprintf(num, sizeof(num), "%" PRIu64, bytes);
        FUZZ_CHECK(ts_parse_size(num, &bback) == DF_OK && bback == bytes);
    }
    if (ts_parse_http_date(z, &secs) == DF_OK)
        check_http_date(secs);
    free(z);
    return 0;
}
