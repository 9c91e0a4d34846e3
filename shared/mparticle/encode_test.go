package mparticle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// stdJSON is json.Marshal's output as Go 1.27 writes it: Go 1.26 escaped an invalid UTF-8
// byte's replacement character as \ufffd, 1.27 writes the character itself. It never escapes
// a real U+FFFD, so the rewrite cannot touch anything else.
func stdJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return bytes.ReplaceAll(b, []byte(`\ufffd`), []byte("\uFFFD")), err
}

// mustMatchStdlib fails unless AppendBatch writes exactly what json.Marshal writes.
func mustMatchStdlib(t *testing.T, b *Batch) {
	t.Helper()
	want, wantErr := stdJSON(b)
	prefix := []byte("prefix:")
	got, err := AppendBatch(bytes.Clone(prefix), b)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("AppendBatch err = %v, json.Marshal err = %v", err, wantErr)
	}
	if err != nil {
		return
	}
	if !bytes.HasPrefix(got, prefix) {
		t.Fatalf("AppendBatch did not append to dst: %q", got)
	}
	if got := got[len(prefix):]; !bytes.Equal(got, want) {
		t.Fatalf("AppendBatch differs from json.Marshal:\n got %s\nwant %s", got, want)
	}
}

func f64(v float64) *float64 { return &v }

