// Package apifuzz supports fuzzing the Integrations API (schemathesis, from its OpenAPI
// description) with checks the fuzzer cannot make from the outside: a Scanner in front of
// the API records every server error and every response that carries a secret (the planted
// test credentials, or the credentials the request itself sent), and DeriveSpec points the
// description at the local server with the ids worth trying as examples.
package apifuzz

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
)

// A request credential is checked for echoes only when it is at least minEchoLen long (the
// API's minimum) with minEchoDistinct distinct characters: the fuzzer's favourite values,
// like "00000000", turn up inside timestamps and ids by chance.
const (
	minEchoLen      = 8
	minEchoDistinct = 4
)

// Scanner is an http.Handler in front of the API. It is safe for concurrent use.
type Scanner struct {
	next      http.Handler
	forbidden map[string]string // label -> value that must never appear in a response
	watched   map[string]string // label -> value counted when it appears in a request path

	mu       sync.Mutex
	active   bool
	findings Findings
}

// Findings is what the scanner saw while active.
type Findings struct {
	Requests int
	ByStatus map[int]int
	// ServerErrors lists "METHOD path -> status" for each 5xx answer.
	ServerErrors []string
	// Leaks lists "METHOD path: label" for each response containing a forbidden value or
	// the request's own credentials. The value itself is never recorded.
	Leaks []string
	// Probes counts, per watched label, the requests whose path contained its value: proof
	// that the fuzzer did try the resource an isolation check is about.
	Probes map[string]int
}

// NewScanner wraps next. forbidden maps a label (printed) to a value (never printed).
func NewScanner(next http.Handler, forbidden map[string]string) *Scanner {
	f := map[string]string{}
	for k, v := range forbidden {
		if v != "" {
			f[k] = v
		}
	}
	return &Scanner{next: next, forbidden: f, watched: map[string]string{},
		findings: Findings{ByStatus: map[int]int{}, Probes: map[string]int{}}}
}

// Watch counts the requests whose path contains value (e.g. another app's id).
func (s *Scanner) Watch(label, value string) {
	if value == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watched[label] = value
	s.findings.Probes[label] += 0
}

// Forbid adds a value that must never appear in a response (e.g. an id known only after
// seeding). An empty value is ignored.
func (s *Scanner) Forbid(label, value string) {
	if value == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forbidden[label] = value
}

// SetActive turns recording on or off (off while the harness seeds or verifies data).
func (s *Scanner) SetActive(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active = on
}

// Findings returns a copy of what was recorded.
func (s *Scanner) Findings() Findings {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Findings{Requests: s.findings.Requests, ByStatus: map[int]int{}, Probes: map[string]int{},
		ServerErrors: append([]string(nil), s.findings.ServerErrors...),
		Leaks:        append([]string(nil), s.findings.Leaks...)}
	for k, v := range s.findings.ByStatus {
		out.ByStatus[k] = v
	}
	for k, v := range s.findings.Probes {
		out.Probes[k] = v
	}
	return out
}

func (s *Scanner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	active := s.active
	forbidden := make(map[string]string, len(s.forbidden))
	for k, v := range s.forbidden {
		forbidden[k] = v
	}
	s.mu.Unlock()
	if !active {
		s.next.ServeHTTP(w, r)
		return
	}
	reqBody, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(reqBody))

	rec := httptest.NewRecorder()
	s.next.ServeHTTP(rec, r)
	res := rec.Result()
	respBody := rec.Body.Bytes()

	where := r.Method + " " + r.URL.Path
	var leaks []string
	haystack := responseStrings(respBody)
	for _, label := range sortedKeys(forbidden) {
		if containsAny(haystack, forbidden[label]) {
			leaks = append(leaks, where+": "+label)
		}
	}
	for _, label := range echoedCredentials(reqBody, haystack) {
		leaks = append(leaks, where+": "+label)
	}
	for k, v := range res.Header {
		for _, label := range sortedKeys(forbidden) {
			for _, hv := range v {
				if strings.Contains(hv, forbidden[label]) {
					leaks = append(leaks, where+": "+label+" in header "+k)
				}
			}
		}
	}

	s.mu.Lock()
	for label, v := range s.watched {
		if strings.Contains(r.URL.Path, v) {
			s.findings.Probes[label]++
		}
	}
	s.findings.Requests++
	s.findings.ByStatus[res.StatusCode]++
	if res.StatusCode >= 500 {
		s.findings.ServerErrors = append(s.findings.ServerErrors, fmt.Sprintf("%s -> %d", where, res.StatusCode))
	}
	s.findings.Leaks = append(s.findings.Leaks, leaks...)
	s.mu.Unlock()

	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(respBody)
}

// responseStrings returns the raw body and, when it is JSON, every string in it decoded, so
// a secret is found whether or not the encoder escaped some of its characters.
func responseStrings(body []byte) []string {
	out := []string{string(body)}
	var v any
	if json.Unmarshal(body, &v) == nil {
		collect(v, &out, false)
	}
	return out
}

// collect appends the strings in v (keys and values); skipCredentials leaves out the
// top-level "credentials" member of an object.
func collect(v any, out *[]string, skipCredentials bool) {
	switch t := v.(type) {
	case string:
		*out = append(*out, t)
	case []any:
		for _, e := range t {
			collect(e, out, false)
		}
	case map[string]any:
		for k, e := range t {
			if skipCredentials && k == "credentials" {
				continue
			}
			*out = append(*out, k)
			collect(e, out, false)
		}
	}
}

func containsAny(haystack []string, needle string) bool {
	for _, h := range haystack {
		if strings.Contains(h, needle) {
			return true
		}
	}
	return false
}

// echoedCredentials reports the request's own credentials.key or credentials.secret found in
// the response, unless the request also sent that string elsewhere (a name, say), where the
// API may legitimately echo it.
func echoedCredentials(reqBody []byte, haystack []string) []string {
	var req map[string]any
	if json.Unmarshal(reqBody, &req) != nil {
		return nil
	}
	creds, _ := req["credentials"].(map[string]any)
	if creds == nil {
		return nil
	}
	var elsewhere []string
	collect(req, &elsewhere, true)
	var out []string
	for _, field := range []string{"key", "secret"} {
		v, _ := creds[field].(string)
		if len(v) < minEchoLen || distinct(v) < minEchoDistinct || containsAny(elsewhere, v) {
			continue
		}
		if containsAny(haystack, v) {
			out = append(out, "request's own credentials."+field+" echoed")
		}
	}
	return out
}

func distinct(s string) int {
	seen := map[rune]bool{}
	for _, r := range s {
		seen[r] = true
	}
	return len(seen)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
