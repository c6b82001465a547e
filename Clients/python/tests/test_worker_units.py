"""Worker and protocol details that need no server (issue #20)."""

from __future__ import annotations

import pytest

import docketd_client as docket
import docketd_client.aio as aio
from docketd_client import protocol as P
from docketd_client.worker import _UNPRINTABLE, _Fencing, _reason


# --------------------------------------------------------------------------
# JOB fields beyond the conformance cases


def parse_job(line: bytes) -> P.JobOp:
    ops = P.Parser().parse(line)
    assert len(ops) == 1 and isinstance(ops[0], P.JobOp)
    return ops[0]


def test_job_delivery_is_a_u64():
    big = (1 << 64) - 1
    job = parse_job(b"JOB 5 q 2 delivery=%d lease=30000 0\r\n\r\n" % big)
    assert (job.delivery, job.lease_ms) == (big, 30000)
    with pytest.raises(docket.ProtocolError):
        P.Parser().parse(b"JOB 5 q 2 delivery=%d 0\r\n\r\n" % (big + 1))


@pytest.mark.parametrize(
    "fields",
    [b"=5", b"lease=", b"delivery=-1", b"lease=1 lease=2", b"delivery=1 delivery=1", b"lease=1.5"],
)
def test_job_bad_fields_are_protocol_errors(fields):
    with pytest.raises(docket.ProtocolError):
        P.Parser().parse(b"JOB 5 q 2 " + fields + b" 0\r\n\r\n")


def test_unknown_job_fields_are_ignored_even_repeated_or_empty():
    job = parse_job(b"JOB 5 q 2 x=1 x=2 y= z==a 0\r\n\r\n")
    assert (job.lease_ms, job.delivery) == (None, None)


def test_encoders_take_the_attempt():
    assert P.encode_fail(3, retry=0, attempt=2) == b"FAIL 3 attempt=2 retry=0s\r\n"
    assert P.encode_progress(3, 5, attempt=1) == b"PROGRESS 3 5 attempt=1\r\n"
    for bad in (0, -1, True, "2", 1.0):
        with pytest.raises(docket.BadArgument):
            P.encode_ack(3, attempt=bad)


# --------------------------------------------------------------------------
# FAIL reasons are always printable


class _Meta(type):
    @property
    def __name__(cls):  # type: ignore[override]
        raise RuntimeError("no name either")


class _Nameless(Exception, metaclass=_Meta):
    def __str__(self):
        raise ValueError("no text")


class _BadStr(Exception):
    def __str__(self):
        raise RuntimeError("no text")


class _NotStr(Exception):
    def __str__(self):
        return 42  # type: ignore[return-value]


def test_reason_falls_back_to_the_type_then_to_a_fixed_text():
    assert _reason(ValueError("bad value")) == "ValueError: bad value"
    assert _reason(SystemExit(3)) == "SystemExit: 3"
    assert _reason(KeyboardInterrupt()) == "KeyboardInterrupt"
    assert _reason(_BadStr()) == "_BadStr"
    assert _reason(_NotStr()) == "_NotStr"
    assert _reason(_Nameless()) == _UNPRINTABLE
    assert _reason(docket.NonRetryable("cannot ever work")) == "cannot ever work"


# --------------------------------------------------------------------------
# attempt= against a server that predates attempt fencing


class _OldServerClient:
    """Answers like a server without attempt fencing."""

    def __init__(self) -> None:
        self.reconnects = 0
        self.sent = []

    def ack(self, job_id, result=None, *, attempt=None):
        self.sent.append(("ack", job_id, attempt))
        if attempt is not None:
            raise docket.BadOption(f"attempt={attempt}: ACK takes only a job id")

    def touch(self, job_id, *, attempt=None):
        self.sent.append(("touch", job_id, attempt))
        if attempt is not None:
            raise docket.BadOption(f"attempt={attempt}: TOUCH takes only a job id")


def test_attempt_falls_back_on_an_old_server_per_connection():
    fencing = _Fencing()
    client = _OldServerClient()
    job = docket.Job(7, "q", 2, b"")
    fencing.call(client, client.ack, job, job.id)
    fencing.call(client, client.touch, job, job.id)
    assert client.sent == [("ack", 7, 2), ("ack", 7, None), ("touch", 7, None)]
    client.reconnects += 1  # a new connection: maybe a newer server
    client.sent.clear()
    fencing.call(client, client.touch, job, job.id)
    assert client.sent == [("touch", 7, 2), ("touch", 7, None)]


def test_other_bad_options_are_not_retried():
    fencing = _Fencing()
    client = _OldServerClient()

    def refuse(job_id, *, attempt=None):
        raise docket.BadOption("retry=x: not a duration")

    with pytest.raises(docket.BadOption):
        fencing.call(client, refuse, docket.Job(7, "q", 1, b""), 7)


