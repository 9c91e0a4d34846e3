package mpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// Keys of other pods for the layout tests; their secrets stay out of test output.
const (
	keyEU1    = "eu1-key-0003"
	secretEU1 = "eu1-secret-do-not-print"
	keyUS2    = "plain-key-0004" // no prefix: placed in US2 by WithPod
	secretUS2 = "us2-secret-do-not-print"
)

// datedBatch is a small valid batch whose one event happened at ts.
func datedBatch(n int, ts time.Time) json.RawMessage {
	return compact(fmt.Sprintf(`{"environment":"production","source_request_id":"req-%d",
"events":[{"event_type":"custom_event","data":{"event_name":"renewed","custom_event_type":"transaction",
"timestamp_unixtime_ms":%d,"source_message_id":"00000000-0000-4000-8000-%012d"}}]}`, n, ts.UnixMilli(), n))
}

func TestIsAPIPath(t *testing.T) {
	for path, want := range map[string]bool{
		"/v2/events": true, "/v2/bulkevents": true, "/v2/bulkevents/historical": true,
		"/s2s/v2/events": true, "/s2s/v2/bulkevents": true, "/s2s/v2/bulkevents/historical": true,
		"/": false, "/v2": false, "/s2s": false, "/s2s/v2/historical": false, "/v2/bulkevents/historical/": false,
		"/s2s/s2s/v2/events": false, PathStats: false, "/inbound/v2/events": false,
	} {
		if got := IsAPIPath(path); got != want {
			t.Errorf("IsAPIPath(%q) = %v, want %v", path, got, want)
		}
	}
}

// TestLayouts: the partner layout takes any pod's key; the pod layout only the keys of
// the pod the server plays (by prefix, WithPod, or US1 for a key without a prefix).
func TestLayouts(t *testing.T) {
	h := newHarness(t, Options{Pod: "eu1"})
	h.srv.AddFeed(keyEU1, secretEU1, "eu1 feed")
	h.srv.AddFeed(keyUS2, secretUS2, "us2 feed", WithPod("us2"))
	tests := []struct {
		path, key, secret string
		want              int
	}{
		{"/s2s/v2/bulkevents", keyIOS, secretIOS, 202},
		{"/s2s/v2/bulkevents", keyEU1, secretEU1, 202},
		{"/s2s/v2/bulkevents", keyUS2, secretUS2, 202},
		{"/s2s/v2/events", keyUS2, secretUS2, 202},
		{"/v2/bulkevents", keyEU1, secretEU1, 202},
		{"/v2/events", keyEU1, secretEU1, 202},
		{"/v2/bulkevents", keyIOS, secretIOS, 403}, // US1's key on EU1's host
		{"/v2/bulkevents", keyUS2, secretUS2, 403},
		{"/v2/events", keyUS2, secretUS2, 403},
		{"/s2s/v2/bulkevents", keyEU1, secretIOS, 403}, // wrong secret on the partner layout
		{"/s2s/v2/bulkevents", "", "", 401},
	}
	for i, tt := range tests {
		body := bulk(batchJSON(i))
		if strings.HasSuffix(tt.path, "/events") {
			body = batchJSON(i)
		}
		r := h.post(t, tt.path, tt.key, tt.secret, body)
		if r.status != tt.want {
			t.Errorf("POST %s with key %s: %d, want %d (%s)", tt.path, tt.key[:3], r.status, tt.want, r.body)
			continue
		}
		if tt.want == 403 && tt.secret == secretUS2 && !strings.Contains(r.body, "pod EU1") {
			t.Errorf("pod refusal does not say why: %s", r.body)
		}
	}
	st := h.srv.Stats()
	byPath := func(name string) map[string]int64 { return st.Feeds[name].ByPath }
	if got := byPath("eu1 feed"); got["/s2s/v2/bulkevents"] != 1 || got["/v2/bulkevents"] != 1 || got["/v2/events"] != 1 {
		t.Errorf("eu1 feed by path = %v", got)
	}
	if got := byPath("us2 feed"); got["/s2s/v2/bulkevents"] != 1 || got["/s2s/v2/events"] != 1 || len(got) != 2 {
		t.Errorf("us2 feed by path = %v", got)
	}
	if st.Feeds["us2 feed"].Pod != "US2" || st.Feeds["eu1 feed"].Pod != "EU1" || st.Feeds["ios"].Pod != "US1" {
		t.Errorf("feed pods = %s %s %s", st.Feeds["us2 feed"].Pod, st.Feeds["eu1 feed"].Pod, st.Feeds["ios"].Pod)
	}
	if st.Feeds["us2 feed"].Requests != 2 {
		t.Errorf("a key refused by the pod host counted as the feed's request: %d", st.Feeds["us2 feed"].Requests)
	}
	recs := h.srv.Records(keyEU1)
	if len(recs) != 3 || recs[0].Path != "/s2s/v2/bulkevents" || recs[1].Path != "/v2/bulkevents" || recs[2].Path != "/v2/events" {
		t.Errorf("records' paths = %+v", recs)
	}
}

