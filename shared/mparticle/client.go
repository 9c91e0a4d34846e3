package mparticle

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/internal/clock"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxAttempts    = 4
	DefaultBaseBackoff    = 100 * time.Millisecond
	DefaultMaxBackoff     = 5 * time.Second
	DefaultRequestTimeout = 10 * time.Second
	DefaultMaxRetryAfter  = 30 * time.Second
)

// HistoricalAge is the age past which a batch is historical data: mParticle wants it on
// PathHistorical, not on the live paths.
const HistoricalAge = 30 * 24 * time.Hour

// Options configures a Client. The zero value is usable.
type Options struct {
	// BaseURL, when set, receives every feed's traffic, partner and pod alike: scheme, host,
	// port and an optional path prefix, to which the /v2 paths are appended (e.g.
	// "http://127.0.0.1:9999/s2s" for the contract server's partner layout). Used for local
	// and contract tests, or to send through a proxy.
	BaseURL string
	// PartnerBaseURL and PodBaseURLs (keyed by pod name, any case) replace the real hosts of
	// the partner endpoint and of single pods, each validated like BaseURL; what is left
	// unset keeps the real host. They let a test tell a partner delivery from a pod
	// delivery. BaseURL, when set, wins over both.
	PartnerBaseURL string
	PodBaseURLs    map[string]string
	// HTTPClient defaults to a package-wide client whose transport keeps connections alive,
	// shared by all Clients so warm Lambda invocations reuse them.
	HTTPClient *http.Client
	// Logger defaults to discarding. Keys, secrets and batch content are never logged.
	Logger *slog.Logger

	// MaxAttempts is the number of HTTP requests tried for one group of batches.
	MaxAttempts int
	// BaseBackoff and MaxBackoff bound the full-jitter exponential backoff.
	BaseBackoff, MaxBackoff time.Duration
	// RequestTimeout bounds one HTTP request. It is also the margin kept before the
	// context deadline: no wait is started that would end closer to the deadline than this.
	RequestTimeout time.Duration
	// MaxRetryAfter is the longest Retry-After the client sleeps on; a longer one ends the
	// upload as Retryable with the hint in Result.RetryAfter, for the caller to requeue.
	// After a 429 the client gave up on, the feed's remaining requests of the upload are
	// not sent either (each would only be throttled again): they share that result.
	MaxRetryAfter time.Duration

	// OnRateLimit, if set, is called after each response carrying a rate-limit header, so
	// the caller can pace by mParticle's own measure of how close the feed is to its limit.
	OnRateLimit func(RateLimitInfo)

	// Test seams: Now defaults to time.Now (it dates HTTP-date Retry-After values and is
	// compared with context deadlines, so it must be wall-clock time when a deadline is
	// set), Sleep to a context-aware timer, Rand to a uniform [0,1) source.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	Rand  func() float64
}

// RateLimitInfo is what one response said about the feed's rate limit.
type RateLimitInfo struct {
	FeedID string
	Pod    string // "" for the partner endpoint
	// PercentUsed is X-mp-rate-limit-percentage-used (0..100), -1 when absent or invalid.
	PercentUsed int
	// Exceeded is X-mp-rate-limit-exceeded of a 429: org, account, app, feed, workspace
	// or acceleration.
	Exceeded string
	Status   int
}

// Feed is the destination of an upload: one mParticle input feed.
type Feed struct {
	// ID identifies the feed in logs and rate-limit callbacks (e.g. the integration id).
	ID string
	// Pod is US1, US2, EU1 or AU1 (case-insensitive): the feed's account lives there and
	// its batches go to that pod's host. Empty means mParticle's partner endpoint
	// (PartnerBaseURL), which finds the pod from the key.
	Pod string
	// Credentials authenticate the feed's requests; they never print, log or encode.
	Credentials feedcreds.Credentials
}

// LogValue keeps logs of a Feed to its identity.
func (f Feed) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", f.ID), slog.String("pod", podLabel(f.Pod)))
}

