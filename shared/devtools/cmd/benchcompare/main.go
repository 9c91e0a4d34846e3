// Command benchcompare is this project's side of the comparison with the official
// mParticle Node SDK (bench/node/upload.js): the same batches, the same contract server,
// the same measures.
//
//	benchcompare gen -events 5000 -out bench/results/batches.json
//	benchcompare run -batches bench/results/batches.json -mpserver http://127.0.0.1:9999 -mode bulk
//
// gen writes N batches made by the forwarder's own transform from the sample events (one
// event per batch, cycling through the 13 types). run uploads them with shared/mparticle,
// one request per batch (-mode single) or 100 per request (-mode bulk), after a warm-up, and
// prints one benchmark line: events per CPU-second (getrusage: user+system, all threads)
// and requests per 1,000 events, counting only what the server accepted.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/namiml/mparticle-bridge/shared/devtools/benchinvoke"
	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/transform"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchcompare gen|run [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcompare:", err)
		os.Exit(1)
	}
}

func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	n := fs.Int("events", 5000, "number of batches (one event each)")
	samples := fs.String("samples", "", "directory of sample events, one <type>.json each (default: the built-in samples)")
	out := fs.String("out", "bench/results/batches.json", "output file")
	_ = fs.Parse(args)

	rig, err := benchinvoke.New(benchinvoke.Options{SamplesDir: *samples, BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		return err
	}
	defer rig.Close()
	in := benchinvoke.Feed()
	batches := make([]mparticle.Batch, *n)
	for i := range batches {
		body, err := rig.Body(event.AllTypes[i%len(event.AllTypes)], i)
		if err != nil {
			return err
		}
		ev, err := event.Decode(body)
		if err != nil {
			return fmt.Errorf("sample %d: %w", i, err)
		}
		res, err := transform.ToBatch(ev, &in)
		if err != nil {
			return fmt.Errorf("sample %d: %w", i, err)
		}
		batches[i] = res.Batch
	}
	data, err := json.Marshal(batches)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(*out, data, 0o644)
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	file := fs.String("batches", "bench/results/batches.json", "batches written by gen")
	base := fs.String("mpserver", "http://127.0.0.1:9999", "contract server base URL")
	mode := fs.String("mode", "bulk", "single (one batch per request) or bulk (100 per request)")
	rounds := fs.Int("rounds", 1, "times the whole file is uploaded")
	warmup := fs.Int("warmup", 200, "batches uploaded first, not measured")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the measured rounds to this file")
	memprofile := fs.String("memprofile", "", "write an allocation profile of the measured rounds to this file")
	_ = fs.Parse(args)
	if *mode != "single" && *mode != "bulk" {
		return fmt.Errorf("-mode must be single or bulk")
	}
	ctx := context.Background()

	data, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	var batches []mparticle.Batch
	if err := json.Unmarshal(data, &batches); err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	if len(batches) == 0 {
		return errors.New("no batches")
	}
	client, err := mparticle.New(mparticle.Options{BaseURL: *base})
	if err != nil {
		return err
	}
	feed := mparticle.Feed{ID: "bench", Pod: "US1",
		Credentials: feedcreds.Credentials{Key: benchinvoke.FeedKey, Secret: benchinvoke.FeedSecret}}
	// Each call's results are checked as they come rather than gathered: the Node side keeps
	// nothing either, and a growing slice of 5,000 results would be the harness's garbage
	// counted as the client's.
	step := 1
	if *mode == "bulk" {
		step = mparticle.MaxBatchesPerRequest // as the forwarder does per invocation of the template's batch size
	}
	upload := func(bs []mparticle.Batch) error {
		for i := 0; i < len(bs); i += step {
			for _, r := range client.Upload(ctx, feed, bs[i:min(i+step, len(bs))]) {
				if r.Outcome != mparticle.Delivered {
					return fmt.Errorf("batch not delivered: %s: %v", r.Outcome, r.Err)
				}
			}
		}
		return nil
	}

	if err := upload(batches[:min(*warmup, len(batches))]); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *memprofile != "" {
		runtime.MemProfileRate = 4096
		defer func() {
			if f, err := os.Create(*memprofile); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				_ = f.Close()
			}
		}()
	}
	var cpu, wall time.Duration
	var events, requests int64
	for range *rounds {
		if err := benchinvoke.ResetServer(ctx, *base); err != nil {
			return err
		}
		cpu0, t0 := benchinvoke.ProcessCPU(), time.Now()
		if err := upload(batches); err != nil {
			return err
		}
		cpu += benchinvoke.ProcessCPU() - cpu0
		wall += time.Since(t0)
		st, err := benchinvoke.FetchStats(ctx, *base)
		if err != nil {
			return err
		}
		events += st.Feeds[benchinvoke.FeedName].Events
		requests += st.Requests
	}
	printLine("go", *mode, events, requests, cpu, wall)
	return nil
}

// printLine writes the comparison's benchmark line; bench/node/upload.js writes the same.
func printLine(client, mode string, events, requests int64, cpu, wall time.Duration) {
	fmt.Printf("BenchmarkUpload/client=%s/mode=%s \t%d\t%.0f ns/op\t%.0f cpu-ns/event\t%.0f events/cpu-s\t%.2f reqs/1000-events\n",
		client, mode, events, float64(wall.Nanoseconds())/float64(events),
		float64(cpu.Nanoseconds())/float64(events), float64(events)/cpu.Seconds(),
		1000*float64(requests)/float64(events))
}
