#!/usr/bin/env python3
"""A live protocol fuzzer: random and mutated commands of every verb at a real docketd's client port.

The libFuzzer targets (scripts/fuzz.sh) check the pure parsers; this one checks the server around
them: that whatever one connection sends, the server answers it (or ends only that connection),
never crashes, never hangs, and gives back the descriptors and memory the connection took, while a
well-behaved client beside it keeps enqueueing, reserving, acknowledging and publishing.

Each round opens a connection (or reuses the last one while it is open), sends a batch of commands
made from templates of every verb (job verbs, NATS verbs, $DOCKET.API requests) and mutated at
random (bytes flipped, inserted, dropped, numbers made extreme, sizes made wrong, lines cut or
joined), then a PING, and reads until the PONG, the end of the connection, or --answer-seconds
(a mutated size can leave the server rightly waiting for a payload: the connection is dropped and
counted). Then the witness client does a job cycle and a PUB/SUB round trip, which must answer
within --witness-seconds. At the end the connections are all closed, and the server's open
descriptors must come back to what they were after warming up; its RSS is reported.

Bounded and reproducible: --seed fixes every choice, --rounds and --seconds bound the run (it stops
at whichever comes first), and everything goes to 127.0.0.1. A batch that broke something is written
to --save (default fuzz-failure-<seed>-<round>.bin) so that it can be sent again by hand.

    scripts/fuzz-protocol.py --docketd .build/debug/docketd --seed 1 --rounds 500
    scripts/fuzz-protocol.py --docketd .build-rel/release/docketd --seed 7 --rounds 20000 --seconds 300

Exit status: 0 if nothing broke, 1 if the server crashed, hung, leaked descriptors or failed the
witness; 2 if it could not start.
"""
from __future__ import annotations

import argparse
import os
import random
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from docketd_process import start_docketd  # noqa: E402

QUEUES = [b"q", b"fuzz", b"a.b", b"", b"*", b">", b"q" * 300, b"\xff\xfe", b"$JOB.x"]
SUBJECTS = [b"foo", b"foo.bar", b"foo.*", b"foo.>", b">", b"*", b"", b"..", b"a..b", b"$DOCKET.API.STATS",
            b"$JOB.q.1", b"_INBOX.x", b"x" * 600, b"foo\x00bar", b"f o o"]
NUMBERS = [b"0", b"1", b"-1", b"2", b"18446744073709551615", b"18446744073709551616", b"9" * 40, b"1e3",
           b"0x10", b"+1", b" ", b"", b"00000000000000000001", b"4294967296", b"-9223372036854775808"]
DURATIONS = [b"0", b"1ms", b"5s", b"1m", b"1h", b"99999999999999d", b"-1s", b"1.5s", b"s", b"10y", b"1ns"]
OPTIONS = [b"delay=", b"at=", b"pri=", b"attempts=", b"backoff=", b"jitter=", b"lease=", b"key=", b"group=",
           b"ttl=", b"expires=", b"after=", b"on_parent_dead=", b"key_ttl=", b"replace=", b"timeout=", b"limit=",
           b"state=", b"older=", b"rate=", b"group_rate=", b"concurrency=", b"keep_completed=", b"keep_dead=",
           b"cron=", b"every=", b"tz=", b"catchup=", b"retry=", b"throttle=", b"attempt=", b"unknown="]
OPTION_VALUES = DURATIONS + NUMBERS + [b"exp:1s:1m", b"fixed:1s", b"none", b"10/1s", b"true", b"false",
                                       b"\"* * * * *\"", b"\"61 * * * *\"", b"Europe/Paris", b"Mars/Olympus",
                                       b"ready", b"dead", b"completed", b"k" * 300, b"1,2,3", b"delete", b"fail"]
API_VERBS = [b"ENQ.q", b"RESERVE.q", b"RESERVE.q.fuzz", b"ACK.1", b"FAIL.1", b"PROGRESS.1.50", b"TOUCH.1",
             b"INSPECT.1", b"WAIT.1", b"RETRY.1", b"DEL.1", b"QUEUE.q", b"PAUSE.q", b"RESUME.q", b"DEAD.q",
             b"QUEUES", b"ROUTES", b"UNROUTE.1", b"LIST.q", b"PURGE.q", b"PROMOTE.1", b"SCHEDULE.s.q",
             b"UNSCHEDULE.s", b"CHILDREN.1", b"SCHEDULES", b"PARENTS.1", b"BATCH", b"STATS", b"PAUSE", b"ENQ",
             b"ACK", b"NOPE.1", b"ack.1", b"ENQ.q.extra"]


