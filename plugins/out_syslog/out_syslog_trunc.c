/*
 * Truncation at field boundaries. This runs only for events over max_message_bytes (with the
 * defaults: none of a normal CEF stream, and JSON alerts carrying very long descriptions), so
 * it favours simple re-measuring over clever bookkeeping: the JSON path re-renders the whole
 * event after each change, O(size) per step.
 *
 * Why not split an event over two messages: receivers take each message as an event, so the
 * second half would arrive as a bogus event (rsyslog/rsyslog#5326). Why not cut the bytes
 * anywhere: a cut CEF escape or JSON string makes the whole event unparseable.
 */
#include "evt_int.h"
#include "out_syslog_trunc.h"

#include "common.h"
#include "evt.h"

#include <stdlib.h>
#include <string.h>

#define JSON_MIN_KEEP 64 /* a shortened JSON string keeps at least this many bytes */

size_t out_syslog_safe_cut(const char *s, size_t len, size_t n, int esc)
{
    size_t i = 0, cut;

    if (n >= len)
        return len;
    if (esc) {
        /* Walk escape pairs from the start: only the walk knows whether n falls inside one. */
        while (i < n) {
            size_t step = s[i] == '\\' ? 2 : 1;
            if (i + step > n)
                break;
            i += step;
        }
        cut = i;
    } else {
        cut = n;
    }
    /* Back off continuation bytes (10xxxxxx) so the character starting before them goes. */
    while (cut > 0 && ((unsigned char) s[cut] & 0xC0) == 0x80)
        cut--;
    return cut;
}

/* ---- CEF ---- */

struct cef_pair {
    size_t start, eq, end; /* key start, the '=', one past the value (line offsets) */
    int keep;
};

static int key_is(const char *line, const struct cef_pair *p, const char *key)
{
    size_t kl = strlen(key);
    return p->eq - p->start == kl && memcmp(line + p->start, key, kl) == 0;
}

/* Keys that identify the event and its tenant: a receiver must be able to deduplicate and
 * route a cut event exactly like a whole one. */
static int cef_protected(const char *line, const struct cef_pair *p)
{
    static const char *const keys[] = {"externalId", "rt",          "cs6",
                                       "cs6Label",   "flexString1", "flexString1Label"};
    for (size_t i = 0; i < DF_ARRAY_LEN(keys); i++)
        if (key_is(line, p, keys[i]))
            return 1;
    return 0;
}

/* Splits the extension (from ext) into pairs. Returns the count, 0 for none, or -1 when the
 * text before the first key is not just spaces. */
static long cef_pairs(const char *line, size_t len, size_t ext, struct cef_pair *pairs, size_t max)
{
    size_t n = 0, region = ext;

    for (size_t i = ext; i < len; i++) {
        size_t ks;
        if (line[i] == '\\') {
            i++;
            continue;
        }
        if (line[i] != '=')
            continue;
        /* The key is the word before the '=': keys hold no spaces, values' '=' are escaped. */
        ks = i;
        while (ks > region && line[ks - 1] != ' ')
            ks--;
        if (ks == i)
            return -1;
        if (n == 0) {
            for (size_t k = ext; k < ks; k++)
                if (line[k] != ' ')
                    return -1;
        } else {
            if (ks <= pairs[n - 1].eq + 1)
                return -1;
            pairs[n - 1].end = ks - 1;
        }
        if (n == max)
            return -1;
        pairs[n].start = ks;
        pairs[n].eq = i;
        pairs[n].end = len;
        pairs[n].keep = 1;
        n++;
        region = i + 1;
    }
    return (long) n;
}

static int hard_cut(const char *s, size_t len, size_t budget, struct dbuf *out)
{
    size_t keep = out_syslog_safe_cut(s, len, budget - OUT_SYSLOG_MARK_LEN, 1);
    int rc = dbuf_append(out, s, keep);
    return rc == DF_OK ? dbuf_append(out, OUT_SYSLOG_MARK, OUT_SYSLOG_MARK_LEN) : rc;
}

