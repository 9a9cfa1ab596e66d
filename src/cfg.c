/*
 * Configuration loader (SPEC §7).
 *
 * Order of work, and why:
 *  1. libyaml parses the file into a document (cfg_lines): syntax errors get exact lines, and
 *     the document is the line map for every later message.
 *  2. One pass over the document rejects duplicate keys, cycles and alias bombs and expands
 *     ${VAR} in scalar values (all of them: `port: ${SYSLOG_PORT}` works), reporting every
 *     problem with its line.
 *  3. libcyaml loads the core keys from the expanded document (re-emitted as YAML text). It
 *     stops at its first problem; its log callback hands us the message and a backtrace, which
 *     become a path ("collector.rate_limit.per_minute") and, through the document, a line.
 *     Before that, a walk along the schema checks integer and boolean scalars strictly (plugin
 *     options use them), because libcyaml 1.3 reads "12abc" as 12 and "maybe" as true.
 *  4. Values are checked and defaults applied here, collecting every problem.
 *  5. Each `outputs` entry is loaded on its own: its `type` picks the plugin, and libcyaml loads
 *     the entry with that plugin's option table plus the common keys. One schema per entry means
 *     plugins may reuse each other's key names with different types, a key of another plugin is
 *     simply "unknown key for output type 'file'", and the core never names a plugin. A
 *     plugin's free-form mapping options (struct out_map_option: a client library's settings,
 *     whose keys no schema can list) are skipped by libcyaml and filled from the document here.
 *
 * Everything allocated for the result hangs off struct cfg and is freed by cfg_free(); the
 * plugin's options struct is freed with libcyaml and the plugin's own table.
 */
#include "cfg.h"

#include "cfg_lines.h"
#include "dbuf.h"
#include "out.h"
#include "ts.h"

#include <cyaml/cyaml.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CFG_FILE_MAX (1024 * 1024)
#define SECRET_FILE_MAX (64 * 1024)
#define YAML_TEXT_MAX (16 * 1024 * 1024) /* re-emitted document: expansion may grow it */
#define PROBLEMS_MAX 100                 /* more than this is one mistake repeated */

#define DEF_DEFENDER_API_URL "https://api.security.microsoft.com"
#define DEF_GRAPH_API_URL "https://graph.microsoft.com/v1.0/security"
#define DEF_TOKEN_URL "https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token"
#define DEF_POLL_INTERVAL_S 30
#define DEF_LAG_S 300
#define DEF_START_FROM_S (7 * 86400)
#define DEF_PER_MINUTE 50
#define DEF_PER_HOUR 1500
#define DEF_HTTP_TIMEOUT_S 30
#define DEF_STATE_DIR "/var/lib/defender-forwarder"
#define DEF_MAX_JOURNAL_BYTES (1ULL << 30)

/* ---- the core schema: what libcyaml loads before our checks ---- */

/*
 * Every key is optional and every scalar a string for libcyaml: required keys, enums,
 * integers, durations and sizes are checked below, so that one run reports all of them
 * (libcyaml stops at its first problem) in our wording, and NULL tells "absent" from "0".
 * libcyaml still rejects unknown keys and lists or mappings where a value belongs.
 */
struct raw_tenant {
    char *name, *tenant_id, *client_id, *client_secret, *client_secret_file;
    char *api, *api_url, *token_url, *scope;
};

struct raw_rate_limit {
    char *per_minute, *per_hour;
};

struct raw_http {
    char *timeout, *ca_file, *proxy;
};

struct raw_collector {
    char *poll_interval, *lag, *start_from, *alerts;
    struct raw_rate_limit rate_limit;
    struct raw_http http;
};

struct raw_state {
    char *dir, *max_journal_bytes;
};

struct raw_cfg {
    struct raw_tenant *tenants;
    unsigned n_tenants;
    struct raw_collector collector;
    struct raw_state state;
};

#define STR(key, type, member) \
    CYAML_FIELD_STRING_PTR(key, CYAML_FLAG_OPTIONAL, type, member, 0, CYAML_UNLIMITED)

static const cyaml_schema_field_t tenant_fields[] = {
    STR("name", struct raw_tenant, name),
    STR("tenant_id", struct raw_tenant, tenant_id),
    STR("client_id", struct raw_tenant, client_id),
    STR("client_secret", struct raw_tenant, client_secret),
    STR("client_secret_file", struct raw_tenant, client_secret_file),
    STR("api", struct raw_tenant, api),
    STR("api_url", struct raw_tenant, api_url),
    STR("token_url", struct raw_tenant, token_url),
    STR("scope", struct raw_tenant, scope),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t tenant_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_tenant, tenant_fields),
};

