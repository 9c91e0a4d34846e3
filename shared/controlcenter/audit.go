package controlcenter

import (
	"context"
	"slices"

	"github.com/namiml/mparticle-bridge/shared/integration"
)

// logChange records a change: who made it and the names of the fields it set, never a
// value (the credentials least of all).
func (s *Service) logChange(ctx context.Context, action string, in integration.Integration, by string, fields []string) {
	s.log.InfoContext(ctx, "integration "+action, "app_id", in.AppID, "integration_id", in.ID,
		"by", by, "fields", fields, "version", in.Version)
}

// changed names the Control Center's fields that differ between before and after, with
// "credentials" when they were written.
func changed(before, after integration.Integration, credentials bool) []string {
	fields := []string{}
	for _, f := range []struct {
		name string
		same bool
	}{
		{"name", before.Name == after.Name},
		{"enabled", before.Enabled == after.Enabled},
		{"scope", before.Scope == after.Scope},
		{"app_platform_id", before.AppPlatformID == after.AppPlatformID},
		{"platform", before.Platform == after.Platform},
		{"pod", before.Pod == after.Pod},
		{"customer_id_source", before.CustomerIDSource == after.CustomerIDSource},
		{"events", slices.Equal(before.Events, after.Events)},
		{"sandbox", before.Sandbox == after.Sandbox},
		{"missing_customer_id", before.MissingCustomerID == after.MissingCustomerID},
		{"credentials", !credentials},
	} {
		if !f.same {
			fields = append(fields, f.name)
		}
	}
	return fields
}
