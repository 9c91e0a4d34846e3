// Command benchcold measures the Forwarder's cold start under the Lambda Runtime Interface
// Emulator, against a hello-world function (shared/devtools/cmd/benchhello) built with the
// same flags and started under the same emulator in the same run, the two interleaved
// (hello, forwarder, hello, forwarder, ...) so a change in the machine's load falls on both.
// For each run it starts the emulator with the bootstrap (the Forwarder wired by
// forwarderapp.New against moto and a contract server), sends one SQS event and times the
// invocation from the request to the answer; the emulator starts the bootstrap on that first
// request, so the time covers process start, init and the first event handled (for the
// Forwarder: one DynamoDB query, one secret read, one upload). It then sends an event of
// -rss-messages messages to the Forwarder and reads its peak RSS (VmHWM). It prints
// benchmark lines, BenchmarkColdStart/fn=hello|forwarder/arch=<arch>.
//
//	benchcold -rie .bin/aws-lambda-rie -bootstrap .bin/bootstrap -hello .bin/hello -aws-endpoint http://127.0.0.1:5000
//
// What the Forwarder's cold start is made of, beyond hello's: its packages' init (the AWS
// SDK's service packages: see GODEBUG=inittrace=1), building the AWS config and clients
// (forwarderapp.New; no shared-config file or IMDS lookup is needed in Lambda, whose
// credentials come in environment variables), and in the first invocation the reads of the
// integration and its secret, which moto (a Python server) answers far slower than
// DynamoDB and Secrets Manager do in-region: aws-reads-ms times those two reads warm from
// this process, and cold-less-aws-ms is the cold start without them.
//
// The emulator runs the host's architecture only.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/namiml/mparticle-bridge/shared/devtools/benchinvoke"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
	"github.com/namiml/mparticle-bridge/shared/testkit/devstack"
	"github.com/namiml/mparticle-bridge/shared/testkit/motoproc"
	"github.com/namiml/mparticle-bridge/shared/testkit/mpserver"
)

const region = "us-east-1"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchcold:", err)
		os.Exit(1)
	}
}

type flags struct {
	rie, bootstrap, hello, endpoint, samples string
	forwarderEnv                             string
	runs, rssMessages                        int
	verbose                                  bool
}