func TestNewAndWithPodRefuseUnknownPods(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	mustPanic("New(Pod US3)", func() { New(Options{Pod: "US3"}) })
	mustPanic("WithPod(US3)", func() { WithPod("US3") })
	mustPanic("WithPod(\"\")", func() { WithPod("") })
	mustPanic("Redirect(200)", func() { Redirect(200) })
}

// TestHistoricalRules: the historical path takes only dated events 72 hours old or older,
// in batches that have events; mParticle would drop the rest silently, so the stand-in
// refuses the request and names each batch.
func TestHistoricalRules(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	noEvents := compact(`{"environment":"production","source_request_id":"req-x","user_identities":{"customer_id":"c"}}`)
	undated := compact(`{"environment":"production","events":[{"event_type":"custom_event","data":{"event_name":"e","custom_event_type":"other"}}]}`)
	twoEvents := func(a, b time.Time) json.RawMessage {
		var m map[string]any
		_ = json.Unmarshal(datedBatch(0, a), &m)
		var second map[string]any
		_ = json.Unmarshal(datedBatch(1, b), &second)
		m["events"] = append(m["events"].([]any), second["events"].([]any)...)
		out, _ := json.Marshal(m)
		return out
	}
	tests := []struct {
		name     string
		batches  []json.RawMessage
		want     int
		wantMsgs []string
	}{
		{name: "40 days old", batches: []json.RawMessage{datedBatch(1, now.AddDate(0, 0, -40))}, want: 202},
		{name: "exactly 72 hours old", batches: []json.RawMessage{datedBatch(1, now.Add(-72*time.Hour))}, want: 202},
		{name: "71 hours old", batches: []json.RawMessage{datedBatch(1, now.Add(-71*time.Hour))}, want: 400,
			wantMsgs: []string{fmt.Sprintf("batch 0: events[0].data.timestamp_unixtime_ms: %d is less than 72 hours old", now.Add(-71*time.Hour).UnixMilli())}},
		{name: "no events", batches: []json.RawMessage{noEvents}, want: 400,
			wantMsgs: []string{"batch 0: events: is required on the historical path"}},
		{name: "undated event", batches: []json.RawMessage{datedBatch(0, now.AddDate(0, 0, -40)), undated}, want: 400,
			wantMsgs: []string{"batch 1: events[0].data.timestamp_unixtime_ms: is required on the historical path"}},
		{name: "one recent event among old", batches: []json.RawMessage{twoEvents(now.AddDate(0, 0, -40), now.Add(-time.Hour))}, want: 400,
			wantMsgs: []string{"batch 0: events[1].data.timestamp_unixtime_ms:"}},
	}
	for _, prefix := range []string{"", PartnerPrefix} {
		for _, tt := range tests {
			t.Run(prefix+" "+tt.name, func(t *testing.T) {
				h := newHarness(t, Options{Now: func() time.Time { return now }})

				r := h.post(t, prefix+mparticle.PathHistorical, keyIOS, secretIOS, bulk(tt.batches...))

				if r.status != tt.want {
					t.Fatalf("status %d, want %d (%s)", r.status, tt.want, r.body)
				}
				if tt.want != 202 {
					msgs := errorMessages(t, r, "BAD_REQUEST")
					if len(msgs) != len(tt.wantMsgs) {
						t.Fatalf("messages %q, want %d", msgs, len(tt.wantMsgs))
					}
					for i, want := range tt.wantMsgs {
						if !strings.HasPrefix(msgs[i], want) {
							t.Errorf("message %q, want it to start with %q", msgs[i], want)
						}
					}
					if n := len(h.srv.Records(keyIOS)); n != 0 {
						t.Errorf("recorded %d batches of a refused request", n)
					}
					return
				}
				recs := h.srv.Records(keyIOS)
				if len(recs) != len(tt.batches) || recs[0].Path != prefix+mparticle.PathHistorical {
					t.Errorf("records %+v, want %d on %s", recs, len(tt.batches), prefix+mparticle.PathHistorical)
				}
			})
		}
	}
	// The same undated and event-less batches are fine on the live path.
	h := newHarness(t, Options{Now: func() time.Time { return now }})
	if r := h.post(t, PartnerPrefix+mparticle.PathBulkEvents, keyIOS, secretIOS, bulk(noEvents, undated)); r.status != 202 {
		t.Errorf("live path: %d %s", r.status, r.body)
	}
}

