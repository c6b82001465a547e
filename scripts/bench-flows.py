#!/usr/bin/env python3
"""Measures what issue #16's primitives cost, against a release docketd on loopback:

1. schedules: 10,000 schedules firing every second. docketd's CPU (all threads, from
   /proc/<pid>/stat) over a 20 s window, against the same docketd idle, and how late the ticks'
   jobs were made (enqueue time minus tick time, from a sample of their keys `<name>@<tick>`).
2. fan-in: a 10,000-job flow end to end: 100 groups of 100 jobs, each group gathered by a job
   `after=` its 100 (enqueued together with one BATCH), and a final job after the 100 gatherers;
   the gatherers read their parents' results with PARENTS. Wall time from the first BATCH to the
   final job's completion, against the same 10,101 jobs enqueued and worked without
   dependencies by the same workers.

    python3 scripts/bench-flows.py [--docketd .build/release/docketd] [--schedules 10000] [--workers 4]

Prints Markdown tables for BENCHMARKS.md. Every load is bounded in count and time, on 127.0.0.1.
"""
import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time

from docketd_process import start_docketd

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Wire:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.reader = self.sock.makefile("rb")
        self.reader.readline()
        self.sock.sendall(b'CONNECT {"verbose":false}\r\n')

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        return self.reader.readline().decode().rstrip("\r\n")

    def body(self, size):
        return self.reader.read(size + 2)[:-2]

    def json(self, command):
        self.send(command.encode() + b"\r\n")
        head = self.line()
        assert head.startswith("JSON "), head
        return json.loads(self.body(int(head.split()[1])))


def measure_schedules(docketd, count, window):
    with tempfile.TemporaryDirectory() as data:
        proc, port, _ = start_docketd(docketd, data, "--max-schedules", str(count))
        try:
            time.sleep(1)
            before = cpu_seconds(proc.pid)
            time.sleep(window)
            idle = (cpu_seconds(proc.pid) - before) / window
            wire = Wire(port)
            wire.send(b"".join(f"SCHEDULE s{i} tick every=1s 0\r\n\r\n".encode() for i in range(count)))
            for _ in range(count):
                assert wire.line() == "+OK"
            time.sleep(3)
            # The first ticks after 10,000 SCHEDULEs came in a burst; what is sampled below is
            # what the window makes in its steady state.
            wire.send(b"PURGE tick state=waiting\r\n")
            assert wire.line().startswith("+OK")
            enqueued_before = wire.json("QUEUE tick")["totals"]["enqueued"]
            before = cpu_seconds(proc.pid)
            begin = time.monotonic()
            time.sleep(window)
            used = cpu_seconds(proc.pid) - before
            elapsed = time.monotonic() - begin
            made = wire.json("QUEUE tick")["totals"]["enqueued"] - enqueued_before
            late = []
            page = wire.json("LIST tick state=waiting limit=1000")
            for job in page["jobs"]:
                tick = int(job["key"].rsplit("@", 1)[1])
                late.append(job["enqueued_at"] - tick)
            rss = 0
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1]) // 1024
            return {
                "idle_cpu": idle, "cpu": used / elapsed, "jobs_per_s": made / elapsed,
                "us_per_tick": used / made * 1e6 if made else float("nan"),
                "late_p50": statistics.median(late) if late else None,
                "late_p99": sorted(late)[int(len(late) * 0.99) - 1] if late else None, "rss_mb": rss,
            }
        finally:
            proc.terminate()
            proc.wait(10)


def run_flow(docketd, workers, with_dependencies, groups=100, width=100):
    with tempfile.TemporaryDirectory() as data:
        proc, port, _ = start_docketd(docketd, data)
        try:
            total = groups * (width + 1) + 1
            done = threading.Event()
            finished = [0]
            lock = threading.Lock()

            def work():
                wire = Wire(port)
                while not done.is_set():
                    wire.send(b"RESERVE leaf,gather,final timeout=200ms\r\n")
                    head = wire.line()
                    if head == "NOJOB":
                        continue
                    words = head.split()
                    job_id, queue = words[1], words[2]
                    wire.body(int(words[-1]))
                    if with_dependencies and queue != "leaf":
                        wire.json(f"PARENTS {job_id}")
                    wire.send(f"ACK {job_id} 2\r\nok\r\n".encode())
                    assert wire.line() == "+OK"
                    with lock:
                        finished[0] += 1

            producer = Wire(port)
            threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
            for thread in threads:
                thread.start()
            begin = time.monotonic()
            gatherers = []
            for _ in range(groups):
                batch = [f"BATCH {width + 1}\r\n".encode()] + [b"ENQ leaf 8\r\nabcdefgh\r\n"] * width
                after = " after=" + ",".join(f"#{i + 1}" for i in range(width)) if with_dependencies else ""
                batch.append(f"ENQ gather{after} 0\r\n\r\n".encode())
                producer.send(b"".join(batch))
                reply = producer.line()
                assert reply.startswith("+OK "), reply
                gatherers.append(reply.split()[-1])
            after = " after=" + ",".join(gatherers) if with_dependencies else ""
            producer.send(f"ENQ final{after} 0\r\n\r\n".encode())
            final = producer.line().split()[1]
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                if with_dependencies:
                    producer.send(f"WAIT {final} timeout=5s\r\n".encode())
                    head = producer.line()
                    if head.startswith("OUTCOME"):
                        producer.body(int(head.split()[-1]))
                        break
                else:
                    with lock:
                        if finished[0] >= total:
                            break
                    time.sleep(0.01)
            elapsed = time.monotonic() - begin
            done.set()
            for thread in threads:
                thread.join(5)
            return total, elapsed
        finally:
            proc.terminate()
            proc.wait(10)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--docketd", default=".build/release/docketd")
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    s = measure_schedules(args.docketd, args.schedules, args.window)
    print(f"### {args.schedules:,} schedules firing every second ({args.window:.0f} s window)\n")
    print("| docketd CPU, idle | docketd CPU, firing | jobs made/s | CPU per tick's job | lateness p50 / p99 | VmRSS after |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| {s['idle_cpu'] * 100:.1f}% | {s['cpu'] * 100:.1f}% | {s['jobs_per_s']:,.0f} | {s['us_per_tick']:.0f} µs "
          f"| {s['late_p50']} / {s['late_p99']} ms | {s['rss_mb']} MB |\n")

    print(f"### A 10,101-job fan-in flow end to end ({args.workers} workers, median of {args.runs} runs each, alternating)\n")
    flows, plains = [], []
    for _ in range(args.runs):
        total, elapsed = run_flow(args.docketd, args.workers, True)
        flows.append(elapsed)
        total, elapsed = run_flow(args.docketd, args.workers, False)
        plains.append(elapsed)
    flow, plain = statistics.median(flows), statistics.median(plains)
    print("| shape | wall time | jobs/s | ratio to plain |")
    print("| --- | --- | --- | --- |")
    print(f"| flow: 100 BATCHes of 100 jobs + a gatherer after them (PARENTS), a final job after the 100 gatherers | {flow:.2f} s | {total / flow:,.0f} | {plain / flow:.2f}× |")
    print(f"| plain: the same 10,101 jobs, no dependencies, same workers | {plain:.2f} s | {total / plain:,.0f} | 1.00× |")
    print(f"\nruns (flow / plain, s): {', '.join(f'{a:.2f}/{b:.2f}' for a, b in zip(flows, plains))}")


if __name__ == "__main__":
    sys.exit(main())
