/*
 * The collector (SPEC §3): each poll reads a tenant's incidents in one time window on
 * lastUpdateTime, from (position − lag) up to the server's now, in pages that each answer a
 * sub-window completely; emits every incident version not emitted before (the version index
 * decides) into the journal; commits after every page and moves the position to the window's
 * end once the window is complete.
 */
#ifndef DF_COLL_H
#define DF_COLL_H

#include "api.h"
#include "cfg.h"
#include "ckpt.h"
#include "dbuf.h"
#include "evt.h"
#include "jrnl.h"
#include "vidx.h"

#include <pthread.h>

struct coll_tenant {
    const struct cfg_tenant *cfg;
    struct api_client *api;
    struct vidx *vidx;
    struct ckpt_tenant *ck;
    uint64_t calls;         /* list calls made by this collector */
    int unordered_logged;
};

/* One per collecting thread (its renderer and buffers are not shared). */
struct coll {
    const struct cfg *cfg;
    struct jrnl *jrnl;
    struct evt_renderer *renderer; /* caches the incident context shared by its events */
    struct dbuf json;
    struct dbuf cef;
    struct evt_stats stats;
    uint64_t skipped;       /* incidents/alerts without a usable id or version */
    /* Writing the journal, an index or the checkpoint failed: the in-memory state is ahead
     * of the disk and must not be committed; the process has to restart from the checkpoint. */
    int state_failed;
    /* Called with *lock held after every page: makes journal, index and checkpoint durable. */
    int (*commit)(void *arg, struct df_err *err);
    /* Non-zero when the collector must pause (journal full); called without the lock. */
    int (*paused)(void *arg);
    /* Guards the journal, every version index and the checkpoint when tenants are collected
     * in parallel threads; NULL when single-threaded. Never held during an API call. */
    pthread_mutex_t *lock;
    void *arg;
    const df_flag *stop;
};

int coll_init(struct coll *c, const struct cfg *cfg, struct jrnl *j);
void coll_free(struct coll *c);
/*
 * One poll of one tenant: catches up from its position to the server's now. Returns 0 when
 * caught up; DF_ESTOP, DF_EFULL (journal full: paused), or an API error (the position stays at
 * the last committed window).
 */
int coll_poll(struct coll *c, struct coll_tenant *t, struct df_err *err);

/* Window helpers, exposed for unit tests. */
/* "FIELD ge <from> and FIELD lt <to>" with 7 fractional digits (SPEC §3 rule 4). */
void coll_range_filter(char *out, size_t n, const char *field, int64_t from, int64_t to);
/* 1 when a full page of [a, hi) is in non-increasing lastUpdateTime order with every time
 * inside the window, so it holds every incident of [*min + 1, hi); else 0. */
int coll_page_covers_top(yajl_val value, int64_t a, int64_t hi, int64_t *min);
/* Where to split a full createdTime range [lo, hi): the page's median createdTime, or the
 * midpoint when that is useless. */
int64_t coll_created_split(yajl_val value, int64_t lo, int64_t hi);

#endif
