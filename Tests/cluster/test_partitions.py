"""Three docketd nodes and PostgreSQL on a real (private) network, with the faults a network has:
packets dropped without a word (no RST, no FIN), both ways or one way only. Each host is a network
namespace (netns.py); the nodes carry messages through their own routes and keep their jobs in
the one PostgreSQL. What README's *Cluster* and *Several nodes on one database* promise is
checked under each fault: a silent peer is noticed within the ping bounds and the route is made
again after the heal, once; queue groups spanning nodes give a message to one member; a node cut
from the database loses its jobs to the others after `--node-timeout` and its late ACK is
refused; /healthz and /varz tell each side the truth.

Skipped (with the reason) where namespaces cannot be made (not root, no `ip`/`tc`). Every
namespace made is deleted at the end, on failure too. Bounded: about a minute in all.
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

import netns

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "parity"))
from cluster import server_binaries  # noqa: E402
from parity import Client  # noqa: E402

DOCKETD = os.environ.get("DOCKETD")
NETNS_UNAVAILABLE = netns.available()
pytestmark = [
    pytest.mark.skipif(not DOCKETD, reason="needs DOCKETD"),
    pytest.mark.skipif(server_binaries() is None, reason="needs PostgreSQL's server programs"),
    pytest.mark.skipif(NETNS_UNAVAILABLE is not None, reason=NETNS_UNAVAILABLE or ""),
]
NODES = 3
CLIENT_PORT, HTTP_PORT, ROUTE_PORT, PG_PORT = 4222, 8222, 6222, 5432
PG_ADDRESS = "10.77.1.2"
# Each bound below is derived from these flags, so the test is quick and says why it waits.
PING_S, PINGS_OUT = 1, 2
NODE_TIMEOUT_S = 3
STORE_TIMEOUT_S = 3
# A silent route is closed at the ping after `PINGS_OUT` unanswered ones: at most
# (PINGS_OUT + 1) ping intervals after the last word from the peer; one more for the timer's phase.
NOTICE_BOUND_S = (PINGS_OUT + 2) * PING_S + 2
# A refused or failed route is tried again once a second, a connect waits at most 2 s.
REJOIN_BOUND_S = 15
START_BOUND_S = 60


class Answering(Client):
    """A client that answers the server's PINGs, should one come while it reads."""

    def reply(self) -> str:
        while True:
            reply = super().reply()
            if reply != "PING":
                return reply
            self.sock.sendall(b"PONG\r\n")


