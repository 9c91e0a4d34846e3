package mpserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// baseBatch is a valid batch shaped like the bridge's output, touching most rules.
const baseBatch = `{
  "environment": "production",
  "source_request_id": "0d6a4f0e-3c1b-5d7e-9f00-1a2b3c4d5e6f",
  "mpid": 1234567890123456789,
  "user_identities": {"customer_id": "cust-1", "email": "a@example.com"},
  "partner_identities": {"namiml_user_id": "u-1"},
  "user_attributes": {"namiml_active_skus": ["sku1", "sku2"], "namiml_in_trial_period": "false", "score": 3, "vip": true},
  "device_info": {"platform": "iOS", "ios_idfv": "0f129dcb-d5b9-450b-9003-a38a7b7e946d", "os_version": "17.1"},
  "application_info": {"application_version": "1.2.3", "os": "IOS"},
  "context": {"data_plan": {"plan_id": "nami", "plan_version": 2}},
  "ip": "192.0.2.1",
  "events": [
    {"event_type": "custom_event", "data": {
      "event_name": "purchased", "custom_event_type": "transaction",
      "timestamp_unixtime_ms": 1700000000000,
      "source_message_id": "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed",
      "custom_attributes": {"namiml_event_category": "subscription", "n": 1, "t": true}}},
    {"event_type": "commerce_event", "data": {
      "timestamp_unixtime_ms": 1700000000001,
      "source_message_id": "6ec0bd7f-11c0-43da-975e-2a8ad9ebae0b",
      "currency_code": "USD",
      "product_action": {"action": "purchase", "transaction_id": "t1", "total_amount": 9.99,
        "products": [{"id": "sku1", "name": "Monthly", "price": 9.99, "quantity": 1}]}}}
  ]
}`

// remove marks a field to delete in a mutation.
type removeMarker struct{}

var remove = removeMarker{}

func decodeBatch(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return m
}

// set assigns (or with remove, deletes) the value at a dotted path such as
// "events.0.data.event_name"; numeric segments index arrays.
func set(t *testing.T, root map[string]any, path string, val any) {
	t.Helper()
	segs := strings.Split(path, ".")
	var cur any = root
	for i, s := range segs {
		last := i == len(segs)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				if _, ok := val.(removeMarker); ok {
					delete(c, s)
				} else {
					c[s] = val
				}
				return
			}
			if c[s] == nil {
				c[s] = map[string]any{}
			}
			cur = c[s]
		case []any:
			n, err := strconv.Atoi(s)
			if err != nil || n >= len(c) {
				t.Fatalf("bad path %s", path)
			}
			if last {
				c[n] = val
				return
			}
			cur = c[n]
		default:
			t.Fatalf("bad path %s at %s", path, s)
		}
	}
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func attrs(n int, value any) map[string]any {
	m := map[string]any{}
	for i := range n {
		m[fmt.Sprintf("a%03d", i)] = value
	}
	return m
}

func strList(n, size int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = strings.Repeat("x", size)
	}
	return out
}

