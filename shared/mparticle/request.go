package mparticle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// ErrBatchTooLarge marks a batch not under MaxBatchBytes, or one the API refused with 413.
var ErrBatchTooLarge = errors.New("mparticle: batch too large")

// ErrMissingCredentials is reported when a feed has no key or secret: nothing is sent.
var ErrMissingCredentials = errors.New("mparticle: missing key or secret")

// ErrorDetail is one entry of the API's error body {"errors":[{"code","message"}]}.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// APIError is a non-2xx answer from the Events API.
type APIError struct {
	StatusCode int
	// Details holds the API's own error entries, when the body carried them.
	Details []ErrorDetail
	// Body is the start of a body that was not the API's JSON error shape.
	Body string
	// RateLimitExceeded is X-mp-rate-limit-exceeded of a 429 (org, account, app, ...).
	RateLimitExceeded string
	// Location is where a 3xx pointed (scheme, host and path only), to help fix the setting.
	Location string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mparticle: HTTP %d", e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" " + t)
	}
	if e.RateLimitExceeded != "" {
		b.WriteString(" (rate limit exceeded: " + e.RateLimitExceeded + ")")
	}
	if e.StatusCode >= 300 && e.StatusCode < 400 {
		b.WriteString(" (redirect not followed")
		if e.Location != "" {
			b.WriteString(", to " + e.Location)
		}
		b.WriteString(": the feed's pod or base URL is wrong)")
	}
	for i, d := range e.Details {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		b.WriteString(sep)
		switch {
		case d.Code != "" && d.Message != "":
			b.WriteString(d.Code + ": " + d.Message)
		default:
			b.WriteString(d.Code + d.Message)
		}
	}
	if len(e.Details) == 0 && e.Body != "" {
		b.WriteString(": " + e.Body)
	}
	return b.String()
}

// Is makes a 413 match ErrBatchTooLarge, so callers test size failures one way.
func (e *APIError) Is(target error) bool {
	return target == ErrBatchTooLarge && e.StatusCode == http.StatusRequestEntityTooLarge
}

// Bounds on what is read from, and repeated of, a response body.
const (
	maxResponseBody = 64 * 1024
	maxDetailLen    = 512
	maxDetails      = 5
)

// newAPIError reads at most maxResponseBody of body and builds the error from it.
func newAPIError(status int, body io.Reader) *APIError {
	e := &APIError{StatusCode: status}
	raw, _ := io.ReadAll(io.LimitReader(body, maxResponseBody))
	var parsed struct {
		Errors []ErrorDetail `json:"errors"`
	}
	if json.Unmarshal(raw, &parsed) == nil && len(parsed.Errors) > 0 {
		for _, d := range parsed.Errors[:min(len(parsed.Errors), maxDetails)] {
			e.Details = append(e.Details, ErrorDetail{Code: truncate(d.Code), Message: truncate(d.Message)})
		}
		return e
	}
	e.Body = truncate(strings.TrimSpace(string(raw)))
	return e
}

// truncate shortens s to maxDetailLen bytes on a rune boundary.
func truncate(s string) string {
	if len(s) <= maxDetailLen {
		return s
	}
	cut := maxDetailLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// planRequests groups the batches idx (by their encoded sizes) into bulk requests, in order:
// at most MaxBatchesPerRequest each and a body ("[" + batches joined by "," + "]") strictly
// under MaxRequestBytes. Every batch must itself be under MaxBatchBytes.
func planRequests(enc [][]byte, idx []int) [][]int {
	var groups [][]int
	var cur []int
	size := 0
	for _, i := range idx {
		n := len(enc[i])
		if len(cur) > 0 && (len(cur) == MaxBatchesPerRequest || size+1+n >= MaxRequestBytes) {
			groups = append(groups, cur)
			cur = nil
		}
		if len(cur) == 0 {
			size = 2 + n
		} else {
			size += 1 + n
		}
		cur = append(cur, i)
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups
}

// bodies makes an upload's request bodies in one pooled buffer, reused from request to
// request and from upload to upload, so a bulk upload does not leave ~120 KB of garbage per
// request. net/http may go on reading a body after Do returns (a server that answers before
// reading all of it), until it closes the body; so the buffer is reused only once every
// body made from it is closed, and otherwise left to the garbage collector.
type bodies struct {
	buf     *[]byte
	pending atomic.Int32 // bodies handed to the transport and not yet closed
}

// join builds the JSON array body of a bulk request from already encoded batches.
func (b *bodies) join(enc [][]byte, idx []int) []byte {
	if b.buf != nil && b.pending.Load() != 0 {
		b.buf = nil // still read by the transport: abandoned to the garbage collector
	}
	if b.buf == nil {
		b.buf = getEncodeBuffer(0)
	}
	body := appendJoined((*b.buf)[:0], enc, idx)
	*b.buf = body[:0]
	return body
}

// joinBodies is appendJoined into a buffer of its own.
func joinBodies(enc [][]byte, idx []int) []byte {
	return appendJoined(nil, enc, idx)
}

// appendJoined appends the JSON array of the encoded batches idx: a bulk request's body.
func appendJoined(dst []byte, enc [][]byte, idx []int) []byte {
	n := 1 + len(idx)
	for _, i := range idx {
		n += len(enc[i])
	}
	dst = slices.Grow(dst, n)
	dst = append(dst, '[')
	for k, i := range idx {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, enc[i]...)
	}
	return append(dst, ']')
}

// open returns a reader of body that counts as open until the transport closes it.
func (b *bodies) open(body []byte) io.ReadCloser {
	b.pending.Add(1)
	r := &trackedBody{owner: b, data: body}
	r.Reset(body)
	return r
}

// release returns the buffer to the pool when no transport still holds a body made from it.
func (b *bodies) release() {
	if b.buf != nil && b.pending.Load() == 0 {
		putEncodeBuffer(b.buf)
	}
	b.buf = nil
}

type trackedBody struct {
	bytes.Reader
	data   []byte // all of it, for h1Transport to write without copying
	owner  *bodies
	closed atomic.Bool
}

func (t *trackedBody) Close() error {
	if t.closed.CompareAndSwap(false, true) {
		t.owner.pending.Add(-1)
	}
	return nil
}

// drain reads what is left of a body (bounded) and closes it so the connection can be reused.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxResponseBody))
	_ = body.Close()
}
