"""Faults across several nodes: a seeded, bounded torture of what README's *Cluster* table promises.

Three docketd nodes keep their jobs in one PostgreSQL (a private cluster, restarted as a fault)
and carry messages either through their own routes (`--cluster`, `--routes`) or through a
cluster of three nats-servers (`--cluster-nats`); the two alternate round by round. Clients are
spread over the nodes: producers (with keys), workers (RESERVE, TOUCH, ACK, FAIL, some of them
past their lease), a janitor deleting dead jobs, publishers, and on every node a subscriber to
the job lifecycle events, one to the plain subjects and one member of a queue group. At random
moments of each round a fault strikes: a node is killed (SIGKILL, then started again), paused
(SIGSTOP) for less or more than `--node-timeout`, two nodes are paused past it together, a
nats-server is killed (and started again), PostgreSQL is restarted, or stopped while a node is
killed (and started again before the node). Then the faults are healed and every promise is checked:

- the jobs, with Tests/torture's checker (every ENQ answered +OK exists unless a DEL was sent,
  an ACKed job is completed and never handed out again, one key one job, attempts never go
  back, a delivery number is handed out once, a dead job stays dead);
- one holder at a time: an ACK, FAIL or TOUCH of attempt n is never answered +OK once attempt
  n+1 of the job was handed out (a paused node's late ACK is refused, `NOT_HELD`);
- events: a (queue, seq) names one event wherever it is heard, and no subscription hears one
  twice; messages: no subscription hears one twice, and no two members of the queue group hear
  the same one;
- every node serves again (an ENQ answered +OK) within SERVE_BOUND_S of the faults' end;
- then, with everything healed, a quiet exchange across the nodes: each message published on
  any node reaches each plain subscription once and one member of the queue group, and the
  events of jobs enqueued on one node, reserved on a second and acknowledged on a third reach
  every node once each, their `seq` without a gap.

Everything random comes from one seed (when faults strike in the load depends on the machine).
Every load is bounded: a round's load lasts `seconds`, a start at most START_BOUND_S, a reply at
most REPLY_BOUND_S.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "torture"))
import torture  # noqa: E402  (puts Tests/parity on the path)
from torture import Conn, Dead, Entry, Facts, History, Snapshot, Violation, enq  # noqa: E402
from cluster import Cluster as PostgresCluster  # noqa: E402  (Tests/parity/cluster.py)

NODES = 3
START_BOUND_S = 60.0
# A node that was killed, paused or cut from PostgreSQL answers an ENQ again within this: a
# paused node's connection is ended by the database (5 s idle in transaction), a restarted
# PostgreSQL is reconnected to within seconds; ten times that tells a hang from a slow machine.
SERVE_BOUND_S = 60.0
# The smallest `--node-timeout` docketd takes: a pause past it is a few seconds, not a minute.
NODE_TIMEOUT_S = 3.0
WORK_QUEUES = ["c0", "c1", "c2"]
QUIET_QUEUE = "quiet"
GROUP = "members"
# A producer's pause after each answer: the workers keep up, so the checker's listings (every
# job, twice a round) stay a few thousand jobs long.
PACE_S = 0.01
SERVER_FLAGS = ["--keep-completed", "1000000", "--keep-dead", "1000000", "--node-timeout", "%ds" % NODE_TIMEOUT_S]
LOST_JOB = torture.LOST_JOB
# Besides +OK: PostgreSQL was unreachable (restarted, or the node's session ended while it was
# paused): nothing was promised.
UNAVAILABLE = "-ERR 'UNAVAILABLE"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_log(path: str, offset: int, proc: subprocess.Popen, pattern: str, bound: float) -> re.Match:
    began = time.monotonic()
    while time.monotonic() - began < bound:
        with open(path, errors="replace") as f:
            f.seek(offset)
            text = f.read()
        if m := re.search(pattern, text):
            return m
        if proc.poll() is not None:
            raise Violation("%s exited %s while starting: %s" % (path, proc.returncode, text[-2000:]))
        time.sleep(0.05)
    proc.kill()
    raise Violation("%s: not ready within %.0f s" % (path, bound))


class NatsCluster:
    """Three nats-servers routed to each other, each on fixed ports so a killed one comes back
    where the docketd nodes look for it."""

    def __init__(self, directory: str, count: int = 3, arguments: tuple[str, ...] = ()) -> None:
        self.binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        self.dir = directory
        self.arguments = list(arguments)
        self.client_ports = [free_port() for _ in range(count)]
        self.route_ports = [free_port() for _ in range(count)]
        self.procs: list[subprocess.Popen | None] = [None] * count
        for i in range(count):
            self.start(i)

    def urls(self, first: int) -> str:
        """Every server's address, the node's own first (as README's configuration has it)."""
        order = [first % len(self.procs)] + [i for i in range(len(self.procs)) if i != first % len(self.procs)]
        return ",".join("nats://127.0.0.1:%d" % self.client_ports[i] for i in order)

    def start(self, i: int) -> None:
        log_path = os.path.join(self.dir, "nats-%d.log" % i)
        offset = os.path.getsize(log_path) if os.path.exists(log_path) else 0
        routes = ",".join("nats://127.0.0.1:%d" % p for j, p in enumerate(self.route_ports) if j != i)
        with open(log_path, "a") as log:
            self.procs[i] = subprocess.Popen(
                [self.binary, "-a", "127.0.0.1", "-p", str(self.client_ports[i]), "--cluster_name", "chaos",
                 "--cluster", "nats://127.0.0.1:%d" % self.route_ports[i], "--routes", routes] + self.arguments, stdout=log, stderr=log)
        wait_for_log(log_path, offset, self.procs[i], r"Server is ready", START_BOUND_S)

    def kill(self, i: int) -> None:
        proc = self.procs[i]
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait(10)

    def close(self) -> None:
        for i in range(len(self.procs)):
            self.kill(i)


class Node:
    """One docketd: killed, paused and started again on the same database as the rounds go."""

    def __init__(self, docketd: str, index: int, directory: str, store_url: str) -> None:
        self.docketd, self.index, self.store_url = docketd, index, store_url
        self.dir = os.path.join(directory, "node-%d" % index)
        os.makedirs(self.dir)
        self.log_path = os.path.join(self.dir, "docketd.log")
        self.route_port = free_port()
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.paused = False
        self.starts: list[float] = []

    def start(self, link: list[str]) -> None:
        with open(self.log_path, "a") as log:
            log.write("\n=== start %d %s\n" % (len(self.starts) + 1, " ".join(link)))
        offset = os.path.getsize(self.log_path)
        began = time.monotonic()
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen([self.docketd, "--port", "0", "--data-dir", os.path.join(self.dir, "data"),
                                          "--store", self.store_url, *SERVER_FLAGS, *link], stdout=log, stderr=log)
        m = wait_for_log(self.log_path, offset, self.proc, r"client connections on 127\.0\.0\.1:(\d+)[\s\S]*Server is ready",
                         START_BOUND_S)
        self.port = int(m.group(1))
        self.starts.append(time.monotonic() - began)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.paused = False

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def wake(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False


class Topology:
    """The nodes, their message link (routes or nats-servers) and the database."""

    def __init__(self, docketd: str, directory: str) -> None:
        self.dir = directory
        self.postgres = PostgresCluster()
        self.postgres.psql("CREATE DATABASE chaos")
        self.nats = NatsCluster(directory)
        self.nodes = [Node(docketd, i, directory, self.postgres.url("chaos")) for i in range(NODES)]
        self.mode = ""
        self.lock = threading.Lock()

    def link(self, i: int) -> list[str]:
        if self.mode == "routes":
            others = ",".join("nats://127.0.0.1:%d" % n.route_port for n in self.nodes if n.index != i)
            return ["--cluster", "nats://127.0.0.1:%d" % self.nodes[i].route_port, "--cluster-name", "chaos",
                    "--routes", others]
        return ["--cluster-nats", self.nats.urls(i)]

    def start_all(self, mode: str) -> None:
        """Every node (again) with this round's link; nodes of another link are killed first."""
        if mode != self.mode:
            for node in self.nodes:
                node.kill()
            self.mode = mode
        for node in self.nodes:
            if not node.alive():
                self.start(node.index)

    def start(self, i: int) -> None:
        self.nodes[i].start(self.link(i))

    def port_of(self, i: int) -> int:
        """The node's client port, or 0 while it is down."""
        node = self.nodes[i]
        return node.port if node.alive() else 0

    def close(self) -> None:
        for node in self.nodes:
            node.wake()
            node.kill()
        self.nats.close()
        self.postgres.remove()


class Heard:
    """What one subscription connection received: messages in order, with the node it was on."""

    def __init__(self, name: str, node: int, subject: str) -> None:
        self.name, self.node, self.subject = name, node, subject
        self.messages: list[tuple[str, str]] = []  # (subject, payload)
        self.lock = threading.Lock()

    def add(self, subject: str, payload: str) -> None:
        with self.lock:
            self.messages.append((subject, payload))

    def snapshot(self) -> list[tuple[str, str]]:
        with self.lock:
            return list(self.messages)


class Listener:
    """A connection to one node with one subscription (a queue subscription with `group`),
    reading every message until stopped; connected again (a new `Heard`) when its node dies."""

    def __init__(self, topology: Topology, node: int, subject: str, group: str | None, stop: threading.Event,
                 heard: list[Heard], errors: list[BaseException]) -> None:
        self.topology, self.node, self.subject, self.group = topology, node, subject, group
        self.stop, self.heard, self.errors = stop, heard, errors
        self.sock: socket.socket | None = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                port = self.topology.port_of(self.node)
                if not port:
                    time.sleep(0.05)
                    continue
                try:
                    self.listen(port)
                except (OSError, ConnectionError):
                    time.sleep(0.05)
        except BaseException as error:
            self.errors.append(error)

    def listen(self, port: int) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=0.5)
        self.sock = sock
        heard = Heard("%s%s@%d" % (self.subject, " " + self.group if self.group else "", self.node), self.node, self.subject)
        self.heard.append(heard)
        buf = b""
        sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB %s %s1\r\n'
                     % (self.subject.encode(), (self.group + " ").encode() if self.group else b""))
        try:
            while not self.stop.is_set():
                try:
                    chunk = sock.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    return
                buf += chunk
                while True:
                    end = buf.find(b"\r\n")
                    if end < 0:
                        break
                    line = buf[:end].decode()
                    if line.startswith("MSG "):
                        size = int(line.split(" ")[-1])
                        if len(buf) < end + 2 + size + 2:
                            break
                        heard.add(line.split(" ")[1], buf[end + 2:end + 2 + size].decode())
                        buf = buf[end + 2 + size + 2:]
                        continue
                    buf = buf[end + 2:]
                    if line == "PING":
                        sock.sendall(b"PONG\r\n")
                    elif line.startswith("-ERR"):
                        raise Violation("subscriber %s: %s" % (heard.name, line))
        finally:
            sock.close()


