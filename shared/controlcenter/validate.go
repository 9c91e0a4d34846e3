package controlcenter

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// Bounds of the input rules (the API's description states them too).
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

// ValidAppID reports whether s can be an app id.
func ValidAppID(s string) bool { return idPattern.MatchString(s) }

// ValidID reports whether s can be an integration id: a UUID in canonical (lower-case)
// form. Anything else names no integration.
func ValidID(s string) bool { return uuidPattern.MatchString(s) }

// Input is a create or patch request as the caller sent it. A nil pointer (or nil Events)
// means the member was absent; a Pod of "" means mParticle's partner endpoint.
type Input struct {
	Name             *string
	Enabled          *bool
	Scope            *string
	AppPlatformID    *string
	Platform         *string
	Pod              *string
	CustomerIDSource *string
	Events           []string
	Credentials      *feedcreds.Credentials
	AllowLegacyScope *bool
	// Delivery policies (policy.go).
	Sandbox            *string
	MissingCustomerID  *string
	SandboxCredentials *feedcreds.Credentials
}

// Draft is a new integration's input that passed ValidateCreate.
type Draft struct{ c change }

// Patch is a change to an integration that passed ValidatePatch.
type Patch struct{ c change }

// Empty reports whether the patch changes nothing (an empty merge patch).
func (p Patch) Empty() bool { return p.c.empty() }

// ValidateCreate checks a new integration's input on its own: each member, the members a
// new integration needs, and the rules between members. Create checks the rest.
func ValidateCreate(in Input) (Draft, error) {
	c, err := check(in, true)
	if err != nil {
		return Draft{}, err
	}
	return Draft{c: c}, nil
}

// ValidatePatch checks a change on its own: each member and the rules between members.
// The rules that depend on the stored integration are checked by Update, after its
// precondition: a request that is malformed on its own is refused as such whatever its
// precondition (RFC 9110, section 13.2.1), one that only conflicts with what is stored is not.
func ValidatePatch(in Input) (Patch, error) {
	c, err := check(in, false)
	if err != nil {
		return Patch{}, err
	}
	return Patch{c: c}, nil
}

// change is an Input that passed check, its values normalised (name trimmed, pod upper
// case, events as types, in the product's order). A nil pointer (or nil Events) means
// "absent"; a Pod of "" means the partner endpoint.
type change struct {
	checked          bool
	Name             *string
	Enabled          *bool
	Scope            *integration.Scope
	AppPlatformID    *string
	Platform         *string
	Pod              *string
	CustomerIDSource *integration.CustomerIDSource
	Events           []event.Type
	Credentials      *feedcreds.Credentials
	AllowLegacyScope bool

	Sandbox            *integration.SandboxPolicy
	MissingCustomerID  *integration.MissingIDPolicy
	SandboxCredentials *feedcreds.Credentials
}

func (c change) empty() bool {
	return c.Name == nil && c.Enabled == nil && c.Scope == nil && c.AppPlatformID == nil &&
		c.Platform == nil && c.Pod == nil && c.CustomerIDSource == nil && c.Events == nil &&
		c.Credentials == nil && c.Sandbox == nil && c.MissingCustomerID == nil &&
		c.SandboxCredentials == nil
}

// defaults of a new integration: the Control Center's toggle starts off, the partner
// endpoint routes by the key (so a feed needs no pod unless mParticle says otherwise), and
// most apps use the External ID as Customer ID.
func defaults() integration.Integration {
	return integration.Integration{
		Enabled:          false,
		Pod:              mparticle.PodPartner,
		CustomerIDSource: integration.CustomerIDExternal,
		// Sandbox and MissingCustomerID stay empty unless set: empty is the default policy,
		// as on items written before the policies existed.
	}
}

