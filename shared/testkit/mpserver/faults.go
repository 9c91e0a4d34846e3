package mpserver

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"
)

// Faults sets the probabilities (each in [0,1], summing to at most 1) with which an
// authenticated API request is answered by a fault instead of normally. One draw is made
// per such request from a PCG source seeded with Options.Seed, so a run is reproducible:
// the same seed and the same order of requests give the same outcomes.
type Faults struct {
	P500 float64 // answer 500 without processing
	P503 float64 // answer 503 without processing
	P429 float64 // answer 429 with Retry-After without processing
	// PTimeout: process and record the batches as accepted, then never answer; the
	// request ends only when the client gives up (or the server closes).
	PTimeout float64
	// PReset: close the connection abruptly (TCP RST) without reading or answering.
	PReset float64
	// PRedirect: answer RedirectStatus with a Location pointing at the server's own
	// PathRedirected, without processing: what a misconfigured host or path gets.
	PRedirect float64
	// RetryAfter is the Retry-After of an injected 429, in whole seconds; 0 means 1.
	RetryAfter int
	// RedirectStatus is the status of an injected redirect (a 3xx); 0 means 307.
	RedirectStatus int
}

// Validate reports probabilities out of range or summing over 1.
func (f Faults) Validate() error {
	sum := 0.0
	for _, p := range []float64{f.P500, f.P503, f.P429, f.PTimeout, f.PReset, f.PRedirect} {
		if math.IsNaN(p) || p < 0 || p > 1 {
			return fmt.Errorf("mpserver: fault probability %v out of [0,1]", p)
		}
		sum += p
	}
	if sum > 1+1e-9 {
		return fmt.Errorf("mpserver: fault probabilities sum to %v, over 1", sum)
	}
	if f.RetryAfter < 0 {
		return errors.New("mpserver: negative RetryAfter")
	}
	if f.RedirectStatus != 0 && (f.RedirectStatus < 300 || f.RedirectStatus > 399) {
		return fmt.Errorf("mpserver: RedirectStatus %d is not a 3xx", f.RedirectStatus)
	}
	return nil
}

func (f Faults) any() bool {
	return f.P500+f.P503+f.P429+f.PTimeout+f.PReset+f.PRedirect > 0
}

// action is what the server does with a request before (or instead of) answering.
type action int

const (
	actNormal  action = iota // process and answer
	actReply                 // answer the given response without processing
	actTimeout               // process, record, never answer
	actReset                 // drop the connection without answering
)

func (a action) String() string {
	switch a {
	case actNormal:
		return "normal"
	case actReply:
		return "reply"
	case actTimeout:
		return "timeout"
	case actReset:
		return "reset"
	}
	return "unknown"
}

// Response is one scripted outcome for Script. Build it with Reply, PassThrough,
// TimeoutAfterAccept, ConnectionReset or Redirect.
type Response struct {
	act    action
	status int
	header http.Header
	body   string
	// redirect: Location is set, when answering, to the server's own PathRedirected.
	redirect bool
}

// Reply answers with status and the given header pairs ("Retry-After", "3", ...) without
// validating or recording the request. An empty body is filled, for statuses >= 400, with
// the API's error shape. A scripted 202 therefore records nothing: use PassThrough to accept.
func Reply(status int, headerPairs ...string) Response {
	h := http.Header{}
	for i := 0; i+1 < len(headerPairs); i += 2 {
		h.Add(headerPairs[i], headerPairs[i+1])
	}
	return Response{act: actReply, status: status, header: h}
}

// ReplyBody is Reply with an explicit body.
func ReplyBody(status int, body string, headerPairs ...string) Response {
	r := Reply(status, headerPairs...)
	r.body = body
	return r
}

