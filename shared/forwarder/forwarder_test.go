package forwarder

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

const (
	testKey    = "s2s-key-AAAA-1111"
	testSecret = "s2s-secret-ZZZZ-9999"
)

func sqsEvent(bodies ...string) events.SQSEvent {
	var e events.SQSEvent
	for i, b := range bodies {
		e.Records = append(e.Records, events.SQSMessage{
			MessageId:  "msg-" + string(rune('a'+i)),
			Body:       b,
			Attributes: map[string]string{"ApproximateReceiveCount": "1"},
		})
	}
	return e
}

type fakeIntegrations struct {
	byApp map[string][]integration.Integration
	err   error
}

func (f *fakeIntegrations) Invalidate(string) {}

func (f *fakeIntegrations) ForApp(_ context.Context, appID string) ([]integration.Integration, error) {
	return f.byApp[appID], f.err
}

type fakeCreds struct {
	mu          sync.Mutex
	values      []feedcreds.Credentials // successive reads return successive values
	reads       int
	invalidated int
	err         error
}

func (f *fakeCreds) Get(context.Context, string, string) (feedcreds.Credentials, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return feedcreds.Credentials{}, f.err
	}
	v := f.values[min(f.reads, len(f.values)-1)]
	f.reads++
	return v, nil
}

func (f *fakeCreds) Invalidate(string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.invalidated++
}

// fakeUploader answers per feed with an outcome decided by a function of the call.
type fakeUploader struct {
	mu     sync.Mutex
	calls  []uploadCall
	decide func(call int, feed mparticle.Feed, b mparticle.Batch) mparticle.Outcome
}

type uploadCall struct {
	feed    mparticle.Feed
	batches []mparticle.Batch
}

func (f *fakeUploader) Upload(_ context.Context, feed mparticle.Feed, batches []mparticle.Batch) []mparticle.Result {
	f.mu.Lock()
	n := len(f.calls)
	f.calls = append(f.calls, uploadCall{feed, cloneBatches(batches)}) // batches are valid only during the call
	f.mu.Unlock()
	out := make([]mparticle.Result, len(batches))
	for i, b := range batches {
		o := mparticle.Delivered
		if f.decide != nil {
			o = f.decide(n, feed, b)
		}
		out[i] = mparticle.Result{Outcome: o, StatusCode: map[mparticle.Outcome]int{
			mparticle.Delivered: 202, mparticle.Permanent: 400, mparticle.AuthFailed: 403, mparticle.Retryable: 503,
		}[o], Attempts: 1}
		if o != mparticle.Delivered {
			out[i].Err = errors.New("mparticle said " + string(o))
		}
	}
	return out
}

type fakeDLQ struct {
	mu      sync.Mutex
	letters []DeadLetter
	err     error
}

