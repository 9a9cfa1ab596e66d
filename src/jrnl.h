/*
 * The journal: a durable local spool of rendered events between the collector and the outputs
 * (SPEC §5). Positions are byte offsets in one logical append-only stream, stored as segment
 * files named by their first position, so fully delivered segments can be deleted whole.
 *
 * Record: u32 payload length, u32 CRC-32 of the payload, payload =
 *   type (1) | event id (32) | u16 tenant length, tenant | u16 incident id length, id |
 *   u32 JSON length, JSON line | u32 CEF length, CEF line (0 when no output wants CEF).
 * The checkpoint records the committed end; on open, anything past it is cut away.
 */
#ifndef DF_JRNL_H
#define DF_JRNL_H

#include "common.h"
#include "evt.h"

#include <stdint.h>

#define JRNL_HEADER_BYTES 8
#define JRNL_MAX_RECORD (64u * 1024 * 1024)

struct jrnl;
struct jrnl_reader;

struct jrnl_entry {
    enum evt_type type;
    char event_id[EVT_ID_HEX];
    const char *tenant;
    size_t tenant_len;
    const char *incident_id;
    size_t incident_id_len;
    const char *json;
    size_t json_len;
    const char *cef;         /* NULL/0 when not rendered */
    size_t cef_len;
};

/* Opens (creating) dir, cuts everything past committed_end. segment_bytes: size at which a new
 * segment starts. */
int jrnl_open(struct jrnl **out, const char *dir, uint64_t committed_end, uint64_t segment_bytes,
              struct df_err *err);
void jrnl_close(struct jrnl *j);
/* Buffered append; the entry is durable only after jrnl_sync(). */
int jrnl_append(struct jrnl *j, const struct jrnl_entry *e, struct df_err *err);
/* Writes buffered bytes and fsyncs them (and the directory when a segment was created). */
int jrnl_sync(struct jrnl *j, struct df_err *err);
uint64_t jrnl_end(const struct jrnl *j);
/* First position still on disk. */
uint64_t jrnl_start(const struct jrnl *j);
/* Deletes segments that lie entirely before pos (every output has delivered them). */
int jrnl_release(struct jrnl *j, uint64_t pos, struct df_err *err);

/* Reader over [pos, …). Entries point into the reader's buffer until the next read. */
int jrnl_reader_open(struct jrnl_reader **out, const struct jrnl *j, uint64_t pos,
                     struct df_err *err);
void jrnl_reader_close(struct jrnl_reader *r);
/* Reads the next entry if it ends at or before limit: returns 1 (entry, *next_pos set), 0 (no
 * more before limit) or a negative DF_E* code (DF_ECORRUPT on a bad CRC or length). */
int jrnl_read(struct jrnl_reader *r, uint64_t limit, struct jrnl_entry *e, uint64_t *next_pos,
              struct df_err *err);
uint64_t jrnl_reader_pos(const struct jrnl_reader *r);

#endif
