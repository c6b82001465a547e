"""How a worker handles jobs, written once for both workers.

:class:`WorkerCore` holds what the threaded :class:`docketd_client.Worker`
and the asyncio :class:`docketd_client.aio.Worker` share: the options,
the counters, and the logic of a slot (reserve, run the handler, ACK or
FAIL, with its logging), of heartbeats (the interval, what a failed TOUCH
means) and of the shutdown (handing back the jobs that outlive the grace
period).

That logic is written as coroutines, because the asyncio worker must
``await`` its client. Every wait and every client call in it goes through
a method the worker provides (``_result_of``, ``_pause``, ...). The
threaded worker's are plain blocking calls that never suspend, so it runs
these coroutines to their end in one step with :func:`run_blocking`, on
its own threads, without an event loop.

The handler's exceptions (:class:`NonRetryable`, :class:`RetryAfter`,
:class:`Throttle`) and :class:`WorkerResult` are defined here too, and
exported by both packages.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import threading
import time
import traceback
import weakref
from dataclasses import dataclass
from typing import (
    Any,
    Awaitable,
    Callable,
    ClassVar,
    Coroutine,
    Dict,
    Generic,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypeVar,
    Union,
)
from typing import Protocol

from . import protocol as P
from ._client_core import check_positive_int
from ._common import queue_list
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

log = logging.getLogger("docketd_client.worker")  # both workers log here

#: ``heartbeat=AUTO`` (the default): TOUCH every third of each job's lease.
AUTO = "auto"
#: Heartbeat interval when the lease cannot be learned (a third of the
#: server's default lease of 30 s).
FALLBACK_HEARTBEAT = 10.0
#: The shortest automatic heartbeat interval.
MIN_HEARTBEAT = 0.05

_UNPRINTABLE = "handler failed with an exception that cannot be printed"

Result = TypeVar("Result")
ContextT = TypeVar("ContextT", bound="JobContextCore")
ClientT = TypeVar("ClientT")

#: What ``FAIL`` gets as ``retry``: None (the backoff), False (dead at once) or a delay.
Retry = Union[None, bool, P.Duration]
#: ``(result, exception, retry)`` of a handler run.
Outcome = Tuple[Any, Optional[BaseException], Retry]


def run_blocking(coroutine: Coroutine[Any, Any, Result]) -> Result:
    """Run a coroutine that never suspends (all it awaits are blocking
    calls) to its end, and return its result: the threaded worker's way to
    run the shared coroutines."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("a worker coroutine suspended outside an event loop")


async def returned(value: Any) -> Any:
    """A blocking call's result: the value it returned (threaded worker)."""
    return value


async def awaited(value: Any) -> Any:
    """A call's result when it may return an awaitable (asyncio worker)."""
    if inspect.isawaitable(value):
        return await value
    return value


# --------------------------------------------------------------------------
# What a handler sees and raises


class NonRetryable(Exception):
    """Raise from a handler when retrying cannot help: the job is FAILed
    with ``retry=no`` and is dead at once."""


class RetryAfter(Exception):
    """Raise from a handler to retry the job after ``delay`` (seconds or a
    duration string), instead of its backoff. Still bounded by its attempts."""

    def __init__(self, delay: P.Duration, message: str = "") -> None:
        # Checked here, where the mistake is, rather than when the worker sends FAIL.
        P.format_duration(delay, "RetryAfter delay")
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
        # Checked here, where the mistake is, rather than when the worker sends FAIL.
        P._positive_duration(delay, "Throttle delay")
        if scope not in (None, "queue", "group"):
            raise BadArgument(f"Throttle scope must be 'queue' or 'group', not {scope!r}")
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
    #: Handlers still running after ``max_run_time``: their jobs were FAILed
    #: (counted in ``failed`` too) and their outcomes, if they ever come, dropped.
    timed_out: int = 0

    def __bool__(self) -> bool:
        return self.clean