func (f *fakeDLQ) Send(_ context.Context, dl DeadLetter) error {
	if f.err != nil {
		return f.err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.letters = append(f.letters, dl)
	return nil
}

type fakeHealth struct {
	mu   sync.Mutex
	sets []string
}

func (f *fakeHealth) SetHealth(_ context.Context, appID, id, health, lastError string, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets = append(f.sets, id+"="+health)
	return nil
}

const (
	appID      = "5b1a3c6e-2f4d-4e8a-9c1b-7d2e8f3a4b5c"
	iosPlatfID = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
)

func integ(id string, scope integration.Scope, platformID string, types ...event.Type) integration.Integration {
	if len(types) == 0 {
		types = event.AllTypes
	}
	return integration.Integration{
		ID: id, AppID: appID, Name: id, Enabled: true, Scope: scope, AppPlatformID: platformID,
		Platform: "ios", Pod: "US1", CustomerIDSource: integration.CustomerIDExternal,
		Events: types, SecretID: "nami-mparticle/" + appID + "/" + id,
	}
}

type harness struct {
	ins    *fakeIntegrations
	creds  *fakeCreds
	up     *fakeUploader
	dlq    *fakeDLQ
	health *fakeHealth
	logs   *bytes.Buffer
	h      *Handler
}

func newHarness(ins ...integration.Integration) *harness {
	hs := &harness{
		ins:    &fakeIntegrations{byApp: map[string][]integration.Integration{appID: ins}},
		creds:  &fakeCreds{values: []feedcreds.Credentials{{Key: testKey, Secret: testSecret}}},
		up:     &fakeUploader{},
		dlq:    &fakeDLQ{},
		health: &fakeHealth{},
		logs:   &bytes.Buffer{},
	}
	hs.h = New(Deps{
		Integrations: hs.ins, Credentials: hs.creds, Uploader: hs.up, DeadLetters: hs.dlq,
		Health: hs.health, Logger: slogJSON(hs.logs),
	}, Config{MaxConcurrentFeeds: 2})
	return hs
}

func failedIDs(r events.SQSEventResponse) []string {
	var ids []string
	for _, f := range r.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

func TestHandleVerdicts(t *testing.T) {
	purchased := func(t *testing.T) string { return eventtest.Body(t, event.SubscriptionPurchased, nil) }
	tests := []struct {
		name         string
		ins          []integration.Integration
		bodies       func(t *testing.T) []string
		decide       func(call int, feed mparticle.Feed, b mparticle.Batch) mparticle.Outcome
		wantFailed   []string
		wantErr      error
		wantLetters  []string // kinds
		wantUploads  int
		wantBatches  int
		wantUnhealth []string
	}{
		{
			name:        "delivered to one feed",
			ins:         []integration.Integration{integ("ios", integration.ScopePlatform, iosPlatfID)},
			bodies:      func(t *testing.T) []string { return []string{purchased(t)} },
			wantUploads: 1, wantBatches: 1,
		},
		{
			name: "invalid input goes to the DLQ and is acknowledged",
			ins:  []integration.Integration{integ("ios", integration.ScopePlatform, iosPlatfID)},
			bodies: func(t *testing.T) []string {
				return []string{"not json", purchased(t)}
			},
			wantLetters: []string{string(FailureInvalidInput)}, wantUploads: 1, wantBatches: 1,
		},
		{
			name: "no matching integration is acknowledged without upload",
			ins: []integration.Integration{
				integ("android", integration.ScopePlatform, "other-platform"),
				integ("only-impressions", integration.ScopeAllPlatforms, "", event.DeviceImpression),
			},
			bodies: func(t *testing.T) []string { return []string{purchased(t)} },
		},
		{
			name: "one event, a legacy and a platform integration: one batch each",
			ins: []integration.Integration{
				integ("ios", integration.ScopePlatform, iosPlatfID),
				integ("legacy", integration.ScopeAllPlatforms, ""),
			},
			bodies:      func(t *testing.T) []string { return []string{purchased(t)} },
			wantUploads: 2, wantBatches: 2,
		},
		{
			name: "permanent refusal by one feed dead-letters the message, the other feed still gets it",
			ins: []integration.Integration{
				integ("ios", integration.ScopePlatform, iosPlatfID),
				integ("legacy", integration.ScopeAllPlatforms, ""),
			},
			bodies: func(t *testing.T) []string { return []string{purchased(t)} },
			decide: func(_ int, feed mparticle.Feed, _ mparticle.Batch) mparticle.Outcome {
				if feed.ID == "legacy" {
					return mparticle.Permanent
				}
				return mparticle.Delivered
			},
			wantLetters: []string{string(FailureRejected)}, wantUploads: 2, wantBatches: 2,
		},
		{
			name:       "retryable failure reports the message, and all-retryable returns an error",
			ins:        []integration.Integration{integ("ios", integration.ScopePlatform, iosPlatfID)},
			bodies:     func(t *testing.T) []string { return []string{purchased(t)} },
			decide:     func(int, mparticle.Feed, mparticle.Batch) mparticle.Outcome { return mparticle.Retryable },
			wantFailed: []string{"msg-a"}, wantErr: ErrAllRetryable, wantUploads: 1, wantBatches: 1,
		},
		{
			name: "retryable and delivered in one batch: partial response, no error",
			ins:  []integration.Integration{integ("ios", integration.ScopePlatform, iosPlatfID)},
			bodies: func(t *testing.T) []string {
				return []string{purchased(t), eventtest.Body(t, event.SubscriptionRenewed, nil)}
			},
			decide: func(_ int, _ mparticle.Feed, b mparticle.Batch) mparticle.Outcome {
				if b.Events[0].Data.EventName == "renewed" {
					return mparticle.Retryable
				}
				return mparticle.Delivered
			},
			wantFailed: []string{"msg-b"}, wantUploads: 1, wantBatches: 2,
		},
		{
			name:   "refused credentials are read afresh once and the batch resent",
			ins:    []integration.Integration{integ("ios", integration.ScopePlatform, iosPlatfID)},
			bodies: func(t *testing.T) []string { return []string{purchased(t)} },
			decide: func(call int, _ mparticle.Feed, _ mparticle.Batch) mparticle.Outcome {
				if call == 0 {
					return mparticle.AuthFailed
				}
				return mparticle.Delivered
			},
			wantUploads: 2, wantBatches: 2,
		},
		{
			name:       "credentials refused twice: back to the queue, feed marked unhealthy",
			ins:        []integration.Integration{integ("ios", integration.ScopePlatform, iosPlatfID)},
			bodies:     func(t *testing.T) []string { return []string{purchased(t)} },
			decide:     func(int, mparticle.Feed, mparticle.Batch) mparticle.Outcome { return mparticle.AuthFailed },
			wantFailed: []string{"msg-a"}, wantErr: ErrAllRetryable, wantUploads: 2, wantBatches: 2,
			wantUnhealth: []string{"ios=unhealthy"},
		},
		{
			name: "a delivery to an unhealthy feed marks it healthy again",
			ins: func() []integration.Integration {
				in := integ("ios", integration.ScopePlatform, iosPlatfID)
				in.Health = integration.HealthUnhealthy
				return []integration.Integration{in}
			}(),
			bodies:      func(t *testing.T) []string { return []string{purchased(t)} },
			wantUploads: 1, wantBatches: 1, wantUnhealth: []string{"ios=ok"},
		},
		{
			name: "disabled integration and unselected event receive nothing",
			ins: func() []integration.Integration {
				off := integ("off", integration.ScopePlatform, iosPlatfID)
				off.Enabled = false
				return []integration.Integration{off, integ("renewals", integration.ScopePlatform, iosPlatfID, event.SubscriptionRenewed)}
			}(),
			bodies: func(t *testing.T) []string { return []string{purchased(t)} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(tt.ins...)
			hs.up.decide = tt.decide
			resp, err := hs.h.Handle(context.Background(), sqsEvent(tt.bodies(t)...))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got := failedIDs(resp); strings.Join(got, ",") != strings.Join(tt.wantFailed, ",") {
				t.Errorf("failed = %v, want %v", got, tt.wantFailed)
			}
			var kinds []string
			for _, l := range hs.dlq.letters {
				kinds = append(kinds, string(l.Kind))
				if l.Reason == "" || l.Body == "" {
					t.Errorf("dead letter without reason or body: %+v", l)
				}
			}
			if strings.Join(kinds, ",") != strings.Join(tt.wantLetters, ",") {
				t.Errorf("dead letters = %v, want %v", kinds, tt.wantLetters)
			}
			nb := 0
			for _, c := range hs.up.calls {
				nb += len(c.batches)
				if c.feed.Credentials.Key != testKey || c.feed.Credentials.Secret != testSecret {
					t.Errorf("upload without the feed's credentials")
				}
			}
			if len(hs.up.calls) != tt.wantUploads || nb != tt.wantBatches {
				t.Errorf("uploads = %d with %d batches, want %d with %d", len(hs.up.calls), nb, tt.wantUploads, tt.wantBatches)
			}
			if strings.Join(hs.health.sets, ",") != strings.Join(tt.wantUnhealth, ",") {
				t.Errorf("health = %v, want %v", hs.health.sets, tt.wantUnhealth)
			}
			assertNoLeaks(t, hs.logs.String())
		})
	}
}

func TestBatchesOfOneFeedShareBulkRequests(t *testing.T) {
	hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID))
	var bodies []string
	for _, typ := range event.AllTypes {
		bodies = append(bodies, eventtest.Body(t, typ, func(m map[string]any) { m["app_platform_id"] = iosPlatfID }))
	}
	resp, err := hs.h.Handle(context.Background(), sqsEvent(bodies...))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("err=%v failures=%v", err, resp.BatchItemFailures)
	}
	if len(hs.up.calls) != 1 || len(hs.up.calls[0].batches) != len(event.AllTypes) {
		t.Fatalf("want one upload of %d batches, got %d uploads", len(event.AllTypes), len(hs.up.calls))
	}
}

