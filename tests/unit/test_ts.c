/* Unit tests for src/ts.c: Defender timestamps, durations, sizes, HTTP dates. Expected epoch
 * values were computed independently with `date -u -d … +%s`. */
#include "common.h"
#include "ts.h"
#include "unit.h"

#include <string.h>

#define T(s) (s), strlen(s)

static int64_t parse_ok(const char *s)
{
    int64_t t = -42;
    int rc = ts_parse(s, strlen(s), &t);
    CU_ASSERT_EQUAL(rc, DF_OK);
    return t;
}

static void parse_bad(const char *s)
{
    int64_t t = 12345;
    CU_ASSERT_EQUAL(ts_parse(s, strlen(s), &t), DF_EPARSE);
    CU_ASSERT_EQUAL(t, 12345); /* untouched on failure */
}

/* The real values of reference/api.md §3.6, one per digit count. */
static void test_parse_api_examples(void)
{
    CU_ASSERT_EQUAL(parse_ok("2020-09-06T14:46:57.0733333Z"), 1599403617LL * 10000000 + 733333);
    CU_ASSERT_EQUAL(parse_ok("2020-06-30T10:07:44.333733Z"), 1593511664LL * 10000000 + 3337330);
    CU_ASSERT_EQUAL(parse_ok("2021-03-22T12:36:35.15034Z"), 1616416595LL * 10000000 + 1503400);
    CU_ASSERT_EQUAL(parse_ok("2021-03-15T06:26:43.725Z"), 1615789603LL * 10000000 + 7250000);
    CU_ASSERT_EQUAL(parse_ok("2020-09-06T14:46:57.29Z"), 1599403617LL * 10000000 + 2900000);
    CU_ASSERT_EQUAL(parse_ok("2020-09-04T05:22:59Z"), 1599196979LL * 10000000);
    /* 1, 4 digits and a fraction with inner zeros */
    CU_ASSERT_EQUAL(parse_ok("2020-09-04T05:22:59.1Z"), 1599196979LL * 10000000 + 1000000);
    CU_ASSERT_EQUAL(parse_ok("2020-09-04T05:22:59.0001Z"), 1599196979LL * 10000000 + 1000);
    CU_ASSERT_EQUAL(parse_ok("2020-09-04T05:22:59.0000001Z"), 1599196979LL * 10000000 + 1);
    CU_ASSERT_EQUAL(parse_ok("2020-09-04T05:22:59.9999999Z"), 1599196979LL * 10000000 + 9999999);
}

/* String order is wrong for these ('Z' > '.'); tick order is right. */
static void test_parse_ordering(void)
{
    int64_t a = parse_ok("2020-09-06T14:46:57Z");
    int64_t b = parse_ok("2020-09-06T14:46:57.1Z");
    int64_t c = parse_ok("2020-09-06T14:46:57.0000001Z");
    CU_ASSERT(strcmp("2020-09-06T14:46:57Z", "2020-09-06T14:46:57.1Z") > 0);
    CU_ASSERT(a < c);
    CU_ASSERT(c < b);
    CU_ASSERT_EQUAL(c - a, 1);
    /* same instant, different digit counts */
    CU_ASSERT_EQUAL(parse_ok("2020-09-06T14:46:57.29Z"), parse_ok("2020-09-06T14:46:57.2900000Z"));
}

