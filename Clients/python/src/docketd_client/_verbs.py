"""Every call of the client, described once, without I/O.

A method of :class:`Verbs` checks its arguments and returns a *step*: what
the client must do, and how the caller's result is made from the answer.

* :class:`Command`: bytes answered by exactly one reply (PING and the job
  verbs), read with :func:`docketd_client.protocol.interpret_reply`;
* :class:`Publish`: bytes that get no reply (PUB, HPUB);
* :class:`Request`: a message whose answer comes to the client's inbox;
* :class:`Subscribe`: a subscription (and, for ``events()``, a flush).

The ``@verb`` decorator turns each description into the method callers
use: a blocking one on :class:`docketd_client.Client`, a coroutine on
:class:`docketd_client.aio.Client`. The two clients only do the I/O a step
asks for (``_request``, ``_publish_wire``, ``_request_msg``,
``_open_subscription``), so a verb's signature, checks, bytes and result
exist in one place.
"""

from __future__ import annotations

import datetime
import functools
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Coroutine, Generic, Iterable, Iterator, List, Optional
from typing import Mapping, Sequence, Type, TypeVar, Union, overload

from . import protocol as P
from ._client_core import ClientCore, SubscriptionT, check_positive_int, check_seconds
from .errors import BadArgument, NoResponders, Timeout
from .models import ChildrenPage, EnqueueResult, FailOutcome, Job, JobEvent, JobInfo, JobOutcome, JobPage, Msg, ParentInfo, QueueInfo, Route
from .models import Schedule, ServerStats

if TYPE_CHECKING:
    # Only type checkers read these (typeshed ships typing_extensions): the
    # package runs on Python 3.9, whose typing has no ParamSpec.
    from typing_extensions import Concatenate, ParamSpec

    VerbArgs = ParamSpec("VerbArgs")
else:
    VerbArgs = TypeVar("VerbArgs")

Result = TypeVar("Result")
EventStreamT = TypeVar("EventStreamT")

#: The default ``timeout`` of a command: the client's ``request_timeout``.
REQUEST_TIMEOUT: Any = object()


# --------------------------------------------------------------------------
# Steps


class Step(Generic[Result]):
    """What a verb asks its client to do."""

    def send(self, client: Any) -> Any:
        """Have ``client`` do it: the answer on the threaded client, an
        awaitable of the answer on the asyncio one."""
        raise NotImplementedError

    def finish(self, answer: Any) -> Result:
        """The caller's result, from the answer."""
        return answer  # type: ignore[no-any-return]


