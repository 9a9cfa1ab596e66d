/*
 * The version index (SPEC §3 rule 2): per tenant, incidentId → last emitted lastUpdateTime and
 * alertId → last emitted lastUpdatedTime, in 100 ns ticks. It is what makes re-reading any
 * time range harmless.
 *
 * Kept in memory as a hash table and on disk as an append-only log of changes
 * ("vidx-<tenant>-<generation>.log"), whose committed length the checkpoint records together
 * with the journal's, so both roll back to the same commit point after a crash. Compaction
 * writes the live entries to the next generation, dropping those older than the API's
 * retention.
 */
#ifndef DF_VIDX_H
#define DF_VIDX_H

#include "common.h"

#include <stdint.h>

enum vidx_kind { VIDX_INCIDENT = 'I', VIDX_ALERT = 'A' };

struct vidx;

int vidx_open(struct vidx **out, const char *dir, const char *tenant, uint32_t gen,
              uint64_t committed_len, struct df_err *err);
void vidx_close(struct vidx *v);
/* Returns 1 and sets *ticks when id is indexed, else 0. */
int vidx_get(const struct vidx *v, enum vidx_kind kind, const char *id, size_t len,
             int64_t *ticks);
/* Records a newly emitted version; durable after vidx_sync(). */
int vidx_put(struct vidx *v, enum vidx_kind kind, const char *id, size_t len, int64_t ticks,
             struct df_err *err);
int vidx_sync(struct vidx *v, struct df_err *err);
uint64_t vidx_len(const struct vidx *v);
uint32_t vidx_gen(const struct vidx *v);
size_t vidx_count(const struct vidx *v);
/* True when the log holds so many superseded lines that compaction pays off. */
int vidx_wants_compaction(const struct vidx *v);
/* Writes the live entries not older than prune_before to generation gen+1 (durably) and
 * switches to it. The caller then commits the checkpoint and calls vidx_drop_old(). */
int vidx_compact(struct vidx *v, int64_t prune_before, struct df_err *err);
/* Removes log files of other generations than the current one. */
int vidx_drop_old(struct vidx *v, struct df_err *err);

#endif