int out_syslog_trunc_cef(const char *line, size_t len, size_t budget, struct dbuf *out)
{
    size_t pipes[7], np = 0, i, ext, total, over, msg_keep = 0, name_keep;
    struct cef_pair *pairs = NULL;
    long n;
    long msg = -1;
    int rc;

    if (NEVER(budget < OUT_SYSLOG_MARK_LEN))
        return DF_EINVAL;
    if (len <= budget)
        return dbuf_append(out, line, len);
    for (i = 0; i < len && np < 7; i++) {
        if (line[i] == '\\')
            i++;
        else if (line[i] == '|')
            pipes[np++] = i;
    }
    if (np < 7)
        return hard_cut(line, len, budget, out);
    ext = pipes[6] + 1;
    /* A pair needs at least "k=", so len/2 + 1 bounds the count. */
    pairs = calloc(len / 2 + 2, sizeof(*pairs));
    if (pairs == NULL)
        return DF_ENOMEM;
    n = cef_pairs(line, len, ext, pairs, len / 2 + 2);
    if (n < 0) {
        rc = hard_cut(line, len, budget, out);
        goto out;
    }

    /* 1. msg: shortened and marked, or added as the marker alone. */
    total = len;
    for (long k = 0; k < n; k++)
        if (key_is(line, &pairs[k], "msg"))
            msg = k;
    if (msg >= 0) {
        msg_keep = pairs[msg].end - pairs[msg].eq - 1;
        total += OUT_SYSLOG_MARK_LEN;
    } else {
        total += (n > 0 ? 1 : 0) + 4 + OUT_SYSLOG_MARK_LEN;
    }
    if (msg >= 0 && total > budget) {
        const char *v = line + pairs[msg].eq + 1;
        size_t want = msg_keep - (total - budget < msg_keep ? total - budget : msg_keep);
        size_t keep = out_syslog_safe_cut(v, msg_keep, want, 1);
        total -= msg_keep - keep;
        msg_keep = keep;
    }
    /* 2. Whole pairs from the end. Each dropped pair takes its separating space with it: msg
     * (or the added msg) always stays, so some pair always remains. */
    for (long k = n - 1; k >= 0 && total > budget; k--) {
        if (k == msg || cef_protected(line, &pairs[k]))
            continue;
        pairs[k].keep = 0;
        total -= pairs[k].end - pairs[k].start + 1;
    }
    /* 3. The Name header field (between the 5th and 6th pipe). */
    name_keep = pipes[5] - pipes[4] - 1;
    if (total > budget) {
        over = total - budget;
        name_keep = out_syslog_safe_cut(line + pipes[4] + 1, name_keep,
                                        over < name_keep ? name_keep - over : 0, 1);
        total -= pipes[5] - pipes[4] - 1 - name_keep;
    }

    {
        size_t start = out->len;
        int first = 1;

        rc = dbuf_append(out, line, pipes[4] + 1 + name_keep);
        if (rc == DF_OK)
            rc = dbuf_append(out, line + pipes[5], ext - pipes[5]);
        if (rc == DF_OK && n > 0)
            rc = dbuf_append(out, line + ext, pairs[0].start - ext); /* leading spaces */
        for (long k = 0; k < n && rc == DF_OK; k++) {
            if (!pairs[k].keep)
                continue;
            if (!first)
                rc = dbuf_putc(out, ' ');
            first = 0;
            if (rc != DF_OK)
                break;
            if (k == msg) {
                rc = dbuf_append(out, line + pairs[k].start, pairs[k].eq + 1 - pairs[k].start);
                if (rc == DF_OK)
                    rc = dbuf_append(out, line + pairs[k].eq + 1, msg_keep);
                if (rc == DF_OK)
                    rc = dbuf_append(out, OUT_SYSLOG_MARK, OUT_SYSLOG_MARK_LEN);
            } else {
                rc = dbuf_append(out, line + pairs[k].start, pairs[k].end - pairs[k].start);
            }
        }
        if (rc == DF_OK && msg < 0)
            rc = dbuf_printf(out, "%smsg=%s", first ? "" : " ", OUT_SYSLOG_MARK);
        /* 4. Still too long (huge signature or identity values): cut hard, still marked. */
        if (rc == DF_OK && out->len - start > budget) {
            size_t keep = out_syslog_safe_cut(out->p + start, out->len - start,
                                              budget - OUT_SYSLOG_MARK_LEN, 1);
            out->len = start + keep;
            out->p[out->len] = '\0';
            rc = dbuf_append(out, OUT_SYSLOG_MARK, OUT_SYSLOG_MARK_LEN);
        }
    }
out:
    free(pairs);
    return rc;
}

