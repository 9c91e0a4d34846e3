package event

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
)

// edit is the sample of typ, changed by fn, as a message body.
func edit(t testing.TB, typ Type, fn func(m map[string]any)) []byte {
	t.Helper()
	return []byte(eventtest.Body(t, typ, fn))
}

func obj(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }

func TestDecodeSamples(t *testing.T) {
	for _, typ := range AllTypes {
		t.Run(string(typ), func(t *testing.T) {
			ev, err := Decode(eventtest.Sample(typ))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if ev.Type != typ {
				t.Errorf("type = %q, want %q", ev.Type, typ)
			}
			if ev.OccurredAt.Location() != time.UTC {
				t.Errorf("occurred_at location = %v, want UTC", ev.OccurredAt.Location())
			}
			if ev.AppEnv == "" {
				t.Error("app_env default not applied")
			}
		})
	}
}

func TestDecodeFields(t *testing.T) {
	ev, err := Decode(eventtest.Sample(DeviceTransaction))
	if err != nil {
		t.Fatal(err)
	}
	want := &Transaction{
		ID: "2000000571923344", OriginalTransactionID: "2000000571923344", SKURefID: "premium_monthly",
		SKUStoreID: "com.example.app.premium.monthly", Price: "9.99", Currency: "USD", Quantity: ptr(1),
		PurchaseEnv: "production", Source: "nami_triggered", SubscriptionInterval: "month",
		SubscriptionIntervalCount: ptr(1), ImpressionID: "b5d2f0a1-3c4e-4f6a-8b9c-0d1e2f3a4b5c", Locale: "en_US",
	}
	if !reflect.DeepEqual(ev.Transaction, want) {
		t.Errorf("transaction = %+v, want %+v", ev.Transaction, want)
	}
	if got, want := ev.OccurredAt, time.Date(2024, 5, 14, 9, 30, 11, 870e6, time.UTC); !got.Equal(want) {
		t.Errorf("occurred_at = %v, want %v", got, want)
	}
	if ev.Device.IDFV != "E621E1F8-C36C-495A-93FC-0C247A3E6E5F" || ev.User.ExternalID != "acct_48213377" {
		t.Errorf("device/user not decoded: %+v %+v", ev.Device, ev.User)
	}
}

func ptr[T any](v T) *T { return &v }

func TestDecodeDefaults(t *testing.T) {
	ev, err := Decode(edit(t, DeviceTransaction, func(m map[string]any) {
		delete(m, "app_env")
		delete(obj(m, "transaction"), "quantity")
	}))
	if err != nil {
		t.Fatal(err)
	}
	if ev.AppEnv != AppEnvProduction {
		t.Errorf("app_env = %q, want production", ev.AppEnv)
	}
	if ev.Transaction.Quantity == nil || *ev.Transaction.Quantity != 1 {
		t.Errorf("quantity = %v, want 1", ev.Transaction.Quantity)
	}
	if len(ev.Degraded) != 0 {
		t.Errorf("absent optional values are not degraded: %v", ev.Degraded)
	}

	ev, err = Decode(edit(t, SubscriptionCancelled, func(m map[string]any) {
		m["occurred_at"] = "2024-06-20T18:02:44.120+02:00"
		m["unknown_field"] = map[string]any{"nested": []any{1, 2}}
	}))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2024, 6, 20, 16, 2, 44, 120e6, time.UTC); ev.OccurredAt != want {
		t.Errorf("occurred_at = %v, want %v (UTC)", ev.OccurredAt, want)
	}
	if ev.Subscription.ExpiresAt == nil || ev.Subscription.ExpiresAt.Location() != time.UTC {
		t.Errorf("expires_at = %v, want a UTC time", ev.Subscription.ExpiresAt)
	}
	if len(ev.Degraded) != 0 {
		t.Errorf("unknown fields are ignored, not degraded: %v", ev.Degraded)
	}
}

