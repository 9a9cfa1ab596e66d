#include "cfg_lines.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A value after ${VAR} expansion may not grow past this (certificates fit, runaway input not). */
#define EXPANDED_MAX (1024 * 1024)

static size_t node_id(const struct cfg_lines *l, const yaml_node_t *n)
{
    return (size_t) (n - l->doc.nodes.start) + 1;
}

yaml_node_t *cfg_lines_node(struct cfg_lines *l, int id)
{
    return l->loaded ? yaml_document_get_node(&l->doc, id) : NULL;
}

size_t cfg_lines_node_line(const yaml_node_t *n)
{
    return n->start_mark.line + 1;
}

const char *cfg_lines_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "a string";
    }
}

/* Line of a byte offset, for libyaml reader errors (bad UTF-8) that carry no mark. */
static size_t offset_line(const char *buf, size_t len, size_t off)
{
    size_t line = 1;
    for (size_t i = 0; i < off && i < len; i++)
        if (buf[i] == '\n')
            line++;
    return line;
}

static int parse_error(yaml_parser_t *p, const char *buf, size_t len, size_t *line, char *msg,
                       size_t msg_size)
{
    if (p->error == YAML_MEMORY_ERROR)
        return DF_ENOMEM;
    if (p->error == YAML_READER_ERROR)
        *line = offset_line(buf, len, p->problem_offset);
    else
        *line = p->problem_mark.line + 1;
    if (p->context != NULL)
        snprintf(msg, msg_size, "%s (%s at line %zu)", p->problem ? p->problem : "syntax error",
                 p->context, p->context_mark.line + 1);
    else
        snprintf(msg, msg_size, "%s", p->problem ? p->problem : "syntax error");
    return DF_EPARSE;
}

int cfg_lines_load(struct cfg_lines *l, const char *buf, size_t len, size_t *line, char *msg,
                   size_t msg_size)
{
    yaml_parser_t p;
    yaml_document_t extra;
    yaml_node_t *root;
    int rc = DF_EPARSE;

    memset(l, 0, sizeof(*l));
    *line = 0;
    if (msg_size > 0)
        msg[0] = '\0';
    if (!yaml_parser_initialize(&p))
        return DF_ENOMEM;
    yaml_parser_set_input_string(&p, (const unsigned char *) buf, len);
    if (!yaml_parser_load(&p, &l->doc)) {
        rc = parse_error(&p, buf, len, line, msg, msg_size);
        goto out;
    }
    l->loaded = 1;
    /* libcyaml reads the first document only; a second one is a mistake, not a comment. */
    if (!yaml_parser_load(&p, &extra)) {
        rc = parse_error(&p, buf, len, line, msg, msg_size);
        goto out;
    }
    root = yaml_document_get_root_node(&extra);
    if (root != NULL) {
        *line = root->start_mark.line + 1;
        snprintf(msg, msg_size, "more than one YAML document (only one is allowed)");
        yaml_document_delete(&extra);
        goto out;
    }
    yaml_document_delete(&extra);
    l->n_nodes = (size_t) (l->doc.nodes.top - l->doc.nodes.start);
    l->expanded = calloc(l->n_nodes ? l->n_nodes : 1, sizeof(*l->expanded));
    if (l->expanded == NULL) {
        rc = DF_ENOMEM;
        goto out;
    }
    rc = DF_OK;
out:
    yaml_parser_delete(&p);
    if (rc != DF_OK)
        cfg_lines_free(l);
    return rc;
}

void cfg_lines_free(struct cfg_lines *l)
{
    if (l->expanded != NULL) {
        for (size_t i = 0; i < l->n_nodes; i++)
            free(l->expanded[i]);
        free(l->expanded);
    }
    if (l->loaded)
        yaml_document_delete(&l->doc);
    memset(l, 0, sizeof(*l));
}

yaml_node_t *cfg_lines_root(struct cfg_lines *l)
{
    yaml_node_t *root = l->loaded ? yaml_document_get_root_node(&l->doc) : NULL;
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

    /* "---" alone or "~" parse as a null scalar: the same as an empty file. */
    if (root != NULL && root->type == YAML_SCALAR_NODE &&
        root->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        for (size_t i = 0; i < DF_ARRAY_LEN(nulls); i++)
            if (strcmp((const char *) root->data.scalar.value, nulls[i]) == 0)
                return NULL;
    }
    return root;
}

const char *cfg_lines_scalar(struct cfg_lines *l, const yaml_node_t *n)
{
    size_t id;

    if (n == NULL || n->type != YAML_SCALAR_NODE)
        return NULL;
    id = node_id(l, n);
    if (ALWAYS(id <= l->n_nodes) && l->expanded[id - 1] != NULL)
        return l->expanded[id - 1];
    return (const char *) n->data.scalar.value;
}