static void test_parse_calendar(void)
{
    CU_ASSERT_EQUAL(parse_ok("1970-01-01T00:00:00Z"), 0);
    CU_ASSERT_EQUAL(parse_ok("2000-02-29T00:00:00Z"), 951782400LL * 10000000);
    CU_ASSERT_EQUAL(parse_ok("2024-02-29T23:59:59Z"), 1709251199LL * 10000000);
    CU_ASSERT_EQUAL(parse_ok("2100-03-01T00:00:00Z"), 4107542400LL * 10000000);
    CU_ASSERT_EQUAL(parse_ok("9999-12-31T23:59:59.9999999Z"), 253402300799LL * 10000000 + 9999999);
    /* before the epoch: negative ticks, no undefined behaviour */
    CU_ASSERT_EQUAL(parse_ok("1969-12-31T23:59:59Z"), -10000000);
    CU_ASSERT_EQUAL(parse_ok("1969-12-31T23:59:59.9999999Z"), -1);
    CU_ASSERT_EQUAL(parse_ok("0001-01-01T00:00:00Z"), -62135596800LL * 10000000);
    /* month lengths and leap years */
    parse_bad("2023-02-29T00:00:00Z");
    parse_bad("1900-02-29T00:00:00Z"); /* divisible by 100, not by 400 */
    parse_bad("2100-02-29T00:00:00Z");
    parse_ok("2000-02-29T00:00:00Z"); /* divisible by 400 */
    parse_ok("2024-04-30T00:00:00Z");
    parse_bad("2024-04-31T00:00:00Z");
    parse_bad("2024-06-31T00:00:00Z");
    parse_bad("2024-09-31T00:00:00Z");
    parse_bad("2024-11-31T00:00:00Z");
    parse_ok("2024-12-31T00:00:00Z");
    parse_bad("2024-01-32T00:00:00Z");
    parse_bad("2024-00-10T00:00:00Z");
    parse_bad("2024-13-10T00:00:00Z");
    parse_bad("2024-01-00T00:00:00Z");
    parse_bad("2024-01-01T24:00:00Z");
    parse_bad("2024-01-01T23:60:00Z");
    parse_bad("2024-01-01T23:59:60Z"); /* .NET has no leap seconds */
}

static void test_parse_bad(void)
{
    int64_t t;

    parse_bad("2020-09-06T14:46:57.12345678Z"); /* 8 digits: finer than a tick */
    parse_bad("2020-09-06T14:46:57.000000000Z");
    parse_bad("2020-09-06T14:46:57.Z"); /* dot without digits */
    parse_bad("2020-09-06T14:46:57");   /* no Z */
    parse_bad("2020-09-06T14:46:57.29");
    parse_bad("2020-09-06T14:46:57+00:00"); /* offsets: the API always sends Z */
    parse_bad("2020-09-06T14:46:57.29+01:00");
    parse_bad("2020-09-06T14:46:57z");
    parse_bad("2020-09-06t14:46:57Z");
    parse_bad("2020-09-06 14:46:57Z");
    parse_bad("2020-09-06T14:46:57ZZ"); /* trailing bytes */
    parse_bad("2020-09-06T14:46:57Z ");
    parse_bad(" 2020-09-06T14:46:57Z");
    parse_bad("2020-9-06T14:46:57Z");
    parse_bad("20200-09-06T14:46:57Z");
    parse_bad("2020-09-06T14:46:5Z");
    parse_bad("2020-09-06T14:4a:57Z");
    parse_bad("+020-09-06T14:46:57Z");
    parse_bad("-020-09-06T14:46:57Z");
    parse_bad("2020-09-06T14:46:57.-1Z");
    parse_bad("2020-09-06T14:46:57.1a2Z");
    parse_bad("");
    parse_bad("Z");
    parse_bad("2020-09-06");
    CU_ASSERT_EQUAL(ts_parse(NULL, 0, &t), DF_EPARSE);
    /* len is authoritative: a valid prefix of a longer buffer parses, a cut one does not */
    CU_ASSERT_EQUAL(ts_parse("2020-09-06T14:46:57Zjunk", 20, &t), DF_OK);
    CU_ASSERT_EQUAL(t, 1599403617LL * 10000000);
    CU_ASSERT_EQUAL(ts_parse("2020-09-06T14:46:57.29Z", 22, &t), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse("2020-09-06T14:46:57Z", 19, &t), DF_EPARSE);
}

static void check_format(int64_t ticks, const char *want7, const char *want_trimmed)
{
    char buf[TS_FMT_MAX];
    size_t n;

    n = ts_format7(ticks, buf);
    CU_ASSERT_STRING_EQUAL(buf, want7);
    CU_ASSERT_EQUAL(n, strlen(want7));
    n = ts_format_trimmed(ticks, buf);
    CU_ASSERT_STRING_EQUAL(buf, want_trimmed);
    CU_ASSERT_EQUAL(n, strlen(want_trimmed));
}

