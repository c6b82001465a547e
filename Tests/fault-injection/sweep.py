"""One fault-injection run of docketd, and the checks that follow it (see test_injected_faults.py).

A run: docketd on a fresh (or prepared) data directory with inject.c loaded, a bounded durable
load (producers ENQ with idempotency keys, workers RESERVE/ACK), then docketd stopped (SIGTERM)
if it is still running, started again without the library, and asked about every job the load
was answered +OK for."""
from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
REPLY_TIMEOUT_S = 10      # no reply of a healthy or stopping server takes this long
EXIT_TIMEOUT_S = 15       # SIGTERM to exit, or start-up to "ready" or exit


def build_library(directory: str) -> str | None:
    """inject.c built into `directory`; None where no C compiler or LD_PRELOAD (not Linux)."""
    if not os.uname().sysname == "Linux":
        return None
    library = os.path.join(directory, "inject.so")
    for compiler in ("cc", "clang"):
        if shutil.which(compiler) and subprocess.run(
                [compiler, "-shared", "-fPIC", "-O2", "-o", library, os.path.join(HERE, "inject.c"), "-ldl"],
                capture_output=True).returncode == 0:
            return library
    return None


@dataclass
class Fault:
    call: str           # inject.c's DOCKET_INJECT_CALL
    nth: int            # 0: count only
    errno: str = "EIO"  # or ENOSPC, EDQUOT, EINTR, SHORT
    times: int = 1      # 0: every call from the nth on
    delay_ms: int = 0   # how long the failing call takes first

    def __str__(self) -> str:
        return f"{self.call}#{self.nth} {self.errno}" + ("" if self.times == 1 else f" x{self.times or 'all'}")


@dataclass
class Server:
    process: subprocess.Popen
    port: int | None
    log: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None  # reads the log until the process ends

    @property
    def text(self) -> str:
        return "".join(self.log)


def start(docketd: str, data: str, flags: list[str], library: str | None = None, fault: Fault | None = None,
          trace: str | None = None, environment: dict[str, str] | None = None) -> Server:
    """docketd on `data`; returns once it is ready or has exited (port None). `environment`
    adds variables (another LD_PRELOAD library's)."""
    env = dict(os.environ)
    for name in [n for n in env if n.startswith("DOCKET_")]:
        del env[name]
    env.update(environment or {})
    if library:
        env.update(LD_PRELOAD=library, DOCKET_INJECT_DIR=data)
        if fault:
            env.update(DOCKET_INJECT_CALL=fault.call, DOCKET_INJECT_NTH=str(fault.nth),
                       DOCKET_INJECT_ERRNO=fault.errno, DOCKET_INJECT_TIMES=str(fault.times),
                       DOCKET_INJECT_DELAY_MS=str(fault.delay_ms))
        if trace:
            env["DOCKET_INJECT_TRACE"] = trace
    process = subprocess.Popen([docketd, "--port", "0", "--data-dir", data, *flags],
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                               text=True, env=env)
    server = Server(process, None)
    ready = threading.Event()
    port = None

    def read() -> None:
        nonlocal port
        for line in process.stderr:
            server.log.append(line)
            # Logged once the port is bound, before the store is opened: the server has started
            # only once it is ready (a start the store refuses logs the port, then exits).
            if m := re.search(r"client connections on 127\.0\.0\.1:(\d+)", line):
                port = int(m.group(1))
            if "Server is ready" in line:
                server.port = port
                ready.set()
        ready.set()

    server.reader = threading.Thread(target=read, daemon=True)
    server.reader.start()
    ready.wait(EXIT_TIMEOUT_S)
    if not ready.is_set():
        raise AssertionError(f"docketd neither became ready nor exited in {EXIT_TIMEOUT_S} s:\n{server.text}")
    if process.poll() is not None:
        server.reader.join(EXIT_TIMEOUT_S)
        server.port = None
    return server


