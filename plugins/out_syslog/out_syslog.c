/*
 * Syslog output: CEF or JSON events as RFC 5424 (or RFC 3164) messages over TLS, TCP or UDP
 * (docs/syslog.md).
 *
 * Delivery is at-least-once (SPEC §5): write() returns OK only once the receiver's TCP stack
 * has acknowledged every byte of the batch; any failure closes the connection and answers
 * RETRY, and the core offers the same batch again, from the last committed journal position,
 * after its backoff. A batch that broke half-way is therefore sent again whole: duplicates
 * happen only around an outage, and every message carries its event id (structured data, and
 * inside the CEF/JSON payload) so a SIEM can drop them. There is nothing to commit: commit()
 * has no buffered state to make durable.
 *
 * The header's TIMESTAMP is the event's own time (the version's lastUpdateTime /
 * lastUpdatedTime), not the time of sending: a resent event is then byte for byte the same
 * message, and a backfill lands at the right place on the SIEM's time line.
 */
#include "out_syslog.h"

#include "dbuf.h"
#include "jrnl.h"
#include "log.h"
#include "out.h"
#include "out_syslog_conf.h"
#include "out_syslog_fmt.h"
#include "out_syslog_net.h"
#include "out_syslog_trunc.h"
#include "ts.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FLUSH_BYTES     (256u * 1024) /* frames are handed to the socket in pieces this big */
#define TRUNC_LOG_EACH  20            /* truncations logged one by one, then one per ... */
#define TRUNC_LOG_EVERY 1000          /* ... this many */

struct out_syslog {
    char *name;
    const struct out_syslog_opts *o;
    struct out_syslog_net *net;
    struct out_syslog_hdr hdr;
    char hostname[256];
    char procid[24];
    struct dbuf line;    /* NUL-terminated copy of a JSON event, for yajl */
    struct dbuf payload; /* a shortened payload */
    struct dbuf msg;     /* one syslog message */
    struct dbuf frames;  /* framed messages not yet handed to the socket */
    uint64_t sent;       /* messages acknowledged (stream) or sent (UDP) */
    uint64_t truncated;  /* messages shortened to fit max_message_bytes */
    uint64_t oversize;   /* messages that could not be shortened enough */
};

static int out_syslog_open(void **ctx, const char *output_name, const void *opts,
                           struct out_state *state, struct df_err *err)
{
    struct out_syslog *s = calloc(1, sizeof(*s));
    const struct out_syslog_opts *o = opts;
    int rc;

    (void) state; /* the core's journal position is ours: the receiver keeps none */
    if (s == NULL || (s->name = strdup(output_name)) == NULL) {
        rc = df_err_set(err, DF_ENOMEM, "out of memory");
        goto fail;
    }
    s->o = o;
    if (o->hostname != NULL) {
        out_syslog_sanitize(o->hostname, s->hostname, sizeof(s->hostname));
    } else {
        char h[256];
        if (gethostname(h, sizeof(h)) != 0)
            h[0] = '\0';
        h[sizeof(h) - 1] = '\0';
        out_syslog_sanitize(h, s->hostname, sizeof(s->hostname));
    }
    snprintf(s->procid, sizeof(s->procid), "%ld", (long) getpid());
    s->hdr.protocol = o->protocol_e;
    s->hdr.facility = o->facility_n;
    s->hdr.hostname = s->hostname;
    s->hdr.app_name = o->app_name;
    s->hdr.procid = s->procid;
    s->hdr.sd_id = o->sd_id;
    /* Caps: an event is at most a journal record; a shortened one may exceed max_message only
     * in the DF_EFULL case, where it is still bounded by the event itself. */
    dbuf_init(&s->line, JRNL_MAX_RECORD + 1);
    dbuf_init(&s->payload, JRNL_MAX_RECORD + 1);
    dbuf_init(&s->msg, JRNL_MAX_RECORD + 4096);
    dbuf_init(&s->frames, FLUSH_BYTES + JRNL_MAX_RECORD + 4096 + 16);
    rc = out_syslog_net_new(&s->net, output_name, o, err);
    if (rc != DF_OK)
        goto fail;
    log_info("out_syslog",
             "opened output=%s host=%s port=%u transport=%s protocol=%s "
             "framing=%s facility=%d max_message_bytes=%zu",
             output_name, o->host, (unsigned) o->port_n, o->transport, o->protocol,
             o->transport_e == OUT_SYSLOG_UDP ? "datagram" : o->framing, o->facility_n,
             o->max_message);
    *ctx = s;
    return DF_OK;
fail:
    if (s != NULL) {
        free(s->name);
        free(s);
    }
    return rc;
}

