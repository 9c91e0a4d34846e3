package controlcenter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// A test event is one synthetic custom event sent, as the Forwarder sends, to an
// integration's feed with its stored credentials, so the customer learns at once whether
// mParticle takes them, rather than from an alarm after real events failed.
const (
	// TestEventName is the custom event a test sends.
	TestEventName = "namiml_test_event"
	// TestUserID is the customer id and Nami user partner identity of the test's user: a
	// fixed one, so tests make one user in mParticle, not one each.
	TestUserID = "namiml-test-user"
	// TestWindow: an integration is tested at most once per window (fixed windows, shared
	// by every instance), so the route cannot be used to flood a feed.
	TestWindow = 10 * time.Second
)

// Verdicts of a test event.
const (
	VerdictDelivered          = "delivered"
	VerdictCredentialsRefused = "credentials_refused"
	VerdictRejected           = "rejected"
	VerdictThrottled          = "throttled"
	VerdictUnreachable        = "unreachable"
)

// TestResult is what a test event met: Status is mParticle's HTTP status (0 if none came);
// Reason is mParticle's reason for a rejected or throttled event, never a credential.
type TestResult struct {
	Verdict string
	Status  int
	Latency time.Duration
	Reason  string
}

// TestUploader sends batches to a feed (mparticle.Client).
type TestUploader interface {
	Upload(ctx context.Context, feed mparticle.Feed, batches []mparticle.Batch) []mparticle.Result
}

// TestCredentials reads an integration's credentials at a secret version.
type TestCredentials interface {
	Get(ctx context.Context, secretID, versionID string) (feedcreds.Credentials, error)
}

// TestHealth records what a test learnt about a feed, as the Forwarder does.
type TestHealth interface {
	SetHealth(ctx context.Context, appID, id, health, lastError string, at time.Time) error
}

// TestReader reads the integration to test.
type TestReader interface {
	Get(ctx context.Context, appID, id string) (integration.Integration, error)
}

// TesterConfig holds a Tester's dependencies; all but Now and Logger are required.
type TesterConfig struct {
	Store       TestReader
	Credentials TestCredentials
	Uploader    TestUploader
	Health      TestHealth
	Windows     Windows
	Now         func() time.Time
	Logger      *slog.Logger
}

// Tester sends test events.
type Tester struct {
	cfg TesterConfig
}

