"""NATS keys and JWTs made for a test: an operator, its accounts and their users, as nsc would
issue them (version 2 claims), signed with fresh Ed25519 keys through the `nkeys` package.

    op = Entity.new("operator")
    acct = Entity.new("account")
    user = Entity.new("user")
    op_jwt = op.jwt(op, name="op")
    acct_jwt = op.jwt(acct, name="acme")
    user_jwt = acct.jwt(user, name="alice", nats={"pub": {"allow": ["a.>"]}})
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass

import nkeys

_PREFIXES = {
    "operator": nkeys.PREFIX_BYTE_OPERATOR,
    "account": nkeys.PREFIX_BYTE_ACCOUNT,
    "user": nkeys.PREFIX_BYTE_USER,
}


# What nsc writes when told nothing: no limit on anything (-1). nats-server reads a limit a
# version 2 JWT leaves out as zero: an account without limits takes no connections, a user
# without them may not subscribe or publish.
NSC_DEFAULTS = {
    "account": {"limits": {"subs": -1, "conn": -1, "leaf": -1, "imports": -1, "exports": -1, "data": -1, "payload": -1,
                           "wildcards": True}},
    "user": {"subs": -1, "data": -1, "payload": -1},
    "operator": {},
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Entity:
    kind: str
    seed: bytes
    keys: nkeys.KeyPair

    @classmethod
    def new(cls, kind: str) -> "Entity":
        seed = nkeys.encode_seed(os.urandom(32), _PREFIXES[kind])
        return cls(kind, seed, nkeys.from_seed(bytearray(seed)))

    @property
    def public_key(self) -> str:
        return self.keys.public_key.decode()

    def sign(self, data: bytes) -> bytes:
        return self.keys.sign(data)

    def jwt(self, subject: "Entity | str", *, name: str = "", kind: str | None = None, issued_at: int | None = None,
            nats: dict | None = None, top: dict | None = None, issuer_account: str | None = None) -> str:
        """A JWT about `subject` (an Entity, or a public key), signed by this entity."""
        sub = subject.public_key if isinstance(subject, Entity) else subject
        claim_kind = kind or (subject.kind if isinstance(subject, Entity) else "user")
        body = {"type": claim_kind, "version": 2, **NSC_DEFAULTS[claim_kind], **(nats or {})}
        if issuer_account:
            body["issuer_account"] = issuer_account
        claims = {"jti": b64url(os.urandom(16)), "iat": issued_at if issued_at is not None else int(time.time()),
                  "iss": self.public_key, "name": name, "sub": sub, "nats": body, **(top or {})}
        header = b64url(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
        payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signed = f"{header}.{payload}".encode()
        return f"{header}.{payload}.{b64url(self.sign(signed))}"


def creds(user_jwt: str, user: Entity) -> str:
    """A .creds file, as nsc writes them."""
    return (f"-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n"
            f"-----BEGIN USER NKEY SEED-----\n{user.seed.decode()}\n------END USER NKEY SEED------\n")
