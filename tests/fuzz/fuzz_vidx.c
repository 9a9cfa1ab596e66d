/*
 * The version-index reader (src/vidx.c): vidx_open over a log file made from the input, with
 * the committed length equal to the input's size, as after a clean stop.
 *
 * Checked: the result is DF_OK or DF_ECORRUPT (never a crash, a leak or another code); a
 * loaded index has the committed length and no more entries than lines; its entries can be
 * looked up, and a put followed by a get returns what was put.
 */
#include "common.h"
#include "fuzz_util.h"
#include "vidx.h"

#include <stdlib.h>
#include <string.h>

#define LOG_NAME "vidx-t-0.log"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vidx *v = NULL;
    struct df_err err = {0};
    size_t lines = 0;
    int64_t ticks;
    int rc;

    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    fuzz_write_file(LOG_NAME, data, size);
    rc = vidx_open(&v, fuzz_tmpdir(), "t", 0, size, &err);
    if (rc != DF_OK) {
        FUZZ_CHECK(rc == DF_ECORRUPT && err.code == DF_ECORRUPT && v == NULL);
        goto out;
    }
    FUZZ_CHECK(vidx_len(v) == size && vidx_gen(v) == 0 && vidx_count(v) <= lines);
    /* A log that loaded is well-formed, so its first line "K TICKS LEN:ID\n" names an id that
     * is indexed under kind K. Ids may hold any byte: only LEN, the digits just before the
     * first ':', tells where one ends (strtoull also lets whitespace and '+' precede them). */
    if (vidx_count(v) > 0) {
        const char *colon = memchr(data, ':', size), *d;
        size_t len = 0, scale = 1;
        FUZZ_CHECK(colon != NULL);
        for (d = colon; d[-1] >= '0' && d[-1] <= '9'; d--) {
            if (scale > 1000) { /* past 4 digits only leading zeros: ids have <= 4096 bytes */
                FUZZ_CHECK(d[-1] == '0');
                continue;
            }
            len += (size_t) (d[-1] - '0') * scale;
            scale *= 10;
        }
        FUZZ_CHECK(len > 0 && (size_t) (colon + 1 - (const char *) data) + len < size);
        FUZZ_CHECK(vidx_get(v, (enum vidx_kind) data[0], colon + 1, len, &ticks) == 1);
    }
    FUZZ_CHECK(vidx_put(v, VIDX_ALERT, "fuzz", 4, 42, &err) == DF_OK);
    FUZZ_CHECK(vidx_get(v, VIDX_ALERT, "fuzz", 4, &ticks) == 1 && ticks == 42);
    vidx_close(v);
out:
    fuzz_remove_file(LOG_NAME);
    return 0;
}