static int key_is(const yaml_node_t *k, const char *key, size_t key_len)
{
    return k != NULL && k->type == YAML_SCALAR_NODE && k->data.scalar.length == key_len &&
           memcmp(k->data.scalar.value, key, key_len) == 0;
}

static yaml_node_t *get_n(struct cfg_lines *l, const yaml_node_t *map, const char *key,
                          size_t key_len, size_t *key_line)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = cfg_lines_node(l, p->key);
        if (key_is(k, key, key_len)) {
            if (key_line != NULL)
                *key_line = cfg_lines_node_line(k);
            return cfg_lines_node(l, p->value);
        }
    }
    return NULL;
}

yaml_node_t *cfg_lines_get(struct cfg_lines *l, const yaml_node_t *map, const char *key,
                           size_t *key_line)
{
    return get_n(l, map, key, strlen(key), key_line);
}

yaml_node_t *cfg_lines_item(struct cfg_lines *l, const yaml_node_t *seq, size_t i)
{
    if (seq == NULL || seq->type != YAML_SEQUENCE_NODE)
        return NULL;
    if (i >= (size_t) (seq->data.sequence.items.top - seq->data.sequence.items.start))
        return NULL;
    return cfg_lines_node(l, seq->data.sequence.items.start[i]);
}

size_t cfg_lines_line(struct cfg_lines *l, const char *path, int *found)
{
    yaml_node_t *n = l->loaded ? yaml_document_get_root_node(&l->doc) : NULL;
    size_t line = 0;
    const char *s = path;

    if (found != NULL)
        *found = 0;
    while (*s != '\0') {
        yaml_node_t *next;
        size_t next_line = 0;

        if (*s == '[') {
            char *end;
            unsigned long long i = strtoull(s + 1, &end, 10);
            if (end == s + 1 || *end != ']')
                return line;
            next = cfg_lines_item(l, n, (size_t) i);
            if (next != NULL)
                next_line = cfg_lines_node_line(next);
            s = end + 1;
        } else {
            size_t len;
            if (*s == '.')
                s++;
            len = strcspn(s, ".[");
            next = get_n(l, n, s, len, &next_line);
            s += len;
        }
        if (next == NULL)
            return line;
        n = next;
        line = next_line;
    }
    if (found != NULL)
        *found = 1;
    return line;
}

/* ---- prepare: structure checks and ${VAR} expansion ---- */

enum { NODE_NEW, NODE_ACTIVE, NODE_DONE };

struct walk {
    struct cfg_lines *l;
    cfg_lines_report_fn *report;
    void *ctx;
    unsigned char *state;   /* per node: NODE_* */
    size_t *size;           /* per node: its weight once aliases are expanded (capped) */
    struct dbuf path;
    int problems;
    int fatal;              /* a problem after which walking on would only add noise */
    int oom;
};

