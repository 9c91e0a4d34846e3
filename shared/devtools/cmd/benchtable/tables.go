package main

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/namiml/mparticle-bridge/shared/devtools/benchinvoke"
	"github.com/namiml/mparticle-bridge/shared/event"
)

// The benchmark names the tables read.
const (
	invoke     = "BenchmarkInvoke/messages="
	stagesName = "BenchmarkStages/messages=1000/stage="
	procsName  = "BenchmarkProcs/budget="
)

// stageOrder is the order benchstages charges CPU in (its stages.go).
var stageOrder = []string{"decode", "route", "transform", "encode", "send", "records", "logs", "runtime/GC", "runtime/scheduler", "other"}

// policies are the forwarder's delivery-record policies, the default first; BenchmarkInvoke
// names the others records=<policy>/messages=N.
var policies = []string{"retries", "all", "off"}

func invokeName(policy string, n int) string {
	if policy == policies[0] {
		return fmt.Sprintf("%s%d", invoke, n)
	}
	return fmt.Sprintf("BenchmarkInvoke/records=%s/messages=%d", policy, n)
}

// cpuPair returns a and b's CPU time per op when both report it, otherwise their wall
// times: a ratio compares like with like.
func (r results) cpuPair(a, b string) (float64, float64) {
	ca, cb := r.get(a, "cpu-ns/op"), r.get(b, "cpu-ns/op")
	if !math.IsNaN(ca) && !math.IsNaN(cb) {
		return ca, cb
	}
	return r.get(a, "ns/op"), r.get(b, "ns/op")
}

// floor is the floor's CPU time per event over the mix of types an n-message invocation
// sends (benchinvoke.Mix), NaN when a type is missing.
func (r results) floor(n int) float64 {
	sum := 0.0
	for t, k := range benchinvoke.Mix(n) {
		sum += float64(k) * r.get("BenchmarkFloor/"+string(t), "cpu-ns/op")
	}
	return sum / float64(n)
}

// perTypeRatio is, for each event type, a's time over b's (prefixes + type), with the worst
// type, and the most allocations a makes.
type perTypeRatio struct {
	worst, worstA, worstB float64
	worstType             string
	allocs                float64
	allocsType            string
}

func (r results) ratios(a, b string, alt ...string) perTypeRatio {
	p := perTypeRatio{worst: math.NaN(), allocs: math.NaN()}
	for _, t := range event.AllTypes {
		bn := b + string(t)
		for _, x := range alt {
			if _, ok := r.values[bn]; !ok {
				bn = x + string(t)
			}
		}
		va, vb := r.cpuPair(a+string(t), bn)
		ratio := va / vb
		if math.IsNaN(ratio) {
			return perTypeRatio{worst: math.NaN(), allocs: math.NaN()}
		}
		if math.IsNaN(p.worst) || ratio > p.worst {
			p.worst, p.worstA, p.worstB, p.worstType = ratio, va, vb, string(t)
		}
		if al := r.get(a+string(t), "allocs/op"); math.IsNaN(p.allocs) || al > p.allocs {
			p.allocs, p.allocsType = al, string(t)
		}
	}
	return p
}

func us(ns float64) string { return num(ns/1000, 2) }

// target is one row of the targets table.
type target struct {
	what, measured, result string
}

func (t target) met() bool { return t.result == "met" }

// coldNames finds the forwarder's and the hello-world function's cold-start lines. Before
// the hello-world function was measured, the forwarder's was BenchmarkColdStart/arch=<arch>.
func (r results) coldNames() (fwd, hello, arch string) {
	for name := range r.values {
		rest, ok := strings.CutPrefix(name, "BenchmarkColdStart/")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(rest, "fn=hello/"):
			hello = name
		case strings.HasPrefix(rest, "fn=forwarder/"), strings.HasPrefix(rest, "arch="):
			fwd = name
			arch = rest[strings.LastIndex(rest, "arch="):]
		}
	}
	return fwd, hello, arch
}

// procsWinner compares GOMAXPROCS=1 with the default at a memory size: "1", "default",
// or "" when they are within 5% of each other (or not measured).
func (r results) procsWinner(mb int) (winner string, one, def float64) {
	one = r.get(fmt.Sprintf("%s%dMB/gomaxprocs=1", procsName, mb), "cpu-ns/event")
	def = r.get(fmt.Sprintf("%s%dMB/gomaxprocs=default", procsName, mb), "cpu-ns/event")
	switch {
	case one < def*0.95:
		return "1", one, def
	case def < one*0.95:
		return "default", one, def
	}
	return "", one, def
}

