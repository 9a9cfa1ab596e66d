"""A 500-incident backfill lands in JSON and CEF file outputs exactly once, and a second run
adds nothing."""
import os
import re
import unittest

import harness


class Backfill(harness.ForwarderTest):
    def test_backfill_exactly_once_json_and_cef(self):
        emu = self.emulator("--generate", "500", "--seed", "7")
        json_path = os.path.join(self.workdir, "out", "events.json")
        cef_path = os.path.join(self.workdir, "out", "events.cef")
        os.makedirs(os.path.dirname(json_path))
        cfg = harness.write_config(self.workdir, emu.url,
                                   [("archive", "json", json_path), ("siem", "cef", cef_path)])
        harness.run_once(cfg)

        expected = harness.expected_backfill(emu)
        events = harness.read_json_events(json_path)
        self.assertGreater(len(expected), 500)
        self.assert_exactly_once(events, expected)
        incidents = [e for e in events if e["type"] == "incident"]
        self.assertEqual(len(incidents), 500)
        for e in events:
            self.assertEqual(e["tenant"], "contoso")
            self.assertNotIn("alerts", e["incident"])
            self.assertIsInstance(e["incident"]["alertCount"], int)
            self.assertEqual(set(e), {"type", "event_id", "tenant", "incident"} |
                             ({"alert"} if e["type"] == "alert" else set()))

        cef = harness.read_lines(cef_path)
        self.assertEqual(len(cef), len(events))
        header = re.compile(r"^CEF:0\|Microsoft\|Microsoft 365 Defender\|1\.0\|")
        for line in cef:
            self.assertRegex(line, header)
        cef_ids = [harness.cef_event_id(l) for l in cef]
        self.assertEqual(sorted(cef_ids), sorted(e["event_id"] for e in events))

        # The API's call budget: a backfill should cost about one call per 80-100 incidents.
        stats = emu.control("stats")
        self.assertLessEqual(stats["calls"]["list"], 20, stats)

        # A second run re-reads the lag window and must add nothing.
        harness.run_once(cfg)
        self.assertEqual(len(harness.read_json_events(json_path)), len(events))
        self.assertEqual(len(harness.read_lines(cef_path)), len(cef))


if __name__ == "__main__":
    unittest.main()
