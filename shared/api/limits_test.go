package api_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/auth"
	"github.com/namiml/mparticle-bridge/shared/devtools/devauth"
	"github.com/namiml/mparticle-bridge/shared/stack"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

func TestIntegrationLimit(t *testing.T) {
	e := newEnvWith(t, map[string]string{stack.EnvMaxIntegrationsPerApp: "2"})
	app := newAppID()
	tok := token(t, []string{app})
	first, _, _ := e.create(viaEvent, app, tok, nil)
	e.create(viaEvent, app, tok, nil)
	for _, tr := range transports {
		body, _, _ := e.createBody(nil)
		r := e.do(tr, call{method: http.MethodPost, path: collectionPath(app), body: body, token: tok})
		if code, _ := r.errCode(t); r.status != http.StatusConflict || code != "integration_limit" || !strings.Contains(string(r.body), "2 integrations") {
			t.Fatalf("third create over %s: %d %s", tr, r.status, r.body)
		}
	}
	if n, ids := e.count(app), e.secretIDs(app); n != 2 || len(ids) != 2 {
		t.Fatalf("%d integrations and %d secrets, want 2 of each: a refused create wrote something", n, len(ids))
	}
	// Another app has its own; a delete makes room.
	other := newAppID()
	e.create(viaEvent, other, token(t, []string{other}), nil)
	if r := e.do(viaEvent, call{method: http.MethodDelete, path: itemPath(app, first), token: tok, headers: ifMatch("*")}); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	e.create(viaEvent, app, tok, nil)
}

// Concurrent creates never take an app past its bound.
func TestIntegrationLimitUnderConcurrency(t *testing.T) {
	e := newEnvWith(t, map[string]string{stack.EnvMaxIntegrationsPerApp: "3"}, testenv.AtomicWrites)
	app := newAppID()
	tok := token(t, []string{app})
	statuses := make([]int, 8)
	var wg sync.WaitGroup
	for i := range statuses {
		body, _, _ := e.createBody(nil)
		wg.Go(func() {
			statuses[i] = e.do(viaEvent, call{method: http.MethodPost, path: collectionPath(app), body: body, token: tok}).status
		})
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusConflict:
		default:
			t.Fatalf("statuses %v", statuses)
		}
	}
	if n := e.count(app); created != 3 || n != 3 {
		t.Fatalf("%d creates succeeded, %d integrations stored (statuses %v); want 3", created, n, statuses)
	}
}

// awayFromMinuteEnd waits, when the current minute is about to end, for the next one: the
// rate-limit windows are clock minutes, and a test of one must stay within one.
func awayFromMinuteEnd(t *testing.T, need time.Duration) {
	t.Helper()
	now := time.Now()
	if left := now.Truncate(time.Minute).Add(time.Minute).Sub(now); left < need {
		time.Sleep(left + 100*time.Millisecond)
	}
}

