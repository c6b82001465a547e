"""Plain data types returned by the client."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Type, TypeVar

from ._jsontext import loads as _loads_json

__all__ = [
    "Msg", "Job", "EnqueueResult", "FailOutcome", "JobOutcome", "JobInfo", "FailedAttempt", "ParentInfo", "ChildrenPage", "QueueInfo", "QueueConfig",
    "QueueJobs", "QueueTotals", "QueueRates", "ServerStats", "Route", "JobEvent", "JobPage", "Schedule",
]


@dataclass
class Msg:
    """A message delivered to a subscription (``MSG`` or ``HMSG``).

    ``headers`` maps each header name to its value (repeated names are
    joined with ``", "``); ``header_items`` keeps every (name, value) pair in
    order. ``status`` is the status code of a status message (``503`` for
    no responders), with its optional ``description``.
    """

    subject: str
    sid: str
    reply: Optional[str]
    data: bytes
    header_items: Optional[List[Tuple[str, str]]] = None
    status: Optional[int] = None
    description: Optional[str] = None
    _respond: Optional[Callable[[str, bytes], None]] = field(default=None, repr=False, compare=False)

    @property
    def headers(self) -> Optional[Dict[str, str]]:
        """Header names to values, or None for a message without headers."""
        if self.header_items is None:
            return None
        out: Dict[str, str] = {}
        for name, value in self.header_items:
            out[name] = f"{out[name]}, {value}" if name in out else value
        return out

    @property
    def text(self) -> str:
        """The payload decoded as UTF-8."""
        return self.data.decode("utf-8")

    def json(self) -> Any:
        """The payload parsed as JSON (:class:`ValueError` when it is not
        JSON, nesting too deep to decode included)."""
        return _loads_json(self.data)

    def respond(self, data: "bytes | str") -> None:
        """Publish ``data`` to this message's reply subject."""
        if not self.reply:
            raise ValueError("message has no reply subject")
        if self._respond is None:
            raise ValueError("message is not bound to a client")
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        self._respond(self.reply, payload)


@dataclass(frozen=True)
class Job:
    """A reserved job: ``JOB <id> <queue> <attempt> [name=value ...] <#bytes>``.

    ``attempt`` counts from 1 (the first run is attempt 1); send it back with
    ``attempt=`` on ACK, FAIL, PROGRESS and TOUCH so that a command from a
    stale run is refused (``NotHeld``) instead of acting on a newer one.
    ``lease_ms`` is the job's lease in milliseconds and ``delivery`` an id
    the server gives this one hand-out of the job, never given twice by a
    data directory (crashes included): both None when the server did not
    send them (servers before attempt fencing).
    """

    id: int
    queue: str
    attempt: int
    payload: bytes
    lease_ms: Optional[int] = None
    delivery: Optional[int] = None

    @property
    def text(self) -> str:
        """The payload decoded as UTF-8."""
        return self.payload.decode("utf-8")

    def json(self) -> Any:
        """The payload parsed as JSON (:class:`ValueError` when it is not
        JSON, nesting too deep to decode included)."""
        return _loads_json(self.payload)


@dataclass(frozen=True)
class EnqueueResult:
    """The answer to ENQ: the job id, and whether ``key=`` named a job the
    queue already knew (then nothing was created), or, with ``replace=True``,
    a job still waiting or delayed that took this payload and run time."""

    id: int
    duplicate: bool = False
    replaced: bool = False


@dataclass(frozen=True)
class FailOutcome:
    """What FAIL did: ``retry`` after ``delay_ms`` milliseconds, ``dead``,
    or (``FAIL ... throttle=``) ``throttled``: the job is back in its place
    and its queue or group starts nothing for ``delay_ms``.

    Iterating gives ``("retry", delay_ms)``, ``("throttled", delay_ms)`` or
    ``("dead",)``, so ``tuple(outcome) == ("retry", 5000)`` works.
    """

    outcome: str
    delay_ms: Optional[int] = None

    @property
    def dead(self) -> bool:
        """True when the job is dead (no retry will happen)."""
        return self.outcome == "dead"

    @property
    def retrying(self) -> bool:
        """True when the job will run again."""
        return self.outcome == "retry"

    @property
    def throttled(self) -> bool:
        """True when the job went back without using an attempt (throttle)."""
        return self.outcome == "throttled"

    @property
    def delay(self) -> Optional[float]:
        """The retry delay (or throttle hold) in seconds (None when dead)."""
        return None if self.delay_ms is None else self.delay_ms / 1000.0

    def astuple(self) -> Tuple[Any, ...]:
        """``("retry", delay_ms)``, ``("throttled", delay_ms)`` or ``("dead",)``."""
        return ("dead",) if self.outcome == "dead" else (self.outcome, self.delay_ms)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.astuple())


