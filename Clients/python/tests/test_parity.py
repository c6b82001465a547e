"""Every verb, reply form and job error code of PROTOCOL.md that the first
slices did not cover: WAIT (OUTCOME / PENDING), typed INSPECT and DEAD
documents, routed publishes with a reply subject, LIMIT and STORE_FULL
from a real docketd, and the pure protocol code for all of them."""

from __future__ import annotations

import threading
import time

import pytest

import docketd_client as docket
from docketd_client import protocol as P

from conftest import lmdb_only, wait_until


# --------------------------------------------------------------------------
# Without a server: encoders, parser, replies


def test_wait_encoding_and_replies():
    assert P.encode_wait(7) == b"WAIT 7\r\n"
    assert P.encode_wait(7, timeout=1.5) == b"WAIT 7 timeout=1500ms\r\n"
    assert P.encode_wait(docket.Job(7, "q", 1, b""), timeout="30s") == b"WAIT 7 timeout=30s\r\n"
    with pytest.raises(docket.BadArgument):
        P.encode_wait(0)
    with pytest.raises(docket.BadArgument):
        P.encode_wait(7, timeout="soon")

    ops = P.Parser().parse(
        b"OUTCOME 7 completed 4\r\ndone\r\nOUTCOME 8 dead 0\r\n\r\nPENDING 9 delayed\r\n"
        b"OUTCOME 10 dead 5\r\na\r\nb\n\r\n"
    )
    outcomes = [P.interpret_reply("wait", op) for op in ops]
    assert [(o.id, o.state, o.data) for o in outcomes] == [
        (7, "completed", b"done"), (8, "dead", b""), (9, "delayed", None), (10, "dead", b"a\r\nb\n")]
    done, dead, pending, _ = outcomes
    assert (done.completed, done.dead, done.pending, done.result, done.error, done.text) == (
        True, False, False, b"done", None, "done")
    assert (dead.completed, dead.dead, dead.pending, dead.result, dead.error) == (False, True, False, None, "")
    assert (pending.completed, pending.dead, pending.pending, pending.result, pending.error) == (
        False, False, True, None, None)
    with pytest.raises(ValueError):
        pending.json()
    assert docket.JobOutcome(1, "completed", b'{"a": 1}').json() == {"a": 1}
    # a job error answers a WAIT too
    with pytest.raises(docket.NotFound):
        P.interpret_reply("wait", P.Err("NOT_FOUND job 3 does not exist"))
    assert P.route(P.PendingOp(1, "waiting"), "wait") == "reply"


@pytest.mark.parametrize(
    "wire",
    [
        b"OUTCOME 7 finished 0\r\n\r\n",  # not completed or dead
        b"OUTCOME 7 completed\r\n",  # no size
        b"OUTCOME x completed 0\r\n\r\n",
        b"OUTCOME 0 completed 0\r\n\r\n",  # ids are positive
        b"OUTCOME 7 completed 2\r\nabc\r\n",  # payload longer than announced
        b"PENDING 7\r\n",
        b"PENDING 7 Sleeping!\r\n",  # not a lower-case word (an unknown word passes: later servers may add states)
        b"PENDING 12345678901234567890 waiting\r\n",  # 20 digits
    ],
)
def test_malformed_wait_replies_are_protocol_errors(wire):
    for feed in (lambda p: p.parse(wire), lambda p: [p.parse(bytes([b])) for b in wire]):
        with pytest.raises(docket.ProtocolError):
            feed(P.Parser())


def test_job_ids_have_up_to_19_digits():
    big = 9_999_999_999_999_999_999
    assert P.encode_ack(big) == f"ACK {big}\r\n".encode()
    assert P.encode_inspect(12_345_678_901) == b"INSPECT 12345678901\r\n"
    with pytest.raises(docket.BadArgument):
        P.encode_ack(big + 1)
    (op,) = P.Parser().parse(f"JOB {big} q 1 lease=1000 delivery=5 1\r\nx\r\n".encode())
    assert P.interpret_reply("reserve", op).id == big
    assert P.interpret_reply("enqueue", P.Ok("12345678901")).id == 12_345_678_901
    assert P.interpret_reply("route", P.Ok("12345678901")) == 12_345_678_901
    with pytest.raises(docket.ProtocolError):
        P.interpret_reply("enqueue", P.Ok("12345678901234567890"))
    with pytest.raises(docket.ProtocolError):  # sizes stay at 10 digits
        P.Parser().parse(b"JSON 12345678901\r\n")


