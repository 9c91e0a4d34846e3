package mparticle

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestPodBaseURL(t *testing.T) {
	tests := []struct {
		pod, want string
		wantErr   bool
	}{
		{pod: "", want: "https://inbound.mparticle.com/s2s"},
		{pod: " ", want: "https://inbound.mparticle.com/s2s"},
		{pod: "US1", want: "https://s2s.mparticle.com"},
		{pod: "us1", want: "https://s2s.mparticle.com"},
		{pod: "US2", want: "https://s2s.us2.mparticle.com"},
		{pod: " EU1 ", want: "https://s2s.eu1.mparticle.com"},
		{pod: "AU1", want: "https://s2s.au1.mparticle.com"},
		{pod: "US3", wantErr: true},
		{pod: "s2s.mparticle.com", wantErr: true},
	}
	for _, tt := range tests {
		got, err := PodBaseURL(tt.pod)
		if tt.wantErr {
			if !errors.Is(err, ErrUnknownPod) {
				t.Errorf("PodBaseURL(%q) error = %v, want ErrUnknownPod", tt.pod, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("PodBaseURL(%q) = %q, %v; want %q", tt.pod, got, err, tt.want)
		}
	}
}

func TestClientURL(t *testing.T) {
	tests := []struct {
		baseURL, pod, path, want string
	}{
		{pod: "US2", path: PathEvents, want: "https://s2s.us2.mparticle.com/v2/events"},
		{pod: "", path: PathBulkEvents, want: "https://inbound.mparticle.com/s2s/v2/bulkevents"},
		{pod: "", path: PathHistorical, want: "https://inbound.mparticle.com/s2s/v2/bulkevents/historical"},
		{pod: "EU1", path: PathHistorical, want: "https://s2s.eu1.mparticle.com/v2/bulkevents/historical"},
		{baseURL: "http://127.0.0.1:9999", pod: "AU1", path: PathEvents, want: "http://127.0.0.1:9999/v2/events"},
		{baseURL: "https://localhost:8443/", pod: "US1", path: PathBulkEvents, want: "https://localhost:8443/v2/bulkevents"},
		{baseURL: "http://127.0.0.1:9999/s2s/", pod: "", path: PathHistorical, want: "http://127.0.0.1:9999/s2s/v2/bulkevents/historical"},
	}
	for _, tt := range tests {
		c, err := New(Options{BaseURL: tt.baseURL})
		if err != nil {
			t.Fatalf("New(%q): %v", tt.baseURL, err)
		}
		if got, err := c.URL(tt.pod, tt.path); err != nil || got != tt.want {
			t.Errorf("URL(%q, %q) with base %q = %q, %v; want %q", tt.pod, tt.path, tt.baseURL, got, err, tt.want)
		}
	}
}

func TestPods(t *testing.T) {
	got := Pods()
	if want := []string{"AU1", "EU1", "US1", "US2"}; !slices.Equal(got, want) {
		t.Errorf("Pods() = %v, want %v", got, want)
	}
	for _, p := range got {
		if u, err := PodBaseURL(p); err != nil || !strings.HasPrefix(u, "https://s2s.") {
			t.Errorf("PodBaseURL(%s) = %q, %v; want an s2s host", p, u, err)
		}
	}
}

func TestNormalizePod(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"", "", false}, {"  ", "", false}, {"us1", "US1", false}, {" Eu1 ", "EU1", false},
		{"partner", "", true}, {"US-1", "", true},
	}
	for _, tt := range tests {
		got, err := NormalizePod(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("NormalizePod(%q) = %q, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestKeyPod(t *testing.T) {
	tests := []struct {
		key, want string
		ok        bool
	}{
		{"us2-0123abcd", "US2", true}, {"EU1-x", "EU1", true}, {" au1-x", "AU1", true}, {"us1-x", "US1", true},
		{"0123abcd", "", false}, {"us3-x", "", false}, {"us2", "", false}, {"", "", false},
	}
	for _, tt := range tests {
		if got, ok := KeyPod(tt.key); got != tt.want || ok != tt.ok {
			t.Errorf("KeyPod(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.ok)
		}
	}
}
