// Command benchrss runs one forwarder invocation of N messages in a fresh process, cold
// caches included, and prints its peak resident memory (VmHWM of /proc/self/status) with
// the invocation's costs, as a benchmark line benchstat reads.
//
//	benchrss -messages 1000 [-samples dir] [-mpserver http://127.0.0.1:9999]
//
// The event reaches the handler as it does under Lambda: one JSON payload decoded into an
// events.SQSEvent. With -mpserver the contract server is another process (its memory is not
// counted); without, one runs in this process.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/namiml/mparticle-bridge/shared/devtools/benchinvoke"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchrss:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		n        = flag.Int("messages", 1000, "messages in the invocation")
		samples  = flag.String("samples", "", "directory of sample events, one <type>.json each (default: the built-in samples)")
		mpURL    = flag.String("mpserver", "", "base URL of a contract server with the bench feed (default: in-process)")
		logLevel = flag.String("log-level", "INFO", "forwarder LOG_LEVEL")
	)
	flag.Parse()
	ctx := context.Background()

	rig, err := benchinvoke.New(benchinvoke.Options{SamplesDir: *samples, BaseURL: *mpURL, LogLevel: *logLevel})
	if err != nil {
		return err
	}
	defer rig.Close()
	payload, err := sqsPayload(rig, *n)
	if err != nil {
		return err
	}
	baseline, err := vmKB("VmRSS")
	if err != nil {
		return err
	}

	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return fmt.Errorf("decoding the payload: %w", err)
	}
	payload = nil
	m, err := rig.Invoke(ctx, ev)
	if err != nil {
		return err
	}
	if m.Accepted != int64(*n) || m.Failures != 0 {
		return fmt.Errorf("accepted %d of %d batches, %d failures", m.Accepted, *n, m.Failures)
	}
	hwm, err := vmKB("VmHWM")
	if err != nil {
		return err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)

	fmt.Printf("BenchmarkInvokeRSS/messages=%d \t1\t%d ns/op\t%d peak-RSS-B\t%d start-RSS-B\t%d heap-sys-B\t%d cpu-ns/op\t%.0f http-reqs/op\t%d sent-B/op\t%d ddb-queries/op\t%d secret-reads/op\n",
		*n, m.Wall.Nanoseconds(), hwm*1024, baseline*1024, ms.HeapSys, m.CPU.Nanoseconds(),
		float64(m.Requests), m.BytesSent, m.Queries, m.SecretReads)
	return nil
}

// sqsPayload is the JSON the Lambda runtime would hand the handler for n messages.
func sqsPayload(rig *benchinvoke.Rig, n int) ([]byte, error) {
	ev, err := rig.Messages(n)
	if err != nil {
		return nil, err
	}
	return json.Marshal(ev)
}

// vmKB reads a "Name:  123 kB" line of /proc/self/status.
func vmKB(name string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == name {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.Join(sc.Err(), fmt.Errorf("no %s in /proc/self/status", name))
}
