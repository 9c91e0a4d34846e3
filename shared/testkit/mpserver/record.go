package mpserver

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// Record is one accepted batch as received.
type Record struct {
	// Seq orders accepted batches across all feeds, from 1.
	Seq int `json:"seq"`
	// Path is where the batch arrived, layout included: "/s2s/v2/bulkevents" through the
	// partner layout, "/v2/bulkevents/historical" on the pod layout's historical path, ...
	Path string          `json:"path"`
	Raw  json.RawMessage `json:"batch"`
	// DuplicateRequest: a batch with this source_request_id was already accepted for the feed.
	DuplicateRequest bool `json:"duplicate_request,omitempty"`
	// DuplicateMessages counts events whose source_message_id the feed had already accepted.
	DuplicateMessages int `json:"duplicate_messages,omitempty"`
}

// Batch decodes the record into the client's wire model. Decoding is best effort: fields the
// typed model does not have, or holds with another type, are left zero.
func (r Record) Batch() mparticle.Batch {
	var b mparticle.Batch
	_ = json.Unmarshal(r.Raw, &b)
	return b
}

// FeedStats are one feed's counters.
type FeedStats struct {
	Name     string `json:"name"`
	Platform string `json:"platform,omitempty"`
	// Pod is the pod of the feed's account: only that pod's host (the /v2 layout of a
	// server playing it) takes its key; the partner layout takes every pod's.
	Pod string `json:"pod"`
	// Requests counts authenticated API requests, whatever their outcome.
	Requests int64         `json:"requests"`
	ByStatus map[int]int64 `json:"by_status"`
	Batches  int64         `json:"batches"` // accepted, duplicates included
	Events   int64         `json:"events"`  // in accepted batches
	// ByPath counts accepted batches by the path they arrived on (see Record.Path).
	ByPath map[string]int64 `json:"by_path"`
	// OldOnLivePath counts batches accepted on a live path (events, bulkevents) whose
	// events are all older than mparticle.HistoricalAge. mParticle accepts them but asks
	// for the historical path, as old data on the live ones disturbs audiences.
	OldOnLivePath int64 `json:"old_on_live_path"`
	// DuplicateBatches counts accepted batches whose source_request_id was seen before.
	DuplicateBatches int64 `json:"duplicate_batches"`
	// DuplicateEvents counts accepted events whose source_message_id was seen before.
	DuplicateEvents int64 `json:"duplicate_events"`
	// PlatformMismatches counts batches whose device_info.platform differs from WithPlatform.
	PlatformMismatches int64 `json:"platform_mismatches"`
	Timeouts           int64 `json:"timeouts"` // accepted then left unanswered
	Resets             int64 `json:"resets"`
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	// Requests counts requests to the Events API paths, including refused ones.
	Requests      int64         `json:"requests"`
	ByStatus      map[int]int64 `json:"by_status"`
	BytesReceived int64         `json:"bytes_received"`
	Timeouts      int64         `json:"timeouts"`
	Resets        int64         `json:"resets"`
	// Hanging is the number of requests currently left unanswered by a timeout fault.
	Hanging int64 `json:"hanging"`
	// RedirectsFollowed counts requests that arrived at an injected redirect's target:
	// each is a client that resent its credentials where a 3xx pointed.
	RedirectsFollowed int64 `json:"redirects_followed"`
	// Feeds is keyed by feed name (keys are credentials and are not reported).
	Feeds map[string]FeedStats `json:"feeds"`
}

type counters struct {
	requests, bytes, timeouts, resets, hanging, redirectsFollowed int64
	byStatus                                                      map[int]int64
}

func newCounters() counters { return counters{byStatus: map[int]int64{}} }

// recordedBatch is the part of a batch the recorder looks at.
type recordedBatch struct {
	SourceRequestID string `json:"source_request_id"`
	DeviceInfo      *struct {
		Platform string `json:"platform"`
	} `json:"device_info"`
	Events []struct {
		Data struct {
			SourceMessageID string `json:"source_message_id"`
			Timestamp       int64  `json:"timestamp_unixtime_ms"`
		} `json:"data"`
	} `json:"events"`
}

