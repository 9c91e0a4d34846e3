package mparticle

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf8"
)

// AppendBatch appends the JSON encoding of b to dst. The bytes are exactly those of
// json.Marshal(b) (same field order, omitempty rules, attributes in the order given,
// HTML-safe string escaping and number formats), so a redelivered event still produces an
// identical body; it exists because encoding/json's reflection dominated the client's CPU
// time per event.
//
// The output is passed from function to function and returned, never kept in a struct
// behind a pointer: a slice stored through a pointer takes a write barrier, which costs on
// every append while the garbage collector is marking.
func AppendBatch(dst []byte, b *Batch) ([]byte, error) {
	var err error
	out := appendBatch(dst, b, &err)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// field writes `,` (or `{` before the first field of an object) and the field's name, given
// quoted and followed by its colon (`"name":`): the struct tags, plain ASCII needing no
// escaping.
func field(buf []byte, first *bool, quotedName string) []byte {
	if *first {
		buf = append(buf, '{')
		*first = false
	} else {
		buf = append(buf, ',')
	}
	return append(buf, quotedName...)
}

// closeObject ends an object opened by field, or writes {} when no field was written.
func closeObject(buf []byte, first bool) []byte {
	if first {
		return append(buf, '{', '}')
	}
	return append(buf, '}')
}

// strField writes a string field that has omitempty.
func strField(buf []byte, first *bool, name, v string) []byte {
	if v != "" {
		buf = field(buf, first, name)
		buf = appendJSONString(buf, v)
	}
	return buf
}

// appendBatch writes b; the first error (a number JSON cannot write) goes to *err, and the
// output is then to be discarded.
func appendBatch(buf []byte, b *Batch, err *error) []byte {
	first := true
	buf = field(buf, &first, `"environment":`)
	buf = appendJSONString(buf, b.Environment)
	if len(b.Events) > 0 {
		buf = field(buf, &first, `"events":`)
		buf = append(buf, '[')
		for i := range b.Events {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendEvent(buf, &b.Events[i], err)
		}
		buf = append(buf, ']')
	}
	if u := b.UserIdentities; u != nil {
		buf = field(buf, &first, `"user_identities":`)
		f := true
		buf = strField(buf, &f, `"customer_id":`, u.CustomerID)
		buf = strField(buf, &f, `"email":`, u.Email)
		buf = strField(buf, &f, `"other":`, u.Other)
		buf = closeObject(buf, f)
	}
	if len(b.PartnerIdentities) > 0 {
		buf = field(buf, &first, `"partner_identities":`)
		buf = appendAttributes(buf, b.PartnerIdentities)
	}
	if len(b.UserAttributes) > 0 {
		buf = field(buf, &first, `"user_attributes":`)
		buf = appendUserAttributes(buf, b.UserAttributes)
	}
	if d := b.DeviceInfo; d != nil {
		buf = field(buf, &first, `"device_info":`)
		f := true
		buf = strField(buf, &f, `"platform":`, d.Platform)
		buf = strField(buf, &f, `"ios_idfv":`, d.IOSIDFV)
		buf = strField(buf, &f, `"ios_advertising_id":`, d.IOSAdvertisingID)
		buf = strField(buf, &f, `"android_advertising_id":`, d.AndroidAdvertisingID)
		buf = strField(buf, &f, `"android_uuid":`, d.AndroidUUID)
		buf = strField(buf, &f, `"os_version":`, d.OSVersion)
		buf = strField(buf, &f, `"device_model":`, d.DeviceModel)
		buf = strField(buf, &f, `"locale_language":`, d.LocaleLanguage)
		buf = strField(buf, &f, `"locale_country":`, d.LocaleCountry)
		buf = closeObject(buf, f)
	}
	if a := b.ApplicationInfo; a != nil {
		buf = field(buf, &first, `"application_info":`)
		f := true
		buf = strField(buf, &f, `"application_version":`, a.ApplicationVersion)
		buf = strField(buf, &f, `"os":`, a.OS)
		buf = closeObject(buf, f)
	}
	if c := b.Context; c != nil {
		buf = field(buf, &first, `"context":`)
		f := true
		if p := c.DataPlan; p != nil {
			buf = field(buf, &f, `"data_plan":`)
			pf := true
			buf = field(buf, &pf, `"plan_id":`)
			buf = appendJSONString(buf, p.PlanID)
			if p.PlanVersion != 0 {
				buf = field(buf, &pf, `"plan_version":`)
				buf = strconv.AppendInt(buf, int64(p.PlanVersion), 10)
			}
			buf = closeObject(buf, pf)
		}
		buf = closeObject(buf, f)
	}
	if b.MPID != 0 {
		buf = field(buf, &first, `"mpid":`)
		buf = strconv.AppendInt(buf, b.MPID, 10)
	}
	buf = strField(buf, &first, `"ip":`, b.IP)
	buf = strField(buf, &first, `"source_request_id":`, b.SourceRequestID)
	return closeObject(buf, first)
}

func appendEvent(buf []byte, ev *Event, err *error) []byte {
	first := true
	buf = field(buf, &first, `"event_type":`)
	buf = appendJSONString(buf, ev.EventType)
	buf = field(buf, &first, `"data":`)
	d := &ev.Data
	f := true
	buf = field(buf, &f, `"timestamp_unixtime_ms":`)
	buf = strconv.AppendInt(buf, d.TimestampUnixtimeMS, 10)
	buf = strField(buf, &f, `"source_message_id":`, d.SourceMessageID)
	if len(d.CustomAttributes) > 0 {
		buf = field(buf, &f, `"custom_attributes":`)
		buf = appendAttributes(buf, d.CustomAttributes)
	}
	buf = strField(buf, &f, `"event_name":`, d.EventName)
	buf = strField(buf, &f, `"custom_event_type":`, d.CustomEventType)
	if pa := d.ProductAction; pa != nil {
		buf = field(buf, &f, `"product_action":`)
		buf = appendProductAction(buf, pa, err)
	}
	buf = strField(buf, &f, `"currency_code":`, d.CurrencyCode)
	buf = closeObject(buf, f)
	return closeObject(buf, first)
}

func appendProductAction(buf []byte, pa *ProductAction, err *error) []byte {
	first := true
	buf = field(buf, &first, `"action":`)
	buf = appendJSONString(buf, pa.Action)
	buf = strField(buf, &first, `"transaction_id":`, pa.TransactionID)
	if pa.TotalAmount != nil {
		buf = field(buf, &first, `"total_amount":`)
		buf = appendFloat(buf, *pa.TotalAmount, err)
	}
	if len(pa.Products) > 0 {
		buf = field(buf, &first, `"products":`)
		buf = append(buf, '[')
		for i := range pa.Products {
			if i > 0 {
				buf = append(buf, ',')
			}
			p := &pa.Products[i]
			f := true
			buf = strField(buf, &f, `"id":`, p.ID)
			buf = strField(buf, &f, `"name":`, p.Name)
			if p.Price != nil {
				buf = field(buf, &f, `"price":`)
				buf = appendFloat(buf, *p.Price, err)
			}
			if p.Quantity != nil {
				buf = field(buf, &f, `"quantity":`)
				buf = appendFloat(buf, *p.Quantity, err)
			}
			buf = closeObject(buf, f)
		}
		buf = append(buf, ']')
	}
	return closeObject(buf, first)
}

// appendAttributes writes the members in the order given: the transform builds them in key
// order, as encoding/json ordered the maps they replaced, so that order is what the wire
// carries.
func appendAttributes(buf []byte, a Attributes) []byte {
	buf = append(buf, '{')
	for i := range a {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONString(buf, a[i].Key)
		buf = append(buf, ':')
		buf = appendJSONString(buf, a[i].Value)
	}
	return append(buf, '}')
}

func appendUserAttributes(buf []byte, a UserAttributes) []byte {
	buf = append(buf, '{')
	for i := range a {
		if i > 0 {
			buf = append(buf, ',')
		}
		u := &a[i]
		buf = appendJSONString(buf, u.Key)
		buf = append(buf, ':')
		if u.List == nil {
			buf = appendJSONString(buf, u.Value)
			continue
		}
		buf = append(buf, '[')
		for j, s := range u.List {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONString(buf, s)
		}
		buf = append(buf, ']')
	}
	return append(buf, '}')
}

// MarshalJSON writes a as AppendBatch does, so json.Marshal of a batch gives the same bytes.
func (a Attributes) MarshalJSON() ([]byte, error) {
	if a == nil {
		return []byte("null"), nil
	}
	return appendAttributes(nil, a), nil
}

// MarshalJSON writes a as AppendBatch does, so json.Marshal of a batch gives the same bytes.
func (a UserAttributes) MarshalJSON() ([]byte, error) {
	if a == nil {
		return []byte("null"), nil
	}
	return appendUserAttributes(nil, a), nil
}

// UnmarshalJSON reads a JSON object of strings, its members in key order (the order the
// transform builds them in); the order of the document is not kept. Tests and the contract
// server decode received batches with it.
func (a *Attributes) UnmarshalJSON(data []byte) error {
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	if m == nil {
		*a = nil
		return nil
	}
	out := make(Attributes, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, Attribute{k, m[k]})
	}
	*a = out
	return nil
}