// Redirect answers status (a 3xx) with a Location on the server's own PathRedirected,
// without processing the request: a client that follows it shows in
// Stats.RedirectsFollowed. It panics for a status that is not a 3xx.
func Redirect(status int) Response {
	if status < 300 || status > 399 {
		panic(fmt.Sprintf("mpserver: Redirect(%d): not a 3xx", status))
	}
	r := Reply(status)
	r.redirect = true
	return r
}

// PassThrough processes the request normally; it lets a script interleave real answers.
func PassThrough() Response { return Response{act: actNormal} }

// TimeoutAfterAccept processes and records the request, then never answers.
func TimeoutAfterAccept() Response { return Response{act: actTimeout} }

// ConnectionReset drops the connection without answering or recording.
func ConnectionReset() Response { return Response{act: actReset} }

// SetOutage makes every authenticated API request that no script answers get status (503:
// mParticle down) without processing, until SetOutage(0); the seeded faults are not drawn
// meanwhile. It models an outage that lasts, where Faults model failures that come and go.
func (s *Server) SetOutage(status int) {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	s.outage = status
}

// drawFault picks the outcome of one request from the seeded source. It draws exactly once
// per call whatever the outcome, so the sequence depends only on the seed and the count.
func (s *Server) drawFault() Response {
	s.rngMu.Lock()
	outage := s.outage
	s.rngMu.Unlock()
	if outage != 0 {
		return Reply(outage)
	}
	f := s.opts.Faults
	if !f.any() {
		return PassThrough()
	}
	s.rngMu.Lock()
	x := s.rng.Float64()
	s.rngMu.Unlock()
	retryAfter := f.RetryAfter
	if retryAfter == 0 {
		retryAfter = 1
	}
	redirect := f.RedirectStatus
	if redirect == 0 {
		redirect = http.StatusTemporaryRedirect
	}
	steps := []struct {
		p float64
		r Response
	}{
		{f.P500, Reply(http.StatusInternalServerError)},
		{f.P503, Reply(http.StatusServiceUnavailable)},
		{f.P429, Reply(http.StatusTooManyRequests, "Retry-After", fmt.Sprint(retryAfter), headerRateLimitExceeded, "feed")},
		{f.PTimeout, TimeoutAfterAccept()},
		{f.PReset, ConnectionReset()},
		// Last, so that seeds drawn without it keep their sequences.
		{f.PRedirect, Redirect(redirect)},
	}
	acc := 0.0
	for _, st := range steps {
		acc += st.p
		if x < acc {
			return st.r
		}
	}
	return PassThrough()
}

// bucket is a token bucket counted in batches, driven by an injected clock so tests need
// no sleeping.
type bucket struct {
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

// RateLimit configures a per-feed token bucket: Rate batches per second, up to Burst at once.
type RateLimit struct {
	Rate  float64
	Burst int
}

func newBucket(rl RateLimit, now time.Time) *bucket {
	if rl.Rate <= 0 {
		return nil
	}
	burst := float64(rl.Burst)
	if burst < 1 {
		burst = 1
	}
	return &bucket{rate: rl.Rate, burst: burst, tokens: burst, last: now}
}

func (b *bucket) refill(now time.Time) {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(b.burst, b.tokens+el*b.rate)
	}
	b.last = now
}

// take spends n tokens, or reports how long until they would be available. A request
// larger than the burst needs a full bucket, so it is not refused forever.
func (b *bucket) take(n int, now time.Time) (ok bool, wait time.Duration) {
	b.refill(now)
	need := math.Min(float64(n), b.burst)
	if b.tokens >= need {
		b.tokens -= need
		return true, 0
	}
	return false, time.Duration((need - b.tokens) / b.rate * float64(time.Second))
}

// percentUsed is what X-mp-rate-limit-percentage-used reports: the share of the burst spent.
func (b *bucket) percentUsed() int {
	if b == nil {
		return 0
	}
	return int(math.Round(100 * (b.burst - b.tokens) / b.burst))
}

// retryAfterSeconds rounds a wait up to whole seconds, at least 1, as Retry-After carries.
func retryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}
