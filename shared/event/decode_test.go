package event

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sample(t testing.TB, typ Type) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", string(typ)+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit decodes a sample into a generic map, applies fn and re-encodes it.
func edit(t testing.TB, typ Type, fn func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(sample(t, typ), &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func obj(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }

func TestDecodeSamples(t *testing.T) {
	for _, typ := range AllTypes {
		t.Run(string(typ), func(t *testing.T) {
			ev, err := Decode(sample(t, typ))
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
	ev, err := Decode(sample(t, DeviceTransaction))
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

func TestDecodeDefaultsAndNormalisation(t *testing.T) {
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

	ev, err = Decode(edit(t, SubscriptionCancelled, func(m map[string]any) {
		m["occurred_at"] = "2024-06-20T18:02:44.120+02:00"
		obj(m, "user")["active_skus"] = []any{}
		m["unknown_field"] = map[string]any{"nested": []any{1, 2}}
	}))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2024, 6, 20, 16, 2, 44, 120e6, time.UTC); ev.OccurredAt != want {
		t.Errorf("occurred_at = %v, want %v (UTC)", ev.OccurredAt, want)
	}
	if ev.User.ActiveSKUs != nil {
		t.Errorf("empty list should decode as nil, got %#v", ev.User.ActiveSKUs)
	}
	if ev.Subscription.ExpiresAt == nil || ev.Subscription.ExpiresAt.Location() != time.UTC {
		t.Errorf("expires_at = %v, want a UTC time", ev.Subscription.ExpiresAt)
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
	copy(huge, sample(t, DeviceImpression))
	long := strings.Repeat("x", MaxIDLen+1)
	manySKUs := make([]any, MaxListLen+1)
	for i := range manySKUs {
		manySKUs[i] = ""
	}

	cases := []tc{
		{"empty body", nil, "", "empty"},
		{"too large", huge, "", "exceeds 262144 bytes"},
		{"not json", []byte(`{"id": `), "", "not valid JSON"},
		{"trailing garbage", append(sample(t, DeviceImpression), 'x'), "", "not valid JSON"},
		{"array", []byte(`[]`), "", "JSON object"},
		{"string", []byte(`"x"`), "", "JSON object"},
		{"null", []byte(`null`), "", "JSON object"},
		{"missing id", del(DeviceImpression, "id"), "id", "required"},
		{"id not uuid", set(DeviceImpression, "evt-1", "id"), "id", "UUID"},
		{"id uuid without dashes", set(DeviceImpression, "6a1e0000000040008001000000000001", "id"), "id", "UUID"},
		{"missing type", del(DeviceImpression, "type"), "type", "required"},
		{"unknown type", set(DeviceImpression, "user.subscription.refunded", "type"), "type", "unknown event type"},
		{"missing occurred_at", del(DeviceImpression, "occurred_at"), "occurred_at", "required"},
		{"occurred_at not rfc3339", set(DeviceImpression, "2024-05-14 09:29:50", "occurred_at"), "occurred_at", "RFC 3339"},
		{"occurred_at one-digit hour", set(DeviceImpression, "2024-05-14T9:29:50Z", "occurred_at"), "occurred_at", "RFC 3339"},
		{"occurred_at zero", set(DeviceImpression, "0001-01-01T00:00:00Z", "occurred_at"), "occurred_at", "year"},
		{"occurred_at absurd", set(DeviceImpression, "9999-01-01T00:00:00Z", "occurred_at"), "occurred_at", "year"},
		{"occurred_at number", set(DeviceImpression, 1715678990, "occurred_at"), "occurred_at", "got number, want string"},
		{"missing app_id", del(DeviceImpression, "app_id"), "app_id", "required"},
		{"app_id too long", set(DeviceImpression, long, "app_id"), "app_id", "longer than 256"},
		{"missing app_platform_id", del(DeviceImpression, "app_platform_id"), "app_platform_id", "required"},
		{"missing platform", del(DeviceImpression, "platform"), "platform", "required"},
		{"platform upper case", set(DeviceImpression, "iOS", "platform"), "platform", "lower case"},
		{"app_env unknown", set(DeviceImpression, "staging", "app_env"), "app_env", "must be one of production, beta_testing"},
		{"user missing on user event", del(SubscriptionPurchased, "user"), "user", "required for user.* events"},
		{"user null on user event", set(SubscriptionPurchased, nil, "user"), "user", "required for user.* events"},
		{"user.id missing on user event", del(SubscriptionPurchased, "user", "id"), "user.id", "required for user.* events"},
		{"user.id missing on device event", del(DeviceImpression, "user", "id"), "user.id", "required when user is present"},
		{"user wrong type", set(SubscriptionPurchased, "abc", "user"), "user", "got string, want object"},
		{"user.id number", set(SubscriptionPurchased, 42, "user", "id"), "user.id", "got number, want string"},
		{"user.active_skus element wrong type", set(SubscriptionPurchased, []any{"a", "b", 3}, "user", "active_skus"), "user.active_skus[2]", "got number, want string"},
		{"user.device_ids object", set(SubscriptionPurchased, map[string]any{}, "user", "device_ids"), "user.device_ids", "got object, want array"},
		{"user.in_trial_period string", set(SubscriptionPurchased, "true", "user", "in_trial_period"), "user.in_trial_period", "got string, want boolean"},
		{"user list too long", set(SubscriptionPurchased, manySKUs, "user", "active_skus"), "user.active_skus", "more than 10000 entries"},
		{"user list entry too long", set(SubscriptionPurchased, []any{"ok", long}, "user", "active_entitlements"), "user.active_entitlements[1]", "longer than 256"},
		{"device missing on device event", del(DeviceImpression, "device"), "device", "required for device.* events"},
		{"device.id missing", del(DeviceImpression, "device", "id"), "device.id", "required"},
		{"device.id not uuid", set(DeviceImpression, "device-1234", "device", "id"), "device.id", "UUID"},
		{"device.id on user event not uuid", set(SubscriptionPurchased, "x", "device", "id"), "device.id", "UUID"},
		{"device.model too long", set(DeviceImpression, strings.Repeat("m", MaxTextLen+1), "device", "model"), "device.model", "longer than 1024"},
		{"impression missing", del(DeviceImpression, "impression"), "impression", "required for device.impression"},
		{"impression initiator unknown", set(DeviceImpression, "robot", "impression", "initiator"), "impression.initiator", "must be one of"},
		{"transaction missing", del(DeviceTransaction, "transaction"), "transaction", "required for device.transaction"},
		{"price exponent", set(DeviceTransaction, "9.99e0", "transaction", "price"), "transaction.price", "decimal"},
		{"price negative", set(DeviceTransaction, "-9.99", "transaction", "price"), "transaction.price", "decimal"},
		{"price comma", set(DeviceTransaction, "9,99", "transaction", "price"), "transaction.price", "decimal"},
		{"price trailing point", set(DeviceTransaction, "9.", "transaction", "price"), "transaction.price", "decimal"},
		{"price number", set(DeviceTransaction, 9.99, "transaction", "price"), "transaction.price", "got number, want string"},
		{"currency lower", set(DeviceTransaction, "usd", "transaction", "currency"), "transaction.currency", "ISO 4217"},
		{"currency long", set(DeviceTransaction, "USDT", "transaction", "currency"), "transaction.currency", "ISO 4217"},
		{"quantity zero", set(DeviceTransaction, 0, "transaction", "quantity"), "transaction.quantity", "between 1 and"},
		{"quantity fraction", set(DeviceTransaction, 1.5, "transaction", "quantity"), "transaction.quantity", "got number, want integer"},
		{"quantity huge", set(DeviceTransaction, 1e30, "transaction", "quantity"), "transaction.quantity", "want integer"},
		{"purchase_env unknown", set(DeviceTransaction, "staging", "transaction", "purchase_env"), "transaction.purchase_env", "production, sandbox"},
		{"source unknown", set(DeviceTransaction, "cron", "transaction", "source"), "transaction.source", "must be one of"},
		{"interval unknown", set(DeviceTransaction, "fortnight", "transaction", "subscription_interval"), "transaction.subscription_interval", "must be one of"},
		{"interval count zero", set(DeviceTransaction, 0, "transaction", "subscription_interval_count"), "transaction.subscription_interval_count", "between 1 and"},
		{"subscription missing", del(SubscriptionRenewed, "subscription"), "subscription", "required for user.subscription.* and user.journey.trial.*"},
		{"subscription missing on trial", del(TrialStarted, "subscription"), "subscription", "required"},
		{"subscription purchase_env unknown", set(SubscriptionRenewed, "prod", "subscription", "purchase_env"), "subscription.purchase_env", "must be one of"},
		{"subscription expires_at bad", set(SubscriptionRenewed, "tomorrow", "subscription", "expires_at"), "subscription.expires_at", "RFC 3339"},
		{"subscription expires_at number", set(SubscriptionRenewed, 5, "subscription", "expires_at"), "subscription.expires_at", "got number, want string"},
		{"subscription sku number", set(SubscriptionRenewed, 5, "subscription", "sku_ref_id"), "subscription.sku_ref_id", "got number, want string"},
		{"subscription price bad", set(SubscriptionRenewed, "free", "subscription", "price"), "subscription.price", "decimal"},
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

func TestInvalidErrorMessage(t *testing.T) {
	_, err := Decode(edit(t, SubscriptionPurchased, func(m map[string]any) { delete(obj(m, "user"), "id") }))
	if got, want := err.Error(), `invalid event: field "user.id": required for user.* events`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := (&InvalidError{Reason: "body is empty"}).Error(), "invalid event: body is empty"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// Identifiers are personal data: an error must name the field, never repeat the value.
func TestInvalidErrorNeverEchoesValues(t *testing.T) {
	const secret = "SECRET-ID-9f31"
	bodies := map[string][]byte{
		"device.id": edit(t, DeviceImpression, func(m map[string]any) { obj(m, "device")["id"] = secret }),
		"id":        edit(t, DeviceImpression, func(m map[string]any) { m["id"] = secret }),
		"type":      edit(t, DeviceImpression, func(m map[string]any) { m["type"] = secret }),
		"user.external_id": edit(t, SubscriptionPurchased, func(m map[string]any) {
			obj(m, "user")["external_id"] = secret + strings.Repeat("x", MaxIDLen)
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
		"expires_at far future": edit(t, SubscriptionRenewed, func(m map[string]any) { obj(m, "subscription")["expires_at"] = "9999-12-31T23:59:59Z" }),
	}
	for name, b := range cases {
		if _, err := Decode(b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestLocateFindsInnermostPath(t *testing.T) {
	body := []byte(`{"a": {"b": [ "x", {"c": [1, 2, 3]} ]}, "d": 1}`)
	pos := strings.Index(string(body), "3")
	got := locate(body, pos)
	want := []pathSeg{{-1}, {-1}, {1}, {-1}, {2}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("locate = %v, want %v", got, want)
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
