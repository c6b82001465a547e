"""Floods of connections that never log in, on every port docketd listens on: the client port
(no CONNECT), the client port with TLS (a ClientHello begun and never finished, after INFO or
before it with --tls-handshake-first), the WebSocket
port (an upgrade request begun and never finished), the route port (no INFO) and the monitoring
port (a request begun and never finished).

Each such connection holds a descriptor until its deadline. Unbounded, a flood took every
descriptor of the process, and then no port could accept anyone: a peer flooding the route
port locked every client out. With the open file limit lowered (ulimit -n 256) and deadlines
long enough that none passes during the test, a flood of 600 on one port must leave a client
that logged in before it served, let new clients log in on the client port, and never run the
process out of descriptors: once fewer than --descriptor-reserve descriptors are free (at most
an eighth of the open file limit), each connection accepted closes the one that has waited
longest on the port with the most connections waiting to log in.

And the other side of it: a herd of honest clients that reconnect at once, each sending its
CONNECT only once all have connected (one process, one thread), all log in as long as the
descriptors hold them, even while a flood is held on another port. A bound per port (an eighth
of the open file limit) closed all but that share of them.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import time

import pytest

from conftest import READY_TIMEOUT, ServerProcess, _free_port, read_line

pytestmark = pytest.mark.docketd_only("docketd's bound on connections waiting to log in")

TOKEN = "s3cret"
FLOOD = 600
# What each flooding connection sends before it stalls.
STALLS = {
    "client": b"",
    "tls": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a ClientHello record, begun
    "tls-first": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # the same, TLS before INFO
    "websocket": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n",
    "route": b"",
    "monitoring": b"GET /varz HTTP/1.1\r\n",
}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    directory = tmp_path_factory.mktemp("flood-certs")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
                    "server.pem", "-days", "2", "-subj", "/CN=127.0.0.1"],
                   cwd=directory, check=True, capture_output=True, timeout=60)
    return str(directory / "server.pem"), str(directory / "server.key")


def start(tmp_path, *flags: str, descriptors: int = 256, environment: str = "") -> tuple[ServerProcess, dict]:
    # The route, WebSocket and monitoring ports are picked free before docketd binds them; with
    # the suite's tests in parallel, another's connection can take one as its own port in
    # between (CI saw docketd exit "cannot listen on port …"). Such a start is tried again on
    # new ports; any other exit before ready is the test's failure.
    for attempt in range(3):
        ports = {"route": _free_port(), "websocket": _free_port(), "monitoring": _free_port()}
        argv = [os.environ["DOCKETD"], "--port", "0", "--data-dir", str(tmp_path / "data"), "--auth", TOKEN,
                "--cluster", f"nats://127.0.0.1:{ports['route']}", "--websocket-port", str(ports["websocket"]),
                "--websocket-no-tls", "-m", str(ports["monitoring"]), *flags]
        command = f"ulimit -n {descriptors}; {environment} exec " + " ".join(f"'{arg}'" for arg in argv)
        server = ServerProcess(["/bin/sh", "-c", command], "docketd")
        try:
            server.wait_for_log_ready(READY_TIMEOUT)
        except RuntimeError:
            server.stop()
            if attempt < 2 and "cannot listen on port" in server.log.text():
                continue
            raise RuntimeError(f"docketd did not start:\n{server.log.text()}")
        ports["client"] = ports["tls"] = ports["tls-first"] = server.port
        return server, ports
    raise AssertionError("unreachable")


def log_in(port: int, tls: bool = False, first: bool = False) -> socket.socket:
    """A client logged in on the client port (over TLS when `tls`, from the first byte when
    `first`), its PING answered."""
    return log_in_on(socket.create_connection(("127.0.0.1", port), timeout=5), tls, first)


def log_in_on(sock: socket.socket, tls: bool, first: bool) -> socket.socket:
    """`sock`, connected to the client port, logged in (see `log_in`)."""
    if not first:
        assert read_line(sock).startswith(b"INFO "), "no INFO"
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        sock = context.wrap_socket(sock)
        if first:
            assert read_line(sock).startswith(b"INFO "), "no INFO"
    sock.sendall(b'CONNECT {"verbose":false,"auth_token":"%s"}\r\nPING\r\n' % TOKEN.encode())
    assert read_line(sock) == b"PONG\r\n"
    return sock


def flood(port: int, stall: bytes) -> list[socket.socket]:
    sockets = []
    for _ in range(FLOOD):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if stall:
            sock.sendall(stall)
        sockets.append(sock)
    return sockets


@pytest.mark.parametrize("target", list(STALLS))
def test_a_flood_that_never_logs_in_locks_no_one_out(tmp_path, certificate, target):
    tls, first = target.startswith("tls"), target == "tls-first"
    flags = ["--tls", "--tlscert", certificate[0], "--tlskey", certificate[1]] if tls else []
    flags += ["--tls-handshake-first"] if first else []
    # Deadlines past the test's end: the flood's sockets are not closed for being late.
    server, ports = start(tmp_path, *flags, "--auth-timeout", "30s", "--tls-timeout", "30s",
                          "--websocket-handshake-timeout", "30s", "--http-idle-timeout", "30s")
    held = []
    try:
        bystander = log_in(ports["client"], tls, first)
        held = flood(ports[target], STALLS[target])
        bystander.sendall(b"PING\r\n")
        assert read_line(bystander) == b"PONG\r\n", "the logged-in client is no longer served"
        for _ in range(5):
            log_in(ports["client"], tls, first).close()
        text = server.log.text()
        assert "Out of file descriptors" not in text, text[-3000:]
        if target != "monitoring":
            assert "Closed before its login: fewer than 32 descriptors are free (--descriptor-reserve)" in text, text[-3000:]
    finally:
        for sock in held:
            sock.close()
        server.stop()


def configured(tmp_path, how: str, flag: str, value: str) -> dict:
    """The arguments of `start` that set `flag` to `value`: on the command line, in the
    configuration file's docket block, or in the environment."""
    key = flag.removeprefix("--").replace("-", "_")
    if how == "flag":
        return {"flags": [flag, value]}
    if how == "config":
        (tmp_path / "docketd.conf").write_text(f"docket {{ {key}: {value} }}\n")
        return {"flags": ["-c", str(tmp_path / "docketd.conf")]}
    return {"flags": [], "environment": f"DOCKET_{key.upper()}={value}"}


