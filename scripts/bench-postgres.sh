#!/usr/bin/env bash
# Measures docketd keeping its jobs in PostgreSQL against the textbook SKIP LOCKED queue on the
# same PostgreSQL (issue #13), and writes the "Jobs on PostgreSQL" section of BENCHMARKS.md.
#
#   bash scripts/bench-postgres.sh            # about 6-8 minutes on 2 cores
#   REPS=1 JOBS=2000 OUT=/tmp/quick.md bash scripts/bench-postgres.sh
#
# One throw-away PostgreSQL cluster (scripts/with-postgres.sh: initdb in a temporary directory,
# a free loopback port) with durable settings (PG_SETTINGS below: fsync and synchronous_commit
# on). Every run gets a new database in it, made and dropped by docket-bench:
#   docket-bench jobs --store postgres ...          starts docketd --store <that database>
#   docket-bench jobs --protocol pg-skip-locked ... runs the textbook queue in it through libpq
# Each scenario runs REPS times, the two taking turns run by run; the report keeps the medians.
#
# The section sits between the jobs-on-postgresql markers of OUT and is replaced as a whole,
# except its "Where the time goes" part (between the postgres-analysis markers), written by
# hand, which is copied from the previous OUT. bench-compare.sh, which rewrites the rest of
# BENCHMARKS.md, carries this section over unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
# Jobs per run: both sides do a few thousand jobs a second here, so 10,000 takes seconds.
JOBS=${JOBS:-10000}
OUT=${OUT:-BENCHMARKS.md}
SCRATCH=.build-bench
BENCH=$SCRATCH/release/docket-bench
DOCKETD=$SCRATCH/release/docketd
# Durable: every commit is flushed to disk (fdatasync) before it is acknowledged, and a torn
# page cannot lose one (full_page_writes). The rest keeps checkpoints out of the runs' way
# (each run's DROP DATABASE checkpoints anyway) and gives a production-like buffer cache.
PG_SETTINGS=${PG_SETTINGS:-"-c fsync=on -c synchronous_commit=on -c full_page_writes=on -c wal_sync_method=fdatasync -c shared_buffers=256MB -c max_wal_size=4GB -c checkpoint_timeout=30min"}

log() { echo "bench-postgres: $*" >&2; }

# name|arguments, as in bench-compare.sh.
scenarios=(
    "cycle 32x1|--mode cycle --producers 2 --window 64 --workers 32 --batch 1"
    "cycle 16x8|--mode cycle --producers 2 --window 64 --workers 16 --batch 8"
    "enqueue only|--mode enqueue --producers 2 --window 64"
    "drain 32x1|--mode drain --producers 2 --window 64 --workers 32 --batch 1"
)

# The docket-bench arguments of each side.
system_arguments() {
    case "$1" in
        docket-postgres) echo "--store postgres --docketd $DOCKETD" ;;
        pg-skip-locked) echo "--protocol pg-skip-locked" ;;
    esac
}

