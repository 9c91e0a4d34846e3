package event

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
)

// FuzzDecode: Decode never panics, and either returns an event that validates and re-encodes
// and re-decodes to an equal event (normalising is idempotent), or an *InvalidError. Every
// degraded field it reports is one of Fields, so metrics stay bounded. Decode's own pass
// refuses a body as not JSON exactly when json.Valid does, reads a string as encoding/json
// does (the input is also tried as a string's contents) and a time as time.Parse does (and
// as a time).
func FuzzDecode(f *testing.F) {
	for _, typ := range AllTypes {
		f.Add(eventtest.Sample(typ))
	}
	for _, s := range []string{
		``, `null`, `[]`, `{}`, `{"id":1}`, `{"type":"device.impression"}`,
		`{"id":"6a1e0000-0000-4000-8001-00000000000c","type":"device.impression","occurred_at":"2024-05-14T09:29:50Z",` +
			`"app_id":"a","app_platform_id":"p","platform":"ios","device":{"id":"3f2504e0-4f89-41d3-9a0c-0305e82c3301"},"impression":{}}`,
		`{"user":{"active_skus":["a",2]}}`,
		`{"transaction":{"quantity":1.5,"price":"1e3"}}`,
		`{"occurred_at":"0000-01-01T00:00:00Z"}`,
		`{"ID":"x","id":"e","Type":"device.impression","occurred_at":"2024-05-14T09:29:50Z","APP_ID":"a","app_platform_id":"p",` +
			`"platform":"ios","\u0064evice":{"id":"d","idfa":"]}"},"user":{"id":"u","active_skus":["[\"",{"a":[1]},"b"]}}`,
		`{"id":"e","type":"user.subscription.renewed","occurred_at":"2024-05-14T09:29:50Z","app_id":"a","app_platform_id":"p",` +
			`"platform":" iOS","app_env":"Staging","user":{"id":"u","active_skus":[" a",1,null],"device_ids":[],"in_trial_period":"true"},` +
			`"subscription":{"price":9.99,"currency":"usd","expires_at":"soon","purchase_env":"SANDBOX"}}`,
		`{"id":"e","type":"device.transaction","occurred_at":"2024-05-14T09:29:50Z","app_id":"a","app_platform_id":"p",` +
			`"platform":"ios","device":{"id":"d","idfa":7},"user":"x","transaction":{"quantity":"2","price":"1,5","source":"Cron"}}`,
		// Syntax at the edges of json.Valid's grammar, and strings at the edges of decoding.
		`{"id":-0.0e+0}`, `{"id":01}`, `{"id":1.}`, `{"id":"\u12"}`, "{\"id\":\"\x01\"}", `{"id":"a",}`, `{"id" "a"}`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		"{ \"id\" :\t\"e\" ,\r\n\"x\":[ {} , [ ] , null , true , false , 1e9 ] }  \n",
		`\uD83D\uDE00 \ud83d \uDE00 \u00e9 \/ \\ \" \b\f\n\r\t`, "\xff\xed\xa0\x80 é 東",
		`{"user":{"id":"u"},"user":{"ID":"v"},"\u0075ser":5,"USER":{"id":"w"}}`,
		"2024-02-29T23:59:59.1234567891+23:59", "2023-02-29T00:00:00Z", "0000-12-31T24:00:00-00:00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if lit := append(append([]byte{'"'}, body...), '"'); json.Valid(lit) {
			var std string
			if err := json.Unmarshal(lit, &std); err != nil {
				t.Fatalf("encoding/json: %v", err)
			}
			end, flags, ok := scanString(string(lit), 0)
			if got, _ := (raw{text: string(lit), flags: flags}).str(); !ok || end != len(lit) || got != std {
				t.Fatalf("string %q read as %q (ok %v, end %d), encoding/json reads %q", lit, got, ok, end, std)
			}
		}
		want, werr := oldParseTime(string(body))
		if got, ok := parseRFC3339(string(body)); ok != (werr == nil) || ok && !reflect.DeepEqual(got, want) {
			t.Fatalf("parseRFC3339(%q) = %v, %v; time.Parse reads %v, %v", body, got, ok, want, werr)
		}
		ev, err := Decode(body)
		// DecodeString reads a string body as Decode reads the same bytes.
		if evs, serr := DecodeString(string(body)); !reflect.DeepEqual(evs, ev) || !reflect.DeepEqual(serr, err) {
			t.Fatalf("DecodeString = %+v, %v; Decode = %+v, %v", evs, serr, ev, err)
		}
		if len(body) <= MaxBodyBytes && notJSON(err) != !json.Valid(body) {
			t.Fatalf("refused as not JSON = %v, json.Valid = %v: %v", notJSON(err), json.Valid(body), err)
		}
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("error is %T, want *InvalidError: %v", err, err)
			}
			return
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("decoded event does not validate: %v", err)
		}
		// The decoder's own scanner reads members as encoding/json does (keys matched in
		// any case, escaped keys unescaped, the last of repeated keys winning). Compared on
		// keys without the letters k and s, which encoding/json also folds from Unicode.
		var std struct {
			ID    any `json:"id"`
			Type  any `json:"type"`
			AppID any `json:"app_id"`
		}
		_ = json.Unmarshal(body, &std)
		if std.ID != ev.ID || std.Type != string(ev.Type) || std.AppID != ev.AppID {
			t.Fatalf("members read differently: %q %q %q, encoding/json %v %v %v", ev.ID, ev.Type, ev.AppID, std.ID, std.Type, std.AppID)
		}
		for _, f := range ev.Degraded {
			if !KnownField(f) {
				t.Fatalf("degraded field %q is not one of Fields", f)
			}
		}
		again, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		// Escaping can make the re-encoding larger than MaxBodyBytes; the size limit is
		// Decode's only check that does not depend on content, so skip it here.
		ev2, err := decode(string(again))
		if err != nil {
			t.Fatalf("re-decode of %s: %v", again, err)
		}
		ev.Degraded, ev2.Degraded = nil, nil
		if !reflect.DeepEqual(ev, ev2) {
			t.Fatalf("round trip differs:\n%+v\n%+v", ev, ev2)
		}
	})
}
