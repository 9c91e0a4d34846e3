package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/testkit/apifuzz"
)

func TestVerdict(t *testing.T) {
	state := func(version int64, secret string) appState {
		return appState{
			Integrations: []integration.Integration{{ID: "b1", AppID: "app-b", Version: version, SecretID: "s", UpdatedAt: time.Unix(1, 0)}},
			Secrets:      map[string]string{"s": secret},
		}
	}
	clean := apifuzz.Findings{Requests: 10, ByStatus: map[int]int{200: 10}, Probes: map[string]int{"app B's app id": 3}}
	tests := []struct {
		name   string
		f      func(*apifuzz.Findings)
		after  appState
		runErr error
		want   string
	}{
		{"clean", nil, state(1, "x"), nil, ""},
		{"server error", func(f *apifuzz.Findings) { f.ServerErrors = []string{"GET /v1 -> 500"} }, state(1, "x"), nil, "server error: GET /v1 -> 500"},
		{"leak", func(f *apifuzz.Findings) { f.Leaks = []string{"GET /v1: app B's planted secret"} }, state(1, "x"), nil, "secret or other app's data in a response"},
		{"B's integration changed", nil, state(2, "x"), nil, "app B's integrations changed"},
		{"B's secret changed", nil, state(1, "y"), nil, "app B's secret changed"},
		{"B never probed", func(f *apifuzz.Findings) { f.Probes["app B's app id"] = 0 }, state(1, "x"), nil, "no request tried app B's app id"},
		{"no traffic", func(f *apifuzz.Findings) { f.Requests = 0 }, state(1, "x"), nil, "no request reached the API"},
		{"fuzzer failed", nil, state(1, "x"), errors.New("schemathesis: exit status 1"), "schemathesis"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := clean
			f.Probes = map[string]int{"app B's app id": 3}
			if tc.f != nil {
				tc.f(&f)
			}
			err := verdict(f, state(1, "x"), tc.after, tc.runErr)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("verdict = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("verdict = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestWriteConfig(t *testing.T) {
	dir := t.TempDir()
	path, err := writeConfig(dir, map[string]string{identityA: "token-a", identityB: "token-b"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	config := string(raw)
	authPath := filepath.Join(dir, "auth.json")
	for _, want := range []string{
		"[auth.wfc]\npath = " + tomlString(authPath) + "\nuser = \"app-a\"\npeers = [\"app-a\", \"app-b\"]\n",
		// PATCH: 412, 428, and 422 for the rules of the stored integration.
		"include-operation-id = \"updateIntegration\"\n" +
			"checks.positive_data_acceptance.expected-statuses = [\"2xx\", \"3xx\", \"401\", \"403\", \"404\", \"409\", \"412\", \"428\", \"429\", \"5xx\", \"422\"]\n" +
			"checks.missing_required_header.expected-statuses = [\"400\", \"401\", \"403\", \"406\", \"415\", \"422\", \"428\"]\n",
		// DELETE: 412 and 428 only.
		"include-operation-id = \"deleteIntegration\"\n" +
			"checks.positive_data_acceptance.expected-statuses = [\"2xx\", \"3xx\", \"401\", \"403\", \"404\", \"409\", \"412\", \"428\", \"429\", \"5xx\"]\n",
	} {
		if !strings.Contains(config, want) {
			t.Errorf("config lacks\n%s\nin\n%s", want, config)
		}
	}
	// A malformed request must be refused whatever its If-Match: nothing widens that check.
	if strings.Contains(config, "negative_data_rejection") || strings.Contains(config, "enabled = false") {
		t.Errorf("config weakens a check:\n%s", config)
	}
	info, err := os.Stat(authPath)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("auth document mode %v, want 0600: it holds tokens", info.Mode().Perm())
	}
	var doc struct {
		Auth []struct {
			Name         string
			FixedHeaders []struct{ Name, Value string }
		}
	}
	b, _ := os.ReadFile(authPath)
	if err := json.Unmarshal(b, &doc); err != nil || len(doc.Auth) != 2 {
		t.Fatalf("auth document: %v %s", err, b)
	}
	for i, want := range []string{"app-a:Bearer token-a", "app-b:Bearer token-b"} {
		u := doc.Auth[i]
		if len(u.FixedHeaders) != 1 || u.FixedHeaders[0].Name != "Authorization" || u.Name+":"+u.FixedHeaders[0].Value != want {
			t.Errorf("user %d: %+v", i, u)
		}
	}
}
