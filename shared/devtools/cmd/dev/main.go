// Command dev is the local development tool behind the Makefile's local targets:
//
//	dev up                                  make dev: the whole product on local stand-ins
//	dev token -app APP_ID [-ttl 12h]        make dev-token: a bearer token the local API accepts
//	dev send -file events/x.json|dir        make dev-send: enqueue platform events
//	dev demo                                make dev-demo: integrations, 13 events, a report
//	dev redrive                             make redrive: move dead letters back to the queue
//	dev invoke -function F -event FILE      make invoke: run a function under aws-lambda-rie
//
// Settings come from the environment: LOCAL_AWS_PORT (4566), API_PORT (3000),
// MPARTICLE_PORT (9999), OIDC_PORT (3001, the console's local OpenID provider),
// MPARTICLE_BASE_URL (empty: the built-in contract server),
// LOCAL_VISIBILITY_TIMEOUT (10s; 0 keeps the queue's 180 s as deployed),
// LOCAL_RETRY_BACKOFF_UNIT (1s: retries after 1, 2, 4, 8, 16, then every 30 s; 0 keeps the
// deployed minute),
// LOCAL_BATCH_WINDOW (the template's by default), LOG_LEVEL (INFO).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/namiml/mparticle-bridge/shared/devtools/devauth"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/lmittmann/tint"

	"github.com/namiml/mparticle-bridge/shared/auth"
	"github.com/namiml/mparticle-bridge/shared/devtools/demo"
	"github.com/namiml/mparticle-bridge/shared/devtools/devserver"
	"github.com/namiml/mparticle-bridge/shared/devtools/devstate"
	"github.com/namiml/mparticle-bridge/shared/devtools/dlq"
	"github.com/namiml/mparticle-bridge/shared/devtools/invoke"
	"github.com/namiml/mparticle-bridge/shared/devtools/repo"
	"github.com/namiml/mparticle-bridge/shared/devtools/sqsin"
	"github.com/namiml/mparticle-bridge/shared/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: dev up|token|send|demo|redrive|invoke [flags]")
	}
	root, err := repo.Root()
	if err != nil {
		return fmt.Errorf("run from inside the repository: %w", err)
	}
	log := newLogger(os.Stderr, os.Getenv("LOG_LEVEL"))
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "up":
		return up(ctx, root, log)
	case "token":
		return token(root, rest)
	case "send":
		return send(ctx, root, rest)
	case "demo":
		return runDemo(ctx, root, rest)
	case "redrive":
		return redrive(ctx, root)
	case "invoke":
		return runInvoke(ctx, root, rest, log)
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// newLogger writes readable colored lines on a terminal and JSON otherwise.
func newLogger(w *os.File, level string) *slog.Logger {
	if fi, err := w.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return slog.New(logging.WithRequestID(tint.NewTextHandler(w, &tint.Options{Level: logging.ParseLevel(level), TimeFormat: time.TimeOnly})))
	}
	return logging.New(w, level)
}

func envInt(name string, def int) (int, error) {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 65535 {
		return 0, fmt.Errorf("%s=%q is not a port number", name, v)
	}
	return n, nil
}

func envDuration(name string, def time.Duration) (time.Duration, bool, error) {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def, false, nil
	}
	if v == "0" {
		return 0, true, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, false, fmt.Errorf("%s=%q is not a duration like 10s", name, v)
	}
	return d, true, nil
}

func up(ctx context.Context, root string, log *slog.Logger) error {
	cfg := devserver.Config{Root: root, Out: os.Stdout, Log: log, MParticleBaseURL: strings.TrimSpace(os.Getenv("MPARTICLE_BASE_URL"))}
	var err error
	if cfg.AWSPort, err = envInt("LOCAL_AWS_PORT", 4566); err != nil {
		return err
	}
	if cfg.APIPort, err = envInt("API_PORT", 3000); err != nil {
		return err
	}
	if cfg.MPPort, err = envInt("MPARTICLE_PORT", 9999); err != nil {
		return err
	}
	if cfg.OIDCPort, err = envInt("OIDC_PORT", 3001); err != nil {
		return err
	}
	if cfg.VisibilityTimeout, _, err = envDuration("LOCAL_VISIBILITY_TIMEOUT", 10*time.Second); err != nil {
		return err
	}
	if cfg.RetryBackoffUnit, _, err = envDuration("LOCAL_RETRY_BACKOFF_UNIT", time.Second); err != nil {
		return err
	}
	window, set, err := envDuration("LOCAL_BATCH_WINDOW", 0)
	if err != nil {
		return err
	}
	if set {
		cfg.BatchingWindow = &window
	}
	if lvl := os.Getenv("LOG_LEVEL"); lvl != "" {
		cfg.Params = map[string]string{"LogLevel": strings.ToUpper(lvl)}
		if strings.EqualFold(lvl, "debug") {
			cfg.MotoLog = os.Stderr
		}
	}
	return devserver.Run(ctx, cfg, nil)
}

