package mpserver

import (
	"encoding/json"
	"fmt"
	"time"
)

// HistoricalMinAge is how old every event of a batch on the historical path must be:
// mParticle drops a historical batch with any event newer than that.
const HistoricalMinAge = 72 * time.Hour

// historicalViolations applies the historical path's own rules to one batch (already
// checked as a batch): it must have events, and every event a timestamp at least
// HistoricalMinAge before now. mParticle drops what breaks them without an error.
func historicalViolations(raw []byte, now time.Time) []string {
	var b struct {
		Events []struct {
			Data struct {
				Timestamp *json.Number `json:"timestamp_unixtime_ms"`
			} `json:"data"`
		} `json:"events"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil // not a batch: validateBatch has said why
	}
	var v violations
	if len(b.Events) == 0 {
		v.add("events", "is required on the historical path: mParticle drops a historical batch without events")
	}
	newest := now.Add(-HistoricalMinAge).UnixMilli()
	for i, e := range b.Events {
		path := fmt.Sprintf("events[%d].data.timestamp_unixtime_ms", i)
		if e.Data.Timestamp == nil {
			v.add(path, "is required on the historical path: mParticle drops a historical batch with an undated event")
			continue
		}
		ms, err := e.Data.Timestamp.Int64()
		if err != nil {
			continue // validateBatch reports a malformed timestamp
		}
		if ms > newest {
			v.add(path, "%d is less than 72 hours old: the historical path takes older data only (mParticle drops the batch)", ms)
		}
	}
	return v.msgs
}
