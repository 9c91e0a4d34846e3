package mparticle

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/feedcreds"
)

func TestUploadSendsAuthHeadersAndBatches(t *testing.T) {
	for _, pod := range []string{"", "US1", "us2", "EU1", "AU1"} {
		t.Run("pod="+pod, func(t *testing.T) {
			ts := newTestServer(t, accepted)
			c, _ := newTestClient(t, ts, nil)
			batches := []Batch{sampleBatch(1), sampleBatch(2)}

			res := c.Upload(context.Background(), testFeed(pod), batches)

			reqs := ts.requests()
			if len(reqs) != 1 {
				t.Fatalf("requests = %d, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != PathBulkEvents {
				t.Errorf("request = %s %s, want POST %s", r.Method, r.Path, PathBulkEvents)
			}
			if !r.HasAuth || r.User != testCreds.Key || r.Pass != testCreds.Secret {
				t.Errorf("basic auth = (%v, %q, %q), want the feed's key and secret", r.HasAuth, r.User, r.Pass)
			}
			if r.ContentType != "application/json" || r.Accept != "application/json" {
				t.Errorf("Content-Type %q, Accept %q; want application/json for both", r.ContentType, r.Accept)
			}
			want, _ := json.Marshal(batches)
			if string(r.Body) != string(want) {
				t.Errorf("body differs from the JSON array of the batches:\n got %s\nwant %s", r.Body, want)
			}
			for i, rr := range res {
				if rr.Outcome != Delivered || rr.StatusCode != http.StatusAccepted || rr.Attempts != 1 || rr.Err != nil {
					t.Errorf("result %d = %+v, want delivered/202/1 attempt", i, rr)
				}
			}
		})
	}
}

// roundTripFunc lets a test see the URL a request was sent to without any network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestUploadSelectsEndpointURL(t *testing.T) {
	local := map[string]string{"eu1": "http://127.0.0.1:8001/eu", "US2": "http://127.0.0.1:8002"}
	tests := []struct {
		name, pod, baseURL, partnerURL string
		podURLs                        map[string]string
		wantURL                        string
		wantErr                        error
	}{
		{name: "no pod: partner endpoint", pod: "", wantURL: "https://inbound.mparticle.com/s2s/v2/bulkevents"},
		{name: "blank pod: partner endpoint", pod: "  ", wantURL: "https://inbound.mparticle.com/s2s/v2/bulkevents"},
		{name: "US1", pod: "US1", wantURL: "https://s2s.mparticle.com/v2/bulkevents"},
		{name: "US2", pod: "US2", wantURL: "https://s2s.us2.mparticle.com/v2/bulkevents"},
		{name: "lower case", pod: "eu1", wantURL: "https://s2s.eu1.mparticle.com/v2/bulkevents"},
		{name: "AU1", pod: "AU1", wantURL: "https://s2s.au1.mparticle.com/v2/bulkevents"},
		{name: "base URL takes a pod", pod: "EU1", baseURL: "http://127.0.0.1:9999", wantURL: "http://127.0.0.1:9999/v2/bulkevents"},
		{name: "base URL trailing slash", pod: "AU1", baseURL: "http://127.0.0.1:9999/", wantURL: "http://127.0.0.1:9999/v2/bulkevents"},
		{name: "base URL with path prefix", pod: "", baseURL: "http://127.0.0.1:9999/s2s", wantURL: "http://127.0.0.1:9999/s2s/v2/bulkevents"},
		{name: "base URL prefix takes a pod too", pod: "US2", baseURL: "https://proxy.example/mp/s2s/", wantURL: "https://proxy.example/mp/s2s/v2/bulkevents"},
		{name: "real partner host as base", pod: "", baseURL: "https://inbound.mparticle.com/s2s", wantURL: "https://inbound.mparticle.com/s2s/v2/bulkevents"},
		{name: "partner override", pod: "", partnerURL: "http://127.0.0.1:8000/s2s", podURLs: local, wantURL: "http://127.0.0.1:8000/s2s/v2/bulkevents"},
		{name: "pod override, any case", pod: "EU1", partnerURL: "http://127.0.0.1:8000/s2s", podURLs: local, wantURL: "http://127.0.0.1:8001/eu/v2/bulkevents"},
		{name: "pod override", pod: "us2", podURLs: local, wantURL: "http://127.0.0.1:8002/v2/bulkevents"},
		{name: "pod without override keeps its host", pod: "AU1", podURLs: local, wantURL: "https://s2s.au1.mparticle.com/v2/bulkevents"},
		{name: "partner without override keeps its host", pod: "", podURLs: local, wantURL: "https://inbound.mparticle.com/s2s/v2/bulkevents"},
		{name: "base URL wins over overrides", pod: "EU1", baseURL: "http://127.0.0.1:9999", podURLs: local, wantURL: "http://127.0.0.1:9999/v2/bulkevents"},
		{name: "unknown pod", pod: "US3", wantErr: ErrUnknownPod},
		{name: "unknown pod with base URL", pod: "US3", baseURL: "http://127.0.0.1:9999", wantErr: ErrUnknownPod},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var urls []string
			hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				urls = append(urls, r.URL.String())
				return &http.Response{StatusCode: http.StatusAccepted, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
			})}
			c, _ := newTestClient(t, nil, func(o *Options) {
				o.HTTPClient, o.BaseURL, o.PartnerBaseURL, o.PodBaseURLs = hc, tt.baseURL, tt.partnerURL, tt.podURLs
			})

			res := c.Upload(context.Background(), testFeed(tt.pod), smallBatches(2))

			if tt.wantErr != nil {
				if len(urls) != 0 {
					t.Errorf("sent %v for an invalid pod", urls)
				}
				for i, r := range res {
					if r.Outcome != Permanent || !errors.Is(r.Err, tt.wantErr) {
						t.Errorf("result %d = %v / %v, want permanent %v", i, r.Outcome, r.Err, tt.wantErr)
					}
				}
				return
			}
			if !slices.Equal(urls, []string{tt.wantURL}) {
				t.Errorf("URLs = %v, want [%s]", urls, tt.wantURL)
			}
			if got := countOutcomes(res)[Delivered]; got != 2 {
				t.Errorf("delivered = %d, want 2", got)
			}
		})
	}
}

