package event

import "testing"

// BenchmarkDecode measures decoding and validating one SQS message body of each type (the
// sample events of testdata/), the forwarder's first step per message.
func BenchmarkDecode(b *testing.B) {
	for _, typ := range AllTypes {
		body := sample(b, typ)
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
