/*
 * The syslog output's connection: TCP, TLS (OpenSSL) or UDP to one receiver, with every wait
 * bounded by the output's timeout, because the core is single-threaded and a stuck receiver
 * must not stop the collector or the other outputs for long.
 */
#ifndef DF_OUT_SYSLOG_NET_H
#define DF_OUT_SYSLOG_NET_H

#include "common.h"
#include "out_syslog.h"

#include <stddef.h>

struct out_syslog_net;

/* Prepares (no connection yet): for TLS, loads the trust store and the client certificate.
 * Returns 0, DF_ECONFIG (a certificate or key file cannot be used) or DF_ENOMEM. */
int out_syslog_net_new(struct out_syslog_net **n, const char *output_name,
                       const struct out_syslog_opts *o, struct df_err *err);
void out_syslog_net_free(struct out_syslog_net *n);

/*
 * Makes sure a usable connection exists: an existing one that the receiver closed (EOF,
 * close_notify, reset) is dropped and replaced. Connecting and the TLS handshake (chain and
 * host name verified unless tls.verify is false) are bounded by the timeout. Returns 0 or
 * DF_EIO with the reason (refused, timed out, certificate verification failed: …) in err.
 */
int out_syslog_net_ready(struct out_syslog_net *n, struct df_err *err);

/* Stream transports: writes all of buf. Fails with DF_EIO when the receiver closes the
 * connection or nothing moves for the timeout; the connection is then closed. */
int out_syslog_net_send(struct out_syslog_net *n, const char *buf, size_t len, struct df_err *err);

/* Stream transports: waits until the receiver's TCP stack has acknowledged every byte sent so
 * far (SIOCOUTQ reads 0). Same failures as out_syslog_net_send(). */
int out_syslog_net_wait_acked(struct out_syslog_net *n, struct df_err *err);

/* UDP: one datagram. DF_EIO when it could not be handed to the network (an ICMP refusal of
 * an earlier datagram shows up here as "connection refused"). */
int out_syslog_net_send_datagram(struct out_syslog_net *n, const char *buf, size_t len,
                                 struct df_err *err);

/* Closes the connection, if any. clean: TLS close_notify, FIN, and a short wait for the
 * receiver's end of the connection, so it sees an orderly close and loses nothing. */
void out_syslog_net_close(struct out_syslog_net *n, int clean);

#endif
