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
import contextlib
import inspect as _inspect
import signal
import threading
from typing import Any, Awaitable, Callable, Coroutine, List, Optional, Union

from .. import protocol as P
from .._worker_core import AttemptFencing, JobContextCore, Outcome, Running, WorkerCore, WorkerResult, awaited, log
from ..errors import Error
from ..models import Job

#: How often the worker looks whether its event loop keeps up.
LOOP_WATCH_INTERVAL = 0.25
#: A loop held up this long (seconds) while a handler ran is logged at WARNING: long enough to
#: miss the heartbeat of a job with a 3 s lease (one a third of it), short enough to be heard
#: before the usual 30 s leases run out.
BLOCKED_LOOP_WARNING = 1.0
from .client import Client

__all__ = ["Worker", "JobContext"]

#: What ``client`` may be: a URL, or a factory of clients (or of awaitables of them).
ClientSource = Union[str, Callable[[], Union[Client, Awaitable[Client]]]]

_FENCING = AttemptFencing()


class JobContext(JobContextCore):
    """What a handler gets: the job, and ways to report on it
    (:meth:`progress` and :meth:`touch` are coroutines and send the attempt
    the worker holds)."""

    client: Client

    async def progress(self, percent: int, note: Optional[P.Payload] = None) -> None:
        """Record progress (0..100) and an optional note; extends the lease."""
        await _FENCING.fenced(awaited, self.client, self.client.progress, self.job, self.job.id, percent, note)

    async def touch(self) -> None:
        """Extend the lease now."""
        await _FENCING.fenced(awaited, self.client, self.client.touch, self.job, self.job.id)


