"""NKEY logins as nats-server does them, driven by a real NATS client (nats-py, which signs with
the `nkeys` package): INFO carries a nonce per connection, CONNECT answers with the public key
and the seed's signature of it. The configuration is nats-server's own, so the same file works
for both servers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from urllib.parse import urlparse

import nats
import nkeys
import pytest

from conftest import read_info_line, read_line

# nats.py's test key pair (its nats-core tests' server_auth_nkey.conf names this public key).
SEED = "SUAEIV5COV7ADQZE52WTYHVJQRV7WKJE5J7IBBJGATJTUUT2LVFGVXDPRQ"
PUBLIC = "UBABIZX6SZFAKHK2KGUFD6QH53FDAH5QVCH2R5MJLFPEVYAW22QWQQCX"

# As nats.py's nkeys_server.conf: an NKEY user in an account, with permissions; beside it a
# password user in the global account.
CONFIG = f"""
accounts {{
  acme {{
    users [
      {{ nkey = "{PUBLIC}", permissions = {{
          subscribe = {{ allow = ["help", "_INBOX.>"], deny = ["foo"] }}
          publish = {{ allow = ["help", "_INBOX.>"], deny = ["foo"] }} }} }}
    ]
  }}
}}
authorization {{ users = [ {{ user: carol, password: three }} ] }}
"""


def run(coro):
    return asyncio.run(coro)


def _open(url: str):
    parsed = urlparse(url)
    sock = socket.create_connection((parsed.hostname, parsed.port), timeout=5)
    info = json.loads(read_info_line(sock)[5:])
    return sock, info


def _signature(seed: str, nonce: str) -> str:
    signed = nkeys.from_seed(seed.encode()).sign(nonce.encode())
    return base64.urlsafe_b64encode(signed).rstrip(b"=").decode()


def test_a_client_logs_in_with_its_seed_and_gets_its_permissions(start_server):
    url = start_server(config=CONFIG)

    async def main():
        errors = []

        async def on_error(error):
            errors.append(error)

        nc = await nats.connect(url, nkeys_seed_str=SEED, error_cb=on_error, allow_reconnect=False)
        async def answer(msg):
            await msg.respond(b"ok: " + msg.data)

        sub = await nc.subscribe("help", cb=answer)
        reply = await nc.request("help", b"please", timeout=2)
        assert reply.data == b"ok: please"
        await nc.publish("foo", b"x")
        await nc.flush()
        await asyncio.sleep(0.2)
        assert any("permissions violation" in str(e).lower() for e in errors), errors
        await sub.unsubscribe()
        await nc.close()

    run(main())


def test_a_wrong_seed_is_an_authorization_violation(start_server):
    url = start_server(config=CONFIG)
    other = nkeys.from_seed(nkeys.encode_seed(bytes(range(32)), prefix=nkeys.PREFIX_BYTE_USER)).seed.decode()

    async def main():
        with pytest.raises(Exception) as raised:
            await nats.connect(url, nkeys_seed_str=other, allow_reconnect=False, max_reconnect_attempts=0)
        assert "authorization violation" in str(raised.value).lower()

    run(main())


def test_a_signature_from_another_connection_is_refused(start_server):
    url = start_server(config=CONFIG)
    first, first_info = _open(url)
    second, second_info = _open(url)
    assert first_info["nonce"] != second_info["nonce"]
    replayed = _signature(SEED, first_info["nonce"])
    second.sendall(f'CONNECT {{"verbose":false,"nkey":"{PUBLIC}","sig":"{replayed}"}}\r\nPING\r\n'.encode())
    assert read_line(second) == b"-ERR 'Authorization Violation'\r\n"
    first.sendall(f'CONNECT {{"verbose":false,"nkey":"{PUBLIC}","sig":"{replayed}"}}\r\nPING\r\n'.encode())
    assert read_line(first) == b"PONG\r\n"
    first.close()
    second.close()


def test_a_password_user_logs_in_beside_nkey_users(start_server):
    url = start_server(config=CONFIG)

    async def main():
        nc = await nats.connect(url, user="carol", password="three", allow_reconnect=False)
        await nc.flush()
        await nc.close()

    run(main())
