"""Shared helpers for the integration tests: the real binary against the real emulator.

Standard library only. Every test starts its own emulator on a loopback port it picked
(port 0) and its own state directory, so tests can run in parallel.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

SOURCE_DIR = os.environ.get("DFW_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("DFW_BIN") or os.path.join(SOURCE_DIR, "build", "defender-forwarder")
EMULATOR = os.path.join(SOURCE_DIR, "tests", "emulator", "emulator.py")
SECRET = "test-secret"


class Emulator:
    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [sys.executable, EMULATOR, "--port", "0", "--quiet", "--secret", SECRET, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError("emulator did not start: %r %s" % (line, self.proc.stderr.read()))
        self.url = line.split(" ", 1)[1]

    def control(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + "/_control/" + path, data=data,
                                     method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def write_config(workdir, emulator_url, outputs, tenants=("contoso",), collector=None,
                 max_journal="1GiB", secrets=None):
    """outputs: list of (name, format, path). secrets: per-tenant client_secret overrides.
    Returns the config path."""
    collector = dict({"poll_interval": "1s", "lag": "5m", "start_from": "30d"},
                     **(collector or {}))
    lines = ["tenants:"]
    for i, name in enumerate(tenants):
        tid = "%08d-0000-0000-0000-000000000000" % (i + 1)
        lines += ["  - name: %s" % name,
                  "    tenant_id: %s" % tid,
                  "    client_id: 11111111-1111-1111-1111-11111111111%d" % i,
                  "    client_secret: %s" % ((secrets or {}).get(name, "${DFW_TEST_SECRET}")),
                  "    api_url: %s" % emulator_url,
                  "    token_url: %s/{tenant_id}/oauth2/v2.0/token" % emulator_url]
    lines.append("collector:")
    for k, v in collector.items():
        lines.append("  %s: %s" % (k, v))
    lines += ["state:", "  dir: %s" % os.path.join(workdir, "state"),
              "  max_journal_bytes: %s" % max_journal, "outputs:"]
    for name, fmt, path in outputs:
        lines += ["  - name: %s" % name, "    type: file", "    path: %s" % path,
                  "    format: %s" % fmt]
    path = os.path.join(workdir, "config.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def env():
    e = dict(os.environ)
    e["DFW_TEST_SECRET"] = SECRET
    return e


def run_once(config, timeout=300, check=True):
    p = subprocess.run([BIN, "run", "-c", config, "--once"], env=env(), capture_output=True,
                       text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("run --once exited %d\n%s" % (p.returncode, p.stderr[-4000:]))
    return p


def start_daemon(config, log_path):
    log = open(log_path, "w")
    return subprocess.Popen([BIN, "run", "-c", config], env=env(), stdout=subprocess.DEVNULL,
                            stderr=log)


def read_json_events(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        data = f.read()
    assert data == "" or data.endswith("\n"), "file output ends inside a line"
    return [json.loads(line) for line in data.splitlines()]


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        data = f.read()
    assert data == "" or data.endswith("\n"), "file output ends inside a line"
    return data.splitlines()


def event_key(ev):
    """(type, id, version) of a JSON event."""
    if ev["type"] == "incident":
        return ("incident", str(ev["incident"]["incidentId"]), ev["incident"]["lastUpdateTime"])
    return ("alert", ev["alert"]["alertId"], ev["alert"].get("lastUpdatedTime"))


def count_lines(path):
    """Complete lines so far, tolerating a torn last line (a process killed mid-write)."""
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as f:
        return f.read().count(b"\n")


def cef_event_id(line):
    for part in line.split(" "):
        if part.startswith("cs6="):
            return part[4:]
    return None


def versions_that_lived(emulator, min_seconds):
    """(type, id, version) of every incident version (and the alert versions it carried) that
    stayed current for at least min_seconds, or is current now: the forwarder must deliver
    each of them (it polls every second in these tests)."""
    import datetime

    def parse(ts):
        ts = ts.rstrip("Z")
        if "." in ts:
            ts = ts.split(".")[0] + "." + ts.split(".")[1][:6]
            return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%f")
        return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S")

    by_id = {}
    for v in emulator.control("versions")["value"]:
        by_id.setdefault(v["incidentId"], []).append(v)
    keys = set()
    for versions in by_id.values():
        for i, v in enumerate(versions):
            start = parse(v.get("visibleFrom") or v["lastUpdateTime"])
            if i + 1 < len(versions):
                nxt = versions[i + 1]
                end = parse(nxt.get("visibleFrom") or nxt["lastUpdateTime"])
                if (end - start).total_seconds() < min_seconds:
                    continue
            keys.add(("incident", str(v["incidentId"]), v["lastUpdateTime"]))
    return keys


def all_versions(emulator):
    """(type, id, version) of every incident and alert version that ever existed."""
    keys = set()
    for v in emulator.control("versions")["value"]:
        keys.add(("incident", str(v["incidentId"]), v["lastUpdateTime"]))
        for al in v.get("alerts") or []:
            keys.add(("alert", al["alertId"], al["lastUpdatedTime"]))
    return keys


def expected_backfill(emulator):
    """(type, id, version) of every event the current data should yield (alerts: changed)."""
    keys = set()
    for inc in emulator.control("incidents")["value"]:
        keys.add(("incident", str(inc["incidentId"]), inc["lastUpdateTime"]))
        for al in inc.get("alerts") or []:
            keys.add(("alert", al["alertId"], al["lastUpdatedTime"]))
    return keys


def wait_for(predicate, timeout, interval=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class ForwarderTest(unittest.TestCase):
    """Gives each test a work directory and cleans up processes it registered."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="dfw-it-")
        self.workdir = self._tmp.name
        self._procs = []

    def tearDown(self):
        for p in self._procs:
            if isinstance(p, Emulator):
                p.stop()
            elif p.poll() is None:
                p.kill()
                p.wait()
        self._tmp.cleanup()

    def emulator(self, *args):
        emu = Emulator(*args)
        self._procs.append(emu)
        return emu

    def daemon(self, config, name="forwarder.log"):
        p = start_daemon(config, os.path.join(self.workdir, name))
        self._procs.append(p)
        return p

    def log_text(self, name="forwarder.log"):
        with open(os.path.join(self.workdir, name)) as f:
            return f.read()

    def stop_daemon(self, p, name="forwarder.log"):
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            raise AssertionError("forwarder did not stop within 60 s of SIGTERM")
        self.assertEqual(rc, 0, "SIGTERM exit code\n" + self.log_text(name)[-4000:])

    def out(self, name="events.json"):
        return os.path.join(self.workdir, name)

    def assert_no_duplicates(self, events):
        keys = [event_key(e) for e in events]
        self.assertEqual(len(keys), len(set(keys)), "duplicated versions")
        ids = [e["event_id"] for e in events]
        self.assertEqual(len(ids), len(set(ids)), "duplicated event ids")

    def assert_exactly_once(self, events, expected):
        self.assert_no_duplicates(events)
        keys = [event_key(e) for e in events]
        missing = expected - set(keys)
        extra = set(keys) - expected
        self.assertFalse(missing, "missing %d events, e.g. %s" % (len(missing),
                                                                 sorted(missing)[:3]))
        self.assertFalse(extra, "unexpected %d events, e.g. %s" % (len(extra), sorted(extra)[:3]))