static void report(struct walk *w, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(struct walk *w, size_t line, const char *fmt, ...)
{
    char msg[300];
    va_list ap;

    va_start(ap, fmt);
    (void) vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    w->report(w->ctx, line, w->path.p ? w->path.p : "", msg);
    w->problems++;
}

/* Appends ".key" (or "key" at the top) or "[i]" to the path; returns the length to restore. */
static size_t path_push(struct walk *w, const yaml_node_t *key, size_t index)
{
    size_t saved = w->path.len;
    int rc;

    if (key != NULL) {
        rc = saved > 0 ? dbuf_putc(&w->path, '.') : DF_OK;
        if (rc == DF_OK)
            rc = dbuf_append(&w->path, key->data.scalar.value, key->data.scalar.length);
    } else {
        rc = dbuf_printf(&w->path, "[%zu]", index);
    }
    if (rc != DF_OK)
        w->oom = 1;
    return saved;
}

static void path_pop(struct walk *w, size_t saved)
{
    w->path.len = saved;
    if (w->path.p != NULL)
        w->path.p[saved] = '\0';
}

static int valid_name(const char *s, size_t len)
{
    if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

static int valid_utf8(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0;

    while (i < len) {
        unsigned c = p[i], need;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (len - i - 1 < need)
            return 0;
        for (unsigned k = 1; k <= need; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += need + 1;
    }
    return 1;
}

/*
 * ${NAME} → getenv(NAME), "$$" → "$", any other "$" stays. An unset variable is an error (an
 * empty secret is rarely what was meant); a set but empty one expands to "".
 */
static void expand(struct walk *w, yaml_node_t *n)
{
    const char *s = (const char *) n->data.scalar.value;
    size_t len = n->data.scalar.length, i = 0;
    struct dbuf out;

    if (memchr(s, '$', len) == NULL)
        return;
    dbuf_init(&out, EXPANDED_MAX);
    while (i < len) {
        const char *piece = s + i;
        size_t piece_len = 1;

        if (s[i] != '$' || i + 1 == len || (s[i + 1] != '$' && s[i + 1] != '{')) {
            i++;
        } else if (s[i + 1] == '$') {
            i += 2;
        } else {
            const char *name = s + i + 2, *end = memchr(name, '}', len - i - 2);
            size_t name_len;
            char var[256];

            if (end == NULL) {
                report(w, cfg_lines_node_line(n), "unterminated '${' (write $$ for a literal $)");
                goto out;
            }
            name_len = (size_t) (end - name);
            if (!valid_name(name, name_len) || name_len >= sizeof(var)) {
                report(w, cfg_lines_node_line(n), "bad variable name '${%.*s}'",
                       (int) (name_len > 64 ? 64 : name_len), name);
                goto out;
            }
            memcpy(var, name, name_len);
            var[name_len] = '\0';
            piece = getenv(var);
            if (piece == NULL) {
                report(w, cfg_lines_node_line(n), "environment variable %s is not set", var);
                goto out;
            }
            piece_len = strlen(piece);
            i += name_len + 3;
        }
        if (piece_len > EXPANDED_MAX - out.len) {
            report(w, cfg_lines_node_line(n), "value longer than %d bytes after expansion",
                   EXPANDED_MAX);
            goto out;
        }
        if (dbuf_append(&out, piece, piece_len) != DF_OK) {
            w->oom = 1;
            goto out;
        }
    }
    if (out.p == NULL && dbuf_append(&out, "", 0) != DF_OK) {
        w->oom = 1;
        goto out;
    }
    /* libyaml refuses to emit (and a JSON renderer later to carry) anything but UTF-8. */
    if (!valid_utf8(out.p, out.len)) {
        report(w, cfg_lines_node_line(n), "value is not valid UTF-8 after expansion");
        goto out;
    }
    w->l->expanded[node_id(w->l, n) - 1] = dbuf_take(&out);
out:
    dbuf_free(&out);
}

#define NODE_WEIGHT 32

static size_t add_capped(size_t a, size_t b)
{
    return a + b > CFG_LINES_MAX_WEIGHT ? CFG_LINES_MAX_WEIGHT + 1 : a + b;
}

static size_t walk(struct walk *w, yaml_node_t *n, size_t depth)
{
    size_t id = node_id(w->l, n), total = NODE_WEIGHT;

    if (w->fatal || w->oom)
        return 1;
    if (w->state[id - 1] == NODE_DONE)
        return w->size[id - 1];
    if (w->state[id - 1] == NODE_ACTIVE) {
        report(w, cfg_lines_node_line(n), "an alias refers to its own ancestor (endless nesting)");
        w->fatal = 1;
        return 1;
    }
    if (depth > CFG_LINES_MAX_DEPTH) {
        report(w, cfg_lines_node_line(n), "nested deeper than %d levels", CFG_LINES_MAX_DEPTH);
        w->fatal = 1;
        return 1;
    }
    w->state[id - 1] = NODE_ACTIVE;
    switch (n->type) {
    case YAML_SCALAR_NODE: {
        const char *v;
        if (memchr(n->data.scalar.value, '\0', n->data.scalar.length) != NULL)
            report(w, cfg_lines_node_line(n), "contains a NUL character");
        else
            expand(w, n);
        v = cfg_lines_scalar(w->l, n);
        total = add_capped(total, strlen(v));
        break;
    }
    case YAML_SEQUENCE_NODE:
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            size_t saved = path_push(w, NULL, (size_t) (it - n->data.sequence.items.start));
            total = add_capped(total, walk(w, cfg_lines_node(w->l, *it), depth + 1));
            path_pop(w, saved);
        }
        break;
    case YAML_MAPPING_NODE: {
        yaml_node_pair_t *start = n->data.mapping.pairs.start;
        if (n->data.mapping.pairs.top - start > CFG_LINES_MAX_KEYS) {
            report(w, cfg_lines_node_line(n), "more than %d keys in one mapping",
                   CFG_LINES_MAX_KEYS);
            w->fatal = 1;
            break;
        }
        for (yaml_node_pair_t *p = start; p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = cfg_lines_node(w->l, p->key), *v = cfg_lines_node(w->l, p->value);
            size_t saved;

            if (k->type != YAML_SCALAR_NODE) {
                report(w, cfg_lines_node_line(k), "keys must be strings, not %s",
                       cfg_lines_kind(k));
                continue;
            }
            saved = path_push(w, k, 0);
            for (yaml_node_pair_t *q = start; q < p; q++) {
                yaml_node_t *qk = cfg_lines_node(w->l, q->key);
                if (key_is(qk, (const char *) k->data.scalar.value, k->data.scalar.length)) {
                    report(w, cfg_lines_node_line(k), "duplicate key (first at line %zu)",
                           cfg_lines_node_line(qk));
                    break;
                }
            }
            total = add_capped(total, add_capped(NODE_WEIGHT + k->data.scalar.length,
                                                 walk(w, v, depth + 1)));
            path_pop(w, saved);
        }
        break;
    }
    default:
        break;
    }
    w->state[id - 1] = NODE_DONE;
    w->size[id - 1] = total;
    return total;
}

int cfg_lines_prepare(struct cfg_lines *l, cfg_lines_report_fn *report_fn, void *ctx)
{
    struct walk w = {.l = l, .report = report_fn, .ctx = ctx};
    yaml_node_t *root = cfg_lines_root(l);
    int rc;

    if (root == NULL)
        return 0;
    dbuf_init(&w.path, 4096);
    w.state = calloc(l->n_nodes, 1);
    w.size = calloc(l->n_nodes, sizeof(*w.size));
    if (w.state == NULL || w.size == NULL || dbuf_append(&w.path, "", 0) != DF_OK) {
        rc = DF_ENOMEM;
        goto out;
    }
    if (walk(&w, root, 0) > CFG_LINES_MAX_WEIGHT && !w.fatal)
        report(&w, cfg_lines_node_line(root),
               "the document grows past %d MiB once aliases are expanded",
               CFG_LINES_MAX_WEIGHT >> 20);
    rc = w.oom ? DF_ENOMEM : w.problems;
out:
    free(w.state);
    free(w.size);
    dbuf_free(&w.path);
    return rc;
}

/* ---- emit ---- */

static int copy_node(struct cfg_lines *l, yaml_document_t *dst, int *map, const yaml_node_t *n)
{
    size_t id = node_id(l, n);
    int out = 0;

    /* Shared (aliased) nodes stay shared; prepare() has ruled out cycles. */
    if (map[id - 1] != 0)
        return map[id - 1];
    switch (n->type) {
    case YAML_SCALAR_NODE: {
        const char *v = cfg_lines_scalar(l, n);
        out = yaml_document_add_scalar(dst, n->tag, (const yaml_char_t *) v, (int) strlen(v),
                                       n->data.scalar.style);
        map[id - 1] = out;
        break;
    }
    case YAML_SEQUENCE_NODE:
        out = yaml_document_add_sequence(dst, n->tag, n->data.sequence.style);
        map[id - 1] = out;
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             out != 0 && it < n->data.sequence.items.top; it++) {
            int item = copy_node(l, dst, map, cfg_lines_node(l, *it));
            if (item == 0 || !yaml_document_append_sequence_item(dst, out, item))
                out = 0;
        }
        break;
    case YAML_MAPPING_NODE:
        out = yaml_document_add_mapping(dst, n->tag, n->data.mapping.style);
        map[id - 1] = out;
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
             out != 0 && p < n->data.mapping.pairs.top; p++) {
            /* Keys are copied raw: expansion applies to values only. */
            const yaml_node_t *k = cfg_lines_node(l, p->key);
            int key = k->type == YAML_SCALAR_NODE
                          ? yaml_document_add_scalar(dst, k->tag, k->data.scalar.value,
                                                     (int) k->data.scalar.length,
                                                     k->data.scalar.style)
                          : copy_node(l, dst, map, k);
            int value = key != 0 ? copy_node(l, dst, map, cfg_lines_node(l, p->value)) : 0;
            if (value == 0 || !yaml_document_append_mapping_pair(dst, out, key, value))
                out = 0;
        }
        break;
    default:
        break;
    }
    return out;
}