static const cyaml_schema_field_t rate_limit_fields[] = {
    STR("per_minute", struct raw_rate_limit, per_minute),
    STR("per_hour", struct raw_rate_limit, per_hour),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t http_fields[] = {
    STR("timeout", struct raw_http, timeout),
    STR("ca_file", struct raw_http, ca_file),
    STR("proxy", struct raw_http, proxy),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t collector_fields[] = {
    STR("poll_interval", struct raw_collector, poll_interval),
    STR("lag", struct raw_collector, lag),
    STR("start_from", struct raw_collector, start_from),
    STR("alerts", struct raw_collector, alerts),
    CYAML_FIELD_MAPPING("rate_limit", CYAML_FLAG_OPTIONAL, struct raw_collector, rate_limit,
                        rate_limit_fields),
    CYAML_FIELD_MAPPING("http", CYAML_FLAG_OPTIONAL, struct raw_collector, http, http_fields),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t state_fields[] = {
    STR("dir", struct raw_state, dir),
    STR("max_journal_bytes", struct raw_state, max_journal_bytes),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t top_fields[] = {
    CYAML_FIELD_SEQUENCE_COUNT("tenants", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
                               struct raw_cfg, tenants, n_tenants, &tenant_schema, 0,
                               CYAML_UNLIMITED),
    CYAML_FIELD_MAPPING("collector", CYAML_FLAG_OPTIONAL, struct raw_cfg, collector,
                        collector_fields),
    CYAML_FIELD_MAPPING("state", CYAML_FLAG_OPTIONAL, struct raw_cfg, state, state_fields),
    /* Loaded entry by entry with each plugin's schema, see load_outputs(). */
    CYAML_FIELD_IGNORE("outputs", CYAML_FLAG_OPTIONAL),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t top_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_cfg, top_fields),
};

/* Keys every output entry has, whatever its plugin; plugins must not declare them. */
static const char *const output_common_keys[] = {"name", "type", "format"};

/* ---- problems ---- */

struct problem {
    size_t line;    /* 0: none (the file as a whole, or a top-level key that is missing) */
    size_t seq;     /* report order, to keep the sort stable */
    char *key;      /* NULL when the problem concerns no key */
    char *text;     /* "FILE:LINE: KEY: problem" */
};

/* libcyaml's view of its first problem, captured from its log callback. */
#define CY_FRAMES 32
enum cy_frame_kind { CY_MAPPING, CY_FIELD, CY_ENTRY };

struct cy_log {
    char msg[512];
    int have_msg;
    struct {
        enum cy_frame_kind kind;
        char key[64];
        unsigned entry;     /* libcyaml's count: 1-based while an entry is being read */
    } frames[CY_FRAMES];    /* innermost first, as libcyaml prints them */
    size_t n_frames;
};

struct ctx {
    const char *file;
    struct cfg_lines lines;
    struct problem *v;
    size_t n, cap, dropped;
    int oom;
    cyaml_config_t cy;
    struct cy_log log;
};

static void add_problem(struct ctx *c, size_t line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add_problem(struct ctx *c, size_t line, const char *key, const char *fmt, ...)
{
    struct dbuf b;
    struct problem *p;
    va_list ap;
    char msg[600];

    if (c->n >= PROBLEMS_MAX) {
        c->dropped++;
        return;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct problem *v = realloc(c->v, cap * sizeof(*v));
        if (v == NULL) {
            c->oom = 1;
            return;
        }
        c->v = v;
        c->cap = cap;
    }
    va_start(ap, fmt);
    (void) vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* A quoted value can hold a newline; quoted back raw it would forge a second problem line. */
    for (char *q = msg; *q != '\0'; q++)
        if (*q == '\n' || *q == '\r')
            *q = ' ';
    dbuf_init(&b, 4096);
    if (dbuf_puts(&b, c->file) != DF_OK || (line > 0 && dbuf_printf(&b, ":%zu", line) != DF_OK) ||
        (key != NULL && key[0] != '\0' && dbuf_printf(&b, ": %s", key) != DF_OK) ||
        dbuf_printf(&b, ": %s", msg) != DF_OK) {
        dbuf_free(&b);
        c->oom = 1;
        return;
    }
    p = &c->v[c->n];
    p->line = line;
    p->seq = c->n;
    p->text = dbuf_take(&b);
    p->key = key != NULL ? strdup(key) : NULL;
    if (key != NULL && p->key == NULL) {
        free(p->text);
        c->oom = 1;
        return;
    }
    c->n++;
}

static int has_problem(const struct ctx *c, const char *key)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].key != NULL && strcmp(c->v[i].key, key) == 0)
            return 1;
    return 0;
}

static int problem_cmp(const void *a, const void *b)
{
    const struct problem *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* All problems, one per line, sorted by line, as many whole lines as err->msg holds. */
static void format_problems(struct ctx *c, struct df_err *err)
{
    char msg[sizeof(err->msg)], tail[64];
    size_t len = 0, shown = 0;

    qsort(c->v, c->n, sizeof(*c->v), problem_cmp);
    msg[0] = '\0';
    for (; shown < c->n; shown++) {
        size_t tl = strlen(c->v[shown].text), room = sizeof(msg) - 1 - len;
        size_t reserve = shown + 1 < c->n || c->dropped ? sizeof(tail) : 0;
        size_t need = tl + (len > 0);
        if (need + reserve > room) {
            if (shown == 0) {   /* a single overlong line: cut it rather than show nothing */
                snprintf(msg, sizeof(msg) - reserve, "%s", c->v[0].text);
                len = strlen(msg);
                shown = 1;
            }
            break;
        }
        len += (size_t) snprintf(msg + len, sizeof(msg) - len, "%s%s", len > 0 ? "\n" : "",
                                 c->v[shown].text);
    }
    if (shown < c->n || c->dropped) {
        size_t more = c->n - shown + c->dropped;
        snprintf(tail, sizeof(tail), "\n(%zu more problem%s not shown)", more,
                 more == 1 ? "" : "s");
        if (len + strlen(tail) < sizeof(msg))
            memcpy(msg + len, tail, strlen(tail) + 1);
    }
    df_err_set(err, DF_ECONFIG, "%s", msg);
}

/* ---- small helpers ---- */

static char *join_key(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (s == NULL)
        return NULL;
    memcpy(s, a, la);
    if (la > 0 && lb > 0 && b[0] != '[')
        s[la++] = '.';
    memcpy(s + la, b, lb + 1);
    return s;
}

/* Line of a key; for a top-level path that does not exist, 0. */
static size_t key_line(struct ctx *c, const char *key)
{
    return cfg_lines_line(&c->lines, key, NULL);
}

static void missing(struct ctx *c, const char *container, const char *key)
{
    char *full = join_key(container, key);
    if (full == NULL) {
        c->oom = 1;
        return;
    }
    /* The line of the mapping that lacks the key; none when the document itself lacks it. */
    add_problem(c, container[0] ? key_line(c, container) : 0, full, "missing required key");
    free(full);
}

static char *dup_str(struct ctx *c, const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        c->oom = 1;
    return d;
}

/* [A-Za-z0-9_.-]+: names end up in file names, metrics and log fields. */
static int valid_name(const char *s)
{
    if (s[0] == '\0')
        return 0;
    for (; *s; s++) {
        char ch = *s;
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            return 0;
    }
    return 1;
}

/* http:// or https:// followed by a host; no blanks or control characters anywhere. */
static int valid_url(const char *u)
{
    const char *rest;

    if (strncasecmp(u, "https://", 8) == 0)
        rest = u + 8;
    else if (strncasecmp(u, "http://", 7) == 0)
        rest = u + 7;
    else
        return 0;
    if (*rest == '\0' || *rest == '/')
        return 0;
    for (const char *p = u; *p; p++)
        if ((unsigned char) *p <= ' ' || *p == 0x7f)
            return 0;
    return 1;
}

/* Reads a whole file of at most max bytes. DF_EIO (errno kept), DF_EFULL, DF_ENOMEM. */
static int read_file(const char *path, size_t max, struct dbuf *out)
{
    int fd, rc = DF_OK, saved;
    char chunk[8192];

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return DF_EIO;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = DF_EIO;
            break;
        }
        if (n == 0)
            break;
        if ((size_t) n > max - out->len) {
            rc = DF_EFULL;
            break;
        }
        if (dbuf_append(out, chunk, (size_t) n) != DF_OK) {
            rc = DF_ENOMEM;
            break;
        }
    }
    saved = errno;
    close(fd);  /* read-only: nothing to lose on close */
    errno = saved;
    if (rc == DF_OK && out->p == NULL && dbuf_append(out, "", 0) != DF_OK)
        rc = DF_ENOMEM;
    return rc;
}

/* ---- strict integers and booleans ---- */

static int strict_int(const char *s, int allow_minus)
{
    if (*s == '+' || (allow_minus && *s == '-'))
        s++;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        if (*s == '\0')
            return 0;
        for (; *s; s++)
            if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
                  (*s >= 'A' && *s <= 'F')))
                return 0;
        return 1;
    }
    /* No leading zero: libcyaml would read "010" as octal 8. */
    if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static int strict_bool(const char *s)
{
    static const char *const ok[] = {"true", "false", "yes", "no", "on", "off", "1", "0"};
    for (size_t i = 0; i < DF_ARRAY_LEN(ok); i++)
        if (strcasecmp(s, ok[i]) == 0)
            return 1;
    return 0;
}

/* ---- libcyaml's log, turned into FILE:LINE: KEY: problem ---- */

