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

// EventName returns the mParticle event_name for a custom-event type ("" for device.transaction,
// which is a commerce event, and for unknown types).
func EventName(t event.Type) string {
	name, _ := eventName(t)
	return name
}

// eventName is EventName, and whether t is one of the 13 types. A switch: the transform asks
// it once per batch, and a map lookup hashes the type string each time.
func eventName(t event.Type) (string, bool) {
	switch t {
	case event.SubscriptionPurchased:
		return "purchased", true
	case event.SubscriptionRenewed:
		return "renewed", true
	case event.SubscriptionCancelled:
		return "cancelled", true
	case event.SubscriptionExpired:
		return "expired", true
	case event.SubscriptionInGracePeriod:
		return "in_grace_period", true
	case event.SubscriptionRenewalInGracePeriod:
		return "renewal_in_grace_period", true
	case event.SubscriptionPaused:
		return "paused", true
	case event.SubscriptionResumed:
		return "resumed", true
	case event.TrialStarted:
		return "trial_started", true
	case event.TrialConverted:
		return "trial_converted", true
	case event.TrialDidNotConvert:
		return "trial_did_not_convert", true
	case event.DeviceImpression:
		return "impression", true
	case event.DeviceTransaction:
		return "", true
	}
	return "", false
}

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

// Everything a batch points to is allocated together, one allocation per batch where a map,
// slice or struct each would take their own, and sized for the kind of event: allocating
// (first touching fresh memory, and the garbage collection it brings) was most of the
// transform's cost, in proportion to the bytes. The batch's slices and pointers are into it.

// parts are the parts every batch has.
type parts struct {
	event   [1]mparticle.Event
	partner [1]mparticle.Attribute
	ids     mparticle.UserIdentities
	device  mparticle.DeviceInfo
	app     mparticle.ApplicationInfo
	idText  [idPairLen]byte // text of source_request_id and source_message_id (nil Builder)
}

type lifecycleParts struct {
	parts
	attrs [lcCount]mparticle.Attribute
	user  [len(userAttrKeys)]mparticle.UserAttribute
}

type impressionParts struct {
	parts
	attrs [imCount]mparticle.Attribute
}

type transactionParts struct {
	parts
	attrs   [txCount]mparticle.Attribute
	action  mparticle.ProductAction
	product [1]mparticle.Product
	// price, total and quantity of the product.
	nums [3]float64
}

// ToBatch builds the batch that integration in receives for ev. It errors only for input no
// decoded event can be (nil pointers, an unknown type); anything else becomes a batch the API
// accepts, cutting or dropping values that would make it reject the batch.
func ToBatch(ev *event.Event, in *integration.Integration) (Result, error) {
	return (*Builder)(nil).ToBatch(ev, in)
}

// A Builder builds batches as ToBatch does, into storage it keeps and reuses after Reset: a
// caller that builds batch after batch (the forwarder, chunk after chunk) then writes into
// memory it has already touched instead of fresh memory, which was about two thirds of
// ToBatch's time. The batches it built are valid until its next Reset. A Builder is not safe
// for concurrent use; its zero value is ready, and a nil *Builder allocates each batch's parts.
type Builder struct {
	lifecycle   store[lifecycleParts]
	impression  store[impressionParts]
	transaction store[transactionParts]
	hasher      idHasher
	// idFree is what is left of the current chunk of id text. A batch's ids must outlive the
	// Reset (a string must never change under whoever kept it: a log line, a delivery key),
	// so their text is never reused: each batch takes the next idPairLen bytes, and a new
	// chunk is allocated when this one runs out.
	idFree []byte
}

// idChunk is the size of the chunks a Builder writes ids into: 28 batches' ids per 2 KB.
const idChunk = 2048 / idPairLen * idPairLen

// idText returns the next unused idPairLen bytes of the id chunks.
func (bl *Builder) idText() *[idPairLen]byte {
	if len(bl.idFree) < idPairLen {
		bl.idFree = make([]byte, idChunk)
	}
	t := (*[idPairLen]byte)(bl.idFree)
	bl.idFree = bl.idFree[idPairLen:]
	return t
}

// Reset makes the storage of every batch built so far available to the next ones: those
// batches must no longer be used.
func (bl *Builder) Reset() {
	bl.lifecycle.n, bl.impression.n, bl.transaction.n = 0, 0, 0
}

// store hands out one kind of parts, allocating only beyond what it handed out before the
// last Reset.
type store[T any] struct {
	items []*T
	n     int
}

// next hands out the next parts. Parts handed out again are not cleared: ToBatch assigns every part it puts in a
// batch as a whole (and attribute arrays up to the length it uses), so nothing of the batch
// they held shows in the next, and clearing all of them cost more than writing the few used.
func (s *store[T]) next() *T {
	if s.n == len(s.items) {
		s.items = append(s.items, new(T))
	}
	s.n++
	return s.items[s.n-1]
}

