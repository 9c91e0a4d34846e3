package api_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/namiml/mparticle-bridge/shared/api"
	"github.com/namiml/mparticle-bridge/shared/event"
)

type refusal struct {
	status int
	code   string
	field  string
}

func TestCreateValidation(t *testing.T) {
	e := newEnv(t)
	app := newAppID()
	tok := token(t, []string{app})
	okKey, okSecret := e.creds()
	creds := map[string]string{"key": okKey, "secret": okSecret}
	us2Key, us2Secret := e.credsWithPrefix("us2-")
	us2Creds := map[string]string{"key": us2Key, "secret": us2Secret}
	eu1Key, eu1Secret := e.credsWithPrefix("EU1-")
	eu1Creds := map[string]string{"key": eu1Key, "secret": eu1Secret}

	// Cases built from the valid body by changing (nil removes) members. Each refused body
	// is also invalid per openapi.yaml, but for the rules the schema cannot state (its
	// descriptions do).
	specSilent := map[string]bool{"pod contradicts the key": true, "pod contradicts the key, letter case aside": true}
	tests := []struct {
		name   string
		change map[string]any
		want   refusal
	}{
		{"name missing", map[string]any{"name": nil}, refusal{422, "validation_failed", "name"}},
		{"name blank", map[string]any{"name": "   "}, refusal{422, "validation_failed", "name"}},
		{"name too long", map[string]any{"name": strings.Repeat("é", 101)}, refusal{422, "validation_failed", "name"}},
		{"name too long with its spaces", map[string]any{"name": " " + strings.Repeat("é", 100)}, refusal{422, "validation_failed", "name"}},
		{"name of Unicode spaces", map[string]any{"name": "\u00a0\u3000\u2028 "}, refusal{422, "validation_failed", "name"}},
		{"name with NEL", map[string]any{"name": "a\u0085b"}, refusal{422, "validation_failed", "name"}},
		{"name with control char", map[string]any{"name": "a\u0007b"}, refusal{422, "validation_failed", "name"}},
		{"name with a bidi override", map[string]any{"name": "iOS \u202egnp.exe"}, refusal{422, "validation_failed", "name"}},
		{"name with a zero-width space", map[string]any{"name": "i\u200bOS"}, refusal{422, "validation_failed", "name"}},
		{"name with a tag character", map[string]any{"name": "iOS\U000E0041"}, refusal{422, "validation_failed", "name"}},
		{"name not a string", map[string]any{"name": 5}, refusal{400, "invalid_type", "name"}},
		{"name null", map[string]any{"name": "null-marker"}, refusal{400, "invalid_type", "name"}},
		{"enabled not a bool", map[string]any{"enabled": "yes"}, refusal{400, "invalid_type", "enabled"}},
		{"scope missing", map[string]any{"scope": nil}, refusal{422, "validation_failed", "scope"}},
		{"scope unknown", map[string]any{"scope": "app"}, refusal{422, "validation_failed", "scope"}},
		{"legacy scope without opt-in", map[string]any{"scope": "all_platforms", "app_platform_id": nil}, refusal{422, "legacy_scope_refused", "scope"}},
		{"legacy scope opt-in false", map[string]any{"scope": "all_platforms", "app_platform_id": nil, "allow_legacy_scope": false}, refusal{422, "legacy_scope_refused", "scope"}},
		{"legacy scope with app platform", map[string]any{"scope": "all_platforms", "allow_legacy_scope": true}, refusal{422, "validation_failed", "app_platform_id"}},
		{"platform scope without app platform", map[string]any{"app_platform_id": nil}, refusal{422, "validation_failed", "app_platform_id"}},
		{"app platform with slash", map[string]any{"app_platform_id": "a/b"}, refusal{422, "validation_failed", "app_platform_id"}},
		{"app platform empty", map[string]any{"app_platform_id": ""}, refusal{422, "validation_failed", "app_platform_id"}},
		{"platform missing", map[string]any{"platform": nil}, refusal{422, "validation_failed", "platform"}},
		{"platform unknown", map[string]any{"platform": "windows"}, refusal{422, "validation_failed", "platform"}},
		{"platform wrong case", map[string]any{"platform": "iOS"}, refusal{422, "validation_failed", "platform"}},
		{"pod unknown", map[string]any{"pod": "US3"}, refusal{422, "validation_failed", "pod"}},
		{"pod with spaces", map[string]any{"pod": " US1 "}, refusal{422, "validation_failed", "pod"}},
		{"pod with a long s", map[string]any{"pod": "u\u017f1"}, refusal{422, "validation_failed", "pod"}},
		{"pod not a string", map[string]any{"pod": 1}, refusal{400, "invalid_type", "pod"}},
		{"pod contradicts the key", map[string]any{"credentials": us2Creds, "pod": "EU1"}, refusal{422, "validation_failed", "pod"}},
		{"pod contradicts the key, letter case aside", map[string]any{"credentials": eu1Creds, "pod": "us1"}, refusal{422, "validation_failed", "pod"}},
		{"customer id source unknown", map[string]any{"customer_id_source": "email"}, refusal{422, "validation_failed", "customer_id_source"}},
		{"events missing", map[string]any{"events": nil}, refusal{422, "validation_failed", "events"}},
		{"events empty", map[string]any{"events": []string{}}, refusal{422, "validation_failed", "events"}},
		{"event unknown", map[string]any{"events": []string{"device.impression", "user.signed_up"}}, refusal{422, "validation_failed", "events"}},
		{"events not strings", map[string]any{"events": []int{1}}, refusal{400, "invalid_type", "events"}},
		{"events not an array", map[string]any{"events": "device.impression"}, refusal{400, "invalid_type", "events"}},
		{"credentials missing", map[string]any{"credentials": nil}, refusal{422, "validation_failed", "credentials"}},
		{"credentials not an object", map[string]any{"credentials": "k:s"}, refusal{400, "invalid_type", "credentials"}},
		{"key missing", map[string]any{"credentials": map[string]string{"secret": okSecret}}, refusal{422, "validation_failed", "credentials.key"}},
		{"secret missing", map[string]any{"credentials": map[string]string{"key": okKey}}, refusal{422, "validation_failed", "credentials.secret"}},
		{"key too short", map[string]any{"credentials": map[string]string{"key": "short", "secret": okSecret}}, refusal{422, "validation_failed", "credentials.key"}},
		{"secret too long", map[string]any{"credentials": map[string]string{"key": okKey, "secret": strings.Repeat("s", 257)}}, refusal{422, "validation_failed", "credentials.secret"}},
		{"key with space", map[string]any{"credentials": map[string]string{"key": "abc defgh", "secret": okSecret}}, refusal{422, "validation_failed", "credentials.key"}},
		{"credentials unknown member", map[string]any{"credentials": map[string]string{"key": okKey, "secret": okSecret, "token": "x"}}, refusal{400, "unknown_field", "credentials.token"}},
		{"key not a string", map[string]any{"credentials": map[string]any{"key": 12345678, "secret": okSecret}}, refusal{400, "invalid_type", "credentials.key"}},
		{"unknown member", map[string]any{"colour": "blue"}, refusal{400, "unknown_field", "colour"}},
		{"read-only member", map[string]any{"id": "x"}, refusal{400, "unknown_field", "id"}},
		{"read-only version", map[string]any{"version": 3}, refusal{400, "unknown_field", "version"}},
		{"read-only created_by", map[string]any{"created_by": "someone"}, refusal{400, "unknown_field", "created_by"}},
		{"allow_legacy_scope not a bool", map[string]any{"allow_legacy_scope": "true"}, refusal{400, "invalid_type", "allow_legacy_scope"}},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(string(tr)+"/"+tt.name, func(t *testing.T) {
				change := map[string]any{"credentials": creds}
				for k, v := range tt.change {
					change[k] = v
				}
				body, _, _ := e.createBody(change)
				body = strings.Replace(body, `"null-marker"`, "null", 1)
				r := e.do(tr, call{method: http.MethodPost, path: collectionPath(app), body: body, token: tok})
				code, field := r.errCode(t)
				if got := (refusal{r.status, code, field}); got != tt.want {
					t.Fatalf("got %+v, want %+v: %s", got, tt.want, r.body)
				}
				if err := specRequestError(t, http.MethodPost, collectionPath(app), body); (err == nil) != specSilent[tt.name] {
					t.Errorf("openapi.yaml disagrees: the API refuses the body, the schema says %v", err)
				}
			})
		}
	}
	if page := e.do(viaEvent, call{method: http.MethodGet, path: collectionPath(app), token: tok}); strings.Contains(string(page.body), `"id"`) {
		t.Fatalf("a refused create left an integration: %s", page.body)
	}
}