static void note_truncation(struct out_syslog *s, const struct out_record *r, size_t from,
                            size_t to, int fitted)
{
    if (!fitted) {
        s->oversize++;
        log_error("out_syslog",
                  "event cannot be shortened to max_message_bytes; sent whole "
                  "output=%s event_id=%s bytes=%zu max_message_bytes=%zu",
                  s->name, r->event_id, to, s->o->max_message);
        return;
    }
    s->truncated++;
    if (s->truncated <= TRUNC_LOG_EACH || s->truncated % TRUNC_LOG_EVERY == 0)
        log_warn("out_syslog",
                 "event shortened to fit max_message_bytes output=%s "
                 "event_id=%s payload_bytes=%zu shortened_to=%zu truncated_total=%" PRIu64 "%s",
                 s->name, r->event_id, from, to, s->truncated,
                 s->truncated == TRUNC_LOG_EACH ? " (further ones are logged every 1000th)" : "");
}

/* Builds the whole syslog message for r in s->msg. */
static int build_message(struct out_syslog *s, const struct out_record *r)
{
    struct out_syslog_info info;
    struct out_syslog_msg m;
    yajl_val root = NULL;
    size_t hlen;
    int cef = r->line_len >= 4 && memcmp(r->line, "CEF:", 4) == 0;
    int rc;

    if (cef) {
        (void) out_syslog_cef_info(r->line, r->line_len, &info);
    } else {
        /* The header needs two members of a nested object; a full parse is the robust way
         * (the incident context repeats "severity"), at about three times the cost of
         * rendering the event (evt_json.c), and its tree is what truncation works on. yajl
         * needs a NUL-terminated copy: records point into the batch buffer. */
        dbuf_reset(&s->line);
        rc = dbuf_append(&s->line, r->line, r->line_len);
        if (rc != DF_OK)
            return rc;
        root = yajl_tree_parse(s->line.p, NULL, 0);
        out_syslog_json_info(root, r->type, &info);
    }
    memset(&m, 0, sizeof(m));
    m.type = r->type;
    m.severity = info.severity;
    m.ticks = info.ticks >= 0 ? info.ticks : ts_now_ticks();
    m.event_id = r->event_id;
    m.tenant = r->tenant;
    m.incident_id = r->incident_id;

    dbuf_reset(&s->msg);
    rc = out_syslog_header(&s->hdr, &m, &s->msg);
    if (rc != DF_OK)
        goto out;
    if (s->msg.len + r->line_len <= s->o->max_message) {
        rc = dbuf_append(&s->msg, r->line, r->line_len);
        goto out;
    }

    /* Too long: the header now says so too (RFC 5424), and the payload is cut to what is
     * left of the budget. The minimum max_message_bytes leaves room for any header. */
    m.truncated_from = r->line_len;
    dbuf_reset(&s->msg);
    rc = out_syslog_header(&s->hdr, &m, &s->msg);
    if (rc != DF_OK)
        goto out;
    hlen = s->msg.len;
    dbuf_reset(&s->payload);
    if (NEVER(hlen + OUT_SYSLOG_MARK_LEN > s->o->max_message)) {
        rc = DF_EINVAL;
        goto out;
    }
    if (root != NULL && !cef)
        rc = out_syslog_trunc_json(root, s->o->max_message - hlen, &s->payload);
    else
        rc = DF_EINVAL;
    if (rc == DF_EINVAL) /* CEF, or JSON that is not an event object: cut as CEF/plain text */
        rc = out_syslog_trunc_cef(r->line, r->line_len, s->o->max_message - hlen, &s->payload);
    if (rc != DF_OK && rc != DF_EFULL)
        goto out;
    note_truncation(s, r, r->line_len, s->payload.len, rc == DF_OK);
    rc = dbuf_append(&s->msg, s->payload.p, s->payload.len);
out:
    yajl_tree_free(root);
    return rc;
}

