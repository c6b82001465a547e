#!/usr/bin/env bash
# Coverage-guided fuzzing of Docket's pure parsers with libFuzzer. Each target is a harness in
# Fuzz/<target>/ that checks properties of what it parses (Fuzz/README.md lists them):
#   wire      the client wire parser (ClientParser), job commands (JobCommand), CONNECT JSON,
#             subjects, and the cluster link's reader of a NATS server (UpstreamParser)
#   client    the client library's reader of what the server sends (DocketClient.ServerParser)
#   schedule  cron expressions, POSIX TZ rules, TZif zone files, and the ticks they give
#   config    the configuration file reader (DocketServer.ConfigFile)
#   websocket the WebSocket frame decoder (DocketWire.WebSocketFrameDecoder) and the request
#             head reader before it (DocketServer.HTTPHead)
#   credentials NKEY keys and seeds, base32 and base64, NATS JWTs and their chain of trust
#
#   scripts/fuzz.sh [TARGET] [SECONDS [LIBFUZZER-FLAGS...]]   fuzz TARGET (default wire) for SECONDS (default 60)
#   scripts/fuzz.sh [TARGET] --replay FILE-OR-DIR...          run the harness once over the given inputs
#   scripts/fuzz.sh [TARGET] --coverage                       edges of each source file the corpus reaches
#   scripts/fuzz.sh all [SECONDS]                             every target in turn, SECONDS each
#
# A harness is compiled with swiftc straight from its Fuzz/<target>/*.swift into
# .build-fuzz/<target>/, and the module sources it tests into .build-fuzz/modules/ (shared by the
# targets that test the same files; each rebuilt when a source is newer), so `swift build` and
# .build/ are untouched. Seeds are Fuzz/<target>/corpus/ (the wire target refreshes its
# from Protocol/conformance on every run); the corpus libFuzzer grows stays in
# .build-fuzz/<target>/corpus/ and carries over to the next run.
#
# Exit status: 0 if nothing was found; 1 if an input crashed or broke a property (it is saved
# under .build-fuzz/<target>/crashes/ and its path printed); 2 for a usage, build or setup error.
set -uo pipefail
# The whole script is one { ... } block, read before it runs, so that editing this file while a
# long run is going cannot make bash execute the edited text from the middle.
{
caller=$PWD
script=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$script")/.."

targets=(wire client schedule config websocket credentials route)

# `all`: each target in turn; the first failure's status wins.
if [[ ${1:-} == all ]]; then
    shift
    status=0
    for target in "${targets[@]}"; do
        bash "$script" "$target" "$@"
        result=$?
        ((status == 0)) && status=$result
    done
    exit $status
fi

target=wire
if [[ -n ${1:-} ]] && [[ " ${targets[*]} " == *" $1 "* ]]; then
    target=$1
    shift
elif [[ ${1:-} =~ ^[a-z]+$ ]]; then
    echo "fuzz: unknown target $1 (targets: ${targets[*]} all)" >&2
    exit 2
fi

# What each target compiles: the modules under test, in dependency order, each as
# NAME=SOURCES (a glob or files, blank-separated), and the folder of its harness and seeds.
case $target in
    wire) modules=("DocketWire=Sources/DocketWire/*.swift") ;;
    client)
        # The whole client module (ServerParser's types come from across it), so TLS too.
        modules=("DocketWire=Sources/DocketWire/*.swift" "DocketTLS=Sources/DocketTLS/*.swift"
            "DocketClient=Sources/DocketClient/*.swift") ;;
    schedule) modules=("DocketSchedule=Sources/DocketSchedule/*.swift") ;;
    config) modules=("DocketServer=Sources/DocketServer/ConfigFile.swift") ;;
    websocket) modules=("DocketWire=Sources/DocketWire/*.swift" "DocketServer=Sources/DocketServer/HTTPHead.swift") ;;
    route) modules=("DocketWire=Sources/DocketWire/*.swift") ;;
    credentials) modules=("DocketWire=Sources/DocketWire/*.swift" "DocketServer=Sources/DocketServer/NatsJWT.swift") ;;
esac
harness_dir=Fuzz/$target
seeds_dir=$harness_dir/corpus

build=.build-fuzz/$target
binary=$build/docket-fuzz
log=$build/fuzz.log
mkdir -p "$build/corpus" "$build/crashes" "$seeds_dir"

# Flags from PLATFORM-NOTES: simpler spellings fail to link or drop one sanitizer. -O keeps
# Swift's overflow and bounds traps (only -Ounchecked drops them) and runs several times faster.
common=(-swift-version 6 -parse-as-library -O -g -wmo)
# The Swift backtracer otherwise causes a false AddressSanitizer report.
export SWIFT_BACKTRACE=enable=no

