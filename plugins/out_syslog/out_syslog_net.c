/*
 * Connection handling for the syslog output (formats.md §2.3, §2.7).
 *
 * Every socket is non-blocking and every wait is a poll() with a deadline: the core calls
 * write() from its only thread, so a receiver that is down, slow or black-holed may cost it at
 * most `timeout` per attempt (the core's backoff spaces the attempts), never a hang.
 *
 * "Delivered" means the receiver's TCP stack acknowledged every byte (SPEC §5): after the last
 * write we poll SIOCOUTQ (bytes not yet acknowledged) down to 0. That proves receipt by the
 * receiver's kernel, not processing; it is the most plain TCP/TLS syslog can offer (RELP adds
 * application acknowledgements, at the cost of a protocol rsyslog alone speaks).
 *
 * A receiver that went away is noticed by reading: syslog receivers never send application
 * data, so a readable socket means EOF, a TLS alert or close_notify, or a TLS 1.3 session
 * ticket (harmless, consumed). Without these reads a closed peer goes unnoticed until data is
 * lost (vectordotdev/vector#1429).
 */
#include "out_syslog_net.h"

#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CLOSE_WAIT_MS   2000  /* clean close: how long to wait for the receiver's EOF */
#define TLS_WRITE_CHUNK 16384 /* one TLS record */
#define ACK_POLL_MAX_MS 50    /* SIOCOUTQ has no event: poll it, backing off to this */

struct out_syslog_net {
    char *name; /* output name, for logs */
    const struct out_syslog_opts *o;
    char port[8];
    int ip_literal; /* host is an address: verify it against IP SANs, no SNI */
    SSL_CTX *ctx;   /* TLS only */
    SSL *ssl;
    int fd;
    char peer[INET6_ADDRSTRLEN + 8]; /* address actually connected to */
    char bad_cert[300]; /* subject and depth of the certificate that failed to verify */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining(int64_t deadline)
{
    int64_t r = deadline - mono_ms();
    return r < 0 ? 0 : (r > 60000 ? 60000 : (int) r);
}

/* OpenSSL's error queue as text (emptied), or fallback when it is empty. */
static const char *ssl_errors(char *buf, size_t size, const char *fallback)
{
    unsigned long e;
    size_t len = 0;

    buf[0] = '\0';
    while ((e = ERR_get_error()) != 0) {
        char one[256];
        ERR_error_string_n(e, one, sizeof(one));
        if (len < size)
            len += (size_t) snprintf(buf + len, size - len, "%s%s", len ? "; " : "", one);
    }
    return buf[0] ? buf : fallback;
}

/* Remembers which certificate of the chain failed, for the error message; the decision
 * itself stays OpenSSL's. */
static int verify_cb(int ok, X509_STORE_CTX *store)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct out_syslog_net *n = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
    X509 *cert = X509_STORE_CTX_get_current_cert(store);
    char subject[256] = "?";

    if (!ok && n != NULL && n->bad_cert[0] == '\0') {
        if (cert != NULL)
            X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
        snprintf(n->bad_cert, sizeof(n->bad_cert), "%s at depth %d", subject,
                 X509_STORE_CTX_get_error_depth(store));
    }
    return ok;
}

