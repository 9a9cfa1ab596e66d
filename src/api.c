/*
 * Defender incidents API client: libcurl plumbing, the retry loop, and the three calls.
 * Token logic lives in auth.c, the client-side quota in ratelimit.c.
 *
 * Retry policy (reference/api.md §13-§14), per logical call:
 * - 429: wait Retry-After, else the "again in N seconds" of the body, else until the next minute
 *   of the server's clock; does not use up transient attempts; DF_ERETRY after MAX_THROTTLED
 *   answers in a row. One warning per throttling episode.
 * - 5xx, 408, transport errors (timeouts, resets, truncated bodies), a 2xx body that is not the
 *   expected JSON: capped exponential backoff with full jitter, max_attempts in all.
 * - 401 from the API: renew the token once and repeat; a second 401 is DF_EAUTH.
 * - 404 of one incident: DF_ENOTFOUND; any other 4xx: DF_EHTTP (logged with the API's code and
 *   message).
 */
#include "api.h"

#include "auth.h"
#include "dbuf.h"
#include "log.h"
#include "ratelimit.h"
#include "ts.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#ifndef DF_VERSION
#define DF_VERSION "0.0.0-dev"
#endif

/* The Defender partner convention MdatpPartner-{Company}-{Product}/{Version} (api.md §2). */
#define USER_AGENT "MdatpPartner-DefenderForwarder-defender-forwarder/" DF_VERSION

/* A full page of 100 incidents with their alerts is a few MiB; 256 MiB is far beyond any real
 * answer and still bounded. */
#define BODY_MAX ((size_t) 256 << 20)
/* Allocation kept for the next call; a rare huge answer is not kept alive for months. */
#define BODY_KEEP ((size_t) 4 << 20)
#define FORM_MAX  ((size_t) 64 << 10)
#define URL_MAX   ((size_t) 64 << 10)

#define DEFAULT_ATTEMPTS  5
#define DEFAULT_TIMEOUT_S 30
#define CONNECT_TIMEOUT_S 10
#define BACKOFF_BASE_MS   1000
#define BACKOFF_CAP_MS    60000
/* Floor of a jittered delay: full jitter may draw 0, and SPEC §3 says never a tight loop. */
#define BACKOFF_FLOOR_MS 100
#define MAX_THROTTLED    20
/* A Retry-After beyond the longest quota window (one hour) is not believed. */
#define MAX_THROTTLE_WAIT_S 3600

enum kind { KIND_TOKEN, KIND_LIST, KIND_OBJECT };

struct request {
    const char *method; /* GET, POST (token), PATCH */
    const char *url;
    const char *what; /* for logs and messages: the API path, or "token endpoint" */
    const char *body; /* NULL: no body */
    size_t body_len;
    enum kind kind;
};

struct api_client {
    CURL *curl;
    char *tenant;
    char *client_id;
    char *client_secret; /* wiped before it is freed */
    char *api_url;
    char *token_url;
    char *scope;
    char *ca_file; /* NULL: system store */
    char *proxy;   /* NULL: none (libcurl still honours the proxy environment) */
    int64_t timeout_s;
    int max_attempts;
    int64_t backoff_base_ms;
    int64_t backoff_cap_ms;
    const df_flag *stop;
    struct rl_limiter rl;
    struct auth_token token;
    uint64_t rng;
    int throttling; /* inside a throttling episode: its warning has been logged */

    /* What the header and body callbacks capture from the latest response. */
    struct dbuf body;
    int body_overflow;
    char retry_after[64];
    char date[64];
    char curl_err[CURL_ERROR_SIZE];
    int64_t sent_ms;

    int have_offset;
    int64_t offset_ticks; /* server clock minus host clock, from the latest Date header */
    struct api_stats stats;
};

static int global_done;

int api_global_init(void)
{
    if (global_done)
        return DF_OK;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return DF_EIO;
    global_done = 1;
    return DF_OK;
}

void api_global_cleanup(void)
{
    if (global_done) {
        curl_global_cleanup();
        global_done = 0;
    }
}

static int has_scheme(const char *url, const char *scheme)
{
    return strncasecmp(url, scheme, strlen(scheme)) == 0;
}