// The user state: a list or flag the producer omits (or sends as null) stays nil, an empty
// list stays an empty list, so the transform can tell "not sent" from "none".
func TestDecodeAbsentVersusEmpty(t *testing.T) {
	for _, c := range []struct {
		name  string
		value any // nil map value means delete
		del   bool
		list  []string
		flag  *bool
	}{
		{name: "omitted", del: true},
		{name: "null", value: nil},
		{name: "empty", value: []any{}, list: []string{}, flag: nil},
		{name: "one entry", value: []any{"premium"}, list: []string{"premium"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev, err := Decode(edit(t, SubscriptionRenewed, func(m map[string]any) {
				u := obj(m, "user")
				for _, k := range []string{"active_entitlements", "active_skus", "device_ids", "device_platforms"} {
					if c.del {
						delete(u, k)
					} else {
						u[k] = c.value
					}
				}
				for _, k := range []string{"former_subscriber", "in_grace_period", "in_trial_period", "in_intro_offer_period"} {
					if c.del {
						delete(u, k)
					} else if c.value == nil {
						u[k] = nil
					}
				}
			}))
			if err != nil {
				t.Fatal(err)
			}
			u := ev.User
			for name, l := range map[string][]string{"active_entitlements": u.ActiveEntitlements, "active_skus": u.ActiveSKUs,
				"device_ids": u.DeviceIDs, "device_platforms": u.DevicePlatforms} {
				if (l == nil) != (c.list == nil) || !reflect.DeepEqual(l, c.list) && c.list != nil {
					t.Errorf("%s = %#v, want %#v", name, l, c.list)
				}
			}
			if c.del || c.value == nil {
				if u.FormerSubscriber != nil || u.InGracePeriod != nil || u.InTrialPeriod != nil || u.InIntroOfferPeriod != nil {
					t.Errorf("flags not sent should be nil: %+v", u)
				}
			}
			if len(ev.Degraded) != 0 {
				t.Errorf("degraded = %v, want none", ev.Degraded)
			}
		})
	}
	ev, err := Decode(eventtest.Sample(SubscriptionRenewed))
	if err != nil {
		t.Fatal(err)
	}
	if f := ev.User.InTrialPeriod; f == nil || *f {
		t.Errorf("in_trial_period sent false: %v, want a pointer to false", f)
	}
}

// A missing details object only means its attributes are absent.
func TestDecodeWithoutDetailsObjects(t *testing.T) {
	for _, c := range []struct {
		typ Type
		key string
	}{
		{SubscriptionRenewed, "subscription"}, {SubscriptionExpired, "subscription"}, {SubscriptionCancelled, "subscription"},
		{SubscriptionPurchased, "subscription"}, {TrialStarted, "subscription"},
		{DeviceImpression, "impression"}, {DeviceTransaction, "transaction"},
	} {
		ev, err := Decode(edit(t, c.typ, func(m map[string]any) { delete(m, c.key) }))
		if err != nil {
			t.Errorf("%s without %s: %v", c.typ, c.key, err)
			continue
		}
		if ev.Subscription != nil || (c.key != "subscription" && (ev.Impression != nil || ev.Transaction != nil)) || len(ev.Degraded) != 0 {
			t.Errorf("%s without %s: %+v degraded %v", c.typ, c.key, ev, ev.Degraded)
		}
	}
}

