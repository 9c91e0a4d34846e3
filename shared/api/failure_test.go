package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/namiml/mparticle-bridge/shared/integrationstore"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

// errInjected is what a failing AWS call returns; its text must never reach a client.
var errInjected = errors.New("injected failure: connection reset by peer")

// faults fails chosen AWS operations, by name, while armed.
type faults struct {
	mu   sync.Mutex
	fail map[string]bool
	// before runs (once) before the named operation reaches moto.
	before map[string]func()
}

func (f *faults) arm(ops ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail == nil {
		f.fail = map[string]bool{}
	}
	for _, op := range ops {
		f.fail[op] = true
	}
}

func (f *faults) disarm() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = nil
}

func (f *faults) check(op string) error {
	f.mu.Lock()
	hook := f.before[op]
	delete(f.before, op)
	failing := f.fail[op]
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	if failing {
		return errInjected
	}
	return nil
}

// inject is a newEnv option: the handler's AWS calls go through check, by operation name,
// before the SDK sends them (and so before its retries). The update that counts a write in
// the app's rate-limit window is named windowUpdate, so that "UpdateItem" is an
// integration's.
func (f *faults) inject(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("injectFaults",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				op := awsmiddleware.GetOperationName(ctx)
				if u, ok := in.Parameters.(*dynamodb.UpdateItemInput); ok {
					if sk, ok := u.Key["sk"].(*ddbtypes.AttributeValueMemberS); ok && strings.HasPrefix(sk.Value, "RATE#") {
						op = windowUpdate
					}
				}
				if err := f.check(op); err != nil {
					return middleware.InitializeOutput{}, middleware.Metadata{}, err
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	})
}

// windowUpdate names the UpdateItem that counts a write in the app's rate-limit window.
const windowUpdate = "UpdateItem(window)"

// faultyEnv is an env whose AWS calls fail when armed. Faults come before the serialised
// writes, so a hook may itself write through the handler.
func faultyEnv(t *testing.T) (*env, *faults) {
	f := &faults{before: map[string]func(){}}
	return newEnv(t, f.inject, testenv.AtomicWrites), f
}

// wantInternal checks a 500 that says nothing about the cause.
func wantInternal(t *testing.T, r result, code string) {
	t.Helper()
	got, _ := r.errCode(t)
	if r.status != http.StatusInternalServerError || got != code {
		t.Fatalf("got %d %s, want 500 %s", r.status, r.body, code)
	}
	if strings.Contains(string(r.body), "injected") || strings.Contains(string(r.body), "connection reset") {
		t.Fatalf("internal error text reached the client: %s", r.body)
	}
}

func (e *env) count(app string) int {
	e.t.Helper()
	all, err := e.store.ListByApp(context.Background(), app)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(all)
}

func TestCreateFailures(t *testing.T) {
	t.Run("secret write fails: nothing is stored", func(t *testing.T) {
		e, f := faultyEnv(t)
		app := newAppID()
		f.arm("CreateSecret")
		body, _, _ := e.createBody(nil)
		r := e.do(viaHTTP, call{method: http.MethodPost, path: collectionPath(app), body: body, token: token(t, []string{app})})
		wantInternal(t, r, "internal_error")
		if n := e.count(app); n != 0 {
			t.Fatalf("%d items after a failed create", n)
		}
		if !strings.Contains(e.logs.String(), "injected failure") {
			t.Fatal("the cause was not logged")
		}
	})

	t.Run("item write fails: the secret is scheduled for deletion", func(t *testing.T) {
		e, f := faultyEnv(t)
		app := newAppID()
		f.arm("TransactWriteItems")
		body, _, _ := e.createBody(nil)
		r := e.do(viaEvent, call{method: http.MethodPost, path: collectionPath(app), body: body, token: token(t, []string{app})})
		wantInternal(t, r, "internal_error")
		if n := e.count(app); n != 0 {
			t.Fatalf("%d items after a failed create", n)
		}
		ids := e.secretIDs(app)
		if len(ids) != 1 {
			t.Fatalf("%d secrets for the app, want the one created", len(ids))
		}
		if !e.secretScheduledForDeletion(app, ids[0]) {
			t.Fatal("the unreferenced secret was not scheduled for deletion")
		}
	})

	t.Run("item write and cleanup fail: an unreferenced secret is logged", func(t *testing.T) {
		e, f := faultyEnv(t)
		app := newAppID()
		tok := token(t, []string{app})
		f.arm("TransactWriteItems", "DeleteSecret")
		body, _, _ := e.createBody(nil)
		r := e.do(viaEvent, call{method: http.MethodPost, path: collectionPath(app), body: body, token: tok})
		wantInternal(t, r, "internal_error")
		if !strings.Contains(e.logs.String(), "unreferenced secret left behind") {
			t.Fatal("leftover secret not logged")
		}
		// The leftover is invisible through the API, and the next create works.
		f.disarm()
		if r := e.do(viaEvent, call{method: http.MethodGet, path: collectionPath(app), token: tok}); strings.Contains(string(r.body), `"id"`) {
			t.Fatalf("leftover visible: %s", r.body)
		}
		e.create(viaEvent, app, tok, nil)
		if n := e.count(app); n != 1 {
			t.Fatalf("%d items", n)
		}
	})
}

