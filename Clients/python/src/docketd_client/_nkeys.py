"""NATS NKEY seeds and nsc ``.creds`` files: what NKEY users and operator-mode
(JWT) users log in with.

A printed user seed (``SU…``, 58 characters) is RFC 4648 base32 of two prefix
bytes (``'S'``, then the kind of key: ``'U'`` for a user), the 32-byte Ed25519
seed and a CRC-16/XMODEM of those 34 bytes, little-endian. The seed signs the
nonce of the server's INFO; the server never sees it. Pure, except for the
Ed25519 arithmetic, which comes from PyNaCl (the ``nkeys`` extra:
``pip install 'docketd-client[nkeys]'``) or else from ``cryptography``.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Callable, Dict, Tuple

from .errors import BadArgument

#: 'S' in the top five bits of a seed's first byte; 'U' (a user) as a public key's prefix byte.
_SEED_PREFIX = 18 << 3
_USER_PREFIX = 20 << 3
_SEED_LENGTH = 58

JWT_BLOCK = "NATS USER JWT"
SEED_BLOCK = "USER NKEY SEED"
_MARKER = re.compile(r"^-{3,}\s*(BEGIN|END)\s+([A-Z][A-Z ]*?)\s*-{3,}$")
_BASE32 = re.compile(r"[A-Z2-7]*")
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def crc16_xmodem(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


def _b32decode(text: str) -> bytes:
    """Unpadded base32, upper case only; trailing bits must be zero (one spelling per key)."""
    if not _BASE32.fullmatch(text):
        raise BadArgument("it is not base32 (A-Z and 2-7 only)")
    raw = base64.b32decode(text + "=" * (-len(text) % 8))
    if base64.b32encode(raw).decode().rstrip("=") != text:
        raise BadArgument("it is not base32 (A-Z and 2-7 only)")
    return raw


def printed_key(prefix: bytes, key: bytes) -> str:
    """A key as NATS prints it: base32 of the prefix byte(s), the key and the checksum."""
    raw = prefix + key
    return base64.b32encode(raw + crc16_xmodem(raw).to_bytes(2, "little")).decode().rstrip("=")


def decode_user_seed(printed: str) -> bytes:
    """The 32-byte Ed25519 seed of a printed user seed; :class:`BadArgument`
    saying what is wrong otherwise (never quoting the seed)."""
    text = printed.strip()
    if len(text) != _SEED_LENGTH:
        raise BadArgument(f"not a NATS user seed (SU…): it is {len(text)} characters long, and a seed is {_SEED_LENGTH}")
    try:
        raw = _b32decode(text)
    except (BadArgument, binascii.Error):
        raise BadArgument("not a NATS user seed (SU…): it is not base32 (A-Z and 2-7 only)") from None
    if crc16_xmodem(raw[:34]) != int.from_bytes(raw[34:36], "little"):
        raise BadArgument("not a NATS user seed (SU…): its checksum does not match (a typo, or a truncated copy)")
    if raw[0] & 0xF8 != _SEED_PREFIX:
        raise BadArgument("not a NATS user seed (SU…): it is not a seed (a seed starts with S)")
    if raw[0] & 0x07 != _USER_PREFIX >> 5 or raw[1] != (_USER_PREFIX & 0x1F) << 3:
        raise BadArgument("not a NATS user seed (SU…): it is not a user's seed, it is another kind of key's")
    return raw[2:34]


def _ed25519() -> Tuple[Callable[[bytes], bytes], Callable[[bytes, bytes], bytes]]:
    """(public key of a seed, signature of a message by a seed), from PyNaCl or cryptography."""
    try:
        from nacl.signing import SigningKey

        return (lambda seed: bytes(SigningKey(seed).verify_key),
                lambda seed, message: SigningKey(seed).sign(message).signature)
    except ImportError:
        pass
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
        return (lambda seed: Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(*raw),
                lambda seed, message: Ed25519PrivateKey.from_private_bytes(seed).sign(message))
    except ImportError:
        raise BadArgument(
            "NKEY seeds and .creds files need Ed25519 signatures, from PyNaCl or cryptography: "
            "pip install 'docketd-client[nkeys]'"
        ) from None


class NKeySeed:
    """A NATS user's seed, read and checked; signs nonces. Its repr shows
    the public key only."""

    __slots__ = ("_seed", "_sign", "public_key")

    def __init__(self, printed: str) -> None:
        if not isinstance(printed, str):
            raise BadArgument("an NKEY seed must be a string")
        self._seed = decode_user_seed(printed)
        public_key, self._sign = _ed25519()
        #: The user's public key, as CONNECT's ``nkey`` and the server's configuration spell it.
        self.public_key = printed_key(bytes([_USER_PREFIX]), public_key(self._seed))

    @classmethod
    def from_file(cls, path: str) -> "NKeySeed":
        text = _read(path, "NKEY seed file")
        try:
            return cls(text)
        except BadArgument as exc:
            raise BadArgument(f"NKEY seed file {path}: {exc}") from None

    def sign(self, nonce: str) -> str:
        """CONNECT's ``sig``: the signature of the nonce's characters, unpadded base64url."""
        signature = self._sign(self._seed, nonce.encode())
        return base64.urlsafe_b64encode(signature).decode().rstrip("=")

    def __repr__(self) -> str:
        return f"<NKEY seed of {self.public_key}>"


def _read(path: str, what: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read((1 << 20) + 1)
    except OSError as exc:
        raise BadArgument(f"{what} {path}: {exc.strerror}") from None
    if len(data) > 1 << 20:
        raise BadArgument(f"{what} {path} is over 1 MiB: not a {what}")
    return data.decode("utf-8", "replace")


def creds_blocks(text: str) -> Dict[str, str]:
    """Each ``BEGIN <name>`` … ``END <name>`` block's content by name (its
    lines stripped, blank ones dropped). Markers are read leniently: any
    number (3 or more) of dashes, blanks around; an END of another name does
    not close a block."""
    found: Dict[str, str] = {}
    name, lines = None, []
    for line in text.splitlines():
        marker = _MARKER.match(line.strip())
        if marker:
            kind, which = marker.group(1), marker.group(2)
            if kind == "BEGIN":
                name, lines = which, []
            elif which == name:
                found.setdefault(name, "\n".join(x for x in lines if x))
                name = None
        elif name is not None:
            lines.append(line.strip())
    return found


def parse_creds(text: str) -> Tuple[str, NKeySeed]:
    """``(user JWT, seed)`` of a ``.creds`` file's text; :class:`BadArgument` otherwise."""
    blocks = creds_blocks(text)
    if JWT_BLOCK not in blocks:
        raise BadArgument(f"no user JWT (no -----BEGIN {JWT_BLOCK}----- block)")
    if SEED_BLOCK not in blocks:
        raise BadArgument(f"no user seed (no -----BEGIN {SEED_BLOCK}----- block)")
    jwt = blocks[JWT_BLOCK]
    if not _JWT.fullmatch(jwt):
        raise BadArgument("the user JWT block does not hold one JWT (three base64url parts joined by dots)")
    return jwt, NKeySeed(blocks[SEED_BLOCK])


def read_creds(path: str) -> Tuple[str, NKeySeed]:
    try:
        return parse_creds(_read(path, "creds file"))
    except BadArgument as exc:
        if str(exc).startswith(f"creds file {path}"):
            raise
        raise BadArgument(f"creds file {path}: {exc}") from None
