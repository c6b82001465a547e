"""What the threaded and the asyncio clients share, without I/O.

:class:`ClientCore` holds a client's options and the state of its
connection: the commands waiting for a reply (first in, first out), the
subscriptions, the inbox of request/reply, INFO. It decides where each
operation the server sends goes (:meth:`ClientCore._dispatch`) and keeps
the books of subscriptions and replies. Sending and waiting are left to
the two clients, through a few methods they provide (``_write``,
``_call``, ``_respond``, ...; see the end of :class:`ClientCore`).

The threaded client calls these from several threads, under its lock
(``_lock``); the asyncio client runs on one thread and its ``_lock`` is a
no-op.
"""

from __future__ import annotations

import collections
import itertools
import logging
import math
import random
import secrets
import socket
import ssl
import time
from typing import Any, Callable, ContextManager, Deque, Dict, Generic, Iterator, List, Optional, Tuple, Type, TypeVar, Union
from typing import Protocol

from . import protocol as P
from ._common import DEFAULT_URL, TLSConfig, parse_url, redact_url, resolve_credentials
from .errors import (
    AuthorizationError,
    BadArgument,
    ConnectError,
    ConnectionClosed,
    ConnectionLost,
    DocketError,
    Error,
    ProtocolError,
    ServerError,
    SubscriptionClosed,
    Timeout,
)
from .models import Job, Msg

CONNECTED = "connected"
DISCONNECTED = "disconnected"
CLOSED = "closed"

#: Ends a subscription's message queue.
CLOSED_MARK: Any = object()

#: The text of the ConnectionClosed that close() gives the waiters.
CLOSED_BY_CALLER = "client closed"

#: PONG bytes that may wait unwritten. A server that sends PINGs and does
#: not read the PONGs would otherwise grow the client's output without
#: bound (PONGs are owed, so ``max_buffered_output`` does not hold them
#: back); past this the connection is dropped as a protocol failure.
MAX_UNWRITTEN_PONG_BYTES = 1 << 20

#: The default ``ping_interval`` (seconds) and ``max_outstanding_pings``,
#: those of NATS clients and of the server's own pings.
PING_INTERVAL = 120.0
MAX_OUTSTANDING_PINGS = 2


