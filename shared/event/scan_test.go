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

// notJSON reports whether err is Decode's refusal of a body that is not JSON at all.
func notJSON(err error) bool {
	var ie *InvalidError
	return errors.As(err, &ie) && ie.Field == "" &&
		(ie.Reason == "body is empty" || strings.HasPrefix(ie.Reason, "body is not valid JSON"))
}

// The pass accepts exactly what json.Valid accepts, wherever in the body the value is: at
// the top, in a member the event reads, in one it skips, in a user list.
func TestScanMatchesJSONValid(t *testing.T) {
	values := []string{
		// Valid.
		`0`, `-0`, `1`, `-12.5e+3`, `1E-2`, `0.0`, `123456789012345678901234567890e999999`,
		`true`, `false`, `null`, `""`, `"a"`, `"\"\\\/\b\f\n\r\t"`, `"\u00e9\uD83D\uDE00"`, `"\ud800"`,
		"\"\xff\xfe\"", "\"\xed\xa0\x80\"", `"é"`, `[]`, `{}`, `[1,"a",{"b":[null]}]`, ` [ 1 , 2 ] `,
		"{\"a\" :\t1 ,\r\n\"b\":{}}", `{"a":1,"a":2}`, `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		// Invalid.
		``, ` `, `-`, `01`, `1.`, `.5`, `1e`, `1e+`, `+1`, `0x10`, `1_000`, `NaN`, `Infinity`, `tru`, `nul`,
		`True`, `nulll`, `"`, `"a`, `"\x"`, `"\u12"`, `"\u12G4"`, "\"a\x00b\"", "\"\x1f\"", "\"\t\"",
		`'a'`, `[`, `[1,]`, `[,1]`, `[1 2]`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,"a":1}`, `{"a" 1}`,
		`{a:1}`, `{1:1}`, `{"a":1]`, `[1}`, `]`, `}`, `1 2`, "\u00a0", "\x00", "[\v]", "\f1",
	}
	for _, v := range values {
		for _, tmpl := range []string{
			"%s",
			`{"id":%s}`,
			`{"unknown":%s}`,
			`{"user":%s}`,
			`{"user":{"active_skus":%s,"id":"u"}}`,
			`{"user":{"active_skus":[%s]}}`,
			`{"device":{"model":%s}}`,
			`[%s]`,
		} {
			body := strings.Replace(tmpl, "%s", v, 1)
			_, err := Decode([]byte(body))
			if got, want := notJSON(err), !json.Valid([]byte(body)); got != want {
				t.Errorf("%q: refused as not JSON = %v, json.Valid = %v (err %v)", body, got, !want, err)
			}
		}
	}
}

// Nesting is bounded as json.Valid bounds it (10,000 levels), by an explicit stack, so a body
// of nothing but brackets cannot exhaust the goroutine's stack.
func TestScanNestingDepth(t *testing.T) {
	nest := func(prefix string, n int, suffix string) []byte {
		return []byte(prefix + strings.Repeat("[", n) + strings.Repeat("]", n) + suffix)
	}
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"top level at the limit", nest("", maxDepth, "")},
		{"top level over the limit", nest("", maxDepth+1, "")},
		{"member at the limit", nest(`{"x":`, maxDepth-1, "}")},
		{"member over the limit", nest(`{"x":`, maxDepth, "}")},
		{"user member at the limit", nest(`{"user":{"active_skus":`, maxDepth-2, "}}")},
		{"user member over the limit", nest(`{"user":{"active_skus":`, maxDepth-1, "}}")},
		{"objects over the limit", []byte(strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1))},
		{"100k unclosed", []byte(strings.Repeat("[", 100_000))},
		{"100k closed", nest(`{"x":`, 100_000, "}")},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.body)
			if got, want := notJSON(err), !json.Valid(c.body); got != want {
				t.Errorf("refused as not JSON = %v, json.Valid = %v (err %v)", got, !want, err)
			}
		})
	}
}