@pytest.mark.parametrize("how", ["flag", "config", "environment"])
def test_past_max_connecting_the_longest_waiting_connection_makes_room(tmp_path, how):
    """With room for three connections waiting to log in, a fourth closes the first, and a
    connection that logged in no longer counts."""
    setting = configured(tmp_path, how, "--max-connecting", "3")
    server, ports = start(tmp_path, *setting["flags"], descriptors=4096, environment=setting.get("environment", ""))
    try:
        first, second, third = (socket.create_connection(("127.0.0.1", ports["client"]), timeout=5) for _ in range(3))
        for sock in (first, second, third):
            assert read_line(sock).startswith(b"INFO ")
        client = log_in(ports["client"])  # the fourth: the first makes room, then it logs in
        assert first.recv(1) == b"", "the connection that waited longest is still open"
        fifth = socket.create_connection(("127.0.0.1", ports["client"]), timeout=5)
        assert read_line(fifth).startswith(b"INFO ")
        # second, third and fifth wait; the logged-in client does not count.
        second.settimeout(0.5)
        with pytest.raises(socket.timeout):
            second.recv(1)
        client.sendall(b"PING\r\n")
        assert read_line(client) == b"PONG\r\n"
        sixth = socket.create_connection(("127.0.0.1", ports["client"]), timeout=5)
        assert read_line(sixth).startswith(b"INFO ")
        second.settimeout(5)
        assert second.recv(1) == b""
        third.settimeout(0.5)
        with pytest.raises(socket.timeout):
            third.recv(1)
        for sock in (third, fifth, sixth, client):
            sock.close()
    finally:
        server.stop()


@pytest.mark.parametrize("how", ["flag", "config", "environment"])
def test_the_descriptor_reserve_is_read_from_everywhere(tmp_path, how):
    setting = configured(tmp_path, how, "--descriptor-reserve", "100")
    server, _ = start(tmp_path, *setting["flags"], descriptors=256, environment=setting.get("environment", ""))
    try:
        assert "--descriptor-reserve is 32 per server, not 100: 1/8 of the open file limit (256)" in server.log.text()
    finally:
        server.stop()


def test_the_bounds_are_lowered_to_a_share_of_the_open_file_limit(tmp_path):
    server, _ = start(tmp_path, descriptors=256)
    try:
        text = server.log.text()
        assert "--descriptor-reserve is 32 per server, not 1024: 1/8 of the open file limit (256)" in text
        assert "--max-connecting is" not in text, "--max-connecting is a share of the open file limit again"
        assert "--http-max-connections is 16 per server, not 256: 1/16 of the open file limit (256)" in text
        assert "--max-refusals-lingering is 32 per server, not 1024: 1/8 of the open file limit (256)" in text
        assert "--max-route-peers is 32 per server, not 128: 1/8 of the open file limit (256)" in text
    finally:
        server.stop()