func TestRateLimits(t *testing.T) {
	e := newEnvWith(t, map[string]string{stack.EnvAppWritesPerMinute: "4", stack.EnvAppCredentialWritesPerMinute: "1"})
	app := newAppID()
	tok := token(t, []string{app})
	awayFromMinuteEnd(t, 20*time.Second)

	limited := func(t *testing.T, r result, what string) {
		t.Helper()
		code, _ := r.errCode(t)
		if r.status != http.StatusTooManyRequests || code != "rate_limited" || !strings.Contains(string(r.body), what) {
			t.Fatalf("got %d %s, want 429 rate_limited about %s", r.status, r.body, what)
		}
		secs, err := strconv.Atoi(r.headers.Get("Retry-After"))
		if left := time.Until(time.Now().Truncate(time.Minute).Add(time.Minute)); err != nil || secs < 1 || secs > 60 || time.Duration(secs)*time.Second < left {
			t.Fatalf("Retry-After %q with %v of the minute left", r.headers.Get("Retry-After"), left)
		}
	}
	id, _, _ := e.create(viaEvent, app, tok, nil) // write 1, credentials write 1
	path := itemPath(app, id)

	// Requests refused on their own are not counted: malformed, invalid, without If-Match.
	for _, c := range []call{
		{method: http.MethodPost, path: collectionPath(app), body: `{"name":`},
		{method: http.MethodPost, path: collectionPath(app), body: `{"name":"x"}`},
		{method: http.MethodPatch, path: path, body: `{"events":[]}`, headers: ifMatch("*")},
		{method: http.MethodPatch, path: path, body: `{"enabled":false}`},
		{method: http.MethodDelete, path: path},
	} {
		c.token = tok
		if r := e.do(viaHTTP, c); r.status == http.StatusTooManyRequests || r.status < 400 {
			t.Fatalf("%s %s: %d %s", c.method, c.body, r.status, r.body)
		}
	}
	// A second credentials write this minute is refused, as a create or a rotation.
	body, _, _ := e.createBody(nil)
	limited(t, e.do(viaHTTP, call{method: http.MethodPost, path: collectionPath(app), body: body, token: tok}), "credentials")
	key, secret := e.creds()
	rotation := `{"credentials":{"key":"` + key + `","secret":"` + secret + `"}}`
	limited(t, e.do(viaEvent, call{method: http.MethodPatch, path: path, body: rotation, token: tok, headers: ifMatch("*")}), "credentials")
	// Other writes go on until the app's writes are used up: writes 2 and 3, and a DELETE
	// of nothing (4).
	for _, enabled := range []string{"false", "true"} {
		if r := e.do(viaHTTP, call{method: http.MethodPatch, path: path, body: `{"enabled":` + enabled + `}`, token: tok, headers: ifMatch("*")}); r.status != http.StatusOK {
			t.Fatalf("patch: %d %s", r.status, r.body)
		}
	}
	if r := e.do(viaHTTP, call{method: http.MethodDelete, path: itemPath(app, uuid.NewString()), token: tok, headers: ifMatch("*")}); r.status != http.StatusNotFound {
		t.Fatalf("delete of nothing: %d %s", r.status, r.body)
	}
	limited(t, e.do(viaHTTP, call{method: http.MethodPatch, path: path, body: `{"enabled":false}`, token: tok, headers: ifMatch("*")}), "integrations")
	limited(t, e.do(viaEvent, call{method: http.MethodDelete, path: path, token: tok, headers: ifMatch("*")}), "integrations")
	// Nothing the refused writes asked for happened; reads go on; another app is not held up.
	it, err := e.item(app, id)
	if err != nil || !it.Enabled || it.Version != 3 {
		t.Fatalf("integration %+v (%v)", it, err)
	}
	for _, p := range []string{path, collectionPath(app)} {
		if r := e.do(viaEvent, call{method: http.MethodGet, path: p, token: tok}); r.status != http.StatusOK {
			t.Fatalf("read %s: %d", p, r.status)
		}
	}
	other := newAppID()
	e.create(viaHTTP, other, token(t, []string{other}), nil)
}

// A write whose count cannot be made is refused, not let through uncounted.
func TestRateLimitFailsClosed(t *testing.T) {
	e, f := faultyEnv(t)
	app := newAppID()
	tok := token(t, []string{app})
	id, _, _ := e.create(viaEvent, app, tok, nil)
	f.arm(windowUpdate)
	body, _, _ := e.createBody(nil)
	wantInternal(t, e.do(viaEvent, call{method: http.MethodPost, path: collectionPath(app), body: body, token: tok}), "internal_error")
	wantInternal(t, e.do(viaEvent, call{method: http.MethodPatch, path: itemPath(app, id), body: `{"enabled":false}`, token: tok, headers: ifMatch("*")}), "internal_error")
	wantInternal(t, e.do(viaEvent, call{method: http.MethodDelete, path: itemPath(app, id), token: tok, headers: ifMatch("*")}), "internal_error")
	if it, err := e.item(app, id); err != nil || it.Version != 1 || e.count(app) != 1 || len(e.secretIDs(app)) != 1 {
		t.Fatalf("a write went through: %+v %v", it, err)
	}
	if r := e.do(viaEvent, call{method: http.MethodGet, path: itemPath(app, id), token: tok}); r.status != http.StatusOK {
		t.Fatalf("read: %d", r.status)
	}
}

