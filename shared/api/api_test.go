package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/devtools/devauth"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/auth"
	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/stack"
)

func TestLifecycle(t *testing.T) {
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			e := newEnv(t)
			app := newAppID()
			tok := token(t, []string{app})

			body, key, secret := e.createBody(map[string]any{
				"events":  []string{"user.subscription.renewed", "device.impression", "user.subscription.renewed"},
				"enabled": nil,
			})
			validRequest(t, http.MethodPost, collectionPath(app), body)
			r := e.do(tr, call{method: http.MethodPost, path: collectionPath(app), body: body, token: tok})
			if r.status != http.StatusCreated {
				t.Fatalf("create: %d %s", r.status, r.body)
			}
			created := r.json(t)
			id := created["id"].(string)
			if u, err := uuid.Parse(id); err != nil || u.Version() != 7 {
				t.Fatalf("id %q is not a UUIDv7", id)
			}
			if loc := r.headers.Get("Location"); loc != itemPath(app, id) {
				t.Fatalf("Location %q", loc)
			}
			if et := r.headers.Get("ETag"); et != `"1"` {
				t.Fatalf("ETag %q", et)
			}
			wantFields := map[string]any{
				"app_id": app, "name": "iOS feed", "enabled": false, "scope": "platform",
				"app_platform_id": "plat-ios-1", "platform": "ios", "pod": nil, "endpoint": "partner",
				"customer_id_source": "external_id", "version": float64(1),
			}
			for k, want := range wantFields {
				if created[k] != want {
					t.Errorf("%s = %v, want %v", k, created[k], want)
				}
			}
			if got := fmt.Sprint(created["events"]); got != "[device.impression user.subscription.renewed]" {
				t.Errorf("events %s: duplicates not removed or not in the product order", got)
			}
			cv := created["credentials"].(map[string]any)
			if cv["key_hint"] != key[len(key)-4:] || cv["secret_set"] != true {
				t.Errorf("credentials view %v", cv)
			}
			if st := created["status"].(map[string]any); st["health"] != "unknown" {
				t.Errorf("status %v", st)
			}
			if _, ok := created["deprecations"]; ok {
				t.Errorf("platform scope marked deprecated")
			}

			// The secret holds the credentials, tagged, at the version the item names.
			it, err := e.item(app, id)
			if err != nil {
				t.Fatal(err)
			}
			if k, s, err := e.secretValue(it.SecretID, it.SecretVersionID); err != nil || k != key || s != secret {
				t.Fatalf("secret at the item's version: err %v, matches %v", err, k == key && s == secret)
			}
			desc, err := e.sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(it.SecretID)})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(desc.Name) != e.prefix+app+"/"+id {
				t.Errorf("secret name %q", aws.ToString(desc.Name))
			}
			tags := map[string]string{}
			for _, tg := range desc.Tags {
				tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
			}
			if tags["app_id"] != app || tags["integration_id"] != id {
				t.Errorf("secret tags %v", tags)
			}

			r = e.do(tr, call{method: http.MethodGet, path: itemPath(app, id), token: tok})
			if r.status != http.StatusOK || r.headers.Get("ETag") != `"1"` {
				t.Fatalf("get: %d %s", r.status, r.headers.Get("ETag"))
			}
			if got := r.json(t); fmt.Sprint(got) != fmt.Sprint(created) {
				t.Fatalf("get differs from create:\n%v\n%v", got, created)
			}

			r = e.do(tr, call{method: http.MethodGet, path: collectionPath(app), token: tok})
			items := r.json(t)["items"].([]any)
			if r.status != http.StatusOK || len(items) != 1 || items[0].(map[string]any)["id"] != id {
				t.Fatalf("list: %d %s", r.status, r.body)
			}

			// Merge: only the sent members change.
			patch := `{"name":"  iOS production  ","pod":"eu1","customer_id_source":"nami_user_id","enabled":true}`
			validRequest(t, http.MethodPatch, itemPath(app, id), `{"name":"x","pod":"EU1"}`)
			r = e.do(tr, call{method: http.MethodPatch, path: itemPath(app, id), body: patch, token: tok,
				headers: map[string]string{"If-Match": `"1"`}})
			if r.status != http.StatusOK || r.headers.Get("ETag") != `"2"` {
				t.Fatalf("patch: %d %s", r.status, r.body)
			}
			p := r.json(t)
			if p["name"] != "iOS production" || p["pod"] != "EU1" || p["endpoint"] != "pod" || p["customer_id_source"] != "nami_user_id" ||
				p["enabled"] != true || p["app_platform_id"] != "plat-ios-1" || p["credentials"].(map[string]any)["key_hint"] != cv["key_hint"] {
				t.Fatalf("after patch: %s", r.body)
			}
			if p["created_at"] != created["created_at"] {
				t.Errorf("created_at changed")
			}

			// Rotation: the secret's current value and the item's version both change.
			key2, secret2 := e.creds()
			rot := fmt.Sprintf(`{"credentials":{"key":%q,"secret":%q}}`, key2, secret2)
			r = e.do(tr, call{method: http.MethodPatch, path: itemPath(app, id), body: rot, token: tok,
				headers: map[string]string{"If-Match": `"2"`}})
			if r.status != http.StatusOK {
				t.Fatalf("rotate: %d %s", r.status, r.body)
			}
			if hint := r.json(t)["credentials"].(map[string]any)["key_hint"]; hint != key2[len(key2)-4:] {
				t.Errorf("key_hint after rotation %v", hint)
			}
			it, _ = e.item(app, id)
			if k, s, err := e.secretValue(it.SecretID, ""); err != nil || k != key2 || s != secret2 {
				t.Fatalf("AWSCURRENT after rotation: err %v, new value %v\n%s", err, k == key2 && s == secret2, e.logs.String())
			}
			if k, _, _ := e.secretValue(it.SecretID, it.SecretVersionID); k != key2 {
				t.Fatalf("item does not name the rotated version")
			}

			// Stale and missing preconditions.
			r = e.do(tr, call{method: http.MethodPatch, path: itemPath(app, id), body: `{"name":"x"}`, token: tok,
				headers: map[string]string{"If-Match": `"2"`}})
			if code, field := r.errCode(t); r.status != http.StatusPreconditionFailed || code != "precondition_failed" || field != "If-Match" {
				t.Fatalf("stale patch: %d %s", r.status, r.body)
			}
			if r.headers.Get("ETag") != `"3"` {
				t.Errorf("412 should carry the current ETag, got %q", r.headers.Get("ETag"))
			}
			r = e.do(tr, call{method: http.MethodPatch, path: itemPath(app, id), body: `{"name":"x"}`, token: tok})
			if code, _ := r.errCode(t); r.status != http.StatusPreconditionRequired || code != "precondition_required" {
				t.Fatalf("patch without If-Match: %d %s", r.status, r.body)
			}
			r = e.do(tr, call{method: http.MethodDelete, path: itemPath(app, id), token: tok,
				headers: map[string]string{"If-Match": `"1"`}})
			if r.status != http.StatusPreconditionFailed {
				t.Fatalf("delete with stale If-Match: %d", r.status)
			}

			r = e.do(tr, call{method: http.MethodDelete, path: itemPath(app, id), token: tok,
				headers: map[string]string{"If-Match": `"3"`}})
			if r.status != http.StatusNoContent || len(r.body) != 0 {
				t.Fatalf("delete: %d %s", r.status, r.body)
			}
			if !e.secretScheduledForDeletion(app, id) {
				t.Fatal("secret not scheduled for deletion")
			}
			for _, c := range []call{
				{method: http.MethodGet, path: itemPath(app, id), token: tok},
				{method: http.MethodDelete, path: itemPath(app, id), token: tok, headers: map[string]string{"If-Match": `"3"`}},
				{method: http.MethodPatch, path: itemPath(app, id), token: tok, body: `{"name":"x"}`, headers: map[string]string{"If-Match": `"3"`}},
			} {
				if r := e.do(tr, c); r.status != http.StatusNotFound {
					t.Errorf("%s after delete: %d", c.method, r.status)
				}
			}
		})
	}
}

