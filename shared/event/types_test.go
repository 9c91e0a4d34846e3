package event

import "testing"

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
