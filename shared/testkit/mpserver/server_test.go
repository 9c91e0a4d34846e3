package mpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// Test credentials: fake, but treated as secrets (never printed by a test).
const (
	keyIOS    = "ios-key-0001"
	secretIOS = "ios-secret-do-not-print"
	keyAnd    = "and-key-0002"
	secretAnd = "and-secret-do-not-print"
)

// readSample returns testdata/sdk_batch.json: a batch shaped like what a mobile SDK
// uploads (many event types, every common device field, and the fields mParticle sets
// itself), which the validator must take apart field by field.
func readSample(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "sdk_batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type harness struct {
	srv *Server
	url string
	// client never keeps connections alive, so an injected reset cannot make the
	// transport retry and skew the request count.
	client *http.Client
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	srv := New(opts)
	srv.AddFeed(keyIOS, secretIOS, "ios", WithPlatform("iOS"))
	srv.AddFeed(keyAnd, secretAnd, "android")
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	t.Cleanup(func() { srv.Close() }) // runs first: releases hanging requests
	return &harness{srv: srv, url: ts.URL, client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
}

type reply struct {
	status int
	header http.Header
	body   string
}

// post sends body with Basic credentials (none if key is "") and returns the answer.
func (h *harness) post(t *testing.T, path, key, secret string, body []byte) reply {
	t.Helper()
	req := h.request(t, context.Background(), path, key, secret, body)
	return h.do(t, req)
}

func (h *harness) request(t *testing.T, ctx context.Context, path, key, secret string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.SetBasicAuth(key, secret)
	}
	return req
}

func (h *harness) do(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if strings.Contains(r.body, secretIOS) || strings.Contains(r.body, secretAnd) ||
		strings.Contains(r.body, keyIOS) || strings.Contains(r.body, keyAnd) {
		t.Fatalf("response body leaks a credential")
	}
	return r
}

