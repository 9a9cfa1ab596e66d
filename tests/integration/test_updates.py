"""Incidents updated while the forwarder runs arrive once per version; a comment-only update
yields an incident event and no alert event; SIGTERM stops cleanly with exit 0."""
import os
import unittest

import harness


class Updates(harness.ForwarderTest):
    def test_updates_once_per_version(self):
        emu = self.emulator("--generate", "60", "--seed", "11")
        out = os.path.join(self.workdir, "events.json")
        cfg = harness.write_config(self.workdir, emu.url, [("archive", "json", out)],
                                   collector={"poll_interval": "1s", "lag": "5m"})
        fwd = self.daemon(cfg)
        expected = harness.expected_backfill(emu)
        self.assertTrue(harness.wait_for(lambda: len(harness.read_json_events(out)) >=
                                         len(expected), 60), "backfill not delivered")

        incidents = [i for i in emu.control("incidents")["value"] if i.get("alerts")]
        commented, changed = incidents[0], incidents[1]

        # A comment-only update: one incident event, no alert event.
        before = len(harness.read_json_events(out))
        v = emu.control("mutate", {"id": commented["incidentId"], "comment": "looked at it"})
        self.assertTrue(harness.wait_for(lambda: len(harness.read_json_events(out)) > before,
                                         30), "comment update not delivered")
        harness.wait_for(lambda: False, 2.5)  # let two more polls re-read the lag window
        new = harness.read_json_events(out)[before:]
        self.assertEqual([(e["type"], e["incident"]["lastUpdateTime"]) for e in new],
                         [("incident", v["lastUpdateTime"])])
        self.assertEqual(new[0]["incident"]["comments"][-1]["comment"], "looked at it")

        # A status change bumps the incident and all its alerts: every one arrives once.
        before = len(harness.read_json_events(out))
        v = emu.control("mutate", {"id": changed["incidentId"], "status": "Resolved"})
        want = 1 + len(v["alerts"])
        self.assertTrue(harness.wait_for(
            lambda: len(harness.read_json_events(out)) >= before + want, 30))
        harness.wait_for(lambda: False, 2.5)
        new = harness.read_json_events(out)[before:]
        self.assertEqual(len(new), want)
        self.assertEqual(sorted(e["type"] for e in new), ["alert"] * (want - 1) + ["incident"])

        # A brand-new incident while running.
        before = len(harness.read_json_events(out))
        v = emu.control("mutate", {"new": True})
        want = 1 + len(v["alerts"])
        self.assertTrue(harness.wait_for(
            lambda: len(harness.read_json_events(out)) >= before + want, 30))

        self.stop_daemon(fwd)
        self.assertIn("stopped", self.log_text())
        # Every version that exists now, exactly once, plus the superseded versions seen earlier.
        events = harness.read_json_events(out)
        keys = [harness.event_key(e) for e in events]
        self.assertEqual(len(keys), len(set(keys)), "duplicates")
        self.assertTrue(harness.expected_backfill(emu) <= set(keys))

        # Restart: state persists, nothing re-emitted.
        harness.run_once(cfg)
        self.assertEqual(len(harness.read_json_events(out)), len(events))


if __name__ == "__main__":
    unittest.main()
