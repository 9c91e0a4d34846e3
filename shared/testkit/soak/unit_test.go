package soak

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/metrics"
)

func TestFeedReceives(t *testing.T) {
	app := &appSpec{Name: "a", Platforms: []platformSpec{{"ios", "p-ios"}, {"web", "p-web"}}}
	other := &appSpec{Name: "b", Platforms: []platformSpec{{"ios", "p-ios"}}}
	tests := []struct {
		name     string
		feed     feedSpec
		app      *appSpec
		platform string
		typ      event.Type
		want     bool
	}{
		{"platform feed, its platform", feedSpec{App: "a", Platform: "ios", Types: event.AllTypes, Enabled: true}, app, "p-ios", event.DeviceImpression, true},
		{"platform feed, other platform", feedSpec{App: "a", Platform: "ios", Types: event.AllTypes, Enabled: true}, app, "p-web", event.DeviceImpression, false},
		{"legacy feed, any platform", feedSpec{App: "a", Platform: "ios", AllPlatforms: true, Types: event.AllTypes, Enabled: true}, app, "p-web", event.TrialStarted, true},
		{"type not selected", feedSpec{App: "a", Platform: "ios", AllPlatforms: true, Types: []event.Type{event.SubscriptionPurchased}, Enabled: true}, app, "p-ios", event.TrialStarted, false},
		{"disabled", feedSpec{App: "a", Platform: "ios", AllPlatforms: true, Types: event.AllTypes}, app, "p-ios", event.TrialStarted, false},
		{"another app", feedSpec{App: "a", Platform: "ios", AllPlatforms: true, Types: event.AllTypes, Enabled: true}, other, "p-ios", event.TrialStarted, false},
		{"platform the app lacks", feedSpec{App: "a", Platform: "roku", Types: event.AllTypes, Enabled: true}, app, "p-ios", event.TrialStarted, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.feed.receives(tc.app, tc.platform, tc.typ); got != tc.want {
				t.Errorf("receives = %v, want %v", got, tc.want)
			}
		})
	}
}

func newGen(seed uint64, invalidRate float64) *generator {
	r := rand.New(rand.NewPCG(seed, 1))
	apps, feeds := topology(r)
	return &generator{r: r, apps: apps, feeds: feeds, invalidRate: invalidRate, base: time.Date(2024, 5, 14, 0, 0, 0, 0, time.UTC)}
}

func TestGeneratorIsReproducibleAndHonest(t *testing.T) {
	a, b := newGen(42, 0.2), newGen(42, 0.2)
	invalid := 0
	for i := 0; i < 500; i++ {
		ma, err := a.next()
		if err != nil {
			t.Fatal(err)
		}
		mb, _ := b.next()
		if ma.Body != mb.Body {
			t.Fatalf("message %d differs between two generators with one seed", i)
		}
		_, decErr := event.Decode([]byte(ma.Body))
		if ma.Valid != (decErr == nil) {
			t.Fatalf("message %d: Valid=%v but Decode error %v", i, ma.Valid, decErr)
		}
		if !ma.Valid {
			invalid++
			continue
		}
		for _, f := range ma.Feeds {
			if f.App != ma.App.Name || !f.Enabled {
				t.Fatalf("message %d routed to feed %s of app %s", i, f.Name, f.App)
			}
		}
	}
	if invalid == 0 || invalid == 500 {
		t.Errorf("%d of 500 invalid at rate 0.2", invalid)
	}
	if c := newGen(43, 0.2); func() string { m, _ := c.next(); return m.Body }() == func() string { m, _ := newGen(42, 0.2).next(); return m.Body }() {
		t.Error("different seeds gave the same first message")
	}
}

func TestTopologyCoversTheIssue(t *testing.T) {
	apps, feeds := topology(rand.New(rand.NewPCG(1, 1)))
	withFeeds := map[string]bool{}
	enabled, legacy := 0, 0
	for _, f := range feeds {
		if f.Enabled {
			enabled++
			withFeeds[f.App] = true
			if f.AllPlatforms {
				legacy++
			}
		}
	}
	if len(withFeeds) < 3 || enabled < 5 || legacy < 1 || len(apps) < 3 {
		t.Errorf("apps with feeds %d, enabled feeds %d, legacy feeds %d: the issue asks for >= 3 apps and >= 5 feeds incl. a legacy one",
			len(withFeeds), enabled, legacy)
	}
}

