"""The Docket wire protocol, without sockets.

This module is pure: encoders turn calls into the exact bytes a client
sends, :class:`Parser` turns the bytes a server sends into operations, and
:func:`interpret_reply` turns an operation into the result of the command
that awaits it. The :class:`~docketd_client.Client` is a thin layer of sockets and
threads over it, and the client-conformance cases
(``Protocol/client-conformance``) test it directly.

Adding a verb takes an encoder
here, an entry in :data:`REPLY_KINDS` saying how its reply reads, and a
method on the client that calls ``_request(kind, bytes)``.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from dataclasses import dataclass
from collections.abc import Set as AbstractSet
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from . import _jsontext
from .errors import BadArgument, ProtocolError, ServerError, job_error
from .models import EnqueueResult, FailOutcome, Job, JobOutcome

__all__ = [
    "CRLF",
    "Duration",
    "Payload",
    "HeadersArg",
    "format_duration",
    "format_backoff",
    "duration_seconds",
    "fixed",
    "exponential",
    "check_subject",
    "check_queue_name",
    "check_schedule_name",
    "to_bytes",
    "encode_connect",
    "encode_ping",
    "encode_pong",
    "encode_publish",
    "encode_subscribe",
    "encode_unsubscribe",
    "encode_enqueue",
    "encode_reserve",
    "encode_ack",
    "encode_fail",
    "encode_progress",
    "encode_touch",
    "encode_inspect",
    "encode_dead",
    "encode_retry",
    "encode_retry_queue",
    "encode_delete",
    "encode_help",
    "encode_wait",
    "encode_queue",
    "encode_set_queue",
    "encode_pause",
    "encode_resume",
    "encode_queues",
    "encode_stats",
    "encode_route",
    "encode_unroute",
    "encode_routes",
    "encode_list",
    "encode_purge",
    "encode_promote",
    "encode_schedule",
    "encode_unschedule",
    "encode_schedules",
    "encode_pause_schedule",
    "encode_resume_schedule",
    "parse_routed_reply",
    "is_routed_reply",
    "Info",
    "MsgOp",
    "Ping",
    "Pong",
    "Ok",
    "Err",
    "JobOp",
    "NoJob",
    "JsonOp",
    "HelpOp",
    "OutcomeOp",
    "PendingOp",
    "Op",
    "Parser",
    "split_job_error",
    "REPLY_KINDS",
    "interpret_reply",
    "is_job_error_for",
    "is_nats_error",
    "answers_command",
    "route",
]

CRLF = b"\r\n"

#: A duration: seconds as a number, a ``datetime.timedelta``, or a string
#: the server reads (``250ms``, ``30s``, ``5m``, ``2h``, ``1d``, or a bare
#: number of seconds).
Duration = Union[int, float, str, datetime.timedelta]
#: A payload: bytes-like, or a str sent as UTF-8.
Payload = Union[bytes, bytearray, memoryview, str]
#: Headers: a mapping of name to value (or list of values), or (name, value) pairs.
HeadersArg = Union[Mapping[str, Union[str, Sequence[str]]], Sequence[Tuple[str, str]]]

_MAX_NUMBER = 9_999_999_999  # numbers are at most 10 decimal digits
_MAX_ID = 9_999_999_999_999_999_999  # job (and route) ids are at most 19 digits
_MAX_UNIX_MS = 999_999_999_999_999  # expires= is unix milliseconds of at most 15 digits
_MAX_LIST_LIMIT = 1000  # a LIST page holds 1 to 1000 jobs
_MAX_U64 = (1 << 64) - 1
# Anchored with \Z: `$` would also match before a trailing newline, letting
# "q\n" through as a queue name and into the control line.
_DURATION_RE = re.compile(r"^[0-9]{1,10}(ms|s|m|h|d)?\Z")
_MAX_DURATION_MS = 366 * 86_400_000  # the server reads durations of at most 366 days
_RATE_RE = re.compile(r"^([0-9]{1,7})/([0-9]{0,10})(ms|s|m|h|d)?\Z")
_MAX_RATE = 1_000_000
_MAX_CONCURRENCY = 100_000
_STATE_RE = re.compile(r"^[a-z][a-z_]*\Z")
_QUEUE_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}\Z")
_NUMBER_RE = re.compile(r"^[0-9]{1,10}\Z")
_ID_RE = re.compile(r"^[0-9]{1,19}\Z")
_U64_RE = re.compile(r"^[0-9]{1,20}\Z")
_BLANKS_RE = re.compile(r"[ \t]+")
_JOB_ERROR_RE = re.compile(r"^([A-Z][A-Z0-9_]*[A-Z0-9])(?:[ \t]+(.*))?$", re.S)
_FORBIDDEN_IN_TOKEN = re.compile(r"[\s\x00-\x1f\x7f]")
_OP_RE = re.compile(r"^([^ \t]+)(?:[ \t]+(.*))?$", re.S)


# --------------------------------------------------------------------------
# Arguments


def to_bytes(data: Optional[Payload], what: str = "payload") -> bytes:
    """A payload as bytes (str is encoded as UTF-8; None is empty)."""
    if data is None:
        return b""
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadArgument(f"{what} is not encodable as UTF-8 ({exc.reason}, a lone surrogate?)") from None
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise BadArgument(f"{what} must be bytes or str, not {type(data).__name__}")


def _check_int(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadArgument(f"{what} must be an integer, not {value!r}")
    if not low <= value <= high:
        raise BadArgument(f"{what} must be in {low}..{high}, not {value}")
    return int(value)


def _job_id(value: Any) -> int:
    """A job id: an int, or anything with an integer ``id`` (a Job)."""
    if not isinstance(value, int) and isinstance(getattr(value, "id", None), int):
        value = value.id
    return _check_int(value, "job id", 1, _MAX_ID)


def _with_attempt(line: str, attempt: Optional[int]) -> str:
    """``line`` followed by ``attempt=<n>`` when an attempt is given (n >= 1)."""
    if attempt is None:
        return line
    return f"{line} attempt={_check_int(attempt, 'attempt', 1, _MAX_NUMBER)}"


def format_duration(value: Duration, what: str = "duration") -> str:
    """The wire form of a duration.

    Numbers (and timedeltas) are seconds: whole seconds are written ``<n>s``,
    anything else as milliseconds rounded to the nearest one (``0.25`` ->
    ``250ms``). Strings must already be in the server's syntax and are sent
    unchanged.
    """
    if isinstance(value, str):
        if not _DURATION_RE.match(value):
            raise BadArgument(f"{what} {value!r} is not a duration like 250ms, 30s, 5m, 2h, 1d")
        if duration_seconds(value) * 1000 > _MAX_DURATION_MS:
            raise BadArgument(f"{what} {value!r} is longer than 366 days")
        return value
    if isinstance(value, datetime.timedelta):
        seconds: float = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadArgument(f"{what} must be seconds or a string like '250ms', not {value!r}")
    else:
        seconds = value
    if not math.isfinite(seconds) or seconds < 0:
        raise BadArgument(f"{what} must be a non-negative number of seconds, not {value!r}")
    ms = int(round(seconds * 1000))
    if ms > _MAX_DURATION_MS:
        raise BadArgument(f"{what} {value!r} is longer than 366 days")
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


def _positive_duration(value: Duration, what: str) -> str:
    """A duration that must be longer than zero (a lease, a throttle)."""
    text = format_duration(value, what)
    if duration_seconds(text) <= 0:
        raise BadArgument(f"{what} must be longer than zero")
    return text


_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def duration_seconds(text: str) -> float:
    """Seconds in a duration string of the server's syntax (``"250ms"`` -> 0.25)."""
    match = _DURATION_RE.match(text)
    if match is None:
        raise BadArgument(f"{text!r} is not a duration like 250ms, 30s, 5m, 2h, 1d")
    unit = match.group(1) or ""
    return int(text[: len(text) - len(unit)]) * _UNIT_SECONDS[unit]


def format_backoff(value: str) -> str:
    """Check a backoff policy: ``fixed:<duration>`` or ``exp:<base>[:<cap>]``."""
    if not isinstance(value, str):
        raise BadArgument(f"backoff must be a string like 'fixed:5s' or 'exp:1s:1h', not {value!r}")
    parts = value.split(":")
    ok = (parts[0] == "fixed" and len(parts) == 2) or (parts[0] == "exp" and len(parts) in (2, 3))
    if not ok or not all(_DURATION_RE.match(p) for p in parts[1:]):
        raise BadArgument(f"backoff {value!r} is not fixed:<duration> or exp:<base>[:<cap>]")
    for p in parts[1:]:
        format_duration(p, "backoff")  # at most 366 days
    if parts[0] == "exp":
        base = duration_seconds(parts[1])
        if base <= 0:
            raise BadArgument(f"backoff {value!r}: the base must be longer than zero")
        if len(parts) == 3 and duration_seconds(parts[2]) < base:
            raise BadArgument(f"backoff {value!r}: the cap must not be shorter than the base")
    return value


