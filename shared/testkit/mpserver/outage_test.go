package mpserver

import (
	"slices"
	"testing"
)

// An outage answers every request with its status, whatever the seeded faults would have
// drawn, records nothing, and ends cleanly; scripted answers still come first.
func TestOutage(t *testing.T) {
	h := newHarness(t, Options{Seed: 1, Faults: Faults{PReset: 0.5}})
	h.srv.SetOutage(503)
	if got := outcomes(t, h, 20); !slices.Equal(got, slices.Repeat([]string{"503"}, 20)) {
		t.Fatalf("during the outage: %q, want only 503", got)
	}
	if n := len(h.srv.Received(keyIOS)); n != 0 {
		t.Fatalf("%d batches recorded during the outage", n)
	}
	h.srv.Script(keyIOS, PassThrough())
	if got := outcomes(t, h, 2); !slices.Equal(got, []string{"202", "503"}) {
		t.Fatalf("scripted answer during the outage: %q, want [202 503]", got)
	}
	if st := h.srv.Stats(); st.ByStatus[503] != 21 {
		t.Errorf("503s counted %d, want 21", st.ByStatus[503])
	}

	h.srv.SetOutage(0)
	after := outcomes(t, h, 20)
	if slices.Contains(after, "503") || !slices.Contains(after, "202") || !slices.Contains(after, "reset") {
		t.Fatalf("after the outage: %q, want the seeded faults back (202s and resets, no 503)", after)
	}
	if n, want := len(h.srv.Received(keyIOS)), 1+outageCount(after, "202"); n != want {
		t.Errorf("%d batches recorded, want the %d answered 202", n, want)
	}
}

func outageCount(xs []string, x string) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}
