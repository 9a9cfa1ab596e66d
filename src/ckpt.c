#include "ckpt.h"

#include "fsutil.h"
#include "ts.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#define CKPT_FORMAT 1
#define CKPT_MAX_BYTES (16u << 20)

void ckpt_free(struct ckpt *c)
{
    for (size_t i = 0; i < c->n_tenants; i++)
        free(c->tenants[i].name);
    for (size_t i = 0; i < c->n_outputs; i++)
        free(c->outputs[i].name);
    free(c->tenants);
    free(c->outputs);
    memset(c, 0, sizeof(*c));
}

struct ckpt_tenant *ckpt_tenant(struct ckpt *c, const char *name)
{
    struct ckpt_tenant *p;
    for (size_t i = 0; i < c->n_tenants; i++)
        if (strcmp(c->tenants[i].name, name) == 0)
            return &c->tenants[i];
    p = realloc(c->tenants, (c->n_tenants + 1) * sizeof(*p));
    if (p == NULL)
        return NULL;
    c->tenants = p;
    p = &c->tenants[c->n_tenants];
    memset(p, 0, sizeof(*p));
    p->name = strdup(name);
    if (p->name == NULL)
        return NULL;
    c->n_tenants++;
    return p;
}

const struct ckpt_output *ckpt_find_output(const struct ckpt *c, const char *name)
{
    for (size_t i = 0; i < c->n_outputs; i++)
        if (strcmp(c->outputs[i].name, name) == 0)
            return &c->outputs[i];
    return NULL;
}

struct ckpt_output *ckpt_output(struct ckpt *c, const char *name)
{
    struct ckpt_output *p = (struct ckpt_output *) ckpt_find_output(c, name);
    if (p != NULL)
        return p;
    p = realloc(c->outputs, (c->n_outputs + 1) * sizeof(*p));
    if (p == NULL)
        return NULL;
    c->outputs = p;
    p = &c->outputs[c->n_outputs];
    memset(p, 0, sizeof(*p));
    p->name = strdup(name);
    if (p->name == NULL)
        return NULL;
    c->n_outputs++;
    return p;
}

static void gen_print(void *ctx, const char *s, size_t n)
{
    struct dbuf *b = ctx;
    /* A failed append is detected through the buffer's length afterwards. */
    if (dbuf_append(b, s, n) != DF_OK)
        b->max = 0;
}

static void gen_str(yajl_gen g, const char *s)
{
    yajl_gen_string(g, (const unsigned char *) s, strlen(s));
}

static void gen_u64(yajl_gen g, const char *key, uint64_t v)
{
    char num[32];
    int n = snprintf(num, sizeof(num), "%" PRIu64, v);
    gen_str(g, key);
    yajl_gen_number(g, num, (size_t) n);
}

static void gen_ts(yajl_gen g, const char *key, int64_t ticks)
{
    char ts[TS_FMT_MAX];
    ts_format7(ticks, ts);
    gen_str(g, key);
    gen_str(g, ts);
}

int ckpt_to_json(const struct ckpt *c, int pretty, struct dbuf *out)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    size_t max = out->max;
    char ts[TS_FMT_MAX];

    if (g == NULL)
        return DF_ENOMEM;
    yajl_gen_config(g, yajl_gen_beautify, pretty);
    yajl_gen_config(g, yajl_gen_print_callback, gen_print, out);
    yajl_gen_map_open(g);
    gen_u64(g, "format", CKPT_FORMAT);
    gen_str(g, "journal");
    yajl_gen_map_open(g);
    gen_u64(g, "end", c->journal_end);
    yajl_gen_map_close(g);
    gen_str(g, "tenants");
    yajl_gen_map_open(g);
    for (size_t i = 0; i < c->n_tenants; i++) {
        const struct ckpt_tenant *t = &c->tenants[i];
        gen_str(g, t->name);
        yajl_gen_map_open(g);
        if (t->has_position) {
            ts_format7(t->position, ts);
            gen_str(g, "position");
            gen_str(g, ts);
        }
        if (t->has_window) {
            gen_str(g, "window");
            yajl_gen_map_open(g);
            gen_ts(g, "start", t->window_start);
            gen_ts(g, "next_end", t->window_next_end);
            gen_ts(g, "end", t->window_end);
            yajl_gen_map_close(g);
        }
        gen_u64(g, "vidx_generation", t->vidx_gen);
        gen_u64(g, "vidx_length", t->vidx_len);
        gen_u64(g, "incident_events", t->incidents);
        gen_u64(g, "alert_events", t->alerts);
        yajl_gen_map_close(g);
    }
    yajl_gen_map_close(g);
    gen_str(g, "outputs");
    yajl_gen_map_open(g);
    for (size_t i = 0; i < c->n_outputs; i++) {
        const struct ckpt_output *o = &c->outputs[i];
        gen_str(g, o->name);
        yajl_gen_map_open(g);
        gen_u64(g, "journal_position", o->journal_pos);
        gen_u64(g, "committed_length", o->committed_len);
        gen_u64(g, "delivered_events", o->delivered);
        yajl_gen_map_close(g);
    }
    yajl_gen_map_close(g);
    yajl_gen_map_close(g);
    yajl_gen_free(g);
    if (out->max == 0) {
        out->max = max;
        return DF_ENOMEM;
    }
    return DF_OK;
}