func TestDecodeInvalid(t *testing.T) {
	type tc struct {
		name   string
		body   []byte
		field  string
		reason string // substring
	}
	del := func(typ Type, path ...string) []byte {
		return edit(t, typ, func(m map[string]any) {
			for _, p := range path[:len(path)-1] {
				m = obj(m, p)
			}
			delete(m, path[len(path)-1])
		})
	}
	set := func(typ Type, v any, path ...string) []byte {
		return edit(t, typ, func(m map[string]any) {
			for _, p := range path[:len(path)-1] {
				m = obj(m, p)
			}
			m[path[len(path)-1]] = v
		})
	}
	huge := make([]byte, MaxBodyBytes+1)
	for i := range huge {
		huge[i] = ' '
	}
	copy(huge, eventtest.Sample(DeviceImpression))
	long := strings.Repeat("x", MaxIDLen+1)
	noUser := func(typ Type, fn func(m map[string]any)) []byte {
		return edit(t, typ, func(m map[string]any) {
			delete(m, "user")
			fn(m)
		})
	}

	cases := []tc{
		{"empty body", nil, "", "empty"},
		{"too large", huge, "", "exceeds 262144 bytes"},
		{"not json", []byte(`{"id": `), "", "not valid JSON"},
		{"trailing garbage", append(eventtest.Sample(DeviceImpression), 'x'), "", "not valid JSON"},
		{"array", []byte(`[]`), "", "JSON object"},
		{"string", []byte(`"x"`), "", "JSON object"},
		{"number", []byte(`12`), "", "JSON object"},
		{"null", []byte(`null`), "", "JSON object"},
		{"missing id", del(DeviceImpression, "id"), "id", "required"},
		{"null id", set(DeviceImpression, nil, "id"), "id", "required"},
		{"empty id", set(DeviceImpression, "", "id"), "id", "required"},
		{"id number", set(DeviceImpression, 7, "id"), "id", "got number, want string"},
		{"id too long", set(DeviceImpression, long, "id"), "id", "longer than 256"},
		{"missing type", del(DeviceImpression, "type"), "type", "required"},
		{"type object", set(DeviceImpression, map[string]any{}, "type"), "type", "got object, want string"},
		{"unknown type", set(DeviceImpression, "user.subscription.refunded", "type"), "type", "unknown event type"},
		{"type in another case", set(DeviceImpression, "Device.Impression", "type"), "type", "unknown event type"},
		{"missing occurred_at", del(DeviceImpression, "occurred_at"), "occurred_at", "required"},
		{"occurred_at not rfc3339", set(DeviceImpression, "2024-05-14 09:29:50", "occurred_at"), "occurred_at", "RFC 3339"},
		{"occurred_at one-digit hour", set(DeviceImpression, "2024-05-14T9:29:50Z", "occurred_at"), "occurred_at", "RFC 3339"},
		{"occurred_at zero", set(DeviceImpression, "0001-01-01T00:00:00Z", "occurred_at"), "occurred_at", "year"},
		{"occurred_at absurd", set(DeviceImpression, "9999-01-01T00:00:00Z", "occurred_at"), "occurred_at", "year"},
		{"occurred_at number", set(DeviceImpression, 1715678990, "occurred_at"), "occurred_at", "got number, want string"},
		{"missing app_id", del(DeviceImpression, "app_id"), "app_id", "required"},
		{"app_id array", set(DeviceImpression, []any{"a"}, "app_id"), "app_id", "got array, want string"},
		{"app_id too long", set(DeviceImpression, long, "app_id"), "app_id", "longer than 256"},
		{"missing app_platform_id", del(DeviceImpression, "app_platform_id"), "app_platform_id", "required"},
		{"app_platform_id boolean", set(DeviceImpression, true, "app_platform_id"), "app_platform_id", "got boolean, want string"},
		{"missing platform", del(DeviceImpression, "platform"), "platform", "required"},
		{"platform number", set(DeviceImpression, 1, "platform"), "platform", "got number, want string"},
		{"platform blank", set(DeviceImpression, "  ", "platform"), "platform", "required"},
		{"user missing on user event", del(SubscriptionPurchased, "user"), "user", "required for user.* events"},
		{"user null on user event", set(SubscriptionPurchased, nil, "user"), "user", "required for user.* events"},
		{"user wrong type on user event", set(SubscriptionPurchased, "abc", "user"), "user", "got string, want object"},
		{"user.id missing on user event", del(SubscriptionPurchased, "user", "id"), "user.id", "required for user.* events"},
		{"user.id empty on user event", set(SubscriptionPurchased, "", "user", "id"), "user.id", "required for user.* events"},
		{"user.id number on user event", set(SubscriptionPurchased, 42, "user", "id"), "user.id", "got number, want string"},
		{"user.id too long on user event", set(SubscriptionPurchased, long, "user", "id"), "user.id", "longer than 256"},
		{"device event with neither user nor device", noUser(DeviceImpression, func(m map[string]any) { delete(m, "device") }),
			"device.id", "required for device.* events without a user.id"},
		{"device event without user, device.id missing", noUser(DeviceTransaction, func(m map[string]any) { delete(obj(m, "device"), "id") }),
			"device.id", "required for device.* events without a user.id"},
		{"device event without user, device.id number", noUser(DeviceImpression, func(m map[string]any) { obj(m, "device")["id"] = 5 }),
			"device.id", "got number, want string"},
		{"device event without user, device.id too long", noUser(DeviceImpression, func(m map[string]any) { obj(m, "device")["id"] = long }),
			"device.id", "longer than 256"},
		{"device event without user, device a string", noUser(DeviceImpression, func(m map[string]any) { m["device"] = "d" }),
			"device", "got string, want object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, err := Decode(c.body)
			if err == nil {
				t.Fatalf("Decode succeeded, want error: %+v", ev)
			}
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("error %T %v is not *InvalidError", err, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Error("errors.Is(err, ErrInvalid) = false")
			}
			if ie.Field != c.field || !strings.Contains(ie.Reason, c.reason) {
				t.Errorf("got field %q reason %q, want field %q reason containing %q", ie.Field, ie.Reason, c.field, c.reason)
			}
		})
	}
}

