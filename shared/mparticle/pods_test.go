package mparticle

import (
	"errors"
	"testing"
)

func TestPodBaseURL(t *testing.T) {
	tests := []struct {
		pod, want string
		wantErr   bool
	}{
		{pod: "", want: "https://s2s.mparticle.com"},
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
		{pod: "", path: PathBulkEvents, want: "https://s2s.mparticle.com/v2/bulkevents"},
		{baseURL: "http://127.0.0.1:9999", pod: "AU1", path: PathEvents, want: "http://127.0.0.1:9999/v2/events"},
		{baseURL: "https://localhost:8443/", pod: "US1", path: PathBulkEvents, want: "https://localhost:8443/v2/bulkevents"},
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
