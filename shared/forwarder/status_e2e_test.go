package forwarder_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go/middleware"

	"github.com/namiml/mparticle-bridge/shared/app/forwarderapp"
	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
	"github.com/namiml/mparticle-bridge/shared/stack"
	"github.com/namiml/mparticle-bridge/shared/testkit/devstack"
	"github.com/namiml/mparticle-bridge/shared/testkit/mpserver"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

// statusWrites counts, per integration id, the UpdateItem calls on delivery-status items
// (sk STATUS#<id>#<hour>) sent through an AWS config: what the SDK sends, whoever calls it.
type statusWrites struct {
	mu   sync.Mutex
	byID map[string]int
}

func (w *statusWrites) install(cfg *aws.Config) {
	w.byID = map[string]int{}
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("countStatusWrites",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if u, ok := in.Parameters.(*dynamodb.UpdateItemInput); ok {
					if sk, ok := u.Key[stack.TableRangeKey].(*ddbtypes.AttributeValueMemberS); ok && strings.HasPrefix(sk.Value, "STATUS#") {
						id := strings.TrimPrefix(sk.Value, "STATUS#")
						id = id[:strings.LastIndexByte(id, '#')]
						w.mu.Lock()
						w.byID[id]++
						w.mu.Unlock()
					}
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	})
}

func (w *statusWrites) counts() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int, len(w.byID))
	for k, v := range w.byID {
		out[k] = v
	}
	return out
}

