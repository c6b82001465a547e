"""A power-loss simulator for docketd's embedded store (see test_power_loss.py for what it
assumes of the file system and what it checks).

record.c, loaded into docketd with LD_PRELOAD, logs every call that changes the data directory
and every flush, in order. `Recording` reads that log; `crash_state` rebuilds, for a point in it,
one data directory that a power loss at that point could leave; `CrashStates` picks the points
and the choices made at each."""
from __future__ import annotations

import os
import re
import time
import random
import shutil
import struct
import subprocess
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))

MKDIR, CREATE, RENAME, UNLINK, WRITE, TRUNCATE, EXTEND, SYNC_BEGIN, SYNC_END, RANGE_SYNC, MAP = range(1, 12)
NAMES = {MKDIR: "mkdir", CREATE: "create", RENAME: "rename", UNLINK: "unlink", WRITE: "write",
         TRUNCATE: "truncate", EXTEND: "extend", SYNC_BEGIN: "sync-begin", SYNC_END: "sync-end",
         RANGE_SYNC: "range-sync", MAP: "map"}
HEADER = struct.Struct("<IIQqqQIIQ")
SECTOR = 512

# LMDB's lock file lives in a shared writable mapping and holds no data: a start rebuilds it.
# Its content after a crash is whatever the model gives; it is never what makes a job durable.
UNMODELLED = {"lock.mdb"}


def build_recorder(directory: str) -> str | None:
    """record.c built into `directory`; None where no C compiler or LD_PRELOAD (not Linux)."""
    if os.uname().sysname != "Linux":
        return None
    library = os.path.join(directory, "record.so")
    for compiler in ("cc", "clang"):
        if shutil.which(compiler) and subprocess.run(
                [compiler, "-shared", "-fPIC", "-O2", "-o", library, os.path.join(HERE, "record.c"), "-ldl", "-lpthread"],
                capture_output=True).returncode == 0:
            return library
    return None


@dataclass
class Record:
    op: int
    tid: int
    sequence: int
    a: int
    b: int
    nanoseconds: int
    path: str
    second: str
    data: bytes
    end: int          # byte offset in the log just past this record

    def __str__(self) -> str:
        extra = f" -> {self.second}" if self.second else ""
        size = (f" {len(self.data)}B@{self.a}{' O_DSYNC' if self.b else ''}" if self.op == WRITE
                else f" a={self.a} b={self.b}")
        return f"#{self.sequence} t{self.tid} {NAMES[self.op]} {self.path}{extra}{size}"


def read_log(path: str) -> list[Record]:
    records = []
    with open(path, "rb") as f:
        raw = f.read()
    offset = 0
    # Each docketd process numbers its records from 1: numbers are made unique across the
    # processes of one log (a flush's begin, named by number, is always its own process's).
    base = last = 0
    while offset + HEADER.size <= len(raw):
        op, tid, sequence, a, b, ns, path_length, second_length, data_length = HEADER.unpack_from(raw, offset)
        if sequence <= last:
            base += last
        last = sequence
        sequence += base
        if op == SYNC_END:
            b += base
        position = offset + HEADER.size
        end = position + path_length + second_length + data_length
        if end > len(raw):
            break
        path_text = raw[position:position + path_length].decode()
        second = raw[position + path_length:position + path_length + second_length].decode()
        data = raw[position + path_length + second_length:end]
        records.append(Record(op, tid, sequence, a, b, ns, path_text, second, data, end))
        offset = end
    return records


@dataclass
class Inode:
    """A file's content as the disk holds it for sure (`durable`), and the changes made since
    that a power loss may or may not have kept (`pending`: ("write", offset, bytes, sequence),
    ("size", new size, sequence))."""
    durable: bytearray = field(default_factory=bytearray)
    pending: list = field(default_factory=list)
    mapped: bool = False

    def current(self) -> bytearray:
        content = bytearray(self.durable)
        for change in self.pending:
            apply(content, change)
        return content

    def flush(self, before: int) -> None:
        """A completed fsync/fdatasync whose begin was `before`: every change recorded before it is on disk."""
        keep = []
        for change in self.pending:
            if change[-1] < before:
                apply(self.durable, change)
            else:
                keep.append(change)
        self.pending = keep