func (r results) targets() []target {
	var ts []target
	add := func(what, measured string, ok bool, vals ...float64) {
		ts = append(ts, target{what, measured, met(ok, vals...)})
	}

	// 1. Warm invocation against the floor.
	f1000, f100 := r.floor(1000), r.floor(100)
	c1000, c100 := r.get(invoke+"1000", "fwd-cpu-ns/event"), r.get(invoke+"100", "fwd-cpu-ns/event")
	add("1. Warm invocation: CPU per event ≤ 2× the floor at 1,000 messages, ≤ 3× at 100",
		fmt.Sprintf("1,000 messages: %s× (%s µs vs floor %s µs); 100: %s× (%s µs vs %s µs)",
			num(c1000/f1000, 2), us(c1000), us(f1000), num(c100/f100, 2), us(c100), us(f100)),
		c1000 <= 2*f1000 && c100 <= 3*f100, c1000, f1000, c100, f100)

	// 2. Decode against json.Valid of the same body.
	d := r.ratios("BenchmarkDecode/", "BenchmarkValid/")
	add("2. Decode: no slower than json.Valid of the same body, ≤ 12 allocations, every type",
		fmt.Sprintf("slowest: %s× (%s: %s µs vs %s µs); most allocations: %s (%s)",
			num(d.worst, 2), d.worstType, us(d.worstA), us(d.worstB), num(d.allocs, 0), d.allocsType),
		d.worst <= 1 && d.allocs <= 12, d.worst, d.allocs)

	// 3. Transform + encode against the encoder alone.
	te := r.ratios("BenchmarkTransformEncode/", "BenchmarkEncode/", "BenchmarkEncodeBatch/")
	add("3. Transform + encode: ≤ 2.5× the encoder alone, ≤ 10 allocations per event",
		fmt.Sprintf("worst: %s× (%s: %s µs vs %s µs); most allocations: %s (%s)",
			num(te.worst, 2), te.worstType, us(te.worstA), us(te.worstB), num(te.allocs, 0), te.allocsType),
		te.worst <= 2.5 && te.allocs <= 10, te.worst, te.allocs)

	// 4. Upload against the Node SDK.
	goBulk := r.get("BenchmarkUpload/client=go/mode=bulk", "events/cpu-s")
	nodeBulk := r.get("BenchmarkUpload/client=node-sdk/mode=bulk", "events/cpu-s")
	goSingle := r.get("BenchmarkUpload/client=go/mode=single", "events/cpu-s")
	nodeSingle := r.get("BenchmarkUpload/client=node-sdk/mode=single", "events/cpu-s")
	add("4. Upload: ≥ 5× the Node SDK's events per CPU-second in bulk, ≥ 6× single",
		fmt.Sprintf("bulk: %s× (%s vs %s events per CPU-second); single: %s× (%s vs %s)", num(goBulk/nodeBulk, 1), num(goBulk, 0), num(nodeBulk, 0),
			num(goSingle/nodeSingle, 1), num(goSingle, 0), num(nodeSingle, 0)),
		goBulk >= 5*nodeBulk && goSingle >= 6*nodeSingle, goBulk, nodeBulk, goSingle, nodeSingle)

	// 5. Cold start against a hello-world function.
	fwdCold, helloCold, _ := r.coldNames()
	fc, hc := r.get(fwdCold, "cold-less-aws-ms"), r.get(helloCold, "cold-ms")
	cold := fmt.Sprintf("%s× (forwarder %s ms less %s ms of the stand-in's reads = %s ms; hello %s ms)",
		num(fc/hc, 2), num(r.get(fwdCold, "cold-ms"), 1), num(r.get(fwdCold, "aws-reads-ms"), 1), num(fc, 1), num(hc, 1))
	if helloCold == "" {
		cold = "hello-world function not measured"
	}
	add("5. Cold start: ≤ 1.5× a hello-world Go function (same build, same emulator, same run), without the stand-in's reads",
		cold, fc <= 1.5*hc, fc, hc)

	// 6. Logs.
	logB := r.get(invoke+"1000", "log-B/op") / 1000
	add("6. Logs: ≤ 40 bytes per delivered event at INFO", fmt.Sprintf("%s bytes (1,000 delivered)", num(logB, 1)), logB <= 40, logB)

	// 7. Cost.
	costs := map[string]float64{}
	for _, p := range policies {
		costs[p] = r.cost(p).total()
	}
	add("7. Cost: ≤ $0.55 per million events, default delivery records (retries)",
		fmt.Sprintf("$%s retries (default); $%s all; $%s off", num(costs["retries"], 3), num(costs["all"], 3), num(costs["off"], 3)),
		costs["retries"] <= 0.55, costs["retries"])

	// 8. Size and memory.
	sizeArm := r.get("BenchmarkBootstrapSize/arch=arm64", "bytes")
	sizeAmd := r.get("BenchmarkBootstrapSize/arch=amd64", "bytes")
	rssBoot := r.get("BenchmarkBootstrapRSS/messages=1000", "peak-RSS-B")
	rssRig := r.get("BenchmarkInvokeRSS/messages=1000", "peak-RSS-B")
	mb := func(v float64) string { return num(v/(1<<20), 1) + " MB" }
	add("8. `bootstrap` < 15 MB; RSS of a 1,000-message invocation < 64 MB",
		fmt.Sprintf("arm64 %s, amd64 %s; RSS: bootstrap under the emulator %s, benchrss %s", mb(sizeArm), mb(sizeAmd), mb(rssBoot), mb(rssRig)),
		sizeArm < 15<<20 && sizeAmd < 15<<20 && rssBoot < 64<<20 && rssRig < 64<<20, sizeArm, sizeAmd, rssBoot, rssRig)

	// 9. GOMAXPROCS.
	w128, one128, def128 := r.procsWinner(128)
	w1769, one1769, def1769 := r.procsWinner(1769)
	set := r.gomaxprocsSet
	if set == "" {
		set = "default"
	}
	want := w128
	if want == "" {
		want = set // no clear winner: either setting is right
	}
	measured := fmt.Sprintf("128 MB: GOMAXPROCS=1 %s µs vs default %s µs per event (%s); 1,769 MB: %s vs %s µs (%s); template: %s",
		us(one128), us(def128), winnerText(w128), us(one1769), us(def1769), winnerText(w1769), setText(r))
	add("9. GOMAXPROCS=1 against the default at 128 MB and 1,769 MB (CPU per event); set what wins",
		measured, r.templateRead && set == want, one128, def128)

	// Earlier targets still worth holding.
	reqs := r.get(invoke+"1000", "http-reqs/op")
	add("(issue 6) ≤ 11 HTTP requests per 1,000 events for one feed", num(reqs, 0), reqs <= 11, reqs)
	coldQ := r.get("BenchmarkInvokeRSS/messages=1000", "ddb-queries/op")
	coldS := r.get("BenchmarkInvokeRSS/messages=1000", "secret-reads/op")
	warmQ := r.get(invoke+"1000", "ddb-queries/op")
	warmS := r.get(invoke+"1000", "secret-reads/op")
	add("(issue 6) ≤ 1 DynamoDB query and 1 secret read per feed/app per TTL per container",
		fmt.Sprintf("cold container: %s query, %s read; warm invocations: %s and %s", num(coldQ, 0), num(coldS, 0), num(warmQ, 2), num(warmS, 2)),
		coldQ <= 1 && coldS <= 1 && warmQ == 0 && warmS == 0, coldQ, coldS, warmQ, warmS)
	return ts
}

