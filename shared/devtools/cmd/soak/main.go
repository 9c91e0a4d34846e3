// Command soak runs the forwarder's soak test (package soak) on a local moto server and the
// mParticle contract server, prints the figures and exits 1 if the delivery promise broke.
//
//	go run ./shared/devtools/cmd/soak                 # the full run: 20,000 messages, a 60 s outage
//	go run ./shared/devtools/cmd/soak -events 2000 -seed 9 -outage-after 500
//	go run ./shared/devtools/cmd/soak -outage 0       # no outage phase
//	go run ./shared/devtools/cmd/soak -records all    # another delivery-record policy (retries, all, off)
//
// It starts moto_server (from $MOTO_SERVER, the project's .venv, or PATH) on a free
// loopback port unless -endpoint names a running one. Run it from the repository.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/namiml/mparticle-bridge/shared/forwarder"
	"github.com/namiml/mparticle-bridge/shared/testkit/motoproc"
	"github.com/namiml/mparticle-bridge/shared/testkit/soak"
)

func main() {
	d := soak.Defaults()
	cfg := d
	flag.IntVar(&cfg.Events, "events", d.Events, "messages to enqueue, invalid ones included")
	flag.Uint64Var(&cfg.Seed, "seed", d.Seed, "seed of the workload, the faults and the crashes")
	flag.IntVar(&cfg.Pollers, "pollers", d.Pollers, "concurrent pollers (function concurrency)")
	flag.DurationVar(&cfg.Timeout, "timeout", d.Timeout, "bound on the whole run")
	flag.DurationVar(&cfg.Outage.Duration, "outage", d.Outage.Duration, "how long mParticle answers only 503 midway (0: no outage)")
	outageAfter := flag.Int("outage-after", -1, "messages enqueued before the outage begins (default: a quarter of -events)")
	flag.DurationVar(&cfg.BackoffUnit, "backoff-unit", d.BackoffUnit, "the forwarder's retry backoff unit (deployed: 1m)")
	flag.BoolVar(&cfg.ExpectIdempotency, "expect-idempotency", d.ExpectIdempotency,
		"fail if a batch mParticle had confirmed to a completed invocation is sent again")
	records := flag.String("records", string(d.Records), "the forwarder's delivery-record policy: retries, all or off (DELIVERY_RECORDS)")
	endpoint := flag.String("endpoint", "", "a running moto server (default: start one)")
	verbose := flag.Bool("v", false, "print the forwarder's logs (secrets redacted) to stderr")
	flag.Parse()
	policy, err := forwarder.ParseRecordPolicy(*records)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	cfg.Records = policy
	expectSet := false
	flag.Visit(func(f *flag.Flag) { expectSet = expectSet || f.Name == "expect-idempotency" })
	if policy == forwarder.RecordsOff && !expectSet {
		// Without records a message handed back re-sends what it had delivered: only
		// mParticle's deduplication (counted as raw re-sends) stands between it and outputs.
		cfg.ExpectIdempotency = false
	}
	cfg.Outage.StartAfter = cfg.Events / 4
	if *outageAfter >= 0 {
		cfg.Outage.StartAfter = *outageAfter
	}
	cfg.Progress = os.Stderr
	if *verbose {
		cfg.ForwarderLog = os.Stderr
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, *endpoint); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg soak.Config, endpoint string) error {
	if endpoint == "" {
		ep, stopMoto, err := startMoto(ctx)
		if err != nil {
			return err
		}
		defer stopMoto()
		endpoint = ep
	}
	awsCfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithBaseEndpoint(endpoint),
	)
	if err != nil {
		return fmt.Errorf("aws config: %w", err)
	}
	rep, err := soak.Run(ctx, awsCfg, cfg)
	if err != nil {
		return err
	}
	rep.Print(os.Stdout)
	if err := rep.Check(); err != nil {
		return fmt.Errorf("delivery promise broken:\n%w", err)
	}
	fmt.Println("soak: PASS")
	return nil
}

// startMoto runs moto_server on a free loopback port until the returned stop is called (or
// this process dies).
func startMoto(ctx context.Context) (string, func(), error) {
	bin, err := motoproc.Find(".") // $MOTO_SERVER (make exports it), else ./.venv, else PATH
	if err != nil {
		return "", nil, err
	}
	port, err := motoproc.FreePort()
	if err != nil {
		return "", nil, err
	}
	srv, err := motoproc.Start(ctx, bin, port, io.Discard)
	if err != nil {
		return "", nil, err
	}
	return srv.URL, srv.Stop, nil
}
