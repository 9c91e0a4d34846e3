package soak

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

// TestSoakShort is the CI-sized soak: the full fault mix on 1,000 messages (moto, which the
// run is bound by, takes 20-40 s for them depending on the machine's load), and a 25 s
// outage, which with the drain after it adds about 25-35 s. `make soak` runs the full one
// (shared/devtools/cmd/soak).
func TestSoakShort(t *testing.T) {
	testenv.SkipShort(t, "the soak: a minute of load and an outage on moto")
	cfg := Defaults()
	cfg.Events = 1000
	cfg.Seed = 7
	// 25 s of 503s, where the old policy survived 15 s; a 500 ms backoff unit (1, 1, 2, 4, 8,
	// then 15 s) takes messages past the old 5 receives within it and keeps the drain after
	// it under 15 s.
	cfg.BackoffUnit = 500 * time.Millisecond
	cfg.Outage = Outage{StartAfter: 300, Duration: 25 * time.Second}
	if testing.Verbose() {
		cfg.Progress = os.Stderr
	}
	rep, err := Run(context.Background(), testenv.Config(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rep.Print(&out)
	t.Log("\n" + out.String())
	if err := rep.Check(); err != nil {
		t.Fatalf("delivery promise broken:\n%v", err)
	}
	// The run must have exercised what it claims to: faults injected, crashes, redelivery.
	if rep.InjectedTimeouts == 0 || rep.InjectedResets == 0 || rep.ByStatus[500] == 0 || rep.ByStatus[429] == 0 {
		t.Errorf("fault mix not exercised: %v, timeouts %d, resets %d", rep.ByStatus, rep.InjectedTimeouts, rep.InjectedResets)
	}
	if rep.Crashed == 0 || rep.Invalid == 0 || rep.ItemFailures == 0 {
		t.Errorf("crashed %d, invalid %d, item failures %d: the run did not exercise redelivery", rep.Crashed, rep.Invalid, rep.ItemFailures)
	}
}