# Inside with-postgres.sh: DOCKET_TEST_POSTGRES names the cluster. Runs everything, writing
# results.jsonl and meta.txt into $1.
measure() {
    local work=$1 psql=("$DOCKET_PG_BIN/psql" -X -q -A -t "$DOCKET_TEST_POSTGRES")
    {
        echo "pg_version=$("${psql[@]}" -c 'SELECT version()')"
        echo "pg_settings_arguments=$PG_SETTINGS"
        # The settings that matter for durability and speed, and whatever the command line set
        # (but the port and socket directory, which change every time).
        "${psql[@]}" -c "SELECT 'pgsetting.' || name || '=' || current_setting(name) || ' (' || source || ')'
            FROM pg_settings
            WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', 'wal_level', 'commit_delay',
                           'commit_siblings', 'shared_buffers', 'max_wal_size', 'checkpoint_timeout', 'wal_buffers',
                           'wal_writer_delay', 'max_connections', 'autovacuum', 'work_mem')
               OR (source = 'command line' AND name NOT IN ('port', 'unix_socket_directories'))
            ORDER BY name"
        local data
        data=$("${psql[@]}" -c 'SHOW data_directory')
        echo "pg_filesystem=$(df -T "$data" | awk 'NR == 2 {print $2 " on " $1}')"
        # How fast this disk makes 8 kB writes durable, the way PostgreSQL's WAL does (fdatasync).
        local fsync_rate
        fsync_rate=$(cd "$work" && timeout 60 "$DOCKET_PG_BIN/pg_test_fsync" -s 1 -f "$work/pg_test_fsync.tmp" 2>/dev/null \
            | awk '/one 8kB write/ {section = 1} section && $1 == "fdatasync" {print $2 " " $3 " (" $4 " " $5 ")"; exit}' || true)
        echo "pg_test_fsync=${fsync_rate:-n/a}"
        echo "pg_test_fsync_filesystem=$(df -T "$work" | awk 'NR == 2 {print $2 " on " $1}')"
    } >>"$work/meta.txt"
    rm -f "$work/pg_test_fsync.tmp"

    local started load_before
    started=$(date +%s)
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    for entry in "${scenarios[@]}"; do
        local scenario=${entry%%|*} args=${entry#*|}
        for rep in $(seq "$REPS"); do
            for system in docket-postgres pg-skip-locked; do
                local output status
                set +e
                # docket-bench bounds itself with --timeout; the outer timeout is a last resort.
                # shellcheck disable=SC2046,SC2086
                output=$(timeout 300 "$BENCH" jobs $(system_arguments "$system") --postgres "$DOCKET_TEST_POSTGRES" \
                    --timeout 240 --json $args --jobs "$JOBS" 2>"$work/bench.err")
                status=$?
                set -e
                [ -n "$output" ] || output='null'
                python3 - "$scenario" "$system" "$rep" "$status" "$output" "$(cat "$work/bench.err")" \
                    >>"$work/results.jsonl" <<'PY'
import json, sys
scenario, system, rep, status, output, stderr = sys.argv[1:]
print(json.dumps({"scenario": scenario, "system": system, "rep": int(rep), "status": int(status),
                  "result": json.loads(output), "stderr": stderr.strip()}))
PY
                log "$scenario, $system, run $rep: exit $status"
            done
        done
    done
    {
        echo "elapsed_runs=$(( $(date +%s) - started ))"
        echo "load_before=$load_before"
        echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)"
    } >>"$work/meta.txt"
}

if [ "${1:-}" = --measure ]; then
    measure "$2"
    exit 0
fi

log "building release docket-bench and docketd in $SCRATCH"
swift build -c release --scratch-path "$SCRATCH" --product docket-bench >&2
swift build -c release --scratch-path "$SCRATCH" --product docketd >&2

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-postgres.XXXXXX")
trap 'rm -rf "$work"' EXIT
started=$(date +%s)
{
    echo "nproc=$(nproc)"
    echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "kernel=$(uname -sr)"
    echo "memory=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
    echo "docketd=$("$DOCKETD" --version)"
    echo "swift=$(swift --version 2>&1 | head -1)"
    echo "reps=$REPS"
    echo "jobs=$JOBS"
    for entry in "${scenarios[@]}"; do echo "scenario.${entry%%|*}=${entry#*|}"; done
} >"$work/meta.txt"
# The cluster lives as long as the measuring half of this script.
DOCKET_PG_SETTINGS="$PG_SETTINGS" bash scripts/with-postgres.sh bash "$0" --measure "$work"
echo "elapsed=$(( $(date +%s) - started ))" >>"$work/meta.txt"

python3 - "$work/meta.txt" "$work/results.jsonl" "$OUT" <<'PY'
"""Writes the "Jobs on PostgreSQL" section of OUT from the runs' JSON lines."""
import json, re, statistics, sys

meta_path, results_path, out_path = sys.argv[1:]
meta = {}
for line in open(meta_path):
    key, _, value = line.rstrip("\n").partition("=")
    meta[key] = value
runs = [json.loads(line) for line in open(results_path)]
scenarios = [key.split(".", 1)[1] for key in meta if key.startswith("scenario.")]
settings = [(key.split(".", 1)[1], value) for key, value in meta.items() if key.startswith("pgsetting.")]
SYSTEMS = ["docket-postgres", "pg-skip-locked"]
LABELS = {"docket-postgres": "docketd --store postgres", "pg-skip-locked": "SKIP LOCKED baseline"}

def ok(run):
    return run["status"] == 0 and run["result"] and run["result"].get("ok")

def cell_runs(scenario, system):
    return [r for r in runs if r["scenario"] == scenario and r["system"] == system]

def median(scenario, system, pick):
    values = []
    for r in cell_runs(scenario, system):
        if not ok(r):
            continue
        try:
            value = pick(r["result"])
        except (KeyError, TypeError, ZeroDivisionError):
            value = None
        if value is not None:
            values.append(value)
    return statistics.median(values) if values else None

