package app

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// LambdaAWSConfig is the AWS configuration of a function running in Lambda (or under the
// emulator, or sam local invoke), read from the variables Lambda sets: AWS_REGION (or
// AWS_DEFAULT_REGION), the execution role's AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN, and AWS_ENDPOINT_URL, which the local runs set to moto.
//
// The Forwarder uses it instead of config.LoadDefaultConfig for its cold start: that
// package resolves shared config files, SSO, web identity, IMDS and process credentials,
// none of which Lambda has, and linking it brings the STS, SSO, SSO-OIDC and sign-in
// clients, whose package initialisation (endpoint tables compiled into regexps, schemas)
// and size (2 MB of the bootstrap) cost about 1 ms of CPU at every cold start.
func LambdaAWSConfig(getenv func(string) string) (aws.Config, error) {
	key, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" || secret == "" {
		return aws.Config{}, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set, as Lambda sets them")
	}
	region := getenv("AWS_REGION")
	if region == "" {
		region = getenv("AWS_DEFAULT_REGION")
	}
	cfg := aws.Config{
		Region:      region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(key, secret, getenv("AWS_SESSION_TOKEN"))),
		// One HTTP client for all the service clients, as LoadDefaultConfig gives.
		HTTPClient: awshttp.NewBuildableClient(),
	}
	if ep := getenv("AWS_ENDPOINT_URL"); ep != "" {
		cfg.BaseEndpoint = aws.String(ep)
	}
	return cfg, nil
}
