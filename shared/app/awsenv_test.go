package app

import (
	"context"
	"testing"
)

func TestLambdaAWSConfig(t *testing.T) {
	env := map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token",
		"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
	}
	cfg, err := LambdaAWSConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "AKIDEXAMPLE" || creds.SecretAccessKey != "secret" || creds.SessionToken != "token" {
		t.Errorf("credentials = %+v, %v", creds, err)
	}
	if cfg.Region != "eu-west-1" || cfg.BaseEndpoint == nil || *cfg.BaseEndpoint != env["AWS_ENDPOINT_URL"] || cfg.HTTPClient == nil {
		t.Errorf("config = region %q, endpoint %v, HTTP client %v", cfg.Region, cfg.BaseEndpoint, cfg.HTTPClient)
	}
	env["AWS_REGION"] = "us-east-2"
	if cfg, _ := LambdaAWSConfig(func(k string) string { return env[k] }); cfg.Region != "us-east-2" {
		t.Errorf("AWS_REGION does not win over AWS_DEFAULT_REGION: %q", cfg.Region)
	}
	delete(env, "AWS_SECRET_ACCESS_KEY")
	if _, err := LambdaAWSConfig(func(k string) string { return env[k] }); err == nil {
		t.Error("no error without credentials in the environment")
	}
}
