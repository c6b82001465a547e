"""NKEY seeds and nsc .creds files: the pure parts on bytes the tests make,
then logins to a real docketd with NKEY users and in operator mode (keys and
JWTs made fresh by Tests/interop/nats_jwt.py, through the ``nkeys`` package)."""

from __future__ import annotations

import asyncio
import base64
import logging
import sys
from pathlib import Path

import pytest

import docketd_client as docket
from docketd_client import aio
from docketd_client._nkeys import NKeySeed, parse_creds
from conftest import wait_until

nkeys = pytest.importorskip("nkeys")
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "Tests" / "interop"))
from nats_jwt import Entity, creds  # noqa: E402

#: nats.py's test seed and the public key nats-server's server_auth_nkey.conf names for it.
KNOWN_SEED = "SUAEIV5COV7ADQZE52WTYHVJQRV7WKJE5J7IBBJGATJTUUT2LVFGVXDPRQ"
KNOWN_PUBLIC_KEY = "UBABIZX6SZFAKHK2KGUFD6QH53FDAH5QVCH2R5MJLFPEVYAW22QWQQCX"
JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVIn0.c2ln"
ENV_NAMES = ("DOCKET_USER", "DOCKET_PASS", "DOCKET_TOKEN", "DOCKET_NKEY_SEED_FILE", "DOCKET_CREDS")


@pytest.fixture(autouse=True)
def _no_credentials_in_env(monkeypatch):
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def test_a_user_seed_makes_its_public_key_and_signs_the_nonce():
    seed = NKeySeed(KNOWN_SEED + "\n")
    assert seed.public_key == KNOWN_PUBLIC_KEY
    assert KNOWN_SEED not in repr(seed)
    signature = base64.urlsafe_b64decode(seed.sign("a-nonce") + "==")
    assert nkeys.from_seed(bytearray(KNOWN_SEED.encode())).verify(b"a-nonce", signature)
    assert "=" not in seed.sign("a-nonce")


@pytest.mark.parametrize("printed, why", [
    (KNOWN_SEED[:-1], "58"),
    (KNOWN_SEED[:-1] + "A", "checksum"),
    (KNOWN_SEED[:-1] + "1", "base32"),
    (KNOWN_SEED.lower(), "base32"),
    (KNOWN_PUBLIC_KEY, "58"),
    (nkeys.encode_seed(bytes(32), nkeys.PREFIX_BYTE_ACCOUNT).decode(), "not a user's seed"),
])
def test_a_malformed_seed_is_refused_saying_why(printed, why):
    with pytest.raises(docket.BadArgument) as info:
        NKeySeed(printed)
    assert why in str(info.value)
    assert printed not in str(info.value)


def test_creds_are_read_leniently_about_markers_and_strictly_about_contents():
    jwt, seed = parse_creds(creds(JWT, Entity.new("user")))
    assert jwt == JWT
    loose = (f"\r\n  ---BEGIN NATS USER JWT---  \r\n\t{JWT}  \r\n---END NATS USER JWT------------\r\n"
             f"--------BEGIN USER NKEY SEED-----\r\n  {KNOWN_SEED}\r\n-----END USER NKEY SEED-----")
    assert parse_creds(loose)[1].public_key == KNOWN_PUBLIC_KEY
    seed_block = f"-----BEGIN USER NKEY SEED-----\n{KNOWN_SEED}\n------END USER NKEY SEED------\n"
    jwt_block = f"-----BEGIN NATS USER JWT-----\n{JWT}\n------END NATS USER JWT------\n"
    for text, why in [
        (seed_block, "no user JWT"),
        (jwt_block, "no user seed"),
        ("", "no user JWT"),
        (jwt_block.replace(JWT, "not a jwt") + seed_block, "one JWT"),
        (jwt_block.replace(JWT, JWT + "\n" + JWT) + seed_block, "one JWT"),
        (jwt_block + seed_block.replace("\n------END", "X\n------END"), "user seed"),
        (jwt_block + seed_block.replace(KNOWN_SEED, KNOWN_PUBLIC_KEY), "user seed"),
        (jwt_block + f"-----BEGIN USER NKEY SEED-----\n{KNOWN_SEED}\n------END NATS USER JWT------\n", "no user seed"),
    ]:
        with pytest.raises(docket.BadArgument) as info:
            parse_creds(text)
        assert why in str(info.value), text
        assert KNOWN_SEED not in str(info.value)