class Load:
    """One round's clients, each a thread on a node drawn at every (re)connection."""

    def __init__(self, topology: Topology, history: History, round_: int, seed: int) -> None:
        self.topology, self.history, self.round = topology, history, round_
        self.rng = random.Random("%d/%d" % (seed, round_))
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.published: list[str] = []
        self.publish_lock = threading.Lock()
        self.counter = 0

    def conn(self, actor: str, rng: random.Random) -> Conn:
        node = rng.randrange(NODES)
        port = self.topology.port_of(node)
        if not port:
            time.sleep(0.05)
            raise Dead()
        c = Conn(port, self.history, self.round, "%s@%d" % (actor, node))
        return c

    def start(self) -> list[threading.Thread]:
        actors = [("producer-%d" % i, self.producer) for i in range(3)] + [
            ("janitor", self.janitor), ("publisher-0", self.publisher), ("publisher-1", self.publisher)
        ] + [("worker-%d" % i, self.worker) for i in range(5)]
        return torture.start_actors(self.rng, actors, self.guard)

    def guard(self, name: str, body, rng: random.Random) -> None:
        try:
            while not self.stop.is_set():
                try:
                    c = self.conn(name, rng)
                except (Dead, OSError, ConnectionError, AssertionError):
                    time.sleep(0.05)
                    continue
                try:
                    body(c, rng)
                except (Dead, OSError, ConnectionError):
                    continue  # a node killed, or a worker that dropped its connection on purpose
                finally:
                    c.close()
        except BaseException as error:  # a Violation, or a bug of the test
            self.errors.append(error)
            self.stop.set()

    expect = torture.Load.expect

    def producer(self, c: Conn, rng: random.Random) -> None:
        while not self.stop.is_set():
            options = ["attempts=%d" % rng.randint(1, 4), "backoff=fixed:%dms" % rng.choice([50, 200]),
                       "lease=%s" % rng.choice(["500ms", "2s", "10s"])]
            if rng.random() < 0.15:
                options.append("delay=%dms" % rng.randint(100, 1500))
            if rng.random() < 0.3:
                options.append("key=%s-%d" % (c.actor.split("@")[0], rng.randint(0, 15)))
                if rng.random() < 0.5:
                    options.append("replace=true")
            self.expect(c.request(enq(rng.choice(WORK_QUEUES), "p%d" % rng.randint(0, 10**6), options)), "+OK ", UNAVAILABLE)
            time.sleep(PACE_S)

    def worker(self, c: Conn, rng: random.Random) -> None:
        while not self.stop.is_set():
            held = torture.reserve(c, ",".join(WORK_QUEUES), ("NOJOB", UNAVAILABLE))
            if held is None:
                time.sleep(PACE_S)  # after UNAVAILABLE: PostgreSQL is back within a second or two
                continue
            job, attempt = held
            roll = rng.random()
            if roll < 0.02:
                raise Dead()  # a worker lost: its connection closes, the attempt counts as failed
            if roll < 0.06:
                time.sleep(0.7)  # past a short lease: the job may be another worker's by now
            elif roll < 0.2:
                self.expect(c.request("TOUCH %s attempt=%s\r\n" % (job, attempt)), "+OK", UNAVAILABLE, *LOST_JOB)
            roll = rng.random()
            if roll < 0.75:
                self.expect(c.request("ACK %s attempt=%s\r\n" % (job, attempt)), "+OK", UNAVAILABLE, *LOST_JOB)
            elif roll < 0.95:
                self.expect(c.request("FAIL %s attempt=%s retry=%dms 4\r\nboom\r\n" % (job, attempt, rng.choice([20, 300]))),
                            "+OK retry", "+OK dead", UNAVAILABLE, *LOST_JOB)
            else:
                self.expect(c.request("FAIL %s attempt=%s retry=no\r\n" % (job, attempt)), "+OK dead", UNAVAILABLE, *LOST_JOB)

    def janitor(self, c: Conn, rng: random.Random) -> None:
        while not self.stop.is_set():
            got = c.request("DEAD %s limit=20\r\n" % rng.choice(WORK_QUEUES))
            if got.reply.startswith(UNAVAILABLE):
                time.sleep(0.2)
                continue
            for job in json.loads(self.expect(got, "JSON ").reply.split("\n", 1)[1]):
                if rng.random() < 0.5:
                    self.expect(c.request("DEL %d\r\n" % job["id"]), "+OK", "-ERR 'NOT_FOUND", UNAVAILABLE)
            time.sleep(0.2)

    def publisher(self, c: Conn, rng: random.Random) -> None:
        while not self.stop.is_set():
            with self.publish_lock:
                self.counter += 1
                payload = "%d-%s-%d" % (self.round, c.actor, self.counter)
                # Counted before it is sent: a PUB whose connection breaks may still arrive.
                self.published.append(payload)
            try:
                c.sock.sendall(("PUB chaos.%d %d\r\n%s\r\n" % (rng.randint(0, 3), len(payload), payload)).encode())
            except OSError:
                raise Dead()
            time.sleep(PACE_S * 2)


