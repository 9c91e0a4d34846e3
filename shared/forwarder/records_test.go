package forwarder

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/namiml/mparticle-bridge/shared/deliverystore"
	"github.com/namiml/mparticle-bridge/shared/deliverystore/storetest"
	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/transform"
)

// meteredRecords is the in-memory delivery table counting the items read and written, the
// DynamoDB cost of a policy.
type meteredRecords struct {
	*storetest.Memory
	mu      sync.Mutex
	read    []string
	written []string
}

func newMeteredRecords() *meteredRecords {
	return &meteredRecords{Memory: storetest.NewMemory(time.Hour, nil)}
}

func (m *meteredRecords) Delivered(ctx context.Context, keys []string) (map[string]bool, error) {
	m.mu.Lock()
	m.read = append(m.read, keys...)
	m.mu.Unlock()
	return m.Memory.Delivered(ctx, keys)
}

func (m *meteredRecords) Record(ctx context.Context, keys []string) error {
	m.mu.Lock()
	m.written = append(m.written, keys...)
	m.mu.Unlock()
	return m.Memory.Record(ctx, keys)
}

// purchases returns n purchase events with distinct ids, and their ids.
func purchases(t *testing.T, n int) ([]string, []string) {
	var bodies, ids []string
	for i := range n {
		id := fmt.Sprintf("6a1e0000-0000-4000-8000-%012x", i+1)
		bodies = append(bodies, eventtest.Body(t, event.SubscriptionPurchased, func(m map[string]any) { m["id"] = id }))
		ids = append(ids, id)
	}
	return bodies, ids
}

func keysOf(ids []string, feeds ...string) []string {
	var keys []string
	for _, id := range ids {
		for _, f := range feeds {
			keys = append(keys, deliverystore.Key(id, f))
		}
	}
	return keys
}

func sorted(keys []string) []string {
	return slices.Sorted(maps.Keys(func() map[string]bool {
		m := map[string]bool{}
		for _, k := range keys {
			m[k] = true
		}
		return m
	}()))
}

