package event

import "slices"

// Field names an input field by its JSON path without list indices ("transaction.price",
// "user.active_skus"). Fields are the unit in which degraded input is counted and logged: a
// field name, never a value, so counts and logs carry no personal data.
type Field string

// The fields that can be degraded. Required fields are not here: when they are unusable the
// event is invalid, not degraded. FieldBatch is not an input field: it says a whole batch was
// shrunk to fit the API's size limit.
const (
	FieldPlatform Field = "platform"
	FieldStore    Field = "store"
	FieldAppEnv   Field = "app_env"

	FieldUser                   Field = "user"
	FieldUserID                 Field = "user.id"
	FieldUserExternalID         Field = "user.external_id"
	FieldUserActiveEntitlements Field = "user.active_entitlements"
	FieldUserActiveSKUs         Field = "user.active_skus"
	FieldUserDeviceIDs          Field = "user.device_ids"
	FieldUserDevicePlatforms    Field = "user.device_platforms"
	FieldUserFormerSubscriber   Field = "user.former_subscriber"
	FieldUserInGracePeriod      Field = "user.in_grace_period"
	FieldUserInTrialPeriod      Field = "user.in_trial_period"
	FieldUserInIntroOfferPeriod Field = "user.in_intro_offer_period"

	FieldDevice           Field = "device"
	FieldDeviceID         Field = "device.id"
	FieldDeviceIDFV       Field = "device.idfv"
	FieldDeviceIDFA       Field = "device.idfa"
	FieldDeviceGAID       Field = "device.gaid"
	FieldDeviceAndroidID  Field = "device.android_id"
	FieldDeviceOSVersion  Field = "device.os_version"
	FieldDeviceModel      Field = "device.model"
	FieldDeviceLocale     Field = "device.locale"
	FieldDeviceAppVersion Field = "device.app_version"
	FieldDeviceCountry    Field = "device.country"
	FieldDeviceIP         Field = "device.ip"

	FieldImpression                   Field = "impression"
	FieldImpressionID                 Field = "impression.id"
	FieldImpressionPaywallID          Field = "impression.paywall_id"
	FieldImpressionDeveloperPaywallID Field = "impression.developer_paywall_id"
	FieldImpressionName               Field = "impression.name"
	FieldImpressionControllerName     Field = "impression.controller_name"
	FieldImpressionCTAType            Field = "impression.cta_type"
	FieldImpressionInitiator          Field = "impression.initiator"

	FieldTransaction                          Field = "transaction"
	FieldTransactionID                        Field = "transaction.id"
	FieldTransactionOriginalTransactionID     Field = "transaction.original_transaction_id"
	FieldTransactionSKURefID                  Field = "transaction.sku_ref_id"
	FieldTransactionSKUStoreID                Field = "transaction.sku_store_id"
	FieldTransactionPrice                     Field = "transaction.price"
	FieldTransactionCurrency                  Field = "transaction.currency"
	FieldTransactionQuantity                  Field = "transaction.quantity"
	FieldTransactionPurchaseEnv               Field = "transaction.purchase_env"
	FieldTransactionSource                    Field = "transaction.source"
	FieldTransactionSubscriptionInterval      Field = "transaction.subscription_interval"
	FieldTransactionSubscriptionIntervalCount Field = "transaction.subscription_interval_count"
	FieldTransactionImpressionID              Field = "transaction.impression_id"
	FieldTransactionLocale                    Field = "transaction.locale"

	FieldSubscription                      Field = "subscription"
	FieldSubscriptionSKURefID              Field = "subscription.sku_ref_id"
	FieldSubscriptionEntitlementRefID      Field = "subscription.entitlement_ref_id"
	FieldSubscriptionOriginalTransactionID Field = "subscription.original_transaction_id"
	FieldSubscriptionPurchaseEnv           Field = "subscription.purchase_env"
	FieldSubscriptionExpiresAt             Field = "subscription.expires_at"
	FieldSubscriptionPrice                 Field = "subscription.price"
	FieldSubscriptionCurrency              Field = "subscription.currency"

	FieldBatch Field = "batch"
)

// Fields lists every Field above: the closed set metrics may publish as dimension values, so
// that what a producer sends can never create new CloudWatch metrics.
var Fields = []Field{
	FieldPlatform, FieldStore, FieldAppEnv,
	FieldUser, FieldUserID, FieldUserExternalID, FieldUserActiveEntitlements, FieldUserActiveSKUs,
	FieldUserDeviceIDs, FieldUserDevicePlatforms, FieldUserFormerSubscriber, FieldUserInGracePeriod,
	FieldUserInTrialPeriod, FieldUserInIntroOfferPeriod,
	FieldDevice, FieldDeviceID, FieldDeviceIDFV, FieldDeviceIDFA, FieldDeviceGAID, FieldDeviceAndroidID,
	FieldDeviceOSVersion, FieldDeviceModel, FieldDeviceLocale, FieldDeviceAppVersion, FieldDeviceCountry, FieldDeviceIP,
	FieldImpression, FieldImpressionID, FieldImpressionPaywallID, FieldImpressionDeveloperPaywallID,
	FieldImpressionName, FieldImpressionControllerName, FieldImpressionCTAType, FieldImpressionInitiator,
	FieldTransaction, FieldTransactionID, FieldTransactionOriginalTransactionID, FieldTransactionSKURefID,
	FieldTransactionSKUStoreID, FieldTransactionPrice, FieldTransactionCurrency, FieldTransactionQuantity,
	FieldTransactionPurchaseEnv, FieldTransactionSource, FieldTransactionSubscriptionInterval,
	FieldTransactionSubscriptionIntervalCount, FieldTransactionImpressionID, FieldTransactionLocale,
	FieldSubscription, FieldSubscriptionSKURefID, FieldSubscriptionEntitlementRefID,
	FieldSubscriptionOriginalTransactionID, FieldSubscriptionPurchaseEnv, FieldSubscriptionExpiresAt,
	FieldSubscriptionPrice, FieldSubscriptionCurrency,
	FieldBatch,
}

// KnownField reports whether f is one of Fields.
func KnownField(f Field) bool { return slices.Contains(Fields, f) }

// Degraded lists the fields of one event whose values were normalised (trimmed, re-cased,
// converted from another JSON type, truncated, cut) or omitted so that the event could still
// be delivered. Decode fills the event's list; the transform appends what it had to change
// for the API. Each field appears once, in the order first degraded.
type Degraded []Field

// Add records f, once.
func (d *Degraded) Add(f Field) {
	if !slices.Contains(*d, f) {
		*d = append(*d, f)
	}
}

// Merge adds every field of o.
func (d *Degraded) Merge(o Degraded) {
	for _, f := range o {
		d.Add(f)
	}
}

// Strings returns the field names, for logging.
func (d Degraded) Strings() []string {
	out := make([]string, len(d))
	for i, f := range d {
		out[i] = string(f)
	}
	return out
}
