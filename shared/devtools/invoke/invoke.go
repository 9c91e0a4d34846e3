// Package invoke is `make invoke`: what `sam local invoke` does, without Docker. It builds a
// function's bootstrap for this machine, runs it under aws-lambda-rie with the environment
// template.yaml gives it, pointed at the local stack (the running `make dev`, else a
// throw-away one), and returns the function's answer.
package invoke

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/namiml/mparticle-bridge/shared/devtools/devmp"
	"github.com/namiml/mparticle-bridge/shared/devtools/devserver"
	"github.com/namiml/mparticle-bridge/shared/devtools/devstate"
	"github.com/namiml/mparticle-bridge/shared/devtools/localserve"
	"github.com/namiml/mparticle-bridge/shared/devtools/rie"
	"github.com/namiml/mparticle-bridge/shared/devtools/samlocal"
	"github.com/namiml/mparticle-bridge/shared/stack"
	"github.com/namiml/mparticle-bridge/shared/testkit/devstack"
	"github.com/namiml/mparticle-bridge/shared/testkit/motoproc"
	"github.com/namiml/mparticle-bridge/shared/testkit/mpserver"
)

// Config configures Run.
type Config struct {
	Root     string
	StateDir string // default Root/.dev
	Function string // directory under functions/: forwarder, integrations
	Event    []byte
	// Stack, when set, is used instead of .dev/stack.json or a throw-away stack.
	Stack *devstate.Stack
	// Params override template parameters.
	Params map[string]string
	// Out receives the build's, the emulator's and the function's output.
	Out io.Writer
	Log *slog.Logger
}

// Result is an invocation's outcome.
type Result struct {
	Response rie.Response
	Function samlocal.Function
	// Stack is where the function ran against; Throwaway tells whether it was made for
	// this call (and is gone now).
	Stack     devstate.Stack
	Throwaway bool
}

// Run builds, starts, invokes and stops.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.StateDir == "" {
		cfg.StateDir = devstate.Dir(cfg.Root)
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	var res Result
	bin, err := rie.Find(cfg.Root)
	if err != nil {
		return res, err
	}
	tpl, err := samlocal.Load(filepath.Join(cfg.Root, "template.yaml"))
	if err != nil {
		return res, err
	}
	id, err := tpl.FunctionByDir(cfg.Function)
	if err != nil {
		return res, err
	}

	st, stop, err := stackFor(ctx, cfg)
	if err != nil {
		return res, err
	}
	defer stop()
	res.Stack, res.Throwaway = st, st.PID == 0

	names := stack.NamesFor(st.StackName)
	params := map[string]string{"MParticleBaseURL": st.MParticleBaseURL}
	for k, v := range cfg.Params {
		params[k] = v
	}
	fn, err := tpl.Function(id, samlocal.Locals{
		StackName: st.StackName, Region: st.Region, AccountID: devserver.AccountID, Params: params,
		QueueURLs: map[string]string{names.Queue: st.QueueURL, names.DeadLetterQueue: st.DLQURL},
	})
	if err != nil {
		return res, err
	}
	res.Function = fn

	boot, err := rie.Build(ctx, cfg.Root, cfg.Function, filepath.Join(cfg.StateDir, "build", cfg.Function))
	if err != nil {
		return res, err
	}
	env := make(map[string]string, len(fn.Env)+5)
	for k, v := range fn.Env {
		env[k] = v
	}
	// What the Lambda service provides, pointed at the local stand-in. Set after the
	// template's variables: the template declares AWS_ENDPOINT_URL empty (for sam local
	// invoke's --env-vars to fill in), and here it must be moto's address.
	env["AWS_REGION"], env["AWS_DEFAULT_REGION"] = st.Region, st.Region
	env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = "local", "local"
	env["AWS_ENDPOINT_URL"] = st.AWSEndpointURL
	em, err := rie.Start(ctx, rie.Config{
		RIE: bin, Bootstrap: boot, Env: env, Timeout: fn.Timeout, Memory: fn.MemoryMB, Name: fn.Name, Stdout: cfg.Out,
	})
	if err != nil {
		return res, err
	}
	defer em.Close()
	res.Response, err = em.Invoke(ctx, cfg.Event)
	return res, err
}

// stackFor returns the running `make dev` stack, or starts a throw-away one: moto, the
// stack's resources, and the contract server (so the function never reaches the real
// mParticle from a local run).
func stackFor(ctx context.Context, cfg Config) (devstate.Stack, func(), error) {
	if cfg.Stack != nil {
		return *cfg.Stack, func() {}, nil
	}
	if st, err := devstate.ReadStack(cfg.StateDir); err == nil {
		cfg.Log.Info("using the running `make dev` stack", "aws_endpoint_url", st.AWSEndpointURL)
		return st, func() {}, nil
	}
	var stops []func()
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	fail := func(err error) (devstate.Stack, func(), error) {
		stop()
		return devstate.Stack{}, nil, err
	}
	bin, err := motoproc.Find(cfg.Root)
	if err != nil {
		return fail(err)
	}
	port, err := motoproc.FreePort()
	if err != nil {
		return fail(err)
	}
	m, err := motoproc.Start(ctx, bin, port, io.Discard)
	if err != nil {
		return fail(err)
	}
	stops = append(stops, m.Stop)
	const region = "us-east-1"
	awsCfg, err := devserver.AWSConfig(ctx, m.URL, region)
	if err != nil {
		return fail(err)
	}
	out, err := devstack.Provision(ctx, awsCfg, stack.DefaultName)
	if err != nil {
		return fail(err)
	}
	mp := mpserver.New(mpserver.Options{})
	dir := devmp.StoreDirectory{DB: dynamodb.NewFromConfig(awsCfg), Secrets: secretsmanager.NewFromConfig(awsCfg), Table: out.Names.IntegrationsTable}
	srv, err := localserve.Start(devmp.New(mp, dir, cfg.Log), "127.0.0.1:0", cfg.Log)
	if err != nil {
		return fail(err)
	}
	stops = append(stops, func() { _ = srv.Stop(context.Background()) })
	cfg.Log.Info("`make dev` is not running: using a throw-away local stack", "aws_endpoint_url", m.URL)
	return devstate.Stack{
		AWSEndpointURL: m.URL, Region: region, QueueURL: out.QueueURL, DLQURL: out.DLQURL,
		MParticleBaseURL: srv.URL + mpserver.PartnerPrefix, MParticleLocal: true, StackName: stack.DefaultName,
	}, stop, nil
}

// Describe is a one-line account of where a call ran, for the command's output.
func Describe(r Result) string {
	where := "the running `make dev` stack"
	if r.Throwaway {
		where = "a throw-away local stack"
	}
	return fmt.Sprintf("%s (%s) under aws-lambda-rie against %s", r.Function.LogicalID, r.Function.Name, where)
}