static void cy_log_fn(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
    struct cy_log *lg = ctx;
    char line[512];
    size_t len;

    if (level < CYAML_LOG_ERROR)
        return;
    (void) vsnprintf(line, sizeof(line), fmt, args);
    len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '.'))
        line[--len] = '\0';
    if (strncmp(line, "  in ", 5) == 0) {
        /* "  in mapping field 'KEY' (line: L, column: C)", "  in sequence entry 'N' (…)",
         * "  in mapping (…)". libcyaml's own line numbers point at the event it was reading,
         * which is often a neighbour of the culprit: only the path is kept. */
        size_t i = lg->n_frames;
        if (i >= CY_FRAMES)
            return;
        if (sscanf(line, "  in mapping field '%63[^']'", lg->frames[i].key) == 1)
            lg->frames[i].kind = CY_FIELD;
        else if (sscanf(line, "  in sequence entry '%u'", &lg->frames[i].entry) == 1)
            lg->frames[i].kind = CY_ENTRY;
        else if (strncmp(line, "  in mapping", 12) == 0)
            lg->frames[i].kind = CY_MAPPING;
        else
            return;
        lg->n_frames++;
        return;
    }
    if (strcmp(line, "Load: Backtrace:") == 0 || lg->have_msg)
        return;
    snprintf(lg->msg, sizeof(lg->msg), "%s", strncmp(line, "Load: ", 6) == 0 ? line + 6 : line);
    lg->have_msg = 1;
}

static const char *cy_type_name(const char *t)
{
    static const char *const names[][2] = {
        {"STRING", "a string"}, {"INT", "an integer"}, {"UINT", "a non-negative integer"},
        {"BOOL", "true or false"}, {"ENUM", "a string"}, {"FLAGS", "a list of flags"},
        {"FLOAT", "a number"}, {"MAPPING", "a mapping"}, {"BITFIELD", "a mapping"},
        {"SEQUENCE", "a list"}, {"SEQUENCE_FIXED", "a list"}, {"SCALAR", "a single value"},
        {"SEQUENCE_START", "a list"}, {"MAPPING_START", "a mapping"}, {"ALIAS", "an alias"},
    };
    for (size_t i = 0; i < DF_ARRAY_LEN(names); i++)
        if (strcmp(t, names[i][0]) == 0)
            return names[i][1];
    return t;
}

/*
 * Core keys are all strings for libcyaml (see raw_cfg), so its "expected a string" would be
 * misleading for these when a list or a mapping was given.
 */
static const char *core_hint(const char *key)
{
    static const char *const hints[][2] = {
        {"collector.poll_interval", "a duration"},  {"collector.lag", "a duration"},
        {"collector.http.timeout", "a duration"},
        {"collector.start_from", "a duration or a timestamp"},
        {"collector.rate_limit.per_minute", "an integer"},
        {"collector.rate_limit.per_hour", "an integer"},
        {"state.max_journal_bytes", "a size"},
    };
    for (size_t i = 0; i < DF_ARRAY_LEN(hints); i++)
        if (strcmp(key, hints[i][0]) == 0)
            return hints[i][1];
    return NULL;
}

/* Path of libcyaml's backtrace, frames [from, n) (outermost last). */
static int cy_path(const struct cy_log *lg, size_t from, struct dbuf *b)
{
    int rc = dbuf_append(b, "", 0);
    for (size_t i = lg->n_frames; rc == DF_OK && i > from; i--) {
        if (lg->frames[i - 1].kind == CY_FIELD)
            rc = dbuf_printf(b, "%s%s", b->len ? "." : "", lg->frames[i - 1].key);
        else if (lg->frames[i - 1].kind == CY_ENTRY && lg->frames[i - 1].entry > 0)
            rc = dbuf_printf(b, "[%u]", lg->frames[i - 1].entry - 1);
    }
    return rc;
}

/*
 * Reports libcyaml's first problem. prefix: path of the loaded node in the file ("" for the
 * document, "outputs[2]" for an output entry); plugin: the entry's output type, or NULL.
 */
static void cy_report(struct ctx *c, cyaml_err_t e, const char *prefix, const char *plugin)
{
    const struct cy_log *lg = &c->log;
    enum { VALUE, KEY, SEQ } level = VALUE;
    const char *m = lg->msg, *arg = "";
    char problem[300], t1[32] = "", t2[32] = "", val[64] = "";
    struct dbuf path;
    char *container = NULL, *full = NULL;
    unsigned u1, u2;
    size_t line;

    if (e == CYAML_ERR_OOM) {
        c->oom = 1;
        return;
    }
    if (!lg->have_msg) {
        add_problem(c, key_line(c, prefix), prefix, "cannot load: %s", cyaml_strerror(e));
        return;
    }
    if (strncmp(m, "Unexpected key: ", 16) == 0) {
        level = KEY;
        arg = m + 16;
        snprintf(problem, sizeof(problem), "unknown key");
    } else if (strncmp(m, "Missing required mapping field: ", 32) == 0) {
        level = KEY;
        arg = m + 32;
        snprintf(problem, sizeof(problem), "missing required key");
    } else if (strncmp(m, "Mapping field already seen: ", 28) == 0) {
        level = KEY;
        arg = m + 28;
        snprintf(problem, sizeof(problem), "duplicate key");
    } else if (sscanf(m, "Invalid %31s value: '%63[^']'", t1, val) == 2 &&
               (strcmp(t1, "INT") == 0 || strcmp(t1, "UINT") == 0 ||
                strcmp(t1, "uint64_t") == 0)) {
        /* Syntax was checked by check_scalars(): what is left is the range of the C type. */
        if (strict_int(val, 1))
            snprintf(problem, sizeof(problem), "integer out of range, got '%s'", val);
        else
            snprintf(problem, sizeof(problem), "expected %s, got '%s'",
                     t1[0] == 'I' ? "an integer" : "a non-negative integer", val);
    } else if (strncmp(m, "Invalid ENUM value: ", 20) == 0) {
        snprintf(problem, sizeof(problem), "bad value '%.60s'", m + 20);
    } else if (strncmp(m, "Invalid FLOAT value: ", 21) == 0) {
        snprintf(problem, sizeof(problem), "expected a number, got '%.60s'", m + 21);
    } else if (strncmp(m, "FLOAT ", 6) == 0) {
        snprintf(problem, sizeof(problem), "number out of range");
    } else if (sscanf(m, "Expecting %31s got event: %31s", t1, t2) == 2) {
        t1[strcspn(t1, ",")] = '\0';
        snprintf(problem, sizeof(problem), "expected %s, got %s", cy_type_name(t1),
                 cy_type_name(t2));
    } else if (sscanf(m, "STRING length < %u", &u1) == 1) {
        /* The value is not repeated: it may be a secret. */
        if (u1 == 1)
            snprintf(problem, sizeof(problem), "must not be empty");
        else
            snprintf(problem, sizeof(problem), "must be at least %u characters long", u1);
    } else if (sscanf(m, "STRING length > %u", &u1) == 1) {
        snprintf(problem, sizeof(problem), "must be at most %u characters long", u1);
    } else if (sscanf(m, "Insufficient entries (%u of %u min)", &u1, &u2) == 2) {
        level = SEQ;
        snprintf(problem, sizeof(problem), "needs at least %u entries", u2);
    } else if (sscanf(m, "Excessive entries (%u max)", &u1) == 1) {
        level = SEQ;
        snprintf(problem, sizeof(problem), "allows at most %u entries", u1);
    } else {
        snprintf(problem, sizeof(problem), "%.200s", m);
        if (problem[0] >= 'A' && problem[0] <= 'Z')
            problem[0] = (char) (problem[0] - 'A' + 'a');
    }

    /* Key and sequence problems are reported by the mapping or sequence that holds them: the
     * innermost frame is that container, not one of its values. */
    dbuf_init(&path, 4096);
    if (cy_path(lg, level == VALUE ? 0 : 1, &path) != DF_OK ||
        (container = join_key(prefix, path.p)) == NULL ||
        (full = level == KEY ? join_key(container, arg) : strdup(container)) == NULL) {
        c->oom = 1;
        goto out;
    }
    if (strncmp(m, "Expecting STRING,", 17) == 0 && plugin == NULL && core_hint(full) != NULL)
        snprintf(problem, sizeof(problem), "expected %s, got %s", core_hint(full),
                 cy_type_name(t2));
    if (level == KEY && strcmp(problem, "unknown key") == 0 && plugin != NULL &&
        strcmp(container, prefix) == 0)
        snprintf(problem, sizeof(problem), "unknown key for output type '%s'", plugin);
    if (level == KEY && strcmp(problem, "missing required key") == 0)
        line = container[0] ? key_line(c, container) : 0;
    else if (full[0] == '\0' && cfg_lines_root(&c->lines) != NULL)
        line = cfg_lines_node_line(cfg_lines_root(&c->lines));
    else
        line = key_line(c, full);
    /* The strict scalar walk may have said it already, in better words. */
    if (!has_problem(c, full))
        add_problem(c, line, full, "%s", problem);
out:
    dbuf_free(&path);
    free(container);
    free(full);
}