usage() {
    sed -n '13,16p' "$script" | sed 's/^# *//' >&2
    exit 2
}

# The modules under test get coverage instrumentation (and -enable-testing, so a harness may
# `@testable import` their internal parsers); the harness only AddressSanitizer, so that
# libFuzzer follows the parsers' branches rather than the checks'.
# A module is compiled once into .build-fuzz/modules/ for every target that tests the same files
# (DocketWire is under five of them: compiled for each, it was a minute of CI's fuzz suite).
module_cache=.build-fuzz/modules

# Compiles module $1 from files $2... (its dependencies' folders in `include_dirs`) unless the
# cached copy is newer than its sources; leaves its folder in `module_dir`.
build_module() {
    local name=$1
    shift
    local key
    key=$(printf '%s\n' "$name" "$@" | cksum | cut -d' ' -f1)
    module_dir=$module_cache/$name-$key
    mkdir -p "$module_dir"
    # Two fuzz.sh runs at once (different targets) must not build one module together.
    exec 8>"$module_dir/lock"
    flock -w 600 8 || { echo "fuzz: another fuzz.sh holds $module_dir/lock" >&2; return 1; }
    if [[ -f $module_dir/$name.o ]] && [[ -z $(find "$@" "$script" -newer "$module_dir/$name.o" 2>/dev/null) ]]; then
        exec 8>&-
        return 0
    fi
    local tmp=$module_dir/tmp.$$ include=() dir
    for dir in "${include_dirs[@]}"; do include+=(-I "$dir"); done
    mkdir -p "$tmp"
    if swiftc "${common[@]}" -enable-testing -sanitize=fuzzer,address -module-name "$name" "${include[@]}" -I Sources/COpenSSL "$@" \
        -c -o "$tmp/$name.o" -emit-module -emit-module-path "$tmp/$name.swiftmodule"; then
        mv -f "$tmp/$name.swiftmodule" "$module_dir/" && mv -f "$tmp/$name.o" "$module_dir/"
    else
        rm -rf "$tmp"
        exec 8>&-
        return 1
    fi
    rm -rf "$tmp"
    exec 8>&-
}

