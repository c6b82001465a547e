"""Authentication as nats-server does it, driven by a real NATS client (nats-py).

docketd takes nats-server's flags (--auth, --user/--pass); INFO says auth_required, the first
command must be a CONNECT with the credentials, and the errors are nats-server's exact texts,
which NATS clients match on.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from urllib.parse import urlparse

import nats
import pytest

from conftest import read_info_line


def run(coro):
    return asyncio.run(coro)



def _address(url: str):
    parsed = urlparse(url)
    return parsed.hostname, parsed.port


def _raw(url: str) -> socket.socket:
    sock = socket.create_connection(_address(url), timeout=5)
    return sock


def _read_until_closed(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


async def _round_trip(nc) -> bytes:
    sub = await nc.subscribe("auth.check")
    await nc.publish("auth.check", b"hello")
    msg = await sub.next_msg(timeout=2)
    return msg.data


def test_info_says_auth_required(start_server):
    url = start_server(auth="s3cret")
    sock = _raw(url)
    line = read_info_line(sock).rstrip(b"\r\n")
    assert line.startswith(b"INFO ")
    assert json.loads(line[5:])["auth_required"] is True


def test_token(start_server):
    url = start_server(auth="s3cret")

    async def main():
        nc = await nats.connect(url, token="s3cret", allow_reconnect=False)
        try:
            return await _round_trip(nc)
        finally:
            await nc.close()

    assert run(main()) == b"hello"


def test_user_and_password(start_server):
    url = start_server(user="alice", **{"pass": "wonder land"})

    async def main():
        nc = await nats.connect(url, user="alice", password="wonder land", allow_reconnect=False)
        try:
            return await _round_trip(nc)
        finally:
            await nc.close()

    assert run(main()) == b"hello"


@pytest.mark.parametrize(
    "credentials",
    [{}, {"token": "wrong"}, {"user": "alice", "password": "nope"}, {"user": "bob", "password": "wonder land"}],
    ids=["none", "token-for-user-server", "wrong-password", "wrong-user"],
)
def test_bad_credentials_are_an_authorization_violation(start_server, credentials):
    url = start_server(user="alice", **{"pass": "wonder land"})

    async def main():
        errors = []

        async def error_cb(err):
            errors.append(err)

        started = time.monotonic()
        with pytest.raises(Exception) as raised:
            await nats.connect(url, allow_reconnect=False, error_cb=error_cb, connect_timeout=3, **credentials)
        return raised.value, errors, time.monotonic() - started

    error, errors, elapsed = run(main())
    text = " ".join(str(e) for e in [error] + errors).lower()
    assert "authorization violation" in text
    assert elapsed < 2.5


def test_a_command_before_connect_is_a_violation(start_server):
    url = start_server(auth="s3cret")
    sock = _raw(url)
    read_info_line(sock)
    sock.sendall(b"PING\r\n")
    assert _read_until_closed(sock) == b"-ERR 'Authorization Violation'\r\n"


def test_no_connect_in_time_is_an_authentication_timeout(start_server):
    url = start_server(auth="s3cret", auth_timeout="300ms")
    sock = _raw(url)
    read_info_line(sock)
    started = time.monotonic()
    assert _read_until_closed(sock) == b"-ERR 'Authentication Timeout'\r\n"
    assert 0.2 < time.monotonic() - started < 3


def test_a_raw_connect_with_the_token_is_served(start_server):
    url = start_server(auth="s3cret")
    sock = _raw(url)
    sock.settimeout(5)
    lines = sock.makefile("rb")
    assert lines.readline().startswith(b"INFO ")  # the whole line, however TCP splits it
    sock.sendall(b'CONNECT {"verbose":false,"auth_token":"s3cret"}\r\nPING\r\n')
    assert lines.readline() == b"PONG\r\n"


# Subject permissions in nats-server's own configuration format: the same file works for both
# servers (run this module with NATS_SERVER=1 to check it against nats-server).
PERMISSIONS_CONFIG = """
authorization {
  users = [
    { user: orders, password: o1, permissions: { publish: ["orders.>"], subscribe: ["orders.>", "_INBOX.>"] } }
    { user: reader, password: r1, permissions: { subscribe: { allow: ">", deny: "secret.>" } } }
  ]
}
"""


def test_a_denied_publish_is_reported_and_the_connection_stays(start_server):
    url = start_server(config=PERMISSIONS_CONFIG)

    async def main():
        errors = []

        async def on_error(error):
            errors.append(str(error))

        nc = await nats.connect(url, user="orders", password="o1", error_cb=on_error, allow_reconnect=False)
        sub = await nc.subscribe("orders.>")
        await nc.publish("billing.new", b"nope")
        await nc.publish("orders.new", b"yes")
        msg = await sub.next_msg(timeout=2)
        await nc.flush()
        assert msg.subject == "orders.new" and msg.data == b"yes"
        assert any('permissions violation for publish to "billing.new"' in e.lower() for e in errors), errors
        assert nc.is_connected
        await nc.close()

    run(main())


def test_a_denied_subscription_is_reported_and_a_wider_one_filtered(start_server):
    url = start_server(config=PERMISSIONS_CONFIG)

    async def main():
        errors = []

        async def on_error(error):
            errors.append(str(error))

        reader = await nats.connect(url, user="reader", password="r1", error_cb=on_error, allow_reconnect=False)
        await reader.subscribe("secret.plans")
        everything = await reader.subscribe(">")
        await reader.flush()
        writer = await nats.connect(url, user="reader", password="r1", allow_reconnect=False)
        await writer.publish("secret.plans", b"hidden")
        await writer.publish("public.news", b"shown")
        await writer.flush()
        msg = await everything.next_msg(timeout=2)
        assert msg.subject == "public.news"
        with pytest.raises(Exception):
            await everything.next_msg(timeout=0.3)
        assert any('permissions violation for subscription to "secret.plans"' in e.lower() for e in errors), errors
        assert reader.is_connected
        await writer.close()
        await reader.close()

    run(main())


def _bcrypt(password: str, cost: int = 6) -> str:
    """A bcrypt hash in nats-server's spelling ($2a$), made with the system's libcrypt."""
    import ctypes

    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt_gensalt_rn.restype = ctypes.c_char_p
    lib.crypt.restype = ctypes.c_char_p
    setting = ctypes.create_string_buffer(128)
    lib.crypt_gensalt_rn(b"$2b$", cost, None, 0, setting, 128)
    return lib.crypt(password.encode(), setting.value).decode().replace("$2b$", "$2a$", 1)


def test_bcrypt_hashed_passwords_from_the_configuration(start_server):
    config = f"""
