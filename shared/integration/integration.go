// Package integration models an app's mParticle integrations (what the Control Center
// configures) and decides which of them receive an event.
package integration

import (
	"slices"
	"time"

	"github.com/namiml/mparticle-bridge/shared/event"
)

// Scope says which of an app's platforms an integration takes events from.
type Scope string

const (
	// ScopePlatform: "Enable for events from only selected platform" (AppPlatformID required).
	ScopePlatform Scope = "platform"
	// ScopeAllPlatforms: the legacy "app and all platforms" option. Deprecated for new feeds.
	ScopeAllPlatforms Scope = "all_platforms"
)

// CustomerIDSource says which identifier becomes mParticle's customer_id.
type CustomerIDSource string

const (
	CustomerIDExternal CustomerIDSource = "external_id"
	CustomerIDNamiUser CustomerIDSource = "nami_user_id"
)

// SandboxPolicy says where an integration sends sandbox events: those the transform gives
// the environment "development" (sandbox purchases, non-production app builds).
type SandboxPolicy string

const (
	// SandboxDevelopment (the default, and what an item without the attribute means): sent
	// to the same feed, as environment development.
	SandboxDevelopment SandboxPolicy = "development"
	// SandboxDrop: not sent (the delivery is skipped).
	SandboxDrop SandboxPolicy = "drop"
	// SandboxSeparate: sent as environment development with the integration's second
	// credentials (SandboxSecretID), for customers who keep a development input.
	SandboxSeparate SandboxPolicy = "separate"
)

// SandboxPolicies lists the accepted sandbox policies.
var SandboxPolicies = []SandboxPolicy{SandboxDevelopment, SandboxDrop, SandboxSeparate}

// MissingIDPolicy says what happens to an event without the integration's Customer ID
// source identifier.
type MissingIDPolicy string

const (
	// MissingIDSend (the default): sent with the partner identity only.
	MissingIDSend MissingIDPolicy = "send"
	// MissingIDSkip: not sent (the delivery is skipped).
	MissingIDSkip MissingIDPolicy = "skip"
)

// MissingIDPolicies lists the accepted missing_customer_id policies.
var MissingIDPolicies = []MissingIDPolicy{MissingIDSend, MissingIDSkip}

// Platforms lists the act-as platforms an integration may feed.
var Platforms = []string{"ios", "android", "amazon", "apple_tv", "web", "roku", "fire_tv", "smart_tv", "xbox", "alexa"}

// Health states of an integration, set by the forwarder.
const (
	HealthOK        = "ok"
	HealthUnhealthy = "unhealthy"
)