// UnmarshalJSON reads a JSON object whose values are strings or lists of strings, in key order
// as Attributes.UnmarshalJSON does. Other values are refused: this product sends none.
func (a *UserAttributes) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	if m == nil {
		*a = nil
		return nil
	}
	out := make(UserAttributes, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		u := UserAttribute{Key: k}
		if err := json.Unmarshal(m[k], &u.Value); err != nil {
			if err := json.Unmarshal(m[k], &u.List); err != nil || u.List == nil {
				return fmt.Errorf("mparticle: user attribute %q is neither a string nor a list of strings", k)
			}
		}
		out = append(out, u)
	}
	*a = out
	return nil
}

// appendFloat writes f as encoding/json does for a float64 (ES6 number formatting); NaN and
// infinities have no JSON form and fail the batch (the first failure goes to *err), as they
// do with json.Marshal.
func appendFloat(buf []byte, f float64, err *error) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		if *err == nil {
			*err = &json.UnsupportedValueError{Value: reflect.ValueOf(f), Str: strconv.FormatFloat(f, 'g', -1, 64)}
		}
		return append(buf, '0') // keeps the (discarded) output well formed
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	buf = strconv.AppendFloat(buf, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9, as in encoding/json.
		n := len(buf)
		if n >= 4 && buf[n-4] == 'e' && buf[n-3] == '-' && buf[n-2] == '0' {
			buf[n-2] = buf[n-1]
			buf = buf[:n-1]
		}
	}
	return buf
}