class Worker(WorkerCore[JobContext, Union[Client, Awaitable[Client]]]):
    """Runs ``handler(ctx)`` for the jobs of ``queues`` on asyncio.

    ``client`` is a URL (``user``/``password``/``token`` and
    ``client_options`` go to each :class:`~docketd_client.aio.Client`) or a
    factory returning a client, connected or not, or an awaitable of one
    (``lambda: aio.connect(url, ...)``). The other options are those of
    :class:`docketd_client.Worker` (``name`` defaults to ``"docketd-worker"``).

    ``await worker.run()`` runs until :meth:`stop` or SIGTERM/SIGINT;
    ``worker.start()`` (inside a running loop) and ``await worker.stop()``
    run it in the background. Both return a
    :class:`~docketd_client.WorkerResult`.
    """

    _default_name = "docketd-worker"
    _client_type = Client
    _client_description = "docketd_client.aio.Client"
    _runs_on = "task"
    _survivable = (Exception,)  # not BaseException: CancelledError must end the tasks
    _connect_errors = (Error, OSError)
    _interrupted_reserve_pause = 0.01
    _fencing = _FENCING

    def _init_runtime(self) -> None:
        self._lock = contextlib.nullcontext()  # one thread runs it all: nothing to lock
        # Made by start(), in the running event loop.
        self._stop: Optional[asyncio.Event] = None
        self._shutdown_lock: Optional[asyncio.Lock] = None
        self._signalled = False
        self._tasks: List["asyncio.Task[None]"] = []
        self._final: Optional[WorkerResult] = None
        self._stopper: "Optional[asyncio.Task[WorkerResult]]" = None  # a shutdown a handler asked for

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
        self._tasks.append(asyncio.ensure_future(self._watch_the_loop()))
        return self

    async def _watch_the_loop(self) -> None:
        """Warn when the event loop was blocked while handlers ran: a plain
        function that does blocking I/O, or a coroutine that calls one, holds
        up every heartbeat (leases run out, jobs run twice), the other slots
        and the clients' keep-alive."""
        assert self._stop is not None
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            before = loop.time()
            await asyncio.sleep(LOOP_WATCH_INTERVAL)
            blocked = loop.time() - before - LOOP_WATCH_INTERVAL
            running = sorted(r.ctx.id for r in self._running.values())
            if blocked >= BLOCKED_LOOP_WARNING and running:
                log.warning(
                    "the event loop was blocked for %.1fs while job(s) %s ran: heartbeats, the other slots and "
                    "keep-alives waited; a handler must not block (run blocking work with asyncio.to_thread)",
                    blocked, ", ".join(map(str, running)),
                )

    async def stop(self, grace: Optional[float] = None, wait: bool = True) -> WorkerResult:
        """Stop reserving; with ``wait``, give running handlers ``grace``
        seconds (default: the worker's), hand back the jobs of those still
        running, close the connections, and return the result.

        Awaited from a handler, it cannot wait for that handler: it requests
        the stop and returns the result so far at once; the handler's job
        ends as usual (its return value is ACKed) and the shutdown runs as
        a task of its own (``run()``, or a later ``stop()`` from elsewhere,
        returns the final result)."""
        self._request_stop("stop")
        if not wait:
            return self.result
        grace = self.grace if grace is None else grace
        current = asyncio.current_task()
        if current is not None and any(r.task is current for r in self._running.values()):
            if self._stopper is None:
                self._stopper = asyncio.ensure_future(self._shutdown(grace))
            return self.result
        return await self._shutdown(grace)

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
            self._force_now = True  # a second signal cuts the grace period short
        self._signalled = True
        self._request_stop("signal")

    def _request_stop(self, reason: str) -> None:
        if not self._reason:
            self._reason = reason
        if self._stop is None:
            self._stop = asyncio.Event()
        self._stop.set()

    async def _shutdown(self, grace: float) -> WorkerResult:
        if not self._started:
            self._stopped = True
            return self.result
        assert self._shutdown_lock is not None
        async with self._shutdown_lock:
            if self._final is None:
                await self._wind_down(grace)
                self._stopped = True
                self._final = self.result
            return self._final

    # ------------------------------------------------------------------
    # What the shared logic runs on: tasks and coroutines

    async def _result_of(self, value: Any) -> Any:
        return await awaited(value)

    async def _make_client(self) -> Client:
        made = self._factory()
        if _inspect.isawaitable(made):
            made = await made
        if not isinstance(made, Client):
            raise TypeError("the client factory must return a docketd_client.aio.Client")
        if not made._started:
            await made.connect()
        return made

    async def _pause(self, seconds: float) -> None:
        assert self._stop is not None
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def _new_running(self, job: Job, client: Any) -> Running:
        return Running(JobContext(job, client, self._stop), client, asyncio.Event())

    async def _run_handler(self, running: Running) -> Optional[Outcome]:
        # A task of its own, which the shutdown cancels after the grace period.
        task = running.task = asyncio.ensure_future(self._call_handler(running))
        await asyncio.wait({task})
        if task.cancelled() or running.abandoned:
            return None
        return task.result()  # type: ignore[no-any-return]

    def _start_heartbeat(self, index: int, running: Running) -> "asyncio.Task[None]":
        return asyncio.ensure_future(self._heartbeat(running))

    async def _end_heartbeat(self, beat: "asyncio.Task[None]") -> None:
        beat.cancel()
        await asyncio.gather(beat, return_exceptions=True)

    def _cancel_heartbeat(self, beat: "asyncio.Task[None]") -> None:
        if not beat.done():
            beat.cancel()

    async def _done_within(self, running: Running, seconds: float) -> bool:
        try:
            await asyncio.wait_for(running.done.wait(), seconds)  # type: ignore[attr-defined]
            return True
        except asyncio.TimeoutError:
            return False

    async def _not_cancelled(self, step: Coroutine[Any, Any, None]) -> None:
        await asyncio.shield(step)

    def _slots_busy(self) -> bool:
        return any(not r.done.is_set() for r in self._running.values())

    async def _end_slots(self) -> None:
        # Slots still alive wait in RESERVE, or for the reply to an ACK or
        # FAIL: closing their connections first ends those waits with
        # ConnectionClosed, so an outcome cut short is counted and logged as
        # lost (as on the threaded worker) rather than cancelled unseen.
        for client in list(self._clients.values()):
            await client.close(timeout=0.5)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=0.5)
        for task in self._tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
