package benchinvoke

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/transform"
)

// newRig uses the contract server at $BENCH_MPSERVER_URL when set (make bench runs one
// as its own process, so its CPU time and garbage are not the forwarder's), otherwise one
// in this process.
func newRig(tb testing.TB) *Rig {
	tb.Helper()
	r, err := New(Options{BaseURL: os.Getenv("BENCH_MPSERVER_URL")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.Close)
	return r
}

// BenchmarkTransformEncode measures, per event type, what the forwarder does per event
// between decoding and sending: build the batch (transform.ToBatch) and encode it the way
// the mParticle client does (mparticle.AppendBatch into the upload's buffer).
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
			// CPU time of this thread, unlike wall time, does not count the time other
			// processes of a shared machine took the core.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var buf []byte
			b.ReportAllocs()
			cpu0 := ThreadCPU()
			for b.Loop() {
				res, err := transform.ToBatch(ev, &in)
				if err != nil {
					b.Fatal(err)
				}
				if buf, err = mparticle.AppendBatch(buf[:0], &res.Batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(ThreadCPU()-cpu0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(len(buf)), "json-B")
		})
	}
}

// BenchmarkInvoke measures one warm invocation (caches filled, connection open) of 10, 100
// and 1,000 messages bound for one feed. Besides wall time it reports CPU time (the whole
// process, and the forwarder's share: without the in-process contract server's handlers,
// though with the garbage collection they caused), what the server received, the AWS
// reads made and the log bytes written.
func BenchmarkInvoke(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("messages=%d", n), func(b *testing.B) {
			ctx := context.Background()
			r := newRig(b)
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