authorization {{
  users = [
    {{ user: alice, password: "{_bcrypt('wonder land')}" }}
  ]
}}
"""
    url = start_server(config=config)

    async def main():
        nc = await nats.connect(url, user="alice", password="wonder land", allow_reconnect=False)
        assert await _round_trip(nc) == b"hello"
        await nc.close()
        with pytest.raises(Exception):
            await nats.connect(url, user="alice", password="wonder lane", allow_reconnect=False,
                               max_reconnect_attempts=0, connect_timeout=2)

    run(main())


@pytest.mark.docketd_only("restarts docketd on the same port with other credentials")
def test_reconnect_to_a_server_whose_credentials_changed(tmp_path):
    """nats-py's reconnect logic meets the new password with an Authorization Violation, keeps
    trying, and gets back in once the server takes its credentials again."""
    import os
    import subprocess

    binary = os.environ["DOCKETD"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def start(password):
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
        proc = subprocess.Popen([binary, "--port", str(port), "--data-dir", str(tmp_path / "data"),
                                 "--user", "alice", "--pass", password],
                                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
        deadline = time.monotonic() + 10
        for line in proc.stderr:
            if "Server is ready" in line or time.monotonic() > deadline:
                break
        return proc

    def stop(proc):
        proc.terminate()
        proc.wait(10)

    async def main():
        errors, reconnects = [], []

        async def on_error(error):
            errors.append(str(error))

        async def on_reconnect():
            reconnects.append(time.monotonic())

        server = start("one")
        nc = await nats.connect(f"nats://127.0.0.1:{port}", user="alice", password="one", error_cb=on_error,
                                reconnected_cb=on_reconnect, reconnect_time_wait=0.1, max_reconnect_attempts=-1)
        assert await _round_trip(nc) == b"hello"
        stop(server)
        server = start("two")
        deadline = time.monotonic() + 10
        while not any("authorization violation" in e.lower() for e in errors) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert any("authorization violation" in e.lower() for e in errors), errors
        assert not nc.is_connected and not reconnects
        stop(server)
        server = start("one")
        deadline = time.monotonic() + 10
        while not reconnects and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert reconnects and nc.is_connected
        sub = await nc.subscribe("auth.again")
        await nc.publish("auth.again", b"back")
        assert (await sub.next_msg(timeout=2)).data == b"back"
        await nc.close()
        stop(server)

    run(main())
