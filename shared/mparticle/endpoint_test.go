package mparticle

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// datedBatch is smallBatch(i) with its event at ts (Unix milliseconds; 0 leaves it undated).
func datedBatch(i int, ts int64) Batch {
	b := smallBatch(i)
	b.Events[0].Data.TimestampUnixtimeMS = ts
	return b
}

func TestIsHistorical(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cutoff := now.Add(-HistoricalAge).UnixMilli()
	twoEvents := func(a, b int64) Batch {
		x := datedBatch(0, a)
		x.Events = append(x.Events, datedBatch(1, b).Events[0])
		return x
	}
	tests := []struct {
		name string
		b    Batch
		want bool
	}{
		{"31 days old", datedBatch(0, now.Add(-31*24*time.Hour).UnixMilli()), true},
		{"one millisecond past 30 days", datedBatch(0, cutoff-1), true},
		{"exactly 30 days: not older", datedBatch(0, cutoff), false},
		{"29 days old", datedBatch(0, now.Add(-29*24*time.Hour).UnixMilli()), false},
		{"in the future", datedBatch(0, now.Add(time.Hour).UnixMilli()), false},
		{"undated event", datedBatch(0, 0), false},
		{"no events", Batch{Environment: EnvProduction}, false},
		{"all events old", twoEvents(cutoff-10, cutoff-1), true},
		{"one recent event keeps it live", twoEvents(cutoff-10, cutoff+1), false},
		{"one undated event keeps it live", twoEvents(cutoff-10, 0), false},
	}
	for _, tt := range tests {
		if got := IsHistorical(&tt.b, now); got != tt.want {
			t.Errorf("%s: IsHistorical = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestUploadRoutesHistoricalBatches: one upload with live and old batches sends each kind to
// its own path, in order within each, and reports every batch at its own index.
func TestUploadRoutesHistoricalBatches(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	old := now.Add(-45 * 24 * time.Hour).UnixMilli()
	recent := now.Add(-2 * time.Hour).UnixMilli()
	tests := []struct {
		name      string
		baseURL   string
		pod       string
		dates     []int64 // per batch; 0 = undated
		wantPaths []string
		wantIDs   [][]string
	}{
		{name: "all live", dates: []int64{recent, recent}, wantPaths: []string{"/v2/bulkevents"},
			wantIDs: [][]string{{"req-000", "req-001"}}},
		{name: "all historical", dates: []int64{old, old}, wantPaths: []string{"/v2/bulkevents/historical"},
			wantIDs: [][]string{{"req-000", "req-001"}}},
		{name: "mixed", dates: []int64{old, recent, old, 0, recent}, wantPaths: []string{"/v2/bulkevents", "/v2/bulkevents/historical"},
			wantIDs: [][]string{{"req-001", "req-003", "req-004"}, {"req-000", "req-002"}}},
		{name: "mixed on the partner layout", baseURL: "/s2s", dates: []int64{recent, old},
			wantPaths: []string{"/s2s/v2/bulkevents", "/s2s/v2/bulkevents/historical"}, wantIDs: [][]string{{"req-000"}, {"req-001"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, accepted)
			c, _ := newTestClient(t, ts, func(o *Options) {
				o.Now = func() time.Time { return now }
				o.BaseURL = ts.URL + tt.baseURL
			})
			batches := make([]Batch, len(tt.dates))
			for i, d := range tt.dates {
				batches[i] = datedBatch(i, d)
			}

			res := c.Upload(context.Background(), testFeed(""), batches)

			var paths []string
			var ids [][]string
			for _, r := range ts.requests() {
				paths = append(paths, r.Path)
				ids = append(ids, r.batchIDs(t))
			}
			if !slices.Equal(paths, tt.wantPaths) {
				t.Errorf("paths = %v, want %v", paths, tt.wantPaths)
			}
			if !slices.EqualFunc(ids, tt.wantIDs, slices.Equal) {
				t.Errorf("batches per request = %v, want %v", ids, tt.wantIDs)
			}
			if n := countOutcomes(res)[Delivered]; n != len(batches) {
				t.Errorf("delivered = %d, want %d", n, len(batches))
			}
		})
	}
}

// TestUploadHistoricalKeepsLimits: the historical path is grouped with the same count limit.
func TestUploadHistoricalKeepsLimits(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ts := newTestServer(t, accepted)
	c, _ := newTestClient(t, ts, func(o *Options) { o.Now = func() time.Time { return now } })
	batches := make([]Batch, 150)
	for i := range batches {
		batches[i] = datedBatch(i, now.Add(-40*24*time.Hour).UnixMilli())
	}

	c.Upload(context.Background(), testFeed("US1"), batches)

	var sizes []int
	for _, r := range ts.requests() {
		if r.Path != PathHistorical {
			t.Errorf("path %s, want %s", r.Path, PathHistorical)
		}
		sizes = append(sizes, len(r.batchIDs(t)))
	}
	if !slices.Equal(sizes, []int{100, 50}) {
		t.Errorf("batches per historical request = %v, want [100 50]", sizes)
	}
}

// batchOfSize returns batch i padded so that its encoding is exactly n bytes.
func batchOfSize(t *testing.T, i, n int) Batch {
	t.Helper()
	base, err := AppendBatch(nil, new(paddedBatch(i, 0)))
	if err != nil {
		t.Fatal(err)
	}
	b := paddedBatch(i, n-len(base))
	enc, err := AppendBatch(nil, &b)
	if err != nil || len(enc) != n {
		t.Fatalf("batch %d encodes to %d bytes (%v), want %d", i, len(enc), err, n)
	}
	return b
}

// TestUploadSizeBoundaries: a batch must be under 128,000 bytes and a request body under
// 256,000 bytes (the API's KB read as 1,000 bytes), checked on real encodings.
func TestUploadSizeBoundaries(t *testing.T) {
	tests := []struct {
		name         string
		sizes        []int
		wantRequests []int // batches per request
		wantRefused  []int // indexes refused as too large, never sent
	}{
		{name: "batch of 127,999 bytes is sent", sizes: []int{127_999}, wantRequests: []int{1}},
		{name: "batch of 128,000 bytes is refused", sizes: []int{128_000, 500}, wantRequests: []int{1}, wantRefused: []int{0}},
		// "[" + 85,332 + "," + 85,332 + "," + 85,331 + "]" = 255,999 bytes.
		{name: "body of 255,999 bytes is one request", sizes: []int{85_332, 85_332, 85_331}, wantRequests: []int{3}},
		{name: "body of 256,000 bytes is split", sizes: []int{85_332, 85_332, 85_332}, wantRequests: []int{2, 1}},
		{name: "two largest batches never share a request", sizes: []int{127_999, 127_999}, wantRequests: []int{1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, accepted)
			c, _ := newTestClient(t, ts, nil)
			batches := make([]Batch, len(tt.sizes))
			for i, n := range tt.sizes {
				batches[i] = batchOfSize(t, i, n)
			}

			res := c.Upload(context.Background(), testFeed(""), batches)

			var got []int
			for _, r := range ts.requests() {
				if len(r.Body) >= MaxRequestBytes {
					t.Errorf("request body of %d bytes, want under %d", len(r.Body), MaxRequestBytes)
				}
				got = append(got, len(r.batchIDs(t)))
			}
			if !slices.Equal(got, tt.wantRequests) {
				t.Errorf("batches per request = %v, want %v", got, tt.wantRequests)
			}
			for i, r := range res {
				if slices.Contains(tt.wantRefused, i) {
					if r.Outcome != Permanent || !errors.Is(r.Err, ErrBatchTooLarge) || r.Attempts != 0 {
						t.Errorf("batch %d = %v/%v after %d attempts, want permanent ErrBatchTooLarge, unsent", i, r.Outcome, r.Err, r.Attempts)
					}
				} else if r.Outcome != Delivered {
					t.Errorf("batch %d = %v (%v), want delivered", i, r.Outcome, r.Err)
				}
			}
		})
	}
}

// TestUploadDoesNotFollowRedirects: a 3xx is a configuration fault. The client neither
// follows it (the request carries the credentials) nor resends, and sends none of the
// upload's other requests; the batches come back Redirected with where it pointed.
func TestUploadDoesNotFollowRedirects(t *testing.T) {
	for _, status := range []int{301, 302, 303, 307, 308} {
		for _, own := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d/caller's client %v", status, own), func(t *testing.T) {
				target := newTestServer(t, accepted)
				ts := newTestServer(t, func(w http.ResponseWriter, r *http.Request, _ recordedRequest, _ int) {
					w.Header().Set("Location", target.URL+r.URL.Path+"?token=tok-LEAK")
					w.WriteHeader(status)
				})
				now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
				c, s := newTestClient(t, ts, func(o *Options) {
					o.Now = func() time.Time { return now }
					if own {
						o.HTTPClient = &http.Client{} // follows redirects by default
					}
				})
				log, buf := logBuffer()
				c.log = log
				batches := smallBatches(250) // three live groups
				batches = append(batches, datedBatch(250, now.Add(-40*24*time.Hour).UnixMilli()))

				res := c.Upload(context.Background(), testFeed("EU1"), batches)

				if n := len(ts.requests()); n != 1 {
					t.Errorf("requests = %d, want 1 (no resend, no other group)", n)
				}
				if n := len(target.requests()); n != 0 {
					t.Fatalf("the redirect was followed: the target got %d requests", n)
				}
				if w := s.recorded(); len(w) != 0 {
					t.Errorf("slept %v, want no retry", w)
				}
				for i, r := range res {
					var apiErr *APIError
					if r.Outcome != Redirected || !errors.As(r.Err, &apiErr) || apiErr.StatusCode != status {
						t.Fatalf("result %d = %v/%v, want redirected with APIError %d", i, r.Outcome, r.Err, status)
					}
				}
				if r := res[0]; r.StatusCode != status || r.Attempts != 1 || !strings.Contains(r.Err.Error(), target.URL+PathBulkEvents) {
					t.Errorf("first group = %d/%d attempts/%v, want %d, 1 attempt, the Location named", r.StatusCode, r.Attempts, r.Err, status)
				}
				if r := res[250]; r.Attempts != 0 || r.StatusCode != 0 {
					t.Errorf("held-back historical batch = %d attempts, status %d; want unsent", r.Attempts, r.StatusCode)
				}
				if strings.Contains(res[0].Err.Error(), "tok-LEAK") || strings.Contains(buf.String(), "tok-LEAK") {
					t.Error("the Location's query reached the error or the logs")
				}
				if !strings.Contains(buf.String(), `"level":"ERROR","msg":"mparticle endpoint redirects`) {
					t.Errorf("the redirect was not logged as an error: %s", buf.String())
				}
			})
		}
	}
}

