package devserver

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/namiml/mparticle-bridge/shared/devtools/demo"
	"github.com/namiml/mparticle-bridge/shared/devtools/devstate"
	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/forwarder"
	"github.com/namiml/mparticle-bridge/shared/testkit/motoproc"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

// want is the mapping of event-contract.md §2: the mParticle event each type becomes.
var want = map[event.Type]struct{ eventType, name, customType, action string }{
	event.SubscriptionPurchased:            {"custom_event", "purchased", "transaction", ""},
	event.SubscriptionRenewed:              {"custom_event", "renewed", "transaction", ""},
	event.SubscriptionCancelled:            {"custom_event", "cancelled", "transaction", ""},
	event.SubscriptionExpired:              {"custom_event", "expired", "transaction", ""},
	event.SubscriptionInGracePeriod:        {"custom_event", "in_grace_period", "transaction", ""},
	event.SubscriptionRenewalInGracePeriod: {"custom_event", "renewal_in_grace_period", "transaction", ""},
	event.SubscriptionPaused:               {"custom_event", "paused", "transaction", ""},
	event.SubscriptionResumed:              {"custom_event", "resumed", "transaction", ""},
	event.TrialStarted:                     {"custom_event", "trial_started", "transaction", ""},
	event.TrialConverted:                   {"custom_event", "trial_converted", "transaction", ""},
	event.TrialDidNotConvert:               {"custom_event", "trial_did_not_convert", "transaction", ""},
	event.DeviceImpression:                 {"custom_event", "impression", "", ""}, // custom_event_type: any the API accepts
	event.DeviceTransaction:                {"commerce_event", "", "", "purchase"},
}

// syncBuffer collects output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDevAndDemo drives `make dev` then `make dev-demo`: the stack starts (its own moto,
// the template's settings), the demo creates two integrations through the HTTP API and
// sends the 13 types plus an invalid message, the Forwarder runs through the event source
// mapping, and the contract server and dead-letter queue show the outcome.
func TestDevAndDemo(t *testing.T) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := motoproc.Find(root); err != nil {
		t.Fatal(err) // never skip: the message says how to install it
	}
	stateDir := t.TempDir()
	noWindow := time.Duration(0)
	var out syncBuffer
	cfg := Config{Root: root, StateDir: stateDir, Out: &out, BatchingWindow: &noWindow, VisibilityTimeout: 5 * time.Second}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	readyCh := make(chan Running, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, func(r Running) { readyCh <- r }) }()
	var r Running
	select {
	case r = <-readyCh:
	case err := <-done:
		t.Fatalf("dev stopped before it was ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("dev not ready after 30 s")
	}
	t.Logf("ready in %s", r.Startup)

	st, err := devstate.ReadStack(stateDir)
	if err != nil || st != r.Stack {
		t.Fatalf("stack.json = %+v, %v; want %+v", st, err, r.Stack)
	}
	for _, u := range []string{st.APIURL, st.AWSEndpointURL, st.MParticleBaseURL} {
		if !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Errorf("%s is not on loopback", u)
		}
	}
	if !strings.Contains(out.String(), st.APIURL) || !strings.Contains(out.String(), st.QueueURL) {
		t.Errorf("banner lacks the endpoints:\n%s", out.String())
	}

	// A second `make dev` says so.
	if err := Run(ctx, cfg, nil); !errors.As(err, new(devstate.ErrAlreadyRunning)) {
		t.Errorf("second Run = %v, want ErrAlreadyRunning", err)
	}

	awsCfg, err := AWSConfig(ctx, st.AWSEndpointURL, st.Region)
	if err != nil {
		t.Fatal(err)
	}
	key, err := devstate.SigningKey(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	var demoOut bytes.Buffer
	rep, err := demo.Run(ctx, demo.Config{
		Stack: st, SigningKey: key, SQS: sqs.NewFromConfig(awsCfg), Out: &demoOut, Timeout: 30 * time.Second,
		Samples: filepath.Join(root, "shared", "event", "testdata"),
	})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, demoOut.String())
	}
	if !rep.OK() {
		t.Fatalf("demo incomplete: missing %v, invalid refused %v\n%s", rep.Missing, rep.InvalidRefused, demoOut.String())
	}

	if len(rep.Delivered) != len(event.AllTypes) {
		t.Fatalf("%d types delivered", len(rep.Delivered))
	}
	perFeed := map[string]int{}
	for _, d := range rep.Delivered {
		w := want[d.Type]
		if d.EventType != w.eventType || d.EventName != w.name || d.ProductAction != w.action ||
			(w.customType != "" && d.CustomEventType != w.customType) {
			t.Errorf("%s arrived as %+v, want %+v", d.Type, d, w)
		}
		perFeed[d.Feed]++
	}
	// The samples hold 9 iOS and 4 Android events; each platform's integration gets its own.
	var counts []int
	for _, n := range perFeed {
		counts = append(counts, n)
	}
	if len(perFeed) != 2 || counts[0]+counts[1] != 13 || (counts[0] != 9 && counts[0] != 4) {
		t.Errorf("deliveries per feed = %v, want 9 (iOS) and 4 (Android)", perFeed)
	}
	if len(rep.Refused) != 1 {
		t.Fatalf("refused = %+v, want only the invalid message", rep.Refused)
	}
	letter := rep.Refused[0]
	if letter.Attributes[forwarder.AttrFailureKind] != forwarder.FailureInvalidInput ||
		!strings.Contains(letter.Attributes[forwarder.AttrFailureReason], "type") {
		t.Errorf("dead letter attributes = %v", letter.Attributes)
	}
	if !strings.Contains(demoOut.String(), "13 of 13 event types delivered") {
		t.Errorf("demo output lacks the summary:\n%s", demoOut.String())
	}
	// What mParticle received was printed readably on the dev terminal.
	if !strings.Contains(out.String(), `"event_name": "purchased"`) {
		t.Errorf("dev output lacks the accepted batches")
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("dev did not stop")
	}
	if _, err := devstate.ReadStack(stateDir); !errors.Is(err, devstate.ErrNotRunning) {
		t.Errorf("stack.json still there after stop: %v", err)
	}
}
