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
  the queue; a RESERVE or WAIT of its that still waits is ended (``CANCEL``), and a
  job reserved for it all the same is handed back (``FAIL retry=0``).
* Keepalive as on the threaded client: a PING every ``ping_interval``
  (a task of its own), the connection dropped and made again once more
  than ``max_outstanding_pings`` go unanswered, and TCP keepalive on the
  socket.
* Anything unexpected while reading a connection drops it (then it is
  made again); anything unexpected elsewhere in the reader task closes the
  client, with the error passed to ``error_callback``.

The connection is opened on a plain socket, which reads the server's INFO;
asyncio's streams then take the socket over, with TLS when INFO asks for it
(or before INFO with ``tls_handshake_first``). This uses only public asyncio
APIs that exist since Python 3.7.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect as _inspect
import logging
import socket
import ssl
from typing import Any, Callable, Dict, Generator, Optional, Set, Tuple

from .. import protocol as P
from .._client_core import CLOSED, CLOSED_BY_CALLER, CLOSED_MARK, CONNECTED, DISCONNECTED, PendingReply
from .._client_core import SubscriptionCore, check_seconds, set_keepalive
from .._common import DEFAULT_URL, Handshake, StartTLS
from .._verbs import REQUEST_TIMEOUT, CoroutineVerbs, Request, Subscribe
from ..errors import ConnectError, ConnectionClosed, ConnectionLost, Error, ProtocolError, SubscriptionClosed, Timeout
from ..models import JobEvent, Msg

__all__ = ["Client", "Subscription", "EventStream", "connect"]

log = logging.getLogger(__name__)


class _Pending:
    """A command waiting for its reply; ``future`` is None for a command
    nobody waits for (a hand-back)."""

    __slots__ = ("kind", "future", "holds")

    def __init__(self, kind: str, future: "Optional[asyncio.Future[Any]]", holds: bool = False) -> None:
        self.kind = kind
        self.future = future
        self.holds = holds

    @property
    def waiting(self) -> bool:
        return self.future is not None and not self.future.done()

    def resolve(self, result: Any) -> bool:
        if self.future is None or self.future.done():  # the caller stopped waiting
            return False
        self.future.set_result(result)
        return True

    def reject(self, error: BaseException) -> None:
        if self.future is not None and not self.future.done():
            self.future.set_exception(error)


class _ReplyWaiter:
    """A request waiting for its reply message."""

    __slots__ = ("future", "accept")

    def __init__(self, future: "asyncio.Future[Msg]", accept: Optional[Callable[[Msg], bool]]) -> None:
        self.future = future
        self.accept = accept

    def deliver(self, msg: Msg) -> None:
        if not self.future.done():
            self.future.set_result(msg)

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)


class Subscription(SubscriptionCore):
    """A subscription; also an async iterator over its messages.

    Without a callback, read it with ``async for msg in sub`` (ends when the
    subscription ends or, with a ``timeout``, after that many idle seconds)
    or ``await sub.next_msg(timeout)``. With a callback (a function or a
    coroutine function), a task of its own calls it for each message in
    order.
    """

    _client: "Client"
    _task: "Optional[asyncio.Task[None]]" = None

    def _new_queue(self) -> "asyncio.Queue[Any]":
        return asyncio.Queue()

    def __repr__(self) -> str:
        return f"<aio.Subscription sid={self.sid} subject={self.subject!r} queue={self.queue!r}>"

    async def unsubscribe(self, max_msgs: Optional[int] = None) -> None:
        """End the subscription now, or after ``max_msgs`` messages in total.
        Ended now, its callback is not called again, for messages still
        queued either."""
        self._client._unsubscribe(self, max_msgs)
        await self._client._drain()

    async def next_msg(self, timeout: Optional[float] = None) -> Msg:
        """The next message; :class:`~docketd_client.Timeout` when none
        arrives within ``timeout`` seconds (None: wait),
        :class:`~docketd_client.SubscriptionClosed` once it has ended and
        every message was taken."""
        check_seconds(timeout, "timeout", may_be_none=True)
        self._check_readable()
        try:
            return self._taken(await asyncio.wait_for(self._queue.get(), timeout))
        except asyncio.TimeoutError:
            raise self._no_message(timeout) from None

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> Msg:
        try:
            return await self.next_msg(self.timeout)
        except (Timeout, SubscriptionClosed):
            raise StopAsyncIteration from None

    def _start(self) -> None:
        if self.callback is not None:
            self._task = asyncio.ensure_future(self._deliver_forever())

    async def _deliver_forever(self) -> None:
        """The callback's task: each message in order (a coroutine the
        callback returns is awaited before the next), until the end."""
        assert self.callback is not None
        while True:
            item = await self._queue.get()
            if item is CLOSED_MARK:
                return
            if not self._for_callback(item):
                continue
            try:
                result = self.callback(item)
                if _inspect.isawaitable(result):
                    await result
            except Exception as exc:  # a callback's bug must not stop delivery
                self._client._report(exc)


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


