package api

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/integration"
)

// Validation bounds (also in openapi.yaml).
const (
	MaxNameRunes      = 100
	MinCredentialLen  = 8
	MaxCredentialLen  = 256
	maxEchoedValueLen = 64
)

// idPattern is what app ids and app platform ids look like: no slashes, spaces or
// separators that could break a key, a secret name or a flattened claim list.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// uuidPattern is the canonical form of an integration id.
var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// validAppID reports whether s can be an app id (a path parameter).
func validAppID(s string) bool { return idPattern.MatchString(s) }

// defaults of a new integration: the Control Center's toggle starts off, US1 is mParticle's
// default pod, and most apps use the External ID as Customer ID (product doc).
func defaults() integration.Integration {
	return integration.Integration{
		Enabled:          false,
		Pod:              integration.PodUS1,
		CustomerIDSource: integration.CustomerIDExternal,
	}
}

// apply merges a request into base and validates the result. creating requires the members
// a new integration needs. It returns the merged integration and the credentials to store
// (nil when the request has none). base is not modified.
func apply(base integration.Integration, in input, creating bool) (integration.Integration, *credentialsInput, *apiError) {
	out := base
	out.Events = slices.Clone(base.Events)
	if creating {
		for _, req := range []struct {
			name    string
			present bool
		}{
			{"name", in.Name != nil},
			{"scope", in.Scope != nil},
			{"platform", in.Platform != nil},
			{"events", in.Events != nil},
			{"credentials", in.Credentials != nil},
		} {
			if !req.present {
				return out, nil, invalid(req.name, "%s is required", req.name)
			}
		}
	}

	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if n := utf8.RuneCountInString(name); n < 1 || n > MaxNameRunes {
			return out, nil, invalid("name", "name must be 1 to %d characters", MaxNameRunes)
		}
		if strings.IndexFunc(name, unicode.IsControl) >= 0 {
			return out, nil, invalid("name", "name must not contain control characters")
		}
		out.Name = name
	}
	if in.Enabled != nil {
		out.Enabled = *in.Enabled
	}
	if in.Platform != nil {
		if !slices.Contains(integration.Platforms, *in.Platform) {
			return out, nil, invalid("platform", "platform must be one of: %s", strings.Join(integration.Platforms, ", "))
		}
		out.Platform = *in.Platform
	}
	if in.Pod != nil {
		pod := strings.ToUpper(strings.TrimSpace(*in.Pod))
		if !slices.Contains(integration.Pods, pod) {
			return out, nil, invalid("pod", "pod must be one of: %s", strings.Join(integration.Pods, ", "))
		}
		out.Pod = pod
	}
	if in.CustomerIDSource != nil {
		src := integration.CustomerIDSource(*in.CustomerIDSource)
		if src != integration.CustomerIDExternal && src != integration.CustomerIDNamiUser {
			return out, nil, invalid("customer_id_source", "customer_id_source must be %s or %s",
				integration.CustomerIDExternal, integration.CustomerIDNamiUser)
		}
		out.CustomerIDSource = src
	}
	if in.Events != nil {
		events, aerr := normalizeEvents(in.Events)
		if aerr != nil {
			return out, nil, aerr
		}
		out.Events = events
	}
	if aerr := applyScope(&out, base, in, creating); aerr != nil {
		return out, nil, aerr
	}
	if in.Credentials != nil {
		if aerr := validateCredentials(in.Credentials); aerr != nil {
			return out, nil, aerr
		}
	}
	return out, in.Credentials, nil
}

// applyScope sets scope and app platform. The legacy all-platforms scope is kept on the
// integrations that have it but is refused for new ones (and for switching to it) unless
// the request opts in with allow_legacy_scope.
func applyScope(out *integration.Integration, base integration.Integration, in input, creating bool) *apiError {
	if in.Scope != nil {
		scope := integration.Scope(*in.Scope)
		if scope != integration.ScopePlatform && scope != integration.ScopeAllPlatforms {
			return invalid("scope", "scope must be %s or %s", integration.ScopePlatform, integration.ScopeAllPlatforms)
		}
		becomesLegacy := scope == integration.ScopeAllPlatforms && (creating || base.Scope != integration.ScopeAllPlatforms)
		if becomesLegacy && (in.AllowLegacyScope == nil || !*in.AllowLegacyScope) {
			return &apiError{Status: 422, Code: CodeLegacyScope, Field: "scope",
				Message: "scope all_platforms is a deprecated legacy configuration; use scope platform with app_platform_id, or send allow_legacy_scope: true"}
		}
		out.Scope = scope
	}
	if in.AppPlatformID != nil {
		if out.Scope != integration.ScopePlatform {
			return invalid("app_platform_id", "app_platform_id is only valid with scope %s", integration.ScopePlatform)
		}
		if !idPattern.MatchString(*in.AppPlatformID) {
			return invalid("app_platform_id", "app_platform_id must be 1 to 128 letters, digits, '.', '_', ':' or '-'")
		}
		out.AppPlatformID = *in.AppPlatformID
	}
	switch out.Scope {
	case integration.ScopePlatform:
		if out.AppPlatformID == "" {
			return invalid("app_platform_id", "app_platform_id is required with scope %s", integration.ScopePlatform)
		}
	case integration.ScopeAllPlatforms:
		out.AppPlatformID = ""
	}
	return nil
}

// normalizeEvents refuses unknown types and returns the set in the product doc's order.
func normalizeEvents(names []string) ([]event.Type, *apiError) {
	if len(names) == 0 {
		return nil, invalid("events", "events must name at least one event type")
	}
	seen := map[event.Type]bool{}
	for _, n := range names {
		t := event.Type(n)
		if !t.Valid() {
			valid := make([]string, len(event.AllTypes))
			for i, v := range event.AllTypes {
				valid[i] = string(v)
			}
			return nil, invalid("events", "unknown event type %s; valid types: %s", echo(n), strings.Join(valid, ", "))
		}
		seen[t] = true
	}
	out := make([]event.Type, 0, len(seen))
	for _, t := range event.AllTypes {
		if seen[t] {
			out = append(out, t)
		}
	}
	return out, nil
}

func validateCredentials(c *credentialsInput) *apiError {
	for _, f := range []struct{ name, value string }{{"credentials.key", c.Key}, {"credentials.secret", c.Secret}} {
		// Never echo the value: it is a secret.
		if f.value == "" {
			return invalid(f.name, "%s is required", f.name)
		}
		if len(f.value) < MinCredentialLen || len(f.value) > MaxCredentialLen || !printableASCII(f.value) {
			return invalid(f.name, "%s must be %d to %d printable ASCII characters without spaces",
				f.name, MinCredentialLen, MaxCredentialLen)
		}
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// keyHint is the last four characters of a key: enough to recognise it, too little to use.
func keyHint(key string) string {
	if len(key) <= 4 {
		return ""
	}
	return key[len(key)-4:]
}

// echo quotes a caller-supplied value for a message, bounded in length.
func echo(s string) string {
	if len(s) > maxEchoedValueLen {
		s = s[:maxEchoedValueLen] + "…"
	}
	return fmt.Sprintf("%q", s)
}
