#!/usr/bin/env python3
"""defender-forwarder benchmarks (bench/README.md). Started by bench/run, which builds first.

Measures, in one run, and writes one Markdown report (printed and saved in bench/results/):
  1. API efficiency: list calls against ceil(N/100), 429s and wall time of a backfill run by
     the real binary against the emulator at the default quotas, time-scaled (timewarp shim);
  2. processing: parse + flatten + render per core (dfbench) beside json_reformat -m, the
     same flattening in Python's json module and in jq, on the same input;
  3. memory: the forwarder's peak RSS over backfills of two sizes;
  4. delivery: events/s from a pre-filled journal into the file output (fsync per batch),
     into rsyslog over TLS and into Kafka (mock cluster) when those plugins are built, beside
     rsyslog forwarding the same file over TLS and kcat producing it.

Standard library only.
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
EMULATOR = os.path.join(SOURCE, "tests", "emulator", "emulator.py")
SECRET = "test-secret"
PAGE = 100
QUOTA_PER_MINUTE, QUOTA_PER_HOUR = 50, 1500      # the API's defaults (SPEC §3)

# Sizes. --quick must finish in under 5 minutes on a 2-core machine, builds included.
PROFILES = {
    "quick": {
        # The machine may be shared: the best of several runs is the least disturbed one.
        "proc_incidents": 5000, "c_reps": 5, "ref_reps": 2, "slow_ref_reps": 1,
        # (incidents, time scale): 2,000 unscaled is issue 3's budget check.
        "api_runs": [(2000, 1), (10000, 10), (30000, 20)],
        "mem_pair": (10000, 30000),
        "deliver_incidents": 10000, "deliver_reps": 3,
    },
    "full": {
        "proc_incidents": 100000, "c_reps": 3, "ref_reps": 2, "slow_ref_reps": 1,
        "api_runs": [(2000, 1), (10000, 10), (100000, 10)],
        "mem_pair": (10000, 100000),
        "deliver_incidents": 30000, "deliver_reps": 3,
    },
}

RSYSLOGD = os.environ.get("DFW_RSYSLOGD", "/usr/sbin/rsyslogd")
# The Python reference runs on Debian's interpreter when there is one (what `apt-get install
# python3` gives a user), whatever python3 happens to run this script.
PYTHON_REF = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable

TARGETS = {"yajl": 0.40, "python": 3.0, "jq": 5.0, "rss": 1.5, "calls_2000": 1.2}


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


# ---- processes ----------------------------------------------------------------------------

class Run:
    def __init__(self, rc, wall, cpu, maxrss_kb, stderr):
        self.rc, self.wall, self.cpu, self.maxrss_kb, self.stderr = rc, wall, cpu, maxrss_kb, stderr


def measure(cmd, *, stdin=None, stdout=None, env=None, timeout=3600, check=True):
    """Runs cmd to completion; wall time, user+system CPU and peak RSS from wait4()."""
    with tempfile.TemporaryFile() as err:
        fin = open(stdin, "rb") if stdin else subprocess.DEVNULL
        fout = open(stdout, "wb") if stdout else subprocess.DEVNULL
        try:
            t0 = time.monotonic()
            p = subprocess.Popen(cmd, stdin=fin, stdout=fout, stderr=err, env=env)
            timer = threading.Timer(timeout, p.kill)
            timer.start()
            try:
                _, status, ru = os.wait4(p.pid, 0)
            finally:
                timer.cancel()
            wall = time.monotonic() - t0
            p.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if stdin:
                fin.close()
            if stdout:
                fout.close()
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    r = Run(p.returncode, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, text)
    if check and r.rc != 0:
        raise RuntimeError("%s exited %d\n%s" % (" ".join(cmd), r.rc, text[-3000:]))
    return r


def best(runs):
    return min(runs, key=lambda r: r.cpu)


def warp_env(build, scale):
    env = dict(os.environ)
    if scale > 1:
        env["LD_PRELOAD"] = os.path.join(build, "bench", "libtimewarp.so")
        env["TIMEWARP_SCALE"] = str(scale)
    return env


class Emulator:
    """The project's emulator (tests/emulator), optionally time-scaled."""

    def __init__(self, build, workdir, incidents, scale=1, seed=1, quotas=True):
        self.log_path = os.path.join(workdir, "emulator-%d.log" % incidents)
        args = [sys.executable, EMULATOR, "--port", "0", "--generate", str(incidents),
                "--seed", str(seed), "--secret", SECRET]
        if not quotas:
            args += ["--quota-per-minute", "0", "--quota-per-hour", "0"]
        self.errf = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.errf, text=True,
                                     env=warp_env(build, scale))
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError("emulator did not start: %r" % line)
        self.url = line.split(" ", 1)[1]
        # The counts follow "listening" on stderr, a moment later.
        self.incidents = self.alerts = None
        deadline = time.monotonic() + 10
        while self.incidents is None and time.monotonic() < deadline:
            with open(self.log_path) as f:
                m = re.search(r"ready incidents=(\d+) alerts=(\d+)", f.read())
            if m:
                self.incidents, self.alerts = int(m.group(1)), int(m.group(2))
            else:
                time.sleep(0.05)

    def control(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + "/_control/" + path, data=data,
                                     method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read() or b"null")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.errf.close()


def write_config(path, emu_url, state_dir, outputs, scale=1):
    """outputs: list of dicts with name, type and the plugin's own keys (scalars or dicts)."""
    lines = [
        "tenants:",
        "  - name: contoso",
        "    tenant_id: 00000001-0000-0000-0000-000000000000",
        "    client_id: 11111111-1111-1111-1111-111111111110",
        "    client_secret: %s" % SECRET,
        "    api_url: %s" % emu_url,
        "    token_url: %s/{tenant_id}/oauth2/v2.0/token" % emu_url,
        "collector:",
        "  poll_interval: 30s",
        "  lag: 5m",
        "  start_from: 30d",
        # Under the time warp the HTTP timeout shrinks too; keep it 30 s of real time.
        "  http: { timeout: %ds }" % (30 * scale),
        "state:",
        "  dir: %s" % state_dir,
        "  max_journal_bytes: 8GiB",
        "outputs:",
    ]
    for o in outputs:
        lines.append("  - name: %s" % o["name"])
        for k, v in o.items():
            if k == "name":
                continue
            if isinstance(v, dict):
                lines.append("    %s: { %s }" % (k, ", ".join("%s: %s" % kv for kv in v.items())))
            else:
                lines.append("    %s: %s" % (k, v))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def count_lines(path):
    n = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 22)
            if not chunk:
                return n
            n += chunk.count(b"\n")


# ---- arithmetic ---------------------------------------------------------------------------

def api_minimum_s(calls, per_minute=QUOTA_PER_MINUTE, per_hour=QUOTA_PER_HOUR):
    """Earliest moment the last of `calls` list calls can be made without a 429, sliding
    windows of one minute and one hour (the quota's best case, nothing else counted)."""
    t = []
    for i in range(calls):
        at = 0.0
        if i >= per_minute:
            at = max(at, t[i - per_minute] + 60.0)
        if i >= per_hour:
            at = max(at, t[i - per_hour] + 3600.0)
        t.append(at)
    return t[-1] if t else 0.0