func TestUploadSplitsByCount(t *testing.T) {
	ts := newTestServer(t, accepted)
	c, _ := newTestClient(t, ts, nil)

	res := c.Upload(context.Background(), testFeed("US1"), smallBatches(250))

	reqs := ts.requests()
	var sizes []int
	var ids []string
	for _, r := range reqs {
		got := r.batchIDs(t)
		sizes = append(sizes, len(got))
		ids = append(ids, got...)
	}
	if !slices.Equal(sizes, []int{100, 100, 50}) {
		t.Errorf("batches per request = %v, want [100 100 50]", sizes)
	}
	for i, id := range ids {
		if want := fmt.Sprintf("req-%03d", i); id != want {
			t.Fatalf("batch %d sent as %s: order or content lost", i, id)
		}
	}
	if n := countOutcomes(res)[Delivered]; n != 250 {
		t.Errorf("delivered = %d, want 250", n)
	}
}

func TestUploadSplitsBySize(t *testing.T) {
	ts := newTestServer(t, accepted)
	c, _ := newTestClient(t, ts, nil)
	batches := make([]Batch, 20)
	for i := range batches {
		batches[i] = paddedBatch(i, 60*1024) // four fit under 256 KB, five do not
	}

	res := c.Upload(context.Background(), testFeed("US1"), batches)

	reqs := ts.requests()
	if len(reqs) != 5 {
		t.Errorf("requests = %d, want 5", len(reqs))
	}
	var ids []string
	for i, r := range reqs {
		if len(r.Body) >= MaxRequestBytes {
			t.Errorf("request %d body is %d bytes, want < %d", i, len(r.Body), MaxRequestBytes)
		}
		ids = append(ids, r.batchIDs(t)...)
	}
	if len(ids) != 20 || ids[0] != "req-000" || ids[19] != "req-019" {
		t.Errorf("sent batches %v, want req-000..req-019 once each in order", ids)
	}
	if n := countOutcomes(res)[Delivered]; n != 20 {
		t.Errorf("delivered = %d, want 20", n)
	}
}

func TestUploadOversizeBatchFailsAlone(t *testing.T) {
	ts := newTestServer(t, accepted)
	c, _ := newTestClient(t, ts, nil)
	batches := []Batch{smallBatch(0), paddedBatch(1, MaxBatchBytes), smallBatch(2)}

	res := c.Upload(context.Background(), testFeed("US1"), batches)

	if r := res[1]; r.Outcome != Permanent || !errors.Is(r.Err, ErrBatchTooLarge) || r.Attempts != 0 || r.StatusCode != 0 {
		t.Errorf("oversize batch result = %+v, want permanent ErrBatchTooLarge, never sent", r)
	}
	for _, i := range []int{0, 2} {
		if res[i].Outcome != Delivered {
			t.Errorf("neighbour %d = %v (%v), want delivered", i, res[i].Outcome, res[i].Err)
		}
	}
	reqs := ts.requests()
	if len(reqs) != 1 || !slices.Equal(reqs[0].batchIDs(t), []string{"req-000", "req-002"}) {
		t.Errorf("requests = %d, want one carrying req-000 and req-002 only", len(reqs))
	}
}