// sample is the sample of typ with raw JSON text spliced in as the last member of the object
// at path (the top level when path is empty; the samples' details objects hold no objects).
func sample(t *testing.T, typ Type, path, member string) []byte {
	t.Helper()
	body := eventtest.Body(t, typ, nil)
	if path == "" {
		return []byte(body[:len(body)-1] + "," + member + "}")
	}
	key := `"` + path + `":{`
	i := strings.Index(body, key)
	if i < 0 {
		t.Fatalf("no %s object in the sample", path)
	}
	i += strings.IndexByte(body[i:], '}')
	return []byte(body[:i] + "," + member + body[i:])
}

// Members the event does not have are skipped whatever they hold, and never degrade it.
func TestDecodeSkipsUnknownMembers(t *testing.T) {
	want, err := Decode(eventtest.Sample(SubscriptionPurchased))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{
		`{"id":"x","user":{"id":"y"},"a":[1,{"b":[[],{}]}]}`, `[[["id"]],{"type":null}]`, `"}]\"{["`,
		`123456789012345678901234567890123456789e-99999`, `-0.0E+0`, `true`, `null`, `{}`, `[]`,
	} {
		for _, path := range []string{"", "user", "device", "subscription"} {
			body := sample(t, SubscriptionPurchased, path, `"extra":`+v)
			ev, err := Decode(body)
			if err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if !reflect.DeepEqual(ev, want) {
				t.Errorf("unknown member %s in %q changed the event:\n%+v\nwant %+v", v, path, ev, want)
			}
		}
	}
}

// Whitespace of any of JSON's four kinds around every token, and members in any order, decode
// to the same event as the sample.
func TestDecodeLayoutDoesNotMatter(t *testing.T) {
	for _, typ := range AllTypes {
		want, err := Decode(eventtest.Sample(typ))
		if err != nil {
			t.Fatal(err)
		}
		compact := eventtest.Body(t, typ, nil) // json.Marshal sorts the members
		var spaced strings.Builder
		inString := false
		for i := 0; i < len(compact); i++ {
			c := compact[i]
			spaced.WriteByte(c)
			switch {
			case c == '"' && (i == 0 || compact[i-1] != '\\'):
				inString = !inString
			case !inString && strings.IndexByte("{}[]:,", c) >= 0:
				spaced.WriteString(" \t\r\n")
			}
		}
		for name, body := range map[string]string{"compact": compact, "spaced": " \n" + spaced.String() + "\t\r\n"} {
			ev, err := Decode([]byte(body))
			if err != nil {
				t.Fatalf("%s %s: %v", typ, name, err)
			}
			if !reflect.DeepEqual(ev, want) {
				t.Errorf("%s %s:\n%+v\nwant %+v", typ, name, ev, want)
			}
		}
	}
}

// Strings decode as encoding/json decodes them: escapes resolved, surrogate pairs joined, and
// lone surrogates and invalid UTF-8 replaced by U+FFFD.
func TestDecodeStrings(t *testing.T) {
	for _, c := range []struct {
		name, json, want string
	}{
		{"plain", `"Pixel 8"`, "Pixel 8"},
		{"utf-8", `"Zürich 東京"`, "Zürich 東京"},
		{"escapes", `"a\"b\\c\/d\be\ff\ng\rh\ti"`, "a\"b\\c/d\be\ff\ng\rh\ti"},
		{"unicode escape", `"caf\u00e9 \u6771"`, "café 東"},
		{"surrogate pair", `"\uD83D\uDE00"`, "😀"},
		{"lone high surrogate", `"a\ud83db"`, "a\uFFFDb"},
		{"lone low surrogate", `"\uDE00"`, "\uFFFD"},
		{"high surrogate then escape", `"\ud83d\u0041"`, "\uFFFDA"},
		{"two high surrogates", `"\ud83d\ud83d\ude00"`, "\uFFFD😀"},
		{"invalid utf-8", "\"a\xffb\"", "a\uFFFDb"},
		{"truncated utf-8", "\"\xe6\x9d\"", "\uFFFD\uFFFD"},
		{"encoded surrogate", "\"\xed\xa0\x80\"", "\uFFFD\uFFFD\uFFFD"},
		{"nul escape", `"a\u0000b"`, "a\x00b"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var std string
			if err := json.Unmarshal([]byte(c.json), &std); err != nil || std != c.want {
				t.Fatalf("encoding/json reads %q (%v); the case expects %q", std, err, c.want)
			}
			ev, err := Decode(sample(t, DeviceImpression, "device", `"model":`+c.json))
			if err != nil {
				t.Fatal(err)
			}
			if ev.Device.Model != strings.TrimSpace(c.want) {
				t.Errorf("model = %q, want %q", ev.Device.Model, c.want)
			}
			ev, err = Decode(sample(t, SubscriptionRenewed, "user", `"active_skus":[`+c.json+`]`))
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.TrimSpace(c.want); len(ev.User.ActiveSKUs) != 1 || ev.User.ActiveSKUs[0] != want {
				t.Errorf("active_skus = %q, want [%q]", ev.User.ActiveSKUs, want)
			}
		})
	}
}