static void test_format(void)
{
    check_format(0, "1970-01-01T00:00:00.0000000Z", "1970-01-01T00:00:00Z");
    check_format(1, "1970-01-01T00:00:00.0000001Z", "1970-01-01T00:00:00.0000001Z");
    check_format(-1, "1969-12-31T23:59:59.9999999Z", "1969-12-31T23:59:59.9999999Z");
    check_format(1599403617LL * 10000000 + 2900000, "2020-09-06T14:46:57.2900000Z",
                 "2020-09-06T14:46:57.29Z");
    check_format(1599403617LL * 10000000 + 1000000, "2020-09-06T14:46:57.1000000Z",
                 "2020-09-06T14:46:57.1Z");
    check_format(951782400LL * 10000000, "2000-02-29T00:00:00.0000000Z", "2000-02-29T00:00:00Z");
    check_format(253402300799LL * 10000000 + 9999999, "9999-12-31T23:59:59.9999999Z",
                 "9999-12-31T23:59:59.9999999Z");
    check_format(-62135596800LL * 10000000, "0001-01-01T00:00:00.0000000Z", "0001-01-01T00:00:00Z");
    /* Far outside what ts_parse accepts: no overflow, no undefined behaviour (UBSan). */
    {
        char buf[TS_FMT_MAX];
        CU_ASSERT(ts_format7(INT64_MAX, buf) < TS_FMT_MAX);
        CU_ASSERT(ts_format_trimmed(INT64_MAX, buf) < TS_FMT_MAX);
        CU_ASSERT(ts_format7(INT64_MIN, buf) < TS_FMT_MAX);
        CU_ASSERT_EQUAL(buf[0], '-');
        CU_ASSERT(ts_format_trimmed(INT64_MIN, buf) < TS_FMT_MAX);
        CU_ASSERT_EQUAL(ts_to_ms(INT64_MIN), INT64_MIN / 10000 - 1); /* floor */
    }
}

/* Every API example prints back exactly as received, and format7 parses back to the same tick. */
static void test_round_trip(void)
{
    static const char *const api[] = {
        "2020-09-06T14:46:57.0733333Z", "2020-06-30T10:07:44.333733Z",
        "2021-03-22T12:36:35.15034Z",   "2021-03-15T06:26:43.725Z",
        "2020-09-06T14:46:57.29Z",      "2020-09-04T05:22:59Z",
        "2026-02-25T16:29:33.1Z",       "2021-08-13T08:43:35.5533333Z",
        "2000-02-29T12:00:00.0000001Z",
    };
    char buf[TS_FMT_MAX];
    int64_t t, back;

    for (size_t i = 0; i < DF_ARRAY_LEN(api); i++) {
        t = parse_ok(api[i]);
        ts_format_trimmed(t, buf);
        CU_ASSERT_STRING_EQUAL(buf, api[i]);
        ts_format7(t, buf);
        CU_ASSERT_EQUAL(strlen(buf), 28);
        CU_ASSERT_EQUAL(ts_parse(T(buf), &back), DF_OK);
        CU_ASSERT_EQUAL(back, t);
    }
    /* A sweep across leap days, month ends and the epoch, one odd step at a time. */
    for (t = -400LL * 86400 * 10000000; t < 3LL * 366 * 86400 * 10000000;
         t += 86399LL * 10000000 + 1234567) {
        ts_format_trimmed(t, buf);
        CU_ASSERT_EQUAL_FATAL(ts_parse(T(buf), &back), DF_OK);
        CU_ASSERT_EQUAL_FATAL(back, t);
    }
}

