"""Runs one script of job commands against two docketd, one keeping its jobs in LMDB and one in
PostgreSQL, and says where their replies differ (ids, times and lease numbers aside).

A script is a list of steps, each one of:
    ("a", "ENQ q 1\\r\\nx\\r\\n...")   send these bytes on connection `a` (opened on first use,
                                     CONNECTed), then PING, and keep every reply up to the PONG
    ("sleep", seconds)               let time pass on both servers
    ("close", "a")                   close connection `a`
    ("events", "a")                  the messages connection `a` received so far, kept as a step
    ("a", "...", "nowait")           send, and read the replies with connection `a`'s next step
Both servers run the same steps side by side (each step on both before the next), so time
passes alike on both.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
from docketd_process import start_docketd  # noqa: E402

REPLY_TIMEOUT = 20.0


class Client:
    """One connection: reads whole replies (lines and the payloads they announce)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=REPLY_TIMEOUT)
        self.buf = b""
        self.messages: list[str] = []
        self.unread = 0  # PINGs sent by `send` whose PONG is still to come
        info = self.line()
        assert info.startswith("INFO "), info
        self.sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n')

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.buf += chunk

    def line(self) -> str:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def body(self, size: int) -> bytes:
        while len(self.buf) < size + 2:
            self._fill()
        data, self.buf = self.buf[:size], self.buf[size + 2:]
        return data

    def reply(self) -> str:
        """The next reply that is not a message (messages go to `messages`)."""
        while True:
            line = self.line()
            words = line.split(" ")
            if words[0] in ("MSG", "HMSG"):
                size = int(words[-1])
                self.messages.append(line + "\n" + self.body(size).decode("utf-8", "replace"))
                continue
            if words[0] in ("JOB", "JSON", "OUTCOME", "HELP") and words[-1].isdigit() and len(words) > 1:
                if words[0] == "OUTCOME" and len(words) < 4:
                    return line
                return line + "\n" + self.body(int(words[-1])).decode("utf-8", "replace")
            return line

    def send(self, data: str) -> None:
        """Sends without reading the replies: the next `run` reads them first."""
        self.sock.sendall(data.encode() + b"PING\r\n")
        self.unread += 1

    def run(self, data: str) -> list[str]:
        self.sock.sendall(data.encode() + b"PING\r\n")
        replies = []
        while True:
            reply = self.reply()
            if reply == "PONG":
                if self.unread == 0:
                    return replies
                self.unread -= 1
                continue
            replies.append(reply)

    def close(self) -> None:
        self.sock.close()


class Side:
    """One docketd and its connections."""

    def __init__(self, docketd: str, flags: list[str], store_url: str | None, nodes: int = 1) -> None:
        self.dir = tempfile.mkdtemp(prefix="parity-")
        args = list(flags)
        if store_url:
            args += ["--store", store_url]
        self.proc, self.port, self.http = start_docketd(docketd, self.dir, *args)
        # More docketd on the same database (PostgreSQL only): a connection whose name starts
        # with "2" talks to the second.
        self.others = [start_docketd(docketd, self.dir, *args) for _ in range(nodes - 1)]
        self.clients: dict[str, Client] = {}

    def client(self, name: str) -> Client:
        if name not in self.clients:
            port = self.others[0][1] if self.others and name.startswith("2") else self.port
            self.clients[name] = Client(port)
        return self.clients[name]

    def stop(self) -> None:
        for c in self.clients.values():
            try:
                c.close()
            except OSError:
                pass
        for proc in [self.proc] + [other[0] for other in self.others]:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        subprocess.run(["rm", "-rf", self.dir])


