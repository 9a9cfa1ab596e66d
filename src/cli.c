#include "cli.h"

#include "api.h"
#include "cfg.h"
#include "dbuf.h"
#include "evt.h"
#include "log.h"
#include "run.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

static df_flag stop_requested;
static df_flag reopen_requested;

static const char usage_text[] =
    "Usage:\n"
    "  defender-forwarder run -c FILE [--once]\n"
    "  defender-forwarder check-config -c FILE\n"
    "  defender-forwarder incidents list -c FILE [--tenant NAME] [--filter ODATA] [--top N]\n"
    "  defender-forwarder incidents get ID -c FILE [--tenant NAME]\n"
    "  defender-forwarder incidents update ID -c FILE [--tenant NAME] [--status S]\n"
    "        [--assigned-to U] [--classification C] [--determination D] [--tag T]...\n"
    "        [--comment TEXT]\n"
    "  defender-forwarder state show -c FILE\n"
    "  defender-forwarder --version | --help\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   configuration file (YAML)\n"
    "      --once          catch up to now, deliver everything, exit 0\n"
    "      --log-level L   debug | info | warn | error (default info)\n"
    "\n"
    "Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.\n"
    "Signals: SIGTERM/SIGINT finish the batch and exit 0; SIGHUP reopens file outputs.\n";

static void on_stop(int sig)
{
    (void) sig;
    stop_requested = 1;
}

static void on_hup(int sig)
{
    (void) sig;
    reopen_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "defender-forwarder: ");
    fprintf(stderr, fmt, arg ? arg : "");
    fprintf(stderr, "\nTry 'defender-forwarder --help'.\n");
    return EXIT_USAGE;
}

struct cli_args {
    const char *config;
    int once;
    const char *tenant;
    const char *filter;
    int top;
    const char *status;
    const char *assigned_to;
    const char *classification;
    const char *determination;
    const char **tags;
    size_t n_tags;
    const char *comment;
    const char *positional[3];
    size_t n_positional;
};

enum {
    OPT_ONCE = 256,
    OPT_TENANT,
    OPT_FILTER,
    OPT_TOP,
    OPT_STATUS,
    OPT_ASSIGNED,
    OPT_CLASS,
    OPT_DETERM,
    OPT_TAG,
    OPT_COMMENT,
    OPT_LOGLEVEL,
};

static int parse_args(int argc, char **argv, struct cli_args *a)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"once", no_argument, NULL, OPT_ONCE},
        {"tenant", required_argument, NULL, OPT_TENANT},
        {"filter", required_argument, NULL, OPT_FILTER},
        {"top", required_argument, NULL, OPT_TOP},
        {"status", required_argument, NULL, OPT_STATUS},
        {"assigned-to", required_argument, NULL, OPT_ASSIGNED},
        {"classification", required_argument, NULL, OPT_CLASS},
        {"determination", required_argument, NULL, OPT_DETERM},
        {"tag", required_argument, NULL, OPT_TAG},
        {"comment", required_argument, NULL, OPT_COMMENT},
        {"log-level", required_argument, NULL, OPT_LOGLEVEL},
        {NULL, 0, NULL, 0},
    };
    int c;

    opterr = 0;
    optind = 1;
    /* "+" would stop at the first positional; we want options anywhere, so permute. */
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        switch (c) {
        case 'c': a->config = optarg; break;
        case OPT_ONCE: a->once = 1; break;
        case OPT_TENANT: a->tenant = optarg; break;
        case OPT_FILTER: a->filter = optarg; break;
        case OPT_TOP: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end != '\0' || v < 1 || v > 100)
                return usage_error("--top must be a number from 1 to 100, not '%s'", optarg);
            a->top = (int) v;
            break;
        }
        case OPT_STATUS: a->status = optarg; break;
        case OPT_ASSIGNED: a->assigned_to = optarg; break;
        case OPT_CLASS: a->classification = optarg; break;
        case OPT_DETERM: a->determination = optarg; break;
        case OPT_TAG: {
            const char **p = realloc(a->tags, (a->n_tags + 1) * sizeof(*p));
            if (p == NULL)
                return EXIT_RUNTIME;
            a->tags = p;
            a->tags[a->n_tags++] = optarg;
            break;
        }
        case OPT_COMMENT: a->comment = optarg; break;
        case OPT_LOGLEVEL: {
            enum log_level l;
            if (log_parse_level(optarg, &l) != DF_OK)
                return usage_error("unknown log level '%s'", optarg);
            log_set_level(l);
            break;
        }
        default:
            return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    for (int i = optind; i < argc; i++) {
        if (a->n_positional == DF_ARRAY_LEN(a->positional))
            return usage_error("unexpected argument '%s'", argv[i]);
        a->positional[a->n_positional++] = argv[i];
    }
    return 0;
}

