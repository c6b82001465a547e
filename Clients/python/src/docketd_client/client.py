"""The Docket client: one TCP connection, pipelined and thread-safe.

Threads
-------
* a **reader** parses everything the server sends, answers its PINGs,
  delivers messages to subscriptions and completes requests; after a lost
  connection it also reconnects;
* a **flusher** writes the output buffer to the socket, so no caller (and
  never the reader) blocks on a socket write while holding the lock;
* one dispatcher thread per subscription that has a callback.

Requests and replies
--------------------
The connection is opened with ``CONNECT {"verbose":false,...}``: PUB, HPUB,
SUB and UNSUB get no reply, and every other command (PING and the job verbs)
gets exactly one, in order. The client therefore keeps a FIFO of the
commands that await a reply; appending a command to the FIFO and its bytes
to the output buffer happen under one lock, so the FIFO order is the wire
order. A ``-ERR`` is the reply of the oldest waiting command when it is a
job error (``'<CODE> <message>'``) and that command is a job verb;
otherwise (``'Invalid Subject'``, ``'Stale Connection'``, ...) it is an
asynchronous error, passed to ``error_callback``.

Reconnecting
------------
When the connection breaks, every command waiting for a reply fails with
:class:`~docketd_client.ConnectionLost` (it may or may not have been carried out),
unsent output is dropped, and the reader reconnects with backoff. Once the
new connection has answered ``CONNECT``+``PING``, every subscription is
sent again (with what is left of its ``max_msgs``), followed by publishes
buffered while disconnected. Requests made while disconnected wait (up to
their timeout) for the new connection before anything is sent, so they
never fail because of the old one.

Jobs held by a connection are lost with it: the server counts the attempt
as failed and retries the job ("worker lost"); an ``ack`` afterwards gets
:class:`~docketd_client.NotHeld`.

TLS
---
The opening handshake is :class:`~docketd_client._common.Handshake`, shared
with the asyncio client: TLS starts after the plaintext INFO when INFO says
``tls_required`` or the client requires it (``tls://``, a CA file, ...),
or before anything is read with ``tls_handshake_first``. The TLS state then
lives in :class:`~docketd_client._tls.TLSSocket`, which lets the reader and
the flusher threads share the connection safely.

Authentication
--------------
Credentials go in ``CONNECT`` (``"user"``/``"pass"`` or ``"auth_token"``,
as for nats-server), on every connection, reconnects included. They come
from the first of these that gives any: the ``user=``/``password=``/
``token=`` arguments, the URL (``nats://user:pass@host:port``,
``nats://token@host:port``), the environment (``DOCKET_USER``,
``DOCKET_PASS``, ``DOCKET_TOKEN``). A refusal (``-ERR 'Authorization
Violation'``) is an :class:`~docketd_client.AuthorizationError`. The password and
token never appear in ``repr()``, ``Client.url``, logs or error messages.
"""

from __future__ import annotations

import collections
import datetime
import itertools
import logging
import queue as queue_mod
import secrets
import socket
import threading
import time
import ssl
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from . import protocol as P
from ._common import DEFAULT_URL, Handshake, TLSConfig, parse_url, redact_url, resolve_credentials
from ._tls import TLSSocket
from .errors import (
    AuthorizationError,
    BadArgument,
    ConnectError,
    ConnectionClosed,
    ConnectionLost,
    DocketError,
    Error,
    NoResponders,
    ProtocolError,
    ServerError,
    SubscriptionClosed,
    Timeout,
)
from .models import (
    EnqueueResult,
    FailOutcome,
    Job,
    JobEvent,
    JobInfo,
    JobOutcome,
    Msg,
    QueueInfo,
    Route,
    ServerStats,
)

__all__ = ["Client", "Subscription", "EventStream", "connect", "DEFAULT_URL"]

log = logging.getLogger(__name__)

_CONNECTED = "connected"
_DISCONNECTED = "disconnected"
_CLOSED = "closed"

_DEFAULT: Any = object()  # "use the client's request_timeout"
_CLOSED_MARK: Any = object()  # ends a subscription's message queue


class _Pending:
    """A command waiting for its reply."""

    __slots__ = ("kind", "event", "result", "error", "abandoned")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.event = threading.Event()
        self.result: Any = None
        self.error: Optional[BaseException] = None
        self.abandoned = False

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.event.set()


class _ReplyWaiter:
    __slots__ = ("event", "msg", "error", "accept")

    def __init__(self, accept: Optional[Callable[[Msg], bool]] = None) -> None:
        self.event = threading.Event()
        self.msg: Optional[Msg] = None
        self.error: Optional[BaseException] = None
        #: Which replies end the wait (None: the first); a status message
        #: (no responders) always does.
        self.accept = accept


