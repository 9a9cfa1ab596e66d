"""A real rsyslog receiver for the syslog output's integration tests (reference formats.md §3).

Standard library only. Each receiver runs `rsyslogd -n` (no fork) as a child process with its
own configuration, pid file and work directory, on a loopback port the test picked, and writes
every message it parses as one JSON object per line (`%jsonmesg%`): RFC 5424 fields, the
structured data decoded by mmpstrucdata, and the CEF payload parsed by mmnormalize.
"""
import json
import os
import signal
import socket
import subprocess
import time

import harness

RSYSLOGD = os.environ.get("DFW_RSYSLOGD", "/usr/sbin/rsyslogd")
LOGNORMALIZER = "lognormalizer"
CEF_RULEBASE = "version=2\nrule=:%cef:cef%\n"


def free_port():
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certs(d, server_names=("localhost",), server_ips=("127.0.0.1",), prefix="", ca=None,
               usage="serverAuth"):
    """A throw-away CA (or ca=(ca.pem, ca.key), an existing one) and a certificate signed by
    it (formats.md §3.2), for a server or, with usage="clientAuth", a client. Returns
    (ca.pem, server.pem, server.key) paths; the CA key is PREFIXca.key beside them."""
    ca_crt, ca_key = ca or (os.path.join(d, prefix + "ca.pem"), os.path.join(d, prefix + "ca.key"))
    key, csr = os.path.join(d, prefix + "server.key"), os.path.join(d, prefix + "server.csr")
    crt, ext = os.path.join(d, prefix + "server.pem"), os.path.join(d, prefix + "server.ext")

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    if ca is None:
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=forwarder-test-ca-" + (prefix or "main"), "-keyout", ca_key, "-out", ca_crt)
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + server_names[0], "-keyout",
        key, "-out", csr)
    sans = ["DNS:" + n for n in server_names] + ["IP:" + i for i in server_ips]
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=%s\n"
                % (",".join(sans), usage))
    run("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial", "-days",
        "2", "-extfile", ext, "-out", crt)
    return ca_crt, crt, key


def listening(port):
    """True when something listens on TCP port (read from /proc, so the probe never touches
    the listener: a bare TCP connect would make a TLS receiver log a failed handshake)."""
    want = ":%04X" % port
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[1].endswith(want) and parts[3] == "0A":
                        return True
        except OSError:
            pass
    return False


class Rsyslog:
    """transport: "tls" (driver "gtls" or "ossl"), "tcp" or "udp". max_message_size: None
    keeps rsyslog's default (8096 bytes), so a message above the output's default cap would
    show up split in two."""

    def __init__(self, workdir, transport="tls", driver="gtls", port=None, certs=None,
                 max_message_size=None, name="rsyslog", auth_mode="anon"):
        self.dir = os.path.join(workdir, name)
        os.makedirs(os.path.join(self.dir, "spool"), exist_ok=True)
        self.transport, self.driver = transport, driver
        self.port = port or free_port()
        self.certs = certs
        self.max_message_size = max_message_size
        self.auth_mode = auth_mode  # "x509/certvalid": clients must show a certificate
        self.conf = os.path.join(self.dir, "rs.conf")
        self.pidfile = os.path.join(self.dir, "rs.pid")
        self.received = os.path.join(self.dir, "received.json")
        self.errlog = os.path.join(self.dir, "rsyslogd.stderr")
        self.proc = None
        with open(os.path.join(self.dir, "cef.rb"), "w") as f:
            f.write(CEF_RULEBASE)
        self._write_conf()

    def _write_conf(self):
        g = ['workDirectory="%s/spool"' % self.dir,
             'parser.escapeControlCharactersOnReceive="off"']
        if self.max_message_size:
            g.append('maxMessageSize="%s"' % self.max_message_size)
        if self.transport == "tls":
            ca, crt, key = self.certs
            g += ['defaultNetstreamDriver="%s"' % self.driver,
                  'defaultNetstreamDriverCAFile="%s"' % ca,
                  'defaultNetstreamDriverCertFile="%s"' % crt,
                  'defaultNetstreamDriverKeyFile="%s"' % key]
        lines = ["global(%s)" % " ".join(g)]
        if self.transport == "tls":
            lines.append('module(load="imtcp" streamDriver.name="%s" streamDriver.mode="1" '
                         'streamDriver.authMode="%s")' % (self.driver, self.auth_mode))
        elif self.transport == "tcp":
            lines.append('module(load="imtcp")')
        else:
            lines.append('module(load="imudp")')
        lines += [
            'module(load="mmpstrucdata")',
            'module(load="mmjsonparse")',
            'module(load="mmnormalize")',
            'module(load="mmrm1stspace")',
            'template(name="all" type="string" string="%jsonmesg%\\n")',
            'input(type="%s" address="127.0.0.1" port="%d" ruleset="capture")'
            % ("imudp" if self.transport == "udp" else "imtcp", self.port),
            'ruleset(name="capture") {',
            '  action(type="mmpstrucdata")',
            # RFC 3164 messages keep the space after the tag in msg (formats.md §3.3).
            '  if ($protocol-version == "0") then {',
            '    action(type="mmrm1stspace")',
            '  }',
            '  if ($msg startswith "CEF:") then {',
            '    action(type="mmnormalize" rulebase="%s/cef.rb")' % self.dir,
            '  } else if ($msg startswith "{") then {',
            '    action(type="mmjsonparse" cookie="")',
            '  }',
            '  action(type="omfile" file="%s" template="all")' % self.received,
            '}',
        ]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout=15):
        if os.path.exists(self.pidfile):
            os.unlink(self.pidfile)
        err = open(self.errlog, "a")
        self.proc = subprocess.Popen([RSYSLOGD, "-n", "-f", self.conf, "-i", self.pidfile],
                                     stdout=subprocess.DEVNULL, stderr=err)
        err.close()
        if self.transport == "udp":
            ok = harness.wait_for(lambda: os.path.exists(self.pidfile), timeout, 0.05)
            time.sleep(0.3)  # imudp binds after the pid file appears
        else:
            ok = harness.wait_for(lambda: listening(self.port), timeout, 0.05)
        if not ok or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("rsyslogd did not start:\n" + self.stderr())
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def stderr(self):
        try:
            with open(self.errlog) as f:
                return f.read()
        except OSError:
            return ""

    def messages(self):
        """Every message written so far, as parsed JSON (a torn last line is left out)."""
        if not os.path.exists(self.received):
            return []
        with open(self.received, encoding="utf-8") as f:
            data = f.read()
        lines = data.split("\n")
        return [json.loads(l) for l in lines[:-1] if l]

    def count(self):
        return harness.count_lines(self.received)


