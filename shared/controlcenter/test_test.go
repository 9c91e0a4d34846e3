package controlcenter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

type fakeUploader struct {
	result mparticle.Result
	feeds  []mparticle.Feed
	sent   []mparticle.Batch
}

func (f *fakeUploader) Upload(_ context.Context, feed mparticle.Feed, batches []mparticle.Batch) []mparticle.Result {
	f.feeds = append(f.feeds, feed)
	f.sent = append(f.sent, batches...)
	return []mparticle.Result{f.result}
}

type fakeCreds struct {
	creds feedcreds.Credentials
	err   error
	asked []string
}

func (f *fakeCreds) Get(_ context.Context, secretID, versionID string) (feedcreds.Credentials, error) {
	f.asked = append(f.asked, secretID+"@"+versionID)
	return f.creds, f.err
}

type fakeHealth struct{ set []string }

func (f *fakeHealth) SetHealth(_ context.Context, appID, id, health, lastError string, _ time.Time) error {
	f.set = append(f.set, health)
	return nil
}

const (
	testKey    = "key-0123456789abcdef"
	testSecret = "secret-fedcba9876543210"
)

func TestTesterVerdicts(t *testing.T) {
	apiErr := func(status int, msg string) error {
		return &mparticle.APIError{StatusCode: status, Details: []mparticle.ErrorDetail{{Code: "e", Message: msg}}}
	}
	tests := []struct {
		name       string
		result     mparticle.Result
		verdict    string
		health     []string
		reasonHas  string
		wantReason bool
	}{
		{"delivered", mparticle.Result{Outcome: mparticle.Delivered, StatusCode: 202}, VerdictDelivered, []string{integration.HealthOK}, "", false},
		{"refused", mparticle.Result{Outcome: mparticle.AuthFailed, StatusCode: 401, Err: apiErr(401, "bad key")}, VerdictCredentialsRefused, []string{integration.HealthUnhealthy}, "", false},
		{"throttled", mparticle.Result{Outcome: mparticle.Retryable, StatusCode: 429, Throttled: true, Err: apiErr(429, "slow down")}, VerdictThrottled, nil, "slow down", true},
		{"rejected", mparticle.Result{Outcome: mparticle.Permanent, StatusCode: 400, Err: apiErr(400, "bad field")}, VerdictRejected, nil, "bad field", true},
		// mParticle echoing a credential must not carry it to the caller.
		{"rejected echoing the key", mparticle.Result{Outcome: mparticle.Permanent, StatusCode: 400, Err: apiErr(400, "no such key "+testKey)}, VerdictRejected, nil, "[redacted]", true},
		{"5xx", mparticle.Result{Outcome: mparticle.Retryable, StatusCode: 503, Err: apiErr(503, "down")}, VerdictUnreachable, nil, "", false},
		{"no connection", mparticle.Result{Outcome: mparticle.Retryable, Err: errors.New("dial tcp: refused")}, VerdictUnreachable, nil, "", false},
		{"redirect", mparticle.Result{Outcome: mparticle.Redirected, StatusCode: 307}, VerdictUnreachable, nil, "pod", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newMemStore()
			in := validStored("app1", "i1")
			in.Pod, in.SecretID, in.SecretVersionID, in.Enabled = "EU1", "arn:s", "v7", false
			store.items[memKey("app1", "i1")] = in
			up := &fakeUploader{result: tc.result}
			creds := &fakeCreds{creds: feedcreds.Credentials{Key: testKey, Secret: testSecret}}
			health := &fakeHealth{}
			var logs bytes.Buffer
			tester := NewTester(TesterConfig{Store: store, Credentials: creds, Uploader: up, Health: health,
				Windows: newMemWindows(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			res, err := tester.Test(context.Background(), "app1", "i1")
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tc.verdict || res.Status != tc.result.StatusCode {
				t.Errorf("verdict %s status %d, want %s %d", res.Verdict, res.Status, tc.verdict, tc.result.StatusCode)
			}
			if (res.Reason != "") != tc.wantReason || !strings.Contains(res.Reason, tc.reasonHas) {
				t.Errorf("reason %q, want one containing %q: %v", res.Reason, tc.reasonHas, tc.wantReason)
			}
			if fmt.Sprint(health.set) != fmt.Sprint(tc.health) {
				t.Errorf("health %v, want %v", health.set, tc.health)
			}
			for _, s := range []string{testKey, testSecret} {
				if strings.Contains(res.Reason, s) || strings.Contains(logs.String(), s) {
					t.Error("a credential in the reason or the logs")
				}
			}
			// The integration's endpoint and stored version, whether it is enabled or not.
			if len(creds.asked) != 1 || creds.asked[0] != "arn:s@v7" || len(up.feeds) != 1 || up.feeds[0].Pod != "EU1" {
				t.Errorf("read %v, sent to %+v", creds.asked, up.feeds)
			}
			b := up.sent[0]
			if b.Environment != mparticle.EnvDevelopment || b.UserIdentities.CustomerID != TestUserID ||
				len(b.Events) != 1 || b.Events[0].Data.EventName != TestEventName {
				t.Errorf("batch %+v", b)
			}
		})
	}
}

func TestTesterWindow(t *testing.T) {
	store := newMemStore()
	store.items[memKey("app1", "i1")] = validStored("app1", "i1")
	store.items[memKey("app1", "i2")] = validStored("app1", "i2")
	now := time.Date(2026, 1, 1, 12, 0, 3, 0, time.UTC)
	windows := newMemWindows()
	tester := NewTester(TesterConfig{Store: store, Credentials: &fakeCreds{}, Health: &fakeHealth{}, Windows: windows,
		Uploader: &fakeUploader{result: mparticle.Result{Outcome: mparticle.Delivered, StatusCode: http.StatusAccepted}},
		Now:      func() time.Time { return now }})
	ctx := context.Background()
	steps := []struct {
		at       time.Duration // after 12:00:03
		id       string
		retryIn  time.Duration // 0: allowed
		notFound bool
	}{
		{0, "i1", 0, false},
		{2 * time.Second, "i1", 5 * time.Second, false},
		{2 * time.Second, "i2", 0, false},  // another integration has its own count
		{7 * time.Second, "i1", 0, false},  // 12:00:10: the next window
		{7 * time.Second, "nope", 0, true}, // a missing integration is not counted
	}
	for i, s := range steps {
		now = time.Date(2026, 1, 1, 12, 0, 3, 0, time.UTC).Add(s.at)
		_, err := tester.Test(ctx, "app1", s.id)
		var rerr *RateLimitError
		switch {
		case s.notFound:
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("step %d: %v, want ErrNotFound", i, err)
			}
		case s.retryIn == 0 && err != nil:
			t.Errorf("step %d: %v", i, err)
		case s.retryIn > 0 && (!errors.As(err, &rerr) || rerr.Quota != QuotaTest || rerr.RetryAfter != s.retryIn):
			t.Errorf("step %d: %v, want a test rate limit, retry in %v", i, err, s.retryIn)
		}
	}
}

func TestCheckPlan(t *testing.T) {
	on, off := true, false
	tests := []struct {
		name     string
		entitled bool
		enabled  *bool
		want     error
	}{
		{"enable with the plan", true, &on, nil},
		{"enable without", false, &on, ErrPlanRequired},
		{"disable without", false, &off, nil},
		{"other change without", false, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Patch{c: change{Enabled: tc.enabled, checked: true}}
			if err := CheckPlanPatch(tc.entitled, p); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("CheckPlanPatch: %v, want %v", err, tc.want)
			}
		})
	}
	if CheckPlanCreate(false) != ErrPlanRequired || CheckPlanCreate(true) != nil {
		t.Error("CheckPlanCreate")
	}
}