/* Loads node (already expanded) with schema through libcyaml; *data is NULL on failure. */
static int cy_load(struct ctx *c, const yaml_node_t *node, const cyaml_schema_value_t *schema,
                   const char *prefix, const char *plugin, void **data)
{
    struct dbuf text;
    cyaml_err_t e;
    int rc;

    *data = NULL;
    dbuf_init(&text, YAML_TEXT_MAX);
    rc = cfg_lines_emit(&c->lines, node, &text);
    if (rc != DF_OK) {
        c->oom = 1;
        goto out;
    }
    memset(&c->log, 0, sizeof(c->log));
    e = cyaml_load_data((const uint8_t *) text.p, text.len, &c->cy, schema, (cyaml_data_t **) data,
                        NULL);
    if (e != CYAML_OK) {
        *data = NULL;
        cy_report(c, e, prefix, plugin);
        rc = DF_ECONFIG;
    }
out:
    dbuf_free(&text);
    return rc;
}

/*
 * Walks a document node along a libcyaml schema and checks integer and boolean scalars that
 * libcyaml would accept too leniently. Other mismatches (unknown keys, wrong node kinds) are
 * left to libcyaml, which reports them in its own pass.
 */
static void check_scalars(struct ctx *c, const cyaml_schema_value_t *sv, const yaml_node_t *n,
                          const char *path)
{
    char sub[512];
    const char *v;

    switch (sv->type) {
    case CYAML_MAPPING:
        if (n->type != YAML_MAPPING_NODE || sv->mapping.fields == NULL)
            return;
        for (const cyaml_schema_field_t *f = sv->mapping.fields; f->key != NULL; f++) {
            const yaml_node_t *child = cfg_lines_get(&c->lines, n, f->key, NULL);
            if (child == NULL)
                continue;
            snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", f->key);
            if (f->value.type == CYAML_SEQUENCE || f->value.type == CYAML_SEQUENCE_FIXED) {
                if (child->type != YAML_SEQUENCE_NODE || f->value.sequence.entry == NULL)
                    continue;
                for (size_t i = 0;; i++) {
                    const yaml_node_t *item = cfg_lines_item(&c->lines, child, i);
                    char sub2[540];
                    if (item == NULL)
                        break;
                    snprintf(sub2, sizeof(sub2), "%s[%zu]", sub, i);
                    check_scalars(c, f->value.sequence.entry, item, sub2);
                }
            } else {
                check_scalars(c, &f->value, child, sub);
            }
        }
        return;
    case CYAML_INT:
    case CYAML_UINT:
        v = cfg_lines_scalar(&c->lines, n);
        if (v != NULL && !strict_int(v, sv->type == CYAML_INT))
            add_problem(c, key_line(c, path), path, "expected %s, got '%.40s'",
                        sv->type == CYAML_INT ? "an integer" : "a non-negative integer", v);
        return;
    case CYAML_BOOL:
        v = cfg_lines_scalar(&c->lines, n);
        if (v != NULL && !strict_bool(v))
            add_problem(c, key_line(c, path), path, "expected true or false, got '%.40s'", v);
        return;
    default:
        return;
    }
}

static void prepare_report(void *ctx, size_t line, const char *path, const char *problem)
{
    add_problem(ctx, line, path, "%s", problem);
}

/* ---- tenants ---- */

/* A path relative to the configuration file's directory (systemd starts us in /). */
static char *relative_to(struct ctx *c, const char *path)
{
    const char *slash = strrchr(c->file, '/');
    char *s;
    size_t dl;

    if (path[0] == '/' || slash == NULL)
        return dup_str(c, path);
    dl = (size_t) (slash - c->file) + 1;
    s = malloc(dl + strlen(path) + 1);
    if (s == NULL) {
        c->oom = 1;
        return NULL;
    }
    memcpy(s, c->file, dl);
    memcpy(s + dl, path, strlen(path) + 1);
    return s;
}

static char *read_secret(struct ctx *c, const char *key, const char *file)
{
    struct dbuf b;
    char *path = relative_to(c, file), *secret = NULL;
    int rc;

    dbuf_init(&b, SECRET_FILE_MAX);
    if (path == NULL)
        goto out;
    rc = read_file(path, SECRET_FILE_MAX, &b);
    if (rc == DF_ENOMEM) {
        c->oom = 1;
        goto out;
    }
    if (rc == DF_EIO) {
        add_problem(c, key_line(c, key), key, "cannot read '%s': %s", path, strerror(errno));
        goto out;
    }
    if (rc == DF_EFULL) {
        add_problem(c, key_line(c, key), key, "'%s' is larger than %d bytes", path,
                    SECRET_FILE_MAX);
        goto out;
    }
    /* Files written by `echo` or an editor end in a newline that is not part of the secret. */
    while (b.len > 0 && (b.p[b.len - 1] == '\n' || b.p[b.len - 1] == '\r'))
        b.p[--b.len] = '\0';
    if (b.len == 0)
        add_problem(c, key_line(c, key), key, "'%s' is empty", path);
    else if (memchr(b.p, '\0', b.len) != NULL)
        add_problem(c, key_line(c, key), key, "'%s' contains a NUL byte", path);
    else
        secret = dbuf_take(&b);
out:
    dbuf_free(&b);
    free(path);
    return secret;
}

