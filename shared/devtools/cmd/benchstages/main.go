// Command benchstages breaks the CPU time of warm forwarder invocations down by stage
// (decode, route, transform, encode, send, records, logs, runtime/GC, runtime/scheduler,
// other), so the next
// bottleneck is visible. It runs N warm invocations of the same messages through
// benchinvoke's rig under the CPU profiler, then charges each sample to the first frame
// from the leaf up that belongs to a stage (stages.go). Only the handler's work counts: the
// samples Rig.Invoke labels, and the runtime's unlabelled own (collector, scheduler); the
// rig's requests around each invocation (the contract server's counters and reset) do not.
//
//	benchstages -messages 1000 -invocations 60 -mpserver http://127.0.0.1:9999 [-profile cpu.pprof]
//
// It prints one benchmark line per stage (CPU µs per event, share of the profiled CPU, and
// bytes allocated per event, from the allocs profile: who makes the garbage the runtime/GC
// stage collects) and a total with the rusage CPU time of the same invocations, to check
// the profile against.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/namiml/mparticle-bridge/shared/devtools/benchinvoke"
	"github.com/namiml/mparticle-bridge/shared/forwarder"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchstages:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		n       = flag.Int("messages", 1000, "messages per invocation")
		invs    = flag.Int("invocations", 250, "warm invocations profiled (the profiler samples every 10 ms of CPU)")
		mpURL   = flag.String("mpserver", "", "base URL of a contract server with the bench feed (default: in-process)")
		records = flag.String("records", "", "delivery-record policy (default: the forwarder's)")
		out     = flag.String("profile", "", "also write the CPU profile here")
	)
	flag.Parse()
	policy, err := forwarder.ParseRecordPolicy(*records)
	if err != nil {
		return err
	}
	ctx := context.Background()
	rig, err := benchinvoke.New(benchinvoke.Options{BaseURL: *mpURL, Records: policy})
	if err != nil {
		return err
	}
	defer rig.Close()
	ev, err := rig.Messages(*n)
	if err != nil {
		return err
	}
	// Warm: caches filled, connection open, as in BenchmarkInvoke.
	if m, err := rig.Invoke(ctx, ev); err != nil || m.Accepted != int64(*n) {
		return fmt.Errorf("warm-up invocation: accepted %d of %d, err %v", m.Accepted, *n, err)
	}

	// invoke runs the profiled invocations, adding the forwarder's CPU time (getrusage).
	invoke := func(count int) (int64, error) {
		var rusage int64
		for range count {
			if err := rig.ResetServer(ctx); err != nil {
				return 0, err
			}
			rig.ForgetDeliveries()
			m, err := rig.Invoke(ctx, ev)
			if err == nil && (m.Accepted != int64(*n) || m.Failures != 0) {
				err = fmt.Errorf("accepted %d of %d batches, %d failures", m.Accepted, *n, m.Failures)
			}
			if err != nil {
				return 0, err
			}
			rusage += int64(m.ClientCPU())
		}
		return rusage, nil
	}

	// Two passes. The CPU profile first, with the memory profiler off: sampling allocations
	// finely costs a stack walk per sample, which would show up as CPU of the runtime.
	runtime.MemProfileRate = 0
	var cpuBuf, alloc0, alloc1 bytes.Buffer
	if err := pprof.StartCPUProfile(&cpuBuf); err != nil {
		return err
	}
	rusage, err := invoke(*invs)
	pprof.StopCPUProfile()
	if err != nil {
		return err
	}
	// Then the bytes per stage: every allocation of 4 KB or more is sampled, and smaller ones
	// in proportion. The allocs profile is cumulative, so the invocations' share is the
	// difference of two snapshots.
	allocInvs := min(*invs, 100)
	runtime.MemProfileRate = 4096
	runtime.GC()
	if err := pprof.Lookup("allocs").WriteTo(&alloc0, 0); err != nil {
		return err
	}
	if _, err := invoke(allocInvs); err != nil {
		return err
	}
	runtime.GC() // the allocs profile is published at the end of a GC cycle
	if err := pprof.Lookup("allocs").WriteTo(&alloc1, 0); err != nil {
		return err
	}
	if *out != "" {
		if err := os.WriteFile(*out, cpuBuf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	prof, err := parseProfile(cpuBuf.Bytes(), "cpu")
	if err != nil {
		return err
	}
	byStage, total := breakdown(prof)
	if total == 0 {
		return fmt.Errorf("the profile holds no sample of the invocations")
	}
	allocs, err := allocBreakdown(alloc0.Bytes(), alloc1.Bytes())
	if err != nil {
		return err
	}
	events := float64(*n * *invs)
	allocEvents := float64(*n * allocInvs)
	var allocTotal int64
	for _, s := range stages {
		allocTotal += allocs[s]
		fmt.Printf("BenchmarkStages/messages=%d/stage=%s \t%d\t%.1f cpu-ns/event\t%.1f pct-cpu\t%.0f alloc-B/event\n",
			*n, s, *invs, float64(byStage[s])/events, 100*float64(byStage[s])/float64(total), float64(allocs[s])/allocEvents)
	}
	fmt.Printf("BenchmarkStages/messages=%d/stage=total \t%d\t%.1f cpu-ns/event\t%.1f rusage-cpu-ns/event\t%.0f alloc-B/event\n",
		*n, *invs, float64(total)/events, float64(rusage)/events, float64(allocTotal)/allocEvents)
	return nil
}

// allocBreakdown is the bytes allocated per stage between two snapshots of the allocs
// profile. Allocation samples carry no labels: the rig's few requests around each
// invocation are counted with the invocations.
func allocBreakdown(before, after []byte) (map[string]int64, error) {
	by := map[string]int64{}
	for i, data := range [][]byte{before, after} {
		p, err := parseProfile(data, "alloc_space")
		if err != nil {
			return nil, err
		}
		sign := int64(1)
		if i == 0 {
			sign = -1
		}
		for _, s := range p.samples {
			by[allocStageOf(s.stack)] += sign * s.value
		}
	}
	return by, nil
}

// breakdown sums the invocations' CPU nanoseconds per stage.
func breakdown(p *profile) (map[string]int64, int64) {
	by := map[string]int64{}
	var total int64
	for _, s := range p.samples {
		if !counted(s, benchinvoke.ProfileLabel, benchinvoke.ProfileLabelInvoke) {
			continue
		}
		by[stageOf(s.stack)] += s.value
		total += s.value
	}
	return by, total
}
