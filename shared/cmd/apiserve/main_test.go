package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/apifuzz"
	"github.com/namiml/mparticle-bridge/shared/integration"
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
