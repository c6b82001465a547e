#!/usr/bin/env bash
# Runs nats.c's own test suite (test/test.c, every test but JetStream's and its key-value and
# object stores, which docketd does not have) against docketd standing in for nats-server: a
# second real NATS client's suite, after nats.py's (scripts/nats-py-suite.sh). Not part of
# scripts/test.sh: it fetches nats.c, builds it (cmake, a C compiler, libssl-dev) and runs about
# 240 tests one by one, several minutes in all.
#
#   bash scripts/nats-c-suite.sh [path/to/docketd] [test name ...]
#
# NATS_C_REPO names another place to clone nats.c from (a local mirror, for a machine without
# access to GitHub). The suite's harness starts "nats-server" with nats-server's own command line
# (-a, -p, -auth, -user/-pass, -config, -tls…, -DV, -l server.log) on fixed ports (4222, 4443,
# 8232, …), which must be free.
#
# Known failures (2026-12-06, nats.c main): three that fail against nats-server on this kind of
# machine as well (below). The six tests that start servers routing to each other (-cluster:
# DiscoveredServersCb, GetDiscoveredServers, GetServers, IgnoreDiscoveredServers,
# ReconnectImplicitUserInfo, SSLReconnectWithAuthError) pass since docketd routes between its own
# nodes. The three: IPResolutionOrder and natsSock_IPOrder (no ::1 for localhost) and
# RequestTimeout (it expects a timeout, not no-responders, unless NATS_TEST_SERVER_VERSION names a
# server of 2.2 or later).
set -euo pipefail
cd "$(dirname "$0")/.."
docketd="$(realpath "${1:-.build/debug/docketd}")"
shift || true
command -v cmake > /dev/null || { echo "nats-c-suite: needs cmake (apt-get install cmake)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'pkill -f "$work/wrapper" 2>/dev/null || true; rm -rf "$work"' EXIT
git clone -q --depth 1 "${NATS_C_REPO:-https://github.com/nats-io/nats.c}" "$work/nats.c"
cmake -S "$work/nats.c" -B "$work/build" -DNATS_BUILD_STREAMING=OFF -DNATS_BUILD_WITH_TLS=ON > "$work/cmake.log"
make -C "$work/build" -j"$(nproc)" testsuite > "$work/make.log" 2>&1 || { tail -20 "$work/make.log"; exit 1; }

mkdir -p "$work/wrapper"
cat > "$work/wrapper/nats-server" <<WRAPPER
#!/bin/sh
exec "$docketd" --data-dir "\$(mktemp -d "$work/data.XXXXXX")" "\$@"
WRAPPER
chmod +x "$work/wrapper/nats-server"

if [ $# -gt 0 ]; then
    tests=("$@")
else
    mapfile -t tests < <(sed -n 's/^_test(\(.*\))$/\1/p' "$work/nats.c/test/list_test.txt" \
        | grep -v -E '^(JetStream|JS|KeyValue|KV|ObjectStore|ObjStore|Micro|Stan)')
fi

passed=0
failed=()
# The tests read their certificates and configuration files from test/.
cd "$work/nats.c/test"
for name in "${tests[@]}"; do
    if NATS_TEST_SERVER_EXE="$work/wrapper/nats-server" timeout -k 5 120 "$work/build/bin/testsuite" "$name" \
        > "$work/$name.log" 2>&1; then
        passed=$((passed + 1))
    else
        failed+=("$name")
        echo "FAILED: $name"
        grep -E 'FAILED|Error|@@' "$work/$name.log" | head -3 | sed 's/^/    /'
    fi
    # A test that failed half-way may leave its server running on a fixed port.
    pkill -f "$docketd --data-dir $work/data" 2>/dev/null || true
done
echo "nats.c suite: ${passed} passed, ${#failed[@]} failed${failed:+ (${failed[*]})}"
[ ${#failed[@]} -eq 0 ]
