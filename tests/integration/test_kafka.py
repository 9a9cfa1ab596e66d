"""Kafka output against librdkafka's mock cluster (tests/kafka_mock), consumed with kcat: a
500-incident backfill arrives exactly once with key and headers; a second run adds nothing;
a SIGTERM restart mid-backfill still yields every event exactly once; the idempotent
(exactly_once: false) producer delivers a backfill too.

The mock writes no transaction markers (docs/kafka.md): these runs have no aborted
transaction, so what the consumer sees is exactly what was committed."""
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kafka_mock"))
import harness  # noqa: E402
import kafka  # noqa: E402

SKIP = kafka.missing_tools()


@unittest.skipIf(SKIP, SKIP)
class KafkaOutput(harness.ForwarderTest):
    def setUp(self):
        super().setUp()
        self.mock = kafka.MockCluster()
        self.brokers = self.mock.bootstraps

    def tearDown(self):
        super().tearDown()
        self.mock.stop()

    def test_backfill_exactly_once(self):
        emu = self.emulator("--generate", "500", "--seed", "11")
        cfg = kafka.write_config(self.workdir, emu.url,
                                 [kafka.kafka_output("pipeline", self.brokers, "dfw.events")])
        p = harness.run_once(cfg)
        expected = harness.expected_backfill(emu)
        self.assertGreater(len(expected), 500)
        records = kafka.consume(self.brokers, "dfw.events")
        events = kafka.events(records)
        self.assert_exactly_once(events, expected)
        self.assertEqual(sum(1 for e in events if e["type"] == "incident"), 500)
        # One incident's events share a key, so they share a partition and keep their order.
        parts = {}
        for r in records:
            parts.setdefault(r["key"], set()).add(r["partition"])
        self.assertTrue(all(len(v) == 1 for v in parts.values()))
        self.assertGreater(len({r["partition"] for r in records}), 1)

        # The position went to the offsets topic in the same transactions, keyed by the
        # transactional id derived from the state identity.
        txn_id = kafka.transactional_id(self.workdir, "pipeline")
        self.assertIn("transactional_id=" + txn_id, p.stderr)
        positions = kafka.consume(self.brokers, "dfw.events.offsets")
        self.assertTrue(positions)
        self.assertTrue(all(r["key"] == txn_id for r in positions))
        state = harness.subprocess.run([harness.BIN, "state", "show", "-c", cfg], env=harness.env(),
                                       capture_output=True, text=True, check=True)
        last = max(int(harness.json.loads(r["payload"])["journal_pos"]) for r in positions)
        self.assertIn("\"journal_position\":%d" % last, state.stdout.replace(" ", ""))

        # A second run resumes from the position read back from Kafka and adds nothing.
        p = harness.run_once(cfg)
        self.assertIn("from=kafka", p.stderr)
        self.assertEqual(len(kafka.consume(self.brokers, "dfw.events")), len(records))

    def test_sigterm_restart_mid_backfill(self):
        # Several batches (a batch holds at most 2000 events), so SIGTERM lands between them.
        emu = self.emulator("--generate", "1500", "--seed", "12", "--quota-per-minute", "1000")
        self.mock.cmd("create dfw.events.offsets 1")
        self.mock.cmd("create dfw.events %d" % kafka.PARTITIONS)
        # Slow answers stretch the backfill over several seconds of transactions.
        self.mock.cmd("rtt all 250")
        cfg = kafka.write_config(self.workdir, emu.url,
                                 [kafka.kafka_output("pipeline", self.brokers, "dfw.events")])
        expected = harness.expected_backfill(emu)
        d = self.daemon(cfg)
        n = kafka.wait_records(self.brokers, "dfw.events", 1, 60, d)
        self.assertGreater(n, 0, self.log_text())
        self.stop_daemon(d)
        first = kafka.count(self.brokers, "dfw.events")
        print("SIGTERM after %d of %d events" % (first, len(expected)), flush=True)
        self.assertLess(first, len(expected), "the backfill ended before SIGTERM")
        self.mock.cmd("rtt all 0")
        harness.run_once(cfg)
        self.assert_exactly_once(kafka.events(kafka.consume(self.brokers, "dfw.events")),
                                 expected)

    def test_idempotent_producer_backfill(self):
        emu = self.emulator("--generate", "200", "--seed", "13")
        cfg = kafka.write_config(
            self.workdir, emu.url,
            [kafka.kafka_output("pipeline", self.brokers, "dfw.plain", fmt="cef",
                                exactly_once=False, properties={"compression.codec": "lz4"})])
        p = harness.run_once(cfg)
        self.assertIn("exactly_once=false", p.stderr)
        records = kafka.consume(self.brokers, "dfw.plain")
        expected = harness.expected_backfill(emu)
        self.assertEqual(len(records), len(expected))
        ids = [r["headers"]["event_id"] for r in records]
        self.assertEqual(len(set(ids)), len(ids))
        for r in records:
            self.assertTrue(r["payload"].startswith("CEF:0|Microsoft|"), r["payload"][:80])
            self.assertIn("cs6=" + r["headers"]["event_id"], r["payload"])
        # No transactions, no offsets topic: the checkpoint alone holds the position.
        self.assertEqual(kafka.count(self.brokers, "dfw.plain.offsets"), 0)
        harness.run_once(cfg)
        self.assertEqual(kafka.count(self.brokers, "dfw.plain"), len(records))


if __name__ == "__main__":
    unittest.main()
