#!/usr/bin/env python3
"""Measures what spreading docketd over several nodes costs (issue #17), on loopback.

Starts a nats-server cluster of three and 1, 2 or 3 release docketd nodes joined to it
(`--cluster-nats`, each to its own nats-server first), all keeping jobs in one throw-away
PostgreSQL (run it under scripts/with-postgres.sh, which names it in DOCKET_TEST_POSTGRES), and
runs docket-bench against them:

- pub/sub fan-out: one publisher on node A, subscribers spread over the nodes
  (`--subscriber-ports`): every message must reach every subscriber exactly once;
- job cycle: producers on node A, workers on the last node (`--worker-port`), jobs in PostgreSQL.

The single-node rows are the same docketd with no cluster link, for the ratio. On a 2-core
machine the point is the shape of the cost (what the extra hops take), not absolute speed.

    scripts/with-postgres.sh python3 scripts/bench-cluster.py [--runs 3] [--messages 200000] [--jobs 5000]

Prints a Markdown table for BENCHMARKS.md. Every load is bounded in count and time, on 127.0.0.1.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, ".build-bench/release/docket-bench")
DOCKETD = os.path.join(ROOT, ".build-bench/release/docketd")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, process, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process on {port} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Topology:
    """A nats-server cluster of three, `nodes` docketd on one database, stopped on exit."""

    def __init__(self, nodes, database_url, cluster):
        self.processes = []
        self.dirs = []
        self.ports = []
        urls = []
        if cluster:
            nats = shutil.which("nats-server") or "/usr/sbin/nats-server"
            client_ports = [free_port() for _ in range(3)]
            route_ports = [free_port() for _ in range(3)]
            for i in range(3):
                routes = ",".join(f"nats://127.0.0.1:{p}" for j, p in enumerate(route_ports) if j != i)
                p = subprocess.Popen([nats, "-a", "127.0.0.1", "-p", str(client_ports[i]), "--cluster_name", "bench",
                                      "--cluster", f"nats://127.0.0.1:{route_ports[i]}", "--routes", routes],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                self.processes.append(p)
                wait_port(client_ports[i], p)
            urls = [f"nats://127.0.0.1:{p}" for p in client_ports]
            time.sleep(1)  # the routes between the three
        for i in range(nodes):
            port = free_port()
            data = tempfile.mkdtemp(prefix="docket-bench-cluster-")
            self.dirs.append(data)
            args = [DOCKETD, "--port", str(port), "--data-dir", data, "--store", database_url]
            if cluster:
                args += ["--cluster-nats", ",".join(urls[(i + k) % 3] for k in range(3))]
            p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.processes.append(p)
            wait_port(port, p)
            self.ports.append(port)
        time.sleep(0.5)

    def close(self):
        for p in reversed(self.processes):
            p.terminate()
        for p in self.processes:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)


def create_database():
    base = os.environ["DOCKET_TEST_POSTGRES"]
    name = "bench_" + uuid.uuid4().hex[:10]
    psql = os.path.join(os.environ["DOCKET_PG_BIN"], "psql")
    subprocess.run([psql, "-X", "-q", base, "-c", f"CREATE DATABASE {name}"], check=True)
    return base.rsplit("/", 1)[0] + "/" + name


def bench(args):
    out = subprocess.run([BENCH] + args + ["--json"], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"docket-bench {' '.join(args)} failed: {out.stderr.strip()} {out.stdout.strip()}")
    return json.loads(out.stdout)


def rate(report, *keys):
    for key in keys:
        if key in report:
            return report[key]
    raise KeyError(f"none of {keys} in {sorted(report)}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--jobs", type=int, default=5_000)
    options = parser.parse_args()
    for binary in (BENCH, DOCKETD):
        if not os.path.exists(binary):
            sys.exit(f"bench-cluster: build it first: swift build -c release --scratch-path .build-bench ({binary})")

    shapes = [("1 node", 1, False), ("2 nodes", 2, True), ("3 nodes", 3, True)]
    rows = []
    for name, nodes, cluster in shapes:
        pubsub, cycle = [], []
        for _ in range(options.runs):
            topology = Topology(nodes, create_database(), cluster)
            try:
                a = topology.ports[0]
                subscribers = ",".join(str(p) for p in topology.ports[1:]) or str(a)
                report = bench(["pubsub", "--port", str(a), "--messages", str(options.messages), "--subscribers", "2",
                                "--subscriber-ports", subscribers, "--settle", "1" if cluster else "0", "--timeout", "120"])
                pubsub.append(rate(report, "received_per_second"))
                report = bench(["jobs", "--port", str(a), "--worker-port", str(topology.ports[-1]), "--mode", "cycle",
                                "--jobs", str(options.jobs), "--producers", "2", "--window", "64", "--workers", "16",
                                "--batch", "8", "--timeout", "120"])
                cycle.append(rate(report, "jobs_per_second"))
            finally:
                topology.close()
        rows.append((name, statistics.median(pubsub), statistics.median(cycle)))
    base_pubsub, base_cycle = rows[0][1], rows[0][2]
    print(f"| nodes | pub/sub fan-out, 2 subscribers on the other nodes: msgs/s delivered (ratio) | job cycle 16x8 on PostgreSQL, producers on A, workers on the last node: jobs/s (ratio) |")
    print("|---|---|---|")
    for name, pubsub, cycle in rows:
        print(f"| {name} | {pubsub:,.0f} ({pubsub / base_pubsub:.2f}×) | {cycle:,.0f} ({cycle / base_cycle:.2f}×) |")
    print(f"\nMedians of {options.runs} runs; {options.messages:,} messages of 16 bytes, {options.jobs:,} jobs of 100 bytes.")


if __name__ == "__main__":
    main()