def _as_is(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Command(Step[Result]):
    """A command answered by exactly one reply, in order."""

    #: How its reply reads (a key of :data:`docketd_client.protocol.REPLY_KINDS`).
    kind: str
    wire: bytes
    #: Seconds to wait for the reply (None: as long as it takes).
    timeout: Optional[float] = REQUEST_TIMEOUT
    #: The caller's result from the interpreted reply.
    read: Callable[[Any], Result] = _as_is
    #: The server may hold the connection until it answers (a RESERVE or WAIT
    #: that may wait): a caller that gives up ends that wait with CANCEL.
    holds: bool = False

    def __post_init__(self) -> None:
        if self.timeout is not REQUEST_TIMEOUT:
            check_seconds(self.timeout, "timeout", may_be_none=True)

    def send(self, client: Any) -> Any:
        return client._request(self.kind, self.wire, self.timeout, self.holds)

    def finish(self, answer: Any) -> Result:
        return self.read(answer)


@dataclass(frozen=True)
class Publish(Step[None]):
    """A message, sent without waiting for anything."""

    wire: bytes

    def send(self, client: Any) -> Any:
        return client._publish_wire(self.wire)

    def finish(self, answer: Any) -> None:
        return None


@dataclass(frozen=True)
class Request(Step[Result]):
    """A message published with a reply subject in the client's inbox; the
    first reply that ``accept`` takes (any, when None; a status message
    always ends the wait) becomes the answer."""

    subject: str
    data: P.Payload
    timeout: float
    headers: Optional[P.HeadersArg]
    accept: Optional[Callable[[Msg], bool]]
    read: Callable[[Msg], Result]

    def __post_init__(self) -> None:
        check_seconds(self.timeout, "timeout", may_be_none=True)

    def send(self, client: Any) -> Any:
        return client._request_msg(self)

    def finish(self, answer: Any) -> Result:
        return self.read(answer)

    def timed_out(self) -> Timeout:
        return Timeout(f"no reply to the request on {self.subject!r} within {self.timeout}s")


@dataclass(frozen=True)
class Subscribe(Step[Result]):
    """A subscription: the client's Subscription, or with ``events`` its
    EventStream, in place on the server (flushed) when it is returned."""

    subject: str
    queue: Optional[str]
    callback: Optional[Callable[[Msg], Any]]
    timeout: Optional[float]
    max_pending: Optional[int]
    events: bool = False

    def __post_init__(self) -> None:
        check_seconds(self.timeout, "timeout", may_be_none=True)
        _check_callback(self.callback)

    def send(self, client: Any) -> Any:
        return client._open_subscription(self)


def _check_callback(callback: Any) -> None:
    # Taken as it was, a callback that cannot be called failed on every
    # message, on the callback thread, instead of here.
    if callback is not None and not callable(callback):
        raise BadArgument(f"callback must be a function or None, not {callback!r}")


# --------------------------------------------------------------------------
# The decorator


class verb(Generic[VerbArgs, Result]):
    """Makes a description (a method returning a :class:`Step`) the method
    callers use: on a :class:`BlockingVerbs` client it does the step and
    returns the result; on a :class:`CoroutineVerbs` client it is a
    coroutine function that does the same with ``await``."""

    def __init__(self, describe: "Callable[Concatenate[Any, VerbArgs], Step[Result]]") -> None:
        signature = _caller_signature(describe)

        @functools.wraps(describe)
        def blocking(client: Any, *args: "VerbArgs.args", **kwargs: "VerbArgs.kwargs") -> Result:
            step = describe(client, *args, **kwargs)
            return step.finish(step.send(client))

        @functools.wraps(describe)
        async def coroutine(client: Any, *args: "VerbArgs.args", **kwargs: "VerbArgs.kwargs") -> Result:
            step = describe(client, *args, **kwargs)
            return step.finish(await step.send(client))

        # What help() and IDEs show: the description's parameters and result type.
        blocking.__signature__ = coroutine.__signature__ = signature  # type: ignore[attr-defined]
        self._blocking = blocking
        self._coroutine = coroutine

    @overload
    def __get__(self, client: None, owner: Type[Any]) -> Callable[..., Any]: ...

    @overload
    def __get__(self, client: BlockingVerbs[Any, Any], owner: Type[Any]) -> Callable[VerbArgs, Result]: ...

    @overload
    def __get__(
        self, client: CoroutineVerbs[Any, Any], owner: Type[Any]
    ) -> Callable[VerbArgs, Coroutine[Any, Any, Result]]: ...

    def __get__(self, client: Any, owner: Type[Any]) -> Any:
        method: Any = self._coroutine if issubclass(owner, CoroutineVerbs) else self._blocking
        return method if client is None else method.__get__(client, owner)


#: What help() calls the results whose class depends on the client (both
#: clients name theirs alike).
_RESULT_NAMES = {"SubscriptionT": "Subscription", "EventStreamT": "EventStream"}


def _caller_signature(describe: Callable[..., Any]) -> inspect.Signature:
    """The description's signature with the result type it declares
    (``Command[EnqueueResult]`` -> ``EnqueueResult``), for ``help()``."""
    signature = inspect.signature(describe)
    returns = signature.return_annotation
    if returns == "Publish":
        return signature.replace(return_annotation="None")
    result = returns[returns.index("[") + 1 : -1]
    return signature.replace(return_annotation=_RESULT_NAMES.get(result, result))


# --------------------------------------------------------------------------
# Results


def _answered(subject: str, msg: Msg) -> Msg:
    if msg.status == 503:
        raise NoResponders(f"no responders on {subject!r}")
    return msg


def _routed_ids(msg: Msg) -> List[int]:
    if msg.status == 503:  # neither a route nor a subscriber took it
        return []
    return P.parse_routed_reply(msg.data)


def _is_routed_reply(msg: Msg) -> bool:
    return P.is_routed_reply(msg.data)


def _job_infos(docs: Any) -> List[JobInfo]:
    return [JobInfo.from_dict(doc) for doc in docs]


def _parent_infos(docs: Any) -> List[ParentInfo]:
    return [ParentInfo.from_dict(doc) for doc in docs]


def _plain_id(job: Any) -> Any:
    """A job id from an id, a Job or an EnqueueResult."""
    return job.id if isinstance(job, (Job, EnqueueResult)) else job


def _parent_ids(after: Any) -> Any:
    """``after`` with Jobs and EnqueueResults as their ids (``"#n"`` batch
    references and anything else left for the encoder to judge)."""
    if isinstance(after, (list, tuple)):
        return [_plain_id(parent) for parent in after]
    return after


def _queue_infos(docs: Any) -> List[QueueInfo]:
    return [QueueInfo.from_dict(doc) for doc in docs]


def _routes(docs: Any) -> List[Route]:
    return [Route.from_dict(doc) for doc in docs]


def _schedules(docs: Any) -> List[Schedule]:
    return [Schedule.from_dict(doc) for doc in docs]


def _event_callback(callback: Callable[[JobEvent], Any]) -> Callable[[Msg], Any]:
    """A subscription callback that passes each message on as a JobEvent
    (on the asyncio client, an awaitable it returns is awaited)."""

    def call(msg: Msg) -> Any:
        return callback(JobEvent.from_msg(msg))

    return call


# --------------------------------------------------------------------------
# The verbs


class Verbs(ClientCore[SubscriptionT], Generic[SubscriptionT, EventStreamT]):
    """The calls of both clients (see the module docstring)."""

    # -- pub/sub -------------------------------------------------------------

    @verb
    def publish(
        self,
        subject: str,
        data: P.Payload = b"",
        reply: Optional[str] = None,
        headers: Optional[P.HeadersArg] = None,
    ) -> Publish:
        """Publish a message (``PUB``, or ``HPUB`` with headers). Fire and
        forget (the asyncio client returns once the transport has taken it,
        waiting while its buffer is full); :meth:`flush` waits until the
        server has seen it. While disconnected, publishes are buffered (up
        to ``reconnect_buffer_size``)."""
        wire = P.encode_publish(subject, data, reply, headers)
        payload_size = len(P.to_bytes(data)) + (len(P.encode_headers(headers)) if headers else 0)
        self._check_payload(payload_size)
        self._check_line(wire)
        return Publish(wire)

    @verb
    def subscribe(
        self,
        subject: str,
        queue: Optional[str] = None,
        callback: Optional[Callable[[Msg], Any]] = None,
        *,
        timeout: Optional[float] = None,
        max_pending: Optional[int] = None,
    ) -> Subscribe[SubscriptionT]:
        """Subscribe to ``subject`` (wildcards ``*`` and ``>`` allowed), in
        queue group ``queue`` if given. With ``callback``, each message is
        passed to it in order, on the subscription's own thread (threaded
        client) or task (asyncio client, where it may be a coroutine
        function); otherwise read the returned Subscription (``timeout``
        ends iteration after that many idle seconds). ``max_pending`` (a
        positive int; default the client's ``max_pending_msgs``) is how many
        messages may wait to be taken before more are dropped."""
        if max_pending is not None:
            check_positive_int(max_pending, "max_pending")
        return Subscribe(subject, queue, callback, timeout, max_pending)

    @verb
    def request(
        self,
        subject: str,
        data: P.Payload = b"",
        timeout: float = 5.0,
        headers: Optional[P.HeadersArg] = None,
    ) -> Request[Msg]:
        """Publish a request and wait for the first reply. Raises
        :class:`~docketd_client.NoResponders` when no subscriber got the request and
        :class:`~docketd_client.Timeout` when no reply came in ``timeout`` seconds."""
        return Request(subject, data, timeout, headers, None, functools.partial(_answered, subject))

    @verb
    def publish_routed(
        self,
        subject: str,
        data: P.Payload = b"",
        timeout: float = 5.0,
        headers: Optional[P.HeadersArg] = None,
    ) -> Request[List[int]]:
        """Publish a message that routes (:meth:`route`) turn into jobs, and
        return the ids of those jobs once they are on disk: the server
        publishes ``{"jobs":[...]}`` to the message's reply subject after the
        commit. Subscribers still get the message (answers they send to the
        reply subject are skipped here).

        Returns ``[]`` when neither a route nor a subscriber took the
        message (no responders). Raises
        :class:`~docketd_client.StoreFull` when the store refused the routed
        jobs (then none was made; subscribers still got the message), and
        :class:`~docketd_client.Timeout` when no route matched but some
        subscriber did not answer either."""
        return Request(subject, data, timeout, headers, _is_routed_reply, _routed_ids)

    @verb
    def flush(self, timeout: Optional[float] = REQUEST_TIMEOUT) -> Command[None]:
        """Send PING and wait for PONG: everything sent before has been
        handled by the server."""
        return Command("ping", P.encode_ping(), timeout)

    # -- jobs ----------------------------------------------------------------

    @verb
    def enqueue(
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
        ttl: Optional[P.Duration] = None,
        expires: Optional[Union[int, datetime.datetime]] = None,
        after: Optional[Sequence[Union[int, str, Job, EnqueueResult]]] = None,
        on_parent_dead: Optional[str] = None,
        key_ttl: Optional[P.Duration] = None,
        replace: bool = False,
        timeout: Optional[float] = REQUEST_TIMEOUT,
    ) -> Command[EnqueueResult]:
        """Add a job (``ENQ``); the reply comes once it is on disk.

        Durations are seconds (``0.25``) or strings (``"250ms"``, ``"30s"``);
        ``at`` is unix seconds or an aware datetime; ``backoff`` is
        ``"fixed:5s"``, ``"exp:1s:1h"`` (see :func:`docketd_client.fixed`,
        :func:`docketd_client.exponential`). With ``key`` a retry after
        :class:`~docketd_client.ConnectionLost` is safe: it answers ``duplicate``
        instead of adding a second job. ``group`` names the group (tenant,
        customer, ...) whose ``group_rate`` applies and that a
        ``throttle`` with ``scope="group"`` holds.

        Expiry: with ``ttl`` (a duration) or ``expires`` (unix milliseconds,
        or an aware datetime; not both), a job not started by then is not
        run: it becomes dead (``expired: ...`` as its last error), and one
        whose expiry is already past is dead at once.

        Dependencies: with ``after`` (job ids, or the results of earlier
        enqueues), the job is ``blocked`` until every one of them has
        completed; if one dies (or is deleted) first it dies too, unless
        ``on_parent_dead="run"``. Its worker reads their outcomes with
        :meth:`parents`. Keys: ``key_ttl`` keeps ``key`` deduplicating at
        least that long, even once the job is gone; ``replace=True``
        debounces: a duplicate of a job still waiting or delayed gives it
        this payload and run time (``EnqueueResult.replaced``).
        """
        body = P.to_bytes(payload)
        self._check_payload(len(body))
        wire = P.encode_enqueue(
            queue, body, delay=delay, at=at, priority=priority, attempts=attempts,
            backoff=backoff, jitter=jitter, lease=lease, key=key, group=group, ttl=ttl, expires=expires,
            after=_parent_ids(after), on_parent_dead=on_parent_dead, key_ttl=key_ttl, replace=replace,
        )
        return Command("enqueue", wire, timeout)

    @verb
    def batch(self, jobs: Sequence[Mapping[str, Any]], timeout: Optional[float] = REQUEST_TIMEOUT) -> Command[List[int]]:
        """Enqueue several jobs in one commit, all or none (``BATCH``): the
        new ids, in order. Each job is a dict of :meth:`enqueue`'s arguments
        (``{"queue": "resize", "payload": b"...", "attempts": 5}``); its
        ``after`` may name an earlier job of the same batch as ``"#1"``,
        ``"#2"``, ..., so a whole flow (children, then the job that gathers
        their results) goes in atomically. Any refused job refuses the batch
        (a :class:`~docketd_client.DocketError` naming it)."""
        if isinstance(jobs, (str, bytes)) or not isinstance(jobs, Sequence) or not jobs:
            raise BadArgument("a batch needs a non-empty list of jobs")
        prepared = []
        for job in jobs:
            if not isinstance(job, Mapping):
                raise BadArgument("each batch job is a dict of enqueue's arguments")
            job = dict(job)
            if "payload" in job:
                job["payload"] = P.to_bytes(job["payload"])
                self._check_payload(len(job["payload"]))
            if job.get("after") is not None:
                job["after"] = _parent_ids(job["after"])
            prepared.append(job)
        return Command("batch", P.encode_batch(prepared), timeout)

    @verb
    def parents(self, job_id: Union[int, Job, EnqueueResult]) -> Command[List[ParentInfo]]:
        """The jobs ``job_id`` was enqueued ``after=`` (``PARENTS``), in that
        order, each a :class:`~docketd_client.ParentInfo` with its state and
        outcome (``result`` or ``error``): what a flow's collector reads.
        Empty for a job without parents."""
        return Command("parents", P.encode_parents(_plain_id(job_id)), read=_parent_infos)

    @verb
    def children(
        self, job_id: Union[int, Job, EnqueueResult], after: Optional[int] = None, limit: Optional[int] = None
    ) -> Command[ChildrenPage]:
        """One page of the jobs enqueued ``after=`` ``job_id`` that still
        exist (``CHILDREN``), by id: a :class:`~docketd_client.ChildrenPage`
        with up to ``limit`` (1 to 1000, server default 1000) ids above
        ``after`` and ``next``, the ``after`` of the page that follows (None
        on the last). :meth:`children_all` reads them all."""
        return Command("children", P.encode_children(_plain_id(job_id), after, limit), read=ChildrenPage.from_dict)

    @verb
    def reserve(self, queues: Union[str, Iterable[str]], timeout: Optional[P.Duration] = None) -> Command[Optional[Job]]:
        """Take the next job of the first listed queue that has one
        (``RESERVE``), or None when ``timeout`` passes (None: wait for a job;
        0: do not wait). The server does not read this connection while it
        waits."""
        return Command("reserve", P.encode_reserve(queues, timeout), self._server_wait(timeout), holds=_may_wait(timeout))

    @verb
    def ack(
        self, job_id: Union[int, Job], result: Optional[P.Payload] = None, *, attempt: Optional[int] = None
    ) -> Command[None]:
        """Complete a job this connection holds, keeping ``result`` with it.

        ``attempt`` (here and for :meth:`fail`, :meth:`progress`,
        :meth:`touch`): the attempt this caller holds (``job.attempt``);
        the server refuses the command with :class:`~docketd_client.NotHeld` when
        the job has moved on to another attempt. Nothing is sent when None.
        """
        if result is not None:
            self._check_payload(len(P.to_bytes(result, "result")))
        return Command("ack", P.encode_ack(job_id, result, attempt=attempt))

    @verb
    def fail(
        self,
        job_id: Union[int, Job],
        reason: Optional[P.Payload] = None,
        retry: Union[None, bool, P.Duration] = None,
        *,
        attempt: Optional[int] = None,
        throttle: Optional[P.Duration] = None,
        scope: Optional[str] = None,
    ) -> Command[FailOutcome]:
        """End this attempt of a job this connection holds. ``retry``: None
        follows the job's backoff, False makes it dead at once, a duration
        retries after that long (still bounded by its attempts).

        ``throttle`` (a duration; not with ``retry``): a downstream limit was
        hit. The job goes back in its place without using an attempt and
        its queue (``scope="group"``: only its group's jobs) starts nothing
        for that long; the outcome is ``("throttled", ms)``."""
        if reason is not None:
            self._check_payload(len(P.to_bytes(reason, "reason")))
        return Command("fail", P.encode_fail(job_id, reason, retry, attempt=attempt, throttle=throttle, scope=scope))

    @verb
    def progress(
        self,
        job_id: Union[int, Job],
        percent: int,
        note: Optional[P.Payload] = None,
        *,
        attempt: Optional[int] = None,
    ) -> Command[None]:
        """Record progress (0..100, optional note) and extend the lease."""
        if note is not None:
            self._check_payload(len(P.to_bytes(note, "note")))
        return Command("progress", P.encode_progress(job_id, percent, note, attempt=attempt))

    @verb
    def touch(self, job_id: Union[int, Job], *, attempt: Optional[int] = None) -> Command[None]:
        """Extend the lease of a job this connection holds (heartbeat)."""
        return Command("touch", P.encode_touch(job_id, attempt=attempt))

    @verb
    def inspect(self, job_id: Union[int, Job]) -> Command[JobInfo]:
        """One job's document (``INSPECT``): a :class:`~docketd_client.JobInfo`
        (state, attempts, times, last_error, result, ...; ``doc["state"]``
        works too)."""
        return Command("inspect", P.encode_inspect(job_id), read=JobInfo.from_dict)

    @verb
    def dead(self, queue: str, limit: Optional[int] = None) -> Command[List[JobInfo]]:
        """The queue's dead jobs, oldest first (``DEAD``; server default limit 100)."""
        return Command("dead", P.encode_dead(queue, limit), read=_job_infos)

    @verb
    def wait(self, job_id: Union[int, Job, EnqueueResult], timeout: Optional[P.Duration] = None) -> Command[JobOutcome]:
        """Wait until the job is completed or dead (``WAIT``); answers at once
        if it already is. Returns a :class:`~docketd_client.JobOutcome`:
        ``completed`` with its ``result``, ``dead`` with its ``error``, or,
        when ``timeout`` passes first, ``pending`` with the job's current
        ``state``. ``timeout=None`` waits as long as it takes.
        :class:`~docketd_client.NotFound` when there is no such job (or it is
        deleted while waited for).

        Like a waiting ``reserve``, a waiting WAIT holds back this
        connection's later commands: give long waits a client of their own.
        """
        if isinstance(job_id, EnqueueResult):
            job_id = job_id.id
        return Command("wait", P.encode_wait(job_id, timeout), self._server_wait(timeout), holds=_may_wait(timeout))

    @verb
    def retry(self, job_id: Union[int, Job]) -> Command[None]:
        """Run a dead job again, with its attempts reset (``RETRY``)."""
        return Command("retry", P.encode_retry(job_id))

    @verb
    def retry_queue(self, queue: str) -> Command[int]:
        """Run every dead job of a queue again; returns how many (``RETRY queue=``)."""
        return Command("retry_queue", P.encode_retry_queue(queue))

    @verb
    def delete(self, job_id: Union[int, Job]) -> Command[None]:
        """Forget a job in any state (``DEL``)."""
        return Command("delete", P.encode_delete(job_id))

    # -- browsing and bulk repair ----------------------------------------------

    @verb
    def list(
        self,
        queue: str,
        state: Optional[str] = None,
        after: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> Command[JobPage]:
        """One page of the queue's jobs in one state (``LIST``): a
        :class:`~docketd_client.JobPage` with ``jobs`` (each a
        :class:`~docketd_client.JobInfo`) in the state's order and ``next``,
        the cursor to pass as ``after`` for the following page (None on the
        last). ``state``: ``waiting`` (the server's default), ``delayed``,
        ``blocked``, ``active``, ``completed`` or ``dead``; ``limit`` 1..1000 (server
        default 100). Paging is stable while jobs come and go.
        :meth:`list_all` follows the cursors for you."""
        return Command("list", P.encode_list(queue, state, after, limit), read=JobPage.from_dict)

    @verb
    def purge(self, queue: str, state: str, older: Optional[P.Duration] = None) -> Command[int]:
        """Delete the queue's jobs in ``state`` (``waiting``, ``delayed``,
        ``blocked``, ``completed`` or ``dead``; never ``active``), with ``older`` only
        those that entered it longer ago than that (``PURGE``). Returns how
        many, once the deletion is on disk."""
        return Command("purge", P.encode_purge(queue, state, older))

    @verb
    def promote(self, job_id: Union[int, Job, EnqueueResult]) -> Command[None]:
        """A delayed job waits from now on, behind the jobs that became
        runnable before it (``PROMOTE``). :class:`~docketd_client.NotDelayed`
        for a job in any other state, :class:`~docketd_client.NotFound`."""
        return Command("promote", P.encode_promote(job_id))

    @verb
    def help(self) -> Command[str]:
        """The server's list of verbs (``HELP``)."""
        return Command("help", P.encode_help())

    # -- queues, server, routes, events --------------------------------------

    @verb
    def queue(self, name: str) -> Command[QueueInfo]:
        """The queue's settings and state (``QUEUE <name>``). Reading a queue
        never creates it: an unknown one reads as empty, with defaults."""
        return Command("queue", P.encode_queue(name), read=QueueInfo.from_dict)

    @verb
    def queues(self, after: Optional[str] = None, limit: Optional[int] = None) -> Command[List[QueueInfo]]:
        """One page of the queues' documents (of the queues this user may
        read), by name (``QUEUES``): up to ``limit`` (1 to 1000, server
        default 1000) of those named after ``after``, fewer where the
        server's max_payload ends the page; empty past the last. Pass the
        last ``queue`` of a page as the next one's ``after``."""
        return Command("queues", P.encode_queues(after, limit), read=_queue_infos)

    @verb
    def stats(self) -> Command[ServerStats]:
        """The server's counters (``STATS``)."""
        return Command("stats", P.encode_stats(), read=ServerStats.from_dict)

    @verb
    def set_queue(
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
    ) -> Command[None]:
        """Change queue settings (``QUEUE <name> <setting>=<value> ...``),
        persisted; returns once the change is on disk.

        A setting left at ``None`` is not sent and keeps its current value;
        the string ``"none"`` returns it to its default (no ``rate``, no
        ``group_rate``, no ``concurrency`` cap, ``attempts`` 3, ...).
        ``rate``/``group_rate``: ``"100/1s"`` or ``(100, "1s")``;
        ``attempts``, ``backoff``, ``jitter``, ``lease`` are defaults for
        jobs enqueued from now on."""
        wire = P.encode_set_queue(
            name, rate=rate, group_rate=group_rate, concurrency=concurrency, attempts=attempts,
            backoff=backoff, jitter=jitter, lease=lease, keep_completed=keep_completed, keep_dead=keep_dead,
        )
        return Command("set_queue", wire)

    @verb
    def pause(self, name: str) -> Command[None]:
        """Start nothing more of the queue (``PAUSE``); ENQ still works."""
        return Command("pause", P.encode_pause(name))

    @verb
    def resume(self, name: str) -> Command[None]:
        """Start the queue's jobs again (``RESUME``)."""
        return Command("resume", P.encode_resume(name))

    @verb
    def route(
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
        ttl: Optional[P.Duration] = None,
    ) -> Command[int]:
        """Make every message published on ``pattern`` (wildcards allowed,
        not ``$...``) a job on ``queue`` with these ENQ options (``ROUTE``;
        no ``key``/``at``/``expires``: each message makes a new job; ``ttl``
        counts from each job's ENQ). Returns the route id, never handed out
        twice."""
        wire = P.encode_route(
            pattern, queue, delay=delay, priority=priority, attempts=attempts, backoff=backoff,
            jitter=jitter, lease=lease, group=group, ttl=ttl,
        )
        return Command("route", wire)

    @verb
    def unroute(self, route_id: Union[int, Route]) -> Command[None]:
        """Remove a route (``UNROUTE``); :class:`~docketd_client.NotFound` if there
        is none with that id."""
        return Command("unroute", P.encode_unroute(route_id))

    @verb
    def routes_page(self, after: Any = None, limit: Optional[int] = None) -> Command[List[Route]]:
        """One page of the routes (of the queues this user may read), by id
        (``ROUTES``): up to ``limit`` (1 to 1000, server default 1000) of
        those whose id is above ``after``, fewer where the server's
        max_payload ends the page; empty past the last. :meth:`routes` reads
        them all."""
        return Command("routes", P.encode_routes(after, limit), read=_routes)

    # -- schedules -------------------------------------------------------------

    @verb
    def schedule(
        self,
        name: str,
        queue: str,
        payload: P.Payload = b"",
        *,
        cron: Optional[str] = None,
        every: Optional[P.Duration] = None,
        tz: Optional[str] = None,
        catchup: Optional[str] = None,
        priority: Optional[int] = None,
        attempts: Optional[int] = None,
        backoff: Optional[str] = None,
        jitter: Optional[float] = None,
        lease: Optional[P.Duration] = None,
        group: Optional[str] = None,
        ttl: Optional[P.Duration] = None,
    ) -> Command[None]:
        """Create or replace the schedule ``name`` (``SCHEDULE``; returns once
        it is on disk): each tick enqueues one job on ``queue`` with
        ``payload`` and these ENQ options, keyed ``<name>@<tick>`` (the tick
        in unix ms).

        Give exactly one of ``cron`` (5 fields, or 6 with seconds first;
        ``@hourly``, ``@daily``, ...; read in the IANA zone ``tz``, default
        UTC) and ``every`` (a duration of at least 1s, counted from the
        creation). ``catchup`` says what ticks missed while docketd was down
        make: ``"none"``, ``"one"`` (the server's default) or ``"all"``.
        A replaced schedule starts afresh."""
        body = P.to_bytes(payload)
        self._check_payload(len(body))
        wire = P.encode_schedule(
            name, queue, body, cron=cron, every=every, tz=tz, catchup=catchup, priority=priority,
            attempts=attempts, backoff=backoff, jitter=jitter, lease=lease, group=group, ttl=ttl,
        )
        self._check_line(wire)
        return Command("schedule", wire)

    @verb
    def unschedule(self, name: str) -> Command[None]:
        """Remove a schedule (``UNSCHEDULE``); :class:`~docketd_client.NotFound`
        if there is none of that name."""
        return Command("unschedule", P.encode_unschedule(name))

    @verb
    def schedules(self, after: Optional[str] = None, limit: Optional[int] = None) -> Command[List[Schedule]]:
        """One page of the schedules (of the queues this user may read), by
        name (``SCHEDULES``), as :class:`~docketd_client.Schedule` documents:
        up to ``limit`` (1 to 1000, server default 100) of those named after
        ``after``; empty past the last. :meth:`schedules_all` reads them all."""
        return Command("schedules", P.encode_schedules(after, limit), read=_schedules)

    @verb
    def pause_schedule(self, name: str) -> Command[None]:
        """Pause a schedule (``PAUSE schedule=``): ticks that pass meanwhile
        are skipped, whatever its ``catchup``. :class:`~docketd_client.NotFound`
        if there is none of that name."""
        return Command("pause_schedule", P.encode_pause_schedule(name))

    @verb
    def resume_schedule(self, name: str) -> Command[None]:
        """Resume a paused schedule (``RESUME schedule=``)."""
        return Command("resume_schedule", P.encode_resume_schedule(name))

    @verb
    def events(
        self,
        queue: str = "*",
        event: str = "*",
        *,
        callback: Optional[Callable[[JobEvent], Any]] = None,
        timeout: Optional[float] = None,
        max_pending: Optional[int] = None,
    ) -> Subscribe[EventStreamT]:
        """Follow job lifecycle events: a subscription to
        ``$JOB.<queue>.<event>`` (``"*"``: every queue, every event) whose
        messages are read as :class:`~docketd_client.JobEvent` objects.

        Iterate the returned EventStream (``for ev in
        client.events("emails")``, or ``async for`` on the asyncio client;
        ``timeout`` ends the loop after that many idle seconds) or pass
        ``callback``. The subscription is in place on the server when this
        returns (it is flushed), so every later transition is seen."""
        if queue != "*":
            P.check_queue_name(queue)
        if event != "*":
            P._token(event, "event")
        if max_pending is not None:
            check_positive_int(max_pending, "max_pending")
        _check_callback(callback)
        wrapped = None if callback is None else _event_callback(callback)
        return Subscribe(f"$JOB.{queue}.{event}", None, wrapped, timeout, max_pending, events=True)

    # -- helpers ---------------------------------------------------------------

    def _server_wait(self, timeout: Optional[P.Duration]) -> Optional[float]:
        """How long to wait for the reply of a command the server holds for
        up to ``timeout`` (RESERVE, WAIT): that, plus ``request_timeout``."""
        if timeout is None or self.request_timeout is None:
            return None
        return P.duration_seconds(P.format_duration(timeout)) + self.request_timeout


def _may_wait(timeout: Optional[P.Duration]) -> bool:
    """Whether the server may hold a RESERVE or WAIT with ``timeout``: not
    one with ``timeout=0``, which it answers at once (a CANCEL behind that
    would end nothing, and only add a ``+OK``)."""
    return timeout is None or P.duration_seconds(P.format_duration(timeout)) > 0


def _check_list_all(queue: str, state: Optional[str], page_size: Optional[int]) -> None:
    """Refuse bad arguments of ``list_all`` when it is called, not at its
    first page."""
    P.encode_list(queue, state, None, page_size)


def _next_cursor(page: JobPage, after: Optional[str]) -> Optional[str]:
    """The cursor of the page after ``page``, or None when it was the last
    (or when the server handed back the cursor it was given with no jobs,
    which would never end)."""
    if page.next is None or (page.next == after and not page.jobs):
        return None
    return page.next


class BlockingVerbs(Verbs[SubscriptionT, EventStreamT]):
    """Base of the threaded client: its verbs block until done."""

    def list_all(self, queue: str, state: Optional[str] = None, *, page_size: Optional[int] = None) -> Iterator[JobInfo]:
        """Every job of the queue in ``state`` (default ``waiting``), in the
        state's order: :meth:`list` page after page (``page_size`` jobs
        each, server default 100), following the ``next`` cursors. A page
        is fetched when the one before is used up."""
        _check_list_all(queue, state, page_size)
        return self._list_all(queue, state, page_size)

    def _list_all(self, queue: str, state: Optional[str], page_size: Optional[int]) -> Iterator[JobInfo]:
        after: Optional[str] = None
        while True:
            page = self.list(queue, state, after, page_size)
            yield from page.jobs
            after = _next_cursor(page, after)
            if after is None:
                return


    def children_all(self, job_id: Union[int, Job, EnqueueResult], *, page_size: Optional[int] = None) -> Iterator[int]:
        """Every child of a job, by id: :meth:`children` page after page,
        following ``next``."""
        P.encode_children(_plain_id(job_id), None, page_size)
        return self._children_all(_plain_id(job_id), page_size)

    def _children_all(self, job_id: Any, page_size: Optional[int]) -> Iterator[int]:
        after: Optional[int] = None
        while True:
            page = self.children(job_id, after, page_size)
            yield from page.children
            if page.next is None:
                return
            after = page.next

    def schedules_all(self, *, page_size: Optional[int] = None) -> Iterator[Schedule]:
        """Every schedule, by name: :meth:`schedules` page after page, each
        after the last name of the one before, until one is empty."""
        P.encode_schedules(None, page_size)
        return self._schedules_all(page_size)

    def _schedules_all(self, page_size: Optional[int]) -> Iterator[Schedule]:
        after: Optional[str] = None
        while True:
            page = self.schedules(after, page_size)
            if not page:
                return
            yield from page
            after = page[-1].name


    def routes(self) -> List[Route]:
        """Every route (of the queues this user may read), by id:
        :meth:`routes_page` page after page, each after the last id of the
        one before, until one is empty."""
        routes: List[Route] = []
        while True:
            page = self.routes_page(routes[-1].id if routes else None)
            if not page:
                return routes
            routes += page


class CoroutineVerbs(Verbs[SubscriptionT, EventStreamT]):
    """Base of the asyncio client: its verbs are coroutines."""

    def list_all(
        self, queue: str, state: Optional[str] = None, *, page_size: Optional[int] = None
    ) -> AsyncIterator[JobInfo]:
        """Every job of the queue in ``state`` (default ``waiting``), in the
        state's order, as an async iterator (``async for job in
        client.list_all("emails")``): :meth:`list` page after page
        (``page_size`` jobs each, server default 100), following the
        ``next`` cursors."""
        _check_list_all(queue, state, page_size)
        return self._list_all(queue, state, page_size)

    def children_all(self, job_id: Union[int, Job, EnqueueResult], *, page_size: Optional[int] = None) -> AsyncIterator[int]:
        """Every child of a job, by id, as an async iterator: :meth:`children`
        page after page, following ``next``."""
        P.encode_children(_plain_id(job_id), None, page_size)
        return self._children_all(_plain_id(job_id), page_size)

    async def _children_all(self, job_id: Any, page_size: Optional[int]) -> AsyncIterator[int]:
        after: Optional[int] = None
        while True:
            page = await self.children(job_id, after, page_size)
            for child in page.children:
                yield child
            if page.next is None:
                return
            after = page.next

    def schedules_all(self, *, page_size: Optional[int] = None) -> AsyncIterator[Schedule]:
        """Every schedule, by name, as an async iterator: :meth:`schedules`
        page after page, each after the last name of the one before."""
        P.encode_schedules(None, page_size)
        return self._schedules_all(page_size)

    async def _schedules_all(self, page_size: Optional[int]) -> AsyncIterator[Schedule]:
        after: Optional[str] = None
        while True:
            page = await self.schedules(after, page_size)
            if not page:
                return
            for schedule in page:
                yield schedule
            after = page[-1].name

    async def _list_all(self, queue: str, state: Optional[str], page_size: Optional[int]) -> AsyncIterator[JobInfo]:
        after: Optional[str] = None
        while True:
            page = await self.list(queue, state, after, page_size)
            for job in page.jobs:
                yield job
            after = _next_cursor(page, after)
            if after is None:
                return

    async def routes(self) -> List[Route]:
        """Every route (of the queues this user may read), by id:
        :meth:`routes_page` page after page, until one is empty."""
        routes: List[Route] = []
        while True:
            page = await self.routes_page(routes[-1].id if routes else None)
            if not page:
                return routes
            routes += page
