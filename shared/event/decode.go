package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Bounds on decoded values. The body itself is at most MaxBodyBytes, which bounds every
// string; these bound what routes and attributes an event, and the size of the user lists.
// Values that only become attributes are not bounded here: the transform cuts them to the
// API's limits.
const (
	// MaxIDLen bounds the identifiers that route or attribute an event (id, app_id,
	// app_platform_id, user.id) and the identity values sent as-is (user.external_id,
	// device.id, device.android_id), in bytes: a longer one is not an identifier, and cutting
	// it could merge two.
	MaxIDLen = 256
	// MaxListLen bounds the user state lists (entries); longer lists are cut.
	MaxListLen = 10000
	// MaxQuantity bounds transaction.quantity: far above any real purchase, and small enough
	// that price × quantity stays exact in decimal arithmetic.
	MaxQuantity = 1_000_000
	// Price bounds: integer and fraction digits of a decimal price string.
	MaxPriceIntDigits  = 12
	MaxPriceFracDigits = 9
)

// Timestamps outside these years are treated as corrupt (a zero time, or seconds sent as ms).
const (
	MinYear = 2000
	MaxYear = 2100
)

// Paywall impression initiators.
const (
	InitiatorNamiML    = "nami_ml"
	InitiatorNamiRules = "nami_rules"
	InitiatorUser      = "user"
	InitiatorUnknown   = "unknown"
)

// Purchase environments.
const (
	PurchaseEnvProduction = "production"
	PurchaseEnvSandbox    = "sandbox"
)

// Transaction sources.
const (
	SourceExternal      = "external"
	SourceNamiTriggered = "nami_triggered"
	SourceUserInitiated = "user_initiated"
	SourceUnknown       = "unknown"
)

// The known values of the enumerations. Values outside them are kept as sent (the producer
// may add values); the environments decide whether data is production, so an unknown one
// there counts as degraded.
var (
	appEnvs       = []string{AppEnvProduction, AppEnvBetaTesting, AppEnvDeviceDevelopment, AppEnvSimulatorDevelopment}
	purchaseEnvs  = []string{PurchaseEnvProduction, PurchaseEnvSandbox}
	initiators    = []string{InitiatorNamiML, InitiatorNamiRules, InitiatorUser, InitiatorUnknown}
	sources       = []string{SourceExternal, SourceNamiTriggered, SourceUserInitiated, SourceUnknown}
	intervalUnits = []string{"day", "week", "month", "quarter", "halfyear", "year"}
)

// ErrInvalid matches every *InvalidError with errors.Is.
var ErrInvalid = errors.New("invalid event")

// InvalidError says why a body is not a valid event. Field is the JSON path of the offending
// field ("" for the body as a whole). Neither Field nor Reason ever contains input values, so
// the error is safe to log.
type InvalidError struct {
	Field  string
	Reason string
	// AppID is the body's app_id when it could be read, so the caller can tell an invalid
	// event of an app it serves from one of an app it does not. It is not part of Error().
	AppID string
}

func (e *InvalidError) Error() string {
	if e.Field == "" {
		return "invalid event: " + e.Reason
	}
	return fmt.Sprintf("invalid event: field %q: %s", e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrInvalid) true for any invalid-input error.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, reason string) *InvalidError { return &InvalidError{Field: field, Reason: reason} }

// raw is one member's JSON value as it appears in the body, unparsed: "" when the member is
// absent. Reading every member this way lets one wrong JSON type degrade its own field
// instead of failing the whole decode, as encoding/json's typed decoding would. Its text is a
// substring of the decoder's copy of the body, so a string value without escapes is read
// without copying.
type raw struct {
	text  string
	flags uint8 // of a string: strEscaped, strNonASCII
}

// v returns the value of member i, as the pass recorded it.
func (d *decoder) v(i int) raw {
	sp := d.p.w[i]
	return raw{text: d.p.s[sp.start:sp.end], flags: sp.flags}
}

// null reports whether the member is absent or JSON null: both mean "not sent".
func (r raw) null() bool { return r.text == "" || r.text == "null" }