// TestUploadLongThrottleHoldsBackTheFeed: after a 429 whose wait the upload cannot sleep,
// the feed's remaining requests (other groups, the historical path) are not sent: they
// come back Retryable with the same wait, as throttled.
func TestUploadLongThrottleHoldsBackTheFeed(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter string
		deadline   time.Duration
		wantWait   time.Duration
	}{
		{name: "Retry-After over MaxRetryAfter", retryAfter: "120", deadline: time.Hour, wantWait: 120 * time.Second},
		{name: "Retry-After past the deadline", retryAfter: "20", deadline: 15 * time.Second, wantWait: 20 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, func(w http.ResponseWriter, _ *http.Request, _ recordedRequest, n int) {
				if n == 1 {
					w.Header().Set("Retry-After", tt.retryAfter)
					w.Header().Set("X-mp-rate-limit-exceeded", "feed")
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				w.WriteHeader(http.StatusAccepted)
			})
			c, s := newTestClient(t, ts, nil) // MaxRetryAfter 30s
			ctx, cancel := context.WithTimeout(context.Background(), tt.deadline)
			defer cancel()
			batches := smallBatches(250)
			batches = append(batches, datedBatch(250, time.Now().Add(-40*24*time.Hour).UnixMilli()))

			res := c.Upload(ctx, testFeed(""), batches)

			if n := len(ts.requests()); n != 1 {
				t.Errorf("requests = %d, want 1: nothing more for a throttled feed", n)
			}
			if w := s.recorded(); len(w) != 0 {
				t.Errorf("slept %v, want no wait", w)
			}
			for i, r := range res {
				var apiErr *APIError
				if r.Outcome != Retryable || !r.Throttled || r.RetryAfter != tt.wantWait || r.RateLimitExceeded != "feed" ||
					!errors.As(r.Err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests {
					t.Fatalf("result %d = %+v, want retryable, throttled, RetryAfter %v, rate limit 'feed', APIError 429", i, r, tt.wantWait)
				}
				wantAttempts := 0
				if i < 100 {
					wantAttempts = 1
				}
				if r.Attempts != wantAttempts {
					t.Errorf("result %d attempts = %d, want %d", i, r.Attempts, wantAttempts)
				}
			}
		})
	}
}

// TestUploadShortThrottleGoesOn: a 429 the client can wait out does not stop the upload.
func TestUploadShortThrottleGoesOn(t *testing.T) {
	ts := newTestServer(t, func(w http.ResponseWriter, _ *http.Request, _ recordedRequest, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	c, _ := newTestClient(t, ts, nil)

	res := c.Upload(context.Background(), testFeed(""), smallBatches(150))

	if n := len(ts.requests()); n != 3 {
		t.Errorf("requests = %d, want 3 (the throttled one again, then the second group)", n)
	}
	for i, r := range res {
		if r.Outcome != Delivered || r.Throttled {
			t.Fatalf("result %d = %+v, want delivered and not throttled", i, r)
		}
	}
}
