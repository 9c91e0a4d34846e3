#!/usr/bin/env bash
# Runs every benchmark of issue 12 (and issue 6's) and writes bench/results/latest.txt
# (benchstat format), bench/results/latest.md (the tables, also printed), the figures of
# bench/README.md and the summary in README.md. `make bench` calls it after installing what
# it needs; it starts the contract server and moto as processes of its own and stops them on
# exit. Absolute times on a shared machine move between runs, so every target is a ratio of
# two figures taken in the same run: the Go benchmarks run in rounds (each round runs every
# one of them once), so a change in the machine's load falls on both sides of each ratio.
#
# Environment: BIN (tools, default .bin), RIE (aws-lambda-rie), MOTO_SERVER (moto_server),
# BENCH_COUNT (rounds of the Go benchmarks, default 5), BENCH_TIME (go test -benchtime of the
# per-event-type benchmarks, default 0.5s), BENCH_EVENTS (batches of the comparison with the
# Node SDK, default 5000), COLD_RUNS (cold starts, default 10), STAGES_INVOCATIONS
# (invocations profiled for the per-stage breakdown, default 150), PROCS_ROUNDS (rounds of
# the GOMAXPROCS comparison, default 3).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-.bin}
RIE=${RIE:-$BIN/aws-lambda-rie}
MOTO_SERVER=${MOTO_SERVER:-.venv/bin/moto_server}
COUNT=${BENCH_COUNT:-5}
EVENTS=${BENCH_EVENTS:-5000}
COLD_RUNS=${COLD_RUNS:-10}
BENCH_TIME=${BENCH_TIME:-0.5s}
STAGES_INVOCATIONS=${STAGES_INVOCATIONS:-1000}
PROCS_ROUNDS=${PROCS_ROUNDS:-3}
started=$(date +%s)
OUT=bench/results
WORK=$OUT/work # large or per-run files, gitignored
mkdir -p "$BIN" "$WORK"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { # url
  for _ in $(seq 1 200); do
    if python3 -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "bench: $1 did not come up" >&2
  return 1
}

echo "bench: building" >&2
for cmd in mpserver benchrss benchcompare benchcold benchtable benchstages benchprocs; do
  go build -o "$BIN/$cmd" "./shared/devtools/cmd/$cmd"
done
# Test binaries, built once: every round runs the same code.
go test -c -o "$WORK/event.test" ./shared/event
go test -c -o "$WORK/mparticle.test" ./shared/mparticle
go test -c -o "$WORK/benchinvoke.test" ./shared/devtools/benchinvoke
host_arch=$(go env GOARCH)
for arch in arm64 amd64; do
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -tags lambda.norpc -trimpath -ldflags='-s -w' \
    -o "$WORK/bootstrap-$arch" ./functions/forwarder
done
# The cold start's yardstick: a hello-world Go function built the same way.
CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags='-s -w' -o "$WORK/hello-$host_arch" ./shared/devtools/cmd/benchhello

mp_port=$(free_port)
MP="http://127.0.0.1:$mp_port"
"$BIN/mpserver" -addr "127.0.0.1:$mp_port" -feeds bench-key:bench-secret:bench-feed 2>"$WORK/mpserver.log" &
pids+=($!)
moto_port=$(free_port)
"$MOTO_SERVER" -H 127.0.0.1 -p "$moto_port" >"$WORK/moto.log" 2>&1 &
pids+=($!)
wait_http "$MP/_mpserver/stats"
wait_http "http://127.0.0.1:$moto_port/moto-api/data.json"

raw=$WORK/latest.txt
: >"$raw"
{
  echo "# make bench, $(date -u +%Y-%m-%dT%H:%M:%SZ), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
  echo "goos: $(go env GOOS)"
  echo "goarch: $host_arch"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
} >>"$raw"

