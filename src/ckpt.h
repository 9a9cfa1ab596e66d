/*
 * The checkpoint (SPEC §5): one small JSON file in state.dir, replaced atomically, and the
 * single commit point of the forwarder. It records per tenant the collection position and the
 * committed length of its version index, the committed end of the journal, and per output the
 * next journal position to deliver plus the committed length of the file it appends to.
 */
#ifndef DF_CKPT_H
#define DF_CKPT_H

#include "common.h"
#include "dbuf.h"

#include <stdint.h>

#define CKPT_FILE "checkpoint.json"

struct ckpt_tenant {
    char *name;
    int has_position;
    int64_t position;       /* ticks: everything updated before it has been collected */
    /* The window being collected: [window_start, window_next_end) is still to read, and
     * [window_next_end, window_end) has been read; the position moves to window_end. */
    int has_window;
    int64_t window_start;
    int64_t window_next_end;
    int64_t window_end;
    uint32_t vidx_gen;
    uint64_t vidx_len;
    uint64_t incidents;     /* incident events emitted so far (for `state show`) */
    uint64_t alerts;
};

struct ckpt_output {
    char *name;
    uint64_t journal_pos;
    uint64_t committed_len;
    uint64_t delivered;     /* events delivered so far (for `state show`) */
};

struct ckpt {
    uint64_t journal_end;
    struct ckpt_tenant *tenants;
    size_t n_tenants;
    struct ckpt_output *outputs;
    size_t n_outputs;
};

/* Loads dir/checkpoint.json; a missing file gives an empty checkpoint (first start).
 * DF_ECORRUPT names the file and what is wrong with it. */
int ckpt_load(const char *dir, struct ckpt *c, struct df_err *err);
int ckpt_write(const char *dir, const struct ckpt *c, struct df_err *err);
void ckpt_free(struct ckpt *c);
/* The named entry, created (zeroed) when absent; NULL when out of memory. */
struct ckpt_tenant *ckpt_tenant(struct ckpt *c, const char *name);
struct ckpt_output *ckpt_output(struct ckpt *c, const char *name);
const struct ckpt_output *ckpt_find_output(const struct ckpt *c, const char *name);
/* Serialises (pretty when pretty != 0). */
int ckpt_to_json(const struct ckpt *c, int pretty, struct dbuf *out);

#endif