func TestRotationFailures(t *testing.T) {
	setup := func(t *testing.T) (*env, *faults, string, string, string, string) {
		e, f := faultyEnv(t)
		app := newAppID()
		tok := token(t, []string{app})
		id, key, _ := e.create(viaEvent, app, tok, nil)
		return e, f, app, tok, id, key
	}
	rotate := func(e *env, app, tok, id string) (result, string, string) {
		key, secret := e.creds()
		body := fmt.Sprintf(`{"name":"rotated","credentials":{"key":%q,"secret":%q}}`, key, secret)
		r := e.do(viaEvent, call{method: http.MethodPatch, path: itemPath(app, id), body: body, token: tok,
			headers: map[string]string{"If-Match": `"1"`}})
		return r, key, secret
	}
	unchanged := func(t *testing.T, e *env, app, id, oldKey string) {
		t.Helper()
		it, err := e.item(app, id)
		if err != nil {
			t.Fatal(err)
		}
		if it.Version != 1 || it.Name != "iOS feed" || it.KeyHint != oldKey[len(oldKey)-4:] {
			t.Fatalf("item changed: v%d %q hint %q", it.Version, it.Name, it.KeyHint)
		}
		for _, v := range []string{"", it.SecretVersionID} {
			if k, _, err := e.secretValue(it.SecretID, v); err != nil || k != oldKey {
				t.Fatalf("secret (version %q) no longer holds the old credentials (err %v)", v, err)
			}
		}
	}

	t.Run("staging the new value fails: nothing changes", func(t *testing.T) {
		e, f, app, tok, id, oldKey := setup(t)
		f.arm("PutSecretValue")
		r, _, _ := rotate(e, app, tok, id)
		wantInternal(t, r, "internal_error")
		unchanged(t, e, app, id, oldKey)
	})

	t.Run("item write fails: the staged value is never made current", func(t *testing.T) {
		e, f, app, tok, id, oldKey := setup(t)
		f.arm("UpdateItem")
		r, _, _ := rotate(e, app, tok, id)
		wantInternal(t, r, "internal_error")
		unchanged(t, e, app, id, oldKey)
	})

	t.Run("lost race after staging: 412 and the winner's credentials stay", func(t *testing.T) {
		e, f, app, tok, id, _ := setup(t)
		var winnerKey string
		// Just before this PATCH's conditional write, another PATCH completes.
		f.before["UpdateItem"] = func() {
			var r result
			r, winnerKey, _ = rotate(e, app, tok, id)
			if r.status != http.StatusOK {
				t.Errorf("competing PATCH: %d %s", r.status, r.body)
			}
		}
		r, _, _ := rotate(e, app, tok, id)
		if code, _ := r.errCode(t); r.status != http.StatusPreconditionFailed || code != "precondition_failed" {
			t.Fatalf("loser: %d %s", r.status, r.body)
		}
		it, _ := e.item(app, id)
		if it.Version != 2 || it.KeyHint != winnerKey[len(winnerKey)-4:] {
			t.Fatalf("item v%d hint %q", it.Version, it.KeyHint)
		}
		for _, v := range []string{"", it.SecretVersionID} {
			if k, _, err := e.secretValue(it.SecretID, v); err != nil || k != winnerKey {
				t.Fatalf("secret (version %q) does not hold the winner's credentials (err %v)", v, err)
			}
		}
	})

	t.Run("lost race with If-Match *: the change is applied to the winner's version", func(t *testing.T) {
		e, f, app, tok, id, _ := setup(t)
		f.before["UpdateItem"] = func() {
			r := e.do(viaEvent, call{method: http.MethodPatch, path: itemPath(app, id), body: `{"enabled":false}`, token: tok, headers: ifMatch(`"1"`)})
			if r.status != http.StatusOK {
				t.Errorf("competing PATCH: %d %s", r.status, r.body)
			}
		}
		key, secret := e.creds()
		body := fmt.Sprintf(`{"name":"star","credentials":{"key":%q,"secret":%q}}`, key, secret)
		r := e.do(viaEvent, call{method: http.MethodPatch, path: itemPath(app, id), body: body, token: tok, headers: ifMatch("*")})
		if r.status != http.StatusOK || r.headers.Get("ETag") != `"3"` {
			t.Fatalf("%d %s", r.status, r.body)
		}
		it, _ := e.item(app, id)
		if it.Version != 3 || it.Name != "star" || it.Enabled || it.KeyHint != key[len(key)-4:] {
			t.Fatalf("item v%d %q enabled %v: one of the two changes is lost", it.Version, it.Name, it.Enabled)
		}
		for _, v := range []string{"", it.SecretVersionID} {
			if k, _, err := e.secretValue(it.SecretID, v); err != nil || k != key {
				t.Fatalf("secret (version %q) does not hold the new credentials (err %v)", v, err)
			}
		}
	})

	t.Run("lost race for DELETE: 412, nothing deleted", func(t *testing.T) {
		e, f, app, tok, id, _ := setup(t)
		f.before["TransactWriteItems"] = func() {
			if r := e.do(viaEvent, call{method: http.MethodPatch, path: itemPath(app, id), body: `{"enabled":false}`, token: tok, headers: ifMatch(`"1"`)}); r.status != http.StatusOK {
				t.Errorf("competing PATCH: %d %s", r.status, r.body)
			}
		}
		r := e.do(viaEvent, call{method: http.MethodDelete, path: itemPath(app, id), token: tok, headers: ifMatch(`"1"`)})
		if code, _ := r.errCode(t); r.status != http.StatusPreconditionFailed || code != "precondition_failed" || r.headers.Get("ETag") != `"2"` {
			t.Fatalf("%d %s (ETag %q)", r.status, r.body, r.headers.Get("ETag"))
		}
		if it, err := e.item(app, id); err != nil || it.Version != 2 || e.secretScheduledForDeletion(app, id) {
			t.Fatalf("integration v%d (%v) or its secret touched", it.Version, err)
		}
	})

	t.Run("promotion fails: the item names the new version and the change stands", func(t *testing.T) {
		e, f, app, tok, id, _ := setup(t)
		f.arm("UpdateSecretVersionStage")
		r, newKey, newSecret := rotate(e, app, tok, id)
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		it, _ := e.item(app, id)
		if k, s, err := e.secretValue(it.SecretID, it.SecretVersionID); err != nil || k != newKey || s != newSecret {
			t.Fatalf("the item's version does not hold the new credentials (err %v)", err)
		}
		if !strings.Contains(e.logs.String(), "not promoted to AWSCURRENT") {
			t.Fatal("failed promotion not logged")
		}
		// The next rotation promotes again from wherever AWSCURRENT is.
		f.disarm()
		key3, secret3 := e.creds()
		body := fmt.Sprintf(`{"credentials":{"key":%q,"secret":%q}}`, key3, secret3)
		r = e.do(viaEvent, call{method: http.MethodPatch, path: itemPath(app, id), body: body, token: tok,
			headers: map[string]string{"If-Match": `"2"`}})
		if r.status != http.StatusOK {
			t.Fatalf("next rotation: %d %s", r.status, r.body)
		}
		it, _ = e.item(app, id)
		if k, _, err := e.secretValue(it.SecretID, ""); err != nil || k != key3 {
			t.Fatalf("AWSCURRENT after the next rotation (err %v)", err)
		}
	})
}