// podLabel names an endpoint in logs: the pod, or "partner" for the partner endpoint.
func podLabel(pod string) string {
	if pod == "" {
		return "partner"
	}
	return pod
}

// Outcome is the fate of one batch.
type Outcome string

const (
	// Delivered: mParticle answered 2xx to a request carrying the batch.
	Delivered Outcome = "delivered"
	// Permanent: resending the batch unchanged cannot succeed (400, too large, other 4xx).
	Permanent Outcome = "permanent"
	// Retryable: transient failures outlasted the attempts or the deadline; resend later.
	Retryable Outcome = "retryable"
	// AuthFailed: 401/403. The client never retries it; the caller may refresh credentials.
	AuthFailed Outcome = "auth_failed"
	// Redirected: the endpoint answered 3xx, so the feed's base URL or pod is wrong: a
	// configuration fault, not the batch's. Redirects are never followed (the request
	// carries the credentials, which must not go to a host nobody configured) and the
	// client does not resend; the caller keeps the batches until the setting is fixed.
	Redirected Outcome = "redirected"
)

// Result is the fate of the batch at the same index of Upload's input.
type Result struct {
	Outcome Outcome
	// StatusCode is the last HTTP status for a request carrying the batch (0 if none).
	StatusCode int
	// Attempts counts the HTTP requests that carried the batch (narrowing included).
	Attempts int
	// Err is nil when delivered. Its text never contains the key or the secret.
	// errors.Is(Err, ErrBatchTooLarge) tells a size failure; errors.As gives *APIError.
	Err error
	// RetryAfter is the server's Retry-After of the last response, a hint for requeuing.
	RetryAfter time.Duration
	// RateLimitExceeded is X-mp-rate-limit-exceeded of the last 429 the batch met, kept
	// even when a later attempt delivered it.
	RateLimitExceeded string
	// RateLimitPercentUsed is the last X-mp-rate-limit-percentage-used seen, -1 if none.
	RateLimitPercentUsed int
	// Throttled: the batch's request ended on a 429, or the batch was held back unsent
	// (Attempts 0, StatusCode 0) because an earlier request of the upload did.
	Throttled bool
}

// Client sends batches to the Events API. It is safe for concurrent use.
type Client struct {
	opts Options
	http *http.Client
	// direct is the shared client's h1Transport, called without http.Client: that one
	// clones the headers per request for redirects, which this client never follows.
	direct *h1Transport
	log    *slog.Logger
	// bases maps a normalized pod setting ("" for the partner endpoint) to its base URL.
	bases map[string]string
	// endpoints holds every pod's bulk URLs parsed once, so a request does not parse its URL.
	endpoints map[endpointKey]*url.URL
	// headers caches each set of credentials' request headers (Authorization made once),
	// shared read-only by the requests that use them; headerCount bounds it.
	headers     sync.Map // feedcreds.Credentials → http.Header
	headerCount atomic.Int32
}

type endpointKey struct{ pod, path string }

// New returns a Client; it fails only on an invalid base URL or pod in Options.
func New(opts Options) (*Client, error) {
	c := &Client{opts: opts, log: opts.Logger, bases: maps.Clone(podBaseURLs)}
	c.bases[""] = PartnerBaseURL
	if opts.PartnerBaseURL != "" {
		u, err := parseBaseURL(opts.PartnerBaseURL)
		if err != nil {
			return nil, fmt.Errorf("partner: %w", err)
		}
		c.bases[""] = u
	}
	for pod, raw := range opts.PodBaseURLs {
		p, err := NormalizePod(pod)
		if err == nil && p == "" {
			err = fmt.Errorf("%w %q", ErrUnknownPod, pod)
		}
		if err != nil {
			return nil, err
		}
		u, err := parseBaseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("pod %s: %w", p, err)
		}
		c.bases[p] = u
	}
	if opts.BaseURL != "" {
		u, err := parseBaseURL(opts.BaseURL)
		if err != nil {
			return nil, err
		}
		for k := range c.bases {
			c.bases[k] = u
		}
	}
	c.endpoints = make(map[endpointKey]*url.URL, 2*len(c.bases))
	for pod, base := range c.bases {
		for _, path := range []string{PathBulkEvents, PathHistorical} {
			u, err := url.Parse(base + path)
			if err != nil {
				return nil, fmt.Errorf("pod %s: %w", podLabel(pod), err)
			}
			c.endpoints[endpointKey{pod, path}] = u
		}
	}
	switch {
	case opts.HTTPClient == nil:
		c.http = sharedHTTPClient()
		c.direct, _ = c.http.Transport.(*h1Transport)
	default:
		// A caller's client may follow redirects; this copy never does, whatever it was
		// given, so no configuration can make the credentials travel to another host.
		hc := *opts.HTTPClient
		hc.CheckRedirect = noRedirects
		c.http = &hc
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	o := &c.opts
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = DefaultBaseBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = clock.Sleep
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	return c, nil
}