static int dup_opt(char **dst, const char *src)
{
    *dst = NULL;
    if (src == NULL || *src == '\0')
        return DF_OK;
    *dst = strdup(src);
    return *dst != NULL ? DF_OK : DF_ENOMEM;
}

static uint64_t next_random(struct api_client *c)
{
    /* xorshift64*: jitter only needs to decorrelate clients, not to be unpredictable. */
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return c->rng * 2685821657736338717ULL;
}

int api_client_new(struct api_client **out, const struct api_config *cfg, struct df_err *err)
{
    int rc = DF_ENOMEM;
    struct api_client *c = NULL;
    struct timespec now;
    size_t n;

    *out = NULL;
    if (cfg->api_url == NULL || cfg->token_url == NULL || cfg->client_id == NULL ||
        cfg->client_secret == NULL || cfg->scope == NULL || *cfg->client_id == '\0' ||
        *cfg->client_secret == '\0' || *cfg->scope == '\0') {
        rc = df_err_set(err, DF_EINVAL,
                        "api client needs api_url, token_url, client_id, "
                        "client_secret and scope");
        goto out;
    }
    if (!has_scheme(cfg->api_url, "https://") && !has_scheme(cfg->api_url, "http://")) {
        rc = df_err_set(err, DF_EINVAL, "api_url must be an https:// (or http://) URL");
        goto out;
    }
    if (!has_scheme(cfg->token_url, "https://") && !has_scheme(cfg->token_url, "http://")) {
        rc = df_err_set(err, DF_EINVAL, "token_url must be an https:// (or http://) URL");
        goto out;
    }
    rc = api_global_init();
    if (rc != DF_OK) {
        rc = df_err_set(err, rc, "libcurl initialisation failed");
        goto out;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        rc = df_err_set(err, DF_ENOMEM, "out of memory");
        goto out;
    }
    auth_token_init(&c->token);
    dbuf_init(&c->body, BODY_MAX);
    rc = dup_opt(&c->tenant, cfg->tenant != NULL ? cfg->tenant : "-");
    if (rc == DF_OK)
        rc = dup_opt(&c->client_id, cfg->client_id);
    if (rc == DF_OK)
        rc = dup_opt(&c->client_secret, cfg->client_secret);
    if (rc == DF_OK)
        rc = dup_opt(&c->api_url, cfg->api_url);
    if (rc == DF_OK)
        rc = dup_opt(&c->token_url, cfg->token_url);
    if (rc == DF_OK)
        rc = dup_opt(&c->scope, cfg->scope);
    if (rc == DF_OK)
        rc = dup_opt(&c->ca_file, cfg->ca_file);
    if (rc == DF_OK)
        rc = dup_opt(&c->proxy, cfg->proxy);
    if (rc != DF_OK) {
        rc = df_err_set(err, rc, "out of memory");
        goto out;
    }
    /* Paths are appended as "/api/...": a trailing slash would make "//api". */
    n = strlen(c->api_url);
    while (n > 0 && c->api_url[n - 1] == '/')
        c->api_url[--n] = '\0';
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        rc = df_err_set(err, DF_ENOMEM, "cannot create a libcurl handle");
        goto out;
    }
    c->timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : DEFAULT_TIMEOUT_S;
    c->max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts : DEFAULT_ATTEMPTS;
    c->backoff_base_ms = BACKOFF_BASE_MS;
    c->backoff_cap_ms = BACKOFF_CAP_MS;
    c->stop = cfg->stop;
    rl_init(&c->rl, cfg->per_minute, cfg->per_hour, rl_now_ms());
    if (clock_gettime(CLOCK_REALTIME, &now) != 0)
        now.tv_sec = now.tv_nsec =
            0; /* the seed only decorrelates clients; pid and address remain */
    c->rng = ((uint64_t) now.tv_nsec << 20) ^ (uint64_t) now.tv_sec ^ ((uint64_t) getpid() << 40) ^
             (uint64_t) (uintptr_t) c;
    if (c->rng == 0)
        c->rng = 0x9e3779b97f4a7c15ULL;
    if (has_scheme(c->api_url, "http://") || has_scheme(c->token_url, "http://"))
        log_warn("api",
                 "plain http URL configured: tokens and incidents travel unencrypted "
                 "tenant=%s api_url_http=%d token_url_http=%d",
                 c->tenant, has_scheme(c->api_url, "http://"), has_scheme(c->token_url, "http://"));
    *out = c;
    c = NULL;
    rc = DF_OK;