class Postgres:
    """`create`: what follows `CREATE DATABASE <name>` for each new database (a collation, say)."""

    def __init__(self, url: str, create: str = "") -> None:
        self.url = url
        self.create = create
        self.psql = os.path.join(os.environ.get("DOCKET_PG_BIN", ""), "psql") if os.environ.get("DOCKET_PG_BIN") else "psql"

    def run(self, sql: str, database: str = "postgres") -> str:
        url = self.url.rsplit("/", 1)[0] + "/" + database
        done = subprocess.run([self.psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        return done.stdout

    def new_database(self) -> str:
        name = "parity_" + uuid.uuid4().hex[:12]
        self.run("CREATE DATABASE " + name + self.create)
        return name

    def url_for(self, database: str) -> str:
        return self.url.rsplit("/", 1)[0] + "/" + database


# Values that differ between runs however right both servers are: times, lease numbers.
TIME_KEYS = re.compile(r"(_at|_ms|_until|^at|^time|^since|^now)$")


def normalize_json(value, key: str = ""):
    if isinstance(value, dict):
        return {k: normalize_json(v, k) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [normalize_json(v, key) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and TIME_KEYS.search(key):
        return "<time>"
    if key == "next" and isinstance(value, str) and "." in value:
        return "<cursor>"  # opaque, and made of times
    if isinstance(value, str):
        value = re.sub(r"\b1\d{12}\b", "<time>", value)  # "expired: not started by <unix ms>"
    return value


def normalize(reply: str) -> str:
    head, _, rest = reply.partition("\n")
    head = re.sub(r"\b(lease|delivery)=\d+", r"\1=N", head)
    if head.startswith("JSON ") and rest:
        try:
            document = normalize_json(json.loads(rest))
        except ValueError:
            return reply
        return "JSON " + json.dumps(document, sort_keys=True)
    if head.startswith("MSG ") or head.startswith("HMSG "):
        words = head.split(" ")
        try:
            document = normalize_json(json.loads(rest))
            return " ".join(words[:2]) + " " + json.dumps(document, sort_keys=True)
        except ValueError:
            return " ".join(words[:2]) + " " + rest
    return head + ("\n" + rest if rest else "")


def run_side_by_side(docketd: str, postgres: Postgres, script, flags=(), pg_nodes: int = 1,
                     pg_clock_stopped: bool = False) -> tuple[list, list]:
    """The normalized transcripts of `script` on the embedded store and on PostgreSQL (with
    `pg_nodes` docketd sharing the database: see `Side.client`). `pg_clock_stopped`: the
    database's clock (`docket.now_ms()`) reads the same millisecond all through the script, so
    everything on PostgreSQL happens in one millisecond, which otherwise only some runs hit."""
    database = postgres.new_database()
    if pg_clock_stopped:
        postgres.run("ALTER DATABASE %s SET docket.test_now_ms = '%d'" % (database, int(time.time() * 1000)))
    lmdb = Side(docketd, list(flags), None)
    pg = Side(docketd, list(flags), postgres.url_for(database), pg_nodes)
    out = {"lmdb": [], "pg": []}
    failures: list[str] = []
    try:
        for step in script:
            kind = step[0]
            if kind == "sleep":
                time.sleep(step[1])
                continue
            results = {}

            def act(side: Side, name: str) -> None:
                if kind == "close":
                    side.clients.pop(step[1]).close()
                    results[name] = []
                elif kind == "events":
                    c = side.client(step[1])
                    c.run("")
                    results[name] = sorted(normalize(m) for m in c.messages) if len(step) > 2 and step[2] == "sorted" \
                        else [normalize(m) for m in c.messages]
                    c.messages.clear()
                elif len(step) > 2 and step[2] == "nowait":
                    side.client(kind).send(step[1])
                    results[name] = []
                else:
                    results[name] = [normalize(r) for r in side.client(kind).run(step[1])]

            def guarded(side: Side, name: str) -> None:
                try:
                    act(side, name)
                except (OSError, ConnectionError, ValueError) as error:
                    results[name] = ["<connection failed: %s>" % error]
                    failures.append("%s: step %r: %s" % (name, step, error))

            threads = [threading.Thread(target=guarded, args=(s, n)) for s, n in ((lmdb, "lmdb"), (pg, "pg"))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(REPLY_TIMEOUT * 2)
            for name in ("lmdb", "pg"):
                out[name].append((step, results.get(name, ["<no answer>"])))
    finally:
        lmdb.stop()
        pg.stop()
        try:
            postgres.run("DROP DATABASE IF EXISTS %s WITH (FORCE)" % database)
        except RuntimeError:
            pass
    # A connection that failed (a script's mistake, or a server that closed it) fails the run,
    # even when both sides failed alike.
    assert not failures, failures
    return out["lmdb"], out["pg"]


def renumbered(transcript):
    """Job ids replaced by their order of first appearance: for scripts where the stores may
    skip ids differently (PostgreSQL draws ids from a sequence, and a duplicate ENQ may use one)."""
    names: dict[str, str] = {}

    def name(match: re.Match) -> str:
        return match.group(1) + names.setdefault(match.group(2), "#%d" % (len(names) + 1))

    out = []
    for step, replies in transcript:
        fixed = []
        for reply in replies:
            head, sep, rest = reply.partition("\n")
            if head.startswith("+OK ") and all(w.isdigit() or w in ("duplicate", "replaced") for w in head[4:].split(" ")):
                head = "+OK " + " ".join(names.setdefault(w, "#%d" % (len(names) + 1)) if w.isdigit() else w
                                         for w in head[4:].split(" "))
            elif head.startswith("JOB "):
                words = head.split(" ")
                words[1] = names.setdefault(words[1], "#%d" % (len(names) + 1))
                head = " ".join(words)
            rest = re.sub(r'("id": )(\d+)', name, rest)
            fixed.append(head + sep + rest)
        out.append((step, fixed))
    return out


def differences(lmdb, pg) -> list[str]:
    lines = []
    for (step, a), (_, b) in zip(lmdb, pg):
        if a != b:
            lines.append("step %r\n  lmdb: %r\n  pg:   %r" % (step, a, b))
    return lines
