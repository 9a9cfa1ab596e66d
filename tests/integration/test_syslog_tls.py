"""Syslog over TLS into a real rsyslog: a 500-incident backfill arrives complete as RFC 5424
with the event id in structured data and a valid CEF payload; JSON events over the default
8096-byte limit arrive shortened and marked, never split; the TLS connection ends with
close_notify."""
import datetime
import json
import os
import re
import unittest

import harness
import rsyslog_helper as rs

# CEF severity (header field 7) -> syslog severity, docs/syslog.md.
SEVERITY = {"0": 5, "1": 6, "3": 5, "5": 4, "8": 3}
LOCAL4 = 20


def cef_severity(line):
    fields, cur, i = [], "", 0
    while i < len(line) and len(fields) < 7:
        c = line[i]
        if c == "\\":
            cur += line[i:i + 2]
            i += 2
            continue
        if c == "|":
            fields.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    return fields[6]


class SyslogTLS(harness.ForwarderTest):
    def setUp(self):
        super().setUp()
        if not rs.plugin_available(self.workdir):
            self.skipTest("this build has no syslog output (DF_PLUGIN_OUT_SYSLOG=OFF)")
        self.certs = rs.make_certs(self.workdir)
        self.receivers = []

    def tearDown(self):
        for r in self.receivers:
            r.stop()
        super().tearDown()

    def receiver(self, **kw):
        r = rs.Rsyslog(self.workdir, certs=self.certs, **kw)
        self.receivers.append(r)
        return r.start()

    def test_backfill_cef_rfc5424_gtls(self):
        emu = self.emulator("--generate", "500", "--seed", "7")
        recv = self.receiver(transport="tls", driver="gtls")
        cef_path = os.path.join(self.workdir, "events.cef")
        cfg = rs.write_config(
            self.workdir, emu.url, [("archive", "cef", cef_path)],
            # A host name, so SNI and name verification against the SAN are exercised.
            [rs.syslog_output_yaml("siem", "cef", "localhost", recv.port, "tls",
                                   ca_file=self.certs[0])])
        p = harness.run_once(cfg)
        self.assertIn("transport=tls", p.stderr)
        self.assertIn("verify=on", p.stderr)

        lines = harness.read_lines(cef_path)
        self.assertGreater(len(lines), 2000)
        self.assertTrue(harness.wait_for(lambda: recv.count() >= len(lines), 20),
                        "rsyslog got %d of %d" % (recv.count(), len(lines)))
        recv.stop()
        msgs = recv.messages()
        # Exactly as many as the file output has: nothing lost, nothing split or doubled.
        self.assertEqual(len(msgs), len(lines))
        by_id = {harness.cef_event_id(l): l for l in lines}
        self.assertEqual(len(by_id), len(lines))
        ids = [rs.sd_event_id(m) for m in msgs]
        self.assertEqual(sorted(ids), sorted(by_id))

        for m, eid in zip(msgs, ids):
            line = by_id[eid]
            self.assertEqual(m["protocol-version"], "1")
            self.assertEqual(m["app-name"], "defender-forwarder")
            self.assertRegex(m["procid"], r"^[0-9]+$")
            self.assertNotEqual(m["hostname"], "")
            sig = line.split("|")[4]
            self.assertEqual(m["msgid"], "incident" if sig == "incident" else "alert")
            # The payload is the CEF line byte for byte, with no BOM in front.
            self.assertEqual(m["msg"], line)
            self.assertFalse(m["rawmsg"].startswith("\ufeff"))
            self.assertEqual(int(m["syslogfacility"]), LOCAL4)
            self.assertEqual(int(m["syslogseverity"]), SEVERITY[cef_severity(line)])
            sd = m["$!"]["rfc5424-sd"]["dfw@32473"]
            self.assertEqual(sd["tenant"], "contoso")
            self.assertNotIn("truncated", sd)
            # rsyslog's own CEF parser (mmnormalize) took it; cs6 is never the first key, so
            # liblognorm's first-key bug (formats.md §3.6) does not touch it.
            cef = m["$!"].get("cef")
            self.assertIsNotNone(cef, m["msg"][:200])
            self.assertEqual(cef["DeviceProduct"], "Microsoft 365 Defender")
            self.assertEqual(cef["Extensions"]["cs6"], eid)
            # TIMESTAMP is the event's version time (CEF rt, epoch ms).
            rt = int(re.search(r" rt=([0-9]+)", line).group(1))
            want = datetime.datetime.fromtimestamp(rt / 1000, datetime.timezone.utc)
            self.assertTrue(m["timereported"].startswith(want.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23]),
                            (m["timereported"], rt))

        # The same payloads through liblognorm with the first-key workaround: every field.
        parsed = rs.lognormalize_cef([m["msg"] for m in msgs], self.workdir)
        bad = [m["msg"][:120] for m, c in zip(msgs, parsed) if c is None]
        self.assertEqual(bad, [], "CEF payloads lognormalizer rejects")
        for m, c in zip(msgs, parsed):
            self.assertIn("rt", c["Extensions"])
            self.assertIn("externalId", c["Extensions"])
            self.assertEqual(c["Extensions"]["cs6"], rs.sd_event_id(m))

        # close_notify was sent: rsyslog's gtls driver reports -110 otherwise.
        self.assertNotIn("non-properly terminated", recv.stderr())
        self.assertNotIn("-110", recv.stderr())

    def test_json_over_limit_is_shortened_not_split_ossl(self):
        emu = self.emulator("--generate", "100", "--seed", "7")
        # rsyslog's default maxMessageSize (8096): a longer message would arrive in two parts.
        recv = self.receiver(transport="tls", driver="ossl")
        json_path = os.path.join(self.workdir, "events.json")
        cfg = rs.write_config(
            self.workdir, emu.url, [("archive", "json", json_path)],
            [rs.syslog_output_yaml("siem", "json", "127.0.0.1", recv.port, "tls",
                                   ca_file=self.certs[0])])
        p = harness.run_once(cfg)
        events = harness.read_json_events(json_path)
        long_ones = {e["event_id"] for e in events
                     if len(json.dumps(e, ensure_ascii=False, separators=(",", ":"))
                            .encode()) > 7800}
        self.assertTrue(long_ones, "the data set has no event near the limit")
        self.assertTrue(harness.wait_for(lambda: recv.count() >= len(events), 20))
        recv.stop()
        msgs = recv.messages()
        self.assertEqual(len(msgs), len(events))
        self.assertEqual(sorted(rs.sd_event_id(m) for m in msgs),
                         sorted(e["event_id"] for e in events))
        cut = 0
        for m in msgs:
            self.assertLessEqual(len(m["rawmsg"].encode()), 8096)
            payload = json.loads(m["msg"])  # valid JSON, whole or shortened
            self.assertEqual(payload["event_id"], rs.sd_event_id(m))
            self.assertEqual(m["$!"]["event_id"], payload["event_id"])  # mmjsonparse took it
            sd = m["$!"]["rfc5424-sd"]["dfw@32473"]
            if "truncated" in sd:
                cut += 1
                self.assertIn(payload["event_id"], long_ones)
                self.assertGreater(int(sd["truncated"]), len(m["msg"].encode()))
                self.assertIn("[truncated]", m["msg"])
                self.assertEqual(set(payload), {"type", "event_id", "tenant", "incident",
                                                "alert"})
        self.assertGreater(cut, 0)
        self.assertIn("event shortened to fit max_message_bytes", p.stderr)
        self.assertIn("truncated=%d" % cut, p.stderr)


if __name__ == "__main__":
    unittest.main()
