package integrationsapp

import (
	"context"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/namiml/mparticle-bridge/shared/console"
)

// The console is public (its page holds no data) and the API behind the same function
// still refuses every request without a token.
func TestIntegrationsFunctionRoutesTheConsole(t *testing.T) {
	on := map[string]string{console.EnvClientID: "console-client", console.EnvIssuer: "https://idp.example/pool"}
	tests := []struct {
		name       string
		env        map[string]string
		method     string
		path       string
		wantStatus int
		wantType   string
	}{
		{"console page without a token", on, http.MethodGet, "/console", http.StatusOK, "text/html; charset=utf-8"},
		{"console script without a token", on, http.MethodGet, "/console/app.js", http.StatusOK, "text/javascript; charset=utf-8"},
		{"API still needs a token", on, http.MethodGet, "/v1/event-types", http.StatusUnauthorized, "application/json"},
		{"API list still needs a token", on, http.MethodGet, "/v1/apps/a/integrations/mparticle", http.StatusUnauthorized, "application/json"},
		{"console off: unknown path", nil, http.MethodGet, "/console", http.StatusNotFound, "application/json"},
		{"console off: API needs a token", nil, http.MethodGet, "/v1/event-types", http.StatusUnauthorized, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"INTEGRATIONS_TABLE": "t"}
			maps.Copy(env, tt.env)
			h, err := NewFunction(aws.Config{Region: "us-east-1"}, func(k string) string { return env[k] }, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := h(context.Background(), events.APIGatewayV2HTTPRequest{
				RawPath: tt.path,
				RequestContext: events.APIGatewayV2HTTPRequestContext{
					HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: tt.method, Path: tt.path},
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, resp.Body)
			}
			if got := resp.Headers["Content-Type"]; !strings.HasPrefix(got, tt.wantType) {
				t.Errorf("Content-Type %q, want %q", got, tt.wantType)
			}
		})
	}
}

func TestIntegrationsFunctionChecksConsoleSettings(t *testing.T) {
	env := map[string]string{"INTEGRATIONS_TABLE": "t", console.EnvClientID: "c", console.EnvIssuer: "http://idp.example"}
	if _, err := NewFunction(aws.Config{Region: "us-east-1"}, func(k string) string { return env[k] }, nil); err == nil {
		t.Fatal("started with a console issuer over plain http")
	}
}