def apply(content: bytearray, change: tuple) -> None:
    if change[0] == "write":
        _, offset, data, _ = change
        if len(content) < offset:
            content.extend(bytes(offset - len(content)))
        content[offset:offset + len(data)] = data
    else:
        _, size, _ = change
        if size < len(content):
            del content[size:]
        else:
            content.extend(bytes(size - len(content)))


@dataclass
class Model:
    """The file system after a prefix of the log: inodes, the names the disk holds for sure
    (`durable_names`: path -> inode; directories map to None) and the namespace changes since
    (`pending_names`: (sequence, directory, kind, path, second, inode))."""
    inodes: dict = field(default_factory=dict)
    names: dict = field(default_factory=dict)
    durable_names: dict = field(default_factory=dict)
    pending_names: list = field(default_factory=list)
    next_inode: int = 0
    unsupported: list = field(default_factory=list)


def model_of(records: list[Record], upto: int, present: dict[str, bytes]) -> Model:
    """The model after `records[:upto]`, starting from files `present` on disk, durably, before
    the first record (the directories above the data directory are durable)."""
    model = Model()
    for path, content in present.items():
        inode = model.next_inode
        model.next_inode += 1
        model.inodes[inode] = Inode(bytearray(content))
        model.names[path] = model.durable_names[path] = inode
        model.names[os.path.dirname(path)] = model.durable_names[os.path.dirname(path)] = None
    for record in records[:upto]:
        step(model, record)
    return model


def step(model: Model, r: Record) -> None:
    directory = os.path.dirname(r.path)
    if r.op == MKDIR:
        model.names[r.path] = None
        model.pending_names.append((r.sequence, directory, "mkdir", r.path, "", None))
    elif r.op == CREATE:
        inode = model.next_inode
        model.next_inode += 1
        model.inodes[inode] = Inode()
        model.names[r.path] = inode
        model.pending_names.append((r.sequence, directory, "link", r.path, "", inode))
    elif r.op == RENAME:
        inode = model.names.pop(r.path, None)
        model.names[r.second] = inode
        model.pending_names.append((r.sequence, directory, "rename", r.path, r.second, inode))
    elif r.op == UNLINK:
        model.names.pop(r.path, None)
        model.pending_names.append((r.sequence, directory, "unlink", r.path, "", None))
    elif r.op in (WRITE, TRUNCATE, EXTEND, MAP):
        inode = model.names.get(r.path)
        if inode is None:
            model.unsupported.append(f"{r}: no such file in the model")
            return
        node = model.inodes[inode]
        if r.op == WRITE:
            node.pending.append(("write", r.a, r.data, r.sequence))
            if r.b:  # O_DSYNC: this write's range is on disk when the call returns
                apply(node.durable, node.pending.pop())
                # Earlier writes still pending no longer decide those bytes: every later version
                # of the range is this write's.
                node.pending = [part for change in node.pending for part in outside(change, r.a, len(r.data))]
        elif r.op == TRUNCATE:
            node.pending.append(("size", r.a, r.sequence))
        elif r.op == EXTEND:
            size = max(len(node.current()), r.a + r.b)
            node.pending.append(("size", size, r.sequence))
        else:
            node.mapped = True
    elif r.op == SYNC_END:
        if r.a:  # a directory: the names in it that were changed before the flush began
            keep = []
            for change in model.pending_names:
                if change[0] < r.b and change[1] == r.path:
                    commit_name(model.durable_names, change)
                else:
                    keep.append(change)
            model.pending_names = keep
        else:
            inode = model.names.get(r.path)
            if inode is not None:
                model.inodes[inode].flush(r.b)


def outside(change: tuple, offset: int, length: int) -> list[tuple]:
    """The parts of a pending change outside the range [offset, offset + length)."""
    if change[0] != "write":
        return [change]
    _, start, data, sequence = change
    parts = []
    if start < offset:
        parts.append(("write", start, data[:offset - start], sequence))
    if start + len(data) > offset + length:
        cut = max(0, offset + length - start)
        parts.append(("write", start + cut, data[cut:], sequence))
    return [p for p in parts if p[2]] if (start < offset + length and offset < start + len(data)) else [change]


def commit_name(names: dict, change: tuple) -> None:
    _, _, kind, path, second, inode = change
    if kind in ("mkdir", "link"):
        names[path] = inode
    elif kind == "rename":
        names.pop(path, None)
        names[second] = inode
    elif kind == "unlink":
        names.pop(path, None)


