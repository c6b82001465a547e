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

failed=()
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
run_suite() {
    local name="$1"; shift
    echo
    echo "=== $name: $*"
    local started=$SECONDS
    if "$@" 2>&1 | tee "$logs/$name.log"; then
        echo "=== $name: PASSED in $((SECONDS - started)) s"
    else
        echo "=== $name: FAILED in $((SECONDS - started)) s"
        failed+=("$name")
    fi
}

# A failed suite's own failure lines (Swift Testing, XCTest, pytest, node --test, the
# conformance runner), repeated at the end where a truncated CI log still shows them.
failure_lines() {
    grep -a -E '✘|↳|: error: |recorded an issue|Expectation failed|^FAILED |^E  |^not ok |^# fail|^FAIL|: FAIL' "$1" | grep -a -v -E '^↳ (Testing Library Version|Target Platform)' | head -40
}

swift build --build-tests || { echo "=== build: FAILED"; exit 1; }
docketd="$(swift build --show-bin-path)/docketd"

run_suite swift swift test --skip-build
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
# The dashboard in headless Chromium (the embedded copy of its files must match the sources).
run_suite dashboard bash -c "python3 scripts/embed-dashboard.py --check && DOCKETD='$docketd' DOCKET_REQUIRE_BROWSER=1 python3 -m pytest -q -n 2 Tests/dashboard"
run_suite python-client env DOCKETD="$docketd" python3 -m pytest -q -n 4 Clients/python/tests
run_suite node bash -c "cd Clients/node && DOCKETD='$docketd' node --test --test-concurrency=4"
# The client suites again, every server's jobs in a database of a throw-away PostgreSQL (the
# Swift one starts its own cluster).
run_suite swift-client-postgres env DOCKET_TEST_STORE=postgres swift test --skip-build --filter DocketClientTests
run_suite python-client-postgres env DOCKETD="$docketd" DOCKET_TEST_STORE=postgres scripts/with-postgres.sh python3 -m pytest -q -n 4 Clients/python/tests
run_suite node-postgres bash -c "cd Clients/node && DOCKETD='$docketd' DOCKET_TEST_STORE=postgres ../../scripts/with-postgres.sh node --test --test-concurrency=4"
run_suite fuzz bash scripts/fuzz.sh all 15

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