// Every optional value that is malformed, of the wrong JSON type, out of its list or blank
// is normalised or omitted, never a reason to refuse the event, and its field is recorded.
func TestDecodeDegraded(t *testing.T) {
	manySKUs := make([]any, MaxListLen+5)
	for i := range manySKUs {
		manySKUs[i] = "sku"
	}
	cases := []struct {
		name  string
		typ   Type
		edit  func(m map[string]any)
		check func(ev *Event) any // the value after decoding
		want  any
		field Field // "" when nothing is degraded
	}{
		// Normalised.
		{"platform upper case", DeviceImpression, func(m map[string]any) { m["platform"] = " iOS " },
			func(ev *Event) any { return ev.Platform }, "ios", FieldPlatform},
		{"currency lower case", DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["currency"] = "usd" },
			func(ev *Event) any { return ev.Transaction.Currency }, "USD", FieldTransactionCurrency},
		{"currency with spaces", SubscriptionRenewed, func(m map[string]any) { obj(m, "subscription")["currency"] = " eur\t" },
			func(ev *Event) any { return ev.Subscription.Currency }, "EUR", FieldSubscriptionCurrency},
		{"price with spaces", DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["price"] = " 9.99 " },
			func(ev *Event) any { return ev.Transaction.Price }, "9.99", FieldTransactionPrice},
		{"price as a number", DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["price"] = 4.5 },
			func(ev *Event) any { return ev.Transaction.Price }, "4.5", FieldTransactionPrice},
		{"quantity as a string", DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["quantity"] = "3" },
			func(ev *Event) any { return *ev.Transaction.Quantity }, 3, FieldTransactionQuantity},
		{"quantity as 2.0", DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["quantity"] = json.Number("2.0") },
			func(ev *Event) any { return *ev.Transaction.Quantity }, 2, FieldTransactionQuantity},
		{"flag as a string", SubscriptionRenewed, func(m map[string]any) { obj(m, "user")["in_trial_period"] = "TRUE" },
			func(ev *Event) any { return *ev.User.InTrialPeriod }, true, FieldUserInTrialPeriod},
		{"text with spaces", DeviceImpression, func(m map[string]any) { obj(m, "impression")["name"] = "  Onboarding\n" },
			func(ev *Event) any { return ev.Impression.Name }, "Onboarding", FieldImpressionName},
		{"known enum in another case", DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["source"] = "User_Initiated" },
			func(ev *Event) any { return ev.Transaction.Source }, "user_initiated", FieldTransactionSource},
		{"purchase_env in upper case", DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["purchase_env"] = "SANDBOX" },
			func(ev *Event) any { return ev.Transaction.PurchaseEnv }, "sandbox", FieldTransactionPurchaseEnv},
		{"list entries trimmed", SubscriptionRenewed, func(m map[string]any) { obj(m, "user")["active_skus"] = []any{" a ", "b"} },
			func(ev *Event) any { return ev.User.ActiveSKUs }, []string{"a", "b"}, FieldUserActiveSKUs},
		{"list entries of other types dropped", SubscriptionRenewed, func(m map[string]any) { obj(m, "user")["active_skus"] = []any{"a", 3, nil, "", "b"} },
			func(ev *Event) any { return ev.User.ActiveSKUs }, []string{"a", "b"}, FieldUserActiveSKUs},
		{"list too long is cut", SubscriptionRenewed, func(m map[string]any) { obj(m, "user")["active_skus"] = manySKUs },
			func(ev *Event) any { return len(ev.User.ActiveSKUs) }, MaxListLen, FieldUserActiveSKUs},

		// Omitted.
		{"price with a comma", DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["price"] = "9,99" },
			func(ev *Event) any { return ev.Transaction.Price }, "", FieldTransactionPrice},
		{"price negative", SubscriptionRenewed, func(m map[string]any) { obj(m, "subscription")["price"] = "-1" },
			func(ev *Event) any { return ev.Subscription.Price }, "", FieldSubscriptionPrice},
		{"price exponent number", DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["price"] = json.Number("1e3") },
			func(ev *Event) any { return ev.Transaction.Price }, "", FieldTransactionPrice},
		{"price object", DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["price"] = map[string]any{"amount": 1} },
			func(ev *Event) any { return ev.Transaction.Price }, "", FieldTransactionPrice},
		{"currency symbol", DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["currency"] = "US$" },
			func(ev *Event) any { return ev.Transaction.Currency }, "", FieldTransactionCurrency},
		{"currency too long", DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["currency"] = "USDT" },
			func(ev *Event) any { return ev.Transaction.Currency }, "", FieldTransactionCurrency},
		{"quantity not numeric", DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["quantity"] = "two" },
			func(ev *Event) any { return *ev.Transaction.Quantity }, 1, FieldTransactionQuantity},
		{"quantity zero", DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["quantity"] = 0 },
			func(ev *Event) any { return *ev.Transaction.Quantity }, 1, FieldTransactionQuantity},
		{"quantity fraction", DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["quantity"] = 1.5 },
			func(ev *Event) any { return *ev.Transaction.Quantity }, 1, FieldTransactionQuantity},
		{"quantity huge", DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["quantity"] = 1e30 },
			func(ev *Event) any { return *ev.Transaction.Quantity }, 1, FieldTransactionQuantity},
		{"quantity hex string", DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["quantity"] = "0x1p4" },
			func(ev *Event) any { return *ev.Transaction.Quantity }, 1, FieldTransactionQuantity},
		{"interval count negative", DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["subscription_interval_count"] = -2 },
			func(ev *Event) any { return ev.Transaction.SubscriptionIntervalCount }, (*int)(nil), FieldTransactionSubscriptionIntervalCount},
		{"expires_at not a time", SubscriptionRenewed, func(m map[string]any) { obj(m, "subscription")["expires_at"] = "tomorrow" },
			func(ev *Event) any { return ev.Subscription.ExpiresAt }, (*time.Time)(nil), FieldSubscriptionExpiresAt},
		{"expires_at a number", SubscriptionRenewed, func(m map[string]any) { obj(m, "subscription")["expires_at"] = 5 },
			func(ev *Event) any { return ev.Subscription.ExpiresAt }, (*time.Time)(nil), FieldSubscriptionExpiresAt},
		{"expires_at year 0", SubscriptionRenewed, func(m map[string]any) { obj(m, "subscription")["expires_at"] = "0000-01-01T00:00:00Z" },
			func(ev *Event) any { return ev.Subscription.ExpiresAt }, (*time.Time)(nil), FieldSubscriptionExpiresAt},
		{"sku as a number", SubscriptionRenewed, func(m map[string]any) { obj(m, "subscription")["sku_ref_id"] = 5 },
			func(ev *Event) any { return ev.Subscription.SKURefID }, "", FieldSubscriptionSKURefID},
		{"blank text", DeviceImpression, func(m map[string]any) { obj(m, "impression")["controller_name"] = "   " },
			func(ev *Event) any { return ev.Impression.ControllerName }, "", FieldImpressionControllerName},
		{"flag not a boolean", SubscriptionRenewed, func(m map[string]any) { obj(m, "user")["former_subscriber"] = 1 },
			func(ev *Event) any { return ev.User.FormerSubscriber }, (*bool)(nil), FieldUserFormerSubscriber},
		{"list an object", SubscriptionRenewed, func(m map[string]any) { obj(m, "user")["device_ids"] = map[string]any{} },
			func(ev *Event) any { return ev.User.DeviceIDs }, []string(nil), FieldUserDeviceIDs},
		{"list of only unreadable entries", SubscriptionRenewed, func(m map[string]any) { obj(m, "user")["active_entitlements"] = []any{1, 2} },
			func(ev *Event) any { return ev.User.ActiveEntitlements }, []string(nil), FieldUserActiveEntitlements},
		{"external id a number", SubscriptionRenewed, func(m map[string]any) { obj(m, "user")["external_id"] = 48213377 },
			func(ev *Event) any { return ev.User.ExternalID }, "", FieldUserExternalID},
		{"external id too long", SubscriptionRenewed, func(m map[string]any) { obj(m, "user")["external_id"] = strings.Repeat("e", MaxIDLen+1) },
			func(ev *Event) any { return ev.User.ExternalID }, "", FieldUserExternalID},
		{"device a string on a user event", SubscriptionPurchased, func(m map[string]any) { m["device"] = "iphone" },
			func(ev *Event) any { return ev.Device }, (*Device)(nil), FieldDevice},
		{"device.idfa a number", DeviceImpression, func(m map[string]any) { obj(m, "device")["idfa"] = 0 },
			func(ev *Event) any { return ev.Device.IDFA }, "", FieldDeviceIDFA},
		{"device.id a number when user.id attributes", DeviceImpression, func(m map[string]any) { obj(m, "device")["id"] = 1 },
			func(ev *Event) any { return ev.Device.ID }, "", FieldDeviceID},
		{"user without id on a device event", DeviceImpression, func(m map[string]any) { delete(obj(m, "user"), "id") },
			func(ev *Event) any { return ev.User.ExternalID }, "acct_48213377", FieldUserID},
		{"user a string on a device event", DeviceTransaction, func(m map[string]any) { m["user"] = "u" },
			func(ev *Event) any { return ev.User }, (*User)(nil), FieldUser},
		{"impression an array", DeviceImpression, func(m map[string]any) { m["impression"] = []any{} },
			func(ev *Event) any { return ev.Impression }, (*Impression)(nil), FieldImpression},
		{"subscription a string", SubscriptionRenewed, func(m map[string]any) { m["subscription"] = "premium" },
			func(ev *Event) any { return ev.Subscription }, (*Subscription)(nil), FieldSubscription},
		{"app_env a number", DeviceImpression, func(m map[string]any) { m["app_env"] = 1 },
			func(ev *Event) any { return ev.AppEnv }, AppEnvProduction, FieldAppEnv},

		// Passed through.
		{"unknown app_env", DeviceImpression, func(m map[string]any) { m["app_env"] = "staging" },
			func(ev *Event) any { return ev.AppEnv }, "staging", FieldAppEnv},
		{"unknown purchase_env", DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["purchase_env"] = "testflight" },
			func(ev *Event) any { return ev.Transaction.PurchaseEnv }, "testflight", FieldTransactionPurchaseEnv},
		{"unknown source", DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["source"] = "cron" },
			func(ev *Event) any { return ev.Transaction.Source }, "cron", ""},
		{"unknown initiator", DeviceImpression, func(m map[string]any) { obj(m, "impression")["initiator"] = "robot" },
			func(ev *Event) any { return ev.Impression.Initiator }, "robot", ""},
		{"unknown interval", DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["subscription_interval"] = "fortnight" },
			func(ev *Event) any { return ev.Transaction.SubscriptionInterval }, "fortnight", ""},
		{"unknown platform", DeviceImpression, func(m map[string]any) { m["platform"] = "playstation" },
			func(ev *Event) any { return ev.Platform }, "playstation", ""},
		{"id not a UUID", DeviceImpression, func(m map[string]any) { m["id"] = "evt-1" },
			func(ev *Event) any { return ev.ID }, "evt-1", ""},
		{"device.id not a UUID", DeviceImpression, func(m map[string]any) { obj(m, "device")["id"] = "device-1234" },
			func(ev *Event) any { return ev.Device.ID }, "device-1234", ""},
		{"long text is the transform's to cut", DeviceImpression, func(m map[string]any) { obj(m, "impression")["name"] = strings.Repeat("n", 6000) },
			func(ev *Event) any { return len(ev.Impression.Name) }, 6000, ""},
		{"external id kept exactly", SubscriptionRenewed, func(m map[string]any) { obj(m, "user")["external_id"] = " acct 1 " },
			func(ev *Event) any { return ev.User.ExternalID }, " acct 1 ", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := edit(t, c.typ, c.edit)
			ev, err := Decode(body)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got := c.check(ev); !reflect.DeepEqual(got, c.want) {
				t.Errorf("value = %#v, want %#v", got, c.want)
			}
			var want Degraded
			if c.field != "" {
				want = Degraded{c.field}
			}
			if !reflect.DeepEqual(ev.Degraded, want) {
				t.Errorf("degraded = %v, want %v", ev.Degraded, want)
			}
			// Normalising is idempotent: the decoded event re-decodes to itself, with nothing
			// left to degrade.
			again, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			ev2, err := decode(string(again))
			if err != nil {
				t.Fatalf("re-decode: %v", err)
			}
			// Values passed through as sent (an unknown environment) or absences (a user
			// without id) are degraded again; everything normalised or omitted is not.
			sticky := c.field == FieldAppEnv && ev.AppEnv != AppEnvProduction || c.field == FieldTransactionPurchaseEnv && !contains(purchaseEnvs, ev.Transaction.PurchaseEnv) ||
				c.field == FieldUserID
			if len(ev2.Degraded) != 0 && !sticky {
				t.Errorf("re-decoded event is still degraded: %v", ev2.Degraded)
			}
			ev.Degraded, ev2.Degraded = nil, nil
			if !reflect.DeepEqual(ev, ev2) {
				t.Errorf("round trip differs:\n%+v\n%+v", ev, ev2)
			}
		})
	}
}

