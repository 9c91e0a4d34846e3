// Package devserver runs the whole product on local stand-ins (`make dev`): moto for AWS
// with the stack's resources, the Integrations API over HTTP through the Lambda's handler,
// the Forwarder fed by a local event source mapping through the Lambda's handler, and the
// built-in mParticle contract server unless a real base URL is given.
package devserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/namiml/mparticle-bridge/shared/app/forwarderapp"
	"github.com/namiml/mparticle-bridge/shared/app/integrationsapp"
	"github.com/namiml/mparticle-bridge/shared/console"

	"github.com/namiml/mparticle-bridge/shared/devtools/devauth"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/devtools/devmp"
	"github.com/namiml/mparticle-bridge/shared/devtools/devoidc"
	"github.com/namiml/mparticle-bridge/shared/devtools/devstate"
	"github.com/namiml/mparticle-bridge/shared/devtools/esm"
	"github.com/namiml/mparticle-bridge/shared/devtools/localhttp"
	"github.com/namiml/mparticle-bridge/shared/devtools/localserve"
	"github.com/namiml/mparticle-bridge/shared/devtools/samlocal"
	"github.com/namiml/mparticle-bridge/shared/stack"
	"github.com/namiml/mparticle-bridge/shared/testkit/devstack"
	"github.com/namiml/mparticle-bridge/shared/testkit/motoproc"
	"github.com/namiml/mparticle-bridge/shared/testkit/mpserver"
)

// AccountID is moto's default account, which the local ARNs carry.
const AccountID = "123456789012"

// Config configures Run. Ports of 0 pick free ones.
type Config struct {
	Root      string // repository root (template.yaml, .venv, .dev)
	StateDir  string // default Root/.dev
	StackName string // default stack.DefaultName
	Region    string // default us-east-1
	AWSPort   int
	APIPort   int
	MPPort    int
	// OIDCPort is the local OpenID provider's, which the console signs in with.
	OIDCPort int
	// MParticleBaseURL sends every feed there instead of the built-in contract server.
	MParticleBaseURL string
	// AWSEndpoint uses a moto server already running there instead of starting one.
	AWSEndpoint string
	// VisibilityTimeout is the local visibility timeout of received messages (0: the
	// queue's own, as deployed). BatchingWindow, when set, overrides the template's.
	VisibilityTimeout time.Duration
	BatchingWindow    *time.Duration
	// RetryBackoffUnit scales the forwarder's retry backoff (RETRY_BACKOFF_UNIT), so a failed
	// message comes back in seconds; 0 keeps the deployed unit.
	RetryBackoffUnit time.Duration
	// Params override template parameters (e.g. LogLevel).
	Params map[string]string
	// Out receives the banner and the accepted batches; Log the components' logs.
	Out     io.Writer
	Log     *slog.Logger
	MotoLog io.Writer
}

// Running is what Run hands its ready callback.
type Running struct {
	Stack   devstate.Stack
	Startup time.Duration
	// MP is the built-in contract server (nil with an external MParticleBaseURL).
	MP *mpserver.Server
	// Forwarder and Integrations are the functions as resolved from the template.
	Forwarder, Integrations samlocal.Function
	// ConsoleURL opens the console signed in for the demo app; OIDCURL is the local
	// OpenID provider it signs in with.
	ConsoleURL, OIDCURL string
}

// ErrPortInUse reports a port that something else already listens on.
type ErrPortInUse struct {
	What string
	Port int
	Env  string
}

func (e ErrPortInUse) Error() string {
	return fmt.Sprintf("port %d (%s) is already in use by another program: stop it, or choose another port with %s=...", e.Port, e.What, e.Env)
}