func TestEmptyPatchChangesNothing(t *testing.T) {
	e := newEnv(t)
	app := newAppID()
	tok := token(t, []string{app})
	id, _, _ := e.create(viaEvent, app, tok, nil)
	r := e.do(viaEvent, call{method: http.MethodPatch, path: itemPath(app, id), body: `{}`, token: tok,
		headers: map[string]string{"If-Match": `"1"`}})
	if r.status != http.StatusOK || r.headers.Get("ETag") != `"1"` {
		t.Fatalf("empty patch: %d ETag %s", r.status, r.headers.Get("ETag"))
	}
	if it, _ := e.item(app, id); it.Version != 1 {
		t.Fatalf("empty patch bumped the version to %d", it.Version)
	}
}

func TestEventTypes(t *testing.T) {
	e := newEnv(t)
	for _, tr := range transports {
		r := e.do(tr, call{method: http.MethodGet, path: "/v1/event-types", token: token(t, nil)})
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d", tr, r.status)
		}
		var body struct {
			Items []struct{ Type, Description string }
		}
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		if len(body.Items) != len(event.AllTypes) {
			t.Fatalf("%d event types", len(body.Items))
		}
		for i, it := range body.Items {
			if it.Type != string(event.AllTypes[i]) || it.Description != event.Descriptions[event.AllTypes[i]] || it.Description == "" {
				t.Errorf("item %d: %+v", i, it)
			}
		}
	}
}

