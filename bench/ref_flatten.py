#!/usr/bin/env python3
"""Reference for the processing benchmark: the same flattening, scripted as a user would with
Python's json module (C underneath) and hashlib.

Reads API list pages, one per line ({"value":[…]}), and writes one event per line:
  --format json   the SPEC §4 JSON events, byte for byte what the forwarder writes
                  (bench/run checks that on the first page);
  --format cef    CEF events with the documented mapping (docs/cef-mapping.md): header and
                  extension escaping, control characters replaced, severity, epoch-ms
                  timestamps, tags/techniques joined, first device/user/IP/URL/file picked.
                  Close to, not byte-identical with, the forwarder's output (it skips the
                  UTF-8 repair and byte-exact cutting that a script would not bother with).
  --format parse  json.loads only: the Python parser's own cost.

Written plainly on purpose: it is the yardstick for "what if I just scripted it".
"""
import argparse
import hashlib
import json
import sys
from datetime import datetime, timezone

SEVERITY = {"unspecified": "0", "informational": "1", "low": "3", "medium": "5", "high": "8"}
# C0 controls, DEL and C1 controls become spaces; CR/LF are handled by the escapers.
CONTROLS = {c: " " for c in list(range(0x20)) + list(range(0x7f, 0xa0)) if c not in (10, 13)}
CONTROLS.update({0x2028: " ", 0x2029: " "})
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def event_id(tenant, kind, ident, version):
    return hashlib.sha256(("%s\n%s\n%s\n%s" % (tenant, kind, ident, version)).encode()).hexdigest()[:32]


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def flatten_json(page, tenant, out):
    for inc in reversed(page["value"]):
        alerts = inc.get("alerts") or []
        ctx = {k: v for k, v in inc.items() if k != "alerts"}
        ctx["alertCount"] = len(alerts)
        eid = event_id(tenant, "incident", inc["incidentId"], inc["lastUpdateTime"])
        out.write(dumps({"type": "incident", "event_id": eid, "tenant": tenant,
                         "incident": ctx}) + "\n")
        for al in alerts:
            eid = event_id(tenant, "alert", al["alertId"], al.get("lastUpdatedTime") or "")
            out.write(dumps({"type": "alert", "event_id": eid, "tenant": tenant,
                             "incident": ctx, "alert": al}) + "\n")


def text(v):
    if v is None or isinstance(v, (dict, list)):
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def hdr(v, limit=1023):
    s = (text(v) or "").translate(CONTROLS).replace("\r", " ").replace("\n", " ")[:limit]
    return s.replace("\\", "\\\\").replace("|", "\\|")


def val(v, limit=1023):
    s = text(v)
    if s is None:
        return None
    s = s.translate(CONTROLS)[:limit].rstrip(" ")
    if not s:
        return None
    return s.replace("\\", "\\\\").replace("=", "\\=").replace("\n", "\\n").replace("\r", "\\r")


def ms(ts):
    if not isinstance(ts, str) or not ts.endswith("Z"):
        return None
    main, _, frac = ts[:-1].partition(".")
    try:
        dt = datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return str(int((dt - EPOCH).total_seconds()) * 1000 + int((frac + "000")[:3]))


def joined(v):
    if not isinstance(v, list):
        return None
    return ",".join(str(x) for x in v if isinstance(x, (str, int, float)) and str(x) != "")


def cef_line(sig, name, sev, pairs):
    ext = " ".join("%s=%s" % (k, v) for k, v in pairs if v is not None)
    return "CEF:0|Microsoft|Microsoft 365 Defender|1.0|%s|%s|%s|%s\n" % (
        hdr(sig), hdr(name, 512), SEVERITY.get(str(sev).lower(), "0"), ext)


def first(items, key):
    for it in items or []:
        v = it.get(key) if isinstance(it, dict) else None
        if isinstance(v, str) and v:
            return v
    return None