// Integration is one mParticle input feed of one app. Its Pod is a pod of the mparticle
// package's table (mparticle.PodUS1, ...) or mparticle.PodPartner (""), mParticle's partner
// endpoint, which routes by the key; items written before the partner endpoint became the
// default hold "US1" and keep sending there.
type Integration struct {
	ID               string           `json:"id" dynamodbav:"id"`
	AppID            string           `json:"app_id" dynamodbav:"app_id"`
	Name             string           `json:"name" dynamodbav:"name"`
	Enabled          bool             `json:"enabled" dynamodbav:"enabled"`
	Scope            Scope            `json:"scope" dynamodbav:"scope"`
	AppPlatformID    string           `json:"app_platform_id,omitempty" dynamodbav:"app_platform_id,omitempty"`
	Platform         string           `json:"platform" dynamodbav:"platform"`
	Pod              string           `json:"pod" dynamodbav:"pod,omitempty"`
	CustomerIDSource CustomerIDSource `json:"customer_id_source" dynamodbav:"customer_id_source"`
	Events           []event.Type     `json:"events" dynamodbav:"events"`
	// Sandbox and MissingCustomerID are the delivery policies; empty (items written before
	// they existed) means the defaults, SandboxDevelopment and MissingIDSend.
	Sandbox           SandboxPolicy   `json:"sandbox" dynamodbav:"sandbox,omitempty"`
	MissingCustomerID MissingIDPolicy `json:"missing_customer_id" dynamodbav:"missing_customer_id,omitempty"`

	// SecretID is the Secrets Manager name or ARN of {"key","secret"}. Never the secret itself.
	SecretID string `json:"-" dynamodbav:"secret_id"`
	// SecretVersionID is the Secrets Manager version the integration uses. Readers should
	// fetch that exact version when it is set: the API points the item at a new version only
	// after its conditional write succeeds, so the item alone decides which version is live.
	SecretVersionID      string    `json:"-" dynamodbav:"secret_version_id,omitempty"`
	KeyHint              string    `json:"-" dynamodbav:"key_hint,omitempty"`
	CredentialsUpdatedAt time.Time `json:"-" dynamodbav:"credentials_updated_at"`
	// KeyPod is the pod the key names by its prefix ("us2-..." is US2), empty for a key
	// without one, so a later change of pod can be checked against the key without reading
	// the secret. Items written before it existed have none and skip that check.
	KeyPod string `json:"-" dynamodbav:"key_pod,omitempty"`

	// The sandbox credentials (policy SandboxSeparate), kept like the main ones: a second
	// secret, the version in use, the key's hint and pod. Kept when the policy changes away
	// from separate, so the secret is deleted with the integration and never orphaned.
	SandboxSecretID        string `json:"-" dynamodbav:"sandbox_secret_id,omitempty"`
	SandboxSecretVersionID string `json:"-" dynamodbav:"sandbox_secret_version_id,omitempty"`
	SandboxKeyHint         string `json:"-" dynamodbav:"sandbox_key_hint,omitempty"`
	SandboxKeyPod          string `json:"-" dynamodbav:"sandbox_key_pod,omitempty"`

	CreatedAt time.Time `json:"created_at" dynamodbav:"created_at"`
	UpdatedAt time.Time `json:"updated_at" dynamodbav:"updated_at"`
	Version   int64     `json:"version" dynamodbav:"version"`
	// CreatedBy and UpdatedBy are the token subjects (sub) of the callers who created the
	// integration and last changed it through the API; empty on items written before they
	// were recorded.
	CreatedBy string `json:"created_by,omitempty" dynamodbav:"created_by,omitempty"`
	UpdatedBy string `json:"updated_by,omitempty" dynamodbav:"updated_by,omitempty"`

	// Health is written by the forwarder when a feed's credentials are refused.
	Health          string    `json:"-" dynamodbav:"health,omitempty"`
	HealthError     string    `json:"-" dynamodbav:"health_error,omitempty"`
	HealthUpdatedAt time.Time `json:"-" dynamodbav:"health_updated_at,omitempty"`
}

// Receives reports whether the integration takes the event: enabled, the event type
// selected, and the platform scope matching.
func (in *Integration) Receives(ev *event.Event) bool {
	if !in.Enabled || !slices.Contains(in.Events, ev.Type) {
		return false
	}
	switch in.Scope {
	case ScopeAllPlatforms:
		return true
	case ScopePlatform:
		return in.AppPlatformID != "" && in.AppPlatformID == ev.AppPlatformID
	default:
		return false
	}
}

// SeparatesSandbox reports whether sandbox events go with the sandbox credentials.
func (in *Integration) SeparatesSandbox() bool { return in.Sandbox == SandboxSeparate }

// DropsSandbox reports whether sandbox events are left out rather than sent.
func (in *Integration) DropsSandbox() bool { return in.Sandbox == SandboxDrop }

// SkipsMissingCustomerID reports whether events without the Customer ID source identifier
// are left out rather than sent with the partner identity only.
func (in *Integration) SkipsMissingCustomerID() bool { return in.MissingCustomerID == MissingIDSkip }

// Route returns the integrations among ins that receive ev, in their given order.
func Route(ins []Integration, ev *event.Event) []*Integration {
	var out []*Integration
	for i := range ins {
		if ins[i].AppID == ev.AppID && ins[i].Receives(ev) {
			out = append(out, &ins[i])
		}
	}
	return out
}
