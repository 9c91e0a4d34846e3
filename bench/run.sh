#!/usr/bin/env bash
# Runs every benchmark of issue 6 and writes bench/results/latest.txt (benchstat format),
# bench/results/latest.md (the tables, also printed) and the figures of bench/README.md.
# `make bench` calls it after installing what it needs; it starts the contract server and
# moto as processes of its own and stops them on exit.
#
# Environment: BIN (tools, default .bin), RIE (aws-lambda-rie), MOTO_SERVER (moto_server),
# BENCH_COUNT (go test -count, default 5), BENCH_EVENTS (batches of the comparison, default
# 5000), COLD_RUNS (cold starts, default 10).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-.bin}
RIE=${RIE:-$BIN/aws-lambda-rie}
MOTO_SERVER=${MOTO_SERVER:-.venv/bin/moto_server}
COUNT=${BENCH_COUNT:-5}
EVENTS=${BENCH_EVENTS:-5000}
COLD_RUNS=${COLD_RUNS:-10}
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
for cmd in mpserver benchrss benchcompare benchcold benchtable; do
  go build -o "$BIN/$cmd" "./shared/devtools/cmd/$cmd"
done
host_arch=$(go env GOARCH)
for arch in arm64 amd64; do
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -tags lambda.norpc -trimpath -ldflags='-s -w' \
    -o "$WORK/bootstrap-$arch" ./functions/forwarder
done

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

echo "bench: go test benchmarks (count $COUNT)" >&2
go test -run '^$' -bench '^BenchmarkDecode$' -benchmem -count "$COUNT" ./shared/event | grep -v '^\(ok\|PASS\)' >>"$raw"
go test -run '^$' -bench '^BenchmarkEncodeBatch$' -benchmem -count "$COUNT" ./shared/mparticle | grep -v '^\(ok\|PASS\)' >>"$raw"
BENCH_MPSERVER_URL=$MP go test -run '^$' -bench '^Benchmark(TransformEncode|Invoke)$' -benchmem -count "$COUNT" \
  ./shared/devtools/benchinvoke | grep -v '^\(ok\|PASS\)' >>"$raw"

echo "bench: peak RSS" >&2
echo "pkg: github.com/namiml/mparticle-bridge/shared/devtools/cmd/benchrss" >>"$raw"
"$BIN/benchrss" -messages 1000 -mpserver "$MP" >>"$raw"

echo "bench: comparison with the mParticle Node SDK ($EVENTS events)" >&2
"$BIN/benchcompare" gen -events "$EVENTS" -out "$WORK/batches.json"
echo "pkg: github.com/namiml/mparticle-bridge/shared/devtools/cmd/benchcompare" >>"$raw"
# Alternated three times, so a change in the machine's load falls on both clients.
for rep in 1 2 3; do
  for mode in single bulk; do
    rounds=1
    [ "$mode" = bulk ] && rounds=5
    "$BIN/benchcompare" run -batches "$WORK/batches.json" -mpserver "$MP" -mode "$mode" -rounds "$rounds" >>"$raw"
    node bench/node/upload.js --batches "$WORK/batches.json" --mpserver "$MP" --mode "$mode" --rounds "$rounds" >>"$raw"
  done
done

echo "bench: cold start and bootstrap size" >&2
echo "pkg: github.com/namiml/mparticle-bridge/functions/forwarder" >>"$raw"
for arch in arm64 amd64; do
  printf 'BenchmarkBootstrapSize/arch=%s \t1\t%d bytes\n' "$arch" "$(stat -c %s "$WORK/bootstrap-$arch")" >>"$raw"
done
# The emulator runs the host's architecture only; the arm64 binary is built and sized, not run.
"$BIN/benchcold" -rie "$RIE" -bootstrap "$WORK/bootstrap-$host_arch" \
  -aws-endpoint "http://127.0.0.1:$moto_port" -runs "$COLD_RUNS" >>"$raw"

cp "$raw" "$OUT/latest.txt"
# The tables also go into bench/README.md (between its bench:begin and bench:end markers),
# so the performance doc always shows the latest run.
"$BIN/benchtable" -doc bench/README.md "$OUT/latest.txt" | tee "$OUT/latest.md"
echo >&2
echo "bench: wrote $OUT/latest.txt (benchstat $OUT/latest.txt), $OUT/latest.md and bench/README.md" >&2
