/* Syslog message building: PRI, RFC 5424 / RFC 3164 headers, SD escaping, framing, the
 * severity and time taken from rendered events, and option defaults. Exact bytes. */
#include "../../unit/unit.h"

#include "out_syslog/out_syslog_conf.h"
#include "out_syslog/out_syslog_fmt.h"
#include "ts.h"

#include <stdlib.h>
#include <string.h>

#define ID "07f904b3bae3de7051b4458630bbb2ad"

static void test_facility(void)
{
    CU_ASSERT_EQUAL(out_syslog_facility_parse("kern"), 0);
    CU_ASSERT_EQUAL(out_syslog_facility_parse("user"), 1);
    CU_ASSERT_EQUAL(out_syslog_facility_parse("authpriv"), 10);
    CU_ASSERT_EQUAL(out_syslog_facility_parse("LOCAL0"), 16);
    CU_ASSERT_EQUAL(out_syslog_facility_parse("local4"), 20);
    CU_ASSERT_EQUAL(out_syslog_facility_parse("local7"), 23);
    CU_ASSERT_EQUAL(out_syslog_facility_parse("audit"), 13);
    CU_ASSERT_EQUAL(out_syslog_facility_parse("0"), 0);
    CU_ASSERT_EQUAL(out_syslog_facility_parse("23"), 23);
    CU_ASSERT_EQUAL(out_syslog_facility_parse("24"), -1);
    CU_ASSERT_EQUAL(out_syslog_facility_parse("07"), -1);
    CU_ASSERT_EQUAL(out_syslog_facility_parse("-1"), -1);
    CU_ASSERT_EQUAL(out_syslog_facility_parse("local8"), -1);
    CU_ASSERT_EQUAL(out_syslog_facility_parse(""), -1);
    CU_ASSERT_EQUAL(out_syslog_facility_parse(NULL), -1);
}

static void test_severity(void)
{
    /* The product's CEF values (SPEC §4) and the band edges. */
    CU_ASSERT_EQUAL(out_syslog_severity_from_cef(0), 5);
    CU_ASSERT_EQUAL(out_syslog_severity_from_cef(1), 6);
    CU_ASSERT_EQUAL(out_syslog_severity_from_cef(2), 6);
    CU_ASSERT_EQUAL(out_syslog_severity_from_cef(3), 5);
    CU_ASSERT_EQUAL(out_syslog_severity_from_cef(4), 4);
    CU_ASSERT_EQUAL(out_syslog_severity_from_cef(5), 4);
    CU_ASSERT_EQUAL(out_syslog_severity_from_cef(6), 4);
    CU_ASSERT_EQUAL(out_syslog_severity_from_cef(7), 3);
    CU_ASSERT_EQUAL(out_syslog_severity_from_cef(8), 3);
    CU_ASSERT_EQUAL(out_syslog_severity_from_cef(9), 2);
    CU_ASSERT_EQUAL(out_syslog_severity_from_cef(10), 2);
    CU_ASSERT_EQUAL(out_syslog_severity_from_cef(-1), 5);
    CU_ASSERT_EQUAL(out_syslog_cef_severity_of_name("High", 4), 8);
    CU_ASSERT_EQUAL(out_syslog_cef_severity_of_name("high", 4), 8);
    CU_ASSERT_EQUAL(out_syslog_cef_severity_of_name("Medium", 6), 5);
    CU_ASSERT_EQUAL(out_syslog_cef_severity_of_name("Low", 3), 3);
    CU_ASSERT_EQUAL(out_syslog_cef_severity_of_name("Informational", 13), 1);
    CU_ASSERT_EQUAL(out_syslog_cef_severity_of_name("UnSpecified", 11), 0);
    CU_ASSERT_EQUAL(out_syslog_cef_severity_of_name("Very-High", 9), 10);
    CU_ASSERT_EQUAL(out_syslog_cef_severity_of_name("Highest", 7), -1);
    CU_ASSERT_EQUAL(out_syslog_cef_severity_of_name("Hig", 3), -1);
}