def test_a_malformed_seed_or_creds_file_is_refused_before_connecting(tmp_path, monkeypatch):
    unreachable = "nats://127.0.0.1:1"
    broken = tmp_path / "user.nk"
    broken.write_text(KNOWN_SEED[:-1] + "A\n")
    with pytest.raises(docket.BadArgument, match=f"NKEY seed file {broken}: .*checksum"):
        docket.Client(unreachable, nkeys_seed=str(broken))
    not_creds = tmp_path / "user.creds"
    not_creds.write_text(KNOWN_SEED)
    with pytest.raises(docket.BadArgument, match=f"creds file {not_creds}: no user JWT"):
        docket.Client(unreachable, user_credentials=str(not_creds))
    with pytest.raises(docket.BadArgument, match="nonexistent.creds"):
        docket.Client(unreachable, user_credentials=str(tmp_path / "nonexistent.creds"))
    with pytest.raises(docket.BadArgument, match="one way to log in"):
        docket.Client(unreachable, token="t", nkeys_seed_str=KNOWN_SEED)
    monkeypatch.setenv("DOCKET_CREDS", str(not_creds))
    with pytest.raises(docket.BadArgument, match="no user JWT"):
        aio.Client(unreachable)


# --------------------------------------------------------------------------
# A real docketd


def _config(tmp_path, text: str) -> list:
    path = tmp_path / "docket.conf"
    path.write_text(text)
    return ["-c", str(path)]


def test_live_nkey_user_logs_in_and_again_after_a_reconnect(start_docketd, tmp_path, monkeypatch, caplog):
    alice = Entity.new("user")
    flags = _config(tmp_path, f"authorization {{ users = [ {{ nkey: {alice.public_key} }} ] }}\n")
    first = start_docketd(flags=flags)
    seed_file = tmp_path / "alice.nk"
    seed_file.write_bytes(alice.seed + b"\n")
    caplog.set_level(logging.DEBUG, logger="docketd_client")
    with docket.Client(first.url, nkeys_seed_str=alice.seed.decode(), request_timeout=5) as c:
        assert c.enqueue("q", "before").id == 1
        assert alice.seed.decode() not in repr(c) + repr(c._credentials)
        first.stop()
        second = start_docketd(port=first.port, data_dir=first.data_dir, flags=flags)
        assert wait_until(lambda: c.is_connected and c.reconnects == 1, 10)
        assert c.enqueue("q", "after").id == 2
    with docket.Client(second.url, nkeys_seed=str(seed_file), request_timeout=5) as c:
        c.flush(timeout=2)
    monkeypatch.setenv("DOCKET_NKEY_SEED_FILE", str(seed_file))
    with docket.Client(second.url, request_timeout=5) as c:
        c.flush(timeout=2)
    assert alice.seed.decode() not in caplog.text


def test_live_wrong_seed_is_refused(start_docketd, tmp_path):
    alice, mallory = Entity.new("user"), Entity.new("user")
    server = start_docketd(flags=_config(tmp_path, f"authorization {{ users = [ {{ nkey: {alice.public_key} }} ] }}\n"))
    with pytest.raises(docket.AuthorizationError) as info:
        docket.Client(server.url, nkeys_seed_str=mallory.seed.decode())
    assert "Authorization Violation" in str(info.value)
    assert mallory.seed.decode() not in str(info.value)


def test_live_a_server_without_a_nonce_gets_no_signature(start_docketd):
    server = start_docketd(flags=["--auth", "s3cret"])
    with pytest.raises(docket.AuthorizationError, match="no nonce"):
        docket.Client(server.url, nkeys_seed_str=KNOWN_SEED)


class Operator:
    """An operator with one preloaded account (as Tests/interop/test_nats_jwt.py sets it up)."""

    def __init__(self) -> None:
        self.operator = Entity.new("operator")
        self.account = Entity.new("account")

    def config(self) -> str:
        return (f"operator: {self.operator.jwt(self.operator, name='op')}\n"
                "resolver: MEMORY\n"
                f"resolver_preload: {{\n  {self.account.public_key}: \"{self.operator.jwt(self.account, name='acme')}\"\n}}\n")

    def creds_file(self, tmp_path, name: str = "u") -> str:
        user = Entity.new("user")
        path = tmp_path / f"{name}.creds"
        path.write_text(creds(self.account.jwt(user, name=name), user))
        return str(path)


def test_live_creds_file_logs_in_to_operator_mode_and_again_after_a_reconnect(start_docketd, tmp_path, monkeypatch):
    setup = Operator()
    flags = _config(tmp_path, setup.config())
    first = start_docketd(flags=flags)
    path = setup.creds_file(tmp_path)
    with docket.Client(first.url, user_credentials=path, request_timeout=5) as c:
        assert c.enqueue("q", "before").id == 1
        first.stop()
        second = start_docketd(port=first.port, data_dir=first.data_dir, flags=flags)
        assert wait_until(lambda: c.is_connected and c.reconnects == 1, 10)
        assert c.enqueue("q", "after").id == 2
    stranger = Operator().creds_file(tmp_path, "stranger")
    with pytest.raises(docket.AuthorizationError):
        docket.Client(second.url, user_credentials=stranger)
    monkeypatch.setenv("DOCKET_CREDS", path)

    async def main():
        async with aio.Client(second.url, request_timeout=5) as c:
            await c.flush()
            return (await c.enqueue("q", "aio")).id

    assert asyncio.run(main()) == 3