@dataclass(frozen=True)
class JobOutcome:
    """The answer to WAIT: the job ended (``OUTCOME``), or the timeout
    passed first (``PENDING``).

    ``state`` is ``"completed"`` or ``"dead"`` when the job ended, and its
    current state (``"waiting"``, ``"delayed"``, ``"active"``) when
    ``pending``. ``data`` is the result of a completed job or the last
    error of a dead one (None while pending).
    """

    id: int
    state: str
    data: Optional[bytes] = None

    @property
    def pending(self) -> bool:
        """True when the timeout passed before the job ended."""
        return self.state not in ("completed", "dead")

    @property
    def completed(self) -> bool:
        """True when the job was ACKed."""
        return self.state == "completed"

    @property
    def dead(self) -> bool:
        """True when the job is dead (no attempts left, ``retry=no``, ...)."""
        return self.state == "dead"

    @property
    def result(self) -> Optional[bytes]:
        """The ACK's result of a completed job (``b""`` without one), else None."""
        return self.data if self.state == "completed" else None

    @property
    def error(self) -> Optional[str]:
        """The last error of a dead job, as text, else None."""
        if self.state != "dead" or self.data is None:
            return None
        return self.data.decode("utf-8", "replace")

    @property
    def text(self) -> Optional[str]:
        """``data`` decoded as UTF-8 (None while pending)."""
        return None if self.data is None else self.data.decode("utf-8")

    def json(self) -> Any:
        """``data`` parsed as JSON (the result of a handler that returned an object)."""
        if self.data is None:
            raise ValueError(f"job {self.id} is {self.state}: no outcome yet")
        return _loads_json(self.data)


# --------------------------------------------------------------------------
# Documents: INSPECT, DEAD, LIST, QUEUE, QUEUES, STATS, ROUTES, SCHEDULES and
# lifecycle events.
#
# Each is a dataclass with a field per key PROTOCOL.md lists; a key the
# server does not send is None, and the whole document as the server sent
# it (keys this client does not know included) is kept in ``raw``. For
# code written against the plain dicts, ``doc["key"]``, ``doc.get("key")``
# and ``"key" in doc`` read ``raw``.


_D = TypeVar("_D", bound="_Document")