out:
    api_client_free(c);
    return rc;
}

void api_client_free(struct api_client *c)
{
    if (c == NULL)
        return;
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    auth_wipe_str(c->client_secret);
    free(c->client_secret);
    auth_token_clear(&c->token);
    free(c->tenant);
    free(c->client_id);
    free(c->api_url);
    free(c->token_url);
    free(c->scope);
    free(c->ca_file);
    free(c->proxy);
    dbuf_free(&c->body);
    free(c);
}

void api_set_backoff(struct api_client *c, int64_t base_ms, int64_t cap_ms)
{
    c->backoff_base_ms = base_ms > 0 ? base_ms : BACKOFF_BASE_MS;
    c->backoff_cap_ms = cap_ms >= c->backoff_base_ms ? cap_ms : c->backoff_base_ms;
}

void api_get_stats(const struct api_client *c, struct api_stats *out)
{
    *out = c->stats;
}

int64_t api_server_now_ticks(const struct api_client *c)
{
    return ts_now_ticks() + (c->have_offset ? c->offset_ticks : 0);
}

/* ---- libcurl callbacks ------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct api_client *c = ud;
    size_t n = size * nmemb;

    if (dbuf_append(&c->body, data, n) != DF_OK) {
        /* Returning short makes libcurl abort the transfer with CURLE_WRITE_ERROR. */
        c->body_overflow = 1;
        return 0;
    }
    return n;
}

/* Copies the value of header `name` from a raw header line into out, trimmed; 1 if it matched. */
static int header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name), i = 0;

    if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
        return 0;
    line += nl + 1;
    len -= nl + 1;
    while (len > 0 && (*line == ' ' || *line == '\t')) {
        line++;
        len--;
    }
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
        len--;
    for (; i < len && i + 1 < cap; i++)
        out[i] = line[i];
    out[i] = '\0';
    return 1;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct api_client *c = ud;
    size_t n = size * nmemb;

    /* A status line starts a new response (after "100 Continue", for instance): forget what
     * an earlier one said. */
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        c->retry_after[0] = '\0';
        c->date[0] = '\0';
    } else if (!header_value(data, n, "Retry-After", c->retry_after, sizeof(c->retry_after))) {
        (void) header_value(data, n, "Date", c->date, sizeof(c->date));
    }
    return n;
}

/* ---- one HTTP exchange ------------------------------------------------------------------- */

static int add_header(struct curl_slist **list, const char *h)
{
    struct curl_slist *n = curl_slist_append(*list, h);
    if (n == NULL)
        return DF_ENOMEM;
    *list = n;
    return DF_OK;
}

static void free_headers(struct curl_slist *list)
{
    /* curl_slist_append made its own copy of the Authorization line; wipe it too. */
    for (struct curl_slist *s = list; s != NULL; s = s->next)
        auth_wipe_str(s->data);
    curl_slist_free_all(list);
}

#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        if (cc == CURLE_OK)                                                                        \
            cc = curl_easy_setopt(c->curl, opt, val);                                              \
    } while (0)

static CURLcode set_options(struct api_client *c, const struct request *r,
                            struct curl_slist *headers)
{
    CURLcode cc = CURLE_OK;

