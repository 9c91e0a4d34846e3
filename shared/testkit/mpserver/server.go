// Package mpserver is a local stand-in for mParticle's server-to-server Events API that
// enforces its contract: Basic auth per feed, content type, size and count limits, batch
// validation (the documented batch shape and a repaired copy of the official JSON schema),
// the historical endpoint's rules, an optional per-feed rate limit, seeded fault injection
// and scripted answers. It serves both of mParticle's URL layouts: the partner endpoint's
// (/s2s/v2/..., any pod's key) and a pod host's (/v2/..., that pod's keys only). It records
// what it accepts, and on which path, so tests, the soak test and local development can
// inspect it.
package mpserver

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// PartnerPrefix is the path prefix of the partner layout: mParticle's partner endpoint
// serves the Events API paths under it (https://inbound.mparticle.com/s2s/v2/...), so a
// client whose base URL is the server's URL plus PartnerPrefix talks to it as to the
// partner endpoint.
const PartnerPrefix = "/s2s"

// Paths served besides the Events API ones (mparticle.PathEvents, PathBulkEvents and
// PathHistorical, each also under PartnerPrefix). The inspection paths answer under
// PartnerPrefix too, so tools given the partner layout's base URL find them.
const (
	PathStats    = "/_mpserver/stats"
	PathReceived = "/_mpserver/received"
	PathReset    = "/_mpserver/reset"
	// PathRedirected is where an injected redirect points. A request arriving there is a
	// client that followed a redirect (with the feed's credentials): it is counted in
	// Stats.RedirectsFollowed and refused.
	PathRedirected = "/_mpserver/redirected"
)

// IsAPIPath reports whether path is one of the Events API paths the server serves, in
// either layout.
func IsAPIPath(path string) bool {
	_, _, ok := apiRoute(path)
	return ok
}

// apiRoute splits an Events API path into its layout and its /v2 path.
func apiRoute(path string) (v2 string, partner, ok bool) {
	v2, partner = strings.CutPrefix(path, PartnerPrefix)
	switch v2 {
	case mparticle.PathEvents, mparticle.PathBulkEvents, mparticle.PathHistorical:
		return v2, partner, true
	}
	return "", false, false
}

const (
	headerRateLimitUsed     = "X-mp-rate-limit-percentage-used"
	headerRateLimitExceeded = "X-mp-rate-limit-exceeded"
)

// Options configures a Server. The zero value is a strict server with no faults and no
// rate limit.
type Options struct {
	// Seed seeds the fault source; the same seed replays the same fault sequence.
	Seed   uint64
	Faults Faults
	// RateLimit applies to every feed that AddFeed does not give its own limit.
	RateLimit RateLimit
	// OnAccept is called once per accepted batch, in order, before the request is answered.
	OnAccept func(feedName string, b json.RawMessage)
	// Logger receives one record per API request; nil discards. Secrets are never logged.
	Logger *slog.Logger
	// Now is the clock of the rate limiter and of the historical rules; nil means time.Now.
	Now func() time.Time
	// Pod is the pod whose host the /v2 layout plays (US1, US2, EU1 or AU1); "" means US1.
	// That layout refuses the keys of other pods, as a pod's host does; the partner layout
	// (PartnerPrefix) takes any pod's key.
	Pod string
}

// Server implements http.Handler. Create it with New; use it with httptest.NewServer or Start.
type Server struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time

	rngMu sync.Mutex
	rng   *rand.Rand
	// outage, when set, answers every API request with this status (SetOutage); under rngMu.
	outage int

	mu     sync.Mutex
	feeds  map[string]*feed // by key
	names  map[string]*feed // by name
	stats  counters
	seq    int
	closed chan struct{}
	once   sync.Once
	http   *http.Server
}

type feed struct {
	key, secret, name, platform string
	pod                         string
	limit                       *RateLimit
	bucket                      *bucket
	script                      []Response
	records                     []Record
	seenRequests                map[string]bool
	seenMessages                map[string]bool
	stats                       FeedStats
}

