package app

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
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
