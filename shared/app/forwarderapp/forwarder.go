package forwarderapp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/namiml/mparticle-bridge/shared/deliverystore"
	"github.com/namiml/mparticle-bridge/shared/forwarder"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
	"github.com/namiml/mparticle-bridge/shared/metrics"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/secretstore"
)

// Settings is the forwarder's configuration, read from the environment the template sets.
type Settings struct {
	IntegrationsTable   string        // INTEGRATIONS_TABLE (required)
	DLQURL              string        // DLQ_URL (required)
	MParticleBaseURL    string        // MPARTICLE_BASE_URL: send every pod's traffic here
	IntegrationsTTL     time.Duration // INTEGRATIONS_CACHE_TTL, default 30s
	CredentialsTTL      time.Duration // CREDENTIALS_CACHE_TTL, default 5m
	MaxConcurrentFeeds  int           // MAX_CONCURRENT_FEEDS, default 8
	DeadlineMarginMilli int           // DEADLINE_MARGIN_MS, default 2000
	DeliveriesTable     string        // DELIVERIES_TABLE: idempotency records; empty disables
	IdempotencyTTL      time.Duration // IDEMPOTENCY_TTL_HOURS, default 72h
	BackoffUnit         time.Duration // RETRY_BACKOFF_UNIT, default forwarder.DefaultBackoffUnit

	// DeliveryRecords is DELIVERY_RECORDS: which delivery records are read and written
	// (retries, the default; all; off). See forwarder.RecordPolicy.
	DeliveryRecords forwarder.RecordPolicy
}

// EnvRetryBackoffUnit names the variable that scales the retry backoff. The template does not
// set it (the deployed unit is the default); the soak and local runs shrink it to compress
// time, as they do the visibility timeout.
const EnvRetryBackoffUnit = "RETRY_BACKOFF_UNIT"

// EnvDeliveryRecords names the variable holding the delivery-record policy (the template's
// DeliveryRecords parameter).
const EnvDeliveryRecords = "DELIVERY_RECORDS"

// SettingsFromEnv reads and validates Settings.
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	s := Settings{
		IntegrationsTable: getenv("INTEGRATIONS_TABLE"),
		DLQURL:            getenv("DLQ_URL"),
		MParticleBaseURL:  getenv("MPARTICLE_BASE_URL"),
	}
	if s.IntegrationsTable == "" {
		return s, fmt.Errorf("INTEGRATIONS_TABLE is required")
	}
	if s.DLQURL == "" {
		return s, fmt.Errorf("DLQ_URL is required")
	}
	var err error
	if s.IntegrationsTTL, err = duration(getenv, "INTEGRATIONS_CACHE_TTL", 30*time.Second); err != nil {
		return s, err
	}
	if s.CredentialsTTL, err = duration(getenv, "CREDENTIALS_CACHE_TTL", 5*time.Minute); err != nil {
		return s, err
	}
	if s.MaxConcurrentFeeds, err = integer(getenv, "MAX_CONCURRENT_FEEDS", 8); err != nil {
		return s, err
	}
	if s.DeadlineMarginMilli, err = integer(getenv, "DEADLINE_MARGIN_MS", 2000); err != nil {
		return s, err
	}
	s.DeliveriesTable = getenv("DELIVERIES_TABLE")
	hours, err := integer(getenv, "IDEMPOTENCY_TTL_HOURS", 72)
	if err != nil {
		return s, err
	}
	s.IdempotencyTTL = time.Duration(hours) * time.Hour
	if s.DeliveryRecords, err = forwarder.ParseRecordPolicy(getenv(EnvDeliveryRecords)); err != nil {
		return s, fmt.Errorf("%s: %w", EnvDeliveryRecords, err)
	}
	if s.BackoffUnit, err = duration(getenv, EnvRetryBackoffUnit, forwarder.DefaultBackoffUnit); err != nil {
		return s, err
	}
	if s.BackoffUnit <= 0 {
		// 0 would make every retry come back after a second: an outage would spend all the
		// receives within minutes and dead-letter valid events.
		return s, fmt.Errorf("%s must be positive", EnvRetryBackoffUnit)
	}
	return s, nil
}