def fmt_n(n):
    return "{:,}".format(int(n))


def fmt_s(s):
    if s >= 120:
        return "%d min %02d s" % (s // 60, round(s % 60))
    return "%.2f s" % s if s < 10 else "%.1f s" % s


def fmt_mb(b):
    return "%.1f MB" % (b / 1e6)


def verdict(ok):
    return "met" if ok else "**missed**"


# ---- machine ------------------------------------------------------------------------------

def tool_version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "not installed"


def deb_version(pkg):
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or "not installed"
    except OSError:
        return "unknown"


def machine(workdir, build):
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    osname = platform.system()
    try:
        with open("/etc/os-release") as f:
            m = re.search(r'^PRETTY_NAME="?([^"\n]*)', f.read(), re.M)
            osname = m.group(1) if m else osname
    except OSError:
        pass
    fs = "?"
    try:
        out = subprocess.run(["df", "--output=fstype", workdir], capture_output=True, text=True)
        fs = out.stdout.split()[-1]
    except (OSError, IndexError):
        pass
    cache = os.path.join(build, "CMakeCache.txt")
    btype = cc = "?"
    if os.path.exists(cache):
        with open(cache) as f:
            text = f.read()
        m = re.search(r"^CMAKE_BUILD_TYPE:\w+=(.*)$", text, re.M)
        btype = m.group(1) if m else "?"
        m = re.search(r"^CMAKE_C_COMPILER:\w+=(.*)$", text, re.M)
        cc = tool_version([m.group(1), "--version"]) if m else "?"
    commit = "?"
    try:
        commit = subprocess.run(["git", "-C", SOURCE, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", SOURCE, "status", "--porcelain"],
                               capture_output=True, text=True).stdout.strip()
        if dirty:
            commit += " with uncommitted changes"
    except OSError:
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "ram_gib": mem_kb / 1024 / 1024,
        "kernel": platform.release(), "os": osname, "fs": fs, "build_type": btype, "cc": cc,
        "commit": commit, "python": tool_version([PYTHON_REF, "--version"]),
        "load": open("/proc/loadavg").read().split()[0],
        "yajl": deb_version("libyajl2"), "jq": tool_version(["jq", "--version"]),
        "rsyslog": deb_version("rsyslog"), "librdkafka": deb_version("librdkafka1"),
    }


# ---- 2. processing ------------------------------------------------------------------------

def processing(ctx):
    prof, work, build = ctx["prof"], ctx["work"], ctx["build"]
    n = prof["proc_incidents"]
    pages = os.path.join(work, "pages-%d.ndjson" % n)
    log("processing: generating %s incidents of API pages" % fmt_n(n))
    gen = subprocess.run([sys.executable, os.path.join(HERE, "gen_pages.py"), "--incidents",
                          str(n), "--out", pages], capture_output=True, text=True, check=True)
    meta = json.loads(gen.stdout)
    size = os.path.getsize(pages)
    dfbench = os.path.join(build, "bench", "dfbench")
    py = [PYTHON_REF, os.path.join(HERE, "ref_flatten.py")]
    jq_json = ["jq", "-c", "--arg", "tenant", "contoso", "-f",
               os.path.join(HERE, "ref_flatten_json.jq"), pages]
    jq_cef = ["jq", "-r", "--arg", "tenant", "contoso", "-f",
              os.path.join(HERE, "ref_flatten_cef.jq"), pages]

    # Same work? On the first page: the Python JSON events must equal ours byte for byte;
    # CEF and jq are compared line by line (jq has no hash function, so no event ids).
    first = os.path.join(work, "page1.ndjson")
    with open(pages, "rb") as src, open(first, "wb") as dst:
        dst.write(src.readline())
    outs = {}
    for name, cmd in [("c_json", [dfbench, "--format", "json", first]),
                      ("c_cef", [dfbench, "--format", "cef", first]),
                      ("py_json", py + ["--format", "json", first]),
                      ("py_cef", py + ["--format", "cef", first]),
                      ("jq_json", jq_json[:-1] + [first]), ("jq_cef", jq_cef[:-1] + [first])]:
        outs[name] = subprocess.run(cmd, capture_output=True, check=True).stdout.splitlines()
    def differ(ours, theirs, strip=None):
        if strip is not None:
            ours = [re.sub(strip, b"", line) for line in ours]
        return sum(a != b for a, b in zip(ours, theirs)) + abs(len(ours) - len(theirs))

    same = {
        "py_json": differ(outs["c_json"], outs["py_json"]),
        "py_cef": differ(outs["c_cef"], outs["py_cef"]),
        "jq_json": differ(outs["c_json"], outs["jq_json"], rb'"event_id":"[0-9a-f]{32}",'),
        "jq_cef": differ(outs["c_cef"], outs["jq_cef"], rb" cs6=[0-9a-f]{32} cs6Label=eventId$"),
        "lines": len(outs["c_json"]),
    }

    c, rr = prof["c_reps"], prof["ref_reps"]
    events = meta["incidents"] + meta["alerts"]
    specs = [
        ("reformat", "yajl `json_reformat -m` (parse + re-serialise, the floor)",
         ["json_reformat", "-m"], c, pages + ".array"),
        ("c_parse", "forwarder: `yajl_tree_parse` only", [dfbench, "--format", "parse", pages],
         c, None),
        ("c_json", "**forwarder: parse + flatten + render JSON**",
         [dfbench, "--format", "json", pages], c, None),
        ("c_cef", "**forwarder: parse + flatten + render CEF**",
         [dfbench, "--format", "cef", pages], c, None),
        ("c_both", "forwarder: JSON and CEF from one parse (what the collector does)",
         [dfbench, "--format", "both", pages], c, None),
        ("py_parse", "Python `json.loads` only", py + ["--format", "parse", pages], rr, None),
        ("py_json", "Python json module: flatten + JSON", py + ["--format", "json", pages], rr,
         None),
        ("py_cef", "Python json module: flatten + CEF", py + ["--format", "cef", pages], rr, None),
        ("jq_json", "jq: flatten + JSON (no event_id)", jq_json, rr, None),
        ("jq_cef", "jq: flatten + CEF (no event_id)", jq_cef, prof["slow_ref_reps"], None),
    ]
    # Round-robin, so a burst of load from elsewhere hits one run of several pipelines rather
    # than every run of one; the best run of each counts.
    runs = {key: [] for key, *_ in specs}
    for rep in range(max(spec[3] for spec in specs)):
        for key, label, cmd, reps, stdin in specs:
            if rep < reps:
                log("processing: %s, run %d" % (label.replace("**", ""), rep + 1))
                runs[key].append(measure(cmd, stdin=stdin))
    rows = []
    for key, label, cmd, reps, stdin in specs:
        r = best(runs[key])
        n, stats = events, None
        if cmd[0] == dfbench:
            stats = json.loads(r.stderr.strip().splitlines()[-1])
            n = stats["events"] or None
        if key in ("reformat", "c_parse", "py_parse"):
            n = None
        worst = max(x.cpu for x in runs[key])
        rows.append({"key": key, "label": label, "cpu": r.cpu, "wall": r.wall, "reps": reps,
                     "spread": worst / r.cpu - 1, "mbps": size / r.cpu / 1e6,
                     "eps": (n / r.cpu) if n else None, "rss": r.maxrss_kb, "stats": stats})
    by = {r["key"]: r for r in rows}
    floor, cj, cc = by["reformat"], by["c_json"], by["c_cef"]
    pj, pc, qj, qc = by["py_json"], by["py_cef"], by["jq_json"], by["jq_cef"]
    for r in rows:
        r["vs_floor"] = r["mbps"] / floor["mbps"]
    ratios = {
        "json_yajl": cj["mbps"] / floor["mbps"], "cef_yajl": cc["mbps"] / floor["mbps"],
        "json_py": cj["mbps"] / pj["mbps"], "cef_py": cc["mbps"] / pc["mbps"],
        "json_jq": cj["mbps"] / qj["mbps"], "cef_jq": cc["mbps"] / qc["mbps"],
    }
    os.unlink(pages + ".array")
    return {"meta": meta, "size": size, "rows": rows, "ratios": ratios, "same": same,
            "pages_path": pages}


# ---- 1 + 3. API efficiency and memory -----------------------------------------------------

def api_run(ctx, incidents, scale):
    work, build, binary = ctx["work"], ctx["build"], ctx["binary"]
    d = os.path.join(work, "api-%d" % incidents)
    os.makedirs(d, exist_ok=True)
    log("api: %s incidents, default quotas, time scale x%d" % (fmt_n(incidents), scale))
    emu = Emulator(build, work, incidents, scale=scale)
    try:
        out = os.path.join(d, "events.json")
        cfg = write_config(os.path.join(d, "config.yaml"), emu.url, os.path.join(d, "state"),
                           [{"name": "archive", "type": "file", "path": out, "format": "json"}],
                           scale=scale)
        r = measure([binary, "run", "-c", cfg, "--once"], env=warp_env(build, scale),
                    timeout=4 * 3600, check=False)
        stats = emu.control("stats")
    finally:
        emu.stop()
    if r.rc != 0:
        raise RuntimeError("forwarder run --once exited %d\n%s" % (r.rc, r.stderr[-3000:]))
    events = count_lines(out)
    expected = (emu.incidents + emu.alerts) if emu.incidents is not None else None
    shutil.rmtree(d)
    ideal = math.ceil(incidents / PAGE)
    return {
        "incidents": incidents, "alerts": emu.alerts, "events": events, "expected": expected,
        "scale": scale, "calls": stats["calls"]["list"], "ideal": ideal,
        "throttled": stats["throttled"], "tokens": stats["calls"]["token"],
        "unauthorized": stats["unauthorized"], "faults": stats["faults"],
        "wall": r.wall, "wall_default": r.wall * scale, "cpu": r.cpu,
        "api_min": api_minimum_s(ideal), "rss_kb": r.maxrss_kb,
    }


# ---- 4. delivery --------------------------------------------------------------------------

def prefill(ctx, incidents):
    """A state dir whose journal holds a whole backfill that no output has delivered yet: the
    collector runs with one output that cannot write (/dev/full answers ENOSPC, so it only
    backs off; time-scaled so its backoffs pass quickly), and --once gives up on that output
    once the tenant caught up. A new output added later starts at the oldest journal
    position, so each delivery run below gets the full backlog."""
    work, build, binary = ctx["work"], ctx["build"], ctx["binary"]
    d = os.path.join(work, "prefill")
    os.makedirs(d, exist_ok=True)
    log("delivery: pre-filling a journal with %s incidents" % fmt_n(incidents))
    emu = Emulator(build, work, incidents, scale=100)
    state = os.path.join(d, "state")
    cfg = write_config(os.path.join(d, "config.yaml"), emu.url, state,
                       [{"name": "sink", "type": "file", "path": "/dev/full", "format": "json"}],
                       scale=100)
    r = measure([binary, "run", "-c", cfg, "--once"], env=warp_env(build, 100),
                timeout=3600, check=False)
    with open(os.path.join(state, "checkpoint.json")) as f:
        ck = json.load(f)
    t = ck["tenants"]["contoso"]
    events = t["incident_events"] + t["alert_events"]
    if r.rc == 0 or events == 0 or ck["outputs"]["sink"]["journal_position"] != 0:
        emu.stop()
        raise RuntimeError("pre-fill did not leave an undelivered journal (rc %d)\n%s"
                           % (r.rc, r.stderr[-3000:]))
    return emu, state, events, ck["journal"]["end"]


def delivery_file(ctx, emu, state, events, fmt):
    work, binary = ctx["work"], ctx["binary"]
    reps = ctx["prof"]["deliver_reps"]
    d = os.path.join(work, "deliver-file-%s" % fmt)
    results = []
    for i in range(reps):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        shutil.copytree(state, os.path.join(d, "state"))
        out = os.path.join(d, "events." + fmt)
        cfg = write_config(os.path.join(d, "config.yaml"), emu.url, os.path.join(d, "state"),
                           [{"name": "bench", "type": "file", "path": out, "format": fmt}])
        full = measure([ctx["binary"], "run", "-c", cfg, "--once"])
        got = count_lines(out)
        size = os.path.getsize(out)
        # The same run again has nothing to deliver: its time (start, lock, one poll of the
        # lag window, stop) is what the first run spent besides delivering.
        empty = measure([binary, "run", "-c", cfg, "--once"])
        results.append((full.wall - empty.wall, got, size))
    # The same events as a file: the input of the rsyslog and kcat references.
    ctx["%s_file" % fmt] = os.path.join(work, "events." + fmt)
    os.replace(out, ctx["%s_file" % fmt])
    shutil.rmtree(d, ignore_errors=True)
    t, got, size = min(results)
    return {"what": "file (%s, fsync per batch)" % fmt.upper(), "events": got, "bytes": size,
            "seconds": t, "eps": got / t, "mbps": size / t / 1e6, "complete": got == events,
            "timed": "run − idle run"}


def delivery(ctx):
    prof = ctx["prof"]
    emu, state, events, jend = prefill(ctx, prof["deliver_incidents"])
    rows = []
    try:
        for fmt in ("json", "cef"):
            log("delivery: file output, %s" % fmt)
            rows.append(delivery_file(ctx, emu, state, events, fmt))
        for name, fn in (("syslog", delivery_syslog), ("kafka", delivery_kafka)):
            try:
                rows.extend(fn(ctx, emu, state, events))
            except Exception as e:      # one destination failing must not lose the report
                log("delivery: %s failed: %s" % (name, e))
                rows.append({"what": name, "error": str(e).splitlines()[0][:200]})
    finally:
        emu.stop()
    return {"events": events, "journal_bytes": jend, "incidents": prof["deliver_incidents"],
            "rows": rows}


def plugin_available(ctx, name):
    cache = os.path.join(ctx["build"], "CMakeCache.txt")
    if not os.path.isdir(os.path.join(SOURCE, "plugins", "out_" + name)):
        return False
    with open(cache) as f:
        m = re.search(r"^DF_PLUGIN_OUT_%s:BOOL=(\w+)" % name.upper(), f.read(), re.M)
    return bool(m) and m.group(1).upper() in ("ON", "1", "TRUE", "YES")


class LineCounter:
    """Counts the lines of a growing file incrementally (a receiver's output)."""

    def __init__(self, path):
        self.path, self.off, self.n = path, 0, 0

    def count(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.off)
                data = f.read()
        except FileNotFoundError:
            return 0
        self.off += len(data)
        self.n += data.count(b"\n")
        return self.n


def wait_lines(counter, target, t0, proc=None, timeout=300):
    """Seconds from t0 until counter reaches target; None on timeout or when proc died with
    the count stalled."""
    deadline = time.monotonic() + timeout
    last, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = counter.count()
        if n >= target:
            return time.monotonic() - t0
        if n != last:
            last, last_change = n, time.monotonic()
        if proc is not None and proc.poll() is not None and time.monotonic() - last_change > 10:
            return None
        time.sleep(0.005)
    return None


def free_port():
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


def listening(port):
    """From /proc, so the probe itself makes no TLS connection the receiver would count."""
    want = ":%04X" % port
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                if any(l.split()[1].endswith(want) and l.split()[3] == "0A" for l in f):
                    return True
        except OSError:
            pass
    return False


def make_certs(d):
    """A throw-away CA and a server certificate for localhost/127.0.0.1 (formats.md §3.2)."""
    ca, ca_key = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    crt, key = os.path.join(d, "server.pem"), os.path.join(d, "server.key")
    csr, ext = os.path.join(d, "server.csr"), os.path.join(d, "server.ext")

    def ossl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
         "/CN=dfw-bench-ca", "-keyout", ca_key, "-out", ca)
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", key,
         "-out", csr)
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    ossl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days",
         "2", "-extfile", ext, "-out", crt)
    return ca, crt, key


