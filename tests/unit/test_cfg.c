/* Configuration loader: defaults, ${VAR}, secret files, and FILE:LINE: KEY: problem rejections. */
#include "cfg.h"
#include "out.h"
#include "unit.h"

#include "../../plugins/out_file/out_file.h"
#include "../../plugins/out_kafka/out_kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *tmp;

/* A valid tenant (lines 1-5) and a valid output (4 lines), for tests to build on. */
#define TENANT                                            \
    "tenants:\n"                                          \
    "  - name: contoso\n"                                 \
    "    tenant_id: 00000000-0000-0000-0000-000000000000\n" \
    "    client_id: 11111111-1111-1111-1111-111111111111\n" \
    "    client_secret: s3cret\n"
#define OUTPUT          \
    "outputs:\n"        \
    "  - name: archive\n" \
    "    type: file\n"  \
    "    path: /var/log/dfw/events.json\n"

static int init_suite(void)
{
    tmp = unit_tmpdir();
    return tmp == NULL;
}

static int clean_suite(void)
{
    unit_rmtree(tmp);
    free(tmp);
    return 0;
}

static const char *write_in(const char *name, const char *text)
{
    static char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tmp, name);
    f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static struct cfg *load_ok(const char *text)
{
    const char *path = write_in("ok.yaml", text);
    struct cfg *cfg = NULL;
    struct df_err err = {0};
    int rc = cfg_load(path, &cfg, &err);

    CU_ASSERT_EQUAL(rc, DF_OK);
    if (rc != DF_OK)
        fprintf(stderr, "\nunexpected failure:\n%s\n", err.msg);
    return cfg;
}

/* Whether one line of msg starts with prefix and contains problem. */
static int has_line(const char *msg, const char *prefix, const char *problem)
{
    const char *line = msg;

    while (*line != '\0') {
        size_t len = strcspn(line, "\n");
        char buf[600];
        snprintf(buf, sizeof(buf), "%.*s", (int) len, line);
        if (strncmp(buf, prefix, strlen(prefix)) == 0 && strstr(buf, problem) != NULL)
            return 1;
        line += len + (line[len] == '\n');
    }
    return 0;
}

/* Loading text fails with DF_ECONFIG and one line "FILE:LINE: KEY: ...problem..." (no
 * ":LINE" when line is 0, no "KEY: " when key is NULL). Returns the message. */
static const char *expect_problem(const char *text, size_t line, const char *key,
                                  const char *problem)
{
    static struct df_err err;
    const char *path = write_in("bad.yaml", text);
    struct cfg *cfg = NULL;
    char prefix[4400], at[32] = "";
    int rc, found;

    memset(&err, 0, sizeof(err));
    rc = cfg_load(path, &cfg, &err);
    CU_ASSERT_EQUAL(rc, DF_ECONFIG);
    CU_ASSERT_EQUAL(err.code, DF_ECONFIG);
    CU_ASSERT_PTR_NULL(cfg);
    if (line > 0)
        snprintf(at, sizeof(at), ":%zu", line);
    snprintf(prefix, sizeof(prefix), "%s%s: %s%s", path, at, key ? key : "", key ? ": " : "");
    found = has_line(err.msg, prefix, problem);
    CU_ASSERT(found);
    if (!found)
        fprintf(stderr, "\nexpected a line \"%s...%s...\" in:\n%s\n", prefix, problem, err.msg);
    cfg_free(cfg);
    return err.msg;
}

