package secretstore

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/stack"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

const testStack = "sstest-stack"

func newStore(t *testing.T) (*Store, *secretsmanager.Client) {
	t.Helper()
	sm := secretsmanager.NewFromConfig(testenv.Config(t))
	return New(sm, "sstest-"+uuid.NewString()[:8]+"/", testStack), sm
}

func readValue(t *testing.T, sm *secretsmanager.Client, id, version, stage string) value {
	t.Helper()
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	if stage != "" {
		in.VersionStage = aws.String(stage)
	}
	out, err := sm.GetSecretValue(context.Background(), in)
	if err != nil {
		t.Fatalf("read secret: %v", err)
	}
	var p value
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &p); err != nil {
		t.Fatalf("secret is not the JSON payload: %v", err)
	}
	return p
}

func TestCreateStagePromote(t *testing.T) {
	s, sm := newStore(t)
	ctx := context.Background()
	app, id := "app1", uuid.NewString()
	first := feedcreds.Credentials{Key: "us1-key-one-1111", Secret: "secret-one"}
	ref, err := s.Create(ctx, app, id, first)
	if err != nil {
		t.Fatal(err)
	}
	if ref.ARN == "" || ref.VersionID == "" {
		t.Fatalf("ref %+v", ref)
	}
	desc, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(ref.ARN)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(desc.Name); got != s.Name(app, id) || !strings.HasSuffix(got, app+"/"+id) {
		t.Fatalf("secret name %q", got)
	}
	tags := map[string]string{}
	for _, tg := range desc.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if tags[TagAppID] != app || tags[TagIntegrationID] != id || tags[stack.StackTag] != testStack || len(tags) != 3 {
		t.Fatalf("tags %v", tags)
	}
	if got := readValue(t, sm, ref.ARN, ref.VersionID, ""); got != (value{Key: first.Key, Secret: first.Secret}) {
		t.Fatalf("created value %+v", got)
	}

	second := feedcreds.Credentials{Key: "us1-key-two-2222", Secret: "secret-two"}
	v2, err := s.Stage(ctx, ref.ARN, second)
	if err != nil {
		t.Fatal(err)
	}
	if got := readValue(t, sm, ref.ARN, "", StageCurrent); got.Key != first.Key {
		t.Fatalf("staging changed AWSCURRENT to %q", got.Key)
	}
	if got := readValue(t, sm, ref.ARN, v2, ""); got.Key != second.Key {
		t.Fatalf("staged version holds %q", got.Key)
	}
	if err := s.Promote(ctx, ref.ARN, v2); err != nil {
		t.Fatal(err)
	}
	if got := readValue(t, sm, ref.ARN, "", StageCurrent); got.Key != second.Key || got.Secret != second.Secret {
		t.Fatalf("after promote AWSCURRENT holds %q", got.Key)
	}
	if err := s.Promote(ctx, ref.ARN, v2); err != nil {
		t.Fatalf("promoting the current version again: %v", err)
	}
	if _, err := s.Create(ctx, app, id, first); err == nil {
		t.Fatal("second create of the same integration succeeded")
	}
}

func TestScheduleDeleteIsIdempotent(t *testing.T) {
	s, sm := newStore(t)
	ctx := context.Background()
	id := uuid.NewString()
	if _, err := s.Create(ctx, "app1", id, feedcreds.Credentials{Key: "kkkkkkkk", Secret: "ssssssss"}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := s.ScheduleDelete(ctx, "app1", id); err != nil {
			t.Fatalf("delete #%d: %v", i+1, err)
		}
	}
	desc, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(s.Name("app1", id))})
	if err != nil {
		t.Fatal(err)
	}
	if desc.DeletedDate == nil {
		t.Fatal("secret not scheduled for deletion")
	}
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.Name("app1", id))}); err == nil {
		t.Fatal("a secret scheduled for deletion is still readable")
	}
	if err := s.ScheduleDelete(ctx, "app1", uuid.NewString()); err != nil {
		t.Fatalf("deleting a missing secret: %v", err)
	}
}