static void test_cef_info(void)
{
    struct out_syslog_info info;
    /* Escaped pipes in the name, a value with an escaped "rt\=" before the real key. */
    const char *line = "CEF:0|Microsoft|Microsoft 365 Defender|1.0|alert|a \\| b \\\\|8|"
                       "externalId=da1 msg=x rt\\=5 y start=1 rt=1714564801123 cs6=" ID;
    const char *first = "CEF:0|V|P|1|sig|n|5|rt=1714564801000 cs1=x";
    const char *sev10 = "CEF:0|V|P|1|sig|n|10|cs1=x";
    const char *word = "CEF:0|V|P|1|sig|n|Very-High|cs1=x";
    const char *bad_rt = "CEF:0|V|P|1|sig|n|1|rt=17x";

    CU_ASSERT_EQUAL(out_syslog_cef_info(line, strlen(line), &info), DF_OK);
    CU_ASSERT_EQUAL(info.severity, 3);
    CU_ASSERT_EQUAL(info.ticks, 1714564801123LL * 10000);
    CU_ASSERT_EQUAL(out_syslog_cef_info(first, strlen(first), &info), DF_OK);
    CU_ASSERT_EQUAL(info.severity, 4);
    CU_ASSERT_EQUAL(info.ticks, 1714564801000LL * 10000);
    CU_ASSERT_EQUAL(out_syslog_cef_info(sev10, strlen(sev10), &info), DF_OK);
    CU_ASSERT_EQUAL(info.severity, 2);
    CU_ASSERT_EQUAL(info.ticks, -1);
    CU_ASSERT_EQUAL(out_syslog_cef_info(word, strlen(word), &info), DF_OK);
    CU_ASSERT_EQUAL(info.severity, 2);
    CU_ASSERT_EQUAL(out_syslog_cef_info(bad_rt, strlen(bad_rt), &info), DF_OK);
    CU_ASSERT_EQUAL(info.severity, 6);
    CU_ASSERT_EQUAL(info.ticks, -1);
    CU_ASSERT_EQUAL(out_syslog_cef_info("CEF:0|a|b", 9, &info), DF_EPARSE);
    CU_ASSERT_EQUAL(info.severity, 5);
    CU_ASSERT_EQUAL(info.ticks, -1);
}

static void test_json_info(void)
{
    const char *text = "{\"type\":\"alert\",\"event_id\":\"" ID "\",\"tenant\":\"contoso\","
                       "\"incident\":{\"incidentId\":924521,\"severity\":\"Low\","
                       "\"lastUpdateTime\":\"2024-05-01T12:00:00Z\"},"
                       "\"alert\":{\"alertId\":\"da1\",\"severity\":\"High\","
                       "\"lastUpdatedTime\":\"2024-05-01T12:00:01.1234567Z\"}}";
    yajl_val root = yajl_tree_parse(text, NULL, 0);
    struct out_syslog_info info;
    int64_t want;

    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    out_syslog_json_info(root, EVT_ALERT, &info);
    CU_ASSERT_EQUAL(info.severity, 3);
    CU_ASSERT_EQUAL(ts_parse("2024-05-01T12:00:01.1234567Z", 28, &want), DF_OK);
    CU_ASSERT_EQUAL(info.ticks, want);
    out_syslog_json_info(root, EVT_INCIDENT, &info);
    CU_ASSERT_EQUAL(info.severity, 5);
    CU_ASSERT_EQUAL(ts_parse("2024-05-01T12:00:00Z", 20, &want), DF_OK);
    CU_ASSERT_EQUAL(info.ticks, want);
    out_syslog_json_info(NULL, EVT_INCIDENT, &info);
    CU_ASSERT_EQUAL(info.severity, 5);
    CU_ASSERT_EQUAL(info.ticks, -1);
    yajl_tree_free(root);
}

static void test_timestamps(void)
{
    char out[32];
    int64_t t;

    CU_ASSERT_EQUAL(ts_parse("2024-05-01T12:00:01.1234567Z", 28, &t), DF_OK);
    /* At most 6 fractional digits (RFC 5424): the 7th is dropped, not rounded. */
    CU_ASSERT_EQUAL(out_syslog_ts5424(t, out), 27);
    CU_ASSERT_STRING_EQUAL(out, "2024-05-01T12:00:01.123456Z");
    CU_ASSERT_EQUAL(ts_parse("2024-05-01T12:00:01.9999999Z", 28, &t), DF_OK);
    out_syslog_ts5424(t, out);
    CU_ASSERT_STRING_EQUAL(out, "2024-05-01T12:00:01.999999Z");
    out_syslog_ts5424(0, out);
    CU_ASSERT_STRING_EQUAL(out, "1970-01-01T00:00:00.000000Z");
    CU_ASSERT_EQUAL(out_syslog_ts3164(0, out), 15);
    CU_ASSERT_STRING_EQUAL(out, "Jan  1 00:00:00");
    CU_ASSERT_EQUAL(ts_parse("2023-10-11T22:14:15.5Z", 22, &t), DF_OK);
    out_syslog_ts3164(t, out);
    CU_ASSERT_STRING_EQUAL(out, "Oct 11 22:14:15");
}

