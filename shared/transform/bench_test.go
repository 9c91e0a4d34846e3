package transform

import (
	"encoding/json"
	"testing"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// BenchmarkToBatch measures what the forwarder does per (event, integration): transform and
// marshal.
func BenchmarkToBatch(b *testing.B) {
	for _, typ := range event.AllTypes {
		ev := load(b, typ)
		b.Run(string(typ), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := ToBatch(ev, iosFeed)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := json.Marshal(&res.Batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkToBatchAppend is the same with mparticle.AppendBatch into a reused buffer, the
// encoder the client sends with (byte-identical to json.Marshal).
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
