package controlcenter

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/integration"
)

// failSandboxCreate fails the creation of sandbox secrets only.
type failSandboxCreate struct{ *memSecrets }

func (f failSandboxCreate) Create(ctx context.Context, appID, integrationID string, c feedcreds.Credentials) (SecretRef, error) {
	if strings.HasSuffix(integrationID, sandboxSecretSuffix) {
		f.enter("Create")
		return SecretRef{}, errInjected
	}
	return f.memSecrets.Create(ctx, appID, integrationID, c)
}

func separateInput() Input {
	in := validInput()
	in.Sandbox, in.SandboxCredentials = ptr("separate"), creds("sbx-00000001")
	return in
}

// TestSandboxSecretProtocol: the sandbox secret follows the main one's protocol: never a
// record naming a secret that does not exist, never a secret left that no record names
// (its deletion is scheduled), never changed credentials without the record naming them.
func TestSandboxSecretProtocol(t *testing.T) {
	ctx := context.Background()
	id := "00000000-0000-7000-8000-000000000001"

	t.Run("create writes both secrets, then the record", func(t *testing.T) {
		f := newFixture(t)
		got := f.create(t, separateInput())
		if got.Sandbox != integration.SandboxSeparate || got.SandboxSecretID != app+"/"+id+"/sandbox" || got.SandboxKeyHint != "0001" || got.SandboxKeyPod != "" {
			t.Fatalf("created %+v", got)
		}
		s := f.secrets.secrets[got.SandboxSecretID]
		if s == nil || s.current != got.SandboxSecretVersionID || s.versions[s.current].Key != "sbx-00000001" {
			t.Fatal("sandbox secret not written as the record says")
		}
	})

	t.Run("create: sandbox secret write fails", func(t *testing.T) {
		f := newFixture(t)
		f.svc.secrets = failSandboxCreate{f.secrets}
		d, err := ValidateCreate(separateInput())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Create(ctx, app, by, d); !errors.Is(err, errInjected) {
			t.Fatalf("err = %v", err)
		}
		if _, ok := f.store.item(app, id); ok {
			t.Fatal("a record was left")
		}
		if !f.secrets.isScheduled(app, id) {
			t.Error("the main secret was not scheduled for deletion")
		}
	})

	t.Run("create: record write fails", func(t *testing.T) {
		f := newFixture(t)
		f.store.fail["Create"] = errInjected
		d, err := ValidateCreate(separateInput())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Create(ctx, app, by, d); !errors.Is(err, errInjected) {
			t.Fatalf("err = %v", err)
		}
		if !f.secrets.isScheduled(app, id) || !f.secrets.isScheduled(app, sandboxSecretName(id)) {
			t.Error("a secret no record names was left")
		}
	})

	t.Run("patch: first sandbox secret, record write fails", func(t *testing.T) {
		f := newFixture(t)
		f.create(t, validInput())
		f.store.fail["Update"] = errInjected
		p := mustPatch(t, Input{Sandbox: ptr("separate"), SandboxCredentials: creds("sbx-00000002")})
		if _, err := f.svc.Update(ctx, app, id, by, anyVersion{}, p); !errors.Is(err, errInjected) {
			t.Fatalf("err = %v", err)
		}
		if !f.secrets.isScheduled(app, sandboxSecretName(id)) {
			t.Error("the new sandbox secret no record names was left")
		}
		if cur, _ := f.store.item(app, id); cur.SandboxSecretID != "" || cur.Sandbox != "" {
			t.Error("the record changed")
		}
	})

	t.Run("patch: rotation, record write fails", func(t *testing.T) {
		f := newFixture(t)
		before := f.create(t, separateInput())
		f.store.fail["Update"] = errInjected
		p := mustPatch(t, Input{SandboxCredentials: creds("sbx-00000003")})
		if _, err := f.svc.Update(ctx, app, id, by, anyVersion{}, p); !errors.Is(err, errInjected) {
			t.Fatalf("err = %v", err)
		}
		s := f.secrets.secrets[before.SandboxSecretID]
		if s.current != before.SandboxSecretVersionID {
			t.Error("the staged sandbox version was promoted without the record naming it")
		}
		if cur, _ := f.store.item(app, id); cur.SandboxSecretVersionID != before.SandboxSecretVersionID {
			t.Error("the record changed")
		}
	})

	t.Run("patch: rotation", func(t *testing.T) {
		f := newFixture(t)
		before := f.create(t, separateInput())
		got, err := f.svc.Update(ctx, app, id, by, anyVersion{}, mustPatch(t, Input{SandboxCredentials: creds("sbx-00000004")}))
		if err != nil {
			t.Fatal(err)
		}
		s := f.secrets.secrets[before.SandboxSecretID]
		if got.SandboxSecretID != before.SandboxSecretID || got.SandboxSecretVersionID == before.SandboxSecretVersionID ||
			s.current != got.SandboxSecretVersionID || got.SandboxKeyHint != "0004" || got.SecretVersionID != before.SecretVersionID {
			t.Fatalf("rotated %+v", got)
		}
		if !strings.Contains(f.logs.String(), `"sandbox_credentials"`) {
			t.Error("audit line does not name sandbox_credentials")
		}
	})

	t.Run("delete schedules both secrets", func(t *testing.T) {
		f := newFixture(t)
		f.create(t, separateInput())
		if err := f.svc.Delete(ctx, app, id, by, anyVersion{}); err != nil {
			t.Fatal(err)
		}
		if !f.secrets.isScheduled(app, id) || !f.secrets.isScheduled(app, sandboxSecretName(id)) {
			t.Error("a secret outlives its record")
		}
	})
}

