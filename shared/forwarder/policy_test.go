package forwarder

import (
	"context"
	"sync"
	"testing"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// credsBySecret answers each secret id with its own key (the secret id itself), so a test
// sees which credentials an upload used.
type credsBySecret struct {
	mu    sync.Mutex
	reads map[string]string // secret id -> version last asked for
}

func (c *credsBySecret) Get(_ context.Context, id, version string) (feedcreds.Credentials, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reads == nil {
		c.reads = map[string]string{}
	}
	c.reads[id] = version
	return feedcreds.Credentials{Key: "key-of:" + id, Secret: "secret-of:" + id}, nil
}

func (c *credsBySecret) Invalidate(string) {}

// TestDeliveryPolicies: the sandbox and missing_customer_id policies decide, per
// integration, whether an event is sent, and with which credentials; what is not sent is
// Skipped and its message acknowledged.
func TestDeliveryPolicies(t *testing.T) {
	purchase := func(sandbox, externalID bool) func(*testing.T) string {
		return func(t *testing.T) string {
			return eventtest.Body(t, event.SubscriptionPurchased, func(m map[string]any) {
				if sandbox {
					m["subscription"].(map[string]any)["purchase_env"] = "sandbox"
				}
				if !externalID {
					delete(m["user"].(map[string]any), "external_id")
				}
			})
		}
	}
	betaBuild := func(t *testing.T) string { // a production purchase from a non-production app build
		return eventtest.Body(t, event.SubscriptionPurchased, func(m map[string]any) { m["app_env"] = "beta_testing" })
	}
	with := func(f func(*integration.Integration)) integration.Integration {
		in := integ("in-1", integration.ScopePlatform, iosPlatfID)
		f(&in)
		return in
	}
	separate := func(in *integration.Integration) {
		in.Sandbox = integration.SandboxSeparate
		in.SandboxSecretID, in.SandboxSecretVersionID = "sandbox-secret", "sv-1"
	}
	main := "key-of:" + integ("in-1", integration.ScopePlatform, iosPlatfID).SecretID
	tests := []struct {
		name    string
		in      integration.Integration
		body    func(*testing.T) string
		wantKey string // the key the batch went with; "" for none sent
		wantEnv string
	}{
		{"default: sandbox sent as development", with(func(*integration.Integration) {}), purchase(true, true), main, mparticle.EnvDevelopment},
		{"development: sandbox sent as development", with(func(in *integration.Integration) { in.Sandbox = integration.SandboxDevelopment }), purchase(true, true), main, mparticle.EnvDevelopment},
		{"drop: sandbox purchase skipped", with(func(in *integration.Integration) { in.Sandbox = integration.SandboxDrop }), purchase(true, true), "", ""},
		{"drop: non-production build skipped", with(func(in *integration.Integration) { in.Sandbox = integration.SandboxDrop }), betaBuild, "", ""},
		{"drop: production sent", with(func(in *integration.Integration) { in.Sandbox = integration.SandboxDrop }), purchase(false, true), main, mparticle.EnvProduction},
		{"separate: sandbox with the sandbox key", with(separate), purchase(true, true), "key-of:sandbox-secret", mparticle.EnvDevelopment},
		{"separate: production with the main key", with(separate), purchase(false, true), main, mparticle.EnvProduction},
		{"missing id, default: sent", with(func(*integration.Integration) {}), purchase(false, false), main, mparticle.EnvProduction},
		{"missing id, skip: skipped", with(func(in *integration.Integration) { in.MissingCustomerID = integration.MissingIDSkip }), purchase(false, false), "", ""},
		{"id present, skip: sent", with(func(in *integration.Integration) { in.MissingCustomerID = integration.MissingIDSkip }), purchase(false, true), main, mparticle.EnvProduction},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(tt.in)
			creds := &credsBySecret{}
			hs.h.deps.Credentials = creds
			resp, sum, err := hs.h.handle(context.Background(), sqsEvent(tt.body(t)))
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("err %v failures %v", err, resp.BatchItemFailures)
			}
			if tt.wantKey == "" {
				if len(hs.up.calls) != 0 || sum.Skipped != 1 || sum.Delivered != 0 {
					t.Fatalf("uploads %d skipped %d delivered %d, want the delivery skipped", len(hs.up.calls), sum.Skipped, sum.Delivered)
				}
				return
			}
			if len(hs.up.calls) != 1 || len(hs.up.calls[0].batches) != 1 || sum.Skipped != 0 {
				t.Fatalf("uploads %d skipped %d, want one batch sent", len(hs.up.calls), sum.Skipped)
			}
			c := hs.up.calls[0]
			if c.feed.Credentials.Key != tt.wantKey || c.batches[0].Environment != tt.wantEnv {
				t.Errorf("sent with the wrong credentials or environment %q, want %q", c.batches[0].Environment, tt.wantEnv)
			}
			if tt.wantKey == "key-of:sandbox-secret" && creds.reads["sandbox-secret"] != "sv-1" {
				t.Errorf("sandbox secret read at version %q, want the recorded sv-1", creds.reads["sandbox-secret"])
			}
		})
	}
}

// TestSeparateSplitsOneIntegrationsEvents: with sandbox separate, one invocation's events
// of one integration go in two uploads, one per set of credentials.
func TestSeparateSplitsOneIntegrationsEvents(t *testing.T) {
	in := integ("in-1", integration.ScopePlatform, iosPlatfID)
	in.Sandbox, in.SandboxSecretID = integration.SandboxSeparate, "sandbox-secret"
	hs := newHarness(in)
	hs.h.deps.Credentials = &credsBySecret{}
	sbx := eventtest.Body(t, event.SubscriptionPurchased, func(m map[string]any) {
		m["id"] = "6a1e0000-0000-4000-8001-0000000000aa"
		m["subscription"].(map[string]any)["purchase_env"] = "sandbox"
	})
	_, sum, err := hs.h.handle(context.Background(), sqsEvent(eventtest.Body(t, event.SubscriptionPurchased, nil), sbx))
	if err != nil || sum.Delivered != 2 {
		t.Fatalf("err %v delivered %d, want 2", err, sum.Delivered)
	}
	keys := map[string]int{}
	for _, c := range hs.up.calls {
		keys[c.feed.Credentials.Key] += len(c.batches)
	}
	if len(keys) != 2 || keys["key-of:sandbox-secret"] != 1 {
		t.Errorf("batches per key %v, want one with the main key and one with the sandbox key", keys)
	}
}
