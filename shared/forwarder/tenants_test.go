package forwarder

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
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
	"github.com/namiml/mparticle-bridge/shared/testkit/mpserver"
)

// maxIntegrationsPerApp is the Integrations API's default cap of enabled integrations per
// app: the widest fan-out one app's event can have.
const maxIntegrationsPerApp = 20

// functionMemory is the Forwarder's MemorySize in template.yaml (MB).
const functionMemory = 128 << 20

// tenant is one app of a multi-tenant test: its integrations, each one feed of the contract
// server with its own key.
type tenant struct {
	id    string
	feeds []integration.Integration
}

func newTenant(n int, name string, feeds int) tenant {
	tn := tenant{id: fmt.Sprintf("a%07d-0000-4000-8000-%012d", n, n)}
	for i := range feeds {
		id := fmt.Sprintf("%s-feed-%02d", name, i)
		tn.feeds = append(tn.feeds, integration.Integration{
			ID: id, AppID: tn.id, Name: id, Enabled: true, Scope: integration.ScopeAllPlatforms,
			Platform: "ios", CustomerIDSource: integration.CustomerIDExternal, Events: event.AllTypes,
			SecretID: "nami-mparticle/" + tn.id + "/" + id,
		})
	}
	return tn
}

// keyOf is the contract server's key of a feed: its integration id, so a server wrapper can
// tell the tenants' requests apart.
func keyOf(secretID string) string { return secretID[strings.LastIndex(secretID, "/")+1:] }

// secretPerFeed hands each feed its own key (keyOf its secret id).
type secretPerFeed struct{}

func (secretPerFeed) Get(_ context.Context, secretID, _ string) (feedcreds.Credentials, error) {
	return feedcreds.Credentials{Key: keyOf(secretID), Secret: "secret-of-" + keyOf(secretID)}, nil
}
func (secretPerFeed) Invalidate(string) {}

// messages are n SQS messages of tenant tn's events (cycling through the event types), ids
// from first on, received for the first time.
func (tn tenant) messages(t *testing.T, first, n int) []events.SQSMessage {
	t.Helper()
	out := make([]events.SQSMessage, n)
	for i := range out {
		seq := first + i
		body := eventtest.Body(t, event.AllTypes[seq%len(event.AllTypes)], func(m map[string]any) {
			m["id"], m["app_id"] = fmt.Sprintf("e%07d-0000-4000-8000-%012d", seq, seq), tn.id
			m["occurred_at"] = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		})
		out[i] = events.SQSMessage{MessageId: fmt.Sprintf("m-%s-%05d", tn.id[:8], seq), Body: body,
			Attributes: map[string]string{"ApproximateReceiveCount": "1"}, EventSourceARN: "arn:aws:sqs:us-east-1:000000000000:events"}
	}
	return out
}