func (h *harness) get(t *testing.T, path string) reply {
	t.Helper()
	resp, err := h.client.Get(h.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// errorMessages decodes the API's error body, failing if it has another shape.
func errorMessages(t *testing.T, r reply, code string) []string {
	t.Helper()
	var body struct {
		Errors []errorEntry `json:"errors"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || len(body.Errors) == 0 {
		t.Fatalf("want {\"errors\":[...]} body, got %q", r.body)
	}
	var msgs []string
	for _, e := range body.Errors {
		if e.Code != code {
			t.Errorf("error code %q, want %q", e.Code, code)
		}
		msgs = append(msgs, e.Message)
	}
	return msgs
}

// batchJSON returns a small valid batch; n makes its ids distinct.
func batchJSON(n int) json.RawMessage {
	return compact(fmt.Sprintf(`{"environment":"development","source_request_id":"req-%d",
"user_identities":{"customer_id":"c-%d"},
"events":[{"event_type":"custom_event","data":{"event_name":"renewed","custom_event_type":"transaction",
"timestamp_unixtime_ms":1700000000000,"source_message_id":"00000000-0000-4000-8000-%012d"}}]}`, n, n, n))
}

func compact(s string) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func bulk(batches ...json.RawMessage) []byte {
	b, _ := json.Marshal(batches)
	return b
}

func TestAuthentication(t *testing.T) {
	h := newHarness(t, Options{})
	tests := []struct {
		name   string
		header string // Authorization; "basic" means SetBasicAuth(key, secret)
		key    string
		secret string
		want   int
	}{
		{"missing header", "", "", "", http.StatusUnauthorized},
		{"bearer scheme", "Bearer abc", "", "", http.StatusUnauthorized},
		{"not base64", "Basic !!!", "", "", http.StatusUnauthorized},
		{"no colon", "Basic " + "aW9zLWtleQ==", "", "", http.StatusUnauthorized},
		{"unknown key", "basic", "nobody", secretIOS, http.StatusForbidden},
		{"wrong secret", "basic", keyIOS, secretAnd, http.StatusForbidden},
		{"empty secret", "basic", keyIOS, "", http.StatusForbidden},
		{"valid", "basic", keyIOS, secretIOS, http.StatusAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := h.request(t, context.Background(), mparticle.PathEvents, "", "", batchJSON(1))
			switch tt.header {
			case "basic":
				req.SetBasicAuth(tt.key, tt.secret)
			case "":
			default:
				req.Header.Set("Authorization", tt.header)
			}
			r := h.do(t, req)
			if r.status != tt.want {
				t.Fatalf("status %d, want %d (body %s)", r.status, tt.want, r.body)
			}
			if tt.want != http.StatusAccepted {
				code := map[int]string{401: "UNAUTHORIZED", 403: "FORBIDDEN"}[tt.want]
				errorMessages(t, r, code)
			}
		})
	}
	st := h.srv.Stats()
	if st.Requests != int64(len(tests)) || st.ByStatus[401] != 4 || st.ByStatus[403] != 3 || st.ByStatus[202] != 1 {
		t.Fatalf("stats %+v", st)
	}
	if st.Feeds["ios"].Requests != 1 {
		t.Fatalf("only authenticated requests count per feed, got %d", st.Feeds["ios"].Requests)
	}
}

func TestRequestLimits(t *testing.T) {
	h := newHarness(t, Options{})
	big := bytes.Repeat([]byte(" "), mparticle.MaxRequestBytes+1)
	copy(big, bulk(batchJSON(1)))
	hundred := make([]json.RawMessage, 100)
	for i := range hundred {
		hundred[i] = batchJSON(i)
	}
	tests := []struct {
		name     string
		path     string
		ct       string
		body     []byte
		chunked  bool
		want     int
		wantCode string
		wantMsg  string
	}{
		{"text/plain", mparticle.PathEvents, "text/plain", batchJSON(1), false, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json"},
		{"no content type", mparticle.PathEvents, "", batchJSON(1), false, 415, "UNSUPPORTED_MEDIA_TYPE", ""},
		{"json with charset", mparticle.PathEvents, "application/json; charset=utf-8", batchJSON(1), false, 202, "", ""},
		{"over 256 KB", mparticle.PathBulkEvents, "application/json", big, false, 413, "REQUEST_TOO_LARGE", "the limit is under 256000"},
		{"over 256 KB chunked", mparticle.PathBulkEvents, "application/json", big, true, 413, "REQUEST_TOO_LARGE", ""},
		{"invalid JSON", mparticle.PathEvents, "application/json", []byte(`{"environment":`), false, 400, "BAD_REQUEST", "body must be one JSON batch object"},
		{"array to /events", mparticle.PathEvents, "application/json", bulk(batchJSON(1)), false, 400, "BAD_REQUEST", "body must be one JSON batch object"},
		{"object to /bulkevents", mparticle.PathBulkEvents, "application/json", batchJSON(1), false, 400, "BAD_REQUEST", "body must be a JSON array of batches"},
		{"zero batches", mparticle.PathBulkEvents, "application/json", []byte(`[]`), false, 400, "BAD_REQUEST", "no batches"},
		{"100 batches", mparticle.PathBulkEvents, "application/json", bulk(hundred...), false, 202, "", ""},
		{"101 batches", mparticle.PathBulkEvents, "application/json", bulk(append(hundred, batchJSON(100))...), false, 400, "BAD_REQUEST", "101 batches, over the limit of 100 per request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := h.request(t, context.Background(), tt.path, keyIOS, secretIOS, tt.body)
			req.Header.Set("Content-Type", tt.ct)
			if tt.chunked {
				req.Body = io.NopCloser(bytes.NewReader(tt.body))
				req.ContentLength = -1
			}
			r := h.do(t, req)
			if r.status != tt.want {
				t.Fatalf("status %d, want %d (body %s)", r.status, tt.want, r.body)
			}
			if tt.want == 202 {
				if r.body != "" {
					t.Fatalf("202 body %q, want empty", r.body)
				}
				if r.header.Get(headerRateLimitUsed) == "" {
					t.Fatal("202 without X-mp-rate-limit-percentage-used")
				}
				return
			}
			msgs := errorMessages(t, r, tt.wantCode)
			if !strings.Contains(msgs[0], tt.wantMsg) {
				t.Fatalf("message %q, want it to contain %q", msgs[0], tt.wantMsg)
			}
		})
	}
	if got := len(h.srv.Records(keyIOS)); got != 101 {
		t.Fatalf("recorded %d batches, want 101 (the two accepted requests)", got)
	}
}

func TestInvalidBatchRefusesWholeRequest(t *testing.T) {
	h := newHarness(t, Options{})
	bad := json.RawMessage(`{"environment":"production","events":[{"event_type":"custom_event","data":{"custom_event_type":"other"}}]}`)
	worse := json.RawMessage(`{"environment":"staging","schema_version":2}`)
	r := h.post(t, mparticle.PathBulkEvents, keyIOS, secretIOS, bulk(batchJSON(0), batchJSON(1), bad, batchJSON(3), worse))
	if r.status != 400 {
		t.Fatalf("status %d", r.status)
	}
	got := errorMessages(t, r, "BAD_REQUEST")
	want := []string{
		"batch 2: events[0].data.event_name: is required",
		`batch 4: environment: must be one of production development, got "staging"`,
		"batch 4: schema_version: is set by mParticle and must not be sent",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("messages %q, want %q", got, want)
	}
	if n := len(h.srv.Records(keyIOS)); n != 0 {
		t.Fatalf("recorded %d batches of a refused request", n)
	}
}

func TestAcceptRecordsAndCallsOnAccept(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	h := newHarness(t, Options{OnAccept: func(name string, b json.RawMessage) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, name+" "+string(b))
	}})
	r := h.post(t, mparticle.PathBulkEvents, keyAnd, secretAnd, bulk(batchJSON(1), batchJSON(2)))
	if r.status != 202 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	want := []string{"android " + string(batchJSON(1)), "android " + string(batchJSON(2))}
	if !slices.Equal(seen, want) {
		t.Fatalf("OnAccept saw %q", seen)
	}
	got := h.srv.Received(keyAnd)
	if len(got) != 2 || got[1].UserIdentities == nil || got[1].UserIdentities.CustomerID != "c-2" ||
		got[1].Events[0].Data.EventName != "renewed" || got[1].SourceRequestID != "req-2" {
		t.Fatalf("Received decoded %+v", got)
	}
	if raw := h.srv.ReceivedRaw(keyAnd); !bytes.Equal(raw[0], batchJSON(1)) {
		t.Fatalf("raw %s", raw[0])
	}
	if len(h.srv.Received(keyIOS)) != 0 || h.srv.Received("nobody") != nil {
		t.Fatal("other feeds must be empty")
	}
	if st := h.srv.Stats(); st.BytesReceived != int64(len(bulk(batchJSON(1), batchJSON(2)))) || st.Feeds["android"].Events != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDuplicates(t *testing.T) {
	h := newHarness(t, Options{})
	for _, body := range [][]byte{bulk(batchJSON(1), batchJSON(2)), bulk(batchJSON(2)), bulk(batchJSON(3))} {
		if r := h.post(t, mparticle.PathBulkEvents, keyIOS, secretIOS, body); r.status != 202 {
			t.Fatalf("status %d", r.status)
		}
	}
	// Same request id, new message id; and new request id, repeated message id.
	sameReq := json.RawMessage(strings.Replace(string(batchJSON(9)), "req-9", "req-1", 1))
	sameMsg := json.RawMessage(strings.Replace(string(batchJSON(3)), "req-3", "req-33", 1))
	if r := h.post(t, mparticle.PathBulkEvents, keyIOS, secretIOS, bulk(sameReq, sameMsg)); r.status != 202 {
		t.Fatalf("status %d", r.status)
	}
	// Another feed has its own scope.
	if r := h.post(t, mparticle.PathEvents, keyAnd, secretAnd, batchJSON(1)); r.status != 202 {
		t.Fatalf("status %d", r.status)
	}
	st := h.srv.Stats()
	ios := st.Feeds["ios"]
	if ios.Batches != 6 || ios.DuplicateBatches != 2 || ios.DuplicateEvents != 2 {
		t.Fatalf("ios stats %+v", ios)
	}
	if a := st.Feeds["android"]; a.DuplicateBatches != 0 || a.DuplicateEvents != 0 {
		t.Fatalf("android stats %+v", a)
	}
	var flags []string
	for _, r := range h.srv.Records(keyIOS) {
		flags = append(flags, fmt.Sprintf("%d:%v/%d", r.Seq, r.DuplicateRequest, r.DuplicateMessages))
	}
	want := []string{"1:false/0", "2:false/0", "3:true/1", "4:false/0", "5:true/0", "6:false/1"}
	if !slices.Equal(flags, want) {
		t.Fatalf("records %q, want %q", flags, want)
	}
}

func TestPlatformMismatchCounted(t *testing.T) {
	h := newHarness(t, Options{})
	android := `{"environment":"production","device_info":{"platform":"Android"}}`
	ios := `{"environment":"production","device_info":{"platform":"iOS"}}`
	for _, b := range []string{android, ios, `{"environment":"production"}`} {
		if r := h.post(t, mparticle.PathEvents, keyIOS, secretIOS, []byte(b)); r.status != 202 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	}
	if n := h.srv.Stats().Feeds["ios"].PlatformMismatches; n != 1 {
		t.Fatalf("mismatches %d, want 1", n)
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestRateLimit(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	h := newHarness(t, Options{Now: clock.now, RateLimit: RateLimit{Rate: 2, Burst: 4}})
	// A feed with its own, slower limit.
	h.srv.AddFeed("slow-key", "slow-secret", "slow", WithRateLimit(RateLimit{Rate: 0.25, Burst: 1}))
	send := func(key, secret string, n int) reply {
		bs := make([]json.RawMessage, n)
		for i := range bs {
			bs[i] = batchJSON(i)
		}
		return h.post(t, mparticle.PathBulkEvents, key, secret, bulk(bs...))
	}
	steps := []struct {
		name       string
		key        string
		n          int
		advance    time.Duration
		want       int
		retryAfter string
		pctUsed    string
	}{
		{"three of four", keyIOS, 3, 0, 202, "", "75"},
		{"two more than left", keyIOS, 2, 0, 429, "1", ""}, // 1 token, need 2 at 2/s: 0.5 s -> 1
		{"other feed unaffected", keyAnd, 4, 0, 202, "", "100"},
		{"after refill", keyIOS, 2, 500 * time.Millisecond, 202, "", "100"},
		{"empty bucket", keyIOS, 4, 0, 429, "2", ""},
		{"larger than burst needs full bucket", keyIOS, 6, 2 * time.Second, 202, "", "100"},
		{"slow feed first", "slow-key", 1, 0, 202, "", "100"},
		{"slow feed waits four seconds", "slow-key", 1, time.Second, 429, "3", ""},
	}
	for _, st := range steps {
		clock.advance(st.advance)
		secret := map[string]string{keyIOS: secretIOS, keyAnd: secretAnd, "slow-key": "slow-secret"}[st.key]
		r := send(st.key, secret, st.n)
		if r.status != st.want {
			t.Fatalf("%s: status %d, want %d (%s)", st.name, r.status, st.want, r.body)
		}
		if st.want == 429 {
			if got := r.header.Get("Retry-After"); got != st.retryAfter {
				t.Errorf("%s: Retry-After %q, want %q", st.name, got, st.retryAfter)
			}
			if got := r.header.Get(headerRateLimitExceeded); got != "feed" {
				t.Errorf("%s: %s %q", st.name, headerRateLimitExceeded, got)
			}
			errorMessages(t, r, "TOO_MANY_REQUESTS")
		} else if got := r.header.Get(headerRateLimitUsed); got != st.pctUsed {
			t.Errorf("%s: percentage used %q, want %q", st.name, got, st.pctUsed)
		}
	}
	if n := len(h.srv.Records(keyIOS)); n != 3+2+6 {
		t.Fatalf("recorded %d, want only the admitted batches", n)
	}
}

func TestScript(t *testing.T) {
	h := newHarness(t, Options{Faults: Faults{P500: 1}}) // the script goes before faults
	h.srv.Script(keyIOS,
		Reply(http.StatusServiceUnavailable),
		Reply(http.StatusTooManyRequests, "Retry-After", "7", headerRateLimitExceeded, "acceleration"),
		ReplyBody(http.StatusBadRequest, `{"errors":[{"code":"BAD_REQUEST","message":"scripted"}]}`),
		PassThrough(),
	)
	want := []int{503, 429, 400, 202, 500}
	for i, w := range want {
		r := h.post(t, mparticle.PathEvents, keyIOS, secretIOS, batchJSON(i))
		if r.status != w {
			t.Fatalf("request %d: status %d, want %d", i, r.status, w)
		}
		switch i {
		case 1:
			if r.header.Get("Retry-After") != "7" || r.header.Get(headerRateLimitExceeded) != "acceleration" {
				t.Fatalf("scripted headers %v", r.header)
			}
		case 2:
			if msgs := errorMessages(t, r, "BAD_REQUEST"); msgs[0] != "scripted" {
				t.Fatalf("body %q", r.body)
			}
		case 0, 4:
			errorMessages(t, r, "INJECTED")
		}
	}
	if recs := h.srv.Records(keyIOS); len(recs) != 1 || !bytes.Equal(recs[0].Raw, batchJSON(3)) {
		t.Fatalf("only the pass-through request is recorded, got %d", len(recs))
	}
}

func TestConnectionReset(t *testing.T) {
	h := newHarness(t, Options{})
	h.srv.Script(keyIOS, ConnectionReset())
	req := h.request(t, context.Background(), mparticle.PathEvents, keyIOS, secretIOS, batchJSON(1))
	resp, err := h.client.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("want a transport error, got status %d", resp.StatusCode)
	}
	st := h.srv.Stats()
	if st.Resets != 1 || st.Feeds["ios"].Resets != 1 || len(h.srv.Records(keyIOS)) != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// trackingWriter notes any attempt to answer.
type trackingWriter struct {
	header http.Header
	wrote  bool
}

func (w *trackingWriter) Header() http.Header         { return w.header }
func (w *trackingWriter) Write(b []byte) (int, error) { w.wrote = true; return len(b), nil }
func (w *trackingWriter) WriteHeader(int)             { w.wrote = true }

func TestTimeoutAfterAcceptRecordsButNeverAnswers(t *testing.T) {
	accepted := make(chan struct{}, 1)
	srv := New(Options{OnAccept: func(string, json.RawMessage) { accepted <- struct{}{} }})
	srv.AddFeed(keyIOS, secretIOS, "ios")
	srv.Script(keyIOS, TimeoutAfterAccept())

	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, mparticle.PathEvents, bytes.NewReader(batchJSON(1)))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(keyIOS, secretIOS)
	w := &trackingWriter{header: http.Header{}}
	done := make(chan any)
	go func() {
		defer func() { done <- recover() }()
		srv.ServeHTTP(w, req)
	}()
	<-accepted
	if len(srv.Records(keyIOS)) != 1 {
		t.Fatal("batch not recorded before hanging")
	}
	cancel() // the client gives up
	if p := <-done; p != http.ErrAbortHandler {
		t.Fatalf("handler ended with %v, want the http.ErrAbortHandler panic", p)
	}
	if w.wrote {
		t.Fatal("the handler answered")
	}
	if st := srv.Stats(); st.Timeouts != 1 || st.Hanging != 0 || len(st.ByStatus) != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTimeoutOverHTTP(t *testing.T) {
	accepted := make(chan struct{}, 2)
	h := newHarness(t, Options{OnAccept: func(string, json.RawMessage) { accepted <- struct{}{} }})
	h.srv.Script(keyIOS, TimeoutAfterAccept(), TimeoutAfterAccept())

	type result struct {
		status int
		err    error
	}
	results := make(chan result, 1)
	send := func(ctx context.Context, n int) {
		resp, err := h.client.Do(h.request(t, ctx, mparticle.PathEvents, keyIOS, secretIOS, batchJSON(n)))
		if err != nil {
			results <- result{err: err}
			return
		}
		resp.Body.Close()
		results <- result{status: resp.StatusCode}
	}

	// The client gives up: it sees its own cancellation, never a status.
	ctx, cancel := context.WithCancel(context.Background())
	go send(ctx, 1)
	<-accepted
	cancel()
	if r := <-results; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("client got %+v, want context.Canceled", r)
	}

	// The server closes: the connection drops without an answer.
	go send(context.Background(), 2)
	<-accepted
	h.srv.Close()
	if r := <-results; r.err == nil {
		t.Fatalf("client got status %d, want a dropped connection", r.status)
	}
	if n := len(h.srv.Records(keyIOS)); n != 2 {
		t.Fatalf("recorded %d, want 2", n)
	}
	if st := h.srv.Stats(); st.Timeouts != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// outcomes sends n sequential requests and names what each got.
func outcomes(t *testing.T, h *harness, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		resp, err := h.client.Do(h.request(t, context.Background(), mparticle.PathEvents, keyIOS, secretIOS, batchJSON(i)))
		if err != nil {
			out = append(out, "reset")
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out = append(out, fmt.Sprint(resp.StatusCode))
	}
	return out
}

func TestFaultInjectionReproducible(t *testing.T) {
	faults := Faults{P500: 0.15, P503: 0.15, P429: 0.15, PReset: 0.15, RetryAfter: 3}
	run := func(seed uint64) []string {
		return outcomes(t, newHarness(t, Options{Seed: seed, Faults: faults}), 60)
	}
	a, b, c := run(42), run(42), run(43)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different outcomes:\n%q\n%q", a, b)
	}
	if slices.Equal(a, c) {
		t.Fatalf("different seeds, same outcomes %q", a)
	}
	kinds := map[string]bool{}
	for _, o := range a {
		kinds[o] = true
	}
	for _, k := range []string{"202", "500", "503", "429", "reset"} {
		if !kinds[k] {
			t.Errorf("outcome %s never drawn in %q", k, a)
		}
	}
}

func TestFaultDrawsFollowProbabilitiesAndReset(t *testing.T) {
	s := New(Options{Seed: 7, Faults: Faults{P500: 0.1, P503: 0.2, P429: 0.3, PTimeout: 0.1, PReset: 0.1, RetryAfter: 5}})
	draw := func(n int) []string {
		var out []string
		for range n {
			r := s.drawFault()
			out = append(out, fmt.Sprintf("%s:%d:%s", r.act, r.status, r.header.Get("Retry-After")))
		}
		return out
	}
	first := draw(5000)
	counts := map[string]int{}
	for _, o := range first {
		counts[o]++
	}
	// Expected shares with a wide margin (about 10 standard deviations): the draws are
	// deterministic for the seed, so this checks the mapping from draw to outcome.
	want := map[string]float64{
		"reply:500:": 0.1, "reply:503:": 0.2, "reply:429:5": 0.3,
		"timeout:0:": 0.1, "reset:0:": 0.1, "normal:0:": 0.2,
	}
	for k, p := range want {
		if got := float64(counts[k]) / 5000; got < p-0.05 || got > p+0.05 {
			t.Errorf("%s drawn %.3f of the time, want about %.2f", k, got, p)
		}
	}
	if len(counts) != len(want) {
		t.Errorf("unexpected outcomes %v", counts)
	}
	s.Reset()
	if again := draw(5000); !slices.Equal(first, again) {
		t.Fatal("Reset must restart the fault sequence from the seed")
	}
}

func TestFaultsValidate(t *testing.T) {
	tests := []struct {
		f  Faults
		ok bool
	}{
		{Faults{}, true},
		{Faults{P500: 0.5, P503: 0.5}, true},
		{Faults{P500: 0.6, P503: 0.5}, false},
		{Faults{P429: -0.1}, false},
		{Faults{PReset: 1.5}, false},
		{Faults{RetryAfter: -1}, false},
		{Faults{PRedirect: 0.5, P500: 0.5, RedirectStatus: 301}, true},
		{Faults{PRedirect: 0.6, P500: 0.5}, false},
		{Faults{PRedirect: 0.1, RedirectStatus: 200}, false},
		{Faults{RedirectStatus: 400}, false},
	}
	for _, tt := range tests {
		if err := tt.f.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: err %v, want ok=%v", tt.f, err, tt.ok)
		}
	}
}

func TestInspectionEndpoints(t *testing.T) {
	h := newHarness(t, Options{})
	if r := h.post(t, mparticle.PathBulkEvents, keyIOS, secretIOS, bulk(batchJSON(1), batchJSON(1))); r.status != 202 {
		t.Fatalf("status %d", r.status)
	}
	h.post(t, mparticle.PathEvents, keyIOS, "wrong", batchJSON(2))

	r := h.get(t, PathStats)
	if r.status != 200 {
		t.Fatalf("stats status %d", r.status)
	}
	for _, c := range []string{keyIOS, secretIOS, keyAnd, secretAnd} {
		if strings.Contains(r.body, c) {
			t.Fatal("stats leak a credential")
		}
	}
	var st Stats
	if err := json.Unmarshal([]byte(r.body), &st); err != nil {
		t.Fatal(err)
	}
	if st.Requests != 2 || st.ByStatus[202] != 1 || st.ByStatus[403] != 1 || st.Feeds["ios"].Batches != 2 || st.Feeds["ios"].DuplicateBatches != 1 {
		t.Fatalf("stats %+v", st)
	}

	for _, q := range []string{keyIOS, "ios"} {
		r = h.get(t, PathReceived+"?feed="+q)
		var got struct {
			Feed    string   `json:"feed"`
			Batches []Record `json:"batches"`
		}
		if err := json.Unmarshal([]byte(r.body), &got); err != nil || r.status != 200 {
			t.Fatalf("received: %d %v", r.status, err)
		}
		if got.Feed != "ios" || len(got.Batches) != 2 || !got.Batches[1].DuplicateRequest ||
			!bytes.Equal(compact(string(got.Batches[0].Raw)), batchJSON(1)) {
			t.Fatalf("received %+v", got)
		}
	}
	if r = h.get(t, PathReceived+"?feed=nobody"); r.status != 404 {
		t.Fatalf("unknown feed: %d", r.status)
	}
	if r = h.get(t, PathReceived+"?feed=android"); r.status != 200 || !strings.Contains(r.body, `"batches": []`) {
		t.Fatalf("empty feed: %d %s", r.status, r.body)
	}

	resp, err := h.client.Post(h.url+PathReset, "", nil)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("reset: %v %v", resp, err)
	}
	resp.Body.Close()
	if st := h.srv.Stats(); st.Requests != 0 || len(h.srv.Records(keyIOS)) != 0 || st.Feeds["ios"].Name != "ios" {
		t.Fatalf("after reset %+v", st)
	}
	// Dedup memory is gone too.
	h.post(t, mparticle.PathEvents, keyIOS, secretIOS, batchJSON(1))
	if h.srv.Stats().Feeds["ios"].DuplicateBatches != 0 {
		t.Fatal("reset kept dedup state")
	}
}

func TestRoutingAndMethods(t *testing.T) {
	h := newHarness(t, Options{})
	if r := h.get(t, mparticle.PathEvents); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
		t.Fatalf("GET events: %d", r.status)
	}
	for _, p := range []string{"/v2/bulk", "/s2s/v2/bulk", "/s2s/s2s/v2/events", "/v1/events", "/S2S/v2/events", "/v2/bulkevents/"} {
		if r := h.post(t, p, keyIOS, secretIOS, bulk(batchJSON(1))); r.status != 404 {
			t.Fatalf("unknown path %s: %d", p, r.status)
		}
	}
}

func TestSDKStyleBatchOverHTTP(t *testing.T) {
	h := newHarness(t, Options{})
	raw := readSample(t)
	if r := h.post(t, mparticle.PathEvents, keyIOS, secretIOS, raw); r.status != 400 || len(errorMessages(t, r, "BAD_REQUEST")) != 6 {
		t.Fatalf("sample as is: %d %s", r.status, r.body)
	}
	if r := h.post(t, mparticle.PathEvents, keyIOS, secretIOS, sampleFixed(t, raw)); r.status != 202 {
		t.Fatalf("fixed sample: %d %s", r.status, r.body)
	}
	got := h.srv.Received(keyIOS)
	if len(got) != 1 || got[0].MPID != -4611686018427387905 || got[0].UserIdentities.CustomerID != "cust-90210" || len(got[0].Events) != 12 {
		t.Fatalf("decoded %+v", got)
	}
	if st := h.srv.Stats().Feeds["ios"]; st.Events != 12 || st.PlatformMismatches != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestAddFeed(t *testing.T) {
	s := New(Options{})
	s.AddFeed("k1", "s1", "one")
	s.AddFeed("k1", "s2", "uno") // re-registration replaces
	if _, ok := s.Stats().Feeds["one"]; ok {
		t.Fatal("old name kept")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("duplicate name must panic")
		}
	}()
	s.AddFeed("k2", "s3", "uno")
}

func TestPretty(t *testing.T) {
	m := decodeBatch(t, baseBatch)
	out := Pretty("ios", marshal(t, m))
	for _, want := range []string{
		`── feed "ios" · production · customer_id=cust-1 · email=a@example.com · mpid=1234567890123456789 · platform=iOS · 2 event(s), 4 user attribute(s)`,
		`custom_event "purchased" (transaction) at 2023-11-14T22:13:20Z {n=1, namiml_event_category=subscription, t=true}`,
		`commerce_event purchase 9.99 USD at 2023-11-14T22:13:20.001Z`,
		`"environment": "production"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if got := Pretty("x", json.RawMessage(`not json`)); !strings.Contains(got, "not json") {
		t.Errorf("unreadable input lost: %q", got)
	}
}

func TestStartAndClose(t *testing.T) {
	s := New(Options{})
	s.AddFeed(keyIOS, secretIOS, "ios")
	url, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{srv: s, url: url, client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
	if r := h.post(t, mparticle.PathEvents, keyIOS, secretIOS, batchJSON(1)); r.status != 202 {
		t.Fatalf("status %d", r.status)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.Do(h.request(t, context.Background(), mparticle.PathEvents, keyIOS, secretIOS, batchJSON(2))); err == nil {
		t.Fatal("server still answering after Close")
	}
	if _, err := New(Options{}).Start("256.0.0.1:0"); err == nil {
		t.Fatal("bad address accepted")
	}
}
