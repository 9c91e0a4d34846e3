// Command benchtable turns the benchmark text `make bench` saves (benchstat format: go test
// -bench output plus the lines of benchrss, benchcompare, bench/node/upload.js and
// benchcold) into markdown tables with issue 6's targets, printed on stdout. With -doc it also
// puts them into that file between its bench:begin and bench:end markers, so the performance
// doc (bench/README.md) always shows the latest run. Repeated runs of a benchmark (-count) are
// summarised by their median.
//
//	benchtable [-doc bench/README.md] bench/results/latest.txt
//	benchtable < bench/results/latest.txt
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/namiml/mparticle-bridge/shared/event"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("benchtable", flag.ContinueOnError)
	doc := fs.String("doc", "", "markdown file whose part between "+beginMarker+" and "+endMarker+" is replaced by the tables")
	if err := fs.Parse(args); err != nil {
		return err
	}
	in := stdin
	if fs.NArg() > 0 {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	res, err := parse(in)
	if err != nil {
		return err
	}
	var table bytes.Buffer
	write(&table, res)
	if *doc != "" {
		if err := updateDoc(*doc, res.stamp, table.Bytes()); err != nil {
			return err
		}
	}
	_, err = stdout.Write(table.Bytes())
	return err
}

const (
	beginMarker = "<!-- bench:begin -->"
	endMarker   = "<!-- bench:end -->"
)

// updateDoc rewrites path with the tables between its markers. The new text goes to a
// temporary file renamed over path, so an interrupted run never leaves a half-written doc.
func updateDoc(path, stamp string, table []byte) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := splice(old, stamp, table)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".benchtable-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if fi, err := os.Stat(path); err == nil {
		if err := os.Chmod(tmp.Name(), fi.Mode().Perm()); err != nil {
			return err
		}
	}
	return os.Rename(tmp.Name(), path)
}

// splice replaces what lies between the doc's one begin and one end marker (each on a line
// of its own) with the run's stamp and tables; everything else is kept byte for byte.
func splice(doc []byte, stamp string, table []byte) ([]byte, error) {
	lines := strings.SplitAfter(string(doc), "\n")
	begin, end := -1, -1
	for i, l := range lines {
		switch strings.TrimSpace(l) {
		case beginMarker:
			if begin >= 0 {
				return nil, errors.New("more than one " + beginMarker)
			}
			begin = i
		case endMarker:
			if end >= 0 {
				return nil, errors.New("more than one " + endMarker)
			}
			end = i
		}
	}
	if begin < 0 || end < 0 {
		return nil, fmt.Errorf("no %s ... %s section to write the tables into", beginMarker, endMarker)
	}
	if end < begin {
		return nil, errors.New(endMarker + " comes before " + beginMarker)
	}
	var b strings.Builder
	for _, l := range lines[:begin+1] {
		b.WriteString(l)
	}
	b.WriteString("\n")
	if stamp != "" {
		b.WriteString("_" + stamp + "_\n\n")
	}
	b.Write(table)
	if len(table) > 0 && table[len(table)-1] != '\n' {
		b.WriteString("\n")
	}
	b.WriteString("\n")
	for _, l := range lines[end:] {
		b.WriteString(l)
	}
	return []byte(b.String()), nil
}

