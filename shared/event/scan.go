package event

import (
	"bytes"
	"encoding/json"
)

// The decoder reads bodies that json.Valid has accepted. These helpers only find where each
// member and element starts and ends, so decoding builds nothing but the event itself, and
// one wrong JSON type affects only its own field.

// scanner walks valid JSON.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// value skips the value at the current position and returns its bytes.
func (s *scanner) value() raw {
	s.ws()
	start := s.i
	if s.i >= len(s.b) {
		return nil
	}
	switch s.b[s.i] {
	case '"':
		s.str()
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				s.str()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				break
			}
		}
	default:
		for s.i < len(s.b) && !endOfLiteral(s.b[s.i]) {
			s.i++
		}
	}
	return s.b[start:s.i]
}

func (s *scanner) str() {
	s.i++ // opening quote
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
		case '"':
			s.i++
			return
		default:
			s.i++
		}
	}
}

func endOfLiteral(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ',', ']', '}':
		return true
	}
	return false
}

// setter takes one member of an object by key (the bytes between the quotes, unescaped) and
// reports whether the key is one of its own.
type setter interface {
	set(key []byte, v raw) bool
}

// fill hands each member of object o to s, in order, so a repeated key's last value wins.
// Keys match exactly or, failing that, in any ASCII case, as encoding/json matches them.
func fill(o raw, s setter) {
	sc := scanner{b: o, i: 1}
	for {
		sc.ws()
		if sc.i >= len(sc.b) || sc.b[sc.i] == '}' {
			return
		}
		if sc.b[sc.i] == ',' {
			sc.i++
		}
		k := sc.value()
		sc.ws()
		sc.i++ // ':'
		v := sc.value()
		key := k[1 : len(k)-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var u string
			if json.Unmarshal(k, &u) != nil {
				continue
			}
			key = []byte(u)
		}
		if !s.set(key, v) {
			if lower := asciiLowerBytes(key); lower != nil {
				s.set(lower, v)
			}
		}
	}
}

// elements returns the elements of array a.
func elements(a raw) []raw {
	var out []raw
	sc := scanner{b: a, i: 1}
	for {
		sc.ws()
		if sc.i >= len(sc.b) || sc.b[sc.i] == ']' {
			return out
		}
		if sc.b[sc.i] == ',' {
			sc.i++
		}
		out = append(out, sc.value())
	}
}

// asciiLowerBytes returns a lower-cased copy of b, or nil when b has no upper-case letter.
func asciiLowerBytes(b []byte) []byte {
	if bytes.IndexFunc(b, func(r rune) bool { return r >= 'A' && r <= 'Z' }) < 0 {
		return nil
	}
	out := bytes.Clone(b)
	for i, c := range out {
		if c >= 'A' && c <= 'Z' {
			out[i] = c + 'a' - 'A'
		}
	}
	return out
}

func (w *wireEvent) set(k []byte, v raw) bool {
	switch string(k) {
	case "id":
		w.ID = v
	case "type":
		w.Type = v
	case "occurred_at":
		w.OccurredAt = v
	case "app_id":
		w.AppID = v
	case "app_platform_id":
		w.AppPlatformID = v
	case "platform":
		w.Platform = v
	case "store":
		w.Store = v
	case "app_env":
		w.AppEnv = v
	case "user":
		w.User = v
	case "device":
		w.Device = v
	case "impression":
		w.Impression = v
	case "transaction":
		w.Transaction = v
	case "subscription":
		w.Subscription = v
	default:
		return false
	}
	return true
}

func (w *wireUser) set(k []byte, v raw) bool {
	switch string(k) {
	case "id":
		w.ID = v
	case "external_id":
		w.ExternalID = v
	case "active_entitlements":
		w.ActiveEntitlements = v
	case "active_skus":
		w.ActiveSKUs = v
	case "device_ids":
		w.DeviceIDs = v
	case "device_platforms":
		w.DevicePlatforms = v
	case "former_subscriber":
		w.FormerSubscriber = v
	case "in_grace_period":
		w.InGracePeriod = v
	case "in_trial_period":
		w.InTrialPeriod = v
	case "in_intro_offer_period":
		w.InIntroOfferPeriod = v
	default:
		return false
	}
	return true
}

func (w *wireDevice) set(k []byte, v raw) bool {
	switch string(k) {
	case "id":
		w.ID = v
	case "idfv":
		w.IDFV = v
	case "idfa":
		w.IDFA = v
	case "gaid":
		w.GAID = v
	case "android_id":
		w.AndroidID = v
	case "os_version":
		w.OSVersion = v
	case "model":
		w.Model = v
	case "locale":
		w.Locale = v
	case "app_version":
		w.AppVersion = v
	case "country":
		w.Country = v
	case "ip":
		w.IP = v
	default:
		return false
	}
	return true
}

func (w *wireImpression) set(k []byte, v raw) bool {
	switch string(k) {
	case "id":
		w.ID = v
	case "paywall_id":
		w.PaywallID = v
	case "developer_paywall_id":
		w.DeveloperPaywallID = v
	case "name":
		w.Name = v
	case "controller_name":
		w.ControllerName = v
	case "cta_type":
		w.CTAType = v
	case "initiator":
		w.Initiator = v
	default:
		return false
	}
	return true
}

func (w *wireTransaction) set(k []byte, v raw) bool {
	switch string(k) {
	case "id":
		w.ID = v
	case "original_transaction_id":
		w.OriginalTransactionID = v
	case "sku_ref_id":
		w.SKURefID = v
	case "sku_store_id":
		w.SKUStoreID = v
	case "price":
		w.Price = v
	case "currency":
		w.Currency = v
	case "quantity":
		w.Quantity = v
	case "purchase_env":
		w.PurchaseEnv = v
	case "source":
		w.Source = v
	case "subscription_interval":
		w.SubscriptionInterval = v
	case "subscription_interval_count":
		w.SubscriptionIntervalCount = v
	case "impression_id":
		w.ImpressionID = v
	case "locale":
		w.Locale = v
	default:
		return false
	}
	return true
}

func (w *wireSubscription) set(k []byte, v raw) bool {
	switch string(k) {
	case "sku_ref_id":
		w.SKURefID = v
	case "entitlement_ref_id":
		w.EntitlementRefID = v
	case "original_transaction_id":
		w.OriginalTransactionID = v
	case "purchase_env":
		w.PurchaseEnv = v
	case "expires_at":
		w.ExpiresAt = v
	case "price":
		w.Price = v
	case "currency":
		w.Currency = v
	default:
		return false
	}
	return true
}