    /* Resetting drops every option of the previous request (method, body) but keeps the
     * connection cache, so keep-alive survives. */
    curl_easy_reset(c->curl);
    SETOPT(CURLOPT_URL, r->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    SETOPT(CURLOPT_USERAGENT, USER_AGENT);
    SETOPT(CURLOPT_ACCEPT_ENCODING, "");
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_TIMEOUT, (long) c->timeout_s);
    SETOPT(CURLOPT_CONNECTTIMEOUT,
           (long) (c->timeout_s < CONNECT_TIMEOUT_S ? c->timeout_s : CONNECT_TIMEOUT_S));
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    /* Verification is never switched off, whatever the configuration says. */
    SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->ca_file != NULL)
        SETOPT(CURLOPT_CAINFO, c->ca_file);
    if (c->proxy != NULL)
        SETOPT(CURLOPT_PROXY, c->proxy);
    SETOPT(CURLOPT_ERRORBUFFER, c->curl_err);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, c);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, c);
    SETOPT(CURLOPT_HTTPHEADER, headers);
    if (r->body != NULL) {
        /* POSTFIELDS points at our buffer (no copy inside libcurl) so the token form can be
         * wiped afterwards. */
        SETOPT(CURLOPT_POSTFIELDS, r->body);
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) r->body_len);
        if (strcmp(r->method, "POST") != 0)
            SETOPT(CURLOPT_CUSTOMREQUEST, r->method);
    } else {
        SETOPT(CURLOPT_HTTPGET, 1L);
    }
    return cc;
}

/*
 * Sends r once. DF_OK: a complete response arrived (*status, c->body, headers). DF_ERETRY: a
 * transport failure (err says which). DF_ENOMEM: the body passed BODY_MAX. DF_EINVAL: libcurl
 * refused the request itself (bad URL).
 */
static int perform(struct api_client *c, const struct request *r, const char *auth_line,
                   long *status, struct df_err *err)
{
    int rc;
    CURLcode cc;
    struct curl_slist *headers = NULL;
    int64_t date_s;

    *status = 0;
    dbuf_reset(&c->body);
    c->body_overflow = 0;
    c->retry_after[0] = '\0';
    c->date[0] = '\0';
    c->curl_err[0] = '\0';

    rc = add_header(&headers, "Accept: application/json");
    if (rc == DF_OK && r->body != NULL)
        rc = add_header(&headers, r->kind == KIND_TOKEN
                                      ? "Content-Type: application/x-www-form-urlencoded"
                                      : "Content-Type: application/json");
    /* No "Expect: 100-continue" round trip for bodies libcurl considers large. */
    if (rc == DF_OK && r->body != NULL)
        rc = add_header(&headers, "Expect:");
    if (rc == DF_OK && auth_line != NULL)
        rc = add_header(&headers, auth_line);
    if (rc != DF_OK) {
        rc = df_err_set(err, rc, "out of memory building request headers");
        goto out;
    }
    cc = set_options(c, r, headers);
    if (cc != CURLE_OK) {
        rc = df_err_set(err, DF_EINVAL, "libcurl refused an option: %s", curl_easy_strerror(cc));
        goto out;
    }
    c->sent_ms = rl_now_ms();
    cc = curl_easy_perform(c->curl);
    if (cc == CURLE_OK)
        cc = curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
    /* Any answer of the API server, even a 5xx or a cut one, carries its clock. The token
     * endpoint is another server and does not count. */
    if (r->kind != KIND_TOKEN && c->date[0] != '\0' &&
        ts_parse_http_date(c->date, &date_s) == DF_OK) {
        /* Date is the server's time truncated to the second when it answered, so this offset
         * puts our estimate of the server's clock up to ~1 s (plus latency) behind it: window
         * ends computed from it are never in the server's future. */
        c->offset_ticks = date_s * TS_TICKS_PER_SEC - ts_now_ticks();
        c->have_offset = 1;
    }
    if (cc == CURLE_OK) {
        rc = DF_OK;
    } else if (c->body_overflow) {
        rc = df_err_set(err, DF_ENOMEM, "%s: response body larger than %zu MiB", r->what,
                        BODY_MAX >> 20);
    } else if (cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL) {
        rc = df_err_set(err, DF_EINVAL, "%s: %s", r->what, curl_easy_strerror(cc));
    } else {
        rc = df_err_set(err, DF_ERETRY, "%s%s%s", curl_easy_strerror(cc),
                        c->curl_err[0] != '\0' ? ": " : "", c->curl_err);
    }
out:
    free_headers(headers);
    return rc;
}

/* ---- classification of answers ----------------------------------------------------------- */