// TestOldDataOnLivePathCounted: mParticle takes data older than 30 days on the live paths
// but asks for the historical one; the server counts it so a test can assert the routing.
func TestOldDataOnLivePathCounted(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	h := newHarness(t, Options{Now: func() time.Time { return now }})
	old, recent := now.AddDate(0, 0, -31), now.AddDate(0, 0, -29)
	h.post(t, "/s2s/v2/bulkevents", keyIOS, secretIOS, bulk(datedBatch(1, old), datedBatch(2, recent)))
	h.post(t, "/v2/events", keyIOS, secretIOS, datedBatch(3, old))
	h.post(t, "/s2s/v2/bulkevents/historical", keyIOS, secretIOS, bulk(datedBatch(4, old)))
	st := h.srv.Stats().Feeds["ios"]
	if st.OldOnLivePath != 2 || st.Batches != 4 {
		t.Errorf("old on live path = %d of %d batches, want 2 of 4", st.OldOnLivePath, st.Batches)
	}
}

// sizedBatch returns a valid batch whose JSON is exactly n bytes (n over about 1 KB).
func sizedBatch(t *testing.T, id, n int) json.RawMessage {
	t.Helper()
	build := func(events, pad int) json.RawMessage {
		var evs []map[string]any
		for i := range events {
			attrs := map[string]any{"big": strings.Repeat("x", 4000)}
			if i == 0 {
				attrs["pad"] = strings.Repeat("p", pad)
			}
			evs = append(evs, map[string]any{"event_type": "custom_event", "data": map[string]any{
				"event_name": "e", "custom_event_type": "other", "custom_attributes": attrs,
			}})
		}
		b, _ := json.Marshal(map[string]any{"environment": "development", "source_request_id": fmt.Sprintf("req-%d", id), "events": evs})
		return b
	}
	for events := 1; ; events++ {
		base := len(build(events, 0))
		if pad := n - base; pad >= 0 && pad <= 4096 {
			b := build(events, pad)
			if len(b) != n {
				t.Fatalf("built %d bytes, want %d", len(b), n)
			}
			return b
		}
		if base > n {
			t.Fatalf("cannot build a batch of %d bytes", n)
		}
	}
}

