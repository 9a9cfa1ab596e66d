"""Plain TCP and UDP syslog into a real rsyslog: RFC 5424 with newline framing, RFC 3164 with
octet counting and a 1024-byte cap (CEF shortened at field boundaries, still parseable), and
a UDP smoke test."""
import os
import unittest

import harness
import rsyslog_helper as rs


class SyslogTCP(harness.ForwarderTest):
    def setUp(self):
        super().setUp()
        if not rs.plugin_available(self.workdir):
            self.skipTest("this build has no syslog output (DF_PLUGIN_OUT_SYSLOG=OFF)")
        self.recv = None

    def tearDown(self):
        if self.recv is not None:
            self.recv.stop()
        super().tearDown()

    def test_tcp_rfc5424_newline_and_rfc3164(self):
        emu = self.emulator("--generate", "150", "--seed", "21")
        self.recv = rs.Rsyslog(self.workdir, transport="tcp").start()
        cef_path = os.path.join(self.workdir, "events.cef")
        cfg = rs.write_config(self.workdir, emu.url, [("archive", "cef", cef_path)], [
            rs.syslog_output_yaml("nl5424", "cef", "127.0.0.1", self.recv.port, "tcp",
                                  protocol="rfc5424", framing="newline",
                                  extra={"app_name": "dfw-nl"}),
            rs.syslog_output_yaml("oc3164", "cef", "localhost", self.recv.port, "tcp",
                                  protocol="rfc3164", framing="octet-counting",
                                  extra={"app_name": "dfw3164", "hostname": "fwd-host",
                                         "facility": "user", "max_message_bytes": 1024}),
        ])
        p = harness.run_once(cfg)
        lines = harness.read_lines(cef_path)
        by_id = {harness.cef_event_id(l): l for l in lines}
        self.assertEqual(len(by_id), len(lines))
        self.assertTrue(harness.wait_for(lambda: self.recv.count() >= 2 * len(lines), 20))
        self.recv.stop()
        msgs = self.recv.messages()
        self.assertEqual(len(msgs), 2 * len(lines))
        nl = [m for m in msgs if m["programname"] == "dfw-nl"]
        old = [m for m in msgs if m["programname"] == "dfw3164"]
        self.assertEqual(len(nl), len(lines))
        self.assertEqual(len(old), len(lines))

        # RFC 5424 with LF framing: each event is one message, byte for byte.
        self.assertEqual(sorted(rs.sd_event_id(m) for m in nl), sorted(by_id))
        for m in nl:
            self.assertEqual(m["protocol-version"], "1")
            self.assertEqual(m["msg"], by_id[rs.sd_event_id(m)])

        # RFC 3164: no structured data, so the event id travels in CEF cs6 only.
        cut = 0
        seen = []
        for m in old:
            self.assertEqual(m["protocol-version"], "0")
            self.assertEqual(m["hostname"], "fwd-host")
            self.assertRegex(m["syslogtag"], r"^dfw3164\[[0-9]+\]:$")
            self.assertEqual(m["syslogfacility"], "1")
            self.assertLessEqual(len(m["rawmsg"].encode()), 1024)
            payload = m["msg"]  # the receiver's mmrm1stspace took the space after the tag
            cef = m["$!"].get("cef")
            self.assertIsNotNone(cef, "mmnormalize rejected: " + payload[:200])
            eid = cef["Extensions"]["cs6"]
            seen.append(eid)
            if payload != by_id[eid]:
                cut += 1
                self.assertIn("[truncated]", payload)
                self.assertTrue(payload.startswith("CEF:0|Microsoft|Microsoft 365 Defender|"))
        self.assertEqual(sorted(seen), sorted(by_id))
        self.assertGreater(cut, 0, "no event needed shortening at 1024 bytes")
        self.assertIn("event shortened to fit max_message_bytes output=oc3164", p.stderr)
        # Shortened CEF still parses field by field (liblognorm, first-key workaround).
        parsed = rs.lognormalize_cef([m["msg"] for m in old], self.workdir)
        self.assertNotIn(None, parsed)
        for c in parsed:
            self.assertIn("externalId", c["Extensions"])
            self.assertIn("cs6", c["Extensions"])

    def test_udp_smoke(self):
        emu = self.emulator("--generate", "30", "--seed", "4")
        self.recv = rs.Rsyslog(self.workdir, transport="udp").start()
        json_path = os.path.join(self.workdir, "events.json")
        cfg = rs.write_config(self.workdir, emu.url, [("archive", "json", json_path)], [
            rs.syslog_output_yaml("dgram", "json", "127.0.0.1", self.recv.port, "udp",
                                  extra={"max_message_bytes": 2048})])
        p = harness.run_once(cfg)
        self.assertIn("transport=udp", p.stderr)
        events = harness.read_json_events(json_path)
        # Best effort by nature, but loopback with a waiting receiver does not drop.
        self.assertTrue(harness.wait_for(lambda: self.recv.count() >= len(events), 20))
        self.recv.stop()
        msgs = self.recv.messages()
        self.assertEqual(sorted(rs.sd_event_id(m) for m in msgs),
                         sorted(e["event_id"] for e in events))
        for m in msgs:
            self.assertLessEqual(len(m["rawmsg"].encode()), 2048)
            self.assertEqual(m["$!"]["event_id"], rs.sd_event_id(m))


if __name__ == "__main__":
    unittest.main()
