"""Authentication: credentials in CONNECT, where they come from, refusals.

The first half runs against a tiny fake server (a thread in this file) that
records the exact CONNECT bytes; the second half against a real docketd
started with ``--auth`` or ``--user``/``--pass``. Those live tests skip when
the binary's ``--help`` does not list ``--auth`` (a server that predates it).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import threading
import time
from typing import Callable, List, Optional

import pytest

import docketd_client as docket
from conftest import wait_until

PASSWORD = "s3cret-Pa55"
TOKEN = "t0ken-XYZ"
ENV_NAMES = ("DOCKET_USER", "DOCKET_PASS", "DOCKET_TOKEN")


@pytest.fixture(autouse=True)
def _no_credentials_in_env(monkeypatch):
    """Neither the client nor a docketd started here sees stray credentials
    from the environment (docketd reads the same variable names)."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


# --------------------------------------------------------------------------
# A fake server


class FakeServer:
    """Accepts connections on 127.0.0.1, sends INFO, records each CONNECT
    line, and answers PING with PONG, or refuses the connection like
    docketd (``-ERR 'Authorization Violation'`` and close) when
    ``accept(connect_json)`` is false. ``replies`` maps a line to the bytes
    sent back (for job verbs)."""

    def __init__(self, accept: Callable[[dict], bool] = lambda c: True, replies: Optional[dict] = None) -> None:
        self.accept = accept
        self.replies = replies or {}
        self.connects: List[bytes] = []
        self.attempts: List[float] = []  # when each connection arrived (monotonic)
        self.conns: List[socket.socket] = []
        self._lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"nats://127.0.0.1:{self.port}"
        self._closed = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self.attempts.append(time.monotonic())
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.sendall(b'INFO {"server_id":"FAKE","version":"2.9.0","proto":1,"headers":true,'
                         b'"max_payload":1048576,"auth_required":true}\r\n')
            buf = b""
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while b"\r\n" in buf:
                    line, buf = buf.split(b"\r\n", 1)
                    if line.startswith(b"CONNECT "):
                        with self._lock:
                            self.connects.append(line + b"\r\n")
                        if not self.accept(json.loads(line[8:])):
                            conn.sendall(b"-ERR 'Authorization Violation'\r\n")
                            conn.close()
                            return
                    elif line == b"PING":
                        conn.sendall(b"PONG\r\n")
                    elif line in self.replies:
                        conn.sendall(self.replies[line])
        except OSError:
            return

    def connect_json(self, i: int = -1) -> dict:
        line = self.connects[i]
        assert line.startswith(b"CONNECT ") and line.endswith(b"\r\n")
        return json.loads(line[8:-2])

    def drop_all(self) -> None:
        """Close every connection (like a server going away)."""
        with self._lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def close(self) -> None:
        self.listener.close()
        self.drop_all()


@pytest.fixture
def fake():
    servers: List[FakeServer] = []

    def make(**kwargs) -> FakeServer:
        s = FakeServer(**kwargs)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def _auth_keys(connect: dict) -> dict:
    return {k: v for k, v in connect.items() if k in ("user", "pass", "auth_token")}


# --------------------------------------------------------------------------
# CONNECT bytes


def test_connect_carries_a_token(fake):
    srv = fake()
    with docket.Client(srv.url, token=TOKEN, name="t"):
        pass
    line = srv.connects[0]
    expected = ('CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1,'
                f'"lang":"python","version":"{docket.__version__}","name":"t","auth_token":"{TOKEN}"}}\r\n')
    assert line == expected.encode()


def test_connect_carries_user_and_password(fake):
    srv = fake()
    with docket.connect(srv.url, user="alice", password=PASSWORD):
        pass
    line = srv.connects[0]
    assert line.endswith(f',"user":"alice","pass":"{PASSWORD}"}}\r\n'.encode())
    assert b"auth_token" not in line


def test_no_credentials_sends_none(fake):
    srv = fake()
    with docket.Client(srv.url):
        pass
    assert _auth_keys(srv.connect_json()) == {}


