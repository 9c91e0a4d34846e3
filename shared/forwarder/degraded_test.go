package forwarder

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/integration"
)

// An invalid event is dead-lettered when its app has an enabled integration (or that cannot
// be known), and acknowledged when no integration could have been meant to receive it.
func TestInvalidEventsByApp(t *testing.T) {
	noUserID := func(t *testing.T) string {
		return eventtest.Body(t, event.SubscriptionRenewed, func(m map[string]any) { delete(m["user"].(map[string]any), "id") })
	}
	disabled := integ("off", integration.ScopePlatform, iosPlatfID)
	disabled.Enabled = false
	tests := []struct {
		name      string
		ins       []integration.Integration
		lookupErr error
		body      func(t *testing.T) string
		letters   int
		acked     int
	}{
		{"served app: dead-lettered", []integration.Integration{integ("ios", integration.ScopePlatform, iosPlatfID)}, nil, noUserID, 1, 0},
		{"app with a legacy integration: dead-lettered", []integration.Integration{integ("legacy", integration.ScopeAllPlatforms, "")}, nil, noUserID, 1, 0},
		{"app without integrations: acknowledged", nil, nil, noUserID, 0, 1},
		{"app with only a disabled integration: acknowledged", []integration.Integration{disabled}, nil, noUserID, 0, 1},
		{"integrations unreadable: dead-lettered", []integration.Integration{integ("ios", integration.ScopePlatform, iosPlatfID)},
			errors.New("dynamodb down"), noUserID, 1, 0},
		{"app_id unreadable: dead-lettered", nil, nil, func(t *testing.T) string {
			return eventtest.Body(t, event.SubscriptionRenewed, func(m map[string]any) { m["app_id"] = 7 })
		}, 1, 0},
		{"not JSON: dead-lettered", nil, nil, func(*testing.T) string { return `{"app_id":"` + appID + `"` }, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(tt.ins...)
			hs.ins.err = tt.lookupErr
			body := tt.body(t)
			resp, sum, err := hs.h.handle(context.Background(), sqsEvent(body))
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("err %v failures %v: an invalid event is never retried", err, resp.BatchItemFailures)
			}
			if len(hs.dlq.letters) != tt.letters || sum.InvalidAcknowledged != tt.acked || sum.Invalid != 1 {
				t.Errorf("letters %d acknowledged %d invalid %d, want %d %d 1", len(hs.dlq.letters), sum.InvalidAcknowledged, sum.Invalid, tt.letters, tt.acked)
			}
			for _, l := range hs.dlq.letters {
				if l.Kind != FailureInvalidInput || l.Body != body || !strings.Contains(l.Reason, "invalid event") {
					t.Errorf("letter %+v", l)
				}
			}
			if len(hs.up.calls) != 0 {
				t.Errorf("%d uploads", len(hs.up.calls))
			}
			assertNoLeaks(t, hs.logs.String())
		})
	}
}

// Degraded fields are counted once per event, across the event's batches, with decode's and
// the transform's merged, and logged by name only.
func TestDegradedCountedOncePerEvent(t *testing.T) {
	hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID), integ("legacy", integration.ScopeAllPlatforms, ""))
	long := strings.Repeat("N", 5000)
	body := eventtest.Body(t, event.DeviceImpression, func(m map[string]any) {
		m["impression"].(map[string]any)["name"] = long                // cut by the transform, for both feeds
		m["device"].(map[string]any)["os_version"] = " 17.4.1 "        // trimmed by decode
		m["device"].(map[string]any)["idfa"] = "not-an-advertising-id" // dropped by the transform, for both
	})
	clean := eventtest.Body(t, event.SubscriptionPurchased, nil)
	_, sum, err := hs.h.handle(context.Background(), sqsEvent(body, clean))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Degraded != 1 {
		t.Errorf("Summary.Degraded = %d, want 1 event", sum.Degraded)
	}
	logs := hs.logs.String()
	if n := strings.Count(logs, `"msg":"degraded event"`); n != 1 {
		t.Fatalf("%d degraded event lines, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs, `"fields":["device.os_version","impression.name","device.idfa"]`) {
		t.Errorf("fields not logged in order, once each:\n%s", logs)
	}
	if strings.Contains(logs, "not-an-advertising-id") || strings.Contains(logs, long[:100]) {
		t.Error("a value is in the logs")
	}
}
