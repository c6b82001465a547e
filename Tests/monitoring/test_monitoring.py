"""The HTTP monitoring endpoint, checked from outside: every route over real HTTP, /metrics
parsed back by prometheus_client's parser plus the structural rules it does not enforce, and
the issue's scenario: a queue limited to 100 starts per second and 4 at once, 10 workers, and
the limits visible in /metrics and QUEUE while they hold."""

import json
import os
import re
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

DOCKETD = os.environ.get("DOCKETD")
pytestmark = pytest.mark.skipif(not DOCKETD, reason="set DOCKETD to a docketd binary")


class Docketd:
    """A docketd on free loopback ports (protocol and HTTP) with a temporary data dir."""

    def __init__(self, *flags):
        self.dir = tempfile.TemporaryDirectory()
        self.proc = subprocess.Popen(
            [DOCKETD, "--port", "0", "-m", "0", "--data-dir", self.dir.name + "/data", *flags],
            stderr=subprocess.PIPE, text=True)
        self.log = []
        deadline = time.time() + 10
        for line in self.proc.stderr:
            self.log.append(line)
            if m := re.search(r"client connections on (?:127\.0\.0\.1|0\.0\.0\.0):(\d+)", line):
                self.port = int(m.group(1))
            if m := re.search(r"monitoring connections on https?://(?:127\.0\.0\.1|0\.0\.0\.0):(\d+)", line):
                self.http = int(m.group(1))
            if "Server is ready" in line or time.time() > deadline:
                break
        threading.Thread(target=lambda: [self.log.append(l) for l in self.proc.stderr], daemon=True).start()

    def get(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}{path}", timeout=5) as response:
            return response.status, response.headers.get("Content-Type"), response.read().decode()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.dir.cleanup()