@pytest.mark.parametrize(
    "userinfo, expected",
    [
        (f"alice:{PASSWORD}@", {"user": "alice", "pass": PASSWORD}),
        (f"{TOKEN}@", {"auth_token": TOKEN}),
        ("al%40ce:p%3Aw%2Fd%40x@", {"user": "al@ce", "pass": "p:w/d@x"}),  # percent-encoded
    ],
)
@pytest.mark.parametrize("scheme", ["nats://", ""])
def test_credentials_from_the_url(fake, userinfo, expected, scheme):
    srv = fake()
    with docket.Client(f"{scheme}{userinfo}127.0.0.1:{srv.port}"):
        pass
    assert _auth_keys(srv.connect_json()) == expected


def test_credentials_from_the_environment(fake, monkeypatch):
    srv = fake()
    monkeypatch.setenv("DOCKET_USER", "envuser")
    monkeypatch.setenv("DOCKET_PASS", PASSWORD)
    with docket.Client(srv.url):
        pass
    assert _auth_keys(srv.connect_json()) == {"user": "envuser", "pass": PASSWORD}
    monkeypatch.delenv("DOCKET_USER")
    monkeypatch.setenv("DOCKET_TOKEN", TOKEN)
    with docket.Client(srv.url):
        pass
    assert _auth_keys(srv.connect_json()) == {"auth_token": TOKEN}


def test_precedence_arguments_then_url_then_environment(fake, monkeypatch):
    srv = fake()
    monkeypatch.setenv("DOCKET_TOKEN", "from-env")
    url = f"nats://urluser:urlpass@127.0.0.1:{srv.port}"
    with docket.Client(url, token="from-args"):
        pass
    assert _auth_keys(srv.connect_json()) == {"auth_token": "from-args"}  # URL and env ignored
    with docket.Client(url):
        pass
    assert _auth_keys(srv.connect_json()) == {"user": "urluser", "pass": "urlpass"}  # env ignored
    with docket.Client(srv.url):
        pass
    assert _auth_keys(srv.connect_json()) == {"auth_token": "from-env"}


def test_password_without_user_is_refused_before_connecting(fake):
    srv = fake()
    with pytest.raises(docket.BadArgument):
        docket.Client(srv.url, password=PASSWORD)
    assert srv.connects == []


# --------------------------------------------------------------------------
# Refusals, redaction, reconnects (fake server)


def test_refusal_is_an_authorization_error_without_secrets(fake, caplog):
    srv = fake(accept=lambda c: False)
    caplog.set_level(logging.DEBUG, logger="docket")
    url = f"nats://alice:{PASSWORD}@127.0.0.1:{srv.port}"
    started = time.monotonic()
    with pytest.raises(docket.AuthorizationError) as info:
        docket.Client(url, max_reconnect_attempts=None)
    assert time.monotonic() - started < 2.0
    err = info.value
    assert isinstance(err, docket.ConnectError) and err.text == "Authorization Violation"
    assert "alice" in str(err)
    for text in (str(err), repr(err), caplog.text):
        assert PASSWORD not in text
    assert len(srv.connects) == 1  # not retried


def test_reprs_and_url_hide_secrets(fake):
    srv = fake()
    with docket.Client(f"nats://alice:{PASSWORD}@127.0.0.1:{srv.port}") as c:
        assert c.url == f"nats://alice:***@127.0.0.1:{srv.port}"
        assert PASSWORD not in repr(c) and PASSWORD not in repr(c._credentials)
    with docket.Client(f"{TOKEN}@127.0.0.1:{srv.port}") as c:
        assert c.url == f"***@127.0.0.1:{srv.port}"
        assert TOKEN not in repr(c)
    with docket.Client(srv.url, token=TOKEN) as c:
        assert TOKEN not in repr(c) and TOKEN not in repr(c._credentials) and TOKEN not in c.url
    with pytest.raises(docket.BadArgument) as info:
        docket.Client(f"nats://alice:{PASSWORD}@127.0.0.1:notaport")
    assert PASSWORD not in str(info.value)


def test_no_credentials_refusal_says_what_to_give(fake):
    srv = fake(accept=lambda c: "auth_token" in c)
    with pytest.raises(docket.AuthorizationError, match="no credentials were given"):
        docket.Client(srv.url)