/* "scheme://host[:port]" + "/.default": the resource identifier of an API is its origin. */
static char *default_scope(struct ctx *c, const char *api_url)
{
    const char *host = strstr(api_url, "://");
    size_t n = host ? (size_t) (host + 3 - api_url) + strcspn(host + 3, "/") : strlen(api_url);
    char *s = malloc(n + sizeof("/.default"));

    if (s == NULL) {
        c->oom = 1;
        return NULL;
    }
    memcpy(s, api_url, n);
    memcpy(s + n, "/.default", sizeof("/.default"));
    return s;
}

/* token_url with every "{tenant_id}" replaced. */
static char *subst_tenant(struct ctx *c, const char *url, const char *tenant_id)
{
    static const char tag[] = "{tenant_id}";
    struct dbuf b;
    const char *p = url, *hit;

    dbuf_init(&b, 64 * 1024);
    while ((hit = strstr(p, tag)) != NULL) {
        if (dbuf_append(&b, p, (size_t) (hit - p)) != DF_OK || dbuf_puts(&b, tenant_id) != DF_OK)
            goto fail;
        p = hit + sizeof(tag) - 1;
    }
    if (dbuf_puts(&b, p) != DF_OK)
        goto fail;
    return dbuf_take(&b);
fail:
    dbuf_free(&b);
    c->oom = 1;
    return NULL;
}

/* Checks a required string; returns it, or NULL after reporting. */
static const char *required(struct ctx *c, const char *container, const char *key,
                            const char *value)
{
    char *full;

    if (value == NULL) {
        missing(c, container, key);
        return NULL;
    }
    if (value[0] != '\0')
        return value;
    full = join_key(container, key);
    if (full == NULL) {
        c->oom = 1;
        return NULL;
    }
    add_problem(c, key_line(c, full), full, "must not be empty");
    free(full);
    return NULL;
}

static void check_url(struct ctx *c, const char *key, const char *url)
{
    if (!valid_url(url))
        add_problem(c, key_line(c, key), key, "must be an http:// or https:// URL, got '%.100s'",
                    url);
}

static void load_tenant(struct ctx *c, const struct raw_tenant *t, size_t i, struct cfg *cfg)
{
    struct cfg_tenant *o = &cfg->tenants[i];
    char ctr[32], key[64];
    const char *api_url;
    int graph = 0;

    snprintf(ctr, sizeof(ctr), "tenants[%zu]", i);
    if (required(c, ctr, "name", t->name) != NULL) {
        snprintf(key, sizeof(key), "%s.name", ctr);
        if (!valid_name(t->name)) {
            add_problem(c, key_line(c, key), key,
                        "bad name '%.64s' (use letters, digits, '_', '.' and '-')", t->name);
        } else {
            for (size_t j = 0; j < i; j++) {
                char first[64];
                if (cfg->tenants[j].name == NULL || strcmp(cfg->tenants[j].name, t->name) != 0)
                    continue;
                snprintf(first, sizeof(first), "tenants[%zu].name", j);
                add_problem(c, key_line(c, key), key,
                            "duplicate tenant name '%s' (first at line %zu)", t->name,
                            key_line(c, first));
                break;
            }
        }
        o->name = dup_str(c, t->name);
    }
    if (required(c, ctr, "tenant_id", t->tenant_id) != NULL) {
        /* A GUID or a domain name; it becomes part of the token URL's path. */
        snprintf(key, sizeof(key), "%s.tenant_id", ctr);
        if (!valid_name(t->tenant_id))
            add_problem(c, key_line(c, key), key,
                        "bad tenant id '%.64s' (a GUID or a domain name)", t->tenant_id);
        o->tenant_id = dup_str(c, t->tenant_id);
    }
    if (required(c, ctr, "client_id", t->client_id) != NULL)
        o->client_id = dup_str(c, t->client_id);

    snprintf(key, sizeof(key), "%s.client_secret_file", ctr);
    if (t->client_secret != NULL && t->client_secret_file != NULL) {
        add_problem(c, key_line(c, key), key, "set either client_secret or client_secret_file, "
                                              "not both");
    } else if (t->client_secret_file != NULL) {
        if (required(c, ctr, "client_secret_file", t->client_secret_file) != NULL)
            o->client_secret = read_secret(c, key, t->client_secret_file);
    } else if (t->client_secret == NULL) {
        snprintf(key, sizeof(key), "%s.client_secret", ctr);
        add_problem(c, key_line(c, ctr), key, "missing required key (or client_secret_file)");
    } else if (required(c, ctr, "client_secret", t->client_secret) != NULL) {
        o->client_secret = dup_str(c, t->client_secret);
    }

    snprintf(key, sizeof(key), "%s.api", ctr);
    if (t->api != NULL && strcmp(t->api, "graph") == 0)
        graph = 1;
    else if (t->api != NULL && strcmp(t->api, "defender") != 0)
        add_problem(c, key_line(c, key), key, "bad value '%.64s' (use defender or graph)", t->api);
    o->api = dup_str(c, graph ? "graph" : "defender");

    snprintf(key, sizeof(key), "%s.api_url", ctr);
    api_url = t->api_url != NULL ? t->api_url : graph ? DEF_GRAPH_API_URL : DEF_DEFENDER_API_URL;
    check_url(c, key, api_url);
    o->api_url = dup_str(c, api_url);
    if (o->api_url != NULL && valid_url(o->api_url)) {
        /* The client appends "/api/incidents": a trailing slash would double it. */
        size_t host = (size_t) (strstr(o->api_url, "://") + 3 - o->api_url);
        size_t n = strlen(o->api_url);
        while (n > host + 1 && o->api_url[n - 1] == '/')
            o->api_url[--n] = '\0';
    }

    snprintf(key, sizeof(key), "%s.token_url", ctr);
    o->token_url = subst_tenant(c, t->token_url != NULL ? t->token_url : DEF_TOKEN_URL,
                                t->tenant_id != NULL ? t->tenant_id : "");
    if (t->token_url != NULL && o->token_url != NULL)
        check_url(c, key, o->token_url);

    if (t->scope != NULL) {
        if (required(c, ctr, "scope", t->scope) != NULL)
            o->scope = dup_str(c, t->scope);
    } else if (o->api_url != NULL) {
        o->scope = default_scope(c, o->api_url);
    }
}

static void load_tenants(struct ctx *c, const struct raw_cfg *raw, struct cfg *cfg)
{
    size_t line;
    yaml_node_t *node = cfg_lines_get(&c->lines, cfg_lines_root(&c->lines), "tenants", &line);

    if (node == NULL) {
        missing(c, "", "tenants");
        return;
    }
    if (raw->n_tenants == 0) {
        add_problem(c, line, "tenants", "must list at least one tenant");
        return;
    }
    cfg->tenants = calloc(raw->n_tenants, sizeof(*cfg->tenants));
    if (cfg->tenants == NULL) {
        c->oom = 1;
        return;
    }
    cfg->n_tenants = raw->n_tenants;
    for (size_t i = 0; i < raw->n_tenants; i++)
        load_tenant(c, &raw->tenants[i], i, cfg);
}