// kind names the JSON type of a present value, for error texts (never the value itself).
func (r raw) kind() string {
	switch r.text[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// str returns the value of a JSON string, as encoding/json would decode it.
func (r raw) str() (string, bool) {
	if len(r.text) < 2 || r.text[0] != '"' {
		return "", false
	}
	inner := r.text[1 : len(r.text)-1]
	if r.flags == 0 || r.flags == strNonASCII && utf8.ValidString(inner) {
		return inner, true
	}
	return unquote(inner), true
}

// unquote decodes the contents of a valid JSON string as encoding/json does: escapes
// resolved, a surrogate pair joined, and a lone surrogate or a byte of invalid UTF-8
// replaced by U+FFFD.
func unquote(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			var e byte
			switch s[i+1] {
			case 'b':
				e = '\b'
			case 'f':
				e = '\f'
			case 'n':
				e = '\n'
			case 'r':
				e = '\r'
			case 't':
				e = '\t'
			case 'u':
				r := hex4(s[i+2 : i+6])
				i += 6
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						r2 = hex4(s[i+2 : i+6])
					}
					if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
						r = pair
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				b.WriteRune(r)
				continue
			default: // '"', '\\', '/'
				e = s[i+1]
			}
			b.WriteByte(e)
			i += 2
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			b.WriteRune(r) // utf8.RuneError for each byte of an invalid sequence
			i += n
		}
	}
	return b.String()
}

// Decode parses one SQS message body. It returns an *InvalidError only when the event cannot
// be routed or attributed: the body is not a JSON object or is over MaxBodyBytes; id, type,
// occurred_at, app_id, app_platform_id or platform is missing, of the wrong JSON type or
// unusable (an unknown type, an occurred_at that is not an RFC 3339 time from MinYear to
// MaxYear, an identifier over MaxIDLen); a user.* event has no user.id; a device.* event has
// neither device.id nor user.id.
//
// Anything else is degraded, never refused: an optional value of the wrong JSON type or
// malformed is normalised where the intent is clear (whitespace trimmed, currency upper-cased,
// a price or quantity sent as a number or string converted, a flag sent as "true") or else
// omitted, and its field is recorded in the event's Degraded list. A missing details object
// (subscription, transaction, impression) is not degraded: its attributes are simply absent.
// null means the same as an absent member. Defaults are applied (app_env production, quantity
// 1, timestamps in UTC).
//
// Members are matched as encoding/json matches them (exactly, else in any ASCII case; the last
// of repeated members wins) and strings read as it reads them. The body is read in one pass
// that also validates it as json.Valid would (see scan.go); the event and everything it
// points to take two allocations besides escaped strings and long user lists (one with
// DecodeString, which need not copy the body).
func Decode(body []byte) (*Event, error) {
	if len(body) > MaxBodyBytes {
		return nil, tooLarge()
	}
	// Every value the event keeps is a substring of this one copy, so strings without
	// escapes cost no allocation of their own.
	return decode(string(body))
}

// DecodeString is Decode for a body held as a string, as an SQS message's Body is. A Go
// string cannot change, so the event's strings are substrings of body itself: unlike Decode,
// it copies nothing (and the event keeps body alive, as Decode's keeps its copy).
func DecodeString(body string) (*Event, error) {
	if len(body) > MaxBodyBytes {
		return nil, tooLarge()
	}
	return decode(body)
}

func tooLarge() *InvalidError {
	return invalid("", "body exceeds "+strconv.Itoa(MaxBodyBytes)+" bytes")
}

// decode is DecodeString without the size limit (tests re-decode re-encoded events with it,
// which escaping can make larger than the original body).
func decode(body string) (*Event, error) {
	var d decoder
	d.p.s = body
	if skipSpace(d.p.s, 0) == len(body) {
		return nil, invalid("", "body is empty")
	}
	valid, object := d.p.document()
	if !valid {
		return nil, syntaxError(body)
	}
	if !object {
		return nil, invalid("", "body must be a JSON object")
	}
	d.blk = new(block)
	d.deg = d.blk.deg[:0]
	d.strs = d.blk.strs[:0]
	ev, err := d.event()
	if err != nil {
		if s, ok := d.v(wAppID).str(); ok && s != "" && len(s) <= MaxIDLen {
			err.AppID = s
		}
		return nil, err
	}
	if len(d.deg) > 0 {
		// Clipped, so that appending to the list never writes into the block.
		ev.Degraded = d.deg[:len(d.deg):len(d.deg)]
	}
	return ev, nil
}