// slowFor delays, by d, each request authenticated with a key that slow accepts, before the
// contract server sees it (or until the client gives up): a feed whose endpoint is slow.
func slowFor(h http.Handler, d time.Duration, slow func(key string) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if key, _, _ := r.BasicAuth(); slow(key) {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// One app at the cap of enabled integrations, every one of its feeds slow, shares an SQS
// batch with other apps' messages, and its messages come first. The others are all
// delivered within the invocation; the big app's feeds that could not start are handed back
// to SQS with the usual backoff, none dead-lettered.
func TestBigSlowTenantDoesNotDelayOthers(t *testing.T) {
	big := newTenant(1, "big", maxIntegrationsPerApp)
	small := []tenant{newTenant(2, "small-b", 1), newTenant(3, "small-c", 2), newTenant(4, "small-d", 1)}

	mp := mpserver.New(mpserver.Options{})
	ins := &fakeIntegrations{byApp: map[string][]integration.Integration{}}
	for _, tn := range append([]tenant{big}, small...) {
		ins.byApp[tn.id] = tn.feeds
		for _, f := range tn.feeds {
			mp.AddFeed(keyOf(f.SecretID), "secret-of-"+keyOf(f.SecretID), f.ID)
		}
	}
	const slowness = 1500 * time.Millisecond
	srv := httptest.NewServer(slowFor(mp, slowness, func(key string) bool { return strings.HasPrefix(key, "big-") }))
	defer srv.Close()
	client, err := mparticle.New(mparticle.Options{BaseURL: srv.URL + mpserver.PartnerPrefix})
	if err != nil {
		t.Fatal(err)
	}
	dlq := &fakeDLQ{}
	vis := &recordedVisibility{delays: map[string]time.Duration{}}
	var logs strings.Builder
	var logMu sync.Mutex
	h := New(Deps{
		Integrations: ins, Credentials: secretPerFeed{}, Uploader: client, DeadLetters: dlq, Visibility: vis,
		Logger: slogJSON(lockedWriter{&logMu, &logs}),
	}, Config{DeadlineMargin: 500 * time.Millisecond}) // the default 8 feeds at a time

	in := events.SQSEvent{Records: big.messages(t, 0, 30)}
	var others []string
	for i, tn := range small {
		msgs := tn.messages(t, 1000*(i+1), 5)
		for _, m := range msgs {
			others = append(others, m.MessageId)
		}
		in.Records = append(in.Records, msgs...)
	}

	// Time for one round of the big app's feeds, not two: it cannot finish.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	resp, sum, err := h.handle(ctx, in)
	took := time.Since(start)
	if took > 3*time.Second {
		t.Errorf("the invocation took %s, past its deadline", took)
	}

	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	for _, id := range others {
		if failed[id] {
			t.Errorf("message %s of a small app was handed back", id)
		}
	}
	st := mp.Stats()
	for _, tn := range small {
		for _, f := range tn.feeds {
			if got := st.Feeds[f.ID].Batches; got != 5 {
				t.Errorf("feed %s received %d batches, want its app's 5", f.ID, got)
			}
		}
	}
	// Every big-app message is needed by all 20 feeds, and not all could run: each goes back.
	for _, m := range in.Records[:30] {
		if !failed[m.MessageId] {
			t.Errorf("big-app message %s acknowledged, though not every feed was sent", m.MessageId)
		}
		if want := RetryVisibility(DefaultBackoffUnit, 1, 0); vis.delays[m.MessageId] != want {
			t.Errorf("big-app message %s hidden for %s, want its backoff %s", m.MessageId, vis.delays[m.MessageId], want)
		}
	}
	if len(dlq.letters) != 0 || sum.DeadLettered != 0 {
		t.Errorf("%d dead letters, want none", len(dlq.letters))
	}
	if err != nil {
		t.Errorf("err = %v: the small apps' messages were delivered", err)
	}
	logMu.Lock()
	notStarted := strings.Count(logs.String(), `"outcome":"not_started"`)
	logMu.Unlock()
	if notStarted == 0 {
		t.Errorf("no delivery of the big app ended not_started")
	}
	t.Logf("invocation took %s: %d delivered, %d handed back, %d deliveries not started", took.Round(time.Millisecond),
		sum.Delivered, len(resp.BatchItemFailures), notStarted)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// acceptAll answers every upload 202 after reading it, keeping nothing, so that the heap
// measured below is the forwarder's alone.
func acceptAll(requests *int64, mu *sync.Mutex) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		*requests++
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	})
}

// peakHeap samples the bytes of heap objects (live, or dead and not yet swept) until stop
// is closed, and returns the highest value seen.
func peakHeap(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// A batch of 1,000 messages of one app fanning out to 20 feeds (20,000 batches) stays well
// under the function's memory: batches are built feed by feed as the feeds are sent, not
// all before the first upload.
func TestFanOutHeapStaysWellUnderMemorySize(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector's own allocations would be measured")
	}
	big := newTenant(1, "big", maxIntegrationsPerApp)
	var requests int64
	var mu sync.Mutex
	srv := httptest.NewServer(acceptAll(&requests, &mu))
	defer srv.Close()
	client, err := mparticle.New(mparticle.Options{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	h := New(Deps{
		Integrations: &fakeIntegrations{byApp: map[string][]integration.Integration{big.id: big.feeds}},
		Credentials:  secretPerFeed{}, Uploader: client, DeadLetters: &fakeDLQ{},
	}, Config{})
	in := events.SQSEvent{Records: big.messages(t, 0, 1000)}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := make(chan struct{})
	peak := peakHeap(stop)
	resp, sum, err := h.handle(ctx, in)
	close(stop)
	top := <-peak
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if err != nil || len(resp.BatchItemFailures) != 0 || sum.Delivered != 1000*maxIntegrationsPerApp {
		t.Fatalf("err=%v failures=%d delivered=%d, want all %d", err, len(resp.BatchItemFailures), sum.Delivered, 1000*maxIntegrationsPerApp)
	}
	grew := top - min(top, before.HeapAlloc)
	t.Logf("1,000 messages x %d feeds: heap %.1f MB before, peak %.1f MB (+%.1f MB), %.1f MB allocated in all, %d requests",
		maxIntegrationsPerApp, mb(before.HeapAlloc), mb(top), mb(grew), mb(after.TotalAlloc-before.TotalAlloc), requests)
	// A quarter of the function's memory: the Go runtime, the SDK clients, the caches and
	// the garbage collector's headroom need the rest.
	if limit := uint64(functionMemory / 4); grew > limit {
		t.Errorf("the invocation grew the heap by %.1f MB, over %.0f MB (a quarter of MemorySize)", mb(grew), mb(limit))
	}
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }
