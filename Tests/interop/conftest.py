"""Server fixtures for the nats-py interoperability suite.

The server under test is picked from the environment:

* ``DOCKETD=/path/to/docketd`` runs docketd on an ephemeral port with a
  temporary data directory (the normal mode, used by CI).
* ``NATS_SERVER=1`` runs the reference ``nats-server`` instead, to check the
  tests themselves against a known-good implementation.

With neither set, every test is skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import pytest

READY_TIMEOUT = 10.0  # seconds for the server to come up
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL

READY_MARKER = "Server is ready"
LISTEN_RE = re.compile(r"Listening for client connections on (?:127\.0\.0\.1|0\.0\.0\.0):(\d+)")

# Server options a test may ask for, as docketd flags and nats-server config
# keys. docketd flags take the same names with dashes.
SUPPORTED_OPTIONS = {"max_payload", "max_pending", "max_connections", "auth", "user", "pass", "auth_timeout", "config",
                     "tls", "tlscert", "tlskey", "tlscacert", "tlsverify"}
# TLS options: command-line flags of the same names on both servers (True: a bare flag).
TLS_FLAGS = {"tls", "tlscert", "tlskey", "tlscacert", "tlsverify"}
# Authentication options: docketd flags as named; nats-server takes them in an
# `authorization { … }` block (auth_timeout in seconds there, as a duration here).
AUTH_CONFIG_KEYS = {"auth": "token", "user": "user", "pass": "password"}


def server_mode() -> Optional[str]:
    if os.environ.get("DOCKETD"):
        return "docketd"
    if os.environ.get("NATS_SERVER") not in (None, "", "0"):
        return "nats-server"
    return None


def pytest_configure(config: pytest.Config) -> None:
    # Also declared in pytest.ini; repeated so the marker is known when the
    # suite is collected from another rootdir.
    config.addinivalue_line(
        "markers", "docketd_only(reason): skipped when NATS_SERVER=1"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    mode = server_mode()
    for item in items:
        if mode is None:
            item.add_marker(
                pytest.mark.skip(
                    reason="no server under test: set DOCKETD=/path/to/docketd "
                    "or NATS_SERVER=1 (reference nats-server)"
                )
            )
            continue
        marker = item.get_closest_marker("docketd_only")
        if marker is not None and mode != "docketd":
            why = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
            item.add_marker(pytest.mark.skip(reason=f"docketd only: {why}"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    # Keep each phase's report on the item so the server fixture can dump
    # the server log when the test body failed.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


class _LogReader(threading.Thread):
    """Drains a server's output so the pipe never fills, keeping every line."""

    def __init__(self, stream) -> None:
        super().__init__(daemon=True)
        self._stream = stream
        self._lock = threading.Lock()
        self._lines: List[str] = []
        self.changed = threading.Condition(self._lock)
        self.eof = False

    def run(self) -> None:
        for raw in iter(self._stream.readline, b""):
            with self.changed:
                self._lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                self.changed.notify_all()
        with self.changed:
            self.eof = True
            self.changed.notify_all()

    def lines(self) -> List[str]:
        with self._lock:
            return list(self._lines)

    def text(self) -> str:
        return "\n".join(self.lines())


class ServerProcess:
    """One running server process plus its captured log."""

    def __init__(self, argv: List[str], name: str) -> None:
        self.name = name
        self.argv = argv
        self.port: Optional[int] = None
        # stderr is where both servers log; stdout is merged into the same
        # pipe so nothing a crashing server prints is lost.
        # Credentials exported for clients would make docketd require them.
        env = {k: v for k, v in os.environ.items() if k not in ("DOCKET_USER", "DOCKET_PASS", "DOCKET_TOKEN")}
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.log = _LogReader(self.proc.stdout)
        self.log.start()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def describe(self) -> str:
        return f"{' '.join(self.argv)}\n--- {self.name} log ---\n{self.log.text()}"

    def wait_for_log_ready(self, timeout: float) -> None:
        """docketd: wait for the ready line; take the port from the listen line."""
        deadline = time.monotonic() + timeout
        with self.log.changed:
            while True:
                lines = self.log._lines
                if any(READY_MARKER in line for line in lines):
                    break
                if self.log.eof:
                    raise RuntimeError(f"{self.name} exited before it was ready")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError(
                        f"{self.name} not ready after {timeout:.0f}s (no '{READY_MARKER}')"
                    )
                self.log.changed.wait(remaining)
            for line in lines:
                match = LISTEN_RE.search(line)
                if match:
                    self.port = int(match.group(1))
        if self.port is None:
            raise RuntimeError(f"{self.name} is ready but logged no listen address")

    def wait_for_port(self, port: int, timeout: float) -> None:
        """nats-server: poll the known port until it accepts connections."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with status {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not accepting on port {port} after {timeout:.0f}s")
                time.sleep(0.02)
        self.port = port

    def stop(self) -> Optional[int]:
        """SIGTERM, SIGKILL after STOP_TIMEOUT, always reap. Returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.join(timeout=2)
        self.proc.stdout.close()
        return self.proc.returncode


def _free_port() -> int:
    # Racy by nature (another process could grab it before nats-server binds),
    # acceptable for a local reference run.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(tmp_dir: Path, options: dict) -> ServerProcess:
    unknown = set(options) - SUPPORTED_OPTIONS
    if unknown:
        raise ValueError(f"unsupported server options: {sorted(unknown)}")
    mode = server_mode()
    if mode == "docketd":
        binary = os.environ["DOCKETD"]
        if not os.access(binary, os.X_OK):
            pytest.fail(f"DOCKETD={binary} is not an executable file", pytrace=False)
        data_dir = tmp_dir / "data"
        data_dir.mkdir()
        argv = [binary, "--port", "0", "--data-dir", str(data_dir)]
        for key, value in options.items():
            if key in TLS_FLAGS:
                argv += ["--" + key] if value is True else ["--" + key, str(value)]
                continue
            if key == "config":
                # The text of a configuration file, in the format both servers read.
                conf = tmp_dir / "docketd.conf"
                conf.write_text(value)
                argv += ["-c", str(conf)]
                continue
            argv += ["--" + key.replace("_", "-"), str(value)]
        server = ServerProcess(argv, "docketd")
        _wait_or_fail(server, lambda: server.wait_for_log_ready(READY_TIMEOUT))
        return server

    binary = shutil.which("nats-server")
    if binary is None:
        pytest.fail("NATS_SERVER=1 but nats-server is not on PATH", pytrace=False)
    port = _free_port()
    argv = [binary, "-a", "127.0.0.1", "-p", str(port)]
    for key in TLS_FLAGS & set(options):
        argv += ["--" + key] if options[key] is True else ["--" + key, str(options[key])]
    options = {k: v for k, v in options.items() if k not in TLS_FLAGS}
    if options:
        conf = tmp_dir / "nats-server.conf"
        plain = {k: v for k, v in options.items() if k not in AUTH_CONFIG_KEYS and k not in ("auth_timeout", "config")}
        text = options.get("config", "") + "".join(f"{k}: {v}\n" for k, v in plain.items())
        auth = [f'{AUTH_CONFIG_KEYS[k]}: "{v}"' for k, v in options.items() if k in AUTH_CONFIG_KEYS]
        if "auth_timeout" in options:
            auth.append(f"timeout: {float(str(options['auth_timeout']).rstrip('ms')) / 1000}")
        if auth:
            text += "authorization {\n" + "\n".join(auth) + "\n}\n"
        conf.write_text(text)
        argv += ["-c", str(conf)]
    server = ServerProcess(argv, "nats-server")
    _wait_or_fail(server, lambda: server.wait_for_port(port, READY_TIMEOUT))
    return server


def _wait_or_fail(server: ServerProcess, wait: Callable[[], None]) -> None:
    """Run a readiness wait; on failure stop the server and fail with its log."""
    try:
        wait()
        return
    except RuntimeError as err:
        problem = str(err)
    server.stop()
    # Raised outside the except block so pytest does not print a chained
    # "during handling of the above exception" traceback.
    pytest.fail(f"{problem}\n{server.describe()}", pytrace=False)


@pytest.fixture
def start_server(start_process) -> Callable[..., str]:
    """Factory: ``start_server(max_payload=1024)`` starts a fresh server and
    returns its ``nats://127.0.0.1:PORT`` URL. Every server it started is
    stopped (and reaped) when the test ends."""
    return lambda **options: start_process(**options).url


@pytest.fixture
def start_process(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Callable[..., ServerProcess]]:
    """As ``start_server``, returning the server's process (its ``url``, its log)."""
    started: List[ServerProcess] = []

    def start(**options) -> ServerProcess:
        server = _start(tmp_path_factory.mktemp("server"), options)
        started.append(server)
        return server

    yield start

    problems = []
    for server in started:
        # A server that is gone before we stop it crashed during the test.
        died = server.proc.poll()
        status = server.stop()
        if died is not None:
            problems.append(f"{server.name} exited during the test with status {died}\n{server.describe()}")
        elif status not in (0, -signal.SIGTERM):
            # Not a failure in itself (a server may exit non-zero on SIGTERM),
            # but worth seeing.
            sys.stderr.write(f"note: {server.name} exited with status {status} after SIGTERM\n")
    call_report = getattr(request.node, "rep_call", None)
    if call_report is not None and call_report.failed:
        for server in started:
            sys.stderr.write(server.describe()[-20000:] + "\n")
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def nats_url(start_server) -> str:
    """URL of a fresh server with default settings."""
    return start_server()


def read_info_line(sock) -> bytes:
    """The server's INFO line."""
    return read_line(sock)


def read_line(sock) -> bytes:
    """The server's next line, whole however TCP splits it; read a byte at a time so that
    nothing after it is taken from the socket."""
    line = b""
    while not line.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        line += chunk
    return line


def connect_raw(port: int) -> socket.socket:
    """A plain socket to the server on 127.0.0.1:`port`, past INFO, CONNECT and a first PONG."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert read_line(sock).startswith(b"INFO ")
    sock.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
    assert read_line(sock) == b"PONG\r\n"
    return sock


def read_json_reply(sock) -> dict:
    """The document of the server's next `JSON <#bytes>` reply."""
    header = read_line(sock)
    assert header.startswith(b"JSON "), header
    size = int(header.split()[1])
    body = b""
    while len(body) < size + 2:
        body += sock.recv(size + 2 - len(body))
    return json.loads(body[:size])


def queue_counts(sock, queue: bytes) -> dict:
    """QUEUE `queue`'s jobs per state."""
    sock.sendall(b"QUEUE %s\r\n" % queue)
    return read_json_reply(sock)["jobs"]


def pipelined(sock, commands: bytes) -> None:
    """Sends `commands` and a PING, and reads what comes back up to the PONG."""
    sock.sendall(commands + b"PING\r\n")
    tail = b""
    while not tail.endswith(b"PONG\r\n"):
        tail = (tail + sock.recv(1 << 20))[-16:]


def counts_until_none(sock, queue: bytes, state: str) -> list:
    """Asks QUEUE `queue`, one request at a time, until no job is in `state`: every count seen."""
    seen = []
    while not seen or seen[-1] != 0:
        seen.append(queue_counts(sock, queue)[state])
    return seen
