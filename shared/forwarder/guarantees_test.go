package forwarder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/deliverystore"
	"github.com/namiml/mparticle-bridge/shared/deliverystore/storetest"
	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/metrics"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// countedDeliveries is the in-memory delivery table, counting lookups; err makes them fail.
type countedDeliveries struct {
	*storetest.Memory
	mu      sync.Mutex
	lookups int
	err     error
}

func (c *countedDeliveries) Delivered(ctx context.Context, keys []string) (map[string]bool, error) {
	c.mu.Lock()
	c.lookups++
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return c.Memory.Delivered(ctx, keys)
}

type fakeVisibility struct {
	mu       sync.Mutex
	extended map[string]time.Duration
}

func (f *fakeVisibility) Delay(_ context.Context, delays []Delay) []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range delays {
		f.extended[d.Msg.MessageId] = d.D
	}
	return make([]error, len(delays))
}

func TestRedeliveredEventIsNotSentAgain(t *testing.T) {
	hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID), integ("legacy", integration.ScopeAllPlatforms, ""))
	mem := &countedDeliveries{Memory: storetest.NewMemory(time.Hour, nil)}
	hs.h.deps.Deliveries = mem
	// The legacy feed fails retryably the first time, so the message comes back.
	hs.up.decide = func(call int, feed mparticle.Feed, _ mparticle.Batch) mparticle.Outcome {
		if feed.ID == "legacy" && call < 2 {
			return mparticle.Retryable
		}
		return mparticle.Delivered
	}
	in := sqsEvent(eventtest.Body(t, event.SubscriptionPurchased, nil), eventtest.Body(t, event.SubscriptionRenewed, nil))
	resp, err := hs.h.Handle(context.Background(), in)
	if !errors.Is(err, ErrAllRetryable) {
		t.Fatalf("err = %v, want ErrAllRetryable", err)
	}
	if len(resp.BatchItemFailures) != 2 {
		t.Fatalf("first pass failures = %v, want both (legacy retryable)", resp.BatchItemFailures)
	}
	var keys []string
	for _, r := range in.Records {
		var ev struct{ ID string }
		if err := json.Unmarshal([]byte(r.Body), &ev); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, deliverystore.Key(ev.ID, "ios"), deliverystore.Key(ev.ID, "legacy"))
	}
	if got, _ := mem.Memory.Delivered(context.Background(), keys); len(got) != 2 || !got[keys[0]] || !got[keys[2]] {
		t.Fatalf("recorded %v, want the 2 iOS deliveries", got)
	}
	// SQS hands the messages back: their receive count is 2.
	in = withReceiveCount(in, 2)
	before := len(hs.up.calls)
	resp, err = hs.h.Handle(context.Background(), in)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("second pass err=%v failures=%v", err, resp.BatchItemFailures)
	}
	for _, c := range hs.up.calls[before:] {
		if c.feed.ID == "ios" {
			t.Fatalf("redelivered event was sent to the iOS feed again")
		}
	}
	if mem.lookups != 1 {
		t.Fatalf("lookups = %d, want none on the first receive and one on the second", mem.lookups)
	}
	// The second pass acknowledged both messages in full, so (default policy) it recorded
	// nothing more: a third receive of them (SQS at least once) sends the legacy batches
	// again, with their source_request_id, and nothing to the iOS feed.
	in = withReceiveCount(in, 3)
	before = len(hs.up.calls)
	if _, err := hs.h.Handle(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	for _, c := range hs.up.calls[before:] {
		if c.feed.ID == "ios" {
			t.Fatalf("a delivery recorded for a retried message was uploaded again")
		}
	}
}

func TestDeliveryRecordOutageStillSends(t *testing.T) {
	hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID))
	hs.h.deps.Deliveries = &countedDeliveries{Memory: storetest.NewMemory(time.Hour, nil), err: errors.New("dynamodb throttled")}
	resp, err := hs.h.Handle(context.Background(), sqsEvent(eventtest.Body(t, event.SubscriptionPurchased, nil)))
	if err != nil || len(resp.BatchItemFailures) != 0 || len(hs.up.calls) != 1 {
		t.Fatalf("err=%v failures=%v uploads=%d", err, resp.BatchItemFailures, len(hs.up.calls))
	}
}

