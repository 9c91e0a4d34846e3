package forwarder

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/transform"
)

// cloneBatches deep-copies batches, for a fake Uploader that looks at them after the call:
// the forwarder builds its next chunk in their storage (see Uploader).
func cloneBatches(batches []mparticle.Batch) []mparticle.Batch {
	return deepCopy(reflect.ValueOf(batches)).Interface().([]mparticle.Batch)
}

func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		n := reflect.New(v.Type().Elem())
		n.Elem().Set(deepCopy(v.Elem()))
		return n
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			n.Index(i).Set(deepCopy(v.Index(i)))
		}
		return n
	case reflect.Struct:
		n := reflect.New(v.Type()).Elem()
		for i := range v.NumField() {
			n.Field(i).Set(deepCopy(v.Field(i)))
		}
		return n
	case reflect.String:
		return reflect.ValueOf(strings.Clone(v.String())).Convert(v.Type())
	default:
		return v
	}
}

// chunkUploader checks, at each call, that every batch is ToBatch's for its event byte for
// byte, keeps the ids of every batch it saw (as a log line or an error would), and notes
// where each batch's parts live, to tell whether a later chunk reused an earlier one's.
type chunkUploader struct {
	want  map[string]map[string][]byte // feed → event id → ToBatch's batch, encoded
	index map[string]int               // event id → its message's index

	mu      sync.Mutex
	calls   map[string]int                               // per feed
	refused map[string]bool                              // source_request_id → credentials refused once
	kept    [][2]string                                  // an id as received, and what it must stay
	home    map[string]map[*mparticle.Event]int          // feed → parts address → call that saw it
	reused  map[string]int                               // per feed: batches built in an earlier call's parts
	bad     []string                                     // mismatches
	bodies  map[string]map[string]int                    // feed → event id → uploads (resends included)
	answers func(feed string, idx int) mparticle.Outcome // the final answer for a delivery
}

func (u *chunkUploader) Upload(_ context.Context, feed mparticle.Feed, batches []mparticle.Batch) []mparticle.Result {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls[feed.ID]++
	call := u.calls[feed.ID]
	if u.home[feed.ID] == nil {
		u.home[feed.ID], u.bodies[feed.ID] = map[*mparticle.Event]int{}, map[string]int{}
	}
	out := make([]mparticle.Result, len(batches))
	for i := range batches {
		b := &batches[i]
		id, _ := b.Events[0].Data.CustomAttributes.Get("namiml_event_id")
		got, err := mparticle.AppendBatch(nil, b)
		if err != nil || !bytes.Equal(got, u.want[feed.ID][id]) {
			u.bad = append(u.bad, fmt.Sprintf("%s call %d, event %q: uploaded %s (err %v), ToBatch's %s",
				feed.ID, call, id, got, err, u.want[feed.ID][id]))
		}
		u.bodies[feed.ID][id]++
		u.kept = append(u.kept,
			[2]string{b.SourceRequestID, transform.SourceRequestID(id, feed.ID)},
			[2]string{b.Events[0].Data.SourceMessageID, transform.SourceMessageID(id)})
		if c, ok := u.home[feed.ID][&b.Events[0]]; ok && c != call {
			u.reused[feed.ID]++
		}
		u.home[feed.ID][&b.Events[0]] = call

		idx := u.index[id]
		o := u.answers(feed.ID, idx)
		if idx%5 == 0 && !u.refused[b.SourceRequestID] {
			// Refused once: the forwarder reads the credentials afresh and resends it.
			u.refused[b.SourceRequestID] = true
			o = mparticle.AuthFailed
		}
		out[i] = mparticle.Result{Outcome: o, Attempts: 1, RateLimitPercentUsed: -1}
		switch o {
		case mparticle.Delivered:
			out[i].StatusCode = 202
		case mparticle.AuthFailed:
			out[i].StatusCode, out[i].Err = 403, fmt.Errorf("credentials refused for %s", b.SourceRequestID)
		case mparticle.Permanent:
			out[i].StatusCode, out[i].Err = 400, fmt.Errorf("refused %s", b.SourceRequestID)
		default:
			out[i].StatusCode, out[i].Err = 503, fmt.Errorf("unavailable for %s", b.SourceRequestID)
		}
	}
	return out
}

