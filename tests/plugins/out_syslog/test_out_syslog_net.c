/* The syslog output's connection against real loopback sockets opened by the test: bounded
 * waits, acknowledgement, a receiver that closes or stops reading. (TLS is covered against a
 * real rsyslog in tests/integration/test_syslog*.py.) */
#include "../../unit/unit.h"

#include "out_syslog/out_syslog_net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* A loopback socket of type on a free port; *port gets the port. */
static int listener(int type, uint16_t *port)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, type, 0);

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof(a)) != 0 ||
        (type == SOCK_STREAM && listen(fd, 8) != 0) ||
        getsockname(fd, (struct sockaddr *) &a, &al) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static void opts_for(struct out_syslog_opts *o, enum out_syslog_transport t, uint16_t port)
{
    memset(o, 0, sizeof(*o));
    o->host = "127.0.0.1";
    o->transport_e = t;
    o->port_n = port;
    o->timeout_ms = 1000;
}

static void test_refused(void)
{
    struct out_syslog_opts o;
    struct out_syslog_net *n = NULL;
    struct df_err err = {0};
    uint16_t port;
    int fd = listener(SOCK_STREAM, &port);
    double t0;

    CU_ASSERT_FATAL(fd >= 0);
    close(fd); /* nobody listens there now */
    opts_for(&o, OUT_SYSLOG_TCP, port);
    CU_ASSERT_EQUAL_FATAL(out_syslog_net_new(&n, "t", &o, &err), DF_OK);
    t0 = now_s();
    CU_ASSERT_EQUAL(out_syslog_net_ready(n, &err), DF_EIO);
    CU_ASSERT(now_s() - t0 < 1.0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "syslog tcp://127.0.0.1:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "Connection refused"));
    out_syslog_net_free(n);
}

static void test_send_acked(void)
{
    struct out_syslog_opts o;
    struct out_syslog_net *n = NULL;
    struct df_err err = {0};
    uint16_t port;
    int lfd = listener(SOCK_STREAM, &port), cfd;
    size_t len = 100 * 1024, got = 0;
    char *buf = malloc(len), *rcv = malloc(len);

    CU_ASSERT_FATAL(lfd >= 0 && buf != NULL && rcv != NULL);
    for (size_t i = 0; i < len; i++)
        buf[i] = (char) ('a' + i % 26);
    opts_for(&o, OUT_SYSLOG_TCP, port);
    CU_ASSERT_EQUAL_FATAL(out_syslog_net_new(&n, "t", &o, &err), DF_OK);
    CU_ASSERT_EQUAL_FATAL(out_syslog_net_ready(n, &err), DF_OK);
    cfd = accept(lfd, NULL, NULL);
    CU_ASSERT_FATAL(cfd >= 0);
    CU_ASSERT_EQUAL(out_syslog_net_send(n, buf, len, &err), DF_OK);
    /* The receiver's kernel acknowledges what fits in its buffer, read or not. */
    CU_ASSERT_EQUAL(out_syslog_net_wait_acked(n, &err), DF_OK);
    while (got < len) {
        ssize_t r = recv(cfd, rcv + got, len - got, 0);
        if (r <= 0)
            break;
        got += (size_t) r;
    }
    CU_ASSERT_EQUAL(got, len);
    CU_ASSERT_EQUAL(memcmp(buf, rcv, len), 0);
    /* A ready connection stays: no reconnect, no second accept needed. */
    CU_ASSERT_EQUAL(out_syslog_net_ready(n, &err), DF_OK);
    CU_ASSERT_EQUAL(out_syslog_net_send(n, "x", 1, &err), DF_OK);
    CU_ASSERT_EQUAL(out_syslog_net_wait_acked(n, &err), DF_OK);
    CU_ASSERT_EQUAL(recv(cfd, rcv, 1, 0), 1);
    /* A clean close ends in an orderly EOF at the receiver. */
    out_syslog_net_close(n, 1);
    CU_ASSERT_EQUAL(recv(cfd, rcv, 1, 0), 0);
    out_syslog_net_free(n);
    close(cfd);
    close(lfd);
    free(buf);
    free(rcv);
}

/* A receiver that accepts but never reads: the send gives up after the timeout without
 * progress instead of blocking the single-threaded core. */
static void test_stuck_receiver(void)
{
    struct out_syslog_opts o;
    struct out_syslog_net *n = NULL;
    struct df_err err = {0};
    uint16_t port;
    int lfd = listener(SOCK_STREAM, &port), cfd;
    size_t len = 256u * 1024 * 1024;
    char *buf = calloc(1, len);
    double t0;

    CU_ASSERT_FATAL(lfd >= 0 && buf != NULL);
    opts_for(&o, OUT_SYSLOG_TCP, port);
    CU_ASSERT_EQUAL_FATAL(out_syslog_net_new(&n, "t", &o, &err), DF_OK);
    CU_ASSERT_EQUAL_FATAL(out_syslog_net_ready(n, &err), DF_OK);
    cfd = accept(lfd, NULL, NULL);
    CU_ASSERT_FATAL(cfd >= 0);
    t0 = now_s();
    CU_ASSERT_EQUAL(out_syslog_net_send(n, buf, len, &err), DF_EIO);
    CU_ASSERT(now_s() - t0 < 5.0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "the receiver took nothing for 1000 ms"));
    out_syslog_net_free(n);
    close(cfd);
    close(lfd);
    free(buf);
}

