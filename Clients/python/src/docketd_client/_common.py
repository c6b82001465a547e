"""What the threaded and the asyncio clients share about connecting.

Pure, like :mod:`docketd_client.protocol`: the server URL and its
credentials, TLS settings, the CONNECT options, and the handshake as a small
state machine (:class:`Handshake`) that both clients drive with their own
sockets. Nothing here does I/O except building an :class:`ssl.SSLContext`
(which reads the CA, certificate and key files).
"""

from __future__ import annotations

import os
import ssl
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union
from urllib.parse import unquote, urlsplit

from . import protocol as P
from ._nkeys import NKeySeed, read_creds
from .errors import AuthorizationError, BadArgument, ConnectError, ProtocolError

__version__ = "0.2.0"

DEFAULT_URL = "nats://127.0.0.1:4222"

#: Environment variables read for credentials when neither the arguments
#: nor the URL give any (the same names docketd reads for its own settings).
ENV_USER = "DOCKET_USER"
ENV_PASS = "DOCKET_PASS"
ENV_TOKEN = "DOCKET_TOKEN"
ENV_NKEY_SEED_FILE = "DOCKET_NKEY_SEED_FILE"
ENV_CREDS = "DOCKET_CREDS"

#: URL schemes: plain TCP, and TLS (``tls://`` requires it).
PLAIN_SCHEMES = ("nats", "docket", "tcp")
TLS_SCHEMES = ("tls",)

_REDACTED = "***"


def redact_url(url: str) -> str:
    """The URL with the password (``user:***@``) or token (``***@``) hidden."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    end = len(rest)
    for stop in "/?#":
        at = rest.find(stop)
        if at != -1:
            end = min(end, at)
    authority = rest[:end]
    if "@" not in authority:
        return url
    userinfo, host = authority.rsplit("@", 1)
    name, colon, _secret = userinfo.partition(":")
    hidden = f"{name}:{_REDACTED}" if colon else _REDACTED
    return f"{scheme}{sep}{hidden}@{host}{rest[end:]}"


def parse_url(url: str) -> Tuple[str, int, Optional[str], Optional[str], bool]:
    """``(host, port, user, password, tls)``; user and password are None
    when the URL has no ``user[:password]@`` part (a lone user is a token);
    ``tls`` is True for ``tls://``."""
    if not isinstance(url, str):
        raise BadArgument(f"url must be a string, not {type(url).__name__}")
    if "://" not in url:
        url = "nats://" + url
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in PLAIN_SCHEMES + TLS_SCHEMES:
        raise BadArgument(f"unsupported URL scheme {parts.scheme!r} (use nats://host:port or tls://host:port)")
    try:
        port = parts.port or 4222
    except ValueError:
        raise BadArgument(f"bad port in URL {redact_url(url)!r}") from None
    user = None if parts.username is None else unquote(parts.username)
    password = None if parts.password is None else unquote(parts.password)
    return parts.hostname or "127.0.0.1", port, user, password, scheme in TLS_SCHEMES


class Credentials:
    """What goes into CONNECT to authenticate, and where it came from.
    Its repr and description never show the password, token or seed.

    ``nkey_seed`` alone is an NKEY user (``nkey`` and ``sig``); with ``jwt``
    it is a user of a server in operator mode (``jwt`` and ``sig``, from a
    ``.creds`` file). Either signs the nonce of each connection's INFO."""

    __slots__ = ("user", "password", "token", "nkey_seed", "jwt", "source")

    def __init__(
        self,
        user: Optional[str] = None,
        password: Optional[str] = None,
        token: Optional[str] = None,
        source: str = "",
        nkey_seed: Optional[NKeySeed] = None,
        jwt: Optional[str] = None,
    ) -> None:
        self.user = user
        self.password = password
        self.token = token
        self.nkey_seed = nkey_seed
        self.jwt = jwt
        self.source = source

    def __bool__(self) -> bool:
        return self.user is not None or self.token is not None or self.nkey_seed is not None

    def fields(self, nonce: Optional[str] = None) -> Dict[str, str]:
        """The CONNECT keys, as nats-server names them; ``nonce`` is the
        connection's (INFO's), which a seed signs."""
        out: Dict[str, str] = {}
        if self.user is not None:
            out["user"] = self.user
            out["pass"] = self.password if self.password is not None else ""
        if self.token is not None:
            out["auth_token"] = self.token
        if self.nkey_seed is not None:
            if nonce is None:
                raise ValueError("a seed signs the server's nonce: check there is one first (needs_nonce)")
            if self.jwt is not None:
                out["jwt"] = self.jwt
            else:
                out["nkey"] = self.nkey_seed.public_key
            out["sig"] = self.nkey_seed.sign(nonce)
        return out

    @property
    def needs_nonce(self) -> bool:
        return self.nkey_seed is not None

    def describe(self) -> str:
        if not self:
            return "no credentials"
        what = []
        if self.user is not None:
            what.append(f"user {self.user!r} with a password")
        if self.token is not None:
            what.append("a token")
        if self.nkey_seed is not None:
            kind = "the user JWT of" if self.jwt is not None else "NKEY user"
            what.append(f"{kind} {self.nkey_seed.public_key}")
        return " and ".join(what) + f" (from {self.source})"

    def __repr__(self) -> str:
        return f"<credentials: {self.describe()}>"


