/*
 * Syslog output options (SPEC §7 plus our own, docs/syslog.md). Scalars with a fixed set of
 * values are loaded as strings and checked here rather than as libcyaml enums, so a problem
 * names the allowed values; absent numbers and booleans are pointers, so "absent" and "0" or
 * "false" stay distinct and the defaults below are the only ones.
 */
#include "out_syslog_conf.h"

#include "out_syslog_fmt.h"
#include "ts.h"

#include <stdlib.h>
#include <string.h>

#define DEF_TRANSPORT "tls"
#define DEF_PROTOCOL  "rfc5424"
#define DEF_FRAMING   "octet-counting"
#define DEF_FACILITY  "local4"
#define DEF_APP_NAME  "defender-forwarder"
/* 32473 is the private enterprise number RFC 5612 reserves for documentation: fine for a
 * default nobody has to register, replaceable by a site's own through sd_id. */
#define DEF_SD_ID     "dfw@32473"
#define DEF_TLS_PORT  6514 /* RFC 5425 */
#define DEF_PORT      514  /* the customary port for TCP and UDP syslog */
#define MAX_TIMEOUT_S 300

#define STR(key, member)                                                                           \
    CYAML_FIELD_STRING_PTR(key, CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, struct out_syslog_opts,  \
                           member, 0, CYAML_UNLIMITED)
#define TLS_STR(key, member)                                                                       \
    CYAML_FIELD_STRING_PTR(key, CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,                          \
                           struct out_syslog_tls_opts, member, 0, CYAML_UNLIMITED)

static const cyaml_schema_field_t tls_fields[] = {
    TLS_STR("ca_file", ca_file),
    TLS_STR("cert_file", cert_file),
    TLS_STR("key_file", key_file),
    CYAML_FIELD_BOOL_PTR("verify", CYAML_FLAG_OPTIONAL, struct out_syslog_tls_opts, verify),
    CYAML_FIELD_END,
};

const cyaml_schema_field_t out_syslog_conf_fields[] = {
    STR("host", host),
    CYAML_FIELD_UINT_PTR("port", CYAML_FLAG_OPTIONAL, struct out_syslog_opts, port),
    STR("transport", transport),
    STR("protocol", protocol),
    STR("framing", framing),
    STR("facility", facility),
    STR("app_name", app_name),
    STR("hostname", hostname),
    STR("sd_id", sd_id),
    STR("timeout", timeout),
    CYAML_FIELD_UINT_PTR("max_message_bytes", CYAML_FLAG_OPTIONAL, struct out_syslog_opts,
                         max_message_bytes),
    CYAML_FIELD_MAPPING("tls", CYAML_FLAG_OPTIONAL, struct out_syslog_opts, tls, tls_fields),
    CYAML_FIELD_END,
};

/* Sets *s to a malloc'd copy of def when absent: libcyaml frees it with the rest. */
static int default_str(char **s, const char *def, struct df_err *err)
{
    if (*s != NULL)
        return DF_OK;
    *s = strdup(def);
    return *s != NULL ? DF_OK : df_err_set(err, DF_ENOMEM, "out of memory");
}

/* Index of s in names (NULL-terminated), or -1. */
static int one_of(const char *s, const char *const *names)
{
    for (int i = 0; names[i] != NULL; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

/* 1..max bytes of printable ASCII (RFC 5424 PRINTUSASCII), none of reject. */
static int printable(const char *s, size_t max, const char *reject)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 33 || s[i] > 126 || strchr(reject, s[i]) != NULL)
            return 0;
    return 1;
}

static int check_tls(struct out_syslog_opts *o, struct df_err *err)
{
    struct out_syslog_tls_opts *t = &o->tls;
    int cert = t->cert_file != NULL && t->cert_file[0] != '\0';
    int key = t->key_file != NULL && t->key_file[0] != '\0';

    if (o->transport_e != OUT_SYSLOG_TLS) {
        /* Someone who wrote TLS settings believes the connection is encrypted. */
        if (t->ca_file != NULL || t->cert_file != NULL || t->key_file != NULL || t->verify != NULL)
            return df_err_set(err, DF_ECONFIG,
                              "tls: only used with transport: tls (transport "
                              "is %s)",
                              o->transport);
        return DF_OK;
    }
    if (cert != key)
        return df_err_set(err, DF_ECONFIG, "tls.%s: cert_file and key_file go together",
                          cert ? "key_file" : "cert_file");
    o->verify_b = t->verify == NULL || *t->verify;
    if (default_str(&t->ca_file, "", err) != DF_OK ||
        default_str(&t->cert_file, "", err) != DF_OK || default_str(&t->key_file, "", err) != DF_OK)
        return DF_ENOMEM;
    return DF_OK;
}

