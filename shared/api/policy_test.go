package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestPolicyValidation: the sandbox and missing_customer_id policies are enums, and the
// sandbox credentials come with sandbox separate and only with it, on create and on PATCH
// (where the stored policy counts). Every answer is checked against openapi.yaml (e.do).
func TestPolicyValidation(t *testing.T) {
	e := newEnv(t)
	app := newAppID()
	tok := token(t, []string{app})
	sk, ss := e.credsWithPrefix("sbx-")
	sandboxCreds := map[string]string{"key": sk, "secret": ss}
	us2Key, us2Secret := e.credsWithPrefix("us2-")
	us2Sandbox := map[string]string{"key": us2Key, "secret": us2Secret}

	creates := []struct {
		name   string
		change map[string]any
		want   refusal
	}{
		{"sandbox unknown", map[string]any{"sandbox": "production"}, refusal{422, "validation_failed", "sandbox"}},
		{"sandbox wrong case", map[string]any{"sandbox": "Drop"}, refusal{422, "validation_failed", "sandbox"}},
		{"sandbox not a string", map[string]any{"sandbox": true}, refusal{400, "invalid_type", "sandbox"}},
		{"missing_customer_id unknown", map[string]any{"missing_customer_id": "drop"}, refusal{422, "validation_failed", "missing_customer_id"}},
		{"missing_customer_id not a string", map[string]any{"missing_customer_id": 1}, refusal{400, "invalid_type", "missing_customer_id"}},
		{"separate without sandbox credentials", map[string]any{"sandbox": "separate"}, refusal{422, "validation_failed", "sandbox_credentials"}},
		{"sandbox credentials with drop", map[string]any{"sandbox": "drop", "sandbox_credentials": sandboxCreds}, refusal{422, "validation_failed", "sandbox_credentials"}},
		{"sandbox credentials with development", map[string]any{"sandbox": "development", "sandbox_credentials": sandboxCreds}, refusal{422, "validation_failed", "sandbox_credentials"}},
		{"sandbox credentials without a policy", map[string]any{"sandbox_credentials": sandboxCreds}, refusal{422, "validation_failed", "sandbox_credentials"}},
		{"sandbox key too short", map[string]any{"sandbox": "separate", "sandbox_credentials": map[string]string{"key": "short", "secret": ss}}, refusal{422, "validation_failed", "sandbox_credentials.key"}},
		{"sandbox credentials unknown member", map[string]any{"sandbox": "separate", "sandbox_credentials": map[string]string{"key": sk, "secret": ss, "x": "y"}}, refusal{400, "unknown_field", "sandbox_credentials.x"}},
		{"pod contradicts the sandbox key", map[string]any{"sandbox": "separate", "sandbox_credentials": us2Sandbox, "pod": "EU1"}, refusal{422, "validation_failed", "pod"}},
	}
	for _, tt := range creates {
		t.Run("create/"+tt.name, func(t *testing.T) {
			body, _, _ := e.createBody(tt.change)
			r := e.do(viaEvent, call{method: http.MethodPost, path: collectionPath(app), body: body, token: tok})
			code, field := r.errCode(t)
			if got := (refusal{r.status, code, field}); got != tt.want {
				t.Fatalf("got %+v, want %+v: %s", got, tt.want, r.body)
			}
			// openapi.yaml refuses the same bodies, but for the pod rule, which it states
			// in words only (like the main key's).
			specSilent := tt.name == "pod contradicts the sandbox key"
			if err := specRequestError(t, http.MethodPost, collectionPath(app), body); (err == nil) != specSilent {
				t.Errorf("openapi.yaml disagrees: the API refuses the body, the schema says %v", err)
			}
		})
	}

	// PATCH: the rules against what is stored.
	devID, _, _ := e.create(viaEvent, app, tok, nil)
	sepID, _, _ := e.create(viaEvent, app, tok, map[string]any{"sandbox": "separate", "sandbox_credentials": sandboxCreds})
	patches := []struct {
		name string
		id   string
		body string
		want refusal
	}{
		{"switch to separate without sandbox credentials", devID, `{"sandbox":"separate"}`, refusal{422, "validation_failed", "sandbox_credentials"}},
		{"sandbox credentials on a development integration", devID, `{"sandbox_credentials":{"key":"` + sk + `","secret":"` + ss + `"}}`, refusal{422, "validation_failed", "sandbox_credentials"}},
		{"sandbox credentials while leaving separate", sepID, `{"sandbox":"drop","sandbox_credentials":{"key":"` + sk + `","secret":"` + ss + `"}}`, refusal{422, "validation_failed", "sandbox_credentials"}},
		{"pod against the stored sandbox key", sepID, `{"sandbox_credentials":{"key":"` + us2Key + `","secret":"` + us2Secret + `"},"pod":"AU1"}`, refusal{422, "validation_failed", "pod"}},
		{"missing_customer_id unknown", devID, `{"missing_customer_id":"maybe"}`, refusal{422, "validation_failed", "missing_customer_id"}},
	}
	for _, tt := range patches {
		t.Run("patch/"+tt.name, func(t *testing.T) {
			r := e.do(viaEvent, call{method: http.MethodPatch, path: itemPath(app, tt.id), body: tt.body, token: tok, headers: ifMatch("*")})
			code, field := r.errCode(t)
			if got := (refusal{r.status, code, field}); got != tt.want {
				t.Fatalf("got %+v, want %+v: %s", got, tt.want, r.body)
			}
		})
	}
}