class Rsyslogd:
    """rsyslogd -n with a configuration of our own, in its own directory."""

    def __init__(self, d, conf_lines):
        self.dir = d
        os.makedirs(os.path.join(d, "spool"), exist_ok=True)
        self.conf, self.pid = os.path.join(d, "rs.conf"), os.path.join(d, "rs.pid")
        with open(self.conf, "w") as f:
            f.write("\n".join(conf_lines) + "\n")
        self.err = open(os.path.join(d, "rsyslogd.err"), "w")
        self.proc = subprocess.Popen([RSYSLOGD, "-n", "-f", self.conf, "-i", self.pid],
                                     stdout=subprocess.DEVNULL, stderr=self.err)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()

    def stderr(self):
        with open(os.path.join(self.dir, "rsyslogd.err")) as f:
            return f.read()


def tls_globals(d, certs, server):
    ca, crt, key = certs
    g = ['workDirectory="%s/spool"' % d, 'maxMessageSize="64k"',
         'defaultNetstreamDriver="gtls"', 'defaultNetstreamDriverCAFile="%s"' % ca]
    if server:
        g += ['defaultNetstreamDriverCertFile="%s"' % crt,
              'defaultNetstreamDriverKeyFile="%s"' % key]
    return "global(%s)" % " ".join(g)