// Each policy reads and writes the delivery records it promises, and a message handed
// back skips, on its next receive, what its earlier receive delivered.
func TestRecordPolicies(t *testing.T) {
	const n = 3
	bodies, ids := purchases(t, n)
	ios := integ("ios", integration.ScopePlatform, iosPlatfID)
	legacy := integ("legacy", integration.ScopeAllPlatforms, "")
	all := keysOf(ids, "ios", "legacy")
	iosKeys, legacyKeys := keysOf(ids, "ios"), keysOf(ids, "legacy")
	legacyFails := func(o mparticle.Outcome) func(int, mparticle.Feed, mparticle.Batch) mparticle.Outcome {
		return func(_ int, f mparticle.Feed, _ mparticle.Batch) mparticle.Outcome {
			if f.ID == "legacy" {
				return o
			}
			return mparticle.Delivered
		}
	}
	type want struct {
		read, written []string
		sentTo        map[string]int // batches uploaded per feed
		failed        int
	}
	tests := []struct {
		name string
		// ins are in the order their feeds start (one slot): the failing feed before or
		// after the one that delivers.
		ins      []integration.Integration
		recorded []string // records made by an earlier receive
		receive  func(in events.SQSEvent) events.SQSEvent
		decide   func(int, mparticle.Feed, mparticle.Batch) mparticle.Outcome
		want     map[RecordPolicy]want
	}{
		{
			name: "first receive, all delivered",
			ins:  []integration.Integration{ios, legacy},
			want: map[RecordPolicy]want{
				RecordsRetries: {sentTo: map[string]int{"ios": n, "legacy": n}},
				RecordsAll:     {read: all, written: all, sentTo: map[string]int{"ios": n, "legacy": n}},
				RecordsOff:     {sentTo: map[string]int{"ios": n, "legacy": n}},
			},
		},
		{
			name:   "first receive, a feed fails after the other delivered: the successes are recorded",
			ins:    []integration.Integration{ios, legacy},
			decide: legacyFails(mparticle.Retryable),
			want: map[RecordPolicy]want{
				RecordsRetries: {written: iosKeys, sentTo: map[string]int{"ios": n, "legacy": n}, failed: n},
				RecordsAll:     {read: all, written: iosKeys, sentTo: map[string]int{"ios": n, "legacy": n}, failed: n},
				RecordsOff:     {sentTo: map[string]int{"ios": n, "legacy": n}, failed: n},
			},
		},
		{
			name:   "first receive, a feed fails before the other delivers: the successes are recorded",
			ins:    []integration.Integration{legacy, ios},
			decide: legacyFails(mparticle.Retryable),
			want: map[RecordPolicy]want{
				RecordsRetries: {written: iosKeys, sentTo: map[string]int{"ios": n, "legacy": n}, failed: n},
				RecordsAll:     {read: all, written: iosKeys, sentTo: map[string]int{"ios": n, "legacy": n}, failed: n},
				RecordsOff:     {sentTo: map[string]int{"ios": n, "legacy": n}, failed: n},
			},
		},
		{
			name:   "refused for good by a feed: the other's deliveries are recorded for a replay",
			ins:    []integration.Integration{ios, legacy},
			decide: legacyFails(mparticle.Permanent),
			want: map[RecordPolicy]want{
				RecordsRetries: {written: iosKeys, sentTo: map[string]int{"ios": n, "legacy": n}},
				RecordsAll:     {read: all, written: iosKeys, sentTo: map[string]int{"ios": n, "legacy": n}},
				RecordsOff:     {sentTo: map[string]int{"ios": n, "legacy": n}},
			},
		},
		{
			name:     "second receive after a partial failure: the recorded deliveries are skipped",
			ins:      []integration.Integration{ios, legacy},
			recorded: iosKeys,
			receive:  func(in events.SQSEvent) events.SQSEvent { return withReceiveCount(in, 2) },
			want: map[RecordPolicy]want{
				RecordsRetries: {read: all, sentTo: map[string]int{"legacy": n}},
				RecordsAll:     {read: all, written: legacyKeys, sentTo: map[string]int{"legacy": n}},
				// Without records the iOS batches go again, for mParticle to drop.
				RecordsOff: {sentTo: map[string]int{"ios": n, "legacy": n}},
			},
		},
		{
			name:     "receive count missing: looked up, the safe side",
			ins:      []integration.Integration{ios, legacy},
			recorded: iosKeys,
			receive: func(in events.SQSEvent) events.SQSEvent {
				for i := range in.Records {
					in.Records[i].Attributes = nil
				}
				return in
			},
			want: map[RecordPolicy]want{
				RecordsRetries: {read: all, sentTo: map[string]int{"legacy": n}},
				RecordsAll:     {read: all, written: legacyKeys, sentTo: map[string]int{"legacy": n}},
				RecordsOff:     {sentTo: map[string]int{"ios": n, "legacy": n}},
			},
		},
		{
			name:     "a dead letter replayed with a fresh receive count: looked up",
			ins:      []integration.Integration{ios, legacy},
			recorded: iosKeys,
			receive: func(in events.SQSEvent) events.SQSEvent {
				kind := string(FailureRejected)
				for i := range in.Records {
					in.Records[i].MessageAttributes = map[string]events.SQSMessageAttribute{
						AttrFailureKind: {DataType: "String", StringValue: &kind}}
				}
				return in
			},
			want: map[RecordPolicy]want{
				RecordsRetries: {read: all, sentTo: map[string]int{"legacy": n}},
				RecordsAll:     {read: all, written: legacyKeys, sentTo: map[string]int{"legacy": n}},
				RecordsOff:     {sentTo: map[string]int{"ios": n, "legacy": n}},
			},
		},
		{
			name:     "one redelivered message among first receives: only its deliveries are looked up",
			ins:      []integration.Integration{ios, legacy},
			recorded: keysOf(ids[:1], "ios"),
			receive: func(in events.SQSEvent) events.SQSEvent {
				in.Records[0].Attributes = map[string]string{"ApproximateReceiveCount": "2"}
				return in
			},
			want: map[RecordPolicy]want{
				RecordsRetries: {read: keysOf(ids[:1], "ios", "legacy"), sentTo: map[string]int{"ios": n - 1, "legacy": n}},
				RecordsAll: {read: all, written: append(keysOf(ids[1:], "ios"), legacyKeys...),
					sentTo: map[string]int{"ios": n - 1, "legacy": n}},
				RecordsOff: {sentTo: map[string]int{"ios": n, "legacy": n}},
			},
		},
	}
	for _, tc := range tests {
		for _, policy := range RecordPolicies {
			t.Run(tc.name+"/"+string(policy), func(t *testing.T) {
				w, ok := tc.want[policy]
				if !ok {
					t.Fatalf("no expectation for policy %s", policy)
				}
				hs := newHarness(tc.ins...)
				store := newMeteredRecords()
				if err := store.Memory.Record(context.Background(), tc.recorded); err != nil {
					t.Fatal(err)
				}
				hs.h.deps.Deliveries = store
				hs.h.cfg.Records = policy
				hs.h.cfg.MaxConcurrentFeeds = 1 // feeds in the order of tc.ins
				hs.up.decide = tc.decide
				in := sqsEvent(bodies...)
				if tc.receive != nil {
					in = tc.receive(in)
				}
				resp, sum, err := hs.h.handle(context.Background(), in)
				if err != nil && !errors.Is(err, ErrAllRetryable) {
					t.Fatal(err)
				}
				if len(resp.BatchItemFailures) != w.failed {
					t.Errorf("%d messages handed back, want %d", len(resp.BatchItemFailures), w.failed)
				}
				if got, want := sorted(store.read), sorted(w.read); !slices.Equal(got, want) {
					t.Errorf("records read %v, want %v", got, want)
				}
				if got, want := sorted(store.written), sorted(w.written); !slices.Equal(got, want) {
					t.Errorf("records written %v, want %v", got, want)
				}
				if len(store.written) != len(w.written) {
					t.Errorf("%d records written, want each once (%d)", len(store.written), len(w.written))
				}
				if sum.RecordsRead != len(w.read) || sum.RecordsWritten != len(w.written) {
					t.Errorf("summary records read %d written %d, want %d and %d", sum.RecordsRead, sum.RecordsWritten, len(w.read), len(w.written))
				}
				sent := map[string]int{}
				for _, c := range hs.up.calls {
					sent[c.feed.ID] += len(c.batches)
				}
				if !maps.Equal(sent, w.sentTo) {
					t.Errorf("batches sent per feed %v, want %v", sent, w.sentTo)
				}
				if policy == RecordsOff && (len(store.read) != 0 || len(store.written) != 0) {
					t.Errorf("policy off touched the store")
				}
			})
		}
	}
}

