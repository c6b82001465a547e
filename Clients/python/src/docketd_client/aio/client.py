"""The asyncio client: one connection on asyncio streams, pipelined.

The same protocol code as the threaded client (:mod:`docketd_client.protocol`
for the bytes, :mod:`docketd_client._common` for URLs, credentials, TLS and
the handshake), driven by one reader task instead of threads:

* ``CONNECT {"verbose":false,...}``: PUB, HPUB, SUB and UNSUB get no reply,
  every other command exactly one, in order. A command's future is queued
  and its bytes written with no ``await`` in between, so the queue order is
  the wire order; the reader task completes the oldest future with each
  reply.
* When the connection breaks, every command waiting for a reply fails with
  :class:`~docketd_client.ConnectionLost`, and the reader reconnects with
  backoff, subscribes again and sends the publishes buffered meanwhile.
  Commands made while disconnected wait (up to their timeout) for the new
  connection.
* A caller that stops waiting (timeout, cancellation) leaves its place in
  the queue; a job reserved for it is handed back (``FAIL retry=0``).

The connection is opened on a plain socket, which reads the server's INFO;
asyncio's streams then take the socket over, with TLS when INFO asks for it
(or before INFO with ``tls_handshake_first``). This uses only public asyncio
APIs that exist since Python 3.7.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import inspect as _inspect
import itertools
import logging
import secrets
import socket
import ssl
from typing import Any, Awaitable, Callable, Deque, Dict, Generator, Iterable, List, Optional, Tuple, Union

from .. import protocol as P
from .._common import DEFAULT_URL, Handshake, TLSConfig, parse_url, redact_url, resolve_credentials
from ..errors import (
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
from ..models import (
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

__all__ = ["Client", "Subscription", "EventStream", "connect"]

log = logging.getLogger(__name__)

_CONNECTED = "connected"
_DISCONNECTED = "disconnected"
_CLOSED = "closed"

_DEFAULT: Any = object()  # "use the client's request_timeout"
_CLOSED_MARK: Any = object()  # ends a subscription's message queue

Callback = Callable[[Msg], Union[None, Awaitable[Any]]]


class _Pending:
    """A command waiting for its reply; ``future`` is None for a command
    nobody waits for (a hand-back)."""

    __slots__ = ("kind", "future")

    def __init__(self, kind: str, future: "Optional[asyncio.Future[Any]]") -> None:
        self.kind = kind
        self.future = future


class Subscription:
    """A subscription; also an async iterator over its messages.

    Without a callback, read it with ``async for msg in sub`` (ends when the
    subscription ends or, with a ``timeout``, after that many idle seconds)
    or ``await sub.next_msg(timeout)``. With a callback (a function or a
    coroutine function), a task of its own calls it for each message in
    order.
    """

    def __init__(
        self,
        client: "Client",
        sid: str,
        subject: str,
        queue: Optional[str],
        callback: Optional[Callback],
        timeout: Optional[float],
        max_pending: int,
        inline: Optional[Callable[[Msg], None]] = None,
    ) -> None:
        self._client = client
        self.sid = sid
        self.subject = subject
        self.queue = queue
        self.callback = callback
        #: Idle timeout (seconds) that ends ``async for msg in sub``.
        self.timeout = timeout
        self.max_pending = max_pending
        self._inline = inline
        self._queue: "asyncio.Queue[Any]" = asyncio.Queue()
        self._max: Optional[int] = None
        self._delivered = 0
        self._dropped = 0
        self._closed = False
        self._task: "Optional[asyncio.Task[None]]" = None

    def __repr__(self) -> str:
        return f"<aio.Subscription sid={self.sid} subject={self.subject!r} queue={self.queue!r}>"

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

    async def unsubscribe(self, max_msgs: Optional[int] = None) -> None:
        """End the subscription now, or after ``max_msgs`` messages in total."""
        self._client._unsubscribe(self, max_msgs)
        await self._client._drain()

    async def next_msg(self, timeout: Optional[float] = None) -> Msg:
        """The next message; :class:`~docketd_client.Timeout` when none
        arrives within ``timeout`` seconds (None: wait),
        :class:`~docketd_client.SubscriptionClosed` once it has ended and
        every message was taken."""
        if self.callback is not None or self._inline is not None:
            raise BadArgument("a subscription with a callback cannot be read with next_msg")
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            raise Timeout(f"no message on {self.subject!r} within {timeout}s") from None
        if item is _CLOSED_MARK:
            self._queue.put_nowait(_CLOSED_MARK)  # every later reader sees it too
            raise SubscriptionClosed(f"subscription to {self.subject!r} has ended")
        return item  # type: ignore[no-any-return]

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> Msg:
        try:
            return await self.next_msg(self.timeout)
        except (Timeout, SubscriptionClosed):
            raise StopAsyncIteration from None

    # -- called by the client --------------------------------------------

    def _push(self, msg: Msg) -> None:
        if self._inline is not None:
            self._inline(msg)
            return
        if self._queue.qsize() >= self.max_pending:
            self._dropped += 1
            self._client._report(Error(f"slow consumer: dropped a message on {self.subject!r} (sid {self.sid})"))
            return
        self._queue.put_nowait(msg)

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(_CLOSED_MARK)

    def _start(self) -> None:
        if self.callback is not None:
            self._task = asyncio.ensure_future(self._dispatch())

    async def _dispatch(self) -> None:
        assert self.callback is not None
        while True:
            item = await self._queue.get()
            if item is _CLOSED_MARK:
                return
            try:
                result = self.callback(item)
                if _inspect.isawaitable(result):
                    await result
            except Exception as exc:  # a callback's bug must not stop delivery
                self._client._report(exc)

    def _resubscribe_bytes(self) -> bytes:
        out = P.encode_subscribe(self.subject, self.sid, self.queue)
        if self._max is not None:
            out += P.encode_unsubscribe(self.sid, max(self._max - self._delivered, 0))
        return out


class EventStream:
    """Lifecycle events of :meth:`Client.events`: an async iterator of
    :class:`~docketd_client.JobEvent` over one subscription
    (``.subscription``); also an async context manager that unsubscribes."""

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription

    def __repr__(self) -> str:
        return f"<aio.EventStream {self.subscription.subject!r}>"

    async def next_event(self, timeout: Optional[float] = None) -> JobEvent:
        """The next event (:class:`~docketd_client.Timeout`,
        :class:`~docketd_client.SubscriptionClosed` as for ``next_msg``)."""
        return JobEvent.from_msg(await self.subscription.next_msg(timeout))

    async def unsubscribe(self) -> None:
        """Stop following the events."""
        await self.subscription.unsubscribe()

    def __aiter__(self) -> "EventStream":
        return self

    async def __anext__(self) -> JobEvent:
        return JobEvent.from_msg(await self.subscription.__anext__())

    async def __aenter__(self) -> "EventStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.unsubscribe()


class Client:
    """An asyncio connection to docketd (or any NATS server for pub/sub).

    Make one with ``client = await docketd_client.aio.connect(url, ...)`` or
    ``async with docketd_client.aio.connect(url) as client:``. The options
    are those of :class:`docketd_client.Client` (credentials, TLS, timeouts,
    reconnecting); the methods are the same, as coroutines. Callbacks
    (``error_callback``, ``disconnected_callback``, ``reconnected_callback``)
    may be plain functions or coroutine functions.

    Any number of tasks may use one client at once. As on the threaded
    client, a waiting ``reserve`` or ``wait`` holds back the connection's
    later commands (the server reads nothing more until it answers): give
    them a client of their own (the :class:`~docketd_client.aio.Worker`
    does).
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
        error_callback: Optional[Callable[[BaseException], Any]] = None,
        disconnected_callback: Optional[Callable[[], Any]] = None,
        reconnected_callback: Optional[Callable[[], Any]] = None,
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

        self._state = _DISCONNECTED
        self._started = False
        self._secure = False
        self._reader: Optional[asyncio.StreamReader] = None
        self._writer: Optional[asyncio.StreamWriter] = None
        self._parser = P.Parser()
        self._pending: Deque[_Pending] = collections.deque()
        self._subs: Dict[str, Subscription] = {}
        self._sids = itertools.count(1)
        self._info: Dict[str, Any] = {}
        self._last_error: Optional[ServerError] = None
        self._buffered = bytearray()  # publishes and subscriptions while disconnected
        self._gen = 0
        self.reconnects = 0
        self._inbox: Optional[str] = None
        self._replies: Dict[str, Tuple["asyncio.Future[Msg]", Optional[Callable[[Msg], bool]]]] = {}
        self._reply_ids = itertools.count(1)
        self._read_task: "Optional[asyncio.Task[None]]" = None
        self._connected_evt: Optional[asyncio.Event] = None
        self._closed_evt: Optional[asyncio.Event] = None
        self._drain_lock: Optional[asyncio.Lock] = None
        self._tasks: "set[asyncio.Task[Any]]" = set()

    # ------------------------------------------------------------------
    # Context and state

    async def __aenter__(self) -> "Client":
        if not self._started:
            await self.connect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<docketd_client.aio.Client {self.url} {self._state}>"

    @property
    def is_connected(self) -> bool:
        """True while a connection is up."""
        return self._state == _CONNECTED

    @property
    def is_closed(self) -> bool:
        """True once the client is closed."""
        return self._state == _CLOSED

    @property
    def is_secure(self) -> bool:
        """True when the current connection is TLS."""
        return self._secure

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
    def last_error(self) -> Optional[ServerError]:
        """The last asynchronous ``-ERR`` the server sent."""
        return self._last_error

    # ------------------------------------------------------------------
    # Connecting

    async def connect(self) -> "Client":
        """Open the connection (INFO, TLS if asked, CONNECT, PING/PONG).
        Raises :class:`~docketd_client.ConnectError` (an
        :class:`~docketd_client.AuthorizationError` for refused credentials)."""
        if self._started:
            raise RuntimeError("connect() was called already")
        self._started = True
        self._connected_evt = asyncio.Event()
        self._closed_evt = asyncio.Event()
        self._drain_lock = asyncio.Lock()
        try:
            reader, writer, parser, info = await self._open()
        except BaseException:
            self._state = _CLOSED
            raise
        self._activate(reader, writer, parser, info)
        self._read_task = asyncio.ensure_future(self._read_forever())
        return self

    async def _open(self) -> Tuple[asyncio.StreamReader, asyncio.StreamWriter, P.Parser, Dict[str, Any]]:
        host, port = self._addr
        where = f"{host}:{port}"
        try:
            return await asyncio.wait_for(self._handshake(host, port, where), self.connect_timeout)
        except asyncio.TimeoutError:
            raise ConnectError(f"timed out connecting to {where}") from None
        except ConnectError:
            raise
        except ssl.SSLError as exc:
            raise ConnectError(f"TLS with {where} failed: {exc}") from None
        except (OSError, Error) as exc:
            raise ConnectError(f"cannot connect to {where}: {exc}") from None

    async def _handshake(
        self, host: str, port: int, where: str
    ) -> Tuple[asyncio.StreamReader, asyncio.StreamWriter, P.Parser, Dict[str, Any]]:
        loop = asyncio.get_running_loop()
        sock = await _connect_socket(loop, host, port)
        parser = P.Parser()
        shake = Handshake(where, self._credentials, self._tls, self.name, self.echo)
        reader: Optional[asyncio.StreamReader] = None
        writer: Optional[asyncio.StreamWriter] = None

        async def start_tls() -> Tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            if parser.buffered:
                raise ProtocolError("the server sent more than INFO before the TLS handshake")
            return await asyncio.open_connection(
                sock=sock, ssl=self._tls.context(), server_hostname=self._tls.server_hostname(host)
            )

        try:
            if self._tls.handshake_first:
                reader, writer = await start_tls()
            while not shake.done:
                op = parser.next_op()
                if op is None:
                    if reader is None:
                        data = await loop.sock_recv(sock, 65536)
                    else:
                        data = await reader.read(65536)
                    if not data:
                        raise ConnectError(f"{where} closed the connection during the handshake")
                    parser.feed(data)
                    continue
                out = shake.step(op)
                if out == "tls":
                    reader, writer = await start_tls()
                    out = shake.after_tls()
                elif reader is None:
                    reader, writer = await asyncio.open_connection(sock=sock)
                if out:
                    assert writer is not None
                    writer.write(out)  # type: ignore[arg-type]
                    await writer.drain()
        except BaseException:
            if writer is not None:
                writer.close()
            else:
                sock.close()
            raise
        assert reader is not None and writer is not None
        self._secure = shake.secure
        return reader, writer, parser, shake.info

    def _activate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: P.Parser, info: Dict[str, Any]
    ) -> None:
        """Make a handshaken connection the current one; send the
        subscriptions, then what was buffered while disconnected."""
        if self._gen:
            self.reconnects += 1
        self._gen += 1
        self._reader, self._writer, self._parser = reader, writer, parser
        self._info = info
        out = b"".join(sub._resubscribe_bytes() for sub in self._subs.values()) + bytes(self._buffered)
        self._buffered.clear()
        try:  # publish() and the commands wait (drain) while this much is unsent
            writer.transport.set_write_buffer_limits(high=self.max_buffered_output)
        except (AttributeError, NotImplementedError, ValueError):
            pass
        self._state = _CONNECTED
        if out:
            writer.write(out)
        assert self._connected_evt is not None
        self._connected_evt.set()

    async def _read_forever(self) -> None:
        while True:
            error = await self._read_connection()
            if self._state == _CLOSED:
                return
            self._connection_lost(error)
            if not await self._reconnect():
                await self._shutdown(ConnectionClosed(f"connection lost and not re-established: {error}"))
                return
            self._call(self.reconnected_callback)

    async def _read_connection(self) -> BaseException:
        reader, parser = self._reader, self._parser
        assert reader is not None
        try:
            while True:
                while True:
                    op = parser.next_op()
                    if op is None:
                        break
                    self._dispatch(op)
                data = await reader.read(65536)
                if not data:
                    return ConnectionLost("server closed the connection")
                parser.feed(data)
        except ProtocolError as exc:
            log.warning("protocol error from the server, dropping the connection: %s", exc)
            return exc
        except (OSError, EOFError) as exc:
            return exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not leave the client hanging: start over
            log.error("unexpected error reading from %s; dropping the connection", self.url, exc_info=True)
            return exc

    async def _reconnect(self) -> bool:
        if self.max_reconnect_attempts == 0:
            return False
        assert self._closed_evt is not None
        attempts = 0
        delay = self.reconnect_wait
        while True:
            try:
                await asyncio.wait_for(self._closed_evt.wait(), delay)
                return False
            except asyncio.TimeoutError:
                pass
            try:
                reader, writer, parser, info = await self._open()
            except Error as exc:
                attempts += 1
                if isinstance(exc, AuthorizationError):
                    log.error("reconnect attempt %d to %s refused: %s", attempts, self.url, exc)
                    self._report(exc)
                else:
                    log.debug("reconnect attempt %d failed: %s", attempts, exc)
                if self.max_reconnect_attempts is not None and attempts >= self.max_reconnect_attempts:
                    return False
                delay = min(max(delay, 0.01) * 2, self.reconnect_max_wait)
                continue
            if self._state == _CLOSED:
                writer.close()
                return False
            self._activate(reader, writer, parser, info)
            return True

    def _connection_lost(self, error: BaseException) -> None:
        if self._state != _CONNECTED:
            return
        self._state = _DISCONNECTED
        assert self._connected_evt is not None
        self._connected_evt.clear()
        pending = list(self._pending)
        self._pending.clear()
        why = str(error) or type(error).__name__
        if self._last_error is not None:
            why += f" (last server error: {self._last_error.text})"
        log.info("connection to %s lost: %s", self.url, why)
        for p in pending:
            if p.future is not None and not p.future.done():
                p.future.set_exception(ConnectionLost(f"connection lost before the reply to {p.kind}: {why}"))
        if self._writer is not None:
            self._writer.close()
        self._call(self.disconnected_callback)

    # ------------------------------------------------------------------
    # Closing

    async def close(self, timeout: float = 2.0) -> None:
        """Write what is buffered (up to ``timeout`` seconds), then close.
        Commands still waiting fail with
        :class:`~docketd_client.ConnectionClosed`; subscriptions end.
        Idempotent."""
        if self._state == _CLOSED:
            return
        if self._state == _CONNECTED and self._writer is not None:
            try:
                await asyncio.wait_for(self._drain(), timeout)
            except (asyncio.TimeoutError, OSError):
                pass
        await self._shutdown(ConnectionClosed("client closed"))
        task = self._read_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    async def _shutdown(self, error: BaseException) -> None:
        if self._state == _CLOSED:
            return
        self._state = _CLOSED
        if self._closed_evt is not None:
            self._closed_evt.set()
        if self._connected_evt is not None:
            self._connected_evt.set()  # wakes commands waiting for a connection
        pending = list(self._pending)
        self._pending.clear()
        for p in pending:
            if p.future is not None and not p.future.done():
                p.future.set_exception(error)
        replies = list(self._replies.values())
        self._replies.clear()
        for fut, _accept in replies:
            if not fut.done():
                fut.set_exception(error)
        writer = self._writer
        if writer is not None:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            except (asyncio.TimeoutError, OSError, ssl.SSLError, asyncio.CancelledError):
                pass
        subs = list(self._subs.values())
        self._subs.clear()
        for sub in subs:
            sub._close()
        for sub in subs:
            if sub._task is not None and sub._task is not asyncio.current_task():
                try:
                    await asyncio.wait_for(asyncio.shield(sub._task), 1.0)
                except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
                    sub._task.cancel()

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
        """Write a command that gets no reply (PUB, HPUB, SUB, UNSUB), or
        buffer it while disconnected."""
        if self._state == _CLOSED:
            raise ConnectionClosed("client is closed")
        if not self._started:
            raise ConnectionClosed("client is not connected: await connect() first")
        if self._state != _CONNECTED:
            if len(self._buffered) + len(data) > self.reconnect_buffer_size:
                raise ConnectionLost("disconnected, and the reconnect buffer is full")
            self._buffered += data
            return
        assert self._writer is not None
        self._writer.write(data)

    async def _drain(self) -> None:
        """Wait while the transport's buffer is full (backpressure)."""
        writer = self._writer
        if writer is None or self._state != _CONNECTED or self._drain_lock is None:
            return
        async with self._drain_lock:
            try:
                await writer.drain()
            except (OSError, ssl.SSLError, RuntimeError):
                pass  # the reader notices the lost connection

    async def _request(self, kind: str, data: bytes, timeout: Optional[float] = _DEFAULT) -> Any:
        """Send a command that gets exactly one reply and await it (see the
        module docstring)."""
        self._check_line(data)
        if timeout is _DEFAULT:
            timeout = self.request_timeout
        if not self._started:
            raise ConnectionClosed("client is not connected: await connect() first")
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._state != _CONNECTED:
            if self._state == _CLOSED:
                raise ConnectionClosed("client is closed")
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise ConnectionLost(f"not connected to the server; {kind} was not sent")
            assert self._connected_evt is not None
            try:
                await asyncio.wait_for(self._connected_evt.wait(), remaining)
            except asyncio.TimeoutError:
                raise ConnectionLost(f"not connected to the server; {kind} was not sent") from None
        future: "asyncio.Future[Any]" = loop.create_future()
        self._pending.append(_Pending(kind, future))
        assert self._writer is not None
        self._writer.write(data)
        await self._drain()
        remaining = None if deadline is None else max(deadline - loop.time(), 0.0)
        try:
            return await asyncio.wait_for(future, remaining)
        except asyncio.TimeoutError:
            raise Timeout(f"no reply to {kind} within {timeout}s") from None

    # ------------------------------------------------------------------
    # Receiving (the reader task)

    def _dispatch(self, op: P.Op) -> None:
        head = self._pending[0] if self._pending else None
        where = P.route(op, head.kind if head is not None else None)
        if where == "reply":
            assert head is not None
            self._pending.popleft()
            self._on_reply(head, op)
        elif where == "message":
            assert isinstance(op, P.MsgOp)
            self._on_msg(op)
        elif where == "ping":
            if self._writer is not None and self._state == _CONNECTED:
                self._writer.write(P.encode_pong())
        elif where == "info":
            assert isinstance(op, P.Info)
            self._info = op.data
        elif where == "server_error":
            assert isinstance(op, P.Err)
            error = ServerError(op.text)
            self._last_error = error
            log.warning("server error: %s", op.text)
            self._report(error)

    def _on_reply(self, head: _Pending, op: P.Op) -> None:
        future = head.future
        try:
            result = P.interpret_reply(head.kind, op)
        except DocketError as exc:
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        except ProtocolError as exc:
            if future is not None and not future.done():
                future.set_exception(exc)
            raise
        if future is not None and not future.done():
            future.set_result(result)
        elif isinstance(result, Job) and self._writer is not None:
            # Nobody waits for this job any more: give it back at once.
            log.info("giving back job %d reserved after its caller stopped waiting", result.id)
            self._pending.append(_Pending("fail", None))
            self._writer.write(P.encode_fail(result.id, b"reservation abandoned by the client", retry=0))

    def _on_msg(self, op: P.MsgOp) -> None:
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
        self._send(P.encode_publish(reply, data))

    def _report(self, exc: BaseException) -> None:
        if self.error_callback is not None:
            self._call(self.error_callback, exc)
        else:
            log.debug("asynchronous error: %s", exc)

    def _call(self, callback: Optional[Callable[..., Any]], *args: Any) -> None:
        if callback is None:
            return
        try:
            result = callback(*args)
            if _inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(self._callback_done)
        except Exception:
            log.exception("callback raised")

    def _callback_done(self, task: "asyncio.Task[Any]") -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("callback raised: %r", task.exception())

    # ------------------------------------------------------------------
    # Pub/sub

    async def publish(
        self,
        subject: str,
        data: P.Payload = b"",
        reply: Optional[str] = None,
        headers: Optional[P.HeadersArg] = None,
    ) -> None:
        """Publish a message (``PUB``, or ``HPUB`` with headers). Returns
        once it is handed to the transport (waiting if its buffer is full);
        :meth:`flush` waits until the server has seen it."""
        wire = P.encode_publish(subject, data, reply, headers)
        payload_size = len(P.to_bytes(data)) + (len(P.encode_headers(headers)) if headers else 0)
        self._check_payload(payload_size)
        self._check_line(wire)
        self._send(wire)
        await self._drain()

    async def subscribe(
        self,
        subject: str,
        queue: Optional[str] = None,
        callback: Optional[Callback] = None,
        *,
        timeout: Optional[float] = None,
        max_pending: Optional[int] = None,
    ) -> Subscription:
        """Subscribe to ``subject`` (wildcards allowed), in queue group
        ``queue`` if given; ``callback`` (a function or coroutine function)
        gets each message, otherwise iterate the subscription."""
        sub = self._subscribe(subject, queue, callback, timeout, max_pending)
        await self._drain()
        return sub

    def _subscribe(
        self,
        subject: str,
        queue: Optional[str],
        callback: Optional[Callback],
        timeout: Optional[float],
        max_pending: Optional[int],
        inline: Optional[Callable[[Msg], None]] = None,
    ) -> Subscription:
        P.check_subject(subject, wildcards=True)
        sid = str(next(self._sids))
        wire = P.encode_subscribe(subject, sid, queue)
        self._check_line(wire)
        if self._state == _CLOSED:
            raise ConnectionClosed("client is closed")
        sub = Subscription(self, sid, subject, queue, callback, timeout, max_pending or self.max_pending_msgs, inline)
        self._subs[sid] = sub
        if self._state == _CONNECTED:  # otherwise the reconnect sends it
            assert self._writer is not None
            self._writer.write(wire)
        sub._start()
        return sub

    def _unsubscribe(self, sub: Subscription, max_msgs: Optional[int]) -> None:
        if max_msgs is not None and (isinstance(max_msgs, bool) or not isinstance(max_msgs, int) or max_msgs < 0):
            raise BadArgument(f"max_msgs must be a non-negative integer, not {max_msgs!r}")
        if self._subs.get(sub.sid) is not sub:
            return
        ending = max_msgs is None or sub._delivered >= max_msgs
        if ending:
            del self._subs[sub.sid]
        else:
            sub._max = max_msgs
        if self._state == _CONNECTED and self._writer is not None:
            self._writer.write(P.encode_unsubscribe(sub.sid, None if ending else max_msgs))
        if ending:
            sub._close()

    def _ensure_inbox(self) -> str:
        if self._inbox is None:
            prefix = "_INBOX." + secrets.token_hex(11)
            self._subscribe(prefix + ".*", None, None, None, None, inline=self._on_inbox_msg)
            self._inbox = prefix
        return self._inbox

    def _on_inbox_msg(self, msg: Msg) -> None:
        token = msg.subject.rsplit(".", 1)[-1]
        entry = self._replies.get(token)
        if entry is None:
            return
        future, accept = entry
        if accept is not None and msg.status is None and not accept(msg):
            return
        del self._replies[token]
        if not future.done():
            future.set_result(msg)

    def new_inbox(self) -> str:
        """A unique subject for replies (not subscribed)."""
        return "_INBOX." + secrets.token_hex(11)

    async def request(
        self,
        subject: str,
        data: P.Payload = b"",
        timeout: float = 5.0,
        headers: Optional[P.HeadersArg] = None,
    ) -> Msg:
        """Publish a request and await the first reply
        (:class:`~docketd_client.NoResponders`, :class:`~docketd_client.Timeout`)."""
        return await self._request_msg(subject, data, timeout, headers, None)

    async def publish_routed(
        self,
        subject: str,
        data: P.Payload = b"",
        timeout: float = 5.0,
        headers: Optional[P.HeadersArg] = None,
    ) -> List[int]:
        """Publish a message that routes turn into jobs; the ids of those
        jobs once on disk (see :meth:`docketd_client.Client.publish_routed`)."""
        try:
            msg = await self._request_msg(subject, data, timeout, headers, lambda m: P.is_routed_reply(m.data))
        except NoResponders:
            return []
        return P.parse_routed_reply(msg.data)

    async def _request_msg(
        self,
        subject: str,
        data: P.Payload,
        timeout: float,
        headers: Optional[P.HeadersArg],
        accept: Optional[Callable[[Msg], bool]],
    ) -> Msg:
        inbox = self._ensure_inbox()
        token = str(next(self._reply_ids))
        future: "asyncio.Future[Msg]" = asyncio.get_running_loop().create_future()
        self._replies[token] = (future, accept)
        try:
            await self.publish(subject, data, reply=f"{inbox}.{token}", headers=headers)
            msg = await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise Timeout(f"no reply to the request on {subject!r} within {timeout}s") from None
        finally:
            self._replies.pop(token, None)
        if msg.status == 503:
            raise NoResponders(f"no responders on {subject!r}")
        return msg

    async def flush(self, timeout: Optional[float] = _DEFAULT) -> None:
        """PING, and wait for PONG: everything sent before was handled."""
        await self._request("ping", P.encode_ping(), timeout)

    # ------------------------------------------------------------------
    # Jobs

    async def enqueue(
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
        """Add a job (``ENQ``), answered once on disk (see
        :meth:`docketd_client.Client.enqueue`)."""
        body = P.to_bytes(payload)
        self._check_payload(len(body))
        wire = P.encode_enqueue(
            queue, body, delay=delay, at=at, priority=priority, attempts=attempts,
            backoff=backoff, jitter=jitter, lease=lease, key=key, group=group,
        )
        return await self._request("enqueue", wire, timeout)  # type: ignore[no-any-return]

    async def reserve(
        self, queues: Union[str, Iterable[str]], timeout: Optional[P.Duration] = None
    ) -> Optional[Job]:
        """The next job of the first listed queue that has one, or None when
        ``timeout`` passes (None: wait; 0: do not wait)."""
        wire = P.encode_reserve(queues, timeout)
        if timeout is None or self.request_timeout is None:
            wait = None
        else:
            wait = P.duration_seconds(P.format_duration(timeout)) + self.request_timeout
        return await self._request("reserve", wire, wait)  # type: ignore[no-any-return]

    async def ack(
        self, job_id: Union[int, Job], result: Optional[P.Payload] = None, *, attempt: Optional[int] = None
    ) -> None:
        """Complete a job this connection holds (``ACK``)."""
        if result is not None:
            self._check_payload(len(P.to_bytes(result, "result")))
        await self._request("ack", P.encode_ack(job_id, result, attempt=attempt))

    async def fail(
        self,
        job_id: Union[int, Job],
        reason: Optional[P.Payload] = None,
        retry: Union[None, bool, P.Duration] = None,
        *,
        attempt: Optional[int] = None,
        throttle: Optional[P.Duration] = None,
        scope: Optional[str] = None,
    ) -> FailOutcome:
        """End this attempt (``FAIL``; see :meth:`docketd_client.Client.fail`)."""
        if reason is not None:
            self._check_payload(len(P.to_bytes(reason, "reason")))
        return await self._request(  # type: ignore[no-any-return]
            "fail", P.encode_fail(job_id, reason, retry, attempt=attempt, throttle=throttle, scope=scope)
        )

    async def progress(
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
        await self._request("progress", P.encode_progress(job_id, percent, note, attempt=attempt))

    async def touch(self, job_id: Union[int, Job], *, attempt: Optional[int] = None) -> None:
        """Extend the lease of a job this connection holds (heartbeat)."""
        await self._request("touch", P.encode_touch(job_id, attempt=attempt))

    async def inspect(self, job_id: Union[int, Job]) -> JobInfo:
        """One job's document (``INSPECT``)."""
        return JobInfo.from_dict(await self._request("inspect", P.encode_inspect(job_id)))

    async def dead(self, queue: str, limit: Optional[int] = None) -> List[JobInfo]:
        """The queue's dead jobs, oldest first (``DEAD``)."""
        return [JobInfo.from_dict(doc) for doc in await self._request("dead", P.encode_dead(queue, limit))]

    async def wait(
        self, job_id: Union[int, Job, EnqueueResult], timeout: Optional[P.Duration] = None
    ) -> JobOutcome:
        """Wait until the job is completed or dead (``WAIT``); see
        :meth:`docketd_client.Client.wait`."""
        if isinstance(job_id, EnqueueResult):
            job_id = job_id.id
        wire = P.encode_wait(job_id, timeout)
        if timeout is None or self.request_timeout is None:
            wait = None
        else:
            wait = P.duration_seconds(P.format_duration(timeout)) + self.request_timeout
        return await self._request("wait", wire, wait)  # type: ignore[no-any-return]

    async def retry(self, job_id: Union[int, Job]) -> None:
        """Run a dead job again, with its attempts reset (``RETRY``)."""
        await self._request("retry", P.encode_retry(job_id))

    async def retry_queue(self, queue: str) -> int:
        """Run every dead job of a queue again; how many (``RETRY queue=``)."""
        return await self._request("retry_queue", P.encode_retry_queue(queue))  # type: ignore[no-any-return]

    async def delete(self, job_id: Union[int, Job]) -> None:
        """Forget a job in any state (``DEL``)."""
        await self._request("delete", P.encode_delete(job_id))

    async def help(self) -> str:
        """The server's list of verbs (``HELP``)."""
        return await self._request("help", P.encode_help())  # type: ignore[no-any-return]

    # ------------------------------------------------------------------
    # Queues, server, routes, events

    async def queue(self, name: str) -> QueueInfo:
        """The queue's settings and state (``QUEUE <name>``)."""
        return QueueInfo.from_dict(await self._request("queue", P.encode_queue(name)))

    async def queues(self) -> List[QueueInfo]:
        """Every queue's document, sorted by name (``QUEUES``)."""
        return [QueueInfo.from_dict(doc) for doc in await self._request("queues", P.encode_queues())]

    async def stats(self) -> ServerStats:
        """The server's counters (``STATS``)."""
        return ServerStats.from_dict(await self._request("stats", P.encode_stats()))

    async def set_queue(
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
        """Change queue settings, persisted (see
        :meth:`docketd_client.Client.set_queue`)."""
        wire = P.encode_set_queue(
            name, rate=rate, group_rate=group_rate, concurrency=concurrency, attempts=attempts,
            backoff=backoff, jitter=jitter, lease=lease, keep_completed=keep_completed, keep_dead=keep_dead,
        )
        await self._request("set_queue", wire)

    async def pause(self, name: str) -> None:
        """Start nothing more of the queue (``PAUSE``)."""
        await self._request("pause", P.encode_pause(name))

    async def resume(self, name: str) -> None:
        """Start the queue's jobs again (``RESUME``)."""
        await self._request("resume", P.encode_resume(name))

    async def route(
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
        """Turn messages on ``pattern`` into jobs on ``queue`` (``ROUTE``); the route id."""
        wire = P.encode_route(
            pattern, queue, delay=delay, priority=priority, attempts=attempts, backoff=backoff,
            jitter=jitter, lease=lease, group=group,
        )
        return await self._request("route", wire)  # type: ignore[no-any-return]

    async def unroute(self, route_id: Union[int, Route]) -> None:
        """Remove a route (``UNROUTE``)."""
        await self._request("unroute", P.encode_unroute(route_id))

    async def routes(self) -> List[Route]:
        """Every route (``ROUTES``)."""
        return [Route.from_dict(doc) for doc in await self._request("routes", P.encode_routes())]

    async def events(
        self,
        queue: str = "*",
        event: str = "*",
        *,
        callback: Optional[Callable[[JobEvent], Any]] = None,
        timeout: Optional[float] = None,
        max_pending: Optional[int] = None,
    ) -> EventStream:
        """Follow job lifecycle events (``$JOB.<queue>.<event>``): ``async for
        ev in await client.events("emails")``, or ``callback`` (a function or
        coroutine function) for each :class:`~docketd_client.JobEvent`. In
        place on the server when this returns."""
        if queue != "*":
            P.check_queue_name(queue)
        if event != "*":
            P._token(event, "event")
        wrapped: Optional[Callback] = None
        if callback is not None:
            wrapped = _event_callback(callback)
        sub = await self.subscribe(f"$JOB.{queue}.{event}", callback=wrapped, timeout=timeout,
                                   max_pending=max_pending)
        await self.flush()
        return EventStream(sub)


def _event_callback(callback: Callable[[JobEvent], Any]) -> Callback:
    """A subscription callback that passes each message on as a JobEvent."""

    def call(msg: Msg) -> Any:
        return callback(JobEvent.from_msg(msg))

    return call


async def _connect_socket(loop: asyncio.AbstractEventLoop, host: str, port: int) -> socket.socket:
    """A connected non-blocking TCP socket (each address in turn)."""
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:
        raise ConnectError(f"cannot resolve {host}")
    error: Optional[OSError] = None
    for family, type_, proto, _name, addr in infos:
        sock = socket.socket(family, type_, proto)
        sock.setblocking(False)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await loop.sock_connect(sock, addr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
        except BaseException:
            sock.close()
            raise
    assert error is not None
    raise error


class _Connecting:
    """What :func:`connect` returns: await it for a connected client, or use
    it as ``async with connect(...) as client`` (closed at the end)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def __await__(self) -> Generator[Any, None, Client]:
        return self._client.connect().__await__()

    async def __aenter__(self) -> Client:
        return await self._client.connect()

    async def __aexit__(self, *exc: Any) -> None:
        await self._client.close()


def connect(url: str = DEFAULT_URL, **options: Any) -> _Connecting:
    """``await connect(url, **options)``: a connected :class:`Client` (the
    options of :class:`docketd_client.Client`); or ``async with
    connect(url) as client:``."""
    return _Connecting(Client(url, **options))
