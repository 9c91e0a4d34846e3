package mparticle

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/feedcreds"
)

// Distinctive credentials, so a leak is unambiguous in any text.
var testCreds = feedcreds.Credentials{Key: "key-7f3a9c1e5b2d", Secret: "secret-Q8wZ4xN2vK6mT1pR"}

// recordedRequest is what the test server saw of one request.
type recordedRequest struct {
	Method, Path, ContentType, Accept string
	User, Pass                        string
	HasAuth                           bool
	Body                              []byte
}

// batchIDs returns the source_request_id of each batch in the request body.
func (r recordedRequest) batchIDs(t *testing.T) []string {
	t.Helper()
	var bs []Batch
	if err := json.Unmarshal(r.Body, &bs); err != nil {
		t.Fatalf("request body is not a JSON array of batches: %v", err)
	}
	ids := make([]string, len(bs))
	for i, b := range bs {
		ids[i] = b.SourceRequestID
	}
	return ids
}

// testServer is an httptest server that records requests and counts new connections.
type testServer struct {
	*httptest.Server
	mu       sync.Mutex
	reqs     []recordedRequest
	newConns int
}

// handlerFunc answers request number n (1-based) whose body was already read.
type handlerFunc func(w http.ResponseWriter, r *http.Request, rec recordedRequest, n int)

func newTestServer(t *testing.T, h handlerFunc) *testServer {
	t.Helper()
	ts := &testServer{}
	ts.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading request body: %v", err)
		}
		user, pass, ok := r.BasicAuth()
		rec := recordedRequest{
			Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"),
			Accept: r.Header.Get("Accept"), User: user, Pass: pass, HasAuth: ok, Body: body,
		}
		ts.mu.Lock()
		ts.reqs = append(ts.reqs, rec)
		n := len(ts.reqs)
		ts.mu.Unlock()
		h(w, r, rec, n)
	}))
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			ts.mu.Lock()
			ts.newConns++
			ts.mu.Unlock()
		}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

func (ts *testServer) requests() []recordedRequest {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]recordedRequest(nil), ts.reqs...)
}

func (ts *testServer) connections() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.newConns
}

func accepted(w http.ResponseWriter, _ *http.Request, _ recordedRequest, _ int) {
	w.WriteHeader(http.StatusAccepted)
}

// hijackClose drops the connection without answering, as a reset or crashed peer would.
func hijackClose(t *testing.T, w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		t.Fatal("response writer cannot hijack")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		t.Fatalf("hijack: %v", err)
	}
	_ = conn.Close()
}

func writeAPIError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q}]}`, code, msg)
}

// sleeper records requested waits instead of sleeping.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeper) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeper) recorded() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// newTestClient points a client at ts with a recording sleeper and a fixed jitter of 0.5.
func newTestClient(t *testing.T, ts *testServer, mod func(*Options)) (*Client, *sleeper) {
	t.Helper()
	s := &sleeper{}
	opts := Options{Sleep: s.Sleep, Rand: func() float64 { return 0.5 }}
	if ts != nil {
		opts.BaseURL = ts.URL
	}
	if mod != nil {
		mod(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, s
}

func testFeed(pod string) Feed {
	return Feed{ID: "integration-1", Pod: pod, Credentials: testCreds}
}

// recentMillis dates the helpers' events an hour before the tests run, so uploads use the
// live path unless a test dates a batch otherwise.
var recentMillis = time.Now().Add(-time.Hour).UnixMilli()

// smallBatch is a minimal batch identified by its source_request_id.
func smallBatch(i int) Batch {
	return Batch{
		Environment:     EnvDevelopment,
		SourceRequestID: fmt.Sprintf("req-%03d", i),
		Events: []Event{{EventType: EventTypeCustom, Data: EventData{
			TimestampUnixtimeMS: recentMillis + int64(i), EventName: "purchased", CustomEventType: "transaction",
		}}},
	}
}

func smallBatches(n int) []Batch {
	bs := make([]Batch, n)
	for i := range bs {
		bs[i] = smallBatch(i)
	}
	return bs
}

// paddedBatch is a batch whose encoding is about pad bytes larger than smallBatch's.
func paddedBatch(i, pad int) Batch {
	b := smallBatch(i)
	b.UserAttributes = UserAttributes{{Key: "padding", Value: strings.Repeat("x", pad)}}
	return b
}

// sampleBatch is shaped like the forwarder's real output.
func sampleBatch(i int) Batch {
	total := 9.99
	return Batch{
		Environment:       EnvProduction,
		SourceRequestID:   fmt.Sprintf("6f1c2b7e-0d4a-5e8f-9a1b-%012d", i),
		UserIdentities:    &UserIdentities{CustomerID: fmt.Sprintf("external-%d", i)},
		PartnerIdentities: Attributes{{Key: "namiml_user_id", Value: fmt.Sprintf("8c2d3e4f-%d", i)}},
		UserAttributes: UserAttributes{
			{Key: "namiml_active_entitlements", List: []string{"premium"}},
			{Key: "namiml_active_skus", List: []string{"monthly_premium"}},
			{Key: "namiml_device_ids", List: []string{"a1b2c3d4-e5f6-4789-abcd-ef0123456789"}},
			{Key: "namiml_device_platforms", List: []string{"ios"}},
			{Key: "namiml_former_subscriber", Value: "false"},
			{Key: "namiml_in_grace_period", Value: "false"},
			{Key: "namiml_in_trial_period", Value: "true"},
		},
		DeviceInfo: &DeviceInfo{Platform: "iOS", IOSIDFV: "a1b2c3d4-e5f6-4789-abcd-ef0123456789", OSVersion: "17.4"},
		Events: []Event{
			{EventType: EventTypeCustom, Data: EventData{
				TimestampUnixtimeMS: recentMillis, SourceMessageID: "0b9e7c52-3f1d-5a2b-8c4e-6d7f8a9b0c1d",
				EventName: "trial_started", CustomEventType: "transaction",
				CustomAttributes: Attributes{{Key: "event_platform", Value: "apple"}, {Key: "namiml_event_category", Value: "user"}, {Key: "namiml_event_subcategory1", Value: "trial_started"}},
			}},
			{EventType: EventTypeCommerce, Data: EventData{
				TimestampUnixtimeMS: recentMillis, SourceMessageID: "1c0f8d63-4a2e-5b3c-9d5f-7e8a9b0c1d2e",
				CurrencyCode:  "USD",
				ProductAction: &ProductAction{Action: "purchase", TransactionID: "1000000123456789", TotalAmount: &total, Products: []Product{{ID: "monthly_premium", Price: &total}}},
			}},
		},
	}
}

// logBuffer returns a debug-level JSON logger writing into a buffer.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

func countOutcomes(rs []Result) map[Outcome]int {
	m := map[Outcome]int{}
	for _, r := range rs {
		m[r.Outcome]++
	}
	return m
}