class Subscription:
    """A subscription; also an iterator over its messages.

    Without a callback, messages queue up in the subscription: read them with
    :meth:`next_msg` or iterate (``for msg in sub``). Iteration ends when the
    subscription ends (unsubscribed, ``max_msgs`` reached, client closed)
    or, if the subscription has a ``timeout``, when no message arrives within
    it. With a callback, a dedicated thread calls it for each message in
    order (so a callback may itself make requests on the client).
    """

    def __init__(
        self,
        client: "Client",
        sid: str,
        subject: str,
        queue: Optional[str],
        callback: Optional[Callable[[Msg], Any]],
        timeout: Optional[float],
        max_pending: int,
        inline: Optional[Callable[[Msg], None]] = None,
    ) -> None:
        self._client = client
        self.sid = sid
        self.subject = subject
        self.queue = queue
        self.callback = callback
        #: Idle timeout (seconds) that ends ``for msg in sub``; None waits forever.
        self.timeout = timeout
        self.max_pending = max_pending
        self._inline = inline
        self._queue: "queue_mod.Queue[Any]" = queue_mod.Queue()
        self._max: Optional[int] = None
        self._delivered = 0
        self._dropped = 0
        self._closed = False
        self._thread: Optional[threading.Thread] = None

    def __repr__(self) -> str:
        return f"<Subscription sid={self.sid} subject={self.subject!r} queue={self.queue!r}>"

    @property
    def delivered(self) -> int:
        """Messages the server delivered to this subscription so far."""
        return self._delivered

    @property
    def dropped(self) -> int:
        """Messages dropped because more than ``max_pending`` were waiting."""
        return self._dropped

    @property
    def pending(self) -> int:
        """Messages received and not yet taken."""
        return self._queue.qsize()

    @property
    def closed(self) -> bool:
        """True once the subscription has ended."""
        return self._closed

    def unsubscribe(self, max_msgs: Optional[int] = None) -> None:
        """End the subscription now, or after ``max_msgs`` messages in total
        (at once if it already had that many)."""
        self._client._unsubscribe(self, max_msgs)

    def next_msg(self, timeout: Optional[float] = None) -> Msg:
        """The next message. Raises :class:`~docketd_client.Timeout` when none arrives
        within ``timeout`` seconds (None: wait forever) and
        :class:`~docketd_client.SubscriptionClosed` once the subscription has ended
        and every message was taken."""
        if self.callback is not None or self._inline is not None:
            raise BadArgument("a subscription with a callback cannot be read with next_msg")
        try:
            item = self._queue.get(timeout=timeout)
        except queue_mod.Empty:
            raise Timeout(f"no message on {self.subject!r} within {timeout}s") from None
        if item is _CLOSED_MARK:
            self._queue.put(_CLOSED_MARK)  # every later reader sees it too
            raise SubscriptionClosed(f"subscription to {self.subject!r} has ended")
        return item  # type: ignore[no-any-return]

    def messages(self, timeout: Optional[float] = _DEFAULT) -> Iterator[Msg]:
        """Iterate over messages until the subscription ends or none arrives
        within ``timeout`` seconds (default: the subscription's ``timeout``)."""
        wait = self.timeout if timeout is _DEFAULT else timeout
        while True:
            try:
                yield self.next_msg(wait)
            except (Timeout, SubscriptionClosed):
                return

    def __iter__(self) -> "Subscription":
        return self

    def __next__(self) -> Msg:
        try:
            return self.next_msg(self.timeout)
        except (Timeout, SubscriptionClosed):
            raise StopIteration from None

    # -- called by the client --------------------------------------------

    def _push(self, msg: Msg) -> None:
        if self._inline is not None:
            self._inline(msg)
            return
        if self._queue.qsize() >= self.max_pending:
            self._dropped += 1
            self._client._report(Error(f"slow consumer: dropped a message on {self.subject!r} (sid {self.sid})"))
            return
        self._queue.put(msg)

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(_CLOSED_MARK)

    def _start(self) -> None:
        if self.callback is not None:
            self._thread = threading.Thread(
                target=self._dispatch, name=f"docket-sub-{self.sid}", daemon=True
            )
            self._thread.start()

    def _dispatch(self) -> None:
        assert self.callback is not None
        while True:
            item = self._queue.get()
            if item is _CLOSED_MARK:
                return
            try:
                self.callback(item)
            except Exception as exc:  # a callback's bug must not stop delivery
                self._client._report(exc)

    def _resubscribe_bytes(self) -> bytes:
        out = P.encode_subscribe(self.subject, self.sid, self.queue)
        if self._max is not None:
            out += P.encode_unsubscribe(self.sid, max(self._max - self._delivered, 0))
        return out


class EventStream:
    """Lifecycle events of :meth:`Client.events`: an iterator of
    :class:`~docketd_client.JobEvent` over one subscription (``.subscription``).
    Iteration ends like the subscription's (unsubscribed, client closed, or
    ``timeout`` idle seconds). Also a context manager that unsubscribes."""

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription

    def __repr__(self) -> str:
        return f"<EventStream {self.subscription.subject!r}>"

    def next_event(self, timeout: Optional[float] = None) -> JobEvent:
        """The next event; :class:`~docketd_client.Timeout` when none arrives within
        ``timeout`` seconds, :class:`~docketd_client.SubscriptionClosed` once ended."""
        return JobEvent.from_msg(self.subscription.next_msg(timeout))

    def unsubscribe(self) -> None:
        """Stop following the events."""
        self.subscription.unsubscribe()

    def __iter__(self) -> "EventStream":
        return self

    def __next__(self) -> JobEvent:
        return JobEvent.from_msg(next(self.subscription))

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.unsubscribe()


