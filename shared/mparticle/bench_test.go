package mparticle

import (
	"encoding/json"
	"testing"
)

// BenchmarkEncodeBatch measures encoding one batch shaped like the forwarder's output, the
// way Upload does it (AppendBatch into the upload's buffer), and with encoding/json for
// comparison.
func BenchmarkEncodeBatch(b *testing.B) {
	batch := sampleBatch(1)
	b.Run("client", func(b *testing.B) {
		var buf []byte
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if buf, err = AppendBatch(buf[:0], &batch); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(len(buf)))
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			data, err := json.Marshal(&batch)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
		}
	})
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