func run() error {
	var f flags
	flag.StringVar(&f.rie, "rie", ".bin/aws-lambda-rie", "aws-lambda-rie binary")
	flag.StringVar(&f.bootstrap, "bootstrap", ".bin/bootstrap", "forwarder bootstrap built for this machine")
	flag.StringVar(&f.hello, "hello", "", "benchhello bootstrap built with the same flags (empty: built here, as run.sh builds the forwarder's)")
	flag.StringVar(&f.endpoint, "aws-endpoint", "", "moto endpoint URL (required)")
	flag.StringVar(&f.samples, "samples", "", "directory of sample events, one <type>.json each (default: the built-in samples)")
	flag.StringVar(&f.forwarderEnv, "forwarder-env", "", "NAME=value words added to the forwarder's environment only: the Go runtime settings the template gives it (benchtable -print-runtime-env)")
	flag.IntVar(&f.runs, "runs", 10, "cold starts to time")
	flag.BoolVar(&f.verbose, "v", false, "print each run's figures on stderr")
	flag.IntVar(&f.rssMessages, "rss-messages", 1000, "messages of the invocation whose peak RSS is read (0: skip)")
	flag.Parse()
	if f.endpoint == "" {
		return errors.New("-aws-endpoint is required")
	}
	ctx := context.Background()

	aws, err := startStandInTimer(f.endpoint)
	if err != nil {
		return err
	}
	defer aws.close()
	env, closeMP, err := provision(ctx, f.endpoint, aws.url)
	if err != nil {
		return err
	}
	defer closeMP()
	rig, err := benchinvoke.New(benchinvoke.Options{SamplesDir: f.samples, BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		return err
	}
	rig.Close()
	one, err := payload(rig, 1)
	if err != nil {
		return err
	}

	if f.hello == "" {
		dir, err := os.MkdirTemp("", "benchcold")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if f.hello, err = buildHello(ctx, dir); err != nil {
			return err
		}
	}
	var hello, fwd series
	// The hello-world function is built the same way but configured by nobody: the Go
	// runtime's settings are the forwarder's configuration, given to it alone.
	fwdEnv := append(slices.Clip(env), strings.Fields(f.forwarderEnv)...)
	for i := range f.runs {
		r, err := retryOnce(func() (result, error) { return coldStart(ctx, f.rie, f.hello, env, one, 0, nil, nil) })
		if err != nil {
			return fmt.Errorf("hello run %d: %w", i+1, err)
		}
		hello.add(r)
		rss := 0
		if i == 0 {
			rss = f.rssMessages
		}
		r, err = retryOnce(func() (result, error) { return coldStart(ctx, f.rie, f.bootstrap, fwdEnv, one, rss, rig, aws) })
		if err != nil {
			return fmt.Errorf("forwarder run %d: %w", i+1, err)
		}
		fwd.add(r)
		if f.verbose {
			fmt.Fprintf(os.Stderr, "run %d: hello %.2f ms (CPU %.2f); forwarder %.2f ms (init %.2f, first invoke %.2f, stand-in %.2f, CPU %.2f)\n",
				i+1, hello.cold[i], hello.cpu[i], fwd.cold[i], fwd.initMS[i], fwd.firstMS[i], fwd.aws[i], fwd.cpu[i])
		}
	}
	fmt.Printf("BenchmarkColdStart/fn=hello/arch=%s \t%d\t%s\n", runtime.GOARCH, f.runs, hello.metrics())
	fmt.Printf("BenchmarkColdStart/fn=forwarder/arch=%s \t%d\t%s\t%.2f aws-reads-ms\t%.2f cold-less-aws-ms\n",
		runtime.GOARCH, f.runs, fwd.metrics(), median(fwd.aws), median(fwd.lessAWS))
	if fwd.hwmKB > 0 {
		fmt.Printf("BenchmarkBootstrapRSS/messages=%d \t1\t%d peak-RSS-B\n", f.rssMessages, fwd.hwmKB*1024)
	}
	return nil
}

// retryOnce runs a cold start again after a failure: on a loaded machine the emulator now
// and then answers 502 while its runtime starts, for hello and forwarder alike.
func retryOnce(run func() (result, error)) (result, error) {
	r, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcold: retrying a failed cold start:", err)
		r, err = run()
	}
	return r, err
}

// series gathers one function's runs.
type series struct {
	cold, warm, initMS, firstMS, aws, lessAWS, cpu []float64
	hwmKB                                          int64
}

func (s *series) add(r result) {
	s.cold = append(s.cold, r.cold.Seconds()*1000)
	s.aws = append(s.aws, r.awsMS)
	s.cpu = append(s.cpu, r.cpuMS)
	s.lessAWS = append(s.lessAWS, r.cold.Seconds()*1000-r.awsMS)
	s.warm = append(s.warm, r.warm.Seconds()*1000)
	s.initMS = append(s.initMS, r.initMS)
	s.firstMS = append(s.firstMS, r.invokeMS)
	if r.hwmKB > 0 {
		s.hwmKB = r.hwmKB
	}
}

func (s *series) metrics() string {
	return fmt.Sprintf("%.0f ns/op\t%.2f cold-ms\t%.2f cold-p90-ms\t%.2f init-ms\t%.2f first-invoke-ms\t%.2f warm-ms\t%.2f cold-cpu-ms",
		median(s.cold)*1e6, median(s.cold), quantile(s.cold, 0.9), median(s.initMS), median(s.firstMS), median(s.warm), median(s.cpu))
}

// buildHello builds benchhello as run.sh builds the forwarder's bootstrap.
func buildHello(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "hello")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w",
		"-o", out, "./shared/devtools/cmd/benchhello")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build benchhello: %w", err)
	}
	return out, nil
}

