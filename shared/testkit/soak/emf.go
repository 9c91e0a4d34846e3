package soak

import (
	"encoding/json"
	"sync"

	"github.com/namiml/mparticle-bridge/shared/metrics"
)

// emfTally is the forwarder's metrics sink during the soak: it sums the service-wide EMF
// lines by metric name, so the report can hold the metrics to what the soak observed.
type emfTally struct {
	mu     sync.Mutex
	totals map[string]int64
	bad    int // lines that were not EMF documents
}

func newEMFTally() *emfTally { return &emfTally{totals: map[string]int64{}} }

func (t *emfTally) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, line := range splitLines(p) {
		var doc map[string]json.RawMessage
		if json.Unmarshal(line, &doc) != nil || doc["_aws"] == nil {
			t.bad++
			continue
		}
		if _, perFeed := doc[metrics.DimFeedID]; perFeed {
			continue // the service-wide line already counts it
		}
		for _, n := range metrics.Names {
			var v int64
			if json.Unmarshal(doc[string(n)], &v) == nil {
				t.totals[string(n)] += v
			}
		}
	}
	return len(p), nil
}

func (t *emfTally) snapshot() (map[string]int64, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]int64, len(t.totals))
	for k, v := range t.totals {
		out[k] = v
	}
	return out, t.bad
}

func splitLines(p []byte) [][]byte {
	var out [][]byte
	start := 0
	for i, c := range p {
		if c == '\n' {
			if i > start {
				out = append(out, p[start:i])
			}
			start = i + 1
		}
	}
	if start < len(p) {
		out = append(out, p[start:])
	}
	return out
}