func TestUploadEncodingErrorFailsAlone(t *testing.T) {
	ts := newTestServer(t, accepted)
	c, _ := newTestClient(t, ts, nil)
	bad := smallBatch(1)
	nan := math.NaN() // JSON cannot carry NaN
	bad.Events[0].Data.ProductAction = &ProductAction{Action: "purchase", TotalAmount: &nan}

	res := c.Upload(context.Background(), testFeed("US1"), []Batch{smallBatch(0), bad, smallBatch(2)})

	if res[1].Outcome != Permanent || res[1].Err == nil || res[1].Attempts != 0 {
		t.Errorf("unencodable batch = %+v, want permanent, never sent", res[1])
	}
	if res[0].Outcome != Delivered || res[2].Outcome != Delivered {
		t.Errorf("neighbours = %v, %v; want delivered", res[0].Outcome, res[2].Outcome)
	}
}

func TestUploadNarrowsRejectedRequests(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		n            int
		bad          []int
		wantRequests int
		wantAttempts map[int]int // per batch: requests that carried it
	}{
		// [0-9] → [0-4] [5-9] → [0,1] [2,3,4] → [2] [3,4] → [3] [4]
		{name: "one bad of 10", status: 400, n: 10, bad: []int{3}, wantRequests: 9, wantAttempts: map[int]int{3: 5, 4: 5, 2: 4, 0: 3, 9: 2}},
		// [0-9] → [0-4] [5-9] → [0,1] [2-4] [5,6] [7-9] → [0] [1] [7] [8,9] → [8] [9]
		{name: "first and last bad", status: 400, n: 10, bad: []int{0, 9}, wantRequests: 13, wantAttempts: map[int]int{0: 4, 9: 5, 5: 3}},
		{name: "all bad", status: 400, n: 4, bad: []int{0, 1, 2, 3}, wantRequests: 7, wantAttempts: map[int]int{0: 3}},
		{name: "single batch", status: 400, n: 1, bad: []int{0}, wantRequests: 1, wantAttempts: map[int]int{0: 1}},
		{name: "413 narrowed too", status: 413, n: 10, bad: []int{3}, wantRequests: 9, wantAttempts: map[int]int{3: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := map[string]bool{}
			for _, i := range tt.bad {
				bad[fmt.Sprintf("req-%03d", i)] = true
			}
			ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request, rec recordedRequest, _ int) {
				for _, id := range rec.batchIDs(t) {
					if bad[id] {
						writeAPIError(w, tt.status, "BAD_REQUEST", `Required event field "event_type" is missing or empty.`)
						return
					}
				}
				w.WriteHeader(http.StatusAccepted)
			})
			c, s := newTestClient(t, ts, nil)

			res := c.Upload(context.Background(), testFeed("US1"), smallBatches(tt.n))

			if got := len(ts.requests()); got != tt.wantRequests {
				t.Errorf("requests = %d, want %d", got, tt.wantRequests)
			}
			for i, r := range res {
				if bad[fmt.Sprintf("req-%03d", i)] {
					if r.Outcome != Permanent || r.StatusCode != tt.status {
						t.Errorf("bad batch %d = %v/%d, want permanent/%d", i, r.Outcome, r.StatusCode, tt.status)
					}
					if tt.status == 400 && (r.Err == nil || !strings.Contains(r.Err.Error(), `Required event field "event_type" is missing`)) {
						t.Errorf("bad batch %d error %v does not carry mParticle's message", i, r.Err)
					}
					if tt.status == 413 && !errors.Is(r.Err, ErrBatchTooLarge) {
						t.Errorf("413 error %v is not ErrBatchTooLarge", r.Err)
					}
				} else if r.Outcome != Delivered || r.Err != nil {
					t.Errorf("good batch %d = %v (%v), want delivered", i, r.Outcome, r.Err)
				}
			}
			for i, want := range tt.wantAttempts {
				if res[i].Attempts != want {
					t.Errorf("batch %d attempts = %d, want %d", i, res[i].Attempts, want)
				}
			}
			if w := s.recorded(); len(w) != 0 {
				t.Errorf("slept %v; a rejection is not retried", w)
			}
		})
	}
}