func cleanReport() *Report {
	return &Report{
		Config:   Config{Events: 100, ExpectIdempotency: true},
		Messages: 100, Valid: 98, Invalid: 2,
		Feeds:      []FeedReport{{Name: "f", Enabled: true, Expected: 50, Delivered: 50, Accepted: 53, Resent: 3}, {Name: "off"}},
		Resent:     3,
		DLQInvalid: 2, DLQInvalidReasons: 2, DLQMessages: 3,
		Metrics: map[string]int64{"Delivered": 53, "Invalid": 2}, Confirmed: 53,
	}
}

func TestCheck(t *testing.T) {
	if err := cleanReport().Check(); err != nil {
		t.Fatalf("clean report fails: %v", err)
	}
	tests := []struct {
		name  string
		spoil func(*Report)
		want  string
	}{
		{"lost event", func(r *Report) { r.Feeds[0].Delivered = 49; r.Lost = 1 }, "49 of 50"},
		{"unexpected batch", func(r *Report) { r.Unexpected = 1 }, "no feed should have received"},
		{"disabled feed fed", func(r *Report) { r.Feeds[1].Accepted = 1 }, "disabled feed off"},
		{"invalid missing from DLQ", func(r *Report) { r.DLQInvalid = 1; r.DLQInvalidReasons = 1 }, "1 of 2 invalid messages in the dead-letter queue"},
		{"invalid without reason", func(r *Report) { r.DLQInvalidReasons = 1 }, "with a reason"},
		{"valid event in DLQ", func(r *Report) { r.DLQValid = 1 }, "1 valid events"},
		{"queue not drained", func(r *Report) { r.QueueLeft = 4 }, "4 messages left"},
		{"secret in logs", func(r *Report) { r.SecretLeaks = 1 }, "key or secret"},
		{"confirmed twice", func(r *Report) { r.ConfirmedTwice = 2 }, "re-sent after mParticle had confirmed"},
		{"timed out", func(r *Report) { r.TimedOut = true }, "did not finish"},
		{"not all enqueued", func(r *Report) { r.Messages = 90 }, "90 of 100"},
		{"bad item id", func(r *Report) { r.BadItemIDs = 1 }, "not in the batch"},
		{"metric off", func(r *Report) { r.Metrics["Delivered"] = 52 }, "Delivered metric 52"},
		{"invalid not counted", func(r *Report) { r.Metrics["Invalid"] = 1 }, "Invalid metric 1"},
		{"not EMF", func(r *Report) { r.BadMetricLines = 1 }, "not EMF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := cleanReport()
			tc.spoil(r)
			err := r.Check()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	r := cleanReport()
	r.Config.ExpectIdempotency = false
	r.ConfirmedTwice = 5
	if err := r.Check(); err != nil {
		t.Errorf("confirmed-twice checked without ExpectIdempotency: %v", err)
	}
}

type fixedRT struct{ status int }

func (f fixedRT) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: f.status, Body: http.NoBody}, nil
}

