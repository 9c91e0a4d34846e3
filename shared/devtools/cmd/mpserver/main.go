// Command mpserver serves the local mParticle Events API stand-in (package mpserver) for
// the soak test and local development.
//
//	mpserver -addr 127.0.0.1:9999 -feeds key1:secret1:ios,key2:secret2 -pretty
//
// It answers in both of mParticle's layouts: the partner endpoint's under /s2s (point
// MPARTICLE_BASE_URL at http://127.0.0.1:9999/s2s, any pod's key is taken) and a pod
// host's at the root (/v2/..., only the keys of the -pod it plays).
//
// The feeds may come from MPSERVER_FEEDS instead of -feeds, which keeps the secrets out of
// the process list. Logs are JSON on stderr; with -pretty each accepted batch is printed
// on stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/testkit/mpserver"
)

type feedFlag struct{ key, secret, name string }

// parseFeeds reads key:secret[:name][,...]. A feed without a name is called feed-N.
func parseFeeds(s string) ([]feedFlag, error) {
	var out []feedFlag
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		parts := strings.SplitN(item, ":", 3)
		if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
			// The item holds a secret, so it is not echoed.
			return nil, fmt.Errorf("feed %d: want key:secret[:name]", i+1)
		}
		f := feedFlag{key: parts[0], secret: parts[1], name: fmt.Sprintf("feed-%d", i+1)}
		if len(parts) == 3 && parts[2] != "" {
			f.name = parts[2]
		}
		out = append(out, f)
	}
	return out, nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	var (
		addr  = flag.String("addr", "127.0.0.1:9999", "listen address")
		feeds = flag.String("feeds", "", "feeds as key:secret[:name], comma-separated (default $MPSERVER_FEEDS)")
		seed  = flag.Uint64("seed", 1, "seed of the fault sequence")
		pod   = flag.String("pod", "US1", "the pod whose host the /v2 layout plays (US1, US2, EU1, AU1)")
		f     mpserver.Faults
		rl    mpserver.RateLimit

		pretty = flag.Bool("pretty", false, "print each accepted batch readably on stdout")
	)
	flag.Float64Var(&f.P500, "p500", 0, "probability of an injected 500")
	flag.Float64Var(&f.P503, "p503", 0, "probability of an injected 503")
	flag.Float64Var(&f.P429, "p429", 0, "probability of an injected 429")
	flag.Float64Var(&f.PTimeout, "ptimeout", 0, "probability of accepting then never answering")
	flag.Float64Var(&f.PReset, "preset", 0, "probability of a connection reset")
	flag.Float64Var(&f.PRedirect, "predirect", 0, "probability of an injected redirect (a misconfigured endpoint)")
	flag.IntVar(&f.RetryAfter, "retry-after", 1, "Retry-After seconds of an injected 429")
	flag.IntVar(&f.RedirectStatus, "redirect-status", 307, "status of an injected redirect (3xx)")
	flag.Float64Var(&rl.Rate, "rate", 0, "per-feed rate limit in batches/second (0: none)")
	flag.IntVar(&rl.Burst, "burst", 100, "per-feed rate limit burst in batches")
	flag.Parse()

	if err := f.Validate(); err != nil {
		return fmt.Errorf("fault flags: %w", err)
	}
	p, err := mparticle.NormalizePod(*pod)
	if err != nil || p == "" {
		return fmt.Errorf("mpserver: -pod %q: want one of %s", *pod, strings.Join(mparticle.Pods(), ", "))
	}
	if *feeds == "" {
		*feeds = os.Getenv("MPSERVER_FEEDS")
	}
	list, err := parseFeeds(*feeds)
	if err != nil {
		return fmt.Errorf("mpserver: -feeds: %w", err)
	}
	if len(list) == 0 {
		return errors.New("mpserver: -feeds: at least one key:secret is needed")
	}

	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	opts := mpserver.Options{Seed: *seed, Faults: f, RateLimit: rl, Logger: log, Pod: p}
	if *pretty {
		var mu sync.Mutex // batches of concurrent requests must not interleave
		opts.OnAccept = func(name string, b json.RawMessage) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprint(os.Stdout, mpserver.Pretty(name, b))
		}
	}
	srv := mpserver.New(opts)
	names := make([]string, len(list))
	for i, fl := range list {
		srv.AddFeed(fl.key, fl.secret, fl.name)
		names[i] = fl.name
	}
	url, err := srv.Start(*addr)
	if err != nil {
		return err
	}
	log.Info("mpserver: listening", "url", url, "partner_base_url", url+mpserver.PartnerPrefix, "pod", p,
		"feeds", names, "seed", *seed)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	log.Info("mpserver: shutting down")
	return srv.Close()
}