// provision creates the stack's table and queue in moto, one integration with its secret,
// and a contract server with its feed; it returns the bootstrap's environment.
func provision(ctx context.Context, endpoint, bootstrapEndpoint string) ([]string, func(), error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region), config.WithBaseEndpoint(endpoint),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	if err != nil {
		return nil, nil, err
	}
	stackName := fmt.Sprintf("benchcold-%d", time.Now().UnixNano())
	out, err := devstack.Provision(ctx, cfg, stackName)
	if err != nil {
		return nil, nil, fmt.Errorf("provision: %w", err)
	}
	in := benchinvoke.Feed()
	in.SecretID += "/" + stackName // a moto left running by an earlier run may hold the name
	secret, _ := json.Marshal(map[string]string{"key": benchinvoke.FeedKey, "secret": benchinvoke.FeedSecret})
	if _, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(in.SecretID), SecretString: aws.String(string(secret))}); err != nil {
		return nil, nil, fmt.Errorf("create secret: %w", err)
	}
	if err := integrationstore.New(dynamodb.NewFromConfig(cfg), out.Names.IntegrationsTable).Create(ctx, &in); err != nil {
		return nil, nil, fmt.Errorf("create integration: %w", err)
	}

	mp := mpserver.New(mpserver.Options{})
	mp.AddFeed(benchinvoke.FeedKey, benchinvoke.FeedSecret, benchinvoke.FeedName)
	url, err := mp.Start("127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	// The environment Lambda gives a function (its reserved variables), not this machine's:
	// a developer's AWS_CA_BUNDLE, AWS_PROFILE or HOME would make the SDK read files that
	// Lambda never has (a CA bundle alone costs the config loading ~4 ms of parsing).
	env := append(lambdaEnv(),
		"AWS_REGION="+region, "AWS_DEFAULT_REGION="+region, "AWS_ENDPOINT_URL="+bootstrapEndpoint,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"INTEGRATIONS_TABLE="+out.Names.IntegrationsTable, "DLQ_URL="+out.DLQURL,
		"DELIVERIES_TABLE="+out.Names.IdempotencyTable,
		"MPARTICLE_BASE_URL="+url, "LOG_LEVEL=INFO", "BENCH_SECRET_ID="+in.SecretID,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128", "AWS_LAMBDA_FUNCTION_TIMEOUT=30",
	)
	return env, func() { _ = mp.Close() }, nil
}

// lambdaEnv is the part of a Lambda function's environment that is not the function's own
// configuration (the runtime sets AWS_LAMBDA_RUNTIME_API, the emulator does here).
func lambdaEnv() []string {
	return []string{
		"PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin", "LANG=en_US.UTF-8", "TZ=:UTC",
		"LAMBDA_TASK_ROOT=/var/task", "LAMBDA_RUNTIME_DIR=/var/runtime",
		"AWS_LAMBDA_FUNCTION_NAME=benchcold", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/benchcold", "AWS_LAMBDA_LOG_STREAM_NAME=benchcold",
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand", "AWS_EXECUTION_ENV=AWS_Lambda_provided.al2023",
	}
}

// standInTimer sits between the bootstrap and moto and measures how long the bootstrap
// waits on it: the time during which at least one AWS request is in flight (the union of
// the requests' spans, so concurrent calls count once). Moto is a Python server, far slower
// than DynamoDB and Secrets Manager in-region, so its part of a cold start (the integration
// query, the secret read, the idempotency records) is reported apart, per run.
type standInTimer struct {
	url   string
	srv   *http.Server
	mu    sync.Mutex
	busy  time.Duration
	since time.Time
	n     int // requests in flight
}

func startStandInTimer(endpoint string) (*standInTimer, error) {
	target, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &standInTimer{url: "http://" + ln.Addr().String()}
	t.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.mu.Lock()
		if t.n == 0 {
			t.since = time.Now()
		}
		t.n++
		t.mu.Unlock()
		proxy.ServeHTTP(w, r)
		t.mu.Lock()
		if t.n--; t.n == 0 {
			t.busy += time.Since(t.since)
		}
		t.mu.Unlock()
	})}
	go func() { _ = t.srv.Serve(ln) }()
	return t, nil
}

// take returns the busy time since the last take and starts over.
func (t *standInTimer) take() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.busy
	if t.n > 0 {
		d += time.Since(t.since)
		t.since = time.Now()
	}
	t.busy = 0
	return d
}

func (t *standInTimer) close() { _ = t.srv.Close() }

func payload(rig *benchinvoke.Rig, n int) ([]byte, error) {
	ev, err := rig.Messages(n)
	if err != nil {
		return nil, err
	}
	return json.Marshal(ev)
}

type result struct {
	cold, warm                     time.Duration
	initMS, invokeMS, awsMS, cpuMS float64
	hwmKB                          int64
}

var (
	initRE   = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	invokeRE = regexp.MustCompile(`INVOKE RTDONE\(status: success.*duration: ([0-9.]+)ms\)`)
)

