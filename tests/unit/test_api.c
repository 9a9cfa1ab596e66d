/*
 * API client tests: the rate limiter and the token logic with injected clocks (no network), the
 * client against a scripted one-process HTTP server (exact bytes on the wire, exact answers),
 * and the client against the project's emulator (tests/emulator/emulator.py).
 *
 * DF_EMULATOR in the environment overrides the emulator script's path.
 */
#include "unit.h"

#include "api.h"
#include "auth.h"
#include "dbuf.h"
#include "log.h"
#include "ratelimit.h"
#include "ts.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef DF_SOURCE_DIR
#define DF_SOURCE_DIR "."
#endif
#ifndef DF_FIXTURES_DIR
#define DF_FIXTURES_DIR DF_SOURCE_DIR "/tests/data/fixtures"
#endif

#define SCOPE "https://api.security.microsoft.com/.default"

static df_flag g_stop;

static void on_alarm(int sig)
{
    (void) sig;
    g_stop = 1;
}

/* Sets g_stop after ms milliseconds (SIGALRM), like the daemon's SIGTERM handler would. */
static void stop_after_ms(long ms)
{
    struct sigaction sa;
    struct itimerval it;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    CU_ASSERT_FATAL(sigaction(SIGALRM, &sa, NULL) == 0);
    memset(&it, 0, sizeof(it));
    it.it_value.tv_sec = ms / 1000;
    it.it_value.tv_usec = (ms % 1000) * 1000;
    CU_ASSERT_FATAL(setitimer(ITIMER_REAL, &it, NULL) == 0);
}

static void cancel_alarm(void)
{
    struct itimerval it;
    memset(&it, 0, sizeof(it));
    (void) setitimer(ITIMER_REAL, &it, NULL);
    g_stop = 0;
}

/* ===== rate limiter (injected clock) ===================================================== */

static void test_rl_defaults(void)
{
    struct rl_limiter l;
    int64_t w;

    rl_init(&l, 50, 1500, 0);
    /* Burst of ceil(50/2) = 25 at once ... */
    for (int i = 0; i < 25; i++)
        CU_ASSERT_EQUAL(rl_take_at(&l, 0), 0);
    /* ... then the hour bucket's 1,475 per hour binds (the minute's 25/min is a bit faster):
     * one token every 2.44 s. */
    w = rl_take_at(&l, 0);
    CU_ASSERT_EQUAL(w, 2441);
    CU_ASSERT(rl_take_at(&l, 1000) > 0);
    CU_ASSERT_EQUAL(rl_take_at(&l, w), 0);
    CU_ASSERT(rl_take_at(&l, w) > 0);
}

/* Greedy caller for two simulated hours: no sliding window may see more than the quota. */
static size_t check_windows(uint32_t per_min, uint32_t per_hour)
{
    enum { MAXC = 8000 };
    static int64_t at[MAXC];
    struct rl_limiter l;
    size_t n = 0, lo;
    int64_t t = 0;

    rl_init(&l, per_min, per_hour, 0);
    while (t < 2 * 3600 * 1000 && n < MAXC) {
        int64_t w = rl_take_at(&l, t);
        if (w == 0)
            at[n++] = t;
        else
            t += w;
    }
    CU_ASSERT(n > 0);
    lo = 0;
    for (size_t i = 0; i < n; i++) {
        while (at[i] - at[lo] >= 60 * 1000)
            lo++;
        CU_ASSERT(i - lo + 1 <= per_min);
        if (i - lo + 1 > per_min)
            break;
    }
    lo = 0;
    for (size_t i = 0; i < n; i++) {
        while (at[i] - at[lo] >= 3600 * 1000)
            lo++;
        CU_ASSERT(i - lo + 1 <= per_hour);
        if (i - lo + 1 > per_hour)
            break;
    }
    return n;
}

static void test_rl_never_over_quota(void)
{
    /* Defaults: and nearly all of the quota is used, 25 + 1,475 per hour. */
    CU_ASSERT(check_windows(50, 1500) >= 25 + 2 * 1475 - 1);
    check_windows(100, 1500);
    check_windows(2, 1500);
    check_windows(50, 60);
}

static void test_rl_small_and_unlimited(void)
{
    struct rl_limiter l;

    rl_init(&l, 2, 0, 0); /* burst 1, then 1 per minute */
    CU_ASSERT_EQUAL(rl_take_at(&l, 0), 0);
    CU_ASSERT_EQUAL(rl_take_at(&l, 0), 60000);
    CU_ASSERT_EQUAL(rl_take_at(&l, 60000), 0);

    rl_init(&l, 1, 0, 0); /* burst 1, half a token per minute: at most one call a minute */
    CU_ASSERT_EQUAL(rl_take_at(&l, 0), 0);
    CU_ASSERT_EQUAL(rl_take_at(&l, 0), 120000);

    rl_init(&l, 0, 0, 0);
    for (int i = 0; i < 10000; i++)
        CU_ASSERT_EQUAL(rl_take_at(&l, 0), 0);

    /* A clock going backwards refills nothing and does not break the bucket. */
    rl_init(&l, 2, 0, 1000);
    CU_ASSERT_EQUAL(rl_take_at(&l, 1000), 0);
    CU_ASSERT(rl_take_at(&l, 500) > 0);
}

static void test_rl_sleep_and_stop(void)
{
    struct rl_limiter l;
    int64_t t0;

    t0 = rl_now_ms();
    CU_ASSERT_EQUAL(rl_sleep_ms(50, NULL), DF_OK);
    CU_ASSERT(rl_now_ms() - t0 >= 50);

    g_stop = 1;
    t0 = rl_now_ms();
    CU_ASSERT_EQUAL(rl_sleep_ms(10000, &g_stop), DF_ESTOP);
    CU_ASSERT(rl_now_ms() - t0 < 100);
    g_stop = 0;

    /* The second token is a minute away; a stop 300 ms in ends the wait within a slice. */
    rl_init(&l, 1, 0, rl_now_ms());
    CU_ASSERT_EQUAL(rl_take(&l, &g_stop), DF_OK);
    t0 = rl_now_ms();
    stop_after_ms(300);
    CU_ASSERT_EQUAL(rl_take(&l, &g_stop), DF_ESTOP);
    CU_ASSERT(rl_now_ms() - t0 < 700);
    cancel_alarm();
}