int ckpt_write(const char *dir, const struct ckpt *c, struct df_err *err)
{
    struct dbuf b;
    int rc;

    dbuf_init(&b, CKPT_MAX_BYTES);
    rc = ckpt_to_json(c, 0, &b);
    if (rc == DF_OK)
        rc = dbuf_putc(&b, '\n');
    if (rc != DF_OK) {
        dbuf_free(&b);
        return df_err_set(err, rc, "checkpoint too large or out of memory");
    }
    rc = fs_replace_file(dir, CKPT_FILE, b.p, b.len, err);
    dbuf_free(&b);
    return rc;
}

static int get_u64(yajl_val obj, const char *key, uint64_t *out, int required)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(obj, path, yajl_t_number);
    if (v == NULL)
        return required ? DF_ECORRUPT : DF_OK;
    if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0)
        return DF_ECORRUPT;
    *out = (uint64_t) YAJL_GET_INTEGER(v);
    return DF_OK;
}

static int get_ts(yajl_val obj, const char *key, int64_t *out)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(obj, path, yajl_t_string);
    const char *s = v ? YAJL_GET_STRING(v) : NULL;
    return s != NULL && ts_parse(s, strlen(s), out) == DF_OK ? DF_OK : DF_ECORRUPT;
}

static int load_window(yajl_val tenant, struct ckpt_tenant *t)
{
    const char *path[] = {"window", NULL};
    yajl_val w = yajl_tree_get(tenant, path, yajl_t_any);

    if (w == NULL)
        return DF_OK;
    if (!YAJL_IS_OBJECT(w) || get_ts(w, "start", &t->window_start) != DF_OK ||
        get_ts(w, "next_end", &t->window_next_end) != DF_OK ||
        get_ts(w, "end", &t->window_end) != DF_OK || t->window_start > t->window_next_end ||
        t->window_next_end > t->window_end)
        return DF_ECORRUPT;
    t->has_window = 1;
    return DF_OK;
}