class AttemptFencing:
    """Sends ACK, FAIL, PROGRESS and TOUCH with ``attempt=`` of the held job.

    A server older than attempt fencing refuses the option with
    ``BAD_OPTION attempt=...``: nothing happened then, so the command is
    sent again without it, and later commands on that connection (until the
    client reconnects) go without it at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._unfenced: "weakref.WeakKeyDictionary[Any, int]" = weakref.WeakKeyDictionary()

    async def fenced(
        self,
        result_of: Callable[[Any], Awaitable[Any]],
        client: Any,
        method: Callable[..., Any],
        job: Job,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """``method(*args, attempt=job.attempt, **kwargs)`` (``result_of``
        gives what the call returned: see :func:`returned`, :func:`awaited`)."""
        with self._lock:
            known_old = self._unfenced.get(client) == client.reconnects
        if not known_old:
            try:
                return await result_of(method(*args, attempt=job.attempt, **kwargs))
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
        return await result_of(method(*args, **kwargs))


class JobContextCore:
    """What a handler gets: the job, and ways to report on it (each
    worker's JobContext adds ``progress()`` and ``touch()``, which send the
    attempt the worker holds, ``attempt=``, like its own ACK, FAIL and
    heartbeats)."""

    def __init__(self, job: Job, client: Any, stopping: Any) -> None:
        self.job = job
        self.client = client
        self._stopping = stopping  # the worker's stop event
        self._lease_lost = False
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
        return bool(self._stopping.is_set())

    @property
    def lease_lost(self) -> bool:
        """True once a heartbeat found the job no longer held (lease expired,
        connection lost): its outcome will not be accepted."""
        return self._lease_lost

    def touch(self) -> Any:
        """Extend the lease now (blocking, or a coroutine on the asyncio worker)."""
        raise NotImplementedError


class Flag(Protocol):
    """A threading.Event or an asyncio.Event, as far as both work alike."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...


class Running:
    """A job being handled by one slot."""

    def __init__(self, ctx: JobContextCore, client: Any, done: Flag) -> None:
        self.ctx = ctx
        self.client = client
        self.started = time.monotonic()
        self.done = done  # the handler returned (or raised)
        self.finishing = False  # the slot is sending ACK/FAIL
        self.abandoned = False  # shutdown handed it back after the grace period
        #: The handler's task (asyncio worker), cancelled when it is handed back.
        self.task: "Optional[asyncio.Task[Any]]" = None

    def cancel_handler(self) -> None:
        if self.task is not None:
            self.task.cancel()


# --------------------------------------------------------------------------
# The worker


