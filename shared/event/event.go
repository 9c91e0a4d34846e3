package event

import "time"

// MaxBodyBytes bounds an SQS message body (the SQS maximum): larger bodies are invalid input.
const MaxBodyBytes = 256 * 1024

// Event is one platform event, as decoded from an SQS message body.
//
// Optional values that the producer omitted (or sent as null) are zero: "" for strings, nil
// for pointers and lists. The user state keeps "omitted" apart from "empty" because they mean
// different things to mParticle: a nil list or flag was not sent (the profile keeps what it
// had), an empty non-nil list was sent empty (the state is "none").
type Event struct {
	ID            string        `json:"id"`
	Type          Type          `json:"type"`
	OccurredAt    time.Time     `json:"occurred_at"`
	AppID         string        `json:"app_id"`
	AppPlatformID string        `json:"app_platform_id"`
	Platform      string        `json:"platform"`
	Store         string        `json:"store,omitempty"`
	AppEnv        string        `json:"app_env,omitempty"`
	User          *User         `json:"user,omitempty"`
	Device        *Device       `json:"device,omitempty"`
	Impression    *Impression   `json:"impression,omitempty"`
	Transaction   *Transaction  `json:"transaction,omitempty"`
	Subscription  *Subscription `json:"subscription,omitempty"`

	// Degraded lists the optional fields Decode had to normalise or omit. It is not part of
	// the event's JSON.
	Degraded Degraded `json:"-"`
}

// App environments.
const (
	AppEnvProduction           = "production"
	AppEnvBetaTesting          = "beta_testing"
	AppEnvDeviceDevelopment    = "device_development"
	AppEnvSimulatorDevelopment = "simulator_development"
)

// User is the platform user and their current state. The lists encode nil as absent and an
// empty list as [] (omitzero), so an event re-encodes to what it was decoded from.
type User struct {
	ID                 string   `json:"id,omitempty"`
	ExternalID         string   `json:"external_id,omitempty"`
	ActiveEntitlements []string `json:"active_entitlements,omitzero"`
	ActiveSKUs         []string `json:"active_skus,omitzero"`
	DeviceIDs          []string `json:"device_ids,omitzero"`
	DevicePlatforms    []string `json:"device_platforms,omitzero"`
	FormerSubscriber   *bool    `json:"former_subscriber,omitempty"`
	InGracePeriod      *bool    `json:"in_grace_period,omitempty"`
	InTrialPeriod      *bool    `json:"in_trial_period,omitempty"`
	InIntroOfferPeriod *bool    `json:"in_intro_offer_period,omitempty"`
}

// Device is the device that produced the event.
type Device struct {
	ID         string `json:"id,omitempty"`
	IDFV       string `json:"idfv,omitempty"`
	IDFA       string `json:"idfa,omitempty"`
	GAID       string `json:"gaid,omitempty"`
	AndroidID  string `json:"android_id,omitempty"`
	OSVersion  string `json:"os_version,omitempty"`
	Model      string `json:"model,omitempty"`
	Locale     string `json:"locale,omitempty"`
	AppVersion string `json:"app_version,omitempty"`
	Country    string `json:"country,omitempty"`
	IP         string `json:"ip,omitempty"`
}

// Impression is a paywall view.
type Impression struct {
	ID                 string `json:"id,omitempty"`
	PaywallID          string `json:"paywall_id,omitempty"`
	DeveloperPaywallID string `json:"developer_paywall_id,omitempty"`
	Name               string `json:"name,omitempty"`
	ControllerName     string `json:"controller_name,omitempty"`
	CTAType            string `json:"cta_type,omitempty"`
	Initiator          string `json:"initiator,omitempty"`
}

// Transaction is a purchase made on a device.
type Transaction struct {
	ID                        string `json:"id,omitempty"`
	OriginalTransactionID     string `json:"original_transaction_id,omitempty"`
	SKURefID                  string `json:"sku_ref_id,omitempty"`
	SKUStoreID                string `json:"sku_store_id,omitempty"`
	Price                     string `json:"price,omitempty"`
	Currency                  string `json:"currency,omitempty"`
	Quantity                  *int   `json:"quantity,omitempty"`
	PurchaseEnv               string `json:"purchase_env,omitempty"`
	Source                    string `json:"source,omitempty"`
	SubscriptionInterval      string `json:"subscription_interval,omitempty"`
	SubscriptionIntervalCount *int   `json:"subscription_interval_count,omitempty"`
	ImpressionID              string `json:"impression_id,omitempty"`
	Locale                    string `json:"locale,omitempty"`
}

// Subscription is the subscription a lifecycle event is about.
type Subscription struct {
	SKURefID              string     `json:"sku_ref_id,omitempty"`
	EntitlementRefID      string     `json:"entitlement_ref_id,omitempty"`
	OriginalTransactionID string     `json:"original_transaction_id,omitempty"`
	PurchaseEnv           string     `json:"purchase_env,omitempty"`
	ExpiresAt             *time.Time `json:"expires_at,omitempty"`
	Price                 string     `json:"price,omitempty"`
	Currency              string     `json:"currency,omitempty"`
}
