package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Bounds on decoded values, so a hostile body cannot make later stages allocate without limit
// (the body itself is at most MaxBodyBytes).
const (
	// MaxIDLen bounds identifiers and reference ids (bytes).
	MaxIDLen = 256
	// MaxTextLen bounds free-text fields such as paywall names and device models (bytes).
	MaxTextLen = 1024
	// MaxTokenLen bounds short lower-case tokens such as platform (bytes).
	MaxTokenLen = 64
	// MaxListLen bounds the user state lists (entries).
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

// ErrInvalid matches every *InvalidError with errors.Is.
var ErrInvalid = errors.New("invalid event")

// InvalidError says why a body is not a valid event. Field is the JSON path of the offending
// field ("" for the body as a whole). Neither Field nor Reason ever contains input values, so
// the error is safe to log.
type InvalidError struct {
	Field  string
	Reason string
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

// wireEvent reads the timestamps as strings so that a malformed one is reported against its
// field (time.Time's own UnmarshalJSON error carries no field path).
type wireEvent struct {
	Event
	OccurredAt   *string           `json:"occurred_at"`
	Subscription *wireSubscription `json:"subscription"`
}

type wireSubscription struct {
	Subscription
	ExpiresAt *string `json:"expires_at"`
}

// Decode parses and validates one SQS message body (event-contract.md §1). It returns the
// event with defaults applied (app_env production, quantity 1, timestamps in UTC, empty lists
// as nil) or an *InvalidError.
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
	var w wireEvent
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, jsonError(body, err)
	}
	// json.Unmarshal accepts a top-level null as "no change"; only an object is an event.
	if trimmed[0] != '{' {
		return nil, invalid("", "body must be a JSON object")
	}
	ev := w.Event
	ev.Subscription = nil
	if w.OccurredAt != nil && *w.OccurredAt != "" {
		t, err := parseTime(*w.OccurredAt, MinYear, MaxYear)
		if err != nil {
			return nil, invalid("occurred_at", err.Error())
		}
		ev.OccurredAt = t
	}
	if w.Subscription != nil {
		sub := w.Subscription.Subscription
		if w.Subscription.ExpiresAt != nil && *w.Subscription.ExpiresAt != "" {
			// expires_at is informational; only a zero or out-of-range year is refused.
			t, err := parseTime(*w.Subscription.ExpiresAt, 1970, 9999)
			if err != nil {
				return nil, invalid("subscription.expires_at", err.Error())
			}
			sub.ExpiresAt = &t
		}
		ev.Subscription = &sub
	}
	normalize(&ev)
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	return &ev, nil
}

func parseTime(s string, minYear, maxYear int) (time.Time, error) {
	// time.Parse alone is lenient (one-digit hours, "," before fractions), hence the shape check.
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !rfc3339Shape(s) {
		return time.Time{}, errors.New("must be an RFC 3339 timestamp")
	}
	t = t.UTC()
	if y := t.Year(); y < minYear || y > maxYear {
		return time.Time{}, fmt.Errorf("year must be between %d and %d", minYear, maxYear)
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

// normalize applies the contract's defaults so that consumers need not.
func normalize(ev *Event) {
	if ev.AppEnv == "" {
		ev.AppEnv = AppEnvProduction
	}
	if tx := ev.Transaction; tx != nil && tx.Quantity == nil {
		one := 1
		tx.Quantity = &one
	}
	if u := ev.User; u != nil {
		// An empty list and an absent one both mean "none"; keep one representation.
		for _, l := range []*[]string{&u.ActiveEntitlements, &u.ActiveSKUs, &u.DeviceIDs, &u.DevicePlatforms} {
			if len(*l) == 0 {
				*l = nil
			}
		}
	}
}

// jsonError turns an encoding/json error into an *InvalidError without echoing input.
func jsonError(body []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return invalid("", "body is not valid JSON (at byte "+strconv.FormatInt(syn.Offset, 10)+")")
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := fieldPath(body, te)
		if field == "" {
			return invalid("", "body must be a JSON object")
		}
		return invalid(field, "wrong JSON type: got "+jsonKind(te.Value)+", want "+goKind(te.Type))
	}
	// Unreachable with the wire types above (no custom unmarshalers); kept generic.
	return invalid("", "body is not a valid event")
}

// jsonKind keeps only the kind word of UnmarshalTypeError.Value ("number 1.5" -> "number").
func jsonKind(v string) string {
	if i := strings.IndexByte(v, ' '); i >= 0 {
		v = v[:i]
	}
	switch v {
	case "bool":
		return "boolean"
	case "string", "number", "array", "object", "boolean":
		return v
	}
	return "other"
}

func goKind(t reflect.Type) string {
	if t == nil {
		return "other"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "object"
	}
	return "other"
}

// fieldPath builds the JSON path of a type error: the field names from te.Field (our own
// names, never input text, minus the wire types' embedded Go names) with the array indices
// found by locating te.Offset in the body, e.g. "user.active_skus[2]".
func fieldPath(body []byte, te *json.UnmarshalTypeError) string {
	var names []string
	for seg := range strings.SplitSeq(te.Field, ".") {
		if seg == "" || (seg[0] >= 'A' && seg[0] <= 'Z') {
			continue
		}
		names = append(names, seg)
	}
	if len(names) == 0 {
		return ""
	}
	segs := locate(body, int(te.Offset)-1)
	keys := 0
	for _, s := range segs {
		if s.index < 0 {
			keys++
		}
	}
	if keys != len(names) {
		return strings.Join(names, ".")
	}
	var b strings.Builder
	k := 0
	for _, s := range segs {
		if s.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
			continue
		}
		if k > 0 {
			b.WriteByte('.')
		}
		b.WriteString(names[k])
		k++
	}
	return b.String()
}

// pathSeg is an object member (index -1) or an array element.
type pathSeg struct{ index int }

// locate returns the path of the innermost JSON value whose bytes contain position pos.
// body must be valid JSON (encoding/json checks this before it reports a type error).
func locate(body []byte, pos int) []pathSeg {
	s := locator{b: body, pos: pos}
	s.value()
	return s.found
}

type locator struct {
	b     []byte
	i     int
	pos   int
	path  []pathSeg
	found []pathSeg
	done  bool
}

func (s *locator) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

func (s *locator) value() {
	s.ws()
	if s.i >= len(s.b) {
		return
	}
	start := s.i
	switch s.b[s.i] {
	case '{':
		s.i++
		for {
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] == '}' {
				s.i++
				break
			}
			if s.b[s.i] == ',' {
				s.i++
				continue
			}
			s.str() // member name
			s.ws()
			s.i++ // ':'
			s.path = append(s.path, pathSeg{index: -1})
			s.value()
			s.path = s.path[:len(s.path)-1]
		}
	case '[':
		s.i++
		for n := 0; ; {
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] == ']' {
				s.i++
				break
			}
			if s.b[s.i] == ',' {
				s.i++
				continue
			}
			s.path = append(s.path, pathSeg{index: n})
			s.value()
			s.path = s.path[:len(s.path)-1]
			n++
		}
	case '"':
		s.str()
	default:
		for s.i < len(s.b) && !endOfLiteral(s.b[s.i]) {
			s.i++
		}
	}
	// Children finish first, so the first value found is the innermost.
	if !s.done && start <= s.pos && s.pos < s.i {
		s.found = append([]pathSeg(nil), s.path...)
		s.done = true
	}
}

func endOfLiteral(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ',', ']', '}':
		return true
	}
	return false
}

func (s *locator) str() {
	s.i++ // opening quote
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
		case '"':
			s.i++
			return
		default:
			s.i++
		}
	}
}
