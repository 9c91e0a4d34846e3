package integrationsapp

import (
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/namiml/mparticle-bridge/shared/auth"
	"github.com/namiml/mparticle-bridge/shared/controlcenter"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
	"github.com/namiml/mparticle-bridge/shared/stack"
)

func TestNewFromEnvNeedsTable(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if _, err := New(aws.Config{Region: "us-east-1"}, getenv, nil); err == nil {
		t.Fatal("built without INTEGRATIONS_TABLE")
	}
	env["INTEGRATIONS_TABLE"] = "t"
	if h, err := New(aws.Config{Region: "us-east-1"}, getenv, nil); err != nil || h == nil {
		t.Fatalf("New: %v", err)
	}
}

// A setting the template would never pass fails the function as it starts, rather than
// running with a limit or an admin rule nobody chose.
func TestNewFromEnvChecksSettings(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{"defaults", nil, true},
		{"every setting", map[string]string{
			stack.EnvStackName: "s", stack.EnvSecretsPrefix: "p/", stack.EnvMaxIntegrationsPerApp: "5",
			stack.EnvAppWritesPerMinute: "10", stack.EnvAppCredentialWritesPerMinute: "2",
			stack.EnvAdminScope: "ops:admin", stack.EnvAdminClientID: "ops-client",
		}, true},
		{"zero integrations", map[string]string{stack.EnvMaxIntegrationsPerApp: "0"}, false},
		{"writes not a number", map[string]string{stack.EnvAppWritesPerMinute: "30/min"}, false},
		{"negative credential writes", map[string]string{stack.EnvAppCredentialWritesPerMinute: "-1"}, false},
		{"admin scope without client", map[string]string{stack.EnvAdminScope: "ops:admin"}, false},
		{"admin client without scope", map[string]string{stack.EnvAdminClientID: "ops-client"}, false},
		{"mParticle base URL", map[string]string{stack.EnvMParticleBaseURL: "http://127.0.0.1:9999/s2s"}, true},
		{"mParticle base URL not a URL", map[string]string{stack.EnvMParticleBaseURL: "::nope"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"INTEGRATIONS_TABLE": "t"}
			maps.Copy(env, tt.env)
			_, err := New(aws.Config{Region: "us-east-1"}, func(k string) string { return env[k] }, nil)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// The table's errors reach the control center as its own, their text kept for the logs.
func TestTableErrorsAreThePorts(t *testing.T) {
	for _, tc := range portErrs {
		err := portErr(fmt.Errorf("get a/b: %w", tc.store))
		if !errors.Is(err, tc.port) || !errors.Is(err, tc.store) {
			t.Errorf("%v: maps to %v", tc.store, err)
		}
	}
	other := errors.New("throttled")
	if err := portErr(other); err != other {
		t.Errorf("other errors pass unchanged, got %v", err)
	}
	if portErr(nil) != nil {
		t.Error("nil maps to an error")
	}
}

// The service asks for pages the table can serve.
func TestPageSizeFitsTheTable(t *testing.T) {
	if controlcenter.MaxPageSize > integrationstore.MaxLimit {
		t.Fatalf("controlcenter.MaxPageSize %d > integrationstore.MaxLimit %d", controlcenter.MaxPageSize, integrationstore.MaxLimit)
	}
}

// The table and its in-memory twin both serve the Integrations API.
var (
	_ table = (*integrationstore.Store)(nil)
	_ table = (*integrationstore.Memory)(nil)
)

func TestEntitlementSettings(t *testing.T) {
	tests := []struct {
		name           string
		claim, feature string
		want           auth.Entitlement
	}{
		{"unset gates on the defaults", "", "", auth.Entitlement{Claim: auth.DefaultEntitlementClaim, Feature: auth.DefaultEntitlementFeature}},
		{"none turns gating off", "none", "mparticle", auth.Entitlement{}},
		{"named", "plan_features", "mp", auth.Entitlement{Claim: "plan_features", Feature: "mp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{stack.EnvEntitlementClaim: tt.claim, stack.EnvEntitlementFeature: tt.feature}
			if got := entitlement(func(k string) string { return env[k] }); got != tt.want {
				t.Errorf("entitlement = %+v, want %+v", got, tt.want)
			}
		})
	}
}