// ToBatch is ToBatch, the batch's parts from bl's storage.
func (bl *Builder) ToBatch(ev *event.Event, in *integration.Integration) (Result, error) {
	if ev == nil || in == nil {
		return Result{}, ErrUnsupported
	}
	name, ok := eventName(ev.Type)
	if !ok {
		return Result{}, ErrUnsupported
	}
	var res Result
	deg := &res.Degraded
	b := &res.Batch
	var p *parts
	var user *[len(userAttrKeys)]mparticle.UserAttribute // room for the user attributes, on user.* events
	e := mparticle.Event{EventType: mparticle.EventTypeCustom}
	data := &e.Data
	data.TimestampUnixtimeMS = ev.OccurredAt.UnixMilli()
	switch ev.Type {
	case event.DeviceImpression:
		var im *impressionParts
		if bl != nil {
			im = bl.impression.next()
		} else {
			im = new(impressionParts)
		}
		p = &im.parts
		data.EventName = name
		data.CustomEventType = customTypeImpression
		data.CustomAttributes = impressionAttributes(im.attrs[:0], ev, deg)
	case event.DeviceTransaction:
		var tp *transactionParts
		if bl != nil {
			tp = bl.transaction.next()
		} else {
			tp = new(transactionParts)
		}
		p = &tp.parts
		e.EventType = mparticle.EventTypeCommerce
		data.CustomAttributes = transactionAttributes(tp.attrs[:0], ev, deg)
		data.ProductAction, data.CurrencyCode = productAction(tp, ev.Transaction, deg)
	default:
		var lp *lifecycleParts
		if bl != nil {
			lp = bl.lifecycle.next()
		} else {
			lp = new(lifecycleParts)
		}
		p = &lp.parts
		user = &lp.user
		data.EventName = name
		data.CustomEventType = customTypeTransaction
		data.CustomAttributes = lifecycleAttributes(lp.attrs[:0], ev, deg)
	}
	b.Environment = environment(ev)
	if bl != nil {
		b.SourceRequestID, data.SourceMessageID = batchIDs(bl.idText(), &bl.hasher, ev.ID, in.ID)
	} else {
		b.SourceRequestID, data.SourceMessageID = batchIDs(&p.idText, nil, ev.ID, in.ID)
	}
	p.event[0] = e
	b.Events = p.event[:]

	if u := ev.User; u != nil && u.ID != "" {
		if len(u.ID) <= event.MaxIDLen {
			p.partner[0] = mparticle.Attribute{Key: partnerIdentityUserID, Value: u.ID}
			b.PartnerIdentities = p.partner[:]
		} else {
			deg.Add(event.FieldUserID)
		}
	}
	if cid := customerID(ev, in, deg); cid != "" {
		p.ids = mparticle.UserIdentities{CustomerID: cid}
		b.UserIdentities = &p.ids
	} else {
		res.MissingCustomerID = true
	}
	if ev.Type.IsUser() && ev.User != nil {
		b.UserAttributes = userAttributes(user, ev.User, deg)
	}
	if deviceInfo(&p.device, ev, in, deg) {
		b.DeviceInfo = &p.device
	}
	if d := ev.Device; d != nil {
		if d.AppVersion != "" {
			p.app = mparticle.ApplicationInfo{ApplicationVersion: truncValue(event.FieldDeviceAppVersion, d.AppVersion, deg)}
			b.ApplicationInfo = &p.app
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

// Each kind of event has its table of attribute names in key order, the order the batch
// carries them in (that of the maps they once were, which encoding/json sorted); values are
// worked out in the order the mapping reads, which is the order degraded fields are reported
// in, and absent ones are left out.

const (
	lcEntitlementRefID = iota
	lcEventPlatform
	lcCategory
	lcEventID
	lcSubcategory1
	lcOriginalTransactionID
	lcSKURefID
	lcCount
)

var lifecycleKeys = [lcCount]string{
	lcEntitlementRefID:      attrEntitlementRefID,
	lcEventPlatform:         attrEventPlatform,
	lcCategory:              attrCategory,
	lcEventID:               attrEventID,
	lcSubcategory1:          attrSubcategory1,
	lcOriginalTransactionID: attrOriginalTransactionID,
	lcSKURefID:              attrSKURefID,
}

const (
	imAppEnv = iota
	imAppPlatformID
	imControllerName
	imCTAType
	imDeveloperPaywallID
	imID
	imInitiator
	imName
	imCategory
	imEventID
	imCount
)

var impressionKeys = [imCount]string{
	imAppEnv:             attrAppEnv,
	imAppPlatformID:      attrAppPlatformID,
	imControllerName:     attrControllerName,
	imCTAType:            attrCTAType,
	imDeveloperPaywallID: attrDeveloperPaywallID,
	imID:                 attrID,
	imInitiator:          attrInitiator,
	imName:               attrName,
	imCategory:           attrCategory,
	imEventID:            attrEventID,
}

const (
	txAppEnv = iota
	txImpressionID
	txLocale
	txCategory
	txEventID
	txOriginalTransactionID
	txPurchaseEnv
	txSource
	txInterval
	txIntervalCount
	txCount
)

var transactionKeys = [txCount]string{
	txAppEnv:                attrAppEnv,
	txImpressionID:          attrImpressionID,
	txLocale:                attrLocale,
	txCategory:              attrCategory,
	txEventID:               attrEventID,
	txOriginalTransactionID: attrOriginalTransactionID,
	txPurchaseEnv:           attrPurchaseEnv,
	txSource:                attrSource,
	txInterval:              attrInterval,
	txIntervalCount:         attrIntervalCount,
}

// appendAttrs appends the set values of vals under their keys to dst, which has room for
// all of them.
func appendAttrs(dst mparticle.Attributes, keys, vals []string) mparticle.Attributes {
	n := len(dst)
	dst = dst[:n+len(vals)]
	keys = keys[:len(vals)]
	for i, v := range vals {
		if v != "" {
			dst[n] = mparticle.Attribute{Key: keys[i], Value: v}
			n++
		}
	}
	return dst[:n]
}

func lifecycleAttributes(dst mparticle.Attributes, ev *event.Event, deg *event.Degraded) mparticle.Attributes {
	var v [lcCount]string
	v[lcEventID] = truncUnits(ev.ID, mparticle.MaxValueLen) // within MaxIDLen once decoded
	v[lcCategory] = "user"
	v[lcSubcategory1] = "subscription"
	v[lcEventPlatform] = truncValue(event.FieldStore, ev.Store, deg)
	if s := ev.Subscription; s != nil {
		v[lcSKURefID] = truncValue(event.FieldSubscriptionSKURefID, s.SKURefID, deg)
		v[lcEntitlementRefID] = truncValue(event.FieldSubscriptionEntitlementRefID, s.EntitlementRefID, deg)
		v[lcOriginalTransactionID] = truncValue(event.FieldSubscriptionOriginalTransactionID, s.OriginalTransactionID, deg)
	}
	return appendAttrs(dst, lifecycleKeys[:], v[:])
}

func appEnv(ev *event.Event) string {
	if ev.AppEnv == "" {
		return event.AppEnvProduction
	}
	return ev.AppEnv
}

func impressionAttributes(dst mparticle.Attributes, ev *event.Event, deg *event.Degraded) mparticle.Attributes {
	var v [imCount]string
	v[imEventID] = truncUnits(ev.ID, mparticle.MaxValueLen)
	v[imCategory] = "device"
	v[imAppEnv] = truncValue(event.FieldAppEnv, appEnv(ev), deg)
	v[imAppPlatformID] = truncUnits(ev.AppPlatformID, mparticle.MaxValueLen)
	if im := ev.Impression; im != nil {
		v[imControllerName] = truncValue(event.FieldImpressionControllerName, im.ControllerName, deg)
		v[imCTAType] = truncValue(event.FieldImpressionCTAType, im.CTAType, deg)
		v[imDeveloperPaywallID] = truncValue(event.FieldImpressionDeveloperPaywallID, im.DeveloperPaywallID, deg)
		v[imInitiator] = truncValue(event.FieldImpressionInitiator, im.Initiator, deg)
		v[imID] = truncValue(event.FieldImpressionID, im.ID, deg)
		v[imName] = truncValue(event.FieldImpressionName, im.Name, deg)
	}
	return appendAttrs(dst, impressionKeys[:], v[:])
}

func transactionAttributes(dst mparticle.Attributes, ev *event.Event, deg *event.Degraded) mparticle.Attributes {
	var v [txCount]string
	v[txEventID] = truncUnits(ev.ID, mparticle.MaxValueLen)
	v[txCategory] = "device"
	v[txAppEnv] = truncValue(event.FieldAppEnv, appEnv(ev), deg)
	if tx := ev.Transaction; tx != nil {
		v[txLocale] = truncValue(event.FieldTransactionLocale, tx.Locale, deg)
		v[txImpressionID] = truncValue(event.FieldTransactionImpressionID, tx.ImpressionID, deg)
		v[txOriginalTransactionID] = truncValue(event.FieldTransactionOriginalTransactionID, tx.OriginalTransactionID, deg)
		v[txPurchaseEnv] = truncValue(event.FieldTransactionPurchaseEnv, tx.PurchaseEnv, deg)
		v[txSource] = truncValue(event.FieldTransactionSource, tx.Source, deg)
		v[txInterval] = truncValue(event.FieldTransactionSubscriptionInterval, tx.SubscriptionInterval, deg)
		if c := tx.SubscriptionIntervalCount; c != nil {
			v[txIntervalCount] = strconv.Itoa(*c)
		}
	}
	return appendAttrs(dst, transactionKeys[:], v[:])
}

// productAction builds the purchase: the SKU (store id as product id when known, the
// platform's sku_ref_id as name), unit price, quantity and price × quantity rounded to the
// currency's minor unit. A price that is not a decimal string is left out rather than guessed
// (Decode already omits those; events built in code are checked again here).
func productAction(p *transactionParts, tx *event.Transaction, deg *event.Degraded) (*mparticle.ProductAction, string) {
	pa := &p.action
	*pa = mparticle.ProductAction{Action: actionPurchase}
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
	price, total, quantity := &p.nums[0], &p.nums[1], &p.nums[2]
	if v, intPart, frac, ok := splitPrice(tx.Price); ok {
		*price = v
		*total = totalOf(intPart, frac, qty, minorUnits(currency))
		pa.TotalAmount = total
	} else {
		price = nil
		if tx.Price != "" {
			deg.Add(event.FieldTransactionPrice)
		}
	}
	if tx.SKURefID != "" || tx.SKUStoreID != "" {
		id, idField := tx.SKUStoreID, event.FieldTransactionSKUStoreID
		if id == "" {
			id, idField = tx.SKURefID, event.FieldTransactionSKURefID
		}
		*quantity = float64(qty)
		p.product[0] = mparticle.Product{ID: truncValue(idField, id, deg), Name: truncValue(event.FieldTransactionSKURefID, tx.SKURefID, deg),
			Price: price, Quantity: quantity}
		pa.Products = p.product[:]
	}
	return pa, currency
}

func isCurrency(c string) bool {
	return len(c) == 3 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z' && c[2] >= 'A' && c[2] <= 'Z'
}

// userAttrKeys are the user attributes, in key order.
var userAttrKeys = [...]string{
	userAttrEntitlements, userAttrSKUs, userAttrDeviceIDs, userAttrDevicePlatforms,
	userAttrFormerSubscriber, userAttrInGrace, userAttrInIntro, userAttrInTrial,
}

// userAttributes is the user's current state, sent on every user.* event, written into dst.
// What the producer sent is sent: a list sent empty as [] (the state is "none", so a
// profile's stale list is cleared), never null. What it did not send is left out, so
// mParticle keeps the profile's value rather than being told "none" or "false" on no
// evidence. nil when nothing was sent.
func userAttributes(dst *[len(userAttrKeys)]mparticle.UserAttribute, u *event.User, deg *event.Degraded) mparticle.UserAttributes {
	// Straight-line, in key order, each attribute written in place.
	n := 0
	if l := u.ActiveEntitlements; l != nil {
		dst[n] = mparticle.UserAttribute{Key: userAttrEntitlements, List: userList(event.FieldUserActiveEntitlements, l, deg)}
		n++
	}
	if l := u.ActiveSKUs; l != nil {
		dst[n] = mparticle.UserAttribute{Key: userAttrSKUs, List: userList(event.FieldUserActiveSKUs, l, deg)}
		n++
	}
	if l := u.DeviceIDs; l != nil {
		dst[n] = mparticle.UserAttribute{Key: userAttrDeviceIDs, List: userList(event.FieldUserDeviceIDs, l, deg)}
		n++
	}
	if l := u.DevicePlatforms; l != nil {
		dst[n] = mparticle.UserAttribute{Key: userAttrDevicePlatforms, List: userList(event.FieldUserDevicePlatforms, l, deg)}
		n++
	}
	if f := u.FormerSubscriber; f != nil {
		dst[n] = mparticle.UserAttribute{Key: userAttrFormerSubscriber, Value: strconv.FormatBool(*f)}
		n++
	}
	if f := u.InGracePeriod; f != nil {
		dst[n] = mparticle.UserAttribute{Key: userAttrInGrace, Value: strconv.FormatBool(*f)}
		n++
	}
	if f := u.InIntroOfferPeriod; f != nil {
		dst[n] = mparticle.UserAttribute{Key: userAttrInIntro, Value: strconv.FormatBool(*f)}
		n++
	}
	if f := u.InTrialPeriod; f != nil {
		dst[n] = mparticle.UserAttribute{Key: userAttrInTrial, Value: strconv.FormatBool(*f)}
		n++
	}
	if n == 0 {
		return nil
	}
	return dst[:n:n]
}
