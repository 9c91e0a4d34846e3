package transform

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/integration"
)

// FuzzToBatch: every event Decode accepts becomes, for any feed platform, scope and Customer
// ID setting, a batch that marshals, stays under the batch budget, and is deterministic, and
// every degraded field it reports is one of event.Fields.
func FuzzToBatch(f *testing.F) {
	for i, typ := range event.AllTypes {
		f.Add(eventtest.Sample(typ), integration.Platforms[i%len(integration.Platforms)], i%2 == 0, i%3 == 0)
	}
	// A body near the 256 KB limit whose lists alone exceed a batch.
	ev := load(f, event.SubscriptionExpired)
	entry := strings.Repeat("<", 50)
	for range 1200 {
		ev.User.ActiveSKUs = append(ev.User.ActiveSKUs, entry)
		ev.User.DeviceIDs = append(ev.User.DeviceIDs, entry)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // raw "<" in the body, six bytes each once escaped in the batch
	if err := enc.Encode(ev); err != nil {
		f.Fatal(err)
	}
	if _, err := event.Decode(buf.Bytes()); err != nil {
		f.Fatalf("large seed is not a valid event: %v", err)
	}
	f.Add(buf.Bytes(), "ios", true, false)

	f.Fuzz(func(t *testing.T, body []byte, platform string, namiUserID, legacy bool) {
		ev, err := event.Decode(body)
		if err != nil {
			return
		}
		in := &integration.Integration{ID: "int-1", Platform: platform, CustomerIDSource: integration.CustomerIDExternal}
		if namiUserID {
			in.CustomerIDSource = integration.CustomerIDNamiUser
		}
		if legacy {
			in.Scope = integration.ScopeAllPlatforms
		}
		res, err := ToBatch(ev, in)
		if err != nil {
			t.Fatalf("ToBatch of a decoded event: %v", err)
		}
		js, err := json.Marshal(res.Batch)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if len(js) > batchBudget {
			t.Fatalf("batch is %d bytes, over the %d budget", len(js), batchBudget)
		}
		if est := batchSize(&res.Batch, true, false); est < len(js) {
			t.Fatalf("size estimate %d below the real %d", est, len(js))
		}
		res2, _ := ToBatch(ev, in)
		js2, _ := json.Marshal(res2.Batch)
		if string(js) != string(js2) {
			t.Fatal("same input, different JSON")
		}
		attrMap(t, res.Batch.Events[0].Data.CustomAttributes) // keys distinct and in order
		userMap(t, res.Batch.UserAttributes)
		if (res.Batch.UserIdentities == nil) != res.MissingCustomerID {
			t.Fatal("MissingCustomerID disagrees with user_identities")
		}
		for _, f := range res.Degraded {
			if !event.KnownField(f) {
				t.Fatalf("degraded field %q is not one of event.Fields", f)
			}
		}
	})
}