// syntaxError is the error for a body that is not valid JSON. encoding/json finds the
// position again: invalid bodies are rare enough that the pass does not keep it.
func syntaxError(body string) *InvalidError {
	var syn *json.SyntaxError
	if err := json.Unmarshal([]byte(body), new(struct{})); errors.As(err, &syn) {
		return invalid("", "body is not valid JSON (at byte "+strconv.FormatInt(syn.Offset, 10)+")")
	}
	return invalid("", "body is not valid JSON")
}

// block holds a decoded event and everything it points to: its objects, flags and counts,
// its degraded fields and the user lists up to their sizes here. One allocation instead of
// one per object, pointer and list; lists that do not fit, and strings with escapes, are the
// only other allocations besides the body's copy (Decode's; DecodeString makes none).
type block struct {
	ev           Event
	user         User
	device       Device
	impression   Impression
	transaction  Transaction
	subscription Subscription
	expiresAt    time.Time
	flags        [4]bool
	counts       [2]int
	deg          [4]Field
	strs         [8]string
}

// decoder collects the degraded fields of one event and hands out the block's parts.
type decoder struct {
	p    parser // the pass, and where it found each member
	blk  *block
	deg  Degraded
	strs []string // the user lists' entries, back to back
}

func (d *decoder) event() (*Event, *InvalidError) {
	ev := &d.blk.ev
	var err *InvalidError
	if ev.ID, err = requiredID("id", d.v(wID)); err != nil {
		return nil, err
	}
	typ, err := requiredString("type", d.v(wType))
	if err != nil {
		return nil, err
	}
	var known bool
	if ev.Type, known = Type(typ).Canonical(); !known {
		return nil, invalid("type", "unknown event type")
	}
	at, err := requiredString("occurred_at", d.v(wOccurredAt))
	if err != nil {
		return nil, err
	}
	if ev.OccurredAt, err = parseTime("occurred_at", at, MinYear, MaxYear); err != nil {
		return nil, err
	}
	if ev.AppID, err = requiredID("app_id", d.v(wAppID)); err != nil {
		return nil, err
	}
	if ev.AppPlatformID, err = requiredID("app_platform_id", d.v(wAppPlatformID)); err != nil {
		return nil, err
	}
	platform, err := requiredString("platform", d.v(wPlatform))
	if err != nil {
		return nil, err
	}
	// The platforms are lower-case tokens: "iOS" or " ios" can only mean ios.
	trimmed := trimSpace(platform)
	var lowered bool
	if ev.Platform, lowered = asciiLowered(trimmed); lowered || len(trimmed) != len(platform) {
		d.deg.Add(FieldPlatform)
	}
	if ev.Platform == "" {
		return nil, invalid("platform", "required")
	}
	ev.Store = d.text(FieldStore, d.v(wStore))
	ev.AppEnv = d.environment(FieldAppEnv, d.v(wAppEnv), appEnvs)
	if ev.AppEnv == "" {
		ev.AppEnv = AppEnvProduction
	}

	if err := d.user(ev, d.v(wUser)); err != nil {
		return nil, err
	}
	if err := d.device(ev, d.v(wDevice)); err != nil {
		return nil, err
	}
	if d.object(FieldImpression, d.v(wImpression)) {
		ev.Impression = d.impression()
	}
	if d.object(FieldTransaction, d.v(wTransaction)) {
		ev.Transaction = d.transaction()
	}
	if d.object(FieldSubscription, d.v(wSubscription)) {
		ev.Subscription = d.subscription()
	}
	return ev, nil
}

func requiredString(field string, r raw) (string, *InvalidError) {
	if r.null() {
		return "", invalid(field, "required")
	}
	s, ok := r.str()
	if !ok {
		return "", wrongType(field, r, "string")
	}
	if s == "" {
		return "", invalid(field, "required")
	}
	return s, nil
}

func requiredID(field string, r raw) (string, *InvalidError) {
	s, err := requiredString(field, r)
	if err != nil {
		return "", err
	}
	if len(s) > MaxIDLen {
		return "", invalid(field, tooLong(MaxIDLen))
	}
	return s, nil
}

func wrongType(field string, r raw, want string) *InvalidError {
	return invalid(field, "wrong JSON type: got "+r.kind()+", want "+want)
}

func tooLong(n int) string { return "longer than " + strconv.Itoa(n) + " bytes" }

