package event

import (
	"strconv"
	"strings"
)

// Validate checks the contract's rules (event-contract.md §1) on an event, reporting the first
// violation as an *InvalidError. Defaults count as set: an empty app_env is production and a
// nil quantity is 1. Decode calls it; it is exported for events built in code.
func (ev *Event) Validate() error {
	if ev == nil {
		return invalid("", "no event")
	}
	if err := requiredUUID("id", ev.ID); err != nil {
		return err
	}
	switch {
	case ev.Type == "":
		return invalid("type", "required")
	case !ev.Type.Valid():
		return invalid("type", "unknown event type")
	}
	if ev.OccurredAt.IsZero() {
		return invalid("occurred_at", "required")
	}
	if y := ev.OccurredAt.Year(); y < MinYear || y > MaxYear {
		return invalid("occurred_at", "year must be between "+strconv.Itoa(MinYear)+" and "+strconv.Itoa(MaxYear))
	}
	if err := requiredID("app_id", ev.AppID); err != nil {
		return err
	}
	if err := requiredID("app_platform_id", ev.AppPlatformID); err != nil {
		return err
	}
	if ev.Platform == "" {
		return invalid("platform", "required")
	}
	if err := token("platform", ev.Platform); err != nil {
		return err
	}
	if err := text("store", ev.Store); err != nil {
		return err
	}
	if ev.AppEnv != "" {
		if err := oneOf("app_env", ev.AppEnv, AppEnvProduction, AppEnvBetaTesting, AppEnvDeviceDevelopment, AppEnvSimulatorDevelopment); err != nil {
			return err
		}
	}

	if ev.User == nil && ev.Type.IsUser() {
		return invalid("user", "required for user.* events")
	}
	if err := ev.User.validate(ev.Type); err != nil {
		return err
	}
	if ev.Device == nil && ev.Type.IsDevice() {
		return invalid("device", "required for device.* events")
	}
	if err := ev.Device.validate(); err != nil {
		return err
	}
	if ev.Impression == nil && ev.Type == DeviceImpression {
		return invalid("impression", "required for device.impression events")
	}
	if err := ev.Impression.validate(); err != nil {
		return err
	}
	if ev.Transaction == nil && ev.Type == DeviceTransaction {
		return invalid("transaction", "required for device.transaction events")
	}
	if err := ev.Transaction.validate(); err != nil {
		return err
	}
	if ev.Subscription == nil && ev.Type.needsSubscription() {
		return invalid("subscription", "required for user.subscription.* and user.journey.trial.* events")
	}
	return ev.Subscription.validate()
}

func (t Type) needsSubscription() bool {
	s := string(t)
	return strings.HasPrefix(s, "user.subscription.") || strings.HasPrefix(s, "user.journey.trial.")
}

func (u *User) validate(t Type) error {
	if u == nil {
		return nil
	}
	if u.ID == "" {
		if t.IsUser() {
			return invalid("user.id", "required for user.* events")
		}
		return invalid("user.id", "required when user is present")
	}
	if err := id("user.id", u.ID); err != nil {
		return err
	}
	if err := id("user.external_id", u.ExternalID); err != nil {
		return err
	}
	lists := []struct {
		name string
		list []string
	}{
		{"user.active_entitlements", u.ActiveEntitlements},
		{"user.active_skus", u.ActiveSKUs},
		{"user.device_ids", u.DeviceIDs},
		{"user.device_platforms", u.DevicePlatforms},
	}
	for _, l := range lists {
		if len(l.list) > MaxListLen {
			return invalid(l.name, "more than "+strconv.Itoa(MaxListLen)+" entries")
		}
		for i, v := range l.list {
			if len(v) > MaxIDLen {
				return invalid(l.name+"["+strconv.Itoa(i)+"]", tooLong(MaxIDLen))
			}
		}
	}
	return nil
}