func winnerText(w string) string {
	switch w {
	case "1":
		return "GOMAXPROCS=1 wins"
	case "default":
		return "the default wins"
	}
	return "within 5%: no winner"
}

func setText(r results) string {
	switch {
	case !r.templateRead:
		return "not read"
	case r.gomaxprocsSet == "":
		return "sets none (the Go default)"
	}
	return "sets GOMAXPROCS=" + r.gomaxprocsSet
}

func write(w io.Writer, r results) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	if cpu := r.config["cpu"]; cpu != "" {
		p("Machine: %s, %s/%s. Figures are medians of the runs in bench/results/latest.txt; every ratio is of two figures measured in the same run.", cpu, r.config["goos"], r.config["goarch"])
		p("")
	}
	ts := r.targets()
	p("| Target (issue 12) | Measured | Result |")
	p("| --- | --- | --- |")
	for _, t := range ts {
		p("| %s | %s | %s |", t.what, t.measured, t.result)
	}
	p("")
	p("The floor is the least work any implementation must do per event: `json.Valid` of the SQS body and encoding the event's batch with the client's encoder (`BenchmarkFloor`), averaged over the invocation's mix of the 13 types.")
	p("")

	writeStages(w, r)

	p("Per event type: decode of the SQS body against `json.Valid` of the same body (`BenchmarkDecode`, `BenchmarkValid`: shared/event, one process); transform + encode against the encoder alone on the same batch (`BenchmarkTransformEncode`, `BenchmarkEncode`: benchinvoke, one process); the floor (CPU µs, except decode and `json.Valid`: wall µs unless both report CPU):")
	p("")
	p("| Type | decode µs | allocs | json.Valid µs | ratio | transform+encode µs | allocs | encoder µs | ratio | floor µs | JSON bytes |")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, t := range event.AllTypes {
		s := string(t)
		dec, valid := r.cpuPair("BenchmarkDecode/"+s, "BenchmarkValid/"+s)
		tenc, enc := r.cpuPair("BenchmarkTransformEncode/"+s, "BenchmarkEncode/"+s)
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", t, us(dec), num(r.get("BenchmarkDecode/"+s, "allocs/op"), 0),
			us(valid), num(dec/valid, 2), us(tenc), num(r.get("BenchmarkTransformEncode/"+s, "allocs/op"), 0), us(enc), num(tenc/enc, 2),
			us(r.get("BenchmarkFloor/"+s, "cpu-ns/op")), num(r.get("BenchmarkTransformEncode/"+s, "json-B"), 0))
	}
	p("")
	if v := r.get("BenchmarkEncodeBatch/client", "cpu-ns/op"); !math.IsNaN(v) {
		p("Encoding one batch alone in shared/mparticle (`BenchmarkEncodeBatch`): the client's encoder %s µs CPU and %s allocs, encoding/json %s µs CPU and %s allocs, for the same bytes.",
			us(v), num(r.get("BenchmarkEncodeBatch/client", "allocs/op"), 0),
			us(r.get("BenchmarkEncodeBatch/encoding_json", "cpu-ns/op")), num(r.get("BenchmarkEncodeBatch/encoding_json", "allocs/op"), 0))
		p("")
	}

	procs := ""
	if g := r.config["forwarder-gomaxprocs"]; g != "" {
		procs = ", GOMAXPROCS " + g + " as the template gives the Forwarder"
	}
	p("One warm invocation, one feed, contract server in another process (delivery records: the default policy, retries, unless named%s):", procs)
	p("")
	p("| Messages | records | wall ms | CPU ms | CPU µs/event | HTTP requests | bytes sent | record reads | record writes | log bytes | log bytes/event |")
	p("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, row := range []struct {
		policy string
		n      int
	}{{"retries", 10}, {"retries", 100}, {"retries", 1000}, {"all", 100}, {"all", 1000}, {"off", 100}, {"off", 1000}} {
		name := invokeName(row.policy, row.n)
		if _, ok := r.values[name]; !ok {
			continue
		}
		p("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", row.n, row.policy, num(r.get(name, "ns/op")/1e6, 2), num(r.get(name, "fwd-cpu-ns/op")/1e6, 2),
			num(r.get(name, "fwd-cpu-ns/event")/1000, 1), num(r.get(name, "http-reqs/op"), 0), num(r.get(name, "sent-B/op"), 0),
			num(r.get(name, "idem-reads/op"), 0), num(r.get(name, "idem-writes/op"), 0), num(r.get(name, "log-B/op"), 0),
			num(r.get(name, "log-B/op")/float64(row.n), 1))
	}
	p("")

	writeProcs(w, r)

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
	fwd, hello, arch := r.coldNames()
	p("Cold start (%s, the emulator's host architecture; arm64 is built and sized only): the forwarder's median %s ms (p90 %s ms) from the invoke request to its answer, the emulator starting the bootstrap on that request. Of it, init (process start to the runtime's first request for work) took %s ms and the first invocation %s ms, of which the stand-in's DynamoDB query and secret read take about %s ms; a warm invocation of one message takes %s ms. A hello-world Go function built the same way, started the same way in the same run: %s ms (init %s ms).",
		arch, num(r.get(fwd, "cold-ms"), 1), num(r.get(fwd, "cold-p90-ms"), 1),
		num(r.get(fwd, "init-ms"), 1), num(r.get(fwd, "first-invoke-ms"), 1),
		num(r.get(fwd, "aws-reads-ms"), 1), num(r.get(fwd, "warm-ms"), 1),
		num(r.get(hello, "cold-ms"), 1), num(r.get(hello, "init-ms"), 1))
}