class Faults:
    """The round's faults, one after another at random moments of the load."""

    def __init__(self, topology: Topology, rng: random.Random, say) -> None:
        self.topology, self.rng, self.say = topology, rng, say
        self.done: list[str] = []

    def strike(self, seconds: float) -> None:
        """Strikes one or two faults within `seconds`, each healed before the next."""
        began = time.monotonic()
        count = self.rng.choice([1, 2, 2])
        for n in range(count):
            left = seconds - (time.monotonic() - began)
            time.sleep(self.rng.uniform(0.2, max(0.3, left / (count - n) / 2)))
            kinds = ["kill", "pause-short", "pause-long", "pause-two", "postgres", "postgres-down-kill"] + (
                ["nats"] if self.topology.mode == "nats" else [])
            kind = self.rng.choice(kinds)
            node = self.rng.randrange(NODES)
            self.done.append("%s %d at %.1f s" % (kind, node, time.monotonic() - began))
            getattr(self, kind.replace("-", "_"))(node)
        left = seconds - (time.monotonic() - began)
        if left > 0:
            time.sleep(left)

    def kill(self, i: int) -> None:
        self.topology.nodes[i].kill()
        time.sleep(self.rng.uniform(0.1, 2.0))
        self.topology.start(i)

    def pause_short(self, i: int) -> None:
        """Paused within --node-timeout: its jobs stay its own."""
        self.pause(i, self.rng.uniform(0.3, NODE_TIMEOUT_S * 0.6))

    def pause_long(self, i: int) -> None:
        """Paused past --node-timeout: another node takes its jobs back; its late ACKs are refused."""
        self.pause(i, self.rng.uniform(NODE_TIMEOUT_S + 1.5, NODE_TIMEOUT_S + 3.0))

    def pause(self, i: int, seconds: float) -> None:
        node = self.topology.nodes[i]
        node.pause()
        time.sleep(seconds)
        node.wake()

    def pause_two(self, i: int) -> None:
        """Two nodes paused past --node-timeout together: the third takes both nodes' jobs back,
        and the two, woken, may take each other's (a node wrongly taken for dead loses only its
        workers' current attempts)."""
        nodes = [self.topology.nodes[i], self.topology.nodes[(i + 1) % NODES]]
        for node in nodes:
            node.pause()
        time.sleep(self.rng.uniform(NODE_TIMEOUT_S + 1.5, NODE_TIMEOUT_S + 3.0))
        for node in nodes:
            node.wake()

    def postgres_down_kill(self, i: int) -> None:
        """PostgreSQL stopped, a node killed meanwhile; PostgreSQL back, then the node."""
        self.topology.postgres.stop(self.rng.choice(["fast", "immediate"]))
        time.sleep(self.rng.uniform(0.1, 0.5))
        self.topology.nodes[i].kill()
        time.sleep(self.rng.uniform(0.2, 1.0))
        self.topology.postgres.start()
        self.topology.start(i)
        self.served_again()

    def nats(self, i: int) -> None:
        self.topology.nats.kill(i)
        time.sleep(self.rng.uniform(0.1, 2.0))
        self.topology.nats.start(i)

    def postgres(self, _: int) -> None:
        self.topology.postgres.restart(self.rng.choice(["fast", "immediate"]))
        self.served_again()

    def served_again(self) -> None:
        """How long after PostgreSQL is back each node takes to answer an ENQ +OK again (the
        load goes on meanwhile), in the fault's description."""
        took = serve_again(self.topology, History(), 0)
        self.done[-1] += " (served again after %s s)" % "/".join("%.1f" % t for t in took)


