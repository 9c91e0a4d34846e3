package devmp

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/namiml/mparticle-bridge/shared/testkit/mpserver"
)

type fakeDir struct {
	feeds []Feed
	calls atomic.Int32
}

func (d *fakeDir) Feeds(context.Context) ([]Feed, error) {
	d.calls.Add(1)
	return d.feeds, nil
}

const batch = `{"environment":"development","user_identities":{"customer_id":"u1"},"events":[{"event_type":"custom_event","data":{"event_name":"x","custom_event_type":"other","timestamp_unixtime_ms":1715679000000,"source_message_id":"6f1c1d0e-7a51-4c3e-9b0a-2f4d8e6a1b3c"}}],"source_request_id":"7f1c1d0e-7a51-4c3e-9b0a-2f4d8e6a1b3c"}`

func post(t *testing.T, url, key, secret string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v2/events", strings.NewReader(batch))
	req.SetBasicAuth(key, secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestFeedsComeFromTheDirectoryOnFirstUse(t *testing.T) {
	dir := &fakeDir{feeds: []Feed{{Key: "key-ios-1", Secret: "secret-1", Name: "iOS"}, {Key: "key-and-1", Secret: "secret-2", Name: "iOS"}}}
	mp := mpserver.New(mpserver.Options{})
	srv := httptest.NewServer(New(mp, dir, nil))
	defer srv.Close()

	if got := post(t, srv.URL, "key-ios-1", "secret-1"); got != http.StatusAccepted {
		t.Fatalf("stored integration's credentials: HTTP %d, want 202", got)
	}
	if got := post(t, srv.URL, "key-ios-1", "secret-1"); got != http.StatusAccepted || dir.calls.Load() != 1 {
		t.Fatalf("known key: HTTP %d after %d directory reads, want 202 after 1", got, dir.calls.Load())
	}
	if got := post(t, srv.URL, "key-ios-1", "wrong"); got != http.StatusForbidden && got != http.StatusUnauthorized {
		t.Errorf("wrong secret: HTTP %d, want a refusal", got)
	}
	if got := post(t, srv.URL, "nobody", "secret"); got != http.StatusForbidden && got != http.StatusUnauthorized {
		t.Errorf("credentials no integration holds: HTTP %d, want a refusal", got)
	}
	// Two feeds with the same display name stay apart.
	if got := post(t, srv.URL, "key-and-1", "secret-2"); got != http.StatusAccepted {
		t.Fatalf("second feed: HTTP %d", got)
	}
	if n := len(mp.Stats().Feeds); n != 2 {
		t.Errorf("%d feeds registered, want 2", n)
	}
}
