"""Runs Protocol/client-conformance/cases.json against docket.protocol.

No server is needed. The format is specified in
Protocol/client-conformance/README.md. Cases listed in
Clients/python/conformance-gaps.txt must fail; one that passes fails the run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

import docketd_client as docket
from docketd_client import protocol as P

HERE = Path(__file__).resolve().parent
CLIENT_DIR = HERE.parent
CASES_FILE = CLIENT_DIR.parent.parent / "Protocol" / "client-conformance" / "cases.json"
GAPS_FILE = CLIENT_DIR / "conformance-gaps.txt"

FIELDS = {
    "encode": {"name", "kind", "note", "call", "args", "expect", "expect_error"},
    "decode": {"name", "kind", "note", "reply_to", "input", "expect"},
    "reject": {"name", "kind", "note", "reply_to", "input"},
}


def wire(text: str) -> bytes:
    """A case string as bytes: one character per byte (U+0000..U+00FF)."""
    return text.encode("latin-1")  # raises on characters above U+00FF


def unwire(data: bytes) -> str:
    return data.decode("latin-1")


def load_cases() -> List[Dict[str, Any]]:
    doc = json.loads(CASES_FILE.read_text(encoding="utf-8"))
    assert doc.get("version") == 1, "unknown cases.json version"
    return doc["cases"]


def load_gaps() -> List[str]:
    if not GAPS_FILE.exists():
        return []
    names = []
    for line in GAPS_FILE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.append(line)
    return names


CASES = load_cases()
GAPS = set(load_gaps())


# --------------------------------------------------------------------------
# encode: neutral call names -> docket.protocol encoders


def _payload(args: Dict[str, Any], key: str) -> Optional[bytes]:
    return wire(args[key]) if key in args else None


def _retry(args: Dict[str, Any]) -> Any:
    return args.get("retry")  # false -> retry=no, duration otherwise


def _batch_job(job: Dict[str, Any]) -> Dict[str, Any]:
    """A batch case's job as encode_batch takes it: the payload as bytes."""
    return {**job, "payload": wire(job.get("payload", ""))}


def _settings(args: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in args.items() if k in P.QUEUE_SETTINGS}


#: The arguments each call takes (README's call vocabulary): a case with any
#: other argument is malformed, so none is silently dropped.
CALL_ARGS: Dict[str, Tuple[str, ...]] = {
    "publish": ("subject", "payload", "reply", "headers"),
    "subscribe": ("subject", "sid", "queue"),
    "unsubscribe": ("sid", "max"),
    "ping": (),
    "enqueue": (
        "queue", "payload", "delay", "at", "priority", "attempts", "backoff", "jitter", "lease", "key", "group", "ttl",
        "expires", "after", "on_parent_dead", "key_ttl", "replace",
    ),
    "batch": ("jobs",),
    "parents": ("id",),
    "reserve": ("queues", "timeout"),
    "ack": ("id", "attempt", "result"),
    "fail": ("id", "attempt", "reason", "retry", "throttle", "scope"),
    "progress": ("id", "percent", "attempt", "note"),
    "touch": ("id", "attempt"),
    "inspect": ("id",),
    "dead": ("queue", "limit"),
    "retry": ("id",),
    "retry_queue": ("queue",),
    "delete": ("id",),
    "help": (),
    "wait": ("id", "timeout"),
    "queue": ("queue",),
    "set_queue": ("queue",) + tuple(P.QUEUE_SETTINGS),
    "pause": ("queue",),
    "resume": ("queue",),
    "queues": ("after", "limit"),
    "stats": (),
    "route": ("pattern", "queue", "delay", "priority", "attempts", "backoff", "jitter", "lease", "group", "key", "at", "after"),
    "unroute": ("id",),
    "routes": ("after", "limit"),
    "list": ("queue", "state", "after", "limit"),
    "purge": ("queue", "state", "older"),
    "promote": ("id",),
    "schedule": (
        "name", "queue", "payload", "cron", "every", "tz", "catchup", "priority", "attempts", "backoff", "jitter",
        "lease", "group", "ttl", "key", "at", "delay", "expires",
    ),
    "unschedule": ("name",),
    "schedules": ("after", "limit"),
    "pause_schedule": ("name",),
    "resume_schedule": ("name",),
}