func TestDegradedFieldsAreKnown(t *testing.T) {
	seen := map[Field]bool{}
	for _, f := range Fields {
		if seen[f] {
			t.Errorf("%s listed twice", f)
		}
		seen[f] = true
	}
	if !KnownField(FieldTransactionPrice) || KnownField("transaction.price[0]") || KnownField("") {
		t.Error("KnownField disagrees with Fields")
	}
	var d Degraded
	d.Add(FieldStore)
	d.Merge(Degraded{FieldStore, FieldBatch})
	if !reflect.DeepEqual(d, Degraded{FieldStore, FieldBatch}) || !reflect.DeepEqual(d.Strings(), []string{"store", "batch"}) {
		t.Errorf("Add/Merge = %v", d)
	}
}

func TestInvalidErrorMessage(t *testing.T) {
	_, err := Decode(edit(t, SubscriptionPurchased, func(m map[string]any) { delete(obj(m, "user"), "id") }))
	if got, want := err.Error(), `invalid event: field "user.id": required for user.* events`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := (&InvalidError{Reason: "body is empty"}).Error(), "invalid event: body is empty"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// The app_id of an invalid event is passed on (to tell apps the forwarder serves from the
// others) when it can be read, and never appears in the message.
func TestInvalidErrorCarriesAppID(t *testing.T) {
	const app = "5b1a3c6e-2f4d-4e8a-9c1b-7d2e8f3a4b5c"
	for name, c := range map[string]struct {
		body []byte
		want string
	}{
		"unknown type":    {edit(t, DeviceImpression, func(m map[string]any) { m["type"] = "x" }), app},
		"no user.id":      {edit(t, SubscriptionRenewed, func(m map[string]any) { delete(obj(m, "user"), "id") }), app},
		"missing app_id":  {edit(t, SubscriptionRenewed, func(m map[string]any) { delete(m, "app_id"); delete(m, "id") }), ""},
		"app_id a number": {edit(t, SubscriptionRenewed, func(m map[string]any) { m["app_id"] = 5; delete(m, "id") }), ""},
		"not json":        {[]byte(`{"app_id":"` + app + `",`), ""},
	} {
		_, err := Decode(c.body)
		var ie *InvalidError
		if !errors.As(err, &ie) {
			t.Fatalf("%s: %v", name, err)
		}
		if ie.AppID != c.want {
			t.Errorf("%s: AppID = %q, want %q", name, ie.AppID, c.want)
		}
		if strings.Contains(ie.Error(), app) {
			t.Errorf("%s: message carries the app id: %s", name, ie.Error())
		}
	}
}

// Identifiers are personal data: an error must name the field, never repeat the value.
func TestInvalidErrorNeverEchoesValues(t *testing.T) {
	const secret = "SECRET-ID-9f31"
	bodies := map[string][]byte{
		"device.id": edit(t, DeviceImpression, func(m map[string]any) {
			delete(m, "user")
			obj(m, "device")["id"] = secret + strings.Repeat("x", MaxIDLen)
		}),
		"id":   edit(t, DeviceImpression, func(m map[string]any) { m["id"] = secret + strings.Repeat("x", MaxIDLen) }),
		"type": edit(t, DeviceImpression, func(m map[string]any) { m["type"] = secret }),
		"user.id": edit(t, SubscriptionPurchased, func(m map[string]any) {
			obj(m, "user")["id"] = secret + strings.Repeat("x", MaxIDLen)
		}),
		"syntax":        []byte(`{"id":"` + secret + `",` + secret + `}`),
		"number in str": []byte(`{"user":{"id":` + "123456789" + `}}`),
		"unknown key":   []byte(`{"user":{"` + secret + `":1,"id":5}}`),
	}
	for name, b := range bodies {
		_, err := Decode(b)
		if err == nil {
			t.Fatalf("%s: Decode succeeded", name)
		}
		if s := err.Error(); strings.Contains(s, secret) || strings.Contains(s, "123456789") {
			t.Errorf("%s: error echoes the input: %s", name, s)
		}
	}
}

func TestDecodeAcceptsOptionalShapes(t *testing.T) {
	cases := map[string][]byte{
		"uppercase uuid": edit(t, DeviceImpression, func(m map[string]any) { m["id"] = "6A1E0000-0000-4000-8001-00000000000C" }),
		"null optional": edit(t, DeviceImpression, func(m map[string]any) {
			m["store"] = nil
			obj(m, "device")["idfa"] = nil
		}),
		"empty impression object": edit(t, DeviceImpression, func(m map[string]any) { m["impression"] = map[string]any{} }),
		"integer price":           edit(t, DeviceTransaction, func(m map[string]any) { obj(m, "transaction")["price"] = "120" }),
		"device event without user": edit(t, DeviceTransaction, func(m map[string]any) {
			delete(m, "user")
		}),
		"device event without device": edit(t, DeviceImpression, func(m map[string]any) {
			delete(m, "device")
		}),
		"expires_at far future": edit(t, SubscriptionRenewed, func(m map[string]any) { obj(m, "subscription")["expires_at"] = "9999-12-31T23:59:59Z" }),
		"empty details objects": edit(t, SubscriptionRenewed, func(m map[string]any) {
			m["subscription"], m["transaction"], m["impression"] = map[string]any{}, nil, map[string]any{}
		}),
	}
	for name, b := range cases {
		ev, err := Decode(b)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(ev.Degraded) != 0 {
			t.Errorf("%s: degraded %v", name, ev.Degraded)
		}
	}
}

func TestIsUUIDAndIsDecimal(t *testing.T) {
	for s, want := range map[string]bool{
		"3f2504e0-4f89-41d3-9a0c-0305e82c3301":     true,
		"E621E1F8-C36C-495A-93FC-0C247A3E6E5F":     true,
		"{3f2504e0-4f89-41d3-9a0c-0305e82c3301}":   false,
		"urn:uuid:3f2504e0-4f89-41d3-9a0c-0305e82": false,
		"3f2504e04f8941d39a0c0305e82c3301":         false,
		"3f2504e0-4f89-41d3-9a0c-0305e82c330g":     false,
		"":                                         false,
	} {
		if IsUUID(s) != want {
			t.Errorf("IsUUID(%q) = %v, want %v", s, !want, want)
		}
	}
	for s, want := range map[string]bool{
		"9.99": true, "0": true, "120": true, "0.000000001": true, "999999999999.5": true,
		"": false, ".5": false, "5.": false, "-1": false, "+1": false, "1e3": false, "1.2.3": false,
		"0.0000000001": false, "9999999999999": false, " 1": false,
	} {
		if IsDecimal(s) != want {
			t.Errorf("IsDecimal(%q) = %v, want %v", s, !want, want)
		}
	}
}

func TestRFC3339Shape(t *testing.T) {
	for s, want := range map[string]bool{
		"2024-05-14T09:29:50Z":           true,
		"2024-05-14T09:29:50.1Z":         true,
		"2024-05-14T09:29:50.123456789Z": true,
		"2024-05-14T09:29:50+02:00":      true,
		"2024-05-14T09:29:50.5-11:30":    true,
		"2024-05-14T9:29:50Z":            false,
		"2024-05-14 09:29:50Z":           false,
		"2024-05-14T09:29:50,5Z":         false,
		"2024-05-14T09:29:50.Z":          false,
		"2024-05-14T09:29:50":            false,
		"2024-05-14T09:29:50+2:00":       false,
		"2024-05-14T09:29:50+24:00":      false,
		"2024-05-14T09:29:50+02:60":      false,
		"2024-05-14T09:29:50Zjunk":       false,
		"2024-05-14":                     false,
	} {
		if got := rfc3339Shape(s); got != want {
			t.Errorf("rfc3339Shape(%q) = %v, want %v", s, got, want)
		}
	}
}

// Members are read as encoding/json reads them: keys in any ASCII case, escaped keys,
// the last of repeated keys, brackets and escapes inside strings.
func TestDecodeMemberMatching(t *testing.T) {
	body := []byte(`{"ID":"first","id":"6a1e0000-0000-4000-800c-00000000000c","TYPE":"device.impression",
		"occurred_at":"2024-05-14T09:29:50Z","app_id":"a","App_Platform_Id":"p","platform":"ios",
		"\u0064evice":{"id":"d", "model":"M]}\"{[", "ip":"203.0.113.9"},
		"user":{"id":"u","active_skus":[ "a]" , {"x":["]"]}, "b\"c" ],"Former_Subscriber":true},
		"impression":{"name":"x"},"impression":{"name":"last"}}`)
	ev, err := Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != "6a1e0000-0000-4000-800c-00000000000c" || ev.Type != DeviceImpression || ev.AppPlatformID != "p" {
		t.Errorf("top-level members: %+v", ev)
	}
	if ev.Device == nil || ev.Device.Model != `M]}"{[` || ev.Device.IP != "203.0.113.9" {
		t.Errorf("device = %+v", ev.Device)
	}
	if !reflect.DeepEqual(ev.User.ActiveSKUs, []string{"a]", `b"c`}) || ev.User.FormerSubscriber == nil || !*ev.User.FormerSubscriber {
		t.Errorf("user = %+v", ev.User)
	}
	if ev.Impression.Name != "last" {
		t.Errorf("repeated key: name %q, want the last", ev.Impression.Name)
	}
	if !reflect.DeepEqual(ev.Degraded, Degraded{FieldUserActiveSKUs}) {
		t.Errorf("degraded = %v", ev.Degraded)
	}
}
