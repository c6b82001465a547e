"""The dashboard's HTTP API, checked from outside over real HTTP (the page itself is tested in a
real browser by Tests/dashboard): reads, the job page with its payload and events, the live
event stream, and the rules for changes: CSRF token, Origin, read-only beyond loopback, users'
admin rights, body limits."""

import base64
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from test_monitoring import DOCKETD, Conn, Docketd

pytestmark = pytest.mark.skipif(not DOCKETD, reason="set DOCKETD to a docketd binary")


def request(server, path, method="GET", body=None, headers=None, auth=None):
    """(status, parsed JSON or text) for one request; HTTP errors are answers too."""
    req = urllib.request.Request(f"http://127.0.0.1:{server.http}{path}", data=body, method=method, headers=headers or {})
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=5) as response:
            status, kind, data = response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as error:
        status, kind, data = error.code, error.headers.get("Content-Type", ""), error.read().decode()
    return status, json.loads(data) if kind.startswith("application/json") else data


def token(server, auth=None):
    status, page = request(server, "/", auth=auth)
    assert status == 200
    return re.search(r'name="docket-csrf" content="([0-9a-f]{64})"', page).group(1), re.search(
        r'name="docket-admin" content="(true|false)"', page).group(1)


def change(server, path, body=None, auth=None, csrf=None, origin=None):
    headers = {"X-Docket-CSRF": csrf or token(server, auth)[0]}
    if origin:
        headers["Origin"] = origin
    return request(server, path, "POST", body, headers, auth)


@pytest.fixture
def server():
    s = Docketd()
    yield s
    s.stop()


def test_reads_and_the_job_page(server):
    client = Conn(server.port)
    assert client.call("ENQ mail 7", b'{"a":1}')[0] == "+OK 1"
    assert client.call("ENQ mail 3", b"\x00\xff\x10")[0] == "+OK 2"
    status, overview = request(server, "/api/overview")
    assert status == 200 and overview["store"] == "lmdb" and overview["admin"] is True
    assert overview["server"]["jobs"] == 2 and [q["queue"] for q in overview["queues"]] == ["mail"]
    status, page = request(server, "/api/jobs?queue=mail&limit=1")
    assert status == 200 and [j["id"] for j in page["jobs"]] == [1] and page["next"]
    status, page = request(server, f"/api/jobs?queue=mail&limit=1&after={page['next']}")
    assert [j["id"] for j in page["jobs"]] == [2] and page["next"] is None
    status, job = request(server, "/api/job?id=1")
    assert job["job"]["state"] == "waiting" and job["payload"] == {"bytes": 7, "text": '{"a":1}', "base64": "eyJhIjoxfQ==", "truncated": False}
    # Binary payloads have no text, only base64.
    status, job = request(server, "/api/job?id=2")
    assert job["payload"]["text"] is None and base64.b64decode(job["payload"]["base64"]) == b"\x00\xff\x10"
    status, missing = request(server, "/api/job?id=99")
    assert status == 404 and missing["error"]["code"] == "NOT_FOUND"
    status, queue = request(server, "/api/queue?name=mail")
    assert status == 200 and queue["jobs"]["waiting"] == 2
    assert request(server, "/api/routes") == (200, [])
    assert request(server, "/api/schedules") == (200, [])
    # Schedules come in pages, as SCHEDULES answers them.
    for name in ("c", "a", "b"):
        assert client.call(f"SCHEDULE {name} mail every=1h 0", b"")[0] == "+OK"
    status, page = request(server, "/api/schedules?limit=2")
    assert status == 200 and [s["name"] for s in page] == ["a", "b"]
    assert [s["name"] for s in request(server, "/api/schedules?after=b")[1]] == ["c"]
    assert request(server, "/api/schedules?after=c&limit=1000") == (200, [])
    status, bad = request(server, "/api/schedules?limit=1001")
    assert status == 400 and bad["error"]["code"] == "BAD_OPTION"
    # Routes too, by id, as ROUTES answers them.
    for pattern in ("orders.a", "orders.b", "orders.c"):
        assert client.call(f"ROUTE {pattern} mail")[0].startswith("+OK")
    status, page = request(server, "/api/routes?limit=2")
    assert status == 200 and [r["pattern"] for r in page] == ["orders.a", "orders.b"]
    assert [r["pattern"] for r in request(server, f"/api/routes?after={page[-1]['id']}")[1]] == ["orders.c"]
    status, bad = request(server, "/api/routes?limit=1001")
    assert status == 400 and bad["error"]["code"] == "BAD_OPTION"
    status, connections = request(server, "/api/connections")
    assert status == 200 and connections["num_connections"] == 1
    status, series = request(server, "/api/series")
    assert status == 200 and series["interval_ms"] == 10000 and isinstance(series["queues"], dict)
    assert "listed" not in series and series["all"]["t"] == series["t"]
    # Narrowed to a page of the overview, or one queue, and to what is new: bad values are 400s.
    status, page = request(server, "/api/series?offset=0&limit=5&filter=mai")
    assert status == 200 and page["listed"] == ["mail"], page
    status, one = request(server, f"/api/series?queue=mail&since={series['now']}")
    assert status == 200 and one["listed"] == ["mail"] and one["t"] == [], one
    for bad in ["/api/series?since=soon", "/api/series?queue=no.such", "/api/series?limit=many"]:
        status, answer = request(server, bad)
        assert status == 400 and answer["error"]["code"] == "BAD_OPTION", (bad, answer)
    status, bad = request(server, "/api/jobs?queue=mail&state=running")
    assert status == 400 and bad["error"]["code"] == "BAD_OPTION"
    # A value with a blank would be several fields of the command: a GET must not change a
    # queue (it needs no CSRF token), nor smuggle options into a read.
    for smuggled in ["/api/queue?name=mail%20concurrency=7", "/api/queue?name=mail%09concurrency=7",
                     "/api/jobs?queue=mail&state=dead%20limit=1", "/api/job?id=1%0d%0aPING"]:
        status, bad = request(server, smuggled)
        assert status == 400 and bad["error"]["code"] == "BAD_OPTION", smuggled
    assert request(server, "/api/queue?name=mail")[1]["config"]["concurrency"] is None
    assert request(server, "/api/nope")[0] == 404
    status, js = request(server, "/dashboard/app.js")
    assert status == 200 and len(js) > 0
    # The icon the page names, and the one browsers ask for anyway: no 404 in the console.
    assert request(server, "/dashboard/favicon.svg")[1].startswith("<svg")
    assert request(server, "/favicon.ico")[1].startswith("<svg")


