package transform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// Values of the sample events (package eventtest).
const (
	userID         = "c0ffee00-1234-4abc-8def-0123456789ab"
	externalID     = "acct_48213377"
	iosPlatformID  = eventtest.IOSPlatformID
	andPlatformID  = eventtest.AndroidPlatformID
	iosDeviceID    = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
	andDeviceID    = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	impressionID   = "b5d2f0a1-3c4e-4f6a-8b9c-0d1e2f3a4b5c"
	appleOrigTxID  = "2000000571923344"
	appleTrialTxID = "2000000571911101"
	googleOrigTxID = "GPA.3391-2210-5874-90112"
)

var (
	iosFeed = &integration.Integration{
		ID: "int-ios-1", AppID: "5b1a3c6e-2f4d-4e8a-9c1b-7d2e8f3a4b5c", Enabled: true, Scope: integration.ScopePlatform,
		AppPlatformID: iosPlatformID, Platform: "ios", CustomerIDSource: integration.CustomerIDExternal,
	}
	androidFeed = &integration.Integration{
		ID: "int-android-1", AppID: "5b1a3c6e-2f4d-4e8a-9c1b-7d2e8f3a4b5c", Enabled: true, Scope: integration.ScopePlatform,
		AppPlatformID: andPlatformID, Platform: "android", CustomerIDSource: integration.CustomerIDExternal,
	}
	iosDevice = &mparticle.DeviceInfo{
		Platform: "iOS", IOSIDFV: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F", IOSAdvertisingID: "8D8AC610-566D-4EF0-9C22-186B2A5ED793",
		OSVersion: "17.4.1", DeviceModel: "iPhone15,2", LocaleLanguage: "en", LocaleCountry: "US",
	}
	androidDevice = &mparticle.DeviceInfo{
		Platform: "Android", AndroidAdvertisingID: "38400000-8cf0-11bd-b23e-10b96e40000d", AndroidUUID: "9774d56d682e549c",
		OSVersion: "14", DeviceModel: "Pixel 8", LocaleLanguage: "de", LocaleCountry: "DE",
	}
	deviceIDs       = []string{iosDeviceID, andDeviceID}
	devicePlatforms = []string{iosPlatformID, andPlatformID}
)

func load(t testing.TB, typ event.Type) *event.Event {
	t.Helper()
	return decode(t, eventtest.Sample(typ))
}

