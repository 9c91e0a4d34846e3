package event

import (
	"testing"

	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
)

// BenchmarkDecode measures decoding and validating one SQS message body of each type (the
// sample events of package eventtest), the forwarder's first step per message.
func BenchmarkDecode(b *testing.B) {
	for _, typ := range AllTypes {
		body := eventtest.Sample(typ)
		b.Run(string(typ), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