class Client(CoroutineVerbs[Subscription, EventStream]):
    """An asyncio connection to docketd (or any NATS server for pub/sub).

    Make one with ``client = await docketd_client.aio.connect(url, ...)`` or
    ``async with docketd_client.aio.connect(url) as client:``. The options
    are those of :class:`docketd_client.Client` (credentials, TLS, timeouts,
    reconnecting, keepalive); the methods are the same, as coroutines.
    Callbacks (``error_callback``, ``disconnected_callback``,
    ``reconnected_callback``) may be plain functions or coroutine
    functions. A plain one is called on the reader task, so it must not
    block (and cannot await the client); a coroutine one runs as a task of
    its own, so it may await the client (``await client.flush()`` in
    ``reconnected_callback`` goes over the new connection).

    Any number of tasks may use one client at once. As on the threaded
    client, a waiting ``reserve`` or ``wait`` holds back the connection's
    later commands (the server reads nothing more until it answers): give
    them a client of their own (the :class:`~docketd_client.aio.Worker`
    does).
    """


    _log = log
    _subscription_class = Subscription

    def _init_io(self) -> None:
        # One thread runs everything: there is nothing to lock.
        self._lock = self._inbox_lock = contextlib.nullcontext()
        self._started = False
        self._reader: Optional[asyncio.StreamReader] = None
        self._writer: Optional[asyncio.StreamWriter] = None
        self._parser = P.Parser()
        self._buffered = bytearray()  # publishes while disconnected
        self._written = 0  # bytes written to the current connection's transport
        self._pong_ends: "collections.deque[int]" = collections.deque()  # where each PONG ends in them
        self._read_task: "Optional[asyncio.Task[None]]" = None
        self._ping_task: "Optional[asyncio.Task[None]]" = None
        # Made by connect(), inside the event loop.
        self._connected_evt: Optional[asyncio.Event] = None
        self._closed_evt: Optional[asyncio.Event] = None
        self._drain_lock: Optional[asyncio.Lock] = None
        # The loop connect() ran in: the reader, the pinger and every
        # reply's future belong to it (see _not_home).
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._tasks: "Set[asyncio.Task[Any]]" = set()  # coroutines callbacks returned

    async def __aenter__(self) -> "Client":
        if not self._started:
            await self.connect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<docketd_client.aio.Client {self.url} {self._state}>"

    # ------------------------------------------------------------------
    # Connecting

    async def connect(self) -> "Client":
        """Open the connection (INFO, TLS if asked, CONNECT, PING/PONG).
        Raises :class:`~docketd_client.ConnectError` (an
        :class:`~docketd_client.AuthorizationError` for refused credentials),
        or :class:`~docketd_client.ConnectionClosed` when :meth:`close` was
        called meanwhile."""
        if self._started:
            raise RuntimeError("connect() was called already")
        self._started = True
        self._loop = asyncio.get_running_loop()
        self._connected_evt = asyncio.Event()
        self._closed_evt = asyncio.Event()
        self._drain_lock = asyncio.Lock()
        try:
            reader, writer, parser, info = await self._open()
        except BaseException:
            self._state = CLOSED
            raise
        if self._state == CLOSED:  # close() was called while connecting: it wins
            writer.transport.abort()
            raise self._is_closed_error()
        self._activate(reader, writer, parser, info)
        self._read_task = asyncio.ensure_future(self._read_forever())
        if self.ping_interval is not None:
            self._ping_task = asyncio.ensure_future(self._ping_forever())
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
        """INFO is read on the plain socket; asyncio's streams then take it
        over, with TLS when the handshake asks for it."""
        loop = asyncio.get_running_loop()
        sock = await _connect_socket(loop, host, port)
        set_keepalive(sock, self.ping_interval, self.max_outstanding_pings)
        shake = Handshake(where, self._credentials, self._tls, self.name, self.echo)
        reader: Optional[asyncio.StreamReader] = None
        writer: Optional[asyncio.StreamWriter] = None

        async def start_tls() -> Tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await asyncio.open_connection(
                sock=sock, ssl=self._tls.context(), server_hostname=self._tls.server_hostname(host)
            )

        try:
            if self._tls.handshake_first:
                reader, writer = await start_tls()
            while not shake.done:
                data = await (loop.sock_recv(sock, 65536) if reader is None else reader.read(65536))
                for todo in shake.receive(data):
                    if isinstance(todo, StartTLS):
                        reader, writer = await start_tls()
                        continue
                    if writer is None:
                        reader, writer = await asyncio.open_connection(sock=sock)
                    writer.write(todo)
                    await writer.drain()
        except BaseException:
            if writer is not None:
                writer.close()
            else:
                sock.close()
            raise
        assert reader is not None and writer is not None
        self._secure = shake.secure
        return reader, writer, shake.parser, shake.info

    def _activate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: P.Parser, info: Dict[str, Any]
    ) -> None:
        """Make a handshaken connection the current one; send the
        subscriptions, then what was buffered while disconnected."""
        out = self._begin_connection(info) + bytes(self._buffered)
        self._buffered.clear()
        self._reader, self._writer, self._parser = reader, writer, parser
        self._written = 0
        self._pong_ends.clear()
        try:  # publish() and the commands wait (drain) while this much is unsent
            writer.transport.set_write_buffer_limits(high=self.max_buffered_output)
        except (AttributeError, NotImplementedError, ValueError):
            pass
        self._state = CONNECTED
        if out:
            self._write(out)
        assert self._connected_evt is not None
        self._connected_evt.set()

    async def _read_forever(self) -> None:
        """The reader task: reads and dispatches, and reconnects. Anything
        unexpected outside reading a connection (a bug) closes the client,
        reported: never a dead reader behind a client that looks connected."""
        try:
            while True:
                error = await self._read_connection()
                if self._state == CLOSED:
                    return
                self._connection_lost(error)
                if not await self._reconnect():
                    await self._shutdown(ConnectionClosed(f"connection lost and not re-established: {error}"))
                    return
                self._call(self.reconnected_callback)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("the reader task of the client for %s failed; closing the client", self.url, exc_info=True)
            await self._shutdown(ConnectionClosed(f"client closed: its reader failed: {exc!r}"))
            self._report(exc)

    async def _ping_forever(self) -> None:
        """The keepalive task: a PING every ``ping_interval``; a connection
        whose PINGs go unanswered is dropped (the reader then reconnects)."""
        assert self._closed_evt is not None and self.ping_interval is not None
        while True:
            try:
                await asyncio.wait_for(self._closed_evt.wait(), self.ping_interval)
                return
            except asyncio.TimeoutError:
                pass
            try:
                stale = self._keepalive_tick()
                if stale is not None:
                    writer = self._writer
                    self._connection_lost(stale)
                    if writer is not None:
                        writer.transport.abort()  # not close(): nothing more can get through
            except Exception:  # a bug here must not end the keepalive
                log.error("keepalive of the client for %s failed", self.url, exc_info=True)

    async def _read_connection(self) -> BaseException:
        """Read and dispatch until the connection fails; returns why."""
        reader, parser = self._reader, self._parser
        assert reader is not None
        try:
            self._dispatch_parsed(parser)  # what came with the end of the handshake
            while True:
                self._take_in(parser, await reader.read(65536))
        except ProtocolError as exc:
            return self._dropping(exc)
        except (ConnectionLost, OSError, EOFError) as exc:
            return exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not leave the client hanging: start over
            log.error("unexpected error reading from %s; dropping the connection", self.url, exc_info=True)
            self._report(exc)
            return exc

    async def _reconnect(self) -> bool:
        if self.max_reconnect_attempts == 0:
            return False
        assert self._closed_evt is not None
        for attempt, delay in enumerate(self._reconnect_delays(), 1):
            try:
                await asyncio.wait_for(self._closed_evt.wait(), delay)
                return False
            except asyncio.TimeoutError:
                pass
            try:
                reader, writer, parser, info = await self._open()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # this library's errors, and anything a handshake did not foresee
                if self._reconnect_failed(attempt, exc):
                    return False
                continue
            if self._state == CLOSED:
                writer.close()
                return False
            self._activate(reader, writer, parser, info)
            return True
        return False

    def _connection_lost(self, error: BaseException) -> None:
        if self._state != CONNECTED:
            return
        self._state = DISCONNECTED
        assert self._connected_evt is not None
        self._connected_evt.clear()
        pending, waiters = self._take_waiting()
        self._fail_lost(pending, waiters, error)
        if self._writer is not None:
            # Not close(): that would wait to write what is left, which a
            # peer that stopped reading never takes; nothing more is owed.
            self._writer.transport.abort()
        self._call(self.disconnected_callback)

    # ------------------------------------------------------------------
    # Closing

    async def close(self, timeout: float = 2.0) -> None:
        """Write what is buffered (up to ``timeout`` seconds), then close.
        Commands still waiting fail with
        :class:`~docketd_client.ConnectionClosed`; subscriptions end.
        Idempotent.

        From another event loop than the one it connected in, it only marks
        the client closed when that loop is closed (nothing of it can run
        any more), and raises :class:`~docketd_client.ConnectionClosed`
        when that loop is still open (close it there)."""
        check_seconds(timeout, "timeout")
        if self._state == CLOSED:
            return
        if self._not_home() is not None:
            assert self._loop is not None
            if not self._loop.is_closed():
                self._check_home()
            self._state = CLOSED
            self._closed_because = "closed from another event loop after its own had closed"
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._state == CONNECTED and self._writer is not None:
            try:
                await self._drain(timeout)
            except (Timeout, OSError):
                pass
        await self._shutdown(ConnectionClosed(CLOSED_BY_CALLER), max(deadline - loop.time(), 0.0))
        for task in (self._read_task, self._ping_task):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass

    async def _shutdown(self, error: BaseException, timeout: float = 1.0) -> None:
        """Close the client; within ``timeout`` seconds in all, write what
        is left and let subscription callbacks take their last messages."""
        subs = self._mark_closed(error)
        if subs is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        writer = self._writer
        if writer is not None:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), max(deadline - loop.time(), 0.0))
            except (asyncio.TimeoutError, OSError, ssl.SSLError, asyncio.CancelledError):
                # A server that is not reading: what is unwritten cannot
                # get through in time, and close() alone would keep it.
                writer.transport.abort()
        for sub in subs:
            sub._close()
        for sub in subs:
            if sub._task is not None and sub._task is not asyncio.current_task():
                try:
                    await asyncio.wait_for(asyncio.shield(sub._task), max(deadline - loop.time(), 0.0))
                except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
                    sub._task.cancel()

    def _closing(self) -> None:
        if self._closed_evt is not None:
            self._closed_evt.set()
        if self._connected_evt is not None:
            self._connected_evt.set()  # wakes commands waiting for a connection

    # ------------------------------------------------------------------
    # Sending

    def _not_home(self) -> Optional[str]:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if self._loop is None or running is self._loop:
            return None
        home = "is closed" if self._loop.is_closed() else "is another one"
        return ("an asyncio client works only in the event loop it connected in, and that loop " + home +
                " (a client from one asyncio.run() used in the next?): connect a client in this loop")

    def _write(self, data: bytes) -> None:
        if self._writer is not None:
            self._writer.write(data)
            self._written += len(data)

    def _write_pong(self, pong: bytes) -> None:
        self._write(pong)
        self._pong_ends.append(self._written)

    def _unwritten_pong_bytes(self) -> int:
        # The transport writes in order: what it still holds is the end of
        # what it was given, so a PONG ending before that is written.
        writer = self._writer
        if writer is None:
            return 0
        written = self._written - writer.transport.get_write_buffer_size()
        while self._pong_ends and self._pong_ends[0] <= written:
            self._pong_ends.popleft()
        return len(self._pong_ends) * len(P.encode_pong())

    def _send(self, data: bytes) -> None:
        """Write a command that gets no reply (PUB, HPUB, SUB, UNSUB), or
        buffer it while disconnected."""
        self._check_home()
        if self._state == CLOSED:
            raise self._is_closed_error()
        if not self._started:
            raise ConnectionClosed("client is not connected: await connect() first")
        if self._state != CONNECTED:
            self._check_reconnect_buffer(len(self._buffered), data)
            self._buffered += data
            return
        self._write(data)

    async def _publish_wire(self, wire: bytes) -> None:
        self._send(wire)
        await self._drain()

    async def _drain(self, timeout: Optional[float] = REQUEST_TIMEOUT) -> None:
        """Wait while the transport's buffer is full (backpressure), up to
        ``timeout`` seconds (default ``request_timeout``; None: as long as
        it takes). Raises :class:`~docketd_client.Timeout` when it stays
        full, as the threaded client does: a server that stopped reading
        must not hold its callers forever. What was written stays queued."""
        writer = self._writer
        if writer is None or self._state != CONNECTED or self._drain_lock is None:
            return
        if not self._drain_lock.locked() and writer.transport.get_write_buffer_size() < self.max_buffered_output:
            return  # not full: no task for wait_for on every publish
        if timeout is REQUEST_TIMEOUT:
            timeout = self.request_timeout
        try:
            await asyncio.wait_for(self._drained(writer), timeout)
        except asyncio.TimeoutError:
            raise Timeout("output buffer stayed full") from None

    async def _drained(self, writer: asyncio.StreamWriter) -> None:
        assert self._drain_lock is not None
        async with self._drain_lock:
            try:
                await writer.drain()
            except (OSError, ssl.SSLError, RuntimeError):
                pass  # the reader notices the lost connection

    async def _request(self, kind: str, data: bytes, timeout: Optional[float] = REQUEST_TIMEOUT, holds: bool = False) -> Any:
        """Send a command that gets exactly one reply and await it (see the
        module docstring)."""
        self._check_home()
        self._check_line(data)
        if timeout is REQUEST_TIMEOUT:
            timeout = self.request_timeout
        if not self._started:
            raise ConnectionClosed("client is not connected: await connect() first")
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._state != CONNECTED:
            remaining = self._unconnected_wait(kind, deadline, loop.time())
            assert self._connected_evt is not None
            try:
                await asyncio.wait_for(self._connected_evt.wait(), remaining)
            except asyncio.TimeoutError:
                pass  # the next turn raises ConnectionLost
        future: "asyncio.Future[Any]" = loop.create_future()
        pending = _Pending(kind, future, holds)
        self._expect(pending, data)
        # The command is on its way from here: the wait for the buffer to
        # drain and the wait for the reply share its deadline.
        try:
            try:
                await self._drain(None if deadline is None else max(deadline - loop.time(), 0.0))
            except Timeout:
                raise Timeout(f"no reply to {kind} within {timeout}s: the output buffer stayed full") from None
            remaining = None if deadline is None else max(deadline - loop.time(), 0.0)
            try:
                return await asyncio.wait_for(future, remaining)
            except asyncio.TimeoutError:
                raise Timeout(f"no reply to {kind} within {timeout}s") from None
        finally:
            # However the caller left (timed out or cancelled, in either
            # wait), its reply is dropped, a RESERVE or WAIT still waiting is ended
            # (CANCEL) and a job reserved for it all the same handed back.
            # (wait_for cancels the future itself when its time runs out.)
            future.cancel()
            if future.cancelled():
                self._give_up_wait(pending)

    def _unawaited(self, kind: str) -> PendingReply:
        return _Pending(kind, None)

    async def _request_msg(self, step: Request[Any]) -> Msg:
        self._check_home()
        reply_to, token = self._reply_subject()
        future: "asyncio.Future[Msg]" = asyncio.get_running_loop().create_future()
        self._replies[token] = _ReplyWaiter(future, step.accept)
        try:
            await self.publish(step.subject, step.data, reply=reply_to, headers=step.headers)
            return await asyncio.wait_for(future, step.timeout)
        except asyncio.TimeoutError:
            raise step.timed_out() from None
        finally:
            self._replies.pop(token, None)

    async def _open_subscription(self, step: Subscribe[Any]) -> Any:
        sub = self._subscribe(step.subject, step.queue, step.callback, step.timeout, step.max_pending)
        await self._drain()
        if not step.events:
            return sub
        await self.flush()
        return EventStream(sub)

    def _respond(self, reply: str, data: bytes) -> None:
        self._send(P.encode_publish(reply, data))

    def _call(self, callback: Optional[Callable[..., Any]], *args: Any) -> None:
        """Call a callback (a function, or a coroutine function whose
        coroutine runs as a task of its own)."""
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
