// Package eventtest holds the sample platform events, one per event type, for tests and dev
// tools: testdata/<type>.json, embedded so that any package reads the same bytes without a
// path relative to its own directory.
//
// The samples are events of one app (AppID) with an iOS and an Android app platform: nine
// types are iOS events, four (in_grace_period, renewal_in_grace_period, paused, resumed)
// Android ones.
//
// eventtest does not import package event, so that event's own tests can use it; the
// functions take any string type, event.Type included.
package eventtest

import (
	"embed"
	"encoding/json"
	"fmt"
	"path"
)

//go:embed testdata/*.json
var samples embed.FS

// The samples' app and its two app platforms.
const (
	AppID             = "5b1a3c6e-2f4d-4e8a-9c1b-7d2e8f3a4b5c"
	IOSPlatformID     = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
	AndroidPlatformID = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
)

// TB is the part of testing.TB that Body uses. eventtest does not import package testing, so
// the dev tools that send the samples do not link it.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Type is an event type name such as event.SubscriptionPurchased.
type Type interface{ ~string }

// Sample returns the sample event of typ as stored: indented JSON, a fresh copy per call. It
// panics when there is no sample of typ, as a test cannot go on without its fixture.
func Sample[T Type](typ T) []byte {
	b, err := samples.ReadFile(path.Join("testdata", string(typ)+".json"))
	if err != nil {
		panic(fmt.Sprintf("eventtest: no sample of %q", string(typ)))
	}
	return b
}

// Body returns the sample event of typ as an SQS message body (compact JSON), after edit
// (which may be nil) has changed its decoded form: edit can set, replace or delete members,
// e.g. m["app_id"] = "other" or delete(m["user"].(map[string]any), "id").
func Body[T Type](t TB, typ T, edit func(m map[string]any)) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(Sample(typ), &m); err != nil {
		t.Fatalf("sample of %s: %v", string(typ), err)
	}
	if edit != nil {
		edit(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("edited sample of %s: %v", string(typ), err)
	}
	return string(b)
}
