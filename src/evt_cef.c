/*
 * CEF events (SPEC §4, reference/formats.md §1). The complete key mapping, with sources,
 * limits and the reasons behind each choice, is documented in docs/cef-mapping.md; keep the
 * two in step.
 *
 * Every text goes through one pipeline, in this order:
 *   1. repair: invalid UTF-8 bytes -> U+FFFD; C0 controls, DEL, C1 controls and U+2028/U+2029
 *      -> space (in header fields CR/LF too; in values CR/LF are kept and escaped). Strict
 *      decoders reject syslog-ng's \uXXXX / \xHH forms, so replacement is the only safe
 *      choice. Counted per character.
 *   2. cut to the field's limit in bytes, on a UTF-8 character boundary (counted once);
 *   3. values only: drop trailing spaces (parsers trim them after the last value but keep
 *      them elsewhere, so a value's meaning would depend on its position);
 *   4. escape for the position.
 * Limits apply before escaping, so a cut never splits an escape sequence; the escaped text may
 * be up to twice the limit.
 */
#include "common.h"
#include "evt_int.h"
#include "ts.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Field limits in bytes of UTF-8 (formats.md §1.2, §1.5). ArcSight counts characters; bytes
 * are the conservative reading (never longer in characters) and bound the frame size. */
#define LIM_SIGNATURE   1023
#define LIM_NAME        512
#define LIM_EXTERNAL_ID 40
#define LIM_STRING      1023 /* cat, msg, dhost, duser, request, fname, filePath, flexString1 */
#define LIM_CUSTOM      1023 /* csN: 4000 since CEF v25, 1023 before; the older limit suits both */
#define LIM_LABEL       1023 /* csNLabel, cnNLabel */
#define LIM_FLEX_LABEL  128
#define LIM_DNTDOM      255
#define LIM_FILE_HASH   255
#define LIM_NUMBER      32 /* rt/start/end/cnN are digits we produce or check */

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

enum cef_pos { POS_HEADER, POS_VALUE };

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates, nothing
 * past U+10FFFF), or 0 when s[0] starts no valid sequence. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    }
    return n;
}

/* One character of input as the pipeline sees it. */
struct unit {
    size_t in;     /* input bytes */
    size_t outlen; /* bytes after repair, before escaping */
    int repaired;  /* replaced by a space or U+FFFD */
    int space;     /* is (or became) a space: candidate for trailing trim */
    int bad;       /* invalid UTF-8 byte */
};

static int is_control(unsigned char c, enum cef_pos pos)
{
    if (c == '\n' || c == '\r')
        return pos == POS_HEADER;
    return c < 0x20 || c == 0x7F;
}

/* A valid multibyte character that is a line break or control in Unicode terms: C1 controls
 * (U+0080-U+009F, NEL among them) and U+2028/U+2029. Line-oriented consumers that follow
 * Unicode (Python's splitlines, some Java and .NET readers) would split an event there, and no
 * CEF escape exists for them, so they become spaces like C0 controls. */
static int is_wide_break(const unsigned char *s, size_t n)
{
    return (n == 2 && s[0] == 0xC2 && s[1] <= 0x9F) ||
           (n == 3 && s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0xA8 || s[2] == 0xA9));
}

static void next_unit(const unsigned char *s, size_t avail, enum cef_pos pos, struct unit *u)
{
    size_t n = utf8_seq(s, avail);
    int to_space = (n == 1 && is_control(s[0], pos)) || is_wide_break(s, n);

    u->bad = n == 0;
    u->in = n == 0 ? 1 : n;
    u->outlen = n == 0 ? 3 : to_space ? 1 : n;
    u->repaired = n == 0 || to_space;
    u->space = to_space || (n == 1 && s[0] == ' ');
}

/* The escape sequence for an ASCII byte at pos, or NULL if it is written as is. */
static const char *escape_of(unsigned char c, enum cef_pos pos)
{
    switch (c) {
    case '\\':
        return "\\\\";
    case '|':
        return pos == POS_HEADER ? "\\|" : NULL;
    case '=':
        return pos == POS_VALUE ? "\\=" : NULL;
    case '\n':
        return pos == POS_VALUE ? "\\n" : " ";
    case '\r':
        return pos == POS_VALUE ? "\\r" : " ";
    default:
        return is_control(c, pos) ? " " : NULL;
    }
}

