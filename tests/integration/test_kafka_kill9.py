"""SIGKILL against the transactional Kafka output, on librdkafka's mock cluster: killed again
and again mid-backfill, then finished with --once, no event is lost and each kill leaves at
most one batch of duplicates.

Duplicates are possible here only because the mock writes no transaction markers: records of
the transaction a kill interrupted stay visible to every consumer (docs/kafka.md). A real
broker aborts that transaction, and a read_committed consumer sees every event once — that is
what test_kafka_real.py proves, when DFW_KAFKA_BROKERS names a real broker."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kafka_mock"))
import harness  # noqa: E402
import kafka  # noqa: E402

SKIP = kafka.missing_tools()


@unittest.skipIf(SKIP, SKIP)
class KafkaKill9(harness.ForwarderTest):
    def setUp(self):
        super().setUp()
        self.mock = kafka.MockCluster()

    def tearDown(self):
        super().tearDown()
        self.mock.stop()

    def test_sigkill_mid_backfill(self):
        brokers = self.mock.bootstraps
        self.mock.cmd("create dfw.events.offsets 1")
        self.mock.cmd("create dfw.events %d" % kafka.PARTITIONS)
        # Slow answers keep each transaction open long enough for kills to land inside.
        self.mock.cmd("rtt all 150")
        emu = self.emulator("--generate", "1500", "--seed", "41", "--quota-per-minute", "1000")
        json_path = os.path.join(self.workdir, "events.json")
        cfg = kafka.write_config(
            self.workdir, emu.url, [kafka.kafka_output("pipeline", brokers, "dfw.events")],
            file_outputs=[("archive", "json", json_path)], max_journal="64MiB")
        expected = harness.expected_backfill(emu)
        kills, mid = kafka.kill_loop(self, cfg, brokers, "dfw.events", expected, 4, 4242)
        self.assertGreater(mid, 0, "no kill landed mid-backfill; the test proves nothing")
        self.mock.cmd("rtt all 0")
        harness.run_once(cfg)

        events = kafka.events(kafka.consume(brokers, "dfw.events"))
        keys = {harness.event_key(e) for e in events}
        self.assertEqual(expected - keys, set(), "events lost")
        self.assertEqual(keys - expected, set())
        journal = harness.read_json_events(json_path)
        self.assert_exactly_once(journal, expected)
        windows, dups = kafka.duplicate_windows(events, journal)
        print("%d kills, %d duplicates in %d batch windows" % (kills, dups, windows), flush=True)
        self.assertLessEqual(windows, kills)


if __name__ == "__main__":
    unittest.main()
