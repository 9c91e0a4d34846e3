package mparticle

import (
	"encoding/json"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf8"
)

// AppendBatch appends the JSON encoding of b to dst. The bytes are exactly those of
// json.Marshal(b) (same field order, omitempty rules, sorted map keys, HTML-safe string
// escaping and number formats), so a redelivered event still produces an identical body;
// it exists because encoding/json's reflection and per-map key sorting dominated the
// client's CPU time per event. Values of UserAttributes of types other than string,
// []string, []any, bool, int, int64, float64 and nil are encoded by encoding/json.
func AppendBatch(dst []byte, b *Batch) ([]byte, error) {
	e := encoder{buf: dst}
	e.batch(b)
	if e.err != nil {
		return dst, e.err
	}
	return e.buf, nil
}

// encoder appends JSON to buf; the first error stops nothing but is the one reported, so
// the append calls need no checks of their own.
type encoder struct {
	buf []byte
	err error
}

// field writes `,` (or `{` before the first field of an object) and the field's name, given
// quoted and followed by its colon (`"name":`): the struct tags, plain ASCII needing no
// escaping.
func (e *encoder) field(first *bool, quotedName string) {
	if *first {
		e.buf = append(e.buf, '{')
		*first = false
	} else {
		e.buf = append(e.buf, ',')
	}
	e.buf = append(e.buf, quotedName...)
}

// close ends an object opened by field, or writes {} when no field was written.
func (e *encoder) close(first bool) {
	if first {
		e.buf = append(e.buf, '{', '}')
		return
	}
	e.buf = append(e.buf, '}')
}

func (e *encoder) str(s string) { e.buf = appendJSONString(e.buf, s) }

// strField writes a string field that has omitempty.
func (e *encoder) strField(first *bool, name, v string) {
	if v != "" {
		e.field(first, name)
		e.str(v)
	}
}

func (e *encoder) batch(b *Batch) {
	first := true
	e.field(&first, `"environment":`)
	e.str(b.Environment)
	if len(b.Events) > 0 {
		e.field(&first, `"events":`)
		e.buf = append(e.buf, '[')
		for i := range b.Events {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.event(&b.Events[i])
		}
		e.buf = append(e.buf, ']')
	}
	if u := b.UserIdentities; u != nil {
		e.field(&first, `"user_identities":`)
		f := true
		e.strField(&f, `"customer_id":`, u.CustomerID)
		e.strField(&f, `"email":`, u.Email)
		e.strField(&f, `"other":`, u.Other)
		e.close(f)
	}
	if len(b.PartnerIdentities) > 0 {
		e.field(&first, `"partner_identities":`)
		e.stringMap(b.PartnerIdentities)
	}
	if len(b.UserAttributes) > 0 {
		e.field(&first, `"user_attributes":`)
		e.anyMap(b.UserAttributes)
	}
	if d := b.DeviceInfo; d != nil {
		e.field(&first, `"device_info":`)
		f := true
		e.strField(&f, `"platform":`, d.Platform)
		e.strField(&f, `"ios_idfv":`, d.IOSIDFV)
		e.strField(&f, `"ios_advertising_id":`, d.IOSAdvertisingID)
		e.strField(&f, `"android_advertising_id":`, d.AndroidAdvertisingID)
		e.strField(&f, `"android_uuid":`, d.AndroidUUID)
		e.strField(&f, `"os_version":`, d.OSVersion)
		e.strField(&f, `"device_model":`, d.DeviceModel)
		e.strField(&f, `"locale_language":`, d.LocaleLanguage)
		e.strField(&f, `"locale_country":`, d.LocaleCountry)
		e.close(f)
	}
	if a := b.ApplicationInfo; a != nil {
		e.field(&first, `"application_info":`)
		f := true
		e.strField(&f, `"application_version":`, a.ApplicationVersion)
		e.strField(&f, `"os":`, a.OS)
		e.close(f)
	}
	if c := b.Context; c != nil {
		e.field(&first, `"context":`)
		f := true
		if p := c.DataPlan; p != nil {
			e.field(&f, `"data_plan":`)
			pf := true
			e.field(&pf, `"plan_id":`)
			e.str(p.PlanID)
			if p.PlanVersion != 0 {
				e.field(&pf, `"plan_version":`)
				e.buf = strconv.AppendInt(e.buf, int64(p.PlanVersion), 10)
			}
			e.close(pf)
		}
		e.close(f)
	}
	if b.MPID != 0 {
		e.field(&first, `"mpid":`)
		e.buf = strconv.AppendInt(e.buf, b.MPID, 10)
	}
	e.strField(&first, `"ip":`, b.IP)
	e.strField(&first, `"source_request_id":`, b.SourceRequestID)
	e.close(first)
}

func (e *encoder) event(ev *Event) {
	first := true
	e.field(&first, `"event_type":`)
	e.str(ev.EventType)
	e.field(&first, `"data":`)
	d := &ev.Data
	f := true
	e.field(&f, `"timestamp_unixtime_ms":`)
	e.buf = strconv.AppendInt(e.buf, d.TimestampUnixtimeMS, 10)
	e.strField(&f, `"source_message_id":`, d.SourceMessageID)
	if len(d.CustomAttributes) > 0 {
		e.field(&f, `"custom_attributes":`)
		e.stringMap(d.CustomAttributes)
	}
	e.strField(&f, `"event_name":`, d.EventName)
	e.strField(&f, `"custom_event_type":`, d.CustomEventType)
	if pa := d.ProductAction; pa != nil {
		e.field(&f, `"product_action":`)
		e.productAction(pa)
	}
	e.strField(&f, `"currency_code":`, d.CurrencyCode)
	e.close(f)
	e.close(first)
}

