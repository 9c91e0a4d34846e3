package eventtest

import (
	"encoding/json"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/namiml/mparticle-bridge/shared/event"
)

// Every event type has exactly one sample, and every sample is of the type its file names.
func TestOneSamplePerType(t *testing.T) {
	entries, err := fs.ReadDir(samples, "testdata")
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, e := range entries {
		have = append(have, strings.TrimSuffix(e.Name(), ".json"))
	}
	var want []string
	for _, typ := range event.AllTypes {
		want = append(want, string(typ))
	}
	slices.Sort(want)
	if !slices.Equal(have, want) {
		t.Fatalf("samples %v, want one per event type %v", have, want)
	}
	for _, typ := range event.AllTypes {
		ev, err := event.Decode(Sample(typ))
		if err != nil || ev.Type != typ {
			t.Fatalf("sample of %s: type %q, %v", typ, ev.Type, err)
		}
		if ev.AppID != AppID || (ev.AppPlatformID != IOSPlatformID && ev.AppPlatformID != AndroidPlatformID) {
			t.Errorf("sample of %s is of app %s, platform %s", typ, ev.AppID, ev.AppPlatformID)
		}
	}
}

func TestSampleIsACopy(t *testing.T) {
	b := Sample(event.DeviceImpression)
	b[0] = 'x'
	if Sample(event.DeviceImpression)[0] != '{' {
		t.Fatal("a caller's change reached the embedded sample")
	}
}

func TestBodyAppliesTheEdit(t *testing.T) {
	body := Body(t, event.SubscriptionPurchased, func(m map[string]any) {
		m["app_id"] = "other-app"
		delete(m["user"].(map[string]any), "id")
	})
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	if m["app_id"] != "other-app" || m["user"].(map[string]any)["id"] != nil || m["type"] != string(event.SubscriptionPurchased) {
		t.Fatalf("edited body = %s", body)
	}
	if strings.Contains(body, "\n") {
		t.Errorf("body is not compact: %s", body)
	}
	if plain := Body(t, event.SubscriptionPurchased, nil); !json.Valid([]byte(plain)) {
		t.Fatalf("body without edit: %s", plain)
	}
}

func TestSamplePanicsOnUnknownType(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a type without a sample")
		}
	}()
	Sample("user.subscription.teleported")
}