static void test_sd_escape(void)
{
    struct dbuf b;

    dbuf_init(&b, 1024);
    CU_ASSERT_EQUAL(out_syslog_sd_escape("a\"b\\c]d[e=f", 11, &b), DF_OK);
    CU_ASSERT_STRING_EQUAL(b.p, "a\\\"b\\\\c\\]d[e=f");
    dbuf_reset(&b);
    CU_ASSERT_EQUAL(out_syslog_sd_escape("\"", 1, &b), DF_OK);
    CU_ASSERT_STRING_EQUAL(b.p, "\\\"");
    dbuf_reset(&b);
    CU_ASSERT_EQUAL(out_syslog_sd_escape("", 0, &b), DF_OK);
    CU_ASSERT_EQUAL(b.len, 0);
    dbuf_free(&b);
    /* The cap holds. */
    dbuf_init(&b, 3);
    CU_ASSERT_EQUAL(out_syslog_sd_escape("]]", 2, &b), DF_ENOMEM);
    dbuf_free(&b);
}

static void test_header_5424(void)
{
    struct out_syslog_hdr h = {OUT_SYSLOG_RFC5424,   20,     "host1",
                               "defender-forwarder", "1234", "dfw@32473"};
    struct out_syslog_msg m = {EVT_ALERT, 3, 0, ID, "contoso", "924521", 0};
    struct dbuf b;

    CU_ASSERT_EQUAL(ts_parse("2024-05-01T12:00:01.1234567Z", 28, &m.ticks), DF_OK);
    dbuf_init(&b, 4096);
    CU_ASSERT_EQUAL(out_syslog_header(&h, &m, &b), DF_OK);
    /* local4 (20) * 8 + err (3) = 163 */
    CU_ASSERT_STRING_EQUAL(b.p, "<163>1 2024-05-01T12:00:01.123456Z host1 defender-forwarder "
                                "1234 alert [dfw@32473 eventId=\"" ID "\" tenant=\"contoso\" "
                                "incidentId=\"924521\"] ");
    dbuf_reset(&b);
    m.type = EVT_INCIDENT;
    m.severity = 6;
    m.truncated_from = 11706;
    m.tenant = "we\"ird]";
    h.facility = 16;
    CU_ASSERT_EQUAL(out_syslog_header(&h, &m, &b), DF_OK);
    CU_ASSERT_STRING_EQUAL(b.p, "<134>1 2024-05-01T12:00:01.123456Z host1 defender-forwarder "
                                "1234 incident [dfw@32473 eventId=\"" ID "\" "
                                "tenant=\"we\\\"ird\\]\" incidentId=\"924521\" "
                                "truncated=\"11706\"] ");
    /* No BOM anywhere. */
    CU_ASSERT_PTR_NULL(strstr(b.p, "\xEF\xBB\xBF"));
    dbuf_reset(&b);
    m.incident_id = "";
    m.truncated_from = 0;
    m.tenant = "t";
    h.facility = 1;
    m.severity = 5;
    CU_ASSERT_EQUAL(out_syslog_header(&h, &m, &b), DF_OK);
    CU_ASSERT_STRING_EQUAL(b.p, "<13>1 2024-05-01T12:00:01.123456Z host1 defender-forwarder "
                                "1234 incident [dfw@32473 eventId=\"" ID "\" tenant=\"t\"] ");
    dbuf_free(&b);
    /* A full buffer is reported, not cut silently. */
    dbuf_init(&b, 20);
    CU_ASSERT_EQUAL(out_syslog_header(&h, &m, &b), DF_ENOMEM);
    dbuf_free(&b);
}