/*
 * The pipeline. Two passes over the input: the first decides where the text ends (limit,
 * then trailing spaces for values), the second writes it, copying runs of plain bytes with one
 * append each. Printable ASCII, nearly all of the input, takes a fast path in both passes.
 * *written tells whether anything was written (an empty value is omitted).
 */
static int put_text(struct dbuf *out, enum cef_pos pos, const char *text, size_t len, size_t limit,
                    struct evt_stats *st, int *written)
{
    const unsigned char *s = (const unsigned char *) text;
    const unsigned char special = pos == POS_HEADER ? '|' : '=';
    struct unit u;
    size_t i = 0, used = 0, end, keep = 0, run;
    uint64_t repaired = 0;
    int rc, cut = 0;

    /* Pass 1: end = input consumed within the limit; keep = input to write after trimming. */
    while (i < len) {
        size_t in = 1, width = 1;
        int space = 0;
        if (s[i] <= 0x20 || s[i] >= 0x7F) {
            next_unit(s + i, len - i, pos, &u);
            in = u.in;
            width = u.outlen;
            space = u.space;
        }
        if (used + width > limit) {
            cut = 1;
            break;
        }
        used += width;
        i += in;
        if (pos == POS_HEADER || !space)
            keep = i;
    }
    end = i;

    /* Every trimmed character counts as repaired. */
    for (i = keep; i < end; i += u.in) {
        next_unit(s + i, end - i, pos, &u);
        repaired++;
    }

    /* Pass 2: write [0, keep). */
    run = 0;
    i = 0;
    while (i < keep) {
        unsigned char c = s[i];
        const char *esc;
        size_t in = 1;
        if (c >= 0x20 && c < 0x7F && c != '\\' && c != special) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_seq(s + i, keep - i);
            if (n != 0 && !is_wide_break(s + i, n)) {
                i += n; /* a valid multibyte character: part of the plain run */
                continue;
            }
            esc = n == 0 ? REPLACEMENT : " ";
            in = n == 0 ? 1 : n;
            repaired++;
        } else {
            esc = escape_of(c, pos);
            if (is_control(c, pos))
                repaired++;
        }
        rc = dbuf_append(out, s + run, i - run);
        if (rc == DF_OK)
            rc = dbuf_puts(out, esc);
        if (rc != DF_OK)
            return rc;
        i += in;
        run = i;
    }
    rc = dbuf_append(out, s + run, keep - run);
    if (rc != DF_OK)
        return rc;
    /* counted only once the text is written: a failed append changes nothing */
    st->truncated_fields += (uint64_t) cut;
    st->replaced_chars += repaired;
    *written = keep > 0;
    return DF_OK;
}

int cef_header_field(struct dbuf *out, const char *s, size_t len, size_t limit,
                     struct evt_stats *stats)
{
    struct evt_stats dummy = {0, 0};
    size_t mark = out->len;
    int written, rc;

    rc = put_text(out, POS_HEADER, s != NULL ? s : "", s != NULL ? len : 0, limit,
                  stats != NULL ? stats : &dummy, &written);
    if (rc != DF_OK && out->p != NULL) {
        out->len = mark;
        out->p[mark] = '\0';
    }
    return rc;
}

void cef_ext_begin(struct cef_ext *x, struct dbuf *out, struct evt_stats *stats)
{
    x->out = out;
    x->start = out->len;
    x->stats = stats;
}

int cef_ext_add(struct cef_ext *x, const char *key, const char *s, size_t len, size_t limit)
{
    struct evt_stats dummy = {0, 0};
    size_t mark = x->out->len;
    int written = 0, rc;

    if (s == NULL || len == 0)
        return DF_OK;
    rc = mark > x->start ? dbuf_putc(x->out, ' ') : DF_OK;
    if (rc == DF_OK)
        rc = dbuf_puts(x->out, key);
    if (rc == DF_OK)
        rc = dbuf_putc(x->out, '=');
    if (rc == DF_OK)
        rc = put_text(x->out, POS_VALUE, s, len, limit, x->stats ? x->stats : &dummy, &written);
    if ((rc != DF_OK || !written) && x->out->p != NULL) {
        /* out of room, or the value repaired to nothing: take the key back out */
        x->out->len = mark;
        x->out->p[mark] = '\0';
    }
    return rc;
}