// A repeated member: the last one wins, a details object included, which is read anew (the
// members of an earlier one are forgotten), as encoding/json would.
func TestDecodeRepeatedMembers(t *testing.T) {
	body := sample(t, SubscriptionRenewed, "", `"user":{"id":"second"},"platform":"android","device":"dropped","Device":{"model":"last"}`)
	ev, err := Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	if ev.User.ID != "second" || ev.User.ExternalID != "" || ev.User.ActiveSKUs != nil {
		t.Errorf("user = %+v, want only the second object's id", ev.User)
	}
	if ev.Platform != "android" {
		t.Errorf("platform = %q, want the last", ev.Platform)
	}
	if ev.Device == nil || ev.Device.Model != "last" || ev.Device.ID != "" {
		t.Errorf("device = %+v, want the last object", ev.Device)
	}
	var std struct {
		User struct {
			ID         string `json:"id"`
			ExternalID string `json:"external_id"`
		} `json:"user"`
	}
	if err := json.Unmarshal(body, &std); err != nil || std.User.ExternalID != "" && ev.User.ExternalID == "" {
		// encoding/json merges repeated objects into one struct; the decoder takes the
		// last object as sent, which is what the producer's last word says.
		t.Logf("encoding/json: %+v %v", std, err)
	}
	if len(ev.Degraded) != 0 {
		t.Errorf("degraded = %v", ev.Degraded)
	}
}

// Numbers of any size are valid JSON: one the event reads degrades its field, one it skips
// changes nothing.
func TestDecodeHugeNumbers(t *testing.T) {
	huge := strings.Repeat("9", 5000)
	for _, c := range []struct {
		member string
		check  func(ev *Event) bool
		field  Field
	}{
		{`"quantity":` + huge, func(ev *Event) bool { return *ev.Transaction.Quantity == 1 }, FieldTransactionQuantity},
		{`"quantity":1e400`, func(ev *Event) bool { return *ev.Transaction.Quantity == 1 }, FieldTransactionQuantity},
		{`"quantity":-1e-400`, func(ev *Event) bool { return *ev.Transaction.Quantity == 1 }, FieldTransactionQuantity},
		{`"price":` + huge, func(ev *Event) bool { return ev.Transaction.Price == "" }, FieldTransactionPrice},
		{`"price":1e999`, func(ev *Event) bool { return ev.Transaction.Price == "" }, FieldTransactionPrice},
		{`"extra":` + huge + `.` + huge + `e-` + huge, func(ev *Event) bool { return ev.Transaction.Price == "9.99" }, ""},
	} {
		ev, err := Decode(sample(t, DeviceTransaction, "transaction", c.member))
		if err != nil {
			t.Fatalf("%.40s: %v", c.member, err)
		}
		var want Degraded
		if c.field != "" {
			want = Degraded{c.field}
		}
		if !c.check(ev) || !reflect.DeepEqual(ev.Degraded, want) {
			t.Errorf("%.40s: transaction %+v, degraded %v", c.member, ev.Transaction, ev.Degraded)
		}
	}
}

