package mparticle

import (
	"encoding/json"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// threadCPU is the calling OS thread's CPU time (Linux RUSAGE_THREAD). Benchmarks lock
// their thread and report it: unlike wall time it does not count the time other processes
// of a shared machine held the core.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuPerOp reports the benchmark thread's CPU time per operation of loop.
func cpuPerOp(b *testing.B, loop func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := threadCPU()
	loop()
	b.ReportMetric(float64(threadCPU()-t0)/float64(b.N), "cpu-ns/op")
}

// TypeBatches is the golden batch of each event type (its sample event, transformed for its
// feed), named by type. The external test bench_types_test.go fills it: building them needs
// package transform, which imports this package, so an internal test cannot.
var TypeBatches []NamedBatch

// NamedBatch is a batch and the name of its sub-benchmark.
type NamedBatch struct {
	Name  string
	Batch Batch
}

// BenchmarkEncodeBatch measures encoding one batch the way Upload does it (AppendBatch into
// the upload's buffer): a batch shaped like the forwarder's output (client), the same with
// encoding/json for comparison, and the golden batch of each event type, named by type as in
// BenchmarkTransformEncode (shared/devtools/benchinvoke), so the two pair up: what transform
// adds to encoding is their difference.
func BenchmarkEncodeBatch(b *testing.B) {
	batch := sampleBatch(1)
	b.Run("client", func(b *testing.B) { benchAppend(b, &batch) })
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		cpuPerOp(b, func() {
			for b.Loop() {
				data, err := json.Marshal(&batch)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(data)))
			}
		})
	})
	for i := range TypeBatches {
		b.Run(TypeBatches[i].Name, func(b *testing.B) { benchAppend(b, &TypeBatches[i].Batch) })
	}
}

func benchAppend(b *testing.B, batch *Batch) {
	var buf []byte
	b.ReportAllocs()
	cpuPerOp(b, func() {
		for b.Loop() {
			var err error
			if buf, err = AppendBatch(buf[:0], batch); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.SetBytes(int64(len(buf)))
}

// BenchmarkBuildRequests measures the request-building path of a 250-batch upload:
// encode each batch once into one buffer, group within the limits, and join the bodies.
func BenchmarkBuildRequests(b *testing.B) {
	batches := make([]Batch, 250)
	for i := range batches {
		batches[i] = sampleBatch(i)
	}
	b.ReportAllocs()
	for b.Loop() {
		enc := make([][]byte, len(batches))
		idx := make([]int, len(batches))
		buf := make([]byte, 0, encodedSizeGuess*len(batches))
		var err error
		for i := range batches {
			start := len(buf)
			if buf, err = AppendBatch(buf, &batches[i]); err != nil {
				b.Fatal(err)
			}
			enc[i], idx[i] = buf[start:len(buf):len(buf)], i
		}
		for _, g := range planRequests(enc, idx) {
			_ = joinBodies(enc, g)
		}
	}
}
