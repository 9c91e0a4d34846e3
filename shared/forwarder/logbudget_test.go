package forwarder

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/logging"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/transform"
)

// maxLogBytesPerEvent is the INFO log budget of a delivered event (issue 12): CloudWatch
// Logs bills ingestion per byte, and a line per delivery cost about 387 bytes per event.
const maxLogBytesPerEvent = 40

// logLines decodes JSON log lines.
func logLines(t *testing.T, raw string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(raw), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// At INFO, an invocation of 1,000 events for two feeds writes its summary, one line per
// feed and one per failed delivery, within the budget per delivered event; at DEBUG every
// delivery can still be traced by its event id.
func TestLogBudgetPerDeliveredEvent(t *testing.T) {
	const n = 1000
	bodies, ids := make([]string, n), make([]string, n)
	for i := range bodies {
		ids[i] = fmt.Sprintf("6a1e0000-0000-4000-8000-%012x", i+1)
		bodies[i] = eventtest.Body(t, event.AllTypes[i%len(event.AllTypes)], func(m map[string]any) { m["id"] = ids[i] })
	}
	tests := []struct {
		name  string
		level string
		// failEvery: every failEvery-th event fails retryably on the legacy feed (0: none);
		// its line at INFO names it, with the reason.
		failEvery int
		wantFails int
	}{
		{"all delivered, INFO", "INFO", 0, 0},
		{"some retried, INFO", "INFO", 100, n / 100},
		{"all delivered, DEBUG", "DEBUG", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hs := newHarness(integ("ios", integration.ScopeAllPlatforms, ""), integ("legacy", integration.ScopeAllPlatforms, ""))
			var logs bytes.Buffer
			hs.h.deps.Logger = logging.New(&logs, tc.level)
			hs.h.cfg.MaxConcurrentFeeds = 8
			if tc.failEvery > 0 {
				failing := map[string]bool{}
				for i := tc.failEvery - 1; i < n; i += tc.failEvery {
					failing[transform.SourceRequestID(ids[i], "legacy")] = true
				}
				hs.up.decide = func(_ int, f mparticle.Feed, b mparticle.Batch) mparticle.Outcome {
					if failing[b.SourceRequestID] {
						return mparticle.Retryable
					}
					return mparticle.Delivered
				}
			}
			ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "8f5e2d1c-0b9a-4c7d-8e6f-5a4b3c2d1e0f"})
			resp, sum, err := hs.h.handle(ctx, sqsEvent(bodies...))
			if err != nil || len(resp.BatchItemFailures) != tc.wantFails {
				t.Fatalf("err=%v failures=%d, want %d", err, len(resp.BatchItemFailures), tc.wantFails)
			}
			lines := logLines(t, logs.String())
			byMsg := map[string][]map[string]any{}
			for _, l := range lines {
				msg, _ := l["msg"].(string)
				byMsg[msg] = append(byMsg[msg], l)
			}
			if len(byMsg["invocation done"]) != 1 || len(byMsg["feed done"]) != 2 {
				t.Fatalf("%d invocation lines and %d feed lines, want 1 and 2", len(byMsg["invocation done"]), len(byMsg["feed done"]))
			}
			delivered := 0
			for _, f := range byMsg["feed done"] {
				d, _ := f["delivered"].(float64)
				delivered += int(d)
				if f["app_id"] != appID || f["integration_id"] == "" {
					t.Errorf("feed line without its app and integration: %v", f)
				}
			}
			if delivered != sum.Delivered || delivered != 2*n-tc.wantFails {
				t.Errorf("feed lines count %d delivered, summary %d, want %d", delivered, sum.Delivered, 2*n-tc.wantFails)
			}
			if tc.level == "DEBUG" {
				if got := len(byMsg["delivery"]); got != 2*n {
					t.Errorf("%d delivery lines at DEBUG, want one per delivery (%d)", got, 2*n)
				}
				return
			}
			// Only the failures have lines of their own, with what an operator needs.
			if got := len(byMsg["delivery"]); got != tc.wantFails {
				t.Errorf("%d delivery lines at INFO, want one per failure (%d)", got, tc.wantFails)
			}
			for _, l := range byMsg["delivery"] {
				if l["outcome"] != string(Retry) || l["integration_id"] != "legacy" || l["event_id"] == "" ||
					l["reason"] == "" || l["http_status"] != float64(503) || l["level"] != "WARN" {
					t.Errorf("failure line %v", l)
				}
			}
			perEvent := float64(logs.Len()) / float64(n)
			t.Logf("%d bytes at INFO for %d events (%d delivered deliveries): %.1f bytes per event", logs.Len(), n, delivered, perEvent)
			if perEvent > maxLogBytesPerEvent {
				t.Errorf("%.1f log bytes per event at INFO, budget %d:\n%s", perEvent, maxLogBytesPerEvent, logs.String())
			}
			assertNoLeaks(t, logs.String())
		})
	}
}