func TestTrackerCountsConfirmations(t *testing.T) {
	post := func(tr *tracker, inv int64, body string) {
		req, _ := http.NewRequestWithContext(withInvocation(context.Background(), inv), http.MethodPost, "http://x/v2/bulkevents", strings.NewReader(body))
		if _, err := tr.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}
	ok := newTracker(fixedRT{202})
	post(ok, 1, `[{"source_request_id":"a"},{"source_request_id":"b"}]`)
	post(ok, 2, `[{"source_request_id":"a"}]`)
	post(ok, 3, `{"source_request_id":"b"}`)
	post(ok, 4, `[{"source_request_id":"c"}]`)
	post(ok, 5, `[{"source_request_id":"c"}]`)
	tests := []struct {
		name    string
		crashed map[int64]bool
		excused map[string]bool
		want    int
	}{
		{"all completed", nil, nil, 3},
		{"crash excuses its confirmation", map[int64]bool{2: true}, nil, 2},
		{"excused id", nil, map[string]bool{"c": true}, 2},
	}
	for _, tc := range tests {
		if got := ok.confirmedTwice(tc.crashed, tc.excused); got != tc.want {
			t.Errorf("%s: confirmedTwice = %d, want %d", tc.name, got, tc.want)
		}
	}
	refused := newTracker(fixedRT{500})
	post(refused, 1, `[{"source_request_id":"a"}]`)
	post(refused, 2, `[{"source_request_id":"a"}]`)
	if got := refused.confirmedTwice(nil, nil); got != 0 {
		t.Errorf("unconfirmed requests counted: %d", got)
	}
}

func sqsMsg(id, body string, receiveCount string) sqstypes.Message {
	return sqstypes.Message{MessageId: aws.String(id), Body: aws.String(body),
		Attributes: map[string]string{"ApproximateReceiveCount": receiveCount}}
}

func TestLedgerSpotsDoubleDelivery(t *testing.T) {
	body := func(ev string) string { return `{"id":"` + ev + `"}` }
	l := newLedger()
	l.take([]sqstypes.Message{sqsMsg("m1", body("e1"), "1"), sqsMsg("m2", body("e2"), "1"), sqsMsg("m3", body("e3"), "1")})
	l.take([]sqstypes.Message{sqsMsg("m1", body("e1"), "2")}) // while the first invocation holds it
	l.release([]sqstypes.Message{sqsMsg("m1", body("e1"), "1"), sqsMsg("m2", body("e2"), "1"), sqsMsg("m3", body("e3"), "1")})
	l.release([]sqstypes.Message{sqsMsg("m1", body("e1"), "2")})
	l.deleted("m2")
	l.take([]sqstypes.Message{sqsMsg("m2", body("e2"), "2")}) // after deletion
	l.release([]sqstypes.Message{sqsMsg("m2", body("e2"), "2")})
	l.take([]sqstypes.Message{sqsMsg("m3", body("e3"), "1")}) // same receive count again
	l.release([]sqstypes.Message{sqsMsg("m3", body("e3"), "1")})
	l.take([]sqstypes.Message{sqsMsg("m4", body("e4"), "1")})
	l.release([]sqstypes.Message{sqsMsg("m4", body("e4"), "1")})
	l.take([]sqstypes.Message{sqsMsg("m4", body("e4"), "2")}) // an ordinary redelivery
	l.release([]sqstypes.Message{sqsMsg("m4", body("e4"), "2")})
	l.take([]sqstypes.Message{sqsMsg("m5", body("e4"), "1")}) // same body, second message
	l.release([]sqstypes.Message{sqsMsg("m5", body("e4"), "1")})

	got, twice := l.summary()
	want := map[string]bool{"e1": true, "e2": true, "e3": true}
	if len(got) != len(want) {
		t.Fatalf("double deliveries %v, want e1, e2, e3", got)
	}
	for _, ev := range got {
		if !want[ev] {
			t.Errorf("%s flagged", ev)
		}
	}
	if twice != 1 {
		t.Errorf("enqueued twice = %d, want 1", twice)
	}
	if l.deletedCount() != 1 {
		t.Errorf("deletedCount = %d", l.deletedCount())
	}
}