func TestRefusedCredentialsInvalidateCache(t *testing.T) {
	hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID))
	hs.creds.values = []feedcreds.Credentials{{Key: "old", Secret: "old"}, {Key: testKey, Secret: testSecret}}
	hs.up.decide = func(_ int, feed mparticle.Feed, _ mparticle.Batch) mparticle.Outcome {
		if feed.Credentials.Key == "old" {
			return mparticle.AuthFailed
		}
		return mparticle.Delivered
	}
	resp, err := hs.h.Handle(context.Background(), sqsEvent(eventtest.Body(t, event.SubscriptionPurchased, nil)))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("err=%v failures=%v", err, resp.BatchItemFailures)
	}
	if hs.creds.invalidated != 1 || hs.creds.reads != 2 {
		t.Fatalf("invalidated=%d reads=%d, want 1 and 2", hs.creds.invalidated, hs.creds.reads)
	}
}

func TestDependencyFailuresAreRetried(t *testing.T) {
	t.Run("integration lookup", func(t *testing.T) {
		hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID))
		hs.ins.err = errors.New("dynamodb down")
		resp, err := hs.h.Handle(context.Background(), sqsEvent(eventtest.Body(t, event.SubscriptionPurchased, nil)))
		if !errors.Is(err, ErrAllRetryable) || len(resp.BatchItemFailures) != 1 {
			t.Fatalf("err=%v failures=%v", err, resp.BatchItemFailures)
		}
	})
	t.Run("secret missing marks unhealthy", func(t *testing.T) {
		hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID))
		hs.creds.err = feedcreds.ErrNotFound
		resp, _ := hs.h.Handle(context.Background(), sqsEvent(eventtest.Body(t, event.SubscriptionPurchased, nil)))
		if len(resp.BatchItemFailures) != 1 || len(hs.up.calls) != 0 || len(hs.health.sets) != 1 {
			t.Fatalf("failures=%v uploads=%d health=%v", resp.BatchItemFailures, len(hs.up.calls), hs.health.sets)
		}
	})
	t.Run("dead-letter queue down keeps the message", func(t *testing.T) {
		hs := newHarness()
		hs.dlq.err = errors.New("sqs down")
		resp, _ := hs.h.Handle(context.Background(), sqsEvent("{bad"))
		if got := failedIDs(resp); len(got) != 1 || got[0] != "msg-a" {
			t.Fatalf("failures=%v", got)
		}
	})
}

func TestDeadlineNearStopsStartingFeeds(t *testing.T) {
	hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID))
	hs.h.cfg.DeadlineMargin = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	resp, err := hs.h.Handle(ctx, sqsEvent(eventtest.Body(t, event.SubscriptionPurchased, nil)))
	if !errors.Is(err, ErrAllRetryable) || len(resp.BatchItemFailures) != 1 || len(hs.up.calls) != 0 {
		t.Fatalf("err=%v failures=%v uploads=%d", err, resp.BatchItemFailures, len(hs.up.calls))
	}
}

// assertNoLeaks fails if a log holds a credential or a raw user identifier of the samples.
func assertNoLeaks(t *testing.T, logs string) {
	t.Helper()
	for _, s := range []string{testKey, testSecret, "acct_48213377", "c0ffee00-1234-4abc-8def-0123456789ab"} {
		if strings.Contains(logs, s) {
			t.Fatalf("log output contains %q", s)
		}
	}
}
