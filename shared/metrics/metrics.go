// Package metrics counts what the forwarder does with each event and writes the counts as
// CloudWatch embedded metric format (EMF) log lines: Lambda sends stdout to CloudWatch Logs,
// which turns each line into metrics without an API call (or its latency and failure modes)
// on the delivery path.
//
// One Invocation collects the counts of one handler invocation. Its Flush writes one JSON
// line with the service-wide totals (dimension set {Service}) and, because an EMF document
// carries a single value per dimension, one further line per feed that had a non-zero count
// (dimension set {Service, FeedID}).
//
// Cardinality: every distinct FeedID value is a separate CloudWatch metric per name. An
// Emitter gives its own FeedID dimension to the first MaxFeeds feeds it sees and counts every
// later feed under OtherFeeds, so one container publishes at most MaxFeeds+1 FeedID values
// per name whatever the traffic; per-feed lines carry only the non-zero counts, so a quiet
// feed publishes nothing. Across the fleet the bound is the number of integrations.
//
// Degraded is counted by input field instead (dimension set {Service, Field}), one line per
// field with a non-zero count. Its Field values are the closed set event.Fields, plus
// OtherField for anything else, so what producers send never creates new metrics.
package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/namiml/mparticle-bridge/shared/event"
)

// Name is a metric name.
type Name string

// The forwarder's metrics. All are counts of (event, feed) deliveries except Invalid and
// DeadLettered, which count messages.
const (
	Delivered    Name = "Delivered"    // accepted by mParticle
	Deduplicated Name = "Deduplicated" // skipped: an earlier invocation already delivered it
	Retried      Name = "Retried"      // given back to SQS to try again later
	DeadLettered Name = "DeadLettered" // sent to the dead-letter queue
	Invalid      Name = "Invalid"      // messages that are not a valid event
	Throttled    Name = "Throttled"    // held back by a 429, or by the feed's cool-down after one
	AuthFailed   Name = "AuthFailed"   // credentials refused (401/403) after a fresh read
	Skipped      Name = "Skipped"      // not sent by the integration's policy (sandbox drop, missing Customer ID)
)

// Names lists the metrics Add counts, in the order they are written. The service-wide line
// always carries all of them, zeros included, so alarms see data rather than gaps.
var Names = []Name{Delivered, Deduplicated, Retried, DeadLettered, Invalid, Throttled, AuthFailed, Skipped}

// Degraded counts, per input field, the events sent to their feeds with that field normalised
// or omitted (counted with AddDegraded, not Add). The service-wide line carries its total after
// the Names; per-field lines carry the dimension Field.
const Degraded Name = "Degraded"

// Dimension names.
const (
	DimService = "Service"
	DimFeedID  = "FeedID"
	DimField   = "Field"
)

// OtherFeeds is the FeedID under which feeds past the MaxFeeds bound are counted.
const OtherFeeds = "_other"

// OtherField is the Field under which a field outside event.Fields is counted.
const OtherField = "_other"

// Defaults for Options fields left zero.
const (
	DefaultService  = "forwarder"
	DefaultMaxFeeds = 100
)

// Options tunes an Emitter.
type Options struct {
	// Service is the value of the Service dimension; empty means DefaultService.
	Service string
	// MaxFeeds bounds the distinct FeedID values one Emitter publishes; 0 means
	// DefaultMaxFeeds, a negative value turns per-feed lines off.
	MaxFeeds int
	// Now stamps each line; nil means time.Now.
	Now func() time.Time
}

// Emitter writes EMF lines to one writer. It is safe for concurrent use: each Flush writes
// its lines with a single Write, so invocations running side by side do not interleave.
type Emitter struct {
	w         io.Writer
	namespace string
	opts      Options

	mu    sync.Mutex
	feeds map[string]bool // feeds given their own FeedID so far
}

// New returns an Emitter with default options writing to w (os.Stdout in Lambda) under
// the CloudWatch namespace.
func New(w io.Writer, namespace string) *Emitter {
	return NewWithOptions(w, namespace, Options{})
}