static void test_header_3164(void)
{
    struct out_syslog_hdr h = {OUT_SYSLOG_RFC3164,   20,   "mymachine",
                               "defender-forwarder", "77", "dfw@32473"};
    struct out_syslog_msg m = {EVT_ALERT, 5, 0, ID, "contoso", "1", 0};
    struct dbuf b;

    CU_ASSERT_EQUAL(ts_parse("2023-10-11T22:14:15.003Z", 24, &m.ticks), DF_OK);
    dbuf_init(&b, 4096);
    CU_ASSERT_EQUAL(out_syslog_header(&h, &m, &b), DF_OK);
    CU_ASSERT_STRING_EQUAL(b.p, "<165>Oct 11 22:14:15 mymachine defender-forwarder[77]: ");
    dbuf_free(&b);
}

static void test_frame(void)
{
    struct dbuf b;

    dbuf_init(&b, 1024);
    CU_ASSERT_EQUAL(out_syslog_frame(OUT_SYSLOG_OCTET_COUNTING, "<13>1 - - - - - - hi", 20, &b),
                    DF_OK);
    CU_ASSERT_STRING_EQUAL(b.p, "20 <13>1 - - - - - - hi");
    CU_ASSERT_EQUAL(out_syslog_frame(OUT_SYSLOG_NEWLINE, "abc", 3, &b), DF_OK);
    CU_ASSERT_STRING_EQUAL(b.p, "20 <13>1 - - - - - - hiabc\n");
    dbuf_reset(&b);
    CU_ASSERT_EQUAL(out_syslog_frame(OUT_SYSLOG_OCTET_COUNTING, "", 0, &b), DF_OK);
    CU_ASSERT_STRING_EQUAL(b.p, "0 ");
    dbuf_free(&b);
}

static void test_sanitize(void)
{
    char out[8];

    out_syslog_sanitize("my host\x01", out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "my_host");
    out_syslog_sanitize("", out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "-");
    out_syslog_sanitize(NULL, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "-");
    out_syslog_sanitize("h\xc3\xa9", out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "h__");
}

/* ---- options ---- */

static void free_opts(struct out_syslog_opts *o)
{
    char **strs[] = {&o->host,     &o->transport,   &o->protocol,      &o->framing,
                     &o->facility, &o->app_name,    &o->hostname,      &o->sd_id,
                     &o->timeout,  &o->tls.ca_file, &o->tls.cert_file, &o->tls.key_file};
    for (size_t i = 0; i < DF_ARRAY_LEN(strs); i++)
        free(*strs[i]);
    memset(o, 0, sizeof(*o));
}

static int check(struct out_syslog_opts *o, const char *want_prefix)
{
    struct df_err err = {0};
    int rc = out_syslog_conf_validate(o, &err);
    if (want_prefix == NULL)
        return rc == DF_OK;
    return rc == DF_ECONFIG && strncmp(err.msg, want_prefix, strlen(want_prefix)) == 0;
}

static void test_conf_defaults(void)
{
    struct out_syslog_opts o;

    memset(&o, 0, sizeof(o));
    o.host = strdup("siem.example.com");
    CU_ASSERT_TRUE(check(&o, NULL));
    CU_ASSERT_STRING_EQUAL(o.transport, "tls");
    CU_ASSERT_EQUAL(o.transport_e, OUT_SYSLOG_TLS);
    CU_ASSERT_EQUAL(o.protocol_e, OUT_SYSLOG_RFC5424);
    CU_ASSERT_EQUAL(o.framing_e, OUT_SYSLOG_OCTET_COUNTING);
    CU_ASSERT_EQUAL(o.port_n, 6514);
    CU_ASSERT_EQUAL(o.facility_n, 20);
    CU_ASSERT_STRING_EQUAL(o.app_name, "defender-forwarder");
    CU_ASSERT_STRING_EQUAL(o.sd_id, "dfw@32473");
    CU_ASSERT_EQUAL(o.timeout_ms, 5000);
    CU_ASSERT_EQUAL(o.max_message, 8096);
    CU_ASSERT_EQUAL(o.verify_b, 1);
    CU_ASSERT_STRING_EQUAL(o.tls.ca_file, "");
    free_opts(&o);

    memset(&o, 0, sizeof(o));
    o.host = strdup("10.0.0.1");
    o.transport = strdup("udp");
    CU_ASSERT_TRUE(check(&o, NULL));
    CU_ASSERT_EQUAL(o.port_n, 514);
    free_opts(&o);
}

