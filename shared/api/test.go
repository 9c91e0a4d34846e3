package api

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/namiml/mparticle-bridge/shared/controlcenter"
)

// Tests sends an integration's test event (controlcenter.Tester).
type Tests interface {
	Test(ctx context.Context, appID, id string) (controlcenter.TestResult, error)
}

// testBody is the answer of POST .../{id}/test.
type testBody struct {
	Verdict   string `json:"verdict"`
	Status    int    `json:"status"`
	LatencyMS int64  `json:"latency_ms"`
	Reason    string `json:"reason,omitempty"`
}

// test sends a test event. Whatever mParticle answered is a 200 with its verdict: the
// request succeeded in testing the feed; only the bridge's own failures are errors.
func (h *Handler) test(ctx context.Context, appID, id string) (events.APIGatewayV2HTTPResponse, *apiError) {
	if h.tests == nil {
		return events.APIGatewayV2HTTPResponse{}, notFound()
	}
	res, err := h.tests.Test(ctx, appID, id)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, fromDomain(err)
	}
	return jsonResponse(http.StatusOK, testBody{
		Verdict: res.Verdict, Status: res.Status, LatencyMS: res.Latency.Milliseconds(), Reason: res.Reason,
	}, nil), nil
}
