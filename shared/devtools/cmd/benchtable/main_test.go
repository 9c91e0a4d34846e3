package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
cpu: Test CPU
BenchmarkTransformEncode/device.impression-2   1000  9000 ns/op  4000 cpu-ns/op  1123 json-B  1432 B/op  12 allocs/op
BenchmarkTransformEncode/device.impression-2   1000  7000 ns/op  6000 cpu-ns/op  1123 json-B  1432 B/op  12 allocs/op
BenchmarkTransformEncode/device.impression-2   1000  8000 ns/op  5000 cpu-ns/op  1123 json-B  1432 B/op  12 allocs/op
BenchmarkTransformEncode/device.transaction-2  1000  3000 ns/op  3000 cpu-ns/op  1269 json-B  1568 B/op  21 allocs/op
BenchmarkInvoke/messages=1000-2  5  1 ns/op  12 http-reqs/op  0 ddb-queries/op  0 secret-reads/op
BenchmarkUpload/client=go/mode=bulk 	5000	1 ns/op	1 cpu-ns/event	60000 events/cpu-s	10.00 reqs/1000-events
BenchmarkUpload/client=node-sdk/mode=bulk 	5000	1 ns/op	1 cpu-ns/event	10000 events/cpu-s	10.00 reqs/1000-events
`

func TestParseTakesMediansAndDropsProcs(t *testing.T) {
	r, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.get("BenchmarkTransformEncode/device.impression", "cpu-ns/op"); got != 5000 {
		t.Errorf("median cpu-ns/op = %v, want 5000", got)
	}
	if got := r.get("BenchmarkTransformEncode/device.impression", "no-such-unit"); !math.IsNaN(got) {
		t.Errorf("missing unit = %v, want NaN", got)
	}
	if v, which := r.worst("BenchmarkTransformEncode/", "allocs/op"); v != 21 || which != "device.transaction" {
		t.Errorf("worst allocs = %v (%s), want 21 (device.transaction)", v, which)
	}
	if r.config["cpu"] != "Test CPU" {
		t.Errorf("cpu config = %q", r.config["cpu"])
	}
}

func TestWriteJudgesTargets(t *testing.T) {
	r, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	write(&out, r)
	for _, want := range []string{
		"| Transform + encode < 5 µs and < 20 allocs per event | slowest type (device.impression): 5.00 µs CPU",
		"at most 21 allocs | **missed** |",
		"| ≤ 11 HTTP requests per 1,000 events for one feed | 12 | **missed** |",
		"bulk: 6.0×, single: n/a× | not measured |",
		"| `bootstrap` < 15 MB (stripped) | arm64 n/a MB, amd64 n/a MB | not measured |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