def test_every_job_error_code_has_its_class():
    expected = {
        "BAD_QUEUE": docket.BadQueue, "BAD_OPTION": docket.BadOption, "BAD_ID": docket.BadId,
        "NOT_FOUND": docket.NotFound, "NOT_HELD": docket.NotHeld, "NOT_DEAD": docket.NotDead,
        "STORE_FULL": docket.StoreFull, "LIMIT": docket.LimitReached, "FORBIDDEN": docket.Forbidden,
        "NOT_DELAYED": docket.NotDelayed, "UNAVAILABLE": docket.Unavailable,
    }
    for code, cls in expected.items():
        with pytest.raises(cls) as info:
            P.interpret_reply("enqueue", P.Err(f"{code} some text"))
        assert info.value.code == code and info.value.message == "some text"
        assert isinstance(info.value, docket.DocketError)
    with pytest.raises(docket.DocketError) as info:
        P.interpret_reply("enqueue", P.Err("BRAND_NEW later"))
    assert type(info.value) is docket.DocketError and info.value.code == "BRAND_NEW"


#: The client method of each command kind (REPLY_KINDS) whose name differs.
METHOD_OF_KIND = {"ping": "flush"}


def test_every_command_kind_is_a_method_of_both_clients():
    """Every verb the protocol module reads replies for (LIST, PURGE,
    PROMOTE, SCHEDULE, ... included) is a method of the threaded and the
    asyncio client, with the same parameters."""
    import inspect

    import docketd_client.aio as aio

    assert {"list", "purge", "promote", "schedule", "unschedule", "schedules", "pause_schedule",
            "resume_schedule"} <= set(P.REPLY_KINDS)
    # CANCEL is no call of its own: the clients send it when a RESERVE's caller gives up.
    for kind in [k for k in P.REPLY_KINDS if k != "cancel"] + ["list_all"]:
        name = METHOD_OF_KIND.get(kind, kind)
        sync_method, async_method = getattr(docket.Client, name), getattr(aio.Client, name)
        assert inspect.signature(sync_method).parameters == inspect.signature(async_method).parameters, name
    assert not inspect.iscoroutinefunction(docket.Client.list)
    assert inspect.iscoroutinefunction(aio.Client.list)
    for name in ("ttl", "expires"):
        assert name in inspect.signature(docket.Client.enqueue).parameters
    assert "ttl" in inspect.signature(docket.Client.schedule).parameters
    assert "expires" not in inspect.signature(docket.Client.schedule).parameters


def test_routed_reply_reading():
    assert P.parse_routed_reply(b'{"jobs":[3,4]}') == [3, 4]
    assert P.parse_routed_reply(b'{"jobs":[]}') == []
    with pytest.raises(docket.StoreFull) as info:
        P.parse_routed_reply(b'{"jobs":[],"error":{"code":"STORE_FULL","message":"the store is 91% full"}}')
    assert info.value.message == "the store is 91% full"
    for bad in (b"nope", b"[1]", b'{"jobs":5}', b'{"jobs":[0]}', b'{"jobs":[],"error":"x"}'):
        with pytest.raises(docket.ProtocolError):
            P.parse_routed_reply(bad)
    assert P.is_routed_reply(b'{"jobs":[1]}') and not P.is_routed_reply(b'{"x":1}')
    assert not P.is_routed_reply(b"pong")


def test_job_document_is_typed_and_reads_like_a_dict():
    raw = {"id": 3, "queue": "q", "state": "dead", "attempts": 2, "max_attempts": 2, "last_error": "boom",
           "result": None, "lease_ms": 30000, "group": "g", "future_key": 1}
    doc = docket.JobInfo.from_dict(raw)
    assert (doc.id, doc.state, doc.last_error, doc.group, doc.lease_ms) == (3, "dead", "boom", "g", 30000)
    assert doc["state"] == "dead" and doc.get("nope", 5) == 5 and "future_key" in doc
    assert dict(doc) == raw and dict(doc.items()) == raw and list(doc.keys()) == list(raw)


# --------------------------------------------------------------------------
# Against docketd