static int64_t backoff_ms(struct api_client *c, int attempt)
{
    int64_t ceiling = c->backoff_base_ms, delay;

    for (int i = 1; i < attempt && ceiling < c->backoff_cap_ms; i++)
        ceiling *= 2;
    if (ceiling > c->backoff_cap_ms)
        ceiling = c->backoff_cap_ms;
    /* Full jitter (uniform in [0, ceiling]) spreads retries of many clients best; the floor
     * keeps a draw near 0 from turning into a tight loop. */
    delay = (int64_t) (next_random(c) % (uint64_t) (ceiling + 1));
    if (delay < BACKOFF_FLOOR_MS && delay < c->backoff_base_ms)
        delay = BACKOFF_FLOOR_MS < c->backoff_base_ms ? BACKOFF_FLOOR_MS : c->backoff_base_ms;
    return delay;
}

/* Seconds from "... again in N seconds" in a 429 body (the wording the Splunk add-on parses,
 * api.md §13), or -1. */
static int64_t seconds_in_message(const char *body)
{
    const char *p = body;

    while ((p = strstr(p, "again in ")) != NULL) {
        char *end;
        long long n;

        p += strlen("again in ");
        if (!isdigit((unsigned char) *p))
            continue;
        n = strtoll(p, &end, 10);
        if (strncmp(end, " second", 7) == 0 && n >= 0)
            return n;
    }
    return -1;
}

/* How long a 429 asks us to wait, in seconds, in the order of api.md §13. */
static int64_t throttle_wait_s(struct api_client *c, const char **source)
{
    int64_t s = -1, when;
    const char *v = c->retry_after;

    if (*v != '\0') {
        size_t i = 0;
        while (isdigit((unsigned char) v[i]))
            i++;
        if (i > 0 && i < 10 && v[i] == '\0') {
            s = atoll(v);
        } else if (ts_parse_http_date(v, &when) == DF_OK) {
            /* HTTP-date form: relative to the server's clock, which sent it. */
            s = when - api_server_now_ticks(c) / TS_TICKS_PER_SEC;
            if (s < 0)
                s = 0;
        }
        *source = "retry-after";
    }
    if (s < 0 && c->body.p != NULL) {
        s = seconds_in_message(c->body.p);
        *source = "message";
    }
    if (s < 0) {
        /* Quotas are counted per minute: by the next minute boundary of the server's clock
         * the minute window has moved on. */
        s = 60 - (api_server_now_ticks(c) / TS_TICKS_PER_SEC) % 60;
        *source = "minute-boundary";
    }
    /* At least a second (never a tight loop), at most the longest quota window. */
    if (s < 1)
        s = 1;
    if (s > MAX_THROTTLE_WAIT_S)
        s = MAX_THROTTLE_WAIT_S;
    return s;
}

/* Copies error.code and error.message of an API error body (api.md §14) into code/msg. */
static void api_error_fields(const char *body, char *code, size_t code_cap, char *msg,
                             size_t msg_cap)
{
    const char *code_path[] = {"error", "code", NULL};
    const char *msg_path[] = {"error", "message", NULL};
    char ebuf[64];
    yajl_val root = yajl_tree_parse(body != NULL ? body : "", ebuf, sizeof(ebuf));
    yajl_val v;

    snprintf(code, code_cap, "-");
    snprintf(msg, msg_cap, "(no error message)");
    if (root == NULL)
        return;
    v = yajl_tree_get(root, code_path, yajl_t_string);
    if (v != NULL && *v->u.string != '\0')
        snprintf(code, code_cap, "%s", v->u.string);
    v = yajl_tree_get(root, msg_path, yajl_t_string);
    if (v != NULL)
        snprintf(msg, msg_cap, "%s", v->u.string);
    yajl_tree_free(root);
}

/* A final refusal of the API: 404 of one incident → DF_ENOTFOUND; anything else, including a
 * 404 of the collection (a wrong api_url), → DF_EHTTP, logged in full. */
static int api_refusal(struct api_client *c, const struct request *r, long status,
                       struct df_err *err)
{
    char code[64], msg[384];