def rate(result):
    return result["jobs_per_second"]

def per_second(key):
    return lambda r: r["postgres"][key] / r["elapsed_seconds"] if r["postgres"][key] is not None else None

def per_job(key):
    return lambda r: r["postgres"][key] / r["completed"] if r["postgres"][key] is not None else None

def share(seconds):
    return lambda r: 100 * seconds(r) / r["elapsed_seconds"] if seconds(r) is not None else None

def failed(scenario, system):
    here = cell_runs(scenario, system)
    return sum(1 for r in here if not ok(r)), len(here)

def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)

def number(value, digits=0, suffix=""):
    return "n/a" if value is None else f"{value:,.{digits}f}{suffix}"

def rate_cell(scenario, system):
    value = median(scenario, system, rate)
    bad, total = failed(scenario, system)
    if value is None:
        return f"failed {bad}/{total}" if total else "n/a"
    return f"{value:,.0f}" + (f" †{bad}/{total} failed" if bad else "")

def ratio(scenario):
    mine, theirs = median(scenario, "docket-postgres", rate), median(scenario, "pg-skip-locked", rate)
    return mine / theirs if mine and theirs else None

def redact(text):
    """The cluster's port and the run's database name change every run."""
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    return re.sub(r"docket_bench_\d+_\d+", "DB", text)

out = []
out.append("<!-- jobs-on-postgresql: generated by scripts/bench-postgres.sh; bench-compare.sh carries it over -->")
out.append("## Jobs on PostgreSQL\n")
out.append("Generated by `bash scripts/bench-postgres.sh` (do not edit by hand, except *Where the time goes*, which "
           "the script keeps; run it again). docketd keeping its jobs in PostgreSQL (`--store`) against the textbook "
           "SKIP LOCKED queue written directly in SQL on the same PostgreSQL (issue #13): same connections, job count "
           f"and payloads. Each figure is the median of {meta['reps']} runs; the two took turns run by run, each run "
           "in a new database of one throw-away cluster. The whole comparison took "
           f"{int(meta['elapsed']) // 60} min {int(meta['elapsed']) % 60} s (the runs {int(meta['elapsed_runs']) // 60} min "
           f"{int(meta['elapsed_runs']) % 60} s).\n")

out.append("### Machine and PostgreSQL\n")
out.append(f"- {meta['nproc']} cores ({meta['cpu']}), {meta['memory']} of memory, {meta['kernel']}; "
           f"**docket-bench, docketd and PostgreSQL share these {meta['nproc']} cores**, and PostgreSQL's figures include "
           "its own processes only (the postmaster and its children)")
out.append(f"- load average (1, 5, 15 min) before the runs: {meta['load_before']}; after: {meta['load_after']} "
           "(the machine may be shared with other work the script cannot stop)")
out.append(f"- {meta['pg_version']}; cluster on {meta['pg_filesystem']}; `pg_test_fsync` on {meta['pg_test_fsync_filesystem']}: "
           f"fdatasync of one 8 kB write {meta['pg_test_fsync']}")
out.append(f"- docketd {meta['docketd']}; {meta['swift']}")
out.append(f"- server settings, given as `{meta['pg_settings_arguments']}` on top of "
           "`scripts/with-postgres.sh` (initdb defaults otherwise):\n")
out.append(table(["setting", "value (source)"], [[f"`{name}`", value] for name, value in settings]))

out.append("\n### What runs\n")
docketd_line = next((" ".join(r["result"]["server_arguments"]) for r in runs
                     if ok(r) and r["system"] == "docket-postgres" and r["result"].get("server_arguments")), None)
out.append(table(["side", "command line"], [
    ["docketd --store postgres", f"`docket-bench jobs --store postgres --docketd {redact(docketd_line.split()[0]) if docketd_line else 'docketd'} "
     "--postgres postgres://docket@127.0.0.1:PORT/postgres --json --jobs N <scenario>`, which starts "
     f"`{redact(docketd_line) if docketd_line else 'n/a'}`"],
    ["SKIP LOCKED baseline", "`docket-bench jobs --protocol pg-skip-locked --postgres postgres://docket@127.0.0.1:PORT/postgres "
     "--json --jobs N <scenario>`"],
]))
out.append(f"\nN = {int(meta['jobs']):,}; PORT is the cluster's, DB a new database for every run (dropped after it). "
           "64-byte payloads carrying the enqueue timestamp.\n")
