#!/usr/bin/env bash
# Measures docketd against its peers on this machine with docket-bench, and writes BENCHMARKS.md.
#
#   bash scripts/bench-compare.sh            # about 10-15 minutes on 2 cores
#   REPS=1 JOBS=20000 MESSAGES=200000 RECOVERY_JOBS=100000 OUT=/tmp/quick.md bash scripts/bench-compare.sh
#
# Job queues: docketd (--sync always and none), beanstalkd (binlog fsyncing every write, binlog
# with its default fsync, no binlog) and Redis (AOF appendfsync always, everysec, no persistence),
# through `docket-bench jobs`. Pub/sub: docketd, nats-server and Redis, through `docket-bench pubsub`.
# Recovery (docketd only): `docket-bench recovery` fills a docketd with RECOVERY_JOBS waiting jobs,
# restarts it on the same data directory and reports its start-up time and memory.
#
# Every run gets a fresh server on a free loopback port with a temporary data directory, which
# is stopped and removed after it. Scenarios run in turn against every server, REPS times
# each, alternating servers so that a slow minute of the machine does not hit one server only;
# the report keeps the medians. Missing servers are installed from Debian with apt-get.
#
# BENCHMARKS.md ends with a section written by hand ("Gaps and causes", between the
# gaps-and-causes markers); the script copies it from the previous OUT into the new one, and
# likewise the "Jobs on PostgreSQL" section that scripts/bench-postgres.sh writes.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
# Jobs per run, and fewer for beanstalkd fsyncing every write, which does a few hundred to a few
# thousand a second here: at 50,000 it alone would take a quarter of an hour.
JOBS=${JOBS:-50000}
SLOW_JOBS=${SLOW_JOBS:-3000}
MESSAGES=${MESSAGES:-1000000}
# Jobs left waiting in the recovery runs: the targets speak of a million.
RECOVERY_JOBS=${RECOVERY_JOBS:-1000000}
RECOVERY_REPS=${RECOVERY_REPS:-$REPS}
OUT=${OUT:-BENCHMARKS.md}
# Our own build directory: the default .build may be in use by someone else.
SCRATCH=.build-bench
BENCH=$SCRATCH/release/docket-bench
DOCKETD=$SCRATCH/release/docketd

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-compare.XXXXXX")
server_pid=""
server_port=""

log() { echo "bench-compare: $*" >&2; }

# Stops the server this script started, if one is running.
stop_server() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        # docketd gives clients up to 5 s on shutdown; anything slower than 10 s is killed.
        for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
trap 'stop_server; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

install_peers() {
    bash scripts/setup.sh
    local missing=()
    for package in beanstalkd redis-server nats-server; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    if ((${#missing[@]})); then
        local sudo=""
        if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
        log "installing ${missing[*]}"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

build() {
    log "building release docket-bench and docketd in $SCRATCH"
    swift build -c release --scratch-path "$SCRATCH" --product docket-bench >&2
    swift build -c release --scratch-path "$SCRATCH" --product docketd >&2
}

# A TCP port nothing listens on now. Another process could take it before the server does; the
# start then fails visibly rather than measuring the wrong thing.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The command line of each server configuration, with PORT and DIR to fill in. docketd picks
# its own port (--port 0) and logs it.
server_command() {
    case "$1" in
        docket-always) echo "$DOCKETD --port 0 --data-dir DIR --sync always" ;;
        docket-none) echo "$DOCKETD --port 0 --data-dir DIR --sync none" ;;
        beanstalkd-fsync) echo "beanstalkd -l 127.0.0.1 -p PORT -b DIR -f 0" ;;
        beanstalkd-binlog) echo "beanstalkd -l 127.0.0.1 -p PORT -b DIR" ;;
        beanstalkd-memory) echo "beanstalkd -l 127.0.0.1 -p PORT" ;;
        redis-always) echo "redis-server --bind 127.0.0.1 --port PORT --dir DIR --save '' --appendonly yes --appendfsync always" ;;
        redis-everysec) echo "redis-server --bind 127.0.0.1 --port PORT --dir DIR --save '' --appendonly yes --appendfsync everysec" ;;
        redis-memory) echo "redis-server --bind 127.0.0.1 --port PORT --dir DIR --save '' --appendonly no" ;;
        nats) echo "nats-server -a 127.0.0.1 -p PORT" ;;
        *) log "unknown server $1"; exit 2 ;;
    esac
}