ENCODERS: Dict[str, Callable[[Dict[str, Any]], bytes]] = {
    "publish": lambda a: P.encode_publish(
        a["subject"], wire(a["payload"]), a.get("reply"), [tuple(h) for h in a.get("headers", [])] or None
    ),
    "subscribe": lambda a: P.encode_subscribe(a["subject"], a["sid"], a.get("queue")),
    "unsubscribe": lambda a: P.encode_unsubscribe(a["sid"], a.get("max")),
    "ping": lambda a: P.encode_ping(),
    "enqueue": lambda a: P.encode_enqueue(
        a["queue"],
        wire(a["payload"]),
        delay=a.get("delay"),
        at=a.get("at"),
        priority=a.get("priority"),
        attempts=a.get("attempts"),
        backoff=a.get("backoff"),
        jitter=a.get("jitter"),
        lease=a.get("lease"),
        key=a.get("key"),
        group=a.get("group"),
        ttl=a.get("ttl"),
        expires=a.get("expires"),
        after=a.get("after"),
        on_parent_dead=a.get("on_parent_dead"),
        key_ttl=a.get("key_ttl"),
        replace=a.get("replace", False),
    ),
    "batch": lambda a: P.encode_batch([_batch_job(job) for job in a["jobs"]]),
    "parents": lambda a: P.encode_parents(a["id"]),
    "reserve": lambda a: P.encode_reserve(a["queues"], a.get("timeout")),
    "ack": lambda a: P.encode_ack(a["id"], _payload(a, "result"), attempt=a.get("attempt")),
    "fail": lambda a: P.encode_fail(
        a["id"], _payload(a, "reason"), _retry(a), attempt=a.get("attempt"), throttle=a.get("throttle"), scope=a.get("scope")
    ),
    "progress": lambda a: P.encode_progress(a["id"], a["percent"], _payload(a, "note"), attempt=a.get("attempt")),
    "touch": lambda a: P.encode_touch(a["id"], attempt=a.get("attempt")),
    "inspect": lambda a: P.encode_inspect(a["id"]),
    "dead": lambda a: P.encode_dead(a["queue"], a.get("limit")),
    "retry": lambda a: P.encode_retry(a["id"]),
    "retry_queue": lambda a: P.encode_retry_queue(a["queue"]),
    "delete": lambda a: P.encode_delete(a["id"]),
    "help": lambda a: P.encode_help(),
    "wait": lambda a: P.encode_wait(a["id"], a.get("timeout")),
    "queue": lambda a: P.encode_queue(a["queue"]),
    "set_queue": lambda a: P.encode_set_queue(a["queue"], **_settings(a)),
    "pause": lambda a: P.encode_pause(a["queue"]),
    "resume": lambda a: P.encode_resume(a["queue"]),
    "queues": lambda a: P.encode_queues(a.get("after"), a.get("limit")),
    "stats": lambda a: P.encode_stats(),
    "route": lambda a: P.encode_route(
        a["pattern"],
        a["queue"],
        delay=a.get("delay"),
        priority=a.get("priority"),
        attempts=a.get("attempts"),
        backoff=a.get("backoff"),
        jitter=a.get("jitter"),
        lease=a.get("lease"),
        group=a.get("group"),
        key=a.get("key"),
        at=a.get("at"),
        after=a.get("after"),
    ),
    "unroute": lambda a: P.encode_unroute(a["id"]),
    "routes": lambda a: P.encode_routes(a.get("after"), a.get("limit")),
    "list": lambda a: P.encode_list(a["queue"], a.get("state"), a.get("after"), a.get("limit")),
    "purge": lambda a: P.encode_purge(a["queue"], a.get("state"), a.get("older")),
    "promote": lambda a: P.encode_promote(a["id"]),
    "schedule": lambda a: P.encode_schedule(
        a["name"],
        a["queue"],
        wire(a["payload"]),
        cron=a.get("cron"),
        every=a.get("every"),
        tz=a.get("tz"),
        catchup=a.get("catchup"),
        priority=a.get("priority"),
        attempts=a.get("attempts"),
        backoff=a.get("backoff"),
        jitter=a.get("jitter"),
        lease=a.get("lease"),
        group=a.get("group"),
        ttl=a.get("ttl"),
        key=a.get("key"),
        at=a.get("at"),
        delay=a.get("delay"),
        expires=a.get("expires"),
    ),
    "unschedule": lambda a: P.encode_unschedule(a["name"]),
    "schedules": lambda a: P.encode_schedules(a.get("after"), a.get("limit")),
    "pause_schedule": lambda a: P.encode_pause_schedule(a["name"]),
    "resume_schedule": lambda a: P.encode_resume_schedule(a["name"]),
}


def run_encode(case: Dict[str, Any]) -> None:
    encoder = ENCODERS[case["call"]]
    if "expect_error" in case:
        assert case["expect_error"] == "bad_argument", "unknown expect_error"
        with pytest.raises(docket.BadArgument):
            got = encoder(case["args"])
            pytest.fail(f"encoded {got!r} instead of refusing")  # pragma: no cover
        return
    assert encoder(case["args"]) == wire(case["expect"])


# --------------------------------------------------------------------------
# decode / reject: bytes -> parser -> route -> interpret -> result vocabulary


def parse_all_at_once(data: bytes) -> Tuple[List[P.Op], int]:
    parser = P.Parser()
    ops = parser.parse(data)
    return ops, parser.buffered


def parse_byte_by_byte(data: bytes) -> Tuple[List[P.Op], int]:
    parser = P.Parser()
    ops: List[P.Op] = []
    for i in range(len(data)):
        ops.extend(parser.parse(data[i : i + 1]))
    return ops, parser.buffered


