package auth

import "testing"

func TestEntitlement(t *testing.T) {
	gate := Entitlement{Claim: DefaultEntitlementClaim, Feature: DefaultEntitlementFeature}
	tests := []struct {
		name   string
		e      Entitlement
		claims map[string]string
		want   bool
	}{
		{"JSON array", gate, map[string]string{"nami_features": `["analytics","mparticle"]`}, true},
		{"API Gateway's flattened array", gate, map[string]string{"nami_features": "[analytics mparticle]"}, true},
		{"space separated", gate, map[string]string{"nami_features": "mparticle"}, true},
		{"without the feature", gate, map[string]string{"nami_features": "[analytics]"}, false},
		{"a feature that only starts like it", gate, map[string]string{"nami_features": "[mparticle-lite]"}, false},
		{"no claim", gate, map[string]string{"sub": "x"}, false},
		{"empty array", gate, map[string]string{"nami_features": "[]"}, false},
		{"gating off", Entitlement{}, map[string]string{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.e.Entitled(tc.claims); got != tc.want {
				t.Errorf("Entitled = %v, want %v", got, tc.want)
			}
		})
	}
}