class _Document:
    raw: Dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def get(self, key: str, default: Any = None) -> Any:
        """``raw.get(key, default)``."""
        return self.raw.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.raw

    def keys(self) -> Any:
        """``raw.keys()`` (so ``dict(doc)`` gives the document as sent)."""
        return self.raw.keys()

    def items(self) -> Any:
        """``raw.items()``."""
        return self.raw.items()

    def values(self) -> Any:
        """``raw.values()``."""
        return self.raw.values()

    @classmethod
    def _kwargs(cls, doc: Any, nested: Optional[Dict[str, Any]] = None, lists: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """The fields of ``doc``; ``nested`` names fields that hold one document of a
        type, ``lists`` fields that hold an array of them (anything else reads as [])."""
        if not isinstance(doc, dict):
            doc = {}
        nested = nested or {}
        lists = lists or {}
        out: Dict[str, Any] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if f.name == "raw":
                out["raw"] = doc
            elif f.name in nested:
                out[f.name] = nested[f.name].from_dict(doc.get(f.name))
            elif f.name in lists:
                items = doc.get(f.name)
                out[f.name] = [lists[f.name].from_dict(item) for item in items] if isinstance(items, list) else []
            elif f.init:
                out[f.name] = doc.get(f.name)
        return out

    @classmethod
    def from_dict(cls: Type[_D], doc: Any) -> _D:
        """The typed document; unknown keys stay in ``raw``."""
        return cls(**cls._kwargs(doc))


@dataclass(frozen=True)
class FailedAttempt(_Document):
    """An attempt that ended without completing its job (an item of
    :attr:`JobInfo.failed_attempts`): ``attempt``, ``started_at`` and
    ``ended_at`` (unix milliseconds) and ``error``: the FAIL reason (None
    without one), ``stalled: ...`` for a lease that ran out, ``worker lost:
    ...`` for a worker that went."""

    attempt: Optional[int] = None
    started_at: Optional[int] = None
    ended_at: Optional[int] = None
    error: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class JobInfo(_Document):
    """The job document (``INSPECT <id>``, each item of ``DEAD`` and of a
    ``LIST`` page).

    ``state`` is ``waiting``, ``delayed``, ``blocked`` (waiting for its
    parents), ``active``, ``completed`` or ``dead``; ``attempts`` counts runs so far; ``enqueued_at``, ``run_at``,
    ``started_at``, ``finished_at`` are unix milliseconds (or None);
    ``result`` is the ACK's result as UTF-8 text (or None), ``last_error``
    the last FAIL reason or lease/worker loss; ``expires_at`` the job's
    expiry (``ttl=``/``expires=``, unix milliseconds) or None; ``parents``
    (the ids of its ``after=``) and ``on_parent_dead`` for a job with parents,
    ``children`` for one with children still around (INSPECT: the first 1000
    by id, ``children_truncated`` when there are more), ``key_until`` while a
    ``key_ttl=`` window keeps its key; ``failed_attempts`` (``INSPECT`` only,
    else empty) the job's attempt history: the attempts that ended without
    completing it, the last 10, oldest first, as :class:`FailedAttempt`.
    """

    id: Optional[int] = None
    queue: Optional[str] = None
    state: Optional[str] = None
    priority: Optional[int] = None
    attempts: Optional[int] = None
    max_attempts: Optional[int] = None
    backoff: Optional[str] = None
    jitter: Optional[float] = None
    lease_ms: Optional[int] = None
    key: Optional[str] = None
    group: Optional[str] = None
    enqueued_at: Optional[int] = None
    run_at: Optional[int] = None
    started_at: Optional[int] = None
    finished_at: Optional[int] = None
    progress: Optional[int] = None
    progress_note: Optional[str] = None
    last_error: Optional[str] = None
    result: Optional[str] = None
    payload_bytes: Optional[int] = None
    expires_at: Optional[int] = None
    parents: Optional[List[int]] = None
    on_parent_dead: Optional[str] = None
    children: Optional[List[int]] = None
    children_truncated: Optional[bool] = None
    key_until: Optional[int] = None
    failed_attempts: List[FailedAttempt] = field(default_factory=list)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, doc: Any) -> "JobInfo":
        return cls(**cls._kwargs(doc, lists={"failed_attempts": FailedAttempt}))


@dataclass(frozen=True)
class ParentInfo(_Document):
    """One parent of a job (``PARENTS <id>``), in the order of its ``after=``:
    ``id``, ``queue``, ``state``, and its ``result`` (completed) or ``error``
    (the last error: dead, failed) as UTF-8 text. A parent deleted since has
    only ``id`` and ``state`` ``"deleted"`` (see :attr:`deleted`)."""

    id: Optional[int] = None
    queue: Optional[str] = None
    state: Optional[str] = None
    result: Optional[str] = None
    error: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def deleted(self) -> bool:
        """True when the parent was deleted (DEL, PURGE) since."""
        return self.state == "deleted"

    @property
    def completed(self) -> bool:
        return self.state == "completed"


@dataclass(frozen=True)
class ChildrenPage(_Document):
    """One page of a job's children (``CHILDREN <id>``): the ids of the jobs
    enqueued ``after=`` job ``id`` that still exist, in id order. ``next`` is
    the id to pass as ``after`` for the page that follows, None on the last.
    (INSPECT lists the first 1000 only.)"""

    id: Optional[int] = None
    children: List[int] = field(default_factory=list)
    next: Optional[int] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def last(self) -> bool:
        """True on the last page (no ``next``)."""
        return self.next is None


