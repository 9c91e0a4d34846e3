package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/app/forwarderapp"
	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/metrics"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/stack"
	"github.com/namiml/mparticle-bridge/shared/testkit/mpserver"
	"github.com/namiml/mparticle-bridge/shared/transform/transformtest"
)

// TestDeliveryPoliciesThroughAPI: the sandbox and missing_customer_id policies saved through
// the Integrations API decide what the Forwarder sends, end to end on moto and the contract
// server. Each integration has its own app platform, so each receives only its own events.
func TestDeliveryPoliciesThroughAPI(t *testing.T) {
	feeds := map[string][2]string{ // feed name -> key, secret
		"development": {"dev-key-0001", "dev-secret-0001"},
		"drop":        {"drp-key-0002", "drp-secret-0002"},
		"separate":    {"sep-key-0003", "sep-secret-0003"},
		"sandbox":     {"sbx-key-0004", "sbx-secret-0004"}, // the separate integration's development input
		"send":        {"snd-key-0005", "snd-secret-0005"},
		"skip":        {"skp-key-0006", "skp-secret-0006"},
		"sandbox2":    {"sbx-key-0007", "sbx-secret-0007"}, // the rotated sandbox credentials
	}
	st := newLocalStack(t, "e2e-pol", feeds, map[string]string{
		"APP_CREDENTIAL_WRITES_PER_MINUTE": "100",
		// Plan gating is not what this test is about: off, so apiCall's caller may create.
		stack.EnvEntitlementClaim: "none",
	})
	apiH, mp, logs, creds := st.api, st.mp, &st.logs, st.creds
	platformOf := map[string]string{}
	ids := map[string]string{}
	create := func(name string, extra map[string]any) {
		platformOf[name] = "plat-" + name
		body := map[string]any{"name": name, "enabled": true, "scope": "platform", "app_platform_id": platformOf[name],
			"platform": "ios", "events": event.AllTypes, "credentials": creds(name)}
		for k, v := range extra {
			body[k] = v
		}
		ids[name] = createIntegration(t, apiH, body)
	}
	create("development", nil) // the default policy
	create("drop", map[string]any{"sandbox": "drop"})
	create("separate", map[string]any{"sandbox": "separate", "sandbox_credentials": creds("sandbox")})
	create("send", nil) // missing_customer_id: the default, send
	create("skip", map[string]any{"missing_customer_id": "skip"})

	var emf bytes.Buffer
	fwd := st.forwarder(forwarderapp.WithMetrics(metrics.New(&emf, forwarderapp.MetricsNamespace)))
	send := func(bodies ...string) { t.Helper(); st.send(fwd, bodies...) }
	// mk is a purchase for the named integration's platform: from the sandbox store (an
	// environment development event) or not, with or without the External ID.
	mk := func(name string, sandbox, withExternalID bool) (string, string) {
		id := uuid.NewString()
		return id, bodyWith(t, id, platformOf[name], sandbox, withExternalID)
	}
	devSbx, devSbxBody := mk("development", true, true)
	_, devProdBody := mk("development", false, true)
	_, dropSbxBody := mk("drop", true, true)
	dropProd, dropProdBody := mk("drop", false, true)
	sepSbx, sepSbxBody := mk("separate", true, true)
	sepProd, sepProdBody := mk("separate", false, true)
	sendNoID, sendNoIDBody := mk("send", false, false)
	_, skipNoIDBody := mk("skip", false, false)
	skipWithID, skipWithIDBody := mk("skip", false, true)
	send(devSbxBody, devProdBody, dropSbxBody, dropProdBody, sepSbxBody, sepProdBody, sendNoIDBody, skipNoIDBody, skipWithIDBody)

	got := func(feed string) []mparticle.Batch { return mp.Received(feeds[feed][0]) }
	envs := func(feed string) map[string]string { // Nami event id -> the batch's environment
		m := map[string]string{}
		for _, rec := range mp.Records(feeds[feed][0]) {
			var b struct {
				Environment string `json:"environment"`
			}
			if err := json.Unmarshal(rec.Raw, &b); err != nil {
				t.Fatal(err)
			}
			m[transformtest.EventID(rec.Raw)] = b.Environment
		}
		return m
	}

	// development: the sandbox purchase goes to the main feed as development.
	if e := envs("development"); len(e) != 2 || e[devSbx] != mparticle.EnvDevelopment {
		t.Errorf("development policy: main feed got %v, want the sandbox purchase as development and the production one", e)
	}
	// drop: only the production purchase is sent.
	if e := envs("drop"); len(e) != 1 || e[dropProd] != mparticle.EnvProduction {
		t.Errorf("drop policy: main feed got %v, want only the production purchase", e)
	}
	// separate: the sandbox purchase goes with the sandbox key, the production one with the main key.
	if e := envs("separate"); len(e) != 1 || e[sepProd] != mparticle.EnvProduction {
		t.Errorf("separate policy: main feed got %v, want only the production purchase", e)
	}
	if e := envs("sandbox"); len(e) != 1 || e[sepSbx] != mparticle.EnvDevelopment {
		t.Errorf("separate policy: sandbox feed got %v, want the sandbox purchase as development", e)
	}
	// missing_customer_id send: sent with the partner identity only.
	if b := got("send"); len(b) != 1 || (b[0].UserIdentities != nil && b[0].UserIdentities.CustomerID != "") {
		t.Errorf("missing id, send: %d batches (want 1, without customer_id)", len(b))
	} else if e := envs("send"); e[sendNoID] == "" {
		t.Errorf("missing id, send: the event sent is not %s", sendNoID)
	}
	// missing_customer_id skip: only the event with the External ID is sent.
	if e := envs("skip"); len(e) != 1 || e[skipWithID] == "" {
		t.Errorf("missing id, skip: feed got %v, want only %s", e, skipWithID)
	}

	// The two left out are Skipped: in the metrics, and logged with their integration.
	if n := skippedMetric(t, emf.String()); n != 2 {
		t.Errorf("Skipped metric = %d, want 2 (the dropped sandbox purchase, the purchase without customer id)", n)
	}
	skippedBy := map[string]int{}
	for _, l := range jsonLines(t, logs.String()) {
		if l["outcome"] == "skipped" {
			id, _ := l["integration_id"].(string)
			skippedBy[id]++
		}
	}
	if skippedBy[ids["drop"]] != 1 || skippedBy[ids["skip"]] != 1 || len(skippedBy) != 2 {
		t.Errorf("skipped log lines by integration %v, want one for drop (%s) and one for skip (%s)", skippedBy, ids["drop"], ids["skip"])
	}

	// Rotating the sandbox credentials through the API: the Forwarder, holding the old
	// version, has it refused, reads afresh, and sends with the new sandbox key.
	mp.Script(feeds["sandbox"][0], mpserver.Reply(http.StatusForbidden), mpserver.Reply(http.StatusForbidden))
	patch := apiCall(t, apiH, http.MethodPatch, "/v1/apps/"+appID+"/integrations/mparticle/"+ids["separate"],
		map[string]any{"sandbox_credentials": creds("sandbox2")}, map[string]string{"if-match": "*"})
	if patch.StatusCode != http.StatusOK {
		t.Fatalf("rotate sandbox credentials: %d %s", patch.StatusCode, patch.Body)
	}
	rotated, rotatedBody := mk("separate", true, true)
	send(rotatedBody)
	if e := envs("sandbox2"); len(e) != 1 || e[rotated] != mparticle.EnvDevelopment {
		t.Errorf("after rotation the new sandbox key got %v, want %s", e, rotated)
	}
	if n := len(got("separate")); n != 1 {
		t.Errorf("after rotation the main feed got %d batches, want still 1", n)
	}

	for name, ks := range feeds {
		for _, s := range ks {
			if strings.Contains(logs.String(), s) || strings.Contains(patch.Body, s) {
				t.Fatalf("logs or a response contain %s's credentials", name)
			}
		}
	}
}

// bodyWith is the sample purchase with id for platformID, from the sandbox store or not,
// with or without the user's External ID.
func bodyWith(t *testing.T, id, platformID string, sandbox, withExternalID bool) string {
	t.Helper()
	return eventtest.Body(t, event.SubscriptionPurchased, func(m map[string]any) {
		m["app_id"], m["app_platform_id"], m["id"] = appID, platformID, id
		if sandbox {
			m["subscription"].(map[string]any)["purchase_env"] = "sandbox"
		}
		if !withExternalID {
			delete(m["user"].(map[string]any), "external_id")
		}
	})
}

// skippedMetric is the service-wide Skipped count over the EMF lines.
func skippedMetric(t *testing.T, emf string) int {
	t.Helper()
	n := 0
	for _, l := range jsonLines(t, emf) {
		if _, perFeed := l[metrics.DimFeedID]; perFeed {
			continue
		}
		if v, ok := l[string(metrics.Skipped)].(float64); ok {
			n += int(v)
		}
	}
	return n
}

func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}
