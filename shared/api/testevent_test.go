package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/controlcenter"
	"github.com/namiml/mparticle-bridge/shared/devtools/devauth"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/stack"
	"github.com/namiml/mparticle-bridge/shared/testkit/mpserver"
)

// newTestEventEnv is newEnv with the contract server as mParticle.
func newTestEventEnv(t *testing.T, opts mpserver.Options) (*env, *mpserver.Server) {
	t.Helper()
	mp := mpserver.New(opts)
	srv := httptest.NewServer(mp)
	t.Cleanup(srv.Close)
	return newEnvWith(t, map[string]string{stack.EnvMParticleBaseURL: srv.URL + mpserver.PartnerPrefix}), mp
}

func testPath(appID, id string) string { return itemPath(appID, id) + "/test" }

// TestTestEvent sends a test event to feeds the contract server answers in each way, and
// checks the verdict, the health it leaves, and that the answer is the spec's.
func TestTestEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("needs moto")
	}
	tests := []struct {
		name       string
		opts       mpserver.Options
		register   bool // the contract server knows the feed's key
		script     []mpserver.Response
		enabled    bool
		verdict    string
		status     int
		health     string
		reasonHas  string
		wantRecord bool
	}{
		{name: "delivered on a disabled integration", register: true, enabled: false,
			verdict: controlcenter.VerdictDelivered, status: http.StatusAccepted, health: integration.HealthOK, wantRecord: true},
		// 401 or 403: mParticle (and the contract server) refuse unknown keys with either.
		{name: "credentials refused", register: false, enabled: true,
			verdict: controlcenter.VerdictCredentialsRefused, status: http.StatusUnauthorized, health: integration.HealthUnhealthy},
		{name: "throttled by the 429 fault", opts: mpserver.Options{Faults: mpserver.Faults{P429: 1, RetryAfter: 5}}, register: true, enabled: true,
			verdict: controlcenter.VerdictThrottled, status: http.StatusTooManyRequests},
		{name: "rejected", register: true, enabled: true,
			script:  []mpserver.Response{mpserver.ReplyBody(http.StatusBadRequest, `{"errors":[{"code":"invalid_batch","message":"event_name is not allowed"}]}`)},
			verdict: controlcenter.VerdictRejected, status: http.StatusBadRequest, reasonHas: "event_name is not allowed"},
		{name: "unreachable on a 503", register: true, enabled: true,
			script:  []mpserver.Response{mpserver.Reply(http.StatusServiceUnavailable)},
			verdict: controlcenter.VerdictUnreachable, status: http.StatusServiceUnavailable},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, mp := newTestEventEnv(t, tc.opts)
			app := newAppID()
			tok := token(t, []string{app})
			tr := transports[i%len(transports)]
			id, key, secret := e.create(tr, app, tok, map[string]any{"enabled": tc.enabled})
			if tc.register {
				mp.AddFeed(key, secret, "feed")
				mp.Script(key, tc.script...)
			}
			r := e.do(tr, call{method: http.MethodPost, path: testPath(app, id), token: tok})
			if r.status != http.StatusOK {
				t.Fatalf("test: %d %s", r.status, r.body)
			}
			body := r.json(t)
			status, _ := body["status"].(float64)
			if body["verdict"] != tc.verdict || int(status) != tc.status && !(tc.status == http.StatusUnauthorized && int(status) == http.StatusForbidden) {
				t.Errorf("verdict %v status %v, want %s %d (%s)", body["verdict"], body["status"], tc.verdict, tc.status, r.body)
			}
			if ms, _ := body["latency_ms"].(float64); ms < 0 || ms > 10_000 {
				t.Errorf("latency_ms %v", body["latency_ms"])
			}
			if reason, _ := body["reason"].(string); !strings.Contains(reason, tc.reasonHas) {
				t.Errorf("reason %q, want it to contain %q", reason, tc.reasonHas)
			}
			in, err := e.item(app, id)
			if err != nil {
				t.Fatal(err)
			}
			if in.Health != tc.health {
				t.Errorf("health %q, want %q", in.Health, tc.health)
			}
			if in.Enabled != tc.enabled {
				t.Errorf("a test changed enabled to %v", in.Enabled)
			}
			got := mp.Received(key)
			if !tc.wantRecord {
				return
			}
			if len(got) != 1 || len(got[0].Events) != 1 {
				t.Fatalf("contract server received %d batches, want one of one event", len(got))
			}
			b := got[0]
			if b.Environment != mparticle.EnvDevelopment || b.Events[0].Data.EventName != controlcenter.TestEventName ||
				b.UserIdentities == nil || b.UserIdentities.CustomerID != controlcenter.TestUserID {
				t.Errorf("test batch %+v", b)
			}
		})
	}
}