// sharedHTTPClient is built once per process. Redirects are not followed: a POST carrying
// credentials must not be replayed to another host, and the API does not redirect. Its
// transport is h1Transport, with net/http's Transport (configured as before) behind it for
// proxied requests.
var sharedHTTPClient = sync.OnceValue(func() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Transport: newH1Transport(&http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          64,
			MaxIdleConnsPerHost:   16, // the default of 2 would churn connections under concurrency
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ExpectContinueTimeout: time.Second,
			// A bulk body (about 120 KB for 100 batches) fits the write buffer with its
			// headers, so it leaves in one write; with the default 4 KB, net/http copies
			// the rest through a fresh 32 KB buffer per request.
			WriteBufferSize: writeBufferSize,
		}),
		CheckRedirect: noRedirects,
	}
})

// writeBufferSize holds a request of 100 typical batches and its headers.
const writeBufferSize = 160 << 10

// noRedirects makes an http.Client hand back a 3xx instead of following it.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// URL returns the endpoint for a feed's pod setting ("" for the partner endpoint) and
// path (PathEvents, PathBulkEvents or PathHistorical), honouring the Options' base URLs.
func (c *Client) URL(pod, path string) (string, error) {
	p, err := NormalizePod(pod)
	if err != nil {
		return "", err
	}
	return c.bases[p] + path, nil
}

// IsHistorical reports whether b belongs on PathHistorical at time now: it has events and
// every one of them is dated, and older than HistoricalAge. The historical endpoint drops
// a batch without events or with an undated event, so such a batch stays on the live path.
func IsHistorical(b *Batch, now time.Time) bool {
	if len(b.Events) == 0 {
		return false
	}
	cutoff := now.Add(-HistoricalAge).UnixMilli()
	for i := range b.Events {
		ts := b.Events[i].Data.TimestampUnixtimeMS
		if ts <= 0 || ts >= cutoff {
			return false
		}
	}
	return true
}

// encodedSizeGuess is about the JSON size of one batch the forwarder builds, to size the
// encoding buffer of an upload.
const encodedSizeGuess = 1536

// encodeBuffers holds encoding buffers between uploads: a warm invocation then encodes into
// memory already mapped instead of allocating (and page-faulting in) a new buffer.
var encodeBuffers sync.Pool

// maxPooledBuffer keeps the buffers of unusually large uploads out of the pool.
const maxPooledBuffer = 4 << 20

func getEncodeBuffer(size int) *[]byte {
	if p, ok := encodeBuffers.Get().(*[]byte); ok {
		if cap(*p) < size {
			*p = make([]byte, 0, size)
		}
		return p
	}
	b := make([]byte, 0, size)
	return &b
}

func putEncodeBuffer(p *[]byte) {
	if cap(*p) <= maxPooledBuffer {
		encodeBuffers.Put(p)
	}
}

