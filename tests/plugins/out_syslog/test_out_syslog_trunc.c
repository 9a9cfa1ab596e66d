/* Truncation at field boundaries: every budget gives one well-formed, marked event that keeps
 * its identity, never a split escape, UTF-8 character or JSON value. */
#include "../../unit/unit.h"

#include "evt.h"
#include "out_syslog/out_syslog_trunc.h"

#include <stdlib.h>
#include <string.h>

#define ID   "07f904b3bae3de7051b4458630bbb2ad"
#define MARK OUT_SYSLOG_MARK

/* Every backslash starts one of the CEF escapes (header \\ \|, values \\ \= \n \r). */
static int escapes_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\\')
            continue;
        if (i + 1 >= len || strchr("\\|=nr", s[i + 1]) == NULL)
            return 0;
        i++;
    }
    return 1;
}

static int utf8_ok(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t n = s[i] < 0x80         ? 1
                   : (s[i] >> 5) == 6  ? 2
                   : (s[i] >> 4) == 14 ? 3
                   : (s[i] >> 3) == 30 ? 4
                                       : 0;
        if (n == 0 || i + n > len)
            return 0;
        for (size_t k = 1; k < n; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
        i += n;
    }
    return 1;
}

/* Each pair of the cut line's extension (other than msg) appears whole in the original. */
static int pairs_whole(const char *orig, const char *cut, size_t len)
{
    size_t pipes = 0, i = 0, start;
    char tok[4096];

    for (; i < len && pipes < 7; i++) {
        if (cut[i] == '\\')
            i++;
        else if (cut[i] == '|')
            pipes++;
    }
    start = i;
    while (start < len) {
        size_t end = start;
        int seen_eq = 0;
        /* A pair ends at the space before the next key (a word followed by '='). */
        for (size_t k = start; k < len; k++) {
            if (cut[k] == '\\') {
                k++;
                continue;
            }
            if (cut[k] == '=' && seen_eq) {
                end = k;
                while (end > start && cut[end - 1] != ' ')
                    end--;
                end--;
                break;
            }
            if (cut[k] == '=')
                seen_eq = 1;
            end = k + 1;
        }
        if (end - start >= sizeof(tok) - 2)
            return 0;
        tok[0] = ' ';
        memcpy(tok + 1, cut + start, end - start);
        tok[end - start + 1] = '\0';
        if (strncmp(tok + 1, "msg=", 4) != 0 && strstr(orig, tok) == NULL &&
            strstr(orig, tok + 1) == NULL)
            return 0;
        start = end + 1;
    }
    return 1;
}

static char *alert_line(void)
{
    struct dbuf b;

    dbuf_init(&b, 1 << 20);
    dbuf_puts(&b, "CEF:0|Microsoft|Microsoft 365 Defender|1.0|WindowsDefenderAv|Suspicious \\| "
                  "thing \xc3\xa9|8|externalId=da637 rt=1714564801123 start=1714564800000 "
                  "end=1714564801000 cat=Malware msg=");
    for (int i = 0; i < 40; i++)
        dbuf_puts(&b, "line\\nwith \\= and \\\\ and \xc3\xa9\xe6\x97\xa5\xe6\x9c\xac ");
    dbuf_puts(&b, "end cs1=New cs1Label=status cs4=WindowsDefenderAv cs4Label=detectionSource "
                  "cn1=924521 cn1Label=incidentId dhost=host.example.com "
                  "filePath=C:\\\\Agent\\\\x fileHash=5de8 flexString1=contoso "
                  "flexString1Label=tenant cs6=" ID " cs6Label=eventId");
    return dbuf_take(&b);
}

static void test_safe_cut(void)
{
    CU_ASSERT_EQUAL(out_syslog_safe_cut("ab\\=cd", 6, 3, 1), 2);
    CU_ASSERT_EQUAL(out_syslog_safe_cut("ab\\=cd", 6, 4, 1), 4);
    CU_ASSERT_EQUAL(out_syslog_safe_cut("\\\\\\\\", 4, 3, 1), 2);
    CU_ASSERT_EQUAL(out_syslog_safe_cut("ab\\=cd", 6, 3, 0), 3);
    CU_ASSERT_EQUAL(out_syslog_safe_cut("a\xc3\xa9", 3, 2, 0), 1);
    CU_ASSERT_EQUAL(out_syslog_safe_cut("a\xe6\x97\xa5z", 5, 3, 1), 1);
    CU_ASSERT_EQUAL(out_syslog_safe_cut("a\xe6\x97\xa5z", 5, 4, 1), 4);
    CU_ASSERT_EQUAL(out_syslog_safe_cut("abc", 3, 7, 1), 3);
    CU_ASSERT_EQUAL(out_syslog_safe_cut("abc", 3, 0, 1), 0);
}