// Stacks may share an account and a prefix: a store deletes only the secrets its own stack
// created, and leaves the others (another stack's, or one created before secrets were
// tagged) as they are.
func TestScheduleDeleteOnlyDeletesThisStacksSecrets(t *testing.T) {
	ours, sm := newStore(t)
	theirs := New(sm, ours.prefix, "another-stack")
	ctx := context.Background()
	c := feedcreds.Credentials{Key: "kkkkkkkk", Secret: "ssssssss"}

	id := uuid.NewString()
	if _, err := theirs.Create(ctx, "app1", id, c); err != nil {
		t.Fatal(err)
	}
	legacy := uuid.NewString()
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(ours.Name("app1", legacy)), SecretString: aws.String(`{"key":"kkkkkkkk","secret":"ssssssss"}`),
		Tags: []types.Tag{{Key: aws.String(TagAppID), Value: aws.String("app1")}, {Key: aws.String(TagIntegrationID), Value: aws.String(legacy)}},
	}); err != nil {
		t.Fatal(err)
	}
	for name, id := range map[string]string{"another stack's": id, "untagged": legacy} {
		if err := ours.ScheduleDelete(ctx, "app1", id); !errors.Is(err, ErrNotThisStack) {
			t.Errorf("%s secret: %v, want ErrNotThisStack", name, err)
		}
		desc, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(ours.Name("app1", id))})
		if err != nil || desc.DeletedDate != nil {
			t.Errorf("%s secret was scheduled for deletion (%v)", name, err)
		}
	}
	if err := theirs.ScheduleDelete(ctx, "app1", id); err != nil {
		t.Fatalf("the owner's delete: %v", err)
	}
}

func TestScheduleDeleteAlwaysKeepsARecoveryWindow(t *testing.T) {
	f := &fakeSM{tags: []types.Tag{{Key: aws.String(stack.StackTag), Value: aws.String(testStack)}}}
	if err := New(f, "", testStack).ScheduleDelete(context.Background(), "a", "b"); err != nil {
		t.Fatal(err)
	}
	if f.deleted == nil || aws.ToInt64(f.deleted.RecoveryWindowInDays) != RecoveryWindowDays || f.deleted.ForceDeleteWithoutRecovery != nil {
		t.Fatalf("DeleteSecret %+v, want a %d-day recovery window and no forced deletion", f.deleted, RecoveryWindowDays)
	}
}

func TestScheduleDeleteReportsOtherFailures(t *testing.T) {
	boom := errors.New("throttled")
	denied := &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized"}
	ownTag := []types.Tag{{Key: aws.String(stack.StackTag), Value: aws.String(stack.DefaultName)}}
	tests := []struct {
		name string
		sm   *fakeSM
		want error
	}{
		{"describe fails", &fakeSM{describeErr: boom}, boom},
		{"describe denied", &fakeSM{describeErr: denied}, ErrNotThisStack},
		{"delete fails", &fakeSM{tags: ownTag, deleteErr: boom}, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := New(tt.sm, "", "").ScheduleDelete(context.Background(), "a", "b")
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want wrapped %v", err, tt.want)
			}
			if tt.want != ErrNotThisStack && errors.Is(err, ErrNotThisStack) {
				t.Fatalf("a failure reported as another stack's secret: %v", err)
			}
		})
	}
	if got := New(nil, "", "").Name("a", "b"); got != "nami-mparticle/a/b" {
		t.Fatalf("default name %q", got)
	}
	if got := New(nil, "", "other").Name("a", "b"); got != "other/a/b" {
		t.Fatalf("default name of stack other %q", got)
	}
}

// fakeSM describes one secret with tags and records the deletion asked for.
type fakeSM struct {
	SecretsManager
	tags        []types.Tag
	describeErr error
	deleteErr   error
	deleted     *secretsmanager.DeleteSecretInput
}

func (f *fakeSM) DescribeSecret(context.Context, *secretsmanager.DescribeSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	if f.describeErr != nil {
		return nil, f.describeErr
	}
	return &secretsmanager.DescribeSecretOutput{Tags: f.tags}, nil
}

func (f *fakeSM) DeleteSecret(_ context.Context, in *secretsmanager.DeleteSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error) {
	f.deleted = in
	return nil, f.deleteErr
}

func TestIncompleteCredentialsAreRefused(t *testing.T) {
	s := New(nil, "", "")
	for _, c := range []feedcreds.Credentials{{Key: "k"}, {Secret: "s"}, {}} {
		if _, err := s.Create(context.Background(), "a", "b", c); err == nil {
			t.Errorf("created with key set %v, secret set %v", c.Key != "", c.Secret != "")
		}
	}
}