def _signing_credentials(
    nkeys_seed: Optional[str], nkeys_seed_str: Optional[str], user_credentials: Optional[str], source: str
) -> Credentials:
    """The credentials of one seed file, seed or .creds file (the caller checked there is one)."""
    if user_credentials:
        jwt, seed = read_creds(user_credentials)
        return Credentials(source=source, nkey_seed=seed, jwt=jwt)
    if nkeys_seed:
        return Credentials(source=source, nkey_seed=NKeySeed.from_file(nkeys_seed))
    return Credentials(source=source, nkey_seed=NKeySeed(nkeys_seed_str or ""))


def resolve_credentials(
    user: Optional[str],
    password: Optional[str],
    token: Optional[str],
    url_user: Optional[str],
    url_password: Optional[str],
    nkeys_seed: Optional[str] = None,
    nkeys_seed_str: Optional[str] = None,
    user_credentials: Optional[str] = None,
) -> Credentials:
    """The first source that gives a (non-empty) user, token, seed or creds
    file wins as a whole: the arguments, then the URL, then the environment.
    A seed or creds file is read and checked here, once."""
    given = (("user", user), ("password", password), ("token", token), ("nkeys_seed", nkeys_seed),
             ("nkeys_seed_str", nkeys_seed_str), ("user_credentials", user_credentials))
    for name, value in given:
        if value is not None and not isinstance(value, (str, os.PathLike) if name in ("nkeys_seed", "user_credentials") else str):
            raise BadArgument(f"{name} must be a string")
    if password and not user:
        raise BadArgument("password= needs user=")
    signing = [k for k, v in (("nkeys_seed=", nkeys_seed), ("nkeys_seed_str=", nkeys_seed_str),
                              ("user_credentials=", user_credentials)) if v]
    if len(signing) > 1 or (signing and (user or token)):
        others = [k for k, v in (("user=", user), ("token=", token)) if v]
        raise BadArgument(f"give one way to log in, not {' and '.join(others + signing)}")
    if nkeys_seed or nkeys_seed_str or user_credentials:
        return _signing_credentials(
            None if nkeys_seed is None else os.fspath(nkeys_seed), nkeys_seed_str,
            None if user_credentials is None else os.fspath(user_credentials), "the arguments")
    if user or token:
        return Credentials(user or None, password, token or None, "the arguments")
    if url_user and url_password is not None:
        return Credentials(url_user, url_password, None, "the URL")
    if url_user:
        return Credentials(None, None, url_user, "the URL")
    env_user = os.environ.get(ENV_USER) or None
    env_token = os.environ.get(ENV_TOKEN) or None
    if env_user or env_token:
        source = " and ".join(n for n, v in ((ENV_USER, env_user), (ENV_TOKEN, env_token)) if v)
        return Credentials(env_user, os.environ.get(ENV_PASS) if env_user else None, env_token, source)
    env_seed = os.environ.get(ENV_NKEY_SEED_FILE) or None
    if env_seed:
        return _signing_credentials(env_seed, None, None, ENV_NKEY_SEED_FILE)
    env_creds = os.environ.get(ENV_CREDS) or None
    if env_creds:
        return _signing_credentials(None, None, env_creds, ENV_CREDS)
    return Credentials()


def is_authorization_violation(text: str) -> bool:
    return text.strip().lower() == "authorization violation"


# --------------------------------------------------------------------------
# TLS