static int load_config(const struct cli_args *a, struct cfg **cfg)
{
    struct df_err err = {0};
    if (a->config == NULL)
        return usage_error("missing -c FILE%s", NULL);
    if (cfg_load(a->config, cfg, &err) != DF_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return EXIT_USAGE;
    }
    return 0;
}

static int cmd_run(const struct cli_args *a)
{
    struct cfg *cfg = NULL;
    struct run_options ro = {.once = a->once, .stop = &stop_requested,
                             .reopen = &reopen_requested};
    int rc = load_config(a, &cfg);

    if (rc != 0)
        return rc;
    install_signals();
    rc = run_forwarder(cfg, &ro);
    cfg_free(cfg);
    return rc == DF_OK ? 0 : rc == DF_ECONFIG ? EXIT_USAGE : EXIT_RUNTIME;
}

static int cmd_check_config(const struct cli_args *a)
{
    struct cfg *cfg = NULL;
    int rc = load_config(a, &cfg);
    if (rc != 0)
        return rc;
    printf("%s: configuration is valid (%zu tenant%s, %zu output%s)\n", a->config,
           cfg->n_tenants, cfg->n_tenants == 1 ? "" : "s", cfg->n_outputs,
           cfg->n_outputs == 1 ? "" : "s");
    cfg_free(cfg);
    return 0;
}

static int cmd_state_show(const struct cli_args *a)
{
    struct cfg *cfg = NULL;
    struct df_err err = {0};
    int rc = load_config(a, &cfg);
    if (rc != 0)
        return rc;
    rc = run_state_show(cfg, &err);
    cfg_free(cfg);
    if (rc != DF_OK) {
        fprintf(stderr, "defender-forwarder: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    return 0;
}

static const struct cfg_tenant *pick_tenant(const struct cfg *cfg, const char *name)
{
    if (name == NULL) {
        if (cfg->n_tenants == 1)
            return &cfg->tenants[0];
        fprintf(stderr, "defender-forwarder: the configuration has %zu tenants; choose one "
                "with --tenant NAME\n", cfg->n_tenants);
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_tenants; i++)
        if (strcmp(cfg->tenants[i].name, name) == 0)
            return &cfg->tenants[i];
    fprintf(stderr, "defender-forwarder: no tenant named '%s' in the configuration\n", name);
    return NULL;
}

static int print_json(yajl_val v, int pretty)
{
    struct dbuf b;
    int rc;
    dbuf_init(&b, (size_t) 512 << 20);
    rc = evt_json_value(v, pretty, &b);
    if (rc == DF_OK) {
        fwrite(b.p, 1, b.len, stdout);
        fputc('\n', stdout);
    }
    dbuf_free(&b);
    return rc;
}

static void gen_str(yajl_gen g, const char *key, const char *val)
{
    yajl_gen_string(g, (const unsigned char *) key, strlen(key));
    yajl_gen_string(g, (const unsigned char *) val, strlen(val));
}

/* The PATCH body documented by the API (reference/api.md §12): only the fields given. */
static int build_update_body(const struct cli_args *a, char **body)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    const unsigned char *buf;
    size_t len;

    if (g == NULL)
        return DF_ENOMEM;
    yajl_gen_map_open(g);
    if (a->status)
        gen_str(g, "status", a->status);
    if (a->assigned_to)
        gen_str(g, "assignedTo", a->assigned_to);
    if (a->classification)
        gen_str(g, "classification", a->classification);
    if (a->determination)
        gen_str(g, "determination", a->determination);
    if (a->n_tags > 0) {
        yajl_gen_string(g, (const unsigned char *) "tags", 4);
        yajl_gen_array_open(g);
        for (size_t i = 0; i < a->n_tags; i++)
            yajl_gen_string(g, (const unsigned char *) a->tags[i], strlen(a->tags[i]));
        yajl_gen_array_close(g);
    }
    if (a->comment)
        gen_str(g, "comment", a->comment);
    yajl_gen_map_close(g);
    if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
        yajl_gen_free(g);
        return DF_EINVAL;
    }
    *body = strndup((const char *) buf, len);
    yajl_gen_free(g);
    return *body ? DF_OK : DF_ENOMEM;
}