// upload is the state of one Upload call.
type upload struct {
	feed    Feed
	pod     string // normalized; "" for the partner endpoint
	enc     [][]byte
	results []Result
	header  http.Header
	// redact is built on the first error to scrub (see redactErr): most uploads have none.
	redact     *strings.Replacer
	redactDone bool
	bodies     bodies
	// halt, once set, is the fate of every group not yet sent: after a 401/403, a 3xx or
	// a 429 the client gave up on, the next request would fare no better.
	halt *halt
}

// halt is the result given to the batches of an upload's unsent groups.
type halt struct {
	outcome    Outcome
	err        error
	retryAfter time.Duration
	exceeded   string
	throttled  bool
}

// Upload sends batches to the feed through /v2/bulkevents, or /v2/bulkevents/historical
// for those IsHistorical says are old, and returns one Result per batch, at the same index.
// Batches are encoded once and grouped per path into requests within the API's count and
// size limits. A 400 or 413 on a multi-batch request is narrowed by resending halves, so
// only the offending batches fail. Transient failures are retried within ctx's deadline.
// Groups are sent one after another, over one kept-alive connection.
func (c *Client) Upload(ctx context.Context, feed Feed, batches []Batch) []Result {
	results := make([]Result, len(batches))
	for i := range results {
		results[i].RateLimitPercentUsed = -1
	}
	if len(batches) == 0 {
		return results
	}
	u := &upload{feed: feed, results: results}
	pod, err := NormalizePod(feed.Pod)
	if err == nil {
		u.pod = pod
	}
	if err != nil {
		c.finish(ctx, u, allIndexes(len(batches)), Permanent, err)
		return results
	}
	if !feed.Credentials.Complete() {
		c.finish(ctx, u, allIndexes(len(batches)), AuthFailed, ErrMissingCredentials)
		return results
	}
	u.header = c.header(feed.Credentials)
	defer u.bodies.release()

	// All batches are encoded into one buffer, reused across uploads (request bodies are
	// copied out of it, so nothing refers to it once Upload returns), and sliced once it
	// stops growing.
	u.enc = make([][]byte, len(batches))
	spans := make([][2]int, len(batches))
	bufp := getEncodeBuffer(encodedSizeGuess * len(batches))
	defer putEncodeBuffer(bufp)
	buf := (*bufp)[:0]
	sendable := make([]int, 0, len(batches))
	for i := range batches {
		start := len(buf)
		out, err := AppendBatch(buf, &batches[i])
		n := len(out) - start
		switch {
		case err != nil:
			c.finish(ctx, u, []int{i}, Permanent, fmt.Errorf("mparticle: encoding batch: %w", err))
		case n >= MaxBatchBytes:
			c.finish(ctx, u, []int{i}, Permanent,
				fmt.Errorf("%w: %d bytes, must be under %d", ErrBatchTooLarge, n, MaxBatchBytes))
		default:
			buf = out
			spans[i] = [2]int{start, len(buf)}
			sendable = append(sendable, i)
			continue
		}
		buf = out[:start]
	}
	*bufp = buf[:0] // keep what it grew to
	now := c.opts.Now()
	var live, historical []int
	for _, i := range sendable {
		u.enc[i] = buf[spans[i][0]:spans[i][1]:spans[i][1]]
		if IsHistorical(&batches[i], now) {
			historical = append(historical, i)
		} else {
			live = append(live, i)
		}
	}
	for _, route := range []struct {
		path string
		idx  []int
	}{{PathBulkEvents, live}, {PathHistorical, historical}} {
		for _, group := range planRequests(u.enc, route.idx) {
			c.send(ctx, u, route.path, group)
		}
	}
	return results
}