// writeStages prints the per-stage breakdown of benchstages.
func writeStages(w io.Writer, r results) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	total := stagesName + "total"
	if _, ok := r.values[total]; !ok {
		return
	}
	p("Where a warm 1,000-message invocation spends its CPU (`benchstages`: the CPU profile of %s invocations, each sample charged to the first frame from the leaf up that belongs to a stage):", num(r.count(total), 0))
	p("")
	p("| Stage | CPU µs per event | share | bytes allocated per event |")
	p("| --- | ---: | ---: | ---: |")
	for _, s := range stageOrder {
		p("| %s | %s | %s%% | %s |", s, us(r.get(stagesName+s, "cpu-ns/event")), num(r.get(stagesName+s, "pct-cpu"), 1),
			num(r.get(stagesName+s, "alloc-B/event"), 0))
	}
	p("| **total (profile)** | **%s** | | **%s** |", us(r.get(total, "cpu-ns/event")), num(r.get(total, "alloc-B/event"), 0))
	p("| total (getrusage, same invocations) | %s | | |", us(r.get(total, "rusage-cpu-ns/event")))
	p("")
	p("The bytes are from the allocs profile of the same invocations, charged to the code that asked for the memory: what the runtime/GC stage collects.")
	p("")
}

// count is the iteration count of a benchmark's first line.
func (r results) count(name string) float64 {
	if vs := r.values[name][iterations]; len(vs) > 0 {
		return vs[0]
	}
	return math.NaN()
}

