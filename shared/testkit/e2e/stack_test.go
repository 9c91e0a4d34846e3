package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/namiml/mparticle-bridge/shared/api"
	"github.com/namiml/mparticle-bridge/shared/app/forwarderapp"
	"github.com/namiml/mparticle-bridge/shared/app/integrationsapp"
	"github.com/namiml/mparticle-bridge/shared/forwarder"
	"github.com/namiml/mparticle-bridge/shared/testkit/devstack"
	"github.com/namiml/mparticle-bridge/shared/testkit/mpserver"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

// localStack is one end-to-end test's world: a freshly provisioned stack on moto, the
// contract server holding the named feeds, and the Integrations API wired from the same
// environment the Lambdas read (integrationsapp.New), logging into logs.
type localStack struct {
	t     *testing.T
	cfg   aws.Config
	env   map[string]string
	feeds map[string][2]string // feed name -> key, secret
	logs  bytes.Buffer
	log   *slog.Logger
	api   *api.Handler
	mp    *mpserver.Server
}

// newLocalStack provisions the stack under a unique name and applies overrides to the
// functions' environment. Caches are long by default: a rotated secret must be found through
// the refused → fresh read path, not by expiry.
func newLocalStack(t *testing.T, name string, feeds map[string][2]string, overrides map[string]string) *localStack {
	t.Helper()
	s := &localStack{t: t, cfg: testenv.Config(t), feeds: feeds}
	run := fmt.Sprintf("%s-%d", name, time.Now().UnixNano())
	out, err := devstack.Provision(context.Background(), s.cfg, run)
	if err != nil {
		t.Fatal(err)
	}
	s.mp = mpserver.New(mpserver.Options{})
	for feed, ks := range feeds {
		s.mp.AddFeed(ks[0], ks[1], feed)
	}
	srv := httptest.NewServer(s.mp)
	t.Cleanup(srv.Close)
	s.env = map[string]string{
		"INTEGRATIONS_TABLE":     out.Names.IntegrationsTable,
		"DELIVERIES_TABLE":       out.Names.IdempotencyTable,
		"DLQ_URL":                out.DLQURL,
		"SECRETS_PREFIX":         "nami-mparticle-" + run + "/",
		"MPARTICLE_BASE_URL":     srv.URL + mpserver.PartnerPrefix,
		"INTEGRATIONS_CACHE_TTL": "1h",
		"CREDENTIALS_CACHE_TTL":  "1h",
	}
	for k, v := range overrides {
		s.env[k] = v
	}
	s.log = slog.New(slog.NewJSONHandler(&s.logs, nil))
	if s.api, err = integrationsapp.New(s.cfg, s.getenv, s.log); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *localStack) getenv(k string) string { return s.env[k] }

// creds is the credentials body of the named feed.
func (s *localStack) creds(feed string) map[string]string {
	return map[string]string{"key": s.feeds[feed][0], "secret": s.feeds[feed][1]}
}

// forwarder builds the Forwarder as the Lambda does.
func (s *localStack) forwarder(opts ...forwarderapp.Option) *forwarder.Handler {
	s.t.Helper()
	fwd, err := forwarderapp.New(context.Background(), s.cfg, s.getenv, s.log, opts...)
	if err != nil {
		s.t.Fatal(err)
	}
	return fwd
}

// send hands bodies to fwd as one SQS batch, first receives, and fails the test unless every
// message is settled (delivered, skipped or dead-lettered) in that invocation.
func (s *localStack) send(fwd *forwarder.Handler, bodies ...string) {
	s.t.Helper()
	var in events.SQSEvent
	for i, b := range bodies {
		in.Records = append(in.Records, events.SQSMessage{MessageId: fmt.Sprint("m", i), Body: b,
			Attributes: map[string]string{"ApproximateReceiveCount": "1"}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := fwd.Handle(ctx, in)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		s.t.Fatalf("handle: err=%v failures=%v\n%s", err, resp.BatchItemFailures, s.logs.String())
	}
}