// user reads the user. For a user.* event the user and its id attribute the event and are
// required; for a device.* event they are optional and degrade like any other value.
func (d *decoder) user(ev *Event, r raw) *InvalidError {
	need := ev.Type.IsUser()
	switch {
	case r.null():
		if need {
			return invalid("user", "required for user.* events")
		}
		return nil
	case r.text[0] != '{':
		if need {
			return wrongType("user", r, "object")
		}
		d.deg.Add(FieldUser)
		return nil
	}
	u := &d.blk.user
	switch {
	case d.v(wUserID).null():
		if need {
			return invalid("user.id", "required for user.* events")
		}
		d.deg.Add(FieldUserID)
	default:
		id, ok := d.v(wUserID).str()
		switch {
		case !ok:
			if need {
				return wrongType("user.id", d.v(wUserID), "string")
			}
			d.deg.Add(FieldUserID)
		case id == "":
			if need {
				return invalid("user.id", "required for user.* events")
			}
			d.deg.Add(FieldUserID)
		case len(id) > MaxIDLen:
			if need {
				return invalid("user.id", tooLong(MaxIDLen))
			}
			d.deg.Add(FieldUserID)
		default:
			u.ID = id
		}
	}
	u.ExternalID = d.identity(FieldUserExternalID, d.v(wUserExternalID))
	u.ActiveEntitlements = d.list(FieldUserActiveEntitlements, wUserActiveEntitlements)
	u.ActiveSKUs = d.list(FieldUserActiveSKUs, wUserActiveSKUs)
	u.DeviceIDs = d.list(FieldUserDeviceIDs, wUserDeviceIDs)
	u.DevicePlatforms = d.list(FieldUserDevicePlatforms, wUserDevicePlatforms)
	flags := &d.blk.flags
	u.FormerSubscriber = d.flag(FieldUserFormerSubscriber, d.v(wUserFormerSubscriber), &flags[0])
	u.InGracePeriod = d.flag(FieldUserInGracePeriod, d.v(wUserInGracePeriod), &flags[1])
	u.InTrialPeriod = d.flag(FieldUserInTrialPeriod, d.v(wUserInTrialPeriod), &flags[2])
	u.InIntroOfferPeriod = d.flag(FieldUserInIntroOfferPeriod, d.v(wUserInIntroOfferPeriod), &flags[3])
	ev.User = u
	return nil
}

// device reads the device. A device.* event must be attributable: when it has no user.id,
// its device.id is required, and what is wrong with it is the reason the event is invalid.
func (d *decoder) device(ev *Event, r raw) *InvalidError {
	need := ev.Type.IsDevice() && (ev.User == nil || ev.User.ID == "")
	const reqReason = "required for device.* events without a user.id"
	switch {
	case r.null():
		if need {
			return invalid("device.id", reqReason)
		}
		return nil
	case r.text[0] != '{':
		if need {
			return wrongType("device", r, "object")
		}
		d.deg.Add(FieldDevice)
		return nil
	}
	dev := &d.blk.device
	if !d.v(wDeviceID).null() {
		id, ok := d.v(wDeviceID).str()
		switch {
		case !ok:
			if need {
				return wrongType("device.id", d.v(wDeviceID), "string")
			}
			d.deg.Add(FieldDeviceID)
		case len(id) > MaxIDLen:
			if need {
				return invalid("device.id", tooLong(MaxIDLen))
			}
			d.deg.Add(FieldDeviceID)
		case trimSpace(id) == "":
			if id != "" {
				d.deg.Add(FieldDeviceID)
			}
		default:
			dev.ID = id
		}
	}
	if need && dev.ID == "" {
		return invalid("device.id", reqReason)
	}
	// Whether an advertising or vendor id has the form the API requires depends on the
	// platform the batch is for: the transform checks it.
	dev.IDFV = d.text(FieldDeviceIDFV, d.v(wDeviceIDFV))
	dev.IDFA = d.text(FieldDeviceIDFA, d.v(wDeviceIDFA))
	dev.GAID = d.text(FieldDeviceGAID, d.v(wDeviceGAID))
	dev.AndroidID = d.text(FieldDeviceAndroidID, d.v(wDeviceAndroidID))
	dev.OSVersion = d.text(FieldDeviceOSVersion, d.v(wDeviceOSVersion))
	dev.Model = d.text(FieldDeviceModel, d.v(wDeviceModel))
	dev.Locale = d.text(FieldDeviceLocale, d.v(wDeviceLocale))
	dev.AppVersion = d.text(FieldDeviceAppVersion, d.v(wDeviceAppVersion))
	dev.Country = d.text(FieldDeviceCountry, d.v(wDeviceCountry))
	dev.IP = d.text(FieldDeviceIP, d.v(wDeviceIP))
	ev.Device = dev
	return nil
}

