package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSleep(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want error
	}{
		{"cancelled context ends the wait", cancelled, time.Hour, context.Canceled},
		{"zero does not wait", context.Background(), 0, nil},
		{"negative does not wait", context.Background(), -time.Second, nil},
		{"zero on a cancelled context", cancelled, 0, context.Canceled},
		{"a short wait ends", context.Background(), time.Millisecond, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Sleep(tt.ctx, tt.d); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("Sleep(%v) = %v, want %v", tt.d, err, tt.want)
			}
		})
	}
}
