// Package transform turns one platform event into the mParticle batch one integration receives.
// It is pure: no I/O, and the same input always gives the same batch, so a redelivered event
// produces byte-identical JSON that mParticle can deduplicate. Values the API would refuse are
// cut to its limits or left out, never a reason to refuse the event, and each such field is
// reported in the Result's Degraded list.
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
	// Degraded lists the fields whose values the batch carries cut to the API's limits (a
	// value over 4,096 characters, a user list over 1,000 entries or with entries over 512)
	// or leaves out as malformed (a device identifier that is not a UUID, an IP address that
	// does not parse), and event.FieldBatch when the batch had to be shrunk to fit its size
	// limit. The event's own Degraded list (from decoding) is not repeated here.
	Degraded event.Degraded
}

// ErrUnsupported is returned for input no valid event can have (nil, or an unknown type).
var ErrUnsupported = errors.New("transform: unsupported input")

// eventNames maps each custom-event type to its mParticle event_name.
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

// Attribute names.
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
// accepts, cutting or dropping values that would make it reject the batch.
func ToBatch(ev *event.Event, in *integration.Integration) (Result, error) {
	if ev == nil || in == nil {
		return Result{}, ErrUnsupported
	}
	if !ev.Type.Valid() {
		return Result{}, ErrUnsupported
	}
	var res Result
	deg := &res.Degraded
	b := &res.Batch
	b.Environment = environment(ev)
	b.SourceRequestID = SourceRequestID(ev.ID, in.ID)
	b.Events = []mparticle.Event{buildEvent(ev, deg)}

	if u := ev.User; u != nil && u.ID != "" {
		if len(u.ID) <= event.MaxIDLen {
			b.PartnerIdentities = map[string]string{partnerIdentityUserID: u.ID}
		} else {
			deg.Add(event.FieldUserID)
		}
	}
	if cid := customerID(ev, in, deg); cid != "" {
		b.UserIdentities = &mparticle.UserIdentities{CustomerID: cid}
	} else {
		res.MissingCustomerID = true
	}
	if ev.Type.IsUser() && ev.User != nil {
		b.UserAttributes = userAttributes(ev.User, deg)
	}
	b.DeviceInfo = deviceInfo(ev, in, deg)
	if d := ev.Device; d != nil {
		if d.AppVersion != "" {
			b.ApplicationInfo = &mparticle.ApplicationInfo{ApplicationVersion: truncValue(event.FieldDeviceAppVersion, d.AppVersion, deg)}
		}
		b.IP = ip(d.IP)
		if b.IP == "" && d.IP != "" {
			deg.Add(event.FieldDeviceIP)
		}
	}
	if fitBatch(b) {
		deg.Add(event.FieldBatch)
	}
	return res, nil
}

// IsSandbox reports whether ev is a sandbox event: one sent with environment development.
// The integrations' sandbox policies go by it, so they follow this package's rule.
func IsSandbox(ev *event.Event) bool { return environment(ev) == mparticle.EnvDevelopment }