def sd_event_id(m, sd_id="dfw@32473"):
    return (m.get("$!", {}).get("rfc5424-sd", {}).get(sd_id, {}) or {}).get("eventid")


def cef_first_key_workaround(line):
    """liblognorm 2.0.6 eats the first extension key's first character unless a space follows
    the seventh unescaped '|' (rsyslog/liblognorm#363, formats.md §3.6): insert one."""
    pipes, i = 0, 0
    while i < len(line):
        c = line[i]
        if c == "\\":
            i += 2
            continue
        if c == "|":
            pipes += 1
            if pipes == 7:
                return line[:i + 1] + " " + line[i + 1:]
        i += 1
    return line


def lognormalize_cef(lines, workdir):
    """Parses CEF lines with lognormalizer (the same liblognorm rsyslog's mmnormalize uses).
    Returns one dict per line: the "cef" object, or None when the line did not parse."""
    rb = os.path.join(workdir, "cef-offline.rb")
    with open(rb, "w") as f:
        f.write(CEF_RULEBASE)
    text = "".join(cef_first_key_workaround(l) + "\n" for l in lines)
    p = subprocess.run([LOGNORMALIZER, "-r", rb, "-e", "json"], input=text.encode(),
                       capture_output=True, check=True)
    out = []
    for l in p.stdout.decode().splitlines():
        d = json.loads(l)
        out.append(d.get("cef") if "unparsed-data" not in d else None)
    return out


def syslog_output_yaml(name, fmt, host, port, transport="tls", protocol=None, framing=None,
                       ca_file=None, verify=None, extra=None, client_cert=None):
    """YAML lines of one `type: syslog` outputs entry. client_cert: (cert, key) paths."""
    lines = ["  - name: %s" % name, "    type: syslog", "    format: %s" % fmt,
             "    host: %s" % host, "    port: %d" % port, "    transport: %s" % transport]
    if protocol:
        lines.append("    protocol: %s" % protocol)
    if framing:
        lines.append("    framing: %s" % framing)
    for k, v in (extra or {}).items():
        lines.append("    %s: %s" % (k, v))
    if ca_file is not None or verify is not None or client_cert is not None:
        lines.append("    tls:")
        if ca_file is not None:
            lines.append("      ca_file: %s" % ca_file)
        if client_cert is not None:
            lines += ["      cert_file: %s" % client_cert[0],
                      "      key_file: %s" % client_cert[1]]
        if verify is not None:
            lines.append("      verify: %s" % ("true" if verify else "false"))
    return lines


def write_config(workdir, emulator_url, file_outputs, syslog_outputs, **kw):
    """harness.write_config() plus syslog outputs (lists of YAML lines from
    syslog_output_yaml()), appended to its `outputs:` list, which ends the file."""
    path = harness.write_config(workdir, emulator_url, file_outputs, **kw)
    with open(path, "a") as f:
        for entry in syslog_outputs:
            f.write("\n".join(entry) + "\n")
    return path


def plugin_available(workdir):
    """False when this build has no syslog output (DF_PLUGIN_OUT_SYSLOG=OFF)."""
    path = os.path.join(workdir, "probe.yaml")
    with open(path, "w") as f:
        f.write("tenants:\n  - name: t\n    tenant_id: x\n    client_id: y\n"
                "    client_secret: z\nstate:\n  dir: %s\noutputs:\n  - name: s\n"
                "    type: syslog\n    host: localhost\n" % os.path.join(workdir, "probe"))
    p = subprocess.run([harness.BIN, "check-config", "-c", path], capture_output=True,
                       text=True, env=harness.env())
    os.unlink(path)
    return "unknown output type" not in p.stdout + p.stderr