func TestUploadAuthFailureIsNotRetried(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			ts := newTestServer(t, func(w http.ResponseWriter, _ *http.Request, _ recordedRequest, _ int) {
				w.WriteHeader(status)
			})
			c, s := newTestClient(t, ts, nil)

			res := c.Upload(context.Background(), testFeed("US1"), smallBatches(250)) // three groups

			if n := len(ts.requests()); n != 1 {
				t.Errorf("requests = %d, want 1 (no retry, later groups not sent)", n)
			}
			if w := s.recorded(); len(w) != 0 {
				t.Errorf("slept %v, want no retry", w)
			}
			for i, r := range res {
				if r.Outcome != AuthFailed || r.Err == nil {
					t.Fatalf("result %d = %v (%v), want auth_failed", i, r.Outcome, r.Err)
				}
			}
			if res[0].StatusCode != status || res[0].Attempts != 1 {
				t.Errorf("first group result = %d/%d attempts, want %d/1", res[0].StatusCode, res[0].Attempts, status)
			}
			if res[249].Attempts != 0 {
				t.Errorf("unsent group attempts = %d, want 0", res[249].Attempts)
			}
		})
	}
}

func TestUploadMissingCredentials(t *testing.T) {
	ts := newTestServer(t, accepted)
	c, _ := newTestClient(t, ts, nil)
	for _, cr := range []feedcreds.Credentials{{Key: "k"}, {Secret: "s"}, {}} {
		res := c.Upload(context.Background(), Feed{Pod: "US1", Credentials: cr}, smallBatches(2))
		for _, r := range res {
			if r.Outcome != AuthFailed || !errors.Is(r.Err, ErrMissingCredentials) {
				t.Errorf("result = %v/%v, want auth_failed ErrMissingCredentials", r.Outcome, r.Err)
			}
		}
	}
	if n := len(ts.requests()); n != 0 {
		t.Errorf("requests = %d, want none without credentials", n)
	}
}

func TestUploadOtherClientErrorsArePermanent(t *testing.T) {
	for _, status := range []int{http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusUnprocessableEntity, http.StatusTeapot} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			ts := newTestServer(t, func(w http.ResponseWriter, _ *http.Request, _ recordedRequest, _ int) {
				w.WriteHeader(status)
			})
			c, s := newTestClient(t, ts, nil)

			res := c.Upload(context.Background(), testFeed("US1"), smallBatches(10))

			if n := len(ts.requests()); n != 1 {
				t.Errorf("requests = %d, want 1 (no narrowing, no retry)", n)
			}
			if len(s.recorded()) != 0 {
				t.Error("slept; a permanent failure is not retried")
			}
			var apiErr *APIError
			for _, r := range res {
				if r.Outcome != Permanent || !errors.As(r.Err, &apiErr) || apiErr.StatusCode != status {
					t.Fatalf("result = %v/%v, want permanent APIError %d", r.Outcome, r.Err, status)
				}
			}
		})
	}
}

func TestUploadHonoursRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		retryAfter string
		wantWait   time.Duration
	}{
		{name: "seconds", retryAfter: "3", wantWait: 3 * time.Second},
		{name: "http date", retryAfter: now.Add(7 * time.Second).Format(http.TimeFormat), wantWait: 7 * time.Second},
		{name: "date in the past", retryAfter: now.Add(-time.Minute).Format(http.TimeFormat), wantWait: 0},
		// Without a usable header: full jitter of BaseBackoff (100ms) at Rand 0.5.
		{name: "absent", retryAfter: "", wantWait: 50 * time.Millisecond},
		{name: "garbage", retryAfter: "soon", wantWait: 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, func(w http.ResponseWriter, _ *http.Request, _ recordedRequest, n int) {
				if n == 1 {
					if tt.retryAfter != "" {
						w.Header().Set("Retry-After", tt.retryAfter)
					}
					w.Header().Set("X-mp-rate-limit-exceeded", "app")
					writeAPIError(w, http.StatusTooManyRequests, "TOO_MANY_REQUESTS", "slow down")
					return
				}
				w.WriteHeader(http.StatusAccepted)
			})
			c, s := newTestClient(t, ts, func(o *Options) { o.Now = func() time.Time { return now } })

			res := c.Upload(context.Background(), testFeed("US1"), smallBatches(3))

			if w := s.recorded(); !slices.Equal(w, []time.Duration{tt.wantWait}) {
				t.Errorf("waits = %v, want [%v]", w, tt.wantWait)
			}
			for _, r := range res {
				if r.Outcome != Delivered || r.Attempts != 2 || r.RateLimitExceeded != "app" {
					t.Errorf("result = %+v, want delivered after 2 attempts, rate limit 'app' recorded", r)
				}
			}
		})
	}
}