// TestSizeBoundaries: under 128,000 bytes per batch and under 256,000 per request.
func TestSizeBoundaries(t *testing.T) {
	tests := []struct {
		name  string
		sizes []int
		want  int
		msg   string
	}{
		{name: "batch of 127,999 bytes", sizes: []int{127_999}, want: 202},
		{name: "batch of 128,000 bytes", sizes: []int{128_000}, want: 400, msg: "batch 0: (batch): batch is 128000 bytes, the limit is under 128000"},
		// "[" + 85,332 + "," + 85,332 + "," + 85,331 + "]" = 255,999 bytes.
		{name: "request of 255,999 bytes", sizes: []int{85_332, 85_332, 85_331}, want: 202},
		{name: "request of 256,000 bytes", sizes: []int{85_332, 85_332, 85_332}, want: 413, msg: "the limit is under 256000"},
	}
	for _, chunked := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s chunked=%v", tt.name, chunked), func(t *testing.T) {
				h := newHarness(t, Options{})
				var bs []json.RawMessage
				for i, n := range tt.sizes {
					bs = append(bs, sizedBatch(t, i, n))
				}
				body := bulk(bs...)
				req := h.request(t, context.Background(), PartnerPrefix+mparticle.PathBulkEvents, keyIOS, secretIOS, body)
				if chunked {
					req.Body = readCloser{bytes.NewReader(body)}
					req.ContentLength = -1
				}
				r := h.do(t, req)
				if r.status != tt.want {
					t.Fatalf("status %d, want %d (%.200s)", r.status, tt.want, r.body)
				}
				if tt.msg != "" {
					code := map[int]string{400: "BAD_REQUEST", 413: "REQUEST_TOO_LARGE"}[tt.want]
					if msgs := errorMessages(t, r, code); !strings.Contains(msgs[0], tt.msg) {
						t.Errorf("message %q, want %q", msgs[0], tt.msg)
					}
				}
			})
		}
	}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// TestRedirectFault: an injected redirect points at the server's own PathRedirected, where
// a client that follows it (resending its credentials) is counted and refused.
func TestRedirectFault(t *testing.T) {
	t.Run("scripted", func(t *testing.T) {
		h := newHarness(t, Options{})
		h.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		h.srv.Script(keyIOS, Redirect(http.StatusMovedPermanently))
		r := h.post(t, PartnerPrefix+mparticle.PathBulkEvents, keyIOS, secretIOS, bulk(batchJSON(1)))
		if r.status != 301 || !strings.HasSuffix(r.header.Get("Location"), PathRedirected+PartnerPrefix+mparticle.PathBulkEvents) {
			t.Fatalf("status %d, Location %q", r.status, r.header.Get("Location"))
		}
		if len(h.srv.Records(keyIOS)) != 0 || h.srv.Stats().RedirectsFollowed != 0 {
			t.Fatal("a redirected request was recorded, or counted as followed")
		}
	})
	t.Run("injected and followed", func(t *testing.T) {
		h := newHarness(t, Options{Faults: Faults{PRedirect: 1, RedirectStatus: 307}})
		follower := &http.Client{} // follows a 307, body and all
		req := h.request(t, context.Background(), mparticle.PathBulkEvents, keyIOS, secretIOS, bulk(batchJSON(1)))
		resp, err := follower.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		st := h.srv.Stats()
		if resp.StatusCode != http.StatusMisdirectedRequest || st.RedirectsFollowed != 1 || st.ByStatus[307] != 1 {
			t.Fatalf("status %d, followed %d, 307s %d", resp.StatusCode, st.RedirectsFollowed, st.ByStatus[307])
		}
		if len(h.srv.Records(keyIOS)) != 0 {
			t.Fatal("recorded a redirected request")
		}
	})
}

// TestInspectionUnderPartnerPrefix: tools given the partner layout's base URL find the
// inspection endpoints under it.
func TestInspectionUnderPartnerPrefix(t *testing.T) {
	h := newHarness(t, Options{})
	h.post(t, PartnerPrefix+mparticle.PathBulkEvents, keyIOS, secretIOS, bulk(batchJSON(1)))
	r := h.get(t, PartnerPrefix+PathStats)
	var st Stats
	if err := json.Unmarshal([]byte(r.body), &st); err != nil || r.status != 200 || st.Feeds["ios"].Batches != 1 {
		t.Fatalf("stats under %s: %d %v %+v", PartnerPrefix, r.status, err, st)
	}
	if r := h.get(t, PartnerPrefix+PathReceived+"?feed=ios"); r.status != 200 || !strings.Contains(r.body, `"path": "/s2s/v2/bulkevents"`) {
		t.Fatalf("received under %s: %d %s", PartnerPrefix, r.status, r.body)
	}
}