build_harness() {
    local sources=() module
    for module in "${modules[@]}"; do
        # shellcheck disable=SC2206  # the glob is meant to expand
        sources+=(${module#*=})
    done
    local harness=("$harness_dir"/*.swift)
    if [[ -x $binary ]] && [[ -z $(find "${sources[@]}" "${harness[@]}" "$script" -newer "$binary" 2>/dev/null) ]]; then
        return 0
    fi
    echo "fuzz: building $binary"
    local started=$SECONDS tmp=$build/tmp.$$ objects=() ok=1 include=()
    include_dirs=()
    mkdir -p "$tmp"
    for module in "${modules[@]}"; do
        # shellcheck disable=SC2206
        local files=(${module#*=})
        build_module "${module%%=*}" "${files[@]}" || { ok=0; break; }
        objects+=("$module_dir/${module%%=*}.o")
        include_dirs+=("$module_dir")
        include+=(-I "$module_dir")
    done
    if ((ok)) &&
        swiftc "${common[@]}" -sanitize=address -module-name DocketFuzz "${include[@]}" -I Sources/COpenSSL "${harness[@]}" \
            -c -o "$tmp/DocketFuzz.o" &&
        swiftc -sanitize=fuzzer,address -use-ld=lld "${objects[@]}" "$tmp/DocketFuzz.o" -o "$tmp/docket-fuzz"
    then
        mv -f "$tmp/docket-fuzz" "$binary"
        rm -rf "$tmp"
        echo "fuzz: built in $((SECONDS - started)) s"
    else
        rm -rf "$tmp"
        echo "fuzz: build FAILED" >&2
        exit 2
    fi
}

# The wire target's seeds and dictionary come from the conformance transcripts and the
# sources; the other targets' seeds are committed as they are, with their own dictionary.
prepare_seeds() {
    if [[ $target == wire ]]; then
        python3 Fuzz/wire/make_seeds.py "$seeds_dir" "$build/docket.dict" "$@" || exit 2
    else
        cp "$harness_dir/docket.dict" "$build/docket.dict" || exit 2
    fi
    if [[ $target == schedule ]]; then
        # Zone files as TZif seeds (mode byte 2), from the installed database if there is one.
        local zone
        for zone in America/New_York Europe/Dublin Australia/Lord_Howe; do
            [[ -f /usr/share/zoneinfo/$zone ]] || continue
            { printf '\x02'; cat "/usr/share/zoneinfo/$zone"; } >"$build/corpus/tzif-${zone##*/}"
        done
    fi
}

show_crash() {
    local file=$1
    echo "fuzz: crashing input: $file ($(wc -c <"$file") bytes)"
    echo "fuzz: replay with: scripts/fuzz.sh $target --replay $file"
    echo "fuzz: input as hex (first 512 bytes):"
    head -c 512 "$file" | od -An -tx1 | sed 's/^/    /'
}

# Two runs at once would fight over the binary and the corpus.
exec 9>"$build/lock"
flock -w 120 9 || { echo "fuzz: another fuzz.sh holds $build/lock" >&2; exit 2; }

if [[ ${1:-} == --replay ]]; then
    shift
    (($#)) || usage
    inputs=()
    for path in "$@"; do
        [[ $path == /* ]] || path=$caller/$path
        if [[ -d $path ]]; then
            while IFS= read -r -d '' file; do inputs+=("$file"); done < <(find "$path" -type f -print0 | sort -z)
        elif [[ -f $path ]]; then
            inputs+=("$path")
        else
            echo "fuzz: no such file or folder: $path" >&2
            exit 2
        fi
    done
    ((${#inputs[@]})) || { echo "fuzz: no inputs under $*" >&2; exit 2; }
    build_harness
    echo "fuzz: replaying ${#inputs[@]} input(s)"
    if "$binary" "${inputs[@]}"; then
        echo "fuzz: replay passed (${#inputs[@]} inputs)"
        exit 0
    fi
    echo "fuzz: replay FAILED"
    exit 1
fi

if [[ ${1:-} == --coverage ]]; then
    (($# == 1)) || usage
    build_harness
    prepare_seeds >/dev/null
    # -runs=0 only runs the corpus; -print_coverage lists every function with its edges.
    "$binary" "$build/corpus" "$seeds_dir" -runs=0 -print_coverage=1 2>&1 | awk '
        /^(UN)?COVERED_FUNC:/ {
            for (i = 1; i <= NF; i++) if ($i == "edges:") split($(i + 1), edges, "/")
            file = $NF; sub(/:[0-9]+$/, "", file)
            if (file !~ /Sources\//) next
            sub(/.*\//, "", file)
            covered[file] += edges[1]; total[file] += edges[2]
        }
        END {
            for (file in total) {
                printf "%-20s %5d of %5d edges (%3d%%)\n", file, covered[file], total[file], 100 * covered[file] / total[file] | "sort"
                all += total[file]; hit += covered[file]
            }
            close("sort")
            printf "%-20s %5d of %5d edges (%3d%%)\n", "all", hit, all, all ? 100 * hit / all : 0
        }'
    exit 0
fi

seconds=${1:-60}
[[ $seconds =~ ^[0-9]+$ ]] && ((10#$seconds > 0)) || usage
seconds=$((10#$seconds))
shift $(($# > 0 ? 1 : 0))

build_harness
prepare_seeds

echo "fuzz: fuzzing $target for $seconds s (full log: $log)"
# -max_len 4096 holds several commands at the fuzzer's limits (256-byte lines, 1 KiB payloads);
# -timeout 10 turns a parser that loops into a reported failure instead of a stuck run.
timeout --kill-after=10 $((seconds + 120)) "$binary" "$build/corpus" "$seeds_dir" \
    -dict="$build/docket.dict" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
    -artifact_prefix="$build/crashes/" -print_final_stats=1 "$@" >"$log" 2>&1
status=$?

stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
executions=$(stat number_of_executed_units)
rate=$(stat average_exec_per_sec)
final=$(grep -E '^#[0-9]+\s.* cov: ' "$log" | tail -1)
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$final")
ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$final")
edges=$(sed -n 's/.*Loaded 1 modules *(\([0-9]*\) inline 8-bit counters.*/\1/p' "$log" | head -1)
corpus=$(find "$build/corpus" -type f | wc -l)
seeds=$(find "$seeds_dir" -type f | wc -l)
crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)

if ((status == 0)) && [[ -z $crash ]]; then
    verdict="no crash"
else
    verdict="FAILED (exit $status)"
fi
echo "fuzz: $target: ${executions:-?} executions in $seconds s (${rate:-?}/s), cov: ${cov:-?} of ${edges:-?} edges, ft: ${ft:-?}, corpus $corpus inputs ($seeds seeds); $verdict"

if [[ $verdict != "no crash" ]]; then
    echo "fuzz: last lines of $log:"
    grep -v -E '^#[0-9]+\s|^\s*NEW_FUNC|^\s*$' "$log" | tail -40 | sed 's/^/    /'
    [[ -n $crash && -f $crash ]] && show_crash "$crash"
    exit 1
fi
exit 0
}