func TestUploadRetryAfterTooLongIsHandedBack(t *testing.T) {
	ts := newTestServer(t, func(w http.ResponseWriter, _ *http.Request, _ recordedRequest, _ int) {
		w.Header().Set("Retry-After", "120")
		w.Header().Set("X-mp-rate-limit-exceeded", "feed")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	c, s := newTestClient(t, ts, nil) // MaxRetryAfter defaults to 30s

	res := c.Upload(context.Background(), testFeed("US1"), smallBatches(2))

	if len(s.recorded()) != 0 || len(ts.requests()) != 1 {
		t.Errorf("slept %v over %d requests, want no wait and one request", s.recorded(), len(ts.requests()))
	}
	r := res[0]
	if r.Outcome != Retryable || r.RetryAfter != 120*time.Second || r.StatusCode != 429 || r.RateLimitExceeded != "feed" {
		t.Errorf("result = %+v, want retryable 429 with RetryAfter 2m and rate limit 'feed'", r)
	}
	if r.Err == nil || !strings.Contains(r.Err.Error(), "429") || !strings.Contains(r.Err.Error(), "feed") {
		t.Errorf("error %v should name the status and the exceeded limit", r.Err)
	}
}

func TestUploadRetriesServerErrors(t *testing.T) {
	tests := []struct {
		name         string
		failures     int // 503s before a 202
		maxBackoff   time.Duration
		wantOutcome  Outcome
		wantAttempts int
		wantWaits    []time.Duration
	}{
		{name: "one failure", failures: 1, wantOutcome: Delivered, wantAttempts: 2, wantWaits: []time.Duration{50 * time.Millisecond}},
		{name: "doubling", failures: 3, wantOutcome: Delivered, wantAttempts: 4,
			wantWaits: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}},
		{name: "capped", failures: 3, maxBackoff: 150 * time.Millisecond, wantOutcome: Delivered, wantAttempts: 4,
			wantWaits: []time.Duration{50 * time.Millisecond, 75 * time.Millisecond, 75 * time.Millisecond}},
		{name: "exhausted", failures: 10, wantOutcome: Retryable, wantAttempts: 4,
			wantWaits: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, func(w http.ResponseWriter, _ *http.Request, _ recordedRequest, n int) {
				if n <= tt.failures {
					writeAPIError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "try later")
					return
				}
				w.WriteHeader(http.StatusAccepted)
			})
			c, s := newTestClient(t, ts, func(o *Options) { o.MaxBackoff = tt.maxBackoff })

			res := c.Upload(context.Background(), testFeed("US1"), smallBatches(5))

			if w := s.recorded(); !slices.Equal(w, tt.wantWaits) {
				t.Errorf("waits = %v, want %v", w, tt.wantWaits)
			}
			for _, r := range res {
				if r.Outcome != tt.wantOutcome || r.Attempts != tt.wantAttempts {
					t.Fatalf("result = %v after %d attempts (%v), want %v after %d", r.Outcome, r.Attempts, r.Err, tt.wantOutcome, tt.wantAttempts)
				}
				if tt.wantOutcome == Retryable && (r.StatusCode != 503 || r.Err == nil || !strings.Contains(r.Err.Error(), "try later")) {
					t.Errorf("retryable result = %d/%v, want 503 with the server's message", r.StatusCode, r.Err)
				}
			}
		})
	}
}

func TestUploadRetriesNetworkErrors(t *testing.T) {
	tests := []struct {
		name         string
		drops        int
		wantOutcome  Outcome
		wantAttempts int
	}{
		{name: "dropped once", drops: 1, wantOutcome: Delivered, wantAttempts: 2},
		{name: "always dropped", drops: 100, wantOutcome: Retryable, wantAttempts: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, func(w http.ResponseWriter, _ *http.Request, _ recordedRequest, n int) {
				if n <= tt.drops {
					hijackClose(t, w)
					return
				}
				w.WriteHeader(http.StatusAccepted)
			})
			c, s := newTestClient(t, ts, nil)

			res := c.Upload(context.Background(), testFeed("US1"), smallBatches(3))

			if got := len(ts.requests()); got != tt.wantAttempts {
				t.Errorf("requests = %d, want %d", got, tt.wantAttempts)
			}
			if got := len(s.recorded()); got != tt.wantAttempts-1 {
				t.Errorf("waits = %d, want %d", got, tt.wantAttempts-1)
			}
			for _, r := range res {
				if r.Outcome != tt.wantOutcome || r.Attempts != tt.wantAttempts {
					t.Fatalf("result = %v after %d attempts (%v), want %v after %d", r.Outcome, r.Attempts, r.Err, tt.wantOutcome, tt.wantAttempts)
				}
				if tt.wantOutcome == Retryable && (r.Err == nil || r.StatusCode != 0) {
					t.Errorf("result = %d/%v, want no status and the transport error", r.StatusCode, r.Err)
				}
			}
		})
	}
}