static void test_cef_fits(void)
{
    char *line = alert_line();
    size_t len = strlen(line);
    struct dbuf out;

    dbuf_init(&out, 1 << 20);
    CU_ASSERT_EQUAL(out_syslog_trunc_cef(line, len, len, &out), DF_OK);
    CU_ASSERT_EQUAL(out.len, len);
    CU_ASSERT_STRING_EQUAL(out.p, line);
    dbuf_free(&out);
    free(line);
}

/* Every budget from tiny to one byte short: bounded, marked, well-formed, identity kept. */
static void test_cef_every_budget(void)
{
    char *line = alert_line();
    size_t len = strlen(line);
    const char *msg = strstr(line, " msg=");
    const char *msg_end = strstr(line, "end cs1=") + 3;
    size_t msg_len = (size_t) (msg_end - msg);
    struct dbuf out;
    unsigned bad_len = 0, bad_mark = 0, bad_esc = 0, bad_utf8 = 0, bad_id = 0, bad_pairs = 0,
             bad_others = 0;

    dbuf_init(&out, 1 << 20);
    for (size_t budget = 64; budget < len; budget++) {
        dbuf_reset(&out);
        if (out_syslog_trunc_cef(line, len, budget, &out) != DF_OK) {
            bad_len++;
            continue;
        }
        bad_len += out.len > budget;
        bad_mark += strstr(out.p, MARK) == NULL;
        bad_esc += !escapes_ok(out.p, out.len);
        bad_utf8 += !utf8_ok((const unsigned char *) out.p, out.len);
        if (budget >= 250) {
            bad_id += strstr(out.p, " cs6=" ID) == NULL ||
                      strstr(out.p, "|externalId=da637") == NULL ||
                      strstr(out.p, " rt=1714564801123") == NULL ||
                      strstr(out.p, " flexString1=contoso") == NULL ||
                      strncmp(out.p, "CEF:0|Microsoft|Microsoft 365 Defender|1.0|", 43) != 0;
            bad_pairs += !pairs_whole(line, out.p, out.len);
        }
        /* While shortening msg is enough, nothing else changes. */
        if (budget + msg_len >= len + strlen(" msg=" MARK) + 4)
            bad_others += strstr(out.p, " fileHash=5de8 ") == NULL ||
                          strstr(out.p, " cs1Label=status ") == NULL ||
                          strstr(out.p, "|Suspicious \\| thing \xc3\xa9|8|") == NULL;
    }
    CU_ASSERT_EQUAL(bad_len, 0);
    CU_ASSERT_EQUAL(bad_mark, 0);
    CU_ASSERT_EQUAL(bad_esc, 0);
    CU_ASSERT_EQUAL(bad_utf8, 0);
    CU_ASSERT_EQUAL(bad_id, 0);
    CU_ASSERT_EQUAL(bad_pairs, 0);
    CU_ASSERT_EQUAL(bad_others, 0);
    dbuf_free(&out);
    free(line);
}

static void test_cef_drop_pairs_from_end(void)
{
    char *line = alert_line();
    size_t len = strlen(line);
    struct dbuf out;

    dbuf_init(&out, 1 << 20);
    CU_ASSERT_EQUAL(out_syslog_trunc_cef(line, len, 330, &out), DF_OK);
    CU_ASSERT(out.len <= 330);
    /* msg is reduced to the marker, then the last pairs go first: the early ones survive. */
    CU_ASSERT_PTR_NOT_NULL(strstr(out.p, " msg=" MARK));
    CU_ASSERT_PTR_NOT_NULL(strstr(out.p, " start=1714564800000"));
    CU_ASSERT_PTR_NULL(strstr(out.p, "fileHash="));
    CU_ASSERT_PTR_NULL(strstr(out.p, "filePath="));
    CU_ASSERT_PTR_NOT_NULL(strstr(out.p, " cs6=" ID " cs6Label=eventId"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out.p, " flexString1=contoso flexString1Label=tenant"));
    dbuf_free(&out);
    free(line);
}

static void test_cef_without_msg(void)
{
    struct dbuf b, out;

    dbuf_init(&b, 1 << 20);
    dbuf_init(&out, 1 << 20);
    dbuf_puts(&b, "CEF:0|Microsoft|Microsoft 365 Defender|1.0|incident|Name|3|externalId=1 "
                  "rt=1 start=1 cat=Incident cs1=Active cs1Label=status cs4=");
    for (int i = 0; i < 200; i++)
        dbuf_puts(&b, "tag,\\=x,");
    dbuf_puts(&b, " cs4Label=tags flexString1=contoso flexString1Label=tenant cs6=" ID
                  " cs6Label=eventId");
    CU_ASSERT_EQUAL(out_syslog_trunc_cef(b.p, b.len, 400, &out), DF_OK);
    CU_ASSERT(out.len <= 400);
    CU_ASSERT_PTR_NULL(strstr(out.p, "cs4="));
    CU_ASSERT_PTR_NOT_NULL(strstr(out.p, " cs1=Active cs1Label=status"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out.p, " cs6=" ID " cs6Label=eventId msg=" MARK));
    CU_ASSERT_TRUE(escapes_ok(out.p, out.len));
    dbuf_free(&b);
    dbuf_free(&out);
}