func TestAuditTrail(t *testing.T) {
	e := newEnv(t)
	app := newAppID()
	tok := token(t, []string{app}) // sub local-developer
	id, _, _ := e.create(viaEvent, app, tok, nil)
	other := signAs(t, app, "user-2")
	key, secret := e.creds()
	body := `{"name":"Renamed feed","credentials":{"key":"` + key + `","secret":"` + secret + `"}}`
	if r := e.do(viaHTTP, call{method: http.MethodPatch, path: itemPath(app, id), body: body, token: other, headers: ifMatch(`"1"`)}); r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	for _, tr := range transports {
		got := e.do(tr, call{method: http.MethodGet, path: itemPath(app, id), token: tok}).json(t)
		if got["created_by"] != "local-developer" || got["updated_by"] != "user-2" {
			t.Fatalf("over %s: created_by %v, updated_by %v", tr, got["created_by"], got["updated_by"])
		}
	}
	if r := e.do(viaHTTP, call{method: http.MethodDelete, path: itemPath(app, id), token: other, headers: ifMatch("*")}); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d", r.status)
	}
	logs := e.logs.String()
	for _, want := range []string{
		`"msg":"integration created","app_id":"` + app + `","integration_id":"` + id + `","by":"local-developer","fields":[`,
		`"msg":"integration changed","app_id":"` + app + `","integration_id":"` + id + `","by":"user-2","fields":["name","credentials"]`,
		`"msg":"integration deleted","app_id":"` + app + `","integration_id":"` + id + `","by":"user-2"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
	if strings.Contains(logs, "Renamed feed") {
		t.Error("a changed value was logged")
	}
}

// DELETE removes only a secret this stack created, for an integration that existed.
func TestDeleteTouchesOnlyOwnSecrets(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	app := newAppID()
	tok := token(t, []string{app})

	// A secret at the name of an id that has no integration, even one tagged as this
	// stack's: a DELETE of that id touches it not.
	never := uuid.NewString()
	if _, err := e.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(e.prefix + app + "/" + never), SecretString: aws.String(`{"key":"kkkkkkkk","secret":"ssssssss"}`),
		Tags: []smtypes.Tag{{Key: aws.String(stack.StackTag), Value: aws.String(testStack)}},
	}); err != nil {
		t.Fatal(err)
	}
	if r := e.do(viaEvent, call{method: http.MethodDelete, path: itemPath(app, never), token: tok, headers: ifMatch("*")}); r.status != http.StatusNotFound {
		t.Fatalf("delete of an id that never existed: %d %s", r.status, r.body)
	}
	if e.secretScheduledForDeletion(app, never) {
		t.Fatal("a DELETE of an id that never existed scheduled a secret's deletion")
	}

	// An integration whose secret another stack's tag names: the integration goes, the
	// secret stays, and that is logged.
	id, _, _ := e.create(viaEvent, app, tok, nil)
	if _, err := e.sm.TagResource(ctx, &secretsmanager.TagResourceInput{
		SecretId: aws.String(e.prefix + app + "/" + id),
		Tags:     []smtypes.Tag{{Key: aws.String(stack.StackTag), Value: aws.String("another-stack")}},
	}); err != nil {
		t.Fatal(err)
	}
	if r := e.do(viaEvent, call{method: http.MethodDelete, path: itemPath(app, id), token: tok, headers: ifMatch("*")}); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if e.secretScheduledForDeletion(app, id) {
		t.Fatal("another stack's secret was scheduled for deletion")
	}
	if !strings.Contains(e.logs.String(), "secret not deleted: not known to be this deployment's") {
		t.Fatal("the skipped secret was not logged")
	}
	// And the secret of one of its own is tagged with the stack and deleted.
	mine, _, _ := e.create(viaEvent, app, tok, nil)
	desc, err := e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(e.prefix + app + "/" + mine)})
	if err != nil {
		t.Fatal(err)
	}
	tagged := false
	for _, tg := range desc.Tags {
		tagged = tagged || aws.ToString(tg.Key) == stack.StackTag && aws.ToString(tg.Value) == testStack
	}
	if !tagged {
		t.Fatalf("secret tags %v lack %s=%s", desc.Tags, stack.StackTag, testStack)
	}
	if r := e.do(viaEvent, call{method: http.MethodDelete, path: itemPath(app, mine), token: tok, headers: ifMatch("*")}); r.status != http.StatusNoContent || !e.secretScheduledForDeletion(app, mine) {
		t.Fatalf("delete of its own: %d, secret scheduled %v", r.status, e.secretScheduledForDeletion(app, mine))
	}
}

// signAs returns a dev token for app with another subject.
func signAs(t *testing.T, app, sub string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": devauth.DevIssuer, "aud": devauth.DevAudience, "sub": sub, auth.ClaimAppIDs: []string{app},
		"exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(devKey)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