const hexDigits = "0123456789abcdef"

// plainByte marks the bytes copied as they are: ASCII from space up, except the quote, the
// backslash and the HTML-sensitive <, > and &.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plainWord reports whether all eight bytes of x are plainByte: ASCII from space up, and
// none of " \\ < > &. Each term has a byte's high bit set where that byte is under 0x20,
// is not ASCII, or is one of the five: the classic "has a zero byte" test, (t-1)&^t, on x
// xor the byte; < and > (0x3c, 0x3e) are tested together by setting bit 1 first, " and &
// (0x22, 0x26) by setting bit 2. The answer is exact as a whole, though a borrow may mark
// more bytes than the first.
func plainWord(x uint64) bool {
	ltgt := x | ones*0x02 ^ ones*'>'
	qamp := x | ones*0x04 ^ ones*'&'
	bs := x ^ ones*'\\'
	m := (x-ones*0x20)&^x | x | (ltgt-ones)&^ltgt | (qamp-ones)&^qamp | (bs-ones)&^bs
	return m&highs == 0
}

// appendJSONString quotes s as encoding/json does with HTML escaping on (its default):
// <, > and & become \u003c, \u003e, \u0026; U+2028 and U+2029 are escaped; each invalid
// UTF-8 byte becomes U+FFFD, written as the character itself as encoding/json writes it since
// Go 1.27 (the toolchain the functions are built with; 1.26 wrote the six-byte escape, which
// decodes to the same string).
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Skip what needs no escaping (most of a batch's text), eight bytes at a time, then
		// byte by byte up to the next byte that needs a look.
		for ; i+8 <= len(s); i += 8 {
			w := s[i : i+8]
			x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
				uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
			if !plainWord(x) {
				break
			}
		}
		for i < len(s) && plainByte[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
