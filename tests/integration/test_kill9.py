"""A forwarder killed with SIGKILL mid-backfill, again and again, and finally restarted ends
with every event exactly once in its file outputs."""
import os
import random
import signal
import time
import unittest

import harness


class Kill9(harness.ForwarderTest):
    def test_sigkill_mid_backfill(self):
        # A generous quota: this test is about crash safety, not throttling.
        emu = self.emulator("--generate", "1500", "--seed", "5", "--quota-per-minute", "1000")
        json_path = os.path.join(self.workdir, "events.json")
        cef_path = os.path.join(self.workdir, "events.cef")
        cfg = harness.write_config(self.workdir, emu.url,
                                   [("archive", "json", json_path), ("siem", "cef", cef_path)],
                                   max_journal="4MiB")
        expected = harness.expected_backfill(emu)
        rnd = random.Random(1234)
        mid_kills = 0
        for i in range(8):
            p = self.daemon(cfg, "kill-%d.log" % i)
            # Wait until this run has started writing, then kill at a random moment.
            start = harness.count_lines(json_path)
            harness.wait_for(lambda: harness.count_lines(json_path) > start or
                             p.poll() is not None, 20, 0.01)
            time.sleep(rnd.uniform(0.0, 0.15))
            p.send_signal(signal.SIGKILL)
            p.wait()
            n = harness.count_lines(json_path)
            print("kill %d: %d of %d lines" % (i, n, len(expected)), flush=True)
            if 0 < n < len(expected):
                mid_kills += 1
            if n >= len(expected):
                break
        self.assertGreater(mid_kills, 0, "no kill landed mid-backfill; the test proves nothing")
        harness.run_once(cfg)
        events = harness.read_json_events(json_path)
        self.assert_exactly_once(events, expected)
        cef_ids = [harness.cef_event_id(l) for l in harness.read_lines(cef_path)]
        self.assertEqual(len(cef_ids), len(set(cef_ids)), "duplicate CEF events")
        self.assertEqual(set(cef_ids), {e["event_id"] for e in events})


if __name__ == "__main__":
    unittest.main()