func TestUnknownEventMessageListsValidTypes(t *testing.T) {
	e := newEnv(t)
	app := newAppID()
	body, _, _ := e.createBody(map[string]any{"events": []string{"user.signed_up"}})
	r := e.do(viaEvent, call{method: http.MethodPost, path: collectionPath(app), body: body, token: token(t, []string{app})})
	msg := r.json(t)["error"].(map[string]any)["message"].(string)
	if !strings.Contains(msg, `"user.signed_up"`) {
		t.Errorf("message does not name the unknown type: %s", msg)
	}
	for _, ty := range event.AllTypes {
		if !strings.Contains(msg, string(ty)) {
			t.Errorf("message does not list %s", ty)
		}
	}
}

func TestCreateAcceptsOptionsAndLegacyOptIn(t *testing.T) {
	e := newEnv(t)
	app := newAppID()
	tok := token(t, []string{app})
	us2Key, us2Secret := e.credsWithPrefix("us2-")
	us2Creds := map[string]string{"key": us2Key, "secret": us2Secret}
	tests := []struct {
		name   string
		change map[string]any
		check  map[string]any
	}{
		{"partner endpoint by default", nil, map[string]any{"pod": nil, "endpoint": "partner"}},
		{"pod null", map[string]any{"pod": "null-marker"}, map[string]any{"pod": nil, "endpoint": "partner"}},
		{"pod empty", map[string]any{"pod": ""}, map[string]any{"pod": nil, "endpoint": "partner"}},
		{"pod case-insensitive", map[string]any{"pod": "au1"}, map[string]any{"pod": "AU1", "endpoint": "pod"}},
		{"pod of the key", map[string]any{"pod": "US2", "credentials": us2Creds}, map[string]any{"pod": "US2", "endpoint": "pod"}},
		{"prefixed key on the partner endpoint", map[string]any{"credentials": us2Creds}, map[string]any{"pod": nil, "endpoint": "partner"}},
		{"nami user id as customer id", map[string]any{"customer_id_source": "nami_user_id"}, map[string]any{"customer_id_source": "nami_user_id"}},
		{"name trimmed, 100 runes as sent", map[string]any{"name": "  " + strings.Repeat("é", 97) + " "}, map[string]any{"name": strings.Repeat("é", 97)}},
		{"name trimmed of Unicode spaces", map[string]any{"name": "\u3000x y\u00a0"}, map[string]any{"name": "x y"}},
		{"legacy scope with opt-in", map[string]any{"scope": "all_platforms", "app_platform_id": nil, "allow_legacy_scope": true}, map[string]any{"scope": "all_platforms"}},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(string(tr)+"/"+tt.name, func(t *testing.T) {
				body, _, _ := e.createBody(tt.change)
				body = strings.Replace(body, `"null-marker"`, "null", 1)
				validRequest(t, http.MethodPost, collectionPath(app), body)
				r := e.do(tr, call{method: http.MethodPost, path: collectionPath(app), body: body, token: tok})
				if r.status != http.StatusCreated {
					t.Fatalf("%d %s", r.status, r.body)
				}
				got := r.json(t)
				for k, v := range tt.check {
					if got[k] != v {
						t.Errorf("%s = %v, want %v", k, got[k], v)
					}
				}
				_, hasDeprecations := got["deprecations"]
				if legacy := got["scope"] == "all_platforms"; legacy != hasDeprecations {
					t.Errorf("scope %v but deprecations present %v", got["scope"], hasDeprecations)
				}
				if _, ok := got["allow_legacy_scope"]; ok {
					t.Errorf("allow_legacy_scope echoed back")
				}
			})
		}
	}
}

