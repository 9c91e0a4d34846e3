package mparticle

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// class is what the client does with a response.
type class int

const (
	classOK        class = iota // delivered
	classSplit                  // the content is at fault: narrow a multi-batch request
	classAuth                   // credentials refused: the caller decides
	classPermanent              // do not resend unchanged
	classRetry                  // transient: back off and resend
	classRedirect               // the endpoint is misconfigured: the caller decides
)

// classify maps an HTTP status to a class, following the Events API's documented codes.
func classify(status int) class {
	switch {
	case status >= 200 && status < 300:
		return classOK
	// The API never redirects: a 3xx comes from a wrong host or path in the configuration.
	case status >= 300 && status < 400:
		return classRedirect
	case status == http.StatusBadRequest, status == http.StatusRequestEntityTooLarge:
		return classSplit
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return classAuth
	// 408 is the server saying it gave up waiting for us: transient by definition.
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status >= 500:
		return classRetry
	default:
		return classPermanent
	}
}

// maxHeaderDelay bounds a parsed Retry-After so a hostile or broken header cannot overflow.
const maxHeaderDelay = 24 * time.Hour

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP-date (RFC 9110, section 10.2.3).
// ok is false when the header is absent or unusable, so the caller falls back to backoff.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(maxHeaderDelay/time.Second) {
			return maxHeaderDelay, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), maxHeaderDelay), true
}

// parsePercentUsed reads X-mp-rate-limit-percentage-used; -1 when absent or out of 0..100.
func parsePercentUsed(v string) int {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 100 {
		return -1
	}
	return int(math.Round(f))
}

// backoff is the wait after the failed attempt number attempt (1-based): "full jitter",
// uniformly random below min(MaxBackoff, BaseBackoff*2^(attempt-1)), so that many Lambda
// instances throttled at once do not retry in lockstep.
func (c *Client) backoff(attempt int) time.Duration {
	ceiling := c.opts.MaxBackoff
	if shift := attempt - 1; shift < 62 {
		if d := c.opts.BaseBackoff << shift; d > 0 && d>>shift == c.opts.BaseBackoff && d < ceiling {
			ceiling = d
		}
	}
	r := c.opts.Rand()
	if r < 0 || r >= 1 {
		r = 0
	}
	return time.Duration(r * float64(ceiling))
}