func TestUploadRetriesRequestTimeout(t *testing.T) {
	ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request, _ recordedRequest, n int) {
		if n == 1 {
			// Hold the first request until the client gives up on it.
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	c, _ := newTestClient(t, ts, func(o *Options) { o.RequestTimeout = 50 * time.Millisecond })

	res := c.Upload(context.Background(), testFeed("US1"), smallBatches(1))

	if r := res[0]; r.Outcome != Delivered || r.Attempts != 2 {
		t.Errorf("result = %v after %d attempts (%v), want delivered after 2", r.Outcome, r.Attempts, r.Err)
	}
}

func TestUploadRespectsDeadline(t *testing.T) {
	tests := []struct {
		name          string
		deadline      time.Duration // from now; 0 = already cancelled
		retryAfter    string
		wantWaits     []time.Duration
		wantOutcome   Outcome
		wantAttempts  int
		wantRetryHint time.Duration
	}{
		// 3000s + the 10s request timeout still ends before the 1h deadline.
		{name: "wait fits", deadline: time.Hour, retryAfter: "3000", wantWaits: []time.Duration{3000 * time.Second},
			wantOutcome: Delivered, wantAttempts: 2},
		// 3595s + 10s would end past the deadline: hand back instead of sleeping.
		{name: "wait ends inside the safety margin", deadline: time.Hour, retryAfter: "3595",
			wantOutcome: Retryable, wantAttempts: 1, wantRetryHint: 3595 * time.Second},
		{name: "short deadline, backoff", deadline: 2 * time.Second, wantOutcome: Retryable, wantAttempts: 1},
		{name: "already cancelled", deadline: 0, wantOutcome: Retryable, wantAttempts: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, func(w http.ResponseWriter, _ *http.Request, _ recordedRequest, n int) {
				if n == 1 {
					if tt.retryAfter != "" {
						w.Header().Set("Retry-After", tt.retryAfter)
						w.WriteHeader(http.StatusTooManyRequests)
						return
					}
					w.WriteHeader(http.StatusBadGateway)
					return
				}
				w.WriteHeader(http.StatusAccepted)
			})
			c, s := newTestClient(t, ts, func(o *Options) { o.MaxRetryAfter = 2 * time.Hour })
			ctx, cancel := context.WithTimeout(context.Background(), tt.deadline)
			defer cancel()

			res := c.Upload(ctx, testFeed("US1"), smallBatches(2))

			if w := s.recorded(); !slices.Equal(w, tt.wantWaits) {
				t.Errorf("waits = %v, want %v", w, tt.wantWaits)
			}
			for _, r := range res {
				if r.Outcome != tt.wantOutcome || r.Attempts != tt.wantAttempts || r.RetryAfter != tt.wantRetryHint {
					t.Errorf("result = %v, %d attempts, RetryAfter %v (%v); want %v, %d, %v",
						r.Outcome, r.Attempts, r.RetryAfter, r.Err, tt.wantOutcome, tt.wantAttempts, tt.wantRetryHint)
				}
				if r.Outcome == Retryable && r.Err == nil {
					t.Error("retryable result without the last error")
				}
			}
		})
	}
}

func TestUploadReusesConnections(t *testing.T) {
	tests := []struct {
		name string
		h    handlerFunc
	}{
		{name: "accepted", h: accepted},
		{name: "accepted with body", h: func(w http.ResponseWriter, _ *http.Request, _ recordedRequest, _ int) {
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(strings.Repeat(" ", 4096)))
		}},
		{name: "error bodies while narrowing", h: func(w http.ResponseWriter, _ *http.Request, rec recordedRequest, _ int) {
			if slices.Contains(rec.batchIDs(t), "req-003") {
				writeAPIError(w, http.StatusBadRequest, "BAD_REQUEST", "bad batch")
				return
			}
			w.WriteHeader(http.StatusAccepted)
		}},
		{name: "server errors then success", h: func(w http.ResponseWriter, _ *http.Request, _ recordedRequest, n int) {
			if n%2 == 1 {
				writeAPIError(w, http.StatusInternalServerError, "INTERNAL", "oops")
				return
			}
			w.WriteHeader(http.StatusAccepted)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, tt.h)
			// The package's shared HTTP client: the transport under test.
			c, _ := newTestClient(t, ts, nil)

			c.Upload(context.Background(), testFeed("US1"), smallBatches(10))
			c.Upload(context.Background(), testFeed("EU1"), smallBatches(250))

			if n := len(ts.requests()); n < 4 {
				t.Fatalf("requests = %d, want several", n)
			}
			if got := ts.connections(); got != 1 {
				t.Errorf("new connections = %d over %d sequential requests, want 1", got, len(ts.requests()))
			}
		})
	}
}

