package benchinvoke

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/forwarder"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/transform"
)

// newRig uses the contract server at $BENCH_MPSERVER_URL when set (make bench runs one
// as its own process, so its CPU time and garbage are not the forwarder's), otherwise one
// in this process.
func newRig(tb testing.TB) *Rig { return newRigWith(tb, Options{}) }

func newRigWith(tb testing.TB, opts Options) *Rig {
	tb.Helper()
	opts.BaseURL = os.Getenv("BENCH_MPSERVER_URL")
	r, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.Close)
	return r
}

// perType builds, for each event type, the body the invocations send and its batch as the
// forwarder makes it, outside any timed loop.
func perType(b *testing.B, r *Rig) (bodies map[event.Type][]byte, batches map[event.Type]*mparticle.Batch) {
	b.Helper()
	in := Feed()
	bodies, batches = map[event.Type][]byte{}, map[event.Type]*mparticle.Batch{}
	for _, typ := range event.AllTypes {
		body, err := r.Body(typ, 1)
		if err != nil {
			b.Fatal(err)
		}
		ev, err := event.Decode(body)
		if err != nil {
			b.Fatal(err)
		}
		res, err := transform.ToBatch(ev, &in)
		if err != nil {
			b.Fatal(err)
		}
		bodies[typ], batches[typ] = body, &res.Batch
	}
	return bodies, batches
}