/* --- mapping helpers --------------------------------------------------------------------- */

static int add_str(struct cef_ext *x, const char *key, const char *s, size_t limit)
{
    return s != NULL ? cef_ext_add(x, key, s, strlen(s), limit) : DF_OK;
}

/* A scalar member (string, number text, true/false); null and containers are omitted. */
static int add_field(struct cef_ext *x, const char *key, yajl_val obj, const char *field,
                     size_t limit)
{
    return add_str(x, key, evt_scalar(evt_get(obj, field)), limit);
}

/* rt/start/end: epoch milliseconds. A timestamp that does not parse is left out, silently:
 * the JSON output and the event id keep the raw string. */
static int add_time(struct cef_ext *x, const char *key, yajl_val obj, const char *field)
{
    yajl_val v = evt_get(obj, field);
    int64_t ticks;
    char num[32];
    int n;

    if (!YAJL_IS_STRING(v) || ts_parse(v->u.string, strlen(v->u.string), &ticks) != DF_OK)
        return DF_OK;
    n = snprintf(num, sizeof(num), "%" PRId64, ts_to_ms(ticks));
    return cef_ext_add(x, key, num, (size_t) n, LIM_NUMBER);
}

/* cnN are signed 64-bit longs: only the text of an integer in that range is passed (a string
 * holding one too); anything else is left out rather than sent as a number ArcSight rejects. */
static int add_integer(struct cef_ext *x, const char *key, const char *text)
{
    size_t n, neg, digits;

    if (text == NULL)
        return DF_OK;
    n = strlen(text);
    neg = text[0] == '-';
    digits = n - neg;
    if (digits == 0 || digits > 19)
        return DF_OK;
    for (size_t k = neg; k < n; k++) {
        if (text[k] < '0' || text[k] > '9')
            return DF_OK;
    }
    /* 19 digits may pass INT64_MAX / INT64_MIN: compare as text, equal lengths */
    if (digits == 19 && strcmp(text + neg, neg ? "9223372036854775808" : "9223372036854775807") > 0)
        return DF_OK;
    return cef_ext_add(x, key, text, n, LIM_NUMBER);
}

/* The scalar elements of an array joined with ","; empty and non-scalar elements skipped. */
static int add_joined(struct cef_ext *x, struct dbuf *scratch, const char *key, yajl_val arr,
                      size_t limit)
{
    if (!YAJL_IS_ARRAY(arr))
        return DF_OK;
    dbuf_reset(scratch);
    for (size_t i = 0; i < arr->u.array.len; i++) {
        const char *s = evt_scalar(arr->u.array.values[i]);
        size_t mark = scratch->len;
        if (s == NULL || s[0] == '\0')
            continue;
        if ((mark > 0 && dbuf_putc(scratch, ',') != DF_OK) || dbuf_puts(scratch, s) != DF_OK) {
            /* Past the scratch cap (1 MiB) the joined value is far beyond its 1023-byte limit:
             * stop joining; cef_ext_add() cuts it and counts the truncation. */
            scratch->len = mark;
            if (scratch->p != NULL)
                scratch->p[mark] = '\0';
            break;
        }
    }
    return scratch->len > 0 ? cef_ext_add(x, key, scratch->p, scratch->len, limit) : DF_OK;
}

static const char *nonempty_str(yajl_val obj, const char *field)
{
    yajl_val v = evt_get(obj, field);
    return YAJL_IS_STRING(v) && v->u.string[0] != '\0' ? v->u.string : NULL;
}

static int valid_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* The entity members the mapping reads, non-empty strings only. One pass over the members:
 * an entity carries all 31 keys, most of them null (api.md §9), so per-key lookups would cost
 * about 300 string compares per entity where this costs a few. */
struct entity {
    const char *type, *account, *upn, *domain, *mailbox, *ip, *url;
    const char *fname, *fpath, *sha1, *sha256;
};

