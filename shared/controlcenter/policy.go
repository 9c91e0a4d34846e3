package controlcenter

import (
	"slices"
	"strings"

	"github.com/namiml/mparticle-bridge/shared/integration"
)

// checkPolicies validates the delivery policies: sandbox (what becomes of sandbox events)
// and missing_customer_id (what becomes of an event without the Customer ID source
// identifier). Each is an enum; absent leaves the stored value (or the default) alone.
func checkPolicies(in Input, c *change) error {
	if in.Sandbox != nil {
		p := integration.SandboxPolicy(*in.Sandbox)
		if !slices.Contains(integration.SandboxPolicies, p) {
			return invalid("sandbox", "sandbox must be one of: %s", joinPolicies(integration.SandboxPolicies))
		}
		c.Sandbox = &p
	}
	if in.MissingCustomerID != nil {
		p := integration.MissingIDPolicy(*in.MissingCustomerID)
		if !slices.Contains(integration.MissingIDPolicies, p) {
			return invalid("missing_customer_id", "missing_customer_id must be one of: %s", joinPolicies(integration.MissingIDPolicies))
		}
		c.MissingCustomerID = &p
	}
	return nil
}

// applyPolicies merges the checked policies into out. A stored integration without them
// (written before they existed) reads as the defaults, so the response always shows one.
func applyPolicies(out *integration.Integration, c change) {
	if c.Sandbox != nil {
		out.Sandbox = *c.Sandbox
	}
	if c.MissingCustomerID != nil {
		out.MissingCustomerID = *c.MissingCustomerID
	}
}

func joinPolicies[P ~string](ps []P) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}