def test_the_overview_pages_its_queues_and_adds_up_all_of_them(server):
    """/api/overview lists a page of the queues (9,000 of them made 5.6 MB, built on the loop
    that serves every client), as /connz pages (offset=, limit=, 1,024 by default and at most);
    its summary still adds up every queue, for the cards."""
    client = Conn(server.port)
    names = [f"q{n:04}" for n in range(1030)]
    for name in names:
        assert client.call(f"ENQ {name} 1", b"x")[0].startswith("+OK")
    assert client.call("PAUSE q0007")[0] == "+OK"
    status, overview = request(server, "/api/overview")
    assert status == 200 and overview["total"] == 1030 and overview["offset"] == 0 and overview["limit"] == 1024
    assert [q["queue"] for q in overview["queues"]] == names[:1024]
    assert overview["summary"]["queues"] == 1030 and overview["summary"]["paused"] == 1
    assert overview["server"]["jobs"] == 1030
    status, page = request(server, "/api/overview?offset=1020&limit=100")
    assert [q["queue"] for q in page["queues"]] == names[1020:] and page["total"] == 1030 and page["limit"] == 100
    # No more than a page, whatever limit= asks.
    status, page = request(server, "/api/overview?limit=100000")
    assert page["limit"] == 1024 and len(page["queues"]) == 1024
    # The filter is applied before the page; the summary is of every queue still.
    status, page = request(server, "/api/overview?filter=Q100&limit=5")
    assert [q["queue"] for q in page["queues"]] == ["q1000", "q1001", "q1002", "q1003", "q1004"]
    assert page["total"] == 10 and page["summary"]["queues"] == 1030
    status, page = request(server, "/api/overview?offset=5000")
    assert page["queues"] == [] and page["total"] == 1030