@pytest.mark.parametrize("flag", ["--max-connecting", "--descriptor-reserve"])
def test_the_bounds_must_be_positive(tmp_path, flag):
    result = subprocess.run([os.environ["DOCKETD"], "--port", "0", "--data-dir", str(tmp_path / "data"),
                             flag, "0"], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert f"{flag} must be at least 1." in result.stderr


def closed_by_server(sock: socket.socket, seconds: float) -> bool:
    """Whether `sock` ends within `seconds`, what the server sent first (its INFO) read."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
        return True
    except socket.timeout:
        return False


def herd(port: int, count: int, tls: bool) -> tuple[int, int]:
    """`count` clients connect at once, and only then each reads its INFO and logs in (over TLS
    when `tls`), as a process reconnecting all its connections on one thread does. Returns how
    many logged in and how many were closed before they could."""
    sockets = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
    logged_in = closed = 0
    for sock in sockets:
        try:
            log_in_on(sock, tls, first=False)
            logged_in += 1
        except (OSError, AssertionError):
            closed += 1
    for sock in sockets:
        sock.close()
    return logged_in, closed


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_herd_that_fits_in_the_descriptors_all_logs_in(tmp_path, certificate, tls):
    """600 clients with 1024 descriptors (300 over TLS, whose handshakes take longer): all fit.
    With a bound of an eighth of the open file limit per port, all but 128 were closed before
    they could send their CONNECT. Deadlines past the test's end: none is closed for being late."""
    flags = ["--tls", "--tlscert", certificate[0], "--tlskey", certificate[1]] if tls else []
    server, ports = start(tmp_path, *flags, "--auth-timeout", "600s", "--tls-timeout", "600s", descriptors=1024)
    size = 300 if tls else 600
    try:
        assert herd(ports["client"], size, tls) == (size, 0), server.log.text()[-3000:]
        assert "Closed before its login" not in server.log.text()
    finally:
        server.stop()


@pytest.mark.parametrize("flooded", ["route", "websocket"])
def test_a_herd_logs_in_while_a_flood_is_held_on_another_port(tmp_path, flooded):
    """A flood of 600 held on another port and a herd of 400: together past what 1024
    descriptors hold, so connections are closed, but the flooded port has the most waiting and
    gives up its places; every client of the herd logs in, and the flood keeps only what is
    left. A bound per port let the flood keep 128 and closed 272 of the herd."""
    server, ports = start(tmp_path, "--auth-timeout", "600s", "--websocket-handshake-timeout", "600s", descriptors=1024)
    held = []
    try:
        held = flood(ports[flooded], STALLS[flooded])
        assert herd(ports["client"], 400, tls=False) == (400, 0), server.log.text()[-3000:]
        text = server.log.text()
        assert "Closed before its login: fewer than 128 descriptors are free (--descriptor-reserve)" in text, text[-3000:]
        assert "Out of file descriptors" not in text, text[-3000:]
        # The flood's connections that were closed are the ones that waited longest.
        assert closed_by_server(held[0], 5), "the flood's oldest connection is still open"
        assert not closed_by_server(held[-1], 0.5), "the flood's newest connection was closed"
    finally:
        for sock in held:
            sock.close()
        server.stop()


def test_a_flood_of_wrong_passwords_from_one_host_does_not_hold_another_hosts_login(tmp_path):
    """bcrypt checks run one host at a time in turn: forty wrong passwords held open from
    127.0.0.2 (each check tens of milliseconds or more) made a good login from 127.0.0.1 wait for
    all of them, past the 2 s auth timeout; now it waits for the one check in progress."""
    hashed = subprocess.run([os.environ["DOCKETD"], "--hash-password"], input="right-pass", capture_output=True,
                            text=True, timeout=30).stdout.strip().splitlines()[-1]
    config = tmp_path / "docketd.conf"
    config.write_text(f'authorization {{\n  users = [ {{user: alice, password: "{hashed}"}} ]\n}}\n')
    server = ServerProcess([os.environ["DOCKETD"], "--port", "0", "--data-dir", str(tmp_path / "data"),
                            "-c", str(config)], "docketd")
    flood = []
    try:
        server.wait_for_log_ready(READY_TIMEOUT)
        for index in range(40):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5, source_address=("127.0.0.2", 0))
            read_line(sock)
            sock.sendall(b'CONNECT {"verbose":false,"user":"alice","pass":"wrong-%d"}\r\n' % index)
            flood.append(sock)
        good = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        read_line(good)
        good.sendall(b'CONNECT {"verbose":false,"user":"alice","pass":"right-pass"}\r\nPING\r\n')
        assert read_line(good) == b"PONG\r\n", server.log.text()[-2000:]
        good.close()
    finally:
        for sock in flood:
            sock.close()
        server.stop()