static enum out_verdict out_syslog_write(void *ctx, const struct out_batch *batch,
                                         struct df_err *err)
{
    struct out_syslog *s = ctx;
    int udp = s->o->transport_e == OUT_SYSLOG_UDP;
    int rc;

    if (out_syslog_net_ready(s->net, err) != DF_OK)
        return OUT_RETRY;
    dbuf_reset(&s->frames);
    for (size_t i = 0; i < batch->n; i++) {
        rc = build_message(s, &batch->recs[i]);
        if (rc != DF_OK) {
            out_syslog_net_close(s->net, 0);
            df_err_set(err, rc, "output %s: cannot build the message for event %s: %s", s->name,
                       batch->recs[i].event_id, df_strerror(rc));
            return OUT_RETRY;
        }
        if (udp) {
            if (out_syslog_net_send_datagram(s->net, s->msg.p, s->msg.len, err) != DF_OK)
                return OUT_RETRY;
            continue;
        }
        rc = out_syslog_frame(s->o->framing_e, s->msg.p, s->msg.len, &s->frames);
        if (rc == DF_OK && s->frames.len >= FLUSH_BYTES) {
            rc = out_syslog_net_send(s->net, s->frames.p, s->frames.len, err);
            dbuf_reset(&s->frames);
            if (rc != DF_OK)
                return OUT_RETRY;
        }
        if (rc != DF_OK) {
            out_syslog_net_close(s->net, 0);
            df_err_set(err, rc, "output %s: cannot frame event %s: %s", s->name,
                       batch->recs[i].event_id, df_strerror(rc));
            return OUT_RETRY;
        }
    }
    if (!udp) {
        if (s->frames.len > 0 &&
            out_syslog_net_send(s->net, s->frames.p, s->frames.len, err) != DF_OK)
            return OUT_RETRY;
        dbuf_reset(&s->frames);
        if (out_syslog_net_wait_acked(s->net, err) != DF_OK)
            return OUT_RETRY;
    }
    s->sent += batch->n;
    return OUT_OK;
}

static enum out_verdict out_syslog_commit(void *ctx, struct out_state *state, struct df_err *err)
{
    /* write() already waited for the acknowledgements: nothing is buffered here. */
    (void) ctx;
    (void) state;
    (void) err;
    return OUT_OK;
}

static void out_syslog_close(void *ctx)
{
    struct out_syslog *s = ctx;

    if (s == NULL)
        return;
    out_syslog_net_free(s->net);
    log_info("out_syslog",
             "closed output=%s sent=%" PRIu64 " truncated=%" PRIu64 " oversize=%" PRIu64, s->name,
             s->sent, s->truncated, s->oversize);
    dbuf_free(&s->line);
    dbuf_free(&s->payload);
    dbuf_free(&s->msg);
    dbuf_free(&s->frames);
    free(s->name);
    free(s);
}

const struct out_plugin out_syslog_plugin = {
    .name = "syslog",
    .api_version = OUT_API_VERSION,
    .options = out_syslog_conf_fields,
    .opts_size = sizeof(struct out_syslog_opts),
    .validate = out_syslog_conf_validate,
    .open = out_syslog_open,
    .write = out_syslog_write,
    .commit = out_syslog_commit,
    .reopen = NULL,
    .close = out_syslog_close,
};
