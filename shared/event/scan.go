package event

import (
	"math"
	"math/bits"
)

// Decoding is one pass over the body. The pass validates JSON syntax exactly as strictly as
// json.Valid (RFC 8259: the number grammar, escapes, no control characters in strings, the
// literals, nesting up to maxDepth, nothing after the value; bytes of invalid UTF-8 inside
// strings are accepted, as json.Valid accepts them) and, on the way, records where the value
// of each member the event reads starts and ends. It builds nothing: values stay offsets into
// one copy of the body until decode reads them, so one wrong JSON type affects only its own
// field, and a string without escapes becomes a substring of the copy, not an allocation.
// Validating in the same pass, instead of calling json.Valid first and then scanning again,
// makes the pass itself cost about what json.Valid does (BenchmarkDecode is measured against
// BenchmarkValid, the same bodies); FuzzDecode holds the pass to json.Valid's verdict, and
// strings and times to encoding/json's and time.Parse's reading.

// maxDepth is the nesting json.Valid allows: 10,000 arrays and objects, the top-level
// value's included. Deeper bodies are not valid JSON.
const maxDepth = 10000

// Flags of a scanned string: whether reading it needs more than taking its bytes.
const (
	strEscaped  = 1 << iota // has a backslash escape
	strNonASCII             // has a byte >= 0x80, which may be invalid UTF-8
)

// strPlain marks the bytes a string holds as they are: printable ASCII but '"' and '\\'.
// Control characters are invalid in strings; non-ASCII bytes are valid but flagged.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// skipSpace returns the index of the first byte at or after i that is not JSON whitespace.
func skipSpace(b string, i int) int {
	for i < len(b) {
		// Most calls find a token at once: one comparison tells it from every space.
		if c := b[i]; c > ' ' || c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			return i
		}
		i++
	}
	return i
}

// scanString validates the string whose opening quote is b[i]. It returns the index after the
// closing quote and the string's flags; ok is false when the string is not valid JSON.
func scanString(b string, i int) (end int, flags uint8, ok bool) {
	i++
	// Eight bytes at a time while they are plain, which most of a body's strings are: then
	// the first byte that is not plain is the closing quote.
	for i+8 <= len(b) {
		m := specialBytes(load64(b, i))
		if m == 0 {
			i += 8
			continue
		}
		i += bits.TrailingZeros64(m) >> 3
		if b[i] == '"' {
			return i + 1, 0, true
		}
		break
	}
	return scanStringRest(b, i, 0)
}

// scanStringRest is scanString from b[i] on, a byte at a time, for strings with escapes or
// non-ASCII bytes and for the end of the body.
func scanStringRest(b string, i int, flags uint8) (end int, _ uint8, ok bool) {
	for {
		for i < len(b) && strPlain[b[i]] {
			i++
		}
		if i >= len(b) {
			return i, flags, false
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, flags, true
		case c == '\\':
			flags |= strEscaped
			if i+1 >= len(b) {
				return i, flags, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || hex4(b[i+2:i+6]) < 0 {
					return i, flags, false
				}
				i += 6
			default:
				return i, flags, false
			}
		case c < 0x20:
			return i, flags, false
		default:
			flags |= strNonASCII
			i++
		}
	}
}