func TestHealthIsShown(t *testing.T) {
	e := newEnv(t)
	app := newAppID()
	tok := token(t, []string{app})
	id, _, _ := e.create(viaEvent, app, tok, nil)
	if err := e.store.SetHealth(context.Background(), app, id, integration.HealthUnhealthy, "mParticle answered 401", mustTime(t, "2026-05-06T07:08:09Z")); err != nil {
		t.Fatal(err)
	}
	r := e.do(viaHTTP, call{method: http.MethodGet, path: itemPath(app, id), token: tok})
	st := r.json(t)["status"].(map[string]any)
	if st["health"] != "unhealthy" || st["last_error"] != "mParticle answered 401" || st["updated_at"] != "2026-05-06T07:08:09Z" {
		t.Fatalf("status %v", st)
	}
	// The Forwarder's write does not change the version a client holds.
	if r.headers.Get("ETag") != `"1"` {
		t.Fatalf("ETag %q after SetHealth", r.headers.Get("ETag"))
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	app, other := newAppID(), newAppID()
	tok := token(t, []string{app})
	otherTok := token(t, []string{other})
	id, _, _ := e.create(viaEvent, app, tok, nil)
	body, _, _ := e.createBody(nil)

	routes := []call{
		{method: http.MethodGet, path: "/v1/event-types"},
		{method: http.MethodGet, path: collectionPath(app)},
		{method: http.MethodPost, path: collectionPath(app), body: body},
		{method: http.MethodGet, path: itemPath(app, id)},
		{method: http.MethodPatch, path: itemPath(app, id), body: `{"name":"hijacked"}`, headers: map[string]string{"If-Match": `"1"`}},
		{method: http.MethodDelete, path: itemPath(app, id), headers: map[string]string{"If-Match": "*"}},
	}
	for _, tr := range transports {
		for _, c := range routes {
			t.Run(fmt.Sprintf("%s %s %s", tr, c.method, c.path), func(t *testing.T) {
				r := e.do(tr, c) // no token
				if code, _ := r.errCode(t); r.status != http.StatusUnauthorized || code != "unauthenticated" {
					t.Fatalf("without token: %d %s", r.status, r.body)
				}
				if c.path == "/v1/event-types" {
					return
				}
				c.token = otherTok
				r = e.do(tr, c)
				if code, _ := r.errCode(t); r.status != http.StatusNotFound || code != "not_found" {
					t.Fatalf("other app's token: %d %s", r.status, r.body)
				}
			})
		}
	}
	// Nothing the refused requests asked for happened.
	it, err := e.item(app, id)
	if err != nil || it.Name != "iOS feed" || it.Version != 1 {
		t.Fatalf("integration changed by refused requests: %+v %v", it, err)
	}
	if page, _ := e.store.List(context.Background(), app, 10, ""); len(page.Items) != 1 {
		t.Fatalf("%d integrations after refused creates", len(page.Items))
	}

	// An operator's access token (the admin client's, with the admin scope) grants every
	// app; a tenant's token asking for the scope grants nothing more.
	admin, err := devauth.IssueDevAdminToken(devKey, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	scoped := token(t, []string{newAppID()}, devauth.DevAdminScope)
	for _, tr := range transports {
		if r := e.do(tr, call{method: http.MethodGet, path: itemPath(app, id), token: admin}); r.status != http.StatusOK {
			t.Fatalf("admin over %s: %d", tr, r.status)
		}
		if r := e.do(tr, call{method: http.MethodGet, path: itemPath(app, id), token: scoped}); r.status != http.StatusNotFound {
			t.Fatalf("tenant token with the admin scope over %s: %d", tr, r.status)
		}
	}
	// With admin access off (the default), the operator's token is no one's.
	off := newEnvWith(t, map[string]string{stack.EnvAdminScope: "", stack.EnvAdminClientID: ""})
	for _, tr := range transports {
		if r := off.do(tr, call{method: http.MethodGet, path: itemPath(app, id), token: admin}); r.status != http.StatusNotFound {
			t.Fatalf("admin token with admin access off over %s: %d", tr, r.status)
		}
	}

	// Tokens API Gateway's authorizer would refuse are refused by the local adapter.
	bad := map[string]string{
		"bad signature":  signWith(t, []byte("another-key-0123456789abcdef-xyz"), app, devauth.DevAudience, 1),
		"expired":        signWith(t, devKey, app, devauth.DevAudience, -1),
		"wrong audience": signWith(t, devKey, app, "someone-else", 1),
		"not a jwt":      "abc.def.ghi",
	}
	for name, tk := range bad {
		r := e.do(viaHTTP, call{method: http.MethodGet, path: itemPath(app, id), token: tk})
		if code, _ := r.errCode(t); r.status != http.StatusUnauthorized || code != "unauthenticated" {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	r := e.do(viaHTTP, call{method: http.MethodGet, path: itemPath(app, id), headers: map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}})
	if r.status != http.StatusUnauthorized {
		t.Errorf("basic auth: %d", r.status)
	}
}

func TestRouting(t *testing.T) {
	e := newEnv(t)
	app := newAppID()
	tok := token(t, []string{app})
	for _, tr := range transports {
		tests := []struct {
			c      call
			status int
		}{
			{call{method: http.MethodGet, path: "/v1/unknown"}, 404},
			{call{method: http.MethodGet, path: "/v2/event-types"}, 404},
			{call{method: http.MethodGet, path: collectionPath(app) + "/"}, 404},
			{call{method: http.MethodGet, path: itemPath(app, "not-a-uuid")}, 404},
			{call{method: http.MethodGet, path: itemPath(app, strings.ToUpper(uuid.NewString()))}, 404},
			{call{method: http.MethodGet, path: itemPath(app, uuid.NewString())}, 404},
			{call{method: http.MethodGet, path: collectionPath("bad%2Fapp")}, 404},
			{call{method: http.MethodPut, path: itemPath(app, uuid.NewString())}, 405},
			{call{method: http.MethodDelete, path: collectionPath(app)}, 405},
			{call{method: http.MethodPost, path: "/v1/event-types"}, 405},
		}
		for _, tt := range tests {
			tt.c.token = tok
			r := e.do(tr, tt.c)
			if r.status != tt.status {
				t.Errorf("%s %s %s: %d, want %d", tr, tt.c.method, tt.c.path, r.status, tt.status)
			}
			if tt.status == 405 && r.headers.Get("Allow") == "" {
				t.Errorf("%s %s %s: no Allow header", tr, tt.c.method, tt.c.path)
			}
		}
	}

	// A named stage's prefix in rawPath is ignored, as API Gateway adds it there.
	claims, err := e.verifier.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.h.Handle(context.Background(), events.APIGatewayV2HTTPRequest{
		RawPath: "/prod/v1/event-types",
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			Stage: "prod",
			HTTP:  events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: http.MethodGet},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
			},
		},
	})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("staged path: %d %v", resp.StatusCode, err)
	}
}

