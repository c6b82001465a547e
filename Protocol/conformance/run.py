#!/usr/bin/env python3
"""Run docketd conformance transcripts (*.t files).

The transcript format is described in README.md next to this file.

    python3 run.py --docketd PATH [FILES or DIRS ...]
    python3 run.py --connect 127.0.0.1:4222 [FILES or DIRS ...]

With --docketd a fresh server is started for every transcript; with
--connect every transcript that is neither `! docket-only` nor carries
`! flags:` is run against an already running server.

Only the Python standard library is used.
"""

import argparse
import collections
import itertools
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

EXPECT_TIMEOUT = 5.0  # seconds an expectation may wait for its bytes
READY_TIMEOUT = 10.0  # seconds the server may take to say "Server is ready"
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
LOG_TAIL = 20  # server log lines shown on failure


# ---------------------------------------------------------------------------
# Transcript parsing
# ---------------------------------------------------------------------------


class TranscriptError(Exception):
    """A transcript file is malformed."""

    def __init__(self, lineno, message):
        super().__init__("line %d: %s" % (lineno, message))
        self.lineno = lineno
        self.message = message


_SIMPLE_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\"}
_HEX = "0123456789abcdefABCDEF"


def decode_escapes(text):
    """Decode `\\r`, `\\n`, `\\t`, `\\\\` and `\\xHH` in text; return bytes.

    Characters other than escapes are encoded as UTF-8. Any other escape,
    or a lone trailing backslash, raises ValueError.
    """
    out = bytearray()
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch != "\\":
            out += ch.encode("utf-8")
            i += 1
            continue
        if i + 1 >= n:
            raise ValueError("lone backslash at end of text")
        esc = text[i + 1]
        if esc in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[esc]
            i += 2
        elif esc == "x":
            digits = text[i + 2:i + 4]
            if len(digits) != 2 or any(d not in _HEX for d in digits):
                raise ValueError("\\x needs two hex digits")
            out.append(int(digits, 16))
            i += 4
        else:
            raise ValueError("unknown escape \\%s" % esc)
    return bytes(out)


class Step:
    """One connection directive of a transcript."""

    # kinds: send, send_raw, expect, match, body, eof, close
    def __init__(self, lineno, conn, kind, data=None, regex=None, source=""):
        self.lineno = lineno
        self.conn = conn
        self.kind = kind
        self.data = data  # bytes for send / send_raw / expect
        self.regex = regex  # compiled pattern for match
        self.source = source  # the directive as written, for messages

    def __repr__(self):
        return "Step(%d, %r, %r, %r)" % (self.lineno, self.conn, self.kind,
                                         self.data if self.regex is None
                                         else self.regex.pattern)


class Transcript:
    def __init__(self, path=None):
        self.path = path
        self.flags = []  # extra server flags
        self.config = []  # lines of a configuration file given with -c
        self.docket_only = False
        # The job store the file needs (`! store: lmdb`), or None for any.
        self.store = None
        self.steps = []


# `<c>` then the operator, then either nothing or one space and the text.
_STEP_RE = re.compile(r"^([a-z])(>>|>|<|~|!)(?: (.*))?$", re.DOTALL)


def parse_transcript(text, path=None):
    """Parse transcript text into a Transcript; raise TranscriptError."""
    t = Transcript(path)
    seen_step = False
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if line == "" or line.startswith("#"):
            continue
        if line.startswith("!"):
            # File-level directives: `! flags: ...` and `! docket-only`.
            body = line[1:].strip()
            if seen_step:
                raise TranscriptError(
                    lineno, "file directive %r after a connection step" % line)
            if body.startswith("flags:"):
                if t.flags:
                    raise TranscriptError(lineno, "duplicate '! flags:'")
                try:
                    t.flags = shlex.split(body[len("flags:"):])
                except ValueError as exc:
                    raise TranscriptError(lineno, "bad flags: %s" % exc)
                if not t.flags:
                    raise TranscriptError(lineno, "'! flags:' without flags")
            elif body.startswith("config:"):
                text = line[1:].lstrip()[len("config:"):]
                t.config.append(text[1:] if text.startswith(" ") else text)
            elif body == "docket-only":
                t.docket_only = True
            elif body.startswith("store:"):
                store = body[len("store:"):].strip()
                if store not in ("lmdb", "postgres") or t.store is not None:
                    raise TranscriptError(lineno, "'! store:' takes lmdb or postgres, once")
                t.store = store
            else:
                raise TranscriptError(lineno, "unknown file directive %r" % line)
            continue
        m = _STEP_RE.match(line)
        if not m:
            raise TranscriptError(lineno, "cannot parse %r" % line)
        conn, op, arg = m.group(1), m.group(2), m.group(3)
        if arg is None:
            arg = ""
        seen_step = True
        try:
            if op == ">":
                step = Step(lineno, conn, "send", decode_escapes(arg) + b"\r\n")
            elif op == ">>":
                data = decode_escapes(arg)
                if not data:
                    raise TranscriptError(lineno, "'>>' with nothing to send")
                step = Step(lineno, conn, "send_raw", data)
            elif op == "<":
                step = Step(lineno, conn, "expect", decode_escapes(arg))
            elif op == "~":
                try:
                    rx = re.compile(arg)
                except re.error as exc:
                    raise TranscriptError(lineno, "bad regex: %s" % exc)
                step = Step(lineno, conn, "match", regex=rx)
            else:  # "!"
                if arg not in ("body", "eof", "close"):
                    raise TranscriptError(
                        lineno, "unknown action %r (body, eof, close)" % arg)
                step = Step(lineno, conn, arg)
        except ValueError as exc:
            raise TranscriptError(lineno, str(exc))
        step.source = line
        t.steps.append(step)
    if not t.steps:
        raise TranscriptError(0, "transcript has no steps")
    return t


