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
process out of descriptors: past --max-connecting (at most an eighth of the open file limit per
port) the connection that has waited longest to log in is closed to make room.
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


def start(tmp_path, *flags: str, descriptors: int = 256) -> tuple[ServerProcess, dict]:
    ports = {"route": _free_port(), "websocket": _free_port(), "monitoring": _free_port()}
    argv = [os.environ["DOCKETD"], "--port", "0", "--data-dir", str(tmp_path / "data"), "--auth", TOKEN,
            "--cluster", f"nats://127.0.0.1:{ports['route']}", "--websocket-port", str(ports["websocket"]),
            "--websocket-no-tls", "-m", str(ports["monitoring"]), *flags]
    command = f"ulimit -n {descriptors}; exec " + " ".join(f"'{arg}'" for arg in argv)
    server = ServerProcess(["/bin/sh", "-c", command], "docketd")
    server.wait_for_log_ready(READY_TIMEOUT)
    ports["client"] = ports["tls"] = ports["tls-first"] = server.port
    return server, ports


def log_in(port: int, tls: bool = False, first: bool = False) -> socket.socket:
    """A client logged in on the client port (over TLS when `tls`, from the first byte when
    `first`), its PING answered."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
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
            assert "Closed before its login: 32 connections wait to log in on its port (--max-connecting)" in text, text[-3000:]
    finally:
        for sock in held:
            sock.close()
        server.stop()


def test_past_max_connecting_the_longest_waiting_connection_makes_room(tmp_path):
    """With room for three connections waiting to log in, a fourth closes the first, and a
    connection that logged in no longer counts."""
    server, ports = start(tmp_path, "--max-connecting", "3", descriptors=4096)
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


def test_the_bounds_are_lowered_to_a_share_of_the_open_file_limit(tmp_path):
    server, _ = start(tmp_path, descriptors=256)
    try:
        text = server.log.text()
        assert "--max-connecting is 32 per port, not 65536: 1/8 of the open file limit (256)" in text
        assert "--http-max-connections is 16 per server, not 256: 1/16 of the open file limit (256)" in text
        assert "--max-refusals-lingering is 32 per server, not 1024: 1/8 of the open file limit (256)" in text
        assert "--max-route-peers is 32 per server, not 128: 1/8 of the open file limit (256)" in text
    finally:
        server.stop()


def test_max_connecting_must_be_positive(tmp_path):
    result = subprocess.run([os.environ["DOCKETD"], "--port", "0", "--data-dir", str(tmp_path / "data"),
                             "--max-connecting", "0"], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "--max-connecting must be at least 1." in result.stderr


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
