package devserver

import (
	"maps"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/app/forwarderapp"
)

func TestWithBackoffUnit(t *testing.T) {
	tpl := map[string]string{"INTEGRATIONS_TABLE": "t", forwarderapp.EnvRetryBackoffUnit: "1m"}
	tests := []struct {
		name string
		unit time.Duration
		want string
	}{
		{"unset keeps the template's", 0, "1m"},
		{"set wins", time.Second, "1s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := maps.Clone(tpl)
			got := withBackoffUnit(tpl, tc.unit)
			if got[forwarderapp.EnvRetryBackoffUnit] != tc.want || got["INTEGRATIONS_TABLE"] != "t" {
				t.Errorf("env = %v, want %s=%s and the rest kept", got, forwarderapp.EnvRetryBackoffUnit, tc.want)
			}
			if !maps.Equal(tpl, before) {
				t.Errorf("the template's environment was changed: %v", tpl)
			}
		})
	}
}
