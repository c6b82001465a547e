"""Kill -9 under a mixed concurrent load: a seeded, bounded torture of docketd's promises.

Each round, several clients at once enqueue (keys, `replace=true`, delays, priorities),
enqueue flows (`BATCH` with `after=#n`), work jobs (RESERVE, ACK, FAIL, PROGRESS, TOUCH, and
dropping the connection mid-job), retry and delete dead jobs, change queue settings, publish
messages that routes turn into jobs, while a schedule ticks. Every request and every reply is
logged with the times it was sent and answered. At a random moment docketd is killed with
SIGKILL, started again on the same data directory (or PostgreSQL database), and the history is
checked against the promises of README.md and Protocol/PROTOCOL.md (see `Checker`); the next
round goes on from the same data.

Everything random comes from one seed, so a run can be repeated (the moment of the kill falls
at a different point of the load, since threads run as the machine lets them). Every load is
bounded: a round lasts at most `seconds`, a start at most START_BOUND_S.
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
sys.path.insert(0, os.path.join(HERE, "..", "parity"))
from parity import Client  # noqa: E402

# A start replays the log (or reconnects to the database): seconds at this size of data, so a
# bound ten times that still tells a hang from a slow machine.
START_BOUND_S = 60.0
# A reply never waits this long on loopback unless docketd hangs (RESERVEs wait at most 1 s).
REPLY_BOUND_S = 20.0
WORK_QUEUES = ["q0", "q1", "q2"]
FLOW_QUEUE = "flow"
# Flows whose child runs when a parent dies (on_parent_dead=run). The janitor retries their dead
# parents too: one that died, was retried and completed once counted twice for such a child,
# which then ran before its other parents finished (test_known_gaps.py).
FLOW_RUN_QUEUE = "flowrun"
ROUTED_QUEUE = "routed"
SCHEDULE_QUEUE = "ticks"
SCHEDULE_NAME = "tick"
SCHEDULE_EVERY_MS = 1000
ALL_QUEUES = WORK_QUEUES + [FLOW_QUEUE, FLOW_RUN_QUEUE, ROUTED_QUEUE, SCHEDULE_QUEUE]
# Retention would remove finished jobs, and then an ENQ answered +OK could not be told from a
# lost one: the histories are kept whole for the length of a run.
SERVER_FLAGS = ["--keep-completed", "1000000", "--keep-dead", "1000000"]
# The pause of a producer after each answer: at most a few hundred ENQs a second each (as fast
# as a durable store answers them). Under --sync none the producers would otherwise outrun the
# workers a hundredfold, and the checks' listings grow with every job kept.
PACE_S = 0.003
# What a worker's ACK, FAIL, PROGRESS or TOUCH may hear besides +OK: its lease ran out and the
# job went to another worker, or, on its last attempt, died, and the janitor deleted it.
LOST_JOB = ("-ERR 'NOT_HELD", "-ERR 'NOT_FOUND")
# x86-64 Linux system call numbers of the calls that write or flush data.mdb: LMDB's pwrite and
# writev of pages, pwritev, and the fdatasync/fsync/msync of a checkpoint (both --sync modes).
DATA_WRITES = {18: "pwrite64", 20: "writev", 296: "pwritev", 75: "fdatasync", 74: "fsync", 26: "msync"}
# How long an aimed kill watches for a write of data.mdb before it kills anyway: checkpoints
# come every 100 ms, so several pass in this time.
AIM_BOUND_S = 1.0


class Server:
    """docketd on one data directory (and, with `store_url`, one PostgreSQL database), killed
    and started again as the rounds go."""

    def __init__(self, docketd: str, flags: list[str], store_url: str | None) -> None:
        self.docketd = docketd
        self.dir = tempfile.mkdtemp(prefix="torture-")
        self.flags = list(SERVER_FLAGS) + list(flags)
        if store_url:
            # A killed docketd's held jobs come back after this silence (or their lease).
            self.flags += ["--store", store_url, "--node-timeout", "3s"]
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.starts: list[float] = []  # seconds each start took until "Server is ready"
        self.log_path = os.path.join(self.dir, "docketd.log")

    def start(self) -> None:
        log = open(self.log_path, "a")
        log.write("\n=== start %d\n" % (len(self.starts) + 1))
        log.flush()
        began = time.monotonic()
        offset = os.path.getsize(self.log_path)
        self.spawn(log)
        log.close()
        while time.monotonic() - began < START_BOUND_S:
            with open(self.log_path) as f:
                f.seek(offset)
                text = f.read()
            if m := re.search(r"client connections on 127\.0\.0\.1:(\d+)", text):
                self.port = int(m.group(1))
            if "Server is ready" in text and self.port:
                self.starts.append(time.monotonic() - began)
                return
            if self.proc.poll() is not None:
                raise Violation("docketd exited %s at start %d: %s" % (self.proc.returncode, len(self.starts) + 1, text[-2000:]))
            time.sleep(0.05)
        self.proc.kill()
        raise Violation("docketd did not start within %.0f s (start %d)" % (START_BOUND_S, len(self.starts) + 1))

    def spawn(self, log) -> None:
        self.proc = subprocess.Popen([self.docketd, "--port", "0", "--data-dir", os.path.join(self.dir, "data"),
                                      *self.flags], stderr=log, stdout=log)

    def crash_while_starting(self, after: float) -> None:
        """Starts docketd and kills it `after` seconds later, ready or not (in its recovery, say)."""
        with open(self.log_path, "a") as log:
            log.write("\n=== start %d, killed after %.3f s\n" % (len(self.starts) + 1, after))
            log.flush()
            self.spawn(log)
        time.sleep(after)
        self.kill()

    def kill_writing_data(self) -> str | None:
        """SIGKILL the moment one of docketd's threads is seen inside a write or flush of
        data.mdb (a checkpoint's, under either --sync), watched through
        /proc/PID/task/*/syscall; after AIM_BOUND_S, or where /proc cannot tell, kills anyway.
        Returns the call it caught, or None."""
        data_file = os.path.realpath(os.path.join(self.dir, "data", "data.mdb"))
        pid = self.proc.pid
        descriptors: dict[str, bool] = {}  # fd -> is data.mdb, learned as calls show them
        caught = None
        deadline = time.monotonic() + AIM_BOUND_S
        while caught is None and time.monotonic() < deadline and self.proc.poll() is None:
            try:
                tasks = os.listdir("/proc/%d/task" % pid)
            except OSError:
                break
            for task in tasks:
                try:
                    with open("/proc/%d/task/%s/syscall" % (pid, task)) as f:
                        fields = f.read().split()
                except OSError:
                    continue
                if not fields or not fields[0].isdigit() or int(fields[0]) not in DATA_WRITES:
                    continue
                fd = str(int(fields[1], 16))
                if fd not in descriptors:
                    try:
                        descriptors[fd] = os.path.realpath("/proc/%d/fd/%s" % (pid, fd)) == data_file
                    except OSError:
                        continue
                if descriptors[fd] or int(fields[0]) == 26:  # msync names memory, not a file
                    self.proc.send_signal(signal.SIGKILL)
                    caught = DATA_WRITES[int(fields[0])]
                    break
        self.kill()
        return caught

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc:
            self.proc.wait(10)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class Violation(AssertionError):
    """A promise broken (or docketd not starting, or not answering): fails the run."""


class Dead(Exception):
    """The connection ended (docketd was killed, or a worker dropped it on purpose): the
    request's outcome is unknown."""


class Entry:
    """One request and its reply (None: the connection ended first, outcome unknown)."""
    __slots__ = ("round", "actor", "request", "sent", "reply", "answered")

    def __init__(self, round_: int, actor: str, request: str, sent: float) -> None:
        self.round, self.actor, self.request, self.sent = round_, actor, request, sent
        self.reply: str | None = None
        self.answered: float | None = None

    def __repr__(self) -> str:
        return "[round %d %s t=%.3f] %r -> %r" % (self.round, self.actor, self.sent, self.request[:120],
                                                   None if self.reply is None else self.reply[:160])


class History:
    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.lock = threading.Lock()

    def add(self, entry: Entry) -> None:
        with self.lock:
            self.entries.append(entry)


class Conn(Client):
    """A connection whose every request and reply goes to the history."""

    def __init__(self, port: int, history: History, round_: int, actor: str) -> None:
        super().__init__(port)
        self.sock.settimeout(REPLY_BOUND_S)
        self.history, self.round, self.actor = history, round_, actor

    def request(self, text: str) -> Entry:
        entry = Entry(self.round, self.actor, text, time.monotonic())
        self.history.add(entry)
        try:
            self.sock.sendall(text.encode())
            entry.reply = self.reply()
            while entry.reply == "PING":  # the server's keep-alive (--ping-interval) is no answer
                self.sock.sendall(b"PONG\r\n")
                entry.reply = self.reply()
        except socket.timeout:
            raise Violation("no reply within %.0f s: %r" % (REPLY_BOUND_S, entry))
        except (OSError, ConnectionError):
            raise Dead()
        entry.answered = time.monotonic()
        return entry

    def message(self) -> str:
        """The next message (a reply that is no message is a protocol surprise)."""
        try:
            line = self.line()
            while line == "PING":
                self.sock.sendall(b"PONG\r\n")
                line = self.line()
            if not line.startswith("MSG "):
                raise Violation("expected a message, got %r" % line)
            return line + "\n" + self.body(int(line.split(" ")[-1])).decode()
        except socket.timeout:
            raise Violation("no message within %.0f s" % REPLY_BOUND_S)
        except (OSError, ConnectionError):
            raise Dead()


def enq(queue: str, payload: str, options: list[str]) -> str:
    return "ENQ %s %s%d\r\n%s\r\n" % (queue, "".join(o + " " for o in options), len(payload), payload)


def start_actors(rng: random.Random, actors: list, guard) -> list[threading.Thread]:
    """A thread per (name, body) running `guard(name, body, its own generator drawn from rng)`."""
    threads = []
    for name, body in actors:
        own = random.Random("%s/%d" % (rng.random(), len(threads)))
        threads.append(threading.Thread(target=guard, args=(name, body, own), daemon=True))
    for t in threads:
        t.start()
    return threads


def reserve(c: Conn, queues: str, idle: tuple[str, ...] = ("NOJOB",)) -> tuple[str, str] | None:
    """A RESERVE of up to a second: the job's id and attempt, or None for a reply in `idle`."""
    got = c.request("RESERVE %s timeout=1s\r\n" % queues)
    if got.reply.startswith(idle):
        return None
    Load.expect(None, got, "JOB ")
    words = got.reply.split("\n")[0].split(" ")
    return words[1], words[3]


class Load:
    """One round's clients. Each actor is a thread with its own generator drawn from the seed."""

    def __init__(self, server: Server, history: History, round_: int, seed: int, stop: threading.Event) -> None:
        self.server, self.history, self.round, self.stop = server, history, round_, stop
        self.rng = random.Random("%d/%d" % (seed, round_))
        self.errors: list[BaseException] = []

    def conn(self, actor: str) -> Conn:
        return Conn(self.server.port, self.history, self.round, actor)

    def run(self, kill_after: float, aim: bool = False) -> str | None:
        """The load, then the kill: after `kill_after`, or with `aim`, at the next write of
        data.mdb from then on. Returns the call an aimed kill caught."""
        actors = [("producer-%d" % i, self.producer) for i in range(3)] + [
            ("flows", self.flows), ("janitor", self.janitor), ("admin", self.admin), ("publisher", self.publisher)
        ] + [("worker-%d" % i, self.worker) for i in range(6)]
        threads = start_actors(self.rng, actors, self.guard)
        time.sleep(kill_after)
        caught = self.server.kill_writing_data() if aim else self.server.kill()
        self.stop.set()
        for t in threads:
            t.join(REPLY_BOUND_S + 5)
            if t.is_alive():
                raise Violation("a client of round %d did not end after the kill" % self.round)
        if self.errors:
            raise self.errors[0]
        return caught

    def guard(self, name: str, body, rng: random.Random) -> None:
        try:
            while not self.stop.is_set():
                try:
                    body(self.conn(name), rng)
                except Dead:
                    # The kill, or (for a worker) a connection it dropped on purpose.
                    continue
                except (OSError, ConnectionError):
                    continue  # no connection made: docketd is gone
        except BaseException as error:  # a Violation, or a bug of the test: fails the round
            self.errors.append(error)
            self.stop.set()

    def expect(self, entry: Entry, *prefixes: str) -> Entry:
        if not any(entry.reply.startswith(p) for p in prefixes):
            raise Violation("unexpected reply: %r" % entry)
        return entry

    def producer(self, c: Conn, rng: random.Random) -> None:
        while not self.stop.is_set():
            options = ["pri=%d" % rng.choice([-5, 0, 0, 3]), "attempts=%d" % rng.randint(1, 4),
                       "backoff=fixed:%dms" % rng.choice([50, 200]), "lease=%s" % rng.choice(["500ms", "2s", "5s"])]
            roll = rng.random()
            if roll < 0.2:
                options.append("delay=%dms" % rng.randint(100, 1500))
            elif roll < 0.23:
                options.append("delay=%ds" % rng.randint(20, 120))  # still delayed a few checks on
            if rng.random() < 0.1:
                options.append("ttl=%dms" % rng.randint(200, 2000))  # not started by then: dead
            if rng.random() < 0.3:
                # A small pool of keys, so duplicates and replacements happen.
                options.append("key=%s-%d" % (c.actor, rng.randint(0, 15)))
                if rng.random() < 0.5:
                    options.append("replace=true")
            self.expect(c.request(enq(rng.choice(WORK_QUEUES), "p%d" % rng.randint(0, 10**6), options)), "+OK ")
            time.sleep(PACE_S)

    def flows(self, c: Conn, rng: random.Random) -> None:
        while not self.stop.is_set():
            parents = rng.randint(1, 3)
            runs = rng.random() < 0.3
            queue = FLOW_RUN_QUEUE if runs else FLOW_QUEUE
            lines = [enq(queue, "parent", ["attempts=%d" % rng.randint(1, 3), "backoff=fixed:50ms", "lease=2s"])
                     for _ in range(parents)]
            after = ",".join("#%d" % (i + 1) for i in range(parents))
            child = ["after=" + after, "lease=2s", "attempts=2", "backoff=fixed:50ms"]
            if runs:
                child.append("on_parent_dead=run")
            lines.append(enq(queue, "child", child))
            # A grandchild after the child: a chain two deep.
            lines.append(enq(queue, "grandchild", ["after=#%d" % (parents + 1), "lease=2s"]))
            self.expect(c.request("BATCH %d\r\n%s" % (len(lines), "".join(lines))), "+OK ")
            time.sleep(PACE_S)

    def worker(self, c: Conn, rng: random.Random) -> None:
        queues = ",".join(ALL_QUEUES)
        while not self.stop.is_set():
            held = reserve(c, queues)
            if held is None:
                continue
            job, attempt = held
            roll = rng.random()
            if roll < 0.02:
                c.close()  # a worker lost: the attempt counts as failed
                raise Dead()
            if roll < 0.05:
                # Past a short lease: the job may go to another worker meanwhile, and this
                # worker's ACK or FAIL is then refused (NOT_HELD) and changes nothing.
                time.sleep(0.6)
            elif roll < 0.2:
                self.expect(c.request("PROGRESS %s %d attempt=%s\r\n" % (job, rng.randint(0, 100), attempt)), "+OK", *LOST_JOB)
            elif roll < 0.3:
                self.expect(c.request("TOUCH %s attempt=%s\r\n" % (job, attempt)), "+OK", *LOST_JOB)
            roll = rng.random()
            if roll < 0.03:
                # A downstream limit: back in line without using an attempt, the queue held.
                self.expect(c.request("FAIL %s attempt=%s throttle=%dms\r\n" % (job, attempt, rng.choice([20, 200]))),
                            "+OK throttled", *LOST_JOB)
            elif roll < 0.7:
                self.expect(c.request("ACK %s attempt=%s\r\n" % (job, attempt)), "+OK", *LOST_JOB)
            elif roll < 0.9:
                self.expect(c.request("FAIL %s attempt=%s retry=%dms 4\r\nboom\r\n" % (job, attempt, rng.choice([20, 300]))),
                            "+OK retry", "+OK dead", *LOST_JOB)
            else:
                self.expect(c.request("FAIL %s attempt=%s retry=no\r\n" % (job, attempt)), "+OK dead", *LOST_JOB)

    def janitor(self, c: Conn, rng: random.Random) -> None:
        while not self.stop.is_set():
            queue = rng.choice(WORK_QUEUES + [FLOW_QUEUE, FLOW_RUN_QUEUE])
            dead = json.loads(self.expect(c.request("DEAD %s limit=20\r\n" % queue), "JSON ").reply.split("\n", 1)[1])
            for job in dead:
                # Flow jobs are parents: deleting one would kill its children, which the flow
                # check would have to tell apart. They are only retried.
                if queue not in (FLOW_QUEUE, FLOW_RUN_QUEUE) and rng.random() < 0.4:
                    self.expect(c.request("DEL %d\r\n" % job["id"]), "+OK", "-ERR 'NOT_FOUND")
                else:
                    self.expect(c.request("RETRY %d\r\n" % job["id"]), "+OK", "-ERR 'NOT_DEAD", "-ERR 'NOT_FOUND")
            if rng.random() < 0.1:
                self.expect(c.request("RETRY queue=%s\r\n" % rng.choice(WORK_QUEUES)), "+OK ")
            time.sleep(0.05)

    def admin(self, c: Conn, rng: random.Random) -> None:
        while not self.stop.is_set():
            queue = rng.choice(WORK_QUEUES)
            roll = rng.random()
            if roll < 0.15:
                self.expect(c.request("PAUSE %s\r\n" % queue), "+OK")
                time.sleep(0.05)
                self.expect(c.request("RESUME %s\r\n" % queue), "+OK")
            else:
                settings = ["concurrency=%d" % rng.randint(2, 8), "rate=%d/1s" % rng.choice([500, 1000, 2000]),
                            "attempts=%d" % rng.randint(1, 4)]
                self.expect(c.request("QUEUE %s %s\r\n" % (queue, " ".join(settings))), "+OK")
            time.sleep(0.02)

    def publisher(self, c: Conn, rng: random.Random) -> None:
        inbox = "_INBOX.torture.%d" % self.round
        c.sock.sendall(("SUB %s 1\r\n" % inbox).encode())
        while not self.stop.is_set():
            payload = "event-%d" % rng.randint(0, 10**6)
            entry = Entry(self.round, c.actor, "PUB ev.%d %s" % (rng.randint(0, 3), inbox), time.monotonic())
            self.history.add(entry)
            try:
                c.sock.sendall(("%s %d\r\n%s\r\n" % (entry.request, len(payload), payload)).encode())
            except OSError:
                raise Dead()
            entry.reply = c.message()
            entry.answered = time.monotonic()
            time.sleep(PACE_S)


def setup(port: int, history: History) -> None:
    """What round 1 makes once: the route and the schedule."""
    c = Conn(port, history, 0, "setup")
    for text in ("ROUTE ev.* %s lease=2s\r\n" % ROUTED_QUEUE,
                 "SCHEDULE %s %s every=1s catchup=all lease=2s 1\r\nt\r\n" % (SCHEDULE_NAME, SCHEDULE_QUEUE)):
        entry = c.request(text)
        if not entry.reply.startswith("+OK"):
            raise Violation("setup: %r" % entry)
    c.close()


def options_of(request: str) -> dict[str, str]:
    return dict(w.split("=", 1) for w in request.split("\r\n")[0].split(" ") if "=" in w)


class Facts:
    """What the history says the clients were promised, read from every entry so far."""

    def __init__(self, entries: list[Entry]) -> None:
        self.enqueued: dict[int, Entry] = {}            # job id -> the ENQ, BATCH or PUB that answered it
        self.keyed: dict[tuple[str, str], list[tuple[Entry, int]]] = {}
        self.keyed_sent: dict[tuple[str, str], list[Entry]] = {}  # every keyed ENQ sent, whatever its outcome
        self.parents: dict[int, tuple[list[int], str]] = {}  # child -> (parents, on_parent_dead)
        self.handouts: list[tuple[Entry, int, str, int, int]] = []  # (entry, id, queue, attempt, delivery)
        self.acks: dict[int, list[Entry]] = {}          # every ACK sent, whatever its outcome
        self.acked: dict[int, Entry] = {}               # ACKs answered +OK
        self.finished_attempts: dict[int, list[tuple[Entry, int]]] = {}  # ACK/FAIL +OK: (entry, attempt)
        # Each time a job was told to be dead: (the request sent, its answer). Answers to two
        # connections can arrive in either order, so a RETRY answered after the first of those
        # times may have acted after the death.
        self.dead_seen: dict[int, list[tuple[float, float]]] = {}
        self.deletes: dict[int, list[Entry]] = {}       # every DEL sent
        self.retries: dict[int, list[Entry]] = {}       # every RETRY <id> sent
        self.queue_retries: dict[str, list[Entry]] = {}  # every RETRY queue= sent
        self.settings: dict[str, list[Entry]] = {}      # QUEUE <q> settings, PAUSE, RESUME sent
        for e in entries:
            self.read(e)

    def read(self, e: Entry) -> None:
        words = e.request.split("\r\n")[0].split(" ")
        verb, ok = words[0], e.reply is not None and e.reply.startswith("+OK")
        if verb == "ENQ" and "key" in options_of(e.request):
            self.keyed_sent.setdefault((words[1], options_of(e.request)["key"]), []).append(e)
        if verb == "ENQ" and ok:
            self.enqueued_one(e, e.request, int(e.reply.split(" ")[1]))
        elif verb == "BATCH" and ok:
            ids = [int(w) for w in e.reply.split(" ")[1:]]
            enqs = [line for line in e.request.split("\r\n") if line.startswith("ENQ ")]
            for line, job in zip(enqs, ids):
                self.enqueued_one(e, line, job)
                after = options_of(line).get("after")
                if after:
                    self.parents[job] = ([ids[int(ref[1:]) - 1] for ref in after.split(",")],
                                         options_of(line).get("on_parent_dead", "fail"))
        elif verb == "PUB" and e.reply is not None:
            for job in json.loads(e.reply.split("\n", 1)[1])["jobs"]:
                self.enqueued[job] = e
        elif verb == "RESERVE" and e.reply is not None and e.reply.startswith("JOB "):
            head = e.reply.split("\n")[0].split(" ")
            fields = dict(w.split("=", 1) for w in head if "=" in w)
            self.handouts.append((e, int(head[1]), head[2], int(head[3]), int(fields["delivery"])))
        elif verb in ("ACK", "FAIL"):
            job = int(words[1])
            attempt = int(options_of(e.request)["attempt"])
            if verb == "ACK":
                self.acks.setdefault(job, []).append(e)
                if ok:
                    self.acked[job] = e
            if ok and not e.reply.startswith("+OK throttled"):
                self.finished_attempts.setdefault(job, []).append((e, attempt))
            if e.reply == "+OK dead":
                self.dead_seen.setdefault(job, []).append((e.sent, e.answered))
        elif verb == "DEAD" and e.reply is not None and e.reply.startswith("JSON "):
            for job in json.loads(e.reply.split("\n", 1)[1]):
                self.dead_seen.setdefault(job["id"], []).append((e.sent, e.answered))
        elif verb == "DEL":
            self.deletes.setdefault(int(words[1]), []).append(e)
        elif verb == "RETRY" and words[1].startswith("queue="):
            self.queue_retries.setdefault(words[1][6:], []).append(e)
        elif verb == "RETRY":
            self.retries.setdefault(int(words[1]), []).append(e)
        elif verb in ("QUEUE", "PAUSE", "RESUME"):
            self.settings.setdefault(words[1], []).append(e)

    def enqueued_one(self, e: Entry, line: str, job: int) -> None:
        self.enqueued.setdefault(job, e)
        key = options_of(line).get("key")
        if key:
            self.keyed.setdefault((line.split(" ")[1], key), []).append((e, job))

    def retried_between(self, job: int, queue: str, since: float, until: float) -> bool:
        """A RETRY of the job (or of its queue) that may have acted after `since`, sent before `until`."""
        for e in self.retries.get(job, []) + self.queue_retries.get(queue, []):
            if e.sent < until and (e.answered is None or e.answered > since):
                return True
        return False

    def deleted(self, job: int, before: float = float("inf")) -> bool:
        return any(e.sent < before for e in self.deletes.get(job, []))


class Snapshot:
    """Every job of every queue, listed state by state (LIST pages), at one moment of a check."""

    def __init__(self, listed: list[tuple[str, dict]], began: float, taken: float) -> None:
        self.states: dict[int, list[str]] = {}
        self.jobs: dict[int, dict] = {}
        for state, job in listed:
            self.states.setdefault(job["id"], []).append(state)
            self.jobs[job["id"]] = job
        self.began, self.taken = began, taken
        self.doubled = {job for job, states in self.states.items() if len(states) > 1}

    @classmethod
    def take(cls, c: Conn, queues: list[str] = ALL_QUEUES) -> "Snapshot":
        began = time.monotonic()
        listed = []
        for queue in queues:
            # A job can move on its own (a delay or lease ending) while the pages are read: each
            # state is listed before the states it can move to, so such a job shows twice, never
            # nowhere (see `Checker.snapshot`).
            for state in ["active", "delayed", "waiting", "blocked", "dead", "completed"]:
                cursor = None
                while True:
                    entry = c.request("LIST %s state=%s limit=1000%s\r\n" % (queue, state, " after=" + cursor if cursor else ""))
                    if not entry.reply.startswith("JSON "):
                        raise Violation("LIST failed: %r" % entry)
                    page = json.loads(entry.reply.split("\n", 1)[1])
                    listed += [(state, job) for job in page["jobs"]]
                    cursor = page["next"]
                    if not cursor:
                        break
        return cls(listed, began, time.monotonic())


class Checker:
    """After each restart, the promises of README.md and PROTOCOL.md against the history:

    - every job whose ENQ (alone, in a BATCH, or made by a route and reported to the publisher)
      was answered +OK exists, unless a DEL of it was sent; a DEL answered +OK stays deleted;
    - a job whose ACK was answered +OK is completed, and is never handed out to a RESERVE sent
      after that answer;
    - one key of a queue names one job: ENQs with a key get the same id until a DEL of it was
      sent, and no two jobs listed carry one key;
    - no job is listed in the same two states by two listings in a row;
    - attempts never go backwards: not below the attempt of an ACK or FAIL answered +OK, nor
      below what the last check saw, unless a RETRY (which resets them) was sent since;
    - `delivery=` numbers are never handed out twice, crashes included;
    - a child of a flow is handed out only after an ACK of each parent was sent (or, with
      `on_parent_dead=run`, the parent died), unless a RETRY of the child was sent;
    - a job seen dead (FAIL answered `+OK dead`, DEAD, a check) is not handed out, nor seen
      alive, unless a RETRY of it or its queue was sent since;
    - the schedule (`every=1s catchup=all`) has one job per tick, every tick from its first to
      now, and a tick's job keeps its id from check to check;
    - the queue settings (QUEUE, PAUSE, RESUME) last answered +OK are in force, or one sent
      after them whose answer the kill took;
    - (embedded store) each queue's totals add up: enqueued = every state + removed + deleted.
    """

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres
        self.last_attempts: dict[int, tuple[float, int]] = {}  # job -> (check time, attempts seen)
        self.ticks: dict[int, int] = {}                         # tick -> job id, over the run
        self.dead_listed: dict[int, tuple[float, float]] = {}   # job -> the check that listed it dead
        self.delayed: dict[int, int] = {}                        # job -> run_at, at the last check
        self.checks = 0

    @staticmethod
    def snapshot(c: Conn) -> Snapshot:
        """Two listings, the second one judged: a job shown in two states counts only if the
        first listing showed it so too (a job that moved while the pages were read shows in
        two states once; delayed jobs come due and expiries pass all through a check)."""
        first = Snapshot.take(c)
        second = Snapshot.take(c)
        second.doubled = {job for job, states in second.states.items() if len(states) > 1 and first.states.get(job) == states}
        return second

    def check(self, history: History, port: int, round_: int) -> list[str]:
        c = Conn(port, history, round_, "checker")
        problems: list[str] = []
        try:
            self.wait_for_ticks(c)
            snap = self.snapshot(c)
            facts = Facts(list(history.entries))
            problems += self.judge(facts, snap)
            problems += self.queues([self.queue_document(c, q) for q in ALL_QUEUES], facts)
        finally:
            c.close()
        return problems

    def judge(self, facts: Facts, snap: Snapshot) -> list[str]:
        """Every check but the queues' against one listing of the jobs."""
        now = time.monotonic()
        self.checks += 1
        return (self.existence(facts, snap) + self.handouts(facts, snap) + self.keys(facts, snap)
                + self.attempts(facts, snap, now) + self.dead_jobs(facts, snap) + self.schedule(snap)
                + self.delays(snap))

    @staticmethod
    def queue_document(c: Conn, queue: str) -> dict:
        entry = c.request("QUEUE %s\r\n" % queue)
        if not entry.reply.startswith("JSON "):
            raise Violation("QUEUE failed: %r" % entry)
        return json.loads(entry.reply.split("\n", 1)[1])

    def wait_for_ticks(self, c: Conn) -> None:
        """Catch-up of missed ticks happens at start; wait (bounded) for the tick of a second ago."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            entry = c.request("SCHEDULES\r\n")
            schedule = [s for s in json.loads(entry.reply.split("\n", 1)[1]) if s["name"] == SCHEDULE_NAME]
            if not schedule:
                raise Violation("the schedule is gone: %r" % entry)
            if schedule[0]["last_tick"] and schedule[0]["last_tick"] >= time.time() * 1000 - 2 * SCHEDULE_EVERY_MS:
                return
            time.sleep(0.1)

    def existence(self, facts: Facts, snap: Snapshot) -> list[str]:
        out = []
        for job, e in facts.enqueued.items():
            if job not in snap.states and not facts.deleted(job):
                out.append("job %d was answered +OK and is gone: %r" % (job, e))
        for job, dels in facts.deletes.items():
            for e in dels:
                if e.reply == "+OK" and job in snap.states:
                    out.append("job %d was deleted (+OK) and is back, %s: %r" % (job, snap.states[job], e))
        for job, states in snap.states.items():
            if job in snap.doubled:
                out.append("job %d is listed in two states: %s" % (job, states))
            if states == ["active"] and not self.postgres:
                # A restart makes every active job waiting (or dead, on its last attempt), and
                # no worker is connected while the checker looks.
                out.append("job %d is active after a restart, with no worker connected" % job)
        for job, e in facts.acked.items():
            if job in snap.states and snap.states[job] != ["completed"]:
                out.append("job %d was ACKed (+OK) and is %s: %r" % (job, snap.states[job], e))
        return out

    def handouts(self, facts: Facts, snap: Snapshot) -> list[str]:
        out = []
        seen: dict[int, Entry] = {}
        for e, job, queue, attempt, delivery in facts.handouts:
            if delivery in seen:
                out.append("delivery %d handed out twice: %r and %r" % (delivery, seen[delivery], e))
            seen[delivery] = e
            doc = snap.jobs.get(job)
            if doc and attempt > doc["max_attempts"]:
                out.append("job %d ran attempt %d of %d: %r" % (job, attempt, doc["max_attempts"], e))
            if doc and doc.get("key"):
                out += self.payload(facts, e, job, (queue, doc["key"]))
            ack = facts.acked.get(job)
            if ack is not None and ack.answered < e.sent:
                out.append("job %d handed out after its ACK was answered +OK: %r, then %r" % (job, ack, e))
            if job in facts.parents and not facts.retried_between(job, queue, 0.0, e.answered):
                parents, on_dead = facts.parents[job]
                for parent in parents:
                    acked_before = any(a.sent < e.answered for a in facts.acks.get(parent, []))
                    # Under `run` a parent that died counts as done. A death by a lost worker or
                    # lease is seen only later (DEAD, a check) or through the RETRY that
                    # revived it, so any sign of one counts: this check is weaker for them.
                    died = on_dead == "run" and (parent in facts.dead_seen or parent in facts.retries
                                                 or snap.states.get(parent) == ["dead"])
                    if not (acked_before and snap.states.get(parent) == ["completed"]) and not died:
                        out.append("flow child %d handed out before parent %d completed (parent now %s): %r"
                                   % (job, parent, snap.states.get(parent), e))
        return out

    @staticmethod
    def payload(facts: Facts, e: Entry, job: int, key: tuple[str, str]) -> list[str]:
        """A keyed job is handed out with the payload of the last ENQ that made or replaced it
        answered before the RESERVE was sent, or of one sent after that (its answer late or lost)."""
        sent = sorted(facts.keyed_sent.get(key, []), key=lambda x: x.sent)
        made = [x for x in sent if x.reply and x.reply.split(" ")[1] == str(job) and not x.reply.endswith("duplicate")
                and x.answered < e.sent]
        if not made:
            return []
        last = made[-1]
        allowed = {x.request.split("\r\n")[1] for x in sent
                   if x is last or (last.sent < x.sent < e.answered and (x.reply is None or x.reply == "+OK %d replaced" % job))}
        payload = e.reply.split("\n", 1)[1]
        if payload not in allowed:
            return ["job %d (key %s) handed out with payload %r; the ENQs allow only %s: %r"
                    % (job, key[1], payload, sorted(allowed), e)]
        return []

    def keys(self, facts: Facts, snap: Snapshot) -> list[str]:
        out = []
        for (queue, key), answers in facts.keyed.items():
            answers = sorted(answers, key=lambda a: a[0].answered)
            for (first, a), (second, b) in zip(answers, answers[1:]):
                if a != b and not facts.deleted(a, second.answered):
                    out.append("key %s of %s made two jobs, %d and %d: %r, then %r" % (key, queue, a, b, first, second))
        listed: dict[tuple[str, str], int] = {}
        for job, doc in snap.jobs.items():
            if doc.get("key"):
                other = listed.setdefault((doc["queue"], doc["key"]), job)
                if other != job:
                    out.append("two jobs with key %s in %s: %d and %d" % (doc["key"], doc["queue"], other, job))
        return out

    def attempts(self, facts: Facts, snap: Snapshot, now: float) -> list[str]:
        out = []
        for job, doc in snap.jobs.items():
            attempts = doc["attempts"]
            for e, attempt in facts.finished_attempts.get(job, []):
                if attempts < attempt and not facts.retried_between(job, doc["queue"], e.sent, now):
                    out.append("job %d has %d attempts after attempt %d was answered +OK: %r" % (job, attempts, attempt, e))
            if job in self.last_attempts:
                seen_at, before = self.last_attempts[job]
                if attempts < before and not facts.retried_between(job, doc["queue"], seen_at, now):
                    out.append("job %d had %d attempts at the last check, now %d" % (job, before, attempts))
            self.last_attempts[job] = (now, attempts)
        return out

    def dead_jobs(self, facts: Facts, snap: Snapshot) -> list[str]:
        out = []
        for job, seen in self.dead_listed.items():
            facts.dead_seen.setdefault(job, []).append(seen)
        queue_of = {job: q for _, job, q, _, _ in facts.handouts}
        for e, job, queue, _, _ in facts.handouts:
            for told, answered in facts.dead_seen.get(job, []):
                if answered < e.sent and not facts.retried_between(job, queue, told, e.answered):
                    out.append("job %d was dead and handed out without a RETRY: %r" % (job, e))
        for job, times in facts.dead_seen.items():
            states = snap.states.get(job)
            queue = queue_of.get(job) or (snap.jobs[job]["queue"] if job in snap.jobs else "")
            if states and states not in (["dead"], ["completed"]) and not facts.retried_between(job, queue, max(times)[0], snap.taken):
                out.append("job %d was dead and is %s without a RETRY" % (job, states))
        for job, states in snap.states.items():
            if states == ["dead"]:
                self.dead_listed.setdefault(job, (snap.began, snap.taken))
            else:
                self.dead_listed.pop(job, None)
        return out

    def delays(self, snap: Snapshot) -> list[str]:
        """A job delayed by its ENQ at two checks in a row kept its run time across the restart
        between them (keyed jobs aside: a replace=true ENQ gives a new one; and jobs that ran:
        each failure delays them anew)."""
        out = []
        delayed = {job: doc["run_at"] for job, doc in snap.jobs.items()
                   if snap.states[job] == ["delayed"] and not doc.get("key") and doc["attempts"] == 0}
        for job, run_at in delayed.items():
            if job in self.delayed and self.delayed[job] != run_at:
                out.append("job %d was delayed until %d, and now until %d" % (job, self.delayed[job], run_at))
        self.delayed = delayed
        return out

    def schedule(self, snap: Snapshot) -> list[str]:
        out = []
        ticks: dict[int, int] = {}
        for job, doc in snap.jobs.items():
            if doc["queue"] != SCHEDULE_QUEUE:
                continue
            name, _, tick = (doc.get("key") or "").partition("@")
            if name != SCHEDULE_NAME:
                out.append("job %d of the schedule's queue has key %r" % (job, doc.get("key")))
                continue
            if int(tick) in ticks:
                out.append("tick %s made two jobs: %d and %d" % (tick, ticks[int(tick)], job))
            ticks[int(tick)] = job
        for tick, job in ticks.items():
            if self.ticks.setdefault(tick, job) != job:
                out.append("tick %d made job %d, and now job %d" % (tick, self.ticks[tick], job))
        for tick in self.ticks:
            if tick not in ticks:
                out.append("the job of tick %d (%d) is gone" % (tick, self.ticks[tick]))
        if ticks:
            first, last = min(self.ticks), max(self.ticks)
            missing = [t for t in range(first, last + 1, SCHEDULE_EVERY_MS) if t not in self.ticks]
            if missing:
                out.append("catchup=all lost %d ticks between %d and %d, first %d" % (len(missing), first, last, missing[0]))
            if any((t - first) % SCHEDULE_EVERY_MS for t in self.ticks):
                out.append("ticks off the schedule's grid: %s" % sorted(self.ticks)[:10])
        return out

    def queues(self, documents: list[dict], facts: Facts) -> list[str]:
        out = []
        for doc in documents:
            queue = doc["queue"]
            if not self.postgres:
                totals, jobs = doc["totals"], doc["jobs"]
                if totals["enqueued"] != sum(jobs.values()) + totals["removed"] + totals["deleted"]:
                    out.append("queue %s totals do not add up: %s, jobs %s" % (queue, totals, jobs))
            sent = facts.settings.get(queue, [])
            for name, read in (("concurrency", lambda d: d["config"].get("concurrency")),
                               ("rate", lambda d: d["config"].get("rate")),
                               ("attempts", lambda d: d["config"].get("attempts")),
                               ("paused", lambda d: d["paused"])):
                candidates = self.acceptable(sent, name)
                if candidates is not None and normalize_setting(read(doc)) not in candidates:
                    out.append("queue %s: %s is %r, the requests allow only %s" % (queue, name, read(doc), sorted(candidates)))
        return out

    @staticmethod
    def acceptable(sent: list[Entry], name: str) -> set[str] | None:
        """The values of a setting the requests allow: the last answered +OK, and every one sent
        after it whose answer never came (None: any)."""
        values = []
        for e in sorted(sent, key=lambda e: e.sent):
            words = e.request.split("\r\n")[0].split(" ")
            if name == "paused":
                if words[0] not in ("PAUSE", "RESUME"):
                    continue
                value = "true" if words[0] == "PAUSE" else "false"
            else:
                if words[0] != "QUEUE":
                    continue
                value = options_of(e.request).get(name)
                if value is None:
                    continue
            values.append((value, e.reply))
        allowed: set[str] = set()
        for value, reply in reversed(values):
            if reply is None:
                allowed.add(normalize_setting(value))
            elif reply.startswith("+OK"):
                allowed.add(normalize_setting(value))
                return allowed
        return None  # nothing answered +OK yet: the default stands too, or one sent


def normalize_setting(value) -> str:
    """A setting as QUEUE shows it: `500/1s` is `500/1000ms`."""
    if value is True or value is False:
        return "true" if value else "false"
    if m := re.fullmatch(r"(\d+)/(\d+)(ms|s)", str(value)):
        return "%s/%dms" % (m.group(1), int(m.group(2)) * (1000 if m.group(3) == "s" else 1))
    return str(value)


def run(docketd: str, rounds: int, seconds: float, seed: int, flags: list[str] = (), store_url: str | None = None,
        say=print, at_checkpoints: bool = False) -> dict:
    """`rounds` rounds of load, each killed with SIGKILL at a random moment within `seconds`
    (with `at_checkpoints`, at the first write of data.mdb after it: a checkpoint's, under
    either --sync); raises Violation with every broken promise of the round that found
    one. Returns figures."""
    caught = []
    server = Server(docketd, list(flags), store_url)
    history = History()
    checker = Checker(postgres=store_url is not None)
    rng = random.Random(seed)
    try:
        server.start()
        setup(server.port, history)
        for round_ in range(1, rounds + 1):
            kill_after = rng.uniform(0.3, seconds)
            if call := Load(server, history, round_, seed, threading.Event()).run(kill_after, at_checkpoints):
                caught.append(call)
            if rng.random() < 0.25:
                # A second crash before the first one's recovery is done, or right after it.
                server.crash_while_starting(rng.uniform(0.0, 0.4))
            try:
                server.start()
                problems = checker.check(history, server.port, round_)
            except Violation as violation:
                problems = [str(violation)]
            facts = Facts(history.entries)
            say("round %d: killed after %.2f s%s; %d jobs answered, %d ACKs, %d hand-outs, %d ticks; start %.2f s"
                % (round_, kill_after, " in a %s of data.mdb" % call if at_checkpoints and call else "",
                   len(facts.enqueued), len(facts.acked), len(facts.handouts), len(checker.ticks), server.starts[-1]))
            if problems:
                raise Violation("seed %d round %d (data in %s):\n  %s" % (seed, round_, server.dir, "\n  ".join(problems[:30])))
        facts = Facts(history.entries)
        server.close()
        return {"rounds": rounds, "jobs": len(facts.enqueued), "acks": len(facts.acked), "handouts": len(facts.handouts),
                "ticks": len(checker.ticks), "slowest_start_s": max(server.starts), "requests": len(history.entries),
                "kills_in_data_writes": len(caught)}
    except Violation:
        server.kill()
        with open(os.path.join(server.dir, "history.txt"), "w") as f:
            f.writelines("[round %d %s sent %.6f answered %s] %r -> %r\n"
                         % (e.round, e.actor, e.sent, e.answered, e.request, e.reply) for e in history.entries)
        say("docketd's data, log and the clients' history (history.txt) kept in " + server.dir)
        raise
    except BaseException:
        server.close()
        raise
    finally:
        server.kill()
