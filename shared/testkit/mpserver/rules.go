package mpserver

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The validator works on the generic form encoding/json produces with UseNumber:
// map[string]any, []any, string, json.Number, bool and nil. Working on that form rather
// than on typed structs is what lets it see unknown fields and exact number literals.

// maxViolations bounds one response's error list: enough to fix a batch, not a flood.
const maxViolations = 50

// violations collects what is wrong with one batch, each message prefixed by its path.
type violations struct {
	msgs []string
}

func (v *violations) add(path, format string, args ...any) {
	if len(v.msgs) >= maxViolations {
		return
	}
	if path == "" {
		path = "(batch)"
	}
	v.msgs = append(v.msgs, path+": "+fmt.Sprintf(format, args...))
}

// rule checks one value found at path. Values may be nil when they are array items or
// map values; object fields that are null never reach their rule (null means absent, as
// in the JSON schema, whose types nearly all admit null).
type rule func(v *violations, path string, val any)

func field(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// key renders a user-chosen map key (attribute or identity name) unambiguously.
func key(path, k string) string { return path + "[" + strconv.Quote(k) + "]" }

func typeName(val any) string {
	switch val.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	default:
		return fmt.Sprintf("%T", val)
	}
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// object describes a JSON object with a closed set of fields.
type object struct {
	fields   map[string]rule
	required []string
	// hints turn a common misspelling into a pointed message.
	hints map[string]string
	// after runs once the fields are checked, for rules spanning several fields.
	after func(v *violations, path string, m map[string]any)
}

func (o object) check(v *violations, path string, val any) {
	m, ok := val.(map[string]any)
	if !ok {
		v.add(path, "must be an object, got %s", typeName(val))
		return
	}
	for _, name := range o.required {
		if m[name] == nil {
			v.add(field(path, name), "is required")
		}
	}
	for _, k := range sortedKeys(m) {
		r, known := o.fields[k]
		if !known {
			if h, ok := o.hints[k]; ok {
				v.add(field(path, k), "unknown field (%s)", h)
			} else {
				v.add(field(path, k), "unknown field")
			}
			continue
		}
		if m[k] == nil || r == nil {
			continue
		}
		r(v, field(path, k), m[k])
	}
	if o.after != nil {
		o.after(v, path, m)
	}
}

// merge returns the union of field sets; later sets win on a clash.
func merge(sets ...map[string]rule) map[string]rule {
	out := map[string]rule{}
	for _, s := range sets {
		for k, r := range s {
			out[k] = r
		}
	}
	return out
}

func str(v *violations, path string, val any) {
	if _, ok := val.(string); !ok {
		v.add(path, "must be a string, got %s", typeName(val))
	}
}

func nonEmptyStr(v *violations, path string, val any) {
	s, ok := val.(string)
	switch {
	case !ok:
		v.add(path, "must be a string, got %s", typeName(val))
	case strings.TrimSpace(s) == "":
		v.add(path, "must not be empty")
	}
}

// scalar is the JSON schema's loose "String" type: a string, number or boolean.
func scalar(v *violations, path string, val any) {
	switch val.(type) {
	case string, json.Number, bool:
	default:
		v.add(path, "must be a string, number or boolean, got %s", typeName(val))
	}
}

func boolean(v *violations, path string, val any) {
	if _, ok := val.(bool); !ok {
		v.add(path, "must be a boolean, got %s", typeName(val))
	}
}

func number(v *violations, path string, val any) {
	if _, ok := val.(json.Number); !ok {
		v.add(path, "must be a number, got %s", typeName(val))
	}
}

// asInt64 accepts only integer literals that fit int64: "1.0", "1e3" and
// out-of-range values are refused, as a float64 round trip would corrupt an MPID.
func asInt64(val any) (int64, bool) {
	n, ok := val.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	return i, err == nil
}

func integer(v *violations, path string, val any) {
	if _, ok := asInt64(val); !ok {
		v.add(path, "must be an integer that fits 64 bits, got %s", describe(val))
	}
}

// Bounds of a plausible event time in milliseconds: 1e11 ms is 1973, so anything below
// is almost surely seconds; 1e14 ms is the year 5138, so anything above is microseconds.
const (
	minPlausibleMillis = 100_000_000_000
	maxPlausibleMillis = 100_000_000_000_000
)

func millis(v *violations, path string, val any) {
	ms, ok := asInt64(val)
	switch {
	case !ok:
		v.add(path, "must be an integer (Unix time in milliseconds), got %s", describe(val))
	case ms < minPlausibleMillis:
		v.add(path, "%d looks like seconds, not milliseconds", ms)
	case ms > maxPlausibleMillis:
		v.add(path, "%d looks like microseconds, not milliseconds", ms)
	}
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func uuid(v *violations, path string, val any) {
	s, ok := val.(string)
	if !ok || !uuidPattern.MatchString(s) {
		v.add(path, "must be a UUID string, got %s", describe(val))
	}
}

func ipAddress(v *violations, path string, val any) {
	s, ok := val.(string)
	if !ok {
		v.add(path, "must be a string, got %s", typeName(val))
		return
	}
	if _, err := netip.ParseAddr(s); err != nil {
		v.add(path, "must be an IPv4 or IPv6 address, got %q", s)
	}
}

func enum(values ...string) rule {
	return func(v *violations, path string, val any) {
		s, ok := val.(string)
		if !ok || !slices.Contains(values, s) {
			v.add(path, "must be one of %s, got %s", strings.Join(values, " "), describe(val))
		}
	}
}

func arrayOf(item rule) rule {
	return func(v *violations, path string, val any) {
		a, ok := val.([]any)
		if !ok {
			v.add(path, "must be an array, got %s", typeName(val))
			return
		}
		for i, x := range a {
			item(v, index(path, i), x)
		}
	}
}

// mapOf checks an open object whose keys are chosen by the sender.
func mapOf(value rule) rule {
	return func(v *violations, path string, val any) {
		m, ok := val.(map[string]any)
		if !ok {
			v.add(path, "must be an object, got %s", typeName(val))
			return
		}
		for _, k := range sortedKeys(m) {
			value(v, key(path, k), m[k])
		}
	}
}

// maxLen wraps a string rule with a length limit counted in characters, as mParticle's
// limits are stated.
func maxLen(n int, inner rule) rule {
	return func(v *violations, path string, val any) {
		inner(v, path, val)
		if s, ok := val.(string); ok {
			if l := utf8.RuneCountInString(s); l > n {
				v.add(path, "is %d characters, over the limit of %d", l, n)
			}
		}
	}
}

// describe shows a refused value briefly, so messages stay readable and bounded.
func describe(val any) string {
	switch x := val.(type) {
	case string:
		if utf8.RuneCountInString(x) > 40 {
			x = string([]rune(x)[:40]) + "…"
		}
		return strconv.Quote(x)
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	default:
		return typeName(val)
	}
}