static void test_to_ms(void)
{
    CU_ASSERT_EQUAL(ts_to_ms(parse_ok("2020-09-06T14:46:57.29Z")), 1599403617290LL);
    CU_ASSERT_EQUAL(ts_to_ms(parse_ok("2020-09-06T14:46:57.0733333Z")), 1599403617073LL);
    CU_ASSERT_EQUAL(ts_to_ms(parse_ok("2020-09-06T14:46:57.9999999Z")), 1599403617999LL);
    CU_ASSERT_EQUAL(ts_to_ms(0), 0);
    CU_ASSERT_EQUAL(ts_to_ms(9999), 0);
    CU_ASSERT_EQUAL(ts_to_ms(10000), 1);
    CU_ASSERT_EQUAL(ts_to_ms(-1), -1); /* floor, not truncation toward zero */
    CU_ASSERT_EQUAL(ts_to_ms(-10000), -1);
    CU_ASSERT_EQUAL(ts_to_ms(-10001), -2);
}

static void test_duration(void)
{
    int64_t s = -1;

    CU_ASSERT_EQUAL(ts_parse_duration("30s", &s), DF_OK);
    CU_ASSERT_EQUAL(s, 30);
    CU_ASSERT_EQUAL(ts_parse_duration("5m", &s), DF_OK);
    CU_ASSERT_EQUAL(s, 300);
    CU_ASSERT_EQUAL(ts_parse_duration("2h", &s), DF_OK);
    CU_ASSERT_EQUAL(s, 7200);
    CU_ASSERT_EQUAL(ts_parse_duration("7d", &s), DF_OK);
    CU_ASSERT_EQUAL(s, 604800);
    CU_ASSERT_EQUAL(ts_parse_duration("1s", &s), DF_OK);
    CU_ASSERT_EQUAL(s, 1);
    CU_ASSERT_EQUAL(ts_parse_duration("180d", &s), DF_OK);
    CU_ASSERT_EQUAL(s, 180LL * 86400);
    CU_ASSERT_EQUAL(ts_parse_duration("9223372036854775807s", &s), DF_OK);
    CU_ASSERT_EQUAL(s, INT64_MAX);
    CU_ASSERT_EQUAL(ts_parse_duration("106751991167300d", &s), DF_OK); /* INT64_MAX / 86400 */
    CU_ASSERT_EQUAL(s, 106751991167300LL * 86400);

    s = 77;
    CU_ASSERT_EQUAL(ts_parse_duration("9223372036854775808s", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_duration("106751991167301d", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_duration("153722867280912931m", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_duration("99999999999999999999999s", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_duration("0s", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_duration("00m", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_duration("-5m", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_duration("+5m", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_duration("30", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_duration("s", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_duration("", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_duration(" 30s", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_duration("30s ", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_duration("30 s", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_duration("30ss", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_duration("30ms", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_duration("30S", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_duration("30w", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_duration("1.5h", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_duration("1h30m", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_duration(NULL, &s), DF_EPARSE);
    CU_ASSERT_EQUAL(s, 77);
}

static void test_size(void)
{
    uint64_t b = 1;

    CU_ASSERT_EQUAL(ts_parse_size("1024", &b), DF_OK);
    CU_ASSERT_EQUAL(b, 1024);
    CU_ASSERT_EQUAL(ts_parse_size("0", &b), DF_OK);
    CU_ASSERT_EQUAL(b, 0);
    CU_ASSERT_EQUAL(ts_parse_size("64KiB", &b), DF_OK);
    CU_ASSERT_EQUAL(b, 64ULL * 1024);
    CU_ASSERT_EQUAL(ts_parse_size("10MiB", &b), DF_OK);
    CU_ASSERT_EQUAL(b, 10ULL * 1024 * 1024);
    CU_ASSERT_EQUAL(ts_parse_size("1GiB", &b), DF_OK);
    CU_ASSERT_EQUAL(b, 1024ULL * 1024 * 1024);
    CU_ASSERT_EQUAL(ts_parse_size("18446744073709551615", &b), DF_OK);
    CU_ASSERT_EQUAL(b, UINT64_MAX);
    CU_ASSERT_EQUAL(ts_parse_size("17179869183GiB", &b), DF_OK); /* (2^64 - 1) >> 30 */
    CU_ASSERT_EQUAL(b, 17179869183ULL << 30);

    b = 5;
    CU_ASSERT_EQUAL(ts_parse_size("18446744073709551616", &b), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_size("17179869184GiB", &b), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_size("18014398509481984KiB", &b), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_size("1KB", &b), DF_EPARSE); /* SI-looking units: ambiguous */
    CU_ASSERT_EQUAL(ts_parse_size("1MB", &b), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_size("1GB", &b), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_size("1kib", &b), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_size("1TiB", &b), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_size("1 GiB", &b), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_size("1GiB ", &b), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_size("GiB", &b), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_size("-1", &b), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_size("1.5GiB", &b), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_size("", &b), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_size(NULL, &b), DF_EPARSE);
    CU_ASSERT_EQUAL(b, 5);
}

static void test_http_date(void)
{
    int64_t s = -1;

    CU_ASSERT_EQUAL(ts_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", &s), DF_OK);
    CU_ASSERT_EQUAL(s, 784111777);
    CU_ASSERT_EQUAL(ts_parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT", &s), DF_OK);
    CU_ASSERT_EQUAL(s, 0);
    CU_ASSERT_EQUAL(ts_parse_http_date("Thu, 29 Feb 2024 23:59:59 GMT", &s), DF_OK);
    CU_ASSERT_EQUAL(s, 1709251199);
    /* obsolete forms recipients must accept (RFC 7231 §7.1.1.1) */
    CU_ASSERT_EQUAL(ts_parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", &s), DF_OK);
    CU_ASSERT_EQUAL(s, 784111777);
    CU_ASSERT_EQUAL(ts_parse_http_date("Sun Nov  6 08:49:37 1994", &s), DF_OK);
    CU_ASSERT_EQUAL(s, 784111777);
    CU_ASSERT_EQUAL(ts_parse_http_date("Thursday, 29-Feb-24 23:59:59 GMT", &s), DF_OK);
    CU_ASSERT_EQUAL(s, 1709251199);
    /* a leap second reads as :59 */
    CU_ASSERT_EQUAL(ts_parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT", &s), DF_OK);
    CU_ASSERT_EQUAL(s, 1483228799);
    /* surrounding whitespace of a raw header value */
    CU_ASSERT_EQUAL(ts_parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT\r\n", &s), DF_OK);
    CU_ASSERT_EQUAL(s, 784111777);

    s = 9;
    CU_ASSERT_EQUAL(ts_parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_http_date("Sun, 06 Nov 1994 08:49:37", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_http_date("Sun, 6 Nov 1994 08:49:37 GMT", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_http_date("Xyz, 06 Nov 1994 08:49:37 GMT", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_http_date("Sun, 31 Nov 1994 08:49:37 GMT", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_http_date("Sun, 06 Nov 1994 08-49-37 GMT", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_http_date("Sun, 06 Nov 94 08:49:37 GMT", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_http_date("1994-11-06T08:49:37Z", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_http_date("", &s), DF_EPARSE);
    CU_ASSERT_EQUAL(ts_parse_http_date(NULL, &s), DF_EPARSE);
    CU_ASSERT_EQUAL(s, 9);
}

static void test_now(void)
{
    int64_t a = ts_now_ticks(), b = ts_now_ticks();

    /* after 2024-01-01 and monotone enough for two calls in a row */
    CU_ASSERT(a > 1704067200LL * TS_TICKS_PER_SEC);
    CU_ASSERT(b >= a);
}

void unit_register(void)
{
    CU_pSuite s = CU_add_suite("ts", NULL, NULL);

    CU_add_test(s, "parse: api.md 3.6 examples, 0-7 digits", test_parse_api_examples);
    CU_add_test(s, "parse: tick order differs from string order", test_parse_ordering);
    CU_add_test(s, "parse: calendar, leap years, epoch edges", test_parse_calendar);
    CU_add_test(s, "parse: rejects malformed input", test_parse_bad);
    CU_add_test(s, "format7 and trimmed", test_format);
    CU_add_test(s, "round trips", test_round_trip);
    CU_add_test(s, "ticks to epoch ms (floor)", test_to_ms);
    CU_add_test(s, "durations", test_duration);
    CU_add_test(s, "sizes", test_size);
    CU_add_test(s, "HTTP dates", test_http_date);
    CU_add_test(s, "host clock", test_now);
}
