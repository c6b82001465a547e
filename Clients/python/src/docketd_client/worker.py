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
:class:`WorkerResult`. A handler may call ``stop()`` too ("this was the
last job"): it returns at once, its own job finishes normally (ACK or
FAIL), and the shutdown goes on in the background.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any, Callable, Coroutine, Dict, List, Optional, Union

from . import protocol as P
from ._worker_core import AUTO, NonRetryable, RetryAfter, Throttle, WorkerResult  # exported (see __all__)
from ._worker_core import AttemptFencing, JobContextCore, Outcome, Running, WorkerCore, log, returned, run_blocking
from ._worker_core import _traceback_text

# Defined here before the shared module existed; still importable from here.
from ._worker_core import FALLBACK_HEARTBEAT as FALLBACK_HEARTBEAT
from ._worker_core import MIN_HEARTBEAT as MIN_HEARTBEAT
from ._worker_core import _UNPRINTABLE as _UNPRINTABLE
from ._worker_core import _reason as _reason
from .client import Client
from .errors import Error
from .models import Job

__all__ = ["Worker", "WorkerResult", "JobContext", "NonRetryable", "RetryAfter", "Throttle", "AUTO"]

#: What a handler may return (ACKed as it is, anything else as JSON).
HandlerResult = Union[None, bytes, bytearray, memoryview, str, Any]


class _Fencing(AttemptFencing):
    """:class:`AttemptFencing` for blocking clients."""

    def call(self, client: Any, method: Callable[..., Any], job: Job, *args: Any, **kwargs: Any) -> Any:
        """``method(*args, attempt=job.attempt, **kwargs)``, blocking."""
        return run_blocking(self.fenced(returned, client, method, job, *args, **kwargs))


_FENCING = _Fencing()


class JobContext(JobContextCore):
    """What a handler gets: the job, and ways to report on it.

    :meth:`progress` and :meth:`touch` send the attempt the worker holds
    (``attempt=``), like the worker's own ACK, FAIL and heartbeats.
    """

    client: Client

    def progress(self, percent: int, note: Optional[P.Payload] = None) -> None:
        """Record progress (0..100) and an optional note; extends the lease."""
        _FENCING.call(self.client, self.client.progress, self.job, self.job.id, percent, note)

    def touch(self) -> None:
        """Extend the lease now."""
        _FENCING.call(self.client, self.client.touch, self.job, self.job.id)


class Worker(WorkerCore[JobContext, Client]):
    """Runs ``handler(ctx)`` for the jobs of ``queues``, on threads.

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
    ``grace`` is how long shutdown waits for running handlers. ``name``
    (default ``"docket-worker"``) starts the threads' names.
    """

    _default_name = "docket-worker"
    _client_type = Client
    _client_description = "docket.Client"
    _runs_on = "thread"
    _survivable = (BaseException,)  # whatever happens, a thread carries on
    _connect_errors = (Error,)
    _interrupted_reserve_pause = 0.0  # RESERVE again at once
    _fencing = _FENCING

    def _init_runtime(self) -> None:
        self._stop = threading.Event()
        self._signalled = False
        self._lock = threading.Lock()
        self._shutdown_lock = threading.Lock()
        self._threads: List[threading.Thread] = []

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
        returns at once with the result so far.

        Called from a handler (on one of the worker's threads), it cannot
        wait for that handler: it requests the stop and returns the result
        so far at once, like ``wait=False``. The handler's job then ends
        as usual (its return value is ACKed), and the shutdown (``grace``
        for the other handlers, closing the connections) runs on a thread
        of its own; ``run()``, or a later ``stop()`` from another thread,
        returns the final result."""
        self._request_stop("stop")
        if not wait:
            return self.result
        grace = self.grace if grace is None else grace
        if threading.current_thread() in self._threads:  # a handler stopping its own worker
            threading.Thread(
                target=self._shutdown, args=(grace,), name=f"{self.name}-stop", daemon=True
            ).start()
            return self.result
        return self._shutdown(grace)

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

    def _request_stop(self, reason: str) -> None:
        with self._lock:
            if not self._reason:
                self._reason = reason
        self._stop.set()

    def _shutdown(self, grace: float) -> WorkerResult:
        with self._shutdown_lock:
            if not self._stopped:
                run_blocking(self._wind_down(grace))
                self._stopped = True
            return self.result

    # ------------------------------------------------------------------
    # What the shared logic runs on: threads and blocking calls

    def _thread_main(self, index: int) -> None:
        try:
            run_blocking(self._slot(index))
        finally:
            with self._lock:
                client = self._clients.get(index)
            if client is not None:
                client.close(timeout=1.0)

    async def _result_of(self, value: Any) -> Any:
        return await returned(value)

    async def _make_client(self) -> Client:
        return self._factory()  # type: ignore[no-any-return]

    async def _pause(self, seconds: float) -> None:
        self._stop.wait(seconds)

    async def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def _new_running(self, job: Job, client: Any) -> Running:
        return Running(JobContext(job, client, self._stop), client, threading.Event())

    async def _run_handler(self, running: Running) -> Optional[Outcome]:
        return await self._call_handler(running)  # on this thread; the heartbeat has its own

    def _start_heartbeat(self, index: int, running: Running) -> Optional[threading.Thread]:
        try:
            beat = threading.Thread(
                target=self._heartbeat_thread, args=(running,), name=f"{self.name}-heartbeat-{index}", daemon=True
            )
            beat.start()
            return beat
        except BaseException:  # noqa: B902 - e.g. no thread can be started now
            self._count("errors")
            log.error("job %d: cannot start its heartbeat\n%s", running.ctx.id, _traceback_text())
            return None

    def _heartbeat_thread(self, running: Running) -> None:
        run_blocking(self._heartbeat(running))

    async def _end_heartbeat(self, beat: threading.Thread) -> None:
        beat.join()

    def _cancel_heartbeat(self, beat: threading.Thread) -> None:
        pass  # it ends by itself once the handler is done

    async def _done_within(self, running: Running, seconds: float) -> bool:
        return running.done.wait(seconds)  # type: ignore[attr-defined,no-any-return]

    async def _not_cancelled(self, step: Coroutine[Any, Any, None]) -> None:
        await step  # a thread is never cancelled

    def _slots_busy(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    async def _end_slots(self) -> None:
        # Threads still alive are in RESERVE (or in a stuck handler):
        # closing their connections ends them.
        with self._lock:
            clients = list(self._clients.values())
        for c in clients:
            c.close(timeout=0.5)
        for t in self._threads:
            t.join(0.5)