def test_wait_for_outcomes(client, make_client):
    done = client.enqueue("w", "a")
    assert client.wait(done, timeout=0) == docket.JobOutcome(done.id, "waiting")
    later = client.enqueue("w", "b", delay="1h")
    outcome = client.wait(later.id, timeout="50ms")
    assert outcome.pending and outcome.state == "delayed" and outcome.data is None

    job = client.reserve("w", timeout=0)
    assert client.wait(job.id, timeout=0).state == "active"
    waiter = make_client()
    results = []
    t = threading.Thread(target=lambda: results.append(waiter.wait(job.id, timeout=5)))
    t.start()
    time.sleep(0.1)
    client.ack(job, b"the result", attempt=job.attempt)
    t.join(5)
    assert results == [docket.JobOutcome(job.id, "completed", b"the result")]
    assert client.wait(job.id).result == b"the result"  # answered at once, no timeout needed

    dead = client.enqueue("w2", "c", attempts=1).id
    job = client.reserve("w2", timeout=0)
    client.fail(job, "it broke", attempt=job.attempt)
    outcome = client.wait(dead)
    assert (outcome.dead, outcome.error, outcome.result) == (True, "it broke", None)

    with pytest.raises(docket.NotFound):
        client.wait(999_999)
    assert client.enqueue("w", "still in step").id > dead


def test_wait_for_a_job_deleted_meanwhile_is_not_found(client, make_client):
    jid = client.enqueue("wd", "x").id
    waiter = make_client()
    errors = []

    def wait():
        try:
            waiter.wait(jid, timeout=5)
        except docket.DocketError as exc:
            errors.append(exc)

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.1)
    client.delete(jid)
    t.join(5)
    assert len(errors) == 1 and isinstance(errors[0], docket.NotFound)


def test_inspect_and_dead_are_typed(client):
    jid = client.enqueue("typed", "payload", attempts=1, lease="5s", group="tenant-1", key="k1").id
    doc = client.inspect(jid)
    assert isinstance(doc, docket.JobInfo)
    assert (doc.id, doc.queue, doc.state, doc.max_attempts, doc.lease_ms, doc.group, doc.key) == (
        jid, "typed", "waiting", 1, 5000, "tenant-1", "k1")
    assert doc.payload_bytes == 7 and doc.enqueued_at > 0 and doc.finished_at is None
    job = client.reserve("typed", timeout=0)
    client.progress(job, 40, "note", attempt=job.attempt)
    doc = client.inspect(jid)
    assert (doc.state, doc.progress, doc.progress_note, doc.attempts) == ("active", 40, "note", 1)
    client.fail(job, "nope", attempt=job.attempt)
    (dead,) = client.dead("typed")
    assert isinstance(dead, docket.JobInfo) and (dead.id, dead.state, dead.last_error) == (jid, "dead", "nope")


def test_publish_routed_returns_the_job_ids(client, make_client):
    rid = client.route("shop.orders.*", "orders", attempts=2)
    other = client.route("shop.>", "audit")
    # a subscriber that answers on the reply subject does not confuse it
    responder = make_client()
    responder.subscribe("shop.orders.*", callback=lambda m: m.respond(b"ack from a subscriber"))
    responder.flush()
    ids = client.publish_routed("shop.orders.new", b'{"order": 1}')
    assert len(ids) == 2
    docs = {client.inspect(i).queue: client.inspect(i) for i in ids}
    assert set(docs) == {"orders", "audit"} and docs["orders"].max_attempts == 2
    client.unroute(rid)
    client.unroute(other)
    assert client.publish_routed("nothing.routes.here", b"x") == []  # no route, no subscriber


@lmdb_only  # --max-queues does not bound PostgreSQL's queues
def test_limit_from_max_queues(start_docketd):
    server = start_docketd(flags=("--max-queues", "2"))
    with docket.Client(server.url, request_timeout=5) as c:
        c.enqueue("one", "x")
        c.set_queue("two", concurrency=1)
        with pytest.raises(docket.LimitReached) as info:
            c.enqueue("three", "x")
        assert info.value.code == "LIMIT" and "max-queues" in info.value.message
        with pytest.raises(docket.LimitReached):
            c.pause("three")
        assert c.queue("three").jobs.waiting in (0, None)  # reading never makes a queue
        assert c.reserve("three", timeout=0) is None
        assert c.enqueue("one", "y").id == 2  # still in step