// check validates what an input can be judged by alone. creating requires the members a
// new integration needs.
func check(in Input, creating bool) (change, error) {
	c := change{checked: true}
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
				return c, invalid(req.name, "%s is required", req.name)
			}
		}
	}
	if in.Name != nil {
		name, err := checkName(*in.Name)
		if err != nil {
			return c, err
		}
		c.Name = &name
	}
	c.Enabled = in.Enabled
	if in.Platform != nil {
		if !slices.Contains(integration.Platforms, *in.Platform) {
			return c, invalid("platform", "platform must be one of: %s", strings.Join(integration.Platforms, ", "))
		}
		c.Platform = in.Platform
	}
	if in.Pod != nil {
		pod, ok := canonicalPod(*in.Pod)
		if !ok {
			return c, invalid("pod", "pod must be null (mParticle's partner endpoint, right for almost every feed) or one of: %s",
				strings.Join(mparticle.Pods(), ", "))
		}
		c.Pod = &pod
	}
	if in.CustomerIDSource != nil {
		src := integration.CustomerIDSource(*in.CustomerIDSource)
		if src != integration.CustomerIDExternal && src != integration.CustomerIDNamiUser {
			return c, invalid("customer_id_source", "customer_id_source must be %s or %s",
				integration.CustomerIDExternal, integration.CustomerIDNamiUser)
		}
		c.CustomerIDSource = &src
	}
	if err := checkPolicies(in, &c); err != nil {
		return c, err
	}
	if in.Events != nil {
		events, err := normalizeEvents(in.Events)
		if err != nil {
			return c, err
		}
		c.Events = events
	}
	c.AllowLegacyScope = in.AllowLegacyScope != nil && *in.AllowLegacyScope
	if in.Scope != nil {
		scope := integration.Scope(*in.Scope)
		if scope != integration.ScopePlatform && scope != integration.ScopeAllPlatforms {
			return c, invalid("scope", "scope must be %s or %s", integration.ScopePlatform, integration.ScopeAllPlatforms)
		}
		if creating && scope == integration.ScopeAllPlatforms && !c.AllowLegacyScope {
			return c, legacyScopeRefused()
		}
		c.Scope = &scope
	}
	if in.AppPlatformID != nil {
		if c.Scope != nil && *c.Scope != integration.ScopePlatform {
			return c, invalid("app_platform_id", "app_platform_id is only valid with scope %s", integration.ScopePlatform)
		}
		if !idPattern.MatchString(*in.AppPlatformID) {
			return c, invalid("app_platform_id", "app_platform_id must be 1 to 128 letters, digits, '.', '_', ':' or '-'")
		}
		c.AppPlatformID = in.AppPlatformID
	}
	if creating && *c.Scope == integration.ScopePlatform && c.AppPlatformID == nil {
		return c, invalid("app_platform_id", "app_platform_id is required with scope %s", integration.ScopePlatform)
	}
	if in.Credentials != nil {
		if err := checkCredentials(*in.Credentials); err != nil {
			return c, err
		}
		c.Credentials = in.Credentials
		if c.Pod != nil {
			if err := checkKeyPod(*c.Pod, keyPod(c.Credentials.Key)); err != nil {
				return c, err
			}
		}
	}
	if err := checkSandboxCredentials(in, &c, creating); err != nil {
		return c, err
	}
	return c, nil
}

// apply merges a checked change into base and enforces the rules that depend on what is
// stored (base is the stored integration on Update, defaults() on Create). base is not
// modified.
func apply(base integration.Integration, c change, creating bool) (integration.Integration, error) {
	out := base
	out.Events = slices.Clone(base.Events)
	if c.Name != nil {
		out.Name = *c.Name
	}
	if c.Enabled != nil {
		out.Enabled = *c.Enabled
	}
	if c.Platform != nil {
		out.Platform = *c.Platform
	}
	if c.CustomerIDSource != nil {
		out.CustomerIDSource = *c.CustomerIDSource
	}
	if c.Events != nil {
		out.Events = c.Events
	}
	applyPolicies(&out, c)
	if err := applyScope(&out, base, c, creating); err != nil {
		return out, err
	}
	if c.Pod != nil {
		out.Pod = *c.Pod
	}
	if c.Credentials != nil {
		out.KeyPod = keyPod(c.Credentials.Key)
	}
	// Checked only when this change sets the pod or the key: an integration saved before
	// the check existed keeps working as it is until one of them changes.
	if c.Pod != nil || c.Credentials != nil {
		if err := checkKeyPod(out.Pod, out.KeyPod); err != nil {
			return out, err
		}
	}
	if err := applySandbox(&out, base, c); err != nil {
		return out, err
	}
	return out, nil
}