// MetricsNamespace is the CloudWatch namespace of the forwarder's embedded metrics.
const MetricsNamespace = "NamiMParticle"

// metricsOut receives the EMF lines: Lambda ships stdout to CloudWatch Logs, which extracts
// the metrics.
var metricsOut io.Writer = os.Stdout

// emitter returns the EMF emitter inside Lambda (and the Runtime Interface Emulator), where
// stdout becomes CloudWatch metrics; elsewhere (local runs, tests) EMF lines would only be
// noise, and the handler's logs carry the same counts.
func emitter(getenv func(string) string) *metrics.Emitter {
	if getenv("AWS_LAMBDA_FUNCTION_NAME") == "" {
		return nil
	}
	return metrics.New(metricsOut, MetricsNamespace)
}

// Option adjusts what New builds. The Lambda uses none; test harnesses (the soak)
// use them to instrument the real forwarderWiring instead of copying it.
type Option func(*forwarderWiring)

type forwarderWiring struct {
	client  mparticle.Options
	metrics *metrics.Emitter
}

// WithClientOptions lets f adjust the mParticle client's options (HTTP client, timeouts,
// backoff) after New has set its own.
func WithClientOptions(f func(*mparticle.Options)) Option {
	return func(w *forwarderWiring) { f(&w.client) }
}

// WithMetrics sends the embedded metrics to e, wherever the handler runs.
func WithMetrics(e *metrics.Emitter) Option {
	return func(w *forwarderWiring) { w.metrics = e }
}

// New wires a Handler from the environment and one AWS config, loaded once per
// container by the caller.
func New(ctx context.Context, awsCfg aws.Config, getenv func(string) string, log *slog.Logger, opts ...Option) (*forwarder.Handler, error) {
	s, err := SettingsFromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("forwarder settings: %w", err)
	}
	// A Retry-After longer than a couple of seconds is not slept on inside the invocation:
	// the feed's messages go back to the queue, hidden for the wait, and other feeds go on.
	w := forwarderWiring{
		client:  mparticle.Options{BaseURL: s.MParticleBaseURL, Logger: log, MaxRetryAfter: 2 * time.Second},
		metrics: emitter(getenv),
	}
	for _, o := range opts {
		o(&w)
	}
	client, err := mparticle.New(w.client)
	if err != nil {
		return nil, fmt.Errorf("mparticle client: %w", err)
	}
	ddb := dynamodb.NewFromConfig(awsCfg)
	store := integrationstore.New(ddb, s.IntegrationsTable)
	sqsClient := sqs.NewFromConfig(awsCfg)
	var deliveries forwarder.Deliveries
	if s.DeliveriesTable != "" {
		deliveries = deliverystore.New(ddb, s.DeliveriesTable, s.IdempotencyTTL)
	}
	return forwarder.New(forwarder.Deps{
		Integrations: integration.NewCache(store, s.IntegrationsTTL),
		Credentials:  secretstore.NewCache(secretsmanager.NewFromConfig(awsCfg), s.CredentialsTTL),
		Uploader:     client,
		DeadLetters:  &forwarder.SQSDeadLetters{API: sqsClient, QueueURL: s.DLQURL},
		Health:       store,
		Status:       store,
		Deliveries:   deliveries,
		Visibility:   &forwarder.SQSVisibility{API: sqsClient},
		Metrics:      w.metrics,
		Logger:       log,
	}, forwarder.Config{
		MaxConcurrentFeeds: s.MaxConcurrentFeeds,
		DeadlineMargin:     time.Duration(s.DeadlineMarginMilli) * time.Millisecond,
		BackoffUnit:        s.BackoffUnit,
		Records:            s.DeliveryRecords,
	}), nil
}

func duration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s=%q is not a non-negative duration like 30s", name, v)
	}
	return d, nil
}

func integer(getenv func(string) string, name string, def int) (int, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q is not a positive integer", name, v)
	}
	return n, nil
}
