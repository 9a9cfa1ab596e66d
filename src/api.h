/*
 * Client of the Defender incidents API (reference/api.md): OAuth2 client-credentials token with
 * caching and renewal, a client-side rate limiter, retries with capped exponential backoff and
 * jitter, libcurl with TLS verification on. One client per tenant.
 */
#ifndef DF_API_H
#define DF_API_H

#include "common.h"

#include <signal.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

struct api_client;

struct api_config {
    const char *tenant;        /* tenant name, for logs */
    const char *tenant_id;
    const char *client_id;
    const char *client_secret; /* never logged */
    const char *api_url;       /* e.g. https://api.security.microsoft.com, no trailing slash */
    const char *token_url;     /* v2 (…/oauth2/v2.0/token, sends scope) or v1 (…/oauth2/token, sends resource) */
    const char *scope;
    const char *ca_file;       /* NULL or "" = system default */
    const char *proxy;         /* NULL or "" = none */
    int64_t timeout_s;
    uint32_t per_minute;       /* client-side quota (token buckets) */
    uint32_t per_hour;
    int max_attempts;          /* attempts for transient failures before DF_ERETRY; 0 = default 5 */
    const df_flag *stop; /* when it becomes non-zero, waits end with DF_ESTOP */
};

/*
 * libcurl's process-wide setup. Call api_global_init() once at start-up, before any thread
 * exists, and api_global_cleanup() once at exit; api_client_new() calls api_global_init() itself
 * if nobody did (fine in a single-threaded program). DF_EIO when libcurl cannot initialise.
 */
int api_global_init(void);
void api_global_cleanup(void);

/* An http:// api_url or token_url is accepted with one warning logged here. Not thread-safe:
 * one client per tenant, used by one thread at a time. */
int api_client_new(struct api_client **out, const struct api_config *cfg, struct df_err *err);
void api_client_free(struct api_client *c);
/* Backoff of transient retries: delays are drawn from [0, min(cap, base * 2^(n-1))] (defaults
 * 1 s and 60 s). For tests and interactive commands that should not wait long. */
void api_set_backoff(struct api_client *c, int64_t base_ms, int64_t cap_ms);

/*
 * GET {api_url}/api/incidents?$filter=FILTER&$top=TOP&$skip=SKIP (filter unencoded; NULL for
 * none). On success *root is the parsed response (caller frees with yajl_tree_free) and its
 * "value" member is an array. Errors: DF_ERETRY (transient, attempts exhausted), DF_EHTTP
 * (400/403/404: permanent, err names code and message), DF_EAUTH, DF_ESTOP; DF_EINVAL when
 * top < 1 or skip < 0 (nothing sent); DF_ENOMEM when a body passes 256 MiB (any call).
 */
int api_list_incidents(struct api_client *c, const char *filter, int top, int skip,
                       yajl_val *root, struct df_err *err);
/* GET {api_url}/api/incidents/{id}; DF_ENOTFOUND on 404; DF_EINVAL (nothing sent) unless id is
 * 1-19 decimal digits. */
int api_get_incident(struct api_client *c, const char *id, yajl_val *root, struct df_err *err);
/* PATCH {api_url}/api/incidents/{id} with a JSON body; returns the updated incident. */
int api_update_incident(struct api_client *c, const char *id, const char *json_body,
                        yajl_val *root, struct df_err *err);

/* The API server's clock, as learned from the Date header of the latest response (host clock
 * when no response has been seen yet), in 100 ns ticks. */
int64_t api_server_now_ticks(const struct api_client *c);

struct api_stats {
    uint64_t calls;            /* HTTP requests sent to api_url */
    uint64_t throttled;        /* 429 answers */
    uint64_t retries;
    uint64_t token_requests;
};
void api_get_stats(const struct api_client *c, struct api_stats *out);

#endif
