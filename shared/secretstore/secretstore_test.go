package secretstore

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

func newStore(t *testing.T) (*Store, *secretsmanager.Client) {
	t.Helper()
	sm := secretsmanager.NewFromConfig(testenv.Config(t))
	return New(sm, "sstest-"+uuid.NewString()[:8]+"/"), sm
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
	if tags[TagAppID] != app || tags[TagIntegrationID] != id {
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

func TestScheduleDeleteReportsOtherFailures(t *testing.T) {
	boom := errors.New("throttled")
	s := New(failingDelete{err: boom}, "")
	if err := s.ScheduleDelete(context.Background(), "a", "b"); !errors.Is(err, boom) {
		t.Fatalf("got %v, want wrapped %v", err, boom)
	}
	if got := s.Name("a", "b"); got != "nami-mparticle/a/b" {
		t.Fatalf("default name %q", got)
	}
}

type failingDelete struct {
	SecretsManager
	err error
}

func (f failingDelete) DeleteSecret(context.Context, *secretsmanager.DeleteSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error) {
	return nil, f.err
}

func TestIncompleteCredentialsAreRefused(t *testing.T) {
	s := New(nil, "")
	for _, c := range []feedcreds.Credentials{{Key: "k"}, {Secret: "s"}, {}} {
		if _, err := s.Create(context.Background(), "a", "b", c); err == nil {
			t.Errorf("created with key set %v, secret set %v", c.Key != "", c.Secret != "")
		}
	}
}
