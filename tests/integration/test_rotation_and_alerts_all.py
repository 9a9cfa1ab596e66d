"""SIGHUP reopens file outputs (logrotate moves the file, then signals): events before the
rotation stay in the old file, later ones go to the new one, none twice. `alerts: all` emits
every alert with every incident version."""
import os
import signal
import unittest

import harness


class Rotation(harness.ForwarderTest):
    def test_sighup_reopens_file_outputs(self):
        emu = self.emulator("--generate", "40", "--seed", "41")
        out = os.path.join(self.workdir, "events.json")
        rotated = out + ".1"
        cfg = harness.write_config(self.workdir, emu.url, [("archive", "json", out)])
        fwd = self.daemon(cfg)
        expected = harness.expected_backfill(emu)
        self.assertTrue(harness.wait_for(lambda: len(harness.read_json_events(out)) >=
                                         len(expected), 60))
        os.rename(out, rotated)
        fwd.send_signal(signal.SIGHUP)
        self.assertTrue(harness.wait_for(lambda: "reopened output=archive" in self.log_text(),
                                         10))
        inc = emu.control("incidents")["value"][0]
        v = emu.control("mutate", {"id": inc["incidentId"], "comment": "after rotation"})
        self.assertTrue(harness.wait_for(lambda: len(harness.read_json_events(out)) >= 1, 30))
        self.stop_daemon(fwd)
        old, new = harness.read_json_events(rotated), harness.read_json_events(out)
        self.assertEqual(len(old), len(expected))
        self.assertEqual([harness.event_key(e) for e in new],
                         [("incident", str(inc["incidentId"]), v["lastUpdateTime"])])
        # A restart after the rotation neither truncates nor repeats anything.
        harness.run_once(cfg)
        self.assertEqual(len(harness.read_json_events(out)), 1)
        self.assertEqual(len(harness.read_json_events(rotated)), len(old))


class AlertsAll(harness.ForwarderTest):
    def test_alerts_all_reemits_alerts_with_each_version(self):
        emu = self.emulator("--generate", "30", "--seed", "42")
        out = os.path.join(self.workdir, "events.json")
        cfg = harness.write_config(self.workdir, emu.url, [("archive", "json", out)],
                                   collector={"alerts": "all"})
        harness.run_once(cfg)
        first = harness.read_json_events(out)
        self.assert_exactly_once(first, harness.expected_backfill(emu))
        inc = [i for i in emu.control("incidents")["value"] if len(i["alerts"]) >= 2][0]
        v = emu.control("mutate", {"id": inc["incidentId"], "comment": "again"})
        harness.run_once(cfg)
        new = harness.read_json_events(out)[len(first):]
        # The comment changed no alert, yet `all` sends each of them with the new version,
        # with the same event ids as before (the alert versions did not change).
        self.assertEqual(sorted(e["type"] for e in new),
                         ["alert"] * len(inc["alerts"]) + ["incident"])
        old_ids = {e["event_id"] for e in first if e["type"] == "alert"}
        self.assertTrue(all(e["event_id"] in old_ids for e in new if e["type"] == "alert"))
        self.assertTrue(all(e["incident"]["lastUpdateTime"] == v["lastUpdateTime"] for e in new))


if __name__ == "__main__":
    unittest.main()