func TestBodyRules(t *testing.T) {
	e := newEnv(t)
	app := newAppID()
	tok := token(t, []string{app})
	valid, _, _ := e.createBody(nil)
	tests := []struct {
		name string
		c    call
		want refusal
	}{
		{"no content type", call{body: valid, noCT: true}, refusal{415, "unsupported_media_type", "Content-Type"}},
		{"text/plain", call{body: valid, noCT: true, headers: map[string]string{"Content-Type": "text/plain"}}, refusal{415, "unsupported_media_type", "Content-Type"}},
		{"latin-1 charset", call{body: valid, noCT: true, headers: map[string]string{"Content-Type": "application/json; charset=latin1"}}, refusal{415, "unsupported_media_type", "Content-Type"}},
		{"too large", call{body: `{"name":"` + strings.Repeat("x", api.MaxBodyBytes) + `"}`}, refusal{413, "payload_too_large", ""}},
		{"empty body", call{body: " ", noCT: true, headers: map[string]string{"Content-Type": "application/json"}}, refusal{400, "invalid_json", ""}},
		{"not JSON", call{body: `{"name":`}, refusal{400, "invalid_json", ""}},
		{"array", call{body: `[1,2]`}, refusal{400, "invalid_json", ""}},
		{"null", call{body: `null`}, refusal{400, "invalid_type", ""}},
		{"two objects", call{body: `{} {}`}, refusal{400, "invalid_json", ""}},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(string(tr)+"/"+tt.name, func(t *testing.T) {
				c := tt.c
				c.method, c.path, c.token = http.MethodPost, collectionPath(app), tok
				r := e.do(tr, c)
				code, field := r.errCode(t)
				if got := (refusal{r.status, code, field}); got != tt.want {
					t.Fatalf("got %+v, want %+v: %s", got, tt.want, r.body)
				}
			})
		}
	}
	// A charset of UTF-8 is fine, and so is a base64-encoded body from API Gateway.
	body, _, _ := e.createBody(nil)
	r := e.do(viaHTTP, call{method: http.MethodPost, path: collectionPath(app), body: body, token: tok, noCT: true,
		headers: map[string]string{"Content-Type": "application/json; charset=UTF-8"}})
	if r.status != http.StatusCreated {
		t.Fatalf("utf-8 charset: %d %s", r.status, r.body)
	}
	claims, _ := e.verifier.Verify(tok)
	body, _, _ = e.createBody(nil)
	resp, _ := e.h.Handle(t.Context(), events.APIGatewayV2HTTPRequest{
		RawPath: collectionPath(app), Headers: map[string]string{"content-type": "application/json"},
		Body: base64.StdEncoding.EncodeToString([]byte(body)), IsBase64Encoded: true,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			HTTP:       events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: http.MethodPost},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims}},
		},
	})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("base64 body: %d %s", resp.StatusCode, resp.Body)
	}
}