static void test_defaults(void)
{
    struct cfg *cfg = load_ok(TENANT OUTPUT);
    const struct cfg_tenant *t;
    const struct cfg_output *o;

    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_PTR_NOT_NULL(strstr(cfg->path, "ok.yaml"));
    CU_ASSERT_EQUAL_FATAL(cfg->n_tenants, 1);
    t = &cfg->tenants[0];
    CU_ASSERT_STRING_EQUAL(t->name, "contoso");
    CU_ASSERT_STRING_EQUAL(t->tenant_id, "00000000-0000-0000-0000-000000000000");
    CU_ASSERT_STRING_EQUAL(t->client_id, "11111111-1111-1111-1111-111111111111");
    CU_ASSERT_STRING_EQUAL(t->client_secret, "s3cret");
    CU_ASSERT_STRING_EQUAL(t->api, "defender");
    CU_ASSERT_STRING_EQUAL(t->api_url, "https://api.security.microsoft.com");
    CU_ASSERT_STRING_EQUAL(t->token_url, "https://login.microsoftonline.com/"
                                         "00000000-0000-0000-0000-000000000000/oauth2/v2.0/token");
    CU_ASSERT_STRING_EQUAL(t->scope, "https://api.security.microsoft.com/.default");

    CU_ASSERT_EQUAL(cfg->collector.poll_interval_s, 30);
    CU_ASSERT_EQUAL(cfg->collector.lag_s, 300);
    CU_ASSERT_EQUAL(cfg->collector.start_from_absolute, 0);
    CU_ASSERT_EQUAL(cfg->collector.start_from_s, 604800);
    CU_ASSERT_EQUAL(cfg->collector.alerts, CFG_ALERTS_CHANGED);
    CU_ASSERT_EQUAL(cfg->collector.per_minute, 50);
    CU_ASSERT_EQUAL(cfg->collector.per_hour, 1500);
    CU_ASSERT_EQUAL(cfg->collector.http_timeout_s, 30);
    CU_ASSERT_STRING_EQUAL(cfg->collector.ca_file, "");
    CU_ASSERT_STRING_EQUAL(cfg->collector.proxy, "");
    CU_ASSERT_STRING_EQUAL(cfg->state.dir, "/var/lib/defender-forwarder");
    CU_ASSERT_EQUAL(cfg->state.max_journal_bytes, 1073741824ULL);

    CU_ASSERT_EQUAL_FATAL(cfg->n_outputs, 1);
    o = &cfg->outputs[0];
    CU_ASSERT_STRING_EQUAL(o->name, "archive");
    CU_ASSERT_STRING_EQUAL(o->type, "file");
    CU_ASSERT_EQUAL(o->format, EVT_JSON);
    CU_ASSERT_PTR_EQUAL(o->plugin, out_find("file"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(o->opts);
    CU_ASSERT_STRING_EQUAL(((const struct out_file_opts *) o->opts)->path,
                           "/var/log/dfw/events.json");
    cfg_free(cfg);
}

static void test_every_key(void)
{
    struct cfg *cfg = load_ok(
        "tenants:\n"
        "  - name: fabrikam.eu-1\n"
        "    tenant_id: fabrikam.onmicrosoft.com\n"
        "    client_id: abc\n"
        "    client_secret: x\n"
        "    api: defender\n"
        "    api_url: https://eu.api.security.microsoft.com//\n"
        "    token_url: https://login.microsoftonline.us/{tenant_id}/oauth2/token\n"
        "    scope: https://api.security.microsoft.com/.default\n"
        "  - {name: g, tenant_id: t2, client_id: c2, client_secret: y, api: graph}\n"
        "  - name: emu\n"
        "    tenant_id: t3\n"
        "    client_id: c3\n"
        "    client_secret: z\n"
        "    api_url: http://127.0.0.1:8080/\n"
        "collector:\n"
        "  poll_interval: 2m\n"
        "  lag: 1h\n"
        "  start_from: 2d\n"
        "  alerts: all\n"
        "  rate_limit: {per_minute: 10, per_hour: 100}\n"
        "  http: {timeout: 10s, ca_file: /etc/ca.pem, proxy: \"http://proxy:3128\"}\n"
        "state:\n"
        "  dir: /srv/dfw\n"
        "  max_journal_bytes: 64MiB\n"
        "outputs:\n"
        "  - {name: a, type: file, path: /a.json}\n"
        "  - name: b\n"
        "    type: file\n"
        "    format: cef\n"
        "    path: /b.cef\n");

    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_EQUAL_FATAL(cfg->n_tenants, 3);
    CU_ASSERT_STRING_EQUAL(cfg->tenants[0].name, "fabrikam.eu-1");
    CU_ASSERT_STRING_EQUAL(cfg->tenants[0].api_url, "https://eu.api.security.microsoft.com");
    CU_ASSERT_STRING_EQUAL(cfg->tenants[0].token_url, "https://login.microsoftonline.us/"
                                                      "fabrikam.onmicrosoft.com/oauth2/token");
    CU_ASSERT_STRING_EQUAL(cfg->tenants[0].scope, "https://api.security.microsoft.com/.default");
    CU_ASSERT_STRING_EQUAL(cfg->tenants[1].api, "graph");
    CU_ASSERT_STRING_EQUAL(cfg->tenants[1].api_url, "https://graph.microsoft.com/v1.0/security");
    CU_ASSERT_STRING_EQUAL(cfg->tenants[1].scope, "https://graph.microsoft.com/.default");
    CU_ASSERT_STRING_EQUAL(cfg->tenants[1].token_url,
                           "https://login.microsoftonline.com/t2/oauth2/v2.0/token");
    /* http:// is accepted here (the API client warns); the scope follows api_url. */
    CU_ASSERT_STRING_EQUAL(cfg->tenants[2].api_url, "http://127.0.0.1:8080");
    CU_ASSERT_STRING_EQUAL(cfg->tenants[2].scope, "http://127.0.0.1:8080/.default");

    CU_ASSERT_EQUAL(cfg->collector.poll_interval_s, 120);
    CU_ASSERT_EQUAL(cfg->collector.lag_s, 3600);
    CU_ASSERT_EQUAL(cfg->collector.start_from_absolute, 0);
    CU_ASSERT_EQUAL(cfg->collector.start_from_s, 2 * 86400);
    CU_ASSERT_EQUAL(cfg->collector.alerts, CFG_ALERTS_ALL);
    CU_ASSERT_EQUAL(cfg->collector.per_minute, 10);
    CU_ASSERT_EQUAL(cfg->collector.per_hour, 100);
    CU_ASSERT_EQUAL(cfg->collector.http_timeout_s, 10);
    CU_ASSERT_STRING_EQUAL(cfg->collector.ca_file, "/etc/ca.pem");
    CU_ASSERT_STRING_EQUAL(cfg->collector.proxy, "http://proxy:3128");
    CU_ASSERT_STRING_EQUAL(cfg->state.dir, "/srv/dfw");
    CU_ASSERT_EQUAL(cfg->state.max_journal_bytes, 64ULL << 20);

    CU_ASSERT_EQUAL_FATAL(cfg->n_outputs, 2);
    CU_ASSERT_EQUAL(cfg->outputs[0].format, EVT_JSON);
    CU_ASSERT_STRING_EQUAL(cfg->outputs[1].name, "b");
    CU_ASSERT_EQUAL(cfg->outputs[1].format, EVT_CEF);
    CU_ASSERT_STRING_EQUAL(((const struct out_file_opts *) cfg->outputs[1].opts)->path, "/b.cef");
    cfg_free(cfg);
}

static void test_start_from_absolute(void)
{
    struct cfg *cfg = load_ok(TENANT "collector:\n  start_from: 2024-05-01T00:00:00Z\n" OUTPUT);

    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_EQUAL(cfg->collector.start_from_absolute, 1);
    CU_ASSERT_EQUAL(cfg->collector.start_from_ticks, 1714521600LL * 10000000LL);
    cfg_free(cfg);

    cfg = load_ok(TENANT "collector:\n  start_from: \"2024-05-01T00:00:00.1234567Z\"\n" OUTPUT);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_EQUAL(cfg->collector.start_from_absolute, 1);
    CU_ASSERT_EQUAL(cfg->collector.start_from_ticks, 1714521600LL * 10000000LL + 1234567);
    cfg_free(cfg);

    expect_problem(TENANT "collector:\n  start_from: yesterday\n" OUTPUT, 7,
                   "collector.start_from", "bad value 'yesterday'");
}

static void test_env_expansion(void)
{
    struct cfg *cfg;

    setenv("DFW_UT_SECRET", "p@ss: #word ${NOT_EXPANDED_AGAIN}", 1);
    setenv("DFW_UT_DIR", "/srv/x", 1);
    setenv("DFW_UT_PM", "25", 1);
    setenv("DFW_UT_EMPTY", "", 1);
    cfg = load_ok("tenants:\n"
                  "  - name: contoso\n"
                  "    tenant_id: t\n"
                  "    client_id: c${DFW_UT_EMPTY}\n"
                  "    client_secret: ${DFW_UT_SECRET}\n"
                  "    scope: a$$b$c$\n"
                  "collector:\n"
                  "  rate_limit: {per_minute: \"${DFW_UT_PM}\"}\n"
                  "  http: {proxy: \"http://${DFW_UT_DIR}x\"}\n"
                  "state: {dir: \"${DFW_UT_DIR}/state\"}\n"
                  "outputs:\n"
                  "  - {name: a, type: file, path: \"${DFW_UT_DIR}/out.json\"}\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    /* Expanded once: a variable's value is not expanded again, nor parsed as YAML. */
    CU_ASSERT_STRING_EQUAL(cfg->tenants[0].client_secret, "p@ss: #word ${NOT_EXPANDED_AGAIN}");
    CU_ASSERT_STRING_EQUAL(cfg->tenants[0].client_id, "c");
    CU_ASSERT_STRING_EQUAL(cfg->tenants[0].scope, "a$b$c$");   /* $$ is a literal $ */
    CU_ASSERT_EQUAL(cfg->collector.per_minute, 25);
    CU_ASSERT_STRING_EQUAL(cfg->collector.proxy, "http:///srv/xx");
    CU_ASSERT_STRING_EQUAL(cfg->state.dir, "/srv/x/state");
    CU_ASSERT_STRING_EQUAL(((const struct out_file_opts *) cfg->outputs[0].opts)->path,
                           "/srv/x/out.json");
    cfg_free(cfg);
}

static void test_env_errors(void)
{
    char *big;

    unsetenv("DFW_UT_UNSET");
    expect_problem("tenants:\n"
                   "  - name: contoso\n"
                   "    tenant_id: t\n"
                   "    client_id: c\n"
                   "    client_secret: ${DFW_UT_UNSET}\n" OUTPUT,
                   5, "tenants[0].client_secret", "environment variable DFW_UT_UNSET is not set");
    expect_problem(TENANT OUTPUT "    format: ${DFW_UT_UNSET}\n", 10, "outputs[0].format",
                   "DFW_UT_UNSET is not set");
    expect_problem(TENANT "state: {dir: \"${DFW_UT_DIR\"}\n" OUTPUT, 6, "state.dir",
                   "unterminated '${'");
    expect_problem(TENANT "state: {dir: \"${1X}\"}\n" OUTPUT, 6, "state.dir",
                   "bad variable name");

    /* A runaway variable is refused, not copied into every alias of the value. */
    big = malloc(2 * 1024 * 1024);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big, 'x', 2 * 1024 * 1024 - 1);
    big[2 * 1024 * 1024 - 1] = '\0';
    setenv("DFW_UT_BIG", big, 1);
    free(big);
    expect_problem(TENANT "state: {dir: \"/a/${DFW_UT_BIG}\"}\n" OUTPUT, 6, "state.dir",
                   "value longer than");
    unsetenv("DFW_UT_BIG");
}

static void test_secret_file(void)
{
    char text[8192], abs[4200];
    struct cfg *cfg;
    FILE *f;

    /* Relative to the configuration file's directory; trailing newlines are not the secret. */
    write_in("secret.txt", "topsecret\n");
    cfg = load_ok("tenants:\n"
                  "  - name: contoso\n"
                  "    tenant_id: t\n"
                  "    client_id: c\n"
                  "    client_secret_file: secret.txt\n" OUTPUT);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_STRING_EQUAL(cfg->tenants[0].client_secret, "topsecret");
    cfg_free(cfg);

    snprintf(abs, sizeof(abs), "%s/secret2.txt", tmp);
    f = fopen(abs, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("with space\r\n", f);
    fclose(f);
    snprintf(text, sizeof(text),
             "tenants:\n"
             "  - name: contoso\n"
             "    tenant_id: t\n"
             "    client_id: c\n"
             "    client_secret_file: %s\n" OUTPUT, abs);
    cfg = load_ok(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_STRING_EQUAL(cfg->tenants[0].client_secret, "with space");
    cfg_free(cfg);

    expect_problem("tenants:\n"
                   "  - name: contoso\n"
                   "    tenant_id: t\n"
                   "    client_id: c\n"
                   "    client_secret_file: /nonexistent/dfw-secret\n" OUTPUT,
                   5, "tenants[0].client_secret_file",
                   "cannot read '/nonexistent/dfw-secret': No such file or directory");
    write_in("empty.txt", "\n");
    expect_problem("tenants:\n"
                   "  - name: contoso\n"
                   "    tenant_id: t\n"
                   "    client_id: c\n"
                   "    client_secret_file: empty.txt\n" OUTPUT,
                   5, "tenants[0].client_secret_file", "empty.txt' is empty");
}

static void test_unknown_keys(void)
{
    expect_problem(TENANT OUTPUT "bogus: 1\n", 10, "bogus", "unknown key");
    expect_problem(TENANT "collector:\n  poll_intervall: 30s\n" OUTPUT, 7,
                   "collector.poll_intervall", "unknown key");
    expect_problem(TENANT "collector:\n  rate_limit:\n    per_second: 1\n" OUTPUT, 8,
                   "collector.rate_limit.per_second", "unknown key");
    expect_problem(TENANT "    secret: x\n" OUTPUT, 6, "tenants[0].secret", "unknown key");
    /* A key of no plugin, or of another plugin than the entry's type. */
    expect_problem(TENANT OUTPUT "    host: siem.example.com\n", 10, "outputs[0].host",
                   "unknown key for output type 'file'");
}

static void test_wrong_types(void)
{
    expect_problem(TENANT "collector:\n  rate_limit:\n    per_minute: abc\n" OUTPUT, 8,
                   "collector.rate_limit.per_minute", "expected an integer");
    expect_problem(TENANT "collector:\n  rate_limit: {per_hour: 1.5}\n" OUTPUT, 7,
                   "collector.rate_limit.per_hour", "expected an integer");
    expect_problem(TENANT "collector:\n  rate_limit:\n    per_minute: [1]\n" OUTPUT, 8,
                   "collector.rate_limit.per_minute", "expected an integer, got a list");
    expect_problem(TENANT "collector:\n  rate_limit: {per_minute: 0}\n" OUTPUT, 7,
                   "collector.rate_limit.per_minute", "must be between 1 and");
    expect_problem(TENANT "collector: [1]\n" OUTPUT, 6, "collector",
                   "expected a mapping, got a list");
    expect_problem("tenants:\n"
                   "  - name: contoso\n"
                   "    tenant_id: t\n"
                   "    client_id: {a: b}\n"
                   "    client_secret: s\n" OUTPUT,
                   4, "tenants[0].client_id", "expected a string, got a mapping");
    expect_problem("tenants: contoso\n" OUTPUT, 1, "tenants", "expected a list");
    expect_problem(TENANT "outputs:\n  - name: a\n    type: file\n    path: [x]\n", 9,
                   "outputs[0].path", "expected a string, got a list");
    expect_problem(TENANT "outputs: {name: a}\n", 6, "outputs", "expected a list");
    expect_problem("- a\n- b\n", 1, NULL, "expected a mapping");
}

static void test_missing(void)
{
    expect_problem(OUTPUT, 0, "tenants", "missing required key");
    expect_problem(TENANT, 0, "outputs", "missing required key");
    expect_problem("", 0, "tenants", "missing required key");
    expect_problem("# nothing but a comment\n", 0, "outputs", "missing required key");
    expect_problem("tenants: []\n" OUTPUT, 1, "tenants", "at least one tenant");
    expect_problem(TENANT "outputs: []\n", 6, "outputs", "at least one output");
    expect_problem("tenants:\n"
                   "  - name: contoso\n"
                   "    tenant_id: t\n"
                   "    client_secret: s\n" OUTPUT,
                   2, "tenants[0].client_id", "missing required key");
    expect_problem("tenants:\n"
                   "  - name: contoso\n"
                   "    tenant_id: t\n"
                   "    client_id: c\n" OUTPUT,
                   2, "tenants[0].client_secret", "missing required key");
    expect_problem("tenants:\n"
                   "  - tenant_id: t\n"
                   "    client_id: c\n"
                   "    client_secret: s\n" OUTPUT,
                   2, "tenants[0].name", "missing required key");
    expect_problem(TENANT "outputs:\n  - name: a\n    type: file\n", 7, "outputs[0].path",
                   "missing required key");
    expect_problem(TENANT "outputs:\n  - name: a\n    path: /x\n", 7, "outputs[0].type",
                   "missing required key");
    expect_problem("tenants:\n"
                   "  - name: contoso\n"
                   "    tenant_id: \"\"\n"
                   "    client_id: c\n"
                   "    client_secret: s\n" OUTPUT,
                   3, "tenants[0].tenant_id", "must not be empty");
}

static void test_duplicates(void)
{
    expect_problem(TENANT OUTPUT "  - name: archive\n    type: file\n    path: /x\n", 10,
                   "outputs[1].name", "duplicate output name 'archive' (first at line 7)");
    expect_problem(TENANT "  - name: contoso\n    tenant_id: t\n    client_id: c\n"
                          "    client_secret: s\n" OUTPUT,
                   6, "tenants[1].name", "duplicate tenant name 'contoso' (first at line 2)");
    expect_problem(TENANT "    client_id: again\n" OUTPUT, 6, "tenants[0].client_id",
                   "duplicate key (first at line 4)");
    expect_problem(TENANT OUTPUT "    path: /again\n", 10, "outputs[0].path",
                   "duplicate key (first at line 9)");
    expect_problem(TENANT OUTPUT "outputs: []\n", 10, "outputs", "duplicate key (first at line 6)");
}

static void test_bad_values(void)
{
    expect_problem(TENANT "collector:\n  lag: 5 minutes\n" OUTPUT, 7, "collector.lag",
                   "bad duration '5 minutes' (use Ns, Nm, Nh or Nd)");
    expect_problem(TENANT "collector:\n  poll_interval: 0s\n" OUTPUT, 7,
                   "collector.poll_interval", "bad duration '0s'");
    expect_problem(TENANT "collector:\n  http: {timeout: 30}\n" OUTPUT, 7,
                   "collector.http.timeout", "bad duration '30'");
    expect_problem(TENANT "collector:\n  alerts: some\n" OUTPUT, 7, "collector.alerts",
                   "bad value 'some' (use changed or all)");
    expect_problem(TENANT "state:\n  max_journal_bytes: 1GB\n" OUTPUT, 7,
                   "state.max_journal_bytes", "bad size '1GB'");
    expect_problem(TENANT OUTPUT "    format: xml\n", 10, "outputs[0].format",
                   "bad value 'xml' (use json or cef)");
    expect_problem(TENANT "outputs:\n  - name: siem\n    type: carrier-pigeon\n    host: h\n", 8,
                   "outputs[0].type", "unknown output type 'carrier-pigeon' (available: ");
    CU_ASSERT_PTR_NOT_NULL(strstr(
        expect_problem(TENANT "outputs:\n  - {name: a, type: carrier-pigeon}\n", 7,
                       "outputs[0].type", "unknown output type"),
        "file"));
    expect_problem(TENANT "    client_secret_file: /run/secrets/x\n" OUTPUT, 6,
                   "tenants[0].client_secret_file",
                   "set either client_secret or client_secret_file, not both");
    expect_problem("tenants:\n"
                   "  - name: contoso corp\n"
                   "    tenant_id: t\n"
                   "    client_id: c\n"
                   "    client_secret: s\n" OUTPUT,
                   2, "tenants[0].name", "bad name 'contoso corp'");
    expect_problem(TENANT "outputs:\n  - {name: a/b, type: file, path: /x}\n", 7,
                   "outputs[0].name", "bad name 'a/b'");
    expect_problem(TENANT "    api: legacy\n" OUTPUT, 6, "tenants[0].api",
                   "bad value 'legacy' (use defender or graph)");
    expect_problem(TENANT "    api_url: ftp://example.com\n" OUTPUT, 6, "tenants[0].api_url",
                   "must be an http:// or https:// URL");
    expect_problem(TENANT "    token_url: login.example.com/token\n" OUTPUT, 6,
                   "tenants[0].token_url", "must be an http:// or https:// URL");
    expect_problem(TENANT "    scope: \"\"\n" OUTPUT, 6, "tenants[0].scope", "must not be empty");
    expect_problem(TENANT "outputs:\n  - {name: a, type: file, path: \"\"}\n", 7,
                   "outputs[0].path", "must not be empty");
}

static void test_many_problems(void)
{
    const char *msg;
    const char *a, *b, *c;
    char text[8192];
    size_t len;

    /* Every problem is reported, in line order, not just the first. */
    msg = expect_problem("tenants:\n"
                         "  - name: contoso\n"
                         "    tenant_id: t\n"
                         "    client_id: c\n"
                         "    client_secret: s\n"
                         "    api: legacy\n"
                         "collector:\n"
                         "  lag: 5 minutes\n" OUTPUT "    format: xml\n",
                         6, "tenants[0].api", "bad value 'legacy'");
    a = strstr(msg, "tenants[0].api:");
    b = strstr(msg, "collector.lag:");
    c = strstr(msg, "outputs[0].format:");
    CU_ASSERT(a != NULL && b != NULL && c != NULL && a < b && b < c);

    /* More than fit: whole lines, then a count of the rest. */
    len = (size_t) snprintf(text, sizeof(text), "%s", TENANT "outputs:\n");
    for (int i = 0; i < 60; i++)
        len += (size_t) snprintf(text + len, sizeof(text) - len,
                                 "  - {name: o%d, type: file, path: /x, format: bad}\n", i);
    msg = expect_problem(text, 7, "outputs[0].format", "bad value 'bad'");
    CU_ASSERT(strlen(msg) < sizeof(((struct df_err *) 0)->msg));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "more problems not shown)"));
}

static void test_file_errors(void)
{
    struct cfg *cfg = NULL;
    struct df_err err = {0};
    char path[4200];

    snprintf(path, sizeof(path), "%s/does-not-exist.yaml", tmp);
    CU_ASSERT_EQUAL(cfg_load(path, &cfg, &err), DF_ECONFIG);
    CU_ASSERT_PTR_NULL(cfg);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "No such file or directory"));

    expect_problem(TENANT "   bad_indent: 1\n" OUTPUT, 6, NULL, "YAML syntax error");
    expect_problem(TENANT OUTPUT "---\nmore: 1\n", 11, NULL, "more than one YAML document");
    expect_problem("a: &x [*x]\n", 1, "a[0]", "alias refers to its own ancestor");
    /* "Billion laughs": 10^6 nodes from a few lines, refused before libcyaml copies them. */
    expect_problem("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                   "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                   "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                   "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                   "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
                   1, NULL, "once aliases are expanded");
}