def result_of(op: P.Op, reply_to: Optional[str]) -> Dict[str, Any]:
    """Route and read one operation the way docket.Client does."""
    where = P.route(op, reply_to)
    if where == "message":
        assert isinstance(op, P.MsgOp)
        return {
            "message": {
                "subject": op.subject,
                "sid": op.sid,
                "reply": op.reply,
                "headers": None if op.header_items is None else [list(h) for h in op.header_items],
                "status": op.status,
                "description": op.description,
                "payload": unwire(op.payload),
            }
        }
    if where == "ping":
        return {"ping": None}
    if where == "info":
        assert isinstance(op, P.Info)
        return {"info": op.data}
    if where == "server_error":
        assert isinstance(op, P.Err)
        return {"server_error": op.text}
    assert reply_to is not None
    try:
        value = P.interpret_reply(reply_to, op)
    except docket.DocketError as exc:
        return {"error": {"code": exc.code, "message": exc.message}}
    except docket.ServerError as exc:
        return {"command_error": exc.text}
    if reply_to == "ping":
        return {"pong": None}
    if reply_to == "enqueue":
        if value.replaced:
            return {"replaced": {"id": value.id}}
        return {"enqueued": {"id": value.id, "duplicate": value.duplicate}}
    if reply_to == "batch":
        return {"ids": value}
    if reply_to == "reserve":
        if value is None:
            return {"job": None}
        return {
            "job": {
                "id": value.id,
                "queue": value.queue,
                "attempt": value.attempt,
                "payload": unwire(value.payload),
                "lease_ms": value.lease_ms,
                "delivery": value.delivery,
            }
        }
    if reply_to == "fail":
        return {"fail": {"outcome": value.outcome, "delay_ms": value.delay_ms}}
    if reply_to in ("retry_queue", "purge"):
        return {"count": value}
    if reply_to in ("inspect", "dead", "queue", "queues", "stats", "routes", "list", "schedules", "parents"):
        return {"json": value}
    if reply_to == "wait":
        if value.pending:
            return {"pending": {"id": value.id, "state": value.state}}
        return {"outcome": {"id": value.id, "state": value.state, "detail": unwire(value.data)}}
    if reply_to == "route":
        return {"route_id": value}
    if reply_to == "help":
        return {"help": value}
    assert value is None
    return {"ok": None}


def decode(data: bytes, reply_to: Optional[str], feed: Callable[[bytes], Tuple[List[P.Op], int]]) -> Dict[str, Any]:
    ops, left_over = feed(data)
    assert len(ops) == 1, f"expected exactly one operation, got {ops!r}"
    assert left_over == 0, f"{left_over} bytes left over"
    return result_of(ops[0], reply_to)


def run_decode(case: Dict[str, Any]) -> None:
    for feed in (parse_all_at_once, parse_byte_by_byte):
        assert decode(wire(case["input"]), case.get("reply_to"), feed) == case["expect"], feed.__name__


def run_reject(case: Dict[str, Any]) -> None:
    for feed in (parse_all_at_once, parse_byte_by_byte):
        with pytest.raises(docket.ProtocolError):
            ops, _ = feed(wire(case["input"]))
            for op in ops:
                result_of(op, case.get("reply_to"))
            pytest.fail(f"{feed.__name__}: accepted as {ops!r}")  # pragma: no cover


RUNNERS = {"encode": run_encode, "decode": run_decode, "reject": run_reject}


# --------------------------------------------------------------------------
# Tests


def test_cases_file_is_well_formed():
    names = [c.get("name") for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    for case in CASES:
        assert case.get("kind") in FIELDS, f"{case.get('name')}: unknown kind"
        extra = set(case) - FIELDS[case["kind"]]
        assert not extra, f"{case['name']}: unknown fields {sorted(extra)}"
        if case["kind"] == "encode":
            assert case["call"] in ENCODERS, f"{case['name']}: unknown call"
            unknown = set(case["args"]) - set(CALL_ARGS[case["call"]])
            assert not unknown, f"{case['name']}: unknown arguments {sorted(unknown)} of {case['call']}"
            assert ("expect" in case) != ("expect_error" in case), f"{case['name']}: expect xor expect_error"
        if case.get("reply_to") is not None:
            assert case["reply_to"] in ENCODERS, f"{case['name']}: unknown reply_to"


def test_gaps_file_names_real_cases():
    unknown = GAPS - {c["name"] for c in CASES}
    assert not unknown, f"conformance-gaps.txt lists cases that do not exist: {sorted(unknown)}"


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            c,
            id=c["name"],
            marks=[pytest.mark.xfail(strict=True, reason="listed in conformance-gaps.txt")] if c["name"] in GAPS else [],
        )
        for c in CASES
    ],
)
def test_case(case):
    RUNNERS[case["kind"]](case)