class TLSConfig:
    """The client's TLS settings.

    TLS is **required** by the client when the URL is ``tls://``, ``tls`` is
    True or an :class:`ssl.SSLContext`, or a CA file, certificate or
    ``handshake_first`` is given: a server that does not offer TLS is then
    refused. A server whose INFO says ``tls_required`` gets TLS in any case
    (with the system's CAs when nothing else is given), as NATS clients do.

    The upgrade happens after the plaintext INFO (the NATS way), or, with
    ``handshake_first``, before anything is read (the server must expect
    it: nats-server's ``handshake_first``).
    """

    def __init__(
        self,
        tls: Union[None, bool, ssl.SSLContext] = None,
        ca_file: Optional[str] = None,
        cert_file: Optional[str] = None,
        key_file: Optional[str] = None,
        handshake_first: bool = False,
        hostname: Optional[str] = None,
        url_tls: bool = False,
    ) -> None:
        if tls is not None and not isinstance(tls, (bool, ssl.SSLContext)):
            raise BadArgument("tls must be True, False, None or an ssl.SSLContext")
        if key_file is not None and cert_file is None:
            raise BadArgument("tls_key_file= needs tls_cert_file=")
        if isinstance(tls, ssl.SSLContext) and (ca_file or cert_file):
            raise BadArgument("give an ssl.SSLContext or CA/certificate files, not both")
        if tls is False and (url_tls or ca_file or cert_file or handshake_first):
            raise BadArgument("tls=False contradicts tls://, the TLS files or tls_handshake_first")
        self.handshake_first = bool(handshake_first)
        self.ca_file = ca_file
        self.cert_file = cert_file
        self.key_file = key_file
        self.hostname = hostname
        self.refused = tls is False
        self.required = bool(tls) or url_tls or bool(ca_file or cert_file) or self.handshake_first
        self._context: Optional[ssl.SSLContext] = tls if isinstance(tls, ssl.SSLContext) else None

    def context(self) -> ssl.SSLContext:
        """The SSLContext to use (built once, from the files if given)."""
        if self._context is None:
            try:
                ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
                if self.cert_file:
                    ctx.load_cert_chain(self.cert_file, self.key_file)
            except (OSError, ssl.SSLError) as exc:
                raise ConnectError(f"cannot load the TLS files: {exc}") from None
            self._context = ctx
        return self._context

    def server_hostname(self, host: str) -> str:
        """The name the server's certificate must carry."""
        return self.hostname or host

    def upgrade_after(self, info: Dict[str, Any], where: str) -> bool:
        """Whether to start TLS after this (plaintext) INFO; raises
        :class:`ConnectError` when client and server disagree. Only JSON
        ``true`` says yes, as the Node and Swift clients read it: a string
        ``"false"`` is no reason to start a TLS handshake the server is not
        waiting for."""
        server_requires = info.get("tls_required") is True
        server_offers = server_requires or info.get("tls_available") is True
        if server_requires and self.refused:
            raise ConnectError(f"{where} requires TLS and the client was given tls=False")
        if self.required and not server_offers:
            raise ConnectError(f"{where} does not offer TLS, and the client requires it")
        return server_requires or (self.required and server_offers)


# --------------------------------------------------------------------------
# CONNECT and the handshake


def connect_options(
    credentials: Credentials, name: Optional[str], echo: bool, tls: bool, lang: str = "python",
    nonce: Optional[str] = None,
) -> Dict[str, Any]:
    """The CONNECT object: no ``+OK`` for PUB/SUB/UNSUB, headers, no
    responders; ``tls_required`` when the connection is TLS (as NATS
    clients send it); then the credentials."""
    opts: Dict[str, Any] = {
        "verbose": False,
        "pedantic": False,
        "headers": True,
        "no_responders": True,
        "protocol": 1,
        "lang": lang,
        "version": __version__,
    }
    if not echo:
        opts["echo"] = False
    if name:
        opts["name"] = name
    if tls:
        opts["tls_required"] = True
    opts.update(credentials.fields(nonce))
    return opts


def refused(text: str, where: str, credentials: Credentials) -> ConnectError:
    """The error for an ``-ERR`` that answers CONNECT (or replaces INFO)."""
    if not is_authorization_violation(text):
        return ConnectError(f"{where} refused the connection: {text}")
    if credentials:
        why = f"{where} refused the credentials: {credentials.describe()}"
    else:
        why = (
            f"{where} requires authentication and no credentials were given "
            f"(user=/password=, token=, nkeys_seed= or user_credentials=, the URL, or {ENV_USER}/{ENV_PASS}, "
            f"{ENV_TOKEN}, {ENV_NKEY_SEED_FILE} or {ENV_CREDS})"
        )
    return AuthorizationError(f"{why} ({text})", text)