/* ---- collector and state ---- */

static void duration(struct ctx *c, const char *key, const char *value, int64_t def,
                     int64_t *out)
{
    int64_t s = 0;

    *out = def;
    if (value == NULL)
        return;
    if (ts_parse_duration(value, &s) != DF_OK || s <= 0)
        add_problem(c, key_line(c, key), key, "bad duration '%.64s' (use Ns, Nm, Nh or Nd)",
                    value);
    else
        *out = s;
}

static void rate(struct ctx *c, const char *key, const char *value, uint32_t def,
                 uint32_t *out)
{
    unsigned long long v;

    *out = def;
    if (value == NULL)
        return;
    if (!strict_int(value, 1)) {
        add_problem(c, key_line(c, key), key, "expected an integer, got '%.40s'", value);
        return;
    }
    errno = 0;
    v = value[0] == '-' ? 0 : strtoull(value, NULL, 0);
    if (errno != 0 || v < 1 || v > UINT32_MAX)
        add_problem(c, key_line(c, key), key, "must be between 1 and %lu, got %.40s",
                    (unsigned long) UINT32_MAX, value);
    else
        *out = (uint32_t) v;
}

static void load_collector(struct ctx *c, const struct raw_collector *r, struct cfg *cfg)
{
    int64_t s;

    duration(c, "collector.poll_interval", r->poll_interval, DEF_POLL_INTERVAL_S,
             &cfg->collector.poll_interval_s);
    duration(c, "collector.lag", r->lag, DEF_LAG_S, &cfg->collector.lag_s);

    cfg->collector.start_from_s = DEF_START_FROM_S;
    if (r->start_from != NULL) {
        if (ts_parse_duration(r->start_from, &s) == DF_OK && s > 0) {
            cfg->collector.start_from_s = s;
        } else if (ts_parse(r->start_from, strlen(r->start_from),
                            &cfg->collector.start_from_ticks) == DF_OK) {
            cfg->collector.start_from_absolute = 1;
            cfg->collector.start_from_s = 0;
        } else {
            add_problem(c, key_line(c, "collector.start_from"), "collector.start_from",
                        "bad value '%.64s' (use a duration such as 7d, or an RFC 3339 UTC "
                        "timestamp such as 2024-05-01T00:00:00Z)",
                        r->start_from);
        }
    }

    cfg->collector.alerts = CFG_ALERTS_CHANGED;
    if (r->alerts != NULL) {
        if (strcmp(r->alerts, "all") == 0)
            cfg->collector.alerts = CFG_ALERTS_ALL;
        else if (strcmp(r->alerts, "changed") != 0)
            add_problem(c, key_line(c, "collector.alerts"), "collector.alerts",
                        "bad value '%.64s' (use changed or all)", r->alerts);
    }

    rate(c, "collector.rate_limit.per_minute", r->rate_limit.per_minute, DEF_PER_MINUTE,
         &cfg->collector.per_minute);
    rate(c, "collector.rate_limit.per_hour", r->rate_limit.per_hour, DEF_PER_HOUR,
         &cfg->collector.per_hour);
    duration(c, "collector.http.timeout", r->http.timeout, DEF_HTTP_TIMEOUT_S,
             &cfg->collector.http_timeout_s);
    cfg->collector.ca_file = dup_str(c, r->http.ca_file != NULL ? r->http.ca_file : "");
    cfg->collector.proxy = dup_str(c, r->http.proxy != NULL ? r->http.proxy : "");
}

static void load_state(struct ctx *c, const struct raw_state *r, struct cfg *cfg)
{
    const char *dir = r->dir != NULL ? r->dir : DEF_STATE_DIR;
    uint64_t bytes;

    if (dir[0] == '\0')
        add_problem(c, key_line(c, "state.dir"), "state.dir", "must not be empty");
    cfg->state.dir = dup_str(c, dir);
    cfg->state.max_journal_bytes = DEF_MAX_JOURNAL_BYTES;
    if (r->max_journal_bytes != NULL) {
        if (ts_parse_size(r->max_journal_bytes, &bytes) != DF_OK)
            add_problem(c, key_line(c, "state.max_journal_bytes"), "state.max_journal_bytes",
                        "bad size '%.64s' (use N, NKiB, NMiB or NGiB)", r->max_journal_bytes);
        else if (bytes == 0)
            add_problem(c, key_line(c, "state.max_journal_bytes"), "state.max_journal_bytes",
                        "must be larger than 0");
        else
            cfg->state.max_journal_bytes = bytes;
    }
}

/* ---- outputs ---- */

static cyaml_schema_value_t plugin_schema(const struct out_plugin *p,
                                          const cyaml_schema_field_t *fields)
{
    cyaml_schema_value_t v = {
        CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, char, fields),
    };
    v.data_size = (uint32_t) p->opts_size;
    return v;
}

static struct out_kv_list *map_list(const struct out_map_option *m, void *opts)
{
    return (struct out_kv_list *) (void *) ((char *) opts + m->offset);
}

static void free_opts(const struct out_plugin *p, void *opts)
{
    static const cyaml_config_t cy = {.mem_fn = cyaml_mem, .log_level = CYAML_LOG_ERROR};
    static const cyaml_schema_field_t none[] = {CYAML_FIELD_END};
    cyaml_schema_value_t v;

    if (opts == NULL)
        return;
    /* Mapping options are ours, not libcyaml's: it does not know them. */
    for (const struct out_map_option *m = p->maps; m != NULL && m->key != NULL; m++) {
        struct out_kv_list *l = map_list(m, opts);
        for (size_t i = 0; i < l->n; i++) {
            free(l->v[i].key);
            free(l->v[i].value);
        }
        free(l->v);
        l->v = NULL;
        l->n = 0;
    }
    v = plugin_schema(p, p->options != NULL ? p->options : none);
    /* Frees every string or array libcyaml (or validate, with malloc) put in the struct. */
    (void) cyaml_free(&cy, &v, opts, 0);
}

/* The line of "MAP.ENTRY" (a mapping option's entry, whose key may contain '.' and so cannot
 * be found by path), or 0. */
static size_t map_entry_line(const struct out_plugin *p, void *opts, const char *key, size_t kl)
{
    for (const struct out_map_option *m = p->maps; opts != NULL && m != NULL && m->key != NULL;
         m++) {
        size_t ml = strlen(m->key);
        struct out_kv_list *l = map_list(m, opts);
        if (kl <= ml + 1 || strncmp(key, m->key, ml) != 0 || key[ml] != '.')
            continue;
        for (size_t i = 0; i < l->n; i++)
            if (strlen(l->v[i].key) == kl - ml - 1 &&
                strncmp(l->v[i].key, key + ml + 1, kl - ml - 1) == 0)
                return l->v[i].line;
    }
    return 0;
}