    api_error_fields(c->body.p, code, sizeof(code), msg, sizeof(msg));
    if (status == 404 && r->kind == KIND_OBJECT)
        return df_err_set(err, DF_ENOTFOUND, "HTTP 404 %s: %s", code, msg);
    /* The client never sends a request it knows to be wrong, so a 400 means the API and we
     * disagree (for instance on OData syntax, api.md §3.2): log everything needed to find out. */
    log_error("api",
              "request refused tenant=%s method=%s path=%s status=%ld code=%s message=\"%s\"",
              c->tenant, r->method, r->what, status, code, msg);
    return df_err_set(err, DF_EHTTP, "HTTP %ld %s: %s", status, code, msg);
}

/* Accepts a 2xx body. DF_EPARSE means malformed or truncated: the caller retries. */
static int accept_body(struct api_client *c, const struct request *r, yajl_val *root,
                       struct df_err *err)
{
    const char *value_path[] = {"value", NULL};
    char ebuf[128];
    yajl_val v;

    if (r->kind == KIND_TOKEN)
        return auth_token_parse(&c->token, c->body.p, c->sent_ms, err);
    v = yajl_tree_parse(c->body.p != NULL ? c->body.p : "", ebuf, sizeof(ebuf));
    if (v == NULL || !YAJL_IS_OBJECT(v) ||
        (r->kind == KIND_LIST && yajl_tree_get(v, value_path, yajl_t_array) == NULL)) {
        yajl_tree_free(v);
        return df_err_set(err, DF_EPARSE, "malformed JSON body (%zu bytes)%s", c->body.len,
                          r->kind == KIND_LIST ? ", expected an object with a value array" : "");
    }
    *root = v;
    return DF_OK;
}

/* ---- the retry loop ---------------------------------------------------------------------- */

static int exchange(struct api_client *c, const struct request *r, yajl_val *root,
                    struct df_err *err);

/* Makes sure a usable token is cached, fetching one (with retries) when needed. */
static int ensure_token(struct api_client *c, struct df_err *err)
{
    int rc;
    struct dbuf form;
    struct request r;

    if (auth_token_usable(&c->token, rl_now_ms()))
        return DF_OK;
    dbuf_init(&form, FORM_MAX);
    rc = auth_form(&form, c->token_url, c->client_id, c->client_secret, c->scope, err);
    if (rc != DF_OK)
        goto out;
    r.method = "POST";
    r.url = c->token_url;
    r.what = "token endpoint";
    r.body = form.p;
    r.body_len = form.len;
    r.kind = KIND_TOKEN;
    rc = exchange(c, &r, NULL, err);
    if (rc == DF_OK)
        log_info("auth", "token acquired tenant=%s lifetime_s=%lld v1=%d", c->tenant,
                 (long long) c->token.lifetime_s, auth_is_v1(c->token_url));
out:
    auth_wipe_dbuf(&form);
    dbuf_free(&form);
    return rc;
}

enum next { NEXT_DONE, NEXT_TRANSIENT, NEXT_THROTTLED, NEXT_AGAIN };

/* Decides what an attempt's outcome means. rc is perform()'s result; on NEXT_DONE the return
 * value is the call's result. reason receives the failure of a transient outcome. */
static int classify(struct api_client *c, const struct request *r, int rc, long status,
                    int *renewed, yajl_val *root, enum next *next, char *reason, size_t reason_cap,
                    struct df_err *e)
{
    int is_api = r->kind != KIND_TOKEN;

    *next = NEXT_DONE;
    if (rc == DF_ERETRY) {
        snprintf(reason, reason_cap, "%.200s", e->msg);
        *next = NEXT_TRANSIENT;
        return rc;
    }
    if (rc != DF_OK)
        return rc;
    if (status == 429) {
        *next = NEXT_THROTTLED;
        return DF_ERETRY;
    }
    if (status >= 200 && status < 300) {
        rc = accept_body(c, r, root, e);
        if (rc == DF_EPARSE) {
            /* A 200 that does not parse was cut short or garbled on the way: try again. */
            snprintf(reason, reason_cap, "HTTP %ld with %.200s", status, e->msg);
            *next = NEXT_TRANSIENT;
        }
        return rc;
    }
    if (status >= 500 || status == 408) {
        snprintf(reason, reason_cap, "HTTP %ld", status);
        *next = NEXT_TRANSIENT;
        return DF_ERETRY;
    }
    if (!is_api)
        return auth_error(status, c->body.p, e);
    if (status == 401 && !*renewed) {
        /* Tokens can be revoked or end early (api.md §15.3): renew once and repeat. */
        log_info("auth", "API answered 401, renewing the token tenant=%s path=%s", c->tenant,
                 r->what);
        auth_token_clear(&c->token);
        *renewed = 1;
        *next = NEXT_AGAIN;
        return DF_OK;
    }
    if (status == 401) {
        char code[64], msg[256];
        api_error_fields(c->body.p, code, sizeof(code), msg, sizeof(msg));
        return df_err_set(e, DF_EAUTH, "API refused a freshly issued token: HTTP 401 %s: %s", code,
                          msg);
    }
    return api_refusal(c, r, status, e);
}