/* ===== auth (no network) ================================================================= */

static char *fixture(const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", DF_FIXTURES_DIR, name);
    return unit_read_file(path, NULL);
}

static void test_auth_parse_fixtures(void)
{
    static const char *const files[] = {"token-v1-response-docs-example.json",
                                        "token-v1-response-observed.json",
                                        "token-v2-response-docs-example.json"};
    for (size_t i = 0; i < DF_ARRAY_LEN(files); i++) {
        struct auth_token t;
        struct df_err err = {0, ""};
        char *body = fixture(files[i]);

        CU_ASSERT_PTR_NOT_NULL_FATAL(body);
        auth_token_init(&t);
        CU_ASSERT_EQUAL(auth_token_parse(&t, body, 1000, &err), DF_OK);
        CU_ASSERT_EQUAL(t.lifetime_s, 3599);
        /* Renewal 300 s (the cap) before expiry. */
        CU_ASSERT_EQUAL(t.renew_at_ms, 1000 + 3599000 - 300000);
        CU_ASSERT_PTR_NOT_NULL(t.access_token);
        CU_ASSERT(auth_token_usable(&t, 1000));
        CU_ASSERT(!auth_token_usable(&t, t.renew_at_ms));
        auth_token_clear(&t);
        CU_ASSERT(!auth_token_usable(&t, 0));
        free(body);
    }
}

static void test_auth_parse_edge(void)
{
    struct auth_token t;
    struct df_err err = {0, ""};
    char *h = NULL;

    auth_token_init(&t);
    /* Short lifetime: margin is a quarter of it. */
    CU_ASSERT_EQUAL(
        auth_token_parse(&t, "{\"access_token\":\"abc.def\",\"expires_in\":3}", 0, &err), DF_OK);
    CU_ASSERT_EQUAL(t.renew_at_ms, 3000 - 750);
    CU_ASSERT_EQUAL(auth_header(&t, &h), DF_OK);
    CU_ASSERT_STRING_EQUAL(h, "Authorization: Bearer abc.def");
    auth_wipe_str(h);
    free(h);
    /* A failed parse keeps the cached token. */
    CU_ASSERT_EQUAL(auth_token_parse(&t, "{\"access_token\":", 0, &err), DF_EPARSE);
    CU_ASSERT_STRING_EQUAL(t.access_token, "abc.def");
    CU_ASSERT_EQUAL(auth_token_parse(&t, "{\"token_type\":\"Bearer\"}", 0, &err), DF_EAUTH);
    CU_ASSERT_EQUAL(auth_token_parse(&t, "{\"access_token\":\"a\\r\\nX-Evil: 1\"}", 0, &err),
                    DF_EAUTH);
    CU_ASSERT_EQUAL(auth_token_parse(&t, "{\"access_token\":\"\"}", 0, &err), DF_EAUTH);
    CU_ASSERT_EQUAL(auth_token_parse(&t, "[1]", 0, &err), DF_EPARSE);
    CU_ASSERT_EQUAL(auth_token_parse(&t, NULL, 0, &err), DF_EPARSE);
    /* expires_in missing or junk: a short default rather than a failure. */
    CU_ASSERT_EQUAL(
        auth_token_parse(&t, "{\"access_token\":\"x\",\"expires_in\":\"soon\"}", 0, &err), DF_OK);
    CU_ASSERT_EQUAL(t.lifetime_s, 300);
    auth_token_clear(&t);
    CU_ASSERT_EQUAL(auth_header(&t, &h), DF_EINVAL);
    CU_ASSERT_PTR_NULL(h);
}

static void test_auth_form(void)
{
    struct dbuf f;
    struct df_err err = {0, ""};

    dbuf_init(&f, 4096);
    CU_ASSERT_EQUAL(auth_form(&f, "https://login.microsoftonline.com/t/oauth2/v2.0/token", "c id",
                              "p&s=w+d%", SCOPE, &err),
                    DF_OK);
    CU_ASSERT_STRING_EQUAL(f.p, "grant_type=client_credentials&client_id=c%20id&client_secret="
                                "p%26s%3Dw%2Bd%25&scope=https%3A%2F%2Fapi.security.microsoft."
                                "com%2F.default");
    auth_wipe_dbuf(&f);
    CU_ASSERT_EQUAL(
        auth_form(&f, "https://login.microsoftonline.com/t/oauth2/token", "cid", "s", SCOPE, &err),
        DF_OK);
    CU_ASSERT_STRING_EQUAL(f.p, "grant_type=client_credentials&client_id=cid&client_secret=s&"
                                "resource=https%3A%2F%2Fapi.security.microsoft.com");
    auth_wipe_dbuf(&f);
    CU_ASSERT_EQUAL(auth_form(&f, "https://login.microsoftonline.com/t/oauth2/token", "cid", "s",
                              "api://x", &err),
                    DF_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(f.p, "&resource=api%3A%2F%2Fx"));
    dbuf_free(&f);
    CU_ASSERT(auth_is_v1("https://h/t/oauth2/token"));
    CU_ASSERT(!auth_is_v1("https://h/t/oauth2/v2.0/token"));
}

static void test_auth_error(void)
{
    struct df_err err = {0, ""};

    CU_ASSERT_EQUAL(auth_error(400,
                               "{\"error\":\"invalid_scope\",\"error_description\":"
                               "\"AADSTS70011: bad\\r\\nTrace ID: x\",\"error_codes\":"
                               "[70011,50012],\"trace_id\":\"tr-1\",\"correlation_id\":"
                               "\"co-1\"}",
                               &err),
                    DF_EAUTH);
    CU_ASSERT_STRING_EQUAL(err.msg, "token endpoint refused the request: HTTP 400 "
                                    "error=invalid_scope error_codes=70011,50012 trace_id=tr-1 "
                                    "correlation_id=co-1");
    CU_ASSERT_EQUAL(auth_error(404, "<html>nope</html>", &err), DF_EAUTH);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "HTTP 404"));
    CU_ASSERT_EQUAL(auth_error(401, "{}", &err), DF_EAUTH);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "error=- error_codes=- trace_id=-"));
}

/* ===== scripted HTTP server ============================================================== */