@dataclass(frozen=True)
class JobPage(_Document):
    """One page of ``LIST``: jobs of ``queue`` in ``state``, in that state's
    order (waiting: as they will run; delayed: by run time; active: by the
    start of their attempt; completed and dead: newest first).

    ``next`` is the cursor to pass as ``after=`` for the page that follows,
    None on the last page.
    """

    queue: Optional[str] = None
    state: Optional[str] = None
    jobs: List[JobInfo] = field(default_factory=list)
    next: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, doc: Any) -> "JobPage":
        return cls(**cls._kwargs(doc, lists={"jobs": JobInfo}))

    @property
    def last(self) -> bool:
        """True on the last page (no ``next`` cursor)."""
        return self.next is None


@dataclass(frozen=True)
class Schedule(_Document):
    """One schedule (``SCHEDULES``): each tick makes a job on ``queue``,
    keyed ``<name>@<tick>``.

    ``cron`` and ``tz`` for a cron schedule, ``every_ms`` for an ``every=``
    one (the other None); ``catchup`` is ``none``, ``one`` or ``all``;
    ``rule`` the SCHEDULE arguments as given; ``created_at`` and
    ``last_tick`` (the tick handled last, or None) are unix milliseconds;
    ``next`` holds the next three ticks (unix ms), empty while ``paused``.
    """

    name: Optional[str] = None
    queue: Optional[str] = None
    cron: Optional[str] = None
    tz: Optional[str] = None
    every_ms: Optional[int] = None
    catchup: Optional[str] = None
    rule: Optional[str] = None
    payload_bytes: Optional[int] = None
    paused: Optional[bool] = None
    created_at: Optional[int] = None
    last_tick: Optional[int] = None
    next: List[int] = field(default_factory=list)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, doc: Any) -> "Schedule":
        kwargs = cls._kwargs(doc)
        ticks = kwargs.get("next")
        kwargs["next"] = list(ticks) if isinstance(ticks, list) else []
        return cls(**kwargs)


@dataclass(frozen=True)
class QueueConfig(_Document):
    """A queue's settings, defaults filled in (``config`` of QUEUE).
    ``rate``/``group_rate`` read like ``"10/1000ms"`` (None: no limit),
    ``backoff`` like ``"exp:1000ms:3600000ms"``."""

    rate: Optional[str] = None
    group_rate: Optional[str] = None
    concurrency: Optional[int] = None
    attempts: Optional[int] = None
    backoff: Optional[str] = None
    jitter: Optional[float] = None
    lease_ms: Optional[int] = None
    keep_completed: Optional[int] = None
    keep_dead: Optional[int] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class QueueJobs(_Document):
    """Jobs of a queue per state (``jobs`` of QUEUE)."""

    waiting: Optional[int] = None
    delayed: Optional[int] = None
    active: Optional[int] = None
    completed: Optional[int] = None
    dead: Optional[int] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class QueueTotals(_Document):
    """Counters over the queue's whole life (``totals`` of QUEUE)."""

    enqueued: Optional[int] = None
    started: Optional[int] = None
    completed: Optional[int] = None
    failed: Optional[int] = None
    dead: Optional[int] = None
    throttled: Optional[int] = None
    removed: Optional[int] = None
    deleted: Optional[int] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class QueueRates(_Document):
    """Events per second over the last minute (``rates`` of QUEUE)."""

    started_per_s: Optional[float] = None
    completed_per_s: Optional[float] = None
    failed_per_s: Optional[float] = None
    dead_per_s: Optional[float] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class QueueInfo(_Document):
    """The queue document (``QUEUE <queue>``, each item of ``QUEUES``).

    ``blocked_by`` is why nothing starts now (``"paused"``,
    ``"concurrency"``, ``"throttle"``, ``"rate"``) or None;
    ``next_start_at`` and ``held_until`` are unix milliseconds or None.
    """

    queue: Optional[str] = None
    paused: Optional[bool] = None
    config: QueueConfig = field(default_factory=QueueConfig)
    jobs: QueueJobs = field(default_factory=QueueJobs)
    totals: QueueTotals = field(default_factory=QueueTotals)
    rates: QueueRates = field(default_factory=QueueRates)
    oldest_waiting_ms: Optional[int] = None
    active: Optional[int] = None
    waiting_workers: Optional[int] = None
    rate_window_starts: Optional[int] = None
    next_start_at: Optional[int] = None
    blocked_by: Optional[str] = None
    held_until: Optional[int] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, doc: Any) -> "QueueInfo":
        return cls(**cls._kwargs(doc, {
            "config": QueueConfig, "jobs": QueueJobs, "totals": QueueTotals, "rates": QueueRates,
        }))


