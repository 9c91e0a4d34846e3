package forwarder_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"reflect"
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

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/forwarder"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
	"github.com/namiml/mparticle-bridge/shared/metrics"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/testkit/devstack"
	"github.com/namiml/mparticle-bridge/shared/testkit/mpserver"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

// degradeRig is the real forwarder handler (NewFromEnv) against moto and the contract server,
// with one app served by an iOS feed and a legacy all-platforms feed, and one app served by
// none.
type degradeRig struct {
	t    *testing.T
	ctx  context.Context
	out  devstack.Outputs
	mp   *mpserver.Server
	h    *forwarder.Handler
	logs bytes.Buffer
	emf  bytes.Buffer
	seq  int
}

const (
	dgApp        = "5b1a3c6e-2f4d-4e8a-9c1b-7d2e8f3a4b5c"
	dgUnknownApp = "0d0d0d0d-1111-4222-8333-444444444444" // no integrations at all
	dgIOS        = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
	dgAndroid    = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"

	dgIOSKey, dgIOSSecret       = "dg-ios-key-1", "dg-ios-secret-1"
	dgLegacyKey, dgLegacySecret = "dg-legacy-key-1", "dg-legacy-secret-1"
)

func newDegradeRig(t *testing.T) *degradeRig {
	t.Helper()
	cfg := testenv.Config(t)
	r := &degradeRig{t: t, ctx: context.Background()}
	out, err := devstack.Provision(r.ctx, cfg, fmt.Sprintf("fwd-degrade-%d", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	r.out = out
	r.mp = mpserver.New(mpserver.Options{})
	r.mp.AddFeed(dgIOSKey, dgIOSSecret, "ios-feed", mpserver.WithPlatform("iOS"))
	r.mp.AddFeed(dgLegacyKey, dgLegacySecret, "legacy-feed")
	srv := httptest.NewServer(r.mp)
	t.Cleanup(srv.Close)

	store := integrationstore.New(dynamodb.NewFromConfig(cfg), out.Names.IntegrationsTable)
	sm := secretsmanager.NewFromConfig(cfg)
	put := func(in integration.Integration, key, secret string) {
		in.AppID = dgApp
		seedIntegration(t, store, sm, in, key, secret)
	}
	put(integration.Integration{Name: "iOS", Enabled: true, Scope: integration.ScopePlatform, AppPlatformID: dgIOS,
		Platform: "ios", CustomerIDSource: integration.CustomerIDExternal, Events: event.AllTypes}, dgIOSKey, dgIOSSecret)
	// A legacy integration stores one act-as platform, which says nothing about each event.
	put(integration.Integration{Name: "legacy", Enabled: true, Scope: integration.ScopeAllPlatforms,
		Platform: "ios", CustomerIDSource: integration.CustomerIDNamiUser, Events: event.AllTypes}, dgLegacyKey, dgLegacySecret)

	env := map[string]string{
		"INTEGRATIONS_TABLE": out.Names.IntegrationsTable,
		"DLQ_URL":            out.DLQURL,
		"DELIVERIES_TABLE":   out.Names.IdempotencyTable,
		"MPARTICLE_BASE_URL": srv.URL + mpserver.PartnerPrefix,
	}
	r.h, err = forwarderapp.New(r.ctx, cfg, func(k string) string { return env[k] }, slog.New(slog.NewJSONHandler(&r.logs, nil)),
		forwarderapp.WithMetrics(metrics.New(&r.emf, forwarderapp.MetricsNamespace)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// body is the sample event of typ with its own id, a recent occurred_at, routed to app and
// platform, then edited.
func (r *degradeRig) body(typ event.Type, app, appPlatformID string, edit func(m map[string]any)) (id, body string) {
	r.t.Helper()
	r.seq++
	id = fmt.Sprintf("de9a0000-0000-4000-8000-%012d", r.seq)
	return id, eventtest.Body(r.t, typ, func(m map[string]any) {
		m["id"], m["app_id"], m["app_platform_id"] = id, app, appPlatformID
		if appPlatformID == dgAndroid {
			m["platform"] = "android"
		}
		m["occurred_at"] = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		if edit != nil {
			edit(m)
		}
	})
}

// handle runs one invocation and returns its response and the Degraded counts it published
// by Field.
func (r *degradeRig) handle(bodies ...string) (events.SQSEventResponse, map[string]float64) {
	r.t.Helper()
	var in events.SQSEvent
	for i, b := range bodies {
		in.Records = append(in.Records, events.SQSMessage{MessageId: fmt.Sprintf("dg-%d-%d", r.seq, i), Body: b,
			Attributes: map[string]string{"ApproximateReceiveCount": "1"}})
	}
	r.emf.Reset()
	ctx, cancel := context.WithTimeout(r.ctx, 20*time.Second)
	defer cancel()
	resp, err := r.h.Handle(ctx, in)
	if err != nil {
		r.t.Fatalf("Handle: %v\nlogs:\n%s", err, r.logs.String())
	}
	byField := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(r.emf.String()), "\n") {
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			r.t.Fatalf("EMF line: %v: %s", err, line)
		}
		if f, ok := doc[metrics.DimField].(string); ok {
			byField[f] = doc[string(metrics.Degraded)].(float64)
		}
	}
	return resp, byField
}

// batch is the batch feed key received for event id, nil if none.
func (r *degradeRig) batch(key, id string) *mparticle.Batch {
	for _, b := range r.mp.Received(key) {
		if len(b.Events) == 1 && b.Events[0].Data.CustomAttributes.Map()["namiml_event_id"] == id {
			return &b
		}
	}
	return nil
}

// dlq drains the dead-letter queue and returns the letters' bodies.
func (r *degradeRig) dlq() []string {
	r.t.Helper()
	q := sqs.NewFromConfig(testenv.Config(r.t))
	var bodies []string
	for {
		out, err := q.ReceiveMessage(r.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(r.out.DLQURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			r.t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return bodies
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			if _, err := q.DeleteMessage(r.ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(r.out.DLQURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				r.t.Fatal(err)
			}
		}
	}
}

func dgObj(m map[string]any, k string) map[string]any { return m[k].(map[string]any) }

// TestDegradeDontDropOnLocalStack sends, through the real handler, the events a new user lost
// and every kind of malformed optional value: each is delivered, with the value omitted or
// normalised and its field counted in the Degraded metric; only what cannot be routed or
// attributed is dead-lettered, and only for an app that has an integration.
func TestDegradeDontDropOnLocalStack(t *testing.T) {
	r := newDegradeRig(t)

	t.Run("lifecycle events without a subscription are delivered", func(t *testing.T) {
		var ids, bodies []string
		types := []event.Type{event.SubscriptionRenewed, event.SubscriptionExpired, event.SubscriptionCancelled, event.SubscriptionPurchased}
		for _, typ := range types {
			id, b := r.body(typ, dgApp, dgIOS, func(m map[string]any) { delete(m, "subscription") })
			ids, bodies = append(ids, id), append(bodies, b)
		}
		resp, degraded := r.handle(bodies...)
		if len(resp.BatchItemFailures) != 0 || len(degraded) != 0 {
			t.Fatalf("failures %v, degraded %v", resp.BatchItemFailures, degraded)
		}
		for i, id := range ids {
			b := r.batch(dgIOSKey, id)
			if b == nil {
				t.Errorf("%s without subscription: not delivered", types[i])
				continue
			}
			attrs := b.Events[0].Data.CustomAttributes.Map()
			if _, ok := attrs["sku_ref_id"]; ok || attrs["namiml_event_category"] != "user" || b.Environment != "production" {
				t.Errorf("%s: attributes %v environment %s", types[i], attrs, b.Environment)
			}
			if r.batch(dgLegacyKey, id) == nil {
				t.Errorf("%s: not delivered to the legacy feed", types[i])
			}
		}
	})

	t.Run("a 6,000-character paywall name is delivered cut to 4,096", func(t *testing.T) {
		name := strings.Repeat("Onboarding ", 546)[:6000]
		id, b := r.body(event.DeviceImpression, dgApp, dgIOS, func(m map[string]any) { dgObj(m, "impression")["name"] = name })
		resp, degraded := r.handle(b)
		if len(resp.BatchItemFailures) != 0 {
			t.Fatalf("failures %v", resp.BatchItemFailures)
		}
		got := r.batch(dgIOSKey, id)
		if got == nil {
			t.Fatal("not delivered")
		}
		if n := got.Events[0].Data.CustomAttributes.Map()["name"]; n != name[:mparticle.MaxValueLen] {
			t.Errorf("name has %d characters, want the first 4,096", len(n))
		}
		if !reflect.DeepEqual(degraded, map[string]float64{"impression.name": 1}) {
			t.Errorf("Degraded = %v, want impression.name once (one event, two feeds)", degraded)
		}
		if strings.Contains(r.logs.String(), name[:200]) {
			t.Error("the value is in the logs")
		}
	})

	t.Run("an app without integrations: acknowledged, never dead-lettered", func(t *testing.T) {
		_, valid := r.body(event.SubscriptionRenewed, dgUnknownApp, dgIOS, func(m map[string]any) { delete(m, "subscription") })
		_, bad := r.body(event.SubscriptionRenewed, dgUnknownApp, dgIOS, func(m map[string]any) { m["type"] = "user.subscription.teleported" })
		_, served := r.body(event.SubscriptionRenewed, dgApp, dgIOS, func(m map[string]any) { delete(dgObj(m, "user"), "id") })
		before := r.mp.Stats().Requests
		resp, _ := r.handle(valid, bad, served)
		if len(resp.BatchItemFailures) != 0 {
			t.Fatalf("failures %v", resp.BatchItemFailures)
		}
		if got := r.mp.Stats().Requests - before; got != 0 {
			t.Errorf("%d requests to mParticle, want none", got)
		}
		letters := r.dlq()
		if len(letters) != 1 || letters[0] != served {
			t.Errorf("dead letters = %d, want only the served app's event without user.id", len(letters))
		}
		if !strings.Contains(r.logs.String(), `"outcome":"invalid_acknowledged"`) {
			t.Error("the acknowledged invalid event is not logged")
		}
	})

	// Every malformed optional value: delivered, the value omitted or normalised, the field
	// counted once in Degraded (or not at all for a new enum value that only becomes an
	// attribute).
	attr := func(b *mparticle.Batch, k string) any {
		if v, ok := b.Events[0].Data.CustomAttributes.Map()[k]; ok {
			return v
		}
		return nil
	}
	product := func(b *mparticle.Batch) mparticle.Product { return b.Events[0].Data.ProductAction.Products[0] }
	cases := []struct {
		name  string
		typ   event.Type
		edit  func(m map[string]any)
		got   func(b *mparticle.Batch) any
		want  any
		field string // "" when nothing is degraded
	}{
		{"bad price", event.DeviceTransaction, func(m map[string]any) { dgObj(m, "transaction")["price"] = "9,99" },
			func(b *mparticle.Batch) any {
				return fmt.Sprint(product(b).Price, b.Events[0].Data.ProductAction.TotalAmount)
			}, "<nil> <nil>", "transaction.price"},
		{"price as a JSON number", event.DeviceTransaction, func(m map[string]any) { dgObj(m, "transaction")["price"] = 4.5 },
			func(b *mparticle.Batch) any { return *product(b).Price }, 4.5, "transaction.price"},
		{"lower-case currency", event.DeviceTransaction, func(m map[string]any) { dgObj(m, "transaction")["currency"] = "usd" },
			func(b *mparticle.Batch) any { return b.Events[0].Data.CurrencyCode }, "USD", "transaction.currency"},
		{"odd currency", event.DeviceTransaction, func(m map[string]any) { dgObj(m, "transaction")["currency"] = "US$" },
			func(b *mparticle.Batch) any { return b.Events[0].Data.CurrencyCode }, "", "transaction.currency"},
		{"whitespace", event.DeviceImpression, func(m map[string]any) { dgObj(m, "impression")["name"] = "\t Onboarding Paywall  " },
			func(b *mparticle.Batch) any { return attr(b, "name") }, "Onboarding Paywall", "impression.name"},
		{"unknown purchase_env", event.DeviceTransaction, func(m map[string]any) { dgObj(m, "transaction")["purchase_env"] = "testflight" },
			func(b *mparticle.Batch) any { return fmt.Sprint(attr(b, "purchase_env"), " ", b.Environment) }, "testflight development", "transaction.purchase_env"},
		{"unknown app_env", event.DeviceImpression, func(m map[string]any) { m["app_env"] = "staging" },
			func(b *mparticle.Batch) any { return fmt.Sprint(attr(b, "app_env"), " ", b.Environment) }, "staging development", "app_env"},
		{"unknown source passes through", event.DeviceTransaction, func(m map[string]any) { dgObj(m, "transaction")["source"] = "cron" },
			func(b *mparticle.Batch) any { return attr(b, "source") }, "cron", ""},
		{"unknown initiator passes through", event.DeviceImpression, func(m map[string]any) { dgObj(m, "impression")["initiator"] = "robot" },
			func(b *mparticle.Batch) any { return attr(b, "initiator") }, "robot", ""},
		{"known enum in another case", event.DeviceTransaction, func(m map[string]any) { dgObj(m, "transaction")["subscription_interval"] = "Month" },
			func(b *mparticle.Batch) any { return attr(b, "subscription_interval") }, "month", "transaction.subscription_interval"},
		{"platform in upper case", event.DeviceImpression, func(m map[string]any) { m["platform"] = "iOS" },
			func(b *mparticle.Batch) any { return b.DeviceInfo.Platform }, "iOS", "platform"},
		{"wrong JSON type: subscription sku", event.SubscriptionRenewed, func(m map[string]any) { dgObj(m, "subscription")["sku_ref_id"] = 42 },
			func(b *mparticle.Batch) any { return attr(b, "sku_ref_id") }, nil, "subscription.sku_ref_id"},
		{"wrong JSON type: flag as a string", event.SubscriptionRenewed, func(m map[string]any) { dgObj(m, "user")["in_trial_period"] = "true" },
			func(b *mparticle.Batch) any { return b.UserAttributes.Map()["namiml_in_trial_period"] }, "true", "user.in_trial_period"},
		{"wrong JSON type: list an object", event.SubscriptionRenewed, func(m map[string]any) { dgObj(m, "user")["device_ids"] = map[string]any{"a": 1} },
			func(b *mparticle.Batch) any { return b.UserAttributes.Map()["namiml_device_ids"] }, nil, "user.device_ids"},
		{"wrong JSON type: list entries", event.SubscriptionRenewed, func(m map[string]any) { dgObj(m, "user")["active_entitlements"] = []any{" premium", 3, nil} },
			func(b *mparticle.Batch) any { return b.UserAttributes.Map()["namiml_active_entitlements"] }, []string{"premium"}, "user.active_entitlements"},
		{"wrong JSON type: subscription object", event.SubscriptionRenewed, func(m map[string]any) { m["subscription"] = "premium" },
			func(b *mparticle.Batch) any { return attr(b, "entitlement_ref_id") }, nil, "subscription"},
		{"wrong JSON type: device", event.SubscriptionPurchased, func(m map[string]any) { m["device"] = []any{} },
			func(b *mparticle.Batch) any { return b.DeviceInfo.DeviceModel }, "", "device"},
		{"over-long string", event.DeviceImpression, func(m map[string]any) { dgObj(m, "impression")["controller_name"] = strings.Repeat("c", 5000) },
			func(b *mparticle.Batch) any { return len(attr(b, "controller_name").(string)) }, mparticle.MaxValueLen, "impression.controller_name"},
		{"over-long list", event.SubscriptionRenewed, func(m map[string]any) {
			skus := make([]any, 1500)
			for i := range skus {
				skus[i] = fmt.Sprint("sku_", i)
			}
			dgObj(m, "user")["active_skus"] = skus
		}, func(b *mparticle.Batch) any { return len(b.UserAttributes.Map()["namiml_active_skus"].([]string)) }, mparticle.MaxUserAttrListLen, "user.active_skus"},
		{"over-long list entry", event.SubscriptionRenewed, func(m map[string]any) { dgObj(m, "user")["active_skus"] = []any{strings.Repeat("s", 600)} },
			func(b *mparticle.Batch) any { return len(b.UserAttributes.Map()["namiml_active_skus"].([]string)[0]) }, mparticle.MaxUserAttrListValue, "user.active_skus"},
		{"bad device id", event.DeviceImpression, func(m map[string]any) { dgObj(m, "device")["idfa"] = "not-a-uuid" },
			func(b *mparticle.Batch) any { return b.DeviceInfo.IOSAdvertisingID }, "", "device.idfa"},
		{"bad device id type", event.DeviceImpression, func(m map[string]any) { dgObj(m, "device")["idfv"] = 12 },
			func(b *mparticle.Batch) any { return b.DeviceInfo.IOSIDFV }, "", "device.idfv"},
		{"bad ip", event.DeviceImpression, func(m map[string]any) { dgObj(m, "device")["ip"] = "localhost" },
			func(b *mparticle.Batch) any { return b.IP }, "", "device.ip"},
		{"bad expires_at", event.SubscriptionRenewed, func(m map[string]any) { dgObj(m, "subscription")["expires_at"] = "next month" },
			func(b *mparticle.Batch) any { return attr(b, "sku_ref_id") }, "premium_monthly", "subscription.expires_at"},
		{"non-numeric quantity", event.DeviceTransaction, func(m map[string]any) { dgObj(m, "transaction")["quantity"] = "two" },
			func(b *mparticle.Batch) any { return *product(b).Quantity }, 1.0, "transaction.quantity"},
		{"numeric string quantity", event.DeviceTransaction, func(m map[string]any) { dgObj(m, "transaction")["quantity"] = "3" },
			func(b *mparticle.Batch) any { return *b.Events[0].Data.ProductAction.TotalAmount }, 29.97, "transaction.quantity"},
		{"external id too long", event.SubscriptionRenewed, func(m map[string]any) { dgObj(m, "user")["external_id"] = strings.Repeat("e", 300) },
			func(b *mparticle.Batch) any { return b.UserIdentities }, (*mparticle.UserIdentities)(nil), "user.external_id"},
		{"user without id on a device event", event.DeviceImpression, func(m map[string]any) { delete(dgObj(m, "user"), "id") },
			func(b *mparticle.Batch) any { return b.UserIdentities.CustomerID }, "acct_48213377", "user.id"},
		{"event id not a UUID", event.DeviceImpression, func(m map[string]any) { m["id"] = fmt.Sprint("evt-", time.Now().UnixNano()) },
			func(b *mparticle.Batch) any { return b.Events[0].Data.EventName }, "impression", ""},
	}
	for _, c := range cases {
		t.Run("degraded: "+c.name, func(t *testing.T) {
			_, b := r.body(c.typ, dgApp, dgIOS, c.edit)
			var m map[string]any
			_ = json.Unmarshal([]byte(b), &m)
			id := m["id"].(string) // the edit may have changed it
			resp, degraded := r.handle(b)
			if len(resp.BatchItemFailures) != 0 {
				t.Fatalf("failures %v", resp.BatchItemFailures)
			}
			sent := r.batch(dgIOSKey, id) // decoded from the JSON as sent
			if sent == nil {
				t.Fatal("not delivered to the iOS feed")
			}
			if v := c.got(sent); !reflect.DeepEqual(v, c.want) {
				t.Errorf("value = %#v, want %#v", v, c.want)
			}
			want := map[string]float64{}
			if c.field != "" {
				want[c.field] = 1
			}
			if !reflect.DeepEqual(degraded, want) {
				t.Errorf("Degraded by Field = %v, want %v", degraded, want)
			}
			if r.batch(dgLegacyKey, id) == nil {
				t.Error("not delivered to the legacy feed")
			}
		})
	}

	t.Run("absent user state is omitted, empty is sent empty", func(t *testing.T) {
		absentID, absent := r.body(event.SubscriptionRenewed, dgApp, dgIOS, func(m map[string]any) {
			u := dgObj(m, "user")
			for _, k := range []string{"active_entitlements", "active_skus", "device_ids", "device_platforms", "former_subscriber", "in_grace_period"} {
				delete(u, k)
			}
			u["in_trial_period"] = nil // null is absent
		})
		emptyID, empty := r.body(event.SubscriptionExpired, dgApp, dgIOS, func(m map[string]any) {
			u := dgObj(m, "user")
			for _, k := range []string{"active_entitlements", "active_skus", "device_ids", "device_platforms"} {
				u[k] = []any{}
			}
		})
		resp, degraded := r.handle(absent, empty)
		if len(resp.BatchItemFailures) != 0 || len(degraded) != 0 {
			t.Fatalf("failures %v degraded %v", resp.BatchItemFailures, degraded)
		}
		for _, rb := range r.mp.ReceivedRaw(dgIOSKey) {
			var b struct {
				UserAttributes map[string]any `json:"user_attributes"`
				Events         []struct {
					Data struct {
						CustomAttributes map[string]string `json:"custom_attributes"`
					} `json:"data"`
				} `json:"events"`
			}
			if err := json.Unmarshal(rb, &b); err != nil {
				t.Fatal(err)
			}
			switch b.Events[0].Data.CustomAttributes["namiml_event_id"] {
			case absentID:
				want := map[string]any{"namiml_in_intro_offer_period": "false"}
				if !reflect.DeepEqual(b.UserAttributes, want) {
					t.Errorf("absent state: user_attributes %v, want only what was sent %v", b.UserAttributes, want)
				}
			case emptyID:
				for _, k := range []string{"namiml_active_entitlements", "namiml_active_skus", "namiml_device_ids", "namiml_device_platforms"} {
					if l, ok := b.UserAttributes[k].([]any); !ok || len(l) != 0 {
						t.Errorf("empty %s sent as %#v, want []", k, b.UserAttributes[k])
					}
				}
			}
		}
	})

	t.Run("a transaction without purchase_env is development", func(t *testing.T) {
		id, b := r.body(event.DeviceTransaction, dgApp, dgIOS, func(m map[string]any) { delete(dgObj(m, "transaction"), "purchase_env") })
		if resp, _ := r.handle(b); len(resp.BatchItemFailures) != 0 {
			t.Fatalf("failures %v", resp.BatchItemFailures)
		}
		for key, name := range map[string]string{dgIOSKey: "ios", dgLegacyKey: "legacy"} {
			if got := r.batch(key, id); got == nil || got.Environment != "development" {
				t.Errorf("%s feed: %+v, want environment development", name, got)
			}
		}
	})

	t.Run("legacy all-platforms: each batch stamped with its event's platform and ids", func(t *testing.T) {
		ids := func(m map[string]any) {
			d := dgObj(m, "device")
			d["idfv"], d["idfa"] = "E621E1F8-C36C-495A-93FC-0C247A3E6E5F", "8D8AC610-566D-4EF0-9C22-186B2A5ED793"
			d["gaid"], d["android_id"] = "38400000-8cf0-11bd-b23e-10b96e40000d", "9774d56d682e549c"
		}
		iosID, iosBody := r.body(event.DeviceImpression, dgApp, dgIOS, ids)
		andID, andBody := r.body(event.DeviceImpression, dgApp, dgAndroid, ids)
		amzID, amzBody := r.body(event.DeviceTransaction, dgApp, dgAndroid, func(m map[string]any) { ids(m); m["platform"] = "amazon" })
		webID, webBody := r.body(event.DeviceImpression, dgApp, dgAndroid, func(m map[string]any) { ids(m); m["platform"] = "web" })
		if resp, _ := r.handle(iosBody, andBody, amzBody, webBody); len(resp.BatchItemFailures) != 0 {
			t.Fatalf("failures %v", resp.BatchItemFailures)
		}
		android := mparticle.DeviceInfo{Platform: "Android", AndroidAdvertisingID: "38400000-8cf0-11bd-b23e-10b96e40000d",
			AndroidUUID: "9774d56d682e549c", OSVersion: "17.4.1", DeviceModel: "iPhone15,2", LocaleLanguage: "en", LocaleCountry: "US"}
		for id, want := range map[string]mparticle.DeviceInfo{
			iosID: {Platform: "iOS", IOSIDFV: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F", IOSAdvertisingID: "8D8AC610-566D-4EF0-9C22-186B2A5ED793",
				OSVersion: "17.4.1", DeviceModel: "iPhone15,2", LocaleLanguage: "en", LocaleCountry: "US"},
			andID: android,
			amzID: android,
			webID: {Platform: "web", OSVersion: "17.4.1", DeviceModel: "iPhone15,2", LocaleLanguage: "en", LocaleCountry: "US"},
		} {
			got := r.batch(dgLegacyKey, id)
			if got == nil || got.DeviceInfo == nil || *got.DeviceInfo != want {
				t.Errorf("legacy batch of %s: device_info %+v, want %+v", id, got, want)
			}
		}
		// The platform-scoped iOS feed receives only its platform's event.
		if r.batch(dgIOSKey, iosID) == nil || slices.ContainsFunc([]string{andID, amzID, webID}, func(id string) bool { return r.batch(dgIOSKey, id) != nil }) {
			t.Error("the iOS feed received another platform's event, or not its own")
		}
		if n := r.mp.Stats().Feeds["ios-feed"].PlatformMismatches; n != 0 {
			t.Errorf("%d platform mismatches on the iOS feed", n)
		}
	})

	for _, s := range []string{dgIOSSecret, dgLegacySecret, dgIOSKey, dgLegacyKey, "acct_48213377", "c0ffee00-1234-4abc-8def-0123456789ab"} {
		if strings.Contains(r.logs.String(), s) {
			t.Fatalf("logs leak %q", s)
		}
	}
	// At INFO the invocation's line counts the degraded fields; the events are named at DEBUG.
	if !strings.Contains(r.logs.String(), `"degraded_fields":{`) || strings.Contains(r.logs.String(), `"msg":"degraded event"`) {
		t.Error("degraded fields not counted on the invocation's line, or degraded events logged one by one at INFO")
	}
}