func allIndexes(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// send delivers one group of batches to path, narrowing it on a 400/413.
func (c *Client) send(ctx context.Context, u *upload, path string, idx []int) {
	if h := u.halt; h != nil {
		for _, i := range idx {
			res := &u.results[i]
			res.RetryAfter = h.retryAfter
			res.RateLimitExceeded = h.exceeded
			res.Throttled = h.throttled
		}
		c.finish(ctx, u, idx, h.outcome, h.err)
		return
	}
	r := c.sendWithRetry(ctx, u, c.endpoints[endpointKey{u.pod, path}], u.bodies.join(u.enc, idx), len(idx))
	for _, i := range idx {
		res := &u.results[i]
		res.Attempts += r.attempts
		if r.status != 0 {
			res.StatusCode = r.status
		}
		if r.percentUsed >= 0 {
			res.RateLimitPercentUsed = r.percentUsed
		}
		if r.exceeded != "" {
			res.RateLimitExceeded = r.exceeded
		}
		res.RetryAfter = r.retryAfter
		res.Throttled = r.status == http.StatusTooManyRequests
	}
	switch r.class {
	case classOK:
		c.finish(ctx, u, idx, Delivered, nil)
	case classSplit:
		if len(idx) > 1 {
			mid := len(idx) / 2
			c.log.LogAttrs(ctx, slog.LevelDebug, "mparticle request rejected, narrowing",
				c.attrs(u, slog.Int("status", r.status), slog.Int("batches", len(idx)))...)
			c.send(ctx, u, path, idx[:mid])
			c.send(ctx, u, path, idx[mid:])
			return
		}
		c.finish(ctx, u, idx, Permanent, r.err)
	case classAuth:
		// The same credentials would be refused for every remaining group: stop sending.
		u.halt = &halt{outcome: AuthFailed, err: r.err}
		c.finish(ctx, u, idx, AuthFailed, r.err)
	case classRedirect:
		// The endpoint is misconfigured, for every path of it: stop sending. Logged at
		// error level, as a misconfiguration needs a person, not a retry.
		u.halt = &halt{outcome: Redirected, err: r.err}
		c.log.LogAttrs(ctx, slog.LevelError, "mparticle endpoint redirects: check the feed's pod or base URL",
			c.attrs(u, slog.Int("status", r.status), slog.String("error", errText(u.redactErr(r.err))))...)
		c.finish(ctx, u, idx, Redirected, r.err)
	case classPermanent:
		c.finish(ctx, u, idx, Permanent, r.err)
	default:
		if r.status == http.StatusTooManyRequests {
			// The feed is throttled for longer than this upload may wait: its other
			// requests would be throttled too (and count against the feed), so they wait
			// with this one.
			u.halt = &halt{outcome: Retryable, retryAfter: r.retryAfter, exceeded: r.exceeded, throttled: true,
				err: fmt.Errorf("mparticle: not sent, the feed was throttled earlier in this upload: %w", r.err)}
		}
		c.finish(ctx, u, idx, Retryable, r.err)
	}
}

// finish records the outcome of the batches idx and logs failures.
func (c *Client) finish(ctx context.Context, u *upload, idx []int, o Outcome, err error) {
	err = u.redactErr(err)
	for _, i := range idx {
		u.results[i].Outcome = o
		u.results[i].Err = err
	}
	if o != Delivered {
		c.log.LogAttrs(ctx, slog.LevelWarn, "mparticle batches not delivered",
			c.attrs(u, slog.String("outcome", string(o)), slog.Int("batches", len(idx)),
				slog.String("error", errText(err)))...)
	}
}

func (c *Client) attrs(u *upload, more ...slog.Attr) []slog.Attr {
	return append([]slog.Attr{slog.String("feed", u.feed.ID), slog.String("pod", podLabel(u.pod))}, more...)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// response is the classified answer to one request.
type response struct {
	class       class
	status      int
	err         error
	retryAfter  time.Duration
	hasRetry    bool
	exceeded    string
	percentUsed int
}

// outcome is the final response of a retried request plus what was seen on the way.
type outcome struct {
	response
	attempts int
}

// sendWithRetry posts body until it gets a non-transient answer, attempts run out, or the
// next wait would not leave a full request's time before ctx's deadline.
func (c *Client) sendWithRetry(ctx context.Context, u *upload, endpoint *url.URL, body []byte, n int) outcome {
	var out outcome
	out.percentUsed = -1
	var exceeded string
	for {
		if err := ctx.Err(); err != nil {
			if out.err == nil {
				out.err = fmt.Errorf("mparticle: not sent: %w", err)
			}
			out.class = classRetry
			out.exceeded = exceeded
			return out
		}
		out.attempts++
		pct := out.percentUsed
		out.response = c.post(ctx, u, endpoint, body, n, out.attempts)
		if out.percentUsed < 0 {
			out.percentUsed = pct
		}
		if out.exceeded != "" {
			exceeded = out.exceeded
		}
		out.exceeded = exceeded
		if out.class != classRetry || out.attempts >= c.opts.MaxAttempts {
			return out
		}
		wait := c.backoff(out.attempts)
		if out.hasRetry {
			if out.retryAfter > c.opts.MaxRetryAfter {
				return out
			}
			wait = out.retryAfter
		}
		if dl, ok := ctx.Deadline(); ok && c.opts.Now().Add(wait+c.opts.RequestTimeout).After(dl) {
			return out
		}
		c.log.LogAttrs(ctx, slog.LevelWarn, "mparticle request failed, retrying",
			c.attrs(u, slog.Int("status", out.status), slog.Int("attempt", out.attempts),
				slog.Duration("wait", wait), slog.Int("batches", n),
				slog.String("error", errText(u.redactErr(out.err))))...)
		if err := c.opts.Sleep(ctx, wait); err != nil {
			return out
		}
	}
}

// post makes one HTTP request and classifies its answer.
func (c *Client) post(ctx context.Context, u *upload, endpoint *url.URL, body []byte, n, attempt int) response {
	actx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	// Built field by field rather than by http.NewRequestWithContext, which would parse the
	// URL again; the URL and the headers are shared read-only, as net/http only reads them.
	req := (&http.Request{
		Method:        http.MethodPost,
		URL:           endpoint,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        u.header,
		Body:          u.bodies.open(body),
		GetBody:       func() (io.ReadCloser, error) { return u.bodies.open(body), nil },
		ContentLength: int64(len(body)),
		Host:          endpoint.Host,
	}).WithContext(actx)

	debug := c.log.Enabled(ctx, slog.LevelDebug)
	var start time.Time
	if debug {
		start = time.Now()
	}
	resp, err := c.do(req)
	if err != nil {
		if debug {
			c.log.LogAttrs(ctx, slog.LevelDebug, "mparticle request",
				c.attrs(u, slog.Int("attempt", attempt), slog.Int("batches", n), slog.Int("bytes", len(body)),
					slog.Duration("elapsed", time.Since(start)), slog.String("error", errText(u.redactErr(err))))...)
		}
		return response{class: classRetry, err: fmt.Errorf("mparticle: sending %d batches: %w", n, err), percentUsed: -1}
	}
	defer drain(resp.Body)

	r := response{
		class:       classify(resp.StatusCode),
		status:      resp.StatusCode,
		percentUsed: parsePercentUsed(resp.Header.Get("X-mp-rate-limit-percentage-used")),
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		r.exceeded = strings.TrimSpace(resp.Header.Get("X-mp-rate-limit-exceeded"))
	}
	if r.class == classRetry {
		r.retryAfter, r.hasRetry = parseRetryAfter(resp.Header.Get("Retry-After"), c.opts.Now())
	}
	if r.class != classOK {
		apiErr := newAPIError(resp.StatusCode, resp.Body)
		apiErr.RateLimitExceeded = r.exceeded
		if r.class == classRedirect {
			apiErr.Location = cleanLocation(resp.Header.Get("Location"))
		}
		r.err = apiErr
	}
	if debug {
		c.log.LogAttrs(ctx, slog.LevelDebug, "mparticle request",
			c.attrs(u, slog.String("path", endpoint.Path), slog.Int("attempt", attempt), slog.Int("batches", n),
				slog.Int("bytes", len(body)), slog.Int("status", r.status), slog.Duration("elapsed", time.Since(start)))...)
	}
	if c.opts.OnRateLimit != nil && (r.percentUsed >= 0 || r.exceeded != "") {
		c.opts.OnRateLimit(RateLimitInfo{FeedID: u.feed.ID, Pod: u.pod, PercentUsed: r.percentUsed,
			Exceeded: r.exceeded, Status: r.status})
	}
	return r
}

// Traffic counts the requests an upload puts on the wire and their bodies' bytes, retries
// and narrowed requests included, for a caller that reports them (the forwarder's log line
// per feed). Safe for concurrent use.
type Traffic struct{ requests, bytes atomic.Int64 }

// Requests is the number of requests sent.
func (t *Traffic) Requests() int64 { return t.requests.Load() }

// Bytes is the bytes of the requests' bodies.
func (t *Traffic) Bytes() int64 { return t.bytes.Load() }

type trafficKey struct{}

// WithTraffic makes the requests of uploads under ctx count towards t.
func WithTraffic(ctx context.Context, t *Traffic) context.Context {
	return context.WithValue(ctx, trafficKey{}, t)
}

// do is c.http.Do(req), or its equivalent straight through h1Transport: a 3xx comes back
// as it is (noRedirects) and an error is wrapped in *url.Error, as http.Client does.
func (c *Client) do(req *http.Request) (*http.Response, error) {
	if t, ok := req.Context().Value(trafficKey{}).(*Traffic); ok {
		t.requests.Add(1)
		t.bytes.Add(max(req.ContentLength, 0))
	}
	if c.direct == nil {
		return c.http.Do(req)
	}
	resp, err := c.direct.RoundTrip(req)
	if err != nil {
		return nil, &url.Error{Op: "Post", URL: req.URL.Redacted(), Err: err}
	}
	return resp, nil
}

// maxCachedHeaders bounds Client.headers: past it (credentials rotated many times in one
// container) the cache starts over.
const maxCachedHeaders = 256

// header returns the request headers of cr, made once per set of credentials: a request
// then carries no per-request base64 or map building.
func (c *Client) header(cr feedcreds.Credentials) http.Header {
	if h, ok := c.headers.Load(cr); ok {
		return h.(http.Header)
	}
	h := http.Header{
		"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(cr.Key+":"+cr.Secret))},
		"Content-Type":  {"application/json"},
		"Accept":        {"application/json"},
	}
	if c.headerCount.Add(1) > maxCachedHeaders {
		c.headers.Clear()
		c.headerCount.Store(1)
	}
	c.headers.Store(cr, h)
	return h
}

// cleanLocation keeps what an operator needs of a redirect's target (scheme, host and
// path) and drops the rest: user info or a query could carry tokens.
func cleanLocation(loc string) string {
	u, err := url.Parse(strings.TrimSpace(loc))
	if err != nil || loc == "" {
		return ""
	}
	clean := &url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return truncate(clean.String())
}

// newRedactor replaces the credentials, and the Authorization value made of them, wherever
// a server or transport message might echo them back.
func newRedactor(cr feedcreds.Credentials) *strings.Replacer {
	var pairs []string
	basic := base64.StdEncoding.EncodeToString([]byte(cr.Key + ":" + cr.Secret))
	for _, s := range []string{basic, cr.Secret, cr.Key} {
		if s != "" {
			pairs = append(pairs, s, feedcreds.Redacted)
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	return strings.NewReplacer(pairs...)
}

// redactErr returns err, or when its text contains a credential, an error with the text
// scrubbed that still matches err's sentinels through errors.Is but does not unwrap to it.
func (u *upload) redactErr(err error) error {
	if err == nil {
		return err
	}
	if !u.redactDone {
		u.redact, u.redactDone = newRedactor(u.feed.Credentials), true
	}
	if u.redact == nil {
		return err
	}
	msg := err.Error()
	clean := u.redact.Replace(msg)
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, orig: err}
}

type redactedError struct {
	msg  string
	orig error
}

func (e *redactedError) Error() string        { return e.msg }
func (e *redactedError) Is(target error) bool { return errors.Is(e.orig, target) }