// TestSandboxRules: which inputs the sandbox rules refuse, on their own and against the
// stored integration.
func TestSandboxRules(t *testing.T) {
	field := func(err error) string {
		var v *ValidationError
		if errors.As(err, &v) {
			return v.Field
		}
		return ""
	}
	creates := []struct {
		name string
		edit func(*Input)
		want string // the refused field, "" for accepted
	}{
		{"separate with credentials", func(*Input) {}, ""},
		{"separate without credentials", func(in *Input) { in.SandboxCredentials = nil }, "sandbox_credentials"},
		{"credentials with drop", func(in *Input) { in.Sandbox = ptr("drop") }, "sandbox_credentials"},
		{"credentials without a policy", func(in *Input) { in.Sandbox = nil }, "sandbox_credentials"},
		{"unknown policy", func(in *Input) { in.Sandbox = ptr("prod") }, "sandbox"},
		{"unknown missing id policy", func(in *Input) { in.MissingCustomerID = ptr("drop") }, "missing_customer_id"},
		{"sandbox key of another pod", func(in *Input) { in.Pod, in.SandboxCredentials = ptr("EU1"), creds("us2-00000001") }, "pod"},
		{"sandbox secret too short", func(in *Input) { in.SandboxCredentials = &feedcreds.Credentials{Key: "sbx-00000001", Secret: "x"} }, "sandbox_credentials.secret"},
	}
	for _, tt := range creates {
		t.Run("create/"+tt.name, func(t *testing.T) {
			in := separateInput()
			tt.edit(&in)
			_, err := ValidateCreate(in)
			if field(err) != tt.want || (tt.want == "" && err != nil) {
				t.Fatalf("err = %v, want a refusal of %q", err, tt.want)
			}
		})
	}

	patches := []struct {
		name   string
		stored Input
		patch  Input
		want   string
	}{
		{"to separate without credentials", validInput(), Input{Sandbox: ptr("separate")}, "sandbox_credentials"},
		{"credentials on development", validInput(), Input{SandboxCredentials: creds("sbx-00000009")}, "sandbox_credentials"},
		{"leaving separate with credentials", separateInput(), Input{Sandbox: ptr("drop"), SandboxCredentials: creds("sbx-00000009")}, "sandbox_credentials"},
		{"pod against the stored sandbox key", func() Input { in := separateInput(); in.SandboxCredentials = creds("us2-00000001"); return in }(), Input{Pod: ptr("EU1")}, "pod"},
		{"leaving separate", separateInput(), Input{Sandbox: ptr("drop")}, ""},
		{"rotating on separate", separateInput(), Input{SandboxCredentials: creds("sbx-00000009")}, ""},
	}
	for _, tt := range patches {
		t.Run("patch/"+tt.name, func(t *testing.T) {
			f := newFixture(t)
			stored := f.create(t, tt.stored)
			// Refused on its own (ValidatePatch) or against the stored integration (Update).
			p, err := ValidatePatch(tt.patch)
			if err == nil {
				_, err = f.svc.Update(context.Background(), app, stored.ID, by, anyVersion{}, p)
			}
			if field(err) != tt.want || (tt.want == "" && err != nil) {
				t.Fatalf("err = %v, want a refusal of %q", err, tt.want)
			}
		})
	}
}
