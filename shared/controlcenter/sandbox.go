package controlcenter

import (
	"context"
	"fmt"

	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/integration"
)

// The sandbox credentials (sandbox policy "separate") are a second secret kept by the same
// protocol as the main one (see the package comment): written before the record that names
// it on create; staged, named by the record, then promoted on rotation; deleted with the
// integration. The rules on the key (printable, its pod prefix against the pod) are the
// main key's.

// sandboxSecretSuffix makes the sandbox secret's name from the integration's: the Secrets
// port names a secret by app and integration id, so the sandbox secret is
// <prefix><app>/<id>/sandbox, under the same prefix and tagged like the main one.
const sandboxSecretSuffix = "/sandbox"

func sandboxSecretName(id string) string { return id + sandboxSecretSuffix }

// checkSandboxCredentials validates what the request says of the sandbox credentials on
// its own: the value, and on create that they come with sandbox separate and only then.
// The pod check against the request's pod is done here too; the rest, which depends on
// what is stored, in applySandbox.
func checkSandboxCredentials(in Input, c *change, creating bool) error {
	if in.SandboxCredentials != nil {
		if err := checkCredentialsNamed("sandbox_credentials", *in.SandboxCredentials); err != nil {
			return err
		}
		c.SandboxCredentials = in.SandboxCredentials
		if c.Sandbox != nil && *c.Sandbox != integration.SandboxSeparate {
			return sandboxCredentialsRefused()
		}
		if creating && c.Sandbox == nil {
			return sandboxCredentialsRefused()
		}
		if c.Pod != nil {
			if err := checkKeyPod(*c.Pod, keyPod(c.SandboxCredentials.Key)); err != nil {
				return err
			}
		}
	}
	if creating && c.Sandbox != nil && *c.Sandbox == integration.SandboxSeparate && c.SandboxCredentials == nil {
		return sandboxCredentialsRequired()
	}
	return nil
}

// applySandbox enforces the sandbox rules that depend on the stored integration (base):
// credentials only for separate; switching to separate needs them (the customer says
// which development input receives the sandbox events, even if an earlier key is stored);
// the sandbox key's pod agrees with the pod.
func applySandbox(out *integration.Integration, base integration.Integration, c change) error {
	if c.SandboxCredentials != nil && out.Sandbox != integration.SandboxSeparate {
		return sandboxCredentialsRefused()
	}
	if out.Sandbox == integration.SandboxSeparate && base.Sandbox != integration.SandboxSeparate && c.SandboxCredentials == nil {
		return sandboxCredentialsRequired()
	}
	if c.SandboxCredentials != nil {
		out.SandboxKeyPod = keyPod(c.SandboxCredentials.Key)
	}
	if out.Sandbox == integration.SandboxSeparate && (c.Pod != nil || c.SandboxCredentials != nil) {
		return checkKeyPod(out.Pod, out.SandboxKeyPod)
	}
	return nil
}

func sandboxCredentialsRequired() *ValidationError {
	return invalid("sandbox_credentials", "sandbox_credentials is required with sandbox %s: the key and secret of the development input that receives sandbox events",
		integration.SandboxSeparate)
}

func sandboxCredentialsRefused() *ValidationError {
	return invalid("sandbox_credentials", "sandbox_credentials is only valid with sandbox %s", integration.SandboxSeparate)
}

// createSandboxSecret stores the sandbox credentials of a new integration (next), before
// its record, and points next at them.
func (s *Service) createSandboxSecret(ctx context.Context, next *integration.Integration, c feedcreds.Credentials) error {
	ref, err := s.secrets.Create(ctx, next.AppID, sandboxSecretName(next.ID), c)
	if err != nil {
		return fmt.Errorf("controlcenter: store the sandbox credentials of %s/%s: %w", next.AppID, next.ID, err)
	}
	next.SandboxSecretID, next.SandboxSecretVersionID = ref.ID, ref.VersionID
	next.SandboxKeyHint = keyHint(c.Key)
	return nil
}

// sandboxRotation is the sandbox credentials' part of one Update: written once, whatever
// the number of attempts at the record write.
type sandboxRotation struct {
	created bool // a first sandbox secret was created (the integration had none)
	ref     SecretRef
	staged  string // the new version of an existing sandbox secret
}

// write creates the integration's first sandbox secret, or stages a new version of it,
// unless an earlier attempt of the same Update did.
func (r *sandboxRotation) write(ctx context.Context, s *Service, cur integration.Integration, c feedcreds.Credentials) error {
	if r.created || r.staged != "" {
		return nil
	}
	if cur.SandboxSecretID == "" {
		ref, err := s.secrets.Create(ctx, cur.AppID, sandboxSecretName(cur.ID), c)
		if err != nil {
			// The secret may exist even though the call failed (e.g. a lost response).
			s.discardSandboxSecret(ctx, cur.AppID, cur.ID)
			return fmt.Errorf("controlcenter: store the sandbox credentials of %s/%s: %w", cur.AppID, cur.ID, err)
		}
		r.created, r.ref = true, ref
		return nil
	}
	staged, err := s.secrets.Stage(ctx, cur.SandboxSecretID, c)
	if err != nil {
		return fmt.Errorf("controlcenter: stage the sandbox credentials of %s/%s: %w", cur.AppID, cur.ID, err)
	}
	r.staged = staged
	return nil
}

// point makes next name the written credentials.
func (r *sandboxRotation) point(next *integration.Integration, cur integration.Integration, c feedcreds.Credentials) {
	if r.created {
		next.SandboxSecretID, next.SandboxSecretVersionID = r.ref.ID, r.ref.VersionID
	} else {
		next.SandboxSecretID, next.SandboxSecretVersionID = cur.SandboxSecretID, r.staged
	}
	next.SandboxKeyHint = keyHint(c.Key)
}

// failed undoes what the record does not name: a created secret is discarded; a staged
// version is left unused, like the main credentials'.
func (r *sandboxRotation) failed(ctx context.Context, s *Service, appID, id string) {
	if r.created {
		s.discardSandboxSecret(ctx, appID, id)
	}
}

// done promotes a staged version the record now names.
func (r *sandboxRotation) done(ctx context.Context, s *Service, cur integration.Integration) {
	if r.staged == "" {
		return
	}
	if err := s.secrets.Promote(ctx, cur.SandboxSecretID, r.staged); err != nil {
		s.log.ErrorContext(ctx, "new sandbox credentials saved but not promoted to AWSCURRENT",
			"app_id", cur.AppID, "integration_id", cur.ID, "secret_version_id", r.staged, "error", err.Error())
	}
}

// discardSandboxSecret schedules the deletion of sandbox credentials no record names.
func (s *Service) discardSandboxSecret(ctx context.Context, appID, id string) {
	if err := s.deleteSecret(ctx, appID, sandboxSecretName(id)); err != nil {
		s.log.ErrorContext(ctx, "unreferenced sandbox secret left behind", "app_id", appID, "integration_id", id, "error", err.Error())
	}
}

// withSandboxCredentials adds "sandbox_credentials" to an audit line's fields when the
// change wrote them.
func withSandboxCredentials(fields []string, c change) []string {
	if c.SandboxCredentials != nil {
		return append(fields, "sandbox_credentials")
	}
	return fields
}
