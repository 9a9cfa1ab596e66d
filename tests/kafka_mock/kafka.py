"""Helpers for the Kafka integration tests: the mock cluster program (dfw-kafka-mock, built
next to the forwarder), kcat as the consumer, and configurations with a Kafka output.

Standard library only; imported by tests/integration/test_kafka*.py.
"""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402

MOCK = os.path.join(os.path.dirname(os.path.abspath(harness.BIN)), "dfw-kafka-mock")
# The mock keeps only the last 5 MB of each partition (rdkafka_mock.c: max_size) and drops
# older records silently: backfills of more than a few MB need more partitions than the
# auto-created 4, or the mock itself "loses" events.
PARTITIONS = 16
# The core's batch limit (src/run.c BATCH_MAX_EVENTS): one transaction holds at most this many.
BATCH_MAX_EVENTS = 2000


def missing_tools():
    """Why the Kafka tests cannot run here, or None."""
    if not os.path.exists(MOCK):
        return "%s not built (the Kafka plugin is switched off?)" % MOCK
    if shutil.which("kcat") is None:
        return "kcat is not installed (scripts/install-deps installs it)"
    return None


class MockCluster:
    """librdkafka's mock cluster in its own process; control commands go to its stdin."""

    def __init__(self, brokers=1):
        self.log = open(os.devnull, "w")
        self.proc = subprocess.Popen([MOCK, "--brokers", str(brokers)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.bootstraps = self.proc.stdout.readline().strip()
        if not self.bootstraps:
            self.stop()
            raise RuntimeError("the mock cluster did not start")

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().strip()
        if reply != "ok":
            raise AssertionError("mock command %r: %s" % (line, reply))

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def consume(brokers, topic, read_committed=True, timeout=60, extra=()):
    """Every record of topic as kcat -J dicts (key, payload, headers as a dict, partition,
    offset), from the beginning to the current end."""
    args = ["kcat", "-C", "-b", brokers, "-t", topic, "-o", "beginning", "-e", "-q", "-J",
            "-X", "isolation.level=" + ("read_committed" if read_committed else
                                        "read_uncommitted"), *extra]
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("kcat failed (%d): %s" % (p.returncode, p.stderr[-2000:]))
    out = []
    for line in p.stdout.splitlines():
        rec = json.loads(line)
        h = rec.get("headers") or []
        rec["headers"] = dict(zip(h[0::2], h[1::2]))
        out.append(rec)
    return out


def count(brokers, topic):
    """Records in topic so far (0 while it does not exist)."""
    try:
        return len(consume(brokers, topic, timeout=30))
    except AssertionError:
        return 0


def kafka_output(name, brokers, topic, fmt="json", exactly_once=True, timeout=None,
                 properties=None, offsets_topic=None):
    lines = ["  - name: %s" % name, "    type: kafka", "    brokers: %s" % brokers,
             "    topic: %s" % topic, "    format: %s" % fmt,
             "    exactly_once: %s" % ("true" if exactly_once else "false")]
    if timeout:
        lines.append("    timeout: %s" % timeout)
    if offsets_topic:
        lines.append("    offsets_topic: %s" % offsets_topic)
    if properties:
        lines.append("    properties:")
        lines += ['      %s: "%s"' % (k, v) for k, v in properties.items()]
    return lines


def write_config(workdir, emulator_url, kafka_outputs, file_outputs=(), **kw):
    """harness.write_config plus Kafka outputs (lists of lines from kafka_output())."""
    path = harness.write_config(workdir, emulator_url, list(file_outputs), **kw)
    with open(path, "a") as f:
        for lines in kafka_outputs:
            f.write("\n".join(lines) + "\n")
    return path


def events(records):
    """Decoded JSON events of records, checking that key and headers match each payload."""
    out = []
    for r in records:
        ev = json.loads(r["payload"])
        inc = ev["incident"]
        assert r["key"] == str(inc["incidentId"]), (r["key"], inc["incidentId"])
        assert r["headers"] == {"type": ev["type"], "event_id": ev["event_id"],
                                "tenant": ev["tenant"]}, r["headers"]
        out.append(ev)
    return out


def transactional_id(workdir, output):
    with open(os.path.join(workdir, "state", "identity")) as f:
        return "defender-forwarder-%s-%s" % (f.read().strip(), output)


def duplicate_windows(events_in_kafka, journal_order):
    """The fewest windows of BATCH_MAX_EVENTS consecutive journal events that hold every extra
    copy in Kafka (a kill can leave at most one batch, i.e. one window, of duplicates)."""
    index = {harness.event_key(e): i for i, e in enumerate(journal_order)}
    seen, dup = set(), []
    for e in events_in_kafka:
        k = harness.event_key(e)
        if k in seen:
            dup.append(index[k])
        seen.add(k)
    windows, end = 0, -1
    for i in sorted(dup):
        if i > end:
            windows += 1
            end = i + BATCH_MAX_EVENTS - 1
    return windows, len(dup)


def has_all(brokers, topic, expected):
    """Whether every expected event is in topic (a count would be fooled by duplicates)."""
    try:
        records = consume(brokers, topic, timeout=30)
    except AssertionError:
        return False
    return expected <= {harness.event_key(json.loads(r["payload"])) for r in records}


def wait_records(brokers, topic, minimum, timeout, proc=None):
    deadline = time.time() + timeout
    n = 0
    while time.time() < deadline:
        n = count(brokers, topic)
        if n >= minimum or (proc is not None and proc.poll() is not None):
            return n
        time.sleep(0.2)
    return n


def kill_loop(test, cfg, brokers, topic, expected, rounds, seed):
    """Starts the forwarder and SIGKILLs it at a random moment once it has added records to
    topic, rounds times or until everything is there. Returns (kills, kills mid-backfill)."""
    import random
    import signal
    rnd = random.Random(seed)
    kills = mid = 0
    for i in range(rounds):
        start = count(brokers, topic)
        if start >= len(expected):
            break
        p = test.daemon(cfg, "kill-%d.log" % i)
        wait_records(brokers, topic, start + 1, 60, p)
        time.sleep(rnd.uniform(0.0, 0.6))
        p.send_signal(signal.SIGKILL)
        p.wait()
        kills += 1
        n = count(brokers, topic)
        print("kill %d: %d records in Kafka, %d events expected" % (i, n, len(expected)),
              flush=True)
        if 0 < n < len(expected):
            mid += 1
    return kills, mid
