#!/usr/bin/env bash
# Sets up and runs every test suite: Swift (unit, integration over TCP, conformance
# transcripts), the Python conformance runner, the nats-py interoperability suite, the
# monitoring endpoint's suite, the client libraries' suites, and a minute of coverage-guided
# fuzzing of the wire parser (scripts/fuzz.sh).
# Every suite runs even if an earlier one fails; the exit status is non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test || exit 1

failed=()
run_suite() {
    local name="$1"; shift
    echo
    echo "=== $name: $*"
    if "$@"; then
        echo "=== $name: PASSED"
    else
        echo "=== $name: FAILED"
        failed+=("$name")
    fi
}

swift build --build-tests || { echo "=== build: FAILED"; exit 1; }
docketd="$(swift build --show-bin-path)/docketd"

run_suite swift swift test --skip-build
run_suite conformance python3 Protocol/conformance/run.py --docketd "$docketd"
run_suite python env DOCKETD="$docketd" python3 -m pytest -q Protocol/conformance/test_run.py Tests/interop Tests/monitoring Tests/deploy Tests/readme examples/orders/test_example.py
run_suite python-client env DOCKETD="$docketd" python3 -m pytest -q Clients/python/tests
run_suite node bash -c "cd Clients/node && DOCKETD='$docketd' node --test"
run_suite fuzz bash scripts/fuzz.sh 60

echo
if ((${#failed[@]})); then
    echo "test.sh: failed suites: ${failed[*]}"
    exit 1
fi
echo "test.sh: all suites passed"
