#!/usr/bin/env python3
"""Self-test of tests/emulator/emulator.py: starts it as a subprocess and checks the important
behaviours over HTTP with urllib/http.client. Exit status 0 when every check passes, 1 otherwise.

    python3 tests/emulator/selftest.py [-v]
"""

import calendar
import gzip
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(HERE, "emulator.py")
SCOPE = "https://api.security.microsoft.com/.default"
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{0,6}[1-9])?Z$")
VERBOSE = "-v" in sys.argv

failures = []


def check(cond, what):
    if cond:
        if VERBOSE:
            print("ok   " + what)
    else:
        failures.append(what)
        print("FAIL " + what)


def ticks(ts):
    m = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,7}))?Z$", ts)
    secs = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    return secs * 10_000_000 + int((m.group(2) or "").ljust(7, "0"))


def fmt7(t):
    secs, frac = divmod(t, 10_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + ".%07dZ" % frac


def fmt0(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t // 10_000_000))


class Emulator:
    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, EMULATOR, "--quiet", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        m = re.fullmatch(r"listening (http://127\.0\.0\.1:(\d+))", line)
        if not m:
            self.proc.kill()
            raise SystemExit("emulator did not start: %r %s" % (line, self.proc.stderr.read()))
        self.base = m.group(1)
        self.port = int(m.group(2))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return None
        return self.proc.returncode

    def req(self, method, path, token=None, body=None, form=None, headers=None):
        """-> (status, headers, parsed JSON or raw bytes)."""
        h = dict(headers or {})
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            h["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if token:
            h["Authorization"] = "Bearer " + token
        r = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(r, timeout=20) as resp:
                status, hdrs, raw = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            status, hdrs, raw = e.code, e.headers, e.read()
        if hdrs.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        try:
            return status, hdrs, json.loads(raw)
        except ValueError:
            return status, hdrs, raw

    def token(self, client="client-a"):
        s, _, j = self.req("POST", "/tenant-x/oauth2/v2.0/token",
                           form={"grant_type": "client_credentials", "client_id": client,
                                 "client_secret": "test-secret", "scope": SCOPE})
        assert s == 200, (s, j)
        return j["access_token"]

    def ctl(self, method, what, body=None):
        s, _, j = self.req(method, "/_control/" + what, body=body)
        assert s == 200, (what, s, j)
        return j


def q(**params):
    return "/api/incidents?" + urllib.parse.urlencode(params, safe="$':", quote_via=urllib.parse.quote)


def test_tokens(emu):
    s, h, j = emu.req("POST", "/t1/oauth2/v2.0/token",
                      form={"grant_type": "client_credentials", "client_id": "c1",
                            "client_secret": "test-secret", "scope": SCOPE})
    check(s == 200 and j["token_type"] == "Bearer" and type(j["expires_in"]) is int
          and type(j["ext_expires_in"]) is int and isinstance(j["access_token"], str),
          "token v2: 200, numbers as JSON numbers")
    s, h, j = emu.req("POST", "/t1/oauth2/token",
                      form={"grant_type": "client_credentials", "client_id": "c1",
                            "client_secret": "test-secret",
                            "resource": "https://api.security.microsoft.com"})
    check(s == 200 and j["expires_in"] == "3599" and j["expires_on"].isdigit()
          and j["not_before"].isdigit() and j["resource"] == "https://api.security.microsoft.com"
          and j["ext_expires_in"] == "3599", "token v1: numbers as strings, expires_on, resource")
    s, h, j = emu.req("POST", "/t1/oauth2/v2.0/token",
                      form={"grant_type": "client_credentials", "client_id": "c1",
                            "client_secret": "wrong", "scope": SCOPE})
    check(s == 401 and j["error"] == "invalid_client" and j["error_codes"] == [7000215]
          and "AADSTS7000215" in j["error_description"] and j["trace_id"] and j["correlation_id"],
          "token: wrong secret -> 401 invalid_client AADSTS7000215")
    s, h, j = emu.req("POST", "/t1/oauth2/v2.0/token",
                      form={"grant_type": "client_credentials", "client_id": "c1",
                            "client_secret": "test-secret"})
    check(s == 400 and j["error"] == "invalid_scope", "token v2: missing scope -> 400 invalid_scope")
    s, h, j = emu.req("POST", "/t1/oauth2/token",
                      form={"grant_type": "client_credentials", "client_id": "c1",
                            "client_secret": "test-secret"})
    check(s == 400 and j["error"] == "invalid_request", "token v1: missing resource -> 400 invalid_request")


def test_auth(emu):
    s, h, j = emu.req("GET", "/api/incidents")
    check(s == 401 and j["error"]["code"] == "Unauthorized" and j["error"]["target"],
          "401 Unauthorized without a token")
    s, h, j = emu.req("GET", "/api/incidents", token="not-a-token")
    check(s == 401, "401 with an unknown token")
    check(emu.ctl("GET", "stats")["unauthorized"] >= 2, "stats count unauthorized calls")


def test_list(emu, tok, all_incs):
    s, h, j = emu.req("GET", "/api/incidents", token=tok)
    check(s == 200 and j["@odata.context"].endswith("$metadata#Incidents") and len(j["value"]) == 100,
          "list: default page of 100 with @odata.context")
    check(h.get("Date") is not None, "list: Date header present")
    keys = [(ticks(i["lastUpdateTime"]), i["incidentId"]) for i in j["value"]]
    check(keys == sorted(keys, reverse=True), "list: newest first (ties by incidentId desc)")
    expect = sorted(all_incs, key=lambda i: (ticks(i["lastUpdateTime"]), i["incidentId"]), reverse=True)
    check([i["incidentId"] for i in j["value"]] == [i["incidentId"] for i in expect[:100]],
          "list: first page equals the newest 100 of all incidents")
    pages = []
    for skip in (0, 7, 14):
        s, _, p = emu.req("GET", q(**{"$top": 7, "$skip": skip}), token=tok)
        pages += p["value"]
    check([i["incidentId"] for i in pages] == [i["incidentId"] for i in expect[:21]],
          "list: $top/$skip pages concatenate to the ordered list")
    s, _, p = emu.req("GET", q(**{"$top": 100, "$skip": len(all_incs) - 5}), token=tok)
    check(s == 200 and len(p["value"]) == 5, "list: last page is short")
    bad_ts = [t for i in j["value"] for t in [i["createdTime"], i["lastUpdateTime"]]
              + [a[k] for a in i["alerts"] for k in ("creationTime", "lastUpdatedTime", "firstActivity")]
              if not TS_RE.match(t)]
    check(not bad_ts, "timestamps: UTC Z, 0-7 digits, trailing zeros trimmed %s" % bad_ts[:3])
    fr = {i["lastUpdateTime"][-6:-1] for i in all_incs if len(i["lastUpdateTime"]) == 28}
    check(all(x.endswith(("3333", "6667")) for x in fr), "timestamps: 7-digit values are 1/300 s steps")
    check("odata.nextLink" not in json.dumps(j), "list: no nextLink by default")


def test_filters(emu, tok, all_incs):
    lut = sorted({ticks(i["lastUpdateTime"]) for i in all_incs})
    lo, hi = lut[len(lut) // 4], lut[len(lut) // 4 + 40]
    f = "lastUpdateTime ge %s and lastUpdateTime lt %s" % (fmt7(lo), fmt7(hi))
    expect = sorted((i for i in all_incs if lo <= ticks(i["lastUpdateTime"]) < hi),
                    key=lambda i: (ticks(i["lastUpdateTime"]), i["incidentId"]), reverse=True)
    s, _, j = emu.req("GET", q(**{"$filter": f, "$top": 100}), token=tok)
    check(s == 200 and [i["incidentId"] for i in j["value"]] == [i["incidentId"] for i in expect],
          "filter: ge/lt with 7-digit literals (+ encoding)")
    # Same filter with %20 instead of + for spaces.
    path = "/api/incidents?$filter=" + urllib.parse.quote(f, safe=":") + "&$top=100"
    s, _, j2 = emu.req("GET", path, token=tok)
    check(s == 200 and j2["value"] == j["value"], "filter: %20-encoded spaces")
    lo0, hi0 = lo - lo % 10_000_000, hi - hi % 10_000_000 + 10_000_000
    f0 = "lastUpdateTime ge %s and lastUpdateTime lt %s" % (fmt0(lo0), fmt0(hi0))
    expect0 = [i["incidentId"] for i in sorted(
        (i for i in all_incs if lo0 <= ticks(i["lastUpdateTime"]) < hi0),
        key=lambda i: (ticks(i["lastUpdateTime"]), i["incidentId"]), reverse=True)]
    s, _, j = emu.req("GET", q(**{"$filter": f0}), token=tok)
    check(s == 200 and [i["incidentId"] for i in j["value"]] == expect0[:100],
          "filter: ge/lt with 0-digit literals")
    f = "(status eq 'Resolved' or status eq 'InProgress') and createdTime gt %s" % fmt7(lo)
    expect = [i["incidentId"] for i in sorted(
        (i for i in all_incs if i["status"] in ("Resolved", "InProgress") and ticks(i["createdTime"]) > lo),
        key=lambda i: (ticks(i["lastUpdateTime"]), i["incidentId"]), reverse=True)]
    s, _, j = emu.req("GET", q(**{"$filter": f, "$top": 50, "$skip": 3}), token=tok)
    check(s == 200 and [i["incidentId"] for i in j["value"]] == expect[3:53],
          "filter: or, parentheses, status and createdTime with $skip")
    s, _, j = emu.req("GET", q(**{"$filter": "assignedTo eq null and status ne 'Redirected'", "$top": 100}), token=tok)
    check(s == 200 and all(i["assignedTo"] is None and i["status"] != "Redirected" for i in j["value"]),
          "filter: assignedTo eq null, ne")
    for bad in ("severity eq 'High'", "lastUpdateTime gee 2024-01-01T00:00:00Z",
                "lastUpdateTime ge '2024-01-01T00:00:00Z'", "lastUpdateTime ge 2024-01-01T00:00:00.12345678Z",
                "(status eq 'Active'", "status eq 'Active' and", "lastUpdateTime ge 2024-13-01T00:00:00Z"):
        s, _, j = emu.req("GET", q(**{"$filter": bad}), token=tok)
        check(s == 400 and j["error"]["code"] == "ODataError"
              and j["error"]["message"].startswith("Invalid OData URI query"),
              "filter: %r -> 400 ODataError" % bad)
    for top in ("101", "0"):
        s, _, j = emu.req("GET", q(**{"$top": top}), token=tok)
        check(s == 400 and j["error"]["code"] == "BadRequest", "$top=%s -> 400 BadRequest" % top)
    s, _, j = emu.req("GET", q(**{"$orderby": "lastUpdateTime asc"}), token=tok)
    check(s == 400, "unsupported $orderby -> 400")


def test_get_patch(emu, tok, all_incs):
    s, _, j = emu.req("GET", "/api/incidents/99999999", token=tok)
    check(s == 404 and j["error"]["code"] == "ResourceNotFound"
          and j["error"]["message"] == "Incident 99999999 wasn't found", "get: unknown id -> 404")
    target = next(i for i in all_incs if len(i["alerts"]) >= 2 and i["status"] != "Redirected")
    iid = target["incidentId"]
    s, _, j = emu.req("GET", "/api/incidents/%d" % iid, token=tok)
    check(s == 200 and j["@odata.context"].endswith("#Incidents/$entity") and j["incidentId"] == iid
          and list(j)[1] == "incidentId", "get: 200 with $entity context first")
    body = {"status": "InProgress", "assignedTo": "secop2@contoso.com", "classification": "TruePositive",
            "determination": "Malware", "tags": ["a|b", "日本"], "comment": "pen testing"}
    t0 = time.time()
    s, _, p = emu.req("PATCH", "/api/incidents/%d" % iid, token=tok, body=body)
    check(s == 200 and p["@odata.context"].endswith("$entity"), "patch: 200 with $entity")
    new_lut = ticks(p["lastUpdateTime"])
    check(new_lut > ticks(target["lastUpdateTime"]) and abs(new_lut / 1e7 - t0) < 5,
          "patch: lastUpdateTime bumped to now")
    deltas = [ticks(a["lastUpdatedTime"]) - new_lut for a in p["alerts"]]
    check(all(600_000 <= d <= 800_000 for d in deltas), "patch: every alert bumped ~73 ms after (%s)" % deltas)
    c = p["comments"][-1]
    check(c["comment"] == "pen testing" and c["createdBy"] == "api-app-client-a"
          and abs(ticks(c["createdTime"]) / 1e7 - t0) < 5, "patch: comment appended with createdBy/createdTime")
    check(p["status"] == "InProgress" and p["tags"] == ["a|b", "日本"] and p["determination"] == "Malware",
          "patch: fields applied, tags replaced")
    s, _, g = emu.req("GET", "/api/incidents/%d" % iid, token=tok)
    check(g["lastUpdateTime"] == p["lastUpdateTime"], "patch: GET shows the new version")
    s, _, j = emu.req("GET", q(**{"$top": 1}), token=tok)
    check(j["value"][0]["incidentId"] == iid, "patch: incident moves to the front of the list")
    for bad in ({"status": "Closed"}, {"Status": "Active"}, {"tags": "x"}, {"foo": 1},
                {"classification": "Bogus"}, {"assignedTo": 5}):
        s, _, j = emu.req("PATCH", "/api/incidents/%d" % iid, token=tok, body=bad)
        check(s == 400 and j["error"]["code"] == "InvalidRequestBody", "patch: %r -> 400" % bad)
    s, _, j = emu.req("PATCH", "/api/incidents/99999999", token=tok, body={"status": "Active"})
    check(s == 404, "patch: unknown id -> 404")
    return iid


def test_control(emu, tok, all_incs):
    inc = next(i for i in all_incs if len(i["alerts"]) >= 2 and i["status"] == "Active")
    iid = inc["incidentId"]
    before = emu.ctl("GET", "incidents/%d" % iid)
    v0 = len(emu.ctl("GET", "versions")["value"])
    c = emu.ctl("POST", "mutate", {"id": iid, "comment": "only a comment"})
    check(c["lastUpdateTime"] != before["lastUpdateTime"]
          and [a["lastUpdatedTime"] for a in c["alerts"]] == [a["lastUpdatedTime"] for a in before["alerts"]]
          and c["comments"][-1]["comment"] == "only a comment", "mutate: comment-only leaves alerts untouched")
    f = emu.ctl("POST", "mutate", {"id": iid, "status": "Resolved"})
    check(all(ticks(a["lastUpdatedTime"]) > ticks(f["lastUpdateTime"]) for a in f["alerts"])
          and all(a["status"] == "Resolved" for a in f["alerts"]), "mutate: field change bumps every alert")
    aid = f["alerts"][1]["alertId"]
    t = emu.ctl("POST", "mutate", {"id": iid, "touch_alert": aid})
    changed = [a["alertId"] for a, b in zip(t["alerts"], f["alerts"]) if a["lastUpdatedTime"] != b["lastUpdatedTime"]]
    check(changed == [aid], "mutate: touch_alert bumps exactly that alert")
    n = emu.ctl("POST", "mutate", {"new": True})
    check(1 <= len(n["alerts"]) <= 3 and n["status"] == "Active", "mutate: new incident with 1-3 alerts")
    s, _, g = emu.req("GET", "/api/incidents/%d" % n["incidentId"], token=tok)
    check(s == 200 and g["lastUpdateTime"] == n["lastUpdateTime"], "mutate: new incident visible via API")
    vers = emu.ctl("GET", "versions")["value"]
    tail = vers[v0:]
    check([(v["incidentId"], v["lastUpdateTime"]) for v in tail] ==
          [(iid, c["lastUpdateTime"]), (iid, f["lastUpdateTime"]), (iid, t["lastUpdateTime"]),
           (n["incidentId"], n["lastUpdateTime"])], "versions: every mutation logged in order")
    check(tail[2]["alerts"] == [{"alertId": a["alertId"], "lastUpdatedTime": a["lastUpdatedTime"]} for a in t["alerts"]]
          and all(TS_RE.match(v["visibleFrom"]) for v in tail), "versions: alert stamps and visibleFrom")
    s, _, j = emu.req("POST", "/_control/mutate", body={"id": iid, "status": "Nope"})
    check(s == 400, "mutate: bad enum -> 400")

    # Late visibility: the new version is held back, with its original lastUpdateTime.
    emu.ctl("POST", "config", {"late_visibility": 1.5})
    old = emu.req("GET", "/api/incidents/%d" % iid, token=tok)[2]
    m = emu.ctl("POST", "mutate", {"id": iid, "assignedTo": "late@contoso.com"})
    s, _, g = emu.req("GET", "/api/incidents/%d" % iid, token=tok)
    lst = emu.req("GET", q(**{"$filter": "lastUpdateTime ge %s" % m["lastUpdateTime"]}), token=tok)[2]["value"]
    check(g["lastUpdateTime"] == old["lastUpdateTime"] and iid not in [i["incidentId"] for i in lst],
          "late visibility: update hidden at first")
    time.sleep(1.8)
    s, _, g = emu.req("GET", "/api/incidents/%d" % iid, token=tok)
    lst = emu.req("GET", q(**{"$filter": "lastUpdateTime ge %s" % m["lastUpdateTime"]}), token=tok)[2]["value"]
    check(g["lastUpdateTime"] == m["lastUpdateTime"] and g["assignedTo"] == "late@contoso.com"
          and iid in [i["incidentId"] for i in lst], "late visibility: visible later with original timestamp")
    emu.ctl("POST", "config", {"late_visibility": 0})


def test_same_tick(emu, tok, all_incs, k):
    from collections import Counter
    lut, n = Counter(i["lastUpdateTime"] for i in all_incs).most_common(1)[0]
    check(n >= k, "same-tick: %d incidents share lastUpdateTime %s" % (n, lut))
    s, _, j = emu.req("GET", q(**{"$filter": "lastUpdateTime eq %s" % fmt7(ticks(lut))}), token=tok)
    ids = [i["incidentId"] for i in j["value"]]
    check(len(ids) == n and ids == sorted(ids, reverse=True), "same-tick: eq filter returns all, ids descending")
    created = {i["createdTime"] for i in all_incs if i["lastUpdateTime"] == lut}
    check(len(created) > 1, "same-tick: createdTime varies")


def test_http(emu, tok):
    s, h, j = emu.req("GET", q(**{"$top": 5}), token=tok, headers={"Accept-Encoding": "gzip"})
    check(s == 200 and h.get("Content-Encoding") == "gzip" and len(j["value"]) == 5, "gzip when asked")
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
    socks = set()
    for _ in range(3):
        conn.request("GET", "/api/incidents?$top=2", headers={"Authorization": "Bearer " + tok})
        r = conn.getresponse()
        r.read()
        socks.add(conn.sock.getsockname())
        check(r.status == 200 and r.getheader("Content-Length") is not None, "keep-alive: 200 with Content-Length")
    check(len(socks) == 1, "keep-alive: one connection reused")
    conn.close()


def test_faults_and_expiry(emu):
    tok = emu.token("client-f")
    emu.ctl("POST", "config", {"fault_5xx": 1.0})
    s, _, j = emu.req("GET", q(**{"$top": 1}), token=tok)
    check(s in (500, 503), "fault: 5xx")
    emu.ctl("POST", "config", {"fault_5xx": 0.0, "fault_reset": 1.0})
    try:
        emu.req("GET", q(**{"$top": 1}), token=tok)
        check(False, "fault: reset")
    except (ConnectionError, http.client.HTTPException, urllib.error.URLError, OSError):
        check(True, "fault: reset")
    emu.ctl("POST", "config", {"fault_reset": 0.0, "fault_truncate": 1.0})
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
    conn.request("GET", "/api/incidents?$top=3", headers={"Authorization": "Bearer " + tok})
    r = conn.getresponse()
    try:
        r.read()
        check(False, "fault: truncate")
    except http.client.IncompleteRead:
        check(True, "fault: truncate")
    conn.close()
    emu.ctl("POST", "config", {"fault_truncate": 0.0, "fault_stall": 1.0, "stall_seconds": 1.0})
    t0 = time.monotonic()
    s, _, _ = emu.req("GET", q(**{"$top": 1}), token=tok)
    check(s == 200 and time.monotonic() - t0 >= 0.9, "fault: stall")
    emu.ctl("POST", "config", {"fault_stall": 0.0})
    st = emu.ctl("GET", "stats")
    check(st["faults"] >= 4, "stats: faults counted")
    emu.ctl("POST", "config", {"token_lifetime": 1})
    short = emu.token("client-f")
    time.sleep(1.3)
    s, _, j = emu.req("GET", q(**{"$top": 1}), token=short)
    check(s == 401, "token: expired after token_lifetime")
    emu.ctl("POST", "config", {"token_lifetime": 3599, "nextlink": True})
    s, _, j = emu.req("GET", q(**{"$top": 2}), token=tok)
    check("@odata.nextLink" in j and "%24skip=2" not in j["@odata.nextLink"]
          and "$skip=2" in j["@odata.nextLink"], "nextLink when switched on")
    emu.ctl("POST", "config", {"nextlink": False})


def test_quota():
    emu = Emulator("--generate", "20", "--quota-per-minute", "3")
    try:
        tok = emu.token()
        statuses = [emu.req("GET", q(**{"$top": 1}), token=tok)[0] for _ in range(3)]
        s, h, j = emu.req("GET", q(**{"$top": 1}), token=tok)
        ra = h.get("Retry-After")
        check(statuses == [200] * 3 and s == 429 and ra and ra.isdigit() and 1 <= int(ra) <= 60
              and j["error"]["code"] == "TooManyRequests"
              and ("again in %s seconds" % ra) in j["error"]["message"], "quota: 4th call -> 429 with Retry-After")
        s2 = emu.req("GET", "/api/incidents/1000", token=tok)[0]
        check(s2 == 200, "quota: single GET has its own (double) minute quota")
        other = emu.token("client-b")
        check(emu.req("GET", q(**{"$top": 1}), token=other)[0] == 200, "quota: per application")
        st = emu.ctl("GET", "stats")
        check(st["throttled"] == 1 and st["calls"]["list"] == 5 and st["calls"]["token"] == 2,
              "stats: calls and throttled %s" % st)
        emu.ctl("POST", "reset-stats")
        check(emu.ctl("GET", "stats")["calls"]["list"] == 0, "reset-stats")
    finally:
        rc = emu.stop()
        check(rc == 0, "SIGTERM: exit 0 (rc=%s)" % rc)


def test_data_file():
    path = os.path.join(HERE, "..", "data", "fixtures", "list-incidents-docs-example.json")
    if not os.path.exists(path):
        return
    emu = Emulator("--data", path)
    try:
        tok = emu.token()
        s, _, j = emu.req("GET", "/api/incidents", token=tok)
        with open(path, encoding="utf-8") as fh:
            ref = json.load(fh)
        check(s == 200 and json.dumps(j) == json.dumps(ref), "--data: docs example served verbatim")
    finally:
        emu.stop()


def main():
    k = 6
    emu = Emulator("--generate", "500", "--same-tick", str(k), "--seed", "7")
    try:
        all_incs = emu.ctl("GET", "incidents")["value"]
        check(len(all_incs) == 500 + k, "generate: N + K incidents")
        test_tokens(emu)
        test_auth(emu)
        tok = emu.token()
        test_list(emu, tok, all_incs)
        test_filters(emu, tok, all_incs)
        test_same_tick(emu, tok, all_incs, k)
        test_get_patch(emu, tok, all_incs)
        all_incs = emu.ctl("GET", "incidents")["value"]
        test_control(emu, tok, all_incs)
        test_http(emu, tok)
        test_faults_and_expiry(emu)
    finally:
        rc = emu.stop()
    test_quota()
    test_data_file()
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("selftest: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