// NewTester returns a tester; it panics on a missing dependency, as New does.
func NewTester(cfg TesterConfig) *Tester {
	if cfg.Store == nil || cfg.Credentials == nil || cfg.Uploader == nil || cfg.Health == nil || cfg.Windows == nil {
		panic("controlcenter: TesterConfig needs Store, Credentials, Uploader, Health and Windows")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Tester{cfg: cfg}
}

// quotaTest names an integration's count of tests in the app's window item.
func quotaTest(id string) string { return "test_" + id }

// Test sends one test event to an integration's feed, enabled or not, and reports what
// mParticle answered. A refusal of the credentials marks the integration unhealthy, a
// delivery healthy. ErrNotFound; a *RateLimitError (QuotaTest) for a second test within
// TestWindow. A failure to send is a verdict, not an error: errors are the bridge's own
// (the integration or its credentials could not be read).
func (t *Tester) Test(ctx context.Context, appID, id string) (TestResult, error) {
	in, err := t.cfg.Store.Get(ctx, appID, id)
	if err != nil {
		return TestResult{}, fmt.Errorf("controlcenter: test %s/%s: %w", appID, id, err)
	}
	if err := t.take(ctx, appID, id); err != nil {
		return TestResult{}, err
	}
	creds, err := t.cfg.Credentials.Get(ctx, in.SecretID, in.SecretVersionID)
	if err != nil {
		return TestResult{}, fmt.Errorf("controlcenter: test %s/%s: read the credentials: %w", appID, id, err)
	}
	start := t.cfg.Now()
	results := t.cfg.Uploader.Upload(ctx, mparticle.Feed{ID: in.ID, Pod: in.Pod, Credentials: creds},
		[]mparticle.Batch{testBatch(start)})
	latency := t.cfg.Now().Sub(start)
	if len(results) != 1 {
		return TestResult{}, fmt.Errorf("controlcenter: test %s/%s: %d results for one batch", appID, id, len(results))
	}
	res := verdict(results[0], creds)
	res.Latency = latency
	t.noteHealth(ctx, in, res)
	t.cfg.Logger.InfoContext(ctx, "test event sent", "app_id", appID, "integration_id", id,
		"verdict", res.Verdict, "status", res.Status, "latency_ms", latency.Milliseconds())
	return res, nil
}

// QuotaTest is the quota a *RateLimitError of Test names.
const QuotaTest = "test"

// take counts the test in the integration's current window, or refuses it. The window
// item's expiry is at least RateWindow away: a test's window can share the item of the
// app's write window that starts at the same second, which must not expire early.
func (t *Tester) take(ctx context.Context, appID, id string) error {
	now := t.cfg.Now()
	start := now.Truncate(TestWindow)
	end := start.Add(TestWindow)
	full, err := t.cfg.Windows.Take(ctx, appID, start, start.Add(max(TestWindow, RateWindow)),
		[]Quota{{Name: quotaTest(id), Max: 1}})
	if err != nil {
		return fmt.Errorf("controlcenter: count a test of %s/%s: %w", appID, id, err)
	}
	if full != "" {
		return &RateLimitError{Quota: QuotaTest, Limit: 1, RetryAfter: end.Sub(now)}
	}
	return nil
}

// noteHealth keeps the integration's health in step with the test, like the Forwarder:
// only a refusal and a delivery say something about the feed's configuration.
func (t *Tester) noteHealth(ctx context.Context, in integration.Integration, res TestResult) {
	var health, why string
	switch {
	case res.Verdict == VerdictCredentialsRefused:
		health, why = integration.HealthUnhealthy, "mParticle refused the server-to-server key and secret (401/403) to a test event"
	case res.Verdict == VerdictDelivered:
		// Always written (tests are rare): the Control Center shows the feed as checked.
		health = integration.HealthOK
	default:
		return
	}
	if err := t.cfg.Health.SetHealth(ctx, in.AppID, in.ID, health, why, t.cfg.Now()); err != nil {
		t.cfg.Logger.WarnContext(ctx, "could not record integration health", "app_id", in.AppID,
			"integration_id", in.ID, "error", err.Error())
	}
}

// testBatch is the synthetic event: a development-environment custom event of the test
// user, so it stays out of production data.
func testBatch(at time.Time) mparticle.Batch {
	return mparticle.Batch{
		Environment:       mparticle.EnvDevelopment,
		UserIdentities:    &mparticle.UserIdentities{CustomerID: TestUserID},
		PartnerIdentities: mparticle.Attributes{{Key: "namiml_user_id", Value: TestUserID}},
		Events: []mparticle.Event{{EventType: mparticle.EventTypeCustom, Data: mparticle.EventData{
			TimestampUnixtimeMS: at.UnixMilli(),
			SourceMessageID:     uuid.NewString(),
			EventName:           TestEventName,
			CustomEventType:     "other",
		}}},
	}
}

// verdict classifies the test batch's result.
func verdict(r mparticle.Result, creds feedcreds.Credentials) TestResult {
	res := TestResult{Status: r.StatusCode}
	switch {
	case r.Outcome == mparticle.Delivered:
		res.Verdict = VerdictDelivered
	case r.Outcome == mparticle.AuthFailed:
		res.Verdict = VerdictCredentialsRefused
	case r.Throttled:
		res.Verdict, res.Reason = VerdictThrottled, reason(r.Err, creds)
		if r.RateLimitExceeded != "" && res.Reason == "" {
			res.Reason = "rate limit exceeded: " + r.RateLimitExceeded
		}
	case r.Outcome == mparticle.Permanent:
		res.Verdict, res.Reason = VerdictRejected, reason(r.Err, creds)
	case r.Outcome == mparticle.Redirected:
		res.Verdict = VerdictUnreachable
		res.Reason = "mParticle answered with a redirect: the integration's pod is misconfigured"
	default: // Retryable: 5xx, a timeout, no connection
		res.Verdict = VerdictUnreachable
	}
	return res
}

// reason is mParticle's reason for refusing the test, from the client's error (whose text
// never holds the credentials; they are removed again here all the same).
func reason(err error, creds feedcreds.Credentials) string {
	if err == nil {
		return ""
	}
	var ae *mparticle.APIError
	if !errors.As(err, &ae) {
		return ""
	}
	s := strings.TrimPrefix(err.Error(), "mparticle: ")
	for _, v := range []string{creds.Key, creds.Secret} {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}
