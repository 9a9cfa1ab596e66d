#!/usr/bin/env python3
"""Writes a synthetic backfill as raw API list pages, the input of the processing benchmark.

The incidents come from the project's API emulator (tests/emulator, `--generate N --seed S`),
so they have its realistic shapes and sizes (1-6 alerts each, about 3.5 on average, odd
characters, one description over 5,000 characters). The pages are the emulator's own answers
to GET /api/incidents?$top=100&$skip=K, byte for byte (quotas switched off, no gzip), newest
first. Two files are written:

  OUT            one page per line: {"@odata.context":"…","value":[…]}\\n
  OUT.array      the same pages as one JSON array ("[" page "," page … "]"), for tools such as
                 json_reformat that accept one document only: the same bytes but for N-1 commas
                 instead of newlines and two brackets.

Prints {"incidents","alerts","pages","bytes"} as JSON. Standard library only. Deterministic
for a seed apart from absolute times, which the emulator makes relative to now.
"""
import argparse
import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(HERE, "..", "tests", "emulator", "emulator.py")
SECRET = "bench-secret"
PAGE = 100


def post_token(url):
    body = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": "bench", "client_secret": SECRET,
        "scope": "https://api.security.microsoft.com/.default"}).encode()
    with urllib.request.urlopen(url + "/bench/oauth2/v2.0/token", body, timeout=60) as resp:
        return json.loads(resp.read())["access_token"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--incidents", type=int, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--spread-days", type=float, default=3.0)
    p.add_argument("--out", required=True)
    args = p.parse_args()

    proc = subprocess.Popen([sys.executable, EMULATOR, "--port", "0", "--quiet",
                             "--generate", str(args.incidents), "--seed", str(args.seed),
                             "--spread-days", str(args.spread_days), "--secret", SECRET,
                             "--quota-per-minute", "0", "--quota-per-hour", "0"],
                            stdout=subprocess.PIPE, text=True)
    incidents = alerts = pages = 0
    try:
        line = proc.stdout.readline().strip()
        if not line.startswith("listening "):
            raise RuntimeError("emulator did not start: %r" % line)
        url = line.split(" ", 1)[1]
        auth = {"Authorization": "Bearer " + post_token(url)}
        with open(args.out, "wb") as nd, open(args.out + ".array", "wb") as arr:
            arr.write(b"[")
            while True:
                req = urllib.request.Request("%s/api/incidents?$top=%d&$skip=%d"
                                             % (url, PAGE, incidents), headers=auth)
                with urllib.request.urlopen(req, timeout=120) as resp:
                    body = resp.read()
                value = json.loads(body)["value"]
                if not value:
                    break
                if b"\n" in body:
                    raise RuntimeError("a page contains a raw newline; one page per line fails")
                nd.write(body + b"\n")
                arr.write((b"," if pages else b"") + body)
                pages += 1
                incidents += len(value)
                alerts += sum(len(inc.get("alerts") or []) for inc in value)
                if len(value) < PAGE:
                    break
            arr.write(b"]")
    finally:
        proc.terminate()
        proc.wait(30)
    json.dump({"incidents": incidents, "alerts": alerts, "pages": pages,
               "bytes": os.path.getsize(args.out)}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
