"""Incidents changing at 5/s while a backfill pages through the API, with tokens that
live 30 s: every version that lived long enough arrives exactly once."""
import time
import unittest

import harness


class Churn(harness.ForwarderTest):
    def test_mutations_during_backfill_and_short_tokens(self):
        # 5 updates per second while a 2,000-incident backfill pages through the API, with
        # tokens that live 30 s, so the run renews them several times.
        emu = self.emulator("--generate", "2000", "--seed", "21", "--mutate-rate", "5",
                            "--token-lifetime", "30")
        cfg = harness.write_config(self.workdir, emu.url, [("archive", "json", self.out())],
                                   collector={"poll_interval": "1s", "lag": "5m"})
        t0 = time.time()
        fwd = self.daemon(cfg)
        self.assertTrue(harness.wait_for(
            lambda: sum(1 for e in harness.read_json_events(self.out())
                        if e["type"] == "incident") >= 2000, 120, 0.1), "backfill too slow")
        backfill_s = time.time() - t0
        time.sleep(max(0, 40 - backfill_s))
        emu.control("config", {"mutate_rate": 0})
        time.sleep(15)  # a few more polls re-read the lag window
        self.stop_daemon(fwd)

        events = harness.read_json_events(self.out())
        self.assert_no_duplicates(events)
        keys = {harness.event_key(e) for e in events}
        # Nothing invented: every event is a version that existed.
        self.assertFalse(keys - harness.all_versions(emu))
        # Nothing lost: every version that stayed current longer than a poll cycle can take
        # arrived, and so did every alert version of the final state. The first poll is the
        # whole backfill; after it the client-side limiter spaces calls about 2.4 s apart (the
        # backfill spent the burst), so a poll of one or two calls takes up to ~5 s. A version
        # superseded faster than that may be gone before a query could see it: the API keeps
        # only the current version.
        lived = harness.versions_that_lived(emu, backfill_s + 10)
        missing = lived - keys
        self.assertFalse(missing, "missing %d versions, e.g. %s" % (len(missing),
                                                                   sorted(missing)[:3]))
        missing = harness.expected_backfill(emu) - keys
        self.assertFalse(missing, "final state incomplete, e.g. %s" % sorted(missing)[:3])
        stats = emu.control("stats")
        self.assertGreaterEqual(stats["calls"]["token"], 2, stats)
        self.assertEqual(stats["unauthorized"], 0, "a token was used after it expired")
        self.assertGreater(len([v for v in emu.control("versions")["value"]
                                if v["origin"] == "mutator"]), 100)


if __name__ == "__main__":
    unittest.main()