// New returns a server with no feeds. It panics if opts.Faults or opts.Pod is invalid (see
// Faults.Validate), as that is a programming error in a test or a flag check skipped.
func New(opts Options) *Server {
	if err := opts.Faults.Validate(); err != nil {
		panic(err)
	}
	pod, err := mparticle.NormalizePod(opts.Pod)
	if err != nil {
		panic(err)
	}
	if pod == "" {
		pod = "US1"
	}
	opts.Pod = pod
	s := &Server{
		opts:   opts,
		log:    opts.Logger,
		now:    opts.Now,
		feeds:  map[string]*feed{},
		names:  map[string]*feed{},
		closed: make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.rng = newRNG(opts.Seed)
	s.stats = newCounters()
	return s
}

func newRNG(seed uint64) *rand.Rand {
	// The second PCG word is fixed so one number is the whole seed, easy to pass on a flag.
	return rand.New(rand.NewPCG(seed, 0x6d705f736572766e))
}

// FeedOption adjusts one feed.
type FeedOption func(*feed)

// WithPlatform records the feed's act-as platform (a device_info.platform value). Batches
// naming another platform are accepted (the docs bind the platform to the credentials, not
// the payload) but counted in FeedStats.PlatformMismatches.
func WithPlatform(p string) FeedOption { return func(f *feed) { f.platform = p } }

// WithRateLimit gives the feed its own token bucket, overriding Options.RateLimit.
func WithRateLimit(rl RateLimit) FeedOption { return func(f *feed) { f.limit = &rl } }

// WithPod places the feed's account in a pod (US1, US2, EU1 or AU1, any case). Without it
// the feed's pod is the one its key's prefix names ("eu1-..."), or US1, whose keys carry
// none. It panics on an unknown pod.
func WithPod(pod string) FeedOption {
	p, err := mparticle.NormalizePod(pod)
	if err != nil || p == "" {
		panic(fmt.Sprintf("mpserver: WithPod(%q): not a pod", pod))
	}
	return func(f *feed) { f.pod = p }
}

// AddFeed registers the credentials of one input feed. Registering a key again replaces
// it. It panics if name is already used by another key, since stats are reported by name.
func (s *Server) AddFeed(key, secret, name string, opts ...FeedOption) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if other, ok := s.names[name]; ok && other.key != key {
		panic(fmt.Sprintf("mpserver: feed name %q already registered", name))
	}
	if old, ok := s.feeds[key]; ok {
		delete(s.names, old.name)
	}
	f := &feed{key: key, secret: secret, name: name, pod: "US1"}
	if p, ok := mparticle.KeyPod(key); ok {
		f.pod = p
	}
	for _, o := range opts {
		o(f)
	}
	f.reset(s.opts.RateLimit, s.now())
	s.feeds[key] = f
	s.names[name] = f
}

func (f *feed) reset(def RateLimit, now time.Time) {
	rl := def
	if f.limit != nil {
		rl = *f.limit
	}
	f.bucket = newBucket(rl, now)
	f.script = nil
	f.records = nil
	f.seenRequests = map[string]bool{}
	f.seenMessages = map[string]bool{}
	f.stats = FeedStats{Name: f.name, Platform: f.platform, Pod: f.pod, ByStatus: map[int]int64{}, ByPath: map[string]int64{}}
}

// Script queues answers for the next requests of the feed with this key, one per request,
// ahead of fault injection. It panics for an unknown key.
func (s *Server) Script(key string, responses ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.feeds[key]
	if !ok {
		panic("mpserver: Script for an unregistered feed")
	}
	f.script = append(f.script, responses...)
}

// Reset forgets recorded batches, counters, scripts and rate-limit state, and restarts the
// fault sequence from the seed. Feeds stay registered.
func (s *Server) Reset() {
	s.mu.Lock()
	for _, f := range s.feeds {
		f.reset(s.opts.RateLimit, s.now())
	}
	hanging := s.stats.hanging // a gauge of live requests, not history
	s.stats = newCounters()
	s.stats.hanging = hanging
	s.seq = 0
	s.mu.Unlock()
	s.rngMu.Lock()
	s.rng = newRNG(s.opts.Seed)
	s.rngMu.Unlock()
}