static void scan_entity(yajl_val e, struct entity *o)
{
    memset(o, 0, sizeof(*o));
    for (size_t i = 0; i < e->u.object.len; i++) {
        const char *k = e->u.object.keys[i], **slot = NULL;
        yajl_val v = e->u.object.values[i];
        if (!YAJL_IS_STRING(v) || v->u.string[0] == '\0')
            continue;
        switch (k[0]) {
        case 'e':
            slot = strcmp(k, "entityType") == 0 ? &o->type : NULL;
            break;
        case 'a':
            slot = strcmp(k, "accountName") == 0 ? &o->account : NULL;
            break;
        case 'd':
            slot = strcmp(k, "domainName") == 0 ? &o->domain : NULL;
            break;
        case 'i':
            slot = strcmp(k, "ipAddress") == 0 ? &o->ip : NULL;
            break;
        case 'm':
            slot = strcmp(k, "mailboxAddress") == 0 ? &o->mailbox : NULL;
            break;
        case 'u':
            slot = strcmp(k, "userPrincipalName") == 0 ? &o->upn
                   : strcmp(k, "url") == 0             ? &o->url
                                                       : NULL;
            break;
        case 'f':
            slot = strcmp(k, "fileName") == 0   ? &o->fname
                   : strcmp(k, "filePath") == 0 ? &o->fpath
                                                : NULL;
            break;
        case 's':
            slot = strcmp(k, "sha1") == 0 ? &o->sha1 : strcmp(k, "sha256") == 0 ? &o->sha256 : NULL;
            break;
        default:
            break;
        }
        /* first occurrence wins, as in evt_get() */
        if (slot != NULL && *slot == NULL)
            *slot = v->u.string;
    }
}

/* entityType compares case-insensitively: the API writes MailBox where some clients expect
 * Mailbox (api.md §9). */
static int type_is(const struct entity *e, const char *type)
{
    return e->type != NULL && strcasecmp(e->type, type) == 0;
}

static int has_file(const struct entity *e)
{
    return e->fname || e->fpath || e->sha256 || e->sha1;
}

/* What an alert's devices and entities contribute (first of each kind, see the mapping doc). */
struct alert_refs {
    const char *dhost, *duser, *dntdom, *dst, *request, *fname, *file_path, *file_hash;
};

static void find_refs(yajl_val alert, struct alert_refs *f)
{
    yajl_val devices = evt_get(alert, "devices"), entities = evt_get(alert, "entities");
    struct entity e, user, mailbox, file, any_file;
    int have_user = 0, have_mailbox = 0, have_file = 0, have_any_file = 0;

    memset(f, 0, sizeof(*f));
    memset(&user, 0, sizeof(user));
    memset(&mailbox, 0, sizeof(mailbox));
    memset(&file, 0, sizeof(file));
    memset(&any_file, 0, sizeof(any_file));
    if (YAJL_IS_ARRAY(devices)) {
        for (size_t i = 0; i < devices->u.array.len && f->dhost == NULL; i++)
            f->dhost = nonempty_str(devices->u.array.values[i], "deviceDnsName");
    }
    if (!YAJL_IS_ARRAY(entities))
        return;
    for (size_t i = 0; i < entities->u.array.len; i++) {
        yajl_val v = entities->u.array.values[i];
        if (!YAJL_IS_OBJECT(v))
            continue;
        scan_entity(v, &e);
        if (!have_user && type_is(&e, "User") && (e.account || e.upn)) {
            user = e;
            have_user = 1;
        }
        if (!have_mailbox && type_is(&e, "MailBox") && (e.upn || e.mailbox)) {
            mailbox = e;
            have_mailbox = 1;
        }
        if (!have_file && type_is(&e, "File") && has_file(&e)) {
            file = e;
            have_file = 1;
        }
        if (!have_any_file && has_file(&e)) {
            any_file = e;
            have_any_file = 1;
        }
        if (f->dst == NULL && e.ip != NULL && valid_ip(e.ip))
            f->dst = e.ip;
        if (f->request == NULL)
            f->request = e.url;
    }
    if (have_user) {
        f->duser = user.account ? user.account : user.upn;
        f->dntdom = user.domain;
    } else if (have_mailbox) {
        /* No account entity (typical of e-mail alerts): the mailbox owner is the user the
         * alert is about. */
        f->duser = mailbox.upn ? mailbox.upn : mailbox.mailbox;
    }
    /* A File entity first; else the first entity with file fields (a Process's image). */
    if (!have_file && have_any_file) {
        file = any_file;
        have_file = 1;
    }
    if (have_file) {
        f->fname = file.fname;
        f->file_path = file.fpath;
        f->file_hash = file.sha256 ? file.sha256 : file.sha1;
    }
}