func TestValidateBatchRules(t *testing.T) {
	num := func(s string) json.Number { return json.Number(s) }
	ev0 := "events.0.data."
	commerce := "events.1.data."
	tests := []struct {
		name string
		path string
		val  any
		want string // "" when the batch must be accepted; else a fragment of the single message
	}{
		{"base batch", "", nil, ""},

		// environment
		{"environment missing", "environment", remove, "environment: is required"},
		{"environment unknown", "environment", "unknown", `environment: must be one of production development, got "unknown"`},
		{"environment development", "environment", "development", ""},
		{"environment null", "environment", nil, "environment: is required"},

		// top-level fields
		{"schema_version refused", "schema_version", num("2"), "schema_version: is set by mParticle"},
		{"batch timestamp refused", "timestamp_unixtime_ms", num("1700000000000"), "timestamp_unixtime_ms: is set by mParticle"},
		{"batch_context refused", "batch_context", map[string]any{}, "batch_context: unknown field (the wire name is context)"},
		{"unknown top-level", "colour", "red", "colour: unknown field"},
		{"null server field ignored", "source_info", nil, ""},
		{"context without plan_id", "context.data_plan.plan_id", remove, "context.data_plan.plan_id: is required"},
		{"context plan_version not int", "context.data_plan.plan_version", "2", "context.data_plan.plan_version: must be an integer"},
		{"context location", "context.location", map[string]any{"latitude": num("1.5"), "longitude": num("2")}, ""},
		{"source_request_id number", "source_request_id", num("7"), "source_request_id: must be a string"},
		{"ip invalid", "ip", "300.1.1.1", `ip: must be an IPv4 or IPv6 address`},
		{"ip v6", "ip", "2001:db8::1", ""},
		{"mp_deviceid not uuid", "mp_deviceid", "abc", "mp_deviceid: must be a UUID"},
		{"deleted_user_attributes not strings", "deleted_user_attributes", []any{num("1")}, "deleted_user_attributes[0]: must be a string"},

		// mpid
		{"mpid max int64", "mpid", num("9223372036854775807"), ""},
		{"mpid negative", "mpid", num("-7636538281262557000"), ""},
		{"mpid overflow", "mpid", num("9223372036854775808"), "mpid: must be an integer that fits 64 bits"},
		{"mpid float", "mpid", num("1.5"), "mpid: must be an integer"},
		{"mpid exponent", "mpid", num("1e18"), "mpid: must be an integer"},
		{"mpid string", "mpid", "123", "mpid: must be an integer that fits 64 bits, got \"123\""},

		// identities
		{"customerid refused", "user_identities.customerid", "c", `user_identities.customerid: unknown field (did you mean customer_id?)`},
		{"other_id_10 accepted", "user_identities.other_id_10", "x", ""},
		{"other_id_11 refused", "user_identities.other_id_11", "x", "user_identities.other_id_11: unknown field"},
		{"mobile_number accepted", "user_identities.mobile_number", "+15555550100", ""},
		{"identity number refused", "user_identities.customer_id", num("42"), "user_identities.customer_id: must be a string, got number"},
		{"partner identity number refused", "partner_identities.namiml_user_id", num("1"), `partner_identities["namiml_user_id"]: must be a string`},

		// device_info
		{"platform lower-case refused", "device_info.platform", "ios", `device_info.platform: must be one of iOS Android`},
		{"platform desktop", "device_info.platform", "desktop", ""},
		{"platform fire_tv", "device_info.platform", "fire_tv", ""},
		{"idfv not uuid", "device_info.ios_idfv", "not-a-uuid", `device_info.ios_idfv: must be a UUID string, got "not-a-uuid"`},
		{"idfa not uuid", "device_info.ios_advertising_id", "1234", "device_info.ios_advertising_id: must be a UUID"},
		{"gaid not uuid", "device_info.android_advertising_id", "38400000-8cf0-11bd-b23e-10b96e40000", "device_info.android_advertising_id: must be a UUID"},
		{"gaid upper-case uuid", "device_info.android_advertising_id", "38400000-8CF0-11BD-B23E-10B96E40000D", ""},
		{"device_info unknown field", "device_info.idfa", "x", "device_info.idfa: unknown field"},
		{"application os unknown", "application_info.os", "iOS", `application_info.os: must be one of`},

		// events
		{"event_type missing", "events.0.event_type", remove, "events[0].event_type: is required"},
		{"event_type unknown", "events.0.event_type", "custom", `events[0].event_type: must be one of custom_event`},
		{"event_type system", "events.0.event_type", "user_attribute_change", `events[0].event_type: "user_attribute_change" is generated by mParticle`},
		{"event data missing", "events.0.data", remove, "events[0].data: is required"},
		{"event extra key", "events.0.name", "x", "events[0].name: unknown field"},
		{"event data unknown field", ev0 + "eventName", "x", "events[0].data.eventName: unknown field"},
		{"timestamp absent", ev0 + "timestamp_unixtime_ms", remove, ""},
		{"timestamp seconds", ev0 + "timestamp_unixtime_ms", num("1700000000"), "events[0].data.timestamp_unixtime_ms: 1700000000 looks like seconds"},
		{"timestamp microseconds", ev0 + "timestamp_unixtime_ms", num("1700000000000000"), "looks like microseconds"},
		{"timestamp string", ev0 + "timestamp_unixtime_ms", "1700000000000", "events[0].data.timestamp_unixtime_ms: must be an integer"},
		{"timestamp float", ev0 + "timestamp_unixtime_ms", num("1700000000000.5"), "timestamp_unixtime_ms: must be an integer"},
		{"source_message_id not uuid", ev0 + "source_message_id", "evt-1", "events[0].data.source_message_id: must be a UUID"},
		{"source_message_id null", ev0 + "source_message_id", nil, ""},

		// custom attributes
		{"attr object refused", ev0 + "custom_attributes.obj", map[string]any{}, `events[0].data.custom_attributes["obj"]: must be a string, number or boolean, got object`},
		{"attr array refused", ev0 + "custom_attributes.list", []any{"a"}, `custom_attributes["list"]: must be a string, number or boolean, got array`},
		{"attr null refused", ev0 + "custom_attributes.nil", nil, `custom_attributes["nil"]: must be a string, number or boolean, got null`},
		{"attr name 256", ev0 + "custom_attributes." + strings.Repeat("n", 256), "v", ""},
		{"attr name 257", ev0 + "custom_attributes." + strings.Repeat("n", 257), "v", "attribute name is 257 characters, over the limit of 256"},
		{"attr value 4096", ev0 + "custom_attributes.v", strings.Repeat("é", 4096), ""},
		{"attr value 4097", ev0 + "custom_attributes.v", strings.Repeat("é", 4097), `custom_attributes["v"]: value is 4097 characters, over the limit of 4096`},
		{"100 attributes", ev0 + "custom_attributes", attrs(100, "v"), ""},
		{"101 attributes", ev0 + "custom_attributes", attrs(101, "v"), "events[0].data.custom_attributes: has 101 attributes, over the limit of 100"},

		// custom_event
		{"event_name missing", ev0 + "event_name", remove, "events[0].data.event_name: is required"},
		{"event_name empty", ev0 + "event_name", "", "events[0].data.event_name: must not be empty"},
		{"event_name too long", ev0 + "event_name", strings.Repeat("e", 257), "event_name: is 257 characters, over the limit of 256"},
		{"custom_event_type missing", ev0 + "custom_event_type", remove, "events[0].data.custom_event_type: is required"},
		{"custom_event_type unknown", ev0 + "custom_event_type", "unknown", "events[0].data.custom_event_type: must be one of navigation"},
		{"custom_event_type attribution", ev0 + "custom_event_type", "attribution", ""},

		// commerce_event
		{"commerce without action", commerce + "product_action", remove, "events[1].data: a commerce_event needs exactly one of product_action, promotion_action, product_impressions; got none"},
		{"commerce with two", commerce + "promotion_action", map[string]any{"action": "view"}, "got product_action, promotion_action"},
		{"commerce promotion only", commerce + "product_action", map[string]any{"action": "purchase"}, ""},
		{"product action unknown", commerce + "product_action.action", "buy", `events[1].data.product_action.action: must be one of add_to_cart`},
		{"product action wish_list", commerce + "product_action.action", "remove_from_wish_list", ""},
		{"product action wishlist refused", commerce + "product_action.action", "remove_from_wishlist", "product_action.action: must be one of"},
		{"product action field unknown", commerce + "product_action.revenue", num("1"), "events[1].data.product_action.revenue: unknown field"},
		{"product price string", commerce + "product_action.products.0.price", "9.99", "events[1].data.product_action.products[0].price: must be a number"},
		{"currency lower-case", commerce + "currency_code", "usd", "events[1].data.currency_code: must be an ISO 4217 code"},
		{"impressions only", "events.1.data", map[string]any{"product_impressions": []any{
			map[string]any{"product_impression_list": "paywall", "products": []any{map[string]any{"id": "sku1"}}}}}, ""},
		{"impressions need list", "events.1.data", map[string]any{"product_impressions": []any{
			map[string]any{"products": []any{}}}}, "events[1].data.product_impressions[0].product_impression_list: is required"},

		// user attributes
		{"user attr list 1000", "user_attributes.l", strList(1000, 1), ""},
		{"user attr entry 512", "user_attributes.l", strList(2, 512), ""},
		{"user attr list 1001", "user_attributes.l", strList(1001, 1), `user_attributes["l"]: list has 1001 entries, over the limit of 1000`},
		{"user attr entry 513", "user_attributes.l", strList(1, 513), `user_attributes["l"][0]: list entry is 513 characters, over the limit of 512`},
		{"user attr list number", "user_attributes.l", []any{"a", num("1")}, `user_attributes["l"][1]: list entries must be strings, got number`},
		{"user attr object", "user_attributes.o", map[string]any{"a": "b"}, `user_attributes["o"]: must be a string, number or boolean, got object`},
		{"user attr null", "user_attributes.n", nil, `user_attributes["n"]: must not be null`},
		{"user attr value 4097", "user_attributes.s", strings.Repeat("v", 4097), "value is 4097 characters"},
		{"user attr name 257", "user_attributes." + strings.Repeat("n", 257), "v", "attribute name is 257 characters"},
		{"101 user attrs", "user_attributes", attrs(101, "v"), "user_attributes: has 101 attributes, over the limit of 100"},
		{"reserved user attr", "user_attributes.$country", "DE", ""},

		// consent
		{"gdpr by purpose", "consent_state.gdpr", map[string]any{"marketing": map[string]any{"consented": true, "document": "v1"}}, ""},
		{"ccpa", "consent_state.ccpa", map[string]any{"data_sale_opt_out": map[string]any{"consented": false}}, ""},
		{"gdpr consented missing", "consent_state.gdpr", map[string]any{"marketing": map[string]any{"document": "v1"}}, `consent_state.gdpr["marketing"].consented: is required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := decodeBatch(t, baseBatch)
			if tt.path != "" {
				set(t, m, tt.path, tt.val)
			}
			msgs := validateBatch(marshal(t, m))
			if tt.want == "" {
				if len(msgs) != 0 {
					t.Fatalf("want accepted, got %q", msgs)
				}
				return
			}
			if len(msgs) != 1 || !strings.Contains(msgs[0], tt.want) {
				t.Fatalf("want one message containing %q, got %q", tt.want, msgs)
			}
		})
	}
}

func TestValidateBatchTooLarge(t *testing.T) {
	m := decodeBatch(t, baseBatch)
	events := m["events"].([]any)
	// 40 events with a 4000-character attribute: each rule holds, the batch is ~160 KB.
	for range 40 {
		events = append(events, map[string]any{"event_type": "custom_event", "data": map[string]any{
			"event_name": "e", "custom_event_type": "other",
			"custom_attributes": map[string]any{"big": strings.Repeat("x", 4000)},
		}})
	}
	m["events"] = events
	raw := marshal(t, m)
	msgs := validateBatch(raw)
	want := fmt.Sprintf("(batch): batch is %d bytes, the limit is under 128000", len(raw))
	if len(msgs) != 1 || msgs[0] != want {
		t.Fatalf("got %q, want [%q]", msgs, want)
	}
}

func TestValidateReportsEveryViolationInOrder(t *testing.T) {
	m := decodeBatch(t, baseBatch)
	set(t, m, "environment", "staging")
	set(t, m, "events.0.data.event_name", remove)
	set(t, m, "device_info.platform", "ios")
	msgs := validateBatch(marshal(t, m))
	var paths []string
	for _, msg := range msgs {
		paths = append(paths, msg[:strings.Index(msg, ":")])
	}
	want := []string{"device_info.platform", "environment", "events[0].data.event_name"}
	if !slices.Equal(paths, want) {
		t.Fatalf("paths %q, want %q (messages %q)", paths, want, msgs)
	}
}

func TestInboundEventTypesAllHaveSpecs(t *testing.T) {
	got := slices.Sorted(maps.Keys(eventDataSpecs))
	want := slices.Sorted(slices.Values(inboundEventTypes))
	if !slices.Equal(got, want) {
		t.Fatalf("specs for %q, inbound types %q", got, want)
	}
	for _, st := range systemEventTypes {
		if _, ok := eventDataSpecs[st]; ok {
			t.Errorf("system type %q must not be accepted", st)
		}
	}
}

// testdata/sdk_batch.json is shaped like an SDK-produced batch: under our rules it carries
// fields mParticle sets itself and two system event types. This test documents exactly
// what is refused, and that the rest of it (session, crash, breadcrumb, push, network,
// screen, custom and commerce events; the common device_info fields; integration and
// search-ads attributes; a negative 64-bit mpid) is accepted.
func TestSDKStyleBatch(t *testing.T) {
	raw := readSample(t)
	msgs := validateBatch(raw)
	want := []string{
		"batch_id: is set by mParticle and must not be sent",
		`events[0].event_type: "user_attribute_change" is generated by mParticle and not accepted inbound`,
		`events[2].event_type: "user_identity_change" is generated by mParticle and not accepted inbound`,
		"sdk_version: is set by mParticle and must not be sent",
		"source_info: is set by mParticle and must not be sent",
		"timestamp_unixtime_ms: is set by mParticle and must not be sent",
	}
	if !slices.Equal(msgs, want) {
		t.Fatalf("sample violations:\n got %q\nwant %q", msgs, want)
	}

	fixed := sampleFixed(t, raw)
	if msgs := validateBatch(fixed); len(msgs) != 0 {
		t.Fatalf("fixed sample refused: %q", msgs)
	}
}

// sampleFixed drops from the sample what our rules refuse.
func sampleFixed(t *testing.T, raw []byte) []byte {
	t.Helper()
	m := decodeBatch(t, string(raw))
	for _, k := range []string{"batch_id", "sdk_version", "source_info", "timestamp_unixtime_ms"} {
		delete(m, k)
	}
	var kept []any
	for _, e := range m["events"].([]any) {
		switch e.(map[string]any)["event_type"] {
		case "user_attribute_change", "user_identity_change":
		default:
			kept = append(kept, e)
		}
	}
	m["events"] = kept
	return marshal(t, m)
}

func TestValidateInvalidJSON(t *testing.T) {
	msgs := validateBatch([]byte(`{"environment": "production",}`))
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0], "(batch): invalid JSON") {
		t.Fatalf("got %q", msgs)
	}
	// A top-level array is not a batch.
	msgs = validateBatch(bytes.TrimSpace([]byte(`[{"environment": "production"}]`)))
	if len(msgs) != 1 || !strings.Contains(msgs[0], "must be an object, got array") {
		t.Fatalf("got %q", msgs)
	}
}