def serve_again(topology: Topology, history: History, round_: int) -> list[float]:
    """Each node answers an ENQ +OK (a new connection each try) within SERVE_BOUND_S: seconds each took."""
    took = []
    for node in topology.nodes:
        began = time.monotonic()
        while True:
            try:
                c = Conn(node.port, history, round_, "serve@%d" % node.index)
                try:
                    if c.request(enq(QUIET_QUEUE + "-probe", "x", [])).reply.startswith("+OK "):
                        break
                finally:
                    c.close()
            except (Dead, OSError, ConnectionError, AssertionError):
                pass
            if time.monotonic() - began > SERVE_BOUND_S:
                raise Violation("node %d does not serve %.0f s after the faults ended (log %s)"
                                % (node.index, SERVE_BOUND_S, node.log_path))
            time.sleep(0.1)
        took.append(time.monotonic() - began)
    return took


def heard_checks(heard: list[Heard], published: set[str]) -> list[str]:
    """No subscription hears an event or message twice; a (queue, seq) is one event everywhere;
    no two queue-group members hear one message; nothing is heard that was not published."""
    out: list[str] = []
    events: dict[tuple[str, int], tuple] = {}
    group: dict[str, str] = {}
    for h in heard:
        seen: set = set()
        for subject, payload in h.snapshot():
            if subject.startswith("$JOB."):
                body = json.loads(payload)
                key = (body["queue"], body["seq"])
                what = (body["event"], body["id"], body["attempt"])
                if events.setdefault(key, what) != what:
                    out.append("seq %d of %s is %s on one node and %s on %s" % (key[1], key[0], events[key], what, h.name))
            else:
                key = payload
                if payload not in published:
                    out.append("%s heard %r, which nobody published" % (h.name, payload))
                if " " in h.name:
                    if group.setdefault(payload, h.name) != h.name:
                        out.append("queue group %s: %r went to %s and to %s" % (GROUP, payload, group[payload], h.name))
            if key in seen:
                out.append("%s heard %r twice" % (h.name, key))
            seen.add(key)
    return out