func (d *decoder) impression() *Impression {
	m := &d.blk.impression
	// The block is new, so its zero fields need no writing.
	m.ID = d.text(FieldImpressionID, d.v(wImpressionID))
	m.PaywallID = d.text(FieldImpressionPaywallID, d.v(wImpressionPaywallID))
	m.DeveloperPaywallID = d.text(FieldImpressionDeveloperPaywallID, d.v(wImpressionDeveloperPaywallID))
	m.Name = d.text(FieldImpressionName, d.v(wImpressionName))
	m.ControllerName = d.text(FieldImpressionControllerName, d.v(wImpressionControllerName))
	m.CTAType = d.text(FieldImpressionCTAType, d.v(wImpressionCTAType))
	m.Initiator = d.enum(FieldImpressionInitiator, d.v(wImpressionInitiator), initiators)
	return m
}

func (d *decoder) transaction() *Transaction {
	tx := &d.blk.transaction
	counts := &d.blk.counts
	// The block is new, so its zero fields need no writing.
	tx.ID = d.text(FieldTransactionID, d.v(wTransactionID))
	tx.OriginalTransactionID = d.text(FieldTransactionOriginalTransactionID, d.v(wTransactionOriginalTransactionID))
	tx.SKURefID = d.text(FieldTransactionSKURefID, d.v(wTransactionSKURefID))
	tx.SKUStoreID = d.text(FieldTransactionSKUStoreID, d.v(wTransactionSKUStoreID))
	tx.Price = d.price(FieldTransactionPrice, d.v(wTransactionPrice))
	tx.Currency = d.currency(FieldTransactionCurrency, d.v(wTransactionCurrency))
	tx.Quantity = d.count(FieldTransactionQuantity, d.v(wTransactionQuantity), &counts[0])
	tx.PurchaseEnv = d.environment(FieldTransactionPurchaseEnv, d.v(wTransactionPurchaseEnv), purchaseEnvs)
	tx.Source = d.enum(FieldTransactionSource, d.v(wTransactionSource), sources)
	tx.SubscriptionInterval = d.enum(FieldTransactionSubscriptionInterval, d.v(wTransactionSubscriptionInterval), intervalUnits)
	tx.SubscriptionIntervalCount = d.count(FieldTransactionSubscriptionIntervalCount, d.v(wTransactionSubscriptionIntervalCount), &counts[1])
	tx.ImpressionID = d.text(FieldTransactionImpressionID, d.v(wTransactionImpressionID))
	tx.Locale = d.text(FieldTransactionLocale, d.v(wTransactionLocale))
	if tx.Quantity == nil {
		counts[0] = 1
		tx.Quantity = &counts[0]
	}
	return tx
}

func (d *decoder) subscription() *Subscription {
	s := &d.blk.subscription
	// The block is new, so its zero fields need no writing.
	s.SKURefID = d.text(FieldSubscriptionSKURefID, d.v(wSubscriptionSKURefID))
	s.EntitlementRefID = d.text(FieldSubscriptionEntitlementRefID, d.v(wSubscriptionEntitlementRefID))
	s.OriginalTransactionID = d.text(FieldSubscriptionOriginalTransactionID, d.v(wSubscriptionOriginalTransactionID))
	s.PurchaseEnv = d.environment(FieldSubscriptionPurchaseEnv, d.v(wSubscriptionPurchaseEnv), purchaseEnvs)
	s.Price = d.price(FieldSubscriptionPrice, d.v(wSubscriptionPrice))
	s.Currency = d.currency(FieldSubscriptionCurrency, d.v(wSubscriptionCurrency))
	if at := d.text(FieldSubscriptionExpiresAt, d.v(wSubscriptionExpiresAt)); at != "" {
		// expires_at is informational: only a time that cannot be read is left out.
		if t, err := parseTime("", at, 1970, 9999); err == nil {
			d.blk.expiresAt = t
			s.ExpiresAt = &d.blk.expiresAt
		} else {
			d.deg.Add(FieldSubscriptionExpiresAt)
		}
	}
	return s
}