// NewWithOptions returns an Emitter with the given options.
func NewWithOptions(w io.Writer, namespace string, opts Options) *Emitter {
	if opts.Service == "" {
		opts.Service = DefaultService
	}
	if opts.MaxFeeds == 0 {
		opts.MaxFeeds = DefaultMaxFeeds
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Emitter{w: w, namespace: namespace, opts: opts, feeds: map[string]bool{}}
}

// Begin starts collecting the counts of one invocation.
func (e *Emitter) Begin() *Invocation {
	return &Invocation{e: e, total: map[Name]int64{}, perFeed: map[string]map[Name]int64{}, perField: map[string]int64{}}
}

// feedKey maps a feed to the FeedID it is published under, admitting new feeds while the
// bound allows.
func (e *Emitter) feedKey(feedID string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.feeds[feedID] {
		return feedID
	}
	if len(e.feeds) < e.opts.MaxFeeds {
		e.feeds[feedID] = true
		return feedID
	}
	return OtherFeeds
}

// Invocation holds one invocation's counts. It is safe for concurrent use, as the
// forwarder uploads to several feeds at once.
type Invocation struct {
	e *Emitter

	mu       sync.Mutex
	total    map[Name]int64
	perFeed  map[string]map[Name]int64
	perField map[string]int64 // Degraded by Field
	unknown  []Name
	flushed  bool
}

// Add counts n occurrences of name, one of Names. feedID is the integration the count is
// about, or "" for counts that belong to no feed (Invalid). Non-positive n is ignored: these
// are counters. Another name is not counted and makes Flush return an error, rather than
// panic on the delivery path or publish a metric no alarm or dashboard knows.
func (inv *Invocation) Add(name Name, feedID string, n int) {
	if !slices.Contains(Names, name) {
		inv.mu.Lock()
		inv.unknown = append(inv.unknown, name)
		inv.mu.Unlock()
		return
	}
	if n <= 0 {
		return
	}
	key := ""
	if feedID != "" && inv.e.opts.MaxFeeds > 0 {
		key = inv.e.feedKey(feedID)
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.total[name] += int64(n)
	if key == "" {
		return
	}
	m := inv.perFeed[key]
	if m == nil {
		m = map[Name]int64{}
		inv.perFeed[key] = m
	}
	m[name] += int64(n)
}

// AddDegraded counts n events sent with field f normalised or omitted. A field outside
// event.Fields is counted under OtherField. Non-positive n is ignored.
func (inv *Invocation) AddDegraded(f event.Field, n int) {
	if n <= 0 {
		return
	}
	key := string(f)
	if !event.KnownField(f) {
		key = OtherField
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.total[Degraded] += int64(n)
	inv.perField[key] += int64(n)
}

// Total returns the invocation's count of name across feeds (for Degraded, across fields).
func (inv *Invocation) Total(name Name) int64 {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return inv.total[name]
}

// Flush writes the invocation's lines. A second Flush writes nothing, so a deferred Flush
// after an explicit one cannot double-count.
func (inv *Invocation) Flush() error {
	inv.mu.Lock()
	if inv.flushed {
		inv.mu.Unlock()
		return nil
	}
	inv.flushed = true
	total := inv.total
	perFeed := inv.perFeed
	perField := inv.perField
	unknown := inv.unknown
	inv.mu.Unlock()

	e := inv.e
	ts := e.opts.Now().UnixMilli()
	var buf bytes.Buffer
	if err := e.writeDoc(&buf, ts, "", "", append(slices.Clip(Names), Degraded), total, true); err != nil {
		return err
	}
	for _, f := range slices.Sorted(maps.Keys(perFeed)) {
		if err := e.writeDoc(&buf, ts, DimFeedID, f, Names, perFeed[f], false); err != nil {
			return err
		}
	}
	for _, f := range slices.Sorted(maps.Keys(perField)) {
		if err := e.writeDoc(&buf, ts, DimField, f, []Name{Degraded}, map[Name]int64{Degraded: perField[f]}, false); err != nil {
			return err
		}
	}
	if _, err := e.w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("metrics: write: %w", err)
	}
	if len(unknown) > 0 {
		return fmt.Errorf("metrics: unknown metric names not counted: %v", unknown)
	}
	return nil
}

// The EMF document. Field order is fixed by the struct, so lines are stable for tests and
// for people reading logs.
type document struct {
	AWS metadata `json:"_aws"`
}

type metadata struct {
	Timestamp         int64             `json:"Timestamp"`
	CloudWatchMetrics []metricDirective `json:"CloudWatchMetrics"`
}

type metricDirective struct {
	Namespace  string             `json:"Namespace"`
	Dimensions [][]string         `json:"Dimensions"`
	Metrics    []metricDefinition `json:"Metrics"`
}

type metricDefinition struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// writeDoc appends one line: the _aws envelope, then the dimension values and metric
// values as root members (EMF's target members). dim is the dimension besides Service (""
// for the service-wide line) and dimValue its value; of, the metrics the line may carry,
// all of them when all is set, else the non-zero ones.
func (e *Emitter) writeDoc(buf *bytes.Buffer, ts int64, dim, dimValue string, of []Name, counts map[Name]int64, all bool) error {
	var names []Name
	for _, n := range of {
		if all || counts[n] > 0 {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil
	}

	dims := []string{DimService}
	if dim != "" {
		dims = append(dims, dim)
	}
	defs := make([]metricDefinition, len(names))
	for i, n := range names {
		defs[i] = metricDefinition{Name: string(n), Unit: "Count"}
	}
	head, err := json.Marshal(document{AWS: metadata{
		Timestamp: ts,
		CloudWatchMetrics: []metricDirective{{
			Namespace: e.namespace, Dimensions: [][]string{dims}, Metrics: defs,
		}},
	}})
	if err != nil {
		return fmt.Errorf("metrics: encode: %w", err)
	}
	// Append the root members to the encoded envelope: a map would lose the order.
	buf.Write(head[:len(head)-1])
	member := func(k string, v any) error {
		kb, err := json.Marshal(k)
		if err != nil {
			return err
		}
		vb, err := json.Marshal(v)
		if err != nil {
			return err
		}
		buf.WriteByte(',')
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(vb)
		return nil
	}
	if err := member(DimService, e.opts.Service); err != nil {
		return fmt.Errorf("metrics: encode: %w", err)
	}
	if dim != "" {
		if err := member(dim, dimValue); err != nil {
			return fmt.Errorf("metrics: encode: %w", err)
		}
	}
	for _, n := range names {
		if err := member(string(n), counts[n]); err != nil {
			return fmt.Errorf("metrics: encode: %w", err)
		}
	}
	buf.WriteString("}\n")
	return nil
}