// coldStart starts the emulator with bootstrap, times the first invocation, measures the
// peak RSS of one of rssMessages messages unless it is 0, and stops the emulator.
func coldStart(ctx context.Context, rie, bootstrapPath string, env []string, body []byte, rssMessages int, rig *benchinvoke.Rig, aws *standInTimer) (result, error) {
	var res result
	port, err := motoproc.FreePort()
	if err != nil {
		return res, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	bootstrap, err := filepath.Abs(bootstrapPath)
	if err != nil {
		return res, err
	}
	// At log level info the emulator reports the init phase (bootstrap started until its
	// first request for work) and each invocation's duration as the runtime saw it.
	cmd := exec.CommandContext(ctx, rie, "--log-level", "info", "--runtime-interface-emulator-address", addr, bootstrap)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("start emulator: %w", err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the emulator and the bootstrap
		_ = cmd.Wait()
		_ = pw.Close()
	}()
	initDone := make(chan float64, 1)
	invokeDone := make(chan float64, 8)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if m := initRE.FindStringSubmatch(sc.Text()); m != nil {
				v, _ := strconv.ParseFloat(m[1], 64)
				initDone <- v
			}
			if m := invokeRE.FindStringSubmatch(sc.Text()); m != nil {
				v, _ := strconv.ParseFloat(m[1], 64)
				select {
				case invokeDone <- v:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	if err := waitListening(addr, 10*time.Second); err != nil {
		return res, err
	}

	url := "http://" + addr + "/2015-03-31/functions/function/invocations"
	if aws != nil {
		aws.take()
	}
	t0 := time.Now()
	if err := invoke(ctx, url, body); err != nil {
		return res, err
	}
	res.cold = time.Since(t0)
	if aws != nil {
		res.awsMS = aws.take().Seconds() * 1000
	}
	// The bootstrap's CPU time up to its first answer: steadier than wall time on a
	// shared machine, and free of the stand-ins' part.
	if pid, err := childPID(cmd.Process.Pid); err == nil {
		res.cpuMS = threadsCPU(pid).Seconds() * 1000
	}
	t1 := time.Now()
	if err := invoke(ctx, url, body); err != nil {
		return res, err
	}
	res.warm = time.Since(t1)
	timeout := time.After(5 * time.Second)
	for _, dst := range []*float64{&res.initMS, &res.invokeMS} {
		ch := initDone
		if dst == &res.invokeMS {
			ch = invokeDone
		}
		select {
		case *dst = <-ch:
		case <-timeout:
			return res, errors.New("the emulator did not report init and invoke durations")
		}
	}

	if rssMessages > 0 {
		big, err := payload(rig, rssMessages)
		if err != nil {
			return res, err
		}
		if err := invoke(ctx, url, big); err != nil {
			return res, err
		}
		pid, err := childPID(cmd.Process.Pid)
		if err != nil {
			return res, err
		}
		if res.hwmKB, err = statusKB(pid, "VmHWM"); err != nil {
			return res, err
		}
	}
	return res, nil
}

// invoke posts an SQS event and checks that no message was reported as failed.
func invoke(ctx context.Context, url string, body []byte) error {
	ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ictx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var r struct {
		BatchItemFailures []json.RawMessage `json:"batchItemFailures"`
		ErrorMessage      string            `json:"errorMessage"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(out, &r) != nil || r.ErrorMessage != "" || len(r.BatchItemFailures) > 0 {
		return fmt.Errorf("invoke: HTTP %d: %.300s", resp.StatusCode, out)
	}
	return nil
}

func waitListening(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("emulator not listening on %s: %w", addr, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// childPID finds the bootstrap: the emulator's child process.
func childPID(parent int) (int, error) {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", parent))
	for _, t := range tasks {
		raw, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(raw)) {
			if pid, err := strconv.Atoi(f); err == nil {
				return pid, nil
			}
		}
	}
	return 0, errors.New("bootstrap process not found under the emulator")
}

// threadsCPU is the CPU time of pid's threads (schedstat: nanoseconds on a CPU).
func threadsCPU(pid int) time.Duration {
	stats, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var total int64
	for _, st := range stats {
		raw, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		if f := strings.Fields(string(raw)); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			total += n
		}
	}
	return time.Duration(total)
}

func statusKB(pid int, name string) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == name {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s for pid %d", name, pid)
}

func median(xs []float64) float64 { return quantile(xs, 0.5) }

func quantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}