// object reports whether a details object was sent as an object (the pass has recorded its
// members). Absent or null is not degraded (the object is optional); any other JSON type is.
func (d *decoder) object(f Field, r raw) bool {
	if r.null() {
		return false
	}
	if r.text[0] != '{' {
		d.deg.Add(f)
		return false
	}
	return true
}

// text reads an optional string with surrounding whitespace trimmed. A value of another JSON
// type, or one that is only whitespace, is omitted. "" is the same as absent.
func (d *decoder) text(f Field, r raw) string {
	if r.null() {
		return ""
	}
	s, ok := r.str()
	if !ok {
		d.deg.Add(f)
		return ""
	}
	if t := trimSpace(s); len(t) != len(s) { // trimming only removes
		d.deg.Add(f)
		return t
	}
	return s
}

// identity reads an optional identity value: sent exactly as the producer has it (trimming
// could split one user into two profiles), and omitted when longer than MaxIDLen (cutting
// could merge two).
func (d *decoder) identity(f Field, r raw) string {
	if r.null() {
		return ""
	}
	s, ok := r.str()
	if !ok || len(s) > MaxIDLen || trimSpace(s) == "" {
		if s != "" || !ok {
			d.deg.Add(f)
		}
		return ""
	}
	return s
}

// enum reads a value of an enumeration that only becomes an attribute: a known value in
// another case is normalised; an unknown one passes through as sent (not degraded), since
// the producer may add values.
func (d *decoder) enum(f Field, r raw, known []string) string {
	s := d.text(f, r)
	if lower, changed := asciiLowered(s); changed && contains(known, lower) {
		d.deg.Add(f)
		return lower
	}
	return s
}

// environment reads app_env or a purchase_env, which decide whether the data is production:
// like enum, but an unknown value is degraded too, since it cannot count as production.
func (d *decoder) environment(f Field, r raw, known []string) string {
	s := d.enum(f, r, known)
	if s != "" && !contains(known, s) {
		d.deg.Add(f)
	}
	return s
}

// list reads a user state list. nil means not sent; an empty non-nil list was sent empty.
// Entries that are not strings or are blank are dropped and entries are trimmed; if every
// entry of a non-empty list is dropped the list is treated as not sent, since [] would
// claim the state is "none". A list over MaxListLen entries is cut.
func (d *decoder) list(f Field, m int) []string {
	r := d.v(m)
	if r.null() {
		return nil
	}
	if r.text[0] != '[' {
		d.deg.Add(f)
		return nil
	}
	// The pass has recorded the elements unless there were too many.
	rec := d.p.lists[m-wUserActiveEntitlements]
	it := elements{s: r.text}
	start, items := len(d.strs), 0
	for {
		var e raw
		if rec.n >= 0 {
			if items == int(rec.n) {
				break
			}
			sp := d.p.elems[int(rec.first)+items]
			e = raw{text: d.p.s[sp.start:sp.end], flags: sp.flags}
		} else {
			var more bool
			if e, more = it.next(); !more {
				break
			}
		}
		items++
		s, ok := e.str()
		t := trimSpace(s)
		if !ok || t == "" || len(t) != len(s) {
			d.deg.Add(f)
		}
		if !ok || t == "" {
			continue
		}
		if len(d.strs)-start == MaxListLen {
			d.deg.Add(f)
			break
		}
		d.strs = append(d.strs, t)
	}
	if len(d.strs) == start && items > 0 {
		return nil
	}
	// Clipped: the next list's entries follow in the same array.
	return d.strs[start:len(d.strs):len(d.strs)]
}

// flag reads a user state boolean; "true" and "false" sent as strings are converted.
func (d *decoder) flag(f Field, r raw, v *bool) *bool {
	if r.null() {
		return nil
	}
	switch r.text {
	case "true":
		*v = true
	case "false":
	default:
		s, _ := r.str()
		switch asciiLower(trimSpace(s)) {
		case "true":
			*v = true
		case "false":
		default:
			d.deg.Add(f)
			return nil
		}
		d.deg.Add(f)
	}
	return v
}

