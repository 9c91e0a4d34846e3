package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// invocationKey carries the soak's invocation number in the handler's context, so the
// tracker can tell which invocation an HTTP request belongs to.
type invocationKey struct{}

func withInvocation(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, invocationKey{}, n)
}

// tracker sits between the mParticle client and the network and notes, per
// source_request_id, which invocations saw mParticle confirm (2xx) a request carrying it.
// That separates the two kinds of re-sent batch: after an ambiguous send (timeout, reset,
// crash mid-request: only mParticle's deduplication can absorb those) and after a delivery
// the forwarder knew about (what the idempotency records exist to prevent).
type tracker struct {
	base http.RoundTripper

	requests atomic.Int64
	failures atomic.Int64 // transport errors: timeouts, resets, cancellations

	mu        sync.Mutex
	confirmed map[string][]int64 // source_request_id -> invocations that saw a 2xx
}

func newTracker(base http.RoundTripper) *tracker {
	return &tracker{base: base, confirmed: map[string][]int64{}}
}

func (t *tracker) RoundTrip(req *http.Request) (*http.Response, error) {
	t.requests.Add(1)
	ids := requestIDs(req)
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		t.failures.Add(1)
		return nil, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		inv, _ := req.Context().Value(invocationKey{}).(int64)
		t.mu.Lock()
		for _, id := range ids {
			t.confirmed[id] = append(t.confirmed[id], inv)
		}
		t.mu.Unlock()
	}
	return resp, nil
}

// requestIDs reads the source_request_ids of a bulk (array) or single (object) upload
// without consuming the body the transport will send.
func requestIDs(req *http.Request) []string {
	if req.GetBody == nil {
		return nil
	}
	rc, err := req.GetBody()
	if err != nil {
		return nil
	}
	defer rc.Close()
	raw, err := io.ReadAll(rc)
	if err != nil {
		return nil
	}
	type batch struct {
		SourceRequestID string `json:"source_request_id"`
	}
	var many []batch
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) {
		_ = json.Unmarshal(raw, &many)
	} else {
		var one batch
		if json.Unmarshal(raw, &one) == nil {
			many = append(many, one)
		}
	}
	ids := make([]string, 0, len(many))
	for _, b := range many {
		if b.SourceRequestID != "" {
			ids = append(ids, b.SourceRequestID)
		}
	}
	return ids
}

// confirmations is the number of (request, batch) pairs mParticle answered 2xx.
func (t *tracker) confirmations() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int64
	for _, invs := range t.confirmed {
		n += int64(len(invs))
	}
	return n
}

// confirmedTwice counts, over all source_request_ids, the confirmations beyond the first
// made by invocations that ran to completion (crashed ones are excluded: a crash between
// mParticle's answer and the idempotency write legitimately leads to a resend), leaving out
// the excused ids.
func (t *tracker) confirmedTwice(crashed map[int64]bool, excused map[string]bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for id, invs := range t.confirmed {
		if excused[id] {
			continue
		}
		ok := 0
		for _, inv := range invs {
			if !crashed[inv] {
				ok++
			}
		}
		if ok > 1 {
			n += ok - 1
		}
	}
	return n
}
