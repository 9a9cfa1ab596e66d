"""The syslog receiver stopped for 10 s mid-run and restarted loses nothing: every event the
file output has reaches rsyslog at least once, duplicates only around the outage, and the
collector and the file output keep going while the receiver is down."""
import collections
import os
import time
import unittest

import harness
import rsyslog_helper as rs


class SyslogOutage(harness.ForwarderTest):
    def setUp(self):
        super().setUp()
        if not rs.plugin_available(self.workdir):
            self.skipTest("this build has no syslog output (DF_PLUGIN_OUT_SYSLOG=OFF)")
        self.recv = None

    def tearDown(self):
        if self.recv is not None:
            self.recv.stop()
        super().tearDown()

    def test_receiver_down_10s_loses_nothing(self):
        # The mutator keeps creating incident versions, so events flow before, during and
        # after the outage.
        emu = self.emulator("--generate", "500", "--seed", "3", "--mutate-rate", "4")
        certs = rs.make_certs(self.workdir)
        self.recv = rs.Rsyslog(self.workdir, transport="tls", driver="ossl", certs=certs)
        self.recv.start()
        cef_path = os.path.join(self.workdir, "events.cef")
        cfg = rs.write_config(
            self.workdir, emu.url, [("archive", "cef", cef_path)],
            [rs.syslog_output_yaml("siem", "cef", "localhost", self.recv.port, "tls",
                                   ca_file=certs[0], extra={"timeout": "2s"})])
        fwd = self.daemon(cfg)

        # Mid-run: the backfill is in and updates keep coming. Stop between two batches: the
        # receiver's kernel acknowledges what rsyslog may not have read yet, and a receiver
        # stopped at that instant loses it (docs/syslog.md §7) — a limit of TCP syslog that
        # this test is not about.
        self.assertTrue(harness.wait_for(lambda: self.recv.count() >= 2000, 60),
                        "backfill did not reach rsyslog\n" + self.log_text()[-3000:])
        last, quiet_since, give_up = -1, time.time(), time.time() + 20
        while time.time() - quiet_since < 0.3 and time.time() < give_up:
            n = self.recv.count()
            if n != last:
                last, quiet_since = n, time.time()
            time.sleep(0.02)
        self.recv.stop()
        received_before = len(self.recv.messages())
        file_at_stop = harness.count_lines(cef_path)
        time.sleep(10)
        # The collector and the file output went on without the receiver.
        file_after_outage = harness.count_lines(cef_path)
        self.assertGreater(file_after_outage, file_at_stop,
                           "file output stalled while the syslog receiver was down")
        log = self.log_text()
        self.assertIn("destination not available, will retry output=siem", log)

        self.recv.start()
        emu.control("config", {"mutate_rate": 0})
        # Let the last versions reach the journal and the file output, then check syslog.
        time.sleep(3)
        want = {harness.cef_event_id(l) for l in harness.read_lines(cef_path)}

        def all_in():
            got = {rs.sd_event_id(m) for m in self.recv.messages()}
            return want <= got

        self.assertTrue(harness.wait_for(all_in, 90, 0.5),
                        "events missing after the receiver came back\n" +
                        self.log_text()[-3000:])
        self.stop_daemon(fwd)
        self.recv.stop()

        lines = harness.read_lines(cef_path)
        file_ids = [harness.cef_event_id(l) for l in lines]
        self.assertEqual(len(file_ids), len(set(file_ids)), "file output has duplicates")
        msgs = self.recv.messages()
        ids = [rs.sd_event_id(m) for m in msgs]
        self.assertEqual(set(ids), set(file_ids), "syslog and file outputs differ")
        # Duplicates only around the outage: an event resent after the restart had been
        # received before the stop, and there are at most one batch of them.
        counts = collections.Counter(ids)
        dupes = {i for i, n in counts.items() if n > 1}
        before = set(ids[:received_before])
        self.assertTrue(dupes <= before, "duplicates away from the outage")
        self.assertTrue(all(n <= 2 for n in counts.values()), counts.most_common(3))
        self.assertLessEqual(len(dupes), 2000)
        self.assertIn("destination is back output=siem", self.log_text())
        print("events=%d syslog_messages=%d duplicates=%d file_growth_during_outage=%d"
              % (len(file_ids), len(ids), len(dupes), file_after_outage - file_at_stop),
              flush=True)


if __name__ == "__main__":
    unittest.main()