static int cmd_incidents(const struct cli_args *a)
{
    const char *verb = a->n_positional > 1 ? a->positional[1] : NULL;
    const char *id = a->n_positional > 2 ? a->positional[2] : NULL;
    struct cfg *cfg = NULL;
    const struct cfg_tenant *t;
    struct api_client *api = NULL;
    struct df_err err = {0};
    yajl_val root = NULL;
    char *body = NULL;
    int rc, exit_code = EXIT_RUNTIME;

    if (verb == NULL || (strcmp(verb, "list") != 0 && strcmp(verb, "get") != 0 &&
                         strcmp(verb, "update") != 0))
        return usage_error("incidents needs list, get ID or update ID%s", NULL);
    if (strcmp(verb, "list") == 0 ? id != NULL : id == NULL)
        return usage_error("incidents %s: wrong number of arguments", verb);
    if (strcmp(verb, "update") == 0 && !a->status && !a->assigned_to && !a->classification &&
        !a->determination && a->n_tags == 0 && !a->comment)
        return usage_error("incidents update: nothing to change (give --status, --comment, "
                           "…)%s", NULL);
    rc = load_config(a, &cfg);
    if (rc != 0)
        return rc;
    t = pick_tenant(cfg, a->tenant);
    if (t == NULL) {
        exit_code = EXIT_USAGE;
        goto out;
    }
    if (strcmp(t->api, "defender") != 0) {
        fprintf(stderr, "defender-forwarder: tenant %s: api: %s is not supported by this build "
                "yet; use api: defender\n", t->name, t->api);
        exit_code = EXIT_USAGE;
        goto out;
    }
    install_signals();
    struct api_config ac = {
        .tenant = t->name, .tenant_id = t->tenant_id, .client_id = t->client_id,
        .client_secret = t->client_secret, .api_url = t->api_url, .token_url = t->token_url,
        .scope = t->scope, .ca_file = cfg->collector.ca_file, .proxy = cfg->collector.proxy,
        .timeout_s = cfg->collector.http_timeout_s, .per_minute = cfg->collector.per_minute,
        .per_hour = cfg->collector.per_hour, .stop = &stop_requested,
    };
    rc = api_client_new(&api, &ac, &err);
    if (rc != DF_OK)
        goto fail;
    if (strcmp(verb, "list") == 0) {
        const char *path[] = {"value", NULL};
        yajl_val value;
        rc = api_list_incidents(api, a->filter, a->top ? a->top : 100, 0, &root, &err);
        if (rc != DF_OK)
            goto fail;
        value = yajl_tree_get(root, path, yajl_t_array);
        for (size_t i = 0; value && i < value->u.array.len; i++)
            if (print_json(value->u.array.values[i], 0) != DF_OK)
                goto out;
    } else if (strcmp(verb, "get") == 0) {
        rc = api_get_incident(api, id, &root, &err);
        if (rc != DF_OK)
            goto fail;
        if (print_json(root, 1) != DF_OK)
            goto out;
    } else {
        rc = build_update_body(a, &body);
        if (rc == DF_OK)
            rc = api_update_incident(api, id, body, &root, &err);
        if (rc != DF_OK)
            goto fail;
        if (print_json(root, 1) != DF_OK)
            goto out;
    }
    exit_code = 0;
    goto out;
fail:
    fprintf(stderr, "defender-forwarder: %s\n", err.msg[0] ? err.msg : df_strerror(rc));
out:
    yajl_tree_free(root);
    free(body);
    api_client_free(api);
    cfg_free(cfg);
    return exit_code;
}

int cli_main(int argc, char **argv)
{
    struct cli_args a;
    const char *cmd;
    int rc;

    memset(&a, 0, sizeof(a));
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("defender-forwarder %s\n", DF_VERSION);
        return 0;
    }
    /* libcurl's global state, before anything else could start a thread. */
    if (api_global_init() != DF_OK) {
        fprintf(stderr, "defender-forwarder: cannot initialise libcurl\n");
        return EXIT_RUNTIME;
    }
    rc = parse_args(argc, argv, &a);
    if (rc != 0)
        goto out;
    if (a.n_positional == 0) {
        rc = usage_error("missing command%s", NULL);
        goto out;
    }
    cmd = a.positional[0];
    if (strcmp(cmd, "run") == 0 && a.n_positional == 1)
        rc = cmd_run(&a);
    else if (strcmp(cmd, "check-config") == 0 && a.n_positional == 1)
        rc = cmd_check_config(&a);
    else if (strcmp(cmd, "state") == 0 && a.n_positional == 2 &&
             strcmp(a.positional[1], "show") == 0)
        rc = cmd_state_show(&a);
    else if (strcmp(cmd, "incidents") == 0)
        rc = cmd_incidents(&a);
    else
        rc = usage_error("unknown command '%s'", cmd);
out:
    free(a.tags);
    api_global_cleanup();
    return rc;
}
