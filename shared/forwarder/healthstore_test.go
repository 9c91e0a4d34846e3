package forwarder

import (
	"context"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// The health marks the Forwarder writes land in the table it reads integrations from (the
// in-memory one here), and the next read sees them: a refused feed is marked unhealthy,
// and once it accepts again the mark is cleared, with the feed's settings untouched.
func TestHealthMarksRoundTripThroughTheTable(t *testing.T) {
	ctx := context.Background()
	table := integrationstore.NewMemory()
	stored := integ("ios", integration.ScopePlatform, iosPlatfID)
	stored.Version = 3
	if err := table.Create(ctx, &stored); err != nil {
		t.Fatal(err)
	}
	hs := newHarness()
	hs.h.deps.Integrations = integration.NewCache(table, 0) // every invocation reads the table
	hs.h.deps.Health = table
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	hs.h.deps.Now = func() time.Time { return at }
	refused := true
	hs.up.decide = func(int, mparticle.Feed, mparticle.Batch) mparticle.Outcome {
		if refused {
			return mparticle.AuthFailed
		}
		return mparticle.Delivered
	}
	body := eventtest.Body(t, event.SubscriptionPurchased, nil)

	if resp, _ := hs.h.Handle(ctx, sqsEvent(body)); len(resp.BatchItemFailures) != 1 {
		t.Fatalf("refused credentials: failures %v, want the message back in the queue", resp.BatchItemFailures)
	}
	got, err := table.Get(ctx, appID, "ios")
	if err != nil {
		t.Fatal(err)
	}
	if got.Health != integration.HealthUnhealthy || got.HealthError == "" || !got.HealthUpdatedAt.Equal(at) {
		t.Fatalf("after a refusal: health %q (%q) at %v, want unhealthy at %v", got.Health, got.HealthError, got.HealthUpdatedAt, at)
	}

	refused = false
	if resp, err := hs.h.Handle(ctx, sqsEvent(body)); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("accepted again: err %v failures %v", err, resp.BatchItemFailures)
	}
	got, err = table.Get(ctx, appID, "ios")
	if err != nil {
		t.Fatal(err)
	}
	if got.Health != integration.HealthOK || got.HealthError != "" {
		t.Fatalf("after a delivery: health %q (%q), want ok without an error", got.Health, got.HealthError)
	}
	if got.Version != stored.Version || got.Name != stored.Name || !got.Enabled {
		t.Fatalf("health marks changed the settings: %+v", got)
	}
}