int out_syslog_net_new(struct out_syslog_net **np, const char *output_name,
                       const struct out_syslog_opts *o, struct df_err *err)
{
    struct out_syslog_net *n = calloc(1, sizeof(*n));
    const struct out_syslog_tls_opts *t = &o->tls;
    unsigned char addr[sizeof(struct in6_addr)];
    char ebuf[512];
    int rc = DF_ENOMEM;

    if (n == NULL || (n->name = strdup(output_name)) == NULL) {
        rc = df_err_set(err, DF_ENOMEM, "out of memory");
        goto fail;
    }
    n->o = o;
    n->fd = -1;
    snprintf(n->port, sizeof(n->port), "%u", (unsigned) o->port_n);
    n->ip_literal =
        inet_pton(AF_INET, o->host, addr) == 1 || inet_pton(AF_INET6, o->host, addr) == 1;
    if (o->transport_e != OUT_SYSLOG_TLS) {
        *np = n;
        return DF_OK;
    }

    ERR_clear_error();
    n->ctx = SSL_CTX_new(TLS_client_method());
    if (n->ctx == NULL) {
        rc = df_err_set(err, DF_ENOMEM, "output %s: cannot create a TLS context: %s", output_name,
                        ssl_errors(ebuf, sizeof(ebuf), "unknown error"));
        goto fail;
    }
    /* RFC 9662 (updating RFC 5425) requires TLS 1.2 or later. */
    if (SSL_CTX_set_min_proto_version(n->ctx, TLS1_2_VERSION) != 1) {
        rc = df_err_set(err, DF_ENOMEM, "output %s: cannot set the TLS version", output_name);
        goto fail;
    }
    /* Partial writes let a slow receiver show progress record by record; a moving buffer is
     * fine because we never change bytes already offered. */
    SSL_CTX_set_mode(n->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (o->verify_b) {
        SSL_CTX_set_verify(n->ctx, SSL_VERIFY_PEER, verify_cb);
        if (t->ca_file[0] != '\0' ? SSL_CTX_load_verify_locations(n->ctx, t->ca_file, NULL) != 1
                                  : SSL_CTX_set_default_verify_paths(n->ctx) != 1) {
            rc = df_err_set(err, DF_ECONFIG, "output %s: tls.ca_file: cannot load '%s': %s",
                            output_name, t->ca_file[0] ? t->ca_file : "(system store)",
                            ssl_errors(ebuf, sizeof(ebuf), "no certificates"));
            goto fail;
        }
    } else {
        SSL_CTX_set_verify(n->ctx, SSL_VERIFY_NONE, NULL);
        log_warn("out_syslog",
                 "TLS certificate verification is off: anyone on the path can "
                 "read and change the events output=%s",
                 output_name);
    }
    if (t->cert_file[0] != '\0') {
        if (SSL_CTX_use_certificate_chain_file(n->ctx, t->cert_file) != 1) {
            rc = df_err_set(err, DF_ECONFIG, "output %s: tls.cert_file: cannot load '%s': %s",
                            output_name, t->cert_file,
                            ssl_errors(ebuf, sizeof(ebuf), "unknown error"));
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(n->ctx, t->key_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(n->ctx) != 1) {
            rc = df_err_set(err, DF_ECONFIG, "output %s: tls.key_file: cannot use '%s': %s",
                            output_name, t->key_file,
                            ssl_errors(ebuf, sizeof(ebuf), "does not match tls.cert_file"));
            goto fail;
        }
    }
    *np = n;
    return DF_OK;
fail:
    out_syslog_net_free(n);
    return rc;
}

static void drop(struct out_syslog_net *n)
{
    if (n->ssl != NULL) {
        SSL_free(n->ssl);
        n->ssl = NULL;
    }
    if (n->fd >= 0) {
        close(n->fd);
        n->fd = -1;
    }
}

void out_syslog_net_free(struct out_syslog_net *n)
{
    if (n == NULL)
        return;
    out_syslog_net_close(n, 1);
    SSL_CTX_free(n->ctx);
    free(n->name);
    free(n);
}

static const char *transport_name(const struct out_syslog_net *n)
{
    static const char *const names[] = {"tls", "tcp", "udp"};
    return names[n->o->transport_e];
}

static int fail(struct out_syslog_net *n, struct df_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Closes the connection and reports "syslog tls://host:port: <why>". */
static int fail(struct out_syslog_net *n, struct df_err *err, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;

    va_start(ap, fmt);
    (void) vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    drop(n);
    return df_err_set(err, DF_EIO, "syslog %s://%s:%s: %s", transport_name(n), n->o->host, n->port,
                      msg);
}

/*
 * Reads whatever the receiver sent. Returns 0 while the connection is usable, DF_EIO (and
 * *why) once the receiver closed it or it broke.
 */
static int peer_check(struct out_syslog_net *n, const char **why)
{
    char buf[4096];
    struct pollfd p = {.fd = n->fd, .events = POLLIN};

    for (int rounds = 0; rounds < 64; rounds++) {
        if (poll(&p, 1, 0) < 0) {
            *why = strerror(errno);
            return DF_EIO;
        }
        if ((p.revents & (POLLIN | POLLERR | POLLHUP)) == 0)
            return DF_OK;
        if (n->ssl != NULL) {
            int r;
            ERR_clear_error();
            r = SSL_read(n->ssl, buf, sizeof(buf));
            if (r > 0)
                continue; /* receivers have nothing to say; discard */
            switch (SSL_get_error(n->ssl, r)) {
            case SSL_ERROR_WANT_READ:
            case SSL_ERROR_WANT_WRITE:
                return DF_OK; /* a session ticket or other TLS housekeeping */
            case SSL_ERROR_ZERO_RETURN:
                *why = "the receiver closed the connection (close_notify)";
                return DF_EIO;
            default:
                *why = "the receiver closed or reset the connection";
                return DF_EIO;
            }
        } else {
            ssize_t r = recv(n->fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (r > 0)
                continue;
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                return DF_OK;
            *why = r == 0 ? "the receiver closed the connection" : strerror(errno);
            return DF_EIO;
        }
    }
    return DF_OK;
}

/* Non-blocking connect to one address, bounded by deadline. Returns the fd or -1 (errno). */
static int connect_one(const struct addrinfo *ai, int64_t deadline)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    int e = 0;
    socklen_t el = sizeof(e);

    if (fd < 0)
        return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS)
        goto fail;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int r = poll(&p, 1, remaining(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0) {
            errno = ETIMEDOUT;
            goto fail;
        }
        if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
            goto fail;
        if (e != 0) {
            errno = e;
            goto fail;
        }
        return fd;
    }
fail:
    e = errno;
    close(fd);
    errno = e;
    return -1;
}

static void describe_peer(struct out_syslog_net *n, const struct addrinfo *ai)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), NULL, 0, NI_NUMERICHOST) != 0)
        snprintf(host, sizeof(host), "?");
    snprintf(n->peer, sizeof(n->peer), "%s", host);
}