def payload(rng: random.Random) -> bytes:
    size = rng.choice([0, 1, 5, 16, 200, 4096])
    return bytes(rng.randrange(256) for _ in range(size)) if rng.random() < 0.3 else b"p" * size


def options(rng: random.Random) -> bytes:
    return b" ".join(rng.choice(OPTIONS) + rng.choice(OPTION_VALUES) for _ in range(rng.randrange(4)))


def with_payload(line: bytes, body: bytes) -> bytes:
    return line + b" %d\r\n" % len(body) + body + b"\r\n"


def template(rng: random.Random) -> bytes:
    """One command, well formed or nearly: the mutations come after."""
    number = rng.choice(NUMBERS)
    queue = rng.choice(QUEUES)
    kind = rng.randrange(30)
    if kind == 0:
        return b'CONNECT {"verbose":%s,"pedantic":%s,"headers":%s,"name":"%s","protocol":%s}\r\n' % (
            rng.choice([b"false", b"true", b"1", b"null"]), rng.choice([b"false", b"true"]),
            rng.choice([b"true", b"false"]), rng.choice([b"n", b"\\u0000", b"\\ud800", b"x" * 100]), number)
    if kind == 1:
        return with_payload(b"PUB " + rng.choice(SUBJECTS), payload(rng))
    if kind == 2:
        return with_payload(b"PUB " + rng.choice(SUBJECTS) + b" " + rng.choice(SUBJECTS), payload(rng))
    if kind == 3:
        headers = b"NATS/1.0\r\n" + b"".join(b"%s: %s\r\n" % (rng.choice([b"Docket-Options", b"X", b"", b":"]),
                                                                  options(rng)) for _ in range(rng.randrange(3))) + b"\r\n"
        if rng.random() < 0.2:
            headers = headers[: rng.randrange(len(headers) + 1)]
        body = payload(rng)
        subject = b"$DOCKET.API." + rng.choice(API_VERBS) if rng.random() < 0.7 else rng.choice(SUBJECTS)
        reply = rng.choice([b"_INBOX.fuzz", b"", b"_INBOX.*", b"$JOB.x", b"r"])
        return b"HPUB %s %s %d %d\r\n" % (subject, reply, len(headers), len(headers) + len(body)) + headers + body + b"\r\n"
    if kind == 4:
        return with_payload(b"PUB $DOCKET.API." + rng.choice(API_VERBS) + b" _INBOX.fuzz", payload(rng))
    if kind == 5:
        return b"SUB %s %s%s\r\n" % (rng.choice(SUBJECTS), rng.choice([b"", b"grp ", b"* "]), number)
    if kind == 6:
        return b"UNSUB %s %s\r\n" % (number, rng.choice([b"", number]))
    if kind in (7, 8):
        return with_payload(b"ENQ " + queue + b" " + options(rng), payload(rng)).replace(b"  ", b" ")
    if kind == 9:
        return b"RESERVE %s timeout=0 %s\r\n" % (queue, options(rng))
    if kind == 10:
        return with_payload(b"ACK " + number, payload(rng)) if rng.random() < 0.5 else b"ACK %s\r\n" % number
    if kind == 11:
        return b"FAIL %s %s\r\n" % (number, options(rng))
    if kind == 12:
        return b"PROGRESS %s %s\r\n" % (number, rng.choice(NUMBERS))
    if kind == 13:
        return b"TOUCH %s\r\n" % number
    if kind == 14:
        return b"INSPECT %s\r\n" % number
    if kind == 15:
        return b"DEAD %s %s\r\n" % (queue, options(rng))
    if kind == 16:
        return b"%s %s\r\n" % (rng.choice([b"RETRY", b"DEL", b"PROMOTE", b"PARENTS", b"CHILDREN"]), number)
    if kind == 17:
        return b"QUEUE %s %s\r\n" % (queue, options(rng))
    if kind == 18:
        return b"%s %s\r\n" % (rng.choice([b"PAUSE", b"RESUME"]), queue)
    if kind == 19:
        return rng.choice([b"STATS\r\n", b"QUEUES\r\n", b"ROUTES\r\n", b"SCHEDULES\r\n", b"HELP\r\n", b"PING\r\n",
                           b"PONG\r\n", b"SCHEDULES limit=1000000\r\n"])
    if kind == 20:
        return b"WAIT %s timeout=0\r\n" % number
    if kind == 21:
        return b"ROUTE %s %s %s\r\n" % (rng.choice(SUBJECTS), queue, options(rng))
    if kind == 22:
        return b"UNROUTE %s\r\n" % number
    if kind == 23:
        return b"LIST %s %s\r\n" % (queue, options(rng))
    if kind == 24:
        return b"PURGE %s %s\r\n" % (queue, options(rng))
    if kind == 25:
        return with_payload(b"SCHEDULE s%d %s %s" % (rng.randrange(3), queue, options(rng)), payload(rng))
    if kind == 26:
        return b"UNSCHEDULE s%d\r\n" % rng.randrange(3)
    if kind == 27:
        count = rng.choice([0, 1, 2, 3, 100000])
        body = b"".join(template(rng) if rng.random() < 0.3 else with_payload(b"ENQ " + queue, payload(rng))
                        for _ in range(min(count, 3)))
        return b"BATCH %d\r\n" % count + body
    if kind == 28 and rng.random() < 0.1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))) + b"\r\n"
    return with_payload(b"ENQ " + queue + b" after=" + rng.choice([b"1", b"1,2", b"99999", b"0"]), payload(rng))


