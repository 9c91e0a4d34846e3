package api_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// TestPodOnPatch: a pod and a key that contradict each other are refused whichever of the
// two a PATCH changes, and null or "" moves an integration to the partner endpoint.
func TestPodOnPatch(t *testing.T) {
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			e := newEnv(t)
			app := newAppID()
			tok := token(t, []string{app})
			us2Key, us2Secret := e.credsWithPrefix("us2-")
			id, _, _ := e.create(tr, app, tok, map[string]any{"credentials": map[string]string{"key": us2Key, "secret": us2Secret}})
			version := 1
			patch := func(body string) result {
				t.Helper()
				r := e.do(tr, call{method: http.MethodPatch, path: itemPath(app, id), body: body, token: tok, headers: ifMatch(fmt.Sprintf(`"%d"`, version))})
				if r.status == http.StatusOK {
					version++
				}
				return r
			}
			eu1Key, eu1Secret := e.credsWithPrefix("eu1-")
			eu1Creds := fmt.Sprintf(`"credentials":{"key":%q,"secret":%q}`, eu1Key, eu1Secret)
			plainKey, plainSecret := e.creds()
			plainCreds := fmt.Sprintf(`"credentials":{"key":%q,"secret":%q}`, plainKey, plainSecret)
			steps := []struct {
				name     string
				body     string
				want     int
				pod      any // response pod after a 200
				endpoint string
			}{
				{"pod that contradicts the stored key", `{"pod":"EU1"}`, 422, nil, ""},
				{"pod of the stored key", `{"pod":"us2"}`, 200, "US2", "pod"},
				{"key of another pod", `{` + eu1Creds + `}`, 422, nil, ""},
				{"key and pod contradicting in one body", `{"pod":"US2",` + eu1Creds + `}`, 422, nil, ""},
				{"key of another pod with the partner endpoint", `{"pod":null,` + eu1Creds + `}`, 200, nil, "partner"},
				{"pod of the new key", `{"pod":"EU1"}`, 200, "EU1", "pod"},
				{"other members leave the pod alone", `{"name":"renamed"}`, 200, "EU1", "pod"},
				{"key without a pod prefix fits any pod", `{` + plainCreds + `}`, 200, "EU1", "pod"},
				{"then any pod", `{"pod":"AU1"}`, 200, "AU1", "pod"},
				{"empty pod is the partner endpoint", `{"pod":""}`, 200, nil, "partner"},
				{"unknown pod", `{"pod":"XX1"}`, 422, nil, ""},
			}
			for _, st := range steps {
				before, _ := e.item(app, id)
				r := patch(st.body)
				if r.status != st.want {
					t.Fatalf("%s: %d %s, want %d", st.name, r.status, r.body, st.want)
				}
				if st.want != http.StatusOK {
					if code, field := r.errCode(t); code != "validation_failed" || field != "pod" {
						t.Fatalf("%s: %s", st.name, r.body)
					}
					if after, _ := e.item(app, id); after.Version != before.Version {
						t.Fatalf("%s: refused PATCH changed the integration", st.name)
					}
					continue
				}
				validRequest(t, http.MethodPatch, itemPath(app, id), st.body)
				got := r.json(t)
				if got["pod"] != st.pod || got["endpoint"] != st.endpoint {
					t.Fatalf("%s: pod %v endpoint %v, want %v %v", st.name, got["pod"], got["endpoint"], st.pod, st.endpoint)
				}
			}
			// What the Forwarder reads: "" for the partner endpoint.
			if it, err := e.item(app, id); err != nil || it.Pod != mparticle.PodPartner || it.KeyPod != "" {
				t.Fatalf("stored pod %q key pod %q (%v)", it.Pod, it.KeyPod, err)
			}
		})
	}
}

// TestStoredPodBeforeThePartnerDefault: integrations saved when US1 was the default keep
// their pod, read and update as before, and can move to the partner endpoint.
func TestStoredPodBeforeThePartnerDefault(t *testing.T) {
	e := newEnv(t)
	app := newAppID()
	tok := token(t, []string{app})
	// Such an item names US1 and has no key_pod, whatever its key (here one of US2's:
	// nothing checked it then).
	us2Key, us2Secret := e.credsWithPrefix("us2-")
	id, _, _ := e.create(viaEvent, app, tok, map[string]any{"credentials": map[string]string{"key": us2Key, "secret": us2Secret}})
	old, err := e.item(app, id)
	if err != nil {
		t.Fatal(err)
	}
	old.Pod, old.KeyPod = mparticle.PodUS1, ""
	if err := e.store.Update(context.Background(), &old, 1); err != nil {
		t.Fatal(err)
	}
	for _, tr := range transports {
		r := e.do(tr, call{method: http.MethodGet, path: itemPath(app, id), token: tok})
		if got := r.json(t); r.status != http.StatusOK || got["pod"] != "US1" || got["endpoint"] != "pod" {
			t.Fatalf("%s read: %d %s", tr, r.status, r.body)
		}
	}
	version := 2
	patch := func(body string) result {
		t.Helper()
		r := e.do(viaHTTP, call{method: http.MethodPatch, path: itemPath(app, id), body: body, token: tok, headers: ifMatch(fmt.Sprintf(`"%d"`, version))})
		if r.status == http.StatusOK {
			version++
		}
		return r
	}
	// Edits that touch neither pod nor key are not held to a check the item predates.
	if r := patch(`{"name":"still US1","enabled":false}`); r.status != http.StatusOK || r.json(t)["pod"] != "US1" {
		t.Fatalf("edit: %d %s", r.status, r.body)
	}
	if it, _ := e.item(app, id); it.Pod != mparticle.PodUS1 {
		t.Fatalf("stored pod %q after an unrelated edit", it.Pod)
	}
	// A new key is checked against the stored pod.
	if r := patch(fmt.Sprintf(`{"credentials":{"key":%q,"secret":%q}}`, us2Key, us2Secret)); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("us2 key with stored pod US1: %d %s", r.status, r.body)
	}
	// Moving to the partner endpoint.
	r := patch(`{"pod":null}`)
	if got := r.json(t); r.status != http.StatusOK || got["pod"] != nil || got["endpoint"] != "partner" {
		t.Fatalf("to partner: %d %s", r.status, r.body)
	}
	if it, _ := e.item(app, id); it.Pod != mparticle.PodPartner {
		t.Fatalf("stored pod %q after moving to the partner endpoint", it.Pod)
	}
}
