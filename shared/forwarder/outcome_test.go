package forwarder

import (
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/metrics"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// allOutcomes lists every Outcome; TestOutcomeTraits checks each has its traits.
var allOutcomes = []Outcome{
	Invalid, InvalidAcknowledged, DuplicateMessage, NoIntegration, Delivered, Deduplicated,
	Retry, Throttled, NotStarted, AuthFailed, Misdirected, Rejected, Skipped,
}

// TestDecide: every input, and every result of the client, gives one outcome, from which the
// message's disposition, the metrics, the log level and the dead letter's kind follow.
func TestDecide(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		in   attempt
		want verdict
		// What follows from the outcome.
		disposition disposition
		metrics     []metrics.Name
		level       slog.Level
		kind        FailureKind
	}{
		// The client's results.
		{"delivered", attempt{result: mparticle.Result{Outcome: mparticle.Delivered, StatusCode: 202, Attempts: 2, RateLimitPercentUsed: 95}},
			verdict{outcome: Delivered, status: 202, attempts: 2},
			ack, []metrics.Name{metrics.Delivered}, slog.LevelDebug, ""},
		{"permanent", attempt{result: mparticle.Result{Outcome: mparticle.Permanent, StatusCode: 400, Attempts: 1, Err: boom}},
			verdict{outcome: Rejected, status: 400, attempts: 1, reason: "boom"},
			deadLetter, nil, slog.LevelWarn, FailureRejected},
		{"auth failed", attempt{result: mparticle.Result{Outcome: mparticle.AuthFailed, StatusCode: 401, Attempts: 1, Err: boom}},
			verdict{outcome: AuthFailed, status: 401, attempts: 1, reason: "credentials refused"},
			retry, []metrics.Name{metrics.Retried, metrics.AuthFailed}, slog.LevelWarn, ""},
		{"redirected", attempt{result: mparticle.Result{Outcome: mparticle.Redirected, StatusCode: 308, Attempts: 1, Err: boom}},
			verdict{outcome: Misdirected, status: 308, attempts: 1, reason: "boom"},
			retry, []metrics.Name{metrics.Retried}, slog.LevelWarn, ""},
		{"retryable 5xx, with a Retry-After", attempt{result: mparticle.Result{Outcome: mparticle.Retryable, StatusCode: 503, Attempts: 4, Err: boom, RetryAfter: time.Minute}},
			verdict{outcome: Retry, status: 503, attempts: 4, reason: "boom", wait: time.Minute},
			retry, []metrics.Name{metrics.Retried}, slog.LevelWarn, ""},
		{"retryable, no response", attempt{result: mparticle.Result{Outcome: mparticle.Retryable, Attempts: 1, Err: boom}},
			verdict{outcome: Retry, attempts: 1, reason: "boom"},
			retry, []metrics.Name{metrics.Retried}, slog.LevelWarn, ""},
		{"429 answered", attempt{result: mparticle.Result{Outcome: mparticle.Retryable, StatusCode: 429, Attempts: 1, Err: boom, RetryAfter: 90 * time.Second, Throttled: true}},
			verdict{outcome: Retry, status: 429, attempts: 1, reason: "boom", wait: 90 * time.Second, throttled: true},
			retry, []metrics.Name{metrics.Retried, metrics.Throttled}, slog.LevelWarn, ""},
		{"held back unsent after a 429", attempt{result: mparticle.Result{Outcome: mparticle.Retryable, Err: boom, RetryAfter: 90 * time.Second, Throttled: true}},
			verdict{outcome: Throttled, status: 429, reason: "boom", wait: 90 * time.Second, throttled: true},
			retry, []metrics.Name{metrics.Retried, metrics.Throttled}, slog.LevelWarn, ""},
		{"held back after a narrowed 400", attempt{result: mparticle.Result{Outcome: mparticle.Retryable, StatusCode: 400, Attempts: 1, Err: boom, Throttled: true}},
			verdict{outcome: Retry, status: 400, attempts: 1, reason: "boom", throttled: true},
			retry, []metrics.Name{metrics.Retried, metrics.Throttled}, slog.LevelWarn, ""},
		{"an outcome the client may add later", attempt{result: mparticle.Result{Outcome: "new", StatusCode: 418, Attempts: 1, Err: boom}},
			verdict{outcome: Retry, status: 418, attempts: 1, reason: "boom"},
			retry, []metrics.Name{metrics.Retried}, slog.LevelWarn, ""},

		// What ends a delivery before the client.
		{"invalid, app served", attempt{invalid: boom},
			verdict{outcome: Invalid, reason: "boom"},
			deadLetter, []metrics.Name{metrics.Invalid}, slog.LevelWarn, FailureInvalidInput},
		{"invalid, app unserved", attempt{invalid: boom, unserved: true},
			verdict{outcome: InvalidAcknowledged, reason: "boom"},
			ack, []metrics.Name{metrics.Invalid}, slog.LevelWarn, ""},
		{"duplicate message", attempt{twin: "msg-a"},
			verdict{outcome: DuplicateMessage, reason: "same event id as message msg-a"},
			ack, nil, slog.LevelDebug, ""},
		{"integration lookup failed", attempt{lookupErr: boom},
			verdict{outcome: Retry, reason: "integration lookup failed"},
			retry, []metrics.Name{metrics.Retried}, slog.LevelWarn, ""},
		{"no integration", attempt{unrouted: true},
			verdict{outcome: NoIntegration},
			ack, nil, slog.LevelDebug, ""},
		{"transform refused", attempt{buildErr: boom},
			verdict{outcome: Rejected, reason: "transform: boom"},
			deadLetter, nil, slog.LevelWarn, FailureRejected},
		{"left out by the integration's policy", attempt{skip: "sandbox: drop"},
			verdict{outcome: Skipped, reason: "sandbox: drop"},
			ack, []metrics.Name{metrics.Skipped}, slog.LevelInfo, ""},
		{"already delivered", attempt{seen: true},
			verdict{outcome: Deduplicated},
			ack, []metrics.Name{metrics.Deduplicated}, slog.LevelDebug, ""},
		{"feed cooling down", attempt{cooling: 30 * time.Second},
			verdict{outcome: Throttled, status: 429, reason: "waiting for Retry-After", wait: 30 * time.Second, throttled: true},
			retry, []metrics.Name{metrics.Retried, metrics.Throttled}, slog.LevelWarn, ""},
		{"deadline", attempt{deadline: true},
			verdict{outcome: NotStarted, reason: "deadline"},
			retry, []metrics.Name{metrics.Retried}, slog.LevelWarn, ""},
		{"paced past the deadline", attempt{paced: 750 * time.Millisecond},
			verdict{outcome: NotStarted, reason: "pacing", wait: 750 * time.Millisecond},
			retry, []metrics.Name{metrics.Retried}, slog.LevelWarn, ""},
		{"credentials unreadable", attempt{credsErr: boom},
			verdict{outcome: Retry, reason: "credentials unavailable"},
			retry, []metrics.Name{metrics.Retried}, slog.LevelWarn, ""},

		// Pipeline order: the earliest cause wins over a later one or the result.
		{"cooling before credentials", attempt{cooling: time.Second, credsErr: boom, result: mparticle.Result{Outcome: mparticle.Delivered}},
			verdict{outcome: Throttled, status: 429, reason: "waiting for Retry-After", wait: time.Second, throttled: true},
			retry, []metrics.Name{metrics.Retried, metrics.Throttled}, slog.LevelWarn, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := decide(tt.in)
			if v != tt.want {
				t.Fatalf("decide = %+v, want %+v", v, tt.want)
			}
			if d := v.outcome.disposition(); d != tt.disposition {
				t.Errorf("disposition = %d, want %d", d, tt.disposition)
			}
			if m := v.metrics(); !slices.Equal(m, tt.metrics) {
				t.Errorf("metrics = %v, want %v", m, tt.metrics)
			}
			if l := v.outcome.level(); l != tt.level {
				t.Errorf("level = %v, want %v", l, tt.level)
			}
			if k := v.outcome.failureKind(); k != tt.kind {
				t.Errorf("dead letter kind = %q, want %q", k, tt.kind)
			}
		})
	}
}

