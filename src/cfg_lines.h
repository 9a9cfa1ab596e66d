/*
 * The configuration file as a libyaml document, kept next to libcyaml's view of it: libcyaml
 * says what is wrong and along which path, this module says on which line, expands ${VAR} in
 * scalar values and re-emits (sub)trees as YAML text for libcyaml to load.
 *
 * Paths are written "tenants[0].client_id": keys joined by '.', sequence indexes in brackets
 * (keys containing '.' or '[' cannot be addressed; no schema key does that).
 */
#ifndef DF_CFG_LINES_H
#define DF_CFG_LINES_H

#include "common.h"
#include "dbuf.h"

#include <stddef.h>
#include <yaml.h>

/* Limits against hostile or broken input (fuzzers included): a configuration is small. */
#define CFG_LINES_MAX_DEPTH 32      /* nesting of mappings and sequences */
/* Size of the document once aliases are expanded ("billion laughs"), which is what libcyaml
 * allocates: each node weighs 32 bytes plus the length of its text. */
#define CFG_LINES_MAX_WEIGHT (16 * 1024 * 1024)
#define CFG_LINES_MAX_KEYS 1000     /* keys in one mapping (duplicate check is quadratic) */

struct cfg_lines {
    yaml_document_t doc;
    int loaded;
    size_t n_nodes;
    char **expanded;        /* per node (id - 1): scalar value after ${VAR} expansion, or NULL */
};

/* Reports one problem found while preparing: line 0 = no line, path "" = the document. */
typedef void cfg_lines_report_fn(void *ctx, size_t line, const char *path, const char *problem);

/*
 * Parses exactly one YAML document from buf. On a syntax error returns DF_EPARSE with the
 * 1-based line (0 when unknown) in *line and libyaml's description in msg; DF_ENOMEM.
 */
int cfg_lines_load(struct cfg_lines *l, const char *buf, size_t len, size_t *line, char *msg,
                   size_t msg_size);
void cfg_lines_free(struct cfg_lines *l);

/*
 * One pass over the whole tree: rejects cycles, nesting deeper than CFG_LINES_MAX_DEPTH,
 * documents that expand (through aliases) past CFG_LINES_MAX_WEIGHT, non-scalar or duplicate
 * mapping keys and NUL characters; expands ${NAME} from the environment in every scalar
 * value (not in keys; "$$" is a literal "$", any other "$" is kept as it is). Each problem
 * goes to report. Returns the number of problems, or DF_ENOMEM.
 */
int cfg_lines_prepare(struct cfg_lines *l, cfg_lines_report_fn *report, void *ctx);

/* NULL for an empty document ("", "---", a lone null scalar). */
yaml_node_t *cfg_lines_root(struct cfg_lines *l);
yaml_node_t *cfg_lines_node(struct cfg_lines *l, int id);
/* 1-based line where a node starts. */
size_t cfg_lines_node_line(const yaml_node_t *n);
/* "a string", "a list" or "a mapping": for messages. */
const char *cfg_lines_kind(const yaml_node_t *n);
/* The scalar's value after expansion (NUL-terminated), or NULL when n is not a scalar. */
const char *cfg_lines_scalar(struct cfg_lines *l, const yaml_node_t *n);
/* Value node of key in mapping map (NULL if absent or map is not a mapping); *key_line gets
 * the key's line when key_line is not NULL. Duplicate keys are rejected by prepare. */
yaml_node_t *cfg_lines_get(struct cfg_lines *l, const yaml_node_t *map, const char *key,
                           size_t *key_line);
/* Item i of a sequence, or NULL. */
yaml_node_t *cfg_lines_item(struct cfg_lines *l, const yaml_node_t *seq, size_t i);
/*
 * Line of path: of the key for a path ending in a key, of the item for one ending in an index.
 * When the path does not resolve completely, the line of the deepest element that does (0 for
 * the document itself); *found (may be NULL) tells which case it was.
 */
size_t cfg_lines_line(struct cfg_lines *l, const char *path, int *found);
/* Appends node (with expanded values) to out as a standalone YAML document; 0 or DF_ENOMEM. */
int cfg_lines_emit(struct cfg_lines *l, const yaml_node_t *node, struct dbuf *out);

#endif
