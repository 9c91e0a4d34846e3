package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"regexp"
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

func TestSplice(t *testing.T) {
	const table = "| a | b |\n| --- | --- |\n"
	tests := []struct {
		name, doc, stamp, want, err string
	}{
		{
			name:  "replaces the old figures, keeps the rest",
			doc:   "# Perf\n\nintro\n\n<!-- bench:begin -->\nold figures\n<!-- bench:end -->\n\n## After\n",
			stamp: "make bench, 2026-01-01T00:00:00Z",
			want:  "# Perf\n\nintro\n\n<!-- bench:begin -->\n\n_make bench, 2026-01-01T00:00:00Z_\n\n| a | b |\n| --- | --- |\n\n<!-- bench:end -->\n\n## After\n",
		},
		{
			name: "empty section, no stamp",
			doc:  "<!-- bench:begin -->\n<!-- bench:end -->\n",
			want: "<!-- bench:begin -->\n\n| a | b |\n| --- | --- |\n\n<!-- bench:end -->\n",
		},
		{name: "no markers", doc: "# Perf\n", err: "no <!-- bench:begin -->"},
		{name: "no end", doc: "<!-- bench:begin -->\n", err: "no <!-- bench:begin -->"},
		{name: "two begins", doc: "<!-- bench:begin -->\n<!-- bench:begin -->\n<!-- bench:end -->\n", err: "more than one <!-- bench:begin -->"},
		{name: "end first", doc: "<!-- bench:end -->\n<!-- bench:begin -->\n", err: "comes before"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := splice([]byte(tc.doc), tc.stamp, []byte(table))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tc.want)
			}
			// A second run with the same figures changes nothing.
			again, err := splice(got, tc.stamp, []byte(table))
			if err != nil || !bytes.Equal(again, got) {
				t.Fatalf("second splice differs (%v):\n%s", err, again)
			}
		})
	}
}

func TestRunWritesDocAndStdout(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "README.md")
	in := filepath.Join(dir, "latest.txt")
	if err := os.WriteFile(doc, []byte("# Perf\n<!-- bench:begin -->\n<!-- bench:end -->\ntail\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, []byte("# make bench, 2026-01-01T00:00:00Z, 2 cores\n"+sample), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{"-doc", doc, in}, strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"_make bench, 2026-01-01T00:00:00Z, 2 cores_\n", out.String(), "<!-- bench:end -->\ntail\n"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("doc lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(out.String(), "make bench, 2026") {
		t.Errorf("stdout (bench/results/latest.md) carries the stamp:\n%s", out.String())
	}
}

// TestMakeBenchWritesThePerformanceDoc holds bench/run.sh and bench/README.md together:
// `make bench` names the doc, and the doc has the one section the tables go into.
func TestMakeBenchWritesThePerformanceDoc(t *testing.T) {
	root := filepath.Join("..", "..", "..", "..")
	script, err := os.ReadFile(filepath.Join(root, "bench", "run.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`benchtable" -doc (\S+)`).FindSubmatch(script)
	if m == nil {
		t.Fatal("bench/run.sh does not run benchtable -doc <file>")
	}
	docPath := string(m[1])
	if docPath != "bench/README.md" {
		t.Errorf("bench/run.sh writes the tables into %s, want bench/README.md (the performance doc)", docPath)
	}
	doc, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(docPath)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := splice(doc, "stamp", []byte("table\n")); err != nil {
		t.Errorf("%s: %v", docPath, err)
	}
}
