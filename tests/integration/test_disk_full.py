"""A full disk under the state directory: the forwarder stops with a clear error and no new
checkpoint, and a restart with space again delivers every event exactly once."""
import os
import resource
import signal
import subprocess
import unittest

import harness


def small_files():
    # Files may not grow past 3 MiB: writes beyond fail with EFBIG, as on a full disk.
    # SIGXFSZ is ignored so the write fails instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (3 << 20, 3 << 20))


class DiskFull(harness.ForwarderTest):
    def test_write_failure_stops_cleanly_and_loses_nothing(self):
        emu = self.emulator("--generate", "1500", "--seed", "31")
        out = os.path.join(self.workdir, "events.json")
        # A journal segment of 16 MiB (max_journal_bytes / 8) exceeds the file-size limit.
        cfg = harness.write_config(self.workdir, emu.url, [("archive", "json", out)],
                                   max_journal="128MiB")
        p = subprocess.run([harness.BIN, "run", "-c", cfg, "--once"], env=harness.env(),
                           capture_output=True, text=True, timeout=300, preexec_fn=small_files)
        self.assertEqual(p.returncode, 1, p.stderr[-3000:])
        self.assertIn("writing state failed", p.stderr)
        self.assertIn("File too large", p.stderr)
        harness.run_once(cfg)
        self.assert_exactly_once(harness.read_json_events(out), harness.expected_backfill(emu))


if __name__ == "__main__":
    unittest.main()