static int exchange(struct api_client *c, const struct request *r, yajl_val *root,
                    struct df_err *err)
{
    int rc = DF_OK, attempts = 0, throttled = 0, renewed = 0;
    int is_api = r->kind != KIND_TOKEN;
    char *auth_line = NULL;
    char reason[256];
    long status;
    struct df_err local = {0, ""};
    /* Intermediate failures need their text (for the final message) even when the caller
     * passed no err. */
    struct df_err *e = err != NULL ? err : &local;

    for (;;) {
        enum next next;

        if (c->stop != NULL && *c->stop) {
            rc = df_err_set(e, DF_ESTOP, "%s %s: stopped", r->method, r->what);
            goto out;
        }
        if (is_api) {
            rc = ensure_token(c, e);
            if (rc != DF_OK)
                goto out;
            rc = auth_header(&c->token, &auth_line);
            if (rc != DF_OK) {
                rc = df_err_set(e, rc, "cannot build the Authorization header");
                goto out;
            }
            rc = rl_take(&c->rl, c->stop);
            if (rc != DF_OK) {
                rc = df_err_set(e, rc, "%s %s: stopped while waiting for the rate limiter",
                                r->method, r->what);
                goto out;
            }
            c->stats.calls++;
        } else {
            c->stats.token_requests++;
        }

        rc = perform(c, r, auth_line, &status, e);
        auth_wipe_str(auth_line);
        free(auth_line);
        auth_line = NULL;
        /* Any answer but a 429 ends a run of 429s (and the throttling episode). */
        if (rc == DF_OK && status != 429) {
            throttled = 0;
            c->throttling = 0;
        }
        rc = classify(c, r, rc, status, &renewed, root, &next, reason, sizeof(reason), e);
        if (!is_api)
            auth_wipe_dbuf(&c->body); /* it held the token, or an answer about the secret */
        if (next == NEXT_DONE)
            goto out;

        if (next == NEXT_THROTTLED) {
            const char *source = "";
            int64_t wait_s;

            if (is_api)
                c->stats.throttled++;
            if (++throttled >= MAX_THROTTLED) {
                rc = df_err_set(e, DF_ERETRY, "%s %s: throttled (HTTP 429) %d times in a row",
                                r->method, r->what, throttled);
                goto out;
            }
            wait_s = throttle_wait_s(c, &source);
            if (!c->throttling) {
                c->throttling = 1;
                log_warn("api",
                         "throttled by the API (HTTP 429), waiting tenant=%s path=%s "
                         "wait_s=%lld source=%s",
                         c->tenant, r->what, (long long) wait_s, source);
            }
            rc = rl_sleep_ms(wait_s * 1000, c->stop);
        } else if (next == NEXT_TRANSIENT) {
            int64_t delay;

            if (++attempts >= c->max_attempts) {
                rc = df_err_set(e, DF_ERETRY, "%s %s: giving up after %d attempts: %s", r->method,
                                r->what, attempts, reason);
                goto out;
            }
            delay = backoff_ms(c, attempts);
            log_warn("api",
                     "request failed, will retry tenant=%s method=%s path=%s attempt=%d "
                     "max_attempts=%d delay_ms=%lld reason=\"%s\"",
                     c->tenant, r->method, r->what, attempts, c->max_attempts, (long long) delay,
                     reason);
            rc = rl_sleep_ms(delay, c->stop);
        } else {
            rc = DF_OK; /* NEXT_AGAIN: at once, with a new token */
        }
        if (rc != DF_OK) {
            rc = df_err_set(e, rc, "%s %s: stopped while waiting to retry", r->method, r->what);
            goto out;
        }
        if (is_api)
            c->stats.retries++;
    }
out:
    auth_wipe_str(auth_line);
    free(auth_line);
    if (c->body.alloc > BODY_KEEP)
        dbuf_free(&c->body);
    else
        dbuf_reset(&c->body);
    return rc;
}

