package event

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
)

// TestTypesDescribed: Valid (a switch) accepts exactly the types of AllTypes, and each has a
// description.
func TestTypesDescribed(t *testing.T) {
	if len(Descriptions) != len(AllTypes) {
		t.Errorf("%d descriptions for %d types", len(Descriptions), len(AllTypes))
	}
	for _, typ := range AllTypes {
		if !typ.Valid() {
			t.Errorf("%s: not Valid", typ)
		}
		if Descriptions[typ] == "" {
			t.Errorf("%s: no description", typ)
		}
	}
	for _, typ := range []Type{"", "device.", "user.subscription", "User.subscription.purchased", "user.subscription.purchased "} {
		if typ.Valid() {
			t.Errorf("%q: Valid", typ)
		}
	}
}

// Decoded events carry the package's own type strings (Canonical), so that matching them
// against constants and against an integration's types needs no byte comparison.
func TestDecodedTypeIsTheConstant(t *testing.T) {
	for _, typ := range AllTypes {
		ev, err := DecodeString(string(eventtest.Sample(typ)))
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if ev.Type != typ || unsafe.StringData(string(ev.Type)) != unsafe.StringData(string(typ)) {
			t.Errorf("%s: decoded type %q does not share the constant's bytes", typ, ev.Type)
		}
		copied := Type(strings.Clone(string(typ)))
		if c, ok := copied.Canonical(); !ok || unsafe.StringData(string(c)) != unsafe.StringData(string(typ)) {
			t.Errorf("%s: Canonical of a copy = %q, %v", typ, c, ok)
		}
	}
	if c, ok := Type("user.subscription.unknown").Canonical(); ok || c != "user.subscription.unknown" {
		t.Errorf("an unknown type: %q, %v", c, ok)
	}
}