// throttlingUploader answers 429 with a long Retry-After for one feed.
type throttlingUploader struct {
	fakeUploader
	feed  string
	after time.Duration
}

func (u *throttlingUploader) Upload(ctx context.Context, feed mparticle.Feed, batches []mparticle.Batch) []mparticle.Result {
	out := u.fakeUploader.Upload(ctx, feed, batches)
	if feed.ID == u.feed {
		for i := range out {
			out[i] = mparticle.Result{Outcome: mparticle.Retryable, StatusCode: 429, RetryAfter: u.after, Attempts: 1, Err: errors.New("429")}
		}
	}
	return out
}

func TestThrottledFeedCoolsDownWithoutHoldingOthers(t *testing.T) {
	hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID), integ("legacy", integration.ScopeAllPlatforms, ""))
	up := &throttlingUploader{feed: "legacy", after: 90 * time.Second}
	vis := &fakeVisibility{extended: map[string]time.Duration{}}
	now := time.Unix(1_700_000_000, 0)
	hs.h.deps.Uploader, hs.h.deps.Visibility, hs.h.deps.Now = up, vis, func() time.Time { return now }
	in := sqsEvent(eventtest.Body(t, event.SubscriptionPurchased, nil))

	resp, _ := hs.h.Handle(context.Background(), in)
	if len(resp.BatchItemFailures) != 1 {
		t.Fatalf("failures = %v, want the message back", resp.BatchItemFailures)
	}
	if got := vis.extended["msg-a"]; got != 90*time.Second {
		t.Fatalf("visibility extended by %s, want the Retry-After 90s", got)
	}
	// Within the wait, the throttled feed is not called at all; the other feed still is.
	now = now.Add(30 * time.Second)
	calls := len(up.calls)
	resp, _ = hs.h.Handle(context.Background(), in)
	var feeds []string
	for _, c := range up.calls[calls:] {
		feeds = append(feeds, c.feed.ID)
	}
	if len(feeds) != 1 || feeds[0] != "ios" {
		t.Fatalf("uploads during cool-down went to %v, want only ios", feeds)
	}
	if got := vis.extended["msg-a"]; got != 60*time.Second {
		t.Fatalf("visibility extended by %s, want the remaining 60s", got)
	}
	if len(resp.BatchItemFailures) != 1 {
		t.Fatalf("failures = %v", resp.BatchItemFailures)
	}
	// After the wait the feed is tried again.
	now = now.Add(61 * time.Second)
	calls = len(up.calls)
	_, _ = hs.h.Handle(context.Background(), in)
	if len(up.calls)-calls != 2 {
		t.Fatalf("after cool-down %d uploads, want 2", len(up.calls)-calls)
	}
}

func TestEmbeddedMetricsCountOutcomes(t *testing.T) {
	hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID), integ("legacy", integration.ScopeAllPlatforms, ""))
	var buf bytes.Buffer
	hs.h.deps.Metrics = metrics.New(&buf, "Test")
	hs.up.decide = func(_ int, feed mparticle.Feed, _ mparticle.Batch) mparticle.Outcome {
		if feed.ID == "legacy" {
			return mparticle.Permanent
		}
		return mparticle.Delivered
	}
	_, err := hs.h.Handle(context.Background(), sqsEvent(eventtest.Body(t, event.SubscriptionPurchased, nil), "not json"))
	if err != nil {
		t.Fatal(err)
	}
	// The first line holds the service-wide totals.
	line, _, _ := bytes.Cut(buf.Bytes(), []byte("\n"))
	var doc map[string]any
	if err := json.Unmarshal(line, &doc); err != nil {
		t.Fatalf("EMF line: %v: %s", err, line)
	}
	want := map[string]float64{"Delivered": 1, "Invalid": 1, "DeadLettered": 2, "Retried": 0}
	for name, v := range want {
		if got, _ := doc[name].(float64); got != v {
			t.Errorf("%s = %v, want %v (line %s)", name, doc[name], v, line)
		}
	}
	if _, ok := doc["_aws"]; !ok {
		t.Error("not an EMF document")
	}
}