func TestPatchValidation(t *testing.T) {
	e := newEnv(t)
	app := newAppID()
	tok := token(t, []string{app})
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			id, _, _ := e.create(tr, app, tok, nil)
			version := 1
			patch := func(body string, headers map[string]string) result {
				t.Helper()
				if headers == nil {
					headers = map[string]string{"If-Match": fmt.Sprintf(`"%d"`, version)}
				}
				r := e.do(tr, call{method: http.MethodPatch, path: itemPath(app, id), body: body, token: tok, headers: headers})
				if r.status == http.StatusOK {
					version++
				}
				return r
			}
			refusals := []struct {
				name    string
				body    string
				headers map[string]string
				want    refusal
			}{
				{"events emptied", `{"events":[]}`, nil, refusal{422, "validation_failed", "events"}},
				{"name null", `{"name":null}`, nil, refusal{400, "invalid_type", "name"}},
				{"to legacy without opt-in", `{"scope":"all_platforms"}`, nil, refusal{422, "legacy_scope_refused", "scope"}},
				{"app platform on legacy", `{"scope":"all_platforms","allow_legacy_scope":true,"app_platform_id":"p"}`, nil, refusal{422, "validation_failed", "app_platform_id"}},
				{"credentials half", `{"credentials":{"key":"abcdefghij"}}`, nil, refusal{422, "validation_failed", "credentials.secret"}},
				{"unknown member", `{"nme":"x"}`, nil, refusal{400, "unknown_field", "nme"}},
				{"status is read-only", `{"status":{}}`, nil, refusal{400, "unknown_field", "status"}},
			}
			for _, tt := range refusals {
				r := patch(tt.body, tt.headers)
				code, field := r.errCode(t)
				if got := (refusal{r.status, code, field}); got != tt.want {
					t.Errorf("%s: got %+v, want %+v: %s", tt.name, got, tt.want, r.body)
				}
			}
			merge := e.do(tr, call{method: http.MethodPatch, path: itemPath(app, id), body: `{"enabled":false}`, token: tok, noCT: true,
				headers: map[string]string{"If-Match": fmt.Sprintf(`"%d"`, version), "Content-Type": "application/merge-patch+json"}})
			if merge.status != http.StatusOK {
				t.Fatalf("merge-patch content type: %d %s", merge.status, merge.body)
			}
			version++

			// Switching to the legacy scope needs the opt-in and drops the app platform.
			r := patch(`{"scope":"all_platforms","allow_legacy_scope":true}`, nil)
			got := r.json(t)
			if r.status != http.StatusOK || got["scope"] != "all_platforms" || got["app_platform_id"] != nil || got["deprecations"] == nil {
				t.Fatalf("to legacy: %d %s", r.status, r.body)
			}
			// An existing legacy integration can still be edited without the opt-in.
			if r := patch(`{"name":"legacy feed"}`, nil); r.status != http.StatusOK {
				t.Fatalf("edit of a legacy integration: %d %s", r.status, r.body)
			}
			// Back to one platform: app_platform_id is required again.
			r = patch(`{"scope":"platform"}`, nil)
			if code, field := r.errCode(t); r.status != 422 || code != "validation_failed" || field != "app_platform_id" {
				t.Fatalf("to platform without app platform: %d %s", r.status, r.body)
			}
			r = patch(`{"scope":"platform","app_platform_id":"plat-android"}`, nil)
			if got := r.json(t); r.status != http.StatusOK || got["app_platform_id"] != "plat-android" || got["deprecations"] != nil {
				t.Fatalf("to platform: %d %s", r.status, r.body)
			}
		})
	}
}