/* One canned answer. cut: announce more bytes than are sent, then close (a truncated body). */
struct canned {
    int status;
    const char *headers; /* extra header lines, each ending in \r\n */
    const char *body;
    int cut;
};

struct mock {
    pid_t pid;
    char url[64];
    char *dir;
    char log[512];
};

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t) w;
    }
}

static const char *ci_strstr(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay != '\0'; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

/* Reads one request into buf (headers and Content-Length body); 0 when the peer closed. */
static size_t read_request(int fd, char *buf, size_t cap)
{
    size_t len = 0, need = 0;
    char *eoh = NULL;

    while (len + 1 < cap) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0)
            return 0;
        len += (size_t) n;
        buf[len] = '\0';
        if (eoh == NULL && (eoh = strstr(buf, "\r\n\r\n")) != NULL) {
            const char *cl = ci_strstr(buf, "\r\nContent-Length:");
            need = (size_t) (eoh + 4 - buf);
            if (cl != NULL && cl < eoh)
                need += (size_t) strtoul(cl + 17, NULL, 10);
        }
        if (eoh != NULL && len >= need)
            return len;
    }
    return len;
}

static void mock_child(int lfd, const struct canned *script, size_t n, const char *logpath)
{
    static char req[1 << 16];
    size_t i = 0;

    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            _exit(1);
        for (;;) {
            size_t len = read_request(fd, req, sizeof(req));
            char head[1024];
            const struct canned *a;
            size_t blen;
            int lf;

            if (len == 0)
                break;
            lf = open(logpath, O_WRONLY | O_APPEND | O_CREAT, 0600);
            if (lf >= 0) {
                write_all(lf, req, len);
                write_all(lf, "\n=====\n", 7);
                close(lf);
            }
            if (i >= n) {
                static const struct canned exhausted = {599, "", "{\"error\":\"script\"}", 0};
                a = &exhausted;
            } else {
                a = &script[i++];
            }
            blen = strlen(a->body);
            snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n%sContent-Length: "
                     "%zu\r\n\r\n",
                     a->status, a->headers, blen + (a->cut ? 100 : 0));
            write_all(fd, head, strlen(head));
            write_all(fd, a->body, blen);
            if (a->cut)
                break;
        }
        close(fd);
    }
}

static int mock_start(struct mock *m, const struct canned *script, size_t n)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int lfd;

    memset(m, 0, sizeof(*m));
    m->dir = unit_tmpdir();
    if (m->dir == NULL)
        return -1;
    snprintf(m->log, sizeof(m->log), "%s/requests.log", m->dir);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) != 0 || listen(lfd, 8) != 0 ||
        getsockname(lfd, (struct sockaddr *) &sa, &sl) != 0) {
        close(lfd);
        return -1;
    }
    snprintf(m->url, sizeof(m->url), "http://127.0.0.1:%d", ntohs(sa.sin_port));
    m->pid = fork();
    if (m->pid == 0)
        mock_child(lfd, script, n, m->log);
    close(lfd);
    return m->pid > 0 ? 0 : -1;
}

/* Stops the server and returns everything it received (caller frees). */
static char *mock_stop(struct mock *m)
{
    char *log;

    if (m->pid > 0) {
        kill(m->pid, SIGKILL);
        waitpid(m->pid, NULL, 0);
    }
    log = unit_read_file(m->log, NULL);
    if (m->dir != NULL) {
        unit_rmtree(m->dir);
        free(m->dir);
    }
    return log != NULL ? log : strdup("");
}

static char g_token_url[128];

static struct api_config mock_cfg(const struct mock *m, const char *token_path)
{
    struct api_config cfg;

    snprintf(g_token_url, sizeof(g_token_url), "%s%s", m->url, token_path);
    memset(&cfg, 0, sizeof(cfg));
    cfg.tenant = "scripted";
    cfg.tenant_id = "t1";
    cfg.client_id = "cid";
    cfg.client_secret = "s&cr=t x";
    cfg.api_url = m->url;
    cfg.token_url = g_token_url;
    cfg.scope = SCOPE;
    cfg.timeout_s = 5;
    cfg.stop = &g_stop;
    return cfg;
}

#define TOKEN_V2(tok)                                                                              \
    {                                                                                              \
        200, "", "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"" tok "\"}", 0 \
    }
#define EMPTY_PAGE                                                                                 \
    {                                                                                              \
        200, "", "{\"value\":[]}", 0                                                               \
    }

/* Runs a list call against a script; returns the call's result, the request log and stats. */
static int run_list(const struct canned *script, size_t n, int max_attempts, char **log,
                    struct api_stats *st, struct df_err *err, int64_t *elapsed_ms)
{
    struct mock m;
    struct api_client *c = NULL;
    struct api_config cfg;
    yajl_val root = NULL;
    int rc;
    int64_t t0;