// environment: production only for a production app build and, when the event says where the
// purchase happened, a production purchase (a sandbox purchase is test data). A purchase
// (device.transaction) that does not say is development: counting an unknown purchase as
// revenue would be worse than missing one in production data. An unknown app_env or
// purchase_env is not production either.
func environment(ev *event.Event) string {
	if ev.AppEnv != "" && ev.AppEnv != event.AppEnvProduction {
		return mparticle.EnvDevelopment
	}
	var purchaseEnv string
	switch {
	case ev.Type == event.DeviceTransaction:
		if ev.Transaction == nil || ev.Transaction.PurchaseEnv == "" {
			return mparticle.EnvDevelopment
		}
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
// over the identifier length bound is treated as missing: truncating it would merge users.
func customerID(ev *event.Event, in *integration.Integration, deg *event.Degraded) string {
	if ev.User == nil {
		return ""
	}
	id, field := ev.User.ExternalID, event.FieldUserExternalID
	if in.CustomerIDSource == integration.CustomerIDNamiUser {
		id, field = ev.User.ID, event.FieldUserID
	}
	if len(id) > event.MaxIDLen {
		deg.Add(field)
		return ""
	}
	return id
}

func buildEvent(ev *event.Event, deg *event.Degraded) mparticle.Event {
	data := mparticle.EventData{
		TimestampUnixtimeMS: ev.OccurredAt.UnixMilli(),
		SourceMessageID:     SourceMessageID(ev.ID),
	}
	switch ev.Type {
	case event.DeviceImpression:
		data.EventName = eventNames[ev.Type]
		data.CustomEventType = customTypeImpression
		data.CustomAttributes = impressionAttributes(ev, deg)
		return mparticle.Event{EventType: mparticle.EventTypeCustom, Data: data}
	case event.DeviceTransaction:
		data.CustomAttributes = transactionAttributes(ev, deg)
		data.ProductAction, data.CurrencyCode = productAction(ev.Transaction, deg)
		return mparticle.Event{EventType: mparticle.EventTypeCommerce, Data: data}
	default:
		data.EventName = eventNames[ev.Type]
		data.CustomEventType = customTypeTransaction
		data.CustomAttributes = lifecycleAttributes(ev, deg)
		return mparticle.Event{EventType: mparticle.EventTypeCustom, Data: data}
	}
}

// attrs builds one event's custom attributes, recording the input fields whose values it cut.
type attrs struct {
	m   map[string]string
	deg *event.Degraded
}

// put sets a custom attribute from input field f, omitting absent values (never sent as "").
func (a attrs) put(f event.Field, k, v string) {
	if v != "" {
		a.m[k] = truncValue(f, v, a.deg)
	}
}

func lifecycleAttributes(ev *event.Event, deg *event.Degraded) map[string]string {
	a := attrs{make(map[string]string, 7), deg}
	a.m[attrEventID] = truncUnits(ev.ID, mparticle.MaxValueLen) // within MaxIDLen once decoded
	a.m[attrCategory] = "user"
	a.m[attrSubcategory1] = "subscription"
	a.put(event.FieldStore, attrEventPlatform, ev.Store)
	if s := ev.Subscription; s != nil {
		a.put(event.FieldSubscriptionSKURefID, attrSKURefID, s.SKURefID)
		a.put(event.FieldSubscriptionEntitlementRefID, attrEntitlementRefID, s.EntitlementRefID)
		a.put(event.FieldSubscriptionOriginalTransactionID, attrOriginalTransactionID, s.OriginalTransactionID)
	}
	return a.m
}

func appEnv(ev *event.Event) string {
	if ev.AppEnv == "" {
		return event.AppEnvProduction
	}
	return ev.AppEnv
}

func impressionAttributes(ev *event.Event, deg *event.Degraded) map[string]string {
	a := attrs{make(map[string]string, 10), deg}
	a.m[attrEventID] = truncUnits(ev.ID, mparticle.MaxValueLen)
	a.m[attrCategory] = "device"
	a.put(event.FieldAppEnv, attrAppEnv, appEnv(ev))
	a.m[attrAppPlatformID] = truncUnits(ev.AppPlatformID, mparticle.MaxValueLen)
	if im := ev.Impression; im != nil {
		a.put(event.FieldImpressionControllerName, attrControllerName, im.ControllerName)
		a.put(event.FieldImpressionCTAType, attrCTAType, im.CTAType)
		a.put(event.FieldImpressionDeveloperPaywallID, attrDeveloperPaywallID, im.DeveloperPaywallID)
		a.put(event.FieldImpressionInitiator, attrInitiator, im.Initiator)
		a.put(event.FieldImpressionID, attrID, im.ID)
		a.put(event.FieldImpressionName, attrName, im.Name)
	}
	return a.m
}

func transactionAttributes(ev *event.Event, deg *event.Degraded) map[string]string {
	a := attrs{make(map[string]string, 11), deg}
	a.m[attrEventID] = truncUnits(ev.ID, mparticle.MaxValueLen)
	a.m[attrCategory] = "device"
	a.put(event.FieldAppEnv, attrAppEnv, appEnv(ev))
	if tx := ev.Transaction; tx != nil {
		a.put(event.FieldTransactionLocale, attrLocale, tx.Locale)
		a.put(event.FieldTransactionImpressionID, attrImpressionID, tx.ImpressionID)
		a.put(event.FieldTransactionOriginalTransactionID, attrOriginalTransactionID, tx.OriginalTransactionID)
		a.put(event.FieldTransactionPurchaseEnv, attrPurchaseEnv, tx.PurchaseEnv)
		a.put(event.FieldTransactionSource, attrSource, tx.Source)
		a.put(event.FieldTransactionSubscriptionInterval, attrInterval, tx.SubscriptionInterval)
		if c := tx.SubscriptionIntervalCount; c != nil {
			a.m[attrIntervalCount] = strconv.Itoa(*c)
		}
	}
	return a.m
}

// productAction builds the purchase: the SKU (store id as product id when known, the
// platform's sku_ref_id as name), unit price, quantity and price × quantity rounded to the
// currency's minor unit. A price that is not a decimal string is left out rather than guessed
// (Decode already omits those; events built in code are checked again here).
func productAction(tx *event.Transaction, deg *event.Degraded) (*mparticle.ProductAction, string) {
	pa := &mparticle.ProductAction{Action: actionPurchase}
	if tx == nil {
		return pa, ""
	}
	pa.TransactionID = truncValue(event.FieldTransactionID, tx.ID, deg)
	qty := 1
	if q := tx.Quantity; q != nil {
		if *q >= 1 && *q <= event.MaxQuantity {
			qty = *q
		} else {
			deg.Add(event.FieldTransactionQuantity)
		}
	}
	currency := ""
	if isCurrency(tx.Currency) {
		currency = tx.Currency
	} else if tx.Currency != "" {
		deg.Add(event.FieldTransactionCurrency)
	}
	var price, total *float64
	if p, ok := parsePrice(tx.Price); ok {
		price = &p
		t := totalAmount(tx.Price, qty, minorUnits(currency))
		total = &t
	} else if tx.Price != "" {
		deg.Add(event.FieldTransactionPrice)
	}
	pa.TotalAmount = total
	if tx.SKURefID != "" || tx.SKUStoreID != "" {
		id, idField := tx.SKUStoreID, event.FieldTransactionSKUStoreID
		if id == "" {
			id, idField = tx.SKURefID, event.FieldTransactionSKURefID
		}
		q := float64(qty)
		pa.Products = []mparticle.Product{{ID: truncValue(idField, id, deg), Name: truncValue(event.FieldTransactionSKURefID, tx.SKURefID, deg),
			Price: price, Quantity: &q}}
	}
	return pa, currency
}

func isCurrency(c string) bool {
	return len(c) == 3 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z' && c[2] >= 'A' && c[2] <= 'Z'
}

// userAttributes is the user's current state, sent on every user.* event. What the producer
// sent is sent: a list sent empty as [] (the state is "none", so a profile's stale list is
// cleared), never null. What it did not send is left out, so mParticle keeps the profile's
// value rather than being told "none" or "false" on no evidence. nil when nothing was sent.
func userAttributes(u *event.User, deg *event.Degraded) map[string]any {
	m := make(map[string]any, 8)
	for _, l := range [...]struct {
		key   string
		field event.Field
		list  []string
	}{
		{userAttrEntitlements, event.FieldUserActiveEntitlements, u.ActiveEntitlements},
		{userAttrSKUs, event.FieldUserActiveSKUs, u.ActiveSKUs},
		{userAttrDeviceIDs, event.FieldUserDeviceIDs, u.DeviceIDs},
		{userAttrDevicePlatforms, event.FieldUserDevicePlatforms, u.DevicePlatforms},
	} {
		if l.list != nil {
			m[l.key] = userList(l.field, l.list, deg)
		}
	}
	for _, f := range [...]struct {
		key  string
		flag *bool
	}{
		{userAttrFormerSubscriber, u.FormerSubscriber},
		{userAttrInGrace, u.InGracePeriod},
		{userAttrInTrial, u.InTrialPeriod},
		{userAttrInIntro, u.InIntroOfferPeriod},
	} {
		if f.flag != nil {
			m[f.key] = boolString(*f.flag)
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func boolString(b bool) any {
	if b {
		return anyTrue
	}
	return anyFalse
}