// price reads a decimal price string. A JSON number written as a plain decimal ("9.99") is
// taken as that decimal, digit for digit; anything else that IsDecimal refuses ("9,99",
// "-1", "1e3", "free") is omitted rather than guessed.
func (d *decoder) price(f Field, r raw) string {
	if r.null() {
		return ""
	}
	var s string
	if r.text[0] == '"' {
		s = d.text(f, r)
	} else {
		s = r.text // a number literal, or another JSON type IsDecimal refuses
		d.deg.Add(f)
	}
	if s != "" && !IsDecimal(s) {
		d.deg.Add(f)
		return ""
	}
	return s
}

// currency reads an ISO 4217 code, upper-cased; anything but three ASCII letters is omitted.
func (d *decoder) currency(f Field, r raw) string {
	s := d.text(f, r)
	if s == "" {
		return ""
	}
	u, changed := asciiUppered(s)
	if len(u) != 3 || !upperLetter(u[0]) || !upperLetter(u[1]) || !upperLetter(u[2]) {
		d.deg.Add(f)
		return ""
	}
	if changed {
		d.deg.Add(f)
	}
	return u
}

// count reads a positive integer up to MaxQuantity. An integral number written otherwise
// (2.0, 2e0) or a numeric string ("2") is converted; anything else is omitted.
func (d *decoder) count(f Field, r raw, dst *int) *int {
	if r.null() {
		return nil
	}
	lit, quoted := r.text, r.text[0] == '"'
	if quoted {
		s, _ := r.str()
		lit = trimSpace(s)
		d.deg.Add(f)
	}
	n, err := strconv.Atoi(lit)
	if err != nil {
		// Only a JSON number may be written as a float: strconv would also read strings such
		// as "0x1p4" or "Inf".
		x, ferr := strconv.ParseFloat(lit, 64)
		if quoted {
			ferr = err
		}
		if ferr != nil || x != math.Trunc(x) || x < 1 || x > MaxQuantity {
			d.deg.Add(f)
			return nil
		}
		n = int(x)
		d.deg.Add(f)
	}
	if n < 1 || n > MaxQuantity {
		d.deg.Add(f)
		return nil
	}
	*dst = n
	return dst
}

// parseTime reads an RFC 3339 time within [minYear, maxYear], in UTC.
func parseTime(field, s string, minYear, maxYear int) (time.Time, *InvalidError) {
	t, year, ok := parseRFC3339Year(s)
	if !ok {
		return time.Time{}, invalid(field, "must be an RFC 3339 timestamp")
	}
	// The offset moves the time by less than a day, so a year strictly inside the range
	// is inside it in UTC too; only at the edges is the UTC year needed.
	if year <= minYear || year >= maxYear {
		year = t.Year()
	}
	if year < minYear || year > maxYear {
		return time.Time{}, invalid(field, fmt.Sprintf("year must be between %d and %d", minYear, maxYear))
	}
	return t, nil
}

// parseRFC3339 reads a time that has rfc3339Shape, in UTC, accepting what
// time.Parse(time.RFC3339Nano, s) accepts, as the same instant (TestParseRFC3339 and
// FuzzDecode compare them). The shape is checked first, so the fields are digits where they
// should be and only their ranges are left to check; time.Parse would scan them again.
func parseRFC3339(s string) (time.Time, bool) {
	t, _, ok := parseRFC3339Year(s)
	return t, ok
}

// parseRFC3339Year is parseRFC3339 that also returns the year as written (before the offset
// is applied).
func parseRFC3339Year(s string) (time.Time, int, bool) {
	if !rfc3339Shape(s) {
		return time.Time{}, 0, false
	}
	year := int(s[0]-'0')*1000 + int(s[1]-'0')*100 + int(s[2]-'0')*10 + int(s[3]-'0')
	month, day := num2(s[5:7]), num2(s[8:10])
	hour, minute, sec := num2(s[11:13]), num2(s[14:16]), num2(s[17:19])
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, 0, false
	}
	rest, nsec := s[19:], 0
	if rest[0] == '.' {
		n := 1
		for ; n < len(rest) && rest[n] >= '0' && rest[n] <= '9'; n++ {
			// As time.Parse does, digits after the ninth are dropped, not rounded.
			if n <= 9 {
				nsec = nsec*10 + int(rest[n]-'0')
			}
		}
		for k := n; k <= 9; k++ {
			nsec *= 10
		}
		rest = rest[n:]
	}
	// Seconds since the Unix epoch, as time.Date counts them in UTC (the fields are in range,
	// so nothing needs normalising); time.Unix(...).UTC() is the same Time as time.Date's.
	unix := daysSinceEpoch(year, month, day)*86400 + int64(hour*3600+minute*60+sec)
	if rest != "Z" { // rfc3339Shape allows only Z or ±hh:mm, hh < 24 and mm < 60
		offset := int64(num2(rest[1:3])*3600 + num2(rest[4:6])*60)
		if rest[0] == '-' {
			offset = -offset
		}
		unix -= offset
	}
	return time.Unix(unix, int64(nsec)).UTC(), year, true
}