// load64 reads b[i:i+8] as a little-endian word (the compiler makes it one load).
func load64(b string, i int) uint64 {
	b = b[i : i+8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// specialBytes returns a word whose lowest set bit is the high bit of the first byte of x
// (little-endian) that strPlain does not mark: '"', '\\', a control character or a non-ASCII
// byte. Borrows may set bits above it, never below, so only the lowest is exact.
//
// Each term is the usual "has a zero byte" test without its &^ mask: that mask only clears
// bits of bytes >= 0x80, which the final | x sets again.
func specialBytes(x uint64) uint64 {
	return ((x - 0x20*lsb) | ((x ^ '"'*lsb) - lsb) | ((x ^ '\\'*lsb) - lsb) | x) & msb
}

// hex4 returns the value of four hex digits, or -1.
func hex4(h string) rune {
	var r rune
	for i := 0; i < 4; i++ {
		c := h[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// scanNumber validates the number starting at b[i] (a '-' or a digit) and returns the index
// after it: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?. What follows is the caller's to
// check, so "01" fails there, at the '1'.
func scanNumber(b string, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return i, false
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		i = skipDigits(b, i+1)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

func skipDigits(b string, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// scanLiteral validates true, false or null at b[i].
func scanLiteral(b string, i int) (int, bool) {
	var lit string
	switch b[i] {
	case 't':
		lit = "true"
	case 'f':
		lit = "false"
	default:
		lit = "null"
	}
	if len(b)-i < len(lit) || b[i:i+len(lit)] != lit {
		return i, false
	}
	return i + len(lit), true
}

// skipValue validates the value at or after b[i] (leading whitespace allowed), which sits
// inside depth open arrays and objects, and returns the index after it. It walks nested
// values with an explicit stack instead of recursion, so no body can exhaust the goroutine
// stack; the stack is one bit per level (object or array), in a word for the first 64 levels.
func skipValue(b string, i, depth int) (int, bool) {
	var first [1]uint64
	objects := first[:] // bit l%64 of word l/64: level l is an object
	level := 0          // open containers inside this value
	var ok bool
value:
	i = skipSpace(b, i)
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; c {
	case '"':
		if i, _, ok = scanString(b, i); !ok {
			return i, false
		}
	case '{', '[':
		if depth+level >= maxDepth {
			return i, false
		}
		w, bit := level>>6, uint64(1)<<(level&63)
		if w == len(objects) {
			objects = append(objects, 0)
		}
		if c == '{' {
			objects[w] |= bit
		} else {
			objects[w] &^= bit
		}
		level++
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == c+2 { // '}' is '{'+2 and ']' is '['+2
			i++
			level--
			goto next
		}
		if c == '{' {
			goto member
		}
		goto value
	case 't', 'f', 'n':
		if i, ok = scanLiteral(b, i); !ok {
			return i, false
		}
	default:
		if c != '-' && (c < '0' || c > '9') {
			return i, false
		}
		if i, ok = scanNumber(b, i); !ok {
			return i, false
		}
	}
next:
	if level == 0 {
		return i, true
	}
	i = skipSpace(b, i)
	if i >= len(b) {
		return i, false
	}
	{
		l := level - 1
		isObject := objects[l>>6]&(uint64(1)<<(l&63)) != 0
		switch c := b[i]; {
		case c == ',':
			i++
			if isObject {
				goto member
			}
			goto value
		case c == '}' && isObject, c == ']' && !isObject:
			i++
			level--
			goto next
		}
		return i, false
	}
member:
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != '"' {
		return i, false
	}
	if i, _, ok = scanString(b, i); !ok {
		return i, false
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return i, false
	}
	i++
	goto value
}

// parser is the pass over one body. It reads the body's copy s and records in w where the
// value of each member the event has starts and ends.
type parser struct {
	s string
	i int
	w wire
	// The elements of the user lists, so that decoding does not scan them again: lists[l]
	// says where list l's are in elems, or n is -1 when elems had no room left.
	lists  [4]struct{ first, n int32 }
	elems  [24]span
	nelems int
}

// span is where a member's value is in the body: s[start:end], both 0 when the member is
// absent. Offsets, not substrings, so that recording one stores no pointer.
type span struct {
	start, end int32
	flags      uint8 // of a string: strEscaped, strNonASCII
}

// document validates the whole body and records its members. It reports whether the body is
// valid JSON and whether it is an object.
func (p *parser) document() (valid, object bool) {
	if len(p.s) > math.MaxInt32 {
		return false, false // beyond span's offsets; Decode refuses far smaller bodies
	}
	p.i = skipSpace(p.s, 0)
	if p.i < len(p.s) && p.s[p.i] == '{' {
		object = true
		valid = p.object(objEvent, 1)
	} else {
		p.i, valid = skipValue(p.s, p.i, 0)
	}
	return valid && skipSpace(p.s, p.i) == len(p.s), object
}

// object validates the object at s[p.i] (its '{'), at nesting depth depth, and records the
// values of kind's members. A repeated member is recorded again, so the last wins, as with
// encoding/json; a details object (user, device, ...) is read anew each time.
func (p *parser) object(kind objKind, depth int) bool {
	b := p.s
	i := skipSpace(b, p.i+1)
	if i < len(b) && b[i] == '}' {
		p.i = i + 1
		return true
	}
	indent := newIndent(b, p.i+1, i)
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		k := i
		end, flags, ok := scanString(b, i)
		if !ok {
			return false
		}
		m := memberAt(kind, b, k, end, flags)
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		v := i
		var vflags uint8
		switch {
		case i >= len(b):
			return false
		case b[i] == '"':
			if i, vflags, ok = scanString(b, i); !ok {
				return false
			}
		case m >= wUserActiveEntitlements && m <= wUserDevicePlatforms && b[i] == '[':
			p.i = i
			if !p.list(m-wUserActiveEntitlements, depth) {
				return false
			}
			i = p.i
		case m >= 0 && wireKeys[m].sub != objNone:
			sub := wireKeys[m].sub
			clear(p.w[wireFirst[sub]:wireFirst[sub+1]])
			if b[i] == '{' {
				p.i = i
				if !p.object(sub, depth+1) {
					return false
				}
				i = p.i
				break
			}
			fallthrough
		default:
			if i, ok = skipValue(b, i, depth); !ok {
				return false
			}
		}
		if m >= 0 {
			p.w[m] = span{start: int32(v), end: int32(i), flags: vflags}
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = indent.skip(b, i+1)
		case '}':
			p.i = i + 1
			return true
		default:
			return false
		}
	}
}

// indent is the whitespace before the first member of an object or element of an array, when
// it is one to eight bytes: in indented JSON, the line break and indent that come before
// every other one too, which skip then matches as one word instead of a byte at a time.
type indent struct {
	word, mask uint64 // mask 0: none
	n          int
}

// newIndent returns the indent b[start:end], which skipSpace has found to be whitespace.
func newIndent(b string, start, end int) indent {
	n := end - start
	if n < 1 || n > 8 || start+8 > len(b) {
		return indent{}
	}
	mask := firstMask(n)
	return indent{word: load64(b, start) & mask, mask: mask, n: n}
}

// skip is skipSpace(b, i), at once when b[i:] starts with the indent and then a token.
func (in indent) skip(b string, i int) int {
	if in.mask != 0 && i+9 <= len(b) && load64(b, i)&in.mask == in.word && b[i+in.n] > ' ' {
		return i + in.n
	}
	return skipSpace(b, i)
}

// list validates the array at s[p.i] (its '['), a member of an object at nesting depth depth,
// and records its elements as user list l's.
func (p *parser) list(l, depth int) bool {
	b := p.s
	if depth >= maxDepth {
		return false
	}
	first, fits := p.nelems, true
	i := skipSpace(b, p.i+1)
	if i < len(b) && b[i] == ']' {
		i++
	} else {
		for {
			v := i
			var flags uint8
			var ok bool
			if i < len(b) && b[i] == '"' {
				i, flags, ok = scanString(b, i)
			} else {
				i, ok = skipValue(b, i, depth+1)
			}
			if !ok {
				return false
			}
			if p.nelems < len(p.elems) {
				p.elems[p.nelems] = span{start: int32(v), end: int32(i), flags: flags}
				p.nelems++
			} else {
				fits = false
			}
			if i = skipSpace(b, i); i >= len(b) {
				return false
			}
			if b[i] == ']' {
				i++
				break
			}
			if b[i] != ',' {
				return false
			}
			i = skipSpace(b, i+1)
		}
	}
	p.lists[l].first, p.lists[l].n = int32(first), int32(p.nelems-first)
	if !fits {
		p.lists[l].n = -1
	}
	p.i = i
	return true
}

// elements iterates over the elements of an array the pass has validated.
type elements struct {
	s string // the array's JSON text
	i int
}

// next returns the next element, or false after the last.
func (e *elements) next() (raw, bool) {
	if e.i == 0 {
		e.i = 1 // past '['
	}
	b := e.s
	i := skipSpace(b, e.i)
	if i >= len(b) || b[i] == ']' {
		return raw{}, false
	}
	start := i
	var flags uint8
	if b[i] == '"' {
		i, flags, _ = scanString(b, i)
	} else {
		i, _ = skipValue(b, i, 0)
	}
	v := raw{text: b[start:i], flags: flags}
	if i = skipSpace(b, i); i < len(b) && b[i] == ',' {
		i++
	}
	e.i = i
	return v, true
}

// objKind names the objects whose members the pass records.
type objKind uint8

const (
	objNone objKind = iota
	objEvent
	objUser
	objDevice
	objImpression
	objTransaction
	objSubscription
)

// The members the pass records, an index into wire each, grouped by object in objKind's
// order (wireFirst gives where each object's members start).
const (
	wID = iota
	wType
	wOccurredAt
	wAppID
	wAppPlatformID
	wPlatform
	wStore
	wAppEnv
	wUser
	wDevice
	wImpression
	wTransaction
	wSubscription

	wUserID
	wUserExternalID
	wUserActiveEntitlements
	wUserActiveSKUs
	wUserDeviceIDs
	wUserDevicePlatforms
	wUserFormerSubscriber
	wUserInGracePeriod
	wUserInTrialPeriod
	wUserInIntroOfferPeriod

	wDeviceID
	wDeviceIDFV
	wDeviceIDFA
	wDeviceGAID
	wDeviceAndroidID
	wDeviceOSVersion
	wDeviceModel
	wDeviceLocale
	wDeviceAppVersion
	wDeviceCountry
	wDeviceIP

	wImpressionID
	wImpressionPaywallID
	wImpressionDeveloperPaywallID
	wImpressionName
	wImpressionControllerName
	wImpressionCTAType
	wImpressionInitiator

	wTransactionID
	wTransactionOriginalTransactionID
	wTransactionSKURefID
	wTransactionSKUStoreID
	wTransactionPrice
	wTransactionCurrency
	wTransactionQuantity
	wTransactionPurchaseEnv
	wTransactionSource
	wTransactionSubscriptionInterval
	wTransactionSubscriptionIntervalCount
	wTransactionImpressionID
	wTransactionLocale

	wSubscriptionSKURefID
	wSubscriptionEntitlementRefID
	wSubscriptionOriginalTransactionID
	wSubscriptionPurchaseEnv
	wSubscriptionExpiresAt
	wSubscriptionPrice
	wSubscriptionCurrency

	wireLen
)

// wire holds where the pass found each member.
type wire [wireLen]span

// wireFirst[k] is the index of the first member of kind k's object in wire.
var wireFirst = [...]int{
	objEvent: wID, objUser: wUserID, objDevice: wDeviceID, objImpression: wImpressionID,
	objTransaction: wTransactionID, objSubscription: wSubscriptionSKURefID, objSubscription + 1: wireLen,
}

// wireKeys names each member: its object, its name, and the object its value is read as, if
// any.
var wireKeys = [wireLen]struct {
	kind objKind
	name string
	sub  objKind
}{
	wID: {objEvent, "id", objNone}, wType: {objEvent, "type", objNone},
	wOccurredAt: {objEvent, "occurred_at", objNone}, wAppID: {objEvent, "app_id", objNone},
	wAppPlatformID: {objEvent, "app_platform_id", objNone}, wPlatform: {objEvent, "platform", objNone},
	wStore: {objEvent, "store", objNone}, wAppEnv: {objEvent, "app_env", objNone},
	wUser: {objEvent, "user", objUser}, wDevice: {objEvent, "device", objDevice},
	wImpression: {objEvent, "impression", objImpression}, wTransaction: {objEvent, "transaction", objTransaction},
	wSubscription: {objEvent, "subscription", objSubscription},

	wUserID: {objUser, "id", objNone}, wUserExternalID: {objUser, "external_id", objNone},
	wUserActiveEntitlements: {objUser, "active_entitlements", objNone}, wUserActiveSKUs: {objUser, "active_skus", objNone},
	wUserDeviceIDs: {objUser, "device_ids", objNone}, wUserDevicePlatforms: {objUser, "device_platforms", objNone},
	wUserFormerSubscriber: {objUser, "former_subscriber", objNone}, wUserInGracePeriod: {objUser, "in_grace_period", objNone},
	wUserInTrialPeriod: {objUser, "in_trial_period", objNone}, wUserInIntroOfferPeriod: {objUser, "in_intro_offer_period", objNone},

	wDeviceID: {objDevice, "id", objNone}, wDeviceIDFV: {objDevice, "idfv", objNone}, wDeviceIDFA: {objDevice, "idfa", objNone},
	wDeviceGAID: {objDevice, "gaid", objNone}, wDeviceAndroidID: {objDevice, "android_id", objNone},
	wDeviceOSVersion: {objDevice, "os_version", objNone}, wDeviceModel: {objDevice, "model", objNone},
	wDeviceLocale: {objDevice, "locale", objNone}, wDeviceAppVersion: {objDevice, "app_version", objNone},
	wDeviceCountry: {objDevice, "country", objNone}, wDeviceIP: {objDevice, "ip", objNone},

	wImpressionID: {objImpression, "id", objNone}, wImpressionPaywallID: {objImpression, "paywall_id", objNone},
	wImpressionDeveloperPaywallID: {objImpression, "developer_paywall_id", objNone}, wImpressionName: {objImpression, "name", objNone},
	wImpressionControllerName: {objImpression, "controller_name", objNone}, wImpressionCTAType: {objImpression, "cta_type", objNone},
	wImpressionInitiator: {objImpression, "initiator", objNone},

	wTransactionID: {objTransaction, "id", objNone}, wTransactionOriginalTransactionID: {objTransaction, "original_transaction_id", objNone},
	wTransactionSKURefID: {objTransaction, "sku_ref_id", objNone}, wTransactionSKUStoreID: {objTransaction, "sku_store_id", objNone},
	wTransactionPrice: {objTransaction, "price", objNone}, wTransactionCurrency: {objTransaction, "currency", objNone},
	wTransactionQuantity: {objTransaction, "quantity", objNone}, wTransactionPurchaseEnv: {objTransaction, "purchase_env", objNone},
	wTransactionSource: {objTransaction, "source", objNone}, wTransactionSubscriptionInterval: {objTransaction, "subscription_interval", objNone},
	wTransactionSubscriptionIntervalCount: {objTransaction, "subscription_interval_count", objNone},
	wTransactionImpressionID:              {objTransaction, "impression_id", objNone}, wTransactionLocale: {objTransaction, "locale", objNone},

	wSubscriptionSKURefID: {objSubscription, "sku_ref_id", objNone}, wSubscriptionEntitlementRefID: {objSubscription, "entitlement_ref_id", objNone},
	wSubscriptionOriginalTransactionID: {objSubscription, "original_transaction_id", objNone},
	wSubscriptionPurchaseEnv:           {objSubscription, "purchase_env", objNone}, wSubscriptionExpiresAt: {objSubscription, "expires_at", objNone},
	wSubscriptionPrice: {objSubscription, "price", objNone}, wSubscriptionCurrency: {objSubscription, "currency", objNone},
}

// maxKeyLen is the length of the longest member name.
const maxKeyLen = len("subscription_interval_count")

// keySlots finds a member by name without comparing it to each: the slot of a name is a hash
// of its first eight bytes and its length, and holds those and the member's wire index. The
// multiplier is one under which no two names of an object share a slot; init checks it.
var keySlots [objSubscription + 1][32]keySlot

type keySlot struct {
	first uint64 // the name's first eight bytes (fewer: zero-padded), as firstWord reads them
	n     uint8  // the name's length; 0 for an empty slot
	m     uint8  // the member's wire index
}

const keyHashMul = 0x695de79e8b04ab67

// keySlotOf returns the slot for a name of n bytes whose first word is first.
func keySlotOf(kind objKind, first uint64, n int) *keySlot {
	return &keySlots[kind][((first+uint64(n))*keyHashMul)>>59]
}

// firstMask keeps the first n bytes of a little-endian word (all of them from 8 on).
func firstMask(n int) uint64 { return ^uint64(0) >> (64 - 8*min(n, 8)) }

// firstWord is the first eight bytes of k as a little-endian word, zero-padded.
func firstWord(k string) uint64 {
	if len(k) >= 8 {
		return load64(k, 0)
	}
	var w uint64
	for i := len(k) - 1; i >= 0; i-- {
		w = w<<8 | uint64(k[i])
	}
	return w
}

func init() {
	for i, m := range wireKeys {
		slot := keySlotOf(m.kind, firstWord(m.name), len(m.name))
		if slot.n != 0 {
			panic("event: member names " + m.name + " and " + wireKeys[slot.m].name + " share a hash slot")
		}
		*slot = keySlot{first: firstWord(m.name), n: uint8(len(m.name)), m: uint8(i)}
	}
}

// memberAt is member for the name whose opening quote is b[k] and closing quote b[end-1], in
// line for the usual name: unescaped, spelled as the event's, and followed by at least
// eight bytes of the body, so its first word is one load.
func memberAt(kind objKind, b string, k, end int, flags uint8) int {
	n := end - k - 2
	if flags&strEscaped == 0 && n > 0 && k+9 <= len(b) {
		w := load64(b, k+1) & firstMask(n)
		if e := keySlotOf(kind, w, n); e.first == w && int(e.n) == n && (n <= 8 || sameRest(b[k+1:end-1], wireKeys[e.m].name)) {
			return int(e.m)
		}
	}
	return member(kind, b[k+1:end-1], flags)
}

// lookup returns the wire index of the member of a kind object named exactly k, or -1.
func lookup(kind objKind, k string) int {
	w := firstWord(k)
	if e := keySlotOf(kind, w, len(k)); e.first == w && int(e.n) == len(k) && (len(k) <= 8 || sameRest(k, wireKeys[e.m].name)) {
		return int(e.m)
	}
	return -1
}

// member returns the wire index of member k (the name's JSON text between the quotes, with
// the string's flags) of a kind object, or -1 when the event has no such member. Names
// match exactly or, failing that, in any ASCII case, as encoding/json matches them.
func member(kind objKind, k string, flags uint8) int {
	if flags&strEscaped != 0 {
		k = unquote(k)
	}
	if len(k) == 0 || len(k) > maxKeyLen {
		return -1
	}
	if m := lookup(kind, k); m >= 0 {
		return m
	}
	var buf [maxKeyLen]byte
	upper := false
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
			upper = true
		}
		buf[i] = c
	}
	if !upper {
		return -1
	}
	return lookup(kind, string(buf[:len(k)]))
}

// sameRest is k == name for two names of the same length over 8 bytes whose first eight
// bytes are equal, compared a word at a time in line: runtime.memequal's call and set-up
// would cost more than the comparison.
func sameRest(k, name string) bool {
	n := len(k)
	if n != len(name) {
		return false
	}
	for i := 8; i < n-8; i += 8 {
		if load64(k, i) != load64(name, i) {
			return false
		}
	}
	return load64(k, n-8) == load64(name, n-8) // overlaps the last word compared
}