/* ---- JSON ---- */

/* Members of incident/alert that identify the event version and drive routing. */
static int json_protected(const char *key)
{
    static const char *const keys[] = {"incidentId",      "alertId",  "lastUpdateTime",
                                       "lastUpdatedTime", "severity", "status"};
    for (size_t i = 0; i < DF_ARRAY_LEN(keys); i++)
        if (strcmp(key, keys[i]) == 0)
            return 1;
    return 0;
}

/* Longest string below v with more than JSON_MIN_KEEP + marker bytes. */
static void longest_string(yajl_val v, yajl_val *best,
                           size_t *best_len) /* NOLINT(misc-no-recursion) */
{
    if (v == NULL)
        return;
    if (v->type == yajl_t_string) {
        size_t l = strlen(v->u.string);
        if (l > JSON_MIN_KEEP + OUT_SYSLOG_MARK_LEN && l > *best_len) {
            *best = v;
            *best_len = l;
        }
    } else if (v->type == yajl_t_array) {
        for (size_t i = 0; i < v->u.array.len; i++)
            longest_string(v->u.array.values[i], best, best_len);
    } else if (v->type == yajl_t_object) {
        for (size_t i = 0; i < v->u.object.len; i++)
            longest_string(v->u.object.values[i], best, best_len);
    }
}

static void longest_in(yajl_val obj, yajl_val *best, size_t *best_len)
{
    if (obj == NULL || obj->type != yajl_t_object)
        return;
    for (size_t i = 0; i < obj->u.object.len; i++)
        if (!json_protected(obj->u.object.keys[i]))
            longest_string(obj->u.object.values[i], best, best_len);
}

static int container_len(yajl_val v)
{
    return v != NULL && ((v->type == yajl_t_array && v->u.array.len > 0) ||
                         (v->type == yajl_t_object && v->u.object.len > 0));
}

static void empty_container(yajl_val v)
{
    if (v->type == yajl_t_array) {
        for (size_t i = 0; i < v->u.array.len; i++)
            yajl_tree_free(v->u.array.values[i]);
        v->u.array.len = 0;
    } else {
        for (size_t i = 0; i < v->u.object.len; i++) {
            free((void *) v->u.object.keys[i]);
            yajl_tree_free(v->u.object.values[i]);
        }
        v->u.object.len = 0;
    }
}

/* Renders root at out[start..]; returns its length or 0 on failure (rc set). */
static size_t render(yajl_val root, struct dbuf *out, size_t start, int *rc)
{
    out->len = start;
    if (out->p != NULL)
        out->p[start] = '\0';
    *rc = evt_json_value(root, 0, out);
    return *rc == DF_OK ? out->len - start : 0;
}

/* Bytes yajl_gen writes for one byte of a string (its default: no escaped solidus). */
static size_t json_cost(unsigned char c)
{
    if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
        return 2;
    return c < 0x20 ? 6 : 1;
}

static int shorten_strings(yajl_val root, yajl_val inc, yajl_val al, size_t budget,
                           struct dbuf *out, size_t start, size_t *len)
{
    int rc = DF_OK;

