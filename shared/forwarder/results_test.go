package forwarder

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// scriptedUploader answers each Upload call with the results of its turn (the last turn
// repeats, and so do a turn's results when more batches come), and counts the calls.
type scriptedUploader struct {
	mu    sync.Mutex
	turns [][]mparticle.Result
	calls int
}

func (u *scriptedUploader) Upload(_ context.Context, _ mparticle.Feed, batches []mparticle.Batch) []mparticle.Result {
	u.mu.Lock()
	defer u.mu.Unlock()
	turn := u.turns[min(u.calls, len(u.turns)-1)]
	u.calls++
	out := make([]mparticle.Result, len(batches))
	for i := range out {
		out[i] = turn[i%len(turn)]
	}
	return out
}

type recordedVisibility struct {
	mu     sync.Mutex
	delays map[string]time.Duration
}

func (v *recordedVisibility) Delay(_ context.Context, ds []Delay) []error {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, d := range ds {
		v.delays[d.Msg.MessageId] = d.D
	}
	return make([]error, len(ds))
}

// TestResultHandling: how the handler treats the client's outcomes that are the feed's or
// the configuration's fault rather than the event's.
func TestResultHandling(t *testing.T) {
	redirect := &mparticle.APIError{StatusCode: 308, Location: "https://elsewhere.example/v2/bulkevents"}
	throttle := &mparticle.APIError{StatusCode: 429, RateLimitExceeded: "feed"}
	heldBack := mparticle.Result{Outcome: mparticle.Retryable, Throttled: true, RetryAfter: 90 * time.Second,
		RateLimitExceeded: "feed", RateLimitPercentUsed: -1, Err: errors.Join(errors.New("not sent"), throttle)}
	tests := []struct {
		name          string
		results       []mparticle.Result
		wantFailed    int
		wantUnhealthy bool
		wantOutcomes  []string // in the delivery logs
		wantDelay     time.Duration
		wantCooling   bool
	}{
		{
			name: "a redirect is retried and marks the integration unhealthy",
			results: []mparticle.Result{
				{Outcome: mparticle.Redirected, StatusCode: 308, Attempts: 1, Err: redirect, RateLimitPercentUsed: -1},
				{Outcome: mparticle.Redirected, Err: redirect, RateLimitPercentUsed: -1},
			},
			wantFailed: 2, wantUnhealthy: true,
			wantOutcomes: []string{`"outcome":"misdirected","message_id":"msg-a"`, `"outcome":"misdirected","message_id":"msg-b"`},
		},
		{
			name: "a long 429 and the requests held back after it wait for it",
			results: []mparticle.Result{
				{Outcome: mparticle.Retryable, StatusCode: 429, Attempts: 1, Throttled: true, RetryAfter: 90 * time.Second,
					RateLimitExceeded: "feed", Err: throttle, RateLimitPercentUsed: -1},
				heldBack,
			},
			wantFailed: 2, wantDelay: 90 * time.Second, wantCooling: true,
			wantOutcomes: []string{`"outcome":"retry","message_id":"msg-a"`, `"outcome":"throttled","message_id":"msg-b"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := integ("ios", integration.ScopePlatform, iosPlatfID)
			up := &scriptedUploader{turns: [][]mparticle.Result{tt.results}}
			vis := &recordedVisibility{delays: map[string]time.Duration{}}
			dlq, health, logs := &fakeDLQ{}, &fakeHealth{}, &bytes.Buffer{}
			h := New(Deps{
				Integrations: &fakeIntegrations{byApp: map[string][]integration.Integration{appID: {in}}},
				Credentials:  &fakeCreds{values: []feedcreds.Credentials{{Key: testKey, Secret: testSecret}}},
				Uploader:     up, DeadLetters: dlq, Health: health, Visibility: vis, Logger: slogJSON(logs),
			}, Config{})
			second := eventtest.Body(t, event.SubscriptionRenewed, func(m map[string]any) { m["id"] = "7d0c8a51-2b6e-4f3a-9c1d-5e8f7a6b4c3d" })
			msgs := sqsEvent(eventtest.Body(t, event.SubscriptionPurchased, nil), second)

			resp, err := h.Handle(context.Background(), msgs)

			if !errors.Is(err, ErrAllRetryable) || len(resp.BatchItemFailures) != tt.wantFailed {
				t.Fatalf("err=%v failures=%v, want %d retried", err, resp.BatchItemFailures, tt.wantFailed)
			}
			if len(dlq.letters) != 0 {
				t.Errorf("dead-lettered %d, want none", len(dlq.letters))
			}
			unhealthy := len(health.sets) == 1 && health.sets[0] == "ios=unhealthy"
			if unhealthy != tt.wantUnhealthy {
				t.Errorf("health marks %v, want unhealthy=%v", health.sets, tt.wantUnhealthy)
			}
			if tt.wantUnhealthy && !strings.Contains(logs.String(), "redirect (3xx)") {
				t.Errorf("the unhealthy mark does not say why")
			}
			for _, o := range tt.wantOutcomes {
				if !strings.Contains(logs.String(), o) {
					t.Errorf("logs lack %s", o)
				}
			}
			if tt.wantDelay > 0 {
				for _, id := range []string{"msg-a", "msg-b"} {
					if d := vis.delays[id]; d < tt.wantDelay {
						t.Errorf("%s hidden for %v, want at least the %v wait", id, d, tt.wantDelay)
					}
				}
			}
			// A throttled feed is not called again while its wait runs.
			if _, err := h.Handle(context.Background(), sqsEvent(eventtest.Body(t, event.SubscriptionPurchased, nil))); err == nil {
				t.Fatal("second invocation: want the message retried")
			}
			if cooled := up.calls == 1; cooled != tt.wantCooling {
				t.Errorf("uploads after two invocations = %d, want cooling=%v", up.calls, tt.wantCooling)
			}
		})
	}
}

var _ Visibility = (*recordedVisibility)(nil)