def sector_versions(node: Inode) -> tuple[list[bytearray], list[int]]:
    """The file's content after 0, 1, … of its pending changes, and each version's size."""
    versions = [bytearray(node.durable)]
    for change in node.pending:
        content = bytearray(versions[-1])
        apply(content, change)
        versions.append(content)
    return versions, [len(v) for v in versions]


def crash_content(node: Inode, rng: random.Random, mode: str, granularity: int) -> bytes:
    """One content a power loss could leave of a file.

    The size is the one some moment since the last flush left (the journal commits it with
    some transaction); every `granularity` block of it holds what some moment since the last
    flush left there, each block chosen on its own (writeback goes page by page, in any order,
    and a power cut tears a write at sector boundaries), except that blocks the size exposes
    beyond the durable size hold at least what they held at that moment (ext4 data=ordered
    writes a new block's data before the commit that makes it part of the file). Modes:
    "old" (nothing since the flush), "new" (everything), "in-place" (the newest bytes of every
    block inside the durable size, nothing beyond it: writeback of blocks already allocated
    went first, as it does, in ascending order from the file's start, while the blocks and size
    of an append wait for delayed allocation and the journal), "random"."""
    if not node.pending:
        return bytes(node.durable)
    versions, sizes = sector_versions(node)
    last = len(versions) - 1
    if mode == "old":
        return bytes(versions[0])
    if mode == "new":
        return bytes(versions[-1])
    if mode == "in-place":
        return bytes(versions[-1][:sizes[0]]) + bytes(max(0, sizes[0] - sizes[-1]))
    moment = rng.randrange(0, last + 1)
    size = sizes[moment]
    out = bytearray(size)
    durable_size = sizes[0]
    # Which versions differ per block: only blocks some pending write touched need a choice.
    for start in range(0, size, granularity):
        stop = min(start + granularity, size)
        low = moment if start >= durable_size else 0
        choice = rng.randrange(low, last + 1) if rng.random() < 0.5 else rng.choice((low, last))
        version = versions[choice]
        chunk = version[start:stop]
        out[start:start + len(chunk)] = chunk
    return bytes(out)


def crash_state(records: list[Record], upto: int, target: str, rng: random.Random, mode: str = "random",
                granularity: int = SECTOR, present: dict[str, bytes] | None = None,
                into: str | None = None) -> list[str]:
    """Writes what a power loss right after `records[:upto]` could leave of `target` (the
    recorded data directory) into `into` (by default `target` itself), and returns what it
    chose (for a failure's message)."""
    into = into or target
    model = model_of(records, upto, present or {})
    problems = list(model.unsupported)
    for inode, node in model.inodes.items():
        if node.mapped and not any(os.path.basename(p) in UNMODELLED for p, i in model.names.items() if i == inode):
            problems.append(f"a file under {target} is written through a shared mapping, which the recorder cannot see")
    if problems:
        raise RuntimeError("; ".join(problems))
    # Namespace changes are kept in the order they were made (a journalling file system commits
    # them in order): some prefix of those not yet made durable by a directory's fsync.
    names = dict(model.durable_names)
    pending = model.pending_names
    keep = {"old": 0, "new": len(pending), "in-place": 0}.get(mode, rng.randrange(0, len(pending) + 1))
    for change in pending[:keep]:
        commit_name(names, change)
    chosen = [f"{keep} of {len(pending)} pending name changes kept"]
    if os.path.exists(into):
        shutil.rmtree(into)
    if target not in names:
        chosen.append(f"{target} itself is missing")
        return chosen
    inside = sorted(path for path in names if path.startswith(target + "/"))
    os.makedirs(into)
    for path in inside:
        if names[path] is None:
            os.makedirs(into + path[len(target):], exist_ok=True)
    for path in inside:
        if names[path] is None:
            continue
        node = model.inodes[names[path]]
        content = crash_content(node, rng, mode, granularity)
        if node.pending:
            chosen.append(f"{os.path.basename(path)}: {len(content)} bytes, {len(node.pending)} pending change(s)")
        with open(into + path[len(target):], "wb") as f:
            f.write(content)
    missing = sorted(os.path.basename(p) for p in model.names if p.startswith(target + "/") and p not in names)
    if missing:
        chosen.append("missing: " + ", ".join(missing))
    return chosen