def fixed(delay: Duration) -> str:
    """Backoff policy: wait ``delay`` before each retry (``backoff=fixed(5)``)."""
    return f"fixed:{format_duration(delay, 'backoff delay')}"


def exponential(base: Duration, cap: Optional[Duration] = None) -> str:
    """Backoff policy: wait base x 2^(attempt-1), at most ``cap`` (server default 1h)."""
    text = f"exp:{format_duration(base, 'backoff base')}"
    if cap is not None:
        text += f":{format_duration(cap, 'backoff cap')}"
    return format_backoff(text)  # a zero base or a cap below it, refused here rather than by ENQ


def _format_fraction(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadArgument(f"{what} must be a number, not {value!r}")
    if not 0 <= value <= 1:
        raise BadArgument(f"{what} must be in 0..1, not {value}")
    text = ("%.6f" % value).rstrip("0").rstrip(".")
    return text or "0"


def _format_at(value: Union[int, float, datetime.datetime]) -> str:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise BadArgument("at= needs a timezone-aware datetime (or unix seconds)")
        seconds: float = value.timestamp()
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadArgument(f"at must be unix seconds or a datetime, not {value!r}")
    elif isinstance(value, float) and not value.is_integer():
        # The wire takes whole seconds; a number is sent as given or refused, never rounded.
        raise BadArgument(f"at is whole unix seconds, not {value!r} (a datetime is rounded up)")
    else:
        seconds = value
    whole = int(math.ceil(seconds))  # a datetime: never earlier than asked
    return str(_check_int(whole, "at (unix seconds)", 0, _MAX_NUMBER))


def _token(value: str, what: str) -> str:
    """A field that must be one token: non-empty, no blanks or control bytes."""
    if not isinstance(value, str) or not value or _FORBIDDEN_IN_TOKEN.search(value):
        raise BadArgument(f"{what} {value!r} must be non-empty without blanks or control characters")
    return value


def check_subject(subject: str, wildcards: bool = False) -> str:
    """Check a subject: tokens separated by ``.``, none empty, no blanks.

    With ``wildcards`` (subscriptions), ``*`` and a last ``>`` are allowed as
    whole tokens; without (publishing), a ``*`` or ``>`` token is refused.
    """
    _token(subject, "subject")
    tokens = subject.split(".")
    for i, tok in enumerate(tokens):
        if not tok:
            raise BadArgument(f"subject {subject!r} has an empty token")
        if tok in ("*", ">"):
            if not wildcards:
                raise BadArgument(f"subject {subject!r} has a wildcard: it cannot be published to")
            if tok == ">" and i != len(tokens) - 1:
                raise BadArgument(f"subject {subject!r}: '>' must be the last token")
    return subject


def check_queue_name(queue: str) -> str:
    """Check a job queue name: 1 to 128 of ``A-Z a-z 0-9 _ -``."""
    if not isinstance(queue, str) or not _QUEUE_RE.match(queue):
        raise BadArgument(f"queue name {queue!r} must be 1 to 128 of A-Z a-z 0-9 _ -")
    return queue


def _enc(text: str) -> bytes:
    """A command line as bytes. ``surrogateescape`` gives back the bytes of
    a subject the parser decoded (a reply subject that was not UTF-8);
    anything else that UTF-8 cannot carry (a lone surrogate such as
    ``"\\ud800"``) is a :class:`BadArgument`."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end] if isinstance(exc.object, str) else ""
        raise BadArgument(f"{bad!r} cannot be encoded as UTF-8 (a lone surrogate?)") from None


def _with_payload(line: str, payload: bytes) -> bytes:
    return b"".join((_enc(line), b" ", str(len(payload)).encode(), CRLF, payload, CRLF))


def _header_items(headers: HeadersArg) -> List[Tuple[str, str]]:
    items: List[Tuple[str, str]] = []
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            if isinstance(value, str):
                items.append((name, value))
            else:
                values = _iterable(value, f"header {name!r} must have a str value (or a list of them), not {value!r}")
                items.extend((name, v) for v in values)
    else:
        for pair in _iterable(headers, f"headers must be a mapping or (name, value) pairs, not {headers!r}"):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise BadArgument(f"headers must be a mapping or (name, value) pairs, not {pair!r} in them")
            items.append((pair[0], pair[1]))
    for name, value in items:
        if not isinstance(name, str) or not name or ":" in name or _FORBIDDEN_IN_TOKEN.search(name):
            raise BadArgument(f"header name {name!r} is not valid")
        if not isinstance(value, str):
            raise BadArgument(f"header {name!r} has a value that is not a str: {value!r}")
        if "\r" in value or "\n" in value:
            raise BadArgument(f"header {name!r} has a value with CR or LF")
    return items


def _iterable(value: Any, refusal: str) -> List[Any]:
    """The items of a list-like argument (not str or bytes); BadArgument
    (``refusal``) for anything else (an int, None, ...)."""
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        raise BadArgument(refusal)
    try:
        return list(value)
    except TypeError:
        raise BadArgument(refusal) from None


def encode_headers(headers: HeadersArg) -> bytes:
    """The header block of an HPUB: ``NATS/1.0\\r\\n<Name>: <Value>\\r\\n...\\r\\n``."""
    lines = [b"NATS/1.0\r\n"]
    for name, value in _header_items(headers):
        lines.append(_enc(f"{name}: {value}") + CRLF)
    lines.append(CRLF)
    return b"".join(lines)


# --------------------------------------------------------------------------
# Encoders: NATS core


def encode_connect(options: Mapping[str, Any]) -> bytes:
    """``CONNECT <json>`` with compact JSON."""
    return b"CONNECT " + json.dumps(dict(options), separators=(",", ":")).encode() + CRLF


def encode_ping() -> bytes:
    """``PING``."""
    return b"PING\r\n"


def encode_cancel() -> bytes:
    """``CANCEL``: ends the wait of the RESERVE sent right before it."""
    return b"CANCEL\r\n"


def encode_pong() -> bytes:
    """``PONG``."""
    return b"PONG\r\n"


def encode_publish(
    subject: str,
    payload: Optional[Payload] = b"",
    reply: Optional[str] = None,
    headers: Optional[HeadersArg] = None,
) -> bytes:
    """``PUB`` (or ``HPUB`` when there are headers)."""
    check_subject(subject)
    data = to_bytes(payload)
    head = subject
    if reply is not None:
        head += " " + check_subject(reply)
    if headers:
        block = encode_headers(headers)
        total = len(block) + len(data)
        return b"".join((_enc(f"HPUB {head} {len(block)} {total}"), CRLF, block, data, CRLF))
    return _with_payload(f"PUB {head}", data)


def encode_subscribe(subject: str, sid: str, queue: Optional[str] = None) -> bytes:
    """``SUB <subject> [queue group] <sid>``."""
    check_subject(subject, wildcards=True)
    _token(sid, "sid")
    if queue is not None:
        return _enc(f"SUB {subject} {_token(queue, 'queue group')} {sid}") + CRLF
    return _enc(f"SUB {subject} {sid}") + CRLF


def encode_unsubscribe(sid: str, max_msgs: Optional[int] = None) -> bytes:
    """``UNSUB <sid> [max messages]``."""
    _token(sid, "sid")
    if max_msgs is None:
        return _enc(f"UNSUB {sid}") + CRLF
    return _enc(f"UNSUB {sid} {_check_int(max_msgs, 'max_msgs', 0, _MAX_NUMBER)}") + CRLF


# --------------------------------------------------------------------------
# Encoders: jobs


def _enqueue_options(
    *,
    delay: Optional[Duration] = None,
    at: Optional[Union[int, float, datetime.datetime]] = None,
    priority: Optional[int] = None,
    attempts: Optional[int] = None,
    backoff: Optional[str] = None,
    jitter: Optional[float] = None,
    lease: Optional[Duration] = None,
    key: Optional[str] = None,
    group: Optional[str] = None,
    ttl: Optional[Duration] = None,
    expires: Optional[Union[int, datetime.datetime]] = None,
    after: Optional[Sequence[Union[int, str]]] = None,
    on_parent_dead: Optional[str] = None,
    key_ttl: Optional[Duration] = None,
    replace: bool = False,
    batch_position: Optional[int] = None,
) -> List[str]:
    """The ENQ (and ROUTE, SCHEDULE) options, in the order delay, at, pri,
    attempts, backoff, jitter, lease, key, group, ttl, expires, after,
    on_parent_dead, key_ttl, replace. ``batch_position``: this ENQ's place
    (1-based) in a BATCH, which lets ``after`` name earlier ones as ``"#n"``."""
    parts: List[str] = []
    if delay is not None and at is not None:
        raise BadArgument("give delay or at, not both")
    if delay is not None:
        parts.append("delay=" + format_duration(delay, "delay"))
    if at is not None:
        parts.append("at=" + _format_at(at))
    if priority is not None:
        parts.append(f"pri={_check_int(priority, 'priority', -1_000_000, 1_000_000)}")
    if attempts is not None:
        parts.append(f"attempts={_check_int(attempts, 'attempts', 1, 1000)}")
    if backoff is not None:
        parts.append("backoff=" + format_backoff(backoff))
    if jitter is not None:
        parts.append("jitter=" + _format_fraction(jitter, "jitter"))
    if lease is not None:
        parts.append("lease=" + _positive_duration(lease, "lease"))
    if key is not None:
        _token(key, "key")
        if len(_enc(key)) > 200:
            raise BadArgument("key must be at most 200 bytes")
        parts.append("key=" + key)
    if group is not None:
        _token(group, "group")
        if len(_enc(group)) > 200:
            raise BadArgument("group must be at most 200 bytes")
        parts.append("group=" + group)
    if ttl is not None and expires is not None:
        raise BadArgument("give ttl or expires, not both")
    if ttl is not None:
        parts.append("ttl=" + _positive_duration(ttl, "ttl"))
    if expires is not None:
        parts.append("expires=" + _format_expires(expires))
    if after is not None:
        parts.append("after=" + _format_parents(after, batch_position))
    if on_parent_dead is not None:
        if after is None:
            raise BadArgument("on_parent_dead goes with after: the jobs whose death it is about")
        if on_parent_dead not in PARENT_DEATH_POLICIES:
            raise BadArgument(f"on_parent_dead must be 'fail' or 'run', not {on_parent_dead!r}")
        parts.append("on_parent_dead=" + on_parent_dead)
    if (key_ttl is not None or replace) and key is None:
        raise BadArgument("key_ttl and replace go with key")
    if key_ttl is not None:
        parts.append("key_ttl=" + _positive_duration(key_ttl, "key_ttl"))
    if replace:
        if replace is not True:
            raise BadArgument(f"replace is True or False, not {replace!r}")
        parts.append("replace=true")
    return parts


#: What a parent's death does to a job enqueued ``after=`` it: it dies too, or runs anyway.
PARENT_DEATH_POLICIES = ("fail", "run")
#: The most parents one job may wait for.
MAX_PARENTS = 100


def _format_parents(after: Sequence[Union[int, str]], batch_position: Optional[int]) -> str:
    """``after=``: 1 to 100 distinct job ids, or (in a BATCH) ``"#n"`` naming
    the n-th job of the same batch, an earlier one."""
    if isinstance(after, (str, bytes)) or not isinstance(after, (list, tuple)):
        raise BadArgument(f"after must be a list of job ids, not {after!r}")
    if not 1 <= len(after) <= MAX_PARENTS:
        raise BadArgument(f"after names 1 to {MAX_PARENTS} jobs, not {len(after)}")
    seen = set()
    texts = []
    for parent in after:
        if isinstance(parent, str) and parent.startswith("#"):
            if batch_position is None:
                raise BadArgument(f"after: {parent} names a job of the same batch, and this enqueue is not in one")
            digits = parent[1:]
            if not digits.isdigit() or not 1 <= int(digits) < batch_position:
                raise BadArgument(f"after: {parent} must name an earlier job of the batch (#1 to #{batch_position - 1})")
            text = "#" + str(int(digits))
        else:
            text = str(_job_id(parent))
        if text in seen:
            raise BadArgument(f"after names {text} twice")
        seen.add(text)
        texts.append(text)
    return ",".join(texts)


def _format_expires(value: Union[int, datetime.datetime]) -> str:
    """``expires=``: unix milliseconds (an int, at most 15 digits) or an
    aware datetime (its millisecond, rounded down)."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise BadArgument("expires= needs a timezone-aware datetime (or unix milliseconds)")
        epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        ms: Any = (value - epoch) // datetime.timedelta(milliseconds=1)
    else:
        ms = value
    if isinstance(ms, bool) or not isinstance(ms, int):
        raise BadArgument(f"expires must be unix milliseconds (an int) or a datetime, not {value!r}")
    return str(_check_int(ms, "expires (unix milliseconds)", 0, _MAX_UNIX_MS))


def encode_enqueue(
    queue: str,
    payload: Optional[Payload] = b"",
    *,
    delay: Optional[Duration] = None,
    at: Optional[Union[int, float, datetime.datetime]] = None,
    priority: Optional[int] = None,
    attempts: Optional[int] = None,
    backoff: Optional[str] = None,
    jitter: Optional[float] = None,
    lease: Optional[Duration] = None,
    key: Optional[str] = None,
    group: Optional[str] = None,
    ttl: Optional[Duration] = None,
    expires: Optional[Union[int, datetime.datetime]] = None,
    after: Optional[Sequence[Union[int, str]]] = None,
    on_parent_dead: Optional[str] = None,
    key_ttl: Optional[Duration] = None,
    replace: bool = False,
    _batch_position: Optional[int] = None,
) -> bytes:
    """``ENQ <queue> [options] <#bytes>``; options in the order delay, at,
    pri, attempts, backoff, jitter, lease, key, group, ttl, expires, after,
    on_parent_dead, key_ttl, replace.

    ``after`` (job ids): the job is ``blocked`` until every one of them has
    completed; ``on_parent_dead`` (``"fail"``, the server's default, or
    ``"run"``): what one of them dying does to it. ``key_ttl`` (with
    ``key``): remember the key at least that long; ``replace=True`` (with
    ``key``): a duplicate of a job still waiting or delayed gives it this
    payload and run time (debounce).

    ``ttl`` (a duration longer than zero) or ``expires`` (unix milliseconds,
    or an aware datetime; not both): a job not started by then is not run
    but made dead."""
    parts = ["ENQ", check_queue_name(queue)]
    parts += _enqueue_options(
        delay=delay, at=at, priority=priority, attempts=attempts, backoff=backoff,
        jitter=jitter, lease=lease, key=key, group=group, ttl=ttl, expires=expires, after=after,
        on_parent_dead=on_parent_dead, key_ttl=key_ttl, replace=replace, batch_position=_batch_position,
    )
    return _with_payload(" ".join(parts), to_bytes(payload))


#: The most jobs one BATCH may hold is the server's ``--max-batch`` (1000 by default).
def encode_batch(jobs: Sequence[Mapping[str, Any]]) -> bytes:
    """``BATCH <count>`` and then each job's ENQ, as :func:`encode_enqueue`
    writes it: all enqueued in one commit, or none. Each job is a mapping of
    ``encode_enqueue``'s arguments (``queue``, ``payload``, options); its
    ``after`` may name an earlier job of the batch as ``"#n"`` (``"#1"`` is
    the first). Anything one ENQ would refuse refuses the whole batch here,
    before anything is sent."""
    if isinstance(jobs, (str, bytes)) or not isinstance(jobs, Sequence):
        raise BadArgument("batch takes a list of jobs")
    if not jobs:
        raise BadArgument("a batch needs at least one job")
    out = [_enc(f"BATCH {len(jobs)}") + CRLF]
    for position, job in enumerate(jobs, start=1):
        if not isinstance(job, Mapping) or "queue" not in job:
            raise BadArgument(f"batch job {position} must be a mapping with a queue")
        options = dict(job)
        queue = options.pop("queue")
        payload = options.pop("payload", b"")
        try:
            out.append(encode_enqueue(queue, payload, _batch_position=position, **options))
        except TypeError as exc:
            raise BadArgument(f"batch job {position}: {exc}") from None
        except BadArgument as exc:
            raise BadArgument(f"batch job {position}: {exc}") from None
    return b"".join(out)


def encode_parents(job_id: Any) -> bytes:
    """``PARENTS <id>``: the jobs it was enqueued ``after=``, with their outcomes."""
    return _enc(f"PARENTS {_job_id(job_id)}") + CRLF


def encode_children(job_id: Any, after: Any = None, limit: Optional[int] = None) -> bytes:
    """``CHILDREN <id> [after=<id>] [limit=<n>]``: one page of the jobs
    enqueued ``after=`` it, by id (server default limit 1000)."""
    line = f"CHILDREN {_job_id(job_id)}"
    if after is not None:
        line += f" after={_job_id(after)}"
    if limit is not None:
        line += f" limit={_check_int(limit, 'limit', 1, _MAX_LIST_LIMIT)}"
    return _enc(line) + CRLF


def queue_names(queues: Union[str, Iterable[str]], who: str) -> List[str]:
    """``queues``, one name or an iterable of them, as a list of checked
    names; BadArgument for anything else (None, a number), or none."""
    if isinstance(queues, str):
        names = [queues]
    elif isinstance(queues, (Mapping, AbstractSet, bytes, bytearray)):
        # A dict's keys or a set's members have no order the caller chose, and the order
        # is the priority: the first listed queue that has a job gives it. Bytes would be
        # read as a list of numbers.
        raise BadArgument(f"{who} takes a queue name or a list of them in priority order, not a {type(queues).__name__}")
    else:
        try:
            names = list(queues)
        except TypeError:
            raise BadArgument(f"{who} takes a queue name or a list of them, not {queues!r}") from None
    if not names:
        raise BadArgument(f"{who} needs at least one queue")
    return [check_queue_name(q) for q in names]


def encode_reserve(queues: Union[str, Iterable[str]], timeout: Optional[Duration] = None) -> bytes:
    """``RESERVE <queue>[,<queue>...] [timeout=<duration>]``."""
    line = "RESERVE " + ",".join(queue_names(queues, "reserve"))
    if timeout is not None:
        line += " timeout=" + format_duration(timeout, "timeout")
    return _enc(line) + CRLF


def encode_ack(job_id: Any, result: Optional[Payload] = None, *, attempt: Optional[int] = None) -> bytes:
    """``ACK <id> [attempt=<n>] [<#bytes>\\r\\n<result>]``.

    ``attempt`` (the attempt the worker holds) fences the command: the
    server refuses it with ``NOT_HELD`` when the job has moved on to
    another attempt since. The same holds for FAIL, PROGRESS and TOUCH.
    """
    line = _with_attempt(f"ACK {_job_id(job_id)}", attempt)
    if result is None:
        return _enc(line) + CRLF
    return _with_payload(line, to_bytes(result, "result"))


def _retry_option(retry: Union[None, bool, Duration]) -> Optional[str]:
    if retry is None or retry is True:
        return None
    if retry is False or retry == "no":
        return "retry=no"
    return "retry=" + format_duration(retry, "retry")


def encode_fail(
    job_id: Any,
    reason: Optional[Payload] = None,
    retry: Union[None, bool, Duration] = None,
    *,
    attempt: Optional[int] = None,
    throttle: Optional[Duration] = None,
    scope: Optional[str] = None,
) -> bytes:
    """``FAIL <id> [attempt=<n>] [retry=<duration>|retry=no] [<#bytes>\\r\\n<reason>]``,
    or with ``throttle``: ``FAIL <id> [attempt=<n>] throttle=<duration> [scope=queue|group]``.

    ``retry``: None (or True) follows the job's backoff, False means
    ``retry=no`` (dead at once), a duration retries after that long.
    ``throttle`` holds the queue (or, with ``scope="group"``, the job's
    group) for that long and puts the job back without using an attempt;
    it does not go with ``retry``.
    """
    line = _with_attempt(f"FAIL {_job_id(job_id)}", attempt)
    if throttle is not None:
        if retry is not None and retry is not True:
            raise BadArgument("give retry or throttle, not both")
        line += " throttle=" + _positive_duration(throttle, "throttle")
        if scope is not None:
            if scope not in ("queue", "group"):
                raise BadArgument(f"scope must be 'queue' or 'group', not {scope!r}")
            line += " scope=" + scope
    else:
        if scope is not None:
            raise BadArgument("scope= goes only with throttle=")
        option = _retry_option(retry)
        if option:
            line += " " + option
    if reason is None:
        return _enc(line) + CRLF
    return _with_payload(line, to_bytes(reason, "reason"))


def encode_progress(
    job_id: Any, percent: int, note: Optional[Payload] = None, *, attempt: Optional[int] = None
) -> bytes:
    """``PROGRESS <id> <0-100> [attempt=<n>] [<#bytes>\\r\\n<note>]``."""
    line = _with_attempt(f"PROGRESS {_job_id(job_id)} {_check_int(percent, 'percent', 0, 100)}", attempt)
    if note is None:
        return _enc(line) + CRLF
    return _with_payload(line, to_bytes(note, "note"))


def encode_touch(job_id: Any, *, attempt: Optional[int] = None) -> bytes:
    """``TOUCH <id> [attempt=<n>]``."""
    return _enc(_with_attempt(f"TOUCH {_job_id(job_id)}", attempt)) + CRLF


def encode_inspect(job_id: Any) -> bytes:
    """``INSPECT <id>``."""
    return _enc(f"INSPECT {_job_id(job_id)}") + CRLF


def encode_dead(queue: str, limit: Optional[int] = None) -> bytes:
    """``DEAD <queue> [limit=<n>]``."""
    line = f"DEAD {check_queue_name(queue)}"
    if limit is not None:
        line += f" limit={_check_int(limit, 'limit', 1, _MAX_NUMBER)}"
    return _enc(line) + CRLF


def encode_retry(job_id: Any) -> bytes:
    """``RETRY <id>``."""
    return _enc(f"RETRY {_job_id(job_id)}") + CRLF


def encode_retry_queue(queue: str) -> bytes:
    """``RETRY queue=<queue>``."""
    return _enc(f"RETRY queue={check_queue_name(queue)}") + CRLF


def encode_delete(job_id: Any) -> bytes:
    """``DEL <id>``."""
    return _enc(f"DEL {_job_id(job_id)}") + CRLF


#: The settings of ``QUEUE <queue> <setting>=<value> ...``, in wire order.
QUEUE_SETTINGS = (
    "rate", "group_rate", "concurrency", "attempts", "backoff", "jitter", "lease",
    "keep_completed", "keep_dead",
)

#: The value that returns a queue setting to its default.
NONE = "none"


def _format_rate(value: Any, what: str) -> str:
    """``"100/1s"`` (``"100/s"``, ``"5/250ms"``) as it is, or ``(100, 1)`` /
    ``(100, "1s")`` as ``100/1s``: 1 to 1000000 starts per window, the window
    longer than zero and at most 366 days."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        count = _check_int(value[0], f"{what} count", 1, _MAX_RATE)
        return f"{count}/{_positive_duration(value[1], what + ' window')}"
    if isinstance(value, str):
        match = _RATE_RE.match(value)
        if match is None or (not match.group(2) and not match.group(3)):
            raise BadArgument(f"{what} {value!r} must be <n>/<duration>, as in '100/1s', '100/s' or '5/250ms'")
        _check_int(int(match.group(1)), f"{what} count", 1, _MAX_RATE)
        _positive_duration((match.group(2) or "1") + (match.group(3) or ""), what + " window")
        return value
    raise BadArgument(f"{what} must be '<n>/<duration>' or (n, duration), not {value!r}")


def _format_setting(name: str, value: Any) -> str:
    if isinstance(value, str) and value == NONE:
        return NONE
    if name in ("rate", "group_rate"):
        return _format_rate(value, name)
    if name == "concurrency":
        return str(_check_int(value, name, 1, _MAX_CONCURRENCY))
    if name == "attempts":
        return str(_check_int(value, name, 1, 1000))
    if name == "backoff":
        return format_backoff(value)
    if name == "jitter":
        return _format_fraction(value, name)
    if name == "lease":
        return _positive_duration(value, name)
    return str(_check_int(value, name, 0, _MAX_NUMBER))  # keep_completed, keep_dead


def encode_queue(queue: str) -> bytes:
    """``QUEUE <queue>``: the queue document."""
    return _enc(f"QUEUE {check_queue_name(queue)}") + CRLF


def encode_set_queue(queue: str, **settings: Any) -> bytes:
    """``QUEUE <queue> <setting>=<value> ...`` for every setting that is not
    None, in the order of :data:`QUEUE_SETTINGS`; the string ``"none"``
    returns a setting to its default."""
    unknown = sorted(set(settings) - set(QUEUE_SETTINGS))
    if unknown:
        raise BadArgument(f"unknown queue setting(s): {', '.join(unknown)}")
    parts = [f"QUEUE {check_queue_name(queue)}"]
    for name in QUEUE_SETTINGS:
        value = settings.get(name)
        if value is not None:
            parts.append(f"{name}={_format_setting(name, value)}")
    if len(parts) == 1:
        raise BadArgument("set_queue needs at least one setting")
    return _enc(" ".join(parts)) + CRLF


def encode_pause(queue: str) -> bytes:
    """``PAUSE <queue>``."""
    return _enc(f"PAUSE {check_queue_name(queue)}") + CRLF


def encode_resume(queue: str) -> bytes:
    """``RESUME <queue>``."""
    return _enc(f"RESUME {check_queue_name(queue)}") + CRLF


def encode_queues(after: Optional[str] = None, limit: Optional[int] = None) -> bytes:
    """``QUEUES [after=<name>] [limit=<n>]``: one page of the queues, by
    name (server default limit 1000), those named after ``after``."""
    return _encode_name_page("QUEUES", after, limit)


def encode_stats() -> bytes:
    """``STATS``."""
    return b"STATS\r\n"


def encode_route(
    pattern: str,
    queue: str,
    *,
    delay: Optional[Duration] = None,
    priority: Optional[int] = None,
    attempts: Optional[int] = None,
    backoff: Optional[str] = None,
    jitter: Optional[float] = None,
    lease: Optional[Duration] = None,
    group: Optional[str] = None,
    ttl: Optional[Duration] = None,
    key: Optional[str] = None,
    at: Optional[Any] = None,
    expires: Optional[Any] = None,
    after: Optional[Any] = None,
) -> bytes:
    """``ROUTE <subject pattern> <queue> [option=value ...]`` with the ENQ
    options. ``key``, ``at``, ``expires`` and ``after`` are refused
    (:class:`BadArgument`): each message makes a new job, so a route cannot
    fix them (``ttl`` counts from each job's ENQ)."""
    if key is not None or at is not None or expires is not None:
        raise BadArgument("a route cannot fix key, at or expires: each message makes a new job")
    if after is not None:
        raise BadArgument("a route cannot wait for jobs (after=): each message makes a new job")
    check_subject(pattern, wildcards=True)
    if pattern.startswith("$"):
        raise BadArgument(f"reserved subjects ($...) cannot be routed: {pattern!r}")
    parts = ["ROUTE", pattern, check_queue_name(queue)]
    parts += _enqueue_options(
        delay=delay, priority=priority, attempts=attempts, backoff=backoff, jitter=jitter, lease=lease, group=group,
        ttl=ttl,
    )
    return _enc(" ".join(parts)) + CRLF


def encode_unroute(route_id: Any) -> bytes:
    """``UNROUTE <route-id>``."""
    return _enc(f"UNROUTE {_job_id(route_id)}") + CRLF


def encode_routes(after: Any = None, limit: Optional[int] = None) -> bytes:
    """``ROUTES [after=<route-id>] [limit=<n>]``: one page of the routes, by
    id (server default limit 1000), those whose id is above ``after``."""
    line = "ROUTES"
    if after is not None:
        line += f" after={_job_id(after)}"
    if limit is not None:
        line += f" limit={_check_int(limit, 'limit', 1, _MAX_LIST_LIMIT)}"
    return _enc(line) + CRLF


# --------------------------------------------------------------------------
# Encoders: browsing, bulk repair and schedules

#: The states ``PURGE`` takes (never ``active``: workers hold those jobs).
PURGE_STATES = ("waiting", "delayed", "blocked", "completed", "dead")
#: The ``catchup=`` values of ``SCHEDULE``.
CATCHUP_MODES = ("none", "one", "all")
_CRON_FORBIDDEN = re.compile(r'["\x00-\x08\x0a-\x1f\x7f]')


def _job_state(state: str, what: str = "state") -> str:
    if not isinstance(state, str) or state not in JOB_STATES:
        raise BadArgument(f"{what} must be one of waiting, delayed, blocked, active, completed, dead, not {state!r}")
    return state


def encode_list(
    queue: str, state: Optional[str] = None, after: Optional[str] = None, limit: Optional[int] = None
) -> bytes:
    """``LIST <queue> [state=<state>] [after=<cursor>] [limit=<n>]``: one
    page of the queue's jobs in one state (server default ``waiting``,
    limit 100). ``after`` is the ``next`` cursor of the page before, sent
    exactly as the server gave it."""
    line = f"LIST {check_queue_name(queue)}"
    if state is not None:
        line += " state=" + _job_state(state)
    if after is not None:
        line += " after=" + _token(after, "LIST cursor (after)")
    if limit is not None:
        line += f" limit={_check_int(limit, 'limit', 1, _MAX_LIST_LIMIT)}"
    return _enc(line) + CRLF


def encode_purge(queue: str, state: Optional[str], older: Optional[Duration] = None) -> bytes:
    """``PURGE <queue> state=<state> [older=<duration>]``: deletes the
    queue's jobs in ``state`` (``waiting``, ``delayed``, ``blocked``,
    ``completed`` or ``dead``; never ``active``), with ``older`` only those that entered it
    longer ago than that."""
    check_queue_name(queue)
    if state is None:
        raise BadArgument("purge needs a state: waiting, delayed, blocked, completed or dead")
    if state == "active":
        raise BadArgument("active jobs are held by workers and are never purged (delete them one by one)")
    if state not in PURGE_STATES:
        raise BadArgument(f"purge state must be one of waiting, delayed, blocked, completed, dead, not {state!r}")
    line = f"PURGE {queue} state={state}"
    if older is not None:
        line += " older=" + format_duration(older, "older")
    return _enc(line) + CRLF


def encode_promote(job_id: Any) -> bytes:
    """``PROMOTE <id>``: a delayed job waits from now on."""
    return _enc(f"PROMOTE {_job_id(job_id)}") + CRLF


def check_schedule_name(name: str) -> str:
    """Check a schedule name: spelled like a queue name."""
    if not isinstance(name, str) or not _QUEUE_RE.match(name):
        raise BadArgument(f"schedule name {name!r} must be 1 to 128 of A-Z a-z 0-9 _ -")
    return name


def encode_schedule(
    name: str,
    queue: str,
    payload: Optional[Payload] = b"",
    *,
    cron: Optional[str] = None,
    every: Optional[Duration] = None,
    tz: Optional[str] = None,
    catchup: Optional[str] = None,
    priority: Optional[int] = None,
    attempts: Optional[int] = None,
    backoff: Optional[str] = None,
    jitter: Optional[float] = None,
    lease: Optional[Duration] = None,
    group: Optional[str] = None,
    ttl: Optional[Duration] = None,
    key: Optional[str] = None,
    at: Optional[Any] = None,
    delay: Optional[Any] = None,
    expires: Optional[Any] = None,
) -> bytes:
    """``SCHEDULE <name> <queue> cron="…"|every=<d> [tz=] [catchup=] [ENQ
    options] <#bytes>``: creates or replaces the schedule ``name``.

    Exactly one of ``cron`` (5 or 6 fields, read in ``tz``, default UTC)
    and ``every`` (a duration of at least 1s; no ``tz``). ``catchup`` is
    ``none``, ``one`` (the server's default) or ``all``. ``key``, ``at``,
    ``delay`` and ``expires`` are refused (:class:`BadArgument`): each
    tick's job is keyed ``<name>@<tick>`` and its ticks say when."""
    for option, value in (("key", key), ("at", at), ("delay", delay), ("expires", expires)):
        if value is not None:
            raise BadArgument(f"a schedule cannot fix {option}=: each tick makes a new job, keyed <name>@<tick>")
    parts = ["SCHEDULE", check_schedule_name(name), check_queue_name(queue)]
    if (cron is None) == (every is None):
        raise BadArgument("a schedule needs exactly one of cron and every")
    if cron is not None:
        if not isinstance(cron, str) or not cron.strip(" \t") or _CRON_FORBIDDEN.search(cron):
            raise BadArgument(f"cron {cron!r} must be a non-empty expression without double quotes or line ends")
        parts.append(f'cron="{cron}"')
        if tz is not None:
            parts.append("tz=" + _token(tz, "tz"))
    else:
        assert every is not None
        if tz is not None:
            raise BadArgument("tz= goes only with cron=")
        text = format_duration(every, "every")
        if duration_seconds(text) < 1:
            raise BadArgument(f"every must be at least 1s, not {every!r}")
        parts.append("every=" + text)
    if catchup is not None:
        if catchup not in CATCHUP_MODES:
            raise BadArgument(f"catchup must be none, one or all, not {catchup!r}")
        parts.append("catchup=" + catchup)
    parts += _enqueue_options(
        priority=priority, attempts=attempts, backoff=backoff, jitter=jitter, lease=lease, group=group, ttl=ttl
    )
    return _with_payload(" ".join(parts), to_bytes(payload))


def encode_unschedule(name: str) -> bytes:
    """``UNSCHEDULE <name>``."""
    return _enc(f"UNSCHEDULE {check_schedule_name(name)}") + CRLF


def encode_schedules(after: Optional[str] = None, limit: Optional[int] = None) -> bytes:
    """``SCHEDULES [after=<name>] [limit=<n>]``: one page of the schedules,
    by name (server default limit 100), those named after ``after``."""
    return _encode_name_page("SCHEDULES", after, limit)


def _encode_name_page(verb: str, after: Optional[str], limit: Optional[int]) -> bytes:
    """A listing by name, one page: ``<verb> [after=<name>] [limit=<n>]``."""
    line = verb
    if after is not None:
        line += " after=" + check_schedule_name(after)
    if limit is not None:
        line += f" limit={_check_int(limit, 'limit', 1, _MAX_LIST_LIMIT)}"
    return _enc(line) + CRLF


def encode_pause_schedule(name: str) -> bytes:
    """``PAUSE schedule=<name>``: its ticks are skipped until resumed."""
    return _enc(f"PAUSE schedule={check_schedule_name(name)}") + CRLF


def encode_resume_schedule(name: str) -> bytes:
    """``RESUME schedule=<name>``."""
    return _enc(f"RESUME schedule={check_schedule_name(name)}") + CRLF


def encode_help() -> bytes:
    """``HELP``."""
    return b"HELP\r\n"


def encode_wait(job_id: Any, timeout: Optional[Duration] = None) -> bytes:
    """``WAIT <id> [timeout=<duration>]``: the job's outcome (``OUTCOME``),
    or ``PENDING`` when the timeout passes first."""
    line = f"WAIT {_job_id(job_id)}"
    if timeout is not None:
        line += " timeout=" + format_duration(timeout, "timeout")
    return _enc(line) + CRLF


def parse_routed_reply(data: bytes) -> List[int]:
    """The job ids of the message a route publishes to a PUB's reply
    subject once its jobs are on disk: ``{"jobs":[<id>,...]}``. A refusal
    (``{"jobs":[],"error":{"code":"STORE_FULL","message":"..."}}``) raises
    the matching :class:`~docketd_client.DocketError`; anything else is a
    :class:`ProtocolError`."""
    try:
        doc = _jsontext.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise ProtocolError(f"routed-jobs reply is not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("jobs"), list):
        raise ProtocolError("routed-jobs reply has no jobs array")
    error = doc.get("error")
    if error is not None:
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            raise ProtocolError("routed-jobs reply has a malformed error")
        raise job_error(error["code"], str(error.get("message") or ""))
    ids = doc["jobs"]
    if not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i <= _MAX_ID for i in ids):
        raise ProtocolError("routed-jobs reply has an id that is not a positive integer")
    return list(ids)


def is_routed_reply(data: bytes) -> bool:
    """True when a message body looks like a route's ``{"jobs":[...]}``."""
    if not data.startswith(b"{"):
        return False
    try:
        doc = _jsontext.loads(data.decode("utf-8"))
    except ValueError:  # malformed or nested too deeply: a peer's answer, not the route's
        return False
    return isinstance(doc, dict) and isinstance(doc.get("jobs"), list)


# --------------------------------------------------------------------------
# Server operations


@dataclass(frozen=True)
class Info:
    """``INFO <json>``."""

    data: Dict[str, Any]


@dataclass(frozen=True)
class MsgOp:
    """``MSG`` or ``HMSG``; ``header_items`` is None for MSG."""

    subject: str
    sid: str
    reply: Optional[str]
    payload: bytes
    header_items: Optional[List[Tuple[str, str]]] = None
    status: Optional[int] = None
    description: Optional[str] = None


@dataclass(frozen=True)
class Ping:
    """``PING``: the server checks that the client is alive."""


@dataclass(frozen=True)
class Pong:
    """``PONG``: the reply to the client's PING."""


@dataclass(frozen=True)
class Ok:
    """``+OK [args]``; ``args`` is the rest of the line (blanks normalised)."""

    args: str = ""


@dataclass(frozen=True)
class Err:
    """``-ERR '<text>'``; ``text`` is without the quotes."""

    text: str


@dataclass(frozen=True)
class JobOp:
    """``JOB <id> <queue> <attempt> [name=value ...] <#bytes>``; ``lease_ms``
    and ``delivery`` come from the ``lease=`` and ``delivery=`` fields (None
    when absent), other fields are ignored."""

    id: int
    queue: str
    attempt: int
    payload: bytes
    lease_ms: Optional[int] = None
    delivery: Optional[int] = None


@dataclass(frozen=True)
class NoJob:
    """``NOJOB``: RESERVE timed out."""


@dataclass(frozen=True)
class OutcomeOp:
    """``OUTCOME <id> completed|dead <#bytes>``: WAIT's answer, with the
    result (completed) or the last error (dead)."""

    id: int
    state: str
    payload: bytes


@dataclass(frozen=True)
class PendingOp:
    """``PENDING <id> <state>``: WAIT timed out, the job is in ``state``."""

    id: int
    state: str


@dataclass(frozen=True)
class JsonOp:
    """``JSON <#bytes>`` and the parsed document."""

    value: Any


@dataclass(frozen=True)
class HelpOp:
    """``HELP <#bytes>`` and the text."""

    text: str


Op = Union[Info, MsgOp, Ping, Pong, Ok, Err, JobOp, NoJob, JsonOp, HelpOp, OutcomeOp, PendingOp]

#: Ops that are replies to a client command (everything but INFO, MSG/HMSG, PING).
REPLY_OPS = (Pong, Ok, Err, JobOp, NoJob, JsonOp, HelpOp, OutcomeOp, PendingOp)

#: The states a job can be in (INSPECT ``state``, ``PENDING``).
JOB_STATES = frozenset({"waiting", "delayed", "blocked", "active", "completed", "dead"})


#: Frames that carry a message or a job's bytes, which ``max_payload`` bounds.
_MESSAGE_FRAMES = frozenset({"MSG", "HMSG", "JOB", "OUTCOME"})


def _number(text: str, what: str) -> int:
    if not _NUMBER_RE.match(text):
        raise ProtocolError(f"{what} {text!r} is not an unsigned decimal number of at most 10 digits")
    return int(text)


def _id(text: str, what: str) -> int:
    """A job or route id: a positive decimal of at most 19 digits."""
    if not _ID_RE.match(text) or int(text) == 0:
        raise ProtocolError(f"{what} {text!r} is not a positive decimal number of at most 19 digits")
    return int(text)


def _u64(text: str, what: str) -> int:
    if not _U64_RE.match(text) or int(text) > _MAX_U64:
        raise ProtocolError(f"{what} {text!r} is not an unsigned 64-bit decimal number")
    return int(text)


#: The ``name=value`` fields of a JOB line that the client reads.
_JOB_FIELDS = {"lease": "lease_ms", "delivery": "delivery"}


def _job_fields(fields: Sequence[str]) -> Dict[str, int]:
    """The known ``name=value`` fields between a JOB's attempt and its size.

    Unknown names are ignored (later servers add fields); a field without
    ``=``, without a name, a repeated known field, or a known one whose
    value is not a number is a protocol error.
    """
    out: Dict[str, int] = {}
    for field in fields:
        name, sep, value = field.partition("=")
        if not sep or not name:
            raise ProtocolError(f"JOB field {field!r} is not name=value")
        key = _JOB_FIELDS.get(name)
        if key is None:
            continue
        if key in out:
            raise ProtocolError(f"JOB field {name}= is repeated")
        out[key] = _u64(value, f"JOB {name}=")
    return out


def _parse_header_block(block: bytes) -> Tuple[List[Tuple[str, str]], Optional[int], Optional[str]]:
    if not block.startswith(b"NATS/1.0"):
        raise ProtocolError("header block does not start with NATS/1.0")
    if not block.endswith(b"\r\n\r\n"):
        raise ProtocolError("header block does not end with an empty line")
    lines = block[:-4].split(b"\r\n")
    first = lines[0].decode("utf-8", "surrogateescape")
    status: Optional[int] = None
    description: Optional[str] = None
    rest = first[len("NATS/1.0"):]
    if rest:
        if rest[0] not in " \t":
            raise ProtocolError(f"bad header version line {first!r}")
        fields = rest.strip(" \t").split(None, 1)
        if fields:
            if not re.match(r"^[0-9]{3}$", fields[0]):
                raise ProtocolError(f"bad status in header version line {first!r}")
            status = int(fields[0])
            if len(fields) > 1:
                description = fields[1].strip()
    items: List[Tuple[str, str]] = []
    for raw in lines[1:]:
        line = raw.decode("utf-8", "surrogateescape")
        if "\r" in line or "\n" in line:
            raise ProtocolError("bare CR or LF in a header line")
        name, sep, value = line.partition(":")
        if not sep or not name or _FORBIDDEN_IN_TOKEN.search(name):
            raise ProtocolError(f"bad header line {line!r}")
        items.append((name, value.strip(" \t")))
    return items, status, description


#: What a message-like frame (MSG/HMSG, JOB, OUTCOME) may carry beyond the
#: ``max_payload`` of INFO: the headers a server adds to what it relays
#: (status lines, ``Docket-*`` headers of ``$DOCKET.API`` answers), a reason
#: prefix (``stalled: ...``), with plenty to spare.
FRAME_HEADROOM = 64 * 1024


class Parser:
    """Incremental parser of the server's byte stream.

    ``feed(data)`` adds bytes; ``next_op()`` returns the next complete
    operation, or None when more bytes are needed. Anything the protocol
    does not allow raises :class:`ProtocolError` (after which the stream
    cannot be trusted). Strict on purpose: the server always ends lines
    with CRLF, quotes error texts, and sends only the ops of PROTOCOL.md.

    Sizes are checked on the control line, before any payload byte is
    buffered: nothing may announce more than ``max_size`` bytes, and once
    an INFO has given ``max_payload``, a MSG, HMSG, JOB or OUTCOME may not
    announce more than that plus :data:`FRAME_HEADROOM`. (Documents, JSON
    and HELP, are bounded by ``max_size`` only: a LIST page holds many
    jobs.) So a server cannot make the client buffer a message larger than
    the server itself would take.
    """

    def __init__(self, max_control_line: int = 65536, max_size: int = 1 << 28) -> None:
        self.max_control_line = max_control_line
        self.max_size = max_size
        #: The most a message-like frame may announce (from INFO; None: ``max_size``).
        self.max_message: Optional[int] = None
        self._buf = bytearray()
        self._pos = 0
        # (op name, fields, payload size, header size) of a control line
        # whose payload has not fully arrived yet
        self._awaiting: Optional[Tuple[str, List[str], int, int]] = None

    def feed(self, data: bytes) -> None:
        """Add received bytes."""
        self._buf += data

    def parse(self, data: bytes) -> List[Op]:
        """``feed(data)`` and return every operation now complete."""
        self.feed(data)
        ops: List[Op] = []
        while True:
            op = self.next_op()
            if op is None:
                return ops
            ops.append(op)

    def peek(self) -> List[Op]:
        """The complete operations buffered, left in place (parsed from a
        copy, so only for the few bytes that end a handshake)."""
        copy = Parser(self.max_control_line, self.max_size)
        copy.max_message = self.max_message
        copy._awaiting = self._awaiting
        copy.feed(bytes(self._buf[self._pos :]))
        return copy.parse(b"")

    @property
    def buffered(self) -> int:
        """Bytes received but not yet parsed into an operation."""
        return len(self._buf) - self._pos

    def next_op(self) -> Optional[Op]:
        """The next complete operation, or None."""
        op = self._next()
        if op is None and self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        return op

    def _next(self) -> Optional[Op]:
        buf = self._buf
        if self._awaiting is not None:
            name, fields, size, hsize = self._awaiting
            start = self._pos
            if len(buf) - start < size + 2:
                return None
            if buf[start + size : start + size + 2] != CRLF:
                raise ProtocolError(f"{name} payload of {size} bytes is not followed by CRLF")
            payload = bytes(buf[start : start + size])
            self._pos = start + size + 2
            self._awaiting = None
            return self._with_payload(name, fields, payload, hsize)

        nl = buf.find(b"\n", self._pos)
        if nl < 0:
            if len(buf) - self._pos > self.max_control_line + 1:
                raise ProtocolError("control line too long")
            return None
        if nl == self._pos or buf[nl - 1] != 13:
            raise ProtocolError("control line not terminated by CRLF")
        raw = bytes(buf[self._pos : nl - 1])
        self._pos = nl + 1
        if len(raw) > self.max_control_line:
            raise ProtocolError("control line too long")
        if b"\r" in raw:
            raise ProtocolError("bare CR in a control line")
        line = raw.decode("utf-8", "surrogateescape")
        stripped = line.strip(" \t")
        if not stripped:
            raise ProtocolError("empty control line")
        match = _OP_RE.match(stripped)
        assert match is not None
        name = match.group(1).upper()
        rest = (match.group(2) or "").strip(" \t")
        fields = _BLANKS_RE.split(rest) if rest else []

        if name == "MSG":
            if len(fields) not in (3, 4):
                raise ProtocolError(f"MSG needs 3 or 4 fields, got {len(fields)}")
            return self._await(name, fields, _number(fields[-1], "MSG size"), 0)
        if name == "HMSG":
            if len(fields) not in (4, 5):
                raise ProtocolError(f"HMSG needs 4 or 5 fields, got {len(fields)}")
            hsize = _number(fields[-2], "HMSG header size")
            total = _number(fields[-1], "HMSG total size")
            if hsize > total:
                raise ProtocolError("HMSG header size above total size")
            return self._await(name, fields, total, hsize)
        if name == "JOB":
            if len(fields) < 4:
                raise ProtocolError(f"JOB needs at least 4 fields, got {len(fields)}")
            _id(fields[0], "job id")
            _number(fields[2], "attempt")
            _job_fields(fields[3:-1])
            return self._await(name, fields, _number(fields[-1], "JOB size"), 0)
        if name == "OUTCOME":
            if len(fields) != 3:
                raise ProtocolError(f"OUTCOME needs 3 fields, got {len(fields)}")
            _id(fields[0], "job id")
            if fields[1] not in ("completed", "dead"):
                raise ProtocolError(f"OUTCOME state {fields[1][:32]!r} is not completed or dead")
            return self._await(name, fields, _number(fields[2], "OUTCOME size"), 0)
        if name == "PENDING":
            if len(fields) != 2:
                raise ProtocolError(f"PENDING needs 2 fields, got {len(fields)}")
            # A later server may add job states: any lower-case word passes.
            if not _STATE_RE.match(fields[1]):
                raise ProtocolError(f"PENDING state {fields[1][:32]!r} is not a lower-case word")
            return PendingOp(_id(fields[0], "job id"), fields[1])
        if name in ("JSON", "HELP"):
            if len(fields) != 1:
                raise ProtocolError(f"{name} needs 1 field, got {len(fields)}")
            return self._await(name, fields, _number(fields[0], f"{name} size"), 0)
        if name in ("PING", "PONG", "NOJOB"):
            if fields:
                raise ProtocolError(f"{name} takes no arguments")
            if name == "PING":
                return Ping()
            return Pong() if name == "PONG" else NoJob()
        if name == "+OK":
            return Ok(" ".join(fields))
        if name == "-ERR":
            if len(rest) < 2 or rest[0] != "'" or rest[-1] != "'":
                raise ProtocolError(f"-ERR text is not in single quotes: {rest!r}")
            return Err(rest[1:-1])
        if name == "INFO":
            try:
                data = _jsontext.loads(rest)
            except ValueError as exc:
                raise ProtocolError(f"INFO is not JSON: {exc}") from None
            if not isinstance(data, dict):
                raise ProtocolError("INFO is not a JSON object")
            self._limit_messages(data.get("max_payload"))
            return Info(data)
        raise ProtocolError(f"unknown operation {name[:32]!r}")

    def _limit_messages(self, max_payload: Any) -> None:
        """Bound message-like frames by an INFO's ``max_payload`` (ignored
        when it is not a positive integer)."""
        if isinstance(max_payload, int) and not isinstance(max_payload, bool) and max_payload > 0:
            self.max_message = max_payload + FRAME_HEADROOM

    def _await(self, name: str, fields: List[str], size: int, hsize: int) -> Optional[Op]:
        if size > self.max_size:
            raise ProtocolError(f"{name} announces {size} bytes, above the client's limit")
        if self.max_message is not None and name in _MESSAGE_FRAMES and size > self.max_message:
            raise ProtocolError(
                f"{name} announces {size} bytes, above the server's max_payload"
                f" ({self.max_message - FRAME_HEADROOM} bytes)"
            )
        self._awaiting = (name, fields, size, hsize)
        return self._next()

    @staticmethod
    def _with_payload(name: str, fields: List[str], payload: bytes, hsize: int) -> Op:
        if name == "MSG":
            reply = fields[2] if len(fields) == 4 else None
            return MsgOp(fields[0], fields[1], reply, payload)
        if name == "HMSG":
            reply = fields[2] if len(fields) == 5 else None
            try:
                items, status, description = _parse_header_block(payload[:hsize])
            except ProtocolError:
                # The block is the publisher's, passed on as is (nats-server does the same):
                # a malformed one is that message's fault, not the connection's, or any peer
                # could cut every subscriber's connection. The message comes without headers.
                items, status, description = [], None, None
            return MsgOp(fields[0], fields[1], reply, payload[hsize:], items, status, description)
        if name == "JOB":
            return JobOp(int(fields[0]), fields[1], int(fields[2]), payload, **_job_fields(fields[3:-1]))
        if name == "OUTCOME":
            return OutcomeOp(int(fields[0]), fields[1], payload)
        if name == "JSON":
            try:
                return JsonOp(_jsontext.loads(payload.decode("utf-8")))
            except ValueError as exc:
                raise ProtocolError(f"JSON reply is not valid JSON: {exc}") from None
        try:
            return HelpOp(payload.decode("utf-8"))
        except ValueError:
            raise ProtocolError("HELP text is not UTF-8") from None


# --------------------------------------------------------------------------
# Replies


def split_job_error(text: str) -> Optional[Tuple[str, str]]:
    """``(code, message)`` if an -ERR text is a job error (``'<CODE> <message>'``
    with an upper-case code such as ``NOT_HELD``); None for NATS errors such as
    ``'Invalid Subject'``."""
    match = _JOB_ERROR_RE.match(text)
    if match is None:
        return None
    return match.group(1), (match.group(2) or "").strip(" \t")


def _want(op: Op, cls: type, kind: str) -> Any:
    if not isinstance(op, cls):
        raise ProtocolError(f"unexpected {type(op).__name__} in reply to {kind}")
    return op


def _plain_ok(kind: str) -> Callable[[Op], None]:
    def read(op: Op) -> None:
        if _want(op, Ok, kind).args:
            raise ProtocolError(f"unexpected '+OK {op.args}' in reply to {kind}")  # type: ignore[union-attr]
        return None

    return read


def _read_pong(op: Op) -> None:
    _want(op, Pong, "ping")
    return None


def _read_enqueue(op: Op) -> EnqueueResult:
    args = _want(op, Ok, "enqueue").args.split(" ")
    if len(args) == 1 and args[0]:
        return EnqueueResult(_id(args[0], "job id"), False)
    if len(args) == 2 and args[1] == "duplicate":
        return EnqueueResult(_id(args[0], "job id"), True)
    if len(args) == 2 and args[1] == "replaced":
        return EnqueueResult(_id(args[0], "job id"), False, True)
    raise ProtocolError(f"unexpected '+OK {op.args}' in reply to enqueue")  # type: ignore[union-attr]


def _read_batch(op: Op) -> List[int]:
    args = _want(op, Ok, "batch").args
    if not args:
        raise ProtocolError("'+OK' without ids in reply to batch")
    return [_id(text, "job id") for text in args.split(" ")]


def _read_reserve(op: Op) -> Optional[Job]:
    if isinstance(op, NoJob):
        return None
    job = _want(op, JobOp, "reserve")
    return Job(job.id, job.queue, job.attempt, job.payload, job.lease_ms, job.delivery)


def _read_fail(op: Op) -> FailOutcome:
    args = _want(op, Ok, "fail").args.split(" ")
    if args == ["dead"]:
        return FailOutcome("dead")
    if len(args) == 2 and args[0] == "retry":
        return FailOutcome("retry", _number(args[1], "retry delay"))
    if len(args) == 2 and args[0] == "throttled":
        return FailOutcome("throttled", _number(args[1], "throttle"))
    raise ProtocolError(f"unexpected '+OK {op.args}' in reply to fail")  # type: ignore[union-attr]


def _read_count(kind: str) -> Callable[[Op], int]:
    def read(op: Op) -> int:
        return _number(_want(op, Ok, kind).args, "count")

    return read


def _read_route(op: Op) -> int:
    return _id(_want(op, Ok, "route").args, "route id")


def _read_wait(op: Op) -> JobOutcome:
    if isinstance(op, PendingOp):
        return JobOutcome(op.id, op.state, None)
    outcome = _want(op, OutcomeOp, "wait")
    return JobOutcome(outcome.id, outcome.state, outcome.payload)


def _read_json(kind: str, types: Tuple[type, ...]) -> Callable[[Op], Any]:
    def read(op: Op) -> Any:
        value = _want(op, JsonOp, kind).value
        if not isinstance(value, types):
            raise ProtocolError(f"unexpected JSON {type(value).__name__} in reply to {kind}")
        return value

    return read


def _read_help(op: Op) -> str:
    return str(_want(op, HelpOp, "help").text)


#: How the reply to each command reads, by the neutral command names of the
#: client-conformance cases. A new verb adds its reader here.
REPLY_KINDS: Dict[str, Callable[[Op], Any]] = {
    "ping": _read_pong,
    "enqueue": _read_enqueue,
    "reserve": _read_reserve,
    "ack": _plain_ok("ack"),
    "fail": _read_fail,
    "progress": _plain_ok("progress"),
    "touch": _plain_ok("touch"),
    "inspect": _read_json("inspect", (dict,)),
    "dead": _read_json("dead", (list,)),
    "retry": _plain_ok("retry"),
    "retry_queue": _read_count("retry_queue"),
    "delete": _plain_ok("delete"),
    "help": _read_help,
    "queue": _read_json("queue", (dict,)),
    "set_queue": _plain_ok("set_queue"),
    "pause": _plain_ok("pause"),
    "resume": _plain_ok("resume"),
    "queues": _read_json("queues", (list,)),
    "stats": _read_json("stats", (dict,)),
    "route": _read_route,
    "unroute": _plain_ok("unroute"),
    "routes": _read_json("routes", (list,)),
    "wait": _read_wait,
    "list": _read_json("list", (dict,)),
    "purge": _read_count("purge"),
    "promote": _plain_ok("promote"),
    "batch": _read_batch,
    "parents": _read_json("parents", (list,)),
    "children": _read_json("children", (dict,)),
    "schedule": _plain_ok("schedule"),
    "unschedule": _plain_ok("unschedule"),
    "schedules": _read_json("schedules", (list,)),
    "pause_schedule": _plain_ok("pause_schedule"),
    "resume_schedule": _plain_ok("resume_schedule"),
    "cancel": _plain_ok("cancel"),
}

#: Commands whose errors are job errors ('<CODE> <message>').
JOB_KINDS = frozenset(REPLY_KINDS) - {"ping"}


def interpret_reply(kind: str, op: Op) -> Any:
    """The result of command ``kind`` from its reply ``op``.

    A job error (``-ERR '<CODE> <message>'``) raises the matching
    :class:`~docketd_client.DocketError`; a reply that does not fit the command
    raises :class:`ProtocolError`.
    """
    if isinstance(op, Err):
        if not answers_command(kind, op):
            raise ProtocolError(f"unexpected -ERR '{op.text}' in reply to {kind}")
        parsed = split_job_error(op.text)
        if parsed is None:
            raise ServerError(op.text)
        raise job_error(*parsed)
    try:
        reader = REPLY_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown command kind {kind!r}") from None
    return reader(op)


# The -ERR texts NATS defines (PROTOCOL.md section 6), in lower case: a refused SUB or PUB, or
# the fatal error before a close. They answer no command, so a job command still waiting keeps
# waiting for its own reply. The last two carry a detail after them.
_NATS_ERROR_TEXTS = frozenset(
    (
        "unknown protocol operation",
        "maximum payload violation",
        "maximum control line exceeded",
        "invalid client protocol",
        "no responders requires headers support",
        "headers not negotiated",
        "maximum connections exceeded",
        "stale connection",
        "authorization violation",
        "authentication timeout",
        "user authentication expired",
        "maximum account active connections exceeded",
        "secure connection - tls required",
        "invalid subject",
        "invalid publish subject",
        "maximum subscriptions exceeded",
    )
)
_NATS_ERROR_PREFIXES = ("invalid protocol:", "permissions violation ")


def is_nats_error(text: str) -> bool:
    """True for an -ERR text NATS defines (``'Invalid Subject'``, ``'Stale Connection'``, ...)."""
    lower = text.lower()
    return lower in _NATS_ERROR_TEXTS or lower.startswith(_NATS_ERROR_PREFIXES)


def is_job_error_for(kind: Optional[str], op: Op) -> bool:
    """True when ``op`` is a job error that answers a pending command ``kind``."""
    return isinstance(op, Err) and kind in JOB_KINDS and split_job_error(op.text) is not None


def answers_command(kind: Optional[str], op: Op) -> bool:
    """True when ``op`` is an -ERR that answers a pending command ``kind``: a
    job command is always answered, in order, so any -ERR but NATS's own is
    its answer (a job error, or a text without a code that the caller must
    see at once rather than wait out its timeout for)."""
    if not isinstance(op, Err) or kind not in JOB_KINDS:
        return False
    return split_job_error(op.text) is not None or not is_nats_error(op.text)


def route(op: Op, waiting: Optional[str]) -> str:
    """Where an operation goes, given the kind of the oldest command waiting
    for a reply (None when none waits):

    * ``"message"``: MSG/HMSG, to its subscription;
    * ``"ping"``: the server's PING, to be answered PONG;
    * ``"info"``: INFO;
    * ``"server_error"``: an ``-ERR`` that answers no command (a NATS error
      such as ``'Invalid Subject'``, or any -ERR while no job verb waits);
      any other ``-ERR`` answers the waiting job verb;
    * ``"reply"``: the reply of the waiting command (read it with
      :func:`interpret_reply`).

    A reply while no command waits raises :class:`ProtocolError`.
    """
    if isinstance(op, MsgOp):
        return "message"
    if isinstance(op, Ping):
        return "ping"
    if isinstance(op, Info):
        return "info"
    if isinstance(op, Err) and not answers_command(waiting, op):
        return "server_error"
    if waiting is None:
        raise ProtocolError(f"{type(op).__name__} reply while no command awaits one")
    return "reply"