func TestDeleteFailures(t *testing.T) {
	t.Run("item delete fails: nothing changes", func(t *testing.T) {
		e, f := faultyEnv(t)
		app := newAppID()
		tok := token(t, []string{app})
		id, key, _ := e.create(viaEvent, app, tok, nil)
		f.arm("TransactWriteItems")
		wantInternal(t, e.do(viaHTTP, call{method: http.MethodDelete, path: itemPath(app, id), token: tok, headers: ifMatch(`"1"`)}), "internal_error")
		it, err := e.item(app, id)
		if err != nil {
			t.Fatalf("item gone: %v", err)
		}
		if k, _, err := e.secretValue(it.SecretID, ""); err != nil || k != key {
			t.Fatalf("secret touched: %v", err)
		}
	})

	t.Run("secret cleanup fails: 500, and a retry answers 404 and finishes it", func(t *testing.T) {
		e, f := faultyEnv(t)
		app := newAppID()
		tok := token(t, []string{app})
		id, _, _ := e.create(viaEvent, app, tok, nil)
		f.arm("DeleteSecret")
		wantInternal(t, e.do(viaHTTP, call{method: http.MethodDelete, path: itemPath(app, id), token: tok, headers: ifMatch(`"1"`)}), "cleanup_pending")
		if _, err := e.item(app, id); !errors.Is(err, integrationstore.ErrNotFound) {
			t.Fatalf("item still there: %v", err)
		}
		if e.secretScheduledForDeletion(app, id) {
			t.Fatal("secret scheduled although the call failed")
		}
		f.disarm()
		if r := e.do(viaHTTP, call{method: http.MethodDelete, path: itemPath(app, id), token: tok, headers: ifMatch(`"1"`)}); r.status != http.StatusNotFound {
			t.Fatalf("retry: %d %s", r.status, r.body)
		}
		if !e.secretScheduledForDeletion(app, id) {
			t.Fatal("the retried DELETE did not schedule the orphaned secret's deletion")
		}
	})

	t.Run("store read fails: 500 without details", func(t *testing.T) {
		e, f := faultyEnv(t)
		app := newAppID()
		tok := token(t, []string{app})
		id, _, _ := e.create(viaEvent, app, tok, nil)
		f.arm("GetItem", "Query")
		wantInternal(t, e.do(viaEvent, call{method: http.MethodGet, path: itemPath(app, id), token: tok}), "internal_error")
		wantInternal(t, e.do(viaEvent, call{method: http.MethodGet, path: collectionPath(app), token: tok}), "internal_error")
		wantInternal(t, e.do(viaEvent, call{method: http.MethodPatch, path: itemPath(app, id), token: tok, body: `{"name":"x"}`,
			headers: map[string]string{"If-Match": `"1"`}}), "internal_error")
	})
}

// secretIDs lists the integration ids that have a secret under the env's prefix for app.
func (e *env) secretIDs(app string) []string {
	e.t.Helper()
	out, err := e.sm.ListSecrets(context.Background(), &secretsmanager.ListSecretsInput{
		IncludePlannedDeletion: ptr(true),
		Filters:                []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{e.prefix + app + "/"}}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, s := range out.SecretList {
		if rest, ok := strings.CutPrefix(*s.Name, e.prefix+app+"/"); ok {
			ids = append(ids, rest)
		}
	}
	return ids
}

func ptr[T any](v T) *T { return &v }
