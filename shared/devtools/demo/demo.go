// Package demo shows a newcomer what the product does (`make dev-demo`): against a running
// `make dev`, it creates an integration per app platform of the sample events through the
// Integrations API, enqueues one event of each of the 13 types plus one invalid message,
// waits for the Forwarder, and reports what reached mParticle and what was refused.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/namiml/mparticle-bridge/shared/devtools/devauth"

	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/devtools/devstate"
	"github.com/namiml/mparticle-bridge/shared/devtools/dlq"
	"github.com/namiml/mparticle-bridge/shared/devtools/sqsin"
	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/forwarder"
	"github.com/namiml/mparticle-bridge/shared/testkit/mpserver"
)

// InvalidType is the unknown event type of the demo's invalid message.
const InvalidType = "user.subscription.teleported"

// Config configures Run.
type Config struct {
	Stack      devstate.Stack
	SigningKey []byte
	SQS        SQSAPI
	Out        io.Writer
	// Timeout bounds the wait for the Forwarder (default 60 s).
	Timeout time.Duration
	HTTP    *http.Client
}

// SQSAPI is what the demo does on the queues.
type SQSAPI interface {
	sqsin.SQSAPI
	dlq.SQSAPI
}

// Delivery is one demo event as mParticle received it.
type Delivery struct {
	Type            event.Type
	EventID         string
	Feed            string
	EventType       string // custom_event, commerce_event
	EventName       string
	CustomEventType string
	ProductAction   string
	Environment     string
}

// Report is what the demo saw.
type Report struct {
	AppID        string
	Integrations []string
	Delivered    []Delivery // in event.AllTypes order
	Missing      []event.Type
	// Refused holds the dead letters of this run's messages.
	Refused []dlq.Letter
	// InvalidRefused tells whether the invalid message reached the dead-letter queue.
	InvalidRefused bool
	// Tests holds each integration's test event verdict (POST .../{id}/test), in
	// Integrations order: "delivered", another verdict, or the API's refusal.
	Tests []string
	// DeliveryStatus holds each integration's delivery_status after the events, as the API
	// shows it, in Integrations order.
	DeliveryStatus []string
}

// OK reports whether every type was delivered and the invalid message refused.
func (r Report) OK() bool { return len(r.Missing) == 0 && r.InvalidRefused }

// Run performs the demo.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	// A fresh app per run: a re-run neither doubles the integrations nor meets events the
	// Forwarder already delivered (it drops redelivered event ids) or cached lookups.
	rep := Report{AppID: uuid.NewString()}
	samples, err := loadSamples(rep.AppID)
	if err != nil {
		return rep, err
	}
	token, err := devauth.IssueDevToken(cfg.SigningKey, []string{rep.AppID}, time.Hour)
	if err != nil {
		return rep, err
	}

	var integrationIDs []string
	for _, p := range platforms(samples) {
		name := "Demo " + displayPlatform(p.platform)
		id, err := createIntegration(ctx, cfg, token, rep.AppID, name, p)
		if err != nil {
			return rep, err
		}
		rep.Integrations = append(rep.Integrations, name)
		integrationIDs = append(integrationIDs, id)
	}
	fmt.Fprintf(out, "Demo app %s: created %s through the Integrations API at %s\n",
		rep.AppID, quoteList(rep.Integrations), cfg.Stack.APIURL)
	for i, id := range integrationIDs {
		rep.Tests = append(rep.Tests, testIntegration(ctx, cfg, token, rep.AppID, id))
		fmt.Fprintf(out, "Test event to %q: %s\n", rep.Integrations[i], rep.Tests[i])
	}

	msgs := make([]sqsin.Message, 0, len(samples)+1)
	for _, s := range samples {
		msgs = append(msgs, sqsin.Message{Body: s.body, GroupID: rep.AppID, Source: string(s.typ)})
	}
	invalid := invalidBody(samples[0].raw, rep.AppID)
	msgs = append(msgs, sqsin.Message{Body: invalid, GroupID: rep.AppID, Source: "invalid"})
	ids, err := sqsin.Send(ctx, cfg.SQS, cfg.Stack.QueueURL, msgs)
	if err != nil {
		return rep, err
	}
	invalidID := ids[len(ids)-1]
	fmt.Fprintf(out, "Sent %d messages: one of each of the %d event types and one invalid message (type %q).\nWaiting for the Forwarder…\n",
		len(msgs), len(samples), InvalidType)

	want := map[string]event.Type{}
	for _, s := range samples {
		want[s.id] = s.typ
	}
	ourIDs := map[string]bool{}
	for _, id := range ids {
		ourIDs[id] = true
	}
	deadline := time.Now().Add(cfg.Timeout)
	for {
		if err := collect(ctx, cfg, &rep, want, ourIDs, invalidID); err != nil {
			return rep, err
		}
		if rep.OK() || time.Now().After(deadline) || !cfg.Stack.MParticleLocal && rep.InvalidRefused {
			break
		}
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	rep.DeliveryStatus = deliveryStatuses(ctx, cfg, token, rep.AppID, integrationIDs)
	Print(out, rep, cfg.Stack)
	return rep, nil
}