def receiver(d, certs):
    """A lean TLS receiver: one line per message into received.txt, nothing parsed."""
    port = free_port()
    rs = Rsyslogd(d, [
        tls_globals(d, certs, True),
        'module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" '
        'streamDriver.authMode="anon")',
        'template(name="m" type="string" string="%msg%\\n")',
        'input(type="imtcp" address="127.0.0.1" port="%d" ruleset="r")' % port,
        'ruleset(name="r") { action(type="omfile" file="%s/received.txt" template="m") }' % d,
    ])
    deadline = time.monotonic() + 15
    while not listening(port):
        if rs.proc.poll() is not None or time.monotonic() > deadline:
            rs.stop()
            raise RuntimeError("rsyslogd receiver did not start: " + rs.stderr()[-500:])
        time.sleep(0.02)
    return rs, port, LineCounter(os.path.join(d, "received.txt"))


def delivery_syslog(ctx, emu, state, events):
    ours = "rsyslog over TLS (syslog output, CEF, RFC 5424, octet counting)"
    ref = "reference: rsyslog imfile → omfwd over TLS, same CEF file"
    if not plugin_available(ctx, "syslog"):
        return [{"what": ours, "na": "not available yet"}, {"what": ref, "na": "not available yet"}]
    if not os.access(RSYSLOGD, os.X_OK):
        return [{"what": ours, "na": "rsyslogd not installed"},
                {"what": ref, "na": "rsyslogd not installed"}]
    work, binary = ctx["work"], ctx["binary"]
    base = os.path.join(work, "deliver-syslog")
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    certs = make_certs(base)
    cef_file = ctx["cef_file"]
    cef_bytes = os.path.getsize(cef_file)
    mine, theirs = [], []
    for i in range(ctx["prof"]["deliver_reps"]):
        log("delivery: syslog over TLS, run %d" % (i + 1))
        d = os.path.join(base, "ours-%d" % i)
        os.makedirs(d)
        rs, port, counter = receiver(os.path.join(d, "rsyslog"), certs)
        try:
            shutil.copytree(state, os.path.join(d, "state"))
            cfg = write_config(os.path.join(d, "config.yaml"), emu.url, os.path.join(d, "state"), [
                {"name": "siem", "type": "syslog", "host": "localhost", "port": port,
                 "transport": "tls", "format": "cef", "tls": {"ca_file": certs[0]}}])
            with open(os.path.join(d, "forwarder.err"), "w") as err:
                t0 = time.monotonic()
                p = subprocess.Popen([binary, "run", "-c", cfg, "--once"],
                                     stdout=subprocess.DEVNULL, stderr=err)
                t = wait_lines(counter, events, t0, p)
                rc = p.wait(300)
            if t is None or rc != 0:
                with open(os.path.join(d, "forwarder.err")) as f:
                    raise RuntimeError("syslog delivery incomplete: %d of %d received, exit %s: %s"
                                       % (counter.count(), events, rc, f.read()[-500:]))
            mine.append(t)
        finally:
            rs.stop()
        shutil.rmtree(d, ignore_errors=True)

        log("delivery: rsyslog imfile → omfwd over TLS, run %d" % (i + 1))
        d = os.path.join(base, "ref-%d" % i)
        os.makedirs(d)
        rs, port, counter = receiver(os.path.join(d, "receiver"), certs)
        sender = None
        try:
            sd = os.path.join(d, "sender")
            t0 = time.monotonic()
            sender = Rsyslogd(sd, [
                tls_globals(sd, certs, False),
                'module(load="imfile")',
                'input(type="imfile" file="%s" tag="dfw" ruleset="fwd")' % cef_file,
                'ruleset(name="fwd") { action(type="omfwd" target="127.0.0.1" port="%d" '
                'protocol="tcp" streamDriver="gtls" streamDriverMode="1" '
                'streamDriverAuthMode="x509/name" streamDriverPermittedPeers="localhost" '
                'template="RSYSLOG_SyslogProtocol23Format" tcp_framing="octet-counted") }' % port,
            ])
            t = wait_lines(counter, events, t0, sender.proc)
            if t is None:
                raise RuntimeError("rsyslog reference incomplete: %d of %d received: %s"
                                   % (counter.count(), events, sender.stderr()[-500:]))
            theirs.append(t)
        finally:
            if sender is not None:
                sender.stop()
            rs.stop()
        shutil.rmtree(d, ignore_errors=True)
    t_ours, t_ref = min(mine), min(theirs)
    return [
        {"what": ours, "events": events, "bytes": cef_bytes, "seconds": t_ours,
         "eps": events / t_ours, "mbps": cef_bytes / t_ours / 1e6, "timed": "start → received"},
        {"what": ref, "events": events, "bytes": cef_bytes, "seconds": t_ref,
         "eps": events / t_ref, "mbps": cef_bytes / t_ref / 1e6, "timed": "start → received"},
    ]