def test_an_overview_offset_near_the_largest_number_is_an_empty_page(server):
    """offset + limit overflowed for an offset near 2^63, and the trap stopped docketd for
    everyone: one GET from any reader of the dashboard. It is an empty page, as past the end."""
    client = Conn(server.port)
    assert client.call("ENQ q 1", b"x")[0].startswith("+OK")
    for offset in (2**63 - 1, 2**63 - 1024, 2**63 - 1025):
        status, page = request(server, f"/api/overview?offset={offset}&limit=1024")
        assert status == 200 and page["queues"] == [] and page["total"] == 1 and page["offset"] == offset
    status, page = request(server, "/api/overview?offset=0")
    assert status == 200 and [q["queue"] for q in page["queues"]] == ["q"]
    assert client.call("INSPECT 1")[0].startswith("JSON ")


def test_events_are_remembered_and_streamed(server):
    client = Conn(server.port)
    # Looking at the dashboard turns event recording on; nothing is recorded before.
    request(server, "/api/overview")
    assert client.call("ENQ mail 1", b"x")[0] == "+OK 1"
    reply = client.call("RESERVE mail timeout=0")
    assert reply[0].startswith("JOB 1 ")
    assert client.call("ACK 1")[0] == "+OK"
    status, job = request(server, "/api/job?id=1")
    assert [e["event"] for e in job["events"]] == ["enqueued", "started", "completed"]

    lines = []
    sock = socket.create_connection(("127.0.0.1", server.http), timeout=5)
    sock.sendall(b"GET /api/events?queue=mail HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    reader = sock.makefile("rb")

    def read():
        for raw in reader:
            lines.append(raw.decode().rstrip("\r\n"))
    threading.Thread(target=read, daemon=True).start()
    deadline = time.time() + 5
    while not any(l.startswith("data: ") for l in lines) and time.time() < deadline:
        time.sleep(0.05)
    assert lines[0] == "HTTP/1.1 200 OK" and "Content-Type: text/event-stream" in lines
    # The remembered events first, then a live one.
    assert client.call("ENQ other 1", b"y")[0] == "+OK 2"  # another queue: not in this tail
    assert client.call("ENQ mail 1", b"z")[0] == "+OK 3"
    while sum(l.startswith("data: ") for l in lines) < 4 and time.time() < deadline:
        time.sleep(0.05)
    events = [json.loads(l[6:]) for l in lines if l.startswith("data: ")]
    assert [(e["id"], e["event"]) for e in events] == [(1, "enqueued"), (1, "started"), (1, "completed"), (3, "enqueued")]
    sock.close()


def test_the_event_stream_refuses_a_queue_name_no_queue_can_have(server):
    """Found by probing the API: /api/events?queue=<script> answered 200 and streamed nothing,
    forever, where every other endpoint refuses the name."""
    for name in ("%3Cscript%3E", "a.b", "a%2Fb", "x" * 129):
        status, error = request(server, "/api/events?queue=" + name)
        assert status == 400 and error["error"]["code"] == "BAD_QUEUE", (name, status, error)


def test_changes_need_the_token_and_this_origin(server):
    client = Conn(server.port)
    assert client.call("ENQ mail 1", b"x")[0] == "+OK 1"
    assert client.call("RESERVE mail timeout=0")[0].startswith("JOB 1 ")
    assert client.call("FAIL 1 retry=no")[0] == "+OK dead"
    status, error = request(server, "/api/job/retry?id=1", "POST")
    assert status == 403 and error["error"]["code"] == "CSRF"
    status, error = change(server, "/api/job/retry?id=1", csrf="0" * 64)
    assert status == 403 and error["error"]["code"] == "CSRF"
    status, error = change(server, "/api/queue/pause?name=mail", origin="http://evil.example")
    assert status == 403 and error["error"]["code"] == "CSRF"
    assert change(server, "/api/job/retry?id=1") == (200, {"ok": True})
    status, error = change(server, "/api/job/retry?id=1")
    assert status == 409 and error["error"]["code"] == "NOT_DEAD"
    assert change(server, "/api/queue/pause?name=mail") == (200, {"ok": True})
    assert request(server, "/api/queue?name=mail")[1]["paused"] is True
    assert change(server, "/api/queue/resume?name=mail") == (200, {"ok": True})
    assert change(server, "/api/queue/settings?name=mail", b"concurrency=4 rate=10/1s") == (200, {"ok": True})
    assert request(server, "/api/queue?name=mail")[1]["config"]["concurrency"] == 4
    status, error = change(server, "/api/queue/settings?name=mail", b"speed=11")
    assert status == 400 and error["error"]["code"] == "BAD_OPTION"
    status, error = change(server, "/api/queue/purge?name=mail&state=waiting%20older=1s")
    assert status == 400 and error["error"]["code"] == "BAD_OPTION"
    assert client.call("ENQ mail delay=1h 1", b"y")[0] == "+OK 2"
    assert change(server, "/api/job/promote?id=2") == (200, {"ok": True})
    assert change(server, "/api/queue/purge?name=mail&state=waiting") == (200, {"count": 2})
    assert change(server, "/api/job/delete?id=2")[0] == 404
    # A body past the limit is refused before it is read.
    status, _ = change(server, "/api/queue/settings?name=mail", b"x" * (65 << 10))
    assert status == 413


def test_beyond_loopback_without_users_it_is_read_only(tmp_path):
    server = Docketd("--addr", "0.0.0.0")
    try:
        status, overview = request(server, "/api/overview")
        assert status == 200 and overview["admin"] is False
        assert token(server)[1] == "false"
        status, error = change(server, "/api/queue/pause?name=mail")
        assert status == 403 and error["error"]["code"] == "FORBIDDEN"
    finally:
        server.stop()
    server = Docketd("--addr", "0.0.0.0", "--http-admin")
    try:
        assert token(server)[1] == "true"
        assert change(server, "/api/queue/pause?name=mail") == (200, {"ok": True})
    finally:
        server.stop()


def test_users_need_credentials_and_admin_rights(tmp_path):
    config = tmp_path / "docket.conf"
    config.write_text("""
authorization {
  users = [
    {user: boss, password: s3cret}
    {user: viewer, password: look}
  ]
}
docket {
  permissions {
    viewer: { read: mail }
  }
}
""")
    server = Docketd("-c", str(config))
    try:
        assert request(server, "/")[0] == 401
        assert request(server, "/api/overview")[0] == 401
        assert request(server, "/api/overview", auth="boss:wrong")[0] == 401
        status, overview = request(server, "/api/overview", auth="viewer:look")
        assert status == 200 and overview["admin"] is False
        assert token(server, auth="viewer:look")[1] == "false"
        status, error = change(server, "/api/queue/pause?name=mail", auth="viewer:look")
        assert status == 403 and error["error"]["code"] == "FORBIDDEN"
        assert request(server, "/api/connections", auth="viewer:look")[0] == 403
        assert token(server, auth="boss:s3cret")[1] == "true"
        assert change(server, "/api/queue/pause?name=mail", auth="boss:s3cret") == (200, {"ok": True})
        # The activity of a page of queues lists only those the reader may read.
        assert change(server, "/api/queue/pause?name=secret", auth="boss:s3cret") == (200, {"ok": True})
        assert request(server, "/api/series?offset=0", auth="boss:s3cret")[1]["listed"] == ["mail", "secret"]
        status, series = request(server, "/api/series?offset=0", auth="viewer:look")
        assert status == 200 and series["listed"] == ["mail"], series
    finally:
        server.stop()


def test_body_and_stream_backlog_limits_are_configurable():
    server = Docketd("--http-max-body", "16", "--http-max-stream-backlog", "4096")
    try:
        assert change(server, "/api/queue/settings?name=mail", b"concurrency=4") == (200, {"ok": True})
        assert change(server, "/api/queue/settings?name=mail", b"concurrency=4   rate=1/s")[0] == 413
        # A tail that stops reading is closed once 4 KiB wait unsent behind what the socket took.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.http))
        sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        time.sleep(0.3)
        producer = socket.create_connection(("127.0.0.1", server.port))
        producer.recv(4096)
        burst = b'CONNECT {"verbose":false}\r\n' + b"ENQ flood 1\r\nx\r\n" * 100000 + b"PING\r\n"
        producer.sendall(burst)
        reply = b""
        while not reply.endswith(b"PONG\r\n"):
            reply += producer.recv(1 << 20)
        # Now read: what the socket buffers held arrives, then the end of the stream (100,000
        # events are more than the kernel's buffers hold).
        sock.settimeout(5)
        received = b""
        while chunk := sock.recv(1 << 16):
            received += chunk
        assert received.startswith(b"HTTP/1.1 200 OK") and 0 < received.count(b"data: ") < 100000
        assert request(server, "/healthz")[0] == 200  # the server goes on
    finally:
        server.stop()


def _tail(server, queue, count, timeout=5):
    """The first `count` events of /api/events?queue=, or fewer if the stream closes first."""
    sock = socket.create_connection(("127.0.0.1", server.http), timeout=timeout)
    sock.sendall(f"GET /api/events?queue={queue} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    events = []
    try:
        for raw in sock.makefile("rb"):
            if raw.startswith(b"data: "):
                events.append(json.loads(raw[6:]))
                if len(events) == count:
                    break
    except socket.timeout:
        pass
    finally:
        sock.close()
    return events


def test_the_dashboard_keeps_the_start_of_long_errors_and_notes():
    """Found in the browser: a worker failing with a long reason (up to a payload, 1 MiB) made
    two events of that size (failed, dead), which the dashboard kept whole, 10,000 of them: 200
    such FAILs held 520 MB. A live view of the queue never showed a thing: its first events went
    past the stream's backlog, it was closed, reopened by the browser, closed again. The dashboard
    keeps the first 1,024 bytes of an error or note, cut before a character, and an ellipsis."""
    server = Docketd("--http-max-stream-backlog", "64KiB")
    try:
        client = Conn(server.port)
        request(server, "/api/overview")  # someone looks: events are recorded
        reason = ("é" * 60000).encode()  # 120,000 bytes, two to a character
        note = b"n" * 80000
        assert client.call("ENQ bulky attempts=1 1", b"x")[0] == "+OK 1"
        assert client.call("RESERVE bulky timeout=0")[0].startswith("JOB 1 ")
        assert client.call(f"PROGRESS 1 50 {len(note)}", note)[0] == "+OK"
        assert client.call(f"FAIL 1 retry=no {len(reason)}", reason)[0].startswith("+OK")
        kept = "é" * 512 + "\u2026"
        events = _tail(server, "bulky", 5)
        assert [e["event"] for e in events] == ["enqueued", "started", "progress", "failed", "dead"]
        assert events[2]["note"] == "n" * 1024 + "\u2026"
        assert events[3]["error"] == kept and events[4]["error"] == kept
        status, job = request(server, "/api/job?id=1")
        assert [e.get("error") for e in job["events"]][-2:] == [kept, kept]
        # The job itself keeps its whole last error.
        assert job["job"]["last_error"] == reason.decode()
    finally:
        server.stop()


def test_a_page_of_children_stops_at_the_reply_budget():
    """/api/job/children gives each child's whole INSPECT document, whose result and error may
    each be as large as a payload: a page of 100 made one answer of 100 payloads. The page stops
    at --max-payload's worth (the first child always shows), and its next goes on from there."""
    s = Docketd("--max-payload", "4096")
    try:
        conn = Conn(s.port)
        parent = int(conn.call("ENQ flows 1", b"p")[0].split()[1])
        kids = [int(conn.call(f"ENQ kids after={parent} 1", b"k")[0].split()[1]) for _ in range(3)]
        assert conn.call("RESERVE flows timeout=0")[0].startswith(f"JOB {parent} ")
        assert conn.call(f"ACK {parent}")[0] == "+OK"
        for kid in kids:
            assert conn.call("RESERVE kids timeout=0")[0].startswith(f"JOB {kid} ")
            assert conn.call(f"ACK {kid} 3000", b"r" * 3000)[0] == "+OK"
        shown, after = [], None
        for _ in range(len(kids)):
            status, page = request(s, f"/api/job/children?id={parent}" + (f"&after={after}" if after else ""))
            assert status == 200 and len(page["children"]) == 1, (status, len(json.dumps(page)))
            shown += [(c["id"], c["state"]) for c in page["children"]]
            after = page["next"]
            if after is None:
                break
        assert shown == [(kid, "completed") for kid in kids]
    finally:
        s.stop()


def _recount(server):
    """The overview's summary, added up from every queue's own document (/queues, page by page)."""
    sums = {"queues": 0, "paused": 0, "waiting_workers": 0, "started_per_s": 0.0, "completed_per_s": 0.0, "failed_per_s": 0.0}
    after = ""
    while True:
        status, page = request(server, f"/queues?limit=1024&after={after}")
        assert status == 200
        for queue in page:
            sums["queues"] += 1
            sums["paused"] += 1 if queue["paused"] else 0
            sums["waiting_workers"] += queue["waiting_workers"]
            for key in ("started_per_s", "completed_per_s", "failed_per_s"):
                sums[key] += queue["rates"][key]
        if len(page) < 1024:
            return sums
        after = page[-1]["queue"]


def test_the_overview_sums_equal_a_recount_across_many_changes(server):
    """The overview's summary is kept as queues change rather than added up per request (with
    10,000 queues that held the loop 250-320 ms): after every few of 400 seeded changes (jobs
    that start, complete, fail, die and are deleted, so that their queue is forgotten; pauses;
    workers that wait on several queues and go away) it equals a recount of every queue."""
    import random

    rng = random.Random(20261207)
    client = Conn(server.port)
    names = [f"o{n:02}" for n in range(40)]
    waiting = []  # connections waiting in RESERVE
    for step in range(400):
        name = rng.choice(names)
        roll = rng.random()
        if roll < 0.35:
            assert client.call(f"ENQ {name} 1", b"x")[0].startswith("+OK")
        elif roll < 0.6:
            reply, _ = client.call(f"RESERVE {name} timeout=0")
            if reply.startswith("JOB "):
                job = reply.split()[1]
                end = rng.random()
                if end < 0.4:
                    assert client.call(f"ACK {job}")[0] == "+OK"
                elif end < 0.7:
                    assert client.call(f"FAIL {job} retry=no")[0].startswith("+OK")
                    # Dead and deleted: a queue with nothing else is forgotten, its minute with it.
                    assert client.call(f"DEL {job}")[0] == "+OK"
                else:
                    assert client.call(f"FAIL {job}")[0].startswith("+OK")
        elif roll < 0.7:
            assert client.call(f"{rng.choice(['PAUSE', 'RESUME'])} {name}")[0] == "+OK"
        elif roll < 0.85:
            worker = Conn(server.port)
            # On queues no job comes to, made by the wait and forgotten when the last one goes.
            queues = ",".join(rng.sample([f"w{n}" for n in range(6)], 3))
            worker.sock.sendall(f"RESERVE {queues} timeout=1m\r\n".encode())
            waiting.append(worker)
        elif waiting:
            gone = waiting.pop(rng.randrange(len(waiting)))
            gone.file.close()
            gone.sock.close()
        if step % 20 == 19:
            # The workers that came wait, and those that went are gone (their sockets are
            # read in their own turn).
            deadline = time.time() + 10
            while True:
                connections = request(server, "/connz")[1]["connections"]
                if len(connections) == 1 + len(waiting) and sum(c["waiting_for_job"] for c in connections) == len(waiting):
                    break
                assert time.time() < deadline, connections
                time.sleep(0.01)
            status, overview = request(server, "/api/overview?limit=1")
            assert status == 200
            recount = _recount(server)
            summary = overview["summary"]
            for key in ("started_per_s", "completed_per_s", "failed_per_s"):
                assert abs(summary.pop(key) - recount.pop(key)) < 1e-9, (step, key)
            assert summary == recount, step
            assert overview["total"] == recount["queues"]
    for worker in waiting:
        worker.sock.close()


def test_the_queue_page_shows_the_oldest_wait_as_queue_does(server):
    """`oldest_waiting_ms` on /api/queue is QUEUE's: a job held back by its group, enqueued with an
    `at=` an hour ago, has waited moments (from its ENQ), not the hour, on both."""
    client = Conn(server.port)
    assert client.call("QUEUE par group_rate=1/1h")[0].startswith(("+OK", "JSON "))
    assert client.call("ENQ par group=g 1", b"x")[0].startswith("+OK")
    assert client.call("RESERVE par timeout=0")[0].startswith("JOB ")
    assert client.call(f"ENQ par group=g at={int(time.time()) - 3600} 1", b"x")[0].startswith("+OK")
    # Its group's window is full: this RESERVE parks it, and it stays waiting.
    assert client.call("RESERVE par timeout=0")[0] == "NOJOB"
    reply, body = client.call("QUEUE par")
    by_wire = json.loads(body)["oldest_waiting_ms"]
    status, page = request(server, "/api/queue?name=par")
    assert status == 200 and page["jobs"]["waiting"] == 1
    assert 0 <= by_wire <= page["oldest_waiting_ms"] < 1_800_000, (by_wire, page["oldest_waiting_ms"])