// results maps a benchmark name (GOMAXPROCS suffix removed) to its values per unit.
type results struct {
	values map[string]map[string][]float64
	config map[string]string
	// stamp is the run's first comment line (when and under what load it ran), without "# ".
	stamp string
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

func parse(r io.Reader) (results, error) {
	res := results{values: map[string]map[string][]float64{}, config: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if c, ok := strings.CutPrefix(line, "# "); ok {
			if res.stamp == "" {
				res.stamp = strings.TrimSpace(c)
			}
			continue
		}
		if k, v, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(line, "Benchmark") && !strings.Contains(k, " ") {
			res.config[k] = strings.TrimSpace(v)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := procsSuffix.ReplaceAllString(f[0], "")
		m := res.values[name]
		if m == nil {
			m = map[string][]float64{}
			res.values[name] = m
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return res, fmt.Errorf("%s: value %q: %w", name, f[i], err)
			}
			m[f[i+1]] = append(m[f[i+1]], v)
		}
	}
	return res, sc.Err()
}

// get is the median of a benchmark's values in unit, NaN when absent.
func (r results) get(name, unit string) float64 {
	vs := r.values[name][unit]
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// worst is the largest median of unit over the benchmarks named prefix+type.
func (r results) worst(prefix, unit string) (float64, string) {
	best, which := math.NaN(), ""
	for _, t := range event.AllTypes {
		v := r.get(prefix+string(t), unit)
		if !math.IsNaN(v) && (math.IsNaN(best) || v > best) {
			best, which = v, string(t)
		}
	}
	return best, which
}

func num(v float64, digits int) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', digits, 64)
}

func met(ok bool, v ...float64) string {
	for _, x := range v {
		if math.IsNaN(x) {
			return "not measured"
		}
	}
	if ok {
		return "met"
	}
	return "**missed**"
}

func write(w io.Writer, r results) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	if cpu := r.config["cpu"]; cpu != "" {
		p("Machine: %s, %s/%s. Figures are medians of the runs in bench/results/latest.txt.", cpu, r.config["goos"], r.config["goarch"])
		p("")
	}

	teCPU, teType := r.worst("BenchmarkTransformEncode/", "cpu-ns/op")
	teWall, _ := r.worst("BenchmarkTransformEncode/", "ns/op")
	teAllocs, _ := r.worst("BenchmarkTransformEncode/", "allocs/op")
	reqs := r.get("BenchmarkInvoke/messages=1000", "http-reqs/op")
	coldQ := r.get("BenchmarkInvokeRSS/messages=1000", "ddb-queries/op")
	coldS := r.get("BenchmarkInvokeRSS/messages=1000", "secret-reads/op")
	warmQ := r.get("BenchmarkInvoke/messages=1000", "ddb-queries/op")
	warmS := r.get("BenchmarkInvoke/messages=1000", "secret-reads/op")
	goBulk := r.get("BenchmarkUpload/client=go/mode=bulk", "events/cpu-s")
	nodeBulk := r.get("BenchmarkUpload/client=node-sdk/mode=bulk", "events/cpu-s")
	goSingle := r.get("BenchmarkUpload/client=go/mode=single", "events/cpu-s")
	nodeSingle := r.get("BenchmarkUpload/client=node-sdk/mode=single", "events/cpu-s")
	var coldName string
	for name := range r.values {
		if strings.HasPrefix(name, "BenchmarkColdStart/") {
			coldName = name
		}
	}
	cold := r.get(coldName, "cold-ms")
	coldLessAWS := r.get(coldName, "cold-less-aws-ms")
	sizeArm := r.get("BenchmarkBootstrapSize/arch=arm64", "bytes")
	sizeAmd := r.get("BenchmarkBootstrapSize/arch=amd64", "bytes")
	rssBoot := r.get("BenchmarkBootstrapRSS/messages=1000", "peak-RSS-B")
	rssRig := r.get("BenchmarkInvokeRSS/messages=1000", "peak-RSS-B")
	mb := func(v float64) string { return num(v/(1<<20), 1) + " MB" }

	p("| Target (issue 6) | Measured | Result |")
	p("| --- | --- | --- |")
	p("| Transform + encode < 5 µs and < 20 allocs per event | slowest type (%s): %s µs CPU (%s µs wall), at most %s allocs | %s |",
		teType, num(teCPU/1000, 2), num(teWall/1000, 2), num(teAllocs, 0), met(teCPU < 5000 && teAllocs < 20, teCPU, teAllocs))
	p("| ≤ 11 HTTP requests per 1,000 events for one feed | %s | %s |", num(reqs, 0), met(reqs <= 11, reqs))
	p("| ≤ 1 DynamoDB query and 1 secret read per feed/app per TTL per container | cold container: %s query, %s read; warm invocations: %s and %s | %s |",
		num(coldQ, 0), num(coldS, 0), num(warmQ, 2), num(warmS, 2), met(coldQ <= 1 && coldS <= 1 && warmQ == 0 && warmS == 0, coldQ, coldS, warmQ, warmS))
	p("| ≥ 5× the Node SDK's events per CPU-second | bulk: %s×, single: %s× | %s |",
		num(goBulk/nodeBulk, 1), num(goSingle/nodeSingle, 1), met(goBulk/nodeBulk >= 5 && goSingle/nodeSingle >= 5, goBulk, nodeBulk, goSingle, nodeSingle))
	p("| Cold start < 50 ms to first event handled (emulator, host arch) | %s ms; %s ms without the AWS stand-in's reads | %s |",
		num(cold, 1), num(coldLessAWS, 1), met(cold < 50, cold))
	p("| `bootstrap` < 15 MB (stripped) | arm64 %s, amd64 %s | %s |", mb(sizeArm), mb(sizeAmd), met(sizeArm < 15e6 && sizeAmd < 15e6, sizeArm, sizeAmd))
	p("| 1,000-message invocation < 64 MB RSS | bootstrap under the emulator: %s; benchrss process: %s | %s |",
		mb(rssBoot), mb(rssRig), met(rssBoot < 64<<20 && rssRig < 64<<20, rssBoot, rssRig))
	p("")

	p("Per event type (decode of the SQS body; transform + encode as the client does it):")
	p("")
	p("| Type | decode µs | decode allocs | transform+encode µs CPU | µs wall | allocs | JSON bytes |")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, t := range event.AllTypes {
		d, te := "BenchmarkDecode/"+string(t), "BenchmarkTransformEncode/"+string(t)
		p("| %s | %s | %s | %s | %s | %s | %s |", t, num(r.get(d, "ns/op")/1000, 2), num(r.get(d, "allocs/op"), 0),
			num(r.get(te, "cpu-ns/op")/1000, 2), num(r.get(te, "ns/op")/1000, 2), num(r.get(te, "allocs/op"), 0), num(r.get(te, "json-B"), 0))
	}
	p("")

	p("Encoding one batch alone (BenchmarkEncodeBatch): the client's encoder %s µs CPU and %s allocs, encoding/json %s µs CPU and %s allocs, for the same bytes.",
		num(r.get("BenchmarkEncodeBatch/client", "cpu-ns/op")/1000, 2), num(r.get("BenchmarkEncodeBatch/client", "allocs/op"), 0),
		num(r.get("BenchmarkEncodeBatch/encoding_json", "cpu-ns/op")/1000, 2), num(r.get("BenchmarkEncodeBatch/encoding_json", "allocs/op"), 0))
	p("")

	p("One warm invocation, one feed, contract server in another process:")
	p("")
	p("| Messages | wall ms | CPU ms | CPU µs/event | HTTP requests | bytes sent | idempotency requests | log bytes |")
	p("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, n := range []int{10, 100, 1000} {
		name := fmt.Sprintf("BenchmarkInvoke/messages=%d", n)
		p("| %d | %s | %s | %s | %s | %s | %s | %s |", n, num(r.get(name, "ns/op")/1e6, 2), num(r.get(name, "fwd-cpu-ns/op")/1e6, 2),
			num(r.get(name, "fwd-cpu-ns/event")/1000, 1), num(r.get(name, "http-reqs/op"), 0), num(r.get(name, "sent-B/op"), 0),
			num(r.get(name, "idem-reqs/op"), 0), num(r.get(name, "log-B/op"), 0))
	}
	p("")

	p("The same batches uploaded to the same contract server, one request after another:")
	p("")
	p("| Client | Mode | events per CPU-second | CPU µs/event | requests per 1,000 events |")
	p("| --- | --- | ---: | ---: | ---: |")
	for _, c := range []struct{ client, label string }{{"go", "this project (shared/mparticle)"}, {"node-sdk", "mParticle Node SDK"}} {
		for _, mode := range []string{"single", "bulk"} {
			name := "BenchmarkUpload/client=" + c.client + "/mode=" + mode
			p("| %s | %s | %s | %s | %s |", c.label, mode, num(r.get(name, "events/cpu-s"), 0),
				num(r.get(name, "cpu-ns/event")/1000, 1), num(r.get(name, "reqs/1000-events"), 0))
		}
	}
	p("")
	writeCost(w, r)
	p("")
	p("Cold start (%s, the emulator's host architecture; arm64 is built and sized only): median %s ms (p90 %s ms) from the invoke request to its answer, the emulator starting the bootstrap on that request. Of it, init (process start to the runtime's first request for work) took %s ms and the first invocation %s ms, of which the stand-in's DynamoDB query and secret read take about %s ms; a warm invocation of one message takes %s ms.",
		strings.TrimPrefix(coldName, "BenchmarkColdStart/"), num(cold, 1), num(r.get(coldName, "cold-p90-ms"), 1),
		num(r.get(coldName, "init-ms"), 1), num(r.get(coldName, "first-invoke-ms"), 1),
		num(r.get(coldName, "aws-reads-ms"), 1), num(r.get(coldName, "warm-ms"), 1))
}

