"""The Docket client: one TCP connection, pipelined and thread-safe.

Threads
-------
* a **reader** parses everything the server sends, answers its PINGs,
  delivers messages to subscriptions and completes requests; after a lost
  connection it also reconnects. It never runs user code, and whatever
  goes wrong in it drops the connection (which is then made again) or,
  failing that, closes the client: it never dies silently;
* a **flusher** writes the output buffer to the socket, so no caller (and
  never the reader) blocks on a socket write while holding the lock;
* a **pinger** sends a PING every ``ping_interval`` and drops a connection
  whose PINGs go unanswered (see Keepalive);
* one dispatcher thread per subscription that has a callback;
* a **callback** thread, while there is something to run, for
  ``error_callback``, ``disconnected_callback`` and
  ``reconnected_callback``, one at a time in the order of the events, so
  a callback may use the client (``flush()``, ``enqueue()``, ...).

Keepalive
---------
As NATS clients do, the client sends ``PING`` every ``ping_interval``
seconds (default 2 minutes) and counts those not answered by a ``PONG``;
when more than ``max_outstanding_pings`` (default 2) are out, the
connection is stale: it is dropped and made again, as for any lost
connection. While the oldest command waiting is a RESERVE or WAIT the
server holds (it reads nothing more from the connection until it answers),
PINGs are not counted. The socket also has TCP keepalive (``SO_KEEPALIVE``,
with probes after ``ping_interval`` idle seconds where the platform lets
that be set), which finds a dead peer even then.

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
import logging
import os
import queue as queue_mod
import socket
import ssl
import threading
import time
from typing import Any, Callable, Deque, Dict, Iterator, Optional, Tuple

from . import protocol as P
from ._client_core import CLOSED, CLOSED_BY_CALLER, CLOSED_MARK, CONNECTED, DISCONNECTED, PendingReply
from ._client_core import SubscriptionCore, check_seconds, set_keepalive
from ._common import DEFAULT_URL, Handshake, StartTLS
from ._tls import TLSSocket
from ._verbs import REQUEST_TIMEOUT, BlockingVerbs, Request, Subscribe
from .errors import ConnectError, ConnectionClosed, ConnectionLost, Error, ProtocolError, SubscriptionClosed, Timeout
from .models import JobEvent, Msg

__all__ = ["Client", "Subscription", "EventStream", "connect", "DEFAULT_URL"]

log = logging.getLogger(__name__)

_DEFAULT: Any = object()  # "the subscription's timeout"

#: Errors that may wait for ``error_callback`` at once; more are dropped
#: (and counted in the log) until it catches up.
MAX_QUEUED_ERRORS = 1000


class _Pending:
    """A command waiting for its reply; the caller waits on ``event``."""

    __slots__ = ("kind", "holds", "event", "result", "error", "abandoned")

    def __init__(self, kind: str, awaited: bool = True, holds: bool = False) -> None:
        self.kind = kind
        self.holds = holds
        self.event = threading.Event()
        self.result: Any = None
        self.error: Optional[BaseException] = None
        #: Nobody waits for the reply (the caller timed out, or never did).
        self.abandoned = not awaited

    @property
    def waiting(self) -> bool:
        return not self.abandoned and not self.event.is_set()

    def resolve(self, result: Any) -> bool:
        self.result = result
        self.event.set()
        return not self.abandoned

    def reject(self, error: BaseException) -> None:
        self.error = error
        self.event.set()


class _ReplyWaiter:
    """A request waiting for its reply message."""

    __slots__ = ("event", "msg", "error", "accept")

    def __init__(self, accept: Optional[Callable[[Msg], bool]] = None) -> None:
        self.event = threading.Event()
        self.msg: Optional[Msg] = None
        self.error: Optional[BaseException] = None
        self.accept = accept

    def deliver(self, msg: Msg) -> None:
        self.msg = msg
        self.event.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.event.set()


class Subscription(SubscriptionCore):
    """A subscription; also an iterator over its messages.

    Without a callback, messages queue up in the subscription: read them with
    :meth:`next_msg` or iterate (``for msg in sub``). Iteration ends when the
    subscription ends (unsubscribed, ``max_msgs`` reached, client closed)
    or, if the subscription has a ``timeout``, when no message arrives within
    it. With a callback, a dedicated thread calls it for each message in
    order (so a callback may itself make requests on the client); whatever
    it raises (``SystemExit`` included) goes to the client's
    ``error_callback`` and delivery goes on.
    """

    _thread: Optional[threading.Thread] = None

    def _new_queue(self) -> "queue_mod.Queue[Any]":
        return queue_mod.Queue()

    def __repr__(self) -> str:
        return f"<Subscription sid={self.sid} subject={self.subject!r} queue={self.queue!r}>"

    def unsubscribe(self, max_msgs: Optional[int] = None) -> None:
        """End the subscription now, or after ``max_msgs`` messages in total
        (at once if it already had that many). Ended now, its callback is not
        called again, for messages still queued either."""
        self._client._unsubscribe(self, max_msgs)

    def next_msg(self, timeout: Optional[float] = None) -> Msg:
        """The next message. Raises :class:`~docketd_client.Timeout` when none arrives
        within ``timeout`` seconds (None: wait forever) and
        :class:`~docketd_client.SubscriptionClosed` once the subscription has ended
        and every message was taken."""
        check_seconds(timeout, "timeout", may_be_none=True)
        self._check_readable()
        try:
            return self._taken(self._queue.get(timeout=timeout))
        except queue_mod.Empty:
            raise self._no_message(timeout) from None

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

    def _start(self) -> None:
        if self.callback is not None:
            self._thread = threading.Thread(
                target=self._deliver_forever, name=f"docket-sub-{self.sid}", daemon=True
            )
            self._thread.start()

    def _deliver_forever(self) -> None:
        """The callback's thread: each message in order, until the end."""
        assert self.callback is not None
        for item in iter(self._queue.get, CLOSED_MARK):
            if not self._for_callback(item):
                continue
            try:
                self.callback(item)
            except BaseException as exc:  # noqa: B902 - nothing a callback raises stops delivery
                if not isinstance(exc, Exception):  # SystemExit & co.: unusual enough to log
                    log.warning("callback of the subscription to %r raised %r; delivery goes on",
                                self.subject, exc)
                self._client._report(exc)


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