func TestPagination(t *testing.T) {
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			e := newEnv(t)
			app := newAppID()
			tok := token(t, []string{app})
			var ids []string
			for range 5 {
				id, _, _ := e.create(viaEvent, app, tok, nil)
				ids = append([]string{id}, ids...) // newest first
			}
			// Another app's integrations never show up.
			otherApp := newAppID()
			e.create(viaEvent, otherApp, token(t, []string{otherApp}), nil)

			var got []string
			next, pages := "", 0
			for {
				path := collectionPath(app) + "?limit=2"
				if next != "" {
					path += "&next=" + next
				}
				r := e.do(tr, call{method: http.MethodGet, path: path, token: tok})
				if r.status != http.StatusOK {
					t.Fatalf("page %d: %d %s", pages, r.status, r.body)
				}
				var body struct {
					Items []struct{ ID string }
					Next  *string
				}
				if err := json.Unmarshal(r.body, &body); err != nil {
					t.Fatal(err)
				}
				pages++
				for _, it := range body.Items {
					got = append(got, it.ID)
				}
				if body.Next == nil {
					break
				}
				next = *body.Next
			}
			if !slices.Equal(got, ids) || pages != 3 {
				t.Fatalf("%d pages listing %v, want 3 pages listing %v", pages, got, ids)
			}

			r := e.do(tr, call{method: http.MethodGet, path: collectionPath(app), token: tok})
			var all struct{ Items []any }
			_ = json.Unmarshal(r.body, &all)
			if len(all.Items) != 5 || strings.Contains(string(r.body), `"next"`) {
				t.Fatalf("default page: %d items, body %s", len(all.Items), r.body)
			}
		})
	}
}

