// Package transform turns one platform event into the mParticle batch one integration receives
// (event-contract.md §2 and §3). It is pure: no I/O, and the same input always gives the same
// batch, so a redelivered event produces byte-identical JSON that mParticle can deduplicate.
package transform

import (
	"errors"
	"strconv"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// Result is the batch for one (event, integration) pair plus what the caller should count.
type Result struct {
	Batch mparticle.Batch
	// MissingCustomerID: the integration's Customer ID source had no value for this event
	// (typically no External ID set), so the batch carries no customer_id.
	MissingCustomerID bool
	// Trimmed: a user attribute list was cut to the API's limits, or the batch was shrunk to
	// stay under 128 KB. (Single values over 4,096 characters are cut without this flag.)
	Trimmed bool
}

// ErrUnsupported is returned for input no valid event can have (nil, or an unknown type).
var ErrUnsupported = errors.New("transform: unsupported input")

// eventNames is the contract's §2 table for the custom events.
var eventNames = map[event.Type]string{
	event.SubscriptionPurchased:            "purchased",
	event.SubscriptionRenewed:              "renewed",
	event.SubscriptionCancelled:            "cancelled",
	event.SubscriptionExpired:              "expired",
	event.SubscriptionInGracePeriod:        "in_grace_period",
	event.SubscriptionRenewalInGracePeriod: "renewal_in_grace_period",
	event.SubscriptionPaused:               "paused",
	event.SubscriptionResumed:              "resumed",
	event.TrialStarted:                     "trial_started",
	event.TrialConverted:                   "trial_converted",
	event.TrialDidNotConvert:               "trial_did_not_convert",
	event.DeviceImpression:                 "impression",
}

// EventName returns the mParticle event_name for a custom-event type ("" for device.transaction,
// which is a commerce event, and for unknown types).
func EventName(t event.Type) string { return eventNames[t] }

// mParticle custom_event_type values used. The API's enum has no "impression"; a paywall view
// is a screen the user navigated to, hence navigation.
const (
	customTypeTransaction = "transaction"
	customTypeImpression  = "navigation"
	actionPurchase        = "purchase"
)

// Attribute names (event-contract.md §2 and §3).
const (
	attrEventID               = "namiml_event_id"
	attrCategory              = "namiml_event_category"
	attrSubcategory1          = "namiml_event_subcategory1"
	attrEventPlatform         = "event_platform"
	attrSKURefID              = "sku_ref_id"
	attrEntitlementRefID      = "entitlement_ref_id"
	attrOriginalTransactionID = "original_transaction_id"
	attrAppEnv                = "app_env"
	attrAppPlatformID         = "app_platform_id"
	attrControllerName        = "controller_name"
	attrCTAType               = "cta_type"
	attrDeveloperPaywallID    = "developer_paywall_id"
	attrInitiator             = "initiator"
	attrID                    = "id"
	attrName                  = "name"
	attrLocale                = "locale"
	attrImpressionID          = "impression_id"
	attrPurchaseEnv           = "purchase_env"
	attrSource                = "source"
	attrInterval              = "subscription_interval"
	attrIntervalCount         = "subscription_interval_count"

	userAttrEntitlements     = "namiml_active_entitlements"
	userAttrSKUs             = "namiml_active_skus"
	userAttrDeviceIDs        = "namiml_device_ids"
	userAttrDevicePlatforms  = "namiml_device_platforms"
	userAttrFormerSubscriber = "namiml_former_subscriber"
	userAttrInGrace          = "namiml_in_grace_period"
	userAttrInTrial          = "namiml_in_trial_period"
	userAttrInIntro          = "namiml_in_intro_offer_period"

	partnerIdentityUserID = "namiml_user_id"
)

// Boxed once: storing a non-constant string in an interface would allocate per batch.
var (
	anyTrue  any = "true"
	anyFalse any = "false"
)

// ToBatch builds the batch that integration in receives for ev. It errors only for input no
// decoded event can be (nil pointers, an unknown type); anything else becomes a batch the API
// accepts, dropping values that would make it reject the batch.
func ToBatch(ev *event.Event, in *integration.Integration) (Result, error) {
	if ev == nil || in == nil {
		return Result{}, ErrUnsupported
	}
	if !ev.Type.Valid() {
		return Result{}, ErrUnsupported
	}
	var res Result
	b := &res.Batch
	b.Environment = environment(ev)
	b.SourceRequestID = SourceRequestID(ev.ID, in.ID)
	b.Events = []mparticle.Event{buildEvent(ev)}

	if u := ev.User; u != nil && u.ID != "" && len(u.ID) <= event.MaxIDLen {
		b.PartnerIdentities = map[string]string{partnerIdentityUserID: u.ID}
	}
	if cid := customerID(ev, in); cid != "" {
		b.UserIdentities = &mparticle.UserIdentities{CustomerID: cid}
	} else {
		res.MissingCustomerID = true
	}
	if ev.Type.IsUser() && ev.User != nil {
		b.UserAttributes = userAttributes(ev.User, &res.Trimmed)
	}
	b.DeviceInfo = deviceInfo(ev.Device, in.Platform)
	if d := ev.Device; d != nil {
		if d.AppVersion != "" {
			b.ApplicationInfo = &mparticle.ApplicationInfo{ApplicationVersion: truncValue(d.AppVersion)}
		}
		b.IP = ip(d.IP)
	}
	if fitBatch(b) {
		res.Trimmed = true
	}
	return res, nil
}

// environment: production only for a production app build and, when the event says where the
// purchase happened, a production purchase (a sandbox purchase is test data).
func environment(ev *event.Event) string {
	if ev.AppEnv != "" && ev.AppEnv != event.AppEnvProduction {
		return mparticle.EnvDevelopment
	}
	var purchaseEnv string
	switch {
	case ev.Type == event.DeviceTransaction && ev.Transaction != nil:
		purchaseEnv = ev.Transaction.PurchaseEnv
	case ev.Type.IsUser() && ev.Subscription != nil:
		purchaseEnv = ev.Subscription.PurchaseEnv
	}
	if purchaseEnv != "" && purchaseEnv != event.PurchaseEnvProduction {
		return mparticle.EnvDevelopment
	}
	return mparticle.EnvProduction
}

// customerID picks the identifier the integration's Customer ID setting names. Any setting
// other than the Nami user id means External ID, the product doc's recommended choice. An id
// over the contract's length bound is treated as missing: truncating it would merge users.
func customerID(ev *event.Event, in *integration.Integration) string {
	if ev.User == nil {
		return ""
	}
	id := ev.User.ExternalID
	if in.CustomerIDSource == integration.CustomerIDNamiUser {
		id = ev.User.ID
	}
	if len(id) > event.MaxIDLen {
		return ""
	}
	return id
}

func buildEvent(ev *event.Event) mparticle.Event {
	data := mparticle.EventData{
		TimestampUnixtimeMS: ev.OccurredAt.UnixMilli(),
		SourceMessageID:     SourceMessageID(ev.ID),
	}
	switch ev.Type {
	case event.DeviceImpression:
		data.EventName = eventNames[ev.Type]
		data.CustomEventType = customTypeImpression
		data.CustomAttributes = impressionAttributes(ev)
		return mparticle.Event{EventType: mparticle.EventTypeCustom, Data: data}
	case event.DeviceTransaction:
		data.CustomAttributes = transactionAttributes(ev)
		data.ProductAction, data.CurrencyCode = productAction(ev.Transaction)
		return mparticle.Event{EventType: mparticle.EventTypeCommerce, Data: data}
	default:
		data.EventName = eventNames[ev.Type]
		data.CustomEventType = customTypeTransaction
		data.CustomAttributes = lifecycleAttributes(ev)
		return mparticle.Event{EventType: mparticle.EventTypeCustom, Data: data}
	}
}

// put sets a custom attribute, omitting absent values (the contract never sends "").
func put(m map[string]string, k, v string) {
	if v != "" {
		m[k] = truncValue(v)
	}
}

func lifecycleAttributes(ev *event.Event) map[string]string {
	m := make(map[string]string, 7)
	put(m, attrEventID, ev.ID)
	m[attrCategory] = "user"
	m[attrSubcategory1] = "subscription"
	put(m, attrEventPlatform, ev.Store)
	if s := ev.Subscription; s != nil {
		put(m, attrSKURefID, s.SKURefID)
		put(m, attrEntitlementRefID, s.EntitlementRefID)
		put(m, attrOriginalTransactionID, s.OriginalTransactionID)
	}
	return m
}

func appEnv(ev *event.Event) string {
	if ev.AppEnv == "" {
		return event.AppEnvProduction
	}
	return ev.AppEnv
}

func impressionAttributes(ev *event.Event) map[string]string {
	m := make(map[string]string, 10)
	put(m, attrEventID, ev.ID)
	m[attrCategory] = "device"
	put(m, attrAppEnv, appEnv(ev))
	put(m, attrAppPlatformID, ev.AppPlatformID)
	if im := ev.Impression; im != nil {
		put(m, attrControllerName, im.ControllerName)
		put(m, attrCTAType, im.CTAType)
		put(m, attrDeveloperPaywallID, im.DeveloperPaywallID)
		put(m, attrInitiator, im.Initiator)
		put(m, attrID, im.ID)
		put(m, attrName, im.Name)
	}
	return m
}

func transactionAttributes(ev *event.Event) map[string]string {
	m := make(map[string]string, 11)
	put(m, attrEventID, ev.ID)
	m[attrCategory] = "device"
	put(m, attrAppEnv, appEnv(ev))
	if tx := ev.Transaction; tx != nil {
		put(m, attrLocale, tx.Locale)
		put(m, attrImpressionID, tx.ImpressionID)
		put(m, attrOriginalTransactionID, tx.OriginalTransactionID)
		put(m, attrPurchaseEnv, tx.PurchaseEnv)
		put(m, attrSource, tx.Source)
		put(m, attrInterval, tx.SubscriptionInterval)
		if c := tx.SubscriptionIntervalCount; c != nil {
			m[attrIntervalCount] = strconv.Itoa(*c)
		}
	}
	return m
}

// productAction builds the purchase: the SKU (store id as product id when known, the
// platform's sku_ref_id as name), unit price, quantity and price × quantity rounded to the
// currency's minor unit. A price that is not a decimal string is left out rather than guessed.
func productAction(tx *event.Transaction) (*mparticle.ProductAction, string) {
	pa := &mparticle.ProductAction{Action: actionPurchase}
	if tx == nil {
		return pa, ""
	}
	pa.TransactionID = truncValue(tx.ID)
	qty := 1
	if tx.Quantity != nil && *tx.Quantity >= 1 && *tx.Quantity <= event.MaxQuantity {
		qty = *tx.Quantity
	}
	currency := ""
	if isCurrency(tx.Currency) {
		currency = tx.Currency
	}
	var price, total *float64
	if p, ok := parsePrice(tx.Price); ok {
		price = &p
		t := totalAmount(tx.Price, qty, minorUnits(currency))
		total = &t
	}
	pa.TotalAmount = total
	if tx.SKURefID != "" || tx.SKUStoreID != "" {
		id := tx.SKUStoreID
		if id == "" {
			id = tx.SKURefID
		}
		q := float64(qty)
		pa.Products = []mparticle.Product{{ID: truncValue(id), Name: truncValue(tx.SKURefID), Price: price, Quantity: &q}}
	}
	return pa, currency
}

func isCurrency(c string) bool {
	return len(c) == 3 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z' && c[2] >= 'A' && c[2] <= 'Z'
}

// userAttributes is the user's current state, sent on every user.* event. Lists are always
// sent, an empty one as [] ("none"), never null, so a profile's stale list is cleared.
func userAttributes(u *event.User, trimmed *bool) map[string]any {
	return map[string]any{
		userAttrEntitlements:     userList(u.ActiveEntitlements, trimmed),
		userAttrSKUs:             userList(u.ActiveSKUs, trimmed),
		userAttrDeviceIDs:        userList(u.DeviceIDs, trimmed),
		userAttrDevicePlatforms:  userList(u.DevicePlatforms, trimmed),
		userAttrFormerSubscriber: boolString(u.FormerSubscriber),
		userAttrInGrace:          boolString(u.InGracePeriod),
		userAttrInTrial:          boolString(u.InTrialPeriod),
		userAttrInIntro:          boolString(u.InIntroOfferPeriod),
	}
}

func boolString(b bool) any {
	if b {
		return anyTrue
	}
	return anyFalse
}
