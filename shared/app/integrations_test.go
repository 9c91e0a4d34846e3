package app

import (
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/namiml/mparticle-bridge/shared/controlcenter"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
)

func TestNewFromEnvNeedsTable(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if _, err := NewIntegrations(aws.Config{Region: "us-east-1"}, getenv, nil); err == nil {
		t.Fatal("built without INTEGRATIONS_TABLE")
	}
	env["INTEGRATIONS_TABLE"] = "t"
	if h, err := NewIntegrations(aws.Config{Region: "us-east-1"}, getenv, nil); err != nil || h == nil {
		t.Fatalf("NewIntegrations: %v", err)
	}
}

// The table's errors reach the control center as its own, their text kept for the logs.
func TestTableErrorsAreThePorts(t *testing.T) {
	for _, tc := range tableErrs {
		err := tableErr(fmt.Errorf("get a/b: %w", tc.table))
		if !errors.Is(err, tc.port) || !errors.Is(err, tc.table) {
			t.Errorf("%v: maps to %v", tc.table, err)
		}
	}
	other := errors.New("throttled")
	if err := tableErr(other); err != other {
		t.Errorf("other errors pass unchanged, got %v", err)
	}
	if tableErr(nil) != nil {
		t.Error("nil maps to an error")
	}
}

// The service asks for pages the table can serve.
func TestPageSizeFitsTheTable(t *testing.T) {
	if controlcenter.MaxPageSize > integrationstore.MaxLimit {
		t.Fatalf("controlcenter.MaxPageSize %d > integrationstore.MaxLimit %d", controlcenter.MaxPageSize, integrationstore.MaxLimit)
	}
}