    while (*len > budget) {
        yajl_val best = NULL;
        size_t best_len = 0, want, keep;

        longest_in(al, &best, &best_len);
        longest_in(inc, &best, &best_len);
        if (best == NULL)
            break;
        /* Cut from the end until the rendered bytes removed cover the excess and the
         * marker, counting yajl_gen's escapes, so no more goes than needed. */
        want = best_len;
        for (size_t freed = 0;
             want > JSON_MIN_KEEP && (freed < *len - budget + OUT_SYSLOG_MARK_LEN ||
                                      best_len - want < OUT_SYSLOG_MARK_LEN);)
            freed += json_cost((unsigned char) best->u.string[--want]);
        keep = out_syslog_safe_cut(best->u.string, best_len, want, 0);
        /* keep + marker <= best_len (at least the marker's length was cut, and candidates are
         * longer than JSON_MIN_KEEP + marker): the string's own allocation is large enough. */
        memcpy(best->u.string + keep, OUT_SYSLOG_MARK, OUT_SYSLOG_MARK_LEN + 1);
        *len = render(root, out, start, &rc);
        if (rc != DF_OK)
            return rc;
    }
    return DF_OK;
}

static int empty_containers(yajl_val root, yajl_val inc, yajl_val al, size_t budget,
                            struct dbuf *out, size_t start, size_t *len)
{
    int rc = DF_OK;
    struct dbuf tmp;

    dbuf_init(&tmp, out->max);
    while (*len > budget) {
        yajl_val best = NULL;
        size_t best_len = 0;
        yajl_val objs[2] = {al, inc};

        for (size_t o = 0; o < 2; o++) {
            if (objs[o] == NULL || objs[o]->type != yajl_t_object)
                continue;
            for (size_t i = 0; i < objs[o]->u.object.len; i++) {
                yajl_val v = objs[o]->u.object.values[i];
                if (!container_len(v))
                    continue;
                dbuf_reset(&tmp);
                rc = evt_json_value(v, 0, &tmp);
                if (rc != DF_OK)
                    goto out;
                if (tmp.len > best_len) {
                    best = v;
                    best_len = tmp.len;
                }
            }
        }
        if (best == NULL)
            break;
        empty_container(best);
        *len = render(root, out, start, &rc);
        if (rc != DF_OK)
            goto out;
    }
out:
    dbuf_free(&tmp);
    return rc;
}

static int drop_members(yajl_val root, yajl_val inc, yajl_val al, size_t budget, struct dbuf *out,
                        size_t start, size_t *len)
{
    int rc = DF_OK;

    while (*len > budget) {
        yajl_val victim = NULL;
        size_t at = 0;
        /* The incident context of an alert event repeats its incident's own event. */
        yajl_val objs[2] = {inc, al};

        for (size_t o = 0; o < 2 && victim == NULL; o++) {
            if (objs[o] == NULL || objs[o]->type != yajl_t_object)
                continue;
            for (size_t i = objs[o]->u.object.len; i > 0; i--) {
                if (!json_protected(objs[o]->u.object.keys[i - 1])) {
                    victim = objs[o];
                    at = i - 1;
                    break;
                }
            }
        }
        if (victim == NULL)
            return DF_EFULL;
        free((void *) victim->u.object.keys[at]);
        yajl_tree_free(victim->u.object.values[at]);
        memmove(victim->u.object.keys + at, victim->u.object.keys + at + 1,
                (victim->u.object.len - at - 1) * sizeof(*victim->u.object.keys));
        memmove(victim->u.object.values + at, victim->u.object.values + at + 1,
                (victim->u.object.len - at - 1) * sizeof(*victim->u.object.values));
        victim->u.object.len--;
        *len = render(root, out, start, &rc);
        if (rc != DF_OK)
            return rc;
    }
    return DF_OK;
}

int out_syslog_trunc_json(yajl_val root, size_t budget, struct dbuf *out)
{
    yajl_val inc = evt_get(root, "incident");
    yajl_val al = evt_get(root, "alert");
    size_t start = out->len, len;
    int rc;

    if (inc == NULL || inc->type != yajl_t_object)
        return DF_EINVAL;
    len = render(root, out, start, &rc);
    if (rc == DF_OK)
        rc = shorten_strings(root, inc, al, budget, out, start, &len);
    if (rc == DF_OK)
        rc = empty_containers(root, inc, al, budget, out, start, &len);
    if (rc == DF_OK)
        rc = drop_members(root, inc, al, budget, out, start, &len);
    if (rc != DF_OK && rc != DF_EFULL) {
        out->len = start;
        if (out->p != NULL)
            out->p[start] = '\0';
    }
    return rc;
}