// Start serves on addr (e.g. "127.0.0.1:0") in the background and returns the base URL.
func (s *Server) Start(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("mpserver: listen %s: %w", addr, err)
	}
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.http = hs
	s.mu.Unlock()
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("mpserver: serve", "err", err)
		}
	}()
	return "http://" + ln.Addr().String(), nil
}

// Close releases requests left hanging by a timeout fault and stops a server begun with
// Start. With httptest, call it before the httptest server's Close, which otherwise waits
// for the hanging requests.
func (s *Server) Close() error {
	s.once.Do(func() { close(s.closed) })
	s.mu.Lock()
	hs := s.http
	s.mu.Unlock()
	if hs != nil {
		return hs.Close()
	}
	return nil
}

// ServeHTTP routes Events API and inspection requests. To drop a connection without an
// answer it may panic with http.ErrAbortHandler, which net/http handles silently.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if v2, partner, ok := apiRoute(r.URL.Path); ok {
		s.serveAPI(w, r, route{v2: v2, partner: partner})
		return
	}
	path, _ := strings.CutPrefix(r.URL.Path, PartnerPrefix)
	switch {
	case path == PathStats:
		s.serveStats(w, r)
	case path == PathReceived:
		s.serveReceived(w, r)
	case path == PathReset:
		s.serveReset(w, r)
	case path == PathRedirected || strings.HasPrefix(path, PathRedirected+"/"):
		s.serveRedirected(w, r)
	default:
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such path")
	}
}

// route is where an API request arrived: the /v2 path and the layout.
type route struct {
	v2      string
	partner bool
}

func (rt route) bulk() bool       { return rt.v2 != mparticle.PathEvents }
func (rt route) historical() bool { return rt.v2 == mparticle.PathHistorical }

// path is the full path as requested.
func (rt route) path() string {
	if rt.partner {
		return PartnerPrefix + rt.v2
	}
	return rt.v2
}

// apiErr is one refused request: status, error code and messages for the body.
type apiErr struct {
	status int
	code   string
	msgs   []string
	header http.Header
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, rt route) {
	s.mu.Lock()
	s.stats.requests++
	s.mu.Unlock()
	log := s.log.With("path", r.URL.Path)

	if r.Method != http.MethodPost {
		s.answer(w, nil, log, &apiErr{status: http.StatusMethodNotAllowed, code: "METHOD_NOT_ALLOWED",
			msgs: []string{"use POST"}, header: http.Header{"Allow": {http.MethodPost}}}, 0)
		return
	}
	f, aerr := s.authenticate(r)
	if aerr == nil && !rt.partner && f.pod != s.opts.Pod {
		// A pod's host does not know the accounts of other pods: to it the key is invalid.
		f, aerr = nil, &apiErr{status: http.StatusForbidden, code: "FORBIDDEN",
			msgs: []string{fmt.Sprintf("invalid API key or secret for pod %s: send to the key's pod or the partner endpoint", s.opts.Pod)}}
	}
	if aerr != nil {
		s.answer(w, nil, log, aerr, 0)
		return
	}
	log = log.With("feed", f.name)
	s.mu.Lock()
	f.stats.Requests++
	s.mu.Unlock()

	plan := s.nextScripted(f)
	if plan == nil {
		d := s.drawFault()
		plan = &d
	}
	switch plan.act {
	case actReply:
		s.reply(w, r, f, log, *plan)
		return
	case actReset:
		s.reset(w, f, log)
		return
	}

	batches, aerr := s.readBatches(w, r, rt.bulk())
	if aerr == nil {
		aerr = s.admit(f, len(batches))
	}
	if aerr == nil {
		aerr = validateAll(batches, rt.historical(), s.now())
	}
	if aerr != nil {
		s.answer(w, f, log, aerr, len(batches))
		return
	}
	pct := s.record(f, rt.path(), batches)
	if plan.act == actTimeout {
		// Counted before OnAccept runs, so an observer woken by it sees the timeout.
		s.mu.Lock()
		s.stats.timeouts++
		f.stats.Timeouts++
		s.mu.Unlock()
	}
	for _, b := range batches {
		if s.opts.OnAccept != nil {
			s.opts.OnAccept(f.name, b)
		}
	}
	if plan.act == actTimeout {
		s.hang(w, r, f, log, len(batches))
		return
	}
	w.Header().Set(headerRateLimitUsed, strconv.Itoa(pct))
	w.WriteHeader(http.StatusAccepted)
	s.count(f, http.StatusAccepted)
	log.Info("mpserver: accepted", "status", http.StatusAccepted, "batches", len(batches))
}