def test_worker_heartbeat_argument():
    url = "nats://127.0.0.1:1"
    assert docket.Worker(url, "q", lambda ctx: None).heartbeat == docket.AUTO
    for bad in (0, -1, "often", True):
        with pytest.raises(ValueError):
            docket.Worker(url, "q", lambda ctx: None, heartbeat=bad)


@pytest.mark.parametrize("worker_class", [docket.Worker, aio.Worker])
@pytest.mark.parametrize("options", [
    dict(concurrency=1.5), dict(concurrency=None), dict(concurrency=0), dict(concurrency=True),
    dict(concurrency="2"), dict(heartbeat=-1), dict(reserve_timeout=-1), dict(reserve_timeout="soon"),
    dict(grace=-1), dict(grace=None), dict(grace="30s"), dict(grace=float("nan")),
    dict(queues=None), dict(queues=5), dict(queues=[]), dict(queues=["bad name"]),
])
def test_worker_options_are_checked_at_the_call(worker_class, options):
    options = dict(options)  # the parameter is shared by both worker classes
    queues = options.pop("queues", "q")
    with pytest.raises(docket.BadArgument):
        worker_class("nats://127.0.0.1:1", queues, lambda ctx: None, **options)


@pytest.mark.parametrize("worker_class", [docket.Worker, aio.Worker])
@pytest.mark.parametrize("handler", [None, 5, "handler", b"x"])
def test_a_worker_handler_that_cannot_be_called_is_refused_at_the_call(worker_class, handler):
    # Otherwise every job the worker reserved would fail, one attempt at a time.
    with pytest.raises(TypeError, match="handler must be a function"):
        worker_class("nats://127.0.0.1:1", "q", handler)


@pytest.mark.parametrize("make", [
    lambda: docket.RetryAfter("soon"), lambda: docket.RetryAfter(-1), lambda: docket.RetryAfter(True),
    lambda: docket.RetryAfter(float("nan")), lambda: docket.RetryAfter(400 * 86400),
    lambda: docket.Throttle("x"), lambda: docket.Throttle(0), lambda: docket.Throttle(None),
    lambda: docket.Throttle(5, scope="tenant"), lambda: docket.exponential(1, 0.5), lambda: docket.exponential(0),
])
def test_a_handlers_outcome_and_a_backoff_are_checked_where_they_are_made(make):
    with pytest.raises(docket.BadArgument):
        make()


def test_good_outcomes_and_backoffs_are_kept_as_given():
    assert docket.RetryAfter(0).delay == 0 and docket.RetryAfter("250ms").delay == "250ms"
    throttle = docket.Throttle(1.5, scope="group")
    assert (throttle.delay, throttle.scope) == (1.5, "group")
    assert docket.exponential(1, 60) == "exp:1s:60s" and docket.exponential("1s") == "exp:1s"


def test_worker_accepts_its_documented_options():
    for options in (dict(concurrency=3, reserve_timeout=0, grace=0), dict(reserve_timeout="250ms", grace=1.5),
                    dict(reserve_timeout=None)):
        docket.Worker("nats://127.0.0.1:1", ["a", "b"], lambda ctx: None, **options)


@pytest.mark.parametrize("queues", [None, 5, [], ["ok", None]])
def test_reserve_queues_are_checked_before_sending(queues):
    with pytest.raises(docket.BadArgument):
        P.encode_reserve(queues)


def test_worker_result_is_truthy_when_clean():
    fields = dict(reason="stop", acked=1, failed=0, crashed=0, abandoned=0, lost=0, errors=0, slots_lost=0)
    assert docket.WorkerResult(True, **fields)
    assert not docket.WorkerResult(False, **fields)


def test_a_lost_slot_makes_the_result_unclean(monkeypatch):
    import threading
    import time

    died = []
    monkeypatch.setattr(threading, "excepthook", lambda args: died.append(args.exc_type))

    def factory():
        raise RuntimeError("factory bug")  # caught by the slot guard...

    worker = docket.Worker(factory, "q", lambda ctx: None, concurrency=2, reserve_timeout=0.1)
    counted = worker._count

    def broken_count(name, n=1):
        if name == "errors":
            raise KeyError("...whose own bookkeeping then fails")  # ...so the thread ends
        counted(name, n)

    worker._count = broken_count
    worker.start()
    deadline = time.monotonic() + 5
    while worker.slots_lost < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    result = worker.stop(grace=1)
    assert (result.slots_lost, result.clean, bool(result)) == (2, False, False)
    assert died == [KeyError, KeyError]
