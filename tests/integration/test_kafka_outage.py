"""A Kafka broker outage, injected with the mock cluster's API (all brokers down, then up),
is survived without loss by both producers. With exactly_once, duplicates on the mock can only
come from an aborted transaction (the mock shows aborted records: docs/kafka.md), so there are
none unless the log reports an abort, and at most one batch per abort; the idempotent producer
may redo a failed batch (at-least-once), at most one batch per reported failure."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kafka_mock"))
import harness  # noqa: E402
import kafka  # noqa: E402

SKIP = kafka.missing_tools()


@unittest.skipIf(SKIP, SKIP)
class KafkaOutage(harness.ForwarderTest):
    def setUp(self):
        super().setUp()
        self.mock = kafka.MockCluster()
        self.brokers = self.mock.bootstraps
        self.mock.cmd("create dfw.events.offsets 1")
        self.mock.cmd("create dfw.events %d" % kafka.PARTITIONS)

    def tearDown(self):
        super().tearDown()
        self.mock.stop()

    def outage(self, exactly_once):
        emu = self.emulator("--generate", "1500", "--seed", "21", "--quota-per-minute", "1000")
        json_path = os.path.join(self.workdir, "events.json")
        cfg = kafka.write_config(
            self.workdir, emu.url,
            [kafka.kafka_output("pipeline", self.brokers, "dfw.events", timeout="5s",
                                exactly_once=exactly_once)],
            file_outputs=[("archive", "json", json_path)])
        expected = harness.expected_backfill(emu)
        self.mock.cmd("rtt all 200")
        d = self.daemon(cfg)
        before = kafka.wait_records(self.brokers, "dfw.events", 1, 60, d)
        self.assertGreater(before, 0, self.log_text())
        # Longer than the output's timeout: commits and deliveries time out meanwhile.
        self.mock.cmd("down all")
        time.sleep(8)
        self.mock.cmd("up all")
        self.mock.cmd("rtt all 0")
        print("outage after %d of %d events" % (before, len(expected)), flush=True)
        self.assertLess(before, len(expected), "the backfill ended before the outage")
        self.assertTrue(harness.wait_for(
            lambda: "destination is back output=pipeline" in self.log_text() and
            kafka.has_all(self.brokers, "dfw.events", expected), 90, 1),
            self.log_text()[-4000:])
        self.stop_daemon(d)
        log = self.log_text()
        self.assertIn("destination not available, will retry output=pipeline", log)

        events = kafka.events(kafka.consume(self.brokers, "dfw.events"))
        keys = {harness.event_key(e) for e in events}
        self.assertEqual(expected - keys, set(), "events lost")
        self.assertEqual(keys - expected, set())
        windows, dups = kafka.duplicate_windows(events, harness.read_json_events(json_path))
        if exactly_once:
            allowed = log.count("transaction aborted")
        else:
            allowed = log.count("destination not available, will retry output=pipeline")
        print("duplicates: %d in %d batch windows (allowed %d)" % (dups, windows, allowed),
              flush=True)
        self.assertLessEqual(windows, allowed)
        return log

    def test_outage_transactional(self):
        log = self.outage(True)
        # The commit that ran into the outage was finished or aborted, never left behind.
        self.assertTrue("commit did not complete" in log or "transaction aborted" in log or
                        "init_transactions" in log, log[-4000:])

    def test_outage_idempotent(self):
        self.outage(False)


if __name__ == "__main__":
    unittest.main()
