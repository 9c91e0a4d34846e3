package mparticle

import (
	"encoding/json"
	"testing"
)

// BenchmarkEncodeBatch measures encoding one batch shaped like the forwarder's output.
func BenchmarkEncodeBatch(b *testing.B) {
	batch := sampleBatch(1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(&batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildRequests measures the request-building path of a 250-batch upload:
// encode each batch once, group within the limits, and join the bodies.
func BenchmarkBuildRequests(b *testing.B) {
	batches := make([]Batch, 250)
	for i := range batches {
		batches[i] = sampleBatch(i)
	}
	b.ReportAllocs()
	for b.Loop() {
		enc := make([][]byte, len(batches))
		idx := make([]int, len(batches))
		for i := range batches {
			data, err := json.Marshal(&batches[i])
			if err != nil {
				b.Fatal(err)
			}
			enc[i], idx[i] = data, i
		}
		for _, g := range planRequests(enc, idx) {
			_ = joinBodies(enc, g)
		}
	}
}