static void test_receiver_closed(void)
{
    struct out_syslog_opts o;
    struct out_syslog_net *n = NULL;
    struct df_err err = {0};
    uint16_t port;
    int lfd = listener(SOCK_STREAM, &port), cfd;
    char c;

    CU_ASSERT_FATAL(lfd >= 0);
    opts_for(&o, OUT_SYSLOG_TCP, port);
    CU_ASSERT_EQUAL_FATAL(out_syslog_net_new(&n, "t", &o, &err), DF_OK);
    CU_ASSERT_EQUAL_FATAL(out_syslog_net_ready(n, &err), DF_OK);
    cfd = accept(lfd, NULL, NULL);
    CU_ASSERT_FATAL(cfd >= 0);
    close(cfd); /* the receiver restarts */
    usleep(20000);
    /* The idle connection is found closed and replaced by a new one. */
    CU_ASSERT_EQUAL(out_syslog_net_ready(n, &err), DF_OK);
    cfd = accept(lfd, NULL, NULL);
    CU_ASSERT_FATAL(cfd >= 0);
    CU_ASSERT_EQUAL(out_syslog_net_send(n, "hello", 5, &err), DF_OK);
    CU_ASSERT_EQUAL(out_syslog_net_wait_acked(n, &err), DF_OK);
    CU_ASSERT_EQUAL(recv(cfd, &c, 1, 0), 1);
    CU_ASSERT_EQUAL(c, 'h');
    /* Now the receiver goes away for good. */
    close(cfd);
    close(lfd);
    usleep(20000);
    CU_ASSERT_EQUAL(out_syslog_net_ready(n, &err), DF_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "Connection refused"));
    out_syslog_net_free(n);
}

static void test_udp(void)
{
    struct out_syslog_opts o;
    struct out_syslog_net *n = NULL;
    struct df_err err = {0};
    uint16_t port;
    int fd = listener(SOCK_DGRAM, &port);
    char buf[64];

    CU_ASSERT_FATAL(fd >= 0);
    opts_for(&o, OUT_SYSLOG_UDP, port);
    CU_ASSERT_EQUAL_FATAL(out_syslog_net_new(&n, "t", &o, &err), DF_OK);
    CU_ASSERT_EQUAL_FATAL(out_syslog_net_ready(n, &err), DF_OK);
    CU_ASSERT_EQUAL(out_syslog_net_send_datagram(n, "<13>1 one", 9, &err), DF_OK);
    CU_ASSERT_EQUAL(out_syslog_net_send_datagram(n, "<13>1 two", 9, &err), DF_OK);
    CU_ASSERT_EQUAL(recv(fd, buf, sizeof(buf), 0), 9);
    CU_ASSERT_EQUAL(memcmp(buf, "<13>1 one", 9), 0);
    CU_ASSERT_EQUAL(recv(fd, buf, sizeof(buf), 0), 9);
    CU_ASSERT_EQUAL(memcmp(buf, "<13>1 two", 9), 0);
    out_syslog_net_free(n);
    close(fd);
}

void unit_register(void)
{
    CU_pSuite s = CU_add_suite("out_syslog_net", NULL, NULL);
    CU_add_test(s, "refused connection fails fast", test_refused);
    CU_add_test(s, "send and wait for the acknowledgement", test_send_acked);
    CU_add_test(s, "a receiver that stops reading", test_stuck_receiver);
    CU_add_test(s, "a receiver that closes", test_receiver_closed);
    CU_add_test(s, "udp datagrams", test_udp);
}
