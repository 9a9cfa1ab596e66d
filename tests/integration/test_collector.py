"""The collector against awkward data: 150 incidents on one lastUpdateTime tick, the
backfill call budget, and two tenants of which one has a wrong secret. Each test asserts
exactly-once on the output."""
import math
import unittest

import harness


class Collector(harness.ForwarderTest):
    def test_150_incidents_share_one_tick(self):
        emu = self.emulator("--generate", "300", "--seed", "22", "--same-tick", "150")
        cfg = harness.write_config(self.workdir, emu.url, [("archive", "json", self.out())])
        harness.run_once(cfg)
        self.assert_exactly_once(harness.read_json_events(self.out()),
                                 harness.expected_backfill(emu))

    def test_backfill_call_count_at_default_quota(self):
        emu = self.emulator("--generate", "2000", "--seed", "23")
        cfg = harness.write_config(self.workdir, emu.url, [("archive", "json", self.out())])
        harness.run_once(cfg)
        self.assert_exactly_once(harness.read_json_events(self.out()),
                                 harness.expected_backfill(emu))
        stats = emu.control("stats")
        print("2,000-incident backfill: %d list calls (ceil(N/100) = 20), %d throttled"
              % (stats["calls"]["list"], stats["throttled"]))
        self.assertLessEqual(stats["calls"]["list"], 1.2 * math.ceil(2000 / 100))
        self.assertEqual(stats["throttled"], 0)

    def test_two_tenants_one_with_a_wrong_secret(self):
        emu = self.emulator("--generate", "300", "--seed", "26")
        cfg = harness.write_config(self.workdir, emu.url, [("archive", "json", self.out())],
                                   tenants=("contoso", "fabrikam"),
                                   secrets={"fabrikam": "wrong-secret-value"})
        p = harness.run_once(cfg, check=False)
        self.assertEqual(p.returncode, 1, p.stderr[-3000:])
        self.assertIn("tenant=fabrikam", p.stderr)
        self.assertIn("invalid_client", p.stderr)
        self.assertNotIn("wrong-secret-value", p.stderr)
        events = harness.read_json_events(self.out())
        self.assertEqual({e["tenant"] for e in events}, {"contoso"})
        self.assert_exactly_once(events, harness.expected_backfill(emu))




if __name__ == "__main__":
    unittest.main()