class Conn:
    """A minimal protocol client: one command, one reply (job verbs always answer)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")
        self.file.readline()  # INFO
        self.sock.sendall(b'CONNECT {"verbose":false}\r\n')

    def call(self, line, payload=None):
        data = line.encode() + b"\r\n"
        if payload is not None:
            data += payload + b"\r\n"
        self.sock.sendall(data)
        reply = self.file.readline().decode().rstrip("\r\n")
        if reply.startswith(("JOB ", "JSON ")):
            size = int(reply.rsplit(" ", 1)[1])
            body = self.file.read(size + 2)[:-2]
            return reply, body
        return reply, None


@pytest.fixture
def server():
    s = Docketd()
    yield s
    s.stop()


def check_exposition(text):
    """prometheus_client's parser is lenient; also check what it lets through: every sample
    belongs to a family declared once with HELP and TYPE before it, and histograms are
    cumulative with +Inf equal to _count."""
    families = list(text_string_to_metric_families(text))
    declared = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
    names = [name for name, _ in declared]
    assert len(names) == len(set(names)), "a family is declared twice"
    assert len(re.findall(r"^# HELP ", text, re.M)) == len(names)
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in names or base in names, f"undeclared sample {line}"
    for family in families:
        if family.type != "histogram":
            continue
        buckets = {}
        counts = {}
        for sample in family.samples:
            queue = sample.labels.get("queue")
            if sample.name.endswith("_bucket"):
                buckets.setdefault(queue, []).append((sample.labels["le"], sample.value))
            elif sample.name.endswith("_count"):
                counts[queue] = sample.value
        for queue, series in buckets.items():
            values = [v for _, v in series]
            assert values == sorted(values), f"{family.name} not cumulative for {queue}"
            assert series[-1][0] == "+Inf" and series[-1][1] == counts[queue]
    return {f.name: f for f in families}


def test_every_route_answers(server):
    """healthz, varz, connz, queues answer JSON; metrics answers the text format; unknown paths 404."""
    client = Conn(server.port)
    assert client.call("ENQ mail 2", b"hi")[0] == "+OK 1"
    status, kind, body = server.get("/healthz")
    assert status == 200 and kind == "application/json" and json.loads(body) == {"status": "ok"}
    varz = json.loads(server.get("/varz")[2])
    assert varz["version"].startswith("2.") and varz["jobs"] == 1 and varz["connections"] == 1
    connz = json.loads(server.get("/connz")[2])
    assert connz["num_connections"] == 1 and connz["connections"][0]["ip"] == "127.0.0.1"
    queues = json.loads(server.get("/queues")[2])
    assert queues[0]["queue"] == "mail" and queues[0]["jobs"]["waiting"] == 1
    status, kind, text = server.get("/metrics")
    assert status == 200 and kind.startswith("text/plain; version=0.0.4")
    check_exposition(text)
    with pytest.raises(urllib.error.HTTPError) as missing:
        server.get("/nope")
    assert missing.value.code == 404


def test_limits_hold_and_show_in_metrics(server):
    """100 starts per second and 4 at once, 10 workers: never more than 4 active, never more
    than 100 started in any second, and /metrics and QUEUE say so."""
    control = Conn(server.port)
    assert control.call("QUEUE render rate=100/1s concurrency=4")[0] == "+OK"
    for n in range(150):
        assert control.call("ENQ render 1", str(n % 10).encode())[0].startswith("+OK")
    starts = []
    lock = threading.Lock()
    peak = [0]
    active = [0]

    def worker():
        conn = Conn(server.port)
        while True:
            reply, _ = conn.call("RESERVE render timeout=1500ms")
            if reply == "NOJOB":
                return
            job = reply.split()[1]
            with lock:
                starts.append(time.monotonic())
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.02)  # the "work"
            with lock:
                active[0] -= 1
            assert conn.call(f"ACK {job}")[0] == "+OK"

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    seen_active = []
    while any(t.is_alive() for t in threads):
        families = check_exposition(server.get("/metrics")[2])
        for sample in families["docket_jobs"].samples:
            if sample.labels == {"queue": "render", "state": "active"}:
                seen_active.append(sample.value)
        time.sleep(0.05)
    for t in threads:
        t.join()
    assert len(starts) == 150
    assert peak[0] <= 4
    assert max(seen_active) <= 4 and max(seen_active) >= 1
    starts.sort()
    # Client-side clocks see starts a little after the server made them; allow a small skew.
    for i, t0 in enumerate(starts):
        assert sum(1 for t in starts[i:] if t < t0 + 0.95) <= 100
    families = check_exposition(server.get("/metrics")[2])
    started = {s.labels["queue"]: s.value for s in families["docket_jobs_started"].samples if s.name.endswith("_total")}
    assert started["render"] == 150
    waits = [s for s in families["docket_job_wait_seconds"].samples
             if s.name.endswith("_count") and s.labels["queue"] == "render"]
    assert waits[0].value == 150
    _, body = control.call("QUEUE render")
    queue = json.loads(body)
    assert queue["config"]["concurrency"] == 4 and queue["config"]["rate"] == "100/1000ms"
    assert queue["totals"]["completed"] == 150 and queue["jobs"]["active"] == 0
    # Every ENQ and ACK went through a commit; their total time is counted and plausible.
    commits = families["docket_store_commits"].samples[0].value
    commit_seconds = families["docket_store_commit_seconds"].samples[0].value
    assert commits >= 1 and 0 < commit_seconds < 60


def test_https_with_the_client_ports_certificate(tmp_path):
    """With TLS on, the monitoring port speaks HTTPS with the same certificate. A plain request
    still gets what needs no credentials (/healthz, /varz's INFO fields: nats-server's port is
    plain HTTP, and NATS test harnesses poll /varz), but credentials sent in clear are ignored."""
    import base64
    import ssl

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=Docket Test CA")
    (tmp_path / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    s = Docketd("--tls", "--tlscert", str(tmp_path / "server.pem"), "--tlskey", str(tmp_path / "server.key"),
                "--user", "ops", "--pass", "s3cret")
    credentials = {"Authorization": "Basic " + base64.b64encode(b"ops:s3cret").decode()}

    def get(scheme, path, headers=None):
        context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem")) if scheme == "https" else None
        request = urllib.request.Request(f"{scheme}://127.0.0.1:{s.http}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    try:
        assert any("monitoring connections on https://" in line for line in s.log)
        for path in ("/healthz", "/varz", "/queues", "/metrics", "/connz"):
            assert get("https", path, credentials)[0] == 200, path
        assert get("https", "/connz")[0] == 401
        assert get("http", "/healthz")[0] == 200
        status, body = get("http", "/varz", credentials)
        assert status == 200 and '"tls_required":true' in body and "in_msgs" not in body
        assert get("http", "/connz", credentials)[0] == 403
        assert get("http", "/metrics")[0] == 403
        # The dashboard too: a 401 would have the browser prompt and send the password in clear.
        for path in ("/", "/api/overview"):
            status, body = get("http", path, credentials)
            assert status == 403 and "https://" in body, path
        assert get("https", "/api/overview", credentials)[0] == 200
    finally:
        s.stop()


def alive(server):
    """Whether the server still answers a PING on the protocol port and /healthz."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    file = sock.makefile("rb")
    file.readline()
    sock.sendall(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
    answered = file.readline() == b"PONG\r\n"
    sock.close()
    return answered and server.proc.poll() is None and server.get("/healthz")[0] == 200


def test_the_last_job_event_subscriber_leaving_keeps_the_server_up(server):
    """With no dashboard request yet, the last $JOB subscriber going (UNSUB or disconnect)
    re-decides whether events are recorded; that decision once overflowed and killed docketd."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    file = sock.makefile("rb")
    file.readline()
    sock.sendall(b"CONNECT {\"verbose\":false}\r\nSUB $JOB.> 1\r\nUNSUB 1\r\nSUB > 2\r\nPING\r\n")
    assert file.readline() == b"PONG\r\n"
    sock.close()
    time.sleep(0.3)
    assert alive(server)


def test_an_unwatched_monitoring_port_survives_the_dashboard_tick(server):
    """The dashboard's 10-second tick runs with nobody looking and nobody subscribed."""
    time.sleep(11.5)
    assert alive(server), "".join(server.log[-20:])


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _json_types(document):
    """Each field's JSON type (a list's entries by the first one's fields), for comparing shapes."""
    kinds = {}
    for key, value in document.items():
        kinds[key] = type(value).__name__ if not isinstance(value, bool) else "bool"
        if isinstance(value, int) and not isinstance(value, bool):
            kinds[key] = "number"
        if isinstance(value, float):
            kinds[key] = "number"
    return kinds


def _subscribe_on(port, lines):
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    file = sock.makefile("rb")
    file.readline()
    sock.sendall(b'CONNECT {"verbose":false}\r\n' + lines + b"PING\r\n")
    assert file.readline() == b"PONG\r\n"
    return sock


def test_subsz_and_routez_as_nats_servers(server):
    """prometheus-nats-exporter (-subz, -routez) and other NATS tooling poll /subsz and /routez:
    they answer, with nats-server's field names and JSON types, and the counts are true."""
    sock = _subscribe_on(server.port, b"SUB orders.* 1\r\nSUB work workers 2\r\nSUB gone 3\r\nUNSUB 3\r\nUNSUB 2 5\r\n")
    try:
        # (UNSUB 2 5 leaves the subscription until 5 messages: still counted, with its max.)
        sock.sendall(b"PUB orders.new 2\r\nhi\r\nPING\r\n")
        sock.makefile("rb").readline()
        subsz = json.loads(server.get("/subsz")[2])
        assert subsz["num_subscriptions"] == 2 and subsz["num_inserts"] == 3 and subsz["num_removes"] == 1
        detail = json.loads(server.get("/subsz?subs=1")[2])
        assert (detail["total"], detail["offset"], detail["limit"]) == (2, 0, 1024)
        entries = {e["sid"]: e for e in detail["subscriptions_list"]}
        assert set(entries) == {"1", "2"}
        assert entries["1"]["subject"] == "orders.*" and entries["1"]["msgs"] == 1 and entries["1"]["account"] == "$G"
        assert entries["2"]["qgroup"] == "workers" and entries["2"]["max"] == 5
        assert entries["1"]["cid"] == entries["2"]["cid"]
        paged = json.loads(server.get("/subsz?subs=1&offset=1&limit=1")[2])
        assert paged["total"] == 2 and [e["sid"] for e in paged["subscriptions_list"]] == ["2"]
        assert json.loads(server.get("/subscriptionsz")[2])["num_subscriptions"] == 2
        routez = json.loads(server.get("/routez")[2])
        assert routez["num_routes"] == 0 and routez["routes"] == []
    finally:
        sock.close()
    # The same documents from nats-server itself, when it is installed: every field docketd
    # gives has nats-server's name and JSON type.
    import shutil
    if not shutil.which("nats-server"):
        return
    port, http = _free_port(), _free_port()
    nats = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(port), "-m", str(http)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", http), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline, "nats-server did not start"
                time.sleep(0.1)
        theirs_sock = _subscribe_on(port, b"SUB orders.* 1\r\nSUB work workers 2\r\nUNSUB 2 5\r\n")
        mine_sock = _subscribe_on(server.port, b"SUB orders.* 1\r\nSUB work workers 2\r\nUNSUB 2 5\r\n")
        try:
            def theirs(path):
                with urllib.request.urlopen(f"http://127.0.0.1:{http}{path}", timeout=5) as response:
                    return json.load(response)
            for path in ("/subsz?subs=1", "/routez"):
                ours, reference = _json_types(json.loads(server.get(path)[2])), _json_types(theirs(path))
                assert {k: v for k, v in ours.items() if reference.get(k) != v} == {}, path
            mine = json.loads(server.get("/subsz?subs=1")[2])["subscriptions_list"]
            reference_entries = theirs("/subsz?subs=1")["subscriptions_list"]
            reference = {}
            for entry in reference_entries:
                reference.update(_json_types(entry))
            for entry in mine:
                assert {k: v for k, v in _json_types(entry).items() if reference.get(k) != v} == {}, entry
        finally:
            theirs_sock.close()
            mine_sock.close()
    finally:
        nats.terminate()
        nats.wait(5)


def test_subsz_and_connz_answer_at_most_1024_entries_whatever_the_limit(server):
    """/subsz?subs=1 and /connz are built in one step on the loop that serves every client:
    limit=100000000 listed every subscription (200,000 made 13.8 MB and held every other client
    3.8 s). A page holds at most 1,024, says so in `limit`, and offset= pages on."""
    sock = _subscribe_on(server.port, b"".join(b"SUB s.%d %d\r\n" % (n, n) for n in range(1, 1501)))
    try:
        first = json.loads(server.get("/subsz?subs=1&limit=100000000")[2])
        assert (first["total"], first["limit"], len(first["subscriptions_list"])) == (1500, 1024, 1024)
        rest = json.loads(server.get("/subsz?subs=1&offset=1024&limit=100000000")[2])
        sids = [e["sid"] for e in first["subscriptions_list"] + rest["subscriptions_list"]]
        assert sorted(sids, key=int) == [str(n) for n in range(1, 1501)]
        connz = json.loads(server.get("/connz?limit=100000000")[2])
        assert connz["limit"] == 1024 and connz["total"] == connz["num_connections"] >= 1
    finally:
        sock.close()


def test_subsz_needs_the_right_to_read_everything(tmp_path):
    """Subjects say what the clients do: with users, /subsz and /routez need credentials."""
    s = Docketd("--user", "ops", "--pass", "s3cret")
    try:
        for path in ("/subsz", "/subsz?subs=1", "/routez"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                s.get(path)
            assert refused.value.code == 401, path
    finally:
        s.stop()


def test_connz_reads_its_query_as_nats_servers(server):
    """nats-top and other tools ask /connz for an order (sort=), one connection (cid=), closed
    ones (state=closed) and subscriptions (subs=1, subs=detail); limit=0 means the default."""
    socks = []
    for n, (subs, pubs) in enumerate([(2, 1), (5, 0), (1, 4)]):
        socks.append(_subscribe_on(server.port, b"".join(f"SUB s{n}.{i} {i}\r\n".encode() for i in range(subs)) + b"PUB x 3\r\nabc\r\n" * pubs))
        time.sleep(0.02)  # uptimes a few milliseconds apart
    try:
        def get(query):
            return json.loads(server.get("/connz" + query)[2])

        def order(query):
            return [(c["subscriptions"], c["in_msgs"]) for c in get(query)["connections"]]

        assert order("") == [(2, 1), (5, 0), (1, 4)]
        assert order("?sort=subs") == [(5, 0), (2, 1), (1, 4)]
        assert order("?sort=msgs_from") == [(1, 4), (2, 1), (5, 0)]
        assert order("?sort=bytes_from&limit=1") == [(1, 4)]
        assert order("?sort=uptime") == [(1, 4), (5, 0), (2, 1)]  # newest first, as nats-server
        cids = [c["cid"] for c in get("")["connections"]]
        one = get(f"?cid={cids[1]}")
        assert [c["cid"] for c in one["connections"]] == [cids[1]]
        assert get("?state=closed")["connections"] == []
        assert len(get("?state=all")["connections"]) == 3
        assert get("?limit=0")["limit"] == 1024 and len(get("?limit=0")["connections"]) == 3
        listed = get(f"?cid={cids[0]}&subs=1")["connections"][0]
        assert listed["subscriptions_list"] == ["s0.0", "s0.1"]
        detail = get(f"?cid={cids[0]}&subs=detail")["connections"][0]["subscriptions_list_detail"]
        assert [(d["subject"], d["sid"], d["cid"]) for d in detail] == [("s0.0", "0", cids[0]), ("s0.1", "1", cids[0])]
        for query, reason in (("?sort=bogus", "invalid sorting option"), ("?sort=stop", "only valid on closed"),
                              ("?state=sleeping", "invalid connection state"), ("?sort=idle", "last activity")):
            with pytest.raises(urllib.error.HTTPError) as refused:
                server.get("/connz" + query)
            assert refused.value.code == 400 and reason in refused.value.read().decode(), query
    finally:
        for sock in socks:
            sock.close()


def test_a_page_number_that_is_not_a_number_is_refused(server):
    """offset= and limit= of /connz, /subsz and the dashboard's /api/overview read as
    nats-server's decodeInt: a whole number (negative ones count as 0 or the default), and
    anything else a 400, never the default page (limit=1O, a typo, answered every entry);
    auth= and subs= as its decodeBool: Go's true and false words, else a 400 (auth=yes was a
    silent false)."""
    for path in ("/connz", "/subsz?subs=1", "/subsz", "/subscriptionsz?subs=1"):
        separator = "&" if "?" in path else "?"
        assert server.get(f"{path}{separator}offset=-1&limit=-5")[0] == 200
        queries = ("offset=abc", "limit=1O", "limit=2.5") + (("subs=yes",) if path == "/subsz" else ())
        queries += ("auth=yes", "subs=on") if path == "/connz" else ()
        for query in queries:
            with pytest.raises(urllib.error.HTTPError) as refused:
                server.get(f"{path}{separator}{query}")
            name, value = query.split("=")
            assert refused.value.code == 400, (path, query)
            assert f"invalid {name}: {value}" in refused.value.read().decode(), (path, query)
    assert json.loads(server.get("/api/overview?offset=-1&limit=0")[2])["limit"] == 1024
    with pytest.raises(urllib.error.HTTPError) as refused:
        server.get("/api/overview?limit=1O")
    error = json.loads(refused.value.read())["error"]
    assert refused.value.code == 400 and error["code"] == "BAD_OPTION" and "invalid limit: 1O" in error["message"]


def test_varz_has_the_fields_nats_top_and_exporters_read(server):
    """nats-top shows /varz's cpu; exporters read the limits too: present, with nats-server's
    JSON types (its own /varz compared when nats-server is installed)."""
    Conn(server.port)
    varz = json.loads(server.get("/varz")[2])
    assert isinstance(varz["cpu"], (int, float)) and 0 <= varz["cpu"] < 400
    assert (varz["http_host"], varz["https_port"]) == ("127.0.0.1", 0)
    assert varz["auth_timeout"] == 2 and varz["write_deadline"] == 10_000_000_000
    import shutil
    if not shutil.which("nats-server"):
        return
    port, http = _free_port(), _free_port()
    nats = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(port), "-m", str(http)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http}/varz", timeout=1) as response:
                    reference = _json_types(json.load(response))
                break
            except OSError:
                assert time.time() < deadline, "nats-server did not start"
                time.sleep(0.1)
        ours = _json_types(varz)
        assert {k: (v, reference[k]) for k, v in ours.items() if k in reference and reference[k] != v} == {}
        for key in ("cpu", "mem", "cores", "uptime", "start", "now", "connections", "in_msgs", "out_msgs", "in_bytes", "out_bytes",
                    "slow_consumers", "subscriptions", "http_host", "http_port", "https_port", "auth_timeout", "write_deadline"):
            assert key in ours and key in reference, key
    finally:
        nats.terminate()
        nats.wait(5)


def test_queues_comes_a_page_at_a_time_with_a_name_cursor(server):
    """/queues listed every queue in one document: with 100,000 queues, tens of megabytes built on
    the loop that serves every client. It answers at most 1,024 (or limit=) by name, those after
    after=; a page that is full may have a next one, asked for with its last name."""
    names = [f"q-{n:05}" for n in range(1030)]
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    reader = sock.makefile("rb")
    reader.readline()
    sock.sendall(b'CONNECT {"verbose":false}\r\n' + b"".join(f"ENQ {name} 1\r\nx\r\n".encode() for name in reversed(names)))
    assert all(reader.readline().startswith(b"+OK") for _ in names)
    sock.close()

    first = json.loads(server.get("/queues")[2])
    assert [q["queue"] for q in first] == names[:1024]
    rest = json.loads(server.get("/queues?after=" + first[-1]["queue"])[2])
    assert [q["queue"] for q in rest] == names[1024:]
    # Small pages, walked to the end: every queue once, in order.
    seen, after = [], ""
    while True:
        page = json.loads(server.get(f"/queues?limit=300&after={after}")[2])
        assert len(page) <= 300
        seen += [q["queue"] for q in page]
        if len(page) < 300:
            break
        after = page[-1]["queue"]
    assert seen == names
    # A cursor need not be a queue's name: the queues that sort after it.
    assert [q["queue"] for q in json.loads(server.get("/queues?after=q-01025x&limit=2")[2])] == ["q-01026", "q-01027"]
    for bad in ("0", "1025", "-1", "ten"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            server.get("/queues?limit=" + bad)
        assert refused.value.code == 400
        assert "limit" in refused.value.read().decode()


def _resident_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) << 10
    raise AssertionError("no VmRSS")


def _scrape_raw(port, path="/metrics"):
    """(head, body) of one GET read to the end, the body's chunks (if chunked) as they came."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    data = bytearray()
    while chunk := sock.recv(1 << 20):
        data += chunk
    sock.close()
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    return head.decode(), body


def _dechunk(body):
    """The chunks of a chunked body; the last (empty) one must be there."""
    chunks, at = [], 0
    while True:
        end = body.index(b"\r\n", at)
        size = int(body[at:end], 16)
        chunks.append(body[end + 2:end + 2 + size])
        assert body[end + 2 + size:end + 4 + size] == b"\r\n"
        at = end + 4 + size
        if size == 0:
            assert at == len(body)
            return chunks[:-1]


@pytest.fixture
def every_queue_in_metrics():
    s = Docketd("--metrics-max-queues", "10000")
    yield s
    s.stop()


def test_metrics_of_10000_queues_come_in_slices_and_a_scraper_that_does_not_read_holds_one(every_queue_in_metrics):
    """/metrics of 10,000 queues is some 27 MB. Written in one step it held the loop (0.10-0.12 s
    release, seconds in debug) and stayed whole in the connection's buffer until read: eight
    scrapers that never read held 8 x 27 MB. It is written a slice of whole lines at a time, each
    a chunk, the next made only when the last is in the socket."""
    server = every_queue_in_metrics
    client = Conn(server.port)
    for start in range(0, 10_000, 1000):
        client.sock.sendall(b"".join(b"ENQ m%05d 1\r\nx\r\n" % n for n in range(start, start + 1000)))
        for _ in range(1000):
            assert client.file.readline().startswith(b"+OK")
    head, body = _scrape_raw(server.http)
    assert head.startswith("HTTP/1.1 200 ") and "Transfer-Encoding: chunked" in head and "Content-Length" not in head
    chunks = _dechunk(body)
    assert len(chunks) > 10 and all(chunk.endswith(b"\n") for chunk in chunks)
    text = b"".join(chunks).decode()
    families = check_exposition(text)
    jobs = {s.labels["queue"]: s.value for s in families["docket_jobs"].samples if s.labels["state"] == "waiting"}
    assert len(jobs) == 10_000 and set(jobs.values()) == {1}
    assert text.endswith('docket_job_run_seconds_count{queue="m09999"} 0\n')

    before = _resident_bytes(server.proc.pid)
    idle = []
    for _ in range(8):
        sock = socket.create_connection(("127.0.0.1", server.http), timeout=60)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        idle.append(sock)
    for sock in idle:
        assert sock.recv(1, socket.MSG_PEEK) == b"H"  # answered, and left unread
    # Everyone else is still served meanwhile.
    client.sock.sendall(b"PING\r\n")
    assert client.file.readline() == b"PONG\r\n"
    grown = _resident_bytes(server.proc.pid) - before
    print("grown", grown, len(text))
    assert grown < 2 * len(text), (grown, len(text))
    for sock in idle:
        sock.close()
    # And the next scrape is whole.
    assert _dechunk(_scrape_raw(server.http)[1])[-1].endswith(b'docket_job_run_seconds_count{queue="m09999"} 0\n')


def test_metrics_give_series_of_their_own_to_the_first_queues_by_name_and_count_the_rest(server):
    """Series per queue are bounded (--metrics-max-queues, 1,000 by default): 1,200 queues made in
    no order of their names get series for the first 1,000 by name, every per-queue family the
    same queues, and docket_metrics_queues_omitted says 200 have none."""
    client = Conn(server.port)
    names = [b"m%05d" % ((n * 7919) % 1200) for n in range(1200)]
    client.sock.sendall(b"".join(b"ENQ " + name + b" 1\r\nx\r\n" for name in names))
    for _ in names:
        assert client.file.readline().startswith(b"+OK")
    families = check_exposition(server.get("/metrics")[2])
    first = {"m%05d" % n for n in range(1000)}
    for name in ("docket_jobs", "docket_jobs_enqueued", "docket_queue_paused", "docket_job_wait_seconds"):
        assert {s.labels["queue"] for s in families[name].samples} == first, name
    assert families["docket_metrics_queues_omitted"].samples[0].value == 200
