#!/usr/bin/env python3
"""Measures what the dashboard costs to load: the page and its first API calls with 100 queues,
then again with 1,000,000 waiting jobs in one of them, against a release docketd on loopback.

    python3 scripts/bench-dashboard.py [--docketd .build-bench/release/docketd] [--jobs 1000000]

Prints a Markdown table (median of 20 requests each, in ms) for BENCHMARKS.md. What a browser
adds on top (parsing, layout) is not in these figures: the page's own work is a few small
documents and one page of jobs.
"""
import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
import urllib.request

from docketd_process import start_docketd


def enqueue(port, queue, count, window=4096):
    """Pipelined ENQs, `window` unanswered at most; returns when all are confirmed."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.recv(4096)
    sock.sendall(b'CONNECT {"verbose":false}\r\n')
    command = f"ENQ {queue} 16\r\n".encode() + b"x" * 16 + b"\r\n"
    sent = confirmed = 0
    buffer = b""
    while confirmed < count:
        burst = min(window - (sent - confirmed), count - sent)
        if burst > 0:
            sock.sendall(command * burst)
            sent += burst
        buffer += sock.recv(1 << 20)
        lines = buffer.split(b"\r\n")
        buffer = lines.pop()
        confirmed += sum(1 for line in lines if line.startswith(b"+OK"))
    sock.close()


def timed(url, runs=20):
    samples = []
    size = 0
    for _ in range(runs):
        begin = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as response:
            size = len(response.read())
        samples.append((time.perf_counter() - begin) * 1000)
    return statistics.median(samples), size


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--docketd", default=".build-bench/release/docketd")
    parser.add_argument("--jobs", type=int, default=1_000_000)
    args = parser.parse_args()
    if not os.access(args.docketd, os.X_OK):
        sys.exit(f"bench-dashboard: no docketd at {args.docketd} (swift build -c release --build-path .build-bench)")
    with tempfile.TemporaryDirectory() as data:
        proc, port, http = start_docketd(args.docketd, data + "/d", "-m", "0", "--sync", "none")
        try:
            for index in range(100):
                enqueue(port, f"queue-{index:03d}", 10)
            base = f"http://127.0.0.1:{http}"
            paths = ["/", "/dashboard/app.js", "/api/overview", "/api/series?limit=250&offset=0", "/api/jobs?queue=queue-050&limit=100"]
            rows = [(f"100 queues, 10 jobs each: `{path}`", *timed(base + path)) for path in paths]
            begin = time.perf_counter()
            enqueue(port, "big", args.jobs)
            filled = time.perf_counter() - begin
            for path in ["/api/overview", "/api/queue?name=big", "/api/jobs?queue=big&limit=100", "/api/jobs?queue=big&state=dead&limit=100"]:
                rows.append((f"plus {args.jobs:,} waiting in `big`: `{path}`", *timed(base + path, runs=10)))
        finally:
            proc.terminate()
            proc.wait()
    print(f"| request | median ms | bytes |\n|---|---|---|")
    for name, ms, size in rows:
        print(f"| {name} | {ms:.1f} | {size:,} |")
    print(f"\n({args.jobs:,} jobs enqueued in {filled:.1f} s, --sync none.)")


if __name__ == "__main__":
    main()