def one_holder(facts: Facts, entries: list[Entry]) -> list[str]:
    """An attempt is ended (ACK, FAIL) or extended (TOUCH) with +OK only while it is the job's
    latest: never once a later attempt of the job was handed out (a late ACK is NOT_HELD)."""
    out = []
    latest: dict[int, list[tuple[float, int, Entry]]] = {}
    for e, job, _, attempt, _ in facts.handouts:
        latest.setdefault(job, []).append((e.answered, attempt, e))
    touched: dict[int, list[tuple[Entry, int]]] = {}
    for e in entries:
        if e.request.startswith("TOUCH ") and e.reply == "+OK":
            words = e.request.split("\r\n")[0].split(" ")
            touched.setdefault(int(words[1]), []).append((e, int(torture.options_of(e.request)["attempt"])))
    for job in set(facts.finished_attempts) | set(touched):
        for e, attempt in facts.finished_attempts.get(job, []) + touched.get(job, []):
            for answered, later, handout in latest.get(job, []):
                if later > attempt and answered < e.sent:
                    out.append("job %d: attempt %d ended +OK after attempt %d was handed out: %r, then %r"
                               % (job, attempt, later, handout, e))
    return out


def snapshot(c: Conn) -> Snapshot:
    """Every job of the work queues, twice, judged as Tests/torture's checker does."""
    first = Snapshot.take(c, WORK_QUEUES)
    second = Snapshot.take(c, WORK_QUEUES)
    second.doubled = {job for job, states in second.states.items() if len(states) > 1 and first.states.get(job) == states}
    return second


