#!/usr/bin/env python3
"""Differential test of docketd against nats-server on the NATS core client protocol.

    python3 scripts/nats-diff.py [--docketd .build/debug/docketd] [--nats-server /usr/sbin/nats-server]
                                 [-k SUBSTRING] [-v] [--all]

Starts both servers on free loopback ports with temporary data directories (one pair per
server profile: plain, token, user/password, permissions, small limits), plays the same bytes
to each, and prints every case whose replies differ after normalising what is legitimately
product-specific (INFO's server_id, version, client_id, …). Loopback only, small counts, short
timeouts. Standard library only.

Not every difference is a bug: Protocol/PROTOCOL.md says where docketd differs on purpose (a PUB
to a wildcard subject, the control line's length, -ERR texts where nats-server closes silently,
blank lines and bare LF after a payload accepted, lenient CONNECT field types, no_auth_user, …).
A difference the document does not explain is worth a look.
"""

import argparse
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

IDLE = 0.15       # a connection is quiet after this long without bytes
STEP_MAX = 2.0    # a step waits at most this long for its replies

# INFO fields whose values differ by product or by connection.
INFO_VOLATILE = {"server_id", "server_name", "version", "go", "git_commit", "client_id", "client_ip",
                 "host", "port", "docket_version", "xkey", "nonce", "jetstream", "domain", "cluster"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PROFILES = {
    "plain": {"config": None, "flags": []},
    "token": {"config": None, "flags": ["--auth", "s3cret"]},
    "user": {"config": None, "flags": ["--user", "alice", "--pass", "pw"]},
    "limits": {"config": "max_payload: 64\nmax_control_line: 256\n", "flags": []},
    "perms": {"config": """
authorization {
  users = [
    { user: pub, password: pw, permissions: { publish: { allow: ["foo.>", "_INBOX.>"], deny: ["foo.secret"] },
                                              subscribe: { allow: ["foo.>", "_INBOX.>", "q.*"], deny: ["foo.hidden"] } } }
    { user: all, password: pw }
    { user: ro, password: pw, permissions: { publish: { deny: [">"] }, subscribe: "ro.>" } }
  ]
}
""", "flags": []},
    "bcrypt": {"config": """
authorization { users = [
  { user: alice, password: "$2b$11$d8HMvLY65nQcbLkSP14OY.e4ksKvx0dPA8Z4o63a3zRdkVpa5HU/W" }
  { user: bob, password: "$2b$11$d8HMvLY65nQcbLkSP14OY.e4ksKvx0dPA8Z4o63a3zRdkVpa5HU/W",
    permissions: { publish: "ok.>", subscribe: "ok.>" } } ] }
""", "flags": []},
    "qperms": {"config": """
authorization {
  default_permissions: { publish: "d.>", subscribe: "d.>" }
  users = [
    { user: qu, password: pw, permissions: { subscribe: { allow: ["foo g1", "bar.*", "baz"], deny: ["baz g9"] } } }
    { user: den, password: pw, permissions: { publish: { deny: "secret.>" }, subscribe: { deny: "secret.>" } } }
    { user: dflt, password: pw }
  ]
}
""", "flags": []},
    "noauthuser": {"config": """
authorization { users = [ { user: a, password: pw, permissions: { publish: "x.>", subscribe: "x.>" } } ] }
no_auth_user: a
""", "flags": []},
}


class Proc:
    def __init__(self, kind, binary, profile):
        self.kind = kind
        self.dir = tempfile.mkdtemp(prefix="natsdiff-%s-" % kind)
        self.port = free_port()
        prof = PROFILES[profile]
        argv = [binary]
        if kind == "nats":
            argv += ["-a", "127.0.0.1", "-p", str(self.port)]
        else:
            argv += ["-a", "127.0.0.1", "--port", str(self.port), "--data-dir", os.path.join(self.dir, "data")]
        argv += prof["flags"]
        if prof["config"]:
            path = os.path.join(self.dir, "server.conf")
            with open(path, "w") as f:
                f.write(prof["config"])
            argv += ["-c", path]
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError("%s did not start: %s" % (kind, open(os.path.join(self.dir, "log")).read()[-2000:]))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def normalise(data):
    """Splits the received bytes into lines and normalises INFO."""
    out = []
    for line in data.split(b"\r\n"):
        if line.startswith(b"INFO "):
            try:
                info = json.loads(line[5:])
                kept = {k: v for k, v in info.items() if k not in INFO_VOLATILE}
                line = b"INFO " + json.dumps(kept, sort_keys=True).encode()
            except ValueError:
                pass
        out.append(line)
    return b"\r\n".join(out)


def play(address, steps, trace=False):
    """Plays a case; returns a list of (step, conn, bytes, eof) observations."""
    conns = {}
    eofs = set()
    result = []
    for index, step in enumerate(steps):
        conn, data = step[0], step[1]
        if conn == "sleep":
            time.sleep(data)
            continue
        if conn not in conns:
            s = socket.create_connection(address, 2)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conns[conn] = s
        if data == "close":
            conns[conn].close()
            eofs.add(conn)
            continue
        if data is not None and conn not in eofs:
            try:
                conns[conn].sendall(data)
            except OSError as e:
                result.append((index, conn, b"<send failed: %s>" % str(e).encode(), True))
        # Read every connection until all are quiet.
        received = {c: b"" for c in conns}
        deadline = time.monotonic() + STEP_MAX
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            live = [s for c, s in conns.items() if c not in eofs]
            if not live:
                break
            r, _, _ = select.select(live, [], [], IDLE)
            if not r:
                # A step that ends in PING waits for its PONG (a password hash takes a while).
                owed = (isinstance(data, bytes) and data.endswith(b"PING\r\n") and conn not in eofs
                        and not received[conn].endswith(b"PONG\r\n"))
                if time.monotonic() - quiet_since >= IDLE and not owed:
                    break
                continue
            quiet_since = time.monotonic()
            for s in r:
                c = [k for k, v in conns.items() if v is s][0]
                try:
                    chunk = s.recv(65536)
                except (ConnectionResetError, OSError):
                    chunk = b""
                if chunk:
                    received[c] += chunk
                else:
                    eofs.add(c)
                    received[c] += b"<EOF>"
        for c in sorted(received):
            if received[c]:
                result.append((index, c, normalise(received[c])))
    for s in conns.values():
        s.close()
    return result


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------

CASES = []


def case(name, steps, profile="plain"):
    CASES.append((name, profile, [(s[0], s[1].encode("latin-1") if isinstance(s[1], str) and s[1] != "close" else s[1])
                                  + tuple(s[2:]) for s in steps]))


QUIET = 'CONNECT {"verbose":false,"pedantic":false}\r\n'
PED = 'CONNECT {"verbose":false,"pedantic":true}\r\n'
VERB = 'CONNECT {"verbose":true,"pedantic":false}\r\n'
HDR = 'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'


def simple(name, *sends, profile="plain"):
    case(name, [("a", None)] + [("a", s) for s in sends], profile)


# CONNECT combinations
for body in ['{}', '{"verbose":true}', '{"verbose":false}', '{"verbose":true,"pedantic":true}',
             '{"echo":false}', '{"headers":true}', '{"headers":false,"no_responders":true}',
             '{"headers":true,"no_responders":true}', '{"protocol":0}', '{"protocol":1}',
             '{"protocol":2}', '{"protocol":-1}', '{"protocol":1.5}', '{"protocol":"1"}', '{"protocol":null}',
             '{"verbose":"yes"}', '{"verbose":1}', '{"verbose":null}', '{"echo":"false"}', '{"headers":"true"}',
             '{"name":5}', '{"name":"x","lang":"python3","version":"2.16.0"}', '{"unknown_field":[1,2,{"a":null}]}',
             '{"lang":"go","version":"1.2.3","tls_required":false,"user":"u","pass":"p"}',
             '{"auth_token":"abc"}', '{bad json', '', '[]', '"str"', '5', 'null', '{} trailing',
             '{"verbose":true}{"verbose":false}', '{"verbose":true,"verbose":false}',
             '{ "verbose" : true }', '{"verbose":true} ', '\t{"verbose":true}',
             '{"sig":"x","jwt":"y","nkey":"z"}', '{"pedantic":false,"verbose":true,"protocol":1,"echo":true}']:
    simple("connect " + body, "CONNECT " + body + "\r\n", "PING\r\n")
simple("connect no space", 'CONNECT{"verbose":true}\r\n', "PING\r\n")
simple("connect tab", 'CONNECT\t{"verbose":true}\r\n', "PING\r\n")
simple("connect bare", 'CONNECT\r\n', "PING\r\n")
simple("connect twice", 'CONNECT {"verbose":true}\r\n', 'CONNECT {"verbose":false}\r\n', "PING\r\n")
simple("connect lowercase", 'connect {"verbose":true}\r\n', "PING\r\n")
simple("connect with ping same write", 'CONNECT {"verbose":false}\r\nPING\r\n')

# Ops before CONNECT, case and whitespace variants
simple("pub before connect", "PUB foo 2\r\nhi\r\n", "PING\r\n")
simple("sub pub before connect", "SUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n")
simple("mixed case", QUIET + "sUb foo 1\r\npUb foo 2\r\nhi\r\nPiNg\r\n")
simple("tabs", QUIET + "SUB\tfoo\t1\r\nPUB\t foo \t2\r\nhi\r\nPING\r\n")
simple("leading blank", QUIET + " SUB foo 1\r\nPING\r\n")
simple("trailing blanks", QUIET + "SUB foo 1  \r\nPUB foo 2 \t\r\nhi\r\nPING\r\n")
simple("bare lf", QUIET + "SUB foo 1\nPUB foo 2\nhi\r\nPING\n")
simple("bare lf after payload", QUIET + "SUB foo 1\nPUB foo 2\nhi\nPING\n")
simple("cr cr lf", QUIET + "SUB foo 1\r\r\nPING\r\n")
simple("blank line", QUIET + "\r\nPING\r\n")
simple("blank line before connect", "\r\n" + QUIET + "PING\r\n")
simple("spaces only line", QUIET + "   \r\nPING\r\n")
simple("ping with args", QUIET + "PING foo\r\n")
simple("pingx", QUIET + "PINGX\r\n")
simple("pin", QUIET + "PIN\r\n")
simple("pong unsolicited", QUIET + "PONG\r\nPING\r\n")
simple("+OK from client", QUIET + "+OK\r\nPING\r\n")
simple("-ERR from client", QUIET + "-ERR 'x'\r\nPING\r\n")
simple("INFO from client", QUIET + "INFO {}\r\nPING\r\n")
simple("unknown op", QUIET + "FOO bar\r\nPING\r\n")
simple("PUBX", QUIET + "PUBX foo 1\r\nx\r\n")
simple("PUB no args", QUIET + "PUB\r\n")
simple("PUB space no args", QUIET + "PUB \r\n")
simple("SUB no args", QUIET + "SUB\r\n")
simple("SUB one arg", QUIET + "SUB foo\r\n")
simple("UNSUB no args", QUIET + "UNSUB\r\n")
simple("UNSUB space", QUIET + "UNSUB \r\n")
simple("SUB too many args", QUIET + "SUB foo q 1 extra\r\nPING\r\n")
simple("UNSUB too many args", QUIET + "SUB foo 1\r\nUNSUB 1 2 3\r\nPING\r\n")
simple("RESERVE-like op name from nats client", QUIET + "R\r\n")
simple("NUL byte op", QUIET + "\x00PING\r\n")
simple("high byte op", QUIET + "\xffPING\r\n")

# PUB / HPUB argument errors
for line in ["PUB foo\r\n", "PUB foo -1\r\n", "PUB foo abc\r\n", "PUB foo 1 2 3\r\n", "PUB foo bar 1x\r\n",
             "PUB foo +2\r\nhi\r\n", "PUB foo 02\r\nhi\r\n", "PUB foo 99999999999999999999\r\n",
             "PUB foo 2\r\nhiX\r\n", "PUB foo 2\r\nh\r\n", "PUB foo 3\r\nhi\r\n", "PUB foo 0\r\n\r\n",
             "HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n", "HPUB foo 12\r\n", "HPUB foo 13 12\r\n",
             "HPUB foo -1 12\r\n", "HPUB foo x 12\r\n", "HPUB foo 12 x\r\n", "HPUB foo bar baz 12 14\r\n",
             "HPUB foo r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", "HPUB foo 0 2\r\nhi\r\n", "HPUB foo 0 0\r\n\r\n"]:
    simple("quiet " + line.split("\r\n")[0], QUIET + "SUB foo 1\r\n", line, "PING\r\n")
    simple("hdr " + line.split("\r\n")[0], HDR + "SUB foo 1\r\n", line, "PING\r\n")

# Payload limits (limits profile: max_payload 64, max_control_line 256)
simple("payload exactly max", QUIET + "SUB foo 1\r\nPUB foo 64\r\n" + "x" * 64 + "\r\nPING\r\n", profile="limits")
simple("payload one over", QUIET + "SUB foo 1\r\nPUB foo 65\r\n" + "x" * 65 + "\r\nPING\r\n", profile="limits")
simple("hpub exactly max", HDR + "SUB foo 1\r\nHPUB foo 12 64\r\nNATS/1.0\r\n\r\n" + "x" * 52 + "\r\nPING\r\n",
       profile="limits")
simple("hpub one over", HDR + "SUB foo 1\r\nHPUB foo 12 65\r\nNATS/1.0\r\n\r\n" + "x" * 53 + "\r\nPING\r\n",
       profile="limits")
simple("max payload pub line only", QUIET + "PUB foo 65\r\n", profile="limits")
simple("max payload verbose", VERB + "SUB foo 1\r\nPUB foo 1\r\nx\r\nPUB foo 65\r\n", profile="limits")
simple("info limits", QUIET + "PING\r\n", profile="limits")
for n in (250, 251, 252, 253, 254, 255, 256, 257, 258, 300):
    subj = "a" * (n - 6)
    simple("control line total %d (sub)" % n, QUIET + "SUB " + subj + " 1\r\nPING\r\n", profile="limits")
for n in (255, 256, 257, 258, 262, 264):
    simple("unterminated line %d" % n, QUIET + "PUB " + "a" * (n - 4), profile="limits")
    simple("connect line %d" % n, 'CONNECT {"verbose":false,"name":"' + "n" * (n - 34) + '"}\r\nPING\r\n',
           profile="limits")
for n in (4090, 4096, 4097, 4100, 4110):
    simple("default control line %d" % n, QUIET + "SUB " + "b" * (n - 6) + " 1\r\nPING\r\n")
simple("big payload default 1MiB", QUIET + "PUB foo 1048576\r\n" + "y" * 1048576 + "\r\nPING\r\n")
simple("big payload default 1MiB+1", QUIET + "PUB foo 1048577\r\n")

# SUB / UNSUB edge cases
simple("sid reuse", VERB + "SUB foo 1\r\nSUB bar 1\r\nPUB foo 1\r\nx\r\nPUB bar 1\r\ny\r\nPING\r\n")
simple("sid reuse invalid subject", VERB + "SUB foo 1\r\nSUB foo..bar 1\r\nPING\r\n")
simple("unsub unknown", VERB + "UNSUB 9\r\nUNSUB 9 3\r\nPING\r\n")
simple("unsub 0", VERB + "SUB foo 1\r\nUNSUB 1 0\r\nPUB foo 1\r\nx\r\nPING\r\n")
simple("unsub max reached", QUIET + "SUB foo 1\r\nPUB foo 1\r\nx\r\nPUB foo 1\r\ny\r\nUNSUB 1 2\r\nPUB foo 1\r\nz\r\nPING\r\n")
simple("unsub max above", QUIET + "SUB foo 1\r\nPUB foo 1\r\nx\r\nUNSUB 1 2\r\nPUB foo 1\r\ny\r\nPUB foo 1\r\nz\r\nPING\r\n")
simple("unsub max then resub", QUIET + "SUB foo 1\r\nUNSUB 1 1\r\nSUB foo 1\r\nPUB foo 1\r\nx\r\nPUB foo 1\r\ny\r\nPING\r\n")
simple("unsub negative", QUIET + "SUB foo 1\r\nUNSUB 1 -1\r\nPUB foo 1\r\nx\r\nPING\r\n")
simple("unsub non numeric", QUIET + "SUB foo 1\r\nUNSUB 1 abc\r\nPUB foo 1\r\nx\r\nPING\r\n")
simple("unsub huge", QUIET + "SUB foo 1\r\nUNSUB 1 99999999999\r\nPUB foo 1\r\nx\r\nPING\r\n")
simple("unsub twice lower", QUIET + "SUB foo 1\r\nUNSUB 1 3\r\nPUB foo 1\r\nx\r\nUNSUB 1 1\r\nPUB foo 1\r\ny\r\nPING\r\n")
simple("sid odd bytes", QUIET + "SUB foo a.b-c*>\xc3\xa9\r\nPUB foo 1\r\nx\r\nPING\r\n")
simple("sid long", QUIET + "SUB foo " + "9" * 200 + "\r\nPUB foo 1\r\nx\r\nPING\r\n")
for q in ["q", "q.b", "q*", "q.*", ">", "q..b", ".q", "q.", "\xc3\xa9", "q\x01", "*"]:
    simple("queue group %r" % q, VERB + "SUB foo " + q + " 1\r\nPUB foo 1\r\nx\r\nPING\r\n")

# Subjects, normal and pedantic
SUBJECTS = ["foo", "foo.bar", "foo..bar", ".foo", "foo.", ".", "..", "*", ">", "foo.*", "foo.>", "foo.>.bar",
            ">.foo", "f*o", "foo*", "*foo", "foo>", "foo.b>r", "foo.**", "foo.>>", "a.*.>", "\xc3\xa9t\xc3\xa9",
            "bad\xff\xfeutf8", "ctl\x01byte", "nul\x00byte", "del\x7f", "ff\x0cfeed", "vt\x0bx", "cr\rin",
            "x" * 1000, ".".join(["t"] * 300), "$SYS.foo", "_INBOX.abc", "foo.\xc3\xa9"]
for subj in SUBJECTS:
    label = repr(subj)[:60]
    simple("sub subject " + label, VERB + "SUB " + subj + " 1\r\nPING\r\n")
    simple("pub subject lenient " + label,
           QUIET + "SUB > 9\r\nSUB " + subj + " 1\r\nPUB " + subj + " 1\r\nx\r\nPING\r\n")
    simple("pub subject pedantic " + label,
           PED + "SUB > 9\r\nPUB " + subj + " 1\r\nx\r\nPING\r\n")
    simple("pub subject pedantic verbose " + label,
           'CONNECT {"verbose":true,"pedantic":true}\r\nPUB ' + subj + " 1\r\nx\r\nPING\r\n")

# Reply subjects
for reply in ["_INBOX.x", "_INBOX.*", "_INBOX.>", "a..b", ".a", "_R_.x", "$JS.ACK.x", "\xc3\xa9"]:
    simple("reply " + repr(reply), QUIET + "SUB foo 1\r\nPUB foo " + reply + " 1\r\nx\r\nPING\r\n")
    simple("reply pedantic " + repr(reply), PED + "SUB foo 1\r\nPUB foo " + reply + " 1\r\nx\r\nPING\r\n")
    simple("no responders reply " + repr(reply), HDR + "SUB _INBOX.> 1\r\nPUB nobody " + reply + " 1\r\nx\r\nPING\r\n")

# No responders
simple("no responders basic", HDR + "SUB _INBOX.a.* 1\r\nPUB req _INBOX.a.1 0\r\n\r\nPING\r\n")
simple("no responders no own sub", HDR + "PUB req _INBOX.a.1 0\r\n\r\nPING\r\n")
simple("no responders queue sub", HDR + "SUB _INBOX.a.* q 1\r\nPUB req _INBOX.a.1 0\r\n\r\nPING\r\n")
simple("no responders two subs", HDR + "SUB _INBOX.> 2\r\nSUB _INBOX.a.* 1\r\nPUB req _INBOX.a.1 0\r\n\r\nPING\r\n")
simple("no responders echo false self", 'CONNECT {"verbose":false,"headers":true,"no_responders":true,"echo":false}\r\n'
       "SUB req 2\r\nSUB _INBOX.a.* 1\r\nPUB req _INBOX.a.1 0\r\n\r\nPING\r\n")
simple("no responders hpub", HDR + "SUB _INBOX.a.* 1\r\nHPUB req _INBOX.a.1 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n")
simple("no responders verbose", 'CONNECT {"verbose":true,"headers":true,"no_responders":true}\r\n'
       "SUB _INBOX.a.* 1\r\nPUB req _INBOX.a.1 0\r\n\r\nPING\r\n")
simple("no responders without flag", 'CONNECT {"verbose":false,"headers":true}\r\n'
       "SUB _INBOX.a.* 1\r\nPUB req _INBOX.a.1 0\r\n\r\nPING\r\n")
simple("no responders unsub max", HDR + "SUB _INBOX.a.* 1\r\nUNSUB 1 1\r\nPUB req _INBOX.a.1 0\r\n\r\nPUB req _INBOX.a.2 0\r\n\r\nPING\r\n")
simple("no responders reply is subject", HDR + "SUB _INBOX.a 1\r\nPUB _INBOX.a _INBOX.a 0\r\n\r\nPING\r\n")
case("no responders other connection listens reply", [
    ("b", QUIET + "SUB _INBOX.a.* 7\r\nPING\r\n"),
    ("a", HDR + "PUB req _INBOX.a.1 0\r\n\r\nPING\r\n")])
case("no responders set after", [
    ("a", 'CONNECT {"verbose":false,"headers":true}\r\nSUB _INBOX.a.* 1\r\n'
          'CONNECT {"no_responders":true}\r\nPUB req _INBOX.a.1 0\r\n\r\nPING\r\n')])

# PING/PONG ordering, verbose interleaving
simple("pipelined verbose", VERB + "SUB foo 1\r\nPUB foo 1\r\nx\r\nPING\r\nPUB foo 1\r\ny\r\nPING\r\nUNSUB 1\r\nPING\r\n")
simple("verbose hpub", 'CONNECT {"verbose":true,"headers":true}\r\nSUB foo 1\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n')
case("verbose interleave two conns", [
    ("a", VERB + "SUB foo 1\r\nPING\r\n"),
    ("b", VERB + "PUB foo 1\r\nx\r\nPUB foo 1\r\ny\r\nPING\r\n"),
    ("a", "PING\r\n")])

# echo=false with queue groups
simple("echo false queue", 'CONNECT {"verbose":false,"echo":false}\r\nSUB foo q 1\r\nPUB foo 1\r\nx\r\nPING\r\n')
simple("echo false plain", 'CONNECT {"verbose":false,"echo":false}\r\nSUB foo 1\r\nPUB foo 1\r\nx\r\nPING\r\n')
case("echo false queue other member", [
    ("b", QUIET + "SUB foo q 2\r\nPING\r\n"),
    ("a", 'CONNECT {"verbose":false,"echo":false}\r\nSUB foo q 1\r\nPING\r\n'),
    ("a", "PUB foo 1\r\nx\r\nPUB foo 1\r\ny\r\nPUB foo 1\r\nz\r\nPING\r\n"),
    ("b", "PING\r\n")])
case("echo false then true", [
    ("a", 'CONNECT {"verbose":false,"echo":false}\r\nSUB foo 1\r\nCONNECT {"echo":true}\r\nPUB foo 1\r\nx\r\nPING\r\n')])

# Headers to non-header subscribers
case("headers to plain subscriber", [
    ("b", QUIET + "SUB foo 1\r\nPING\r\n"),
    ("a", HDR + "HPUB foo 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\nHPUB foo 18 18\r\nNATS/1.0\r\nA: b\r\n\r\n\r\nPING\r\n"),
    ("b", "PING\r\n")])
case("headers reply to plain subscriber", [
    ("b", QUIET + "SUB foo 1\r\nPING\r\n"),
    ("a", HDR + "HPUB foo r.1 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\nPING\r\n"),
    ("b", "PING\r\n")])
simple("hpub garbage header block", HDR + "SUB foo 1\r\nHPUB foo 4 6\r\nabcdhi\r\nPING\r\n")
simple("hpub header block no crlf", HDR + "SUB foo 1\r\nHPUB foo 8 8\r\nNATS/1.0\r\nPING\r\n")
simple("hpub without headers", QUIET + "SUB foo 1\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n")
simple("hpub headers false explicit", 'CONNECT {"verbose":false,"headers":false}\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n')
simple("hpub before connect", "HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n")

# Fatal errors: flush pending first?
simple("fatal after msgs", QUIET + "SUB foo 1\r\nPUB foo 1\r\nx\r\nPUB foo 1\r\ny\r\nBOGUS\r\nPING\r\n")
simple("fatal after pong", QUIET + "PING\r\nBOGUS\r\n")
simple("fatal after verbose ok", VERB + "SUB foo 1\r\nPUB foo 1\r\nx\r\nXX\r\n")
simple("fatal max payload after msgs", QUIET + "SUB foo 1\r\nPUB foo 1\r\nx\r\nPUB foo 99999999\r\n")
simple("max control after msgs", QUIET + "SUB foo 1\r\nPUB foo 1\r\nx\r\nPUB " + "z" * 5000 + " 1\r\n")
simple("fatal then more ops", QUIET + "SUB foo 1\r\nBOGUS\r\nPUB foo 1\r\nx\r\nPING\r\n")
case("fatal other conn gets msgs", [
    ("b", QUIET + "SUB foo 1\r\nPING\r\n"),
    ("a", QUIET + "PUB foo 1\r\nx\r\nBOGUS\r\nPUB foo 1\r\ny\r\n"),
    ("b", "PING\r\n")])

# Authentication: token
for prof, good in (("token", '{"verbose":false,"auth_token":"s3cret"}'),
                   ("user", '{"verbose":false,"user":"alice","pass":"pw"}')):
    simple(prof + " info", "", profile=prof)
    simple(prof + " good", "CONNECT " + good + "\r\nPING\r\n", profile=prof)
    simple(prof + " good verbose", "CONNECT " + good.replace('false', 'true') + "\r\nPING\r\n", profile=prof)
    simple(prof + " good pipelined", "CONNECT " + good + "\r\nSUB foo 1\r\nPUB foo 1\r\nx\r\nPING\r\n", profile=prof)
    simple(prof + " missing", 'CONNECT {"verbose":false}\r\nPING\r\n', profile=prof)
    simple(prof + " wrong", 'CONNECT {"verbose":false,"auth_token":"nope","user":"alice","pass":"no"}\r\nPING\r\n',
           profile=prof)
    simple(prof + " ping first", "PING\r\n", profile=prof)
    simple(prof + " pub first", "PUB foo 1\r\nx\r\n", profile=prof)
    simple(prof + " lowercase connect", "connect " + good + "\r\nPING\r\n", profile=prof)
    simple(prof + " blank line first", "\r\nCONNECT " + good + "\r\nPING\r\n", profile=prof)
    simple(prof + " bad json", "CONNECT {x\r\nPING\r\n", profile=prof)
    simple(prof + " unknown op first", "XYZ\r\n", profile=prof)
    simple(prof + " CONNX first", "CONNX\r\n", profile=prof)
    simple(prof + " connect then reconnect wrong", "CONNECT " + good + "\r\nCONNECT {\"auth_token\":\"x\",\"user\":\"x\"}\r\nPING\r\n",
           profile=prof)
    simple(prof + " protocol 2 good creds", "CONNECT " + good[:-1] + ',"protocol":2}\r\nPING\r\n', profile=prof)
    simple(prof + " no_responders no headers good creds", "CONNECT " + good[:-1] + ',"no_responders":true}\r\nPING\r\n',
           profile=prof)
    simple(prof + " protocol 2 bad creds", 'CONNECT {"protocol":2}\r\nPING\r\n', profile=prof)
simple("token via user field", 'CONNECT {"verbose":false,"user":"s3cret"}\r\nPING\r\n', profile="token")
simple("user via token field", 'CONNECT {"verbose":false,"auth_token":"pw"}\r\nPING\r\n', profile="user")

# Permissions
PUBU = 'CONNECT {"verbose":false,"pedantic":false,"user":"pub","pass":"pw"}\r\n'
PUBV = 'CONNECT {"verbose":true,"pedantic":false,"user":"pub","pass":"pw"}\r\n'
ROU = 'CONNECT {"verbose":false,"pedantic":false,"user":"ro","pass":"pw"}\r\n'
ALLU = 'CONNECT {"verbose":false,"pedantic":false,"user":"all","pass":"pw"}\r\n'
simple("perm pub allowed", PUBU + "SUB foo.a 1\r\nPUB foo.a 1\r\nx\r\nPING\r\n", profile="perms")
simple("perm pub denied", PUBU + "PUB bar 1\r\nx\r\nPING\r\n", profile="perms")
simple("perm pub denied verbose", PUBV + "PUB bar 1\r\nx\r\nPING\r\n", profile="perms")
simple("perm pub deny list", PUBU + "PUB foo.secret 1\r\nx\r\nPING\r\n", profile="perms")
simple("perm sub denied", PUBU + "SUB bar 1\r\nPING\r\n", profile="perms")
simple("perm sub denied verbose", PUBV + "SUB bar 1\r\nPING\r\n", profile="perms")
simple("perm sub denied queue", PUBU + "SUB bar grp 1\r\nPING\r\n", profile="perms")
simple("perm sub deny list", PUBU + "SUB foo.hidden 1\r\nPING\r\n", profile="perms")
simple("perm sub overlap deny", PUBU + "SUB foo.* 1\r\nPING\r\n", profile="perms")
simple("perm sub wider than allow", PUBU + "SUB > 1\r\nPING\r\n", profile="perms")
simple("perm sub invalid subject", PUBU + "SUB foo..x 1\r\nPING\r\n", profile="perms")
simple("perm pub invalid subject pedantic", PUBU.replace('"pedantic":false', '"pedantic":true') + "PUB bar..x 1\r\nx\r\nPING\r\n",
       profile="perms")
simple("perm pub wildcard", PUBU + "PUB foo.* 1\r\nx\r\nPING\r\n", profile="perms")
simple("perm hpub denied", PUBU.replace('"user"', '"headers":true,"user"') + "HPUB bar 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n",
       profile="perms")
simple("perm pub denied then ok", PUBU + "SUB foo.a 1\r\nPUB bar 1\r\nx\r\nPUB foo.a 1\r\ny\r\nPING\r\n", profile="perms")
simple("perm ro pub", ROU + "PUB ro.x 1\r\nx\r\nPING\r\n", profile="perms")
simple("perm ro sub", ROU + "SUB ro.x 1\r\nSUB ro.> 2\r\nSUB x 3\r\nPING\r\n", profile="perms")
simple("perm reply pub not allowed", PUBU + "SUB foo.a 1\r\nPUB foo.a bar.reply 1\r\nx\r\nPING\r\n", profile="perms")
simple("perm wrong password", 'CONNECT {"verbose":false,"user":"pub","pass":"no"}\r\nPING\r\n', profile="perms")
simple("perm unknown user", 'CONNECT {"verbose":false,"user":"zed","pass":"pw"}\r\nPING\r\n', profile="perms")
simple("perm quote in subject", PUBU + 'PUB ba"r 1\r\nx\r\nPING\r\n', profile="perms")
simple("perm non-ascii subject", PUBU + 'PUB \xc3\xa9 1\r\nx\r\nSUB \xc3\xa9 2\r\nPING\r\n', profile="perms")
case("perm deny receive", [
    ("b", ALLU + "PING\r\n"),
    ("a", PUBU + "SUB foo.* 1\r\nPING\r\n"),
    ("b", "PUB foo.hidden 1\r\nx\r\nPUB foo.ok 1\r\ny\r\nPING\r\n"),
    ("a", "PING\r\n")], profile="perms")
case("perm deny receive queue", [
    ("b", ALLU + "PING\r\n"),
    ("a", PUBU + "SUB foo.* q 1\r\nPING\r\n"),
    ("b", "PUB foo.hidden 1\r\nx\r\nPUB foo.ok 1\r\ny\r\nPING\r\n"),
    ("a", "PING\r\n")], profile="perms")
simple("no auth user", 'CONNECT {"verbose":false}\r\nSUB x.a 1\r\nPUB x.a 1\r\nx\r\nPUB y 1\r\nx\r\nPING\r\n', profile="noauthuser")
simple("no auth user before connect", 'SUB x.a 1\r\nPING\r\n', profile="noauthuser")
simple("no auth user with creds", 'CONNECT {"verbose":false,"user":"a","pass":"pw"}\r\nSUB y 1\r\nPING\r\n', profile="noauthuser")
simple("no auth user wrong creds", 'CONNECT {"verbose":false,"user":"a","pass":"x"}\r\nPING\r\n', profile="noauthuser")
simple("no auth user token", 'CONNECT {"verbose":false,"auth_token":"x"}\r\nPING\r\n', profile="noauthuser")


# Split writes: the same pipelines, one small piece per read
def split(name, data, size=1, profile="plain"):
    data = data.encode("latin-1")
    steps = [("a", None)] + [("a", data[i:i + size]) for i in range(0, len(data), size)]
    CASES.append(("split%d %s" % (size, name), profile, steps))


split("pipeline", QUIET + "SUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n", 3)
split("verbose pipeline", VERB + "SUB foo q 1\r\nPUB foo r 2\r\nhi\r\nUNSUB 1\r\nPING\r\n", 5)
split("hpub", HDR + "SUB foo 1\r\nHPUB foo 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\nPING\r\n", 4)
split("crlf split after payload", QUIET + "SUB foo 1\r\nPUB foo 2\r\nhi\r", 200)
split("max payload line split", QUIET + "PUB foo 65\r\n", 2, profile="limits")

# CONNECT the way each client library writes it
for lib, body in [
        ("go", '{"verbose":false,"pedantic":false,"tls_required":false,"name":"","lang":"go","version":"1.28.0","protocol":1,"echo":true,"headers":true,"no_responders":true}'),
        ("py", '{"verbose": false, "pedantic": false, "lang": "python3", "version": "2.6.0", "protocol": 1, "headers": true, "no_responders": true}'),
        ("js", '{"protocol":1,"version":"2.12.0","lang":"nats.js","echo":true,"pedantic":false,"verbose":false,"headers":true,"no_responders":true}'),
        ("rs", '{"verbose":false,"pedantic":false,"user_jwt":null,"nkey":null,"signature":null,"name":null,"echo":true,"lang":"rust","version":"0.33.0","protocol":1,"tls_required":false,"user":null,"pass":null,"auth_token":null,"headers":true,"no_responders":true}'),
        ("java", '{"lang":"java","version":"2.17.0","protocol":1,"verbose":false,"pedantic":false,"tls_required":false,"echo":true,"headers":true,"no_responders":true}'),
        ("c", '{"verbose":false,"pedantic":false,"tls_required":false,"name":"","lang":"C","version":"3.7.0","protocol":1,"echo":true,"headers":true,"no_responders":true}')]:
    simple("client connect " + lib, "CONNECT " + body + "\r\nPING\r\n", "SUB _INBOX.x.* 1\r\nPUB svc _INBOX.x.1 0\r\n\r\nPING\r\n")
    for prof, creds in (("token", '"auth_token":"s3cret"'), ("user", '"user":"alice","pass":"pw"'),
                        ("bcrypt", '"user":"alice","pass":"pw"')):
        b = body.replace('"user":null,"pass":null,', '').replace('"auth_token":null,', '')
        simple("client connect %s creds" % lib, "CONNECT " + b[:-1] + "," + creds + "}\r\nPING\r\n", profile=prof)
    simple("client connect %s no creds" % lib, "CONNECT " + body + "\r\nPING\r\n", profile="token")
simple("token with null user", 'CONNECT {"verbose":false,"user":null,"pass":null,"auth_token":"s3cret"}\r\nPING\r\n', profile="token")
simple("user with null token", 'CONNECT {"verbose":false,"user":"alice","pass":"pw","auth_token":null}\r\nPING\r\n', profile="user")
simple("token empty user", 'CONNECT {"verbose":false,"user":"","pass":"","auth_token":"s3cret"}\r\nPING\r\n', profile="token")
simple("user and token both", 'CONNECT {"verbose":false,"user":"alice","pass":"pw","auth_token":"zz"}\r\nPING\r\n', profile="user")

# bcrypt: later commands wait for the check
BC = 'CONNECT {"verbose":false,"pedantic":false,"user":"alice","pass":"pw"}\r\n'
simple("bcrypt pipelined", BC + "SUB foo 1\r\nPUB foo 1\r\nx\r\nPING\r\n", profile="bcrypt")
simple("bcrypt verbose pipelined", BC.replace("false", "true", 1) + "SUB foo 1\r\nPUB foo 1\r\nx\r\nPING\r\n", profile="bcrypt")
simple("bcrypt wrong pipelined", BC.replace('"pw"', '"no"') + "SUB foo 1\r\nPING\r\n", profile="bcrypt")
simple("bcrypt perms pipelined", BC.replace("alice", "bob") + "SUB bar 1\r\nPUB bar 1\r\nx\r\nSUB ok.x 2\r\nPING\r\n", profile="bcrypt")

# queue permissions and more permission shapes
QU = 'CONNECT {"verbose":false,"pedantic":false,"user":"qu","pass":"pw"}\r\n'
for line in ["SUB foo 1", "SUB foo g1 1", "SUB foo g2 1", "SUB bar 1", "SUB bar g1 1", "SUB bar.x g1 1", "SUB baz g1 1",
             "SUB baz 1", "SUB baz g9 1", "SUB > 1", "SUB > g1 1"]:
    simple("queue perms " + line, QU + line + "\r\nPING\r\n", profile="qperms")
simple("pub deny only", 'CONNECT {"verbose":false,"user":"den","pass":"pw"}\r\nPUB a 1\r\nx\r\nPUB secret.x 1\r\nx\r\n'
       'SUB secret.> 1\r\nSUB a 2\r\nPING\r\n', profile="qperms")
simple("default permissions", 'CONNECT {"verbose":false,"user":"dflt","pass":"pw"}\r\nPUB a 1\r\nx\r\nPUB d.x 1\r\nx\r\n'
       'SUB a 1\r\nSUB d.x 2\r\nPING\r\n', profile="qperms")
simple("perm control bytes subject", PUBU + "PUB b\x01r 1\r\nx\r\nSUB b\x7fr 1\r\nSUB \xff 2\r\nPING\r\n", profile="perms")
simple("perm unicode subject", PUBU + "PUB \xe2\x80\x8b 1\r\nx\r\nPING\r\n", profile="perms")
simple("perm backslash subject", PUBU + "PUB a\\b 1\r\nx\r\nPING\r\n", profile="perms")

# misc
simple("unsub 10 digits", QUIET + "SUB foo 1\r\nUNSUB 1 1000000000\r\nPUB foo 1\r\nx\r\nPING\r\n")
simple("unsub 9 digits", QUIET + "SUB foo 1\r\nUNSUB 1 999999999\r\nPUB foo 1\r\nx\r\nPING\r\n")
simple("pub 10 digit size", QUIET + "PUB foo 1000000000\r\n")
simple("many pubs", QUIET + "SUB foo 1\r\n" + "PUB foo 1\r\nx\r\n" * 200 + "PING\r\n")
simple("two subs same conn group", QUIET + "SUB foo g 1\r\nSUB foo g 2\r\nPUB foo 1\r\nx\r\nPING\r\n")
simple("sub same subject two sids", QUIET + "SUB foo 1\r\nSUB foo 2\r\nUNSUB 1\r\nPUB foo 1\r\nx\r\nPING\r\n")
simple("pedantic default before connect", "PUB foo.* 1\r\nx\r\nPING\r\n")
simple("empty header block plain sub", QUIET + 'CONNECT {"headers":true}\r\nSUB foo 1\r\nHPUB foo 0 2\r\nhi\r\nPING\r\n')
simple("status header hpub", HDR + "SUB foo 1\r\nHPUB foo 16 16\r\nNATS/1.0 503\r\n\r\n\r\nPING\r\n")
case("hpub to plain sub with reply", [
    ("b", QUIET + "SUB foo 1\r\nPING\r\n"),
    ("a", HDR + "HPUB foo bar 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n"),
    ("b", "PING\r\n")])
case("request reply roundtrip", [
    ("b", QUIET + "SUB svc q 1\r\nPING\r\n"),
    ("a", HDR + "SUB _INBOX.r.* 5\r\nPUB svc _INBOX.r.1 3\r\nreq\r\nPING\r\n"),
    ("b", "PUB _INBOX.r.1 3\r\nrep\r\nPING\r\n"),
    ("a", "PING\r\n")])
case("slow close: client half-close", [
    ("a", QUIET + "SUB foo 1\r\nPUB foo 1\r\nx\r\nPING\r\n"),
    ("a", "close")])


# CONNECT JSON as libraries encode it: escapes, non-ASCII, numbers, nesting
for body in ['{"verbose":false,"name":"a\\u003cb\\u0026c\\u003e","lang":"go"}',
             '{"verbose":false,"name":"\\ud83d\\ude00 \xf0\x9f\x98\x80 \xc3\xa9"}',
             '{"verbose":false,"name":"q\\"b\\\\c\\/d\\b\\f\\n\\r\\t"}',
             '{"verbose":false,"name":"\\ud83d"}',
             '{"verbose":false,"x":1.5e300,"y":-0,"z":[true,false,null,{}],"w":{"a":{"b":[]}}}',
             '{"verbose":false,"protocol":1.0}', '{"verbose":false,"protocol":1e0}',
             '{"verbose":false,"name":"' + "n" * 2000 + '"}',
             '{"verbose":false,"x":' + "[" * 200 + "]" * 200 + '}',
             '{"verbose":false,"x":' + "[" * 2000 + "]" * 2000 + '}',
             '{"verbose":false,"name":"tab\there"}', '{"verbose":false,"name":"nul\x00"}',
             '{"verbose":false,"name":"bad\xff"}', '{"verbose" :false , "echo": true }',
             '{"verbose":false,}', '{"verbose":false}  ', '{"verbose":false,"verbose":true}',
             '{"VERBOSE":false}', '{"verbose":False}', '{"verbose":false,"headers":true,"no_responders":1}']:
    simple("json " + body[:50], "CONNECT " + body + "\r\nPING\r\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--docketd", default=os.path.join(os.path.dirname(__file__), "..", ".build", "debug", "docketd"))
    ap.add_argument("--nats-server", default="/usr/sbin/nats-server")
    ap.add_argument("-k", action="append", default=[], help="only cases whose name contains this")
    ap.add_argument("-v", action="store_true", help="print every case")
    ap.add_argument("--all", action="store_true", help="print both sides of equal cases too")
    args = ap.parse_args()

    selected = [c for c in CASES if not args.k or any(k in c[0] for k in args.k)]
    profiles = sorted({c[1] for c in selected})
    differ = 0
    for profile in profiles:
        servers = {}
        try:
            servers["nats"] = Proc("nats", args.nats_server, profile)
            servers["docketd"] = Proc("docketd", args.docketd, profile)
            for name, prof, steps in selected:
                if prof != profile:
                    continue
                got = {k: play(("127.0.0.1", s.port), steps) for k, s in servers.items()}
                same = got["nats"] == got["docketd"]
                if not same:
                    differ += 1
                if not same or args.v:
                    print("%s [%s] %s" % ("DIFF" if not same else "same", profile, name))
                    if not same or args.all:
                        for k in ("nats", "docketd"):
                            print("   %-8s %s" % (k, [(i, c, d) for i, c, d in got[k]]))
                sys.stdout.flush()
        finally:
            for s in servers.values():
                s.stop()
    print("cases: %d, differ: %d" % (len(selected), differ))


if __name__ == "__main__":
    main()
