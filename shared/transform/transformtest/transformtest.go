// Package transformtest holds the golden batches: for each event type, the batch the
// transform makes of the type's sample event (package eventtest) for the feed of the
// sample's app platform, as sent on the wire, indented. They are the whole mapping of an event
// to mParticle in one file per type; TestGoldenBatches in package transform writes and checks
// them, and tests of the forwarder, the end-to-end suite and the dev demo compare what the
// contract server received against them instead of restating the mapping.
package transformtest

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/transform"
)

//go:embed testdata/*.golden.json
var golden embed.FS

// FeedFor returns the integration the golden batch of typ was made for: scoped to the app
// platform of typ's sample (iOS or Android), sending the external id as customer_id. A test
// whose feed is configured the same way (any id, name, pod or event selection) receives the
// golden batch, re-identified as Want describes.
func FeedFor(typ event.Type) integration.Integration {
	in := integration.Integration{
		ID: "int-ios-1", AppID: eventtest.AppID, Enabled: true, Scope: integration.ScopePlatform,
		AppPlatformID: eventtest.IOSPlatformID, Platform: "ios", CustomerIDSource: integration.CustomerIDExternal,
	}
	if sampleOf(typ).AppPlatformID == eventtest.AndroidPlatformID {
		in.ID, in.AppPlatformID, in.Platform = "int-android-1", eventtest.AndroidPlatformID, "android"
	}
	return in
}

// Golden returns testdata/<typ>.golden.json, a fresh copy per call. It panics when there is
// none, as a test cannot go on without its fixture.
func Golden(typ event.Type) []byte {
	b, err := golden.ReadFile(path.Join("testdata", string(typ)+".golden.json"))
	if err != nil {
		panic(fmt.Sprintf("transformtest: no golden batch of %q", typ))
	}
	return b
}

// Delivery is one delivery of a sample event whose batch a test checks: tests give events
// their own ids and times (so that deduplication does not drop them) and store integrations
// under ids of their own.
type Delivery struct {
	EventID       string    // "" for the sample's
	OccurredAt    time.Time // zero for the sample's
	IntegrationID string    // "" for FeedFor's
}

// Want returns the golden batch of typ as the transform makes it for d: the members derived
// from the event id (namiml_event_id, source_message_id), its time (timestamp_unixtime_ms)
// and the integration id (source_request_id) carry d's values; every other byte is the
// golden file's.
func Want(typ event.Type, d Delivery) []byte {
	s := sampleOf(typ)
	if d.EventID == "" {
		d.EventID = s.ID
	}
	if d.OccurredAt.IsZero() {
		d.OccurredAt = s.OccurredAt
	}
	if d.IntegrationID == "" {
		d.IntegrationID = FeedFor(typ).ID
	}
	out := Golden(typ)
	for _, r := range []struct{ old, new string }{
		{quote(transform.SourceRequestID(s.ID, FeedFor(typ).ID)), quote(transform.SourceRequestID(d.EventID, d.IntegrationID))},
		{quote(transform.SourceMessageID(s.ID)), quote(transform.SourceMessageID(d.EventID))},
		{quote(s.ID), quote(d.EventID)},
		{timestamp(s.OccurredAt), timestamp(d.OccurredAt)},
	} {
		if !bytes.Contains(out, []byte(r.old)) {
			panic(fmt.Sprintf("transformtest: golden batch of %s lacks %s", typ, r.old))
		}
		out = bytes.ReplaceAll(out, []byte(r.old), []byte(r.new))
	}
	return out
}

// Check fails t unless got, one batch as a feed received it (any JSON layout), is Want(typ, d).
func Check(t testing.TB, typ event.Type, got []byte, d Delivery) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, bytes.TrimSpace(got), "", "  "); err != nil {
		t.Errorf("batch of %s is not JSON: %v", typ, err)
		return
	}
	pretty.WriteByte('\n')
	if want := Want(typ, d); !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("batch of %s differs from its golden batch (%+v):\ngot:\n%s\nwant:\n%s", typ, d, pretty.Bytes(), want)
	}
}

type sample struct {
	ID            string    `json:"id"`
	AppPlatformID string    `json:"app_platform_id"`
	OccurredAt    time.Time `json:"occurred_at"`
}

func sampleOf(typ event.Type) sample {
	var s sample
	if err := json.Unmarshal(eventtest.Sample(typ), &s); err != nil {
		panic(fmt.Sprintf("transformtest: sample of %s: %v", typ, err))
	}
	return s
}

func quote(s string) string { return strconv.Quote(s) }

func timestamp(t time.Time) string {
	return `"timestamp_unixtime_ms": ` + strconv.FormatInt(t.UnixMilli(), 10)
}

// EventID returns the namiml_event_id of a batch's first event, "" when it has none: how a
// test tells which of the events it sent a received batch carries.
func EventID(batch []byte) string {
	var b struct {
		Events []struct {
			Data struct {
				Attrs struct {
					ID string `json:"namiml_event_id"`
				} `json:"custom_attributes"`
			} `json:"data"`
		} `json:"events"`
	}
	if json.Unmarshal(batch, &b) != nil || len(b.Events) == 0 {
		return ""
	}
	return b.Events[0].Data.Attrs.ID
}