/* The handshake failed: say why in words a SOC engineer can act on. */
static int handshake_failed(struct out_syslog_net *n, int ret, struct df_err *err)
{
    char ebuf[600];
    long vr = SSL_get_verify_result(n->ssl);
    int se = SSL_get_error(n->ssl, ret);
    int name_problem = vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH;

    if (vr != X509_V_OK) {
        ERR_clear_error();
        return fail(n, err,
                    "TLS handshake failed: certificate verification failed: %s%s%s "
                    "(certificate %s; check tls.ca_file%s)",
                    X509_verify_cert_error_string(vr), name_problem ? " for host " : "",
                    name_problem ? n->o->host : "", n->bad_cert[0] ? n->bad_cert : "?",
                    name_problem ? " and host" : "");
    }
    if (se == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
        return fail(n, err, "TLS handshake failed: %s",
                    errno != 0 ? strerror(errno)
                               : "the receiver closed the connection (is it a TLS listener?)");
    return fail(n, err, "TLS handshake failed: %s",
                ssl_errors(ebuf, sizeof(ebuf), "protocol error"));
}

static int tls_handshake(struct out_syslog_net *n, int64_t deadline, struct df_err *err)
{
    ERR_clear_error();
    n->ssl = SSL_new(n->ctx);
    if (n->ssl == NULL || SSL_set_fd(n->ssl, n->fd) != 1 || SSL_set_app_data(n->ssl, n) != 1)
        return fail(n, err, "out of memory for TLS");
    n->bad_cert[0] = '\0';
    if (n->o->verify_b) {
        /* Chain and name: a valid certificate for some other host proves nothing. */
        SSL_set_hostflags(n->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (n->ip_literal ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(n->ssl), n->o->host) != 1
                          : SSL_set1_host(n->ssl, n->o->host) != 1)
            return fail(n, err, "cannot set the host name to verify");
    }
    /* SNI carries names only (RFC 6066 §3). */
    if (!n->ip_literal && SSL_set_tlsext_host_name(n->ssl, n->o->host) != 1)
        return fail(n, err, "cannot set the TLS server name");
    for (;;) {
        int r, se, ev;
        struct pollfd p;

        errno = 0;
        r = SSL_connect(n->ssl);
        if (r == 1)
            return DF_OK;
        se = SSL_get_error(n->ssl, r);
        if (se == SSL_ERROR_WANT_READ)
            ev = POLLIN;
        else if (se == SSL_ERROR_WANT_WRITE)
            ev = POLLOUT;
        else
            return handshake_failed(n, r, err);
        p.fd = n->fd;
        p.events = (short) ev;
        r = poll(&p, 1, remaining(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return fail(n, err, "TLS handshake failed: %s",
                        r == 0 ? "timed out (is the receiver speaking TLS?)" : strerror(errno));
    }
}

static int connect_now(struct out_syslog_net *n, struct df_err *err)
{
    struct addrinfo hints, *res = NULL;
    int64_t deadline = mono_ms() + n->o->timeout_ms;
    int gai, e = 0, one = 1;
    char why[300] = "no address";

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = n->o->transport_e == OUT_SYSLOG_UDP ? SOCK_DGRAM : SOCK_STREAM;
    /* getaddrinfo() cannot be bounded; the resolver's own timeouts (resolv.conf) apply. */
    gai = getaddrinfo(n->o->host, n->port, &hints, &res);
    if (gai != 0)
        return fail(n, err, "cannot resolve the host: %s",
                    gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        n->fd = connect_one(ai, deadline);
        if (n->fd >= 0) {
            describe_peer(n, ai);
            break;
        }
        e = errno;
        describe_peer(n, ai);
        snprintf(why, sizeof(why), "connect to %s: %s", n->peer, strerror(e));
        if (remaining(deadline) == 0)
            break;
    }
    freeaddrinfo(res);
    if (n->fd < 0)
        return fail(n, err, "%s", why);
    if (n->o->transport_e == OUT_SYSLOG_UDP)
        return DF_OK;
    /* Keepalive notices a vanished receiver on an idle connection, so the next batch does not
     * have to find out by timing out. */
    (void) setsockopt(n->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    if (n->o->transport_e == OUT_SYSLOG_TLS && tls_handshake(n, deadline, err) != DF_OK)
        return DF_EIO;
    if (n->ssl != NULL)
        log_info("out_syslog",
                 "connected output=%s host=%s address=%s port=%s transport=tls "
                 "tls_version=%s cipher=%s verify=%s",
                 n->name, n->o->host, n->peer, n->port, SSL_get_version(n->ssl),
                 SSL_get_cipher_name(n->ssl), n->o->verify_b ? "on" : "off");
    else
        log_info("out_syslog", "connected output=%s host=%s address=%s port=%s transport=%s",
                 n->name, n->o->host, n->peer, n->port, transport_name(n));
    return DF_OK;
}

int out_syslog_net_ready(struct out_syslog_net *n, struct df_err *err)
{
    const char *why = NULL;

    if (n->fd >= 0 && n->o->transport_e != OUT_SYSLOG_UDP && peer_check(n, &why) != DF_OK) {
        /* An idle connection the receiver dropped (restart, idle timeout): reconnect now; the
         * data sent before was acknowledged, so nothing is owed on the old one. */
        log_info("out_syslog",
                 "connection closed by the receiver, reconnecting output=%s "
                 "reason=\"%s\"",
                 n->name, why);
        out_syslog_net_close(n, 0);
    }
    if (n->fd >= 0)
        return DF_OK;
    return connect_now(n, err);
}

/* Waits for ev (plus input, which may be the receiver going away) until deadline. Returns
 * 1 when ev is ready, 0 when it is time to retry the operation, -1 on failure (why set). */
static int wait_io(struct out_syslog_net *n, short ev, int64_t deadline, const char **why)
{
    struct pollfd p = {.fd = n->fd, .events = (short) (ev | POLLIN)};
    int r = poll(&p, 1, remaining(deadline));

    if (r < 0)
        return errno == EINTR ? 0 : (*why = strerror(errno), -1);
    if (r == 0) {
        *why = NULL; /* timed out */
        return -1;
    }
    if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
        if (peer_check(n, why) != DF_OK)
            return -1;
    }
    return (p.revents & ev) ? 1 : 0;
}

int out_syslog_net_send(struct out_syslog_net *n, const char *buf, size_t len, struct df_err *err)
{
    size_t off = 0;
    int64_t deadline = mono_ms() + n->o->timeout_ms;
    char ebuf[600];
    const char *why;

    if (NEVER(n->fd < 0))
        return df_err_set(err, DF_EIO, "not connected");
    while (off < len) {
        short ev = POLLOUT;
        ssize_t w;

        if (n->ssl != NULL) {
            size_t chunk = len - off < TLS_WRITE_CHUNK ? len - off : TLS_WRITE_CHUNK;
            int r, se;
            ERR_clear_error();
            errno = 0;
            r = SSL_write(n->ssl, buf + off, (int) chunk);
            if (r > 0) {
                off += (size_t) r;
                deadline = mono_ms() + n->o->timeout_ms; /* progress */
                continue;
            }
            se = SSL_get_error(n->ssl, r);
            if (se == SSL_ERROR_WANT_READ)
                ev = POLLIN;
            else if (se != SSL_ERROR_WANT_WRITE)
                return fail(n, err, "TLS write failed: %s",
                            se == SSL_ERROR_SYSCALL && ERR_peek_error() == 0
                                ? (errno ? strerror(errno) : "connection closed")
                                : ssl_errors(ebuf, sizeof(ebuf), "protocol error"));
        } else {
            w = send(n->fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) {
                off += (size_t) w;
                deadline = mono_ms() + n->o->timeout_ms;
                continue;
            }
            if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                return fail(n, err, "send failed: %s", strerror(errno));
        }
        if (wait_io(n, ev, deadline, &why) < 0) {
            if (why != NULL)
                return fail(n, err, "%s while sending", why);
            return fail(n, err, "the receiver took nothing for %lld ms (%zu of %zu bytes sent)",
                        (long long) n->o->timeout_ms, off, len);
        }
    }
    return DF_OK;
}

int out_syslog_net_wait_acked(struct out_syslog_net *n, struct df_err *err)
{
    int64_t deadline = mono_ms() + n->o->timeout_ms;
    int pending, last = -1, step = 1;
    const char *why;

    if (NEVER(n->fd < 0))
        return df_err_set(err, DF_EIO, "not connected");
    for (;;) {
        struct pollfd p = {.fd = n->fd, .events = POLLIN};
        int r;

        if (ioctl(n->fd, SIOCOUTQ, &pending) != 0)
            return fail(n, err, "cannot read the send queue: %s", strerror(errno));
        if (pending == 0)
            return DF_OK;
        if (pending != last) {
            last = pending;
            deadline = mono_ms() + n->o->timeout_ms; /* progress */
        }
        if (remaining(deadline) == 0)
            return fail(n, err, "%d bytes not acknowledged by the receiver within %lld ms", pending,
                        (long long) n->o->timeout_ms);
        r = poll(&p, 1, step < remaining(deadline) ? step : remaining(deadline));
        if (r < 0 && errno != EINTR)
            return fail(n, err, "poll: %s", strerror(errno));
        if (r > 0 && peer_check(n, &why) != DF_OK)
            return fail(n, err, "%s with %d bytes not acknowledged", why, pending);
        if (step < ACK_POLL_MAX_MS)
            step *= 2;
    }
}

int out_syslog_net_send_datagram(struct out_syslog_net *n, const char *buf, size_t len,
                                 struct df_err *err)
{
    int64_t deadline = mono_ms() + n->o->timeout_ms;

    if (NEVER(n->fd < 0))
        return df_err_set(err, DF_EIO, "not connected");
    for (;;) {
        ssize_t w = send(n->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        struct pollfd p = {.fd = n->fd, .events = POLLOUT};

        if (w == (ssize_t) len)
            return DF_OK;
        if (w >= 0)
            return fail(n, err, "datagram sent short");
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ENOBUFS)
            return fail(n, err, "send failed: %s", strerror(errno));
        if (poll(&p, 1, remaining(deadline)) == 0 || remaining(deadline) == 0)
            return fail(n, err, "socket not writable within the timeout");
    }
}

void out_syslog_net_close(struct out_syslog_net *n, int clean)
{
    int64_t deadline;
    char buf[4096];

    if (n == NULL || n->fd < 0)
        return;
    if (!clean || n->o->transport_e == OUT_SYSLOG_UDP) {
        drop(n);
        return;
    }
    deadline = mono_ms() + (n->o->timeout_ms < CLOSE_WAIT_MS ? n->o->timeout_ms : CLOSE_WAIT_MS);
    if (n->ssl != NULL) {
        /* close_notify (RFC 5425 §4.4): without it rsyslog's gtls driver logs error -110. */
        for (;;) {
            int r, se;
            struct pollfd p = {.fd = n->fd, .events = POLLOUT};
            ERR_clear_error();
            r = SSL_shutdown(n->ssl);
            if (r >= 0)
                break;
            se = SSL_get_error(n->ssl, r);
            if (se == SSL_ERROR_WANT_READ)
                p.events = POLLIN;
            else if (se != SSL_ERROR_WANT_WRITE)
                break;
            if (poll(&p, 1, remaining(deadline)) <= 0)
                break;
        }
    }
    (void) shutdown(n->fd, SHUT_WR);
    /* Read until the receiver closes its end: closing with unread input would send a reset,
     * which may discard what the receiver has not read yet. rsyslog's gtls driver answers
     * with a plain EOF instead of its own close_notify; after all data was written that is a
     * normal end too (formats.md §2.3). */
    for (;;) {
        struct pollfd p = {.fd = n->fd, .events = POLLIN};
        ssize_t r;
        if (poll(&p, 1, remaining(deadline)) <= 0)
            break;
        r = recv(n->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            break;
    }
    log_info("out_syslog", "connection closed output=%s host=%s", n->name, n->o->host);
    drop(n);
}