/* A plugin's message "KEY: problem" becomes "outputs[i].KEY: problem" on KEY's line. */
static void plugin_problem(struct ctx *c, const char *entry, const struct out_plugin *p,
                           void *opts, const char *msg)
{
    size_t kl = strcspn(msg, ": ");
    char key[300];
    int found = 0;
    size_t line = 0;

    if (kl > 0 && kl < 200 && strncmp(msg + kl, ": ", 2) == 0) {
        snprintf(key, sizeof(key), "%s.%.*s", entry, (int) kl, msg);
        line = map_entry_line(p, opts, msg, kl);
        if (line > 0) {
            add_problem(c, line, key, "%s", msg + kl + 2);
            return;
        }
        line = cfg_lines_line(&c->lines, key, &found);
        if (found) {
            add_problem(c, line, key, "%s", msg + kl + 2);
            return;
        }
    }
    add_problem(c, key_line(c, entry), entry, "%s", msg);
}

/* A mapping option: every entry a string key with a scalar value; `KEY:` alone is empty. */
static void load_map(struct ctx *c, const yaml_node_t *entry, const char *ekey,
                     const struct out_map_option *m, void *opts)
{
    struct out_kv_list *l = map_list(m, opts);
    size_t line = 0, n;
    const yaml_node_t *node = cfg_lines_get(&c->lines, entry, m->key, &line);
    const char *v = cfg_lines_scalar(&c->lines, node);
    char key[300];

    snprintf(key, sizeof(key), "%s.%s", ekey, m->key);
    if (node == NULL || (v != NULL && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                         (v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0)))
        return;
    if (node->type != YAML_MAPPING_NODE) {
        add_problem(c, line, key, "expected a mapping, got %s", cfg_lines_kind(node));
        return;
    }
    n = (size_t) (node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    l->v = calloc(n ? n : 1, sizeof(*l->v));
    if (l->v == NULL) {
        c->oom = 1;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const yaml_node_pair_t *pair = &node->data.mapping.pairs.start[i];
        const yaml_node_t *k = cfg_lines_node(&c->lines, pair->key);
        const yaml_node_t *val = cfg_lines_node(&c->lines, pair->value);
        struct out_kv *kv = &l->v[l->n];

        if (k == NULL || k->type != YAML_SCALAR_NODE)
            continue;   /* already reported by cfg_lines_prepare() */
        if (val->type != YAML_SCALAR_NODE) {
            char sub[600];
            snprintf(sub, sizeof(sub), "%s.%s", key, cfg_lines_scalar(&c->lines, k));
            add_problem(c, cfg_lines_node_line(k), sub, "expected a string, got %s",
                        cfg_lines_kind(val));
            continue;
        }
        kv->key = dup_str(c, cfg_lines_scalar(&c->lines, k));
        kv->value = dup_str(c, cfg_lines_scalar(&c->lines, val));
        kv->line = cfg_lines_node_line(k);
        l->n++;
        if (kv->key == NULL || kv->value == NULL)
            return;
    }
}

static void load_plugin(struct ctx *c, const yaml_node_t *entry, const char *ekey,
                        const struct out_plugin *p, struct cfg_output *o)
{
    size_t n = 0, n_maps = 0, n_ign = DF_ARRAY_LEN(output_common_keys);
    cyaml_schema_field_t *fields;
    cyaml_schema_value_t schema;
    struct df_err perr = {0};
    void *opts = NULL;

    while (p->options != NULL && p->options[n].key != NULL)
        n++;
    while (p->maps != NULL && p->maps[n_maps].key != NULL)
        n_maps++;
    fields = calloc(n + n_ign + n_maps + 1, sizeof(*fields));
    if (fields == NULL) {
        c->oom = 1;
        return;
    }
    /* libcyaml matches the first field of a key: the common keys come first and win. Mapping
     * options are skipped by libcyaml and loaded by load_map(). */
    for (size_t i = 0; i < n_ign + n_maps; i++) {
        fields[i].key = i < n_ign ? output_common_keys[i] : p->maps[i - n_ign].key;
        fields[i].value.type = CYAML_IGNORE;
        fields[i].value.flags = CYAML_FLAG_OPTIONAL;
    }
    n_ign += n_maps;
    if (n > 0)
        memcpy(fields + n_ign, p->options, n * sizeof(*fields));
    schema = plugin_schema(p, fields);

    check_scalars(c, &schema, entry, ekey);
    if (cy_load(c, entry, &schema, ekey, p->name, &opts) != DF_OK)
        goto out;
    if (opts == NULL) {
        /* An entry with only common keys: libcyaml may hand back nothing at all. */
        opts = calloc(1, p->opts_size ? p->opts_size : 1);
        if (opts == NULL) {
            c->oom = 1;
            goto out;
        }
    }
    o->opts = opts;
    for (size_t i = 0; i < n_maps; i++)
        load_map(c, entry, ekey, &p->maps[i], opts);
    if (p->validate != NULL && p->validate(opts, &perr) != DF_OK)
        plugin_problem(c, ekey, p, opts, perr.msg[0] ? perr.msg : "invalid options");
out:
    free(fields);
}

static void list_types(char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; out_registry[i] != NULL && len < size; i++) {
        if (out_registry[i]->api_version != OUT_API_VERSION)
            continue;
        len += (size_t) snprintf(buf + len, size - len, "%s%s", len ? ", " : "",
                                 out_registry[i]->name);
    }
}

/* A scalar common key: its value, or NULL after reporting a non-scalar. */
static const char *common_value(struct ctx *c, const yaml_node_t *entry, const char *ekey,
                                const char *key, size_t *line)
{
    const yaml_node_t *n = cfg_lines_get(&c->lines, entry, key, line);
    char full[300];

    if (n == NULL || n->type == YAML_SCALAR_NODE)
        return cfg_lines_scalar(&c->lines, n);
    snprintf(full, sizeof(full), "%s.%s", ekey, key);
    add_problem(c, *line, full, "expected a string, got %s", cfg_lines_kind(n));
    return NULL;
}

