#!/usr/bin/env bash
# Runs a command next to a private, throw-away PostgreSQL cluster:
#
#   scripts/with-postgres.sh python3 Protocol/conformance/run.py --docketd .build/debug/docketd --postgres
#
# initdb into a temporary directory, started with pg_ctl on a free loopback port (never the
# system service), stopped and removed when the command ends. The command finds it in
# DOCKET_TEST_POSTGRES (a connection URL for the superuser `docket`, database `postgres`) and
# DOCKET_PG_BIN (the server's programs: createdb, psql, pg_ctl). PostgreSQL refuses to run as
# root; under root it runs as the `postgres` user. Exit status: the command's.
set -euo pipefail

bin="${DOCKET_PG_BIN:-}"
if [[ -z "$bin" ]]; then
    for candidate in /usr/lib/postgresql/*/bin; do
        [[ -x "$candidate/initdb" ]] && bin="$candidate"
    done
fi
if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
    echo "with-postgres: no PostgreSQL server programs (install postgresql, or set DOCKET_PG_BIN)" >&2
    exit 2
fi

run_as=()
if [[ "$(id -u)" == 0 ]]; then
    run_as=(runuser -u postgres --)
fi

dir="$(mktemp -d /tmp/docket-pg.XXXXXX)"
[[ ${#run_as[@]} -gt 0 ]] && chown postgres: "$dir"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

stop() {
    "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 20 stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop EXIT

"${run_as[@]}" "$bin/initdb" -D "$dir/data" -U docket --auth=trust -E UTF8 --no-sync --no-instructions >/dev/null
# Durability of the scratch cluster is not what the suites test: fsync off keeps them fast.
# DOCKET_PG_SETTINGS adds server settings after these (later ones win), e.g. for a benchmark:
# DOCKET_PG_SETTINGS="-c fsync=on -c synchronous_commit=on -c full_page_writes=on".
"${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 \
    -o "-k $dir -p $port -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 ${DOCKET_PG_SETTINGS:-}" \
    start >/dev/null

export DOCKET_TEST_POSTGRES="postgres://docket@127.0.0.1:$port/postgres"
export DOCKET_PG_BIN="$bin"
export DOCKET_TEST_POSTGRES_PORT="$port"
set +e
"$@"
status=$?
set -e
if [[ $status -ne 0 && -f "$dir/log" ]]; then
    echo "with-postgres: the command failed; the last lines of the PostgreSQL log:" >&2
    tail -n 20 "$dir/log" >&2 || true
fi
exit $status
