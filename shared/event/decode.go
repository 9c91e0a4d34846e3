package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
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

// raw is one member's JSON value as it appears in the body, unparsed: nil when the member is
// absent. Reading every member this way lets one wrong JSON type degrade its own field
// instead of failing the whole decode, as encoding/json's typed decoding would. It points
// into the body and is only read before Decode returns.
type raw []byte

// null reports whether the member is absent or JSON null: both mean "not sent".
func (r raw) null() bool { return len(r) == 0 || string(r) == "null" }

// kind names the JSON type of a present value, for error texts (never the value itself).
func (r raw) kind() string {
	switch r[0] {
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

// str returns the value of a JSON string.
func (r raw) str() (string, bool) {
	if len(r) < 2 || r[0] != '"' {
		return "", false
	}
	inner := r[1 : len(r)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(r, &s); err != nil {
		return "", false
	}
	return s, true
}

type wireEvent struct {
	ID            raw
	Type          raw
	OccurredAt    raw
	AppID         raw
	AppPlatformID raw
	Platform      raw
	Store         raw
	AppEnv        raw
	User          raw
	Device        raw
	Impression    raw
	Transaction   raw
	Subscription  raw
}

type wireUser struct {
	ID                 raw
	ExternalID         raw
	ActiveEntitlements raw
	ActiveSKUs         raw
	DeviceIDs          raw
	DevicePlatforms    raw
	FormerSubscriber   raw
	InGracePeriod      raw
	InTrialPeriod      raw
	InIntroOfferPeriod raw
}

type wireDevice struct {
	ID         raw
	IDFV       raw
	IDFA       raw
	GAID       raw
	AndroidID  raw
	OSVersion  raw
	Model      raw
	Locale     raw
	AppVersion raw
	Country    raw
	IP         raw
}

type wireImpression struct {
	ID                 raw
	PaywallID          raw
	DeveloperPaywallID raw
	Name               raw
	ControllerName     raw
	CTAType            raw
	Initiator          raw
}

type wireTransaction struct {
	ID                        raw
	OriginalTransactionID     raw
	SKURefID                  raw
	SKUStoreID                raw
	Price                     raw
	Currency                  raw
	Quantity                  raw
	PurchaseEnv               raw
	Source                    raw
	SubscriptionInterval      raw
	SubscriptionIntervalCount raw
	ImpressionID              raw
	Locale                    raw
}

type wireSubscription struct {
	SKURefID              raw
	EntitlementRefID      raw
	OriginalTransactionID raw
	PurchaseEnv           raw
	ExpiresAt             raw
	Price                 raw
	Currency              raw
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
func Decode(body []byte) (*Event, error) {
	if len(body) > MaxBodyBytes {
		return nil, invalid("", "body exceeds "+strconv.Itoa(MaxBodyBytes)+" bytes")
	}
	return decode(body)
}

// decode is Decode without the size limit (tests re-decode re-encoded events with it, which
// escaping can make larger than the original body).
func decode(body []byte) (*Event, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, invalid("", "body is empty")
	}
	if !json.Valid(body) {
		// Only for the error's position: json.Valid does not say where.
		var syn *json.SyntaxError
		if err := json.Unmarshal(body, new(struct{})); errors.As(err, &syn) {
			return nil, invalid("", "body is not valid JSON (at byte "+strconv.FormatInt(syn.Offset, 10)+")")
		}
		return nil, invalid("", "body is not valid JSON")
	}
	if trimmed[0] != '{' {
		return nil, invalid("", "body must be a JSON object")
	}
	var w wireEvent
	fill(trimmed, &w)
	d := decoder{}
	ev, err := d.event(&w)
	if err != nil {
		if s, ok := w.AppID.str(); ok && s != "" && len(s) <= MaxIDLen {
			err.AppID = s
		}
		return nil, err
	}
	ev.Degraded = d.deg
	return ev, nil
}

// decoder collects the degraded fields of one event.
type decoder struct {
	deg Degraded
}

func (d *decoder) event(w *wireEvent) (*Event, *InvalidError) {
	ev := &Event{}
	var err *InvalidError
	if ev.ID, err = requiredID("id", w.ID); err != nil {
		return nil, err
	}
	typ, err := requiredString("type", w.Type)
	if err != nil {
		return nil, err
	}
	if ev.Type = Type(typ); !ev.Type.Valid() {
		return nil, invalid("type", "unknown event type")
	}
	at, err := requiredString("occurred_at", w.OccurredAt)
	if err != nil {
		return nil, err
	}
	if ev.OccurredAt, err = parseTime("occurred_at", at, MinYear, MaxYear); err != nil {
		return nil, err
	}
	if ev.AppID, err = requiredID("app_id", w.AppID); err != nil {
		return nil, err
	}
	if ev.AppPlatformID, err = requiredID("app_platform_id", w.AppPlatformID); err != nil {
		return nil, err
	}
	platform, err := requiredString("platform", w.Platform)
	if err != nil {
		return nil, err
	}
	// The platforms are lower-case tokens: "iOS" or " ios" can only mean ios.
	if ev.Platform = asciiLower(strings.TrimSpace(platform)); ev.Platform != platform {
		d.deg.Add(FieldPlatform)
	}
	if ev.Platform == "" {
		return nil, invalid("platform", "required")
	}
	ev.Store = d.text(FieldStore, w.Store)
	ev.AppEnv = d.environment(FieldAppEnv, w.AppEnv, appEnvs)
	if ev.AppEnv == "" {
		ev.AppEnv = AppEnvProduction
	}

	if err := d.user(ev, w.User); err != nil {
		return nil, err
	}
	if err := d.device(ev, w.Device); err != nil {
		return nil, err
	}
	var wi wireImpression
	if d.object(FieldImpression, w.Impression, &wi) {
		ev.Impression = d.impression(&wi)
	}
	var wt wireTransaction
	if d.object(FieldTransaction, w.Transaction, &wt) {
		ev.Transaction = d.transaction(&wt)
	}
	var ws wireSubscription
	if d.object(FieldSubscription, w.Subscription, &ws) {
		ev.Subscription = d.subscription(&ws)
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
	var w wireUser
	switch {
	case r.null():
		if need {
			return invalid("user", "required for user.* events")
		}
		return nil
	case r[0] != '{':
		if need {
			return wrongType("user", r, "object")
		}
		d.deg.Add(FieldUser)
		return nil
	}
	fill(r, &w)
	u := &User{}
	switch {
	case w.ID.null():
		if need {
			return invalid("user.id", "required for user.* events")
		}
		d.deg.Add(FieldUserID)
	default:
		id, ok := w.ID.str()
		switch {
		case !ok:
			if need {
				return wrongType("user.id", w.ID, "string")
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
	u.ExternalID = d.identity(FieldUserExternalID, w.ExternalID)
	u.ActiveEntitlements = d.list(FieldUserActiveEntitlements, w.ActiveEntitlements)
	u.ActiveSKUs = d.list(FieldUserActiveSKUs, w.ActiveSKUs)
	u.DeviceIDs = d.list(FieldUserDeviceIDs, w.DeviceIDs)
	u.DevicePlatforms = d.list(FieldUserDevicePlatforms, w.DevicePlatforms)
	u.FormerSubscriber = d.flag(FieldUserFormerSubscriber, w.FormerSubscriber)
	u.InGracePeriod = d.flag(FieldUserInGracePeriod, w.InGracePeriod)
	u.InTrialPeriod = d.flag(FieldUserInTrialPeriod, w.InTrialPeriod)
	u.InIntroOfferPeriod = d.flag(FieldUserInIntroOfferPeriod, w.InIntroOfferPeriod)
	ev.User = u
	return nil
}

// device reads the device. A device.* event must be attributable: when it has no user.id,
// its device.id is required, and what is wrong with it is the reason the event is invalid.
func (d *decoder) device(ev *Event, r raw) *InvalidError {
	need := ev.Type.IsDevice() && (ev.User == nil || ev.User.ID == "")
	const reqReason = "required for device.* events without a user.id"
	var w wireDevice
	switch {
	case r.null():
		if need {
			return invalid("device.id", reqReason)
		}
		return nil
	case r[0] != '{':
		if need {
			return wrongType("device", r, "object")
		}
		d.deg.Add(FieldDevice)
		return nil
	}
	fill(r, &w)
	dev := &Device{}
	if !w.ID.null() {
		id, ok := w.ID.str()
		switch {
		case !ok:
			if need {
				return wrongType("device.id", w.ID, "string")
			}
			d.deg.Add(FieldDeviceID)
		case len(id) > MaxIDLen:
			if need {
				return invalid("device.id", tooLong(MaxIDLen))
			}
			d.deg.Add(FieldDeviceID)
		case strings.TrimSpace(id) == "":
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
	dev.IDFV = d.text(FieldDeviceIDFV, w.IDFV)
	dev.IDFA = d.text(FieldDeviceIDFA, w.IDFA)
	dev.GAID = d.text(FieldDeviceGAID, w.GAID)
	dev.AndroidID = d.text(FieldDeviceAndroidID, w.AndroidID)
	dev.OSVersion = d.text(FieldDeviceOSVersion, w.OSVersion)
	dev.Model = d.text(FieldDeviceModel, w.Model)
	dev.Locale = d.text(FieldDeviceLocale, w.Locale)
	dev.AppVersion = d.text(FieldDeviceAppVersion, w.AppVersion)
	dev.Country = d.text(FieldDeviceCountry, w.Country)
	dev.IP = d.text(FieldDeviceIP, w.IP)
	ev.Device = dev
	return nil
}

func (d *decoder) impression(w *wireImpression) *Impression {
	return &Impression{
		ID:                 d.text(FieldImpressionID, w.ID),
		PaywallID:          d.text(FieldImpressionPaywallID, w.PaywallID),
		DeveloperPaywallID: d.text(FieldImpressionDeveloperPaywallID, w.DeveloperPaywallID),
		Name:               d.text(FieldImpressionName, w.Name),
		ControllerName:     d.text(FieldImpressionControllerName, w.ControllerName),
		CTAType:            d.text(FieldImpressionCTAType, w.CTAType),
		Initiator:          d.enum(FieldImpressionInitiator, w.Initiator, initiators),
	}
}

func (d *decoder) transaction(w *wireTransaction) *Transaction {
	tx := &Transaction{
		ID:                        d.text(FieldTransactionID, w.ID),
		OriginalTransactionID:     d.text(FieldTransactionOriginalTransactionID, w.OriginalTransactionID),
		SKURefID:                  d.text(FieldTransactionSKURefID, w.SKURefID),
		SKUStoreID:                d.text(FieldTransactionSKUStoreID, w.SKUStoreID),
		Price:                     d.price(FieldTransactionPrice, w.Price),
		Currency:                  d.currency(FieldTransactionCurrency, w.Currency),
		Quantity:                  d.count(FieldTransactionQuantity, w.Quantity),
		PurchaseEnv:               d.environment(FieldTransactionPurchaseEnv, w.PurchaseEnv, purchaseEnvs),
		Source:                    d.enum(FieldTransactionSource, w.Source, sources),
		SubscriptionInterval:      d.enum(FieldTransactionSubscriptionInterval, w.SubscriptionInterval, intervalUnits),
		SubscriptionIntervalCount: d.count(FieldTransactionSubscriptionIntervalCount, w.SubscriptionIntervalCount),
		ImpressionID:              d.text(FieldTransactionImpressionID, w.ImpressionID),
		Locale:                    d.text(FieldTransactionLocale, w.Locale),
	}
	if tx.Quantity == nil {
		one := 1
		tx.Quantity = &one
	}
	return tx
}

func (d *decoder) subscription(w *wireSubscription) *Subscription {
	s := &Subscription{
		SKURefID:              d.text(FieldSubscriptionSKURefID, w.SKURefID),
		EntitlementRefID:      d.text(FieldSubscriptionEntitlementRefID, w.EntitlementRefID),
		OriginalTransactionID: d.text(FieldSubscriptionOriginalTransactionID, w.OriginalTransactionID),
		PurchaseEnv:           d.environment(FieldSubscriptionPurchaseEnv, w.PurchaseEnv, purchaseEnvs),
		Price:                 d.price(FieldSubscriptionPrice, w.Price),
		Currency:              d.currency(FieldSubscriptionCurrency, w.Currency),
	}
	if at := d.text(FieldSubscriptionExpiresAt, w.ExpiresAt); at != "" {
		// expires_at is informational: only a time that cannot be read is left out.
		if t, err := parseTime("", at, 1970, 9999); err == nil {
			s.ExpiresAt = &t
		} else {
			d.deg.Add(FieldSubscriptionExpiresAt)
		}
	}
	return s
}

// object unmarshals a details object into dst. Absent or null is not degraded (the object is
// optional); any other JSON type is.
func (d *decoder) object(f Field, r raw, dst setter) bool {
	if r.null() {
		return false
	}
	if r[0] != '{' {
		d.deg.Add(f)
		return false
	}
	fill(r, dst)
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
	if t := strings.TrimSpace(s); t != s {
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
	if !ok || len(s) > MaxIDLen || strings.TrimSpace(s) == "" {
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
	if lower := asciiLower(s); lower != s && contains(known, lower) {
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
func (d *decoder) list(f Field, r raw) []string {
	if r.null() {
		return nil
	}
	if r[0] != '[' {
		d.deg.Add(f)
		return nil
	}
	items := elements(r)
	out := make([]string, 0, min(len(items), MaxListLen))
	for _, it := range items {
		s, ok := it.str()
		t := strings.TrimSpace(s)
		if !ok || t == "" || t != s {
			d.deg.Add(f)
		}
		if !ok || t == "" {
			continue
		}
		if len(out) == MaxListLen {
			d.deg.Add(f)
			break
		}
		out = append(out, t)
	}
	if len(out) == 0 && len(items) > 0 {
		return nil
	}
	return out
}

// flag reads a user state boolean; "true" and "false" sent as strings are converted.
func (d *decoder) flag(f Field, r raw) *bool {
	if r.null() {
		return nil
	}
	var v bool
	switch string(r) {
	case "true":
		v = true
	case "false":
	default:
		s, _ := r.str()
		switch asciiLower(strings.TrimSpace(s)) {
		case "true":
			v = true
		case "false":
		default:
			d.deg.Add(f)
			return nil
		}
		d.deg.Add(f)
	}
	return &v
}

// price reads a decimal price string. A JSON number written as a plain decimal ("9.99") is
// taken as that decimal, digit for digit; anything else that IsDecimal refuses ("9,99",
// "-1", "1e3", "free") is omitted rather than guessed.
func (d *decoder) price(f Field, r raw) string {
	if r.null() {
		return ""
	}
	var s string
	if r[0] == '"' {
		s = d.text(f, r)
	} else {
		s = string(r) // a number literal, or another JSON type IsDecimal refuses
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
	u := asciiUpper(s)
	if len(u) != 3 || !upperLetter(u[0]) || !upperLetter(u[1]) || !upperLetter(u[2]) {
		d.deg.Add(f)
		return ""
	}
	if u != s {
		d.deg.Add(f)
	}
	return u
}

// count reads a positive integer up to MaxQuantity. An integral number written otherwise
// (2.0, 2e0) or a numeric string ("2") is converted; anything else is omitted.
func (d *decoder) count(f Field, r raw) *int {
	if r.null() {
		return nil
	}
	lit, quoted := string(r), r[0] == '"'
	if quoted {
		s, _ := r.str()
		lit = strings.TrimSpace(s)
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
	return &n
}

// parseTime reads an RFC 3339 time within [minYear, maxYear], in UTC.
func parseTime(field, s string, minYear, maxYear int) (time.Time, *InvalidError) {
	// time.Parse alone is lenient (one-digit hours, "," before fractions), hence the shape check.
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !rfc3339Shape(s) {
		return time.Time{}, invalid(field, "must be an RFC 3339 timestamp")
	}
	t = t.UTC()
	if y := t.Year(); y < minYear || y > maxYear {
		return time.Time{}, invalid(field, fmt.Sprintf("year must be between %d and %d", minYear, maxYear))
	}
	return t, nil
}

// rfc3339Shape checks the RFC 3339 date-time grammar:
// YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM). time.Parse checks the ranges.
func rfc3339Shape(s string) bool {
	const head = "dddd-dd-ddTdd:dd:dd"
	if len(s) < len(head)+1 {
		return false
	}
	for i := 0; i < len(head); i++ {
		if !shapeByte(head[i], s[i]) {
			return false
		}
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

func shapeByte(pattern, c byte) bool {
	if pattern == 'd' {
		return c >= '0' && c <= '9'
	}
	return c == pattern
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// asciiLower and asciiUpper change ASCII letters only: the tokens they normalise are ASCII,
// and Unicode case mapping could turn a foreign value into a known one.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func asciiUpper(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'a' && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func upperLetter(c byte) bool { return c >= 'A' && c <= 'Z' }
