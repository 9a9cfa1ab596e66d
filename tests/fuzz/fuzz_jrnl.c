/*
 * The journal reader (src/jrnl.c): jrnl_open over segment files made from the input, then
 * jrnl_reader_open and jrnl_read up to the committed end (= the input's length).
 *
 * Input: byte 0 is a mode, byte 1 a fraction (0-255 of the body); the rest is the journal.
 *   bit 0: recompute each record's CRC-32 first, so the fuzzer gets past the checksum and
 *          reaches the payload parser;
 *   bit 1: split the body into two segments at the fraction;
 *   bit 2: start reading at the fraction instead of 0 (possibly inside a record).
 * Checked: jrnl_open accepts contiguous segments that end at the committed end; every read
 * returns an entry, 0 or DF_ECORRUPT (never a crash, a leak or an out-of-bounds entry);
 * positions only move forward and stay within the committed end.
 */
#include "common.h"
#include "fuzz_util.h"
#include "jrnl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static void fix_crcs(unsigned char *p, size_t n)
{
    size_t off = 0;

    while (n - off >= JRNL_HEADER_BYTES) {
        uint32_t len = get_u32(p + off), crc;
        if (len > n - off - JRNL_HEADER_BYTES)
            break;
        crc = (uint32_t) crc32(0L, p + off + JRNL_HEADER_BYTES, (uInt) len);
        for (int i = 0; i < 4; i++)
            p[off + 4 + (size_t) i] = (unsigned char) (crc >> (8 * i));
        off += JRNL_HEADER_BYTES + len;
    }
}

static void seg_name(char out[32], uint64_t start)
{
    snprintf(out, 32, "%020" PRIu64 ".seg", start);
}

/* Reads every byte an entry points at, so ASan sees any pointer past the reader's buffer. */
static unsigned touch(const char *p, size_t n)
{
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (unsigned char) p[i];
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jrnl *j = NULL;
    struct jrnl_reader *r = NULL;
    struct df_err err = {0};
    struct jrnl_entry e;
    unsigned char *body;
    size_t n, split, pos;
    uint64_t next, prev;
    char name0[32], name1[32];
    volatile unsigned sink = 0;
    int rc;

    if (size < 2)
        return 0;
    n = size - 2;
    body = malloc(n > 0 ? n : 1);
    FUZZ_CHECK(body != NULL);
    memcpy(body, data + 2, n);
    if (data[0] & 1)
        fix_crcs(body, n);
    split = data[0] & 2 ? n * data[1] / 255 : 0;
    pos = data[0] & 4 ? n * data[1] / 255 : 0;

    seg_name(name0, 0);
    seg_name(name1, split);
    if (split == 0 || split >= n) {
        fuzz_write_file(name0, body, n);
        split = 0;
    } else {
        fuzz_write_file(name0, body, split);
        fuzz_write_file(name1, body + split, n - split);
    }

    rc = jrnl_open(&j, fuzz_tmpdir(), n, 0, &err);
    FUZZ_CHECK(rc == DF_OK && jrnl_start(j) == 0 && jrnl_end(j) == n);
    rc = jrnl_reader_open(&r, j, pos, &err);
    FUZZ_CHECK(rc == DF_OK && jrnl_reader_pos(r) == pos);
    prev = pos;
    while ((rc = jrnl_read(r, n, &e, &next, &err)) == 1) {
        FUZZ_CHECK(next > prev && next <= n && jrnl_reader_pos(r) == next);
        FUZZ_CHECK(e.event_id[32] == '\0');
        sink += touch(e.tenant, e.tenant_len) + touch(e.incident_id, e.incident_id_len) +
                touch(e.json, e.json_len) + (e.cef != NULL ? touch(e.cef, e.cef_len) : 0);
        FUZZ_CHECK((e.cef == NULL) == (e.cef_len == 0));
        prev = next;
    }
    FUZZ_CHECK(rc == 0 || (rc == DF_ECORRUPT && err.code == DF_ECORRUPT));
    (void) sink;

    jrnl_reader_close(r);
    jrnl_close(j);
    fuzz_remove_file(name0);
    if (split != 0)
        fuzz_remove_file(name1);
    free(body);
    return 0;
}
