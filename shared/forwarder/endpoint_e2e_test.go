package forwarder_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/app/forwarderapp"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/forwarder"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/testkit/devstack"
	"github.com/namiml/mparticle-bridge/shared/testkit/mpserver"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

// endpointRig is the Lambda's wiring (NewFromEnv) against moto and one contract server
// that plays both mParticle's partner endpoint (its /s2s layout) and pod EU1's host (its
// /v2 layout), so which one a batch reached shows in its recorded path.
type endpointRig struct {
	t      *testing.T
	ctx    context.Context
	out    devstack.Outputs
	mp     *mpserver.Server
	srvURL string
	store  *integrationstore.Store
	sm     *secretsmanager.Client
	q      *sqs.Client
	h      *forwarder.Handler
	logs   *bytes.Buffer
}

func newEndpointRig(t *testing.T) *endpointRig {
	t.Helper()
	cfg := testenv.Config(t)
	ctx := context.Background()
	out, err := devstack.Provision(ctx, cfg, fmt.Sprintf("fwd-endpoints-%d", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	mp := mpserver.New(mpserver.Options{Pod: "EU1"})
	srv := httptest.NewServer(mp)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { mp.Close() })
	r := &endpointRig{
		t: t, ctx: ctx, out: out, mp: mp, srvURL: srv.URL, logs: &bytes.Buffer{},
		store: integrationstore.New(dynamodb.NewFromConfig(cfg), out.Names.IntegrationsTable),
		sm:    secretsmanager.NewFromConfig(cfg), q: sqs.NewFromConfig(cfg),
	}
	env := map[string]string{
		"INTEGRATIONS_TABLE": out.Names.IntegrationsTable,
		"DLQ_URL":            out.DLQURL,
		"DELIVERIES_TABLE":   out.Names.IdempotencyTable,
		// A short backoff, so that a retried message's visibility is mParticle's wait.
		forwarderapp.EnvRetryBackoffUnit: "100ms",
		// No MPARTICLE_BASE_URL: the partner endpoint and the pods keep separate bases.
	}
	r.h, err = forwarderapp.New(ctx, cfg, func(k string) string { return env[k] }, slog.New(slog.NewJSONHandler(r.logs, nil)),
		forwarderapp.WithClientOptions(func(o *mparticle.Options) {
			o.PartnerBaseURL = srv.URL + mpserver.PartnerPrefix
			o.PodBaseURLs = map[string]string{"EU1": srv.URL}
		}))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// feed registers key/secret with the contract server and stores an integration of app
// that uses them, for every event type of platform appPlatformID.
func (r *endpointRig) feed(app, appPlatformID, pod, name, key, secret string) integration.Integration {
	r.t.Helper()
	r.mp.AddFeed(key, secret, name)
	return seedIntegration(r.t, r.store, r.sm, integration.Integration{AppID: app, Name: name, Enabled: true,
		Scope: integration.ScopePlatform, AppPlatformID: appPlatformID, Platform: "ios", Pod: pod,
		CustomerIDSource: integration.CustomerIDNamiUser, Events: event.AllTypes}, key, secret)
}

// body is the purchased sample event of app's platform, with its own id, at occurredAt.
func (r *endpointRig) body(app, appPlatformID string, n int, occurredAt time.Time) string {
	r.t.Helper()
	return eventtest.Body(r.t, event.SubscriptionPurchased, func(m map[string]any) {
		m["id"] = fmt.Sprintf("0b6f1c3e-7a2d-4c5b-9e8f-%012d", n)
		m["app_id"], m["app_platform_id"] = app, appPlatformID
		m["occurred_at"] = occurredAt.UTC().Format(time.RFC3339)
	})
}

func sqsMessages(bodies ...string) events.SQSEvent {
	var in events.SQSEvent
	for i, b := range bodies {
		in.Records = append(in.Records, events.SQSMessage{MessageId: fmt.Sprintf("m%d", i), Body: b,
			Attributes: map[string]string{"ApproximateReceiveCount": "1"}})
	}
	return in
}

func (r *endpointRig) handle(in events.SQSEvent) (events.SQSEventResponse, error) {
	ctx, cancel := context.WithTimeout(r.ctx, 20*time.Second)
	defer cancel()
	return r.h.Handle(ctx, in)
}

func paths(recs []mpserver.Record) []string {
	var out []string
	for _, rec := range recs {
		out = append(out, rec.Path)
	}
	return out
}

func failed(resp events.SQSEventResponse) []string {
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	slices.Sort(ids)
	return ids
}

// TestEndpointsThroughTheHandler runs the real handler, wired as the Lambda is, against
// moto and the contract server.
func TestEndpointsThroughTheHandler(t *testing.T) {
	r := newEndpointRig(t)
	now := time.Now()

	t.Run("partner endpoint by default, the pod's host when named", func(t *testing.T) {
		const app, platform = "app-endpoints", "platform-endpoints"
		// A US2 key: the partner endpoint takes any pod's key and routes it by the key.
		r.feed(app, platform, "", "partner feed", "us2-partner-key-0001", "partner-secret-0001")
		r.feed(app, platform, "EU1", "eu1 feed", "eu1-pod-key-0002", "pod-secret-0002")

		resp, err := r.handle(sqsMessages(r.body(app, platform, 1, now.Add(-time.Hour))))

		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("err=%v failures=%v\n%s", err, resp.BatchItemFailures, r.logs)
		}
		if got := paths(r.mp.Records("us2-partner-key-0001")); !slices.Equal(got, []string{"/s2s/v2/bulkevents"}) {
			t.Errorf("partner feed received on %v, want the partner layout's /s2s/v2/bulkevents", got)
		}
		if got := paths(r.mp.Records("eu1-pod-key-0002")); !slices.Equal(got, []string{"/v2/bulkevents"}) {
			t.Errorf("EU1 feed received on %v, want pod EU1's /v2/bulkevents", got)
		}
	})

	t.Run("old events on the historical path", func(t *testing.T) {
		const app, platform = "app-historical", "platform-historical"
		r.feed(app, platform, "", "history feed", "history-key-0003", "history-secret-0003")

		resp, err := r.handle(sqsMessages(
			r.body(app, platform, 2, now.AddDate(0, 0, -40)),
			r.body(app, platform, 3, now.Add(-time.Hour)),
		))

		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("err=%v failures=%v\n%s", err, resp.BatchItemFailures, r.logs)
		}
		recs := r.mp.Records("history-key-0003")
		byPath := map[string]string{}
		for _, rec := range recs {
			byPath[rec.Path] = rec.Batch().Events[0].Data.CustomAttributes.Map()["namiml_event_id"]
		}
		if len(recs) != 2 || !strings.HasSuffix(byPath["/s2s/v2/bulkevents/historical"], "000000000002") ||
			!strings.HasSuffix(byPath["/s2s/v2/bulkevents"], "000000000003") {
			t.Errorf("event ids by path = %v, want the 40-day-old one on the historical path", byPath)
		}
		if st := r.mp.Stats().Feeds["history feed"]; st.Requests != 2 || st.OldOnLivePath != 0 {
			t.Errorf("requests %d, old batches on the live path %d; want 2 and 0", st.Requests, st.OldOnLivePath)
		}
	})

	t.Run("a redirect is retried, not dead-lettered, and marks the integration unhealthy", func(t *testing.T) {
		const app, platform = "app-redirect", "platform-redirect"
		in := r.feed(app, platform, "", "redirect feed", "redirect-key-0004", "redirect-secret-0004")
		r.mp.Script("redirect-key-0004", mpserver.Redirect(http.StatusPermanentRedirect))

		resp, err := r.handle(sqsMessages(r.body(app, platform, 4, now.Add(-time.Hour))))

		if !errors.Is(err, forwarder.ErrAllRetryable) || !slices.Equal(failed(resp), []string{"m0"}) {
			t.Fatalf("err=%v failures=%v, want the message handed back for retry", err, resp.BatchItemFailures)
		}
		if st := r.mp.Stats(); st.Feeds["redirect feed"].Requests != 1 || st.RedirectsFollowed != 0 {
			t.Errorf("requests %d, redirects followed %d; want 1 and 0", st.Feeds["redirect feed"].Requests, st.RedirectsFollowed)
		}
		got, err := r.store.Get(r.ctx, app, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Health != integration.HealthUnhealthy || !strings.Contains(got.HealthError, "redirect") {
			t.Errorf("health = %q (%q), want unhealthy for a redirect", got.Health, got.HealthError)
		}
		if !strings.Contains(r.logs.String(), `"outcome":"misdirected"`) {
			t.Errorf("the delivery was not logged as misdirected")
		}
		// Once the endpoint answers normally, the same message is delivered.
		resp, err = r.handle(sqsMessages(r.body(app, platform, 4, now.Add(-time.Hour))))
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("after the fix: err=%v failures=%v", err, resp.BatchItemFailures)
		}
	})

	t.Run("a long 429 holds back the feed's other requests", func(t *testing.T) {
		const app, platform = "app-throttled", "platform-throttled"
		r.feed(app, platform, "", "throttled feed", "throttled-key-0005", "throttled-secret-0005")
		// NewFromEnv sleeps on at most 2 s of Retry-After: 4 s goes back to the queue.
		r.mp.Script("throttled-key-0005", mpserver.Reply(http.StatusTooManyRequests, "Retry-After", "4", "X-mp-rate-limit-exceeded", "feed"))
		// A recent and an old event: two requests for one feed (live, then historical).
		in := r.receive(t, r.body(app, platform, 5, now.Add(-time.Hour)), r.body(app, platform, 6, now.AddDate(0, 0, -40)))

		start := time.Now()
		resp, err := r.handle(in)

		if !errors.Is(err, forwarder.ErrAllRetryable) || len(resp.BatchItemFailures) != 2 {
			t.Fatalf("err=%v failures=%v, want both messages handed back", err, resp.BatchItemFailures)
		}
		if st := r.mp.Stats().Feeds["throttled feed"]; st.Requests != 1 || st.Batches != 0 {
			t.Errorf("the server saw %d requests (%d batches accepted) for the feed, want 1 and none after the 429", st.Requests, st.Batches)
		}
		// Received with a 30 s visibility; the forwarder set it to the 4 s wait.
		time.Sleep(2500*time.Millisecond - time.Since(start))
		if n := r.visibleWithin(t, 0); n != 0 {
			t.Errorf("%d messages visible after %v, want none before the 4 s wait", n, time.Since(start).Round(time.Millisecond))
		}
		if n := r.visibleWithin(t, 8*time.Second); n != 2 {
			t.Errorf("%d messages visible again after %v, want 2 soon after the 4 s wait (not the 30 s they were received with)",
				n, time.Since(start).Round(time.Millisecond))
		} else if el := time.Since(start); el < 3500*time.Millisecond || el > 9*time.Second {
			t.Errorf("messages came back after %v, want about 4 s", el)
		}
	})

	// Nothing was dead-lettered: every failure above was a retry.
	dl, err := r.q.ReceiveMessage(r.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(r.out.DLQURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(dl.Messages) != 0 {
		t.Errorf("%d messages in the dead-letter queue, want none", len(dl.Messages))
	}
	for _, s := range []string{"partner-secret-0001", "pod-secret-0002", "redirect-secret-0004", "throttled-secret-0005"} {
		if strings.Contains(r.logs.String(), s) {
			t.Fatalf("logs leak a secret")
		}
	}
}

// receive sends bodies through the events queue and receives them as the event source
// mapping would, hidden for 30 s, so a visibility change by the handler can be observed.
func (r *endpointRig) receive(t *testing.T, bodies ...string) events.SQSEvent {
	t.Helper()
	for _, b := range bodies {
		if _, err := r.q.SendMessage(r.ctx, &sqs.SendMessageInput{QueueUrl: aws.String(r.out.QueueURL), MessageBody: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	var in events.SQSEvent
	for len(in.Records) < len(bodies) {
		out, err := r.q.ReceiveMessage(r.ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(r.out.QueueURL), MaxNumberOfMessages: 10, VisibilityTimeout: 30, WaitTimeSeconds: 2,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			t.Fatalf("received %d of %d messages", len(in.Records), len(bodies))
		}
		for _, m := range out.Messages {
			attrs := map[string]string{}
			for k, v := range m.Attributes {
				attrs[k] = v
			}
			in.Records = append(in.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
				Body: aws.ToString(m.Body), Attributes: attrs, EventSource: "aws:sqs", EventSourceARN: r.out.QueueARN})
		}
	}
	return in
}

// visibleWithin counts the events queue's distinct messages seen visible within wait (a
// single look for 0). A message seen is hidden again by that receive, so call it last.
func (r *endpointRig) visibleWithin(t *testing.T, wait time.Duration) int {
	t.Helper()
	seen := map[string]bool{}
	deadline := time.Now().Add(wait)
	for {
		in := &sqs.ReceiveMessageInput{QueueUrl: aws.String(r.out.QueueURL), MaxNumberOfMessages: 10}
		if wait > 0 {
			in.WaitTimeSeconds = 1
		}
		out, err := r.q.ReceiveMessage(r.ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			seen[aws.ToString(m.MessageId)] = true
		}
		if wait == 0 || len(seen) >= 2 || time.Now().After(deadline) {
			return len(seen)
		}
	}
}