# --- The recorded load and the promises it was given ---------------------------------------------

@dataclass
class Promise:
    """A reply that promised durability: `kind` "enq" (the job exists), "ack" (it is completed)
    or "dead" (FAIL retry=no: it is dead); `logged` the recording's size when the reply arrived
    (every call recorded before that offset happened before the reply was read), `at` the
    CLOCK_MONOTONIC nanoseconds then."""
    kind: str
    job: int
    logged: int
    at: int


def recorded_load(port: int, log: str, seed: int, jobs: int, promises: list[Promise]) -> None:
    """One producer ENQs `jobs` jobs of mixed sizes (a few spanning LMDB overflow pages); a worker
    RESERVEs and ACKs most and FAILs every fifth with retry=no, as they come. Sequential, so that
    the order of replies is the order of promises; paced so that the load spans several
    checkpoints (every 100 ms)."""
    import sweep
    rng = random.Random(seed)
    producer = sweep.Connection(port)
    worker = sweep.Connection(port)

    def promise(kind: str, job: int) -> None:
        promises.append(Promise(kind, job, os.path.getsize(log), time.monotonic_ns()))

    for n in range(jobs):
        payload = bytes(rng.randrange(97, 123) for _ in range(rng.choice((1, 40, 700, 6000))))
        reply = producer.ask(f"ENQ powerloss key=s{seed}-{n} {len(payload)}", payload)
        assert reply.startswith("+OK "), reply
        promise("enq", int(reply.split()[1]))
        if n % 3 == 2:
            while True:
                reply = worker.ask("RESERVE powerloss timeout=10ms")
                if not reply.startswith("JOB "):
                    break
                job = int(reply.split()[1])
                if job % 5 == 0:
                    answer = worker.ask(f"FAIL {job} retry=no 4", b"gone")
                    assert answer.startswith("+OK"), answer
                    promise("dead", job)
                else:
                    answer = worker.ask(f"ACK {job}")
                    assert answer == "+OK", answer
                    promise("ack", job)
            time.sleep(0.02)  # spreads the load over checkpoints; not a synchronisation
    producer.close()
    worker.close()


def broken_promises(port: int, promises: list[Promise]) -> list[str]:
    """What a server started on a crash state lost of `promises` (the ones it must keep)."""
    import sweep
    c = sweep.Connection(port)
    expected: dict[int, str] = {}
    for p in promises:
        expected[p.job] = {"enq": expected.get(p.job, "there"), "ack": "completed", "dead": "dead"}[p.kind]
    problems = []
    for job, want in sorted(expected.items()):
        reply = c.ask(f"INSPECT {job}")
        if not reply.startswith("JSON "):
            problems.append(f"job {job} was acknowledged ({want}), and INSPECT says {reply}")
            continue
        state = re.search(r'"state":"(\w+)"', reply)
        if want != "there" and (not state or state.group(1) != want):
            problems.append(f"job {job} was answered +OK as {want}, and is now {state and state.group(1)}")
    c.close()
    return problems


def crash_points(records: list[Record], rng: random.Random, count: int) -> list[int]:
    """`count` points (record counts) to cut the recording at, drawn from just before and just
    after each flush, each namespace change and each write of a file other than the log (LMDB's
    commits and checkpoints), half of them among those other than the log's flushes, which
    outnumber the rest."""
    rare, common = [], []
    for index, r in enumerate(records):
        if r.op in (SYNC_END, RENAME, CREATE, MKDIR, UNLINK, TRUNCATE) or (r.op == WRITE and not r.path.endswith(".log")):
            (common if r.path.endswith(".log") and r.op == SYNC_END else rare).extend((index, index + 1))
    rare, common = sorted(set(rare)), sorted(set(common))
    chosen: list[int] = []
    # Each point once before any twice: more states than points look at points again, with
    # other choices.
    while len(chosen) < count:
        need = count - len(chosen)
        take = rng.sample(rare, min(len(rare), (need + 1) // 2))
        take += rng.sample(common, min(len(common), need - len(take)))
        if len(take) < need:  # one kind ran short: the other fills in
            rest = [point for point in rare + common if point not in take]
            take += rng.sample(rest, min(len(rest), need - len(take)))
        if not take:
            break
        chosen += take
    return sorted(chosen)