func TestUploadReportsRateLimitUsage(t *testing.T) {
	ts := newTestServer(t, func(w http.ResponseWriter, _ *http.Request, _ recordedRequest, n int) {
		w.Header().Set("X-mp-rate-limit-percentage-used", fmt.Sprint(40+n))
		w.WriteHeader(http.StatusAccepted)
	})
	var mu sync.Mutex
	var seen []RateLimitInfo
	c, _ := newTestClient(t, ts, func(o *Options) {
		o.OnRateLimit = func(i RateLimitInfo) { mu.Lock(); seen = append(seen, i); mu.Unlock() }
	})

	res := c.Upload(context.Background(), testFeed("eu1"), smallBatches(150))

	if res[0].RateLimitPercentUsed != 41 || res[149].RateLimitPercentUsed != 42 {
		t.Errorf("percent used = %d, %d; want 41 (first request), 42 (second)", res[0].RateLimitPercentUsed, res[149].RateLimitPercentUsed)
	}
	want := []RateLimitInfo{
		{FeedID: "integration-1", Pod: "EU1", PercentUsed: 41, Status: 202},
		{FeedID: "integration-1", Pod: "EU1", PercentUsed: 42, Status: 202},
	}
	if !slices.Equal(seen, want) {
		t.Errorf("callback saw %+v, want %+v", seen, want)
	}
}

func TestUploadWithoutRateLimitHeader(t *testing.T) {
	ts := newTestServer(t, accepted)
	called := false
	c, _ := newTestClient(t, ts, func(o *Options) { o.OnRateLimit = func(RateLimitInfo) { called = true } })

	res := c.Upload(context.Background(), testFeed("US1"), smallBatches(1))

	if res[0].RateLimitPercentUsed != -1 || called {
		t.Errorf("percent used = %d, callback called %v; want -1 and no call", res[0].RateLimitPercentUsed, called)
	}
}

func TestUploadBoundsErrorBodies(t *testing.T) {
	tests := []struct {
		name, body string
		wantIn     string
	}{
		{name: "huge text", body: strings.Repeat("z", 1<<20), wantIn: "zzz..."},
		{name: "api errors", body: `{"errors":[{"code":"BAD_REQUEST","message":"first"},{"code":"VALIDATION","message":"second"}]}`,
			wantIn: "BAD_REQUEST: first; VALIDATION: second"},
		{name: "empty", body: "", wantIn: "HTTP 400 Bad Request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, func(w http.ResponseWriter, _ *http.Request, _ recordedRequest, _ int) {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(tt.body))
			})
			c, _ := newTestClient(t, ts, nil)

			res := c.Upload(context.Background(), testFeed("US1"), smallBatches(1))

			msg := res[0].Err.Error()
			if !strings.Contains(msg, tt.wantIn) || len(msg) > 2*maxDetailLen {
				t.Errorf("error (%d bytes) = %.200q, want it bounded and containing %q", len(msg), msg, tt.wantIn)
			}
		})
	}
}

func TestNoCredentialsInErrorsOrLogs(t *testing.T) {
	basic := base64.StdEncoding.EncodeToString([]byte(testCreds.Key + ":" + testCreds.Secret))
	echo := func(status int) handlerFunc {
		return func(w http.ResponseWriter, r *http.Request, rec recordedRequest, _ int) {
			writeAPIError(w, status, "ECHO", fmt.Sprintf("auth %s user %s pass %s", r.Header.Get("Authorization"), rec.User, rec.Pass))
		}
	}
	tests := []struct {
		name string
		h    handlerFunc
		pod  string
	}{
		{name: "401 echoing the header", h: echo(http.StatusUnauthorized)},
		{name: "400 echoing the credentials", h: echo(http.StatusBadRequest)},
		{name: "500 echoing the credentials", h: echo(http.StatusInternalServerError)},
		{name: "429 echoing", h: func(w http.ResponseWriter, r *http.Request, rec recordedRequest, n int) {
			w.Header().Set("Retry-After", "1")
			echo(http.StatusTooManyRequests)(w, r, rec, n)
		}},
		{name: "connection dropped", h: func(w http.ResponseWriter, _ *http.Request, _ recordedRequest, _ int) { hijackClose(t, w) }},
		{name: "unknown pod", h: accepted, pod: "XX9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, tt.h)
			logger, buf := logBuffer()
			c, _ := newTestClient(t, ts, func(o *Options) { o.Logger = logger })
			feed := testFeed(tt.pod)
			logger.Info("feed", "feed", feed, "creds", feed.Credentials, "nested", struct{ F Feed }{feed})
			if js, err := json.Marshal(feed); err != nil || strings.Contains(string(js), testCreds.Secret) {
				t.Errorf("JSON of a feed = %s, %v; want the credentials redacted", js, err)
			}

			res := c.Upload(context.Background(), feed, smallBatches(3))

			texts := []string{buf.String(), fmt.Sprintf("%v %+v %#v %s", feed, feed, feed, feed.Credentials)}
			for _, r := range res {
				if r.Outcome == Delivered || r.Err == nil {
					t.Fatalf("scenario delivered; it should fail: %+v", r)
				}
				texts = append(texts, r.Err.Error(), fmt.Sprintf("%+v", r))
			}
			for _, text := range texts {
				for _, secret := range []string{testCreds.Key, testCreds.Secret, basic} {
					if strings.Contains(text, secret) {
						t.Errorf("credential %q leaked in: %s", secret[:6]+"...", text)
					}
				}
			}
			if !strings.Contains(buf.String(), `"msg":"mparticle batches not delivered"`) {
				t.Errorf("the failure was not logged: %s", buf.String())
			}
		})
	}
}

