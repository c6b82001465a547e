"""Fixtures: a real docketd per test, on a free port with a temporary data dir.

The binary comes from ``DOCKETD=/path/to/docketd``; without it the tests that
need a server are skipped (the client-conformance cases still run). The
approach (read the log for ``Listening ... :<port>`` and ``Server is ready``,
SIGTERM then SIGKILL, always reap) follows ``Tests/interop/conftest.py``.
"""

from __future__ import annotations

import errno
import faulthandler
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
TEST_WATCHDOG = 90.0  # a hung test dumps its threads and ends the run
LISTEN_RE = re.compile(r"Listening for client connections on 127\.0\.0\.1:(\d+)")


class _Log(threading.Thread):
    """Drains the server's output so its pipe never fills."""

    def __init__(self, stream) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.cond = threading.Condition()
        self.lines: List[str] = []
        self.eof = False

    def run(self) -> None:
        for raw in iter(self.stream.readline, b""):
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()


def _server_env() -> dict:
    """The environment for docketd: ours without DOCKET_USER, DOCKET_PASS and
    DOCKET_TOKEN, which docketd reads too, so credentials exported for the
    clients do not make every test server require authentication (tests
    that want it pass --auth or --user/--pass)."""
    return {k: v for k, v in os.environ.items() if k not in ("DOCKET_USER", "DOCKET_PASS", "DOCKET_TOKEN")}


class Server:
    """One docketd process."""

    def __init__(self, binary: str, data_dir: Path, port: int, flags: Sequence[str]) -> None:
        self.data_dir = data_dir
        self.argv = [binary, "--port", str(port), "--data-dir", str(data_dir), *flags]
        # The binary may be being rebuilt right now (ETXTBSY): retry briefly.
        deadline = time.monotonic() + 10.0
        while True:
            try:
                self.proc = subprocess.Popen(
                    self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    env=_server_env(),
                )
                break
            except OSError as exc:
                if exc.errno != errno.ETXTBSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.log = _Log(self.proc.stdout)
        self.log.start()
        self.port: Optional[int] = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        with self.log.cond:
            while not any("Server is ready" in line for line in self.log.lines):
                if self.log.eof:
                    raise RuntimeError("docketd exited before it was ready")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError("docketd not ready in time")
                self.log.cond.wait(remaining)
            for line in self.log.lines:
                match = LISTEN_RE.search(line)
                if match:
                    self.port = int(match.group(1))
        if self.port is None:
            raise RuntimeError("docketd logged no listen address")

    def stop(self) -> Optional[int]:
        """SIGTERM, SIGKILL after STOP_TIMEOUT; always reaped."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.join(2)
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL (a crash)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def text(self) -> str:
        with self.log.cond:
            return "\n".join(self.log.lines)


@pytest.fixture(autouse=True)
def _watchdog() -> Iterator[None]:
    faulthandler.dump_traceback_later(TEST_WATCHDOG, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


#: With DOCKET_TEST_STORE=postgres (under scripts/with-postgres.sh, which sets
#: DOCKET_TEST_POSTGRES), every server keeps its jobs in a new database of that cluster: the
#: same suite then runs against the PostgreSQL job store. A server restarted on the same data
#: directory gets the same database back.
STORE = os.environ.get("DOCKET_TEST_STORE", "lmdb")
_databases: dict = {}


def _store_flags(data_dir: Path, flags: Sequence[str]) -> List[str]:
    if STORE != "postgres" or any(f == "--store" or f.startswith("--store=") for f in flags):
        return []
    url = os.environ.get("DOCKET_TEST_POSTGRES")
    if not url:
        pytest.fail("DOCKET_TEST_STORE=postgres needs DOCKET_TEST_POSTGRES (run under scripts/with-postgres.sh)", pytrace=False)
    key = str(data_dir)
    if key not in _databases:
        name = f"pyclient_{os.getpid()}_{len(_databases)}"
        psql = os.path.join(os.environ.get("DOCKET_PG_BIN", ""), "psql") if os.environ.get("DOCKET_PG_BIN") else "psql"
        subprocess.run([psql, "-X", "-q", url, "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
        _databases[key] = url.rsplit("/", 1)[0] + "/" + name
    return ["--store", _databases[key]]


lmdb_only = pytest.mark.skipif(STORE == "postgres", reason="a property of the embedded LMDB store (PROTOCOL.md, Jobs in PostgreSQL)")


@pytest.fixture
def start_docketd(request, tmp_path_factory) -> Iterator[Callable[..., Server]]:
    """Factory: ``start_docketd(port=0, data_dir=None, flags=())`` starts a
    docketd and returns its :class:`Server`; every server is stopped at the
    end of the test (its log is printed if the test failed)."""
    binary = os.environ.get("DOCKETD")
    if not binary:
        pytest.skip("set DOCKETD=/path/to/docketd to run the tests that need a server")
    if not os.access(binary, os.X_OK):
        pytest.fail(f"DOCKETD={binary} is not executable", pytrace=False)
    started: List[Server] = []

    def start(port: int = 0, data_dir: Optional[Path] = None, flags: Sequence[str] = ()) -> Server:
        if data_dir is None:
            data_dir = tmp_path_factory.mktemp("docket") / "data"
        flags = [*_store_flags(data_dir, flags), *flags]
        # A port just released can take a moment to bind again: retry briefly.
        deadline = time.monotonic() + 5.0
        while True:
            server = Server(binary, data_dir, port, flags)
            started.append(server)
            try:
                server.wait_ready()
                return server
            except RuntimeError as exc:
                server.stop()
                if port == 0 or time.monotonic() > deadline:
                    pytest.fail(f"{exc}\n{' '.join(server.argv)}\n{server.text()}", pytrace=False)
                time.sleep(0.1)

    yield start
    for server in started:
        server.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for server in started:
            sys.stderr.write(f"--- {' '.join(server.argv)}\n{server.text()[-10000:]}\n")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def server(start_docketd) -> Server:
    """A fresh docketd with default settings."""
    return start_docketd()


@pytest.fixture
def url(server: Server) -> str:
    return server.url


@pytest.fixture
def client(url: str) -> Iterator["object"]:
    import docketd_client as docket

    c = docket.Client(url, request_timeout=5.0)
    yield c
    c.close()


@pytest.fixture
def make_client(url: str) -> Iterator[Callable[..., "object"]]:
    """Factory for more clients on the test's server; all closed at the end."""
    import docketd_client as docket

    made: List[docket.Client] = []

    def make(**options) -> docket.Client:
        options.setdefault("request_timeout", 5.0)
        c = docket.Client(url, **options)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def wait_until(predicate, timeout=10.0, interval=0.02):
    """Polls ``predicate`` until it holds or ``timeout`` passes; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# --------------------------------------------------------------------------
# TLS: a throwaway CA, a server certificate for 127.0.0.1/localhost and a
# client certificate, made with the openssl command line


class Certs:
    """Paths of ``ca.pem``, ``server.pem``/``server.key``,
    ``client.pem``/``client.key`` and of a second CA (``other_ca.pem``) that
    signed nothing here."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        for name in ("ca", "other_ca", "server", "client"):
            setattr(self, name, str(directory / f"{name}.pem"))
        self.server_key = str(directory / "server.key")
        self.client_key = str(directory / "client.key")


