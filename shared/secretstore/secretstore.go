// Package secretstore keeps each integration's mParticle credentials in Secrets Manager:
// one secret per integration, named <prefix><app_id>/<integration_id>, holding
// {"key":"...","secret":"..."}. The Integrations API writes them through a Store; the
// Forwarder reads them through a Cache. Values are never logged or returned in errors, and
// the API never reads them back.
//
// Versions: a new value is first staged under a private label (invisible to readers of
// AWSCURRENT), the integration item is then pointed at that exact version with a
// conditional write, and only then is the version promoted to AWSCURRENT. The item's
// version id is therefore the source of truth; AWSCURRENT follows it.
//
// Ownership: every secret is tagged with the stack that created it (stack.StackTag), and a
// Store deletes only its own stack's secrets; stacks may share an account, and a prefix.
package secretstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/stack"
)

// SecretsManager is the part of the Secrets Manager client the Store uses.
type SecretsManager interface {
	CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	DeleteSecret(ctx context.Context, in *secretsmanager.DeleteSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error)
}

const (
	// StageCurrent is the label readers use by default.
	StageCurrent = "AWSCURRENT"
	// StagePending labels a staged value that no integration item points at yet.
	StagePending = "NAMI_PENDING"
	// RecoveryWindowDays is how long a deleted integration's secret can still be restored.
	RecoveryWindowDays = 7
	// Tag keys on every secret, so an orphan can be traced to its app and integration.
	TagAppID         = "app_id"
	TagIntegrationID = "integration_id"
)

// ErrNotThisStack: ScheduleDelete found a secret that this Store's stack did not create (its
// stack tag names another stack, or none), or one it may not look at; it left it alone.
var ErrNotThisStack = errors.New("secretstore: the secret is not this stack's")

// Ref names a stored value: the secret's ARN and the version holding the value.
type Ref struct {
	ARN       string
	VersionID string
}

// Store writes the integration secrets of one stack under a name prefix.
type Store struct {
	sm        SecretsManager
	prefix    string
	stackName string
}

// New returns a store writing the secrets of the stack stackName (stack.DefaultName if
// empty) named prefix+app/id (prefix stack.SecretsPrefixFor(stackName) if empty).
func New(sm SecretsManager, prefix, stackName string) *Store {
	if stackName == "" {
		stackName = stack.DefaultName
	}
	if prefix == "" {
		prefix = stack.SecretsPrefixFor(stackName)
	}
	return &Store{sm: sm, prefix: prefix, stackName: stackName}
}

// Name returns the secret name of an integration.
func (s *Store) Name(appID, integrationID string) string {
	return s.prefix + appID + "/" + integrationID
}

// Create stores the first value of an integration's secret, tagged with its stack, app and id.
func (s *Store) Create(ctx context.Context, appID, integrationID string, c feedcreds.Credentials) (Ref, error) {
	secretValue, err := encode(c)
	if err != nil {
		return Ref{}, err
	}
	version := uuid.NewString()
	out, err := s.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:               aws.String(s.Name(appID, integrationID)),
		ClientRequestToken: aws.String(version),
		SecretString:       aws.String(secretValue),
		Description:        aws.String("mParticle server-to-server credentials of one Nami integration"),
		Tags: []types.Tag{
			{Key: aws.String(stack.StackTag), Value: aws.String(s.stackName)},
			{Key: aws.String(TagAppID), Value: aws.String(appID)},
			{Key: aws.String(TagIntegrationID), Value: aws.String(integrationID)},
		},
	})
	if err != nil {
		return Ref{}, fmt.Errorf("secretstore: create secret %s: %w", s.Name(appID, integrationID), err)
	}
	ref := Ref{ARN: aws.ToString(out.ARN), VersionID: aws.ToString(out.VersionId)}
	if ref.VersionID == "" {
		ref.VersionID = version
	}
	return ref, nil
}

// Stage adds a new value to a secret without making it current, and returns its version id.
// Until Promote runs, readers of AWSCURRENT keep the previous value.
func (s *Store) Stage(ctx context.Context, secretID string, c feedcreds.Credentials) (string, error) {
	secretValue, err := encode(c)
	if err != nil {
		return "", err
	}
	version := uuid.NewString()
	out, err := s.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(secretID),
		ClientRequestToken: aws.String(version),
		SecretString:       aws.String(secretValue),
		VersionStages:      []string{StagePending},
	})
	if err != nil {
		return "", fmt.Errorf("secretstore: stage new value of %s: %w", secretID, err)
	}
	if v := aws.ToString(out.VersionId); v != "" {
		version = v
	}
	return version, nil
}

// Promote makes versionID the secret's AWSCURRENT value. Moving the label names the version
// it is taken from, so a concurrent promotion makes this call fail instead of being
// silently overwritten.
func (s *Store) Promote(ctx context.Context, secretID, versionID string) error {
	desc, err := s.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		return fmt.Errorf("secretstore: describe %s: %w", secretID, err)
	}
	var current string
	for v, stages := range desc.VersionIdsToStages {
		if slices.Contains(stages, StageCurrent) {
			current = v
		}
	}
	if current == versionID {
		return nil
	}
	in := &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:        aws.String(secretID),
		VersionStage:    aws.String(StageCurrent),
		MoveToVersionId: aws.String(versionID),
	}
	if current != "" {
		in.RemoveFromVersionId = aws.String(current)
	}
	if _, err := s.sm.UpdateSecretVersionStage(ctx, in); err != nil {
		return fmt.Errorf("secretstore: promote version of %s: %w", secretID, err)
	}
	return nil
}

// ScheduleDelete schedules an integration's secret for deletion after RecoveryWindowDays
// (never at once: a deleted integration's credentials can be restored). It addresses the
// secret by name and is idempotent: a missing secret or one already scheduled is success, so
// it can be retried to clean up after a failed delete. A secret that is not this stack's is
// left alone: ErrNotThisStack.
func (s *Store) ScheduleDelete(ctx context.Context, appID, integrationID string) error {
	name := s.Name(appID, integrationID)
	desc, err := s.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	var notFound *types.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
		return nil
	case isAccessDenied(err):
		// The functions' IAM policies grant access only to secrets tagged with their own
		// stack: one they may not describe is another's, or predates the tag.
		return fmt.Errorf("%w: %s: %w", ErrNotThisStack, name, err)
	case err != nil:
		return fmt.Errorf("secretstore: describe %s: %w", name, err)
	case desc.DeletedDate != nil:
		return nil
	}
	if owner, _ := tag(desc.Tags, stack.StackTag); owner != s.stackName {
		return fmt.Errorf("%w: %s is tagged %s=%q", ErrNotThisStack, name, stack.StackTag, owner)
	}
	_, err = s.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
		SecretId:             aws.String(name),
		RecoveryWindowInDays: aws.Int64(RecoveryWindowDays),
	})
	if err == nil || errors.As(err, &notFound) {
		return nil
	}
	// Deleting a secret that is already scheduled (by a concurrent call) is refused as an
	// invalid request.
	var invalid *types.InvalidRequestException
	if errors.As(err, &invalid) {
		desc, derr := s.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
		if derr == nil && desc.DeletedDate != nil {
			return nil
		}
	}
	return fmt.Errorf("secretstore: schedule deletion of %s: %w", name, err)
}

func tag(tags []types.Tag, key string) (string, bool) {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value), true
		}
	}
	return "", false
}

// isAccessDenied reports an IAM refusal, which Secrets Manager does not model as a type.
func isAccessDenied(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "AccessDeniedException"
}
