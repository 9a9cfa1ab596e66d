"""The command line: check-config rejections (exit 2, file:line and key named), usage errors,
--version/--help, state show."""
import json
import os
import subprocess
import unittest

import harness

VALID = """\
tenants:
  - name: contoso
    tenant_id: 00000000-0000-0000-0000-000000000000
    client_id: 11111111-1111-1111-1111-111111111111
    client_secret: s3cret
collector:
  poll_interval: 30s
state:
  dir: {state}
outputs:
  - name: archive
    type: file
    path: {out}
    format: json
"""


def cli(*args, env=None):
    return subprocess.run([harness.BIN, *args], capture_output=True, text=True, timeout=60,
                          env=env or harness.env())


class CheckConfig(harness.ForwarderTest):
    def write(self, text, name="dfw.yaml"):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            f.write(text.format(state=os.path.join(self.workdir, "state"),
                                out=os.path.join(self.workdir, "events.json")))
        return path

    def assert_rejected(self, text, line, key):
        path = self.write(text)
        p = cli("check-config", "-c", path)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("%s:%d" % (path, line), p.stderr)
        self.assertIn(key, p.stderr)
        return p.stderr

    def test_valid(self):
        p = cli("check-config", "-c", self.write(VALID))
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_unknown_key(self):
        self.assert_rejected(VALID.replace("  poll_interval: 30s",
                                           "  poll_interval: 30s\n  pol_interval: 5s"),
                             8, "pol_interval")

    def test_wrong_type(self):
        self.assert_rejected(VALID.replace("  poll_interval: 30s",
                                           "  poll_interval: 30s\n  rate_limit: {{per_minute: lots}}"),
                             8, "per_minute")

    def test_missing_tenants(self):
        text = VALID[VALID.index("collector:"):]
        path = self.write(text)
        p = cli("check-config", "-c", path)
        self.assertEqual(p.returncode, 2)
        self.assertIn(path, p.stderr)
        self.assertIn("tenants", p.stderr)

    def test_duplicate_output_names(self):
        text = VALID + "  - name: archive\n    type: file\n    path: /tmp/x.json\n"
        err = self.assert_rejected(text, 15, "name")
        self.assertIn("archive", err)

    def test_bad_duration(self):
        self.assert_rejected(VALID.replace("poll_interval: 30s", "poll_interval: 30 seconds"),
                             7, "poll_interval")

    def test_secret_not_in_errors(self):
        p = cli("check-config", "-c", self.write(VALID.replace("30s", "bogus")))
        self.assertNotIn("s3cret", p.stderr + p.stdout)


class Usage(harness.ForwarderTest):
    def test_version_and_help(self):
        p = cli("--version")
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^defender-forwarder \d+\.\d+\.\d+")
        p = cli("--help")
        self.assertEqual(p.returncode, 0)
        for cmd in ("run -c FILE [--once]", "check-config", "incidents list", "state show"):
            self.assertIn(cmd, p.stdout)

    def test_usage_errors(self):
        self.assertEqual(cli("frobnicate").returncode, 2)
        self.assertEqual(cli("run").returncode, 2)
        self.assertEqual(cli("run", "-c").returncode, 2)
        self.assertEqual(cli("check-config", "-c", "/nonexistent/dfw.yaml").returncode, 2)

    def test_state_show_and_incidents(self):
        emu = self.emulator("--generate", "30", "--seed", "3")
        out = os.path.join(self.workdir, "events.json")
        cfg = harness.write_config(self.workdir, emu.url, [("archive", "json", out)])
        harness.run_once(cfg)
        p = cli("state", "show", "-c", cfg)
        self.assertEqual(p.returncode, 0, p.stderr)
        state = json.loads(p.stdout)
        n = len(harness.read_json_events(out))
        self.assertEqual(state["outputs"]["archive"]["delivered_events"], n)
        self.assertEqual(state["outputs"]["archive"]["committed_length"], os.path.getsize(out))
        self.assertIn("position", state["tenants"]["contoso"])

        p = cli("incidents", "list", "-c", cfg, "--top", "5")
        self.assertEqual(p.returncode, 0, p.stderr)
        listed = [json.loads(l) for l in p.stdout.splitlines()]
        self.assertEqual(len(listed), 5)
        first = listed[0]["incidentId"]
        p = cli("incidents", "get", str(first), "-c", cfg)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["incidentId"], first)
        p = cli("incidents", "get", "999999999", "-c", cfg)
        self.assertEqual(p.returncode, 1)
        self.assertIn("ResourceNotFound", p.stderr)
        p = cli("incidents", "update", str(first), "-c", cfg, "--status", "Resolved",
                "--comment", "closed by test", "--tag", "a", "--tag", "b")
        self.assertEqual(p.returncode, 0, p.stderr)
        upd = json.loads(p.stdout)
        self.assertEqual(upd["status"], "Resolved")
        self.assertEqual(upd["tags"], ["a", "b"])
        self.assertEqual(upd["comments"][-1]["comment"], "closed by test")
        p = cli("incidents", "update", str(first), "-c", cfg, "--status", "Bogus")
        self.assertEqual(p.returncode, 1)
        self.assertIn("InvalidRequestBody", p.stderr)


if __name__ == "__main__":
    unittest.main()
