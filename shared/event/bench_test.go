package event

import (
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
)

// processCPU is the CPU time of the whole process, the garbage collector's included: Decode
// allocates and json.Valid does not, so the collector's work is part of what Decode costs.
// make bench runs these benchmarks with GOMAXPROCS=1, as the Forwarder runs, so that time is
// this benchmark's and nobody else's.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// eachType runs op on every sample body (the sample events of package eventtest) as a
// sub-benchmark named by its type, reporting allocations and CPU time per operation.
func eachType(b *testing.B, op func(b *testing.B, body []byte, text string)) {
	for _, typ := range AllTypes {
		body := eventtest.Sample(typ)
		text := string(body)
		b.Run(string(typ), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			t0 := processCPU()
			op(b, body, text)
			b.ReportMetric(float64(processCPU()-t0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkDecode measures decoding and validating one SQS message body of each type the way
// the forwarder does it, its first step per message: DecodeString over the message's body
// string, which it reads without copying.
func BenchmarkDecode(b *testing.B) {
	eachType(b, func(b *testing.B, _ []byte, text string) {
		for b.Loop() {
			if _, err := DecodeString(text); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeBytes is BenchmarkDecode through Decode, for callers holding a []byte:
// it copies the body once.
func BenchmarkDecodeBytes(b *testing.B) {
	eachType(b, func(b *testing.B, body []byte, _ string) {
		for b.Loop() {
			if _, err := Decode(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkValid is the floor BenchmarkDecode is held to: json.Valid's scan of the same
// bodies. The bench tooling pairs BenchmarkDecode/<type> with BenchmarkValid/<type>, so the
// two keep the same sub-benchmark names.
func BenchmarkValid(b *testing.B) {
	eachType(b, func(b *testing.B, body []byte, _ string) {
		for b.Loop() {
			if !json.Valid(body) {
				b.Fatal("sample is not valid JSON")
			}
		}
	})
}
