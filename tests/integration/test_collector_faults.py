"""A hostile API: a server quota of 20/min answered with 429s, and 20% 5xx plus dropped
connections and truncated bodies. Each test asserts exactly-once on the output."""
import unittest

import harness


class Faults(harness.ForwarderTest):
    def test_quota_of_20_per_minute(self):
        # 2,500 incidents need about 26 calls: more than the server's 20/min allows, so it
        # answers 429 and the forwarder must wait for Retry-After and carry on.
        emu = self.emulator("--generate", "2500", "--seed", "24", "--quota-per-minute", "20")
        cfg = harness.write_config(self.workdir, emu.url, [("archive", "json", self.out())])
        harness.run_once(cfg, timeout=240)
        self.assert_exactly_once(harness.read_json_events(self.out()),
                                 harness.expected_backfill(emu))
        self.assertGreater(emu.control("stats")["throttled"], 0)

    def test_transient_faults(self):
        emu = self.emulator("--generate", "1000", "--seed", "25", "--fault-5xx", "0.2",
                            "--fault-reset", "0.1", "--fault-truncate", "0.1")
        cfg = harness.write_config(self.workdir, emu.url, [("archive", "json", self.out())])
        p = harness.run_once(cfg, timeout=400)
        self.assert_exactly_once(harness.read_json_events(self.out()),
                                 harness.expected_backfill(emu))
        self.assertGreater(emu.control("stats")["faults"], 0)
        self.assertIn("retry", p.stderr.lower())


if __name__ == "__main__":
    unittest.main()