def quiet_exchange(topology: Topology, history: History, round_: int, count: int) -> list[str]:
    """With every fault healed: `count` messages published round the nodes reach every plain
    subscription once and one queue-group member each; `count` jobs enqueued on node k,
    reserved on node k+1 and ACKed on node k+2 are heard on every node, three events each,
    their seq without a gap."""
    stop = threading.Event()
    heard: list[Heard] = []
    errors: list[BaseException] = []
    # The queue-group subscription and the events' come before the plain one on each node, so
    # that once a plain subscription hears from every node, the others are known there too.
    listeners = [Listener(topology, i, subject, group, stop, heard, errors)
                 for i in range(NODES)
                 for subject, group in (("$JOB.%s.>" % QUIET_QUEUE, None), ("quiet.m", GROUP), ("quiet.m", None))]
    for listener in listeners:
        listener.thread.start()
    conns = [Conn(topology.nodes[i].port, history, round_, "quiet@%d" % i) for i in range(NODES)]
    problems: list[str] = []
    try:
        plain = lambda: [h for h in heard if h.subject == "quiet.m" and " " not in h.name]  # noqa: E731
        deadline = time.monotonic() + 15
        n = 0
        while True:
            for i, c in enumerate(conns):
                n += 1
                c.sock.sendall(b"PUB quiet.m %d\r\nsync-%d-%d\r\n" % (len("sync-%d-%d" % (i, n)), i, n))
            time.sleep(0.1)
            ready = [h for h in plain() if {p.split("-")[1] for _, p in h.snapshot() if p.startswith("sync-")} == {"0", "1", "2"}]
            if len(ready) == NODES and len(heard) == len(listeners):
                break
            if time.monotonic() > deadline:
                return ["quiet: subscriptions not known on every node within 15 s: %s"
                        % [(h.name, len(h.snapshot())) for h in heard]]
        messages = ["q-%d-%d" % (round_, k) for k in range(count)]
        jobs = []
        for k, payload in enumerate(messages):
            conns[k % NODES].sock.sendall(b"PUB quiet.m %d\r\n%s\r\n" % (len(payload), payload.encode()))
            made = conns[k % NODES].request(enq(QUIET_QUEUE, payload, []))
            if not made.reply.startswith("+OK "):
                return ["quiet: %r" % made]
            got = conns[(k + 1) % NODES].request("RESERVE %s timeout=5s\r\n" % QUIET_QUEUE)
            if not got.reply.startswith("JOB "):
                return ["quiet: %r" % got]
            job, attempt = got.reply.split(" ")[1], got.reply.split("\n")[0].split(" ")[3]
            acked = conns[(k + 2) % NODES].request("ACK %s attempt=%s\r\n" % (job, attempt))
            if acked.reply != "+OK":
                return ["quiet: %r" % acked]
            jobs.append(int(job))
        want = set(messages)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done = all(len([1 for s, p in h.snapshot() if s.startswith("$JOB.")]) >= 3 * count for h in heard
                       if h.subject.startswith("$JOB.")) and all(want <= {p for _, p in h.snapshot()} for h in plain()) \
                and want <= {p for h in heard if " " in h.name for _, p in h.snapshot()}
            if done:
                break
            time.sleep(0.05)
        time.sleep(0.3)  # a duplicate would come right behind
        for h in heard:
            got = [p for s, p in h.snapshot() if not p.startswith("sync-")]
            if h.subject.startswith("$JOB."):
                bodies = [json.loads(p) for p in got]
                seqs = sorted(b["seq"] for b in bodies)
                mine = sorted((b["id"], b["event"]) for b in bodies)
                expected = sorted((job, event) for job in jobs for event in ("enqueued", "started", "completed"))
                if mine != expected:
                    problems.append("quiet: %s heard events %s, expected %s" % (h.name, mine[:12], expected[:12]))
                if seqs and seqs != list(range(seqs[0], seqs[0] + len(seqs))):
                    problems.append("quiet: %s heard seq with gaps or twice: %s" % (h.name, seqs))
            elif " " not in h.name and sorted(got) != sorted(messages):
                problems.append("quiet: %s heard %d of %d messages (%d twice)"
                                % (h.name, len(want & set(got)), count, len(got) - len(set(got))))
        members = [p for h in heard if " " in h.name for _, p in h.snapshot() if not p.startswith("sync-")]
        if sorted(members) != sorted(messages):
            problems.append("quiet: the queue group heard %d messages for %d published (%d distinct)"
                            % (len(members), count, len(set(members))))
        problems += heard_checks(heard, want | {p for h in heard for _, p in h.snapshot() if p.startswith("sync-")})
        return problems
    finally:
        stop.set()
        for c in conns:
            c.close()
        for listener in listeners:
            listener.thread.join(5)
        if errors:
            problems.append("quiet: %s" % errors[0])