static void test_cef_long_name_and_plain_text(void)
{
    struct dbuf b, out;

    dbuf_init(&b, 1 << 20);
    dbuf_init(&out, 1 << 20);
    dbuf_puts(&b, "CEF:0|Microsoft|Microsoft 365 Defender|1.0|alert|");
    for (int i = 0; i < 500; i++)
        dbuf_puts(&b, "N\\|");
    dbuf_puts(&b, "|5|externalId=a rt=2 cs6=" ID " cs6Label=eventId");
    CU_ASSERT_EQUAL(out_syslog_trunc_cef(b.p, b.len, 400, &out), DF_OK);
    CU_ASSERT(out.len <= 400);
    CU_ASSERT_TRUE(escapes_ok(out.p, out.len));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(out.p, "\\||5|externalId=a rt=2 cs6=" ID " cs6Label=eventId msg=" MARK));
    /* Not CEF at all: cut hard, still marked, still whole characters. */
    dbuf_reset(&b);
    dbuf_reset(&out);
    for (int i = 0; i < 300; i++)
        dbuf_puts(&b, "\xc3\xa9");
    CU_ASSERT_EQUAL(out_syslog_trunc_cef(b.p, b.len, 100, &out), DF_OK);
    CU_ASSERT(out.len <= 100);
    CU_ASSERT(out.len >= 99 - 1);
    CU_ASSERT_TRUE(utf8_ok((const unsigned char *) out.p, out.len));
    CU_ASSERT_PTR_NOT_NULL(strstr(out.p, MARK));
    dbuf_free(&b);
    dbuf_free(&out);
}

/* ---- JSON ---- */

static char *alert_json(const char *desc_unit, int desc_repeat)
{
    struct dbuf b;

    dbuf_init(&b, 1 << 22);
    dbuf_puts(&b, "{\"type\":\"alert\",\"event_id\":\"" ID "\",\"tenant\":\"contoso\","
                  "\"incident\":{\"incidentId\":924521,\"incidentName\":\"Multi-stage\","
                  "\"lastUpdateTime\":\"2024-05-01T12:00:00.1234567Z\",\"severity\":\"High\","
                  "\"status\":\"Active\",\"comments\":[");
    for (int i = 0; i < 10; i++)
        dbuf_printf(&b, "%s{\"comment\":\"%0100d\",\"createdBy\":\"a@b\"}", i ? "," : "", i);
    dbuf_puts(&b, "],\"tags\":[\"x\",\"y\"],\"alertCount\":3},\"alert\":{\"alertId\":\"da1\","
                  "\"title\":\"t\",\"description\":\"");
    for (int i = 0; i < desc_repeat; i++)
        dbuf_puts(&b, desc_unit);
    dbuf_puts(&b, "\",\"lastUpdatedTime\":\"2024-05-01T12:00:01.7654321Z\","
                  "\"severity\":\"High\",\"status\":\"New\",\"score\":1.50,\"entities\":[");
    for (int i = 0; i < 30; i++)
        dbuf_printf(&b,
                    "%s{\"entityType\":\"Process\",\"fileName\":\"f%d.exe\","
                    "\"sha1\":\"5de839186691aa96ee2ca6d74f0a38fb8d1bd6dd\"}",
                    i ? "," : "", i);
    dbuf_puts(&b, "],\"devices\":[]}}");
    return dbuf_take(&b);
}

static const char *str_at(yajl_val root, const char *a, const char *b)
{
    const char *path[] = {a, b, NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_string);
    return v != NULL ? v->u.string : "";
}

/* The event's identity and shape survive. */
static int json_identity_ok(const char *text)
{
    yajl_val r = yajl_tree_parse(text, NULL, 0);
    const char *inc_id[] = {"incident", "incidentId", NULL};
    yajl_val n;
    int ok;

    if (r == NULL || r->type != yajl_t_object || r->u.object.len != 5)
        return (yajl_tree_free(r), 0);
    n = yajl_tree_get(r, inc_id, yajl_t_number);
    ok = strcmp(r->u.object.keys[0], "type") == 0 && strcmp(str_at(r, "event_id", NULL), ID) == 0 &&
         strcmp(str_at(r, "tenant", NULL), "contoso") == 0 && n != NULL &&
         strcmp(n->u.number.r, "924521") == 0 &&
         strcmp(str_at(r, "incident", "lastUpdateTime"), "2024-05-01T12:00:00.1234567Z") == 0 &&
         strcmp(str_at(r, "alert", "alertId"), "da1") == 0 &&
         strcmp(str_at(r, "alert", "lastUpdatedTime"), "2024-05-01T12:00:01.7654321Z") == 0 &&
         strcmp(str_at(r, "alert", "severity"), "High") == 0;
    yajl_tree_free(r);
    return ok;
}