class Client:
    """A connection to docketd (or any NATS server for the pub/sub part).

    Thread-safe: any number of threads may publish, subscribe and send job
    commands at once; commands are pipelined on the one connection. Note
    that RESERVE makes the server stop reading the connection until it
    answers, so give blocking ``reserve`` calls their own client (the
    :class:`~docketd_client.Worker` does).

    ``request_timeout`` (seconds) bounds how long a command waits for its
    reply (None: forever); ``reserve`` waits its own timeout plus this.
    ``max_reconnect_attempts`` None retries forever; 0 disables reconnecting.
    ``error_callback(exc)`` receives asynchronous errors (server ``-ERR``s
    that answer no command, exceptions raised by subscription callbacks,
    dropped messages, an :class:`~docketd_client.AuthorizationError` while
    reconnecting); it runs on the reader thread and must not block.

    ``user``/``password`` or ``token`` authenticate to a server that requires
    it (``docketd --user/--pass`` or ``--auth``). When none is given they
    come from the URL (``nats://user:pass@host:port``,
    ``nats://token@host:port``; percent-encode ``@ : / ? #``), else from
    ``DOCKET_USER``/``DOCKET_PASS``/``DOCKET_TOKEN``. Wrong or missing
    credentials raise :class:`~docketd_client.AuthorizationError`. ``url`` (the
    attribute) and ``repr()`` show the URL with the password hidden.

    TLS: a ``tls://host:port`` URL, ``tls=True`` (or an
    :class:`ssl.SSLContext`), ``tls_ca_file=`` (the CA that signed the
    server's certificate), ``tls_cert_file=``/``tls_key_file=`` (a client
    certificate, for a server that verifies clients) make the client require
    TLS. It starts TLS after the server's INFO, as NATS clients do, or before
    reading anything with ``tls_handshake_first=True``. A server whose INFO
    says ``tls_required`` gets TLS whatever the URL says. ``tls_hostname``
    is the name to check in the server's certificate (default: the URL's
    host). ``is_secure`` tells whether the connection is TLS.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        user: Optional[str] = None,
        password: Optional[str] = None,
        token: Optional[str] = None,
        name: Optional[str] = None,
        request_timeout: Optional[float] = 10.0,
        connect_timeout: float = 5.0,
        max_reconnect_attempts: Optional[int] = None,
        reconnect_wait: float = 0.05,
        reconnect_max_wait: float = 2.0,
        reconnect_buffer_size: int = 8 << 20,
        max_buffered_output: int = 64 << 20,
        max_control_line: int = 4096,
        max_pending_msgs: int = 65536,
        echo: bool = True,
        error_callback: Optional[Callable[[BaseException], None]] = None,
        disconnected_callback: Optional[Callable[[], None]] = None,
        reconnected_callback: Optional[Callable[[], None]] = None,
        tls: Union[None, bool, ssl.SSLContext] = None,
        tls_ca_file: Optional[str] = None,
        tls_cert_file: Optional[str] = None,
        tls_key_file: Optional[str] = None,
        tls_handshake_first: bool = False,
        tls_hostname: Optional[str] = None,
    ) -> None:
        host, port, url_user, url_password, url_tls = parse_url(url)
        #: The server URL, with any password or token in it hidden.
        self.url = redact_url(url)
        self._addr = (host, port)
        self._credentials = resolve_credentials(user, password, token, url_user, url_password)
        self._tls = TLSConfig(tls, tls_ca_file, tls_cert_file, tls_key_file, tls_handshake_first, tls_hostname,
                              url_tls)
        self._secure = False
        self.name = name
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.max_reconnect_attempts = max_reconnect_attempts
        self.reconnect_wait = reconnect_wait
        self.reconnect_max_wait = reconnect_max_wait
        self.reconnect_buffer_size = reconnect_buffer_size
        self.max_buffered_output = max_buffered_output
        self.max_control_line = max_control_line
        self.max_pending_msgs = max_pending_msgs
        self.echo = echo
        self.error_callback = error_callback
        self.disconnected_callback = disconnected_callback
        self.reconnected_callback = reconnected_callback

        self._lock = threading.Lock()
        self._state_cond = threading.Condition(self._lock)  # state changes
        self._flush_cond = threading.Condition(self._lock)  # output to write
        self._drained_cond = threading.Condition(self._lock)  # output written
        self._state = _DISCONNECTED
        self._closed_evt = threading.Event()
        self._sock: Any = None
        self._gen = 0
        self._out = bytearray()
        self._flushing = False
        self._pending: Deque[_Pending] = collections.deque()
        self._subs: Dict[str, Subscription] = {}
        self._sids = itertools.count(1)
        self._info: Dict[str, Any] = {}
        self._last_error: Optional[ServerError] = None
        self.reconnects = 0

        self._inbox: Optional[str] = None
        self._inbox_lock = threading.Lock()
        self._replies: Dict[str, _ReplyWaiter] = {}
        self._reply_ids = itertools.count(1)

        sock, parser, info = self._connect_once()
        self._activate(sock, info)
        self._reader = threading.Thread(
            target=self._read_forever, args=(sock, parser, self._gen), name="docket-reader", daemon=True
        )
        self._flusher = threading.Thread(target=self._flush_forever, name="docket-flusher", daemon=True)
        self._reader.start()
        self._flusher.start()

    # ------------------------------------------------------------------
    # Context and state

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<docketd_client.Client {self.url} {self._state}>"

    @property
    def is_connected(self) -> bool:
        """True while a connection is up."""
        return self._state == _CONNECTED

    @property
    def is_closed(self) -> bool:
        """True once the client is closed."""
        return self._state == _CLOSED

    @property
    def server_info(self) -> Dict[str, Any]:
        """The INFO of the current (or last) connection."""
        return dict(self._info)

    @property
    def max_payload(self) -> Optional[int]:
        """The server's payload limit in bytes, from INFO."""
        value = self._info.get("max_payload")
        return value if isinstance(value, int) else None

    @property
    def is_secure(self) -> bool:
        """True when the current connection is TLS."""
        return self._secure

    @property
    def last_error(self) -> Optional[ServerError]:
        """The last asynchronous ``-ERR`` the server sent."""
        return self._last_error

    # ------------------------------------------------------------------
    # Connecting

    def _connect_once(self) -> Tuple[Any, P.Parser, Dict[str, Any]]:
        """Open a socket and do the handshake synchronously: (TLS,) INFO,
        (TLS,) CONNECT+PING, PONG (see :class:`_common.Handshake`)."""
        host, port = self._addr
        where = f"{host}:{port}"
        deadline = time.monotonic() + self.connect_timeout
        try:
            raw = socket.create_connection(self._addr, timeout=self.connect_timeout)
        except OSError as exc:
            raise ConnectError(f"cannot connect to {where}: {exc}") from None
        sock: Any = raw
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            parser = P.Parser()
            shake = Handshake(where, self._credentials, self._tls, self.name, self.echo)

            def start_tls() -> Any:
                if parser.buffered:
                    raise ProtocolError("the server sent more than INFO before the TLS handshake")
                raw.settimeout(max(deadline - time.monotonic(), 0.001))
                secure = TLSSocket(raw, self._tls.context(), self._tls.server_hostname(host))
                secure.handshake()
                return secure

            if self._tls.handshake_first:
                sock = start_tls()
            while not shake.done:
                op = parser.next_op()
                if op is None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise ConnectError(f"timed out during the handshake with {where}")
                    sock.settimeout(remaining)
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectError(f"{where} closed the connection during the handshake")
                    parser.feed(data)
                    continue
                out = shake.step(op)
                if out == "tls":
                    sock = start_tls()
                    out = shake.after_tls()
                if out:
                    sock.sendall(out)
            sock.settimeout(None)
            self._secure = shake.secure
            return sock, parser, shake.info
        except (OSError, Error) as exc:
            sock.close()
            if isinstance(exc, ConnectError):
                raise
            if isinstance(exc, ssl.SSLError):
                raise ConnectError(f"TLS with {where} failed: {exc}") from None
            raise ConnectError(f"handshake with {where} failed: {exc}") from None

    def _activate(self, sock: Any, info: Dict[str, Any]) -> bool:
        """Make a handshaken socket the current connection; queue the
        subscriptions ahead of anything buffered while disconnected."""
        with self._lock:
            if self._state == _CLOSED:
                sock.close()
                return False
            if self._gen:
                self.reconnects += 1
            self._sock = sock
            self._gen += 1
            self._info = info
            resub = b"".join(sub._resubscribe_bytes() for sub in self._subs.values())
            self._out[0:0] = resub
            self._state = _CONNECTED
            self._state_cond.notify_all()
            self._flush_cond.notify_all()
        return True

    def _read_forever(self, sock: Any, parser: P.Parser, gen: int) -> None:
        while True:
            error = self._read_connection(sock, parser, gen)
            if self._state == _CLOSED:
                return
            self._connection_lost(gen, error)
            reconnected = self._reconnect()
            if reconnected is None:
                self._shutdown(ConnectionClosed(f"connection lost and not re-established: {error}"))
                return
            sock, parser, gen = reconnected
            self._call(self.reconnected_callback)

    def _read_connection(self, sock: Any, parser: P.Parser, gen: int) -> BaseException:
        """Read and dispatch until the connection fails; returns why."""
        try:
            while True:
                while True:
                    op = parser.next_op()
                    if op is None:
                        break
                    self._dispatch(op)
                data = sock.recv(65536)
                if not data:
                    return ConnectionLost("server closed the connection")
                parser.feed(data)
        except ProtocolError as exc:
            log.warning("protocol error from the server, dropping the connection: %s", exc)
            return exc
        except OSError as exc:
            return exc

    def _reconnect(self) -> Optional[Tuple[Any, P.Parser, int]]:
        if self.max_reconnect_attempts == 0:
            return None
        attempts = 0
        delay = self.reconnect_wait
        while True:
            if self._closed_evt.wait(delay):
                return None
            try:
                sock, parser, info = self._connect_once()
            except Error as exc:
                attempts += 1
                if isinstance(exc, AuthorizationError):
                    # Retrying cannot help until the server's credentials
                    # change; the backoff keeps it from spinning.
                    log.error("reconnect attempt %d to %s refused: %s", attempts, self.url, exc)
                    self._report(exc)
                else:
                    log.debug("reconnect attempt %d failed: %s", attempts, exc)
                if self.max_reconnect_attempts is not None and attempts >= self.max_reconnect_attempts:
                    return None
                delay = min(max(delay, 0.01) * 2, self.reconnect_max_wait)
                continue
            if not self._activate(sock, info):
                return None
            return sock, parser, self._gen

    def _connection_lost(self, gen: int, error: BaseException) -> None:
        """The connection of generation ``gen`` broke: fail what waits on it."""
        with self._lock:
            if gen != self._gen or self._state != _CONNECTED:
                return
            self._state = _DISCONNECTED
            self._out.clear()
            pending = list(self._pending)
            self._pending.clear()
            sock = self._sock
            self._state_cond.notify_all()
            self._drained_cond.notify_all()
        why = str(error) or type(error).__name__
        if self._last_error is not None:
            why += f" (last server error: {self._last_error.text})"
        log.info("connection to %s lost: %s", self.url, why)
        for p in pending:
            p.fail(ConnectionLost(f"connection lost before the reply to {p.kind}: {why}"))
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self._call(self.disconnected_callback)

    def _flush_forever(self) -> None:
        while True:
            with self._lock:
                while self._state != _CLOSED and not (self._state == _CONNECTED and self._out):
                    self._flush_cond.wait()
                if self._state == _CLOSED:
                    return
                data = bytes(self._out)
                self._out.clear()
                sock = self._sock
                gen = self._gen
                self._flushing = True
                self._drained_cond.notify_all()
            try:
                assert sock is not None
                sock.sendall(data)
            except OSError as exc:
                self._connection_lost(gen, exc)
            finally:
                with self._lock:
                    self._flushing = False
                    self._drained_cond.notify_all()

    # ------------------------------------------------------------------
    # Closing

    def close(self, timeout: float = 2.0) -> None:
        """Close the client: write what is buffered (up to ``timeout``
        seconds), then close the connection. Commands still waiting fail with
        :class:`~docketd_client.ConnectionClosed`; subscriptions end. Idempotent."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._state == _CONNECTED and (self._out or self._flushing):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._drained_cond.wait(remaining)
        self._shutdown(ConnectionClosed("client closed"))
        current = threading.current_thread()
        for thread in (getattr(self, "_reader", None), getattr(self, "_flusher", None)):
            if thread is not None and thread is not current and thread.is_alive():
                thread.join(max(deadline - time.monotonic(), 0.5))

    def _shutdown(self, error: BaseException) -> None:
        with self._lock:
            if self._state == _CLOSED:
                return
            self._state = _CLOSED
            self._closed_evt.set()
            pending = list(self._pending)
            self._pending.clear()
            self._out.clear()
            sock = self._sock
            subs = list(self._subs.values())
            self._subs.clear()
            waiters = list(self._replies.values())
            self._state_cond.notify_all()
            self._flush_cond.notify_all()
            self._drained_cond.notify_all()
        for p in pending:
            p.fail(error)
        for w in waiters:
            w.error = error
            w.event.set()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        for sub in subs:
            sub._close()

    # ------------------------------------------------------------------
    # Sending

    def _check_line(self, data: bytes) -> None:
        end = data.find(b"\r\n")
        if end > self.max_control_line:
            raise BadArgument(f"command line of {end} bytes is above the limit of {self.max_control_line}")

    def _check_payload(self, size: int) -> None:
        limit = self.max_payload
        if limit is not None and size > limit:
            raise BadArgument(f"payload of {size} bytes is above the server's max_payload of {limit}")

    def _send(self, data: bytes) -> None:
        """Queue a command that gets no reply (PUB, HPUB, SUB, UNSUB)."""
        self._check_line(data)
        deadline = None if self.request_timeout is None else time.monotonic() + self.request_timeout
        with self._lock:
            while True:
                if self._state == _CLOSED:
                    raise ConnectionClosed("client is closed")
                if self._state != _CONNECTED:
                    if len(self._out) + len(data) > self.reconnect_buffer_size:
                        raise ConnectionLost("disconnected, and the reconnect buffer is full")
                    break
                if len(self._out) < self.max_buffered_output:
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise Timeout("output buffer stayed full")
                self._drained_cond.wait(remaining)
            self._out += data
            self._flush_cond.notify()

    def _request(self, kind: str, data: bytes, timeout: Optional[float] = _DEFAULT) -> Any:
        """Send a command that gets exactly one reply and wait for it.

        The command is sent only over an established connection (waiting for
        a reconnect if need be). On timeout the reply, when it comes, is
        dropped; a job reserved that way is given back with FAIL retry=0.
        """
        self._check_line(data)
        if timeout is _DEFAULT:
            timeout = self.request_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        pending = _Pending(kind)
        with self._lock:
            while self._state != _CONNECTED:
                if self._state == _CLOSED:
                    raise ConnectionClosed("client is closed")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise ConnectionLost(f"not connected to the server; {kind} was not sent")
                self._state_cond.wait(remaining)
            self._pending.append(pending)
            self._out += data
            self._flush_cond.notify()
        remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        if not pending.event.wait(remaining):
            with self._lock:
                if not pending.event.is_set():
                    pending.abandoned = True
                    raise Timeout(f"no reply to {kind} within {timeout}s")
        if pending.error is not None:
            raise pending.error
        return pending.result

    # ------------------------------------------------------------------
    # Receiving (reader thread)

    def _dispatch(self, op: P.Op) -> None:
        with self._lock:
            head = self._pending[0] if self._pending else None
            where = P.route(op, head.kind if head is not None else None)
            if where == "reply":
                self._pending.popleft()
            elif where == "ping" and self._state == _CONNECTED:
                self._out += P.encode_pong()
                self._flush_cond.notify()
        if where == "message":
            assert isinstance(op, P.MsgOp)
            self._on_msg(op)
        elif where == "info":
            assert isinstance(op, P.Info)
            self._info = op.data
        elif where == "server_error":
            assert isinstance(op, P.Err)
            error = ServerError(op.text)
            self._last_error = error
            log.warning("server error: %s", op.text)
            self._report(error)
        elif where == "reply":
            assert head is not None
            self._on_reply(head, op)

    def _on_reply(self, head: _Pending, op: P.Op) -> None:
        try:
            head.result = P.interpret_reply(head.kind, op)
        except DocketError as exc:
            head.error = exc
        except ProtocolError as exc:
            head.fail(exc)
            raise
        with self._lock:
            abandoned = head.abandoned
            head.event.set()
            if abandoned and isinstance(head.result, Job):
                # Nobody waits for this job any more: give it back at once.
                log.info("giving back job %d reserved after its caller timed out", head.result.id)
                self._pending.append(_abandoned("fail"))
                self._out += P.encode_fail(head.result.id, b"reservation abandoned by the client", retry=0)
                self._flush_cond.notify()

    def _on_msg(self, op: P.MsgOp) -> None:
        with self._lock:
            sub = self._subs.get(op.sid)
            if sub is None:
                return
            sub._delivered += 1
            done = sub._max is not None and sub._delivered >= sub._max
            if done:
                del self._subs[op.sid]
        msg = Msg(op.subject, op.sid, op.reply, op.payload, op.header_items, op.status, op.description, self._respond)
        sub._push(msg)
        if done:
            sub._close()

    def _respond(self, reply: str, data: bytes) -> None:
        self.publish(reply, data)

    def _report(self, exc: BaseException) -> None:
        if self.error_callback is not None:
            try:
                self.error_callback(exc)
            except Exception:
                log.exception("error_callback raised")
        else:
            log.debug("asynchronous error: %s", exc)

    @staticmethod
    def _call(callback: Optional[Callable[[], None]]) -> None:
        if callback is not None:
            try:
                callback()
            except Exception:
                log.exception("callback raised")

    # ------------------------------------------------------------------
    # Pub/sub

    def publish(
        self,
        subject: str,
        data: P.Payload = b"",
        reply: Optional[str] = None,
        headers: Optional[P.HeadersArg] = None,
    ) -> None:
        """Publish a message (``PUB``, or ``HPUB`` with headers). Fire and
        forget; :meth:`flush` waits until the server has seen it. While
        disconnected, publishes are buffered (up to ``reconnect_buffer_size``)."""
        wire = P.encode_publish(subject, data, reply, headers)
        payload_size = len(P.to_bytes(data)) + (len(P.encode_headers(headers)) if headers else 0)
        self._check_payload(payload_size)
        self._send(wire)

    def subscribe(
        self,
        subject: str,
        queue: Optional[str] = None,
        callback: Optional[Callable[[Msg], Any]] = None,
        *,
        timeout: Optional[float] = None,
        max_pending: Optional[int] = None,
    ) -> Subscription:
        """Subscribe to ``subject`` (wildcards ``*`` and ``>`` allowed), in
        queue group ``queue`` if given. With ``callback``, each message is
        passed to it on the subscription's own thread; otherwise read the
        returned :class:`Subscription` (``timeout`` ends iteration after that
        many idle seconds)."""
        return self._subscribe(subject, queue, callback, timeout, max_pending)

    def _subscribe(
        self,
        subject: str,
        queue: Optional[str],
        callback: Optional[Callable[[Msg], Any]],
        timeout: Optional[float],
        max_pending: Optional[int],
        inline: Optional[Callable[[Msg], None]] = None,
    ) -> Subscription:
        P.check_subject(subject, wildcards=True)
        sid = str(next(self._sids))
        wire = P.encode_subscribe(subject, sid, queue)  # validates the queue group too
        self._check_line(wire)
        sub = Subscription(self, sid, subject, queue, callback, timeout, max_pending or self.max_pending_msgs, inline)
        with self._lock:
            if self._state == _CLOSED:
                raise ConnectionClosed("client is closed")
            self._subs[sid] = sub
            if self._state == _CONNECTED:  # otherwise the reconnect sends it
                self._out += wire
                self._flush_cond.notify()
        sub._start()
        return sub

    def _unsubscribe(self, sub: Subscription, max_msgs: Optional[int]) -> None:
        if max_msgs is not None and (isinstance(max_msgs, bool) or not isinstance(max_msgs, int) or max_msgs < 0):
            raise BadArgument(f"max_msgs must be a non-negative integer, not {max_msgs!r}")
        with self._lock:
            if self._subs.get(sub.sid) is not sub:
                return
            ending = max_msgs is None or sub._delivered >= max_msgs
            if ending:
                del self._subs[sub.sid]
            else:
                sub._max = max_msgs
            if self._state == _CONNECTED:
                self._out += P.encode_unsubscribe(sub.sid, None if ending else max_msgs)
                self._flush_cond.notify()
        if ending:
            sub._close()

    def _ensure_inbox(self) -> str:
        with self._inbox_lock:
            if self._inbox is None:
                prefix = "_INBOX." + secrets.token_hex(11)
                self._subscribe(prefix + ".*", None, None, None, None, inline=self._on_inbox_msg)
                self._inbox = prefix
            return self._inbox

    def _on_inbox_msg(self, msg: Msg) -> None:
        token = msg.subject.rsplit(".", 1)[-1]
        with self._lock:
            waiter = self._replies.get(token)
            if waiter is not None and waiter.accept is not None and msg.status is None and not waiter.accept(msg):
                return  # e.g. a subscriber's answer while publish_routed waits for the route's
            self._replies.pop(token, None)
        if waiter is not None:
            waiter.msg = msg
            waiter.event.set()

    def new_inbox(self) -> str:
        """A unique subject for replies (not subscribed)."""
        return "_INBOX." + secrets.token_hex(11)

    def request(
        self,
        subject: str,
        data: P.Payload = b"",
        timeout: float = 5.0,
        headers: Optional[P.HeadersArg] = None,
    ) -> Msg:
        """Publish a request and wait for the first reply. Raises
        :class:`~docketd_client.NoResponders` when no subscriber got the request and
        :class:`~docketd_client.Timeout` when no reply came in ``timeout`` seconds."""
        return self._request_msg(subject, data, timeout, headers, None)

    def publish_routed(
        self,
        subject: str,
        data: P.Payload = b"",
        timeout: float = 5.0,
        headers: Optional[P.HeadersArg] = None,
    ) -> List[int]:
        """Publish a message that routes (:meth:`route`) turn into jobs, and
        return the ids of those jobs once they are on disk: the server
        publishes ``{"jobs":[...]}`` to the message's reply subject after the
        commit. Subscribers still get the message (answers they send to the
        reply subject are skipped here).

        Returns ``[]`` when neither a route nor a subscriber took the
        message (no responders). Raises
        :class:`~docketd_client.StoreFull` when the store refused the routed
        jobs (then none was made; subscribers still got the message), and
        :class:`~docketd_client.Timeout` when no route matched but some
        subscriber did not answer either."""
        try:
            msg = self._request_msg(subject, data, timeout, headers, lambda m: P.is_routed_reply(m.data))
        except NoResponders:
            return []
        return P.parse_routed_reply(msg.data)

    def _request_msg(
        self,
        subject: str,
        data: P.Payload,
        timeout: float,
        headers: Optional[P.HeadersArg],
        accept: Optional[Callable[[Msg], bool]],
    ) -> Msg:
        inbox = self._ensure_inbox()
        token = str(next(self._reply_ids))
        waiter = _ReplyWaiter(accept)
        with self._lock:
            self._replies[token] = waiter
        try:
            self.publish(subject, data, reply=f"{inbox}.{token}", headers=headers)
            if not waiter.event.wait(timeout):
                raise Timeout(f"no reply to the request on {subject!r} within {timeout}s")
        finally:
            with self._lock:
                self._replies.pop(token, None)
        if waiter.error is not None:
            raise waiter.error
        assert waiter.msg is not None
        if waiter.msg.status == 503:
            raise NoResponders(f"no responders on {subject!r}")
        return waiter.msg

    def flush(self, timeout: Optional[float] = _DEFAULT) -> None:
        """Send PING and wait for PONG: everything sent before has been
        handled by the server."""
        self._request("ping", P.encode_ping(), timeout)

    # ------------------------------------------------------------------
    # Jobs

    def enqueue(
        self,
        queue: str,
        payload: P.Payload = b"",
        *,
        delay: Optional[P.Duration] = None,
        at: Optional[Union[int, float, datetime.datetime]] = None,
        priority: Optional[int] = None,
        attempts: Optional[int] = None,
        backoff: Optional[str] = None,
        jitter: Optional[float] = None,
        lease: Optional[P.Duration] = None,
        key: Optional[str] = None,
        group: Optional[str] = None,
        timeout: Optional[float] = _DEFAULT,
    ) -> EnqueueResult:
        """Add a job (``ENQ``); the reply comes once it is on disk.

        Durations are seconds (``0.25``) or strings (``"250ms"``, ``"30s"``);
        ``at`` is unix seconds or an aware datetime; ``backoff`` is
        ``"fixed:5s"``, ``"exp:1s:1h"`` (see :func:`docketd_client.fixed`,
        :func:`docketd_client.exponential`). With ``key`` a retry after
        :class:`~docketd_client.ConnectionLost` is safe: it answers ``duplicate``
        instead of adding a second job. ``group`` names the group (tenant,
        customer, ...) whose ``group_rate`` applies and that a
        ``throttle`` with ``scope="group"`` holds.
        """
        body = P.to_bytes(payload)
        self._check_payload(len(body))
        wire = P.encode_enqueue(
            queue, body, delay=delay, at=at, priority=priority, attempts=attempts,
            backoff=backoff, jitter=jitter, lease=lease, key=key, group=group,
        )
        return self._request("enqueue", wire, timeout)  # type: ignore[no-any-return]

    def reserve(self, queues: Union[str, Iterable[str]], timeout: Optional[P.Duration] = None) -> Optional[Job]:
        """Take the next job of the first listed queue that has one
        (``RESERVE``), or None when ``timeout`` passes (None: wait for a job;
        0: do not wait). The server does not read this connection while it
        waits."""
        wire = P.encode_reserve(queues, timeout)
        if timeout is None or self.request_timeout is None:
            wait = None
        else:
            wait = P.duration_seconds(P.format_duration(timeout)) + self.request_timeout
        return self._request("reserve", wire, wait)  # type: ignore[no-any-return]

    def ack(
        self, job_id: Union[int, Job], result: Optional[P.Payload] = None, *, attempt: Optional[int] = None
    ) -> None:
        """Complete a job this connection holds, keeping ``result`` with it.

        ``attempt`` (here and for :meth:`fail`, :meth:`progress`,
        :meth:`touch`): the attempt this caller holds (``job.attempt``);
        the server refuses the command with :class:`~docketd_client.NotHeld` when
        the job has moved on to another attempt. Nothing is sent when None.
        """
        if result is not None:
            self._check_payload(len(P.to_bytes(result, "result")))
        self._request("ack", P.encode_ack(job_id, result, attempt=attempt))

    def fail(
        self,
        job_id: Union[int, Job],
        reason: Optional[P.Payload] = None,
        retry: Union[None, bool, P.Duration] = None,
        *,
        attempt: Optional[int] = None,
        throttle: Optional[P.Duration] = None,
        scope: Optional[str] = None,
    ) -> FailOutcome:
        """End this attempt of a job this connection holds. ``retry``: None
        follows the job's backoff, False makes it dead at once, a duration
        retries after that long (still bounded by its attempts).

        ``throttle`` (a duration; not with ``retry``): a downstream limit was
        hit. The job goes back in its place without using an attempt and
        its queue (``scope="group"``: only its group's jobs) starts nothing
        for that long; the outcome is ``("throttled", ms)``."""
        if reason is not None:
            self._check_payload(len(P.to_bytes(reason, "reason")))
        return self._request(  # type: ignore[no-any-return]
            "fail", P.encode_fail(job_id, reason, retry, attempt=attempt, throttle=throttle, scope=scope)
        )

    def progress(
        self,
        job_id: Union[int, Job],
        percent: int,
        note: Optional[P.Payload] = None,
        *,
        attempt: Optional[int] = None,
    ) -> None:
        """Record progress (0..100, optional note) and extend the lease."""
        if note is not None:
            self._check_payload(len(P.to_bytes(note, "note")))
        self._request("progress", P.encode_progress(job_id, percent, note, attempt=attempt))

    def touch(self, job_id: Union[int, Job], *, attempt: Optional[int] = None) -> None:
        """Extend the lease of a job this connection holds (heartbeat)."""
        self._request("touch", P.encode_touch(job_id, attempt=attempt))

    def inspect(self, job_id: Union[int, Job]) -> JobInfo:
        """One job's document (``INSPECT``): a :class:`~docketd_client.JobInfo`
        (state, attempts, times, last_error, result, ...; ``doc["state"]``
        works too)."""
        return JobInfo.from_dict(self._request("inspect", P.encode_inspect(job_id)))

    def dead(self, queue: str, limit: Optional[int] = None) -> List[JobInfo]:
        """The queue's dead jobs, oldest first (``DEAD``; server default limit 100)."""
        return [JobInfo.from_dict(doc) for doc in self._request("dead", P.encode_dead(queue, limit))]

    def wait(self, job_id: Union[int, Job, EnqueueResult], timeout: Optional[P.Duration] = None) -> JobOutcome:
        """Wait until the job is completed or dead (``WAIT``); answers at once
        if it already is. Returns a :class:`~docketd_client.JobOutcome`:
        ``completed`` with its ``result``, ``dead`` with its ``error``, or,
        when ``timeout`` passes first, ``pending`` with the job's current
        ``state``. ``timeout=None`` waits as long as it takes.
        :class:`~docketd_client.NotFound` when there is no such job (or it is
        deleted while waited for).

        Like a waiting ``reserve``, a waiting WAIT holds back this
        connection's later commands: give long waits a client of their own.
        """
        if isinstance(job_id, EnqueueResult):
            job_id = job_id.id
        wire = P.encode_wait(job_id, timeout)
        if timeout is None or self.request_timeout is None:
            wait = None
        else:
            wait = P.duration_seconds(P.format_duration(timeout)) + self.request_timeout
        return self._request("wait", wire, wait)  # type: ignore[no-any-return]

    def retry(self, job_id: Union[int, Job]) -> None:
        """Run a dead job again, with its attempts reset."""
        self._request("retry", P.encode_retry(job_id))

    def retry_queue(self, queue: str) -> int:
        """Run every dead job of a queue again; returns how many."""
        return self._request("retry_queue", P.encode_retry_queue(queue))  # type: ignore[no-any-return]

    def delete(self, job_id: Union[int, Job]) -> None:
        """Forget a job in any state."""
        self._request("delete", P.encode_delete(job_id))

    def help(self) -> str:
        """The server's list of verbs."""
        return self._request("help", P.encode_help())  # type: ignore[no-any-return]

    # ------------------------------------------------------------------
    # Queues, server, routes, events

    def queue(self, name: str) -> QueueInfo:
        """The queue's settings and state (``QUEUE <name>``). Reading a queue
        never creates it: an unknown one reads as empty, with defaults."""
        return QueueInfo.from_dict(self._request("queue", P.encode_queue(name)))

    def queues(self) -> List[QueueInfo]:
        """Every queue's document, sorted by name (``QUEUES``)."""
        return [QueueInfo.from_dict(doc) for doc in self._request("queues", P.encode_queues())]

    def stats(self) -> ServerStats:
        """The server's counters (``STATS``)."""
        return ServerStats.from_dict(self._request("stats", P.encode_stats()))

    def set_queue(
        self,
        name: str,
        *,
        rate: Any = None,
        group_rate: Any = None,
        concurrency: Union[None, int, str] = None,
        attempts: Union[None, int, str] = None,
        backoff: Optional[str] = None,
        jitter: Union[None, float, str] = None,
        lease: Optional[P.Duration] = None,
        keep_completed: Union[None, int, str] = None,
        keep_dead: Union[None, int, str] = None,
    ) -> None:
        """Change queue settings (``QUEUE <name> <setting>=<value> ...``),
        persisted; returns once the change is on disk.

        A setting left at ``None`` is not sent and keeps its current value;
        the string ``"none"`` returns it to its default (no ``rate``, no
        ``group_rate``, no ``concurrency`` cap, ``attempts`` 3, ...).
        ``rate``/``group_rate``: ``"100/1s"`` or ``(100, "1s")``;
        ``attempts``, ``backoff``, ``jitter``, ``lease`` are defaults for
        jobs enqueued from now on."""
        wire = P.encode_set_queue(
            name, rate=rate, group_rate=group_rate, concurrency=concurrency, attempts=attempts,
            backoff=backoff, jitter=jitter, lease=lease, keep_completed=keep_completed, keep_dead=keep_dead,
        )
        self._request("set_queue", wire)

    def pause(self, name: str) -> None:
        """Start nothing more of the queue (``PAUSE``); ENQ still works."""
        self._request("pause", P.encode_pause(name))

    def resume(self, name: str) -> None:
        """Start the queue's jobs again (``RESUME``)."""
        self._request("resume", P.encode_resume(name))

    def route(
        self,
        pattern: str,
        queue: str,
        *,
        delay: Optional[P.Duration] = None,
        priority: Optional[int] = None,
        attempts: Optional[int] = None,
        backoff: Optional[str] = None,
        jitter: Optional[float] = None,
        lease: Optional[P.Duration] = None,
        group: Optional[str] = None,
    ) -> int:
        """Make every message published on ``pattern`` (wildcards allowed,
        not ``$...``) a job on ``queue`` with these ENQ options (``ROUTE``;
        no ``key``/``at``: each message makes a new job). Returns the route
        id, never handed out twice."""
        wire = P.encode_route(
            pattern, queue, delay=delay, priority=priority, attempts=attempts, backoff=backoff,
            jitter=jitter, lease=lease, group=group,
        )
        return self._request("route", wire)  # type: ignore[no-any-return]

    def unroute(self, route_id: Union[int, Route]) -> None:
        """Remove a route (``UNROUTE``); :class:`~docketd_client.NotFound` if there
        is none with that id."""
        self._request("unroute", P.encode_unroute(route_id))

    def routes(self) -> List[Route]:
        """Every route (``ROUTES``)."""
        return [Route.from_dict(doc) for doc in self._request("routes", P.encode_routes())]

    def events(
        self,
        queue: str = "*",
        event: str = "*",
        *,
        callback: Optional[Callable[[JobEvent], Any]] = None,
        timeout: Optional[float] = None,
        max_pending: Optional[int] = None,
    ) -> "EventStream":
        """Follow job lifecycle events: a subscription to
        ``$JOB.<queue>.<event>`` (``"*"``: every queue, every event) whose
        messages are read as :class:`~docketd_client.JobEvent` objects.

        Iterate the returned :class:`EventStream` (``for ev in
        client.events("emails")``; ``timeout`` ends the loop after that many
        idle seconds) or pass ``callback``. The subscription is in place on
        the server when this returns (it is flushed), so every later
        transition is seen."""
        if queue != "*":
            P.check_queue_name(queue)
        if event != "*":
            P._token(event, "event")
        subject = f"$JOB.{queue}.{event}"
        sub = self.subscribe(
            subject, callback=None if callback is None else _event_callback(callback),
            timeout=timeout, max_pending=max_pending,
        )
        self.flush()
        return EventStream(sub)


def _event_callback(callback: Callable[[JobEvent], Any]) -> Callable[[Msg], Any]:
    """A subscription callback that passes each message on as a JobEvent."""

    def call(msg: Msg) -> Any:
        return callback(JobEvent.from_msg(msg))

    return call


def _abandoned(kind: str) -> _Pending:
    pending = _Pending(kind)
    pending.abandoned = True
    return pending


def connect(url: str = DEFAULT_URL, **options: Any) -> Client:
    """``Client(url, **options)``."""
    return Client(url, **options)