out.append(table(["scenario", "arguments"], [[s, "`" + meta[f"scenario.{s}"] + "`"] for s in scenarios]))
out.append("""
- **docketd** answers ENQ/RESERVE/ACK as in the job-queue tables above, deciding each in PostgreSQL (its schema
  `docket`, one connection, the commands of one loop pass in one transaction). Workers send `RESERVE timeout=1s`;
  `16x8` keeps 8 reserves pipelined per worker.
- **The baseline** is the pattern most PostgreSQL job queues start from, one libpq connection per producer and
  worker, `synchronous_commit` on like the rest of the cluster, in its own table:
  `CREATE TABLE bench (id bigserial PRIMARY KEY, state text NOT NULL DEFAULT 'waiting', payload text NOT NULL)` with
  `CREATE INDEX ON bench (id) WHERE state = 'waiting'`. A producer sends `INSERT INTO bench (payload) VALUES ($1)`,
  one job per transaction (it keeps `--window` of them in flight through libpq's pipeline mode; one backend still
  commits them one after the other). A worker runs `BEGIN; SELECT id, payload FROM bench WHERE state = 'waiting'
  ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1;` then `UPDATE bench SET state = 'active' WHERE id = $1; COMMIT;`,
  then acks with `UPDATE bench SET state = 'completed' WHERE id = $1` in a transaction of its own, sent together
  with its next BEGIN and SELECT; finding nothing, it commits and looks again 5 ms later. One job at a time per
  worker (one connection runs one transaction at a time), so `--batch 8` changes nothing for it: its `16x8` is
  16 workers × 1. A drain run's table is filled first, untimed, 1,000 rows per INSERT.
- Both sides go through the same libpq connection code, which prepares each statement once per connection (as
  most drivers do by default: psycopg 3, pgx, JDBC after a few uses); since 2026-12-04 (see *Where the time
  goes*), before that both sent every statement as unprepared SQL, which cost the baseline's tiny statements
  far more than docketd's.
""")

out.append("### Throughput: jobs/s\n")
rows = []
for scenario in scenarios:
    value = ratio(scenario)
    rows.append([scenario, rate_cell(scenario, "docket-postgres"), rate_cell(scenario, "pg-skip-locked"),
                 "n/a" if value is None else f"{value:.2f}×"])
out.append(table(["scenario", LABELS["docket-postgres"], LABELS["pg-skip-locked"], "ratio docketd / baseline"], rows))

out.append("\n### Latency: p50 / p99 in ms\n")
out.append("cycle: enqueue to ack confirmed; enqueue only: enqueue to confirmation; drain: reserve (the baseline: "
           "its BEGIN and SELECT) sent to ack confirmed.\n")
def latency(scenario, system):
    p50 = median(scenario, system, lambda r: r["latency"]["p50_ms"])
    p99 = median(scenario, system, lambda r: r["latency"]["p99_ms"])
    return "n/a" if p50 is None else f"{p50:.1f} / {p99:.1f}"
out.append(table(["scenario", LABELS["docket-postgres"], LABELS["pg-skip-locked"]],
                 [[s, latency(s, "docket-postgres"), latency(s, "pg-skip-locked")] for s in scenarios]))

out.append("\n### Measured: CPU, transactions and WAL over the timed part\n")
out.append("CPU in percent of one core. Write transactions are those that took a transaction id (from the counter, "
           "exact); WAL flushes are PostgreSQL's own count (`pg_stat_wal.wal_sync`: each an fdatasync of the WAL, "
           "shared by every commit waiting for it).\n")
rows = []
for scenario in scenarios:
    for system in SYSTEMS:
        docketd_cpu = median(scenario, system, share(lambda r: r["server_cpu_seconds"])) if system == "docket-postgres" else None
        rows.append([
            scenario, LABELS[system],
            number(docketd_cpu, suffix="%") if system == "docket-postgres" else "—",
            number(median(scenario, system, share(lambda r: r["postgres"]["cpu_seconds"])), suffix="%"),
            number(median(scenario, system, share(lambda r: r["client_cpu_seconds"])), suffix="%"),
            number(median(scenario, system, per_second("write_transactions"))),
            number(median(scenario, system, per_job("write_transactions")), 2),
            number(median(scenario, system, per_second("wal_flushes"))),
            number(median(scenario, system, lambda r: r["completed"] / r["postgres"]["wal_flushes"]
                          if r["postgres"]["wal_flushes"] else None), 1),
            number(median(scenario, system, per_job("wal_bytes"))),
            number(median(scenario, system, lambda r: 1e6 * r["postgres"]["cpu_seconds"] / r["completed"]
                          if r["postgres"]["cpu_seconds"] is not None else None)),
        ])
