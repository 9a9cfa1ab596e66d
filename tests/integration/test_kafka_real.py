"""Opt-in: exactly-once under SIGKILL against a real Kafka broker.

Runs only when DFW_KAFKA_BROKERS=host:port names a broker this machine may use (for instance
the single-node KRaft broker of deploy/kafka/compose.yaml); skipped otherwise. The forwarder is
SIGKILLed again and again mid-backfill, finished with --once, and a read_committed consumer
(kcat -X isolation.level=read_committed) must see every event exactly once: aborted
transactions of killed runs are invisible to it. librdkafka's mock cluster cannot prove this
(it writes no transaction markers; see docs/kafka.md), which is why this test exists.

Each run uses topics of its own (dfw-it-<time>-<pid> and its .offsets); they are left behind."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kafka_mock"))
import harness  # noqa: E402
import kafka  # noqa: E402

BROKERS = os.environ.get("DFW_KAFKA_BROKERS", "")
if not BROKERS:
    SKIP = "DFW_KAFKA_BROKERS is not set (host:port of a real Kafka broker, e.g. " \
           "deploy/kafka/compose.yaml): the real-broker exactly-once test is skipped"
elif kafka.shutil.which("kcat") is None:
    SKIP = "kcat is not installed (scripts/install-deps installs it)"
else:
    SKIP = None


@unittest.skipIf(SKIP, SKIP)
class KafkaRealBroker(harness.ForwarderTest):
    def test_sigkill_exactly_once_read_committed(self):
        topic = "dfw-it-%d-%d" % (int(time.time()), os.getpid())
        emu = self.emulator("--generate", "1500", "--seed", "51", "--quota-per-minute", "1000")
        json_path = os.path.join(self.workdir, "events.json")
        cfg = kafka.write_config(
            self.workdir, emu.url, [kafka.kafka_output("pipeline", BROKERS, topic)],
            file_outputs=[("archive", "json", json_path)], max_journal="64MiB")
        expected = harness.expected_backfill(emu)
        kills, mid = kafka.kill_loop(self, cfg, BROKERS, topic, expected, 6, 5151)
        self.assertGreater(mid, 0, "no kill landed mid-backfill; the test proves nothing")
        harness.run_once(cfg)

        records = kafka.consume(BROKERS, topic, read_committed=True)
        self.assert_exactly_once(kafka.events(records), expected)
        print("%d kills (%d mid-backfill): %d events exactly once under read_committed" %
              (kills, mid, len(records)), flush=True)
        # What a read_uncommitted consumer sees on top: the aborted attempts of killed runs.
        dirty = kafka.consume(BROKERS, topic, read_committed=False)
        print("read_uncommitted sees %d records (aborted ones included)" % len(dirty), flush=True)
        self.assertGreaterEqual(len(dirty), len(records))


if __name__ == "__main__":
    unittest.main()