static void test_json_long_description(void)
{
    char *text = alert_json("multi\\nline \\u00e9\\u65e5 \\\"q\\\" ", 300);
    yajl_val root = yajl_tree_parse(text, NULL, 0);
    const char *desc[] = {"alert", "description", NULL};
    const char *ents[] = {"alert", "entities", NULL};
    yajl_val r2, v;
    struct dbuf out;
    size_t len;

    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    dbuf_init(&out, 1 << 22);
    /* Lines come from the product's own renderer: measure that form (yajl writes \u00e9 as
     * two raw bytes). */
    CU_ASSERT_EQUAL_FATAL(evt_json_value(root, 0, &out), DF_OK);
    len = out.len;
    dbuf_reset(&out);
    CU_ASSERT_EQUAL(out_syslog_trunc_json(root, len - 500, &out), DF_OK);
    CU_ASSERT(out.len <= len - 500);
    CU_ASSERT(out.len >= len - 500 - 40); /* only as much as needed */
    CU_ASSERT_TRUE(json_identity_ok(out.p));
    r2 = yajl_tree_parse(out.p, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r2);
    v = yajl_tree_get(r2, desc, yajl_t_string);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT(strlen(v->u.string) > strlen(MARK) &&
              strcmp(v->u.string + strlen(v->u.string) - strlen(MARK), MARK) == 0);
    v = yajl_tree_get(r2, ents, yajl_t_array);
    CU_ASSERT(v != NULL && v->u.array.len == 30);
    /* Numbers keep their text. */
    CU_ASSERT_PTR_NOT_NULL(strstr(out.p, "\"score\":1.50"));
    yajl_tree_free(r2);
    yajl_tree_free(root);
    dbuf_free(&out);
    free(text);
}

static void test_json_every_budget(void)
{
    char *text = alert_json("\xc3\xa9\xe6\x97\xa5 ", 900);
    size_t len = strlen(text);
    unsigned bad = 0, full = 0, over = 0, id = 0;
    struct dbuf out;

    dbuf_init(&out, 1 << 22);
    for (size_t budget = 200; budget < len; budget += 37) {
        yajl_val root = yajl_tree_parse(text, NULL, 0);
        int rc;
        dbuf_reset(&out);
        rc = out_syslog_trunc_json(root, budget, &out);
        if (rc == DF_EFULL) {
            full++;
        } else if (rc != DF_OK) {
            bad++;
        } else {
            over += out.len > budget;
            id += !json_identity_ok(out.p); /* also proves valid JSON and UTF-8 */
        }
        yajl_tree_free(root);
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(over, 0);
    CU_ASSERT_EQUAL(id, 0);
    /* Only budgets below the bare identity (about 290 bytes) cannot be met. */
    CU_ASSERT(full > 0 && full <= 3);
    dbuf_free(&out);
    free(text);
}

static void test_json_not_an_event(void)
{
    yajl_val root = yajl_tree_parse("[1,2,3]", NULL, 0);
    struct dbuf out;

    dbuf_init(&out, 1024);
    CU_ASSERT_EQUAL(out_syslog_trunc_json(root, 10, &out), DF_EINVAL);
    CU_ASSERT_EQUAL(out.len, 0);
    yajl_tree_free(root);
    dbuf_free(&out);
}

void unit_register(void)
{
    CU_pSuite s = CU_add_suite("out_syslog_trunc", NULL, NULL);
    CU_add_test(s, "safe cut points", test_safe_cut);
    CU_add_test(s, "CEF that fits is unchanged", test_cef_fits);
    CU_add_test(s, "CEF at every budget", test_cef_every_budget);
    CU_add_test(s, "CEF drops pairs from the end", test_cef_drop_pairs_from_end);
    CU_add_test(s, "CEF without msg gets the marker", test_cef_without_msg);
    CU_add_test(s, "CEF long name, plain text", test_cef_long_name_and_plain_text);
    CU_add_test(s, "JSON long description", test_json_long_description);
    CU_add_test(s, "JSON at many budgets", test_json_every_budget);
    CU_add_test(s, "JSON that is not an event", test_json_not_an_event);
}