// Decoding a sample allocates the body's copy and one block for the event; the budget is 12.
func TestDecodeAllocations(t *testing.T) {
	for _, typ := range AllTypes {
		body := eventtest.Sample(typ)
		if n := testing.AllocsPerRun(100, func() { _, _ = Decode(body) }); n > 12 {
			t.Errorf("%s: %v allocations, want at most 12", typ, n)
		}
	}
}

// The member names' hash table has a slot for each name of each object (init panics
// otherwise) and finds them all, in any ASCII case.
func TestMemberLookup(t *testing.T) {
	for i, m := range wireKeys {
		for _, name := range []string{m.name, strings.ToUpper(m.name)} {
			if got := member(m.kind, name, 0); got != i {
				t.Errorf("member(%d, %q) = %d, want %d", m.kind, name, got, i)
			}
		}
		if got := member(m.kind, m.name+"x", 0); got != -1 {
			t.Errorf("member(%d, %q) = %d, want -1", m.kind, m.name+"x", got)
		}
	}
	if got := member(objEvent, `\u0069d`, strEscaped); got != wID {
		t.Errorf(`member("\u0069d") = %d, want %d`, got, wID)
	}
	for _, k := range []string{"", "ıd", "ſtore", "İD", strings.Repeat("a", 100)} {
		if got := member(objEvent, k, strNonASCII); got != -1 {
			t.Errorf("member(%q) = %d, want -1", k, got)
		}
	}
}

// parseRFC3339 accepts what time.Parse accepts of the strings that have rfc3339Shape (the
// old reading: both, then UTC), and finds the same instant.
func TestParseRFC3339(t *testing.T) {
	for _, s := range []string{
		"2024-05-14T09:29:50Z", "2024-05-14T09:29:50.1Z", "2024-05-14T09:29:50.123456789Z", "2024-05-14T09:29:50.1234567891234Z",
		"2024-05-14T09:29:50.000000000999Z", "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "2000-02-29T12:00:00Z",
		"1900-02-29T12:00:00Z", "2100-02-29T12:00:00Z", "0000-02-29T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z",
		"2024-04-31T00:00:00Z", "2024-04-30T00:00:00Z", "2024-00-10T00:00:00Z", "2024-13-10T00:00:00Z", "2024-01-00T00:00:00Z",
		"2024-01-32T00:00:00Z", "2024-05-14T24:00:00Z", "2024-05-14T23:60:00Z", "2024-05-14T23:59:60Z", "2024-05-14T23:59:59+23:59",
		"2024-05-14T00:00:00-23:59", "2024-05-14T09:29:50.5-11:30", "2024-05-14T09:29:50+02:00", "2024-05-14T09:29:50+00:00",
		"2024-05-14T09:29:50-00:00", "2000-01-01T00:30:00+01:00", "2100-12-31T23:30:00-01:00", "2024-05-14T09:29:50+24:00",
		"2024-05-14T09:29:50+02:60", "2024-05-14T9:29:50Z", "2024-05-14T09:29:50,5Z", "2024-05-14T09:29:50.Z", "2024-05-14",
	} {
		want, werr := oldParseTime(s)
		got, ok := parseRFC3339(s)
		if ok != (werr == nil) || ok && (!got.Equal(want) || !reflect.DeepEqual(got, want)) {
			t.Errorf("parseRFC3339(%q) = %v, %v; time.Parse reads %v, %v", s, got, ok, want, werr)
		}
	}
}

// oldParseTime is how parseTime read a time before parseRFC3339: time.Parse, the shape, UTC.
func oldParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err == nil && !rfc3339Shape(s) {
		err = errors.New("shape")
	}
	return t.UTC(), err
}