def run(docketd: str, rounds: int, seconds: float, seed: int, say=print, quiet_count: int = 12) -> dict:
    """`rounds` rounds of load and faults; raises Violation with the broken promises of the
    first round that breaks one. Returns figures."""
    directory = tempfile.mkdtemp(prefix="cluster-torture-")
    topology = Topology(docketd, directory)
    history = History()
    checker = torture.Checker(postgres=True)
    rng = random.Random(seed)
    heard: list[Heard] = []
    published: set[str] = set()
    figures = {"rounds": 0, "faults": [], "slowest_serve_s": 0.0}
    try:
        for round_ in range(1, rounds + 1):
            mode = "routes" if round_ % 2 else "nats"
            topology.start_all(mode)
            load = Load(topology, history, round_, seed)
            stop = load.stop
            listeners = [Listener(topology, i, subject, group, stop, heard, load.errors)
                         for i in range(NODES)
                         for subject, group in (("$JOB.>", None), ("chaos.>", None), ("chaos.>", GROUP))]
            for listener in listeners:
                listener.thread.start()
            threads = load.start()
            faults = Faults(topology, random.Random(rng.random()), say)
            try:
                faults.strike(seconds)
            finally:
                for node in topology.nodes:
                    node.wake()
                load.stop.set()
            for t in threads + [l.thread for l in listeners]:
                t.join(torture.REPLY_BOUND_S + 5)
                if t.is_alive():
                    raise Violation("a client of round %d did not end" % round_)
            problems = [str(e) for e in load.errors]
            for node in topology.nodes:
                if not node.alive():
                    problems.append("node %d exited by itself (%s): see %s" % (node.index, node.proc.returncode, node.log_path))
                    topology.start(node.index)
            # The probes' jobs are in queues the checker does not list: their history is apart.
            scratch = History()
            took = serve_again(topology, scratch, round_)
            published |= set(load.published)
            problems += heard_checks(heard, published)
            c = Conn(topology.nodes[0].port, history, round_, "checker")
            try:
                facts = Facts(list(history.entries))
                snap = snapshot(c)
                problems += checker.judge(facts, snap) + one_holder(facts, list(history.entries))
            finally:
                c.close()
            problems += quiet_exchange(topology, scratch, round_, quiet_count)
            facts = Facts(history.entries)
            figures["rounds"] = round_
            figures["faults"] += faults.done
            figures["slowest_serve_s"] = max(figures["slowest_serve_s"], max(took))
            events = sum(1 for h in heard for s, _ in h.snapshot() if s.startswith("$JOB."))
            lost = len({p for h in heard for s, p in h.snapshot() if s.startswith("$JOB.") and s.endswith(".lost")})
            refused = {name: sum(1 for e in history.entries if e.reply and e.reply.startswith(prefix))
                       for name, prefix in (("NOT_HELD", LOST_JOB[0]), ("UNAVAILABLE", UNAVAILABLE))}
            say("round %d (%s): %s; %d jobs answered, %d ACKs, %d hand-outs, %d NOT_HELD, %d UNAVAILABLE, %d events (%d attempts "
                "lost) and %d messages heard; served again in %s s"
                % (round_, mode, ", ".join(faults.done), len(facts.enqueued), len(facts.acked), len(facts.handouts),
                   refused["NOT_HELD"], refused["UNAVAILABLE"], events, lost, sum(len(h.snapshot()) for h in heard) - events,
                   "/".join("%.1f" % t for t in took)))
            if problems:
                raise Violation("seed %d round %d (logs in %s):\n  %s" % (seed, round_, directory, "\n  ".join(problems[:30])))
        facts = Facts(history.entries)
        figures.update(jobs=len(facts.enqueued), acks=len(facts.acked), handouts=len(facts.handouts),
                       requests=len(history.entries))
        topology.close()
        shutil.rmtree(directory, ignore_errors=True)
        return figures
    except BaseException:
        topology.close()
        with open(os.path.join(directory, "history.txt"), "w") as f:
            f.writelines("[round %d %s sent %.6f answered %s] %r -> %r\n"
                         % (e.round, e.actor, e.sent, e.answered, e.request, e.reply) for e in history.entries)
        say("the nodes' logs and the clients' history (history.txt) kept in " + directory)
        raise
