package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/api"
	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/testkit/mpserver"
	"github.com/namiml/mparticle-bridge/shared/transform/transformtest"
)

const (
	appID       = eventtest.AppID
	iosPlatform = eventtest.IOSPlatformID
	andPlatform = eventtest.AndroidPlatformID
	externalID  = "acct_48213377"
	namiUserID  = "c0ffee00-1234-4abc-8def-0123456789ab"
)

// apiCall sends one request through the Integrations API handler as API Gateway would,
// with the JWT claims of a caller allowed to manage appID.
func apiCall(t *testing.T, h *api.Handler, method, path string, body any, headers map[string]string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	req := events.APIGatewayV2HTTPRequest{
		RawPath: path,
		Headers: map[string]string{"content-type": "application/json"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			HTTP:       events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path},
			RequestID:  "test-req",
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"sub": "tester", "nami_app_ids": "[" + appID + "]", "nami_features": "[mparticle]"}}},
		},
	}
	for k, v := range headers {
		req.Headers[k] = v
	}
	if body != nil {
		b, _ := json.Marshal(body)
		req.Body = string(b)
	}
	resp, err := h.Handle(context.Background(), req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

func createIntegration(t *testing.T, h *api.Handler, body map[string]any) string {
	t.Helper()
	resp := apiCall(t, h, http.MethodPost, "/v1/apps/"+appID+"/integrations/mparticle", body, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create %v: %d %s", body["name"], resp.StatusCode, resp.Body)
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &out); err != nil || out.ID == "" {
		t.Fatalf("create response: %s", resp.Body)
	}
	return out.ID
}

// sample is the sample event of typ from platformID, with its own id: the legacy feed
// receives the purchase of both platforms, which must not share an id.
func sample(t *testing.T, typ event.Type, platformID string) (id, body string) {
	t.Helper()
	id = uuid.NewString()
	return id, eventtest.Body(t, typ, func(m map[string]any) {
		m["app_id"], m["app_platform_id"], m["id"] = appID, platformID, id
	})
}

// body is sample without its id.
func body(t *testing.T, typ event.Type, platformID string) string {
	t.Helper()
	_, b := sample(t, typ, platformID)
	return b
}

// TestIntegrationsConfiguredThroughAPIReceiveEvents: what the Control Center saves is what
// the Forwarder routes by (scope, enabled, selected events, customer id source), and a
// secret rotated through the API is what the Forwarder sends with.
func TestIntegrationsConfiguredThroughAPIReceiveEvents(t *testing.T) {
	ctx := context.Background()
	feeds := map[string][2]string{ // name -> key, secret
		"ios":      {"ios-key-0001", "ios-secret-0001"},
		"android":  {"and-key-0002", "and-secret-0002"},
		"legacy":   {"leg-key-0003", "leg-secret-0003"},
		"disabled": {"off-key-0004", "off-secret-0004"},
		"renewals": {"ren-key-0005", "ren-secret-0005"},
	}
	st := newLocalStack(t, "e2e", feeds, map[string]string{
		// This test writes more credentials to one app in a minute than the API's default
		// per-app limit allows (5): its feeds, a broken one, a rotation.
		"APP_CREDENTIAL_WRITES_PER_MINUTE": "100",
	})
	apiH, mp, logs, creds := st.api, st.mp, &st.logs, st.creds
	create := func(name string, extra map[string]any) string {
		body := map[string]any{"name": name, "enabled": true, "scope": "platform", "app_platform_id": iosPlatform,
			"platform": "ios", "events": event.AllTypes, "credentials": creds(name)}
		for k, v := range extra {
			if v == nil {
				delete(body, k)
				continue
			}
			body[k] = v
		}
		return createIntegration(t, apiH, body)
	}
	iosID := create("ios", nil)
	create("android", map[string]any{"app_platform_id": andPlatform, "platform": "android", "customer_id_source": "nami_user_id"})
	create("legacy", map[string]any{"scope": "all_platforms", "app_platform_id": nil, "allow_legacy_scope": true,
		"events": []event.Type{event.SubscriptionPurchased}})
	create("disabled", map[string]any{"enabled": false})
	create("renewals", map[string]any{"events": []event.Type{event.SubscriptionRenewed}})

	const tvPlatform = "7e7e7e7e-1111-4222-8333-444455556666"
	brokenID := createIntegration(t, apiH, map[string]any{"name": "broken", "enabled": true, "scope": "platform",
		"app_platform_id": tvPlatform, "platform": "apple_tv", "events": event.AllTypes,
		"credentials": map[string]string{"key": "unknown-key-9", "secret": "unknown-secret-9"}})
	fwd := st.forwarder()
	send := func(bodies ...string) { t.Helper(); st.send(fwd, bodies...) }
	iosPurchase, iosPurchaseBody := sample(t, event.SubscriptionPurchased, iosPlatform)
	impression, impressionBody := sample(t, event.DeviceImpression, iosPlatform)
	send(iosPurchaseBody, body(t, event.SubscriptionPurchased, andPlatform), impressionBody)

	got := func(name string) []mparticle.Batch { return mp.Received(feeds[name][0]) }
	if n := len(got("ios")); n != 2 {
		t.Errorf("ios feed: %d batches, want 2 (its platform's purchase and impression)", n)
	}
	if n := len(got("android")); n != 1 {
		t.Errorf("android feed: %d batches, want 1", n)
	}
	if n := len(got("legacy")); n != 2 {
		t.Errorf("legacy all-platforms feed: %d batches, want 2 (purchases from both platforms)", n)
	}
	if n := len(got("disabled")); n != 0 {
		t.Errorf("disabled integration received %d batches", n)
	}
	if n := len(got("renewals")); n != 0 {
		t.Errorf("integration without the purchased event received %d batches", n)
	}
	// The iOS integration is configured as the golden batches' feed (external_id, the
	// default customer id source): it receives exactly those batches.
	sentToIOS := map[string]event.Type{iosPurchase: event.SubscriptionPurchased, impression: event.DeviceImpression}
	for _, rec := range mp.Records(feeds["ios"][0]) {
		id := transformtest.EventID(rec.Raw)
		typ, ok := sentToIOS[id]
		if !ok {
			t.Errorf("ios feed received event %q, which was not sent to it", id)
			continue
		}
		transformtest.Check(t, typ, rec.Raw, transformtest.Delivery{EventID: id, IntegrationID: iosID})
	}
	for _, b := range got("android") {
		if b.UserIdentities == nil || b.UserIdentities.CustomerID != namiUserID {
			t.Errorf("android feed (nami_user_id): customer_id wrong")
		}
		if b.DeviceInfo == nil || b.DeviceInfo.Platform != "Android" {
			t.Errorf("android feed: device_info.platform wrong")
		}
	}

	// Rotate the iOS feed's secret through the API; mParticle now only accepts the new one.
	const newKey, newSecret = "ios-key-rotated", "ios-secret-rotated"
	mp.AddFeed(newKey, newSecret, "ios-rotated")
	mp.Script(feeds["ios"][0], mpserver.Reply(http.StatusForbidden), mpserver.Reply(http.StatusForbidden))
	cur := apiCall(t, apiH, http.MethodGet, "/v1/apps/"+appID+"/integrations/mparticle/"+iosID, nil, nil)
	patch := apiCall(t, apiH, http.MethodPatch, "/v1/apps/"+appID+"/integrations/mparticle/"+iosID,
		map[string]any{"credentials": map[string]string{"key": newKey, "secret": newSecret}},
		map[string]string{"if-match": cur.Headers["ETag"]})
	if patch.StatusCode != http.StatusOK {
		t.Fatalf("rotate: %d %s", patch.StatusCode, patch.Body)
	}
	send(body(t, event.SubscriptionRenewed, iosPlatform))
	if n := len(mp.Received(newKey)); n != 1 {
		t.Errorf("after rotation the new credentials carried %d batches, want 1", n)
	}
	if n := mp.Stats().Feeds["ios"].ByStatus[http.StatusForbidden]; n != 1 {
		t.Errorf("old credentials were refused %d times, want 1 (then a fresh read)", n)
	}

	// A feed whose credentials mParticle refuses: its message goes back to the queue (the
	// customer will fix the secret) and the integration shows as unhealthy through the API.
	var in events.SQSEvent
	in.Records = []events.SQSMessage{{MessageId: "tv", Body: body(t, event.SubscriptionPurchased, tvPlatform),
		Attributes: map[string]string{"ApproximateReceiveCount": "1"}}}
	resp, err := fwd.Handle(ctx, in)
	if err == nil || len(resp.BatchItemFailures) != 1 {
		t.Fatalf("refused credentials: err=%v failures=%v, want the message back in the queue", err, resp.BatchItemFailures)
	}
	view := apiCall(t, apiH, http.MethodGet, "/v1/apps/"+appID+"/integrations/mparticle/"+brokenID, nil, nil)
	var status struct {
		Status struct {
			Health    string `json:"health"`
			LastError string `json:"last_error"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(view.Body), &status); err != nil || status.Status.Health != "unhealthy" || status.Status.LastError == "" {
		t.Fatalf("broken integration status: %s", view.Body)
	}
	if strings.Contains(view.Body, "unknown-secret-9") || strings.Contains(view.Body, "unknown-key-9") {
		t.Fatal("API response leaks credentials")
	}

	for name, ks := range feeds {
		for _, s := range ks {
			if strings.Contains(logs.String(), s) {
				t.Fatalf("logs contain %s's credentials", name)
			}
		}
	}
	for _, s := range []string{newKey, newSecret, externalID} {
		if strings.Contains(logs.String(), s) {
			t.Fatalf("logs contain %q", s)
		}
	}
}