def delivery_kafka(ctx, emu, state, events):
    rows = [("eo", "Kafka mock cluster (kafka output, JSON, exactly_once: true)"),
            ("idem", "Kafka mock cluster (kafka output, JSON, exactly_once: false)"),
            ("kcat", "reference: kcat -P, same events, keys and headers (idempotent, "
                     "not transactional)")]
    mock = os.path.join(ctx["build"], "dfw-kafka-mock")
    if not plugin_available(ctx, "kafka") or not os.access(mock, os.X_OK):
        return [{"what": w, "na": "not available yet"} for _, w in rows]
    if shutil.which("kcat") is None:
        return [{"what": w, "na": "kcat not installed"} for _, w in rows]
    work, binary = ctx["work"], ctx["binary"]
    json_file = ctx["json_file"]
    json_bytes = os.path.getsize(json_file)
    # kcat gets what the output sends: each event keyed by its incident id (so records spread
    # over the partitions the same way) and three headers of the same size.
    keyed = os.path.join(work, "events.keyed")
    with open(json_file, "rb") as src, open(keyed, "wb") as dst:
        for line in src:
            m = re.search(rb'"incidentId":(\d+)', line)
            dst.write((m.group(1) if m else b"") + b"\t" + line)
    headers = ["-H", "type=incident", "-H", "event_id=" + "0" * 32, "-H", "tenant=contoso"]
    times = {k: [] for k, _ in rows}
    for i in range(ctx["prof"]["deliver_reps"]):
        cluster = MockKafka(mock)
        try:
            for key, eo in (("eo", "true"), ("idem", "false")):
                log("delivery: Kafka, exactly_once: %s, run %d" % (eo, i + 1))
                d = os.path.join(work, "deliver-kafka-%s" % key)
                shutil.rmtree(d, ignore_errors=True)
                os.makedirs(d)
                shutil.copytree(state, os.path.join(d, "state"))
                topic = "dfw.events.%s.%d" % (key, i)
                cfg = write_config(os.path.join(d, "config.yaml"), emu.url,
                                   os.path.join(d, "state"), [
                    {"name": "pipeline", "type": "kafka", "brokers": cluster.brokers,
                     "topic": topic, "format": "json", "exactly_once": eo}])
                full = measure([binary, "run", "-c", cfg, "--once"], timeout=600)
                empty = measure([binary, "run", "-c", cfg, "--once"], timeout=600)
                got = cluster.count(topic)
                if got != events:
                    raise RuntimeError("Kafka holds %d of %d events" % (got, events))
                times[key].append(full.wall - empty.wall)
                shutil.rmtree(d, ignore_errors=True)
            log("delivery: kcat -P, run %d" % (i + 1))
            # kcat's defaults: librdkafka's producer, acks=all; not idempotent unless asked.
            topic = "kcat.events.%d" % i
            r = measure(["kcat", "-P", "-b", cluster.brokers, "-t", topic, "-K", "\t", *headers,
                         "-l", keyed, "-X", "enable.idempotence=true"], timeout=600)
            got = cluster.count(topic)
            if got != events:
                raise RuntimeError("kcat delivered %d of %d events" % (got, events))
            times["kcat"].append(r.wall)
        finally:
            cluster.stop()
    out = []
    for key, what in rows:
        t = min(times[key])
        out.append({"what": what, "events": events, "bytes": json_bytes, "seconds": t,
                    "eps": events / t, "mbps": json_bytes / t / 1e6,
                    "timed": "kcat run" if key == "kcat" else "run − idle run"})
    return out


class MockKafka:
    """librdkafka's mock cluster (tests/kafka_mock, built beside the forwarder)."""

    def __init__(self, binary):
        self.proc = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.brokers = self.proc.stdout.readline().strip()
        if not self.brokers:
            self.stop()
            raise RuntimeError("the Kafka mock cluster did not start")

    def count(self, topic):
        """Records produced to topic: the sum of its partitions' end offsets. Consuming them
        back is no option: the mock keeps only the last few MB of each partition. Nor does it
        write transaction markers, so every offset is one record."""
        meta = subprocess.run(["kcat", "-L", "-b", self.brokers, "-t", topic, "-J"],
                              capture_output=True, text=True, timeout=60, check=True)
        parts = [p["partition"] for t in json.loads(meta.stdout)["topics"]
                 for p in t.get("partitions") or []]
        if not parts:
            return 0
        args = ["kcat", "-Q", "-b", self.brokers]
        for p in parts:
            args += ["-t", "%s:%d:-1" % (topic, p)]
        q = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
        return sum(int(m) for m in re.findall(r"offset (\d+)", q.stdout))

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


# ---- report -------------------------------------------------------------------------------

