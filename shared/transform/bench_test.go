package transform

import (
	"testing"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// BenchmarkToBatch measures the transform alone, per event type: BenchmarkTransformEncode
// (shared/devtools/benchinvoke) less BenchmarkEncodeBatch (shared/mparticle), without the
// noise of subtracting one from the other.
func BenchmarkToBatch(b *testing.B) {
	for _, typ := range event.AllTypes {
		ev := load(b, typ)
		b.Run(string(typ), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ToBatch(ev, iosFeed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkToBatchAppend is what the forwarder does per (event, integration): transform, and
// encode with mparticle.AppendBatch into a reused buffer as the client does.
func BenchmarkToBatchAppend(b *testing.B) {
	for _, typ := range event.AllTypes {
		ev := load(b, typ)
		b.Run(string(typ), func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				res, err := ToBatch(ev, iosFeed)
				if err != nil {
					b.Fatal(err)
				}
				if buf, err = mparticle.AppendBatch(buf[:0], &res.Batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBuilderAppend is BenchmarkToBatchAppend with a Builder reset after each batch: the
// batch's parts in reused memory instead of a fresh allocation.
func BenchmarkBuilderAppend(b *testing.B) {
	for _, typ := range event.AllTypes {
		ev := load(b, typ)
		b.Run(string(typ), func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			var bl Builder
			for b.Loop() {
				bl.Reset()
				res, err := bl.ToBatch(ev, iosFeed)
				if err != nil {
					b.Fatal(err)
				}
				if buf, err = mparticle.AppendBatch(buf[:0], &res.Batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