func token(root string, args []string) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	app := fs.String("app", os.Getenv("APP_ID"), "app id the token grants (comma-separated for several)")
	ttl := fs.Duration("ttl", 12*time.Hour, "lifetime")
	admin := fs.Bool("admin", false, "an operator's access token, granting every app (the local stack's admin client and scope)")
	noPlan := fs.Bool("no-plan", false, "a customer whose plan lacks the mParticle integration: creating or enabling one is refused (403 plan_required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *admin && *noPlan {
		return errors.New("-no-plan is for a customer's token, not an operator's (-admin)")
	}
	if *app == "" && !*admin {
		return errors.New("say which app: make dev-token APP_ID=<app id> (or ADMIN=1 for every app)")
	}
	key, err := devstate.SigningKey(devstate.Dir(root))
	if err != nil {
		return err
	}
	var tok string
	if *admin {
		tok, err = devauth.IssueDevAdminToken(key, *ttl)
	} else if *noPlan {
		tok, err = devauth.IssueDevTokenWithoutPlan(key, auth.ParseList(*app), *ttl)
	} else {
		tok, err = devauth.IssueDevToken(key, auth.ParseList(*app), *ttl)
	}
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}

func running(root string) (devstate.Stack, *sqs.Client, error) {
	st, err := devstate.ReadStack(devstate.Dir(root))
	if err != nil {
		return st, nil, err
	}
	awsCfg, err := devserver.AWSConfig(context.Background(), st.AWSEndpointURL, st.Region)
	if err != nil {
		return st, nil, err
	}
	return st, sqs.NewFromConfig(awsCfg), nil
}

func send(ctx context.Context, root string, args []string) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	file := fs.String("file", os.Getenv("FILE"), "event file or folder")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" {
		return errors.New("say what to send: make dev-send FILE=events/sqs-purchased.json (a file or a folder)")
	}
	st, client, err := running(root)
	if err != nil {
		return err
	}
	msgs, skipped, err := sqsin.Load(*file)
	if err != nil {
		return err
	}
	for _, s := range skipped {
		fmt.Printf("skipped %s: an API Gateway event (use make invoke FUNCTION=integrations EVENT=%s)\n", s, s)
	}
	ids, err := sqsin.Send(ctx, client, st.QueueURL, msgs)
	for i, id := range ids {
		fmt.Printf("sent %s as message %s\n", msgs[i].Source, id)
	}
	if err != nil {
		return err
	}
	fmt.Printf("%d message(s) on %s; watch the `make dev` terminal.\n", len(ids), st.QueueURL)
	return nil
}

func runDemo(ctx context.Context, root string, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 60*time.Second, "how long to wait for the Forwarder")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, client, err := running(root)
	if err != nil {
		return err
	}
	key, err := devstate.SigningKey(devstate.Dir(root))
	if err != nil {
		return err
	}
	rep, err := demo.Run(ctx, demo.Config{
		Stack: st, SigningKey: key, SQS: client, Out: os.Stdout, Timeout: *timeout,
	})
	if err != nil {
		return err
	}
	if !rep.OK() {
		return demo.ErrIncomplete
	}
	return nil
}

func redrive(ctx context.Context, root string) error {
	st, client, err := running(root)
	if err != nil {
		return err
	}
	n, err := dlq.Redrive(ctx, client, st.DLQURL, st.QueueURL)
	fmt.Printf("moved %d message(s) from %s back to %s\n", n, st.DLQURL, st.QueueURL)
	fmt.Println("On a deployed stack: aws sqs start-message-move-task --source-arn <dead-letter queue ARN>",
		"(back to the queue it came from; aws sqs list-message-move-tasks shows progress).")
	return err
}

func runInvoke(ctx context.Context, root string, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	fn := fs.String("function", os.Getenv("FUNCTION"), "forwarder or integrations")
	ev := fs.String("event", os.Getenv("EVENT"), "event file, e.g. events/sqs-purchased.json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *fn == "" || *ev == "" {
		return errors.New("usage: make invoke FUNCTION=forwarder|integrations EVENT=events/<file>.json")
	}
	payload, err := os.ReadFile(*ev)
	if err != nil {
		return err
	}
	res, err := invoke.Run(ctx, invoke.Config{Root: root, Function: *fn, Event: payload, Out: os.Stderr, Log: log})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "\n%s answered (HTTP %d from the emulator):\n", invoke.Describe(res), res.Response.Status)
	if _, err := io.WriteString(os.Stdout, string(res.Response.Body)+"\n"); err != nil {
		return err
	}
	return res.Response.Err()
}
