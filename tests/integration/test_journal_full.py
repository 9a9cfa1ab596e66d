"""A destination that refuses every write holds back only itself: the journal keeps the
backlog up to state.max_journal_bytes, the collector pauses there (never drops), and once the
destination works again everything arrives exactly once."""
import json
import os
import subprocess
import unittest

import harness


class JournalFull(harness.ForwarderTest):
    def test_backlog_bounded_then_delivered(self):
        emu = self.emulator("--generate", "800", "--seed", "51")
        # /dev/full accepts open() and fails every write with ENOSPC: a dead destination.
        cfg = harness.write_config(self.workdir, emu.url, [("archive", "json", "/dev/full")],
                                   max_journal="1MiB")
        fwd = self.daemon(cfg)
        self.assertTrue(harness.wait_for(lambda: "journal full" in self.log_text() and
                                         "destination not available" in self.log_text(), 60),
                        self.log_text()[-2000:])
        self.stop_daemon(fwd)
        state = json.loads(subprocess.run([harness.BIN, "state", "show", "-c", cfg],
                                          capture_output=True, text=True, env=harness.env(),
                                          check=True).stdout)
        end = state["journal"]["end"]
        self.assertGreaterEqual(end, 1 << 20)
        # Paused before the next page: at most one page (100 incidents) over the bound.
        self.assertLess(end, (1 << 20) + 2 * (1 << 20))
        self.assertEqual(state["outputs"]["archive"]["delivered_events"], 0)
        self.assertIn("window", state["tenants"]["contoso"], "the backfill should be unfinished")

        # The destination is back (a writable file under the same output name).
        out = os.path.join(self.workdir, "events.json")
        with open(cfg) as f:
            text = f.read().replace("path: /dev/full", "path: %s" % out)
        with open(cfg, "w") as f:
            f.write(text)
        harness.run_once(cfg)
        self.assert_exactly_once(harness.read_json_events(out), harness.expected_backfill(emu))


if __name__ == "__main__":
    unittest.main()