def load_transcript(path):
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TranscriptError(0, "not UTF-8: %s" % exc)
    return parse_transcript(text, path)


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------


class StepFailure(Exception):
    def __init__(self, lineno, message):
        super().__init__(message)
        self.lineno = lineno
        self.message = message


def show(data):
    """Printable form of received or expected bytes."""
    if isinstance(data, bytes):
        text = repr(data)[2:-1]
    else:
        text = repr(data)[1:-1]
    if len(text) > 300:
        text = text[:300] + "..."
    return '"%s"' % text


class Connection:
    def __init__(self, name, address, trace=None):
        self.name = name
        self.trace = trace
        self.sock = socket.create_connection(address, timeout=EXPECT_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False  # server closed (or reset) the connection
        self.reset = False
        self.last_line = None
        self.closed = False

    def send(self, data):
        if self.trace:
            self.trace("%s> %s" % (self.name, show(data)))
        self.sock.sendall(data)

    def _fill(self, deadline):
        """Read more bytes into buf; return False on timeout."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            self.eof = True
            self.reset = True
            return True
        if not chunk:
            self.eof = True
        else:
            if self.trace:
                self.trace("%s< %s" % (self.name, show(chunk)))
            self.buf += chunk
        return True

    def read_line(self, deadline):
        """Return (line, ok, why); line excludes the CRLF."""
        while True:
            idx = self.buf.find(b"\n")
            if idx >= 0:
                raw = bytes(self.buf[:idx + 1])
                del self.buf[:idx + 1]
                if not raw.endswith(b"\r\n"):
                    return raw, False, "line ends with a bare LF"
                return raw[:-2], True, ""
            if self.eof:
                return bytes(self.buf), False, "connection closed"
            if not self._fill(deadline):
                return bytes(self.buf), False, "timed out"

    def read_exact(self, n, deadline):
        while len(self.buf) < n:
            if self.eof:
                return bytes(self.buf), False, "connection closed"
            if not self._fill(deadline):
                return bytes(self.buf), False, "timed out"
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data, True, ""

    def wait_eof(self, deadline):
        while True:
            if self.buf:
                return False, "got more bytes: %s" % show(bytes(self.buf))
            if self.eof:
                return True, ""
            if not self._fill(deadline):
                return False, "timed out waiting for the server to close"

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass


def run_steps(transcript, address, trace=None):
    """Run the steps of a transcript against address; raise StepFailure."""
    conns = {}
    try:
        for step in transcript.steps:
            conn = conns.get(step.conn)
            if conn is None:
                try:
                    conn = Connection(step.conn, address, trace)
                except OSError as exc:
                    raise StepFailure(step.lineno, "cannot connect %s: %s"
                                      % (step.conn, exc))
                conns[step.conn] = conn
            if conn.closed:
                raise StepFailure(step.lineno, "connection %s was closed by "
                                  "the transcript" % step.conn)
            _run_step(step, conn)
    finally:
        for conn in conns.values():
            conn.close()


def _run_step(step, conn):
    deadline = time.monotonic() + EXPECT_TIMEOUT
    kind = step.kind
    if kind in ("send", "send_raw"):
        try:
            conn.send(step.data)
        except OSError as exc:
            raise StepFailure(step.lineno, "send %s failed: %s"
                              % (show(step.data), exc))
    elif kind == "expect":
        line, ok, why = conn.read_line(deadline)
        if not ok:
            raise StepFailure(step.lineno, "expected %s, got %s (%s)"
                              % (show(step.data), show(line), why))
        conn.last_line = line
        if line != step.data:
            raise StepFailure(step.lineno, "expected %s, got %s"
                              % (show(step.data), show(line)))
    elif kind == "match":
        line, ok, why = conn.read_line(deadline)
        if not ok:
            raise StepFailure(step.lineno, "expected a line matching /%s/, "
                              "got %s (%s)" % (step.regex.pattern, show(line),
                                               why))
        conn.last_line = line
        text = line.decode("utf-8", "surrogateescape")
        if not step.regex.fullmatch(text):
            raise StepFailure(step.lineno, "expected a line matching /%s/, "
                              "got %s" % (step.regex.pattern, show(line)))
    elif kind == "body":
        last = conn.last_line
        m = re.search(rb"(?:^|[ \t])(\d+)$", last or b"")
        if not m:
            raise StepFailure(step.lineno, "previous line %s does not end "
                              "with a byte count" % show(last))
        n = int(m.group(1))
        data, ok, why = conn.read_exact(n + 2, deadline)
        if not ok:
            raise StepFailure(step.lineno, "expected %d bytes of body plus "
                              "CRLF, got %s (%s)" % (n, show(data), why))
        if not data.endswith(b"\r\n"):
            raise StepFailure(step.lineno, "body of %d bytes not followed by "
                              "CRLF: %s" % (n, show(data)))
    elif kind == "eof":
        ok, why = conn.wait_eof(deadline)
        if not ok:
            raise StepFailure(step.lineno, "expected the server to close the "
                              "connection, %s" % why)
    elif kind == "close":
        conn.close()
    else:  # pragma: no cover - parse_transcript only makes the kinds above
        raise StepFailure(step.lineno, "internal: unknown step %r" % kind)


class Server:
    """A docketd process started for one transcript."""

    def __init__(self, binary, flags, config=(), postgres=None):
        self.binary = binary
        self.flags = list(flags)
        self.data_dir = tempfile.mkdtemp(prefix="docketd-conf-")
        # With --postgres: a fresh database per transcript, dropped at stop.
        self.postgres = postgres
        self.database = None
        if postgres:
            self.database = "docket_conf_%d_%d" % (os.getpid(), next(_DATABASE_NUMBERS))
            postgres.run("CREATE DATABASE %s" % self.database)
            self.flags += ["--store", postgres.url_for(self.database)]
        if config:
            # Beside the data, not in it, and removed with it.
            path = self.data_dir + ".conf"
            with open(path, "w", encoding="utf-8") as handle:
                handle.write("\n".join(config) + "\n")
            self.flags += ["-c", path]
            self.config_path = path
        else:
            self.config_path = None
        self.log = collections.deque(maxlen=200)
        self.log_lock = threading.Lock()
        self.ready = threading.Event()
        self.port = None
        self.proc = None
        self.threads = []

    def _drain(self, stream, watch):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self.log_lock:
                self.log.append(line)
            if not watch or self.ready.is_set():
                continue
            m = re.search(r"Listening for client connections on "
                          r"(\S+):(\d+)", line)
            if m:
                self.port = int(m.group(2))
            if "Server is ready" in line:
                self.ready.set()
        stream.close()

    def start(self):
        argv = [self.binary, "--port", "0", "--data-dir", self.data_dir]
        argv += self.flags
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE)
        except OSError as exc:
            raise RuntimeError("cannot start %s: %s" % (self.binary, exc))
        for stream, watch in ((self.proc.stderr, True),
                              (self.proc.stdout, False)):
            th = threading.Thread(target=self._drain, args=(stream, watch),
                                  daemon=True)
            th.start()
            self.threads.append(th)
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.ready.wait(0.05):
            if self.proc.poll() is not None:
                time.sleep(0.1)  # let the drain threads catch the last words
                raise RuntimeError("server exited with status %s before "
                                   "it was ready" % self.proc.returncode)
            if time.monotonic() > deadline:
                raise RuntimeError("server not ready after %.0f s"
                                   % READY_TIMEOUT)
        if self.port is None:
            raise RuntimeError("server ready but no 'Listening for client "
                               "connections on ...:<port>' line seen")
        return ("127.0.0.1", self.port)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with self.log_lock:
                    self.log.append("[run.py] no exit %.0f s after SIGTERM, "
                                    "sending SIGKILL" % STOP_TIMEOUT)
                self.proc.kill()
                self.proc.wait()
            except ProcessLookupError:
                pass
        for th in self.threads:
            th.join(1.0)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        if self.database:
            try:
                self.postgres.run("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.database)
            except RuntimeError:
                pass
        if self.config_path:
            try:
                os.unlink(self.config_path)
            except OSError:
                pass

    def tail(self, n=LOG_TAIL):
        with self.log_lock:
            return list(self.log)[-n:]


_DATABASE_NUMBERS = itertools.count(1)


class Postgres:
    """A PostgreSQL server the transcripts' docketd keep their jobs in (--postgres URL): each
    transcript gets a database of its own, made and dropped with psql."""

    def __init__(self, url):
        self.url = url
        bin_dir = os.environ.get("DOCKET_PG_BIN", "")
        candidate = os.path.join(bin_dir, "psql") if bin_dir else ""
        self.psql = candidate if candidate and os.access(candidate, os.X_OK) else shutil.which("psql")
        if not self.psql:
            raise RuntimeError("--postgres needs psql (PATH or $DOCKET_PG_BIN)")

    def url_for(self, database):
        base, _, _ = self.url.rpartition("/")
        return "%s/%s" % (base, database)

    def run(self, sql):
        done = subprocess.run([self.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.url, "-c", sql],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError("psql: %s" % done.stderr.strip())


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def collect(paths):
    if not paths:
        paths = [HERE]
    files = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs.sort()
                for name in sorted(names):
                    if name.endswith(".t"):
                        files.append(os.path.join(root, name))
        elif os.path.isfile(p):
            files.append(p)
        else:
            raise SystemExit("run.py: no such file or directory: %s" % p)
    return files


def display_name(path):
    full = os.path.abspath(path)
    if full.startswith(HERE + os.sep):
        return os.path.relpath(full, HERE)
    return path


def parse_hostport(text):
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % text)
    return (host.strip("[]"), int(port))


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Run docketd conformance transcripts.")
    target = ap.add_mutually_exclusive_group(required=True)
    target.add_argument("--docketd", metavar="PATH",
                        help="docketd binary; a fresh server per transcript")
    target.add_argument("--connect", metavar="HOST:PORT", type=parse_hostport,
                        help="run the portable transcripts against a running "
                             "server (docket-only and flagged files skipped)")
    ap.add_argument("--postgres", action="store_true",
                    help="keep jobs in PostgreSQL: each transcript's docketd gets --store with a fresh "
                         "database on the server $DOCKET_TEST_POSTGRES names (scripts/with-postgres.sh "
                         "sets it) or --postgres-url; files marked '! store: lmdb' are skipped")
    ap.add_argument("--postgres-url", metavar="URL", help="the PostgreSQL server for --postgres")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="trace every byte sent and received")
    ap.add_argument("paths", nargs="*", metavar="FILES or DIRS",
                    help="transcripts or folders (default: all under %s)"
                         % HERE)
    args = ap.parse_args(argv)
    postgres = None
    if args.postgres or args.postgres_url:
        url = args.postgres_url or os.environ.get("DOCKET_TEST_POSTGRES")
        if not url or not args.docketd:
            ap.error("--postgres needs --docketd and a server URL ($DOCKET_TEST_POSTGRES or --postgres-url)")
        postgres = Postgres(url)
    store = "postgres" if postgres else "lmdb"

    passed = failed = skipped = 0
    for path in collect(args.paths):
        name = display_name(path)
        try:
            transcript = load_transcript(path)
        except (TranscriptError, OSError) as exc:
            print("FAIL %s: %s" % (name, exc))
            failed += 1
            continue
        if transcript.store is not None and transcript.store != store and args.docketd:
            print("SKIP %s (%s store only)" % (name, transcript.store))
            skipped += 1
            continue
        if args.connect:
            if transcript.docket_only:
                print("SKIP %s (docket-only)" % name)
                skipped += 1
                continue
            if transcript.flags or transcript.config:
                print("SKIP %s (needs server flags)" % name)
                skipped += 1
                continue
        trace = None
        if args.verbose:
            def trace(msg, _name=name):
                print("  [%s] %s" % (_name, msg))
        server = None
        try:
            if args.connect:
                address = args.connect
            else:
                server = Server(args.docketd, transcript.flags, transcript.config, postgres)
                address = server.start()
            run_steps(transcript, address, trace)
        except StepFailure as exc:
            print("FAIL %s: line %d: %s" % (name, exc.lineno, exc.message))
            failed += 1
        except RuntimeError as exc:
            print("FAIL %s: line 0: %s" % (name, exc))
            failed += 1
        else:
            print("PASS %s" % name)
            passed += 1
            server = _stop(server)
            continue
        server = _stop(server, show_log=True)
    summary = "conformance: %d passed, %d failed" % (passed, failed)
    if skipped:
        summary += ", %d skipped" % skipped
    print(summary)
    sys.stdout.flush()
    return 0 if failed == 0 else 1


def _stop(server, show_log=False):
    if server is None:
        return None
    server.stop()
    if show_log:
        lines = server.tail()
        if lines:
            print("  server log (last %d lines):" % len(lines))
            for line in lines:
                print("    " + line)
    return None


if __name__ == "__main__":
    sys.exit(main())