    CU_ASSERT_FATAL(mock_start(&m, script, n) == 0);
    cfg = mock_cfg(&m, "/t1/oauth2/v2.0/token");
    cfg.max_attempts = max_attempts;
    rc = api_client_new(&c, &cfg, err);
    CU_ASSERT_EQUAL_FATAL(rc, DF_OK);
    api_set_backoff(c, 10, 40);
    t0 = rl_now_ms();
    rc = api_list_incidents(c, NULL, 100, 0, &root, err);
    if (elapsed_ms != NULL)
        *elapsed_ms = rl_now_ms() - t0;
    CU_ASSERT((rc == DF_OK) == (root != NULL));
    yajl_tree_free(root);
    api_get_stats(c, st);
    api_client_free(c);
    *log = mock_stop(&m);
    return rc;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void test_v1_wire_format(void)
{
    static const struct canned script[] = {
        {200, "", "{\"token_type\":\"Bearer\",\"expires_in\":\"3599\",\"access_token\":\"tok-v1\"}",
         0},
        {200, "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n", "{\"value\":[{\"incidentId\":7}]}", 0},
    };
    struct mock m;
    struct api_client *c = NULL;
    struct api_config cfg;
    struct df_err err = {0, ""};
    yajl_val root = NULL;
    const char *value_path[] = {"value", NULL};
    char *log;
    int64_t server_s;

    CU_ASSERT_FATAL(mock_start(&m, script, DF_ARRAY_LEN(script)) == 0);
    cfg = mock_cfg(&m, "/t1/oauth2/token");
    CU_ASSERT_EQUAL_FATAL(api_client_new(&c, &cfg, &err), DF_OK);
    CU_ASSERT_EQUAL(api_server_now_ticks(c) / TS_TICKS_PER_SEC, ts_now_ticks() / TS_TICKS_PER_SEC);
    CU_ASSERT_EQUAL(api_list_incidents(c,
                                       "lastUpdateTime ge 2024-05-01T00:00:00.1234567Z and "
                                       "status eq 'Active'",
                                       100, 0, &root, &err),
                    DF_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    CU_ASSERT_EQUAL(YAJL_GET_ARRAY(yajl_tree_get(root, value_path, yajl_t_array))->len, 1);
    yajl_tree_free(root);
    /* The server's clock is learned from Date (1994 here), whatever the host says. */
    server_s = api_server_now_ticks(c) / TS_TICKS_PER_SEC;
    CU_ASSERT(server_s >= 784111777 && server_s <= 784111777 + 5);
    api_client_free(c);
    log = mock_stop(&m);

    CU_ASSERT_PTR_NOT_NULL(strstr(log, "POST /t1/oauth2/token HTTP/1.1\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "Content-Type: application/x-www-form-urlencoded\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "grant_type=client_credentials&client_id=cid&"
                                       "client_secret=s%26cr%3Dt%20x&resource=https%3A%2F%2Fapi."
                                       "security.microsoft.com\n"));
    CU_ASSERT_PTR_NULL(strstr(log, "scope="));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "GET /api/incidents?$filter=lastUpdateTime%20ge%20"
                                       "2024-05-01T00%3A00%3A00.1234567Z%20and%20status%20eq%20"
                                       "%27Active%27&$top=100&$skip=0 HTTP/1.1\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "Authorization: Bearer tok-v1\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "Accept: application/json\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "Accept-Encoding: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "User-Agent: MdatpPartner-DefenderForwarder-defender-"
                                       "forwarder/"));
    /* Keep-alive: one connection would show no second handshake; at least no "close". */
    CU_ASSERT_PTR_NULL(ci_strstr(log, "Connection: close"));
    free(log);
}

static void test_v2_patch_wire_format(void)
{
    static const struct canned script[] = {
        TOKEN_V2("tok-v2"),
        {200, "", "{\"@odata.context\":\"x\",\"incidentId\":5,\"status\":\"Resolved\"}", 0},
    };
    struct mock m;
    struct api_client *c = NULL;
    struct api_config cfg;
    struct df_err err = {0, ""};
    yajl_val root = NULL;
    const char *status_path[] = {"status", NULL};
    char *log;

    CU_ASSERT_FATAL(mock_start(&m, script, DF_ARRAY_LEN(script)) == 0);
    cfg = mock_cfg(&m, "/t1/oauth2/v2.0/token");
    CU_ASSERT_EQUAL_FATAL(api_client_new(&c, &cfg, &err), DF_OK);
    CU_ASSERT_EQUAL(api_update_incident(c, "5", "{\"status\":\"Resolved\"}", &root, &err), DF_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    CU_ASSERT_STRING_EQUAL(YAJL_GET_STRING(yajl_tree_get(root, status_path, yajl_t_string)),
                           "Resolved");
    yajl_tree_free(root);
    /* Ids are digits only: nothing is sent for anything else. */
    CU_ASSERT_EQUAL(api_get_incident(c, "5/../../x", &root, &err), DF_EINVAL);
    CU_ASSERT_EQUAL(api_get_incident(c, "", &root, &err), DF_EINVAL);
    CU_ASSERT_EQUAL(api_get_incident(c, "12345678901234567890", &root, &err), DF_EINVAL);
    CU_ASSERT_EQUAL(api_list_incidents(c, NULL, 0, 0, &root, &err), DF_EINVAL);
    CU_ASSERT_PTR_NULL(root);
    api_client_free(c);
    log = mock_stop(&m);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "&scope=https%3A%2F%2Fapi.security.microsoft.com%2F."
                                       "default\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "PATCH /api/incidents/5 HTTP/1.1\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "Content-Type: application/json\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "\r\n\r\n{\"status\":\"Resolved\"}\n"));
    CU_ASSERT_EQUAL(count(log, "====="), 2);
    free(log);
}

static void test_429_retry_after(void)
{
    static const struct canned script[] = {
        TOKEN_V2("t"),
        {429, "Retry-After: 1\r\n",
         "{\"error\":{\"code\":\"TooManyRequests\",\"message\":"
         "\"Rate limit is exceeded. Try again in 30 seconds.\"}}",
         0},
        EMPTY_PAGE,
    };
    struct df_err err = {0, ""};
    struct api_stats st;
    char *log;
    int64_t ms;

    /* The header wins over the body's 30 seconds. */
    CU_ASSERT_EQUAL(run_list(script, DF_ARRAY_LEN(script), 0, &log, &st, &err, &ms), DF_OK);
    CU_ASSERT(ms >= 950 && ms < 5000);
    CU_ASSERT_EQUAL(st.throttled, 1);
    CU_ASSERT_EQUAL(st.calls, 2);
    CU_ASSERT_EQUAL(st.retries, 1);
    CU_ASSERT_EQUAL(st.token_requests, 1);
    free(log);
}

static void test_429_body_seconds(void)
{
    static const struct canned script[] = {
        TOKEN_V2("t"),
        {429, "",
         "{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"Rate limit is exceeded. "
         "You can send requests again in 1 seconds.\"}}",
         0},
        {429, "",
         "{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"Rate limit is exceeded. "
         "You can send requests again in 1 seconds.\"}}",
         0},
        EMPTY_PAGE,
    };
    struct df_err err = {0, ""};
    struct api_stats st;
    char *log;
    int64_t ms;

    CU_ASSERT_EQUAL(run_list(script, DF_ARRAY_LEN(script), 1, &log, &st, &err, &ms), DF_OK);
    /* Two waits of 1 s; 429s do not use up attempts (max_attempts is 1 here). */
    CU_ASSERT(ms >= 1950 && ms < 6000);
    CU_ASSERT_EQUAL(st.throttled, 2);
    free(log);
}