type sample struct {
	typ  event.Type
	id   string
	body string
	raw  map[string]any
}

// loadSamples returns the sample event of each type (package eventtest) with a fresh event
// id, the demo app and the current time.
func loadSamples(appID string) ([]sample, error) {
	var out []sample
	now := time.Now().UTC().Add(-time.Second)
	for i, typ := range event.AllTypes {
		var raw map[string]any
		if err := json.Unmarshal(eventtest.Sample(typ), &raw); err != nil {
			return nil, fmt.Errorf("sample of %s: %w", typ, err)
		}
		id := uuid.NewString()
		raw["id"], raw["app_id"] = id, appID
		raw["occurred_at"] = now.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)
		body, err := json.Marshal(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, sample{typ: typ, id: id, body: string(body), raw: raw})
	}
	return out, nil
}

func invalidBody(raw map[string]any, appID string) string {
	bad := make(map[string]any, len(raw))
	for k, v := range raw {
		bad[k] = v
	}
	bad["id"], bad["app_id"], bad["type"] = uuid.NewString(), appID, InvalidType
	b, _ := json.Marshal(bad)
	return string(b)
}

type appPlatform struct{ platform, appPlatformID string }

// platforms lists the (platform, app platform) pairs of the samples, in first-seen order.
func platforms(samples []sample) []appPlatform {
	var out []appPlatform
	for _, s := range samples {
		p := appPlatform{fmt.Sprint(s.raw["platform"]), fmt.Sprint(s.raw["app_platform_id"])}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func displayPlatform(p string) string {
	switch p {
	case "ios":
		return "iOS"
	case "android":
		return "Android"
	}
	return strings.ToUpper(p[:1]) + p[1:]
}

func createIntegration(ctx context.Context, cfg Config, token, appID, name string, p appPlatform) (string, error) {
	events := make([]string, len(event.AllTypes))
	for i, t := range event.AllTypes {
		events[i] = string(t)
	}
	body, _ := json.Marshal(map[string]any{
		"name": name, "enabled": true, "scope": "platform", "app_platform_id": p.appPlatformID,
		"platform": p.platform, "customer_id_source": "external_id", "events": events,
		// Any key and secret: the local contract server accepts the integrations' own.
		"credentials": map[string]string{"key": "demo-" + p.platform + "-" + uuid.NewString()[:8], "secret": uuid.NewString()},
	})
	u := cfg.Stack.APIURL + "/v1/apps/" + url.PathEscape(appID) + "/integrations/mparticle"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := cfg.HTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("create integration %q: %w (is `make dev` running?)", name, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("create integration %q: HTTP %d: %s", name, resp.StatusCode, bytes.TrimSpace(msg))
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(msg, &created); err != nil || created.ID == "" {
		return "", fmt.Errorf("create integration %q: no id in the answer", name)
	}
	return created.ID, nil
}

// testIntegration sends the integration's test event and describes the verdict. A failed
// test is shown, not fatal: the demo goes on to the events.
func testIntegration(ctx context.Context, cfg Config, token, appID, id string) string {
	u := cfg.Stack.APIURL + "/v1/apps/" + url.PathEscape(appID) + "/integrations/mparticle/" + url.PathEscape(id) + "/test"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return "not sent: " + err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := cfg.HTTP.Do(req)
	if err != nil {
		return "not sent: " + err.Error()
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var v struct {
		Verdict   string `json:"verdict"`
		Status    int    `json:"status"`
		LatencyMS int64  `json:"latency_ms"`
		Reason    string `json:"reason"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(msg, &v) != nil {
		return fmt.Sprintf("refused: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	s := fmt.Sprintf("%s (HTTP %d, %d ms)", v.Verdict, v.Status, v.LatencyMS)
	if v.Reason != "" {
		s += ": " + v.Reason
	}
	return s
}

// collect refreshes the report from the contract server and the dead-letter queue.
func collect(ctx context.Context, cfg Config, rep *Report, want map[string]event.Type, ourIDs map[string]bool, invalidID string) error {
	if cfg.Stack.MParticleLocal {
		got, err := received(ctx, cfg, want)
		if err != nil {
			return err
		}
		rep.Delivered, rep.Missing = nil, nil
		for _, t := range event.AllTypes {
			if d, ok := got[t]; ok {
				rep.Delivered = append(rep.Delivered, d)
			} else {
				rep.Missing = append(rep.Missing, t)
			}
		}
	}
	letters, err := dlq.Peek(ctx, cfg.SQS, cfg.Stack.DLQURL, 100)
	if err != nil {
		return err
	}
	rep.Refused, rep.InvalidRefused = nil, false
	for _, l := range letters {
		orig := l.Attributes[forwarder.AttrOriginalMessageID]
		if !ourIDs[orig] && !ourIDs[l.MessageID] {
			continue
		}
		rep.Refused = append(rep.Refused, l)
		if orig == invalidID || l.MessageID == invalidID {
			rep.InvalidRefused = true
		}
	}
	return nil
}

// received reads the contract server's records and picks this run's events.
func received(ctx context.Context, cfg Config, want map[string]event.Type) (map[event.Type]Delivery, error) {
	var stats mpserver.Stats
	if err := getJSON(ctx, cfg.HTTP, cfg.Stack.MParticleBaseURL+mpserver.PathStats, &stats); err != nil {
		return nil, err
	}
	out := map[event.Type]Delivery{}
	for feed := range stats.Feeds {
		var rec struct {
			Batches []mpserver.Record `json:"batches"`
		}
		u := cfg.Stack.MParticleBaseURL + mpserver.PathReceived + "?feed=" + url.QueryEscape(feed)
		if err := getJSON(ctx, cfg.HTTP, u, &rec); err != nil {
			return nil, err
		}
		for _, r := range rec.Batches {
			for _, d := range deliveries(r.Raw, feed) {
				if t, ok := want[d.EventID]; ok {
					d.Type = t
					out[t] = d
				}
			}
		}
	}
	return out, nil
}

// deliveries reads the events of one raw batch.
func deliveries(raw json.RawMessage, feed string) []Delivery {
	var b struct {
		Environment string `json:"environment"`
		Events      []struct {
			EventType string `json:"event_type"`
			Data      struct {
				EventName       string         `json:"event_name"`
				CustomEventType string         `json:"custom_event_type"`
				ProductAction   map[string]any `json:"product_action"`
				Attrs           map[string]any `json:"custom_attributes"`
			} `json:"data"`
		} `json:"events"`
	}
	if json.Unmarshal(raw, &b) != nil {
		return nil
	}
	var out []Delivery
	for _, e := range b.Events {
		id, _ := e.Data.Attrs["namiml_event_id"].(string)
		action, _ := e.Data.ProductAction["action"].(string)
		out = append(out, Delivery{
			EventID: id, Feed: feed, EventType: e.EventType, EventName: e.Data.EventName,
			CustomEventType: e.Data.CustomEventType, ProductAction: action, Environment: b.Environment,
		})
	}
	return out
}

func getJSON(ctx context.Context, c *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Print writes the report for a person.
func Print(w io.Writer, rep Report, st devstate.Stack) {
	if st.MParticleLocal {
		fmt.Fprintf(w, "\nReached mParticle (%d of %d event types):\n", len(rep.Delivered), len(event.AllTypes))
		perFeed := map[string]int{}
		for _, d := range rep.Delivered {
			what := fmt.Sprintf("%s %q", d.EventType, d.EventName)
			if d.ProductAction != "" {
				what = fmt.Sprintf("%s, product action %q", d.EventType, d.ProductAction)
			} else if d.CustomEventType != "" {
				what += " (" + d.CustomEventType + ")"
			}
			fmt.Fprintf(w, "  ✓ %-42s → %-38s %s\n", d.Type, d.Feed, what)
			perFeed[d.Feed]++
		}
		for _, t := range rep.Missing {
			fmt.Fprintf(w, "  … %-42s not delivered (yet): see the `make dev` terminal\n", t)
		}
		feeds := make([]string, 0, len(perFeed))
		for _, f := range slices.Sorted(maps.Keys(perFeed)) {
			feeds = append(feeds, fmt.Sprintf("%d via %s", perFeed[f], f))
		}
		fmt.Fprintf(w, "\nRefused (dead-letter queue, %d):\n", len(rep.Refused))
		printRefused(w, rep.Refused)
		fmt.Fprintf(w, "\nSummary: %d of %d event types delivered (%s), %d refused.\n",
			len(rep.Delivered), len(event.AllTypes), strings.Join(feeds, ", "), len(rep.Refused))
	} else {
		fmt.Fprintf(w, "\nBatches went to %s (MPARTICLE_BASE_URL): look there for what arrived.\n", st.MParticleBaseURL)
		fmt.Fprintf(w, "\nRefused (dead-letter queue, %d):\n", len(rep.Refused))
		printRefused(w, rep.Refused)
	}
	if !rep.InvalidRefused {
		fmt.Fprintln(w, "The invalid message has not reached the dead-letter queue (yet).")
	}
	if len(rep.DeliveryStatus) > 0 {
		fmt.Fprintln(w, "\nDelivery status (the API's delivery_status):")
		for i, s := range rep.DeliveryStatus {
			fmt.Fprintf(w, "  %-16s %s\n", rep.Integrations[i], s)
		}
	}
}

func printRefused(w io.Writer, ls []dlq.Letter) {
	for _, l := range ls {
		fmt.Fprintf(w, "  ✗ message %s  %s: %s\n", l.Attributes[forwarder.AttrOriginalMessageID],
			l.Attributes[forwarder.AttrFailureKind], l.Attributes[forwarder.AttrFailureReason])
	}
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, " and ")
}

// ErrIncomplete is returned by callers when the report is not OK.
var ErrIncomplete = errors.New("demo incomplete: not every event type was delivered, or the invalid message was not refused")
