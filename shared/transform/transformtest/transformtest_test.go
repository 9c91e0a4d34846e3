package transformtest

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/transform"
)

// wire is what the transform and the client make of typ's sample, given its own id and
// time, for FeedFor(typ) stored under integrationID.
func wire(t *testing.T, typ event.Type, d Delivery) []byte {
	t.Helper()
	ev, err := event.Decode([]byte(eventtest.Body(t, typ, func(m map[string]any) {
		m["id"], m["occurred_at"] = d.EventID, d.OccurredAt.Format(time.RFC3339Nano)
	})))
	if err != nil {
		t.Fatal(err)
	}
	feed := FeedFor(typ)
	feed.ID = d.IntegrationID
	res, err := transform.ToBatch(ev, &feed)
	if err != nil {
		t.Fatal(err)
	}
	b, err := mparticle.AppendBatch(nil, &res.Batch)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Want re-identifies every member that depends on the event id, its time or the
// integration: for any of them, the golden batch with Want's replacements is what the
// transform makes of the sample so changed.
func TestWantIsTheTransformOfTheReidentifiedSample(t *testing.T) {
	d := Delivery{
		EventID:       "0b6f1c3e-7a2d-4c5b-9e8f-000000000042",
		OccurredAt:    time.Date(2025, 1, 2, 3, 4, 5, 678e6, time.UTC),
		IntegrationID: "0190f0c2-6a7b-7c3d-8e4f-5a6b7c8d9e0f",
	}
	for _, typ := range event.AllTypes {
		t.Run(string(typ), func(t *testing.T) {
			got := wire(t, typ, d)
			Check(t, typ, got, d)
			if id := EventID(got); id != d.EventID {
				t.Errorf("EventID = %q, want %q", id, d.EventID)
			}
			if bytes.Equal(Want(typ, d), Golden(typ)) {
				t.Error("Want changed nothing")
			}
			if !bytes.Equal(Want(typ, Delivery{}), Golden(typ)) {
				t.Error("Want of the sample itself is not the golden batch")
			}
		})
	}
}

// Check fails on any other difference.
func TestCheckFailsOnADifference(t *testing.T) {
	typ := event.SubscriptionPurchased
	var b map[string]any
	if err := json.Unmarshal(Golden(typ), &b); err != nil {
		t.Fatal(err)
	}
	b["environment"] = "development"
	changed, _ := json.Marshal(b)
	ft := &fakeT{TB: t}
	Check(ft, typ, changed, Delivery{})
	if !ft.failed {
		t.Fatal("Check accepted a batch of another environment")
	}
	ft = &fakeT{TB: t}
	Check(ft, typ, Golden(typ), Delivery{})
	if ft.failed {
		t.Fatal("Check refused the golden batch itself")
	}
}

type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Errorf(string, ...any) { f.failed = true }