// authenticate maps a missing or unparsable Authorization header to 401 and wrong
// credentials to 403, as the API does. Messages never echo the key or secret.
func (s *Server) authenticate(r *http.Request) (*feed, *apiErr) {
	key, secret, ok := r.BasicAuth()
	if !ok {
		return nil, &apiErr{status: http.StatusUnauthorized, code: "UNAUTHORIZED",
			msgs: []string{"missing or malformed Basic Authorization header"}}
	}
	s.mu.Lock()
	f := s.feeds[key]
	s.mu.Unlock()
	// Compare the secret even for an unknown key, so both refusals cost about the same.
	want := "\x00no feed"
	if f != nil {
		want = f.secret
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 || f == nil {
		return nil, &apiErr{status: http.StatusForbidden, code: "FORBIDDEN", msgs: []string{"invalid API key or secret"}}
	}
	return f, nil
}

func (s *Server) nextScripted(f *feed) *Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(f.script) == 0 {
		return nil
	}
	r := f.script[0]
	f.script = f.script[1:]
	return &r
}

// readBatches applies the content type, size and count limits and splits the body into
// raw batches (one for /v2/events).
func (s *Server) readBatches(w http.ResponseWriter, r *http.Request, bulk bool) ([]json.RawMessage, *apiErr) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, &apiErr{status: http.StatusUnsupportedMediaType, code: "UNSUPPORTED_MEDIA_TYPE",
			msgs: []string{"Content-Type must be application/json"}}
	}
	// The API's limit is "256 KB"; the server reads it the strict way, 256,000 bytes, and
	// the body must stay under it.
	tooLarge := &apiErr{status: http.StatusRequestEntityTooLarge, code: "REQUEST_TOO_LARGE",
		msgs: []string{fmt.Sprintf("request body of %d bytes or more, the limit is under %d", mparticle.MaxRequestBytes, mparticle.MaxRequestBytes)}}
	if r.ContentLength >= mparticle.MaxRequestBytes {
		drain(r.Body)
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, mparticle.MaxRequestBytes-1))
	s.mu.Lock()
	s.stats.bytes += int64(len(body))
	s.mu.Unlock()
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			drain(r.Body)
			return nil, tooLarge
		}
		return nil, badRequest("reading body: " + err.Error())
	}
	if !bulk {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			return nil, badRequest("body must be one JSON batch object: " + err.Error())
		}
		return []json.RawMessage{body}, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, badRequest("body must be a JSON array of batches: " + err.Error())
	}
	switch {
	case len(list) == 0:
		return nil, badRequest("no batches: send 1 to 100")
	case len(list) > mparticle.MaxBatchesPerRequest:
		return nil, badRequest(fmt.Sprintf("%d batches, over the limit of %d per request", len(list), mparticle.MaxBatchesPerRequest))
	}
	return list, nil
}

func badRequest(msgs ...string) *apiErr {
	return &apiErr{status: http.StatusBadRequest, code: "BAD_REQUEST", msgs: msgs}
}

// admit charges the feed's token bucket for n batches.
func (s *Server) admit(f *feed, n int) *apiErr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.bucket == nil {
		return nil
	}
	ok, wait := f.bucket.take(n, s.now())
	if ok {
		return nil
	}
	return &apiErr{status: http.StatusTooManyRequests, code: "TOO_MANY_REQUESTS",
		msgs: []string{"feed rate limit exceeded"},
		header: http.Header{
			"Retry-After":           {strconv.Itoa(retryAfterSeconds(wait))},
			headerRateLimitExceeded: {"feed"},
		}}
}