// TestDeliveryStatusOfAMixedBatch runs the Forwarder as the Lambda is wired (NewForwarder)
// on moto and the mParticle contract server with a batch whose deliveries end every way the
// status counts: delivered, skipped by policy, retried (500s), dead-lettered (a 400). Each
// integration's status item then holds its counts, written with one UpdateItem per
// integration per invocation, and a second invocation adds to the same hour's item.
func TestDeliveryStatusOfAMixedBatch(t *testing.T) {
	cfg := testenv.Config(t)
	ctx := context.Background()
	out, err := devstack.Provision(ctx, cfg, fmt.Sprintf("fwd-status-%d", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	mp := mpserver.New(mpserver.Options{})
	srv := httptest.NewServer(mp)
	defer srv.Close()

	const appID = "5b1a3c6e-2f4d-4e8a-9c1b-7d2e8f3a4b5c"
	const platform = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
	store := integrationstore.New(dynamodb.NewFromConfig(cfg), out.Names.IntegrationsTable)
	sm := secretsmanager.NewFromConfig(cfg)
	put := func(name string, policy integration.MissingIDPolicy, types ...event.Type) integration.Integration {
		t.Helper()
		key, secret := name+"-key", name+"-secret"
		mp.AddFeed(key, secret, name, mpserver.WithPlatform("iOS"))
		return seedIntegration(t, store, sm, integration.Integration{AppID: appID, Name: name, Enabled: true,
			Scope: integration.ScopePlatform, AppPlatformID: platform, Platform: "ios",
			CustomerIDSource: integration.CustomerIDExternal, MissingCustomerID: policy, Events: types}, key, secret)
	}
	good := put("good", integration.MissingIDSkip, event.SubscriptionPurchased, event.SubscriptionRenewed)
	flaky := put("flaky", integration.MissingIDSend, event.SubscriptionCancelled)
	refusing := put("refusing", integration.MissingIDSend, event.SubscriptionExpired)
	for range 8 { // more than the client's attempts
		mp.Script("flaky-key", mpserver.Reply(http.StatusInternalServerError))
	}
	mp.Script("refusing-key", mpserver.Reply(http.StatusBadRequest))

	var writes statusWrites
	fcfg := cfg.Copy()
	writes.install(&fcfg)
	env := map[string]string{
		"INTEGRATIONS_TABLE": out.Names.IntegrationsTable,
		"DLQ_URL":            out.DLQURL,
		"DELIVERIES_TABLE":   out.Names.IdempotencyTable,
		"MPARTICLE_BASE_URL": srv.URL + mpserver.PartnerPrefix,
	}
	var logs bytes.Buffer
	h, err := forwarderapp.New(ctx, fcfg, func(k string) string { return env[k] }, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	msg := func(id string, typ event.Type, edit func(m map[string]any)) events.SQSMessage {
		b := eventtest.Body(t, typ, func(m map[string]any) {
			m["app_id"], m["app_platform_id"] = appID, platform
			m["id"] = "6a1e0000-0000-4000-9001-0000000000" + id
			if edit != nil {
				edit(m)
			}
		})
		return events.SQSMessage{MessageId: "m" + id, Body: b, Attributes: map[string]string{"ApproximateReceiveCount": "1"}}
	}
	noExternalID := func(m map[string]any) { delete(m["user"].(map[string]any), "external_id") }
	run := func(msgs ...events.SQSMessage) events.SQSEventResponse {
		t.Helper()
		lctx, cancel := context.WithTimeout(lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "req"}), 30*time.Second)
		defer cancel()
		resp, _ := h.Handle(lctx, events.SQSEvent{Records: msgs})
		return resp
	}

	before := time.Now().UTC()
	resp := run(
		msg("01", event.SubscriptionPurchased, nil),          // good: delivered
		msg("02", event.SubscriptionRenewed, nil),            // good: delivered
		msg("03", event.SubscriptionPurchased, noExternalID), // good: skipped (missing_customer_id skip)
		msg("04", event.SubscriptionCancelled, nil),          // flaky: 500s, retried
		msg("05", event.SubscriptionExpired, nil),            // refusing: 400, dead-lettered
	)
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m04" {
		t.Fatalf("item failures %v, want m04 only\nlogs:\n%s", resp.BatchItemFailures, logs.String())
	}
	wantWrites := map[string]int{good.ID: 1, flaky.ID: 1, refusing.ID: 1}
	if got := writes.counts(); fmt.Sprint(got) != fmt.Sprint(wantWrites) {
		t.Fatalf("status UpdateItem calls per integration = %v, want one each %v", got, wantWrites)
	}

	ids := []string{good.ID, flaky.ID, refusing.ID}
	got, err := store.DeliveryStatuses(ctx, appID, ids, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, st integration.DeliveryStatus, delivered, retried, dead, skipped int, failure string) {
		t.Helper()
		if st.Delivered != delivered || st.Retried != retried || st.DeadLettered != dead || st.Skipped != skipped {
			t.Errorf("%s: counts %+v, want delivered %d retried %d dead_lettered %d skipped %d", name, st, delivered, retried, dead, skipped)
		}
		if st.LastFailureCode != failure {
			t.Errorf("%s: last failure %q, want %q", name, st.LastFailureCode, failure)
		}
		if failure != "" && (st.LastFailureAt.Before(before) || st.LastFailureMessage == "") {
			t.Errorf("%s: last failure at %v with %q", name, st.LastFailureAt, st.LastFailureMessage)
		}
		if (delivered > 0) != !st.LastDeliveryAt.IsZero() {
			t.Errorf("%s: last delivery at %v", name, st.LastDeliveryAt)
		}
	}
	check("good", got[good.ID], 2, 0, 0, 1, "")
	check("flaky", got[flaky.ID], 0, 1, 0, 0, integration.FailureRetry)
	check("refusing", got[refusing.ID], 0, 0, 1, 0, integration.FailureRejected)

	// A second invocation: one more write for the one integration with outcomes, added to
	// the same hour's item.
	run(msg("06", event.SubscriptionRenewed, func(m map[string]any) { m["id"] = "6a1e0000-0000-4000-9001-000000000106" }))
	wantWrites[good.ID]++
	if got := writes.counts(); fmt.Sprint(got) != fmt.Sprint(wantWrites) {
		t.Fatalf("after a second invocation: status writes %v, want %v", got, wantWrites)
	}
	got, err = store.DeliveryStatuses(ctx, appID, ids, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	check("good after the second invocation", got[good.ID], 3, 0, 0, 1, "")
	if strings.Contains(logs.String(), "could not record delivery status") {
		t.Errorf("a status write failed:\n%s", logs.String())
	}
}