// writeProcs prints the GOMAXPROCS comparison of benchprocs.
func writeProcs(w io.Writer, r results) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	if r.config["procs-method"] == "" {
		return
	}
	p("GOMAXPROCS=1 against the Go default, one warm 1,000-message invocation per run, under the CPU Lambda gives a function of that memory (%s):", r.config["procs-method"])
	p("")
	p("| Memory | GOMAXPROCS | ran with | CPU µs/event | wall ms per invocation | runs |")
	p("| ---: | --- | ---: | ---: | ---: | ---: |")
	for _, mb := range []int{128, 1769} {
		for _, g := range []string{"default", "1"} {
			name := fmt.Sprintf("%s%dMB/gomaxprocs=%s", procsName, mb, g)
			if _, ok := r.values[name]; !ok {
				continue
			}
			p("| %d MB | %s | %s | %s | %s | %d |", mb, g, num(r.get(name, "gomaxprocs"), 0), us(r.get(name, "cpu-ns/event")),
				num(r.get(name, "ns/op")/1e6, 1), len(r.values[name]["cpu-ns/event"]))
		}
	}
	w128, _, _ := r.procsWinner(128)
	p("")
	p("At 128 MB, the template's memory size: %s. The template %s.", winnerText(w128), setText(r))
	p("")
}

// writeSummary is the short account README.md carries.
func writeSummary(w io.Writer, r results) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	ts := r.targets()
	var metN, total int
	var missed []string
	for _, t := range ts {
		if strings.HasPrefix(t.what, "(") {
			continue // earlier issues' targets
		}
		total++
		if t.met() {
			metN++
		} else {
			n, _, _ := strings.Cut(t.what, ".")
			missed = append(missed, n)
		}
	}
	line := fmt.Sprintf("Issue 12's targets (`make bench`, ratios measured side by side in one run): **%d of %d met**", metN, total)
	if len(missed) > 0 {
		line += " (not met: " + strings.Join(missed, ", ") + ")"
	}
	p("%s.", line)
	c1000, f1000 := r.get(invoke+"1000", "fwd-cpu-ns/event"), r.floor(1000)
	p("A warm 1,000-message invocation takes %s µs of CPU per event, %s× the floor (`json.Valid` of the body plus encoding its batch: %s µs).",
		us(c1000), num(c1000/f1000, 2), us(f1000))
	p("Cost per million events (one feed, us-east-1 list prices, template settings): **$%s** with the default delivery records (`retries`), $%s with `all`, $%s with `off`; the target is $0.55.",
		num(r.cost("retries").total(), 3), num(r.cost("all").total(), 3), num(r.cost("off").total(), 3))
	p("Every figure, the per-stage breakdown and the cost formulas: [bench/README.md](bench/README.md).")
}