@lmdb_only  # --max-store is the embedded store's
def test_store_full(start_docketd):
    server = start_docketd(flags=("--max-store", "1MiB"))
    with docket.Client(server.url, request_timeout=5) as c:
        rid = c.route("big.*", "filled")
        with pytest.raises(docket.StoreFull) as info:
            for _ in range(40):
                c.enqueue("filled", b"x" * 60_000)
        assert info.value.code == "STORE_FULL"
        with pytest.raises(docket.StoreFull):  # a routed job is refused the same way
            c.publish_routed("big.one", b"y" * 200_000)
        assert c.stats().route_refusals == 1
        job = c.reserve("filled", timeout=0)
        with pytest.raises(docket.StoreFull):  # a result past 95%: nothing changes, the job stays held
            c.ack(job, b"r" * 200_000, attempt=job.attempt)
        assert c.inspect(job).state == "active"
        c.ack(job, attempt=job.attempt)  # the same ACK without a body always goes
        assert c.inspect(job).state == "completed"
        c.unroute(rid)


def test_not_held_and_not_found(client, make_client):
    jid = client.enqueue("held", "x").id
    with pytest.raises(docket.NotHeld):
        client.ack(jid)  # never reserved by this connection
    job = client.reserve("held", timeout=0)
    other = make_client()
    with pytest.raises(docket.NotHeld):
        other.touch(job.id)
    with pytest.raises(docket.NotHeld):
        client.touch(job.id, attempt=job.attempt + 1)
    with pytest.raises(docket.NotFound):
        client.unroute(424242)
    client.ack(job, attempt=job.attempt)


def test_a_full_server_refuses_the_connection(start_docketd):
    # INFO, then -ERR 'maximum connections exceeded', then the close
    server = start_docketd(flags=("--max-connections", "1"))
    with docket.Client(server.url) as first:
        with pytest.raises(docket.ConnectError) as info:
            docket.Client(server.url, connect_timeout=3)
        assert "maximum connections exceeded" in str(info.value)
        assert not isinstance(info.value, docket.AuthorizationError)
        first.flush()


def test_non_fatal_server_errors_reach_the_error_callback(start_docketd):
    server = start_docketd(flags=("--max-subscriptions", "1"))
    errors = []
    with docket.Client(server.url, error_callback=errors.append) as c:
        c.subscribe("one")
        c.subscribe("two")  # past --max-subscriptions: -ERR, the connection stays open
        c.flush()
        # error_callback runs on the client's callback thread: soon after, not before flush() returns
        assert wait_until(lambda: any(isinstance(e, docket.ServerError) for e in errors), 5)
        assert [e.text for e in errors if isinstance(e, docket.ServerError)] == ["maximum subscriptions exceeded"]
        assert c.last_error.text == "maximum subscriptions exceeded" and c.is_connected
        assert c.enqueue("q", "x").id == 1


PERMISSIONS_CONFIG = """
authorization {
  users = [
    { user: boss, password: "boss-pw" },
    { user: clerk, password: "clerk-pw" }
  ]
}
docket {
  permissions {
    clerk: { enqueue: orders, read: orders }
  }
}
"""


def test_live_forbidden(tmp_path):
    """FORBIDDEN from a docketd whose configuration gives a user job rights
    on some queues only (skipped by a docketd that predates permissions)."""
    import os

    from conftest import Server

    binary = os.environ.get("DOCKETD")
    if not binary:
        pytest.skip("set DOCKETD=/path/to/docketd to run the tests that need a server")
    config = tmp_path / "docketd.conf"
    config.write_text(PERMISSIONS_CONFIG)
    server = Server(binary, tmp_path / "data", 0, ("-c", str(config)))
    try:
        try:
            server.wait_ready()
        except RuntimeError:
            pytest.skip(f"this docketd does not take job permissions in its configuration: {server.text()[-300:]}")
        with docket.Client(server.url, user="boss", password="boss-pw") as boss, \
                docket.Client(server.url, user="clerk", password="clerk-pw") as clerk:
            secret = boss.enqueue("secret", "x").id
            order = clerk.enqueue("orders", "o").id
            assert clerk.inspect(order).queue == "orders"
            for call in (lambda: clerk.enqueue("secret", "y"), lambda: clerk.reserve("orders", timeout=0),
                         lambda: clerk.pause("orders"), clerk.stats):
                with pytest.raises(docket.Forbidden) as info:
                    call()
                assert info.value.code == "FORBIDDEN" and "clerk" in info.value.message
            # A job in a queue clerk may not read does not exist for it, as an id never given.
            with pytest.raises(docket.NotFound) as missing:
                clerk.inspect(secret)
            assert missing.value.message == f"job {secret} does not exist"
            assert [q.queue for q in clerk.queues()] == ["orders"]  # only what clerk may read
            clerk.flush()  # the connection stayed open
            assert clerk.is_connected and boss.reserve("orders", timeout=0).id == order
    finally:
        server.stop()