static void test_401_renews_once(void)
{
    static const struct canned once[] = {
        TOKEN_V2("tok-a"),
        {401, "", "{\"error\":{\"code\":\"Unauthorized\",\"message\":\"expired\"}}", 0},
        TOKEN_V2("tok-b"),
        EMPTY_PAGE,
    };
    static const struct canned twice[] = {
        TOKEN_V2("tok-a"),
        {401, "", "{\"error\":{\"code\":\"Unauthorized\",\"message\":\"expired\"}}", 0},
        TOKEN_V2("tok-b"),
        {401, "",
         "{\"error\":{\"code\":\"Unauthorized\",\"message\":\"Invalid Authorization "
         "payload\"}}",
         0},
    };
    struct df_err err = {0, ""};
    struct api_stats st;
    char *log;

    CU_ASSERT_EQUAL(run_list(once, DF_ARRAY_LEN(once), 0, &log, &st, &err, NULL), DF_OK);
    CU_ASSERT_EQUAL(st.token_requests, 2);
    CU_ASSERT_EQUAL(st.calls, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(strstr(log, "Bearer tok-a"), "Bearer tok-b"));
    free(log);

    CU_ASSERT_EQUAL(run_list(twice, DF_ARRAY_LEN(twice), 0, &log, &st, &err, NULL), DF_EAUTH);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "Invalid Authorization payload"));
    CU_ASSERT_PTR_NULL(strstr(err.msg, "tok-"));
    CU_ASSERT_EQUAL(st.token_requests, 2);
    free(log);
}

static void test_permanent_errors(void)
{
    static const struct canned bad[] = {
        TOKEN_V2("t"),
        {400, "",
         "{\"error\":{\"code\":\"ODataError\",\"message\":\"Invalid OData URI query "
         "foo\",\"target\":\"g\"}}",
         0},
    };
    static const struct canned forbidden[] = {
        TOKEN_V2("t"),
        {403, "", "{\"error\":{\"code\":\"Forbidden\",\"message\":\"Missing application roles\"}}",
         0},
    };
    static const struct canned notfound[] = {
        TOKEN_V2("t"),
        {404, "", "not json", 0},
    };
    struct df_err err = {0, ""};
    struct api_stats st;
    char *log;

    CU_ASSERT_EQUAL(run_list(bad, DF_ARRAY_LEN(bad), 0, &log, &st, &err, NULL), DF_EHTTP);
    CU_ASSERT_STRING_EQUAL(err.msg, "HTTP 400 ODataError: Invalid OData URI query foo");
    CU_ASSERT_EQUAL(st.calls, 1);
    free(log);
    CU_ASSERT_EQUAL(run_list(forbidden, DF_ARRAY_LEN(forbidden), 0, &log, &st, &err, NULL),
                    DF_EHTTP);
    CU_ASSERT_STRING_EQUAL(err.msg, "HTTP 403 Forbidden: Missing application roles");
    free(log);
    /* 404 of the collection means a wrong api_url: permanent, not "no such incident". */
    CU_ASSERT_EQUAL(run_list(notfound, DF_ARRAY_LEN(notfound), 0, &log, &st, &err, NULL), DF_EHTTP);
    CU_ASSERT_STRING_EQUAL(err.msg, "HTTP 404 -: (no error message)");
    CU_ASSERT_EQUAL(st.calls, 1);
    free(log);
}

static void test_transient_then_ok(void)
{
    static const struct canned script[] = {
        {503, "", "", 0}, /* the token endpoint is retried too */
        TOKEN_V2("t"),
        {500, "", "{\"error\":{\"code\":\"InternalServerError\"}}", 0},
        {200, "", "{\"value\":[{\"incidentId\":1}", 1}, /* truncated */
        {200, "", "{\"value\":[{\"incidentId\":1}", 0}, /* malformed */
        {200, "", "{\"value\":3}", 0},                  /* not the expected shape */
        {200, "", "{\"value\":[]}", 0},
    };
    struct df_err err = {0, ""};
    struct api_stats st;
    char *log;

    CU_ASSERT_EQUAL(run_list(script, DF_ARRAY_LEN(script), 0, &log, &st, &err, NULL), DF_OK);
    CU_ASSERT_EQUAL(st.token_requests, 2);
    CU_ASSERT_EQUAL(st.calls, 5);
    CU_ASSERT_EQUAL(st.retries, 4);
    free(log);
}

static void test_transient_exhausted(void)
{
    static const struct canned script[] = {
        TOKEN_V2("t"), {503, "", "", 0}, {500, "", "", 0}, {502, "", "", 0}, EMPTY_PAGE,
    };
    struct df_err err = {0, ""};
    struct api_stats st;
    char *log;

    CU_ASSERT_EQUAL(run_list(script, DF_ARRAY_LEN(script), 3, &log, &st, &err, NULL), DF_ERETRY);
    CU_ASSERT_STRING_EQUAL(err.msg, "GET /api/incidents?$top=100&$skip=0: giving up after 3 "
                                    "attempts: HTTP 502");
    CU_ASSERT_EQUAL(st.calls, 3);
    free(log);
}

static void test_token_endpoint_refusal(void)
{
    static const struct canned script[] = {
        {401, "",
         "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid "
         "client secret provided.\",\"error_codes\":[7000215],\"timestamp\":\"x\","
         "\"trace_id\":\"tr-9\",\"correlation_id\":\"co-9\"}",
         0},
    };
    struct df_err err = {0, ""};
    struct api_stats st;
    char *log;

    CU_ASSERT_EQUAL(run_list(script, DF_ARRAY_LEN(script), 0, &log, &st, &err, NULL), DF_EAUTH);
    CU_ASSERT_STRING_EQUAL(err.msg, "token endpoint refused the request: HTTP 401 "
                                    "error=invalid_client error_codes=7000215 trace_id=tr-9 "
                                    "correlation_id=co-9");
    CU_ASSERT_EQUAL(st.token_requests, 1);
    CU_ASSERT_EQUAL(st.calls, 0);
    free(log);
}