static int write_handler(void *data, unsigned char *buffer, size_t size)
{
    return dbuf_append(data, buffer, size) == DF_OK;
}

int cfg_lines_emit(struct cfg_lines *l, const yaml_node_t *node, struct dbuf *out)
{
    yaml_document_t doc;
    yaml_emitter_t em;
    int *map = NULL, rc = DF_ENOMEM, have_doc = 0, have_em = 0;

    map = calloc(l->n_nodes ? l->n_nodes : 1, sizeof(*map));
    if (map == NULL)
        goto out;
    if (!yaml_document_initialize(&doc, NULL, NULL, NULL, 1, 1))
        goto out;
    have_doc = 1;
    if (copy_node(l, &doc, map, node) == 0)
        goto out;
    if (!yaml_emitter_initialize(&em))
        goto out;
    have_em = 1;
    yaml_emitter_set_output(&em, write_handler, out);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);
    if (!yaml_emitter_open(&em))
        goto out;
    /* yaml_emitter_dump() deletes the document, whatever its result. */
    have_doc = 0;
    if (!yaml_emitter_dump(&em, &doc) || !yaml_emitter_close(&em))
        goto out;
    rc = DF_OK;
out:
    if (have_em)
        yaml_emitter_delete(&em);
    if (have_doc)
        yaml_document_delete(&doc);
    free(map);
    return rc;
}