@dataclass(frozen=True)
class ServerStats(_Document):
    """The STATS document."""

    server_id: Optional[str] = None
    version: Optional[str] = None
    docket_version: Optional[str] = None
    uptime_ms: Optional[int] = None
    connections: Optional[int] = None
    total_connections: Optional[int] = None
    refused_connections: Optional[int] = None
    subscriptions: Optional[int] = None
    slow_consumers: Optional[int] = None
    in_msgs: Optional[int] = None
    out_msgs: Optional[int] = None
    in_bytes: Optional[int] = None
    out_bytes: Optional[int] = None
    jobs: Optional[int] = None
    queues: Optional[int] = None
    commits: Optional[int] = None
    commit_us_total: Optional[int] = None
    store_used_bytes: Optional[int] = None
    store_capacity_bytes: Optional[int] = None
    store_file_bytes: Optional[int] = None
    sync: Optional[str] = None
    max_payload: Optional[int] = None
    route_refusals: Optional[int] = None
    skipped_ticks: Optional[int] = None
    checkpoint_waits: Optional[int] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Route(_Document):
    """One route (``ROUTES``): messages on ``pattern`` become jobs on
    ``queue``; ``rule`` is the route as written (pattern, queue, options)."""

    id: Optional[int] = None
    pattern: Optional[str] = None
    queue: Optional[str] = None
    rule: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class JobEvent(_Document):
    """A lifecycle event, the body of a ``$JOB.<queue>.<event>`` message.

    Always: ``seq`` (per queue, +1 per event: a jump means missed events),
    ``event``, ``id``, ``queue``, ``attempt``, ``max_attempts``, ``state``
    (after the transition), ``at`` (unix ms) and ``group`` (None without
    one). The rest by event: ``wait_ms`` (started); ``progress``, ``note``
    (progress); ``run_ms`` (completed, failed, stalled, lost, throttled);
    ``result_bytes`` (completed); ``error`` (failed, stalled, lost, dead,
    throttled, expired); ``next`` (``"retry"``/``"dead"``) and
    ``retry_in_ms`` (failed, stalled, lost; for throttled the hold);
    ``schedule`` and ``tick`` (scheduled: the schedule's name and the tick,
    unix ms); ``parents`` (blocked: the ids it waits for). ``subject`` is the
    message's subject.
    """

    seq: Optional[int] = None
    event: Optional[str] = None
    id: Optional[int] = None
    queue: Optional[str] = None
    attempt: Optional[int] = None
    max_attempts: Optional[int] = None
    state: Optional[str] = None
    at: Optional[int] = None
    group: Optional[str] = None
    wait_ms: Optional[int] = None
    progress: Optional[int] = None
    note: Optional[str] = None
    run_ms: Optional[int] = None
    result_bytes: Optional[int] = None
    error: Optional[str] = None
    next: Optional[str] = None
    retry_in_ms: Optional[int] = None
    schedule: Optional[str] = None
    tick: Optional[int] = None
    parents: Optional[List[int]] = None
    subject: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_msg(cls, msg: Msg) -> "JobEvent":
        """The event a ``$JOB.…`` message carries (a body that is not a
        JSON object gives an event with only ``subject`` set, and ``event``
        from the subject: malformed, not UTF-8, or nested too deeply to
        decode alike)."""
        try:
            doc = _loads_json(msg.data)
        except ValueError:
            doc = {}
        kwargs = cls._kwargs(doc)
        kwargs["subject"] = msg.subject
        if kwargs.get("event") is None and msg.subject.count(".") >= 2:
            kwargs["event"] = msg.subject.rsplit(".", 1)[-1]
        return cls(**kwargs)