out.append(table(["scenario", "side", "docketd CPU", "PostgreSQL CPU", "client CPU", "write transactions/s",
                  "write transactions per job", "WAL flushes/s", "jobs per WAL flush", "WAL bytes per job",
                  "PostgreSQL CPU µs per job"], rows))

out.append("\n### Targets\n")
out.append("Issue #13: the durable job cycle through one docketd on PostgreSQL at least 3× the SKIP LOCKED baseline "
           "and at least 10,000 jobs/s, in the 16x8 shape, on this 2-core machine.\n")
targets = []
if "cycle 16x8" in scenarios:
    mine = median("cycle 16x8", "docket-postgres", rate)
    theirs = median("cycle 16x8", "pg-skip-locked", rate)
    value = ratio("cycle 16x8")
    targets.append(["cycle 16x8: ≥ 3× the SKIP LOCKED baseline", number(mine, suffix=" jobs/s"), number(theirs, suffix=" jobs/s"),
                    "n/a" if value is None else f"{value:.2f}×",
                    "n/a" if value is None else ("**met**" if value >= 3 else "**missed**")])
    targets.append(["cycle 16x8: ≥ 10,000 durable jobs/s", number(mine, suffix=" jobs/s"), "10,000 jobs/s",
                    "n/a" if mine is None else f"{mine / 10000:.2f}×",
                    "n/a" if mine is None else ("**met**" if mine >= 10000 else "**missed**")])
out.append(table(["target", "docketd", "reference", "ratio", "verdict"], targets))

out.append("\n### Failures and warnings\n")
problems = []
shutdown = {}
for r in runs:
    result = r["result"] or {}
    if not ok(r):
        detail = r["stderr"] or result.get("failure") or ""
        problems.append(f"- {r['scenario']}, {LABELS[r['system']]}, run {r['rep']}: exit {r['status']}; {redact(detail)[:300]}")
    for warning in result.get("server_warnings") or []:
        # docketd's own log lines start with [pid] date time.
        text = re.sub(r"\[\d+\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+ ", "", redact(warning))
        if text.startswith("after SIGTERM: "):
            shutdown[text] = shutdown.get(text, 0) + 1
        else:
            problems.append(f"- {r['scenario']}, {LABELS[r['system']]}, run {r['rep']}: `{text[:300]}`")
if not problems:
    out.append("None: every run completed, and docketd logged no error or warning while it was measured.")
out += problems
for text, count in shutdown.items():
    out.append(f"\nWhile shutting down (SIGTERM after the run), docketd logged in {count} of "
               f"{len([r for r in runs if r['system'] == 'docket-postgres'])} runs: `{text[len('after SIGTERM: '):][:300]}`")

# The hand-written analysis is carried over from the previous report.
A_START = "<!-- postgres-analysis: written by hand; bench-postgres.sh copies it from the previous report -->"
A_END = "<!-- end of postgres-analysis -->"
START = "<!-- jobs-on-postgresql: generated by scripts/bench-postgres.sh; bench-compare.sh carries it over -->"
END = "<!-- end of jobs-on-postgresql -->"
try:
    previous = open(out_path).read()
except OSError:
    previous = ""
out.append("")
if A_START in previous and A_END in previous:
    out.append(previous[previous.index(A_START):previous.index(A_END) + len(A_END)])
else:
    out.append(A_START)
    out.append("### Where the time goes\n")
    out.append("(Not written yet: say, from the figures above, what limits each side.)")
    out.append(A_END)
out.append(END)
section = "\n".join(out) + "\n"

if START in previous and END in previous:
    text = previous[:previous.index(START)] + section + previous[previous.index(END) + len(END):].lstrip("\n")
else:
    # New: before the hand-written gaps and causes of the main report, or at the end.
    gaps = "<!-- gaps-and-causes:"
    if gaps in previous:
        at = previous.index(gaps)
        text = previous[:at] + section + "\n" + previous[at:]
    else:
        text = previous + ("\n" if previous and not previous.endswith("\n\n") else "") + section
open(out_path, "w").write(text)
PY
log "wrote the Jobs on PostgreSQL section of $OUT"