def report(ctx, m, api, proc, mem, dlv, elapsed):
    prof_name = ctx["profile"]
    L = []
    add = L.append
    add("# defender-forwarder benchmarks (%s)" % prof_name)
    add("")
    add("`bench/run%s`, %s UTC, commit %s; the whole run took %s (%s of it installing and "
        "building)." % (" --quick" if prof_name == "quick" else "", ctx["started"], m["commit"],
                        fmt_s(elapsed), fmt_s(ctx["setup_s"])))
    add("")
    add("**Machine:** %s, %d cores, %.1f GiB RAM; %s, Linux %s; work directory on %s; load "
        "average %s at the start. **Build:** %s, %s. **References:** yajl %s "
        "(`json_reformat`), %s, %s, rsyslog %s, librdkafka %s."
        % (m["cpu"], m["cores"], m["ram_gib"], m["os"], m["kernel"], m["fs"], m["load"],
           m["build_type"], m["cc"], m["yajl"], m["jq"], m["python"], m["rsyslog"],
           m["librdkafka"]))
    add("")

    # Targets first: what the issue asks, measured.
    r = proc["ratios"] if proc else None
    a2k = next((a for a in api if a["incidents"] == 2000 and a["scale"] == 1), None)
    add("## Targets")
    add("")
    add("| Target | Measured | Result |")
    add("|---|---|---|")

    def ratio_row(label, value, target, unit="×"):
        ok = value >= target
        miss = "" if ok else " (short by %.0f%%)" % ((1 - value / target) * 100)
        shown = ("%.0f%%" % (value * 100)) if unit == "%" else ("%.2f×" % value)
        add("| %s | %s | %s%s |" % (label, shown, verdict(ok), miss))

    if r:
        ratio_row("JSON processing ≥ 40% of yajl-parse-only (`json_reformat -m`) throughput",
                  r["json_yajl"], TARGETS["yajl"], "%")
        ratio_row("CEF processing ≥ 40% of yajl-parse-only throughput", r["cef_yajl"],
                  TARGETS["yajl"], "%")
        ratio_row("JSON processing ≥ 3× the Python reference", r["json_py"], TARGETS["python"])
        ratio_row("CEF processing ≥ 3× the Python reference", r["cef_py"], TARGETS["python"])
        ratio_row("JSON processing ≥ 5× the jq reference", r["json_jq"], TARGETS["jq"])
        ratio_row("CEF processing ≥ 5× the jq reference", r["cef_jq"], TARGETS["jq"])
    if mem:
        ok = mem["ratio"] <= TARGETS["rss"]
        add("| Peak RSS at N=%s within 1.5× of N=%s | %.2f× (%s vs %s) | %s%s |"
            % (fmt_n(mem["big"]["incidents"]), fmt_n(mem["small"]["incidents"]), mem["ratio"],
               fmt_mb(mem["big"]["rss_kb"] * 1024), fmt_mb(mem["small"]["rss_kb"] * 1024),
               verdict(ok), "" if ok else " (over by %.0f%%)" % ((mem["ratio"] / 1.5 - 1) * 100)))
    if a2k:
        ok = a2k["calls"] <= TARGETS["calls_2000"] * a2k["ideal"] and a2k["throttled"] == 0
        add("| Issue 3: 2,000-incident backfill at default quotas ≤ 1.2 × ceil(N/100) = %d "
            "calls, zero 429s | %d calls (%.2f×), %d × 429 | %s |"
            % (math.floor(TARGETS["calls_2000"] * a2k["ideal"]), a2k["calls"],
               a2k["calls"] / a2k["ideal"], a2k["throttled"], verdict(ok)))
    if prof_name == "quick":
        add("| `bench/run --quick` under 5 minutes | %s | %s |"
            % (fmt_s(elapsed), verdict(elapsed < 300)))
    add("")

    add("## 1. API efficiency (backfill, real binary against the emulator, default quotas)")
    add("")
    add("`defender-forwarder run --once` with one file output, from an empty state, against "
        "`tests/emulator` at the API's quotas (50 list calls/min, 1,500 calls/h, sliding). "
        "Time scale ×k: both processes run under `bench/timewarp.c`, which makes their "
        "monotonic clocks (quota windows, token lifetime, Retry-After, backoff) k times faster, "
        "so the quota schedule is the real one; \"at default quota\" is wall × k (an upper bound "
        "where real work, not the quota, paces the calls). Ideal: ceil(N/100) calls; the API "
        "minimum is the earliest the last of those calls could be made without a 429.")
    add("")
    add("| Incidents | Alerts | Events | List calls | Ideal | Calls / ideal | 429s | Wall | Scale "
        "| At default quota | API minimum |")
    add("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for a in api:
        ev = fmt_n(a["events"]) + ("" if a["expected"] in (None, a["events"])
                                   else " (expected %s)" % fmt_n(a["expected"]))
        add("| %s | %s | %s | %s | %s | %.2f | %d | %s | ×%d | %s | %s |"
            % (fmt_n(a["incidents"]), fmt_n(a["alerts"] or 0), ev, fmt_n(a["calls"]),
               fmt_n(a["ideal"]), a["calls"] / a["ideal"], a["throttled"], fmt_s(a["wall"]),
               a["scale"], fmt_s(a["wall_default"]),
               fmt_s(a["api_min"]) if a["api_min"] else "0 s (one burst)"))
    add("")

    add("## 2. Processing (one core, output to /dev/null)")
    add("")
    if not proc:
        add("Not run.")
        add("")
    p, meta = proc or {}, (proc or {}).get("meta")
    if proc:
        processing_section(add, p, meta, r)
    add("## 3. Memory (peak RSS of the forwarder over the backfill)")
    add("")
    if mem:
        add("| Incidents | Events | Peak RSS |")
        add("|---:|---:|---:|")
        for a in (mem["small"], mem["big"]):
            add("| %s | %s | %s |" % (fmt_n(a["incidents"]), fmt_n(a["events"]),
                                       fmt_mb(a["rss_kb"] * 1024)))
        add("")
        add("Ratio %s / %s: **%.2f×** (target ≤ 1.5×). From the API runs above (getrusage of "
            "the forwarder process)." % (fmt_n(mem["big"]["incidents"]),
                                         fmt_n(mem["small"]["incidents"]), mem["ratio"]))
    add("")

    add("## 4. Delivery (from a pre-filled journal)")
    add("")
    add("A journal holding a %s-incident backfill (%s events, %s with both renderings) is "
        "delivered by `run --once` to a new output, which starts at the oldest journal position. "
        "Timed as \"run − idle run\": that run's wall time minus the same run's once nothing is "
        "left to deliver (start, lock, one poll of the lag window, stop); \"start → received\": "
        "from process start until the receiving rsyslog has written every message (process "
        "start and TLS handshake included; rsyslog's own start for the reference). Best of %d. "
        "The core hands outputs batches of at most 2,000 events or 8 MiB and writes the "
        "checkpoint after each; the file output fsyncs once per batch, the Kafka output commits "
        "one transaction per batch, the syslog output counts a batch delivered once the peer's "
        "TCP stack acknowledged every byte."
        % (fmt_n(dlv["incidents"]), fmt_n(dlv["events"]), fmt_mb(dlv["journal_bytes"]),
           ctx["prof"]["deliver_reps"]))
    add("")
    add("| Destination | Events | Bytes | Timed as | Time | Events/s | MB/s |")
    add("|---|---:|---:|---|---:|---:|---:|")
    for d in dlv["rows"]:
        if "na" in d:
            add("| %s | %s | | | | | |" % (d["what"], d["na"]))
        elif "error" in d:
            add("| %s | failed: %s | | | | | |" % (d["what"], d["error"]))
        else:
            add("| %s | %s%s | %s | %s | %s | %s | %.1f |"
                % (d["what"], fmt_n(d["events"]), "" if d.get("complete", True) else " (incomplete)",
                   fmt_mb(d["bytes"]), d["timed"], fmt_s(d["seconds"]), fmt_n(d["eps"]),
                   d["mbps"]))
    add("")
    add("## Notes")
    add("")
    for note in notes(ctx, api, proc, mem, dlv):
        add("- " + note)
    add("")
    return "\n".join(L)


def processing_section(add, p, meta, r):
    add("Input: %s incidents with %s alerts (%s events) as %d raw API pages of 100, %s "
        "(bench/gen_pages.py from the emulator, seed 1). Throughput is input bytes (and events) "
        "per CPU second (user + system, best of the runs shown), process start included; every "
        "process is single-threaded."
        % (fmt_n(meta["incidents"]), fmt_n(meta["alerts"]), fmt_n(meta["incidents"] + meta["alerts"]),
           meta["pages"], fmt_mb(p["size"])))
    add("")
    add("| Pipeline | CPU s (best) | Runs | Worst run | Input MB/s | Events/s | vs `json_reformat` |")
    add("|---|---:|---:|---:|---:|---:|---:|")
    for row in p["rows"]:
        add("| %s | %.2f | %d | %s | %.1f | %s | %.0f%% |"
            % (row["label"], row["cpu"], row["reps"],
               "+%.0f%%" % (row["spread"] * 100) if row["reps"] > 1 else "—", row["mbps"],
               fmt_n(row["eps"]) if row["eps"] else "—", row["vs_floor"] * 100))
    add("")
    add("Ratios: JSON %.2f× Python, %.2f× jq; CEF %.2f× Python, %.2f× jq."
        % (r["json_py"], r["json_jq"], r["cef_py"], r["cef_jq"]))
    s = p["same"]
    add("")
    add("Same work? On the first page (%d events): the Python JSON events differ from the "
        "forwarder's in %d lines (byte for byte), the Python CEF events in %d; jq's, with the "
        "event id taken out of ours, in %d (JSON) and %d (CEF) lines."
        % (s["lines"], s["py_json"], s["py_cef"], s["jq_json"], s["jq_cef"]))
    add("")


def processing_notes(proc):
    out = []
    rows = {r["key"]: r for r in proc["rows"]}
    r = proc["ratios"]
    parse, floor, pyp = rows["c_parse"], rows["reformat"], rows["py_parse"]
    out.append(
        "Where the forwarder's processing time goes: `yajl_tree_parse` alone runs at %.0f%% of "
        "`json_reformat -m` (%.1f vs %.1f MB/s) and at %.2f× Python's `json.loads` "
        "(%.1f MB/s): the tree parser allocates every node, key and string separately "
        "(malloc/free took about 40%% of the JSON pipeline's CPU time in a `perf` profile on "
        "the development machine). Parsing is %.0f%% of the JSON pipeline's time and %.0f%% of "
        "the CEF one; the renderers and event ids take the rest."
        % (parse["vs_floor"] * 100, parse["mbps"], floor["mbps"], parse["mbps"] / pyp["mbps"],
           pyp["mbps"], parse["cpu"] / rows["c_json"]["cpu"] * 100,
           parse["cpu"] / rows["c_cef"]["cpu"] * 100))
    floor_missed = [f for f, k in (("JSON", "json_yajl"), ("CEF", "cef_yajl"))
                    if r[k] < TARGETS["yajl"]]
    if floor_missed:
        allowed = parse["vs_floor"] / TARGETS["yajl"] - 1
        out.append(
            "Why %s missed the 40%% floor: `json_reformat` feeds yajl's event parser straight "
            "into yajl_gen and allocates nothing per value, while the forwarder first builds a "
            "yajl tree (%.0f%% of the floor's speed on its own here) and renders from it. With "
            "parsing at that speed, rendering and event ids may add at most %.0f%% to the "
            "parse time; they added %.0f%% (JSON) and %.0f%% (CEF). See the \"worst run\" "
            "column for how much runs moved on this machine: the quick input is small, the "
            "full run's is steadier."
            % (" and ".join(floor_missed), parse["vs_floor"] * 100, allowed * 100,
               (rows["c_json"]["cpu"] / parse["cpu"] - 1) * 100,
               (rows["c_cef"]["cpu"] / parse["cpu"] - 1) * 100))
    labels = {"json_py": "JSON vs Python", "cef_py": "CEF vs Python", "json_jq": "JSON vs jq",
              "cef_jq": "CEF vs jq"}
    missed = [labels[k] for k in labels
              if r[k] < TARGETS["python" if k.endswith("_py") else "jq"]]
    if missed:
        need = []
        for fmt, ref, t in (("JSON", "py_json", "python"), ("CEF", "py_cef", "python"),
                            ("JSON", "jq_json", "jq"), ("CEF", "jq_cef", "jq")):
            name = "%s vs %s" % (fmt, "Python" if t == "python" else "jq")
            if name not in missed:
                continue
            budget = rows[ref]["cpu"] / TARGETS[t]
            ours = rows["c_json" if fmt == "JSON" else "c_cef"]["cpu"]
            if budget <= parse["cpu"]:
                need.append("%s needs the whole pipeline in %.2f CPU s, no more than "
                            "`yajl_tree_parse` alone takes (%.2f s)" % (name, budget, parse["cpu"]))
            else:
                need.append("%s leaves %.2f s after parsing (%.2f s) for rendering and ids, "
                            "which take %.2f s" % (name, budget - parse["cpu"], parse["cpu"],
                                                   ours - parse["cpu"]))
        pj = rows["py_json"]
        out.append(
            "Why %s missed: %s. The Python reference is C underneath (json.loads, json.dumps, "
            "hashlib): its whole JSON pipeline takes only %.1f× its own json.loads, so 3× asks "
            "for parse + render in %.0f%% of the time json.loads alone needs, and yajl's tree "
            "parser runs at %.2f× json.loads' speed on this input; jq 1.6 is only a few times "
            "slower than Python here. The way up is in the core, not in bench/: a tree built "
            "with yajl's event parser into one arena per page (no per-node malloc/free), and "
            "JSON events that copy the API's own bytes for the incident context and each alert "
            "(yajl reports byte offsets) instead of regenerating them with yajl_gen."
            % (", ".join(missed), "; ".join(need), pj["cpu"] / pyp["cpu"],
               pj["cpu"] / TARGETS["python"] / pyp["cpu"] * 100, parse["mbps"] / pyp["mbps"]))
    out.append(
        "The jq references carry no event_id (jq 1.6 has no hash function), so they do less "
        "work than the forwarder; the CEF references skip the UTF-8 repair and byte-exact "
        "cutting (the \"Same work?\" line shows how close they are).")
    return out


def notes(ctx, api, proc, mem, dlv):
    out = []
    if proc:
        out.extend(processing_notes(proc))
    if mem:
        out.append(memory_note(mem))
    slow = [a for a in api
            if a["scale"] > 1 and a["wall_default"] > 1.25 * forwarder_min(a["calls"])]
    if slow:
        out.append(
            "At ×%s the runs were paced partly by real work (emulator + forwarder CPU), so "
            "their \"at default quota\" time overstates the quota-bound time."
            % "/".join(str(a["scale"]) for a in slow))
    if dlv and dlv["rows"]:
        out.extend(delivery_notes(dlv))
    if api:
        out.append(
            "The forwarder's limiter spends at most half of each quota in a burst and the rest "
            "at the steady rate (src/ratelimit.c), so a long backfill runs at ~25 calls/min "
            "where the API would allow 50/min for the first 1,500 calls of an hour: the \"API "
            "minimum\" column is the quota's best case, not the limiter's.")
    return out


def vidx_bytes(entries):
    """The version index's heap at `entries` ids, from its layout in src/vidx.c at the time of
    writing: open addressing, 32-byte slots, at most 75 % full, doubling from 1,024 (the old
    table lives on while the new one fills), plus one malloc'd key per id (about 48 bytes with
    malloc's overhead for the ~35-character alert ids)."""
    cap = 1024
    while (entries + 1) * 4 > cap * 3:
        cap *= 2
    return cap * 32, cap * 16, entries * 48


def memory_note(mem):
    small, big = mem["small"], mem["big"]
    table, during_grow, keys = vidx_bytes(big["events"])
    text = ("Peak RSS grows with N because the version index (SPEC §3 rule 2: incidentId → "
            "lastUpdateTime and alertId → lastUpdatedTime, kept for 180 days) holds every id "
            "in memory. By its layout (src/vidx.c) %s ids take a %s slot table, %s more while "
            "its last doubling copies, and about %s of keys, %s in all, on top of some 20-30 MB "
            "of bounded buffers (journal, HTTP page and its tree, delivery batch)."
            % (fmt_n(big["events"]), fmt_mb(table), fmt_mb(during_grow), fmt_mb(keys),
               fmt_mb(table + during_grow + keys)))
    if mem["ratio"] > TARGETS["rss"]:
        text += (" Meeting 1.5× at this N needs the index off the heap (a memory-mapped or "
                 "on-disk table) or far denser entries (a 64-bit hash of the id plus its ticks, "
                 "16 bytes, with the full id checked on disk only on a hash match).")
    if big["incidents"] < 100000:
        text += (" The target names N = 100,000; this run stops at %s, where the table is "
                 "still small: `bench/run` (full) measures 100,000." % fmt_n(big["incidents"]))
    return text


def delivery_notes(dlv):
    out = []
    rows = [d for d in dlv["rows"] if "seconds" in d]
    kafka = [d for d in rows if d["what"].startswith("Kafka")]
    kcat = next((d for d in rows if d["what"].startswith("reference: kcat")), None)
    if kafka and kcat:
        batches = math.ceil(dlv["events"] / 2000)
        out.append(
            "Kafka: the output spends about %s per batch of 2,000 events (%d batches), while "
            "kcat sends the same records (same keys, so the same partitions, and headers) at "
            "%.0f ms per 2,000: the gap is a cost per batch, not per record. Part of it is by "
            "design: the core offers the next batch only once the output reported the previous "
            "one delivered (every delivery report back, with exactly_once the transaction "
            "committed) and the checkpoint is written, so one batch is in flight at a time; the "
            "file output pays the same checkpoint per batch and stays far faster, so most of "
            "the rest is in the Kafka output's produce/wait loop, worth profiling there. Against "
            "a real broker each batch also pays its network round trips."
            % (" / ".join("%.0f ms (exactly_once: %s)" % (d["seconds"] / batches * 1000,
                                                         "true" if "true" in d["what"] else "false")
                          for d in kafka), batches, kcat["seconds"] / batches * 1000))
    sl = next((d for d in rows if d["what"].startswith("rsyslog over TLS")), None)
    ref = next((d for d in rows if d["what"].startswith("reference: rsyslog")), None)
    if sl and ref:
        out.append(
            "Syslog over TLS: %.2f× the events/s of rsyslog forwarding the same CEF file "
            "(imfile → omfwd, RFC 5424, octet-counted, certificate checked as the forwarder "
            "does); both times end when the same receiving rsyslog has written the last message."
            % (sl["eps"] / ref["eps"]))
    return out


def forwarder_min(calls):
    """The forwarder limiter's own schedule (src/ratelimit.c: burst 25, then 25/min and
    1,475/h): only used to decide whether a time-scaled run was quota-bound."""
    if calls <= 25:
        return 0.0
    return max((calls - 25) / (25 / 60.0), (calls - 25) / (1475 / 3600.0))


# ---- main ---------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description="defender-forwarder benchmarks")
    ap.add_argument("--quick", action="store_true", help="smaller sizes: under 5 minutes")
    ap.add_argument("--build", required=True, help="build directory (DF_BENCH=ON)")
    ap.add_argument("--setup-seconds", type=float, default=0,
                    help="time bench/run spent installing and building before this script")
    ap.add_argument("--out", help="Markdown report path (default bench/results/<profile>.md)")
    ap.add_argument("--workdir", help="scratch directory (default: a new one under $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--only", default="api,processing,delivery",
                    help="comma-separated subset of api,processing,delivery")
    args = ap.parse_args()
    t0 = time.monotonic()
    profile = "quick" if args.quick else "full"
    work = args.workdir or tempfile.mkdtemp(prefix="dfw-bench-")
    os.makedirs(work, exist_ok=True)
    ctx = {"profile": profile, "prof": PROFILES[profile], "build": os.path.abspath(args.build),
           "work": work, "binary": os.path.join(os.path.abspath(args.build), "defender-forwarder"),
           "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")}
    only = set(args.only.split(","))
    for tool in ("json_reformat", "jq"):
        if shutil.which(tool) is None:
            sys.exit("bench: %s is missing (bench/run installs it)" % tool)
    try:
        m = machine(work, ctx["build"])
        api, mem, proc, dlv = [], None, None, None
        if "api" in only:
            api = [api_run(ctx, n, k) for n, k in ctx["prof"]["api_runs"]]
            small, big = ctx["prof"]["mem_pair"]
            s = next(a for a in api if a["incidents"] == small)
            b = next(a for a in api if a["incidents"] == big)
            mem = {"small": s, "big": b, "ratio": b["rss_kb"] / s["rss_kb"]}
        if "processing" in only:
            proc = processing(ctx)
        if "delivery" in only:
            dlv = delivery(ctx)
        ctx["setup_s"] = args.setup_seconds
        text = report(ctx, m, api, proc, mem, dlv or empty_dlv(),
                      args.setup_seconds + time.monotonic() - t0)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log("scratch directory kept: %s" % work)
    out = args.out or os.path.join(HERE, "results", "%s.md" % profile)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write(text)
    print(text)
    log("report written to %s" % out)


def empty_dlv():
    return {"events": 0, "journal_bytes": 0, "incidents": 0, "rows": []}


if __name__ == "__main__":
    main()