class Client(BlockingVerbs[Subscription, EventStream]):
    """A connection to docketd (or any NATS server for the pub/sub part).

    Thread-safe: any number of threads may publish, subscribe and send job
    commands at once; commands are pipelined on the one connection. Note
    that RESERVE makes the server stop reading the connection until it
    answers, so give blocking ``reserve`` calls their own client (the
    :class:`~docketd_client.Worker` does).

    ``request_timeout`` (seconds) bounds how long a command waits for its
    reply (None: forever); ``reserve`` waits its own timeout plus this.
    ``max_reconnect_attempts`` None retries forever; 0 disables reconnecting.
    ``ping_interval`` (seconds, default 120; None: never) and
    ``max_outstanding_pings`` (default 2) are the keepalive: a connection
    whose PINGs go unanswered is dropped and made again (see the module
    docstring). ``max_pending_msgs`` (a positive int) is the default
    ``max_pending`` of subscriptions.

    ``error_callback(exc)`` receives asynchronous errors (server ``-ERR``s
    that answer no command, exceptions raised by subscription callbacks,
    dropped messages, an :class:`~docketd_client.AuthorizationError` while
    reconnecting, an unexpected failure that dropped the connection);
    ``disconnected_callback()`` and ``reconnected_callback()`` are called
    when a connection is lost and made again. All three run on the
    client's callback thread, one at a time in the order of the events,
    never on the reader: they may block and may use the client (a
    ``flush()`` or ``enqueue()`` in ``reconnected_callback`` goes over the
    new connection). What they raise is logged. When ``error_callback``
    falls more than a thousand errors behind, further errors are dropped
    (and counted in a log line) until it catches up. ``close()`` waits,
    within its timeout, for the callbacks already due.

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


    _log = log
    _subscription_class = Subscription

    def _init_io(self) -> None:
        lock = threading.Lock()
        self._lock = lock
        self._state_cond = threading.Condition(lock)  # state changes
        self._flush_cond = threading.Condition(lock)  # output to write
        self._drained_cond = threading.Condition(lock)  # output written
        self._inbox_lock = threading.Lock()
        self._closed_evt = threading.Event()
        self._sock: Any = None
        self._out = bytearray()  # to write; while disconnected, what waits for the next connection
        self._flushing = False
        self._pongs_out = 0  # PONG bytes in _out
        self._pongs_flushing = 0  # PONG bytes in what the flusher is writing
        # Callbacks to run on the callback thread: (callback, args, is an error report).
        self._callbacks: Deque[Tuple[Callable[..., Any], Tuple[Any, ...], bool]] = collections.deque()
        self._callbacks_cond = threading.Condition(threading.Lock())
        self._callback_thread: Optional[threading.Thread] = None
        self._queued_errors = 0
        self._dropped_errors = 0
        self._pinger: Optional[threading.Thread] = None
        # fork() copies the client but none of its threads, and the socket
        # is shared with the parent: the child may not use it (see _not_home).
        self._pid = os.getpid()

        sock, parser, info = self._connect_once()
        self._activate(sock, info)
        self._reader = threading.Thread(
            target=self._read_forever, args=(sock, parser, self._gen), name="docket-reader", daemon=True
        )
        self._flusher = threading.Thread(target=self._flush_forever, name="docket-flusher", daemon=True)
        self._reader.start()
        self._flusher.start()
        if self.ping_interval is not None:
            self._pinger = threading.Thread(target=self._ping_forever, name="docket-pinger", daemon=True)
            self._pinger.start()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<docketd_client.Client {self.url} {self._state}>"

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
            set_keepalive(raw, self.ping_interval, self.max_outstanding_pings)
            shake = Handshake(where, self._credentials, self._tls, self.name, self.echo)

            def start_tls() -> TLSSocket:
                raw.settimeout(max(deadline - time.monotonic(), 0.001))
                secure = TLSSocket(raw, self._tls.context(), self._tls.server_hostname(host))
                secure.handshake()
                return secure

            if self._tls.handshake_first:
                sock = start_tls()
            while not shake.done:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ConnectError(f"timed out during the handshake with {where}")
                sock.settimeout(remaining)
                for todo in shake.receive(sock.recv(65536)):
                    if isinstance(todo, StartTLS):
                        sock = start_tls()
                    else:
                        sock.sendall(todo)
            sock.settimeout(None)
            self._secure = shake.secure
            return sock, shake.parser, shake.info
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
            if self._state == CLOSED:
                sock.close()
                return False
            self._sock = sock
            self._out[0:0] = self._begin_connection(info)
            self._state = CONNECTED
            self._state_cond.notify_all()
            self._flush_cond.notify_all()
        return True

    def _read_forever(self, sock: Any, parser: P.Parser, gen: int) -> None:
        """The reader thread: reads and dispatches, and reconnects. Should
        anything fail here outside reading a connection (a bug), the client
        is closed with the error reported: never a dead reader behind a
        client that looks connected."""
        try:
            while True:
                error = self._read_connection(sock, parser)
                if self._state == CLOSED:
                    return
                self._connection_lost(gen, error)
                reconnected = self._reconnect()
                if reconnected is None:
                    self._shutdown(ConnectionClosed(f"connection lost and not re-established: {error}"))
                    return
                sock, parser, gen = reconnected
                self._call(self.reconnected_callback)
        except BaseException as exc:  # noqa: B902 - the client must not hang on a dead reader
            self._thread_failed("reader", exc)

    def _thread_failed(self, which: str, exc: BaseException) -> None:
        """One of the client's own threads met something it cannot go on
        after: close the client, failing every waiter, and report it."""
        log.error("the %s thread of the client for %s failed; closing the client", which, self.url, exc_info=exc)
        try:
            self._shutdown(ConnectionClosed(f"client closed: its {which} thread failed: {exc!r}"))
        finally:
            self._report(exc)

    def _read_connection(self, sock: Any, parser: P.Parser) -> BaseException:
        """Read and dispatch until the connection fails; returns why. Input
        the client cannot handle drops the connection, whatever it raises."""
        try:
            self._dispatch_parsed(parser)  # what came with the end of the handshake
            while True:
                self._take_in(parser, sock.recv(65536))
        except ProtocolError as exc:
            return self._dropping(exc)
        except (ConnectionLost, OSError) as exc:
            return exc
        except Exception as exc:  # a bug, or input nobody foresaw: start over on a new connection
            log.error("unexpected error reading from %s; dropping the connection", self.url, exc_info=True)
            self._report(exc)
            return exc

    def _reconnect(self) -> Optional[Tuple[Any, P.Parser, int]]:
        if self.max_reconnect_attempts == 0:
            return None
        for attempt, delay in enumerate(self._reconnect_delays(), 1):
            if self._closed_evt.wait(delay):
                return None
            try:
                sock, parser, info = self._connect_once()
            except Exception as exc:  # this library's errors, and anything a handshake did not foresee
                if self._reconnect_failed(attempt, exc):
                    return None
                continue
            if not self._activate(sock, info):
                return None
            return sock, parser, self._gen
        return None

    def _give_up_connection(self, error: BaseException) -> None:
        self._connection_lost(self._gen, error)

    def _connection_lost(self, gen: int, error: BaseException) -> None:
        """The connection of generation ``gen`` broke: fail what waits on it."""
        with self._lock:
            if gen != self._gen or self._state != CONNECTED:
                return
            self._state = DISCONNECTED
            self._out.clear()
            self._pongs_out = 0
            pending, waiters = self._take_waiting()
            sock = self._sock
            self._state_cond.notify_all()
            self._drained_cond.notify_all()
        self._fail_lost(pending, waiters, error)
        _close_socket(sock)
        self._call(self.disconnected_callback)

    def _flush_forever(self) -> None:
        """The flusher thread: writes the output buffer to the socket."""
        try:
            self._flush_loop()
        except BaseException as exc:  # noqa: B902 - nothing would ever be written again
            self._thread_failed("flusher", exc)

    def _flush_loop(self) -> None:
        while True:
            with self._lock:
                while self._state != CLOSED and not (self._state == CONNECTED and self._out):
                    self._flush_cond.wait()
                if self._state == CLOSED:
                    return
                data = bytes(self._out)
                self._out.clear()
                self._pongs_flushing, self._pongs_out = self._pongs_out, 0
                sock = self._sock
                gen = self._gen
                self._flushing = True
                self._drained_cond.notify_all()
            try:
                assert sock is not None
                sock.sendall(data)
            except Exception as exc:  # OSError, ssl.SSLError, or a bug: this connection is done
                if not isinstance(exc, OSError):
                    log.error("unexpected error writing to %s; dropping the connection", self.url, exc_info=True)
                self._connection_lost(gen, exc)
            finally:
                with self._lock:
                    self._flushing = False
                    self._pongs_flushing = 0
                    self._drained_cond.notify_all()

    def _ping_forever(self) -> None:
        """The pinger thread: a keepalive PING every ``ping_interval``; a
        connection whose PINGs go unanswered is dropped (the reader then
        reconnects)."""
        assert self.ping_interval is not None
        while not self._closed_evt.wait(self.ping_interval):
            try:
                with self._lock:
                    gen = self._gen
                    stale = self._keepalive_tick()
                if stale is not None:
                    self._connection_lost(gen, stale)
            except Exception:  # a bug here must not end the keepalive
                log.error("keepalive of the client for %s failed", self.url, exc_info=True)

    # ------------------------------------------------------------------
    # Callbacks

    def _call(self, callback: Optional[Callable[..., Any]], *args: Any) -> None:
        """Have the callback thread call ``callback(*args)``."""
        if callback is not None:
            self._queue_callback(callback, args, False)

    def _report(self, exc: BaseException) -> None:
        if self.error_callback is None:
            log.debug("asynchronous error: %s", exc)
        else:
            self._queue_callback(self.error_callback, (exc,), True)

    def _queue_callback(self, callback: Callable[..., Any], args: Tuple[Any, ...], is_error: bool) -> None:
        with self._callbacks_cond:
            if is_error:
                if self._queued_errors >= MAX_QUEUED_ERRORS:
                    self._dropped_errors += 1
                    return
                self._queued_errors += 1
            self._callbacks.append((callback, args, is_error))
            if self._callback_thread is not None:
                return  # running: it takes this one in turn
            thread = self._callback_thread = threading.Thread(
                target=self._run_callbacks, name="docket-callbacks", daemon=True
            )
        try:
            thread.start()
        except RuntimeError:  # no thread can be started now: the next callback tries again
            log.error("cannot start the callback thread", exc_info=True)
            with self._callbacks_cond:
                if self._callback_thread is thread:
                    self._callback_thread = None

    def _run_callbacks(self) -> None:
        """The callback thread: runs the callbacks due, in order, and ends
        when there are none left (the next one starts it again)."""
        while True:
            with self._callbacks_cond:
                dropped, self._dropped_errors = self._dropped_errors, 0
                if not self._callbacks:
                    self._callback_thread = None
                    self._callbacks_cond.notify_all()
                    item = None
                else:
                    item = self._callbacks.popleft()
                    if item[2]:
                        self._queued_errors -= 1
            if dropped:
                log.warning("error_callback fell behind: %d asynchronous errors were dropped", dropped)
            if item is None:
                return
            callback, args, _ = item
            try:
                callback(*args)
            except BaseException:  # noqa: B902 - a callback must not end the others
                log.exception("callback %r raised", callback)

    def _wait_for_callbacks(self, deadline: float) -> None:
        """Until the callbacks due have run (or ``deadline``); not from the
        callback thread itself."""
        with self._callbacks_cond:
            while self._callback_thread is not None and self._callback_thread is not threading.current_thread():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._callbacks_cond.wait(remaining)

    # ------------------------------------------------------------------
    # Closing

    def close(self, timeout: float = 2.0) -> None:
        """Close the client: write what is buffered (up to ``timeout``
        seconds), then close the connection. Commands still waiting fail with
        :class:`~docketd_client.ConnectionClosed`; subscriptions end. Idempotent.

        In a process forked from the one that made the client, it only lets
        go of the child's copy of the socket: the connection is the
        parent's, and shutting it down here would cut the parent off."""
        check_seconds(timeout, "timeout")
        if self._not_home() is not None:
            self._let_go_in_child()
            return
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._state == CONNECTED and (self._out or self._flushing):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._drained_cond.wait(remaining)
        self._shutdown(ConnectionClosed(CLOSED_BY_CALLER))
        current = threading.current_thread()
        for thread in (getattr(self, "_reader", None), getattr(self, "_flusher", None), self._pinger):
            if thread is not None and thread is not current and thread.is_alive():
                thread.join(max(deadline - time.monotonic(), 0.5))
        self._wait_for_callbacks(max(deadline, time.monotonic() + 0.5))

    def _let_go_in_child(self) -> None:
        # No lock: a thread of the parent may have held it at the fork, and
        # no thread is left here to release it.
        self._state = CLOSED
        self._closed_because = self._not_home() or ""
        if self._sock is not None:
            self._sock.close()  # this process's descriptor only; no shutdown

    def _shutdown(self, error: BaseException) -> None:
        subs = self._mark_closed(error)
        if subs is None:
            return
        _close_socket(self._sock)  # closed now: no reconnect replaces it any more
        for sub in subs:
            sub._close()

    def _closing(self) -> None:
        self._closed_evt.set()
        self._out.clear()
        self._pongs_out = 0
        self._state_cond.notify_all()
        self._flush_cond.notify_all()
        self._drained_cond.notify_all()

    # ------------------------------------------------------------------
    # Sending

    def _not_home(self) -> Optional[str]:
        if os.getpid() == self._pid:
            return None
        return (f"this client was made in process {self._pid} and cannot be used in process {os.getpid()}, "
                "forked from it: its connection and threads stay with the parent (make a new Client in the child)")

    def _write(self, data: bytes) -> None:
        self._out += data
        self._flush_cond.notify()

    def _expect(self, pending: PendingReply, data: bytes) -> None:
        queued = len(self._out)
        try:
            super()._expect(pending, data)
        except BaseException:
            # Raised between the two (by a signal handler: KeyboardInterrupt): an entry in the
            # FIFO without its bytes would take the next command's reply. Nothing of it has
            # left (the writer takes the output under this lock), so it is taken back.
            if self._pending and self._pending[-1] is pending:
                self._pending.pop()
            del self._out[queued:]
            raise

    def _write_pong(self, pong: bytes) -> None:
        self._write(pong)
        self._pongs_out += len(pong)

    def _unwritten_pong_bytes(self) -> int:
        return self._pongs_out + self._pongs_flushing

    def _send(self, data: bytes) -> None:
        """Queue a command that gets no reply (PUB, HPUB, SUB, UNSUB)."""
        self._check_home()
        self._check_line(data)
        deadline = None if self.request_timeout is None else time.monotonic() + self.request_timeout
        with self._lock:
            while True:
                if self._state == CLOSED:
                    raise self._is_closed_error()
                if self._state != CONNECTED:
                    self._check_reconnect_buffer(len(self._out), data)
                    break
                if len(self._out) < self.max_buffered_output:
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise Timeout("output buffer stayed full")
                self._drained_cond.wait(remaining)
            self._out += data
            self._flush_cond.notify()

    def _publish_wire(self, wire: bytes) -> None:
        self._send(wire)

    def _request(self, kind: str, data: bytes, timeout: Optional[float] = REQUEST_TIMEOUT, holds: bool = False) -> Any:
        """Send a command that gets exactly one reply and wait for it.

        The command is sent only over an established connection (waiting for
        a reconnect if need be). On timeout the reply, when it comes, is
        dropped; a RESERVE or WAIT still waiting is ended with CANCEL, and a job
        reserved all the same is given back with FAIL retry=0.
        """
        self._check_home()
        self._check_line(data)
        if timeout is REQUEST_TIMEOUT:
            timeout = self.request_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        pending = _Pending(kind, holds=holds)
        with self._lock:
            while self._state != CONNECTED:
                self._state_cond.wait(self._unconnected_wait(kind, deadline, time.monotonic()))
            self._expect(pending, data)
        remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        try:
            answered = pending.event.wait(remaining)
        except BaseException:
            # Interrupted (KeyboardInterrupt, or what a signal handler raised): the caller is
            # gone as after a timeout. Left waiting, a RESERVE without a timeout would hold the
            # connection for ever, and a job it got would be held for nobody.
            self._abandon(pending)
            raise
        if not answered and self._abandon(pending):
            raise Timeout(f"no reply to {kind} within {timeout}s")
        if pending.error is not None:
            raise pending.error
        return pending.result

    def _abandon(self, pending: _Pending) -> bool:
        """The caller stops waiting for ``pending``: its reply, when it comes,
        is dropped (a job given back), and a RESERVE or WAIT the server
        still holds is ended with CANCEL. False when the reply came first."""
        with self._lock:
            if pending.event.is_set():
                return False
            pending.abandoned = True
            self._give_up_wait(pending)
            return True

    def _unawaited(self, kind: str) -> PendingReply:
        return _Pending(kind, awaited=False)

    def _request_msg(self, step: Request[Any]) -> Msg:
        self._check_home()
        reply_to, token = self._reply_subject()
        waiter = _ReplyWaiter(step.accept)
        with self._lock:
            self._replies[token] = waiter
        try:
            self.publish(step.subject, step.data, reply=reply_to, headers=step.headers)
            if not waiter.event.wait(step.timeout):
                raise step.timed_out()
        finally:
            with self._lock:
                self._replies.pop(token, None)
        if waiter.error is not None:
            raise waiter.error
        assert waiter.msg is not None
        return waiter.msg

    def _open_subscription(self, step: Subscribe[Any]) -> Any:
        sub = self._subscribe(step.subject, step.queue, step.callback, step.timeout, step.max_pending)
        if not step.events:
            return sub
        self.flush()
        return EventStream(sub)

    def _respond(self, reply: str, data: bytes) -> None:
        self.publish(reply, data)


def _close_socket(sock: Any) -> None:
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()


def connect(url: str = DEFAULT_URL, **options: Any) -> Client:
    """``Client(url, **options)``."""
    return Client(url, **options)
