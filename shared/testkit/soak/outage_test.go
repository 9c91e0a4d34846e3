package soak

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func received(id string, n int) sqstypes.Message {
	return sqstypes.Message{
		MessageId:  aws.String(id),
		Body:       aws.String(`{"id":"ev-` + id + `"}`),
		Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(n)},
	}
}

func TestLedgerOutageFigures(t *testing.T) {
	l := newLedger()
	for _, m := range []sqstypes.Message{received("a", 1), received("b", 7), received("c", 6), received("d", 9)} {
		l.take([]sqstypes.Message{m})
		l.release([]sqstypes.Message{m})
	}
	l.deleted("b")
	l.deleted("c")
	pending := l.pending()
	if len(pending) != 2 || !pending["a"] || !pending["d"] {
		t.Fatalf("pending %v, want a and d", pending)
	}
	if l.allGone(pending) {
		t.Fatal("allGone with a and d still there")
	}
	// d was received 9 times but never deleted: it does not count as delivered.
	if over, most := l.receives(LegacyMaxReceiveCount); over != 2 || most != 9 {
		t.Fatalf("receives = %d over, %d most; want 2 (b, c) and 9", over, most)
	}
	l.deleted("a")
	l.deleted("d")
	if !l.allGone(pending) {
		t.Fatal("allGone false after every pending message was deleted")
	}
}

func TestCheckOutage(t *testing.T) {
	cfg := Defaults()
	cfg.Events = 10
	good := Report{Config: cfg, Messages: 10, OutageBegan: 10 * time.Second, OutageEnded: 70 * time.Second,
		OutageRejected: 400, OutageBacklog: 60, OutageDrained: 20 * time.Second, DeliveredPastLegacyLimit: 50, MaxReceives: 7}
	tests := []struct {
		name string
		mod  func(*Report)
		want string // "" for no complaint
	}{
		{"kept", func(*Report) {}, ""},
		{"never happened", func(r *Report) { r.OutageEnded, r.OutageRejected = 0, 0 }, "did not take place"},
		{"nothing refused", func(r *Report) { r.OutageRejected = 0 }, "did not take place"},
		{"too short", func(r *Report) { r.OutageEnded = r.OutageBegan + 15*time.Second }, "not longer than"},
		{"no message past the old limit", func(r *Report) { r.DeliveredPastLegacyLimit = 0 }, "more than 5 receives"},
		{"backlog never drained", func(r *Report) { r.OutageDrained = 0 }, "never all delivered"},
		{"no outage configured", func(r *Report) { r.Config.Outage.Duration = 0; r.OutageEnded, r.OutageRejected = 0, 0 }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := good
			tc.mod(&rep)
			err := rep.Check()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Check() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Check() = %v, want %q", err, tc.want)
			}
		})
	}
}