# The protocol docket-bench speaks to each configuration.
server_protocol() {
    case "$1" in
        docket-*) echo docket ;;
        beanstalkd-*) echo beanstalkd ;;
        redis-*) echo redis ;;
        nats) echo nats ;;
    esac
}

# Starts configuration $1 with an empty data directory; sets server_pid and server_port.
start_server() {
    local name=$1 dir="$work/data" serverlog="$work/server.log" port command
    rm -rf "$dir" && mkdir -p "$dir"
    port=$(free_port)
    command=$(server_command "$name")
    command=${command//PORT/$port}
    command=${command//DIR/$dir}
    # exec, so that $! is the server itself and not a shell waiting for it.
    eval "exec $command" >"$serverlog" 2>&1 &
    server_pid=$!
    server_port=""
    for _ in $(seq 100); do
        if [[ $name == docket-* ]]; then
            server_port=$(grep -o 'Listening for client connections on 127.0.0.1:[0-9]*' "$serverlog" | grep -o '[0-9]*$' || true)
        elif (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            server_port=$port
        fi
        [ -n "$server_port" ] && return 0
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    log "$name did not start; its log:"
    cat "$serverlog" >&2
    exit 1
}

# Runs one scenario against one freshly started server and appends a JSON line to results.jsonl.
run_once() {
    local kind=$1 scenario=$2 name=$3 rep=$4 args=$5 output status
    start_server "$name"
    local protocol
    protocol=$(server_protocol "$name")
    # pubsub speaks the NATS protocol (docketd, nats-server) unless told to speak Redis.
    if [ "$kind" = pubsub ] && [ "$protocol" != redis ]; then protocol=""; fi
    set +e
    # docket-bench bounds itself with --timeout; the outer timeout is a last resort.
    # shellcheck disable=SC2086
    output=$(timeout 300 "$BENCH" "$kind" ${protocol:+--protocol $protocol} --port "$server_port" \
        --server-pid "$server_pid" --timeout 240 --json $args 2>"$work/bench.err")
    status=$?
    set -e
    # What the server logged about trouble: errors, warnings, slow consumers.
    local trouble
    trouble=$(grep -E '\[(ERR|WRN|FTL)\]|[Ss]low [Cc]onsumer' "$work/server.log" | head -5 || true)
    stop_server
    [ -n "$output" ] || output='null'
    python3 - "$scenario" "$name" "$rep" "$status" "$output" "$(cat "$work/bench.err")" "$trouble" \
        >>"$work/results.jsonl" <<'PY'
import json, sys
scenario, server, rep, status, output, stderr, trouble = sys.argv[1:]
print(json.dumps({"scenario": scenario, "server": server, "rep": int(rep), "status": int(status),
                  "result": json.loads(output), "stderr": stderr.strip(), "server_log": trouble.strip()}))
PY
    log "$scenario on $name, run $rep: exit $status"
}

# One recovery run: docket-bench starts, fills, stops and restarts a docketd of its own (each
# on a new temporary data directory, removed afterwards) and stops it again by process id.
# FILL is the --sync of the server being filled: none (the recovery series) or always (the
# default configuration, whose memory after a fill is reported beside it).
run_recovery() {
    local rep=$1 fill=$2 scenario=recovery output status
    if [ "$fill" = always ]; then scenario=recovery-durable-fill; fi
    set +e
    # docket-bench bounds itself with --timeout, and kills its docketd if it is sent SIGTERM.
    output=$(timeout 600 "$BENCH" recovery --docketd "$DOCKETD" --jobs "$RECOVERY_JOBS" --fill-sync "$fill" --timeout 500 --json \
        2>"$work/bench.err")
    status=$?
    set -e
    [ -n "$output" ] || output='null'
    local trouble
    trouble=$(python3 -c 'import json, sys
try: print("\n".join(json.loads(sys.argv[1])["server_warnings"][:5]))
except Exception: pass' "$output")
    python3 - "$scenario" "docket-recovery" "$rep" "$status" "$output" "$(cat "$work/bench.err")" "$trouble" \
        >>"$work/results.jsonl" <<'PY'
import json, sys
scenario, server, rep, status, output, stderr, trouble = sys.argv[1:]
print(json.dumps({"scenario": scenario, "server": server, "rep": int(rep), "status": int(status),
                  "result": json.loads(output), "stderr": stderr.strip(), "server_log": trouble.strip()}))
PY
    log "recovery of $RECOVERY_JOBS jobs filled with --sync $fill, run $rep: exit $status"
}

install_peers
build

job_servers=(docket-always docket-none beanstalkd-fsync beanstalkd-binlog beanstalkd-memory redis-always redis-everysec redis-memory)
pubsub_servers=(docket-always nats)
# Redis pub/sub needs a docket-bench whose pubsub speaks RESP.
if "$BENCH" pubsub --help | grep -q -- '--protocol'; then pubsub_servers+=(redis-memory); fi
# name|arguments; every job scenario pipelines 2 producers x 64 enqueues where it enqueues.
job_scenarios=(
    "cycle 32x1|--mode cycle --producers 2 --window 64 --workers 32 --batch 1"
    "cycle 16x8|--mode cycle --producers 2 --window 64 --workers 16 --batch 8"
    "enqueue only|--mode enqueue --producers 2 --window 64"
    "drain 32x1|--mode drain --producers 2 --window 64 --workers 32 --batch 1"
)
pubsub_scenarios=(
    "1->1 16 B|--subscribers 1 --size 16"
    "1->1 256 B|--subscribers 1 --size 256"
    "1->4 16 B|--subscribers 4 --size 16"
    "wildcard 16 B|--subscribers 1 --size 16 --wildcard"
    "queue group 4 16 B|--subscribers 4 --size 16 --queue-group workers"
)

started=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for entry in "${job_scenarios[@]}"; do
    scenario=${entry%%|*} args=${entry#*|}
    for rep in $(seq "$REPS"); do
        for name in "${job_servers[@]}"; do
            jobs=$JOBS
            if [ "$name" = beanstalkd-fsync ]; then jobs=$SLOW_JOBS; fi
            run_once jobs "$scenario" "$name" "$rep" "$args --jobs $jobs"
        done
    done
done
for entry in "${pubsub_scenarios[@]}"; do
    scenario=${entry%%|*} args=${entry#*|}
    for rep in $(seq "$REPS"); do
        for name in "${pubsub_servers[@]}"; do
            # Redis has no queue groups: nothing to compare there.
            [[ $name == redis-* && $args == *--queue-group* ]] && continue
            run_once pubsub "$scenario" "$name" "$rep" "$args --messages $MESSAGES"
        done
    done
done
for rep in $(seq "$RECOVERY_REPS"); do run_recovery "$rep" none; run_recovery "$rep" always; done
elapsed=$(( $(date +%s) - started ))

# What the report says about the machine, the servers and how they were run.
{
    echo "nproc=$(nproc)"
    echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "kernel=$(uname -sr)"
    echo "memory=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
    echo "filesystem=$(df -T "$work" | awk 'NR == 2 {print $2 " on " $1}')"
    echo "docketd=$("$DOCKETD" --version)"
    echo "beanstalkd=$(beanstalkd -v 2>&1 | head -1)"
    echo "redis=$(redis-server --version | head -1)"
    echo "nats=$(nats-server --version 2>&1 | head -1)"
    echo "swift=$(swift --version 2>&1 | head -1)"
    echo "elapsed=$elapsed"
    echo "load_before=$load_before"
    echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "reps=$REPS"
    echo "jobs=$JOBS"
    echo "slow_jobs=$SLOW_JOBS"
    echo "messages=$MESSAGES"
    echo "recovery_jobs=$RECOVERY_JOBS"
    echo "recovery_reps=$RECOVERY_REPS"
    echo "recovery_command=docket-bench recovery --docketd $DOCKETD --jobs $RECOVERY_JOBS --json"
    for name in "${job_servers[@]}" nats; do echo "command.$name=$(server_command "$name")"; done
    for entry in "${job_scenarios[@]}"; do echo "jobscenario.${entry%%|*}=${entry#*|}"; done
    for entry in "${pubsub_scenarios[@]}"; do echo "pubsubscenario.${entry%%|*}=${entry#*|}"; done
} >"$work/meta.txt"

python3 - "$work/meta.txt" "$work/results.jsonl" "$OUT" <<'PY'
"""Writes BENCHMARKS.md from the runs' JSON lines: medians, and ratios to docketd durable."""
import json, statistics, sys

meta_path, results_path, out_path = sys.argv[1:]
meta = {}
for line in open(meta_path):
    key, _, value = line.rstrip("\n").partition("=")
    meta[key] = value
runs = [json.loads(line) for line in open(results_path)]

JOB_SERVERS = ["docket-always", "docket-none", "beanstalkd-fsync", "beanstalkd-binlog", "beanstalkd-memory",
               "redis-always", "redis-everysec", "redis-memory"]
PUBSUB_SERVERS = ["docket-always", "nats", "redis-memory"]
LABELS = {
    "docket-always": "docketd --sync always (durable)", "docket-none": "docketd --sync none",
    "beanstalkd-fsync": "beanstalkd binlog -f 0 (fsync every write)", "beanstalkd-binlog": "beanstalkd binlog, default fsync (50 ms)",
    "beanstalkd-memory": "beanstalkd, no binlog", "redis-always": "Redis AOF appendfsync always",
    "redis-everysec": "Redis AOF appendfsync everysec", "redis-memory": "Redis, no persistence",
    "nats": "nats-server (core, no JetStream)",
}
PUBSUB_LABELS = dict(LABELS, **{"docket-always": "docketd", "redis-memory": "Redis PUBLISH/SUBSCRIBE"})
job_scenarios = [key.split(".", 1)[1] for key in meta if key.startswith("jobscenario.")]
pubsub_scenarios = [key.split(".", 1)[1] for key in meta if key.startswith("pubsubscenario.")]

def ok(run):
    return run["status"] == 0 and run["result"] and run["result"].get("ok")

def cell_runs(scenario, server):
    return [r for r in runs if r["scenario"] == scenario and r["server"] == server]

def median(scenario, server, pick):
    values = [pick(r["result"]) for r in cell_runs(scenario, server) if ok(r)]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None

def rate(result):
    return result.get("jobs_per_second", result.get("received_per_second"))

def cpu_share(result):
    cpu, seconds = result.get("server_cpu_seconds"), result.get("elapsed_seconds")
    return 100 * cpu / seconds if cpu is not None and seconds else None

def failures(scenario, server):
    runs_here = cell_runs(scenario, server)
    return sum(1 for r in runs_here if not ok(r)), len(runs_here)

def rate_cell(scenario, server, base):
    value = median(scenario, server, rate)
    failed, total = failures(scenario, server)
    if total == 0:
        return "n/a"
    if value is None:
        return f"failed {failed}/{total}"
    text = f"{value:,.0f}"
    if base:
        text += f" ({value / base:.2f}×)"
    if failed:
        text += f" †{failed}/{total} failed"
    return text

def latency_cell(scenario, server):
    p50 = median(scenario, server, lambda r: r["latency"]["p50_ms"])
    p99 = median(scenario, server, lambda r: r["latency"]["p99_ms"])
    p999 = median(scenario, server, lambda r: r["latency"]["p999_ms"])
    if p50 is None:
        return "n/a"
    return f"{p50:.1f} / {p99:.1f} / {p999:.1f}"

def cpu_cell(scenario, server):
    server_cpu = median(scenario, server, cpu_share)
    client_cpu = median(scenario, server, lambda r: 100 * r["client_cpu_seconds"] / r["elapsed_seconds"]
                        if r.get("client_cpu_seconds") is not None and r.get("elapsed_seconds") else None)
    if server_cpu is None:
        return "n/a"
    return f"{server_cpu:.0f}%" + (f" / {client_cpu:.0f}%" if client_cpu is not None else "")

def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)

def job_count(server):
    return meta["slow_jobs"] if server == "beanstalkd-fsync" else meta["jobs"]

out = []
out.append("# Benchmarks\n")
out.append("Generated by `bash scripts/bench-compare.sh` (do not edit by hand; run it again). "
           f"Each figure is the median of {meta['reps']} runs, each against a freshly started server with an "
           "empty data directory; servers took turns scenario by scenario. The whole comparison took "
           f"{int(meta['elapsed']) // 60} min {int(meta['elapsed']) % 60} s.\n")
out.append("## Machine\n")
out.append(f"- {meta['nproc']} cores ({meta['cpu']}), {meta['memory']} of memory, {meta['kernel']}")
out.append(f"- data directories on {meta['filesystem']}")
out.append(f"- **client and server share these {meta['nproc']} cores**: docket-bench runs its connections on one "
           "thread (poll(2)), so a single-threaded server and the client can each have a core, but every "
           "figure includes the client's own cost. Read the ratios, not the absolute numbers.")
out.append(f"- load average (1, 5, 15 min) before the runs: {meta['load_before']}; after: {meta['load_after']}. "
           "The machine may be shared with other work (builds, test suites) that the script cannot stop; "
           "fsync latency on its virtual disk varies between runs as a result.")
out.append(f"- versions: docketd {meta['docketd']}; {meta['beanstalkd']}; {meta['redis']}; {meta['nats']}; {meta['swift']}\n")

out.append("## Servers\n")
out.append(table(["configuration", "command line"],
                 [[LABELS[name], "`" + meta[f"command.{name}"].replace("|", "\\|") + "`"] for name in JOB_SERVERS + ["nats"]]))
out.append("\nPORT is a free loopback port and DIR a new temporary directory, for every run.\n")

out.append("## Job queues\n")
out.append(f"`docket-bench jobs --protocol <docket|beanstalkd|redis> --port PORT --server-pid PID --json --jobs N <scenario>`, "
           f"N = {int(meta['jobs']):,} ({int(meta['slow_jobs']):,} for beanstalkd with -f 0, which fsyncs every write). "
           "64-byte payloads carrying the enqueue timestamp.\n")
out.append(table(["scenario", "arguments"], [[s, "`" + meta[f"jobscenario.{s}"] + "`"] for s in job_scenarios]))
out.append("\n- **cycle**: producers and workers together; jobs/s from the first enqueue to the last ack. "
           "`32x1`: 32 workers, one job per round trip (the ack and the next reserve are sent together). "
           "`16x8`: 16 workers each keeping 8 jobs in flight (8 reserves pipelined, each ack sent as its job arrives, with a new reserve).")
out.append("- **enqueue only**: 2 producers keeping 64 enqueues each unanswered; jobs/s until the last confirmation.")
out.append("- **drain**: the queue is filled first (untimed, 1024 enqueues in flight per producer), then 32 workers × 1 empty it.")
out.append("- Docket: `ENQ`/`RESERVE timeout=1s`/`ACK`. beanstalkd: `put`/`reserve-with-timeout 1`/`delete`. "
           "Redis reliable queue: `LPUSH`/`BLMOVE q q:processing RIGHT LEFT 1`/`LREM q:processing 1 <payload>`.\n")

out.append("### Throughput: jobs/s (ratio to docketd --sync always)\n")
rows = []
for server in JOB_SERVERS:
    row = [LABELS[server]]
    for scenario in job_scenarios:
        base = median(scenario, "docket-always", rate)
        row.append(rate_cell(scenario, server, base))
    rows.append(row)
out.append(table(["server"] + job_scenarios, rows))

out.append("\nHow to read this: a server that spends well under a core while its throughput stays flat is "
           "waiting, usually for fsync (compare each durable configuration with its unsynced one, and see the CPU "
           "table below); one near 100% is limited by CPU, its own or, on this 2-core machine, the client's.")

out.append("\n### Latency: p50 / p99 / p999 in ms\n")
out.append("cycle: enqueue to ack confirmed; enqueue only: enqueue to confirmation; drain: reserve sent to ack confirmed. "
           "In the cycle runs, the producers outpace the workers, so a backlog builds up and the latency mostly "
           "measures how long jobs wait in the queue.\n")
out.append(table(["server"] + job_scenarios,
                 [[LABELS[s]] + [latency_cell(c, s) for c in job_scenarios] for s in JOB_SERVERS]))

out.append("\n### CPU: server / client, percent of one core over the timed part\n")
out.append(table(["server"] + job_scenarios,
                 [[LABELS[s]] + [cpu_cell(c, s) for c in job_scenarios] for s in JOB_SERVERS]))

if pubsub_scenarios:
    out.append("\n## Publish/subscribe\n")
    out.append(f"`docket-bench pubsub [--protocol redis] --port PORT --server-pid PID --json --messages {int(meta['messages']):,} <scenario>`: "
               "one publisher writing in large batches, subscribers counting every message; messages/s delivered, "
               "over all subscribers, from the first publish to the last delivery. Redis has no queue groups. "
               "docketd's `--sync` setting does not touch pub/sub.\n")
    out.append(table(["scenario", "arguments"], [[s, "`" + meta[f"pubsubscenario.{s}"] + "`"] for s in pubsub_scenarios]))
    out.append("\n### Throughput: messages/s delivered (ratio to docketd)\n")
    rows = []
    pubsub_servers = [s for s in PUBSUB_SERVERS if any(r["server"] == s and r["scenario"] in pubsub_scenarios for r in runs)]
    for server in pubsub_servers:
        row = [PUBSUB_LABELS[server]]
        for scenario in pubsub_scenarios:
            row.append(rate_cell(scenario, server, median(scenario, "docket-always", rate)))
        rows.append(row)
    out.append(table(["server"] + pubsub_scenarios, rows))
    out.append("\n### CPU: server, percent of one core\n")
    out.append(table(["server"] + pubsub_scenarios,
                     [[PUBSUB_LABELS[s]] + [cpu_cell(c, s) for c in pubsub_scenarios] for s in pubsub_servers]))

# Recovery: one docketd filled, stopped and restarted per run (docket-bench recovery).
recovery_runs = [r for r in runs if r["scenario"] == "recovery"]
recovery_ok = [r["result"] for r in recovery_runs if ok(r)]
# The same, filled through a durable server (the default configuration): only its memory
# after the fill is reported, as the restart is the same.
durable_fill_runs = [r for r in runs if r["scenario"] == "recovery-durable-fill"]
durable_fill_ok = [r["result"] for r in durable_fill_runs if ok(r)]

def recovery_median(pick, results=None):
    values = [pick(result) for result in (recovery_ok if results is None else results)]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None

def memory(key, part="rss_bytes"):
    return lambda result: (result.get(key) or {}).get(part)

def mb(value):
    return "n/a" if value is None else f"{value / 1e6:,.0f} MB"

def seconds(value):
    return "n/a" if value is None else f"{value:.2f} s"

if recovery_runs:
    recovery_jobs = int(meta["recovery_jobs"])
    out.append("\n## Recovery\n")
    out.append(f"`{meta['recovery_command']}`: docket-bench starts docketd (`--addr 127.0.0.1 --port 0 --data-dir DIR --sync none`, "
               f"DIR a new temporary directory), fills one queue with {recovery_jobs:,} waiting jobs of 64 bytes through "
               "pipelined ENQs (2 producers x 1024), reads the server's memory from `/proc/PID/status`, stops it with "
               "SIGTERM and starts it again on the same directory with `--sync always`. Ready is the time from "
               "spawning the second server to its `Server is ready` log line; the server's own figure is from its "
               f"`Recovered N jobs ... in X ms` line. Median of {len(recovery_ok)} of {len(recovery_runs)} runs.\n")
    rows = [
        ["fill (not a target; `--sync none`)", seconds(recovery_median(lambda r: r.get("fill_seconds")))
         + (f" ({recovery_median(lambda r: r.get('fill_jobs_per_second')):,.0f} jobs/s)" if recovery_ok else "")],
        ["VmRSS, empty server", mb(recovery_median(memory("memory_empty")))],
        [f"**VmRSS, {recovery_jobs:,} jobs waiting** (anon / file-backed)",
         f"**{mb(recovery_median(memory('memory_waiting')))}** ({mb(recovery_median(memory('memory_waiting', 'rss_anon_bytes')))}"
         f" / {mb(recovery_median(memory('memory_waiting', 'rss_file_bytes')))})"],
        ["LMDB data file (data.mdb)", mb(recovery_median(lambda r: r.get("data_file_bytes")))],
        ["shutdown: SIGTERM to exit", seconds(recovery_median(lambda r: r.get("shutdown_seconds")))],
        ["**restart: spawn to `Server is ready`**", f"**{seconds(recovery_median(lambda r: r.get('ready_seconds')))}**"],
        ["server's own `Recovered ... in X ms`", "n/a" if not recovery_ok else f"{recovery_median(lambda r: r.get('server_recovery_ms')):,.0f} ms"],
        ["VmRSS after recovery (anon / file-backed)",
         f"{mb(recovery_median(memory('memory_recovered')))} ({mb(recovery_median(memory('memory_recovered', 'rss_anon_bytes')))}"
         f" / {mb(recovery_median(memory('memory_recovered', 'rss_file_bytes')))})"],
        ["peak VmRSS during recovery (VmHWM)", mb(recovery_median(memory("memory_recovered", "peak_rss_bytes")))],
        ["first RESERVE after recovery", "n/a" if not recovery_ok else f"{1000 * recovery_median(lambda r: r.get('first_reserve_seconds')):.1f} ms"],
    ]
    out.append(table(["measure", "docketd"], rows))
    out.append("\nFile-backed pages are the parts of LMDB's memory map the process has touched; the kernel can drop "
               "them under pressure, but VmRSS counts them.")
    if durable_fill_runs:
        durable = lambda pick: recovery_median(pick, durable_fill_ok)
        out.append(f"\nThe same fill through a durable server (`--fill-sync always`: docketd's default `--sync always`, "
                   f"every `+OK` after an fsync), its memory read as soon as the last enqueue is confirmed, while the "
                   f"checkpoints into LMDB may still hold some of the fill. Median of {len(durable_fill_ok)} of "
                   f"{len(durable_fill_runs)} runs.\n")
        out.append(table(["measure", "docketd"], [
            ["fill (not a target; `--sync always`)", seconds(durable(lambda r: r.get("fill_seconds")))
             + (f" ({durable(lambda r: r.get('fill_jobs_per_second')):,.0f} jobs/s)" if durable_fill_ok else "")],
            [f"**VmRSS, {recovery_jobs:,} jobs waiting** (anon / file-backed)",
             f"**{mb(durable(memory('memory_waiting')))}** ({mb(durable(memory('memory_waiting', 'rss_anon_bytes')))}"
             f" / {mb(durable(memory('memory_waiting', 'rss_file_bytes')))})"],
            ["peak VmRSS during the fill (VmHWM)", mb(durable(memory("memory_waiting", "peak_rss_bytes")))],
        ]))

# The targets of the performance issue, checked against this run's medians.
def verdict(value, ok_when):
    if value is None:
        return "n/a"
    return "**met**" if ok_when(value) else "**missed**"

targets = []
peers = [s for s in JOB_SERVERS if not s.startswith("docket-")]
durable_peers = ["beanstalkd-fsync", "redis-always"]
for scenario in [s for s in job_scenarios if s.startswith("cycle")]:
    fastest = max(peers, key=lambda s: median(scenario, s, rate) or 0)
    best_peer = median(scenario, fastest, rate)
    # The issue's target is the durable configuration (fsync before every +OK) against the
    # fastest peer, durable or not; --sync none is shown beside it for reference, not judged.
    durable = median(scenario, "docket-always", rate)
    ratio = durable / best_peer if durable and best_peer else None
    targets.append([f"job {scenario}: durable docketd ≥ 1.0× the fastest peer", f"docketd --sync always {durable:,.0f} jobs/s" if durable else "n/a",
                    f"{LABELS[fastest]} {best_peer:,.0f}" if best_peer else "n/a",
                    f"{ratio:.2f}×" if ratio else "n/a", verdict(ratio, lambda v: v >= 1.0)])
    relaxed = median(scenario, "docket-none", rate)
    ratio = relaxed / best_peer if relaxed and best_peer else None
    targets.append([f"job {scenario}: docketd --sync none against the fastest peer (reference)",
                    f"docketd --sync none {relaxed:,.0f} jobs/s" if relaxed else "n/a",
                    f"{LABELS[fastest]} {best_peer:,.0f}" if best_peer else "n/a",
                    f"{ratio:.2f}×" if ratio else "n/a", "not a target"])
    for peer in durable_peers:
        value = median(scenario, peer, rate)
        ratio = durable / value if durable and value else None
        targets.append([f"job {scenario}: durable docketd ≥ 10× each durable peer",
                        f"docketd --sync always {durable:,.0f} jobs/s" if durable else "n/a",
                        f"{LABELS[peer]} {value:,.0f}" if value else "n/a",
                        f"{ratio:.2f}×" if ratio else "n/a", verdict(ratio, lambda v: v >= 10.0)])
for scenario in pubsub_scenarios:
    mine = median(scenario, "docket-always", rate)
    for peer, goal in [("nats", 1.0), ("redis-memory", 1.5)]:
        value = median(scenario, peer, rate)
        if value is None:
            continue
        ratio = mine / value if mine else None
        targets.append([f"pub/sub {scenario}: ≥ {goal}× {PUBSUB_LABELS[peer]}", f"docketd {mine:,.0f} msgs/s" if mine else "n/a",
                        f"{value:,.0f}", f"{ratio:.2f}×" if ratio else "n/a", verdict(ratio, lambda v, g=goal: v >= g)])
if recovery_runs:
    recovery_jobs = int(meta["recovery_jobs"])
    # The limits are for a million jobs; a run with another count is shown but not judged.
    judged = recovery_jobs == 1_000_000
    note = "" if judged else f" (measured with {recovery_jobs:,} jobs)"
    ready = recovery_median(lambda r: r.get("ready_seconds"))
    targets.append([f"recovery of 1 M jobs < 3 s{note}", seconds(ready), "3 s",
                    f"{ready / 3:.2f}× the limit" if ready else "n/a",
                    verdict(ready, lambda v: v < 3) if judged else "not judged"])
    for label, key, results in [("after the fill", "memory_waiting", recovery_ok),
                                ("after a durable fill (`--sync always`)", "memory_waiting", durable_fill_ok),
                                ("after recovery", "memory_recovered", recovery_ok)]:
        if results is durable_fill_ok and not durable_fill_runs:
            continue
        rss = recovery_median(memory(key), results)
        targets.append([f"VmRSS with 1 M waiting jobs < 200 MB, {label}{note}", mb(rss), "200 MB",
                        f"{rss / 200e6:.2f}× the limit" if rss else "n/a",
                        verdict(rss, lambda v: v < 200e6) if judged else "not judged"])
if targets:
    out.append("\n## Targets\n")
    out.append("The performance issue's targets against this run's medians. \"Fastest peer\" is the fastest configuration "
               "of beanstalkd or Redis in that scenario, persistence or not; every job target is judged on docketd "
               "`--sync always` (fsync before every `+OK`), as the issue states it, and `--sync none` is shown for reference. "
               "The durable peers are beanstalkd `-f 0` and Redis `appendfsync always`.\n")
    out.append(table(["target", "docketd", "reference", "ratio", "verdict"], targets))

problems = [r for r in runs if not ok(r) or r["server_log"]]
out.append("\n## Failures and server warnings\n")
if not problems:
    out.append("None: every run completed, and no server logged an error or warning.")
for r in problems:
    detail = r["stderr"] or (r["result"] or {}).get("failure") or ""
    line = f"- {r['scenario']} on {r['server']}, run {r['rep']}: exit {r['status']}"
    if detail:
        line += f"; {detail[:300]}"
    if r["server_log"]:
        line += "; server log: `" + r["server_log"].replace("\n", " ¦ ")[:300] + "`"
    out.append(line)

# The hand-written analysis at the end of the previous report is carried over as it was.
START, END = "<!-- gaps-and-causes: written by hand; bench-compare.sh copies it from the previous report -->", "<!-- end of gaps-and-causes -->"
try:
    previous = open(out_path).read()
except OSError:
    previous = ""
out.append("")
# So is the section scripts/bench-postgres.sh writes (docketd on PostgreSQL), which this script does not measure.
PG_START, PG_END = "<!-- jobs-on-postgresql:", "<!-- end of jobs-on-postgresql -->"
if PG_START in previous and PG_END in previous:
    out.append(previous[previous.index(PG_START):previous.index(PG_END) + len(PG_END)])
    out.append("")
if START in previous and END in previous:
    out.append(previous[previous.index(START):previous.index(END) + len(END)])
else:
    out.append(START)
    out.append("## Gaps and causes\n")
    out.append("(Not written yet: compare the targets above with profiles of docketd, and say why each missed one is missed.)")
    out.append(END)

open(out_path, "w").write("\n".join(out) + "\n")
PY
log "wrote $OUT"