// applyScope sets scope and app platform. The legacy all-platforms scope is kept on the
// integrations that have it but is refused for new ones (and for switching to it) unless
// the change opts in with AllowLegacyScope.
func applyScope(out *integration.Integration, base integration.Integration, c change, creating bool) error {
	if c.Scope != nil {
		becomesLegacy := *c.Scope == integration.ScopeAllPlatforms && (creating || base.Scope != integration.ScopeAllPlatforms)
		if becomesLegacy && !c.AllowLegacyScope {
			return legacyScopeRefused()
		}
		out.Scope = *c.Scope
	}
	if c.AppPlatformID != nil {
		if out.Scope != integration.ScopePlatform {
			return invalid("app_platform_id", "app_platform_id is only valid with scope %s", integration.ScopePlatform)
		}
		out.AppPlatformID = *c.AppPlatformID
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

func legacyScopeRefused() *ValidationError {
	return &ValidationError{Field: "scope", rule: ErrLegacyScope,
		Message: "scope all_platforms is a deprecated legacy configuration; use scope platform with app_platform_id, or send allow_legacy_scope: true"}
}

// checkName returns the trimmed name. The length bound applies to the name as sent, so a
// schema's maxLength states it exactly; the name must also hold a character other than
// white space, and no control character (Cc) or format character (Cf): bidirectional
// controls and zero-width characters would make a name shown in the Control Center read
// differently from what it is, e.g. pass one tenant's feed off as another's.
func checkName(name string) (string, error) {
	if n := utf8.RuneCountInString(name); n < 1 || n > MaxNameRunes {
		return "", invalid("name", "name must be 1 to %d characters", MaxNameRunes)
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", invalid("name", "name must not contain control characters")
	}
	if strings.IndexFunc(name, isFormat) >= 0 {
		return "", invalid("name", "name must not contain invisible format characters (Unicode category Cf, e.g. bidirectional controls or zero-width spaces)")
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return "", invalid("name", "name must not be blank")
	}
	return name, nil
}

func isFormat(r rune) bool { return unicode.Is(unicode.Cf, r) }

// canonicalPod returns the pod setting an input names: mparticle.PodPartner for "", else
// the upper-case name of a pod of mparticle.Pods. Letter case is ignored, in ASCII only:
// strings.ToUpper would also turn a long s (U+017F) into "S".
func canonicalPod(s string) (string, bool) {
	if s == "" {
		return mparticle.PodPartner, true
	}
	b := []byte(s)
	for i, c := range b {
		if c >= utf8.RuneSelf {
			return "", false
		}
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	if p := string(b); slices.Contains(mparticle.Pods(), p) {
		return p, true
	}
	return "", false
}

// keyPod is the pod a key names by its prefix, "" for none.
func keyPod(key string) string {
	p, _ := mparticle.KeyPod(key)
	return p
}

// checkKeyPod refuses a pod that contradicts the pod the key is for: mParticle would
// refuse every batch. The partner endpoint routes by the key, so it fits every key.
func checkKeyPod(pod, keyPod string) error {
	if pod == mparticle.PodPartner || keyPod == "" || pod == keyPod {
		return nil
	}
	return invalid("pod", "pod %s contradicts the key, which is for pod %s (its prefix); leave pod null to use mParticle's partner endpoint, which routes by the key, or set it to %s",
		pod, keyPod, keyPod)
}

// normalizeEvents refuses unknown types and returns the set in the product's order.
func normalizeEvents(names []string) ([]event.Type, error) {
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

func checkCredentials(c feedcreds.Credentials) error { return checkCredentialsNamed("credentials", c) }

// checkCredentialsNamed checks a key and secret sent as the member named member.
func checkCredentialsNamed(member string, c feedcreds.Credentials) error {
	for _, f := range []struct{ name, value string }{{member + ".key", c.Key}, {member + ".secret", c.Secret}} {
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