def check_positive_int(value: Any, what: str) -> int:
    """``value``, when it is a positive int (not a bool); else BadArgument."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadArgument(f"{what} must be a positive integer, not {value!r}")
    return value


def check_seconds(value: Any, what: str, *, positive: bool = False, may_be_none: bool = False) -> Optional[float]:
    """``value`` as seconds: a finite number, above zero when ``positive``,
    else zero or more (None too when ``may_be_none``); else BadArgument.
    Checked when the client is made: a wrong one would otherwise surface
    only where it is first used, a reconnect's backoff on the reader
    thread among them, and close the client then."""
    if value is None and may_be_none:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or value < 0 or (positive and value == 0)):
        bound = "above 0" if positive else "0 or more"
        alternative = "None or " if may_be_none else ""
        raise BadArgument(f"{what} must be {alternative}a finite number of seconds, {bound}; not {value!r}")
    return float(value)


def check_count(value: Any, what: str, *, may_be_none: bool = False) -> Optional[int]:
    """``value`` when it is an int of 0 or more (not a bool), or None when
    ``may_be_none``; else BadArgument."""
    if value is None and may_be_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        alternative = "None or " if may_be_none else ""
        raise BadArgument(f"{what} must be {alternative}an integer, 0 or more; not {value!r}")
    return value


def set_keepalive(sock: socket.socket, interval: Optional[float], count: int) -> None:
    """Turn on TCP keepalive on ``sock``: where the platform lets the timing
    be set, probes once the connection has been idle ``interval`` seconds,
    one every ``interval`` seconds, and ``count`` unanswered ones drop it
    (a dead peer is found even while a RESERVE holds the connection and no
    PING can be answered). What the platform does not offer is skipped."""
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    if interval:
        seconds = max(1, int(round(interval)))
        for name, value in (("TCP_KEEPIDLE", seconds), ("TCP_KEEPINTVL", seconds), ("TCP_KEEPCNT", count)):
            option = getattr(socket, name, None)
            if option is not None:
                options.append((socket.IPPROTO_TCP, option, value))
    for level, option, value in options:
        try:
            sock.setsockopt(level, option, value)
        except OSError:
            pass


class PendingReply(Protocol):
    """A command in the FIFO of those waiting for a reply."""

    kind: str
    #: The server may hold it for as long as its ``timeout=`` says (or
    #: forever), reading nothing more from the connection meanwhile: no PING
    #: sent behind it can be answered before it is (a RESERVE or WAIT that
    #: may wait).
    holds: bool

    @property
    def waiting(self) -> bool:
        """True while a caller still waits for the reply."""

    def resolve(self, result: Any) -> bool:
        """Hand the caller its result; False when nobody waits for it any more."""

    def reject(self, error: BaseException) -> None:
        """Make the caller raise ``error``."""


class ReplyWaiter(Protocol):
    """A request waiting for a message in the inbox."""

    #: Which replies end the wait (None: the first); a status message (no
    #: responders) always does.
    accept: Optional[Callable[[Msg], bool]]

    def deliver(self, msg: Msg) -> None: ...

    def fail(self, error: BaseException) -> None: ...


class SubscriptionCore:
    """The state of a subscription that both clients' Subscription share:
    what was delivered, dropped and queued, and the bytes that subscribe it
    again after a reconnect."""

    def __init__(
        self,
        client: "ClientCore[Any]",
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
        #: Idle timeout (seconds) that ends iteration; None waits forever.
        self.timeout = timeout
        self.max_pending = max_pending
        self._inline = inline
        #: Messages not taken yet, then CLOSED_MARK.
        self._queue = self._new_queue()
        self._max: Optional[int] = None
        self._delivered = 0
        self._dropped = 0
        self._closed = False
        # Set by the caller's unsubscribe(): the callback is not called again,
        # whatever is still queued for it (an iterator still yields it).
        self._stopped = False

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
        return int(self._queue.qsize())

    @property
    def closed(self) -> bool:
        """True once the subscription has ended."""
        return self._closed

    def _new_queue(self) -> Any:
        """An empty queue for messages (a queue.Queue or an asyncio.Queue)."""
        raise NotImplementedError

    # -- reading ---------------------------------------------------------------

    def _check_readable(self) -> None:
        # Read from a forked child or another event loop, it would wait for
        # messages only the client's own reader can bring.
        self._client._check_home()
        if self.callback is not None or self._inline is not None:
            raise BadArgument("a subscription with a callback cannot be read with next_msg")

    def _no_message(self, timeout: Optional[float]) -> Timeout:
        return Timeout(f"no message on {self.subject!r} within {timeout}s")

    def _taken(self, item: Any) -> Msg:
        """The message taken from the queue; SubscriptionClosed at its end."""
        if item is CLOSED_MARK:
            self._queue.put_nowait(CLOSED_MARK)  # every later reader sees it too
            raise SubscriptionClosed(f"subscription to {self.subject!r} has ended")
        return item  # type: ignore[no-any-return]

    # -- called by the client --------------------------------------------------

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
            self._queue.put_nowait(CLOSED_MARK)

    def _start(self) -> None:
        """Start delivering to the callback, if there is one."""

    def _for_callback(self, item: Any) -> bool:
        """Whether a queued item goes to the callback: not the end mark, and
        nothing once the caller has unsubscribed (a callback that
        unsubscribes on its first message was called for every message
        queued behind it, unlike NATS clients)."""
        return item is not CLOSED_MARK and not self._stopped

    def _resubscribe_bytes(self) -> bytes:
        out = P.encode_subscribe(self.subject, self.sid, self.queue)
        if self._max is not None:
            out += P.encode_unsubscribe(self.sid, max(self._max - self._delivered, 0))
        return out


SubscriptionT = TypeVar("SubscriptionT", bound=SubscriptionCore)


class ClientCore(Generic[SubscriptionT]):
    """Options and connection state of a client (see the module docstring)."""

    #: The client's logger (each flavour logs under its own module's name).
    _log: logging.Logger
    _lock: ContextManager[Any]
    _inbox_lock: ContextManager[Any]
    #: The client's Subscription class.
    _subscription_class: Type[SubscriptionT]

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        user: Optional[str] = None,
        password: Optional[str] = None,
        token: Optional[str] = None,
        nkeys_seed: Optional[str] = None,
        nkeys_seed_str: Optional[str] = None,
        user_credentials: Optional[str] = None,
        name: Optional[str] = None,
        request_timeout: Optional[float] = 10.0,
        connect_timeout: float = 5.0,
        max_reconnect_attempts: Optional[int] = None,
        reconnect_wait: float = 0.05,
        reconnect_max_wait: float = 2.0,
        reconnect_jitter: float = 0.1,
        reconnect_buffer_size: int = 8 << 20,
        max_buffered_output: int = 64 << 20,
        max_control_line: int = 4096,
        max_pending_msgs: int = 65536,
        ping_interval: Optional[float] = PING_INTERVAL,
        max_outstanding_pings: int = MAX_OUTSTANDING_PINGS,
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
        check_positive_int(max_pending_msgs, "max_pending_msgs")
        check_seconds(request_timeout, "request_timeout", may_be_none=True)
        check_seconds(connect_timeout, "connect_timeout", positive=True)
        check_count(max_reconnect_attempts, "max_reconnect_attempts", may_be_none=True)
        check_seconds(reconnect_wait, "reconnect_wait")
        check_seconds(reconnect_max_wait, "reconnect_max_wait")
        check_count(reconnect_buffer_size, "reconnect_buffer_size")
        check_positive_int(max_buffered_output, "max_buffered_output")
        check_positive_int(max_control_line, "max_control_line")
        if not isinstance(echo, bool):
            raise BadArgument(f"echo must be True or False, not {echo!r}")
        if name is not None and not isinstance(name, str):
            raise BadArgument(f"name must be a str or None, not {name!r}")
        if ping_interval is not None and (
            isinstance(ping_interval, bool) or not isinstance(ping_interval, (int, float)) or not ping_interval > 0
        ):
            raise BadArgument(f"ping_interval must be a positive number of seconds or None, not {ping_interval!r}")
        check_positive_int(max_outstanding_pings, "max_outstanding_pings")
        if isinstance(reconnect_jitter, bool) or not isinstance(reconnect_jitter, (int, float)) or not reconnect_jitter >= 0:
            raise BadArgument(f"reconnect_jitter must be 0 or more seconds, not {reconnect_jitter!r}")
        host, port, url_user, url_password, url_tls = parse_url(url)
        #: The server URL, with any password or token in it hidden.
        self.url = redact_url(url)
        self._addr = (host, port)
        self._credentials = resolve_credentials(
            user, password, token, url_user, url_password, nkeys_seed, nkeys_seed_str, user_credentials)
        self._tls = TLSConfig(tls, tls_ca_file, tls_cert_file, tls_key_file, tls_handshake_first, tls_hostname,
                              url_tls)
        self.name = name
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.max_reconnect_attempts = max_reconnect_attempts
        self.reconnect_wait = reconnect_wait
        self.reconnect_max_wait = reconnect_max_wait
        #: Up to this many seconds, drawn at random, are added to each reconnect wait.
        self.reconnect_jitter = float(reconnect_jitter)
        self.reconnect_buffer_size = reconnect_buffer_size
        self.max_buffered_output = max_buffered_output
        self.max_control_line = max_control_line
        self.max_pending_msgs = max_pending_msgs
        #: Seconds between the client's PINGs (None: none are sent).
        self.ping_interval = None if ping_interval is None else float(ping_interval)
        #: PINGs that may go unanswered before the connection counts as stale.
        self.max_outstanding_pings = max_outstanding_pings
        self.echo = echo
        self.error_callback = error_callback
        self.disconnected_callback = disconnected_callback
        self.reconnected_callback = reconnected_callback

        self._state = DISCONNECTED
        self._secure = False
        self._gen = 0  # counts connections; 0 before the first
        self._connected_at = 0.0  # time.monotonic() at the last handshake
        self._carried_wait = reconnect_wait  # where a brief connection's reconnects resume
        self.reconnects = 0
        self._pending: Deque[PendingReply] = collections.deque()
        self._subs: Dict[str, SubscriptionT] = {}
        self._sids = itertools.count(1)
        self._info: Dict[str, Any] = {}
        self._last_error: Optional[ServerError] = None
        self._inbox: Optional[str] = None
        self._replies: Dict[str, ReplyWaiter] = {}
        self._reply_ids = itertools.count(1)
        self._pings_out = 0  # keepalive PINGs sent and not answered yet
        self._closed_because = ""  # why the client closed, unless close() was called
        self._init_io()

    # ------------------------------------------------------------------
    # State

    @property
    def is_connected(self) -> bool:
        """True while a connection is up."""
        return self._state == CONNECTED

    @property
    def is_closed(self) -> bool:
        """True once the client is closed."""
        return self._state == CLOSED

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
        """The server's payload limit in bytes, from INFO (None when INFO
        has none: a value that is not a positive integer counts as none,
        rather than refusing every payload)."""
        value = self._info.get("max_payload")
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

    @property
    def last_error(self) -> Optional[ServerError]:
        """The last asynchronous ``-ERR`` the server sent."""
        return self._last_error

    def new_inbox(self) -> str:
        """A unique subject for replies (not subscribed)."""
        return "_INBOX." + secrets.token_hex(11)

    # ------------------------------------------------------------------
    # Checks before sending

    def _check_line(self, data: bytes) -> None:
        end = data.find(b"\r\n")
        if end > self.max_control_line:
            raise BadArgument(f"command line of {end} bytes is above the limit of {self.max_control_line}")

    def _is_closed_error(self) -> ConnectionClosed:
        """What a call on the closed client raises (saying why, unless
        ``close()`` closed it)."""
        if self._closed_because:
            return ConnectionClosed(f"client is closed ({self._closed_because})")
        return ConnectionClosed("client is closed")

    def _check_home(self) -> None:
        """Raise :class:`~docketd_client.ConnectionClosed` when the caller is
        not where the client lives (a process forked from the one that made
        it, an event loop other than the one it connected in): there, a
        command would wait for a reply that only the client's own threads
        or tasks can read, for ever with ``request_timeout=None``."""
        why = self._not_home()
        if why is not None:
            raise ConnectionClosed(why)

    def _check_payload(self, size: int) -> None:
        limit = self.max_payload
        if limit is not None and size > limit:
            raise BadArgument(f"payload of {size} bytes is above the server's max_payload of {limit}")

    def _unconnected_wait(self, kind: str, deadline: Optional[float], now: float) -> Optional[float]:
        """While not connected, how much longer a command may wait for the
        connection before it is sent (None: forever). Raises
        ConnectionClosed once the client is closed, and ConnectionLost once
        the time is up (the command was not sent)."""
        if self._state == CLOSED:
            raise self._is_closed_error()
        remaining = None if deadline is None else deadline - now
        if remaining is not None and remaining <= 0:
            raise ConnectionLost(f"not connected to the server; {kind} was not sent")
        return remaining

    def _check_reconnect_buffer(self, buffered: int, data: bytes) -> None:
        if buffered + len(data) > self.reconnect_buffer_size:
            raise ConnectionLost("disconnected, and the reconnect buffer is full")

    # ------------------------------------------------------------------
    # Connections

    def _begin_connection(self, info: Dict[str, Any]) -> bytes:
        """Count a new (handshaken) connection and keep its INFO; returns
        the bytes that subscribe every subscription again on it."""
        if self._gen:
            self.reconnects += 1
        self._gen += 1
        self._connected_at = time.monotonic()
        self._info = info
        self._pings_out = 0
        return b"".join(sub._resubscribe_bytes() for sub in self._subs.values())

    def _take_in(self, parser: P.Parser, data: bytes) -> None:
        """Parse what the server sent and act on each complete operation.
        Empty ``data`` means the server closed the connection."""
        if not data:
            raise ConnectionLost("server closed the connection")
        parser.feed(data)
        self._dispatch_parsed(parser)

    def _dispatch_parsed(self, parser: P.Parser) -> None:
        while True:
            op = parser.next_op()
            if op is None:
                return
            self._dispatch(op)

    def _dropping(self, error: ProtocolError) -> ProtocolError:
        self._log.warning("protocol error from the server, dropping the connection: %s", error)
        return error

    def _take_waiting(self) -> Tuple[List[PendingReply], List[ReplyWaiter]]:
        """The commands waiting for a reply and the requests waiting for a
        reply message, taken out of the client (called with the lock held)."""
        pending = list(self._pending)
        self._pending.clear()
        waiters = list(self._replies.values())
        self._replies.clear()
        return pending, waiters

    def _fail_lost(self, pending: List[PendingReply], waiters: List[ReplyWaiter], error: BaseException) -> None:
        """The connection broke: the commands in ``pending`` and the
        requests in ``waiters`` fail with ConnectionLost (they may or may not
        have been carried out; a reply sent on the old connection never
        comes, so waiting out their timeouts would only delay the news)."""
        why = str(error) or type(error).__name__
        if self._last_error is not None:
            why += f" (last server error: {self._last_error.text})"
        self._log.info("connection to %s lost: %s", self.url, why)
        for p in pending:
            p.reject(ConnectionLost(f"connection lost before the reply to {p.kind}: {why}"))
        for w in waiters:
            w.fail(ConnectionLost(f"connection lost before the reply to a request: {why}"))

    def _reconnect_delays(self) -> Iterator[float]:
        """How long to wait before each reconnect attempt: doubling, up to
        ``reconnect_max_wait``. A connection lost within
        ``reconnect_max_wait`` of its handshake does not start the backoff
        over: against a server that lets clients in and drops them at once,
        the waits go on doubling from where the last reconnect left them
        instead of reconnecting every ``reconnect_wait``.

        Each wait gets up to ``reconnect_jitter`` seconds more, at random
        (as NATS clients add 100 ms): the clients a restarted server lost
        all at once would otherwise come back in lockstep, every attempt."""
        brief = time.monotonic() - self._connected_at < self.reconnect_max_wait
        delay = self._carried_wait if brief else self.reconnect_wait
        while True:
            self._carried_wait = min(max(delay, 0.01) * 2, self.reconnect_max_wait)
            yield delay + random.uniform(0, self.reconnect_jitter)
            delay = self._carried_wait

    def _reconnect_failed(self, attempt: int, error: Exception) -> bool:
        """Log a failed reconnect attempt; True when it was the last one allowed.
        An exception that is not one of this library's (a handshake nobody
        foresaw) fails the attempt like any other, logged with its traceback."""
        if not isinstance(error, Error):
            self._log.error("reconnect attempt %d to %s failed unexpectedly", attempt, self.url, exc_info=error)
            error = ConnectError(f"reconnect failed: {error!r}")
        if isinstance(error, AuthorizationError):
            # Retrying cannot help until the server's credentials change;
            # the backoff keeps it from spinning.
            self._log.error("reconnect attempt %d to %s refused: %s", attempt, self.url, error)
            self._report(error)
        else:
            self._log.debug("reconnect attempt %d failed: %s", attempt, error)
        return self.max_reconnect_attempts is not None and attempt >= self.max_reconnect_attempts

    def _keepalive_tick(self) -> Optional[ConnectionLost]:
        """Every ``ping_interval`` (called with the lock held): send a PING,
        as NATS clients do, so that a connection that died without a word
        (a network partition, a lost FIN) is noticed. Returns the error to
        drop the connection with once more than ``max_outstanding_pings``
        have gone unanswered, else None.

        While the oldest command waiting is one the server holds (a waiting
        RESERVE or WAIT whose caller still waits), the server reads nothing
        more and cannot answer: no PING is counted (TCP keepalive covers
        that time)."""
        if self._state != CONNECTED:
            return None
        head = self._pending[0] if self._pending else None
        if head is not None and head.holds and head.waiting:
            self._pings_out = 0
            return None
        self._pings_out += 1
        if self._pings_out > self.max_outstanding_pings:
            self._log.warning(
                "no PONG from %s for %d PINGs (%gs apart): the connection is stale, dropping it",
                self.url, self.max_outstanding_pings, self.ping_interval,
            )
            return ConnectionLost(f"stale connection: {self.max_outstanding_pings} PINGs went unanswered")
        self._expect(self._unawaited("ping"), P.encode_ping())
        return None

    def _mark_closed(self, error: BaseException) -> Optional[List[SubscriptionT]]:
        """Close the client's state: every command and request still waiting
        fails with ``error``. Returns the subscriptions to end, or None when
        the client was closed already."""
        with self._lock:
            if self._state == CLOSED:
                return None
            self._state = CLOSED
            if str(error) != CLOSED_BY_CALLER:
                self._closed_because = str(error)
            pending, waiters = self._take_waiting()
            subs = list(self._subs.values())
            self._subs.clear()
            self._closing()
        for p in pending:
            p.reject(error)
        for w in waiters:
            w.fail(error)
        return subs

    # ------------------------------------------------------------------
    # Receiving

    def _dispatch(self, op: P.Op) -> None:
        with self._lock:
            if self._state == CLOSED:
                # Read before the socket closed: late replies to commands
                # close() has already failed, messages for subscriptions it
                # ended. None of it is anyone's any more, nor an error.
                return
            head = self._pending[0] if self._pending else None
            where = P.route(op, head.kind if head is not None else None)
            if where == "reply":
                self._pending.popleft()
                # Any reply, not only a PONG, shows the server reads and answers this
                # connection: a PONG comes behind the replies to what was sent before its PING,
                # and a backlog of slow commands must not make a live connection look stale.
                self._pings_out = 0
            elif where == "ping" and self._state == CONNECTED:
                self._answer_ping()
        if where == "reply":
            assert head is not None
            self._on_reply(head, op)
        elif where == "message":
            assert isinstance(op, P.MsgOp)
            self._on_msg(op)
        elif where == "info":
            assert isinstance(op, P.Info)
            self._info = op.data
        elif where == "server_error":
            assert isinstance(op, P.Err)
            error = ServerError(op.text)
            self._last_error = error
            self._log.warning("server error: %s", op.text)
            self._report(error)

    def _give_up_wait(self, pending: PendingReply) -> None:
        """The caller of a RESERVE or WAIT the server may hold stopped waiting (timed out,
        cancelled): when it is the last command sent, a CANCEL behind it
        ends its wait at once (NOJOB, PENDING), so the connection is free
        for the next command and no job is handed out for nobody (called
        with the lock held). One with commands behind it, or answered
        meanwhile, is left to its reply: a JOB that still comes is given
        back (:meth:`_on_reply`)."""
        if not pending.holds or self._state != CONNECTED or not self._pending or self._pending[-1] is not pending:
            return
        self._expect(self._unawaited("cancel"), P.encode_cancel())

    def _answer_ping(self) -> None:
        """Queue a PONG (called with the lock held); ProtocolError when too
        many are still unwritten: the server is not reading them."""
        pong = P.encode_pong()
        owed = self._unwritten_pong_bytes() + len(pong)
        if owed > MAX_UNWRITTEN_PONG_BYTES:
            raise ProtocolError(f"the server sends PINGs and does not read the PONGs ({owed} bytes of them unwritten)")
        self._write_pong(pong)

    def _on_reply(self, head: PendingReply, op: P.Op) -> None:
        try:
            result = P.interpret_reply(head.kind, op)
        except (DocketError, ServerError) as exc:
            head.reject(exc)
            return
        except Exception as exc:  # ProtocolError, or a bug: the caller must not wait forever
            # The connection is given up before its caller hears why: a command it sends next
            # waits for the reconnect instead of going out on the connection being dropped.
            self._give_up_connection(exc)
            head.reject(exc)
            raise
        with self._lock:
            if not head.resolve(result) and isinstance(result, Job):
                # Nobody waits for this job any more: give it back at once.
                self._log.info("giving back job %d reserved after its caller stopped waiting", result.id)
                self._expect(self._unawaited("fail"), P.encode_fail(result.id, b"reservation abandoned by the client", retry=0))

    def _give_up_connection(self, error: BaseException) -> None:
        """A reply broke the connection (called by the reader, before the
        waiting caller is told): the threaded client marks it lost now,
        since that caller runs at once on its own thread; the asyncio
        client's reader marks it lost before any caller's turn comes."""

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

    def _report(self, exc: BaseException) -> None:
        """An asynchronous error: to ``error_callback``, or logged at DEBUG."""
        if self.error_callback is not None:
            self._call(self.error_callback, exc)
        else:
            self._log.debug("asynchronous error: %s", exc)

    # ------------------------------------------------------------------
    # Subscriptions and the inbox

    def _subscribe(
        self,
        subject: str,
        queue: Optional[str],
        callback: Optional[Callable[[Msg], Any]],
        timeout: Optional[float],
        max_pending: Optional[int],
        inline: Optional[Callable[[Msg], None]] = None,
    ) -> SubscriptionT:
        """Subscribe (``inline``: a function the reader calls for each
        message, as the inbox does; no queue, no callback thread or task)."""
        self._check_home()
        P.check_subject(subject, wildcards=True)
        if max_pending is not None:
            check_positive_int(max_pending, "max_pending")
        sid = str(next(self._sids))
        wire = P.encode_subscribe(subject, sid, queue)  # validates the queue group too
        self._check_line(wire)
        sub = self._subscription_class(
            self, sid, subject, queue, callback, timeout,
            self.max_pending_msgs if max_pending is None else max_pending, inline,
        )
        with self._lock:
            if self._state == CLOSED:
                raise self._is_closed_error()
            self._subs[sid] = sub
            if self._state == CONNECTED:  # otherwise the reconnect sends it
                self._write(wire)
        sub._start()
        return sub

    def _unsubscribe(self, sub: SubscriptionCore, max_msgs: Optional[int]) -> None:
        self._check_home()
        if max_msgs is not None and (isinstance(max_msgs, bool) or not isinstance(max_msgs, int) or max_msgs < 0):
            raise BadArgument(f"max_msgs must be a non-negative integer, not {max_msgs!r}")
        with self._lock:
            if self._subs.get(sub.sid) is not sub:
                return
            ending = max_msgs is None or sub._delivered >= max_msgs
            if max_msgs is None:
                sub._stopped = True
            if ending:
                del self._subs[sub.sid]
            else:
                sub._max = max_msgs
            if self._state == CONNECTED:
                self._write(P.encode_unsubscribe(sub.sid, None if ending else max_msgs))
        if ending:
            sub._close()

    def _reply_subject(self) -> Tuple[str, str]:
        """``(subject, token)``: a new reply subject in the client's inbox
        (subscribed on first use) and the token that ends it."""
        with self._inbox_lock:
            if self._inbox is None:
                prefix = self.new_inbox()
                self._subscribe(prefix + ".*", None, None, None, None, inline=self._on_inbox_msg)
                self._inbox = prefix
            inbox = self._inbox
        token = str(next(self._reply_ids))
        return f"{inbox}.{token}", token

    def _on_inbox_msg(self, msg: Msg) -> None:
        token = msg.subject.rsplit(".", 1)[-1]
        with self._lock:
            waiter = self._replies.get(token)
            if waiter is None:
                return
            if waiter.accept is not None and msg.status is None and not waiter.accept(msg):
                return  # e.g. a subscriber's answer while publish_routed waits for the route's
            del self._replies[token]
        waiter.deliver(msg)

    # ------------------------------------------------------------------
    # What each client provides

    def _init_io(self) -> None:
        """Set up the client's own I/O state (the threaded client also
        connects here: ``Client(...)`` connects at once)."""
        raise NotImplementedError

    def _not_home(self) -> Optional[str]:
        """Why the caller cannot use the client from where it is (see
        :meth:`_check_home`), or None."""
        raise NotImplementedError

    def _write(self, data: bytes) -> None:
        """Send ``data`` on the current connection (called with the lock held)."""
        raise NotImplementedError

    def _expect(self, pending: PendingReply, data: bytes) -> None:
        """Send a command that gets one reply: ``pending`` joins the FIFO as
        ``data`` goes out (called with the lock held), so the FIFO order is
        the wire order."""
        self._pending.append(pending)
        self._write(data)

    def _closing(self) -> None:
        """The client has just been marked closed (called with the lock held)."""
        raise NotImplementedError

    def _write_pong(self, pong: bytes) -> None:
        """Send a PONG on the current connection, keeping count of it until
        it is written (called with the lock held)."""
        raise NotImplementedError

    def _unwritten_pong_bytes(self) -> int:
        """PONG bytes of the current connection not written to its socket
        yet (called with the lock held)."""
        raise NotImplementedError

    def _unawaited(self, kind: str) -> PendingReply:
        """An entry for the FIFO whose reply nobody waits for."""
        raise NotImplementedError

    def _call(self, callback: Callable[..., Any], *args: Any) -> None:
        """Call a user callback; what it raises is logged, never raised."""
        raise NotImplementedError

    def _respond(self, reply: str, data: bytes) -> None:
        """Publish ``data`` to ``reply`` (:meth:`Msg.respond`)."""
        raise NotImplementedError