func (e *encoder) productAction(pa *ProductAction) {
	first := true
	e.field(&first, `"action":`)
	e.str(pa.Action)
	e.strField(&first, `"transaction_id":`, pa.TransactionID)
	if pa.TotalAmount != nil {
		e.field(&first, `"total_amount":`)
		e.float(*pa.TotalAmount)
	}
	if len(pa.Products) > 0 {
		e.field(&first, `"products":`)
		e.buf = append(e.buf, '[')
		for i := range pa.Products {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			p := &pa.Products[i]
			f := true
			e.strField(&f, `"id":`, p.ID)
			e.strField(&f, `"name":`, p.Name)
			if p.Price != nil {
				e.field(&f, `"price":`)
				e.float(*p.Price)
			}
			if p.Quantity != nil {
				e.field(&f, `"quantity":`)
				e.float(*p.Quantity)
			}
			e.close(f)
		}
		e.buf = append(e.buf, ']')
	}
	e.close(first)
}

// keysOnStack is how many entries a map may have before ordering them needs the heap; the
// batches this product builds have at most a dozen per map.
const keysOnStack = 32

// The maps are ordered by key as encoding/json does (by bytes). Small maps are copied into
// arrays on the stack once and ordered through an index of bytes: no allocation, no second
// lookup per key, and no pointer moved while sorting (which would cost write barriers
// whenever the garbage collector is marking).

func (e *encoder) stringMap(m map[string]string) {
	if len(m) > keysOnStack {
		e.bigStringMap(m)
		return
	}
	var keys, vals [keysOnStack]string
	var order [keysOnStack]uint8
	n := 0
	for k, v := range m {
		keys[n], vals[n], order[n] = k, v, uint8(n)
		n++
	}
	sortOrder(order[:n], &keys)
	e.buf = append(e.buf, '{')
	for i, o := range order[:n] {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.str(keys[o])
		e.buf = append(e.buf, ':')
		e.str(vals[o])
	}
	e.buf = append(e.buf, '}')
}

func (e *encoder) anyMap(m map[string]any) {
	if len(m) > keysOnStack {
		e.bigAnyMap(m)
		return
	}
	var keys [keysOnStack]string
	var vals [keysOnStack]any
	var order [keysOnStack]uint8
	n := 0
	for k, v := range m {
		keys[n], vals[n], order[n] = k, v, uint8(n)
		n++
	}
	sortOrder(order[:n], &keys)
	e.buf = append(e.buf, '{')
	for i, o := range order[:n] {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.str(keys[o])
		e.buf = append(e.buf, ':')
		e.value(vals[o])
	}
	e.buf = append(e.buf, '}')
}

// sortOrder insertion-sorts order by the keys it indexes (few keys: fewer comparisons than
// a general sort's set-up).
func sortOrder(order []uint8, keys *[keysOnStack]string) {
	for i := 1; i < len(order); i++ {
		o := order[i]
		k := keys[o]
		j := i
		for ; j > 0 && keys[order[j-1]] > k; j-- {
			order[j] = order[j-1]
		}
		order[j] = o
	}
}

func (e *encoder) bigStringMap(m map[string]string) {
	keys := slices.Sorted(maps.Keys(m))
	e.buf = append(e.buf, '{')
	for i, k := range keys {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.str(k)
		e.buf = append(e.buf, ':')
		e.str(m[k])
	}
	e.buf = append(e.buf, '}')
}

func (e *encoder) bigAnyMap(m map[string]any) {
	keys := slices.Sorted(maps.Keys(m))
	e.buf = append(e.buf, '{')
	for i, k := range keys {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.str(k)
		e.buf = append(e.buf, ':')
		e.value(m[k])
	}
	e.buf = append(e.buf, '}')
}

// value encodes a user attribute value: the types transform produces directly, anything
// else through encoding/json.
func (e *encoder) value(v any) {
	switch v := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case string:
		e.str(v)
	case []string:
		if v == nil {
			e.buf = append(e.buf, "null"...)
			return
		}
		e.buf = append(e.buf, '[')
		for i, s := range v {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.str(s)
		}
		e.buf = append(e.buf, ']')
	case []any: // what a batch decoded from JSON holds
		if v == nil {
			e.buf = append(e.buf, "null"...)
			return
		}
		e.buf = append(e.buf, '[')
		for i, x := range v {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.value(x)
		}
		e.buf = append(e.buf, ']')
	case bool:
		e.buf = strconv.AppendBool(e.buf, v)
	case int:
		e.buf = strconv.AppendInt(e.buf, int64(v), 10)
	case int64:
		e.buf = strconv.AppendInt(e.buf, v, 10)
	case float64:
		e.float(v)
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			e.fail(err)
			return
		}
		e.buf = append(e.buf, raw...)
	}
}

func (e *encoder) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

// float writes f as encoding/json does for a float64 (ES6 number formatting); NaN and
// infinities have no JSON form and fail the batch, as they do with json.Marshal.
func (e *encoder) float(f float64) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		e.fail(&json.UnsupportedValueError{Value: reflect.ValueOf(f), Str: strconv.FormatFloat(f, 'g', -1, 64)})
		e.buf = append(e.buf, '0') // keeps the (discarded) output well formed
		return
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	e.buf = strconv.AppendFloat(e.buf, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9, as in encoding/json.
		n := len(e.buf)
		if n >= 4 && e.buf[n-4] == 'e' && e.buf[n-3] == '-' && e.buf[n-2] == '0' {
			e.buf[n-2] = e.buf[n-1]
			e.buf = e.buf[:n-1]
		}
	}
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
