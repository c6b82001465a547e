"""A job worker: threads that reserve jobs, run a handler, and ACK or FAIL.

Each of the ``concurrency`` threads has its own connection, because RESERVE
stops the server from reading a connection while it waits. Each loops:

1. ``RESERVE <queues> timeout=<reserve_timeout>`` (short, so a stop is
   noticed within it);
2. run ``handler(ctx)`` with a :class:`JobContext`, while a heartbeat thread
   sends ``TOUCH`` every ``heartbeat`` seconds on the same connection (the
   client is thread-safe, so the TOUCH is pipelined with everything else);
3. ``ACK`` with the handler's return value, or ``FAIL`` with the exception
   text: :class:`NonRetryable` becomes ``retry=no``, :class:`RetryAfter`
   ``retry=<its delay>``, anything else follows the job's backoff.

Shutdown (``stop()``, or SIGTERM/SIGINT under :meth:`Worker.run`): no new
RESERVE is sent, running handlers get ``grace`` seconds to finish, then
the jobs of those still running are FAILed (``retry=0``) so another worker
runs them at once, and the connections are closed. A second signal cuts
the grace period short.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from . import protocol as P
from .client import Client
from .errors import BadArgument, ConnectionClosed, ConnectionLost, DocketError, Error, NotFound, NotHeld, Timeout
from .models import Job

__all__ = ["Worker", "JobContext", "NonRetryable", "RetryAfter"]

log = logging.getLogger("docket.worker")


class NonRetryable(Exception):
    """Raise from a handler when retrying cannot help: the job is FAILed
    with ``retry=no`` and is dead at once."""


class RetryAfter(Exception):
    """Raise from a handler to retry the job after ``delay`` (seconds or a
    duration string), instead of its backoff. Still bounded by its attempts."""

    def __init__(self, delay: P.Duration, message: str = "") -> None:
        self.delay = delay
        super().__init__(message or f"retry after {delay}")


class JobContext:
    """What a handler gets: the job, and ways to report on it."""

    def __init__(self, job: Job, client: Client, stopping: threading.Event) -> None:
        self.job = job
        self.client = client
        self._stopping = stopping
        self._lease_lost = threading.Event()

    @property
    def id(self) -> int:
        """The job id."""
        return self.job.id

    @property
    def queue(self) -> str:
        """The queue the job came from."""
        return self.job.queue

    @property
    def attempt(self) -> int:
        """Which run this is, from 1."""
        return self.job.attempt

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
        self.client.progress(self.job.id, percent, note)

    def touch(self) -> None:
        """Extend the lease now."""
        self.client.touch(self.job.id)


class _Running:
    """A job being handled by one worker thread."""

    def __init__(self, ctx: JobContext, client: Client) -> None:
        self.ctx = ctx
        self.client = client
        self.done = threading.Event()  # handler returned (or raised)
        self.finishing = False  # the thread is sending ACK/FAIL
        self.abandoned = False  # shutdown FAILed it after the grace period


HandlerResult = Union[None, bytes, bytearray, memoryview, str, Any]


class Worker:
    """Runs ``handler(ctx)`` for the jobs of ``queues``.

    ``client`` is a URL or a factory returning a new :class:`~docket.Client`
    (one is made per thread; the worker closes them). ``heartbeat`` is the
    TOUCH interval in seconds while a handler runs (None: no heartbeats);
    keep it well below the jobs' lease (``lease=30s`` by default).
    ``grace`` is how long shutdown waits for running handlers.
    """

    def __init__(
        self,
        client: Union[str, Callable[[], Client]],
        queues: Union[str, Sequence[str]],
        handler: Callable[[JobContext], HandlerResult],
        *,
        concurrency: int = 1,
        heartbeat: Optional[float] = 10.0,
        reserve_timeout: float = 1.0,
        grace: float = 30.0,
        client_options: Optional[Dict[str, Any]] = None,
        name: str = "docket-worker",
    ) -> None:
        if isinstance(client, str):
            url, options = client, dict(client_options or {})
            self._factory: Callable[[], Client] = lambda: Client(url, **options)
        elif callable(client):
            self._factory = client
        else:
            raise TypeError("client must be a URL or a callable returning a docket.Client")
        self.queues = [queues] if isinstance(queues, str) else list(queues)
        for q in self.queues:
            P.check_queue_name(q)
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if heartbeat is not None and heartbeat <= 0:
            raise ValueError("heartbeat must be positive (or None)")
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
        self.fatal_error: Optional[BaseException] = None
        #: Jobs ACKed, FAILed, and handed back at shutdown, so far.
        self.acked = 0
        self.failed = 0
        self.abandoned = 0

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

    def stop(self, grace: Optional[float] = None, wait: bool = True) -> bool:
        """Stop reserving; with ``wait``, let running handlers finish for up
        to ``grace`` seconds (default: the worker's), FAIL the jobs of those
        still running so they are retried, close the connections, and return
        True if every handler finished in time."""
        self._stop.set()
        if not wait:
            return True
        return self._shutdown(self.grace if grace is None else grace)

    @property
    def stopping(self) -> bool:
        """True once a stop was requested."""
        return self._stop.is_set()

    def run(self, install_signal_handlers: bool = True) -> bool:
        """Start, block until stopped (``stop()`` from another thread, or
        SIGTERM/SIGINT when called from the main thread), shut down
        gracefully and return like :meth:`stop`. Re-raises a fatal error
        (e.g. :class:`~docket.BadQueue`)."""
        previous: Dict[signal.Signals, Any] = {}
        if install_signal_handlers and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            if not self._started:
                self.start()
            while not self._stop.is_set() and not self._signalled:
                time.sleep(0.05)
            self._stop.set()
            clean = self._shutdown(self.grace)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self.fatal_error is not None:
            raise self.fatal_error
        return clean

    def _on_signal(self, signum: int, frame: Any) -> None:
        # Only plain assignments here: a signal handler must not take locks
        # the interrupted main thread may hold.
        if self._signalled:
            self._force_now = True
        self._signalled = True

    _force_now = False

    # ------------------------------------------------------------------
    # Shutdown

    def _shutdown(self, grace: float) -> bool:
        with self._shutdown_lock:
            if self._stopped:
                return not self.abandoned
            deadline = time.monotonic() + grace
            while any(t.is_alive() for t in self._threads):
                if time.monotonic() >= deadline or self._force_now or self._force.is_set():
                    break
                time.sleep(0.02)
            clean = True
            with self._lock:
                stuck = [r for r in self._running.values() if not r.finishing and not r.done.is_set()]
                for r in stuck:
                    r.abandoned = True
            for r in stuck:
                clean = False
                self.abandoned += 1
                log.warning("job %d still running after the grace period: handing it back", r.ctx.id)
                try:
                    r.client.fail(r.ctx.id, b"worker shut down before the handler finished", retry=0)
                except Error as exc:
                    log.warning("could not hand back job %d: %s", r.ctx.id, exc)
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
            return clean

    # ------------------------------------------------------------------
    # Worker threads

    def _thread_main(self, index: int) -> None:
        client: Optional[Client] = None
        backoff = 0.05
        try:
            while not self._stop.is_set():
                if client is None or client.is_closed:
                    try:
                        client = self._factory()
                    except Error as exc:
                        log.warning("%s: cannot connect: %s", threading.current_thread().name, exc)
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
                except (ConnectionLost, Timeout) as exc:
                    log.info("reserve interrupted: %s", exc)
                    continue
                except ConnectionClosed:
                    continue
                except DocketError as exc:
                    log.error("reserve refused: %s; stopping the worker", exc)
                    self.fatal_error = exc
                    self._stop.set()
                    break
                if job is not None:
                    self._handle(index, client, job)
        finally:
            if client is not None:
                client.close(timeout=1.0)

    def _handle(self, index: int, client: Client, job: Job) -> None:
        ctx = JobContext(job, client, self._stop)
        running = _Running(ctx, client)
        with self._lock:
            self._running[index] = running
        beat: Optional[threading.Thread] = None
        if self.heartbeat is not None:
            beat = threading.Thread(
                target=self._heartbeat, args=(running,), name=f"{self.name}-heartbeat-{index}", daemon=True
            )
            beat.start()
        retry: Union[None, bool, P.Duration] = None
        result: Any = None
        failed: Optional[BaseException] = None
        try:
            result = self.handler(ctx)
        except NonRetryable as exc:
            failed, retry = exc, False
        except RetryAfter as exc:
            failed, retry = exc, exc.delay
        except BaseException as exc:  # noqa: B902 - every failure FAILs the job
            failed = exc
        finally:
            running.done.set()
            if beat is not None:
                beat.join()
            with self._lock:
                give_up = running.abandoned
                running.finishing = not give_up
        try:
            if give_up:
                log.info("job %d finished after it was handed back; outcome dropped", job.id)
            else:
                self._finish(client, ctx, result, failed, retry)
        finally:
            with self._lock:
                self._running.pop(index, None)
        if failed is not None and not isinstance(failed, Exception):
            raise failed  # SystemExit and friends, after the job was FAILed

    def _finish(
        self,
        client: Client,
        ctx: JobContext,
        result: Any,
        failed: Optional[BaseException],
        retry: Union[None, bool, P.Duration],
    ) -> None:
        job = ctx.job
        try:
            if failed is None:
                try:
                    body = _result_bytes(result)
                except (TypeError, ValueError) as exc:
                    failed, body = exc, None
                if failed is None:
                    try:
                        client.ack(job.id, body)
                    except BadArgument as exc:  # e.g. a result above max_payload
                        failed = exc
                    else:
                        self.acked += 1
                        return
            reason = _reason(failed).encode("utf-8", "replace")
            limit = client.max_payload
            if limit is not None and len(reason) > limit:
                reason = reason[:limit]
            outcome = client.fail(job.id, reason, retry)
            self.failed += 1
            log.info("job %d attempt %d failed (%s): %s", job.id, job.attempt, outcome.outcome, _reason(failed))
        except (NotHeld, NotFound) as exc:
            log.warning("job %d: outcome not accepted (lease lost?): %s", job.id, exc)
        except (ConnectionLost, ConnectionClosed, Timeout) as exc:
            log.warning("job %d: outcome not delivered, the server will retry it: %s", job.id, exc)
        except Error as exc:
            log.error("job %d: outcome refused: %s", job.id, exc)

    def _heartbeat(self, running: _Running) -> None:
        assert self.heartbeat is not None
        while not running.done.wait(self.heartbeat):
            try:
                running.client.touch(running.ctx.id)
            except (NotHeld, NotFound) as exc:
                log.warning("job %d lease lost: %s", running.ctx.id, exc)
                running.ctx._lease_lost.set()
                return
            except (ConnectionLost, ConnectionClosed) as exc:
                log.warning("job %d lost with the connection: %s", running.ctx.id, exc)
                running.ctx._lease_lost.set()
                return
            except Error as exc:
                log.warning("heartbeat for job %d failed: %s", running.ctx.id, exc)


def _result_bytes(result: Any) -> Optional[P.Payload]:
    if result is None or isinstance(result, (bytes, bytearray, memoryview, str)):
        return result
    return json.dumps(result).encode("utf-8")


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, (NonRetryable, RetryAfter)):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