// TestTestEventLimit: a second test of an integration within its 10-second window is 429
// with Retry-After; another integration of the app is not held back by it.
func TestTestEventLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("needs moto")
	}
	e, mp := newTestEventEnv(t, mpserver.Options{})
	app := newAppID()
	tok := token(t, []string{app})
	id, key, secret := e.create(viaEvent, app, tok, nil)
	other, key2, secret2 := e.create(viaEvent, app, tok, nil)
	mp.AddFeed(key, secret, "a")
	mp.AddFeed(key2, secret2, "b")
	for attempt := 0; ; attempt++ {
		// Far enough from a window's end that both requests fall in the same window.
		if time.Until(time.Now().Truncate(controlcenter.TestWindow).Add(controlcenter.TestWindow)) < 3*time.Second {
			time.Sleep(3 * time.Second)
		}
		first := e.do(viaEvent, call{method: http.MethodPost, path: testPath(app, id), token: tok})
		second := e.do(viaHTTP, call{method: http.MethodPost, path: testPath(app, id), token: tok})
		if first.status != http.StatusOK {
			if attempt == 0 && first.status == http.StatusTooManyRequests {
				time.Sleep(controlcenter.TestWindow)
				continue
			}
			t.Fatalf("first test: %d %s", first.status, first.body)
		}
		if second.status != http.StatusTooManyRequests {
			t.Fatalf("second test within 10 s: %d %s", second.status, second.body)
		}
		if code, _ := second.errCode(t); code != "rate_limited" {
			t.Errorf("code %q", code)
		}
		if ra := second.headers.Get("Retry-After"); ra == "" || ra > "9" && len(ra) == 1 || len(ra) > 2 {
			t.Errorf("Retry-After %q", ra)
		}
		break
	}
	if r := e.do(viaEvent, call{method: http.MethodPost, path: testPath(app, other), token: tok}); r.status != http.StatusOK {
		t.Errorf("another integration's test: %d %s", r.status, r.body)
	}
	if r := e.do(viaEvent, call{method: http.MethodPost, path: testPath(app, "00000000-0000-4000-8000-000000000000"), token: tok}); r.status != http.StatusNotFound {
		t.Errorf("test of a missing integration: %d", r.status)
	}
	if r := e.do(viaEvent, call{method: http.MethodGet, path: testPath(app, id), token: tok}); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET of the test route: %d", r.status)
	}
}

// TestPlanGating: without the plan's feature a caller can neither create nor enable an
// integration (403 plan_required), and can still read, disable, test and delete.
func TestPlanGating(t *testing.T) {
	if testing.Short() {
		t.Skip("needs moto")
	}
	e, mp := newTestEventEnv(t, mpserver.Options{})
	app := newAppID()
	planTok := token(t, []string{app})
	noPlan, err := devauth.IssueDevTokenWithoutPlan(devKey, []string{app}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id, key, secret := e.create(viaEvent, app, planTok, nil)
	mp.AddFeed(key, secret, "feed")
	for _, tr := range transports {
		body, _, _ := e.createBody(nil)
		r := e.do(tr, call{method: http.MethodPost, path: collectionPath(app), body: body, token: noPlan})
		wantPlanRequired(t, r)

		r = e.do(tr, call{method: http.MethodPatch, path: itemPath(app, id), body: `{"enabled":true}`, token: noPlan, headers: ifMatch("*")})
		wantPlanRequired(t, r)
	}
	steps := []struct {
		name string
		c    call
		want int
	}{
		{"read", call{method: http.MethodGet, path: itemPath(app, id)}, http.StatusOK},
		{"list", call{method: http.MethodGet, path: collectionPath(app)}, http.StatusOK},
		{"disable", call{method: http.MethodPatch, path: itemPath(app, id), body: `{"enabled":false}`, headers: ifMatch("*")}, http.StatusOK},
		{"rename", call{method: http.MethodPatch, path: itemPath(app, id), body: `{"name":"old feed"}`, headers: ifMatch("*")}, http.StatusOK},
		{"test", call{method: http.MethodPost, path: testPath(app, id)}, http.StatusOK},
		{"delete", call{method: http.MethodDelete, path: itemPath(app, id), headers: ifMatch("*")}, http.StatusNoContent},
	}
	for i, s := range steps {
		s.c.token = noPlan
		if r := e.do(transports[i%len(transports)], s.c); r.status != s.want {
			t.Errorf("%s without the plan: %d %s, want %d", s.name, r.status, r.body, s.want)
		}
	}
}

func wantPlanRequired(t *testing.T, r result) {
	t.Helper()
	if r.status != http.StatusForbidden {
		t.Fatalf("%d %s, want 403", r.status, r.body)
	}
	code, _ := r.errCode(t)
	msg, _ := r.json(t)["error"].(map[string]any)["message"].(string)
	if code != "plan_required" || !strings.Contains(msg, "Enterprise plan") {
		t.Errorf("error %s", r.body)
	}
}

// TestPlanGatingOff: a deployment whose EntitlementClaim is empty ("none") lets any caller
// create.
func TestPlanGatingOff(t *testing.T) {
	if testing.Short() {
		t.Skip("needs moto")
	}
	e := newEnvWith(t, map[string]string{stack.EnvEntitlementClaim: "none"})
	app := newAppID()
	noPlan, err := devauth.IssueDevTokenWithoutPlan(devKey, []string{app}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.create(viaHTTP, app, noPlan, nil)
}
