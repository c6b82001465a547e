#!/usr/bin/env bash
# Installs what building and testing Docket needs and is not already here:
# Debian packages (libevent, LMDB, OpenSSL, libcrypt, libpq, zlib, pkg-config, netcat, tzdata's zone files
# for cron schedules) and, with --test, PostgreSQL's server (the Postgres store's tests start a private
# cluster of their own), Chromium and its WebDriver (the dashboard's browser tests), jq (the README's
# sessions) and, with pip (itself installed if missing), the Python packages the tests use (nats-py,
# pytest, prometheus-client, selenium).
# Safe to run again.
set -euo pipefail

packages=(libevent-dev liblmdb-dev libssl-dev libcrypt-dev libpq-dev zlib1g-dev openssl pkg-config netcat-openbsd tzdata)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = "--test" ]; then
    # The Node.js client's suite runs on node's built-in test runner (node 20 or later); npm
    # packs and installs its tarball; nats-server is the reference the TLS and interop tests
    # also run against.
    tools=()
    command -v node >/dev/null 2>&1 || tools+=(nodejs)
    command -v npm >/dev/null 2>&1 || tools+=(npm)
    command -v nats-server >/dev/null 2>&1 || tools+=(nats-server)
    # jq: the README's docket sessions pipe a result through it (Tests/readme).
    command -v jq >/dev/null 2>&1 || tools+=(jq)
    # initdb and pg_ctl: the DocketPostgres tests start a private cluster with them, never the system service.
    dpkg -s postgresql >/dev/null 2>&1 || tools+=(postgresql)
    # The dashboard's tests drive a headless Chromium through chromedriver (Tests/dashboard).
    command -v chromium >/dev/null 2>&1 || tools+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || tools+=(chromium-driver)
    # ip and tc (iproute2): Tests/cluster's partitions put nodes in network namespaces and cut
    # their links (as root; skipped with the reason otherwise).
    command -v ip >/dev/null 2>&1 && command -v tc >/dev/null 2>&1 || tools+=(iproute2)
    # pip: the Python packages below are installed with it, and Debian's python3 (which Swift's
    # toolchain brings) comes without it.
    python3 -m pip --version >/dev/null 2>&1 || tools+=(python3-pip)
    # libfaketime: a schedule test moves docketd's wall clock alone (Tests/DocketServerTests/ScheduleTests).
    [ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || dpkg -s faketime >/dev/null 2>&1 || tools+=(faketime)
    if ((${#tools[@]})); then
        echo "setup: installing ${tools[*]}"
        sudo=""
        if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${tools[@]}" >/dev/null
    fi
    # The Node.js client's package asks for node 20 and its suite runs with --test-concurrency
    # (node 20.10): Debian 12's own nodejs is 18, on which the two node suites fail.
    node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || true)
    [[ $node_major =~ ^[0-9]+$ ]] || node_major=0
    if ((node_major < 20)); then
        echo "setup: node $(node --version 2>/dev/null || echo '(none)') is older than 20, which the Node.js client and its suites need;" \
            "Debian 12's nodejs is 18: install node 20 or later (Debian 13's nodejs, or NodeSource's) for them to pass" >&2
    fi
    # build and wheel: the Python client's packaging test builds its wheel and sdist offline;
    # pytest-xdist: several test files at once (scripts/test.sh); selenium: the dashboard's browser tests; nkeys: nats-py's NKEY logins (Tests/interop/test_nkey.py);
    # aiohttp (nats-py's ws:// and wss://) and websockets: the WebSocket listener's interop tests;
    # schemathesis (and its PyYAML): the monitoring port against Protocol/monitoring.openapi.yaml.
    if ! python3 -c 'import nats, nkeys, pytest, xdist, prometheus_client, build, wheel, selenium, aiohttp, websockets, yaml, schemathesis' 2>/dev/null; then
        echo "setup: installing nats-py, nkeys, pytest, pytest-xdist, prometheus-client, build, wheel, selenium, aiohttp, websockets and schemathesis"
        # Debian's own python3 refuses pip installs outside a venv (PEP 668); a user install
        # with --break-system-packages touches only ~/.local.
        python3 -m pip install -q nats-py nkeys pytest pytest-xdist prometheus-client build wheel selenium aiohttp websockets schemathesis 2>/dev/null \
            || python3 -m pip install -q --user --break-system-packages nats-py nkeys pytest pytest-xdist prometheus-client build wheel selenium aiohttp websockets schemathesis
    fi
fi
