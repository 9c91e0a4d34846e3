package soak

import (
	"encoding/json"
	"strconv"
	"sync"
)

// maxOutcomes bounds the outcomes kept per message: the first ones say why it kept failing,
// and a message may live up to maxReceiveCount (100) receives of a few feeds each.
const maxOutcomes = 32

// outcomeIndex reads the forwarder's JSON log records and keeps, per message id, the
// delivery outcomes logged for it ("retry 500: ...", "throttled", ...), so the report can
// say why a valid event ended in the dead-letter queue. It also sums the delivery-record
// counts of the invocations' lines, and the bytes of the records above DEBUG (what the
// deployed function, at INFO, would write).
type outcomeIndex struct {
	mu  sync.Mutex
	out map[string][]string

	recordsRead, recordsWritten, recordsCutShort, infoBytes int64
	// unrecorded holds the delivery keys ("event id#integration id") whose record write
	// failed: a later receive may send them again after mParticle confirmed them.
	unrecorded []string
}

func newOutcomeIndex() *outcomeIndex { return &outcomeIndex{out: map[string][]string{}} }

func (x *outcomeIndex) Write(p []byte) (int, error) {
	var rec struct {
		Level       string `json:"level"`
		Msg         string `json:"msg"`
		MessageID   string `json:"message_id"`
		Outcome     string `json:"outcome"`
		Integration string `json:"integration_id"`
		Status      int    `json:"http_status"`
		Reason      string `json:"reason"`
		// The invocation's line.
		RecordsRead     int64 `json:"records_read"`
		RecordsWritten  int64 `json:"records_written"`
		RecordsCutShort int64 `json:"records_cut_short"`
		// "deliveries not recorded".
		Keys []string `json:"keys"`
	}
	if json.Unmarshal(p, &rec) != nil {
		return len(p), nil
	}
	x.mu.Lock()
	if rec.Level != "DEBUG" {
		x.infoBytes += int64(len(p))
	}
	if rec.Msg == "deliveries not recorded" {
		x.unrecorded = append(x.unrecorded, rec.Keys...)
	}
	if rec.Msg == "invocation done" {
		x.recordsRead += rec.RecordsRead
		x.recordsWritten += rec.RecordsWritten
		x.recordsCutShort += rec.RecordsCutShort
	}
	x.mu.Unlock()
	if rec.MessageID == "" || rec.Outcome == "" {
		return len(p), nil
	}
	line := rec.Outcome
	if rec.Integration != "" {
		line += " [" + rec.Integration + "]"
	}
	if rec.Status != 0 {
		line += " " + strconv.Itoa(rec.Status)
	}
	if rec.Reason != "" {
		line += ": " + rec.Reason
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.out[rec.MessageID]) < maxOutcomes {
		x.out[rec.MessageID] = append(x.out[rec.MessageID], line)
	}
	return len(p), nil
}

func (x *outcomeIndex) of(messageID string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]string(nil), x.out[messageID]...)
}

// records returns the delivery records read, written and cut short by the deadline, and
// the bytes logged above DEBUG, over the run.
func (x *outcomeIndex) records() (read, written, cutShort, infoBytes int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.recordsRead, x.recordsWritten, x.recordsCutShort, x.infoBytes
}

// unrecordedKeys returns the delivery keys whose record the forwarder could not write.
func (x *outcomeIndex) unrecordedKeys() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]string(nil), x.unrecorded...)
}