// A twin of a redelivered message in the same batch makes its event looked up, whichever
// of the two came first.
func TestRedeliveredTwinIsLookedUp(t *testing.T) {
	bodies, ids := purchases(t, 1)
	hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID))
	store := newMeteredRecords()
	_ = store.Memory.Record(context.Background(), keysOf(ids, "ios"))
	hs.h.deps.Deliveries = store
	in := sqsEvent(bodies[0], bodies[0])
	in.Records[1].Attributes = map[string]string{"ApproximateReceiveCount": "4"}
	resp, err := hs.h.Handle(context.Background(), in)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("err=%v failures=%v", err, resp.BatchItemFailures)
	}
	if len(store.read) != 1 || len(hs.up.calls) != 0 {
		t.Fatalf("read %v, uploads %d: want the event looked up and not sent again", store.read, len(hs.up.calls))
	}
}

// An invocation that dies after its upload (before answering SQS) leaves no record under
// RecordsRetries or RecordsOff for a message it had delivered in full: the message comes
// back and is sent again, byte for byte, with the source_request_id mParticle deduplicates
// on. Under RecordsAll the record written at the confirmation makes the resend skip it.
func TestCrashAfterUploadResendsTheSameSourceRequestID(t *testing.T) {
	bodies, ids := purchases(t, 2)
	for _, policy := range RecordPolicies {
		t.Run(string(policy), func(t *testing.T) {
			hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID))
			store := newMeteredRecords()
			hs.h.deps.Deliveries = store
			hs.h.cfg.Records = policy
			// The first receive's answer is lost: the process died after its upload.
			_, _ = hs.h.Handle(context.Background(), sqsEvent(bodies...))
			first := len(hs.up.calls)
			resp, err := hs.h.Handle(context.Background(), withReceiveCount(sqsEvent(bodies...), 2))
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("err=%v failures=%v", err, resp.BatchItemFailures)
			}
			var again []mparticle.Batch
			for _, c := range hs.up.calls[first:] {
				again = append(again, c.batches...)
			}
			if policy == RecordsAll {
				if len(again) != 0 {
					t.Fatalf("%d batches sent again though their deliveries were recorded", len(again))
				}
				return
			}
			if len(again) != len(ids) {
				t.Fatalf("%d batches sent again, want %d", len(again), len(ids))
			}
			var before []mparticle.Batch
			for _, c := range hs.up.calls[:first] {
				before = append(before, c.batches...)
			}
			for i, b := range again {
				want := transform.SourceRequestID(ids[i], "ios")
				if b.SourceRequestID != want || before[i].SourceRequestID != want {
					t.Errorf("event %s: source_request_id %q then %q, want %q both times", ids[i], before[i].SourceRequestID, b.SourceRequestID, want)
				}
				x, err := mparticle.AppendBatch(nil, &before[i])
				if err != nil {
					t.Fatal(err)
				}
				y, err := mparticle.AppendBatch(nil, &b)
				if err != nil {
					t.Fatal(err)
				}
				if string(x) != string(y) {
					t.Errorf("event %s: the resend is not byte-identical", ids[i])
				}
			}
		})
	}
}

func TestParseRecordPolicy(t *testing.T) {
	for in, want := range map[string]RecordPolicy{"": RecordsRetries, "retries": RecordsRetries, "all": RecordsAll, "off": RecordsOff} {
		if got, err := ParseRecordPolicy(in); err != nil || got != want {
			t.Errorf("ParseRecordPolicy(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"Off", "none", "retry"} {
		if _, err := ParseRecordPolicy(in); err == nil {
			t.Errorf("ParseRecordPolicy(%q) accepted", in)
		}
	}
	// A policy New does not know gets the one leaning least on mParticle's deduplication.
	if h := New(Deps{}, Config{Records: "sometimes"}); h.cfg.Records != RecordsAll {
		t.Errorf("unknown policy became %q, want all", h.cfg.Records)
	}
	if h := New(Deps{}, Config{}); h.cfg.Records != RecordsRetries {
		t.Errorf("empty policy became %q, want retries", h.cfg.Records)
	}
}