/* Runs fn with stderr captured; returns what it wrote (caller frees). */
static char *capture_stderr(void (*fn)(void *), void *arg)
{
    char path[] = "/tmp/dfw-stderr-XXXXXX";
    int fd = mkstemp(path), saved;
    char *out;

    CU_ASSERT_FATAL(fd >= 0);
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    CU_ASSERT_FATAL(saved >= 0 && dup2(fd, STDERR_FILENO) >= 0);
    fn(arg);
    fflush(stderr);
    CU_ASSERT_FATAL(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    close(fd);
    out = unit_read_file(path, NULL);
    unlink(path);
    return out;
}

static void new_and_free(void *arg)
{
    struct api_config *cfg = arg;
    struct api_client *c = NULL;
    struct df_err err = {0, ""};

    log_set_level(LOG_DEBUG);
    CU_ASSERT_EQUAL(api_client_new(&c, cfg, &err), DF_OK);
    api_client_free(c);
    log_set_level(LOG_ERROR);
}

static void test_plain_http_warning(void)
{
    struct api_config cfg;
    char *out;

    memset(&cfg, 0, sizeof(cfg));
    cfg.tenant = "w";
    cfg.client_id = "cid";
    cfg.client_secret = "very-secret-value";
    cfg.scope = SCOPE;
    cfg.api_url = "http://127.0.0.1:1";
    cfg.token_url = "http://127.0.0.1:1/t/oauth2/v2.0/token";
    out = capture_stderr(new_and_free, &cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_EQUAL(count(out, "\n"), 1);
    CU_ASSERT_EQUAL(count(out, " warn api "), 1);
    CU_ASSERT_PTR_NULL(strstr(out, "very-secret-value"));
    free(out);

    cfg.api_url = "https://127.0.0.1:1/";
    cfg.token_url = "https://127.0.0.1:1/t/oauth2/v2.0/token";
    out = capture_stderr(new_and_free, &cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_STRING_EQUAL(out, "");
    free(out);

    {
        struct api_client *c = NULL;
        struct df_err err = {0, ""};
        cfg.api_url = "ftp://x";
        CU_ASSERT_EQUAL(api_client_new(&c, &cfg, &err), DF_EINVAL);
        CU_ASSERT_PTR_NULL(c);
        cfg.api_url = "https://x";
        cfg.client_secret = "";
        CU_ASSERT_EQUAL(api_client_new(&c, &cfg, &err), DF_EINVAL);
    }
}

/* ===== against the emulator ============================================================== */

struct emu {
    pid_t pid;
    char url[64];
    char token_url[128];
    char *dir;
};

static const char *emulator_path(void)
{
    const char *p = getenv("DF_EMULATOR");
    return p != NULL && *p != '\0' ? p : DF_SOURCE_DIR "/tests/emulator/emulator.py";
}

/* Starts the emulator with extra arguments (NULL-terminated) and waits for its first line. */
static int emu_start(struct emu *e, const char *const *extra)
{
    char out[512], *argv[40];
    size_t n = 0;
    int port = 0;

    memset(e, 0, sizeof(*e));
    e->dir = unit_tmpdir();
    if (e->dir == NULL || access(emulator_path(), R_OK) != 0)
        return -1;
    snprintf(out, sizeof(out), "%s/stdout", e->dir);
    argv[n++] = "python3";
    argv[n++] = (char *) emulator_path();
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--quiet";
    for (; extra != NULL && *extra != NULL && n + 1 < DF_ARRAY_LEN(argv); extra++)
        argv[n++] = (char *) *extra;
    argv[n] = NULL;
    fflush(NULL);
    e->pid = fork();
    if (e->pid < 0)
        return -1;
    if (e->pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
            _exit(127);
        execvp("python3", argv);
        _exit(127);
    }
    /* Up to 15 s for the "listening http://127.0.0.1:PORT" line. */
    for (int i = 0; i < 300 && port == 0; i++) {
        char *text = unit_read_file(out, NULL);
        const char *p = text != NULL ? strstr(text, "listening http://127.0.0.1:") : NULL;
        if (p != NULL && strchr(p, '\n') != NULL)
            port = atoi(p + strlen("listening http://127.0.0.1:"));
        free(text);
        if (port == 0) {
            if (waitpid(e->pid, NULL, WNOHANG) == e->pid) {
                e->pid = 0;
                return -1;
            }
            usleep(50000);
        }
    }
    if (port == 0)
        return -1;
    snprintf(e->url, sizeof(e->url), "http://127.0.0.1:%d", port);
    snprintf(e->token_url, sizeof(e->token_url), "%s/t1/oauth2/v2.0/token", e->url);
    return 0;
}

static void emu_stop(struct emu *e)
{
    if (e->pid > 0) {
        kill(e->pid, SIGTERM);
        waitpid(e->pid, NULL, 0);
        e->pid = 0;
    }
    if (e->dir != NULL) {
        unit_rmtree(e->dir);
        free(e->dir);
        e->dir = NULL;
    }
}

static size_t discard(char *p, size_t s, size_t n, void *ud)
{
    (void) p;
    return dbuf_append(ud, p, s * n) == DF_OK ? s * n : 0;
}

/* GET /_control/stats and returns the integer at path, or -1. */
static long long emu_stat(const struct emu *e, const char **path)
{
    CURL *h = curl_easy_init();
    struct dbuf b;
    char url[128];
    long long v = -1;

    dbuf_init(&b, 1 << 20);
    snprintf(url, sizeof(url), "%s/_control/stats", e->url);
    if (h != NULL && curl_easy_setopt(h, CURLOPT_URL, url) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard) == CURLE_OK &&
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b) == CURLE_OK &&
        curl_easy_perform(h) == CURLE_OK && b.p != NULL) {
        yajl_val root = yajl_tree_parse(b.p, NULL, 0);
        yajl_val n = root != NULL ? yajl_tree_get(root, path, yajl_t_number) : NULL;
        if (n != NULL && YAJL_IS_INTEGER(n))
            v = YAJL_GET_INTEGER(n);
        yajl_tree_free(root);
    }
    if (h != NULL)
        curl_easy_cleanup(h);
    dbuf_free(&b);
    return v;
}

static struct api_config emu_cfg(const struct emu *e, const char *secret)
{
    struct api_config cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.tenant = "emulated";
    cfg.tenant_id = "t1";
    cfg.client_id = "11111111-1111-1111-1111-111111111111";
    cfg.client_secret = secret;
    cfg.api_url = e->url;
    cfg.token_url = e->token_url;
    cfg.scope = SCOPE;
    cfg.timeout_s = 10;
    cfg.per_minute = 0;
    cfg.per_hour = 0;
    cfg.stop = &g_stop;
    return cfg;
}

static size_t value_len(yajl_val root)
{
    const char *path[] = {"value", NULL};
    yajl_val v = root != NULL ? yajl_tree_get(root, path, yajl_t_array) : NULL;
    return v != NULL ? YAJL_GET_ARRAY(v)->len : (size_t) -1;
}

static struct emu g_emu; /* the plain emulator shared by the basic tests */
static int g_emu_ok;

static int emu_suite_init(void)
{
    static const char *const args[] = {"--generate", "30", "--seed", "7", NULL};
    g_emu_ok = emu_start(&g_emu, args) == 0;
    if (!g_emu_ok)
        fprintf(stderr, "emulator %s did not start\n", emulator_path());
    return 0;
}

static int emu_suite_clean(void)
{
    emu_stop(&g_emu);
    return 0;
}

static void test_emu_list_get_patch(void)
{
    struct api_client *c = NULL;
    struct api_config cfg;
    struct df_err err = {0, ""};
    struct api_stats st;
    yajl_val root = NULL, first;
    const char *id_path[] = {"incidentId", NULL};
    const char *status_path[] = {"status", NULL};
    char id[32];
    int64_t skew;

    CU_ASSERT_FATAL(g_emu_ok);
    cfg = emu_cfg(&g_emu, "test-secret");
    CU_ASSERT_EQUAL_FATAL(api_client_new(&c, &cfg, &err), DF_OK);
    CU_ASSERT_EQUAL(api_list_incidents(c,
                                       "lastUpdateTime ge 2000-01-01T00:00:00.0000000Z and "
                                       "lastUpdateTime lt 2100-01-01T00:00:00.0000000Z",
                                       10, 5, &root, &err),
                    DF_OK);
    CU_ASSERT_EQUAL(value_len(root), 10);
    first = root != NULL
                ? YAJL_GET_ARRAY(yajl_tree_get(root, (const char *[]){"value", NULL}, yajl_t_array))
                      ->values[0]
                : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(first);
    snprintf(id, sizeof(id), "%lld",
             (long long) YAJL_GET_INTEGER(yajl_tree_get(first, id_path, yajl_t_number)));
    yajl_tree_free(root);
    /* The last page is short. */
    CU_ASSERT_EQUAL(api_list_incidents(c, NULL, 10, 25, &root, &err), DF_OK);
    CU_ASSERT_EQUAL(value_len(root), 5);
    yajl_tree_free(root);

    CU_ASSERT_EQUAL(api_get_incident(c, id, &root, &err), DF_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    CU_ASSERT_EQUAL(YAJL_GET_INTEGER(yajl_tree_get(root, id_path, yajl_t_number)), atoll(id));
    yajl_tree_free(root);

    CU_ASSERT_EQUAL(api_get_incident(c, "999999999", &root, &err), DF_ENOTFOUND);
    CU_ASSERT_PTR_NULL(root);

    CU_ASSERT_EQUAL(
        api_update_incident(c, id, "{\"status\":\"Resolved\",\"tags\":[\"unit\"]}", &root, &err),
        DF_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    CU_ASSERT_STRING_EQUAL(YAJL_GET_STRING(yajl_tree_get(root, status_path, yajl_t_string)),
                           "Resolved");
    yajl_tree_free(root);

    /* $top above 100 is the API's 400, not ours. */
    CU_ASSERT_EQUAL(api_list_incidents(c, NULL, 101, 0, &root, &err), DF_EHTTP);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "HTTP 400"));

    api_get_stats(c, &st);
    CU_ASSERT_EQUAL(st.token_requests, 1);
    CU_ASSERT_EQUAL(st.calls, 6);
    CU_ASSERT_EQUAL(st.throttled, 0);
    /* Same host: the learned server clock is the host's within a couple of seconds. */
    skew = api_server_now_ticks(c) - ts_now_ticks();
    CU_ASSERT(skew > -3 * TS_TICKS_PER_SEC && skew < 3 * TS_TICKS_PER_SEC);
    api_client_free(c);
}

static void test_emu_wrong_secret(void)
{
    struct api_client *c = NULL;
    struct api_config cfg;
    struct df_err err = {0, ""};
    struct api_stats st;
    yajl_val root = NULL;

    CU_ASSERT_FATAL(g_emu_ok);
    cfg = emu_cfg(&g_emu, "Wr0ng-S3cret&x");
    CU_ASSERT_EQUAL_FATAL(api_client_new(&c, &cfg, &err), DF_OK);
    CU_ASSERT_EQUAL(api_list_incidents(c, NULL, 10, 0, &root, &err), DF_EAUTH);
    CU_ASSERT_PTR_NULL(root);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "error="));
    CU_ASSERT_PTR_NULL(strstr(err.msg, "Wr0ng"));
    CU_ASSERT_PTR_NULL(strstr(err.msg, "S3cret"));
    api_get_stats(c, &st);
    CU_ASSERT_EQUAL(st.token_requests, 1);
    CU_ASSERT_EQUAL(st.calls, 0);
    api_client_free(c);
}