// old reports whether the batch is historical data by the client's own rule.
func (rb *recordedBatch) old(now time.Time) bool {
	b := mparticle.Batch{Events: make([]mparticle.Event, len(rb.Events))}
	for i, e := range rb.Events {
		b.Events[i].Data.TimestampUnixtimeMS = e.Data.Timestamp
	}
	return mparticle.IsHistorical(&b, now)
}

// record stores the batches accepted on path and returns the rate-limit percentage to report.
func (s *Server) record(f *feed, path string, batches []json.RawMessage) int {
	now := s.now()
	live := path != mparticle.PathHistorical && path != PartnerPrefix+mparticle.PathHistorical
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, raw := range batches {
		var rb recordedBatch
		_ = json.Unmarshal(raw, &rb) // already validated
		s.seq++
		rec := Record{Seq: s.seq, Path: path, Raw: slices.Clone(raw)}
		f.stats.ByPath[path]++
		if live && rb.old(now) {
			f.stats.OldOnLivePath++
		}
		if id := rb.SourceRequestID; id != "" {
			rec.DuplicateRequest = f.seenRequests[id]
			f.seenRequests[id] = true
		}
		for _, e := range rb.Events {
			if id := e.Data.SourceMessageID; id != "" {
				if f.seenMessages[id] {
					rec.DuplicateMessages++
				}
				f.seenMessages[id] = true
			}
		}
		f.records = append(f.records, rec)
		f.stats.Batches++
		f.stats.Events += int64(len(rb.Events))
		f.stats.DuplicateEvents += int64(rec.DuplicateMessages)
		if rec.DuplicateRequest {
			f.stats.DuplicateBatches++
		}
		if f.platform != "" && rb.DeviceInfo != nil && rb.DeviceInfo.Platform != "" && rb.DeviceInfo.Platform != f.platform {
			f.stats.PlatformMismatches++
		}
	}
	return f.bucket.percentUsed()
}

// Records returns the batches accepted for the feed with this key, in order; nil for an
// unknown key.
func (s *Server) Records(key string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.feeds[key]; ok {
		return append([]Record{}, f.records...)
	}
	return nil
}

// Received returns the accepted batches of the feed decoded into the client's model; nil
// for an unknown key.
func (s *Server) Received(key string) []mparticle.Batch {
	recs := s.Records(key)
	if recs == nil {
		return nil
	}
	out := make([]mparticle.Batch, len(recs))
	for i, r := range recs {
		out[i] = r.Batch()
	}
	return out
}

// ReceivedRaw returns the accepted batches of the feed as sent.
func (s *Server) ReceivedRaw(key string) []json.RawMessage {
	recs := s.Records(key)
	if recs == nil {
		return nil
	}
	out := make([]json.RawMessage, len(recs))
	for i, r := range recs {
		out[i] = r.Raw
	}
	return out
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Requests:      s.stats.requests,
		ByStatus:      maps.Clone(s.stats.byStatus),
		BytesReceived: s.stats.bytes,
		Timeouts:      s.stats.timeouts,
		Resets:        s.stats.resets,
		Hanging:       s.stats.hanging,
		Feeds:         map[string]FeedStats{},

		RedirectsFollowed: s.stats.redirectsFollowed,
	}
	for _, f := range s.feeds {
		fs := f.stats
		fs.ByStatus = maps.Clone(f.stats.ByStatus)
		fs.ByPath = maps.Clone(f.stats.ByPath)
		st.Feeds[f.name] = fs
	}
	return st
}

func (s *Server) serveStats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "use GET")
		return
	}
	writeJSON(w, s.Stats())
}

// serveReceived answers ?feed= with a feed's records; the feed may be named by key or name.
func (s *Server) serveReceived(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "use GET")
		return
	}
	q := r.URL.Query().Get("feed")
	s.mu.Lock()
	f, ok := s.feeds[q]
	if !ok {
		f, ok = s.names[q]
	}
	var out struct {
		Feed    string   `json:"feed"`
		Batches []Record `json:"batches"`
	}
	if ok {
		out.Feed = f.name
		out.Batches = slices.Clone(f.records)
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such feed")
		return
	}
	if out.Batches == nil {
		out.Batches = []Record{}
	}
	writeJSON(w, out)
}

func (s *Server) serveReset(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "use POST")
		return
	}
	s.Reset()
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "INTERNAL", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}