def test_reconnect_sends_credentials_and_backs_off_when_refused(fake, caplog):
    allow = threading.Event()
    allow.set()
    srv = fake(accept=lambda c: allow.is_set() and c.get("auth_token") == TOKEN)
    caplog.set_level(logging.DEBUG, logger="docket")
    errors: List[BaseException] = []
    c = docket.Client(srv.url, token=TOKEN, reconnect_wait=0.05, reconnect_max_wait=0.4,
                      error_callback=errors.append)
    try:
        allow.clear()  # the "restarted" server now refuses these credentials
        refused_from = time.monotonic()
        srv.drop_all()
        time.sleep(1.2)
        attempts = [t for t in srv.attempts if t >= refused_from]
        # backoff 0.05, 0.1, 0.2, 0.4, 0.4, ...: about 5 in 1.2 s, not hundreds
        assert 2 <= len(attempts) <= 8, attempts
        assert any(isinstance(e, docket.AuthorizationError) for e in errors)
        refusals = [r for r in caplog.records if "refused" in r.getMessage() and r.name == "docketd_client.client"]
        assert refusals and all(r.levelno == logging.ERROR for r in refusals)
        allow.set()
        assert wait_until(lambda: c.is_connected, 3)
        c.flush(timeout=2)
        assert all(_auth_keys(json.loads(line[8:-2])) == {"auth_token": TOKEN} for line in srv.connects)
        assert TOKEN not in caplog.text
    finally:
        c.close()


def test_worker_refused_logs_errors_and_backs_off(fake, caplog):
    srv = fake(accept=lambda c: False)
    caplog.set_level(logging.WARNING, logger="docket")
    worker = docket.Worker(srv.url, "q", lambda ctx: None, user="alice", password=PASSWORD,
                           reserve_timeout=0.2).start()
    try:
        time.sleep(1.0)
    finally:
        worker.stop(grace=1)
    # backoff 0.05, 0.1, 0.2, 0.4, ...: a handful of attempts in a second
    assert 2 <= len(srv.attempts) <= 8, srv.attempts
    refused = [r for r in caplog.records if "cannot connect" in r.getMessage()]
    assert refused and all(r.levelno == logging.ERROR for r in refused)
    assert all("Authorization Violation" in r.getMessage() for r in refused)
    assert PASSWORD not in caplog.text
    assert _auth_keys(srv.connect_json(0)) == {"user": "alice", "pass": PASSWORD}


def test_worker_credentials_need_a_url():
    with pytest.raises(TypeError):
        docket.Worker(lambda: None, "q", lambda ctx: None, token=TOKEN)  # type: ignore[arg-type,return-value]


# --------------------------------------------------------------------------
# Job error codes


def test_forbidden_job_error_keeps_the_connection(fake):
    srv = fake(replies={
        b"INSPECT 1": b"-ERR 'FORBIDDEN INSPECT is not allowed for this user'\r\n",
        b"INSPECT 2": b"-ERR 'SOMETHING_NEW a code from a later server'\r\n",
    })
    with docket.Client(srv.url, token=TOKEN) as c:
        with pytest.raises(docket.Forbidden) as info:
            c.inspect(1)
        assert info.value.code == "FORBIDDEN" and isinstance(info.value, docket.DocketError)
        assert info.value.message == "INSPECT is not allowed for this user"
        with pytest.raises(docket.DocketError) as info:
            c.inspect(2)
        assert type(info.value) is docket.DocketError and info.value.code == "SOMETHING_NEW"
        c.flush(timeout=2)
        assert c.is_connected and len(srv.attempts) == 1


# --------------------------------------------------------------------------
# A real docketd with authentication


def _docketd_has_auth() -> bool:
    binary = os.environ.get("DOCKETD")
    if not binary or not os.access(binary, os.X_OK):
        return True  # let start_docketd skip or fail as it does for every test
    try:
        out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return "--auth" in out.stdout + out.stderr


@pytest.fixture
def auth_docketd(start_docketd):
    if not _docketd_has_auth():
        pytest.skip("this docketd has no --auth (its --help does not list it)")
    return start_docketd