static int load_tree(struct ckpt *c, yajl_val root, const char **what)
{
    int rc;
    const char *p_journal[] = {"journal", NULL}, *p_tenants[] = {"tenants", NULL},
               *p_outputs[] = {"outputs", NULL}, *p_pos[] = {"position", NULL};
    yajl_val journal, tenants, outputs;
    uint64_t format = 0;

    if (!YAJL_IS_OBJECT(root) || get_u64(root, "format", &format, 1) != DF_OK) {
        *what = "not a checkpoint object";
        return DF_ECORRUPT;
    }
    if (format != CKPT_FORMAT) {
        *what = "unsupported format version (written by a newer defender-forwarder?)";
        return DF_ECORRUPT;
    }
    journal = yajl_tree_get(root, p_journal, yajl_t_object);
    tenants = yajl_tree_get(root, p_tenants, yajl_t_object);
    outputs = yajl_tree_get(root, p_outputs, yajl_t_object);
    if (journal == NULL || tenants == NULL || outputs == NULL ||
        get_u64(journal, "end", &c->journal_end, 1) != DF_OK) {
        *what = "journal, tenants or outputs missing";
        return DF_ECORRUPT;
    }
    for (size_t i = 0; i < tenants->u.object.len; i++) {
        yajl_val tv = tenants->u.object.values[i], pos;
        struct ckpt_tenant *t;
        uint64_t gen = 0;
        if (!YAJL_IS_OBJECT(tv) || (t = ckpt_tenant(c, tenants->u.object.keys[i])) == NULL) {
            *what = "bad tenant entry";
            return DF_ECORRUPT;
        }
        pos = yajl_tree_get(tv, p_pos, yajl_t_string);
        if (pos != NULL) {
            const char *s = YAJL_GET_STRING(pos);
            if (ts_parse(s, strlen(s), &t->position) != DF_OK) {
                *what = "bad tenant position";
                return DF_ECORRUPT;
            }
            t->has_position = 1;
        }
        rc = load_window(tv, t);
        if (rc != DF_OK) {
            *what = "bad tenant window";
            return rc;
        }
        if (get_u64(tv, "vidx_generation", &gen, 1) != DF_OK || gen > UINT32_MAX ||
            get_u64(tv, "vidx_length", &t->vidx_len, 1) != DF_OK ||
            get_u64(tv, "incident_events", &t->incidents, 0) != DF_OK ||
            get_u64(tv, "alert_events", &t->alerts, 0) != DF_OK) {
            *what = "bad tenant entry";
            return DF_ECORRUPT;
        }
        t->vidx_gen = (uint32_t) gen;
    }
    for (size_t i = 0; i < outputs->u.object.len; i++) {
        yajl_val ov = outputs->u.object.values[i];
        struct ckpt_output *o;
        if (!YAJL_IS_OBJECT(ov) || (o = ckpt_output(c, outputs->u.object.keys[i])) == NULL ||
            get_u64(ov, "journal_position", &o->journal_pos, 1) != DF_OK ||
            get_u64(ov, "committed_length", &o->committed_len, 1) != DF_OK ||
            get_u64(ov, "delivered_events", &o->delivered, 0) != DF_OK ||
            o->journal_pos > c->journal_end) {
            *what = "bad output entry";
            return DF_ECORRUPT;
        }
    }
    return DF_OK;
}

int ckpt_load(const char *dir, struct ckpt *c, struct df_err *err)
{
    char *path = fs_join(dir, CKPT_FILE);
    char *data = NULL;
    char ebuf[256];
    const char *what = NULL;
    yajl_val root = NULL;
    FILE *f = NULL;
    long size;
    size_t n;
    int rc;

    memset(c, 0, sizeof(*c));
    if (path == NULL)
        return df_err_set(err, DF_ENOMEM, "out of memory");
    f = fopen(path, "rb");
    if (f == NULL) {
        rc = errno == ENOENT ? DF_OK : df_err_set(err, DF_EIO, "open %s: %s", path,
                                                  strerror(errno));
        goto out;
    }
    /* Sized to the file (a checkpoint is a few KiB), capped against a hostile one. */
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = df_err_set(err, DF_EIO, "%s: cannot determine its size", path);
        goto out;
    }
    if ((unsigned long) size > CKPT_MAX_BYTES) {
        rc = df_err_set(err, DF_ECORRUPT, "%s: larger than %u bytes", path, CKPT_MAX_BYTES);
        goto out;
    }
    data = malloc((size_t) size + 1);
    if (data == NULL) {
        rc = df_err_set(err, DF_ENOMEM, "out of memory");
        goto out;
    }
    n = fread(data, 1, (size_t) size + 1, f);
    if (ferror(f) || n > (size_t) size) {
        rc = df_err_set(err, DF_ECORRUPT, "%s: unreadable or larger than %u bytes", path,
                        CKPT_MAX_BYTES);
        goto out;
    }
    data[n] = '\0';
    root = yajl_tree_parse(data, ebuf, sizeof(ebuf));
    if (root == NULL) {
        for (char *p = ebuf; *p; p++)
            if (*p == '\n')
                *p = ' ';
        rc = df_err_set(err, DF_ECORRUPT, "%s is not valid JSON (%s); it is replaced atomically,"
                        " so this means disk corruption or an edit by hand", path, ebuf);
        goto out;
    }
    rc = load_tree(c, root, &what);
    if (rc != DF_OK)
        df_err_set(err, rc, "%s: %s", path, what);
out:
    if (rc != DF_OK)
        ckpt_free(c);
    yajl_tree_free(root);
    if (f != NULL)
        fclose(f);
    free(data);
    free(path);
    return rc;
}