func TestLeakScanner(t *testing.T) {
	var out bytes.Buffer
	s := newLeakScanner(&out, "sekrit-1", "key-2")
	s.Write([]byte(`{"msg":"fine"}` + "\n"))
	s.Write([]byte(`{"msg":"oops sekrit-1"}` + "\n"))
	if s.leaks.Load() != 1 || s.lines.Load() != 2 {
		t.Fatalf("leaks %d lines %d", s.leaks.Load(), s.lines.Load())
	}
	if strings.Contains(out.String(), "sekrit-1") {
		t.Error("secret passed through to the log sink")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"no events", func(c *Config) { c.Events = 0 }},
		{"batch over 10", func(c *Config) { c.BatchSize = 11 }},
		{"invocation outlives visibility", func(c *Config) { c.InvocationTimeout = c.VisibilityTimeout }},
		{"fractional visibility", func(c *Config) { c.VisibilityTimeout = 1500 * time.Millisecond }},
		{"faults over 1", func(c *Config) { c.Faults.P500 = 0.9; c.Faults.P429 = 0.2 }},
		{"no backoff unit", func(c *Config) { c.BackoffUnit = 0 }},
		{"negative outage", func(c *Config) { c.Outage.Duration = -time.Second }},
		{"outage after the last message", func(c *Config) { c.Outage.StartAfter = c.Events }},
	}
	d := Defaults()
	if err := d.validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	for _, tc := range tests {
		c := Defaults()
		tc.mod(&c)
		if err := c.validate(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestEMFTally(t *testing.T) {
	tally := newEMFTally()
	e := metrics.New(tally, "NS")
	for i := 0; i < 3; i++ {
		inv := e.Begin()
		inv.Add(metrics.Delivered, "feed-a", 2)
		inv.Add(metrics.Delivered, "feed-b", 1)
		inv.Add(metrics.Invalid, "", 1)
		if err := inv.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	tally.Write([]byte("not json\n"))
	got, bad := tally.snapshot()
	if got["Delivered"] != 9 || got["Invalid"] != 3 || got["Retried"] != 0 || bad != 1 {
		t.Errorf("totals %v, bad %d; want Delivered 9 (per-feed lines not counted twice), Invalid 3, bad 1", got, bad)
	}
}

func TestOutcomeIndex(t *testing.T) {
	x := newOutcomeIndex()
	lines := []string{
		`{"level":"WARN","msg":"delivery","message_id":"m1","outcome":"retry","integration_id":"f1","http_status":500,"reason":"boom"}`,
		`{"level":"DEBUG","msg":"delivery","message_id":"m1","outcome":"delivered","integration_id":"f2","http_status":202}`,
		`{"level":"DEBUG","msg":"deliveries not recorded","keys":["e1#f2","e2#f2"]}`,
		`{"level":"INFO","msg":"invocation done","records_read":3,"records_written":2,"records_cut_short":2}`,
		`{"level":"INFO","msg":"invocation done","records_read":1}`,
	}
	info := 0
	for _, l := range lines {
		x.Write([]byte(l + "\n"))
		if !strings.Contains(l, "DEBUG") {
			info += len(l) + 1
		}
	}
	if got := strings.Join(x.of("m1"), "|"); got != "retry [f1] 500: boom|delivered [f2] 202" {
		t.Errorf("outcomes %q", got)
	}
	read, written, cut, bytes := x.records()
	if read != 4 || written != 2 || cut != 2 || bytes != int64(info) {
		t.Errorf("records read %d written %d cut %d, %d bytes above DEBUG; want 4, 2, 2, %d", read, written, cut, bytes, info)
	}
	if got := strings.Join(x.unrecordedKeys(), ","); got != "e1#f2,e2#f2" {
		t.Errorf("unrecorded keys %q", got)
	}
}

// An event counts as lost by the queue only when none of its messages was ever received.
func TestLedgerNeverReceived(t *testing.T) {
	l := newLedger()
	l.enqueued("e1", "m1")
	l.enqueued("e2", "m2")
	l.enqueued("e2", "m3") // the same event sent twice
	recv := func(id, body string) sqstypes.Message {
		return sqstypes.Message{MessageId: aws.String(id), Body: aws.String(body),
			Attributes: map[string]string{string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount): "1"}}
	}
	l.take([]sqstypes.Message{recv("m3", `{"id":"e2"}`)})
	for ev, want := range map[string]bool{"e1": true, "e2": false, "e3": false} {
		if got := l.neverReceived(ev); got != want {
			t.Errorf("neverReceived(%s) = %v, want %v", ev, got, want)
		}
	}
}