# gotest DIR BINARY REGEXP [ARGS...]: one run of a test binary's benchmarks, in its package's
# folder as go test runs it, keeping only the benchmark lines and the config lines.
gotest() {
  local dir=$1 bin=$2 re=$3
  shift 3
  (cd "$dir" && "$bin" -test.run '^$' -test.bench "$re" -test.benchmem -test.count 1 "$@") | grep -v '^\(ok\|PASS\)' >>"$raw"
}
# The forwarder's benchmarks run with the GOMAXPROCS the template gives the Forwarder, as
# deployed (benchprocs measures both settings); an empty value leaves Go's default.
fwd_procs=$("$BIN/benchtable" -print-gomaxprocs -template template.yaml)
echo "forwarder-gomaxprocs: ${fwd_procs:-default}" >>"$raw"
# The Go runtime's settings the template gives the Forwarder (GOMAXPROCS, GOGC, GOMEMLIMIT).
fwd_runtime=$("$BIN/benchtable" -print-runtime-env -template template.yaml)
echo "forwarder-runtime-env: ${fwd_runtime:-none}" >>"$raw"
# fwdenv CMD...: runs CMD with the Forwarder's Go runtime settings.
fwdenv() {
  # A subshell, so that CMD may be one of this script's functions; NAME=value words.
  # shellcheck disable=SC2086
  (if [ -n "$fwd_runtime" ]; then export $fwd_runtime; fi; "$@")
}
for round in $(seq 1 "$COUNT"); do
  echo "bench: go test benchmarks, round $round of $COUNT" >&2
  # Decode against json.Valid with the Forwarder's GOMAXPROCS: both report the process's CPU,
  # the garbage collector's included.
  fwdenv gotest shared/event "$PWD/$WORK/event.test" '^Benchmark(Decode|Valid)$' -test.benchtime "$BENCH_TIME"
  gotest shared/mparticle "$PWD/$WORK/mparticle.test" '^BenchmarkEncodeBatch$' -test.benchtime "$BENCH_TIME"
  # The floor and the invocations it is the yardstick of, in one process.
  BENCH_MPSERVER_URL=$MP fwdenv gotest shared/devtools/benchinvoke "$PWD/$WORK/benchinvoke.test" \
    '^Benchmark(Floor|Encode|TransformEncode|Invoke)$' -test.benchtime "$BENCH_TIME"
done

echo "bench: per-stage breakdown of a warm 1,000-message invocation ($STAGES_INVOCATIONS invocations profiled)" >&2
echo "pkg: github.com/namiml/mparticle-bridge/shared/devtools/cmd/benchstages" >>"$raw"
fwdenv "$BIN/benchstages" -messages 1000 -invocations "$STAGES_INVOCATIONS" -mpserver "$MP" -profile "$WORK/stages.pprof" >>"$raw"

echo "bench: GOMAXPROCS=1 against the default at 128 MB and 1,769 MB ($PROCS_ROUNDS rounds)" >&2
echo "pkg: github.com/namiml/mparticle-bridge/shared/devtools/cmd/benchprocs" >>"$raw"
# Under the template's other runtime settings (GOGC, GOMEMLIMIT): benchprocs sets GOMAXPROCS
# itself for each of its runs.
fwdenv "$BIN/benchprocs" -test-binary "$PWD/$WORK/benchinvoke.test" -mpserver "$MP" -rounds "$PROCS_ROUNDS" >>"$raw"

echo "bench: peak RSS" >&2
echo "pkg: github.com/namiml/mparticle-bridge/shared/devtools/cmd/benchrss" >>"$raw"
fwdenv "$BIN/benchrss" -messages 1000 -mpserver "$MP" >>"$raw"

echo "bench: comparison with the mParticle Node SDK ($EVENTS events)" >&2
"$BIN/benchcompare" gen -events "$EVENTS" -out "$WORK/batches.json"
echo "pkg: github.com/namiml/mparticle-bridge/shared/devtools/cmd/benchcompare" >>"$raw"
# Alternated three times, so a change in the machine's load falls on both clients.
for rep in 1 2 3; do
  for mode in single bulk; do
    rounds=1
    [ "$mode" = bulk ] && rounds=5
    # Our client under the Go runtime settings it is deployed with (the Forwarder's).
    fwdenv "$BIN/benchcompare" run -batches "$WORK/batches.json" -mpserver "$MP" -mode "$mode" -rounds "$rounds" >>"$raw"
    node bench/node/upload.js --batches "$WORK/batches.json" --mpserver "$MP" --mode "$mode" --rounds "$rounds" >>"$raw"
  done
done

echo "bench: cold start and bootstrap size" >&2
echo "pkg: github.com/namiml/mparticle-bridge/functions/forwarder" >>"$raw"
for arch in arm64 amd64; do
  printf 'BenchmarkBootstrapSize/arch=%s \t1\t%d bytes\n' "$arch" "$(stat -c %s "$WORK/bootstrap-$arch")" >>"$raw"
done
# The emulator runs the host's architecture only; the arm64 binary is built and sized, not run.
"$BIN/benchcold" -rie "$RIE" -bootstrap "$WORK/bootstrap-$host_arch" -hello "$WORK/hello-$host_arch" \
  -forwarder-env "$fwd_runtime" -aws-endpoint "http://127.0.0.1:$moto_port" -runs "$COLD_RUNS" >>"$raw"

cp "$raw" "$OUT/latest.txt"
# The tables also go into bench/README.md (between its bench:begin and bench:end markers)
# and a summary into README.md (bench:summary:begin/end), so the docs always show the latest
# run; template.yaml is read for the GOMAXPROCS the Forwarder is given.
"$BIN/benchtable" -doc bench/README.md -summary README.md -template template.yaml "$OUT/latest.txt" | tee "$OUT/latest.md"
echo >&2
echo "bench: wrote $OUT/latest.txt (benchstat $OUT/latest.txt), $OUT/latest.md, bench/README.md and README.md" >&2
echo "bench: took $(( ($(date +%s) - started) / 60 )) min $(( ($(date +%s) - started) % 60 )) s" >&2