func TestAppendBatchMatchesEncodingJSON(t *testing.T) {
	var many Attributes
	var manyUser UserAttributes
	for i := range 150 {
		many = append(many, Attribute{fmt.Sprintf("k%03d", 149-i), fmt.Sprint(i)})
		manyUser = append(manyUser, UserAttribute{Key: fmt.Sprintf("a%03d", i), Value: fmt.Sprint(i)})
	}
	tricky := "quote\" back\\ <tag> & amp \b\f\n\r\t \x00\x1f \x7f é 日本 \u2028\u2029 bad:\xff\xfe end"
	tests := []struct {
		name  string
		batch Batch
	}{
		{"zero", Batch{}},
		{"forwarder sample", sampleBatch(7)},
		{"every field", filled(reflect.TypeFor[Batch]()).Interface().(Batch)},
		{"empty maps, slices and structs are omitted or empty", Batch{
			Environment: EnvDevelopment, Events: []Event{}, PartnerIdentities: Attributes{},
			UserAttributes: UserAttributes{}, UserIdentities: &UserIdentities{}, DeviceInfo: &DeviceInfo{},
			ApplicationInfo: &ApplicationInfo{}, Context: &Context{}, MPID: 0,
		}},
		{"data plan without version", Batch{Context: &Context{DataPlan: &DataPlan{}}}},
		{"escaping in keys and values", Batch{
			Environment: tricky, SourceRequestID: tricky, IP: tricky,
			PartnerIdentities: Attributes{{tricky, tricky}, {"<", ">"}},
			UserAttributes:    UserAttributes{{Key: tricky, List: []string{tricky, ""}}, {Key: "<", Value: tricky}},
			Events: []Event{{EventType: tricky, Data: EventData{
				EventName: tricky, CustomAttributes: Attributes{{tricky, tricky}, {"&", "&"}},
			}}},
		}},
		{"user attribute values", Batch{UserAttributes: UserAttributes{
			{Key: "str", Value: "s"}, {Key: "empty", Value: ""}, {Key: "list", List: []string{"a", "b"}},
			{Key: "empty list", List: []string{}}, {Key: "nil list is a string", Value: "v"},
		}}},
		{"many keys, in the order given", Batch{PartnerIdentities: many, UserAttributes: manyUser}},
		{"numbers", Batch{MPID: math.MinInt64, Events: []Event{{Data: EventData{
			TimestampUnixtimeMS: math.MaxInt64,
			ProductAction: &ProductAction{TotalAmount: f64(0), Products: []Product{
				{Price: f64(math.Copysign(0, -1)), Quantity: f64(1)}, {Price: f64(1e-7), Quantity: f64(1e21)},
				{Price: f64(123456789.125), Quantity: f64(1e-6)}, {Price: f64(0.1 + 0.2), Quantity: f64(-1e-9)},
				{Price: f64(math.MaxFloat64), Quantity: f64(math.SmallestNonzeroFloat64)},
				{Price: f64(9.99), Quantity: f64(999999999999999999999.0)},
			}},
		}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { mustMatchStdlib(t, &tt.batch) })
	}
}

// filled returns a value of type t with every field set, so that a field added to the wire
// model but not to AppendBatch makes TestAppendBatchMatchesEncodingJSON fail.
func filled(t reflect.Type) reflect.Value {
	v := reflect.New(t).Elem()
	switch t.Kind() {
	case reflect.String:
		v.SetString("v-" + t.Name() + "-<&>")
	case reflect.Int, reflect.Int64:
		v.SetInt(1700000000123)
	case reflect.Float64:
		v.SetFloat(12.5)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(filled(t.Elem()).Addr())
	case reflect.Slice:
		s := reflect.MakeSlice(t, 2, 2)
		for i := range 2 {
			s.Index(i).Set(filled(t.Elem()))
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(t)
		for _, k := range []string{"zeta", "alpha"} {
			elem := filled(t.Elem())
			if t.Elem().Kind() == reflect.Interface {
				elem = reflect.ValueOf([]string{k, "x"})
			}
			m.SetMapIndex(reflect.ValueOf(k), elem)
		}
		v.Set(m)
	case reflect.Struct:
		for i := range t.NumField() {
			v.Field(i).Set(filled(t.Field(i).Type))
		}
	case reflect.Interface:
		v.Set(reflect.ValueOf("any"))
	default:
		panic("filled: unhandled kind " + t.Kind().String())
	}
	return v
}

func TestAppendBatchRejectsWhatJSONCannotEncode(t *testing.T) {
	tests := []struct {
		name  string
		batch Batch
	}{
		{"NaN price", Batch{Events: []Event{{Data: EventData{ProductAction: &ProductAction{
			Products: []Product{{Price: f64(math.NaN())}}}}}}}},
		{"infinite total", Batch{Events: []Event{{Data: EventData{ProductAction: &ProductAction{
			TotalAmount: f64(math.Inf(-1))}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, wantErr := json.Marshal(&tt.batch)
			if wantErr == nil {
				t.Fatal("test case is encodable by encoding/json")
			}
			dst := []byte("keep")
			out, err := AppendBatch(dst, &tt.batch)
			if err == nil {
				t.Fatal("AppendBatch accepted a value encoding/json refuses")
			}
			if string(out) != "keep" {
				t.Errorf("dst changed on error: %q", out)
			}
			var uv *json.UnsupportedValueError
			var ut *json.UnsupportedTypeError
			if !errors.As(err, &uv) && !errors.As(err, &ut) {
				t.Errorf("error %T %v is not encoding/json's", err, err)
			}
		})
	}
}

// Attributes given in key order encode as encoding/json encodes the map of the same members:
// the wire form of the maps the batch held before (the golden files of package transform pin
// it too), and decoding gives them back.
func TestAttributesEncodeAsMaps(t *testing.T) {
	build := func(odd string) (Attributes, UserAttributes) {
		return Attributes{{"", "empty key"}, {"<", odd}, {"a", ""}, {"b", "x"}, {odd, "t"}},
			UserAttributes{{Key: "empty", List: []string{}}, {Key: "flag", Value: "false"},
				{Key: "list", List: []string{odd, ""}}, {Key: odd, Value: odd}}
	}
	tricky := "quote\" <tag> & \n \u2028 bad:\xff"
	attrs, user := build(tricky)
	// Decoding gives the strings back as JSON carries them: the invalid byte replaced.
	wantAttrs, wantUser := build(strings.ToValidUTF8(tricky, "\uFFFD"))
	attrMap := map[string]string{}
	for _, a := range attrs {
		attrMap[a.Key] = a.Value
	}
	userMap := map[string]any{}
	for _, u := range user {
		userMap[u.Key] = u.Any()
	}
	for _, c := range []struct {
		name                string
		got, asMap, decoded any
		want                any
	}{
		{"attributes", attrs, attrMap, new(Attributes), wantAttrs},
		{"user attributes", user, userMap, new(UserAttributes), wantUser},
	} {
		got, err := stdJSON(c.got)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := stdJSON(c.asMap)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %s, as a map %s", c.name, got, want)
		}
		if err := json.Unmarshal(got, c.decoded); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if back := reflect.ValueOf(c.decoded).Elem().Interface(); !reflect.DeepEqual(back, c.want) {
			t.Errorf("%s decoded as %#v, want %#v", c.name, back, c.want)
		}
	}
	var u UserAttributes
	if err := json.Unmarshal([]byte(`{"n":1}`), &u); err == nil {
		t.Error("a number user attribute was decoded; only strings and lists of strings are modelled")
	}
	if got, ok := attrs.Get("b"); got != "x" || !ok {
		t.Errorf(`Get("b") = %q, %v`, got, ok)
	}
	if _, ok := attrs.Get("zz"); ok {
		t.Error(`Get("zz") found an absent key`)
	}
	if got, ok := user.Get("list"); !ok || !reflect.DeepEqual(got.Any(), []string{tricky, ""}) {
		t.Errorf(`user Get("list") = %#v, %v`, got, ok)
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "\u2028", "\xed\xa0\x80", "a\x00b", strings.Repeat("é<", 40), "\xf0\x9f\x98\x80"} {
		want, _ := stdJSON(s)
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendBatch(f *testing.F) {
	f.Add("production", "key", "<v&>", 9.99, int64(1700000000000))
	f.Add("\xff", "\u2028", "\x00", -1e-7, int64(-1))
	f.Add("", "", "", 1e21, int64(0))
	f.Fuzz(func(t *testing.T, env, k, v string, price float64, ts int64) {
		b := Batch{
			Environment: env, PartnerIdentities: Attributes{{k, v}, {v, k}},
			UserAttributes: UserAttributes{{Key: k, List: []string{v}}, {Key: v, Value: env}},
			Events: []Event{{EventType: v, Data: EventData{TimestampUnixtimeMS: ts,
				CustomAttributes: Attributes{{k, v}},
				ProductAction:    &ProductAction{Action: k, TotalAmount: &price}}}},
		}
		mustMatchStdlib(t, &b)
	})
}

// TestPlainWordAgreesWithPlainByte checks the eight-byte test against the byte table for
// every byte value at every position, and for words made of pairs of neighbouring values
// (where a borrow between bytes could mislead it).
func TestPlainWordAgreesWithPlainByte(t *testing.T) {
	word := func(bs [8]byte) uint64 {
		var x uint64
		for i, b := range bs {
			x |= uint64(b) << (8 * i)
		}
		return x
	}
	want := func(bs [8]byte) bool {
		for _, b := range bs {
			if !plainByte[b] {
				return false
			}
		}
		return true
	}
	for v := range 256 {
		for pos := range 8 {
			bs := [8]byte{'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'}
			bs[pos] = byte(v)
			if got := plainWord(word(bs)); got != want(bs) {
				t.Fatalf("plainWord(% x) = %v, want %v", bs, got, want(bs))
			}
			for _, next := range []int{v - 1, v + 1, 0, 0x20, 0x7f, 0x80} {
				if pos == 7 || next < 0 || next > 255 {
					continue
				}
				bs[pos+1] = byte(next)
				if got := plainWord(word(bs)); got != want(bs) {
					t.Fatalf("plainWord(% x) = %v, want %v", bs, got, want(bs))
				}
				bs[pos+1] = 'a'
			}
		}
	}
}