static void test_conf_errors(void)
{
    struct out_syslog_opts o;
    uint32_t port = 70000, size = 479, big = 65508;
    bool no = false;

    memset(&o, 0, sizeof(o));
    CU_ASSERT_TRUE(check(&o, "host: required"));
    free_opts(&o);

#define CASE(field, value, prefix)                                                                 \
    do {                                                                                           \
        memset(&o, 0, sizeof(o));                                                                  \
        o.host = strdup("h");                                                                      \
        o.field = strdup(value);                                                                   \
        CU_ASSERT_TRUE(check(&o, prefix));                                                         \
        free_opts(&o);                                                                             \
    } while (0)
    CASE(transport, "ssl", "transport: must be tls, tcp or udp");
    CASE(protocol, "rfc5425", "protocol:");
    CASE(framing, "lf", "framing:");
    CASE(facility, "local8", "facility:");
    CASE(app_name, "has space", "app_name:");
    CASE(hostname, "", "hostname:");
    CASE(sd_id, "dfw", "sd_id:");
    CASE(sd_id, "d=f@1", "sd_id:");
    CASE(timeout, "0s", "timeout:");
    CASE(timeout, "6m", "timeout:");
    CASE(timeout, "5", "timeout:");
#undef CASE
    memset(&o, 0, sizeof(o));
    o.host = strdup("[::1]");
    CU_ASSERT_TRUE(check(&o, "host:"));
    free_opts(&o);

    /* A 3164 TAG ends at '[' or ':' and is at most 32 bytes. */
    memset(&o, 0, sizeof(o));
    o.host = strdup("h");
    o.protocol = strdup("rfc3164");
    o.app_name = strdup("a:b");
    CU_ASSERT_TRUE(check(&o, "app_name:"));
    free_opts(&o);

    memset(&o, 0, sizeof(o));
    o.host = strdup("h");
    o.port = &port;
    CU_ASSERT_TRUE(check(&o, "port: must be 1-65535"));
    o.port = NULL;
    free_opts(&o);

    memset(&o, 0, sizeof(o));
    o.host = strdup("h");
    o.max_message_bytes = &size;
    CU_ASSERT_TRUE(check(&o, "max_message_bytes: must be 480-"));
    o.max_message_bytes = NULL;
    free_opts(&o);

    memset(&o, 0, sizeof(o));
    o.host = strdup("h");
    o.transport = strdup("udp");
    o.max_message_bytes = &big;
    CU_ASSERT_TRUE(check(&o, "max_message_bytes: must be 480-65507 with transport: udp"));
    o.max_message_bytes = NULL;
    free_opts(&o);

    /* Framing means nothing for datagrams; TLS settings mean nothing without TLS. */
    memset(&o, 0, sizeof(o));
    o.host = strdup("h");
    o.transport = strdup("udp");
    o.framing = strdup("newline");
    CU_ASSERT_TRUE(check(&o, "framing: not used with transport: udp"));
    free_opts(&o);

    memset(&o, 0, sizeof(o));
    o.host = strdup("h");
    o.transport = strdup("tcp");
    o.tls.verify = &no;
    CU_ASSERT_TRUE(check(&o, "tls: only used with transport: tls"));
    o.tls.verify = NULL;
    free_opts(&o);

    memset(&o, 0, sizeof(o));
    o.host = strdup("h");
    o.tls.cert_file = strdup("/c.pem");
    CU_ASSERT_TRUE(check(&o, "tls.key_file: cert_file and key_file go together"));
    free_opts(&o);

    memset(&o, 0, sizeof(o));
    o.host = strdup("h");
    o.tls.verify = &no;
    CU_ASSERT_TRUE(check(&o, NULL));
    CU_ASSERT_EQUAL(o.verify_b, 0);
    o.tls.verify = NULL;
    free_opts(&o);
}

void unit_register(void)
{
    CU_pSuite s = CU_add_suite("out_syslog_fmt", NULL, NULL);
    CU_add_test(s, "facility names", test_facility);
    CU_add_test(s, "severity mapping", test_severity);
    CU_add_test(s, "severity and time from CEF", test_cef_info);
    CU_add_test(s, "severity and time from JSON", test_json_info);
    CU_add_test(s, "timestamps", test_timestamps);
    CU_add_test(s, "structured-data escaping", test_sd_escape);
    CU_add_test(s, "RFC 5424 header", test_header_5424);
    CU_add_test(s, "RFC 3164 header", test_header_3164);
    CU_add_test(s, "framing", test_frame);
    CU_add_test(s, "header field sanitising", test_sanitize);
    CU_add_test(s, "option defaults", test_conf_defaults);
    CU_add_test(s, "option errors", test_conf_errors);
}
