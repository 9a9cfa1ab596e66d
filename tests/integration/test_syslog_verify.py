"""TLS verification: a receiver certificate from the wrong CA, or for another host, makes the
syslog output refuse to send and say why in the log, while the file output still receives
everything; tls.verify: false sends to the same receivers. Mutual TLS: a receiver that
requires client certificates takes the output that has one and refuses the other."""
import os
import time
import unittest

import harness
import rsyslog_helper as rs


class SyslogVerify(harness.ForwarderTest):
    def setUp(self):
        super().setUp()
        if not rs.plugin_available(self.workdir):
            self.skipTest("this build has no syslog output (DF_PLUGIN_OUT_SYSLOG=OFF)")
        self.receivers = []

    def tearDown(self):
        for r in self.receivers:
            r.stop()
        super().tearDown()

    def test_wrong_ca_and_wrong_name_refused(self):
        emu = self.emulator("--generate", "40", "--seed", "9")
        certs = rs.make_certs(self.workdir)
        other_ca = rs.make_certs(self.workdir, prefix="other-")[0]
        # Signed by the right CA, but for another host only.
        other_host = rs.make_certs(self.workdir, server_names=("siem.example.com",),
                                   server_ips=(), prefix="name-",
                                   ca=(certs[0], os.path.join(self.workdir, "ca.key")))

        good = rs.Rsyslog(self.workdir, transport="tls", driver="ossl", certs=certs,
                          name="rs-good")
        misnamed = rs.Rsyslog(self.workdir, transport="tls", driver="gtls",
                              certs=(certs[0], other_host[1], other_host[2]), name="rs-name")
        for r in (good, misnamed):
            self.receivers.append(r)
            r.start()

        cef_path = os.path.join(self.workdir, "events.cef")
        cfg = rs.write_config(self.workdir, emu.url, [("archive", "cef", cef_path)], [
            rs.syslog_output_yaml("wrongca", "cef", "localhost", good.port, ca_file=other_ca),
            rs.syslog_output_yaml("wrongname", "cef", "127.0.0.1", misnamed.port,
                                  ca_file=certs[0]),
            rs.syslog_output_yaml("noverify", "cef", "127.0.0.1", misnamed.port,
                                  verify=False, extra={"app_name": "noverify"}),
        ])
        fwd = self.daemon(cfg)
        expected = harness.expected_backfill(emu)

        def refused():
            log = self.log_text()
            return ("retry output=wrongca" in log and "retry output=wrongname" in log)

        self.assertTrue(harness.wait_for(
            lambda: harness.count_lines(cef_path) >= len(expected) and refused(), 30),
            self.log_text()[-3000:])
        # The unverified output reached the receiver the verifying one refused.
        self.assertTrue(harness.wait_for(lambda: misnamed.count() >= len(expected), 20))
        time.sleep(0.5)
        self.stop_daemon(fwd)
        log = self.log_text()

        # The file output got everything, exactly once.
        lines = harness.read_lines(cef_path)
        self.assertEqual(len(lines), len(expected))
        # The receivers got nothing from the refusing outputs.
        self.assertEqual(good.count(), 0)
        self.assertEqual({m["app-name"] for m in misnamed.messages()}, {"noverify"})
        self.assertEqual(len(misnamed.messages()), len(expected))
        # The log names the verification failure for each.
        wrongca = [l for l in log.splitlines() if "retry output=wrongca" in l]
        self.assertTrue(wrongca)
        # rsyslog's ossl driver sends its CA along: OpenSSL then names that one.
        self.assertRegex(wrongca[0], "certificate verification failed: (unable to get local "
                         "issuer certificate|self-signed certificate in certificate chain) "
                         r"\(certificate /CN=forwarder-test-ca-main at depth 1")
        wrongname = [l for l in log.splitlines() if "retry output=wrongname" in l]
        self.assertTrue(wrongname)
        self.assertIn("certificate verification failed: IP address mismatch for host "
                      "127.0.0.1 (certificate /CN=siem.example.com at depth 0", wrongname[0])
        self.assertIn("TLS certificate verification is off", log)

    def test_mutual_tls(self):
        emu = self.emulator("--generate", "20", "--seed", "2")
        certs = rs.make_certs(self.workdir)
        client = rs.make_certs(self.workdir, server_names=("forwarder-client",), server_ips=(),
                               prefix="client-", usage="clientAuth",
                               ca=(certs[0], os.path.join(self.workdir, "ca.key")))
        recv = rs.Rsyslog(self.workdir, transport="tls", driver="ossl", certs=certs,
                          auth_mode="x509/certvalid")
        self.receivers.append(recv)
        recv.start()
        cef_path = os.path.join(self.workdir, "events.cef")
        cfg = rs.write_config(self.workdir, emu.url, [("archive", "cef", cef_path)], [
            rs.syslog_output_yaml("mtls", "cef", "localhost", recv.port, ca_file=certs[0],
                                  client_cert=client[1:], extra={"app_name": "mtls"}),
            rs.syslog_output_yaml("nocert", "cef", "localhost", recv.port, ca_file=certs[0],
                                  extra={"app_name": "nocert"}),
        ])
        fwd = self.daemon(cfg)
        expected = harness.expected_backfill(emu)
        self.assertTrue(harness.wait_for(
            lambda: recv.count() >= len(expected) and "retry output=nocert" in self.log_text(),
            30), self.log_text()[-3000:])
        time.sleep(0.5)
        self.stop_daemon(fwd)
        msgs = recv.messages()
        self.assertEqual({m["app-name"] for m in msgs}, {"mtls"})
        self.assertEqual(len(msgs), len(expected))
        self.assertEqual(len(harness.read_lines(cef_path)), len(expected))
        # With TLS 1.3 the receiver checks the client's certificate after the client's side of
        # the handshake is done: only waiting for the acknowledgement shows the refusal.
        refusal = [l for l in self.log_text().splitlines() if "retry output=nocert" in l][0]
        self.assertRegex(refusal, "reset|closed")


if __name__ == "__main__":
    unittest.main()
