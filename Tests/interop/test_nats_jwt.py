"""Decentralized logins (nats-server's operator mode with a memory resolver), driven by a real
NATS client (nats-py with a .creds file): an operator vouches for accounts, an account issues
user JWTs, and a user signs the server's nonce with its seed. The keys and JWTs are made fresh
for each test (nats_jwt.py); the configuration is nats-server's own, so the same file works for
both servers.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from urllib.parse import urlparse

import nats
import pytest

from conftest import read_info_line, read_line
from nats_jwt import Entity, b64url, creds


def run(coro):
    return asyncio.run(coro)


class Setup:
    """An operator with two accounts, each preloaded into the memory resolver."""

    def __init__(self, account_claims: dict | None = None):
        self.operator = Entity.new("operator")
        self.acme = Entity.new("account")
        self.globex = Entity.new("account")
        self.acme_jwt = self.operator.jwt(self.acme, name="acme", nats=account_claims)
        self.globex_jwt = self.operator.jwt(self.globex, name="globex")

    def config(self) -> str:
        return (f"operator: {self.operator.jwt(self.operator, name='op')}\n"
                "resolver: MEMORY\n"
                f"resolver_preload: {{\n  {self.acme.public_key}: \"{self.acme_jwt}\"\n"
                f"  {self.globex.public_key}: \"{self.globex_jwt}\"\n}}\n")

    def user(self, tmp_path, account: Entity | None = None, name: str = "u", **claims) -> str:
        """A user of `account` (acme by default); returns the path of its .creds file."""
        user = Entity.new("user")
        jwt = (account or self.acme).jwt(user, name=name, **claims)
        path = tmp_path / f"{name}-{user.public_key[:8]}.creds"
        path.write_text(creds(jwt, user))
        return str(path)


def test_users_of_an_account_log_in_with_their_creds_and_see_only_their_account(start_server, tmp_path):
    setup = Setup()
    url = start_server(config=setup.config())
    alice, bob = setup.user(tmp_path, name="alice"), setup.user(tmp_path, name="bob")
    outsider = setup.user(tmp_path, account=setup.globex, name="outsider")

    async def main():
        a = await nats.connect(url, user_credentials=alice, allow_reconnect=False)
        b = await nats.connect(url, user_credentials=bob, allow_reconnect=False)
        c = await nats.connect(url, user_credentials=outsider, allow_reconnect=False)
        got, leaked = [], []

        async def to_got(msg):
            got.append(msg.data)

        async def to_leaked(msg):
            leaked.append(msg.data)

        await a.subscribe("news", cb=to_got)
        await c.subscribe("news", cb=to_leaked)
        await a.flush()
        await c.flush()
        await b.publish("news", b"for acme")
        await b.flush()
        await asyncio.sleep(0.3)
        assert got == [b"for acme"]
        assert leaked == []  # another account is another subject space
        for nc in (a, b, c):
            await nc.close()

    run(main())


def test_a_users_jwt_permissions_are_enforced(start_server, tmp_path):
    setup = Setup()
    url = start_server(config=setup.config())
    limited = setup.user(tmp_path, name="limited", nats={"pub": {"allow": ["ok.>", "_INBOX.>"]}, "sub": {"deny": ["secret"]}})

    async def main():
        errors = []

        async def on_error(error):
            errors.append(str(error).lower())

        nc = await nats.connect(url, user_credentials=limited, error_cb=on_error, allow_reconnect=False)
        await nc.publish("ok.fine", b"x")
        await nc.publish("forbidden", b"x")
        await nc.subscribe("secret")
        await nc.flush()
        await asyncio.sleep(0.3)
        assert any("permissions violation" in e and "forbidden" in e for e in errors), errors
        assert any("permissions violation" in e and "secret" in e for e in errors), errors
        await nc.close()

    run(main())


@pytest.mark.parametrize("case", ["unknown account", "forged", "expired", "revoked", "seed of another user"])
def test_logins_the_chain_does_not_vouch_for_are_refused(start_server, tmp_path, case):
    revoked_user = Entity.new("user")
    setup = Setup(account_claims={"revocations": {revoked_user.public_key: int(time.time()) + 60}})
    url = start_server(config=setup.config())
    stranger = Entity.new("account")
    user = Entity.new("user")
    if case == "unknown account":
        path = tmp_path / "x.creds"
        path.write_text(creds(stranger.jwt(user), user))
    elif case == "forged":
        # Signed by the user itself rather than by its account.
        path = tmp_path / "x.creds"
        path.write_text(creds(user.jwt(user, issuer_account=setup.acme.public_key), user))
    elif case == "expired":
        path = tmp_path / "x.creds"
        path.write_text(creds(setup.acme.jwt(user, top={"exp": int(time.time()) - 10}), user))
    elif case == "revoked":
        path = tmp_path / "x.creds"
        path.write_text(creds(setup.acme.jwt(revoked_user), revoked_user))
    else:
        path = tmp_path / "x.creds"
        path.write_text(creds(setup.acme.jwt(user), Entity.new("user")))

    async def main():
        with pytest.raises(Exception) as raised:
            await nats.connect(url, user_credentials=str(path), allow_reconnect=False, max_reconnect_attempts=0)
        assert "authorization violation" in str(raised.value).lower()

    run(main())


def test_a_connection_ends_when_its_jwt_expires(start_server, tmp_path):
    setup = Setup()
    url = start_server(config=setup.config())
    user = Entity.new("user")
    path = tmp_path / "short.creds"
    path.write_text(creds(setup.acme.jwt(user, top={"exp": int(time.time()) + 2}), user))

    async def main():
        errors = []
        closed = asyncio.get_running_loop().create_future()

        async def on_error(error):
            errors.append(str(error).lower())

        async def on_closed():
            if not closed.done():
                closed.set_result(True)

        nc = await nats.connect(url, user_credentials=str(path), error_cb=on_error, closed_cb=on_closed,
                                allow_reconnect=False)
        await nc.flush()
        await asyncio.wait_for(closed, 6)
        assert any("expired" in e for e in errors + [str(nc.last_error).lower()]), (errors, nc.last_error)

    run(main())


def test_the_nonce_is_per_connection_and_a_bearer_jwt_needs_no_signature(start_server, tmp_path):
    setup = Setup()
    url = start_server(config=setup.config())
    parsed = urlparse(url)
    user = Entity.new("user")
    signed_jwt = setup.acme.jwt(user)
    bearer_jwt = setup.acme.jwt(Entity.new("user"), nats={"bearer_token": True})

    def open_():
        sock = socket.create_connection((parsed.hostname, parsed.port), timeout=5)
        return sock, json.loads(read_info_line(sock)[5:])

    first, first_info = open_()
    second, second_info = open_()
    assert first_info["auth_required"] is True and first_info["nonce"] != second_info["nonce"]
    replayed = b64url(user.sign(first_info["nonce"].encode()))
    second.sendall(f'CONNECT {{"verbose":false,"jwt":"{signed_jwt}","sig":"{replayed}"}}\r\nPING\r\n'.encode())
    assert read_line(second) == b"-ERR 'Authorization Violation'\r\n"
    first.sendall(f'CONNECT {{"verbose":false,"jwt":"{signed_jwt}","sig":"{replayed}"}}\r\nPING\r\n'.encode())
    assert read_line(first) == b"PONG\r\n"
    third, _ = open_()
    third.sendall(f'CONNECT {{"verbose":false,"jwt":"{bearer_jwt}"}}\r\nPING\r\n'.encode())
    assert read_line(third) == b"PONG\r\n"
    for sock in (first, second, third):
        sock.close()


@pytest.mark.docketd_only("docketd's bound on a user JWT's size; nats-server has none of its own")
def test_a_user_jwt_over_16_kib_is_refused_unread(start_server, tmp_path):
    setup = Setup()
    # A control line long enough to carry the JWT, so that the JWT's own bound is what refuses it.
    url = start_server(config=setup.config() + "max_control_line: 65536\n")
    parsed = urlparse(url)
    user = Entity.new("user")

    def login(padding: int) -> bytes:
        jwt = setup.acme.jwt(user, name="x" * padding, nats={"bearer_token": True})
        sock = socket.create_connection((parsed.hostname, parsed.port), timeout=5)
        read_info_line(sock)
        sock.sendall(f'CONNECT {{"verbose":false,"jwt":"{jwt}"}}\r\nPING\r\n'.encode())
        answer = read_line(sock)
        sock.close()
        return answer

    assert login(11_000) == b"PONG\r\n"  # base64 of the claims: about 15 KiB in all
    assert login(13_000) == b"-ERR 'Authorization Violation'\r\n"  # about 17.6 KiB


def test_an_accounts_connection_limit_is_kept(start_server, tmp_path):
    setup = Setup(account_claims={"limits": {"subs": -1, "conn": 1, "leaf": -1, "imports": -1, "exports": -1, "data": -1,
                                             "payload": -1, "wildcards": True}})
    url = start_server(config=setup.config())
    first, second = setup.user(tmp_path, name="first"), setup.user(tmp_path, name="second")

    async def main():
        nc = await nats.connect(url, user_credentials=first, allow_reconnect=False)
        await nc.flush()
        with pytest.raises(Exception) as raised:
            await nats.connect(url, user_credentials=second, allow_reconnect=False, max_reconnect_attempts=0)
        assert "maximum account active connections exceeded" in str(raised.value).lower()
        await nc.close()
        # Once the first is gone, there is room again.
        await asyncio.sleep(0.2)
        again = await nats.connect(url, user_credentials=second, allow_reconnect=False)
        await again.close()

    run(main())


@pytest.mark.docketd_only("sends SIGHUP to docketd and reads its log")
def test_a_reload_closes_users_their_account_revoked_and_keeps_the_others(tmp_path):
    import os
    import re
    import signal
    import subprocess

    setup = Setup()
    alice_user, bob_user = Entity.new("user"), Entity.new("user")
    alice, bob = tmp_path / "alice.creds", tmp_path / "bob.creds"
    alice.write_text(creds(setup.acme.jwt(alice_user, name="alice"), alice_user))
    bob.write_text(creds(setup.acme.jwt(bob_user, name="bob", issued_at=int(time.time()) - 5), bob_user))
    config = tmp_path / "op.conf"
    config.write_text(setup.config())
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    proc = subprocess.Popen([os.environ["DOCKETD"], "--port", "0", "--data-dir", str(tmp_path / "data"), "-c", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        port = None
        for line in proc.stderr:
            if match := re.search(r"Listening for client connections on .+:(\d+)", line):
                port = int(match.group(1))
            if "Server is ready" in line:
                break
        url = f"nats://127.0.0.1:{port}"

        async def main():
            a = await nats.connect(url, user_credentials=str(alice), allow_reconnect=False)
            b = await nats.connect(url, user_credentials=str(bob), allow_reconnect=False)
            await a.flush()
            await b.flush()
            # The account now revokes every JWT of bob's issued before this moment.
            setup.acme_jwt = setup.operator.jwt(setup.acme, name="acme",
                                                nats={"revocations": {bob_user.public_key: int(time.time()) - 1}})
            config.write_text(setup.config())
            proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 5
            while not b.is_closed and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert b.is_closed
            await a.flush(timeout=2)
            assert a.is_connected
            await a.close()

        run(main())
    finally:
        proc.terminate()
        proc.wait(10)