// Each feed builds its chunks in storage the previous chunk's batches used (and the next
// feed, or invocation, in the storage of a feed that ended): nothing the forwarder keeps
// past a chunk may change when the next is built. Two invocations of more than two chunks
// of every event type go to two feeds; the batches uploaded, resent after a credentials
// refusal included, must be ToBatch's byte for byte, and every id, outcome, dead letter and
// log line must still name its own event once everything was sent.
func TestChunksReuseStorageWithoutChangingWhatIsKept(t *testing.T) {
	const n = 2*sendChunk + 37
	ins := []integration.Integration{
		integ("ios", integration.ScopePlatform, iosPlatfID),
		integ("legacy", integration.ScopeAllPlatforms, ""),
	}
	hs := newHarness(ins...)
	// Only the ios feed refuses or fails deliveries, so that each message's fate is its own.
	answers := func(feed string, idx int) mparticle.Outcome {
		switch {
		case feed != "ios":
			return mparticle.Delivered
		case idx%7 == 3:
			return mparticle.Permanent
		case idx%11 == 5:
			return mparticle.Retryable
		}
		return mparticle.Delivered
	}
	for round := range 2 {
		hs.logs.Reset()
		hs.dlq.letters = nil
		up := &chunkUploader{
			want: map[string]map[string][]byte{}, index: map[string]int{},
			calls: map[string]int{}, refused: map[string]bool{}, home: map[string]map[*mparticle.Event]int{},
			reused: map[string]int{}, bodies: map[string]map[string]int{}, answers: answers,
		}
		hs.h.deps.Uploader = up
		var in events.SQSEvent
		ids, types := make([]string, n), make([]event.Type, n)
		for i := range n {
			ids[i] = fmt.Sprintf("%08x-0000-4000-8000-%012x", round+1, i)
			types[i] = event.AllTypes[(i+round)%len(event.AllTypes)]
			body := eventtest.Body(t, types[i], func(m map[string]any) { m["id"] = ids[i] })
			in.Records = append(in.Records, events.SQSMessage{
				MessageId: fmt.Sprintf("m-%d-%03d", round, i), Body: body,
				Attributes: map[string]string{"ApproximateReceiveCount": "1"},
			})
			ev, err := event.DecodeString(body)
			if err != nil {
				t.Fatal(err)
			}
			up.index[ids[i]] = i
			for _, to := range integration.Route(ins, ev) {
				res, err := transform.ToBatch(ev, to)
				if err != nil {
					t.Fatal(err)
				}
				enc, err := mparticle.AppendBatch(nil, &res.Batch)
				if err != nil {
					t.Fatal(err)
				}
				if up.want[to.ID] == nil {
					up.want[to.ID] = map[string][]byte{}
				}
				up.want[to.ID][ids[i]] = enc
			}
		}

		resp, err := hs.h.Handle(context.Background(), in)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}

		for _, m := range up.bad {
			t.Errorf("round %d: %s", round, m)
		}
		for _, k := range up.kept {
			if k[0] != k[1] {
				t.Errorf("round %d: an id received as %s reads %s after the next chunks", round, k[1], k[0])
			}
		}
		for _, feed := range ins {
			// A chunk, and a resend of its refused batches.
			routed := len(up.want[feed.ID])
			if want := 2 * ((routed + sendChunk - 1) / sendChunk); routed <= sendChunk || up.calls[feed.ID] != want {
				t.Errorf("round %d, %s: %d uploads, want %d", round, feed.ID, up.calls[feed.ID], want)
			}
			if up.reused[feed.ID] == 0 {
				t.Errorf("round %d, %s: no chunk was built in an earlier one's storage: the test proves nothing", round, feed.ID)
			}
			for i, id := range ids {
				want := 1 + btoi(i%5 == 0)
				if up.want[feed.ID][id] == nil {
					want = 0
				}
				if up.bodies[feed.ID][id] != want {
					t.Errorf("round %d, %s: event %d uploaded %d times, want %d", round, feed.ID, i, up.bodies[feed.ID][id], want)
				}
			}
		}

		// Outcomes: retried messages, and dead letters naming their event.
		var wantFailed, wantLetters []string
		for i := range n {
			if up.want["ios"][ids[i]] == nil {
				continue
			}
			switch answers("ios", i) {
			case mparticle.Retryable:
				wantFailed = append(wantFailed, in.Records[i].MessageId)
			case mparticle.Permanent:
				wantLetters = append(wantLetters, in.Records[i].MessageId)
			}
		}
		if got := failedIDs(resp); !slices.Equal(sortedCopy(got), wantFailed) {
			t.Errorf("round %d: retried %v, want %v", round, got, wantFailed)
		}
		var gotLetters []string
		for _, dl := range hs.dlq.letters {
			gotLetters = append(gotLetters, dl.MessageID)
			i := indexOf(in.Records, dl.MessageID)
			if i < 0 {
				t.Errorf("round %d: dead letter of unknown message %q", round, dl.MessageID)
				continue
			}
			srid := transform.SourceRequestID(ids[i], "ios")
			if dl.EventID != ids[i] || dl.EventType != string(types[i]) || dl.Body != in.Records[i].Body ||
				!slices.Equal(dl.IntegrationIDs, []string{"ios"}) || dl.Reason != "ios: refused "+srid {
				t.Errorf("round %d: dead letter of %s: event %s %s, integrations %v, reason %q; want event %s %s, reason naming %s",
					round, dl.MessageID, dl.EventID, dl.EventType, dl.IntegrationIDs, dl.Reason, ids[i], types[i], srid)
			}
		}
		if !slices.Equal(sortedCopy(gotLetters), wantLetters) {
			t.Errorf("round %d: dead letters %v, want %v", round, gotLetters, wantLetters)
		}

		// One log line per delivery, naming its own event, with its outcome.
		lines := map[string]int{}
		for _, raw := range bytes.Split(bytes.TrimSpace(hs.logs.Bytes()), []byte("\n")) {
			var l struct {
				Msg           string `json:"msg"`
				MessageID     string `json:"message_id"`
				EventID       string `json:"event_id"`
				EventType     string `json:"event_type"`
				IntegrationID string `json:"integration_id"`
				Outcome       string `json:"outcome"`
				Reason        string `json:"reason"`
			}
			if err := json.Unmarshal(raw, &l); err != nil {
				t.Fatalf("round %d: log line %s: %v", round, raw, err)
			}
			if l.Msg != "delivery" {
				continue
			}
			i := indexOf(in.Records, l.MessageID)
			if i < 0 {
				t.Errorf("round %d: delivery line of unknown message: %s", round, raw)
				continue
			}
			lines[l.MessageID+" "+l.IntegrationID]++
			want := Delivered
			switch answers(l.IntegrationID, i) {
			case mparticle.Permanent:
				want = Rejected
			case mparticle.Retryable:
				want = Retry
			}
			srid := transform.SourceRequestID(ids[i], l.IntegrationID)
			if l.EventID != ids[i] || l.EventType != string(types[i]) || Outcome(l.Outcome) != want ||
				(want != Delivered && !strings.HasSuffix(l.Reason, " "+srid)) {
				t.Errorf("round %d: %s; want event %s %s, outcome %s, a reason naming %s", round, raw, ids[i], types[i], want, srid)
			}
		}
		for i, r := range in.Records {
			for _, feed := range ins {
				want := 1
				if up.want[feed.ID][ids[i]] == nil {
					want = 0
				}
				if c := lines[r.MessageId+" "+feed.ID]; c != want {
					t.Errorf("round %d: %d delivery lines for %s to %s, want %d", round, c, r.MessageId, feed.ID, want)
				}
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func indexOf(msgs []events.SQSMessage, id string) int {
	return slices.IndexFunc(msgs, func(m events.SQSMessage) bool { return m.MessageId == id })
}