def wait_until(what: str, condition, bound: float) -> float:
    """Seconds it took for `condition` to hold; fails past `bound`."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > bound:
            raise AssertionError("not within %.0f s: %s" % (bound, what))
        time.sleep(0.05)
    return time.monotonic() - began


class Namespaced:
    """docketd processes on hosts of a netns.Network, each listening on CLIENT_PORT and HTTP_PORT
    in its own namespace, and the clients the test opens there. `close` ends every process and
    deletes every namespace; a start that fails does so too."""

    def __init__(self, prefix: str) -> None:
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.net = netns.Network()
        self.procs: list[subprocess.Popen] = []
        self.clients: list[Answering] = []
        self.logs: dict[str, str] = {}

    def start_docketd(self, host: str, flags: list[str], env: dict[str, str] | None = None) -> None:
        log_path = os.path.join(self.dir, host + ".log")
        self.logs[host] = log_path
        with open(log_path, "w") as log:
            proc = self.net.run(host, [DOCKETD, "--port", str(CLIENT_PORT), "-a", "0.0.0.0", "--http-port", str(HTTP_PORT),
                                       "--data-dir", os.path.join(self.dir, host + "-data"), *flags],
                                stdout=log, stderr=log, env=dict(os.environ, **(env or {})))
        self.procs.append(proc)
        wait_until("%s ready" % host, lambda: "Server is ready" in self.log(host) or proc.poll() is not None, START_BOUND_S)
        assert proc.poll() is None, self.log(host)[-2000:]

    def log(self, host: str) -> str:
        with open(self.logs[host], errors="replace") as f:
            return f.read()

    def client(self, i: int) -> Answering:
        with netns.inside(self.net.namespace("node%d" % i)):
            made = Answering(CLIENT_PORT)
        self.clients.append(made)
        return made

    def http(self, i: int, path: str) -> tuple[int, dict]:
        with netns.inside(self.net.namespace("node%d" % i)):
            connection = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=10)
            connection.connect()
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def close(self) -> None:
        for c in self.clients:
            c.close()
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        self.net.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Hosts(Namespaced):
    """The network, PostgreSQL on host `db`, and docketd on hosts node0..node2, routed to each
    other, their routes pinged every PING_S (clients every two minutes, as by default)."""

    def __init__(self) -> None:
        super().__init__("docket-partition-")
        self.pg_data = None
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        self.net.add_host("db", {"db": 2})
        for i in range(NODES):
            self.net.add_host("node%d" % i, {"net": 10 + i, "db": 10 + i})
        self._start_postgres()
        for i in range(NODES):
            others = ",".join("nats://10.77.0.%d:%d" % (10 + j, ROUTE_PORT) for j in range(NODES) if j != i)
            self.start_docketd("node%d" % i, [
                "--store", "postgres://docket@%s:%d/partition" % (PG_ADDRESS, PG_PORT),
                "--node-timeout", "%ds" % NODE_TIMEOUT_S, "--store-timeout", "%ds" % STORE_TIMEOUT_S,
                "--cluster", "nats://10.77.0.%d:%d" % (10 + i, ROUTE_PORT), "--cluster-name", "partition", "--routes", others],
                # By the environment, so that a docketd without these settings still starts.
                env={"DOCKET_ROUTE_PING_INTERVAL": "%ds" % PING_S, "DOCKET_ROUTE_MAX_PINGS_OUT": str(PINGS_OUT)})
        for i in range(NODES):
            wait_until("node%d has a route to each other node" % i, lambda i=i: self.route_count(i) == NODES - 1, START_BOUND_S)

    def _start_postgres(self) -> None:
        binaries = server_binaries()
        as_postgres = ["runuser", "-u", "postgres", "--"]
        shutil.chown(self.dir, "postgres")
        self.pg_data = os.path.join(self.dir, "pg")
        subprocess.run(as_postgres + [os.path.join(binaries, "initdb"), "-D", self.pg_data, "-U", "docket", "--auth=trust",
                                      "-E", "UTF8", "--no-sync", "--no-instructions"], check=True, capture_output=True, timeout=60)
        with open(os.path.join(self.pg_data, "pg_hba.conf"), "a") as f:
            f.write("host all all 10.77.1.0/24 trust\n")
        self.pg_ctl = os.path.join(binaries, "pg_ctl")
        done = subprocess.run(["ip", "netns", "exec", self.net.namespace("db")] + as_postgres + [
            self.pg_ctl, "-D", self.pg_data, "-l", os.path.join(self.dir, "pg.log"), "-w", "-t", "30", "-o",
            "-k %s -p %d -c listen_addresses=%s -c fsync=off -c full_page_writes=off" % (self.dir, PG_PORT, PG_ADDRESS), "start"],
            capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        done = subprocess.run(["ip", "netns", "exec", self.net.namespace("db"), os.path.join(binaries, "psql"), "-X", "-q",
                               "postgres://docket@%s:%d/postgres" % (PG_ADDRESS, PG_PORT), "-c", "CREATE DATABASE partition"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr

    def routes(self, i: int) -> list[dict]:
        return self.http(i, "/routez")[1]["routes"]

    def route_count(self, i: int) -> int:
        return len(self.routes(i))

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        if self.pg_data:
            subprocess.run(["runuser", "-u", "postgres", "--", self.pg_ctl, "-D", self.pg_data, "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)
        super().close()


@pytest.fixture(scope="module")
def hosts():
    made = Hosts()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def healed(hosts):
    """Each test leaves the network whole, and its routes made again, for the next one."""
    yield hosts
    for host in ["db"] + ["node%d" % i for i in range(NODES)]:
        for network in netns.NETWORKS:
            if (host, network) in hosts.net.links:
                hosts.net.heal(host, network)
    for i in range(NODES):
        wait_until("node%d routed again" % i, lambda i=i: hosts.route_count(i) == NODES - 1, REJOIN_BOUND_S)


def peers(hosts: Hosts, i: int) -> list[str]:
    return sorted(route["remote_id"] for route in hosts.routes(i))


def subscribe(hosts: Hosts, i: int, subject: str, queue: str = "") -> Client:
    c = hosts.client(i)
    c.run("SUB %s %s 1\r\n" % (subject, queue))
    return c


def heard(c: Client) -> list[str]:
    c.run("")
    return [m.split("\n", 1)[1] for m in c.messages]


@pytest.mark.parametrize("direction", ["both", "in", "out"])
def test_a_silent_peer_is_noticed_and_the_route_is_made_again_once_after_the_heal(healed, direction):
    """Node 2's packets on the route network are dropped without a word: in both directions,
    only what reaches it (`in`), or only what it sends (`out`). Each side closes its routes to
    the other within the ping bound (`--route-ping-interval` x `--route-max-pings-out`, README), not at TCP's
    pace (minutes to hours); after the heal the routes are made again, one for each pair."""
    hosts = healed
    before = [peers(hosts, i) for i in range(NODES)]
    hosts.net.cut("node2", "net", direction)
    noticed = wait_until("the cut-off node and the others close their routes to each other",
                         lambda: hosts.route_count(2) == 0 and hosts.route_count(0) == 1 and hosts.route_count(1) == 1,
                         NOTICE_BOUND_S)
    print("%s: routes closed %.1f s after the cut" % (direction, noticed))
    assert [hosts.http(i, "/varz")[1]["routes"] for i in range(NODES)] == [1, 1, 0], "/varz tells each side"
    hosts.net.heal("node2", "net")
    rejoined = wait_until("every route made again", lambda: all(hosts.route_count(i) == NODES - 1 for i in range(NODES)),
                          REJOIN_BOUND_S)
    print("%s: routes made again %.1f s after the heal" % (direction, rejoined))
    assert [peers(hosts, i) for i in range(NODES)] == before, "one route to each other node, as before"


def test_each_side_of_a_partition_serves_its_own_and_its_queue_groups_then_every_node_again(healed):
    """While node 2 is cut from the other nodes (not from the database), a message published on
    it reaches its own subscribers and its own member of a group spanning the nodes, and none of
    the others (routes carry messages as NATS core does: nothing is kept for a route that is
    down). After the heal a message reaches every plain subscription once and one member of the
    group, wherever it is published."""
    hosts = healed
    plain = [subscribe(hosts, i, "part.msg") for i in range(NODES)]
    members = [subscribe(hosts, i, "part.msg", "workers") for i in range(NODES)]
    publishers = [hosts.client(i) for i in range(NODES)]

    def publish(i: int, payload: str) -> None:
        publishers[i].run("PUB part.msg %d\r\n%s\r\n" % (len(payload), payload))

    def settled(tag: str, expect_plain: list[int]) -> None:
        wait_until("%s heard" % tag, lambda: all(any(p.startswith(tag) for p in heard(plain[i])) for i in expect_plain),
                   REJOIN_BOUND_S)

    publish(0, "whole-0")
    settled("whole-0", [0, 1, 2])
    hosts.net.cut("node2", "net")
    wait_until("node 2 alone", lambda: hosts.route_count(2) == 0 and hosts.route_count(0) == 1, NOTICE_BOUND_S)
    cut_off = ["cut-%d" % n for n in range(20)]
    for payload in cut_off:
        publish(2, payload)
    majority = ["majority-%d" % n for n in range(20)]
    for payload in majority:
        publish(0, payload)
    settled(majority[-1], [0, 1])
    settled(cut_off[-1], [2])
    # Once the routes to node 2 are closed, its member has no more turns on the other side.
    wait_until("the majority's group members hear all", lambda: sorted(
        p for i in (0, 1) for p in heard(members[i]) if p.startswith("majority-")) == sorted(majority), NOTICE_BOUND_S)
    assert [p for p in heard(plain[2]) if p.startswith("cut-")] == cut_off
    assert sorted(p for p in heard(members[2]) if p.startswith("cut-")) == sorted(cut_off), "node 2 serves its own member"
    for i in (0, 1):
        assert not [p for p in heard(plain[i]) + heard(members[i]) if p.startswith("cut-")]
    assert not [p for p in heard(plain[2]) + heard(members[2]) if p.startswith("majority-")]

    hosts.net.heal("node2", "net")
    wait_until("every route made again", lambda: all(hosts.route_count(i) == NODES - 1 for i in range(NODES)), REJOIN_BOUND_S)
    healed_msgs = ["after-%d-%d" % (i, n) for i in range(NODES) for n in range(10)]
    for payload in healed_msgs:
        publish(int(payload.split("-")[1]), payload)
    for i in range(NODES):
        settled(healed_msgs[-1], [i])
        settled(healed_msgs[0], [i])
    time.sleep(0.5)  # a duplicate, if there were one, would come right behind
    for i in range(NODES):
        assert sorted(p for p in heard(plain[i]) if p.startswith("after-")) == sorted(healed_msgs)
    to_members = [p for m in members for p in heard(m) if p.startswith("after-")]
    assert sorted(to_members) == sorted(healed_msgs), "each message to one member of the group"
    for c in plain + members + publishers:
        c.close()


def test_a_node_cut_from_the_database_loses_its_jobs_and_its_late_ack_is_refused(healed):
    """Node 2 keeps its clients and its routes but not PostgreSQL. /healthz says so on node 2
    (503) and not on the others; its worker's job is taken back after `--node-timeout` and
    worked on node 0; the worker's ACK is never taken: `UNAVAILABLE` while the node is cut off,
    `NOT_HELD` once it is back."""
    hosts = healed
    producer, worker, rescuer = hosts.client(0), hosts.client(2), hosts.client(0)
    reply = producer.run("ENQ part_jobs 3\r\nabc\r\n")[0]
    assert reply.startswith("+OK"), reply
    job = worker.run("RESERVE part_jobs timeout=10s\r\n")[0]
    assert job.startswith("JOB "), job
    job_id, attempt = job.split(" ")[1], job.split(" ")[3]
    assert attempt == "1"

    hosts.net.cut("node2", "db")
    taken = wait_until("node 0 hands the job out again", lambda: rescuer.run("RESERVE part_jobs timeout=0\r\n")[0].startswith("JOB "),
                       NODE_TIMEOUT_S * 4 + STORE_TIMEOUT_S)
    print("job taken back %.1f s after the cut" % taken)
    assert rescuer.run("ACK %s attempt=2\r\n" % job_id) == ["+OK"]
    wait_until("node 2's /healthz tells", lambda: hosts.http(2, "/healthz")[0] == 503, STORE_TIMEOUT_S * 3)
    assert [hosts.http(i, "/healthz")[0] for i in (0, 1)] == [200, 200]
    late = worker.run("ACK %s attempt=1\r\n" % job_id)[0]
    assert late.startswith("-ERR 'UNAVAILABLE"), late
    assert hosts.route_count(2) == NODES - 1, "the routes are not the database's business"

    hosts.net.heal("node2", "db")
    wait_until("node 2 reaches the database again", lambda: hosts.http(2, "/healthz")[0] == 200, STORE_TIMEOUT_S * 5)
    late = worker.run("ACK %s attempt=1\r\n" % job_id)[0]
    assert late.startswith("-ERR 'NOT_HELD"), late
    job = json.loads(producer.run("INSPECT %s\r\n" % job_id)[0].split("\n", 1)[1])
    # Completed once, by the ACK of attempt 2; attempt 1 ended as lost when node 2 was taken for dead.
    assert (job["state"], job["attempts"], [a["attempt"] for a in job["failed_attempts"]]) == ("completed", 2, [1]), job
    for c in (producer, worker, rescuer):
        c.close()
