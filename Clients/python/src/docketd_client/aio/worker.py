"""The asyncio worker: tasks that reserve jobs, await a handler, and ACK or FAIL.

It behaves as :class:`docketd_client.Worker` does, with tasks for threads:
``concurrency`` slots, each with its own connection (a waiting RESERVE holds
its connection), a heartbeat task per running job (TOUCH every third of the
job's lease by default), the same mapping of outcomes (``NonRetryable``,
``RetryAfter``, ``Throttle``, any other exception), ``attempt=`` on every
ACK, FAIL, PROGRESS and TOUCH, the same INFO line per job run (logger
``docketd_client.worker``), and the same graceful stop: no new RESERVE,
``grace`` seconds for running handlers, then their tasks are cancelled and
their jobs handed back (``FAIL retry=0``).

The handler is a coroutine function (``async def handle(ctx)``) or a plain
function; a plain one runs on the event loop, so it must not block (run
blocking work with ``await asyncio.to_thread(...)`` or an executor).
"""

from __future__ import annotations

import asyncio
import inspect as _inspect
import logging
import signal
import threading
import weakref
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Tuple, Union

from .. import protocol as P
from .._common import queue_list
from ..errors import (
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
from ..models import FailOutcome, Job
from ..worker import (
    AUTO,
    FALLBACK_HEARTBEAT,
    MIN_HEARTBEAT,
    NonRetryable,
    RetryAfter,
    Throttle,
    WorkerResult,
    _log_job,
    _reason,
    _result_bytes,
    _traceback_text,
    _type_name,
)
from .client import Client

__all__ = ["Worker", "JobContext"]

log = logging.getLogger("docketd_client.worker")

ClientSource = Union[str, Callable[[], Union[Client, Awaitable[Client]]]]


class _Fencing:
    """ACK, FAIL, PROGRESS and TOUCH with ``attempt=`` of the held job; on
    a server that predates attempt fencing (``BAD_OPTION attempt=...``),
    again without it, and without it at once on that connection after."""

    def __init__(self) -> None:
        self._unfenced: "weakref.WeakKeyDictionary[Client, int]" = weakref.WeakKeyDictionary()

    async def call(self, client: Client, method: Callable[..., Awaitable[Any]], job: Job, *args: Any,
                   **kwargs: Any) -> Any:
        if self._unfenced.get(client) != client.reconnects:
            try:
                return await method(*args, attempt=job.attempt, **kwargs)
            except BadOption as exc:
                if not exc.message.startswith("attempt="):
                    raise
                if client not in self._unfenced:
                    log.warning("the server does not know attempt= (it predates attempt fencing): "
                                "sending job commands without it")
                self._unfenced[client] = client.reconnects
        return await method(*args, **kwargs)


_FENCING = _Fencing()


class JobContext:
    """What a handler gets: the job, and ways to report on it
    (:meth:`progress` and :meth:`touch` are coroutines and send the attempt
    the worker holds)."""

    def __init__(self, job: Job, client: Client, stopping: asyncio.Event) -> None:
        self.job = job
        self.client = client
        self._stopping = stopping
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
        """Which run this is, from 1 (not unique: see ``delivery``)."""
        return self.job.attempt

    @property
    def delivery(self) -> Optional[int]:
        """The id of this hand-out of the job, never given twice."""
        return self.job.delivery

    @property
    def lease_ms(self) -> Optional[int]:
        """The job's lease in milliseconds (None if not known yet)."""
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
        """True once the worker is shutting down."""
        return self._stopping.is_set()

    @property
    def lease_lost(self) -> bool:
        """True once a heartbeat found the job no longer held."""
        return self._lease_lost

    async def progress(self, percent: int, note: Optional[P.Payload] = None) -> None:
        """Record progress (0..100) and an optional note; extends the lease."""
        await _FENCING.call(self.client, self.client.progress, self.job, self.job.id, percent, note)

    async def touch(self) -> None:
        """Extend the lease now."""
        await _FENCING.call(self.client, self.client.touch, self.job, self.job.id)


class _Running:
    """A job being handled by one slot."""

    def __init__(self, ctx: JobContext, client: Client, started: float) -> None:
        self.ctx = ctx
        self.client = client
        self.started = started
        self.done = asyncio.Event()  # the handler returned (or raised)
        self.finishing = False  # the slot is sending ACK/FAIL
        self.abandoned = False  # shutdown handed it back after the grace period
        self.task: "Optional[asyncio.Task[Any]]" = None


class Worker:
    """Runs ``handler(ctx)`` for the jobs of ``queues`` on asyncio.

    ``client`` is a URL (``user``/``password``/``token`` and
    ``client_options`` go to each :class:`~docketd_client.aio.Client`) or a
    factory returning a client, connected or not, or an awaitable of one
    (``lambda: aio.connect(url, ...)``). The other options are those of
    :class:`docketd_client.Worker`.

    ``await worker.run()`` runs until :meth:`stop` or SIGTERM/SIGINT;
    ``worker.start()`` (inside a running loop) and ``await worker.stop()``
    run it in the background. Both return a
    :class:`~docketd_client.WorkerResult`.
    """

    def __init__(
        self,
        client: ClientSource,
        queues: Union[str, Sequence[str]],
        handler: Callable[[JobContext], Any],
        *,
        concurrency: int = 1,
        heartbeat: Union[None, float, str] = AUTO,
        reserve_timeout: float = 1.0,
        grace: float = 30.0,
        client_options: Optional[Dict[str, Any]] = None,
        name: str = "docketd-worker",
        user: Optional[str] = None,
        password: Optional[str] = None,
        token: Optional[str] = None,
    ) -> None:
        credentials = {k: v for k, v in (("user", user), ("password", password), ("token", token)) if v is not None}
        if isinstance(client, str):
            url, options = client, dict(client_options or {})
            options.update(credentials)
            self._factory: Callable[[], Any] = lambda: Client(url, **options)
        elif callable(client):
            if credentials:
                raise TypeError("user=, password= and token= go with a URL; a client factory passes its own")
            self._factory = client
        else:
            raise TypeError("client must be a URL or a callable returning a docketd_client.aio.Client")
        self.queues = queue_list(queues)  # type: ignore[arg-type]
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

        self._stop: Optional[asyncio.Event] = None
        self._force = False
        self._signalled = False
        self._tasks: List["asyncio.Task[None]"] = []
        self._clients: Dict[int, Client] = {}
        self._running: Dict[int, _Running] = {}
        self._started = False
        self._stopped = False
        self._reason = ""
        self._warned_heartbeat = False
        self._shutdown_lock: Optional[asyncio.Lock] = None
        self._final: Optional[WorkerResult] = None
        self.fatal_error: Optional[BaseException] = None
        #: Counters so far (see :class:`~docketd_client.WorkerResult`).
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
        """Start the slot tasks (in the running event loop) and return."""
        if self._started:
            raise RuntimeError("worker already started")
        self._started = True
        self._stop = asyncio.Event()
        self._shutdown_lock = asyncio.Lock()
        for i in range(self.concurrency):
            self._tasks.append(asyncio.ensure_future(self._slot(i)))
        return self

    async def stop(self, grace: Optional[float] = None, wait: bool = True) -> WorkerResult:
        """Stop reserving; with ``wait``, give running handlers ``grace``
        seconds (default: the worker's), hand back the jobs of those still
        running, close the connections, and return the result."""
        self._request_stop("stop")
        if not wait:
            return self.result
        return await self._shutdown(self.grace if grace is None else grace)

    @property
    def stopping(self) -> bool:
        """True once a stop was requested (or a handler stopped the worker)."""
        return self._stop is not None and self._stop.is_set()

    @property
    def result(self) -> WorkerResult:
        """The counters so far, as a :class:`~docketd_client.WorkerResult`."""
        clean = (
            self._reason in ("", "stop", "signal")
            and self.fatal_error is None
            and not (self.abandoned or self.crashed or self.errors or self.slots_lost)
        )
        return WorkerResult(
            clean, self._reason, self.acked, self.failed, self.crashed,
            self.abandoned, self.lost, self.errors, self.slots_lost,
        )

    async def run(self, install_signal_handlers: bool = True) -> WorkerResult:
        """Start, wait until stopped (:meth:`stop` from another task,
        SIGTERM/SIGINT when called on the main thread, a handler raising
        SystemExit/KeyboardInterrupt), shut down gracefully and return the
        result. Re-raises a fatal error (e.g. :class:`~docketd_client.BadQueue`)."""
        loop = asyncio.get_running_loop()
        installed: List[signal.Signals] = []
        if install_signal_handlers and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    loop.add_signal_handler(sig, self._on_signal)
                    installed.append(sig)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass
        try:
            if not self._started:
                self.start()
            assert self._stop is not None
            await self._stop.wait()
            result = await self._shutdown(self.grace)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
        if self.fatal_error is not None:
            raise self.fatal_error
        return result

    def _on_signal(self) -> None:
        if self._signalled:
            self._force = True  # a second signal cuts the grace period short
        self._signalled = True
        self._request_stop("signal")

    def _request_stop(self, reason: str) -> None:
        if not self._reason:
            self._reason = reason
        if self._stop is None:
            self._stop = asyncio.Event()
        self._stop.set()

    # ------------------------------------------------------------------
    # Shutdown

    async def _shutdown(self, grace: float) -> WorkerResult:
        if not self._started:
            self._stopped = True
            return self.result
        assert self._shutdown_lock is not None
        async with self._shutdown_lock:
            if self._final is not None:
                return self._final
            loop = asyncio.get_running_loop()
            deadline = loop.time() + grace
            while any(not r.done.is_set() for r in self._running.values()):
                if loop.time() >= deadline or self._force:
                    break
                await asyncio.sleep(0.02)
            stuck = [r for r in self._running.values() if not r.finishing and not r.done.is_set()]
            for r in stuck:
                r.abandoned = True
                if r.task is not None:
                    r.task.cancel()
            self.abandoned += len(stuck)
            for r in stuck:
                log.warning("job %d still running after the grace period: handing it back", r.ctx.id)
                outcome = "handed_back"
                try:
                    await _FENCING.call(r.client, r.client.fail, r.ctx.job, r.ctx.id,
                                        b"worker shut down before the handler finished", retry=0)
                except Error as exc:
                    outcome = "lost"
                    log.warning("could not hand back job %d: %s", r.ctx.id, exc)
                _log_job(r.ctx.job, outcome, loop.time() - r.started, "grace period over")
            # Slots whose handler has just returned are sending ACK/FAIL.
            settle = loop.time() + 1.0
            while loop.time() < settle and any(not r.abandoned for r in self._running.values()):
                await asyncio.sleep(0.02)
            # Slots still alive wait in RESERVE: end them and their connections.
            for task in self._tasks:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for client in list(self._clients.values()):
                await client.close(timeout=0.5)
            self._stopped = True
            self._final = self.result
            return self._final

    # ------------------------------------------------------------------
    # Slots

    async def _make_client(self) -> Client:
        made = self._factory()
        if _inspect.isawaitable(made):
            made = await made
        if not isinstance(made, Client):
            raise TypeError("the client factory must return a docketd_client.aio.Client")
        if not made._started:
            await made.connect()
        return made

    async def _slot(self, index: int) -> None:
        me = f"{self.name}-{index}"
        assert self._stop is not None
        client: Optional[Client] = None
        backoff = 0.05
        try:
            while not self._stop.is_set():
                try:
                    if client is None or client.is_closed:
                        try:
                            client = await self._make_client()
                        except (Error, OSError) as exc:
                            level = logging.ERROR if isinstance(exc, AuthorizationError) else logging.WARNING
                            log.log(level, "%s: cannot connect: %s", me, exc)
                            await self._pause(backoff)
                            backoff = min(backoff * 2, 2.0)
                            continue
                        backoff = 0.05
                        self._clients[index] = client
                        if self._stop.is_set():
                            break
                    try:
                        job = await client.reserve(self.queues, timeout=self.reserve_timeout)
                    except (DocketError, BadArgument) as exc:
                        log.error("reserve refused: %s; stopping the worker", exc)
                        self.fatal_error = exc
                        self._request_stop("fatal_error")
                        break
                    except (ConnectionLost, ConnectionClosed, Timeout) as exc:
                        log.info("%s: reserve interrupted: %s", me, exc)
                        await self._pause(0.01)
                        continue
                    except Error as exc:
                        log.warning("%s: reserve failed: %s", me, exc)
                        await self._pause(backoff)
                        backoff = min(backoff * 2, 2.0)
                        continue
                    if job is not None:
                        await self._handle(index, client, job)
                except asyncio.CancelledError:
                    raise
                except Exception:  # a slot never dies of its own bugs
                    self.errors += 1
                    log.error("%s: unexpected error; the slot carries on\n%s", me, _traceback_text())
                    await self._pause(backoff)
                    backoff = min(backoff * 2, 2.0)
        finally:
            if not self._stop.is_set():
                self.slots_lost += 1
                log.error("%s: slot task ended before the worker was stopped", me)

    async def _pause(self, seconds: float) -> None:
        assert self._stop is not None
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _handle(self, index: int, client: Client, job: Job) -> None:
        loop = asyncio.get_running_loop()
        assert self._stop is not None
        ctx = JobContext(job, client, self._stop)
        running = _Running(ctx, client, loop.time())
        self._running[index] = running
        failed: Optional[BaseException] = None
        beat: "Optional[asyncio.Task[None]]" = None
        try:
            if self.heartbeat is not None:
                beat = asyncio.ensure_future(self._heartbeat(running))
            running.task = asyncio.ensure_future(self._call_handler(running))
            await asyncio.wait({running.task})
            running.done.set()
            if beat is not None:
                beat.cancel()
                await asyncio.gather(beat, return_exceptions=True)
            if running.task.cancelled() or running.abandoned:
                log.info("job %d finished after it was handed back; outcome dropped", job.id)
                return
            result, failed, retry = running.task.result()
            if failed is not None and not isinstance(failed, Exception):
                self.crashed += 1
                log.warning("job %d: handler raised %s\n%s", job.id, _type_name(failed) or "BaseException",
                            _traceback_text(failed))
            running.finishing = True
            await self._finish(client, running, result, failed, retry)
        finally:
            running.done.set()
            if beat is not None and not beat.done():
                beat.cancel()
            self._running.pop(index, None)
            if isinstance(failed, (SystemExit, KeyboardInterrupt)):
                log.warning("job %d: handler raised %s: stopping the worker", job.id, _type_name(failed))
                self._request_stop("handler_exit")

    async def _call_handler(
        self, running: _Running
    ) -> Tuple[Any, Optional[BaseException], Union[None, bool, P.Duration]]:
        """``(result, exception, retry)``; raises only CancelledError when
        shutdown cancelled it."""
        try:
            result = self.handler(running.ctx)
            if _inspect.isawaitable(result):
                result = await result
            return result, None, None
        except NonRetryable as exc:
            return None, exc, False
        except RetryAfter as exc:
            try:
                delay = exc.delay
            except BaseException:  # noqa: B902
                delay = None
            return None, exc, delay
        except asyncio.CancelledError as exc:
            if running.abandoned:
                raise
            return None, exc, None  # the handler's own CancelledError: a crash
        except BaseException as exc:  # noqa: B902 - every failure FAILs the job
            return None, exc, None

    async def _finish(
        self,
        client: Client,
        running: _Running,
        result: Any,
        failed: Optional[BaseException],
        retry: Union[None, bool, P.Duration],
    ) -> None:
        job = running.ctx.job
        loop = asyncio.get_running_loop()
        outcome = "lost"
        reason: Optional[str] = None
        try:
            if failed is None:
                try:
                    body = _result_bytes(result)
                except Exception as exc:  # e.g. not JSON-serialisable
                    failed, body = exc, None
                if failed is None:
                    try:
                        await _FENCING.call(client, client.ack, job, job.id, body)
                    except BadArgument as exc:  # e.g. a result above max_payload
                        failed = exc
                    else:
                        self.acked += 1
                        outcome = "acked"
                        return
            reason = _reason(failed)
            outcome = (await self._fail(client, job, reason, retry, failed)).outcome
            self.failed += 1
        except (NotHeld, NotFound) as exc:
            self.lost += 1
            log.warning("job %d: outcome not accepted (lease lost?): %s", job.id, exc)
        except (ConnectionLost, ConnectionClosed, Timeout) as exc:
            self.lost += 1
            log.warning("job %d: outcome not delivered, the server will retry it: %s", job.id, exc)
        except Error as exc:
            self.lost += 1
            log.error("job %d: outcome refused: %s", job.id, exc)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug here must not leave the job held
            self.errors += 1
            log.error("job %d: unexpected error while finishing it\n%s", job.id, _traceback_text())
            try:
                await self._fail(client, job, "worker error while finishing the job", None)
                outcome = "failed"
            except Exception:
                self.lost += 1
        finally:
            _log_job(job, outcome, loop.time() - running.started, reason)

    async def _fail(
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
        if isinstance(failed, Throttle):
            try:
                return await _FENCING.call(  # type: ignore[no-any-return]
                    client, client.fail, job, job.id, data, None, throttle=failed.delay, scope=failed.scope
                )
            except BadArgument as exc:
                log.warning("job %d: throttle %r not sent (%s); the job follows its backoff", job.id,
                            failed.delay, exc)
                return await _FENCING.call(client, client.fail, job, job.id, data, None)  # type: ignore[no-any-return]
        try:
            return await _FENCING.call(client, client.fail, job, job.id, data, retry)  # type: ignore[no-any-return]
        except BadArgument as exc:
            if retry is None:
                raise
            log.warning("job %d: retry %r not sent (%s); the job follows its backoff", job.id, retry, exc)
            return await _FENCING.call(client, client.fail, job, job.id, data, None)  # type: ignore[no-any-return]

    # ------------------------------------------------------------------
    # Heartbeats

    async def _interval(self, running: _Running) -> float:
        ctx = running.ctx
        if self.heartbeat != AUTO:
            interval = float(self.heartbeat)  # type: ignore[arg-type]
            if ctx.lease_ms is not None and interval * 1000 >= ctx.lease_ms and not self._warned_heartbeat:
                self._warned_heartbeat = True
                log.warning("heartbeat=%ss is not shorter than job %d's lease of %dms: its lease can run out",
                            interval, ctx.id, ctx.lease_ms)
            return interval
        if ctx.lease_ms is None:
            try:
                lease = (await running.client.inspect(ctx.id)).get("lease_ms")
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

    async def _heartbeat(self, running: _Running) -> None:
        ctx = running.ctx
        try:
            interval = await self._interval(running)
            while True:
                try:
                    await asyncio.wait_for(running.done.wait(), interval)
                    return
                except asyncio.TimeoutError:
                    pass
                try:
                    await ctx.touch()
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
        except asyncio.CancelledError:
            raise
        except Exception:
            self.errors += 1
            log.error("job %d: heartbeat task failed\n%s", ctx.id, _traceback_text())
