#!/usr/bin/env bash
# Sets up, builds a release docketd and runs it in the foreground with the given flags
# (default: 127.0.0.1:4222, data in ./docket-data). Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product docketd
exec .build/release/docketd "$@"