static int severity_of(yajl_val obj)
{
    static const struct {
        const char *name;
        int value;
    } map[] = {{"UnSpecified", 0}, {"Informational", 1}, {"Low", 3}, {"Medium", 5}, {"High", 8}};
    yajl_val v = evt_get(obj, "severity");

    if (YAJL_IS_STRING(v)) {
        for (size_t i = 0; i < DF_ARRAY_LEN(map); i++) {
            if (strcasecmp(v->u.string, map[i].name) == 0)
                return map[i].value;
        }
    }
    return 0;
}

/* "CEF:0|Microsoft|Microsoft 365 Defender|1.0|signature|name|severity|" */
static int put_header(struct dbuf *out, const char *signature, const char *name, int severity,
                      struct evt_stats *st)
{
    int rc = dbuf_puts(out, "CEF:0|Microsoft|Microsoft 365 Defender|1.0|");

    if (rc == DF_OK)
        rc = cef_header_field(out, signature, strlen(signature), LIM_SIGNATURE, st);
    if (rc == DF_OK)
        rc = dbuf_putc(out, '|');
    if (rc == DF_OK && name != NULL)
        rc = cef_header_field(out, name, strlen(name), LIM_NAME, st);
    if (rc == DF_OK)
        rc = dbuf_printf(out, "|%d|", severity);
    return rc;
}

/* Each step is one key; the first failure (only DF_ENOMEM) stops the chain. */
#define ADD(call)                                                                                  \
    do {                                                                                           \
        if (rc == DF_OK)                                                                           \
            rc = (call);                                                                           \
    } while (0)

static int render_incident(struct evt_renderer *r, const char *event_id, struct dbuf *out,
                           struct evt_stats *st)
{
    yajl_val inc = r->incident;
    struct cef_ext x;
    char count[24];
    int rc;

    rc =
        put_header(out, "incident", evt_scalar(evt_get(inc, "incidentName")), severity_of(inc), st);
    cef_ext_begin(&x, out, st);
    (void) snprintf(count, sizeof(count), "%zu", r->alert_count);
    ADD(add_str(&x, "externalId", evt_incident_id(inc), LIM_EXTERNAL_ID));
    ADD(add_time(&x, "rt", inc, "lastUpdateTime"));
    ADD(add_time(&x, "start", inc, "createdTime"));
    ADD(add_str(&x, "cat", "Incident", LIM_STRING));
    ADD(add_field(&x, "cs1", inc, "status", LIM_CUSTOM));
    ADD(add_str(&x, "cs1Label", "status", LIM_LABEL));
    ADD(add_field(&x, "cs2", inc, "classification", LIM_CUSTOM));
    ADD(add_str(&x, "cs2Label", "classification", LIM_LABEL));
    ADD(add_field(&x, "cs3", inc, "determination", LIM_CUSTOM));
    ADD(add_str(&x, "cs3Label", "determination", LIM_LABEL));
    ADD(add_joined(&x, &r->scratch, "cs4", evt_get(inc, "tags"), LIM_CUSTOM));
    ADD(add_str(&x, "cs4Label", "tags", LIM_LABEL));
    ADD(add_field(&x, "cs5", inc, "assignedTo", LIM_CUSTOM));
    ADD(add_str(&x, "cs5Label", "assignedTo", LIM_LABEL));
    ADD(add_integer(&x, "cn1", count));
    ADD(add_str(&x, "cn1Label", "alertCount", LIM_LABEL));
    ADD(add_integer(&x, "cn2", evt_scalar(evt_get(inc, "redirectIncidentId"))));
    ADD(add_str(&x, "cn2Label", "redirectIncidentId", LIM_LABEL));
    ADD(add_str(&x, "flexString1", r->tenant, LIM_STRING));
    ADD(add_str(&x, "flexString1Label", "tenant", LIM_FLEX_LABEL));
    ADD(add_str(&x, "cs6", event_id, LIM_CUSTOM));
    ADD(add_str(&x, "cs6Label", "eventId", LIM_LABEL));
    return rc;
}

