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
// say why a valid event ended in the dead-letter queue.
type outcomeIndex struct {
	mu  sync.Mutex
	out map[string][]string
}

func newOutcomeIndex() *outcomeIndex { return &outcomeIndex{out: map[string][]string{}} }

func (x *outcomeIndex) Write(p []byte) (int, error) {
	var rec struct {
		MessageID   string `json:"message_id"`
		Outcome     string `json:"outcome"`
		Integration string `json:"integration_id"`
		Status      int    `json:"http_status"`
		Reason      string `json:"reason"`
	}
	if json.Unmarshal(p, &rec) != nil || rec.MessageID == "" || rec.Outcome == "" || rec.Outcome == "delivered" {
		return len(p), nil
	}
	line := rec.Outcome
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
