#!/usr/bin/env bash
# The order pipeline, end to end, in one command:
#
#   bash examples/orders/run.sh             # 10 orders
#   ORDERS=25 REPLY=1 bash examples/orders/run.sh
#
# Starts a fresh docketd on a free 127.0.0.1 port with a temporary data directory, adds the route
# orders.created -> invoices, starts the watcher and the workers, lets the shop publish the orders,
# waits (bounded) until the watcher has seen every order's outcome, and stops everything.
# Exit status 0 means every order reached an outcome (completed or dead) that the watcher observed.
#
# Environment:
#   DOCKETD          the docketd binary (default: <repo>/.build/release/docketd, then .build/debug/docketd,
#                    else it is built with `swift build -c release --product docketd`)
#   ORDERS           how many orders the shop publishes (default 10)
#   TIMEOUT          seconds to wait for every outcome (default 60)
#   INVOICE_WORKERS  how many invoice workers (default 2)
#   EMAIL_RATE       the emails queue's rate limit (default 2/1s)
#   FAIL_RATE        the share of invoice attempts that fail (default 0.25)
#   REPLY=1          the shop publishes with a reply subject and prints the job ids that come back
#   VERBOSE=1        show the workers' own lines too (otherwise they go to log files, shown on failure)
#   SEED             a random seed for the shop and the workers
#   PYTHON           the Python 3 to use (default python3; needs nats-py)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
ORDERS="${ORDERS:-10}"
TIMEOUT="${TIMEOUT:-60}"
INVOICE_WORKERS="${INVOICE_WORKERS:-2}"
EMAIL_RATE="${EMAIL_RATE:-2/1s}"
FAIL_RATE="${FAIL_RATE:-0.25}"

# ---- the server binary
if [[ -n "${DOCKETD:-}" ]]; then
    [[ -x "$DOCKETD" ]] || { echo "run.sh: DOCKETD=$DOCKETD is not an executable file" >&2; exit 2; }
elif [[ -x "$REPO/.build/release/docketd" ]]; then
    DOCKETD="$REPO/.build/release/docketd"
elif [[ -x "$REPO/.build/debug/docketd" ]]; then
    DOCKETD="$REPO/.build/debug/docketd"
else
    echo "run.sh: no docketd built yet; building it (swift build -c release --product docketd)"
    (cd "$REPO" && swift build -c release --product docketd)
    DOCKETD="$REPO/.build/release/docketd"
fi
"$PYTHON" -c 'import nats' 2>/dev/null || { echo "run.sh: $PYTHON has no nats-py (pip install nats-py)" >&2; exit 2; }

# ---- cleanup: every process started here, by pid, then the temporary directory
WORK="$(mktemp -d "${TMPDIR:-/tmp}/docket-orders.XXXXXX")"
PIDS=()            # clients, stopped first
SERVER_PID=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    set +e  # a cleanup step that fails must not stop the others
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait_gone "$pid"; done
    if [[ -n "$SERVER_PID" ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait_gone "$SERVER_PID"
    fi
    rm -rf "$WORK"
    exit "$status"
}
wait_gone() {  # up to 8 s for a graceful exit, then SIGKILL
    local pid="$1" i
    for ((i = 0; i < 80; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_logs() {
    for log in "$WORK"/*.log; do
        [[ -s "$log" ]] || continue
        echo "---- last lines of $(basename "$log")"
        tail -n 15 "$log"
    done
}

# ---- docketd on a free port (--port 0 picks one and logs it)
# In a session of its own (when setsid exists), so a Ctrl-C reaches only the clients and the server
# is stopped last, by cleanup.
detach=()
command -v setsid >/dev/null 2>&1 && detach=(setsid)
# The log exists before the server starts: the background job opens it only once it runs, and
# on a busy machine the first read below came before that ("sed: can't read …/docketd.log").
: >"$WORK/docketd.log"
"${detach[@]}" "$DOCKETD" --addr 127.0.0.1 --port 0 --data-dir "$WORK/data" >"$WORK/docketd.log" 2>&1 &
SERVER_PID=$!
PORT=""
for ((i = 0; i < 200; i++)); do
    PORT="$(sed -n 's/.*Listening for client connections on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$WORK/docketd.log" | head -n 1)"
    [[ -n "$PORT" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
done
if [[ -z "$PORT" ]]; then
    echo "run.sh: docketd did not start" >&2
    cat "$WORK/docketd.log" >&2
    exit 1
fi
URL="nats://127.0.0.1:$PORT"
echo "docketd   | $("$DOCKETD" --version 2>/dev/null || echo docketd) listening on 127.0.0.1:$PORT, data in $WORK/data"

# ---- the route: every orders.created message also becomes an invoices job
"$PYTHON" "$HERE/route.py" --server "$URL" orders.created invoices attempts=4 backoff=fixed:500ms

# ---- the watcher first (events are only recorded while someone listens), then the workers
"$PYTHON" -u "$HERE/watcher.py" --server "$URL" --orders "$ORDERS" --timeout "$TIMEOUT" \
    --ready-file "$WORK/watcher.ready" &
WATCHER_PID=$!
PIDS+=("$WATCHER_PID")
for ((i = 0; i < 200; i++)); do
    [[ -e "$WORK/watcher.ready" ]] && break
    kill -0 "$WATCHER_PID" 2>/dev/null || { echo "run.sh: the watcher did not start" >&2; exit 1; }
    sleep 0.05
done
[[ -e "$WORK/watcher.ready" ]] || { echo "run.sh: the watcher did not subscribe" >&2; exit 1; }

start_client() {  # <name> <command...>: in the background; its lines go to the terminal or to a log
    local name="$1"; shift
    if [[ -n "${VERBOSE:-}" ]]; then "$@" & else "$@" >"$WORK/$name.log" 2>&1 & fi
    PIDS+=("$!")
}
seed_args=()
[[ -n "${SEED:-}" ]] && seed_args=(--seed "$SEED")
for ((w = 1; w <= INVOICE_WORKERS; w++)); do
    start_client "invoice-$w" "$PYTHON" -u "$HERE/invoice_worker.py" --server "$URL" --name "invoice-$w" \
        --fail-rate "$FAIL_RATE" "${seed_args[@]}"
done
start_client email "$PYTHON" -u "$HERE/email_worker.py" --server "$URL" --rate "$EMAIL_RATE"

# ---- the shop
shop_args=(--orders "$ORDERS")
[[ -n "${REPLY:-}" ]] && shop_args+=(--reply)
"$PYTHON" -u "$HERE/shop.py" --server "$URL" "${shop_args[@]}" "${seed_args[@]}"

# ---- wait for the watcher: it exits once every order has an outcome, or after TIMEOUT seconds
deadline=$((SECONDS + TIMEOUT + 15))
while kill -0 "$WATCHER_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
if kill -0 "$WATCHER_PID" 2>/dev/null; then
    echo "run.sh: the watcher did not finish within $((TIMEOUT + 15)) s" >&2
    show_logs
    exit 1
fi
status=0
wait "$WATCHER_PID" || status=$?
if ((status != 0)); then
    echo "run.sh: not every order reached an outcome (watcher status $status)" >&2
    show_logs
    exit 1
fi
echo "run.sh    | all $ORDERS orders reached an outcome; stopping the workers and docketd"