/* A plugin's free-form mapping option (struct out_map_option), loaded by the core: dotted
 * keys, ${VAR} in values, each entry's line, and the shape errors. Kafka's `properties:` is
 * the one such option; a build without that plugin has nothing to load it with. */
static void test_mapping_option(void)
{
    const struct out_kafka_opts *o;
    struct cfg *cfg;
    struct df_err err = {0};

    if (out_find("kafka") == NULL) {
        fprintf(stderr, "\n  (skipped: this build has no plugin with a mapping option)\n");
        return;
    }
    setenv("DFW_TEST_SASL_PW", "pw-from-env", 1);
    cfg = load_ok(TENANT "outputs:\n"
                         "  - name: pipeline\n"         /* line 7 */
                         "    type: kafka\n"
                         "    brokers: localhost:9092\n"
                         "    topic: events\n"          /* line 10 */
                         "    properties:\n"
                         "      security.protocol: SASL_SSL\n"
                         "      sasl.password: ${DFW_TEST_SASL_PW}\n"
                         "      linger.ms: 50\n");      /* line 14 */
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    o = cfg->outputs[0].opts;
    CU_ASSERT_EQUAL_FATAL(o->properties.n, 3);
    CU_ASSERT_STRING_EQUAL(o->properties.v[0].key, "security.protocol");
    CU_ASSERT_STRING_EQUAL(o->properties.v[0].value, "SASL_SSL");
    CU_ASSERT_EQUAL(o->properties.v[0].line, 12);
    CU_ASSERT_STRING_EQUAL(o->properties.v[1].value, "pw-from-env");
    CU_ASSERT_STRING_EQUAL(o->properties.v[2].key, "linger.ms");
    CU_ASSERT_STRING_EQUAL(o->properties.v[2].value, "50");
    CU_ASSERT_EQUAL(o->properties.v[2].line, 14);
    cfg_free(cfg);

    /* Absent or empty: no entries. */
    cfg = load_ok(TENANT "outputs:\n  - name: p\n    type: kafka\n    brokers: b:1\n"
                         "    topic: t\n    properties:\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_EQUAL(((const struct out_kafka_opts *) cfg->outputs[0].opts)->properties.n, 0);
    cfg_free(cfg);

    cfg = NULL;
    CU_ASSERT_EQUAL(cfg_load(write_in("map1.yaml",
                                      TENANT "outputs:\n  - name: p\n    type: kafka\n"
                                             "    brokers: b:1\n    topic: t\n"
                                             "    properties: [a, b]\n"),
                             &cfg, &err),
                    DF_ECONFIG);
    CU_ASSERT(has_line(err.msg, "", ":11: outputs[0].properties: expected a mapping"));
    CU_ASSERT_EQUAL(cfg_load(write_in("map2.yaml",
                                      TENANT "outputs:\n  - name: p\n    type: kafka\n"
                                             "    brokers: b:1\n    topic: t\n"
                                             "    properties:\n      linger.ms: 5\n"
                                             "      acks: [all]\n"),
                             &cfg, &err),
                    DF_ECONFIG);
    CU_ASSERT(has_line(err.msg, "", ":13: outputs[0].properties.acks: expected a string"));
    CU_ASSERT_PTR_NULL(cfg);
}

#ifdef DF_SOURCE_DIR
static void test_shipped_configs(void)
{
    struct cfg *cfg = NULL;
    struct df_err err = {0};

    setenv("DEFENDER_CLIENT_SECRET", "example-secret", 1);
    CU_ASSERT_EQUAL(cfg_load(DF_SOURCE_DIR "/config/example.yaml", &cfg, &err), DF_OK);
    if (cfg == NULL)
        fprintf(stderr, "\n%s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_STRING_EQUAL(cfg->tenants[0].client_secret, "example-secret");
    CU_ASSERT_EQUAL(cfg->n_outputs, 2);
    cfg_free(cfg);
    cfg = NULL;

    setenv("DFW_EMULATOR_PORT", "8123", 1);
    setenv("DFW_DEMO_SECRET", "demo-secret", 1);
    setenv("DFW_STATE_DIR", "/tmp/dfw-demo/state", 1);
    setenv("DFW_OUT_DIR", "/tmp/dfw-demo/out", 1);
    CU_ASSERT_EQUAL(cfg_load(DF_SOURCE_DIR "/config/demo.yaml", &cfg, &err), DF_OK);
    if (cfg == NULL)
        fprintf(stderr, "\n%s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_EQUAL_FATAL(cfg->n_tenants, 1);
    CU_ASSERT_STRING_EQUAL(cfg->tenants[0].name, "demo");
    CU_ASSERT_STRING_EQUAL(cfg->tenants[0].client_secret, "demo-secret");
    CU_ASSERT_STRING_EQUAL(cfg->tenants[0].api_url, "http://127.0.0.1:8123");
    CU_ASSERT_PTR_NOT_NULL(strstr(cfg->tenants[0].token_url, "http://127.0.0.1:8123/"));
    CU_ASSERT_PTR_NOT_NULL(strstr(cfg->tenants[0].token_url, "/oauth2/v2.0/token"));
    CU_ASSERT_PTR_NULL(strstr(cfg->tenants[0].token_url, "{tenant_id}"));
    CU_ASSERT_EQUAL(cfg->collector.poll_interval_s, 5);
    CU_ASSERT_EQUAL(cfg->collector.start_from_s, 30 * 86400);
    CU_ASSERT_STRING_EQUAL(cfg->state.dir, "/tmp/dfw-demo/state");
    CU_ASSERT_EQUAL_FATAL(cfg->n_outputs, 3);
    CU_ASSERT_EQUAL(cfg->outputs[0].format, EVT_JSON);
    CU_ASSERT_STRING_EQUAL(((const struct out_file_opts *) cfg->outputs[0].opts)->path,
                           "/tmp/dfw-demo/out/events.json");
    CU_ASSERT_EQUAL(cfg->outputs[1].format, EVT_CEF);
    CU_ASSERT_STRING_EQUAL(((const struct out_file_opts *) cfg->outputs[1].opts)->path,
                           "/tmp/dfw-demo/out/events.cef");
    CU_ASSERT_STRING_EQUAL(((const struct out_file_opts *) cfg->outputs[2].opts)->path, "-");
    cfg_free(cfg);
}
#endif

void unit_register(void)
{
    CU_pSuite s = CU_add_suite("cfg", init_suite, clean_suite);

    CU_add_test(s, "defaults", test_defaults);
    CU_add_test(s, "every key", test_every_key);
    CU_add_test(s, "start_from absolute", test_start_from_absolute);
    CU_add_test(s, "${VAR} expansion", test_env_expansion);
    CU_add_test(s, "${VAR} errors", test_env_errors);
    CU_add_test(s, "client_secret_file", test_secret_file);
    CU_add_test(s, "unknown keys", test_unknown_keys);
    CU_add_test(s, "wrong types", test_wrong_types);
    CU_add_test(s, "missing keys", test_missing);
    CU_add_test(s, "duplicates", test_duplicates);
    CU_add_test(s, "bad values", test_bad_values);
    CU_add_test(s, "many problems", test_many_problems);
    CU_add_test(s, "file errors", test_file_errors);
    CU_add_test(s, "mapping option", test_mapping_option);
#ifdef DF_SOURCE_DIR
    CU_add_test(s, "shipped configs", test_shipped_configs);
#endif
}
