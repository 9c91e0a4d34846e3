package controlcenter

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/integration"
)

// statusReader answers from a map and records what it was asked.
type statusReader struct {
	st    map[string]integration.DeliveryStatus
	err   error
	calls int
	ids   []string
	now   time.Time
}

func (r *statusReader) DeliveryStatuses(_ context.Context, _ string, ids []string, now time.Time) (map[string]integration.DeliveryStatus, error) {
	r.calls++
	r.ids, r.now = ids, now
	return r.st, r.err
}

func TestDeliveryStatuses(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		reader    *statusReader // nil: no StatusReader configured
		ids       []string
		want      map[string]integration.DeliveryStatus
		wantErr   bool
		wantCalls int
	}{
		{name: "read together at the service's now", ids: []string{"a", "b"},
			reader: &statusReader{st: map[string]integration.DeliveryStatus{"a": {Delivered: 2}}},
			want:   map[string]integration.DeliveryStatus{"a": {Delivered: 2}}, wantCalls: 1},
		{name: "no ids, no read", ids: nil, reader: &statusReader{}, want: map[string]integration.DeliveryStatus{}},
		{name: "no reader: empty", ids: []string{"a"}, want: map[string]integration.DeliveryStatus{}},
		{name: "a failed read is an error", ids: []string{"a"}, reader: &statusReader{err: errors.New("throttled")},
			wantErr: true, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Store: newMemStore(), Secrets: newMemSecrets(), Windows: newMemWindows(),
				NewID: func() (string, error) { return "x", nil }, Limits: limits, Now: func() time.Time { return at }}
			if tt.reader != nil {
				cfg.Statuses = tt.reader
			}
			got, err := New(cfg).DeliveryStatuses(context.Background(), "app", tt.ids)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tt.wantErr && len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for id, st := range tt.want {
				if got[id] != st {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
			if tt.reader != nil {
				if tt.reader.calls != tt.wantCalls {
					t.Fatalf("%d reads, want %d", tt.reader.calls, tt.wantCalls)
				}
				if tt.wantCalls > 0 && (!slices.Equal(tt.reader.ids, tt.ids) || !tt.reader.now.Equal(at)) {
					t.Fatalf("asked for %v at %v", tt.reader.ids, tt.reader.now)
				}
			}
		})
	}
}