class WorkerCore(Generic[ContextT, ClientT]):
    """Runs ``handler(ctx)`` for the jobs of ``queues``.

    ``client`` is a URL or a factory returning a new client (one is made
    per slot; the worker closes them). With a URL, ``user``/``password``,
    ``token``, ``nkeys_seed``/``nkeys_seed_str`` or ``user_credentials`` (or
    ``client_options``) are passed to each client;
    credentials can also be in the URL or the environment (see
    :class:`~docketd_client.Client`). A slot whose connection is refused
    (:class:`~docketd_client.AuthorizationError`) logs it at ERROR and tries
    again with backoff (up to 2 s). ``heartbeat`` is the TOUCH interval in
    seconds while a handler runs: :data:`AUTO` (the default) is a third of
    each job's lease (from the JOB line, or one INSPECT when the server
    does not send it), None sends no heartbeats. ``grace`` is how long
    shutdown waits for running handlers. ``max_run_time`` (seconds, None:
    no limit, the default) bounds one run of the handler: past it the
    worker stops extending the lease, FAILs the job (``handler ran longer
    than max_run_time``, retried by its backoff) and drops the handler's
    outcome if it ever comes. ``name`` starts the names of the slots (and
    of the threads, for the threaded worker).
    """

    # -- what each worker sets -------------------------------------------------

    #: The default ``name``.
    _default_name: ClassVar[str]
    #: The client class a URL makes.
    _client_type: ClassVar[Callable[..., Any]]
    #: What ``client`` must make, for the error when it is neither a URL nor a factory.
    _client_description: ClassVar[str]
    #: "thread" or "task", for the log.
    _runs_on: ClassVar[str]
    #: What a slot survives (logged, counted in ``errors``). The asyncio
    #: worker lets BaseExceptions through: CancelledError ends its tasks.
    _survivable: ClassVar[Tuple[Type[BaseException], ...]]
    #: What making a client raises when it cannot connect (logged, retried).
    _connect_errors: ClassVar[Tuple[Type[BaseException], ...]]
    #: The pause after a RESERVE interrupted by the connection.
    _interrupted_reserve_pause: ClassVar[float]
    _fencing: ClassVar[AttemptFencing]
    _lock: Any  # a threading.Lock, or no-op for the single-threaded asyncio worker
    _stop: Any  # the stop event (set once stopping)

    def __init__(
        self,
        client: Union[str, Callable[[], ClientT]],
        queues: Union[str, Sequence[str]],
        handler: Callable[[ContextT], Any],
        *,
        concurrency: int = 1,
        heartbeat: Union[None, float, str] = AUTO,
        reserve_timeout: float = 1.0,
        grace: float = 30.0,
        max_run_time: Optional[float] = None,
        client_options: Optional[Dict[str, Any]] = None,
        name: Optional[str] = None,
        user: Optional[str] = None,
        password: Optional[str] = None,
        token: Optional[str] = None,
        nkeys_seed: Optional[str] = None,
        nkeys_seed_str: Optional[str] = None,
        user_credentials: Optional[str] = None,
    ) -> None:
        given = (("user", user), ("password", password), ("token", token), ("nkeys_seed", nkeys_seed),
                 ("nkeys_seed_str", nkeys_seed_str), ("user_credentials", user_credentials))
        credentials = {k: v for k, v in given if v is not None}
        if isinstance(client, str):
            url, options = client, dict(client_options or {})
            options.update(credentials)
            self._factory: Callable[[], Any] = lambda: self._client_type(url, **options)
        elif callable(client):
            if credentials:
                raise TypeError("credentials (user=, token=, nkeys_seed=, ...) go with a URL; a client factory passes its own")
            self._factory = client
        else:
            raise TypeError(f"client must be a URL or a callable returning a {self._client_description}")
        # Checked here, as the client checks its arguments (BadArgument),
        # rather than found out by start() or by a slot at run time.
        self.queues = queue_list(queues)
        if not callable(handler):
            raise TypeError(f"handler must be a function of the job context, not {handler!r}")
        check_positive_int(concurrency, "concurrency")
        if heartbeat is not None and heartbeat != AUTO:
            if isinstance(heartbeat, bool) or not isinstance(heartbeat, (int, float)) or not heartbeat > 0:
                raise BadArgument("heartbeat must be a positive number of seconds, AUTO, or None")
        if reserve_timeout is not None:
            P.format_duration(reserve_timeout, "reserve_timeout")  # what RESERVE will be sent
        if isinstance(grace, bool) or not isinstance(grace, (int, float)) or not grace >= 0:  # NaN too
            raise BadArgument(f"grace must be a non-negative number of seconds, not {grace!r}")
        if max_run_time is not None and (
            isinstance(max_run_time, bool) or not isinstance(max_run_time, (int, float)) or not 0 < max_run_time < math.inf
        ):
            raise BadArgument(f"max_run_time must be a positive number of seconds, or None; not {max_run_time!r}")
        self.handler = handler
        self.concurrency = concurrency
        self.heartbeat = heartbeat
        self.reserve_timeout = reserve_timeout
        self.grace = grace
        self.max_run_time = max_run_time
        self.name = self._default_name if name is None else name

        self._clients: Dict[int, Any] = {}
        self._running: Dict[int, Running] = {}
        self._started = False
        self._stopped = False
        self._reason = ""
        self._warned_heartbeat = False
        self._force_now = False  # a second signal: no more grace
        self.fatal_error: Optional[BaseException] = None
        #: Counters so far (see :class:`WorkerResult`).
        self.acked = 0
        self.failed = 0
        self.crashed = 0
        self.abandoned = 0
        self.lost = 0
        self.errors = 0
        self.slots_lost = 0
        self.timed_out = 0
        self._init_runtime()

    @property
    def stopping(self) -> bool:
        """True once a stop was requested (or a handler stopped the worker)."""
        return self._stop is not None and bool(self._stop.is_set())

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
                self.abandoned, self.lost, self.errors, self.slots_lost, self.timed_out,
            )

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def _fenced(self, client: Any, method: Callable[..., Any], job: Job, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return self._fencing.fenced(self._result_of, client, method, job, *args, **kwargs)

    # ------------------------------------------------------------------
    # A slot

    async def _slot(self, index: int) -> None:
        """Reserve a job, handle it, and again, until the worker stops.
        Whatever goes wrong, the slot carries on."""
        me = f"{self.name}-{index}"
        client: Any = None
        backoff = 0.05
        try:
            while not self._stop.is_set():
                try:
                    if client is None or client.is_closed:
                        try:
                            client = await self._make_client()
                        except self._connect_errors as exc:
                            level = logging.ERROR if isinstance(exc, AuthorizationError) else logging.WARNING
                            log.log(level, "%s: cannot connect: %s", me, exc)
                            await self._pause(backoff)
                            backoff = min(backoff * 2, 2.0)
                            continue
                        backoff = 0.05
                        with self._lock:
                            self._clients[index] = client
                        if self._stop.is_set():
                            break
                    try:
                        job = await self._result_of(client.reserve(self.queues, timeout=self.reserve_timeout))
                    except (DocketError, BadArgument) as exc:
                        log.error("reserve refused: %s; stopping the worker", exc)
                        self.fatal_error = exc
                        self._request_stop("fatal_error")
                        break
                    except (ConnectionLost, ConnectionClosed, Timeout) as exc:
                        log.info("%s: reserve interrupted: %s", me, exc)
                        await self._pause(self._interrupted_reserve_pause)
                        continue
                    except Error as exc:  # e.g. a ProtocolError: the client reconnects
                        log.warning("%s: reserve failed: %s", me, exc)
                        await self._pause(backoff)
                        backoff = min(backoff * 2, 2.0)
                        continue
                    if job is not None:
                        await self._handle(index, client, job)
                except self._survivable:  # a slot never dies
                    self._count("errors")
                    log.error("%s: unexpected error; the slot carries on\n%s", me, _traceback_text())
                    await self._pause(backoff)
                    backoff = min(backoff * 2, 2.0)
        finally:
            if not self._stop.is_set():
                self._count("slots_lost")
                log.error("%s: slot %s ended before the worker was stopped", me, self._runs_on)

    async def _handle(self, index: int, client: Any, job: Job) -> None:
        running = self._new_running(job, client)
        with self._lock:
            self._running[index] = running
        failed: Optional[BaseException] = None
        beat: Any = None
        try:
            if self.heartbeat is not None or self.max_run_time is not None:
                beat = self._start_heartbeat(index, running)
            outcome = await self._run_handler(running)
            running.done.set()
            if beat is not None:
                await self._end_heartbeat(beat)
            if outcome is not None:
                failed = outcome[1]
                if failed is not None and not isinstance(failed, Exception):
                    self._count("crashed")
                    log.warning(
                        "job %d: handler raised %s\n%s", job.id, _type_name(failed) or "BaseException",
                        _traceback_text(failed),
                    )
            with self._lock:
                give_up = outcome is None or running.abandoned
                running.finishing = not give_up
            if give_up:
                log.info("job %d finished after it was handed back; outcome dropped", job.id)
            else:
                assert outcome is not None
                await self._finish(client, running, *outcome)
        finally:
            running.done.set()
            if beat is not None:
                self._cancel_heartbeat(beat)
            with self._lock:
                self._running.pop(index, None)
            if isinstance(failed, (SystemExit, KeyboardInterrupt)):
                log.warning("job %d: handler raised %s: stopping the worker", job.id, _type_name(failed))
                self._request_stop("handler_exit")

    async def _call_handler(self, running: Running) -> Outcome:
        """``(result, exception, retry)``; raises only the CancelledError of
        a handler task cancelled by the shutdown."""
        try:
            return await self._result_of(self.handler(running.ctx)), None, None  # type: ignore[arg-type]
        except NonRetryable as exc:
            return None, exc, False
        except RetryAfter as exc:
            try:
                delay = exc.delay
            except BaseException:  # noqa: B902
                delay = None
            return None, exc, delay
        except BaseException as exc:  # noqa: B902 - every failure FAILs the job
            if isinstance(exc, asyncio.CancelledError) and running.abandoned and running.task is not None:
                raise
            return None, exc, None  # a handler's own CancelledError too: a crash

    async def _finish(
        self,
        client: Any,
        running: Running,
        result: Any,
        failed: Optional[BaseException],
        retry: Retry,
    ) -> None:
        """ACK or FAIL the job, count it, and log its one INFO line."""
        job = running.ctx.job
        outcome = "lost"
        reason: Optional[str] = None
        try:
            if failed is None:
                try:
                    body = _result_bytes(result)
                except self._survivable as exc:  # e.g. not JSON-serialisable
                    failed, body = exc, None
                if failed is None:
                    try:
                        await self._fenced(client, client.ack, job, job.id, body)
                    except BadArgument as exc:  # e.g. a result above max_payload
                        failed = exc
                    else:
                        self._count("acked")
                        outcome = "acked"
                        return
            reason = _reason(failed)
            outcome = (await self._fail(client, job, reason, retry, failed)).outcome
            self._count("failed")
        except (NotHeld, NotFound) as exc:
            self._count("lost")
            log.warning("job %d: outcome not accepted (lease lost?): %s", job.id, exc)
        except (ConnectionLost, ConnectionClosed, Timeout) as exc:
            self._count("lost")
            log.warning("job %d: outcome not delivered, the server will retry it: %s", job.id, exc)
        except asyncio.CancelledError:  # the asyncio worker's shutdown ended the slot mid-reply
            self._count("lost")
            log.warning("job %d: outcome not delivered (the slot was cancelled), the server will retry it", job.id)
            raise
        except Error as exc:
            self._count("lost")
            log.error("job %d: outcome refused: %s", job.id, exc)
        except self._survivable:  # a bug here must not leave the job held
            self._count("errors")
            log.error("job %d: unexpected error while finishing it\n%s", job.id, _traceback_text())
            try:
                await self._fail(client, job, "worker error while finishing the job", None)
                outcome = "failed"
            except self._survivable:
                self._count("lost")
        finally:
            _log_job(job, outcome, time.monotonic() - running.started, reason)

    async def _fail(
        self,
        client: Any,
        job: Job,
        reason: str,
        retry: Retry,
        failed: Optional[BaseException] = None,
    ) -> FailOutcome:
        data = reason.encode("utf-8", "replace")
        limit = client.max_payload
        if limit is not None and len(data) > limit:
            data = data[:limit]
        if isinstance(failed, Throttle):
            try:
                return await self._fenced(  # type: ignore[no-any-return]
                    client, client.fail, job, job.id, data, None, throttle=failed.delay, scope=failed.scope
                )
            except BadArgument as exc:
                # a delay changed after Throttle() checked it: the job follows its backoff instead
                log.warning("job %d: throttle %r not sent (%s); the job follows its backoff", job.id,
                            failed.delay, exc)
                return await self._fenced(client, client.fail, job, job.id, data, None)  # type: ignore[no-any-return]
        try:
            return await self._fenced(client, client.fail, job, job.id, data, retry)  # type: ignore[no-any-return]
        except BadArgument as exc:
            if retry is None:
                raise
            # a delay changed after RetryAfter() checked it: the job follows its backoff instead
            log.warning("job %d: retry %r not sent (%s); the job follows its backoff", job.id, retry, exc)
            return await self._fenced(client, client.fail, job, job.id, data, None)  # type: ignore[no-any-return]

    # ------------------------------------------------------------------
    # Heartbeats

    async def _heartbeat(self, running: Running) -> None:
        """TOUCH the job every interval until its handler is done, the
        lease is found lost, or the handler overran ``max_run_time``."""
        ctx = running.ctx
        try:
            interval = None if self.heartbeat is None else await self._heartbeat_interval(running)
            deadline = None if self.max_run_time is None else running.started + self.max_run_time
            next_touch = None if interval is None else time.monotonic() + interval
            while True:
                now = time.monotonic()
                wait = min(t for t in (next_touch, deadline) if t is not None) - now
                if await self._done_within(running, max(wait, 0.0)):
                    return
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    await self._overran(running)
                    return
                if next_touch is None or now < next_touch:
                    continue
                next_touch = now + interval  # type: ignore[operator]
                try:
                    await self._result_of(ctx.touch())
                except (NotHeld, NotFound) as exc:
                    log.warning("job %d lease lost: %s", ctx.id, exc)
                    ctx._lease_lost = True
                    return
                except (ConnectionLost, ConnectionClosed) as exc:
                    log.warning("job %d lost with the connection: %s", ctx.id, exc)
                    ctx._lease_lost = True
                    return
                except Error as exc:
                    log.warning("heartbeat for job %d failed: %s", ctx.id, exc)
        except self._survivable:
            self._count("errors")
            log.error("job %d: heartbeat %s failed\n%s", ctx.id, self._runs_on, _traceback_text())

    async def _overran(self, running: Running) -> None:
        """The handler ran past ``max_run_time``: drop its outcome, cancel it
        if it can be (an asyncio task), and FAIL the job so that it runs
        again by its backoff instead of being held for as long as the
        handler hangs."""
        with self._lock:
            if running.finishing or running.done.is_set() or running.abandoned:
                return
            running.abandoned = True  # an outcome that still comes is dropped
            running.cancel_handler()
            self.timed_out += 1
        job = running.ctx.job
        reason = f"handler ran longer than max_run_time ({self.max_run_time:g}s)"
        log.warning("job %d: %s; failing it", job.id, reason)
        # On the asyncio worker the slot, freed by the cancel, ends this task at once.
        await self._not_cancelled(self._fail_overran(running, reason))

    async def _fail_overran(self, running: Running, reason: str) -> None:
        job = running.ctx.job
        outcome = "lost"
        try:
            outcome = (await self._fail(running.client, job, reason, None)).outcome
            self._count("failed")
        except Error as exc:
            self._count("lost")
            log.warning("job %d: could not fail it after max_run_time: %s", job.id, exc)
        finally:
            _log_job(job, outcome, time.monotonic() - running.started, reason)

    async def _heartbeat_interval(self, running: Running) -> float:
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
                lease = (await self._result_of(running.client.inspect(ctx.id))).get("lease_ms")
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

    # ------------------------------------------------------------------
    # Shutdown

    async def _wind_down(self, grace: float) -> None:
        """After a stop: give running handlers ``grace`` seconds, hand back
        the jobs of those still running, and end the slots."""
        deadline = time.monotonic() + grace
        while self._slots_busy() and time.monotonic() < deadline and not self._force_now:
            await self._sleep(0.02)
        with self._lock:
            stuck = [r for r in self._running.values() if not r.finishing and not r.done.is_set() and not r.abandoned]
            for r in stuck:
                r.abandoned = True
                r.cancel_handler()
            self.abandoned += len(stuck)
        for r in stuck:
            log.warning("job %d still running after the grace period: handing it back", r.ctx.id)
            outcome = "handed_back"
            try:
                await self._fenced(
                    r.client, r.client.fail, r.ctx.job, r.ctx.id,
                    b"worker shut down before the handler finished", retry=0,
                )
            except Error as exc:
                outcome = "lost"
                log.warning("could not hand back job %d: %s", r.ctx.id, exc)
            _log_job(r.ctx.job, outcome, time.monotonic() - r.started, "grace period over")
        # Slots whose handler has just returned are sending ACK/FAIL: give
        # them a moment before their connections close.
        settle = time.monotonic() + 1.0
        while time.monotonic() < settle:
            with self._lock:
                busy = any(not r.abandoned for r in self._running.values())
            if not busy:
                break
            await self._sleep(0.02)
        await self._end_slots()

    # ------------------------------------------------------------------
    # What each worker provides

    def _init_runtime(self) -> None:
        """Set up the worker's own state (threads or tasks, events, locks)."""
        raise NotImplementedError

    def _request_stop(self, reason: str) -> None:
        raise NotImplementedError

    async def _result_of(self, value: Any) -> Any:
        """What a client call (or the handler) gave: the value it returned
        (threaded worker), or what the awaitable it returned gives (asyncio)."""
        raise NotImplementedError

    async def _make_client(self) -> Any:
        raise NotImplementedError

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the worker stops."""
        raise NotImplementedError

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (the shutdown polls with it)."""
        raise NotImplementedError

    def _new_running(self, job: Job, client: Any) -> Running:
        raise NotImplementedError

    async def _run_handler(self, running: Running) -> Optional[Outcome]:
        """Run the handler (:meth:`_call_handler`); None when the shutdown
        handed the job back meanwhile and its outcome must be dropped."""
        raise NotImplementedError

    def _start_heartbeat(self, index: int, running: Running) -> Any:
        """Start :meth:`_heartbeat` beside the handler; its handle, or None."""
        raise NotImplementedError

    async def _end_heartbeat(self, beat: Any) -> None:
        """The handler is done: wait for the heartbeat to end."""
        raise NotImplementedError

    def _cancel_heartbeat(self, beat: Any) -> None:
        """The slot is leaving the job, however it went: stop the heartbeat."""
        raise NotImplementedError

    async def _done_within(self, running: Running, seconds: float) -> bool:
        """Wait up to ``seconds`` for the handler to be done; whether it is."""
        raise NotImplementedError

    async def _not_cancelled(self, step: Coroutine[Any, Any, None]) -> None:
        """Run ``step`` to its end even if the task awaiting it is cancelled."""
        raise NotImplementedError

    def _slots_busy(self) -> bool:
        """Whether the shutdown must still wait for the slots (within the grace period)."""
        raise NotImplementedError

    async def _end_slots(self) -> None:
        """The last step of the shutdown: end the slots and close their clients."""
        raise NotImplementedError


# --------------------------------------------------------------------------
# Helpers


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