// TestOutcomeTraits: every outcome has its traits; only dead-lettering outcomes name a
// dead letter's kind; the metrics are ones the emitter publishes.
func TestOutcomeTraits(t *testing.T) {
	if len(outcomes) != len(allOutcomes) {
		t.Errorf("%d outcomes with traits, %d listed", len(outcomes), len(allOutcomes))
	}
	for _, o := range allOutcomes {
		tr, ok := outcomes[o]
		if !ok {
			t.Errorf("%s: no traits", o)
			continue
		}
		if (tr.disposition == deadLetter) != (tr.kind != "") {
			t.Errorf("%s: disposition %d with dead letter kind %q", o, tr.disposition, tr.kind)
		}
		for _, m := range tr.metrics {
			if !slices.Contains(metrics.Names, m) {
				t.Errorf("%s: metric %s is not published", o, m)
			}
		}
	}
	if d := Outcome("unknown").disposition(); d != retry {
		t.Errorf("an unknown outcome's disposition = %d, want retry", d)
	}
}

// TestMessageFate: a message takes the greatest disposition of its deliveries; a dead
// letter lists every refusal, and a retry the longest wait.
func TestMessageFate(t *testing.T) {
	tests := []struct {
		name     string
		verdicts []verdict
		fate     disposition
		rejected []string
		wait     time.Duration
	}{
		{"none", nil, ack, nil, 0},
		{"delivered and deduplicated", []verdict{{outcome: Delivered}, {outcome: Deduplicated}}, ack, nil, 0},
		{"one refused", []verdict{{outcome: Delivered}, {outcome: Rejected, reason: "400"}}, deadLetter, []string{"f1: 400"}, 0},
		{"one retried wins over a refusal", []verdict{{outcome: Rejected, reason: "400"}, {outcome: Retry, wait: time.Second}, {outcome: Throttled, wait: time.Minute}},
			retry, []string{"f0: 400"}, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &record{}
			for i, v := range tt.verdicts {
				r.note("f"+string(rune('0'+i)), v)
			}
			if r.fate != tt.fate || !slices.Equal(r.rejected, tt.rejected) || r.retryAfter != tt.wait {
				t.Errorf("fate %d rejected %v wait %v, want %d %v %v", r.fate, r.rejected, r.retryAfter, tt.fate, tt.rejected, tt.wait)
			}
		})
	}
}
