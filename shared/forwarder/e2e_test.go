package forwarder_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/app/forwarderapp"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
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
	"github.com/namiml/mparticle-bridge/shared/testkit/devstack"
	"github.com/namiml/mparticle-bridge/shared/testkit/mpserver"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
	"github.com/namiml/mparticle-bridge/shared/transform/transformtest"
)

// TestForwarderOnLocalStack runs the handler as the Lambda would be wired (NewFromEnv)
// against moto (DynamoDB, Secrets Manager, SQS) and the local mParticle contract server.
func TestForwarderOnLocalStack(t *testing.T) {
	cfg := testenv.Config(t)
	ctx := context.Background()
	stackName := fmt.Sprintf("fwd-e2e-%d", time.Now().UnixNano())
	out, err := devstack.Provision(ctx, cfg, stackName)
	if err != nil {
		t.Fatal(err)
	}

	mp := mpserver.New(mpserver.Options{})
	const (
		iosKey, iosSecret = "ios-key-1234", "ios-secret-5678"
		legKey, legSecret = "legacy-key-4321", "legacy-secret-8765"
	)
	mp.AddFeed(iosKey, iosSecret, "ios-feed", mpserver.WithPlatform("iOS"))
	mp.AddFeed(legKey, legSecret, "legacy-feed")
	srv := httptest.NewServer(mp)
	defer srv.Close()

	const appID = "5b1a3c6e-2f4d-4e8a-9c1b-7d2e8f3a4b5c"
	const iosPlatform = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
	store := integrationstore.New(dynamodb.NewFromConfig(cfg), out.Names.IntegrationsTable)
	sm := secretsmanager.NewFromConfig(cfg)
	put := func(in integration.Integration, key, secret string) integration.Integration {
		t.Helper()
		in.AppID = appID
		return seedIntegration(t, store, sm, in, key, secret)
	}
	ios := put(integration.Integration{Name: "iOS", Enabled: true, Scope: integration.ScopePlatform, AppPlatformID: iosPlatform,
		Platform: "ios", Pod: "US1", CustomerIDSource: integration.CustomerIDExternal, Events: event.AllTypes}, iosKey, iosSecret)
	put(integration.Integration{Name: "legacy", Enabled: true, Scope: integration.ScopeAllPlatforms,
		Platform: "ios", Pod: "EU1", CustomerIDSource: integration.CustomerIDNamiUser,
		Events: []event.Type{event.SubscriptionPurchased}}, legKey, legSecret)
	put(integration.Integration{Name: "wrong secret", Enabled: true, Scope: integration.ScopePlatform, AppPlatformID: "another-platform",
		Platform: "android", Pod: "US1", CustomerIDSource: integration.CustomerIDExternal, Events: event.AllTypes}, "nope", "nope")

	env := map[string]string{
		"INTEGRATIONS_TABLE": out.Names.IntegrationsTable,
		"DLQ_URL":            out.DLQURL,
		"DELIVERIES_TABLE":   out.Names.IdempotencyTable,
		"MPARTICLE_BASE_URL": srv.URL + mpserver.PartnerPrefix,
	}
	var logs bytes.Buffer
	h, err := forwarderapp.New(ctx, cfg, func(k string) string { return env[k] }, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}

	var in events.SQSEvent
	for i, typ := range event.AllTypes {
		b := eventtest.Body(t, typ, func(m map[string]any) { m["app_id"], m["app_platform_id"] = appID, iosPlatform })
		in.Records = append(in.Records, events.SQSMessage{MessageId: fmt.Sprintf("m%02d", i), Body: b,
			Attributes: map[string]string{"ApproximateReceiveCount": "1"}})
	}
	in.Records = append(in.Records, events.SQSMessage{MessageId: "bad", Body: `{"id":"x"}`,
		Attributes: map[string]string{"ApproximateReceiveCount": "1"}})

	lctx, cancel := context.WithTimeout(lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "req-1"}), 20*time.Second)
	defer cancel()
	resp, err := h.Handle(lctx, in)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("err=%v failures=%v\nlogs:\n%s", err, resp.BatchItemFailures, logs.String())
	}

	st := mp.Stats()
	if got := st.Feeds["ios-feed"].Batches; got != int64(len(event.AllTypes)) {
		t.Errorf("ios feed got %d batches, want %d", got, len(event.AllTypes))
	}
	if got := st.Feeds["ios-feed"].Requests; got != 1 {
		t.Errorf("ios feed got %d requests, want 1 bulk request", got)
	}
	if got := st.Feeds["legacy-feed"].Batches; got != 1 {
		t.Errorf("legacy feed got %d batches, want 1 (only purchased selected)", got)
	}
	if st.Feeds["ios-feed"].PlatformMismatches != 0 {
		t.Errorf("platform mismatches on the iOS feed")
	}
	for _, b := range mp.Received(iosKey) {
		if b.UserIdentities != nil && b.UserIdentities.CustomerID != "" && b.UserIdentities.CustomerID != "acct_48213377" {
			t.Errorf("ios feed customer_id = %q, want the external id", b.UserIdentities.CustomerID)
		}
	}
	// The iOS samples reach the iOS feed exactly as their golden batches (the Android ones,
	// moved to the iOS platform above, are other events than their goldens').
	sent := map[string]event.Type{}
	for _, typ := range event.AllTypes {
		if transformtest.FeedFor(typ).AppPlatformID == iosPlatform {
			sent[transformtest.EventID(transformtest.Golden(typ))] = typ
		}
	}
	checked := 0
	for _, rec := range mp.Records(iosKey) {
		if typ, ok := sent[transformtest.EventID(rec.Raw)]; ok {
			transformtest.Check(t, typ, rec.Raw, transformtest.Delivery{IntegrationID: ios.ID})
			checked++
		}
	}
	if checked != len(sent) {
		t.Errorf("checked %d batches of the iOS feed against their golden batches, want %d", checked, len(sent))
	}
	for _, b := range mp.Received(legKey) {
		if b.UserIdentities == nil || b.UserIdentities.CustomerID != b.PartnerIdentities.Map()["namiml_user_id"] {
			t.Errorf("legacy feed should use the nami user id as customer_id")
		}
	}

	// The invalid message is in the DLQ with its reason.
	q := sqs.NewFromConfig(cfg)
	msgs, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(out.DLQURL), MaxNumberOfMessages: 10,
		MessageAttributeNames: []string{"All"}, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs.Messages) != 1 {
		t.Fatalf("dlq has %d messages, want 1", len(msgs.Messages))
	}
	dl := msgs.Messages[0]
	if aws.ToString(dl.Body) != `{"id":"x"}` {
		t.Errorf("dlq body = %s, want the original", aws.ToString(dl.Body))
	}
	if reason := attr(dl.MessageAttributes, forwarder.AttrFailureReason); !strings.Contains(reason, "invalid event") {
		t.Errorf("dlq reason = %q", reason)
	}
	if kind := attr(dl.MessageAttributes, forwarder.AttrFailureKind); kind != string(forwarder.FailureInvalidInput) {
		t.Errorf("dlq kind = %q", kind)
	}

	// SQS hands the whole batch out again although every message was acknowledged (at
	// least once; or the invocation died after its uploads). Under the default record policy
	// nothing was recorded for messages acknowledged in full, so the batches go again, each
	// with the source_request_id mParticle already accepted, which it deduplicates (the
	// stand-in flags every one as a duplicate request): nothing new reaches the outputs. The
	// invalid message is dead-lettered again (the same message, with its reason).
	for i := range in.Records {
		in.Records[i].Attributes = map[string]string{"ApproximateReceiveCount": "2"}
	}
	before := mp.Stats()
	resp, err = h.Handle(lctx, in)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery: err=%v failures=%v", err, resp.BatchItemFailures)
	}
	after := mp.Stats()
	for _, feed := range []string{"ios-feed", "legacy-feed"} {
		resent := after.Feeds[feed].Batches - before.Feeds[feed].Batches
		dups := after.Feeds[feed].DuplicateBatches - before.Feeds[feed].DuplicateBatches
		if resent != before.Feeds[feed].Batches || dups != resent {
			t.Errorf("%s: redelivery re-sent %d batches, %d of them duplicates by source_request_id; want all %d again, all duplicates",
				feed, resent, dups, before.Feeds[feed].Batches)
		}
	}

	for _, s := range []string{iosSecret, legSecret, iosKey, legKey, "acct_48213377"} {
		if strings.Contains(logs.String(), s) {
			t.Fatalf("logs leak %q", s)
		}
	}
}

func attr(m map[string]sqstypes.MessageAttributeValue, k string) string {
	v, ok := m[k]
	if !ok {
		return ""
	}
	return aws.ToString(v.StringValue)
}
