/*
 * Syslog output (RFC 5424 / RFC 3164 over TLS, TCP or UDP): the options shared by the plugin's
 * files. The keys are SPEC §7's plus a few of our own, documented in docs/syslog.md; the loader
 * fills the string and number members, out_syslog_conf_validate() applies the defaults and
 * fills the derived members below them.
 */
#ifndef DF_OUT_SYSLOG_H
#define DF_OUT_SYSLOG_H

#include "common.h"

#include <stdbool.h>
#include <stdint.h>

enum out_syslog_transport { OUT_SYSLOG_TLS, OUT_SYSLOG_TCP, OUT_SYSLOG_UDP };
enum out_syslog_protocol { OUT_SYSLOG_RFC5424, OUT_SYSLOG_RFC3164 };
enum out_syslog_framing { OUT_SYSLOG_OCTET_COUNTING, OUT_SYSLOG_NEWLINE };

#define OUT_SYSLOG_DEF_MAX_MESSAGE 8096 /* rsyslog's default maxMessageSize (formats.md §2.8) */
#define OUT_SYSLOG_MIN_MESSAGE     480  /* RFC 5424 §6.1: every receiver must take this much */
#define OUT_SYSLOG_MAX_MESSAGE     (1024 * 1024)
#define OUT_SYSLOG_MAX_UDP         65507 /* largest IPv4 UDP payload */
#define OUT_SYSLOG_DEF_TIMEOUT_S   5

struct out_syslog_tls_opts {
    char *ca_file;   /* "" or absent: the system trust store */
    char *cert_file; /* client certificate (mutual TLS); needs key_file */
    char *key_file;
    bool *verify; /* absent: true */
};

struct out_syslog_opts {
    /* Loaded by libcyaml (see out_syslog_conf.c for the table). */
    char *host;
    uint32_t *port;  /* absent: 6514 for tls, 514 otherwise */
    char *transport; /* tls | tcp | udp */
    char *protocol;  /* rfc5424 | rfc3164 */
    char *framing;   /* octet-counting | newline (TCP and TLS only) */
    char *facility;  /* kern … local7, or 0-23 */
    char *app_name;  /* APP-NAME / TAG */
    char *hostname;  /* HOSTNAME; absent: gethostname() when the output opens */
    char *sd_id;     /* RFC 5424 SD-ID of the element carrying the event id */
    char *timeout;   /* duration: connect, handshake, and no progress while sending */
    uint32_t *max_message_bytes;
    struct out_syslog_tls_opts tls;

    /* Derived by validate(); not part of the schema. */
    enum out_syslog_transport transport_e;
    enum out_syslog_protocol protocol_e;
    enum out_syslog_framing framing_e;
    int facility_n;
    uint16_t port_n;
    int verify_b;
    int64_t timeout_ms;
    size_t max_message;
};

#endif
