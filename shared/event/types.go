// Package event models the platform events the forwarder consumes and decodes them from SQS
// message bodies: strictly for what routes and attributes an event (an event without it is
// invalid), leniently for everything else (normalised or omitted, and recorded as degraded).
package event

// Type is one of the 13 platform event types that can be sent to mParticle.
type Type string

const (
	DeviceImpression                 Type = "device.impression"
	DeviceTransaction                Type = "device.transaction"
	TrialConverted                   Type = "user.journey.trial.converted"
	TrialDidNotConvert               Type = "user.journey.trial.did_not_convert"
	TrialStarted                     Type = "user.journey.trial.started"
	SubscriptionCancelled            Type = "user.subscription.cancelled"
	SubscriptionExpired              Type = "user.subscription.expired"
	SubscriptionInGracePeriod        Type = "user.subscription.in_grace_period"
	SubscriptionPaused               Type = "user.subscription.paused"
	SubscriptionPurchased            Type = "user.subscription.purchased"
	SubscriptionRenewalInGracePeriod Type = "user.subscription.renewal_in_grace_period"
	SubscriptionRenewed              Type = "user.subscription.renewed"
	SubscriptionResumed              Type = "user.subscription.resumed"
)

// AllTypes lists the event types in the product doc's order.
var AllTypes = []Type{
	DeviceImpression,
	DeviceTransaction,
	TrialConverted,
	TrialDidNotConvert,
	TrialStarted,
	SubscriptionCancelled,
	SubscriptionExpired,
	SubscriptionInGracePeriod,
	SubscriptionPaused,
	SubscriptionPurchased,
	SubscriptionRenewalInGracePeriod,
	SubscriptionRenewed,
	SubscriptionResumed,
}

// Descriptions gives a one-line description per type, shown by the Integrations API.
var Descriptions = map[Type]string{
	DeviceImpression:                 "A paywall was shown on a device.",
	DeviceTransaction:                "A purchase was made on a device (sent as a commerce purchase).",
	TrialConverted:                   "A free trial converted into a paid subscription.",
	TrialDidNotConvert:               "A free trial ended without converting.",
	TrialStarted:                     "A user started a free trial.",
	SubscriptionCancelled:            "A user turned off auto-renew for a subscription.",
	SubscriptionExpired:              "A subscription ended and access was lost.",
	SubscriptionInGracePeriod:        "A renewal failed and the subscription entered its grace period.",
	SubscriptionPaused:               "A subscription was paused.",
	SubscriptionPurchased:            "A user purchased a new subscription.",
	SubscriptionRenewalInGracePeriod: "A subscription renewed while in its grace period.",
	SubscriptionRenewed:              "A subscription renewed for another period.",
	SubscriptionResumed:              "A paused subscription resumed.",
}

// Valid reports whether t is one of the 13 known event types.
func (t Type) Valid() bool {
	_, ok := t.Canonical()
	return ok
}

// Canonical returns this package's constant equal to t, and whether there is one. Decode
// gives events their type this way, and the integration store the types an integration
// wants: two strings sharing their bytes compare equal at the first check, so routing and
// mapping an event by its type (the forwarder does it per event and integration) costs no
// byte-by-byte comparison.
func (t Type) Canonical() (Type, bool) {
	// A switch, not a lookup in Descriptions: a switch on constants needs no hashing.
	// TestTypesDescribed keeps the two in step.
	switch t {
	case DeviceImpression:
		return DeviceImpression, true
	case DeviceTransaction:
		return DeviceTransaction, true
	case TrialConverted:
		return TrialConverted, true
	case TrialDidNotConvert:
		return TrialDidNotConvert, true
	case TrialStarted:
		return TrialStarted, true
	case SubscriptionCancelled:
		return SubscriptionCancelled, true
	case SubscriptionExpired:
		return SubscriptionExpired, true
	case SubscriptionInGracePeriod:
		return SubscriptionInGracePeriod, true
	case SubscriptionPaused:
		return SubscriptionPaused, true
	case SubscriptionPurchased:
		return SubscriptionPurchased, true
	case SubscriptionRenewalInGracePeriod:
		return SubscriptionRenewalInGracePeriod, true
	case SubscriptionRenewed:
		return SubscriptionRenewed, true
	case SubscriptionResumed:
		return SubscriptionResumed, true
	}
	return t, false
}

// IsUser reports whether t is a user.* lifecycle event (requires a user id, carries user attributes).
func (t Type) IsUser() bool { return len(t) > 5 && t[:5] == "user." }

// IsDevice reports whether t is a device.* event (requires a device id or a user id).
func (t Type) IsDevice() bool { return len(t) > 7 && t[:7] == "device." }