static void load_output(struct ctx *c, const yaml_node_t *entry, size_t i, struct cfg *cfg)
{
    struct cfg_output *o = &cfg->outputs[i];
    char ekey[32], key[64], types[256];
    const char *name, *type, *format;
    size_t line = 0;
    int bad = 0;

    snprintf(ekey, sizeof(ekey), "outputs[%zu]", i);
    if (entry->type != YAML_MAPPING_NODE) {
        add_problem(c, cfg_lines_node_line(entry), ekey, "expected a mapping, got %s",
                    cfg_lines_kind(entry));
        return;
    }

    snprintf(key, sizeof(key), "%s.name", ekey);
    name = common_value(c, entry, ekey, "name", &line);
    if (name == NULL) {
        if (cfg_lines_get(&c->lines, entry, "name", NULL) == NULL)
            missing(c, ekey, "name");
    } else if (!valid_name(name)) {
        add_problem(c, line, key, "bad name '%.64s' (use letters, digits, '_', '.' and '-')",
                    name);
    } else {
        for (size_t j = 0; j < i; j++) {
            char first[64];
            if (cfg->outputs[j].name == NULL || strcmp(cfg->outputs[j].name, name) != 0)
                continue;
            snprintf(first, sizeof(first), "outputs[%zu].name", j);
            add_problem(c, line, key, "duplicate output name '%s' (first at line %zu)", name,
                        key_line(c, first));
            break;
        }
    }
    if (name != NULL)
        o->name = dup_str(c, name);

    o->format = EVT_JSON;
    format = common_value(c, entry, ekey, "format", &line);
    if (format != NULL && strcmp(format, "cef") == 0) {
        o->format = EVT_CEF;
    } else if (format != NULL && strcmp(format, "json") != 0) {
        snprintf(key, sizeof(key), "%s.format", ekey);
        add_problem(c, line, key, "bad value '%.64s' (use json or cef)", format);
    }

    snprintf(key, sizeof(key), "%s.type", ekey);
    type = common_value(c, entry, ekey, "type", &line);
    if (type == NULL) {
        if (cfg_lines_get(&c->lines, entry, "type", NULL) == NULL)
            missing(c, ekey, "type");
        bad = 1;
    } else if ((o->plugin = out_find(type)) == NULL) {
        list_types(types, sizeof(types));
        add_problem(c, line, key, "unknown output type '%.64s' (available: %s)", type, types);
        bad = 1;
    }
    if (type != NULL)
        o->type = dup_str(c, type);
    /* Without a plugin, the entry's other keys mean nothing: they are not checked. */
    if (!bad)
        load_plugin(c, entry, ekey, o->plugin, o);
}

static void load_outputs(struct ctx *c, struct cfg *cfg)
{
    size_t line = 0, n;
    const yaml_node_t *seq = cfg_lines_get(&c->lines, cfg_lines_root(&c->lines), "outputs", &line);

    if (seq == NULL) {
        missing(c, "", "outputs");
        return;
    }
    if (seq->type != YAML_SEQUENCE_NODE) {
        add_problem(c, line, "outputs", "expected a list, got %s", cfg_lines_kind(seq));
        return;
    }
    n = (size_t) (seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (n == 0) {
        add_problem(c, line, "outputs", "must list at least one output");
        return;
    }
    cfg->outputs = calloc(n, sizeof(*cfg->outputs));
    if (cfg->outputs == NULL) {
        c->oom = 1;
        return;
    }
    cfg->n_outputs = n;
    for (size_t i = 0; i < n && !c->oom; i++)
        load_output(c, cfg_lines_item(&c->lines, seq, i), i, cfg);
}

/* ---- entry points ---- */

int cfg_load(const char *path, struct cfg **out, struct df_err *err)
{
    struct ctx c = {.file = path};
    struct cfg *cfg = NULL;
    struct raw_cfg *raw = NULL;
    static const struct raw_cfg empty;
    const struct raw_cfg *raw_view;
    struct dbuf file;
    yaml_node_t *root;
    char msg[256];
    size_t line;
    int rc;

    dbuf_init(&file, CFG_FILE_MAX);
    c.cy.log_fn = cy_log_fn;
    c.cy.log_ctx = &c.log;
    c.cy.mem_fn = cyaml_mem;
    c.cy.log_level = CYAML_LOG_ERROR;
    c.cy.flags = CYAML_CFG_DEFAULT;

    cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL || (cfg->path = strdup(path)) == NULL) {
        c.oom = 1;
        goto done;
    }
    rc = read_file(path, CFG_FILE_MAX, &file);
    if (rc != DF_OK) {
        if (rc == DF_ENOMEM)
            c.oom = 1;
        else if (rc == DF_EFULL)
            add_problem(&c, 0, NULL, "larger than %d bytes: not a configuration file",
                        CFG_FILE_MAX);
        else
            add_problem(&c, 0, NULL, "cannot read: %s", strerror(errno));
        goto done;
    }
    rc = cfg_lines_load(&c.lines, file.p, file.len, &line, msg, sizeof(msg));
    if (rc != DF_OK) {
        if (rc == DF_ENOMEM)
            c.oom = 1;
        else
            add_problem(&c, line, NULL, "YAML syntax error: %s", msg);
        goto done;
    }
    rc = cfg_lines_prepare(&c.lines, prepare_report, &c);
    if (rc != 0) {
        if (rc < 0)
            c.oom = 1;
        goto done;
    }
    root = cfg_lines_root(&c.lines);
    if (root != NULL && root->type != YAML_MAPPING_NODE) {
        add_problem(&c, cfg_lines_node_line(root), NULL,
                    "expected a mapping of settings at the top level, got %s",
                    cfg_lines_kind(root));
        goto done;
    }
    if (root != NULL) {
        check_scalars(&c, &top_schema, root, "");
        if (cy_load(&c, root, &top_schema, "", NULL, (void **) &raw) != DF_OK)
            goto outputs;   /* libcyaml stopped early: its view of the core keys is partial */
    }
    if (raw == NULL)
        raw_view = &empty;      /* an empty document: every default, and what is missing */
    else
        raw_view = raw;
    load_tenants(&c, raw_view, cfg);
    load_collector(&c, &raw_view->collector, cfg);
    load_state(&c, &raw_view->state, cfg);
outputs:
    /* Output entries are independent of the core keys: check them even when those failed. */
    if (!c.oom)
        load_outputs(&c, cfg);
done:
    if (c.oom) {
        rc = df_err_set(err, DF_ENOMEM, "%s: out of memory while loading the configuration",
                        path);
    } else if (c.n > 0 || c.dropped > 0) {
        format_problems(&c, err);
        rc = DF_ECONFIG;
    } else {
        *out = cfg;
        cfg = NULL;
        rc = DF_OK;
    }
    cfg_free(cfg);
    if (raw != NULL)
        (void) cyaml_free(&c.cy, &top_schema, raw, 0);
    cfg_lines_free(&c.lines);
    dbuf_free(&file);
    for (size_t i = 0; i < c.n; i++) {
        free(c.v[i].key);
        free(c.v[i].text);
    }
    free(c.v);
    return rc;
}

void cfg_free(struct cfg *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->n_tenants && cfg->tenants != NULL; i++) {
        struct cfg_tenant *t = &cfg->tenants[i];
        free(t->name);
        free(t->tenant_id);
        free(t->client_id);
        if (t->client_secret != NULL) {
            /* Not a guarantee (copies existed), but do not leave the secret lying around. */
            memset(t->client_secret, 0, strlen(t->client_secret));
            free(t->client_secret);
        }
        free(t->api);
        free(t->api_url);
        free(t->token_url);
        free(t->scope);
    }
    free(cfg->tenants);
    free(cfg->collector.ca_file);
    free(cfg->collector.proxy);
    free(cfg->state.dir);
    for (size_t i = 0; i < cfg->n_outputs && cfg->outputs != NULL; i++) {
        struct cfg_output *o = &cfg->outputs[i];
        free(o->name);
        free(o->type);
        if (o->plugin != NULL)
            free_opts(o->plugin, o->opts);
        else
            free(o->opts);
    }
    free(cfg->outputs);
    free(cfg->path);
    free(cfg);
}