func (c *Config) defaults() {
	if c.StateDir == "" {
		c.StateDir = devstate.Dir(c.Root)
	}
	if c.StackName == "" {
		c.StackName = stack.DefaultName
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.MotoLog == nil {
		c.MotoLog = io.Discard
	}
}

// Run starts everything, calls ready, and serves until ctx ends; then it stops everything
// and releases .dev/. A second Run while one is alive fails with devstate.ErrAlreadyRunning.
func Run(ctx context.Context, cfg Config, ready func(Running)) error {
	start := time.Now()
	cfg.defaults()
	release, err := devstate.Lock(cfg.StateDir)
	if err != nil {
		return err
	}
	defer release()

	if err := checkPorts(cfg); err != nil {
		return err
	}
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	stopServer := func(s *localserve.Server) func() {
		return func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = s.Stop(sctx)
		}
	}

	endpoint := cfg.AWSEndpoint
	if endpoint == "" {
		bin, err := motoproc.Find(cfg.Root)
		if err != nil {
			return err
		}
		port := cfg.AWSPort
		if port == 0 {
			if port, err = motoproc.FreePort(); err != nil {
				return err
			}
		}
		m, err := motoproc.Start(ctx, bin, port, cfg.MotoLog)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, m.Stop)
		endpoint = m.URL
	}
	awsCfg, err := AWSConfig(ctx, endpoint, cfg.Region)
	if err != nil {
		return err
	}
	out, err := devstack.Provision(ctx, awsCfg, cfg.StackName)
	if err != nil {
		return fmt.Errorf("create the local stack on %s: %w", endpoint, err)
	}
	ddb := dynamodb.NewFromConfig(awsCfg)
	sm := secretsmanager.NewFromConfig(awsCfg)

	// The mParticle side comes first: the forwarder's environment names its URL.
	mpURL := cfg.MParticleBaseURL
	var mp *mpserver.Server
	if mpURL == "" {
		var printMu sync.Mutex
		mp = mpserver.New(mpserver.Options{
			Logger: cfg.Log.With("component", "mparticle"),
			OnAccept: func(feed string, b json.RawMessage) {
				printMu.Lock()
				defer printMu.Unlock()
				fmt.Fprint(cfg.Out, mpserver.Pretty(feed, b))
			},
		})
		dir := devmp.StoreDirectory{DB: ddb, Secrets: sm, Table: out.Names.IntegrationsTable}
		srv, err := localserve.Start(devmp.New(mp, dir, cfg.Log.With("component", "mparticle")), addr(cfg.MPPort), cfg.Log)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, stopServer(srv))
		// Its partner layout, as integrations send to mParticle's partner endpoint by
		// default; its inspection endpoints answer under the same base.
		mpURL = srv.URL + mpserver.PartnerPrefix
	}

	tplText, err := os.ReadFile(filepath.Join(cfg.Root, "template.yaml"))
	if err != nil {
		return err
	}
	tpl, err := samlocal.Parse(tplText)
	if err != nil {
		return err
	}
	// Operators' tokens (make dev-token ADMIN=1) are the local issuer's access tokens of
	// its operators' client.
	params := map[string]string{"MParticleBaseURL": mpURL,
		"AdminScope": devauth.DevAdminScope, "AdminClientId": devauth.DevAdminClientID}
	for k, v := range cfg.Params {
		params[k] = v
	}
	loc := samlocal.Locals{
		StackName: cfg.StackName, Region: cfg.Region, AccountID: AccountID, Params: params,
		QueueURLs: map[string]string{out.Names.Queue: out.QueueURL, out.Names.DeadLetterQueue: out.DLQURL},
	}
	fwdFn, err := function(tpl, "forwarder", loc)
	if err != nil {
		return err
	}
	apiFn, err := function(tpl, "integrations", loc)
	if err != nil {
		return err
	}
	if fwdFn.Queue == nil {
		return errors.New("template: the forwarder has no SQS event")
	}

	// The Integrations API: the Lambda's handler behind the local API Gateway adapter.
	key, err := devstate.SigningKey(cfg.StateDir)
	if err != nil {
		return err
	}
	verifier, err := devauth.NewDevVerifier(key)
	if err != nil {
		return err
	}
	apiLog := cfg.Log.With("function", "integrations")
	// The console signs in with the local OpenID provider, which mints the local tokens.
	oidc, err := devoidc.New(devoidc.Config{Key: key, Log: cfg.Log.With("component", "openid-provider")})
	if err != nil {
		return err
	}
	oidcSrv, err := localserve.Start(oidc, addr(cfg.OIDCPort), cfg.Log)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, stopServer(oidcSrv))
	apiHandler, err := integrationsapp.NewFunction(awsCfg, lookup(withConsole(apiFn.Env, oidcSrv.URL)), apiLog)
	if err != nil {
		return fmt.Errorf("integrations api: %w", err)
	}
	apiSrv, err := localserve.Start(localhttp.New(asInvocation(apiFn, localhttp.HandlerFunc(apiHandler)), verifier, apiLog), addr(cfg.APIPort), cfg.Log)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, stopServer(apiSrv))
	oidc.Register(consoleRedirectURIs(apiSrv.URL)...)

	// The Forwarder: the Lambda's handler fed by the local event source mapping.
	fwdLog := cfg.Log.With("function", "forwarder")
	fwd, err := forwarderapp.New(ctx, awsCfg, lookup(withBackoffUnit(fwdFn.Env, cfg.RetryBackoffUnit)), fwdLog)
	if err != nil {
		return fmt.Errorf("forwarder: %w", err)
	}
	window := fwdFn.Queue.BatchingWindow
	if cfg.BatchingWindow != nil {
		window = *cfg.BatchingWindow
	}
	poller, err := esm.New(sqs.NewFromConfig(awsCfg), fwd.Handle, esm.Options{
		QueueURL: out.QueueURL, QueueARN: out.QueueARN, Region: cfg.Region,
		BatchSize: fwdFn.Queue.BatchSize, BatchingWindow: window,
		VisibilityTimeout: cfg.VisibilityTimeout, FunctionTimeout: fwdFn.Timeout, FunctionName: fwdFn.Name,
		Logger: cfg.Log.With("component", "event-source-mapping"),
		OnInvoke: func(r esm.Result) {
			level := slog.LevelInfo
			if r.Err != nil || len(r.Failed) > 0 {
				level = slog.LevelWarn
			}
			attrs := []any{"messages", r.Messages, "deleted", r.Deleted, "left_for_retry", len(r.Failed)}
			if r.Err != nil {
				attrs = append(attrs, "error", r.Err.Error())
			}
			fwdLog.Log(context.Background(), level, "forwarder invoked", attrs...)
		},
	})
	if err != nil {
		return err
	}
	pollCtx, stopPoll := context.WithCancel(ctx)
	var pollDone sync.WaitGroup
	pollDone.Go(func() { _ = poller.Run(pollCtx) })
	cleanups = append(cleanups, func() { stopPoll(); pollDone.Wait() })

	st := devstate.Stack{
		APIURL: apiSrv.URL, AWSEndpointURL: endpoint, Region: cfg.Region,
		QueueURL: out.QueueURL, DLQURL: out.DLQURL,
		MParticleBaseURL: mpURL, MParticleLocal: mp != nil,
		StackName: cfg.StackName, PID: os.Getpid(),
		ConsoleURL: apiSrv.URL + console.Path + "?app=" + devoidc.DefaultApp, OIDCURL: oidcSrv.URL,
	}
	if err := devstate.WriteStack(cfg.StateDir, st); err != nil {
		return err
	}
	// For `sam local invoke` (Docker): the same stack, reached from inside a container.
	samEnv, err := SAMEnv(tplText, loc, endpoint)
	if err != nil {
		return err
	}
	samEnvPath := filepath.Join(cfg.StateDir, SAMEnvFile)
	if err := writeSAMEnv(samEnvPath, samEnv); err != nil {
		return err
	}
	cleanups = append(cleanups, func() { _ = os.Remove(samEnvPath) })
	r := Running{Stack: st, Startup: time.Since(start), MP: mp, Forwarder: fwdFn, Integrations: apiFn,
		ConsoleURL: st.ConsoleURL, OIDCURL: st.OIDCURL}
	Banner(cfg.Out, r, window, cfg.VisibilityTimeout)
	if ready != nil {
		ready(r)
	}
	<-ctx.Done()
	fmt.Fprintln(cfg.Out, "stopping…")
	return nil
}

