package metrics_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/metrics"
)

const ns = "NamiMParticle"

var fixed = time.Date(2024, 5, 14, 9, 30, 12, 345_000_000, time.UTC)

// emfLine is one decoded line checked against the EMF specification: what CloudWatch Logs
// needs to extract metrics, and no more.
type emfLine struct {
	Timestamp  int64
	Namespace  string
	Dimensions [][]string
	Units      map[string]string
	Values     map[string]float64 // metric name -> value
	DimValues  map[string]string  // dimension name -> value
}

// parseEMF validates line as an EMF document (structure, types, that every dimension and
// metric referenced has a root member of the right type) and returns what it says.
func parseEMF(t *testing.T, line string) emfLine {
	t.Helper()
	var root map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		t.Fatalf("line is not a JSON object: %v\n%s", err, line)
	}
	var meta struct {
		Timestamp         *json.Number `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  *string    `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct {
				Name *string `json:"Name"`
				Unit string  `json:"Unit"`
			} `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	}
	raw, ok := root["_aws"]
	if !ok {
		t.Fatalf("no _aws member: %s", line)
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatalf("_aws: %v", err)
	}
	if meta.Timestamp == nil {
		t.Fatalf("_aws.Timestamp missing: %s", line)
	}
	ts, err := meta.Timestamp.Int64()
	if err != nil {
		t.Fatalf("_aws.Timestamp %q is not an integer of milliseconds", *meta.Timestamp)
	}
	if len(meta.CloudWatchMetrics) != 1 {
		t.Fatalf("want one metric directive, got %d", len(meta.CloudWatchMetrics))
	}
	d := meta.CloudWatchMetrics[0]
	if d.Namespace == nil || *d.Namespace == "" || len(*d.Namespace) > 255 {
		t.Fatalf("bad Namespace in %s", line)
	}
	if len(d.Metrics) == 0 || len(d.Metrics) > 100 {
		t.Fatalf("%d metric definitions, want 1..100", len(d.Metrics))
	}
	out := emfLine{Timestamp: ts, Namespace: *d.Namespace, Dimensions: d.Dimensions,
		Units: map[string]string{}, Values: map[string]float64{}, DimValues: map[string]string{}}
	for _, set := range d.Dimensions {
		if len(set) == 0 || len(set) > 30 {
			t.Fatalf("dimension set of %d, want 1..30", len(set))
		}
		for _, dim := range set {
			var v string
			if err := json.Unmarshal(root[dim], &v); err != nil {
				t.Fatalf("dimension %q has no string root member: %s", dim, line)
			}
			out.DimValues[dim] = v
		}
	}
	for _, m := range d.Metrics {
		if m.Name == nil || *m.Name == "" || len(*m.Name) > 255 {
			t.Fatalf("bad metric name in %s", line)
		}
		var v float64
		if err := json.Unmarshal(root[*m.Name], &v); err != nil {
			t.Fatalf("metric %q has no numeric root member: %s", *m.Name, line)
		}
		if _, dup := out.Values[*m.Name]; dup {
			t.Fatalf("metric %q defined twice", *m.Name)
		}
		out.Values[*m.Name] = v
		out.Units[*m.Name] = m.Unit
	}
	return out
}

func lines(t *testing.T, buf *bytes.Buffer) []emfLine {
	t.Helper()
	var out []emfLine
	text := buf.String()
	if text != "" && !strings.HasSuffix(text, "\n") {
		t.Fatalf("output does not end with a newline: %q", text)
	}
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if l == "" {
			continue
		}
		out = append(out, parseEMF(t, l))
	}
	return out
}

func newEmitter(buf *bytes.Buffer, maxFeeds int) *metrics.Emitter {
	return metrics.NewWithOptions(buf, ns, metrics.Options{Service: "forwarder", MaxFeeds: maxFeeds,
		Now: func() time.Time { return fixed }})
}

type add struct {
	name metrics.Name
	feed string
	n    int
}

func TestFlushWritesServiceAndFeedLines(t *testing.T) {
	tests := []struct {
		name     string
		adds     []add
		maxFeeds int
		service  map[string]float64
		feeds    map[string]map[string]float64 // FeedID -> metric -> value
	}{
		{
			name:    "nothing counted: one service line of zeros",
			service: map[string]float64{"Delivered": 0, "Deduplicated": 0, "Retried": 0, "DeadLettered": 0, "Invalid": 0, "Throttled": 0, "AuthFailed": 0, "Skipped": 0, "Degraded": 0},
		},
		{
			name: "per-feed counts add up to the service totals",
			adds: []add{
				{metrics.Delivered, "feed-a", 3}, {metrics.Delivered, "feed-b", 2}, {metrics.Delivered, "feed-a", 1},
				{metrics.Throttled, "feed-b", 1}, {metrics.Retried, "feed-b", 4}, {metrics.Invalid, "", 2},
			},
			service: map[string]float64{"Delivered": 6, "Deduplicated": 0, "Retried": 4, "DeadLettered": 0, "Invalid": 2, "Throttled": 1, "AuthFailed": 0, "Skipped": 0, "Degraded": 0},
			feeds: map[string]map[string]float64{
				"feed-a": {"Delivered": 4},
				"feed-b": {"Delivered": 2, "Throttled": 1, "Retried": 4},
			},
		},
		{
			name:     "feeds past the bound are counted together",
			maxFeeds: 1,
			adds:     []add{{metrics.Delivered, "feed-a", 1}, {metrics.Delivered, "feed-b", 2}, {metrics.AuthFailed, "feed-c", 1}},
			service:  map[string]float64{"Delivered": 3, "Deduplicated": 0, "Retried": 0, "DeadLettered": 0, "Invalid": 0, "Throttled": 0, "AuthFailed": 1, "Skipped": 0, "Degraded": 0},
			feeds: map[string]map[string]float64{
				"feed-a":           {"Delivered": 1},
				metrics.OtherFeeds: {"Delivered": 2, "AuthFailed": 1},
			},
		},
		{
			name:     "per-feed lines off",
			maxFeeds: -1,
			adds:     []add{{metrics.Delivered, "feed-a", 5}, {metrics.DeadLettered, "feed-a", 1}},
			service:  map[string]float64{"Delivered": 5, "Deduplicated": 0, "Retried": 0, "DeadLettered": 1, "Invalid": 0, "Throttled": 0, "AuthFailed": 0, "Skipped": 0, "Degraded": 0},
		},
		{
			name:    "non-positive counts are ignored",
			adds:    []add{{metrics.Delivered, "feed-a", 0}, {metrics.Retried, "feed-a", -3}},
			service: map[string]float64{"Delivered": 0, "Deduplicated": 0, "Retried": 0, "DeadLettered": 0, "Invalid": 0, "Throttled": 0, "AuthFailed": 0, "Skipped": 0, "Degraded": 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			inv := newEmitter(&buf, tc.maxFeeds).Begin()
			for _, a := range tc.adds {
				inv.Add(a.name, a.feed, a.n)
			}
			if err := inv.Flush(); err != nil {
				t.Fatal(err)
			}
			got := lines(t, &buf)
			if len(got) != 1+len(tc.feeds) {
				t.Fatalf("%d lines, want %d:\n%s", len(got), 1+len(tc.feeds), buf.String())
			}
			svc := got[0]
			if fmt.Sprint(svc.Dimensions) != "[[Service]]" || svc.DimValues["Service"] != "forwarder" {
				t.Errorf("service line dimensions %v values %v", svc.Dimensions, svc.DimValues)
			}
			if fmt.Sprint(svc.Values) != fmt.Sprint(tc.service) {
				t.Errorf("service values %v, want %v", svc.Values, tc.service)
			}
			for _, l := range got {
				if l.Namespace != ns || l.Timestamp != fixed.UnixMilli() {
					t.Errorf("namespace %q timestamp %d", l.Namespace, l.Timestamp)
				}
				for name, unit := range l.Units {
					if unit != "Count" {
						t.Errorf("%s unit %q", name, unit)
					}
				}
			}
			for _, l := range got[1:] {
				if fmt.Sprint(l.Dimensions) != "[[Service FeedID]]" {
					t.Errorf("feed line dimensions %v", l.Dimensions)
				}
				want, ok := tc.feeds[l.DimValues["FeedID"]]
				if !ok {
					t.Errorf("unexpected feed line %v", l.DimValues)
					continue
				}
				if fmt.Sprint(l.Values) != fmt.Sprint(want) {
					t.Errorf("feed %s values %v, want %v", l.DimValues["FeedID"], l.Values, want)
				}
			}
		})
	}
}

// Degraded is counted per input field: the service line carries the total, one line per
// field the counts, and a field outside the closed set cannot create a metric of its own.
func TestDegradedByField(t *testing.T) {
	var buf bytes.Buffer
	inv := newEmitter(&buf, 0).Begin()
	inv.AddDegraded(event.FieldTransactionPrice, 2)
	inv.AddDegraded(event.FieldImpressionName, 1)
	inv.AddDegraded(event.FieldTransactionPrice, 1)
	inv.AddDegraded("user.favourite_colour", 1) // a producer's new field: not a new metric
	inv.AddDegraded("another.unknown", 2)
	inv.AddDegraded(event.FieldUserActiveSKUs, 0)
	inv.Add(metrics.Delivered, "feed-a", 1)
	if err := inv.Flush(); err != nil {
		t.Fatal(err)
	}
	got := lines(t, &buf)
	if got[0].Values["Degraded"] != 7 || inv.Total(metrics.Degraded) != 7 {
		t.Errorf("service Degraded = %v, Total = %d, want 7", got[0].Values["Degraded"], inv.Total(metrics.Degraded))
	}
	byField := map[string]float64{}
	for _, l := range got[1:] {
		switch fmt.Sprint(l.Dimensions) {
		case "[[Service FeedID]]":
			if _, ok := l.Values["Degraded"]; ok {
				t.Errorf("feed line carries Degraded: %v", l.Values)
			}
		case "[[Service Field]]":
			if len(l.Values) != 1 {
				t.Errorf("field line carries %v, want Degraded only", l.Values)
			}
			byField[l.DimValues["Field"]] = l.Values["Degraded"]
		default:
			t.Errorf("unexpected dimensions %v", l.Dimensions)
		}
	}
	want := map[string]float64{"transaction.price": 3, "impression.name": 1, metrics.OtherField: 3}
	if fmt.Sprint(byField) != fmt.Sprint(want) {
		t.Errorf("field lines %v, want %v", byField, want)
	}
	// Degraded goes through AddDegraded only: Add refuses it like any unknown name.
	inv = newEmitter(&bytes.Buffer{}, 0).Begin()
	inv.Add(metrics.Degraded, "feed-a", 1)
	if err := inv.Flush(); err == nil {
		t.Error("Add(Degraded) accepted")
	}
}

func TestFeedBoundHoldsAcrossInvocations(t *testing.T) {
	var buf bytes.Buffer
	e := newEmitter(&buf, 2)
	first := e.Begin()
	first.Add(metrics.Delivered, "a", 1)
	first.Add(metrics.Delivered, "b", 1)
	if err := first.Flush(); err != nil {
		t.Fatal(err)
	}
	buf.Reset()

	// A later invocation meets a third feed: it must not get a metric of its own, while the
	// two admitted earlier keep theirs.
	second := e.Begin()
	second.Add(metrics.Retried, "c", 1)
	second.Add(metrics.Retried, "b", 2)
	if err := second.Flush(); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, l := range lines(t, &buf)[1:] {
		got[l.DimValues["FeedID"]] = l.Values["Retried"]
	}
	want := map[string]float64{"b": 2, metrics.OtherFeeds: 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("feed lines %v, want %v", got, want)
	}
}

func TestFlushOnce(t *testing.T) {
	var buf bytes.Buffer
	inv := newEmitter(&buf, 0).Begin()
	inv.Add(metrics.Delivered, "a", 1)
	if err := inv.Flush(); err != nil {
		t.Fatal(err)
	}
	n := buf.Len()
	if err := inv.Flush(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != n {
		t.Errorf("second Flush wrote %d more bytes", buf.Len()-n)
	}
}

func TestUnknownNameIsReportedNotPublished(t *testing.T) {
	var buf bytes.Buffer
	inv := newEmitter(&buf, 0).Begin()
	inv.Add(metrics.Name("Service"), "a", 1) // would collide with the dimension member
	inv.Add(metrics.Delivered, "a", 1)
	err := inv.Flush()
	if err == nil || !strings.Contains(err.Error(), "Service") {
		t.Fatalf("Flush error = %v, want one naming the unknown metric", err)
	}
	got := lines(t, &buf)
	if got[0].DimValues["Service"] != "forwarder" || got[0].Values["Delivered"] != 1 {
		t.Errorf("valid counts lost or dimension overwritten: %+v", got[0])
	}
}

// chunks records each Write separately, to see whether lines of concurrent flushes mix.
type chunks struct {
	mu  sync.Mutex
	out []string
}

func (c *chunks) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out = append(c.out, string(p))
	return len(p), nil
}

func TestConcurrentInvocations(t *testing.T) {
	w := &chunks{}
	e := metrics.NewWithOptions(w, ns, metrics.Options{})
	const invocations, feeds, perFeed = 8, 5, 50
	var wg sync.WaitGroup
	for i := 0; i < invocations; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inv := e.Begin()
			var inner sync.WaitGroup
			for f := 0; f < feeds; f++ {
				inner.Add(1)
				go func() {
					defer inner.Done()
					for k := 0; k < perFeed; k++ {
						inv.Add(metrics.Delivered, fmt.Sprintf("feed-%d", f), 1)
					}
				}()
			}
			inner.Wait()
			if err := inv.Flush(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(w.out) != invocations {
		t.Fatalf("%d writes, want one per invocation", len(w.out))
	}
	for _, chunk := range w.out {
		var buf bytes.Buffer
		buf.WriteString(chunk)
		got := lines(t, &buf)
		if len(got) != 1+feeds {
			t.Fatalf("a flush wrote %d lines, want %d", len(got), 1+feeds)
		}
		if got[0].Values["Delivered"] != feeds*perFeed {
			t.Errorf("service Delivered = %v, want %d", got[0].Values["Delivered"], feeds*perFeed)
		}
		for _, l := range got[1:] {
			if l.Values["Delivered"] != perFeed {
				t.Errorf("feed %s Delivered = %v, want %d", l.DimValues["FeedID"], l.Values["Delivered"], perFeed)
			}
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrorIsReturned(t *testing.T) {
	inv := metrics.New(failingWriter{}, ns).Begin()
	inv.Add(metrics.Invalid, "", 1)
	if err := inv.Flush(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Flush error = %v", err)
	}
}

func TestTotal(t *testing.T) {
	inv := metrics.New(&bytes.Buffer{}, ns).Begin()
	inv.Add(metrics.Deduplicated, "a", 2)
	inv.Add(metrics.Deduplicated, "b", 3)
	if got := inv.Total(metrics.Deduplicated); got != 5 {
		t.Errorf("Total = %d, want 5", got)
	}
}

func TestDefaults(t *testing.T) {
	var buf bytes.Buffer
	before := time.Now().UnixMilli()
	inv := metrics.New(&buf, ns).Begin()
	inv.Add(metrics.Delivered, "a", 1)
	if err := inv.Flush(); err != nil {
		t.Fatal(err)
	}
	got := lines(t, &buf)
	if got[0].DimValues["Service"] != metrics.DefaultService {
		t.Errorf("Service = %q", got[0].DimValues["Service"])
	}
	if got[0].Timestamp < before {
		t.Errorf("Timestamp %d before the flush (%d)", got[0].Timestamp, before)
	}
	if len(got) != 2 || got[1].DimValues["FeedID"] != "a" {
		t.Errorf("per-feed line missing with default options")
	}
}