USER_FLAGS = ("--user", "alice", "--pass", PASSWORD)
TOKEN_FLAGS = ("--auth", TOKEN)


def test_live_token(auth_docketd):
    server = auth_docketd(flags=TOKEN_FLAGS)
    with docket.Client(server.url, token=TOKEN, request_timeout=5) as c:
        assert c.server_info.get("auth_required") is True
        jid = c.enqueue("auth-q", b"x").id
        assert c.inspect(jid)["state"] == "waiting"
    with docket.Client(f"nats://{TOKEN}@127.0.0.1:{server.port}", request_timeout=5) as c:
        c.flush(timeout=2)
    with pytest.raises(docket.AuthorizationError):
        docket.Client(server.url, token="not-" + TOKEN)


def test_live_user_and_password(auth_docketd):
    server = auth_docketd(flags=USER_FLAGS)
    with docket.Client(server.url, user="alice", password=PASSWORD, request_timeout=5) as c:
        assert c.enqueue("auth-q", b"x").id >= 1
        c.publish("a.b", b"hi")
        c.flush(timeout=2)


def test_live_credentials_from_url_and_environment(auth_docketd, monkeypatch):
    server = auth_docketd(flags=USER_FLAGS)
    for url in (f"nats://alice:{PASSWORD}@127.0.0.1:{server.port}", f"alice:{PASSWORD}@127.0.0.1:{server.port}"):
        with docket.Client(url, request_timeout=5) as c:
            c.flush(timeout=2)
            assert PASSWORD not in repr(c)
    monkeypatch.setenv("DOCKET_USER", "alice")  # only now: docketd reads these names too
    monkeypatch.setenv("DOCKET_PASS", PASSWORD)
    with docket.Client(server.url, request_timeout=5) as c:
        c.flush(timeout=2)


def test_live_wrong_password_fails_fast_without_leaking_it(auth_docketd, caplog):
    server = auth_docketd(flags=USER_FLAGS)
    caplog.set_level(logging.DEBUG, logger="docket")
    wrong = "wrong-" + PASSWORD
    started = time.monotonic()
    with pytest.raises(docket.AuthorizationError) as info:
        docket.Client(f"nats://alice:{wrong}@127.0.0.1:{server.port}")
    assert time.monotonic() - started < 2.0
    for text in (str(info.value), repr(info.value), caplog.text):
        assert wrong not in text and PASSWORD not in text
    assert "Authorization Violation" in str(info.value)


def test_live_no_credentials(auth_docketd):
    server = auth_docketd(flags=TOKEN_FLAGS)
    started = time.monotonic()
    with pytest.raises(docket.AuthorizationError, match="no credentials"):
        docket.Client(server.url)
    assert time.monotonic() - started < 2.0


def test_live_reconnect_after_restart_sends_credentials(auth_docketd):
    first = auth_docketd(flags=USER_FLAGS)
    events: List[str] = []
    c = docket.Client(first.url, user="alice", password=PASSWORD, request_timeout=5,
                      reconnected_callback=lambda: events.append("up"))
    try:
        sub = c.subscribe("news")
        jid = c.enqueue("auth-q", b"kept").id
        first.stop()
        assert wait_until(lambda: not c.is_connected, 5)
        auth_docketd(port=first.port, data_dir=first.data_dir, flags=USER_FLAGS)
        assert wait_until(lambda: c.is_connected and events == ["up"], 10)
        assert c.inspect(jid)["state"] == "waiting"
        c.publish("news", b"after the restart")
        assert sub.next_msg(timeout=3).data == b"after the restart"
    finally:
        c.close()


def test_live_worker_with_credentials(auth_docketd):
    server = auth_docketd(flags=TOKEN_FLAGS)
    with docket.Client(server.url, token=TOKEN, request_timeout=5) as c:
        jid = c.enqueue("auth-work", b"job").id
        worker = docket.Worker(server.url, "auth-work", lambda ctx: b"done", token=TOKEN,
                               reserve_timeout=0.2).start()
        try:
            assert wait_until(lambda: worker.acked == 1, 5)
        finally:
            assert worker.stop(grace=2)
        assert c.inspect(jid)["state"] == "completed"