class StartTLS:
    """In what :meth:`Handshake.receive` returns: start TLS now, before
    sending what follows."""


START_TLS = StartTLS()


class Handshake:
    """The opening of a connection, without sockets.

    The driver passes what it reads to :meth:`receive` until :attr:`done`,
    and does what that returns, in order: bytes to send, or
    :data:`START_TLS`. Then :attr:`parser` holds what came after the
    handshake. Underneath, each server operation goes to :meth:`step`:

    1. (``handshake_first``: the TLS handshake happens before anything is read.)
    2. ``INFO``: :meth:`step` returns ``"tls"`` when the driver must start
       TLS now (then call :meth:`after_tls`, which returns the bytes to
       send), or the ``CONNECT`` + ``PING`` bytes.
    3. Until ``PONG``: a ``PING`` gets ``PONG`` bytes, an ``INFO`` replaces
       the first, an ``-ERR`` raises (an :class:`AuthorizationError` for
       ``'Authorization Violation'``); :attr:`done` becomes True at PONG.
    4. What arrived with the PONG is checked at once (and left in
       :attr:`parser`): a reply there answers no command, since none was
       sent yet, and read later it would pass for the reply to the first
       command the caller sends. So it raises :class:`ProtocolError`, and
       the attempt fails.
    """

    def __init__(
        self,
        where: str,
        credentials: Credentials,
        tls: TLSConfig,
        name: Optional[str] = None,
        echo: bool = True,
        lang: str = "python",
    ) -> None:
        self.where = where
        self.credentials = credentials
        self.tls = tls
        self.name = name
        self.echo = echo
        self.lang = lang
        self.info: Dict[str, Any] = {}
        self.secure = False  # TLS is in place
        self.done = False
        self.parser = P.Parser()
        self._sent_connect = False
        if tls.handshake_first:
            self.secure = True

    def receive(self, data: bytes) -> List[Union[bytes, StartTLS]]:
        """What to do with bytes the server sent (empty: it closed the
        connection, a :class:`ConnectError`)."""
        if not data:
            raise ConnectError(f"{self.where} closed the connection during the handshake")
        self.parser.feed(data)
        todo: List[Union[bytes, StartTLS]] = []
        while not self.done:
            op = self.parser.next_op()
            if op is None:
                break
            out = self.step(op)
            if isinstance(out, str):  # "tls"
                # TLS starts on the bytes that follow INFO: there must be none yet.
                if self.parser.buffered:
                    raise ProtocolError("the server sent more than INFO before the TLS handshake")
                todo += [START_TLS, self.after_tls()]
            elif out:
                todo.append(out)
        if self.done:
            for op in self.parser.peek():
                P.route(op, None)  # a reply raises ProtocolError
        return todo

    def _connect_bytes(self) -> bytes:
        nonce = self.info.get("nonce")
        if self.credentials.needs_nonce and not isinstance(nonce, str):
            # Sending a signature the server cannot check would only be refused; say why instead.
            raise AuthorizationError(
                f"{self.where} sent no nonce in its INFO, so it takes no NKEY or JWT logins (it has no NKEY "
                f"users and is not in operator mode); nothing was signed or sent for {self.credentials.describe()}",
                "no nonce",
            )
        self._sent_connect = True
        opts = connect_options(self.credentials, self.name, self.echo, self.secure, self.lang, nonce)
        return P.encode_connect(opts) + P.encode_ping()

    def after_tls(self) -> bytes:
        """TLS is in place after INFO: the bytes to send now."""
        self.secure = True
        return self._connect_bytes()

    def step(self, op: P.Op) -> Union[bytes, str]:
        """Bytes to send (possibly empty), or ``"tls"``."""
        if isinstance(op, P.Err):
            raise refused(op.text, self.where, self.credentials)
        if not self._sent_connect:
            if not isinstance(op, P.Info):
                raise ProtocolError(f"expected INFO, got {type(op).__name__}")
            self.info = op.data
            if not self.secure and self.tls.upgrade_after(op.data, self.where):
                return "tls"
            return self._connect_bytes()
        if isinstance(op, P.Pong):
            self.done = True
            return b""
        if isinstance(op, P.Ping):
            return P.encode_pong()
        if isinstance(op, P.Info):
            self.info = op.data
            return b""
        raise ProtocolError(f"unexpected {type(op).__name__} during the handshake")


def queue_list(queues: Union[str, Sequence[str]]) -> List[str]:
    """A worker's queues as a checked list."""
    return P.queue_names(queues, "a worker")
