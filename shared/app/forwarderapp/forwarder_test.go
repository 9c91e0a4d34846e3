package forwarderapp

import (
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/forwarder"
)

func TestSettingsBackoffUnit(t *testing.T) {
	tests := []struct {
		value   string
		want    time.Duration
		wantErr bool
	}{
		{"", forwarder.DefaultBackoffUnit, false},
		{"1s", time.Second, false},
		{"250ms", 250 * time.Millisecond, false},
		{"0", 0, true},
		{"0s", 0, true},
		{"-1m", 0, true},
		{"soon", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			env := map[string]string{"INTEGRATIONS_TABLE": "t", "DLQ_URL": "u", EnvRetryBackoffUnit: tc.value}
			s, err := SettingsFromEnv(func(k string) string { return env[k] })
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want an error: %v", err, tc.wantErr)
			}
			if err == nil && s.BackoffUnit != tc.want {
				t.Errorf("BackoffUnit = %s, want %s", s.BackoffUnit, tc.want)
			}
		})
	}
}

func TestSettingsDeliveryRecords(t *testing.T) {
	tests := []struct {
		value   string
		want    forwarder.RecordPolicy
		wantErr bool
	}{
		{"", forwarder.RecordsRetries, false},
		{"retries", forwarder.RecordsRetries, false},
		{"all", forwarder.RecordsAll, false},
		{"off", forwarder.RecordsOff, false},
		{"ALL", "", true}, // the template's AllowedValues are lower case; anything else is a typo
		{"none", "", true},
		{" off", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			env := map[string]string{"INTEGRATIONS_TABLE": "t", "DLQ_URL": "u", EnvDeliveryRecords: tc.value}
			s, err := SettingsFromEnv(func(k string) string { return env[k] })
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want an error: %v", err, tc.wantErr)
			}
			if err == nil && s.DeliveryRecords != tc.want {
				t.Errorf("DeliveryRecords = %q, want %q", s.DeliveryRecords, tc.want)
			}
		})
	}
}
