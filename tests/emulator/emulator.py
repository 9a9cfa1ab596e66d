#!/usr/bin/env python3
"""Emulator of the Microsoft Defender XDR incidents API (legacy /api/incidents) and of the
Entra ID client-credentials token endpoints, for defender-forwarder tests.

Python 3.11 standard library only. Behaviour follows the project reference reference/api.md
(§2-§15, emulator checklist §20); see README.md beside this file for the CLI and the control API.

Design notes
- Time is held as integer 100 ns ticks since the Unix epoch and printed like the service:
  UTC, trailing `Z`, 0-7 fractional digits with trailing zeros trimmed (api.md §3.6).
  With quantisation (default) incident createdTime/lastUpdateTime and alert lastUpdatedTime
  are multiples of 1/300 s (SQL Server `datetime`), so ties occur as in real data.
- Every change creates a new immutable incident *version*. The store keeps the latest version
  of each incident, the version visible to the API (late visibility can hold a version back),
  and a log of every version ever created (/_control/versions) for exactly-once assertions.
- Visible versions are indexed by one sorted list of integer keys -(lastUpdateTime<<64 | id),
  i.e. newest first with ties broken by incidentId descending. A $filter is parsed once per
  request into a predicate plus the lastUpdateTime range implied by its top-level `and`; the
  range is located with bisect, so a windowed query costs O(log N + page), not O(N log N).
- Generated alerts keep their bulky parts (texts, devices, entities) in shared pools and only
  per-alert scalars in a __slots__ record, so ~100k incidents fit in a few hundred MB. Incidents
  are rendered to JSON on demand (no cache: a page of 100 renders in ~10-20 ms).
- A request's Date header is taken *before* the state snapshot. Any version committed after
  the snapshot therefore has lastUpdateTime >= the (second-truncated) Date, so a client that
  ends its window at the server's Date never loses an update through this race (SPEC §3 r.7).
"""

import argparse
import base64
import bisect
import datetime
import email.utils
import gzip
import heapq
import json
import math
import operator
import random
import re
import secrets
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

# --------------------------------------------------------------------------------------------
# Time: 100 ns ticks since 1970-01-01T00:00:00Z
# --------------------------------------------------------------------------------------------

TPS = 10_000_000                      # ticks per second
MASK64 = (1 << 64) - 1
_EPOCH_ORD = datetime.date(1970, 1, 1).toordinal()
_TS_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?Z\Z")
# The ticks between 0001-01-01 and 1970-01-01 (.NET DateTime.Ticks of the Unix epoch); used to
# build Defender for Endpoint alert ids, which embed .NET ticks ("da637349914833441527_…").
_DOTNET_EPOCH_TICKS = 621355968000000000


def now_ticks():
    return time.time_ns() // 100