func TestNewRejectsBadBaseURL(t *testing.T) {
	bad := []string{
		"ftp://example.com", "127.0.0.1:9999", "http://user:pw@127.0.0.1:1", "http://user:pw@127.0.0.1:1/s2s",
		"http://127.0.0.1:1/v2", "http://127.0.0.1:1/s2s/v2/", "http://", "http:///s2s",
		"http://127.0.0.1:1/s2s?pw=1", "http://127.0.0.1:1/s2s?", "http://127.0.0.1:1/s2s#frag", "http://127.0.0.1:1#",
		"http://127.0.0.1:1/a/../s2s", "http://127.0.0.1:1/a//s2s", "mailto:pw@example.com",
	}
	for _, raw := range bad {
		for name, opts := range map[string]Options{
			"BaseURL":        {BaseURL: raw},
			"PartnerBaseURL": {PartnerBaseURL: raw},
			"PodBaseURLs":    {PodBaseURLs: map[string]string{"EU1": raw}},
		} {
			if _, err := New(opts); err == nil {
				t.Errorf("New(%s %q) succeeded, want an error", name, raw)
			} else if strings.Contains(err.Error(), "pw") {
				t.Errorf("error %q repeats the URL's password or query", err)
			}
		}
	}
	for _, pod := range []string{"", "US3"} {
		if _, err := New(Options{PodBaseURLs: map[string]string{pod: "http://127.0.0.1:1"}}); !errors.Is(err, ErrUnknownPod) {
			t.Errorf("New(PodBaseURLs[%q]) = %v, want ErrUnknownPod", pod, err)
		}
	}
	for _, good := range []string{"http://127.0.0.1:1", "http://127.0.0.1:1/", "https://inbound.mparticle.com/s2s", "http://[::1]:9/a/b/", "http://h/v2x"} {
		if _, err := New(Options{BaseURL: good}); err != nil {
			t.Errorf("New(BaseURL %q) = %v, want it accepted", good, err)
		}
	}
}

// WithTraffic counts every request an upload sends, retries included, and their bodies'
// bytes, through the client's own transport and through a caller's http.Client alike.
func TestUploadCountsTraffic(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Options)
	}{
		{"own transport", nil},
		{"caller's client", func(o *Options) { o.HTTPClient = &http.Client{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, func(w http.ResponseWriter, _ *http.Request, _ recordedRequest, n int) {
				if n == 1 {
					writeAPIError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "try later")
					return
				}
				w.WriteHeader(http.StatusAccepted)
			})
			c, _ := newTestClient(t, ts, tc.mod)
			var tr Traffic
			res := c.Upload(WithTraffic(context.Background(), &tr), testFeed("US1"), smallBatches(5))
			for _, r := range res {
				if r.Outcome != Delivered {
					t.Fatalf("result %v (%v)", r.Outcome, r.Err)
				}
			}
			reqs := ts.requests()
			var bytes int64
			for _, r := range reqs {
				bytes += int64(len(r.Body))
			}
			if len(reqs) != 2 || tr.Requests() != int64(len(reqs)) || tr.Bytes() != bytes {
				t.Errorf("counted %d requests, %d bytes; the server saw %d requests, %d bytes", tr.Requests(), tr.Bytes(), len(reqs), bytes)
			}
			// Uploads without a Traffic in their context count nowhere.
			c.Upload(context.Background(), testFeed("US1"), smallBatches(1))
			if tr.Requests() != 2 {
				t.Errorf("an upload without WithTraffic was counted: %d", tr.Requests())
			}
		})
	}
}
