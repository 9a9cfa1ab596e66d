/* Configuration (SPEC §7): loaded with libcyaml, validated, ${VAR} expanded. */
#ifndef DF_CFG_H
#define DF_CFG_H

#include "common.h"
#include "evt.h"

#include <stdint.h>

struct out_plugin;

enum cfg_alerts { CFG_ALERTS_CHANGED, CFG_ALERTS_ALL };

struct cfg_tenant {
    char *name;
    char *tenant_id;
    char *client_id;
    char *client_secret;        /* expanded; read from client_secret_file when that is set */
    char *api;                  /* "defender" | "graph" */
    char *api_url;              /* default https://api.security.microsoft.com */
    char *token_url;            /* {tenant_id} already substituted */
    char *scope;
};

struct cfg_output {
    char *name;
    char *type;
    enum evt_format format;
    const struct out_plugin *plugin;
    void *opts;                 /* the plugin's options struct (plugin->opts_size bytes) */
};

struct cfg {
    char *path;
    struct cfg_tenant *tenants;
    size_t n_tenants;
    struct {
        int64_t poll_interval_s;    /* default 30 */
        int64_t lag_s;              /* default 300 */
        int start_from_absolute;    /* 1: start_from_ticks; 0: start_from_s back from now */
        int64_t start_from_s;       /* default 7d */
        int64_t start_from_ticks;
        enum cfg_alerts alerts;     /* default changed */
        uint32_t per_minute;        /* default 50 */
        uint32_t per_hour;          /* default 1500 */
        int64_t http_timeout_s;     /* default 30 */
        char *ca_file;              /* "" = system store */
        char *proxy;                /* "" = none (libcurl still honours env proxies) */
    } collector;
    struct {
        char *dir;                  /* default /var/lib/defender-forwarder */
        uint64_t max_journal_bytes; /* default 1GiB */
    } state;
    struct cfg_output *outputs;
    size_t n_outputs;
};

/*
 * Loads and validates path. On failure returns DF_ECONFIG with every problem found written to
 * err->msg, one per line, each as "FILE:LINE: KEY: problem" (first problems first, as many as
 * fit). *out is set only on success; free it with cfg_free().
 */
int cfg_load(const char *path, struct cfg **out, struct df_err *err);
void cfg_free(struct cfg *cfg);

#endif