func decode(t testing.TB, b []byte) *event.Event {
	t.Helper()
	ev, err := event.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func mustBatch(t testing.TB, ev *event.Event, in *integration.Integration) Result {
	t.Helper()
	res, err := ToBatch(ev, in)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func lifecycle(id, store, sku, ent, origTx string) map[string]string {
	return map[string]string{
		"namiml_event_id": id, "namiml_event_category": "user", "namiml_event_subcategory1": "subscription",
		"event_platform": store, "sku_ref_id": sku, "entitlement_ref_id": ent, "original_transaction_id": origTx,
	}
}

func userAttrs(ents, skus []string, former, grace, trial bool) map[string]any {
	s := func(b bool) any {
		if b {
			return "true"
		}
		return "false"
	}
	return map[string]any{
		"namiml_active_entitlements": ents, "namiml_active_skus": skus,
		"namiml_device_ids": deviceIDs, "namiml_device_platforms": devicePlatforms,
		"namiml_former_subscriber": s(former), "namiml_in_grace_period": s(grace),
		"namiml_in_trial_period": s(trial), "namiml_in_intro_offer_period": "false",
	}
}

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

// want is the expected batch content for one sample event.
type want struct {
	feed       *integration.Integration
	eventType  string
	name       string
	customType string
	timestamp  int64
	attrs      map[string]string
	env        string
	customerID string // "" means no user_identities and MissingCustomerID
	partner    bool   // namiml_user_id expected
	userAttrs  map[string]any
	device     *mparticle.DeviceInfo
	appVersion string
	ip         string
	action     *mparticle.ProductAction
	currency   string
}

func f64(v float64) *float64 { return &v }

// attrMap is a as a map, for comparisons; it fails t unless the keys are distinct and in
// order, the order the batch carries them in (as the maps they replaced were encoded).
func attrMap(t testing.TB, a mparticle.Attributes) map[string]string {
	t.Helper()
	if a == nil {
		return nil
	}
	m := make(map[string]string, len(a))
	for i, kv := range a {
		if i > 0 && a[i-1].Key >= kv.Key {
			t.Errorf("attribute %q after %q: not in key order", kv.Key, a[i-1].Key)
		}
		m[kv.Key] = kv.Value
	}
	return m
}

// userMap is attrMap for user attributes: each value a string or a []string.
func userMap(t testing.TB, a mparticle.UserAttributes) map[string]any {
	t.Helper()
	if a == nil {
		return nil
	}
	m := make(map[string]any, len(a))
	for i, u := range a {
		if i > 0 && a[i-1].Key >= u.Key {
			t.Errorf("user attribute %q after %q: not in key order", u.Key, a[i-1].Key)
		}
		m[u.Key] = u.Any()
	}
	return m
}

func TestToBatchAllTypes(t *testing.T) {
	none := []string{}
	premium := []string{"premium"}
	cases := map[event.Type]want{
		event.SubscriptionPurchased: {
			feed: iosFeed, eventType: "custom_event", name: "purchased", customType: "transaction",
			timestamp: ms("2024-05-14T09:30:12.345Z"),
			attrs:     lifecycle("6a1e0000-0000-4000-8001-000000000001", "apple", "premium_monthly", "premium", appleOrigTxID),
			env:       "production", customerID: externalID, partner: true,
			userAttrs: userAttrs(premium, []string{"premium_monthly"}, false, false, false),
			device:    iosDevice, appVersion: "4.12.0", ip: "203.0.113.42",
		},
		event.SubscriptionRenewed: {
			feed: iosFeed, eventType: "custom_event", name: "renewed", customType: "transaction",
			timestamp: ms("2024-06-14T09:30:15Z"),
			attrs:     lifecycle("6a1e0000-0000-4000-8002-000000000002", "apple", "premium_monthly", "premium", appleOrigTxID),
			env:       "production", customerID: externalID, partner: true,
			userAttrs: userAttrs(premium, []string{"premium_monthly"}, false, false, false),
			device:    &mparticle.DeviceInfo{Platform: "iOS"},
		},
		event.SubscriptionCancelled: {
			feed: iosFeed, eventType: "custom_event", name: "cancelled", customType: "transaction",
			timestamp: ms("2024-06-20T16:02:44.120Z"),
			attrs:     lifecycle("6a1e0000-0000-4000-8003-000000000003", "apple", "premium_monthly", "premium", appleOrigTxID),
			env:       "production", customerID: externalID, partner: true,
			userAttrs: userAttrs(premium, []string{"premium_monthly"}, false, false, false),
			device:    &mparticle.DeviceInfo{Platform: "iOS"},
		},
		event.SubscriptionExpired: {
			feed: iosFeed, eventType: "custom_event", name: "expired", customType: "transaction",
			timestamp: ms("2024-07-14T09:30:13Z"),
			attrs:     lifecycle("6a1e0000-0000-4000-8004-000000000004", "apple", "premium_monthly", "premium", appleOrigTxID),
			env:       "production", customerID: externalID, partner: true,
			userAttrs: userAttrs(none, none, true, false, false),
			device:    &mparticle.DeviceInfo{Platform: "iOS"},
		},
		event.SubscriptionInGracePeriod: {
			feed: androidFeed, eventType: "custom_event", name: "in_grace_period", customType: "transaction",
			timestamp: ms("2024-05-03T11:00:00Z"),
			attrs:     lifecycle("6a1e0000-0000-4000-8005-000000000005", "google", "premium_annual", "premium", googleOrigTxID),
			env:       "production", customerID: "", partner: true, // this user has no External ID
			userAttrs: userAttrs(premium, []string{"premium_annual"}, false, true, false),
			device:    &mparticle.DeviceInfo{Platform: "Android"},
		},
		event.SubscriptionRenewalInGracePeriod: {
			feed: androidFeed, eventType: "custom_event", name: "renewal_in_grace_period", customType: "transaction",
			timestamp: ms("2024-05-09T07:45:31Z"),
			attrs:     lifecycle("6a1e0000-0000-4000-8006-000000000006", "google", "premium_annual", "premium", googleOrigTxID),
			env:       "production", customerID: externalID, partner: true,
			userAttrs: userAttrs(premium, []string{"premium_annual"}, false, false, false),
			device:    androidDevice, appVersion: "4.12.0", ip: "2001:db8::1f",
		},
		event.SubscriptionPaused: {
			feed: androidFeed, eventType: "custom_event", name: "paused", customType: "transaction",
			timestamp: ms("2024-08-01T00:00:00Z"),
			attrs:     lifecycle("6a1e0000-0000-4000-8007-000000000007", "google", "premium_annual", "premium", googleOrigTxID),
			env:       "production", customerID: externalID, partner: true,
			userAttrs: userAttrs(none, none, false, false, false),
			device:    &mparticle.DeviceInfo{Platform: "Android"},
		},
		event.SubscriptionResumed: {
			feed: androidFeed, eventType: "custom_event", name: "resumed", customType: "transaction",
			timestamp: ms("2024-09-01T00:00:02Z"),
			attrs:     lifecycle("6a1e0000-0000-4000-8008-000000000008", "google", "premium_annual", "premium", googleOrigTxID),
			env:       "production", customerID: externalID, partner: true,
			userAttrs: userAttrs(premium, []string{"premium_annual"}, false, false, false),
			device:    &mparticle.DeviceInfo{Platform: "Android"},
		},
		event.TrialStarted: {
			feed: iosFeed, eventType: "custom_event", name: "trial_started", customType: "transaction",
			timestamp: ms("2024-04-07T16:20:00Z"),
			attrs:     lifecycle("6a1e0000-0000-4000-8009-000000000009", "apple", "premium_monthly_trial", "premium", appleTrialTxID),
			env:       "development", customerID: externalID, partner: true, // beta_testing build, sandbox purchase
			userAttrs: userAttrs(premium, []string{"premium_monthly_trial"}, false, false, true),
			device:    &mparticle.DeviceInfo{Platform: "iOS"},
		},
		event.TrialConverted: {
			feed: iosFeed, eventType: "custom_event", name: "trial_converted", customType: "transaction",
			timestamp: ms("2024-04-14T16:20:04Z"),
			attrs:     lifecycle("6a1e0000-0000-4000-800a-00000000000a", "apple", "premium_monthly_trial", "premium", appleTrialTxID),
			env:       "production", customerID: externalID, partner: true,
			userAttrs: userAttrs(premium, []string{"premium_monthly_trial"}, false, false, false),
			device:    &mparticle.DeviceInfo{Platform: "iOS"},
		},
		event.TrialDidNotConvert: {
			feed: iosFeed, eventType: "custom_event", name: "trial_did_not_convert", customType: "transaction",
			timestamp: ms("2024-04-14T16:21:09Z"),
			attrs:     lifecycle("6a1e0000-0000-4000-800b-00000000000b", "apple", "premium_monthly_trial", "premium", appleTrialTxID),
			env:       "production", customerID: externalID, partner: true,
			userAttrs: userAttrs(none, none, false, false, false),
			device:    &mparticle.DeviceInfo{Platform: "iOS"},
		},
		event.DeviceImpression: {
			feed: iosFeed, eventType: "custom_event", name: "impression", customType: "navigation",
			timestamp: ms("2024-05-14T09:29:50.002Z"),
			attrs: map[string]string{
				"namiml_event_id": "6a1e0000-0000-4000-800c-00000000000c", "namiml_event_category": "device",
				"app_env": "production", "app_platform_id": iosPlatformID, "controller_name": "OnboardingViewController",
				"cta_type": "paywall", "developer_paywall_id": "onboarding_v3", "initiator": "nami_ml",
				"id": impressionID, "name": "Onboarding Paywall",
			},
			env: "production", customerID: externalID, partner: true,
			device: iosDevice, appVersion: "4.12.0", ip: "203.0.113.42",
		},
		event.DeviceTransaction: {
			feed: iosFeed, eventType: "commerce_event",
			timestamp: ms("2024-05-14T09:30:11.870Z"),
			attrs: map[string]string{
				"namiml_event_id": "6a1e0000-0000-4000-800d-00000000000d", "namiml_event_category": "device",
				"app_env": "production", "locale": "en_US", "impression_id": impressionID,
				"original_transaction_id": appleOrigTxID, "purchase_env": "production", "source": "nami_triggered",
				"subscription_interval": "month", "subscription_interval_count": "1",
			},
			env: "production", customerID: externalID, partner: true,
			device: iosDevice, appVersion: "4.12.0", ip: "203.0.113.42",
			action: &mparticle.ProductAction{
				Action: "purchase", TransactionID: "2000000571923344", TotalAmount: f64(9.99),
				Products: []mparticle.Product{{ID: "com.example.app.premium.monthly", Name: "premium_monthly", Price: f64(9.99), Quantity: f64(1)}},
			},
			currency: "USD",
		},
	}
	if len(cases) != len(event.AllTypes) {
		t.Fatalf("%d cases for %d types", len(cases), len(event.AllTypes))
	}
	for _, typ := range event.AllTypes {
		w := cases[typ]
		t.Run(string(typ), func(t *testing.T) {
			ev := load(t, typ)
			res := mustBatch(t, ev, w.feed)
			b := res.Batch
			if len(b.Events) != 1 {
				t.Fatalf("%d events, want 1", len(b.Events))
			}
			e := b.Events[0]
			check := func(field string, got, want any) {
				t.Helper()
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v", field, got, want)
				}
			}
			check("event_type", e.EventType, w.eventType)
			check("event_name", e.Data.EventName, w.name)
			check("custom_event_type", e.Data.CustomEventType, w.customType)
			check("timestamp_unixtime_ms", e.Data.TimestampUnixtimeMS, w.timestamp)
			check("custom_attributes", attrMap(t, e.Data.CustomAttributes), w.attrs)
			check("source_message_id", e.Data.SourceMessageID, SourceMessageID(ev.ID))
			check("source_request_id", b.SourceRequestID, SourceRequestID(ev.ID, w.feed.ID))
			check("environment", b.Environment, w.env)
			if w.customerID == "" {
				check("user_identities", b.UserIdentities, (*mparticle.UserIdentities)(nil))
			} else {
				check("user_identities", b.UserIdentities, &mparticle.UserIdentities{CustomerID: w.customerID})
			}
			check("MissingCustomerID", res.MissingCustomerID, w.customerID == "")
			if w.partner {
				check("partner_identities", b.PartnerIdentities, mparticle.Attributes{{Key: "namiml_user_id", Value: userID}})
			} else {
				check("partner_identities", b.PartnerIdentities, mparticle.Attributes(nil))
			}
			if w.userAttrs == nil {
				check("user_attributes", b.UserAttributes, mparticle.UserAttributes(nil))
			} else {
				check("user_attributes", userMap(t, b.UserAttributes), w.userAttrs)
			}
			check("device_info", b.DeviceInfo, w.device)
			if w.appVersion == "" {
				check("application_info", b.ApplicationInfo, (*mparticle.ApplicationInfo)(nil))
			} else {
				check("application_info", b.ApplicationInfo, &mparticle.ApplicationInfo{ApplicationVersion: w.appVersion})
			}
			check("ip", b.IP, w.ip)
			check("product_action", e.Data.ProductAction, w.action)
			check("currency_code", e.Data.CurrencyCode, w.currency)
			check("Degraded", res.Degraded, event.Degraded(nil))
		})
	}
}

// The JSON itself: wire names, empty lists as [], no empty strings or nulls.
func TestToBatchJSON(t *testing.T) {
	res := mustBatch(t, load(t, event.SubscriptionExpired), iosFeed)
	js, err := json.Marshal(res.Batch)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"namiml_active_skus":[]`, `"namiml_active_entitlements":[]`, `"namiml_former_subscriber":"true"`,
		`"event_type":"custom_event"`, `"custom_event_type":"transaction"`, `"partner_identities":{"namiml_user_id":"` + userID + `"}`,
		`"user_identities":{"customer_id":"acct_48213377"}`, `"device_info":{"platform":"iOS"}`} {
		if !bytes.Contains(js, []byte(s)) {
			t.Errorf("JSON lacks %s:\n%s", s, js)
		}
	}
	for _, typ := range event.AllTypes {
		js, err := json.Marshal(mustBatch(t, load(t, typ), iosFeed).Batch)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(js, []byte(`""`)) || bytes.Contains(js, []byte(`null`)) {
			t.Errorf("%s: JSON has an empty string or null:\n%s", typ, js)
		}
	}
}

func TestCustomerID(t *testing.T) {
	namiFeed := *iosFeed
	namiFeed.CustomerIDSource = integration.CustomerIDNamiUser
	noUser := load(t, event.DeviceImpression)
	noUser.User = nil
	noExternal := load(t, event.SubscriptionPurchased)
	noExternal.User.ExternalID = ""
	cases := []struct {
		name        string
		ev          *event.Event
		in          *integration.Integration
		customerID  string
		partnerUser bool
	}{
		{"external id", load(t, event.SubscriptionPurchased), iosFeed, externalID, true},
		{"nami user id", load(t, event.SubscriptionPurchased), &namiFeed, userID, true},
		{"external id missing", noExternal, iosFeed, "", true},
		{"nami user id with no external id", noExternal, &namiFeed, userID, true},
		{"device event without user", noUser, iosFeed, "", false},
		{"device event without user, nami id", noUser, &namiFeed, "", false},
		{"device event with user", load(t, event.DeviceTransaction), &namiFeed, userID, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := mustBatch(t, c.ev, c.in)
			var got string
			if res.Batch.UserIdentities != nil {
				got = res.Batch.UserIdentities.CustomerID
				if got == "" {
					t.Error("user_identities present without customer_id")
				}
			}
			if got != c.customerID || res.MissingCustomerID != (c.customerID == "") {
				t.Errorf("customer_id %q missing=%v, want %q", got, res.MissingCustomerID, c.customerID)
			}
			if gotP, _ := res.Batch.PartnerIdentities.Get("namiml_user_id"); (gotP == userID) != c.partnerUser {
				t.Errorf("partner identity = %q, want present=%v", gotP, c.partnerUser)
			}
		})
	}
}

func TestEnvironmentMatrix(t *testing.T) {
	appEnvs := []string{"", "production", "beta_testing", "device_development", "simulator_development"}
	purchaseEnvs := []string{"", "production", "sandbox"}
	for _, typ := range []event.Type{event.DeviceTransaction, event.SubscriptionRenewed, event.TrialStarted, event.DeviceImpression} {
		for _, ae := range appEnvs {
			for _, pe := range purchaseEnvs {
				ev := load(t, typ)
				ev.AppEnv = ae
				switch {
				case ev.Transaction != nil:
					ev.Transaction.PurchaseEnv = pe
				case ev.Subscription != nil:
					ev.Subscription.PurchaseEnv = pe
				}
				want := "development"
				prodApp := ae == "" || ae == "production"
				switch {
				case !prodApp:
				case typ == event.DeviceImpression: // no purchase environment: only the app's counts
					want = "production"
				case typ == event.DeviceTransaction: // a purchase that does not say is development
					if pe == "production" {
						want = "production"
					}
				case pe != "sandbox": // a lifecycle event without purchase_env is production
					want = "production"
				}
				if got := mustBatch(t, ev, iosFeed).Batch.Environment; got != want {
					t.Errorf("%s app_env=%q purchase_env=%q: environment %q, want %q", typ, ae, pe, got, want)
				}
			}
		}
	}
	// A user.* event's purchase environment is the subscription's, not an extra transaction's.
	ev := load(t, event.SubscriptionRenewed)
	ev.Transaction = &event.Transaction{PurchaseEnv: "sandbox"}
	if got := mustBatch(t, ev, iosFeed).Batch.Environment; got != "production" {
		t.Errorf("user event with a sandbox transaction object: %q, want production", got)
	}
	// Unknown environments (passed through by Decode) are not production; a purchase without
	// its transaction object is a purchase that does not say.
	for name, ev := range map[string]*event.Event{
		"unknown app_env": func() *event.Event { ev := load(t, event.DeviceImpression); ev.AppEnv = "staging"; return ev }(),
		"unknown purchase_env": func() *event.Event {
			ev := load(t, event.DeviceTransaction)
			ev.Transaction.PurchaseEnv = "testflight"
			return ev
		}(),
		"unknown subscription purchase_env": func() *event.Event {
			ev := load(t, event.SubscriptionRenewed)
			ev.Subscription.PurchaseEnv = "testflight"
			return ev
		}(),
		"transaction without details": func() *event.Event { ev := load(t, event.DeviceTransaction); ev.Transaction = nil; return ev }(),
	} {
		if got := mustBatch(t, ev, iosFeed).Batch.Environment; got != "development" {
			t.Errorf("%s: environment %q, want development", name, got)
		}
	}
}

func TestTruncation(t *testing.T) {
	ev := load(t, event.DeviceImpression)
	ev.Impression.Name = strings.Repeat("é", 5000)           // 2 bytes, 1 unit each
	ev.Impression.ControllerName = strings.Repeat("😀", 3000) // 4 bytes, 2 UTF-16 units each
	ev.Impression.CTAType = strings.Repeat("a", 4095) + "😀"  // the emoji would straddle the limit
	ev.Device.Model = strings.Repeat("m", 5000)
	res := mustBatch(t, ev, iosFeed)
	attrs := attrMap(t, res.Batch.Events[0].Data.CustomAttributes)
	if got := attrs["name"]; got != strings.Repeat("é", 4096) {
		t.Errorf("name: %d runes, want 4096 é", utf8.RuneCountInString(got))
	}
	if got := attrs["controller_name"]; got != strings.Repeat("😀", 2048) {
		t.Errorf("controller_name: %d runes, want 2048 emoji", utf8.RuneCountInString(got))
	}
	if got := attrs["cta_type"]; got != strings.Repeat("a", 4095) {
		t.Errorf("cta_type: len %d, want the 4095 a's without a split emoji", len(got))
	}
	if got := res.Batch.DeviceInfo.DeviceModel; len(got) != 4096 {
		t.Errorf("device_model len %d, want 4096", len(got))
	}

	ev = load(t, event.SubscriptionPurchased)
	long := make([]string, 1500)
	for i := range long {
		long[i] = "sku_" + strings.Repeat("x", i%3)
	}
	ev.User.ActiveSKUs = long
	ev.User.ActiveEntitlements = []string{"ok", strings.Repeat("e", 600), strings.Repeat("ü", 600)}
	res = mustBatch(t, ev, iosFeed)
	skus := userMap(t, res.Batch.UserAttributes)["namiml_active_skus"].([]string)
	if len(skus) != 1000 || !reflect.DeepEqual(skus, long[:1000]) {
		t.Errorf("active_skus: %d entries, want the first 1000", len(skus))
	}
	ents := userMap(t, res.Batch.UserAttributes)["namiml_active_entitlements"].([]string)
	if want := []string{"ok", strings.Repeat("e", 512), strings.Repeat("ü", 512)}; !reflect.DeepEqual(ents, want) {
		t.Errorf("active_entitlements entry lengths %d/%d/%d, want 2/512/1024 bytes", len(ents[0]), len(ents[1]), len(ents[2]))
	}
	if ev.User.ActiveEntitlements[1] != strings.Repeat("e", 600) {
		t.Error("the input event was modified")
	}
	if want := (event.Degraded{event.FieldUserActiveEntitlements, event.FieldUserActiveSKUs}); !reflect.DeepEqual(res.Degraded, want) {
		t.Errorf("Degraded = %v after cutting lists, want %v", res.Degraded, want)
	}
}

func TestNamesWithinLimits(t *testing.T) {
	for _, typ := range event.AllTypes {
		res := mustBatch(t, load(t, typ), iosFeed)
		e := res.Batch.Events[0].Data
		if len(e.EventName) > mparticle.MaxNameLen {
			t.Errorf("%s: event name too long", typ)
		}
		if len(e.CustomAttributes) > mparticle.MaxAttributesPerEvent {
			t.Errorf("%s: %d attributes", typ, len(e.CustomAttributes))
		}
		for k, v := range attrMap(t, e.CustomAttributes) {
			if len(k) > mparticle.MaxNameLen || v == "" {
				t.Errorf("%s: attribute %q=%q breaks the limits or is empty", typ, k, v)
			}
		}
	}
}

func TestAbsentInputsOmitted(t *testing.T) {
	ev := load(t, event.DeviceImpression)
	ev.Impression = &event.Impression{ID: impressionID}
	ev.Device = &event.Device{ID: iosDeviceID}
	ev.User = nil
	res := mustBatch(t, ev, iosFeed)
	want := map[string]string{
		"namiml_event_id": ev.ID, "namiml_event_category": "device", "app_env": "production",
		"app_platform_id": iosPlatformID, "id": impressionID,
	}
	if got := attrMap(t, res.Batch.Events[0].Data.CustomAttributes); !reflect.DeepEqual(got, want) {
		t.Errorf("attributes = %v, want %v", got, want)
	}
	if res.Batch.ApplicationInfo != nil || res.Batch.IP != "" || res.Batch.PartnerIdentities != nil {
		t.Errorf("absent device/user fields were sent: %+v", res.Batch)
	}

	ev = load(t, event.SubscriptionRenewed)
	ev.Store = ""
	ev.Subscription = &event.Subscription{SKURefID: "premium_monthly"}
	want = map[string]string{
		"namiml_event_id": ev.ID, "namiml_event_category": "user", "namiml_event_subcategory1": "subscription",
		"sku_ref_id": "premium_monthly",
	}
	if got := attrMap(t, mustBatch(t, ev, iosFeed).Batch.Events[0].Data.CustomAttributes); !reflect.DeepEqual(got, want) {
		t.Errorf("attributes = %v, want %v", got, want)
	}

	ev = load(t, event.DeviceTransaction)
	ev.Transaction = &event.Transaction{ID: "tx-1"}
	ev.AppEnv = ""
	data := mustBatch(t, ev, iosFeed).Batch.Events[0].Data
	want = map[string]string{"namiml_event_id": ev.ID, "namiml_event_category": "device", "app_env": "production"}
	if !reflect.DeepEqual(attrMap(t, data.CustomAttributes), want) {
		t.Errorf("attributes = %v, want %v", data.CustomAttributes, want)
	}
	if pa := data.ProductAction; pa.Action != "purchase" || pa.TransactionID != "tx-1" || pa.TotalAmount != nil || pa.Products != nil || data.CurrencyCode != "" {
		t.Errorf("product action = %+v currency %q, want a purchase with only its transaction id", pa, data.CurrencyCode)
	}
}

func TestProducts(t *testing.T) {
	cases := []struct {
		name          string
		tx            event.Transaction
		total         *float64
		product       *mparticle.Product
		currency      string
		transactionID string
	}{
		{"store id preferred", event.Transaction{SKURefID: "premium", SKUStoreID: "com.x.premium", Price: "9.99", Currency: "USD", Quantity: ptr(3)},
			f64(29.97), &mparticle.Product{ID: "com.x.premium", Name: "premium", Price: f64(9.99), Quantity: f64(3)}, "USD", ""},
		{"ref id when no store id", event.Transaction{ID: "t1", SKURefID: "premium", Price: "4.5", Currency: "EUR"},
			f64(4.5), &mparticle.Product{ID: "premium", Name: "premium", Price: f64(4.5), Quantity: f64(1)}, "EUR", "t1"},
		{"yen has no minor unit", event.Transaction{SKURefID: "p", Price: "99.5", Currency: "JPY", Quantity: ptr(1)},
			f64(100), &mparticle.Product{ID: "p", Name: "p", Price: f64(99.5), Quantity: f64(1)}, "JPY", ""},
		{"invalid price left out", event.Transaction{SKURefID: "p", Price: "9,99", Currency: "usd"},
			nil, &mparticle.Product{ID: "p", Name: "p", Quantity: f64(1)}, "", ""},
		{"no sku: no product", event.Transaction{Price: "1.00", Currency: "GBP"}, f64(1), nil, "GBP", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := load(t, event.DeviceTransaction)
			ev.Transaction = &c.tx
			data := mustBatch(t, ev, iosFeed).Batch.Events[0].Data
			pa := data.ProductAction
			if !reflect.DeepEqual(pa.TotalAmount, c.total) || data.CurrencyCode != c.currency || pa.TransactionID != c.transactionID {
				t.Errorf("total %v currency %q tx %q, want %v %q %q", deref(pa.TotalAmount), data.CurrencyCode, pa.TransactionID, deref(c.total), c.currency, c.transactionID)
			}
			var got *mparticle.Product
			if len(pa.Products) == 1 {
				got = &pa.Products[0]
			} else if len(pa.Products) > 1 {
				t.Fatalf("%d products", len(pa.Products))
			}
			if !reflect.DeepEqual(got, c.product) {
				t.Errorf("product = %+v, want %+v", got, c.product)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

func TestTotalAmount(t *testing.T) {
	cases := []struct {
		price string
		qty   int
		minor int
		want  float64
	}{
		{"9.99", 1, 2, 9.99},
		{"9.99", 3, 2, 29.97}, // float64 multiplication gives 29.969999999999995
		{"0.1", 3, 2, 0.3},    // and 0.30000000000000004 here
		{"0.333", 1, 2, 0.33},
		{"0.335", 1, 2, 0.34}, // half up
		{"0.334999999", 1, 2, 0.33},
		{"1.005", 1, 2, 1.01}, // float64 1.005 is below the half
		{"120", 2, 0, 240},
		{"99.5", 1, 0, 100},
		{"1.2345", 1, 3, 1.235},
		{"0", 5, 2, 0},
		{"5.000000000", 2, 2, 10},
		{"0.000000001", 1, 2, 0},
		{"999999999999.999999999", 1000000, 2, 1e18},      // beyond uint64 digits: big.Int path
		{"184467440737.09551615", 1, 2, 184467440737.1},   // 20 digits
		{"99999999999.99", 1000000, 2, 99999999999990000}, // > 2^53 minor units
		{"12345678901.234567891", 7, 4, 86419752308.642},  // 86419752308.641975237: rounds up on the big path
	}
	for _, c := range cases {
		if got := totalAmount(c.price, c.qty, c.minor); got != c.want {
			t.Errorf("totalAmount(%s × %d, %d decimals) = %v, want %v", c.price, c.qty, c.minor, got, c.want)
		}
	}
	for cur, want := range map[string]int{"USD": 2, "EUR": 2, "JPY": 0, "KRW": 0, "KWD": 3, "CLF": 4, "": 2, "XXX": 2} {
		if got := minorUnits(cur); got != want {
			t.Errorf("minorUnits(%q) = %d, want %d", cur, got, want)
		}
	}
}

func TestDeviceIdentifiers(t *testing.T) {
	const (
		idfv = "E621E1F8-C36C-495A-93FC-0C247A3E6E5F"
		idfa = "8d8ac610-566d-4ef0-9c22-186b2a5ed793"
		gaid = "38400000-8cf0-11bd-b23e-10b96e40000d"
		aid  = "9774d56d682e549c"
	)
	all := event.Device{IDFV: idfv, IDFA: idfa, GAID: gaid, AndroidID: aid}
	amazonFeed := *androidFeed
	amazonFeed.Platform = "amazon"
	webFeed := *iosFeed
	webFeed.Platform = "web"
	cases := []struct {
		name string
		feed *integration.Integration
		dev  event.Device
		want mparticle.DeviceInfo
		deg  event.Degraded
	}{
		// Each platform's outputs get that platform's identifiers, never another's.
		{"ios feed: ios ids only", iosFeed, all, mparticle.DeviceInfo{Platform: "iOS", IOSIDFV: idfv, IOSAdvertisingID: idfa}, nil},
		{"android feed: android ids only", androidFeed, all,
			mparticle.DeviceInfo{Platform: "Android", AndroidAdvertisingID: gaid, AndroidUUID: aid}, nil},
		{"amazon feed: android ids", &amazonFeed, all,
			mparticle.DeviceInfo{Platform: "Android", AndroidAdvertisingID: gaid, AndroidUUID: aid}, nil},
		{"web feed: none", &webFeed, all, mparticle.DeviceInfo{Platform: "web"}, nil},
		{"idfa not authorised", iosFeed, event.Device{IDFV: idfv, IDFA: nilUUID},
			mparticle.DeviceInfo{Platform: "iOS", IOSIDFV: idfv}, nil},
		{"not uuids", iosFeed, event.Device{IDFV: "not-a-uuid", IDFA: "{8D8AC610-566D-4EF0-9C22-186B2A5ED793}"},
			mparticle.DeviceInfo{Platform: "iOS"}, event.Degraded{event.FieldDeviceIDFV, event.FieldDeviceIDFA}},
		{"gaid without dashes", androidFeed, event.Device{GAID: "384000008cf011bdb23e10b96e40000d"},
			mparticle.DeviceInfo{Platform: "Android"}, event.Degraded{event.FieldDeviceGAID}},
		{"android id too long", androidFeed, event.Device{AndroidID: strings.Repeat("a", 300)},
			mparticle.DeviceInfo{Platform: "Android"}, event.Degraded{event.FieldDeviceAndroidID}},
		{"another platform's bad id is not counted", iosFeed, event.Device{IDFV: idfv, GAID: "bad"},
			mparticle.DeviceInfo{Platform: "iOS", IOSIDFV: idfv}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := load(t, event.DeviceImpression)
			c.dev.ID = iosDeviceID
			ev.Device = &c.dev
			res := mustBatch(t, ev, c.feed)
			if got := res.Batch.DeviceInfo; got == nil || *got != c.want {
				t.Errorf("device_info = %+v, want %+v", got, c.want)
			}
			if !reflect.DeepEqual(res.Degraded, c.deg) {
				t.Errorf("Degraded = %v, want %v", res.Degraded, c.deg)
			}
		})
	}
}

// A legacy all-platforms integration has one feed for all of an app's platforms: each batch
// says the platform of its own event and carries only that platform's identifiers.
func TestLegacyAllPlatformsStamping(t *testing.T) {
	legacy := *iosFeed // the act-as platform stored on a legacy integration says nothing per event
	legacy.ID, legacy.Scope, legacy.AppPlatformID = "int-legacy", integration.ScopeAllPlatforms, ""
	dev := event.Device{ID: iosDeviceID, IDFV: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F", IDFA: "8D8AC610-566D-4EF0-9C22-186B2A5ED793",
		GAID: "38400000-8cf0-11bd-b23e-10b96e40000d", AndroidID: "9774d56d682e549c", Model: "m"}
	for _, c := range []struct {
		platform string
		want     mparticle.DeviceInfo
		deg      event.Degraded
	}{
		{"ios", mparticle.DeviceInfo{Platform: "iOS", IOSIDFV: dev.IDFV, IOSAdvertisingID: dev.IDFA, DeviceModel: "m"}, nil},
		{"android", mparticle.DeviceInfo{Platform: "Android", AndroidAdvertisingID: dev.GAID, AndroidUUID: dev.AndroidID, DeviceModel: "m"}, nil},
		{"amazon", mparticle.DeviceInfo{Platform: "Android", AndroidAdvertisingID: dev.GAID, AndroidUUID: dev.AndroidID, DeviceModel: "m"}, nil},
		{"apple_tv", mparticle.DeviceInfo{Platform: "tvOS", DeviceModel: "m"}, nil},
		{"web", mparticle.DeviceInfo{Platform: "web", DeviceModel: "m"}, nil},
		{"roku", mparticle.DeviceInfo{Platform: "roku", DeviceModel: "m"}, nil},
		{"playstation", mparticle.DeviceInfo{DeviceModel: "m"}, event.Degraded{event.FieldPlatform}},
	} {
		t.Run(c.platform, func(t *testing.T) {
			ev := load(t, event.DeviceImpression)
			ev.Platform = c.platform
			d := dev
			ev.Device = &d
			res := mustBatch(t, ev, &legacy)
			if got := res.Batch.DeviceInfo; got == nil || *got != c.want {
				t.Errorf("device_info = %+v, want %+v", got, c.want)
			}
			if !reflect.DeepEqual(res.Degraded, c.deg) {
				t.Errorf("Degraded = %v, want %v", res.Degraded, c.deg)
			}
			// A platform-scoped integration keeps its own platform whatever the event says.
			if got := mustBatch(t, ev, androidFeed).Batch.DeviceInfo.Platform; got != "Android" {
				t.Errorf("platform-scoped Android feed: platform %q", got)
			}
		})
	}
}

// User state the producer omitted is omitted from the batch (the profile keeps its value);
// what it sent empty is sent empty.
func TestUserAttributesAbsentVersusEmpty(t *testing.T) {
	f := false
	cases := []struct {
		name string
		user event.User
		want map[string]any
	}{
		{"nothing sent", event.User{ID: userID}, nil},
		{"empty lists sent", event.User{ID: userID, ActiveEntitlements: []string{}, ActiveSKUs: []string{}},
			map[string]any{"namiml_active_entitlements": []string{}, "namiml_active_skus": []string{}}},
		{"some sent", event.User{ID: userID, DeviceIDs: []string{iosDeviceID}, InGracePeriod: &f},
			map[string]any{"namiml_device_ids": []string{iosDeviceID}, "namiml_in_grace_period": "false"}},
		{"everything sent", event.User{ID: userID, ActiveEntitlements: []string{"premium"}, ActiveSKUs: []string{},
			DeviceIDs: []string{}, DevicePlatforms: []string{iosPlatformID}, FormerSubscriber: ptr(true), InGracePeriod: &f,
			InTrialPeriod: ptr(true), InIntroOfferPeriod: &f},
			map[string]any{"namiml_active_entitlements": []string{"premium"}, "namiml_active_skus": []string{},
				"namiml_device_ids": []string{}, "namiml_device_platforms": []string{iosPlatformID},
				"namiml_former_subscriber": "true", "namiml_in_grace_period": "false", "namiml_in_trial_period": "true",
				"namiml_in_intro_offer_period": "false"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := load(t, event.SubscriptionExpired)
			u := c.user
			ev.User = &u
			b := mustBatch(t, ev, iosFeed).Batch
			if !reflect.DeepEqual(userMap(t, b.UserAttributes), c.want) {
				t.Errorf("user_attributes = %#v, want %#v", b.UserAttributes, c.want)
			}
			js, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(js, []byte("null")) {
				t.Errorf("JSON carries a null: %s", js)
			}
			if c.want == nil && bytes.Contains(js, []byte("user_attributes")) {
				t.Errorf("user_attributes sent with nothing in it: %s", js)
			}
		})
	}
	// Through Decode: omitted members stay omitted.
	ev := decode(t, []byte(strings.Replace(string(eventtest.Sample(event.SubscriptionRenewed)), `"former_subscriber": false,`, "", 1)))
	if _, ok := mustBatch(t, ev, iosFeed).Batch.UserAttributes.Get("namiml_former_subscriber"); ok {
		t.Error("former_subscriber omitted by the producer but sent")
	}
}

// What the transform cuts or leaves out for the API is recorded by input field.
func TestTransformDegradedFields(t *testing.T) {
	long := strings.Repeat("x", mparticle.MaxValueLen+1)
	cases := []struct {
		name string
		typ  event.Type
		feed *integration.Integration
		edit func(ev *event.Event)
		want event.Degraded
	}{
		{"impression name", event.DeviceImpression, iosFeed, func(ev *event.Event) { ev.Impression.Name = long }, event.Degraded{event.FieldImpressionName}},
		{"store", event.SubscriptionRenewed, iosFeed, func(ev *event.Event) { ev.Store = long }, event.Degraded{event.FieldStore}},
		{"sku ref id twice: once", event.DeviceTransaction, iosFeed, func(ev *event.Event) { ev.Transaction.SKURefID, ev.Transaction.SKUStoreID = long, "" },
			event.Degraded{event.FieldTransactionSKURefID}},
		{"os version and model", event.DeviceImpression, iosFeed, func(ev *event.Event) { ev.Device.OSVersion, ev.Device.Model = long, long },
			event.Degraded{event.FieldDeviceOSVersion, event.FieldDeviceModel}},
		{"app version", event.DeviceImpression, iosFeed, func(ev *event.Event) { ev.Device.AppVersion = long }, event.Degraded{event.FieldDeviceAppVersion}},
		{"ip", event.DeviceImpression, iosFeed, func(ev *event.Event) { ev.Device.IP = "localhost" }, event.Degraded{event.FieldDeviceIP}},
		{"locale", event.DeviceImpression, iosFeed, func(ev *event.Event) { ev.Device.Locale = "english" }, event.Degraded{event.FieldDeviceLocale}},
		{"external id too long for customer_id", event.SubscriptionRenewed, iosFeed,
			func(ev *event.Event) { ev.User.ExternalID = strings.Repeat("e", event.MaxIDLen+1) }, event.Degraded{event.FieldUserExternalID}},
		{"list over 1,000 entries", event.SubscriptionRenewed, iosFeed,
			func(ev *event.Event) { ev.User.DeviceIDs = make([]string, 1001) }, event.Degraded{event.FieldUserDeviceIDs}},
		{"events built in code: price, currency, quantity", event.DeviceTransaction, iosFeed,
			func(ev *event.Event) {
				ev.Transaction.Price, ev.Transaction.Currency, ev.Transaction.Quantity = "9,99", "usd", ptr(0)
			},
			event.Degraded{event.FieldTransactionQuantity, event.FieldTransactionCurrency, event.FieldTransactionPrice}},
		{"a value within the limit is not degraded", event.DeviceImpression, iosFeed,
			func(ev *event.Event) { ev.Impression.Name = long[:mparticle.MaxValueLen] }, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := load(t, c.typ)
			c.edit(ev)
			res := mustBatch(t, ev, c.feed)
			if !reflect.DeepEqual(res.Degraded, c.want) {
				t.Errorf("Degraded = %v, want %v", res.Degraded, c.want)
			}
			for _, f := range res.Degraded {
				if !event.KnownField(f) {
					t.Errorf("field %q is not one of event.Fields", f)
				}
			}
		})
	}
}

// A Builder's batches are ToBatch's, byte for byte, whatever the batches its storage held
// before a Reset; until the Reset, building more leaves the earlier ones alone.
func TestBuilder(t *testing.T) {
	encode := func(b *mparticle.Batch) string {
		t.Helper()
		js, err := mparticle.AppendBatch(nil, b)
		if err != nil {
			t.Fatal(err)
		}
		return string(js)
	}
	full := map[event.Type]*event.Event{}
	sparse := map[event.Type]*event.Event{}
	for _, typ := range event.AllTypes {
		full[typ] = load(t, typ)
		ev := load(t, typ)
		ev.Subscription, ev.Transaction, ev.Impression, ev.Device = nil, nil, nil, nil
		ev.User = &event.User{ID: userID}
		sparse[typ] = ev
	}
	var bl Builder
	for round, evs := range []map[event.Type]*event.Event{full, sparse, full} {
		bl.Reset()
		var built []Result
		for _, typ := range event.AllTypes {
			for range 2 { // two of each kind: more than one batch's storage per kind
				res, err := bl.ToBatch(evs[typ], iosFeed)
				if err != nil {
					t.Fatal(err)
				}
				built = append(built, res)
			}
		}
		for i, typ := range event.AllTypes {
			want := mustBatch(t, evs[typ], iosFeed)
			for _, got := range built[2*i : 2*i+2] {
				if encode(&got.Batch) != encode(&want.Batch) || !reflect.DeepEqual(got.Degraded, want.Degraded) ||
					got.MissingCustomerID != want.MissingCustomerID {
					t.Errorf("round %d, %s: Builder's batch %s, ToBatch's %s", round, typ, encode(&got.Batch), encode(&want.Batch))
				}
			}
		}
	}
	// A string kept from a batch outlives the Reset unchanged.
	bl.Reset()
	first, _ := bl.ToBatch(full[event.SubscriptionRenewed], iosFeed)
	id, msgID := first.Batch.SourceRequestID, first.Batch.Events[0].Data.SourceMessageID
	bl.Reset()
	_, _ = bl.ToBatch(full[event.SubscriptionPurchased], iosFeed)
	if ev := full[event.SubscriptionRenewed]; id != SourceRequestID(ev.ID, iosFeed.ID) || msgID != SourceMessageID(ev.ID) {
		t.Errorf("ids kept from a batch changed after Reset: %s %s", id, msgID)
	}
	// Ids kept across many Resets and id chunks stay as they were.
	type kept struct{ req, msg, wantReq, wantMsg string }
	var keep []kept
	for round := range 5 {
		bl.Reset()
		for _, typ := range event.AllTypes {
			ev := *full[typ]
			ev.ID = fmt.Sprintf("%s-%d", typ, round)
			res, _ := bl.ToBatch(&ev, iosFeed)
			keep = append(keep, kept{res.Batch.SourceRequestID, res.Batch.Events[0].Data.SourceMessageID,
				SourceRequestID(ev.ID, iosFeed.ID), SourceMessageID(ev.ID)})
		}
	}
	for _, k := range keep {
		if k.req != k.wantReq || k.msg != k.wantMsg {
			t.Errorf("ids kept from a batch changed: %s %s, want %s %s", k.req, k.msg, k.wantReq, k.wantMsg)
		}
	}
	// Warm, only the ids' text is allocated, in chunks of many batches' ids.
	if raceEnabled {
		return
	}
	if n := testing.AllocsPerRun(100, func() {
		bl.Reset()
		for _, typ := range event.AllTypes {
			_, _ = bl.ToBatch(full[typ], iosFeed)
		}
	}); n > 1 {
		t.Errorf("a warm Builder allocated %.2f times for %d batches, want at most one", n, len(event.AllTypes))
	}
}

// isUUID is a faster event.IsUUID: every byte value at every position of a valid UUID, and
// other lengths, get the same answer from both.
func TestIsUUIDAgreesWithEvent(t *testing.T) {
	for _, base := range []string{iosDeviceID, strings.ToUpper(andDeviceID)} {
		for i := range len(base) {
			for c := range 256 {
				s := base[:i] + string(rune(c))[:1] + base[i+1:]
				if c >= 0x80 {
					s = base[:i] + string([]byte{byte(c)}) + base[i+1:]
				}
				if got, want := isUUID(s), event.IsUUID(s); got != want {
					t.Fatalf("isUUID(%q) = %v, event.IsUUID %v", s, got, want)
				}
			}
		}
		for _, s := range []string{"", base[:35], base + "0", "-" + base[1:], nilUUID} {
			if got, want := isUUID(s), event.IsUUID(s); got != want {
				t.Errorf("isUUID(%q) = %v, event.IsUUID %v", s, got, want)
			}
		}
	}
}

func TestPlatforms(t *testing.T) {
	want := map[string]string{
		"ios": "iOS", "android": "Android", "amazon": "Android", "apple_tv": "tvOS", "web": "web", "roku": "roku",
		"fire_tv": "fire_tv", "smart_tv": "smart_tv", "xbox": "xbox", "alexa": "alexa",
	}
	for _, p := range integration.Platforms {
		if got := Platform(p); got != want[p] || got == "" {
			t.Errorf("Platform(%q) = %q, want %q", p, got, want[p])
		}
	}
	// Every value must be in the API's device_info.platform enum.
	enum := map[string]bool{"iOS": true, "Android": true, "web": true, "tvOS": true, "roku": true, "out_of_band": true,
		"alexa": true, "smart_tv": true, "fire_tv": true, "xbox": true}
	for _, p := range append(slices.Clone(integration.Platforms), "playstation", "IOS", "") {
		if v := Platform(p); v != "" && !enum[v] {
			t.Errorf("platform %q maps to %q, not in the API enum", p, v)
		}
	}
	ev := load(t, event.SubscriptionRenewed) // no device
	feed := *iosFeed
	feed.Platform = "playstation"
	if got := mustBatch(t, ev, &feed).Batch.DeviceInfo; got != nil {
		t.Errorf("unknown platform, no device: device_info = %+v, want omitted", got)
	}
	ev = load(t, event.DeviceImpression)
	if got := mustBatch(t, ev, &feed).Batch.DeviceInfo; got == nil || got.Platform != "" || got.IOSIDFV != "" || got.DeviceModel == "" {
		t.Errorf("unknown platform: device_info = %+v, want descriptive fields only (no platform to say whose ids)", got)
	}
}

func TestIPAndLocale(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.42": "203.0.113.42", "2001:db8::1f": "2001:db8::1f", "::ffff:203.0.113.9": "203.0.113.9",
		"fe80::1%eth0": "", "300.1.1.1": "", "localhost": "", "203.0.113.42:443": "", "010.0.0.1": "",
	} {
		if got := ip(in); got != want {
			t.Errorf("ip(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string][2]string{
		"en_US": {"en", "US"}, "en-US": {"en", "US"}, "de_DE.UTF-8@euro": {"de", "DE"}, "zh-Hans-CN": {"zh", "CN"},
		"es-419": {"es", "419"}, "fr": {"fr", ""}, "EN_us": {"en", "US"}, "": {"", ""}, "english": {"", ""}, "C": {"", ""},
	} {
		if l, c := splitLocale(in); l != want[0] || c != want[1] {
			t.Errorf("splitLocale(%q) = %q, %q, want %q, %q", in, l, c, want[0], want[1])
		}
	}
}

func TestIDs(t *testing.T) {
	ev := load(t, event.SubscriptionPurchased)
	a := mustBatch(t, ev, iosFeed).Batch
	b := mustBatch(t, load(t, event.SubscriptionPurchased), iosFeed).Batch
	other := *iosFeed
	other.ID = "int-ios-legacy"
	c := mustBatch(t, ev, &other).Batch
	if a.SourceRequestID != b.SourceRequestID || a.Events[0].Data.SourceMessageID != b.Events[0].Data.SourceMessageID {
		t.Error("same event and integration: ids differ")
	}
	if a.SourceRequestID == c.SourceRequestID {
		t.Error("different integrations share a source_request_id")
	}
	if a.Events[0].Data.SourceMessageID != c.Events[0].Data.SourceMessageID {
		t.Error("one event has different source_message_ids per integration")
	}
	if SourceMessageID(ev.ID) == SourceMessageID(load(t, event.SubscriptionRenewed).ID) {
		t.Error("different events share a source_message_id")
	}
	if SourceRequestID(ev.ID, "") == SourceMessageID(ev.ID) {
		t.Error("request and message ids collide")
	}
	// RFC 4122 version 5, checked against the uuid package's implementation.
	if want := uuid.NewSHA1(Namespace, []byte(ev.ID)).String(); SourceMessageID(ev.ID) != want {
		t.Errorf("SourceMessageID = %s, want %s", SourceMessageID(ev.ID), want)
	}
	if want := uuid.NewSHA1(Namespace, []byte(ev.ID+"\x00int-ios-1")).String(); a.SourceRequestID != want {
		t.Errorf("SourceRequestID = %s, want %s", a.SourceRequestID, want)
	}
	long := strings.Repeat("z", 1000) // longer than the stack buffer
	if want := uuid.NewSHA1(Namespace, []byte(long+"\x00"+long)).String(); SourceRequestID(long, long) != want {
		t.Error("long names: wrong id")
	}
	if u := uuid.MustParse(a.SourceRequestID); u.Version() != 5 || u.Variant() != uuid.RFC4122 {
		t.Errorf("source_request_id %s is not an RFC 4122 v5 UUID", a.SourceRequestID)
	}
}

func TestDeterministicJSON(t *testing.T) {
	for _, typ := range event.AllTypes {
		first, err := json.Marshal(mustBatch(t, load(t, typ), iosFeed).Batch)
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			again, err := json.Marshal(mustBatch(t, load(t, typ), iosFeed).Batch)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first, again) {
				t.Fatalf("%s: JSON differs between runs:\n%s\n%s", typ, first, again)
			}
		}
	}
}

func TestImpossibleInput(t *testing.T) {
	ev := load(t, event.DeviceImpression)
	for name, c := range map[string]struct {
		ev *event.Event
		in *integration.Integration
	}{
		"nil event": {nil, iosFeed}, "nil integration": {ev, nil},
		"unknown type": {&event.Event{ID: ev.ID, Type: "user.subscription.refunded"}, iosFeed},
	} {
		if _, err := ToBatch(c.ev, c.in); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: err = %v, want ErrUnsupported", name, err)
		}
	}
	// A sparse event built in code (no sub-objects at all) still gives a batch.
	for _, typ := range event.AllTypes {
		sparse := &event.Event{ID: ev.ID, Type: typ, OccurredAt: ev.OccurredAt}
		res, err := ToBatch(sparse, iosFeed)
		if err != nil {
			t.Errorf("%s: %v", typ, err)
			continue
		}
		if _, err := json.Marshal(res.Batch); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
}

// bigUser fills the user's lists to the most a valid body can carry.
func bigUser(t testing.TB, entry string) *event.Event {
	ev := load(t, event.SubscriptionPurchased)
	list := make([]string, 1200)
	for i := range list {
		list[i] = entry
	}
	ev.User.ActiveEntitlements, ev.User.ActiveSKUs, ev.User.DeviceIDs, ev.User.DevicePlatforms = list, list, list, list
	return ev
}

func TestBatchSizeLimit(t *testing.T) {
	cases := map[string]*event.Event{
		"long lists":            bigUser(t, strings.Repeat("s", 200)),
		"lists needing escapes": bigUser(t, strings.Repeat("<", 100)),
	}
	huge := bigUser(t, strings.Repeat("x", 512))
	huge.Device.Model = strings.Repeat("<", 4096)
	huge.Device.OSVersion = strings.Repeat("&", 4096)
	huge.Device.AppVersion = strings.Repeat(">", 4096)
	huge.Store = strings.Repeat("\x01", 4096)
	huge.Subscription.SKURefID = strings.Repeat("\u2028", 4096)
	huge.Subscription.EntitlementRefID = strings.Repeat("\xff", 4096)
	huge.Subscription.OriginalTransactionID = strings.Repeat("\"", 4096)
	cases["huge values"] = huge
	for name, ev := range cases {
		t.Run(name, func(t *testing.T) {
			res := mustBatch(t, ev, iosFeed)
			js, err := json.Marshal(res.Batch)
			if err != nil {
				t.Fatal(err)
			}
			if len(js) > batchBudget {
				t.Errorf("batch is %d bytes, budget %d", len(js), batchBudget)
			}
			if !slices.Contains(res.Degraded, event.FieldBatch) {
				t.Errorf("Degraded = %v, want the batch recorded as shrunk", res.Degraded)
			}
			attrs := userMap(t, res.Batch.UserAttributes)
			for _, k := range userAttrKeys[:4] {
				l := attrs[k].([]string)
				if len(l) < 10 {
					t.Errorf("%s cut to %d entries: the space should be shared", k, len(l))
				}
			}
			// Lists are shared fairly: no two differ by more than one entry (equal entries).
			a := len(attrs[userAttrKeys[0]].([]string))
			d := len(attrs[userAttrKeys[3]].([]string))
			if a-d > 1 || d-a > 1 {
				t.Errorf("unfair cut: %d vs %d entries", a, d)
			}
		})
	}
}

// The size estimate must never be below the real size, or a batch could pass the check and
// still be too large; and it should be close, or batches would be cut for nothing.
func TestBatchSizeEstimate(t *testing.T) {
	var batches []*mparticle.Batch
	for _, typ := range event.AllTypes {
		b := mustBatch(t, load(t, typ), iosFeed).Batch
		batches = append(batches, &b)
	}
	full := mparticle.Batch{
		Environment: "development", SourceRequestID: SourceRequestID("a", "b"), IP: "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
		Events: []mparticle.Event{{EventType: "commerce_event", Data: mparticle.EventData{
			TimestampUnixtimeMS: -1 << 63, SourceMessageID: SourceMessageID("a"), EventName: "x", CustomEventType: "navigation",
			CustomAttributes: mparticle.Attributes{{Key: "a", Value: "b"}}, CurrencyCode: "USD",
			ProductAction: &mparticle.ProductAction{Action: "purchase", TransactionID: "t", TotalAmount: f64(-1.2345678901234567e-300),
				Products: []mparticle.Product{{ID: "i", Name: "n", Price: f64(-1.2345678901234567e-300), Quantity: f64(-1.2345678901234567e-300)}}},
		}}},
		UserIdentities:    &mparticle.UserIdentities{CustomerID: "c", Email: "e", Other: "o"},
		PartnerIdentities: mparticle.Attributes{{Key: "namiml_user_id", Value: "u"}},
		UserAttributes:    mparticle.UserAttributes{{Key: "l", List: []string{"a", "b"}}, {Key: "s", Value: "true"}},
		DeviceInfo: &mparticle.DeviceInfo{Platform: "iOS", IOSIDFV: "v", IOSAdvertisingID: "a", AndroidAdvertisingID: "g", AndroidUUID: "u",
			OSVersion: "o", DeviceModel: "m", LocaleLanguage: "l", LocaleCountry: "c"},
		ApplicationInfo: &mparticle.ApplicationInfo{ApplicationVersion: "1", OS: "IOS"},
		Context:         nil, MPID: 0,
	}
	batches = append(batches, &full)
	big := mustBatch(t, bigUser(t, "<&>\u2028\xff\"\\\n"), iosFeed).Batch
	batches = append(batches, &big)
	for i, b := range batches {
		js, err := mparticle.AppendBatch(nil, b) // the bytes the client sends
		if err != nil {
			t.Fatal(err)
		}
		est := batchSize(b, true, false)
		if est < len(js) {
			t.Errorf("batch %d: estimate %d below real size %d", i, est, len(js))
		}
		if est > len(js)+skeletonBytes+512 {
			t.Errorf("batch %d: estimate %d far above real size %d", i, est, len(js))
		}
		if coarse := batchSize(b, false, false); coarse < est {
			t.Errorf("batch %d: coarse estimate %d below exact %d", i, coarse, est)
		}
		if fast, coarse := coarseSize(b), batchSize(b, false, false); fast != coarse {
			t.Errorf("batch %d: coarseSize %d, batchSize's coarse count %d", i, fast, coarse)
		}
	}
}

func TestJSONLen(t *testing.T) {
	for _, s := range []string{"", "plain", "<&>", "\"\\", "\b\f\n\r\t\x00\x1f\x7f", "é😀", "\u2028\u2029", "\xff\xfe", "a\xe2\x82"} {
		js, _ := json.Marshal(s)
		// Go 1.26 escaped an invalid byte's replacement character; the client (and 1.27)
		// writes the character itself.
		js = bytes.ReplaceAll(js, []byte(`\ufffd`), []byte("\uFFFD"))
		if got := jsonLen(s); got != len(js) {
			t.Errorf("jsonLen(%q) = %d, want %d (%s)", s, got, len(js), js)
		}
	}
}

// splitPrice agrees with event.IsDecimal on what is a price, with strconv.ParseFloat on its
// value and with strings.Cut on its parts, for short strings of digits and points and for
// random prices of every length the contract allows and a little beyond.
func TestSplitPrice(t *testing.T) {
	cases := []string{"", ".", "0", "0.", ".5", "9.99", "59.99", "000000000001.000000001", "999999999999.999999999",
		"1234567890123", "123456789012", "1.0000000000", "1.000000000", "0.1", "0.3", "1e3", "-1", "9,99", "1..2",
		"12.34.5", "00.00", "9007199254740993", "900719925474.0993", "999999999999.99999999", "9.99 "}
	for i := 0; i < 200000; i++ {
		var b []byte
		for n := i; n > 0; n /= 11 {
			b = append(b, "0123456789."[n%11])
		}
		cases = append(cases, string(b))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 300000 {
		b := make([]byte, 0, 24)
		for range 1 + r.IntN(13) {
			b = append(b, byte('0'+r.IntN(10)))
		}
		if r.IntN(4) > 0 {
			b = append(b, '.')
			for range 1 + r.IntN(10) {
				b = append(b, byte('0'+r.IntN(10)))
			}
		}
		cases = append(cases, string(b))
	}
	for _, c := range cases {
		f, intPart, frac, ok := splitPrice(c)
		if ok != event.IsDecimal(c) {
			t.Fatalf("splitPrice(%q): ok %v, event.IsDecimal %v", c, ok, !ok)
		}
		if !ok {
			continue
		}
		if want, _ := strconv.ParseFloat(c, 64); f != want {
			t.Fatalf("splitPrice(%q) = %v, strconv.ParseFloat %v", c, f, want)
		}
		wantInt, wantFrac, _ := strings.Cut(c, ".")
		if wantFrac = strings.TrimRight(wantFrac, "0"); intPart != wantInt || frac != wantFrac {
			t.Fatalf("splitPrice(%q) parts %q, %q; want %q, %q", c, intPart, frac, wantInt, wantFrac)
		}
	}
}

// isIPv4 accepts exactly what netip.ParseAddr reads as a zone-less IPv4 address, among
// short strings of digits and points and addresses with fields of every width.
func TestIsIPv4(t *testing.T) {
	cases := []string{"1.2.3.4", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.",
		".1.2.3.4", "1..2.3", "1.2.3.04", "1.2.3.0", "10.0.0.1", "1.2.3.4%eth0", "::1", "::ffff:1.2.3.4", "1.2.3.4 ",
		"1000.1.1.1", "1.2.3.-4", "1.2.3.4a"}
	for i := 0; i < 300000; i++ {
		var b []byte
		for n := i; n > 0; n /= 12 {
			b = append(b, "0123456789.."[n%12])
		}
		cases = append(cases, string(b), "1."+string(b), string(b)+".9", "10.2."+string(b))
	}
	for _, c := range cases {
		a, err := netip.ParseAddr(c)
		if want := err == nil && a.Is4() && a.Zone() == ""; isIPv4(c) != want {
			t.Fatalf("isIPv4(%q) = %v, netip.ParseAddr reads an IPv4 address: %v", c, !want, want)
		}
	}
}

// splitLocale's shortcuts for the usual forms answer as the general parse does.
func TestSplitLocaleShortcuts(t *testing.T) {
	const alphabet = "aezAEZ_-.@09é"
	var gen func(prefix string, n int)
	gen = func(prefix string, n int) {
		if n == 0 {
			l, c := splitLocale(prefix)
			if wl, wc := splitAnyLocale(prefix); l != wl || c != wc {
				t.Fatalf("splitLocale(%q) = %q, %q; the general parse %q, %q", prefix, l, c, wl, wc)
			}
			return
		}
		for i := 0; i < len(alphabet); i++ {
			gen(prefix+alphabet[i:i+1], n-1)
		}
	}
	for n := 0; n <= 5; n++ {
		gen("", n)
	}
}
