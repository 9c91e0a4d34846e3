package api_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/namiml/mparticle-bridge/shared/integration"
)

// TestDeliveryStatusIsShown: GET and list show each integration's delivery status as the
// Forwarder wrote it (counts summed over the last 24 hours, the latest failure; null
// last_* when never), every response held to openapi.yaml by the harness; list reads the
// statuses of a page with one Query.
func TestDeliveryStatusIsShown(t *testing.T) {
	var queries atomic.Int64
	e := newEnv(t, func(cfg *aws.Config) {
		cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
			return s.Initialize.Add(middleware.InitializeMiddlewareFunc("countQueries",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if _, ok := in.Parameters.(*dynamodb.QueryInput); ok {
						queries.Add(1)
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.After)
		})
	})
	app := newAppID()
	tok := token(t, []string{app})
	busy, _, _ := e.create(viaEvent, app, tok, nil)
	quiet, _, _ := e.create(viaEvent, app, tok, nil)
	ctx := context.Background()
	now := time.Now().UTC()
	for _, w := range []struct {
		at time.Time
		st integration.DeliveryStatus
	}{
		{now.Add(-30 * time.Hour), integration.DeliveryStatus{Delivered: 1000}}, // outside the window
		{now.Add(-2 * time.Hour), integration.DeliveryStatus{Delivered: 5, Retried: 2, LastDeliveryAt: now.Add(-2 * time.Hour),
			LastFailureAt: now.Add(-2 * time.Hour), LastFailureCode: integration.FailureRetry, LastFailureMessage: "retried"}},
		{now, integration.DeliveryStatus{Delivered: 1, DeadLettered: 1, Skipped: 3, LastDeliveryAt: now,
			LastFailureAt: now, LastFailureCode: integration.FailureRejected, LastFailureMessage: "refused for good"}},
	} {
		if err := e.store.AddStatus(ctx, app, busy, w.at, w.st); err != nil {
			t.Fatal(err)
		}
	}
	stamp := now.Format(time.RFC3339Nano)

	checkBusy := func(where string, ds map[string]any) {
		t.Helper()
		counts := ds["last_24h"].(map[string]any)
		if counts["delivered"] != 6.0 || counts["retried"] != 2.0 || counts["dead_lettered"] != 1.0 || counts["skipped"] != 3.0 {
			t.Errorf("%s: last_24h %v", where, counts)
		}
		if ds["last_delivery_at"] != stamp || ds["last_failure_at"] != stamp {
			t.Errorf("%s: last_delivery_at %v, last_failure_at %v, want %s", where, ds["last_delivery_at"], ds["last_failure_at"], stamp)
		}
		f := ds["last_failure"].(map[string]any)
		if f["code"] != "rejected" || f["message"] != "refused for good" {
			t.Errorf("%s: last_failure %v", where, f)
		}
	}
	checkQuiet := func(where string, ds map[string]any) {
		t.Helper()
		counts := ds["last_24h"].(map[string]any)
		if counts["delivered"] != 0.0 || counts["skipped"] != 0.0 || ds["last_delivery_at"] != nil || ds["last_failure"] != nil {
			t.Errorf("%s: never delivered, shows %v", where, ds)
		}
	}

	r := e.do(viaHTTP, call{method: http.MethodGet, path: itemPath(app, busy), token: tok})
	if r.status != http.StatusOK {
		t.Fatalf("GET: %d %s", r.status, r.body)
	}
	checkBusy("GET", r.json(t)["delivery_status"].(map[string]any))
	r = e.do(viaHTTP, call{method: http.MethodGet, path: itemPath(app, quiet), token: tok})
	checkQuiet("GET quiet", r.json(t)["delivery_status"].(map[string]any))

	queries.Store(0)
	r = e.do(viaHTTP, call{method: http.MethodGet, path: collectionPath(app), token: tok})
	if r.status != http.StatusOK {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	if n := queries.Load(); n != 2 { // the page, and the page's statuses
		t.Errorf("list made %d queries, want 2", n)
	}
	items := r.json(t)["items"].([]any)
	if len(items) != 2 {
		t.Fatalf("list: %d items", len(items))
	}
	for _, it := range items {
		m := it.(map[string]any)
		switch m["id"] {
		case busy:
			checkBusy("list", m["delivery_status"].(map[string]any))
		case quiet:
			checkQuiet("list quiet", m["delivery_status"].(map[string]any))
		}
	}
}
