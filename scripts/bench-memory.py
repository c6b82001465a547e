#!/usr/bin/env python3
"""Measures what a job costs docketd's memory in each state (issue #18): a fresh release docketd
per state, filled over loopback with N jobs of 64 bytes, then, once the checkpoints into LMDB have
caught up (no change over 3 s), VmRSS split into anonymous and file-backed memory
(/proc/<pid>/status), minus the same server empty.

- waiting:   ENQ N jobs.
- delayed:   ENQ N jobs with delay=1h.
- active:    ENQ N jobs, then RESERVE all of them on one connection (lease=1h, so none ends).
- completed: the same, then ACK all of them, with --keep-completed N so that none is trimmed.

    python3 scripts/bench-memory.py [--docketd .build-bench/release/docketd] [--jobs 200000]

Prints a Markdown table for BENCHMARKS.md. Every load is bounded in count and time, on 127.0.0.1.
"""
import argparse
import socket
import tempfile
import time

from docketd_process import start_docketd

PAYLOAD = b"p" * 64
CHUNK = 5000


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(120)
        self.buffer = b""
        self.line()  # INFO
        self.sock.sendall(b'CONNECT {"verbose":false}\r\n')

    def line(self):
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise SystemExit("docketd closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def skip(self, count):
        while len(self.buffer) < count:
            self.buffer += self.sock.recv(1 << 20)
        self.buffer = self.buffer[count:]

    def pipelined(self, command, count, expect):
        """Sends `count` commands in chunks and reads one reply line each; the replies."""
        replies = []
        for start in range(0, count, CHUNK):
            n = min(CHUNK, count - start)
            self.sock.sendall(command * n)
            for _ in range(n):
                line = self.line()
                if not line.startswith(expect):
                    raise SystemExit(f"unexpected reply: {line!r}")
                replies.append(line)
                if line.startswith(b"JOB "):
                    self.skip(int(line.split()[-1]) + 2)
        return replies


def memory(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                fields[key] = int(value.split()[0]) * 1024
    return fields


def settled(pid, limit=60):
    """The memory once the checkpoints into LMDB have caught up: no field moved by more than
    1 % over 3 s (at most `limit` seconds)."""
    deadline = time.time() + limit
    previous = memory(pid)
    while time.time() < deadline:
        time.sleep(3)
        current = memory(pid)
        if all(abs(current[key] - previous[key]) <= previous[key] / 100 for key in current):
            return current
        previous = current
    return previous


def measure(docketd, state, jobs):
    with tempfile.TemporaryDirectory() as data:
        flags = ["--keep-completed", str(jobs)] if state == "completed" else []
        proc, port, _ = start_docketd(docketd, data, *flags)
        try:
            client = Client(port)
            client.sock.sendall(b"PING\r\n")
            client.line()
            time.sleep(0.5)
            empty = memory(proc.pid)
            began = time.time()
            options = b" delay=1h" if state == "delayed" else b" lease=1h"
            client.pipelined(b"ENQ q%s 64\r\n%s\r\n" % (options, PAYLOAD), jobs, b"+OK")
            if state in ("active", "completed"):
                started = client.pipelined(b"RESERVE q timeout=0\r\n", jobs, b"JOB ")
                if state == "completed":
                    acks = b"".join(b"ACK %s\r\n" % line.split()[1] for line in started)
                    lines = acks.split(b"\r\n")[:-1]
                    for index in range(0, len(lines), CHUNK):
                        part = lines[index:index + CHUNK]
                        client.sock.sendall(b"\r\n".join(part) + b"\r\n")
                        for _ in part:
                            if client.line() != b"+OK":
                                raise SystemExit("an ACK was refused")
            client.sock.sendall(b"PING\r\n")
            client.line()
            elapsed = time.time() - began
            full = settled(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return empty, full, elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--docketd", default=".build-bench/release/docketd")
    parser.add_argument("--jobs", type=int, default=200_000)
    args = parser.parse_args()
    rows = []
    for state in ("waiting", "delayed", "active", "completed"):
        empty, full, elapsed = measure(args.docketd, state, args.jobs)
        per = {key: (full[key] - empty[key]) / args.jobs for key in full}
        rows.append((state, empty, full, per, elapsed))
    mb = lambda value: f"{value / 1e6:.1f} MB"
    print(f"| {args.jobs:,} jobs of 64 bytes, each state on a fresh docketd | VmRSS empty | VmRSS filled (anon / file-backed) "
          "| bytes per job (anon / file-backed) | fill time |")
    print("|---|---|---|---|---|")
    for state, empty, full, per, elapsed in rows:
        print(f"| {state} | {mb(empty['VmRSS'])} | {mb(full['VmRSS'])} ({mb(full['RssAnon'])} / {mb(full['RssFile'])}) "
              f"| {per['VmRSS']:.0f} ({per['RssAnon']:.0f} / {per['RssFile']:.0f}) | {elapsed:.1f} s |")


if __name__ == "__main__":
    main()