def stop(server: Server) -> int:
    """SIGTERM, then the exit status (negative: a signal); raises if it hangs."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
    try:
        status = server.process.wait(EXIT_TIMEOUT_S)
        server.reader.join(EXIT_TIMEOUT_S)  # the last lines of the log
        return status
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
        raise AssertionError(f"docketd hung: no exit {EXIT_TIMEOUT_S} s after SIGTERM\n{server.text}")


class Connection:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=REPLY_TIMEOUT_S)
        self.buf = b""
        assert self.line().startswith("INFO ")
        self.sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n')

    def line(self) -> str:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def body(self, size: int) -> bytes:
        while len(self.buf) < size + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            self.buf += chunk
        data, self.buf = self.buf[:size], self.buf[size + 2:]
        return data

    def ask(self, command: str, payload: bytes | None = None) -> str:
        """One command, its reply line (a JOB's or JSON's body read and dropped)."""
        data = command.encode() + b"\r\n" + (payload + b"\r\n" if payload is not None else b"")
        self.sock.sendall(data)
        while True:
            reply = self.line()
            words = reply.split(" ")
            if words[0] in ("PING",):
                self.sock.sendall(b"PONG\r\n")
                continue
            if words[0] in ("JOB", "JSON") and words[-1].isdigit():
                return reply + " " + self.body(int(words[-1])).decode()
            return reply

    def close(self) -> None:
        self.sock.close()


@dataclass
class Outcome:
    """What the load was told."""
    enqueued: dict[str, int] = field(default_factory=dict)   # key -> id, every ENQ answered +OK
    acked: set[int] = field(default_factory=set)              # every ACK answered +OK
    keys_sent: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)         # -ERR replies
    lock: threading.Lock = field(default_factory=threading.Lock)


def load(port: int, seed: int, producers: int = 2, jobs_each: int = 40, workers: int = 2,
         seconds: float = 3.0, pause: float = 0.0) -> Outcome:
    """Producers ENQ `jobs_each` keyed jobs each; workers RESERVE and ACK until the producers are
    done and the queue is empty, a connection is lost, or `seconds` pass."""
    outcome = Outcome()
    deadline = time.monotonic() + seconds
    producing = [producers]

    def producer(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        try:
            c = Connection(port)
            for n in range(jobs_each):
                if time.monotonic() > deadline:
                    break
                key = f"s{seed}-p{index}-{n}"
                payload = bytes(rng.randrange(97, 123) for _ in range(rng.choice((1, 30, 300, 5000))))
                with outcome.lock:
                    outcome.keys_sent.append(key)
                reply = c.ask(f"ENQ faults key={key} {len(payload)}", payload)
                if reply.startswith("+OK "):
                    with outcome.lock:
                        outcome.enqueued[key] = int(reply.split()[1])
                elif reply.startswith("-ERR"):
                    with outcome.lock:
                        outcome.refusals.append(reply)
                    break
                if pause:
                    time.sleep(pause)
        except (OSError, ConnectionError):
            pass
        finally:
            with outcome.lock:
                producing[0] -= 1

    def worker() -> None:
        try:
            c = Connection(port)
            while time.monotonic() < deadline:
                reply = c.ask("RESERVE faults timeout=50ms")
                if reply.startswith("NOJOB"):
                    with outcome.lock:
                        if producing[0] == 0:
                            return
                    continue
                if not reply.startswith("JOB "):
                    with outcome.lock:
                        outcome.refusals.append(reply)
                    return
                job = int(reply.split()[1])
                answer = c.ask(f"ACK {job}")
                if answer == "+OK":
                    with outcome.lock:
                        outcome.acked.add(job)
                else:
                    with outcome.lock:
                        outcome.refusals.append(answer)
                    return
        except (OSError, ConnectionError):
            pass

    threads = [threading.Thread(target=producer, args=(i,)) for i in range(producers)]
    threads += [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + REPLY_TIMEOUT_S + 5)
        assert not t.is_alive(), "a client of the load waited past every bound: docketd hangs"
    return outcome


def verify(port: int, outcome: Outcome) -> list[str]:
    """Problems with what a restarted docketd holds: an acknowledged ENQ missing, an
    acknowledged ACK undone, a key that finds another job (a duplicate)."""
    problems = []
    c = Connection(port)
    for key, job in sorted(outcome.enqueued.items()):
        reply = c.ask(f"INSPECT {job}")
        if not reply.startswith("JSON "):
            problems.append(f"ENQ key={key} was answered +OK {job}, and after the restart INSPECT says {reply}")
            continue
        state = re.search(r'"state":"(\w+)"', reply)
        if job in outcome.acked and (not state or state.group(1) != "completed"):
            problems.append(f"ACK {job} was answered +OK, and after the restart the job is {state and state.group(1)}")
    # Every key sent, acknowledged or not, finds at most one job: ENQ again with it answers the
    # acknowledged id (or makes the first job of a key whose ENQ was never stored).
    for key in outcome.keys_sent:
        reply = c.ask(f"ENQ faults key={key} 1", b"x")
        if not reply.startswith("+OK "):
            problems.append(f"ENQ key={key} again after the restart: {reply}")
        elif key in outcome.enqueued and int(reply.split()[1]) != outcome.enqueued[key]:
            problems.append(f"ENQ key={key} was answered +OK {outcome.enqueued[key]}, and again after the restart {reply}: a duplicate")
    c.close()
    return problems