// cpuLoop runs loop on a locked thread and reports that thread's CPU time per op: unlike
// wall time it does not count the time other processes of a shared machine held the core.
func cpuLoop(b *testing.B, loop func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	cpu0 := ThreadCPU()
	loop()
	b.ReportMetric(float64(ThreadCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkFloor is the least work any implementation must do per event, the yardstick of
// issue 12's targets: check that the SQS body is JSON (json.Valid, a scan without building
// anything) and encode the event's batch with the client's encoder. The batch is built
// before the loop, so only the two ends of the pipeline are timed.
func BenchmarkFloor(b *testing.B) {
	bodies, batches := perType(b, newRig(b))
	for _, typ := range event.AllTypes {
		body, batch := bodies[typ], batches[typ]
		b.Run(string(typ), func(b *testing.B) {
			var buf []byte
			cpuLoop(b, func() {
				for b.Loop() {
					if !json.Valid(body) {
						b.Fatal("body is not JSON")
					}
					var err error
					if buf, err = mparticle.AppendBatch(buf[:0], batch); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(len(body)), "body-B")
			b.ReportMetric(float64(len(buf)), "json-B")
		})
	}
}

// BenchmarkEncode is the encoder alone on the batch BenchmarkTransformEncode builds: the
// same work as shared/mparticle's BenchmarkEncodeBatch, repeated here so that the
// transform+encode target's ratio is taken in one process, minutes rather than a process
// apart, on the same batches.
func BenchmarkEncode(b *testing.B) {
	_, batches := perType(b, newRig(b))
	for _, typ := range event.AllTypes {
		batch := batches[typ]
		b.Run(string(typ), func(b *testing.B) {
			var buf []byte
			cpuLoop(b, func() {
				for b.Loop() {
					var err error
					if buf, err = mparticle.AppendBatch(buf[:0], batch); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(len(buf)), "json-B")
		})
	}
}

// BenchmarkTransformEncode measures, per event type, what the forwarder does per event
// between decoding and sending: build the batch with a transform.Builder reused from batch
// to batch and Reset before the next (the forwarder resets its feed's Builder once its
// chunk of up to 100 batches is settled, build.go), and encode it the way the mParticle
// client does (mparticle.AppendBatch into the upload's buffer).
func BenchmarkTransformEncode(b *testing.B) {
	r := newRig(b)
	in := Feed()
	for _, typ := range event.AllTypes {
		body, err := r.Body(typ, 1)
		if err != nil {
			b.Fatal(err)
		}
		ev, err := event.Decode(body)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(typ), func(b *testing.B) {
			var buf []byte
			var bl transform.Builder
			cpuLoop(b, func() {
				for b.Loop() {
					bl.Reset()
					res, err := bl.ToBatch(ev, &in)
					if err != nil {
						b.Fatal(err)
					}
					if buf, err = mparticle.AppendBatch(buf[:0], &res.Batch); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(len(buf)), "json-B")
		})
	}
}

// BenchmarkInvoke measures one warm invocation (caches filled, connection open) of 10, 100
// and 1,000 messages bound for one feed. Besides wall time it reports CPU time (the whole
// process, and the forwarder's share: without the in-process contract server's handlers,
// though with the garbage collection they caused), what the server received, the AWS
// reads made and the log bytes written.
//
// Under the default record policy (retries) a warm invocation whose messages all arrive
// for the first time and are all delivered reads and writes no delivery record; the other
// policies run as records=all|off/messages=100|1000: 100 is the template's batch size, which
// the cost per policy is computed from.
func BenchmarkInvoke(b *testing.B) {
	type run struct {
		records forwarder.RecordPolicy
		n       int
	}
	runs := []run{{"", 10}, {"", 100}, {"", 1000}}
	for _, p := range forwarder.RecordPolicies[1:] {
		runs = append(runs, run{p, 100}, run{p, 1000})
	}
	for _, rn := range runs {
		n := rn.n
		name := fmt.Sprintf("messages=%d", n)
		if rn.records != "" {
			name = fmt.Sprintf("records=%s/%s", rn.records, name)
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			r := newRigWith(b, Options{Records: rn.records})
			ev, err := r.Messages(n)
			if err != nil {
				b.Fatal(err)
			}
			if m, err := r.Invoke(ctx, ev); err != nil || m.Accepted != int64(n) {
				b.Fatalf("warm-up invocation: accepted %d of %d, err %v", m.Accepted, n, err)
			}
			r.ForgetDeliveries()
			var sum Measure
			var wall time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if err := r.ResetServer(ctx); err != nil {
					b.Fatal(err)
				}
				r.ForgetDeliveries()
				b.StartTimer()
				m, err := r.Invoke(ctx, ev)
				if err != nil {
					b.Fatal(err)
				}
				if m.Accepted != int64(n) || m.Failures != 0 {
					b.Fatalf("accepted %d of %d batches, %d failures", m.Accepted, n, m.Failures)
				}
				wall += m.Wall
				sum.CPU += m.CPU
				sum.ServerCPU += m.ServerCPU
				sum.Requests += m.Requests
				sum.BytesSent += m.BytesSent
				sum.Queries += m.Queries
				sum.SecretReads += m.SecretReads
				sum.LogBytes += m.LogBytes
				sum.IdemRequests += m.IdemRequests
				sum.IdemReads += m.IdemReads
				sum.IdemWrites += m.IdemWrites
			}
			per := func(v int64) float64 { return float64(v) / float64(b.N) }
			b.ReportMetric(per(int64(sum.CPU)), "cpu-ns/op")
			b.ReportMetric(per(int64(sum.ClientCPU())), "fwd-cpu-ns/op")
			b.ReportMetric(per(int64(sum.ClientCPU()))/float64(n), "fwd-cpu-ns/event")
			b.ReportMetric(per(int64(sum.ServerCPU)), "server-cpu-ns/op")
			b.ReportMetric(per(sum.Requests), "http-reqs/op")
			b.ReportMetric(per(sum.BytesSent), "sent-B/op")
			b.ReportMetric(per(sum.Queries), "ddb-queries/op")
			b.ReportMetric(per(sum.SecretReads), "secret-reads/op")
			b.ReportMetric(per(sum.IdemRequests), "idem-reqs/op")
			b.ReportMetric(per(sum.IdemReads), "idem-reads/op")
			b.ReportMetric(per(sum.IdemWrites), "idem-writes/op")
			b.ReportMetric(per(sum.LogBytes), "log-B/op")
		})
	}
}
