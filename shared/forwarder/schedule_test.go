package forwarder

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/deliverystore/storetest"
	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// apps builds the appWork of a scheduler test: "A3" is app A with feeds A0, A1 and A2, each
// with one delivery; "A3/1" gives A a fourth feed with nothing left to send.
func schedApps(spec ...string) []*appWork {
	var out []*appWork
	for _, sp := range spec {
		a := &appWork{id: sp[:1]}
		var n, empty int
		_, _ = fmt.Sscanf(sp[1:], "%d/%d", &n, &empty)
		for i := range n + empty {
			fw := &feedWork{in: &integration.Integration{ID: fmt.Sprintf("%s%d", a.id, i)}}
			if i < n {
				fw.deliveries = []delivery{{}}
			}
			a.feeds = append(a.feeds, fw)
		}
		out = append(out, a)
	}
	return out
}

func TestSchedulerTurnsAndShares(t *testing.T) {
	tests := []struct {
		name  string
		apps  []string
		slots int
		// steps: "start" takes the next feed, "done X" ends feed X; want lists what each
		// start returned ("-" for none), in order.
		steps []string
		want  string
	}{
		{
			name: "apps take turns", apps: []string{"A3", "B1", "C2"}, slots: 8,
			steps: []string{"start", "start", "start", "start", "start", "start", "start"},
			want:  "A0 B0 C0 A1 C1 A2 -",
		},
		{
			name: "feeds with nothing to send are skipped", apps: []string{"A1/2", "B0/1", "C1"}, slots: 8,
			steps: []string{"start", "start", "start"},
			want:  "A0 C0 -",
		},
		{
			name: "an app holds its share of the slots while others wait", apps: []string{"A5", "B3"}, slots: 4,
			steps: []string{"start", "start", "start", "start", "start", "done B0", "start", "done A0", "start"},
			want:  "A0 B0 A1 B1 - B2 A2",
		},
		{
			name: "a slot nobody else can use goes to the app that has feeds", apps: []string{"A5", "B1"}, slots: 4,
			steps: []string{"start", "start", "start", "start", "start"},
			want:  "A0 B0 A1 A2 -",
		},
		{
			name: "more apps than slots: a freed slot goes to the next app in turn", apps: []string{"A2", "B1", "C1"}, slots: 2,
			steps: []string{"start", "start", "start", "done A0", "start", "done B0", "start", "done C0", "start"},
			want:  "A0 B0 - C0 A1 -",
		},
		{
			name: "a big app's many feeds come after every app's first", apps: []string{"A20", "B1", "C1", "D1"}, slots: 2,
			steps: []string{"start", "start", "done A0", "start", "done B0", "start", "done C0", "start", "done D0", "start"},
			want:  "A0 B0 C0 D0 A1 A2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScheduler(schedApps(tt.apps...), tt.slots)
			byID := map[string]*feedWork{}
			var got []string
			for _, step := range tt.steps {
				if id, ok := strings.CutPrefix(step, "done "); ok {
					s.done(byID[id])
					continue
				}
				fw := s.start()
				if fw == nil {
					got = append(got, "-")
					continue
				}
				byID[fw.in.ID] = fw
				got = append(got, fw.in.ID)
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("started %s, want %s", g, tt.want)
			}
		})
	}
}

func TestSchedulerTimeShare(t *testing.T) {
	tests := []struct {
		name    string
		apps    []string
		slots   int
		started int // feeds started before the share is asked for
		left    time.Duration
		want    time.Duration
	}{
		{"apps fit in the slots: all the time left", []string{"A20", "B1"}, 8, 2, 30 * time.Second, 30 * time.Second},
		{"more apps than slots: slots/apps of it", []string{"A2", "B1", "C1", "D1"}, 2, 1, 30 * time.Second, 15 * time.Second},
		{"apps done no longer count", []string{"A2", "B1", "C1"}, 2, 1, 30 * time.Second, 20 * time.Second},
		{"no time left", []string{"A1", "B1", "C1"}, 1, 1, -time.Second, -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScheduler(schedApps(tt.apps...), tt.slots)
			for range tt.started {
				s.start()
			}
			if got := s.timeShare(tt.left); got != tt.want {
				t.Errorf("timeShare(%s) = %s, want %s", tt.left, got, tt.want)
			}
		})
	}
}

// stallingUploader never answers the feeds in slow: it waits for its context to end, as an
// upload to an endpoint that does not answer does. Other feeds are delivered at once.
type stallingUploader struct {
	fakeUploader
	slow map[string]bool
}

func (u *stallingUploader) Upload(ctx context.Context, feed mparticle.Feed, batches []mparticle.Batch) []mparticle.Result {
	if !u.slow[feed.ID] {
		return u.fakeUploader.Upload(ctx, feed, batches)
	}
	<-ctx.Done()
	out := make([]mparticle.Result, len(batches))
	for i := range out {
		out[i] = mparticle.Result{Outcome: mparticle.Retryable, RateLimitPercentUsed: -1, Err: fmt.Errorf("mparticle: not sent: %w", ctx.Err())}
	}
	return out
}

