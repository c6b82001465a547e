"""A job worker: threads that reserve jobs, run a handler, and ACK or FAIL.

Each of the ``concurrency`` threads (slots) has its own connection, because
RESERVE stops the server from reading a connection while it waits. Each
loops:

1. ``RESERVE <queues> timeout=<reserve_timeout>`` (short, so a stop is
   noticed within it);
2. run ``handler(ctx)`` with a :class:`JobContext`, while a heartbeat thread
   sends ``TOUCH`` on the same connection (the client is thread-safe, so the
   TOUCH is pipelined with everything else) every third of the job's lease,
   or every ``heartbeat`` seconds when that is set;
3. ``ACK`` with the handler's return value, or ``FAIL`` with the exception
   text: :class:`NonRetryable` becomes ``retry=no``, :class:`RetryAfter`
   ``retry=<its delay>``, :class:`Throttle` ``throttle=<its delay>
   [scope=group]`` (no attempt used), anything else follows the job's
   backoff.

Every ACK, FAIL, PROGRESS and TOUCH carries ``attempt=<n>``, the attempt the
slot holds, so the server refuses (``NOT_HELD``) a command of a run whose
job has since been handed out again.

Whatever a handler does, its job ends in ACK or FAIL and its slot goes on:
an exception of any kind (``BaseException`` included, and exceptions whose
``str()`` raises) FAILs the job with a printable reason. ``SystemExit`` and
``KeyboardInterrupt`` also stop the whole worker gracefully, with a result
that is not clean. The slot loop itself catches anything it did not expect,
logs it, counts it in :attr:`WorkerResult.errors` and carries on.

Shutdown (``stop()``, or SIGTERM/SIGINT under :meth:`Worker.run`): no new
RESERVE is sent, running handlers get ``grace`` seconds to finish, then
the jobs of those still running are FAILed (``retry=0``) so another worker
runs them at once, and the connections are closed. A second signal cuts
the grace period short. ``stop()`` and ``run()`` return a
:class:`WorkerResult`.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
import traceback
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from . import protocol as P
from .client import Client
from .errors import (
    AuthorizationError,
    BadArgument,
    BadOption,
    ConnectionClosed,
    ConnectionLost,
    DocketError,
    Error,
    NotFound,
    NotHeld,
    Timeout,
)
from .models import FailOutcome, Job

__all__ = ["Worker", "WorkerResult", "JobContext", "NonRetryable", "RetryAfter", "Throttle", "AUTO"]

log = logging.getLogger(__name__)

#: ``heartbeat=AUTO`` (the default): TOUCH every third of each job's lease.
AUTO = "auto"
#: Heartbeat interval when the lease cannot be learned (a third of the
#: server's default lease of 30 s).
FALLBACK_HEARTBEAT = 10.0
#: The shortest automatic heartbeat interval.
MIN_HEARTBEAT = 0.05

_UNPRINTABLE = "handler failed with an exception that cannot be printed"


class NonRetryable(Exception):
    """Raise from a handler when retrying cannot help: the job is FAILed
    with ``retry=no`` and is dead at once."""


class RetryAfter(Exception):
    """Raise from a handler to retry the job after ``delay`` (seconds or a
    duration string), instead of its backoff. Still bounded by its attempts."""

    def __init__(self, delay: P.Duration, message: str = "") -> None:
        self.delay = delay
        super().__init__(message or f"retry after {delay}")


class Throttle(Exception):
    """Raise from a handler when a downstream limit was hit (an HTTP 429,
    say): the job is FAILed with ``throttle=<delay>`` (``scope="group"``
    adds ``scope=group``). It goes back to waiting in its place **without
    using an attempt**, and its whole queue (or only its group's jobs, for
    a job enqueued with ``group=``) starts nothing for ``delay`` (seconds or
    a duration string)."""

    def __init__(self, delay: P.Duration, message: str = "", *, scope: Optional[str] = None) -> None:
        self.delay = delay
        self.scope = scope
        super().__init__(message or f"throttled for {delay}")


@dataclass(frozen=True)
class WorkerResult:
    """What a worker did, returned by :meth:`Worker.run` and :meth:`Worker.stop`.

    Truthy exactly when ``clean``: the worker stopped because it was asked
    to (``stop()`` or a signal), every handler finished within the grace
    period, no handler raised a ``BaseException`` that is not an
    ``Exception`` (``SystemExit``, ``KeyboardInterrupt``, ...), no slot
    thread was lost, and nothing unexpected was caught (``errors``).
    """

    #: See above.
    clean: bool
    #: Why the worker stopped: ``"stop"`` (``stop()``), ``"signal"``
    #: (SIGTERM/SIGINT under ``run()``), ``"handler_exit"`` (a handler raised
    #: SystemExit or KeyboardInterrupt), ``"fatal_error"`` (the server refused
    #: RESERVE, e.g. ``BadQueue``); ``""`` while it runs.
    reason: str
    #: Jobs ACKed.
    acked: int
    #: Jobs FAILed (the handler raised, or its result could not be sent).
    failed: int
    #: Handlers that raised a BaseException that is not an Exception
    #: (their jobs were FAILed and are counted in ``failed`` too).
    crashed: int
    #: Jobs still running after the grace period, handed back (FAIL retry=0).
    abandoned: int
    #: Outcomes the server did not take: the lease was lost (``NotHeld``),
    #: or the connection dropped or timed out before the reply. The server
    #: runs those jobs again.
    lost: int
    #: Unexpected exceptions a slot caught and survived (logged with a
    #: traceback at ERROR level).
    errors: int
    #: Slot threads that ended before the worker was stopped.
    slots_lost: int

    def __bool__(self) -> bool:
        return self.clean


class _Fencing:
    """Sends ACK, FAIL, PROGRESS and TOUCH with ``attempt=`` of the held job.

    A server older than attempt fencing refuses the option with
    ``BAD_OPTION attempt=...``: nothing happened then, so the command is
    sent again without it, and later commands on that connection (until the
    client reconnects) go without it at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._unfenced: "weakref.WeakKeyDictionary[Client, int]" = weakref.WeakKeyDictionary()

    def call(self, client: Client, method: Callable[..., Any], job: Job, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            known_old = self._unfenced.get(client) == client.reconnects
        if not known_old:
            try:
                return method(*args, attempt=job.attempt, **kwargs)
            except BadOption as exc:
                if not exc.message.startswith("attempt="):
                    raise
                with self._lock:
                    first = client not in self._unfenced
                    self._unfenced[client] = client.reconnects
                if first:
                    log.warning(
                        "the server does not know attempt= (it predates attempt fencing): "
                        "sending job commands without it"
                    )
        return method(*args, **kwargs)


_FENCING = _Fencing()


class JobContext:
    """What a handler gets: the job, and ways to report on it.

    :meth:`progress` and :meth:`touch` send the attempt the worker holds
    (``attempt=``), like the worker's own ACK, FAIL and heartbeats.
    """

    def __init__(self, job: Job, client: Client, stopping: threading.Event) -> None:
        self.job = job
        self.client = client
        self._stopping = stopping
        self._lease_lost = threading.Event()
        self._lease_ms = job.lease_ms

    @property
    def id(self) -> int:
        """The job id: the same for every run of the job."""
        return self.job.id

    @property
    def queue(self) -> str:
        """The queue the job came from."""
        return self.job.queue

    @property
    def attempt(self) -> int:
        """Which run this is, from 1, as the server counts them. Not unique:
        after a server crash a run can be handed out again with the same
        number, and RETRY of a dead job starts again from 1. Use
        :attr:`delivery` to tell runs apart."""
        return self.job.attempt

    @property
    def delivery(self) -> Optional[int]:
        """The id of this run (this hand-out of the job): never given twice
        by the server's data directory, server crashes included. Use it to
        make a run's side effects idempotent; None from a server that does
        not send it."""
        return self.job.delivery

    @property
    def lease_ms(self) -> Optional[int]:
        """The job's lease in milliseconds (from the JOB line, or learned
        with INSPECT by the heartbeat); None if not known (yet)."""
        return self._lease_ms

    @property
    def payload(self) -> bytes:
        """The job's payload."""
        return self.job.payload

    @property
    def text(self) -> str:
        """The payload decoded as UTF-8."""
        return self.job.text

    def json(self) -> Any:
        """The payload parsed as JSON."""
        return self.job.json()

    @property
    def stopping(self) -> bool:
        """True once the worker is shutting down: a long handler may use it
        to stop early (raise, and the job is retried)."""
        return self._stopping.is_set()

    @property
    def lease_lost(self) -> bool:
        """True once a heartbeat found the job no longer held (lease expired,
        connection lost): its outcome will not be accepted."""
        return self._lease_lost.is_set()

    def progress(self, percent: int, note: Optional[P.Payload] = None) -> None:
        """Record progress (0..100) and an optional note; extends the lease."""
        _FENCING.call(self.client, self.client.progress, self.job, self.job.id, percent, note)

    def touch(self) -> None:
        """Extend the lease now."""
        _FENCING.call(self.client, self.client.touch, self.job, self.job.id)


class _Running:
    """A job being handled by one worker thread."""

    def __init__(self, ctx: JobContext, client: Client) -> None:
        self.ctx = ctx
        self.client = client
        self.started = time.monotonic()
        self.done = threading.Event()  # handler returned (or raised)
        self.finishing = False  # the thread is sending ACK/FAIL
        self.abandoned = False  # shutdown FAILed it after the grace period


HandlerResult = Union[None, bytes, bytearray, memoryview, str, Any]


class Worker:
    """Runs ``handler(ctx)`` for the jobs of ``queues``.

    ``client`` is a URL or a factory returning a new :class:`~docketd_client.Client`
    (one is made per thread; the worker closes them). With a URL,
    ``user``/``password`` or ``token`` (or ``client_options``) are passed to
    each Client; credentials can also be in the URL or the environment (see
    :class:`~docketd_client.Client`). A slot whose connection is refused
    (:class:`~docketd_client.AuthorizationError`) logs it at ERROR and tries again
    with backoff (up to 2 s). ``heartbeat`` is the
    TOUCH interval in seconds while a handler runs: :data:`AUTO` (the
    default) is a third of each job's lease (from the JOB line, or one
    INSPECT when the server does not send it), None sends no heartbeats.
    ``grace`` is how long shutdown waits for running handlers.
    """

    def __init__(
        self,
        client: Union[str, Callable[[], Client]],
        queues: Union[str, Sequence[str]],
        handler: Callable[[JobContext], HandlerResult],
        *,
        concurrency: int = 1,
        heartbeat: Union[None, float, str] = AUTO,
        reserve_timeout: float = 1.0,
        grace: float = 30.0,
        client_options: Optional[Dict[str, Any]] = None,
        name: str = "docket-worker",
        user: Optional[str] = None,
        password: Optional[str] = None,
        token: Optional[str] = None,
    ) -> None:
        credentials = {k: v for k, v in (("user", user), ("password", password), ("token", token)) if v is not None}
        if isinstance(client, str):
            url, options = client, dict(client_options or {})
            options.update(credentials)
            self._factory: Callable[[], Client] = lambda: Client(url, **options)
        elif callable(client):
            if credentials:
                raise TypeError("user=, password= and token= go with a URL; a client factory passes its own")
            self._factory = client
        else:
            raise TypeError("client must be a URL or a callable returning a docket.Client")
        self.queues = [queues] if isinstance(queues, str) else list(queues)
        for q in self.queues:
            P.check_queue_name(q)
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if heartbeat is not None and heartbeat != AUTO:
            if isinstance(heartbeat, bool) or not isinstance(heartbeat, (int, float)) or not heartbeat > 0:
                raise ValueError("heartbeat must be a positive number of seconds, AUTO, or None")
        self.handler = handler
        self.concurrency = concurrency
        self.heartbeat = heartbeat
        self.reserve_timeout = reserve_timeout
        self.grace = grace
        self.name = name

        self._stop = threading.Event()
        self._force = threading.Event()
        self._signalled = False
        self._lock = threading.Lock()
        self._shutdown_lock = threading.Lock()
        self._threads: List[threading.Thread] = []
        self._clients: Dict[int, Client] = {}
        self._running: Dict[int, _Running] = {}
        self._started = False
        self._stopped = False
        self._reason = ""
        self._warned_heartbeat = False
        self.fatal_error: Optional[BaseException] = None
        #: Counters so far (see :class:`WorkerResult`).
        self.acked = 0
        self.failed = 0
        self.crashed = 0
        self.abandoned = 0
        self.lost = 0
        self.errors = 0
        self.slots_lost = 0

    # ------------------------------------------------------------------
    # Control

    def start(self) -> "Worker":
        """Start the threads and return (see :meth:`run` to block)."""
        with self._lock:
            if self._started:
                raise RuntimeError("worker already started")
            self._started = True
            for i in range(self.concurrency):
                t = threading.Thread(target=self._thread_main, args=(i,), name=f"{self.name}-{i}", daemon=True)
                self._threads.append(t)
                t.start()
        return self

    def stop(self, grace: Optional[float] = None, wait: bool = True) -> WorkerResult:
        """Stop reserving; with ``wait``, let running handlers finish for up
        to ``grace`` seconds (default: the worker's), FAIL the jobs of those
        still running so they are retried, close the connections, and return
        the :class:`WorkerResult` (truthy when clean). Without ``wait``,
        returns at once with the result so far."""
        self._request_stop("stop")
        if not wait:
            return self.result
        return self._shutdown(self.grace if grace is None else grace)

    @property
    def stopping(self) -> bool:
        """True once a stop was requested (or a handler stopped the worker)."""
        return self._stop.is_set()

    @property
    def result(self) -> WorkerResult:
        """The counters so far, as a :class:`WorkerResult`."""
        with self._lock:
            clean = (
                self._reason in ("", "stop", "signal")
                and self.fatal_error is None
                and not (self.abandoned or self.crashed or self.errors or self.slots_lost)
            )
            return WorkerResult(
                clean, self._reason, self.acked, self.failed, self.crashed,
                self.abandoned, self.lost, self.errors, self.slots_lost,
            )

    def run(self, install_signal_handlers: bool = True) -> WorkerResult:
        """Start, block until stopped (``stop()`` from another thread,
        SIGTERM/SIGINT when called from the main thread, or a handler raising
        SystemExit/KeyboardInterrupt), shut down gracefully and return the
        :class:`WorkerResult` like :meth:`stop`. Re-raises a fatal error
        (e.g. :class:`~docketd_client.BadQueue`)."""
        previous: Dict[signal.Signals, Any] = {}
        if install_signal_handlers and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            if not self._started:
                self.start()
            while not self._stop.is_set() and not self._signalled:
                time.sleep(0.05)
            self._request_stop("signal" if self._signalled else "stop")
            result = self._shutdown(self.grace)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self.fatal_error is not None:
            raise self.fatal_error
        return result

    def _on_signal(self, signum: int, frame: Any) -> None:
        # Only plain assignments here: a signal handler must not take locks
        # the interrupted main thread may hold.
        if self._signalled:
            self._force_now = True
        self._signalled = True

    _force_now = False

    def _request_stop(self, reason: str) -> None:
        with self._lock:
            if not self._reason:
                self._reason = reason
        self._stop.set()

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    # ------------------------------------------------------------------
    # Shutdown

    def _shutdown(self, grace: float) -> WorkerResult:
        with self._shutdown_lock:
            if self._stopped:
                return self.result
            deadline = time.monotonic() + grace
            while any(t.is_alive() for t in self._threads):
                if time.monotonic() >= deadline or self._force_now or self._force.is_set():
                    break
                time.sleep(0.02)
            with self._lock:
                stuck = [r for r in self._running.values() if not r.finishing and not r.done.is_set()]
                for r in stuck:
                    r.abandoned = True
                self.abandoned += len(stuck)
            for r in stuck:
                log.warning("job %d still running after the grace period: handing it back", r.ctx.id)
                outcome = "handed_back"
                try:
                    _FENCING.call(
                        r.client, r.client.fail, r.ctx.job, r.ctx.id,
                        b"worker shut down before the handler finished", retry=0,
                    )
                except Error as exc:
                    outcome = "lost"
                    log.warning("could not hand back job %d: %s", r.ctx.id, exc)
                _log_job(r.ctx.job, outcome, time.monotonic() - r.started, "grace period over")
            # Threads whose handler has just returned are sending ACK/FAIL:
            # give them a moment before their connections close.
            settle = time.monotonic() + 1.0
            while time.monotonic() < settle:
                with self._lock:
                    busy = [r for r in self._running.values() if not r.abandoned]
                if not busy:
                    break
                time.sleep(0.02)
            # Threads still alive are in RESERVE (or in a stuck handler):
            # closing their connections ends them.
            with self._lock:
                clients = list(self._clients.values())
            for c in clients:
                c.close(timeout=0.5)
            for t in self._threads:
                t.join(0.5)
            self._stopped = True
            return self.result

    # ------------------------------------------------------------------
    # Worker threads

    def _thread_main(self, index: int) -> None:
        me = threading.current_thread().name
        client: Optional[Client] = None
        backoff = 0.05
        try:
            while not self._stop.is_set():
                try:
                    if client is None or client.is_closed:
                        try:
                            client = self._factory()
                        except AuthorizationError as exc:
                            log.error("%s: cannot connect: %s", me, exc)
                            self._stop.wait(backoff)
                            backoff = min(backoff * 2, 2.0)
                            continue
                        except Error as exc:
                            log.warning("%s: cannot connect: %s", me, exc)
                            self._stop.wait(backoff)
                            backoff = min(backoff * 2, 2.0)
                            continue
                        backoff = 0.05
                        with self._lock:
                            self._clients[index] = client
                        if self._stop.is_set():
                            break
                    try:
                        job = client.reserve(self.queues, timeout=self.reserve_timeout)
                    except (DocketError, BadArgument) as exc:
                        log.error("reserve refused: %s; stopping the worker", exc)
                        self.fatal_error = exc
                        self._request_stop("fatal_error")
                        break
                    except (ConnectionLost, ConnectionClosed, Timeout) as exc:
                        log.info("%s: reserve interrupted: %s", me, exc)
                        continue
                    except Error as exc:  # e.g. a ProtocolError: the client reconnects
                        log.warning("%s: reserve failed: %s", me, exc)
                        self._stop.wait(backoff)
                        backoff = min(backoff * 2, 2.0)
                        continue
                    if job is not None:
                        self._handle(index, client, job)
                except BaseException:  # noqa: B902 - a slot never dies
                    self._count("errors")
                    log.error("%s: unexpected error; the slot carries on\n%s", me, _traceback_text())
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, 2.0)
        finally:
            if not self._stop.is_set():
                self._count("slots_lost")
                log.error("%s: slot thread ended before the worker was stopped", me)
            if client is not None:
                client.close(timeout=1.0)

    def _handle(self, index: int, client: Client, job: Job) -> None:
        ctx = JobContext(job, client, self._stop)
        running = _Running(ctx, client)
        with self._lock:
            self._running[index] = running
        failed: Optional[BaseException] = None
        try:
            beat = self._start_heartbeat(index, running)
            result, failed, retry = self._call_handler(ctx)
            running.done.set()
            if beat is not None:
                beat.join()
            if failed is not None and not isinstance(failed, Exception):
                self._count("crashed")
                log.warning(
                    "job %d: handler raised %s\n%s", job.id, _type_name(failed) or "BaseException",
                    _traceback_text(failed),
                )
            with self._lock:
                give_up = running.abandoned
                running.finishing = not give_up
            if give_up:
                log.info("job %d finished after it was handed back; outcome dropped", job.id)
            else:
                self._finish(client, running, result, failed, retry)
        finally:
            running.done.set()
            with self._lock:
                self._running.pop(index, None)
            if isinstance(failed, (SystemExit, KeyboardInterrupt)):
                log.warning("job %d: handler raised %s: stopping the worker", job.id, _type_name(failed))
                self._request_stop("handler_exit")

    def _call_handler(self, ctx: JobContext) -> Tuple[Any, Optional[BaseException], Union[None, bool, P.Duration]]:
        """``(result, exception, retry)``; never raises."""
        try:
            return self.handler(ctx), None, None
        except NonRetryable as exc:
            return None, exc, False
        except RetryAfter as exc:
            try:
                delay = exc.delay
            except BaseException:  # noqa: B902
                delay = None
            return None, exc, delay
        except Throttle as exc:
            return None, exc, None
        except BaseException as exc:  # noqa: B902 - every failure FAILs the job
            return None, exc, None

    def _finish(
        self,
        client: Client,
        running: _Running,
        result: Any,
        failed: Optional[BaseException],
        retry: Union[None, bool, P.Duration],
    ) -> None:
        job = running.ctx.job
        outcome = "lost"
        reason: Optional[str] = None
        try:
            if failed is None:
                try:
                    body = _result_bytes(result)
                except BaseException as exc:  # noqa: B902 - e.g. not JSON-serialisable
                    failed, body = exc, None
                if failed is None:
                    try:
                        _FENCING.call(client, client.ack, job, job.id, body)
                    except BadArgument as exc:  # e.g. a result above max_payload
                        failed = exc
                    else:
                        self._count("acked")
                        outcome = "acked"
                        return
            reason = _reason(failed)
            outcome = self._fail(client, job, reason, retry, failed).outcome
            self._count("failed")
        except (NotHeld, NotFound) as exc:
            self._count("lost")
            log.warning("job %d: outcome not accepted (lease lost?): %s", job.id, exc)
        except (ConnectionLost, ConnectionClosed, Timeout) as exc:
            self._count("lost")
            log.warning("job %d: outcome not delivered, the server will retry it: %s", job.id, exc)
        except Error as exc:
            self._count("lost")
            log.error("job %d: outcome refused: %s", job.id, exc)
        except BaseException:  # noqa: B902 - a bug here must not leave the job held
            self._count("errors")
            log.error("job %d: unexpected error while finishing it\n%s", job.id, _traceback_text())
            try:
                self._fail(client, job, "worker error while finishing the job", None)
                outcome = "failed"
            except BaseException:  # noqa: B902
                self._count("lost")
        finally:
            _log_job(job, outcome, time.monotonic() - running.started, reason)

    def _fail(
        self,
        client: Client,
        job: Job,
        reason: str,
        retry: Union[None, bool, P.Duration],
        failed: Optional[BaseException] = None,
    ) -> FailOutcome:
        data = reason.encode("utf-8", "replace")
        limit = client.max_payload
        if limit is not None and len(data) > limit:
            data = data[:limit]
        throttle = failed if isinstance(failed, Throttle) else None
        if throttle is not None:
            try:
                return _FENCING.call(  # type: ignore[no-any-return]
                    client, client.fail, job, job.id, data, None, throttle=throttle.delay, scope=throttle.scope
                )
            except BadArgument as exc:
                # e.g. Throttle("soon"): the job follows its backoff instead
                log.warning("job %d: throttle %r not sent (%s); the job follows its backoff", job.id,
                            throttle.delay, exc)
                return _FENCING.call(client, client.fail, job, job.id, data, None)  # type: ignore[no-any-return]
        try:
            return _FENCING.call(client, client.fail, job, job.id, data, retry)  # type: ignore[no-any-return]
        except BadArgument as exc:
            if retry is None:
                raise
            # e.g. RetryAfter("soon"): the job follows its backoff instead
            log.warning("job %d: retry %r not sent (%s); the job follows its backoff", job.id, retry, exc)
            return _FENCING.call(client, client.fail, job, job.id, data, None)  # type: ignore[no-any-return]

    # ------------------------------------------------------------------
    # Heartbeats

    def _start_heartbeat(self, index: int, running: _Running) -> Optional[threading.Thread]:
        if self.heartbeat is None:
            return None
        try:
            beat = threading.Thread(
                target=self._heartbeat, args=(running,), name=f"{self.name}-heartbeat-{index}", daemon=True
            )
            beat.start()
            return beat
        except BaseException:  # noqa: B902 - e.g. no thread can be started now
            self._count("errors")
            log.error("job %d: cannot start its heartbeat\n%s", running.ctx.id, _traceback_text())
            return None

    def _interval(self, running: _Running) -> float:
        """Seconds between heartbeats for this job."""
        ctx = running.ctx
        if self.heartbeat != AUTO:
            interval = float(self.heartbeat)  # type: ignore[arg-type]
            if ctx.lease_ms is not None and interval * 1000 >= ctx.lease_ms and not self._warned_heartbeat:
                self._warned_heartbeat = True
                log.warning(
                    "heartbeat=%ss is not shorter than job %d's lease of %dms: its lease can run out",
                    interval, ctx.id, ctx.lease_ms,
                )
            return interval
        if ctx.lease_ms is None:
            # A server that does not name the lease in JOB: ask for it once.
            try:
                lease = running.client.inspect(ctx.id).get("lease_ms")
            except Error as exc:
                lease = None
                log.warning("job %d: cannot learn its lease (%s)", ctx.id, exc)
            if isinstance(lease, int) and not isinstance(lease, bool) and lease > 0:
                ctx._lease_ms = lease
            else:
                log.warning("job %d: lease unknown; heartbeat every %ss", ctx.id, FALLBACK_HEARTBEAT)
                return FALLBACK_HEARTBEAT
        assert ctx.lease_ms is not None
        return max(ctx.lease_ms / 3000.0, MIN_HEARTBEAT)

    def _heartbeat(self, running: _Running) -> None:
        ctx = running.ctx
        try:
            interval = self._interval(running)
            while not running.done.wait(interval):
                try:
                    ctx.touch()
                except (NotHeld, NotFound) as exc:
                    log.warning("job %d lease lost: %s", ctx.id, exc)
                    ctx._lease_lost.set()
                    return
                except (ConnectionLost, ConnectionClosed) as exc:
                    log.warning("job %d lost with the connection: %s", ctx.id, exc)
                    ctx._lease_lost.set()
                    return
                except Error as exc:
                    log.warning("heartbeat for job %d failed: %s", ctx.id, exc)
        except BaseException:  # noqa: B902
            self._count("errors")
            log.error("job %d: heartbeat thread failed\n%s", ctx.id, _traceback_text())


def _log_job(job: Job, outcome: str, duration: float, reason: Optional[str] = None) -> None:
    """The one INFO line per job run."""
    fields = {
        "job_id": job.id,
        "queue": job.queue,
        "attempt": job.attempt,
        "delivery": job.delivery,
        "outcome": outcome,
        "duration": round(duration, 6),
        "reason": reason,
    }
    log.info(
        "job %d queue=%s attempt=%d delivery=%s outcome=%s duration=%.3fs%s",
        job.id, job.queue, job.attempt, "-" if job.delivery is None else job.delivery, outcome, duration,
        "" if reason is None else f" reason={reason!r}",
        extra={"docket_job": fields},
    )


def _result_bytes(result: Any) -> Optional[P.Payload]:
    if result is None or isinstance(result, (bytes, bytearray, memoryview, str)):
        return result
    return json.dumps(result).encode("utf-8")


def _type_name(exc: BaseException) -> Optional[str]:
    try:
        name = type(exc).__name__
    except BaseException:  # noqa: B902 - a metaclass may make even this raise
        return None
    return name if isinstance(name, str) and name else None


def _reason(exc: Optional[BaseException]) -> str:
    """A FAIL reason that is always printable: ``<Type>: <text>``, or the
    type name when ``str(exc)`` fails, or a fixed text when that fails too."""
    if exc is None:
        return _UNPRINTABLE
    name = _type_name(exc)
    try:
        text = str(exc)
    except BaseException:  # noqa: B902 - __str__ may raise anything
        text = None
    if text is not None and not isinstance(text, str):
        text = None
    if isinstance(exc, (NonRetryable, RetryAfter, Throttle)) and text:
        return text
    if name is None:
        return text or _UNPRINTABLE
    return f"{name}: {text}" if text else name


def _traceback_text(exc: Optional[BaseException] = None) -> str:
    """The traceback of ``exc`` (default: the one being handled), or a
    placeholder if even formatting it fails."""
    try:
        if exc is None:
            return traceback.format_exc().rstrip()
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
    except BaseException:  # noqa: B902
        return "(traceback unavailable)"
