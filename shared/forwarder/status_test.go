package forwarder

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/integration"
)

func TestStatusTallyCountsEachOutcome(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		outcome Outcome
		want    integration.DeliveryStatus
	}{
		{Delivered, integration.DeliveryStatus{Delivered: 1, LastDeliveryAt: now}},
		{Skipped, integration.DeliveryStatus{Skipped: 1}},
		{Deduplicated, integration.DeliveryStatus{}}, // counted by the invocation that delivered it
		{Retry, integration.DeliveryStatus{Retried: 1, LastFailureAt: now, LastFailureCode: integration.FailureRetry}},
		{Throttled, integration.DeliveryStatus{Retried: 1, LastFailureAt: now, LastFailureCode: integration.FailureRetry}},
		{NotStarted, integration.DeliveryStatus{Retried: 1}}, // our deadline, no failure of the feed
		{AuthFailed, integration.DeliveryStatus{Retried: 1, LastFailureAt: now, LastFailureCode: integration.FailureCredentialsRefused}},
		{Misdirected, integration.DeliveryStatus{Retried: 1, LastFailureAt: now, LastFailureCode: integration.FailureMisdirected}},
		// Dead-lettered only once its letter is sent (deadLettered).
		{Rejected, integration.DeliveryStatus{LastFailureAt: now, LastFailureCode: integration.FailureRejected}},
	}
	for _, tt := range tests {
		t.Run(string(tt.outcome), func(t *testing.T) {
			var tally statusTally
			tally.note(&integration.Integration{AppID: "a", ID: "i"}, tt.outcome, now)
			got := tally.byID["i"].st
			got.LastFailureMessage = "" // fixed sentences, checked below
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestStatusTallyKeepsTheWorstFailureAndCountsLettersSent(t *testing.T) {
	now := time.Now()
	var tally statusTally
	in := &integration.Integration{AppID: "a", ID: "i"}
	for _, o := range []Outcome{Retry, AuthFailed, Rejected, Delivered, Rejected} {
		tally.note(in, o, now)
	}
	tally.deadLettered([]string{"i", "unknown"})
	st := tally.byID["i"].st
	if st.LastFailureCode != integration.FailureCredentialsRefused || st.DeadLettered != 1 || st.Retried != 2 || st.Delivered != 1 {
		t.Fatalf("status %+v", st)
	}
	if len(tally.byID) != 1 {
		t.Fatalf("an integration never noted was counted: %v", tally.ids)
	}
	for o, f := range statusFailures {
		if strings.ContainsAny(f.message, "%{}") || f.message == "" {
			t.Errorf("%s: message %q is not a fixed sentence", o, f.message)
		}
	}
}

// recorder is a StatusRecorder that counts its calls, failing for the ids in fail.
type recorder struct {
	mu    sync.Mutex
	calls map[string]int
	got   map[string]integration.DeliveryStatus
	fail  map[string]bool
}

func (r *recorder) AddStatus(ctx context.Context, appID, id string, _ time.Time, st integration.DeliveryStatus) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	r.calls[appID+"/"+id]++
	r.got[appID+"/"+id] = st
	if r.fail[id] {
		return errors.New("throttled")
	}
	return nil
}

func TestWriteStatusWritesOncePerIntegrationAndNeverFails(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name      string
		uploadBy  time.Time
		fail      map[string]bool
		wantCalls map[string]int
		wantLog   string
	}{
		{name: "one write per integration", wantCalls: map[string]int{"a/1": 1, "a/2": 1, "b/3": 1}},
		{name: "a failed write is logged", fail: map[string]bool{"2": true},
			wantCalls: map[string]int{"a/1": 1, "a/2": 1, "b/3": 1}, wantLog: "could not record delivery status"},
		{name: "past the upload deadline nothing is attempted", uploadBy: now.Add(-time.Second),
			wantCalls: map[string]int{}, wantLog: `"cut_short_by_deadline":true`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			rec := &recorder{calls: map[string]int{}, got: map[string]integration.DeliveryStatus{}, fail: tt.fail}
			h := New(Deps{Status: rec, Logger: slogJSON(&logs)}, Config{MaxConcurrentFeeds: 2})
			inv := &invocation{uploadBy: tt.uploadBy}
			for _, n := range []struct {
				app, id string
				o       Outcome
			}{{"a", "1", Delivered}, {"a", "1", Delivered}, {"a", "2", Retry}, {"b", "3", Skipped}, {"a", "2", Delivered}} {
				inv.status.note(&integration.Integration{AppID: n.app, ID: n.id}, n.o, now)
			}
			h.writeStatus(context.Background(), inv)
			if len(rec.calls) != len(tt.wantCalls) {
				t.Fatalf("calls %v, want %v", rec.calls, tt.wantCalls)
			}
			for k, n := range tt.wantCalls {
				if rec.calls[k] != n {
					t.Fatalf("calls %v, want %v", rec.calls, tt.wantCalls)
				}
			}
			if len(tt.wantCalls) > 0 && (rec.got["a/1"].Delivered != 2 || rec.got["a/2"].Retried != 1 || rec.got["b/3"].Skipped != 1) {
				t.Fatalf("written %+v", rec.got)
			}
			if tt.wantLog != "" && !strings.Contains(logs.String(), tt.wantLog) {
				t.Fatalf("logs lack %q:\n%s", tt.wantLog, logs.String())
			}
		})
	}
}
