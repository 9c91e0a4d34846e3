package benchinvoke

import (
	"context"
	"strings"
	"testing"

	"github.com/namiml/mparticle-bridge/shared/forwarder"
)

// TestInvokeCountsWhatTheForwarderDid checks the rig's accounting on a cold then a warm
// invocation: one bulk request per feed, one integrations query and one secret read per
// container, one idempotency read and write per delivery (record policy "all").
func TestInvokeCountsWhatTheForwarderDid(t *testing.T) {
	r := newRigWith(t, Options{Records: forwarder.RecordsAll})
	ctx := context.Background()
	ev, err := r.Messages(26)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name             string
		queries, secrets int64
	}{
		{"cold caches", 1, 1},
		{"warm caches", 0, 0},
	}
	for _, tt := range tests {
		r.ForgetDeliveries()
		m, err := r.Invoke(ctx, ev)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if m.Accepted != 26 || m.Failures != 0 || m.DeadLetters != 0 {
			t.Errorf("%s: accepted %d, failures %d, dead letters %d; want 26, 0, 0", tt.name, m.Accepted, m.Failures, m.DeadLetters)
		}
		if m.Requests != 1 {
			t.Errorf("%s: %d requests, want 1 bulk request", tt.name, m.Requests)
		}
		if m.Queries != tt.queries || m.SecretReads != tt.secrets {
			t.Errorf("%s: %d queries, %d secret reads; want %d, %d", tt.name, m.Queries, m.SecretReads, tt.queries, tt.secrets)
		}
		if m.IdemReads != 26 || m.IdemWrites != 26 {
			t.Errorf("%s: idempotency reads %d, writes %d; want 26 each", tt.name, m.IdemReads, m.IdemWrites)
		}
		if m.BytesSent == 0 || m.LogBytes == 0 || m.CPU <= 0 {
			t.Errorf("%s: nothing measured: %+v", tt.name, m)
		}
	}

	// Delivered events are not sent again: the idempotency records skip them.
	m, err := r.Invoke(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if m.Requests != 0 || m.Accepted != 0 {
		t.Errorf("redelivered events were sent again: %d requests, %d batches", m.Requests, m.Accepted)
	}
}

// TestRecordPoliciesReachTheHandler checks that the rig runs the policy it is given: the
// benchmarks' cost per policy rests on the record reads and writes counted here.
func TestRecordPoliciesReachTheHandler(t *testing.T) {
	tests := []struct {
		policy        forwarder.RecordPolicy
		reads, writes int64
	}{
		{"", 0, 0}, // the default, retries: first receives, all delivered
		{forwarder.RecordsRetries, 0, 0},
		{forwarder.RecordsAll, 13, 13},
		{forwarder.RecordsOff, 0, 0},
	}
	for _, tt := range tests {
		r := newRigWith(t, Options{Records: tt.policy})
		ev, err := r.Messages(13)
		if err != nil {
			t.Fatal(err)
		}
		m, err := r.Invoke(context.Background(), ev)
		if err != nil {
			t.Fatalf("%q: %v", tt.policy, err)
		}
		if m.Accepted != 13 || m.IdemReads != tt.reads || m.IdemWrites != tt.writes {
			t.Errorf("%q: accepted %d, record reads %d, writes %d; want 13, %d, %d", tt.policy, m.Accepted, m.IdemReads, m.IdemWrites, tt.reads, tt.writes)
		}
	}
}

func TestMixWeighsTheTypesAsMessagesSendsThem(t *testing.T) {
	r := newRig(t)
	ev, err := r.Messages(100)
	if err != nil {
		t.Fatal(err)
	}
	mix, total := Mix(100), 0
	for i, m := range ev.Records {
		if !strings.Contains(m.Body, `"`+string(TypeOf(i))+`"`) {
			t.Fatalf("message %d is not a %s", i, TypeOf(i))
		}
	}
	for _, n := range mix {
		total += n
	}
	if total != 100 || len(mix) != 13 {
		t.Errorf("Mix(100) = %v", mix)
	}
}
