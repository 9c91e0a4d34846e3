package api

import (
	"time"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// HealthUnknown is reported until the Forwarder has recorded a delivery outcome.
const HealthUnknown = "unknown"

// Where an integration's batches go, as responses show it: mParticle's partner endpoint
// (no pod; it routes by the key) or the host of the pod the integration names.
const (
	EndpointPartner = "partner"
	EndpointPod     = "pod"
)

// resource is an integration as the API shows it: credentials reduced to a hint.
type resource struct {
	ID                string                       `json:"id"`
	AppID             string                       `json:"app_id"`
	Name              string                       `json:"name"`
	Enabled           bool                         `json:"enabled"`
	Scope             integration.Scope            `json:"scope"`
	AppPlatformID     string                       `json:"app_platform_id,omitempty"`
	Platform          string                       `json:"platform"`
	Pod               *string                      `json:"pod"`
	Endpoint          string                       `json:"endpoint"`
	CustomerIDSource  integration.CustomerIDSource `json:"customer_id_source"`
	Events            []event.Type                 `json:"events"`
	Sandbox           integration.SandboxPolicy    `json:"sandbox"`
	MissingCustomerID integration.MissingIDPolicy  `json:"missing_customer_id"`
	Credentials       credentialsView              `json:"credentials"`
	// The sandbox credentials (sandbox separate) reduced like the main ones.
	SandboxKeyHint        string              `json:"sandbox_key_hint,omitempty"`
	SandboxCredentialsSet bool                `json:"sandbox_credentials_set"`
	Status                statusView          `json:"status"`
	DeliveryStatus        *deliveryStatusView `json:"delivery_status,omitempty"` // set by the handlers (status.go)
	Deprecations          []deprecation       `json:"deprecations,omitempty"`
	CreatedAt             time.Time           `json:"created_at"`
	CreatedBy             string              `json:"created_by,omitempty"`
	UpdatedAt             time.Time           `json:"updated_at"`
	UpdatedBy             string              `json:"updated_by,omitempty"`
	Version               int64               `json:"version"`
}

type credentialsView struct {
	KeyHint   string     `json:"key_hint"`
	SecretSet bool       `json:"secret_set"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

type statusView struct {
	Health    string     `json:"health"`
	LastError string     `json:"last_error,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

type deprecation struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

const legacyScopeMessage = "scope all_platforms is a legacy configuration that should no longer be used for new mParticle feeds; use one integration per platform (scope platform)"

func toResource(in integration.Integration) resource {
	r := resource{
		ID: in.ID, AppID: in.AppID, Name: in.Name, Enabled: in.Enabled,
		Scope: in.Scope, AppPlatformID: in.AppPlatformID, Platform: in.Platform, Endpoint: EndpointPartner,
		CustomerIDSource: in.CustomerIDSource, Events: in.Events,
		Sandbox: in.Sandbox, MissingCustomerID: in.MissingCustomerID,
		SandboxKeyHint: in.SandboxKeyHint, SandboxCredentialsSet: in.SandboxSecretID != "",
		Credentials: credentialsView{KeyHint: in.KeyHint, SecretSet: in.SecretID != ""},
		Status:      statusView{Health: in.Health, LastError: in.HealthError},
		CreatedAt:   in.CreatedAt, UpdatedAt: in.UpdatedAt, Version: in.Version,
		CreatedBy: in.CreatedBy, UpdatedBy: in.UpdatedBy,
	}
	if r.Events == nil {
		r.Events = []event.Type{}
	}
	// Items written before the policies existed hold none: they behave as the defaults.
	if r.Sandbox == "" {
		r.Sandbox = integration.SandboxDevelopment
	}
	if r.MissingCustomerID == "" {
		r.MissingCustomerID = integration.MissingIDSend
	}
	if in.Pod != mparticle.PodPartner {
		pod := in.Pod
		r.Pod, r.Endpoint = &pod, EndpointPod
	}
	if !in.CredentialsUpdatedAt.IsZero() {
		t := in.CredentialsUpdatedAt
		r.Credentials.UpdatedAt = &t
	}
	if r.Status.Health == "" {
		r.Status.Health = HealthUnknown
	}
	if !in.HealthUpdatedAt.IsZero() {
		t := in.HealthUpdatedAt
		r.Status.UpdatedAt = &t
	}
	if in.Scope == integration.ScopeAllPlatforms {
		r.Deprecations = []deprecation{{Field: "scope", Message: legacyScopeMessage}}
	}
	return r
}

type listBody struct {
	Items []resource `json:"items"`
	Next  string     `json:"next,omitempty"`
}

type eventTypeView struct {
	Type        event.Type `json:"type"`
	Description string     `json:"description"`
}

type eventTypesBody struct {
	Items []eventTypeView `json:"items"`
}

func eventTypes() eventTypesBody {
	out := eventTypesBody{Items: make([]eventTypeView, 0, len(event.AllTypes))}
	for _, t := range event.AllTypes {
		out.Items = append(out.Items, eventTypeView{Type: t, Description: event.Descriptions[t]})
	}
	return out
}