static void test_emu_token_renewal(void)
{
    static const char *const args[] = {"--generate", "5", "--token-lifetime", "3", NULL};
    struct emu e;
    struct api_client *c = NULL;
    struct api_config cfg;
    struct df_err err = {0, ""};
    struct api_stats st;
    int64_t t0;
    int ok = 0, calls = 0;

    CU_ASSERT_FATAL(emu_start(&e, args) == 0);
    cfg = emu_cfg(&e, "test-secret");
    CU_ASSERT_EQUAL_FATAL(api_client_new(&c, &cfg, &err), DF_OK);
    t0 = rl_now_ms();
    while (rl_now_ms() - t0 < 4000) {
        yajl_val root = NULL;
        int rc = api_list_incidents(c, NULL, 10, 0, &root, &err);
        calls++;
        ok += rc == DF_OK;
        if (rc != DF_OK)
            fprintf(stderr, "renewal: %s\n", err.msg);
        yajl_tree_free(root);
        usleep(400000);
    }
    CU_ASSERT_EQUAL(ok, calls);
    api_get_stats(c, &st);
    CU_ASSERT(st.token_requests >= 2);
    api_client_free(c);
    emu_stop(&e);
}

static void test_emu_faults(void)
{
    static const char *const args[] = {
        "--generate",       "30",  "--seed",        "3",   "--fault-5xx", "0.3",
        "--fault-truncate", "0.2", "--fault-reset", "0.2", NULL};
    struct emu e;
    struct api_client *c = NULL;
    struct api_config cfg;
    struct df_err err = {0, ""};
    struct api_stats st;
    int ok = 0;

    CU_ASSERT_FATAL(emu_start(&e, args) == 0);
    cfg = emu_cfg(&e, "test-secret");
    /* With about half the requests failing, 5 attempts would fail a call now and then; the
     * point here is that every failure kind is retried and recovered from. */
    cfg.max_attempts = 40;
    CU_ASSERT_EQUAL_FATAL(api_client_new(&c, &cfg, &err), DF_OK);
    api_set_backoff(c, 5, 50);
    for (int i = 0; i < 20; i++) {
        yajl_val root = NULL;
        int rc = api_list_incidents(c, NULL, 10, i, &root, &err);
        if (rc == DF_OK && value_len(root) == 10)
            ok++;
        else
            fprintf(stderr, "fault run %d: %s\n", i, err.msg);
        yajl_tree_free(root);
    }
    CU_ASSERT_EQUAL(ok, 20);
    api_get_stats(c, &st);
    CU_ASSERT(st.retries > 0);
    CU_ASSERT(st.calls == 20 + st.retries);
    api_client_free(c);
    emu_stop(&e);
}