// With more apps than slots and every slot held by a feed that never answers, those feeds
// are cut at their app's share of the time, and the next app in turn still gets a slot.
func TestStalledFeedsKeepOnlyTheirTimeShare(t *testing.T) {
	const (
		appA = "a0000000-0000-4000-8000-00000000000a"
		appB = "b0000000-0000-4000-8000-00000000000b"
		appC = "c0000000-0000-4000-8000-00000000000c"
	)
	feed := func(app, id string) integration.Integration {
		in := integ(id, integration.ScopeAllPlatforms, "")
		in.AppID = app
		return in
	}
	hs := newHarness()
	hs.ins.byApp = map[string][]integration.Integration{
		appA: {feed(appA, "a-stalled")}, appB: {feed(appB, "b-stalled")}, appC: {feed(appC, "c-fast")},
	}
	up := &stallingUploader{slow: map[string]bool{"a-stalled": true, "b-stalled": true}}
	hs.h.deps.Uploader = up
	hs.h.cfg.DeadlineMargin = 100 * time.Millisecond // two slots (newHarness)
	body := func(app string, n int) string {
		return eventtest.Body(t, event.SubscriptionPurchased, func(m map[string]any) {
			m["app_id"], m["id"] = app, fmt.Sprintf("%s-%d", app[:8], n)
		})
	}
	in := sqsEvent(body(appA, 1), body(appB, 1), body(appC, 1))

	ctx, cancel := context.WithTimeout(context.Background(), 1600*time.Millisecond)
	defer cancel()
	start := time.Now()
	resp, sum, _ := hs.h.handle(ctx, in)
	took := time.Since(start)
	if got := failedIDs(resp); strings.Join(got, ",") != "msg-a,msg-b" {
		t.Errorf("handed back %v, want the stalled apps' messages only", got)
	}
	if sum.Delivered != 1 || len(up.calls) != 1 || up.calls[0].feed.ID != "c-fast" {
		t.Errorf("delivered %d, fast uploads %d: app C's message was not delivered", sum.Delivered, len(up.calls))
	}
	// Each stalled feed had 2/3 of the 1.5 s to the upload deadline, then C's feed ran.
	if took < 900*time.Millisecond || took > 1500*time.Millisecond {
		t.Errorf("took %s, want about 1 s (the stalled feeds' share) and less than the upload deadline", took)
	}
	if len(hs.dlq.letters) != 0 {
		t.Errorf("%d dead letters", len(hs.dlq.letters))
	}
}

// blockingRecords is a delivery table whose writes hang until their context ends.
type blockingRecords struct {
	*storetest.Memory
	mu       sync.Mutex
	deadline time.Time
	writes   int
}

func (b *blockingRecords) Record(ctx context.Context, _ []string) error {
	b.mu.Lock()
	b.writes++
	b.deadline, _ = ctx.Deadline()
	b.mu.Unlock()
	<-ctx.Done()
	return fmt.Errorf("deliverystore: batch write: %w", ctx.Err())
}

// A delivery-record write that hangs is cut at the upload deadline, the invocation's less
// its margin, so the margin stays free for answering SQS. The cut is counted and logged; the
// delivery itself stands.
func TestDeliveryRecordWriteEndsByTheUploadDeadline(t *testing.T) {
	hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID))
	records := &blockingRecords{Memory: storetest.NewMemory(time.Hour, nil)}
	hs.h.deps.Deliveries = records
	hs.h.cfg.Records = RecordsAll // written as soon as mParticle confirms
	const margin = 400 * time.Millisecond
	hs.h.cfg.DeadlineMargin = margin
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()

	resp, sum, err := hs.h.handle(ctx, sqsEvent(eventtest.Body(t, event.SubscriptionPurchased, nil)))
	returned := time.Now()
	if err != nil || len(resp.BatchItemFailures) != 0 || sum.Delivered != 1 {
		t.Fatalf("err=%v failures=%v delivered=%d: a delivery stands without its record", err, resp.BatchItemFailures, sum.Delivered)
	}
	if records.writes != 1 || !records.deadline.Equal(deadline.Add(-margin)) {
		t.Errorf("%d writes with deadline %s, want one by %s (the deadline less the margin)", records.writes,
			records.deadline.Format(time.StampMilli), deadline.Add(-margin).Format(time.StampMilli))
	}
	if returned.After(deadline.Add(-margin / 2)) {
		t.Errorf("returned %s before the deadline, want most of the %s margin left", deadline.Sub(returned), margin)
	}
	if sum.RecordsCutShort != 1 {
		t.Errorf("RecordsCutShort = %d, want 1", sum.RecordsCutShort)
	}
	logs := hs.logs.String()
	if !strings.Contains(logs, `"msg":"could not record deliveries"`) || !strings.Contains(logs, `"cut_short_by_deadline":true`) ||
		!strings.Contains(logs, `"records_cut_short":1`) {
		t.Errorf("the cut was not logged:\n%s", logs)
	}
	assertNoLeaks(t, logs)
}

// A failed write that is not the deadline's is logged, not counted as cut short.
func TestDeliveryRecordFailureIsNotACut(t *testing.T) {
	hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID))
	hs.h.deps.Deliveries = failingRecords{storetest.NewMemory(time.Hour, nil)}
	hs.h.cfg.Records = RecordsAll
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, sum, err := hs.h.handle(ctx, sqsEvent(eventtest.Body(t, event.SubscriptionPurchased, nil)))
	if err != nil || sum.Delivered != 1 || sum.RecordsCutShort != 0 {
		t.Fatalf("err=%v delivered=%d cut=%d", err, sum.Delivered, sum.RecordsCutShort)
	}
	if !strings.Contains(hs.logs.String(), `"cut_short_by_deadline":false`) {
		t.Errorf("the failure was not logged:\n%s", hs.logs.String())
	}
}

type failingRecords struct{ *storetest.Memory }

func (failingRecords) Record(context.Context, []string) error {
	return errors.New("deliverystore: batch write: throttled")
}