def make_certs(directory: Path) -> Certs:
    """Runs openssl to make the files of :class:`Certs` in ``directory``."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    leaf_ext = "basicConstraints=CA:FALSE\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=20)

    for ca in ("ca", "other_ca"):
        run("req", "-x509", *ec, "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2",
            "-subj", f"/CN=docketd-client test {ca}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    extensions = {
        "server": "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n" + leaf_ext,
        "client": "extendedKeyUsage=clientAuth\n" + leaf_ext,
    }
    for who, ext in extensions.items():
        (directory / f"{who}.ext").write_text(ext)
        run("req", *ec, "-keyout", f"{who}.key", "-out", f"{who}.csr", "-subj", f"/CN=docketd-client test {who}")
        run("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{who}.pem", "-days", "2", "-extfile", f"{who}.ext")
    return Certs(directory)


@pytest.fixture(scope="session")
def certs(tmp_path_factory) -> Certs:
    """TLS files for the session (skips when there is no openssl)."""
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make test certificates")
    return make_certs(tmp_path_factory.mktemp("tls"))


NATS_SERVER = os.environ.get("NATS_SERVER", "/usr/sbin/nats-server")


@pytest.fixture
def start_nats_server() -> Iterator[Callable[..., Server]]:
    """Factory: ``start_nats_server(flags)`` runs nats-server on a free port
    of 127.0.0.1 (skips when there is none at ``NATS_SERVER``)."""
    if not os.access(NATS_SERVER, os.X_OK):
        pytest.skip(f"no nats-server at {NATS_SERVER} (set NATS_SERVER)")
    started: List[Server] = []

    def start(flags: Sequence[str] = ()) -> Server:
        server = Server.__new__(Server)
        server.data_dir = None
        server.argv = [NATS_SERVER, "-a", "127.0.0.1", "-p", "-1", *flags]
        server.proc = subprocess.Popen(server.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT)
        server.log = _Log(server.proc.stdout)
        server.log.start()
        server.port = None
        started.append(server)
        deadline = time.monotonic() + READY_TIMEOUT
        with server.log.cond:
            while server.port is None:
                for line in server.log.lines:
                    match = LISTEN_RE.search(line)
                    if match:
                        server.port = int(match.group(1))
                if server.port is None:
                    if server.log.eof or time.monotonic() > deadline:
                        pytest.fail(f"nats-server did not start: {server.text()}", pytrace=False)
                    server.log.cond.wait(0.1)
        return server

    yield start
    for server in started:
        server.stop()