// daysSinceEpoch is the number of days from 1970-01-01 to the given date of the proleptic
// Gregorian calendar (year 0 to 9999, month and day in range): Howard Hinnant's
// days_from_civil, in unsigned arithmetic from the year -400 on, whose divisions are cheaper.
func daysSinceEpoch(year, month, day int) int64 {
	y := uint64(year) + 400 // one 400-year era earlier: y stays positive
	m := uint64(month)
	if m <= 2 {
		y--
		m += 12
	}
	era := y / 400
	yoe := y - era*400                       // [0, 399]
	doy := (153*(m-3)+2)/5 + uint64(day) - 1 // [0, 365], the year starting in March
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097+doe) - 719468 - 146097
}

func num2(s string) int { return int(s[0]-'0')*10 + int(s[1]-'0') }

// daysIn is the number of days of a month of the proleptic Gregorian calendar, as time.Parse
// checks a day of the month.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// rfc3339Shape checks the RFC 3339 date-time grammar:
// YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM). time.Parse checks the ranges.
func rfc3339Shape(s string) bool {
	const head = "dddd-dd-ddTdd:dd:dd"
	if len(s) < len(head)+1 {
		return false
	}
	_ = s[len(head)]
	if !(digit(s[0]) && digit(s[1]) && digit(s[2]) && digit(s[3]) && s[4] == '-' && digit(s[5]) && digit(s[6]) &&
		s[7] == '-' && digit(s[8]) && digit(s[9]) && s[10] == 'T' && digit(s[11]) && digit(s[12]) && s[13] == ':' &&
		digit(s[14]) && digit(s[15]) && s[16] == ':' && digit(s[17]) && digit(s[18])) {
		return false
	}
	rest := s[len(head):]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 {
			return false
		}
		rest = rest[n:]
	}
	if rest == "Z" {
		return true
	}
	if len(rest) != len("+dd:dd") || (rest[0] != '+' && rest[0] != '-') {
		return false
	}
	for i, c := range []byte("+dd:dd")[1:] {
		if !shapeByte(c, rest[i+1]) {
			return false
		}
	}
	return (rest[1]-'0')*10+(rest[2]-'0') < 24 && (rest[4]-'0')*10+(rest[5]-'0') < 60
}

func digit(c byte) bool { return c >= '0' && c <= '9' }

func shapeByte(pattern, c byte) bool {
	if pattern == 'd' {
		return c >= '0' && c <= '9'
	}
	return c == pattern
}

// trimSpace is strings.TrimSpace, with a shortcut for the usual value that starts and ends
// with a printable ASCII character and so has nothing to trim.
func trimSpace(s string) string {
	if n := len(s); n > 0 && s[0] > ' ' && s[0] < utf8.RuneSelf && s[n-1] > ' ' && s[n-1] < utf8.RuneSelf {
		return s
	}
	return strings.TrimSpace(s)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// asciiLower and asciiUppered change ASCII letters only: the tokens they normalise are ASCII,
// and Unicode case mapping could turn a foreign value into a known one.
func asciiLower(s string) string {
	l, _ := asciiLowered(s)
	return l
}

// asciiLowered is asciiLower that also reports whether anything changed.
func asciiLowered(s string) (string, bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b), true
		}
	}
	return s, false
}

// asciiUppered upper-cases the ASCII letters of s and reports whether anything changed.
func asciiUppered(s string) (string, bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'a' && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b), true
		}
	}
	return s, false
}

func upperLetter(c byte) bool { return c >= 'A' && c <= 'Z' }