// validateAll refuses the whole request if any batch is invalid, naming each bad batch by
// its index so a client can narrow the request by splitting. On the historical path it
// also applies that endpoint's rules: mParticle drops such batches silently (with a 202),
// which is data lost, so the stand-in refuses them loudly instead.
func validateAll(batches []json.RawMessage, historical bool, now time.Time) *apiErr {
	var msgs []string
	for i, b := range batches {
		found := validateBatch(b)
		if historical {
			found = append(found, historicalViolations(b, now)...)
		}
		for _, m := range found {
			if len(msgs) < maxViolations {
				msgs = append(msgs, fmt.Sprintf("batch %d: %s", i, m))
			}
		}
	}
	if msgs == nil {
		return nil
	}
	return badRequest(msgs...)
}

func (s *Server) reply(w http.ResponseWriter, req *http.Request, f *feed, log *slog.Logger, r Response) {
	for k, vs := range r.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if r.redirect {
		w.Header().Set("Location", redirectTarget(req))
	}
	body := r.body
	if body == "" && r.status >= 400 {
		body = errorBody("INJECTED", fmt.Sprintf("injected %d", r.status))
	}
	if body != "" && w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(r.status)
	io.WriteString(w, body)
	s.count(f, r.status)
	log.Info("mpserver: injected reply", "status", r.status)
}

// redirectTarget is where an injected redirect points: the server's own PathRedirected,
// so a client that follows it is seen there.
func redirectTarget(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + PathRedirected + r.URL.Path
}

// serveRedirected counts and refuses a request that followed an injected redirect.
func (s *Server) serveRedirected(w http.ResponseWriter, r *http.Request) {
	drain(r.Body)
	s.mu.Lock()
	s.stats.redirectsFollowed++
	s.mu.Unlock()
	s.log.Warn("mpserver: a client followed a redirect", "path", r.URL.Path)
	writeError(w, http.StatusMisdirectedRequest, "MISDIRECTED",
		"this request followed a redirect: an Events API client must not resend its credentials to where a 3xx points")
}

// reset closes the connection with a TCP RST where it can, so clients see a reset rather
// than a clean EOF.
func (s *Server) reset(w http.ResponseWriter, f *feed, log *slog.Logger) {
	s.mu.Lock()
	s.stats.resets++
	f.stats.Resets++
	s.mu.Unlock()
	log.Info("mpserver: injected connection reset")
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// hang leaves an accepted request unanswered until the client gives up or the server
// closes, then drops the connection: returning normally would make net/http send a 200.
func (s *Server) hang(w http.ResponseWriter, r *http.Request, f *feed, log *slog.Logger, n int) {
	s.mu.Lock()
	s.stats.hanging++
	s.mu.Unlock()
	log.Info("mpserver: accepted, injected timeout", "batches", n)
	select {
	case <-r.Context().Done():
	case <-s.closed:
	}
	s.mu.Lock()
	s.stats.hanging--
	s.mu.Unlock()
	panic(http.ErrAbortHandler)
}

func (s *Server) answer(w http.ResponseWriter, f *feed, log *slog.Logger, e *apiErr, batches int) {
	for k, vs := range e.header {
		w.Header()[k] = vs
	}
	writeError(w, e.status, e.code, e.msgs...)
	s.count(f, e.status)
	first := ""
	if len(e.msgs) > 0 {
		first = e.msgs[0]
	}
	log.Info("mpserver: refused", "status", e.status, "batches", batches, "reason", first, "reasons", len(e.msgs))
}

func (s *Server) count(f *feed, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.byStatus[status]++
	if f != nil {
		f.stats.ByStatus[status]++
	}
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func errorBody(code string, msgs ...string) string {
	var body struct {
		Errors []errorEntry `json:"errors"`
	}
	for _, m := range msgs {
		body.Errors = append(body.Errors, errorEntry{Code: code, Message: m})
	}
	b, _ := json.Marshal(body)
	return string(b)
}

func writeError(w http.ResponseWriter, status int, code string, msgs ...string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, errorBody(code, msgs...))
}

// maxDrain bounds how much of a refused body is read and thrown away.
const maxDrain = 8 << 20

// drain reads the rest of a refused request body before the answer is sent. Without it the
// server closes the connection while the client is still writing, and the client sees a
// connection reset instead of the 413 (a race that made tests flaky).
func drain(body io.Reader) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxDrain))
}