def mutate(rng: random.Random, command: bytes) -> bytes:
    data = bytearray(command)
    for _ in range(rng.choice([0, 0, 1, 1, 2, 5])):
        if not data:
            break
        at = rng.randrange(len(data))
        how = rng.randrange(8)
        if how == 0:
            data[at] = rng.randrange(256)
        elif how == 1:
            data[at:at] = bytes([rng.choice([0, 9, 10, 13, 32, 0x7F, 0xFF, rng.randrange(256)])])
        elif how == 2:
            del data[at]
        elif how == 3:
            data = data[:at]
        elif how == 4:
            data[at:at] = rng.choice(NUMBERS)
        elif how == 5:
            data = data.swapcase()
        elif how == 6:
            data[at:at] = data[at:at + rng.randrange(1, 32)] * rng.randrange(2, 40)
        else:
            data = data.replace(b"\r\n", b"\n", 1)
    return bytes(data)


def batch(rng: random.Random, size: int) -> bytes:
    # Most rounds mutate few commands, so that the well-formed ones before a bad one reach deep
    # (a protocol error ends the connection, and what follows it is never read).
    rate = rng.choice([0.0, 0.02, 0.1, 0.5, 1.0])
    return b"".join(mutate(rng, template(rng)) if rng.random() < rate else template(rng) for _ in range(size))


def read_until(sock: socket.socket, wanted: bytes, seconds: float) -> str:
    """'answered' once `wanted` has come, 'closed' if the server ended the connection first, or
    'silent' if neither happened within `seconds`."""
    deadline = time.monotonic() + seconds
    tail = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "silent"
        sock.settimeout(left)
        try:
            chunk = sock.recv(1 << 16)
        except socket.timeout:
            return "silent"
        except OSError:
            return "closed"
        if not chunk:
            return "closed"
        tail = (tail + chunk)[-4096:]
        if wanted in tail:
            return "answered"


def open_client(port: int, seconds: float) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=seconds)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if read_until(sock, b"\r\n", seconds) != "answered":
        raise RuntimeError("no INFO")
    return sock


