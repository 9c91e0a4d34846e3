package transform

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

// idHasher's ids are uuid.NewSHA1's for names of every length around the block boundaries
// its padding handles, and beyond what it pads itself; one hasher reused throughout, as a
// Builder reuses it.
func TestIDHasher(t *testing.T) {
	var h idHasher
	for n := 0; n <= len(h.msg)+70; n++ {
		for _, pair := range []bool{false, true} {
			eventID := strings.Repeat("e", n/2)
			intID := strings.Repeat("\x7f", n-n/2)
			if !pair {
				eventID = strings.Repeat("é", n/2) + strings.Repeat("x", n%2)
			}
			name := eventID
			if pair {
				name += "\x00" + intID
			}
			want := uuid.NewSHA1(Namespace, []byte(name)).String()
			var got [uuidLen]byte
			h.v5(got[:], eventID, intID, pair)
			if string(got[:]) != want {
				t.Fatalf("v5 of a %d-byte name (pair %v) = %s, want %s", len(name), pair, got, want)
			}
			if ref := string(appendV5(nil, eventID, intID, pair)); ref != want {
				t.Fatalf("appendV5 of a %d-byte name (pair %v) = %s, want %s", len(name), pair, ref, want)
			}
		}
	}
	var buf [idPairLen]byte
	for _, hh := range []*idHasher{nil, &h} {
		req, msg := batchIDs(&buf, hh, "6a1e0000-0000-4000-800d-00000000000d", "0b1e5c8a-7d2f-4a3b-9c8d-1e2f3a4b5c6d")
		if req != SourceRequestID("6a1e0000-0000-4000-800d-00000000000d", "0b1e5c8a-7d2f-4a3b-9c8d-1e2f3a4b5c6d") ||
			msg != SourceMessageID("6a1e0000-0000-4000-800d-00000000000d") {
			t.Errorf("batchIDs = %s, %s", req, msg)
		}
	}
}