func TestListParameters(t *testing.T) {
	e := newEnv(t)
	app, other := newAppID(), newAppID()
	tok := token(t, []string{app, other})
	for range 3 {
		e.create(viaEvent, other, tok, nil)
	}
	tests := map[string]refusal{
		"?limit=0":                          {400, "invalid_parameter", "limit"},
		"?limit=101":                        {400, "invalid_parameter", "limit"},
		"?limit=ten":                        {400, "invalid_parameter", "limit"},
		"?limit=-1":                         {400, "invalid_parameter", "limit"},
		"?limit=%2B5":                       {400, "invalid_parameter", "limit"},
		"?limit=5.0":                        {400, "invalid_parameter", "limit"},
		"?limit=":                           {400, "invalid_parameter", "limit"},
		"?next=":                            {400, "invalid_parameter", "next"},
		"?next=bm90LWEtY3Vyc29y":            {400, "invalid_parameter", "next"},
		"?next=AAAAAAAAAAAAAAAAAAAAAB":      {400, "invalid_parameter", "next"},
		"?next=%%%":                         {400, "invalid_parameter", ""},
		"?next=" + strings.Repeat("A", 600): {400, "invalid_parameter", "next"},
	}
	for _, tr := range transports {
		for q, want := range tests {
			r := e.do(tr, call{method: http.MethodGet, path: collectionPath(app) + q, token: tok})
			code, field := r.errCode(t)
			if got := (refusal{r.status, code, field}); got != want {
				t.Errorf("%s %s: got %+v, want %+v", tr, q[:min(len(q), 30)], got, want)
			}
		}
	}

	// Any token of the documented shape is a position in the caller's own list: another
	// app's token, or a made-up one, lists this app's integrations and nothing else.
	mine, _, _ := e.create(viaEvent, app, tok, nil)
	first := e.do(viaEvent, call{method: http.MethodGet, path: collectionPath(other) + "?limit=1", token: tok})
	otherNext, _ := first.json(t)["next"].(string)
	for _, next := range []string{otherNext, "_____________________w", "AAAAAAAAAAAAAAAAAAAAAA"} {
		for _, tr := range transports {
			r := e.do(tr, call{method: http.MethodGet, path: collectionPath(app) + "?limit=5&next=" + next, token: tok})
			if r.status != http.StatusOK {
				t.Fatalf("%s next=%q: %d %s", tr, next, r.status, r.body)
			}
			var page struct {
				Items []struct {
					ID    string `json:"id"`
					AppID string `json:"app_id"`
				}
			}
			_ = json.Unmarshal(r.body, &page)
			for _, it := range page.Items {
				if it.AppID != app || it.ID != mine {
					t.Errorf("%s next=%q listed %s/%s", tr, next, it.AppID, it.ID)
				}
			}
		}
	}
}
