package forwarder

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// A feed is built and uploaded a chunk (one bulk request's worth) at a time. An answer that
// holds for the whole feed ends it after the chunk that met it: the rest is settled alike,
// not sent.
func TestFeedIsSentInChunks(t *testing.T) {
	const events = 2*sendChunk + 50
	tests := []struct {
		name       string
		uploader   func() Uploader
		wantCalls  []int  // batches per Upload call
		wantOut    string // logged for each of the last wantOutN deliveries
		wantOutN   int
		wantFailed int
	}{
		{
			name:      "delivered: one upload per chunk",
			uploader:  func() Uploader { return &fakeUploader{} },
			wantCalls: []int{sendChunk, sendChunk, 50}, wantOut: `"outcome":"delivered"`, wantOutN: events,
		},
		{
			name: "credentials refused, even afresh: the first chunk only",
			uploader: func() Uploader {
				return &fakeUploader{decide: func(int, mparticle.Feed, mparticle.Batch) mparticle.Outcome { return mparticle.AuthFailed }}
			},
			wantCalls: []int{sendChunk, sendChunk}, wantOut: `"outcome":"auth_failed"`, wantOutN: events, wantFailed: events,
		},
		{
			// The first chunk is retried on its 429; the others are held back unsent.
			name:      "a 429 longer than the invocation waits: the rest waits out the Retry-After",
			uploader:  func() Uploader { return &throttlingUploader{feed: "ios", after: time.Minute} },
			wantCalls: []int{sendChunk}, wantOut: `"outcome":"throttled"`, wantOutN: events - sendChunk, wantFailed: events,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID))
			up := tt.uploader()
			hs.h.deps.Uploader = up
			var bodies []string
			for i := range events {
				bodies = append(bodies, eventtest.Body(t, event.SubscriptionRenewed, func(m map[string]any) {
					m["id"] = fmt.Sprintf("c0000000-0000-4000-8000-%012d", i)
				}))
			}
			resp, sum, _ := hs.h.handle(context.Background(), sqsEvent(bodies...))
			var calls []int
			for _, c := range callsOf(up) {
				calls = append(calls, len(c.batches))
			}
			if fmt.Sprint(calls) != fmt.Sprint(tt.wantCalls) {
				t.Errorf("uploads of %v batches, want %v", calls, tt.wantCalls)
			}
			if len(resp.BatchItemFailures) != tt.wantFailed {
				t.Errorf("%d messages handed back, want %d", len(resp.BatchItemFailures), tt.wantFailed)
			}
			if n := strings.Count(hs.logs.String(), tt.wantOut); n != tt.wantOutN {
				t.Errorf("%d deliveries logged %s, want %d", n, tt.wantOut, tt.wantOutN)
			}
			if sum.Delivered+sum.Retried != events {
				t.Errorf("delivered %d + retried %d, want %d", sum.Delivered, sum.Retried, events)
			}
		})
	}
}

func callsOf(u Uploader) []uploadCall {
	switch u := u.(type) {
	case *fakeUploader:
		return u.calls
	case *throttlingUploader:
		return u.calls
	}
	return nil
}