// AWSConfig points the SDK at a local endpoint with fake credentials.
func AWSConfig(ctx context.Context, endpoint, region string) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")),
		config.WithBaseEndpoint(endpoint),
	)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	return cfg, nil
}

func function(tpl *samlocal.Template, dir string, loc samlocal.Locals) (samlocal.Function, error) {
	id, err := tpl.FunctionByDir(dir)
	if err != nil {
		return samlocal.Function{}, err
	}
	return tpl.Function(id, loc)
}

// asInvocation gives each API request what a Lambda invocation has: the function's timeout
// as a deadline and a Lambda context.
func asInvocation(fn samlocal.Function, h localhttp.HandlerFunc) localhttp.HandlerFunc {
	arn := "arn:aws:lambda:local:" + AccountID + ":function:" + fn.Name
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		ctx, cancel := context.WithTimeout(ctx, fn.Timeout)
		defer cancel()
		ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: uuid.NewString(), InvokedFunctionArn: arn})
		return h(ctx, req)
	}
}

func lookup(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// withBackoffUnit adds the local retry backoff unit to the template's environment, which
// leaves it unset (the deployed unit).
func withBackoffUnit(env map[string]string, unit time.Duration) map[string]string {
	if unit <= 0 {
		return env
	}
	out := make(map[string]string, len(env)+1)
	for k, v := range env {
		out[k] = v
	}
	out[forwarderapp.EnvRetryBackoffUnit] = unit.String()
	return out
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// withConsole adds the local console's settings to the template's environment, which
// leaves the console off (no ConsoleClientId): the local OpenID provider as issuer, and
// the page signing in by itself.
func withConsole(env map[string]string, issuer string) map[string]string {
	out := make(map[string]string, len(env)+4)
	for k, v := range env {
		out[k] = v
	}
	out[console.EnvClientID] = devoidc.ClientID
	out[console.EnvIssuer] = issuer
	out[console.EnvDev] = "true"
	out[console.EnvDevApp] = devoidc.DefaultApp
	return out
}

// consoleRedirectURIs are the console's URLs on the local API, by address and by name.
func consoleRedirectURIs(apiURL string) []string {
	uris := []string{apiURL + console.Path}
	if u, err := url.Parse(apiURL); err == nil && u.Hostname() == "127.0.0.1" {
		uris = append(uris, "http://localhost:"+u.Port()+console.Path)
	}
	return uris
}

// checkPorts fails early, and clearly, when a fixed port is taken.
func checkPorts(cfg Config) error {
	type p struct {
		port      int
		what, env string
		skip      bool
	}
	for _, c := range []p{
		{cfg.AWSPort, "local AWS (moto)", "LOCAL_AWS_PORT", cfg.AWSEndpoint != ""},
		{cfg.APIPort, "Integrations API", "API_PORT", false},
		{cfg.MPPort, "mParticle contract server", "MPARTICLE_PORT", cfg.MParticleBaseURL != ""},
		{cfg.OIDCPort, "console sign-in (local OpenID provider)", "OIDC_PORT", false},
	} {
		if c.skip || c.port == 0 || motoproc.PortFree(c.port) {
			continue
		}
		return ErrPortInUse{What: c.what, Port: c.port, Env: c.env}
	}
	return nil
}

// Banner prints where everything runs.
func Banner(w io.Writer, r Running, window, visibility time.Duration) {
	s := r.Stack
	vis := "the queue's own (as deployed)"
	if visibility > 0 {
		vis = visibility.String() + " locally (LOCAL_VISIBILITY_TIMEOUT; deployed: the queue's)"
	}
	mp := s.MParticleBaseURL + "  (built-in contract server: accepted batches print below)"
	if !s.MParticleLocal {
		mp = s.MParticleBaseURL + "  (MPARTICLE_BASE_URL)"
	}
	fmt.Fprintf(w, `
  %s is running locally (ready in %.1f s)

  Integrations API   %s   (bearer token: make dev-token APP_ID=<app id>)
  console            %s   (signed in by the local OpenID provider, %s)
  AWS stand-in       %s   (moto, region %s)
  events queue       %s
  dead-letter queue  %s
  mParticle          %s
  forwarder          batch size %d, batching window %s, visibility %s
  endpoints file     .dev/stack.json
  sam local invoke   --env-vars .dev/sam-env.json   (Docker; without it: make invoke)

  In another terminal: make dev-demo · make dev-send FILE=events/sqs-purchased.json · make redrive
  Stop with Ctrl-C.

`, s.StackName, r.Startup.Seconds(), s.APIURL, r.ConsoleURL, r.OIDCURL, s.AWSEndpointURL, s.Region, s.QueueURL, s.DLQURL, mp,
		r.Forwarder.Queue.BatchSize, window, vis)
}