func TestConcurrentPatchesOneWins(t *testing.T) {
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			e := newEnv(t, testenv.AtomicWrites)
			app := newAppID()
			tok := token(t, []string{app})
			id, _, _ := e.create(viaEvent, app, tok, nil)

			type attempt struct {
				name, key, secret string
				status            int
			}
			attempts := make([]attempt, 2)
			var wg sync.WaitGroup
			for i := range attempts {
				key, secret := e.creds()
				attempts[i] = attempt{name: fmt.Sprintf("writer %d", i), key: key, secret: secret}
				body := fmt.Sprintf(`{"name":%q,"credentials":{"key":%q,"secret":%q}}`, attempts[i].name, key, secret)
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := e.do(tr, call{method: http.MethodPatch, path: itemPath(app, id), body: body, token: tok,
						headers: map[string]string{"If-Match": `"1"`}})
					attempts[i].status = r.status
				}()
			}
			wg.Wait()
			var winner *attempt
			for i, a := range attempts {
				switch a.status {
				case http.StatusOK:
					if winner != nil {
						t.Fatal("both concurrent PATCHes with the same If-Match succeeded")
					}
					winner = &attempts[i]
				case http.StatusPreconditionFailed:
				default:
					t.Fatalf("%s: status %d", a.name, a.status)
				}
			}
			if winner == nil {
				t.Fatal("no PATCH succeeded")
			}
			it, err := e.item(app, id)
			if err != nil {
				t.Fatal(err)
			}
			if it.Name != winner.name || it.Version != 2 || it.KeyHint != winner.key[len(winner.key)-4:] {
				t.Fatalf("item %q v%d hint %q, winner %q", it.Name, it.Version, it.KeyHint, winner.name)
			}
			for _, version := range []string{"", it.SecretVersionID} {
				if k, s, err := e.secretValue(it.SecretID, version); err != nil || k != winner.key || s != winner.secret {
					t.Fatalf("secret (version %q) does not hold the winner's credentials (err %v)", version, err)
				}
			}
		})
	}
}

func signWith(t *testing.T, key []byte, app, aud string, hours int) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": devauth.DevIssuer, "aud": aud, "sub": "t", auth.ClaimAppIDs: []string{app},
		"exp": time.Now().Add(time.Duration(hours) * time.Hour).Unix(),
	}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
