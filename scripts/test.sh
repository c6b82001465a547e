#!/usr/bin/env bash
# Sets up and runs every test suite: Swift (unit, integration over TCP, conformance
# transcripts), the Python conformance runner (on the embedded store and on PostgreSQL), the
# kill -9 torture (both stores, and three nodes on one PostgreSQL), the nats-py interoperability suite, the monitoring endpoint's suite, the dashboard in a headless
# browser, the client libraries' suites (on both stores), and a quarter of a minute of coverage-guided
# fuzzing of each pure parser (scripts/fuzz.sh all).
# Every suite runs even if an earlier one fails; the exit status is non-zero if any failed.
# Most of the suites' time is waiting on servers, not CPU, so pytest (pytest-xdist) and node
# run several test files at once, as `swift test` does: each test starts its own server on a
# free port with its own data directory or database, so none shares state with another.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test || exit 1

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
# The suites run in three lanes side by side (DOCKET_TEST_LANES=1: one after another, their
# output streamed as it comes). Most of a suite's time is waiting on servers, not CPU: one after
# another they took 25 minutes on 2 cores, most of it with a core idle. A suite in a lane prints
# its whole output when it ends, under a lock, so that suites running together do not
# interleave. Each suite has at most `suite_timeout` seconds: a hung one fails on its own
# instead of taking the whole run past CI's limit.
lanes=${DOCKET_TEST_LANES:-3}
suite_timeout=${DOCKET_TEST_SUITE_TIMEOUT:-1500}
run_suite() {
    local name="$1"; shift
    local started=$SECONDS result=PASSED
    if [[ $lanes == 1 ]]; then
        echo
        echo "=== $name: $*"
        timeout --kill-after=30 "$suite_timeout" "$@" 2>&1 | tee "$logs/$name.log" || result=FAILED
    else
        timeout --kill-after=30 "$suite_timeout" "$@" > "$logs/$name.log" 2>&1 < /dev/null || result=FAILED
    fi
    [[ $result == FAILED ]] && touch "$logs/$name.failed"
    local summary="=== $name: $result in $((SECONDS - started)) s"
    if [[ $lanes == 1 ]]; then
        echo "$summary"
    else
        { echo; echo "=== $name: $*"; cat "$logs/$name.log"; echo "$summary"; } | flock "$logs/print.lock" cat
    fi
}

# A failed suite's own failure lines (Swift Testing, XCTest, pytest, node --test, the
# conformance runner), repeated at the end where a truncated CI log still shows them.
failure_lines() {
    grep -a -E '✘|↳|: error: |recorded an issue|Expectation failed|^FAILED |^E  |^not ok |^# fail|^FAIL|: FAIL' "$1" | grep -a -v -E '^↳ (Testing Library Version|Target Platform)' | head -40
}

swift build --build-tests || { echo "=== build: FAILED"; exit 1; }
docketd="$(swift build --show-bin-path)/docketd"

# The Swift suites (each `swift test` holds .build's lock, so they share a lane).
swift_lane() {
    run_suite swift swift test --skip-build
    # The Swift client's suite again, every server's jobs in a throw-away PostgreSQL of its own.
    run_suite swift-client-postgres env DOCKET_TEST_STORE=postgres swift test --skip-build --filter DocketClientTests
}

# The server's language-agnostic suites.
server_lane() {
    run_suite conformance python3 Protocol/conformance/run.py --docketd "$docketd"
    # The same transcripts with every job kept in PostgreSQL (a throw-away cluster).
    run_suite conformance-postgres scripts/with-postgres.sh python3 Protocol/conformance/run.py --docketd "$docketd" --postgres
    # The same scripts against a docketd on each store, side by side: their replies must agree.
    run_suite store-parity env DOCKETD="$docketd" scripts/with-postgres.sh python3 -m pytest -q -n 4 Tests/parity
    run_suite python env DOCKETD="$docketd" python3 -m pytest -q -n 4 Protocol/conformance/test_run.py Tests/interop Tests/monitoring Tests/fault-injection Tests/torture Tests/deploy Tests/readme examples/orders/test_example.py
    # kill -9 under a mixed load with every job in PostgreSQL (the embedded store's runs are above).
    run_suite torture-postgres env DOCKETD="$docketd" scripts/with-postgres.sh python3 -m pytest -q Tests/torture -k postgres
    # Three docketd nodes on one PostgreSQL (a private cluster), linked by routes and by nats-servers
    # in turn, under a load with nodes killed and paused, nats-servers killed, PostgreSQL restarted;
    # then (as root) nodes, PostgreSQL and a nats-server in network namespaces of their own, their
    # links cut without a word (test_partitions*.py; skipped with the reason where namespaces cannot be made).
    run_suite torture-cluster env DOCKETD="$docketd" python3 -m pytest -q Tests/cluster
    # The Node client on PostgreSQL runs here, not beside its other runs: with the fuzzers'
    # builds the clients' lane had become CI's longest (749 s against 648 and 582).
    run_suite node-postgres bash -c "cd Clients/node && DOCKETD='$docketd' DOCKET_TEST_STORE=postgres ../../scripts/with-postgres.sh node --test --test-concurrency=4"
}

# The dashboard, the other clients' suites (the Node client on PostgreSQL is in the server's lane), and the fuzzers.
clients_lane() {
    # The dashboard in headless Chromium (the embedded copy of its files must match the sources).
    run_suite dashboard bash -c "python3 scripts/embed-dashboard.py --check && DOCKETD='$docketd' DOCKET_REQUIRE_BROWSER=1 python3 -m pytest -q -n 2 Tests/dashboard"
    run_suite python-client env DOCKETD="$docketd" python3 -m pytest -q -n 4 Clients/python/tests
    run_suite node bash -c "cd Clients/node && DOCKETD='$docketd' node --test --test-concurrency=4"
    run_suite python-client-postgres env DOCKETD="$docketd" DOCKET_TEST_STORE=postgres scripts/with-postgres.sh python3 -m pytest -q -n 4 Clients/python/tests
    run_suite fuzz bash scripts/fuzz.sh all 15
}

if [[ $lanes == 1 ]]; then
    swift_lane
    server_lane
    clients_lane
else
    swift_lane &
    server_lane &
    clients_lane &
    wait
fi

failed=()
for marker in "$logs"/*.failed; do
    [[ -e $marker ]] && failed+=("$(basename "$marker" .failed)")
done
echo
if ((${#failed[@]})); then
    for name in "${failed[@]}"; do
        echo "--- $name: what failed"
        failure_lines "$logs/$name.log"
    done
    echo "test.sh: failed suites: ${failed[*]}"
    exit 1
fi
echo "test.sh: all suites passed"
