/*
 * The checkpoint reader (src/ckpt.c). ckpt_load reads dir/checkpoint.json, so the input is
 * written there, in a private temporary directory, for each run.
 *
 * Checked: the result is DF_OK or DF_ECORRUPT with a message (never a crash, a leak or another
 * code); a loaded checkpoint serialises with ckpt_to_json to text that loads again and
 * serialises to the same bytes (what the daemon writes, it can read back).
 */
#include "ckpt.h"
#include "common.h"
#include "dbuf.h"
#include "fuzz_util.h"

#include <string.h>

/* Writes the compact serialisation of c as the checkpoint (what ckpt_write writes), loads it
 * and returns the serialisation of what was loaded in out. */
static void reload(const struct ckpt *c, struct dbuf *out)
{
    struct dbuf text;
    struct ckpt d;
    struct df_err err = {0};

    dbuf_init(&text, 64u << 20);
    FUZZ_CHECK(ckpt_to_json(c, 0, &text) == DF_OK);
    fuzz_write_file(CKPT_FILE, text.p, text.len);
    FUZZ_CHECK(ckpt_load(fuzz_tmpdir(), &d, &err) == DF_OK);
    FUZZ_CHECK(ckpt_to_json(&d, 0, out) == DF_OK);
    ckpt_free(&d);
    dbuf_free(&text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ckpt c;
    struct df_err err = {0};
    struct dbuf a, b;
    int rc;

    fuzz_write_file(CKPT_FILE, data, size);
    rc = ckpt_load(fuzz_tmpdir(), &c, &err);
    if (rc != DF_OK) {
        FUZZ_CHECK(rc == DF_ECORRUPT && err.code == DF_ECORRUPT && err.msg[0] != '\0');
        return 0;
    }
    dbuf_init(&a, 64u << 20);
    dbuf_init(&b, 64u << 20);
    reload(&c, &a);
    FUZZ_CHECK(ckpt_to_json(&c, 0, &b) == DF_OK);
    FUZZ_CHECK(a.len == b.len && memcmp(a.p, b.p, a.len) == 0);
    /* the pretty form (state show) serialises too, only longer */
    dbuf_reset(&b);
    FUZZ_CHECK(ckpt_to_json(&c, 1, &b) == DF_OK && b.len >= a.len);
    dbuf_free(&a);
    dbuf_free(&b);
    ckpt_free(&c);
    return 0;
}
