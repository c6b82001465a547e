"""Plain data types returned by the client."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

__all__ = ["Msg", "Job", "EnqueueResult", "FailOutcome"]


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
        """The payload parsed as JSON."""
        return json.loads(self.data)

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
        """The payload parsed as JSON."""
        return json.loads(self.payload)


@dataclass(frozen=True)
class EnqueueResult:
    """The answer to ENQ: the job id, and whether ``key=`` named a job the
    queue already knew (then nothing was created)."""

    id: int
    duplicate: bool = False


@dataclass(frozen=True)
class FailOutcome:
    """What FAIL did: ``retry`` after ``delay_ms`` milliseconds, or ``dead``.

    Iterating gives ``("retry", delay_ms)`` or ``("dead",)``, so
    ``tuple(outcome) == ("retry", 5000)`` works.
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
    def delay(self) -> Optional[float]:
        """The retry delay in seconds (None when dead)."""
        return None if self.delay_ms is None else self.delay_ms / 1000.0

    def astuple(self) -> Tuple[Any, ...]:
        """``("retry", delay_ms)`` or ``("dead",)``."""
        return ("retry", self.delay_ms) if self.outcome == "retry" else ("dead",)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.astuple())