static int render_alert(struct evt_renderer *r, const char *event_id, yajl_val al, struct dbuf *out,
                        struct evt_stats *st)
{
    const char *sig = nonempty_str(al, "detectorId");
    const char *incident_id = evt_scalar(evt_get(al, "incidentId"));
    struct alert_refs f;
    struct cef_ext x;
    int rc;

    /* The alert's own incidentId is the API's value; the parent's fills in if it is absent. */
    if (incident_id == NULL)
        incident_id = evt_incident_id(r->incident);
    find_refs(al, &f);
    rc = put_header(out, sig != NULL ? sig : "alert", evt_scalar(evt_get(al, "title")),
                    severity_of(al), st);
    cef_ext_begin(&x, out, st);
    ADD(add_field(&x, "externalId", al, "alertId", LIM_EXTERNAL_ID));
    ADD(add_time(&x, "rt", al, "lastUpdatedTime"));
    ADD(add_time(&x, "start", al, "firstActivity"));
    ADD(add_time(&x, "end", al, "lastActivity"));
    ADD(add_field(&x, "cat", al, "category", LIM_STRING));
    ADD(add_field(&x, "msg", al, "description", LIM_STRING));
    ADD(add_field(&x, "cs1", al, "status", LIM_CUSTOM));
    ADD(add_str(&x, "cs1Label", "status", LIM_LABEL));
    ADD(add_field(&x, "cs2", al, "classification", LIM_CUSTOM));
    ADD(add_str(&x, "cs2Label", "classification", LIM_LABEL));
    ADD(add_field(&x, "cs3", al, "determination", LIM_CUSTOM));
    ADD(add_str(&x, "cs3Label", "determination", LIM_LABEL));
    ADD(add_field(&x, "cs4", al, "detectionSource", LIM_CUSTOM));
    ADD(add_str(&x, "cs4Label", "detectionSource", LIM_LABEL));
    ADD(add_joined(&x, &r->scratch, "cs5", evt_get(al, "mitreTechniques"), LIM_CUSTOM));
    ADD(add_str(&x, "cs5Label", "mitreTechniques", LIM_LABEL));
    ADD(add_integer(&x, "cn1", incident_id));
    ADD(add_str(&x, "cn1Label", "incidentId", LIM_LABEL));
    ADD(add_str(&x, "dhost", f.dhost, LIM_STRING));
    ADD(add_str(&x, "duser", f.duser, LIM_STRING));
    ADD(add_str(&x, "dntdom", f.dntdom, LIM_DNTDOM));
    ADD(add_str(&x, "dst", f.dst, LIM_STRING));
    ADD(add_str(&x, "request", f.request, LIM_STRING));
    ADD(add_str(&x, "fname", f.fname, LIM_STRING));
    ADD(add_str(&x, "filePath", f.file_path, LIM_STRING));
    ADD(add_str(&x, "fileHash", f.file_hash, LIM_FILE_HASH));
    ADD(add_str(&x, "flexString1", r->tenant, LIM_STRING));
    ADD(add_str(&x, "flexString1Label", "tenant", LIM_FLEX_LABEL));
    ADD(add_str(&x, "cs6", event_id, LIM_CUSTOM));
    ADD(add_str(&x, "cs6Label", "eventId", LIM_LABEL));
    return rc;
}

int cef_render(struct evt_renderer *r, const char *event_id, yajl_val alert, struct dbuf *out,
               struct evt_stats *stats)
{
    struct evt_stats dummy = {0, 0};

    if (stats == NULL)
        stats = &dummy;
    return alert == NULL ? render_incident(r, event_id, out, stats)
                         : render_alert(r, event_id, alert, out, stats);
}