func (d *Device) validate() error {
	if d == nil {
		return nil
	}
	if err := requiredUUID("device.id", d.ID); err != nil {
		return err
	}
	// Advertising and vendor ids are not format-checked here: a malformed one is dropped when
	// building the batch, which is better than refusing the whole event.
	for _, f := range []struct{ name, v string }{
		{"device.idfv", d.IDFV}, {"device.idfa", d.IDFA}, {"device.gaid", d.GAID}, {"device.android_id", d.AndroidID},
	} {
		if err := id(f.name, f.v); err != nil {
			return err
		}
	}
	for _, f := range []struct{ name, v string }{
		{"device.os_version", d.OSVersion}, {"device.model", d.Model}, {"device.locale", d.Locale},
		{"device.app_version", d.AppVersion}, {"device.country", d.Country}, {"device.ip", d.IP},
	} {
		if err := text(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

func (im *Impression) validate() error {
	if im == nil {
		return nil
	}
	for _, f := range []struct{ name, v string }{
		{"impression.id", im.ID}, {"impression.paywall_id", im.PaywallID}, {"impression.developer_paywall_id", im.DeveloperPaywallID},
	} {
		if err := id(f.name, f.v); err != nil {
			return err
		}
	}
	for _, f := range []struct{ name, v string }{
		{"impression.name", im.Name}, {"impression.controller_name", im.ControllerName}, {"impression.cta_type", im.CTAType},
	} {
		if err := text(f.name, f.v); err != nil {
			return err
		}
	}
	if im.Initiator != "" {
		return oneOf("impression.initiator", im.Initiator, InitiatorNamiML, InitiatorNamiRules, InitiatorUser, InitiatorUnknown)
	}
	return nil
}

func (tx *Transaction) validate() error {
	if tx == nil {
		return nil
	}
	for _, f := range []struct{ name, v string }{
		{"transaction.id", tx.ID}, {"transaction.original_transaction_id", tx.OriginalTransactionID},
		{"transaction.sku_ref_id", tx.SKURefID}, {"transaction.sku_store_id", tx.SKUStoreID},
		{"transaction.impression_id", tx.ImpressionID},
	} {
		if err := id(f.name, f.v); err != nil {
			return err
		}
	}
	if err := text("transaction.locale", tx.Locale); err != nil {
		return err
	}
	if err := price("transaction.price", tx.Price); err != nil {
		return err
	}
	if err := currency("transaction.currency", tx.Currency); err != nil {
		return err
	}
	if q := tx.Quantity; q != nil && (*q < 1 || *q > MaxQuantity) {
		return invalid("transaction.quantity", "must be between 1 and "+strconv.Itoa(MaxQuantity))
	}
	if tx.PurchaseEnv != "" {
		if err := oneOf("transaction.purchase_env", tx.PurchaseEnv, PurchaseEnvProduction, PurchaseEnvSandbox); err != nil {
			return err
		}
	}
	if tx.Source != "" {
		if err := oneOf("transaction.source", tx.Source, SourceExternal, SourceNamiTriggered, SourceUserInitiated, SourceUnknown); err != nil {
			return err
		}
	}
	if tx.SubscriptionInterval != "" {
		if err := oneOf("transaction.subscription_interval", tx.SubscriptionInterval, "day", "week", "month", "quarter", "halfyear", "year"); err != nil {
			return err
		}
	}
	if c := tx.SubscriptionIntervalCount; c != nil && (*c < 1 || *c > MaxQuantity) {
		return invalid("transaction.subscription_interval_count", "must be between 1 and "+strconv.Itoa(MaxQuantity))
	}
	return nil
}

func (s *Subscription) validate() error {
	if s == nil {
		return nil
	}
	for _, f := range []struct{ name, v string }{
		{"subscription.sku_ref_id", s.SKURefID}, {"subscription.entitlement_ref_id", s.EntitlementRefID},
		{"subscription.original_transaction_id", s.OriginalTransactionID},
	} {
		if err := id(f.name, f.v); err != nil {
			return err
		}
	}
	if s.PurchaseEnv != "" {
		if err := oneOf("subscription.purchase_env", s.PurchaseEnv, PurchaseEnvProduction, PurchaseEnvSandbox); err != nil {
			return err
		}
	}
	if s.ExpiresAt != nil && s.ExpiresAt.IsZero() {
		return invalid("subscription.expires_at", "must not be the zero time")
	}
	if err := price("subscription.price", s.Price); err != nil {
		return err
	}
	return currency("subscription.currency", s.Currency)
}

func tooLong(n int) string { return "longer than " + strconv.Itoa(n) + " bytes" }

func id(field, v string) error {
	if len(v) > MaxIDLen {
		return invalid(field, tooLong(MaxIDLen))
	}
	return nil
}

func requiredID(field, v string) error {
	if v == "" {
		return invalid(field, "required")
	}
	return id(field, v)
}

func requiredUUID(field, v string) error {
	if v == "" {
		return invalid(field, "required")
	}
	if !IsUUID(v) {
		return invalid(field, "must be a UUID (8-4-4-4-12 hex digits)")
	}
	return nil
}

func text(field, v string) error {
	if len(v) > MaxTextLen {
		return invalid(field, tooLong(MaxTextLen))
	}
	return nil
}

// token accepts the contract's lower-case identifiers such as "apple_tv".
func token(field, v string) error {
	if len(v) > MaxTokenLen {
		return invalid(field, tooLong(MaxTokenLen))
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return invalid(field, "must be lower case (a-z, 0-9, _ - .)")
		}
	}
	return nil
}

func oneOf(field, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return invalid(field, "must be one of "+strings.Join(allowed, ", "))
}

func price(field, v string) error {
	if v != "" && !IsDecimal(v) {
		return invalid(field, `must be a non-negative decimal string such as "9.99" (at most `+
			strconv.Itoa(MaxPriceIntDigits)+" integer and "+strconv.Itoa(MaxPriceFracDigits)+" fraction digits)")
	}
	return nil
}

func currency(field, v string) error {
	if v == "" {
		return nil
	}
	if len(v) != 3 || !upper(v[0]) || !upper(v[1]) || !upper(v[2]) {
		return invalid(field, "must be an ISO 4217 code (3 upper-case letters)")
	}
	return nil
}

func upper(c byte) bool { return c >= 'A' && c <= 'Z' }

// IsDecimal reports whether s is a price string as the contract allows: digits, optionally a
// point and more digits, within MaxPriceIntDigits/MaxPriceFracDigits (no sign, no exponent).
func IsDecimal(s string) bool {
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if len(intPart) == 0 || len(intPart) > MaxPriceIntDigits || (hasPoint && len(frac) == 0) || len(frac) > MaxPriceFracDigits {
		return false
	}
	return digits(intPart) && digits(frac)
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// IsUUID reports whether s is a UUID in its canonical 36-character form (either case), the
// form mParticle's schema requires for device identifiers.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