def parse_ts(text):
    """Parse a service timestamp (0-7 fractional digits, Z) to ticks; ValueError if invalid."""
    m = _TS_RE.match(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError("bad timestamp %r" % (text,))
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    days = datetime.date(y, mo, d).toordinal() - _EPOCH_ORD   # validates the date
    if h > 23 or mi > 59 or s > 59:
        raise ValueError("bad time of day in %r" % (text,))
    frac = int((m.group(7) or "").ljust(7, "0"))
    return (days * 86400 + h * 3600 + mi * 60 + s) * TPS + frac


def fmt_ts(ticks):
    """Ticks -> '2020-09-06T14:46:57.0733333Z' with trailing fractional zeros trimmed."""
    secs, frac = divmod(ticks, TPS)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac:
        # frac != 0, so rstrip stops inside the fraction and never eats the seconds.
        return ("%s.%07d" % (base, frac)).rstrip("0") + "Z"
    return base + "Z"


def _to_units(ticks):
    """Nearest 1/300 s unit (round half up)."""
    return (ticks * 300 + TPS // 2) // TPS


def _from_units(units):
    """1/300 s units -> ticks, rounded to the nearest tick (…3333, …6667 like datetime2(7))."""
    return (units * TPS + 150) // 300


def quantise(ticks):
    return _from_units(_to_units(ticks))


# --------------------------------------------------------------------------------------------
# OData $filter
# --------------------------------------------------------------------------------------------

class ODataError(Exception):
    pass


_DATE_PROPS = ("lastUpdateTime", "createdTime")
_STRING_PROPS = ("status", "assignedTo")
_OPS = {"eq": operator.eq, "ne": operator.ne, "gt": operator.gt,
        "ge": operator.ge, "lt": operator.lt, "le": operator.le}
INCIDENT_STATUSES = ("Active", "Resolved", "InProgress", "Redirected")


def _tokenize(text):
    """-> list of (kind, value, start, end); kinds: '(' ')' 'str' 'word'."""
    toks = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == " ":
            i += 1
        elif c in "()":
            toks.append((c, c, i, i + 1))
            i += 1
        elif c == "'":
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise ODataError("unterminated string literal at position %d" % i)
                if text[j] == "'":
                    if j + 1 < n and text[j + 1] == "'":       # '' escapes a quote
                        buf.append("'")
                        j += 2
                        continue
                    break
                buf.append(text[j])
                j += 1
            toks.append(("str", "".join(buf), i, j + 1))
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in " ()'":
                j += 1
            toks.append(("word", text[i:j], i, j))
            i = j
    return toks


class _FilterParser:
    """Recursive descent over:  or := and ('or' and)* ; and := prim ('and' prim)* ;
    prim := '(' or ')' | PROPERTY OP LITERAL.  AST: ('or'|'and', [nodes]) | ('cmp', p, op, v)."""

    def __init__(self, text):
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    def err(self, what, tok=None):
        pos = tok[2] if tok else len(self.text)
        return ODataError("'%s': %s at position %d" % (self.text, what, pos))

    def next(self, expect_space=True):
        if self.i >= len(self.toks):
            raise self.err("unexpected end of expression")
        tok = self.toks[self.i]
        # OData needs whitespace between words/literals ("'Active'and" is a syntax error).
        if expect_space and self.i > 0 and tok[0] in ("word", "str"):
            prev = self.toks[self.i - 1]
            if prev[0] in ("word", "str") and prev[3] == tok[2]:
                raise self.err("missing whitespace", tok)
        self.i += 1
        return tok

    def peek_word(self, word):
        return (self.i < len(self.toks) and self.toks[self.i][0] == "word"
                and self.toks[self.i][1] == word)

    def parse(self):
        if not self.toks:
            raise ODataError("'%s': empty $filter expression" % self.text)
        node = self.or_expr()
        if self.i < len(self.toks):
            raise self.err("syntax error, unexpected '%s'" % self.toks[self.i][1], self.toks[self.i])
        return node

    def or_expr(self):
        nodes = [self.and_expr()]
        while self.peek_word("or"):
            self.next()
            nodes.append(self.and_expr())
        return nodes[0] if len(nodes) == 1 else ("or", nodes)

    def and_expr(self):
        nodes = [self.primary()]
        while self.peek_word("and"):
            self.next()
            nodes.append(self.primary())
        return nodes[0] if len(nodes) == 1 else ("and", nodes)

    def primary(self):
        tok = self.next()
        if tok[0] == "(":
            node = self.or_expr()
            close = self.next()
            if close[0] != ")":
                raise self.err("')' expected", close)
            return node
        if tok[0] != "word":
            raise self.err("property name expected", tok)
        prop = tok[1]
        if prop not in _DATE_PROPS and prop not in _STRING_PROPS:
            raise self.err("Could not find a property named '%s' on type 'Incident' "
                           "or it cannot be used in $filter" % prop, tok)
        op_tok = self.next()
        if op_tok[0] != "word" or op_tok[1] not in _OPS:
            raise self.err("comparison operator expected", op_tok)
        op = op_tok[1]
        lit = self.next()
        if prop in _DATE_PROPS:
            if lit[0] != "word":
                raise self.err("DateTimeOffset literal expected for '%s'" % prop, lit)
            try:
                value = parse_ts(lit[1])
            except ValueError:
                raise self.err("invalid DateTimeOffset literal '%s'" % lit[1], lit) from None
        else:
            if lit[0] == "word" and lit[1] == "null":
                value = None
                if op not in ("eq", "ne"):
                    raise self.err("null can only be compared with eq or ne", op_tok)
            elif lit[0] == "str":
                value = lit[1]
            else:
                raise self.err("string literal expected for '%s'" % prop, lit)
            if prop == "status":
                if op not in ("eq", "ne"):
                    raise self.err("enum property 'status' supports only eq and ne", op_tok)
                if value is not None and value not in INCIDENT_STATUSES:
                    raise self.err("'%s' is not a valid IncidentStatus value" % value, lit)
        return ("cmp", prop, op, value)


_ATTR = {"lastUpdateTime": "lut", "createdTime": "created",
         "status": "status", "assignedTo": "assigned_to"}


def _compile(node):
    kind = node[0]
    if kind in ("and", "or"):
        fns = [_compile(c) for c in node[1]]
        if kind == "and":
            return lambda v: all(f(v) for f in fns)
        return lambda v: any(f(v) for f in fns)
    _, prop, op, value = node
    attr, fn = _ATTR[prop], _OPS[op]
    if value is None:                      # assignedTo eq/ne null
        if op == "eq":
            return lambda v: getattr(v, attr) is None
        return lambda v: getattr(v, attr) is not None

    def cmp(v):
        x = getattr(v, attr)
        if x is None:
            return op == "ne"              # null ne 'x' is true; every other comparison false
        return fn(x, value)
    return cmp


class Filter:
    """A parsed $filter: predicate over versions, plus the inclusive lastUpdateTime tick range
    [lo, hi] implied by the top-level conjunction (None = unbounded). `pure` means the range
    alone decides the result, so a page is a plain slice of the index."""

    def __init__(self, text):
        node = _FilterParser(text).parse()
        self.pred = _compile(node)
        self.lo = self.hi = None
        self.pure = True
        conj = node[1] if node[0] == "and" else [node]
        for c in conj:
            if c[0] == "cmp" and c[1] == "lastUpdateTime" and c[2] != "ne":
                _, _, op, t = c
                if op in ("ge", "gt", "eq"):
                    lo = t + 1 if op == "gt" else t
                    self.lo = lo if self.lo is None else max(self.lo, lo)
                if op in ("le", "lt", "eq"):
                    hi = t - 1 if op == "lt" else t
                    self.hi = hi if self.hi is None else min(self.hi, hi)
            else:
                self.pure = False


# --------------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------------

SEVERITY_RANK = {"UnSpecified": 0, "Informational": 1, "Low": 2, "Medium": 3, "High": 4}


class AlertTemplate:
    """Content shared by many generated alerts (texts and detection metadata)."""
    __slots__ = ("prefix", "service", "detection", "title", "description", "category",
                 "detector_id", "actor", "family", "mitre", "pool")

    def __init__(self, prefix, service, detection, title, description, category,
                 detector_id, actor=None, family=None, pool=None):
        self.prefix, self.service, self.detection = prefix, service, detection
        self.title, self.description, self.category = title, description, category
        self.detector_id, self.actor, self.family = detector_id, actor, family
        self.mitre = []
        self.pool = pool


class GenAlert:
    """A generated alert: per-alert scalars; texts/devices/entities are shared references."""
    __slots__ = ("alert_id", "incident_id", "tpl", "creation", "last_updated", "resolved",
                 "first_act", "last_act", "status", "severity", "inv_id", "inv_state",
                 "classification", "determination", "assigned_to", "detector",
                 "devices", "entities")

    def render(self):
        t = self.tpl
        d = {
            "alertId": self.alert_id,
            "incidentId": self.incident_id,
            "serviceSource": t.service,
            "creationTime": fmt_ts(self.creation),
            "lastUpdatedTime": fmt_ts(self.last_updated),
            "resolvedTime": None if self.resolved is None else fmt_ts(self.resolved),
            "firstActivity": fmt_ts(self.first_act),
            "lastActivity": fmt_ts(self.last_act),
            "title": t.title,
            "description": t.description,
            "category": t.category,
            "status": self.status,
            "severity": self.severity,
            "investigationId": self.inv_id,
            "investigationState": self.inv_state,
            "classification": self.classification,
            "determination": self.determination,
            "detectionSource": t.detection,
        }
        if self.detector:               # undocumented key, present on most live alerts
            d["detectorId"] = t.detector_id
        d["assignedTo"] = self.assigned_to
        d["actorName"] = t.actor
        d["threatFamilyName"] = t.family
        d["mitreTechniques"] = t.mitre
        d["devices"] = self.devices
        d["entities"] = self.entities
        return d

    def bumped(self, last_updated, incident_id=None, status=None, resolved=None):
        a = GenAlert.__new__(GenAlert)
        for k in GenAlert.__slots__:
            setattr(a, k, getattr(self, k))
        a.last_updated = last_updated
        if incident_id is not None:
            a.incident_id = incident_id
        if status is not None:
            a.status = status
        if resolved is not None:
            a.resolved = resolved
        return a


class RawAlert:
    """An alert loaded from --data: kept as the given dict, only changed keys are rewritten."""
    __slots__ = ("d", "alert_id", "last_updated", "severity", "status")

    def __init__(self, d):
        self.d = d
        self.alert_id = d.get("alertId")
        try:
            self.last_updated = parse_ts(d.get("lastUpdatedTime"))
        except ValueError:
            self.last_updated = 0
        self.severity = d.get("severity")
        self.status = d.get("status")

    def render(self):
        return self.d

    def bumped(self, last_updated, incident_id=None, status=None, resolved=None):
        d = dict(self.d)
        d["lastUpdatedTime"] = fmt_ts(last_updated)
        if incident_id is not None:
            d["incidentId"] = incident_id
        if status is not None:
            d["status"] = status
        if resolved is not None:
            d["resolvedTime"] = fmt_ts(resolved)
        return RawAlert(d)


class Version:
    """One immutable version of an incident. `fields` holds the incident-level keys in wire
    order (with an 'alerts' placeholder where the alerts go)."""
    __slots__ = ("seq", "incident_id", "lut", "created", "status", "assigned_to", "fields",
                 "alerts", "visible_from", "origin")

    def __init__(self, fields, alerts, lut, created, origin):
        self.seq = 0
        self.incident_id = fields["incidentId"]
        self.fields = fields
        self.alerts = tuple(alerts)
        self.lut = lut
        self.created = created
        self.status = fields.get("status")
        self.assigned_to = fields.get("assignedTo")
        self.visible_from = 0
        self.origin = origin

    def render(self):
        d = dict(self.fields)
        if "alerts" in d:
            d["alerts"] = [a.render() for a in self.alerts]
        return d

    def key(self):
        """Index key: ascending order of keys = newest first, ties by incidentId descending."""
        return -((self.lut << 64) | self.incident_id)


# --------------------------------------------------------------------------------------------
# Generated data
# --------------------------------------------------------------------------------------------

ENTITY_KEYS = ("entityType", "sha1", "sha256", "fileName", "filePath", "processId",
               "processCommandLine", "processCreationTime", "parentProcessId",
               "parentProcessCreationTime", "ipAddress", "url", "accountName", "domainName",
               "userSid", "aadUserId", "userPrincipalName", "mailboxDisplayName",
               "mailboxAddress", "clusterBy", "sender", "recipient", "subject",
               "deliveryAction", "securityGroupId", "securityGroupName", "registryHive",
               "registryKey", "registryValueType", "registryValue", "deviceId")

STRESS_TEXTS = [
    'cmd.exe /c "whoami | findstr admin=1" > C:\\Users\\Public\\out.txt',
    "Connexion suspecte détectée pour l'utilisateur José — 日本語のユーザー 🔒",
    "Pipes | equals = backslash \\ quote \" apostrophe ' done",
    "First paragraph.\n\nSecond paragraph with a tab\there and CRLF\r\nend.",
]
UPNS = ["secop1@contoso.com", "secop2@contoso.com", "analyst.one@contoso.com",
        "kai.carter@contoso.onmicrosoft.com", "jose.garcia@contoso.com",
        "soc-team@contoso.com"]
TAG_POOL = ["Demo", "Ransomware", "VIP user", "tag|with|pipes", "key=value",
            "back\\slash", "日本", "Don't mess with the Zohan", "pen test"]
COMMENT_POOL = ["test comment for docs", "Escalated to tier 2.", "False alarm, closing.",
                "Investigating with the endpoint team.\n\nSee ticket INC-4711.",
                'User said: "I clicked it" | host=WS-01 \\ path', "Vérifié — 日本 OK"]
DETERMINATIONS = {
    "TruePositive": ["MultiStagedAttack", "MaliciousUserActivity", "CompromisedAccount",
                     "Malware", "Phishing", "UnwantedSoftware", "Other"],
    "InformationalExpectedActivity": ["SecurityTesting", "LineOfBusinessApplication",
                                      "ConfirmedActivity", "Other"],
    "FalsePositive": ["Clean", "NoEnoughDataToValidate", "Other"],
    "Unknown": ["NotAvailable"],
}
OLD_DETERMINATIONS = ["NotAvailable", "Apt", "Malware", "SecurityPersonnel", "SecurityTesting",
                      "UnwantedSoftware", "Other"]
PATCH_CLASSIFICATIONS = ("TruePositive", "InformationalExpectedActivity", "FalsePositive",
                         "Unknown")
# Old and new wire names (api.md §5), plus NotMalicious which XSOAR sends to the live API.
PATCH_DETERMINATIONS = frozenset(OLD_DETERMINATIONS) | frozenset(
    d for ds in DETERMINATIONS.values() for d in ds) | {"NotMalicious"}
INVESTIGATION_STATES = ["Unknown", "Terminated", "SuccessfullyRemediated", "Benign", "Failed",
                        "PartiallyRemediated", "Running", "PendingApproval",
                        "PartiallyInvestigated", "TerminatedBySystem", "Queued",
                        "UnsupportedOs", "UnsupportedAlertType", "SuppressedAlert"]
SEVERITIES = ["Informational", "Low", "Medium", "High"]
SEVERITY_WEIGHTS = [25, 30, 30, 15]
_SEVERITY_BAG = [s for s, w in zip(SEVERITIES, SEVERITY_WEIGHTS) for _ in range(w)]


def _entity(**values):
    e = dict.fromkeys(ENTITY_KEYS)
    e.update(values)
    return e


class Generator:
    """Deterministic (per seed) source of incidents and alerts."""

    def __init__(self, seed, quantised):
        self.rng = random.Random(seed)
        self.quantised = quantised
        self.used_alert_ids = set()
        self._build_pools()

    # -- helpers ----------------------------------------------------------------------------
    def q(self, ticks):
        return quantise(ticks) if self.quantised else ticks

    def q_ceil(self, ticks):
        """Smallest representable time >= ticks."""
        if not self.quantised:
            return ticks
        u = _to_units(ticks)
        return _from_units(u) if _from_units(u) >= ticks else _from_units(u + 1)

    def rr(self, a, b=None):
        """Uniform integer in [a, b) (or [0, a)); random.randrange is ~4x slower and
        generation of 100k incidents draws millions of these."""
        if b is None:
            a, b = 0, a
        return a + min(b - a - 1, int(self.rng.random() * (b - a)))

    def pick(self, seq):
        return seq[int(self.rng.random() * len(seq))]

    def guid(self, upper=False):
        """Random version-4 style GUID string."""
        n = self.rng.getrandbits(122)
        g = "%08x-%04x-4%03x-%04x-%012x" % (n >> 90, (n >> 74) & 0xFFFF, (n >> 62) & 0xFFF,
                                            0x8000 | ((n >> 48) & 0x3FFF), n & 0xFFFFFFFFFFFF)
        return g.upper() if upper else g

    def sha(self, nbytes):
        return "%0*x" % (nbytes * 2, self.rng.getrandbits(nbytes * 8))

    def _build_pools(self):
        rng = self.rng
        # Devices (two shapes: the docs example and the 2021 XSOAR capture).
        self.devices = []
        for i in range(40):
            dev_id = self.sha(20)
            name = "ws%03d.%s.corp.contoso.com" % (i, self.pick(["europe", "middleeast", "us"]))
            if i % 3:
                d = {"mdatpDeviceId": dev_id, "aadDeviceId": None if i % 2 else self.guid(),
                     "deviceDnsName": name, "osPlatform": self.pick(["Windows10", "WindowsServer2016", "Windows11"]),
                     "version": self.pick(["1607", "1909", "21H2"]), "osProcessor": "x64",
                     "osBuild": self.pick([14393, 18363, 22000]), "healthStatus": "Active",
                     "riskScore": self.pick(["High", "Medium", "Low", "Informational"]),
                     "rbacGroupName": "WDATP-Ring%d" % (i % 3), "rbacGroupId": i % 3 + 7,
                     "firstSeen": fmt_ts(1580000000 * TPS + rng.getrandbits(40))}
            else:
                d = {"mdatpDeviceId": dev_id, "aadDeviceId": None, "deviceDnsName": name,
                     "osPlatform": "Windows10", "version": "1909", "osProcessor": "x64",
                     "osBuild": 18363, "healthStatus": self.pick(["Active", "Inactive"]),
                     "riskScore": "Informational", "rbacGroupName": None,
                     "firstSeen": fmt_ts(1580000000 * TPS + rng.getrandbits(40)),
                     "tags": ["test tag", "Zone=DMZ|prod"], "defenderAvStatus": "Updated",
                     "onboardingStatus": "Onboarded", "vmMetadata": None}
            self.devices.append(d)

        def user(i):
            name = "testUser%d" % i
            return _entity(entityType="User", accountName=name, domainName="europe.corp.contoso",
                           userSid="S-1-5-21-1721254763-462695806-1538882281-%d" % (4156000 + i),
                           aadUserId=self.guid(), userPrincipalName=name + "@contoso.com")

        def ip():
            if rng.random() < 0.2:
                return _entity(entityType="Ip", ipAddress="2001:db8::%x" % rng.getrandbits(16))
            return _entity(entityType="Ip", ipAddress="%d.%d.%d.%d" % tuple(self.rr(1, 255) for _ in range(4)))

        # Entity sets per service: lists of (devices, entities) shared by many alerts.
        self.pool_ca, self.pool_da, self.pool_fa = [], [], []
        for i in range(60):
            ents = [user(i)]
            if rng.random() < 0.8:
                ents.append(ip())
            if rng.random() < 0.3:
                ents.append(_entity(entityType="Url", url="https://login.example-%d.com/a?b=c&d=e|f" % i))
            self.pool_ca.append(([], ents))
        for i in range(80):
            devs = [self.devices[self.rr(len(self.devices))]]
            if rng.random() < 0.15:
                devs.append(self.devices[self.rr(len(self.devices))])
            dev_id = devs[0]["mdatpDeviceId"]
            ents = [_entity(entityType="File", sha1=self.sha(20), sha256=self.sha(32),
                            fileName="payload%d.dll" % i,
                            filePath="C:\\Agent\\_work\\_temp\\Deploy_SYSTEM 2020-09-06 12_14_54\\Out",
                            deviceId=dev_id)]
            if rng.random() < 0.6:
                ents.append(_entity(entityType="Process", processId=self.rr(100, 60000),
                                    processCommandLine='powershell.exe -enc "SQBFAFgA" | out-null',
                                    processCreationTime=fmt_ts(1600000000 * TPS + rng.getrandbits(45)),
                                    parentProcessId=self.rr(100, 60000),
                                    parentProcessCreationTime=fmt_ts(1600000000 * TPS + rng.getrandbits(45)),
                                    deviceId=dev_id))
            if rng.random() < 0.3:
                ents.append(_entity(entityType="Registry", registryHive="HKEY_LOCAL_MACHINE",
                                    registryKey="SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run",
                                    registryValueType="String", registryValue="C:\\x\\evil.exe",
                                    deviceId=dev_id))
            if rng.random() < 0.4:
                ents.append(user(100 + i))
            self.pool_da.append((devs, ents))
        for i in range(60):
            upn = "testUser%d@contoso.com" % (200 + i)
            ents = [_entity(entityType="MailBox", userPrincipalName=upn,
                            mailboxDisplayName="test User%d" % (200 + i), mailboxAddress=upn)]
            if rng.random() < 0.7:
                ents.append(_entity(entityType="MailMessage", userPrincipalName=upn,
                                    sender="billing@fabrikam.example", recipient=upn,
                                    subject=self.pick(["Invoice #%d" % i, "Réunion — 日本 | urgent",
                                                        'RE: "quote" = test']),
                                    deliveryAction="Delivered"))
            if rng.random() < 0.3:
                ents.append(_entity(entityType="MailCluster",
                                    clusterBy="Subject;P2SenderDomain;ContentType"))
            self.pool_fa.append(([], ents))

        T = AlertTemplate
        det = self.guid
        self.templates = [
            T("ca", "MicrosoftCloudAppSecurity", "MCAS", "Ransomware activity",
              "The user Test User2 (testUser2@contoso.com) manipulated 99 files with multiple "
              "extensions ending with the uncommon extension herunterladen. This is an unusual "
              "number of file manipulations and is indicative of a potential ransomware attack.",
              "Impact", det(), pool=self.pool_ca),
            T("ca", "MicrosoftCloudAppSecurity", "MCAS", "Impossible travel activity",
              "The user signed in from two distant countries within a short time.", "InitialAccess",
              det(), pool=self.pool_ca),
            T("ca", "MicrosoftCloudAppSecurity", "MCAS", "Mass download by a single user",
              "A user downloaded 1,204 files in 2 minutes.", "Exfiltration", det(), pool=self.pool_ca),
            T("da", "MicrosoftDefenderATP", "WindowsDefenderAv", "'Mimikatz' hacktool was detected",
              "Readily available tools, such as hacking programs, can be used by unauthorized "
              "individuals to spy on users.\n\nThese tools are often used to collect personal "
              "information from browser records, record key presses, access email and instant "
              "messages, record voice and video conversations, and take screenshots.",
              "Malware", det(), family="Mimikatz", pool=self.pool_da),
            T("da", "MicrosoftDefenderForEndpoint", "EDR", "Suspicious PowerShell command line",
              "A suspicious PowerShell activity was observed on the machine.", "Execution",
              det(), pool=self.pool_da),
            T("da", "MicrosoftDefenderForEndpoint", "AutomatedInvestigation",
              "Automated investigation started manually", "description", "SuspiciousActivity",
              det(), pool=self.pool_da),
            T("da", "MicrosoftDefenderATP", "EDR", "Credential dumping activity observed",
              "An actor attempted to read credentials from LSASS memory.", "CredentialAccess",
              det(), actor="BORON", pool=self.pool_da),
            T("fa", "OfficeATP", "OfficeATP", "Email reported by user as malware or phish",
              "This alert is triggered when any email message is reported as malware or phish "
              "by users -V1.0.0.2", "InitialAccess", det(), pool=self.pool_fa),
            T("fa", "OfficeATP", "OfficeATP",
              "Email messages containing malicious URL removed after delivery",
              "Emails with a malicious URL were delivered and later removed.", "InitialAccess",
              det(), pool=self.pool_fa),
        ]
        # Templates whose texts stress escaping (CEF/syslog/JSON): used by a few alerts.
        self.stress_templates = [
            T("da", "MicrosoftDefenderForEndpoint", "EDR", STRESS_TEXTS[0], STRESS_TEXTS[3],
              "Execution", det(), pool=self.pool_da),
            T("ca", "MicrosoftCloudAppSecurity", "MCAS", STRESS_TEXTS[1], STRESS_TEXTS[2],
              "InitialAccess", det(), pool=self.pool_ca),
            T("fa", "OfficeATP", "OfficeATP", STRESS_TEXTS[2], STRESS_TEXTS[1] + "\n\n" + STRESS_TEXTS[0],
              "InitialAccess", det(), pool=self.pool_fa),
        ]
        paragraph = ("Long description paragraph %d: the attacker used cmd.exe /c \"net user | "
                     "findstr admin=1\" from C:\\Windows\\Temp; café, 日本語, 🔒.\n\n")
        self.long_template = T("da", "MicrosoftDefenderForEndpoint", "EDR",
                               "Alert with a very long description",
                               "".join(paragraph % i for i in range(60)), "Execution", det(),
                               pool=self.pool_da)
        self.stress_names = [STRESS_TEXTS[0], STRESS_TEXTS[1], STRESS_TEXTS[2],
                             "Multi-stage incident \"quoted\" on one endpoint\n\nwith newline"]

    def new_alert_id(self, prefix, creation):
        rng = self.rng
        while True:
            if prefix == "ca":
                aid = "ca" + self.guid(upper=True)
            elif prefix == "da":
                aid = "da%d_%d" % (creation + _DOTNET_EPOCH_TICKS + self.rr(10000),
                                   self.rr(10 ** 8, 2 * 10 ** 9))
            else:
                aid = "fa" + self.guid()
            if aid not in self.used_alert_ids:
                self.used_alert_ids.add(aid)
                return aid

    def make_alert(self, incident_id, creation, last_updated, *, status="New", resolved=None,
                   template=None, classification=None, determination=None):
        rng = self.rng
        t = template or (self.pick(self.stress_templates) if rng.random() < 0.02
                         else self.pick(self.templates))
        a = GenAlert()
        a.alert_id = self.new_alert_id(t.prefix, creation)
        a.incident_id = incident_id
        a.tpl = t
        a.creation = creation
        a.last_updated = max(last_updated, self.q_ceil(creation))   # never before creation
        a.resolved = resolved
        # Activity precedes creation; some sources report whole seconds ("05:22:59Z").
        first = creation - self.rr(0, 30 * 60 * TPS)
        if rng.random() < 0.25:
            first -= first % TPS
        a.first_act = first
        a.last_act = first if rng.random() < 0.6 else min(creation, first + self.rr(0, 600 * TPS))
        a.status = status
        a.severity = self.pick(_SEVERITY_BAG)
        a.inv_id = self.rr(1, 5000) if t.prefix == "da" and rng.random() < 0.5 else None
        a.inv_state = self.pick(INVESTIGATION_STATES)
        a.classification = classification
        a.determination = determination
        a.assigned_to = self.pick([None, None, "Automation", self.pick(UPNS)])
        a.detector = rng.random() < 0.85
        a.devices, a.entities = self.pick(t.pool)
        return a

    def make_incident(self, incident_id, created, lut, now, *, n_alerts=None, merged_into=None,
                      long_description=False, alerts_lu=None, fresh=False, origin="initial"):
        """Build a Version. alerts_lu forces every alert's lastUpdatedTime (same-tick data);
        fresh: a just-created incident (Active, unclassified, unassigned, no tags/comments)."""
        rng = self.rng
        r = rng.random()
        if fresh:
            status = "Active"
        elif merged_into is not None:
            status = "Redirected"
        elif r < 0.46:
            status = "Active"
        elif r < 0.58:
            status = "InProgress"
        else:
            status = "Resolved"
        if status == "Resolved":
            classification = self.pick(["TruePositive", "FalsePositive",
                                         "InformationalExpectedActivity", "Unknown"])
            determination = self.pick(DETERMINATIONS[classification])
        elif not fresh and rng.random() < 0.1:
            classification, determination = "TruePositive", self.pick(DETERMINATIONS["TruePositive"])
        else:
            classification, determination = "Unknown", "NotAvailable"

        alerts = []
        if merged_into is None:
            n = n_alerts if n_alerts is not None else self.rr(1, 7)
            for j in range(n):
                if j == 0:
                    creation = created - self.rr(TPS // 10, 3 * TPS)
                else:   # later alerts joined the incident between creation and last update
                    creation = created + self.rr(0, max(1, lut - created + 1))
                if alerts_lu is not None:
                    alu = alerts_lu
                elif not fresh and rng.random() < 0.08:
                    # api.md §12: an alert may be updated after its incident's lastUpdateTime.
                    alu = self.q(min(now - TPS, lut + self.rr(0, 30 * 60 * TPS)))
                else:
                    alu = self.q(lut - self.rr(0, max(1, min(lut - creation, 60 * TPS))))
                a_status, resolved = ("New" if fresh or rng.random() < 0.7 else "InProgress"), None
                if status == "Resolved":
                    a_status = "Resolved"
                    resolved = creation + self.rr(0, max(1, lut - creation + 1))
                a_class = a_det = None
                if status == "Resolved" and rng.random() < 0.5:
                    a_class = self.pick(["TruePositive", "FalsePositive"])
                    a_det = self.pick(OLD_DETERMINATIONS)
                alerts.append(self.make_alert(
                    incident_id, creation, alu, status=a_status, resolved=resolved,
                    template=self.long_template if long_description and j == 0 else None,
                    classification=a_class, determination=a_det))

        if alerts:
            severity = max((a.severity for a in alerts), key=SEVERITY_RANK.__getitem__)
            if rng.random() < 0.005:
                severity = "UnSpecified"
        else:
            severity = self.pick(SEVERITIES)
        if rng.random() < 0.03:
            name = self.pick(self.stress_names)
        elif len(alerts) > 1 and rng.random() < 0.7:
            name = "Multi-stage incident involving %s on %s" % (
                " & ".join(sorted({a.tpl.category for a in alerts})[:3]),
                self.pick(["one endpoint", "multiple endpoints"]))
        elif alerts:
            name = alerts[0].tpl.title + (" on one endpoint" if alerts[0].tpl.prefix == "da" else "")
        else:
            name = self.pick(self.templates).title
        tags = rng.sample(TAG_POOL, self.rr(1, 4)) if not fresh and rng.random() < 0.2 else []
        comments = []
        if not fresh and rng.random() < 0.15:
            for _ in range(self.rr(1, 4)):
                comments.append({"comment": self.pick(COMMENT_POOL),
                                 "createdBy": self.pick(UPNS),
                                 "createdTime": fmt_ts(created + self.rr(0, max(1, lut - created + 1)))})
            comments.sort(key=lambda c: parse_ts(c["createdTime"]))
        r = rng.random()
        assigned = None if fresh or r < 0.45 else ("Unassigned" if r < 0.47 else self.pick(UPNS))
        fields = {
            "incidentId": incident_id,
            "redirectIncidentId": merged_into,
            "incidentName": name,
            "createdTime": fmt_ts(created),
            "lastUpdateTime": fmt_ts(lut),
            "assignedTo": assigned,
            "classification": classification,
            "determination": determination,
            "status": status,
            "severity": severity,
            "tags": tags,
            "comments": comments,
            "alerts": None,
        }
        return Version(fields, alerts, lut, created, origin)

    def initial(self, n, same_tick, spread_days, now, taken_ids):
        """Generate the initial data set: n incidents over the last spread_days days, plus
        same_tick incidents sharing one lastUpdateTime. Returns a list of Versions."""
        rng = self.rng
        span = max(int(spread_days * 86400 * TPS), TPS)
        end = now - TPS                 # keep initial data at least one second in the past
        specs = []                      # (created, lut, same_tick)
        for _ in range(n):
            created = self.q(end - self.rr(0, span))
            r = rng.random()
            if r < 0.55:                # docs example: lastUpdateTime a fraction of a second later
                lut = created + self.rr(TPS // 20, TPS // 2)
            elif r < 0.85:
                lut = created + self.rr(0, max(1, min(end - created, 2 * 86400 * TPS)))
            else:
                lut = created + self.rr(0, max(1, end - created))
            lut = max(created, self.q(min(lut, end)))
            specs.append((created, lut, False))
        if same_tick > 0:
            tick = self.q(end - span // 2)
            for _ in range(same_tick):
                specs.append((self.q(tick - self.rr(0, span // 2)), tick, True))
        specs.sort(key=lambda s: s[0])  # incident ids grow with creation time, as in the service

        ids, next_id = [], 1000
        for _ in specs:
            while next_id in taken_ids:
                next_id += 1
            ids.append(next_id)
            next_id += 1 + (rng.random() < 0.1) * self.rr(1, 4)   # occasional gaps

        versions = []
        long_at = len(specs) // 3
        for i, ((created, lut, st), iid) in enumerate(zip(specs, ids)):
            merged = None
            if not st and len(ids) > 1 and rng.random() < 0.02:
                merged = iid
                while merged == iid:
                    merged = self.pick(ids)
            versions.append(self.make_incident(iid, created, lut, now, merged_into=merged,
                                               long_description=(i == long_at and merged is None),
                                               alerts_lu=lut if st else None))
        if versions and long_at < len(versions) and not versions[long_at].alerts:
            # the chosen one happened to be merged: put the long text on the next with alerts
            for v in versions[long_at:]:
                if v.alerts:
                    a0 = v.alerts[0]
                    a0.tpl = self.long_template
                    a0.devices, a0.entities = self.pick(self.long_template.pool)
                    break
        return versions


# --------------------------------------------------------------------------------------------
# Configuration (mutable at run time through /_control/config)
# --------------------------------------------------------------------------------------------

class Config:
    RUNTIME = {  # name: type
        "fault_5xx": float, "fault_reset": float, "fault_truncate": float, "fault_stall": float,
        "stall_seconds": float, "mutate_rate": float, "quota_per_minute": int,
        "quota_per_hour": int, "late_visibility": float, "token_lifetime": int,
        "nextlink": bool, "alert_bump": bool, "quiet": bool,
    }

    def __init__(self, args):
        self.secret = args.secret
        self.quantise = args.quantize
        self.escape_non_ascii = args.escape_non_ascii
        self.fault_5xx = args.fault_5xx
        self.fault_reset = args.fault_reset
        self.fault_truncate = args.fault_truncate
        self.fault_stall = args.fault_stall
        self.stall_seconds = args.stall_seconds
        self.mutate_rate = args.mutate_rate
        self.quota_per_minute = args.quota_per_minute
        self.quota_per_hour = args.quota_per_hour
        self.late_visibility = args.late_visibility
        self.token_lifetime = args.token_lifetime
        self.nextlink = args.nextlink
        self.alert_bump = not args.no_alert_bump
        self.quiet = args.quiet

    def as_dict(self):
        return {k: getattr(self, k) for k in self.RUNTIME}

    def update(self, changes):
        """Validate everything first, then apply; raises ValueError."""
        staged = {}
        for k, v in changes.items():
            typ = self.RUNTIME.get(k)
            if typ is None:
                raise ValueError("unknown config key %r" % k)
            if typ is bool:
                if not isinstance(v, bool):
                    raise ValueError("%s must be a boolean" % k)
            elif isinstance(v, bool) or not isinstance(v, (int, float)) or \
                    (typ is int and int(v) != v) or v < 0:
                raise ValueError("%s must be a non-negative number" % k)
            staged[k] = typ(v)
        for k, v in staged.items():
            setattr(self, k, v)


# --------------------------------------------------------------------------------------------
# Store: versions, visibility, mutations
# --------------------------------------------------------------------------------------------

class NotFound(Exception):
    pass


class Store:
    # PATCH bumps alerts ~73 ms after the incident (XSOAR fixture: 46.7466667 -> 46.82).
    ALERT_BUMP_UNITS = 22

    def __init__(self, cfg, gen):
        self.cfg = cfg
        self.gen = gen
        self.lock = threading.RLock()
        self.latest = {}        # incidentId -> newest Version (may not be visible yet)
        self.visible = {}       # incidentId -> Version the API shows
        self.keys = []          # sorted Version.key() of visible versions
        self.pending = []       # heap of (visible_from, seq, Version) awaiting visibility
        self.log = []           # every Version ever created, in creation order
        self.ids = []           # incident ids, for random picks
        self.max_id = 999       # new incidents get max_id + 1
        self.seq = 0

    # -- loading ----------------------------------------------------------------------------
    def load(self, versions, now):
        """Bulk insert initial versions (visible at once; one sort instead of N insorts)."""
        with self.lock:
            for v in versions:
                if v.incident_id in self.latest:
                    raise ValueError("duplicate incidentId %r" % v.incident_id)
                self.seq += 1
                v.seq = self.seq
                v.visible_from = now
                self.latest[v.incident_id] = self.visible[v.incident_id] = v
                self.log.append(v)
                self.ids.append(v.incident_id)
                self.max_id = max(self.max_id, v.incident_id)
                self.keys.append(v.key())
            self.keys.sort()

    # -- time -------------------------------------------------------------------------------
    def _after(self, prev, t):
        """t, or the smallest representable time strictly after prev if t <= prev."""
        if t > prev:
            return t
        if self.cfg.quantise:
            u = _to_units(prev) + 1
            while _from_units(u) <= prev:
                u += 1
            return _from_units(u)
        return prev + 1

    def _q(self, ticks):
        return quantise(ticks) if self.cfg.quantise else ticks

    def _alert_time(self, lut):
        if self.cfg.quantise:
            return _from_units(_to_units(lut) + self.ALERT_BUMP_UNITS)
        return lut + 733333

    # -- visibility -------------------------------------------------------------------------
    def _commit(self, v, now):
        self.seq += 1
        v.seq = self.seq
        late = self.cfg.late_visibility
        v.visible_from = v.lut + int(late * TPS) if late > 0 else now
        if v.incident_id not in self.latest:
            self.ids.append(v.incident_id)
        self.latest[v.incident_id] = v
        self.log.append(v)
        if v.visible_from <= now:
            self._make_visible(v)
        else:
            heapq.heappush(self.pending, (v.visible_from, v.seq, v))
        return v

    def _make_visible(self, v):
        old = self.visible.get(v.incident_id)
        if old is not None:
            if old.seq > v.seq:          # a later version overtook this one (config change)
                return
            k = old.key()
            i = bisect.bisect_left(self.keys, k)
            del self.keys[i]             # O(N) memmove of pointers: cheap even at 100k
        self.visible[v.incident_id] = v
        bisect.insort(self.keys, v.key())

    def promote(self, now):
        while self.pending and self.pending[0][0] <= now:
            self._make_visible(heapq.heappop(self.pending)[2])

    # -- reads ------------------------------------------------------------------------------
    def query(self, flt, skip, top, now):
        """Visible versions matching flt, newest first, after skipping `skip` matches."""
        with self.lock:
            self.promote(now)
            keys, vis = self.keys, self.visible
            start, end = 0, len(keys)
            if flt is not None:
                if flt.hi is not None:
                    start = bisect.bisect_left(keys, -((flt.hi << 64) | MASK64))
                if flt.lo is not None:
                    end = bisect.bisect_right(keys, -(flt.lo << 64))
            if flt is None or flt.pure:
                sel = keys[start + skip: min(end, start + skip + top)] if start + skip < end else []
                return [vis[(-k) & MASK64] for k in sel]
            out, pred = [], flt.pred
            for i in range(start, end):
                v = vis[(-keys[i]) & MASK64]
                if pred(v):
                    if skip:
                        skip -= 1
                    else:
                        out.append(v)
                        if len(out) >= top:
                            break
            return out

    def get_visible(self, iid, now):
        with self.lock:
            self.promote(now)
            return self.visible.get(iid)

    # -- mutations (caller holds no lock; each takes it) --------------------------------------
    def _new_version(self, old, now, *, fields=None, comment=None, comment_by=None,
                     alert_mode="none", touch_alert=None, new_alerts=0, extra_alerts=(),
                     drop_alerts=False, origin="mutate"):
        """Build and commit the next version of `old`.
        alert_mode: 'none' | 'all' (bump every alert ~73 ms after the incident, PATCH-like)."""
        lut = self._after(old.lut, self._q(now))
        f = dict(old.fields)
        for k, v in (fields or {}).items():
            if k == "assignedTo" and v == "":
                v = None                 # XSOAR unassigns with "" (api.md §12)
            f[k] = list(v) if k == "tags" else v
        if comment is not None:
            f["comments"] = list(f.get("comments") or []) + [
                {"comment": comment, "createdBy": comment_by, "createdTime": fmt_ts(now)}]
        alerts = [] if drop_alerts else list(old.alerts)
        if alert_mode == "all" and alerts:
            at = self._alert_time(lut)
            resolve = bool(fields) and fields.get("status") == "Resolved"
            alerts = [a.bumped(self._after(a.last_updated, at),
                               status="Resolved" if resolve and a.status != "Resolved" else None,
                               resolved=now if resolve and a.status != "Resolved" else None)
                      for a in alerts]
        if touch_alert is not None:
            for i, a in enumerate(alerts):
                if a.alert_id == touch_alert:
                    alerts[i] = a.bumped(self._after(a.last_updated, lut),
                                         status="InProgress" if a.status == "New" else None)
                    break
            else:
                raise NotFound("alert %s is not in incident %s" % (touch_alert, old.incident_id))
        for _ in range(new_alerts):
            alerts.append(self.gen.make_alert(old.incident_id, now - self.gen.rr(TPS), lut))
        for a in extra_alerts:
            alerts.append(a.bumped(self._after(a.last_updated, self._alert_time(lut)),
                                   incident_id=old.incident_id))
        if new_alerts or extra_alerts:
            sev = [a.severity for a in alerts if a.severity in SEVERITY_RANK]
            if sev:
                f["severity"] = max(sev, key=SEVERITY_RANK.__getitem__)
        f["lastUpdateTime"] = fmt_ts(lut)
        if "alerts" not in f:
            f["alerts"] = None
        return self._commit(Version(f, alerts, lut, old.created, origin), now)

    def _latest(self, iid):
        v = self.latest.get(iid)
        if v is None:
            raise NotFound("Incident %s wasn't found" % iid)
        return v

    def patch(self, iid, body, client_id, now):
        """API PATCH: fields + optional comment; bumps the incident and (switch) all alerts."""
        with self.lock:
            old = self._latest(iid)
            fields = {k: v for k, v in body.items() if k != "comment"}
            return self._new_version(old, now, fields=fields, comment=body.get("comment"),
                                     comment_by="api-app-%s" % client_id,
                                     alert_mode="all" if self.cfg.alert_bump else "none",
                                     origin="patch")

    def control_mutate(self, body, now, origin="mutate"):
        """See README: comment-only, field change, touch_alert, add_alert, merge_into, new."""
        with self.lock:
            if body.get("new"):
                n = body.get("alerts")
                return self.new_incident(now, n if isinstance(n, int) and n >= 0 else None, origin)
            old = self._latest(body["id"])
            fields = {k: body[k] for k in PATCH_FIELDS if k in body and k != "comment"}
            comment = body.get("comment")
            by = body.get("createdBy") or "secop1@contoso.com"
            if body.get("merge_into") is not None:
                if not isinstance(body["merge_into"], int):
                    raise ValueError("merge_into must be an incident id")
                return self.merge(old.incident_id, body["merge_into"], now, origin)
            if fields:
                return self._new_version(old, now, fields=fields, comment=comment, comment_by=by,
                                         alert_mode="all" if self.cfg.alert_bump else "none",
                                         origin=origin)
            if body.get("touch_alert") is not None or body.get("add_alert"):
                return self._new_version(old, now, comment=comment, comment_by=by,
                                         touch_alert=body.get("touch_alert"),
                                         new_alerts=1 if body.get("add_alert") else 0,
                                         origin=origin)
            if comment is not None:
                return self._new_version(old, now, comment=comment, comment_by=by, origin=origin)
            raise ValueError("nothing to change")

    def new_incident(self, now, n_alerts=None, origin="mutate"):
        with self.lock:
            self.max_id += 1
            iid = self.max_id
            lut = self._q(now)
            # Docs example: lastUpdateTime follows createdTime by a fraction of a second.
            created = min(lut, self._q(now - self.gen.rr(TPS // 50, TPS // 4)))
            n = n_alerts if n_alerts is not None else self.gen.rr(1, 4)
            v = self.gen.make_incident(iid, created, lut, now, n_alerts=n, fresh=True, origin=origin)
            return self._commit(v, now)

    def merge(self, src_id, dst_id, now, origin="mutate"):
        """Merge src into dst: dst gains src's alerts (bumped), src becomes Redirected."""
        with self.lock:
            src, dst = self._latest(src_id), self._latest(dst_id)
            if src_id == dst_id or src.status == "Redirected" or dst.status == "Redirected":
                raise ValueError("cannot merge %s into %s" % (src_id, dst_id))
            self._new_version(dst, now, extra_alerts=src.alerts, origin=origin)
            return self._new_version(src, now, fields={"status": "Redirected",
                                                       "redirectIncidentId": dst_id},
                                     drop_alerts=True, origin=origin)

    def random_mutation(self, now):
        """One background-mutator step: a realistic mix of changes."""
        with self.lock:
            rng = self.gen.rng
            r = rng.random()
            if r < 0.15 or not self.ids:
                return self.new_incident(now, origin="mutator")
            old = None
            for _ in range(10):
                cand = self.latest[rng.choice(self.ids)]
                if cand.status != "Redirected":
                    old = cand
                    break
            if old is None:
                return self.new_incident(now, origin="mutator")
            by = rng.choice(UPNS)
            r = rng.random()
            if r < 0.32:
                return self._new_version(old, now, comment=rng.choice(COMMENT_POOL), comment_by=by,
                                         origin="mutator")
            mode = "all" if self.cfg.alert_bump else "none"
            if r < 0.50:
                nxt = {"Active": "InProgress", "InProgress": "Resolved", "Resolved": "Active"}
                return self._new_version(old, now, fields={"status": nxt.get(old.status, "Active")},
                                         alert_mode=mode, origin="mutator")
            if r < 0.62:
                return self._new_version(old, now, fields={"assignedTo": rng.choice(UPNS)},
                                         alert_mode=mode, origin="mutator")
            if r < 0.70:
                c = rng.choice(PATCH_CLASSIFICATIONS)
                return self._new_version(old, now, fields={"classification": c,
                                                           "determination": rng.choice(DETERMINATIONS[c])},
                                         alert_mode=mode, origin="mutator")
            if r < 0.84:
                return self._new_version(old, now, new_alerts=1, origin="mutator")
            if r < 0.97 and old.alerts:
                return self._new_version(old, now, touch_alert=rng.choice(old.alerts).alert_id,
                                         origin="mutator")
            others = [i for i in (rng.choice(self.ids) for _ in range(5))
                      if i != old.incident_id and self.latest[i].status != "Redirected"]
            if others:
                return self.merge(old.incident_id, others[0], now, origin="mutator")
            return self._new_version(old, now, comment=rng.choice(COMMENT_POOL), comment_by=by,
                                     origin="mutator")


PATCH_FIELDS = ("status", "assignedTo", "classification", "determination", "tags", "comment")


def validate_patch(body):
    """-> error message or None (api.md §12: names are case-sensitive, enums checked)."""
    if not isinstance(body, dict) or not body:
        return "Request body is incorrect: a non-empty JSON object is required"
    for k, v in body.items():
        if k not in PATCH_FIELDS:
            return "Request body is incorrect: unknown property '%s'" % k
        if k == "status" and v not in INCIDENT_STATUSES:
            return "Request body is incorrect: invalid status '%s'" % (v,)
        if k == "classification" and v not in PATCH_CLASSIFICATIONS:
            return "Request body is incorrect: invalid classification '%s'" % (v,)
        if k == "determination" and v not in PATCH_DETERMINATIONS:
            return "Request body is incorrect: invalid determination '%s'" % (v,)
        if k in ("assignedTo", "comment") and not isinstance(v, str):
            return "Request body is incorrect: '%s' must be a string" % k
        if k == "tags" and (not isinstance(v, list) or not all(isinstance(t, str) for t in v)):
            return "Request body is incorrect: 'tags' must be an array of strings"
    return None


# --------------------------------------------------------------------------------------------
# Tokens, quotas, statistics
# --------------------------------------------------------------------------------------------

class Tokens:
    def __init__(self):
        self.lock = threading.Lock()
        self.tokens = {}        # token -> (client_id, tenant, expiry monotonic)

    def issue(self, client_id, tenant, lifetime):
        tok = "emu." + secrets.token_urlsafe(48)
        with self.lock:
            now = time.monotonic()
            if len(self.tokens) > 10000:        # drop expired ones now and then
                self.tokens = {k: v for k, v in self.tokens.items() if v[2] > now}
            self.tokens[tok] = (client_id, tenant, now + lifetime)
        return tok

    def check(self, header):
        """-> (client_id, None) or (None, reason)."""
        if not header:
            return None, "Authorization header is missing"
        parts = header.split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "bearer":
            return None, "Authorization header must use the Bearer scheme"
        with self.lock:
            ent = self.tokens.get(parts[1].strip())
        if ent is None:
            return None, "Invalid Authorization payload: unknown or malformed token"
        if ent[2] <= time.monotonic():
            return None, "Invalid Authorization payload: the token has expired"
        return ent[0], None

    def revoke_all(self):
        with self.lock:
            self.tokens.clear()


class Quotas:
    """Sliding windows per application (client_id). List and Update share the per-minute quota;
    Get has its own, twice as large (100/min by default, api.md §13); all calls share the hour."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.lock = threading.Lock()
        self.clients = {}   # client_id -> {"min": deque, "get": deque, "hour": deque}

    @staticmethod
    def _wait(dq, limit, window, now):
        while dq and dq[0] <= now - window:
            dq.popleft()
        if limit <= 0 or len(dq) < limit:
            return 0.0
        # The call that must expire before one more fits (len > limit after a config change).
        return dq[len(dq) - limit] + window - now

    def admit(self, client_id, kind, now):
        """Record the call and return 0, or return the seconds to wait (call not counted)."""
        with self.lock:
            w = self.clients.setdefault(client_id, {"min": deque(), "get": deque(), "hour": deque()})
            qpm = self.cfg.quota_per_minute
            minute = ("get", 2 * qpm) if kind == "get" else ("min", qpm)
            wait = max(self._wait(w[minute[0]], minute[1], 60.0, now),
                       self._wait(w["hour"], self.cfg.quota_per_hour, 3600.0, now))
            if wait > 0:
                return max(1, math.ceil(wait))
            w[minute[0]].append(now)
            w["hour"].append(now)
            return 0

    def reset(self):
        with self.lock:
            self.clients.clear()


class Stats:
    KINDS = ("list", "get", "patch", "token")

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.calls = dict.fromkeys(self.KINDS, 0)        # every request received
            self.served = dict.fromkeys(self.KINDS, 0)       # answered 200
            self.counters = {"throttled": 0, "faults": 0, "unauthorized": 0, "bad_request": 0}
            self.fault_kinds = {"5xx": 0, "reset": 0, "truncate": 0, "stall": 0}

    def inc(self, group, key, n=1):
        with self.lock:
            getattr(self, group)[key] += n

    def snapshot(self):
        with self.lock:
            out = {"calls": dict(self.calls)}
            out.update(self.counters)
            out["served"] = dict(self.served)
            out["fault_kinds"] = dict(self.fault_kinds)
            return out


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------

API_BASE = "https://api.security.microsoft.com/api/$metadata#Incidents"
CT_ODATA = "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8"
CT_JSON = "application/json; charset=utf-8"
_TOKEN_RE = re.compile(r"^/([^/]+)/oauth2/(v2\.0/)?token/?$")
_API_RE = re.compile(r"^/api/incidents(?:/([^/]*))?/?$", re.IGNORECASE)
_LIST_OPTIONS = ("$filter", "$top", "$skip")


class App:
    def __init__(self, cfg, store, seed):
        self.cfg = cfg
        self.store = store
        self.tokens = Tokens()
        self.quotas = Quotas(cfg)
        self.stats = Stats()
        self.fault_rng = random.Random(seed ^ 0x5EED)
        self.fault_lock = threading.Lock()

    def roll(self, p):
        if p <= 0:
            return False
        with self.fault_lock:
            return self.fault_rng.random() < p

    def dumps(self, obj):
        return json.dumps(obj, ensure_ascii=self.cfg.escape_non_ascii, separators=(",", ":"))


def _err(code, message):
    return {"error": {"code": code, "message": message, "target": str(uuid.uuid4())}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "DefenderEmulator/1.0"
    sys_version = ""
    timeout = 300                   # idle keep-alive connections are dropped after this
    app = None                      # set by main()

    # -- plumbing ---------------------------------------------------------------------------
    def version_string(self):
        return self.server_version

    def date_time_string(self, timestamp=None):
        # Date must not be later than the state snapshot (see the module docstring).
        if timestamp is None:
            ns = getattr(self, "_now_ns", None)
            timestamp = (ns if ns is not None else time.time_ns()) / 1e9
        return email.utils.formatdate(timestamp, usegmt=True)

    def log_request(self, code="-", size="-"):
        self._status = code          # logged once the body is out, with size and duration

    def log_error(self, fmt, *args):
        if not self.app.cfg.quiet:
            sys.stderr.write("%s emulator error %s\n" % (fmt_ts(now_ticks()), fmt % args))

    def _log(self, nbytes, note=""):
        if self.app.cfg.quiet:
            return
        ms = (time.monotonic() - self._t0) * 1000
        sys.stderr.write("%s %s %s %s %s %dB %.1fms%s%s\n" % (
            fmt_ts(now_ticks()), self.client_address[0], self.command, self.path,
            getattr(self, "_status", "-"), nbytes, ms,
            (" client=" + self._client) if self._client else "", note))

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > 64 * 1024 * 1024:
            raise ValueError("bad Content-Length")
        return self.rfile.read(n) if n else b""

    def _wants_gzip(self):
        for part in (self.headers.get("Accept-Encoding") or "").split(","):
            bits = [b.strip() for b in part.split(";")]
            if bits[0].lower() in ("gzip", "x-gzip"):
                q = [b for b in bits[1:] if b.lower().startswith("q=")]
                try:
                    return not q or float(q[0][2:]) > 0
                except ValueError:
                    return True
        return False

    def send(self, status, payload, content_type=CT_JSON, headers=(), truncate=False):
        """Send a complete response. payload: bytes, str or JSON-able object."""
        if isinstance(payload, (dict, list)):
            payload = self.app.dumps(payload)
        body = payload.encode("utf-8") if isinstance(payload, str) else payload
        extra = list(headers)
        if body and self._wants_gzip():
            body = gzip.compress(body, compresslevel=5)
            extra.append(("Content-Encoding", "gzip"))
            extra.append(("Vary", "Accept-Encoding"))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if status < 300 and content_type == CT_ODATA:
            self.send_header("OData-Version", "4.0")
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            if truncate:
                # Full Content-Length announced, part of the body sent, then FIN.
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        self._log(len(body), " fault=truncate" if truncate else "")
        self._now_ns = None

    def reset_connection(self):
        """Drop the connection without a response: RST (SO_LINGER 0) instead of FIN."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()           # release the makefile reference so close() is real
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True
        self._status = "RST"
        self._log(0, " fault=reset")
        self._now_ns = None

    # -- dispatch ---------------------------------------------------------------------------
    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        self._t0 = time.monotonic()
        self._now_ns = time.time_ns()
        self._client = ""
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self.send(400, _err("BadRequest", "Malformed request body framing"))
            return
        path = urlsplit(self.path).path
        try:
            m = _API_RE.match(path)
            if m:
                return self._api(method, m.group(1), body)
            m = _TOKEN_RE.match(path)
            if m:
                return self._token(method, m.group(1), bool(m.group(2)), body)
            if path.startswith("/_control/"):
                return self._control(method, path[len("/_control/"):].rstrip("/"), body)
            self.send(404, _err("NotFound", "No route for %s %s" % (method, path)))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # a bug in the emulator must not kill the connection silently
            traceback.print_exc(file=sys.stderr)
            self.send(500, _err("InternalServerError", "emulator bug: %r" % (e,)))

    # -- token endpoints --------------------------------------------------------------------
    def _aad_error(self, status, error, code, text):
        now = datetime.datetime.now(datetime.timezone.utc)
        trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
        self.send(status, {
            "error": error,
            "error_description": "AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s"
                                 % (code, text, trace, corr, stamp),
            "error_codes": [code], "timestamp": stamp, "trace_id": trace,
            "correlation_id": corr}, headers=[("Cache-Control", "no-store, no-cache")])

    def _token(self, method, tenant, v2, body):
        app = self.app
        app.stats.inc("calls", "token")
        if method != "POST":
            return self.send(405, _err("MethodNotAllowed", "The token endpoint only accepts POST"))
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"),
                                             keep_blank_values=True).items()}
        auth = self.headers.get("Authorization") or ""
        if auth.lower().startswith("basic "):       # RFC 6749 §2.3.1 client authentication
            try:
                cid, _, sec = base64.b64decode(auth[6:].strip()).decode().partition(":")
                form.setdefault("client_id", unquote(cid))
                form.setdefault("client_secret", unquote(sec))
            except (ValueError, UnicodeDecodeError):
                pass
        if form.get("grant_type") != "client_credentials":
            return self._aad_error(400, "unsupported_grant_type", 70003,
                                   "The app requested an unsupported grant type '%s'."
                                   % form.get("grant_type", ""))
        client_id = form.get("client_id")
        if not client_id:
            return self._aad_error(400, "invalid_request", 900144,
                                   "The request body must contain the following parameter: 'client_id'.")
        if not form.get("client_secret"):
            return self._aad_error(401, "invalid_client", 7000216,
                                   "'client_assertion', 'client_secret' or 'request' is required "
                                   "for the 'client_credentials' grant type.")
        if not secrets.compare_digest(form["client_secret"].encode(), app.cfg.secret.encode()):
            return self._aad_error(401, "invalid_client", 7000215,
                                   "Invalid client secret provided. Ensure the secret being sent in "
                                   "the request is the client secret value, not the client secret "
                                   "ID, for a secret added to app '%s'." % client_id)
        life = int(app.cfg.token_lifetime)
        if v2:
            scope = form.get("scope")
            if not scope:
                return self._aad_error(400, "invalid_scope", 900144,
                                       "The request body must contain the following parameter: 'scope'.")
            if not all(s.endswith("/.default") for s in scope.split()):
                return self._aad_error(400, "invalid_scope", 1002012,
                                       "The provided value for scope %s is not valid. Client "
                                       "credential flows must have a scope value with /.default "
                                       "suffixed to the resource identifier (application ID URI)."
                                       % scope)
            tok = app.tokens.issue(client_id, tenant, life)
            resp = {"token_type": "Bearer", "expires_in": life, "ext_expires_in": life,
                    "access_token": tok}
        else:
            resource = form.get("resource")
            if not resource:
                return self._aad_error(400, "invalid_request", 900144,
                                       "The request body must contain the following parameter: 'resource'.")
            tok = app.tokens.issue(client_id, tenant, life)
            now = int(time.time())
            resp = {"token_type": "Bearer", "expires_in": str(life), "ext_expires_in": str(life),
                    "expires_on": str(now + life), "not_before": str(now), "resource": resource,
                    "access_token": tok}
        app.stats.inc("served", "token")
        self.send(200, resp, headers=[("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache")])

    # -- /api/incidents ---------------------------------------------------------------------
    def _api(self, method, id_part, body):
        app, cfg = self.app, self.app.cfg
        if id_part is None or id_part == "":
            kind = "list" if method == "GET" else None
        else:
            kind = {"GET": "get", "PATCH": "patch"}.get(method)
        if kind is None:
            return self.send(405, _err("MethodNotAllowed",
                                       "The requested resource does not support http method '%s'." % method))
        app.stats.inc("calls", kind)

        client_id, reason = app.tokens.check(self.headers.get("Authorization"))
        if client_id is None:
            app.stats.inc("counters", "unauthorized")
            return self.send(401, _err("Unauthorized", reason),
                             headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')])
        self._client = client_id

        wait = app.quotas.admit(client_id, kind, time.monotonic())
        if wait:
            app.stats.inc("counters", "throttled")
            return self.send(429, _err("TooManyRequests",
                                       "Rate limit is exceeded. You can send requests again in %d seconds." % wait),
                             headers=[("Retry-After", str(wait))])

        # Faults, each by its own probability (api.md §20.8).
        truncate = False
        if app.roll(cfg.fault_stall):
            app.stats.inc("counters", "faults")
            app.stats.inc("fault_kinds", "stall")
            time.sleep(cfg.stall_seconds)
            self._now_ns = time.time_ns()
        if app.roll(cfg.fault_reset):
            app.stats.inc("counters", "faults")
            app.stats.inc("fault_kinds", "reset")
            return self.reset_connection()
        if app.roll(cfg.fault_5xx):
            app.stats.inc("counters", "faults")
            app.stats.inc("fault_kinds", "5xx")
            if app.roll(0.5):
                return self.send(500, _err("InternalServerError", ""))
            return self.send(503, _err("ServiceUnavailable", "The service is temporarily unavailable."))
        if app.roll(cfg.fault_truncate):
            app.stats.inc("counters", "faults")
            app.stats.inc("fault_kinds", "truncate")
            truncate = True

        now = self._now_ns // 100
        if kind == "list":
            return self._list(now, truncate)
        try:
            iid = int(id_part)
            if iid < 0 or iid > MASK64 or not id_part.isdigit():
                raise ValueError
        except ValueError:
            app.stats.inc("counters", "bad_request")
            return self.send(400, _err("InvalidInput", "Invalid input %s" % id_part))
        if kind == "get":
            v = app.store.get_visible(iid, now)
            if v is None:
                app.stats.inc("counters", "bad_request")
                return self.send(404, _err("ResourceNotFound", "Incident %d wasn't found" % iid))
            app.stats.inc("served", "get")
            return self.send(200, self._entity_json(v), CT_ODATA, truncate=truncate)
        # PATCH
        try:
            data = json.loads(body.decode("utf-8")) if body else None
        except (ValueError, UnicodeDecodeError):
            data = None
            problem = "Request body is incorrect: not valid JSON"
        else:
            problem = validate_patch(data)
        if problem:
            app.stats.inc("counters", "bad_request")
            return self.send(400, _err("InvalidRequestBody", problem))
        try:
            v = app.store.patch(iid, data, client_id, time.time_ns() // 100)
        except NotFound as e:
            app.stats.inc("counters", "bad_request")
            return self.send(404, _err("ResourceNotFound", str(e)))
        app.stats.inc("served", "patch")
        self.send(200, self._entity_json(v), CT_ODATA, truncate=truncate)

    def _entity_json(self, v):
        # "@odata.context" first, then the incident's own keys (observed shape, api.md §3.5).
        text = self.app.dumps(v.render())
        return '{"@odata.context":"%s/$entity",%s' % (API_BASE, text[1:])

    def _list(self, now, truncate):
        app = self.app
        query = urlsplit(self.path).query
        try:
            params = parse_qs(query, keep_blank_values=True)
        except ValueError:
            params = None
        problem = None
        flt, top, skip = None, 100, 0
        if params is None:
            problem = ("ODataError", "Invalid OData URI query: malformed query string")
        else:
            for name, values in params.items():
                if name.startswith("$") and name not in _LIST_OPTIONS:
                    problem = ("ODataError", "Invalid OData URI query: the query option '%s' is not supported" % name)
                elif len(values) > 1 and name in _LIST_OPTIONS:
                    problem = ("ODataError", "Invalid OData URI query: the query option '%s' was specified more than once" % name)
                if problem:
                    break
        if problem is None and "$top" in params:
            raw = params["$top"][0]
            if not re.fullmatch(r"[0-9]+", raw):
                problem = ("ODataError", "Invalid OData URI query: invalid $top value '%s'" % raw)
            else:
                top = int(raw)
                if not 1 <= top <= 100:
                    problem = ("BadRequest", "Invalid $top value %d: it must be between 1 and 100" % top)
        if problem is None and "$skip" in params:
            raw = params["$skip"][0]
            if not re.fullmatch(r"[0-9]+", raw):
                problem = ("ODataError", "Invalid OData URI query: invalid $skip value '%s'" % raw)
            else:
                skip = int(raw)
        if problem is None and "$filter" in params:
            try:
                flt = Filter(params["$filter"][0])
            except ODataError as e:
                problem = ("ODataError", "Invalid OData URI query " + str(e))
        if problem:
            app.stats.inc("counters", "bad_request")
            return self.send(400, _err(*problem))

        page = app.store.query(flt, skip, top, now)
        texts = [app.dumps(v.render()) for v in page]
        head = '{"@odata.context":"%s","value":[' % API_BASE
        tail = "]}"
        if app.cfg.nextlink and len(page) == top:
            params["$skip"] = [str(skip + top)]
            q = "&".join("%s=%s" % (quote(k, safe="$"), quote(v[0], safe="$'():,"))
                         for k, v in params.items())
            host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
            tail = '],"@odata.nextLink":%s}' % json.dumps("http://%s/api/incidents?%s" % (host, q))
        app.stats.inc("served", "list")
        self.send(200, head + ",".join(texts) + tail, CT_ODATA, truncate=truncate)

    # -- /_control --------------------------------------------------------------------------
    def _control(self, method, what, body):
        app = self.app
        store = app.store
        now = self._now_ns // 100
        try:
            data = json.loads(body.decode("utf-8")) if body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            return self.send(400, _err("BadRequest", "body is not valid JSON"))
        if method == "GET" and what == "stats":
            return self.send(200, app.stats.snapshot())
        if method == "POST" and what == "reset-stats":
            app.stats.reset()
            if data.get("quotas", True):
                app.quotas.reset()
            return self.send(200, app.stats.snapshot())
        if what == "config":
            if method == "POST":
                try:
                    app.cfg.update(data)
                except ValueError as e:
                    return self.send(400, _err("BadRequest", str(e)))
            return self.send(200, app.cfg.as_dict())
        if method == "POST" and what == "revoke-tokens":
            app.tokens.revoke_all()
            return self.send(200, {"revoked": True})
        if method == "POST" and what == "mutate":
            if not isinstance(data, dict) or (not data.get("new") and not isinstance(data.get("id"), int)):
                return self.send(400, _err("BadRequest", "body needs an integer 'id' or \"new\": true"))
            fields = {k: data[k] for k in PATCH_FIELDS if k in data}
            problem = validate_patch(fields) if fields else None
            if problem:
                return self.send(400, _err("InvalidRequestBody", problem))
            try:
                v = store.control_mutate(data, time.time_ns() // 100)
            except NotFound as e:
                return self.send(404, _err("ResourceNotFound", str(e)))
            except ValueError as e:
                return self.send(400, _err("BadRequest", str(e)))
            return self.send(200, app.dumps(v.render()),
                             headers=[("X-Visible-From", fmt_ts(v.visible_from))])
        if method == "GET" and what == "incidents":
            with store.lock:
                versions = sorted(store.latest.values(), key=Version.key)
            return self.send(200, '{"value":[' + ",".join(app.dumps(v.render()) for v in versions) + "]}")
        if method == "GET" and what.startswith("incidents/"):
            try:
                v = store.latest.get(int(what.split("/", 1)[1]))
            except ValueError:
                v = None
            if v is None:
                return self.send(404, _err("ResourceNotFound", "no such incident"))
            return self.send(200, app.dumps(v.render()))
        if method == "GET" and what == "versions":
            qs = parse_qs(urlsplit(self.path).query)
            after = int(qs.get("after", ["0"])[0] or 0)
            with store.lock:
                log = store.log[after:] if after >= 0 else store.log
            items = [{"seq": v.seq, "incidentId": v.incident_id, "lastUpdateTime": fmt_ts(v.lut),
                      "visibleFrom": fmt_ts(v.visible_from), "status": v.status,
                      "origin": v.origin,
                      "alerts": [{"alertId": a.alert_id, "lastUpdatedTime": fmt_ts(a.last_updated)}
                                 for a in v.alerts]}
                     for v in log]
            return self.send(200, {"value": items, "now": fmt_ts(now)})
        self.send(404, _err("NotFound", "unknown control endpoint %s %s" % (method, what)))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return                      # clients hanging up mid-request are part of the tests
        super().handle_error(request, client_address)


# --------------------------------------------------------------------------------------------
# Data file, mutator, main
# --------------------------------------------------------------------------------------------

def load_data_file(path, now):
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    if isinstance(doc, dict):
        items = doc["value"] if "value" in doc else [doc]
    elif isinstance(doc, list):
        items = doc
    else:
        raise ValueError("%s: expected a list or {\"value\": [...]}" % path)
    versions = []
    for n, inc in enumerate(items):
        if not isinstance(inc, dict):
            raise ValueError("%s: item %d is not an object" % (path, n))
        iid = inc.get("incidentId")
        if not isinstance(iid, int) or isinstance(iid, bool) or not 0 <= iid <= MASK64:
            raise ValueError("%s: item %d: incidentId must be a non-negative integer" % (path, n))
        try:
            lut = parse_ts(inc.get("lastUpdateTime"))
        except ValueError as e:
            raise ValueError("%s: incident %d: lastUpdateTime: %s" % (path, iid, e)) from None
        try:
            created = parse_ts(inc.get("createdTime"))
        except ValueError:
            created = None
        fields = {k: v for k, v in inc.items() if not k.startswith("@odata.")}
        alerts = [RawAlert(a) for a in (inc.get("alerts") or []) if isinstance(a, dict)]
        if "alerts" in fields:
            fields["alerts"] = None
        versions.append(Version(fields, alerts, lut, created, "data"))
    return versions


def mutator_loop(app):
    cfg = app.cfg
    next_t = time.monotonic()
    while True:
        rate = cfg.mutate_rate
        now = time.monotonic()
        if rate <= 0:
            time.sleep(0.2)
            next_t = time.monotonic()
            continue
        if now < next_t:
            time.sleep(min(next_t - now, 0.2))
            continue
        try:
            app.store.random_mutation(time.time_ns() // 100)
        except Exception as e:  # keep the thread alive whatever happens
            sys.stderr.write("%s mutator error %r\n" % (fmt_ts(now_ticks()), e))
        # Catch up after a pause, but never burst more than one second's worth.
        next_t = max(next_t + 1.0 / rate, now - 1.0)


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Microsoft Defender XDR incidents API emulator (see README.md)")
    a = p.add_argument
    a("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    a("--port", type=int, default=0, help="listen port; 0 picks a free one (default)")
    a("--generate", type=int, default=0, metavar="N", help="generate N incidents")
    a("--seed", type=int, default=1, help="seed of the generated data (default 1)")
    a("--spread-days", type=float, default=3.0, metavar="D",
      help="generated timestamps spread over the last D days (default 3)")
    a("--same-tick", type=int, default=0, metavar="K",
      help="also generate K incidents sharing one lastUpdateTime")
    a("--data", metavar="FILE.json", help='incidents to serve: {"value":[...]} or a list')
    a("--secret", default="test-secret", help="client secret accepted for any tenant/client")
    a("--token-lifetime", type=int, default=3599, metavar="SECONDS", help="expires_in of tokens")
    a("--quota-per-minute", type=int, default=50, metavar="N",
      help="per application, list+update; single GET gets twice this; 0 = off")
    a("--quota-per-hour", type=int, default=1500, metavar="N", help="per application; 0 = off")
    a("--quantize", action=argparse.BooleanOptionalAction, default=True,
      help="1/300 s timestamps like SQL datetime (default on; --no-quantize for 100 ns)")
    a("--late-visibility", type=float, default=0.0, metavar="SECONDS",
      help="updates become visible this long after their lastUpdateTime")
    a("--fault-5xx", type=float, default=0.0, metavar="P", help="probability of a 500/503")
    a("--fault-reset", type=float, default=0.0, metavar="P", help="probability of a TCP reset")
    a("--fault-truncate", type=float, default=0.0, metavar="P",
      help="probability of a body cut short of its Content-Length")
    a("--fault-stall", type=float, default=0.0, metavar="P",
      help="probability of a stall of --stall-seconds before answering")
    a("--stall-seconds", type=float, default=40.0, metavar="S", help="stall length (default 40)")
    a("--mutate-rate", type=float, default=0.0, metavar="R",
      help="background mutator: R random changes per second")
    a("--nextlink", action="store_true", help="emit @odata.nextLink on full pages")
    a("--no-alert-bump", action="store_true",
      help="PATCH leaves the alerts' lastUpdatedTime alone")
    a("--escape-non-ascii", action="store_true", help="emit non-ASCII as \\uXXXX escapes")
    a("--quiet", action="store_true", help="no per-request log lines on stderr")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config(args)
    now = now_ticks()
    gen = Generator(args.seed, cfg.quantise)
    store = Store(cfg, gen)
    try:
        initial = load_data_file(args.data, now) if args.data else []
    except (OSError, ValueError, KeyError) as e:
        sys.stderr.write("emulator: cannot load --data: %s\n" % e)
        return 2
    for v in initial:
        for a in v.alerts:
            if a.alert_id is not None:
                gen.used_alert_ids.add(a.alert_id)
    taken = {v.incident_id for v in initial}
    if args.generate > 0 or args.same_tick > 0:
        initial += gen.initial(args.generate, args.same_tick, args.spread_days, now, taken)
    try:
        store.load(initial, now)
    except ValueError as e:
        sys.stderr.write("emulator: %s\n" % e)
        return 2

    app = App(cfg, store, args.seed)
    Handler.app = app
    server = Server((args.host, args.port), Handler)

    def stop(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    threading.Thread(target=mutator_loop, args=(app,), name="mutator", daemon=True).start()
    host, port = server.server_address[:2]
    sys.stdout.write("listening http://%s:%d\n" % (host, port))
    sys.stdout.flush()
    if not cfg.quiet:
        sys.stderr.write("%s emulator ready incidents=%d alerts=%d\n" % (
            fmt_ts(now_ticks()), len(store.latest), sum(len(v.alerts) for v in store.log)))
    try:
        server.serve_forever(poll_interval=0.25)
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