// AWS list prices (us-east-1) and the template's settings the cost is computed with.
const (
	lambdaGBSecond   = 0.0000133334 // arm64, per GB-second
	lambdaPerRequest = 0.20 / 1e6
	sqsPerRequest    = 0.40 / 1e6 // per 64 KB chunk
	ddbPerRRU        = 0.125 / 1e6
	ddbPerWRU        = 0.625 / 1e6
	secretsPerCall   = 0.05 / 10000
	logsPerGB        = 0.50 // CloudWatch Logs ingestion

	memoryMB     = 128.0  // template MemorySize
	batchSize    = 100.0  // template BatchSize
	mbPerVCPU    = 1769.0 // Lambda gives one vCPU's worth of CPU at 1,769 MB, pro rata below
	netWaitSec   = 0.200  // assumed per invocation: one mParticle bulk request, two idempotency calls
	events       = 1e6
	sqsPerEvent  = 1 + 2/10.0 // SendMessage, then ReceiveMessage and DeleteMessageBatch of 10
	secondsMonth = 30 * 24 * 3600.0
)

// writeCost prints the cost per million events from the measured CPU time of a
// 100-message invocation and log bytes per event.
func writeCost(w io.Writer, r results) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	cpu100 := r.get("BenchmarkInvoke/messages=100", "fwd-cpu-ns/op") / 1e9
	logPerEvent := r.get("BenchmarkInvoke/messages=1000", "log-B/op") / 1000
	if math.IsNaN(cpu100) {
		return
	}
	inv := events / batchSize
	dur := math.Ceil((cpu100*mbPerVCPU/memoryMB+netWaitSec)*1000) / 1000 // billed per ms
	gbs := inv * dur * memoryMB / 1024
	lambda := gbs*lambdaGBSecond + inv*lambdaPerRequest
	sqs := events * sqsPerEvent * sqsPerRequest
	ddb := events*0.5*ddbPerRRU + events*1*ddbPerWRU
	logs := events * logPerEvent / (1 << 30) * logsPerGB
	// Per warm container and feed, per month: one integrations query (1 RRU, strongly
	// consistent, items under 4 KB) every 30 s and one secret read every 5 minutes.
	perContainerFeedMonth := secondsMonth/30*ddbPerRRU + secondsMonth/300*secretsPerCall

	p("Cost per million events, one feed, AWS list prices (us-east-1), template settings (arm64, %.0f MB, batch size %.0f):", memoryMB, batchSize)
	p("")
	p("| Item | Formula | USD per million events |")
	p("| --- | --- | ---: |")
	p("| Lambda duration | 10,000 invocations × (%.2f ms CPU × 1769/128 + %.0f ms network wait) = %.0f ms each × 0.125 GB × $0.0000133334 | %s |",
		cpu100*1000, netWaitSec*1000, dur*1000, num(gbs*lambdaGBSecond, 4))
	p("| Lambda requests | 10,000 × $0.20 / 1M | %s |", num(inv*lambdaPerRequest, 4))
	p("| SQS | 1M × (1 send + 0.1 receive + 0.1 delete) × $0.40 / 1M | %s |", num(sqs, 4))
	p("| DynamoDB idempotency | 1M × (0.5 RRU × $0.125 + 1 WRU × $0.625) / 1M | %s |", num(ddb, 4))
	p("| DynamoDB integrations + Secrets Manager | per warm container and feed: %s per month, whatever the volume (1 query / 30 s, 1 read / 5 min) | ≈ 0 |", "$"+num(perContainerFeedMonth, 3))
	p("| **Total** | | **%s** |", num(lambda+sqs+ddb, 3))
	p("| CloudWatch Logs (INFO level) | %.0f bytes per event × $0.50 / GB | %s |", logPerEvent, num(logs, 4))
}