def flatten_cef(page, tenant, out):
    for inc in reversed(page["value"]):
        alerts = inc.get("alerts") or []
        iid = inc["incidentId"]
        eid = event_id(tenant, "incident", iid, inc["lastUpdateTime"])
        out.write(cef_line("incident", inc.get("incidentName"), inc.get("severity"), [
            ("externalId", val(iid, 40)), ("rt", ms(inc.get("lastUpdateTime"))),
            ("start", ms(inc.get("createdTime"))), ("cat", "Incident"),
            ("cs1", val(inc.get("status"))), ("cs1Label", "status"),
            ("cs2", val(inc.get("classification"))), ("cs2Label", "classification"),
            ("cs3", val(inc.get("determination"))), ("cs3Label", "determination"),
            ("cs4", val(joined(inc.get("tags")))), ("cs4Label", "tags"),
            ("cs5", val(inc.get("assignedTo"))), ("cs5Label", "assignedTo"),
            ("cn1", str(len(alerts))), ("cn1Label", "alertCount"),
            ("cn2", val(inc.get("redirectIncidentId"))), ("cn2Label", "redirectIncidentId"),
            ("flexString1", val(tenant)), ("flexString1Label", "tenant"),
            ("cs6", eid), ("cs6Label", "eventId")]))
        for al in alerts:
            eid = event_id(tenant, "alert", al["alertId"], al.get("lastUpdatedTime") or "")
            ents = al.get("entities") or []
            users = [e for e in ents if str(e.get("entityType", "")).lower() == "user"]
            files = [e for e in ents if str(e.get("entityType", "")).lower() == "file"] or ents
            f = next((e for e in files if any(e.get(k) for k in
                                                ("fileName", "filePath", "sha256", "sha1"))), {})
            u = next((e for e in users if e.get("accountName") or e.get("userPrincipalName")), {})
            boxes = [e for e in ents if str(e.get("entityType", "")).lower() == "mailbox"]
            mb = next((e for e in boxes if e.get("userPrincipalName") or e.get("mailboxAddress")), {})
            sig = al.get("detectorId") if isinstance(al.get("detectorId"), str) and al.get("detectorId") else "alert"
            out.write(cef_line(sig, al.get("title"), al.get("severity"), [
                ("externalId", val(al["alertId"], 40)), ("rt", ms(al.get("lastUpdatedTime"))),
                ("start", ms(al.get("firstActivity"))), ("end", ms(al.get("lastActivity"))),
                ("cat", val(al.get("category"))), ("msg", val(al.get("description"))),
                ("cs1", val(al.get("status"))), ("cs1Label", "status"),
                ("cs2", val(al.get("classification"))), ("cs2Label", "classification"),
                ("cs3", val(al.get("determination"))), ("cs3Label", "determination"),
                ("cs4", val(al.get("detectionSource"))), ("cs4Label", "detectionSource"),
                ("cs5", val(joined(al.get("mitreTechniques")))), ("cs5Label", "mitreTechniques"),
                ("cn1", val(al.get("incidentId", iid))), ("cn1Label", "incidentId"),
                ("dhost", val(first(al.get("devices"), "deviceDnsName"))),
                ("duser", val(u.get("accountName") or u.get("userPrincipalName") if u else
                              mb.get("userPrincipalName") or mb.get("mailboxAddress"))),
                ("dntdom", val(u.get("domainName"), 255)),
                ("dst", val(first(ents, "ipAddress"))), ("request", val(first(ents, "url"))),
                ("fname", val(f.get("fileName"))), ("filePath", val(f.get("filePath"))),
                ("fileHash", val(f.get("sha256") or f.get("sha1"), 255)),
                ("flexString1", val(tenant)), ("flexString1Label", "tenant"),
                ("cs6", eid), ("cs6Label", "eventId")]))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--format", choices=("json", "cef", "parse"), default="json")
    p.add_argument("--tenant", default="contoso")
    p.add_argument("input")
    args = p.parse_args()
    flatten = {"json": flatten_json, "cef": flatten_cef,
               "parse": lambda page, tenant, out: None}[args.format]
    out = sys.stdout
    with open(args.input, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                flatten(json.loads(line), args.tenant, out)
    out.flush()


if __name__ == "__main__":
    main()