// TestSandboxCredentialsLifecycle: the sandbox credentials are a second secret kept by the
// main one's protocol: written on create, rotated by PATCH (staged, named by the record,
// promoted), shown only as a hint, deleted with the integration; the policies are stored
// and shown, with their defaults for an integration that never set them.
func TestSandboxCredentialsLifecycle(t *testing.T) {
	e := newEnv(t)
	app := newAppID()
	tok := token(t, []string{app})

	defID, _, _ := e.create(viaHTTP, app, tok, nil)
	r := e.do(viaHTTP, call{method: http.MethodGet, path: itemPath(app, defID), token: tok})
	m := r.json(t)
	if m["sandbox"] != "development" || m["missing_customer_id"] != "send" || m["sandbox_credentials_set"] != false {
		t.Errorf("defaults: sandbox %v missing_customer_id %v sandbox_credentials_set %v", m["sandbox"], m["missing_customer_id"], m["sandbox_credentials_set"])
	}
	if _, ok := m["sandbox_key_hint"]; ok {
		t.Errorf("sandbox_key_hint without sandbox credentials")
	}

	sk, ss := e.credsWithPrefix("sbx-")
	id, _, _ := e.create(viaHTTP, app, tok, map[string]any{"sandbox": "separate", "missing_customer_id": "skip",
		"sandbox_credentials": map[string]string{"key": sk, "secret": ss}})
	r = e.do(viaHTTP, call{method: http.MethodGet, path: itemPath(app, id), token: tok})
	m = r.json(t)
	if m["sandbox"] != "separate" || m["missing_customer_id"] != "skip" || m["sandbox_credentials_set"] != true || m["sandbox_key_hint"] != sk[len(sk)-4:] {
		t.Fatalf("created: %s", r.body)
	}
	in, err := e.item(app, id)
	if err != nil {
		t.Fatal(err)
	}
	if in.SandboxSecretID == "" || in.SandboxSecretID == in.SecretID || in.SandboxSecretVersionID == "" {
		t.Fatalf("sandbox secret not recorded apart from the main one")
	}
	if k, s, err := e.secretValue(in.SandboxSecretID, in.SandboxSecretVersionID); err != nil || k != sk || s != ss {
		t.Fatalf("sandbox secret does not hold the sandbox credentials (err %v)", err)
	}

	// Rotation: the record names a new version of the same secret, now current; the main
	// credentials are untouched.
	nk, ns := e.credsWithPrefix("sbx2-")
	r = e.do(viaHTTP, call{method: http.MethodPatch, path: itemPath(app, id), token: tok, headers: ifMatch(`"1"`),
		body: `{"sandbox_credentials":{"key":"` + nk + `","secret":"` + ns + `"}}`})
	if r.status != http.StatusOK || r.json(t)["sandbox_key_hint"] != nk[len(nk)-4:] {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	after, err := e.item(app, id)
	if err != nil {
		t.Fatal(err)
	}
	if after.SandboxSecretID != in.SandboxSecretID || after.SandboxSecretVersionID == in.SandboxSecretVersionID {
		t.Fatalf("rotation did not point the record at a new version of the sandbox secret")
	}
	if after.SecretVersionID != in.SecretVersionID || after.KeyHint != in.KeyHint {
		t.Errorf("rotating the sandbox credentials changed the main ones")
	}
	for _, version := range []string{after.SandboxSecretVersionID, ""} { // the version named, and AWSCURRENT
		if k, s, err := e.secretValue(after.SandboxSecretID, version); err != nil || k != nk || s != ns {
			t.Errorf("sandbox secret version %q does not hold the new credentials (err %v)", version, err)
		}
	}
	if !strings.Contains(e.logs.String(), `"sandbox_credentials"`) {
		t.Errorf("the audit line does not name sandbox_credentials")
	}

	// A first sandbox secret created by PATCH, on an integration that had none.
	fk, fs := e.credsWithPrefix("sbx3-")
	r = e.do(viaHTTP, call{method: http.MethodPatch, path: itemPath(app, defID), token: tok, headers: ifMatch("*"),
		body: `{"sandbox":"separate","sandbox_credentials":{"key":"` + fk + `","secret":"` + fs + `"}}`})
	if r.status != http.StatusOK || r.json(t)["sandbox_credentials_set"] != true {
		t.Fatalf("switch to separate: %d %s", r.status, r.body)
	}
	if d, err := e.item(app, defID); err != nil || d.SandboxSecretID == "" {
		t.Fatalf("switch to separate: no sandbox secret recorded (err %v)", err)
	}

	// Delete schedules both secrets' deletion.
	for _, del := range []string{id, defID} {
		if r := e.do(viaHTTP, call{method: http.MethodDelete, path: itemPath(app, del), token: tok, headers: ifMatch("*")}); r.status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		if !e.secretScheduledForDeletion(app, del) || !e.secretScheduledForDeletion(app, del+"/sandbox") {
			t.Errorf("delete left a secret of %s", del)
		}
	}
}
