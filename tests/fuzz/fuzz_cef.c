/*
 * The CEF escaping primitives (src/evt_int.h): cef_header_field and cef_ext_begin/add.
 *
 * Input: byte 0 is the field limit (0xFF means 1023, the largest the mapping uses); byte 1
 * bit 7 selects a tiny output cap (to drive the DF_ENOMEM paths), bits 0-6 where the text is
 * split into two values; the rest is the text. Checked after every call: the output is valid
 * UTF-8 without controls or raw CR/LF, holds only the escapes its position allows, no raw `|`
 * in a header or `=` in a value, at most `limit` bytes once decoded, no trailing space in a
 * value, no empty value; printable ASCII decodes back to the input cut at the limit; a call
 * that fails leaves the buffer as it was.
 */
#include "common.h"
#include "dbuf.h"
#include "evt_int.h"
#include "fuzz_util.h"

#include <string.h>

/* Decodes the escapes of a checked field into out (at least n bytes); returns the length. */
static size_t decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\') {
            i++;
            out[o++] = s[i] == 'n' ? '\n' : s[i] == 'r' ? '\r' : s[i];
        } else {
            out[o++] = s[i];
        }
    }
    return o;
}

static int printable_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] > 0x7E)
            return 0;
    }
    return 1;
}

static void check_header(const char *text, size_t len, size_t limit, size_t cap)
{
    struct dbuf out;
    struct evt_stats st = {0, 0};
    size_t mark;
    int rc;

    dbuf_init(&out, cap);
    FUZZ_CHECK(dbuf_puts(&out, "h|") == DF_OK);
    mark = out.len;
    rc = cef_header_field(&out, text, len, limit, &st);
    if (rc == DF_OK) {
        size_t n = out.len - mark;
        size_t dn = fuzz_check_cef_header(out.p + mark, n);
        FUZZ_CHECK(dn <= limit && n <= 2 * limit && st.truncated_fields <= 1);
        if (printable_ascii(text, len)) {
            char *d = out.p + mark; /* decoding shrinks: in place is safe */
            size_t want = len < limit ? len : limit;
            FUZZ_CHECK(decode(out.p + mark, n, d) == want && memcmp(d, text, want) == 0);
            FUZZ_CHECK(st.truncated_fields == (len > limit) && st.replaced_chars == 0);
        }
    } else {
        FUZZ_CHECK(rc == DF_ENOMEM && out.len == mark && out.p[mark] == '\0');
        FUZZ_CHECK(st.truncated_fields == 0 && st.replaced_chars == 0);
    }
    dbuf_free(&out);
}

/* One cef_ext_add and what it must have appended. */
static void ext_add(struct cef_ext *x, const char *key, const char *s, size_t len, size_t limit)
{
    struct dbuf *out = x->out;
    size_t mark = out->len, klen = strlen(key);
    int first = mark == x->start;
    int rc = cef_ext_add(x, key, s, len, limit);

    if (rc != DF_OK) {
        FUZZ_CHECK(rc == DF_ENOMEM && out->len == mark && out->p[mark] == '\0');
        return;
    }
    if (out->len == mark) /* omitted: nothing, or a value that repaired to nothing */
        return;
    FUZZ_CHECK(s != NULL && len > 0);
    const char *p = out->p + mark;
    size_t n = out->len - mark, sep = first ? 0 : 1;
    FUZZ_CHECK(n > sep + klen + 1 && (first || p[0] == ' ') && memcmp(p + sep, key, klen) == 0 &&
               p[sep + klen] == '=');
    p += sep + klen + 1;
    n -= sep + klen + 1;
    FUZZ_CHECK(fuzz_check_cef_value(p, n) <= limit && n <= 2 * limit);
    if (printable_ascii(s, len)) {
        char d[2 * 1024];
        size_t want = len < limit ? len : limit;
        while (want > 0 && s[want - 1] == ' ')
            want--;
        FUZZ_CHECK(n <= sizeof(d) && decode(p, n, d) == want && memcmp(d, s, want) == 0);
    }
}

static void check_extension(const char *text, size_t len, size_t limit, size_t split, size_t cap)
{
    struct dbuf out;
    struct evt_stats st = {0, 0};
    struct cef_ext x;

    dbuf_init(&out, cap);
    FUZZ_CHECK(dbuf_puts(&out, "CEF:0|v|p|1|s|n|5|") == DF_OK);
    cef_ext_begin(&x, &out, &st);
    ext_add(&x, "a", text, split, limit);
    ext_add(&x, "cs1", NULL, 5, limit); /* NULL and empty values are omitted */
    ext_add(&x, "b", text + split, len - split, limit);
    ext_add(&x, "cs2", text, 0, limit);
    ext_add(&x, "msg", text, len, limit);
    FUZZ_CHECK(out.p != NULL);
    fuzz_check_cef_extension(out.p + x.start, out.len - x.start, limit);
    dbuf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *) data + 2;
    size_t len, limit, split, cap;

    if (size < 2)
        return 0;
    len = size - 2;
    limit = data[0] == 0xFF ? 1023 : data[0];
    split = len * (data[1] & 0x7F) / 0x7F;
    /* a tiny cap fails some appends part-way; otherwise room for any output (three values of
     * at most len bytes, each byte at worst a 3-byte U+FFFD) */
    cap = data[1] & 0x80 ? 24 + (size_t) (data[0] & 0x1F) : 8 * len + 256;
    check_header(text, len, limit, cap);
    check_extension(text, len, limit, split, cap);
    return 0;
}