int out_syslog_conf_validate(void *opts, struct df_err *err)
{
    static const char *const transports[] = {"tls", "tcp", "udp", NULL};
    static const char *const protocols[] = {"rfc5424", "rfc3164", NULL};
    static const char *const framings[] = {"octet-counting", "newline", NULL};
    struct out_syslog_opts *o = opts;
    int framing_given = o->framing != NULL;
    int64_t secs;
    int i;

    if (o->host == NULL || o->host[0] == '\0')
        return df_err_set(err, DF_ECONFIG, "host: required (name or address of the receiver)");
    if (strpbrk(o->host, " /[]") != NULL)
        return df_err_set(err, DF_ECONFIG,
                          "host: '%.100s' is not a host name or address "
                          "(give the port in port:)",
                          o->host);
    if (default_str(&o->transport, DEF_TRANSPORT, err) != DF_OK ||
        default_str(&o->protocol, DEF_PROTOCOL, err) != DF_OK ||
        default_str(&o->framing, DEF_FRAMING, err) != DF_OK ||
        default_str(&o->facility, DEF_FACILITY, err) != DF_OK ||
        default_str(&o->app_name, DEF_APP_NAME, err) != DF_OK ||
        default_str(&o->sd_id, DEF_SD_ID, err) != DF_OK)
        return DF_ENOMEM;

    if ((i = one_of(o->transport, transports)) < 0)
        return df_err_set(err, DF_ECONFIG, "transport: must be tls, tcp or udp, got '%.60s'",
                          o->transport);
    o->transport_e = (enum out_syslog_transport) i;
    if ((i = one_of(o->protocol, protocols)) < 0)
        return df_err_set(err, DF_ECONFIG, "protocol: must be rfc5424 or rfc3164, got '%.60s'",
                          o->protocol);
    o->protocol_e = (enum out_syslog_protocol) i;
    if ((i = one_of(o->framing, framings)) < 0)
        return df_err_set(err, DF_ECONFIG,
                          "framing: must be octet-counting or newline, got '%.60s'", o->framing);
    o->framing_e = (enum out_syslog_framing) i;
    if (framing_given && o->transport_e == OUT_SYSLOG_UDP)
        return df_err_set(err, DF_ECONFIG,
                          "framing: not used with transport: udp (one "
                          "message per datagram)");
    if ((o->facility_n = out_syslog_facility_parse(o->facility)) < 0)
        return df_err_set(err, DF_ECONFIG,
                          "facility: must be a name (kern, user, daemon, "
                          "auth, authpriv, local0 … local7, …) or 0-23, got '%.60s'",
                          o->facility);

    if (o->port == NULL)
        o->port_n = o->transport_e == OUT_SYSLOG_TLS ? DEF_TLS_PORT : DEF_PORT;
    else if (*o->port < 1 || *o->port > 65535)
        return df_err_set(err, DF_ECONFIG, "port: must be 1-65535, got %u", (unsigned) *o->port);
    else
        o->port_n = (uint16_t) *o->port;

    /* RFC 3164 TAG ends at the first '[' or ':', so those cannot be part of it; its 32-byte
     * limit is the RFC's. */
    if (o->protocol_e == OUT_SYSLOG_RFC3164 ? !printable(o->app_name, 32, "[]:")
                                            : !printable(o->app_name, 48, ""))
        return df_err_set(err, DF_ECONFIG,
                          "app_name: must be 1-%d printable ASCII characters "
                          "without spaces%s",
                          o->protocol_e == OUT_SYSLOG_RFC3164 ? 32 : 48,
                          o->protocol_e == OUT_SYSLOG_RFC3164 ? ", '[', ']' or ':'" : "");
    if (o->hostname != NULL && !printable(o->hostname, 255, ""))
        return df_err_set(err, DF_ECONFIG,
                          "hostname: must be 1-255 printable ASCII characters "
                          "without spaces");
    /* SD-NAME: 1-32 printable except '=', ']', '"'; names without '@' belong to IANA. */
    if (!printable(o->sd_id, 32, "=]\"") || strchr(o->sd_id, '@') == NULL ||
        strchr(o->sd_id, '@')[1] == '\0')
        return df_err_set(err, DF_ECONFIG,
                          "sd_id: must be NAME@ENTERPRISE-NUMBER, 1-32 "
                          "printable characters without '=', ']' or '\"' (e.g. %s)",
                          DEF_SD_ID);

    if (o->timeout == NULL) {
        o->timeout_ms = OUT_SYSLOG_DEF_TIMEOUT_S * 1000;
    } else {
        if (ts_parse_duration(o->timeout, &secs) != DF_OK || secs > MAX_TIMEOUT_S)
            return df_err_set(err, DF_ECONFIG,
                              "timeout: must be a duration from 1s to %ds, "
                              "got '%.60s'",
                              MAX_TIMEOUT_S, o->timeout);
        o->timeout_ms = secs * 1000;
    }

    if (o->max_message_bytes == NULL) {
        o->max_message = OUT_SYSLOG_DEF_MAX_MESSAGE;
    } else {
        size_t max = o->transport_e == OUT_SYSLOG_UDP ? OUT_SYSLOG_MAX_UDP : OUT_SYSLOG_MAX_MESSAGE;
        if (*o->max_message_bytes < OUT_SYSLOG_MIN_MESSAGE || *o->max_message_bytes > max)
            return df_err_set(err, DF_ECONFIG, "max_message_bytes: must be %d-%zu%s, got %u",
                              OUT_SYSLOG_MIN_MESSAGE, max,
                              o->transport_e == OUT_SYSLOG_UDP ? " with transport: udp" : "",
                              (unsigned) *o->max_message_bytes);
        o->max_message = *o->max_message_bytes;
    }
    return check_tls(o, err);
}