static void test_emu_throttled_then_stop(void)
{
    static const char *const args[] = {"--generate", "5", "--quota-per-minute", "3", NULL};
    const char *throttled_path[] = {"throttled", NULL};
    struct emu e;
    struct api_client *c = NULL;
    struct api_config cfg;
    struct df_err err = {0, ""};
    struct api_stats st;
    yajl_val root = NULL;
    int64_t t0;

    CU_ASSERT_FATAL(emu_start(&e, args) == 0);
    cfg = emu_cfg(&e, "test-secret");
    cfg.per_minute = 100; /* the client allows more than the server: the server throttles */
    CU_ASSERT_EQUAL_FATAL(api_client_new(&c, &cfg, &err), DF_OK);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(api_list_incidents(c, NULL, 10, 0, &root, &err), DF_OK);
        yajl_tree_free(root);
        root = NULL;
    }
    /* The fourth call gets a 429 asking for most of a minute; a stop ends the wait. */
    t0 = rl_now_ms();
    stop_after_ms(1000);
    CU_ASSERT_EQUAL(api_list_incidents(c, NULL, 10, 0, &root, &err), DF_ESTOP);
    CU_ASSERT(rl_now_ms() - t0 >= 900 && rl_now_ms() - t0 < 2500);
    cancel_alarm();
    CU_ASSERT_PTR_NULL(root);
    api_get_stats(c, &st);
    CU_ASSERT(st.throttled >= 1);
    CU_ASSERT(emu_stat(&e, throttled_path) >= 1);

    /* And the client-side limiter's wait is interruptible the same way. */
    api_client_free(c);
    cfg.per_minute = 1;
    CU_ASSERT_EQUAL_FATAL(api_client_new(&c, &cfg, &err), DF_OK);
    stop_after_ms(300);
    t0 = rl_now_ms();
    /* The first call may itself meet the server's 429 (the quota is spent): either way it
     * must end in DF_ESTOP quickly, never in a minute-long block. */
    while (api_list_incidents(c, NULL, 10, 0, &root, &err) == DF_OK) {
        yajl_tree_free(root);
        root = NULL;
    }
    CU_ASSERT_EQUAL(err.code, DF_ESTOP);
    CU_ASSERT(rl_now_ms() - t0 < 1500);
    cancel_alarm();
    api_client_free(c);
    emu_stop(&e);
}

void unit_register(void)
{
    CU_pSuite s;

    /* Info and warning lines of retries would drown CUnit's report; errors still show. */
    log_set_level(LOG_ERROR);
    if (api_global_init() != DF_OK || atexit(api_global_cleanup) != 0)
        fprintf(stderr, "libcurl initialisation failed\n");

    s = CU_add_suite("ratelimit", NULL, NULL);
    CU_add_test(s, "defaults", test_rl_defaults);
    CU_add_test(s, "never over quota", test_rl_never_over_quota);
    CU_add_test(s, "small quotas and unlimited", test_rl_small_and_unlimited);
    CU_add_test(s, "sleep and stop", test_rl_sleep_and_stop);

    s = CU_add_suite("auth", NULL, NULL);
    CU_add_test(s, "token fixtures", test_auth_parse_fixtures);
    CU_add_test(s, "token edge cases", test_auth_parse_edge);
    CU_add_test(s, "form v1 and v2", test_auth_form);
    CU_add_test(s, "error message", test_auth_error);

    s = CU_add_suite("api scripted", NULL, NULL);
    CU_add_test(s, "v1 token and list on the wire", test_v1_wire_format);
    CU_add_test(s, "v2 token and PATCH on the wire", test_v2_patch_wire_format);
    CU_add_test(s, "429 Retry-After", test_429_retry_after);
    CU_add_test(s, "429 seconds in the message", test_429_body_seconds);
    CU_add_test(s, "401 renews the token once", test_401_renews_once);
    CU_add_test(s, "400 403 404", test_permanent_errors);
    CU_add_test(s, "transient failures then success", test_transient_then_ok);
    CU_add_test(s, "transient failures exhaust attempts", test_transient_exhausted);
    CU_add_test(s, "token endpoint refusal", test_token_endpoint_refusal);
    CU_add_test(s, "plain http warning", test_plain_http_warning);

    s = CU_add_suite("api emulator", emu_suite_init, emu_suite_clean);
    CU_add_test(s, "list get patch", test_emu_list_get_patch);
    CU_add_test(s, "wrong secret", test_emu_wrong_secret);
    CU_add_test(s, "token renewal", test_emu_token_renewal);
    CU_add_test(s, "transient faults", test_emu_faults);
    CU_add_test(s, "throttled, then stopped", test_emu_throttled_then_stop);
}