class Witness:
    """A well-behaved client: a job enqueued, reserved and acknowledged, and a message published
    to itself, each round; every reply must come, and be the right one."""

    def __init__(self, port: int, seconds: float) -> None:
        self.seconds = seconds
        self.sock = open_client(port, seconds)
        self.sock.sendall(b'CONNECT {"verbose":false}\r\nSUB witness.echo 1\r\nPING\r\n')
        self.expect([b"PONG"])

    def line(self) -> bytes:
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = self.sock.recv(1)
            if not chunk:
                raise RuntimeError("the witness was closed")
            data += chunk
        return data[:-2]

    def expect(self, prefixes: list[bytes]) -> list[bytes]:
        self.sock.settimeout(self.seconds)
        got = []
        for prefix in prefixes:
            line = self.line()
            while line == b"PING":  # the server's keep-alive, every --ping-interval
                self.sock.sendall(b"PONG\r\n")
                line = self.line()
            if not line.startswith(prefix):
                raise RuntimeError(f"the witness wanted {prefix!r}, got {line!r}")
            if line.startswith((b"JOB ", b"MSG ")):
                size = int(line.split()[-1])
                body = b""
                while len(body) < size + 2:
                    body += self.sock.recv(size + 2 - len(body))
            got.append(line)
        return got

    def round(self, number: int) -> None:
        self.sock.sendall(b"ENQ witness 8\r\n%08d\r\nRESERVE witness timeout=0\r\n" % (number % 10 ** 8))
        job = self.expect([b"+OK ", b"JOB "])[1]
        # An ACK's +OK waits for its commit, a message does not: one at a time.
        self.sock.sendall(b"ACK %s\r\nPING\r\n" % job.split()[1])
        self.expect([b"+OK", b"PONG"])
        self.sock.sendall(b"PUB witness.echo 2\r\nok\r\nPING\r\n")
        self.expect([b"MSG witness.echo", b"PONG"])


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run(args: argparse.Namespace, port: int, pid: int, alive) -> int:
    rng = random.Random(args.seed)
    witness = Witness(port, args.witness_seconds)
    witness.round(0)
    fds_before, rss_before = descriptors(pid), rss_kib(pid)
    tally = {"answered": 0, "closed": 0, "silent": 0}
    fuzzed: socket.socket | None = None
    started = time.monotonic()
    rounds = 0
    for rounds in range(1, args.rounds + 1):
        if time.monotonic() - started > args.seconds:
            break
        commands = batch(rng, rng.randrange(1, args.batch + 1))
        try:
            if fuzzed is None:
                fuzzed = open_client(port, args.answer_seconds)
                if rng.random() < 0.9:
                    fuzzed.sendall(b'CONNECT {"verbose":%s,"headers":true}\r\n' % rng.choice([b"false", b"true"]))
            fuzzed.sendall(commands + b"PING\r\n")
            outcome = read_until(fuzzed, b"PONG\r\n", args.answer_seconds)
        except OSError:
            outcome = "closed"
        tally[outcome] += 1
        if outcome != "answered" and fuzzed is not None:
            fuzzed.close()
            fuzzed = None
        problem = None
        if not alive():
            problem = "the server exited"
        else:
            try:
                witness.round(rounds)
            except (OSError, RuntimeError) as error:
                problem = f"the witness failed: {error}"
        if problem:
            save = args.save or f"fuzz-failure-{args.seed}-{rounds}.bin"
            with open(save, "wb") as out:
                out.write(commands)
            print(f"round {rounds}: {problem}; its batch is in {save}", file=sys.stderr)
            return 1
    if fuzzed is not None:
        fuzzed.close()
    # The server closes what we closed at its next read: give it a moment, then count.
    deadline = time.monotonic() + 10
    while descriptors(pid) > fds_before and time.monotonic() < deadline:
        witness.round(0)
        time.sleep(0.1)
    fds_after, rss_after = descriptors(pid), rss_kib(pid)
    print(f"seed {args.seed}: {rounds} rounds in {time.monotonic() - started:.1f} s; answered {tally['answered']}, "
          f"closed by the server {tally['closed']}, left waiting (a payload still owed) {tally['silent']}; "
          f"descriptors {fds_before} -> {fds_after}; RSS {rss_before} -> {rss_after} KiB")
    if fds_after > fds_before:
        print(f"descriptors leaked: {fds_after - fds_before}", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docketd", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--batch", type=int, default=20, help="most commands in one round")
    parser.add_argument("--answer-seconds", type=float, default=1.0)
    parser.add_argument("--witness-seconds", type=float, default=10.0)
    parser.add_argument("--save")
    parser.add_argument("flags", nargs="*", help="more docketd flags, after -- (-- --store postgres://…)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        proc, port, _ = start_docketd(args.docketd, data, *args.flags)
        try:
            return run(args, port, proc.pid, lambda: proc.poll() is None)
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    sys.exit(main())