func TestSameEventTwiceInOneBatchIsSentOnce(t *testing.T) {
	body := eventtest.Body(t, event.SubscriptionPurchased, nil)
	t.Run("delivered", func(t *testing.T) {
		hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID))
		resp, err := hs.h.Handle(context.Background(), sqsEvent(body, body))
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("err=%v failures=%v", err, resp.BatchItemFailures)
		}
		if len(hs.up.calls) != 1 || len(hs.up.calls[0].batches) != 1 {
			t.Fatalf("uploads = %d, want one batch once", len(hs.up.calls))
		}
	})
	t.Run("retried together", func(t *testing.T) {
		hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID))
		hs.up.decide = func(int, mparticle.Feed, mparticle.Batch) mparticle.Outcome { return mparticle.Retryable }
		resp, err := hs.h.Handle(context.Background(), sqsEvent(body, body))
		if !errors.Is(err, ErrAllRetryable) || len(resp.BatchItemFailures) != 2 {
			t.Fatalf("err=%v failures=%v, want both back", err, resp.BatchItemFailures)
		}
	})
	t.Run("rejected: one dead letter", func(t *testing.T) {
		hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID))
		hs.up.decide = func(int, mparticle.Feed, mparticle.Batch) mparticle.Outcome { return mparticle.Permanent }
		resp, err := hs.h.Handle(context.Background(), sqsEvent(body, body))
		if err != nil || len(resp.BatchItemFailures) != 0 || len(hs.dlq.letters) != 1 {
			t.Fatalf("err=%v failures=%v letters=%d", err, resp.BatchItemFailures, len(hs.dlq.letters))
		}
	})
}

// pctUploader reports the feed at a given share of its mParticle rate limit.
type pctUploader struct {
	fakeUploader
	pct int
}

func (u *pctUploader) Upload(ctx context.Context, feed mparticle.Feed, batches []mparticle.Batch) []mparticle.Result {
	out := u.fakeUploader.Upload(ctx, feed, batches)
	for i := range out {
		out[i].RateLimitPercentUsed = u.pct
	}
	return out
}

func TestPacingByRateLimitPercentUsed(t *testing.T) {
	hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID))
	up := &pctUploader{pct: 95}
	var slept []time.Duration
	now := time.Unix(1_700_000_000, 0)
	hs.h.deps.Uploader, hs.h.deps.Now = up, func() time.Time { return now }
	hs.h.deps.Sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	in := sqsEvent(eventtest.Body(t, event.SubscriptionPurchased, nil))

	if _, err := hs.h.Handle(context.Background(), in); err != nil || len(slept) != 0 {
		t.Fatalf("first upload: err=%v slept=%v", err, slept)
	}
	// At 95% of the limit the next upload to the feed waits 750 ms first.
	if _, err := hs.h.Handle(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if len(slept) != 1 || slept[0] != 750*time.Millisecond {
		t.Fatalf("slept %v, want [750ms]", slept)
	}
	// Too close to the deadline to wait: the message goes back instead. The handler's clock
	// is put just before the (real) deadline, so the outcome does not hang on timing.
	calls := len(up.calls)
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(30*time.Second))
	defer cancel()
	hs.h.cfg.DeadlineMargin = 2 * time.Second
	late := time.Now().Add(29 * time.Second)
	hs.h.deps.Now = func() time.Time { return late }
	hs.h.pace("ios", 95)
	resp, _ := hs.h.Handle(ctx, in)
	if len(resp.BatchItemFailures) != 1 || len(up.calls) != calls {
		t.Fatalf("failures=%v uploads=%d, want the message back and no upload", resp.BatchItemFailures, len(up.calls)-calls)
	}
	if !strings.Contains(hs.logs.String(), `"reason":"pacing"`) {
		t.Fatalf("the message was not held back by pacing: %s", hs.logs.String())
	}
	// Once the feed reports room again, pacing stops.
	up.pct = 40
	hs.h.pace("ios", 40)
	slept = nil
	if _, err := hs.h.Handle(context.Background(), in); err != nil || len(slept) != 0 {
		t.Fatalf("err=%v slept=%v", err, slept)
	}
}

func TestPaceDelay(t *testing.T) {
	for pct, want := range map[int]time.Duration{-1: 0, 50: 0, 79: 0, 80: 0, 90: 500 * time.Millisecond, 100: time.Second, 120: time.Second} {
		if got := paceDelay(pct); got != want {
			t.Errorf("paceDelay(%d) = %s, want %s", pct, got, want)
		}
	}
}