/* ---- the calls --------------------------------------------------------------------------- */

static int call(struct api_client *c, const char *method, const char *url, const char *body,
                enum kind kind, yajl_val *root, struct df_err *err)
{
    struct request r;

    r.method = method;
    r.url = url;
    r.what = url + strlen(c->api_url);
    r.body = body;
    r.body_len = body != NULL ? strlen(body) : 0;
    r.kind = kind;
    return exchange(c, &r, root, err);
}

int api_list_incidents(struct api_client *c, const char *filter, int top, int skip, yajl_val *root,
                       struct df_err *err)
{
    int rc;
    struct dbuf url;
    char *esc = NULL;

    *root = NULL;
    dbuf_init(&url, URL_MAX);
    if (top < 1 || skip < 0) {
        rc = df_err_set(err, DF_EINVAL, "list incidents: $top must be >= 1 and $skip >= 0");
        goto out;
    }
    rc = dbuf_printf(&url, "%s/api/incidents?", c->api_url);
    if (rc == DF_OK && filter != NULL) {
        if (strlen(filter) > URL_MAX / 4) {
            rc = df_err_set(err, DF_EINVAL, "list incidents: $filter too long");
            goto out;
        }
        /* Percent-encodes everything outside A-Z a-z 0-9 - . _ ~, so spaces become %20 and
         * quotes, colons and the like cannot be misread; the '$' of the option names below
         * stays literal as the API expects (api.md §3.2). */
        esc = curl_easy_escape(c->curl, filter, (int) strlen(filter));
        rc = esc != NULL ? dbuf_printf(&url, "$filter=%s&", esc) : DF_ENOMEM;
    }
    if (rc == DF_OK)
        rc = dbuf_printf(&url, "$top=%d&$skip=%d", top, skip);
    if (rc != DF_OK) {
        rc = df_err_set(err, rc, "list incidents: cannot build the URL");
        goto out;
    }
    rc = call(c, "GET", url.p, NULL, KIND_LIST, root, err);
out:
    curl_free(esc);
    dbuf_free(&url);
    return rc;
}

/* incidentId is a 64-bit number (api.md §2): anything else must not reach the URL. */
static int check_id(const char *id, struct df_err *err)
{
    size_t n = 0;

    if (id != NULL)
        while (isdigit((unsigned char) id[n]))
            n++;
    if (id == NULL || n == 0 || id[n] != '\0' || n > 19)
        return df_err_set(err, DF_EINVAL, "incident id must be a decimal number");
    return DF_OK;
}

static int object_call(struct api_client *c, const char *method, const char *id, const char *body,
                       yajl_val *root, struct df_err *err)
{
    int rc;
    struct dbuf url;

    *root = NULL;
    dbuf_init(&url, URL_MAX);
    rc = check_id(id, err);
    if (rc != DF_OK)
        goto out;
    rc = dbuf_printf(&url, "%s/api/incidents/%s", c->api_url, id);
    if (rc != DF_OK) {
        rc = df_err_set(err, rc, "cannot build the URL");
        goto out;
    }
    rc = call(c, method, url.p, body, KIND_OBJECT, root, err);
out:
    dbuf_free(&url);
    return rc;
}

int api_get_incident(struct api_client *c, const char *id, yajl_val *root, struct df_err *err)
{
    return object_call(c, "GET", id, NULL, root, err);
}

int api_update_incident(struct api_client *c, const char *id, const char *json_body, yajl_val *root,
                        struct df_err *err)
{
    if (json_body == NULL) {
        *root = NULL;
        return df_err_set(err, DF_EINVAL, "update incident: no body");
    }
    return object_call(c, "PATCH", id, json_body, root, err);
}
